//! The hardened way to run a tool.

use crate::MediaError;
use std::ffi::OsString;
use std::path::Path;
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

async fn pump<R: AsyncRead + Unpin>(
    mut r: R,
    keep_head: usize,
    keep_tail: usize,
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
    (if keep_tail > 0 { tail } else { head }, overflow)
}

/// Runs `program args…` in `workdir` under `limits`.
pub async fn run(
    program: &Path,
    args: &[OsString],
    workdir: &Path,
    limits: &Limits,
) -> Result<Output, MediaError> {
    let name = program.display().to_string();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| MediaError::Spawn {
            program: name.clone(),
            source: e,
        })?;
    let mut group = GroupGuard(child.id().and_then(|id| i32::try_from(id).ok()));
    let activity = Arc::new(AtomicU64::new(0));
    let stdout = child
        .stdout
        .take()
        .map(|s| tokio::spawn(pump(s, limits.max_stdout, 0, activity.clone(), started)));
    let stderr = child
        .stderr
        .take()
        .map(|s| tokio::spawn(pump(s, 0, STDERR_TAIL, activity.clone(), started)));

    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(|e| MediaError::Io { program: name.clone(), source: e })?,
            _ = tick.tick() => {
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
