//! What the benchmarks that run the release binary share.

// Each bench uses part of it.
#![allow(dead_code)]

/// The release `cityx serve` in a process of its own, with a station editor.
pub struct Server {
    pub child: std::process::Child,
    pub base: String,
    /// The station editor's token.
    pub token: String,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Builds and starts it; `env` adds settings (`CITYX_JOBS__ENABLED` is `false` unless
    /// given).
    pub async fn start(http: &reqwest::Client, env: &[(&str, &str)]) -> Server {
        Self::start_in(http, env, tempfile::tempdir().expect("dir")).await
    }

    /// Like [`Server::start`], on a data directory prepared beforehand.
    pub async fn start_in(
        http: &reqwest::Client,
        env: &[(&str, &str)],
        dir: tempfile::TempDir,
    ) -> Server {
        let (child, base) = spawn(dir.path(), &[], env, None);
        let token = seed(http, &base).await;
        Server {
            child,
            base,
            token,
            dir,
        }
    }
}

const ADMIN: (&str, &str) = ("admin@bench.local", "bench-admin-password");

/// Builds the release binary (once per bench run; cargo has nothing to do after that) and
/// returns where it is.
pub fn binary() -> std::path::PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        // Not what cargo told this bench about its own package: build scripts that watch
        // such variables (ring's watches CARGO_MANIFEST_DIR) would run again, and rebuild
        // half the tree, each time the bench and this build take turns.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if [
                "CARGO_MANIFEST_",
                "CARGO_PKG_",
                "CARGO_CRATE_",
                "CARGO_PRIMARY_",
            ]
            .iter()
            .any(|p| name.starts_with(p))
            {
                build.env_remove(name.as_ref());
            }
        }
        let built = build
            .args(["build", "--release", "--quiet", "-p", "cityx"])
            .status()
            .expect("cargo build");
        assert!(built.success(), "cargo build --release -p cityx");
    });
    // This bench runs from target/release/deps; the binary goes to target/release.
    let exe = std::env::current_exe().expect("exe");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("cityx")
}

/// Starts the release `cityx serve` on `data` with `args` after it and `env` (settings;
/// `CITYX_JOBS__ENABLED` is `false` unless given; the bench admin is created if there is no
/// admin yet), on CPU `cpu` alone when given; returns the process and its base URL.
pub fn spawn(
    data: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    cpu: Option<usize>,
) -> (std::process::Child, String) {
    use std::io::BufRead;
    let bin = binary();
    let mut cmd = match cpu {
        Some(cpu) => {
            let mut c = std::process::Command::new("taskset");
            c.args(["--cpu-list", &cpu.to_string()]).arg(bin);
            c
        }
        None => std::process::Command::new(bin),
    };
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(args)
        .env("CITYX_ADMIN_EMAIL", ADMIN.0)
        .env("CITYX_ADMIN_PASSWORD", ADMIN.1)
        .env("CITYX_JOBS__ENABLED", "false")
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cityx serve");
    let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut said = Vec::new();
    let base = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            let base = l
                .split("running at ")
                .nth(1)
                .map(|rest| rest.split('/').take(3).collect::<Vec<_>>().join("/"));
            said.push(l);
            base
        })
        .unwrap_or_else(|| panic!("cityx serve did not start:\n{}", said.join("\n")));
    std::thread::spawn(move || lines.for_each(drop));
    (child, base)
}

