//! `idp bench`: starts the IdP (`idp serve` as a child process, embedded backends unless
//! `--postgres`/`--redis`), drives it over HTTP with its own load generator, and prints what
//! it measured, as a table and, with `--json FILE`, as JSON. The load generator runs on the
//! same cores as the IdP: figures are those of the whole machine. They are comparable only
//! within one run (the machine is shared): read the ratios.

mod flows;
mod import;
mod load;
mod server;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

pub use import::ImportFigures;
use load::{Figure, Latencies, closed_loop, open_loop};
pub use server::Backends;
use server::Server;

use crate::config::Config;
use crate::hashing::PasswordHasher;

/// What `idp bench` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long each throughput case runs.
    pub seconds: f64,
    /// Connections of the load generator for the throughput cases.
    pub connections: usize,
    /// How long the sign-in storm lasts.
    pub storm_seconds: f64,
    /// Refresh and SAML SSO requests per second (each) during the storm.
    pub storm_background_per_s: f64,
    /// Failed sign-ins per case for the timing of failures.
    pub rounds: usize,
    /// The school of the import case (0 pupils: no import).
    pub import_pupils: usize,
    pub import_guardians: usize,
    pub json: Option<PathBuf>,
    pub backends: Backends,
}

/// The figures of the storm.
#[derive(Debug, Clone, Serialize)]
pub struct Storm {
    pub seconds: f64,
    pub signins_per_s_offered: f64,
    pub signins_offered: u64,
    pub signed_in: u64,
    /// 503 with Retry-After and the French page.
    pub refused: u64,
    pub refused_p50_ms: f64,
    pub refused_p99_ms: f64,
    pub signed_in_p50_ms: f64,
    pub signed_in_p99_ms: f64,
    /// Refusals without Retry-After or without the page, other statuses, broken connections.
    pub wrong_answers: u64,
    pub timeouts: u64,
    pub refresh: Figure,
    pub saml_sso: Figure,
    /// Whether the IdP was still running and healthy afterwards.
    pub crashed: bool,
}

/// Failed sign-ins: the same answer in the same time whether or not the account exists.
#[derive(Debug, Clone, Serialize)]
pub struct FailedSignIns {
    pub wrong_password_p50_ms: f64,
    pub unknown_identifier_p50_ms: f64,
    pub not_activated_p50_ms: f64,
    pub ratio_unknown_to_wrong_password: f64,
    pub ratio_not_activated_to_wrong_password: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub backends: String,
    pub cores: usize,
    pub connections: usize,
    pub seconds_per_case: f64,
    pub release_build: bool,
    pub argon2_bound_per_s: f64,
    pub password_signin_per_s: f64,
    pub password_signin_ratio_to_bound: f64,
    pub password_signin: Figure,
    pub failed_signins: FailedSignIns,
    /// Each throughput case, by name (`discovery`, `refresh`…).
    pub cases: BTreeMap<String, Figure>,
    pub storm: Storm,
    pub rss_idle_mb: f64,
    pub rss_peak_mb: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportFigures>,
}

/// The targets of issue #11 on a 2-core machine, load generator included.
const TARGETS: &[(&str, f64)] = &[
    ("refresh", 2_000.0),
    ("client_credentials", 2_000.0),
    ("introspection", 10_000.0),
    ("discovery", 20_000.0),
];

/// argon2id verifications per second with every core busy: the ceiling of password sign-ins.
async fn argon2_bound(hasher: &PasswordHasher, seconds: f64) -> anyhow::Result<f64> {
    let stored = hasher.hash("Cartable-2026").await?;
    let workers = cores();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let hasher = hasher.clone();
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn print_figure(name: &str, f: &Figure) {
    let target = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| {
            let verdict = if f.per_s >= *t { "met" } else { "MISSED" };
            format!("  target {t:>6.0}/s {verdict}")
        })
        .unwrap_or_default();
    let errors = if f.errors > 0 {
        format!(
            "  {} errors: {}",
            f.errors,
            f.first_error.as_deref().unwrap_or("")
        )
    } else {
        String::new()
    };
    println!(
        "{:<30} {:>10.1}  p50 {:>7.2} ms  p99 {:>7.2} ms{target}{errors}",
        format!("{name}_per_s"),
        f.per_s,
        f.p50_ms,
        f.p99_ms
    );
}

/// Items made beforehand (codes, tickets), taken one by one by the measured loop.
type Stock = Arc<Mutex<Vec<String>>>;

