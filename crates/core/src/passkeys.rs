//! Passkeys (WebAuthn credentials, W3C Web Authentication Level 3) as core
//! sees them: which `amr` a sign-in with one yields, the rules for names
//! and how many a user may have, and the single use of a challenge. The
//! ceremony itself (CBOR, signatures, origins) is the server's relying-party
//! library; core keeps its credential record as opaque JSON.
//!
//! `amr` (RFC 8176 §2): `hwk` for a key held in separate hardware (a
//! security key: the browser said the authenticator is `cross-platform`,
//! or, when it did not say, every transport it named is `usb`, `nfc` or
//! `ble`), `swk` for everything else (the device's own authenticator or a
//! synced passkey: `platform`, `internal`, `hybrid`). Every passkey
//! ceremony here requires user verification (a PIN or biometric on the
//! authenticator), so a passkey alone is two factors: `[hwk|swk, mfa]`;
//! after a password it is `[pwd, hwk|swk, mfa]`.

use std::fmt;
use std::str::FromStr;

use crate::error::OAuthError;
use crate::model::{Passkey, User};
use crate::ports::{JtiStore, PasskeyStore, Random};
use crate::secret::{hash_token, random_token};

/// How many passkeys one user may register.
pub const MAX_PASSKEYS: usize = 20;
/// The longest name of a passkey, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Where a passkey's private key lives, as RFC 8176 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyKind {
    /// `hwk`: a separate hardware key.
    Hardware,
    /// `swk`: a platform or synced key.
    Software,
}

impl PasskeyKind {
    /// The rule of the module documentation, from the registration
    /// response's `authenticatorAttachment` and `transports`.
    pub fn classify(attachment: Option<&str>, transports: &[String]) -> PasskeyKind {
        match attachment {
            Some("cross-platform") => PasskeyKind::Hardware,
            Some(_) => PasskeyKind::Software,
            None if !transports.is_empty()
                && transports
                    .iter()
                    .all(|t| matches!(t.as_str(), "usb" | "nfc" | "ble")) =>
            {
                PasskeyKind::Hardware
            }
            None => PasskeyKind::Software,
        }
    }

    /// The RFC 8176 method name.
    pub fn amr(self) -> &'static str {
        match self {
            PasskeyKind::Hardware => "hwk",
            PasskeyKind::Software => "swk",
        }
    }

    /// What the account pages call it.
    pub fn describe(self) -> &'static str {
        match self {
            PasskeyKind::Hardware => "Security key",
            PasskeyKind::Software => "Passkey",
        }
    }
}

impl fmt::Display for PasskeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.amr())
    }
}

impl FromStr for PasskeyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hwk" => Ok(PasskeyKind::Hardware),
            "swk" => Ok(PasskeyKind::Software),
            other => Err(format!("unknown passkey kind {other:?}")),
        }
    }
}

/// `amr` of a sign-in with a passkey alone (user verification required).
pub fn amr_alone(kind: PasskeyKind) -> Vec<String> {
    vec![kind.amr().into(), "mfa".into()]
}

/// `amr` of a sign-in with a password, then a passkey as second factor.
pub fn amr_after_password(kind: PasskeyKind) -> Vec<String> {
    vec!["pwd".into(), kind.amr().into(), "mfa".into()]
}

/// A name as typed: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control
/// characters. `None` if it cannot be one.
pub fn clean_name(name: &str) -> Option<String> {
    let name = name.trim();
    let n = name.chars().count();
    (n > 0 && n <= MAX_NAME_CHARS && !name.chars().any(char::is_control)).then(|| name.to_string())
}

/// Does a password sign-in of `user` need a second step? With TOTP on or a
/// passkey registered, yes.
pub fn second_factor_required(tx: &mut impl PasskeyStore, user: &User) -> Result<bool, OAuthError> {
    Ok(user.totp_secret.is_some() || tx.count_passkeys(&user.id)? > 0)
}

/// Why a registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The user has [`MAX_PASSKEYS`] already.
    TooMany,
    /// No usable name.
    BadName,
    /// That credential is registered already (to anyone).
    Duplicate,
}

/// What a new passkey is made of (the relying-party library's output).
pub struct NewPasskey {
    pub credential_id: String,
    pub credential: String,
    pub kind: PasskeyKind,
}

/// Register a passkey for `user_id` under `name` (empty: "Passkey 2",
/// "Security key 3"...).
pub fn register(
    tx: &mut impl PasskeyStore,
    rng: &mut dyn Random,
    user_id: &str,
    name: &str,
    new: NewPasskey,
    now: i64,
) -> Result<Result<Passkey, Refusal>, OAuthError> {
    let existing = tx.list_passkeys(user_id)?;
    if existing.len() >= MAX_PASSKEYS {
        return Ok(Err(Refusal::TooMany));
    }
    if tx
        .get_passkey_by_credential_id(&new.credential_id)?
        .is_some()
    {
        return Ok(Err(Refusal::Duplicate));
    }
    let name = if name.trim().is_empty() {
        format!("{} {}", new.kind.describe(), existing.len() + 1)
    } else {
        match clean_name(name) {
            Some(n) => n,
            None => return Ok(Err(Refusal::BadName)),
        }
    };
    let p = Passkey {
        id: random_token(rng, 16),
        user_id: user_id.to_string(),
        name,
        credential_id: new.credential_id,
        credential: new.credential,
        kind: new.kind,
        created_at: now,
        last_used_at: None,
    };
    tx.insert_passkey(&p)?;
    Ok(Ok(p))
}

