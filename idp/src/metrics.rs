//! What a node counts for Prometheus (`GET /metrics`, text exposition format 0.0.4): HTTP
//! answers by route and status with their latency, sign-ins by outcome, tokens and tickets
//! issued by kind. The hashing queue and the outbox are read when scraped (`web::ops`).
//! Counters are per node, since its start; Prometheus sums the nodes.
//!
//! Routes are the router's patterns (`/oidc/token`, `/admin/comptes/{id}`), never the path
//! asked for: no identifier, code or ticket becomes a label, and the number of series stays
//! bounded whatever is requested.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A latency histogram that many threads add to without a lock. The `+Inf` bucket and the
/// count are both the sum of the buckets read at one scrape, so they always agree with them
/// (a scrape that races an observation sees it in full or not at all).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or under each bound, and past the last one (not cumulative; summed
    /// when written).
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// `name_bucket`, `name_sum` and `name_count` lines, `labels` (`a="b",` or empty) first.
    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let mut cumulative = 0;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(&counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{bound}\"}} {cumulative}");
        }
        let count: u64 = counts.iter().sum();
        let _ = writeln!(out, "{name}_bucket{{{labels}le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let labels = labels.trim_end_matches(',');
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// How a sign-in with a password ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInResult {
    Success,
    WrongCredentials,
    WrongProfile,
    ActivationRequired,
    TemporaryExpired,
    Disabled,
    Locked,
    /// Too many recent failures for this identifier or address (429).
    Throttled,
    /// The hashing queue was full (503 « réessayez dans quelques secondes »).
    Busy,
}

impl SignInResult {
    const ALL: [SignInResult; 9] = [
        SignInResult::Success,
        SignInResult::WrongCredentials,
        SignInResult::WrongProfile,
        SignInResult::ActivationRequired,
        SignInResult::TemporaryExpired,
        SignInResult::Disabled,
        SignInResult::Locked,
        SignInResult::Throttled,
        SignInResult::Busy,
    ];

    fn label(self) -> &'static str {
        match self {
            SignInResult::Success => "success",
            SignInResult::WrongCredentials => "wrong_credentials",
            SignInResult::WrongProfile => "wrong_profile",
            SignInResult::ActivationRequired => "activation_required",
            SignInResult::TemporaryExpired => "temporary_expired",
            SignInResult::Disabled => "disabled",
            SignInResult::Locked => "locked",
            SignInResult::Throttled => "throttled",
            SignInResult::Busy => "busy",
        }
    }
}

/// What the IdP hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issued {
    AuthorizationCode,
    AccessToken,
    IdToken,
    RefreshToken,
    SamlAssertion,
    CasServiceTicket,
    CasProxyTicket,
    CasProxyGrantingTicket,
}

impl Issued {
    const ALL: [Issued; 8] = [
        Issued::AuthorizationCode,
        Issued::AccessToken,
        Issued::IdToken,
        Issued::RefreshToken,
        Issued::SamlAssertion,
        Issued::CasServiceTicket,
        Issued::CasProxyTicket,
        Issued::CasProxyGrantingTicket,
    ];

    fn label(self) -> &'static str {
        match self {
            Issued::AuthorizationCode => "authorization_code",
            Issued::AccessToken => "access_token",
            Issued::IdToken => "id_token",
            Issued::RefreshToken => "refresh_token",
            Issued::SamlAssertion => "saml_assertion",
            Issued::CasServiceTicket => "cas_service_ticket",
            Issued::CasProxyTicket => "cas_proxy_ticket",
            Issued::CasProxyGrantingTicket => "cas_proxy_granting_ticket",
        }
    }
}

/// Answers of one route to one method.
#[derive(Debug, Default)]
struct RouteMethod {
    by_status: BTreeMap<u16, u64>,
    latency: Histogram,
}

/// The counters of one node.
#[derive(Debug, Default)]
pub struct Metrics {
    /// route pattern → method → answers. Bounded: routes are the router's patterns.
    http: Mutex<BTreeMap<String, BTreeMap<&'static str, RouteMethod>>>,
    sign_ins: [AtomicU64; SignInResult::ALL.len()],
    issued: [AtomicU64; Issued::ALL.len()],
}

