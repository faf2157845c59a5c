//! `idp bench`: starts an embedded IdP with the demo data on a free port, drives it over HTTP
//! with its own client, and prints what it measured. Figures are comparable only within one
//! run (the machine is shared): read the ratios.

mod import;
pub use import::run as import;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::app::{AppState, SharedState, SystemClock};
use crate::config::Config;

/// Median and 99th percentile of a set of durations, in milliseconds.
fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

struct Running {
    base: String,
    state: SharedState,
    _dir: tempfile::TempDir,
}

async fn start() -> anyhow::Result<Running> {
    let dir = tempfile::tempdir()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let mut table = toml::Table::new();
    table.insert("issuer".into(), format!("http://127.0.0.1:{port}").into());
    table.insert("listen".into(), format!("127.0.0.1:{port}").into());
    table.insert("data_dir".into(), dir.path().display().to_string().into());
    // the benchmark measures the work of a sign-in, not the throttle that protects it
    let mut throttle = toml::Table::new();
    throttle.insert("failures_per_identifier".into(), 1_000_000_000.into());
    throttle.insert("failures_per_address".into(), 1_000_000_000.into());
    table.insert("throttle".into(), throttle.into());
    let config = Config::from_table(table, std::env::vars())?;
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    crate::demo::seed(&state).await?;
    let served = state.clone();
    tokio::spawn(async move { crate::app::serve_on(listener, served).await });
    Ok(Running {
        base: format!("http://127.0.0.1:{port}"),
        state,
        _dir: dir,
    })
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// One sign-in attempt by a fresh browser; returns the time of the POST alone.
async fn timed_sign_in(
    base: &str,
    identifier: &str,
    password: &str,
) -> anyhow::Result<(Duration, u16)> {
    let browser = client()?;
    let html = browser
        .get(format!("{base}/login?profil=eleve"))
        .send()
        .await?
        .text()
        .await?;
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).context("no CSRF field")? + marker.len();
    let csrf = &html[start..start + html[start..].find('"').context("bad CSRF field")?];
    let t = Instant::now();
    let response = browser
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf),
            ("typeUser", "eleve"),
            ("identifier", identifier),
            ("password", password),
        ])
        .send()
        .await?;
    Ok((t.elapsed(), response.status().as_u16()))
}

/// argon2id verifications per second with every core busy: the ceiling of password sign-ins.
async fn argon2_bound(state: &SharedState, seconds: f64) -> anyhow::Result<f64> {
    let stored = state.hasher.hash("Cartable-2026").await?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let hasher = state.hasher.clone();
        let stored = stored.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                hasher.verify("Cartable-2026", Some(&stored)).await.ok();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await?;
    }
    Ok(total as f64 / t.elapsed().as_secs_f64())
}

/// Runs the benchmark and prints its figures.
pub async fn run(rounds: usize) -> anyhow::Result<()> {
    let running = start().await?;
    let base = running.base.as_str();
    println!("idp bench — embedded IdP at {base}, {rounds} rounds per case");
    if cfg!(debug_assertions) {
        println!("  (debug build: use `cargo run --release -- bench` for real figures)");
    }

    let bound = argon2_bound(&running.state, 3.0).await?;
    println!("argon2_bound_per_s              {bound:>9.1}");

    // Failed sign-ins: interleaved so that machine noise hits every case alike.
    let cases = [
        (
            "wrong password, activated account",
            "lea.martin",
            "Mauvais-2026",
        ),
        ("unknown identifier", "personne.inconnue", "Mauvais-2026"),
        (
            "wrong password, not activated",
            "hugo.martin",
            "Mauvais-2026",
        ),
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (i, (_, identifier, password)) in cases.iter().enumerate() {
            let (elapsed, status) = timed_sign_in(base, identifier, password).await?;
            anyhow::ensure!(status == 200, "unexpected status {status}");
            samples[i].push(elapsed);
        }
    }
    println!("failed sign-in latency (same answer for all three):");
    let mut medians = Vec::new();
    for ((label, _, _), s) in cases.iter().zip(samples) {
        let (p50, p99) = percentiles(s);
        medians.push(p50);
        println!("  {label:<36} p50 {p50:>7.2} ms   p99 {p99:>7.2} ms");
    }
    println!(
        "  ratio unknown / wrong password (p50) {:>6.3}",
        medians[1] / medians[0]
    );
    println!(
        "  ratio not activated / wrong password (p50) {:>6.3}",
        medians[2] / medians[0]
    );
    Ok(())
}
