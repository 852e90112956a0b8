//! Client authentication at the token, revocation, introspection and logout
//! endpoints: `client_secret_basic` (RFC 6749 §2.3.1), `client_secret_post`,
//! `private_key_jwt` (RFC 7523 §2.2: [`crate::client_assertion`]), and
//! `none` for public clients (RFC 7591 §2).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, ClientAuthMethod};
use crate::params::Params;
use crate::ports::{ClientStore, ThrottleState, ThrottleStore};
use crate::secret::verify_token;
use crate::throttle::{self, Kind, Throttles};

/// What the request presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        id: String,
        secret: String,
    },
    Post {
        id: String,
        secret: String,
    },
    /// A `client_id` alone: a public client.
    IdOnly {
        id: String,
    },
    /// A JWT client assertion (RFC 7521 §4.2, RFC 7523 §2.2), not checked
    /// yet: `id` is the `client_id` sent, or else the assertion's `sub`.
    Assertion {
        id: String,
        assertion: String,
    },
    /// An assertion the server has checked and used up with
    /// [`crate::client_assertion::authenticate`] (never made from a request).
    Asserted {
        id: String,
    },
    Nothing,
}

impl Credentials {
    pub fn used_basic(&self) -> bool {
        matches!(self, Credentials::Basic { .. })
    }

    pub fn client_id(&self) -> Option<&str> {
        match self {
            Credentials::Basic { id, .. }
            | Credentials::Post { id, .. }
            | Credentials::IdOnly { id }
            | Credentials::Assertion { id, .. }
            | Credentials::Asserted { id } => Some(id),
            Credentials::Nothing => None,
        }
    }
}

fn invalid_client(msg: &str) -> OAuthError {
    OAuthError::with(ErrorCode::InvalidClient, msg)
}

/// Decode an `Authorization: Basic ...` value. RFC 6749 §2.3.1: the client
/// id and secret are form-urlencoded before Base64, so `%3A` in an id is a
/// colon and `+` is a space.
pub fn decode_basic(header: &str) -> Result<(String, String), OAuthError> {
    let bad = || invalid_client("malformed Basic credentials");
    let (scheme, rest) = header.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let raw = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let decode = |s: &str| -> Result<String, OAuthError> {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .into_owned()
            .collect();
        pairs.into_iter().next().map(|(_, v)| v).ok_or_else(bad)
    };
    let (id, secret) = (decode(id)?, decode(secret)?);
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

/// Which credentials a request carries. RFC 6749 §2.3: a client MUST NOT
/// use more than one authentication method in a request.
pub fn credentials(
    basic: Option<(String, String)>,
    params: &Params,
) -> Result<Credentials, OAuthError> {
    if params.contains("client_assertion") || params.contains("client_assertion_type") {
        return assertion_credentials(basic.is_some(), params);
    }
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method, not Basic and client_secret both",
        )),
        (Some((id, _)), Some(body), None) if body != id => Err(OAuthError::invalid_request(
            "client_id does not match the Basic credentials",
        )),
        (Some((id, secret)), _, None) => Ok(Credentials::Basic { id, secret }),
        (None, Some(id), Some(secret)) => Ok(Credentials::Post {
            id: id.into(),
            secret: secret.into(),
        }),
        (None, None, Some(_)) => Err(OAuthError::invalid_request(
            "client_secret without client_id",
        )),
        (None, Some(id), None) => Ok(Credentials::IdOnly { id: id.into() }),
        (None, None, None) => Ok(Credentials::Nothing),
    }
}

/// RFC 7521 §4.2: `client_assertion_type` and `client_assertion` together;
/// `client_id` is optional (the assertion's `sub` names the client).
fn assertion_credentials(basic: bool, params: &Params) -> Result<Credentials, OAuthError> {
    if basic || params.contains("client_secret") {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not a client assertion and a secret",
        ));
    }
    let (Some(kind), Some(assertion)) = (
        params.get("client_assertion_type"),
        params.get("client_assertion"),
    ) else {
        return Err(OAuthError::invalid_request(
            "client_assertion and client_assertion_type go together (RFC 7521 §4.2)",
        ));
    };
    if kind != crate::client_assertion::ASSERTION_TYPE {
        return Err(invalid_client(
            "client_assertion_type is not supported: use urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ));
    }
    let id = match params.get("client_id") {
        Some(id) => id.to_string(),
        None => jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(assertion)
            .ok()
            .and_then(|t| t.claims.get("sub")?.as_str().map(str::to_string))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid_client("client_assertion names no client (sub)"))?,
    };
    Ok(Credentials::Assertion {
        id,
        assertion: assertion.to_string(),
    })
}

