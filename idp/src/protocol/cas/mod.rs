//! CAS 3.0 server (SPEC §3.3), for Pronote and CAS-based ENTs: service tickets (single use,
//! 10 seconds, bound to their service), their validation with the same attributes as SAML in
//! CAS 3 XML or JSON, and single logout (a SAML LogoutRequest POSTed to each service).
//! The rules here are pure; http.rs holds the handlers.

mod http;

pub use http::{routes, send_logout};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// How long a service ticket may wait for its validation.
pub const TICKET_TTL: i64 = 10;

/// What a service ticket stands for, kept in the ephemeral store until validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceTicket {
    /// The registration the service belongs to.
    pub registration: String,
    /// The exact `service` URL the ticket was issued for.
    pub service: String,
    pub account_id: i64,
    pub sid: String,
    /// When the person last typed a secret.
    pub auth_time: i64,
    /// Issued right after the person typed a secret (what `renew=true` asks).
    pub from_new_login: bool,
    pub issued_at: i64,
}

/// The failure codes of CAS 3.0 §2.5.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasErrorCode {
    InvalidRequest,
    InvalidTicketSpec,
    InvalidTicket,
    InvalidService,
    InternalError,
}

impl CasErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::InvalidTicketSpec => "INVALID_TICKET_SPEC",
            Self::InvalidTicket => "INVALID_TICKET",
            Self::InvalidService => "INVALID_SERVICE",
            Self::InternalError => "INTERNAL_ERROR",
        }
    }
}

/// A refused validation: its code and a message for the service's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasError {
    pub code: CasErrorCode,
    pub message: String,
}

fn refuse(code: CasErrorCode, message: &str) -> CasError {
    CasError {
        code,
        message: message.to_owned(),
    }
}

/// The checks of a validation once the ticket was taken from the store (so it is used up
/// whatever the outcome, as CAS 3.0 §3.1.1 asks).
pub fn check_ticket(
    ticket: Option<&ServiceTicket>,
    presented_service: &str,
    renew: bool,
    now: i64,
) -> Result<(), CasError> {
    let Some(ticket) = ticket else {
        return Err(refuse(
            CasErrorCode::InvalidTicket,
            "ticket not recognized, already used or expired",
        ));
    };
    if now > ticket.issued_at + TICKET_TTL {
        return Err(refuse(CasErrorCode::InvalidTicket, "ticket expired"));
    }
    if ticket.service != presented_service {
        return Err(refuse(
            CasErrorCode::InvalidService,
            "the ticket was issued for another service",
        ));
    }
    if renew && !ticket.from_new_login {
        return Err(refuse(
            CasErrorCode::InvalidTicketSpec,
            "renew was asked and the ticket comes from single sign-on",
        ));
    }
    Ok(())
}

