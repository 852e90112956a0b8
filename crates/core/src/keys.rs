//! Signing-key rotation policy. Which key signs, which keys the JWKS
//! publishes, and what a rotation changes. Generating and using key material
//! is the server's job; this is the schedule.

use crate::model::{SigningAlg, SigningKey};

/// The key that signs for `alg` at `now`: the newest key of that algorithm
/// that has activated. A key published but not yet active (within its
/// propagation delay) does not sign yet, so caches learn it first.
pub fn signing_key(keys: &[SigningKey], alg: SigningAlg, now: i64) -> Option<&SigningKey> {
    keys.iter()
        .filter(|k| k.alg == alg && k.activates_at <= now && k.retires_at.is_none_or(|r| r > now))
        .max_by(|a, b| {
            (a.activates_at, a.created_at, &a.kid).cmp(&(b.activates_at, b.created_at, &b.kid))
        })
}

/// Keys the JWKS publishes at `now`: every key not yet retired, including
/// keys that will activate later.
pub fn published_keys(keys: &[SigningKey], now: i64) -> impl Iterator<Item = &SigningKey> {
    keys.iter()
        .filter(move |k| k.retires_at.is_none_or(|r| r > now))
}

/// Algorithms that have no usable key at `now` (neither signing nor waiting
/// to sign): the server creates one for each at start.
pub fn missing_algs(keys: &[SigningKey], now: i64) -> Vec<SigningAlg> {
    SigningAlg::ALL
        .iter()
        .copied()
        .filter(|alg| !published_keys(keys, now).any(|k| k.alg == *alg))
        .collect()
}

/// A rotation of `alg` at `now`: the new key activates at
/// `now + propagation_delay`; every older unretired key of the same
/// algorithm retires `max_token_lifetime` after that, once every token it
/// may have signed has expired. Returns (kid, retires_at) for the old keys.
pub fn retirements(
    keys: &[SigningKey],
    alg: SigningAlg,
    now: i64,
    propagation_delay: i64,
    max_token_lifetime: i64,
) -> Vec<(String, i64)> {
    let retire_at = now + propagation_delay + max_token_lifetime;
    keys.iter()
        .filter(|k| k.alg == alg && k.retires_at.is_none_or(|r| r > retire_at))
        .map(|k| (k.kid.clone(), retire_at))
        .collect()
}

/// Algorithms due for a scheduled rotation at `now`: those whose newest
/// unretired key (signing or waiting to sign) was created `period` or more
/// seconds ago. A rotation makes a new key, so each is due once per period.
pub fn rotations_due(keys: &[SigningKey], now: i64, period: i64) -> Vec<SigningAlg> {
    SigningAlg::ALL
        .iter()
        .copied()
        .filter(|&alg| {
            published_keys(keys, now)
                .filter(|k| k.alg == alg)
                .map(|k| k.created_at)
                .max()
                .is_some_and(|newest| now - newest >= period)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, alg: SigningAlg, activates_at: i64, retires_at: Option<i64>) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            alg,
            private_key: String::new(),
            public_jwk: String::new(),
            created_at: activates_at,
            activates_at,
            retires_at,
        }
    }

    #[test]
    fn newest_active_key_signs_and_pending_key_does_not() {
        let keys = vec![
            key("a", SigningAlg::Rs256, 100, None),
            key("b", SigningAlg::Rs256, 200, None),
        ];
        assert_eq!(signing_key(&keys, SigningAlg::Rs256, 150).unwrap().kid, "a");
        assert_eq!(signing_key(&keys, SigningAlg::Rs256, 200).unwrap().kid, "b");
        assert!(signing_key(&keys, SigningAlg::Es256, 300).is_none());
        // both published while b is pending
        assert_eq!(published_keys(&keys, 150).count(), 2);
    }

    #[test]
    fn retired_keys_leave_the_jwks() {
        let keys = vec![
            key("a", SigningAlg::Rs256, 100, Some(500)),
            key("b", SigningAlg::Rs256, 200, None),
        ];
        assert_eq!(published_keys(&keys, 499).count(), 2);
        let after: Vec<_> = published_keys(&keys, 500).map(|k| k.kid.as_str()).collect();
        assert_eq!(after, vec!["b"]);
    }

    #[test]
    fn rotation_retires_old_keys_after_delay_plus_lifetime() {
        let keys = vec![
            key("a", SigningAlg::Rs256, 100, None),
            key("e", SigningAlg::Es256, 100, None),
            key("old", SigningAlg::Rs256, 50, Some(120)),
        ];
        let r = retirements(&keys, SigningAlg::Rs256, 1000, 60, 3600);
        assert_eq!(r, vec![("a".to_string(), 4660)]);
    }

    #[test]
    fn rotation_is_due_once_the_newest_key_is_a_period_old() {
        let keys = vec![
            key("a", SigningAlg::Rs256, 100, None),
            key("b", SigningAlg::Rs256, 900, None),
            key("e", SigningAlg::Es256, 100, None),
            key("gone", SigningAlg::EdDsa, 100, Some(150)),
        ];
        // RS256's newest key is 900: not due at 1000 with a period of 500.
        assert_eq!(rotations_due(&keys, 1000, 500), vec![SigningAlg::Es256]);
        assert_eq!(
            rotations_due(&keys, 1400, 500),
            vec![SigningAlg::Rs256, SigningAlg::Es256]
        );
        // An algorithm without a published key is not rotated (it is created).
        assert!(!rotations_due(&keys, 10_000, 500).contains(&SigningAlg::EdDsa));
    }

    #[test]
    fn missing_algs_lists_algorithms_without_keys() {
        let keys = vec![
            key("a", SigningAlg::Rs256, 100, None),
            key("e", SigningAlg::Es256, 100, Some(10)),
        ];
        assert_eq!(
            missing_algs(&keys, 200),
            vec![SigningAlg::Es256, SigningAlg::EdDsa]
        );
    }
}
