//! The school's classes: activation per class (pupils and guardians: activated, not
//! activated, through FranceConnect), the way to a class's accounts, and "Régénérer les mots
//! de passe" for a whole class.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Frame, StaffSignedIn};
use crate::domain::staff::{self, ClassActivation};
use crate::error::AppError;

#[derive(Template, WebTemplate)]
#[template(path = "admin_classes.html")]
struct ClassesPage {
    frame: Frame,
    uai: String,
    classes: Vec<ClassActivation>,
    totals: ClassActivation,
}

/// GET /admin/{uai}/classes.
pub async fn show(
    State(state): State<crate::app::SharedState>,
    Path(uai): Path<String>,
    headers: HeaderMap,
    signed_in: StaffSignedIn,
) -> Result<Response, AppError> {
    let school = crate::admin::school(&state, &signed_in.admin, &uai).await?;
    let accounts = state.schools.school_accounts(&school.uai).await?;
    let classes = staff::activation_by_class(&accounts);
    let totals = staff::activation_total(&accounts);
    crate::web::http::with_csrf(&state, &headers, StatusCode::OK, |csrf| {
        ClassesPage {
            uai: school.uai.clone(),
            frame: Frame::new(&signed_in, Some(school), "classes", csrf),
            classes,
            totals,
        }
        .into_response()
    })
    .await
}
