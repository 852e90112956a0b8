//! Server-rendered pages: templates (embedded, each overridable from
//! `pages.templates_dir` so an operator can brand them), the security
//! headers every page sends, and the CSRF check every form carries.

use std::path::Path;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use minijinja::Environment;
use portcullis_core::tokens::derive;
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::state::AppState;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("otp.html", include_str!("../templates/otp.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    (
        "form_post.html",
        include_str!("../templates/form_post.html"),
    ),
    ("device.html", include_str!("../templates/device.html")),
    (
        "device_consent.html",
        include_str!("../templates/device_consent.html"),
    ),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "logged_out.html",
        include_str!("../templates/logged_out.html"),
    ),
    (
        "account_nav.html",
        include_str!("../templates/account_nav.html"),
    ),
    ("account.html", include_str!("../templates/account.html")),
    (
        "account_totp.html",
        include_str!("../templates/account_totp.html"),
    ),
    (
        "account_codes.html",
        include_str!("../templates/account_codes.html"),
    ),
    (
        "account_password.html",
        include_str!("../templates/account_password.html"),
    ),
    (
        "account_sessions.html",
        include_str!("../templates/account_sessions.html"),
    ),
    (
        "account_consents.html",
        include_str!("../templates/account_consents.html"),
    ),
    (
        "account_tokens.html",
        include_str!("../templates/account_tokens.html"),
    ),
    ("admin.html", include_str!("../templates/admin.html")),
    (
        "account_passkeys.html",
        include_str!("../templates/account_passkeys.html"),
    ),
    ("passkeys.js", include_str!("../templates/passkeys.js")),
];

/// The template set: built-in pages, replaced file by file by those found
/// in `dir`.
pub fn environment(dir: Option<&Path>) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    for (name, builtin) in TEMPLATES {
        let source = match dir.map(|d| d.join(name)) {
            Some(path) if path.is_file() => {
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?
            }
            _ => (*builtin).to_string(),
        };
        env.add_template_owned(*name, source)
            .map_err(|e| format!("template {name}: {e}"))?;
    }
    Ok(env)
}

/// Content-Security-Policy of every page: nothing but inline styles, no
/// framing (clickjacking), no base-uri games.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/// A rendered page with the security headers.
pub fn page(state: &AppState, status: StatusCode, name: &str, ctx: impl Serialize) -> HttpResponse {
    let body = state
        .templates
        .get_template(name)
        .and_then(|t| t.render(ctx));
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(template = name, cause = %e, "page failed to render");
            return HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("server_error");
        }
    };
    let mut res = HttpResponse::build(status);
    secure(&mut res);
    res.content_type("text/html; charset=utf-8").body(body)
}

/// The headers every browser-facing answer carries (pages and redirects).
pub fn secure(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header(("Content-Security-Policy", CSP))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Cache-Control", "no-store"));
}

/// A `Retry-After` header of `secs` seconds on a refusal.
pub fn retry_after(res: &mut HttpResponse, secs: i64) {
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut()
            .insert(actix_web::http::header::RETRY_AFTER, v);
    }
}

/// The page for a failure of ours: the cause goes to the log (under the
/// request id), never to the browser.
pub fn server_error_page(
    state: &AppState,
    what: &str,
    cause: impl std::fmt::Display,
) -> HttpResponse {
    tracing::error!(cause = %cause, page = what, "page failed");
    error_page(
        state,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again later.",
        Some("server_error"),
    )
}

/// [`page`] for a page that runs a script of ours (`passkeys.js`, which
/// the template includes inline as `<script nonce="{{ nonce }}">`): a
/// fresh nonce in the context and in the page's CSP, the only script the
/// page may run.
pub fn page_with_script(
    state: &AppState,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
) -> HttpResponse {
    let nonce = portcullis_core::secret::random_token(&mut crate::crypto::OsRandom, 16);
    let ctx = minijinja::context! { nonce => nonce.clone(), ..ctx };
    let mut res = page(state, status, name, ctx);
    allow_script(&mut res, &nonce, "");
    res
}

/// [`page_with_script`] when `script`, else [`page`].
pub fn page_maybe_script(
    state: &AppState,
    status: StatusCode,
    name: &str,
    ctx: minijinja::Value,
    script: bool,
) -> HttpResponse {
    if script {
        page_with_script(state, status, name, ctx)
    } else {
        page(state, status, name, ctx)
    }
}