/// The client these credentials prove, or `invalid_client`. Secrets are
/// compared as SHA-256 digests in constant time. A confidential client may
/// use either secret method (as Keycloak allows); a public client must
/// present no secret.
pub fn authenticate(
    store: &mut impl ClientStore,
    creds: &Credentials,
    now: i64,
) -> Result<Client, OAuthError> {
    let id = creds
        .client_id()
        .ok_or_else(|| invalid_client("client authentication required"))?;
    let client = store
        .get_client(id)?
        .ok_or_else(|| invalid_client("unknown client or wrong credentials"))?;
    if client.disabled {
        return Err(invalid_client("client is disabled"));
    }
    match (creds, client.auth_method, client.secret_hash.as_deref()) {
        (Credentials::IdOnly { .. }, ClientAuthMethod::None, _) => Ok(client),
        (Credentials::Asserted { .. }, ClientAuthMethod::PrivateKeyJwt, _) => Ok(client),
        (
            Credentials::Basic { secret, .. } | Credentials::Post { secret, .. },
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost,
            Some(hash),
        ) => {
            if !verify_token(secret, hash) {
                return Err(invalid_client("unknown client or wrong credentials"));
            }
            if client.secret_expires_at != 0 && client.secret_expires_at <= now {
                return Err(invalid_client("client secret has expired"));
            }
            Ok(client)
        }
        (Credentials::IdOnly { .. }, ClientAuthMethod::PrivateKeyJwt, _) => Err(invalid_client(
            "this client must authenticate with a client assertion (private_key_jwt)",
        )),
        (Credentials::IdOnly { .. }, _, _) => Err(invalid_client(
            "this client must authenticate with its secret",
        )),
        _ => Err(invalid_client("unknown client or wrong credentials")),
    }
}

/// [`authenticate`] behind the `client:` throttle, in a write transaction:
/// a blocked `client_id` is refused (429, [`throttle::refusal`]) before its
/// secret is checked, and a success clears its failures. A failure is not
/// counted here, since its transaction rolls back: the caller counts it in
/// a transaction of its own ([`counts_as_failure`]).
pub fn authenticate_throttled(
    tx: &mut (impl ClientStore + ThrottleStore),
    t: &Throttles,
    creds: &Credentials,
    now: i64,
) -> Result<Client, OAuthError> {
    let (client, failing) = authenticate_gated(tx, t, creds, now)?;
    if failing {
        throttle::record(tx, t, Kind::Client, &client.id, false, now)?;
    }
    Ok(client)
}

/// [`authenticate`] behind the `client:` throttle, for a read transaction:
/// the client, and whether failures are on record (for the caller to clear
/// in a write).
pub fn authenticate_gated(
    tx: &mut (impl ClientStore + ThrottleStore),
    t: &Throttles,
    creds: &Credentials,
    now: i64,
) -> Result<(Client, bool), OAuthError> {
    let state = match creds.client_id() {
        Some(id) => throttle::state(tx, t, Kind::Client, id, now)?,
        None => ThrottleState::Clear,
    };
    if let ThrottleState::Blocked(secs) = state {
        return Err(throttle::refusal(secs));
    }
    let client = authenticate(tx, creds, now)?;
    Ok((client, state == ThrottleState::Failing))
}

/// The `client_id` whose failure `e` is: an `invalid_client` refusal of
/// credentials naming a client (not a throttle's own refusal).
pub fn counts_as_failure<'a>(creds: &'a Credentials, e: &OAuthError) -> Option<&'a str> {
    if e.code != ErrorCode::InvalidClient || e.retry_after.is_some() {
        return None;
    }
    creds.client_id()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::parse(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    #[test]
    fn basic_is_form_urlencoded_inside_base64() {
        let h = format!("Basic {}", STANDARD.encode("my%3Aclient:s%2Bcret+x"));
        assert_eq!(
            decode_basic(&h).unwrap(),
            ("my:client".into(), "s+cret x".into())
        );
        assert_eq!(
            decode_basic(&format!("basic {}", STANDARD.encode("a:"))).unwrap(),
            ("a".into(), "".into())
        );
        for bad in [
            "Bearer abc",
            "Basic !!!",
            "Basic",
            &format!("Basic {}", STANDARD.encode("nocolon")),
            &format!("Basic {}", STANDARD.encode(":x")),
        ] {
            assert_eq!(
                decode_basic(bad).unwrap_err().code,
                ErrorCode::InvalidClient,
                "{bad}"
            );
        }
    }

    #[test]
    fn one_method_per_request() {
        let basic = Some(("a".to_string(), "s".to_string()));
        assert!(credentials(basic.clone(), &params(&[("client_secret", "s")])).is_err());
        assert!(credentials(basic.clone(), &params(&[("client_id", "b")])).is_err());
        assert!(credentials(basic.clone(), &params(&[("client_id", "a")]))
            .unwrap()
            .used_basic());
        assert_eq!(
            credentials(None, &params(&[("client_id", "a"), ("client_secret", "s")])).unwrap(),
            Credentials::Post {
                id: "a".into(),
                secret: "s".into()
            }
        );
        assert!(credentials(None, &params(&[("client_secret", "s")])).is_err());
        assert_eq!(
            credentials(None, &params(&[])).unwrap(),
            Credentials::Nothing
        );
    }
}
