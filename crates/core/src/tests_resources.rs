//! Resource indicators (RFC 8707) through the grants: the code flow from
//! the authorization request to refresh, client credentials, password and
//! token exchange, against [`MemStore`] with a configured registry.

use crate::authorize::{check_request, issue_code};
use crate::clients::ClientSpec;
use crate::error::{ErrorCode, OAuthError};
use crate::grants::{authorization_code, client_credentials, password, refresh_token};
use crate::model::{
    BrowserSession, Client, ClientAuthMethod, GrantType, Scopes, SigningAlg, TokenFormat, User,
};
use crate::pkce;
use crate::resources::{Resource, Resources};
use crate::testing::*;
use crate::tokens::{GrantResult, TokenPolicy, TokenResponse};

const MCP: &str = "https://mcp.example.com/mcp";
const API: &str = "https://api.example.com/v1";
const OTHER: &str = "https://other.example.com/";
const REDIRECT: &str = "https://app.example/cb";
const VERIFIER: &str = "verifier-verifier-verifier-verifier-verifier";

fn resource(uri: &str) -> Resource {
    Resource::new(uri)
}

fn harness(list: Vec<Resource>) -> Harness {
    Harness::new(TokenPolicy {
        resources: Resources::new(list).unwrap(),
        ..policy()
    })
}

/// Three configured resources; OTHER has its own token settings.
fn three() -> Harness {
    harness(vec![
        resource(MCP),
        resource(API),
        Resource {
            format: Some(TokenFormat::Opaque),
            ..resource(OTHER)
        },
    ])
}

fn app(h: &mut Harness) -> Client {
    h.client(ClientSpec {
        name: "app".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken]),
        scope: Some(Scopes::parse("openid profile offline_access mcp:tools api:write").unwrap()),
        auth_method: Some(ClientAuthMethod::None),
        access_token_format: Some(TokenFormat::Jwt),
        signing_alg: Some(SigningAlg::Rs256),
        ..Default::default()
    })
    .0
}

/// The authorization request with `extra` parameters, checked and turned
/// into a code for `user`.
fn code_for(
    h: &mut Harness,
    c: &Client,
    user: &User,
    extra: &[(&str, &str)],
) -> Result<String, OAuthError> {
    let challenge = pkce::s256(VERIFIER);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", c.id.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    let req = check_request(c, REDIRECT.into(), &params(&pairs), &h.policy.resources)?;
    let session = BrowserSession {
        id_hash: "bs".into(),
        user_id: user.id.clone(),
        auth_time: T0,
        amr: vec!["pwd".into()],
        created_at: T0,
        last_seen_at: T0,
        expires_at: T0 + 3_600,
        revoked_at: None,
        user_agent: None,
    };
    issue_code(&mut h.store, &mut h.rng, &req, &session, T0)
}

fn exchange(h: &mut Harness, c: &Client, code: &str, extra: &[(&str, &str)]) -> GrantResult {
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", VERIFIER),
        ("redirect_uri", REDIRECT),
    ];
    pairs.extend_from_slice(extra);
    let p = params(&pairs);
    h.at(T0 + 1, |s, ctx, rng| {
        authorization_code::handle(s, ctx, rng, c, &p)
    })
}

fn refresh(h: &mut Harness, c: &Client, t: &TokenResponse, extra: &[(&str, &str)]) -> GrantResult {
    let token = t.refresh_token.clone().expect("a refresh token");
    let mut pairs = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token.as_str()),
    ];
    pairs.extend_from_slice(extra);
    let p = params(&pairs);
    h.at(T0 + 2, |s, ctx, rng| {
        refresh_token::handle(s, ctx, rng, c, &p)
    })
}

fn aud(t: &TokenResponse) -> serde_json::Value {
    TestSigner::claims(&t.access_token)["aud"].clone()
}

/// Sign in with `auth` parameters and exchange the code with `token` ones.
fn flow(h: &mut Harness, auth: &[(&str, &str)], token: &[(&str, &str)]) -> GrantResult {
    let c = app(h);
    let alice = h.user("alice");
    let code = code_for(h, &c, &alice, auth).expect("authorized");
    exchange(h, &c, &code, token)
}

