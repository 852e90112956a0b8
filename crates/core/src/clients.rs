//! Creating clients: the checks every path (CLI, admin API, dynamic
//! registration) applies, and the secrets they get. RFC 7591 §2 metadata
//! semantics; errors use RFC 7591 §3.2.2 codes.

use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, ClientAuthMethod, GrantType, Scopes, SigningAlg, TokenFormat};
use crate::ports::Random;
use crate::redirect::{validate_redirect_uri, RedirectKind};
use crate::secret::{hash_token, random_token};

/// What a caller asks for; `None` means the default.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Option<Vec<GrantType>>,
    pub scope: Option<Scopes>,
    pub auth_method: Option<ClientAuthMethod>,
    pub access_token_format: Option<TokenFormat>,
    pub signing_alg: Option<SigningAlg>,
    pub application_type: Option<String>,
    pub metadata: Option<serde_json::Value>,
}

/// The default registered scope of a client that names none.
pub const DEFAULT_SCOPE: &str = "openid profile email offline_access";

/// A client to store, and its secret in clear (confidential clients only;
/// shown once, stored only as a hash).
pub struct NewClient {
    pub client: Client,
    pub secret: Option<String>,
}

fn meta_err(msg: impl Into<String>) -> OAuthError {
    OAuthError::with(ErrorCode::InvalidClientMetadata, msg)
}

/// Does a client with this method hold a secret? `none` and
/// `private_key_jwt` (its keys are public) do not.
pub fn needs_secret(method: ClientAuthMethod) -> bool {
    matches!(
        method,
        ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost
    )
}

/// RFC 7591 §2: `jwks` and `jwks_uri` are mutually exclusive, and a
/// `private_key_jwt` client needs one of them (OIDC Registration §2).
fn check_keys(method: ClientAuthMethod, metadata: &serde_json::Value) -> Result<(), OAuthError> {
    use crate::client_assertion::{parse_jwks, JWKS, JWKS_URI};
    let jwks = metadata.get(JWKS).filter(|v| !v.is_null());
    let uri = metadata.get(JWKS_URI).filter(|v| !v.is_null());
    match (jwks, uri) {
        (Some(_), Some(_)) => {
            return Err(meta_err(
                "jwks and jwks_uri must not both be present (RFC 7591 §2)",
            ))
        }
        (Some(set), None) => {
            parse_jwks(set).map_err(meta_err)?;
        }
        (None, Some(uri)) => {
            let ok = uri
                .as_str()
                .and_then(|u| url::Url::parse(u).ok())
                .is_some_and(|u| {
                    matches!(u.scheme(), "https" | "http")
                        && u.host().is_some()
                        && u.fragment().is_none()
                });
            if !ok {
                return Err(meta_err("jwks_uri must be an absolute https URL"));
            }
        }
        (None, None) if method == ClientAuthMethod::PrivateKeyJwt => {
            return Err(meta_err(
                "token_endpoint_auth_method private_key_jwt needs jwks or jwks_uri",
            ))
        }
        (None, None) => {}
    }
    Ok(())
}

pub fn new_client(
    spec: ClientSpec,
    now: i64,
    rng: &mut dyn Random,
) -> Result<NewClient, OAuthError> {
    let secret = needs_secret(
        spec.auth_method
            .unwrap_or(ClientAuthMethod::ClientSecretBasic),
    )
    .then(|| random_token(rng, 32));
    let id = random_token(rng, 16);
    let client = client_with_id(spec, id, secret.as_deref(), now)?;
    Ok(NewClient { client, secret })
}

