//! Recovery entry points. Until the recovery journeys are built, these pages say plainly
//! that the service is not available online yet and whom to ask; they never pretend that something was sent.

use askama::Template;
use askama_web::WebTemplate;

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct HelpPage {
    title: String,
    message: String,
    link: Option<(String, String)>,
}

fn not_yet(title: &str, what: &str) -> HelpPage {
    HelpPage {
        title: title.to_owned(),
        message: format!(
            "{what} n'est pas encore disponible en ligne. En attendant, adressez-vous au \
             secrétariat de votre établissement, qui peut vous remettre vos identifiants."
        ),
        link: Some(("/login".into(), "Retour à la connexion".into())),
    }
}

pub async fn forgotten_identifier() -> HelpPage {
    not_yet("Identifiant oublié", "La récupération de l'identifiant")
}

pub async fn forgotten_password() -> HelpPage {
    not_yet("Mot de passe oublié", "La réinitialisation du mot de passe")
}
