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
