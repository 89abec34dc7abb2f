//! Test helpers: [`TestApp`] starts a real cityx server (real router, real SQLite in a
//! temporary directory, a loopback port) and talks to it over HTTP, as clients do.
//! [`World`] seeds two stations and one user of every role, with a token each.
//!
//! Used by this crate's own integration tests (`tests/it`), which exercise the assembled
//! application; nothing in the product depends on this crate. Tests are silent unless
//! `TEST_LOG=1` is set. With `CITYX_TEST_APP_DATABASE=postgres` (and
//! `CITYX_TEST_POSTGRES_URL`), every server runs on a scratch PostgreSQL database instead of
//! SQLite; `scripts/test` runs the suite both ways. With `CITYX_TEST_APP_STORAGE=s3` (and
//! the `CITYX_TEST_S3_*` variables), objects go to a fresh prefix of the S3 test store. With
//! `CITYX_TEST_APP_QUEUE=nats` (and `CITYX_TEST_NATS_URL`), jobs travel through NATS
//! JetStream, on streams of the test's own.

pub mod nginx;

use cityx::server::{FirstAdmin, Running};
use cityx::settings::Settings;
use cityx_app::App;
use cityx_db::scratch::ScratchDb;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::{Arc, Once};
use std::time::Duration;

pub const ADMIN_EMAIL: &str = "admin@hub.test";
pub const ADMIN_PASSWORD: &str = "admin-password-1";
/// The password every seeded user gets.
pub const PASSWORD: &str = "station-password-1";

/// A running server for one test.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    running: Option<Running>,
    kept: Kept,
}

/// What a stopped server leaves behind, to start another on the same data.
pub struct Kept {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    scratch: Option<ScratchDb>,
}

impl Kept {
    /// Removes the data (the temporary directory goes when dropped).
    pub async fn cleanup(self) {
        if let Some(s) = self.scratch {
            s.drop_now().await;
        }
        if let Some(opts) = self.settings.bus_options()
            && let Ok(bus) = cityx_queue::bus::Bus::connect(opts).await
            && let Err(e) = bus.delete_streams().await
        {
            eprintln!("could not remove a test's streams: {e}");
        }
    }
}

