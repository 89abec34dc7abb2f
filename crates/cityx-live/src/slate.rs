//! The slate (垫片): when a channel's input drops without ending (an encoder that dies, a
//! network that breaks, a pull whose source fails), the session that lost it hands the
//! channel's hold to a standby session, `slate-…`, that goes on with a card saying the
//! signal is interrupted and silence, at the input's picture size, so that players keep
//! playing and restream targets keep receiving. The input coming back ends it: a publisher
//! takes the channel from a slate as from a pull, and a pull takes it from a slate. After
//! `live.slate_secs` without an input the broadcast ends.
//!
//! The card is encoded once per picture size and node (two seconds of H.264 and AAC by a
//! short ffmpeg run on nothing untrusted) and replayed in real time with the timestamps
//! counted on: one closed group of pictures repeated, and AAC frames of silence.

use crate::IngestOptions;
use crate::flv::{self, TagKind};
use crate::publish::Publish;
use bytes::Bytes;
use cityx_app::App;
use cityx_core::live::{Channel, Health};
use cityx_media::live::{SLATE_AUDIO_RATE, SLATE_FPS};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The prefix of a slate's session id (the database's hold rules know it too).
pub const PREFIX: &str = "slate-";
/// Whether a session is a slate.
pub(crate) fn is_slate(session: &str) -> bool {
    session.starts_with(PREFIX)
}

/// The picture size of a slate for an input of unknown size.
const DEFAULT_SIZE: (u32, u32) = (1280, 720);
/// Samples in one AAC frame.
const AAC_FRAME: u64 = 1024;

/// One encoded slate: the codec headers, a group of pictures and the frames of silence.
pub(crate) struct Card {
    video_header: Bytes,
    audio_header: Bytes,
    pictures: Vec<Bytes>,
    silence: Vec<Bytes>,
}

/// Slates by picture size.
type Cards = HashMap<(u32, u32), Arc<Card>>;

/// Slates made on this node.
static MADE: Mutex<Option<Cards>> = Mutex::new(None);

/// The slate's picture size for an input of `width`×`height`: the input's (even, at most
/// 1920×1080 scaled down in proportion), or 1280×720 when it is unknown.
fn size_for(width: u32, height: u32) -> (u32, u32) {
    if width < 16 || height < 16 {
        return DEFAULT_SIZE;
    }
    let scale = (1920.0 / f64::from(width))
        .min(1080.0 / f64::from(height))
        .min(1.0);
    let even = |v: u32| ((f64::from(v) * scale) as u32 / 2 * 2).max(16);
    (even(width), even(height))
}

/// The slate for `size`, made now if this node has none yet.
async fn card(tools: &cityx_media::Tools, size: (u32, u32)) -> Result<Arc<Card>, String> {
    if let Some(c) = MADE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(&size))
    {
        return Ok(c.clone());
    }
    // Without a font with Chinese glyphs, or without drawtext, the card goes without text.
    let font = cityx_media::live::slate_font();
    let made = match encode(tools, size, font).await {
        Err(e) if font.is_some() => {
            tracing::warn!(error = %e, "the slate's text could not be drawn; a plain card instead");
            encode(tools, size, None).await?
        }
        other => other?,
    };
    let made = Arc::new(made);
    MADE.lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(size, made.clone());
    Ok(made)
}

