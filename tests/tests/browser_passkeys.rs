//! Passkeys in a real headless Chromium with its virtual authenticators
//! (DevTools protocol `WebAuthn.addVirtualAuthenticator`), on a server
//! whose issuer is `http://localhost:<port>` (an IP address cannot be a
//! WebAuthn RP ID): two passkeys registered on `/account/passkeys` (one
//! named there, one renamed), one removed (the password again), then a
//! passkey alone signs in through the authorization endpoint and the ID
//! token says `amr: ["hwk", "mfa"]`, and a password with the passkey as
//! second factor says `["pwd", "hwk", "mfa"]`; the device verification
//! pages take a passkey alone too. The password grant, which
//! cannot carry a passkey, is refused for that account. And without
//! JavaScript: the page's one script runs by its CSP nonce, a passkey form
//! posted without an answer says passkeys need JavaScript, a forged
//! ceremony state is refused, and an issuer on an IP address offers none.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use headless_chrome::protocol::cdp::WebAuthn;
use headless_chrome::Tab;
use portcullis_e2e::tab::{click, fill, text_of};
use portcullis_e2e::{
    add_client, add_user, browser_like, databases, headless_chromium, hidden_fields,
    redirect_listener, verify_jwt, Server, TestClient,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A virtual CTAP2 authenticator that keeps discoverable credentials and
/// verifies its user: built in (`internal`) or a USB security key.
fn authenticator(tab: &Tab, transport: WebAuthn::AuthenticatorTransport) -> String {
    tab.call_method(WebAuthn::AddVirtualAuthenticator {
        options: WebAuthn::VirtualAuthenticatorOptions {
            protocol: WebAuthn::AuthenticatorProtocol::Ctap2,
            ctap_2_version: Some(WebAuthn::Ctap2Version::Ctap21),
            transport,
            has_resident_key: Some(true),
            has_user_verification: Some(true),
            has_large_blob: None,
            has_cred_blob: None,
            has_min_pin_length: None,
            has_prf: None,
            automatic_presence_simulation: Some(true),
            is_user_verified: Some(true),
            default_backup_eligibility: None,
            default_backup_state: None,
        },
    })
    .unwrap()
    .authenticator_id
}

fn password_step(tab: &Tab) {
    fill(tab, "input#username", "alice");
    fill(tab, "input#password", "correct horse");
    click(tab, "button[type=submit]");
}

/// The passkeys table: `(row id, name, kind)`.
fn rows(tab: &Tab) -> Vec<(String, String, String)> {
    tab.wait_for_element("h1").unwrap();
    tab.find_elements("#passkeys tr[id]")
        .unwrap_or_default()
        .iter()
        .map(|r| {
            let id = r.get_attribute_value("id").unwrap().unwrap();
            let cells = r.find_elements("td").unwrap();
            (
                id.trim_start_matches("passkey-").to_string(),
                cells[0].get_inner_text().unwrap().trim().to_string(),
                cells[1].get_inner_text().unwrap().trim().to_string(),
            )
        })
        .collect()
}

/// Through the authorization endpoint in the browser (`sign_in`: what the
/// person does on the sign-in pages), consent, the code exchanged with
/// PKCE: the verified ID token's `amr`. `consent`: the consent page comes
/// (the first time) and is approved.
fn authorize(
    s: &Server,
    c: &TestClient,
    tab: &Tab,
    consent: bool,
    sign_in: impl FnOnce(&Tab),
) -> Value {
    let (port, codes) = redirect_listener();
    let redirect = format!("http://127.0.0.1:{port}/cb");
    let verifier = "a-verifier-long-enough-for-rfc-7636-section-4-1-xxxxxxx";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let url = reqwest::Url::parse_with_params(
        &s.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", c.id.as_str()),
            ("redirect_uri", redirect.as_str()),
            ("scope", "openid"),
            ("state", "st"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    tab.navigate_to(url.as_str()).unwrap();
    sign_in(tab);
    if consent {
        click(tab, "button[value=approve]");
    }
    let target = codes
        .recv_timeout(Duration::from_secs(20))
        .expect("the browser reached the redirect URI");
    let params: Vec<(String, String)> = reqwest::Url::parse(&format!("http://x{target}"))
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let code = params
        .iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.clone())
        .expect("code");
    let (status, tokens) = s.token(
        Some(c),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", verifier),
        ],
    );
    assert_eq!(status, 200, "{tokens}");
    let (_, claims) = verify_jwt(s, tokens["id_token"].as_str().unwrap(), "JWT", |alg| {
        let mut v = jsonwebtoken::Validation::new(alg);
        v.set_audience(&[c.id.as_str()]);
        v
    });
    claims["amr"].clone()
}

const DEVICE: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[test]
fn chromium_registers_renames_removes_and_signs_in_with_passkeys() {
    for db in databases() {
        let c = add_client(
            &db,
            &[
                "--redirect-uri",
                "http://127.0.0.1/cb",
                "--grant-type",
                "authorization_code",
                "--grant-type",
                "password",
                "--scope",
                "openid",
            ],
        );
        add_user(&db, "alice", "correct horse", &[]);
        let s = Server::start_localhost(&db);
        let browser = headless_chromium();
        let tab = browser.new_tab().unwrap();
        tab.set_default_timeout(Duration::from_secs(20));
        tab.call_method(WebAuthn::Enable { enable_ui: None })
            .unwrap();
        let laptop = authenticator(&tab, WebAuthn::AuthenticatorTransport::Internal);

        // Sign in to the account pages with the password; no passkeys yet.
        tab.navigate_to(&s.url("/account/passkeys")).unwrap();
        password_step(&tab);
        tab.wait_for_element("#no-passkeys").unwrap();

        // The first passkey: the device's own authenticator, named here.
        fill(&tab, "#passkey-name", "Laptop");
        click(&tab, "#add");
        let notice = text_of(&tab, "p.notice");
        assert!(notice.contains("passkey was added"), "{notice}");
        let listed = rows(&tab);
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!((&*listed[0].1, &*listed[0].2), ("Laptop", "Passkey"));

        // The second: a USB security key, with the default name.
        tab.call_method(WebAuthn::RemoveVirtualAuthenticator {
            authenticator_id: laptop,
        })
        .unwrap();
        authenticator(&tab, WebAuthn::AuthenticatorTransport::Usb);
        click(&tab, "#add");
        text_of(&tab, "p.notice");
        let listed = rows(&tab);
        assert_eq!(listed.len(), 2, "{listed:?}");
        let (key_id, key_name, key_kind) = listed[1].clone();
        assert_eq!((&*key_name, &*key_kind), ("Security key 2", "Security key"));

        // Rename it.
        fill(&tab, &format!("#name-{key_id}"), "YubiKey");
        click(&tab, &format!("#rename-{key_id}"));
        let notice = text_of(&tab, "p.notice");
        assert!(notice.contains("renamed"), "{notice}");
        assert_eq!(rows(&tab)[1].1, "YubiKey");

        // Remove the first: a wrong password is refused, the right one works.
        let laptop_id = listed[0].0.clone();
        fill(&tab, &format!("#password-{laptop_id}"), "wrong");
        click(&tab, &format!("#remove-{laptop_id}"));
        let error = text_of(&tab, "p.error[role=alert]");
        assert!(error.contains("Wrong password"), "{error}");
        assert_eq!(rows(&tab).len(), 2);
        fill(&tab, &format!("#password-{laptop_id}"), "correct horse");
        click(&tab, &format!("#remove-{laptop_id}"));
        let notice = text_of(&tab, "p.notice");
        assert!(notice.contains("removed"), "{notice}");
        let listed = rows(&tab);
        assert_eq!(
            listed.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
            ["YubiKey"]
        );
        click(&tab, "#sign-out");
        tab.wait_for_element("#passkey-button").unwrap();

        // A passkey alone, through the authorization endpoint.
        let amr = authorize(&s, &c, &tab, true, |tab| click(tab, "#passkey-button"));
        assert_eq!(amr, serde_json::json!(["hwk", "mfa"]));

        // Signed out again: the password, then the passkey as second factor.
        tab.navigate_to(&s.url("/account"))
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        click(&tab, "#sign-out");
        tab.wait_for_element("#username").unwrap();
        let amr = authorize(&s, &c, &tab, false, |tab| {
            password_step(tab);
            tab.wait_for_element("#passkey-second-factor").unwrap();
            // No TOTP: no code field stands in for the passkey.
            assert!(tab.find_element("#otp").is_err());
            click(tab, "#passkey-button");
        });
        assert_eq!(amr, serde_json::json!(["pwd", "hwk", "mfa"]));
        tab.navigate_to(&s.url("/account"))
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        let signed_in = text_of(&tab, "#signed-in");
        assert!(signed_in.contains("(pwd, hwk, mfa)"), "{signed_in}");

        // The device verification pages: a passkey alone there too.
        click(&tab, "#sign-out");
        tab.wait_for_element("#username").unwrap();
        let dev = add_client(
            &db,
            &["--public", "--grant-type", DEVICE, "--scope", "openid"],
        );
        let res = s.post_form(
            "/oauth/device_authorization",
            None,
            &[("client_id", dev.id.as_str()), ("scope", "openid")],
        );
        assert_eq!(res.status(), 200);
        let d: Value = res.json().unwrap();
        tab.navigate_to(d["verification_uri_complete"].as_str().unwrap())
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        click(&tab, "button[type=submit]");
        click(&tab, "#passkey-button");
        click(&tab, "button[value=approve]");
        tab.wait_for_xpath("//h1[contains(., 'Device connected')]")
            .unwrap();
        let (status, t) = s.token(
            None,
            &[
                ("grant_type", DEVICE),
                ("device_code", d["device_code"].as_str().unwrap()),
                ("client_id", dev.id.as_str()),
            ],
        );
        assert_eq!(status, 200, "{t}");
        let (_, claims) = verify_jwt(&s, t["id_token"].as_str().unwrap(), "JWT", |alg| {
            let mut v = jsonwebtoken::Validation::new(alg);
            v.set_audience(&[dev.id.as_str()]);
            v
        });
        assert_eq!(claims["amr"], serde_json::json!(["hwk", "mfa"]));

        // The password grant cannot carry a passkey: refused for alice.
        let (status, body) = s.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "correct horse"),
                ("scope", "openid"),
            ],
        );
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{body}"
        );
    }
}

