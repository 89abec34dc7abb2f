//! A cluster on one machine: real `cityx serve` processes on PostgreSQL, S3 and NATS
//! JetStream. Two API nodes and two workers are killed with `kill -9` at random moments
//! while uploads alternate between the API nodes and transcodes run; then PostgreSQL is
//! stopped immediately and nats-server killed under load. Nothing acknowledged is lost.
//! Without the services (`.ci/run` names them) the tests say they were skipped.

use super::crash::{
    Client, Rng, Server, Upload, asset, clip, contributor, json_of, settled, sha256_hex, sources,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EMAIL: &str = "admin@crash.test";
const PASSWORD: &str = "crash-test-pass-1";

/// The S3 test store, or `None` with a notice.
pub(crate) fn s3_store(test: &str) -> Option<cityx_storage::StoreOptions> {
    let store = cityx_storage::testing::s3_store();
    if store.is_none() {
        eprintln!("skipped: {test} (set CITYX_TEST_S3_URL and the others, as .ci/run does)");
    }
    store
}

pub(crate) fn env(name: &str, test: &str) -> Option<String> {
    let v = std::env::var(name).ok().filter(|v| !v.is_empty());
    if v.is_none() {
        eprintln!("skipped: {test} (set {name}, as .ci/run does)");
    }
    v
}

/// The settings file every node of a cluster starts with.
pub(crate) fn write_config(
    dir: &Path,
    database: &str,
    s3: &cityx_storage::StoreOptions,
    nats: &str,
) -> PathBuf {
    let prefix = format!("c{}", &sha256_hex(dir.to_string_lossy().as_bytes())[..12]);
    let text = format!(
        "[database]\nurl = {database:?}\n\n[storage]\nurl = {:?}\nendpoint = {:?}\nregion = {:?}\naccess_key_id = {:?}\nsecret_access_key = {:?}\n\n[queue]\nurl = {nats:?}\nprefix = {prefix:?}\n",
        s3.url, s3.endpoint, s3.region, s3.access_key_id, s3.secret_access_key
    );
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).expect("write the configuration");
    path
}

/// One node of the cluster: its name (and data directory), its role, its process.
pub(crate) struct Node {
    name: &'static str,
    role: &'static str,
    server: Option<Server>,
    starts: usize,
}

impl Node {
    pub(crate) fn new(name: &'static str, role: &'static str) -> Node {
        Node {
            name,
            role,
            server: None,
            starts: 0,
        }
    }

    /// Starts the node; the first start of the first node creates the admin.
    pub(crate) fn start(&mut self, dir: &Path, admin: bool) {
        let log = format!("{}-{}.log", self.name, self.starts);
        let args = [
            "serve",
            "--config",
            "cluster.toml",
            "--data",
            self.name,
            "--listen",
            "127.0.0.1:0",
            "--role",
            self.role,
        ];
        let env: &[(&str, &str)] = if admin {
            &[
                ("CITYX_ADMIN_EMAIL", EMAIL),
                ("CITYX_ADMIN_PASSWORD", PASSWORD),
            ]
        } else {
            &[]
        };
        self.server = Some(Server::spawn(dir, &log, &args, env));
        self.starts += 1;
    }

    pub(crate) fn kill9(&mut self) {
        if let Some(s) = self.server.take() {
            s.kill9();
        }
    }

    pub(crate) fn base(&self) -> Option<String> {
        self.server.as_ref().map(|s| s.base.clone())
    }
}

/// The API nodes that run now.
fn api_bases(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.role == "api")
        .filter_map(Node::base)
        .collect()
}