#[test]
fn code_flow_binds_aud_to_the_resource_as_configured() {
    let mut h = three();
    let t = issued(flow(
        &mut h,
        &[("resource", "HTTPS://MCP.Example.com/mcp")],
        &[],
    ));
    assert_eq!(aud(&t), MCP);
    let code = h.store.codes.last().unwrap();
    assert_eq!(
        code.resource,
        [MCP],
        "the code remembers the configured URI"
    );
    let rt = h.store.refresh_tokens.last().unwrap();
    assert_eq!(
        (rt.resource.as_slice(), rt.audience.as_slice()),
        ([MCP.to_string()].as_slice(), [MCP.to_string()].as_slice())
    );
}

#[test]
fn without_a_resource_aud_is_the_default() {
    let mut h = three();
    let t = issued(flow(&mut h, &[], &[]));
    assert_eq!(aud(&t), ISSUER);
    assert!(h.store.refresh_tokens.last().unwrap().resource.is_empty());
}

#[test]
fn unknown_resources_are_invalid_target_at_authorize_and_token() {
    let mut h = three();
    let c = app(&mut h);
    let alice = h.user("alice");
    for bad in [
        "https://mcp.example.com/MCP",
        "https://evil.example/",
        "https://mcp.example.com/mcp#f",
        "relative/path",
    ] {
        assert_eq!(
            code_for(&mut h, &c, &alice, &[("resource", bad)])
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget,
            "{bad}"
        );
    }
    let code = code_for(&mut h, &c, &alice, &[("resource", MCP)]).unwrap();
    let e = err(exchange(
        &mut h,
        &c,
        &code,
        &[("resource", "https://evil.example/")],
    ));
    assert_eq!(e.code, ErrorCode::InvalidTarget);
}

#[test]
fn without_configuration_any_absolute_uri_is_accepted() {
    let mut h = Harness::default();
    let t = issued(flow(
        &mut h,
        &[("resource", "https://Anything.example/x")],
        &[],
    ));
    assert_eq!(aud(&t), "https://Anything.example/x");
    let c = app(&mut h);
    let bob = h.user("bob");
    assert_eq!(
        code_for(&mut h, &c, &bob, &[("resource", "https://a.example/#f")])
            .unwrap_err()
            .code,
        ErrorCode::InvalidTarget
    );
}

#[test]
fn the_token_request_may_name_a_subset_of_the_authorized_resources() {
    let mut h = three();
    let c = app(&mut h);
    let alice = h.user("alice");
    let both = [("resource", MCP), ("resource", API)];
    let code = code_for(&mut h, &c, &alice, &both).unwrap();
    let t = issued(exchange(&mut h, &c, &code, &[]));
    assert_eq!(aud(&t), serde_json::json!([MCP, API]), "none named: all");

    let code = code_for(&mut h, &c, &alice, &both).unwrap();
    let t = issued(exchange(
        &mut h,
        &c,
        &code,
        &[("resource", "https://API.example.com/v1")],
    ));
    assert_eq!(aud(&t), API);
    // RFC 8707 §2.2: the refresh token is bound to the full original grant.
    assert_eq!(
        h.store.refresh_tokens.last().unwrap().resource,
        [MCP.to_string(), API.to_string()]
    );

    // Configured, but not authorized: refused.
    let code = code_for(&mut h, &c, &alice, &[("resource", MCP)]).unwrap();
    let e = err(exchange(&mut h, &c, &code, &[("resource", API)]));
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    // Authorized without resources: the token request may not add one.
    let code = code_for(&mut h, &c, &alice, &[]).unwrap();
    let e = err(exchange(&mut h, &c, &code, &[("resource", MCP)]));
    assert_eq!(e.code, ErrorCode::InvalidTarget);
}

