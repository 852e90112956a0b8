//! OAuth 2.0 Token Exchange (RFC 8693), impersonation only: a client trades
//! a user's token it holds (a personal access token or an access token) for
//! a short-lived JWT access token (RFC 9068) bound to one resource.
//!
//! - The client authenticates as at every grant (RFC 8693 §2.1: "client
//!   authentication to the authorization server is done using the normal
//!   mechanisms provided by OAuth 2.0") and must be allowed the grant
//!   (`unauthorized_client`, RFC 6749 §5.2).
//! - `subject_token_type` must be `urn:ietf:params:oauth:token-type:access_token`
//!   (a PAT is a bearer access token of this server). No `actor_token`:
//!   delegation is not offered.
//! - One target at most (`resource` or `audience`, RFC 8693 §2.1); none: the
//!   default audience. It becomes `aud`.
//! - `scope` (RFC 8693 §2.1, RFC 6749 §3.3): at most the subject token's
//!   scope, and at most the client's registered scope (`invalid_scope`);
//!   absent, both together.
//! - The answer (RFC 8693 §2.2.1) carries `issued_token_type`; the token is
//!   recorded like every access token (so it is introspectable and
//!   revocable), lives `tokens.access_token_lifetime_secs` at most and never
//!   past the subject token. From an access token it belongs to the same
//!   session (ending the session ends it); from a PAT it has no session, and
//!   disabling the PAT leaves it to its short life.
//!
//! Errors, RFC 8693 §2.2.2: "If the request itself is not valid or if
//! either the subject_token or actor_token are invalid for any reason, or
//! are unacceptable based on policy, the authorization server MUST construct
//! an error response, as specified in Section 5.2 of [RFC6749]. The value of
//! the error parameter MUST be the invalid_request error code. If the
//! authorization server is unwilling or unable to issue a token for any
//! target service indicated by the resource or audience parameters, the
//! invalid_target error code SHOULD be used." So a bad subject token is
//! `invalid_request` ([`BAD_SUBJECT_TOKEN`]), not `invalid_grant`.

use serde::Serialize;
use serde_json::json;

use crate::access::{self, TokenRef};
use crate::error::{ErrorCode, OAuthError};
use crate::introspect::Presented;
use crate::model::{Client, GrantType, Scopes, TokenFormat, User};
use crate::params::Params;
use crate::pats::{self, PatCheck};
use crate::ports::{
    AuditStore, ClientStore, PatStore, Random, SessionStore, TokenStore, UserStore,
};
use crate::resources::same;
use crate::sessions::audit;
use crate::tokens::{audience, mint_access, requested_scope, target, Ctx, Material, TokenResponse};

/// RFC 8693 §3: token type identifiers.
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The error code for a subject token that is unknown, expired, revoked,
/// disabled or without a user (RFC 8693 §2.2.2, quoted above).
pub const BAD_SUBJECT_TOKEN: ErrorCode = ErrorCode::InvalidRequest;

/// The success body (RFC 8693 §2.2.1): RFC 6749 §5.1's members plus
/// `issued_token_type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExchangeResponse {
    #[serde(flatten)]
    pub token: TokenResponse,
    pub issued_token_type: &'static str,
}

/// What an exchange did: the answer, and the PAT it used (whose use the
/// server records).
#[derive(Debug)]
pub struct Exchanged {
    pub response: ExchangeResponse,
    pub pat_id: Option<String>,
}

fn bad_subject() -> OAuthError {
    OAuthError::with(
        BAD_SUBJECT_TOKEN,
        "subject_token is invalid, expired, revoked or has no user",
    )
}

/// The live subject behind `subject_token`.
struct Subject {
    user: User,
    scope: Scopes,
    expires_at: Option<i64>,
    session_id: Option<String>,
    pat_id: Option<String>,
    /// For the audit trail: what was exchanged, by a public id.
    kind: &'static str,
    id: String,
}

fn subject<T>(
    tx: &mut T,
    token: Presented,
    pat_check: &PatCheck,
    now: i64,
) -> Result<Subject, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore + PatStore,
{
    let access = match token {
        Presented::UnverifiedJwt => return Err(bad_subject()),
        Presented::VerifiedJwt { jti } => access::resolve(tx, TokenRef::Jti(jti), now)?,
        Presented::Opaque(value) => {
            if let Some((p, user)) = pats::resolve(tx, value, pat_check, now)? {
                return Ok(Subject {
                    user,
                    scope: p.scope,
                    expires_at: p.expires_at,
                    session_id: None,
                    pat_id: Some(p.id.clone()),
                    kind: "pat",
                    id: p.id,
                });
            }
            access::resolve(tx, TokenRef::Opaque(value), now)?
        }
    };
    match access {
        Some((t, Some(user))) => Ok(Subject {
            user,
            scope: t.scope,
            expires_at: Some(t.expires_at),
            session_id: t.session_id,
            pat_id: None,
            kind: "access_token",
            id: t.jti,
        }),
        // A client's own token has no user to stand for.
        _ => Err(bad_subject()),
    }
}

