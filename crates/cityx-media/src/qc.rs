//! The technical check (技审): what the QC branch of the transcode measured (black, frozen
//! and silent spans, EBU R128 loudness and true peak), read from ffmpeg's log, and the
//! master's technical data weighed against a delivery profile into a pass/warn/fail verdict
//! with time codes.

use crate::probe::MediaInfo;
use serde::{Deserialize, Serialize};

/// A stretch of the item, in seconds from its start.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub start: f64,
    pub end: f64,
}

impl Span {
    pub fn duration(&self) -> f64 {
        self.end - self.start
    }
}

/// What the analysis filters reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurements {
    pub black: Vec<Span>,
    pub frozen: Vec<Span>,
    pub silent: Vec<Span>,
    /// Integrated loudness (EBU R128), LUFS; `None` without audio.
    pub loudness_lufs: Option<f64>,
    pub loudness_range_lu: Option<f64>,
    /// True peak, dBTP; `None` without audio or for digital silence.
    pub true_peak_dbtp: Option<f64>,
}

fn number_after(line: &str, key: &str) -> Option<f64> {
    let rest = &line[line.find(key)? + key.len()..];
    let token = rest.trim_start().split([' ', '|']).next()?;
    token.parse().ok().filter(|v: &f64| v.is_finite())
}

/// Reads the filters' lines from an ffmpeg log (`-loglevel info`). Spans still open at the
/// end of the log end at `duration`.
pub fn parse_log(log: &str, duration: f64) -> Measurements {
    let mut m = Measurements::default();
    let (mut freeze_open, mut silence_open) = (None, None);
    // ebur128 prints a summary when its graph closes; a graph may be configured more than
    // once, so the last summary is the one with the data.
    let mut summary: Option<Measurements> = None;
    let mut section = "";
    for line in log.lines() {
        if line.contains("black_start:") {
            if let (Some(start), Some(end)) = (
                number_after(line, "black_start:"),
                number_after(line, "black_end:"),
            ) {
                m.black.push(Span { start, end });
            }
        } else if line.contains("freezedetect.freeze_start:") {
            freeze_open = number_after(line, "freeze_start:");
        } else if line.contains("freezedetect.freeze_end:") {
            if let (Some(start), Some(end)) =
                (freeze_open.take(), number_after(line, "freeze_end:"))
            {
                m.frozen.push(Span { start, end });
            }
        } else if line.contains("silence_start:") {
            silence_open = number_after(line, "silence_start:");
        } else if line.contains("silence_end:") {
            if let (Some(start), Some(end)) =
                (silence_open.take(), number_after(line, "silence_end:"))
            {
                m.silent.push(Span {
                    start: start.max(0.0),
                    end,
                });
            }
        } else if line.contains("Summary:") && line.contains("ebur128") {
            summary = Some(Measurements::default());
            section = "";
        } else if let Some(s) = summary.as_mut() {
            let t = line.trim();
            if t.ends_with(':') && !t.contains("  ") {
                section = match t {
                    "Integrated loudness:" => "i",
                    "Loudness range:" => "lra",
                    "True peak:" => "tp",
                    _ => "",
                };
            } else if section == "i" && t.starts_with("I:") {
                s.loudness_lufs = number_after(t, "I:");
            } else if section == "lra" && t.starts_with("LRA:") {
                s.loudness_range_lu = number_after(t, "LRA:");
            } else if section == "tp" && t.starts_with("Peak:") {
                s.true_peak_dbtp = number_after(t, "Peak:");
            }
        }
    }
    if let Some(start) = freeze_open {
        m.frozen.push(Span {
            start,
            end: duration,
        });
    }
    if let Some(start) = silence_open {
        m.silent.push(Span {
            start: start.max(0.0),
            end: duration,
        });
    }
    if let Some(s) = summary {
        // -70 LUFS is the meter's floor: digital silence.
        m.loudness_lufs = s.loudness_lufs;
        m.loudness_range_lu = s.loudness_range_lu;
        m.true_peak_dbtp = s.true_peak_dbtp;
    }
    m
}