/// The client `spec` describes, under the given id, with the given secret
/// (kept as a hash; `None` for a public client). Every rule of
/// [`new_client`] applies; a client whose method needs a secret and has
/// none is refused.
pub fn client_with_id(
    spec: ClientSpec,
    id: String,
    secret: Option<&str>,
    now: i64,
) -> Result<Client, OAuthError> {
    let name = spec.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(meta_err(
            "client_name must be 1 to 200 printable characters",
        ));
    }
    // RFC 7591 §2: grant_types defaults to authorization_code (with refresh,
    // as the registration seeds expect).
    let grant_types = spec
        .grant_types
        .unwrap_or_else(|| vec![GrantType::AuthorizationCode, GrantType::RefreshToken]);
    if grant_types.is_empty() {
        return Err(meta_err("grant_types must not be empty"));
    }
    let auth_method = spec
        .auth_method
        .unwrap_or(ClientAuthMethod::ClientSecretBasic);
    if auth_method == ClientAuthMethod::None && grant_types.contains(&GrantType::ClientCredentials)
    {
        // RFC 6749 §4.4: the client credentials grant is for confidential clients only.
        return Err(meta_err("client_credentials needs a confidential client (token_endpoint_auth_method other than none)"));
    }
    let mut kinds = Vec::new();
    for uri in spec
        .redirect_uris
        .iter()
        .chain(&spec.post_logout_redirect_uris)
    {
        let kind = validate_redirect_uri(uri)
            .map_err(|e| OAuthError::with(ErrorCode::InvalidRedirectUri, e))?;
        kinds.push(kind);
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && spec.redirect_uris.is_empty() {
        return Err(OAuthError::with(
            ErrorCode::InvalidRedirectUri,
            "authorization_code needs at least one redirect_uri",
        ));
    }
    let application_type = match spec.application_type {
        Some(t) if t == "web" || t == "native" => t,
        Some(t) => {
            return Err(meta_err(format!(
                "application_type {t:?} must be web or native"
            )))
        }
        // OIDC Registration §2: native when every redirect is loopback or app-specific.
        None if !kinds.is_empty() && kinds.iter().all(|k| *k != RedirectKind::Https) => {
            "native".into()
        }
        None => "web".into(),
    };
    let metadata = spec.metadata.unwrap_or_else(|| serde_json::json!({}));
    if !metadata.is_object() {
        return Err(meta_err("metadata must be a JSON object"));
    }
    check_keys(auth_method, &metadata)?;
    if needs_secret(auth_method) != secret.is_some() {
        return Err(OAuthError::server(
            "a client has a secret exactly when its method needs one",
        ));
    }
    Ok(Client {
        id,
        secret_hash: secret.map(hash_token),
        name,
        auth_method,
        redirect_uris: spec.redirect_uris,
        post_logout_redirect_uris: spec.post_logout_redirect_uris,
        grant_types,
        response_types: vec!["code".into()],
        scope: spec
            .scope
            .unwrap_or_else(|| Scopes::parse(DEFAULT_SCOPE).unwrap_or_default()),
        access_token_format: spec.access_token_format.unwrap_or(TokenFormat::Jwt),
        signing_alg: spec.signing_alg.unwrap_or(SigningAlg::Rs256),
        application_type,
        metadata,
        registration_token_hash: None,
        is_resource_server: false,
        first_party: false,
        disabled: false,
        created_at: now,
        updated_at: now,
        secret_expires_at: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::verify_token;

    struct Seq(u8);
    impl Random for Seq {
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                self.0 = self.0.wrapping_add(7);
                *b = self.0;
            }
        }
    }

    fn spec() -> ClientSpec {
        ClientSpec {
            name: "App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..Default::default()
        }
    }

    #[test]
    fn confidential_client_gets_a_hashed_secret_and_defaults() {
        let n = new_client(spec(), 10, &mut Seq(0)).unwrap();
        let secret = n.secret.unwrap();
        assert!(verify_token(
            &secret,
            n.client.secret_hash.as_deref().unwrap()
        ));
        assert_eq!(
            n.client.grant_types,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(n.client.application_type, "web");
        assert_eq!(n.client.signing_alg, SigningAlg::Rs256);
        assert_ne!(n.client.id, secret);
    }

    #[test]
    fn public_loopback_client_is_native_without_secret() {
        let s = ClientSpec {
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            auth_method: Some(ClientAuthMethod::None),
            ..spec()
        };
        let n = new_client(s, 10, &mut Seq(0)).unwrap();
        assert!(n.secret.is_none() && n.client.secret_hash.is_none());
        assert_eq!(n.client.application_type, "native");
    }

    #[test]
    fn refuses_bad_combinations() {
        let public_cc = ClientSpec {
            auth_method: Some(ClientAuthMethod::None),
            grant_types: Some(vec![GrantType::ClientCredentials]),
            ..spec()
        };
        assert_eq!(
            new_client(public_cc, 0, &mut Seq(0)).err().unwrap().code,
            ErrorCode::InvalidClientMetadata
        );
        let no_redirect = ClientSpec {
            redirect_uris: vec![],
            ..spec()
        };
        assert_eq!(
            new_client(no_redirect, 0, &mut Seq(0)).err().unwrap().code,
            ErrorCode::InvalidRedirectUri
        );
        let fragment = ClientSpec {
            redirect_uris: vec!["https://a.example/#x".into()],
            ..spec()
        };
        assert_eq!(
            new_client(fragment, 0, &mut Seq(0)).err().unwrap().code,
            ErrorCode::InvalidRedirectUri
        );
        let unnamed = ClientSpec {
            name: " ".into(),
            ..spec()
        };
        assert_eq!(
            new_client(unnamed, 0, &mut Seq(0)).err().unwrap().code,
            ErrorCode::InvalidClientMetadata
        );
        let cc_only = ClientSpec {
            redirect_uris: vec![],
            grant_types: Some(vec![GrantType::ClientCredentials]),
            ..spec()
        };
        assert!(new_client(cc_only, 0, &mut Seq(0)).is_ok());
    }
}
