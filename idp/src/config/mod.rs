//! Typed configuration: one TOML file plus `IDP_*` environment overrides, checked at start-up.
//!
//! An override names a key in lower case, with `__` between a section and its key:
//! `IDP_DATABASE_URL=postgres://…`, `IDP_SESSION__IDLE_TIMEOUT_MINUTES=30`. Secrets may be given
//! inline, in an environment variable, or in a file (`server_secret_file`, `database_url_file`,
//! `redis_url_file`), so that they never need to sit in the TOML file itself.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use url::Url;

pub mod reference;

/// Environment variables that start with `IDP_` but are not configuration keys.
const NOT_CONFIG_KEYS: &[&str] = &["IDP_CONFIG", "IDP_LOG"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("configuration key `{key}`: {message}")]
    Key { key: String, message: String },
}

fn key_error(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Public base URL of the IdP; also the OpenID Connect issuer.
    #[schemars(with = "String")]
    pub issuer: Url,
    /// Address the HTTP server binds to.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the embedded database, generated keys and the dev outbox live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: a SQLite file in `data_dir`.
    #[serde(default)]
    pub database_url: Option<String>,
    #[serde(default)]
    /// A file holding `database_url` (a mounted secret); not with `database_url`.
    pub database_url_file: Option<PathBuf>,
    /// Largest number of pooled database connections.
    #[serde(default = "default_database_max_connections")]
    pub database_max_connections: u32,
    /// `redis://…`; without it, short-lived state is kept in this process (one node only).
    #[serde(default)]
    pub redis_url: Option<String>,
    #[serde(default)]
    /// A file holding `redis_url`; not with `redis_url`.
    pub redis_url_file: Option<PathBuf>,
    /// Prefix of every Redis key, so that several deployments may share one Redis.
    #[serde(default = "default_redis_key_prefix")]
    pub redis_key_prefix: String,
    /// 32 bytes or more, base64 or hex; keys CSRF tokens and the fast hash of generated secrets.
    /// Every node of a deployment must share it. Default: generated in `data_dir/keys`.
    #[serde(default)]
    pub server_secret: Option<String>,
    #[serde(default)]
    /// A file holding `server_secret`; not with `server_secret`.
    pub server_secret_file: Option<PathBuf>,
    /// Where relying-party registrations are read from (one TOML file each).
    #[serde(default = "default_relying_parties_dir")]
    pub relying_parties_dir: PathBuf,
    /// Reverse proxies whose `X-Forwarded-For` is believed: addresses (`"127.0.0.1"`) or
    /// networks (`"10.244.0.0/16"`, for an ingress controller whose pods change address).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub trusted_proxies: Vec<ProxyRange>,
    /// `text` for people, `json` for one JSON object a line (log collectors); the filter is
    /// `IDP_LOG` (default `info,sqlx=warn,tower_http=info`).
    #[serde(default)]
    pub log_format: LogFormat,
    /// When set, `GET /metrics` asks for `Authorization: Bearer <metrics_token>` (say from
    /// `IDP_METRICS_TOKEN`); without it, /metrics is open: keep it off the public side of the
    /// reverse proxy.
    #[serde(default)]
    pub metrics_token: Option<String>,
    #[serde(default)]
    pub session: SessionConfig,
    #[serde(default)]
    pub password: PasswordConfig,
    #[serde(default)]
    pub throttle: ThrottleConfig,
    #[serde(default)]
    pub import: ImportConfig,
    #[serde(default)]
    pub notify: NotifyConfig,
    /// Upstream OpenID Connect providers people may sign in with (FranceConnect).
    #[serde(default)]
    pub upstream: Vec<UpstreamConfig>,
}

