//! SMS through an HTTP gateway: a POST of a body built from a template (JSON by default), with
//! an optional `Authorization` header. 2xx is accepted; 429 and 5xx are tried again; other
//! answers are refusals.

use std::time::Duration;

use crate::config::SmsConfig;
use crate::notify::SendError;
use crate::store::NewMessage;

pub struct Gateway {
    url: url::Url,
    authorization: Option<String>,
    template: String,
    content_type: String,
    sender: String,
    http: reqwest::Client,
}

/// `value` as the inside of a JSON string.
fn json_escaped(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

impl Gateway {
    pub fn new(url: url::Url, config: &SmsConfig) -> anyhow::Result<Self> {
        Ok(Self {
            url,
            authorization: config.authorization()?,
            template: config.body_template.clone(),
            content_type: config.content_type.clone(),
            sender: config.sender.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
        })
    }

    /// The request body for a message: `{to}`, `{text}` and `{sender}` replaced, JSON-escaped.
    pub fn body(&self, message: &NewMessage) -> String {
        render(
            &self.template,
            &message.recipient,
            &message.body_text,
            &self.sender,
        )
    }

    pub async fn send(&self, message: &NewMessage) -> Result<(), SendError> {
        let mut request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, &self.content_type)
            .body(self.body(message));
        if let Some(value) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("SMS gateway unreachable: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            Err(SendError::Transient(format!(
                "SMS gateway answered {status}"
            )))
        } else {
            Err(SendError::Permanent(format!(
                "SMS gateway refused: {status}"
            )))
        }
    }
}

fn render(template: &str, to: &str, text: &str, sender: &str) -> String {
    template
        .replace("{to}", &json_escaped(to))
        .replace("{text}", &json_escaped(text))
        .replace("{sender}", &json_escaped(sender))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_template_with_escaped_values() {
        let body = render(
            r#"{"to": "{to}", "message": "{text}", "from": "{sender}"}"#,
            "+33612345678",
            "Code : 123456\n« ne le donnez pas »",
            "ECOLE",
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["to"], "+33612345678");
        assert_eq!(parsed["message"], "Code : 123456\n« ne le donnez pas »");
        assert_eq!(parsed["from"], "ECOLE");
    }
}
