//! The grants against [`MemStore`], with time passed in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256, Sha512};

use super::{client_credentials, password, refresh_token};
use crate::clients::ClientSpec;
use crate::error::ErrorCode;
use crate::model::{Client, ClientAuthMethod, GrantType, Scopes, SigningAlg, TokenFormat, User};
use crate::ports::{SessionStore, TokenStore};
use crate::secret::hash_token;
use crate::testing::*;
use crate::tokens::{at_hash, GrantResult, TokenPolicy, TokenResponse};
use crate::totp;

// RFC 6238 Appendix B secret, base32.
const TOTP: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

fn scopes(s: &str) -> Option<Scopes> {
    Some(Scopes::parse(s).unwrap())
}

fn service_spec(format: TokenFormat) -> ClientSpec {
    ClientSpec {
        name: "service".into(),
        grant_types: Some(vec![GrantType::ClientCredentials]),
        scope: scopes("api:read api:write"),
        access_token_format: Some(format),
        ..Default::default()
    }
}

fn cli_spec(format: TokenFormat, grants: &[GrantType]) -> ClientSpec {
    ClientSpec {
        name: "cli".into(),
        grant_types: Some(grants.to_vec()),
        scope: scopes("openid profile email api:read api:write"),
        access_token_format: Some(format),
        ..Default::default()
    }
}

const PWD_REFRESH: &[GrantType] = &[GrantType::Password, GrantType::RefreshToken];

fn cc(h: &mut Harness, client: &Client, pairs: &[(&str, &str)], now: i64) -> GrantResult {
    let p = params(pairs);
    h.at(now, |s, ctx, rng| {
        client_credentials::handle(s, ctx, rng, client, &p)
    })
}

/// check_request + complete, as the token endpoint runs them (the password
/// itself is verified by the server, outside core).
fn login_with(
    h: &mut Harness,
    client: &Client,
    user: &User,
    totp_secret: Option<&str>,
    extra: &[(&str, &str)],
    now: i64,
) -> GrantResult {
    let mut pairs = vec![
        ("grant_type", "password"),
        ("username", user.username.as_str()),
        ("password", "pw"),
    ];
    pairs.extend_from_slice(extra);
    let p = params(&pairs);
    h.at(now, |s, ctx, rng| {
        let req = password::check_request(ctx, client, &p)?;
        let lifetime = ctx.policy.access_token_lifetime;
        password::complete(s, ctx, rng, client, user, totp_secret, &req, lifetime)
    })
}

fn login(h: &mut Harness, client: &Client, user: &User, now: i64) -> TokenResponse {
    h.login(client, user, now)
}

fn refresh(
    h: &mut Harness,
    client: &Client,
    token: &str,
    scope: Option<&str>,
    now: i64,
) -> GrantResult {
    let mut pairs = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = scope {
        pairs.push(("scope", s));
    }
    let p = params(&pairs);
    h.at(now, |s, ctx, rng| {
        refresh_token::handle(s, ctx, rng, client, &p)
    })
}

fn rt(t: &TokenResponse) -> &str {
    t.refresh_token.as_deref().expect("a refresh token")
}

// ---------------------------------------------------------------- client_credentials

#[test]
fn cc_opaque_token_is_stored_only_as_its_hash() {
    let mut h = Harness::default();
    let (client, _) = h.client(service_spec(TokenFormat::Opaque));
    let t = issued(cc(&mut h, &client, &[], T0));
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.expires_in, 300);
    // RFC 6749 §3.3: no scope requested -> the registered scope.
    assert_eq!(t.scope, "api:read api:write");
    // RFC 6749 §4.4.3: no refresh token; no ID token, no session.
    assert_eq!(
        (&t.refresh_token, &t.id_token, &t.session_state),
        (&None, &None, &None)
    );
    assert!(h.store.refresh_tokens.is_empty() && h.store.sessions.is_empty());

    let [rec] = h.store.access_tokens.as_slice() else {
        panic!("one access token expected")
    };
    assert_eq!(
        rec.token_hash.as_deref(),
        Some(hash_token(&t.access_token).as_str())
    );
    assert_ne!(rec.jti, t.access_token);
    assert!(
        !format!("{rec:?}").contains(&t.access_token),
        "token in clear"
    );
    assert_eq!((rec.issued_at, rec.expires_at), (T0, T0 + 300));
    assert_eq!(
        (rec.user_id.as_deref(), rec.session_id.as_deref()),
        (None, None)
    );
    assert_eq!(rec.audience, [ISSUER]);
    assert_eq!(rec.client_id, client.id);
}

