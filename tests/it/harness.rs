//! Test harness: starts a real gateway (Pingora + portal) on an ephemeral port, with real
//! upstream HTTP servers that echo what they receive, on SQLite by default or on PostgreSQL
//! when TEST_DATABASE_URL is set (one fresh schema per gateway).
//!
//! - Answers are read as users see them with [`Page`] (tests/it/page.rs): `Browser::open`,
//!   `get_page`, `submit`, `submit_multipart`.
//! - A gateway starts with the demo's directory (`convergences::demo::seed`) unless
//!   `Options::without_demo_seed` ([`TestGateway::start_empty`]); tests then build their own
//!   structures and accounts with `TestGateway::world` (tests/it/world.rs).
//! - Snapshots (insta, tests/it/snapshot_pages.rs, files in tests/it/snapshots/): a missing or
//!   different snapshot fails `cargo test`, locally and in CI (where `CI` is set insta writes
//!   nothing). Review a change with `cargo insta review`, or run once with
//!   `INSTA_UPDATE=always` and read the diff of tests/it/snapshots/ before committing it.

use async_trait::async_trait;
use convergences::config::Config;
use convergences::state::Gateway;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use reqwest::blocking::{Client, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = convergences::demo::DEMO_PASSWORD;
pub use crate::page::Page;
pub use convergences::proxy::identity_encoding::encode;

/// The `name=value` of the application cookie a handshake callback sets.
pub fn app_cookie_of(r: &Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("convergences_app="))
        .and_then(|c| c.split(';').next())
        .expect("an application cookie")
        .to_string()
}

/// Runtime for the harness's own servers and set-up queries.
pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test runtime")
    })
}

/// A loopback port free now and never handed out before in this test process. Gateways bind
/// their port with `SO_REUSEPORT`: two tests starting at once and given the same released port
/// would both bind it and share its connections, so the same port is never given twice.
///
/// The port is taken below the kernel's ephemeral range: the port is released before the
/// gateway binds it, and a port from that range can meanwhile become the local end of one of
/// the many connections the tests open, which makes the gateway's bind fail. Below the range,
/// only an explicit bind can take it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let low = ephemeral_low.saturating_sub(12_000).max(1024);
    let span = u32::from(ephemeral_low.saturating_sub(low));
    assert!(
        span > 0,
        "no port below the ephemeral range {ephemeral_low}"
    );
    // Started at an offset from the process id, so that two test processes seldom try the
    // same ports in the same order.
    let start = std::process::id() % span;
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for i in 0..span {
        let port = low + ((start + i) % span) as u16;
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in {low}..{ephemeral_low}");
}

/// An upstream application that answers every request with a JSON echo of it.
pub struct Upstream {
    pub addr: SocketAddr,
}

pub fn echo_upstream(name: &'static str) -> Upstream {
    use axum::http::HeaderMap;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    listener.set_nonblocking(true).expect("nonblocking");
    rt().spawn(async move {
        let l = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: HeaderMap| async move {
                if uri.path() == "/slow" {
                    // Longer than the read timeout the test gateways give their upstreams.
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                let mut map = BTreeMap::new();
                for (k, v) in &headers {
                    map.entry(k.as_str().to_string())
                        .or_insert_with(Vec::new)
                        .push(String::from_utf8_lossy(v.as_bytes()).into_owned());
                }
                let body =
                    serde_json::json!({ "app": name, "path": uri.to_string(), "headers": map });
                // Plays a malicious application: always tries to set the gateway's session
                // cookie, and any cookie a test asks for with `?set_cookie=`.
                let mut out = axum::http::HeaderMap::new();
                out.append(
                    axum::http::header::SET_COOKIE,
                    axum::http::HeaderValue::from_static("convergences_session=evil; Path=/"),
                );
                for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
                    if k == "set_cookie" {
                        if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
                            out.append(axum::http::header::SET_COOKIE, v);
                        }
                    }
                }
                (out, axum::Json(body))
            },
        );
        let _ = axum::serve(l, app).await;
    });
    Upstream { addr }
}

