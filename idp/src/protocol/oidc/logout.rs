//! Logout: RP-initiated (end_session_endpoint) and back-channel notification of every client
//! of the SSO session.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::LOGOUT_TOKEN_TTL;
use super::token::LogoutTokenClaims;
use crate::app::AppState;
use crate::domain::session::SsoSession;
use crate::registry::{OidcClient, Registry};

/// What the end-session endpoint learns from a verified `id_token_hint`.
#[derive(Debug, Clone, Deserialize)]
pub struct HintClaims {
    pub aud: String,
    #[serde(default)]
    pub sid: Option<String>,
}

/// Where to send the browser after logout, checked against the registration: an
/// unregistered address is refused (never an open redirect).
pub fn checked_redirect(
    registry: &Registry,
    hint: Option<&HintClaims>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
) -> Result<Option<String>, String> {
    let client_id = match (
        hint.map(|h| h.aud.as_str()),
        client_id.filter(|c| !c.is_empty()),
    ) {
        (Some(a), Some(c)) if a != c => {
            return Err("Le service indiqué ne correspond pas au jeton de déconnexion.".into());
        }
        (Some(a), _) => Some(a),
        (None, c) => c,
    };
    let Some(uri) = post_logout_redirect_uri.filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let client = client_id
        .and_then(|c| registry.oidc_client(c))
        .ok_or("La demande de déconnexion ne dit pas de quel service elle vient.")?;
    if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
        return Err(
            "L'adresse de retour après déconnexion n'est pas enregistrée pour ce service.".into(),
        );
    }
    let mut url = url::Url::parse(uri).map_err(|_| "adresse invalide".to_owned())?;
    if let Some(s) = state.filter(|s| !s.is_empty()) {
        url.query_pairs_mut().append_pair("state", s);
    }
    Ok(Some(url.to_string()))
}

/// The subject a client knows the account by.
pub fn subject_for(state: &AppState, client: &OidcClient, account_id: i64) -> String {
    match client.subject_type {
        crate::registry::SubjectType::Pairwise => {
            state.subjects.pairwise(&client.sector, account_id)
        }
        crate::registry::SubjectType::Public => state.subjects.public(account_id),
    }
}

/// Sends a logout token to a client of the ended session, if it registered a back-channel
/// URI; returns whether it did. Sent in the background with a timeout and one retry, so that
/// a failing client never blocks the others or the person.
pub fn notify_backchannel(
    state: &Arc<AppState>,
    session: &SsoSession,
    client: &OidcClient,
) -> bool {
    let now = state.clock.now();
    let Some(uri) = client.backchannel_logout_uri.clone() else {
        return false;
    };
    let claims = LogoutTokenClaims {
        iss: state.issuer.clone(),
        sub: subject_for(state, client, session.account_id),
        aud: client.client_id.clone(),
        iat: now,
        exp: now + LOGOUT_TOKEN_TTL,
        jti: crate::keys::random_token(16),
        sid: session.sid.clone(),
        events: json!({ "http://schemas.openid.net/event/backchannel-logout": {} }),
    };
    let token = match state
        .keys
        .current()
        .sign(client.id_token_alg, "logout+jwt", &claims)
    {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(client = %client.client_id, error = %e, "cannot sign a logout token");
            return false;
        }
    };
    let http = state.http.clone();
    let client_id = client.client_id.clone();
    tokio::spawn(async move {
        for attempt in 0..2 {
            let sent = http
                .post(&uri)
                .timeout(Duration::from_secs(5))
                .form(&[("logout_token", token.as_str())])
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => {
                    tracing::warn!(client = %client_id, status = %r.status(), attempt, "back-channel logout refused")
                }
                Err(e) => {
                    tracing::warn!(client = %client_id, error = %e, attempt, "back-channel logout failed")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ServerSecret;

    fn registry() -> Registry {
        let mut r = Registry::default();
        r.add_toml(
            "protocol = 'oidc'\nclient_id = 'ent'\nname = 'x'\nclient_secret = 'a-long-secret'\nredirect_uris = ['https://ent.fr/cb']\npost_logout_redirect_uris = ['https://ent.fr/bye']",
            &ServerSecret::for_tests(),
        )
        .unwrap();
        r
    }

    fn hint(aud: &str) -> HintClaims {
        HintClaims {
            aud: aud.into(),
            sid: Some("s".into()),
        }
    }

    #[test]
    fn only_registered_logout_redirects() {
        let r = registry();
        assert_eq!(
            checked_redirect(
                &r,
                Some(&hint("ent")),
                None,
                Some("https://ent.fr/bye"),
                Some("x y")
            ),
            Ok(Some("https://ent.fr/bye?state=x+y".into()))
        );
        assert_eq!(
            checked_redirect(&r, None, Some("ent"), Some("https://ent.fr/bye"), None),
            Ok(Some("https://ent.fr/bye".into()))
        );
        assert!(
            checked_redirect(
                &r,
                Some(&hint("ent")),
                None,
                Some("https://ent.fr/bye/"),
                None
            )
            .is_err()
        );
        assert!(
            checked_redirect(
                &r,
                Some(&hint("ent")),
                None,
                Some("https://evil.example/"),
                None
            )
            .is_err()
        );
        assert!(
            checked_redirect(&r, None, None, Some("https://ent.fr/bye"), None).is_err(),
            "which client?"
        );
        assert!(checked_redirect(&r, Some(&hint("ent")), Some("other"), None, None).is_err());
        assert_eq!(
            checked_redirect(&r, Some(&hint("ent")), None, None, Some("s")),
            Ok(None)
        );
    }
}
