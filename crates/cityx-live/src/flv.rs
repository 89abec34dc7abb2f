//! FLV, the container RTMP's audio and video messages come from: FLV that ffmpeg writes (a
//! remuxed pull, the slate) is read back into messages here, and a message's first bytes
//! tell its codec and whether it is a keyframe, for the packager and the health report.

use bytes::{Bytes, BytesMut};

/// A message's kind (its FLV tag type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagKind {
    Audio = 8,
    Video = 9,
}

/// The largest tag a reader takes (a frame of no real stream is larger).
const MAX_TAG: usize = 8 << 20;

/// Reads FLV as it comes (ffmpeg's output for a pulled stream) back into messages: audio and
/// video tags with their timestamps; script tags are skipped.
#[derive(Default)]
pub struct Reader {
    buf: BytesMut,
    header_read: bool,
    /// The picture size the stream's metadata (`onMetaData`) announced.
    pub size: Option<(u32, u32)>,
}

/// The number after `name` in AMF0 (a key of a string length and the name, then a number
/// marker and an IEEE double), where `onMetaData` lists `width` and `height`.
fn amf_number(data: &[u8], name: &[u8]) -> Option<f64> {
    let mut key = Vec::with_capacity(name.len() + 3);
    key.extend_from_slice(&u16::try_from(name.len()).ok()?.to_be_bytes());
    key.extend_from_slice(name);
    key.push(0);
    let at = data.windows(key.len()).position(|w| w == key.as_slice())? + key.len();
    let bytes: [u8; 8] = data.get(at..at + 8)?.try_into().ok()?;
    Some(f64::from_be_bytes(bytes))
}

/// What a reader found wrong (the stream ends there).
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl Reader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole audio or video tag, if one is there.
    pub fn next_tag(&mut self) -> Result<Option<(TagKind, u32, Bytes)>, Malformed> {
        use bytes::Buf;
        if !self.header_read {
            if self.buf.len() < 9 {
                return Ok(None);
            }
            if &self.buf[..3] != b"FLV" {
                return Err(Malformed("not FLV"));
            }
            let offset = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]);
            let skip = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .saturating_add(4);
            if skip > 1024 {
                return Err(Malformed("an FLV header of a strange size"));
            }
            if self.buf.len() < skip {
                return Ok(None);
            }
            self.buf.advance(skip);
            self.header_read = true;
        }
        loop {
            if self.buf.len() < 11 {
                return Ok(None);
            }
            let kind = self.buf[0] & 0x1f;
            let size = (usize::from(self.buf[1]) << 16)
                | (usize::from(self.buf[2]) << 8)
                | usize::from(self.buf[3]);
            if size > MAX_TAG {
                return Err(Malformed("an FLV tag over 8 MiB"));
            }
            if self.buf.len() < 11 + size + 4 {
                return Ok(None);
            }
            let timestamp = (u32::from(self.buf[7]) << 24)
                | (u32::from(self.buf[4]) << 16)
                | (u32::from(self.buf[5]) << 8)
                | u32::from(self.buf[6]);
            self.buf.advance(11);
            let data = self.buf.split_to(size).freeze();
            self.buf.advance(4);
            let kind = match kind {
                8 => TagKind::Audio,
                9 => TagKind::Video,
                18 => {
                    let (w, h) = (amf_number(&data, b"width"), amf_number(&data, b"height"));
                    if let (Some(w), Some(h)) = (w, h)
                        && (1.0..=16384.0).contains(&w)
                        && (1.0..=16384.0).contains(&h)
                    {
                        self.size = Some((w as u32, h as u32));
                    }
                    continue;
                }
                _ => continue,
            };
            return Ok(Some((kind, timestamp, data)));
        }
    }
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
/// The picture size an H.264 sequence header message declares in its first SPS.
pub fn avc_dimensions(data: &[u8]) -> Option<(u32, u32)> {
    if data.first()? & 0x8f != 7 || *data.get(1)? != 0 {
        return None;
    }
    let record = data.get(5..)?;
    if record.get(5)? & 0x1f == 0 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*record.get(6)?, *record.get(7)?]));
    cityx_media::sps::dimensions(record.get(8..8 + len)?)
}

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
    use bytes::BufMut;

    #[test]
    fn an_avc_header_tells_its_size() {
        // x264's baseline set for 640x360 (the bottom cropped from 368).
        let sps: Vec<u8> = (0..50)
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(
                    &"6742c01eda0280bfe5c044000003000400000300c83c58ba80"[i..i + 2],
                    16,
                )
                .expect("hex")
            })
            .collect();
        let mut message = vec![
            0x17,
            0,
            0,
            0,
            0,
            1,
            0x42,
            0xc0,
            0x1e,
            0xff,
            0xe1,
            0,
            sps.len() as u8,
        ];
        message.extend(&sps);
        assert_eq!(avc_dimensions(&message), Some((640, 360)));
        assert_eq!(avc_dimensions(&message[..20]), None, "cut short");
        message[1] = 1;
        assert_eq!(avc_dimensions(&message), None, "a frame, not a header");
        assert_eq!(avc_dimensions(&[0x1c, 0]), None);
    }

    /// The file header (audio and video present) and the first "previous tag size".
    fn header() -> Bytes {
        Bytes::from_static(b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00")
    }

    /// One FLV tag with its trailing size, as ffmpeg writes them.
    fn tag(kind: TagKind, timestamp: u32, data: &[u8]) -> Bytes {
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
    fn a_reader_gets_back_what_was_written_in_any_pieces() {
        let mut stream = header().to_vec();
        let script = {
            let mut meta = b"\x02\x00\x0aonMetaData\x08\x00\x00\x00\x02".to_vec();
            for (k, v) in [("width", 640.0f64), ("height", 360.0)] {
                meta.extend_from_slice(&(k.len() as u16).to_be_bytes());
                meta.extend_from_slice(k.as_bytes());
                meta.push(0);
                meta.extend_from_slice(&v.to_be_bytes());
            }
            let mut t = tag(TagKind::Video, 0, &meta).to_vec();
            t[0] = 18;
            t
        };
        stream.extend_from_slice(&script);
        stream.extend_from_slice(&tag(TagKind::Video, 0x0102_0304, &[0x17, 0, 1, 2]));
        stream.extend_from_slice(&tag(TagKind::Audio, 40, &[0xaf, 1, 9]));
        for piece in [1, 3, 7, 1000] {
            let mut r = Reader::default();
            let mut got = Vec::new();
            for chunk in stream.chunks(piece) {
                r.push(chunk);
                while let Some(t) = r.next_tag().expect("well formed") {
                    got.push(t);
                }
            }
            assert_eq!(got.len(), 2, "pieces of {piece}");
            assert_eq!(got[0].0, TagKind::Video);
            assert_eq!(got[0].1, 0x0102_0304);
            assert_eq!(&got[0].2[..], &[0x17, 0, 1, 2]);
            assert_eq!((got[1].0, got[1].1), (TagKind::Audio, 40));
            assert_eq!(r.size, Some((640, 360)), "from onMetaData");
        }
        let mut r = Reader::default();
        r.push(b"GIF89a\0\0\0\0");
        assert!(r.next_tag().is_err());
        let mut r = Reader::default();
        r.push(&header());
        r.push(&[9, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0]);
        assert!(r.next_tag().is_err(), "a tag over the limit");
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
