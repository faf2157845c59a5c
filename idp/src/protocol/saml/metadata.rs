//! Metadata: the IdP's own (what SPs load), and what the IdP keeps of an SP's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::str::FromStr;

use samael::metadata::EntityDescriptor;

pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// Largest metadata file accepted.
const MAX_METADATA_BYTES: usize = 512 * 1024;

/// An assertion consumer service of an SP, from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerService {
    pub index: usize,
    pub location: String,
    pub is_default: bool,
}

/// A single logout service of an SP, from its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutService {
    pub binding: String,
    /// Where LogoutRequests go.
    pub location: String,
    /// Where LogoutResponses go (ResponseLocation, else Location).
    pub response_location: String,
}

/// What the IdP uses from an SP's metadata.
#[derive(Debug, Clone)]
pub struct SpMetadata {
    pub entity_id: String,
    /// HTTP-POST consumer services only (the binding the IdP answers with).
    pub consumer_services: Vec<ConsumerService>,
    pub authn_requests_signed: bool,
    /// DER certificates the SP signs with.
    pub signing_certs: Vec<Vec<u8>>,
    /// DER certificate the SP wants assertions encrypted to, if any.
    pub encryption_cert: Option<Vec<u8>>,
    /// Data-encryption algorithms the SP lists for that key (empty: it did not say).
    pub encryption_methods: Vec<String>,
    /// Redirect and POST single logout services.
    pub logout_services: Vec<LogoutService>,
}

impl SpMetadata {
    /// The consumer service a request asks for (by URL or index), or the default one. An
    /// address not in the metadata is refused: responses only go where the SP registered.
    pub fn consumer_service(
        &self,
        url: Option<&str>,
        index: Option<usize>,
    ) -> Option<&ConsumerService> {
        match (url, index) {
            (Some(u), _) => self.consumer_services.iter().find(|c| c.location == u),
            (None, Some(i)) => self.consumer_services.iter().find(|c| c.index == i),
            (None, None) => self
                .consumer_services
                .iter()
                .find(|c| c.is_default)
                .or_else(|| self.consumer_services.iter().min_by_key(|c| c.index)),
        }
    }
}

fn decode_cert(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|_| "a certificate in the metadata is not base64".to_owned())
}

/// Reads an SP's metadata (an EntityDescriptor with one SPSSODescriptor).
pub fn parse_sp_metadata(xml: &str) -> Result<SpMetadata, String> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err("the metadata file is too large".into());
    }
    if xml.contains("<!DOCTYPE") || xml.contains("<!ENTITY") {
        return Err("the metadata must not contain a DTD".into());
    }
    let entity = EntityDescriptor::from_str(xml).map_err(|e| format!("metadata: {e}"))?;
    let entity_id = entity.entity_id.clone().ok_or("metadata: no entityID")?;
    let sp = entity
        .sp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or("metadata: no SPSSODescriptor")?;
    let consumer_services: Vec<ConsumerService> = sp
        .assertion_consumer_services
        .iter()
        .filter(|a| a.binding == BINDING_POST)
        .map(|a| ConsumerService {
            index: a.index,
            location: a.location.clone(),
            is_default: a.is_default.unwrap_or(false),
        })
        .collect();
    if consumer_services.is_empty() {
        return Err("metadata: no AssertionConsumerService with the HTTP-POST binding".into());
    }
    let mut signing_certs = Vec::new();
    let mut encryption_cert = None;
    let mut encryption_methods = Vec::new();
    for key in sp.key_descriptors.iter().flatten() {
        let certs = key
            .key_info
            .x509_data
            .as_ref()
            .map(|d| d.certificates.clone())
            .unwrap_or_default();
        if key.key_use.as_deref() != Some("signing") {
            encryption_methods.extend(
                key.encryption_methods
                    .iter()
                    .flatten()
                    .map(|m| m.algorithm.clone()),
            );
        }
        for cert in certs {
            let der = decode_cert(&cert)?;
            match key.key_use.as_deref() {
                Some("encryption") => encryption_cert = Some(der),
                Some("signing") => signing_certs.push(der),
                _ => {
                    // no "use": the key serves both
                    encryption_cert.get_or_insert_with(|| der.clone());
                    signing_certs.push(der);
                }
            }
        }
    }
    let logout_services = sp
        .single_logout_services
        .iter()
        .flatten()
        .filter(|s| s.binding == BINDING_REDIRECT || s.binding == BINDING_POST)
        .map(|s| LogoutService {
            binding: s.binding.clone(),
            location: s.location.clone(),
            response_location: s
                .response_location
                .clone()
                .unwrap_or_else(|| s.location.clone()),
        })
        .collect();
    let authn_requests_signed = sp.authn_requests_signed.unwrap_or(false);
    if authn_requests_signed && signing_certs.is_empty() {
        return Err("metadata: AuthnRequestsSigned but no signing certificate".into());
    }
    Ok(SpMetadata {
        entity_id,
        consumer_services,
        authn_requests_signed,
        signing_certs,
        encryption_cert,
        encryption_methods,
        logout_services,
    })
}

/// The IdP's metadata document.
pub fn idp_metadata(entity_id: &str, base: &str, cert_der: &[u8]) -> String {
    let cert = STANDARD.encode(cert_der);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleLogoutService Binding="{BINDING_REDIRECT}" Location="{base}/idp/profile/SAML2/Redirect/SLO"/>
    <md:SingleLogoutService Binding="{BINDING_POST}" Location="{base}/idp/profile/SAML2/POST/SLO"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:SingleSignOnService Binding="{BINDING_REDIRECT}" Location="{base}/idp/profile/SAML2/Redirect/SSO"/>
    <md:SingleSignOnService Binding="{BINDING_POST}" Location="{base}/idp/profile/SAML2/POST/SSO"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "MIIBszCCAVmgAwIBAgIUZTe0";

    fn sp(keys: &str) -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sp">
  <md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {keys}
    <md:AssertionConsumerService Binding="{BINDING_POST}" Location="https://sp/acs" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    fn key(usage: &str, methods: &str) -> String {
        format!(
            r#"<md:KeyDescriptor use="{usage}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{CERT}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>{methods}</md:KeyDescriptor>"#
        )
    }

    #[test]
    fn signing_and_encryption_keys() {
        let xml = sp(&format!(
            "{}\n    {}",
            key("signing", ""),
            key(
                "encryption",
                r#"<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>"#
            )
        ));
        let m = parse_sp_metadata(&xml).unwrap();
        assert_eq!(m.signing_certs.len(), 1);
        assert!(m.encryption_cert.is_some());
        assert_eq!(
            m.encryption_methods,
            vec!["http://www.w3.org/2001/04/xmlenc#aes256-cbc"]
        );
    }
}
