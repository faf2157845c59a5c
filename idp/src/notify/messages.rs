//! The messages people receive, in French: e-mails have a text and an HTML part (askama
//! templates, escaped), SMS are one short text.

use askama::Template;

use crate::store::{Channel, NewMessage};

#[derive(Template)]
#[template(path = "mail/confirm_email.txt")]
struct ConfirmEmailText<'a> {
    first_name: &'a str,
    identifier: &'a str,
    link: &'a str,
    validity: &'a str,
}

#[derive(Template)]
#[template(path = "mail/confirm_email.html")]
struct ConfirmEmailHtml<'a> {
    first_name: &'a str,
    identifier: &'a str,
    link: &'a str,
    validity: &'a str,
}

#[derive(Template)]
#[template(path = "mail/simple.txt")]
struct SimpleText<'a> {
    paragraphs: &'a [String],
    link: Option<(&'a str, &'a str)>,
}

#[derive(Template)]
#[template(path = "mail/simple.html")]
struct SimpleHtml<'a> {
    subject: &'a str,
    paragraphs: &'a [String],
    link: Option<(&'a str, &'a str)>,
}

/// An e-mail of a few paragraphs and maybe one link (address, label of the button).
fn simple_email(
    account_id: Option<i64>,
    to: &str,
    subject: &str,
    paragraphs: &[String],
    link: Option<(&str, &str)>,
) -> NewMessage {
    NewMessage {
        channel: Channel::Email,
        recipient: to.to_owned(),
        subject: subject.to_owned(),
        body_text: SimpleText { paragraphs, link }.render().unwrap_or_default(),
        body_html: SimpleHtml {
            subject,
            paragraphs,
            link,
        }
        .render()
        .ok(),
        account_id,
    }
}

/// "Mot de passe oublié" by e-mail: the single-use link to a new password.
pub fn password_reset(
    account_id: i64,
    to: &str,
    first_name: &str,
    identifier: &str,
    link: &str,
) -> NewMessage {
    simple_email(
        Some(account_id),
        to,
        "Choisissez un nouveau mot de passe",
        &[
            format!("Bonjour {first_name},"),
            format!("Une demande de nouveau mot de passe a été faite pour votre compte {identifier}. Ouvrez ce lien dans les 30 minutes pour en choisir un :"),
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot de passe actuel reste valable.".into(),
        ],
        Some((link, "Choisir un nouveau mot de passe")),
    )
}

/// "Identifiant oublié" by e-mail: the identifiers of the accounts with this address.
pub fn identifiers_reminder(to: &str, identifiers: &[String]) -> NewMessage {
    simple_email(
        None,
        to,
        "Votre identifiant",
        &[
            "Bonjour,".into(),
            format!(
                "Vous avez demandé votre identifiant. Les comptes liés à cette adresse sont : {}.",
                identifiers.join(", ")
            ),
            "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.".into(),
        ],
        None,
    )
}

/// An SMS to a mobile as stored (`06…` or `+…`).
pub fn sms(mobile: &str, text: String) -> NewMessage {
    NewMessage {
        channel: Channel::Sms,
        recipient: crate::domain::contact::international(mobile),
        subject: String::new(),
        body_text: text,
        body_html: None,
        account_id: None,
    }
}

/// "Confirmez votre adresse électronique", with the single-use link.
pub fn email_confirmation(
    account_id: i64,
    to: &str,
    first_name: &str,
    identifier: &str,
    link: &str,
) -> NewMessage {
    let validity = "24 heures";
    NewMessage {
        channel: Channel::Email,
        recipient: to.to_owned(),
        subject: "Confirmez votre adresse électronique".into(),
        body_text: ConfirmEmailText {
            first_name,
            identifier,
            link,
            validity,
        }
        .render()
        .unwrap_or_default(),
        body_html: ConfirmEmailHtml {
            first_name,
            identifier,
            link,
            validity,
        }
        .render()
        .ok(),
        account_id: Some(account_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confirmation_mail_has_the_link_in_both_parts_and_escapes_names() {
        let m = email_confirmation(
            7,
            "claire@example.fr",
            "<Claire>",
            "claire.martin",
            "https://idp.example.fr/confirmer-email?jeton=abc&x=1",
        );
        assert!(
            m.body_text
                .contains("https://idp.example.fr/confirmer-email?jeton=abc&x=1")
        );
        assert!(m.body_text.contains("Bonjour <Claire>,"));
        let html = m.body_html.unwrap();
        assert!(
            !html.contains("<Claire>") && html.contains("Claire"),
            "{html}"
        );
        assert!(html.contains("jeton=abc&#38;x=1") || html.contains("jeton=abc&amp;x=1"));
    }
}
