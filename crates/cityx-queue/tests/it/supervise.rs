//! The process supervisor with real child processes (ffmpeg through `cityx-media`'s hardened
//! runner) and real node processes: this test binary runs itself as a node
//! ([`supervisor_node`]), so a node can be killed with `kill -9`.

use async_trait::async_trait;
use cityx_core::TenantScope;
use cityx_core::process::{Desired, Process, ProcessState, Subject};
use cityx_db::{ClaimedProcess, NewProcess, Repo};
use cityx_queue::supervise::{Control, Exit, Service, Supervisor, SupervisorOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A tone played in real time into nothing: a child that runs until it is stopped, whose
/// progress lines (on a pipe to its node) are its signs of life.
struct Tone;

#[async_trait]
impl Service for Tone {
    fn kind(&self) -> &'static str {
        "tone"
    }
    fn liveness(&self) -> Duration {
        Duration::from_secs(5)
    }
    async fn run(&self, _p: &ClaimedProcess, ctl: &Control) -> Result<Exit, String> {
        child(
            ctl,
            "ffmpeg",
            &[
                "-nostdin",
                "-hide_banner",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=8000",
                "-f",
                "null",
                "-progress",
                "pipe:1",
                "-stats_period",
                "0.2",
                "-",
            ],
        )
        .await
    }
}

/// A child that prints nothing at all.
struct Mute;

#[async_trait]
impl Service for Mute {
    fn kind(&self) -> &'static str {
        "mute"
    }
    // Longer than a lease renewal (1 s), so that the child's pid is reported before the
    // watchdog ends it.
    fn liveness(&self) -> Duration {
        Duration::from_millis(2500)
    }
    async fn run(&self, _p: &ClaimedProcess, ctl: &Control) -> Result<Exit, String> {
        child(ctl, "sleep", &["3600"]).await
    }
}

/// Runs `program args…` for as long as it lives, its output feeding `ctl`.
async fn child(ctl: &Control, program: &str, args: &[&str]) -> Result<Exit, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
    let (out, err, spawned) = (ctl.clone(), ctl.clone(), ctl.clone());
    let hooks = cityx_media::process::Hooks {
        stdout_lines: Some(Box::new(move |_line| out.alive())),
        stderr_lines: Some(Box::new(move |line| err.log(line))),
        on_spawn: Some(Box::new(move |pid| spawned.set_pid(pid))),
        die_with_parent: true,
        ..Default::default()
    };
    let limits = cityx_media::process::Limits {
        wall: Duration::MAX,
        stall: Duration::from_secs(3600),
        max_stdout: 1 << 20,
    };
    cityx_media::process::run_with(program.as_ref(), &args, dir.path(), &limits, hooks)
        .await
        .map(|_| Exit::Finished)
        .map_err(|e| e.to_string())
}

fn opts(owner: &str) -> SupervisorOptions {
    SupervisorOptions {
        owner: owner.into(),
        lease: Duration::from_secs(3),
        poll: Duration::from_millis(200),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        ..Default::default()
    }
}

async fn add(repo: &Arc<dyn Repo>, kind: &str) -> cityx_core::ProcessId {
    let p = NewProcess {
        id: cityx_core::ProcessId::new(),
        kind: kind.into(),
        subject: Subject {
            kind: "test".into(),
            id: format!("{kind}-{}", cityx_core::ProcessId::new()),
        },
        station_id: None,
        spec: serde_json::json!({}),
    };
    repo.insert_process(&p).await.expect("insert process");
    p.id
}