/// Whether a ticket string has the form this server issues (`ST-` and a random part).
pub fn looks_like_ticket(ticket: &str) -> bool {
    ticket.len() <= 256
        && ticket.starts_with("ST-")
        && ticket[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A successful validation in CAS 3 XML.
pub fn success_xml(user: &str, attributes: &[(&str, Vec<String>)]) -> String {
    let mut xml = format!(
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n  <cas:authenticationSuccess>\n    <cas:user>{}</cas:user>\n    <cas:attributes>\n",
        xml_escape(user)
    );
    for (name, values) in attributes {
        for v in values {
            xml.push_str(&format!(
                "      <cas:{name}>{}</cas:{name}>\n",
                xml_escape(v)
            ));
        }
    }
    xml.push_str("    </cas:attributes>\n  </cas:authenticationSuccess>\n</cas:serviceResponse>\n");
    xml
}

/// A refused validation in CAS 3 XML.
pub fn failure_xml(error: &CasError) -> String {
    format!(
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n  <cas:authenticationFailure code=\"{}\">{}</cas:authenticationFailure>\n</cas:serviceResponse>\n",
        error.code.as_str(),
        xml_escape(&error.message)
    )
}

/// A successful validation in CAS 3 JSON (`format=JSON`); an attribute with one value is a
/// string, with several an array.
pub fn success_json(user: &str, attributes: &[(&str, Vec<String>)]) -> Value {
    let attrs: Map<String, Value> = attributes
        .iter()
        .map(|(name, values)| {
            let v = match values.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            ((*name).to_owned(), v)
        })
        .collect();
    json!({ "serviceResponse": { "authenticationSuccess": { "user": user, "attributes": attrs } } })
}

pub fn failure_json(error: &CasError) -> Value {
    json!({ "serviceResponse": { "authenticationFailure": {
        "code": error.code.as_str(),
        "description": error.message,
    } } })
}

/// The single-logout message POSTed to a service (CAS 3.0 §2.3.3): a SAML LogoutRequest whose
/// SessionIndex is the service ticket the service validated.
pub fn logout_request(id: &str, ticket: &str, now_rfc3339: &str) -> String {
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{}\" Version=\"2.0\" IssueInstant=\"{}\"><saml:NameID>@NOT_USED@</saml:NameID><samlp:SessionIndex>{}</samlp:SessionIndex></samlp:LogoutRequest>",
        xml_escape(id),
        xml_escape(now_rfc3339),
        xml_escape(ticket)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> ServiceTicket {
        ServiceTicket {
            registration: "pronote".into(),
            service: "https://pronote.fr/".into(),
            account_id: 1,
            sid: "s".into(),
            auth_time: 90,
            from_new_login: false,
            issued_at: 100,
        }
    }

    #[test]
    fn tickets_are_bound_to_their_service_and_short_lived() {
        let t = ticket();
        assert_eq!(
            check_ticket(Some(&t), "https://pronote.fr/", false, 110),
            Ok(())
        );
        assert_eq!(
            check_ticket(Some(&t), "https://pronote.fr/", false, 111)
                .unwrap_err()
                .code,
            CasErrorCode::InvalidTicket
        );
        assert_eq!(
            check_ticket(Some(&t), "https://pronote.fr/x", false, 100)
                .unwrap_err()
                .code,
            CasErrorCode::InvalidService
        );
        assert_eq!(
            check_ticket(Some(&t), "https://pronote.fr/", true, 100)
                .unwrap_err()
                .code,
            CasErrorCode::InvalidTicketSpec
        );
        let fresh = ServiceTicket {
            from_new_login: true,
            ..t
        };
        assert_eq!(
            check_ticket(Some(&fresh), "https://pronote.fr/", true, 100),
            Ok(())
        );
        assert_eq!(
            check_ticket(None, "https://pronote.fr/", false, 100)
                .unwrap_err()
                .code,
            CasErrorCode::InvalidTicket
        );
    }

    #[test]
    fn responses_escape_what_they_carry() {
        let xml = success_xml(
            "u<1>",
            &[
                ("sn", vec!["O'BRIEN & CO".into()]),
                ("FrEduVecteur", vec!["a".into(), "b".into()]),
            ],
        );
        assert!(xml.contains("<cas:user>u&lt;1&gt;</cas:user>"));
        assert!(xml.contains("<cas:sn>O&apos;BRIEN &amp; CO</cas:sn>"));
        assert_eq!(xml.matches("<cas:FrEduVecteur>").count(), 2);
        let json = success_json(
            "u",
            &[
                ("sn", vec!["X".into()]),
                ("v", vec!["a".into(), "b".into()]),
            ],
        );
        assert_eq!(
            json["serviceResponse"]["authenticationSuccess"]["attributes"]["sn"],
            "X"
        );
        assert_eq!(
            json["serviceResponse"]["authenticationSuccess"]["attributes"]["v"],
            json!(["a", "b"])
        );
        let failure = failure_xml(&refuse(CasErrorCode::InvalidTicket, "a<b"));
        assert!(failure.contains("code=\"INVALID_TICKET\">a&lt;b<"));
        assert!(looks_like_ticket("ST-abc_DEF-1"));
        assert!(!looks_like_ticket("ST-<x>"));
        assert!(!looks_like_ticket("PT-abc"));
    }
}
