//! The SAML request decoder: the query string of the HTTP-Redirect binding, the form value of
//! the HTTP-POST binding, and the XML they carry (AuthnRequest, LogoutRequest, LogoutResponse),
//! through signature checks and the web SSO profile's rules. Nothing may panic, and a
//! message with a DTD never reaches the XML parsers.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use idp::protocol::saml::request;
use idp_fuzz::{NOW, fixture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();

    // HTTP-Redirect: the whole query string, as received.
    let _ = request::verify_redirect_signature(text, &f.sp);
    for (name, value) in url::form_urlencoded::parse(data) {
        if name == "SAMLRequest" || name == "SAMLResponse" {
            if let Ok(xml) = request::decode_redirect(&value) {
                messages(&xml);
            }
        }
    }
    // HTTP-POST: the form value.
    if let Ok(xml) = request::decode_post(text) {
        messages(&xml);
    }
    // The input as the XML itself, through the same checks the decoders make.
    if let Ok(xml) = request::decode_post(&STANDARD.encode(data)) {
        messages(&xml);
    }
});

fn messages(xml: &str) {
    assert!(
        !xml.contains("<!DOCTYPE") && !xml.contains("<!ENTITY"),
        "a DTD went past the decoder"
    );
    let f = fixture();
    let _ = request::verify_post_signature(xml, &f.sp);
    if let Ok(authn) = request::parse(xml) {
        if let Ok(sp) = request::sender(authn.issuer.as_ref(), &f.registry) {
            if let Ok(valid) = request::validate(&authn, sp, &f.sso_endpoints, NOW) {
                // the ACS answered to is always one the metadata lists
                assert!(
                    f.sp.metadata
                        .consumer_services
                        .iter()
                        .any(|acs| acs.location == valid.acs_url),
                    "an ACS outside the metadata: {}",
                    valid.acs_url
                );
            }
        }
    }
    if let Ok(logout) = request::parse_logout(xml) {
        if let Ok(sp) = request::sender(logout.request.issuer.as_ref(), &f.registry) {
            let _ = request::validate_logout(&logout, sp, &f.slo_endpoints, NOW);
        }
    }
    if let Ok(response) = request::parse_logout_response(xml) {
        let _ = request::validate_logout_response(&response, &f.slo_endpoints, NOW);
    }
}
