//! An item's derived files (HLS playlists and segments, the proxy MP4, poster, thumbnails,
//! storyboard and its WebVTT), streamed from storage with byte ranges, validators, cache rules
//! and the right media types.

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::http::{ApiPath, Caller, HttpState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cityx_core::AssetId;
use std::ops::Range;

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Wanted {
    /// No usable single range: the whole file (RFC 9110 lets a server ignore the header).
    Whole,
    Part(Range<u64>),
    /// Outside the file: 416.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`. Several ranges or a malformed header get
/// the whole file.
pub fn wanted(range: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Wanted::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(start), Ok(end)) if start <= end => Some((start, end.saturating_add(1).min(size))),
        (Ok(start), Err(_)) if b.is_empty() => Some((start, size)),
        (Err(_), Ok(n)) if a.is_empty() => {
            if n == 0 {
                return Wanted::Unsatisfiable;
            }
            Some((size.saturating_sub(n), size))
        }
        _ => None,
    };
    match parsed {
        None => Wanted::Whole,
        Some((start, _)) if start >= size => Wanted::Unsatisfiable,
        Some((start, end)) => Wanted::Part(start..end),
    }
}

pub(crate) fn content_type(extension: &str) -> &'static str {
    match extension {
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "mp4" => "video/mp4",
        "jpg" => "image/jpeg",
        "vtt" => "text/vtt; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Segments never change under their name; playlists grow while a rendition is made;
/// the rest is revalidated after a while. Private: every file is behind the item's rights.
fn cache_control(extension: &str) -> &'static str {
    match extension {
        "ts" => "private, max-age=31536000, immutable",
        "m3u8" => "private, no-cache",
        _ => "private, max-age=3600",
    }
}

fn quoted(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn etag_matches(list: Option<&HeaderValue>, etag: &str) -> bool {
    list.and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == etag.trim_start_matches("W/"))
    })
}

/// One of an item's files: `hls/master.m3u8`, `hls/720p/index.m3u8`,
/// `hls/720p/seg_00001.ts`, `proxy.mp4`, `poster.jpg`, `thumbs/thumb_001.jpg`,
/// `storyboard/sb_001.jpg`, `storyboard/storyboard.vtt`. Supports `Range` (one range),
/// `If-None-Match` and `If-Range`.
#[utoipa::path(get, path = "/api/v1/assets/{id}/files/{path}", tag = "assets",
    params(
        ("id" = AssetId, Path, description = "Asset id"),
        ("path" = String, Path, description = "The file, e.g. `hls/master.m3u8`"),
    ),
    responses(
        (status = 200, description = "The whole file", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 304, description = "Unchanged since the `If-None-Match` validator"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Scope missing", body = ErrorBody),
        (status = 404, description = "No such item visible to the caller, or no such file", body = ErrorBody),
        (status = 416, description = "The range lies outside the file", body = ErrorBody),
    ))]
pub async fn get_file(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath((id, path)): ApiPath<(AssetId, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let file = st.app.pipeline().asset_file(&actor, id, &path).await?;
    serve(&st, &file, &headers, None).await
}

/// Where the caller may play an item from: an expiring signed prefix carrying the caller's
/// rights, under which the item's files are served without a session (for players, and for
/// a CDN in front).
#[utoipa::path(get, path = "/api/v1/assets/{id}/media", tag = "assets",
    params(("id" = AssetId, Path, description = "Asset id")),
    responses(
        (status = 200, description = "The signed prefix and the playlist under it", body = cityx_app::MediaLink),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Scope missing", body = ErrorBody),
        (status = 404, description = "No such item visible to the caller", body = ErrorBody),
    ))]
pub async fn media_link(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<AssetId>,
) -> ApiResult<axum::Json<cityx_app::MediaLink>> {
    Ok(axum::Json(st.app.media().media_link(&actor, id).await?))
}

/// One of an item's files under a media link (`base` of `GET /api/v1/assets/{id}/media`),
/// with the same ranges, validators and media types as the files route. No session: the
/// link is the credential, and the item's rights of the moment still apply.
#[utoipa::path(get, path = "/api/v1/media/{grant}/{path}", tag = "assets", security(()),
    params(
        ("grant" = String, Path, description = "The signed part of the link"),
        ("path" = String, Path, description = "The file, e.g. `hls/master.m3u8`"),
    ),
    responses(
        (status = 200, description = "The whole file", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 304, description = "Unchanged since the `If-None-Match` validator"),
        (status = 403, description = "The link was changed or has expired", body = ErrorBody),
        (status = 404, description = "The item is no longer visible under the link, or no such file", body = ErrorBody),
        (status = 416, description = "The range lies outside the file", body = ErrorBody),
    ))]
