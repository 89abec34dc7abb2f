use cityx_core::policy::Denied;
use cityx_core::{FieldError, Scope};
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a use case refused or failed. Each boundary maps these to its own form (HTTP status
/// and error code, an HTML page, a CLI message).
#[derive(Debug, Error)]
pub enum Error {
    #[error("authentication required")]
    Unauthenticated,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("unknown token")]
    TokenInvalid,
    #[error("token expired")]
    TokenExpired,
    #[error("token revoked")]
    TokenRevoked,
    #[error("account disabled")]
    AccountDisabled,
    #[error("your role does not allow this")]
    Forbidden,
    #[error("this token lacks the `{}` scope", .0.as_str())]
    MissingScope(Scope),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("a {entity} with this {field} already exists")]
    Conflict { entity: &'static str, field: String },
    #[error("the {entity} is {state}, which does not allow this")]
    WrongState { entity: &'static str, state: String },
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    #[error("you cannot change your own role or disable your own account")]
    CannotChangeSelf,
    #[error("too many failed sign-ins; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("invalid page cursor")]
    InvalidCursor,
    #[error("the upload is at offset {expected}")]
    OffsetMismatch { expected: u64 },
    #[error("another request is writing to this upload")]
    UploadLocked,
    #[error("the chunk does not match its Upload-Checksum")]
    ChecksumMismatch,
    #[error("the upload was terminated or has expired")]
    UploadGone,
    #[error("the upload is complete and its item exists: delete the item instead")]
    UploadComplete,
    #[error("uploads may be at most {max} bytes")]
    UploadTooLarge { max: u64 },
    #[error("the body goes past the upload's length; nothing of it was kept")]
    UploadOverflow,
    #[error("the station's quota of {quota} bytes would be exceeded ({used} used)")]
    QuotaExceeded { quota: u64, used: u64 },
    #[error("the station already has {limit} unfinished uploads: finish or cancel some first")]
    TooManyUploads { limit: u64 },
    /// A fetch from a URL failed or was refused (imports).
    #[error(transparent)]
    Fetch(#[from] cityx_fetch::FetchError),
    #[error("the item is under embargo until {until}")]
    Embargoed { until: time::OffsetDateTime },
    #[error("the item was withdrawn by its contributor")]
    Withdrawn,
    #[error("the zone takes contributions only during its window")]
    ZoneClosed,
    #[error("a station does not adopt its own items")]
    OwnItem,
    #[error("the download link was changed or has expired; ask for a new one")]
    BadLink,
    #[error("the media link was changed or has expired; reload the page")]
    BadMediaLink,
    #[error("a dependency is unavailable")]
    Unavailable(#[source] cityx_db::Error),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub fn field(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::new(field, code, message)])
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }
}

impl From<cityx_db::Error> for Error {
    fn from(e: cityx_db::Error) -> Self {
        match e {
            cityx_db::Error::NotFound { entity } => Error::NotFound(entity),
            cityx_db::Error::Conflict { entity, field } => Error::Conflict { entity, field },
            cityx_db::Error::WrongState { entity, state } => Error::WrongState { entity, state },
            cityx_db::Error::TooManyUploads { limit } => Error::TooManyUploads { limit },
            cityx_db::Error::QuotaExceeded { quota, used, .. } => {
                Error::QuotaExceeded { quota, used }
            }
            e if e.is_unavailable() => Error::Unavailable(e),
            e => Error::Internal(Box::new(e)),
        }
    }
}

impl From<Denied> for Error {
    fn from(d: Denied) -> Self {
        match d {
            Denied::MissingScope(s) => Error::MissingScope(s),
            Denied::NotPermitted => Error::Forbidden,
        }
    }
}

impl From<Vec<FieldError>> for Error {
    fn from(v: Vec<FieldError>) -> Self {
        Error::Validation(v)
    }
}
