//! The audio level of a live stream, read in process: AAC-LC frames decoded by Symphonia's
//! pure-Rust decoder, but only a sample of them (two frames about every second: the first
//! primes the decoder's overlap, the second is measured), so a channel's meter costs a
//! few percent of a full decode. The level is the measured frame's RMS in dBFS, as the
//! silence alarm reads it. Untrusted frames can only fail a decode: an error skips the
//! reading, and a panic in the decoder switches the meter off for the stream.

use symphonia_codec_aac::AacDecoder;
use symphonia_core::codecs::audio::well_known::CODEC_ID_AAC;
use symphonia_core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia_core::packet::PacketRef;
use symphonia_core::units::{Duration, Timestamp};

/// The level of digital silence, dBFS.
pub const FLOOR_DB: f64 = -120.0;

/// Which frames of an AAC stream are measured: two in a row about every second (the first
/// primes the decoder), chosen by counting, so that the rest are never copied or decoded.
pub struct Sampler<T> {
    every: u32,
    seen: u32,
    prime: Option<T>,
}

/// The sampling rates an AudioSpecificConfig's frequency index names.
const RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

impl<T> Sampler<T> {
    /// A sampler for the stream `asc` (its AudioSpecificConfig) describes.
    pub fn new(asc: &[u8]) -> Sampler<T> {
        let index = asc
            .get(..2)
            .map(|b| usize::from(((b[0] & 0x07) << 1) | (b[1] >> 7)));
        let rate = index.and_then(|i| RATES.get(i)).copied().unwrap_or(48_000);
        Sampler {
            every: (rate / 1024).max(2),
            seen: 0,
            prime: None,
        }
    }

    /// Takes the stream's next frame; returns a pair to measure (`prime`, `frame`) when this
    /// frame completes one.
    pub fn take(&mut self, frame: T) -> Option<(T, T)> {
        let phase = self.seen % self.every;
        self.seen = self.seen.wrapping_add(1);
        match phase {
            0 => {
                self.prime = Some(frame);
                None
            }
            1 => self.prime.take().map(|p| (p, frame)),
            _ => None,
        }
    }
}

/// Reads an AAC stream's level from pairs of its frames.
pub struct AacLevel {
    decoder: Option<AacDecoder>,
    samples: Vec<f32>,
}

impl AacLevel {
    /// A meter for the stream `asc` (its AudioSpecificConfig) describes; `None` for what the
    /// decoder does not take (HE-AAC signalled explicitly, more than two channels).
    pub fn new(asc: &[u8]) -> Option<AacLevel> {
        let mut params = AudioCodecParameters::new();
        params
            .for_codec(CODEC_ID_AAC)
            .with_extra_data(asc.to_vec().into_boxed_slice());
        let decoder = std::panic::catch_unwind(|| {
            AacDecoder::try_new(&params, &AudioDecoderOptions::default()).ok()
        })
        .ok()
        .flatten()?;
        Some(AacLevel {
            decoder: Some(decoder),
            samples: Vec::with_capacity(2048),
        })
    }

    /// The level (dBFS) of `frame`, decoded after `prime`, the frame before it.
    pub fn read(&mut self, prime: &[u8], frame: &[u8]) -> Option<f64> {
        let decoder = self.decoder.as_mut()?;
        let samples = &mut self.samples;
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            decoder.reset();
            let mut ok = false;
            for raw in [prime, frame] {
                let packet = PacketRef::new(0, Timestamp::new(0), Duration::new(1024), raw);
                ok = match decoder.decode_ref(&packet) {
                    Ok(buf) => {
                        samples.clear();
                        buf.copy_to_vec_interleaved::<f32>(samples);
                        true
                    }
                    Err(_) => false,
                };
            }
            ok
        }));
        match decoded {
            Ok(true) => Some(rms_db(&self.samples)),
            Ok(false) => None,
            Err(_) => {
                self.decoder = None;
                None
            }
        }
    }
}

/// The RMS level of samples in [-1, 1], in dBFS, never below [`FLOOR_DB`].
pub fn rms_db(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return FLOOR_DB;
    }
    let power = samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64;
    if power <= 0.0 {
        return FLOOR_DB;
    }
    (10.0 * power.log10()).max(FLOOR_DB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_of_known_signals() {
        assert_eq!(rms_db(&[]), FLOOR_DB);
        assert_eq!(rms_db(&[0.0; 64]), FLOOR_DB);
        // A full-scale square wave is 0 dBFS; half of it -6 dB.
        assert!(rms_db(&[1.0, -1.0, 1.0, -1.0]).abs() < 1e-9);
        assert!((rms_db(&[0.5, -0.5]) + 6.0206).abs() < 1e-3);
    }

    #[test]
    fn configs_it_cannot_decode_give_no_meter_and_junk_no_reading() {
        assert!(AacLevel::new(&[]).is_none());
        // HE-AAC signalled explicitly.
        assert!(AacLevel::new(&[0x2b, 0x11, 0x88, 0x00]).is_none());
        let mut m = AacLevel::new(&[0x12, 0x10]).expect("LC stereo");
        for _ in 0..200 {
            assert_eq!(m.read(&[0xde, 0xad, 0xbe, 0xef], &[0, 1, 2]), None);
        }
    }

    #[test]
    fn two_frames_a_second_are_sampled() {
        // 44.1 kHz: 43 frames a reading.
        let mut s = Sampler::new(&[0x12, 0x10]);
        let pairs: Vec<(u32, u32)> = (0..100).filter_map(|n| s.take(n)).collect();
        assert_eq!(pairs, [(0, 1), (43, 44), (86, 87)]);
        let mut junk = Sampler::new(&[]);
        assert_eq!(
            (0..100).filter_map(|n| junk.take(n)).count(),
            3,
            "48 kHz by default"
        );
    }
}