/// Polls the process until `ok` holds (at most `secs` seconds), returning it.
async fn until(
    repo: &Arc<dyn Repo>,
    id: cityx_core::ProcessId,
    secs: u64,
    what: &str,
    ok: impl Fn(&Process) -> bool,
) -> Process {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let p = repo
            .get_process(TenantScope::All, id)
            .await
            .expect("get process");
        if ok(&p) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never happened; last {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a process with this id is alive (and not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

fn kill9(pid: u32) {
    let done = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(done.success(), "kill -9 {pid}");
}

async fn wait_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) is still running"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn start(
    repo: &Arc<dyn Repo>,
    services: Vec<Arc<dyn Service>>,
    owner: &str,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let sup = Arc::new(Supervisor::new(repo.clone(), services, opts(owner)));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(sup.run(async {
        let _ = stopped.await;
    }));
    (stop, task)
}

#[tokio::test]
async fn a_killed_child_is_restarted_and_a_stopped_process_stays_stopped() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = crate::repo(&dir).await;
    let id = add(&repo, "tone").await;
    let (stop, task) = start(&repo, vec![Arc::new(Tone)], "n1");

    let first = until(&repo, id, 20, "the tone runs", |p| {
        p.state == ProcessState::Running && p.pid.is_some()
    })
    .await;
    assert_eq!((first.node.as_deref(), first.restarts), (Some("n1"), 0));
    let pid = first.pid.expect("pid");
    kill9(pid);
    let second = until(&repo, id, 20, "the tone runs again", |p| {
        p.restarts == 1 && p.state == ProcessState::Running && p.pid.is_some_and(|q| q != pid)
    })
    .await;
    let reason = second.last_error.clone().unwrap_or_default();
    assert!(
        reason.contains("ffmpeg") && reason.contains("signal"),
        "{reason}"
    );
    assert!(!second.log.is_empty(), "stderr lines are kept: {second:?}");

    // Stopped: the child goes, the process stays stopped across the supervisor's looks.
    let pid = second.pid.expect("pid");
    repo.set_process_desired(TenantScope::All, id, Desired::Stopped, &steer())
        .await
        .expect("stop");
    until(&repo, id, 20, "the tone stops", |p| {
        p.state == ProcessState::Stopped
    })
    .await;
    wait_gone(pid, "the stopped tone").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let still = repo.get_process(TenantScope::All, id).await.expect("get");
    assert_eq!(
        (still.state, still.node, still.restarts),
        (ProcessState::Stopped, None, 1)
    );

    // Started again, then the node shuts down: released for another node at once.
    repo.set_process_desired(TenantScope::All, id, Desired::Running, &steer())
        .await
        .expect("start");
    let third = until(&repo, id, 20, "the tone runs once more", |p| {
        p.state == ProcessState::Running && p.pid.is_some()
    })
    .await;
    let _ = stop.send(());
    task.await.expect("supervisor ends");
    wait_gone(third.pid.expect("pid"), "the tone after shutdown").await;
    let released = repo.get_process(TenantScope::All, id).await.expect("get");
    assert_eq!(
        (released.state, released.node),
        (ProcessState::Pending, None)
    );
    let (stop, task) = start(&repo, vec![Arc::new(Tone)], "n2");
    until(&repo, id, 20, "another node takes it at once", |p| {
        p.node.as_deref() == Some("n2") && p.state == ProcessState::Running
    })
    .await;
    let _ = stop.send(());
    task.await.expect("supervisor ends");
}

#[tokio::test]
async fn a_silent_process_is_ended_by_the_watchdog() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = crate::repo(&dir).await;
    let id = add(&repo, "mute").await;
    let (stop, task) = start(&repo, vec![Arc::new(Mute)], "n1");
    let first = until(&repo, id, 20, "the mute child runs", |p| p.pid.is_some()).await;
    let pid = first.pid.expect("pid");
    let ended = until(&repo, id, 20, "the watchdog ends it", |p| p.restarts >= 1).await;
    let reason = ended.last_error.unwrap_or_default();
    assert!(reason.contains("watchdog"), "{reason}");
    wait_gone(pid, "the silent child").await;
    let _ = stop.send(());
    task.await.expect("supervisor ends");
}

