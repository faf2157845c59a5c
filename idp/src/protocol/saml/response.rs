//! Signed SAML responses: the Assertion is signed first, then placed in the Response, which
//! is signed in turn (RSA-SHA256, SHA-256 digests, exclusive canonicalisation).

use chrono::{DateTime, Utc};
use samael::attribute::Attribute;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
use samael::schema::{
    Assertion, AttributeStatement, AudienceRestriction, AuthnContext, AuthnContextClassRef,
    AuthnStatement, Conditions, Issuer, Response, Status, StatusCode, Subject, SubjectConfirmation,
    SubjectConfirmationData, SubjectNameID,
};
use samael::signature::{DigestAlgorithm, Signature};
use samael::traits::ToXml;

/// How long an assertion may be used.
pub const ASSERTION_TTL: i64 = 300;
pub const PASSWORD_PROTECTED_TRANSPORT: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";

/// Everything a response says.
pub struct ResponseContent<'a> {
    pub idp_entity_id: &'a str,
    pub sp_entity_id: &'a str,
    pub acs_url: &'a str,
    /// The AuthnRequest's ID (None for IdP-initiated SSO).
    pub in_response_to: Option<&'a str>,
    pub name_id: &'a str,
    pub name_id_format: &'a str,
    pub session_index: &'a str,
    pub auth_instant: i64,
    pub attributes: Vec<Attribute>,
    pub now: i64,
}

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

fn id() -> String {
    // an XML ID must not start with a digit
    format!("_{}", hex::encode(crate::keys::random_token(20)))
}

fn issuer(entity_id: &str) -> Issuer {
    Issuer {
        value: Some(entity_id.to_owned()),
        format: Some("urn:oasis:names:tc:SAML:2.0:nameid-format:entity".to_owned()),
        ..Default::default()
    }
}

fn signature_template(reference: &str, cert: &CertificateDer) -> Signature {
    let mut s = Signature::template(reference, cert);
    for r in &mut s.signed_info.reference {
        r.digest_method.algorithm = DigestAlgorithm::Sha256;
    }
    s
}

fn sign(xml: &str, key_der: &[u8]) -> Result<String, String> {
    Crypto::sign_xml(xml, key_der).map_err(|e| format!("cannot sign: {e}"))
}

/// Drops the XML declaration of a serialized element, to place it inside another document.
fn without_declaration(xml: &str) -> &str {
    match xml.trim_start().strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(xml, |(_, r)| r.trim_start()),
        None => xml,
    }
}

/// The signed response, as XML.
pub fn signed_response(
    c: &ResponseContent<'_>,
    cert: &CertificateDer,
    key_der: &[u8],
) -> Result<String, String> {
    let assertion_id = id();
    let until = at(c.now + ASSERTION_TTL);
    let assertion = Assertion {
        id: assertion_id.clone(),
        issue_instant: at(c.now),
        version: "2.0".to_owned(),
        issuer: issuer(c.idp_entity_id),
        signature: Some(signature_template(&assertion_id, cert)),
        subject: Some(Subject {
            name_id: Some(SubjectNameID {
                format: Some(c.name_id_format.to_owned()),
                value: c.name_id.to_owned(),
            }),
            subject_confirmations: Some(vec![SubjectConfirmation {
                method: Some("urn:oasis:names:tc:SAML:2.0:cm:bearer".to_owned()),
                name_id: None,
                subject_confirmation_data: Some(SubjectConfirmationData {
                    not_before: None,
                    not_on_or_after: Some(until),
                    recipient: Some(c.acs_url.to_owned()),
                    in_response_to: c.in_response_to.map(str::to_owned),
                    address: None,
                    content: None,
                }),
            }]),
        }),
        conditions: Some(Conditions {
            not_before: Some(at(c.now - 30)),
            not_on_or_after: Some(until),
            audience_restrictions: Some(vec![AudienceRestriction {
                audience: vec![c.sp_entity_id.to_owned()],
            }]),
            one_time_use: None,
            proxy_restriction: None,
        }),
        authn_statements: Some(vec![AuthnStatement {
            authn_instant: Some(at(c.auth_instant)),
            session_index: Some(c.session_index.to_owned()),
            session_not_on_or_after: None,
            subject_locality: None,
            authn_context: Some(AuthnContext {
                value: Some(AuthnContextClassRef {
                    value: Some(PASSWORD_PROTECTED_TRANSPORT.to_owned()),
                }),
            }),
        }]),
        attribute_statements: (!c.attributes.is_empty()).then(|| {
            vec![AttributeStatement {
                attributes: c.attributes.clone(),
            }]
        }),
    };
    let assertion_xml = assertion.to_string().map_err(|e| e.to_string())?;
    let signed_assertion = sign(&assertion_xml, key_der)?;

    let response_id = id();
    let response = Response {
        id: response_id.clone(),
        in_response_to: c.in_response_to.map(str::to_owned),
        version: "2.0".to_owned(),
        issue_instant: at(c.now),
        destination: Some(c.acs_url.to_owned()),
        consent: None,
        issuer: Some(issuer(c.idp_entity_id)),
        signature: Some(signature_template(&response_id, cert)),
        status: Some(Status {
            status_code: StatusCode {
                value: Some("urn:oasis:names:tc:SAML:2.0:status:Success".to_owned()),
            },
            status_message: None,
            status_detail: None,
        }),
        encrypted_assertion: None,
        assertion: None,
    };
    let response_xml = response.to_string().map_err(|e| e.to_string())?;
    let close = response_xml
        .rfind("</")
        .ok_or("malformed response template")?;
    let spliced = format!(
        "{}{}{}",
        &response_xml[..close],
        without_declaration(&signed_assertion),
        &response_xml[close..]
    );
    sign(&spliced, key_der)
}
