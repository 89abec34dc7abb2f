//! An H.264 sequence parameter set read for its picture size (the live session's health and
//! height limit, whatever the publisher's metadata says), and rewritten to say that pictures
//! are never reordered (`max_num_reorder_frames` 0), for the live inspector alone: it is fed
//! lone keyframes, and a decoder told of B-frames holds each picture back until the next
//! ones arrive, so the thumbnail would lag by two keyframes. The segments keep the encoder's
//! own set.
//!
//! The set is read field by field up to its VUI (ITU-T H.264 7.3.2.1.1 and E.1.1); the
//! bits before the bitstream restriction are kept as they are and the restriction is
//! written anew. Anything unexpected gives `None` and the original set is used.

/// Reads bits from an RBSP (emulation prevention already removed).
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.at / 8)?;
        let bit = (byte >> (7 - self.at % 8)) & 1;
        self.at += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | self.bit()?;
        }
        Some(v)
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }

    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Writes bits.
#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    len: usize,
}

impl Writer {
    fn bit(&mut self, b: u32) {
        if self.len.is_multiple_of(8) {
            self.out.push(0);
        }
        if b & 1 == 1 {
            let last = self.out.len() - 1;
            self.out[last] |= 1 << (7 - self.len % 8);
        }
        self.len += 1;
    }

    fn ue(&mut self, v: u32) {
        let v = u64::from(v) + 1;
        let n = 64 - v.leading_zeros();
        for _ in 1..n {
            self.bit(0);
        }
        for i in (0..n).rev() {
            self.bit(((v >> i) & 1) as u32);
        }
    }
}

fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + 4);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

fn skip_hrd(r: &mut Bits<'_>) -> Option<()> {
    let count = r.ue()?;
    if count > 31 {
        return None;
    }
    r.bits(8)?;
    for _ in 0..=count {
        r.ue()?;
        r.ue()?;
        r.bit()?;
    }
    r.bits(20)?;
    Some(())
}

/// What a set says before its VUI.
struct Head {
    refs: u32,
    width: u32,
    height: u32,
}

/// Reads a set's fields up to its VUI (7.3.2.1.1), with the picture's size after cropping
/// (7.4.2.1.1).
fn read_head(r: &mut Bits<'_>) -> Option<Head> {
    let profile = r.bits(8)?;
    r.bits(16)?;
    r.ue()?;
    // 4:2:0 unless a high profile says otherwise.
    let (mut chroma, mut separate_planes) = (1, false);
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma = r.ue()?;
        if chroma > 3 {
            return None;
        }
        if chroma == 3 {
            separate_planes = r.bit()? == 1;
        }
        r.ue()?;
        r.ue()?;
        r.bit()?;
        if r.bit()? == 1 {
            for i in 0..if chroma == 3 { 12 } else { 8 } {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256).rem_euclid(256);
                        }
                        if next != 0 {
                            last = next;
                        }
                    }
                }
            }
        }
    }
    r.ue()?;
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            let n = r.ue()?;
            if n > 255 {
                return None;
            }
            for _ in 0..n {
                r.se()?;
            }
        }
        2 => {}
        _ => return None,
    }
    let refs = r.ue()?;
    r.bit()?;
    let width_mbs = u64::from(r.ue()?) + 1;
    let height_units = u64::from(r.ue()?) + 1;
    let frames_only = r.bit()?;
    if frames_only == 0 {
        r.bit()?;
    }
    r.bit()?;
    let mut crop = [0u64; 4];
    if r.bit()? == 1 {
        for c in &mut crop {
            *c = u64::from(r.ue()?);
        }
    }
    let field_factor = 2 - u64::from(frames_only);
    let (unit_x, unit_y) = if chroma == 0 || separate_planes {
        (1, field_factor)
    } else {
        let sub_width = if chroma == 3 { 1 } else { 2 };
        let sub_height = if chroma == 1 { 2 } else { 1 };
        (sub_width, sub_height * field_factor)
    };
    let width = (width_mbs * 16).checked_sub(unit_x * (crop[0] + crop[1]))?;
    let height = (field_factor * height_units * 16).checked_sub(unit_y * (crop[2] + crop[3]))?;
    Some(Head {
        refs,
        width: u32::try_from(width).ok()?,
        height: u32::try_from(height).ok()?,
    })
}

