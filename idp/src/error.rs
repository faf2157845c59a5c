//! The one place where errors become HTTP responses: a French page with the right status, and
//! never a stack trace or an internal detail (those go to the log, without secrets).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::ephemeral::EphemeralError;
use crate::hashing::HashingError;
use crate::store::StoreError;

/// Seconds a refused sign-in is told to wait before retrying.
pub const BUSY_RETRY_AFTER_SECONDS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// Outside what the caller may see or do (another school's accounts).
    #[error("forbidden")]
    Forbidden,
    /// What a form was about changed since it was shown (an account disabled or gone).
    #[error("stale")]
    Stale,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A form came without the token of the page that showed it.
    #[error("CSRF token missing or wrong")]
    CsrfRejected,
    /// Too many sign-ins at once: refused quickly rather than queued for ever.
    #[error("overloaded")]
    Busy,
    /// The database or the ephemeral store does not answer.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<EphemeralError> for AppError {
    fn from(e: EphemeralError) -> Self {
        match e {
            EphemeralError::Unavailable(m) => Self::Unavailable(m),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<HashingError> for AppError {
    fn from(e: HashingError) -> Self {
        match e {
            HashingError::Busy => Self::Busy,
            HashingError::Internal(m) => Self::Internal(m),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    title: String,
    message: String,
    back_to_login: bool,
}

impl AppError {
    /// The status, and the ids of the title and the message a person is shown
    /// (`idp/locales`).
    fn describe(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "error-not-found-title",
                "error-not-found",
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "error-forbidden-title",
                "error-forbidden",
            ),
            Self::Stale => (StatusCode::CONFLICT, "error-stale-title", "error-stale"),
            Self::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "error-bad-request-title",
                "error-bad-request",
            ),
            Self::CsrfRejected => (StatusCode::FORBIDDEN, "error-csrf-title", "error-csrf"),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "error-busy-title",
                "error-busy",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "error-unavailable-title",
                "error-unavailable",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "error-internal-title",
                "error-internal",
            ),
        }
    }

    /// A short code for programs (the admin API's `error`).
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Forbidden => "forbidden",
            Self::Stale => "conflict",
            Self::BadRequest(_) => "bad_request",
            Self::CsrfRejected => "csrf_rejected",
            Self::Busy => "busy",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    fn log(&self) {
        match self {
            Self::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
            Self::Internal(detail) => tracing::error!(%detail, "internal error"),
            _ => tracing::debug!(error = %self, "request refused"),
        }
    }

    fn with_retry_after(&self, mut response: Response) -> Response {
        if matches!(self, Self::Busy | Self::Unavailable(_)) {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(BUSY_RETRY_AFTER_SECONDS),
            );
        }
        response
    }

    /// The error as JSON for programs (the admin API): `{"error": code, "message": French
    /// text}`; a bad request also says what was wrong.
    pub fn into_json_response(self) -> Response {
        self.log();
        let (status, _, message) = self.describe();
        let message = match &self {
            Self::BadRequest(detail) => detail.clone(),
            _ => crate::t(message),
        };
        let body = serde_json::json!({ "error": self.code(), "message": message });
        let response = (status, axum::Json(body)).into_response();
        self.with_retry_after(response)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let (status, title, message) = self.describe();
        let (title, message) = (crate::t(title), crate::t(message));
        let page = ErrorPage {
            title: title.clone(),
            message: message.clone(),
            back_to_login: !matches!(self, Self::NotFound),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("<!doctype html><title>{title}</title><p>{message}"));
        let response = (status, Html(body)).into_response();
        self.with_retry_after(response)
    }
}
