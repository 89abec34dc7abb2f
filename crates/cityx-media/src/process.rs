//! The hardened way to run a tool.

use crate::MediaError;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Limits of one run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock limit.
    pub wall: Duration,
    /// Kill when neither stdout nor stderr moved for this long.
    pub stall: Duration,
    /// The most stdout kept (more is an error).
    pub max_stdout: usize,
}

/// What a successful run printed.
#[derive(Debug)]
pub struct Output {
    pub stdout: Vec<u8>,
    /// The last few kilobytes of stderr, for messages.
    pub stderr_tail: String,
}

const STDERR_TAIL: usize = 8 * 1024;
/// The most stderr written to a log file; the rest is dropped (a runaway tool cannot fill the
/// disk).
const MAX_LOG: u64 = 64 * 1024 * 1024;

/// Receives a tool's output line by line.
pub type LineSink = Box<dyn FnMut(&str) + Send>;

/// Optional ways to watch a run.
#[derive(Default)]
pub struct Hooks {
    /// Also write all of stderr (up to 64 MiB) to this file: filters such as `blackdetect`
    /// report there.
    pub stderr_log: Option<PathBuf>,
    /// Called with each line of stdout instead of keeping it (`-progress pipe:1`).
    pub stdout_lines: Option<LineSink>,
    /// Called with each line of stderr (its tail is kept for messages as well); not with
    /// `stderr_log`.
    pub stderr_lines: Option<LineSink>,
    /// Called with the child's process id once it runs (supervised processes show it).
    pub on_spawn: Option<Box<dyn FnOnce(u32) + Send>>,
    /// Have the kernel kill the child when this process dies, even by `kill -9` (through
    /// util-linux's `setpriv --pdeathsig KILL`, which Debian always has): a long-running
    /// child in a process group of its own would otherwise outlive its node. The signal
    /// comes when the thread that spawned the child ends, so spawn from a runtime's worker
    /// thread, not a blocking one.
    pub die_with_parent: bool,
    /// Feed the child's standard input: called with its write end once it runs (a live
    /// stream piped into ffmpeg). Without it the child's stdin is empty.
    pub stdin: Option<Box<dyn FnOnce(tokio::process::ChildStdin) + Send>>,
    /// Take the child's standard output as it comes (a stream ffmpeg writes to `pipe:1`):
    /// called with its read end once it runs, instead of keeping or splitting it. Its
    /// movement does not count against the stall watchdog; have the tool report progress on
    /// stderr.
    pub stdout: Option<Box<dyn FnOnce(tokio::process::ChildStdout) + Send>>,
}

/// What runs a child that must die with this process.
const SETPRIV: &str = "setpriv";

/// Kills the whole process group when dropped: a cancelled job leaves nothing behind.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            use nix::sys::signal::{Signal, killpg};
            use nix::unistd::Pid;
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ms_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Where a stream's bytes go besides the kept head or tail.
enum Sink {
    None,
    Log(tokio::fs::File, u64),
    Lines(LineSink, Vec<u8>),
}

impl Sink {
    async fn take(&mut self, chunk: &[u8]) {
        match self {
            Sink::None => {}
            Sink::Log(file, written) => {
                use tokio::io::AsyncWriteExt;
                if *written < MAX_LOG {
                    let n = chunk
                        .len()
                        .min(usize::try_from(MAX_LOG - *written).unwrap_or(usize::MAX));
                    if file.write_all(&chunk[..n]).await.is_ok() {
                        *written += n as u64;
                    }
                }
            }
            Sink::Lines(f, pending) => {
                pending.extend_from_slice(chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    f(String::from_utf8_lossy(&pending[..end]).trim_end());
                    pending.drain(..=end);
                }
                // A line longer than this is not progress output: drop it.
                if pending.len() > 64 * 1024 {
                    pending.clear();
                }
            }
        }
    }

    async fn finish(&mut self) {
        if let Sink::Log(file, _) = self {
            use tokio::io::AsyncWriteExt;
            let _ = file.flush().await;
        }
    }
}

async fn pump<R: AsyncRead + Unpin>(
    mut r: R,
    keep_head: usize,
    keep_tail: usize,
    mut sink: Sink,
    activity: Arc<AtomicU64>,
    start: Instant,
) -> (Vec<u8>, bool) {
    let mut head = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut overflow = false;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                activity.store(ms_since(start), Ordering::Relaxed);
                let chunk = &buf[..n];
                sink.take(chunk).await;
                if matches!(sink, Sink::Lines(..)) && keep_tail == 0 {
                    continue;
                }
                if keep_tail > 0 {
                    tail.extend_from_slice(chunk);
                    if tail.len() > keep_tail {
                        tail.drain(..tail.len() - keep_tail);
                    }
                } else if head.len() + n <= keep_head {
                    head.extend_from_slice(chunk);
                } else {
                    overflow = true;
                }
            }
        }
    }
    sink.finish().await;
    (if keep_tail > 0 { tail } else { head }, overflow)
}

