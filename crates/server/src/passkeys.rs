//! WebAuthn ceremonies (W3C Web Authentication Level 3) with `webauthn-rs`,
//! for the sign-in pages ([`crate::endpoints::signin`]) and the account
//! pages (`/account/passkeys`). Core decides names, limits and `amr`
//! ([`portcullis_core::passkeys`]); this module speaks the protocol.
//!
//! The relying party is the issuer: its host is the RP ID (§5.1.4: a
//! domain; an issuer on an IP address has no passkeys) and its origin the
//! only origin accepted. No state in process memory: a ceremony's state
//! rides in the form, with an expiry, MACed together with the form's CSRF
//! token (so with this browser) and, for the account pages and the second
//! factor, the user id; when the browser's answer is accepted the state is
//! spent in the store (`used_jtis`, the one-time identifiers), so each challenge is
//! answered once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use portcullis_core::model::{Passkey as StoredPasskey, User};
use portcullis_core::passkeys::{self, NewPasskey, PasskeyKind};
use portcullis_core::ports::{JtiStore, PasskeyStore, UserStore};
use portcullis_core::tokens::derive;
use portcullis_core::OAuthError;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, DiscoverableKey, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

use crate::state::AppState;

/// How long a ceremony's form stays valid.
pub const CEREMONY_SECS: i64 = 300;

/// What a ceremony is for (each has its own MAC label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A passkey alone, on a sign-in page (a discoverable credential).
    SignIn,
    /// A passkey after the password, on the second-factor page.
    SecondFactor,
    /// A new passkey, on `/account/passkeys`.
    Register,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::SignIn => "webauthn-sign-in",
            Purpose::SecondFactor => "webauthn-second-factor",
            Purpose::Register => "webauthn-register",
        }
    }
}

/// What a page needs to offer a ceremony: the options for
/// `navigator.credentials` (JSON, binary fields in base64url) and the
/// state to post back.
#[derive(Debug, Clone, Serialize)]
pub struct Offer {
    pub options: String,
    pub state: String,
}

