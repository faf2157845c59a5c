//! School administration pages (SPEC §2.7, seed 004): the staff sign-in with its second
//! factor ("Personnel / Autre et invité"), the search of a school's accounts, "Régénérer le
//! mot de passe" with the letters, unlocking, disabling and enabling, and the activation per
//! class. Every page under `/admin/{uai}` asks the administrator's scope first.

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::admin::Administrator;
use crate::app::{AppState, SharedState};
use crate::audit::Actor;
use crate::error::AppError;
use crate::store::{School, StaffMember};
use crate::web::http::cookie;

mod accounts;
mod classes;
mod signin;

/// The staff session's cookie.
pub const STAFF_COOKIE: &str = "idp_staff";
/// The cookie of the step between the password and the code.
pub const PENDING_COOKIE: &str = "idp_staff_etape";

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/connexion", get(signin::show).post(signin::submit))
        .route(
            "/admin/connexion/code",
            get(signin::show_code).post(signin::submit_code),
        )
        .route("/admin/deconnexion", post(signin::sign_out))
        .route("/admin/{uai}", get(school_home))
        .route(
            "/admin/{uai}/comptes",
            get(accounts::search).post(accounts::act),
        )
        .route("/admin/{uai}/mots-de-passe", post(accounts::regenerate))
        .route("/admin/{uai}/courriers/{lot}", get(accounts::letters))
        .route("/admin/{uai}/classes", get(classes::show))
}

/// A staff member signed in with both factors, as a handler's argument; without one the
/// answer is the way to the staff sign-in page.
pub struct StaffSignedIn {
    pub staff: StaffMember,
    pub admin: Administrator,
}

impl FromRequestParts<SharedState> for StaffSignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Response> {
        match signed_in(state, parts).await {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(Redirect::to("/admin/connexion").into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

async fn signed_in(state: &AppState, parts: &Parts) -> Result<Option<StaffSignedIn>, AppError> {
    let Some(token) = cookie(&parts.headers, STAFF_COOKIE).filter(|t| t.len() <= 64) else {
        return Ok(None);
    };
    let now = state.clock.now();
    let Some(session) = state.staff_sessions.current(token, now).await? else {
        return Ok(None);
    };
    let staff = state.staff.staff_by_id(session.staff_id).await?;
    // disabled or reset (second factor gone) since the sign-in: the session is over
    let Some(staff) = staff.filter(|s| s.active && s.sealed_totp_secret.is_some()) else {
        state.staff_sessions.close(token).await?;
        return Ok(None);
    };
    let admin = Administrator {
        actor: Actor::Staff(staff.id),
        by: staff.identifier.clone(),
        scope: staff.scope(),
    };
    Ok(Some(StaffSignedIn { staff, admin }))
}

/// What every administration page shows at the top: who is signed in, the school, the links.
pub struct Frame {
    pub staff_name: String,
    pub role: &'static str,
    pub school: Option<School>,
    /// `comptes` or `classes`: the page shown.
    pub current: &'static str,
    pub csrf: String,
}

impl Frame {
    pub fn new(
        signed_in: &StaffSignedIn,
        school: Option<School>,
        current: &'static str,
        csrf: String,
    ) -> Self {
        Self {
            staff_name: signed_in.staff.display_name(),
            role: signed_in.staff.role.label_fr(),
            school,
            current,
            csrf,
        }
    }
}

#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "admin_schools.html")]
struct SchoolsPage {
    frame: Frame,
    schools: Vec<School>,
}

#[derive(Debug, serde::Deserialize)]
pub struct HomeQuery {
    /// Show the list even with one school.
    tous: Option<String>,
}

/// GET /admin: the schools the staff member administers (straight to the one, if one).
async fn home(
    State(state): State<SharedState>,
    axum::extract::Query(q): axum::extract::Query<HomeQuery>,
    headers: axum::http::HeaderMap,
    signed_in: StaffSignedIn,
) -> Result<Response, AppError> {
    let schools = crate::admin::schools(&state, &signed_in.admin).await?;
    if let [only] = schools.as_slice()
        && q.tous.is_none()
    {
        return Ok(Redirect::to(&format!("/admin/{}/comptes", only.uai)).into_response());
    }
    crate::web::http::with_csrf(&state, &headers, axum::http::StatusCode::OK, |csrf| {
        SchoolsPage {
            frame: Frame::new(&signed_in, None, "etablissements", csrf),
            schools,
        }
        .into_response()
    })
    .await
}

/// GET /admin/{uai}: the search.
async fn school_home(
    State(state): State<SharedState>,
    Path(uai): Path<String>,
    signed_in: StaffSignedIn,
) -> Result<Response, AppError> {
    let school = crate::admin::school(&state, &signed_in.admin, &uai).await?;
    Ok(Redirect::to(&format!("/admin/{}/comptes", school.uai)).into_response())
}
