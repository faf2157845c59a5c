//! The IdP under test: its configuration and registrations written in a temporary directory,
//! the demo data seeded, then `idp serve` started as a child process of this binary, so that
//! its memory is measured apart from the load generator's.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::app::{AppState, SystemClock};
use crate::config::Config;

/// The relying parties the benchmark drives.
pub const CLIENT_ID: &str = "bench-ent";
pub const CLIENT_SECRET: &str = "bench-ent-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
pub const SERVICE_CLIENT_ID: &str = "bench-service";
pub const SERVICE_CLIENT_SECRET: &str = "bench-service-secret";
pub const CAS_SERVICE: &str = "https://pronote.bench.example/";
pub const SAML_ENTITY_ID: &str = "https://ent-saml.local.example/saml";
pub const SAML_ACS: &str = "https://ent-saml.local.example/saml/acs";

/// Where the benchmark's data lives: SQLite and the in-process store by default, or the
/// production backends.
#[derive(Clone, Debug, Default)]
pub struct Backends {
    pub postgres: Option<String>,
    pub redis: Option<String>,
}

impl Backends {
    pub fn label(&self) -> String {
        match (&self.postgres, &self.redis) {
            (None, None) => "embedded: SQLite + in-process state".into(),
            (Some(_), Some(_)) => "PostgreSQL + Redis".into(),
            (Some(_), None) => "PostgreSQL + in-process state".into(),
            (None, Some(_)) => "SQLite + Redis".into(),
        }
    }
}

fn write_registrations(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("bench-ent.toml"),
        format!(
            r#"protocol = "oidc"
client_id = "{CLIENT_ID}"
name = "ENT du banc d'essai"
client_secret = "{CLIENT_SECRET}"
token_endpoint_auth_method = "client_secret_basic"
redirect_uris = ["{REDIRECT_URI}"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "educonnect", "offline_access"]
claims = ["given_name", "family_name", "FrEduCtPersonAffiliation", "FrEduCtEleveUAI"]
subject_type = "pairwise"
id_token_signed_response_alg = "ES256"
"#
        ),
    )?;
    std::fs::write(
        dir.join("bench-service.toml"),
        format!(
            r#"protocol = "oidc"
client_id = "{SERVICE_CLIENT_ID}"
name = "Service de vie scolaire du banc d'essai"
client_secret = "{SERVICE_CLIENT_SECRET}"
token_endpoint_auth_method = "client_secret_basic"
grant_types = ["client_credentials"]
scopes = ["educonnect"]
introspection = true
"#
        ),
    )?;
    std::fs::write(
        dir.join("bench-cas.toml"),
        format!(
            r#"protocol = "cas"
id = "bench-pronote"
name = "Pronote du banc d'essai"
services = ["{CAS_SERVICE}"]
attributes = ["sn", "givenName", "FrEduCtPersonAffiliation", "FrEduCtEleveUAI"]
"#
        ),
    )?;
    std::fs::write(
        dir.join("bench-saml.toml"),
        format!(
            r#"protocol = "saml"
entity_id = "{SAML_ENTITY_ID}"
name = "ENT SAML du banc d'essai"
metadata_file = "bench-saml.xml"
attributes = ["sn", "givenName", "FrEduCtPersonAffiliation", "FrEduCtEleveUAI"]
"#
        ),
    )?;
    // the local topology's SP: unsigned requests, a certificate whose key was thrown away
    std::fs::write(
        dir.join("bench-saml.xml"),
        include_str!("../../../deploy/relying-parties/ent-saml.xml"),
    )?;
    Ok(())
}

/// The configuration of the IdP under test, as a TOML table.
pub fn config_table(dir: &Path, port: u16, backends: &Backends) -> toml::Table {
    let mut table = toml::Table::new();
    table.insert("issuer".into(), format!("http://127.0.0.1:{port}").into());
    table.insert("listen".into(), format!("127.0.0.1:{port}").into());
    table.insert(
        "data_dir".into(),
        dir.join("data").display().to_string().into(),
    );
    table.insert(
        "relying_parties_dir".into(),
        dir.join("relying-parties").display().to_string().into(),
    );
    if let Some(url) = &backends.postgres {
        table.insert("database_url".into(), url.clone().into());
    }
    if let Some(url) = &backends.redis {
        table.insert("redis_url".into(), url.clone().into());
        // keys of one run apart from any other's; they expire by themselves
        table.insert(
            "redis_key_prefix".into(),
            format!("idp-bench-{}:", crate::keys::random_token(6)).into(),
        );
    }
    // the benchmark measures the work of a sign-in, not the throttle that protects it
    let mut throttle = toml::Table::new();
    throttle.insert("failures_per_identifier".into(), 1_000_000_000.into());
    throttle.insert("failures_per_address".into(), 1_000_000_000.into());
    throttle.insert("delay_after_failures".into(), 1_000_000_000.into());
    table.insert("throttle".into(), throttle.into());
    table
}

/// The running IdP.
pub struct Server {
    pub base: String,
    child: tokio::process::Child,
    pid: u32,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Seeds the demo data and starts `idp serve` on a free port; returns once it answers.
    pub async fn start(backends: &Backends) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        write_registrations(&dir.path().join("relying-parties"))?;
        let table = config_table(dir.path(), port, backends);
        let config_file = dir.path().join("idp.toml");
        std::fs::write(&config_file, toml::to_string(&table)?)?;
        {
            let config = Config::from_table(table, std::iter::empty())?;
            let state = AppState::build(config, Arc::new(SystemClock)).await?;
            crate::demo::seed(&state).await?;
        }
        let log = dir.path().join("idp.log");
        let out = std::fs::File::create(&log)?;
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        // the generated file is the whole configuration: no IDP_* override from this shell
        // (an unknown one, such as CI's IDP_BIN, would stop the start)
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("IDP_") {
                command.env_remove(key);
            }
        }
        let child = command
            .arg("serve")
            .arg("--config")
            .arg(&config_file)
            .env("IDP_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start `idp serve`")?;
        let pid = child.id().context("the IdP exited at once")?;
        let mut server = Self {
            base: format!("http://127.0.0.1:{port}"),
            child,
            pid,
            log,
            _dir: dir,
        };
        let probe = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = probe.get(format!("{}/healthz", server.base)).send().await
                && r.status().is_success()
            {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                // the log goes with the temporary directory: show it now
                let log = std::fs::read_to_string(&server.log).unwrap_or_default();
                anyhow::bail!("the IdP stopped ({status}):\n{}", log.trim_end());
            }
            anyhow::ensure!(Instant::now() < deadline, "the IdP did not start in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the process is still running (it did not crash).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory now and its peak since start, in MB, from /proc.
    pub fn rss_mb(&self) -> anyhow::Result<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .context("cannot read the IdP's memory (Linux /proc)")?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
                .with_context(|| format!("no {name} in /proc status"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}
