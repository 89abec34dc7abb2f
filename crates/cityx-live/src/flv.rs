//! FLV, the container RTMP's audio and video messages come from: the publisher's messages are
//! written back as FLV tags into the packager's standard input, and their first bytes tell
//! the input's codecs and keyframes for the health report.

use bytes::{BufMut, Bytes, BytesMut};

/// The file header (audio and video present) and the first "previous tag size".
pub fn header() -> Bytes {
    Bytes::from_static(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
}

/// A tag's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagKind {
    Audio = 8,
    Video = 9,
}

/// One FLV tag with its trailing size, for RTMP message `data` at `timestamp` (ms).
pub fn tag(kind: TagKind, timestamp: u32, data: &[u8]) -> Bytes {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX) & 0x00ff_ffff;
    let mut out = BytesMut::with_capacity(data.len() + 15);
    out.put_u8(kind as u8);
    out.put_uint(u64::from(len), 3);
    out.put_uint(u64::from(timestamp & 0x00ff_ffff), 3);
    out.put_u8((timestamp >> 24) as u8);
    out.put_uint(0, 3);
    out.put_slice(&data[..len as usize]);
    out.put_u32(len + 11);
    out.freeze()
}

/// The video codec a video message announces, by its FLV codec id.
pub fn video_codec(data: &[u8]) -> Option<&'static str> {
    let first = *data.first()?;
    // Enhanced RTMP signals its codec by FourCC after an extended header bit.
    if first & 0x80 != 0 {
        return match data.get(1..5)? {
            b"hvc1" => Some("hevc"),
            b"av01" => Some("av1"),
            b"vp09" => Some("vp9"),
            _ => Some("other"),
        };
    }
    Some(match first & 0x0f {
        7 => "h264",
        12 => "hevc",
        2 => "h263",
        4 | 5 => "vp6",
        _ => "other",
    })
}

/// Whether a video message is a keyframe that carries a picture (not a codec header).
pub fn is_keyframe(data: &[u8]) -> bool {
    let Some(&first) = data.first() else {
        return false;
    };
    let frame_type = (first >> 4) & 0x07;
    let header = if first & 0x80 != 0 {
        // Enhanced RTMP: packet type 0 is the sequence start.
        first & 0x0f == 0
    } else {
        // AVC/HEVC packet type 0 is the sequence header.
        data.get(1) == Some(&0)
    };
    frame_type == 1 && !header
}

/// Whether a video message carries a picture (not a codec header or end of sequence).
pub fn is_frame(data: &[u8]) -> bool {
    match data.first() {
        Some(first) if first & 0x80 != 0 => matches!(first & 0x0f, 1 | 3),
        Some(_) => data.get(1) == Some(&1),
        None => false,
    }
}

/// Whether a message is its codec's configuration (AVC/HEVC decoder record, AAC's
/// AudioSpecificConfig), which a player that joins later needs before any frame.
pub fn is_sequence_header(kind: TagKind, data: &[u8]) -> bool {
    let Some(&first) = data.first() else {
        return false;
    };
    match kind {
        TagKind::Video if first & 0x80 != 0 => first & 0x0f == 0,
        TagKind::Video => matches!(first & 0x0f, 7 | 12) && data.get(1) == Some(&0),
        TagKind::Audio => first >> 4 == 10 && data.get(1) == Some(&0),
    }
}

/// The audio codec an audio message announces, by its FLV sound format.
pub fn audio_codec(data: &[u8]) -> Option<&'static str> {
    Some(match data.first()? >> 4 {
        10 => "aac",
        2 | 14 => "mp3",
        11 => "speex",
        7 | 8 => "g711",
        _ => "other",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_framed_with_their_sizes() {
        let t = tag(TagKind::Video, 0x0102_0304, &[0x17, 1, 0, 0, 0, 0xaa]);
        assert_eq!(t[0], 9);
        assert_eq!(&t[1..4], &[0, 0, 6]);
        // The low 24 bits, then the extension byte.
        assert_eq!(&t[4..8], &[0x02, 0x03, 0x04, 0x01]);
        assert_eq!(&t[t.len() - 4..], &17u32.to_be_bytes());
        assert_eq!(t.len(), 11 + 6 + 4);
        assert_eq!(&header()[..3], b"FLV");
    }

    #[test]
    fn codecs_and_keyframes() {
        assert_eq!(video_codec(&[0x17, 0]), Some("h264"));
        assert_eq!(video_codec(&[0x9c, b'h', b'v', b'c', b'1']), Some("hevc"));
        assert_eq!(audio_codec(&[0xaf, 1]), Some("aac"));
        assert_eq!(video_codec(&[]), None);
        assert!(is_keyframe(&[0x17, 1]));
        assert!(!is_keyframe(&[0x17, 0]), "a sequence header is no picture");
        assert!(!is_keyframe(&[0x27, 1]));
        assert!(is_frame(&[0x27, 1]));
        assert!(!is_frame(&[0x17, 0]));
        assert!(is_sequence_header(TagKind::Video, &[0x17, 0, 0]));
        assert!(!is_sequence_header(TagKind::Video, &[0x17, 1, 0]));
        assert!(is_sequence_header(TagKind::Audio, &[0xaf, 0, 0x12]));
        assert!(!is_sequence_header(TagKind::Audio, &[0xaf, 1]));
        assert!(!is_sequence_header(TagKind::Audio, &[]));
    }
}