/// What a delivery must look like. The defaults follow common practice for Chinese
/// television news: HD, 25/50 fps, 48 kHz stereo, loudness −24 LKFS ±2 LU with a true peak at
/// most −2 dBTP (GY/T 282-2014).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// Picture codecs accepted as delivered.
    pub video_codecs: Vec<String>,
    /// The shorter side of the picture, at least (720 = HD).
    pub min_short_side: u32,
    /// Frame rates accepted (±0.01).
    pub frame_rates: Vec<f64>,
    /// The whole file's bit rate, at least (kbit/s).
    pub min_bit_rate_kbps: u64,
    pub audio_sample_rate: u32,
    pub min_audio_channels: u32,
    pub loudness_target_lufs: f64,
    /// Off target by more than this: warn.
    pub loudness_warn_lu: f64,
    /// Off target by more than this: fail.
    pub loudness_fail_lu: f64,
    /// True peak above this: warn.
    pub true_peak_warn_dbtp: f64,
    /// True peak above this: fail (clipping).
    pub true_peak_fail_dbtp: f64,
    /// Black, frozen or silent for at least the first number of seconds: warn; the second:
    /// fail.
    pub black_secs: (f64, f64),
    pub frozen_secs: (f64, f64),
    pub silence_secs: (f64, f64),
    /// Below this level counts as silence (dBFS).
    pub silence_db: f64,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            video_codecs: ["h264", "hevc", "mpeg2video", "prores", "dnxhd"]
                .map(String::from)
                .to_vec(),
            min_short_side: 720,
            frame_rates: vec![25.0, 50.0],
            min_bit_rate_kbps: 2000,
            audio_sample_rate: 48000,
            min_audio_channels: 2,
            loudness_target_lufs: -24.0,
            loudness_warn_lu: 2.0,
            loudness_fail_lu: 6.0,
            true_peak_warn_dbtp: -2.0,
            true_peak_fail_dbtp: 0.0,
            black_secs: (1.0, 5.0),
            frozen_secs: (2.0, 10.0),
            silence_secs: (2.0, 10.0),
            silence_db: -50.0,
        }
    }
}

impl Profile {
    /// Checks the profile itself; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, (warn, fail)) in [
            ("black_secs", self.black_secs),
            ("frozen_secs", self.frozen_secs),
            ("silence_secs", self.silence_secs),
        ] {
            if !(warn > 0.0 && fail >= warn) {
                return Err(format!(
                    "qc.{key} must be [warn, fail] with 0 < warn <= fail"
                ));
            }
        }
        if !(self.loudness_warn_lu > 0.0 && self.loudness_fail_lu >= self.loudness_warn_lu) {
            return Err(
                "qc.loudness_fail_lu must be at least qc.loudness_warn_lu, both above 0".into(),
            );
        }
        if self.true_peak_fail_dbtp < self.true_peak_warn_dbtp {
            return Err("qc.true_peak_fail_dbtp must be at least qc.true_peak_warn_dbtp".into());
        }
        if self.silence_db >= 0.0 {
            return Err("qc.silence_db must be below 0 (dBFS)".into());
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One problem found. `check` is a stable code the UI translates; `start`/`end` are time
/// codes in seconds for problems in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub check: String,
    pub severity: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// What was measured, e.g. `-31.2 LUFS`.
    pub value: String,
    /// What the profile asks for, e.g. `-24 ±2 LUFS`.
    pub expected: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
    pub measurements: Measurements,
}

fn finding(check: &str, severity: Verdict, value: String, expected: String) -> Finding {
    Finding {
        check: check.into(),
        severity,
        start: None,
        end: None,
        value,
        expected,
    }
}

fn by_length(length: f64, (warn, fail): (f64, f64)) -> Option<Verdict> {
    if length >= fail {
        Some(Verdict::Fail)
    } else if length >= warn {
        Some(Verdict::Warn)
    } else {
        None
    }
}

