//! Clients and a user, made with the `portcullis` CLI (it prints JSON), and
//! the database they live in: a SQLite file in the run's directory, or a
//! fresh PostgreSQL database that is dropped when the run ends.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::browser::{AUTHCODE_SCOPE, REDIRECT_URI};

/// The scope every bench client is registered with and asks for.
pub const SCOPE: &str = "api:read";
pub const USERNAME: &str = "bench";
pub const PASSWORD: &str = "bench-password-0123456789";

/// The peer's fixed client (server.mjs).
pub const PEER_CLIENT_ID: &str = "bench";
pub const PEER_CLIENT_SECRET: &str = "bench-secret-0123456789abcdef0123456789abcdef";

/// Which registered client a scenario uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientRole {
    CcOpaque,
    CcRs256,
    CcEs256,
    CcEdDsa,
    PasswordRefresh,
    /// A public client (no secret, PKCE) for the authorization code flow,
    /// with a loopback redirect URI.
    AuthCodePublic,
}

impl ClientRole {
    pub const ALL: [ClientRole; 6] = [
        ClientRole::CcOpaque,
        ClientRole::CcRs256,
        ClientRole::CcEs256,
        ClientRole::CcEdDsa,
        ClientRole::PasswordRefresh,
        ClientRole::AuthCodePublic,
    ];

    /// A public client has no secret.
    fn public(self) -> bool {
        self == ClientRole::AuthCodePublic
    }

    /// `portcullis client add` arguments.
    fn args(self) -> Vec<&'static str> {
        let cc = |name, format, alg: Option<&'static str>| {
            let mut v = vec![
                "--name",
                name,
                "--grant-type",
                "client_credentials",
                "--scope",
                SCOPE,
                "--access-token-format",
                format,
            ];
            if let Some(alg) = alg {
                v.extend(["--signing-alg", alg]);
            }
            v
        };
        match self {
            ClientRole::CcOpaque => cc("bench", "opaque", None),
            ClientRole::CcRs256 => cc("bench-rs256", "jwt", Some("RS256")),
            ClientRole::CcEs256 => cc("bench-es256", "jwt", Some("ES256")),
            ClientRole::CcEdDsa => cc("bench-eddsa", "jwt", Some("EdDSA")),
            ClientRole::PasswordRefresh => vec![
                "--name",
                "bench-password",
                "--grant-type",
                "password",
                "--grant-type",
                "refresh_token",
                "--scope",
                SCOPE,
                "--access-token-format",
                "opaque",
            ],
            ClientRole::AuthCodePublic => vec![
                "--name",
                "bench-authcode",
                "--public",
                "--redirect-uri",
                REDIRECT_URI,
                "--grant-type",
                "authorization_code",
                "--scope",
                AUTHCODE_SCOPE,
                "--access-token-format",
                "opaque",
            ],
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientCreds {
    pub id: String,
    /// Empty for a public client.
    pub secret: String,
}

impl ClientCreds {
    pub fn peer() -> ClientCreds {
        ClientCreds {
            id: PEER_CLIENT_ID.into(),
            secret: PEER_CLIENT_SECRET.into(),
        }
    }

    /// The value after `Basic ` (what cc.lua reads from `BASIC`).
    pub fn basic(&self) -> String {
        STANDARD.encode(format!("{}:{}", self.id, self.secret))
    }
}

pub struct Provisioned {
    pub clients: BTreeMap<ClientRole, ClientCreds>,
}

impl Provisioned {
    pub fn client(&self, role: ClientRole) -> Result<&ClientCreds> {
        self.clients
            .get(&role)
            .with_context(|| format!("client {role:?} was not provisioned"))
    }
}

/// Run one CLI command against the bench database; its stdout is JSON.
fn cli(bin: &Path, database_url: &str, args: &[&str], stdin: Option<&str>) -> Result<Value> {
    let mut cmd = Command::new(bin);
    cmd.arg("--database-url")
        .arg(database_url)
        .args(args)
        .env("PORTCULLIS_LOG_LEVEL", "warn")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("portcullis {}", args.join(" "));
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .with_context(|| format!("writing stdin of `{shown}`"))?;
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("waiting for `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "`{shown}` did not print JSON: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        )
    })
}