#[test]
fn cc_scope_narrower_ok_wider_or_malformed_refused() {
    let mut h = Harness::default();
    let (client, _) = h.client(service_spec(TokenFormat::Opaque));
    let t = issued(cc(&mut h, &client, &[("scope", "api:read")], T0));
    assert_eq!(t.scope, "api:read");
    assert_eq!(h.store.access_tokens[0].scope.to_string(), "api:read");
    for wider in ["api:read admin", "openid", "a\"b"] {
        let e = err(cc(&mut h, &client, &[("scope", wider)], T0));
        assert_eq!(e.code, ErrorCode::InvalidScope, "{wider}");
    }
    assert_eq!(h.store.access_tokens.len(), 1);
}

#[test]
fn cc_scope_property_every_subset_and_no_superset() {
    let mut h = Harness::default();
    let (client, _) = h.client(service_spec(TokenFormat::Opaque));
    let pool = ["api:read", "api:write", "admin", "openid"];
    for mask in 1u32..16 {
        let req: Vec<&str> = (0..4)
            .filter(|i| mask & (1 << i) != 0)
            .map(|i| pool[i])
            .collect();
        let req = req.join(" ");
        let r = cc(&mut h, &client, &[("scope", &req)], T0);
        if mask & 0b1100 == 0 {
            assert_eq!(issued(r).scope, Scopes::parse(&req).unwrap().to_string());
        } else {
            assert_eq!(err(r).code, ErrorCode::InvalidScope, "{req}");
        }
    }
}

#[test]
fn cc_refused_to_public_client_and_client_without_the_grant() {
    let mut h = Harness::default();
    let (mut public, _) = h.client(cli_spec(TokenFormat::Opaque, &[GrantType::Password]));
    // new_client refuses this combination; a row could still hold it.
    public.auth_method = ClientAuthMethod::None;
    public.secret_hash = None;
    public.grant_types.push(GrantType::ClientCredentials);
    let e = err(cc(&mut h, &public, &[], T0));
    assert_eq!(e.code, ErrorCode::UnauthorizedClient);

    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    assert_eq!(
        err(cc(&mut h, &cli, &[], T0)).code,
        ErrorCode::UnauthorizedClient
    );
    assert!(h.store.access_tokens.is_empty());
}

#[test]
fn cc_jwt_claims() {
    let mut h = Harness::default();
    let (client, _) = h.client(service_spec(TokenFormat::Jwt));
    let now = T0 + 7;
    let t = issued(cc(&mut h, &client, &[("scope", "api:write")], now));
    let (header, c) = TestSigner::decode(&t.access_token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    let rec = &h.store.access_tokens[0];
    assert_eq!(rec.format, TokenFormat::Jwt);
    assert_eq!(rec.token_hash, None);
    assert_eq!(
        c,
        json!({
            "iss": ISSUER, "sub": client.id, "aud": ISSUER,
            "exp": now + 300, "iat": now, "nbf": now,
            "jti": rec.jti, "client_id": client.id, "scope": "api:write",
        })
    );
}

#[test]
fn cc_audience_default_then_resources() {
    let mut p = policy();
    p.default_audience = Some("https://api.example.com".into());
    let mut h = Harness::new(p);
    let (client, _) = h.client(service_spec(TokenFormat::Jwt));
    let aud = |t: &TokenResponse| TestSigner::claims(&t.access_token)["aud"].clone();

    let t = issued(cc(&mut h, &client, &[], T0));
    assert_eq!(aud(&t), "https://api.example.com");
    let t = issued(cc(
        &mut h,
        &client,
        &[("resource", "https://rs.example/v1")],
        T0,
    ));
    assert_eq!(aud(&t), "https://rs.example/v1");
    let two = [
        ("resource", "https://a.example/"),
        ("resource", "https://b.example/"),
    ];
    let t = issued(cc(&mut h, &client, &two, T0));
    assert_eq!(aud(&t), json!(["https://a.example/", "https://b.example/"]));
}

#[test]
fn cc_resource_with_fragment_or_relative_is_invalid_target() {
    let mut h = Harness::default();
    let (client, _) = h.client(service_spec(TokenFormat::Opaque));
    for bad in [
        "https://rs.example/api#frag",
        "https://rs.example/#",
        "api",
        "/api",
    ] {
        let e = err(cc(&mut h, &client, &[("resource", bad)], T0));
        assert_eq!(e.code, ErrorCode::InvalidTarget, "{bad}");
    }
    assert!(h.store.access_tokens.is_empty());
}

// ---------------------------------------------------------------- password

#[test]
fn password_check_request_rules() {
    let mut h = Harness::default();
    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let (svc, _) = h.client(service_spec(TokenFormat::Opaque));
    let check = |h: &mut Harness, c: &Client, pairs: &[(&str, &str)]| {
        let p = params(pairs);
        h.at(T0, |_, ctx, _| password::check_request(ctx, c, &p))
    };
    let up = [("username", "alice"), ("password", "pw")];

    for (missing, pairs) in [("username", &up[1..]), ("password", &up[..1])] {
        let e = check(&mut h, &cli, pairs).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.description.unwrap().contains(missing));
    }
    let e = check(&mut h, &svc, &up).unwrap_err();
    assert_eq!(e.code, ErrorCode::UnauthorizedClient);

    let with = |extra: &[(&'static str, &'static str)]| [&up[..], extra].concat();
    let e = check(
        &mut h,
        &cli,
        &with(&[("otp", "123456"), ("totp", "654321")]),
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    for extra in [
        &[("otp", "123456"), ("totp", "123456")][..],
        &[("totp", "123456")],
        &[("otp", "123456")],
    ] {
        let r = check(&mut h, &cli, &with(extra)).unwrap();
        assert_eq!(r.otp.as_deref(), Some("123456"));
    }
    let r = check(&mut h, &cli, &up).unwrap();
    assert_eq!(r.otp, None);
    assert_eq!(r.scope, cli.scope);
    assert_eq!(r.audience, [ISSUER]);
    let e = check(&mut h, &cli, &with(&[("scope", "admin")])).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    let e = check(&mut h, &cli, &with(&[("resource", "x#y")])).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidTarget);
}

