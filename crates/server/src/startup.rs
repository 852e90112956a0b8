//! Building the application: open and migrate the store, make sure signing
//! keys exist, bind (port 0 allowed), serve.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use portcullis_core::Issuer;
use portcullis_storage::{SqliteSync, Store};

use crate::config::{Config, ConfigError, SqliteSynchronous};
use crate::crypto::SecretBox;
use crate::endpoints::discovery;
use crate::keys::{self, KeyRing, Keys};
use crate::passwords::HashPool;
use crate::state::{now, AppState};
use crate::{logging, routes};
use portcullis_core::ports::{ClientStore, SecretStore};

/// Why the server could not start. Every variant is one line naming the
/// setting or URL at fault; the binary exits with code 2.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("database_url: {0}")]
    Database(String),
    #[error("signing keys: {0}")]
    Keys(String),
    #[error("bind {addr}: {cause}")]
    Bind { addr: String, cause: String },
}

/// Open the configured database and apply pending migrations.
pub fn open_store(config: &Config) -> Result<Store, StartupError> {
    open_store_with(config, &mut |step| {
        if step.took.is_none() {
            tracing::info!(
                migration = step.name,
                step = step.index,
                of = step.total,
                "applying migration"
            );
        }
    })
}

/// [`open_store`], reporting each migration to `progress`.
pub fn open_store_with(
    config: &Config,
    progress: &mut dyn FnMut(portcullis_storage::MigrationStep<'_>),
) -> Result<Store, StartupError> {
    let options = portcullis_storage::OpenOptions {
        pool_size: config.database.pool_size,
        connect_timeout: Duration::from_secs(config.database.connect_timeout_secs),
        sqlite_sync: match config.database.sqlite_synchronous {
            SqliteSynchronous::Normal => SqliteSync::Normal,
            SqliteSynchronous::Full => SqliteSync::Full,
        },
    };
    let store = Store::open_with(&config.database_url, &options)
        .map_err(|e| StartupError::Database(e.to_string()))?;
    let applied = store
        .migrate_with(progress)
        .map_err(|e| StartupError::Database(e.to_string()))?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    Ok(store)
}

pub fn secret_box(config: &Config) -> SecretBox {
    SecretBox::new(config.key_encryption_key.as_ref().map(|s| s.0.as_str()))
}

pub struct Application {
    server: actix_web::dev::Server,
    address: std::net::SocketAddr,
    issuer: Issuer,
    /// The separate `/metrics` listener (`metrics.bind`), if any.
    metrics: Option<(actix_web::dev::Server, std::net::SocketAddr)>,
}

/// A listener of its own that serves only `/metrics`.
fn metrics_server(
    bind: &str,
    state: web::Data<AppState>,
) -> Result<(actix_web::dev::Server, std::net::SocketAddr), StartupError> {
    let failed = |e: std::io::Error| StartupError::Bind {
        addr: format!("metrics.bind {bind}"),
        cause: e.to_string(),
    };
    let listener = TcpListener::bind(bind).map_err(failed)?;
    let address = listener.local_addr().map_err(failed)?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(crate::metrics::metrics))
            .default_service(web::to(routes::not_found))
    })
    .workers(1)
    .listen(listener)
    .map_err(failed)?
    .run();
    Ok((server, address))
}

impl Application {
    pub fn build(config: Config) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(&config.bind).map_err(|e| StartupError::Bind {
            addr: config.bind.clone(),
            cause: e.to_string(),
        })?;
        let address = listener.local_addr().map_err(|e| StartupError::Bind {
            addr: config.bind.clone(),
            cause: e.to_string(),
        })?;
        let issuer = config.issuer_for(address)?;

        let store = open_store(&config)?;
        let sealer = secret_box(&config);
        let created = keys::ensure_keys(&store, &sealer, now())
            .map_err(|e| StartupError::Keys(e.to_string()))?;
        if !created.is_empty() {
            tracing::info!(kids = ?created, "signing keys created");
        }
        let records = store
            .read(|tx| portcullis_core::ports::KeyStore::list_keys(tx))
            .map_err(|e| StartupError::Database(e.to_string()))?;
        let ring =
            KeyRing::load(records, &sealer).map_err(|e| StartupError::Keys(e.to_string()))?;
        let keys = Arc::new(Keys::new(ring, sealer.clone()));
        let derive_key = derive_key(&store, &sealer)?;
        let login_client_id = ensure_login_client(&store)?;

        let templates = crate::pages::environment(
            config
                .pages
                .templates_dir
                .as_deref()
                .map(std::path::Path::new),
        )
        .map_err(|e| StartupError::Config(ConfigError(format!("pages.templates_dir: {e}"))))?;
        let pat_usage = Arc::new(crate::endpoints::pats::PatUsage::default());
        let documents =
            crate::client_metadata::Documents::new(config.client_metadata_documents.clone())
                .map_err(|e| {
                    StartupError::Config(ConfigError(format!("client_metadata_documents: {e}")))
                })?;
        let state = web::Data::new(AppState {
            documents,
            pat_usage: Arc::clone(&pat_usage),
            metrics: Arc::default(),
            templates,
            openapi_json: crate::openapi::document(issuer.as_str()),
            metadata_json: discovery::document(&issuer, &config),
            issuer: issuer.clone(),
            store: store.clone(),
            keys: Arc::clone(&keys),
            policy: config.token_policy()?,
            throttles: config.throttles(),
            derive_key,
            hasher: HashPool::new(config.login.hash_workers, config.login.hash_queue),
            sealer,
            login_client_id,
            config: config.clone(),
        });

