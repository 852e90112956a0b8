//! The device authorization grant (RFC 8628). A device without a browser
//! asks for a device code and a user code at the device authorization
//! endpoint ([`start`], RFC 8628 §3.1-3.2); the person types the user code
//! on the verification page of another device, signs in and approves or
//! denies ([`pending`], [`decide`], §3.3); meanwhile the device polls the
//! token endpoint with the device code ([`handle`], §3.4-3.5) and gets its
//! tokens once, after approval.
//!
//! Both codes are stored only as hashes. The device code is a 256-bit
//! random value; the user code is short (8 characters of 20, about 34 bits)
//! but lives minutes, and guessing it on the verification page is throttled
//! per client address (§5.1).

use serde::Serialize;
use serde_json::json;

use crate::authorize::check_resources;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, DeviceCode, GrantType, SessionKind};
use crate::params::Params;
use crate::ports::{
    AuditStore, DeviceCodeStore, Random, SessionStore, StoreError, ThrottleStore, TokenStore,
    UserStore,
};
use crate::secret::{hash_token, random_token};
use crate::sessions::audit;
use crate::throttle::{user_code_key, ThrottlePolicy};
use crate::tokens::{invalid_grant, requested_scope, Ctx, GrantResult, Outcome};

/// The device authorization endpoint, relative to the issuer.
pub const DEVICE_AUTHORIZATION_PATH: &str = "/oauth/device_authorization";
/// The verification page, relative to the issuer (RFC 8628 §3.2
/// `verification_uri`).
pub const VERIFICATION_PATH: &str = "/device";

/// RFC 8628 §6.1: user codes from an alphabet without vowels (no words)
/// and without look-alikes, case-insensitive: 20 consonants.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code: 20^8, about 2^34.5 (RFC 8628 §6.1's example).
pub const USER_CODE_LEN: usize = 8;
/// RFC 8628 §3.5: on `slow_down` "the interval MUST be increased by 5
/// seconds for this and all subsequent requests".
pub const SLOW_DOWN_STEP: i64 = 5;

/// Lifetimes, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevicePolicy {
    /// `expires_in` of a device code.
    pub lifetime: i64,
    /// The initial polling `interval`.
    pub interval: i64,
}

/// The device authorization response (RFC 8628 §3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A fresh user code: [`USER_CODE_LEN`] characters of the alphabet, drawn
/// without bias (bytes of 240 and above are drawn again).
fn random_user_code(rng: &mut dyn Random) -> String {
    let mut out = String::with_capacity(USER_CODE_LEN);
    let mut buf = [0u8; 16];
    while out.len() < USER_CODE_LEN {
        rng.fill(&mut buf);
        for b in buf {
            if out.len() < USER_CODE_LEN && b < 240 {
                let i = usize::from(b) % USER_CODE_ALPHABET.len();
                out.push(char::from(USER_CODE_ALPHABET[i]));
            }
        }
    }
    out
}

/// `XXXX-XXXX`: how a user code is shown (RFC 8628 §6.1: dashes help
/// reading and are ignored when typed back).
pub fn format_user_code(code: &str) -> String {
    let (a, b) = code.split_at(code.len() / 2);
    format!("{a}-{b}")
}

/// A typed user code in its stored form: case-insensitive, dashes and
/// spaces ignored (RFC 8628 §6.1); `None` when it cannot be one.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid =
        code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    valid.then_some(code)
}

