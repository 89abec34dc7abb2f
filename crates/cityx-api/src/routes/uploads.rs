//! tus 1.0.0 resumable uploads at `/api/v1/uploads` (core, creation, creation-with-upload,
//! termination, checksum, expiration).

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::http::{ApiPath, Caller, HttpState};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cityx_app::ChecksumAlg;
use cityx_core::tus::TusHeaderError;
use cityx_core::{AssetInput, UploadId};
use time::OffsetDateTime;

const TUS_VERSION: &str = "1.0.0";
const TUS_EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

fn tus_error(code: ErrorCode, message: &str) -> ApiError {
    ApiError::new(code, message)
}

/// Every tus request but OPTIONS names the protocol version.
fn require_tus(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get("tus-resumable").and_then(|v| v.to_str().ok()) {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(tus_error(
            ErrorCode::TusVersionUnsupported,
            "send `Tus-Resumable: 1.0.0`",
        )),
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> ApiResult<Option<u64>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                tus_error(
                    ErrorCode::InvalidUploadHeader,
                    &format!("`{name}` must be a non-negative integer"),
                )
            }),
    }
}

/// `Upload-Metadata` as pairs, or `400 invalid_upload_header`.
pub fn parse_metadata(raw: &str) -> ApiResult<Vec<(String, String)>> {
    cityx_core::tus::parse_metadata(raw).map_err(|_| {
        tus_error(
            ErrorCode::InvalidUploadHeader,
            "`Upload-Metadata` must be `key base64,key base64…`",
        )
    })
}

fn http_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(&fmt).unwrap_or_default()
}

fn set(res: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

/// Adds `Tus-Resumable` to every answer of these routes, errors included.
fn tus(mut res: Response) -> Response {
    set(&mut res, "tus-resumable", TUS_VERSION);
    res
}

fn wrap(r: ApiResult<Response>) -> Response {
    tus(r.unwrap_or_else(IntoResponse::into_response))
}

/// What the server supports.
#[utoipa::path(options, path = "/api/v1/uploads", tag = "uploads", security(()),
    responses((status = 204, description = "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm")))]
pub async fn options(State(st): State<HttpState>) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    set(&mut res, "tus-version", TUS_VERSION);
    set(&mut res, "tus-extension", TUS_EXTENSIONS);
    set(
        &mut res,
        "tus-max-size",
        &st.app.ingest().upload_options().max_size.to_string(),
    );
    set(&mut res, "tus-checksum-algorithm", ChecksumAlg::NAMES);
    tus(res)
}

