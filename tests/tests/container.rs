//! The container files, checked without a container engine (none runs
//! here): `docker-compose.yml` parses, its services, ports, health checks
//! and environment agree with the documented configuration and with each
//! other, and the real binary starts with exactly that environment; the
//! `Dockerfile` is multi-stage and runs as a non-root user.

use std::collections::BTreeMap;
use std::path::PathBuf;

use portcullis_e2e::{databases, Server};
use serde_yaml::Value;

fn repo_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compose() -> Value {
    serde_yaml::from_str(&repo_file("docker-compose.yml")).expect("docker-compose.yml parses")
}

fn env_of(service: &Value) -> BTreeMap<String, String> {
    service["environment"]
        .as_mapping()
        .expect("environment is a mapping")
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => panic!("{k:?}: unexpected value {other:?}"),
            };
            (k.as_str().unwrap().to_string(), v)
        })
        .collect()
}

#[test]
fn compose_services_ports_and_environment_match_the_configuration() {
    let doc = compose();
    let services = doc["services"].as_mapping().expect("services");
    let names: Vec<&str> = services.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names, vec!["postgres", "portcullis"]);
    let pg = &doc["services"]["postgres"];
    let app = &doc["services"]["portcullis"];

    // Every PORTCULLIS_* variable is one the configuration documents.
    let documented = repo_file("docs/configuration.md");
    let env = env_of(app);
    for key in env.keys() {
        assert!(key.starts_with("PORTCULLIS_"), "{key}");
        assert!(
            documented.contains(&format!("`{key}`")),
            "{key} is not a documented setting (docs/configuration.md)"
        );
    }

    // The database URL points at the postgres service with its credentials.
    let pg_env = env_of(pg);
    let url = url::Url::parse(&env["PORTCULLIS_DATABASE_URL"]).unwrap();
    assert_eq!(url.scheme(), "postgres");
    assert_eq!(url.host_str(), Some("postgres"), "host is the service name");
    assert_eq!(url.username(), pg_env["POSTGRES_USER"]);
    assert_eq!(url.password(), Some(pg_env["POSTGRES_PASSWORD"].as_str()));
    assert_eq!(url.path(), format!("/{}", pg_env["POSTGRES_DB"]));
    assert_eq!(
        app["depends_on"]["postgres"]["condition"].as_str(),
        Some("service_healthy")
    );

    // The published port is the port the server binds, on all interfaces.
    let bind = &env["PORTCULLIS_BIND"];
    let (host, port) = bind.rsplit_once(':').unwrap();
    assert_eq!(host, "0.0.0.0", "inside a container, bind every interface");
    let ports: Vec<&str> = app["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        ports.iter().any(|p| p.ends_with(&format!(":{port}"))),
        "{ports:?} publishes no port {port}"
    );
    // The issuer names the published address.
    let issuer = url::Url::parse(&env["PORTCULLIS_ISSUER"]).unwrap();
    let published = ports[0].rsplit_once(':').unwrap().0;
    assert_eq!(
        format!("{}:{}", issuer.host_str().unwrap(), issuer.port().unwrap()),
        published
    );

    // Health checks: pg_isready for the database, /readyz for the server.
    let pg_check = pg["healthcheck"]["test"].as_sequence().unwrap();
    assert!(pg_check
        .iter()
        .any(|t| t.as_str().unwrap().contains("pg_isready")));
    let app_check: Vec<&str> = app["healthcheck"]["test"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        app_check.contains(&format!("http://127.0.0.1:{port}/readyz").as_str()),
        "{app_check:?}"
    );
    assert!(doc["volumes"]["pgdata"].is_null() || doc["volumes"]["pgdata"].is_mapping());
}

#[test]
fn the_binary_starts_with_the_compose_environment() {
    // Only the database (a test database instead of the postgres service)
    // and the bind address (a free loopback port) change.
    let env = env_of(&compose()["services"]["portcullis"]);
    for db in databases() {
        let vars: Vec<(&str, &str)> = env
            .iter()
            .filter(|(k, _)| *k != "PORTCULLIS_DATABASE_URL" && *k != "PORTCULLIS_BIND")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let s = Server::start_with(&db, &[], &vars);
        assert_eq!(s.issuer, env["PORTCULLIS_ISSUER"]);
        let ready = s.get("/readyz");
        assert_eq!(ready.status(), 200);
        let meta = s.get_json("/.well-known/openid-configuration");
        assert_eq!(meta["issuer"], env["PORTCULLIS_ISSUER"].as_str());
    }
}

#[test]
fn dockerfile_is_multi_stage_and_runs_as_non_root() {
    let file = repo_file("Dockerfile");
    let froms = file.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(froms >= 2, "multi-stage: {froms} FROM lines");
    let user = file
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert_ne!(user.trim(), "root");
    assert_ne!(user.trim(), "0");
    let env = env_of(&compose()["services"]["portcullis"]);
    let port = env["PORTCULLIS_BIND"]
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    assert!(file.contains(&format!("EXPOSE {port}")), "EXPOSE {port}");
    assert!(
        file.contains("--locked"),
        "the image builds from Cargo.lock"
    );
    // The runtime stage carries what the compose health check runs.
    assert!(file.contains("curl"));
}
