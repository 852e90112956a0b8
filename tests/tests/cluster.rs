//! Two nodes on one database, the way to outgrow one machine: started at
//! the same moment (migrations must not race), a token issued on one is
//! good on the other, a revocation on one holds on the other at the next
//! request (revocation state is never cached), concurrent refreshes of one
//! token across both give one successor, a browser sign-in works whichever
//! node answers each step, and a rotated key is published by both before
//! either signs with it. Runs on PostgreSQL (the multi-node setup) and on
//! a shared SQLite file.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine;
use portcullis_e2e::{
    add_client, add_user, browser_like, databases, location_params, param, submit, Server,
    TestClient, TestDb,
};
use serde_json::Value;
use sha2::Digest;

const ISSUER: &str = "http://auth.cluster.test";

/// Two nodes of one deployment (one issuer), started at the same moment
/// on a database nobody has migrated yet.
fn two_nodes(db: &TestDb, extra: &[(&str, &str)]) -> (Server, Server) {
    let mut env = vec![("PORTCULLIS_ISSUER", ISSUER)];
    env.extend_from_slice(extra);
    std::thread::scope(|s| {
        let a = s.spawn(|| Server::start_with(db, &[], &env));
        let b = s.spawn(|| Server::start_with(db, &[], &env));
        (a.join().unwrap(), b.join().unwrap())
    })
}

fn active(s: &Server, c: &TestClient, token: &str) -> bool {
    let (status, body) = s.introspect(Some(c), &[("token", token)]);
    assert_eq!(status, 200, "{body}");
    body["active"] == true
}

#[test]
fn tokens_and_revocations_cross_nodes_at_once() {
    for db in databases() {
        let (a, b) = two_nodes(&db, &[]);
        for format in ["jwt", "opaque"] {
            let c = add_client(
                &db,
                &[
                    "--grant-type",
                    "client_credentials",
                    "--access-token-format",
                    format,
                ],
            );
            let (status, body) = a.token(Some(&c), &[("grant_type", "client_credentials")]);
            assert_eq!(status, 200, "{body}");
            let token = body["access_token"].as_str().unwrap();
            assert!(
                active(&b, &c, token),
                "{format} token issued on a, seen on b"
            );
            let (status, _) = b.revoke(Some(&c), &[("token", token)]);
            assert_eq!(status, 200);
            // The very next request on the other node sees the revocation.
            assert!(
                !active(&a, &c, token),
                "{format} revoked on b, still active on a"
            );
        }
    }
}

#[test]
fn concurrent_refreshes_across_both_nodes_give_one_successor() {
    for db in databases() {
        let (a, b) = two_nodes(&db, &[]);
        let c = add_client(
            &db,
            &[
                "--grant-type",
                "password",
                "--grant-type",
                "refresh_token",
                "--scope",
                "api",
            ],
        );
        add_user(&db, "nina", "pw", &[]);
        let (status, first) = a.token(
            Some(&c),
            &[
                ("grant_type", "password"),
                ("username", "nina"),
                ("password", "pw"),
            ],
        );
        assert_eq!(status, 200, "{first}");
        let rt = first["refresh_token"].as_str().unwrap().to_string();
        let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..30)
                .map(|i| {
                    let node = if i % 2 == 0 { &a } else { &b };
                    let (c, rt) = (&c, &rt);
                    scope.spawn(move || {
                        node.token(
                            Some(c),
                            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (status, body) in &answers {
            assert!(
                *status == 200 || body["error"] == "invalid_grant",
                "{status} {body}"
            );
        }
        let successors: BTreeSet<&str> = answers
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, b)| b["refresh_token"].as_str().unwrap())
            .collect();
        assert_eq!(successors.len(), 1, "one successor across both nodes");
        let next = successors.into_iter().next().unwrap();
        let (status, body) = b.token(
            Some(&c),
            &[("grant_type", "refresh_token"), ("refresh_token", next)],
        );
        assert_eq!(status, 200, "{body}");
    }
}

#[test]
fn a_browser_sign_in_works_whichever_node_answers_each_step() {
    const VERIFIER: &str = "cluster-verifier-0123456789-abcdefghijklmnopqrstuv";
    for db in databases() {
        let (a, b) = two_nodes(&db, &[]);
        let c = add_client(
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
        add_user(&db, "olga", "pw", &[]);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
        let url = reqwest::Url::parse_with_params(
            &a.url("/oauth/authorize"),
            &[
                ("response_type", "code"),
                ("client_id", c.id.as_str()),
                ("redirect_uri", "http://127.0.0.1:4000/cb"),
                ("scope", "openid"),
                ("state", "s1"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ],
        )
        .unwrap();
        // One cookie jar for both nodes (same host, as behind a load balancer).
        let http = browser_like();
        let page = http.get(url).send().unwrap();
        assert_eq!(page.status(), 200);
        // The sign-in form goes to b, the consent to a, the token to b.
        let consent = submit(
            &http,
            &b.base,
            &page.text().unwrap(),
            "/oauth/authorize/login",
            &[("username", "olga"), ("password", "pw")],
        );
        let html = consent.text().unwrap();
        assert!(
            html.contains("value=\"approve\""),
            "consent page expected: {html}"
        );
        let done = submit(
            &http,
            &a.base,
            &html,
            "/oauth/authorize/consent",
            &[("consent", "approve")],
        );
        assert_eq!(done.status(), 303);
        let params = location_params(&done);
        assert_eq!(param(&params, "iss"), Some(ISSUER));
        let code = param(&params, "code").expect("a code");
        let (status, body) = b.token(
            Some(&c),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", "http://127.0.0.1:4000/cb"),
                ("code_verifier", VERIFIER),
            ],
        );
        assert_eq!(status, 200, "{body}");
        assert!(body["id_token"].is_string());
    }
}

fn kids(s: &Server) -> BTreeSet<String> {
    s.get_json("/oauth/jwks")["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_rotated_key_is_published_on_both_nodes_before_either_signs_with_it() {
    for db in databases() {
        let (a, b) = two_nodes(
            &db,
            &[
                ("PORTCULLIS_KEYS__RELOAD_INTERVAL_SECS", "1"),
                ("PORTCULLIS_KEYS__PROPAGATION_DELAY_SECS", "3"),
            ],
        );
        let c = add_client(&db, &["--grant-type", "client_credentials"]);
        let before = kids(&a);
        // The CLI runs with the nodes' settings (the same propagation delay).
        let out = portcullis_e2e::command()
            .args([
                "--database-url",
                &db.url,
                "keys",
                "rotate",
                "--alg",
                "RS256",
            ])
            .env("PORTCULLIS_KEYS__PROPAGATION_DELAY_SECS", "3")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
        let new_kid = rotated["rotated"][0]["kid"].as_str().unwrap().to_string();
        assert!(!before.contains(&new_kid));
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut signed_with_new = 0;
        while signed_with_new < 2 {
            assert!(Instant::now() < deadline, "the new key never signed");
            for node in [&a, &b] {
                let (status, body) = node.token(Some(&c), &[("grant_type", "client_credentials")]);
                assert_eq!(status, 200);
                let jwt = body["access_token"].as_str().unwrap();
                let kid = jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap();
                if kid == new_kid {
                    // Whoever signs with it first, both already publish it.
                    assert!(kids(&a).contains(&new_kid), "a signs/publishes too late");
                    assert!(kids(&b).contains(&new_kid), "b signs/publishes too late");
                    signed_with_new += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
