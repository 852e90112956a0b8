//! A real headless browser (Debian's Chromium, driven over CDP) signs in
//! with a password and a TOTP code, consents, and the code reaches a
//! loopback redirect URI; the `openidconnect` crate, as a real relying
//! party, exchanges it with PKCE and verifies the ID token. And the device
//! authorization grant (RFC 8628): Chromium opens `verification_uri_complete`,
//! signs in and approves, and the device's poll gets the tokens.

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use portcullis_e2e::{
    add_client, add_user, databases, headless_chromium, redirect_listener, Server, TestDb,
};

#[test]
fn chromium_signs_in_with_totp_consents_and_the_rp_verifies_the_id_token() {
    let db = TestDb::sqlite();
    let c = add_client(
        &db,
        &[
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--scope",
            "openid profile email offline_access",
        ],
    );
    let (user_id, secret) = add_user(
        &db,
        "alice",
        "correct horse",
        &["--totp", "--email", "alice@example.com"],
    );
    let s = Server::start(&db);
    let (port, codes) = redirect_listener();

    // The relying party: discovery, then an authorization URL with PKCE and a nonce.
    let http = openidconnect::reqwest::blocking::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let meta =
        CoreProviderMetadata::discover(&IssuerUrl::new(s.issuer.clone()).unwrap(), &http).unwrap();
    let rp = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(c.id.clone()),
        Some(ClientSecret::new(c.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(format!("http://127.0.0.1:{port}/cb")).unwrap());
    let (pkce, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(pkce)
        .url();

    // The person, in a real browser.
    let browser = headless_chromium();
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(Duration::from_secs(20));
    tab.navigate_to(url.as_str())
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    sign_in(&tab, "alice", "correct horse");

    // The TOTP step.
    tab.wait_for_element("#otp").unwrap().click().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    tab.type_str(&portcullis_core::totp::code_at(secret.as_deref().unwrap(), now).unwrap())
        .unwrap();
    tab.wait_for_element("button[type=submit]")
        .unwrap()
        .click()
        .unwrap();

    // Consent: the client's name, the redirect host, the scopes in words.
    let approve = tab.wait_for_element("button[value=approve]").unwrap();
    let text = tab.get_content().unwrap();
    assert!(text.contains("Allow test?"), "consent names the client");
    assert!(text.contains("127.0.0.1"));
    assert!(text.contains("See your e-mail address"));
    approve.click().unwrap();

    // The code reaches the loopback redirect.
    let target = codes
        .recv_timeout(Duration::from_secs(20))
        .expect("the browser reached the redirect URI");
    let params: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x{target}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(get("iss").as_deref(), Some(s.issuer.as_str()), "RFC 9207");
    let code = get("code").expect("code");

    // The relying party exchanges it with the PKCE verifier and verifies the ID token.
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request(&http)
        .unwrap();
    assert!(tokens.refresh_token().is_some());
    let id_token = tokens.id_token().expect("id_token");
    let id_verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("signature, iss, aud, exp and nonce verify");
    assert_eq!(claims.subject().as_str(), user_id);
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("alice@example.com")
    );
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    assert!(amr.contains(&"otp".to_string()), "amr shows otp: {amr:?}");
    assert!(claims.auth_time().is_some());
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected), "at_hash");
}

/// Type a username and password into the sign-in form and submit it.
fn sign_in(tab: &headless_chrome::Tab, username: &str, password: &str) {
    tab.wait_for_element("#username").unwrap().click().unwrap();
    tab.type_str(username).unwrap();
    tab.wait_for_element("#password").unwrap().click().unwrap();
    tab.type_str(password).unwrap();
    tab.wait_for_element("button[type=submit]")
        .unwrap()
        .click()
        .unwrap();
}

/// Wait until the page's HTML contains `text`.
fn wait_for_text(tab: &headless_chrome::Tab, text: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let html = tab.get_content().unwrap();
        if html.contains(text) {
            return html;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited for {text:?}: {html}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn chromium_approves_a_device_and_the_device_poll_gets_tokens() {
    const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
    for db in databases() {
        let c = add_client(
            &db,
            &[
                "--public",
                "--grant-type",
                GRANT,
                "--scope",
                "openid profile",
            ],
        );
        let (user_id, _) = add_user(&db, "alice", "correct horse", &[]);
        let s = Server::start(&db);

        // The device (a CLI) asks for codes.
        let res = s.post_form(
            "/oauth/device_authorization",
            None,
            &[("client_id", c.id.as_str()), ("scope", "openid profile")],
        );
        assert_eq!(res.status(), 200);
        let d: serde_json::Value = res.json().unwrap();
        let device_code = d["device_code"].as_str().unwrap();
        let user_code = d["user_code"].as_str().unwrap();
        let poll = || {
            s.token(
                None,
                &[
                    ("grant_type", GRANT),
                    ("device_code", device_code),
                    ("client_id", c.id.as_str()),
                ],
            )
        };
        assert_eq!(poll().1["error"], "authorization_pending");

        // The person opens the complete URI: the code is filled in.
        let browser = headless_chromium();
        let tab = browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(20));
        tab.navigate_to(d["verification_uri_complete"].as_str().unwrap())
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        let typed = tab
            .wait_for_element("#user_code")
            .unwrap()
            .get_attribute_value("value")
            .unwrap();
        assert_eq!(typed.as_deref(), Some(user_code));
        tab.wait_for_element("button[type=submit]")
            .unwrap()
            .click()
            .unwrap();
        sign_in(&tab, "alice", "correct horse");

        // Consent: the client, the code, the scopes in words.
        let approve = tab.wait_for_element("button[value=approve]").unwrap();
        let html = tab.get_content().unwrap();
        assert!(html.contains("Allow test on your device?"), "{html}");
        assert!(html.contains(user_code));
        assert!(html.contains("See your username"));
        approve.click().unwrap();
        wait_for_text(&tab, "Device connected");

        // The device's next poll (after the interval) gets the tokens.
        std::thread::sleep(Duration::from_secs(5));
        let (status, t) = poll();
        assert_eq!(status, 200, "{t}");
        assert_eq!(t["scope"], "openid profile");
        let id = t["id_token"].as_str().expect("id_token");
        let payload = id.split('.').nth(1).unwrap();
        use base64::Engine;
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["sub"], user_id.as_str());
        assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
        assert_eq!(poll().1["error"], "invalid_grant", "tokens once");
    }
}
