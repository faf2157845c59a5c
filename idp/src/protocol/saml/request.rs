//! Incoming AuthnRequests: decoding (both bindings) with size limits and no DTD, signature
//! checks with the SP's metadata certificates, and the rules of the SAML 2.0 web SSO profile.
//! Every refusal is shown as a page: nothing goes to an address that was not verified.

use std::io::Read;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use samael::crypto::{AllowedSignatureAlgorithm, Crypto, CryptoProvider, ReduceMode};
use samael::schema::{AuthnRequest, LogoutRequest, LogoutResponse};

use super::metadata::BINDING_POST;
use crate::registry::{Registry, SamlServiceProvider};

/// Largest decoded (and inflated) request accepted.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// How far an IssueInstant may be from the IdP's clock.
const CLOCK_SKEW: i64 = 300;
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// The signature covers an element other than the message itself (signature wrapping).
pub const NOT_THE_SIGNED_ELEMENT: &str =
    "La signature ne couvre pas la demande elle-même : demande refusée.";

/// A valid request from a registered SP.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub id: String,
    pub sp: Arc<SamlServiceProvider>,
    pub acs_url: String,
    pub force_authn: bool,
    pub is_passive: bool,
}

fn refuse(message: &str) -> String {
    message.to_owned()
}

fn check_xml(xml: &str) -> Result<(), String> {
    if xml.len() > MAX_MESSAGE_BYTES {
        return Err(refuse(
            "La demande d'authentification est trop volumineuse.",
        ));
    }
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err(refuse("La demande d'authentification contient une DTD."));
    }
    Ok(())
}

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() > MAX_MESSAGE_BYTES * 2 {
        return Err(refuse(
            "La demande d'authentification est trop volumineuse.",
        ));
    }
    STANDARD
        .decode(compact)
        .map_err(|_| refuse("La demande d'authentification est illisible."))
}

/// HTTP-Redirect binding: base64 of raw DEFLATE.
pub fn decode_redirect(saml_request: &str) -> Result<String, String> {
    let compressed = base64_decode(saml_request)?;
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(compressed.as_slice())
        .take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_string(&mut xml)
        .map_err(|_| refuse("La demande d'authentification est illisible."))?;
    check_xml(&xml)?;
    Ok(xml)
}

/// HTTP-POST binding: base64 of the XML.
pub fn decode_post(saml_request: &str) -> Result<String, String> {
    let xml = String::from_utf8(base64_decode(saml_request)?)
        .map_err(|_| refuse("La demande d'authentification est illisible."))?;
    check_xml(&xml)?;
    Ok(xml)
}

/// The raw (still URL-encoded) value of a query parameter.
fn raw_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn url_decode(v: &str) -> String {
    url::form_urlencoded::parse(format!("v={v}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn verify_rsa_sha256(certs: &[Vec<u8>], data: &[u8], signature: &[u8]) -> bool {
    certs.iter().any(|der| {
        let Ok(cert) = openssl::x509::X509::from_der(der) else {
            return false;
        };
        let Ok(key) = cert.public_key() else {
            return false;
        };
        let Ok(mut verifier) =
            openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key)
        else {
            return false;
        };
        verifier.update(data).is_ok() && verifier.verify(signature).unwrap_or(false)
    })
}

/// Checks the HTTP-Redirect binding signature over `SAMLRequest=…&RelayState=…&SigAlg=…`
/// exactly as received (SAML bindings §3.4.4.1). `Ok(false)`: the request is not signed.
pub fn verify_redirect_signature(
    raw_query: &str,
    sp: &SamlServiceProvider,
) -> Result<bool, String> {
    let Some(signature) = raw_param(raw_query, "Signature") else {
        return Ok(false);
    };
    let sig_alg = raw_param(raw_query, "SigAlg").ok_or_else(|| refuse("SigAlg manquant."))?;
    if url_decode(sig_alg) != RSA_SHA256 {
        return Err(refuse(
            "L'algorithme de signature de la demande n'est pas accepté (RSA-SHA256 seulement).",
        ));
    }
    // a request, or the answer to one the IdP sent (single logout)
    let (name, message) = ["SAMLRequest", "SAMLResponse"]
        .into_iter()
        .find_map(|name| raw_param(raw_query, name).map(|m| (name, m)))
        .ok_or_else(|| refuse("SAMLRequest manquant."))?;
    let mut signed = format!("{name}={message}");
    if let Some(relay) = raw_param(raw_query, "RelayState") {
        signed.push_str(&format!("&RelayState={relay}"));
    }
    signed.push_str(&format!("&SigAlg={sig_alg}"));
    let signature = base64_decode(&url_decode(signature))?;
    if verify_rsa_sha256(&sp.metadata.signing_certs, signed.as_bytes(), &signature) {
        Ok(true)
    } else {
        Err(refuse("La signature du message SAML n'est pas valide."))
    }
}

/// Checks an enveloped XML signature (HTTP-POST binding) and returns only the signed content,
/// so that nothing outside the signature can be slipped in (signature wrapping).
pub fn verify_post_signature(xml: &str, sp: &SamlServiceProvider) -> Result<String, String> {
    let certs: Vec<samael::crypto::CertificateDer> = sp
        .metadata
        .signing_certs
        .iter()
        .map(|c| c.clone().into())
        .collect();
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        &certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(&[AllowedSignatureAlgorithm::RsaSha256]),
    )
    .map_err(|_| refuse("La signature du message SAML n'est pas valide."))
}

