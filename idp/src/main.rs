//! The `idp` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use idp::app::{AppState, SystemClock, serve_on};
use idp::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "idp",
    version,
    about = "Fournisseur d'identité des établissements scolaires"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the IdP with a configuration file (plus IDP_* environment overrides).
    Serve {
        #[arg(long, env = "IDP_CONFIG")]
        config: PathBuf,
    },
    /// Run the self-contained demo: embedded storage, demo school and accounts, on localhost.
    Demo {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        #[arg(long, default_value = "./idp-data")]
        data_dir: PathBuf,
    },
    /// Import one school's export (etablissement.csv, eleves.csv, responsables.csv, liens.csv):
    /// all of it or, on any bad line, nothing.
    Import {
        /// The directory holding the school's four CSV files.
        dir: PathBuf,
        #[command(flatten)]
        deployment: Deployment,
        /// Also write the report as JSON into this file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Write the new accounts' credential letters here, one PDF per class.
        #[arg(long)]
        letters: Option<PathBuf>,
    },
    /// Put the demo's schools, accounts and staff into a deployment (a trial, or the local
    /// topology of deploy/local): nothing is changed if they are already there.
    SeedDemo {
        #[command(flatten)]
        deployment: Deployment,
        /// Seed a deployment with an https issuer too: a trial nobody else can reach, as the
        /// demo's passwords and staff TOTP secret are published.
        #[arg(long)]
        trial: bool,
    },
    /// Check a configuration before deploying it: the file, the secrets it names and every
    /// relying-party registration, without connecting to anything.
    Check {
        #[arg(long, env = "IDP_CONFIG")]
        config: PathBuf,
    },
    /// Measure the IdP on this machine and print the figures (docs/benchmarks.md): starts
    /// `idp serve` (embedded backends unless --postgres/--redis) and drives it over HTTP.
    Bench {
        /// How long each throughput case runs, in seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Connections of the load generator.
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// How long the sign-in storm lasts, in seconds.
        #[arg(long, default_value_t = 20.0)]
        storm_seconds: f64,
        /// Refreshes and SAML SSO per second (each) that go on during the storm.
        #[arg(long, default_value_t = 100.0)]
        storm_background: f64,
        /// Failed sign-ins per case for their timing.
        #[arg(long, default_value_t = 40)]
        rounds: usize,
        /// Pupils of the imported school (0: no import).
        #[arg(long, default_value_t = 100_000)]
        import_pupils: usize,
        /// Guardians of the imported school (default: 1.5 per pupil).
        #[arg(long)]
        import_guardians: Option<usize>,
        /// Also write the figures to this file, as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// PostgreSQL instead of SQLite: an empty database (the benchmark writes into it).
        #[arg(long)]
        postgres: Option<String>,
        /// Redis instead of the in-process store.
        #[arg(long)]
        redis: Option<String>,
    },
    /// Signing keys: `rotate` adds new keys and retires the current ones.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Relying parties: `add` registers a new OpenID Connect client.
    Client {
        #[command(subcommand)]
        action: ClientAction,
    },
    /// School staff: `add` creates an administrator (the first one too), `reset` gives a new
    /// password and clears the second factor (a lost phone).
    Staff {
        #[command(subcommand)]
        action: StaffAction,
    },
    /// The audit log: `verify` recomputes its hash chain and reports the first broken link.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Print the current code of a TOTP secret (base32), as an authenticator app would: for
    /// the demo's staff accounts.
    Totp { secret: String },
    /// Print the configuration reference (docs/configuration.md), generated from the
    /// configuration type: every key, its type, default, environment variable and meaning.
    ConfigReference,
    /// Bring the database schema up to date, then exit.
    Migrate {
        #[arg(long, env = "IDP_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Add new ES256 and RS256 keys and retire the current ones (kept in the JWKS until the
    /// tokens they signed have expired). Running nodes pick them up within a minute.
    Rotate {
        #[arg(long, env = "IDP_CONFIG")]
        config: PathBuf,
    },
    /// List the keys with their state.
    List {
        #[arg(long, env = "IDP_CONFIG")]
        config: PathBuf,
    },
}