/// Start an upload (tus creation, with an optional first chunk).
///
/// Headers: `Tus-Resumable: 1.0.0`, `Upload-Length`, and `Upload-Metadata` with `filename`
/// and optionally `title`, `summary`, `script`, `keywords`, `category`, `city`, `shot_date`,
/// `copyright`, `licence`, `embargo_until`. The answer's `Location` is the upload,
/// `Cityx-Asset-Id` the item it creates.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads",
    params(
        ("Tus-Resumable" = String, Header, description = "Always `1.0.0`", example = "1.0.0", pattern = r"^1\.0\.0$"),
        ("Upload-Length" = u64, Header, description = "Size of the whole file in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "`filename base64,title base64,…`"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "Optional first chunk"),
    responses(
        (status = 201, description = "Created; see Location, Cityx-Asset-Id, Upload-Offset, Upload-Expires"),
        (status = 400, description = "A tus header is missing or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Only station editors and admins contribute", body = ErrorBody),
        (status = 409, description = "Offset mismatch", body = ErrorBody),
        (status = 412, description = "Wrong tus version", body = ErrorBody),
        (status = 413, description = "Larger than Tus-Max-Size, the quota or Upload-Length", body = ErrorBody),
        (status = 422, description = "Invalid metadata", body = ErrorBody),
        (status = 423, description = "Locked", body = ErrorBody),
        (status = 460, description = "Checksum mismatch", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    wrap(
        async {
            require_tus(&headers)?;
            if headers.contains_key("upload-defer-length") {
                return Err(tus_error(
                    ErrorCode::InvalidUploadHeader,
                    "deferred lengths are not supported: send `Upload-Length`",
                ));
            }
            if headers.contains_key("upload-concat") {
                return Err(tus_error(
                    ErrorCode::InvalidUploadHeader,
                    "concatenation is not offered (it is not in `Tus-Extension`): upload one file",
                ));
            }
            let length = header_u64(&headers, "upload-length")?.ok_or_else(|| {
                tus_error(
                    ErrorCode::InvalidUploadHeader,
                    "`Upload-Length` is required",
                )
            })?;
            let raw = headers
                .get("upload-metadata")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let meta = parse_metadata(raw)?;
            let get = |k: &str| {
                meta.iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            let input = AssetInput {
                filename: get("filename"),
                title: get("title"),
                summary: get("summary"),
                script: get("script"),
                keywords: get("keywords"),
                category: get("category"),
                city: get("city"),
                shot_date: get("shot_date"),
                copyright: get("copyright"),
                licence: get("licence"),
                embargo_until: get("embargo_until"),
            };
            let with_body = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                == Some(OFFSET_OCTET_STREAM);
            let checksum = if with_body { checksum(&headers)? } else { None };
            let (mut upload, asset) = st
                .app
                .ingest()
                .create_upload(&actor, length, raw, &input, get("visibility"))
                .await?;
            if with_body && length > 0 {
                upload = st
                    .app
                    .ingest()
                    .append_upload(&actor, upload.id, 0, body.into_data_stream(), checksum)
                    .await?;
            }
            let mut res = StatusCode::CREATED.into_response();
            set(
                &mut res,
                "location",
                &format!("/api/v1/uploads/{}", upload.id),
            );
            set(&mut res, "cityx-asset-id", &asset.id.to_string());
            set(&mut res, "upload-offset", &upload.offset.to_string());
            set(&mut res, "upload-expires", &http_date(upload.expires_at));
            Ok(res)
        }
        .await,
    )
}

/// Where an upload stands (tus HEAD): `Upload-Offset`, `Upload-Length`, `Upload-Metadata`.
#[utoipa::path(head, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(
        ("id" = UploadId, Path, description = "Upload id"),
        ("Tus-Resumable" = String, Header, description = "Always `1.0.0`", example = "1.0.0", pattern = r"^1\.0\.0$"),
    ),
    responses(
        (status = 200, description = "See Upload-Offset, Upload-Length, Upload-Expires"),
        (status = 401, description = "Not signed in"),
        (status = 404, description = "No such upload"),
        (status = 410, description = "Terminated or expired"),
        (status = 412, description = "Wrong tus version"),
    ))]
pub async fn head(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<UploadId>,
) -> Response {
    wrap(
        async {
            require_tus(&headers)?;
            let u = st.app.ingest().upload_status(&actor, id).await?;
            let mut res = StatusCode::OK.into_response();
            set(&mut res, "upload-offset", &u.offset.to_string());
            set(&mut res, "upload-length", &u.length.to_string());
            if !u.metadata.is_empty() {
                set(&mut res, "upload-metadata", &u.metadata);
            }
            if u.state == cityx_core::UploadState::Active {
                set(&mut res, "upload-expires", &http_date(u.expires_at));
            }
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(res)
        }
        .await,
    )
}

fn checksum(headers: &HeaderMap) -> ApiResult<Option<(ChecksumAlg, Vec<u8>)>> {
    let Some(v) = headers.get("upload-checksum") else {
        return Ok(None);
    };
    let parsed = v
        .to_str()
        .map_err(|_| TusHeaderError::Malformed)
        .and_then(cityx_core::tus::parse_checksum);
    match parsed {
        Ok(c) => Ok(Some(c)),
        Err(TusHeaderError::UnknownAlgorithm) => Err(tus_error(
            ErrorCode::ChecksumAlgorithmUnsupported,
            "use sha1, md5 or sha256",
        )),
        Err(TusHeaderError::Malformed) => Err(tus_error(
            ErrorCode::InvalidUploadHeader,
            "`Upload-Checksum` must be `<algorithm> <base64>`",
        )),
    }
}

/// Send bytes at `Upload-Offset` (tus PATCH). The answer's `Upload-Offset` is durable.
#[utoipa::path(patch, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(
        ("id" = UploadId, Path, description = "Upload id"),
        ("Tus-Resumable" = String, Header, description = "Always `1.0.0`", example = "1.0.0", pattern = r"^1\.0\.0$"),
        ("Upload-Offset" = u64, Header, description = "Where this chunk starts: the offset HEAD reported"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1|md5|sha256 <base64 digest of this chunk>`", pattern = r"^(sha1|md5|sha256) [A-Za-z0-9+/]+={0,2}$"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored; see Upload-Offset"),
        (status = 400, description = "A tus header is missing or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Only station editors and admins contribute", body = ErrorBody),
        (status = 404, description = "No such upload", body = ErrorBody),
        (status = 409, description = "Upload-Offset is not the upload's offset", body = ErrorBody),
        (status = 410, description = "Terminated or expired", body = ErrorBody),
        (status = 412, description = "Wrong tus version", body = ErrorBody),
        (status = 413, description = "Past Upload-Length", body = ErrorBody),
        (status = 415, description = "Not application/offset+octet-stream", body = ErrorBody),
        (status = 423, description = "Another request is writing", body = ErrorBody),
        (status = 460, description = "Checksum mismatch", body = ErrorBody),
    ))]
pub async fn patch(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<UploadId>,
    body: Body,
) -> Response {
    wrap(
        async {
            require_tus(&headers)?;
            if headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                != Some(OFFSET_OCTET_STREAM)
            {
                return Err(tus_error(
                    ErrorCode::UnsupportedMediaType,
                    "send `Content-Type: application/offset+octet-stream`",
                ));
            }
            let offset = header_u64(&headers, "upload-offset")?.ok_or_else(|| {
                tus_error(
                    ErrorCode::InvalidUploadHeader,
                    "`Upload-Offset` is required",
                )
            })?;
            let checksum = checksum(&headers)?;
            let u = st
                .app
                .ingest()
                .append_upload(&actor, id, offset, body.into_data_stream(), checksum)
                .await?;
            let mut res = StatusCode::NO_CONTENT.into_response();
            set(&mut res, "upload-offset", &u.offset.to_string());
            if u.state == cityx_core::UploadState::Active {
                set(&mut res, "upload-expires", &http_date(u.expires_at));
            }
            Ok(res)
        }
        .await,
    )
}

/// Abandon an upload (tus termination); its space is released.
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads",
    params(
        ("id" = UploadId, Path, description = "Upload id"),
        ("Tus-Resumable" = String, Header, description = "Always `1.0.0`", example = "1.0.0", pattern = r"^1\.0\.0$"),
    ),
    responses(
        (status = 204, description = "Terminated"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Only station editors and admins contribute", body = ErrorBody),
        (status = 404, description = "No such upload", body = ErrorBody),
        (status = 409, description = "Already complete", body = ErrorBody),
        (status = 410, description = "Terminated or expired", body = ErrorBody),
        (status = 412, description = "Wrong tus version", body = ErrorBody),
        (status = 423, description = "Another request is writing", body = ErrorBody),
    ))]
pub async fn terminate(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<UploadId>,
) -> Response {
    wrap(
        async {
            require_tus(&headers)?;
            st.app.ingest().terminate_upload(&actor, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_http_dates() {
        let t = time::macros::datetime!(2026-11-21 06:12:29 UTC);
        assert_eq!(http_date(t), "Sat, 21 Nov 2026 06:12:29 GMT");
    }
}