/// One upstream OpenID Connect provider (`[[upstream]]`), FranceConnect v2 by default.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Short name, in URLs and in the stored external identities (`franceconnect`).
    pub id: String,
    /// Shown to people.
    #[serde(default = "default_upstream_label")]
    pub label: String,
    /// The provider's issuer; discovery is at `<issuer>/.well-known/openid-configuration`.
    #[schemars(with = "String")]
    pub issuer: Url,
    /// The client id this IdP was given at the provider.
    pub client_id: String,
    /// The client secret, inline; give exactly one of `client_secret`, `client_secret_env`,
    /// `client_secret_file`.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The name of an environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// A file holding the client secret.
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// `client_secret_post` (FranceConnect) or `client_secret_basic`.
    #[serde(default = "default_upstream_auth")]
    pub token_endpoint_auth_method: String,
    /// Scopes asked for (FranceConnect v2's identité pivot and e-mail by default).
    #[serde(default = "default_upstream_scopes")]
    pub scopes: Vec<String>,
    /// `acr_values` sent with every request (FranceConnect: `eidas1`).
    #[serde(default = "default_upstream_acr")]
    pub acr_values: Option<String>,
    /// Whether userinfo must be a signed JWT (`application/jwt`), as FranceConnect v2 sends.
    #[serde(default = "yes")]
    pub userinfo_signed: bool,
    /// Whether the provider's session is ended (end_session_endpoint) when the IdP's ends.
    #[serde(default = "yes")]
    pub logout: bool,
    /// Which claims hold the identité pivot.
    #[serde(default)]
    pub claims: UpstreamClaims,
}

/// The claim names of the identité pivot at an upstream provider.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamClaims {
    /// Every first name, separated by spaces.
    pub given_name: String,
    /// The birth name.
    pub family_name: String,
    /// The usage name, when it differs from the birth name.
    pub usage_name: String,
    /// The claim holding the birth date (`AAAA-MM-JJ`).
    pub birthdate: String,
    /// The claim holding the e-mail address (never used to match school records).
    pub email: String,
}

impl Default for UpstreamClaims {
    fn default() -> Self {
        Self {
            given_name: "given_name".into(),
            family_name: "family_name".into(),
            usage_name: "preferred_username".into(),
            birthdate: "birthdate".into(),
            email: "email".into(),
        }
    }
}

impl UpstreamConfig {
    /// The client secret, from the configuration, a variable or a file.
    pub fn resolved_secret(&self, index: usize) -> Result<String, ConfigError> {
        let key = format!("upstream[{index}].client_secret");
        match (
            &self.client_secret,
            &self.client_secret_env,
            &self.client_secret_file,
        ) {
            (Some(s), None, None) => Ok(s.clone()),
            (None, Some(var), None) => std::env::var(var)
                .map_err(|_| key_error(&format!("{key}_env"), format!("{var} is not set"))),
            (None, None, Some(path)) => read_secret_file(&format!("{key}_file"), path),
            _ => Err(key_error(
                &key,
                "give exactly one of client_secret, client_secret_env, client_secret_file",
            )),
        }
    }
}

fn yes() -> bool {
    true
}
fn default_upstream_label() -> String {
    "FranceConnect".into()
}
fn default_upstream_auth() -> String {
    "client_secret_post".into()
}
fn default_upstream_scopes() -> Vec<String> {
    [
        "openid",
        "given_name",
        "family_name",
        "preferred_username",
        "birthdate",
        "gender",
        "birthplace",
        "birthcountry",
        "email",
    ]
    .map(String::from)
    .to_vec()
}
fn default_upstream_acr() -> Option<String> {
    Some("eidas1".into())
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// An SSO session unused for this long ends.
    pub idle_timeout_minutes: u64,
    /// An SSO session ends this long after sign-in, used or not.
    pub absolute_timeout_hours: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_minutes: 120,
            absolute_timeout_hours: 12,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Shortest password a person may choose.
    pub min_length: usize,
    /// Longest password a person may choose (at most 128).
    pub max_length: usize,
    /// zxcvbn score (0 to 4) a chosen password must reach.
    pub min_strength: u8,
    /// argon2id memory per hash, in KiB (OWASP's 19 MiB by default).
    pub argon2_memory_kib: u32,
    /// argon2id passes over the memory.
    pub argon2_iterations: u32,
    /// argon2id lanes per hash.
    pub argon2_parallelism: u32,
    /// Concurrent hashes; 0 means one per core.
    pub hashing_workers: usize,
    /// How long a sign-in may wait for a hashing slot before it is refused with 503.
    pub hashing_queue_timeout_ms: u64,
    /// How long a temporary password handed out by the school stays valid.
    pub temporary_validity_days: u32,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 32,
            min_strength: 2,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            hashing_workers: 0,
            hashing_queue_timeout_ms: 2_000,
            temporary_validity_days: 92,
        }
    }
}