/// The database the node processes share: PostgreSQL when `CITYX_TEST_POSTGRES_URL` is
/// set (a scratch database), else a SQLite file.
async fn shared_db(dir: &tempfile::TempDir) -> (String, Option<cityx_db::scratch::ScratchDb>) {
    match std::env::var("CITYX_TEST_POSTGRES_URL") {
        Ok(server) => {
            let scratch = cityx_db::scratch::ScratchDb::create(&server)
                .await
                .expect("scratch database");
            (scratch.url.clone(), Some(scratch))
        }
        Err(_) => {
            eprintln!(
                "note: CITYX_TEST_POSTGRES_URL is not set; the two nodes share a SQLite file"
            );
            (
                format!("sqlite://{}", dir.path().join("q.db").display()),
                None,
            )
        }
    }
}

/// A node process, killed (`kill -9`) when dropped, so that a failing test leaves none.
struct Node(std::process::Child);

impl Node {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A node of its own: this test binary running [`supervisor_node`].
fn spawn_node(url: &str, owner: &str) -> Node {
    let child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "supervise::supervisor_node",
            "--nocapture",
        ])
        .env("CITYX_TEST_NODE_DB", url)
        .env("CITYX_TEST_NODE_OWNER", owner)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start a node");
    Node(child)
}

/// Run by [`a_dead_nodes_process_is_taken_over`] as a node process; does nothing otherwise.
#[test]
#[ignore = "a node process of another test"]
fn supervisor_node() {
    let (Ok(url), Ok(owner)) = (
        std::env::var("CITYX_TEST_NODE_DB"),
        std::env::var("CITYX_TEST_NODE_OWNER"),
    ) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let repo = cityx_db::connect(&cityx_db::DbOptions {
            url,
            max_connections: 2,
        })
        .await
        .expect("db");
        let sup = Arc::new(Supervisor::new(repo, vec![Arc::new(Tone)], opts(&owner)));
        sup.run(std::future::pending()).await;
    });
}

#[tokio::test]
async fn a_dead_nodes_process_is_taken_over() {
    let dir = tempfile::tempdir().expect("dir");
    let (url, scratch) = shared_db(&dir).await;
    let repo = cityx_db::connect(&cityx_db::DbOptions {
        url: url.clone(),
        max_connections: 2,
    })
    .await
    .expect("db");
    repo.migrate().await.expect("migrate");
    let id = add(&repo, "tone").await;

    let mut a = spawn_node(&url, "node-a");
    let held = until(&repo, id, 30, "node a runs the tone", |p| {
        p.node.as_deref() == Some("node-a") && p.pid.is_some()
    })
    .await;
    let mut b = spawn_node(&url, "node-b");
    // While node a renews, node b (starting, then looking every 0.2 s) takes nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        repo.get_process(TenantScope::All, id)
            .await
            .expect("get")
            .node
            .as_deref(),
        Some("node-a")
    );

    a.kill();
    let killed = Instant::now();
    let moved = until(&repo, id, 30, "node b takes the tone over", |p| {
        p.node.as_deref() == Some("node-b") && p.state == ProcessState::Running && p.pid.is_some()
    })
    .await;
    eprintln!(
        "takeover after kill -9 of the node: {:.1} s (lease 3 s, poll 0.2 s)",
        killed.elapsed().as_secs_f64()
    );
    assert_ne!(moved.pid, held.pid);
    // The dead node's child died with it.
    wait_gone(held.pid.expect("pid"), "the dead node's ffmpeg").await;

    b.kill();
    wait_gone(moved.pid.expect("pid"), "node b's ffmpeg").await;
    repo.close().await;
    if let Some(s) = scratch {
        s.drop_now().await;
    }
}

/// The audit entry of a test's stop or start.
fn steer() -> cityx_core::NewAudit {
    cityx_core::NewAudit::by(
        &cityx_core::Actor::system(),
        cityx_core::AuditAction::ProcessStopped,
        "process",
        "p",
        None,
    )
}
