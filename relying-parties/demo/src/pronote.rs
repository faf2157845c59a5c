//! The demo Pronote: a CAS 3.0 client, as Pronote's "Déléguer l'authentification >
//! Interconnexion CAS". Its service URL is its home page: without a session it sends the
//! browser to the IdP's `/cas/login`, validates the ticket it gets back at
//! `/cas/p3/serviceValidate`, and shows the attributes. The IdP's single-logout POST (a SAML
//! LogoutRequest naming the ticket) ends the session that ticket opened.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use quick_xml::Reader;
use quick_xml::events::Event;
use serde::Deserialize;

use crate::DemoSite;
use crate::page::{self, Child, Look, Person};
use crate::sessions::{Sessions, same_secret};

const LOOK: Look = Look {
    service: "Pronote de démonstration",
    service_short: "Pronote",
    protocol: "CAS 3.0",
    accent: "#1c6e5a",
    raw_title: "Attributs CAS reçus",
};

struct Pronote {
    site: Arc<DemoSite>,
    http: reqwest::Client,
    sessions: Sessions<Person>,
}

pub fn router(site: Arc<DemoSite>) -> Router {
    let app = Arc::new(Pronote {
        site,
        http: crate::http_client(),
        sessions: Sessions::new("pronote_demo_session"),
    });
    Router::new()
        .route("/", get(home).post(single_logout))
        .route("/deconnexion", post(sign_out))
        .with_state(app)
}

/// What the CAS server answered to a validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    Success {
        user: String,
        /// By attribute name, every value in order.
        attributes: BTreeMap<String, Vec<String>>,
    },
    Failure {
        code: String,
        message: String,
    },
}

/// Reads a CAS 3 `serviceResponse` (XML).
pub fn parse_validation(xml: &str) -> Result<Validation, String> {
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    // the text of the element being read: quick-xml hands texts and entities over in pieces
    let mut text = String::new();
    let mut user = None;
    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut failure: Option<(String, String)> = None;
    let mut success = false;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                success |= name == "authenticationSuccess";
                if name == "authenticationFailure" {
                    let code = e
                        .try_get_attribute("code")
                        .map_err(|e| e.to_string())?
                        .and_then(|a| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .ok()
                                .map(|v| v.into_owned())
                        })
                        .unwrap_or_default();
                    failure = Some((code, String::new()));
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) => {
                let entity = format!("&{};", String::from_utf8_lossy(&r));
                text.push_str(&quick_xml::escape::unescape(&entity).map_err(|e| e.to_string())?);
            }
            Event::End(_) => {
                let value = std::mem::take(&mut text).trim().to_owned();
                match path
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice()
                {
                    [.., "authenticationSuccess", "user"] => user = Some(value),
                    [.., "attributes", name] => attributes
                        .entry((*name).to_owned())
                        .or_default()
                        .push(value),
                    [.., "authenticationFailure"] => {
                        if let Some((_, message)) = failure.as_mut() {
                            *message = value;
                        }
                    }
                    _ => {}
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    match (success, user, failure) {
        (true, Some(user), _) => Ok(Validation::Success { user, attributes }),
        (_, _, Some((code, message))) => Ok(Validation::Failure { code, message }),
        _ => Err("the answer is neither a success nor a failure".into()),
    }
}

/// Who the attributes describe, for the page.
fn person_of(site: &DemoSite, user: &str, attributes: &BTreeMap<String, Vec<String>>) -> Person {
    let one = |name: &str| attributes.get(name).and_then(|v| v.first()).cloned();
    let profile = page::profile_of(
        attributes
            .get("FrEduCtPersonAffiliation")
            .into_iter()
            .flatten()
            .map(String::as_str),
    );
    // FrEduVecteur: profil|NOM|Prénom|idEleve|UAI; profiles 1 and 2 are a guardian's, one
    // value per child, naming the child's school
    let children = attributes
        .get("FrEduVecteur")
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let parts: Vec<&str> = v.split('|').collect();
            match parts.as_slice() {
                // the child's name and class are in Pronote's own base, joined on the id
                ["1" | "2", _, _, child_id, uai] => Some(Child {
                    name: format!("Élève n° {child_id}"),
                    school: site.school(uai),
                    class: None,
                }),
                _ => None,
            }
        })
        .collect();
    let mut raw = format!("cas:user = {user}\n");
    for (name, values) in attributes {
        for v in values {
            raw.push_str(&format!("{name} = {v}\n"));
        }
    }
    Person {
        name: format!(
            "{} {}",
            one("givenName").unwrap_or_default(),
            one("sn").unwrap_or_default()
        )
        .trim()
        .to_owned(),
        profile,
        school: one("FrEduCtEleveUAI").map(|uai| site.school(&uai)),
        class: one("FrEduCtEleveNiveau"),
        children,
        raw,
    }
}

#[derive(Debug, Default, Deserialize)]
struct HomeQuery {
    ticket: Option<String>,
}

/// GET /: the person's page; with a ticket, its validation; otherwise off to the IdP.
async fn home(
    State(app): State<Arc<Pronote>>,
    headers: HeaderMap,
    Query(q): Query<HomeQuery>,
) -> Response {
    if let Some(ticket) = q.ticket.filter(|t| !t.is_empty()) {
        return validate(&app, &ticket).await;
    }
    match app.sessions.current(&headers) {
        Some(s) => page::home(
            LOOK,
            Some((&s.data, &s.csrf)),
            &[("Retour à l'ENT", &app.site.ent)],
            None,
            "/",
        ),
        None => Redirect::to(&login_url(&app.site)).into_response(),
    }
}

