//! The protocols through which relying parties reach the IdP. Each keeps its rules pure (a
//! request, the registration, the stored state and the time in; a decision out) and its HTTP
//! handlers thin.

pub mod oidc;
pub mod saml;

use crate::app::AppState;
use crate::domain::account::{AccountKind, AccountState};
use crate::domain::identity::Person;
use crate::error::AppError;

/// The person behind an account, as released to relying parties; `None` if the account can
/// no longer sign in.
pub async fn load_person(state: &AppState, account_id: i64) -> Result<Option<Person>, AppError> {
    let Some(account) = state.accounts.by_id(account_id).await? else {
        return Ok(None);
    };
    if account.state != AccountState::Active {
        return Ok(None);
    }
    let (placement, children) = match account.kind {
        AccountKind::Eleve => (state.accounts.placement_of(account.id).await?, Vec::new()),
        AccountKind::Responsable => (None, state.accounts.children_of(account.id).await?),
    };
    Ok(Some(Person {
        account,
        placement,
        children,
    }))
}
