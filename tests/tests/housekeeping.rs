//! Housekeeping against the real binary: the janitor removes expired rows
//! (`portcullis janitor run`) and idle dynamic clients (in the background),
//! and signing keys rotate on their schedule, once per period even with two
//! nodes on one database, while tokens signed by the old key stay valid.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use portcullis_e2e::{add_client, cli_json, databases, Server};
use serde_json::{json, Value};

fn cc_token(s: &Server, client: &portcullis_e2e::TestClient) -> String {
    let (status, body) = s.token(Some(client), &[("grant_type", "client_credentials")]);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[test]
fn janitor_run_deletes_expired_tokens_and_keeps_live_ones() {
    for db in databases() {
        let short = Server::start_with(
            &db,
            &[],
            &[
                ("PORTCULLIS_TOKENS__ACCESS_TOKEN_LIFETIME_SECS", "1"),
                ("PORTCULLIS_JANITOR__INTERVAL_SECS", "0"),
            ],
        );
        let client = add_client(&db, &["--grant-type", "client_credentials"]);
        for _ in 0..3 {
            cc_token(&short, &client);
        }
        drop(short);
        let s = Server::start_with(&db, &[], &[("PORTCULLIS_JANITOR__INTERVAL_SECS", "0")]);
        let live = cc_token(&s, &client);
        std::thread::sleep(Duration::from_millis(2100));

        let out = cli_json(&db, &["janitor", "run"], "");
        assert_eq!(out["deleted"]["access_tokens"], 3, "{out}");
        // The live token still works; a second run finds nothing to do.
        let (_, intro) = s.introspect(Some(&client), &[("token", &live)]);
        assert_eq!(intro["active"], true, "{intro}");
        let again = cli_json(&db, &["janitor", "run"], "");
        assert_eq!(again["deleted"], json!({}), "{again}");
    }
}

#[test]
fn idle_dynamic_clients_are_removed_unless_they_hold_a_live_token() {
    for db in databases() {
        let s = Server::start_with(
            &db,
            &[],
            &[
                ("PORTCULLIS_JANITOR__INTERVAL_SECS", "1"),
                ("PORTCULLIS_JANITOR__DYNAMIC_CLIENT_IDLE_SECS", "2"),
            ],
        );
        let register = |body: Value| -> Value {
            let res = s
                .http
                .post(s.url("/oauth/register"))
                .json(&body)
                .send()
                .unwrap();
            assert_eq!(res.status(), 201);
            res.json().unwrap()
        };
        let idle = register(json!({"redirect_uris": ["http://127.0.0.1/cb"]}));
        let busy = register(json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
        }));
        let busy_client = portcullis_e2e::TestClient {
            id: busy["client_id"].as_str().unwrap().into(),
            secret: busy["client_secret"].as_str().map(String::from),
        };
        cc_token(&s, &busy_client);

        let read = |reg: &Value| -> u16 {
            s.http
                .get(reg["registration_client_uri"].as_str().unwrap())
                .bearer_auth(reg["registration_access_token"].as_str().unwrap())
                .send()
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(read(&idle), 200);
        let deadline = Instant::now() + Duration::from_secs(20);
        while read(&idle) == 200 {
            assert!(Instant::now() < deadline, "idle client never removed");
            std::thread::sleep(Duration::from_millis(250));
        }
        assert_eq!(read(&idle), 401);
        // Holding a live access token, the other one stays.
        assert_eq!(read(&busy), 200);
    }
}

/// kid -> (alg, created order) from the JWKS.
fn jwks(s: &Server) -> BTreeMap<String, String> {
    s.get_json("/oauth/jwks")["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_string(),
                k["alg"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn header_kid(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

#[test]
fn keys_rotate_on_schedule_once_per_period_across_two_nodes() {
    for db in databases() {
        // Two nodes of one deployment share one issuer.
        let env = [
            ("PORTCULLIS_ISSUER", "http://auth.test"),
            ("PORTCULLIS_KEYS__ROTATION_PERIOD_SECS", "5"),
            ("PORTCULLIS_KEYS__RELOAD_INTERVAL_SECS", "1"),
            ("PORTCULLIS_KEYS__PROPAGATION_DELAY_SECS", "1"),
        ];
        let a = Server::start_with(&db, &[], &env);
        let b = Server::start_with(&db, &[], &env);
        let client = add_client(&db, &["--grant-type", "client_credentials"]);
        let first = jwks(&a);
        assert_eq!(first.len(), 3, "{first:?}");
        let old_token = cc_token(&a, &client);
        let old_kid = header_kid(&old_token);
        assert!(first.contains_key(&old_kid));

        // Both nodes check every second; the rotation happens once.
        let deadline = Instant::now() + Duration::from_secs(30);
        while jwks(&a).len() < 6 {
            assert!(Instant::now() < deadline, "no scheduled rotation");
            std::thread::sleep(Duration::from_millis(200));
        }
        std::thread::sleep(Duration::from_millis(1500));
        let after = jwks(&b);
        let mut per_alg: BTreeMap<&str, usize> = BTreeMap::new();
        for alg in after.values() {
            *per_alg.entry(alg).or_default() += 1;
        }
        assert_eq!(
            per_alg,
            BTreeMap::from([("ES256", 2), ("EdDSA", 2), ("RS256", 2)]),
            "one rotation per algorithm, not one per node: {after:?}"
        );
        // Old keys stay published (their tokens live on) and old tokens work.
        assert!(first.keys().all(|k| after.contains_key(k)));
        let (_, intro) = b.introspect(Some(&client), &[("token", &old_token)]);
        assert_eq!(intro["active"], true, "{intro}");
        // After the propagation delay, both nodes sign with the new key.
        let deadline = Instant::now() + Duration::from_secs(10);
        for s in [&a, &b] {
            loop {
                let kid = header_kid(&cc_token(s, &client));
                if !first.contains_key(&kid) {
                    assert!(after.contains_key(&kid));
                    break;
                }
                assert!(Instant::now() < deadline, "still signing with {kid}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}
