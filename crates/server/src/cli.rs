//! `portcullis`: every command prints JSON on stdout; errors are one line on
//! stderr with exit code 1 (2 for bad usage or configuration).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use portcullis_core::clients::{new_client, ClientSpec};
use portcullis_core::model::{ClientAuthMethod, GrantType, Scopes, SigningAlg, TokenFormat, User};
use portcullis_core::ports::{ClientStore, KeyStore, StoreError, UserStore};
use portcullis_core::users::new_user;
use portcullis_core::ErrorCode;
use portcullis_storage::Store;
use serde_json::{json, Value};

use crate::admin::views::{client_json, key_json, user_json};
use crate::config::{docs_markdown, Config, LogFormat, Overrides};
use crate::crypto::OsRandom;
use crate::startup::{self, Application, StartupError};
use crate::state::now;
use crate::{keys, logging, passwords};

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "An OAuth 2.1 / OpenID Connect authorization server"
)]
struct Cli {
    /// TOML settings file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database: a SQLite path, a sqlite:// URL or a postgres:// URL.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (applies pending migrations, creates signing keys on first start).
    Serve {
        /// Address to listen on, such as 127.0.0.1:8080 (port 0: any free port).
        #[arg(long)]
        bind: Option<String>,
        /// Issuer identifier (public base URL).
        #[arg(long)]
        issuer: Option<String>,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Initial access tokens for dynamic client registration (registration.policy = "token").
    #[command(subcommand)]
    RegistrationToken(RegistrationTokenCmd),
    /// Housekeeping.
    #[command(subcommand)]
    Janitor(JanitorCmd),
    /// Check what an MCP or OIDC client would discover at <URL> (an issuer or an MCP server's URL, ours or another's) and say the first step that would fail, with what to change. Exit 1 when a step fails.
    Doctor {
        /// The issuer (https://auth.example.com) or MCP server URL (https://mcp.example.com/mcp).
        url: String,
    },
    /// Copy a SQLite database, online and consistent, into a new file (PostgreSQL: use pg_dump).
    Backup {
        /// The file to create; it must not exist.
        #[arg(long)]
        to: String,
    },
    /// Settings.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Protected resources (the `[[resources]]` settings).
    #[command(subcommand)]
    Resource(ResourceCmd),
}

#[derive(Subcommand)]
enum ResourceCmd {
    /// List the configured resources and where their metadata lives.
    List,
    /// Print the RFC 9728 metadata document the resource's server should serve (at the `metadata_url` that `resource list` shows).
    Metadata {
        /// The resource's URI (scheme and host in any case).
        uri: String,
    },
}

#[derive(Subcommand)]
enum JanitorCmd {
    /// Delete expired codes, tokens and sessions, old audit events and idle dynamic clients now (what the server does every janitor.interval_secs); prints what went.
    Run,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user; the password is read from standard input.
    Add(UserAdd),
    /// List users.
    List,
    /// Disable a user: their tokens and sessions stop working at once.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        username: String,
    },
}

#[derive(Args)]
struct UserAdd {
    #[arg(long)]
    username: String,
    #[arg(long)]
    email: Option<String>,
    /// Make the user an administrator.
    #[arg(long)]
    admin: bool,
    /// Enrol the user in TOTP; prints the secret and the otpauth:// URI.
    #[arg(long)]
    totp: bool,
    /// Read the password from standard input (required).
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand)]
enum ClientCmd {
    /// Register a client; prints client_id and, for confidential clients, client_secret (shown once).
    Add(ClientAdd),
    /// List clients.
    List,
}

