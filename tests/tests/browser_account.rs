//! The account pages in a real headless Chromium (no JavaScript needed, none
//! run): TOTP enrolment read off the page, a recovery code signing in once
//! and refused the second time (and on the password grant), this browser
//! listed as what its User-Agent says, ending another session from the
//! list (its refresh token dies), and a password change.

use std::time::Duration;

use headless_chrome::Tab;
use portcullis_e2e::tab::{click, fill, text_of};
use portcullis_e2e::{add_client, add_user, headless_chromium, Server, TestClient, TestDb};
use serde_json::Value;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The sign-in form is on screen: sign in with a password.
fn password_step(tab: &Tab, password: &str) {
    fill(tab, "input#username", "alice");
    fill(tab, "input#password", password);
    click(tab, "button[type=submit]");
}

fn grant(s: &Server, c: &TestClient, password: &str, otp: &str) -> (u16, Value) {
    s.token(
        Some(c),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
            ("scope", "openid"),
            ("otp", otp),
        ],
    )
}

#[test]
fn chromium_enrols_totp_uses_a_recovery_code_once_ends_a_session_and_changes_the_password() {
    let db = TestDb::sqlite();
    let c = add_client(
        &db,
        &[
            "--grant-type",
            "password",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid",
        ],
    );
    add_user(&db, "alice", "correct horse", &[]);
    let s = Server::start(&db);
    let browser = headless_chromium();
    let tab = browser.new_tab().unwrap();
    tab.set_default_timeout(Duration::from_secs(20));

    // Sign in to the account pages.
    tab.navigate_to(&s.url("/account/totp")).unwrap();
    password_step(&tab, "correct horse");

    // Enrol: the QR code is an SVG drawn by the server; the key is on the page.
    tab.wait_for_element("#qr svg").unwrap();
    let secret = tab
        .wait_for_element("#secret")
        .unwrap()
        .get_attribute_value("data-secret")
        .unwrap()
        .unwrap();
    let shown = text_of(&tab, "#secret").replace(' ', "");
    assert_eq!(shown, secret);
    fill(
        &tab,
        "#code",
        &portcullis_core::totp::code_at(&secret, now()).unwrap(),
    );
    click(&tab, "#enable");
    tab.wait_for_element("#recovery-codes").unwrap();
    let codes: Vec<String> = tab
        .find_elements("#recovery-codes li")
        .unwrap()
        .iter()
        .map(|e| e.get_inner_text().unwrap().trim().to_string())
        .collect();
    assert_eq!(codes.len(), 10, "{codes:?}");

    // Sign out, then in again with a recovery code in place of the TOTP code.
    click(&tab, "#sign-out");
    password_step(&tab, "correct horse");
    fill(&tab, "#otp", &codes[0]);
    click(&tab, "button[type=submit]");
    let status = text_of(&tab, "#totp-status");
    assert!(status.contains("9 recovery codes left"), "{status}");

    // The same code a second time: refused.
    click(&tab, "#sign-out");
    password_step(&tab, "correct horse");
    fill(&tab, "#otp", &codes[0]);
    click(&tab, "button[type=submit]");
    let error = text_of(&tab, "p.error");
    assert!(error.contains("not right"), "{error}");
    // And on the password grant.
    assert_eq!(grant(&s, &c, "correct horse", &codes[0]).0, 400);
    fill(&tab, "#otp", &codes[1]);
    click(&tab, "button[type=submit]");
    tab.wait_for_element("#totp-status").unwrap();

    // Two sessions from the password grant; end one from the list.
    let (status, one) = grant(&s, &c, "correct horse", &codes[2]);
    assert_eq!(status, 200, "{one}");
    let (_, two) = grant(&s, &c, "correct horse", &codes[3]);
    assert_eq!(grant(&s, &c, "correct horse", &codes[2]).0, 400, "spent");
    let sid = one["session_state"].as_str().unwrap();
    tab.navigate_to(&s.url("/account/sessions")).unwrap();
    // This browser is listed, marked, as what its User-Agent says it is.
    let this = tab
        .wait_for_element("#browsers tr.current td.device")
        .unwrap();
    let full = this.get_attribute_value("title").unwrap().unwrap();
    let shown = this.get_inner_text().unwrap();
    assert!(full.contains("Chrome/"), "{full}");
    assert_eq!(shown, portcullis_core::user_agent::describe(&full));
    assert!(shown.contains("Chrome on Linux"), "{shown}");
    click(&tab, &format!("button[id='end-{sid}']"));
    let notice = text_of(&tab, "p.notice");
    assert!(notice.contains("ended"), "{notice}");
    assert!(!tab.get_content().unwrap().contains(sid));
    let refresh = |rt: &Value| {
        s.token(
            Some(&c),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt.as_str().unwrap()),
            ],
        )
    };
    let (status, body) = refresh(&one["refresh_token"]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, two) = refresh(&two["refresh_token"]);
    assert_eq!(status, 200, "the other session lives: {two}");

    // Change the password, signing out everywhere else.
    tab.navigate_to(&s.url("/account/password")).unwrap();
    fill(&tab, "#current", "correct horse");
    fill(&tab, "#new", "battery staple");
    fill(&tab, "#confirm", "battery staple");
    click(&tab, "#others");
    click(&tab, "#change");
    let notice = text_of(&tab, "p.notice");
    assert!(notice.contains("password was changed"), "{notice}");
    let (status, body) = refresh(&two["refresh_token"]);
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(grant(&s, &c, "correct horse", &codes[4]).0, 400);
    assert_eq!(grant(&s, &c, "battery staple", &codes[4]).0, 200);
}
