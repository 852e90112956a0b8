//! The account pages (`/account/...`, docs/account.md) driven as a browser
//! without JavaScript would: TOTP enrolment with recovery codes (each used
//! once at sign-in, on the login API and on the password grant), ending
//! sessions, withdrawing a consent, changing the password, personal access
//! tokens, and the read-only admin page. SQLite and PostgreSQL.

use portcullis_e2e::{
    add_client, add_user, browser_like, databases, field, location_params, param, Server,
    TestClient, TestDb,
};
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn password_client(db: &TestDb) -> TestClient {
    add_client(
        db,
        &[
            "--grant-type",
            "password",
            "--grant-type",
            "refresh_token",
            "--scope",
            "openid profile email",
        ],
    )
}

/// POST an account form: the page's CSRF token and `fields`.
fn post(http: &Client, s: &Server, path: &str, html: &str, fields: &[(&str, &str)]) -> Response {
    let mut form = vec![(
        "csrf".to_string(),
        field(html, "csrf").expect("csrf on the page"),
    )];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    http.post(s.url(path)).form(&form).send().unwrap()
}

fn get(http: &Client, s: &Server, path: &str) -> (u16, String) {
    let res = http.get(s.url(path)).send().unwrap();
    (res.status().as_u16(), text(res))
}

/// A page's HTML with minijinja's escaped slashes put back.
fn text(res: Response) -> String {
    res.text().unwrap().replace("&#x2f;", "/")
}

/// Sign in to the account pages with a password; the 303 or the page.
fn sign_in(http: &Client, s: &Server, username: &str, password: &str) -> Response {
    let (status, html) = get(http, s, "/account");
    assert_eq!(status, 200);
    assert!(html.contains("/account/login"), "the sign-in form: {html}");
    post(
        http,
        s,
        "/account/login",
        &html,
        &[
            ("next", "/account"),
            ("username", username),
            ("password", password),
        ],
    )
}

fn signed_in(http: &Client, s: &Server, username: &str, password: &str) {
    let res = sign_in(http, s, username, password);
    assert_eq!(res.status(), 303, "{}", text(res));
    assert_eq!(res.headers()["location"], "/account");
}

fn password_grant(
    s: &Server,
    c: &TestClient,
    user: &str,
    pw: &str,
    otp: Option<&str>,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", user),
        ("password", pw),
        ("scope", "openid"),
    ];
    if let Some(o) = otp {
        form.push(("otp", o));
    }
    s.token(Some(c), &form)
}

fn refresh(s: &Server, c: &TestClient, rt: &str) -> (u16, Value) {
    s.token(
        Some(c),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
}

const VERIFIER: &str = "a-verifier-that-is-long-enough-for-pkce-0123456789";
const CALLBACK: &str = "http://127.0.0.1:4321/cb";

/// `app`'s authorization request for `scope` (PKCE S256 with [`VERIFIER`]).
fn authorize_url(s: &Server, app: &TestClient, scope: &str) -> reqwest::Url {
    use base64::Engine;
    use sha2::Digest;
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER));
    reqwest::Url::parse_with_params(
        &s.url("/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", app.id.as_str()),
            ("redirect_uri", CALLBACK),
            ("scope", scope),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap()
}

/// Approve `authorize` on the consent page of a browser that is signed
/// in already; the code.
fn approved_code(http: &Client, s: &Server, authorize: &reqwest::Url) -> String {
    let consent = http.get(authorize.clone()).send().unwrap().text().unwrap();
    assert!(
        consent.contains("value=\"approve\""),
        "signed in already: consent"
    );
    let done = portcullis_e2e::submit(
        http,
        &s.base,
        &consent,
        "/oauth/authorize/consent",
        &[("consent", "approve")],
    );
    param(&location_params(&done), "code").unwrap().to_string()
}

/// The token request that redeems `code` from [`approved_code`].
fn redeem(code: &str) -> [(&str, &str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ]
}

/// The text between `start` and the next `end`, after `after`.
fn between<'a>(html: &'a str, after: &str, start: &str, end: &str) -> &'a str {
    let from = html.find(after).unwrap_or(0);
    let i = html[from..].find(start).expect(start) + from + start.len();
    let j = html[i..].find(end).unwrap() + i;
    &html[i..j]
}

