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
    /// The SP's encryption certificate and algorithm: the assertion is then encrypted.
    pub encrypt_for: Option<(&'a [u8], &'static str)>,
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

/// samael declares the XML Schema namespace twice: `xsd` on the Assertion (unused) and `xs` on
/// each AttributeValue (used by `xsi:type="xs:string"`). An SP that moves a decrypted assertion
/// with lxml (python3-saml) keeps only the first prefix and leaves `xs:string` unbound, so the
/// unused declaration is removed before signing.
fn single_schema_prefix(assertion_xml: &str) -> String {
    const UNUSED: &str = r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#;
    if assertion_xml.contains("xsd:") {
        return assertion_xml.to_owned();
    }
    assertion_xml.replacen(UNUSED, "", 1)
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
    let assertion_xml = single_schema_prefix(&assertion.to_string().map_err(|e| e.to_string())?);
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
    let assertion_element = match c.encrypt_for {
        Some((cert_der, algorithm)) => super::encryption::encrypted_assertion(
            without_declaration(&signed_assertion),
            cert_der,
            algorithm,
        )?,
        None => without_declaration(&signed_assertion).to_owned(),
    };
    let spliced = format!(
        "{}{}{}",
        &response_xml[..close],
        assertion_element,
        &response_xml[close..]
    );
    sign(&spliced, key_der)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A signed Response without an assertion, with a second-level status code under Responder
/// (e.g. `NoPassive` when IsPassive was asked and nobody is signed in).
pub fn signed_status_response(
    idp_entity_id: &str,
    acs_url: &str,
    in_response_to: Option<&str>,
    second_level_status: &str,
    now: i64,
    cert: &CertificateDer,
    key_der: &[u8],
) -> Result<String, String> {
    let response_id = id();
    let signature = signature_template(&response_id, cert)
        .to_string()
        .map_err(|e| e.to_string())?;
    let in_response_to = in_response_to
        .map(|r| format!(r#" InResponseTo="{}""#, escape(r)))
        .unwrap_or_default();
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{response_id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}"{in_response_to}><saml:Issuer>{issuer}</saml:Issuer>{signature}<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:{status}"/></samlp:StatusCode></samlp:Status></samlp:Response>"#,
        instant = at(now).format("%Y-%m-%dT%H:%M:%SZ"),
        destination = escape(acs_url),
        issuer = escape(idp_entity_id),
        signature = without_declaration(&signature),
        status = escape(second_level_status),
    );
    sign(&xml, key_der)
}

/// A LogoutResponse, unsigned (signed by the binding that carries it). Success, with the
/// second-level PartialLogout when some other service of the session did not confirm.
pub fn logout_response(
    idp_entity_id: &str,
    destination: &str,
    in_response_to: &str,
    partial: bool,
    now: i64,
) -> (String, String) {
    let response_id = id();
    let status = if partial {
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:PartialLogout"/></samlp:StatusCode>"#
    } else {
        r#"<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>"#
    };
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{response_id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}" InResponseTo="{in_response_to}"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status>{status}</samlp:Status></samlp:LogoutResponse>"#,
        instant = at(now).format("%Y-%m-%dT%H:%M:%SZ"),
        destination = escape(destination),
        in_response_to = escape(in_response_to),
        issuer = escape(idp_entity_id),
    );
    (response_id, xml)
}

/// What the IdP puts in a LogoutRequest to one SP of an ended session.
pub struct LogoutRequestContent<'a> {
    pub idp_entity_id: &'a str,
    pub destination: &'a str,
    /// Chosen in advance, so that the SP's answer can be matched to it.
    pub request_id: &'a str,
    pub name_id: &'a str,
    pub name_id_format: &'a str,
    pub session_index: &'a str,
    pub now: i64,
}

/// A LogoutRequest, unsigned (the HTTP-Redirect binding signs the query).
pub fn logout_request(c: &LogoutRequestContent) -> String {
    format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{destination}" NotOnOrAfter="{until}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID Format="{format}">{name_id}</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        id = escape(c.request_id),
        instant = at(c.now).format("%Y-%m-%dT%H:%M:%SZ"),
        until = at(c.now + ASSERTION_TTL).format("%Y-%m-%dT%H:%M:%SZ"),
        destination = escape(c.destination),
        issuer = escape(c.idp_entity_id),
        format = escape(c.name_id_format),
        name_id = escape(c.name_id),
        session_index = escape(c.session_index),
    )
}

/// Puts an enveloped signature right after the Issuer of a message and signs it (HTTP-POST
/// binding).
fn sign_message(
    xml: &str,
    message_id: &str,
    cert: &CertificateDer,
    key_der: &[u8],
) -> Result<String, String> {
    let signature = signature_template(message_id, cert)
        .to_string()
        .map_err(|e| e.to_string())?;
    let with_template = xml.replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{}", without_declaration(&signature)),
        1,
    );
    sign(&with_template, key_der)
}

/// The LogoutRequest with an enveloped signature (HTTP-POST binding).
pub fn signed_logout_request(
    c: &LogoutRequestContent,
    cert: &CertificateDer,
    key_der: &[u8],
) -> Result<String, String> {
    sign_message(&logout_request(c), c.request_id, cert, key_der)
}

/// The LogoutResponse with an enveloped signature (HTTP-POST binding).
pub fn signed_logout_response(
    idp_entity_id: &str,
    destination: &str,
    in_response_to: &str,
    partial: bool,
    now: i64,
    cert: &CertificateDer,
    key_der: &[u8],
) -> Result<String, String> {
    let (response_id, xml) =
        logout_response(idp_entity_id, destination, in_response_to, partial, now);
    sign_message(&xml, &response_id, cert, key_der)
}

/// The HTTP-Redirect binding URL of a message, signed with RSA-SHA256 over
/// `SAMLResponse=…&RelayState=…&SigAlg=…` (SAML bindings §3.4.4.1).
pub fn redirect_binding_url(
    location: &str,
    parameter: &str,
    xml: &str,
    relay_state: Option<&str>,
    key_der: &[u8],
) -> Result<String, String> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut deflater, xml.as_bytes()).map_err(|e| e.to_string())?;
    let deflated = deflater.finish().map_err(|e| e.to_string())?;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut query = format!("{parameter}={}", enc(&STANDARD.encode(deflated)));
    if let Some(r) = relay_state {
        query.push_str(&format!("&RelayState={}", enc(r)));
    }
    query.push_str(&format!(
        "&SigAlg={}",
        enc("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    ));
    let rsa = openssl::rsa::Rsa::private_key_from_der(key_der).map_err(|e| e.to_string())?;
    let key = openssl::pkey::PKey::from_rsa(rsa).map_err(|e| e.to_string())?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
        .map_err(|e| e.to_string())?;
    signer.update(query.as_bytes()).map_err(|e| e.to_string())?;
    let signature = signer.sign_to_vec().map_err(|e| e.to_string())?;
    let separator = if location.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{location}{separator}{query}&Signature={}",
        enc(&STANDARD.encode(signature))
    ))
}