/// A 6-digit code that is not valid at `now` (nor a step either side).
fn wrong_code(now: i64) -> String {
    (0..10)
        .map(|d| d.to_string().repeat(6))
        .find(|c| totp::check(TOTP, c, now).is_none())
        .unwrap()
}

#[test]
fn password_grant_refuses_an_account_whose_second_factor_is_a_passkey() {
    use crate::passkeys::{register, NewPasskey, PasskeyKind};
    let mut h = Harness::default();
    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let alice = h.user("alice");
    let new = NewPasskey {
        credential_id: "cred".into(),
        credential: "{}".into(),
        kind: PasskeyKind::Hardware,
    };
    register(
        &mut h.store,
        &mut crate::testing::SeqRandom(3),
        &alice.id,
        "",
        new,
        T0,
    )
    .unwrap()
    .unwrap();
    let (e, failure) = denied(login_with(&mut h, &cli, &alice, None, &[], T0 + 5));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(e.description.unwrap().contains("passkey"));
    assert!(!failure, "the password was right");
    assert!(h.store.sessions.is_empty());
    // With TOTP on as well, the code is the way in, as before.
    let alice = h.edit_user(&alice.id, |u| u.totp_secret = Some(TOTP.into()));
    let code = totp::code_at(TOTP, T0 + 5).unwrap();
    let t = issued(login_with(
        &mut h,
        &cli,
        &alice,
        Some(TOTP),
        &[("otp", &code)],
        T0 + 5,
    ));
    let sid = t.session_state.clone().unwrap();
    assert_eq!(h.store.session(&sid).amr, ["pwd", "otp", "mfa"]);
}

#[test]
fn password_with_totp() {
    let mut h = Harness::default();
    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let alice = h.user("alice");
    let alice = h.edit_user(&alice.id, |u| u.totp_secret = Some(TOTP.into()));
    let now = T0 + 5;
    let secret = Some(TOTP);

    let (e, failure) = denied(login_with(&mut h, &cli, &alice, secret, &[], now));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(e.description.unwrap().contains("OTP"));
    assert!(!failure, "a missing code is a prompt, not a failure");

    let bad = wrong_code(now);
    let (e, failure) = denied(login_with(
        &mut h,
        &cli,
        &alice,
        secret,
        &[("otp", &bad)],
        now,
    ));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(failure);
    assert!(h.store.sessions.is_empty());

    let code = totp::code_at(TOTP, now).unwrap();
    let t = issued(login_with(
        &mut h,
        &cli,
        &alice,
        secret,
        &[("totp", &code)],
        now,
    ));
    let sid = t.session_state.clone().unwrap();
    assert_eq!(h.store.session(&sid).amr, ["pwd", "otp", "mfa"]);

    // RFC 6238 §5.2: the same code (same step) is refused, even a step later.
    for at in [now, now + 20] {
        let (e, failure) = denied(login_with(
            &mut h,
            &cli,
            &alice,
            secret,
            &[("otp", &code)],
            at,
        ));
        assert!(e.description.unwrap().contains("already used"));
        assert!(failure);
    }
    // The next step's code works.
    let next = totp::code_at(TOTP, now + 30).unwrap();
    issued(login_with(
        &mut h,
        &cli,
        &alice,
        secret,
        &[("otp", &next)],
        now + 30,
    ));
    assert_eq!(h.store.sessions.len(), 2);
}

