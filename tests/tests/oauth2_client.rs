//! A real OAuth client library (the `oauth2` crate) drives the password and
//! refresh flows against the real binary.

use oauth2::basic::BasicClient;
use oauth2::{
    ClientId, ClientSecret, ResourceOwnerPassword, ResourceOwnerUsername, Scope, TokenResponse,
    TokenUrl,
};
use portcullis_e2e::{add_client, add_user, databases, Server};

#[test]
fn oauth2_crate_password_then_refresh() {
    for db in databases() {
        let c = add_client(
            &db,
            &[
                "--grant-type",
                "password",
                "--grant-type",
                "refresh_token",
                "--scope",
                "api profile",
            ],
        );
        add_user(&db, "lee", "s3cret", &[]);
        let s = Server::start(&db);
        let client = BasicClient::new(ClientId::new(c.id.clone()))
            .set_client_secret(ClientSecret::new(c.secret.clone().unwrap()))
            .set_token_uri(TokenUrl::new(s.url("/oauth/token")).unwrap());
        let http = oauth2::reqwest::blocking::ClientBuilder::new()
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        let first = client
            .exchange_password(
                &ResourceOwnerUsername::new("lee".into()),
                &ResourceOwnerPassword::new("s3cret".into()),
            )
            .add_scope(Scope::new("api".into()))
            .request(&http)
            .unwrap();
        assert_eq!(first.scopes().unwrap(), &vec![Scope::new("api".into())]);
        assert!(first.expires_in().unwrap().as_secs() > 0);
        let rt = first.refresh_token().unwrap().clone();
        assert_eq!(s.me_status(first.access_token().secret()), 200);

        let second = client.exchange_refresh_token(&rt).request(&http).unwrap();
        assert_ne!(second.refresh_token().unwrap().secret(), rt.secret());
        assert_eq!(s.me_status(second.access_token().secret()), 200);

        // wrong password: the library surfaces the RFC 6749 error code
        let err = client
            .exchange_password(
                &ResourceOwnerUsername::new("lee".into()),
                &ResourceOwnerPassword::new("nope".into()),
            )
            .request(&http)
            .unwrap_err();
        match err {
            oauth2::RequestTokenError::ServerResponse(r) => {
                assert_eq!(r.error().as_ref(), "invalid_grant")
            }
            other => panic!("expected invalid_grant, got {other:?}"),
        }
    }
}