/// Where a command finds the deployment: its configuration, or an embedded data directory.
#[derive(clap::Args)]
struct Deployment {
    /// The data directory of an embedded deployment (the demo's by default).
    #[arg(long, conflicts_with = "config", default_value = "./idp-data")]
    data_dir: PathBuf,
    #[arg(long, env = "IDP_CONFIG")]
    config: Option<PathBuf>,
}

impl Deployment {
    fn config(&self) -> anyhow::Result<Config> {
        match &self.config {
            Some(path) => Ok(Config::load(path, std::env::vars())?),
            None => embedded_config(&self.data_dir),
        }
    }

    async fn open(&self) -> anyhow::Result<idp::app::SharedState> {
        AppState::build(self.config()?, Arc::new(SystemClock)).await
    }
}

#[derive(Subcommand)]
enum AuditAction {
    /// Seal the events written since the last seal, then recompute the whole chain: exits
    /// with an error naming the first event whose link does not hold.
    Verify {
        #[command(flatten)]
        deployment: Deployment,
    },
}

#[derive(Subcommand)]
enum StaffAction {
    /// Create a staff member with a generated password, printed once; the authenticator app
    /// is enrolled (QR code) at the first sign-in on /admin/connexion.
    Add {
        #[command(flatten)]
        deployment: Deployment,
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        #[arg(long)]
        email: Option<String>,
        /// school_admin (the schools of --uai) or platform_admin (every school).
        #[arg(long, default_value = "school_admin")]
        role: String,
        /// UAI of a school administered (repeatable).
        #[arg(long = "uai")]
        schools: Vec<String>,
    },
    /// A new generated password, printed once, and no second factor until the next sign-in;
    /// the staff member's sessions end.
    Reset {
        #[command(flatten)]
        deployment: Deployment,
        #[arg(long)]
        identifier: String,
    },
    /// Stop a staff member's sign-ins (someone who left); their sessions end.
    Disable {
        #[command(flatten)]
        deployment: Deployment,
        #[arg(long)]
        identifier: String,
    },
    /// Allow a disabled staff member's sign-ins again.
    Enable {
        #[command(flatten)]
        deployment: Deployment,
        #[arg(long)]
        identifier: String,
    },
    /// List the staff: identifier, role, state, second factor, schools.
    List {
        #[command(flatten)]
        deployment: Deployment,
    },
}