/// Outgoing e-mails and SMS (`[notify]`). Without a transport a channel's messages stay in
/// the outbox (the demo shows them at `/dev/outbox`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Serve `/dev/outbox`, which shows every message with its codes and links: for the demo
    /// and development only, never in production.
    pub outbox_page: bool,
    pub email: EmailConfig,
    pub sms: SmsConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `smtp://host:25`, `smtp://user:password@host:587?tls=required` (STARTTLS) or
    /// `smtps://host:465`; none: e-mails are not sent.
    pub smtp_url: Option<String>,
    /// A file holding `smtp_url` (it may carry a password).
    pub smtp_url_file: Option<PathBuf>,
    /// The sender, `Nom <adresse>`.
    pub from: String,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            smtp_url_file: None,
            from: "Connexion établissements <ne-pas-repondre@localhost>".into(),
        }
    }
}

impl EmailConfig {
    pub fn smtp_url(&self) -> Result<Option<String>, ConfigError> {
        if let Some(url) = &self.smtp_url {
            return Ok(Some(url.clone()).filter(|u| !u.is_empty()));
        }
        match &self.smtp_url_file {
            Some(path) => read_secret_file("notify.email.smtp_url_file", path).map(Some),
            None => Ok(None),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// Where messages are POSTed; none: SMS are not sent.
    #[schemars(with = "Option<String>")]
    pub gateway_url: Option<Url>,
    /// The `Authorization` header value (`Bearer …`, `Basic …`).
    pub authorization: Option<String>,
    /// A file holding `authorization`.
    pub authorization_file: Option<PathBuf>,
    /// The request body; `{to}` (international format), `{text}` and `{sender}` are replaced,
    /// JSON-escaped.
    pub body_template: String,
    /// The request body's Content-Type.
    pub content_type: String,
    /// The sender name the gateway shows, where it allows one.
    pub sender: String,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            gateway_url: None,
            authorization: None,
            authorization_file: None,
            body_template: r#"{"to": "{to}", "text": "{text}", "sender": "{sender}"}"#.into(),
            content_type: "application/json".into(),
            sender: "CONNEXION".into(),
        }
    }
}

impl SmsConfig {
    pub fn authorization(&self) -> Result<Option<String>, ConfigError> {
        if let Some(value) = &self.authorization {
            return Ok(Some(value.clone()));
        }
        match &self.authorization_file {
            Some(path) => read_secret_file("notify.sms.authorization_file", path).map(Some),
            None => Ok(None),
        }
    }
}

/// School imports (`idp import`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// How long the account of a pupil who left stays usable (days); 0 disables it at the
    /// import that sees the departure.
    pub leaving_grace_days: u32,
}

impl Default for ImportConfig {
    fn default() -> Self {
        Self {
            leaving_grace_days: 30,
        }
    }
}

