//! Wiring: the shared state every handler receives, built from the configuration, and the
//! server loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::domain::password_policy::PasswordPolicy;
use crate::domain::session::SessionLimits;
use crate::ephemeral::csrf::CsrfTokens;
use crate::ephemeral::sessions::SessionStore;
use crate::ephemeral::throttle::SignInThrottle;
use crate::ephemeral::{self, Ephemeral};
use crate::hashing::PasswordHasher;
use crate::keys::ServerSecret;
use crate::keys::signing::SigningKeys;
use crate::keys::subjects::SubjectSalt;
use crate::notify::Notifier;
use crate::registry::Registry;
use crate::store::sql::SqlStore;
use crate::store::{
    AccountStore, AuditChain, AuditLog, DirectoryStore, ExternalIdentityStore, GrantStore,
    GroupingStore, Health, KeyStore, OutboxStore, SchoolAdminStore, StaffStore,
};

/// The current time in Unix seconds; tests substitute a clock they can move.
pub trait Clock: Send + Sync {
    fn now(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that stays where it is put.
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Everything a request may need, shared by all of them.
pub struct AppState {
    pub config: Config,
    /// The issuer without a trailing slash, as tokens carry it.
    pub issuer: String,
    pub accounts: Arc<dyn AccountStore>,
    pub directory: Arc<dyn DirectoryStore>,
    pub audit: Arc<dyn AuditLog>,
    /// The audit log's hash chain (sealed by a task of every node).
    pub audit_chain: Arc<dyn AuditChain>,
    pub database: Arc<dyn Health>,
    pub grants: Arc<dyn GrantStore>,
    pub external: Arc<dyn ExternalIdentityStore>,
    pub grouping: Arc<dyn GroupingStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub staff: Arc<dyn StaffStore>,
    pub schools: Arc<dyn SchoolAdminStore>,
    /// Sends what the outbox holds (its worker runs with the server).
    pub notifier: Arc<Notifier>,
    pub registry: Arc<Registry>,
    /// Upstream providers (FranceConnect) people may sign in with.
    pub upstream: Arc<crate::protocol::upstream::UpstreamProviders>,
    pub keys: Arc<SigningKeys>,
    /// Access tokens whose signature this node checked (`protocol::oidc::verified`).
    pub verified_tokens: Arc<crate::protocol::oidc::verified::VerifiedTokens>,
    /// This node's counters (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    pub subjects: SubjectSalt,
    pub saml: Arc<crate::protocol::saml::SamlIdentity>,
    /// Outgoing HTTP (back-channel logout).
    pub http: reqwest::Client,
    pub ephemeral: Arc<dyn Ephemeral>,
    pub sessions: SessionStore,
    pub staff_sessions: crate::ephemeral::staff::StaffSessions,
    pub csrf: CsrfTokens,
    pub throttle: SignInThrottle,
    pub hasher: PasswordHasher,
    pub secret: ServerSecret,
    pub policy: PasswordPolicy,
    pub clock: Arc<dyn Clock>,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Opens storage (running migrations), the ephemeral store, keys and the hasher.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<SharedState> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
        let secret = server_secret(&config)?;
        let database_url = config.resolved_database_url()?;
        let store = SqlStore::open(&database_url, config.database_max_connections)
            .await
            .context("cannot open the database")?;
        let redis_url = config.resolved_redis_url()?;
        let kv = ephemeral::open(redis_url.as_deref(), &config.redis_key_prefix)
            .await
            .context("cannot reach Redis")?;
        let hasher = PasswordHasher::new(&config.password)?;
        let limits = SessionLimits {
            idle: i64::try_from(config.session.idle_timeout_minutes * 60)?,
            absolute: i64::try_from(config.session.absolute_timeout_hours * 3600)?,
        };
        let policy = PasswordPolicy {
            min_length: config.password.min_length,
            max_length: config.password.max_length,
            min_strength: config.password.min_strength,
        };
        let store = Arc::new(store);
        let registry = Registry::load(&config.relying_parties_dir, &secret)?;
        let now = clock.now();
        let key_store: Arc<dyn KeyStore> = store.clone();
        let keys = Arc::new(SigningKeys::load(key_store.clone(), secret.clone(), now).await?);
        spawn_key_reload(&keys);
        let salt = key_store
            .setting_or_insert("subject_salt", &crate::keys::random_token(32))
            .await?;
        let saml = crate::protocol::saml::SamlIdentity::load(
            key_store.as_ref(),
            &secret,
            &format!("{}/idp", config.issuer_id()),
        )
        .await?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        let upstream = crate::protocol::upstream::UpstreamProviders::from_config(&config)?;
        let notifier = Notifier::from_config(
            &config.notify,
            config.issuer.host_str().unwrap_or("localhost"),
            store.clone(),
            clock.clone(),
        )?;
        Ok(Arc::new(AppState {
            issuer: config.issuer_id(),
            grants: store.clone(),
            external: store.clone(),
            grouping: store.clone(),
            outbox: store.clone(),
            staff: store.clone(),
            schools: store.clone(),
            notifier: Arc::new(notifier),
            upstream: Arc::new(upstream),
            registry: Arc::new(registry),
            keys,
            verified_tokens: Arc::default(),
            metrics: Arc::default(),
            subjects: SubjectSalt::new(salt.into_bytes()),
            saml: Arc::new(saml),
            http,
            sessions: SessionStore::new(kv.clone(), limits),
            staff_sessions: crate::ephemeral::staff::StaffSessions::new(kv.clone()),
            csrf: CsrfTokens::new(kv.clone()),
            throttle: SignInThrottle::new(kv.clone(), config.throttle.clone()),
            accounts: store.clone(),
            directory: store.clone(),
            audit: store.clone(),
            audit_chain: store.clone(),
            database: store,
            ephemeral: kv,
            hasher,
            secret,
            policy,
            clock,
            config,
        }))
    }
}

/// The server secret: from the configuration, or generated in the data directory.
pub fn server_secret(config: &Config) -> anyhow::Result<ServerSecret> {
    Ok(match (&config.server_secret, &config.server_secret_file) {
        (Some(text), _) => {
            ServerSecret::parse(text).context("configuration key `server_secret`")?
        }
        (None, Some(path)) => ServerSecret::parse(&crate::config::read_secret_file(
            "server_secret_file",
            path,
        )?)
        .context("configuration key `server_secret_file`")?,
        (None, None) => {
            ServerSecret::load_or_generate(&config.data_dir.join("keys/server-secret"))?
        }
    })
}

/// Re-reads the signing keys every minute, so that a rotation made elsewhere reaches this node.
fn spawn_key_reload(keys: &Arc<SigningKeys>) {
    let weak = Arc::downgrade(keys);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(keys) = weak.upgrade() else { return };
            if let Err(e) = keys.reload().await {
                tracing::warn!(error = %e, "cannot reload the signing keys");
            }
        }
    });
}

/// Events sealed at a time into the audit chain.
const SEAL_BATCH: i64 = 1000;

/// Seals the new audit events into the hash chain every second (every node runs one; they
/// take turns on the chain's end).
fn spawn_audit_sealer(state: &SharedState) {
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { return };
            loop {
                match state.audit_chain.seal(SEAL_BATCH, state.clock.now()).await {
                    Ok(n) if n as i64 == SEAL_BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot seal the audit events");
                        break;
                    }
                }
            }
        }
    });
}

/// Serves the IdP on an already bound listener until the process is asked to stop.
pub async fn serve_on(listener: TcpListener, state: SharedState) -> anyhow::Result<()> {
    state.notifier.spawn();
    spawn_audit_sealer(&state);
    let router = crate::web::router(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("HTTP server failed")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
