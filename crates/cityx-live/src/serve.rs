//! Serving a live channel's files to many viewers: the decisions and bytes that every viewer
//! of a channel asks for again and again, kept briefly in this process. Whether a viewer's
//! station may watch a channel is read from the database at most once per [`RIGHTS_TTL`];
//! the playlist and thumbnail, which change every few seconds, are read from storage at
//! most once per [`CHANGING_TTL`] (a viewer sees a new segment that much later at most);
//! segments, which never change, stay in memory within [`SEGMENT_BUDGET`], the least
//! recently used going first. Keys carry the channel's id, which no other channel shares.

use bytes::Bytes;
use cityx_app::Recent;
use cityx_core::{ChannelId, TenantScope};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long a watch decision is reused.
pub const RIGHTS_TTL: Duration = Duration::from_secs(2);
/// How long a playlist or thumbnail read is reused.
pub const CHANGING_TTL: Duration = Duration::from_millis(250);
/// Bytes of segments kept in memory.
pub const SEGMENT_BUDGET: usize = 96 << 20;

/// Segments by channel and name, with a use counter for eviction.
#[derive(Default)]
struct Segments {
    map: HashMap<(ChannelId, String), (u64, Bytes)>,
    bytes: usize,
    clock: u64,
}

/// This process's live serving caches.
pub(crate) struct Caches {
    rights: Recent<(ChannelId, TenantScope), bool>,
    changing: Recent<(ChannelId, String), Bytes>,
    segments: Mutex<Segments>,
}

static CACHES: std::sync::OnceLock<Caches> = std::sync::OnceLock::new();

/// The caches (one per process).
pub(crate) fn caches() -> &'static Caches {
    CACHES.get_or_init(|| Caches {
        rights: Recent::new(RIGHTS_TTL),
        changing: Recent::new(CHANGING_TTL),
        segments: Mutex::new(Segments::default()),
    })
}

impl Caches {
    pub(crate) fn may_watch(&self, id: ChannelId, scope: TenantScope) -> Option<bool> {
        self.rights.get(&(id, scope))
    }

    pub(crate) fn keep_decision(&self, id: ChannelId, scope: TenantScope, may: bool) {
        self.rights.put((id, scope), may);
    }

    /// A file as recently read: a playlist or thumbnail within [`CHANGING_TTL`], a segment
    /// while it is in memory.
    pub(crate) fn file(&self, id: ChannelId, relative: &str) -> Option<Bytes> {
        if !is_segment(relative) {
            return self.changing.get(&(id, relative.to_owned()));
        }
        let mut s = self.segments.lock().unwrap_or_else(|e| e.into_inner());
        s.clock += 1;
        let clock = s.clock;
        s.map
            .get_mut(&(id, relative.to_owned()))
            .map(|(used, bytes)| {
                *used = clock;
                bytes.clone()
            })
    }

    pub(crate) fn keep_file(&self, id: ChannelId, relative: &str, bytes: &Bytes) {
        if !is_segment(relative) {
            self.changing.put((id, relative.to_owned()), bytes.clone());
            return;
        }
        if bytes.len() > SEGMENT_BUDGET / 8 {
            return;
        }
        let mut s = self.segments.lock().unwrap_or_else(|e| e.into_inner());
        s.clock += 1;
        let clock = s.clock;
        if let Some((_, old)) = s
            .map
            .insert((id, relative.to_owned()), (clock, bytes.clone()))
        {
            s.bytes -= old.len();
        }
        s.bytes += bytes.len();
        while s.bytes > SEGMENT_BUDGET {
            let Some(oldest) = s
                .map
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((_, gone)) = s.map.remove(&oldest) {
                s.bytes -= gone.len();
            }
        }
    }
}

/// Segments never change once listed (`<session>/<n>.ts`); the rest does.
fn is_segment(relative: &str) -> bool {
    relative.ends_with(".ts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_stay_within_the_budget_and_playlists_go_stale() {
        let c = Caches {
            rights: Recent::new(RIGHTS_TTL),
            changing: Recent::new(Duration::ZERO),
            segments: Mutex::new(Segments::default()),
        };
        let id = ChannelId::new();
        let chunk = Bytes::from(vec![0u8; SEGMENT_BUDGET / 10]);
        for n in 0..12 {
            c.keep_file(id, &format!("s/{n}.ts"), &chunk);
            // The first stays in use, so it is never the least recently used.
            assert!(c.file(id, "s/0.ts").is_some(), "{n}");
        }
        let s = c.segments.lock().expect("lock");
        assert!(s.bytes <= SEGMENT_BUDGET);
        assert_eq!(s.map.len(), 10);
        assert!(s.map.contains_key(&(id, "s/11.ts".into())));
        assert!(!s.map.contains_key(&(id, "s/1.ts".into())));
        drop(s);
        c.keep_file(id, "index.m3u8", &Bytes::from_static(b"#EXTM3U"));
        assert!(
            c.file(id, "index.m3u8").is_none(),
            "a zero TTL keeps nothing"
        );
    }
}
