//! The HTTP steps the benchmark repeats, as a browser or a relying party sends them. Cookies
//! are carried by hand (one `Cookie` header per browser), so that every simulated browser
//! shares the load generator's connection pool.

use std::io::Write as _;

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::header::{COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use sha2::Digest as _;

use super::server::{
    CAS_SERVICE, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, SAML_ACS, SAML_ENTITY_ID,
    SERVICE_CLIENT_ID, SERVICE_CLIENT_SECRET,
};

pub const PUPIL: &str = "lea.martin";
pub const PUPIL_PASSWORD: &str = "Cartable-2026";
const VERIFIER: &str = "banc-d-essai-verificateur-pkce-de-quarante-trois-caracteres-au-moins";
const REFUSED_PAGE: &str = "Trop de connexions en ce moment, réessayez dans quelques secondes";

/// The load generator's HTTP client: no redirects followed, no cookie jar, pooled connections.
pub fn client() -> anyhow::Result<Client> {
    Ok(Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(usize::MAX)
        .timeout(std::time::Duration::from_secs(10))
        .build()?)
}

/// One browser's cookies, as the `Cookie` header it sends.
#[derive(Clone, Default)]
pub struct Cookies(Vec<(String, String)>);

impl Cookies {
    fn take_from(&mut self, response: &Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let Some(pair) = value.to_str().ok().and_then(|v| v.split(';').next()) else {
                continue;
            };
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            self.0.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.0
                    .push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn hidden(html: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .with_context(|| format!("no {name} field in the page"))?
        + marker.len();
    let end = html[start..].find('"').context("unterminated field")?;
    Ok(html[start..start + end]
        .replace("&amp;", "&")
        .replace("&#x2F;", "/")
        .replace("&#x3D;", "="))
}

/// What became of one sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    Signed,
    /// 503 with Retry-After and the French page: the hashing queue was full.
    Refused,
    /// 503 without what a refused person must see.
    RefusedBadly,
    Other(u16),
    Timeout,
    Failed,
}

/// The sign-in page then the form filled in, as a new browser: the answer to the form, how
/// long it took, and the browser's cookies.
async fn post_sign_in(
    client: &Client,
    base: &str,
    identifier: &str,
    password: &str,
) -> Result<(Response, std::time::Duration, Cookies), reqwest::Error> {
    let mut cookies = Cookies::default();
    let page = client
        .get(format!("{base}/login?profil=eleve"))
        .send()
        .await?;
    cookies.take_from(&page);
    let html = page.text().await?;
    let form = [
        ("csrf", hidden(&html, "csrf").unwrap_or_default()),
        ("typeUser", "eleve".to_owned()),
        ("next", hidden(&html, "next").unwrap_or_default()),
        ("identifier", identifier.to_owned()),
        ("password", password.to_owned()),
    ];
    let t = std::time::Instant::now();
    let r = client
        .post(format!("{base}/login"))
        .header(COOKIE, cookies.header())
        .form(&form)
        .send()
        .await?;
    cookies.take_from(&r);
    Ok((r, t.elapsed(), cookies))
}

/// A sign-in of the benchmark's pupil by a new browser; returns the outcome and the
/// browser's cookies (with its SSO session when signed in).
pub async fn sign_in(client: &Client, base: &str) -> (SignIn, Cookies) {
    let outcome = async {
        let (r, _, cookies) = post_sign_in(client, base, PUPIL, PUPIL_PASSWORD).await?;
        let outcome = match r.status() {
            StatusCode::SEE_OTHER | StatusCode::FOUND => SignIn::Signed,
            StatusCode::SERVICE_UNAVAILABLE => {
                let retry = r.headers().contains_key(RETRY_AFTER);
                let body = r.text().await?;
                if retry && body.contains(REFUSED_PAGE) {
                    SignIn::Refused
                } else {
                    SignIn::RefusedBadly
                }
            }
            other => SignIn::Other(other.as_u16()),
        };
        Ok::<_, reqwest::Error>((outcome, cookies))
    }
    .await;
    match outcome {
        Ok(o) => o,
        Err(e) if e.is_timeout() => (SignIn::Timeout, Cookies::default()),
        Err(_) => (SignIn::Failed, Cookies::default()),
    }
}

/// A sign-in that fails: how long the form took to answer, and its status.
pub async fn timed_failure(
    client: &Client,
    base: &str,
    identifier: &str,
    password: &str,
) -> anyhow::Result<(std::time::Duration, u16)> {
    let (r, elapsed, _) = post_sign_in(client, base, identifier, password).await?;
    let status = r.status().as_u16();
    r.bytes().await?;
    Ok((elapsed, status))
}

/// A browser with an SSO session.
pub async fn signed_in_browser(client: &Client, base: &str) -> anyhow::Result<Cookies> {
    match sign_in(client, base).await {
        (SignIn::Signed, cookies) => Ok(cookies),
        (other, _) => bail!("the benchmark's pupil could not sign in: {other:?}"),
    }
}

/// Follows the IdP's own redirects (with the browser's cookies) until a page or a redirect
/// elsewhere; returns that last response.
async fn follow(
    client: &Client,
    base: &str,
    cookies: &Cookies,
    url: String,
) -> anyhow::Result<Response> {
    let mut url = url;
    for _ in 0..5 {
        let r = client
            .get(&url)
            .header(COOKIE, cookies.header())
            .send()
            .await?;
        if !r.status().is_redirection() {
            return Ok(r);
        }
        let to = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("a redirect without Location")?;
        if to.starts_with('/') {
            url = format!("{base}{to}");
        } else if to.starts_with(base) {
            url = to.to_owned();
        } else {
            return Ok(r);
        }
    }
    bail!("too many redirects from {url}")
}

fn location(r: &Response) -> anyhow::Result<String> {
    Ok(r.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .with_context(|| format!("expected a redirect, got {}", r.status()))?
        .to_owned())
}

/// An authorization code for the benchmark's ENT, from a browser with a session.
pub async fn authorization_code(
    client: &Client,
    base: &str,
    cookies: &Cookies,
) -> anyhow::Result<String> {
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
    let mut url = url::Url::parse(&format!("{base}/oidc/authorize"))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "openid profile educonnect offline_access")
        .append_pair("state", "st")
        .append_pair("nonce", "no")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let r = follow(client, base, cookies, url.to_string()).await?;
    let back = url::Url::parse(&location(&r)?)?;
    back.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .with_context(|| format!("no code in {back}"))
}

/// Tokens from the token endpoint.
#[derive(serde::Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}

async fn token(client: &Client, base: &str, form: &[(&str, &str)]) -> anyhow::Result<Tokens> {
    let r = client
        .post(format!("{base}/oidc/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(form)
        .send()
        .await?;
    let status = r.status();
    ensure!(status.is_success(), "token endpoint: {status}");
    Ok(r.json().await?)
}

pub async fn exchange_code(client: &Client, base: &str, code: &str) -> anyhow::Result<Tokens> {
    token(
        client,
        base,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// Uses a refresh token; returns the next one (they rotate).
pub async fn refresh(client: &Client, base: &str, refresh_token: &str) -> anyhow::Result<String> {
    token(
        client,
        base,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await?
    .refresh_token
    .context("no new refresh token")
}

pub async fn client_credentials(client: &Client, base: &str) -> anyhow::Result<String> {
    let r = client
        .post(format!("{base}/oidc/token"))
        .basic_auth(SERVICE_CLIENT_ID, Some(SERVICE_CLIENT_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "educonnect"),
        ])
        .send()
        .await?;
    let status = r.status();
    ensure!(status.is_success(), "client_credentials: {status}");
    Ok(r.json::<Tokens>().await?.access_token)
}

pub async fn introspect(client: &Client, base: &str, token: &str) -> anyhow::Result<()> {
    let r = client
        .post(format!("{base}/oidc/introspect"))
        .basic_auth(SERVICE_CLIENT_ID, Some(SERVICE_CLIENT_SECRET))
        .form(&[("token", token)])
        .send()
        .await?;
    ensure!(r.status().is_success(), "introspection: {}", r.status());
    let body = r.bytes().await?;
    ensure!(
        body.starts_with(b"{\"active\":true"),
        "introspection: token not active"
    );
    Ok(())
}

pub async fn userinfo(client: &Client, base: &str, token: &str) -> anyhow::Result<()> {
    let r = client
        .get(format!("{base}/oidc/userinfo"))
        .bearer_auth(token)
        .send()
        .await?;
    ensure!(r.status().is_success(), "userinfo: {}", r.status());
    r.bytes().await?;
    Ok(())
}

/// A GET that must answer 200; the body is read whole.
pub async fn get_ok(client: &Client, url: &str) -> anyhow::Result<()> {
    let r = client.get(url).send().await?;
    ensure!(r.status().is_success(), "{url}: {}", r.status());
    r.bytes().await?;
    Ok(())
}

/// A SAML AuthnRequest (HTTP-Redirect binding, unsigned as the SP's metadata allows) answered
/// for a browser with a session: the page that posts the signed response to the ACS.
pub async fn saml_sso(
    client: &Client,
    base: &str,
    cookies: &Cookies,
    n: u64,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let sso = format!("{base}/idp/profile/SAML2/Redirect/SSO");
    let xml = format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_bench{n}" Version="2.0" IssueInstant="{now}" Destination="{sso}" AssertionConsumerServiceURL="{SAML_ACS}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>{SAML_ENTITY_ID}</saml:Issuer></samlp:AuthnRequest>"#
    );
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    deflate.write_all(xml.as_bytes())?;
    let request: String =
        url::form_urlencoded::byte_serialize(STANDARD.encode(deflate.finish()?).as_bytes())
            .collect();
    let r = follow(
        client,
        base,
        cookies,
        format!("{sso}?SAMLRequest={request}&RelayState=r{n}"),
    )
    .await?;
    ensure!(r.status().is_success(), "SAML SSO: {}", r.status());
    let html = r.text().await?;
    ensure!(
        html.contains("name=\"SAMLResponse\""),
        "SAML SSO: no response in the page"
    );
    Ok(())
}

fn cas_service() -> String {
    url::form_urlencoded::byte_serialize(CAS_SERVICE.as_bytes()).collect()
}

/// A CAS service ticket for a browser with a session.
pub async fn cas_ticket(client: &Client, base: &str, cookies: &Cookies) -> anyhow::Result<String> {
    let r = follow(
        client,
        base,
        cookies,
        format!("{base}/cas/login?service={}", cas_service()),
    )
    .await?;
    let back = location(&r)?;
    Ok(back
        .strip_prefix(&format!("{CAS_SERVICE}?ticket="))
        .with_context(|| format!("no ticket in {back}"))?
        .to_owned())
}

pub async fn cas_validate(client: &Client, base: &str, ticket: &str) -> anyhow::Result<()> {
    let r = client
        .get(format!(
            "{base}/cas/p3/serviceValidate?ticket={ticket}&service={}",
            cas_service()
        ))
        .send()
        .await?;
    let xml = r.text().await?;
    ensure!(
        xml.contains("<cas:authenticationSuccess>"),
        "CAS validation failed"
    );
    Ok(())
}