#[derive(Args)]
struct ClientAdd {
    #[arg(long)]
    name: String,
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// authorization_code, refresh_token, client_credentials, password, urn:ietf:params:oauth:grant-type:token-exchange or urn:ietf:params:oauth:grant-type:device_code (repeatable).
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    /// Space-separated registered scope.
    #[arg(long)]
    scope: Option<String>,
    /// A public client (no secret; token_endpoint_auth_method none).
    #[arg(long)]
    public: bool,
    /// client_secret_basic, client_secret_post, private_key_jwt or none.
    #[arg(long)]
    auth_method: Option<String>,
    /// private_key_jwt (RFC 7523 §2.2): a file holding the client's public JWK Set (RFC 7517 §5); implies --auth-method private_key_jwt.
    #[arg(long = "jwks-file")]
    jwks_file: Option<std::path::PathBuf>,
    /// private_key_jwt: the https URL where the client publishes its JWK Set; implies --auth-method private_key_jwt.
    #[arg(long = "jwks-uri")]
    jwks_uri: Option<String>,
    /// jwt or opaque.
    #[arg(long)]
    access_token_format: Option<String>,
    /// RS256, ES256 or EdDSA.
    #[arg(long)]
    signing_alg: Option<String>,
    /// Require pushed authorization requests (RFC 9126 §6): `/oauth/authorize` refuses this client's requests without a `request_uri`.
    #[arg(long = "require-par")]
    require_par: bool,
    /// Require DPoP (RFC 9449 §5.2, `dpop_bound_access_tokens`): the token endpoint refuses this client's requests without a `DPoP` proof.
    #[arg(long = "require-dpop")]
    require_dpop: bool,
}

#[derive(Subcommand)]
enum KeysCmd {
    /// List signing keys and their state.
    List,
    /// Publish a new key now; it signs after keys.propagation_delay_secs.
    Rotate {
        /// Rotate only this algorithm (RS256, ES256, EdDSA); default all.
        #[arg(long)]
        alg: Option<String>,
    },
}

#[derive(Subcommand)]
enum RegistrationTokenCmd {
    /// Mint an initial access token (RFC 7591 §3); prints it once (only its hash is stored).
    Create {
        /// Seconds until it expires; default never.
        #[arg(long)]
        expires_in: Option<i64>,
        /// Registrations it may authorize; default no limit.
        #[arg(long)]
        max_uses: Option<i64>,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print docs/configuration.md, generated from the settings' doc comments.
    Docs,
}

/// A failure and its exit code.
enum Failure {
    /// Bad usage or configuration: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Runtime(String),
}

impl From<StartupError> for Failure {
    fn from(e: StartupError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Runtime(e.to_string())
    }
}

impl From<keys::KeyError> for Failure {
    fn from(e: keys::KeyError) -> Self {
        Failure::Runtime(e.to_string())
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("portcullis: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("portcullis: {msg}");
            ExitCode::from(1)
        }
    }
}

fn print(v: &Value) {
    println!("{v}");
}

fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Config(ConfigCmd::Docs) = cli.command {
        print!("{}", docs_markdown());
        return Ok(());
    }
    // Needs no configuration or database: it looks at a server from outside.
    if let Command::Doctor { url } = &cli.command {
        let report = crate::doctor::diagnose(url);
        print!("{}", report.render());
        return match report.failed() {
            true => Err(Failure::Runtime(format!(
                "{url}: a discovery step fails (see above)"
            ))),
            false => Ok(()),
        };
    }
    let (bind, issuer) = match &cli.command {
        Command::Serve { bind, issuer } => (bind.clone(), issuer.clone()),
        _ => (None, None),
    };
    let overrides = Overrides {
        issuer,
        bind,
        database_url: cli.database_url.clone(),
        log_format: cli.log_format,
    };
    let config = Config::load(cli.config.as_deref(), &overrides)
        .map_err(|e| Failure::Usage(e.to_string()))?;