#[test]
fn password_totp_property_each_step_accepted_once() {
    let mut h = Harness::default();
    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, &[GrantType::Password]));
    let alice = h.user("alice");
    let mut rng = SeqRandom(9);
    let mut now = T0;
    for _ in 0..40 {
        now += 30 + i64::try_from(rng.below(600)).unwrap();
        let code = totp::code_at(TOTP, now).unwrap();
        let otp = [("otp", code.as_str())];
        let t = issued(login_with(&mut h, &cli, &alice, Some(TOTP), &otp, now));
        assert!(t.refresh_token.is_none());
        let (_, failure) = denied(login_with(&mut h, &cli, &alice, Some(TOTP), &otp, now));
        assert!(failure);
    }
}

#[test]
fn password_disabled_user_is_denied() {
    let mut h = Harness::default();
    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let bob = h.user("bob");
    let bob = h.edit_user(&bob.id, |u| u.disabled = true);
    let (e, failure) = denied(login_with(&mut h, &cli, &bob, None, &[], T0));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(!failure);
    assert!(h.store.sessions.is_empty() && h.store.access_tokens.is_empty());
}

#[test]
fn password_id_token_only_with_openid() {
    let mut h = Harness::default();
    let (cli, _) = h.client(cli_spec(TokenFormat::Jwt, PWD_REFRESH));
    let alice = h.user("alice");
    let now = T0 + 3;

    let t = issued(login_with(
        &mut h,
        &cli,
        &alice,
        None,
        &[("scope", "api:read")],
        now,
    ));
    assert_eq!(t.id_token, None);

    let scope = [("scope", "openid profile")];
    let t = issued(login_with(&mut h, &cli, &alice, None, &scope, now));
    let (header, c) = TestSigner::decode(t.id_token.as_deref().unwrap());
    assert_eq!(header["typ"], "JWT");
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["sub"], alice.id.as_str());
    assert_eq!(c["aud"], cli.id.as_str());
    assert_eq!(c["azp"], cli.id.as_str());
    assert_eq!(
        (c["iat"].as_i64(), c["exp"].as_i64()),
        (Some(now), Some(now + 3600))
    );
    assert_eq!(c["auth_time"], now);
    assert_eq!(c["sid"], t.session_state.as_deref().unwrap());
    assert_eq!(c["amr"], json!(["pwd"]));
    assert!(c.get("nonce").is_none());
    assert_eq!(c["at_hash"], at_hash(cli.signing_alg, &t.access_token));
    assert_eq!(c["preferred_username"], "alice");
    assert!(c.get("email").is_none(), "no email scope, no email claim");

    // The access token is about the user, in the session.
    let at = TestSigner::claims(&t.access_token);
    assert_eq!(at["sub"], alice.id.as_str());
    assert_eq!(at["sid"], t.session_state.as_deref().unwrap());
    assert_eq!(at["client_id"], cli.id.as_str());
}

#[test]
fn id_token_at_hash_follows_the_signing_alg_and_email_needs_its_scope() {
    // OIDC Core §3.1.3.6, and SHA-512 for Ed25519 (as OpenID's EdDSA note).
    for alg in [SigningAlg::Es256, SigningAlg::EdDsa] {
        let mut h = Harness::default();
        let (cli, _) = h.client(ClientSpec {
            signing_alg: Some(alg),
            ..cli_spec(TokenFormat::Opaque, PWD_REFRESH)
        });
        let alice = h.user("alice");
        let scope = [("scope", "openid email")];
        let t = issued(login_with(&mut h, &cli, &alice, None, &scope, T0));
        let (header, c) = TestSigner::decode(t.id_token.as_deref().unwrap());
        assert_eq!(header["alg"], alg.as_str());
        let at = t.access_token.as_bytes();
        let digest = match alg {
            SigningAlg::EdDsa => Sha512::digest(at).to_vec(),
            _ => Sha256::digest(at).to_vec(),
        };
        let half = URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]);
        assert_eq!(c["at_hash"], half, "{alg}");
        assert_eq!(c["email"], "alice@example.com");
        assert_eq!(c["email_verified"], false);
        assert!(c.get("preferred_username").is_none());
    }
}

#[test]
fn grant_type_parsing() {
    let e = super::parse_grant_type(None).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    for unknown in [
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "PASSWORD",
    ] {
        let e = super::parse_grant_type(Some(unknown)).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedGrantType);
    }
    for g in GrantType::ALL {
        assert_eq!(super::parse_grant_type(Some(g.as_str())), Ok(*g));
    }
}

