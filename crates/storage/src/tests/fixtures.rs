//! Sample records and a seeded store (client `c1`, users `u1` and `u2`).

use portcullis_core::model::*;
use portcullis_core::ports::*;
use serde_json::json;

use crate::{Store, Tx};

pub fn scopes(s: &str) -> Scopes {
    Scopes::parse(s).unwrap()
}

/// Run `f` in a write transaction and unwrap.
pub fn w<T>(store: &Store, f: impl FnOnce(&mut Tx<'_>) -> StoreResult<T>) -> T {
    store.write(f).unwrap()
}

pub fn client(id: &str) -> Client {
    Client {
        id: id.into(),
        secret_hash: Some(format!("hash-of-{id}")),
        name: format!("Client {id}"),
        auth_method: ClientAuthMethod::ClientSecretBasic,
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1/cb?x=1&y=\"2\"".into(),
        ],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        response_types: vec!["code".into()],
        scope: scopes("openid profile email"),
        access_token_format: TokenFormat::Jwt,
        signing_alg: SigningAlg::Es256,
        application_type: "web".into(),
        metadata: json!({"client_uri": "https://app.example", "contacts": ["ops@app.example"]}),
        registration_token_hash: None,
        is_resource_server: false,
        first_party: false,
        disabled: false,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
        secret_expires_at: 0,
    }
}

pub fn user(id: &str, username: &str) -> User {
    User {
        id: id.into(),
        username: username.into(),
        email: Some(format!("{username}@example.com")),
        email_verified: true,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        is_admin: false,
        disabled: false,
        totp_secret: None,
        totp_last_step: None,
        created_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    }
}

pub fn session(id: &str, user_id: Option<&str>, client_id: &str) -> Session {
    Session {
        id: id.into(),
        user_id: user_id.map(Into::into),
        client_id: client_id.into(),
        kind: SessionKind::Browser,
        auth_time: 1_700_000_100,
        amr: vec!["pwd".into(), "otp".into()],
        created_at: 1_700_000_100,
        last_used_at: 1_700_000_100,
        expires_at: 1_800_000_000,
        revoked_at: None,
        user_agent: Some("test-agent/1.0 (fixture)".into()),
    }
}

pub fn access_token(jti: &str, session_id: Option<&str>) -> AccessToken {
    AccessToken {
        jti: jti.into(),
        token_hash: Some(format!("at-hash-{jti}")),
        format: TokenFormat::Opaque,
        session_id: session_id.map(Into::into),
        client_id: "c1".into(),
        user_id: Some("u1".into()),
        scope: scopes("openid profile"),
        audience: vec!["https://api.example".into()],
        issued_at: 1_700_000_200,
        expires_at: 1_700_003_800,
        revoked_at: None,
        dpop_jkt: Some("jkt-access".into()),
    }
}

pub fn refresh_token(hash: &str, session_id: &str) -> RefreshToken {
    RefreshToken {
        token_hash: hash.into(),
        session_id: session_id.into(),
        client_id: "c1".into(),
        user_id: Some("u1".into()),
        scope: scopes("openid offline_access"),
        audience: vec![],
        issued_at: 1_700_000_200,
        expires_at: 1_702_000_000,
        consumed_at: None,
        revoked_at: None,
        parent_hash: None,
        resource: vec![
            "https://api.example/".into(),
            "https://mcp.example/mcp".into(),
        ],
        dpop_jkt: Some("jkt-refresh".into()),
    }
}

pub fn code(hash: &str) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: hash.into(),
        client_id: "c1".into(),
        user_id: "u1".into(),
        browser_session_id: Some("bs-hash".into()),
        session_id: None,
        redirect_uri: "https://app.example/cb".into(),
        scope: scopes("openid"),
        resource: vec!["https://api.example".into(), "https://other.example".into()],
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        code_challenge_method: "S256".into(),
        auth_time: 1_700_000_100,
        amr: vec!["pwd".into()],
        created_at: 1_700_000_150,
        expires_at: 1_700_000_210,
        consumed_at: None,
        dpop_jkt: Some("jkt-code".into()),
    }
}

/// Client `c1`, users `u1` and `u2`.
pub fn seed(store: &Store) {
    w(store, |tx| {
        tx.insert_client(&client("c1"))?;
        tx.insert_user(&user("u1", "alice"))?;
        tx.insert_user(&user("u2", "bob"))
    });
}

/// Run raw diesel on the transaction's connection (for checks no trait offers).
pub fn raw<T>(
    store: &Store,
    f: impl FnOnce(&mut crate::AnyConnection) -> diesel::QueryResult<T>,
) -> T {
    w(store, |tx| f(tx.conn).map_err(crate::error::db_error))
}

/// A pending device authorization of client `c1`.
pub fn device_code(hash: &str, user_code_hash: &str) -> DeviceCode {
    DeviceCode {
        device_code_hash: hash.into(),
        user_code_hash: user_code_hash.into(),
        client_id: "c1".into(),
        scope: scopes("openid offline_access"),
        resource: vec!["https://api.example".into()],
        interval: 5,
        created_at: 1_700_000_000,
        expires_at: 1_700_000_600,
        last_polled_at: None,
        user_id: None,
        auth_time: None,
        amr: vec![],
        approved_at: None,
        denied_at: None,
        consumed_at: None,
    }
}

/// An unused pushed authorization request of client `c1`.
pub fn pushed_request(hash: &str) -> PushedRequest {
    PushedRequest {
        uri_hash: hash.into(),
        client_id: "c1".into(),
        params: r#"[["response_type","code"]]"#.into(),
        created_at: 1_700_000_000,
        expires_at: 1_700_000_060,
        used_at: None,
    }
}