    if let Command::Serve { .. } = cli.command {
        logging::init(config.log_format, &config.log_level);
        return serve(config);
    }
    if let Command::Resource(cmd) = cli.command {
        return resource(&config, cmd);
    }
    // Other commands log only warnings, to stderr: stdout is for JSON.
    logging::init(config.log_format, "warn");
    // Migrations (a long one on a big database) report on stderr as they go;
    // stdout is for the command's JSON.
    let mut applied_now = Vec::new();
    let store = startup::open_store_with(&config, &mut |step| match step.took {
        None => eprintln!(
            "portcullis: migration {}/{}: {} ...",
            step.index, step.total, step.name
        ),
        Some(took) => {
            eprintln!(
                "portcullis: migration {}/{}: {} done in {} ms",
                step.index,
                step.total,
                step.name,
                took.as_millis()
            );
            applied_now.push(step.name.to_string());
        }
    })?;
    // Pending migrations are applied on opening; `migrate` reports them.
    match cli.command {
        Command::Migrate => print(&json!({"applied": applied_now})),
        Command::User(UserCmd::Add(a)) => user_add(&store, &config, a)?,
        Command::User(UserCmd::List) => {
            let users = store.read(|tx| tx.list_users())?;
            print(&Value::Array(users.iter().map(user_json).collect()));
        }
        Command::User(UserCmd::Disable { username }) => {
            print(&user_json(&set_disabled(&store, &username, true)?))
        }
        Command::User(UserCmd::Enable { username }) => {
            print(&user_json(&set_disabled(&store, &username, false)?))
        }
        Command::Client(ClientCmd::Add(a)) => client_add(&store, a)?,
        Command::Client(ClientCmd::List) => {
            let clients = store.read(|tx| tx.list_clients())?;
            print(&Value::Array(clients.iter().map(client_json).collect()));
        }
        Command::Keys(KeysCmd::List) => {
            let list = store.read(|tx| tx.list_keys())?;
            let t = now();
            print(&Value::Array(
                list.iter().map(|k| key_json(k, &list, t)).collect(),
            ));
        }
        Command::Keys(KeysCmd::Rotate { alg }) => {
            let algs = match alg {
                Some(a) => vec![parse::<SigningAlg>(&a, "--alg")?],
                None => SigningAlg::ALL.to_vec(),
            };
            let sealer = startup::secret_box(&config);
            let t = now();
            let created = keys::rotate(
                &store,
                &sealer,
                &algs,
                t,
                config.keys.propagation_delay_secs,
                config.max_signed_token_lifetime(),
            )?;
            let all = store.read(|tx| tx.list_keys())?;
            print(&json!({
                "rotated": created.iter().map(|k| key_json(k, &all, t)).collect::<Vec<_>>(),
                "keys": all.iter().map(|k| key_json(k, &all, t)).collect::<Vec<_>>(),
            }));
        }
        Command::RegistrationToken(RegistrationTokenCmd::Create {
            expires_in,
            max_uses,
        }) => registration_token_create(&store, &config, expires_in, max_uses)?,
        Command::Backup { to } => {
            if std::path::Path::new(&to).exists() {
                return Err(Failure::Usage(format!("--to {to}: the file exists")));
            }
            store.backup_to(&to)?;
            let bytes = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
            print(&json!({ "backup": to, "bytes": bytes }));
        }
        Command::Janitor(JanitorCmd::Run) => {
            let swept = crate::janitor::sweep(&store, &config, now())?;
            print(&json!({ "deleted": swept }));
        }
        Command::Serve { .. }
        | Command::Config(_)
        | Command::Doctor { .. }
        | Command::Resource(_) => {}
    }
    Ok(())
}

fn registration_token_create(
    store: &Store,
    config: &Config,
    expires_in: Option<i64>,
    max_uses: Option<i64>,
) -> Result<(), Failure> {
    use portcullis_core::ports::InitialAccessTokenStore;
    let minted = portcullis_core::register::new_initial_access_token(
        now(),
        expires_in,
        max_uses,
        &mut OsRandom,
    )
    .map_err(|e| {
        let msg = e.description.unwrap_or_default();
        Failure::Usage(format!("--{}", msg.replace('_', "-")))
    })?;
    store.write(|tx| tx.insert_initial_access_token(&minted.record))?;
    print(&json!({
        "token": minted.token,
        "created_at": minted.record.created_at,
        "expires_at": minted.record.expires_at,
        "max_uses": minted.record.max_uses,
        "registration_policy": config.registration.policy,
    }));
    Ok(())
}