struct Signal(tokio::sync::Mutex<tokio::sync::mpsc::Receiver<ShutdownSignal>>);

#[async_trait]
impl ShutdownSignalWatch for Signal {
    async fn recv(&self) -> ShutdownSignal {
        self.0
            .lock()
            .await
            .recv()
            .await
            .unwrap_or(ShutdownSignal::FastShutdown)
    }
}

pub struct TestGateway {
    pub port: u16,
    pub gw: Arc<Gateway>,
    pub control: tokio::runtime::Handle,
    stop: tokio::sync::mpsc::Sender<ShutdownSignal>,
    pg_schema: Option<(String, String)>,
    redis: Option<(String, String)>,
    thread: Option<std::thread::JoinHandle<()>>,
    _data: tempfile::TempDir,
}

/// Redis for the suite on shared services (TEST_REDIS_URL), else the in-process store.
pub fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The database URL for a new gateway: a fresh SQLite file, or a fresh PostgreSQL schema of
/// `base` (else TEST_DATABASE_URL), returned too, to be dropped with the gateway.
fn database_url(data: &std::path::Path, base: Option<&str>) -> (String, Option<(String, String)>) {
    let base = base
        .map(str::to_string)
        .or_else(|| std::env::var("TEST_DATABASE_URL").ok());
    match base {
        Some(base) if !base.is_empty() => {
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let b = base.clone();
            let s = schema.clone();
            rt().block_on(async move {
                use sqlx::Executor;
                let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&b)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                c.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {s}")))
                    .await
                    .expect("create schema");
            });
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                Some((base, schema)),
            )
        }
        _ => (
            format!("sqlite://{}?mode=rwc", data.join("test.db").display()),
            None,
        ),
    }
}

/// What a second instance needs to share a first one's back ends.
#[derive(Clone)]
pub struct Shared {
    db_url: String,
    redis: Option<(String, String)>,
    key_file: std::path::PathBuf,
    secret: String,
    public_url: String,
    oidc_keys: (std::path::PathBuf, std::path::PathBuf),
}

#[derive(Default)]
pub struct Options {
    /// Join an existing gateway's database, Redis and keys (a second instance).
    pub share: Option<Shared>,
    /// Use this Redis (e.g. one the test starts and stops) instead of TEST_REDIS_URL.
    pub redis_url: Option<String>,
    /// Use this PostgreSQL (e.g. one the test starts and stops) instead of TEST_DATABASE_URL.
    pub database_url: Option<String>,
    /// Extra `[[apps]]` entries.
    pub extra_apps: String,
    pub bip_upstreams: Option<String>,
    /// Extra top-level sections (e.g. `[mail]`), inserted before the applications.
    pub extra_config: String,
    /// `server.trusted_proxies`, one entry.
    pub trusted_proxies: Option<String>,
    /// Extra keys of the `[server]` section.
    pub server_extra: String,
    /// Extra keys of the `[security]` section. Unless they say otherwise, référents and
    /// platform administrators sign in with a password alone, as in the demo.
    pub security: String,
    /// The data folder (and the SQLite file's folder), e.g. one the test prepared; default: a
    /// fresh temporary folder.
    pub data_dir: Option<std::path::PathBuf>,
    /// Start with an empty directory instead of the demo's accounts and structures
    /// (`convergences::demo::seed`); the test builds what it needs with [`crate::world::World`].
    pub without_demo_seed: bool,
}

impl TestGateway {
    pub fn start() -> TestGateway {
        Self::start_with(Options::default())
    }

    /// A gateway whose structure tree may be 8 levels deep (`structures.max_depth` is 2 by
    /// default), for tests of services below the attached establishments.
    pub fn start_deep() -> TestGateway {
        Self::start_with(Options {
            extra_config: "[structures]\nmax_depth = 8\n".into(),
            ..Default::default()
        })
    }