#[derive(Subcommand)]
enum ClientAction {
    /// Register a confidential OpenID Connect client with a generated secret, printed once.
    Add {
        #[arg(long, env = "IDP_CONFIG")]
        config: PathBuf,
        /// The client_id (also the file name).
        #[arg(long)]
        client_id: String,
        /// Name shown to people (consent page).
        #[arg(long)]
        name: String,
        /// Allowed redirect URI (repeatable).
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Allowed post-logout redirect URI (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// client_secret_basic or client_secret_post.
        #[arg(long, default_value = "client_secret_basic")]
        auth_method: String,
        /// Claim the client may receive (repeatable).
        #[arg(long = "claim")]
        claims: Vec<String>,
        /// Also issue refresh tokens.
        #[arg(long)]
        refresh_tokens: bool,
    },
}

fn toml_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|i| toml::Value::String(i.clone()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

async fn open_state(config: &std::path::Path) -> anyhow::Result<idp::app::SharedState> {
    let config = Config::load(config, std::env::vars())?;
    AppState::build(config, Arc::new(SystemClock)).await
}

/// glibc gives each thread that allocates its own arena (up to 8 per core) and keeps what was
/// freed in each: with a tokio pool, a SQLite thread per connection and the hashing threads,
/// memory under load doubled. Two arenas per core are enough for two cores' worth of threads.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        // SAFETY: mallopt only sets an allocator parameter; arenas made later obey it.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, (2 * cores) as libc::c_int);
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("IDP_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn demo_config(port: u16, data_dir: &std::path::Path) -> anyhow::Result<Config> {
    let mut table = toml::Table::new();
    table.insert("issuer".into(), format!("http://127.0.0.1:{port}").into());
    table.insert("listen".into(), format!("127.0.0.1:{port}").into());
    table.insert("data_dir".into(), data_dir.display().to_string().into());
    let relying_parties = data_dir.join("relying-parties");
    let ports = idp::demo::DemoPorts::from_idp(port);
    idp::demo::write_registrations(&relying_parties, ports)
        .with_context(|| format!("cannot write {}", relying_parties.display()))?;
    table.insert(
        "upstream".into(),
        toml::Value::Array(vec![ports.upstream_table().into()]),
    );
    // no mail or SMS leaves the demo: they are read at /dev/outbox
    let mut notify = toml::Table::new();
    notify.insert("outbox_page".into(), true.into());
    table.insert("notify".into(), notify.into());
    table.insert(
        "relying_parties_dir".into(),
        relying_parties.display().to_string().into(),
    );
    Ok(Config::from_table(table, std::env::vars())?)
}

/// The configuration of an embedded deployment in `data_dir`, as the demo uses it.
fn embedded_config(data_dir: &std::path::Path) -> anyhow::Result<Config> {
    let mut table = toml::Table::new();
    table.insert("issuer".into(), "http://127.0.0.1:8080".into());
    table.insert("data_dir".into(), data_dir.display().to_string().into());
    table.insert(
        "relying_parties_dir".into(),
        data_dir
            .join("relying-parties")
            .display()
            .to_string()
            .into(),
    );
    Ok(Config::from_table(table, std::env::vars())?)
}

fn print_demo_banner(config: &Config, ports: idp::demo::DemoPorts) {
    println!();
    println!("  Démo du fournisseur d'identité : {}", config.issuer_id());
    println!("  Données : {}", config.data_dir.display());
    println!();
    println!("  Comptes de démonstration :");
    for (profile, identifier, password) in idp::demo::DEMO_ACCOUNTS {
        println!("    {profile:<45} {identifier:<15} {password}");
    }
    println!(
        "    Responsable sans compte : Paul DURAND, portable 0612345678 (« Je n'ai pas de compte »)"
    );
    println!();
    println!(
        "  Administration des établissements : {}/admin/connexion",
        config.issuer_id()
    );
    for (identifier, _, _, uai, password) in idp::demo::DEMO_STAFF {
        println!("    Personnel {uai:<35} {identifier:<15} {password}");
    }
    println!(
        "    Code de sécurité (TOTP) : cargo run --release -- totp {}",
        idp::demo::DEMO_TOTP_SECRET
    );
    println!(
        "    API d'administration : client {} / {} (client_credentials, scope admin)",
        idp::demo::DEMO_ADMIN_CLIENT_ID,
        idp::demo::DEMO_ADMIN_CLIENT_SECRET
    );
    println!(
        "  Courriels et SMS (codes, liens) : {}/dev/outbox",
        config.issuer_id()
    );
    println!();
    let site = ports.site();
    println!("  ENT de démonstration (OpenID Connect) : {}/", site.ent);
    println!("  Pronote de démonstration (CAS)        : {}", site.pronote);
    println!(
        "  Bac à sable FranceConnect (outil de développement) : {}",
        ports.sandbox_issuer()
    );
    println!();
    println!(
        "  Clients OpenID Connect : ent-demo / ent-demo-secret, teleservice-demo / teleservice-demo-secret"
    );
    println!(
        "  Découverte : {}/.well-known/openid-configuration",
        config.issuer_id()
    );
    println!();
}

async fn bind_demo(port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port} (try --port)"))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(&config, std::env::vars())?;
            init_logging(config.log_format);
            let listen: SocketAddr = config.listen;
            let state = AppState::build(config, Arc::new(SystemClock)).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!(%listen, issuer = %state.config.issuer, "serving");
            serve_on(listener, state).await
        }
        Command::Demo { port, data_dir } => {
            let config = demo_config(port, &data_dir)?;
            init_logging(config.log_format);
            let state = AppState::build(config, Arc::new(SystemClock)).await?;
            if let Some(reports) = idp::demo::seed(&state).await? {
                tracing::info!(
                    accounts = reports
                        .iter()
                        .map(|r| r.accounts_created.len())
                        .sum::<usize>(),
                    "demo data seeded"
                );
            }
            let ports = idp::demo::DemoPorts::from_idp(port);
            let listener = bind_demo(port).await?;
            let ent = bind_demo(ports.ent).await?;
            let pronote = bind_demo(ports.pronote).await?;
            let sandbox = bind_demo(ports.franceconnect).await?;
            demo_services::spawn(ports.site(), ent, pronote);
            demo_services::fc_sandbox::spawn(
                ports.sandbox_issuer(),
                ports.sandbox_client(),
                sandbox,
            );
            print_demo_banner(&state.config, ports);
            serve_on(listener, state).await
        }
        Command::ConfigReference => {
            print!("{}", idp::config::reference::markdown());
            Ok(())
        }
        Command::Check { config: path } => {
            let config = Config::load(&path, std::env::vars())?;
            let server_secret = idp::app::server_secret(&config)?;
            let database = config.resolved_database_url()?;
            let redis = config.resolved_redis_url()?;
            let registry =
                idp::registry::Registry::load(&config.relying_parties_dir, &server_secret)?;
            let (oidc, saml, cas) = registry.counts();
            // the URLs may hold passwords: only their scheme is shown
            let scheme = |url: &str| url.split(':').next().unwrap_or("").to_owned();
            println!("{}: configuration valid", path.display());
            println!("  issuer          {}", config.issuer);
            println!("  listen          {}", config.listen);
            println!("  database        {}", scheme(&database));
            println!(
                "  ephemeral store {}",
                redis
                    .as_deref()
                    .map_or("in-process (one node only)".into(), scheme)
            );
            println!(
                "  relying parties {oidc} OpenID Connect, {saml} SAML, {cas} CAS ({})",
                config.relying_parties_dir.display()
            );
            Ok(())
        }
        Command::SeedDemo { deployment, trial } => {
            let config = deployment.config()?;
            if !config.issuer_is_loopback() && !trial {
                anyhow::bail!(
                    "{} is not a local address: the demo's accounts have published passwords \
                     and a published staff TOTP secret; pass --trial for a trial deployment \
                     nobody else can reach",
                    config.issuer
                );
            }
            let state = AppState::build(config, Arc::new(SystemClock)).await?;
            match idp::demo::seed(&state).await? {
                Some(reports) => {
                    let accounts: usize = reports.iter().map(|r| r.accounts_created.len()).sum();
                    println!(
                        "demo data seeded: {accounts} accounts, staff admin.college and admin.lycee"
                    );
                }
                None => println!("demo data already there: nothing changed"),
            }
            Ok(())
        }
        Command::Import {
            dir,
            deployment,
            report,
            letters,
        } => {
            let importer = idp::import::Importer::open(deployment.config()?).await?;
            let now = idp::app::Clock::now(&SystemClock);
            let outcome = importer.import_dir(&dir, letters.as_deref(), now).await?;
            print!("{}", outcome.to_text());
            if let Some(path) = report {
                std::fs::write(&path, serde_json::to_string_pretty(&outcome)? + "\n")
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            if outcome.rejected > 0 {
                anyhow::bail!("import refused: {} line(s) rejected", outcome.rejected);
            }
            if outcome.accounts_created > 0 && letters.is_none() {
                eprintln!(
                    "idp: attention : {} compte(s) créé(s) sans courrier (--letters) ; leurs mots de passe provisoires ne sont connus de personne",
                    outcome.accounts_created
                );
            }
            Ok(())
        }
        Command::Bench {
            seconds,
            connections,
            storm_seconds,
            storm_background,
            rounds,
            import_pupils,
            import_guardians,
            json,
            postgres,
            redis,
        } => {
            anyhow::ensure!(
                seconds > 0.0 && storm_seconds > 0.0 && connections > 0,
                "--seconds, --storm-seconds and --connections must be positive"
            );
            idp::bench::run(idp::bench::Options {
                seconds,
                connections,
                storm_seconds,
                storm_background_per_s: storm_background,
                rounds,
                import_pupils,
                import_guardians: import_guardians.unwrap_or(import_pupils * 3 / 2),
                json,
                backends: idp::bench::Backends { postgres, redis },
            })
            .await
            .map(|_| ())
        }
        Command::Keys { action } => match action {
            KeysAction::Rotate { config } => {
                let state = open_state(&config).await?;
                let now = idp::app::Clock::now(state.clock.as_ref());
                state.keys.rotate(now).await?;
                state
                    .audit
                    .append(&idp::audit::NewAuditEvent {
                        at: now,
                        kind: idp::audit::AuditKind::SigningKeysRotated,
                        actor: idp::audit::Actor::System,
                        subject: None,
                        source_address: None,
                        details: serde_json::json!({}),
                    })
                    .await?;
                let keys = state.keys.current();
                for alg in [
                    idp::keys::signing::SigningAlg::ES256,
                    idp::keys::signing::SigningAlg::RS256,
                ] {
                    println!(
                        "active {} key: {}",
                        alg.as_str(),
                        keys.active_kid(alg).unwrap_or("-")
                    );
                }
                Ok(())
            }
            KeysAction::List { config } => {
                let state = open_state(&config).await?;
                let now = idp::app::Clock::now(state.clock.as_ref());
                println!(
                    "{}",
                    serde_json::to_string_pretty(&state.keys.current().jwks(now, 3600))?
                );
                Ok(())
            }
        },
        Command::Client { action } => match action {
            ClientAction::Add {
                config,
                client_id,
                name,
                redirect_uris,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                auth_method,
                claims,
                refresh_tokens,
            } => {
                let config = Config::load(&config, std::env::vars())?;
                let secret = idp::app::server_secret(&config)?;
                let client_secret = idp::keys::random_token(32);
                let mut grants = vec!["authorization_code".to_owned()];
                if refresh_tokens {
                    grants.push("refresh_token".into());
                }
                let mut text = format!(
                    "protocol = \"oidc\"\nclient_id = {}\nname = {}\nclient_secret_hash = {}\ntoken_endpoint_auth_method = {}\nredirect_uris = {}\npost_logout_redirect_uris = {}\ngrant_types = {}\nscopes = [\"openid\", \"profile\", \"educonnect\"]\nclaims = {}\n",
                    toml::Value::String(client_id.clone()),
                    toml::Value::String(name),
                    toml::Value::String(secret.hash_generated_secret(&client_secret)),
                    toml::Value::String(auth_method),
                    toml_list(&redirect_uris),
                    toml_list(&post_logout_redirect_uris),
                    toml_list(&grants),
                    toml_list(&claims),
                );
                if let Some(uri) = backchannel_logout_uri {
                    text.push_str(&format!(
                        "backchannel_logout_uri = {}\n",
                        toml::Value::String(uri)
                    ));
                }
                // refuse to write a registration the server would refuse to load
                let mut check =
                    idp::registry::Registry::load(&config.relying_parties_dir, &secret)?;
                check
                    .add_toml(&text, &secret)
                    .map_err(|e| anyhow::anyhow!(e))?;
                std::fs::create_dir_all(&config.relying_parties_dir)?;
                let file = config.relying_parties_dir.join(format!("{client_id}.toml"));
                std::fs::write(&file, text)?;
                println!("registered {client_id} in {}", file.display());
                println!("client secret (shown once, store it now): {client_secret}");
                Ok(())
            }
        },
        Command::Staff { action } => match action {
            StaffAction::Add {
                deployment,
                identifier,
                first_name,
                last_name,
                email,
                role,
                schools,
            } => {
                let role = idp::domain::staff::StaffRole::parse(&role).with_context(|| {
                    format!("--role: {role} is neither school_admin nor platform_admin")
                })?;
                let state = deployment.open().await?;
                let password = idp::admin::add_staff(
                    &state,
                    &identifier,
                    &first_name,
                    &last_name,
                    email.as_deref(),
                    role,
                    &schools,
                )
                .await?;
                println!(
                    "staff member {} created ({})",
                    idp::domain::identifier::normalize_typed(&identifier),
                    role.as_str()
                );
                println!("password (shown once, hand it over now): {password}");
                println!(
                    "sign in at {}/admin/connexion; the authenticator app is enrolled then",
                    state.issuer
                );
                Ok(())
            }
            StaffAction::Reset {
                deployment,
                identifier,
            } => {
                let state = deployment.open().await?;
                let password = idp::admin::reset_staff(&state, &identifier).await?;
                println!("new password for {identifier} (shown once): {password}");
                println!("the authenticator app will be enrolled again at the next sign-in");
                Ok(())
            }
            StaffAction::Disable {
                deployment,
                identifier,
            } => {
                let state = deployment.open().await?;
                idp::admin::set_staff_active(&state, &identifier, false).await?;
                println!("staff member {identifier} disabled, sessions ended");
                Ok(())
            }
            StaffAction::Enable {
                deployment,
                identifier,
            } => {
                let state = deployment.open().await?;
                idp::admin::set_staff_active(&state, &identifier, true).await?;
                println!("staff member {identifier} enabled");
                Ok(())
            }
            StaffAction::List { deployment } => {
                let state = deployment.open().await?;
                for s in state.staff.all_staff().await? {
                    println!(
                        "{:<24} {:<15} {:<9} {:<12} {}",
                        s.identifier,
                        s.role.as_str(),
                        if s.active { "active" } else { "disabled" },
                        if s.sealed_totp_secret.is_some() {
                            "totp"
                        } else {
                            "totp-pending"
                        },
                        if s.schools.is_empty() {
                            "*".to_owned()
                        } else {
                            s.schools.join(",")
                        },
                    );
                }
                Ok(())
            }
        },
        Command::Audit {
            action: AuditAction::Verify { deployment },
        } => {
            let state = deployment.open().await?;
            let now = idp::app::Clock::now(&SystemClock);
            while state.audit_chain.seal(1000, now).await? == 1000 {}
            let report = state.audit_chain.verify_chain().await?;
            println!(
                "{} events, {} sealed, {} waiting to be sealed",
                report.events, report.sealed, report.waiting
            );
            if let Some(broken) = &report.broken {
                anyhow::bail!(
                    "audit chain broken at link {} (event {}): {}",
                    broken.seq,
                    broken.event_id,
                    broken.reason
                );
            }
            if report.outside > 0 {
                anyhow::bail!(
                    "{} events are neither sealed nor waiting: taken out of the sealer's list",
                    report.outside
                );
            }
            println!("audit chain intact");
            Ok(())
        }
        Command::Totp { secret } => {
            let bytes = idp::domain::totp::from_base32(&secret)
                .filter(|b| !b.is_empty())
                .context("the secret is not base32")?;
            let now = idp::app::Clock::now(&SystemClock);
            let left = idp::domain::totp::STEP_SECONDS - now % idp::domain::totp::STEP_SECONDS;
            println!(
                "{}  (valable encore {left} s)",
                idp::domain::totp::code_at(&bytes, now)
            );
            Ok(())
        }
        Command::Migrate { config } => {
            let config = Config::load(&config, std::env::vars())?;
            init_logging(config.log_format);
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    config.data_dir.display()
                )
            })?;
            let url = config.resolved_database_url()?;
            idp::store::sql::SqlStore::open(&url, 1).await?;
            println!("database schema is up to date");
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idp: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
