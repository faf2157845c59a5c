//! Shared test support: fresh databases and ephemeral stores for each backend, and a real
//! server on a free port.
//!
//! Embedded backends (SQLite in a temporary directory, in-process ephemeral state) are always
//! used. PostgreSQL and Redis are used when `TEST_POSTGRES_URL` and `TEST_REDIS_URL` are set
//! (`.ci/run` sets them); each test gets its own PostgreSQL schema and Redis key prefix, so
//! tests never see each other's data.

#![allow(dead_code)]

pub mod first_connection;
pub mod oidc;
pub mod saml;
pub mod staff;

use std::sync::Arc;

use idp::app::{AppState, ManualClock, SharedState};
use idp::config::Config;
use idp::ephemeral::Ephemeral;
use idp::store::sql::SqlStore;
use sqlx::{AnyConnection, Connection, Executor};

pub const POSTGRES_ENV: &str = "TEST_POSTGRES_URL";
pub const REDIS_ENV: &str = "TEST_REDIS_URL";

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        idp::keys::random_token(9)
            .to_lowercase()
            .replace(['-', '_'], "x")
    )
}

/// A database for one test; PostgreSQL schemas are dropped when the test ends normally.
pub struct TestDatabase {
    pub url: String,
    pub store: SqlStore,
    schema: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("test.sqlite").display()
        );
        let store = SqlStore::open(&url, 4).await.unwrap();
        Self {
            url,
            store,
            schema: None,
            _dir: Some(dir),
        }
    }

    /// A fresh schema in the PostgreSQL database named by `TEST_POSTGRES_URL`.
    pub async fn postgres() -> Self {
        let base = std::env::var(POSTGRES_ENV)
            .unwrap_or_else(|_| panic!("set {POSTGRES_ENV} to run the PostgreSQL suite"));
        let url = postgres_schema_url(&base).await;
        let store = SqlStore::open(&url.0, 4).await.unwrap();
        Self {
            url: url.0,
            store,
            schema: Some((base, url.1)),
            _dir: None,
        }
    }

    pub async fn drop_schema(self) {
        self.store.close().await;
        if let Some((base, schema)) = &self.schema {
            let mut c = AnyConnection::connect(base).await.unwrap();
            c.execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await
                .unwrap();
        }
    }
}

/// Creates a schema and returns a URL whose connections use it, with the schema's name.
pub async fn postgres_schema_url(base: &str) -> (String, String) {
    sqlx::any::install_default_drivers();
    let schema = unique("t_");
    let mut c = AnyConnection::connect(base).await.unwrap();
    c.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    (format!("{base}{sep}options[search_path]={schema}"), schema)
}

/// An ephemeral store for one test.
pub async fn memory_ephemeral() -> Arc<dyn Ephemeral> {
    Arc::new(idp::ephemeral::memory::MemoryStore::new())
}

pub async fn redis_ephemeral() -> Arc<dyn Ephemeral> {
    let url = std::env::var(REDIS_ENV)
        .unwrap_or_else(|_| panic!("set {REDIS_ENV} to run the Redis suite"));
    Arc::new(
        idp::ephemeral::redis::RedisStore::connect(&url, &format!("{}:", unique("test-")))
            .await
            .unwrap(),
    )
}

