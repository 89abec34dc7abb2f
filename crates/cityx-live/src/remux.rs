//! MPEG-TS into a live session: a hardened ffmpeg copies the stream (`-f mpegts` on stdin,
//! `-c copy -f flv` on stdout) and its FLV is read back into the messages a session takes,
//! for sources that bring MPEG-TS (HLS pulls, SRT publishers). The stream's program tables
//! are read first (`cityx_media::sniff`): video other than H.264 (HEVC, MPEG-2, AVS …) and
//! audio other than AAC (MPEG audio, AC-3 …) are converted by the same ffmpeg, and the
//! channel's health says so.

use crate::flv;
use crate::publish::Publish;
use crate::{Failure, IngestOptions};
use cityx_app::App;
use cityx_core::live::{Channel, Trouble};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A source silent this long is given up.
pub(crate) const SILENCE: Duration = Duration::from_secs(15);
/// How often a pull checks that its channel still pulls the same address.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(5);
/// A stream whose tables have not come within this many bytes is taken as it is.
const SNIFF_MAX: usize = 2 << 20;

/// Where a source writes its MPEG-TS: the remuxer reads the tables, then hands it to ffmpeg.
pub(crate) type Input = tokio::io::DuplexStream;

/// Runs the remuxer (MPEG-TS in, FLV out) between a source and the session: `source` writes
/// the stream into the remuxer's stdin (and ends it when the stream ends), the FLV that comes
/// back is fed to the session as messages. With `pulling`, the channel is checked every few
/// seconds to still pull what it pulled. How long it ran, or why it broke.
pub(crate) async fn run<F, Fut>(
    publish: &Publish,
    ch: &Channel,
    opts: &Arc<IngestOptions>,
    pulling: Option<&Arc<App>>,
    source: F,
) -> Result<Duration, (Duration, Failure)>
where
    F: FnOnce(Input) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>> + Send + 'static,
{
    let started = Instant::now();
    let broke = |code: Trouble, e: String| Err((started.elapsed(), Failure::new(code, e)));
    let dir = opts
        .work_dir
        .join(ch.id.to_string())
        .join(format!("pull-{}", publish.session));
    if let Err(e) = tokio::fs::create_dir_all(&dir).await {
        return broke(
            Trouble::Broken,
            format!("cannot make a working directory: {e}"),
        );
    }
    let (input, mut from_source) = tokio::io::duplex(256 << 10);
    let writer = tokio::spawn(source(input));
    // The program tables come first in a stream (and again every few hundred ms).
    let mut head = Vec::with_capacity(64 << 10);
    let program = loop {
        if let Some(p) = cityx_media::sniff::program(&head) {
            break p;
        }
        if head.len() >= SNIFF_MAX {
            break cityx_media::sniff::Program::default();
        }
        head.reserve(64 << 10);
        match tokio::time::timeout(SILENCE, from_source.read_buf(&mut head)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) | Ok(Err(_)) => {
                writer.abort();
                let _ = tokio::fs::remove_dir_all(&dir).await;
                return match writer.await {
                    Ok(Err(e)) => Err((started.elapsed(), e)),
                    _ => broke(
                        Trouble::Broken,
                        "the source ended before its stream began".into(),
                    ),
                };
            }
            Err(_) => {
                writer.abort();
                let _ = tokio::fs::remove_dir_all(&dir).await;
                return broke(
                    Trouble::Silent,
                    format!("the source sent nothing for {} s", SILENCE.as_secs()),
                );
            }
        }
    };
    if program.converts() {
        publish.converting(&program);
    }
    let (in_tx, in_rx) = tokio::sync::oneshot::channel();
    let (out_tx, out_rx) = tokio::sync::oneshot::channel();
    let hooks = cityx_media::process::Hooks {
        die_with_parent: true,
        stderr_lines: Some(Box::new(|_| {})),
        stdin: Some(Box::new(move |s| {
            let _ = in_tx.send(s);
        })),
        stdout: Some(Box::new(move |s| {
            let _ = out_tx.send(s);
        })),
        ..Default::default()
    };
    let limits = cityx_media::process::Limits {
        wall: Duration::from_secs(30 * 24 * 3600),
        stall: Duration::from_secs(30),
        max_stdout: 0,
    };
    let (ffmpeg, workdir) = (opts.tools.ffmpeg.clone(), dir.clone());
    let args = cityx_media::live::remux_to_flv_args(&program, opts.segment_secs);
    let process = tokio::spawn(async move {
        cityx_media::process::run_with(&ffmpeg, &args, &workdir, &limits, hooks).await
    });
    let (Ok(stdin), Ok(mut stdout)) = (in_rx.await, out_rx.await) else {
        let why = match process.await {
            Ok(Err(e)) => e.to_string(),
            _ => "the remuxer did not start".into(),
        };
        writer.abort();
        let _ = tokio::fs::remove_dir_all(&dir).await;
        return broke(Trouble::Broken, why);
    };
    let copier = tokio::spawn(async move {
        let mut stdin: tokio::process::ChildStdin = stdin;
        if stdin.write_all(&head).await.is_ok()
            && tokio::io::copy(&mut from_source, &mut stdin).await.is_ok()
        {
            let _ = stdin.shutdown().await;
        }
    });
    let mut reader = flv::Reader::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut checked = Instant::now();
    let mut sized = false;
    let result = loop {
        if let Some(cut) = publish.cut().await {
            break broke(Trouble::Broken, format!("the session was cut ({cut:?})"));
        }
        if let Some(app) = pulling
            && checked.elapsed() >= CHECK_EVERY
        {
            checked = Instant::now();
            if !crate::pull::still_pulls(app, ch).await {
                break Ok(started.elapsed());
            }
        }
        let n = match tokio::time::timeout(SILENCE, stdout.read(&mut buf)).await {
            Err(_) => {
                break broke(
                    Trouble::Silent,
                    format!("the source sent nothing for {} s", SILENCE.as_secs()),
                );
            }
            Ok(Err(e)) => break broke(Trouble::Broken, format!("the remuxer's output broke: {e}")),
            Ok(Ok(0)) => break Ok(started.elapsed()),
            Ok(Ok(n)) => n,
        };
        reader.push(&buf[..n]);
        let mut fed = Ok(());
        loop {
            match reader.next_tag() {
                Ok(Some(tag)) => {
                    let (kind, timestamp, data) = tag;
                    if !sized && let Some((w, h)) = reader.size {
                        publish.set_size(w, h).await;
                        sized = true;
                    }
                    if let Err(cut) = publish.feed(kind, timestamp, &data).await {
                        let f = cut.failure();
                        fed = Err((f.code, f.detail));
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    fed = Err((
                        Trouble::Unsupported,
                        format!("the remuxer wrote broken FLV: {}", e.0),
                    ));
                    break;
                }
            }
        }
        if let Err((code, e)) = fed {
            break broke(code, e);
        }
    };
    // A feed that failed says why, rather than the remuxer's end it caused.
    let result = match (result, writer.is_finished()) {
        (r, true) => match writer.await {
            Ok(Err(e)) => Err((started.elapsed(), e)),
            _ => r,
        },
        (r, false) => {
            writer.abort();
            r
        }
    };
    copier.abort();
    drop(stdout);
    let _ = tokio::time::timeout(Duration::from_secs(5), process).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}
