//! A session's mover: each finished segment goes into storage as the packager hands it
//! over, and the channel's time-shift playlist is rewritten after it; the recording's part
//! lists are kept here, and a finished part becomes an item; segments that slid out of the
//! window are removed unless a recording still needs them. A lower rendition (`ladder`) has
//! a mover of its own, with its own playlist and without recording or thumbnail.

use bytes::Bytes;
use cityx_app::App;
use cityx_core::live::Channel;
use cityx_media::live::{LivePlaylist, LiveSegment, THUMBNAIL};
use cityx_media::ts::Segment;
use cityx_storage::{Storage, StorageKey};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// A recorded broadcast's current part: its segments, until it becomes an item.
pub(crate) struct Recording {
    /// The daily windows recorded in (none: all of the broadcast).
    windows: Vec<cityx_core::live::RecordWindow>,
    part: LivePlaylist,
    number: u32,
    saved: Instant,
    /// Parts that became items: their time range and list. A part's job removes the list
    /// when it is done, and with it the segments the window no longer shows.
    finished: Vec<(OffsetDateTime, OffsetDateTime, String)>,
}

pub(crate) struct Mover {
    pub channel: Channel,
    pub session: String,
    pub dir: PathBuf,
    pub storage: Storage,
    pub app: Arc<App>,
    pub window_secs: f64,
    /// The packager's finished segments; the mover ends when they end.
    pub segments: mpsc::Receiver<Segment>,
    /// The session lost the channel: it writes no file the channel's sessions share, and its
    /// own (segments, recorded parts) only while the channel exists (a rotated key keeps its
    /// recording; a deleted channel keeps nothing).
    pub lost: Arc<AtomicBool>,
    /// Whether the channel still existed when the session learnt it lost it.
    pub survives: std::sync::OnceLock<bool>,
    /// When the channel records its broadcasts.
    pub recording: Option<Recording>,
    /// Whether the playlist is closed at the end (not when a slate follows).
    pub ends: Arc<AtomicBool>,
    /// The playlist's name in the channel's folder: `index.m3u8`, or a rendition's.
    pub playlist: String,
    /// Where the segments go in the channel's folder: the session's folder, or a
    /// rendition's folder in it.
    pub prefix: String,
    /// Whether the inspector's thumbnail is stored as segments come.
    pub thumbnails: bool,
    /// Whether the channel's recording settings are looked at again while live (a window
    /// saved on air applies at once), for an input's session (not a slate's or a rung's).
    pub follows_recording: bool,
}

/// How often a live session looks at its channel's recording settings again.
const LOOK_AT_SETTINGS: Duration = Duration::from_secs(10);

/// The main playlist's name.
pub(crate) const PLAYLIST: &str = "index.m3u8";

/// How often a recording's part list is saved while it grows.
const SAVE_PART_EVERY: Duration = Duration::from_secs(15);

impl Recording {
    /// What `channel` records, if anything: the whole broadcast, or its daily windows.
    pub fn of(channel: &Channel) -> Option<Recording> {
        let windows: Vec<cityx_core::live::RecordWindow> = channel
            .record_windows
            .iter()
            .filter_map(|w| cityx_core::live::RecordWindow::parse(w))
            .collect();
        if !channel.record && windows.is_empty() {
            return None;
        }
        Some(Recording {
            windows: if channel.record { Vec::new() } else { windows },
            part: LivePlaylist::default(),
            number: 0,
            saved: Instant::now(),
            finished: Vec::new(),
        })
    }
}

impl Mover {
    fn key(&self, relative: &str) -> Option<StorageKey> {
        StorageKey::live(self.channel.id, relative)
    }

    fn part_uri(session: &str, number: u32) -> String {
        format!("{session}/part-{number}.m3u8")
    }

    /// Takes the channel's recording settings as they are now: recording that starts, stops
    /// (its part becomes an item) or changes its windows while the channel is live.
    async fn follow_recording(&mut self) {
        let Ok(now) = self
            .app
            .repo()
            .get_channel(cityx_core::TenantScope::All, self.channel.id)
            .await
        else {
            return;
        };
        if now.record == self.channel.record && now.record_windows == self.channel.record_windows {
            return;
        }
        self.channel.record = now.record;
        self.channel.record_windows = now.record_windows;
        match (Recording::of(&self.channel), self.recording.as_mut()) {
            (Some(fresh), Some(rec)) => rec.windows = fresh.windows,
            (Some(fresh), None) => self.recording = Some(fresh),
            (None, Some(_)) => {
                self.finish_part().await;
                self.recording = None;
            }
            (None, None) => {}
        }
    }

