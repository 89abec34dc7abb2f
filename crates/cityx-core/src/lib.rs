//! Domain types and rules of cityx: ids, stations, users, roles, token scopes, the audit
//! vocabulary, input validation and the permission policy; the exchange's rules (rights,
//! adoption, notices, topic zones).
//!
//! Everything here is pure: no I/O crate (no SQL, no HTTP, no filesystem, no processes) may
//! become a dependency of this crate. The database, API, web and CLI layers all decide
//! "who may do what" by calling [`policy`], so the rules live in one place and are unit tested
//! without any server.
//!
//! Main types: [`Station`], [`User`], [`Role`], [`Scope`], [`Actor`] (the authenticated
//! caller) and [`TenantScope`] (the rows a caller may see).

/// `FromStr` for an enumeration stored and sent by name: the value in `ALL` whose `as_str`
/// is the text, else `UnknownName`.
macro_rules! from_name {
    ($t:ty) => {
        impl std::str::FromStr for $t {
            type Err = $crate::model::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$t>::ALL
                    .into_iter()
                    .find(|x| x.as_str() == s)
                    .ok_or_else(|| $crate::model::UnknownName(s.to_owned()))
            }
        }
    };
}

pub mod asset;
pub mod audit;
pub mod day;
pub mod exchange;
pub mod follow;
pub mod ids;
pub mod links;
pub mod live;
pub mod model;
pub mod notice;
pub mod policy;
pub mod process;
pub mod schedule;
pub mod subject;
pub mod tus;
pub mod units;
pub mod validate;
pub mod webhook;
pub mod zone;

pub use asset::{Asset, AssetInput, AssetMeta, AssetStatus, Upload, UploadState, human_size};
pub use audit::{AuditAction, NewAudit};
pub use exchange::{Adoption, Rights, RightsInput, Take, Visibility};
pub use follow::{Follow, FollowKind, FollowTarget};
pub use ids::{
    AdoptionId, AssetId, AuditId, ChannelId, CorrectionId, FollowId, JobId, NoticeId, ProcessId,
    StationId, TargetId, TokenId, UploadId, UserId, WebhookId, ZoneId,
};
pub use model::{
    Actor, ApiToken, AuditEntry, Region, Role, Scope, ScopeSet, Station, TenantScope, TokenKind,
    User,
};
pub use notice::{Correction, Event, EventKind, FieldChange, NewEvent, Notice, NoticeKind};
pub use validate::{FieldError, Validated};
pub use webhook::{Delivery, DeliveryState, Webhook, WebhookInput};
pub use zone::{Zone, ZoneInput, ZoneInvite, ZoneItem};

/// Milliseconds since the Unix epoch: how times are stored and indexed.
pub fn epoch_ms(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Current time in UTC, truncated to milliseconds (the precision every backend stores).
pub fn now() -> time::OffsetDateTime {
    let t = time::OffsetDateTime::now_utc();
    let ms = t.millisecond();
    t.replace_millisecond(ms).unwrap_or(t)
}