pub async fn media_file(
    State(st): State<HttpState>,
    ApiPath((grant, path)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let file = st.app.media().media_file(&grant, &path).await?;
    serve(&st, &file, &headers, None).await
}

/// `Content-Disposition` for saving a file under `name` (RFC 6266, with an ASCII fallback),
/// made safe first: no direction marks, control characters or path separators.
pub(crate) fn attachment(name: &str) -> String {
    let name = &cityx_core::validate::file_name(name);
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // RFC 5987 attr-char: letters, digits and these marks go as they are.
    const ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'.')
        .remove(b'-')
        .remove(b'_')
        .remove(b'~');
    let encoded = percent_encoding::utf8_percent_encode(name, ENCODE);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Answers with a stored file: validators, one `Range`, and `Content-Disposition` when it is
/// a download to save under `save_as`.
pub(crate) async fn serve(
    st: &HttpState,
    file: &cityx_app::AssetFile,
    headers: &HeaderMap,
    save_as: Option<&str>,
) -> ApiResult<Response> {
    let size = file.info.size;
    let etag = file.info.etag.as_deref().map(quoted);
    let mut res = Response::builder()
        .header(header::CONTENT_TYPE, content_type(&file.extension))
        .header(header::CACHE_CONTROL, cache_control(&file.extension))
        .header(header::ACCEPT_RANGES, "bytes");
    if let Some(name) = save_as {
        res = res.header(header::CONTENT_DISPOSITION, header_value(&attachment(name)));
    }
    if let Some(tag) = &etag {
        res = res.header(header::ETAG, header_value(tag));
        if etag_matches(headers.get(header::IF_NONE_MATCH), tag) {
            return Ok(res
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .unwrap_or_default());
        }
    }
    // A range applies only to the version the client has (`If-Range`).
    let range_ok = match headers.get(header::IF_RANGE) {
        None => true,
        Some(v) => etag
            .as_deref()
            .is_some_and(|tag| v.to_str().ok() == Some(tag)),
    };
    let range = headers
        .get(header::RANGE)
        .filter(|_| range_ok)
        .and_then(|v| v.to_str().ok());
    let (status, span) = match wanted(range, size) {
        Wanted::Whole => (StatusCode::OK, 0..size),
        Wanted::Part(r) => {
            res = res.header(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {}-{}/{size}", r.start, r.end - 1)),
            );
            (StatusCode::PARTIAL_CONTENT, r)
        }
        Wanted::Unsatisfiable => {
            let mut e = ApiError::from_code(ErrorCode::RangeNotSatisfiable).into_response();
            e.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}")),
            );
            return Ok(e);
        }
    };
    let body = if span.is_empty() {
        Body::empty()
    } else if let Some(whole) = file.in_memory() {
        // A slice of shared memory: no copy, no read.
        let (start, end) = (
            usize::try_from(span.start).unwrap_or(usize::MAX),
            usize::try_from(span.end).unwrap_or(usize::MAX),
        );
        Body::from(whole.slice(start.min(whole.len())..end.min(whole.len())))
    } else {
        Body::from_stream(
            st.app
                .pipeline()
                .read_asset_file(file, span.clone())
                .await?,
        )
    };
    Ok(res
        .status(status)
        .header(header::CONTENT_LENGTH, span.end - span.start)
        .body(body)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(wanted(None, 100), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-9"), 100), Wanted::Part(0..10));
        assert_eq!(wanted(Some("bytes=90-"), 100), Wanted::Part(90..100));
        assert_eq!(wanted(Some("bytes=-10"), 100), Wanted::Part(90..100));
        assert_eq!(wanted(Some("bytes=-500"), 100), Wanted::Part(0..100));
        assert_eq!(wanted(Some("bytes=50-5000"), 100), Wanted::Part(50..100));
        assert_eq!(wanted(Some("bytes=100-"), 100), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 100), Wanted::Unsatisfiable);
        for ignored in [
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes=9-1",
            "bytes=x-y",
            "bytes=-",
        ] {
            assert_eq!(wanted(Some(ignored), 100), Wanted::Whole, "{ignored}");
        }
    }

    #[test]
    fn attachments_drop_direction_marks_and_separators() {
        let a = attachment("report\u{202E}4pm.exe");
        assert!(!a.contains("%E2%80%AE"), "{a}");
        assert!(a.contains("filename*=UTF-8''report4pm.exe"), "{a}");
        let a = attachment("../x\\y.mp4");
        assert!(a.contains("filename=\"_x_y.mp4\""), "{a}");
    }

    #[test]
    fn attachments_keep_chinese_names() {
        let a = attachment("暴雨 现场.mp4");
        assert!(a.starts_with("attachment; filename=\"__ __.mp4\""), "{a}");
        assert!(
            a.ends_with("filename*=UTF-8''%E6%9A%B4%E9%9B%A8%20%E7%8E%B0%E5%9C%BA.mp4"),
            "{a}"
        );
    }

    #[test]
    fn validators() {
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted("\"abc\""), "\"abc\"");
        let v = HeaderValue::from_static("\"x\", \"abc\"");
        assert!(etag_matches(Some(&v), "\"abc\""));
        assert!(!etag_matches(Some(&v), "\"other\""));
        assert!(etag_matches(Some(&HeaderValue::from_static("*")), "\"a\""));
        assert_eq!(content_type("m3u8"), "application/vnd.apple.mpegurl");
        assert!(cache_control("ts").contains("immutable"));
    }
}
