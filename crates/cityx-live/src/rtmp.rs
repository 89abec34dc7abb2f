//! The RTMP ingest: a listener on the ingest port that speaks RTMP (handshake and session
//! through `rml_rtmp`, which does no I/O of its own), asks for the stream key when the
//! publisher asks to publish, and hands the audio and video to a [`Publish`] session.
//!
//! Untrusted peers: the handshake and the publish request must come within seconds, a silent
//! publisher is let go, one address holds a bounded number of connections, wrong keys are
//! audited and limited per address, and a malformed chunk ends that connection only.

use crate::IngestOptions;
use crate::flv::TagKind;
use crate::publish::{Cut, HOLD, Publish};
use cityx_app::App;
use cityx_core::live::{Channel, Refusal, key_shape_ok};
use cityx_core::{AuditAction, NewAudit};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The handshake and the publish request must both arrive within this.
const START_LIMIT: Duration = Duration::from_secs(10);
/// A publisher silent for this long is let go.
const SILENCE: Duration = Duration::from_secs(15);
/// Wrong keys from one address within [`FAILURE_WINDOW`] before it is refused outright.
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Per-address bookkeeping: open connections and recent wrong keys.
#[derive(Default)]
pub struct Door {
    open: Mutex<HashMap<IpAddr, usize>>,
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
    /// Publishes per channel since start, to report reconnects.
    publishes: Mutex<HashMap<cityx_core::ChannelId, u32>>,
}

struct Slot<'a>(&'a Door, IpAddr);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// The address a limit counts by: an IPv4 address, or an IPv6 /64 (one subscriber's network,
/// whose addresses a peer can rotate at will).
fn counted(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl Door {
    /// A connection's place: at most `per_address` from one address (or IPv6 /64) and
    /// `total` in all.
    fn enter(&self, ip: IpAddr, per_address: usize, total: usize) -> Option<Slot<'_>> {
        let ip = counted(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.values().sum::<usize>() >= total {
            return None;
        }
        let n = open.entry(ip).or_default();
        if *n >= per_address {
            return None;
        }
        *n += 1;
        Some(Slot(self, ip))
    }

    fn limited(&self, ip: IpAddr) -> bool {
        let ip = counted(ip);
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let list = f.entry(ip).or_default();
        list.retain(|t| t.elapsed() < FAILURE_WINDOW);
        list.len() >= MAX_FAILURES
    }

    fn failed(&self, ip: IpAddr) {
        let ip = counted(ip);
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() > 100_000 {
            f.retain(|_, l| l.iter().any(|t| t.elapsed() < FAILURE_WINDOW));
        }
        f.entry(ip).or_default().push(Instant::now());
    }

    fn publishes(&self, channel: cityx_core::ChannelId) -> u32 {
        let mut p = self.publishes.lock().unwrap_or_else(|e| e.into_inner());
        let n = p.entry(channel).or_default();
        let reconnects = *n;
        *n += 1;
        reconnects
    }
}

/// Accepts RTMP connections until `stop` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    opts: Arc<IngestOptions>,
    stop: impl std::future::Future<Output = ()>,
) {
    let door = Arc::new(Door::default());
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
                        match admit(app, door, peer, &stream_key).await {
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
                            && !p.feed(TagKind::Video, timestamp.value, &data).await
                        {
                            return Err("the packager cannot keep up".into());
                        }
                    }
                    ServerSessionEvent::AudioDataReceived { data, timestamp, .. } => {
                        if let Some(p) = &publish
                            && !p.feed(TagKind::Audio, timestamp.value, &data).await
                        {
                            return Err("the packager cannot keep up".into());
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
                if cut == Cut::OverLimits {
                    refused(app, Some(&p.channel), peer, Refusal::OverLimits).await;
                }
                return Err(format!("session cut: {cut:?}").into());
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
        p.finish(ended).await;
    }
    outcome
}

/// Checks a stream key and takes the channel for a new session.
async fn admit(
    app: &Arc<App>,
    door: &Door,
    peer: SocketAddr,
    key: &str,
) -> Result<(Channel, String), Refusal> {
    let ip = peer.ip();
    if door.limited(ip) {
        return Err(Refusal::RateLimited);
    }
    let channel = if key_shape_ok(key) {
        app.repo()
            .channel_by_key(&cityx_app::secrets::hash_secret(key))
            .await
            .ok()
            .flatten()
    } else {
        None
    };
    let Some(channel) = channel else {
        door.failed(ip);
        refused(app, None, peer, Refusal::UnknownKey).await;
        return Err(Refusal::UnknownKey);
    };
    let session = session_id();
    let held = app
        .repo()
        .hold_channel(
            channel.id,
            &session,
            &cityx_queue::node_name(),
            cityx_core::now() + HOLD,
        )
        .await
        .unwrap_or(false);
    if !held {
        refused(app, Some(&channel), peer, Refusal::Busy).await;
        return Err(Refusal::Busy);
    }
    Ok((channel, session))
}

/// A session's id: 16 hex characters (also its folder in storage).
pub(crate) fn session_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    cityx_app::secrets::hex(&bytes)
}

/// Records a refused publish in the audit log.
async fn refused(app: &Arc<App>, channel: Option<&Channel>, peer: SocketAddr, why: Refusal) {
    let audit = NewAudit {
        actor_user_id: None,
        actor_label: "rtmp".into(),
        station_id: channel.map(|c| c.station_id),
        action: AuditAction::PublishRefused,
        target_type: "channel",
        target_id: channel.map_or_else(|| "-".to_owned(), |c| c.id.to_string()),
        ok: false,
        ip: Some(peer.ip().to_string()),
        detail: serde_json::json!({ "reason": why.as_str(), "protocol": "rtmp" }),
    };
    if let Err(e) = app.repo().insert_audit(&audit).await {
        tracing::warn!(error = %e, "could not audit a refused publish");
    }
    metrics::counter!("cityx_live_publish_refused_total", "reason" => why.as_str()).increment(1);
    tracing::info!(%peer, reason = why.as_str(), "publish refused");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_ipv4_alone_and_ipv6_by_network() {
        let door = Door::default();
        let v6 =
            |last: u16| IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, last));
        let a = door.enter(v6(1), 2, 10).expect("first");
        let b = door.enter(v6(2), 2, 10).expect("second of the /64");
        assert!(
            door.enter(v6(3), 2, 10).is_none(),
            "a third of the same /64"
        );
        let v4 = IpAddr::from([192, 0, 2, 1]);
        let c = door.enter(v4, 2, 3).expect("another address");
        assert!(
            door.enter(IpAddr::from([192, 0, 2, 2]), 2, 3).is_none(),
            "the total"
        );
        drop((a, b, c));
        assert!(door.enter(v6(3), 2, 10).is_some(), "places free again");
        for _ in 0..MAX_FAILURES {
            door.failed(v6(7));
        }
        assert!(door.limited(v6(8)), "wrong keys count by network");
        assert!(!door.limited(v4));
    }
}
