//! The pages of the demo services: one layout for both, so that the ENT and Pronote differ
//! only by what they received from the IdP.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// How a demo service presents itself.
#[derive(Debug, Clone, Copy)]
pub struct Look {
    pub service: &'static str,
    /// The service's name in a sentence ("l'ENT", "Pronote").
    pub service_short: &'static str,
    pub protocol: &'static str,
    pub accent: &'static str,
    /// The heading over what the IdP sent.
    pub raw_title: &'static str,
}

/// A child of a guardian, as a service shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    pub school: String,
    pub class: Option<String>,
}

/// The signed-in person, as a service shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    /// "Élève" or "Représentant légal".
    pub profile: String,
    pub school: Option<String>,
    pub class: Option<String>,
    pub children: Vec<Child>,
    /// What the IdP sent, pretty-printed.
    pub raw: String,
}

/// The profile named by ÉduConnect's affiliations (`eleve1d`, `eleve2d`, `resp1d`, `resp2d`).
pub fn profile_of<'a>(affiliations: impl IntoIterator<Item = &'a str>) -> String {
    let mut pupil = false;
    let mut guardian = false;
    for a in affiliations {
        pupil |= a.starts_with("eleve");
        guardian |= a.starts_with("resp");
    }
    match (pupil, guardian) {
        (true, _) => "Élève",
        (false, true) => "Représentant légal",
        _ => "Non précisé",
    }
    .to_owned()
}

#[derive(Template, WebTemplate)]
#[template(path = "service.html")]
struct ServicePage<'a> {
    service: &'a str,
    service_short: &'a str,
    protocol: &'a str,
    accent: &'a str,
    raw_title: &'a str,
    notice: Option<&'a str>,
    person: Option<&'a Person>,
    csrf: &'a str,
    links: &'a [(&'a str, &'a str)],
    login_href: &'a str,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    service: &'a str,
    protocol: &'a str,
    accent: &'a str,
    text: &'a str,
    back: &'a str,
    back_label: &'a str,
}

/// The home page of a service: the person and what was received, or a way to sign in.
pub fn home(
    look: Look,
    person: Option<(&Person, &str)>,
    links: &[(&str, &str)],
    notice: Option<&str>,
    login_href: &str,
) -> Response {
    ServicePage {
        service: look.service,
        service_short: look.service_short,
        protocol: look.protocol,
        accent: look.accent,
        raw_title: look.raw_title,
        notice,
        person: person.map(|(p, _)| p),
        csrf: person.map_or("", |(_, csrf)| csrf),
        links,
        login_href,
    }
    .into_response()
}

/// A page that says what went wrong, in French, with a way on.
pub fn message(
    look: Look,
    status: StatusCode,
    text: &str,
    back: &str,
    back_label: &str,
) -> Response {
    let page = MessagePage {
        service: look.service,
        protocol: look.protocol,
        accent: look.accent,
        text,
        back,
        back_label,
    };
    (status, page).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_come_from_the_affiliations() {
        assert_eq!(profile_of(["eleve2d"]), "Élève");
        assert_eq!(profile_of(["resp1d", "resp2d"]), "Représentant légal");
        assert_eq!(profile_of([]), "Non précisé");
    }
}
