//! The RTMP ingest: a listener on the ingest port that speaks RTMP (handshake and session
//! through `rml_rtmp`, which does no I/O of its own), asks for the stream key when the
//! publisher asks to publish, and hands the audio and video to a [`Publish`] session.
//!
//! Untrusted peers: the handshake and the publish request must come within seconds, a silent
//! publisher is let go, one address holds a bounded number of connections, wrong keys are
//! audited and limited per address, and a malformed chunk ends that connection only.

use crate::IngestOptions;
use crate::door::{Door, admit, refused};
use crate::flv::TagKind;
use crate::publish::{Cut, Publish};
use cityx_app::App;
use cityx_core::live::{Refusal, Trouble};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The handshake and the publish request must both arrive within this.
const START_LIMIT: Duration = Duration::from_secs(10);
/// A publisher silent for this long is let go.
const SILENCE: Duration = Duration::from_secs(15);
/// Accepts RTMP connections until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    opts: Arc<IngestOptions>,
    door: Arc<Door>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (app, opts, door) = (app.clone(), opts.clone(), door.clone());
                tokio::spawn(async move {
                    let Some(_slot) =
                        door.enter(peer.ip(), opts.max_connections_per_ip, opts.max_connections)
                    else {
                        metrics::counter!("cityx_live_connections_refused_total").increment(1);
                        return;
                    };
                    if let Err(e) = connection(stream, peer, &app, &opts, &door).await {
                        tracing::debug!(%peer, error = %e, "RTMP connection ended");
                    }
                });
            }
        }
    }
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

async fn write_results(
    stream: &mut TcpStream,
    results: Vec<ServerSessionResult>,
    events: &mut Vec<ServerSessionEvent>,
) -> Result<(), Failure> {
    for r in results {
        match r {
            ServerSessionResult::OutboundResponse(packet) => {
                stream.write_all(&packet.bytes).await?
            }
            ServerSessionResult::RaisedEvent(e) => events.push(e),
            ServerSessionResult::UnhandleableMessageReceived(_) => {}
        }
    }
    Ok(())
}

/// Completes the handshake; returns what the peer sent after it.
async fn handshake(stream: &mut TcpStream) -> Result<Vec<u8>, Failure> {
    let mut hs = Handshake::new(PeerType::Server);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err("closed during the handshake".into());
        }
        match hs.process_bytes(&buf[..n])? {
            HandshakeProcessResult::InProgress { response_bytes } => {
                stream.write_all(&response_bytes).await?;
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                stream.write_all(&response_bytes).await?;
                return Ok(remaining_bytes);
            }
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    app: &Arc<App>,
    opts: &Arc<IngestOptions>,
    door: &Door,
) -> Result<(), Failure> {
    stream.set_nodelay(true)?;
    let started = Instant::now();
    let rest = tokio::time::timeout(START_LIMIT, handshake(&mut stream)).await??;
    let (mut session, first) = ServerSession::new(ServerSessionConfig::new())?;
    let mut events = Vec::new();
    write_results(&mut stream, first, &mut events).await?;
    let mut pending = rest;
    let mut publish: Option<Publish> = None;
    // Whether the publisher ended its stream (rather than going away).
    let mut ended = false;
    let mut buf = vec![0u8; 64 * 1024];
    let outcome: Result<(), Failure> = async {
        loop {
            if !pending.is_empty() {
                // The chunk parser is another crate's: a panic on hostile chunks ends this
                // connection like any malformed input, never the node.
                let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    session.handle_input(&pending)
                }))
                .map_err(|_| "malformed RTMP chunks")?;
                let results = parsed?;
                pending.clear();
                write_results(&mut stream, results, &mut events).await?;
            }
            for event in std::mem::take(&mut events) {
                match event {
                    ServerSessionEvent::ConnectionRequested { request_id, .. } => {
                        let results = session.accept_request(request_id)?;
                        write_results(&mut stream, results, &mut events).await?;
                    }
                    ServerSessionEvent::PublishStreamRequested {
                        request_id,
                        stream_key,
                        ..
                    } => {
                        if publish.is_some() {
                            return Err("a second publish on one connection".into());
                        }
                        match admit(app, door, peer, &stream_key, "rtmp", None).await {
                            Ok((channel, session_id)) => {
                                let reconnects = door.publishes(channel.id);
                                let p = Publish::start(
                                    channel,
                                    session_id,
                                    peer.ip().to_string(),
                                    reconnects,
                                    app.clone(),
                                    opts.clone(),
                                )?;
                                tracing::info!(channel = %p.channel.id, session = %p.session, %peer, "live session started");
                                // Held from here: whatever happens next, it is finished.
                                publish = Some(p);
                                let results = session.accept_request(request_id)?;
                                write_results(&mut stream, results, &mut events).await?;
                            }
                            Err(refusal) => {
                                let results = session.reject_request(
                                    request_id,
                                    "NetStream.Publish.BadName",
                                    refusal.as_str(),
                                )?;
                                write_results(&mut stream, results, &mut events).await?;
                                let _ = stream.flush().await;
                                return Err(format!("publish refused: {}", refusal.as_str()).into());
                            }
                        }
                    }
                    ServerSessionEvent::VideoDataReceived { data, timestamp, .. } => {
                        if let Some(p) = &publish
                            && let Err(cut) = p.feed(TagKind::Video, timestamp.value, &data).await
                        {
                            return Err(cut_off(app, p, peer, cut).await.into());
                        }
                    }
                    ServerSessionEvent::AudioDataReceived { data, timestamp, .. } => {
                        if let Some(p) = &publish
                            && let Err(cut) = p.feed(TagKind::Audio, timestamp.value, &data).await
                        {
                            return Err(cut_off(app, p, peer, cut).await.into());
                        }
                    }
                    ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                        if let Some(p) = &publish {
                            p.metadata(&metadata).await;
                        }
                    }
                    ServerSessionEvent::PublishStreamFinished { .. } => {
                        ended = true;
                        return Ok(());
                    }
                    _ => {}
                }
            }
            if let Some(p) = &publish
                && let Some(cut) = p.cut().await
            {
                return Err(cut_off(app, p, peer, cut).await.into());
            }
            let limit = if publish.is_some() {
                SILENCE
            } else {
                let left = START_LIMIT.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err("no publish request within the start limit".into());
                }
                left
            };
            let n = tokio::time::timeout(limit, stream.read(&mut buf)).await??;
            if n == 0 {
                return Ok(());
            }
            pending.extend_from_slice(&buf[..n]);
        }
    }
    .await;
    if let Some(p) = publish {
        if !ended {
            let why = match (&outcome, p.cut().await) {
                (_, Some(cut)) => cut.failure(),
                (Ok(()), _) => crate::Failure::new(
                    Trouble::Dropped,
                    "the publisher closed the connection without ending the stream",
                ),
                (Err(e), _) => crate::Failure::new(
                    Trouble::Dropped,
                    format!("the publisher's connection ended: {e}"),
                ),
            };
            p.note_error(why).await;
        }
        p.finish(ended).await;
    }
    outcome
}
/// Why a connection ends for its session's cut; a stream over its limits is audited as a
/// refused publish.
async fn cut_off(app: &Arc<App>, p: &Publish, peer: SocketAddr, cut: Cut) -> String {
    if cut == Cut::OverLimits {
        refused(app, Some(&p.channel), peer, Refusal::OverLimits, "rtmp").await;
    }
    format!("session cut: {}", cut.failure().detail)
}
