//! The authorization endpoint's decisions (RFC 6749 §4.1.1, OIDC Core
//! §3.1.2, RFC 7636, RFC 8707, RFC 9207). The server renders pages and
//! redirects; this decides what is allowed and what comes next.
//!
//! Two kinds of errors: a bad `client_id` or `redirect_uri` must never
//! redirect (RFC 6749 §4.1.2.1: the server informs the resource owner and
//! MUST NOT redirect), so [`check_client`] errors are shown as a page;
//! everything after that is returned to the client at its redirect URI.

use url::Url;

use crate::error::{ErrorCode, OAuthError};
use crate::model::{AuthorizationCode, BrowserSession, Client, Consent, GrantType, Scopes};
use crate::params::Params;
use crate::pkce;
use crate::ports::{BrowserSessionStore, ClientStore, CodeStore, ConsentStore, Random};
use crate::redirect::match_redirect;
use crate::resources::{access_scope, Resources};
use crate::secret::{hash_token, random_token};

/// An authorization code lives at most this long (RFC 6749 §4.1.2: "a
/// maximum authorization code lifetime of 10 minutes is RECOMMENDED"; we
/// keep it to one minute).
pub const CODE_LIFETIME: i64 = 60;

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    pub resource: Vec<String>,
    /// `response_mode=form_post` (OAuth 2.0 Form Post Response Mode §2):
    /// the answer goes back as an auto-submitted form, not a query.
    pub form_post: bool,
    /// RFC 9449 §10: the DPoP key the code is bound to.
    pub dpop_jkt: Option<String>,
}

/// Did the request ask for `response_mode=form_post`? Used for errors found
/// before the request is fully checked (an unknown mode itself is answered
/// in the query, the default of the code flow).
pub fn wants_form_post(params: &Params) -> bool {
    params.get("response_mode") == Some(FORM_POST)
}

const FORM_POST: &str = "form_post";

/// The authorization request's parameters (what the pages carry from step
/// to step, and what a pushed request keeps, RFC 9126 §2.1).
pub const AUTH_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "response_mode",
    "login_hint",
    "ui_locales",
    "resource",
    "dpop_jkt",
];

/// The client and the redirect URI to use, or an error to show as a page.
pub fn check_client(
    tx: &mut impl ClientStore,
    params: &Params,
) -> Result<(Client, String), OAuthError> {
    let id = params
        .get("client_id")
        .ok_or_else(|| OAuthError::invalid_request("missing parameter client_id"))?;
    let client = tx
        .get_client(id)?
        .ok_or_else(|| OAuthError::with(ErrorCode::InvalidClient, "unknown client"))?;
    check_found_client(client, params)
}

/// [`check_client`] for a client already found (in the store, or read from
/// its metadata document and merged with its row): a disabled client is
/// unknown; then the redirect URI.
pub fn check_found_client(client: Client, params: &Params) -> Result<(Client, String), OAuthError> {
    if client.disabled {
        return Err(OAuthError::with(ErrorCode::InvalidClient, "unknown client"));
    }
    let redirect =
        match_redirect(&client.redirect_uris, params.get("redirect_uri")).ok_or_else(|| {
            OAuthError::invalid_request(if params.get("redirect_uri").is_some() {
                "redirect_uri is not registered for this client"
            } else {
                "redirect_uri is required"
            })
        })?;
    Ok((client, redirect))
}

