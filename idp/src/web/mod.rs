//! The pages people use, and the layers every response goes through (security headers,
//! request ids, tracing).

use axum::Router;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, HeaderValue, header};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::SharedState;
use crate::error::AppError;

mod activation;
mod admin;
mod dev;
pub mod device;
mod email;
mod home;
pub mod http;
pub mod i18n;
pub(crate) mod my_account;
mod ops;
mod recovery;
pub mod signin;
mod signup;
mod steps;

/// The service's name, as the pages' banner and authenticator apps show it.
pub const SERVICE_NAME: &str = "Connexion scolaire";

/// A page that says one thing (a refusal, a step done), with a way on.
#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// The language its texts are in (`fr` until the handler's texts are in idp/locales).
    pub lang: &'static str,
    pub title: String,
    pub message: String,
    /// (address, label) of the way on.
    pub link: Option<(String, String)>,
}

/// The default Content-Security-Policy: nothing from elsewhere, no framing. A page that must
/// post a form to a relying party (SAML POST binding) sets its own.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Gives a page the default policy, with its forms also allowed to lead to the origins of
/// `destinations`: browsers check `form-action` against every redirect that follows a form,
/// so a sign-in, consent or logout form whose answer redirects to a relying party (or to the
/// upstream provider's end-session endpoint) must name that origin. Only registered or
/// configured addresses reach here.
pub fn let_forms_lead_to<'a>(
    response: &mut axum::response::Response,
    destinations: impl IntoIterator<Item = &'a str>,
) {
    let mut origins: Vec<String> = destinations
        .into_iter()
        .filter_map(|d| url::Url::parse(d).ok())
        .map(|u| u.origin())
        .filter(|o| o.is_tuple())
        .map(|o| o.ascii_serialization())
        .collect();
    origins.sort();
    origins.dedup();
    if origins.is_empty() {
        return;
    }
    let policy = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", origins.join(" ")),
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// Where a logout of this session goes besides this site: the upstream provider's end-session
/// endpoint, when the session came through one.
pub fn logout_destinations(
    state: &crate::app::AppState,
    session: &crate::domain::session::SsoSession,
) -> Vec<String> {
    session
        .upstream
        .as_ref()
        .and_then(|login| state.upstream.get(&login.provider))
        .map(|p| p.form_targets())
        .unwrap_or_default()
}

/// The span of one request: its id (as `x-request-id` carries it, set here when the proxy did
/// not), its method and its route pattern. Never the path or the query asked for: they carry
/// codes, tickets and identifiers, which must not reach the logs.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    tracing::info_span!("request", id, method = %request.method(), route)
}

/// A request id from the proxy is kept only if it looks like one (letters, digits, `-`, at
/// most 64): it is logged and sent back, so nothing else a client sends is.
async fn keep_only_plain_request_ids(
    mut request: axum::http::Request<axum::body::Body>,
) -> axum::http::Request<axum::body::Body> {
    let plain = request.headers().get("x-request-id").is_none_or(|v| {
        let v = v.as_bytes();
        !v.is_empty() && v.len() <= 64 && v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    });
    if !plain {
        request.headers_mut().remove("x-request-id");
    }
    request
}

pub fn router(state: SharedState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let headers = ServiceBuilder::new()
        .layer(axum::middleware::map_request(keep_only_plain_request_ids))
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ops::count_answers,
        ))
        .layer(axum::middleware::from_fn(i18n::choose_language))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    let mut router = Router::new();
    if state.config.notify.outbox_page {
        router = router.route("/dev/outbox", get(dev::outbox));
    }
    router
        .route("/", get(home::show))
        .route("/login", get(signin::show).post(signin::submit))
        .route("/logout", get(signin::confirm_logout).post(signin::logout))
        .route("/premiere-connexion", get(activation::show))
        .route(
            "/premiere-connexion/mot-de-passe",
            axum::routing::post(activation::choose_password),
        )
        .route(
            "/premiere-connexion/confirmer",
            axum::routing::post(activation::confirm),
        )
        .route("/confirmer-email", get(email::show).post(email::confirm))
        .route(
            "/identifiant-oublie",
            get(recovery::show_identifier).post(recovery::submit_identifier),
        )
        .route(
            "/mot-de-passe-oublie",
            get(recovery::show_password).post(recovery::submit_password),
        )
        .route(
            "/mot-de-passe-oublie/code",
            get(recovery::show_code).post(recovery::submit_code),
        )
        .route(
            "/mot-de-passe-oublie/nouveau",
            get(recovery::show_new).post(recovery::submit_new),
        )
        .route(
            "/inscription",
            get(signup::show_start).post(signup::submit_start),
        )
        .route(
            "/inscription/etape",
            get(signup::show_step).post(signup::submit_step),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/langue/{code}", get(i18n::switch_language))
        .route("/static/style.css", get(ops::stylesheet))
        .route("/static/saml-post.js", get(ops::saml_post_script))
        .route("/static/logout.js", get(ops::logout_script))
        .route("/static/print.js", get(ops::print_script))
        .route("/static/franceconnect.svg", get(ops::franceconnect_logo))
        .merge(my_account::routes())
        .merge(admin::routes())
        .merge(crate::admin::api::routes())
        .merge(crate::protocol::oidc::routes())
        .merge(crate::protocol::saml::routes())
        .merge(crate::protocol::cas::routes())
        .merge(crate::protocol::logout::routes())
        .merge(crate::protocol::upstream::routes())
        .fallback(|| async { AppError::NotFound })
        .layer(headers)
        .with_state(state)
}
