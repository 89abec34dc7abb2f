//! RTSP pulls (IP cameras, studio gateways, other platforms' RTSP outputs), in process with
//! `retina`: the connection goes to an address the outbound guard admitted (the URL handed
//! to retina names that address, so no second DNS answer is asked; retina follows no
//! redirect and opens no other connection), RTP comes interleaved in that one TCP
//! connection, and H.264 with AAC become the messages a session takes (FLV's AVC and AAC
//! packets), so a camera is packaged, recorded, clipped and restreamed like an encoder.
//! Other video (H.265, MJPEG) is refused with the reason; audio other than AAC (G.711 …)
//! is left out.

use crate::Failure;
use crate::flv::TagKind;
use crate::publish::Publish;
use crate::remux::{CHECK_EVERY, SILENCE};
use crate::rtmp_client::ANSWER_WITHIN;
use bytes::Bytes;
use cityx_app::App;
use cityx_core::live::{Channel, Trouble};
use futures_util::StreamExt;
use retina::client::{PlayOptions, SessionOptions, SetupOptions, TcpTransportOptions, Transport};
use retina::codec::{CodecItem, FrameFormat, ParametersRef};
use std::time::{Duration, Instant};

/// The port of an `rtsp://` address that names none.
pub(crate) const DEFAULT_PORT: u16 = 554;

/// An RTSP session that plays, with the streams it set up.
pub(crate) struct Opened {
    session: std::pin::Pin<Box<retina::client::Demuxed>>,
    video: Option<usize>,
    audio: Option<usize>,
}

/// Asks `url` (`rtsp://host[:port]/path`) to describe and play its stream, over an address
/// the guard admits, each step within [`ANSWER_WITHIN`].
pub(crate) async fn open(app: &App, url: &str) -> Result<Opened, Failure> {
    let mut url = cityx_fetch::Url::parse(url)
        .map_err(|_| Failure::new(Trouble::BadAddress, "not an rtsp://host/path address"))?;
    if url.scheme() != "rtsp" || url.host().is_none() || !url.username().is_empty() {
        return Err(Failure::new(
            Trouble::BadAddress,
            "not an rtsp://host/path address",
        ));
    }
    if url.port().is_none() {
        let _ = url.set_port(Some(DEFAULT_PORT));
    }
    let addrs = app.fetch_guard().admit(&url).await?;
    let addr = addrs
        .first()
        .copied()
        .ok_or_else(|| Failure::new(Trouble::Unreachable, "no address to connect to"))?;
    // The request names the admitted address, so that retina connects there and only there.
    let _ = url.set_ip_host(addr.ip());
    let within = |what: &'static str| {
        move |_| {
            Failure::new(
                Trouble::Unreachable,
                format!("no RTSP answer to {what} within 10 s"),
            )
        }
    };
    let options =
        SessionOptions::default().user_agent(concat!("cityx/", env!("CARGO_PKG_VERSION")).into());
    let mut session = tokio::time::timeout(
        ANSWER_WITHIN,
        retina::client::Session::describe(url, options),
    )
    .await
    .map_err(within("DESCRIBE"))?
    .map_err(|e| Failure::new(Trouble::Refused, format!("the RTSP server refused: {e}")))?;
    let pick = |media: &str, encodings: &[&str]| {
        session.streams().iter().position(|s| {
            s.media() == media
                && encodings.contains(&s.encoding_name().to_ascii_lowercase().as_str())
        })
    };
    let video = pick("video", &["h264"]);
    let audio = pick("audio", &["mpeg4-generic"]);
    if video.is_none() {
        let other = session
            .streams()
            .iter()
            .find(|s| s.media() == "video")
            .map(|s| s.encoding_name().to_owned());
        return Err(match other {
            Some(codec) => Failure::new(
                Trouble::Unsupported,
                format!("the RTSP stream's video is {codec}; cityx takes H.264"),
            ),
            None if audio.is_some() => Failure::new(
                Trouble::Unsupported,
                "the RTSP stream has no video; cityx takes H.264 with AAC",
            ),
            None => Failure::new(Trouble::Unsupported, "the RTSP stream has no H.264 video"),
        });
    }
    for i in video.iter().chain(audio.iter()) {
        let setup = SetupOptions::default()
            .transport(Transport::Tcp(TcpTransportOptions::default()))
            .frame_format(FrameFormat::MP4);
        tokio::time::timeout(ANSWER_WITHIN, session.setup(*i, setup))
            .await
            .map_err(within("SETUP"))?
            .map_err(|e| {
                Failure::new(
                    Trouble::Refused,
                    format!("the RTSP server refused SETUP: {e}"),
                )
            })?;
    }
    let playing = tokio::time::timeout(ANSWER_WITHIN, session.play(PlayOptions::default()))
        .await
        .map_err(within("PLAY"))?
        .map_err(|e| {
            Failure::new(
                Trouble::Refused,
                format!("the RTSP server refused PLAY: {e}"),
            )
        })?;
    let demuxed = playing.demuxed().map_err(|e| {
        Failure::new(
            Trouble::Broken,
            format!("the RTSP stream cannot be read: {e}"),
        )
    })?;
    Ok(Opened {
        session: Box::pin(demuxed),
        video,
        audio,
    })
}

