//! HLS text: reading the segments a media playlist lists (ffmpeg's, or a remote stream a live
//! channel pulls), writing the master playlist and the storyboard's WebVTT.

use std::fmt::Write;

/// A media playlist as far as cityx needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MediaPlaylist {
    /// Segment URIs in order, each with its duration in seconds.
    pub segments: Vec<(String, f64)>,
    /// `#EXT-X-ENDLIST` seen: the rendition is complete.
    pub ended: bool,
    /// `#EXT-X-MEDIA-SEQUENCE`: the number of the first segment listed.
    pub sequence: u64,
    /// `#EXT-X-TARGETDURATION`, seconds (0 when absent).
    pub target: f64,
}

/// Parses a media playlist. Only whole lines count (a playlist caught mid-write lists fewer
/// segments, never a half name); a URI must follow its `#EXTINF`.
pub fn parse_media_playlist(text: &str) -> MediaPlaylist {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut out = MediaPlaylist::default();
    let mut duration = None;
    for line in complete.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            // A duration is a finite number of seconds, 0 or more (not `NaN`, `inf`, `-4`).
            duration = rest
                .split(',')
                .next()
                .and_then(|d| d.trim().parse::<f64>().ok())
                .filter(|d| d.is_finite() && *d >= 0.0);
        } else if line == "#EXT-X-ENDLIST" {
            out.ended = true;
        } else if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            out.sequence = n.trim().parse().unwrap_or(0);
        } else if let Some(t) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            out.target = t
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|t| t.is_finite() && *t >= 0.0)
                .unwrap_or(0.0);
        } else if !line.is_empty()
            && !line.starts_with('#')
            && let Some(d) = duration.take()
        {
            out.segments.push((line.to_owned(), d));
        }
    }
    out
}

/// A remote playlist, as a live pull reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum RemotePlaylist {
    Media(MediaPlaylist),
    /// A master playlist: the URI of its variant with the highest bandwidth.
    Master(String),
}

/// Reads a playlist a remote server gave; a reason when it is none a pull can follow (not
/// HLS, fragmented MP4 or encrypted segments: MPEG-TS in the clear only).
pub fn read_remote_playlist(text: &str) -> Result<RemotePlaylist, &'static str> {
    if text.trim_start().lines().next().map(str::trim) != Some("#EXTM3U") {
        return Err("not an HLS playlist");
    }
    let mut best: Option<(u64, &str)> = None;
    let mut variant: Option<u64> = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("#EXT-X-MAP") {
            return Err("fragmented MP4 segments are not taken; MPEG-TS only");
        } else if let Some(v) = line.strip_prefix("#EXT-X-KEY:") {
            if !v.contains("METHOD=NONE") {
                return Err("encrypted segments are not taken");
            }
        } else if let Some(v) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            variant = Some(
                v.split(',')
                    .find_map(|kv| kv.trim().strip_prefix("BANDWIDTH="))
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(0),
            );
        } else if !line.starts_with('#')
            && let Some(bandwidth) = variant.take()
            && best.is_none_or(|(b, _)| bandwidth > b)
        {
            best = Some((bandwidth, line));
        }
    }
    Ok(match best {
        Some((_, uri)) => RemotePlaylist::Master(uri.to_owned()),
        None => RemotePlaylist::Media(parse_media_playlist(text)),
    })
}

/// A media playlist listing `segments`: an `EVENT` playlist that players reload while it
/// grows, or, once `ended`, a `VOD` one.
pub fn media_playlist(segments: &[(String, f64)], ended: bool) -> String {
    let target = segments
        .iter()
        .map(|(_, d)| d.ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut s = format!(
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n\
         #EXT-X-PLAYLIST-TYPE:{}\n#EXT-X-INDEPENDENT-SEGMENTS\n",
        if ended { "VOD" } else { "EVENT" }
    );
    for (uri, d) in segments {
        let _ = writeln!(s, "#EXTINF:{d:.6},\n{uri}");
    }
    if ended {
        s.push_str("#EXT-X-ENDLIST\n");
    }
    s
}

/// One variant of the master playlist.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Relative URI of its media playlist, e.g. `720p/index.m3u8`.
    pub uri: String,
    /// Peak bits per second, audio included.
    pub bandwidth: u64,
    pub resolution: Option<(u32, u32)>,
    /// RFC 6381 codecs, e.g. `avc1.640028,mp4a.40.2`.
    pub codecs: String,
}

/// The master playlist, best variant first.
pub fn master_playlist(variants: &[Variant]) -> String {
    let mut s = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let _ = write!(s, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
        if let Some((w, h)) = v.resolution {
            let _ = write!(s, ",RESOLUTION={w}x{h}");
        }
        let _ = writeln!(s, ",CODECS=\"{}\"\n{}", v.codecs, v.uri);
    }
    s
}

/// The storyboard's geometry: tiles of `width`×`height`, `columns`×`rows` to a sheet, one
/// tile every `interval` seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Storyboard {
    pub interval: f64,
    pub width: u32,
    pub height: u32,
    pub columns: u32,
    pub rows: u32,
}

impl Storyboard {
    /// One tile every 2 s for short items, at most 400 tiles for long ones.
    pub fn for_duration(duration_s: f64) -> Self {
        Storyboard {
            interval: (duration_s / 400.0).max(2.0).ceil(),
            width: 160,
            height: 90,
            columns: 10,
            rows: 10,
        }
    }

    /// How many tiles a file of this duration gets.
    pub fn tiles(&self, duration_s: f64) -> u32 {
        ((duration_s / self.interval).ceil() as u32).max(1)
    }