/// Spend the challenge of a ceremony (`token`: whatever carried its state
/// to the browser and back, unique per challenge): `true` the first time.
/// Kept among the used one-time identifiers ([`JtiStore`]) until
/// `expires_at`, when the ceremony refuses it anyway.
pub fn spend_challenge(
    tx: &mut impl JtiStore,
    token: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, OAuthError> {
    if expires_at <= now {
        return Ok(false);
    }
    let key = hash_token(&format!("webauthn-challenge:{token}"));
    Ok(tx.consume_jti(&key, expires_at)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemStore, SeqRandom};
    use crate::users::new_user;

    fn new(id: &str) -> NewPasskey {
        NewPasskey {
            credential_id: id.into(),
            credential: "{}".into(),
            kind: PasskeyKind::Software,
        }
    }

    #[test]
    fn kind_rule() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let c = PasskeyKind::classify;
        assert_eq!(
            c(Some("cross-platform"), &t(&["usb"])),
            PasskeyKind::Hardware
        );
        assert_eq!(c(Some("platform"), &t(&["usb"])), PasskeyKind::Software);
        assert_eq!(c(None, &t(&["usb", "nfc"])), PasskeyKind::Hardware);
        assert_eq!(c(None, &t(&["usb", "hybrid"])), PasskeyKind::Software);
        assert_eq!(c(None, &t(&["internal"])), PasskeyKind::Software);
        assert_eq!(c(None, &[]), PasskeyKind::Software);
        assert_eq!("hwk".parse::<PasskeyKind>(), Ok(PasskeyKind::Hardware));
        assert_eq!(PasskeyKind::Software.to_string(), "swk");
        assert!("pwd".parse::<PasskeyKind>().is_err());
    }

    #[test]
    fn amr_values() {
        assert_eq!(amr_alone(PasskeyKind::Hardware), ["hwk", "mfa"]);
        assert_eq!(
            amr_after_password(PasskeyKind::Software),
            ["pwd", "swk", "mfa"]
        );
    }

    #[test]
    fn names() {
        assert_eq!(clean_name("  Laptop "), Some("Laptop".into()));
        assert_eq!(clean_name("   "), None);
        assert_eq!(clean_name("a\u{7}b"), None);
        assert!(clean_name(&"x".repeat(MAX_NAME_CHARS)).is_some());
        assert_eq!(clean_name(&"x".repeat(MAX_NAME_CHARS + 1)), None);
    }

    #[test]
    fn register_names_limits_and_refuses_duplicates() {
        let mut s = MemStore::default();
        let mut rng = SeqRandom(1);
        let a = register(&mut s, &mut rng, "alice", "", new("c1"), 10)
            .unwrap()
            .unwrap();
        assert_eq!(a.name, "Passkey 1");
        let b = register(&mut s, &mut rng, "alice", " Phone ", new("c2"), 11)
            .unwrap()
            .unwrap();
        assert_eq!(b.name, "Phone");
        assert_ne!(a.id, b.id);
        assert_eq!(
            register(&mut s, &mut rng, "bob", "x", new("c1"), 12).unwrap(),
            Err(Refusal::Duplicate)
        );
        assert_eq!(
            register(&mut s, &mut rng, "alice", "\u{0}", new("c3"), 12).unwrap(),
            Err(Refusal::BadName)
        );
        for i in 3..=MAX_PASSKEYS {
            register(&mut s, &mut rng, "alice", "k", new(&format!("c{i}")), 13)
                .unwrap()
                .unwrap();
        }
        assert_eq!(
            register(&mut s, &mut rng, "alice", "k", new("last"), 14).unwrap(),
            Err(Refusal::TooMany)
        );
        assert!(s.rename_passkey("alice", &a.id, "Desk").unwrap());
        assert!(!s.rename_passkey("bob", &a.id, "Mine").unwrap());
        assert!(!s.delete_passkey("bob", &a.id).unwrap());
        assert!(s.delete_passkey("alice", &a.id).unwrap());
        assert_eq!(s.count_passkeys("alice").unwrap(), MAX_PASSKEYS - 1);
    }

    #[test]
    fn a_passkey_makes_the_second_factor_required() {
        let mut s = MemStore::default();
        let u = new_user("alice", None, None, false, 1, &mut SeqRandom(1)).unwrap();
        assert!(!second_factor_required(&mut s, &u).unwrap());
        register(&mut s, &mut SeqRandom(2), &u.id, "", new("c1"), 10)
            .unwrap()
            .unwrap();
        assert!(second_factor_required(&mut s, &u).unwrap());
    }

    #[test]
    fn a_challenge_is_spent_once_and_not_after_it_expired() {
        let mut s = MemStore::default();
        assert!(spend_challenge(&mut s, "state-1", 100, 50).unwrap());
        assert!(!spend_challenge(&mut s, "state-1", 100, 51).unwrap());
        assert!(spend_challenge(&mut s, "state-2", 100, 51).unwrap());
        assert!(!spend_challenge(&mut s, "state-3", 100, 100).unwrap());
    }
}
