//! What an incoming MPEG transport stream carries, read from its program tables before
//! anything decodes it: the live remuxer copies H.264 and AAC and converts anything else,
//! so it must know which before it starts. Untrusted bytes: every length is checked, only
//! sections that fit in one packet are read, and a stream with no readable tables gives
//! `None` (the caller decides after a bound).

const PACKET: usize = 188;

/// A stream's codec, by the PMT's stream type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Codec {
    /// ffmpeg's name for it (`h264`, `hevc`, `mp2` …), shown as the input's codec.
    pub name: &'static str,
    /// Whether it goes into FLV (and HLS) as it is: H.264, or AAC in ADTS.
    pub copied: bool,
}

/// The first video and audio stream of the stream's first program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Program {
    pub video: Option<Codec>,
    pub audio: Option<Codec>,
}

impl Program {
    /// Whether any stream must be converted.
    pub fn converts(&self) -> bool {
        self.video.is_some_and(|c| !c.copied) || self.audio.is_some_and(|c| !c.copied)
    }
}

/// What a stream type is, if it is video or audio cityx knows.
fn codec(stream_type: u8) -> Option<(bool, Codec)> {
    let (video, name, copied) = match stream_type {
        0x1b => (true, "h264", true),
        0x24 => (true, "hevc", false),
        0x01 => (true, "mpeg1video", false),
        0x02 => (true, "mpeg2video", false),
        0x10 => (true, "mpeg4", false),
        0x42 => (true, "cavs", false),
        0x0f => (false, "aac", true),
        0x11 => (false, "aac_latm", false),
        0x03 | 0x04 => (false, "mp2", false),
        0x81 => (false, "ac3", false),
        0x87 => (false, "eac3", false),
        _ => return None,
    };
    Some((video, Codec { name, copied }))
}

/// The program the stream's tables describe, once its PAT and then its PMT have come by in
/// `bytes` (from the stream's start); `None` until then.
pub fn program(bytes: &[u8]) -> Option<Program> {
    let start = (0..bytes.len().min(PACKET))
        .find(|&i| bytes[i] == 0x47 && bytes.get(i + PACKET).is_none_or(|b| *b == 0x47))?;
    let mut pmt_pid = None;
    for packet in bytes[start..].chunks_exact(PACKET) {
        if packet[0] != 0x47 || packet[1] & 0x40 == 0 {
            continue;
        }
        let pid = (u16::from(packet[1] & 0x1f) << 8) | u16::from(packet[2]);
        let section = match section(packet) {
            Some(s) => s,
            None => continue,
        };
        match (pid, pmt_pid) {
            (0, None) => pmt_pid = pat(section),
            (p, Some(pmt)) if p == pmt => {
                if let Some(program) = pmt_streams(section) {
                    return Some(program);
                }
            }
            _ => {}
        }
    }
    None
}

/// A packet's PSI section (after the pointer field), bounded by its length.
fn section(packet: &[u8]) -> Option<&[u8]> {
    let mut at = 4;
    match packet[3] & 0x30 {
        0x10 => {}
        0x30 => at += 1 + usize::from(*packet.get(4)?),
        _ => return None,
    }
    let pointer = usize::from(*packet.get(at)?);
    let s = packet.get(at + 1 + pointer..)?;
    let len = (usize::from(*s.get(1)? & 0x0f) << 8) | usize::from(*s.get(2)?);
    // Without its CRC: what is read stops before it.
    s.get(..3 + len)?.get(..(3 + len).checked_sub(4)?)
}

/// The first program's PMT PID from a PAT section.
fn pat(s: &[u8]) -> Option<u16> {
    if *s.first()? != 0 {
        return None;
    }
    s.get(8..)?.chunks_exact(4).find_map(|e| {
        let number = (u16::from(e[0]) << 8) | u16::from(e[1]);
        (number != 0).then(|| (u16::from(e[2] & 0x1f) << 8) | u16::from(e[3]))
    })
}