/// Fills a stock with `make` on every connection for `seconds`.
async fn make_stock<F, Fut>(connections: usize, seconds: f64, make: F) -> anyhow::Result<Stock>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<String>> + Send,
{
    let stock: Stock = Arc::default();
    let make = Arc::new(make);
    let filled = closed_loop(
        vec![stock.clone(); connections],
        Duration::from_secs_f64(seconds),
        move |stock: Stock| {
            let make = make.clone();
            async move {
                let outcome = match make().await {
                    Ok(item) => {
                        stock.lock().expect("stock").push(item);
                        Ok(true)
                    }
                    Err(e) => Err(e),
                };
                (stock, outcome)
            }
        },
    )
    .await;
    if let Some(e) = filled.first_error {
        anyhow::bail!("while preparing: {e}");
    }
    Ok(stock)
}

fn take(stock: &Stock) -> Option<String> {
    stock.lock().expect("stock").pop()
}

/// Runs the benchmark, prints its figures and writes them as JSON when asked.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let Options {
        seconds,
        connections,
        ..
    } = options.clone();
    let case = Duration::from_secs_f64(seconds);
    let cores = cores();
    println!(
        "idp bench — {} — {cores} cores — {connections} connections, {seconds} s per case",
        options.backends.label()
    );
    if cfg!(debug_assertions) {
        println!("  (debug build: use `cargo run --release -- bench` for real figures)");
    }

    // the same argon2id parameters as the IdP's, measured before it starts
    let defaults = Config::from_table(
        server::config_table(
            std::path::Path::new("/nonexistent"),
            1,
            &Backends::default(),
        ),
        std::iter::empty(),
    )?;
    let hasher = PasswordHasher::new(&defaults.password)?;
    let bound = argon2_bound(&hasher, seconds.min(3.0)).await?;
    drop(hasher);
    println!("{:<30} {bound:>10.1}", "argon2_bound_per_s");

    let mut server = Server::start(&options.backends).await?;
    let base = server.base.clone();
    let http = flows::client()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (rss_idle_mb, _) = server.rss_mb()?;
    println!("{:<30} {rss_idle_mb:>10.1}", "rss_idle_mb");

    // password sign-ins through the form: enough browsers to keep every hashing slot busy
    let signin = {
        let (http, base) = (http.clone(), base.clone());
        closed_loop(vec![(); cores * 4], case, move |()| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let (outcome, _) = flows::sign_in(&http, &base).await;
                let answer = match outcome {
                    flows::SignIn::Signed => Ok(true),
                    other => Err(anyhow::anyhow!("sign-in: {other:?}")),
                };
                ((), answer)
            }
        })
        .await
    };
    let ratio = signin.per_s / bound;
    let (rss_after_signins, _) = server.rss_mb()?;
    println!(
        "{:<30} {rss_after_signins:>10.1}",
        "  rss_mb after sign-ins"
    );
    print_figure("password_signin", &signin);
    println!(
        "{:<30} {ratio:>10.3}  goal ≥ 0.9 {}",
        "password_signin_ratio_to_bound",
        if ratio >= 0.9 { "met" } else { "MISSED" }
    );

    let failed = failed_signins(&http, &base, options.rounds).await?;

    let mut cases = BTreeMap::new();
    let mut record = |name: &str, f: Figure| {
        print_figure(name, &f);
        if let Ok((now, _)) = server.rss_mb() {
            println!("{:<30} {now:>10.1}", "  rss_mb after it");
        }
        cases.insert(name.to_owned(), f);
    };

    for (name, path) in [
        ("discovery", "/.well-known/openid-configuration"),
        ("jwks", "/oidc/jwks"),
    ] {
        let url = format!("{base}{path}");
        let http = http.clone();
        let f = closed_loop(vec![(); connections], case, move |()| {
            let (http, url) = (http.clone(), url.clone());
            async move { ((), flows::get_ok(&http, &url).await.map(|()| true)) }
        })
        .await;
        record(name, f);
    }

    let f = {
        let (http, base) = (http.clone(), base.clone());
        closed_loop(vec![(); connections], case, move |()| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let r = flows::client_credentials(&http, &base).await;
                ((), r.map(|_| true))
            }
        })
        .await
    };
    record("client_credentials", f);

    // codes made beforehand by a browser with a session, then exchanged
    let browser = flows::signed_in_browser(&http, &base).await?;
    let codes = {
        let (http, base, browser) = (http.clone(), base.clone(), browser.clone());
        make_stock(connections, seconds, move || {
            let (http, base, browser) = (http.clone(), base.clone(), browser.clone());
            async move { flows::authorization_code(&http, &base, &browser).await }
        })
        .await?
    };
    let refresh_tokens: Stock = Arc::default();
    let access_token = Arc::new(Mutex::new(String::new()));
    let f = {
        let (http, base) = (http.clone(), base.clone());
        let (refresh_tokens, access_token) = (refresh_tokens.clone(), access_token.clone());
        closed_loop(vec![codes; connections], case * 4, move |codes: Stock| {
            let (http, base) = (http.clone(), base.clone());
            let (refresh_tokens, access_token) = (refresh_tokens.clone(), access_token.clone());
            async move {
                let Some(code) = take(&codes) else {
                    return (codes, Ok(false));
                };
                let answer = match flows::exchange_code(&http, &base, &code).await {
                    Ok(tokens) => {
                        if let Some(r) = tokens.refresh_token {
                            refresh_tokens.lock().expect("tokens").push(r);
                        }
                        *access_token.lock().expect("token") = tokens.access_token;
                        Ok(true)
                    }
                    Err(e) => Err(e),
                };
                (codes, answer)
            }
        })
        .await
    };
    record("code_exchange", f);
    let access_token = access_token.lock().expect("token").clone();
    anyhow::ensure!(!access_token.is_empty(), "no access token was issued");

    // each connection rotates its own refresh token
    let chains: Vec<String> = {
        let mut all = refresh_tokens.lock().expect("tokens");
        let n = all.len().min(connections);
        let keep = all.len() - n;
        all.split_off(keep)
    };
    anyhow::ensure!(!chains.is_empty(), "no refresh token was issued");
    let f = {
        let (http, base) = (http.clone(), base.clone());
        closed_loop(chains, case, move |token: String| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                match flows::refresh(&http, &base, &token).await {
                    Ok(next) => (next, Ok(true)),
                    Err(e) => (token, Err(e)),
                }
            }
        })
        .await
    };
    record("refresh", f);

    for name in ["introspection", "userinfo"] {
        let (http, base, token) = (http.clone(), base.clone(), access_token.clone());
        let f = closed_loop(vec![(); connections], case, move |()| {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            async move {
                let r = if name == "introspection" {
                    flows::introspect(&http, &base, &token).await
                } else {
                    flows::userinfo(&http, &base, &token).await
                };
                ((), r.map(|()| true))
            }
        })
        .await;
        record(name, f);
    }

    let request_ids = Arc::new(AtomicU64::new(0));
    let f = {
        let (http, base, browser) = (http.clone(), base.clone(), browser.clone());
        let ids = request_ids.clone();
        closed_loop(vec![(); connections], case, move |()| {
            let (http, base, browser) = (http.clone(), base.clone(), browser.clone());
            let n = ids.fetch_add(1, Ordering::Relaxed);
            async move {
                let r = flows::saml_sso(&http, &base, &browser, n).await;
                ((), r.map(|()| true))
            }
        })
        .await
    };
    record("saml_sso", f);

    // CAS tickets live 10 s: made for at most 4 s, then validated
    let tickets = {
        let (http, base, browser) = (http.clone(), base.clone(), browser.clone());
        make_stock(connections, seconds.min(4.0), move || {
            let (http, base, browser) = (http.clone(), base.clone(), browser.clone());
            async move { flows::cas_ticket(&http, &base, &browser).await }
        })
        .await?
    };
    let f = {
        let (http, base) = (http.clone(), base.clone());
        closed_loop(vec![tickets; connections], case, move |tickets: Stock| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let Some(ticket) = take(&tickets) else {
                    return (tickets, Ok(false));
                };
                let r = flows::cas_validate(&http, &base, &ticket).await;
                (tickets, r.map(|()| true))
            }
        })
        .await
    };
    record("cas_validate", f);

    let storm = storm(
        &mut server,
        &http,
        &browser,
        signin.per_s,
        &options,
        refresh_tokens,
        request_ids,
    )
    .await?;
    let (_, rss_peak_mb) = server.rss_mb()?;
    println!("{:<30} {rss_peak_mb:>10.1}", "rss_peak_mb");
    server.stop().await?;

    let import = if options.import_pupils > 0 {
        Some(
            import::run(
                options.import_pupils,
                options.import_guardians,
                &options.backends,
            )
            .await?,
        )
    } else {
        None
    };
    if let Some(i) = &import {
        println!("{:<30} {:>10.1}", "import_per_s", i.import_per_s);
    }

    let report = Report {
        backends: options.backends.label(),
        cores,
        connections,
        seconds_per_case: seconds,
        release_build: !cfg!(debug_assertions),
        argon2_bound_per_s: bound,
        password_signin_per_s: signin.per_s,
        password_signin_ratio_to_bound: ratio,
        password_signin: signin,
        failed_signins: failed,
        cases,
        storm,
        rss_idle_mb,
        rss_peak_mb,
        import,
    };
    print_summary(&report);
    if let Some(path) = &options.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("figures written to {}", path.display());
    }
    Ok(report)
}

