//! RP-initiated logout (end session), with a confirmation unless the hint names the session.

use super::*;

#[derive(Debug, Default, Deserialize)]
pub(super) struct EndSessionParams {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    client_id: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "logout.html")]
pub(super) struct ConfirmLogout {
    csrf: String,
    client_id: String,
    post_logout_redirect_uri: String,
    state: String,
}

pub(super) async fn end_session_get(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(p): Query<EndSessionParams>,
) -> Result<Response, AppError> {
    end_session(state, peer, headers, p).await
}

pub(super) async fn end_session_post(
    State(state): State<SharedState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::extract::RawForm(body): axum::extract::RawForm,
) -> Result<Response, AppError> {
    match posted_form(&headers, "/oidc/logout", &body)? {
        PostedForm::Params(p) => end_session(state, peer, headers, p).await,
        PostedForm::AsGet(url) => Ok(Redirect::to(&url).into_response()),
    }
}

/// RP-initiated logout: with a valid `id_token_hint` for the current session, the session ends
/// at once; otherwise the person is asked to confirm (a forged link cannot sign anyone out).
pub(super) async fn end_session(
    state: SharedState,
    peer: SocketAddr,
    headers: HeaderMap,
    p: EndSessionParams,
) -> Result<Response, AppError> {
    let hint = match p.id_token_hint.as_deref().filter(|h| !h.is_empty()) {
        None => None,
        Some(token) => {
            // an ID token, not an access or logout token signed by the same keys
            let is_id_token = jsonwebtoken::decode_header(token)
                .is_ok_and(|h| h.typ.as_deref().is_none_or(|t| t == "JWT"));
            if !is_id_token {
                return Ok(error_page(
                    "Le jeton fourni pour la déconnexion n'est pas valide.",
                ));
            }
            let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
            validation.set_issuer(&[&state.issuer]);
            validation.validate_aud = false;
            validation.validate_exp = false; // an expired ID token is a fine hint
            validation.set_required_spec_claims(&["iss", "aud"]);
            match state.keys.current().verify::<HintClaims>(
                token,
                &validation,
                state.clock.now(),
                RETIRED_KEY_KEEP,
            ) {
                Ok(h) => Some(h),
                Err(_) => {
                    return Ok(error_page(
                        "Le jeton fourni pour la déconnexion n'est pas valide.",
                    ));
                }
            }
        }
    };
    let redirect = match logout::checked_redirect(
        &state.registry,
        hint.as_ref(),
        p.client_id.as_deref(),
        p.post_logout_redirect_uri.as_deref(),
        p.state.as_deref(),
    ) {
        Ok(r) => r,
        Err(message) => return Ok(error_page(message)),
    };
    let session = current_session(&state, &headers).await?;
    match session {
        None => Ok(match redirect {
            Some(uri) => Redirect::to(&uri).into_response(),
            None => Redirect::to("/login?deconnecte=1").into_response(),
        }),
        Some((cookie_id, session))
            if hint.as_ref().and_then(|h| h.sid.as_ref()) == Some(&session.sid) =>
        {
            let initiator = hint.as_ref().map(|h| h.aud.clone());
            let plan = end_sso_session(&state, &cookie_id, peer, initiator.as_deref()).await?;
            let mut r = match (plan, redirect) {
                (Some(mut plan), redirect) => {
                    plan.then = redirect.map_or(AfterLogout::Page, AfterLogout::Redirect);
                    crate::protocol::logout::proceed(&state, plan).await?
                }
                (None, Some(uri)) => Redirect::to(&uri).into_response(),
                (None, None) => Redirect::to("/login?deconnecte=1").into_response(),
            };
            r.headers_mut().append(
                header::SET_COOKIE,
                crate::web::http::clear_cookie(&state, SESSION_COOKIE),
            );
            Ok(r)
        }
        Some((_, session)) => {
            let upstream = crate::web::logout_destinations(&state, &session);
            let (csrf, browser_cookie) = csrf_token(&state, &headers).await?;
            let client_id = hint.map(|h| h.aud).or(p.client_id).unwrap_or_default();
            let mut r = ConfirmLogout {
                csrf,
                client_id: if redirect.is_some() {
                    client_id
                } else {
                    String::new()
                },
                post_logout_redirect_uri: if redirect.is_some() {
                    p.post_logout_redirect_uri.unwrap_or_default()
                } else {
                    String::new()
                },
                state: p.state.unwrap_or_default(),
            }
            .into_response();
            crate::web::let_forms_lead_to(
                &mut r,
                redirect
                    .as_deref()
                    .into_iter()
                    .chain(upstream.iter().map(String::as_str)),
            );
            if let Some(c) = browser_cookie {
                r.headers_mut().append(header::SET_COOKIE, c);
            }
            Ok(r)
        }
    }
}
