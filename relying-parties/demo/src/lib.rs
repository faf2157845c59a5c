//! The demo relying parties that `idp demo` starts beside the IdP, so that a newcomer sees
//! single sign-on and single logout across protocols in a browser:
//!
//! - a demo **ENT** (`ent.rs`), an OpenID Connect client built on the `openidconnect` crate
//!   (code flow with PKCE, ID token and userinfo, RP-initiated and back-channel logout);
//! - a demo **Pronote** (`pronote.rs`), a CAS 3.0 client as Pronote's "Déléguer
//!   l'authentification > Interconnexion CAS" (ticket validation with attributes, CAS single
//!   logout).
//!
//! - a **FranceConnect sandbox** (`fc_sandbox.rs`), a development tool that plays
//!   FranceConnect v2 with test identities, for the guardians' "S'identifier avec
//!   FranceConnect".
//!
//! They talk to the IdP only over HTTP, as any relying party (or provider) would: nothing of
//! the IdP's code is used here. Their sessions live in memory (a demo restarts empty).

pub mod ent;
pub mod fc_sandbox;
mod page;
pub mod pronote;
mod sessions;

use std::collections::BTreeMap;
use std::sync::Arc;

/// What both demo services need to know.
#[derive(Debug, Clone)]
pub struct DemoSite {
    /// The IdP's issuer, e.g. `http://127.0.0.1:8080`.
    pub idp: String,
    /// The ENT's own address, e.g. `http://127.0.0.1:8081`.
    pub ent: String,
    /// Pronote's own address (also its CAS service URL), e.g. `http://127.0.0.1:8082/`.
    pub pronote: String,
    /// The schools these services serve, by UAI (a real ENT has them in its directory).
    pub schools: BTreeMap<String, String>,
}

impl DemoSite {
    /// The demo addresses for an IdP on `127.0.0.1:port`: the ENT on port+1, Pronote on port+2.
    pub fn on_port(port: u16, schools: BTreeMap<String, String>) -> Self {
        Self {
            idp: format!("http://127.0.0.1:{port}"),
            ent: format!("http://127.0.0.1:{}", port + 1),
            pronote: format!("http://127.0.0.1:{}/", port + 2),
            schools,
        }
    }

    /// The name of a school, or its UAI when unknown.
    fn school(&self, uai: &str) -> String {
        self.schools
            .get(uai)
            .cloned()
            .unwrap_or_else(|| format!("Établissement {uai}"))
    }
}

/// The HTTP client of the demo services: short timeouts, and no redirects followed (a token
/// endpoint that redirects is an error, not a hop to follow).
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("the HTTP client's settings are valid")
}

/// Serves the demo ENT and Pronote on already bound listeners, in the background.
pub fn spawn(
    site: DemoSite,
    ent: tokio::net::TcpListener,
    pronote: tokio::net::TcpListener,
) -> Vec<tokio::task::JoinHandle<()>> {
    let site = Arc::new(site);
    let ent_app = ent::router(site.clone());
    let pronote_app = pronote::router(site);
    vec![
        tokio::spawn(async move {
            if let Err(e) = axum::serve(ent, ent_app).await {
                tracing::error!(error = %e, "the demo ENT stopped");
            }
        }),
        tokio::spawn(async move {
            if let Err(e) = axum::serve(pronote, pronote_app).await {
                tracing::error!(error = %e, "the demo Pronote stopped");
            }
        }),
    ]
}
