//! CAS services (`protocol = "cas"`): the service URLs they may use, exact or by anchored
//! pattern, their attributes, single logout and proxy callbacks.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::check_uri;

/// Addresses a CAS registration accepts: exact URLs, or anchored regular expressions.
#[derive(Debug, Clone, Default)]
pub struct UrlRule {
    pub exact: Vec<String>,
    /// Anchored regular expressions (`^…$`).
    pub patterns: Vec<regex::Regex>,
}

impl UrlRule {
    /// Checks the exact URLs (https, or http on 127.0.0.1) and compiles the patterns, which
    /// must be anchored both ends so that they never match the middle of a longer URL.
    fn parse(
        (exact_key, pattern_key): (&str, &str),
        exact: Vec<String>,
        patterns: &[String],
    ) -> Result<Self, String> {
        for s in &exact {
            check_uri(s).map_err(|e| format!("`{exact_key}`: {e}"))?;
        }
        let patterns = patterns
            .iter()
            .map(|p| {
                if !p.starts_with('^') || !p.ends_with('$') {
                    return Err(format!(
                        "`{pattern_key}`: {p} must start with ^ and end with $"
                    ));
                }
                regex::Regex::new(p).map_err(|e| format!("`{pattern_key}`: {p}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { exact, patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.patterns.is_empty()
    }

    pub fn accepts(&self, url: &str) -> bool {
        self.exact.iter().any(|e| e == url) || self.patterns.iter().any(|p| p.is_match(url))
    }
}

/// A CAS service (SPEC §3.3): the URLs it may use as `service`, exact or by pattern.
#[derive(Debug, Clone)]
pub struct CasService {
    /// The registration's name, shown to people and used to derive the opaque user id.
    pub id: String,
    pub name: String,
    pub services: UrlRule,
    /// Friendly names of the attributes it may receive (the SAML profile's).
    pub attributes: BTreeSet<String>,
    /// Whether it is sent a LogoutRequest when the SSO session ends.
    pub single_logout: bool,
    /// The `pgtUrl`s it may give to get proxy-granting tickets; none: it may not proxy.
    pub proxy_callbacks: UrlRule,
}

impl CasService {
    /// Whether a `service` URL belongs to this registration.
    pub fn accepts(&self, service: &str) -> bool {
        self.services.accepts(service)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CasFile {
    #[allow(dead_code)]
    protocol: String,
    id: String,
    name: String,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    service_patterns: Vec<String>,
    #[serde(default)]
    attributes: BTreeSet<String>,
    #[serde(default = "yes")]
    single_logout: bool,
    #[serde(default)]
    proxy_callbacks: Vec<String>,
    #[serde(default)]
    proxy_callback_patterns: Vec<String>,
}

fn yes() -> bool {
    true
}

impl CasFile {
    pub(super) fn into_service(self) -> Result<CasService, String> {
        if self.id.is_empty() || self.id.len() > 128 {
            return Err("`id` must have 1 to 128 characters".into());
        }
        let services = UrlRule::parse(
            ("services", "service_patterns"),
            self.services,
            &self.service_patterns,
        )?;
        if services.is_empty() {
            return Err("give `services` or `service_patterns`".into());
        }
        let proxy_callbacks = UrlRule::parse(
            ("proxy_callbacks", "proxy_callback_patterns"),
            self.proxy_callbacks,
            &self.proxy_callback_patterns,
        )?;
        for a in &self.attributes {
            if crate::protocol::saml::attributes::definition(a).is_none() {
                return Err(format!("`attributes`: unknown attribute {a}"));
            }
        }
        Ok(CasService {
            id: self.id,
            name: self.name,
            services,
            attributes: self.attributes,
            single_logout: self.single_logout,
            proxy_callbacks,
        })
    }
}
