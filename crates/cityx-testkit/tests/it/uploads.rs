//! tus 1.0.0 uploads through the real server.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use cityx_testkit::{TestApp, World};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// Deterministic test bytes.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub(crate) fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

struct Tus<'a> {
    app: &'a TestApp,
    token: String,
    /// Another node's address to talk to instead of the app's.
    node: Option<String>,
}

impl<'a> Tus<'a> {
    /// A tus client acting as one of the seeded users.
    fn of(app: &'a TestApp, w: &World, who: &str) -> Self {
        Tus {
            app,
            token: w.user(who).token.clone(),
            node: None,
        }
    }

    /// The same client, talking to the node at `addr`.
    fn via(&self, addr: std::net::SocketAddr) -> Tus<'a> {
        Tus {
            app: self.app,
            token: self.token.clone(),
            node: Some(format!("http://{addr}")),
        }
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = match &self.node {
            Some(base) => format!("{base}{path}"),
            None => self.app.url(path),
        };
        self.app
            .http
            .request(method, url)
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
    }

    async fn create(&self, length: u64, metadata: &str) -> Response {
        self.req(Method::POST, "/api/v1/uploads")
            .header("upload-length", length.to_string())
            .header("upload-metadata", metadata)
            .send()
            .await
            .expect("create")
    }

    /// Creates an upload and returns (its path, the asset id).
    async fn start(&self, length: u64) -> (String, String) {
        let res = self
            .create(
                length,
                &format!(
                    "filename {},title {}",
                    b64("暴雨 现场.mp4"),
                    b64("杭州暴雨")
                ),
            )
            .await;
        assert_eq!(res.status(), 201, "{:?}", res.text().await);
        let loc = res.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned();
        let asset = res.headers()["cityx-asset-id"]
            .to_str()
            .expect("asset")
            .to_owned();
        assert_eq!(res.headers()["tus-resumable"], "1.0.0");
        (loc, asset)
    }

    /// Uploads `body` whole (one creation, one PATCH); returns the asset id.
    async fn upload(&self, body: Vec<u8>) -> String {
        let (path, asset) = self.start(body.len() as u64).await;
        assert_eq!(self.patch(&path, 0, body, None).await.status(), 204);
        asset
    }

    async fn patch(
        &self,
        path: &str,
        offset: u64,
        body: Vec<u8>,
        checksum: Option<String>,
    ) -> Response {
        let mut r = self
            .req(Method::PATCH, path)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string());
        if let Some(c) = checksum {
            r = r.header("upload-checksum", c);
        }
        r.body(body).send().await.expect("patch")
    }

    async fn offset(&self, path: &str) -> (StatusCode, Option<u64>) {
        let res = self.req(Method::HEAD, path).send().await.expect("head");
        let off = res
            .headers()
            .get("upload-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        (res.status(), off)
    }

    async fn asset(&self, id: &str) -> (StatusCode, Value) {
        self.app
            .get(&format!("/api/v1/assets/{id}"), &self.token)
            .await
    }
}

