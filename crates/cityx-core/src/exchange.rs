//! The exchange: who may see an item (visibility and embargo), and adoptions, the record of a
//! station taking another station's item for broadcast.

use crate::asset::{Asset, AssetStatus};
use crate::ids::{AdoptionId, AssetId, StationId, UserId};
use crate::model::TenantScope;
use crate::validate::{Checker, FieldError, Validated};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Who may see an item besides its own station and the hub.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only the contributing station (and the hub).
    Private,
    /// Every member station.
    #[default]
    Exchange,
    /// The stations named in `shared_with`.
    Stations,
    /// Every member station, and partners and the public where the item is distributed.
    Public,
}

impl Visibility {
    pub const ALL: [Visibility; 4] = [
        Visibility::Private,
        Visibility::Exchange,
        Visibility::Stations,
        Visibility::Public,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Private => "private",
            Visibility::Exchange => "exchange",
            Visibility::Stations => "stations",
            Visibility::Public => "public",
        }
    }
}

from_name!(Visibility);

/// An item's rights as its contributor sets them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Rights {
    pub visibility: Visibility,
    /// The stations that may see the item when `visibility` is `stations`.
    pub shared_with: Vec<StationId>,
    /// Not downloadable by others before this time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub embargo_until: Option<OffsetDateTime>,
    /// During the embargo the item is hidden from others altogether, not only undownloadable.
    pub embargo_hides: bool,
    pub licence: String,
}

/// Rights as sent by a form or the API.
#[derive(Clone, Debug, Default)]
pub struct RightsInput<'a> {
    pub visibility: &'a str,
    pub shared_with: Vec<&'a str>,
    /// RFC 3339, or empty for none.
    pub embargo_until: &'a str,
    pub embargo_hides: bool,
    pub licence: &'a str,
}

/// At most this many stations may be named in `shared_with`.
pub const MAX_SHARED_WITH: usize = 500;

impl RightsInput<'_> {
    pub fn validate(&self) -> Validated<Rights> {
        let mut c = Checker::new();
        let visibility = match self.visibility.trim().parse::<Visibility>() {
            Ok(v) => v,
            Err(_) => {
                c.push(FieldError::new(
                    "visibility",
                    "bad_value",
                    "visibility must be private, exchange, stations or public",
                ));
                Visibility::Private
            }
        };
        let mut shared_with = Vec::new();
        for s in self
            .shared_with
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
        {
            match s.parse::<StationId>() {
                Ok(id) if !shared_with.contains(&id) => shared_with.push(id),
                Ok(_) => {}
                Err(_) => {
                    c.push(FieldError::new(
                        "shared_with",
                        "bad_format",
                        "shared_with must list station ids",
                    ));
                    break;
                }
            }
        }
        if shared_with.len() > MAX_SHARED_WITH {
            c.push(FieldError::new(
                "shared_with",
                "too_long",
                format!("at most {MAX_SHARED_WITH} stations"),
            ));
        }
        if visibility == Visibility::Stations && shared_with.is_empty() {
            c.push(FieldError::new(
                "shared_with",
                "required",
                "name the stations that may see the item",
            ));
        }
        if visibility != Visibility::Stations {
            shared_with.clear();
        }
        let embargo_until = match self.embargo_until.trim() {
            "" => None,
            s => match OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
                Ok(t) => Some(t),
                Err(_) => {
                    c.push(FieldError::new(
                        "embargo_until",
                        "bad_format",
                        "embargo_until must be an RFC 3339 time",
                    ));
                    None
                }
            },
        };
        let licence = c.optional_text("licence", self.licence, 500);
        c.finish(Rights {
            visibility,
            shared_with,
            embargo_until,
            embargo_hides: self.embargo_hides && embargo_until.is_some(),
            licence,
        })
    }
}

/// Whether a caller in `scope` may see `asset` at `now`. The repository and the search index
/// apply the same rule in their queries; this is the rule written once, for checks on a row in
/// hand and for tests.
pub fn can_see(
    asset: &Asset,
    shared_with: &[StationId],
    scope: TenantScope,
    now: OffsetDateTime,
) -> bool {
    match scope {
        TenantScope::All => true,
        TenantScope::Station(s) if s == asset.station_id => true,
        TenantScope::Station(_) | TenantScope::Nothing => {
            let listed = match asset.visibility {
                Visibility::Private => false,
                Visibility::Exchange | Visibility::Public => true,
                Visibility::Stations => match scope {
                    TenantScope::Station(s) => shared_with.contains(&s),
                    _ => false,
                },
            };
            let hidden = asset.embargo_hides && embargoed(asset, now);
            asset.status == AssetStatus::Ready && asset.deleted_at.is_none() && listed && !hidden
        }
    }
}

/// Whether the item is under embargo at `now`.
pub fn embargoed(asset: &Asset, now: OffsetDateTime) -> bool {
    asset.meta.embargo_until.is_some_and(|t| t > now)
}

/// Why a station may not adopt an item it can see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdoptRefusal {
    /// Under embargo until the given time.
    Embargoed,
    /// Withdrawn by its contributor.
    Withdrawn,
    /// Not ready (still processing, failed or rejected).
    NotReady,
    /// A station's own item is not adopted; it is already in its library.
    OwnItem,
}