#[test]
fn password_refresh_token_only_when_client_may_refresh() {
    let mut h = Harness::default();
    let (no_rt, _) = h.client(cli_spec(TokenFormat::Opaque, &[GrantType::Password]));
    let (with_rt, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let alice = h.user("alice");

    let t = login(&mut h, &no_rt, &alice, T0);
    assert_eq!((t.refresh_token, t.refresh_expires_in), (None, None));
    assert!(h.store.refresh_tokens.is_empty());

    let t = login(&mut h, &with_rt, &alice, T0);
    assert_eq!(t.refresh_expires_in, Some(86_400));
    let rec = &h.store.refresh_tokens[0];
    assert_eq!(rec.token_hash, hash_token(rt(&t)));
    assert_eq!(rec.session_id, t.session_state.unwrap());
    assert_eq!(
        (rec.client_id.as_str(), rec.parent_hash.as_deref()),
        (with_rt.id.as_str(), None)
    );
}

#[test]
fn refresh_token_never_outlives_its_session() {
    let mut h = Harness::new(TokenPolicy {
        session_max: 1_000,
        ..policy()
    });
    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let alice = h.user("alice");
    let t = login(&mut h, &cli, &alice, T0);
    assert_eq!(t.refresh_expires_in, Some(1_000));
    let t = issued(refresh(&mut h, &cli, rt(&t), None, T0 + 400));
    assert_eq!(t.refresh_expires_in, Some(600));
    let e = err(refresh(&mut h, &cli, rt(&t), None, T0 + 1_000));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
}

fn limited(max: u32, evict: bool) -> Harness {
    Harness::new(TokenPolicy {
        max_sessions_per_user: Some(max),
        evict_oldest_session: evict,
        ..policy()
    })
}

#[test]
fn session_limit_refuses_the_third_login() {
    let mut h = limited(2, false);
    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let alice = h.user("alice");
    let bob = h.user("bob");
    login(&mut h, &cli, &alice, T0);
    login(&mut h, &cli, &alice, T0 + 1);
    let (e, failure) = denied(login_with(&mut h, &cli, &alice, None, &[], T0 + 2));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(!failure);
    assert_eq!(h.store.sessions.len(), 2);
    assert!(h.store.sessions.iter().all(|s| s.revoked_at.is_none()));
    // Per user: bob is not affected.
    login(&mut h, &cli, &bob, T0 + 2);
    // Idle sessions do not count.
    login(&mut h, &cli, &alice, T0 + 1 + 3_600);
}

#[test]
fn session_limit_evicts_the_oldest_and_its_tokens() {
    let mut h = limited(2, true);
    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let alice = h.user("alice");
    let first = login(&mut h, &cli, &alice, T0);
    let second = login(&mut h, &cli, &alice, T0 + 1);
    let third = login(&mut h, &cli, &alice, T0 + 2);

    let s1 = first.session_state.clone().unwrap();
    assert_eq!(h.store.session(&s1).revoked_at, Some(T0 + 2));
    let (access, rts) = h.store.tokens_of_session(&s1);
    assert!(!access.is_empty() && !rts.is_empty());
    assert!(access.iter().all(|t| t.revoked_at == Some(T0 + 2)));
    assert!(rts.iter().all(|t| t.revoked_at == Some(T0 + 2)));
    for s in [second.session_state.unwrap(), third.session_state.unwrap()] {
        assert_eq!(h.store.session(&s).revoked_at, None);
        let (access, rts) = h.store.tokens_of_session(&s);
        assert!(access.iter().all(|t| t.revoked_at.is_none()));
        assert!(rts.iter().all(|t| t.revoked_at.is_none()));
    }
    let ended = h.store.events_of("session_ended");
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].session_id.as_deref(), Some(s1.as_str()));
    assert!(ended[0].detail.contains("session_limit"));
    // The evicted session's refresh token is dead.
    let e = err(refresh(&mut h, &cli, rt(&first), None, T0 + 3));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert_eq!(
        h.store.list_live_sessions(&alice.id, T0 + 3).unwrap().len(),
        2
    );
}

// ---------------------------------------------------------------- refresh_token

fn cli_and_login(format: TokenFormat) -> (Harness, Client, User, TokenResponse) {
    let mut h = Harness::default();
    let (cli, _) = h.client(cli_spec(format, PWD_REFRESH));
    let alice = h.user("alice");
    let t = login(&mut h, &cli, &alice, T0);
    (h, cli, alice, t)
}