/// `portcullis resource ...`: from the settings alone (no database).
fn resource(config: &Config, cmd: ResourceCmd) -> Result<(), Failure> {
    use portcullis_core::resources::{metadata, metadata_url, on_issuer_origin};
    let resources = config
        .resources()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    // The issuer `serve` would use when none is configured.
    let bind = config
        .bind
        .parse()
        .map_err(|_| Failure::Usage(format!("bind {:?}: not an address", config.bind)))?;
    let issuer = config
        .issuer_for(bind)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    match cmd {
        ResourceCmd::List => print(&Value::Array(
            resources
                .iter()
                .map(|r| {
                    json!({
                        "uri": r.uri,
                        "name": r.name,
                        "scopes": r.scopes.iter().collect::<Vec<_>>(),
                        "format": r.format.map(|f| f.as_str()),
                        "alg": r.alg.map(|a| a.as_str()),
                        "lifetime_secs": r.lifetime,
                        "metadata_url": metadata_url(&r.uri),
                        "metadata_served_here": on_issuer_origin(&issuer, &r.uri),
                    })
                })
                .collect(),
        )),
        ResourceCmd::Metadata { uri } => {
            let r = resources.find(&uri).ok_or_else(|| {
                Failure::Runtime(format!(
                    "no resource {uri:?} is configured (see `portcullis resource list`)"
                ))
            })?;
            print(&json!(metadata(r, &issuer)));
        }
    }
    Ok(())
}

fn serve(config: Config) -> Result<(), Failure> {
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let app = Application::build(config)?;
        let mut started =
            json!({"listening": app.address().to_string(), "issuer": app.issuer().as_str()});
        if let Some(m) = app.metrics_address() {
            started["metrics"] = json!(m.to_string());
        }
        print(&started);
        tracing::info!(address = %app.address(), issuer = %app.issuer(), "portcullis listening");
        app.run_until_stopped()
            .await
            .map_err(|e| Failure::Runtime(e.to_string()))
    })
}

fn parse<T: std::str::FromStr>(v: &str, flag: &str) -> Result<T, Failure>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>()
        .map_err(|e| Failure::Usage(format!("{flag}: {e}")))
}

fn read_password() -> Result<String, Failure> {
    let mut buf = String::new();
    std::io::stdin()
        .take(4096)
        .read_to_string(&mut buf)
        .map_err(|e| Failure::Usage(format!("--password-stdin: {e}")))?;
    let pw = buf
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&buf)
        .to_string();
    if pw.is_empty() {
        return Err(Failure::Usage("--password-stdin: empty password".into()));
    }
    Ok(pw)
}

fn user_add(store: &Store, config: &Config, a: UserAdd) -> Result<(), Failure> {
    if !a.password_stdin {
        return Err(Failure::Usage(
            "--password-stdin is required (the password is read from standard input)".into(),
        ));
    }
    let password = read_password()?;
    let hash = passwords::hash(&password).map_err(Failure::Runtime)?;
    let t = now();
    let mut user = new_user(
        &a.username,
        a.email.as_deref(),
        Some(hash),
        a.admin,
        t,
        &mut OsRandom,
    )
    .map_err(|e| Failure::Usage(e.description.unwrap_or_default()))?;
    let mut totp = Value::Null;
    if a.totp {
        let (base32, uri) = crate::endpoints::account::security::new_totp_secret(&user.username)
            .map_err(Failure::Runtime)?;
        user.totp_secret = Some(
            startup::secret_box(config)
                .seal(&base32)
                .map_err(|e| Failure::Runtime(e.to_string()))?,
        );
        totp = json!({"secret": base32, "otpauth_uri": uri});
    }
    store
        .write(|tx| tx.insert_user(&user))
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                Failure::Runtime(format!("user {:?} already exists", user.username))
            }
            e => e.into(),
        })?;
    let mut out = user_json(&user);
    if let Some(obj) = out.as_object_mut() {
        if !totp.is_null() {
            obj.insert("totp".into(), totp);
        }
    }
    print(&out);
    Ok(())
}