/// The methods a label may carry; anything else is counted as `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    match *method {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// A label value, escaped as the exposition format asks.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One answer: `route` is the matched pattern, or `None` when no route matched.
    pub fn record_response(
        &self,
        route: Option<&str>,
        method: &axum::http::Method,
        status: u16,
        elapsed: Duration,
    ) {
        let route = route.unwrap_or("unmatched");
        let method = method_label(method);
        let mut http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        // no allocation once the route has been seen
        let methods = match http.get_mut(route) {
            Some(methods) => methods,
            None => http.entry(route.to_owned()).or_default(),
        };
        let entry = methods.entry(method).or_default();
        *entry.by_status.entry(status).or_default() += 1;
        entry.latency.observe(elapsed);
    }

    pub fn sign_in(&self, result: SignInResult) {
        let i = SignInResult::ALL.iter().position(|r| *r == result);
        if let Some(i) = i {
            self.sign_ins[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn issued(&self, kind: Issued) {
        let i = Issued::ALL.iter().position(|k| *k == kind);
        if let Some(i) = i {
            self.issued[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters of this module in the exposition format.
    pub fn write(&self, out: &mut String) {
        out.push_str(
            "# HELP idp_http_requests_total HTTP answers by route pattern, method and status.\n\
             # TYPE idp_http_requests_total counter\n",
        );
        let http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        let answers = || {
            http.iter()
                .flat_map(|(route, methods)| methods.iter().map(move |(m, a)| (route, m, a)))
        };
        for (route, method, answers) in answers() {
            for (status, n) in &answers.by_status {
                let _ = writeln!(
                    out,
                    "idp_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        out.push_str(
            "# HELP idp_http_request_duration_seconds Time from the request to the answer's \
             headers, by route pattern and method.\n\
             # TYPE idp_http_request_duration_seconds histogram\n",
        );
        for (route, method, answers) in answers() {
            let labels = format!("route=\"{}\",method=\"{method}\",", escape(route));
            answers
                .latency
                .write(out, "idp_http_request_duration_seconds", &labels);
        }
        drop(http);
        out.push_str(
            "# HELP idp_sign_ins_total Sign-ins with an identifier and a password, by outcome.\n\
             # TYPE idp_sign_ins_total counter\n",
        );
        for (result, n) in SignInResult::ALL.iter().zip(&self.sign_ins) {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "idp_sign_ins_total{{outcome=\"{}\"}} {n}",
                result.label()
            );
        }
        out.push_str(
            "# HELP idp_issued_total Tokens, codes, assertions and tickets issued, by kind.\n\
             # TYPE idp_issued_total counter\n",
        );
        for (kind, n) in Issued::ALL.iter().zip(&self.issued) {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(out, "idp_issued_total{{kind=\"{}\"}} {n}", kind.label());
        }
    }
}

/// A gauge or counter line with its help and type.
pub fn write_single(out: &mut String, name: &str, kind: &str, help: &str, value: impl ToString) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {}", value.to_string());
}

/// A histogram with its help and type.
pub fn write_histogram(out: &mut String, name: &str, help: &str, histogram: &Histogram) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    histogram.write(out, name, "");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn answers_are_counted_by_route_method_and_status_with_cumulative_buckets() {
        let m = Metrics::default();
        let get = axum::http::Method::GET;
        m.record_response(Some("/login"), &get, 200, Duration::from_micros(800));
        m.record_response(Some("/login"), &get, 200, Duration::from_millis(20));
        m.record_response(Some("/login"), &get, 503, Duration::from_secs(40));
        m.record_response(
            None,
            &axum::http::Method::from_bytes(b"BREW").unwrap(),
            404,
            Duration::ZERO,
        );
        let mut out = String::new();
        m.write(&mut out);
        assert!(out.contains(
            "idp_http_requests_total{route=\"/login\",method=\"GET\",status=\"200\"} 2\n"
        ));
        assert!(out.contains(
            "idp_http_requests_total{route=\"/login\",method=\"GET\",status=\"503\"} 1\n"
        ));
        assert!(out.contains(
            "idp_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 1\n"
        ));
        let bucket = |le: &str| {
            line(
                &out,
                &format!(
                    "idp_http_request_duration_seconds_bucket{{route=\"/login\",method=\"GET\",le=\"{le}\"}}"
                ),
            )
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_owned)
        };
        assert_eq!(bucket("0.001").as_deref(), Some("1"));
        assert_eq!(bucket("0.025").as_deref(), Some("2"));
        assert_eq!(
            bucket("30").as_deref(),
            Some("2"),
            "40 s is past every bound"
        );
        assert_eq!(bucket("+Inf").as_deref(), Some("3"));
        assert!(out.contains(
            "idp_http_request_duration_seconds_count{route=\"/login\",method=\"GET\"} 3\n"
        ));
        assert!(out.contains(
            "idp_http_request_duration_seconds_sum{route=\"/login\",method=\"GET\"} 40.0208\n"
        ));
    }

    #[test]
    fn every_outcome_and_kind_has_a_line_even_at_zero() {
        let m = Metrics::default();
        m.sign_in(SignInResult::Busy);
        m.issued(Issued::RefreshToken);
        m.issued(Issued::RefreshToken);
        let mut out = String::new();
        m.write(&mut out);
        assert!(out.contains("idp_sign_ins_total{outcome=\"busy\"} 1\n"));
        assert!(out.contains("idp_sign_ins_total{outcome=\"success\"} 0\n"));
        assert!(out.contains("idp_issued_total{kind=\"refresh_token\"} 2\n"));
        assert!(out.contains("idp_issued_total{kind=\"cas_proxy_ticket\"} 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