impl ImportConfig {
    pub fn leaving_grace_seconds(&self) -> i64 {
        i64::from(self.leaving_grace_days) * 86_400
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleConfig {
    /// Failed sign-ins allowed for one identifier within the window.
    pub failures_per_identifier: u64,
    /// Failed sign-ins allowed from one address within the window.
    pub failures_per_address: u64,
    /// The sliding window in which failures are counted; a lock fades with it.
    pub window_minutes: u64,
    /// Failures of one identifier (or trusted device) answered at once; after them each
    /// attempt waits `first_delay_ms`, doubling at every further failure up to `max_delay_ms`.
    pub delay_after_failures: u64,
    /// The wait after `delay_after_failures` failures, in milliseconds.
    pub first_delay_ms: u64,
    /// The longest wait before a password is checked, in milliseconds.
    pub max_delay_ms: u64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            failures_per_identifier: 10,
            failures_per_address: 100,
            window_minutes: 5,
            delay_after_failures: 3,
            first_delay_ms: 1000,
            max_delay_ms: 8000,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./idp-data")
}
fn default_relying_parties_dir() -> PathBuf {
    PathBuf::from("./relying-parties")
}
fn default_database_max_connections() -> u32 {
    16
}
fn default_redis_key_prefix() -> String {
    "idp:".to_owned()
}

/// One entry of `trusted_proxies`: an address, or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProxyRange(ipnet::IpNet);

impl From<ProxyRange> for String {
    fn from(range: ProxyRange) -> String {
        range.0.to_string()
    }
}

impl ProxyRange {
    pub fn contains(&self, ip: &IpAddr) -> bool {
        self.0.contains(ip)
    }
}

impl TryFrom<String> for ProxyRange {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
            .map(ProxyRange)
            .map_err(|_| format!("{text:?} is neither an IP address nor a network like 10.0.0.0/8"))
    }
}

impl Config {
    /// Reads a TOML file, applies `IDP_*` overrides from `env`, and checks the result.
    pub fn load(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: path.to_owned(),
                    message: e.message().to_owned(),
                })?;
        Self::from_table(table, env)
    }

    /// Builds a configuration from an in-memory table (used by `idp demo` and tests).
    pub fn from_table(
        mut table: toml::Table,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        apply_env_overrides(&mut table, env)?;
        let deserializer = toml::Value::Table(table);
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            key_error(&key, e.inner().to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match self.issuer.scheme() {
            "https" => {}
            "http" if self.issuer_is_loopback() => {}
            _ => {
                return Err(key_error(
                    "issuer",
                    "must be an https URL (plain http is allowed only on 127.0.0.1 or localhost)",
                ));
            }
        }
        if self.issuer.query().is_some() || self.issuer.fragment().is_some() {
            return Err(key_error("issuer", "must not have a query or a fragment"));
        }
        if self.database_url.is_some() && self.database_url_file.is_some() {
            return Err(key_error(
                "database_url",
                "give database_url or database_url_file, not both",
            ));
        }
        if self.redis_url.is_some() && self.redis_url_file.is_some() {
            return Err(key_error(
                "redis_url",
                "give redis_url or redis_url_file, not both",
            ));
        }
        if self.server_secret.is_some() && self.server_secret_file.is_some() {
            return Err(key_error(
                "server_secret",
                "give server_secret or server_secret_file, not both",
            ));
        }
        if self.metrics_token.as_deref().is_some_and(|t| t.len() < 16) {
            return Err(key_error(
                "metrics_token",
                "must be at least 16 characters (or not set at all)",
            ));
        }
        if self.database_max_connections == 0 {
            return Err(key_error("database_max_connections", "must be at least 1"));
        }
        let p = &self.password;
        if p.min_length < 8 || p.min_length > p.max_length || p.max_length > 128 {
            return Err(key_error(
                "password.min_length",
                "needs 8 <= min_length <= max_length <= 128",
            ));
        }
        if p.min_strength > 4 {
            return Err(key_error("password.min_strength", "is a score from 0 to 4"));
        }
        if p.argon2_memory_kib < 19_456 || p.argon2_iterations < 2 || p.argon2_parallelism < 1 {
            return Err(key_error(
                "password.argon2_memory_kib",
                "argon2id may not be weaker than m=19456 KiB, t=2, p=1",
            ));
        }
        if p.temporary_validity_days == 0 {
            return Err(key_error(
                "password.temporary_validity_days",
                "must be at least 1",
            ));
        }
        if self.session.idle_timeout_minutes == 0 || self.session.absolute_timeout_hours == 0 {
            return Err(key_error(
                "session.idle_timeout_minutes",
                "session timeouts must be positive",
            ));
        }
        if self.throttle.window_minutes == 0
            || self.throttle.failures_per_identifier == 0
            || self.throttle.failures_per_address == 0
        {
            return Err(key_error("throttle", "limits and window must be positive"));
        }
        if self.throttle.first_delay_ms > self.throttle.max_delay_ms {
            return Err(key_error(
                "throttle.max_delay_ms",
                "must be at least first_delay_ms",
            ));
        }
        for (i, u) in self.upstream.iter().enumerate() {
            let key = |k: &str| format!("upstream[{i}].{k}");
            let ok_id = !u.id.is_empty()
                && u.id.len() <= 32
                && u.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok_id {
                return Err(key_error(&key("id"), "1 to 32 of a-z, 0-9 and -"));
            }
            if self.upstream[..i].iter().any(|o| o.id == u.id) {
                return Err(key_error(&key("id"), format!("{} is declared twice", u.id)));
            }
            let loopback = matches!(u.issuer.host_str(), Some("127.0.0.1" | "localhost"));
            if u.issuer.scheme() != "https" && !(u.issuer.scheme() == "http" && loopback) {
                return Err(key_error(
                    &key("issuer"),
                    "must be https (http only on 127.0.0.1)",
                ));
            }
            if !matches!(
                u.token_endpoint_auth_method.as_str(),
                "client_secret_post" | "client_secret_basic"
            ) {
                return Err(key_error(
                    &key("token_endpoint_auth_method"),
                    "client_secret_post or client_secret_basic",
                ));
            }
            if !u.scopes.iter().any(|s| s == "openid") {
                return Err(key_error(&key("scopes"), "must include openid"));
            }
            u.resolved_secret(i)?;
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres:"))
        {
            return Err(key_error(
                "database_url",
                "must start with sqlite: or postgres:",
            ));
        }
        Ok(())
    }

    /// The issuer as tokens carry it: the URL without a trailing slash.
    pub fn issuer_id(&self) -> String {
        self.issuer.as_str().trim_end_matches('/').to_owned()
    }

    /// True when the issuer is plain http on the loopback interface (development only).
    pub fn issuer_is_loopback(&self) -> bool {
        matches!(
            self.issuer.host_str(),
            Some("127.0.0.1") | Some("localhost") | Some("[::1]")
        )
    }

    /// Whether cookies must carry the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        !(self.issuer.scheme() == "http" && self.issuer_is_loopback())
    }

    /// The database URL, read from its file when given that way.
    pub fn resolved_database_url(&self) -> Result<String, ConfigError> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        if let Some(path) = &self.database_url_file {
            return read_secret_file("database_url_file", path);
        }
        let file = self.data_dir.join("idp.sqlite");
        Ok(format!("sqlite://{}?mode=rwc", file.display()))
    }

    /// The Redis URL, if any, read from its file when given that way.
    pub fn resolved_redis_url(&self) -> Result<Option<String>, ConfigError> {
        if let Some(url) = &self.redis_url {
            return Ok(Some(url.clone()).filter(|u| !u.is_empty()));
        }
        match &self.redis_url_file {
            Some(path) => read_secret_file("redis_url_file", path).map(Some),
            None => Ok(None),
        }
    }
}

