//! Operations endpoints and the stylesheet.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::app::SharedState;

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
