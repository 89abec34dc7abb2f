//! The one error table of the HTTP boundary: every failure becomes
//! `{"error": {"code": "...", "message": "..."}}` with a stable snake_case code and a fixed
//! status. 5xx bodies say only "internal error"; the cause is logged once, here.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cityx_core::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($variant:ident => ($status:expr, $name:literal, $doc:literal)),* $(,)?) => {
        /// Stable error codes. Names are part of the public API: never rename one.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ErrorCode { $($variant),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name),* }
            }

            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => $status),* }
            }

            /// What the code means, for the API guide.
            pub fn doc(self) -> &'static str {
                match self { $(ErrorCode::$variant => $doc),* }
            }
        }
    };
}

error_codes! {
    MalformedJson => (StatusCode::BAD_REQUEST, "malformed_json", "the body is not the JSON this endpoint takes"),
    MalformedForm => (StatusCode::BAD_REQUEST, "malformed_form", "the form body could not be read"),
    InvalidQuery => (StatusCode::BAD_REQUEST, "invalid_query", "a query parameter is unknown or malformed"),
    InvalidCursor => (StatusCode::BAD_REQUEST, "invalid_cursor", "the page cursor was not issued by this server"),
    Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated", "no credentials were presented"),
    InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong email or password"),
    TokenInvalid => (StatusCode::UNAUTHORIZED, "token_invalid", "the bearer token is unknown or malformed"),
    TokenExpired => (StatusCode::UNAUTHORIZED, "token_expired", "the bearer token has expired"),
    TokenRevoked => (StatusCode::UNAUTHORIZED, "token_revoked", "the bearer token was revoked"),
    AccountDisabled => (StatusCode::FORBIDDEN, "account_disabled", "the account is disabled"),
    Forbidden => (StatusCode::FORBIDDEN, "forbidden", "the caller's role does not allow this"),
    InsufficientScope => (StatusCode::FORBIDDEN, "insufficient_scope", "the token lacks a scope this needs"),
    CsrfFailed => (StatusCode::FORBIDDEN, "csrf_failed", "a cookie-authenticated change came without a valid CSRF token"),
    NotFound => (StatusCode::NOT_FOUND, "not_found", "no such resource"),
    StationNotFound => (StatusCode::NOT_FOUND, "station_not_found", "no such station, or not visible to the caller"),
    UserNotFound => (StatusCode::NOT_FOUND, "user_not_found", "no such user, or not visible to the caller"),
    TokenNotFound => (StatusCode::NOT_FOUND, "token_not_found", "no such token, or not visible to the caller"),
    AssetNotFound => (StatusCode::NOT_FOUND, "asset_not_found", "no such item, or not visible to the caller"),
    UploadNotFound => (StatusCode::NOT_FOUND, "upload_not_found", "no such upload, or not visible to the caller"),
    FileNotFound => (StatusCode::NOT_FOUND, "file_not_found", "the item has no such file, or not yet"),
    RangeNotSatisfiable => (StatusCode::RANGE_NOT_SATISFIABLE, "range_not_satisfiable", "the `Range` lies outside the file; its size is in `Content-Range`"),
    UploadGone => (StatusCode::GONE, "upload_gone", "the upload was terminated or has expired"),
    UploadComplete => (StatusCode::CONFLICT, "upload_complete", "the upload is complete and its item exists: delete the item instead"),
    TusVersionUnsupported => (StatusCode::PRECONDITION_FAILED, "tus_version_unsupported", "send `Tus-Resumable: 1.0.0`"),
    InvalidUploadHeader => (StatusCode::BAD_REQUEST, "invalid_upload_header", "a tus header is missing or malformed"),
    ChecksumAlgorithmUnsupported => (StatusCode::BAD_REQUEST, "checksum_algorithm_unsupported", "use sha1, md5 or sha256 in `Upload-Checksum`"),
    OffsetMismatch => (StatusCode::CONFLICT, "offset_mismatch", "`Upload-Offset` is not the upload's offset; ask with HEAD"),
    UploadLocked => (StatusCode::LOCKED, "upload_locked", "another request is writing to this upload"),
    ChecksumMismatch => (tus_checksum_mismatch(), "checksum_mismatch", "the chunk does not match `Upload-Checksum`; nothing of it was kept"),
    UploadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "upload_too_large", "`Upload-Length` is above `Tus-Max-Size`"),
    UploadOverflow => (StatusCode::PAYLOAD_TOO_LARGE, "upload_overflow", "the body goes past `Upload-Length`; nothing of it was kept"),
    QuotaExceeded => (StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded", "the station's storage quota would be exceeded"),
    TooManyUploads => (StatusCode::CONFLICT, "too_many_uploads", "the station has as many unfinished uploads as it may: finish or cancel some first"),
    MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "the resource does not support this method"),
    StationCodeTaken => (StatusCode::CONFLICT, "station_code_taken", "another station has this code"),
    EmailTaken => (StatusCode::CONFLICT, "email_taken", "another user has this email"),
    Conflict => (StatusCode::CONFLICT, "conflict", "the change conflicts with existing data"),
    InvalidState => (StatusCode::CONFLICT, "invalid_state", "the item's state does not allow this (e.g. deleting an item still uploading)"),
    CannotChangeSelf => (StatusCode::CONFLICT, "cannot_change_self", "users cannot change their own role or disable themselves"),
    PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the body is larger than this endpoint accepts"),
    UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "send `Content-Type: application/json`"),
    ValidationFailed => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "one or more fields are invalid; see `fields`"),
    RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many attempts; wait for `Retry-After` seconds"),
    Embargoed => (StatusCode::FORBIDDEN, "embargoed", "the item is under embargo; it can be adopted from `embargo_until`"),
    AssetWithdrawn => (StatusCode::CONFLICT, "asset_withdrawn", "the item was withdrawn or deleted by its contributor"),
    OwnItem => (StatusCode::CONFLICT, "own_item", "a station does not adopt its own items"),
    DownloadLinkInvalid => (StatusCode::FORBIDDEN, "download_link_invalid", "the download link was changed or has expired; ask for a new one"),
    MediaLinkInvalid => (StatusCode::FORBIDDEN, "media_link_invalid", "the media link was changed or has expired; reload the page"),
    AdoptionNotFound => (StatusCode::NOT_FOUND, "adoption_not_found", "the station has not adopted this item in this form"),
    NoticeNotFound => (StatusCode::NOT_FOUND, "notice_not_found", "no such notice to the caller's station"),
    ZoneNotFound => (StatusCode::NOT_FOUND, "zone_not_found", "no such topic zone"),
    FollowNotFound => (StatusCode::NOT_FOUND, "follow_not_found", "not one of the caller's follows"),
    WebhookNotFound => (StatusCode::NOT_FOUND, "webhook_not_found", "no such webhook of the caller's station"),
    DeliveryNotFound => (StatusCode::NOT_FOUND, "delivery_not_found", "no such delivery of this webhook"),
    ProcessNotFound => (StatusCode::NOT_FOUND, "process_not_found", "no such supervised process, or not visible to the caller"),
    ChannelNotFound => (StatusCode::NOT_FOUND, "channel_not_found", "no such live channel, or not visible to the caller"),
    ZoneClosed => (StatusCode::CONFLICT, "zone_closed", "the zone takes contributions only during its window"),
    Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "a server fault; the request id is in the logs"),
    Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "a dependency is down; retry after `Retry-After` seconds"),
    Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout", "the request took longer than the server allows"),
}

