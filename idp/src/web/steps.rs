//! Journeys of several pages in progress (first connection, sign-up, recovery): kept in the
//! ephemeral store under the SHA-256 of a random id, never past a fixed end, and usable only
//! from the browser that began them when they are bound to one.

use std::time::Duration;

use axum::http::HeaderMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::http::is_bound_browser;
use crate::app::AppState;
use crate::error::AppError;
use crate::keys::storage_key;

pub trait Steps: Serialize + DeserializeOwned {
    /// What the keys of this journey start with in the ephemeral store.
    const PREFIX: &'static str;
    /// When the steps end, however used.
    fn expires_at(&self) -> i64;
    /// The binding of the browser that began them, if they are bound to one.
    fn browser(&self) -> Option<&str>;
}

fn key<T: Steps>(id: &str) -> String {
    format!("{}:{}", T::PREFIX, storage_key(id))
}

/// Stores the steps under `id`, until their end.
pub async fn save<T: Steps>(state: &AppState, id: &str, steps: &T) -> Result<(), AppError> {
    let json = serde_json::to_string(steps).map_err(|e| AppError::Internal(e.to_string()))?;
    let left = (steps.expires_at() - state.clock.now()).max(1);
    state
        .ephemeral
        .put(&key::<T>(id), &json, Duration::from_secs(left as u64))
        .await?;
    Ok(())
}

/// The steps stored under `id`, if live and of this browser. `take`: used up (a submit that
/// counts a try, saved again if it may go on), so that two submits at once cannot share one.
pub async fn load<T: Steps>(
    state: &AppState,
    headers: &HeaderMap,
    id: &str,
    take: bool,
) -> Result<Option<T>, AppError> {
    let key = key::<T>(id);
    let json = if take {
        state.ephemeral.take(&key).await?
    } else {
        state.ephemeral.get(&key).await?
    };
    let now = state.clock.now();
    Ok(json
        .and_then(|j| serde_json::from_str::<T>(&j).ok())
        .filter(|s| s.expires_at() > now)
        .filter(|s| s.browser().is_none_or(|b| is_bound_browser(headers, b))))
}