/// A scratch PostgreSQL database when the environment asks for one.
async fn scratch_database() -> Option<ScratchDb> {
    if std::env::var("CITYX_TEST_APP_DATABASE").ok()?.as_str() != "postgres" {
        return None;
    }
    let server = std::env::var("CITYX_TEST_POSTGRES_URL")
        .expect("CITYX_TEST_APP_DATABASE=postgres needs CITYX_TEST_POSTGRES_URL");
    Some(
        ScratchDb::create(&server)
            .await
            .expect("create a scratch database"),
    )
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("debug,sqlx=info"))
                .with_test_writer()
                .try_init();
        }
    });
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after letting the test adjust the settings.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::default();
        settings.data.dir = dir.path().join("data");
        settings.server.listen = "127.0.0.1:0".into();
        let scratch = scratch_database().await;
        if let Some(s) = &scratch {
            settings.database.url = s.url.clone();
        }
        if std::env::var("CITYX_TEST_APP_STORAGE").is_ok_and(|v| v == "s3") {
            settings.storage = cityx_storage::testing::s3_store()
                .expect("CITYX_TEST_APP_STORAGE=s3 needs CITYX_TEST_S3_URL");
        }
        if std::env::var("CITYX_TEST_APP_QUEUE").is_ok_and(|v| v == "nats") {
            settings.queue.url = std::env::var("CITYX_TEST_NATS_URL")
                .expect("CITYX_TEST_APP_QUEUE=nats needs CITYX_TEST_NATS_URL");
            // Streams of their own: tests share the server.
            let id = uuid::Uuid::now_v7().simple().to_string();
            settings.queue.prefix = format!("t{}", &id[12..]);
        }
        adjust(&mut settings);
        settings.validate().expect("test settings are valid");
        let first = FirstAdmin {
            email: Some(ADMIN_EMAIL.into()),
            password: Some(ADMIN_PASSWORD.into()),
        };
        let running = cityx::server::start(&settings, &first)
            .await
            .expect("server starts");
        let base = format!("http://{}", running.addr);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut app = TestApp {
            base,
            http,
            admin_token: String::new(),
            running: Some(running),
            kept: Kept {
                dir,
                settings,
                scratch,
            },
        };
        app.admin_token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        app
    }

    pub fn app(&self) -> &Arc<App> {
        &self.running.as_ref().expect("running").app
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.kept.settings.data.dir.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Signs in through the API and returns the bearer token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/auth/token",
                None,
                Some(serde_json::json!({ "email": email, "password": password })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login of {email} failed: {body}");
        body["token"].as_str().expect("token").to_owned()
    }

    /// One JSON request; returns the status and the body (Null when empty or not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let res = self.send(method, path, token, body).await;
        let status = res.status();
        let text = res.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// An item of the token owner's station, uploaded whole with its creation request
    /// (tus creation-with-upload); returns its id.
    pub async fn small_item(&self, token: &str, body: &'static [u8]) -> String {
        // filename x.mp4
        self.upload_whole(token, "filename eC5tcDQ=".into(), body.to_vec())
            .await
    }

    /// An item of the token owner's station with the given metadata (`title`, `summary`,
    /// `city` … as `Upload-Metadata` keys), uploaded whole; its bytes are unique. Returns
    /// its id. With jobs off it stays `processing` until [`TestApp::finish_pending`].
    pub async fn item_with(&self, token: &str, meta: &[(&str, &str)]) -> String {
        let body = format!("{}:{meta:?}", uuid::Uuid::now_v7()).into_bytes();
        self.item_of_bytes(token, meta, body).await
    }

    /// Like [`TestApp::item_with`], with the master's bytes given: the same bytes twice make
    /// two items of the same file.
    pub async fn item_of_bytes(&self, token: &str, meta: &[(&str, &str)], body: Vec<u8>) -> String {
        use base64::Engine as _;
        let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
        let mut header = format!("filename {}", b64("clip.mp4"));
        for (k, v) in meta {
            header.push_str(&format!(",{k} {}", b64(v)));
        }
        self.upload_whole(token, header, body).await
    }

    /// tus creation-with-upload of the whole body; returns the new item's id.
    async fn upload_whole(&self, token: &str, metadata: String, body: Vec<u8>) -> String {
        let res = self
            .http
            .post(self.url("/api/v1/uploads"))
            .bearer_auth(token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", body.len().to_string())
            .header("upload-metadata", metadata)
            .header("content-type", "application/offset+octet-stream")
            .body(body)
            .send()
            .await
            .expect("upload");
        assert_eq!(res.status(), StatusCode::CREATED);
        res.headers()["cityx-asset-id"]
            .to_str()
            .expect("asset id")
            .to_owned()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Sets an item's rights (`PUT …/rights`) as `token`, which must be allowed to.
    pub async fn set_rights(&self, token: &str, id: &str, rights: Value) {
        let (s, b) = self
            .call(
                "PUT",
                &format!("/api/v1/assets/{id}/rights"),
                Some(token),
                Some(rights),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    /// Finishes every queued probe job as if the pipeline had made the item (a playlist, a
    /// poster and a proxy MP4 whose bytes are `proxy:<id>`) and passed its check: the items
    /// become `ready` through the same repository call as real processing. For servers
    /// started with jobs off.
    pub async fn finish_pending(&self) -> usize {
        let repo = self.app().repo();
        let mut n = 0;
        let mut looks = 0;
        loop {
            let lease = cityx_core::now() + time::Duration::minutes(5);
            let Some(job) = repo
                .claim_job(&["probe"], "testkit", lease)
                .await
                .expect("claim")
            else {
                // On PostgreSQL a claim passes over a row another transaction holds for a
                // moment (the bus's outbox relay marking it sent): look again before
                // concluding that nothing is left.
                looks += 1;
                if looks == 3 {
                    return n;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let asset = job.asset_id().expect("item job");
            self.app()
                .pipeline()
                .store_bytes(
                    asset,
                    "proxy.mp4",
                    format!("proxy:{asset}").into_bytes().into(),
                )
                .await
                .expect("proxy");
            let done = cityx_db::Processed {
                playback: "hls/master.m3u8".into(),
                derived_json: serde_json::json!({"proxy": "proxy.mp4", "poster": "poster.jpg"})
                    .to_string(),
                qc_json: serde_json::json!({"verdict": "pass"}).to_string(),
                qc_verdict: "pass".into(),
                rejection: None,
            };
            assert!(repo.finish_processing(&job, &done).await.expect("finish"));
            repo.finish_job(&job, &cityx_db::JobOutcome::Succeeded)
                .await
                .expect("job done");
            n += 1;
        }
    }

    /// Searches as `token` until `ready` accepts the answer (the index follows the database
    /// within about a second); returns that answer, or panics after 15 s.
    pub async fn search_until(
        &self,
        token: &str,
        query: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        self.get_until(&format!("/api/v1/search?{query}"), token, ready)
            .await
    }

    /// GETs `path` until the answer is 200 and `ready` (the search index follows the
    /// database within a second); fails after 15 s.
    pub async fn get_until(
        &self,
        path: &str,
        token: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (s, body) = self.get(path, token).await;
            assert_eq!(s, StatusCode::OK, "{body}");
            if ready(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} never gave the expected answer; last: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts a second node on this one's database and storage that runs only the jobs
    /// (`--role worker`), as a worker machine would.
    pub async fn start_worker(&self) -> Running {
        self.start_node(cityx::settings::Role::Worker).await
    }

    /// Starts another node with `role` on this one's database, storage, upload spool and
    /// settings, with a data directory of its own (its search index, its job folders).
    pub async fn start_node(&self, role: cityx::settings::Role) -> Running {
        self.start_node_with(role, |_| {}).await
    }

    /// [`TestApp::start_node`], after letting the test adjust the node's settings.
    pub async fn start_node_with(
        &self,
        role: cityx::settings::Role,
        adjust: impl FnOnce(&mut Settings),
    ) -> Running {
        let mut settings = self.kept.settings.clone();
        settings.database.url = settings.database_url();
        settings.storage.url = settings.storage_url();
        settings.uploads.spool_dir = settings.spool_dir();
        settings.data.dir = self
            .kept
            .dir
            .path()
            .join(format!("node-{}", uuid::Uuid::now_v7()));
        settings.server.role = role;
        settings.server.listen = "127.0.0.1:0".into();
        if role == cityx::settings::Role::Worker {
            settings.jobs.enabled = true;
        }
        adjust(&mut settings);
        settings.validate().expect("node settings are valid");
        cityx::server::start(&settings, &FirstAdmin::default())
            .await
            .expect("node starts")
    }

    /// The object store the server writes to (a directory, or the S3 test store).
    pub fn storage(&self) -> cityx_storage::Storage {
        let s = &self.kept.settings;
        cityx_storage::Storage::open(&s.store_options()).expect("open the object store")
    }

    /// The bytes of an item's master as stored; `None` when there is none.
    pub async fn master(&self, asset: &str) -> Option<Vec<u8>> {
        let key = cityx_storage::StorageKey::master(asset.parse().expect("asset id"));
        let storage = self.storage();
        let size = match storage.head(&key).await {
            Ok(info) => info.size,
            Err(e) if e.is_not_found() => return None,
            Err(e) => panic!("read {key}: {e}"),
        };
        let mut out = Vec::new();
        use futures_util::StreamExt;
        let mut chunks = storage.read_whole(&key, size).await.expect("read");
        while let Some(c) = chunks.next().await {
            out.extend_from_slice(&c.expect("chunk"));
        }
        Some(out)
    }

    /// How many objects an item has in storage.
    pub async fn objects_of(&self, asset: &str) -> u64 {
        let key = cityx_storage::StorageKey::asset_prefix(asset.parse().expect("asset id"));
        self.storage().count(&key).await.expect("count")
    }

    /// Whether nothing of an unfinished upload is left: no spool file, no upload tail.
    pub async fn spool_is_empty(&self) -> bool {
        let files = std::fs::read_dir(self.kept.settings.spool_dir())
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        let tails = self
            .storage()
            .count(&cityx_storage::StorageKey::all_uploads())
            .await
            .expect("count");
        files && tails == 0
    }

    /// Stops the server gracefully and removes its data.
    pub async fn stop(self) {
        self.stop_keeping_data().await.cleanup().await;
    }

    /// Stops the server gracefully and hands over its data and settings, so that a test
    /// can start another server on the same data.
    pub async fn stop_keeping_data(mut self) -> Kept {
        if let Some(r) = self.running.take() {
            r.shutdown(Duration::from_secs(5))
                .await
                .expect("graceful shutdown");
        }
        self.kept
    }
}

/// The Beijing day `offset` days from today, `YYYY-MM-DD`, as forms and the API take dates.
pub fn date_in(offset: i64) -> String {
    cityx_core::day::format(cityx_core::day::of(cityx_core::now()) + offset)
}

/// A seeded network: stations A and B, one user of every station role in each, two hub
/// users, and a full-scope token for each user.
pub struct World {
    pub a: Value,
    pub b: Value,
    pub users: Vec<Seeded>,
}

#[derive(Clone, Debug)]
pub struct Seeded {
    /// `hub_admin`, `hub_editor`, `station_admin@a`, `editor@b` …
    pub label: String,
    pub role: String,
    pub station: Option<String>,
    pub id: String,
    pub email: String,
    pub token: String,
}

impl World {
    pub async fn seed(app: &TestApp) -> World {
        let station = |code: &'static str, name: &'static str| {
            let body = serde_json::json!({ "name": name, "code": code, "city": "杭州", "province": "浙江", "region": "east" });
            async move {
                let (s, b) = app.post("/api/v1/stations", &app.admin_token, body).await;
                assert_eq!(s, StatusCode::CREATED, "{b}");
                b
            }
        };
        let a = station("sta", "甲电视台").await;
        let b = station("stb", "乙电视台").await;
        let mut users = Vec::new();
        let (_, me) = app.get("/api/v1/me", &app.admin_token).await;
        users.push(Seeded {
            label: "hub_admin".into(),
            role: "hub_admin".into(),
            station: None,
            id: me["user"]["id"].as_str().expect("id").into(),
            email: ADMIN_EMAIL.into(),
            token: app.admin_token.clone(),
        });
        let mut plan = vec![("hub_editor", None)];
        for s in [&a, &b] {
            for role in ["station_admin", "editor", "viewer"] {
                plan.push((role, Some(s)));
            }
        }
        for (role, st) in plan {
            let code = st.map(|s| s["code"].as_str().unwrap_or_default().to_owned());
            let label = match &code {
                Some(c) => format!("{role}@{}", &c[2..]),
                None => role.to_owned(),
            };
            let email = format!("{}@test.cn", label.replace('@', "."));
            let body = serde_json::json!({
                "email": email, "display_name": label, "role": role,
                "station_id": st.map(|s| s["id"].clone()), "password": PASSWORD,
            });
            let (s, created) = app.post("/api/v1/users", &app.admin_token, body).await;
            assert_eq!(s, StatusCode::CREATED, "{created}");
            let token = app.login(&email, PASSWORD).await;
            users.push(Seeded {
                label,
                role: role.into(),
                station: st.map(|s| s["id"].as_str().unwrap_or_default().to_owned()),
                id: created["user"]["id"].as_str().expect("id").into(),
                email,
                token,
            });
        }
        World { a, b, users }
    }

    pub fn user(&self, label: &str) -> &Seeded {
        self.users
            .iter()
            .find(|u| u.label == label)
            .unwrap_or_else(|| panic!("no seeded user {label}"))
    }

    pub fn id_a(&self) -> &str {
        self.a["id"].as_str().unwrap_or_default()
    }

    pub fn id_b(&self) -> &str {
        self.b["id"].as_str().unwrap_or_default()
    }
}
