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
    /// Measure the IdP on this machine (embedded backends) and print the figures.
    Bench {
        #[arg(long, default_value_t = 40)]
        rounds: usize,
    },
    /// Bring the database schema up to date, then exit.
    Migrate {
        #[arg(long, env = "IDP_CONFIG")]
        config: PathBuf,
    },
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
    Ok(Config::from_table(table, std::env::vars())?)
}

fn print_demo_banner(config: &Config) {
    println!();
    println!("  Démo du fournisseur d'identité : {}", config.issuer);
    println!("  Données : {}", config.data_dir.display());
    println!();
    println!("  Comptes de démonstration :");
    for (profile, identifier, password) in idp::demo::DEMO_ACCOUNTS {
        println!("    {profile:<45} {identifier:<15} {password}");
    }
    println!("    Responsable sans compte : Paul DURAND, portable 0612345678");
    println!();
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
            if let Some((college, ecole)) = idp::demo::seed(&state).await? {
                tracing::info!(
                    accounts = college.accounts_created.len() + ecole.accounts_created.len(),
                    "demo data seeded"
                );
            }
            let listen = state.config.listen;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen on {listen} (try --port)"))?;
            print_demo_banner(&state.config);
            serve_on(listener, state).await
        }
        Command::Bench { rounds } => idp::bench::run(rounds).await,
        Command::Migrate { config } => {
            let config = Config::load(&config, std::env::vars())?;
            init_logging(config.log_format);
            let url = config.resolved_database_url()?;
            idp::store::sql::SqlStore::open(&url, 1).await?;
            println!("database schema is up to date");
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("idp: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
