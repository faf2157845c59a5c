//! The admin JSON API (`/api/admin/v1`, described by `openapi.json`): the operations of the
//! administration pages, for an académie's tooling. A caller is an OpenID Connect client
//! registered with the scope `admin` and the schools it may administer (`admin_schools`); it
//! presents an access token from the client_credentials grant.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Administrator, Listed};
use crate::app::SharedState;
use crate::audit::Actor;
use crate::domain::account::AccountKind;
use crate::domain::staff::{self, Criteria, SchoolScope};
use crate::error::AppError;
use crate::store::AccountChange;

/// The OpenAPI 3.1 description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The routes, as the OpenAPI document names them.
pub const PATHS: &[&str] = &[
    "/api/admin/v1/openapi.json",
    "/api/admin/v1/schools",
    "/api/admin/v1/schools/{uai}/accounts",
    "/api/admin/v1/schools/{uai}/classes",
    "/api/admin/v1/schools/{uai}/passwords",
    "/api/admin/v1/schools/{uai}/accounts/{id}/{change}",
];

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route(PATHS[0], get(openapi))
        .route(PATHS[1], get(schools))
        .route(PATHS[2], get(accounts))
        .route(PATHS[3], get(classes))
        .route(PATHS[4], post(passwords))
        .route(PATHS[5], post(change))
}

/// An error of the API, as JSON.
pub struct ApiError(AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        Self(e)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_json_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// The path's parameters, or a JSON 400 (axum's own rejection is plain text).
pub struct ApiPath<T>(pub T);

impl<T> FromRequestParts<SharedState> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|e| ApiError(AppError::BadRequest(format!("adresse incorrecte : {e}"))))
    }
}

/// The query's parameters, or a JSON 400.
pub struct ApiQuery<T>(pub T);

impl<T> FromRequestParts<SharedState> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| ApiError(AppError::BadRequest(format!("paramètres incorrects : {e}"))))
    }
}

fn unauthorized(error: &str, message: &str) -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": error, "message": message })),
    )
        .into_response();
    let challenge = format!("Bearer error=\"{error}\", scope=\"admin\"");
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The académie tool calling, from its access token.
pub struct ApiAdministrator(pub Administrator);

impl FromRequestParts<SharedState> for ApiAdministrator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Response> {
        let Some(token) = bearer(&parts.headers) else {
            return Err(unauthorized(
                "invalid_request",
                "Un jeton d'accès (Bearer) est nécessaire.",
            ));
        };
        let claims = match crate::protocol::oidc::verify_access_token(state, token).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(unauthorized(
                    "invalid_token",
                    "Le jeton d'accès est invalide ou expiré.",
                ));
            }
            Err(e) => return Err(e.into_json_response()),
        };
        // a client's own token (client_credentials), never one a person's sign-in gave
        let client = state
            .registry
            .oidc_client(&claims.client_id)
            .filter(|_| claims.gid.is_none() && claims.sub == claims.client_id)
            .filter(|c| !c.admin_schools.is_empty());
        let has_scope = claims.scope.split(' ').any(|s| s == "admin");
        let Some(client) = client.filter(|_| has_scope) else {
            let mut r = (
                StatusCode::FORBIDDEN,
                Json(json!({
                    "error": "insufficient_scope",
                    "message": "Ce jeton ne donne pas accès à l'administration.",
                })),
            )
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"insufficient_scope\", scope=\"admin\""),
            );
            return Err(r);
        };
        let scope = if client.admin_schools.iter().any(|u| u == "*") {
            SchoolScope::All
        } else {
            SchoolScope::Schools(client.admin_schools.clone())
        };
        Ok(Self(Administrator {
            actor: Actor::Client(client.client_id.clone()),
            by: client.client_id.clone(),
            scope,
        }))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn no_store(body: Value) -> Response {
    let mut r = Json(body).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI,
    )
        .into_response()
}

fn school_json(s: &crate::store::School) -> Value {
    json!({ "uai": s.uai, "name": s.name, "academie": s.academie, "degree": s.degree.as_str() })
}

fn account_json(l: &Listed) -> Value {
    let a = &l.account;
    json!({
        "id": a.account_id,
        "identifier": a.identifier,
        "profile": a.kind.as_str(),
        "last_name": a.last_name,
        "first_name": a.first_name,
        "classes": a.classes,
        "children": a.children,
        "status": l.status.as_str(),
        "status_label": l.status.label_fr(),
        "franceconnect": a.franceconnect,
    })
}

async fn schools(
    State(state): State<SharedState>,
    ApiAdministrator(admin): ApiAdministrator,
) -> ApiResult {
    let list = super::schools(&state, &admin).await?;
    Ok(no_store(json!({
        "schools": list.iter().map(school_json).collect::<Vec<_>>()
    })))
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    identifier: String,
    profile: Option<String>,
    class: Option<String>,
    page: Option<usize>,
}

fn profile(text: Option<&str>) -> Result<Option<AccountKind>, ApiError> {
    match text.filter(|p| !p.is_empty()) {
        None => Ok(None),
        Some(p) => AccountKind::parse(p).map(Some).ok_or_else(|| {
            ApiError(AppError::BadRequest(
                "profile : « eleve » ou « responsable »".into(),
            ))
        }),
    }
}