/// Everything else; errors go back to the client's redirect URI.
/// `resources`: the configured protected resources (RFC 8707).
pub fn check_request(
    client: &Client,
    redirect_uri: String,
    params: &Params,
    resources: &Resources,
) -> Result<AuthRequest, OAuthError> {
    // OIDC Core §3.1.2.1 / OAuth 2.1: only the code flow.
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(OAuthError::with(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
        None => {
            return Err(OAuthError::invalid_request(
                "missing parameter response_type",
            ))
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::with(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    // OAuth 2.0 Multiple Response Type Encoding Practices §2.1 (query, the
    // default of the code flow) and OAuth 2.0 Form Post Response Mode §2.
    if let Some(mode) = params.get("response_mode") {
        if mode != "query" && mode != FORM_POST {
            return Err(OAuthError::invalid_request(
                "response_mode must be query or form_post",
            ));
        }
    }
    // RFC 7636 §4.3: a missing method means plain, which we refuse: S256 only.
    let challenge = params
        .get("code_challenge")
        .ok_or_else(|| OAuthError::invalid_request("code_challenge is required (PKCE, S256)"))?;
    if params.get("code_challenge_method") != Some("S256") {
        return Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        ));
    }
    if !pkce::is_well_formed(challenge) {
        return Err(OAuthError::invalid_request("malformed code_challenge"));
    }
    let scope = crate::tokens::requested_scope(params.get("scope"), &client.scope)?;
    let prompts: Vec<&str> = params
        .get("prompt")
        .map(|p| p.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    for p in &prompts {
        if !matches!(*p, "none" | "login" | "consent" | "select_account") {
            return Err(OAuthError::invalid_request(format!(
                "unsupported prompt value {:?}",
                p.chars().take(20).collect::<String>()
            )));
        }
    }
    let prompt_none = prompts.contains(&"none");
    // OIDC Core §3.1.2.1: none with any other value is an error.
    if prompt_none && prompts.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match params.get("max_age") {
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            OAuthError::invalid_request("max_age must be a non-negative integer")
        })?),
        None => None,
    };
    let resource = check_resources(resources, client, params, &scope)?;
    // RFC 9449 §10: a JWK SHA-256 thumbprint (RFC 7638), base64url.
    let dpop_jkt = match params.get("dpop_jkt") {
        Some(j) if crate::dpop::is_thumbprint(j) => Some(j.to_string()),
        Some(_) => return Err(OAuthError::invalid_request("malformed dpop_jkt")),
        None => None,
    };
    Ok(AuthRequest {
        client_id: client.id.clone(),
        redirect_uri,
        scope,
        state: params.get("state").map(str::to_string),
        nonce: params.get("nonce").map(str::to_string),
        code_challenge: challenge.to_string(),
        prompt_none,
        prompt_login: prompts.contains(&"login"),
        prompt_consent: prompts.contains(&"consent"),
        max_age,
        resource,
        form_post: wants_form_post(params),
        dpop_jkt,
    })
}

/// The `resource` parameters of a request that a person approves (the
/// authorization request, the device authorization request). RFC 8707 §2:
/// well-formed, and (when resources are configured) known: else
/// `invalid_target`. A named scope must leave something for each resource
/// on its own (a token request may then ask for any one of them).
pub fn check_resources(
    resources: &Resources,
    client: &Client,
    params: &Params,
    scope: &Scopes,
) -> Result<Vec<String>, OAuthError> {
    let resource = resources.resolve(params.all("resource"))?;
    if params.get("scope").is_some() {
        for r in &resource {
            let (_, accepted) = resources.access(client, 0, std::slice::from_ref(r))?;
            access_scope(&accepted, scope, true)?;
        }
    }
    Ok(resource)
}

/// What the browser must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Login,
    Consent,
    Issue,
}