    /// A gateway with an empty directory: no demo account, no structure (see
    /// [`crate::world::World`] to build the test's own).
    pub fn start_empty() -> TestGateway {
        Self::start_with(Options {
            without_demo_seed: true,
            ..Default::default()
        })
    }

    pub fn start_with(opts: Options) -> TestGateway {
        let seed_demo = !opts.without_demo_seed;
        let data = tempfile::tempdir().expect("tempdir");
        let data_path = opts
            .data_dir
            .clone()
            .unwrap_or_else(|| data.path().to_path_buf());
        let bip = echo_upstream("bip");
        let nc = echo_upstream("nc");
        let site = echo_upstream("site");
        let port = free_port();
        let (db, pg_schema) = match &opts.share {
            Some(sh) => (sh.db_url.clone(), None),
            None => database_url(&data_path, opts.database_url.as_deref()),
        };
        let redis = match (&opts.share, &opts.redis_url) {
            (Some(sh), _) => sh.redis.clone(),
            (None, Some(url)) => {
                Some((url.clone(), format!("t{}:", uuid::Uuid::new_v4().simple())))
            }
            (None, None) => {
                redis_url().map(|url| (url, format!("t{}:", uuid::Uuid::new_v4().simple())))
            }
        };
        let mut sections = String::new();
        if let Some((url, prefix)) = &redis {
            sections.push_str(&format!(
                "[sessions]\nstore = \"redis\"\nredis_url = \"{url}\"\nredis_prefix = \"{prefix}\"\n"
            ));
        }
        sections.push_str("[security]\n");
        if !opts.security.contains("second_factor_for_administrators") {
            sections.push_str("second_factor_for_administrators = false\n");
        }
        sections.push_str(&opts.security);
        sections.push('\n');
        if let Some(sh) = &opts.share {
            sections.push_str(&format!(
                "secret = \"{}\"\n[assertion]\nkey_file = \"{}\"\n[oidc]\nrsa_key_file = \"{}\"\neddsa_key_file = \"{}\"\n",
                sh.secret,
                sh.key_file.display(),
                sh.oidc_keys.0.display(),
                sh.oidc_keys.1.display(),
            ));
        }
        let mut public_url = match &opts.share {
            Some(sh) => format!("public_url = \"{}\"", sh.public_url),
            None => String::new(),
        };
        if let Some(t) = &opts.trusted_proxies {
            public_url.push_str(&format!("\ntrusted_proxies = [\"{t}\"]"));
        }
        public_url.push('\n');
        public_url.push_str(&opts.server_extra);
        let bip_upstreams = opts
            .bip_upstreams
            .unwrap_or_else(|| format!("\"{}\"", bip.addr));
        let text = format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
portal_host = "auth.test"
{public_url}
data_dir = "{data}"
threads = 2
grace_period_seconds = 0
graceful_shutdown_timeout_seconds = 1
[database]
url = "{db}"
max_connections = 4
{sections}
{extra_config}
[[apps]]
slug = "bip"
name = "BIP"
description = "Banque d'informations statutaires"
host = "bip.test"
upstreams = [{bip_upstreams}]
connect_timeout_ms = 500
read_timeout_ms = 2000
[[apps]]
slug = "netcotisations"
name = "Net-Cotisations"
host = "nc.test"
upstreams = ["{nc}"]
[[apps]]
slug = "site"
name = "Site restreint"
path_prefix = "/site"
upstreams = ["{site}"]
[apps.headers]
user = "Remote-User"
{extra}
"#,
            data = data_path.display(),
            db = db,
            nc = nc.addr,
            site = site.addr,
            extra = opts.extra_apps,
            extra_config = opts.extra_config,
            sections = sections,
            public_url = public_url,
        );
        let config = Config::from_toml("test.toml", &text, &[]).expect("test config");
        let (stop, rx) = tokio::sync::mpsc::channel(1);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let on_ready = Box::new(move |gw: &Arc<Gateway>, rt: &tokio::runtime::Runtime| {
                if seed_demo {
                    rt.block_on(convergences::demo::seed(&gw.dir))
                        .expect("seed");
                }
                let _ = ready_tx.send((gw.clone(), rt.handle().clone()));
            });
            let signal = Box::new(Signal(tokio::sync::Mutex::new(rx)));
            if let Err(e) = convergences::server::run(config, Some(signal), Some(on_ready)) {
                panic!("gateway failed: {e}");
            }
        });
        let (gw, control) = ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("gateway state built");
        let t = TestGateway {
            port,
            gw,
            control,
            stop,
            pg_schema,
            redis,
            thread: Some(thread),
            _data: data,
        };
        t.wait_ready();
        t
    }

    /// What a second instance needs to join this one.
    pub fn shared(&self) -> Shared {
        let secret = std::fs::read_to_string(self.gw.config.data_dir.join("secret.key"))
            .expect("secret of the first instance");
        Shared {
            db_url: self.gw.config.database_url.clone(),
            redis: self.redis.clone(),
            key_file: self.gw.config.assertion_key_file.clone(),
            secret,
            public_url: self.gw.config.public_url.clone(),
            oidc_keys: (
                self.gw.config.oidc.rsa_key_file.clone(),
                self.gw.config.oidc.eddsa_key_file.clone(),
            ),
        }
    }

    /// Polls until the listener accepts and the portal answers /healthz.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = self.client(false);
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                if let Ok(r) = client.get(self.url("auth.test", "/healthz")).send() {
                    if r.status() == 200 {
                        return;
                    }
                }
            }
            assert!(Instant::now() < deadline, "gateway did not become ready");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    /// A client that resolves the test hosts to the gateway; `cookies` keeps a cookie jar like a
    /// browser. Redirects are never followed automatically.
    pub fn client(&self, cookies: bool) -> Client {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut b = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20));
        for h in ["auth.test", "bip.test", "nc.test", "unknown.test"] {
            b = b.resolve(h, addr);
        }
        if cookies {
            b = b.cookie_store(true);
        }
        b.build().expect("client")
    }

    pub fn browser(&self) -> Browser<'_> {
        self.browser_as("")
    }

    /// A browser that sends this `User-Agent` (none when empty).
    pub fn browser_as(&self, user_agent: &str) -> Browser<'_> {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut b = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .cookie_provider(jar.clone());
        if !user_agent.is_empty() {
            b = b.user_agent(user_agent.to_string());
        }
        for h in [
            "auth.test",
            "bip.test",
            "nc.test",
            "down.test",
            "unknown.test",
        ] {
            b = b.resolve(h, addr);
        }
        Browser {
            t: self,
            client: b.build().expect("client"),
            jar,
        }
    }

    /// A browser signed in as `email` with the common password (the form answered 303).
    #[track_caller]
    pub fn signed_in(&self, email: &str) -> Browser<'_> {
        let b = self.browser();
        assert_eq!(b.login(email, PASSWORD).0, 303, "login {email}");
        b
    }

    /// Runs a future on the gateway's control runtime (where its pool lives).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.control.block_on(f)
    }

    /// The status of a GET through the gateway with `browser`'s cookies (no redirect followed).
    pub fn status(&self, browser: &Browser<'_>, host: &str, path: &str) -> u16 {
        browser
            .client
            .get(self.url(host, path))
            .send()
            .expect("request")
            .status()
            .as_u16()
    }

    /// The id of the structure whose short name is `short_name` (it must exist).
    pub fn structure_id(&self, short_name: &str) -> i64 {
        self.block_on(self.gw.dir.structure_by_name(short_name))
            .expect("query")
            .unwrap_or_else(|| panic!("structure {short_name} exists"))
            .id
    }

    /// The status and body of the portal's `/readyz`.
    pub fn readyz(&self) -> (u16, String) {
        let r = self
            .client(false)
            .get(self.url("auth.test", "/readyz"))
            .send()
            .expect("readyz");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    pub fn user_id(&self, email: &str) -> i64 {
        self.block_on(self.gw.dir.user_id_by_email(email))
            .expect("query")
            .expect("user exists")
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        let _ = self.stop.try_send(ShutdownSignal::FastShutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some((base, schema)) = self.pg_schema.take() {
            rt().block_on(async move {
                use sqlx::Executor;
                if let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(&base).await {
                    let _ = c
                        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                        .await;
                }
            });
        }
    }
}

/// A cookie-keeping client that follows redirects one by one, like a browser.
pub struct Browser<'a> {
    pub t: &'a TestGateway,
    pub client: Client,
    pub jar: Arc<reqwest::cookie::Jar>,
}

