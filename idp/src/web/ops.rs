//! Operations endpoints and the stylesheet.

use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::SharedState;
use crate::metrics::{write_histogram, write_single};

/// Alive: the process answers.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready: the database and the ephemeral store answer.
pub async fn readyz(State(state): State<SharedState>) -> impl IntoResponse {
    let database = state.database.ping().await.is_ok();
    let ephemeral = state.ephemeral.ping().await.is_ok();
    let status = if database && ephemeral {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "database": database, "ephemeral": ephemeral })),
    )
}

/// Counts every answer by route pattern, method and status, with its latency.
pub async fn count_answers(
    State(state): State<SharedState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    state.metrics.record_response(
        route.as_ref().map(MatchedPath::as_str),
        &method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// Prometheus metrics of this node; the outbox backlog is the deployment's (one database).
pub async fn metrics(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    if let Some(expected) = state.config.metrics_token.as_deref() {
        let given = super::http::bearer(&headers).unwrap_or_default();
        if !crate::keys::constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            let mut refused =
                (StatusCode::UNAUTHORIZED, "metrics need their token\n").into_response();
            refused.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return refused;
        }
    }
    let mut out = String::with_capacity(16 * 1024);
    state.metrics.write(&mut out);
    let hasher = &state.hasher;
    let stats = &hasher.stats;
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    write_single(
        &mut out,
        "idp_password_hashing_workers",
        "gauge",
        "Threads that verify and hash passwords (argon2id).",
        hasher.workers(),
    );
    write_single(
        &mut out,
        "idp_password_hashing_busy",
        "gauge",
        "Hashing slots in use now.",
        hasher.workers().saturating_sub(hasher.available_slots()),
    );
    write_single(
        &mut out,
        "idp_password_hashing_waiting",
        "gauge",
        "Callers waiting for a hashing slot now (the queue's depth).",
        hasher.waiting(),
    );
    write_single(
        &mut out,
        "idp_password_verifications_total",
        "counter",
        "Password verifications (unknown identifiers included: they cost one too).",
        stats.verifications.load(relaxed),
    );
    write_single(
        &mut out,
        "idp_password_hashes_total",
        "counter",
        "New password hashes (activation, change, recovery).",
        stats.hashes.load(relaxed),
    );
    write_single(
        &mut out,
        "idp_password_hashing_refused_total",
        "counter",
        "Callers refused because the hashing queue was full (503 with Retry-After).",
        stats.refused.load(relaxed),
    );
    write_histogram(
        &mut out,
        "idp_password_hashing_wait_seconds",
        "Time waited for a hashing slot.",
        &stats.wait,
    );
    // the backlog's query doubles as the database's check: a scrape still answers when the
    // database does not
    let within = std::time::Duration::from_secs(1);
    let backlog = tokio::time::timeout(within, state.outbox.backlog())
        .await
        .ok()
        .and_then(Result::ok);
    if let Some(backlog) = backlog {
        write_single(
            &mut out,
            "idp_outbox_backlog",
            "gauge",
            "E-mails and SMS waiting to be sent (the whole deployment's).",
            backlog.waiting,
        );
        let age = backlog
            .oldest_created_at
            .map(|at| (state.clock.now() - at).max(0))
            .unwrap_or(0);
        write_single(
            &mut out,
            "idp_outbox_oldest_age_seconds",
            "gauge",
            "Age of the oldest message waiting to be sent (0 when none waits).",
            age,
        );
    }
    write_single(
        &mut out,
        "idp_database_up",
        "gauge",
        "Whether the database answered this scrape.",
        u8::from(backlog.is_some()),
    );
    write_single(
        &mut out,
        "idp_ephemeral_up",
        "gauge",
        "Whether the ephemeral store (Redis, or this process) answered this scrape.",
        u8::from(matches!(
            tokio::time::timeout(within, state.ephemeral.ping()).await,
            Ok(Ok(_))
        )),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

const STYLESHEET: &str = include_str!("../../static/style.css");
const SAML_POST_SCRIPT: &str = include_str!("../../static/saml-post.js");
const LOGOUT_SCRIPT: &str = include_str!("../../static/logout.js");
const PRINT_SCRIPT: &str = include_str!("../../static/print.js");
const FRANCECONNECT_LOGO: &str = include_str!("../../static/franceconnect.svg");

/// A file of the site, cached an hour by browsers.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

pub async fn logout_script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", LOGOUT_SCRIPT)
}

pub async fn print_script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", PRINT_SCRIPT)
}

pub async fn saml_post_script() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", SAML_POST_SCRIPT)
}

pub async fn stylesheet() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLESHEET)
}

pub async fn franceconnect_logo() -> impl IntoResponse {
    asset("image/svg+xml", FRANCECONNECT_LOGO)
}