/// The one audience: `resource` (an absolute URI without fragment, RFC 8707
/// §2) or `audience` (any name the client and resource agree on), at most
/// one distinct value in all.
fn exchange_target(ctx: &Ctx, params: &Params) -> Result<Vec<String>, OAuthError> {
    // Checks each resource URI, and that it is configured (invalid_target).
    let resources = ctx.policy.resources.resolve(params.all("resource"))?;
    let mut targets: Vec<String> = Vec::new();
    for t in resources.iter().chain(params.all("audience")) {
        if !targets.iter().any(|x| same(x, t)) {
            targets.push(t.clone());
        }
    }
    match targets.len() {
        // The default audience, else the issuer.
        0 => audience(ctx, &[]),
        1 => Ok(targets),
        _ => Err(OAuthError::with(
            ErrorCode::InvalidTarget,
            "name one resource or audience per exchange",
        )),
    }
}

/// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` for an
/// authenticated `client`. `subject_token` is the server's reading of the
/// parameter of that name (a JWT's signature is checked there); `None` when
/// it is absent.
pub fn handle<T>(
    tx: &mut T,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    params: &Params,
    subject_token: Option<Presented>,
    pat_check: &PatCheck,
) -> Result<Exchanged, OAuthError>
where
    T: TokenStore + SessionStore + UserStore + ClientStore + PatStore + AuditStore,
{
    super::require_grant(client, GrantType::TokenExchange)?;
    // RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED.
    params.require("subject_token")?;
    let subject_type = params.require("subject_token_type")?;
    if subject_type != TOKEN_TYPE_ACCESS_TOKEN {
        return Err(OAuthError::invalid_request(format!(
            "subject_token_type must be {TOKEN_TYPE_ACCESS_TOKEN}"
        )));
    }
    // RFC 8693 §2.1: actor_token_type "is REQUIRED when the actor_token
    // parameter is present in the request but MUST NOT be included
    // otherwise". Delegation is not offered at all.
    if params.contains("actor_token") || params.contains("actor_token_type") {
        return Err(OAuthError::invalid_request(
            "actor_token is not supported: only impersonation",
        ));
    }
    let issued_token_type = match params.get("requested_token_type") {
        None | Some(TOKEN_TYPE_ACCESS_TOKEN) => TOKEN_TYPE_ACCESS_TOKEN,
        Some(TOKEN_TYPE_JWT) => TOKEN_TYPE_JWT,
        Some(_) => {
            return Err(OAuthError::invalid_request(format!(
                "requested_token_type must be {TOKEN_TYPE_ACCESS_TOKEN} or {TOKEN_TYPE_JWT}"
            )))
        }
    };
    let aud = exchange_target(ctx, params)?;
    let subject = subject(
        tx,
        subject_token.ok_or_else(bad_subject)?,
        pat_check,
        ctx.now,
    )?;
    let allowed = subject.scope.intersection(&client.scope);
    let scope = requested_scope(params.get("scope"), &allowed)?;
    let named = params.get("scope").is_some();
    // A configured resource's algorithm, lifetime and scopes apply; the
    // format is RFC 9068 whatever the client's or resource's usual one.
    let mut target = target(
        ctx,
        client,
        aud.clone(),
        &scope,
        named,
        ctx.policy.access_token_lifetime,
    )?;
    target.settings.format = TokenFormat::Jwt;
    if let Some(end) = subject.expires_at {
        target.settings.lifetime = target.settings.lifetime.min(end - ctx.now);
    }
    if target.settings.lifetime <= 0 {
        return Err(bad_subject());
    }
    let session = match &subject.session_id {
        Some(sid) => tx.get_session(sid)?,
        None => None,
    };
    let (access_token, record) = mint_access(
        tx,
        ctx,
        client,
        Some(&subject.user),
        session.as_ref(),
        &target,
        &Material::random(rng),
    )?;
    audit(
        tx,
        rng,
        ctx.now,
        "token_exchanged",
        Some(&subject.user.id),
        Some(&client.id),
        record.session_id.as_deref(),
        json!({"subject": subject.kind, "subject_id": subject.id, "jti": record.jti, "aud": aud}),
    )?;
    Ok(Exchanged {
        response: ExchangeResponse {
            token: TokenResponse {
                access_token,
                token_type: crate::tokens::token_type(&record),
                expires_in: target.settings.lifetime,
                scope: target.scope.to_string(),
                refresh_token: None,
                refresh_expires_in: None,
                id_token: None,
                session_state: None,
            },
            issued_token_type,
        },
        pat_id: subject.pat_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ClientSpec;
    use crate::model::{ClientAuthMethod, TokenFormat};
    use crate::pats::{create, PatPolicy, PatRequest};
    use crate::ports::TokenStore;
    use crate::testing::*;

    const RS: &str = "https://api.example.com/orders";

    fn exchanger(h: &mut Harness, grants: &[GrantType], scope: &str) -> Client {
        h.client(ClientSpec {
            name: "gateway".into(),
            grant_types: Some(grants.to_vec()),
            scope: Some(Scopes::parse(scope).unwrap()),
            access_token_format: Some(TokenFormat::Opaque),
            ..Default::default()
        })
        .0
    }

    fn pat(h: &mut Harness, user: &User, scope: &str, expires_at: Option<i64>) -> String {
        let granted = Scopes::parse("api:read api:write profile").unwrap();
        let req = PatRequest {
            name: "ci".into(),
            scope: Scopes::parse(scope).unwrap(),
            expires_at,
        };
        h.at(T0, |s, _, rng| create(s, rng, user, &granted, req, T0))
            .unwrap()
            .token
    }

    fn exchange(
        h: &mut Harness,
        client: &Client,
        token: Presented,
        extra: &[(&str, &str)],
        now: i64,
    ) -> Result<Exchanged, ErrorCode> {
        let mut pairs = vec![
            ("grant_type", GrantType::TokenExchange.as_str()),
            ("subject_token", "x"),
            ("subject_token_type", TOKEN_TYPE_ACCESS_TOKEN),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k, v));
        }
        let p = params(&pairs);
        let check = PatCheck::store_only(PatPolicy::default());
        h.at(now, |s, ctx, rng| {
            handle(s, ctx, rng, client, &p, Some(token), &check)
        })
        .map_err(|e| e.code)
    }

    fn setup() -> (Harness, Client, User, String) {
        let mut h = Harness::default();
        let c = exchanger(
            &mut h,
            &[GrantType::TokenExchange],
            "api:read api:write openid",
        );
        let u = h.user("alice");
        let t = pat(&mut h, &u, "api:read api:write", None);
        (h, c, u, t)
    }

    #[test]
    fn a_pat_becomes_a_short_jwt_for_one_resource() {
        let (mut h, c, u, t) = setup();
        let out = exchange(
            &mut h,
            &c,
            Presented::Opaque(&t),
            &[("resource", RS), ("scope", "api:read")],
            T0 + 5,
        )
        .unwrap();
        assert!(out.pat_id.is_some());
        let r = &out.response;
        assert_eq!(r.issued_token_type, TOKEN_TYPE_ACCESS_TOKEN);
        assert_eq!(
            (
                r.token.token_type,
                r.token.expires_in,
                r.token.scope.as_str()
            ),
            ("Bearer", 300, "api:read")
        );
        assert!(r.token.refresh_token.is_none());
        let (header, claims) = TestSigner::decode(&r.token.access_token);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(claims["aud"], RS);
        assert_eq!(claims["sub"], u.id.as_str());
        assert_eq!(claims["client_id"], c.id.as_str());
        assert_eq!(claims["scope"], "api:read");
        assert_eq!(claims["exp"], T0 + 5 + 300);
        // Recorded: introspectable and revocable like any access token.
        let jti = claims["jti"].as_str().unwrap();
        let rec = h.store.get_access_token_by_jti(jti).unwrap().unwrap();
        assert_eq!(rec.audience, vec![RS.to_string()]);
        assert!(rec.session_id.is_none());
        let ev = h.store.events_of("token_exchanged");
        assert_eq!(ev.len(), 1);
        assert!(!ev[0].detail.contains(&t));
        let v = serde_json::to_value(r).unwrap();
        assert_eq!(v["issued_token_type"], TOKEN_TYPE_ACCESS_TOKEN);
        assert_eq!(v["access_token"], r.token.access_token.as_str());
        // `audience` works as well, and requested_token_type jwt is honoured.
        let out = exchange(
            &mut h,
            &c,
            Presented::Opaque(&t),
            &[
                ("audience", "orders"),
                ("requested_token_type", TOKEN_TYPE_JWT),
            ],
            T0 + 5,
        )
        .unwrap();
        assert_eq!(out.response.issued_token_type, TOKEN_TYPE_JWT);
        let claims = TestSigner::claims(&out.response.token.access_token);
        assert_eq!(claims["aud"], "orders");
        // Scope absent: what the subject and the client share.
        assert_eq!(out.response.token.scope, "api:read api:write");
        // No target: the default audience (the issuer here).
        let out = exchange(&mut h, &c, Presented::Opaque(&t), &[], T0 + 5).unwrap();
        assert_eq!(
            TestSigner::claims(&out.response.token.access_token)["aud"],
            ISSUER
        );
    }

    #[test]
    fn a_configured_resource_sets_the_exchanged_tokens_alg_lifetime_and_scope() {
        use crate::resources::{Resource, Resources};
        let (mut h, c, _, t) = setup();
        h.policy.resources = Resources::new(vec![Resource {
            scopes: Scopes::parse("api:read").unwrap(),
            format: Some(TokenFormat::Opaque),
            alg: Some(crate::model::SigningAlg::EdDsa),
            lifetime: Some(30),
            ..Resource::new(RS)
        }])
        .unwrap();
        let out = exchange(&mut h, &c, Presented::Opaque(&t), &[("resource", RS)], T0).unwrap();
        let r = out.response.token;
        // Still a JWT (RFC 9068), with the resource's algorithm and lifetime.
        let (header, claims) = TestSigner::decode(&r.access_token);
        assert_eq!((header["alg"].as_str(), r.expires_in), (Some("EdDSA"), 30));
        assert_eq!(
            (claims["aud"].as_str(), r.scope.as_str()),
            (Some(RS), "api:read")
        );
        let run = |h: &mut Harness, extra: &[(&str, &str)]| {
            exchange(h, &c, Presented::Opaque(&t), extra, T0).map(|_| ())
        };
        assert_eq!(
            run(&mut h, &[("resource", "https://unknown.example/")]),
            Err(ErrorCode::InvalidTarget)
        );
        assert_eq!(
            run(&mut h, &[("resource", RS), ("scope", "api:write")]),
            Err(ErrorCode::InvalidScope)
        );
    }

    #[test]
    fn scope_target_and_token_type_rules() {
        let (mut h, c, _, t) = setup();
        let mut run = |extra: &[(&str, &str)]| {
            exchange(&mut h, &c, Presented::Opaque(&t), extra, T0 + 1).map(|_| ())
        };
        // Beyond the subject's scope, and beyond the client's.
        assert_eq!(run(&[("scope", "profile")]), Err(ErrorCode::InvalidScope));
        assert_eq!(run(&[("scope", "openid")]), Err(ErrorCode::InvalidScope));
        // Targets.
        assert_eq!(
            run(&[("resource", "not a uri")]),
            Err(ErrorCode::InvalidTarget)
        );
        assert_eq!(
            run(&[("resource", "https://a.example/#f")]),
            Err(ErrorCode::InvalidTarget)
        );
        assert_eq!(
            run(&[("resource", RS), ("audience", "other")]),
            Err(ErrorCode::InvalidTarget)
        );
        assert_eq!(run(&[("resource", RS), ("audience", RS)]), Ok(()));
        // Types and parameters.
        assert_eq!(
            run(&[("subject_token_type", TOKEN_TYPE_JWT)]),
            Err(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            run(&[(
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:id_token"
            )]),
            Err(ErrorCode::InvalidRequest)
        );
        assert_eq!(
            run(&[
                ("actor_token", "a"),
                ("actor_token_type", TOKEN_TYPE_ACCESS_TOKEN)
            ]),
            Err(ErrorCode::InvalidRequest)
        );
        let p = params(&[("grant_type", GrantType::TokenExchange.as_str())]);
        let check = PatCheck::store_only(PatPolicy::default());
        let missing = h.at(T0, |s, ctx, rng| handle(s, ctx, rng, &c, &p, None, &check));
        assert_eq!(missing.unwrap_err().code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn bad_subject_tokens_are_invalid_request() {
        let (mut h, c, u, t) = setup();
        let expiring = pat(&mut h, &u, "api:read", Some(T0 + 100));
        let mut bad = |tok: Presented, now| exchange(&mut h, &c, tok, &[], now).map(|_| ());
        assert_eq!(
            bad(Presented::Opaque("garbage"), T0),
            Err(BAD_SUBJECT_TOKEN)
        );
        assert_eq!(
            bad(Presented::Opaque("pcp_nope"), T0),
            Err(BAD_SUBJECT_TOKEN)
        );
        assert_eq!(bad(Presented::UnverifiedJwt, T0), Err(BAD_SUBJECT_TOKEN));
        assert_eq!(
            bad(Presented::VerifiedJwt { jti: "unknown" }, T0),
            Err(BAD_SUBJECT_TOKEN)
        );
        assert_eq!(
            bad(Presented::Opaque(&expiring), T0 + 100),
            Err(BAD_SUBJECT_TOKEN)
        );
        // Expiring soon: the new token does not outlive it.
        let out = exchange(&mut h, &c, Presented::Opaque(&expiring), &[], T0 + 40).unwrap();
        assert_eq!(out.response.token.expires_in, 60);
        // Disabled PAT, disabled user.
        let id = h.store.pats[0].id.clone();
        h.store.set_pat_disabled(&id, true).unwrap();
        assert_eq!(
            exchange(&mut h, &c, Presented::Opaque(&t), &[], T0).map(|_| ()),
            Err(BAD_SUBJECT_TOKEN)
        );
        h.store.set_pat_disabled(&id, false).unwrap();
        h.edit_user(&u.id, |u| u.disabled = true);
        assert_eq!(
            exchange(&mut h, &c, Presented::Opaque(&t), &[], T0).map(|_| ()),
            Err(BAD_SUBJECT_TOKEN)
        );
        // Nothing was minted for any of these (one token for the good one).
        assert_eq!(h.store.access_tokens.len(), 1);
    }

    #[test]
    fn a_client_without_the_grant_is_unauthorized() {
        let (mut h, _, _, t) = setup();
        let other = exchanger(&mut h, &[GrantType::ClientCredentials], "api:read");
        assert_eq!(
            exchange(&mut h, &other, Presented::Opaque(&t), &[], T0).map(|_| ()),
            Err(ErrorCode::UnauthorizedClient)
        );
    }

    #[test]
    fn an_access_token_subject_shares_its_session() {
        let mut h = Harness::default();
        let c = exchanger(
            &mut h,
            &[GrantType::TokenExchange, GrantType::Password],
            "api:read api:write",
        );
        let u = h.user("alice");
        let login = h.login(&c, &u, T0);
        let out = exchange(
            &mut h,
            &c,
            Presented::Opaque(&login.access_token),
            &[("resource", RS)],
            T0 + 10,
        )
        .unwrap();
        assert!(out.pat_id.is_none());
        // Never past the subject (which expires at T0 + 300).
        assert_eq!(out.response.token.expires_in, 290);
        let jti = TestSigner::claims(&out.response.token.access_token)["jti"]
            .as_str()
            .unwrap()
            .to_string();
        let live = |h: &mut Harness| {
            access::resolve(&mut h.store, TokenRef::Jti(&jti), T0 + 20)
                .unwrap()
                .is_some()
        };
        assert!(live(&mut h));
        let sid = login.session_state.clone().unwrap();
        let session = h.store.session(&sid).clone();
        h.at(T0 + 15, |s, _, rng| {
            crate::sessions::end_session(s, rng, &session, T0 + 15, "test")
        })
        .unwrap();
        assert!(!live(&mut h));

        // A client's own token (client credentials) stands for no user.
        let svc = h
            .client(ClientSpec {
                name: "svc".into(),
                grant_types: Some(vec![GrantType::ClientCredentials]),
                scope: Some(Scopes::parse("api:read").unwrap()),
                access_token_format: Some(TokenFormat::Opaque),
                auth_method: Some(ClientAuthMethod::ClientSecretBasic),
                ..Default::default()
            })
            .0;
        let p = params(&[("grant_type", "client_credentials")]);
        let own = issued(h.at(T0, |s, ctx, rng| {
            crate::grants::client_credentials::handle(s, ctx, rng, &svc, &p)
        }));
        assert_eq!(
            exchange(
                &mut h,
                &c,
                Presented::Opaque(&own.access_token),
                &[],
                T0 + 1
            )
            .map(|_| ()),
            Err(BAD_SUBJECT_TOKEN)
        );
    }
}
