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

pub async fn logout_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        LOGOUT_SCRIPT,
    )
}

pub async fn saml_post_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SAML_POST_SCRIPT,
    )
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}