#[test]
fn refresh_rotates() {
    let (mut h, cli, _, t0) = cli_and_login(TokenFormat::Opaque);
    let t1 = issued(refresh(&mut h, &cli, rt(&t0), None, T0 + 60));
    assert_ne!(rt(&t1), rt(&t0));
    assert_ne!(t1.access_token, t0.access_token);
    assert_eq!(t1.scope, t0.scope);
    assert_eq!(t1.session_state, t0.session_state);
    assert_eq!((t1.expires_in, t1.refresh_expires_in), (300, Some(86_400)));
    assert_eq!(t1.id_token, None);

    let old = h
        .store
        .get_refresh_token(&hash_token(rt(&t0)))
        .unwrap()
        .unwrap();
    assert_eq!(old.consumed_at, Some(T0 + 60));
    let new = h
        .store
        .get_refresh_token(&hash_token(rt(&t1)))
        .unwrap()
        .unwrap();
    assert_eq!(new.parent_hash, Some(old.token_hash));
    assert_eq!((new.issued_at, new.consumed_at), (T0 + 60, None));
    let sid = t0.session_state.unwrap();
    assert_eq!(h.store.session(&sid).last_used_at, T0 + 60);

    let t2 = issued(refresh(&mut h, &cli, rt(&t1), None, T0 + 120));
    assert_ne!(rt(&t2), rt(&t1));
}

#[test]
fn refresh_retry_within_grace_gives_the_same_tokens_opaque() {
    let (mut h, cli, _, t0) = cli_and_login(TokenFormat::Opaque);
    let t1 = issued(refresh(&mut h, &cli, rt(&t0), None, T0 + 60));
    let again = issued(refresh(&mut h, &cli, rt(&t0), None, T0 + 70));
    assert_eq!(again.refresh_token, t1.refresh_token);
    assert_eq!(again.access_token, t1.access_token);
    assert_eq!(again.expires_in, 290);
    assert_eq!(again.scope, t1.scope);
    // One successor, not two.
    assert_eq!(h.store.refresh_tokens.len(), 2);
    assert_eq!(h.store.access_tokens.len(), 2);
    assert!(h.store.events.is_empty());
}

#[test]
fn refresh_retry_within_grace_gives_the_same_jwt() {
    let (mut h, cli, _, t0) = cli_and_login(TokenFormat::Jwt);
    let t1 = issued(refresh(&mut h, &cli, rt(&t0), Some("api:read"), T0 + 60));
    let again = issued(refresh(&mut h, &cli, rt(&t0), None, T0 + 65));
    let (c1, c2) = (
        TestSigner::claims(&t1.access_token),
        TestSigner::claims(&again.access_token),
    );
    assert_eq!(c1["jti"], c2["jti"]);
    assert_eq!(c2["scope"], "api:read");
    assert_eq!(again.access_token, t1.access_token);
    assert_eq!(again.refresh_token, t1.refresh_token);
}

