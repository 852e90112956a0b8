//! Creating users: username and e-mail checks, and the immutable id used as `sub`.

use crate::error::OAuthError;
use crate::model::User;
use crate::ports::Random;

/// A random (version 4) UUID in its hyphenated lowercase form.
pub fn new_uuid(rng: &mut dyn Random) -> String {
    let mut b = [0u8; 16];
    rng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A new user. `password_hash` is the Argon2id PHC string (hashing happens
/// outside core, on a bounded pool).
pub fn new_user(
    username: &str,
    email: Option<&str>,
    password_hash: Option<String>,
    is_admin: bool,
    now: i64,
    rng: &mut dyn Random,
) -> Result<User, OAuthError> {
    let username = username.trim();
    if username.is_empty()
        || username.chars().count() > 255
        || username
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(OAuthError::invalid_request(
            "username must be 1 to 255 characters without spaces",
        ));
    }
    if let Some(e) = email {
        let ok = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
            && !e.chars().any(char::is_whitespace);
        if !ok {
            return Err(OAuthError::invalid_request(
                "email is not an e-mail address",
            ));
        }
    }
    Ok(User {
        id: new_uuid(rng),
        username: username.to_string(),
        email: email.map(str::to_string),
        email_verified: false,
        password_hash,
        is_admin,
        disabled: false,
        totp_secret: None,
        totp_last_step: None,
        created_at: now,
        updated_at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);
    impl Random for Fixed {
        fn fill(&mut self, buf: &mut [u8]) {
            buf.fill(self.0);
        }
    }

    #[test]
    fn uuid_is_version_4() {
        let id = new_uuid(&mut Fixed(0xff));
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        assert_eq!(
            new_uuid(&mut Fixed(0)),
            "00000000-0000-4000-8000-000000000000"
        );
    }

    #[test]
    fn checks_username_and_email() {
        assert!(new_user(
            "alice",
            Some("alice@example.com"),
            None,
            false,
            1,
            &mut Fixed(1)
        )
        .is_ok());
        assert!(new_user("", None, None, false, 1, &mut Fixed(1)).is_err());
        assert!(new_user("a b", None, None, false, 1, &mut Fixed(1)).is_err());
        assert!(new_user("bob", Some("not-an-email"), None, false, 1, &mut Fixed(1)).is_err());
    }
}
