//! CAS 3.0 server (SPEC §3.3), for Pronote and CAS-based ENTs: service tickets (single use,
//! 10 seconds, bound to their service), their validation with the same attributes as SAML in
//! CAS 3 XML or JSON, proxy-granting and proxy tickets (a service that was given a ticket may
//! act for the person at another service), and single logout (a SAML LogoutRequest POSTed to
//! each service). The rules here are pure; http.rs holds the handlers.

mod http;

pub use http::{return_url, routes, send_logout};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::registry::CasService;

/// How long a service or proxy ticket may wait for its validation.
pub const TICKET_TTL: i64 = 10;

/// How long a proxy-granting ticket lasts at most; it ends sooner with its SSO session.
pub const PGT_TTL: i64 = 2 * 3600;

/// What a service ticket (`ST-`) or proxy ticket (`PT-`) stands for, kept in the ephemeral
/// store until validated.
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
    /// For a proxy ticket, the proxies it went through (their `pgtUrl`s, the latest first);
    /// empty for a service ticket.
    #[serde(default)]
    pub proxies: Vec<String>,
}

/// A proxy-granting ticket (`PGT-`): lets the service that holds it get proxy tickets for
/// other services, for as long as the SSO session it came from lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyGrantingTicket {
    /// The registration of the service that holds it.
    pub registration: String,
    pub account_id: i64,
    pub sid: String,
    pub auth_time: i64,
    /// The chain of `pgtUrl`s, this ticket's own first.
    pub proxies: Vec<String>,
    /// The ticket whose validation made it: while that ticket is among the session's
    /// services, the session has not been logged out.
    pub origin_ticket: String,
    /// The service that ticket was for (with `registration` and `origin_ticket`, the session's
    /// participant looked up; a ticket from before this field: not found, so refused).
    #[serde(default)]
    pub origin_service: String,
    pub issued_at: i64,
}

impl ProxyGrantingTicket {
    pub fn is_expired(&self, now: i64) -> bool {
        now > self.issued_at + PGT_TTL
    }
}

/// The kinds of ticket a validation can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketKind {
    Service,
    Proxy,
}

/// The failure codes of CAS 3.0 §2.5.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasErrorCode {
    InvalidRequest,
    InvalidTicketSpec,
    InvalidTicket,
    InvalidService,
    InvalidProxyCallback,
    UnauthorizedService,
    InternalError,
}

impl CasErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::InvalidTicketSpec => "INVALID_TICKET_SPEC",
            Self::InvalidTicket => "INVALID_TICKET",
            Self::InvalidService => "INVALID_SERVICE",
            Self::InvalidProxyCallback => "INVALID_PROXY_CALLBACK",
            Self::UnauthorizedService => "UNAUTHORIZED_SERVICE",
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

