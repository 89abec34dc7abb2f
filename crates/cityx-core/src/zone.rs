//! Topic zones (专区): contribution campaigns the hub runs. A zone has a brief, a cover, a
//! time window, invited stations with contribution targets, and the items stations
//! contributed to it.

use crate::day;
use crate::ids::{AssetId, StationId, UserId, ZoneId};
use crate::validate::{Checker, FieldError, Validated};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// An invited station and how far it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ZoneInvite {
    pub station_id: StationId,
    pub station_name: String,
    /// Items the hub asks of it.
    pub target: i64,
    /// Items it has contributed.
    pub contributed: i64,
}

/// A topic zone with its progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Zone {
    pub id: ZoneId,
    pub title: String,
    pub brief: String,
    pub cover_asset_id: Option<AssetId>,
    /// Contributions are taken from this time …
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// … until this one (exclusive).
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    pub created_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub invited: Vec<ZoneInvite>,
    /// Items contributed, by any station.
    pub items: i64,
    /// Adoptions of those items.
    pub adoptions: i64,
}

impl Zone {
    /// Whether stations may contribute at `now`.
    pub fn is_open(&self, now: OffsetDateTime) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// The first and the last day of the window, `YYYY-MM-DD` in Beijing time: what
    /// [`ZoneInput`] took.
    pub fn days(&self) -> (String, String) {
        window_days(self.starts_at, self.ends_at)
    }
}

/// A window's first and last day: it ends at the start of the day after its last.
fn window_days(starts_at: OffsetDateTime, ends_at: OffsetDateTime) -> (String, String) {
    (
        day::format(day::of(starts_at)),
        day::format(day::of(ends_at) - 1),
    )
}

/// An item of a zone as its page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ZoneItem {
    pub asset_id: AssetId,
    pub title: String,
    pub station_id: StationId,
    pub station_name: String,
    pub adoptions: i64,
    pub has_poster: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

/// A zone's fields, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneFields {
    pub title: String,
    pub brief: String,
    pub cover_asset_id: Option<AssetId>,
    pub starts_at: OffsetDateTime,
    pub ends_at: OffsetDateTime,
    /// Station ids as given, each with its target.
    pub invited: Vec<(StationId, i64)>,
}

/// A zone as sent by a form or the API.
#[derive(Clone, Debug, Default)]
pub struct ZoneInput<'a> {
    pub title: &'a str,
    pub brief: &'a str,
    pub cover_asset_id: &'a str,
    /// `YYYY-MM-DD`, Beijing time: the first day of contributions.
    pub starts_on: &'a str,
    /// `YYYY-MM-DD`: the last day, inclusive.
    pub ends_on: &'a str,
    /// Station ids and targets.
    pub invited: Vec<(&'a str, i64)>,
}

fn checked_day(c: &mut Checker, field: &'static str, v: &str) -> Option<i64> {
    match day::parse(v) {
        Some(d) => Some(d),
        None => {
            c.push(FieldError::new(
                field,
                if v.trim().is_empty() {
                    "required"
                } else {
                    "bad_format"
                },
                format!("{field} must be YYYY-MM-DD"),
            ));
            None
        }
    }
}

impl ZoneInput<'_> {
    pub fn validate(&self) -> Validated<ZoneFields> {
        let mut c = Checker::new();
        let title = c.text("title", self.title, 100);
        let brief = c.optional_text("brief", self.brief, 2_000);
        let cover_asset_id = match self.cover_asset_id.trim() {
            "" => None,
            s => match s.parse() {
                Ok(id) => Some(id),
                Err(_) => {
                    c.push(FieldError::new(
                        "cover_asset_id",
                        "bad_format",
                        "cover_asset_id is not an item id",
                    ));
                    None
                }
            },
        };
        let starts = checked_day(&mut c, "starts_on", self.starts_on);
        let ends = checked_day(&mut c, "ends_on", self.ends_on);
        if let (Some(s), Some(e)) = (starts, ends) {
            if e < s {
                c.push(FieldError::new(
                    "ends_on",
                    "before_start",
                    "ends_on must not be before starts_on",
                ));
            } else if e - s > 366 {
                c.push(FieldError::new(
                    "ends_on",
                    "too_long",
                    "a zone runs for at most 366 days",
                ));
            }
        }
        let mut invited: Vec<(StationId, i64)> = Vec::new();
        for (station, target) in &self.invited {
            match station.trim().parse::<StationId>() {
                Ok(s) if !invited.iter().any(|(x, _)| *x == s) => {
                    if !(0..=1000).contains(target) {
                        c.push(FieldError::new(
                            "invited",
                            "out_of_range",
                            "a target is 0 to 1000 items",
                        ));
                    }
                    invited.push((s, *target));
                }
                Ok(_) => {}
                Err(_) => c.push(FieldError::new(
                    "invited",
                    "unknown_station",
                    "invited names something that is not a station id",
                )),
            }
        }
        if invited.len() > 500 {
            c.push(FieldError::new(
                "invited",
                "too_long",
                "at most 500 stations",
            ));
        }
        let (starts_at, ends_at) = match (starts, ends) {
            (Some(s), Some(e)) => (day::start(s), day::start(e + 1)),
            _ => (OffsetDateTime::UNIX_EPOCH, OffsetDateTime::UNIX_EPOCH),
        };
        c.finish(ZoneFields {
            title,
            brief,
            cover_asset_id,
            starts_at,
            ends_at,
            invited,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_runs_whole_beijing_days() {
        let s = StationId::new();
        let sid = s.to_string();
        let z = ZoneInput {
            title: "  两会专区 ",
            starts_on: "2026-03-01",
            ends_on: "2026-03-15",
            invited: vec![(&sid, 3), (&sid, 5)],
            ..Default::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(z.title, "两会专区");
        assert_eq!(z.starts_at, time::macros::datetime!(2026-02-28 16:00 UTC));
        assert_eq!(z.ends_at, time::macros::datetime!(2026-03-15 16:00 UTC));
        assert_eq!(
            window_days(z.starts_at, z.ends_at),
            ("2026-03-01".into(), "2026-03-15".into()),
            "the days read back as they were given"
        );
        assert_eq!(z.invited, vec![(s, 3)], "a station is invited once");
    }

    #[test]
    fn bad_zones_name_each_field() {
        let errs = ZoneInput {
            title: "",
            cover_asset_id: "cover",
            starts_on: "2026-03-15",
            ends_on: "2026-03-01",
            invited: vec![("sta", 1)],
            ..Default::default()
        }
        .validate()
        .expect_err("refused");
        let got: Vec<_> = errs.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            got,
            [
                ("title", "required"),
                ("cover_asset_id", "bad_format"),
                ("ends_on", "before_start"),
                ("invited", "unknown_station"),
            ]
        );
        let missing = ZoneInput {
            title: "x",
            ..Default::default()
        }
        .validate()
        .expect_err("refused");
        assert_eq!(missing[0].field, "starts_on");
    }
}
