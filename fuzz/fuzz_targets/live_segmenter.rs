//! The live packager's segmenter on any run of RTMP messages (a publisher is untrusted):
//! never a panic, only whole transport stream packets, no negative durations, and every
//! segment starts with the program tables; the same bytes read as an incoming transport
//! stream (the remuxer's sniff of an SRT publisher's tables) never panic either.
#![no_main]

use cityx_media::ts::{Segmenter, Track};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cityx_media::sniff::program(data);
    let mut s = Segmenter::new(2.0);
    let mut segments = Vec::new();
    // Each message: its kind (odd: video), a timestamp (4 bytes), a length (1 byte), bytes.
    let mut rest = data;
    while rest.len() >= 6 {
        let track = if rest[0] & 1 == 1 { Track::Video } else { Track::Audio };
        let ts = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let len = usize::from(rest[5]).min(rest.len() - 6);
        let message = &rest[6..6 + len];
        rest = &rest[6 + len..];
        match s.push(track, ts, message) {
            Ok(seg) => segments.extend(seg),
            Err(_) => break,
        }
        if track == Track::Video {
            if let Some(k) = s.keyframe(ts, message) {
                assert_eq!(k.0.len() % 188, 0);
            }
        }
    }
    segments.extend(s.finish());
    for seg in &segments {
        assert!(seg.duration >= 0.0 && seg.duration.is_finite());
        assert_eq!(seg.bytes.len() % 188, 0);
        assert!(seg.bytes.chunks(188).all(|p| p[0] == 0x47));
        assert_eq!(&seg.bytes[1..3], &[0x40, 0x00], "a PAT first");
    }
});