async fn encode(
    tools: &cityx_media::Tools,
    (width, height): (u32, u32),
    font: Option<&str>,
) -> Result<Card, String> {
    let dir = std::env::temp_dir();
    let limits = cityx_media::process::Limits {
        wall: Duration::from_secs(60),
        stall: Duration::from_secs(30),
        max_stdout: 16 << 20,
    };
    let out = cityx_media::process::run_with(
        &tools.ffmpeg,
        &cityx_media::live::slate_args(width, height, font),
        &dir,
        &limits,
        cityx_media::process::Hooks::default(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut reader = flv::Reader::default();
    reader.push(&out.stdout);
    let mut card = Card {
        video_header: Bytes::new(),
        audio_header: Bytes::new(),
        pictures: Vec::new(),
        silence: Vec::new(),
    };
    while let Some((kind, _, data)) = reader.next_tag().map_err(|e| e.0.to_owned())? {
        match (kind, flv::is_sequence_header(kind, &data)) {
            (TagKind::Video, true) => card.video_header = data,
            (TagKind::Audio, true) => card.audio_header = data,
            (TagKind::Video, false) if flv::is_frame(&data) => card.pictures.push(data),
            (TagKind::Audio, false) => card.silence.push(data),
            _ => {}
        }
    }
    let starts_closed = card.pictures.first().is_some_and(|p| flv::is_keyframe(p));
    if card.video_header.is_empty()
        || card.audio_header.is_empty()
        || !starts_closed
        || card.silence.is_empty()
    {
        return Err("ffmpeg made no usable slate".into());
    }
    Ok(card)
}

/// Puts the channel on its slate as session `session`, which already holds it, until an
/// input takes the channel back or `opts.slate_secs` pass. `last` is the lost input's
/// last report (its picture size and why it broke).
pub(crate) fn cover(
    channel: Channel,
    session: String,
    last: Health,
    app: Arc<App>,
    opts: Arc<IngestOptions>,
) {
    tokio::spawn(async move {
        let size = size_for(last.width, last.height);
        let card = match card(&opts.tools, size).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(channel = %channel.id, error = %e, "could not make a slate");
                crate::mover::end_playlists(app.storage(), &channel).await;
                let _ = app
                    .repo()
                    .release_channel(channel.id, &session, &last)
                    .await;
                return;
            }
        };
        let id = channel.id;
        let ended = channel.clone();
        let publish = match Publish::start(
            channel,
            session.clone(),
            String::new(),
            last.reconnects,
            app.clone(),
            opts.clone(),
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(channel = %id, error = %e, "could not start a slate");
                crate::mover::end_playlists(app.storage(), &ended).await;
                let _ = app.repo().release_channel(id, &session, &last).await;
                return;
            }
        };
        if let Some(code) = last.error_code {
            publish
                .note_error(crate::Failure::new(code, last.error))
                .await;
        }
        // Announced like an encoder's, for the health report and the restream targets.
        let mut metadata = rml_rtmp::sessions::StreamMetadata::new();
        metadata.video_width = Some(size.0);
        metadata.video_height = Some(size.1);
        metadata.video_codec_id = Some(7);
        metadata.video_frame_rate = Some(SLATE_FPS as f32);
        metadata.audio_codec_id = Some(10);
        metadata.audio_sample_rate = Some(SLATE_AUDIO_RATE);
        metadata.audio_channels = Some(2);
        metadata.audio_is_stereo = Some(true);
        metadata.encoder = Some("cityx slate".into());
        publish.metadata(&metadata).await;
        tracing::info!(channel = %id, session = %publish.session, "on the slate");
        play(
            &publish,
            &card,
            Duration::from_secs(u64::from(opts.slate_secs)),
        )
        .await;
        publish.finish(false).await;
    });
}

/// Feeds the card into the session in real time until the session is cut (an input took
/// the channel) or `limit` passes.
async fn play(publish: &Publish, card: &Card, limit: Duration) {
    let started = Instant::now();
    if publish
        .feed(TagKind::Video, 0, &card.video_header)
        .await
        .is_err()
        || publish
            .feed(TagKind::Audio, 0, &card.audio_header)
            .await
            .is_err()
    {
        return;
    }
    let frame_ms = 1000 / u64::from(SLATE_FPS);
    let (mut pictures, mut frames) = (0u64, 0u64);
    loop {
        let video_at = pictures * frame_ms;
        let audio_at = frames * AAC_FRAME * 1000 / u64::from(SLATE_AUDIO_RATE);
        let (kind, at, data) = if video_at <= audio_at {
            let p = &card.pictures[(pictures % card.pictures.len() as u64) as usize];
            pictures += 1;
            (TagKind::Video, video_at, p)
        } else {
            let s = &card.silence[(frames % card.silence.len() as u64) as usize];
            frames += 1;
            (TagKind::Audio, audio_at, s)
        };
        let due = started + Duration::from_millis(at);
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        }
        if started.elapsed() >= limit || publish.cut().await.is_some() {
            return;
        }
        let at = u32::try_from(at).unwrap_or(u32::MAX);
        if publish.feed(kind, at, data).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slates_take_the_inputs_size_within_full_hd() {
        assert_eq!(size_for(640, 360), (640, 360));
        assert_eq!(size_for(0, 0), DEFAULT_SIZE);
        assert_eq!(size_for(3840, 2160), (1920, 1080));
        assert_eq!(size_for(1080, 1920), (606, 1080), "portrait");
        assert_eq!(size_for(321, 181), (320, 180), "even");
    }
}