fn set_disabled(store: &Store, username: &str, disabled: bool) -> Result<User, Failure> {
    store.write(|tx| {
        let mut user = tx
            .get_user_by_username(username)?
            .ok_or_else(|| Failure::Runtime(format!("no user {username:?}")))?;
        user.disabled = disabled;
        user.updated_at = now();
        tx.update_user(&user)?;
        Ok(user)
    })
}

fn client_add(store: &Store, a: ClientAdd) -> Result<(), Failure> {
    let auth_method = match (a.public, a.auth_method.as_deref()) {
        (true, None) => Some(ClientAuthMethod::None),
        (true, Some("none")) => Some(ClientAuthMethod::None),
        (true, Some(m)) => {
            return Err(Failure::Usage(format!(
                "--public clients authenticate with none, not {m}"
            )))
        }
        (false, Some("none")) => {
            return Err(Failure::Usage("--auth-method none needs --public".into()))
        }
        (false, None) if a.jwks_file.is_some() || a.jwks_uri.is_some() => {
            Some(ClientAuthMethod::PrivateKeyJwt)
        }
        (false, m) => m
            .map(|m| parse::<ClientAuthMethod>(m, "--auth-method"))
            .transpose()?,
    };
    let jwks = a
        .jwks_file
        .as_ref()
        .map(|path| {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("--jwks-file {}: {e}", path.display())))?;
            serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
                Failure::Usage(format!("--jwks-file {}: not JSON: {e}", path.display()))
            })
        })
        .transpose()?;
    let grant_types = if a.grant_types.is_empty() {
        None
    } else {
        Some(
            a.grant_types
                .iter()
                .map(|g| parse::<GrantType>(g, "--grant-type"))
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    let scope = a
        .scope
        .as_deref()
        .map(|s| Scopes::parse(s).map_err(|e| Failure::Usage(format!("--scope: {e}"))))
        .transpose()?;
    let spec = ClientSpec {
        name: a.name,
        redirect_uris: a.redirect_uris,
        post_logout_redirect_uris: a.post_logout_redirect_uris,
        grant_types,
        scope,
        auth_method,
        access_token_format: a
            .access_token_format
            .as_deref()
            .map(|f| parse::<TokenFormat>(f, "--access-token-format"))
            .transpose()?,
        signing_alg: a
            .signing_alg
            .as_deref()
            .map(|s| parse::<SigningAlg>(s, "--signing-alg"))
            .transpose()?,
        application_type: None,
        metadata: portcullis_core::client_assertion::with_keys(
            flags(&[
                (portcullis_core::par::REQUIRE_PAR, a.require_par),
                (portcullis_core::dpop::BOUND_ACCESS_TOKENS, a.require_dpop),
            ]),
            jwks,
            a.jwks_uri,
        ),
    };
    let created = new_client(spec, now(), &mut OsRandom).map_err(|e| {
        let field = if e.code == ErrorCode::InvalidRedirectUri {
            "redirect URI"
        } else {
            "client"
        };
        Failure::Usage(format!(
            "{field}: {}",
            e.description.unwrap_or_else(|| e.code.to_string())
        ))
    })?;
    store.write(|tx| tx.insert_client(&created.client))?;
    let mut out = client_json(&created.client);
    if let (Some(obj), Some(secret)) = (out.as_object_mut(), created.secret) {
        obj.insert("client_secret".into(), json!(secret));
    }
    print(&out);
    Ok(())
}

/// Registration metadata from boolean flags: the ones set, as `true`;
/// `None` when none is.
fn flags(pairs: &[(&str, bool)]) -> Option<serde_json::Value> {
    let on: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| ((*k).to_string(), serde_json::Value::Bool(true)))
        .collect();
    (!on.is_empty()).then_some(serde_json::Value::Object(on))
}
