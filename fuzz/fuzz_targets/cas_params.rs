//! CAS parameter parsing: the query of /login, /serviceValidate, /proxyValidate and /proxy
//! (`service`, `ticket`, `pgtUrl`, `renew`, `targetService`) through the registry's service
//! matching and the ticket rules. Nothing may panic; a ticket validates only for the exact
//! service it was issued for.

#![no_main]

use idp::protocol::cas::{self, ServiceTicket};
use idp_fuzz::{NOW, fixture};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let form: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let service = get("service").unwrap_or_default();
    let renew = get("renew").is_some_and(|r| r == "true");

    if let Some(registration) = f.registry.cas_service_for(service) {
        assert!(registration.accepts(service));
        if let Some(pgt_url) = get("pgtUrl") {
            if cas::check_proxy_callback(&registration, pgt_url).is_ok() {
                assert!(registration.proxy_callbacks.accepts(pgt_url));
            }
        }
    }
    if let Some(target) = get("targetService") {
        let _ = f.registry.cas_service_for(target);
    }
    if let Some(ticket) = get("ticket") {
        if let Some(kind) = cas::ticket_kind(ticket) {
            assert!(ticket.len() <= 256);
            let _ = cas::check_endpoint(kind, true);
            let _ = cas::check_endpoint(kind, false);
        }
    }
    let issued = ServiceTicket {
        registration: "pronote-demo".into(),
        service: "http://127.0.0.1:8082/".into(),
        account_id: 1,
        sid: "sid".into(),
        auth_time: NOW,
        from_new_login: false,
        issued_at: NOW,
        proxies: Vec::new(),
    };
    if cas::check_ticket(Some(&issued), service, renew, NOW).is_ok() {
        assert_eq!(service, issued.service);
        assert!(!renew);
    }
});