#[test]
fn a_refresh_may_narrow_the_audience_but_never_widen_it() {
    let mut h = three();
    let c = app(&mut h);
    let alice = h.user("alice");
    let code = code_for(&mut h, &c, &alice, &[("resource", MCP), ("resource", API)]).unwrap();
    let first = issued(exchange(&mut h, &c, &code, &[("resource", MCP)]));
    assert_eq!(aud(&first), MCP);

    // Narrow to the other authorized resource: allowed (bound to the grant).
    let t = issued(refresh(&mut h, &c, &first, &[("resource", API)]));
    assert_eq!(aud(&t), API);
    // Nothing named: the audience the grant's first token had.
    let t = issued(refresh(&mut h, &c, &t, &[]));
    assert_eq!(aud(&t), MCP);
    let rt = h.store.refresh_tokens.last().unwrap();
    assert_eq!(rt.resource, [MCP.to_string(), API.to_string()]);
    // Widen: a configured resource the grant did not authorize.
    let e = err(refresh(&mut h, &c, &t, &[("resource", OTHER)]));
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    let e = err(refresh(
        &mut h,
        &c,
        &t,
        &[("resource", "https://evil.example/")],
    ));
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    // A grant without resources cannot gain one at refresh.
    let code = code_for(&mut h, &c, &alice, &[]).unwrap();
    let plain = issued(exchange(&mut h, &c, &code, &[]));
    let e = err(refresh(&mut h, &c, &plain, &[("resource", MCP)]));
    assert_eq!(e.code, ErrorCode::InvalidTarget);
}

#[test]
fn the_resource_settings_win_over_the_clients() {
    let mut h = harness(vec![
        Resource {
            format: Some(TokenFormat::Opaque),
            ..resource(OTHER)
        },
        Resource {
            alg: Some(SigningAlg::Es256),
            lifetime: Some(900),
            scopes: Scopes::parse("mcp:tools").unwrap(),
            name: Some("Tools".into()),
            ..resource(MCP)
        },
    ]);
    // The client says JWT, RS256, 300 s.
    let t = issued(flow(&mut h, &[("resource", OTHER)], &[]));
    assert!(!t.access_token.contains('.'), "opaque: {}", t.access_token);
    let rec = h.store.access_tokens.last().unwrap();
    assert_eq!(
        (rec.format, rec.audience.as_slice(), t.expires_in),
        (TokenFormat::Opaque, [OTHER.to_string()].as_slice(), 300)
    );

    let c = app(&mut h);
    let bob = h.user("bob");
    let code = code_for(
        &mut h,
        &c,
        &bob,
        &[
            ("resource", MCP),
            ("scope", "openid profile mcp:tools api:write"),
        ],
    )
    .unwrap();
    let t = issued(exchange(&mut h, &c, &code, &[]));
    let (header, claims) = TestSigner::decode(&t.access_token);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(t.expires_in, 900);
    assert_eq!(claims["exp"].as_i64(), Some(T0 + 1 + 900));
    // Downscoped to what the resource accepts, OIDC scopes kept...
    assert_eq!(t.scope, "mcp:tools openid profile");
    assert_eq!(claims["scope"], "mcp:tools openid profile");
    // ...while the ID token (client's algorithm) and refresh token follow the grant.
    let (id_header, id) = TestSigner::decode(t.id_token.as_deref().expect("an ID token"));
    assert_eq!(
        (id_header["alg"].as_str(), id["preferred_username"].as_str()),
        (Some("RS256"), Some("bob"))
    );
    assert_eq!(
        h.store.refresh_tokens.last().unwrap().scope.to_string(),
        "api:write mcp:tools openid profile"
    );
    // Refresh: the same settings and downscoping.
    let r = issued(refresh(&mut h, &c, &t, &[]));
    assert_eq!(TestSigner::decode(&r.access_token).0["alg"], "ES256");
    assert_eq!(
        (r.expires_in, r.scope.as_str()),
        (900, "mcp:tools openid profile")
    );
    // A retry within the grace window gives the same token, signed alike.
    let again = issued(refresh(&mut h, &c, &t, &[]));
    assert_eq!(again.access_token, r.access_token);
}

