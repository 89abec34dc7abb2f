//! Following an HLS stream segment by segment, for a channel that pulls one: a remote
//! playlist fetched through the outbound guard (every playlist and segment address checked,
//! sizes capped), or another cityx channel's own playlist read from storage. Only MPEG-TS
//! segments without encryption are taken; the bytes go on to the remuxer as they arrive.

use crate::Failure;
use bytes::Bytes;
use cityx_core::ChannelId;
use cityx_core::live::Trouble;
use cityx_media::hls::{MediaPlaylist as Listing, RemotePlaylist, read_remote_playlist};
use cityx_media::live::LivePlaylist;
use cityx_storage::{Storage, StorageKey};

/// The largest playlist read.
const MAX_PLAYLIST: u64 = 1 << 20;
/// The largest segment read.
const MAX_SEGMENT: u64 = crate::context::LIVE_FILE;

/// Where the playlist and segments come from.
pub enum Feed {
    /// A remote HLS stream, through the outbound guard.
    Remote {
        guard: cityx_fetch::Guard,
        url: cityx_fetch::Url,
        /// Set once a master playlist named its variant.
        media: Option<cityx_fetch::Url>,
    },
    /// Another channel's output in storage.
    Channel { storage: Storage, id: ChannelId },
}

impl Feed {
    /// What the playlist lists now.
    pub async fn listing(&mut self) -> Result<Listing, Failure> {
        match self {
            Feed::Channel { storage, id } => {
                let key = StorageKey::live(*id, "index.m3u8")
                    .ok_or_else(|| Failure::new(Trouble::SourceGone, "no playlist"))?;
                let text = match storage.read_small(&key, MAX_PLAYLIST).await {
                    Ok(Some((_, bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                    Ok(None) => {
                        return Err(Failure::new(
                            Trouble::Unsupported,
                            "the source channel's playlist is too large",
                        ));
                    }
                    Err(e) if e.is_not_found() => {
                        return Err(Failure::new(
                            Trouble::OffAir,
                            "the source channel has not been on air yet",
                        ));
                    }
                    Err(e) => {
                        return Err(Failure::new(
                            Trouble::Broken,
                            format!("cannot read the source channel: {e}"),
                        ));
                    }
                };
                let p = LivePlaylist::parse(&text).ok_or_else(|| {
                    Failure::new(
                        Trouble::Broken,
                        "the source channel's playlist is unreadable",
                    )
                })?;
                Ok(Listing {
                    sequence: p.sequence,
                    target: p.segments.iter().map(|s| s.duration).fold(1.0, f64::max),
                    segments: p
                        .segments
                        .into_iter()
                        .map(|s| (s.uri, s.duration))
                        .collect(),
                    ended: p.ended,
                })
            }
            Feed::Remote { guard, url, media } => {
                for _ in 0..2 {
                    let at = media.clone().unwrap_or_else(|| url.clone());
                    let text = fetch(guard, at.as_str(), MAX_PLAYLIST).await?;
                    let read = read_remote_playlist(&String::from_utf8_lossy(&text))
                        .map_err(|e| Failure::new(Trouble::Unsupported, e))?;
                    match read {
                        RemotePlaylist::Media(mut l) => {
                            for (uri, _) in &mut l.segments {
                                *uri = at
                                    .join(uri)
                                    .map_err(|_| {
                                        Failure::new(
                                            Trouble::Unsupported,
                                            format!("a bad segment address: {uri}"),
                                        )
                                    })?
                                    .to_string();
                            }
                            return Ok(l);
                        }
                        RemotePlaylist::Master(variant) => {
                            *media = Some(at.join(&variant).map_err(|_| {
                                Failure::new(Trouble::Unsupported, "a bad variant address")
                            })?);
                        }
                    }
                }
                Err(Failure::new(
                    Trouble::Unsupported,
                    "a master playlist names another master playlist",
                ))
            }
        }
    }

    /// A segment's bytes.
    pub async fn segment(&self, uri: &str) -> Result<Bytes, Failure> {
        match self {
            Feed::Channel { storage, id } => {
                let key = StorageKey::live(*id, uri)
                    .ok_or_else(|| Failure::new(Trouble::Broken, "a bad segment address"))?;
                match storage.read_small(&key, MAX_SEGMENT).await {
                    Ok(Some((_, bytes))) => Ok(bytes),
                    Ok(None) => Err(Failure::new(
                        Trouble::Unsupported,
                        "a segment of the source channel is too large",
                    )),
                    Err(e) => Err(Failure::new(
                        Trouble::Broken,
                        format!("cannot read a segment of the source channel: {e}"),
                    )),
                }
            }
            Feed::Remote { guard, .. } => fetch(guard, uri, MAX_SEGMENT).await,
        }
    }
}

/// The whole body at `url`, at most `max` bytes, through the guard.
/// A live source answers within this or is given up.
const FETCH_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

/// The whole body at `url`, at most `max` bytes, through the guard, within [`FETCH_WITHIN`].
async fn fetch(guard: &cityx_fetch::Guard, url: &str, max: u64) -> Result<Bytes, Failure> {
    let whole = async {
        let mut download = guard.get(url, max).await?;
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = download.chunk().await? {
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(FETCH_WITHIN, whole)
        .await
        .map_err(|_| {
            Failure::new(
                Trouble::Unreachable,
                format!("no answer within {} s", FETCH_WITHIN.as_secs()),
            )
        })?
}