/// Whether `station` may adopt `asset` at `now` (visibility is checked before).
pub fn may_adopt(
    asset: &Asset,
    station: StationId,
    now: OffsetDateTime,
) -> Result<(), AdoptRefusal> {
    if asset.station_id == station {
        return Err(AdoptRefusal::OwnItem);
    }
    match asset.status {
        AssetStatus::Withdrawn => return Err(AdoptRefusal::Withdrawn),
        AssetStatus::Ready => {}
        _ => return Err(AdoptRefusal::NotReady),
    }
    if asset.deleted_at.is_some() {
        return Err(AdoptRefusal::Withdrawn);
    }
    if embargoed(asset, now) {
        return Err(AdoptRefusal::Embargoed);
    }
    Ok(())
}

/// What an adopting station takes: the master, the proxy MP4, or nothing (it adds the item
/// to its library and downloads later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Take {
    Master,
    Proxy,
    Library,
}

impl Take {
    pub const ALL: [Take; 3] = [Take::Master, Take::Proxy, Take::Library];

    pub fn as_str(self) -> &'static str {
        match self {
            Take::Master => "master",
            Take::Proxy => "proxy",
            Take::Library => "library",
        }
    }

    pub fn parse(s: &str) -> Option<Take> {
        Take::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One adoption: a station took an item. Credited to the contributing station.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Adoption {
    pub id: AdoptionId,
    pub asset_id: AssetId,
    /// The item's title when it was adopted.
    pub asset_title: String,
    /// The contributing station, credited.
    pub contributor_id: StationId,
    pub contributor_name: String,
    /// The adopting station.
    pub station_id: StationId,
    pub station_name: String,
    pub user_id: UserId,
    /// `master`, `proxy` or `library`.
    pub rendition: String,
    /// What the station means to do with it (free text, e.g. 晚间新闻).
    pub purpose: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The item as it is now, read with the ledger (`None` while an adoption is being made):
    /// lists mark what was withdrawn or corrected since.
    pub item_now: Option<ItemNow>,
}

/// An adopted item as it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ItemNow {
    pub title: String,
    pub status: crate::AssetStatus,
    pub corrected: bool,
    pub deleted: bool,
}

/// Validates an adoption's purpose.
pub fn adoption_purpose(purpose: &str) -> Result<String, FieldError> {
    let p = purpose.trim();
    if p.chars().count() > 200 || p.chars().any(crate::validate::forbidden_in_text) {
        return Err(FieldError::new(
            "purpose",
            "too_long",
            "purpose must be at most 200 characters on one line",
        ));
    }
    Ok(p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asset::AssetMeta;

    fn ready_asset(owner: StationId, vis: Visibility) -> Asset {
        let mut a = Asset::uploading(owner, UserId::new(), AssetMeta::default(), 1, crate::now());
        a.status = AssetStatus::Ready;
        a.visibility = vis;
        a
    }

    #[test]
    fn visibility_follows_rights_and_embargo() {
        let (own, other, third) = (StationId::new(), StationId::new(), StationId::new());
        let now = crate::now();
        let later = now + time::Duration::hours(1);
        let mut a = ready_asset(own, Visibility::Exchange);
        assert!(can_see(&a, &[], TenantScope::Station(other), now));
        a.visibility = Visibility::Private;
        assert!(!can_see(&a, &[], TenantScope::Station(other), now));
        assert!(can_see(&a, &[], TenantScope::Station(own), now));
        assert!(can_see(&a, &[], TenantScope::All, now));
        a.visibility = Visibility::Stations;
        assert!(can_see(&a, &[other], TenantScope::Station(other), now));
        assert!(!can_see(&a, &[other], TenantScope::Station(third), now));
        a.visibility = Visibility::Exchange;
        a.meta.embargo_until = Some(later);
        assert!(
            can_see(&a, &[], TenantScope::Station(other), now),
            "visible, not downloadable"
        );
        assert_eq!(may_adopt(&a, other, now), Err(AdoptRefusal::Embargoed));
        assert_eq!(may_adopt(&a, other, later), Ok(()));
        a.embargo_hides = true;
        assert!(!can_see(&a, &[], TenantScope::Station(other), now));
        assert!(can_see(&a, &[], TenantScope::Station(other), later));
        a.status = AssetStatus::Processing;
        assert!(!can_see(&a, &[], TenantScope::Station(other), later));
        assert_eq!(may_adopt(&a, own, later), Err(AdoptRefusal::OwnItem));
    }

    #[test]
    fn rights_input_is_checked() {
        let r = RightsInput {
            visibility: "stations",
            shared_with: vec![],
            ..Default::default()
        }
        .validate()
        .expect_err("stations need a list");
        assert_eq!(r[0].field, "shared_with");
        let s = StationId::new().to_string();
        let ok = RightsInput {
            visibility: "exchange",
            shared_with: vec![&s],
            embargo_hides: true,
            ..Default::default()
        }
        .validate()
        .expect("valid");
        assert!(
            ok.shared_with.is_empty(),
            "a list only counts for `stations`"
        );
        assert!(!ok.embargo_hides, "no embargo, nothing to hide");
        assert!(
            RightsInput {
                visibility: "everyone",
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn takes_parse() {
        for t in Take::ALL {
            assert_eq!(Take::parse(t.as_str()), Some(t));
        }
        for bad in ["", "720p", "../x", "Master"] {
            assert_eq!(Take::parse(bad), None, "{bad}");
        }
    }
}