/// A running IdP with the demo dataset, on a free port of 127.0.0.1.
pub struct TestServer {
    pub base: String,
    pub state: SharedState,
    pub clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

/// Options for a test server, as TOML overrides.
pub fn server_table(extra: &str) -> toml::Table {
    extra.parse().unwrap()
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// Starts a server; `extra` is TOML merged into its configuration. The production
    /// backends are used when their variables are set.
    pub async fn start_with(extra: &str) -> Self {
        Self::start_with_clients(extra, &[]).await
    }

    /// Starts a server with the demo relying parties plus `clients` (file name, TOML; `{port}`
    /// in the TOML is replaced by the server's port). Nothing listens at the demo relying
    /// parties' addresses.
    pub async fn start_with_clients(extra: &str, clients: &[(&str, &str)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        Self::start_on(
            listener,
            idp::demo::DemoPorts::from_idp(port),
            extra,
            clients,
        )
        .await
    }

    /// Starts a server with the demo ENT, Pronote and FranceConnect sandbox, each on a free
    /// port, as `idp demo` does.
    pub async fn start_with_demo_services() -> (Self, idp::demo::DemoPorts) {
        let (server, ports, _) = Self::start_with_sandbox("").await;
        (server, ports)
    }

    /// The same, with `extra` TOML merged into the configuration, and what the sandbox saw of
    /// session ends.
    pub async fn start_with_sandbox(
        extra: &str,
    ) -> (
        Self,
        idp::demo::DemoPorts,
        demo_services::fc_sandbox::EndedSessions,
    ) {
        let free = || async { tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap() };
        let (listener, ent, pronote, sandbox) =
            (free().await, free().await, free().await, free().await);
        let port = |l: &tokio::net::TcpListener| l.local_addr().unwrap().port();
        let ports = idp::demo::DemoPorts {
            idp: port(&listener),
            ent: port(&ent),
            pronote: port(&pronote),
            franceconnect: port(&sandbox),
            teleservice: port(&listener) + 4,
        };
        let mut extra = server_table(extra);
        extra
            .entry("upstream")
            .or_insert_with(|| toml::Value::Array(vec![ports.upstream_table().into()]));
        let server = Self::start_on(listener, ports, &extra.to_string(), &[]).await;
        demo_services::spawn(ports.site(), ent, pronote);
        let ended = demo_services::fc_sandbox::spawn(
            ports.sandbox_issuer(),
            ports.sandbox_client(),
            sandbox,
        );
        (server, ports, ended)
    }

    async fn start_on(
        listener: tokio::net::TcpListener,
        ports: idp::demo::DemoPorts,
        extra: &str,
        clients: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = ports.idp;
        let mut table = server_table(extra);
        // the progressive delay would make every test that fails sign-ins wait seconds: it is
        // off unless a test sets it (signin.rs tests it)
        if let Some(throttle) = table
            .entry("throttle")
            .or_insert_with(|| toml::Table::new().into())
            .as_table_mut()
        {
            throttle.entry("first_delay_ms").or_insert(0.into());
            throttle.entry("max_delay_ms").or_insert(0.into());
        }
        table
            .entry("issuer")
            .or_insert_with(|| format!("http://127.0.0.1:{port}").into());
        table.insert("listen".into(), format!("127.0.0.1:{port}").into());
        table.insert("data_dir".into(), dir.path().display().to_string().into());
        let rp_dir = dir.path().join("relying-parties");
        idp::demo::write_registrations(&rp_dir, ports).unwrap();
        for (name, text) in clients {
            // a name with an extension is written as is (an SP's metadata XML)
            let file = if name.contains('.') {
                (*name).to_owned()
            } else {
                format!("{name}.toml")
            };
            std::fs::write(rp_dir.join(file), text.replace("{port}", &port.to_string())).unwrap();
        }
        table.insert(
            "relying_parties_dir".into(),
            rp_dir.display().to_string().into(),
        );
        if let Ok(base) = std::env::var(POSTGRES_ENV) {
            table.insert(
                "database_url".into(),
                postgres_schema_url(&base).await.0.into(),
            );
        }
        if let Ok(url) = std::env::var(REDIS_ENV) {
            table.insert("redis_url".into(), url.into());
            table.insert(
                "redis_key_prefix".into(),
                format!("{}:", unique("e2e-")).into(),
            );
        }
        let config = Config::from_table(table, Vec::new()).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let clock = Arc::new(ManualClock::new(now));
        let state = AppState::build(config, clock.clone()).await.unwrap();
        idp::demo::seed(&state).await.unwrap();
        let served = state.clone();
        tokio::spawn(async move { idp::app::serve_on(listener, served).await });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
            clock,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn clock_now(&self) -> i64 {
        use idp::app::Clock;
        self.clock.now()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The id of the account with this identifier (it must exist).
pub async fn account_id(server: &TestServer, identifier: &str) -> i64 {
    server
        .state
        .accounts
        .by_identifier(identifier)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// A browser: keeps cookies, does not follow redirects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The text of the page at `url`, as `browser` gets it (no redirect followed).
pub async fn text(browser: &reqwest::Client, url: impl reqwest::IntoUrl) -> String {
    browser.get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of a hidden field in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The IdP's sign-in form on `page` (a profile's form), filled with these credentials.
pub fn sign_in_form(page: &str, identifier: &str, password: &str) -> Vec<(&'static str, String)> {
    let field = |name: &str| {
        hidden_field(page, name)
            .unwrap_or_else(|| panic!("no hidden {name} on the sign-in page: {page}"))
            .replace("&amp;", "&")
    };
    vec![
        ("csrf", field("csrf")),
        ("typeUser", field("typeUser")),
        ("next", field("next")),
        ("identifier", identifier.to_owned()),
        ("password", password.to_owned()),
    ]
}

/// Signs in on the IdP's sign-in page for `profile` (no redirect followed): the page, its
/// form filled with these credentials, posted.
pub async fn post_sign_in(
    server: &TestServer,
    browser: &reqwest::Client,
    profile: &str,
    identifier: &str,
    password: &str,
) -> reqwest::Response {
    let page = text(browser, server.url(&format!("/login?profil={profile}"))).await;
    browser
        .post(server.url("/login"))
        .form(&sign_in_form(&page, identifier, password))
        .send()
        .await
        .unwrap()
}

/// The Set-Cookie header for `name`, whole.
pub fn set_cookie_header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The texts of the messages the server queued for `to` (an e-mail address, or a mobile in
/// international format), newest first.
pub async fn outbox_to(server: &TestServer, to: &str) -> Vec<String> {
    server
        .state
        .outbox
        .recent(50)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.message.recipient == to)
        .map(|m| m.message.body_text)
        .collect()
}

/// The 6-digit code in a message.
pub fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_owned()
}

/// Opens `page_path`, then posts its form to `action`: the page's CSRF token and its hidden
/// `id` or `jeton`, plus `fields`.
pub async fn post_form(
    server: &TestServer,
    b: &reqwest::Client,
    page_path: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let page = text(b, server.url(page_path)).await;
    let mut form = vec![("csrf".to_owned(), hidden_field(&page, "csrf").expect(&page))];
    for hidden in ["id", "jeton"] {
        if let Some(v) = hidden_field(&page, hidden) {
            form.push((hidden.to_owned(), v));
        }
    }
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    b.post(server.url(action)).form(&form).send().await.unwrap()
}

/// One test per case on SQLite, and the same on PostgreSQL (ignored unless run with
/// `--ignored` and `TEST_POSTGRES_URL`). A case is an `async fn(&SqlStore, &str)` given a fresh
/// database and its URL.
#[macro_export]
macro_rules! backend_suite {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            use $crate::support::TestDatabase;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = TestDatabase::sqlite().await;
                    super::$case(&db.store, &db.url).await;
                }
            )*
        }
        mod postgres {
            use $crate::support::TestDatabase;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[ignore = "needs PostgreSQL: set TEST_POSTGRES_URL and pass --ignored"]
                async fn $case() {
                    let db = TestDatabase::postgres().await;
                    super::$case(&db.store, &db.url).await;
                    db.drop_schema().await;
                }
            )*
        }
    };
}