/// The claims of a JWT (the identity assertion), without checking its signature.
pub fn claims_of(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url payload"),
    )
    .expect("JSON claims")
}

pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let end = html[start..].find('"').expect("end of csrf value") + start;
    html[start..end].to_string()
}

pub fn absolute(base: &str, location: &str) -> String {
    let u = reqwest::Url::parse(base).expect("base url");
    u.join(location).expect("join").to_string()
}

/// Name of the handshake cookie on application hosts (plain HTTP).
pub const HANDSHAKE_COOKIE: &str = "convergences_handshake";

impl Browser<'_> {
    /// GET a portal page as a browser does (Accept: text/html, redirects followed).
    pub fn open(&self, path: &str) -> Page {
        self.open_url(&self.t.url("auth.test", path))
    }

    /// GET any address as a browser does (Accept: text/html, redirects followed).
    pub fn open_url(&self, url: &str) -> Page {
        Page::of(self.visit(url).0)
    }

    /// GET a portal page (Accept: text/html) without following a redirect.
    pub fn get_page(&self, path: &str) -> Page {
        Page::of(
            self.client
                .get(self.t.url("auth.test", path))
                .header("accept", "text/html")
                .send()
                .expect("get"),
        )
    }

    /// POSTs a form to the portal (urlencoded), without following the answer.
    pub fn submit(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Page::of(self.post(path, form))
    }

    /// POSTs a form to the portal as `multipart/form-data` (text `fields` and, when given, a
    /// file part `photo`), without following the answer.
    pub fn submit_multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        photo: Option<&[u8]>,
    ) -> Page {
        let (ct, body) = multipart(fields, photo);
        Page::of(
            self.client
                .post(self.t.url("auth.test", path))
                .header("content-type", ct)
                .body(body)
                .send()
                .expect("multipart post"),
        )
    }

    /// The first half of a handshake for application `app`, driven by hand as an application
    /// host would start it: returns the portal's answer to `/sso/authorize` (a redirect to the
    /// callback when logged in) and the `Cookie` header value the application host's browser
    /// must present at the callback.
    pub fn authorize(&self, app: &str, return_to: &str) -> (Response, String) {
        let handshake = convergences::auth::random_token();
        let hs = convergences::session::browser_binding(&handshake);
        let enc: String = form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        let r = self
            .client
            .get(self.t.url(
                "auth.test",
                &format!("/sso/authorize?app={app}&return_to={enc}&hs={hs}"),
            ))
            .send()
            .expect("authorize");
        (r, format!("{HANDSHAKE_COOKIE}={handshake}"))
    }

    /// The Cookie header this browser would send to `url`.
    pub fn cookies(&self, url: &str) -> String {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&reqwest::Url::parse(url).expect("url"))
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default()
    }

    /// GET with Accept: text/html, following redirects; returns the final response and its URL.
    pub fn visit(&self, url: &str) -> (Response, String) {
        let mut url = url.to_string();
        for _ in 0..10 {
            let r = self
                .client
                .get(&url)
                .header("accept", "text/html,application/xhtml+xml")
                .send()
                .expect("request");
            if r.status().is_redirection() {
                let loc = r.headers()["location"]
                    .to_str()
                    .expect("location")
                    .to_string();
                url = absolute(&url, &loc);
                continue;
            }
            return (r, url);
        }
        panic!("too many redirects from {url}");
    }

    /// The claims of the assertion application `host` (an echo upstream) receives now.
    pub fn assertion_claims(&self, host: &str) -> serde_json::Value {
        let echo = self.get_json(&self.t.url(host, "/"));
        claims_of(
            echo["headers"]["x-convergences-assertion"][0]
                .as_str()
                .expect("an assertion"),
        )
    }

    /// The store key of this browser's portal session.
    pub fn session_key(&self) -> convergences::session::SessionKey {
        let cookies = self.cookies(&self.t.url("auth.test", "/"));
        let token = cookies
            .split("; ")
            .find_map(|c| c.strip_prefix("convergences_session="))
            .expect("a session cookie");
        convergences::session::key_of(token)
    }

    /// This browser's portal session as the store holds it, if it has a live one.
    pub fn session_record(&self) -> Option<Arc<convergences::session::SessionRecord>> {
        let cookies = self.cookies(&self.t.url("auth.test", "/"));
        let token = cookies
            .split("; ")
            .find_map(|c| c.strip_prefix("convergences_session="))?
            .to_string();
        self.t
            .block_on(self.t.gw.sessions.resolve(&token))
            .expect("session store")
            .map(|l| l.record)
    }

    /// Makes this browser's last authentication `seconds` older, as time would.
    pub fn age_authentication(&self, seconds: i64) {
        let key = self.session_key();
        let changed = self
            .t
            .block_on(self.t.gw.sessions.modify(&key, |r| {
                r.assurance = r.assurance.or_password(r.created_at);
                r.assurance.auth_time -= seconds;
            }))
            .expect("session store");
        assert!(changed, "a live session");
    }

    /// The CSRF token of the portal page at `path`.
    pub fn csrf(&self, path: &str) -> String {
        let (page, url) = self.visit(&self.t.url("auth.test", path));
        csrf_of(&page.text().unwrap_or_else(|_| panic!("page {url}")))
    }

    /// POSTs a form to the portal, not following the answer.
    pub fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(self.t.url("auth.test", path))
            .form(form)
            .send()
            .expect("post")
    }

    pub fn get_json(&self, url: &str) -> serde_json::Value {
        let (r, _) = self.visit(url);
        assert_eq!(r.status(), 200, "GET {url}");
        r.json().expect("json body")
    }

    /// Logs in through the form; returns the status of the POST and its Location.
    pub fn login(&self, email: &str, password: &str) -> (u16, String) {
        self.login_with_return(email, password, "")
    }

    pub fn login_with_return(&self, email: &str, password: &str, return_to: &str) -> (u16, String) {
        let (page, _) = self.visit(&self.t.url("auth.test", "/login"));
        let csrf = csrf_of(&page.text().expect("login page"));
        let r = self
            .client
            .post(self.t.url("auth.test", "/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
                ("return_to", return_to),
            ])
            .send()
            .expect("login post");
        let status = r.status().as_u16();
        let loc = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        (status, loc)
    }

    /// Logs in through the form and returns the status and the page's error message (empty
    /// when there is none).
    pub fn login_message(&self, email: &str, password: &str) -> (u16, String) {
        let (page, _) = self.visit(&self.t.url("auth.test", "/login"));
        let csrf = csrf_of(&page.text().expect("login page"));
        let r = self
            .client
            .post(self.t.url("auth.test", "/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", password),
            ])
            .send()
            .expect("login post");
        let status = r.status().as_u16();
        let html = r.text().unwrap_or_default().replace("&#39;", "'");
        let message = html
            .split_once("id=\"login-error\">")
            .and_then(|(_, rest)| rest.split_once("</div>"))
            .map(|(m, _)| m.replace("<p>", "").replace("</p>", "").trim().to_string())
            .unwrap_or_default();
        (status, message)
    }

    pub fn logout(&self) {
        let (page, _) = self.visit(&self.t.url("auth.test", "/logout"));
        let html = page.text().expect("logout page");
        assert!(
            html.contains("Voulez-vous vraiment vous déconnecter ?"),
            "{html}"
        );
        let r = self
            .client
            .post(self.t.url("auth.test", "/logout"))
            .form(&[("csrf", csrf_of(&html).as_str())])
            .send()
            .expect("logout post");
        assert_eq!(r.status(), 303);
    }
}

