//! Follows (关注): an editor follows a topic zone, a keyword or a station and sees what is new
//! there since the last look.

use crate::ids::{FollowId, StationId, UserId, ZoneId};
use crate::validate::{Checker, FieldError, Validated};
use serde::Serialize;
use std::str::FromStr;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Follows one person may have.
pub const MAX_PER_USER: usize = 50;
/// Longest keyword followed, in characters.
pub const MAX_KEYWORD: usize = 50;

/// What is followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FollowKind {
    Zone,
    Keyword,
    Station,
}

impl FollowKind {
    pub const ALL: [FollowKind; 3] = [FollowKind::Zone, FollowKind::Keyword, FollowKind::Station];

    pub fn as_str(self) -> &'static str {
        match self {
            FollowKind::Zone => "zone",
            FollowKind::Keyword => "keyword",
            FollowKind::Station => "station",
        }
    }
}

from_name!(FollowKind);

/// One thing a person follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Follow {
    pub id: FollowId,
    pub user_id: UserId,
    pub kind: FollowKind,
    /// The zone's or station's id, or the keyword.
    pub target: String,
    /// What to call it: the zone's title, the station's name, the keyword.
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The last look: items made after it are new.
    #[serde(with = "time::serde::rfc3339")]
    pub seen_at: OffsetDateTime,
}

/// A follow, checked: the target in its canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowTarget {
    pub kind: FollowKind,
    pub target: String,
}

impl FollowTarget {
    /// Reads a kind name and a target as a form or the API sends them.
    pub fn parse(kind: &str, target: &str) -> Validated<FollowTarget> {
        let mut c = Checker::new();
        let kind = match kind.trim().parse::<FollowKind>() {
            Ok(k) => Some(k),
            Err(_) => {
                c.push(FieldError::new(
                    "kind",
                    "bad_value",
                    "kind is zone, keyword or station",
                ));
                None
            }
        };
        let target = match kind {
            Some(FollowKind::Keyword) => c.text("target", target, MAX_KEYWORD),
            Some(FollowKind::Zone) => ids::<ZoneId>(&mut c, target, "a zone id"),
            Some(FollowKind::Station) => ids::<StationId>(&mut c, target, "a station id"),
            None => String::new(),
        };
        c.finish(FollowTarget {
            kind: kind.unwrap_or(FollowKind::Keyword),
            target,
        })
    }
}

fn ids<I: FromStr + ToString>(c: &mut Checker, raw: &str, what: &str) -> String {
    match raw.trim().parse::<I>() {
        Ok(id) => id.to_string(),
        Err(_) => {
            c.push(FieldError::new(
                "target",
                "bad_format",
                format!("target must be {what}"),
            ));
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_keywords_or_ids_of_their_kind() {
        let k = FollowTarget::parse("keyword", "  台风 ").expect("keyword");
        assert_eq!((k.kind, k.target.as_str()), (FollowKind::Keyword, "台风"));
        let z = ZoneId::new();
        let f = FollowTarget::parse("zone", &z.to_string()).expect("zone");
        assert_eq!(f.target, z.to_string());
        let bad = FollowTarget::parse("station", "杭州台").expect_err("not an id");
        assert_eq!((bad[0].field, bad[0].code), ("target", "bad_format"));
        let bad = FollowTarget::parse("city", "杭州").expect_err("no such kind");
        assert_eq!(bad[0].field, "kind");
        let long = "新".repeat(MAX_KEYWORD + 1);
        assert!(FollowTarget::parse("keyword", &long).is_err());
        assert!(FollowTarget::parse("keyword", " ").is_err());
        for k in FollowKind::ALL {
            assert_eq!(k.as_str().parse::<FollowKind>().ok(), Some(k));
        }
    }
}