/// The picture's width and height (after cropping) that an SPS NAL unit (header byte first)
/// declares; `None` when it does not read.
pub fn dimensions(nal: &[u8]) -> Option<(u32, u32)> {
    if nal.first()? & 0x1f != 7 {
        return None;
    }
    let rbsp = unescape(&nal[1..]);
    let head = read_head(&mut Bits { data: &rbsp, at: 0 })?;
    Some((head.width, head.height))
}

/// The SPS NAL unit (header byte first) with no reordering; `None` when it does not read.
pub fn without_reordering(nal: &[u8]) -> Option<Vec<u8>> {
    if nal.first()? & 0x1f != 7 {
        return None;
    }
    let rbsp = unescape(&nal[1..]);
    let mut r = Bits { data: &rbsp, at: 0 };
    let refs = read_head(&mut r)?.refs;
    let vui_at = r.at;
    let keep_to = if r.bit()? == 1 {
        if r.bit()? == 1 && r.bits(8)? == 255 {
            r.bits(32)?;
        }
        if r.bit()? == 1 {
            r.bit()?;
        }
        if r.bit()? == 1 {
            r.bits(4)?;
            if r.bit()? == 1 {
                r.bits(24)?;
            }
        }
        if r.bit()? == 1 {
            r.ue()?;
            r.ue()?;
        }
        if r.bit()? == 1 {
            r.bits(32)?;
            r.bits(32)?;
            r.bit()?;
        }
        let nal_hrd = r.bit()? == 1;
        if nal_hrd {
            skip_hrd(&mut r)?;
        }
        let vcl_hrd = r.bit()? == 1;
        if vcl_hrd {
            skip_hrd(&mut r)?;
        }
        if nal_hrd || vcl_hrd {
            r.bit()?;
        }
        r.bit()?;
        Some(r.at)
    } else {
        None
    };
    let mut w = Writer::default();
    let copy = keep_to.unwrap_or(vui_at);
    let mut c = Bits { data: &rbsp, at: 0 };
    for _ in 0..copy {
        w.bit(c.bit()?);
    }
    if keep_to.is_none() {
        // A VUI of its own: nothing present but the restriction.
        w.bit(1);
        for _ in 0..8 {
            w.bit(0);
        }
    }
    w.bit(1);
    w.bit(1);
    w.ue(2);
    w.ue(1);
    w.ue(16);
    w.ue(16);
    w.ue(0);
    w.ue(refs.max(1));
    w.bit(1);
    while !w.len.is_multiple_of(8) {
        w.bit(0);
    }
    let mut out = vec![nal[0]];
    out.extend(escape(&w.out));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_goes_both_ways_and_escapes_survive() {
        let mut w = Writer::default();
        for v in [0, 1, 2, 7, 255, 70_000] {
            w.ue(v);
        }
        let mut r = Bits {
            data: &w.out,
            at: 0,
        };
        for v in [0, 1, 2, 7, 255, 70_000] {
            assert_eq!(r.ue(), Some(v));
        }
        let raw = [0, 0, 0, 0, 1, 0, 0, 2, 5];
        assert_eq!(unescape(&escape(&raw)), raw);
        assert!(
            !escape(&raw)
                .windows(3)
                .any(|w| w == [0, 0, 1] || w == [0, 0, 0])
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn sizes_are_read_after_cropping() {
        // Sets x264 wrote (ffmpeg's libx264): baseline with a cropped bottom, baseline at
        // 1080 lines (cropped from 1088), high profile at an odd width, interlaced PAL.
        for (sps, size) in [
            (
                "6742c01eda0280bfe5c044000003000400000300c83c58ba80",
                (640, 360),
            ),
            (
                "6742c028da01e0089f97011000000300100000030320f1832a",
                (1920, 1080),
            ),
            (
                "6764001eacd940d83de6f011000003000100000300320f162d96",
                (854, 480),
            ),
            (
                "674d4016f405a126c044000003000800000300c87c50aa80",
                (720, 576),
            ),
        ] {
            assert_eq!(dimensions(&hex(sps)), Some(size), "{sps}");
        }
        assert_eq!(dimensions(&[0x68, 1, 2]), None);
        assert_eq!(dimensions(&[0x67, 0x64, 0, 0x1e]), None, "cut short");
    }

    #[test]
    fn junk_is_refused() {
        assert_eq!(without_reordering(&[]), None);
        assert_eq!(without_reordering(&[0x68, 1, 2]), None);
        assert_eq!(without_reordering(&[0x67, 100]), None);
    }
}
