//! Following an HLS stream segment by segment, for a channel that pulls one: a remote
//! playlist fetched through the outbound guard (every playlist and segment address checked,
//! sizes capped), or another cityx channel's own playlist read from storage. Only MPEG-TS
//! segments without encryption are taken; the bytes go on to the remuxer as they arrive.

use bytes::Bytes;
use cityx_core::ChannelId;
use cityx_media::live::LivePlaylist;
use cityx_storage::{Storage, StorageKey};

/// The largest playlist read.
const MAX_PLAYLIST: u64 = 1 << 20;
/// The largest segment read.
const MAX_SEGMENT: u64 = crate::context::LIVE_FILE;

/// What a playlist lists now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    /// The media sequence number of the first segment.
    pub sequence: u64,
    /// Segment addresses (absolute for remote playlists) and durations.
    pub segments: Vec<(String, f64)>,
    /// The stream ended (`#EXT-X-ENDLIST`).
    pub ended: bool,
    /// `#EXT-X-TARGETDURATION`, seconds.
    pub target: f64,
}

/// What a remote playlist is.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Media(Listing),
    /// A master playlist: the variant with the highest bandwidth.
    Master(String),
}

/// Reads an HLS playlist; a reason when it is none cityx can follow.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("#EXTM3U") {
        return Err("not an HLS playlist".into());
    }
    let mut listing = Listing::default();
    let mut duration: Option<f64> = None;
    let mut best: Option<(u64, String)> = None;
    let mut variant: Option<u64> = None;
    for line in lines {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            listing.sequence = v.trim().parse().map_err(|_| "a bad media sequence")?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            listing.target = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d = v.split(',').next().unwrap_or("").trim();
            duration = Some(d.parse().map_err(|_| "a bad segment duration")?);
        } else if line == "#EXT-X-ENDLIST" {
            listing.ended = true;
        } else if line.starts_with("#EXT-X-MAP") {
            return Err("fragmented MP4 segments are not taken; MPEG-TS only".into());
        } else if let Some(v) = line.strip_prefix("#EXT-X-KEY:") {
            if !v.contains("METHOD=NONE") {
                return Err("encrypted segments are not taken".into());
            }
        } else if let Some(v) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            let bandwidth = v
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix("BANDWIDTH="))
                .and_then(|b| b.parse().ok())
                .unwrap_or(0);
            variant = Some(bandwidth);
        } else if line.starts_with('#') {
            continue;
        } else if let Some(bandwidth) = variant.take() {
            if best.as_ref().is_none_or(|(b, _)| bandwidth > *b) {
                best = Some((bandwidth, line.to_owned()));
            }
        } else if let Some(d) = duration.take() {
            listing.segments.push((line.to_owned(), d));
        }
    }
    if let Some((_, uri)) = best {
        return Ok(Parsed::Master(uri));
    }
    Ok(Parsed::Media(listing))
}

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
    pub async fn listing(&mut self) -> Result<Listing, String> {
        match self {
            Feed::Channel { storage, id } => {
                let key = StorageKey::live(*id, "index.m3u8").ok_or("no playlist")?;
                let text = match storage.read_small(&key, MAX_PLAYLIST).await {
                    Ok(Some((_, bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                    Ok(None) => return Err("the source channel has no playlist".into()),
                    Err(e) if e.is_not_found() => {
                        return Err("the source channel has not been on air yet".into());
                    }
                    Err(e) => return Err(format!("cannot read the source channel: {e}")),
                };
                let p = LivePlaylist::parse(&text)
                    .ok_or("the source channel's playlist is unreadable")?;
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
                    match parse(&String::from_utf8_lossy(&text))? {
                        Parsed::Media(mut l) => {
                            for (uri, _) in &mut l.segments {
                                *uri = at
                                    .join(uri)
                                    .map_err(|_| format!("a bad segment address: {uri}"))?
                                    .to_string();
                            }
                            return Ok(l);
                        }
                        Parsed::Master(variant) => {
                            *media = Some(
                                at.join(&variant)
                                    .map_err(|_| "a bad variant address".to_owned())?,
                            );
                        }
                    }
                }
                Err("a master playlist names another master playlist".into())
            }
        }
    }

    /// A segment's bytes.
    pub async fn segment(&self, uri: &str) -> Result<Bytes, String> {
        match self {
            Feed::Channel { storage, id } => {
                let key = StorageKey::live(*id, uri).ok_or("a bad segment address")?;
                match storage.read_small(&key, MAX_SEGMENT).await {
                    Ok(Some((_, bytes))) => Ok(bytes),
                    Ok(None) => Err("a segment of the source channel is too large".into()),
                    Err(e) => Err(format!("cannot read a segment of the source channel: {e}")),
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
async fn fetch(guard: &cityx_fetch::Guard, url: &str, max: u64) -> Result<Bytes, String> {
    let whole = async {
        let mut download = guard.get(url, max).await.map_err(|e| e.to_string())?;
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = download.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(FETCH_WITHIN, whole)
        .await
        .map_err(|_| format!("no answer within {} s", FETCH_WITHIN.as_secs()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_and_master_playlists_are_read() {
        let media = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n\
            #EXTINF:2.000,\nseg41.ts\n#EXTINF:1.960,\nhttps://cdn.example.org/seg42.ts\n";
        let Ok(Parsed::Media(l)) = parse(media) else {
            panic!("a media playlist");
        };
        assert_eq!(l.sequence, 41);
        assert_eq!(l.target, 2.0);
        assert_eq!(l.segments.len(), 2);
        assert_eq!(
            l.segments[1],
            ("https://cdn.example.org/seg42.ts".into(), 1.96)
        );
        assert!(!l.ended);
        let master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nlow.m3u8\n\
            #EXT-X-STREAM-INF:BANDWIDTH=3000000\nhigh/index.m3u8\n";
        assert_eq!(parse(master), Ok(Parsed::Master("high/index.m3u8".into())));
        for (bad, why) in [
            ("<html>", "not an HLS"),
            ("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n", "MPEG-TS only"),
            (
                "#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI=\"k\"\n",
                "encrypted",
            ),
            ("#EXTM3U\n#EXTINF:abc,\nx.ts\n", "duration"),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        let ended = "#EXTM3U\n#EXTINF:2,\na.ts\n#EXT-X-ENDLIST\n";
        assert!(matches!(parse(ended), Ok(Parsed::Media(l)) if l.ended));
    }
}