    /// Adds a stored segment to the recording; the part becomes an item when it is long
    /// enough, or when its window ended.
    async fn record(&mut self, segment: &LiveSegment) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        if !rec.windows.is_empty() && !rec.windows.iter().any(|w| w.contains(segment.at)) {
            if !rec.part.segments.is_empty() {
                self.finish_part().await;
            }
            return;
        }
        rec.part.push(segment.clone(), f64::INFINITY);
        if rec.part.total_secs() >= cityx_core::live::RECORDING_PART_SECS {
            self.finish_part().await;
        } else if rec.saved.elapsed() >= SAVE_PART_EVERY {
            rec.saved = Instant::now();
            let (uri, text) = (Self::part_uri(&self.session, rec.number), rec.part.render());
            self.put(&uri, Bytes::from(text)).await;
        }
    }

    /// Saves the recording's current part and makes it an item (its job cuts it), then
    /// starts the next part.
    async fn finish_part(&mut self) {
        let Some(rec) = self.recording.as_mut() else {
            return;
        };
        let (Some(first), Some(last)) = (rec.part.segments.first(), rec.part.segments.last())
        else {
            return;
        };
        let (from, to) = (
            first.at,
            last.at + time::Duration::seconds_f64(last.duration),
        );
        rec.part.ended = true;
        let uri = Self::part_uri(&self.session, rec.number);
        rec.finished.push((from, to, uri.clone()));
        let text = rec.part.render();
        rec.part = LivePlaylist::default();
        rec.number += 1;
        rec.saved = Instant::now();
        if !self.put(&uri, Bytes::from(text)).await {
            return;
        }
        let order = crate::clip::ClipOrder {
            channel: self.channel.id,
            from,
            to,
            part: Some(uri),
        };
        let title = format!(
            "{} 录像 {}",
            self.channel.name,
            crate::context::beijing_day_time(from)
        );
        let input = cityx_core::AssetInput {
            title: &title,
            filename: "recording.mp4",
            ..cityx_core::AssetInput::default()
        };
        let made = self
            .app
            .ingest()
            .create_recorded_item(
                self.channel.station_id,
                self.channel.created_by,
                &input,
                format!("live:{}", self.channel.id),
                cityx_core::live::CLIP_JOB,
                serde_json::to_value(&order).unwrap_or_default(),
            )
            .await;
        match made {
            Ok(asset) => {
                tracing::info!(channel = %self.channel.id, asset = %asset.id, "a recording became an item")
            }
            Err(e) => {
                tracing::warn!(channel = %self.channel.id, error = %e, "could not make a recording's item")
            }
        }
    }

    /// Stores the inspector's thumbnail when it changed.
    async fn thumbnail(&self, changed: &mut Option<std::time::SystemTime>) {
        let path = self.dir.join(THUMBNAIL);
        if let Ok(meta) = tokio::fs::metadata(&path).await
            && let Ok(modified) = meta.modified()
            && *changed != Some(modified)
            && let Ok(bytes) = tokio::fs::read(&path).await
            && !bytes.is_empty()
        {
            *changed = Some(modified);
            self.put(THUMBNAIL, Bytes::from(bytes)).await;
        }
    }

    async fn put(&self, relative: &str, bytes: Bytes) -> bool {
        if self.lost.load(Ordering::SeqCst) {
            let shared = !relative.starts_with(&format!("{}/", self.session));
            if shared {
                return false;
            }
            if self.survives.get().is_none() {
                let exists = self
                    .app
                    .repo()
                    .get_channel(cityx_core::TenantScope::All, self.channel.id)
                    .await
                    .is_ok();
                let _ = self.survives.set(exists);
            }
            if self.survives.get() != Some(&true) {
                return false;
            }
        }
        let Some(key) = self.key(relative) else {
            return false;
        };
        match self.storage.put(&key, bytes).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(channel = %self.channel.id, %relative, error = %e, "could not store a live file");
                false
            }
        }
    }

    async fn load_playlist(&self) -> LivePlaylist {
        let Some(key) = self.key(&self.playlist) else {
            return LivePlaylist::default();
        };
        match self.storage.read_small(&key, cityx_app::SMALL_FILE).await {
            Ok(Some((_, bytes))) => {
                LivePlaylist::parse(&String::from_utf8_lossy(&bytes)).unwrap_or_default()
            }
            _ => LivePlaylist::default(),
        }
    }

    async fn forget(&self, uris: Vec<String>) {
        for uri in uris {
            if let Some(key) = self.key(&uri) {
                let _ = self.storage.delete(&key).await;
            }
        }
    }

    /// Whether a session of this channel still has a recorded part waiting for its job.
    async fn pending_parts(&self, session: &str) -> bool {
        use futures_util::StreamExt;
        let Some(prefix) = self.key(session) else {
            return false;
        };
        let mut listed = self.storage.list(&prefix);
        while let Some(item) = listed.next().await {
            match item {
                Ok(l) if l.key.as_str().ends_with(".m3u8") => return true,
                Ok(_) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// Removes segments that slid out of the window, but for those a recording still needs:
    /// the current part's, and a finished part's until its job has taken them.
    async fn forget_dropped(&self, dropped: Vec<LiveSegment>) {
        let mut gone = Vec::new();
        for s in dropped {
            let needed = match &self.recording {
                None => false,
                Some(rec) if rec.part.segments.iter().any(|p| p.uri == s.uri) => true,
                Some(rec) => match rec
                    .finished
                    .iter()
                    .find(|(from, to, _)| s.at >= *from && s.at < *to)
                {
                    Some((_, _, list)) => match self.key(list) {
                        // Kept unless surely taken: the list is gone once its job is done.
                        Some(key) => {
                            !matches!(self.storage.head(&key).await, Err(e) if e.is_not_found())
                        }
                        None => false,
                    },
                    None => false,
                },
            };
            if !needed {
                gone.push(s.uri);
            }
        }
        self.forget(gone).await;
    }
}

/// Moves finished segments into storage and keeps the channel's playlist, until the
/// session stops and the last segment is stored.
pub(crate) async fn move_segments(mut m: Mover) {
    let mut playlist = m.load_playlist().await;
    // What an earlier session left older than the window goes now.
    let horizon = cityx_core::now() - time::Duration::seconds_f64(m.window_secs);
    // Segment times only grow (see below), so the expired ones are the first ones.
    let expired = playlist
        .segments
        .iter()
        .take_while(|s| s.at < horizon)
        .count();
    let dropped: Vec<LiveSegment> = playlist.segments.drain(..expired).collect();
    playlist.sequence += expired as u64;
    playlist.discontinuity_sequence += dropped.iter().filter(|s| s.discontinuity).count() as u64;
    let old: Vec<String> = dropped.into_iter().map(|s| s.uri).collect();
    // Old segments go, but those of a session whose recording's job has not run yet.
    let mut gone = Vec::new();
    let mut pending: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for uri in old {
        let session = uri.split('/').next().unwrap_or_default().to_owned();
        let waits = match pending.get(&session) {
            Some(w) => *w,
            None => {
                let w = m.pending_parts(&session).await;
                pending.insert(session, w);
                w
            }
        };
        if !waits {
            gone.push(uri);
        }
    }
    m.forget(gone).await;
    let mut first = true;
    let mut next_at: Option<OffsetDateTime> = None;
    let mut number = 0usize;
    let mut thumb_changed = None;
    let mut looked = Instant::now();
    while let Some(finished) = m.segments.recv().await {
        if m.follows_recording && looked.elapsed() >= LOOK_AT_SETTINGS {
            looked = Instant::now();
            m.follow_recording().await;
        }
        let Segment {
            bytes,
            duration,
            discontinuity,
        } = finished;
        let uri = format!("{}/{number}.ts", m.prefix);
        number += 1;
        if !m.put(&uri, Bytes::from(bytes)).await {
            continue;
        }
        // On air from the segment's start: counted on from the session's first, never
        // ahead of the clock (a publisher faster than real time) and never before the
        // window's last segment ended (the times only grow).
        let now = cityx_core::now();
        let mut at = next_at
            .unwrap_or_else(|| now - time::Duration::seconds_f64(duration))
            .min(now);
        if let Some(last) = playlist.segments.last() {
            at = at.max(last.at + time::Duration::seconds_f64(last.duration));
        }
        next_at = Some(at + time::Duration::seconds_f64(duration));
        let segment = LiveSegment {
            uri,
            duration,
            at,
            discontinuity: discontinuity || (first && !playlist.segments.is_empty()),
        };
        m.record(&segment).await;
        let dropped = playlist.push(segment, m.window_secs);
        first = false;
        m.put(&m.playlist, Bytes::from(playlist.render())).await;
        m.forget_dropped(dropped).await;
        if m.thumbnails {
            m.thumbnail(&mut thumb_changed).await;
        }
    }
    if m.thumbnails {
        m.thumbnail(&mut thumb_changed).await;
    }
    if m.ends.load(Ordering::SeqCst) {
        playlist.ended = true;
        m.put(&m.playlist, Bytes::from(playlist.render())).await;
    }
    m.finish_part().await;
    if m.thumbnails {
        let _ = tokio::fs::remove_dir_all(&m.dir).await;
    }
}

/// Marks the channel's playlists ended (`#EXT-X-ENDLIST`: the main one and its renditions'),
/// for a broadcast that ends without its session's movers doing it (a slate that could not
/// start).
pub(crate) async fn end_playlists(storage: &Storage, channel: &Channel) {
    end_playlist(storage, channel.id, PLAYLIST).await;
    for h in &channel.renditions {
        end_playlist(storage, channel.id, &crate::ladder::playlist_name(*h)).await;
    }
}

async fn end_playlist(storage: &Storage, id: cityx_core::ChannelId, name: &str) {
    let Some(key) = StorageKey::live(id, name) else {
        return;
    };
    let Ok(Some((_, bytes))) = storage.read_small(&key, cityx_app::SMALL_FILE).await else {
        return;
    };
    let Some(mut playlist) = LivePlaylist::parse(&String::from_utf8_lossy(&bytes)) else {
        return;
    };
    playlist.ended = true;
    if let Err(e) = storage.put(&key, Bytes::from(playlist.render())).await {
        tracing::warn!(channel = %id, error = %e, "could not end a playlist");
    }
}