/// Runs `program args…` in `workdir` under `limits`.
pub async fn run(
    program: &Path,
    args: &[OsString],
    workdir: &Path,
    limits: &Limits,
) -> Result<Output, MediaError> {
    run_with(program, args, workdir, limits, Hooks::default()).await
}

/// [`run`], with stderr logged to a file or stdout handed over line by line.
pub async fn run_with(
    program: &Path,
    args: &[OsString],
    workdir: &Path,
    limits: &Limits,
    hooks: Hooks,
) -> Result<Output, MediaError> {
    let name = program.display().to_string();
    let io_error = |e| MediaError::Io {
        program: name.clone(),
        source: e,
    };
    let err_sink = match (&hooks.stderr_log, hooks.stderr_lines) {
        (Some(path), _) => Sink::Log(tokio::fs::File::create(path).await.map_err(io_error)?, 0),
        (None, Some(f)) => Sink::Lines(f, Vec::new()),
        (None, None) => Sink::None,
    };
    let out_sink = match hooks.stdout_lines {
        Some(f) => Sink::Lines(f, Vec::new()),
        None => Sink::None,
    };
    let started = Instant::now();
    // When `setpriv` is what cannot start, say so rather than blame the tool.
    let spawned_by = if hooks.die_with_parent {
        format!("{SETPRIV} (util-linux, to start {name})")
    } else {
        name.clone()
    };
    let mut command = if hooks.die_with_parent {
        let mut c = tokio::process::Command::new(SETPRIV);
        c.args(["--pdeathsig", "KILL", "--"]).arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    };
    let mut child = command
        .args(args)
        .current_dir(workdir)
        .stdin(if hooks.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| MediaError::Spawn {
            program: spawned_by,
            source: e,
        })?;
    let mut group = GroupGuard(child.id().and_then(|id| i32::try_from(id).ok()));
    if let (Some(f), Some(pid)) = (hooks.on_spawn, child.id()) {
        f(pid);
    }
    if let (Some(f), Some(stdin)) = (hooks.stdin, child.stdin.take()) {
        f(stdin);
    }
    // Taken only when asked for: otherwise stdout is read (and kept or split) below.
    if let Some(f) = hooks.stdout
        && let Some(stdout) = child.stdout.take()
    {
        f(stdout);
    }
    let activity = Arc::new(AtomicU64::new(0));
    let stdout = child.stdout.take().map(|s| {
        tokio::spawn(pump(
            s,
            limits.max_stdout,
            0,
            out_sink,
            activity.clone(),
            started,
        ))
    });
    let stderr = child
        .stderr
        .take()
        .map(|s| tokio::spawn(pump(s, 0, STDERR_TAIL, err_sink, activity.clone(), started)));

    // The watchdog wakes when a limit could have been reached (the wall clock's, or the
    // stall's counted from the last output), not on a fixed tick: a long-running child (a
    // live channel's inspector) costs no wake-ups while it works.
    let status = loop {
        let quiet_at =
            Duration::from_millis(activity.load(Ordering::Relaxed)).saturating_add(limits.stall);
        let due = quiet_at.min(limits.wall).saturating_sub(started.elapsed());
        tokio::select! {
            status = child.wait() => break status.map_err(|e| MediaError::Io { program: name.clone(), source: e })?,
            _ = tokio::time::sleep(due.saturating_add(Duration::from_millis(5))) => {
                if started.elapsed() > limits.wall {
                    group.kill();
                    let _ = child.wait().await;
                    return Err(MediaError::TimedOut { program: name, limit: limits.wall });
                }
                let quiet = Duration::from_millis(ms_since(started).saturating_sub(activity.load(Ordering::Relaxed)));
                if quiet > limits.stall {
                    group.kill();
                    let _ = child.wait().await;
                    return Err(MediaError::Stalled { program: name, stall: limits.stall });
                }
            }
        }
    };
    // The main process is gone; anything it left in its group goes too.
    group.kill();
    let (out, overflow) = match stdout {
        Some(h) => h.await.unwrap_or_default(),
        None => (Vec::new(), false),
    };
    let (err, _) = match stderr {
        Some(h) => h.await.unwrap_or_default(),
        None => (Vec::new(), false),
    };
    let stderr_tail = String::from_utf8_lossy(&err).trim().to_owned();
    if overflow {
        return Err(MediaError::OutputTooLarge {
            program: name,
            limit: limits.max_stdout,
        });
    }
    if !status.success() {
        return Err(MediaError::Failed {
            program: name,
            status: status.to_string(),
            stderr: stderr_tail,
        });
    }
    Ok(Output {
        stdout: out,
        stderr_tail,
    })
}