pub fn parse(xml: &str) -> Result<AuthnRequest, String> {
    AuthnRequest::from_str(xml).map_err(|_| refuse("La demande d'authentification est mal formée."))
}

/// The registered SP named by a message's Issuer.
pub fn sender(
    issuer: Option<&samael::schema::Issuer>,
    registry: &Registry,
) -> Result<Arc<SamlServiceProvider>, String> {
    let issuer = issuer
        .and_then(|i| i.value.clone())
        .ok_or_else(|| refuse("La demande ne dit pas de quel service elle vient."))?;
    registry
        .saml_provider(&issuer)
        .ok_or_else(|| refuse("Ce service n'est pas enregistré auprès du fournisseur d'identité."))
}

/// The web SSO profile's checks of a request whose signature (if any) was verified.
pub fn validate(
    request: &AuthnRequest,
    sp: Arc<SamlServiceProvider>,
    our_endpoints: &[String],
    now: i64,
) -> Result<ValidRequest, String> {
    if request.version != "2.0" {
        return Err(refuse("Version SAML non prise en charge."));
    }
    if request.id.is_empty() || request.id.len() > 256 {
        return Err(refuse("La demande n'a pas d'identifiant valable."));
    }
    let instant = request.issue_instant.timestamp();
    if (instant - now).abs() > CLOCK_SKEW {
        return Err(refuse(
            "La demande d'authentification est trop ancienne ou datée dans le futur.",
        ));
    }
    if let Some(d) = &request.destination
        && !our_endpoints.iter().any(|e| e == d)
    {
        return Err(refuse(
            "La demande d'authentification n'est pas adressée à ce fournisseur d'identité.",
        ));
    }
    if let Some(b) = &request.protocol_binding
        && b != BINDING_POST
    {
        return Err(refuse(
            "Seule la liaison HTTP-POST est proposée pour la réponse.",
        ));
    }
    let acs = sp
        .metadata
        .consumer_service(
            request.assertion_consumer_service_url.as_deref(),
            request.assertion_consumer_service_index,
        )
        .ok_or_else(|| {
            refuse("L'adresse de retour demandée n'est pas dans les métadonnées du service.")
        })?
        .location
        .clone();
    Ok(ValidRequest {
        id: request.id.clone(),
        sp,
        acs_url: acs,
        force_authn: request.force_authn.unwrap_or(false),
        is_passive: request.is_passive.unwrap_or(false),
    })
}

/// A valid LogoutRequest from a registered SP.
#[derive(Debug, Clone)]
pub struct ValidLogout {
    pub id: String,
    pub sp: Arc<SamlServiceProvider>,
    /// The SessionIndexes the SP names (the SSO session's `sid`); none means any session.
    pub session_indexes: Vec<String>,
}

/// A LogoutRequest as read: samael's fields, and the SessionIndex elements (samael 0.0.22
/// looks for an attribute of that name, which SAML does not have).
#[derive(Debug, Clone)]
pub struct ParsedLogout {
    pub request: LogoutRequest,
    pub session_indexes: Vec<String>,
}

#[derive(serde::Deserialize)]
struct SessionIndexes {
    #[serde(rename = "SessionIndex", default)]
    session_index: Vec<String>,
}

pub fn parse_logout(xml: &str) -> Result<ParsedLogout, String> {
    let malformed = || refuse("La demande de déconnexion est mal formée.");
    let request = LogoutRequest::from_str(xml).map_err(|_| malformed())?;
    let indexes: SessionIndexes = quick_xml::de::from_str(xml).map_err(|_| malformed())?;
    Ok(ParsedLogout {
        request,
        session_indexes: indexes.session_index,
    })
}