fn login_url(site: &DemoSite) -> String {
    let mut url = format!("{}/cas/login?", site.idp);
    url.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("service", &site.pronote)
            .finish(),
    );
    url
}

async fn validate(app: &Pronote, ticket: &str) -> Response {
    let url = format!("{}/cas/p3/serviceValidate", app.site.idp);
    let answer = app
        .http
        .get(&url)
        .query(&[("service", app.site.pronote.as_str()), ("ticket", ticket)])
        .send()
        .await;
    let body = match answer {
        Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
        Ok(r) => return unavailable(&format!("réponse HTTP {}", r.status())),
        Err(e) => return unavailable(&e.to_string()),
    };
    match parse_validation(&body) {
        Ok(Validation::Success { user, attributes }) => {
            let person = person_of(&app.site, &user, &attributes);
            let cookie = app.sessions.open(ticket.to_owned(), person);
            ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
        }
        Ok(Validation::Failure { code, message }) => page::message(
            LOOK,
            StatusCode::UNAUTHORIZED,
            &format!("Le serveur d'authentification a refusé le ticket ({code} : {message})."),
            "/",
            "Se connecter à nouveau",
        ),
        Err(e) => unavailable(&e),
    }
}

fn unavailable(detail: &str) -> Response {
    tracing::warn!(detail, "demo Pronote: ticket validation failed");
    page::message(
        LOOK,
        StatusCode::BAD_GATEWAY,
        "Le serveur d'authentification ne répond pas correctement. Réessayez dans un instant.",
        "/",
        "Réessayer",
    )
}

/// POST /: the IdP's single logout, `logoutRequest` naming the ticket of the session to end.
async fn single_logout(
    State(app): State<Arc<Pronote>>,
    Form(form): Form<HashMap<String, String>>,
) -> StatusCode {
    let Some(index) = form.get("logoutRequest").and_then(|r| session_index(r)) else {
        return StatusCode::BAD_REQUEST;
    };
    let ended = app.sessions.close_by_logout_key(&index);
    tracing::info!(ended, "demo Pronote: single logout from the IdP");
    StatusCode::OK
}

/// The SessionIndex of a SAML LogoutRequest.
pub fn session_index(logout_request: &str) -> Option<String> {
    let mut reader = Reader::from_str(logout_request);
    let mut inside = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) => inside = e.local_name().as_ref() == b"SessionIndex",
            Event::Text(t) if inside => {
                return Some(t.decode().ok()?.trim().to_owned()).filter(|s| !s.is_empty());
            }
            Event::End(_) => inside = false,
            Event::Eof => return None,
            _ => {}
        }
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// POST /deconnexion: ends the session here, then at the IdP, which tells the other services
/// and lists them.
async fn sign_out(
    State(app): State<Arc<Pronote>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    match app.sessions.current(&headers) {
        Some(s) if same_secret(&s.csrf, &form.csrf) => {
            app.sessions.close_current(&headers);
        }
        Some(_) => {
            return page::message(
                LOOK,
                StatusCode::FORBIDDEN,
                "Cette demande de déconnexion ne vient pas de cette page. Réessayez depuis Pronote.",
                "/",
                "Retour à Pronote",
            );
        }
        None => {}
    }
    (
        [(header::SET_COOKIE, app.sessions.clear_cookie())],
        Redirect::to(&format!("{}/cas/logout", app.site.idp)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validations_are_read_with_their_attributes() {
        let xml = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">
  <cas:authenticationSuccess>
    <cas:user>abc</cas:user>
    <cas:attributes>
      <cas:sn>O'BRIEN &amp; FILS</cas:sn>
      <cas:givenName>Claire</cas:givenName>
      <cas:FrEduCtPersonAffiliation>resp2d</cas:FrEduCtPersonAffiliation>
      <cas:FrEduVecteur>2|MARTIN|Claire|JM-E0001|0141234A</cas:FrEduVecteur>
      <cas:FrEduVecteur>1|MARTIN|Claire|JF-E0001|0140001B</cas:FrEduVecteur>
    </cas:attributes>
  </cas:authenticationSuccess>
</cas:serviceResponse>"#;
        let Validation::Success { user, attributes } = parse_validation(xml).unwrap() else {
            panic!("a success")
        };
        assert_eq!(user, "abc");
        assert_eq!(attributes["sn"], ["O'BRIEN & FILS"]);
        assert_eq!(attributes["FrEduVecteur"].len(), 2);
        let site = DemoSite::on_port(
            8080,
            BTreeMap::from([("0141234A".to_owned(), "Collège Jean Moulin".to_owned())]),
        );
        let person = person_of(&site, &user, &attributes);
        assert_eq!(person.profile, "Représentant légal");
        assert_eq!(person.children.len(), 2);
        assert_eq!(person.children[0].school, "Collège Jean Moulin");
        assert_eq!(person.children[1].school, "Établissement 0140001B");

        let refused = r#"<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationFailure code="INVALID_TICKET">used &lt;up&gt;</cas:authenticationFailure></cas:serviceResponse>"#;
        assert_eq!(
            parse_validation(refused).unwrap(),
            Validation::Failure {
                code: "INVALID_TICKET".into(),
                message: "used <up>".into()
            }
        );
        assert!(parse_validation("<html>oops</html>").is_err());
    }

    #[test]
    fn the_session_index_names_the_ticket() {
        let request = r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-1" Version="2.0" IssueInstant="2026-12-01T08:50:00Z"><saml:NameID>@NOT_USED@</saml:NameID><samlp:SessionIndex>ST-abc</samlp:SessionIndex></samlp:LogoutRequest>"#;
        assert_eq!(session_index(request).as_deref(), Some("ST-abc"));
        assert_eq!(session_index("<a/>"), None);
    }
}
