//! Playlists from remote servers a live channel pulls: never a panic; a master playlist names
//! a variant that is a line of the text; a media playlist's durations are finite, 0 or more.
#![no_main]

use cityx_media::hls::{RemotePlaylist, read_remote_playlist};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match read_remote_playlist(text) {
        Ok(RemotePlaylist::Master(uri)) => {
            assert!(!uri.is_empty() && !uri.starts_with('#'));
            assert!(text.lines().any(|l| l.trim() == uri), "{uri}");
        }
        Ok(RemotePlaylist::Media(m)) => {
            assert!(m.target.is_finite() && m.target >= 0.0);
            for (name, d) in &m.segments {
                assert!(d.is_finite() && *d >= 0.0, "{name}: {d}");
            }
        }
        Err(why) => assert!(!why.is_empty()),
    }
});
