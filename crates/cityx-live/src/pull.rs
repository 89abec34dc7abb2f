//! Channels that pull their signal (拉流) instead of being published to: from a remote RTMP
//! server (played in process through `rtmp_client`), a remote SRT listener (called in process,
//! its MPEG-TS through the remuxer), a remote HLS stream (followed through the outbound
//! guard), or another cityx channel shared with the puller's station (its segments read from
//! storage). Every API node runs [`supervise`]: every 2 s it offers itself for the
//! pulling channels no session holds, opens the source, takes the channel's hold and runs an
//! ordinary publishing session fed from the source, so that a pull is packaged, recorded,
//! clipped and restreamed like a push. A source that fails is tried again after a pause
//! that doubles up to a minute (per node); a node that dies loses its hold and another node
//! takes the pull over within the hold (6 s) and one look (2 s).

use crate::hls::Feed;
use crate::publish::{HOLD, Publish};
use crate::remux::{CHECK_EVERY, SILENCE};
use crate::rtmp_client::{Client, Received};
use crate::{Failure, IngestOptions};
use cityx_app::App;
use cityx_core::live::{Channel, ChannelState, Health, Source, Trouble};
use cityx_core::{ChannelId, TenantScope};
use cityx_media::hls::MediaPlaylist as Listing;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// How often a node looks for pulls to take.
const LOOK_EVERY: Duration = Duration::from_secs(2);
/// The longest pause after failures.
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// A pull that ran this long starts its pauses again from the shortest.
const STEADY: Duration = Duration::from_secs(30);

/// The pause after `failures` failures in a row: 1, 2, 4 … seconds, at most [`MAX_PAUSE`].
fn pause_after(failures: u32) -> Duration {
    Duration::from_secs(1 << failures.min(6)).min(MAX_PAUSE)
}

/// How an attempt ended.
#[derive(Debug)]
enum Outcome {
    /// The source could not be opened or broke: pause, longer each time.
    Failed,
    /// The source channel is off air: look again shortly.
    OffAir,
    /// The stream ran and ended (the source ended it, or the channel changed).
    Ended(Duration),
    /// Another node took the channel first.
    Busy,
}

/// Looks for pulling channels and runs their pulls on this node until `stop`.
pub async fn supervise(
    app: Arc<App>,
    opts: Arc<IngestOptions>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(ChannelId, Outcome)>();
    let mut running: HashMap<ChannelId, tokio::task::JoinHandle<()>> = HashMap::new();
    // Failures in a row and when the next attempt may start, per channel.
    let mut waits: HashMap<ChannelId, (u32, Instant)> = HashMap::new();
    // Sessions started per channel (its health's reconnects), counted when a pull runs.
    let mut started: HashMap<ChannelId, Arc<AtomicU32>> = HashMap::new();
    let mut tick = tokio::time::interval(LOOK_EVERY);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        while let Ok((id, outcome)) = done_rx.try_recv() {
            running.remove(&id);
            let now = Instant::now();
            let failures = waits.get(&id).map_or(0, |w| w.0);
            let (failures, pause) = match outcome {
                Outcome::Ended(ran) if ran >= STEADY => (0, Duration::ZERO),
                Outcome::Failed | Outcome::Ended(_) => (failures + 1, pause_after(failures)),
                Outcome::OffAir => (failures, Duration::from_secs(3)),
                Outcome::Busy => (failures, Duration::ZERO),
            };
            waits.insert(id, (failures, now + pause));
        }
        let channels = match app.repo().unheld_pull_channels().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "could not list pulling channels");
                continue;
            }
        };
        let now = Instant::now();
        for ch in channels {
            if running.contains_key(&ch.id) || waits.get(&ch.id).is_some_and(|w| w.1 > now) {
                continue;
            }
            let id = ch.id;
            let runs = started.entry(id).or_default().clone();
            let (app, opts, done) = (app.clone(), opts.clone(), done_tx.clone());
            running.insert(
                id,
                tokio::spawn(async move {
                    let outcome = attempt(ch, &runs, &app, &opts).await;
                    let _ = done.send((id, outcome));
                }),
            );
        }
    }
    for (_, task) in running {
        task.abort();
    }
}

/// A short description of where a pull comes from, for the health report (no credentials,
/// paths or queries: an address may carry a key).
fn describe(source: &Source) -> String {
    let host = |u: &str| {
        cityx_fetch::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(|h| format!("{}://{h}", u.scheme())))
            .unwrap_or_default()
    };
    match source {
        Source::Rtmp { app_url, .. } => host(app_url),
        Source::Srt { address, .. } => host(address),
        Source::Hls(url) | Source::Rtsp(url) => host(url),
        Source::Channel(id) => format!("channel:{id}"),
    }
}

/// Keeps why a pull failed as the channel's last health report.
async fn failed(app: &App, ch: &Channel, remote: &str, error: Failure) -> Outcome {
    tracing::info!(channel = %ch.id, error = %error, code = error.code.as_str(), "a pull failed");
    metrics::counter!("cityx_live_pull_failures_total").increment(1);
    let health = Health {
        remote: remote.to_owned(),
        error: error.detail,
        error_code: Some(error.code),
        ..Health::default()
    };
    if let Err(e) = app.repo().note_unheld_health(ch.id, &health).await {
        tracing::warn!(channel = %ch.id, error = %e, "could not note a pull's failure");
    }
    Outcome::Failed
}