/// RFC 8628 §3.1-3.2: the client (already authenticated as at the token
/// endpoint) asks for a device code; `scope` and `resource` are checked as
/// for an authorization request.
pub fn start(
    tx: &mut impl DeviceCodeStore,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    params: &Params,
    policy: &DevicePolicy,
) -> Result<DeviceAuthorization, OAuthError> {
    super::require_grant(client, GrantType::DeviceCode)?;
    let scope = requested_scope(params.get("scope"), &client.scope)?;
    let resource = check_resources(&ctx.policy.resources, client, params, &scope)?;
    let device_code = random_token(rng, 32);
    // A user code already in use (1 in 2^34 per live code) draws again.
    for _ in 0..4 {
        let user_code = random_user_code(rng);
        let record = DeviceCode {
            device_code_hash: hash_token(&device_code),
            user_code_hash: hash_token(&user_code),
            client_id: client.id.clone(),
            scope: scope.clone(),
            resource: resource.clone(),
            interval: policy.interval,
            created_at: ctx.now,
            expires_at: ctx.now + policy.lifetime,
            last_polled_at: None,
            user_id: None,
            auth_time: None,
            amr: Vec::new(),
            approved_at: None,
            denied_at: None,
            consumed_at: None,
        };
        match tx.insert_device_code(&record) {
            Ok(()) => {
                let shown = format_user_code(&user_code);
                let verification_uri = ctx.issuer.endpoint(VERIFICATION_PATH);
                return Ok(DeviceAuthorization {
                    device_code,
                    verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
                    verification_uri,
                    user_code: shown,
                    expires_in: policy.lifetime,
                    interval: policy.interval,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::server("no free user code after 4 draws"))
}

/// The device authorization a typed user code names, if it still waits for
/// an answer at `now`. `None` for a malformed, unknown, expired or already
/// answered code (the page treats them all as a wrong guess).
pub fn pending(
    tx: &mut impl DeviceCodeStore,
    typed: &str,
    now: i64,
) -> Result<Option<DeviceCode>, OAuthError> {
    let Some(code) = normalize_user_code(typed) else {
        return Ok(None);
    };
    let found = tx.get_device_code_by_user_code(&hash_token(&code))?;
    Ok(found.filter(|d| {
        d.approved_at.is_none()
            && d.denied_at.is_none()
            && d.consumed_at.is_none()
            && d.expires_at > now
    }))
}

/// What the verification page found for a typed user code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Box<DeviceCode>),
    /// Malformed, unknown, expired or answered: counted as a wrong guess.
    Unknown,
    /// Too many wrong guesses from this client address: seconds to wait.
    Blocked(i64),
}

/// [`pending`], throttled per client address `addr` (RFC 8628 §5.1: the
/// user code's entropy holds only if guessing is rate-limited). A blocked
/// address is refused before the lookup; a miss counts as a failure, with
/// the login throttle's limits.
pub fn lookup(
    tx: &mut (impl DeviceCodeStore + ThrottleStore),
    policy: &ThrottlePolicy,
    addr: &str,
    typed: &str,
    now: i64,
) -> Result<Lookup, OAuthError> {
    let key = user_code_key(addr);
    let on = policy.max_failures > 0;
    if on {
        if let Some(secs) = tx.blocked_for(&key, now)? {
            return Ok(Lookup::Blocked(secs));
        }
    }
    match pending(tx, typed, now)? {
        Some(code) => Ok(Lookup::Found(Box::new(code))),
        None => {
            if on {
                tx.record_failure(&key, now, policy.window, policy.max_failures, policy.block)?;
            }
            Ok(Lookup::Unknown)
        }
    }
}

/// The person's answer (RFC 8628 §3.3): `approval` is their sign-in
/// (`auth_time`, `amr`) to approve, `None` to deny. `false` when the code
/// was answered meanwhile or expired.
pub fn decide(
    tx: &mut (impl DeviceCodeStore + AuditStore),
    rng: &mut dyn Random,
    code: &DeviceCode,
    user_id: &str,
    approval: Option<(i64, &[String])>,
    now: i64,
) -> Result<bool, OAuthError> {
    let approve = approval.is_some();
    if !tx.decide_device_code(&code.device_code_hash, user_id, approval, now)? {
        return Ok(false);
    }
    let kind = if approve {
        "device_code_approved"
    } else {
        "device_code_denied"
    };
    audit(
        tx,
        rng,
        now,
        kind,
        Some(user_id),
        Some(&code.client_id),
        None,
        json!({ "scope": code.scope.to_string() }),
    )?;
    Ok(true)
}

fn refused(code: ErrorCode, msg: &str) -> GrantResult {
    Ok(Outcome::Denied {
        error: OAuthError::with(code, msg),
        login_failure: false,
    })
}

/// The token endpoint's `urn:ietf:params:oauth:grant-type:device_code`
/// (RFC 8628 §3.4-3.5).
pub fn handle<T>(
    tx: &mut T,
    ctx: &Ctx,
    rng: &mut dyn Random,
    client: &Client,
    params: &Params,
) -> GrantResult
where
    T: DeviceCodeStore + UserStore + SessionStore + TokenStore + AuditStore,
{
    super::require_grant(client, GrantType::DeviceCode)?;
    let hash = hash_token(params.require("device_code")?);
    let Some(record) = tx.get_device_code(&hash)? else {
        return Err(invalid_grant("unknown device_code"));
    };
    // RFC 8628 §3.4: the device code was issued to this client.
    if record.client_id != client.id {
        return Err(invalid_grant("device_code was issued to another client"));
    }
    if record.consumed_at.is_some() {
        return Err(invalid_grant("device_code was already used"));
    }
    // RFC 8628 §3.5: expired_token once the device code has expired.
    if record.expires_at <= ctx.now {
        return Err(OAuthError::with(
            ErrorCode::ExpiredToken,
            "the device code has expired: start again",
        ));
    }
    if record.denied_at.is_some() {
        return Err(OAuthError::with(
            ErrorCode::AccessDenied,
            "the user denied the request",
        ));
    }
    let Some(user_id) = record
        .user_id
        .clone()
        .filter(|_| record.approved_at.is_some())
    else {
        // RFC 8628 §3.5: still waiting. Polling again before the interval
        // has passed is slow_down, and the interval grows by 5 seconds.
        let too_soon = record
            .last_polled_at
            .is_some_and(|last| ctx.now - last < record.interval);
        let interval = record.interval + if too_soon { SLOW_DOWN_STEP } else { 0 };
        tx.record_device_poll(&hash, ctx.now, interval)?;
        return if too_soon {
            refused(
                ErrorCode::SlowDown,
                &format!("polling too fast: wait {interval} seconds between requests"),
            )
        } else {
            refused(
                ErrorCode::AuthorizationPending,
                "the user has not answered yet",
            )
        };
    };
    // Approved: tokens once (single use decided by the store).
    if !tx.consume_device_code(&hash, ctx.now)? {
        return Err(invalid_grant("device_code was already used"));
    }
    let approval = super::Approval {
        user_id: &user_id,
        auth_time: record.auth_time.unwrap_or(record.created_at),
        amr: &record.amr,
        scope: &record.scope,
        resource: &record.resource,
        nonce: None,
        kind: SessionKind::Device,
        // The device itself polls for the tokens: its own User-Agent.
        user_agent: ctx.user_agent,
    };
    super::issue_approved(tx, ctx, rng, client, params, &approval, |_, _| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ClientSpec;
    use crate::model::{ClientAuthMethod, Scopes, User};
    use crate::testing::*;

    const POLICY: DevicePolicy = DevicePolicy {
        lifetime: 600,
        interval: 5,
    };

    fn device_client(h: &mut Harness, grants: &[GrantType]) -> Client {
        h.client(ClientSpec {
            name: "TV".into(),
            grant_types: Some(grants.to_vec()),
            scope: Some(Scopes::parse("openid profile offline_access api").unwrap()),
            auth_method: Some(ClientAuthMethod::None),
            ..Default::default()
        })
        .0
    }

    fn setup() -> (Harness, Client, User) {
        let mut h = Harness::default();
        let c = device_client(&mut h, &[GrantType::DeviceCode]);
        let u = h.user("alice");
        (h, c, u)
    }

    fn begin(h: &mut Harness, c: &Client, scope: &str) -> DeviceAuthorization {
        let p = params(&[("scope", scope)]);
        h.at(T0, |s, ctx, rng| start(s, ctx, rng, c, &p, &POLICY))
            .unwrap()
    }

    fn poll(h: &mut Harness, c: &Client, device_code: &str, now: i64) -> GrantResult {
        let p = params(&[
            ("grant_type", GrantType::DeviceCode.as_str()),
            ("device_code", device_code),
        ]);
        h.at(now, |s, ctx, rng| handle(s, ctx, rng, c, &p))
    }

    fn answer(h: &mut Harness, user_code: &str, u: &User, approve: bool, now: i64) -> bool {
        let code = pending(&mut h.store, user_code, now)
            .unwrap()
            .expect("a pending code");
        let amr = vec!["pwd".to_string()];
        let approval = approve.then_some((now - 10, amr.as_slice()));
        decide(&mut h.store, &mut h.rng, &code, &u.id, approval, now).unwrap()
    }

    #[test]
    fn response_and_user_code_shape() {
        let (mut h, c, _) = setup();
        let d = begin(&mut h, &c, "openid api");
        assert_eq!(d.expires_in, 600);
        assert_eq!(d.interval, 5);
        assert_eq!(d.verification_uri, format!("{ISSUER}/device"));
        assert_eq!(
            d.verification_uri_complete,
            format!("{ISSUER}/device?user_code={}", d.user_code)
        );
        assert_eq!(d.user_code.len(), 9);
        assert_eq!(&d.user_code[4..5], "-");
        let stored = &h.store.device_codes[0];
        assert_eq!(stored.device_code_hash, hash_token(&d.device_code));
        let bare = d.user_code.replace('-', "");
        assert_eq!(stored.user_code_hash, hash_token(&bare));
        assert!(bare.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
        // Typed back in any case, with or without dashes and spaces.
        let lower = format!(" {} ", d.user_code.to_lowercase().replace('-', " "));
        assert_eq!(normalize_user_code(&lower).as_deref(), Some(bare.as_str()));
        assert!(normalize_user_code("BCDF-GHJ").is_none());
        assert!(
            normalize_user_code("ABCD-EFGH").is_none(),
            "vowels are not in the alphabet"
        );
    }

    #[test]
    fn scope_resource_and_grant_are_checked() {
        let (mut h, c, _) = setup();
        let p = params(&[("scope", "admin")]);
        let e = h
            .at(T0, |s, ctx, rng| start(s, ctx, rng, &c, &p, &POLICY))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
        let p = params(&[("resource", "https://api.example/#frag")]);
        let e = h
            .at(T0, |s, ctx, rng| start(s, ctx, rng, &c, &p, &POLICY))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidTarget);
        let other = device_client(&mut h, &[GrantType::RefreshToken]);
        let e = h
            .at(T0, |s, ctx, rng| {
                start(s, ctx, rng, &other, &params(&[]), &POLICY)
            })
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnauthorizedClient);
        assert!(h.store.device_codes.is_empty());
    }

    #[test]
    fn pending_then_slow_down_raises_the_interval() {
        let (mut h, c, _) = setup();
        let d = begin(&mut h, &c, "openid");
        let (e, _) = denied(poll(&mut h, &c, &d.device_code, T0 + 5));
        assert_eq!(e.code, ErrorCode::AuthorizationPending);
        // 2 s later: too fast.
        let (e, _) = denied(poll(&mut h, &c, &d.device_code, T0 + 7));
        assert_eq!(e.code, ErrorCode::SlowDown);
        assert_eq!(h.store.device_codes[0].interval, 10);
        // 6 s after that is still too fast now (interval 10), and grows again.
        let (e, _) = denied(poll(&mut h, &c, &d.device_code, T0 + 13));
        assert_eq!(e.code, ErrorCode::SlowDown);
        assert_eq!(h.store.device_codes[0].interval, 15);
        // Waiting the interval is pending again, without growth.
        let (e, _) = denied(poll(&mut h, &c, &d.device_code, T0 + 28));
        assert_eq!(e.code, ErrorCode::AuthorizationPending);
        assert_eq!(h.store.device_codes[0].interval, 15);
    }

    #[test]
    fn approved_gives_tokens_exactly_once() {
        let (mut h, c, u) = setup();
        let d = begin(&mut h, &c, "openid offline_access");
        assert!(answer(&mut h, &d.user_code, &u, true, T0 + 20));
        // Answered: the user code no longer finds anything; a second answer fails.
        assert!(pending(&mut h.store, &d.user_code, T0 + 21)
            .unwrap()
            .is_none());
        let code = h.store.device_codes[0].clone();
        assert!(!decide(&mut h.store, &mut h.rng, &code, &u.id, None, T0 + 21).unwrap());
        // The device polls: its session is shown as the device's software.
        h.user_agent = Some("tv-box/2.0".into());
        let t = issued(poll(&mut h, &c, &d.device_code, T0 + 30));
        assert_eq!(
            h.store.sessions[0].user_agent.as_deref(),
            Some("tv-box/2.0")
        );
        assert_eq!(t.scope, "offline_access openid");
        assert!(t.refresh_token.is_some(), "offline_access");
        let id = TestSigner::claims(t.id_token.as_deref().expect("id_token for openid"));
        assert_eq!(id["sub"], u.id.as_str());
        assert_eq!(id["auth_time"], T0 + 10);
        assert_eq!(h.store.sessions[0].kind, SessionKind::Device);
        assert_eq!(h.store.events_of("device_code_approved").len(), 1);
        // A second exchange is refused.
        let e = err(poll(&mut h, &c, &d.device_code, T0 + 40));
        assert_eq!(e.code, ErrorCode::InvalidGrant);
        assert_eq!(h.store.access_tokens.len(), 1);
    }

    #[test]
    fn guessing_user_codes_is_throttled_per_address() {
        let (mut h, c, _) = setup();
        let d = begin(&mut h, &c, "openid");
        let p = ThrottlePolicy {
            max_failures: 3,
            window: 60,
            block: 300,
        };
        for typed in ["BBBB-BBBB", "nonsense", "CCCC-CCCC"] {
            let found = lookup(&mut h.store, &p, "192.0.2.1", typed, T0 + 1).unwrap();
            assert_eq!(found, Lookup::Unknown, "{typed}");
        }
        // Blocked now, even for the right code; another address is not.
        let blocked = lookup(&mut h.store, &p, "192.0.2.1", &d.user_code, T0 + 2).unwrap();
        assert_eq!(blocked, Lookup::Blocked(299));
        let other = lookup(&mut h.store, &p, "192.0.2.2", &d.user_code, T0 + 2).unwrap();
        assert!(matches!(other, Lookup::Found(ref f) if f.client_id == c.id));
        let later = lookup(&mut h.store, &p, "192.0.2.1", &d.user_code, T0 + 302).unwrap();
        assert!(matches!(later, Lookup::Found(_)));
        // Throttling off: never blocked.
        let off = ThrottlePolicy {
            max_failures: 0,
            ..p
        };
        for _ in 0..5 {
            let found = lookup(&mut h.store, &off, "192.0.2.3", "BBBB-BBBB", T0 + 3).unwrap();
            assert_eq!(found, Lookup::Unknown);
        }
    }

    #[test]
    fn denied_expired_and_foreign_codes() {
        let (mut h, c, u) = setup();
        let d = begin(&mut h, &c, "openid");
        assert!(answer(&mut h, &d.user_code, &u, false, T0 + 20));
        let e = err(poll(&mut h, &c, &d.device_code, T0 + 30));
        assert_eq!(e.code, ErrorCode::AccessDenied);
        assert_eq!(h.store.events_of("device_code_denied").len(), 1);

        let d = begin(&mut h, &c, "openid");
        // Past expiry the page finds nothing and the token endpoint says expired_token.
        assert!(pending(&mut h.store, &d.user_code, T0 + 600)
            .unwrap()
            .is_none());
        let e = err(poll(&mut h, &c, &d.device_code, T0 + 600));
        assert_eq!(e.code, ErrorCode::ExpiredToken);

        // Another client's device code, or an unknown one: invalid_grant.
        let d = begin(&mut h, &c, "openid");
        let other = device_client(&mut h, &[GrantType::DeviceCode]);
        let e = err(poll(&mut h, &other, &d.device_code, T0 + 10));
        assert_eq!(e.code, ErrorCode::InvalidGrant);
        let e = err(poll(&mut h, &c, "nope", T0 + 10));
        assert_eq!(e.code, ErrorCode::InvalidGrant);
        // An approval cannot land after expiry.
        let code = pending(&mut h.store, &d.user_code, T0 + 10)
            .unwrap()
            .unwrap();
        let amr: Vec<String> = vec![];
        let late = decide(
            &mut h.store,
            &mut h.rng,
            &code,
            &u.id,
            Some((T0, &amr)),
            T0 + 600,
        );
        assert!(!late.unwrap());
    }
}