/// Checks a LogoutRequest whose signature was verified.
pub fn validate_logout(
    parsed: &ParsedLogout,
    sp: Arc<SamlServiceProvider>,
    our_endpoints: &[String],
    now: i64,
) -> Result<ValidLogout, String> {
    let request = &parsed.request;
    let id = request
        .id
        .clone()
        .filter(|i| !i.is_empty() && i.len() <= 256)
        .ok_or_else(|| refuse("La demande de déconnexion n'a pas d'identifiant valable."))?;
    if request.version.as_deref() != Some("2.0") {
        return Err(refuse("Version SAML non prise en charge."));
    }
    let instant = request
        .issue_instant
        .map(|i| i.timestamp())
        .ok_or_else(|| refuse("La demande de déconnexion n'est pas datée."))?;
    if (instant - now).abs() > CLOCK_SKEW {
        return Err(refuse(
            "La demande de déconnexion est trop ancienne ou datée dans le futur.",
        ));
    }
    if let Some(d) = &request.destination
        && !our_endpoints.iter().any(|e| e == d)
    {
        return Err(refuse(
            "La demande de déconnexion n'est pas adressée à ce fournisseur d'identité.",
        ));
    }
    if sp.metadata.logout_services.is_empty() {
        return Err(refuse(
            "Ce service n'a pas déclaré d'adresse de déconnexion.",
        ));
    }
    Ok(ValidLogout {
        id,
        sp,
        session_indexes: parsed.session_indexes.clone(),
    })
}

pub fn parse_logout_response(xml: &str) -> Result<LogoutResponse, String> {
    LogoutResponse::from_str(xml).map_err(|_| refuse("La réponse de déconnexion est mal formée."))
}

/// What an SP said to a LogoutRequest the IdP sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutAnswer {
    /// The ID of the IdP's LogoutRequest.
    pub in_response_to: String,
    pub issuer: String,
    /// Whether the SP says it ended its session (top-level status Success).
    pub success: bool,
}

/// Checks a LogoutResponse whose signature was verified: addressed to the IdP, recent, and
/// answering a request (whose sender the caller then compares with the issuer).
pub fn validate_logout_response(
    response: &LogoutResponse,
    our_endpoints: &[String],
    now: i64,
) -> Result<LogoutAnswer, String> {
    if response.version.as_deref() != Some("2.0") {
        return Err(refuse("Version SAML non prise en charge."));
    }
    let instant = response
        .issue_instant
        .map(|i| i.timestamp())
        .ok_or_else(|| refuse("La réponse de déconnexion n'est pas datée."))?;
    if (instant - now).abs() > CLOCK_SKEW {
        return Err(refuse(
            "La réponse de déconnexion est trop ancienne ou datée dans le futur.",
        ));
    }
    if let Some(d) = &response.destination
        && !our_endpoints.iter().any(|e| e == d)
    {
        return Err(refuse(
            "La réponse de déconnexion n'est pas adressée à ce fournisseur d'identité.",
        ));
    }
    let in_response_to = response
        .in_response_to
        .clone()
        .filter(|i| !i.is_empty() && i.len() <= 256)
        .ok_or_else(|| refuse("La réponse de déconnexion ne dit pas à quoi elle répond."))?;
    let issuer = response
        .issuer
        .as_ref()
        .and_then(|i| i.value.clone())
        .ok_or_else(|| refuse("La réponse ne dit pas de quel service elle vient."))?;
    let success = response
        .status
        .as_ref()
        .and_then(|s| s.status_code.value.as_deref())
        == Some("urn:oasis:names:tc:SAML:2.0:status:Success");
    Ok(LogoutAnswer {
        in_response_to,
        issuer,
        success,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_or_dtd_requests_are_refused() {
        let dtd = STANDARD.encode("<!DOCTYPE x [<!ENTITY a \"b\">]><x/>");
        assert!(decode_post(&dtd).unwrap_err().contains("DTD"));
        let big = STANDARD.encode("a".repeat(MAX_MESSAGE_BYTES + 10));
        assert!(decode_post(&big).is_err());
        assert!(decode_post("!!!").is_err());
        // a deflate bomb stops at the limit
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, &vec![b'a'; 10 * MAX_MESSAGE_BYTES]).unwrap();
        let bomb = STANDARD.encode(enc.finish().unwrap());
        assert!(decode_redirect(&bomb).is_err());
    }

    #[test]
    fn logout_requests_name_their_session_indexes() {
        let xml = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l" Version="2.0" IssueInstant="2026-11-23T08:50:00Z"><saml:Issuer>sp</saml:Issuer><saml:NameID>n</saml:NameID><samlp:SessionIndex>s1</samlp:SessionIndex><samlp:SessionIndex>s2</samlp:SessionIndex></samlp:LogoutRequest>"#;
        let parsed = parse_logout(xml).unwrap();
        assert_eq!(parsed.session_indexes, ["s1", "s2"]);
        assert_eq!(parsed.request.id.as_deref(), Some("_l"));
        let without = xml.replace("<samlp:SessionIndex>s1</samlp:SessionIndex><samlp:SessionIndex>s2</samlp:SessionIndex>", "");
        assert!(parse_logout(&without).unwrap().session_indexes.is_empty());
    }

    #[test]
    fn raw_params_keep_their_encoding() {
        let q = "SAMLRequest=a%2Bb&RelayState=r%20s&SigAlg=x";
        assert_eq!(raw_param(q, "SAMLRequest"), Some("a%2Bb"));
        assert_eq!(url_decode("a%2Bb"), "a+b");
        assert_eq!(raw_param(q, "Signature"), None);
    }
}