/// Failed sign-ins, interleaved so that machine noise hits every case alike.
async fn failed_signins(
    http: &reqwest::Client,
    base: &str,
    rounds: usize,
) -> anyhow::Result<FailedSignIns> {
    let cases = [
        ("lea.martin", "Mauvais-2026"),
        ("personne.inconnue", "Mauvais-2026"),
        ("hugo.martin", "Mauvais-2026"),
    ];
    let mut samples: Vec<Latencies> = (0..cases.len()).map(|_| Latencies::default()).collect();
    for _ in 0..rounds {
        for (i, (identifier, password)) in cases.iter().enumerate() {
            let (elapsed, status) = flows::timed_failure(http, base, identifier, password).await?;
            anyhow::ensure!(status == 200, "a failed sign-in answered {status}");
            samples[i].push(elapsed);
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| s.quantile_ms(0.5)).collect();
    let f = FailedSignIns {
        wrong_password_p50_ms: medians[0],
        unknown_identifier_p50_ms: medians[1],
        not_activated_p50_ms: medians[2],
        ratio_unknown_to_wrong_password: medians[1] / medians[0],
        ratio_not_activated_to_wrong_password: medians[2] / medians[0],
    };
    println!(
        "failed sign-ins (same answer): wrong password {:.2} ms, unknown identifier {:.2} ms \
         (×{:.3}), not activated {:.2} ms (×{:.3})",
        f.wrong_password_p50_ms,
        f.unknown_identifier_p50_ms,
        f.ratio_unknown_to_wrong_password,
        f.not_activated_p50_ms,
        f.ratio_not_activated_to_wrong_password
    );
    Ok(f)
}

/// Sign-ins at three times the measured capacity, while refreshes and SAML SSO go on at a
/// steady rate: the excess must be refused at once, politely, and the rest kept fast.
async fn storm(
    server: &mut Server,
    http: &reqwest::Client,
    browser: &flows::Cookies,
    capacity: f64,
    options: &Options,
    refresh_tokens: Stock,
    request_ids: Arc<AtomicU64>,
) -> anyhow::Result<Storm> {
    let base = server.base.clone();
    let duration = Duration::from_secs_f64(options.storm_seconds);
    let offered = (capacity * 3.0).max(1.0);
    let background = options.storm_background_per_s;
    println!(
        "sign-in storm: {offered:.0} sign-ins/s for {} s, with {background:.0} refreshes/s and {background:.0} SAML SSO/s",
        options.storm_seconds
    );
    let signins = {
        let (http, base) = (http.clone(), base.clone());
        open_loop(offered, duration, move |_| {
            let (http, base) = (http.clone(), base.clone());
            async move { flows::sign_in(&http, &base).await.0 }
        })
    };
    let refreshes = {
        let (http, base) = (http.clone(), base.clone());
        open_loop(background, duration, move |_| {
            let (http, base, tokens) = (http.clone(), base.clone(), refresh_tokens.clone());
            async move {
                let Some(token) = take(&tokens) else {
                    return Err(anyhow::anyhow!("every refresh token was in use"));
                };
                let next = flows::refresh(&http, &base, &token).await?;
                tokens.lock().expect("tokens").push(next);
                Ok(())
            }
        })
    };
    let sso = {
        let (http, base, browser) = (http.clone(), base.clone(), browser.clone());
        open_loop(background, duration, move |_| {
            let (http, base, browser) = (http.clone(), base.clone(), browser.clone());
            let n = request_ids.fetch_add(1, Ordering::Relaxed);
            async move { flows::saml_sso(&http, &base, &browser, n).await }
        })
    };
    let (signins, refreshes, sso) = tokio::join!(signins, refreshes, sso);

    let mut refused = Latencies::default();
    let mut signed = Latencies::default();
    let (mut wrong, mut timeouts) = (0, 0);
    for (latency, outcome) in &signins {
        match outcome {
            flows::SignIn::Signed => signed.push(*latency),
            flows::SignIn::Refused => refused.push(*latency),
            flows::SignIn::Timeout => timeouts += 1,
            _ => wrong += 1,
        }
    }
    let background_figure = |answers: Vec<(Duration, anyhow::Result<()>)>| {
        let mut latencies = Latencies::default();
        let mut errors = 0;
        let mut first_error = None;
        for (latency, answer) in answers {
            match answer {
                Ok(()) => latencies.push(latency),
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
        Figure {
            per_s: latencies.len() as f64 / duration.as_secs_f64(),
            p50_ms: latencies.quantile_ms(0.5),
            p99_ms: latencies.quantile_ms(0.99),
            requests: latencies.len() as u64,
            errors,
            first_error,
        }
    };
    let healthy = server.alive()
        && http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
    let storm = Storm {
        seconds: options.storm_seconds,
        signins_per_s_offered: offered,
        signins_offered: signins.len() as u64,
        signed_in: signed.len() as u64,
        refused: refused.len() as u64,
        refused_p50_ms: refused.quantile_ms(0.5),
        refused_p99_ms: refused.quantile_ms(0.99),
        signed_in_p50_ms: signed.quantile_ms(0.5),
        signed_in_p99_ms: signed.quantile_ms(0.99),
        wrong_answers: wrong,
        timeouts,
        refresh: background_figure(refreshes),
        saml_sso: background_figure(sso),
        crashed: !healthy,
    };
    println!(
        "  sign-ins offered {}, signed in {} (p50 {:.0} ms, p99 {:.0} ms), refused with 503 + Retry-After {} (p50 {:.1} ms, p99 {:.1} ms, goal < 50 ms), wrong answers {}, timeouts {}",
        storm.signins_offered,
        storm.signed_in,
        storm.signed_in_p50_ms,
        storm.signed_in_p99_ms,
        storm.refused,
        storm.refused_p50_ms,
        storm.refused_p99_ms,
        storm.wrong_answers,
        storm.timeouts
    );
    for (name, f) in [("refresh", &storm.refresh), ("saml_sso", &storm.saml_sso)] {
        println!(
            "  {name:<12} during the storm {:>7.1}/s  p50 {:>6.2} ms  p99 {:>6.2} ms (goal < 100 ms)  errors {}",
            f.per_s, f.p50_ms, f.p99_ms, f.errors
        );
    }
    println!(
        "  the IdP {}",
        if storm.crashed {
            "CRASHED or stopped answering"
        } else {
            "kept running"
        }
    );
    Ok(storm)
}

/// One line per goal: met or missed.
fn print_summary(r: &Report) {
    println!("summary:");
    let goal = |label: String, met: bool| {
        println!("  {:<58} {}", label, if met { "met" } else { "MISSED" });
    };
    for (name, target) in TARGETS {
        if let Some(f) = r.cases.get(*name) {
            goal(
                format!("{name} ≥ {target:.0}/s ({:.0}/s)", f.per_s),
                f.per_s >= *target,
            );
        }
    }
    goal(
        format!(
            "password sign-ins ≥ 0.9 of the argon2id bound ({:.3})",
            r.password_signin_ratio_to_bound
        ),
        r.password_signin_ratio_to_bound >= 0.9,
    );
    goal(
        format!("idle RSS ≤ 40 MB ({:.1} MB)", r.rss_idle_mb),
        r.rss_idle_mb <= 40.0,
    );
    goal(
        format!("RSS under load ≤ 150 MB ({:.1} MB)", r.rss_peak_mb),
        r.rss_peak_mb <= 150.0,
    );
    let s = &r.storm;
    goal(
        format!(
            "storm: refresh and SSO p99 < 100 ms ({:.1} / {:.1} ms)",
            s.refresh.p99_ms, s.saml_sso.p99_ms
        ),
        s.refresh.p99_ms < 100.0 && s.saml_sso.p99_ms < 100.0,
    );
    goal(
        format!(
            "storm: refusals answered < 50 ms (p99 {:.1} ms)",
            s.refused_p99_ms
        ),
        s.refused_p99_ms < 50.0,
    );
    goal(
        format!(
            "storm: no timeout, wrong answer or crash ({} / {} / {})",
            s.timeouts, s.wrong_answers, s.crashed
        ),
        s.timeouts == 0 && s.wrong_answers == 0 && !s.crashed,
    );
}