/// Every item's master in the store matches its source, its jobs ran once each and ended
/// (a dead one with its reason), its renditions are stored once each, and the member feed
/// tells of every published item once.
async fn check_everything(
    client: &Client,
    admin: &str,
    base: &str,
    store: &cityx_storage::Storage,
    uploads: &[Upload],
) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut ready = BTreeSet::new();
    let mut outcomes = Vec::new();
    for u in uploads {
        let id = u.asset.as_deref().expect("asset id");
        let a: Value = loop {
            let a = asset(client, base, id).await.expect("asset");
            if settled(&a) {
                break a;
            }
            assert!(Instant::now() < deadline, "never settled: {a}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        outcomes.push(format!(
            "{}: {} {}",
            u.source.display(),
            a["status"],
            a["failure"]
        ));
        let want = sha256_hex(&u.bytes);
        assert_eq!(
            a["sha256"],
            want.as_str(),
            "{}: reported",
            u.source.display()
        );
        let asset_id: cityx_core::AssetId = id.parse().expect("id");
        let (size, stored) = store
            .sha256(&cityx_storage::StorageKey::master(asset_id))
            .await
            .expect("the master");
        assert_eq!(
            (size, stored),
            (u.bytes.len() as u64, want),
            "{}: stored",
            u.source.display()
        );
        let jobs = a["jobs"].as_array().expect("jobs");
        let mut kinds: Vec<&str> = jobs.iter().filter_map(|j| j["kind"].as_str()).collect();
        kinds.sort_unstable();
        let n = kinds.len();
        kinds.dedup();
        assert_eq!(n, kinds.len(), "{id}: a job twice: {a}");
        for j in jobs {
            if j["state"] == "dead" {
                assert!(
                    j["last_error"].as_str().is_some_and(|e| !e.is_empty()),
                    "{j}"
                );
            }
        }
        if u.source.extension().is_some_and(|e| e == "bin") {
            assert_eq!(a["status"], "failed", "noise is not media: {a}");
        }
        if a["status"] == "ready" {
            ready.insert(id.to_owned());
            let mut listed: Vec<String> = a["derived"]["renditions"]
                .as_array()
                .expect("renditions")
                .iter()
                .filter_map(|r| r["name"].as_str().map(str::to_owned))
                .collect();
            listed.sort();
            let mut stored = BTreeSet::new();
            let mut objects = store.list(&cityx_storage::StorageKey::asset_prefix(asset_id));
            use futures_util::StreamExt;
            while let Some(o) = objects.next().await {
                let o = o.expect("list");
                if let Some((_, name)) = o.key.asset_part()
                    && let Some(rest) = name.strip_prefix("hls/")
                    && let Some((rung, _)) = rest.split_once('/')
                    && rung != "fast"
                {
                    stored.insert(rung.to_owned());
                }
            }
            assert_eq!(
                stored.into_iter().collect::<Vec<_>>(),
                listed,
                "{id}: renditions stored are the listed ones, once"
            );
        }
    }
    assert!(
        !ready.is_empty(),
        "at least one item made it through: {outcomes:#?}"
    );

    // The member feed, followed to its end, tells of each published item once.
    let mut published: BTreeMap<String, usize> = BTreeMap::new();
    let mut cursor = String::new();
    loop {
        let mut url = format!("{base}/api/v1/feed?limit=500");
        if !cursor.is_empty() {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page = json_of(
            client
                .http
                .get(url)
                .bearer_auth(admin)
                .send()
                .await
                .expect("feed"),
        )
        .await;
        let events = page["events"].as_array().expect("events");
        for e in events {
            if e["kind"] == "item.published" {
                *published
                    .entry(e["asset_id"].as_str().expect("asset").to_owned())
                    .or_default() += 1;
            }
        }
        cursor = page["cursor"].as_str().expect("cursor").to_owned();
        if events.is_empty() {
            break;
        }
    }
    assert!(
        published.values().all(|n| *n == 1),
        "an item published twice: {published:?}"
    );
    assert_eq!(
        published.keys().cloned().collect::<BTreeSet<_>>(),
        ready,
        "the feed tells of every ready item"
    );
}