/// Signs in as the bench admin at `base` and sets up a station with an editor; returns the
/// editor's token.
pub async fn seed(http: &reqwest::Client, base: &str) -> String {
    let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut req = http.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let res = req.send().await.expect("request");
            assert!(res.status().is_success(), "{}", res.status());
            res.json::<serde_json::Value>().await.expect("json")
        }
    };
    let token = |email: &'static str, password: &'static str| {
        post(
            "/api/v1/auth/token",
            None,
            serde_json::json!({"email": email, "password": password}),
        )
    };
    let admin = token(ADMIN.0, ADMIN.1).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let station = post(
        "/api/v1/stations",
        Some(&admin),
        serde_json::json!({
            "name": "压测台", "code": "bench", "city": "杭州", "province": "浙江", "region": "east"
        }),
    )
    .await;
    post(
        "/api/v1/users",
        Some(&admin),
        serde_json::json!({
            "email": "editor@bench.local", "display_name": "压测", "role": "editor",
            "station_id": station["id"], "password": "bench-editor-password"
        }),
    )
    .await;
    token("editor@bench.local", "bench-editor-password").await["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// A token of `email` at `base`.
pub async fn token_of(http: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let res = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    res.json::<serde_json::Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// A token of the bench's hub admin.
pub async fn admin_token(http: &reqwest::Client, base: &str) -> String {
    token_of(http, base, ADMIN.0, ADMIN.1).await
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// One whole upload (tus creation-with-upload) as the station editor; returns the new
    /// item's id.
    pub async fn upload(&self, http: &reqwest::Client, title: &str, body: Vec<u8>) -> String {
        use base64::Engine as _;
        let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
        let res = http
            .post(format!("{}/api/v1/uploads", self.base))
            .bearer_auth(&self.token)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", body.len().to_string())
            .header(
                "upload-metadata",
                format!("filename {},title {}", b64("clip.mp4"), b64(title)),
            )
            .header("content-type", "application/offset+octet-stream")
            .body(body)
            .send()
            .await
            .expect("upload");
        assert_eq!(res.status().as_u16(), 201);
        res.headers()["cityx-asset-id"]
            .to_str()
            .expect("id")
            .to_owned()
    }
}

/// A field of /proc/<pid>/status, in KiB.
pub fn status_kib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

/// A 720p25 H.264/AAC test clip of `secs` seconds at 3 Mbit/s with a keyframe every `gop`
/// frames, in the container `out`'s extension names; returns `out`.
pub fn test_clip(out: &std::path::Path, secs: u32, gop: u32) -> std::path::PathBuf {
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=25",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
        ])
        .args(["-b:v", "3M", "-g", &gop.to_string(), "-pix_fmt", "yuv420p"])
        .args(["-c:a", "aac", "-b:a", "128k"])
        .arg(out)
        .status()
        .expect("ffmpeg");
    assert!(ok.success(), "ffmpeg made {}", out.display());
    out.to_path_buf()
}

/// Exits with a hint when one of `tools` is not on PATH (`scripts/bench NAME` installs them).
pub fn require(tools: &[&str], bench: &str) {
    for tool in tools {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("{tool} is missing: run scripts/bench {bench}, which installs it");
            std::process::exit(2);
        }
    }
}

/// A setting of the bench from the environment, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs wrk with `-t1 -c{connections}`; returns its requests per second and its output.
pub fn wrk(
    url: &str,
    token: &str,
    secs: u64,
    connections: u32,
    script: Option<&str>,
) -> (f64, String) {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{secs}s"),
        "--latency",
    ])
    .args(["-H", &format!("Authorization: Bearer {token}")]);
    if let Some(s) = script {
        cmd.args(["-s", s]);
    }
    let out = cmd.arg(url).output().expect("wrk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !text.contains("Non-2xx"),
        "every answer must succeed: {text}"
    );
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    (rps, text)
}

/// wrk's latency line for a percentile (`99%`), as printed.
pub fn wrk_latency(text: &str, p: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(p))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// How each PATCH of an upload picks its node.
#[derive(Clone, Copy)]
pub enum Spread {
    /// Every request of upload `i` goes to node `i % n`.
    PerUpload,
    /// Each request goes to the node after the one before.
    PerPatch,
}

/// One whole upload of `bytes` (upload number `i`) in PATCHes of `piece` (the same bytes
/// again and again when `bytes` is longer), spread over `bases`; returns the item's id.
pub async fn upload(
    http: &reqwest::Client,
    (bases, spread): (&[String], Spread),
    token: &str,
    (i, bytes): (usize, u64),
    piece: &bytes::Bytes,
) -> String {
    let node = |request: usize| match spread {
        Spread::PerUpload => &bases[i % bases.len()],
        Spread::PerPatch => &bases[(i + request) % bases.len()],
    };
    let res = http
        .post(format!("{}/api/v1/uploads", node(0)))
        .bearer_auth(token)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", bytes.to_string())
        .header("upload-metadata", "filename Y2xpcC5tcDQ=,title 5Y6L5rWL")
        .send()
        .await
        .expect("create");
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let id = res.headers()["cityx-asset-id"]
        .to_str()
        .expect("id")
        .to_owned();
    let path = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let (mut offset, mut request) = (0u64, 1);
    while offset < bytes {
        let n = (bytes - offset).min(piece.len() as u64) as usize;
        let res = http
            .patch(format!("{}{path}", node(request)))
            .bearer_auth(token)
            .header("tus-resumable", "1.0.0")
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset.to_string())
            .body(piece.slice(..n))
            .send()
            .await
            .expect("patch");
        assert_eq!(res.status(), 204, "{:?}", res.text().await);
        offset += n as u64;
        request += 1;
    }
    id
}
