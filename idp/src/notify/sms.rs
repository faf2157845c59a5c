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

/// `value` as a form-encoded field value.
fn form_escaped(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
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

    /// The request body for a message: `{to}`, `{text}` and `{sender}` replaced, escaped for
    /// the content type (form-encoded, or else JSON string contents).
    pub fn body(&self, message: &NewMessage) -> String {
        let escape = if self.content_type.contains("x-www-form-urlencoded") {
            form_escaped
        } else {
            json_escaped
        };
        render(
            &self.template,
            [
                ("{to}", &message.recipient),
                ("{text}", &message.body_text),
                ("{sender}", &self.sender),
            ],
            escape,
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

/// The template with its placeholders replaced in one pass, so that a value holding a
/// placeholder (a text that says `{to}`) is written as it is, never replaced in turn.
fn render(template: &str, values: [(&str, &str); 3], escape: fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + 160);
    let mut rest = template;
    'scan: while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        for (placeholder, value) in values {
            if let Some(after) = rest.strip_prefix(placeholder) {
                out.push_str(&escape(value));
                rest = after;
                continue 'scan;
            }
        }
        out.push('{');
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_template_with_escaped_values() {
        let body = render(
            r#"{"to": "{to}", "message": "{text}", "from": "{sender}"}"#,
            [
                ("{to}", "+33612345678"),
                (
                    "{text}",
                    "Code : 123456\n« ne le donnez pas », \"{sender}\"",
                ),
                ("{sender}", "ECOLE"),
            ],
            json_escaped,
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["to"], "+33612345678");
        assert_eq!(
            parsed["message"], "Code : 123456\n« ne le donnez pas », \"{sender}\"",
            "quotes escaped, a placeholder inside a value left as it is"
        );
        assert_eq!(parsed["from"], "ECOLE");
    }

    #[test]
    fn a_form_encoded_gateway_gets_form_encoded_values() {
        let body = render(
            "to={to}&text={text}&from={sender}",
            [
                ("{to}", "+33612345678"),
                ("{text}", "Code : 1&to=+33699999999"),
                ("{sender}", "ECOLE"),
            ],
            form_escaped,
        );
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(fields.len(), 3, "{body}");
        assert_eq!(
            fields[1],
            ("text".into(), "Code : 1&to=+33699999999".into())
        );
    }
}