pub(crate) async fn admin_token(http: &reqwest::Client, base: &str) -> String {
    let res = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({ "email": EMAIL, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    json_of(res).await["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// Runs `cityx admin fsck` on the cluster's database and store; it must find nothing wrong.
fn fsck_finds_nothing_wrong(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_cityx"))
        .current_dir(dir)
        .args([
            "admin",
            "fsck",
            "--config",
            "cluster.toml",
            "--data",
            "fsck",
        ])
        .env_remove("CITYX_CONFIG")
        .output()
        .expect("fsck");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": no problems"), "{stdout}");
}

/// Whether one of the uploads' items has a job running now.
async fn job_running(client: &Client, base: &str, uploads: &[Upload]) -> bool {
    for u in uploads {
        let Some(id) = &u.asset else { continue };
        if let Some(a) = asset(client, base, id).await
            && a["jobs"].to_string().contains("\"running\"")
        {
            return true;
        }
    }
    false
}

/// Removes the cluster's streams and database.
pub(crate) async fn clean_up(dir: &Path, scratch: Option<cityx_db::scratch::ScratchDb>) {
    let settings =
        cityx::settings::Settings::load(Some(&dir.join("cluster.toml")), &Default::default())
            .expect("settings");
    if let Some(opts) = settings.bus_options()
        && let Ok(bus) = cityx_queue::bus::Bus::connect(opts).await
    {
        let _ = bus.delete_streams().await;
    }
    if let Some(s) = scratch {
        s.drop_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_nodes_and_two_workers_lose_nothing_when_nodes_are_killed() {
    const TEST: &str = "two_api_nodes_and_two_workers_lose_nothing_when_nodes_are_killed";
    let (Some(pg), Some(nats), Some(s3)) = (
        env("CITYX_TEST_POSTGRES_URL", TEST),
        env("CITYX_TEST_NATS_URL", TEST),
        s3_store(TEST),
    ) else {
        return;
    };
    let _heavy = super::HEAVY.lock().await;
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let scratch = cityx_db::scratch::ScratchDb::create(&pg)
        .await
        .expect("a scratch database");
    write_config(d, &scratch.url, &s3, &nats);
    let store = cityx_storage::Storage::open(&s3).expect("the store");
    let mut rng = Rng::from_clock("cluster test");
    // Noise first, clips last: the clips' transcodes run while workers are being killed.
    let mut uploads: Vec<Upload> = sources(d, 16_000_000)
        .into_iter()
        .rev()
        .map(Upload::of)
        .collect();
    // Work for the workers when the uploads' jobs have all run before two workers died in
    // one (a fast machine transcodes a 6-second clip between two rounds).
    let mut spares: Vec<PathBuf> = ["testsrc", "pal75bars", "yuvtestsrc"]
        .iter()
        .enumerate()
        .map(|(i, pattern)| clip(d, &format!("spare{i}"), pattern, 700 + 100 * i, 12))
        .collect();

    let mut nodes = [
        Node::new("api1", "api"),
        Node::new("api2", "api"),
        Node::new("worker1", "worker"),
        Node::new("worker2", "worker"),
    ];
    // One node creates the first admin before the others start.
    nodes[0].start(d, true);
    for n in &mut nodes[1..] {
        n.start(d, false);
    }
    let http = reqwest::Client::new();
    let first = nodes[0].base().expect("api1");
    let client = Client {
        token: contributor(&http, &first).await,
        http: http.clone(),
    };
    let admin = admin_token(&http, &first).await;

    let (mut uploads_cut, mut jobs_cut) = (0, 0);
    for round in 0..24 {
        let uploading = uploads.iter().any(|u| !u.done);
        let bases = api_bases(&nodes);
        if round >= 8 && !uploading && jobs_cut >= 2 {
            break;
        }
        let chunk = rng.between(64, 1024) as usize * 1024;
        let pause = Duration::from_millis(rng.between(200, 1500));
        client.push_for(pause, &bases, &mut uploads, chunk).await;
        // While uploads are on their way, API nodes and workers die in turn; then workers
        // only. A worker dies while a job runs (one is waited for). Which node is random.
        let uploading = uploads.iter().any(|u| !u.done);
        let mut running = job_running(&client, &bases[0], &uploads).await;
        let worker = !uploading || round % 2 == 1;
        if worker
            && !running
            && !uploading
            && jobs_cut < 2
            && let Some(spare) = spares.pop()
        {
            let bases = api_bases(&nodes);
            let mut u = Upload::of(spare);
            let until = Instant::now() + Duration::from_secs(60);
            while !u.done && Instant::now() < until {
                client.push(&bases, &mut u, 1 << 20).await;
            }
            uploads.push(u);
        }
        if worker && !running {
            let until = Instant::now() + Duration::from_secs(15);
            while !running && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(150)).await;
                running = job_running(&client, &bases[0], &uploads).await;
            }
        }
        let victim = usize::from(worker) * 2 + (rng.next() >> 40) as usize % 2;
        eprintln!("round {round}: kill {}", nodes[victim].name);
        uploads_cut += usize::from(!worker && uploading);
        jobs_cut += usize::from(worker && running);
        nodes[victim].kill9();
        // The others carry on without it for a while (an upload its node was writing is
        // locked until the lease runs out: 423, and the client asks again).
        client
            .push_for(pause, &api_bases(&nodes), &mut uploads, chunk)
            .await;
        nodes[victim].start(d, false);
    }
    eprintln!(
        "killed API nodes {uploads_cut} times during uploads, workers {jobs_cut} times during jobs"
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    while !uploads.iter().all(|u| u.done) && Instant::now() < deadline {
        let bases = api_bases(&nodes);
        for u in uploads.iter_mut().filter(|u| !u.done) {
            client.push(&bases, u, 1 << 20).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(uploads.iter().all(|u| u.done), "every upload completes");
    let base = api_bases(&nodes).remove(1);
    check_everything(&client, &admin, &base, &store, &uploads).await;
    assert!(
        uploads_cut > 0 && jobs_cut > 0,
        "the kills hit uploads ({uploads_cut}) and jobs ({jobs_cut})"
    );
    fsck_finds_nothing_wrong(d);
    for n in &mut nodes {
        n.kill9();
    }
    clean_up(d, Some(scratch)).await;
}

/// What `cmd` prints, trimmed, when it succeeds.
fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A PostgreSQL server of the test's own, so that stopping it leaves the machine's alone.
/// Debian's server binaries, run as the `postgres` user (`initdb` refuses root).
struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePg {
    fn create(test: &str) -> Option<PrivatePg> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("pg_ctl").is_file())
            .max();
        let root = output_of(Command::new("id").arg("-u")).as_deref() == Some("0");
        let uid = output_of(Command::new("id").args(["-u", "postgres"]));
        let (Some(bin), true, Some(uid)) = (bin, root, uid) else {
            eprintln!(
                "skipped: {test} (needs root, the postgres user and Debian's PostgreSQL server)"
            );
            return None;
        };
        let dir = tempfile::tempdir().expect("dir");
        let uid: u32 = uid.parse().expect("uid");
        std::os::unix::fs::chown(dir.path(), Some(uid), None).expect("chown");
        let pg = PrivatePg {
            port: free_port(),
            bin,
            dir,
        };
        pg.run(&[
            "initdb",
            "-D",
            &pg.data(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        pg.start();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, args: &[&str]) {
        let tool = self.bin.join(args[0]);
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(tool)
            .args(&args[1..])
            .output()
            .expect("runuser");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-o",
            &options,
            "-l",
            &log,
            "-w",
            "start",
        ]);
    }

    /// `pg_ctl stop -m immediate`: every backend quits at once, without a checkpoint.
    fn stop_immediately(&self) {
        self.run(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

/// A nats-server with JetStream of the test's own, to kill with `kill -9` and start again
/// on the same store.
struct PrivateNats {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl PrivateNats {
    fn start_new(test: &str) -> Option<PrivateNats> {
        if output_of(Command::new("nats-server").arg("--version")).is_none() {
            eprintln!("skipped: {test} (needs nats-server)");
            return None;
        }
        let mut nats = PrivateNats {
            dir: tempfile::tempdir().expect("dir"),
            port: free_port(),
            child: None,
        };
        nats.start();
        Some(nats)
    }

    fn start(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Asks `url` until it answers `want` (any answer counts while `want` is `None`).
async fn until_status(http: &reqwest::Client, url: &str, token: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let res = http.get(url).bearer_auth(token).send().await;
        if res.as_ref().is_ok_and(|r| r.status() == want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never answered {want}: {:?}",
            res.map(|r| r.status())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// While a dependency is down, a request gets 503 with `Retry-After`, promptly (the
/// client gives up after 30 s); returns how long it took.
async fn unavailable(req: reqwest::RequestBuilder, what: &str) -> Duration {
    let started = Instant::now();
    let res = req
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
    assert_eq!(res.status(), 503, "{what}");
    assert!(res.headers().contains_key("retry-after"), "{what}");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_nats_killed_give_503_and_lose_nothing() {
    const TEST: &str = "postgres_stopped_and_nats_killed_give_503_and_lose_nothing";
    let Some(s3) = s3_store(TEST) else { return };
    let Some(pg) = PrivatePg::create(TEST) else {
        return;
    };
    let Some(mut nats) = PrivateNats::start_new(TEST) else {
        return;
    };
    let _heavy = super::HEAVY.lock().await;
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    write_config(d, &pg.url(), &s3, &nats.url());
    let store = cityx_storage::Storage::open(&s3).expect("the store");
    let mut api = Node::new("api", "api");
    let mut worker = Node::new("worker", "worker");
    api.start(d, true);
    worker.start(d, false);
    let (base, work) = (api.base().expect("api"), worker.base().expect("worker"));
    let http = reqwest::Client::new();
    let client = Client {
        token: contributor(&http, &base).await,
        http: http.clone(),
    };
    let admin = admin_token(&http, &base).await;
    let bases = [base.clone()];
    let mut files = sources(d, 16_000_000).into_iter();
    let (clip_a, clip_c, noise) = (
        files.next().expect("clip"),
        files.next().expect("clip"),
        files.nth(1).expect("noise"),
    );

    // A: uploaded and processed. B: acknowledged in part.
    let mut a = Upload::of(clip_a);
    client.push(&bases, &mut a, 1 << 20).await;
    assert!(a.done);
    let mut b = Upload::of(noise);
    let _ = tokio::time::timeout(
        Duration::from_millis(400),
        client.push(&bases, &mut b, 64 * 1024),
    )
    .await;
    assert!(!b.done && b.acked > 0, "B is part way: {}", b.acked);
    let a_id = a.asset.clone().expect("asset");
    let a_url = format!("{base}/api/v1/assets/{a_id}");
    until_status(&http, &a_url, &client.token, 200).await;

    // PostgreSQL stops at once: every request, and readiness, says 503 and when to retry.
    pg.stop_immediately();
    let mut took = Vec::new();
    for _ in 0..2 {
        took.push(unavailable(http.get(&a_url).bearer_auth(&client.token), "GET an item").await);
        took.push(
            unavailable(
                http.post(format!("{base}/api/v1/uploads"))
                    .bearer_auth(&client.token)
                    .header("tus-resumable", "1.0.0")
                    .header("upload-length", "10"),
                "POST an upload",
            )
            .await,
        );
        took.push(unavailable(http.get(format!("{base}/readyz")), "API readiness").await);
        took.push(unavailable(http.get(format!("{work}/readyz")), "worker readiness").await);
    }
    eprintln!("answers while PostgreSQL was down took {took:?}");
    pg.start();
    until_status(&http, &a_url, &client.token, 200).await;
    // B resumes from what was acknowledged (push checks that the offset held).
    client.push(&bases, &mut b, 1 << 20).await;
    assert!(b.done);

    // nats-server is killed: the worker is not ready; the API goes on taking uploads, and
    // their jobs wait in the database until the bus is back.
    nats.kill9();
    until_status(&http, &format!("{work}/readyz"), "", 503).await;
    let mut c = Upload::of(clip_c);
    client.push(&bases, &mut c, 1 << 20).await;
    assert!(c.done, "uploads go on while NATS is down");
    until_status(&http, &format!("{base}/readyz"), "", 200).await;
    nats.start();
    until_status(&http, &format!("{work}/readyz"), "", 200).await;

    check_everything(&client, &admin, &base, &store, &[a, b, c]).await;
    fsck_finds_nothing_wrong(d);
    api.kill9();
    worker.kill9();
    clean_up(d, None).await;
}