/// The relying party of this issuer, or `None` when its host is not a
/// domain (an IP address cannot be an RP ID).
pub fn relying_party(state: &AppState) -> Option<Webauthn> {
    let issuer = Url::parse(state.issuer.as_str()).ok()?;
    let rp_id = issuer.domain()?.to_string();
    let origin = Url::parse(&issuer.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(&rp_id, &origin)
        .ok()?
        .rp_name("Portcullis")
        .build()
        .ok()
}

/// The WebAuthn user handle of `user_id`: 16 bytes derived from it, so no
/// name or e-mail address reaches the authenticator as the handle (§14.6.1).
fn user_handle(user_id: &str) -> Uuid {
    let digest = Sha256::digest(format!("portcullis-webauthn-user|{user_id}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

fn mac(key: &[u8], purpose: Purpose, payload: &str, csrf: &str) -> String {
    derive(key, purpose.label(), &format!("{payload}|{csrf}"))
}

/// `base64url(state JSON).exp.base64url(user id).mac`.
fn seal(key: &[u8], purpose: Purpose, csrf: &str, user_id: &str, json: &str, exp: i64) -> String {
    let payload = format!(
        "{}.{exp}.{}",
        URL_SAFE_NO_PAD.encode(json),
        URL_SAFE_NO_PAD.encode(user_id)
    );
    let m = mac(key, purpose, &payload, csrf);
    format!("{payload}.{m}")
}

/// A sealed state opened: the user id (empty for a sign-in), the state
/// JSON and its expiry.
struct Opened {
    user_id: String,
    json: String,
    exp: i64,
}

fn open(key: &[u8], purpose: Purpose, csrf: &str, token: &str, now: i64) -> Option<Opened> {
    let (payload, m) = token.rsplit_once('.')?;
    let expected = mac(key, purpose, payload, csrf);
    if !bool::from(expected.as_bytes().ct_eq(m.as_bytes())) {
        return None;
    }
    let mut parts = payload.split('.');
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
    let exp: i64 = parts.next()?.parse().ok()?;
    let user_id = String::from_utf8(URL_SAFE_NO_PAD.decode(parts.next()?).ok()?).ok()?;
    (exp > now).then_some(Opened { user_id, json, exp })
}

fn offer(
    state: &AppState,
    purpose: Purpose,
    csrf: &str,
    user_id: &str,
    options: serde_json::Value,
    ceremony: &impl Serialize,
    now: i64,
) -> Option<Offer> {
    let json = serde_json::to_string(ceremony).ok()?;
    Some(Offer {
        options: options.to_string(),
        state: seal(
            &state.derive_key,
            purpose,
            csrf,
            user_id,
            &json,
            now + CEREMONY_SECS,
        ),
    })
}

/// A sign-in with a passkey alone: a discoverable credential, user
/// verification required. `None` without a relying party.
pub fn offer_sign_in(state: &AppState, csrf: &str, now: i64) -> Option<Offer> {
    let rp = relying_party(state)?;
    let (rcr, ceremony) = rp.start_discoverable_authentication().ok()?;
    let mut options = serde_json::to_value(&rcr).ok()?;
    // A button, not the autofill ("conditional") mediation webauthn-rs sets.
    if let Some(o) = options.as_object_mut() {
        o.remove("mediation");
    }
    offer(state, Purpose::SignIn, csrf, "", options, &ceremony, now)
}

fn parse_credentials(keys: &[StoredPasskey]) -> Vec<Passkey> {
    keys.iter()
        .filter_map(|k| serde_json::from_str(&k.credential).ok())
        .collect()
}

/// The second factor with one of `user`'s `keys`. `None` without a relying
/// party or keys.
pub fn offer_second_factor(
    state: &AppState,
    csrf: &str,
    user: &User,
    keys: &[StoredPasskey],
    now: i64,
) -> Option<Offer> {
    let rp = relying_party(state)?;
    let creds = parse_credentials(keys);
    if creds.is_empty() {
        return None;
    }
    let (rcr, ceremony) = rp.start_passkey_authentication(&creds).ok()?;
    let options = serde_json::to_value(&rcr).ok()?;
    offer(
        state,
        Purpose::SecondFactor,
        csrf,
        &user.id,
        options,
        &ceremony,
        now,
    )
}

/// Registering a new passkey for `user`, who has `keys` already (the
/// authenticator refuses to make a second one of the same).
pub fn offer_registration(
    state: &AppState,
    csrf: &str,
    user: &User,
    keys: &[StoredPasskey],
    now: i64,
) -> Option<Offer> {
    let rp = relying_party(state)?;
    let exclude = parse_credentials(keys)
        .iter()
        .map(|k| k.cred_id().clone())
        .collect();
    let (ccr, ceremony) = rp
        .start_passkey_registration(
            user_handle(&user.id),
            &user.username,
            &user.username,
            Some(exclude),
        )
        .ok()?;
    let mut options = serde_json::to_value(&ccr).ok()?;
    // A passkey should be able to sign in alone: ask for a discoverable
    // credential where the authenticator can keep one (§5.4.6).
    if let Some(sel) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(|s| s.as_object_mut())
    {
        sel.insert("residentKey".into(), "preferred".into());
    }
    offer(
        state,
        Purpose::Register,
        csrf,
        &user.id,
        options,
        &ceremony,
        now,
    )
}

/// Why a ceremony's answer was refused (the page shows it).
pub const REFUSED: &str = "That passkey was not accepted. Try again.";
/// The form came without an answer: scripts are off.
pub const NEEDS_SCRIPT: &str = "Passkeys need JavaScript in this browser.";

/// A registration answered: checked, ready to store, its state spent.
pub fn finish_registration(
    state: &AppState,
    tx: &mut (impl PasskeyStore + JtiStore),
    csrf: &str,
    sealed: &str,
    response: &str,
    user_id: &str,
    now: i64,
) -> Result<Result<NewPasskey, &'static str>, OAuthError> {
    if response.is_empty() {
        return Ok(Err(NEEDS_SCRIPT));
    }
    let Some(rp) = relying_party(state) else {
        return Ok(Err(REFUSED));
    };
    let Some(opened) = open(&state.derive_key, Purpose::Register, csrf, sealed, now) else {
        return Ok(Err(REFUSED));
    };
    if opened.user_id != user_id {
        return Ok(Err(REFUSED));
    }
    let (Ok(ceremony), Ok(reg), Ok(raw)) = (
        serde_json::from_str::<PasskeyRegistration>(&opened.json),
        serde_json::from_str::<RegisterPublicKeyCredential>(response),
        serde_json::from_str::<serde_json::Value>(response),
    ) else {
        return Ok(Err(REFUSED));
    };
    let Ok(key) = rp.finish_passkey_registration(&reg, &ceremony) else {
        return Ok(Err(REFUSED));
    };
    if !passkeys::spend_challenge(tx, sealed, opened.exp, now)? {
        return Ok(Err(REFUSED));
    }
    let transports: Vec<String> = raw
        .pointer("/response/transports")
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let attachment = raw.get("authenticatorAttachment").and_then(|a| a.as_str());
    let credential =
        serde_json::to_string(&key).map_err(|e| OAuthError::server(format!("passkey: {e}")))?;
    Ok(Ok(NewPasskey {
        credential_id: URL_SAFE_NO_PAD.encode(key.cred_id()),
        credential,
        kind: PasskeyKind::classify(attachment, &transports),
    }))
}

/// A sign-in ceremony's answer checked: the user it signs in (enabled) and
/// the kind of key, or why not. `pending`: for [`Purpose::SecondFactor`],
/// the user the password step vouched for.
pub fn finish_assertion(
    state: &AppState,
    tx: &mut (impl PasskeyStore + UserStore + JtiStore),
    purpose: Purpose,
    csrf: &str,
    sealed: &str,
    response: &str,
    pending: Option<&str>,
    now: i64,
) -> Result<Result<(User, PasskeyKind), &'static str>, OAuthError> {
    if response.is_empty() {
        return Ok(Err(NEEDS_SCRIPT));
    }
    let Some(rp) = relying_party(state) else {
        return Ok(Err(REFUSED));
    };
    let Some(opened) = open(&state.derive_key, purpose, csrf, sealed, now) else {
        return Ok(Err(REFUSED));
    };
    if purpose == Purpose::SecondFactor && Some(opened.user_id.as_str()) != pending {
        return Ok(Err(REFUSED));
    }
    let Ok(answer) = serde_json::from_str::<PublicKeyCredential>(response) else {
        return Ok(Err(REFUSED));
    };
    let credential_id = URL_SAFE_NO_PAD.encode(answer.get_credential_id());
    let Some(stored) = tx.get_passkey_by_credential_id(&credential_id)? else {
        return Ok(Err(REFUSED));
    };
    if purpose == Purpose::SecondFactor && Some(stored.user_id.as_str()) != pending {
        return Ok(Err(REFUSED));
    }
    let Ok(mut key) = serde_json::from_str::<Passkey>(&stored.credential) else {
        return Ok(Err(REFUSED));
    };
    let result = match purpose {
        Purpose::SignIn => serde_json::from_str::<DiscoverableAuthentication>(&opened.json)
            .ok()
            .and_then(|c| {
                rp.finish_discoverable_authentication(&answer, c, &[DiscoverableKey::from(&key)])
                    .ok()
            }),
        Purpose::SecondFactor => serde_json::from_str::<PasskeyAuthentication>(&opened.json)
            .ok()
            .and_then(|c| rp.finish_passkey_authentication(&answer, &c).ok()),
        Purpose::Register => None,
    };
    let Some(result) = result else {
        return Ok(Err(REFUSED));
    };
    if !result.user_verified() || !passkeys::spend_challenge(tx, sealed, opened.exp, now)? {
        return Ok(Err(REFUSED));
    }
    let user = match tx.get_user(&stored.user_id)? {
        Some(u) if !u.disabled => u,
        _ => return Ok(Err(REFUSED)),
    };
    key.update_credential(&result);
    let credential =
        serde_json::to_string(&key).map_err(|e| OAuthError::server(format!("passkey: {e}")))?;
    tx.record_passkey_use(&stored.id, &credential, now)?;
    Ok(Ok((user, stored.kind)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_state_opens_only_for_its_purpose_browser_and_time() {
        let key = b"a key of the server";
        let token = seal(key, Purpose::Register, "csrf-1", "u1", "{\"s\":1}", 100);
        let opened = open(key, Purpose::Register, "csrf-1", &token, 99).unwrap();
        assert_eq!(
            (opened.user_id.as_str(), opened.json.as_str(), opened.exp),
            ("u1", "{\"s\":1}", 100)
        );
        assert!(open(key, Purpose::Register, "csrf-1", &token, 100).is_none());
        assert!(open(key, Purpose::Register, "csrf-2", &token, 99).is_none());
        assert!(open(key, Purpose::SignIn, "csrf-1", &token, 99).is_none());
        assert!(open(b"another key", Purpose::Register, "csrf-1", &token, 99).is_none());
        // Another user, or a later expiry, under the same MAC: refused.
        let (payload, m) = token.rsplit_once('.').unwrap();
        for forged in [
            payload.replace(&URL_SAFE_NO_PAD.encode("u1"), &URL_SAFE_NO_PAD.encode("u2")),
            payload.replace(".100.", ".999."),
        ] {
            assert!(open(
                key,
                Purpose::Register,
                "csrf-1",
                &format!("{forged}.{m}"),
                99
            )
            .is_none());
        }
        assert!(open(key, Purpose::Register, "csrf-1", "garbage", 99).is_none());
    }

    #[test]
    fn user_handles_are_fixed_per_user_and_differ() {
        assert_eq!(user_handle("u1"), user_handle("u1"));
        assert_ne!(user_handle("u1"), user_handle("u2"));
    }
}