/// Reads a secret from a file, trimming the final newline that editors add.
pub fn read_secret_file(key: &str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
        .map_err(|e| key_error(key, format!("cannot read {}: {e}", path.display())))
}

fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        if !name.starts_with("IDP_") || NOT_CONFIG_KEYS.contains(&name.as_str()) {
            continue;
        }
        let path: Vec<String> = name["IDP_".len()..]
            .to_lowercase()
            .split("__")
            .map(str::to_owned)
            .collect();
        let value = parse_env_value(&raw);
        let mut target = &mut *table;
        for section in &path[..path.len() - 1] {
            let entry = target
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            target = entry.as_table_mut().ok_or_else(|| {
                key_error(
                    section,
                    format!("{name} treats it as a section, but it is a value"),
                )
            })?;
        }
        target.insert(path[path.len() - 1].clone(), value);
    }
    Ok(())
}

/// An environment value is read as a TOML value when it is one (`30`, `true`, `["a"]`),
/// otherwise as a plain string.
fn parse_env_value(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match probe.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        let c = Config::from_table(
            table(
                "issuer = 'https://x.fr'\ntrusted_proxies = ['127.0.0.1', '10.244.0.0/16', '::1']",
            ),
            Vec::new(),
        )
        .unwrap();
        let trusted = |ip: &str| {
            c.trusted_proxies
                .iter()
                .any(|r| r.contains(&ip.parse().unwrap()))
        };
        assert!(trusted("127.0.0.1") && trusted("10.244.3.7") && trusted("::1"));
        assert!(!trusted("127.0.0.2") && !trusted("10.245.0.1"));
        let e = Config::from_table(
            table("issuer = 'https://x.fr'\ntrusted_proxies = ['ingress']"),
            Vec::new(),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("neither an IP address nor a network"),
            "{e}"
        );
    }

    #[test]
    fn env_overrides_nested_keys_and_parses_numbers() {
        let env = vec![
            ("IDP_SESSION__IDLE_TIMEOUT_MINUTES".into(), "30".into()),
            ("IDP_DATABASE_URL".into(), "postgres://db/idp".into()),
            ("PATH".into(), "/bin".into()),
            ("IDP_CONFIG".into(), "/etc/idp.toml".into()),
        ];
        let c = Config::from_table(table("issuer = 'https://idp.example.fr'"), env).unwrap();
        assert_eq!(c.session.idle_timeout_minutes, 30);
        assert_eq!(c.database_url.as_deref(), Some("postgres://db/idp"));
    }

    #[test]
    fn error_names_the_bad_key() {
        let err = Config::from_table(
            table("issuer = 'https://idp.example.fr'\n[password]\nmin_length = 'eight'"),
            vec![],
        )
        .unwrap_err();
        assert!(err.to_string().contains("password.min_length"), "{err}");
        let err = Config::from_table(table("issuer = 'https://x.fr'\nlisten = 'nowhere'"), vec![])
            .unwrap_err();
        assert!(err.to_string().contains("`listen`"), "{err}");
        let err =
            Config::from_table(table("issuer = 'https://x.fr'\ncolour = 1"), vec![]).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn plain_http_issuer_only_on_loopback() {
        assert!(Config::from_table(table("issuer = 'http://127.0.0.1:8080'"), vec![]).is_ok());
        let err =
            Config::from_table(table("issuer = 'http://idp.example.fr'"), vec![]).unwrap_err();
        assert!(err.to_string().contains("`issuer`"), "{err}");
    }

    #[test]
    fn weak_argon2_parameters_are_refused() {
        let err = Config::from_table(
            table("issuer = 'https://x.fr'\n[password]\nargon2_memory_kib = 1024"),
            vec![],
        )
        .unwrap_err();
        assert!(err.to_string().contains("argon2"), "{err}");
    }

    #[test]
    fn upstream_providers_are_checked() {
        let fc = "issuer = 'https://x.fr'\n[[upstream]]\nid = 'franceconnect'\nissuer = 'https://fc.example/api/v2'\nclient_id = 'c'\nclient_secret = 's'";
        let c = Config::from_table(table(fc), vec![]).unwrap();
        let u = &c.upstream[0];
        assert_eq!(u.label, "FranceConnect");
        assert_eq!(u.acr_values.as_deref(), Some("eidas1"));
        assert!(u.userinfo_signed && u.scopes.contains(&"birthdate".to_owned()));
        assert_eq!(u.claims.usage_name, "preferred_username");
        let err =
            Config::from_table(table(&fc.replace("https://fc", "http://fc")), vec![]).unwrap_err();
        assert!(err.to_string().contains("upstream[0].issuer"), "{err}");
        let err =
            Config::from_table(table(&fc.replace("client_secret = 's'", "")), vec![]).unwrap_err();
        assert!(
            err.to_string().contains("upstream[0].client_secret"),
            "{err}"
        );
        let twice = format!(
            "{fc}\n[[upstream]]\nid = 'franceconnect'\nissuer = 'https://b.fr'\nclient_id = 'c'\nclient_secret = 's'"
        );
        let err = Config::from_table(table(&twice), vec![]).unwrap_err();
        assert!(err.to_string().contains("twice"), "{err}");
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db");
        std::fs::write(&file, "postgres://secret@db/idp\n").unwrap();
        let env = vec![(
            "IDP_DATABASE_URL_FILE".to_owned(),
            file.display().to_string(),
        )];
        let c = Config::from_table(table("issuer = 'https://x.fr'"), env).unwrap();
        assert_eq!(
            c.resolved_database_url().unwrap(),
            "postgres://secret@db/idp"
        );
        assert!(c.secure_cookies());
    }

    #[test]
    fn the_documented_example_loads() {
        let text = include_str!("../../../deploy/idp.example.toml");
        let mut table: toml::Table = text.parse().unwrap();
        // its secret files exist only where it is deployed
        table.remove("upstream");
        let c = Config::from_table(table, Vec::new()).unwrap();
        assert_eq!(c.import.leaving_grace_days, 30);
        assert!(c.notify.sms.gateway_url.is_some());
        assert!(!c.notify.outbox_page);
    }
}