/// Given the signed-in browser session (if any) and the remembered
/// consent, what comes next. `fresh_login`: the person just signed in within
/// this request, so `prompt=login` and `max_age` are satisfied.
pub fn next_step(
    req: &AuthRequest,
    client: &Client,
    session: Option<&BrowserSession>,
    consent: Option<&Consent>,
    now: i64,
    fresh_login: bool,
) -> Result<Next, OAuthError> {
    let Some(session) = session else {
        return if req.prompt_none {
            Err(OAuthError::with(
                ErrorCode::LoginRequired,
                "no signed-in session",
            ))
        } else {
            Ok(Next::Login)
        };
    };
    if !fresh_login {
        let too_old = req.max_age.is_some_and(|m| session.auth_time + m < now);
        if req.prompt_login || too_old {
            return if req.prompt_none {
                Err(OAuthError::with(
                    ErrorCode::LoginRequired,
                    "the session is too old",
                ))
            } else {
                Ok(Next::Login)
            };
        }
    }
    let remembered = consent.is_some_and(|c| req.scope.is_subset(&c.scope));
    if client.first_party || (remembered && !req.prompt_consent) {
        return Ok(Next::Issue);
    }
    if req.prompt_none {
        return Err(OAuthError::with(
            ErrorCode::ConsentRequired,
            "consent is required",
        ));
    }
    Ok(Next::Consent)
}

/// Remember that the user granted these scopes (added to what they granted before).
pub fn remember_consent(
    tx: &mut impl ConsentStore,
    user_id: &str,
    req: &AuthRequest,
    now: i64,
) -> Result<(), OAuthError> {
    let previous = tx.get_consent(user_id, &req.client_id)?;
    let scope = match &previous {
        Some(p) => Scopes::parse(&format!("{} {}", p.scope, req.scope))
            .unwrap_or_else(|_| req.scope.clone()),
        None => req.scope.clone(),
    };
    tx.upsert_consent(&Consent {
        user_id: user_id.into(),
        client_id: req.client_id.clone(),
        scope,
        granted_at: previous.map(|p| p.granted_at).unwrap_or(now),
        updated_at: now,
    })?;
    Ok(())
}