#[test]
fn named_scopes_the_resource_does_not_accept_are_invalid_scope() {
    let mut h = harness(vec![Resource {
        scopes: Scopes::parse("mcp:tools").unwrap(),
        ..resource(MCP)
    }]);
    let c = app(&mut h);
    let alice = h.user("alice");
    let e = code_for(
        &mut h,
        &c,
        &alice,
        &[("resource", MCP), ("scope", "openid api:write")],
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    // A sign-in asking no resource scope is fine; so is naming no scope.
    assert!(code_for(
        &mut h,
        &c,
        &alice,
        &[("resource", MCP), ("scope", "openid")]
    )
    .is_ok());
    let code = code_for(&mut h, &c, &alice, &[("resource", MCP)]).unwrap();
    let t = issued(exchange(&mut h, &c, &code, &[]));
    assert_eq!(t.scope, "mcp:tools offline_access openid profile");
    // At refresh, a named scope the resource does not accept.
    let e = err(refresh(&mut h, &c, &t, &[("scope", "api:write")]));
    assert_eq!(e.code, ErrorCode::InvalidScope);
}

#[test]
fn one_token_for_resources_with_different_settings_is_invalid_target() {
    let mut h = three();
    let c = app(&mut h);
    let alice = h.user("alice");
    // Authorizing both is fine: the client may take one token per resource.
    let both = [("resource", MCP), ("resource", OTHER)];
    let code = code_for(&mut h, &c, &alice, &both).unwrap();
    let e = err(exchange(&mut h, &c, &code, &[]));
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    assert!(e.description.unwrap().contains("one resource at a time"));
    let code = code_for(&mut h, &c, &alice, &both).unwrap();
    let t = issued(exchange(&mut h, &c, &code, &[("resource", OTHER)]));
    assert!(!t.access_token.contains('.'));
    let t = issued(refresh(&mut h, &c, &t, &[("resource", MCP)]));
    assert_eq!(aud(&t), MCP);
}

#[test]
fn client_credentials_and_password_follow_the_registry() {
    let mut h = harness(vec![Resource {
        lifetime: Some(60),
        scopes: Scopes::parse("api:read").unwrap(),
        ..resource(API)
    }]);
    let (svc, _) = h.client(ClientSpec {
        name: "svc".into(),
        grant_types: Some(vec![GrantType::ClientCredentials]),
        scope: Some(Scopes::parse("api:read api:write").unwrap()),
        access_token_format: Some(TokenFormat::Jwt),
        ..Default::default()
    });
    let cc = |h: &mut Harness, pairs: &[(&str, &str)]| {
        let mut all = vec![("grant_type", "client_credentials")];
        all.extend_from_slice(pairs);
        let p = params(&all);
        h.at(T0, |s, ctx, rng| {
            client_credentials::handle(s, ctx, rng, &svc, &p)
        })
    };
    let t = issued(cc(&mut h, &[("resource", "https://API.EXAMPLE.com/v1")]));
    assert_eq!(
        (aud(&t), t.expires_in, t.scope.as_str()),
        (API.into(), 60, "api:read")
    );
    assert_eq!(
        err(cc(&mut h, &[("resource", OTHER)])).code,
        ErrorCode::InvalidTarget
    );
    assert_eq!(
        err(cc(&mut h, &[("resource", API), ("scope", "api:write")])).code,
        ErrorCode::InvalidScope
    );

    let (cli, _) = h.client(ClientSpec {
        name: "cli".into(),
        grant_types: Some(vec![GrantType::Password, GrantType::RefreshToken]),
        scope: Some(Scopes::parse("openid api:read").unwrap()),
        ..Default::default()
    });
    let alice = h.user("alice");
    let login = |h: &mut Harness, pairs: &[(&str, &str)]| {
        let mut all = vec![
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "pw"),
        ];
        all.extend_from_slice(pairs);
        let p = params(&all);
        h.at(T0, |s, ctx, rng| {
            let req = password::check_request(ctx, &cli, &p)?;
            password::complete(s, ctx, rng, &cli, &alice, None, &req, 300)
        })
    };
    let e = err(login(&mut h, &[("resource", OTHER)]));
    assert_eq!(e.code, ErrorCode::InvalidTarget);
    let t = issued(login(&mut h, &[("resource", API)]));
    assert_eq!(
        (
            t.expires_in,
            h.store.refresh_tokens.last().unwrap().resource.as_slice()
        ),
        (60, [API.to_string()].as_slice())
    );
}
