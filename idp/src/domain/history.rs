//! "Historique" in "Mon compte": an account's recent sign-ins, the services it reached and the
//! changes made to it, read from the audit log and said in French.

use serde_json::Value;

use super::identity::french_date_time;
use crate::audit::{AuditEvent, AuditKind};

/// The events the history shows; the others (token revocations, imports …) are for staff.
pub const SHOWN_EVENTS: &[AuditKind] = &[
    AuditKind::SignIn,
    AuditKind::SignInFailed,
    AuditKind::SignInRefused,
    AuditKind::SignOut,
    AuditKind::TokenIssued,
    AuditKind::AccountCreated,
    AuditKind::AccountActivated,
    AuditKind::PasswordChanged,
    AuditKind::PasswordReset,
    AuditKind::TemporaryPasswordIssued,
    AuditKind::EmailChangeRequested,
    AuditKind::EmailConfirmed,
    AuditKind::MobileChangeRequested,
    AuditKind::MobileConfirmed,
    AuditKind::AccountsMerged,
    AuditKind::RegroupAccepted,
    AuditKind::ExternalIdentityLinked,
    AuditKind::RecoveryRequested,
];

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// `15 janvier 2026 à 09:50`, French time.
    pub when: String,
    pub what: String,
    /// The service reached, or how the person signed in.
    pub detail: Option<String>,
    /// Signed in (or reached the service) through FranceConnect.
    pub franceconnect: bool,
}

/// Names of what the events refer to by id.
pub trait HistoryNames {
    /// A relying party's name from its client id, entity id or CAS service id.
    fn service(&self, id: &str) -> Option<String>;
    /// An upstream provider's label (`FranceConnect`).
    fn provider(&self, id: &str) -> Option<String>;
}

fn text<'a>(details: &'a Value, key: &str) -> Option<&'a str> {
    details.get(key).and_then(Value::as_str)
}

/// The history lines for events of one account, newest first as given.
pub fn entries(events: &[AuditEvent], names: &dyn HistoryNames) -> Vec<HistoryEntry> {
    events.iter().filter_map(|e| entry(e, names)).collect()
}

fn entry(event: &AuditEvent, names: &dyn HistoryNames) -> Option<HistoryEntry> {
    let details: Value = serde_json::from_str(&event.details).unwrap_or(Value::Null);
    let line = |what: &str, detail: Option<String>, franceconnect: bool| {
        Some(HistoryEntry {
            when: french_date_time(event.at),
            what: what.to_owned(),
            detail,
            franceconnect,
        })
    };
    match event.event.as_str() {
        "sign_in" => match text(&details, "reason") {
            Some("password") | None => line(
                "Connexion",
                Some("avec votre identifiant et votre mot de passe".into()),
                false,
            ),
            Some(provider) => {
                let label = names
                    .provider(provider)
                    .unwrap_or_else(|| provider.to_owned());
                line("Connexion", Some(format!("avec {label}")), true)
            }
        },
        "sign_in_failed" => line("Connexion refusée : mot de passe incorrect", None, false),
        "sign_in_refused" => {
            let why = match text(&details, "reason") {
                Some("locked") => "compte temporairement bloqué",
                Some("disabled") => "compte désactivé",
                Some("temporary_expired") => "mot de passe provisoire expiré",
                _ => "refus",
            };
            line(&format!("Connexion refusée : {why}"), None, false)
        }
        "sign_out" => line("Déconnexion", None, false),
        "token_issued" => {
            // a proxy ticket is asked by a service, not by the person
            if details.get("proxy_ticket_for").is_some() {
                return None;
            }
            let id = event.actor.strip_prefix("client:")?;
            let service = names.service(id).unwrap_or_else(|| id.to_owned());
            let franceconnect = text(&details, "origin") == Some("FC");
            line("Accès à un service", Some(service), franceconnect)
        }
        "account_created" => line("Compte créé", None, false),
        "account_activated" => line("Compte activé (première connexion)", None, false),
        "password_changed" => line("Mot de passe modifié", None, false),
        "password_reset" => line(
            "Nouveau mot de passe choisi (mot de passe oublié)",
            None,
            false,
        ),
        "temporary_password_issued" => line(
            "Nouveau mot de passe provisoire donné",
            text(&details, "by_label").map(str::to_owned),
            false,
        ),
        "email_change_requested" => line(
            "Nouvelle adresse électronique indiquée (en attente de confirmation)",
            None,
            false,
        ),
        "email_confirmed" => line("Adresse électronique confirmée", None, false),
        "mobile_change_requested" => line(
            "Nouveau numéro de portable indiqué (en attente du code)",
            None,
            false,
        ),
        "mobile_confirmed" => line("Numéro de portable confirmé", None, false),
        "accounts_merged" => line(
            "Élèves ajoutés depuis un autre compte",
            text(&details, "closed_identifier").map(|i| format!("compte {i}, désormais fermé")),
            false,
        ),
        "regroup_accepted" => line(
            "Élève ajouté à votre compte",
            text(&details, "school").map(str::to_owned),
            false,
        ),
        "external_identity_linked" => line(
            "Connexion avec FranceConnect reliée à votre compte",
            None,
            true,
        ),
        "recovery_requested" => line(
            "Demande de mot de passe ou d'identifiant oublié",
            None,
            false,
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names;
    impl HistoryNames for Names {
        fn service(&self, id: &str) -> Option<String> {
            (id == "ent").then(|| "ENT du collège".to_owned())
        }
        fn provider(&self, id: &str) -> Option<String> {
            (id == "franceconnect").then(|| "FranceConnect".to_owned())
        }
    }

    fn event(event: &str, actor: &str, details: &str) -> AuditEvent {
        AuditEvent {
            id: 1,
            at: 1_768_467_000,
            event: event.into(),
            actor: actor.into(),
            subject: Some(7),
            source_address: None,
            details: details.into(),
        }
    }

    #[test]
    fn sign_ins_say_how_and_services_say_which() {
        let lines = entries(
            &[
                event("token_issued", "client:ent", r#"{"origin":"FC"}"#),
                event("sign_in", "account:7", r#"{"reason":"franceconnect"}"#),
                event("sign_in", "account:7", r#"{"reason":"password"}"#),
                event("token_issued", "client:pronote", r#"{"origin":"ECT"}"#),
            ],
            &Names,
        );
        assert_eq!(lines[0].when, "15 janvier 2026 à 09:50");
        assert_eq!(lines[0].detail.as_deref(), Some("ENT du collège"));
        assert!(lines[0].franceconnect);
        assert_eq!(lines[1].detail.as_deref(), Some("avec FranceConnect"));
        assert!(lines[1].franceconnect);
        assert!(!lines[2].franceconnect);
        // a service no longer registered is named by its id
        assert_eq!(lines[3].detail.as_deref(), Some("pronote"));
    }

    #[test]
    fn events_for_staff_are_not_shown() {
        let lines = entries(
            &[
                event("token_revoked", "client:ent", "{}"),
                event("school_provisioned", "system", "{}"),
                event("password_changed", "account:7", "{}"),
            ],
            &Names,
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].what, "Mot de passe modifié");
    }
}