/// Takes the channel's hold and starts its session, unless another node has it.
async fn take(
    ch: &Channel,
    remote: &str,
    runs: &AtomicU32,
    app: &Arc<App>,
    opts: &Arc<IngestOptions>,
) -> Option<Publish> {
    let session = crate::door::session_id("pull-");
    let held = app
        .repo()
        .hold_channel(
            ch.id,
            &session,
            &cityx_queue::node_name(),
            cityx_core::now() + HOLD,
        )
        .await
        .unwrap_or(false);
    if !held {
        return None;
    }
    let reconnects = runs.fetch_add(1, Ordering::Relaxed);
    match Publish::start(
        ch.clone(),
        session,
        remote.to_owned(),
        reconnects,
        app.clone(),
        opts.clone(),
    ) {
        Ok(p) => {
            tracing::info!(channel = %ch.id, session = %p.session, %remote, "a pull started");
            Some(p)
        }
        Err(e) => {
            tracing::warn!(channel = %ch.id, error = %e, "could not start a pull's session");
            None
        }
    }
}

/// One attempt: open the source, take the channel, run until the source ends or fails.
async fn attempt(
    ch: Channel,
    runs: &AtomicU32,
    app: &Arc<App>,
    opts: &Arc<IngestOptions>,
) -> Outcome {
    let Some(source) = ch.pull_url.as_deref().and_then(|u| Source::parse(u).ok()) else {
        let why = Failure::new(
            Trouble::BadAddress,
            "the pull address is not one cityx can pull",
        );
        return failed(app, &ch, "", why).await;
    };
    let remote = describe(&source);
    match &source {
        Source::Rtmp { app_url, stream } => {
            let opened = async {
                let mut client = Client::connect(app.fetch_guard(), app_url).await?;
                client.play(stream).await?;
                Ok::<_, crate::rtmp_client::ClientError>(client)
            };
            let client = match opened.await {
                Ok(c) => c,
                Err(e) => return failed(app, &ch, &remote, e).await,
            };
            let Some(publish) = take(&ch, &remote, runs, app, opts).await else {
                return Outcome::Busy;
            };
            let ran = run_rtmp(client, &publish, app, &ch).await;
            finish(&ch, publish, ran).await
        }
        Source::Srt {
            address,
            streamid,
            passphrase,
        } => {
            let called = crate::srt::call(app, address, streamid.as_deref(), passphrase.as_deref());
            let socket = match called.await {
                Ok(s) => s,
                Err(e) => return failed(app, &ch, &remote, e).await,
            };
            let Some(publish) = take(&ch, &remote, runs, app, opts).await else {
                return Outcome::Busy;
            };
            let ran = crate::remux::run(&publish, &ch, opts, Some(app), move |stdin| {
                crate::srt::pump(socket, stdin)
            })
            .await;
            finish(&ch, publish, ran).await
        }
        Source::Rtsp(url) => {
            let opened = match crate::rtsp::open(app, url).await {
                Ok(o) => o,
                Err(e) => return failed(app, &ch, &remote, e).await,
            };
            let Some(publish) = take(&ch, &remote, runs, app, opts).await else {
                return Outcome::Busy;
            };
            let ran = crate::rtsp::run(opened, &publish, app, &ch).await;
            finish(&ch, publish, ran).await
        }
        Source::Hls(url) => {
            let url = match app.fetch_guard().parse(url) {
                Ok(u) => u,
                Err(e) => return failed(app, &ch, &remote, e.into()).await,
            };
            let feed = Feed::Remote {
                guard: app.fetch_guard().clone(),
                url,
                media: None,
            };
            follow_hls(feed, ch, remote, runs, app, opts).await
        }
        Source::Channel(src) => {
            if *src == ch.id {
                let why = Failure::new(Trouble::BadAddress, "a channel cannot pull itself");
                return failed(app, &ch, &remote, why).await;
            }
            let seen = app
                .repo()
                .get_watchable_channel(TenantScope::Station(ch.station_id), *src)
                .await;
            // The health report names the source as its viewers know it.
            let remote = match seen {
                Ok(s) if s.state == ChannelState::Live => {
                    format!("{} · {}", s.station_name, s.name)
                }
                Ok(s) => {
                    let health = Health {
                        remote: format!("{} · {}", s.station_name, s.name),
                        error: "the source channel is off air".into(),
                        error_code: Some(Trouble::OffAir),
                        ..Health::default()
                    };
                    let _ = app.repo().note_unheld_health(ch.id, &health).await;
                    return Outcome::OffAir;
                }
                Err(_) => {
                    let why = Failure::new(
                        Trouble::SourceGone,
                        "the source channel is gone, or no longer shared with this station",
                    );
                    return failed(app, &ch, &remote, why).await;
                }
            };
            let feed = Feed::Channel {
                storage: app.storage().clone(),
                id: *src,
            };
            follow_hls(feed, ch, remote, runs, app, opts).await
        }
    }
}