pub fn refuse(code: CasErrorCode, message: &str) -> CasError {
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

/// The kind of a ticket string of the form this server issues (`ST-` or `PT-` and a random
/// part), or `None`.
pub fn ticket_kind(ticket: &str) -> Option<TicketKind> {
    let kind = match ticket.get(..3)? {
        "ST-" => TicketKind::Service,
        "PT-" => TicketKind::Proxy,
        _ => return None,
    };
    let well_formed = ticket.len() <= 256
        && ticket[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some(kind)
}

/// `/serviceValidate` validates service tickets only (CAS 3.0 §2.5); `/proxyValidate` both.
pub fn check_endpoint(kind: TicketKind, proxy_endpoint: bool) -> Result<(), CasError> {
    if kind == TicketKind::Proxy && !proxy_endpoint {
        return Err(refuse(
            CasErrorCode::InvalidTicketSpec,
            "a proxy ticket was given to serviceValidate: use proxyValidate",
        ));
    }
    Ok(())
}

/// Whether a service may be given a proxy-granting ticket at `pgt_url`: an https address (or
/// http on 127.0.0.1, for the demo) that its registration lists.
pub fn check_proxy_callback(registration: &CasService, pgt_url: &str) -> Result<(), CasError> {
    let parsed = url::Url::parse(pgt_url)
        .map_err(|_| refuse(CasErrorCode::InvalidProxyCallback, "pgtUrl is not a URL"))?;
    let safe = match parsed.scheme() {
        "https" => true,
        "http" => parsed.host_str() == Some("127.0.0.1"),
        _ => false,
    };
    if !safe || parsed.fragment().is_some() {
        return Err(refuse(
            CasErrorCode::InvalidProxyCallback,
            "pgtUrl must use https",
        ));
    }
    if !registration.proxy_callbacks.accepts(pgt_url) {
        return Err(refuse(
            CasErrorCode::InvalidProxyCallback,
            "this service is not registered to proxy with this pgtUrl",
        ));
    }
    Ok(())
}

/// A successful validation: who, what may be released, and for proxies their part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub user: String,
    pub attributes: Vec<(&'static str, Vec<String>)>,
    /// The IOU of a proxy-granting ticket delivered to the `pgtUrl`.
    pub pgt_iou: Option<String>,
    /// The proxies a proxy ticket went through, the latest first.
    pub proxies: Vec<String>,
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A successful validation in CAS 3 XML.
pub fn success_xml(v: &Validated) -> String {
    let mut xml = format!(
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n  <cas:authenticationSuccess>\n    <cas:user>{}</cas:user>\n    <cas:attributes>\n",
        xml_escape(&v.user)
    );
    for (name, values) in &v.attributes {
        for value in values {
            xml.push_str(&format!(
                "      <cas:{name}>{}</cas:{name}>\n",
                xml_escape(value)
            ));
        }
    }
    xml.push_str("    </cas:attributes>\n");
    if let Some(iou) = &v.pgt_iou {
        xml.push_str(&format!(
            "    <cas:proxyGrantingTicket>{}</cas:proxyGrantingTicket>\n",
            xml_escape(iou)
        ));
    }
    if !v.proxies.is_empty() {
        xml.push_str("    <cas:proxies>\n");
        for proxy in &v.proxies {
            xml.push_str(&format!(
                "      <cas:proxy>{}</cas:proxy>\n",
                xml_escape(proxy)
            ));
        }
        xml.push_str("    </cas:proxies>\n");
    }
    xml.push_str("  </cas:authenticationSuccess>\n</cas:serviceResponse>\n");
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
pub fn success_json(v: &Validated) -> Value {
    let attrs: Map<String, Value> = v
        .attributes
        .iter()
        .map(|(name, values)| {
            let value = match values.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            ((*name).to_owned(), value)
        })
        .collect();
    let mut success = json!({ "user": v.user, "attributes": attrs });
    if let Some(iou) = &v.pgt_iou {
        success["proxyGrantingTicket"] = json!(iou);
    }
    if !v.proxies.is_empty() {
        success["proxies"] = json!(v.proxies);
    }
    json!({ "serviceResponse": { "authenticationSuccess": success } })
}

pub fn failure_json(error: &CasError) -> Value {
    json!({ "serviceResponse": { "authenticationFailure": {
        "code": error.code.as_str(),
        "description": error.message,
    } } })
}

/// The answer of `/cas/proxy` in CAS 3 XML: a proxy ticket, or why not.
pub fn proxy_xml(outcome: &Result<String, CasError>) -> String {
    let body = match outcome {
        Ok(ticket) => format!(
            "  <cas:proxySuccess>\n    <cas:proxyTicket>{}</cas:proxyTicket>\n  </cas:proxySuccess>\n",
            xml_escape(ticket)
        ),
        Err(e) => format!(
            "  <cas:proxyFailure code=\"{}\">{}</cas:proxyFailure>\n",
            e.code.as_str(),
            xml_escape(&e.message)
        ),
    };
    format!(
        "<cas:serviceResponse xmlns:cas=\"http://www.yale.edu/tp/cas\">\n{body}</cas:serviceResponse>\n"
    )
}

/// The answer of `/cas/proxy` in CAS 3 JSON.
pub fn proxy_json(outcome: &Result<String, CasError>) -> Value {
    match outcome {
        Ok(ticket) => json!({ "serviceResponse": { "proxySuccess": { "proxyTicket": ticket } } }),
        Err(e) => json!({ "serviceResponse": { "proxyFailure": {
            "code": e.code.as_str(),
            "description": e.message,
        } } }),
    }
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
            proxies: Vec::new(),
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

    fn validated(attributes: Vec<(&'static str, Vec<String>)>) -> Validated {
        Validated {
            user: "u<1>".into(),
            attributes,
            pgt_iou: None,
            proxies: Vec::new(),
        }
    }

    #[test]
    fn responses_escape_what_they_carry() {
        let xml = success_xml(&validated(vec![
            ("sn", vec!["O'BRIEN & CO".into()]),
            ("FrEduVecteur", vec!["a".into(), "b".into()]),
        ]));
        assert!(xml.contains("<cas:user>u&lt;1&gt;</cas:user>"));
        assert!(xml.contains("<cas:sn>O&apos;BRIEN &amp; CO</cas:sn>"));
        assert_eq!(xml.matches("<cas:FrEduVecteur>").count(), 2);
        assert!(!xml.contains("proxyGrantingTicket") && !xml.contains("<cas:proxies>"));
        let json = success_json(&validated(vec![
            ("sn", vec!["X".into()]),
            ("v", vec!["a".into(), "b".into()]),
        ]));
        let success = &json["serviceResponse"]["authenticationSuccess"];
        assert_eq!(success["attributes"]["sn"], "X");
        assert_eq!(success["attributes"]["v"], json!(["a", "b"]));
        assert!(success.get("proxyGrantingTicket").is_none());
        let failure = failure_xml(&refuse(CasErrorCode::InvalidTicket, "a<b"));
        assert!(failure.contains("code=\"INVALID_TICKET\">a&lt;b<"));
    }

    #[test]
    fn proxies_appear_in_the_validation_and_proxy_answers() {
        let v = Validated {
            pgt_iou: Some("PGTIOU-1".into()),
            proxies: vec!["https://b.fr/pgt".into(), "https://a.fr/pgt".into()],
            ..validated(vec![])
        };
        let xml = success_xml(&v);
        assert!(xml.contains("<cas:proxyGrantingTicket>PGTIOU-1</cas:proxyGrantingTicket>"));
        let b = xml.find("<cas:proxy>https://b.fr/pgt</cas:proxy>").unwrap();
        let a = xml.find("<cas:proxy>https://a.fr/pgt</cas:proxy>").unwrap();
        assert!(b < a, "the latest proxy first");
        let json = success_json(&v);
        let success = &json["serviceResponse"]["authenticationSuccess"];
        assert_eq!(success["proxyGrantingTicket"], "PGTIOU-1");
        assert_eq!(success["proxies"][0], "https://b.fr/pgt");
        assert!(proxy_xml(&Ok("PT-1".into())).contains("<cas:proxyTicket>PT-1</cas:proxyTicket>"));
        let refused = proxy_xml(&Err(refuse(CasErrorCode::UnauthorizedService, "no")));
        assert!(refused.contains("<cas:proxyFailure code=\"UNAUTHORIZED_SERVICE\">no<"));
        assert_eq!(
            proxy_json(&Ok("PT-1".into()))["serviceResponse"]["proxySuccess"]["proxyTicket"],
            "PT-1"
        );
    }

    #[test]
    fn ticket_kinds_and_endpoints() {
        assert_eq!(ticket_kind("ST-abc_DEF-1"), Some(TicketKind::Service));
        assert_eq!(ticket_kind("PT-abc"), Some(TicketKind::Proxy));
        assert_eq!(ticket_kind("ST-<x>"), None);
        assert_eq!(ticket_kind("PGT-abc"), None);
        assert_eq!(ticket_kind("S"), None);
        assert_eq!(ticket_kind("é-abc"), None);
        assert!(check_endpoint(TicketKind::Service, false).is_ok());
        assert!(check_endpoint(TicketKind::Proxy, true).is_ok());
        assert_eq!(
            check_endpoint(TicketKind::Proxy, false).unwrap_err().code,
            CasErrorCode::InvalidTicketSpec
        );
    }

    #[test]
    fn proxy_callbacks_must_be_registered_and_safe() {
        let mut registry = crate::registry::Registry::default();
        registry
            .add_toml(
                "protocol = 'cas'\nid = 'ent'\nname = 'ENT'\nservices = ['https://ent.fr/']\nproxy_callbacks = ['https://ent.fr/pgt', 'http://127.0.0.1:9/pgt']\nproxy_callback_patterns = ['^https://ent\\.fr/cb/[0-9]+$']",
                &crate::keys::ServerSecret::for_tests(),
            )
            .unwrap();
        let ent = registry.cas_service("ent").unwrap();
        for ok in [
            "https://ent.fr/pgt",
            "https://ent.fr/cb/12",
            "http://127.0.0.1:9/pgt",
        ] {
            assert_eq!(check_proxy_callback(&ent, ok), Ok(()), "{ok}");
        }
        for refused in [
            "https://ent.fr/pgt2",
            "https://ent.fr/cb/12/x",
            "https://evil.fr/pgt",
            "http://ent.fr/pgt",
            "not a url",
        ] {
            assert_eq!(
                check_proxy_callback(&ent, refused).unwrap_err().code,
                CasErrorCode::InvalidProxyCallback,
                "{refused}"
            );
        }
        let pgt = ProxyGrantingTicket {
            registration: "ent".into(),
            account_id: 1,
            sid: "s".into(),
            auth_time: 0,
            proxies: vec![],
            origin_ticket: "ST-1".into(),
            origin_service: "https://ent.example.fr/".into(),
            issued_at: 100,
        };
        assert!(!pgt.is_expired(100 + PGT_TTL));
        assert!(pgt.is_expired(101 + PGT_TTL));
    }
}
