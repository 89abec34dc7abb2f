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

/// Reads an AAC stream's level from a sample of its frames.
pub struct AacLevel {
    decoder: Option<AacDecoder>,
    /// Frames between two readings (about a second's worth).
    every: u32,
    seen: u32,
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
        let rate = decoder.codec_params().sample_rate.unwrap_or(48_000);
        Some(AacLevel {
            decoder: Some(decoder),
            every: (rate / 1024).max(2),
            seen: 0,
            samples: Vec::with_capacity(2048),
        })
    }

    /// Takes the stream's next raw frame; returns a reading (dBFS) when this frame was the
    /// one measured.
    pub fn frame(&mut self, raw: &[u8]) -> Option<f64> {
        let phase = self.seen % self.every;
        self.seen = self.seen.wrapping_add(1);
        if phase > 1 {
            return None;
        }
        let decoder = self.decoder.as_mut()?;
        let samples = &mut self.samples;
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if phase == 0 {
                decoder.reset();
            }
            let packet = PacketRef::new(0, Timestamp::new(0), Duration::new(1024), raw);
            match decoder.decode_ref(&packet) {
                Ok(buf) => {
                    samples.clear();
                    buf.copy_to_vec_interleaved::<f32>(samples);
                    true
                }
                Err(_) => false,
            }
        }));
        match decoded {
            Ok(true) if phase == 1 => Some(rms_db(&self.samples)),
            Ok(_) => None,
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
            assert_eq!(m.frame(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2]), None);
        }
    }
}
