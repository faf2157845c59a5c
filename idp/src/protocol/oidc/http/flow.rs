//! Authorization (code flow with PKCE, prompt, max_age, acr) and consent.

use super::*;

pub(super) fn flow_key(flow: &str) -> String {
    format!("oidc-flow:{}", storage_key(flow))
}

pub(super) async fn authorize_get(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(params): Query<AuthorizeParams>,
) -> Result<Response, AppError> {
    start(state, headers, params).await
}

pub(super) async fn authorize_post(
    State(state): State<SharedState>,
    headers: HeaderMap,
    axum::extract::RawForm(body): axum::extract::RawForm,
) -> Result<Response, AppError> {
    match posted_form(&headers, "/oidc/authorize", &body)? {
        PostedForm::Params(params) => start(state, headers, params).await,
        PostedForm::AsGet(url) => Ok(Redirect::to(&url).into_response()),
    }
}

pub(super) async fn start(
    state: SharedState,
    headers: HeaderMap,
    params: AuthorizeParams,
) -> Result<Response, AppError> {
    match authorize::validate(&params, &state.registry) {
        Err(AuthorizeError::Page(message)) => Ok(error_page(message)),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            state: s,
        }) => Ok(Redirect::to(&authorize::response_url(
            &redirect_uri,
            &state.issuer,
            s.as_deref(),
            Err(&error),
        ))
        .into_response()),
        Ok((request, client)) => {
            let flow = random_token(24);
            let json =
                serde_json::to_string(&request).map_err(|e| AppError::Internal(e.to_string()))?;
            state
                .ephemeral
                .put(
                    &flow_key(&flow),
                    &json,
                    Duration::from_secs(FLOW_TTL as u64),
                )
                .await?;
            proceed(&state, &headers, &flow, request, &client).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct FlowQuery {
    #[serde(default)]
    flow: String,
}

pub(super) async fn load_flow(
    state: &AppState,
    flow: &str,
) -> Result<Option<AuthRequest>, AppError> {
    let Some(json) = state.ephemeral.get(&flow_key(flow)).await? else {
        return Ok(None);
    };
    serde_json::from_str(&json)
        .map(Some)
        .map_err(|e| AppError::Internal(e.to_string()))
}

/// The pending authorization of a flow id, with its client; `None` when gone or unknown.
pub(super) async fn pending(
    state: &AppState,
    flow: &str,
) -> Result<Option<(AuthRequest, Arc<OidcClient>)>, AppError> {
    Ok(load_flow(state, flow).await?.and_then(|request| {
        let client = state.registry.oidc_client(&request.client_id)?;
        Some((request, client))
    }))
}

/// The redirect URI a pending authorization returns to.
pub async fn return_url(state: &AppState, flow: &str) -> Result<Option<String>, AppError> {
    Ok(pending(state, flow)
        .await?
        .map(|(request, _)| request.redirect_uri))
}

pub(super) const FLOW_EXPIRED: &str = "Cette demande de connexion a expiré ou a déjà servi. Retournez sur le service que vous vouliez utiliser et recommencez.";

/// GET /oidc/authorize/resume: where the sign-in and consent pages come back to.
pub(super) async fn resume(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Result<Response, AppError> {
    let Some((request, client)) = pending(&state, &q.flow).await? else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    proceed(&state, &headers, &q.flow, request, &client).await
}

pub(super) async fn proceed(
    state: &SharedState,
    headers: &HeaderMap,
    flow: &str,
    mut request: AuthRequest,
    client: &OidcClient,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let mut session = current_session(state, headers).await?;
    // a session whose account can no longer sign in counts as none
    if let Some((_, s)) = &session
        && !account_is_active(state, s.account_id).await?
    {
        session = None;
    }
    if request.remember_session_to_replace(session.as_ref().map(|(_, s)| s)) {
        let json =
            serde_json::to_string(&request).map_err(|e| AppError::Internal(e.to_string()))?;
        state
            .ephemeral
            .put(&flow_key(flow), &json, Duration::from_secs(FLOW_TTL as u64))
            .await?;
    }
    let consented = match (&session, client.require_consent) {
        (Some((_, s)), true) => state
            .grants
            .consent(s.account_id, &client.client_id)
            .await?
            .is_some_and(|given| {
                request
                    .scopes
                    .iter()
                    .all(|scope| given.split(' ').any(|g| g == scope))
            }),
        _ => false,
    };
    let resume = format!("/oidc/authorize/resume?flow={flow}");
    match authorize::next_step(
        &request,
        client,
        session.as_ref().map(|(_, s)| s),
        consented,
        now,
    ) {
        Next::SignIn => {
            let mut login = url::form_urlencoded::Serializer::new(String::new());
            if let Some(kind) = request.acr {
                login.append_pair("profil", kind.as_str());
            }
            if let Some(hint) = &request.login_hint {
                login.append_pair("identifiant", hint);
            }
            login.append_pair("next", &resume);
            Ok(Redirect::to(&format!("/login?{}", login.finish())).into_response())
        }
        Next::Consent => Ok(Redirect::to(&format!("/oidc/consent?flow={flow}")).into_response()),
        Next::Fail(error) => {
            state.ephemeral.delete(&flow_key(flow)).await?;
            Ok(Redirect::to(&authorize::response_url(
                &request.redirect_uri,
                &state.issuer,
                request.state.as_deref(),
                Err(&error),
            ))
            .into_response())
        }
        Next::IssueCode => {
            let Some((_, session)) = session else {
                return Err(AppError::Internal(
                    "issuing a code without a session".into(),
                ));
            };
            // the flow is single use: a second tab or a replayed resume link gets nothing
            if state.ephemeral.take(&flow_key(flow)).await?.is_none() {
                return Ok(error_page(FLOW_EXPIRED));
            }
            let code = random_token(32);
            state
                .metrics
                .issued(crate::metrics::Issued::AuthorizationCode);
            let record = CodeRecord {
                client_id: client.client_id.clone(),
                redirect_uri: request.redirect_uri.clone(),
                account_id: session.account_id,
                scopes: request.scopes.clone(),
                nonce: request.nonce.clone(),
                code_challenge: request.code_challenge.clone(),
                auth_time: session.auth_time,
                origin: session.origin,
                sid: session.sid.clone(),
                acr: request.acr.map(|_| session.kind.as_str().to_owned()),
                issued_at: now,
            };
            let json =
                serde_json::to_string(&record).map_err(|e| AppError::Internal(e.to_string()))?;
            state
                .ephemeral
                .put(
                    &format!("oidc-code:{}", storage_key(&code)),
                    &json,
                    Duration::from_secs(CODE_TTL as u64 + 5),
                )
                .await?;
            state
                .sessions
                .add_participant(
                    &session,
                    &Participant::Oidc {
                        client_id: client.client_id.clone(),
                    },
                    now,
                )
                .await?;
            Ok(Redirect::to(&authorize::response_url(
                &request.redirect_uri,
                &state.issuer,
                request.state.as_deref(),
                Ok(&code),
            ))
            .into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "consent.html")]
pub(super) struct ConsentPage {
    client_name: String,
    items: Vec<&'static str>,
    flow: String,
    csrf: String,
}

fn claim_label(claim: &str) -> &'static str {
    match claim {
        "given_name" | "family_name" => "vos nom et prénom",
        "birthdate" => "votre date de naissance",
        "FrEduCtPersonAffiliation" => {
            "votre profil (élève ou responsable, premier ou second degré)"
        }
        "FrEduCtEleveUAI" | "FrEduCtEleveNiveau" => "votre établissement et votre niveau",
        "FrEduCtEleveINE" => "votre identifiant national élève (INE)",
        "FrEduOrigAuth" | "FrEduCtDateConnexion" => "la manière et l'heure de votre connexion",
        "FrEduCtEnfants" => "les noms, établissements et classes de vos enfants",
        _ => "des informations de votre compte",
    }
}

pub(super) async fn consent_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<FlowQuery>,
) -> Result<Response, AppError> {
    let Some((request, client)) = pending(&state, &q.flow).await? else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    if current_session(&state, &headers).await?.is_none() {
        return Ok(
            Redirect::to(&format!("/oidc/authorize/resume?flow={}", q.flow)).into_response(),
        );
    }
    let mut items: Vec<&'static str> = claims::released(&client, &request.scopes)
        .into_iter()
        .map(claim_label)
        .collect();
    items.dedup();
    if items.is_empty() {
        items.push("votre identifiant de connexion à ce service");
    }
    let (csrf, browser_cookie) = csrf_token(&state, &headers).await?;
    let mut response = ConsentPage {
        client_name: client.name.clone(),
        items,
        flow: q.flow,
        csrf,
    }
    .into_response();
    crate::web::let_forms_lead_to(&mut response, [request.redirect_uri.as_str()]);
    if let Some(c) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub(super) struct ConsentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    flow: String,
    #[serde(default)]
    decision: String,
}

pub(super) async fn consent_submit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Form(form): Form<ConsentForm>,
) -> Result<Response, AppError> {
    verify_csrf(&state, &headers, &form.csrf).await?;
    let Some((request, client)) = pending(&state, &form.flow).await? else {
        return Ok(error_page(FLOW_EXPIRED));
    };
    let Some((_, session)) = current_session(&state, &headers).await? else {
        return Ok(
            Redirect::to(&format!("/oidc/authorize/resume?flow={}", form.flow)).into_response(),
        );
    };
    if form.decision != "accept" {
        state.ephemeral.delete(&flow_key(&form.flow)).await?;
        let error = OAuthError::new("access_denied", "the person refused");
        return Ok(Redirect::to(&authorize::response_url(
            &request.redirect_uri,
            &state.issuer,
            request.state.as_deref(),
            Err(&error),
        ))
        .into_response());
    }
    let now = state.clock.now();
    state
        .grants
        .save_consent(session.account_id, &client.client_id, &request.scope(), now)
        .await?;
    let request = AuthRequest {
        prompt_consent: false,
        ..request
    };
    proceed(&state, &headers, &form.flow, request, &client).await
}