/// Issue a code bound to the client, redirect URI, PKCE challenge, nonce,
/// resource and the sign-in (RFC 6749 §4.1.2). Returns the code. The
/// browser session was used now: its `last_seen_at` moves on.
pub fn issue_code(
    tx: &mut (impl CodeStore + BrowserSessionStore),
    rng: &mut dyn Random,
    req: &AuthRequest,
    session: &BrowserSession,
    now: i64,
) -> Result<String, OAuthError> {
    let code = random_token(rng, 32);
    tx.insert_code(&AuthorizationCode {
        code_hash: hash_token(&code),
        client_id: req.client_id.clone(),
        user_id: session.user_id.clone(),
        browser_session_id: Some(session.id_hash.clone()),
        session_id: None,
        redirect_uri: req.redirect_uri.clone(),
        scope: req.scope.clone(),
        resource: req.resource.clone(),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        code_challenge_method: "S256".into(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        created_at: now,
        expires_at: now + CODE_LIFETIME,
        consumed_at: None,
        dpop_jkt: req.dpop_jkt.clone(),
    })?;
    tx.touch_browser_session(&session.id_hash, now)?;
    Ok(code)
}

/// The authorization response's parameters (RFC 6749 §4.1.2, §4.1.2.1):
/// `code` or `error` (+ description), `state`, and `iss` (RFC 9207 §2).
pub fn response_params(
    issuer: &str,
    state: Option<&str>,
    outcome: Result<&str, &OAuthError>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(4);
    match outcome {
        Ok(code) => out.push(("code", code.to_string())),
        Err(e) => {
            out.push(("error", e.code.as_str().to_string()));
            if let Some(d) = &e.description {
                out.push(("error_description", d.clone()));
            }
        }
    }
    if let Some(s) = state {
        out.push(("state", s.to_string()));
    }
    out.push(("iss", issuer.to_string()));
    out
}

/// The redirect back to the client: [`response_params`] added to the
/// redirect URI's query.
pub fn redirect_url(
    redirect_uri: &str,
    issuer: &str,
    state: Option<&str>,
    outcome: Result<&str, &OAuthError>,
) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_string();
    };
    url.query_pairs_mut()
        .extend_pairs(response_params(issuer, state, outcome));
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientAuthMethod, SigningAlg, TokenFormat};

    fn client() -> Client {
        Client {
            id: "c".into(),
            secret_hash: None,
            name: "App".into(),
            auth_method: ClientAuthMethod::None,
            redirect_uris: vec!["https://app.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            response_types: vec!["code".into()],
            scope: Scopes::parse("openid profile").unwrap(),
            access_token_format: TokenFormat::Jwt,
            signing_alg: SigningAlg::Rs256,
            application_type: "web".into(),
            metadata: serde_json::json!({}),
            registration_token_hash: None,
            is_resource_server: false,
            first_party: false,
            disabled: false,
            created_at: 0,
            updated_at: 0,
            secret_expires_at: 0,
        }
    }

    fn params(extra: &[(&str, &str)]) -> Params {
        let challenge = pkce::s256(&"v".repeat(43));
        let mut pairs: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), "c".into()),
            ("code_challenge".into(), challenge),
            ("code_challenge_method".into(), "S256".into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        Params::parse(pairs).unwrap()
    }

    fn check_request(c: &Client, r: String, p: &Params) -> Result<AuthRequest, OAuthError> {
        super::check_request(c, r, p, &Resources::default())
    }

    fn code(e: Result<AuthRequest, OAuthError>) -> ErrorCode {
        e.unwrap_err().code
    }

    #[test]
    fn pkce_is_required_and_s256_only() {
        let c = client();
        assert!(check_request(&c, "https://app.example/cb".into(), &params(&[])).is_ok());
        let no_pkce =
            Params::parse(vec![("response_type".to_string(), "code".to_string())]).unwrap();
        assert_eq!(
            code(check_request(&c, "x".into(), &no_pkce)),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(check_request(
                &c,
                "x".into(),
                &params(&[("code_challenge_method", "plain")])
            )),
            ErrorCode::InvalidRequest
        );
        let no_method = Params::parse(vec![
            ("response_type".to_string(), "code".to_string()),
            ("code_challenge".to_string(), pkce::s256(&"v".repeat(43))),
        ])
        .unwrap();
        assert_eq!(
            code(check_request(&c, "x".into(), &no_method)),
            ErrorCode::InvalidRequest,
            "missing method means plain"
        );
    }

    #[test]
    fn response_type_scope_prompt_max_age() {
        let c = client();
        assert_eq!(
            code(check_request(
                &c,
                "x".into(),
                &params(&[("response_type", "token")])
            )),
            ErrorCode::UnsupportedResponseType
        );
        assert_eq!(
            code(check_request(
                &c,
                "x".into(),
                &params(&[("scope", "openid admin")])
            )),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            code(check_request(
                &c,
                "x".into(),
                &params(&[("prompt", "none login")])
            )),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(check_request(&c, "x".into(), &params(&[("max_age", "-1")]))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(check_request(
                &c,
                "x".into(),
                &params(&[("resource", "https://a#b")])
            )),
            ErrorCode::InvalidTarget
        );
        let r = check_request(&c, "x".into(), &params(&[])).unwrap();
        assert_eq!(
            r.scope.to_string(),
            "openid profile",
            "absent scope: the client's registered scope"
        );
    }

    fn session(auth_time: i64) -> BrowserSession {
        BrowserSession {
            id_hash: "h".into(),
            user_id: "u".into(),
            auth_time,
            amr: vec!["pwd".into()],
            created_at: auth_time,
            last_seen_at: auth_time,
            expires_at: auth_time + 1000,
            revoked_at: None,
            user_agent: None,
        }
    }

    #[test]
    fn next_step_follows_oidc_prompt_and_max_age() {
        let c = client();
        let req = |extra: &[(&str, &str)]| check_request(&c, "x".into(), &params(extra)).unwrap();
        let consent = Consent {
            user_id: "u".into(),
            client_id: "c".into(),
            scope: Scopes::parse("openid profile").unwrap(),
            granted_at: 0,
            updated_at: 0,
        };
        assert_eq!(
            next_step(&req(&[]), &c, None, None, 100, false).unwrap(),
            Next::Login
        );
        assert_eq!(
            next_step(&req(&[("prompt", "none")]), &c, None, None, 100, false)
                .unwrap_err()
                .code,
            ErrorCode::LoginRequired
        );
        assert_eq!(
            next_step(&req(&[]), &c, Some(&session(90)), None, 100, false).unwrap(),
            Next::Consent
        );
        assert_eq!(
            next_step(
                &req(&[]),
                &c,
                Some(&session(90)),
                Some(&consent),
                100,
                false
            )
            .unwrap(),
            Next::Issue
        );
        assert_eq!(
            next_step(
                &req(&[("prompt", "consent")]),
                &c,
                Some(&session(90)),
                Some(&consent),
                100,
                false
            )
            .unwrap(),
            Next::Consent
        );
        assert_eq!(
            next_step(
                &req(&[("prompt", "none")]),
                &c,
                Some(&session(90)),
                None,
                100,
                false
            )
            .unwrap_err()
            .code,
            ErrorCode::ConsentRequired
        );
        assert_eq!(
            next_step(
                &req(&[("prompt", "login")]),
                &c,
                Some(&session(90)),
                Some(&consent),
                100,
                false
            )
            .unwrap(),
            Next::Login
        );
        assert_eq!(
            next_step(
                &req(&[("prompt", "login")]),
                &c,
                Some(&session(100)),
                Some(&consent),
                100,
                true
            )
            .unwrap(),
            Next::Issue
        );
        assert_eq!(
            next_step(
                &req(&[("max_age", "5")]),
                &c,
                Some(&session(90)),
                Some(&consent),
                100,
                false
            )
            .unwrap(),
            Next::Login
        );
        assert_eq!(
            next_step(
                &req(&[("max_age", "50")]),
                &c,
                Some(&session(90)),
                Some(&consent),
                100,
                false
            )
            .unwrap(),
            Next::Issue
        );
    }

    #[test]
    fn redirect_carries_state_and_iss() {
        let ok = redirect_url(
            "https://app.example/cb?x=1",
            "https://as.example",
            Some("s t"),
            Ok("CODE"),
        );
        assert_eq!(
            ok,
            "https://app.example/cb?x=1&code=CODE&state=s+t&iss=https%3A%2F%2Fas.example"
        );
        let e = OAuthError::with(ErrorCode::AccessDenied, "no");
        let err = redirect_url(
            "https://app.example/cb",
            "https://as.example",
            None,
            Err(&e),
        );
        assert_eq!(err, "https://app.example/cb?error=access_denied&error_description=no&iss=https%3A%2F%2Fas.example");
    }

    #[test]
    fn response_mode_is_query_or_form_post() {
        let c = client();
        let uri = || "https://app.example/cb".to_string();
        let plain = check_request(&c, uri(), &params(&[])).unwrap();
        assert!(!plain.form_post);
        let query = check_request(&c, uri(), &params(&[("response_mode", "query")])).unwrap();
        assert!(!query.form_post);
        let p = params(&[("response_mode", "form_post")]);
        assert!(wants_form_post(&p));
        assert!(check_request(&c, uri(), &p).unwrap().form_post);
        for bad in ["fragment", "FORM_POST", "form_post.jwt"] {
            let p = params(&[("response_mode", bad)]);
            assert!(!wants_form_post(&p));
            assert_eq!(
                code(check_request(&c, uri(), &p)),
                ErrorCode::InvalidRequest
            );
        }
        let e = OAuthError::with(ErrorCode::AccessDenied, "no");
        assert_eq!(
            response_params("https://as.example", Some("s"), Err(&e)),
            vec![
                ("error", "access_denied".to_string()),
                ("error_description", "no".to_string()),
                ("state", "s".to_string()),
                ("iss", "https://as.example".to_string()),
            ]
        );
    }
}
