//! `kill -9` of a real `cityx serve` at random moments, during uploads and during
//! transcodes, many times. After every restart each acknowledged offset is still there and
//! uploads resume from the offset the server reports; in the end every completed upload's
//! SHA-256 (reported and on disk) matches its source, every job has succeeded or is dead,
//! and no item has a job or a rendition twice.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EMAIL: &str = "admin@crash.test";
const PASSWORD: &str = "crash-test-pass-1";
const ROUNDS: usize = 12;

/// A small deterministic generator, seeded from the clock; the seed is printed to replay.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// Seeded from the clock, with the seed printed.
    pub(crate) fn from_clock(test: &str) -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 | 1)
            .unwrap_or(1);
        eprintln!("{test} seed {seed}");
        Rng(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

pub(crate) fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
}

/// Quick takeover of jobs whose worker was killed and of uploads whose node was; a small,
/// fast ladder.
pub(crate) const QUICK: [(&str, &str); 5] = [
    ("CITYX_JOBS__LEASE_SECS", "3"),
    ("CITYX_UPLOADS__LEASE_SECS", "2"),
    ("CITYX_MEDIA__LADDER_HEIGHTS", "[240, 144]"),
    ("CITYX_MEDIA__X264_PRESET", "ultrafast"),
    ("CITYX_MEDIA__PROXY_HEIGHT", "144"),
];

impl Server {
    /// Starts `cityx serve` on `dir` and waits for its address (from its log file).
    fn start(dir: &Path, round: usize) -> Server {
        Server::spawn(
            dir,
            &format!("server-{round}.log"),
            &["serve", "--data", "data", "--listen", "127.0.0.1:0"],
            &[
                ("CITYX_ADMIN_EMAIL", EMAIL),
                ("CITYX_ADMIN_PASSWORD", PASSWORD),
            ],
        )
    }