/// A PNG of `w` × `h` black pixels.
pub fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = image::DynamicImage::new_rgb8(w, h);
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode png");
    out
}

/// A `multipart/form-data` body of text `fields` and, when given, a file part named `photo`;
/// returns the content type and the body, as a browser sends a form with a file input.
pub fn multipart(fields: &[(&str, &str)], photo: Option<&[u8]>) -> (String, Vec<u8>) {
    let boundary = "----convergences-test";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    // An empty file input still sends its part, without content.
    let (name, data) = match photo {
        Some(d) => ("p.png", d),
        None => ("", &[][..]),
    };
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The référent of "mairie-autre" (see [`add_other_mairie`]).
pub const OTHER_REFERENT: &str = "referent@mairie-autre.fr";

/// A second principal establishment, "mairie-autre", with its own référent, who is also
/// `administrateur` of BIP (so only the subtree rule stops them).
pub fn add_other_mairie(t: &TestGateway) -> (i64, i64) {
    t.block_on(async {
        let dir = &t.gw.dir;
        let s = dir
            .create_structure(convergences::directory::structures::NewStructure {
                parent_id: None,
                short_name: "mairie-autre",
                long_name: "Mairie Autre",
                domains: &["mairie-autre.fr"],
            })
            .await
            .unwrap();
        let u = dir
            .provision_user(convergences::directory::users::NewUser {
                email: OTHER_REFERENT,
                first_name: "Olivier",
                last_name: "Autre",
                structure_id: s,
                job_title: "",
                service: "",
                app_identifier: "",
                platform_admin: false,
                created_by: None,
            })
            .await
            .unwrap();
        let hash = convergences::auth::password::hash(PASSWORD.to_string())
            .await
            .unwrap();
        dir.set_password_hash(u, &hash).await.unwrap();
        dir.add_referent(u, s).await.unwrap();
        dir.assign_role(u, "bip", "administrateur", s, None)
            .await
            .unwrap();
        (s, u)
    })
}

/// Polls `f` until it returns true, for at most `limit`; returns how long it took. A failure
/// names the test's line, not this one.
#[track_caller]
pub fn within(limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A Redis of the test's own on a loopback port, to kill and start again: a real fault, never
/// the machine's own Redis. With a folder, it keeps an append-only file synced at every write
/// (`appendfsync always`), so a restart loses no session.
pub struct OwnRedis {
    pub port: u16,
    dir: Option<std::path::PathBuf>,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn start(port: u16) -> OwnRedis {
        Self::spawn(port, None)
    }

    /// Persistent in `dir` (the append-only file survives [`OwnRedis::stop`]).
    pub fn persistent(port: u16, dir: &std::path::Path) -> OwnRedis {
        Self::spawn(port, Some(dir.to_path_buf()))
    }

    fn spawn(port: u16, dir: Option<std::path::PathBuf>) -> OwnRedis {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match &dir {
            Some(d) => args.extend(
                ["--appendonly", "yes", "--appendfsync", "always", "--dir"]
                    .iter()
                    .map(|s| s.to_string())
                    .chain([d.display().to_string()]),
            ),
            None => args.extend(["--appendonly".to_string(), "no".to_string()]),
        }
        let child = std::process::Command::new("redis-server")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH (scripts/test.sh --services installs it)");
        let r = OwnRedis {
            port,
            dir,
            child: Some(child),
        };
        within(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): its port is closed at once.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (and folder).
    pub fn restart(&mut self) {
        self.stop();
        let again = Self::spawn(self.port, self.dir.clone());
        *self = again;
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A PostgreSQL server of the test's own (initdb in a temporary folder, a loopback port of its
/// own), to kill and start again; never the machine's own server. Run as the `postgres`
/// account when the tests run as root, since PostgreSQL refuses root.
pub struct OwnPostgres {
    pub port: u16,
    bin: std::path::PathBuf,
    data: tempfile::TempDir,
    running: bool,
    paused: bool,
}

/// `/usr/lib/postgresql/<newest>/bin`, or the folder of `pg_ctl` on PATH.
fn postgres_bin() -> Option<std::path::PathBuf> {
    let mut versions: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

/// uid and gid of the `postgres` account, from /etc/passwd.
fn postgres_account() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let f: Vec<&str> = line.split(':').collect();
    Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

impl OwnPostgres {
    /// `None` (with the reason printed) when PostgreSQL's programs are not installed.
    pub fn start() -> Option<OwnPostgres> {
        let Some(bin) = postgres_bin() else {
            eprintln!("skipped: PostgreSQL's programs (initdb, pg_ctl) are not installed");
            return None;
        };
        let data = tempfile::tempdir().expect("tempdir");
        let pg = OwnPostgres {
            port: free_port(),
            bin,
            data,
            running: false,
            paused: false,
        };
        if let Some((uid, gid)) = postgres_account().filter(|_| is_root()) {
            std::os::unix::fs::chown(pg.data.path(), Some(uid), Some(gid)).expect("chown");
        }
        let out = pg
            .command("initdb")
            .args([
                "-D",
                &pg.pgdata(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = pg;
        pg.restart();
        Some(pg)
    }

    fn pgdata(&self) -> String {
        self.data.path().join("pgdata").display().to_string()
    }

    fn command(&self, program: &str) -> std::process::Command {
        let mut c = std::process::Command::new(self.bin.join(program));
        if let Some((uid, gid)) = postgres_account().filter(|_| is_root()) {
            use std::os::unix::process::CommandExt;
            c.uid(uid).gid(gid);
        }
        c.current_dir(self.data.path());
        c
    }

    /// The server's URL, to give as `Options::database_url` (a schema is made per gateway).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Freezes the server and its backends (SIGSTOP): connections stay open and queries are
    /// never answered — a hung server or a network black hole, not a refused connection.
    pub fn pause(&mut self) {
        self.signal("-STOP");
        self.paused = true;
    }

    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.paused = false;
    }

    fn signal(&self, sig: &str) {
        let pid_file = self.data.path().join("pgdata").join("postmaster.pid");
        let pid = std::fs::read_to_string(pid_file).expect("postmaster.pid");
        let pid = pid
            .lines()
            .next()
            .expect("postmaster pid")
            .trim()
            .to_string();
        for (program, args) in [("pkill", vec![sig, "-P", &pid]), ("kill", vec![sig, &pid])] {
            let _ = std::process::Command::new(program).args(args).status();
        }
    }

    /// Kills the server (`pg_ctl stop -m immediate`: no clean shutdown, connections cut).
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        if self.paused {
            self.resume();
        }
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.pgdata(), "-m", "immediate", "-w", "stop"])
            .output();
        self.running = false;
    }

    /// Starts it (again) on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.data.path().display()
        );
        let log = self.data.path().join("server.log").display().to_string();
        let out = self
            .command("pg_ctl")
            .args([
                "-D",
                &self.pgdata(),
                "-l",
                &log,
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ])
            .output()
            .expect("pg_ctl start");
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        self.running = true;
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}
