//! Property tests (proptest): scope sets, redirect URI matching, PKCE, and a
//! model of token families (issue, refresh, retry within the grace window,
//! reuse after it, revoke): after a reuse past the window nothing in that
//! family is active.

use proptest::prelude::*;

use crate::access::{resolve, TokenRef};
use crate::clients::ClientSpec;
use crate::model::{GrantType, Scopes, TokenFormat};
use crate::pkce;
use crate::redirect::match_redirect;
use crate::testing::*;
use crate::tokens::Outcome;

fn scope_token() -> impl Strategy<Value = String> {
    // RFC 6749 §3.3 scope-token characters, no space.
    proptest::string::string_regex("[!#-\\[\\]-~]{1,12}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn scopes_are_order_and_duplicate_free(tokens in prop::collection::vec(scope_token(), 0..8)) {
        let joined = tokens.join(" ");
        let s = Scopes::parse(&joined).unwrap();
        let mut reversed = tokens.clone();
        reversed.reverse();
        prop_assert_eq!(&s, &Scopes::parse(&reversed.join("  ")).unwrap());
        // the canonical form parses back to itself
        prop_assert_eq!(&Scopes::parse(&s.to_string()).unwrap(), &s);
        for t in &tokens {
            prop_assert!(s.contains(t));
        }
        prop_assert!(s.is_subset(&s));
    }

    #[test]
    fn scope_intersection_is_within_both(a in prop::collection::vec(scope_token(), 0..6), b in prop::collection::vec(scope_token(), 0..6)) {
        let (a, b) = (Scopes::parse(&a.join(" ")).unwrap(), Scopes::parse(&b.join(" ")).unwrap());
        let i = a.intersection(&b);
        prop_assert!(i.is_subset(&a) && i.is_subset(&b));
    }

    #[test]
    fn redirect_matching_never_accepts_an_unregistered_https_uri(path in "[a-z]{1,8}", suffix in "[a-zA-Z0-9/?=&.#:-]{1,12}") {
        let registered = vec![format!("https://app.example/{path}")];
        let requested = format!("{}{suffix}", registered[0]);
        prop_assert_eq!(match_redirect(&registered, Some(&requested)), None);
        prop_assert_eq!(match_redirect(&registered, Some(&registered[0])), Some(registered[0].clone()));
    }

    #[test]
    fn loopback_redirects_match_on_any_port_and_nothing_else(port in 1u16..=65535, path in "[a-z]{1,8}", other in "[a-z]{1,8}") {
        let registered = vec![format!("http://127.0.0.1/{path}")];
        let on_port = format!("http://127.0.0.1:{port}/{path}");
        prop_assert_eq!(match_redirect(&registered, Some(&on_port)), Some(on_port.clone()));
        if other != path {
            let wrong_path = format!("http://127.0.0.1:{port}/{other}");
            prop_assert_eq!(match_redirect(&registered, Some(&wrong_path)), None);
        }
        let other_host = format!("http://127.0.0.2:{port}/{path}");
        prop_assert_eq!(match_redirect(&registered, Some(&other_host)), None);
    }

    #[test]
    fn pkce_accepts_exactly_its_verifier(v in "[A-Za-z0-9._~-]{43,128}", w in "[A-Za-z0-9._~-]{43,128}") {
        let challenge = pkce::s256(&v);
        prop_assert!(pkce::verify_s256(&v, &challenge));
        if v != w {
            prop_assert!(!pkce::verify_s256(&w, &challenge));
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Refresh,
    RetryWithinGrace,
    ReuseAfterGrace,
    Logout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![4 => Just(Op::Refresh), 2 => Just(Op::RetryWithinGrace), 1 => Just(Op::ReuseAfterGrace), 1 => Just(Op::Logout)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn token_families_follow_the_model(ops in prop::collection::vec(op(), 1..14)) {
        let mut h = Harness::default();
        let grace = h.policy.refresh_reuse_grace;
        let (client, _) = h.client(ClientSpec {
            name: "cli".into(),
            grant_types: Some(vec![GrantType::Password, GrantType::RefreshToken]),
            scope: Some(Scopes::parse("api").unwrap()),
            access_token_format: Some(TokenFormat::Opaque),
            ..Default::default()
        });
        let user = h.user("alice");
        let mut t = T0;
        let first = h.login(&client, &user, t);
        let mut access = vec![first.access_token.clone()];
        let mut current = first.refresh_token.clone().unwrap();
        // (token, the successor it yielded, the time it was used)
        let mut previous: Option<(String, String, i64)> = None;
        let mut dead = false;

        for op in ops {
            t += 1;
            match op {
                Op::Refresh => {
                    let p = params(&[("refresh_token", &current)]);
                    let r = h.at(t, |s, ctx, rng| crate::grants::refresh_token::handle(s, ctx, rng, &client, &p));
                    match (dead, r) {
                        (false, Ok(Outcome::Issued(tok))) => {
                            let next = tok.refresh_token.clone().unwrap();
                            access.push(tok.access_token);
                            previous = Some((current.clone(), next.clone(), t));
                            current = next;
                        }
                        (true, Err(e)) => prop_assert_eq!(e.code, crate::ErrorCode::InvalidGrant),
                        (dead, other) => prop_assert!(false, "refresh (family dead: {dead}) gave {other:?}"),
                    }
                }
                Op::RetryWithinGrace => {
                    // A retry of the token used last, still inside the window.
                    if let Some((old, next, used_at)) = previous.clone() {
                        if !dead && t - used_at <= grace && next == current {
                            let p = params(&[("refresh_token", &old)]);
                            let tok = issued(h.at(t, |s, ctx, rng| crate::grants::refresh_token::handle(s, ctx, rng, &client, &p)));
                            prop_assert_eq!(tok.refresh_token.as_deref(), Some(current.as_str()), "the same successor again");
                            prop_assert_eq!(Some(&tok.access_token), access.last(), "the same access token again");
                        }
                    }
                }
                Op::ReuseAfterGrace => {
                    if let Some((old, _, _)) = previous.clone() {
                        t += grace + 1;
                        let p = params(&[("refresh_token", &old)]);
                        let r = h.at(t, |s, ctx, rng| crate::grants::refresh_token::handle(s, ctx, rng, &client, &p));
                        match r {
                            Ok(Outcome::Denied { error, .. }) => prop_assert_eq!(error.code, crate::ErrorCode::InvalidGrant),
                            Err(e) => { prop_assert!(dead); prop_assert_eq!(e.code, crate::ErrorCode::InvalidGrant) }
                            other => prop_assert!(false, "reuse gave {other:?}"),
                        }
                        dead = true;
                    }
                }
                Op::Logout => {
                    let r = h.at(t, |s, _, rng| crate::sessions::logout(s, rng, &client, &current, t));
                    prop_assert!(r.is_ok());
                    dead = true;
                }
            }
        }
        // The model's verdict: a dead family has nothing active left.
        let still_live: Vec<bool> = access
            .iter()
            .map(|a| h.at(t, |s, _, _| resolve(s, TokenRef::Opaque(a), t)).unwrap().is_some())
            .collect();
        if dead {
            prop_assert!(still_live.iter().all(|l| !l), "an access token of a dead family is live");
            let p = params(&[("refresh_token", &current)]);
            let r = h.at(t, |s, ctx, rng| crate::grants::refresh_token::handle(s, ctx, rng, &client, &p));
            prop_assert!(r.is_err(), "the newest refresh token of a dead family still works");
        } else {
            prop_assert!(still_live.last().copied().unwrap_or(false), "the newest access token of a live family works");
        }
    }
}