/// Apply migrations, then create the clients and the user.
pub fn provision(bin: &Path, database_url: &str) -> Result<Provisioned> {
    cli(bin, database_url, &["migrate"], None)?;
    let mut clients = BTreeMap::new();
    for role in ClientRole::ALL {
        let mut args = vec!["client", "add"];
        args.extend(role.args());
        let v = cli(bin, database_url, &args, None)?;
        let field = |k: &str| -> Result<String> {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .with_context(|| format!("`client add` printed no {k}: {v}"))
        };
        clients.insert(
            role,
            ClientCreds {
                id: field("client_id")?,
                secret: if role.public() {
                    String::new()
                } else {
                    field("client_secret")?
                },
            },
        );
    }
    cli(
        bin,
        database_url,
        &["user", "add", "--username", USERNAME, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    )?;
    Ok(Provisioned { clients })
}

/// Where Portcullis keeps its data for the run. Dropping it removes the
/// PostgreSQL database (after the server that used it is gone: declare it
/// before the server guard).
pub enum Database {
    Sqlite {
        path: PathBuf,
        keep: bool,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl Database {
    pub fn sqlite(dir: &Path, keep: bool) -> Database {
        Database::Sqlite {
            path: dir.join("bench.db"),
            keep,
        }
    }

    /// A fresh database on the PostgreSQL server `base` names (its path, if
    /// any, is the database to connect to for CREATE/DROP; default `postgres`).
    pub fn postgres(base: &str) -> Result<Database> {
        let (scheme, rest) = base
            .split_once("://")
            .filter(|(s, _)| *s == "postgres" || *s == "postgresql")
            .with_context(|| format!("--database-url {base:?} is not a postgres:// URL"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, format!("?{q}")),
            None => (rest, String::new()),
        };
        let (authority, admin_db) = match rest.split_once('/') {
            Some((a, db)) if !db.is_empty() => (a, db),
            Some((a, _)) => (a, "postgres"),
            None => (rest, "postgres"),
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("portcullis_bench_{:x}{:x}", std::process::id(), nanos);
        let admin_url = format!("{scheme}://{authority}/{admin_db}{query}");
        psql(&admin_url, &format!("CREATE DATABASE {name}"))?;
        if let Ok(mut c) = CLEANUP.lock() {
            *c = Some((admin_url.clone(), name.clone()));
        }
        Ok(Database::Postgres {
            admin_url,
            url: format!("{scheme}://{authority}/{name}{query}"),
            name,
        })
    }

    pub fn url(&self) -> String {
        match self {
            Database::Sqlite { path, .. } => path.display().to_string(),
            Database::Postgres { url, .. } => url.clone(),
        }
    }

    /// For reports: the URL without a password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite { .. } => "SQLite file (WAL, synchronous=NORMAL)".into(),
            Database::Postgres { name, .. } => format!("PostgreSQL, fresh database {name}"),
        }
    }

    /// What names this database's server processes (PostgreSQL backends
    /// carry the database name in their title); None for SQLite, which runs
    /// inside the server process.
    pub fn process_needle(&self) -> Option<&str> {
        match self {
            Database::Sqlite { .. } => None,
            Database::Postgres { name, .. } => Some(name),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite { .. } => "sqlite",
            Database::Postgres { .. } => "postgres",
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        match self {
            Database::Sqlite { path, keep: false } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            Database::Sqlite { .. } => {}
            Database::Postgres {
                admin_url, name, ..
            } => {
                if let Ok(mut c) = CLEANUP.lock() {
                    *c = None;
                }
                drop_database(admin_url, name);
            }
        }
    }
}

/// The PostgreSQL bench database, for [`cleanup_registered`].
static CLEANUP: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Drop the PostgreSQL bench database if there is one (from the signal
/// handler, where no destructor runs).
pub fn cleanup_registered() {
    let taken = CLEANUP.lock().ok().and_then(|mut c| c.take());
    if let Some((admin_url, name)) = taken {
        drop_database(&admin_url, &name);
    }
}

fn drop_database(admin_url: &str, name: &str) {
    if let Err(e) = psql(
        admin_url,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    ) {
        eprintln!("portcullis-bench: could not drop database {name}: {e:#}");
    }
}

fn psql(url: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .context(
            "running psql (install the PostgreSQL client: apt-get install -y postgresql-client)",
        )?;
    if !out.status.success() {
        bail!(
            "psql `{sql}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_base64_of_id_colon_secret() {
        assert_eq!(
            ClientCreds::peer().basic(),
            "YmVuY2g6YmVuY2gtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm"
        );
    }
}