/// Milliseconds of a frame's time since the stream began (RTMP's 32-bit clock wraps).
fn millis(t: retina::Timestamp) -> u32 {
    let ms = i128::from(t.elapsed()) * 1000 / i128::from(t.clock_rate().get());
    ms.max(0) as u64 as u32
}

/// Feeds the played stream into the session until it ends; how long it ran, or why it broke
/// (with how long it ran).
pub(crate) async fn run(
    mut opened: Opened,
    publish: &Publish,
    app: &App,
    ch: &Channel,
) -> Result<Duration, (Duration, Failure)> {
    let started = Instant::now();
    let mut checked = Instant::now();
    let broke = |e: Failure| Err((started.elapsed(), e));
    let mut video_header = false;
    let mut audio_header = false;
    loop {
        if let Some(cut) = publish.cut().await {
            return broke(Failure::new(
                Trouble::Broken,
                format!("the session was cut ({cut:?})"),
            ));
        }
        if checked.elapsed() >= CHECK_EVERY {
            checked = Instant::now();
            if !crate::pull::still_pulls(app, ch).await {
                return Ok(started.elapsed());
            }
        }
        let item = match tokio::time::timeout(SILENCE, opened.session.next()).await {
            Err(_) => {
                return broke(Failure::new(
                    Trouble::Silent,
                    format!("the source sent nothing for {} s", SILENCE.as_secs()),
                ));
            }
            Ok(None) => return Ok(started.elapsed()),
            Ok(Some(Err(e))) => {
                return broke(Failure::new(
                    Trouble::Broken,
                    format!("the RTSP stream broke: {e}"),
                ));
            }
            Ok(Some(Ok(item))) => item,
        };
        let mut messages: Vec<(TagKind, u32, Vec<u8>)> = Vec::with_capacity(2);
        match item {
            CodecItem::VideoFrame(f) if Some(f.stream_id()) == opened.video => {
                let at = millis(f.timestamp());
                if !video_header || f.has_new_parameters() {
                    let stream = &opened.session.streams()[f.stream_id()];
                    if let Some(ParametersRef::Video(v)) = stream.parameters() {
                        let (w, h) = v.pixel_dimensions();
                        publish.set_size(w, h).await;
                        let mut header = vec![0x17, 0, 0, 0, 0];
                        header.extend_from_slice(v.extra_data());
                        messages.push((TagKind::Video, at, header));
                        video_header = true;
                    }
                }
                if video_header {
                    let key = f.is_random_access_point();
                    let mut frame = vec![if key { 0x17 } else { 0x27 }, 1, 0, 0, 0];
                    frame.extend_from_slice(f.data());
                    messages.push((TagKind::Video, at, frame));
                }
            }
            CodecItem::AudioFrame(f) if Some(f.stream_id()) == opened.audio => {
                let at = millis(f.timestamp());
                if !audio_header {
                    let stream = &opened.session.streams()[f.stream_id()];
                    if let Some(ParametersRef::Audio(a)) = stream.parameters() {
                        let mut header = vec![0xaf, 0];
                        header.extend_from_slice(a.extra_data());
                        messages.push((TagKind::Audio, at, header));
                        audio_header = true;
                    }
                }
                if audio_header {
                    let mut frame = vec![0xaf, 1];
                    frame.extend_from_slice(f.data());
                    messages.push((TagKind::Audio, at, frame));
                }
            }
            _ => {}
        }
        for (kind, at, data) in messages {
            if let Err(cut) = publish.feed(kind, at, &Bytes::from(data)).await {
                return broke(cut.failure());
            }
        }
    }
}