#[test]
fn refresh_reuse_after_grace_revokes_the_family() {
    let (mut h, cli, alice, t0) = cli_and_login(TokenFormat::Opaque);
    let sid = t0.session_state.clone().unwrap();
    let t1 = issued(refresh(&mut h, &cli, rt(&t0), None, T0 + 60));
    let (e, failure) = denied(refresh(&mut h, &cli, rt(&t0), None, T0 + 71));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(!failure);

    assert_eq!(h.store.session(&sid).revoked_at, Some(T0 + 71));
    let (access, refresh_tokens) = h.store.tokens_of_session(&sid);
    assert_eq!((access.len(), refresh_tokens.len()), (2, 2));
    assert!(access.iter().all(|t| t.revoked_at == Some(T0 + 71)));
    assert!(refresh_tokens.iter().all(|t| t.revoked_at == Some(T0 + 71)));

    let reuse = h.store.events_of("refresh_token_reuse");
    let [ev] = reuse.as_slice() else {
        panic!("one reuse event expected")
    };
    assert_eq!(ev.session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(ev.user_id.as_deref(), Some(alice.id.as_str()));
    assert_eq!(ev.client_id.as_deref(), Some(cli.id.as_str()));
    assert!(!ev.detail.contains(rt(&t0)) && !ev.detail.contains(rt(&t1)));
    assert_eq!(h.store.events_of("session_ended").len(), 1);

    // The successor dies with its family.
    let e = err(refresh(&mut h, &cli, rt(&t1), None, T0 + 72));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
}

#[test]
fn refresh_narrower_scope_keeps_the_full_scope_in_the_successor() {
    let (mut h, cli, _, t0) = cli_and_login(TokenFormat::Opaque);
    let full = "api:read api:write email openid profile";
    assert_eq!(t0.scope, full);
    let t1 = issued(refresh(&mut h, &cli, rt(&t0), Some("api:read"), T0 + 1));
    assert_eq!(t1.scope, "api:read");
    let at = h.store.access_tokens.last().unwrap();
    assert_eq!(at.scope.to_string(), "api:read");
    let succ = h
        .store
        .get_refresh_token(&hash_token(rt(&t1)))
        .unwrap()
        .unwrap();
    assert_eq!(succ.scope.to_string(), full);
    let t2 = issued(refresh(&mut h, &cli, rt(&t1), None, T0 + 2));
    assert_eq!(t2.scope, full);
}

#[test]
fn refresh_refusals_leave_the_token_usable() {
    let (mut h, cli, _, t0) = cli_and_login(TokenFormat::Opaque);
    let (other, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let (no_refresh, _) = h.client(cli_spec(TokenFormat::Opaque, &[GrantType::Password]));
    let code = |r: GrantResult| err(r).code;

    assert_eq!(
        code(refresh(
            &mut h,
            &cli,
            rt(&t0),
            Some("api:read admin"),
            T0 + 1
        )),
        ErrorCode::InvalidScope
    );
    assert_eq!(
        code(refresh(&mut h, &other, rt(&t0), None, T0 + 1)),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        code(refresh(&mut h, &no_refresh, rt(&t0), None, T0 + 1)),
        ErrorCode::UnauthorizedClient
    );
    assert_eq!(
        code(refresh(&mut h, &cli, "not-a-token", None, T0 + 1)),
        ErrorCode::InvalidGrant
    );
    let p = params(&[("grant_type", "refresh_token")]);
    let e = h.at(T0, |s, ctx, rng| {
        refresh_token::handle(s, ctx, rng, &cli, &p)
    });
    assert_eq!(err(e).code, ErrorCode::InvalidRequest);

    let hash = hash_token(rt(&t0));
    assert_eq!(
        h.store
            .get_refresh_token(&hash)
            .unwrap()
            .unwrap()
            .consumed_at,
        None
    );
    assert!(h.store.events.is_empty());
    issued(refresh(&mut h, &cli, rt(&t0), None, T0 + 2));
}

#[test]
fn refresh_expired_token_is_invalid_grant() {
    // An idle timeout longer than the refresh lifetime, so expiry is what bites.
    let mut h = Harness::new(TokenPolicy {
        session_idle: 10 * 86_400,
        ..policy()
    });
    let (cli, _) = h.client(cli_spec(TokenFormat::Opaque, PWD_REFRESH));
    let alice = h.user("alice");
    let a = login(&mut h, &cli, &alice, T0);
    let b = login(&mut h, &cli, &alice, T0);
    issued(refresh(&mut h, &cli, rt(&a), None, T0 + 86_399));
    let e = err(refresh(&mut h, &cli, rt(&b), None, T0 + 86_400));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(e.description.unwrap().contains("expired"));
}

#[test]
fn refresh_after_idle_timeout_is_invalid_grant() {
    let (mut h, cli, _, t0) = cli_and_login(TokenFormat::Opaque);
    // Each use restarts the idle clock.
    let t1 = issued(refresh(&mut h, &cli, rt(&t0), None, T0 + 3_599));
    let t2 = issued(refresh(&mut h, &cli, rt(&t1), None, T0 + 2 * 3_599));
    let e = err(refresh(&mut h, &cli, rt(&t2), None, T0 + 3 * 3_599 + 1));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(e.description.unwrap().contains("session"));
}

#[test]
fn refresh_for_a_disabled_user_is_invalid_grant() {
    let (mut h, cli, alice, t0) = cli_and_login(TokenFormat::Opaque);
    h.edit_user(&alice.id, |u| u.disabled = true);
    let e = err(refresh(&mut h, &cli, rt(&t0), None, T0 + 1));
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    h.edit_user(&alice.id, |u| u.disabled = false);
    issued(refresh(&mut h, &cli, rt(&t0), None, T0 + 2));
}

#[test]
fn refresh_chain_property() {
    // Random walks of rotations, each followed by a retry inside the grace
    // window (same tokens) and a check that the newest token is the only
    // unconsumed one of the family.
    for seed in 0..8 {
        let (mut h, cli, _, t0) = cli_and_login(TokenFormat::Opaque);
        let mut rng = SeqRandom(seed);
        let mut now = T0;
        let mut current = t0;
        for _ in 0..12 {
            // Rotations stay within the idle timeout even after the retry.
            now += 1 + i64::try_from(rng.below(3_580)).unwrap();
            let next = issued(refresh(&mut h, &cli, rt(&current), None, now));
            let retry_at = now + i64::try_from(rng.below(11)).unwrap();
            let again = issued(refresh(&mut h, &cli, rt(&current), None, retry_at));
            assert_eq!(
                (&again.access_token, &again.refresh_token),
                (&next.access_token, &next.refresh_token)
            );
            now = retry_at;
            current = next;
        }
        let unconsumed: Vec<_> = h
            .store
            .refresh_tokens
            .iter()
            .filter(|t| t.consumed_at.is_none())
            .collect();
        assert_eq!(unconsumed.len(), 1);
        assert_eq!(unconsumed[0].token_hash, hash_token(rt(&current)));
        assert_eq!(h.store.refresh_tokens.len(), 13);
        assert!(h.store.events.is_empty(), "seed {seed}");
    }
}

// ---------------------------------------------------------------- DPoP (RFC 9449)

#[test]
fn a_dpop_proof_binds_the_access_token() {
    let mut h = Harness::default();
    let (client, _) = h.client(service_spec(TokenFormat::Jwt));
    h.dpop_jkt = Some("jkt-1".into());
    let t = issued(cc(&mut h, &client, &[], T0));
    // §5: token_type DPoP; §6.1: cnf.jkt in the JWT.
    assert_eq!(t.token_type, "DPoP");
    let (_, claims) = TestSigner::decode(&t.access_token);
    assert_eq!(claims["cnf"], json!({"jkt": "jkt-1"}));
    // §7.2: not a bearer token.
    let jti = claims["jti"].as_str().unwrap();
    let r = crate::access::TokenRef::Jti(jti);
    assert!(crate::access::resolve(&mut h.store, r, T0 + 1)
        .unwrap()
        .is_some());
    let r = crate::access::TokenRef::Jti(jti);
    assert!(crate::access::resolve_bearer(&mut h.store, r, T0 + 1)
        .unwrap()
        .is_none());
    // Without a proof: a bearer token, no cnf.
    h.dpop_jkt = None;
    let t = issued(cc(&mut h, &client, &[], T0));
    assert_eq!(t.token_type, "Bearer");
    assert!(TestSigner::decode(&t.access_token).1.get("cnf").is_none());
}

#[test]
fn a_client_may_require_dpop() {
    let mut h = Harness::default();
    let mut spec = service_spec(TokenFormat::Opaque);
    spec.metadata = Some(json!({"dpop_bound_access_tokens": true}));
    let (client, _) = h.client(spec);
    let e = cc(&mut h, &client, &[], T0).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidDpopProof);
    h.dpop_jkt = Some("jkt-1".into());
    assert_eq!(issued(cc(&mut h, &client, &[], T0)).token_type, "DPoP");
}

#[test]
fn a_public_clients_refresh_token_is_bound_to_its_key() {
    let mut h = Harness::default();
    let mut spec = cli_spec(TokenFormat::Opaque, PWD_REFRESH);
    spec.auth_method = Some(ClientAuthMethod::None);
    let (cli, _) = h.client(spec);
    assert!(cli.is_public());
    let alice = h.user("alice");
    h.dpop_jkt = Some("jkt-1".into());
    let first = issued(login_with(&mut h, &cli, &alice, None, &[], T0));
    assert_eq!(first.token_type, "DPoP");
    let stored = h.store.get_refresh_token(&hash_token(rt(&first))).unwrap();
    assert_eq!(stored.unwrap().dpop_jkt.as_deref(), Some("jkt-1"));

    // §5: no proof, or another key: refused (nothing consumed).
    h.dpop_jkt = None;
    let e = refresh(&mut h, &cli, rt(&first), None, T0 + 1).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidDpopProof);
    h.dpop_jkt = Some("jkt-2".into());
    let e = refresh(&mut h, &cli, rt(&first), None, T0 + 1).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);

    // The same key: rotated, and the successor is bound too.
    h.dpop_jkt = Some("jkt-1".into());
    let next = issued(refresh(&mut h, &cli, rt(&first), None, T0 + 2));
    assert_eq!(next.token_type, "DPoP");
    let succ = h.store.get_refresh_token(&hash_token(rt(&next))).unwrap();
    assert_eq!(succ.unwrap().dpop_jkt.as_deref(), Some("jkt-1"));
    // A retry within the grace window gets the same DPoP-bound pair.
    let again = issued(refresh(&mut h, &cli, rt(&first), None, T0 + 3));
    assert_eq!(again.token_type, "DPoP");
    assert_eq!(again.access_token, next.access_token);
}

#[test]
fn a_confidential_clients_refresh_token_is_not_bound() {
    let mut h = Harness::default();
    let mut spec = cli_spec(TokenFormat::Opaque, PWD_REFRESH);
    spec.auth_method = Some(ClientAuthMethod::ClientSecretBasic);
    let (web, _) = h.client(spec);
    let alice = h.user("alice");
    h.dpop_jkt = Some("jkt-1".into());
    let first = issued(login_with(&mut h, &web, &alice, None, &[], T0));
    assert_eq!(first.token_type, "DPoP");
    // §5: already sender-constrained by client authentication.
    h.dpop_jkt = None;
    let next = issued(refresh(&mut h, &web, rt(&first), None, T0 + 1));
    assert_eq!(next.token_type, "Bearer");
}
