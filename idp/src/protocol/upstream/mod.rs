//! Upstream OpenID Connect providers (SPEC §2.4, §3.4): guardians sign in with FranceConnect,
//! are matched to the guardian records of the schools, confirm their children's birth dates,
//! and from then on go straight through. The IdP is a relying party here (client.rs); the
//! sign-in, its callback and the logout are in http.rs, "Rattacher des élèves" in linking.rs;
//! the pure rules (reading the identité pivot, explaining a refusal) are below and in
//! `domain::matching`.

pub mod client;
mod http;
mod linking;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

pub use client::{UpstreamError, UpstreamIdentity, UpstreamProvider};
pub use http::{begin, end_session_redirect, routes};

use crate::config::{Config, UpstreamClaims};
use crate::domain::matching::PivotNames;

/// How many wrong birth dates a linking attempt allows before it must start again.
pub const LINK_TRIES: u32 = 5;

/// The configured upstream providers, by id.
#[derive(Default)]
pub struct UpstreamProviders {
    by_id: BTreeMap<String, Arc<UpstreamProvider>>,
    /// Configuration order (the first is shown first).
    order: Vec<String>,
}

impl UpstreamProviders {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let mut providers = Self::default();
        for (i, u) in config.upstream.iter().enumerate() {
            let secret = u.resolved_secret(i)?;
            let provider = UpstreamProvider::new(u.clone(), secret, &config.issuer_id())?;
            providers.order.push(u.id.clone());
            providers.by_id.insert(u.id.clone(), Arc::new(provider));
        }
        Ok(providers)
    }

    pub fn get(&self, id: &str) -> Option<Arc<UpstreamProvider>> {
        self.by_id.get(id).cloned()
    }

    /// The providers offered on the guardians' sign-in page: (id, label).
    pub fn offered(&self) -> Vec<(String, String)> {
        self.order
            .iter()
            .filter_map(|id| self.by_id.get(id))
            .map(|p| (p.config.id.clone(), p.config.label.clone()))
            .collect()
    }
}

/// The identité pivot as this deployment reads it from userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pivot {
    pub names: PivotNames,
    pub birthdate: Option<String>,
    /// Shown on the summary, never used to match (an e-mail proves nothing here).
    pub email: Option<String>,
}

/// Reads the identité pivot from userinfo's claims, with the provider's claim names;
/// `None` when the names are missing.
pub fn pivot(claims: &Map<String, Value>, names: &UpstreamClaims) -> Option<Pivot> {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some(Pivot {
        names: PivotNames {
            given_names: text(&names.given_name)?,
            family_name: text(&names.family_name)?,
            usage_name: text(&names.usage_name),
            gender: text("gender"),
        },
        birthdate: text(&names.birthdate),
        email: text(&names.email),
    })
}

/// What a guardian is told when the provider sends back an error instead of a code
/// (OpenID Connect Core §3.1.2.6), in French.
pub fn callback_error_message(error: &str, label: &str) -> String {
    match error {
        "access_denied" => format!(
            "Vous avez annulé la connexion avec {label}, ou vous avez refusé de transmettre vos informations. Vous pouvez réessayer, ou vous connecter avec votre identifiant et votre mot de passe."
        ),
        "login_required" | "interaction_required" | "consent_required" => {
            format!("{label} demande que vous vous connectiez à nouveau. Réessayez.")
        }
        "temporarily_unavailable" | "server_error" => format!(
            "{label} est momentanément indisponible. Réessayez dans quelques minutes, ou connectez-vous avec votre identifiant et votre mot de passe."
        ),
        _ => format!(
            "{label} n'a pas pu vous identifier. Réessayez, ou connectez-vous avec votre identifiant et votre mot de passe."
        ),
    }
}

/// What a guardian is told when the answer of the provider cannot be trusted or used.
pub fn failure_message(error: &UpstreamError, label: &str) -> String {
    match error {
        UpstreamError::Unavailable(_) => format!(
            "{label} ne répond pas pour le moment. Réessayez dans quelques minutes, ou connectez-vous avec votre identifiant et votre mot de passe."
        ),
        UpstreamError::IdToken(_) | UpstreamError::UserInfo(_) => format!(
            "La réponse de {label} n'a pas pu être vérifiée : par sécurité, vous n'êtes pas connecté. Réessayez."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_pivot_is_read_with_the_configured_names() {
        let claims = json!({
            "sub": "s", "given_name": "Claire Anne", "family_name": "DUPONT",
            "preferred_username": "MARTIN", "birthdate": "1980-05-02", "email": "c@example.fr"
        });
        let p = pivot(claims.as_object().unwrap(), &UpstreamClaims::default()).unwrap();
        assert_eq!(p.names.given_names, "Claire Anne");
        assert_eq!(p.names.usage_name.as_deref(), Some("MARTIN"));
        assert_eq!(p.birthdate.as_deref(), Some("1980-05-02"));
        let no_usage =
            json!({ "given_name": "Paul", "family_name": "DURAND", "preferred_username": " " });
        let p = pivot(no_usage.as_object().unwrap(), &UpstreamClaims::default()).unwrap();
        assert_eq!(p.names.usage_name, None);
        let nameless = json!({ "given_name": "Paul" });
        assert!(pivot(nameless.as_object().unwrap(), &UpstreamClaims::default()).is_none());
        let custom = UpstreamClaims {
            family_name: "nom".into(),
            ..UpstreamClaims::default()
        };
        let other = json!({ "given_name": "Paul", "nom": "DURAND" });
        assert!(pivot(other.as_object().unwrap(), &custom).is_some());
    }

    #[test]
    fn refusals_are_explained_in_french() {
        assert!(callback_error_message("access_denied", "FranceConnect").contains("annulé"));
        assert!(
            callback_error_message("temporarily_unavailable", "FranceConnect")
                .contains("indisponible")
        );
        assert!(callback_error_message("weird", "FranceConnect").contains("n'a pas pu"));
        let e = UpstreamError::IdToken("nonce".into());
        assert!(failure_message(&e, "FranceConnect").contains("vérifiée"));
        assert!(
            !failure_message(&e, "FranceConnect").contains("nonce"),
            "no detail for people"
        );
    }
}
