//! A SAML service provider for the tests: its key, metadata and registration, and the
//! AuthnRequests it sends (HTTP-Redirect signed by query, HTTP-POST with an enveloped
//! signature).

#![allow(dead_code)]

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use samael::crypto::{Crypto, CryptoProvider};

use super::TestServer;

/// The IdP's signing certificate, as the metadata at `url` publishes it.
pub async fn idp_cert_at(url: &str) -> samael::crypto::CertificateDer {
    let xml = reqwest::get(url).await.unwrap().text().await.unwrap();
    let entity = samael::metadata::EntityDescriptor::from_str(&xml).unwrap();
    let cert = entity.idp_sso_descriptors.unwrap()[0].key_descriptors[0]
        .key_info
        .x509_data
        .as_ref()
        .unwrap()
        .certificates[0]
        .clone();
    STANDARD
        .decode(cert.split_whitespace().collect::<String>())
        .unwrap()
        .into()
}

/// A service provider that signs its requests, with its metadata.
pub struct ServiceProvider {
    pub key_der: Vec<u8>,
    pub entity_id: String,
    pub acs: String,
}

impl ServiceProvider {
    pub fn new() -> (Self, String) {
        Self::at("ent.example.fr")
    }

    /// An SP at `https://{host}/saml`, with its metadata.
    pub fn at(host: &str) -> (Self, String) {
        let idp = samael::idp::IdentityProvider::generate_new(samael::idp::KeyType::Rsa(
            samael::idp::Rsa::Rsa2048,
        ))
        .unwrap();
        let cert = idp
            .create_certificate(&samael::idp::CertificateParams {
                common_name: "sp",
                issuer_name: "sp",
                days_until_expiration: 30,
            })
            .unwrap();
        let entity_id = format!("https://{host}/saml");
        let acs = format!("https://{host}/saml/acs");
        let metadata = format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://{host}/saml/slo"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#,
            STANDARD.encode(cert.der_data())
        );
        (
            Self {
                key_der: idp.export_private_key_der().unwrap(),
                entity_id,
                acs,
            },
            metadata,
        )
    }

    /// An HTTP-Redirect binding URL carrying `xml` as SAMLRequest, signed by the SP.
    pub fn signed_redirect(&self, endpoint: &str, xml: &str) -> String {
        self.signed_redirect_as(endpoint, "SAMLRequest", xml, Some("relay-1"))
    }

    /// The same for any message (`SAMLRequest` or `SAMLResponse`).
    pub fn signed_redirect_as(
        &self,
        endpoint: &str,
        parameter: &str,
        xml: &str,
        relay_state: Option<&str>,
    ) -> String {
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut enc, xml.as_bytes()).unwrap();
        let e = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let relay = relay_state
            .map(|r| format!("&RelayState={}", e(r)))
            .unwrap_or_default();
        let signed = format!(
            "{parameter}={}{relay}&SigAlg={}",
            e(&STANDARD.encode(enc.finish().unwrap())),
            e("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
        );
        let key = openssl::pkey::PKey::from_rsa(
            openssl::rsa::Rsa::private_key_from_der(&self.key_der).unwrap(),
        )
        .unwrap();
        let mut signer =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
        signer.update(signed.as_bytes()).unwrap();
        let signature = STANDARD.encode(signer.sign_to_vec().unwrap());
        format!("{endpoint}?{signed}&Signature={}", e(&signature))
    }

    pub fn registration(&self) -> String {
        self.registration_with("sp.xml")
    }

    pub fn registration_with(&self, metadata_file: &str) -> String {
        format!(
            "protocol = \"saml\"\nentity_id = \"{}\"\nmetadata_file = \"{metadata_file}\"\nattributes = [\"sn\", \"givenName\", \"FrEduCtPersonAffiliation\", \"FrEduCtEleveUAI\", \"FrEduCtId\", \"FrEduCtEleveINEHash\", \"personalTitle\", \"FrEduCtRefId\", \"FrEduVecteur\"]\n",
            self.entity_id
        )
    }

    /// A signed HTTP-Redirect binding URL for an AuthnRequest.
    pub fn redirect_url(&self, server: &TestServer, id: &str, acs: &str, force: bool) -> String {
        self.redirect_url_with(server, id, acs, &format!(r#"ForceAuthn="{force}""#))
    }

    /// The same, with `attrs` added to the AuthnRequest element.
    pub fn redirect_url_with(
        &self,
        server: &TestServer,
        id: &str,
        acs: &str,
        attrs: &str,
    ) -> String {
        let xml = self.authn_request(server, id, acs, attrs);
        self.signed_redirect(&server.url("/idp/profile/SAML2/Redirect/SSO"), &xml)
    }

    /// An AuthnRequest for the Redirect binding, `attrs` added to its element.
    pub fn authn_request(&self, server: &TestServer, id: &str, acs: &str, attrs: &str) -> String {
        let now = chrono::DateTime::from_timestamp(server.clock_now(), 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ");
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" {attrs}><saml:Issuer>{issuer}</saml:Issuer></samlp:AuthnRequest>"#,
            dest = server.url("/idp/profile/SAML2/Redirect/SSO"),
            issuer = self.entity_id,
        )
    }
}

/// A POST-binding AuthnRequest with an enveloped signature by the SP.
pub fn signed_post_request(
    server: &TestServer,
    sp: &ServiceProvider,
    id: &str,
    acs: &str,
) -> String {
    let now = chrono::DateTime::from_timestamp(server.clock_now(), 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ");
    let idp = samael::idp::IdentityProvider::from_rsa_private_key_der(&sp.key_der).unwrap();
    let cert = idp
        .create_certificate(&samael::idp::CertificateParams {
            common_name: "sp",
            issuer_name: "sp",
            days_until_expiration: 1,
        })
        .unwrap();
    let mut template = samael::signature::Signature::template(id, &cert);
    template.signed_info.reference[0].digest_method.algorithm =
        samael::signature::DigestAlgorithm::Sha256;
    let signature = samael::traits::ToXml::to_string(&template).unwrap();
    let signature = signature
        .split_once("?>")
        .map_or(signature.as_str(), |(_, s)| s.trim_start());
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}" AssertionConsumerServiceURL="{acs}"><saml:Issuer>{issuer}</saml:Issuer>{signature}</samlp:AuthnRequest>"#,
        dest = server.url("/idp/profile/SAML2/POST/SSO"),
        issuer = sp.entity_id,
    );
    Crypto::sign_xml(&xml, &sp.key_der).unwrap()
}

pub async fn post_request(
    server: &TestServer,
    b: &reqwest::Client,
    xml: &str,
) -> reqwest::Response {
    b.post(server.url("/idp/profile/SAML2/POST/SSO"))
        .form(&[("SAMLRequest", STANDARD.encode(xml))])
        .send()
        .await
        .unwrap()
}