async fn accounts(
    State(state): State<SharedState>,
    ApiAdministrator(admin): ApiAdministrator,
    ApiPath(uai): ApiPath<String>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult {
    let school = super::school(&state, &admin, &uai).await?;
    let criteria = Criteria {
        last_name: q.last_name,
        first_name: q.first_name,
        identifier: q.identifier.trim().to_lowercase(),
        kind: profile(q.profile.as_deref())?,
        class: q.class.filter(|c| !c.is_empty()),
    };
    let page = super::search(&state, &school, &criteria, q.page.unwrap_or(1)).await?;
    Ok(no_store(json!({
        "school": school_json(&school),
        "page": page.number,
        "pages": page.last,
        "per_page": staff::PAGE_SIZE,
        "total": page.total,
        "accounts": page.items.iter().map(account_json).collect::<Vec<_>>(),
    })))
}

async fn classes(
    State(state): State<SharedState>,
    ApiAdministrator(admin): ApiAdministrator,
    ApiPath(uai): ApiPath<String>,
) -> ApiResult {
    let school = super::school(&state, &admin, &uai).await?;
    let accounts = state.schools.school_accounts(&school.uai).await?;
    let figures = |a: &staff::Activation| {
        json!({
            "accounts": a.accounts,
            "activated": a.activated,
            "not_activated": a.not_activated(),
            "franceconnect": a.franceconnect,
        })
    };
    let classes: Vec<Value> = staff::activation_by_class(&accounts)
        .iter()
        .map(|c| json!({ "class": c.class, "pupils": figures(&c.pupils), "guardians": figures(&c.guardians) }))
        .collect();
    Ok(no_store(
        json!({ "school": school_json(&school), "classes": classes }),
    ))
}

/// Whose passwords to regenerate: some accounts, or a class's pupils or guardians.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordsRequest {
    #[serde(default)]
    accounts: Vec<i64>,
    class: Option<String>,
    profile: Option<String>,
}

async fn passwords(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiAdministrator(admin): ApiAdministrator,
    ApiPath(uai): ApiPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let school = super::school(&state, &admin, &uai).await?;
    let request: PasswordsRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError(AppError::BadRequest(format!(
            "corps JSON attendu : {{\"accounts\": [id…]}} ou {{\"class\": …, \"profile\": …}} ({e})"
        )))
    })?;
    let chosen = match (&request.class, request.accounts.is_empty()) {
        (Some(class), true) if !class.trim().is_empty() => {
            let criteria = Criteria {
                kind: profile(request.profile.as_deref())?,
                class: Some(class.clone()),
                ..Criteria::default()
            };
            super::matching(&state, &school, &criteria).await?
        }
        (None, false) if request.profile.is_none() => {
            super::selected(&state, &school, &request.accounts).await?
        }
        _ => {
            return Err(ApiError(AppError::BadRequest(
                "donnez soit « accounts » (des identifiants numériques de comptes), soit « class » \
                 (avec « profile » si besoin)"
                    .into(),
            )));
        }
    };
    if chosen.is_empty() {
        return Err(ApiError(AppError::BadRequest(
            "aucun compte ne correspond : vérifiez le nom de la classe".into(),
        )));
    }
    let ip = crate::web::http::client_ip(&state, peer, &headers).to_string();
    let done = super::regenerate(&state, &admin, &school, chosen, Some(&ip)).await?;
    let sign_in_url = format!("{}/", state.issuer);
    let wants_pdf = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/pdf"));
    if wants_pdf {
        let pdf = crate::import::letters::pdf(&done.letters(&school, &sign_in_url));
        let mut r = pdf.into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/pdf"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(r);
    }
    Ok(no_store(json!({
        "expires_at": done.expires_at,
        "valid_until": crate::domain::identity::french_long_date(done.expires_at),
        "accounts": done.issued.iter().map(|i| json!({
            "id": i.account.account_id,
            "identifier": i.account.identifier,
            "profile": i.account.kind.as_str(),
            "temporary_password": i.password,
        })).collect::<Vec<_>>(),
        "skipped": done.skipped.iter().map(|a| a.account_id).collect::<Vec<_>>(),
        "message": done.message(&sign_in_url),
    })))
}

async fn change(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiAdministrator(admin): ApiAdministrator,
    ApiPath((uai, id, change)): ApiPath<(String, i64, String)>,
    headers: HeaderMap,
) -> ApiResult {
    let school = super::school(&state, &admin, &uai).await?;
    let change = match change.as_str() {
        "unlock" => AccountChange::Unlock,
        "disable" => AccountChange::Disable,
        "enable" => AccountChange::Enable,
        _ => return Err(ApiError(AppError::NotFound)),
    };
    let accounts = super::selected(&state, &school, &[id]).await?;
    let ip = crate::web::http::client_ip(&state, peer, &headers).to_string();
    let changed = super::change(&state, &admin, &school, &accounts, change, Some(&ip)).await?;
    let listed = super::with_status(&state, super::selected(&state, &school, &[id]).await?).await?;
    Ok(no_store(json!({
        "changed": changed == 1,
        "account": listed.first().map(account_json),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected: Vec<&str> = PATHS.to_vec();
        expected.sort_unstable();
        let mut described = paths.clone();
        described.sort_unstable();
        assert_eq!(described, expected);
        assert!(doc["components"]["securitySchemes"]["adminToken"].is_object());
    }
}