/// Add `script-src 'nonce-…'` (and `extra` directives) to a rendered
/// page's CSP; a failed render keeps the strict one.
fn allow_script(res: &mut HttpResponse, nonce: &str, extra: &str) {
    if res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        != Some("text/html; charset=utf-8")
    {
        return;
    }
    let csp = format!("{CSP}; script-src 'nonce-{nonce}'{extra}");
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&csp) {
        res.headers_mut()
            .insert(actix_web::http::header::CONTENT_SECURITY_POLICY, v);
    }
}

/// OAuth 2.0 Form Post Response Mode §2: the authorization response as
/// hidden fields of a form that a script posts to the client's redirect URI
/// at once (a button when scripts are off). The page's CSP allows that one
/// script by a fresh nonce, and form submission only to `action`.
pub fn form_post(
    state: &AppState,
    action: &str,
    fields: Vec<(&'static str, String)>,
    cookies: Vec<Cookie<'static>>,
) -> HttpResponse {
    let nonce = portcullis_core::secret::random_token(&mut crate::crypto::OsRandom, 16);
    let mut res = page(
        state,
        StatusCode::OK,
        "form_post.html",
        minijinja::context! { action, fields, nonce },
    );
    if res.status() == StatusCode::OK {
        let extra = format!("; form-action {}", form_origin(action));
        allow_script(&mut res, &nonce, &extra);
    }
    for c in cookies {
        let _ = res.add_cookie(&c);
    }
    res
}

/// The CSP source of a redirect URI: its origin (a custom scheme: the
/// scheme alone).
fn form_origin(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) if u.has_host() => u.origin().ascii_serialization(),
        Ok(u) => format!("{}:", u.scheme()),
        Err(_) => "'none'".into(),
    }
}

/// An error page (never a redirect).
pub fn error_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    code: Option<&str>,
) -> HttpResponse {
    page(
        state,
        status,
        "error.html",
        minijinja::context! { title, message, code },
    )
}

/// A 303 to `location` with the security headers and extra cookies.
pub fn redirect(location: &str, cookies: Vec<Cookie<'static>>) -> HttpResponse {
    let mut res = HttpResponse::SeeOther();
    secure(&mut res);
    res.insert_header(("Location", location.to_string()));
    for c in cookies {
        res.cookie(c);
    }
    res.finish()
}

pub const CSRF_COOKIE: &str = "portcullis_csrf";
pub const SESSION_COOKIE: &str = "portcullis_session";

/// A cookie of ours: HttpOnly, SameSite=Lax, Secure when the issuer is
/// https, scoped to the issuer's path.
pub fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    max_age: Option<i64>,
) -> Cookie<'static> {
    let path = match state.issuer.path() {
        "" => "/".to_string(),
        p => format!("/{p}"),
    };
    let mut c = Cookie::build(name, value)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.issuer.is_https())
        .path(path)
        .finish();
    if let Some(secs) = max_age {
        c.set_max_age(actix_web::cookie::time::Duration::seconds(secs));
    }
    c
}

/// The CSRF token for a page: an HMAC of the browser's CSRF cookie, and the
/// cookie to set when the browser has none yet.
pub fn csrf(req: &HttpRequest, state: &AppState) -> (String, Option<Cookie<'static>>) {
    match req
        .cookie(CSRF_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() >= 32)
    {
        Some(v) => (derive(&state.derive_key, "csrf", &v), None),
        None => {
            let v = portcullis_core::secret::random_token(&mut crate::crypto::OsRandom, 32);
            (
                derive(&state.derive_key, "csrf", &v),
                Some(cookie(state, CSRF_COOKIE, v, None)),
            )
        }
    }
}

/// Does the form's `csrf` field match the browser's cookie?
pub fn csrf_ok(req: &HttpRequest, state: &AppState, presented: Option<&str>) -> bool {
    let (Some(cookie), Some(presented)) = (req.cookie(CSRF_COOKIE), presented) else {
        return false;
    };
    let expected = derive(&state.derive_key, "csrf", cookie.value());
    expected.as_bytes().ct_eq(presented.as_bytes()).into()
}

/// Plain words for a scope on the consent page.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "Sign you in with your account".into(),
        "profile" => "See your username".into(),
        "email" => "See your e-mail address".into(),
        "offline_access" => "Stay connected when you are away (refresh tokens)".into(),
        "admin" => "Administer this server".into(),
        other => format!("Access \u{201c}{other}\u{201d}"),
    }
}