/// 460 Checksum Mismatch, the tus checksum extension's own status.
fn tus_checksum_mismatch() -> StatusCode {
    StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The body of every error response.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code; see the API guide for the table.
    pub code: String,
    /// English explanation for people; may change.
    pub message: String,
    /// Invalid fields, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub fields: Vec<FieldError>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after: None,
        }
    }

    pub fn from_code(code: ErrorCode) -> Self {
        Self::new(code, code.doc())
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl From<cityx_app::Error> for ApiError {
    fn from(e: cityx_app::Error) -> Self {
        use cityx_app::Error as E;
        let code = match &e {
            E::Unauthenticated => ErrorCode::Unauthenticated,
            E::InvalidCredentials => ErrorCode::InvalidCredentials,
            E::TokenInvalid => ErrorCode::TokenInvalid,
            E::TokenExpired => ErrorCode::TokenExpired,
            E::TokenRevoked => ErrorCode::TokenRevoked,
            E::AccountDisabled => ErrorCode::AccountDisabled,
            E::Forbidden => ErrorCode::Forbidden,
            E::MissingScope(_) => ErrorCode::InsufficientScope,
            E::NotFound("station") => ErrorCode::StationNotFound,
            E::NotFound("user") => ErrorCode::UserNotFound,
            E::NotFound("token") => ErrorCode::TokenNotFound,
            E::NotFound("asset") => ErrorCode::AssetNotFound,
            E::NotFound("upload") => ErrorCode::UploadNotFound,
            E::NotFound("file") => ErrorCode::FileNotFound,
            E::NotFound("adoption") => ErrorCode::AdoptionNotFound,
            E::NotFound("notice") => ErrorCode::NoticeNotFound,
            E::NotFound("zone") => ErrorCode::ZoneNotFound,
            E::NotFound("webhook") => ErrorCode::WebhookNotFound,
            E::NotFound("follow") => ErrorCode::FollowNotFound,
            E::NotFound("delivery") => ErrorCode::DeliveryNotFound,
            E::NotFound("process") => ErrorCode::ProcessNotFound,
            E::NotFound("channel") => ErrorCode::ChannelNotFound,
            E::NotFound(_) => ErrorCode::NotFound,
            E::Conflict {
                entity: "station",
                field,
            } if field == "code" => ErrorCode::StationCodeTaken,
            E::Conflict {
                entity: "user",
                field,
            } if field == "email" => ErrorCode::EmailTaken,
            E::Conflict { .. } => ErrorCode::Conflict,
            E::WrongState { .. } => ErrorCode::InvalidState,
            E::Validation(_) => ErrorCode::ValidationFailed,
            E::CannotChangeSelf => ErrorCode::CannotChangeSelf,
            E::RateLimited { .. } => ErrorCode::RateLimited,
            E::InvalidCursor => ErrorCode::InvalidCursor,
            E::OffsetMismatch { .. } => ErrorCode::OffsetMismatch,
            E::UploadLocked => ErrorCode::UploadLocked,
            E::ChecksumMismatch => ErrorCode::ChecksumMismatch,
            E::UploadGone => ErrorCode::UploadGone,
            E::UploadComplete => ErrorCode::UploadComplete,
            E::UploadTooLarge { .. } => ErrorCode::UploadTooLarge,
            E::UploadOverflow => ErrorCode::UploadOverflow,
            E::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            E::TooManyUploads { .. } => ErrorCode::TooManyUploads,
            E::Embargoed { .. } => ErrorCode::Embargoed,
            E::Withdrawn => ErrorCode::AssetWithdrawn,
            E::OwnItem => ErrorCode::OwnItem,
            E::ZoneClosed => ErrorCode::ZoneClosed,
            E::BadLink => ErrorCode::DownloadLinkInvalid,
            E::BadMediaLink => ErrorCode::MediaLinkInvalid,
            E::Unavailable(_) => ErrorCode::Unavailable,
            // Fetches run in jobs; a request never waits for one.
            E::Fetch(_) | E::Internal(_) => ErrorCode::Internal,
        };
        let retry_after = match &e {
            E::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            E::Unavailable(_) => Some(5),
            _ => None,
        };
        if code.status().is_server_error() {
            tracing::error!(error = ?e, "request failed");
        }
        let message = match code {
            ErrorCode::Internal => "internal error".to_owned(),
            _ => e.to_string(),
        };
        let fields = match e {
            E::Validation(f) => f,
            _ => Vec::new(),
        };
        ApiError {
            code,
            message,
            fields,
            retry_after,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut res = (
            status,
            axum::Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code.as_str().to_owned(),
                    message: self.message,
                    fields: self.fields,
                },
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case_and_never_5xx_for_callers() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            assert!(
                c.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            let server_side = matches!(
                c,
                ErrorCode::Internal | ErrorCode::Unavailable | ErrorCode::Timeout
            );
            assert_eq!(c.status().is_server_error(), server_side, "{}", c.as_str());
        }
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e: ApiError = cityx_app::Error::Internal("disk on fire at /secret/path".into()).into();
        assert_eq!(e.code, ErrorCode::Internal);
        assert_eq!(e.message, "internal error");
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let e: ApiError = cityx_app::Error::RateLimited {
            retry_after_secs: 42,
        }
        .into();
        let res = e.into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "42");
    }
}

#[cfg(test)]
mod doc_tests {
    use super::ErrorCode;

    #[test]
    fn the_api_guide_lists_every_code_with_its_status() {
        let guide = include_str!("../../../docs/api.md");
        for c in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", c.as_str(), c.status().as_u16());
            assert!(guide.contains(&row), "docs/api.md lacks the row {row}");
        }
    }
}
