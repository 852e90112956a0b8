//! Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata
//! (OIDC Discovery 1.0 §3). One document serves both well-known paths: the
//! OIDC members are a superset.

use serde::Serialize;

use crate::client_assertion::ALGORITHMS;
use crate::issuer::Issuer;
use crate::model::SigningAlg;

/// What the running server offers; the server fills this from what is built
/// and configured, so nothing is advertised that does not work.
#[derive(Debug, Clone)]
pub struct Capabilities {
    pub grant_types: Vec<&'static str>,
    pub token_endpoint_auth_methods: Vec<&'static str>,
    pub scopes: Vec<String>,
    /// Paths (relative to the issuer) of optional endpoints, when enabled.
    pub userinfo_path: Option<&'static str>,
    pub registration_path: Option<&'static str>,
    pub introspection_path: Option<&'static str>,
    pub revocation_path: Option<&'static str>,
    pub end_session_path: Option<&'static str>,
    /// RFC 8628 §4: the device authorization endpoint.
    pub device_authorization_path: Option<&'static str>,
    /// RFC 9126 §5: the pushed authorization request endpoint.
    pub pushed_authorization_request_path: Option<&'static str>,
    /// RFC 9207: only once the authorization endpoint returns `iss`.
    pub authorization_response_iss: bool,
    /// Client ID metadata documents (`client_id` URLs) are accepted.
    pub client_id_metadata_documents: bool,
}

/// The metadata document. Field names are the registered ones.
#[derive(Debug, Clone, Serialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// RFC 9126 §5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// RFC 9126 §5: server-wide, PAR is optional (a client may still require
    /// it for itself, §6).
    pub require_pushed_authorization_requests: bool,
    pub scopes_supported: Vec<String>,
    pub response_types_supported: Vec<&'static str>,
    pub response_modes_supported: Vec<&'static str>,
    pub grant_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 8414 §2: the client authentication methods of the introspection
    /// and revocation endpoints (the token endpoint's, when they exist).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_methods_supported: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_methods_supported: Option<Vec<&'static str>>,
    /// RFC 8414 §2: the algorithms a `private_key_jwt` assertion may use
    /// ([`crate::client_assertion::ALGORITHMS`]).
    pub token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint_auth_signing_alg_values_supported: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint_auth_signing_alg_values_supported: Option<Vec<&'static str>>,
    pub code_challenge_methods_supported: Vec<&'static str>,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_signing_alg_values_supported: Option<Vec<&'static str>>,
    pub claims_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
    /// draft-ietf-oauth-client-id-metadata-document, "Authorization Server
    /// Metadata": `true` when `client_id` URLs are accepted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub client_id_metadata_document_supported: bool,
    /// RFC 9449 §5.1: the JWS algorithms of the DPoP proofs accepted.
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
}

/// Paths of the endpoints that always exist, relative to the issuer.
pub const AUTHORIZATION_PATH: &str = "/oauth/authorize";
pub const TOKEN_PATH: &str = "/oauth/token";
pub const JWKS_PATH: &str = "/oauth/jwks";

/// Algorithms in the order the metadata lists them: RS256 first (OIDC
/// Discovery §3: RS256 must be included; it is our default).
pub fn signing_algs() -> Vec<&'static str> {
    SigningAlg::ALL.iter().map(|a| a.as_str()).collect()
}