/// Ends the session, keeping why it ended when it failed.
async fn finish(
    ch: &Channel,
    publish: Publish,
    ran: Result<Duration, (Duration, Failure)>,
) -> Outcome {
    let clean = ran.is_ok();
    let outcome = match &ran {
        Ok(d) => Outcome::Ended(*d),
        Err((d, e)) => {
            tracing::info!(channel = %ch.id, error = %e, "a pull ended");
            publish.note_error(e.clone()).await;
            if *d >= STEADY {
                Outcome::Ended(*d)
            } else {
                Outcome::Failed
            }
        }
    };
    publish.finish(clean).await;
    outcome
}

/// Whether the channel still pulls what it pulled when the attempt began.
pub(crate) async fn still_pulls(app: &App, ch: &Channel) -> bool {
    match app.repo().get_channel(TenantScope::All, ch.id).await {
        Ok(now) => now.pull_url == ch.pull_url,
        Err(e) => !e.is_not_found(),
    }
}

/// Feeds a played RTMP stream into the session until it ends; how long it ran, or why it
/// broke (with how long it ran).
async fn run_rtmp(
    mut client: Client,
    publish: &Publish,
    app: &App,
    ch: &Channel,
) -> Result<Duration, (Duration, Failure)> {
    let started = Instant::now();
    let mut checked = Instant::now();
    let broke = |e: Failure| Err((started.elapsed(), e));
    loop {
        if let Some(cut) = publish.cut().await {
            return broke(Failure::new(
                Trouble::Broken,
                format!("the session was cut ({cut:?})"),
            ));
        }
        if checked.elapsed() >= CHECK_EVERY {
            checked = Instant::now();
            if !still_pulls(app, ch).await {
                return Ok(started.elapsed());
            }
        }
        let n = match tokio::time::timeout(SILENCE, client.read()).await {
            Err(_) => {
                return broke(Failure::new(
                    Trouble::Silent,
                    format!("the source sent nothing for {} s", SILENCE.as_secs()),
                ));
            }
            Ok(Err(e)) => return broke(e),
            Ok(Ok(n)) => n,
        };
        let got = match client.received(n).await {
            Ok(g) => g,
            Err(e) => return broke(e),
        };
        for r in got {
            match r {
                Received::Media(kind, timestamp, data) => {
                    if let Err(cut) = publish.feed(kind, timestamp, &data).await {
                        return broke(cut.failure());
                    }
                }
                Received::Metadata(m) => publish.metadata(&m).await,
                Received::Ended => return Ok(started.elapsed()),
            }
        }
    }
}

/// Follows an HLS feed (remote or another channel) into a session through the remuxer.
async fn follow_hls(
    mut feed: Feed,
    ch: Channel,
    remote: String,
    runs: &AtomicU32,
    app: &Arc<App>,
    opts: &Arc<IngestOptions>,
) -> Outcome {
    let listing = match feed.listing().await {
        Ok(l) => l,
        Err(e) => return failed(app, &ch, &remote, e).await,
    };
    let Some(publish) = take(&ch, &remote, runs, app, opts).await else {
        return Outcome::Busy;
    };
    let ran = crate::remux::run(&publish, &ch, opts, Some(app), move |stdin| {
        follow(feed, listing, stdin)
    })
    .await;
    finish(&ch, publish, ran).await
}

/// Writes the feed's segments into the remuxer, from the live edge on, until the feed ends
/// (`Ok`) or fails.
async fn follow(
    mut feed: Feed,
    first: Listing,
    mut stdin: crate::remux::Input,
) -> Result<(), Failure> {
    // Start at the newest segment: a viewer of the pull is as close to live as the source.
    let mut next = first.sequence + first.segments.len().saturating_sub(1) as u64;
    let mut listing = Some(first);
    let mut last_new = Instant::now();
    loop {
        let l = match listing.take() {
            Some(l) => l,
            None => feed.listing().await?,
        };
        for (i, (uri, _)) in l.segments.iter().enumerate() {
            let seq = l.sequence + i as u64;
            if seq < next {
                continue;
            }
            let bytes = feed.segment(uri).await?;
            stdin.write_all(&bytes).await.map_err(|e| {
                Failure::new(
                    Trouble::Broken,
                    format!("the remuxer stopped taking the stream: {e}"),
                )
            })?;
            next = seq + 1;
            last_new = Instant::now();
        }
        if l.ended && next >= l.sequence + l.segments.len() as u64 {
            let _ = stdin.shutdown().await;
            return Ok(());
        }
        if last_new.elapsed() >= SILENCE + SILENCE {
            return Err(Failure::new(
                Trouble::Silent,
                format!(
                    "the source listed no new segment for {} s",
                    (SILENCE + SILENCE).as_secs()
                ),
            ));
        }
        tokio::time::sleep(Duration::from_secs_f64((l.target / 2.0).clamp(0.5, 5.0))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_a_minute() {
        let pauses: Vec<u64> = (0..9).map(|f| pause_after(f).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
