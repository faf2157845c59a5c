//! SAML web SSO end to end over HTTP: a service provider sends a signed AuthnRequest, the
//! person signs in, and the signed Response is checked against the IdP's published
//! certificate. (Third-party SP libraries are exercised by tests/interop; XXE, entity expansion,
//! signature wrapping and duplicate IDs are in security.rs.)

mod support;

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};
use support::saml::ServiceProvider;
use support::{TestServer, browser, hidden_field};

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// Follows the SSO through sign-in (if asked) to the page that posts to the SP.
async fn sso(
    server: &TestServer,
    b: &reqwest::Client,
    url: &str,
    who: Option<(&str, &str, &str)>,
) -> reqwest::Response {
    let r = b.get(url).send().await.unwrap();
    if r.status() != StatusCode::SEE_OTHER {
        return r;
    }
    let resume = location(&r);
    let r = b.get(server.url(&resume)).send().await.unwrap();
    if r.status() != StatusCode::SEE_OTHER {
        return r;
    }
    let login = location(&r);
    assert!(login.starts_with("/login"), "{login}");
    let (profile, identifier, password) = who.expect("a sign-in was asked");
    let page = b
        .get(server.url(&format!("{login}&profil={profile}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = support::sign_in_form(&page, identifier, password);
    let r = b
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    b.get(server.url(&location(&r))).send().await.unwrap()
}

async fn idp_cert(server: &TestServer) -> CertificateDer {
    support::saml::idp_cert_at(&server.url("/idp/metadata")).await
}

async fn start() -> (TestServer, ServiceProvider) {
    let (sp, metadata) = ServiceProvider::new();
    let server =
        TestServer::start_with_clients("", &[("sp", &sp.registration()), ("sp.xml", &metadata)])
            .await;
    (server, sp)
}

#[tokio::test]
async fn signed_response_with_the_pupil_s_attributes() {
    let (server, sp) = start().await;
    let b = browser();
    let page = sso(
        &server,
        &b,
        &sp.redirect_url(&server, "_req1", &sp.acs, false),
        Some(("eleve", "lea.martin", "Cartable-2026")),
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("form-action https://ent.example.fr"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"action="https://ent.example.fr/saml/acs""#));
    assert_eq!(
        hidden_field(&html, "RelayState").as_deref(),
        Some("relay-1")
    );
    let xml = String::from_utf8(
        STANDARD
            .decode(hidden_field(&html, "SAMLResponse").unwrap())
            .unwrap(),
    )
    .unwrap();

    // both the Response and the Assertion are signed with the published key
    let cert = idp_cert(&server).await;
    let verified =
        Crypto::reduce_xml_to_signed(&xml, &[cert], ReduceMode::ValidateAndMarkNoAncestors)
            .unwrap();
    assert_eq!(
        xml.matches("SignatureValue>").count(),
        4,
        "two signatures (open and close tags)"
    );
    for needle in [
        r#"InResponseTo="_req1""#,
        r#"Destination="https://ent.example.fr/saml/acs""#,
        r#"Recipient="https://ent.example.fr/saml/acs""#,
        "<saml2:Audience>https://ent.example.fr/saml</saml2:Audience>",
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        r#"FriendlyName="sn""#,
        "MARTIN",
        r#"Name="urn:oid:1.3.6.1.4.1.20326.10.999.1.72""#,
        "0141234A",
        "eleve2d",
        "4|MARTIN|Léa|JM-E0001|0141234A",
        r#"Name="urn:oid:1.3.6.1.4.1.20326.10.999.1.64""#,
        "{AAF}70|SIECLE|JM-E0001",
        "rsa-sha256",
        "xmlenc#sha256",
    ] {
        assert!(verified.contains(needle), "missing {needle} in {verified}");
    }
    assert!(!xml.contains("xmldsig#sha1"), "no SHA-1 digest");
    assert!(
        !verified.contains("070123456AB"),
        "the INE itself is never sent"
    );
    let response = samael::schema::Response::from_str(&xml).unwrap();
    let assertion = response.assertion.unwrap();
    let conditions = assertion.conditions.unwrap();
    let lifetime = conditions.not_on_or_after.unwrap() - conditions.not_before.unwrap();
    assert!(lifetime.num_seconds() <= 330);

    // SSO: a second request in the same browser needs no sign-in
    let page = sso(
        &server,
        &b,
        &sp.redirect_url(&server, "_req2", &sp.acs, false),
        None,
    )
    .await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("SAMLResponse"));
    // ForceAuthn asks again
    let r = b
        .get(sp.redirect_url(&server, "_req3", &sp.acs, true))
        .send()
        .await
        .unwrap();
    let r = b.get(server.url(&location(&r))).send().await.unwrap();
    assert!(location(&r).starts_with("/login"));
}

#[tokio::test]
async fn a_guardian_gets_one_vector_per_child() {
    let (server, sp) = start().await;
    let page = sso(
        &server,
        &browser(),
        &sp.redirect_url(&server, "_g1", &sp.acs, false),
        Some(("responsable", "claire.martin", "Parent-2026!")),
    )
    .await;
    let html = page.text().await.unwrap();
    let xml = String::from_utf8(
        STANDARD
            .decode(hidden_field(&html, "SAMLResponse").unwrap())
            .unwrap(),
    )
    .unwrap();
    assert!(xml.contains("2|MARTIN|Claire|JM-E0001|0141234A"));
    assert!(xml.contains("1|MARTIN|Claire|JF-E0001|0140001B"));
    assert!(xml.contains("resp1d") && xml.contains("resp2d"));
    assert!(
        !xml.contains("urn:oid:1.3.6.1.4.1.20326.10.999.1.72"),
        "no FrEduCtEleveUAI for a guardian"
    );
    // civility, and one directory join key per school record (collège, then école)
    assert!(
        xml.contains(r#"Name="urn:oid:1.3.6.1.4.1.20326.10.999.1.76""#) && xml.contains(">Mme<"),
        "{xml}"
    );
    assert!(
        xml.contains("{AAF}70|ONDE|JF-R0001") && xml.contains("{AAF}70|SIECLE|JM-R0001"),
        "{xml}"
    );
    assert!(
        !xml.contains("FrEduCtEleveINEHash"),
        "a guardian has no INE"
    );
}

#[tokio::test]
async fn hostile_requests_are_refused_with_a_page() {
    let (server, sp) = start().await;
    let b = browser();
    let ok = sp.redirect_url(&server, "_once", &sp.acs, false);
    assert_eq!(
        b.get(&ok).send().await.unwrap().status(),
        StatusCode::SEE_OTHER
    );
    // replayed request ID
    let r = b.get(&ok).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("déjà été utilisée"));
    // tampered signature
    let good = sp.redirect_url(&server, "_tampered", &sp.acs, false);
    let sig_at = good.find("&Signature=").unwrap() + 12;
    let mut bad = good.clone();
    let flipped = if &good[sig_at..sig_at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    bad.replace_range(sig_at..sig_at + 1, flipped);
    assert_eq!(
        b.get(&bad).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    // unsigned, while the metadata says AuthnRequestsSigned
    let unsigned = &good[..good.find("&SigAlg=").unwrap()];
    assert_eq!(
        b.get(unsigned).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    // an ACS that is not in the metadata
    let r = b
        .get(sp.redirect_url(&server, "_acs", "https://evil.example/acs", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    // a DTD
    let dtd = STANDARD.encode(r#"<!DOCTYPE x [<!ENTITY e "x">]><x/>"#);
    let r = b
        .post(server.url("/idp/profile/SAML2/POST/SSO"))
        .form(&[("SAMLRequest", dtd.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // an unknown SP
    let r = b
        .get(server.url("/idp/profile/SAML2/Redirect/SSO?SAMLRequest=garbage"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn metadata_publishes_the_endpoints_and_certificate() {
    let server = TestServer::start().await;
    let r = reqwest::get(server.url("/idp/metadata")).await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/samlmetadata+xml");
    let xml = r.text().await.unwrap();
    let entity = samael::metadata::EntityDescriptor::from_str(&xml).unwrap();
    assert_eq!(
        entity.entity_id.as_deref(),
        Some(format!("{}/idp", server.base).as_str())
    );
    assert!(xml.contains(&server.url("/idp/profile/SAML2/Redirect/SSO")));
    assert!(xml.contains(&server.url("/idp/profile/SAML2/POST/SSO")));
    assert!(!idp_cert(&server).await.der_data().is_empty());
}

fn response_of(html: &str) -> String {
    String::from_utf8(
        STANDARD
            .decode(hidden_field(html, "SAMLResponse").unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn is_passive_without_a_session_answers_no_passive() {
    let (server, sp) = start().await;
    let b = browser();
    let r = b
        .get(sp.redirect_url_with(&server, "_p1", &sp.acs, r#"IsPassive="true""#))
        .send()
        .await
        .unwrap();
    let page = b.get(server.url(&location(&r))).send().await.unwrap();
    assert_eq!(
        page.status(),
        StatusCode::OK,
        "answered to the SP, no login page"
    );
    let xml = response_of(&page.text().await.unwrap());
    assert!(
        xml.contains("urn:oasis:names:tc:SAML:2.0:status:NoPassive"),
        "{xml}"
    );
    assert!(xml.contains(r#"InResponseTo="_p1""#));
    assert!(!xml.contains("Assertion"));
    Crypto::reduce_xml_to_signed(
        &xml,
        &[idp_cert(&server).await],
        ReduceMode::ValidateAndMarkNoAncestors,
    )
    .unwrap();
    // with a session, IsPassive gets the assertion
    sso(
        &server,
        &b,
        &sp.redirect_url(&server, "_p2", &sp.acs, false),
        Some(("eleve", "lea.martin", "Cartable-2026")),
    )
    .await;
    let r = b
        .get(sp.redirect_url_with(&server, "_p3", &sp.acs, r#"IsPassive="true""#))
        .send()
        .await
        .unwrap();
    let page = b.get(server.url(&location(&r))).send().await.unwrap();
    assert!(response_of(&page.text().await.unwrap()).contains("Assertion"));
}

#[tokio::test]
async fn idp_initiated_sso_answers_without_in_response_to() {
    let (server, sp) = start().await;
    let b = browser();
    let url = format!(
        "{}?providerId={}&target=portail",
        server.url("/idp/profile/SAML2/Unsolicited/SSO"),
        url::form_urlencoded::byte_serialize(sp.entity_id.as_bytes()).collect::<String>()
    );
    let page = sso(
        &server,
        &b,
        &url,
        Some(("eleve", "lea.martin", "Cartable-2026")),
    )
    .await;
    let html = page.text().await.unwrap();
    assert_eq!(
        hidden_field(&html, "RelayState").as_deref(),
        Some("portail")
    );
    let xml = response_of(&html);
    assert!(!xml.contains("InResponseTo"));
    assert!(xml.contains("Recipient=\"https://ent.example.fr/saml/acs\""));
    // an unknown SP or an ACS outside the metadata is refused
    let r = b
        .get(server.url("/idp/profile/SAML2/Unsolicited/SSO?providerId=https%3A%2F%2Fevil"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = b
        .get(format!("{url}&shire=https%3A%2F%2Fevil.example%2Facs"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sp_initiated_single_logout_ends_the_session_and_answers_signed() {
    let (server, sp) = start().await;
    let b = browser();
    let page = sso(
        &server,
        &b,
        &sp.redirect_url(&server, "_s1", &sp.acs, false),
        Some(("eleve", "lea.martin", "Cartable-2026")),
    )
    .await;
    let response =
        samael::schema::Response::from_str(&response_of(&page.text().await.unwrap())).unwrap();
    let assertion = response.assertion.unwrap();
    let session_index = assertion.authn_statements.unwrap()[0]
        .session_index
        .clone()
        .unwrap();
    let name_id = assertion.subject.unwrap().name_id.unwrap().value;

    let now = chrono::DateTime::from_timestamp(server.clock_now(), 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ");
    let logout = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_lo1" Version="2.0" IssueInstant="{now}" Destination="{dest}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">{name_id}</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        dest = server.url("/idp/profile/SAML2/Redirect/SLO"),
        issuer = sp.entity_id,
    );
    // unsigned: refused
    let signed = sp.signed_redirect(&server.url("/idp/profile/SAML2/Redirect/SLO"), &logout);
    let unsigned = &signed[..signed.find("&SigAlg=").unwrap()];
    assert_eq!(
        b.get(unsigned).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    // signed: the session ends and a signed LogoutResponse goes to the SP's SLO endpoint
    let r = b.get(&signed).send().await.unwrap();
    let r = b.get(server.url(&location(&r))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = location(&r);
    assert!(
        back.starts_with("https://ent.example.fr/saml/slo?SAMLResponse="),
        "{back}"
    );
    let query = &back[back.find('?').unwrap() + 1..];
    let (signed_part, signature) = query.split_once("&Signature=").unwrap();
    let signature = url::form_urlencoded::parse(format!("s={signature}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let signature = STANDARD.decode(signature).unwrap();
    let cert = openssl::x509::X509::from_der(idp_cert(&server).await.der_data()).unwrap();
    let public_key = cert.public_key().unwrap();
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &public_key).unwrap();
    verifier.update(signed_part.as_bytes()).unwrap();
    assert!(
        verifier.verify(&signature).unwrap(),
        "LogoutResponse signed with the published key"
    );
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(params["RelayState"], "relay-1");
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(
            STANDARD.decode(&params["SAMLResponse"]).unwrap().as_slice(),
        ),
        &mut xml,
    )
    .unwrap();
    assert!(
        xml.contains(r#"InResponseTo="_lo1""#) && xml.contains("status:Success"),
        "{xml}"
    );
    // the SSO session is gone: the next request asks to sign in
    let r = b
        .get(sp.redirect_url(&server, "_s2", &sp.acs, false))
        .send()
        .await
        .unwrap();
    let r = b.get(server.url(&location(&r))).send().await.unwrap();
    assert!(location(&r).starts_with("/login"));
    // the same logout request again: refused
    assert_eq!(
        b.get(&signed).send().await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn assertions_are_encrypted_to_sps_that_publish_an_encryption_key() {
    let (sp, metadata) = ServiceProvider::new();
    // the same key also for encryption, listing CBC then GCM
    let enc = metadata.replacen(
        "<md:SingleLogoutService",
        &format!(
            r#"<md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo><md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/><md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/></md:KeyDescriptor>
    <md:SingleLogoutService"#,
            metadata.split("<ds:X509Certificate>").nth(1).unwrap().split("</ds:X509Certificate>").next().unwrap()
        ),
        1,
    );
    let server =
        TestServer::start_with_clients("", &[("sp", &sp.registration()), ("sp.xml", &enc)]).await;
    let page = sso(
        &server,
        &browser(),
        &sp.redirect_url(&server, "_e1", &sp.acs, false),
        Some(("eleve", "lea.martin", "Cartable-2026")),
    )
    .await;
    let xml = response_of(&page.text().await.unwrap());
    assert!(
        xml.contains("EncryptedAssertion") && !xml.contains("<saml2:Assertion"),
        "no clear assertion"
    );
    assert!(!xml.contains("MARTIN"), "no attribute in clear");
    assert!(xml.contains("http://www.w3.org/2009/xmlenc11#aes256-gcm"));
    // the Response signature covers the encrypted assertion
    let cert = idp_cert(&server).await;
    Crypto::reduce_xml_to_signed(
        &xml,
        std::slice::from_ref(&cert),
        ReduceMode::ValidateAndMarkNoAncestors,
    )
    .unwrap();
    // the SP decrypts with its key and finds a signed assertion
    let values: Vec<Vec<u8>> = xml
        .split("<xenc:CipherValue>")
        .skip(1)
        .map(|v| {
            STANDARD
                .decode(v.split("</xenc:CipherValue>").next().unwrap())
                .unwrap()
        })
        .collect();
    let rsa = openssl::rsa::Rsa::private_key_from_der(&sp.key_der).unwrap();
    let mut key = vec![0u8; rsa.size() as usize];
    let n = rsa
        .private_decrypt(&values[0], &mut key, openssl::rsa::Padding::PKCS1_OAEP)
        .unwrap();
    key.truncate(n);
    let (iv, rest) = values[1].split_at(12);
    let (ciphertext, tag) = rest.split_at(rest.len() - 16);
    let plain = openssl::symm::decrypt_aead(
        openssl::symm::Cipher::aes_256_gcm(),
        &key,
        Some(iv),
        &[],
        ciphertext,
        tag,
    )
    .unwrap();
    let assertion = String::from_utf8(plain).unwrap();
    assert!(assertion.contains("MARTIN") && assertion.contains(r#"InResponseTo="_e1""#));
    Crypto::reduce_xml_to_signed(&assertion, &[cert], ReduceMode::ValidateAndMarkNoAncestors)
        .unwrap();
}

/// The message carried by an HTTP-Redirect binding URL from the IdP, after checking its
/// signature with the IdP's published certificate; with the URL's query parameters.
async fn verified_redirect(
    server: &TestServer,
    url: &str,
) -> (String, std::collections::HashMap<String, String>) {
    let query = &url[url.find('?').unwrap() + 1..];
    let (signed_part, signature) = query.split_once("&Signature=").unwrap();
    let signature = url::form_urlencoded::parse(format!("s={signature}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let cert = openssl::x509::X509::from_der(idp_cert(server).await.der_data()).unwrap();
    let key = cert.public_key().unwrap();
    let mut verifier =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    verifier.update(signed_part.as_bytes()).unwrap();
    assert!(
        verifier
            .verify(&STANDARD.decode(signature).unwrap())
            .unwrap(),
        "signed with the published key: {url}"
    );
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    let message = params
        .get("SAMLRequest")
        .or_else(|| params.get("SAMLResponse"))
        .unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(STANDARD.decode(message).unwrap().as_slice()),
        &mut xml,
    )
    .unwrap();
    (xml, params)
}

/// A LogoutRequest from `sp` for the session `session_index`, as an HTTP-Redirect URL.
fn logout_request_url(
    server: &TestServer,
    sp: &ServiceProvider,
    id: &str,
    name_id: &str,
    session_index: &str,
) -> String {
    let now = chrono::DateTime::from_timestamp(server.clock_now(), 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ");
    let xml = format!(
        r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}"><saml:Issuer>{issuer}</saml:Issuer><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">{name_id}</saml:NameID><samlp:SessionIndex>{session_index}</samlp:SessionIndex></samlp:LogoutRequest>"#,
        dest = server.url("/idp/profile/SAML2/Redirect/SLO"),
        issuer = sp.entity_id,
    );
    sp.signed_redirect(&server.url("/idp/profile/SAML2/Redirect/SLO"), &xml)
}

/// `sp`'s signed LogoutResponse to the IdP's request `in_response_to`, as an HTTP-Redirect URL.
fn logout_answer_url(server: &TestServer, sp: &ServiceProvider, in_response_to: &str) -> String {
    let now = chrono::DateTime::from_timestamp(server.clock_now(), 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ");
    let xml = format!(
        r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a{n}" Version="2.0" IssueInstant="{now}" Destination="{dest}" InResponseTo="{in_response_to}"><saml:Issuer>{issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:LogoutResponse>"#,
        n = in_response_to.len(),
        dest = server.url("/idp/profile/SAML2/Redirect/SLO"),
        issuer = sp.entity_id,
    );
    sp.signed_redirect_as(
        &server.url("/idp/profile/SAML2/Redirect/SLO"),
        "SAMLResponse",
        &xml,
        None,
    )
}

/// The address that follows `marker` in the logout page (a frame or the "Continuer" link).
fn page_link(html: &str, marker: &str) -> String {
    html.split(marker)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#38;", "&")
}

/// NameID and SessionIndex of the assertion in a page that posts a Response.
async fn subject_of(page: reqwest::Response) -> (String, String) {
    let response =
        samael::schema::Response::from_str(&response_of(&page.text().await.unwrap())).unwrap();
    let assertion = response.assertion.unwrap();
    let session_index = assertion.authn_statements.unwrap()[0]
        .session_index
        .clone()
        .unwrap();
    (
        assertion.subject.unwrap().name_id.unwrap().value,
        session_index,
    )
}

/// Two SPs share one SSO session: the ENT (which will ask for the logout) and Pronote.
async fn two_sps() -> (TestServer, ServiceProvider, ServiceProvider) {
    let (ent, ent_metadata) = ServiceProvider::at("ent.example.fr");
    let (pronote, pronote_metadata) = ServiceProvider::at("pronote.example.fr");
    let server = TestServer::start_with_clients(
        "",
        &[
            ("ent", &ent.registration_with("ent.xml")),
            ("ent.xml", &ent_metadata),
            ("pronote", &pronote.registration_with("pronote.xml")),
            ("pronote.xml", &pronote_metadata),
        ],
    )
    .await;
    (server, ent, pronote)
}

#[tokio::test]
async fn single_logout_reaches_the_other_sps_of_the_session() {
    let (server, ent, pronote) = two_sps().await;
    let b = browser();
    let page = sso(
        &server,
        &b,
        &ent.redirect_url(&server, "_e1", &ent.acs, false),
        Some(("eleve", "lea.martin", "Cartable-2026")),
    )
    .await;
    let (ent_name_id, session_index) = subject_of(page).await;
    // Pronote opens without a second sign-in, in the same session
    let page = sso(
        &server,
        &b,
        &pronote.redirect_url(&server, "_p1", &pronote.acs, false),
        None,
    )
    .await;
    let (pronote_name_id, pronote_session) = subject_of(page).await;
    assert_ne!(pronote_session, session_index, "a SessionIndex per SP");
    assert_ne!(pronote_name_id, ent_name_id, "a transient NameID per SP");
    // and again: the same transient NameID for the same SP in the same session
    let page = sso(
        &server,
        &b,
        &pronote.redirect_url(&server, "_p2", &pronote.acs, false),
        None,
    )
    .await;
    assert_eq!(subject_of(page).await.0, pronote_name_id);

    // the ENT asks for the logout
    let r = b
        .get(logout_request_url(
            &server,
            &ent,
            "_lo1",
            &ent_name_id,
            &session_index,
        ))
        .send()
        .await
        .unwrap();
    let r = b.get(server.url(&location(&r))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let done = location(&r);
    assert!(done.starts_with("/deconnexion?id="), "{done}");
    let page = b.get(server.url(&done)).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-src 'self' https://pronote.example.fr"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("https://ent.example.fr/saml")
            && html.contains("https://pronote.example.fr/saml")
    );
    let frame = page_link(&html, "<iframe class=\"logout-frame\" src=\"");
    let next = page_link(&html, "id=\"logout-next\" href=\"");

    // the frame carries a signed LogoutRequest to Pronote, for its NameID and the session
    let r = b.get(server.url(&frame)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to_pronote = location(&r);
    assert!(
        to_pronote.starts_with("https://pronote.example.fr/saml/slo?SAMLRequest="),
        "{to_pronote}"
    );
    let (xml, _) = verified_redirect(&server, &to_pronote).await;
    let request = samael::schema::LogoutRequest::from_str(&xml).unwrap();
    assert_eq!(request.name_id.unwrap().value, pronote_name_id);
    // Pronote's own SessionIndex (samael reads SessionIndex as an attribute: look at the
    // element itself)
    assert!(
        xml.contains(&format!(
            "<samlp:SessionIndex>{pronote_session}</samlp:SessionIndex>"
        )),
        "{xml}"
    );
    assert_eq!(
        request.destination.as_deref(),
        Some("https://pronote.example.fr/saml/slo")
    );
    let request_id = request.id.unwrap();

    // an answer signed by the ENT to Pronote's request is not Pronote's
    let forged = b
        .get(logout_answer_url(&server, &ent, &request_id))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(forged.contains("data-logout=\"refused\""), "{forged}");
    // the forgery did not use up the request: Pronote's own answer is still taken
    let answer = b
        .get(logout_answer_url(&server, &pronote, &request_id))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-frame-options"], "SAMEORIGIN");
    let answer = answer.text().await.unwrap();
    assert!(answer.contains("data-logout=\"ok\""), "{answer}");
    // an answer is single use
    let again = b
        .get(logout_answer_url(&server, &pronote, &request_id))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("data-logout=\"refused\""), "{again}");

    // then the ENT gets its LogoutResponse: a full success
    let r = b.get(server.url(&next)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let back = location(&r);
    assert!(
        back.starts_with("https://ent.example.fr/saml/slo?SAMLResponse="),
        "{back}"
    );
    let (xml, params) = verified_redirect(&server, &back).await;
    assert_eq!(params["RelayState"], "relay-1");
    assert!(xml.contains(r#"InResponseTo="_lo1""#), "{xml}");
    assert!(
        xml.contains("status:Success") && !xml.contains("PartialLogout"),
        "{xml}"
    );
    // once
    let r = b.get(server.url(&next)).send().await.unwrap();
    assert_eq!(location(&r), "/login?deconnecte=1");
    // and the SSO session is gone
    let r = b
        .get(pronote.redirect_url(&server, "_p3", &pronote.acs, false))
        .send()
        .await
        .unwrap();
    let r = b.get(server.url(&location(&r))).send().await.unwrap();
    assert!(location(&r).starts_with("/login"));
}

#[tokio::test]
async fn an_sp_that_does_not_answer_makes_the_logout_partial() {
    let (server, ent, pronote) = two_sps().await;
    let b = browser();
    let page = sso(
        &server,
        &b,
        &ent.redirect_url(&server, "_e1", &ent.acs, false),
        Some(("eleve", "lea.martin", "Cartable-2026")),
    )
    .await;
    let (name_id, session_index) = subject_of(page).await;
    sso(
        &server,
        &b,
        &pronote.redirect_url(&server, "_p1", &pronote.acs, false),
        None,
    )
    .await;
    // a LogoutRequest for another session leaves this one alone
    let r = b
        .get(logout_request_url(
            &server,
            &ent,
            "_lo0",
            &name_id,
            "another-session",
        ))
        .send()
        .await
        .unwrap();
    let r = b.get(server.url(&location(&r))).send().await.unwrap();
    assert!(location(&r).starts_with("https://ent.example.fr/saml/slo?SAMLResponse="));
    let page = sso(
        &server,
        &b,
        &ent.redirect_url(&server, "_e2", &ent.acs, false),
        None,
    )
    .await;
    assert_eq!(subject_of(page).await.1, session_index, "still signed in");
    let r = b
        .get(logout_request_url(
            &server,
            &ent,
            "_lo2",
            &name_id,
            &session_index,
        ))
        .send()
        .await
        .unwrap();
    let r = b.get(server.url(&location(&r))).send().await.unwrap();
    let done = location(&r);
    let html = b
        .get(server.url(&done))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let next = page_link(&html, "id=\"logout-next\" href=\"");
    // Pronote never answers: the ENT still gets its answer, which says so
    let r = b.get(server.url(&next)).send().await.unwrap();
    let (xml, _) = verified_redirect(&server, &location(&r)).await;
    assert!(
        xml.contains("status:Success") && xml.contains("status:PartialLogout"),
        "{xml}"
    );
}

#[tokio::test]
async fn leaving_from_the_idp_tells_the_saml_sps() {
    let (server, sp) = start().await;
    let b = browser();
    let page = sso(
        &server,
        &b,
        &sp.redirect_url(&server, "_i1", &sp.acs, false),
        Some(("eleve", "lea.martin", "Cartable-2026")),
    )
    .await;
    let (name_id, session_index) = subject_of(page).await;
    let confirm = b
        .get(server.url("/logout"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = b
        .post(server.url("/logout"))
        .form(&[("csrf", hidden_field(&confirm, "csrf").unwrap())])
        .send()
        .await
        .unwrap();
    let done = location(&r);
    assert!(done.starts_with("/deconnexion?id="), "{done}");
    let html = b
        .get(server.url(&done))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("logout-next"), "the page is the end");
    let frame = page_link(&html, "<iframe class=\"logout-frame\" src=\"");
    let r = b.get(server.url(&frame)).send().await.unwrap();
    let (xml, _) = verified_redirect(&server, &location(&r)).await;
    assert!(
        xml.contains(&name_id)
            && xml.contains(&format!(
                "<samlp:SessionIndex>{session_index}</samlp:SessionIndex>"
            )),
        "{xml}"
    );
}