    /// Runs `cityx ARGS` in `dir` with the [`QUICK`] settings and `env`, logging to `log`,
    /// and waits for the address it serves.
    pub(crate) fn spawn(dir: &Path, log: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let log = dir.join(log);
        let child = Command::new(env!("CARGO_BIN_EXE_cityx"))
            .current_dir(dir)
            .args(args)
            .env_remove("CITYX_CONFIG")
            .env_remove("CITYX_ADMIN_EMAIL")
            .env_remove("CITYX_ADMIN_PASSWORD")
            .envs(QUICK)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn cityx");
        // Dropping the server (also when the test fails) kills it.
        let mut server = Server {
            child,
            base: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split(" running at http://").nth(1) {
                let addr = rest.split('/').next().unwrap_or_default();
                server.base = format!("http://{addr}");
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "cityx did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `kill -9`: no shutdown, no flushing, no goodbye.
    pub(crate) fn kill9(self) {
        drop(self);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One file on its way up: what the server has acknowledged so far.
pub(crate) struct Upload {
    pub(crate) source: PathBuf,
    pub(crate) bytes: Vec<u8>,
    location: Option<String>,
    pub(crate) asset: Option<String>,
    pub(crate) acked: u64,
    pub(crate) done: bool,
}

impl Upload {
    pub(crate) fn of(source: PathBuf) -> Upload {
        Upload {
            bytes: std::fs::read(&source).expect("read"),
            source,
            location: None,
            asset: None,
            acked: 0,
            done: false,
        }
    }
}

pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
}

impl Client {
    fn tus(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
            .timeout(Duration::from_secs(30))
    }

    /// Pushes the unfinished uploads, one after the other, for `time`.
    pub(crate) async fn push_for(
        &self,
        time: Duration,
        bases: &[String],
        uploads: &mut [Upload],
        chunk: usize,
    ) {
        let pushing = async {
            for u in uploads.iter_mut().filter(|u| !u.done) {
                self.push(bases, u, chunk).await;
            }
            std::future::pending::<()>().await;
        };
        let _ = tokio::time::timeout(time, pushing).await;
    }

    /// Sends chunks until the upload is complete or the server goes away. Each request
    /// goes to the next of `bases` in turn (API nodes sharing one database and store).
    pub(crate) async fn push(&self, bases: &[String], u: &mut Upload, chunk: usize) {
        let mut turn = 0;
        let mut next = || {
            turn += 1;
            bases[turn % bases.len()].as_str()
        };
        let len = u.bytes.len() as u64;
        if u.location.is_none() {
            let name = u.source.file_name().and_then(|n| n.to_str()).unwrap_or("x");
            let meta = format!("filename {}", base64(name));
            let Ok(res) = self
                .tus(reqwest::Method::POST, &format!("{}/api/v1/uploads", next()))
                .header("upload-length", len.to_string())
                .header("upload-metadata", meta)
                .send()
                .await
            else {
                return;
            };
            assert_eq!(res.status(), 201, "create");
            u.location = Some(res.headers()["location"].to_str().expect("loc").to_owned());
            u.asset = Some(
                res.headers()["cityx-asset-id"]
                    .to_str()
                    .expect("asset")
                    .to_owned(),
            );
        }
        let path = u.location.clone().unwrap_or_default();
        // Resume from the offset the server reports; it never forgets an acknowledged one.
        let url = format!("{}{path}", next());
        let Ok(head) = self.tus(reqwest::Method::HEAD, &url).send().await else {
            return;
        };
        assert_eq!(head.status(), 200, "HEAD {url}");
        let mut offset: u64 = head.headers()["upload-offset"]
            .to_str()
            .expect("offset")
            .parse()
            .expect("number");
        assert!(
            offset >= u.acked,
            "{}: acknowledged {} but the server resumes at {offset}",
            u.source.display(),
            u.acked
        );
        u.acked = offset;
        while offset < len {
            let end = (offset + chunk as u64).min(len);
            let body = u.bytes[offset as usize..end as usize].to_vec();
            let Ok(res) = self
                .tus(reqwest::Method::PATCH, &format!("{}{path}", next()))
                .header("upload-offset", offset.to_string())
                .header("content-type", "application/offset+octet-stream")
                .body(body)
                .send()
                .await
            else {
                return;
            };
            if res.status() != 204 {
                // The restarted janitor or a half-written request: ask again next round.
                return;
            }
            offset = res.headers()["upload-offset"]
                .to_str()
                .expect("offset")
                .parse()
                .expect("number");
            u.acked = offset;
        }
        u.done = true;
    }
}

pub(crate) fn base64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// H.264/AAC clips of a few seconds (each different), and large files of `noise` bytes that
/// are not media (large, so that kills land in the middle of uploads).
pub(crate) fn sources(dir: &Path, noise: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["testsrc2", "smptebars", "rgbtestsrc"]
        .iter()
        .enumerate()
        .map(|(i, pattern)| clip(dir, &format!("clip{i}"), pattern, 300 + 100 * i, 6))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..3 {
        let path = dir.join(format!("noise{i}.bin"));
        let bytes: Vec<u8> = (0..noise).map(|_| rng.next() as u8).collect();
        std::fs::write(&path, bytes).expect("noise");
        files.push(path);
    }
    files
}

/// A short MP4 of an ffmpeg test `pattern` with a sine tone of `hz`, `secs` long, made once.
pub(crate) fn clip(dir: &Path, name: &str, pattern: &str, hz: usize, secs: u32) -> PathBuf {
    let out = dir.join(format!("{name}.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("{pattern}=size=640x360:rate=25:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:duration={secs}"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "3M",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "make {}", out.display());
    out
}

pub(crate) async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.expect("json")
}

/// Signs in as the admin and sets up a station with a contributor; returns its token.
pub(crate) async fn contributor(http: &reqwest::Client, base: &str) -> String {
    let login = |email: &'static str, password: &'static str| {
        http.post(format!("{base}/api/v1/auth/token"))
            .json(&json!({ "email": email, "password": password }))
            .send()
    };
    let admin = json_of(login(EMAIL, PASSWORD).await.expect("login")).await;
    let admin = admin["token"].as_str().expect("token").to_owned();
    let st = json_of(
        http.post(format!("{base}/api/v1/stations"))
            .bearer_auth(&admin)
            .json(&json!({ "name": "崩溃测试台", "code": "crash", "city": "杭州", "province": "浙江", "region": "east" }))
            .send()
            .await
            .expect("station"),
    )
    .await;
    let res = http
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({
            "email": "ed@crash.test", "display_name": "ed", "role": "editor",
            "station_id": st["id"], "password": PASSWORD,
        }))
        .send()
        .await
        .expect("user");
    assert_eq!(res.status(), 201);
    let ed = json_of(login("ed@crash.test", PASSWORD).await.expect("login")).await;
    ed["token"].as_str().expect("token").to_owned()
}

pub(crate) async fn asset(c: &Client, base: &str, id: &str) -> Option<Value> {
    let res = c
        .http
        .get(format!("{base}/api/v1/assets/{id}"))
        .bearer_auth(&c.token)
        .send()
        .await
        .ok()?;
    Some(res.json().await.expect("json"))
}

pub(crate) fn settled(a: &Value) -> bool {
    let status = a["status"].as_str().unwrap_or("");
    let jobs = a["jobs"].as_array().cloned().unwrap_or_default();
    status != "uploading"
        && status != "processing"
        && jobs
            .iter()
            .all(|j| matches!(j["state"].as_str(), Some("succeeded" | "dead")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_uploads_and_transcodes_loses_nothing() {
    let _heavy = super::HEAVY.lock().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut rng = Rng::from_clock("crash test");
    let mut uploads: Vec<Upload> = sources(dir.path(), 40_000_000)
        .into_iter()
        .map(Upload::of)
        .collect();
    let http = reqwest::Client::new();
    let mut server = Server::start(dir.path(), 0);
    let client = Client {
        token: contributor(&http, &server.base).await,
        http,
    };

    let (mut uploads_cut, mut jobs_cut) = (0, 0);
    for round in 1..=ROUNDS {
        // Uploads in flight (while any are left), and whatever jobs run: killed at a random
        // moment.
        let uploading = uploads.iter().any(|u| !u.done);
        let kill_after = Duration::from_millis(if uploading {
            rng.between(100, 1500)
        } else {
            rng.between(300, 3000)
        });
        let chunk = rng.between(64, 1024) as usize * 1024;
        client
            .push_for(kill_after, &[server.base.clone()], &mut uploads, chunk)
            .await;
        uploads_cut += usize::from(uploads.iter().any(|u| !u.done));
        for u in &uploads {
            let Some(id) = &u.asset else { continue };
            if let Some(a) = asset(&client, &server.base, id).await
                && a["jobs"].to_string().contains("\"running\"")
            {
                jobs_cut += 1;
                break;
            }
        }
        server.kill9();
        server = Server::start(dir.path(), round);
    }

    // The last start runs to the end: finish the uploads, let every job settle.
    // An upload the killed process was writing stays locked (423) until its lease runs out;
    // like a tus client, ask again a little later.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !uploads.iter().all(|u| u.done) && Instant::now() < deadline {
        for u in uploads.iter_mut().filter(|u| !u.done) {
            client
                .push(std::slice::from_ref(&server.base), u, 1 << 20)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(uploads.iter().all(|u| u.done), "every upload completes");
    eprintln!("killed {uploads_cut} times during uploads, {jobs_cut} times during jobs");
    assert!(
        uploads_cut > 0 && jobs_cut > 0,
        "the kills hit uploads and jobs"
    );
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut items = Vec::new();
    for u in &uploads {
        let id = u.asset.as_deref().expect("asset id");
        let a = loop {
            let a = asset(&client, &server.base, id).await.expect("asset");
            if settled(&a) {
                break a;
            }
            assert!(Instant::now() < deadline, "never settled: {a}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        items.push((u, a));
    }

    let objects = dir.path().join("data/objects/assets");
    let mut ready = 0;
    for (u, a) in &items {
        let id = a["id"].as_str().expect("id");
        let want = sha256_hex(&u.bytes);
        assert_eq!(
            a["sha256"],
            want.as_str(),
            "{}: reported SHA-256",
            u.source.display()
        );
        let stored = std::fs::read(objects.join(id).join("master")).expect("master");
        assert_eq!(
            sha256_hex(&stored),
            want,
            "{}: stored master",
            u.source.display()
        );
        let kinds: Vec<&str> = a["jobs"]
            .as_array()
            .expect("jobs")
            .iter()
            .filter_map(|j| j["kind"].as_str())
            .collect();
        let mut unique = kinds.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), kinds.len(), "{id}: a job twice: {kinds:?}");
        if a["status"] == "ready" || (a["status"] == "rejected" && a["qc"].is_object()) {
            ready += 1;
            let rungs: Vec<&str> = a["derived"]["renditions"]
                .as_array()
                .expect("renditions")
                .iter()
                .filter_map(|r| r["name"].as_str())
                .collect();
            let mut on_disk: Vec<String> = std::fs::read_dir(objects.join(id).join("hls"))
                .expect("hls")
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != "fast")
                .collect();
            on_disk.sort();
            let mut listed: Vec<String> = rungs.iter().map(|s| s.to_string()).collect();
            listed.sort();
            assert_eq!(
                on_disk, listed,
                "{id}: renditions on disk are the listed ones, once"
            );
        }
        if u.source.extension().is_some_and(|e| e == "bin") {
            assert_eq!(a["status"], "failed", "noise is not media: {a}");
        }
    }
    assert!(
        ready >= 1,
        "at least one item made it through: {items:?}",
        items = items
            .iter()
            .map(|(_, a)| a["status"].clone())
            .collect::<Vec<_>>()
    );
    server.kill9();
}