fn recovery_codes(html: &str) -> Vec<String> {
    let list = between(html, "id=\"recovery-codes\"", ">", "</ol>");
    list.split("<li>")
        .filter_map(|p| p.split("</li>").next())
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// Turn TOTP on from the account pages; (secret, recovery codes).
fn enrol(http: &Client, s: &Server) -> (String, Vec<String>) {
    let (status, html) = get(http, s, "/account/totp");
    assert_eq!(status, 200);
    assert!(html.contains("<svg"), "a QR code as inline SVG");
    let secret = between(&html, "id=\"secret\"", "data-secret=\"", "\"").to_string();
    let form = |code: &str| {
        vec![
            ("secret", secret.clone()),
            ("exp", field(&html, "exp").unwrap()),
            ("mac", field(&html, "mac").unwrap()),
            ("code", code.to_string()),
        ]
    };
    let wrong = form("000000");
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = post(http, s, "/account/totp", &html, &wrong);
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("not right"));
    // A secret of the attacker's choosing does not pass the MAC.
    let code = portcullis_core::totp::code_at(&secret, now()).unwrap();
    let mut forged = form(&code);
    forged[0].1 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into();
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(http, s, "/account/totp", &html, &forged).status(), 400);
    let good = form(&code);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = post(http, s, "/account/totp", &html, &good);
    assert_eq!(res.status(), 200);
    let codes = recovery_codes(&text(res));
    assert_eq!(codes.len(), 10, "{codes:?}");
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), 10);
    (secret, codes)
}

