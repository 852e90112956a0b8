//! `/metrics` against the real binary: what a Prometheus scrape sees after
//! a few grants, errors and failed logins; and the separate listener that
//! keeps it off the public port.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use portcullis_e2e::{add_client, add_user, command, databases, Server, TestDb};

/// The value of the one sample line starting with `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
}

#[test]
fn metrics_count_requests_grants_errors_and_login_failures() {
    for db in databases() {
        let s = Server::start(&db);
        let client = add_client(
            &db,
            &[
                "--grant-type",
                "client_credentials",
                "--grant-type",
                "password",
            ],
        );
        add_user(&db, "ann", "correct horse battery", &[]);
        for _ in 0..3 {
            let (status, _) = s.token(Some(&client), &[("grant_type", "client_credentials")]);
            assert_eq!(status, 200);
        }
        let wrong = portcullis_e2e::TestClient {
            id: client.id.clone(),
            secret: Some("wrong".into()),
        };
        let (status, body) = s.token(Some(&wrong), &[("grant_type", "client_credentials")]);
        assert_eq!(status, 401, "{body}");
        let (status, body) = s.token(
            Some(&client),
            &[
                ("grant_type", "password"),
                ("username", "ann"),
                ("password", "nope"),
            ],
        );
        assert_eq!(status, 400, "{body}");

        let res = s.get("/metrics");
        assert_eq!(res.status(), 200);
        let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        let text = res.text().unwrap();

        assert_eq!(
            sample(
                &text,
                "portcullis_tokens_issued_total{grant_type=\"client_credentials\"}"
            ),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "portcullis_http_requests_total{endpoint=\"/oauth/token\",method=\"POST\",status=\"200\"}"),
            Some(3.0)
        );
        assert_eq!(
            sample(
                &text,
                "portcullis_oauth_errors_total{endpoint=\"/oauth/token\",error=\"invalid_client\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "portcullis_oauth_errors_total{endpoint=\"/oauth/token\",error=\"invalid_grant\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "portcullis_login_failures_total{via=\"password_grant\"}"
            ),
            Some(1.0)
        );
        // The latency histogram by grant type: four client_credentials requests.
        let cc = "endpoint=\"/oauth/token\",grant_type=\"client_credentials\"";
        assert_eq!(
            sample(
                &text,
                &format!("portcullis_http_request_duration_seconds_count{{{cc}}}")
            ),
            Some(4.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("portcullis_http_request_duration_seconds_bucket{{{cc},le=\"+Inf\"}}")
            ),
            Some(4.0)
        );
        let max = sample(&text, "portcullis_db_pool_max_connections").unwrap();
        let in_use = sample(&text, "portcullis_db_pool_connections{state=\"in_use\"}").unwrap();
        let idle = sample(&text, "portcullis_db_pool_connections{state=\"idle\"}").unwrap();
        assert!(
            max >= 1.0 && in_use + idle <= max,
            "{in_use} + {idle} <= {max}"
        );
        // Unknown paths count under one label, not one series per path.
        s.get("/no/such/path/1");
        s.get("/no/such/path/2");
        let text = s.get("/metrics").text().unwrap();
        assert_eq!(
            sample(&text, "portcullis_http_requests_total{endpoint=\"unmatched\",method=\"GET\",status=\"404\"}"),
            Some(2.0)
        );
    }
}

#[test]
fn metrics_bind_moves_metrics_off_the_public_port() {
    let db = TestDb::sqlite();
    let mut child = command()
        .args(["--database-url", &db.url, "serve", "--bind", "127.0.0.1:0"])
        .env("PORTCULLIS_METRICS__BIND", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: serde_json::Value = serde_json::from_str(&line).unwrap();
    let public = started["listening"].as_str().unwrap().to_string();
    let metrics = started["metrics"].as_str().unwrap().to_string();
    assert_ne!(public, metrics);
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let on_public = http.get(format!("http://{public}/metrics")).send().unwrap();
    assert_eq!(on_public.status(), 404);
    let there = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .unwrap();
    assert_eq!(there.status(), 200);
    assert!(there
        .text()
        .unwrap()
        .contains("portcullis_db_pool_max_connections"));
    let other = http
        .get(format!("http://{metrics}/oauth/jwks"))
        .send()
        .unwrap();
    assert_eq!(
        other.status(),
        404,
        "the metrics listener serves nothing else"
    );
    let _ = child.kill();
    let _ = child.wait();
}