#[test]
fn without_javascript_the_passkey_form_says_so_and_a_forged_state_is_refused() {
    for db in databases() {
        add_user(&db, "alice", "correct horse", &[]);
        let s = Server::start_localhost(&db);
        let http = browser_like();
        let res = http.get(s.url("/account/passkeys")).send().unwrap();
        assert_eq!(res.status(), 200);
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        let html = res.text().unwrap();
        let nonce = csp
            .split("script-src 'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .expect("a script nonce in the CSP");
        assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
        assert!(html.contains("data-passkey=\"get\""), "{html}");

        // The passkey form as a browser without scripts posts it (its
        // hidden fields: the password form's csrf and next come again).
        let mut fields = hidden_fields(&html);
        let mut seen = std::collections::HashSet::new();
        fields.retain(|(k, _)| seen.insert(k.clone()));
        let post = |fields: &[(String, String)]| {
            let res = http
                .post(s.url("/account/login"))
                .form(fields)
                .send()
                .unwrap();
            (res.status().as_u16(), res.text().unwrap())
        };
        let (status, page) = post(&fields);
        assert_eq!(status, 200);
        assert!(page.contains("Passkeys need JavaScript"), "{page}");

        // A forged state, and a genuine one with an answer that is no
        // WebAuthn answer: refused, nobody signed in.
        let with = |state: Option<&str>, answer: &str| -> Vec<(String, String)> {
            fields
                .iter()
                .map(|(k, v)| match k.as_str() {
                    "passkey_state" => (k.clone(), state.unwrap_or(v).to_string()),
                    "passkey" => (k.clone(), answer.to_string()),
                    _ => (k.clone(), v.clone()),
                })
                .collect()
        };
        for form in [
            with(Some("e30.9999999999.dTE.forged"), "{}"),
            with(None, "{\"id\":\"x\"}"),
        ] {
            let (status, page) = post(&form);
            assert_eq!(status, 200);
            assert!(page.contains("That passkey was not accepted"), "{page}");
        }
        let (status, page) = (
            http.get(s.url("/account")).send().unwrap().status(),
            http.get(s.url("/account")).send().unwrap().text().unwrap(),
        );
        assert_eq!(status, 200);
        assert!(page.contains("id=\"password\""), "still signed out");

        // On an IP address there is no relying party: no passkey, no script.
        let ip = Server::start(&db);
        let res = http.get(ip.url("/account")).send().unwrap();
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(!csp.contains("script-src"), "{csp}");
        assert!(!res.text().unwrap().contains("data-passkey"));
    }
}
