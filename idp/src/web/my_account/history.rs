//! "Historique": the account's recent sign-ins (date, service, FranceConnect or not) and the
//! changes made to it, from the audit log.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::{SignedIn, Tabs};
use crate::app::{AppState, SharedState};
use crate::domain::history::{HistoryEntry, HistoryNames, SHOWN_EVENTS, entries};
use crate::error::AppError;

/// Lines shown.
const SHOWN: i64 = 50;

#[derive(Template, WebTemplate)]
#[template(path = "account_history.html")]
struct HistoryPage {
    tabs: Tabs,
    entries: Vec<HistoryEntry>,
}

/// The relying parties and providers the events name, from the registry and configuration.
struct Names<'a>(&'a AppState);

impl HistoryNames for Names<'_> {
    fn service(&self, id: &str) -> Option<String> {
        let registry = &self.0.registry;
        registry
            .oidc_client(id)
            .map(|c| c.name.clone())
            .or_else(|| registry.saml_provider(id).map(|sp| sp.name.clone()))
            .or_else(|| registry.cas_service(id).map(|s| s.name.clone()))
    }
    fn provider(&self, id: &str) -> Option<String> {
        self.0.upstream.get(id).map(|p| p.config.label.clone())
    }
}

/// GET /compte/historique
pub async fn show(
    State(state): State<SharedState>,
    SignedIn(holder): SignedIn,
) -> Result<Response, AppError> {
    let kinds: Vec<&str> = SHOWN_EVENTS.iter().map(|k| k.as_str()).collect();
    let events = state
        .audit
        .history(holder.account.id, &kinds, SHOWN)
        .await?;
    Ok(HistoryPage {
        tabs: Tabs {
            current: "historique",
            guardian: holder.is_guardian(),
        },
        entries: entries(&events, &Names(&state)),
    }
    .into_response())
}