/// Weighs a master against the profile.
pub fn evaluate(info: &MediaInfo, m: &Measurements, p: &Profile) -> Report {
    let mut f = Vec::new();
    if let Some(v) = &info.video {
        if !p.video_codecs.iter().any(|c| c == &v.codec) {
            f.push(finding(
                "video_codec",
                Verdict::Warn,
                v.codec.clone(),
                p.video_codecs.join(", "),
            ));
        }
        let short = v.display_width.min(v.display_height);
        if short < p.min_short_side {
            f.push(finding(
                "resolution",
                Verdict::Warn,
                format!("{}x{}", v.display_width, v.display_height),
                format!("≥ {}p", p.min_short_side),
            ));
        }
        if !p.frame_rates.is_empty() && !p.frame_rates.iter().any(|r| (r - v.fps).abs() < 0.01) {
            let rates: Vec<String> = p.frame_rates.iter().map(|r| format!("{r}")).collect();
            f.push(finding(
                "frame_rate",
                Verdict::Warn,
                format!("{:.3}", v.fps),
                rates.join(", "),
            ));
        }
        if let Some(rate) = info.bit_rate
            && rate / 1000 < p.min_bit_rate_kbps
        {
            f.push(finding(
                "bit_rate",
                Verdict::Warn,
                format!("{} kbit/s", rate / 1000),
                format!("≥ {} kbit/s", p.min_bit_rate_kbps),
            ));
        }
    }
    match &info.audio {
        None => f.push(finding(
            "audio_missing",
            Verdict::Warn,
            String::new(),
            format!("{} ch", p.min_audio_channels),
        )),
        Some(a) => {
            if a.channels < p.min_audio_channels {
                f.push(finding(
                    "audio_channels",
                    Verdict::Warn,
                    a.channels.to_string(),
                    format!("≥ {}", p.min_audio_channels),
                ));
            }
            if a.sample_rate != p.audio_sample_rate {
                f.push(finding(
                    "sample_rate",
                    Verdict::Warn,
                    format!("{} Hz", a.sample_rate),
                    format!("{} Hz", p.audio_sample_rate),
                ));
            }
            if let Some(i) = m.loudness_lufs {
                let off = (i - p.loudness_target_lufs).abs();
                let sev = if off > p.loudness_fail_lu {
                    Some(Verdict::Fail)
                } else if off > p.loudness_warn_lu {
                    Some(Verdict::Warn)
                } else {
                    None
                };
                if let Some(sev) = sev {
                    f.push(finding(
                        "loudness",
                        sev,
                        format!("{i:.1} LUFS"),
                        format!("{} ±{} LUFS", p.loudness_target_lufs, p.loudness_warn_lu),
                    ));
                }
            }
            if let Some(tp) = m.true_peak_dbtp {
                let sev = if tp > p.true_peak_fail_dbtp {
                    Some(Verdict::Fail)
                } else if tp > p.true_peak_warn_dbtp {
                    Some(Verdict::Warn)
                } else {
                    None
                };
                if let Some(sev) = sev {
                    f.push(finding(
                        "true_peak",
                        sev,
                        format!("{tp:.1} dBTP"),
                        format!("≤ {} dBTP", p.true_peak_warn_dbtp),
                    ));
                }
            }
        }
    }
    for (check, spans, limits) in [
        ("black", &m.black, p.black_secs),
        ("frozen", &m.frozen, p.frozen_secs),
        ("silence", &m.silent, p.silence_secs),
    ] {
        for span in spans {
            // A black picture is also a still one: report it once, as black.
            let inside_black = check == "frozen"
                && m.black
                    .iter()
                    .any(|b| span.start >= b.start - 0.2 && span.end <= b.end + 0.2);
            if inside_black {
                continue;
            }
            if let Some(sev) = by_length(span.duration(), limits) {
                f.push(Finding {
                    start: Some(span.start),
                    end: Some(span.end),
                    ..finding(
                        check,
                        sev,
                        format!("{:.1} s", span.duration()),
                        format!("< {} s", limits.0),
                    )
                });
            }
        }
    }
    Report {
        verdict: f.iter().map(|x| x.severity).max().unwrap_or(Verdict::Pass),
        findings: f,
        measurements: m.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[Parsed_ebur128_20 @ 0x1] Summary:

  Integrated loudness:
    I:         -70.0 LUFS
    Threshold:   0.0 LUFS

  True peak:
    Peak:       -inf dBFS
[freezedetect @ 0x2] lavfi.freezedetect.freeze_start: 4
[blackdetect @ 0x3] black_start:4 black_end:6.04 black_duration:2.04
[freezedetect @ 0x2] lavfi.freezedetect.freeze_duration: 2.04
[freezedetect @ 0x2] lavfi.freezedetect.freeze_end: 6.04
[silencedetect @ 0x4] silence_start: 10.0054
[silencedetect @ 0x4] silence_end: 12.0106 | silence_duration: 2.00521
[freezedetect @ 0x2] lavfi.freezedetect.freeze_start: 18
[silencedetect @ 0x4] silence_start: -0.01
[Parsed_ebur128_20 @ 0x5] Summary:

  Integrated loudness:
    I:         -21.8 LUFS
    Threshold: -31.9 LUFS

  Loudness range:
    LRA:         3.6 LU
    Threshold: -42.3 LUFS
    LRA low:   -25.4 LUFS
    LRA high:  -21.8 LUFS

  True peak:
    Peak:       -1.5 dBFS
[libx264 @ 0x6] frame I:10    Avg QP: 6.20  size: 28057
";

    #[test]
    fn reads_the_filters_lines() {
        let m = parse_log(LOG, 20.0);
        assert_eq!(
            m.black,
            vec![Span {
                start: 4.0,
                end: 6.04
            }]
        );
        assert_eq!(
            m.frozen,
            vec![
                Span {
                    start: 4.0,
                    end: 6.04
                },
                Span {
                    start: 18.0,
                    end: 20.0
                }
            ]
        );
        assert_eq!(
            m.silent,
            vec![
                Span {
                    start: 10.0054,
                    end: 12.0106
                },
                Span {
                    start: 0.0,
                    end: 20.0
                }
            ]
        );
        assert_eq!(m.loudness_lufs, Some(-21.8));
        assert_eq!(m.loudness_range_lu, Some(3.6));
        assert_eq!(m.true_peak_dbtp, Some(-1.5));
        assert_eq!(parse_log("", 1.0), Measurements::default());
    }

    fn hd() -> MediaInfo {
        crate::probe::sample(1920, 1080)
    }

    #[test]
    fn verdicts_follow_the_profile() {
        let p = Profile::default();
        let good = Measurements {
            loudness_lufs: Some(-24.5),
            true_peak_dbtp: Some(-3.0),
            ..Measurements::default()
        };
        let r = evaluate(&hd(), &good, &p);
        assert_eq!((r.verdict, r.findings.len()), (Verdict::Pass, 0), "{r:?}");

        let loud = Measurements {
            loudness_lufs: Some(-20.0),
            true_peak_dbtp: Some(-1.0),
            black: vec![
                Span {
                    start: 4.0,
                    end: 6.0,
                },
                Span {
                    start: 10.0,
                    end: 10.5,
                },
            ],
            // Black is also still: reported once, as black.
            frozen: vec![Span {
                start: 4.0,
                end: 6.04,
            }],
            ..good.clone()
        };
        let r = evaluate(&hd(), &loud, &p);
        assert_eq!(r.verdict, Verdict::Warn);
        let checks: Vec<&str> = r.findings.iter().map(|f| f.check.as_str()).collect();
        // The half-second black is under the threshold.
        assert_eq!(checks, ["loudness", "true_peak", "black"]);
        assert_eq!(
            (r.findings[2].start, r.findings[2].end),
            (Some(4.0), Some(6.0))
        );

        let broken = Measurements {
            silent: vec![Span {
                start: 0.0,
                end: 20.0,
            }],
            loudness_lufs: Some(-70.0),
            ..good
        };
        let r = evaluate(&hd(), &broken, &p);
        assert_eq!(r.verdict, Verdict::Fail);
        assert!(
            r.findings
                .iter()
                .any(|f| f.check == "silence" && f.severity == Verdict::Fail)
        );

        let mut phone = hd();
        if let Some(v) = phone.video.as_mut() {
            (v.display_width, v.display_height, v.fps) = (720, 1280, 29.97);
        }
        phone.audio = None;
        let r = evaluate(&phone, &Measurements::default(), &p);
        let checks: Vec<&str> = r.findings.iter().map(|f| f.check.as_str()).collect();
        assert_eq!(checks, ["frame_rate", "audio_missing"]);
    }

    #[test]
    fn profiles_are_checked() {
        assert!(Profile::default().validate().is_ok());
        let bad = Profile {
            black_secs: (5.0, 1.0),
            ..Profile::default()
        };
        assert!(
            bad.validate()
                .expect_err("refused")
                .contains("qc.black_secs")
        );
    }
}