    /// The sheet file name for sheet `n` (from 1), as ffmpeg's `sb_%03d.jpg` numbers them.
    pub fn sheet_name(n: u32) -> String {
        format!("sb_{n:03}.jpg")
    }

    /// WebVTT cues pointing into the sheets with media fragments (`#xywh=`), for a player's
    /// seek-bar previews.
    pub fn webvtt(&self, duration_s: f64) -> String {
        let per_sheet = self.columns * self.rows;
        let mut s = String::from("WEBVTT\n");
        for i in 0..self.tiles(duration_s) {
            let start = f64::from(i) * self.interval;
            let end = (start + self.interval).min(duration_s.max(start + 0.001));
            let sheet = i / per_sheet + 1;
            let cell = i % per_sheet;
            let (x, y) = (
                (cell % self.columns) * self.width,
                (cell / self.columns) * self.height,
            );
            let _ = write!(
                s,
                "\n{} --> {}\n{}#xywh={x},{y},{},{}\n",
                vtt_time(start),
                vtt_time(end),
                Self::sheet_name(sheet),
                self.width,
                self.height
            );
        }
        s
    }
}

/// `83.5` → `00:01:23.500`.
pub fn vtt_time(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_playlists_are_read_or_refused_with_a_reason() {
        let media = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n\
            #EXTINF:2.000,\nseg41.ts\n#EXTINF:1.960,\nhttps://cdn.example.org/seg42.ts\n";
        let Ok(RemotePlaylist::Media(l)) = read_remote_playlist(media) else {
            panic!("a media playlist");
        };
        assert_eq!((l.sequence, l.target), (41, 2.0));
        assert_eq!(
            l.segments[1],
            ("https://cdn.example.org/seg42.ts".into(), 1.96)
        );
        assert!(!l.ended);
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nlow.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=3000000\nhigh/index.m3u8\n";
        assert_eq!(
            read_remote_playlist(master),
            Ok(RemotePlaylist::Master("high/index.m3u8".into()))
        );
        for (bad, why) in [
            ("<html>", "not an HLS"),
            ("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n", "MPEG-TS only"),
            (
                "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n",
                "encrypted",
            ),
        ] {
            let e = read_remote_playlist(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        let ended = "#EXTM3U\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n";
        assert!(matches!(read_remote_playlist(ended), Ok(RemotePlaylist::Media(l)) if l.ended));
    }

    #[test]
    fn playlists_parse_whole_lines_only() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.000000,\nseg_00000.ts\n#EXTINF:3.5,\nseg_00001.ts\n#EXTINF:4.0,\nseg_000";
        let p = parse_media_playlist(text);
        assert_eq!(
            p.segments,
            vec![("seg_00000.ts".into(), 4.0), ("seg_00001.ts".into(), 3.5)]
        );
        assert!(!p.ended);
        let odd = "#EXTM3U\n#EXTINF:NaN,\na.ts\n#EXTINF:-4,\nb.ts\n#EXTINF:inf,\nc.ts\n#EXTINF:2,\nd.ts\n";
        assert_eq!(
            parse_media_playlist(odd).segments,
            vec![("d.ts".into(), 2.0)]
        );
        let done = parse_media_playlist(&format!("{text}02.ts\n#EXT-X-ENDLIST\n"));
        assert_eq!(done.segments.len(), 3);
        assert!(done.ended);
        let growing = media_playlist(&p.segments, false);
        assert!(growing.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n") && !growing.contains("ENDLIST"));
        assert!(growing.contains("#EXT-X-TARGETDURATION:4\n"));
        let vod = media_playlist(&done.segments, true);
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD\n") && vod.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(
            parse_media_playlist(&vod),
            done,
            "what is written reads back the same"
        );
    }

    #[test]
    fn master_lists_variants() {
        let m = master_playlist(&[Variant {
            uri: "720p/index.m3u8".into(),
            bandwidth: 3_000_000,
            resolution: Some((1280, 720)),
            codecs: "avc1.640028,mp4a.40.2".into(),
        }]);
        assert!(m.starts_with("#EXTM3U\n"));
        assert!(m.contains(
            "#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS=\"avc1.640028,mp4a.40.2\"\n720p/index.m3u8\n"
        ));
    }

    #[test]
    fn storyboard_cues_walk_the_sheets() {
        let sb = Storyboard::for_duration(250.0);
        assert_eq!(sb.interval, 2.0);
        assert_eq!(sb.tiles(250.0), 125);
        let vtt = sb.webvtt(250.0);
        assert!(vtt.starts_with("WEBVTT\n"));
        assert!(vtt.contains("00:00:00.000 --> 00:00:02.000\nsb_001.jpg#xywh=0,0,160,90\n"));
        // Tile 11 is the second row of the first sheet; tile 101 starts the second sheet.
        assert!(vtt.contains("00:00:22.000 --> 00:00:24.000\nsb_001.jpg#xywh=160,90,160,90\n"));
        assert!(vtt.contains("00:03:20.000 --> 00:03:22.000\nsb_002.jpg#xywh=0,0,160,90\n"));
        // The last cue ends at the end of the item.
        assert!(vtt.ends_with("00:04:08.000 --> 00:04:10.000\nsb_002.jpg#xywh=640,180,160,90\n"));
        // Long items get fewer, wider-spaced tiles.
        let long = Storyboard::for_duration(7200.0);
        assert_eq!((long.interval, long.tiles(7200.0)), (18.0, 400));
        assert_eq!(vtt_time(3723.25), "01:02:03.250");
    }
}
