//! Typed ids. Every id is a UUIDv7, so ids sort by creation time; the type keeps a user id
//! from being passed where a station id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Uuid,
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

typed_id!(
    /// A member station (a tenant).
    StationId
);
typed_id!(
    /// A person who signs in.
    UserId
);
typed_id!(
    /// An API token or a login token.
    TokenId
);
typed_id!(
    /// One audit log entry.
    AuditId
);
typed_id!(
    /// An item of the exchange: a master and everything made from it.
    AssetId
);
typed_id!(
    /// A resumable (tus) upload.
    UploadId
);
typed_id!(
    /// A unit of background work.
    JobId
);
typed_id!(
    /// One adoption of an item by a station.
    AdoptionId
);
typed_id!(
    /// A correction or withdrawal notice to one adopting station.
    NoticeId
);
typed_id!(
    /// One correction of an item, kept with what it changed.
    CorrectionId
);
typed_id!(
    /// A topic zone (专区).
    ZoneId
);
typed_id!(
    /// A station's webhook.
    WebhookId
);
typed_id!(
    /// Something an editor follows: a zone, a keyword or a station.
    FollowId
);
typed_id!(
    /// A supervised long-running process (an ingest, a relay, a recording, a playout).
    ProcessId
);
typed_id!(
    /// A live channel.
    ChannelId
);
typed_id!(
    /// A partner address a live channel is pushed to (a restream target).
    TargetId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_sort_by_creation() {
        let a = StationId::new();
        let b = StationId::new();
        assert_eq!(a.0.get_version_num(), 7);
        assert!(a < b, "{a} should sort before {b}");
        assert_eq!(a.to_string().parse::<StationId>().ok(), Some(a));
        assert!("not-a-uuid".parse::<StationId>().is_err());
    }
}