/// Sets a station's quota as the hub admin does.
async fn set_quota(app: &TestApp, station: cityx_core::StationId, bytes: u64) {
    let (s, b) = app
        .call(
            "PUT",
            &format!("/api/v1/stations/{station}/quota"),
            Some(&app.admin_token),
            Some(serde_json::json!({ "quota_bytes": bytes })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["own_quota_bytes"], bytes);
}

fn code(v: &str) -> String {
    serde_json::from_str::<Value>(v)
        .map(|b| b["error"]["code"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

async fn status_and_code(res: Response) -> (u16, String) {
    let s = res.status().as_u16();
    (s, code(&res.text().await.unwrap_or_default()))
}

#[tokio::test]
async fn the_server_describes_itself() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .request(Method::OPTIONS, app.url("/api/v1/uploads"))
        .send()
        .await
        .expect("options");
    assert_eq!(res.status(), 204);
    let h = res.headers();
    assert_eq!(h["tus-version"], "1.0.0");
    assert_eq!(h["tus-resumable"], "1.0.0");
    let ext = h["tus-extension"].to_str().expect("ext");
    for e in [
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    ] {
        assert!(ext.split(',').any(|x| x == e), "{e} in {ext}");
    }
    assert_eq!(h["tus-max-size"], "53687091200");
    assert_eq!(h["tus-checksum-algorithm"], "sha1,md5,sha256");
    app.stop().await;
}

#[tokio::test]
async fn an_upload_in_chunks_with_checksums_becomes_an_item() {
    // Jobs off: these random bytes would fail their probe, and a failed item is no longer
    // "processing" nor a live original for the duplicate check below (a race otherwise).
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let data = bytes(3 * 1024 * 1024 + 17, 1);
    let (path, asset) = tus.start(data.len() as u64).await;
    assert_eq!(tus.offset(&path).await, (StatusCode::OK, Some(0)));
    let (_, a) = tus.asset(&asset).await;
    assert_eq!(
        (
            a["status"].as_str(),
            a["title"].as_str(),
            a["filename"].as_str()
        ),
        (Some("uploading"), Some("杭州暴雨"), Some("暴雨 现场.mp4"))
    );

    let first = &data[..1024 * 1024];
    let sum = format!("sha256 {}", B64.encode(Sha256::digest(first)));
    let res = tus.patch(&path, 0, first.to_vec(), Some(sum)).await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["upload-offset"], "1048576");
    assert!(res.headers().contains_key("upload-expires"));

    // A chunk that fails its checksum is not kept.
    let second = &data[1024 * 1024..2 * 1024 * 1024];
    let wrong = format!("md5 {}", B64.encode([0u8; 16]));
    assert_eq!(
        status_and_code(
            tus.patch(&path, 1024 * 1024, second.to_vec(), Some(wrong))
                .await
        )
        .await,
        (460, "checksum_mismatch".into())
    );
    assert_eq!(tus.offset(&path).await.1, Some(1024 * 1024));
    let unknown = format!("crc32 {}", B64.encode([0u8; 4]));
    assert_eq!(
        status_and_code(
            tus.patch(&path, 1024 * 1024, second.to_vec(), Some(unknown))
                .await
        )
        .await,
        (400, "checksum_algorithm_unsupported".into())
    );
    // A wrong offset is refused with 409, a wrong content type with 415.
    assert_eq!(
        status_and_code(tus.patch(&path, 5, second.to_vec(), None).await).await,
        (409, "offset_mismatch".into())
    );
    let res = tus
        .req(Method::PATCH, &path)
        .header("upload-offset", "1048576")
        .header("content-type", "application/octet-stream")
        .body(second.to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(
        status_and_code(res).await,
        (415, "unsupported_media_type".into())
    );
    // More than the upload's length: refused whole.
    let mut too_much = data[1024 * 1024..].to_vec();
    too_much.extend_from_slice(b"extra");
    assert_eq!(
        status_and_code(tus.patch(&path, 1024 * 1024, too_much, None).await).await,
        (413, "upload_overflow".into())
    );
    assert_eq!(tus.offset(&path).await.1, Some(1024 * 1024));

    let rest = data[1024 * 1024..].to_vec();
    let sum = format!("sha1 {}", B64.encode(sha1_digest(&rest)));
    let res = tus.patch(&path, 1024 * 1024, rest, Some(sum)).await;
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["upload-offset"], data.len().to_string());

    let (s, a) = tus.asset(&asset).await;
    assert_eq!(s, 200);
    assert_eq!(a["status"], "processing");
    assert_eq!(a["sha256"], sha256_hex(&data));
    assert_eq!(a["md5"].as_str().map(str::len), Some(32));
    assert_eq!(a["size_bytes"], data.len());
    assert_eq!(a["jobs"][0]["kind"], "probe");
    // Enqueued with the item.
    assert!(
        matches!(
            a["jobs"][0]["state"].as_str(),
            Some("queued" | "running" | "dead")
        ),
        "{a}"
    );
    assert!(
        app.master(&asset).await.expect("master stored") == data,
        "the master holds the bytes sent"
    );
    assert!(app.spool_is_empty().await, "spool emptied");
    // Completed: further bytes are refused.
    assert_eq!(
        tus.patch(&path, data.len() as u64, b"x".to_vec(), None)
            .await
            .status(),
        413
    );

    // The same bytes again: flagged as an exact duplicate of the first item.
    let (path2, asset2) = tus.start(data.len() as u64).await;
    assert_eq!(tus.patch(&path2, 0, data.clone(), None).await.status(), 204);
    assert_eq!(
        tus.asset(&asset2).await.1["duplicate_of"],
        Value::String(asset.clone())
    );

    // Station B sees nothing of it.
    let other = Tus::of(&app, &w, "editor@b");
    assert_eq!(other.offset(&path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(other.asset(&asset).await.0, 404);
    app.stop().await;
}

fn sha1_digest(b: &[u8]) -> Vec<u8> {
    use sha1::Digest as _;
    sha1::Sha1::digest(b).to_vec()
}

#[tokio::test]
async fn bad_creations_are_refused_and_create_nothing() {
    let app = TestApp::spawn_with(|s| s.uploads.max_size = 1000).await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let meta = format!("filename {}", b64("a.mp4"));
    let no_version = app
        .http
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&tus.token)
        .header("upload-length", "10")
        .send()
        .await
        .expect("post");
    assert_eq!(
        status_and_code(no_version).await,
        (412, "tus_version_unsupported".into())
    );
    let no_length = tus
        .req(Method::POST, "/api/v1/uploads")
        .header("upload-metadata", &meta)
        .send()
        .await
        .expect("post");
    assert_eq!(
        status_and_code(no_length).await,
        (400, "invalid_upload_header".into())
    );
    let res = tus
        .req(Method::POST, "/api/v1/uploads")
        .header("upload-length", "-1")
        .send()
        .await
        .expect("post");
    assert_eq!(
        status_and_code(res).await,
        (400, "invalid_upload_header".into())
    );
    assert_eq!(
        status_and_code(tus.create(1001, &meta).await).await,
        (413, "upload_too_large".into())
    );
    // Concatenation is not offered, so it is refused rather than ignored.
    let concat = tus
        .req(Method::POST, "/api/v1/uploads")
        .header("upload-length", "10")
        .header("upload-metadata", &meta)
        .header("upload-concat", "partial")
        .send()
        .await
        .expect("post");
    assert_eq!(
        status_and_code(concat).await,
        (400, "invalid_upload_header".into())
    );
    assert_eq!(
        status_and_code(tus.create(10, "filename !!notbase64").await).await,
        (400, "invalid_upload_header".into())
    );
    assert_eq!(
        status_and_code(tus.create(10, "").await).await,
        (422, "validation_failed".into()),
        "filename is required"
    );
    let bad_date = format!("filename {},shot_date {}", b64("a.mp4"), b64("昨天"));
    assert_eq!(
        status_and_code(tus.create(10, &bad_date).await).await,
        (422, "validation_failed".into())
    );
    for who in ["viewer@a", "hub_admin", "hub_editor"] {
        let t = Tus::of(&app, &w, who);
        assert_eq!(
            status_and_code(t.create(10, &meta).await).await,
            (403, "forbidden".into()),
            "{who}"
        );
    }
    assert!(app.spool_is_empty().await, "no spool files left");

    // Quotas are reserved at creation.
    let station = w.id_a().parse().expect("id");
    set_quota(&app, station, 1500).await;
    assert_eq!(tus.create(1000, &meta).await.status(), 201);
    assert_eq!(
        status_and_code(tus.create(600, &meta).await).await,
        (413, "quota_exceeded".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn creation_with_upload_and_empty_files() {
    // Jobs off: the empty file's probe would fail it, racing the "processing" check below.
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "station_admin@a");
    let data = bytes(5000, 9);
    let res = tus
        .req(Method::POST, "/api/v1/uploads")
        .header("upload-length", "5000")
        .header("upload-metadata", format!("filename {}", b64("x.mov")))
        .header("content-type", "application/offset+octet-stream")
        .body(data[..3000].to_vec())
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["upload-offset"], "3000");
    let path = res.headers()["location"].to_str().expect("loc").to_owned();
    assert_eq!(
        tus.patch(&path, 3000, data[3000..].to_vec(), None)
            .await
            .status(),
        204
    );
    // A finished upload is not terminated: its item exists, and the answer says so.
    let res = tus.req(Method::DELETE, &path).send().await.expect("delete");
    assert_eq!(status_and_code(res).await, (409, "upload_complete".into()));

    // An empty file is complete at once (its probe rejects it with a reason; see the evil
    // corpus).
    let res = tus
        .req(Method::POST, "/api/v1/uploads")
        .header("upload-length", "0")
        .header("upload-metadata", format!("filename {}", b64("empty.mp4")))
        .header("content-type", "application/offset+octet-stream")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 201);
    let asset = res.headers()["cityx-asset-id"]
        .to_str()
        .expect("asset")
        .to_owned();
    let (_, a) = tus.asset(&asset).await;
    assert_eq!(
        (a["status"].as_str(), a["sha256"].as_str()),
        (Some("processing"), Some(sha256_hex(b"").as_str()))
    );
    app.stop().await;
}

/// Sends the headers and part of a PATCH body over a raw connection, leaving it open.
async fn partial_patch(
    app: &TestApp,
    token: &str,
    path: &str,
    offset: u64,
    total: usize,
    part: &[u8],
) -> tokio::net::TcpStream {
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\nContent-Length: {total}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("headers");
    s.write_all(part).await.expect("part");
    s.flush().await.expect("flush");
    s
}

/// The start of the answer to a request sent by hand (its status line and headers).
async fn answer_of(s: &mut tokio::net::TcpStream) -> String {
    let mut answer = vec![0u8; 1024];
    let n = s.read(&mut answer).await.expect("answer");
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

async fn wait_for_offset(tus: &Tus<'_>, path: &str, want: u64) {
    for _ in 0..200 {
        if tus.offset(path).await.1 == Some(want) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("offset never reached {want}: {:?}", tus.offset(path).await);
}

#[tokio::test]
async fn one_writer_at_a_time_and_broken_connections_keep_what_arrived() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let token = w.user("editor@a").token.clone();
    let tus = Tus {
        app: &app,
        token: token.clone(),
        node: None,
    };
    let data = bytes(400_000, 3);
    let (path, asset) = tus.start(data.len() as u64).await;

    // A slow PATCH holds the upload; a second one is told it is locked.
    let mut slow = partial_patch(&app, &token, &path, 0, 100_000, &data[..50_000]).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        status_and_code(tus.patch(&path, 0, data[..10].to_vec(), None).await).await,
        (423, "upload_locked".into())
    );
    slow.write_all(&data[50_000..100_000]).await.expect("rest");
    let answer = answer_of(&mut slow).await;
    assert!(
        answer.starts_with("HTTP/1.1 204")
            && answer.to_lowercase().contains("upload-offset: 100000"),
        "{answer}"
    );

    // The connection drops part way: what arrived is kept and the upload resumes from it.
    let broken = partial_patch(
        &app,
        &token,
        &path,
        100_000,
        300_000,
        &data[100_000..250_000],
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(broken);
    wait_for_offset(&tus, &path, 250_000).await;
    assert_eq!(
        tus.patch(&path, 250_000, data[250_000..].to_vec(), None)
            .await
            .status(),
        204
    );
    let (_, a) = tus.asset(&asset).await;
    assert_eq!(
        a["sha256"],
        sha256_hex(&data),
        "hashes survive a broken connection"
    );
    app.stop().await;
}

#[tokio::test]
async fn many_uploads_at_once_all_complete() {
    // Jobs off: the uploads' own transactions are what contend for the database.
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let one = |i: u8| {
        let tus = &tus;
        async move {
            let data = bytes(400_000, i);
            let (path, asset) = tus.start(data.len() as u64).await;
            for (n, piece) in data.chunks(100_000).enumerate() {
                let res = tus
                    .patch(&path, (n * 100_000) as u64, piece.to_vec(), None)
                    .await;
                assert_eq!(res.status(), 204, "{:?}", res.text().await);
            }
            (asset, sha256_hex(&data))
        }
    };
    let done = futures_util::future::join_all((0..40).map(one)).await;
    for (asset, sha) in done {
        let (status, a) = tus.asset(&asset).await;
        assert_eq!(status, 200);
        assert_eq!(a["sha256"], sha.as_str());
    }
}

#[tokio::test]
async fn uploads_resume_after_a_restart() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let data = bytes(2_000_000, 5);
    let (path, asset) = tus.start(data.len() as u64).await;
    assert_eq!(
        tus.patch(&path, 0, data[..700_000].to_vec(), None)
            .await
            .status(),
        204
    );
    let token = tus.token.clone();
    drop(tus);
    let kept = app.stop_keeping_data().await;

    let running = cityx::server::start(&kept.settings, &Default::default())
        .await
        .expect("restart");
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let head = http
        .head(format!("{base}{path}"))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .expect("head");
    assert_eq!(
        head.headers()["upload-offset"],
        "700000",
        "the offset survived the restart"
    );
    let res = http
        .patch(format!("{base}{path}"))
        .bearer_auth(&token)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", "700000")
        .body(data[700_000..].to_vec())
        .send()
        .await
        .expect("patch");
    assert_eq!(res.status(), 204);
    let a: Value = http
        .get(format!("{base}/api/v1/assets/{asset}"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        a["sha256"],
        sha256_hex(&data),
        "hashes continued from what was saved before the restart"
    );
    running
        .shutdown(std::time::Duration::from_secs(5))
        .await
        .expect("stop");
    kept.cleanup().await;
}

#[tokio::test]
async fn terminated_and_expired_uploads_are_gone() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let (path, asset) = tus.start(1000).await;
    assert_eq!(tus.patch(&path, 0, bytes(100, 1), None).await.status(), 204);
    let other = Tus::of(&app, &w, "editor@b");
    assert_eq!(
        other
            .req(Method::DELETE, &path)
            .send()
            .await
            .expect("delete")
            .status(),
        404
    );
    assert_eq!(
        tus.req(Method::DELETE, &path)
            .send()
            .await
            .expect("delete")
            .status(),
        204
    );
    assert_eq!(tus.offset(&path).await.0, StatusCode::GONE);
    assert_eq!(
        status_and_code(tus.patch(&path, 100, bytes(10, 1), None).await).await,
        (410, "upload_gone".into())
    );
    assert_eq!(tus.asset(&asset).await.0, 404);

    // Expiry: the janitor ends an upload whose time has passed and frees its spool file.
    let (path, asset) = tus.start(1000).await;
    assert_eq!(tus.patch(&path, 0, bytes(10, 1), None).await.status(), 204);
    let id: cityx_core::UploadId = path.rsplit('/').next().expect("id").parse().expect("uuid");
    let past = cityx_core::now() - time::Duration::minutes(1);
    let repo = app.app().repo();
    let now = cityx_core::now();
    // A lease that has already run out, to write the expiry under.
    let (at, saved) = repo
        .lease_upload(id, "test", now, now)
        .await
        .expect("lease")
        .expect("free");
    assert!(
        repo.advance_upload(id, "test", at, at, past, &saved)
            .await
            .expect("age it")
    );
    assert_eq!(
        app.app().ingest().tidy_uploads().await.expect("tidy"),
        (1, 0)
    );
    assert_eq!(tus.offset(&path).await.0, StatusCode::GONE);
    assert_eq!(tus.asset(&asset).await.0, 404);
    assert!(app.spool_is_empty().await);
    let (_, audit) = app
        .get("/api/v1/audit?action=upload_terminated", &app.admin_token)
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(2));
    app.stop().await;
}

/// Polls an item until its first job settles (or 60 s pass).
async fn settled(tus: &Tus<'_>, asset: &str) -> Value {
    for _ in 0..600 {
        let (_, a) = tus.asset(asset).await;
        let state = a["jobs"][0]["state"].as_str().unwrap_or("");
        if state == "succeeded" || state == "dead" {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the probe job never settled: {:?}", tus.asset(asset).await);
}

#[tokio::test]
async fn uploaded_media_is_probed_and_bad_files_fail_with_a_reason() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let asset = tus.upload(clip("320x240", 2)).await;
    let a = settled(&tus, &asset).await;
    assert_eq!(a["jobs"][0]["state"], "succeeded", "{a}");
    assert_eq!(
        a["jobs"][1]["kind"], "transcode",
        "the probe enqueues the transcode: {a}"
    );
    let first = asset.clone();
    let tech = &a["technical"];
    assert_eq!(
        (
            tech["video"]["codec"].as_str(),
            tech["video"]["width"].as_u64()
        ),
        (Some("h264"), Some(320))
    );
    assert_eq!(tech["audio"]["codec"], "aac");
    assert!(
        (tech["duration_s"].as_f64().unwrap_or(0.0) - 2.0).abs() < 0.2,
        "{tech}"
    );

    // Not media: the item fails, and says why.
    let text = "这不是视频。\n".repeat(200).into_bytes();
    let (path, asset) = tus.start(text.len() as u64).await;
    assert_eq!(tus.patch(&path, 0, text, None).await.status(), 204);
    let a = settled(&tus, &asset).await;
    assert_eq!(
        (a["jobs"][0]["state"].as_str(), a["status"].as_str()),
        (Some("dead"), Some("failed")),
        "{a}"
    );
    assert_eq!(
        a["jobs"][0]["attempts"], 1,
        "a file that is not media is not retried"
    );
    let reason = a["failure"].as_str().unwrap_or("");
    assert!(reason.contains("not a media file"), "{reason}");
    processed(&tus, &first).await;
    assert!(
        std::fs::read_dir(app.data_dir().join("work"))
            .map(|mut d| d.next().is_none())
            .unwrap_or(true),
        "work directories are removed"
    );
    app.stop().await;
}

#[tokio::test]
async fn slow_upload_bodies_outlast_the_request_time_limit() {
    let app = TestApp::spawn_with(|s| s.server.request_timeout_secs = 1).await;
    let w = World::seed(&app).await;
    let token = w.user("editor@a").token.clone();
    let tus = Tus {
        app: &app,
        token: token.clone(),
        node: None,
    };
    let data = bytes(30_000, 2);
    let (path, asset) = tus.start(data.len() as u64).await;
    // 3 s for the body, three times the request limit, but never idle for long.
    let mut s = partial_patch(&app, &token, &path, 0, data.len(), &data[..10_000]).await;
    for part in data[10_000..].chunks(10_000) {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        s.write_all(part).await.expect("write");
    }
    let answer = answer_of(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(tus.asset(&asset).await.1["sha256"], sha256_hex(&data));
    // Other routes keep the limit.
    let (s, _) = app.get("/api/v1/me", &token).await;
    assert_eq!(s, 200);
    app.stop().await;
}

/// Polls an item until processing ends (or 120 s pass).
async fn processed(tus: &Tus<'_>, asset: &str) -> Value {
    for _ in 0..1200 {
        let (_, a) = tus.asset(asset).await;
        // A job gives its item its verdict first and records its own end a moment later.
        let ending = a["jobs"]
            .as_array()
            .is_some_and(|jobs| jobs.iter().any(|j| j["state"] == "running"));
        if !matches!(a["status"].as_str(), Some("uploading" | "processing")) && !ending {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("processing never ended: {:?}", tus.asset(asset).await);
}

#[tokio::test]
async fn an_api_node_leaves_the_jobs_to_a_worker_node() {
    let app = TestApp::spawn_with(|s| s.server.role = cityx::settings::Role::Api).await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let id = tus.upload(clip("320x240", 2)).await;
    // The API node enqueues the probe and runs nothing.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, a) = tus.asset(&id).await;
    assert_eq!(a["status"], "processing", "{a}");
    assert_eq!(a["jobs"][0]["state"], "queued", "{a}");

    let worker = app.start_worker().await;
    let at = |path: &str| format!("http://{}{path}", worker.addr);
    for path in ["/healthz", "/readyz", "/metrics"] {
        let res = app.http.get(at(path)).send().await.expect("get");
        assert_eq!(res.status(), 200, "{path}");
    }
    // A worker serves no API and no pages.
    let res = app
        .http
        .get(at("/api/v1/stations"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");

    let done = processed(&tus, &id).await;
    assert_eq!(done["status"], "ready", "{done}");
    let kinds: Vec<&str> = done["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["state"].as_str())
        .collect();
    assert!(kinds.iter().all(|s| *s == "succeeded"), "{done}");
    worker
        .shutdown(std::time::Duration::from_secs(5))
        .await
        .expect("worker stops");
    app.stop().await;
}

/// Two API nodes on one database and one store (S3 in CI's second run): the PATCHes of
/// one upload go to either node in turn, one writer at a time across both, and a writer
/// that vanished with its node holds the upload only until its lease runs out.
#[tokio::test]
async fn a_resumed_upload_may_land_on_any_node() {
    let app = TestApp::spawn_with(|s| {
        s.jobs.enabled = false;
        s.uploads.lease = std::time::Duration::from_secs(1);
    })
    .await;
    let other = app.start_node(cityx::settings::Role::Api).await;
    let w = World::seed(&app).await;
    let token = w.user("editor@a").token.clone();
    let nodes = [
        Tus::of(&app, &w, "editor@a"),
        Tus::of(&app, &w, "editor@a").via(other.addr),
    ];
    const MIB: usize = 1 << 20;
    // More than two parts of a multipart upload, with pieces that do not line up with them.
    let data = bytes(19 * MIB + 7, 5);
    let (path, asset) = nodes[0].start(data.len() as u64).await;
    // (node, from, to, the checksum matches)
    let pieces = [
        (1, 0, 5 * MIB, true),
        (0, 5 * MIB, 12 * MIB, true),
        (1, 12 * MIB, 14 * MIB, false),
        (1, 12 * MIB, 15 * MIB, true),
        (0, 15 * MIB, data.len(), true),
    ];
    for (node, from, to, good) in pieces {
        let piece = &data[from..to];
        let sum = Sha256::digest(if good { piece } else { b"other bytes" });
        let res = nodes[node]
            .patch(
                &path,
                from as u64,
                piece.to_vec(),
                Some(format!("sha256 {}", B64.encode(sum))),
            )
            .await;
        let expected = if good { to } else { from };
        if good {
            assert_eq!(res.status(), 204, "{from}..{to}");
        } else {
            assert_eq!(
                status_and_code(res).await,
                (460, "checksum_mismatch".into())
            );
        }
        for tus in &nodes {
            assert_eq!(
                tus.offset(&path).await.1,
                Some(expected as u64),
                "both nodes agree"
            );
        }
    }
    let (_, a) = nodes[1].asset(&asset).await;
    assert_eq!(a["sha256"], sha256_hex(&data), "{a}");
    assert_eq!(a["status"], "processing", "{a}");

    // A slow PATCH through one node holds the upload against the other.
    let small = bytes(300_000, 9);
    let (path, small_asset) = nodes[0].start(small.len() as u64).await;
    let mut slow = partial_patch(&app, &token, &path, 0, 100_000, &small[..60_000]).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        status_and_code(nodes[1].patch(&path, 0, small[..10].to_vec(), None).await).await,
        (423, "upload_locked".into())
    );
    slow.write_all(&small[60_000..100_000]).await.expect("rest");
    let answer = answer_of(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(nodes[1].offset(&path).await.1, Some(100_000));

    // A node dies while it writes: its lease keeps the others out until it runs out.
    let id: cityx_core::UploadId = path.rsplit('/').next().expect("id").parse().expect("uuid");
    let now = cityx_core::now();
    let held = app
        .app()
        .repo()
        .lease_upload(
            id,
            "a node that died",
            now,
            now + time::Duration::seconds(1),
        )
        .await
        .expect("lease");
    assert!(held.is_some());
    assert_eq!(
        status_and_code(
            nodes[1]
                .patch(&path, 100_000, small[100_000..].to_vec(), None)
                .await
        )
        .await,
        (423, "upload_locked".into())
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        nodes[1]
            .patch(&path, 100_000, small[100_000..].to_vec(), None)
            .await
            .status(),
        204
    );
    let (_, a) = nodes[0].asset(&small_asset).await;
    assert_eq!(a["sha256"], sha256_hex(&small), "{a}");
    other
        .shutdown(std::time::Duration::from_secs(5))
        .await
        .expect("the other node stops");
    app.stop().await;
}

/// An H.264/AAC test clip's bytes.
fn clip(size: &str, seconds: u32) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("clip.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={size}:rate=25:duration={seconds}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=duration={seconds}:sample_rate=48000"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg")
        .success();
    assert!(ok);
    std::fs::read(&path).expect("clip")
}

#[tokio::test]
async fn items_become_playable_with_a_ladder_images_and_a_qc_report() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let asset = tus.upload(clip("640x360", 9)).await;
    let a = processed(&tus, &asset).await;
    assert_eq!(a["status"], "ready", "{a}");
    let jobs: Vec<(&str, &str)> = a["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            (
                j["kind"].as_str().unwrap_or(""),
                j["state"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(jobs, [("probe", "succeeded"), ("transcode", "succeeded")]);
    assert_eq!(a["playback"], "hls/master.m3u8");
    assert_eq!(a["derived"]["renditions"][0]["name"], "360p", "{a}");
    // A 360p clip warns (not HD) but passes on to the exchange.
    assert_eq!(a["qc"]["verdict"], "warn", "{a}");
    assert!(
        a["qc"]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["check"] == "resolution")
    );
    assert!(
        a["qc"]["measurements"]["loudness_lufs"].as_f64().is_some(),
        "{a}"
    );

    let file = |p: &str| {
        app.http
            .get(app.url(&format!("/api/v1/assets/{asset}/files/{p}")))
            .bearer_auth(&tus.token)
    };
    let res = file("hls/master.m3u8").send().await.expect("master");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(res.headers()["cache-control"], "private, no-cache");
    let master = res.text().await.expect("text");
    assert!(
        master.contains("RESOLUTION=640x360") && master.contains("360p/index.m3u8"),
        "{master}"
    );
    let media = file("hls/360p/index.m3u8")
        .send()
        .await
        .expect("media")
        .text()
        .await
        .expect("text");
    let listed = cityx_media::hls::parse_media_playlist(&media);
    assert!(listed.ended && listed.segments.len() == 3, "{media}");
    // The fast path's copy exists too (H.264 + AAC masters play before the ladder is made).
    assert_eq!(
        file("hls/fast/index.m3u8")
            .send()
            .await
            .expect("fast")
            .status(),
        200
    );

    // Segments: immutable, validated, ranged.
    let seg_path = format!("hls/360p/{}", listed.segments[0].0);
    let res = file(&seg_path).send().await.expect("segment");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "video/mp2t");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap_or("")
            .contains("immutable")
    );
    assert_eq!(res.headers()["accept-ranges"], "bytes");
    let etag = res.headers()["etag"].to_str().expect("etag").to_owned();
    let whole = res.bytes().await.expect("bytes");
    assert!(
        whole.len() > 1000 && whole[0] == 0x47,
        "an MPEG-TS sync byte"
    );
    let res = file(&seg_path)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(res.status(), 206);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes 100-199/{}", whole.len()).as_str()
    );
    assert_eq!(res.bytes().await.expect("part"), whole.slice(100..200));
    let res = file(&seg_path)
        .header("range", "bytes=-10")
        .send()
        .await
        .expect("suffix");
    assert_eq!(
        res.bytes().await.expect("tail"),
        whole.slice(whole.len() - 10..)
    );
    let res = file(&seg_path)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("304");
    assert_eq!(res.status(), 304);
    let res = file(&seg_path)
        .header("range", "bytes=0-9")
        .header("if-range", "\"stale\"")
        .send()
        .await
        .expect("if-range");
    assert_eq!(res.status(), 200, "a stale If-Range gets the whole file");
    let res = file(&seg_path)
        .header("range", format!("bytes={}-", whole.len()))
        .send()
        .await
        .expect("416");
    assert_eq!(res.status(), 416);
    assert_eq!(
        res.headers()["content-range"],
        format!("bytes */{}", whole.len()).as_str()
    );
    assert_eq!(
        status_and_code(res).await,
        (416, "range_not_satisfiable".to_owned())
    );
    let res = app
        .http
        .head(app.url(&format!("/api/v1/assets/{asset}/files/{seg_path}")))
        .bearer_auth(&tus.token)
        .send()
        .await
        .expect("head");
    assert_eq!(
        (
            res.status().as_u16(),
            res.headers()["content-length"].to_str().ok()
        ),
        (200, Some(whole.len().to_string().as_str()))
    );

    // Images, proxy and the storyboard.
    let res = file("poster.jpg").send().await.expect("poster");
    assert_eq!(
        (
            res.status().as_u16(),
            res.headers()["content-type"].to_str().ok()
        ),
        (200, Some("image/jpeg"))
    );
    let res = file("proxy.mp4")
        .header("range", "bytes=0-7")
        .send()
        .await
        .expect("proxy");
    assert_eq!(res.status(), 206);
    assert_eq!(&res.bytes().await.expect("head")[4..8], b"ftyp");
    let vtt = file("storyboard/storyboard.vtt")
        .send()
        .await
        .expect("vtt")
        .text()
        .await
        .expect("text");
    assert!(
        vtt.starts_with("WEBVTT") && vtt.contains("sb_001.jpg#xywh=0,0,160,90"),
        "{vtt}"
    );
    assert!(
        a["derived"]["thumbnails"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{a}"
    );

    // The master is not a derived file; unknown files and other stations' items are not found.
    assert_eq!(
        status_and_code(file("master").send().await.expect("master")).await,
        (404, "file_not_found".to_owned())
    );
    assert_eq!(
        status_and_code(file("hls/360p/seg_99999.ts").send().await.expect("none")).await,
        (404, "file_not_found".to_owned())
    );
    // Another station plays what the exchange shows it, and nothing of a private item.
    let other = || {
        app.http
            .get(app.url(&format!("/api/v1/assets/{asset}/files/hls/master.m3u8")))
            .bearer_auth(&w.user("editor@b").token)
            .send()
    };
    assert_eq!(other().await.expect("other station").status(), 200);
    let (s, _) = app
        .call(
            "PUT",
            &format!("/api/v1/assets/{asset}/rights"),
            Some(&tus.token),
            Some(serde_json::json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        status_and_code(other().await.expect("other station")).await,
        (404, "asset_not_found".to_owned())
    );
    assert_eq!(
        app.http
            .get(app.url(&format!("/api/v1/assets/{asset}/files/poster.jpg")))
            .send()
            .await
            .expect("anonymous")
            .status(),
        401
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rejected_duplicate_names_the_earlier_item_only_to_those_who_may_see_it() {
    let app = TestApp::spawn_with(|s| {
        s.jobs.enabled = false;
        s.uploads.duplicates = cityx_app::DuplicatePolicy::Reject;
    })
    .await;
    let w = World::seed(&app).await;
    let body = bytes(1000, 9);
    let first = Tus::of(&app, &w, "editor@a").upload(body.clone()).await;
    // Station B sends the same bytes: refused, without naming A's item (still processing,
    // so no other station may see it).
    let b = Tus::of(&app, &w, "editor@b");
    let copy = b.upload(body).await;
    let (_, c) = b.asset(&copy).await;
    assert_eq!(c["status"], "rejected", "{c}");
    assert_eq!(
        c["failure"], "duplicate of an item of another station",
        "{c}"
    );
    assert!(c["duplicate_of"].is_null(), "{c}");
    assert!(!c.to_string().contains(first.as_str()), "{c}");
}

#[tokio::test]
async fn deleted_items_can_be_restored_until_purged_and_duplicates_can_be_rejected() {
    let app = TestApp::spawn_with(|s| {
        s.jobs.enabled = false;
        s.uploads.duplicates = cityx_app::DuplicatePolicy::Reject;
        s.uploads.delete_grace = std::time::Duration::ZERO;
    })
    .await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let body = bytes(1000, 7);
    let first = tus.upload(body.clone()).await;
    let twin = tus.upload(body.clone()).await;
    let (_, a) = tus.asset(&first).await;
    assert_eq!(a["status"], "processing");
    let (_, b) = tus.asset(&twin).await;
    assert_eq!(b["status"], "rejected", "{b}");
    assert_eq!(b["duplicate_of"], first.as_str());
    assert_eq!(b["failure"], format!("duplicate of {first}"));
    assert!(
        b["deleted_at"].is_string() && b["purge_after"].is_string(),
        "{b}"
    );
    assert_eq!(
        b["jobs"],
        serde_json::json!([]),
        "a rejected duplicate is not processed"
    );

    let station: cityx_core::StationId = w.id_a().parse().expect("station");
    let used = || async { app.app().repo().quota_used(station).await.expect("used") };
    assert_eq!(used().await, 2000);
    let path = format!("/api/v1/assets/{first}");
    let delete = |who: &str| {
        app.http
            .delete(app.url(&path))
            .bearer_auth(&w.user(who).token)
            .send()
    };
    assert_eq!(
        status_and_code(delete("viewer@a").await.expect("delete")).await,
        (403, "forbidden".into())
    );
    assert_eq!(
        status_and_code(delete("editor@b").await.expect("delete")).await,
        (404, "asset_not_found".into())
    );
    let res = delete("editor@a").await.expect("delete");
    assert_eq!(res.status(), 200);
    let gone: Value = res.json().await.expect("json");
    assert!(gone["deleted_at"].is_string(), "{gone}");
    assert_eq!(
        delete("station_admin@a").await.expect("again").status(),
        200
    );
    let (s, back) = tus
        .app
        .post(&format!("{path}/restore"), &tus.token, Value::Null)
        .await;
    assert_eq!(s, 200, "{back}");
    assert!(back["deleted_at"].is_null());
    assert_eq!(delete("hub_admin").await.expect("delete").status(), 200);
    assert_eq!(used().await, 2000, "bytes count until the purge");

    // An item still arriving is terminated, not deleted.
    let (_, arriving) = tus.start(1000).await;
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/assets/{arriving}")))
        .bearer_auth(&tus.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(status_and_code(res).await, (409, "invalid_state".into()));

    // The grace period is over: files go, the quota is released, the items are gone.
    assert!(app.master(&first).await.is_some());
    assert_eq!(app.app().ingest().purge_deleted().await.expect("purge"), 2);
    for id in [&first, &twin] {
        assert_eq!(app.objects_of(id).await, 0, "{id}'s files are removed");
        assert_eq!(tus.asset(id).await.0, 404);
    }
    assert_eq!(used().await, 1000, "only the upload still arriving counts");
    let (s, _) = tus
        .app
        .post(&format!("{path}/restore"), &tus.token, Value::Null)
        .await;
    assert_eq!(s, 404, "purged items cannot be restored");
    let (_, audit) = app
        .get("/api/v1/audit?action=asset_purged", &app.admin_token)
        .await;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(2), "{audit}");

    // With the first copy gone, the same bytes are no longer a duplicate.
    let again = tus.upload(body).await;
    assert_eq!(tus.asset(&again).await.1["status"], "processing");
    app.stop().await;
}

/// A file server on loopback for imports: the clip at `/新闻/clip.mp4`, a redirect to an
/// address the guard refuses, and 404s.
async fn file_server(clip: Vec<u8>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let clip = std::sync::Arc::new(clip);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let clip = clip.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let mut answer = Vec::new();
                if path == "/%E6%96%B0%E9%97%BB/clip.mp4" {
                    answer.extend_from_slice(
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", clip.len())
                            .as_bytes(),
                    );
                    answer.extend_from_slice(&clip);
                } else if path == "/sneaky" {
                    answer.extend_from_slice(
                        format!(
                            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:{port}/%E6%96%B0%E9%97%BB/clip.mp4\r\nContent-Length: 0\r\n\r\n"
                        )
                        .as_bytes(),
                    );
                } else {
                    answer
                        .extend_from_slice(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                }
                let _ = s.write_all(&answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

#[tokio::test]
async fn items_are_imported_by_url_through_the_guard() {
    let app = TestApp::spawn_with(|s| s.fetch.allow_cidrs = vec!["127.0.0.1/32".into()]).await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let data = clip("320x180", 3);
    let port = file_server(data.clone()).await;
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    let import = |who: &str, body: Value| {
        let token = w.user(who).token.clone();
        let app = &app;
        async move { app.post("/api/v1/imports", &token, body).await }
    };

    let (s, a) = import(
        "editor@a",
        serde_json::json!({ "url": url("/%E6%96%B0%E9%97%BB/clip.mp4"), "title": "导入的新闻" }),
    )
    .await;
    assert_eq!(s, 202, "{a}");
    assert_eq!(
        (a["status"].as_str(), a["filename"].as_str()),
        (Some("uploading"), Some("clip.mp4"))
    );
    assert_eq!(a["source_url"], url("/%E6%96%B0%E9%97%BB/clip.mp4"));
    let id = a["id"].as_str().expect("id").to_owned();
    let done = processed(&tus, &id).await;
    assert_eq!(done["status"], "ready", "{done}");
    assert_eq!(done["sha256"], sha256_hex(&data));
    assert_eq!(done["size_bytes"], data.len());
    let kinds: Vec<&str> = done["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["import", "probe", "transcode"]);

    // Refused at once: no item is created.
    for (body, code) in [
        (
            serde_json::json!({ "url": format!("http://127.0.0.2:{port}/x.mp4") }),
            "forbidden_address",
        ),
        (
            serde_json::json!({ "url": "ftp://127.0.0.1/x.mp4" }),
            "bad_url",
        ),
        (
            serde_json::json!({ "url": "http://user:pw@127.0.0.1/x.mp4" }),
            "bad_url",
        ),
    ] {
        let (s, b) = import("editor@a", body.clone()).await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(b["error"]["fields"][0]["field"], "url", "{b}");
        assert_eq!(b["error"]["fields"][0]["code"], code, "{b}");
    }
    let (s, _) = import("viewer@a", serde_json::json!({ "url": url("/x.mp4") })).await;
    assert_eq!(s, 403);

    // Refused while fetching: a redirect to a refused address, a missing file, a full quota.
    let station: cityx_core::StationId = w.id_a().parse().expect("station");
    for (path, reason) in [("/sneaky", "127.0.0.2"), ("/missing.mp4", "HTTP 404")] {
        let (s, a) = import("editor@a", serde_json::json!({ "url": url(path) })).await;
        assert_eq!(s, 202, "{a}");
        let failed = processed(&tus, a["id"].as_str().expect("id")).await;
        assert_eq!(failed["status"], "failed", "{failed}");
        let why = failed["failure"].as_str().unwrap_or_default();
        assert!(
            why.starts_with("import failed: ") && why.contains(reason),
            "{why}"
        );
        assert_eq!(
            failed["jobs"][0]["state"], "dead",
            "refusals are not retried"
        );
    }
    let used = app.app().repo().quota_used(station).await.expect("used");
    set_quota(&app, station, used + 10).await;
    let (_, a) = import(
        "editor@a",
        serde_json::json!({ "url": url("/%E6%96%B0%E9%97%BB/clip.mp4") }),
    )
    .await;
    let failed = processed(&tus, a["id"].as_str().expect("id")).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["failure"]
            .as_str()
            .unwrap_or_default()
            .contains("larger than"),
        "the quota caps the download: {failed}"
    );
    assert_eq!(
        app.app().repo().quota_used(station).await.expect("used"),
        used
    );
    app.stop().await;
}

async fn fsck(app: &cityx_app::App, hashes: bool) -> cityx_app::FsckReport {
    app.integrity()
        .fsck(cityx_app::FsckOptions { hashes }, |_| {})
        .await
        .expect("fsck")
}

/// `admin fsck` finds a processed item whole, then every kind of damage; `admin storage
/// migrate` moves its objects to another store, verified, and a node on that store finds
/// them whole.
#[tokio::test]
async fn stored_objects_are_checked_and_move_to_another_store() {
    let app = TestApp::spawn().await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let body = clip("320x240", 3);
    let id = tus.upload(body.clone()).await;
    let item = processed(&tus, &id).await;
    assert_eq!(item["status"], "ready", "{item}");
    let asset: cityx_core::AssetId = id.parse().expect("id");
    let store = app.storage();
    let stored = store
        .count(&cityx_storage::StorageKey::all_assets())
        .await
        .expect("count");

    let r = fsck(app.app(), true).await;
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.items, 1);
    assert_eq!(r.bytes_hashed, body.len() as u64);
    // The master, playlists, segments, proxy, pictures; the first fast playlist's files
    // are left over from before the ladder and not counted.
    assert!(
        r.objects >= 6 && r.objects <= stored,
        "{} of {stored}",
        r.objects
    );

    // Moving to another store, twice: the second run copies nothing.
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("file://{}", dir.path().join("moved").display());
    let to = cityx_storage::Storage::from_url(&url).expect("destination");
    let journal = dir.path().join("journal");
    let options = cityx_storage::migrate::Options {
        destination: url.clone(),
        recheck: false,
    };
    let (m, unfinished) = app
        .app()
        .integrity()
        .migrate_storage(&to, &journal, &options, |_| {})
        .await
        .expect("migrate");
    assert_eq!((m.copied, m.present, unfinished), (stored, 0, 0), "{m:?}");
    assert!(m.failed.is_empty(), "{m:?}");
    let (m, _) = app
        .app()
        .integrity()
        .migrate_storage(&to, &journal, &options, |_| {})
        .await
        .expect("migrate again");
    assert_eq!((m.copied, m.present), (0, stored), "{m:?}");
    let node = app
        .start_node_with(cityx::settings::Role::Api, |s| {
            s.storage = cityx_storage::StoreOptions {
                url: url.clone(),
                ..Default::default()
            };
        })
        .await;
    let moved = fsck(&node.app, true).await;
    assert!(moved.findings.is_empty(), "{:?}", moved.findings);
    assert_eq!(moved.objects, r.objects);
    node.shutdown(std::time::Duration::from_secs(5))
        .await
        .expect("node stops");

    // Damage: a segment lost, the master's bytes changed at the same size, a stray item.
    let playlist = item["derived"]["renditions"][0]["playlist"]
        .as_str()
        .expect("playlist");
    let key = cityx_storage::StorageKey::derived(asset, playlist).expect("key");
    let (_, text) = store
        .read_small(&key, 1 << 20)
        .await
        .expect("read")
        .expect("small");
    let segment = String::from_utf8_lossy(&text)
        .lines()
        .find(|l| l.ends_with(".ts"))
        .expect("a segment")
        .to_owned();
    let dir_of = playlist.rsplit_once('/').expect("a directory").0;
    let lost =
        cityx_storage::StorageKey::derived(asset, &format!("{dir_of}/{segment}")).expect("key");
    store.delete(&lost).await.expect("delete");
    let mut changed = body.clone();
    changed[1000] ^= 0xff;
    let master = cityx_storage::StorageKey::master(asset);
    store
        .put(&master, changed.clone().into())
        .await
        .expect("put");
    let stranger = cityx_core::AssetId::new();
    store
        .put(&cityx_storage::StorageKey::master(stranger), "x".into())
        .await
        .expect("put");

    let stray = cityx_storage::StorageKey::asset_prefix(stranger).to_string();
    let found: Vec<(String, cityx_app::Problem)> = fsck(app.app(), true)
        .await
        .findings
        .into_iter()
        .map(|f| (f.key, f.problem))
        .collect();
    let mut want = vec![
        (lost.to_string(), cityx_app::Problem::Missing),
        (
            master.to_string(),
            cityx_app::Problem::WrongHash {
                expected: sha256_hex(&body),
                found: sha256_hex(&changed),
            },
        ),
        (
            stray.clone(),
            cityx_app::Problem::Stray {
                objects: 1,
                why: "no such item",
            },
        ),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found, want);
    // Sizes only: the changed bytes go unseen.
    let quick = fsck(app.app(), false).await;
    assert_eq!(quick.bytes_hashed, 0);
    assert_eq!(quick.findings.len(), 2, "{:?}", quick.findings);
    app.stop().await;
}

/// Every station has the configured default quota until the hub gives it one of its own,
/// sees what each uses, and no station holds more unfinished uploads than the limit.
#[tokio::test]
async fn stations_have_a_default_quota_the_hub_can_change_and_a_cap_on_unfinished_uploads() {
    let app = TestApp::spawn_with(|s| {
        s.uploads.station_quota_gb = 1;
        s.uploads.max_unfinished_per_station = 2;
    })
    .await;
    let w = World::seed(&app).await;
    let tus = Tus::of(&app, &w, "editor@a");
    let meta = format!("filename {}", b64("a.mp4"));
    let path = format!("/api/v1/stations/{}/quota", w.id_a());

    let (s, q) = app.get(&path, &w.user("editor@a").token).await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(
        (&q["quota_bytes"], &q["own_quota_bytes"], &q["used_bytes"]),
        (&json!(1u64 << 30), &Value::Null, &json!(0))
    );
    assert_eq!(q["max_unfinished_uploads"], 2);
    assert_eq!(app.get(&path, &w.user("editor@b").token).await.0, 404);
    // The default applies: more than 1 GiB is refused.
    assert_eq!(
        status_and_code(tus.create(2 << 30, &meta).await).await,
        (413, "quota_exceeded".into())
    );

    // Only the hub admin sets a quota.
    let body = json!({ "quota_bytes": 1500 });
    let (s, _) = app
        .call(
            "PUT",
            &path,
            Some(&w.user("station_admin@a").token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 403);
    let (s, q) = app
        .call("PUT", &path, Some(&app.admin_token), Some(body))
        .await;
    assert_eq!((s.as_u16(), &q["quota_bytes"]), (200, &json!(1500)));
    assert_eq!(tus.create(1000, &meta).await.status(), 201);
    assert_eq!(
        status_and_code(tus.create(600, &meta).await).await,
        (413, "quota_exceeded".into())
    );
    let (_, q) = app.get(&path, &app.admin_token).await;
    assert_eq!(
        (&q["used_bytes"], &q["unfinished_uploads"]),
        (&json!(1000), &json!(1))
    );

    // Back to the default; then the cap on unfinished uploads: two, and the third waits.
    let (s, q) = app
        .call(
            "PUT",
            &path,
            Some(&app.admin_token),
            Some(json!({ "quota_bytes": null })),
        )
        .await;
    assert_eq!((s.as_u16(), &q["own_quota_bytes"]), (200, &Value::Null));
    assert_eq!(tus.create(10, &meta).await.status(), 201);
    let res = tus.create(10, &meta).await;
    assert_eq!(status_and_code(res).await, (409, "too_many_uploads".into()));
    // Another station is not held by A's uploads.
    let tus_b = Tus::of(&app, &w, "editor@b");
    assert_eq!(tus_b.create(10, &meta).await.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn uploaders_choose_who_sees_an_item_and_the_station_default_applies_otherwise() {
    let app = TestApp::spawn_with(|s| s.jobs.enabled = false).await;
    let w = World::seed(&app).await;
    let ea = w.user("editor@a").token.clone();
    let seen = |id: String| {
        let (app, ea) = (&app, &ea);
        async move {
            let (s, b) = app.get(&format!("/api/v1/assets/{id}"), ea).await;
            assert_eq!(s, 200, "{b}");
            b["visibility"].as_str().unwrap_or_default().to_owned()
        }
    };
    let plain = app.item_with(&ea, &[("title", "默认")]).await;
    assert_eq!(seen(plain).await, "exchange", "the installation's default");
    let private = app
        .item_with(&ea, &[("title", "仅本台"), ("visibility", "private")])
        .await;
    assert_eq!(seen(private).await, "private");

    // The hub makes station A's uploads private unless their uploader says otherwise.
    let (s, st) = app
        .call(
            "PATCH",
            &format!("/api/v1/stations/{}", w.id_a()),
            Some(&app.admin_token),
            Some(json!({"default_visibility": "private"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), st["default_visibility"].as_str()),
        (200, Some("private"))
    );
    let defaulted = app.item_with(&ea, &[("title", "本台默认")]).await;
    assert_eq!(seen(defaulted).await, "private");
    let public = app
        .item_with(&ea, &[("title", "公开"), ("visibility", "public")])
        .await;
    assert_eq!(seen(public).await, "public");

    // `stations` needs a list, which only the rights form gives: refused, naming the field,
    // with the other refused fields at once, and nothing created.
    let tus = Tus::of(&app, &w, "editor@a");
    let meta = format!(
        "filename {},visibility {},shot_date {}",
        b64("a.mp4"),
        b64("stations"),
        b64("yesterday")
    );
    let res = tus.create(10, &meta).await;
    assert_eq!(res.status(), 422);
    let body: serde_json::Value = res.json().await.expect("json");
    let fields: Vec<&str> = body["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert!(
        fields.contains(&"visibility") && fields.contains(&"shot_date"),
        "{body}"
    );
    let (s, b) = app
        .call(
            "PATCH",
            &format!("/api/v1/stations/{}", w.id_a()),
            Some(&app.admin_token),
            Some(json!({"default_visibility": "stations"})),
        )
        .await;
    assert_eq!(
        (s.as_u16(), b["error"]["code"].as_str()),
        (422, Some("validation_failed"))
    );
    app.stop().await;
}
