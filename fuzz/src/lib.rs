//! What every fuzz target shares: one registry like a deployment's (the demo's OIDC clients and
//! CAS service, plus a SAML SP with a signing certificate and a CAS service by pattern), built
//! once per process, and a fixed clock.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use idp::keys::ServerSecret;
use idp::registry::{Registry, SamlServiceProvider};

/// The fixed "now" of every target (2026-09-21), so that a finding replays the same way.
pub const NOW: i64 = 1_790_000_000;
pub const ISSUER: &str = "https://idp.example.fr";
pub const SP_ENTITY_ID: &str = "https://ent.example.fr/saml";

pub struct Fixture {
    pub registry: Registry,
    pub sp: Arc<SamlServiceProvider>,
    pub sso_endpoints: Vec<String>,
    pub slo_endpoints: Vec<String>,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build)
}

fn build() -> Fixture {
    let dir = tempfile::tempdir().expect("temporary directory");
    idp::demo::write_registrations(dir.path(), idp::demo::DemoPorts::from_idp(8080))
        .expect("demo registrations");
    std::fs::write(dir.path().join("ent-saml.xml"), sp_metadata()).expect("SP metadata");
    std::fs::write(
        dir.path().join("ent-saml.toml"),
        format!(
            r#"protocol = "saml"
entity_id = "{SP_ENTITY_ID}"
name = "ENT (SAML)"
metadata_file = "ent-saml.xml"
attributes = ["sn", "givenName", "FrEduCtPersonAffiliation"]
"#
        ),
    )
    .expect("SP registration");
    std::fs::write(
        dir.path().join("vie-scolaire.toml"),
        r#"protocol = "cas"
id = "vie-scolaire"
name = "Vie scolaire"
service_patterns = ['^https://vs\.example\.fr/[a-z0-9/]*$']
proxy_callbacks = ["https://vs.example.fr/pgt"]
"#,
    )
    .expect("CAS registration");
    let secret = ServerSecret::for_tests();
    let registry = Registry::load(dir.path(), &secret).expect("the fixture registry loads");
    let sp = registry.saml_provider(SP_ENTITY_ID).expect("the SAML SP");
    Fixture {
        registry,
        sp,
        sso_endpoints: vec![format!("{ISSUER}/saml/sso")],
        slo_endpoints: vec![format!("{ISSUER}/saml/slo")],
    }
}

fn sp_metadata() -> String {
    let key = samael::idp::IdentityProvider::generate_new(samael::idp::KeyType::Rsa(
        samael::idp::Rsa::Rsa2048,
    ))
    .expect("SP key");
    let cert = key
        .create_certificate(&samael::idp::CertificateParams {
            common_name: "sp",
            issuer_name: "sp",
            days_until_expiration: 3650,
        })
        .expect("SP certificate");
    let cert = base64::engine::general_purpose::STANDARD.encode(cert.der_data());
    format!(
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{SP_ENTITY_ID}">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://ent.example.fr/saml/slo"/>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://ent.example.fr/saml/acs" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"#
    )
}
