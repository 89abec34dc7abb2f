//! ffprobe: its JSON as typed structs, and the summary cityx keeps ([`MediaInfo`]).

use crate::process::{Limits, run};
use crate::{MediaError, Tools, hardened_input};
use serde::{Deserialize, Deserializer, Serialize};
use std::ffi::OsString;
use std::path::Path;

/// ffprobe prints many numbers as strings ("2.000000"); accept both.
fn num<'de, D: Deserializer<'de>, T: std::str::FromStr>(d: D) -> Result<Option<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        N(serde_json::Number),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::S(s)) => s.trim().parse().ok(),
        Some(Raw::N(n)) => n.to_string().parse().ok(),
        None => None,
    })
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct FfprobeOutput {
    #[serde(default)]
    pub streams: Vec<Stream>,
    pub format: Option<Format>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Format {
    pub format_name: Option<String>,
    #[serde(default, deserialize_with = "num")]
    pub duration: Option<f64>,
    #[serde(default, deserialize_with = "num")]
    pub bit_rate: Option<u64>,
    #[serde(default, deserialize_with = "num")]
    pub size: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Stream {
    pub index: Option<u32>,
    pub codec_type: Option<String>,
    pub codec_name: Option<String>,
    pub profile: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub pix_fmt: Option<String>,
    /// `"64:45"` for anamorphic PAL; `"1:1"` or absent for square pixels.
    pub sample_aspect_ratio: Option<String>,
    pub field_order: Option<String>,
    pub r_frame_rate: Option<String>,
    pub avg_frame_rate: Option<String>,
    #[serde(default, deserialize_with = "num")]
    pub bits_per_raw_sample: Option<u32>,
    #[serde(default, deserialize_with = "num")]
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    pub channel_layout: Option<String>,
    #[serde(default, deserialize_with = "num")]
    pub bit_rate: Option<u64>,
    #[serde(default, deserialize_with = "num")]
    pub duration: Option<f64>,
    #[serde(default)]
    pub disposition: Disposition,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub side_data_list: Vec<SideData>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Disposition {
    #[serde(default)]
    pub attached_pic: u8,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct Tags {
    #[serde(default, deserialize_with = "num")]
    pub rotate: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct SideData {
    #[serde(default, deserialize_with = "num")]
    pub rotation: Option<f64>,
}

/// What cityx keeps about a master.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    /// ffmpeg's container names, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
    pub duration_s: f64,
    pub bit_rate: Option<u64>,
    pub video: Option<VideoInfo>,
    pub audio: Option<AudioInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    pub codec: String,
    pub profile: Option<String>,
    /// As stored.
    pub width: u32,
    pub height: u32,
    /// As shown: square pixels, after rotation.
    pub display_width: u32,
    pub display_height: u32,
    /// The display matrix's angle as ffprobe reports it, normalised: 0, 90, 180 or 270.
    pub rotation: u32,
    pub fps: f64,
    /// The nominal and average rates differ: variable frame rate.
    pub variable_frame_rate: bool,
    pub interlaced: bool,
    pub pix_fmt: String,
    pub bit_depth: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AudioInfo {
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    pub layout: Option<String>,
}

/// `"30000/1001"` → 29.97.
fn rate(s: Option<&str>) -> Option<f64> {
    ratio(s, '/')
}

/// `"64:45"` with `:` → 1.422…; `None` for zero or junk.
fn ratio(s: Option<&str>, sep: char) -> Option<f64> {
    let (n, d) = s?.split_once(sep)?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (d > 0.0 && n > 0.0).then(|| n / d)
}

impl FfprobeOutput {
    /// Summarises the streams; a file without audio or video is not media.
    pub fn summary(&self) -> Result<MediaInfo, MediaError> {
        let video = self.streams.iter().find(|s| {
            s.codec_type.as_deref() == Some("video")
                && s.disposition.attached_pic == 0
                && s.width.unwrap_or(0) > 0
        });
        let audio = self
            .streams
            .iter()
            .find(|s| s.codec_type.as_deref() == Some("audio"));
        if video.is_none() && audio.is_none() {
            return Err(MediaError::NotMedia {
                reason: "no audio or video stream".into(),
            });
        }
        let format = self.format.clone().unwrap_or_default();
        let duration_s = format
            .duration
            .or_else(|| {
                self.streams
                    .iter()
                    .filter_map(|s| s.duration)
                    .reduce(f64::max)
            })
            .unwrap_or(0.0);
        let video = video.map(|v| {
            // The display matrix's angle as ffprobe reports it (`rotate` is the older tag).
            // What matters downstream is whether width and height swap; ffmpeg's autorotate
            // turns the picture when transcoding.
            let degrees = v
                .side_data_list
                .iter()
                .find_map(|d| d.rotation)
                .or_else(|| v.tags.rotate.map(f64::from))
                .unwrap_or(0.0);
            let rotation = ((degrees.round() as i64).rem_euclid(360) as u32 / 90) * 90;
            let (w, h) = (v.width.unwrap_or(0), v.height.unwrap_or(0));
            // Anamorphic sources are shown wider (or narrower) than stored.
            let shown_w = match ratio(v.sample_aspect_ratio.as_deref(), ':') {
                Some(sar) if (sar - 1.0).abs() > 0.01 => ((f64::from(w) * sar / 2.0).round() as u32) * 2,
                _ => w,
            };
            let (display_width, display_height) = if rotation % 180 == 90 { (h, shown_w) } else { (shown_w, h) };
            let nominal = rate(v.r_frame_rate.as_deref());
            let average = rate(v.avg_frame_rate.as_deref());
            let pix_fmt = v.pix_fmt.clone().unwrap_or_default();
            let bit_depth = v.bits_per_raw_sample.filter(|b| *b > 0).unwrap_or_else(|| {
                if pix_fmt.contains("12") { 12 } else if pix_fmt.contains("10") { 10 } else { 8 }
            });
            VideoInfo {
                codec: v.codec_name.clone().unwrap_or_default(),
                profile: v.profile.clone(),
                width: w,
                height: h,
                display_width,
                display_height,
                rotation,
                fps: average.or(nominal).unwrap_or(0.0),
                variable_frame_rate: matches!((nominal, average), (Some(n), Some(a)) if (n - a).abs() > 0.01),
                interlaced: matches!(v.field_order.as_deref(), Some("tt" | "bb" | "tb" | "bt")),
                pix_fmt,
                bit_depth,
            }
        });
        let audio = audio.map(|a| AudioInfo {
            codec: a.codec_name.clone().unwrap_or_default(),
            sample_rate: a.sample_rate.unwrap_or(0),
            channels: a.channels.unwrap_or(0),
            layout: a.channel_layout.clone(),
        });
        Ok(MediaInfo {
            container: format.format_name.unwrap_or_default(),
            duration_s,
            bit_rate: format.bit_rate,
            video,
            audio,
        })
    }
}

/// Probes an untrusted file with the hardened options.
pub async fn probe(tools: &Tools, file: &Path, workdir: &Path) -> Result<MediaInfo, MediaError> {
    let mut args: Vec<OsString> = [
        "-v",
        "error",
        "-hide_banner",
        "-max_alloc",
        crate::MAX_ALLOC,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.extend(hardened_input(file));
    let limits = Limits {
        wall: tools.probe_limit,
        stall: tools.stall,
        max_stdout: 4 * 1024 * 1024,
    };
    let out = match run(&tools.ffprobe, &args, workdir, &limits).await {
        Ok(out) => out,
        Err(MediaError::Failed { stderr, .. }) => {
            return Err(MediaError::NotMedia {
                reason: last_line(&stderr),
            });
        }
        Err(e) => return Err(e),
    };
    let parsed: FfprobeOutput =
        serde_json::from_slice(&out.stdout).map_err(|e| MediaError::NotMedia {
            reason: format!("unreadable ffprobe output: {e}"),
        })?;
    parsed.summary()
}

/// The last meaningful line of a tool's stderr, without the path prefix ffmpeg puts there.
fn last_line(stderr: &str) -> String {
    let line = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("unreadable file")
        .trim();
    match line.rsplit_once(": ") {
        Some((prefix, reason)) if prefix.starts_with("file:") => reason.to_owned(),
        _ => line.to_owned(),
    }
}

/// A 60 s H.264/AAC master of `w`×`h` at 25 fps, for unit tests.
#[cfg(test)]
pub(crate) fn sample(w: u32, h: u32) -> MediaInfo {
    MediaInfo {
        container: "mov,mp4,m4a,3gp,3g2,mj2".into(),
        duration_s: 60.0,
        bit_rate: Some(8_000_000),
        video: Some(VideoInfo {
            codec: "h264".into(),
            profile: Some("High".into()),
            width: w,
            height: h,
            display_width: w,
            display_height: h,
            rotation: 0,
            fps: 25.0,
            variable_frame_rate: false,
            interlaced: false,
            pix_fmt: "yuv420p".into(),
            bit_depth: 8,
        }),
        audio: Some(AudioInfo {
            codec: "aac".into(),
            sample_rate: 48000,
            channels: 2,
            layout: Some("stereo".into()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> FfprobeOutput {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("parse")
    }

    #[test]
    fn h264_aac() {
        let m = fixture("h264_aac.json").summary().expect("media");
        // What the probe job records is what the transcode job reads back.
        let stored = serde_json::to_value(&m).expect("json");
        assert_eq!(
            serde_json::from_value::<MediaInfo>(stored).expect("back"),
            m
        );
        let v = m.video.expect("video");
        assert_eq!(
            (v.codec.as_str(), v.width, v.height, v.rotation),
            ("h264", 320, 240, 0)
        );
        assert_eq!(
            (v.fps, v.variable_frame_rate, v.interlaced, v.bit_depth),
            (25.0, false, false, 8)
        );
        let a = m.audio.expect("audio");
        assert_eq!(
            (a.codec.as_str(), a.sample_rate, a.channels),
            ("aac", 44100, 1)
        );
        assert!((m.duration_s - 2.0).abs() < 0.1, "{}", m.duration_s);
        assert!(m.container.contains("mp4"));
    }

    #[test]
    fn rotated_phone_video() {
        let v = fixture("rotated.json")
            .summary()
            .expect("media")
            .video
            .expect("video");
        assert_eq!((v.width, v.height), (320, 180));
        assert_eq!(
            (v.rotation, v.display_width, v.display_height),
            (90, 180, 320)
        );
    }

    #[test]
    fn interlaced_ten_bit() {
        let v = fixture("interlaced_10bit.json")
            .summary()
            .expect("media")
            .video
            .expect("video");
        assert!(v.interlaced);
        assert_eq!(v.bit_depth, 10);
        assert!(v.pix_fmt.contains("10"));
    }

    #[test]
    fn audio_only_and_no_streams() {
        let m = fixture("audio_only.json").summary().expect("media");
        assert!(m.video.is_none());
        assert_eq!(m.audio.map(|a| a.codec), Some("aac".to_owned()));
        let empty = FfprobeOutput::default();
        assert!(matches!(empty.summary(), Err(MediaError::NotMedia { .. })));
    }

    #[test]
    fn rates_and_messages() {
        assert_eq!(
            rate(Some("30000/1001")).map(|r| (r * 100.0).round()),
            Some(2997.0)
        );
        assert_eq!(rate(Some("0/0")), None);
        assert_eq!(ratio(Some("0:1"), ':'), None);
        let mut pal = fixture("h264_aac.json");
        pal.streams[0].width = Some(720);
        pal.streams[0].height = Some(576);
        pal.streams[0].sample_aspect_ratio = Some("64:45".into());
        let v = pal.summary().expect("media").video.expect("video");
        assert_eq!((v.display_width, v.display_height), (1024, 576));
        assert_eq!(
            last_line("junk\nfile:/tmp/x.mp4: Invalid data found when processing input\n"),
            "Invalid data found when processing input"
        );
    }
}
