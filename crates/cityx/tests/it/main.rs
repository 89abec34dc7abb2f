//! The `cityx` binary as an operator uses it: configuration, migrations, `cityx admin`, and
//! `cityx serve` started and stopped with a signal.

mod cluster;
mod crash;
mod live_cluster;

/// Held by the tests that run many processes and transcodes, one at a time on a small
/// machine.
pub(crate) static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn cityx(dir: &Path, args: &[&str]) -> Output {
    cityx_with(dir, args, None)
}

fn cityx_with(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cityx"));
    cmd.current_dir(dir)
        .args(args)
        .env_remove("CITYX_CONFIG")
        .env_remove("CITYX_ADMIN_EMAIL")
        .env_remove("CITYX_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn cityx");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn config_default_prints_the_committed_example() {
    let dir = tempfile::tempdir().expect("dir");
    let out = cityx(dir.path(), &["config", "default"]);
    assert!(out.status.success());
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../cityx.example.toml"
    ))
    .expect("example");
    assert_eq!(text(&out.stdout), example);
}

#[test]
fn unknown_config_keys_stop_the_program_with_the_key_and_source() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("cityx.toml"),
        "[server]\nlissen = \"127.0.0.1:1\"\n",
    )
    .expect("write");
    let out = cityx(dir.path(), &["config", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("lissen") && err.contains("cityx.toml"),
        "{err}"
    );

    std::fs::remove_file(dir.path().join("cityx.toml")).expect("rm");
    let out = cityx(dir.path(), &["config", "check", "--listen", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("server.listen"));
    let out = cityx(dir.path(), &["config", "check", "--data", "/srv/cityx"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sqlite:///srv/cityx/cityx.db"));
}

/// Writes `toml` as the configuration; `config check` accepts it and prints what it shows.
fn checked(dir: &Path, toml: &str) -> String {
    std::fs::write(dir.join("cityx.toml"), toml).expect("write");
    let out = cityx(dir, &["config", "check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

/// `config check` refuses each `(setting, why)` of `section`: exit code 2, and the message
/// says why.
fn refused(dir: &Path, section: &str, cases: &[(&str, &str)]) {
    for (bad, says) in cases {
        std::fs::write(dir.join("cityx.toml"), format!("[{section}]\n{bad}\n")).expect("write");
        let out = cityx(dir, &["config", "check"]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            text(&out.stderr).contains(says),
            "{bad}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn s3_storage_is_checked_and_its_secret_never_printed() {
    let dir = tempfile::tempdir().expect("dir");
    let shown = checked(
        dir.path(),
        "[storage]\nurl = \"s3://media/prod\"\nendpoint = \"http://127.0.0.1:9000\"\n\
         access_key_id = \"cityx\"\nsecret_access_key = \"very-secret-key\"\n",
    );
    assert!(
        shown.contains("s3://media/prod") && shown.contains("[redacted]"),
        "{shown}"
    );
    assert!(!shown.contains("very-secret-key"), "{shown}");
    let cases = [
        ("url = \"s3://\"", "needs a bucket name"),
        ("url = \"s3://media/../x\"", "prefix"),
        (
            "url = \"s3://media\"\nendpoint = \"ftp://x\"",
            "must start with https://",
        ),
        ("url = \"gs://media\"", "file://PATH or s3://BUCKET"),
    ];
    refused(dir.path(), "storage", &cases);
}

#[test]
fn the_bus_is_checked_and_its_credentials_never_printed() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("cityx.toml");
    let shown = checked(
        dir.path(),
        "[queue]\nurl = \"nats://cityx:nats-password@10.0.0.5:4222,nats://s3cr3t-token@10.0.0.6:4222\"\n\
         prefix = \"city_a\"\n",
    );
    assert!(
        shown.contains("nats://***@10.0.0.5:4222,nats://***@10.0.0.6:4222")
            && shown.contains("city_a"),
        "{shown}"
    );
    assert!(
        !shown.contains("nats-password") && !shown.contains("s3cr3t-token"),
        "{shown}"
    );
    // A worker that cannot reach its bus does not start, and says so without the secret.
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\n[queue]\nurl = \"nats://user:pw-123@127.0.0.1:1\"\n",
    )
    .expect("write");
    let out = cityx(dir.path(), &["serve", "--role", "worker"]);
    let said = text(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("failed to open the message bus nats://***@127.0.0.1:1"),
        "{said}"
    );
    assert!(!said.contains("pw-123"), "{said}");
    let cases = [
        ("url = \"redis://127.0.0.1\"", "must be empty"),
        ("url = \"nats://a:4222,amqp://b\"", "must be empty"),
        ("prefix = \"City.X\"", "queue.prefix"),
        ("prefix = \"\"", "queue.prefix"),
        ("window = 0", "queue.window"),
    ];
    refused(dir.path(), "queue", &cases);
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().expect("dir");
    let out = cityx(dir.path(), &["migrate", "--data", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("d/cityx.db").is_file());
    assert!(dir.path().join("d/objects").is_dir());
    // Running it again is harmless.
    assert!(
        cityx(dir.path(), &["migrate", "--data", "d"])
            .status
            .success()
    );
}

#[test]
fn reindex_rebuilds_the_search_index() {
    let dir = tempfile::tempdir().expect("dir");
    let out = cityx(dir.path(), &["admin", "reindex", "--data", "d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("search index rebuilt: 0 items"),
        "{}",
        text(&out.stdout)
    );
    assert!(dir.path().join("d/search/meta.json").is_file());
}

#[test]
fn fsck_and_storage_migrate_from_the_console() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let stray = "assets/0190a6f4-8c3e-7b6a-9d2e-1f2a3b4c5d6e/master";
    let object = d.join("d/objects").join(stray);
    std::fs::create_dir_all(object.parent().expect("parent")).expect("mkdir");
    std::fs::write(&object, "不属于任何条目").expect("write");

    // An object no item owns is a problem: listed, and the exit status says so.
    let out = cityx(d, &["admin", "fsck", "--data", "d"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout
            .contains("assets/0190a6f4-8c3e-7b6a-9d2e-1f2a3b4c5d6e: 1 stray object: no such item"),
        "{stdout}"
    );
    assert!(stdout.contains("0 items, 0 objects checked"), "{stdout}");
    assert!(text(&out.stderr).contains("1 problem found"));

    // Every object moves, verified; a second run finds it there.
    let moved = format!("file://{}", d.join("moved").display());
    let out = cityx(
        d,
        &["admin", "storage", "migrate", "--data", "d", "--to", &moved],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("1 object copied (21 B) and verified by SHA-256"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("moved").join(stray)).expect("moved"),
        "不属于任何条目"
    );
    assert!(d.join("d/storage-migrate.journal").is_file());
    let out = cityx(
        d,
        &["admin", "storage", "migrate", "--data", "d", "--to", &moved],
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("0 objects copied (0 B)"), "{stdout}");
    assert!(stdout.contains("1 already there (21 B)"), "{stdout}");

    // A destination from a configuration file, with a journal of its own.
    std::fs::write(
        d.join("new.toml"),
        format!(
            "[storage]\nurl = \"file://{}\"\n",
            d.join("moved2").display()
        ),
    )
    .expect("write");
    let out = cityx(
        d,
        &[
            "admin",
            "storage",
            "migrate",
            "--data",
            "d",
            "--to-config",
            "new.toml",
            "--journal",
            "j2",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(d.join("moved2").join(stray).is_file());
    assert!(d.join("j2").is_file());

    // Refused, with the reason: the store in use, a journal of another destination, an
    // unknown kind of store, no destination at all.
    let here = format!("file://{}", d.join("d/objects").display());
    for (args, why) in [
        (
            vec!["--to", here.as_str()],
            "the destination is the store in use",
        ),
        (
            vec!["--to", moved.as_str(), "--journal", "j2"],
            "belongs to another migration",
        ),
        (vec!["--to", "ftp://example.invalid/x"], "is not supported"),
    ] {
        let mut all = vec!["admin", "storage", "migrate", "--data", "d"];
        all.extend(args);
        let out = cityx(d, &all);
        assert_eq!(out.status.code(), Some(1), "{all:?}");
        assert!(
            text(&out.stderr).contains(why),
            "{all:?}: {}",
            text(&out.stderr)
        );
    }
    let out = cityx(d, &["admin", "storage", "migrate", "--data", "d"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--to"), "{}", text(&out.stderr));
}

#[test]
fn admin_commands_manage_stations_users_and_tokens() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let run = |args: &[&str]| {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        let out = cityx(d, &all);
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, out, err) = run(&[
        "station",
        "create",
        "--name",
        "杭州电视台",
        "--code",
        "hztv",
        "--city",
        "杭州",
        "--province",
        "浙江",
        "--region",
        "east",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("hztv"));
    // Bad input: a clear message naming the flag, nothing created.
    let (ok, _, err) = run(&[
        "station",
        "create",
        "--name",
        "x",
        "--code",
        "x y",
        "--city",
        "c",
        "--province",
        "p",
        "--region",
        "mars",
    ]);
    assert!(!ok);
    assert!(err.contains("--code") && err.contains("--region"), "{err}");
    let (_, list, _) = run(&["station", "list"]);
    assert_eq!(list.lines().count(), 2, "{list}");

    let (ok, out, err) = run(&[
        "user",
        "create",
        "--email",
        "Boss@HZTV.cn",
        "--name",
        "台长",
        "--role",
        "station_admin",
        "--station",
        "hztv",
    ]);
    assert!(ok, "{err}");
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("generated password")
        .to_owned();
    assert_eq!(password.len(), 16);
    let out = cityx_with(
        d,
        &[
            "admin",
            "user",
            "create",
            "--email",
            "ed@hztv.cn",
            "--name",
            "编辑",
            "--role",
            "editor",
            "--station",
            "hztv",
            "--password-stdin",
        ],
        Some("editor-password-1\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("password:"),
        "a given password is not echoed"
    );
    let (ok, _, err) = run(&[
        "user",
        "create",
        "--email",
        "x@hztv.cn",
        "--name",
        "x",
        "--role",
        "editor",
        "--station",
        "nope",
    ]);
    assert!(!ok && err.contains("no station with code `nope`"), "{err}");

    let (ok, out, _) = run(&[
        "user",
        "set-role",
        "--email",
        "ed@hztv.cn",
        "--role",
        "viewer",
    ]);
    assert!(ok && out.contains("viewer"));
    let (ok, out, _) = run(&["user", "disable", "--email", "ed@hztv.cn"]);
    assert!(ok && out.contains("disabled"));
    let (ok, out, _) = run(&["user", "enable", "--email", "ed@hztv.cn"]);
    assert!(ok && out.contains("enabled"));
    let (_, users, _) = run(&["user", "list", "--station", "hztv"]);
    assert!(
        users.contains("boss@hztv.cn") && users.contains("ed@hztv.cn"),
        "{users}"
    );

    let (ok, out, err) = run(&[
        "token",
        "create",
        "--email",
        "boss@hztv.cn",
        "--name",
        "importer",
        "--scopes",
        "read,write",
        "--days",
        "7",
    ]);
    assert!(ok, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .expect("secret");
    assert!(secret.starts_with("cx_") && secret.len() == 67);
    let id = out.split_whitespace().nth(2).expect("id").to_owned();
    let (ok, _, err) = run(&[
        "token",
        "create",
        "--email",
        "ed@hztv.cn",
        "--name",
        "x",
        "--scopes",
        "admin",
    ]);
    assert!(
        !ok && err.contains("--scopes"),
        "a viewer cannot hold admin: {err}"
    );
    let (_, list, _) = run(&["token", "list"]);
    assert!(list.contains(&id) && list.contains("active"), "{list}");
    let (ok, _, _) = run(&["token", "revoke", "--id", &id]);
    assert!(ok);
    let (_, list, _) = run(&["token", "list", "--all"]);
    assert!(list.contains("revoked"), "{list}");
    let (ok, _, err) = run(&["token", "revoke", "--id", "garbage"]);
    assert!(!ok && err.contains("--id"), "{err}");

    let (ok, out, _) = run(&["user", "reset-password", "--email", "ed@hztv.cn"]);
    assert!(ok && out.contains("password: "));
    // Dead jobs: none yet; a re-run names a job that must exist and be dead.
    let (ok, out, err) = run(&["job", "dead"]);
    assert!(
        ok && out.starts_with("ID") && out.lines().count() == 1,
        "{out}{err}"
    );
    let (ok, _, err) = run(&["job", "rerun", "--id", "garbage"]);
    assert!(!ok && err.contains("--id"), "{err}");
    let (ok, _, err) = run(&["job", "rerun", "--id", &uuid::Uuid::now_v7().to_string()]);
    assert!(!ok && err.contains("not found"), "{err}");
}

/// Reads stderr until the "running at" line and returns the address.
fn wait_for_address(stderr: &mut impl BufRead) -> (String, String) {
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if stderr.read_line(&mut line).expect("read") == 0 {
            break;
        }
        seen.push_str(&line);
        if let Some(rest) = line.split("running at http://").nth(1) {
            return (rest.split('/').next().unwrap_or_default().to_owned(), seen);
        }
    }
    panic!("the server never said where it listens:\n{seen}");
}

/// Starts `cityx serve --data data --listen 127.0.0.1:0 EXTRA…` in `dir`, with no first
/// admin or config from the environment; returns it, its stderr, its address and what it
/// said until then.
fn serve(dir: &Path, extra: &[&str]) -> (Child, BufReader<ChildStderr>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cityx"))
        .current_dir(dir)
        .args(["serve", "--data", "data", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("CITYX_ADMIN_EMAIL")
        .env_remove("CITYX_ADMIN_PASSWORD")
        .env_remove("CITYX_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (addr, seen) = wait_for_address(&mut stderr);
    (child, stderr, addr, seen)
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

#[test]
fn serve_as_a_worker_runs_jobs_and_answers_only_health() {
    let dir = tempfile::tempdir().expect("dir");
    let out = cityx(dir.path(), &["serve", "--role", "indexer"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--role"),
        "{}",
        text(&out.stderr)
    );

    let (mut child, _stderr, addr, seen) = serve(dir.path(), &["--role", "worker"]);
    assert!(seen.contains("cityx worker is running"), "{seen}");
    assert!(
        !seen.contains("First hub admin"),
        "the API nodes create it: {seen}"
    );
    assert!(http_get(&addr, "/healthz").contains("\"status\":\"ok\""));
    assert!(http_get(&addr, "/readyz").starts_with("HTTP/1.1 200"));
    let api = http_get(&addr, "/api/v1/stations");
    assert!(
        api.starts_with("HTTP/1.1 404") && api.contains("\"not_found\""),
        "{api}"
    );
    assert!(
        !dir.path().join("data/search").exists(),
        "a worker keeps no search index"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().expect("wait").success(), "graceful exit");
}

#[test]
fn serve_creates_the_first_admin_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut child, mut stderr, addr, seen) = serve(dir.path(), &["--log-format", "json"]);
    assert!(
        seen.contains("First hub admin created") && seen.contains("admin@cityx.local"),
        "{seen}"
    );
    assert!(
        seen.contains("password: "),
        "a generated password is printed once: {seen}"
    );
    assert!(
        seen.contains("\"message\":\"cityx listening\""),
        "JSON logs: {seen}"
    );
    assert!(http_get(&addr, "/healthz").contains("\"status\":\"ok\""));

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "cityx did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "graceful exit, got {status}");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("read");
    assert!(
        rest.contains("shutting down") && rest.contains("stopped"),
        "{rest}"
    );

    // A second start on the same data creates no admin and prints no password.
    let (mut child, _stderr, _, seen) = serve(dir.path(), &[]);
    assert!(!seen.contains("First hub admin"), "{seen}");
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(
        child.wait().expect("wait").success(),
        "SIGINT stops it gracefully too"
    );
}
