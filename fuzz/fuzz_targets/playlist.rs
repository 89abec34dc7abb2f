//! HLS media playlists (ffmpeg's today, remote pulls with live): never a panic, only finite
//! durations of 0 or more, and what was read is written and read back alike.
#![no_main]

use cityx_media::hls::{media_playlist, parse_media_playlist};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let read = parse_media_playlist(text);
    for (name, d) in &read.segments {
        assert!(d.is_finite() && *d >= 0.0, "{name}: {d}");
        assert!(!name.is_empty() && !name.starts_with('#') && !name.contains('\n'));
    }
    let again = parse_media_playlist(&media_playlist(&read.segments, read.ended));
    assert_eq!(again.ended, read.ended);
    assert_eq!(again.segments.len(), read.segments.len());
    for ((a, da), (b, db)) in read.segments.iter().zip(&again.segments) {
        assert_eq!(a, b);
        assert!(
            (da - db).abs() <= 1e-6 * da.abs().max(1.0),
            "{da} became {db}"
        );
    }
});