#[test]
fn totp_enrolment_and_recovery_codes_used_once_everywhere() {
    for db in databases() {
        let c = password_client(&db);
        add_user(&db, "alice", "correct horse", &[]);
        let s = Server::start(&db);
        let http = browser_like();
        signed_in(&http, &s, "alice", "correct horse");
        let (_, codes) = enrol(&http, &s);
        // The codes page is never shown again.
        let (_, page) = get(&http, &s, "/account/totp");
        assert!(
            !page.contains(&codes[0]) && page.contains("id=\"codes-left\">10<"),
            "{page}"
        );

        // The password grant now wants a second factor; a recovery code is one, once.
        let (status, body) = password_grant(&s, &c, "alice", "correct horse", None);
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (status, body) = password_grant(&s, &c, "alice", "correct horse", Some(&codes[0]));
        assert_eq!(status, 200, "{body}");
        let (status, body) = password_grant(&s, &c, "alice", "correct horse", Some(&codes[0]));
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        // Upper case, without dashes: the same code, still spent.
        let loud = codes[0].replace('-', "").to_uppercase();
        assert_eq!(
            password_grant(&s, &c, "alice", "correct horse", Some(&loud)).0,
            400
        );

        // The login API.
        let login = |otp: &str| {
            s.http
                .post(s.url("/api/auth/login"))
                .json(&json!({"username": "alice", "password": "correct horse", "otp": otp}))
                .send()
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(login(&codes[1]), 200);
        assert_eq!(login(&codes[1]), 401);

        // The sign-in form (a second browser): the code step takes a recovery code once.
        for (attempt, want) in [(0, 303), (1, 200)] {
            let other = browser_like();
            let res = sign_in(&other, &s, "alice", "correct horse");
            assert_eq!(res.status(), 200, "attempt {attempt}");
            let html = text(res);
            assert!(html.contains("name=\"pending\""), "the code step");
            let res = post(
                &other,
                &s,
                "/account/otp",
                &html,
                &[
                    ("pending", &field(&html, "pending").unwrap()),
                    ("next", "/account/sessions"),
                    ("otp", &codes[2]),
                ],
            );
            assert_eq!(res.status(), want, "attempt {attempt}");
            if want == 303 {
                assert_eq!(res.headers()["location"], "/account/sessions");
                let (_, overview) = get(&other, &s, "/account");
                assert!(
                    overview.contains("on (7 recovery codes left)"),
                    "{overview}"
                );
                assert!(overview.contains("pwd, otp, mfa"), "{overview}");
            } else {
                assert!(text(res).contains("not right"));
            }
        }

        // New codes (password again): the old unused ones stop working.
        let (_, page) = get(&http, &s, "/account/totp");
        assert_eq!(
            post(
                &http,
                &s,
                "/account/totp/codes",
                &page,
                &[("password", "wrong")]
            )
            .status(),
            400
        );
        let res = post(
            &http,
            &s,
            "/account/totp/codes",
            &page,
            &[("password", "correct horse")],
        );
        let fresh = recovery_codes(&text(res));
        assert_eq!(fresh.len(), 10);
        assert_eq!(
            password_grant(&s, &c, "alice", "correct horse", Some(&codes[3])).0,
            400
        );
        assert_eq!(
            password_grant(&s, &c, "alice", "correct horse", Some(&fresh[3])).0,
            200
        );

        // Turning TOTP off asks for the password.
        let (_, page) = get(&http, &s, "/account/totp");
        let res = post(
            &http,
            &s,
            "/account/totp/disable",
            &page,
            &[("password", "wrong")],
        );
        assert_eq!(res.status(), 400);
        assert!(text(res).contains("Wrong password"));
        assert_eq!(
            password_grant(&s, &c, "alice", "correct horse", None).0,
            400
        );
        let res = post(
            &http,
            &s,
            "/account/totp/disable",
            &page,
            &[("password", "correct horse")],
        );
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/account?done=totp_off");
        assert_eq!(
            password_grant(&s, &c, "alice", "correct horse", None).0,
            200
        );
        assert_eq!(
            password_grant(&s, &c, "alice", "correct horse", Some(&fresh[4])).0,
            200,
            "otp ignored without TOTP"
        );
    }
}

#[test]
fn sessions_consents_password_change_tokens_and_admin() {
    for db in databases() {
        let c = password_client(&db);
        let app = add_client(
            &db,
            &[
                "--redirect-uri",
                "http://127.0.0.1/cb",
                "--grant-type",
                "authorization_code",
                "--grant-type",
                "refresh_token",
                "--scope",
                "openid offline_access",
            ],
        );
        add_user(&db, "bob", "old password", &[]);
        add_user(&db, "root", "root password", &["--admin"]);
        let s = Server::start(&db);

        // Pages: security headers; no CSRF token, no action.
        let http = browser_like();
        let res = http.get(s.url("/account/sessions")).send().unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert!(res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        let html = text(res);
        assert!(
            html.contains("value=\"/account/sessions\""),
            "returns to the page asked for"
        );
        let res = http
            .post(s.url("/account/sessions/end"))
            .form(&[("all", "on")])
            .send()
            .unwrap();
        assert_eq!(res.status(), 400);
        // An outside `next` is not followed.
        let res = post(
            &http,
            &s,
            "/account/login",
            &html,
            &[
                ("next", "https://evil.example/"),
                ("username", "bob"),
                ("password", "old password"),
            ],
        );
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/account");

        // Two password-grant sessions: end one from the list, its refresh token dies.
        let (_, one) = password_grant(&s, &c, "bob", "old password", None);
        let (_, two) = password_grant(&s, &c, "bob", "old password", None);
        let (sid1, sid2) = (
            one["session_state"].as_str().unwrap(),
            two["session_state"].as_str().unwrap(),
        );
        let (_, page) = get(&http, &s, "/account/sessions");
        assert!(page.contains(sid1) && page.contains(sid2), "{page}");
        let res = post(
            &http,
            &s,
            "/account/sessions/end",
            &page,
            &[("session", sid1)],
        );
        assert_eq!(res.status(), 303);
        let (status, body) = refresh(&s, &c, one["refresh_token"].as_str().unwrap());
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        assert_eq!(s.me_status(one["access_token"].as_str().unwrap()), 401);
        let (status, two) = refresh(&s, &c, two["refresh_token"].as_str().unwrap());
        assert_eq!(status, 200, "the other session lives on");
        let (_, page) = get(&http, &s, "/account/sessions");
        assert!(!page.contains(sid1) && page.contains(sid2));

        // Someone else's session id ends nothing.
        let (_, root_session) = password_grant(&s, &c, "root", "root password", None);
        let res = post(
            &http,
            &s,
            "/account/sessions/end",
            &page,
            &[("session", root_session["session_state"].as_str().unwrap())],
        );
        assert_eq!(res.status(), 303);
        assert_eq!(
            refresh(&s, &c, root_session["refresh_token"].as_str().unwrap()).0,
            200
        );

        // A consent through the authorization pages (same browser session), then withdrawn.
        let authorize = authorize_url(&s, &app, "openid offline_access");
        let code = approved_code(&http, &s, &authorize);
        let (status, tokens) = s.token(Some(&app), &redeem(&code));
        assert_eq!(status, 200, "{tokens}");
        let (_, page) = get(&http, &s, "/account/consents");
        assert!(
            page.contains(&format!("data-client=\"{}\"", app.id)),
            "{page}"
        );
        let res = post(
            &http,
            &s,
            "/account/consents/revoke",
            &page,
            &[("client", &app.id)],
        );
        assert_eq!(res.status(), 303);
        let (status, body) = refresh(&s, &app, tokens["refresh_token"].as_str().unwrap());
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (_, page) = get(&http, &s, "/account/consents");
        assert!(page.contains("id=\"no-consents\""));
        let again = http.get(authorize).send().unwrap().text().unwrap();
        assert!(again.contains("value=\"approve\""), "asked again");

        // Personal access tokens: created (shown once), disabled, enabled, deleted.
        let (_, page) = get(&http, &s, "/account/tokens");
        let res = post(
            &http,
            &s,
            "/account/tokens",
            &page,
            &[("name", "laptop"), ("scope", "admin"), ("days", "")],
        );
        assert_eq!(res.status(), 400, "admin scope is for administrators");
        let res = post(
            &http,
            &s,
            "/account/tokens",
            &page,
            &[("name", "laptop"), ("scope", "profile"), ("days", "30")],
        );
        assert_eq!(res.status(), 200);
        let html = text(res);
        let pat = between(&html, "id=\"new-token\"", ">", "<").to_string();
        assert!(pat.starts_with("pcp_"), "{pat}");
        assert_eq!(s.me_status(&pat), 200);
        let id = between(&html, "<tr data-token=", "\"", "\"").to_string();
        let (_, page) = get(&http, &s, "/account/tokens");
        assert!(!page.contains(&pat), "shown once");
        let res = post(
            &http,
            &s,
            "/account/tokens/change",
            &page,
            &[("id", &id), ("action", "disable")],
        );
        assert_eq!(res.status(), 303);
        assert_eq!(s.me_status(&pat), 401);
        post(
            &http,
            &s,
            "/account/tokens/change",
            &page,
            &[("id", &id), ("action", "enable")],
        );
        assert_eq!(s.me_status(&pat), 200);
        post(
            &http,
            &s,
            "/account/tokens/change",
            &page,
            &[("id", &id), ("action", "delete")],
        );
        assert_eq!(s.me_status(&pat), 401);
        let (_, page) = get(&http, &s, "/account/tokens");
        assert!(page.contains("id=\"no-tokens\""));

        // The admin page: administrators only.
        assert_eq!(get(&http, &s, "/admin").0, 403);
        let admin = browser_like();
        let (status, html) = get(&admin, &s, "/admin");
        assert_eq!(status, 200);
        let res = post(
            &admin,
            &s,
            "/account/login",
            &html,
            &[
                ("next", "/admin"),
                ("username", "root"),
                ("password", "root password"),
            ],
        );
        assert_eq!(res.headers()["location"], "/admin");
        let (status, html) = get(&admin, &s, "/admin");
        assert_eq!(status, 200);
        assert!(
            html.contains("<td>bob</td>") && html.contains(&app.id) && html.contains(sid2),
            "{html}"
        );

        // Password change: checks, then every other session ends.
        let elsewhere = browser_like();
        signed_in(&elsewhere, &s, "bob", "old password");
        let (_, page) = get(&http, &s, "/account/password");
        let change = |current: &str, new: &str, confirm: &str| {
            post(
                &http,
                &s,
                "/account/password",
                &page,
                &[
                    ("current", current),
                    ("new", new),
                    ("confirm", confirm),
                    ("others", "on"),
                ],
            )
        };
        assert_eq!(change("nope", "new password", "new password").status(), 400);
        assert_eq!(
            change("old password", "new password", "other").status(),
            400
        );
        assert_eq!(change("old password", "short", "short").status(), 400);
        let res = change("old password", "new password", "new password");
        assert_eq!(res.status(), 303);
        let back = res.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(back, "/account?done=password");
        assert_eq!(password_grant(&s, &c, "bob", "old password", None).0, 400);
        assert_eq!(password_grant(&s, &c, "bob", "new password", None).0, 200);
        let (status, body) = refresh(&s, &c, two["refresh_token"].as_str().unwrap());
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        let (_, html) = get(&elsewhere, &s, "/account");
        assert!(
            html.contains("/account/login"),
            "the other browser is signed out"
        );
        let (_, html) = get(&http, &s, &back);
        assert!(
            html.contains("Your password was changed."),
            "this one is not"
        );
        assert_eq!(
            refresh(&s, &c, root_session["refresh_token"].as_str().unwrap()).0,
            200,
            "other users untouched"
        );

        // Sign out.
        let res = post(&http, &s, "/account/logout", &html, &[]);
        assert_eq!(res.status(), 303);
        let (_, html) = get(&http, &s, "/account");
        assert!(html.contains("/account/login"));
    }
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";
const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const TV: &str = "tv-box/2.0 (living room) <b>x</b>";

/// A browser without JavaScript that names itself `ua`.
fn browser_named(ua: &str) -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(ua)
        .build()
        .unwrap()
}

/// POST /oauth/token from software that names itself `ua`.
fn token_as(s: &Server, ua: &str, c: &TestClient, form: &[(&str, &str)]) -> Value {
    let res = browser_named(ua)
        .post(s.url("/oauth/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(form)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().unwrap()
}

/// The row of the sessions page for session `sid`.
fn session_row<'a>(page: &'a str, sid: &str) -> &'a str {
    between(page, &format!("data-session=\"{sid}\""), ">", "</tr>")
}

#[test]
fn sessions_and_browsers_show_the_device_they_started_from() {
    for db in databases() {
        let ops = add_client(
            &db,
            &["--grant-type", "password", "--scope", "openid admin"],
        );
        let app = add_client(
            &db,
            &[
                "--redirect-uri",
                "http://127.0.0.1/cb",
                "--grant-type",
                "authorization_code",
                "--scope",
                "openid",
            ],
        );
        let (bob_id, _) = add_user(&db, "bob", "pw", &[]);
        add_user(&db, "root", "root pw", &["--admin"]);
        let s = Server::start(&db);
        let password = |ua: &str, user: &str, pw: &str, scope: &str| {
            let form = [
                ("grant_type", "password"),
                ("username", user),
                ("password", pw),
                ("scope", scope),
            ];
            token_as(&s, ua, &ops, &form)
        };

        // Bob signs in with Firefox, and on a second browser.
        let http = browser_named(FIREFOX);
        signed_in(&http, &s, "bob", "pw");
        let other = browser_named(CHROME_WINDOWS);
        signed_in(&other, &s, "bob", "pw");

        // A password grant from a TV box: shown as that software, escaped.
        let tv = password(TV, "bob", "pw", "openid");
        let tv_sid = tv["session_state"].as_str().unwrap();
        // A User-Agent with a control character, over 200 characters.
        let long = format!("long\tagent/{}", "x".repeat(300));
        let kept: String = long.replace('\t', "").chars().take(200).collect();
        let long_sid = password(&long, "bob", "pw", "openid")["session_state"]
            .as_str()
            .unwrap()
            .to_string();

        // The code flow in Firefox, redeemed by the app's HTTP library: the
        // session is shown as the browser that signed in.
        let code = approved_code(&http, &s, &authorize_url(&s, &app, "openid"));
        let tokens = token_as(&s, "app-http/1.0", &app, &redeem(&code));
        let code_sid = tokens["session_state"].as_str().unwrap();

        let (status, page) = get(&http, &s, "/account/sessions");
        assert_eq!(status, 200);
        let row = session_row(&page, tv_sid);
        assert!(
            row.contains("tv-box/2.0 (living room) &lt;b&gt;x&lt;/b&gt;"),
            "{row}"
        );
        assert!(!page.contains("<b>x</b>"), "escaped");
        let row = session_row(&page, code_sid);
        assert!(row.contains(">Firefox on Linux<"), "{row}");
        assert!(row.contains(&format!("title=\"{FIREFOX}\"")), "{row}");
        assert!(!row.contains("app-http"), "{row}");
        assert!(session_row(&page, &long_sid).contains(&kept));

        // The signed-in browsers, this one marked.
        let browsers = between(&page, "id=\"browsers\"", ">", "</table>");
        let current = between(browsers, "class=\"current\"", ">", "</tr>");
        assert!(current.contains(">Firefox on Linux<"), "{browsers}");
        assert!(current.contains("this browser"), "{browsers}");
        assert!(browsers.contains(">Chrome on Windows<"), "{browsers}");
        assert_eq!(browsers.matches("this browser").count(), 1);

        // The admin API gives the stored User-Agent.
        let admin = password("admin-cli", "root", "root pw", "admin");
        let listed: Value = s
            .http
            .get(s.url(&format!("/admin/api/users/{bob_id}/sessions")))
            .bearer_auth(admin["access_token"].as_str().unwrap())
            .send()
            .unwrap()
            .json()
            .unwrap();
        let agent_of = |sid: &str| {
            listed["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == sid)
                .map(|i| i["user_agent"].clone())
                .unwrap_or_else(|| panic!("{sid} listed: {listed}"))
        };
        assert_eq!(agent_of(tv_sid), TV);
        assert_eq!(agent_of(code_sid), FIREFOX);
        assert_eq!(agent_of(&long_sid), kept.as_str());

        // Ending every session signs the other browser out: it leaves the list.
        let res = post(&http, &s, "/account/sessions/end", &page, &[("all", "on")]);
        assert_eq!(res.status(), 303);
        let (_, page) = get(&http, &s, "/account/sessions");
        let browsers = between(&page, "id=\"browsers\"", ">", "</table>");
        assert!(!browsers.contains("Chrome on Windows"), "{browsers}");
        assert!(browsers.contains("this browser"), "{browsers}");
        let (_, other_page) = get(&other, &s, "/account/sessions");
        assert!(other_page.contains("/account/login"), "signed out");
    }
}