pub fn metadata(issuer: &Issuer, caps: &Capabilities) -> ServerMetadata {
    let opt = |p: Option<&'static str>| p.map(|p| issuer.endpoint(p));
    ServerMetadata {
        issuer: issuer.as_str().to_string(),
        authorization_endpoint: issuer.endpoint(AUTHORIZATION_PATH),
        token_endpoint: issuer.endpoint(TOKEN_PATH),
        jwks_uri: issuer.endpoint(JWKS_PATH),
        userinfo_endpoint: opt(caps.userinfo_path),
        registration_endpoint: opt(caps.registration_path),
        introspection_endpoint: opt(caps.introspection_path),
        revocation_endpoint: opt(caps.revocation_path),
        end_session_endpoint: opt(caps.end_session_path),
        device_authorization_endpoint: opt(caps.device_authorization_path),
        pushed_authorization_request_endpoint: opt(caps.pushed_authorization_request_path),
        require_pushed_authorization_requests: false,
        scopes_supported: caps.scopes.clone(),
        response_types_supported: vec!["code"],
        response_modes_supported: vec!["query", "form_post"],
        grant_types_supported: caps.grant_types.clone(),
        token_endpoint_auth_methods_supported: caps.token_endpoint_auth_methods.clone(),
        introspection_endpoint_auth_methods_supported: caps
            .introspection_path
            .map(|_| caps.token_endpoint_auth_methods.clone()),
        revocation_endpoint_auth_methods_supported: caps
            .revocation_path
            .map(|_| caps.token_endpoint_auth_methods.clone()),
        token_endpoint_auth_signing_alg_values_supported: ALGORITHMS.to_vec(),
        introspection_endpoint_auth_signing_alg_values_supported: caps
            .introspection_path
            .map(|_| ALGORITHMS.to_vec()),
        revocation_endpoint_auth_signing_alg_values_supported: caps
            .revocation_path
            .map(|_| ALGORITHMS.to_vec()),
        // RFC 7636 §4.2 / OAuth 2.1: S256 only; `plain` is refused.
        code_challenge_methods_supported: vec!["S256"],
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: signing_algs(),
        userinfo_signing_alg_values_supported: None,
        claims_supported: vec![
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "sid",
            "email",
            "email_verified",
            "preferred_username",
        ],
        authorization_response_iss_parameter_supported: caps.authorization_response_iss,
        client_id_metadata_document_supported: caps.client_id_metadata_documents,
        dpop_signing_alg_values_supported: crate::dpop::ALGS.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> Capabilities {
        Capabilities {
            grant_types: vec!["client_credentials"],
            token_endpoint_auth_methods: vec!["client_secret_basic", "none"],
            scopes: vec!["openid".into()],
            userinfo_path: None,
            registration_path: None,
            introspection_path: None,
            revocation_path: Some("/oauth/revoke"),
            end_session_path: None,
            device_authorization_path: None,
            pushed_authorization_request_path: Some("/oauth/par"),
            authorization_response_iss: false,
            client_id_metadata_documents: false,
        }
    }

    #[test]
    fn issuer_is_kept_byte_for_byte_and_endpoints_hang_off_it() {
        let issuer = Issuer::parse("https://Auth.Example.com/tenant").unwrap();
        let m = metadata(&issuer, &caps());
        assert_eq!(m.issuer, "https://Auth.Example.com/tenant");
        assert_eq!(
            m.token_endpoint,
            "https://Auth.Example.com/tenant/oauth/token"
        );
        assert_eq!(
            m.revocation_endpoint.as_deref(),
            Some("https://Auth.Example.com/tenant/oauth/revoke")
        );
        assert_eq!(m.userinfo_endpoint, None);
        let json = serde_json::to_value(&m).unwrap();
        // RFC 9126 §5.
        assert_eq!(
            json["pushed_authorization_request_endpoint"],
            "https://Auth.Example.com/tenant/oauth/par"
        );
        assert_eq!(json["require_pushed_authorization_requests"], false);
        assert!(json.get("userinfo_endpoint").is_none());
        assert!(json
            .get("authorization_response_iss_parameter_supported")
            .is_none());
        assert!(json.get("client_id_metadata_document_supported").is_none());
        let on = Capabilities {
            client_id_metadata_documents: true,
            ..caps()
        };
        let json = serde_json::to_value(metadata(&issuer, &on)).unwrap();
        assert_eq!(json["client_id_metadata_document_supported"], true);
        assert_eq!(json["id_token_signing_alg_values_supported"][0], "RS256");
        assert_eq!(
            json["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
    }
}