/// The first video and audio streams a PMT section lists.
fn pmt_streams(s: &[u8]) -> Option<Program> {
    if *s.first()? != 2 {
        return None;
    }
    let info = (usize::from(*s.get(10)? & 0x0f) << 8) | usize::from(*s.get(11)?);
    let mut rest = s.get(12 + info..)?;
    let mut program = Program::default();
    while rest.len() >= 5 {
        let es_info = (usize::from(rest[3] & 0x0f) << 8) | usize::from(rest[4]);
        if let Some((video, c)) = codec(rest[0]) {
            let slot = if video {
                &mut program.video
            } else {
                &mut program.audio
            };
            slot.get_or_insert(c);
        }
        rest = rest.get(5 + es_info..)?;
    }
    Some(program)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::{Stream, Track};

    fn avc_header() -> Vec<u8> {
        let mut v = vec![0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 4];
        v.extend([0x67, 0x64, 0, 0x1f, 1, 0, 2, 0x68, 0xee]);
        v
    }

    /// A PMT packet listing `types`, after a PAT naming PMT PID 0x1000.
    fn tables(types: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pat = vec![0x47, 0x40, 0, 0x10, 0, 0, 0xb0, 13, 0, 1, 0xc1, 0, 0];
        pat.extend([0, 1, 0xf0, 0]);
        pat.extend([0; 4]);
        pat.resize(PACKET, 0xff);
        out.extend(pat);
        let len = 13 + 5 * types.len();
        let mut pmt = vec![0x47, 0x50, 0, 0x10, 0, 2, 0xb0, len as u8, 0, 1, 0xc1, 0, 0];
        pmt.extend([0xe1, 0, 0xf0, 0]);
        for (i, t) in types.iter().enumerate() {
            pmt.extend([*t, 0xe1, i as u8, 0xf0, 0]);
        }
        pmt.extend([0; 4]);
        pmt.resize(PACKET, 0xff);
        out.extend(pmt);
        out
    }

    #[test]
    fn the_program_is_read_from_the_tables() {
        let p = program(&tables(&[0x24, 0x03])).expect("read");
        assert_eq!(p.video.map(|c| c.name), Some("hevc"));
        assert_eq!(p.audio.map(|c| c.name), Some("mp2"));
        assert!(p.converts());
        let p = program(&tables(&[0x06, 0x1b, 0x0f, 0x81])).expect("read");
        assert_eq!(
            (p.video.map(|c| c.name), p.audio.map(|c| c.name)),
            (Some("h264"), Some("aac")),
            "the first of each kind; private data is passed over"
        );
        assert!(!p.converts());
        // cityx's own muxer's tables read back as what it writes.
        let mut s = Stream::default();
        s.push(Track::Video, 0, &avc_header()).expect("header");
        s.push(Track::Audio, 0, &[0xaf, 0, 0x12, 0x10])
            .expect("header");
        let mut key = vec![0x17, 1, 0, 0, 0, 0, 0, 0, 2, 0x65, 0x88];
        key.extend([0u8; 8]);
        let ts = s.push(Track::Video, 0, &key).expect("frame");
        let p = program(&ts).expect("ours");
        assert_eq!(
            (p.video.map(|c| c.name), p.audio.map(|c| c.name)),
            (Some("h264"), Some("aac"))
        );
    }

    #[test]
    fn junk_and_half_tables_read_as_nothing_yet() {
        assert_eq!(program(&[]), None);
        assert_eq!(program(&[0x47; 1000]), None);
        let t = tables(&[0x1b]);
        assert_eq!(program(&t[..PACKET]), None, "a PAT alone");
        assert_eq!(program(&t[..PACKET + 20]), None, "a PMT cut short");
        // Lengths that run past the packet.
        let mut bad = t.clone();
        bad[PACKET + 7] = 0xff;
        assert_eq!(program(&bad), None);
        let mut bad = t;
        bad[PACKET + 16] = 0xff;
        let _ = program(&bad);
        for n in 0..400 {
            let noise: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            let _ = program(&noise);
        }
    }
}