        let route_issuer = issuer.clone();
        let metrics_here = config.metrics.enabled && config.metrics.bind.is_none();
        let metrics = match (&config.metrics.bind, config.metrics.enabled) {
            (Some(bind), true) => Some(metrics_server(bind, state.clone())?),
            _ => None,
        };
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .configure(|cfg| routes::configure(cfg, &route_issuer))
                .configure(|cfg| {
                    if metrics_here {
                        cfg.route("/metrics", web::get().to(crate::metrics::metrics));
                    }
                })
                .default_service(web::to(routes::not_found))
                .wrap(from_fn(logging::access_log))
        })
        .listen(listener)
        .map_err(|e| StartupError::Bind {
            addr: config.bind.clone(),
            cause: e.to_string(),
        })?
        .run();

        crate::endpoints::pats::spawn_flush(
            pat_usage,
            store.clone(),
            Duration::from_secs(config.pats.last_used_flush_secs.max(1)),
        );
        crate::janitor::spawn(store.clone(), config.clone());
        spawn_key_reload(keys, store, config.clone());
        Ok(Application {
            server,
            address,
            issuer,
            metrics,
        })
    }

    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The separate metrics listener's address, if `metrics.bind` is set.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(|(_, a)| *a)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            Some((metrics, _)) => {
                let (main, metrics) = futures_util::future::join(self.server, metrics).await;
                main.and(metrics)
            }
            None => self.server.await,
        }
    }
}

/// The server-wide key that derives refresh-token successors, CSRF tokens
/// and pending sign-ins: made once, kept in the database so every node
/// derives the same; sealed with `key_encryption_key` when one is set (a
/// key stored in clear before the KEK was set is still read).
fn derive_key(store: &Store, sealer: &SecretBox) -> Result<Vec<u8>, StartupError> {
    use base64::Engine;
    let fresh = portcullis_core::secret::random_token(&mut crate::crypto::OsRandom, 32);
    let candidate = sealer
        .seal(&fresh)
        .map_err(|e| StartupError::Keys(format!("sealing refresh_derive_key: {e}")))?;
    let stored = store
        .write(|tx| tx.get_or_insert_secret("refresh_derive_key", &candidate, now()))
        .map_err(|e| StartupError::Database(e.to_string()))?;
    let opened = sealer
        .open(&stored)
        .map_err(|e| StartupError::Keys(format!("refresh_derive_key: {e}")))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(opened)
        .map_err(|_| StartupError::Database("stored refresh_derive_key is malformed".into()))
}

/// The id of the built-in first-party client behind `/api/auth/login`.
pub const LOGIN_CLIENT_ID: &str = "portcullis-login-api";

/// Create the login API's client if it is missing.
fn ensure_login_client(store: &Store) -> Result<String, StartupError> {
    use portcullis_core::model::{
        Client, ClientAuthMethod, GrantType, Scopes, SigningAlg, TokenFormat,
    };
    let t = now();
    let client = Client {
        id: LOGIN_CLIENT_ID.into(),
        secret_hash: None,
        name: "Portcullis login API".into(),
        auth_method: ClientAuthMethod::None,
        redirect_uris: vec![],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::Password, GrantType::RefreshToken],
        response_types: vec![],
        scope: Scopes::parse("profile email").unwrap_or_default(),
        access_token_format: TokenFormat::Jwt,
        signing_alg: SigningAlg::Rs256,
        application_type: "native".into(),
        metadata: serde_json::json!({}),
        registration_token_hash: None,
        is_resource_server: false,
        first_party: true,
        disabled: false,
        created_at: t,
        updated_at: t,
        secret_expires_at: 0,
    };
    store
        .write(|tx| match tx.get_client(LOGIN_CLIENT_ID)? {
            Some(_) => Ok(()),
            None => match tx.insert_client(&client) {
                Err(portcullis_core::ports::StoreError::Conflict(_)) => Ok(()),
                other => other,
            },
        })
        .map_err(|e| StartupError::Database(e.to_string()))?;
    Ok(LOGIN_CLIENT_ID.into())
}

/// Reload the key set now and then, so rotations made by another node or
/// by `portcullis keys rotate` are published and used here too; rotate
/// first when `keys.rotation_period_secs` says a key is due.
fn spawn_key_reload(keys: Arc<Keys>, store: Store, config: Config) {
    let every = Duration::from_secs(config.keys.reload_interval_secs.max(1));
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            let (keys, store, config) = (Arc::clone(&keys), store.clone(), config.clone());
            match web::block(move || scheduled_rotation_and_reload(&keys, &store, &config)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(cause = %e, "key rotation or reload failed"),
                Err(e) => tracing::warn!(cause = %e, "key reload did not run"),
            }
        }
    });
}

fn scheduled_rotation_and_reload(
    keys: &Keys,
    store: &Store,
    config: &Config,
) -> Result<(), keys::KeyError> {
    let rotated = keys::rotate_due(
        store,
        keys.sealer(),
        now(),
        config.keys.rotation_period_secs,
        config.keys.propagation_delay_secs,
        config.max_signed_token_lifetime(),
    )?;
    for k in &rotated {
        tracing::info!(kid = %k.kid, alg = %k.alg, activates_at = k.activates_at, "signing key rotated on schedule");
    }
    keys.reload(store)
}
