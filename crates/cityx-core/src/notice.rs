//! After an item is out: corrections and withdrawals, the notices they send to every station
//! that adopted the item, and the events that the member feed (and webhooks) carry.

use crate::asset::{AssetInput, AssetMeta, AssetStatus};
use crate::ids::{AssetId, CorrectionId, NoticeId, StationId, UserId};
use crate::validate::{Checker, FieldError, Validated};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// What happened, as the feed and webhooks name it. Stored data: never renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
pub enum EventKind {
    /// An item became ready: it is in the exchange.
    #[serde(rename = "item.published")]
    ItemPublished,
    /// Its contributor corrected an item's metadata.
    #[serde(rename = "item.corrected")]
    ItemCorrected,
    /// Its contributor withdrew an item.
    #[serde(rename = "item.withdrawn")]
    ItemWithdrawn,
    /// A station adopted an item (told to the contributor).
    #[serde(rename = "adoption.created")]
    AdoptionCreated,
    /// A station that adopted an item is told of its correction or withdrawal.
    #[serde(rename = "notice.created")]
    NoticeCreated,
    /// The hub invited a station to contribute to a topic zone (told to that station).
    #[serde(rename = "zone.invited")]
    ZoneInvited,
    /// A live channel's alarm was raised or cleared (no signal, silence, black; told to the
    /// channel's station).
    #[serde(rename = "channel.alarm")]
    ChannelAlarm,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::ItemPublished,
        EventKind::ItemCorrected,
        EventKind::ItemWithdrawn,
        EventKind::AdoptionCreated,
        EventKind::NoticeCreated,
        EventKind::ZoneInvited,
        EventKind::ChannelAlarm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ItemPublished => "item.published",
            EventKind::ItemCorrected => "item.corrected",
            EventKind::ItemWithdrawn => "item.withdrawn",
            EventKind::AdoptionCreated => "adoption.created",
            EventKind::NoticeCreated => "notice.created",
            EventKind::ZoneInvited => "zone.invited",
            EventKind::ChannelAlarm => "channel.alarm",
        }
    }
}

from_name!(EventKind);

/// One event of the feed. `seq` numbers are handed out in commit order.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Event {
    pub seq: i64,
    pub kind: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<AssetId>,
    /// The station the event is about: the item's contributor, or the adopting station.
    pub station_id: StationId,
    /// Details by kind: the title; the adoption; the notice.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// An event about to be recorded, in the transaction of the change it tells.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub asset_id: Option<AssetId>,
    pub station_id: StationId,
    /// The one station it is for; `None`: every station that may see the item.
    pub audience: Option<StationId>,
    pub data: serde_json::Value,
    pub at: OffsetDateTime,
}

/// Why adopters are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Correction,
    Withdrawal,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 2] = [NoticeKind::Correction, NoticeKind::Withdrawal];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Correction => "correction",
            NoticeKind::Withdrawal => "withdrawal",
        }
    }
}

from_name!(NoticeKind);

/// A correction or withdrawal, told to one station that adopted the item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Notice {
    pub id: NoticeId,
    pub asset_id: AssetId,
    /// The item's title when the notice was sent.
    pub asset_title: String,
    pub contributor_id: StationId,
    pub contributor_name: String,
    /// The adopting station, which must acknowledge.
    pub station_id: StationId,
    pub station_name: String,
    pub kind: NoticeKind,
    /// What was corrected, or why the item was withdrawn.
    pub message: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub acknowledged_at: Option<OffsetDateTime>,
    pub acknowledged_by: Option<UserId>,
}

/// A correction as sent: the fields to change (absent: unchanged) and a note for adopters.
#[derive(Clone, Debug, Default)]
pub struct CorrectionInput<'a> {
    pub note: &'a str,
    pub title: Option<&'a str>,
    pub summary: Option<&'a str>,
    pub script: Option<&'a str>,
    pub keywords: Option<&'a str>,
    pub category: Option<&'a str>,
    pub city: Option<&'a str>,
    pub shot_date: Option<&'a str>,
    pub copyright: Option<&'a str>,
}

impl CorrectionInput<'_> {
    /// The corrected metadata (checked as at upload) and the note.
    pub fn apply(&self, current: &AssetMeta) -> Validated<(AssetMeta, String)> {
        let keywords = current.keywords.join(",");
        let embargo = current
            .embargo_until
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default();
        let input = AssetInput {
            filename: &current.filename,
            title: self.title.unwrap_or(&current.title),
            summary: self.summary.unwrap_or(&current.summary),
            script: self.script.unwrap_or(&current.script),
            keywords: self.keywords.unwrap_or(&keywords),
            category: self.category.unwrap_or(&current.category),
            city: self.city.unwrap_or(&current.city),
            shot_date: self.shot_date.unwrap_or(&current.shot_date),
            copyright: self.copyright.unwrap_or(&current.copyright),
            licence: &current.licence,
            embargo_until: &embargo,
        };
        let mut c = Checker::new();
        let note = notice_message(&mut c, "note", self.note);
        let meta = match input.validate() {
            Ok(m) => Some(m),
            Err(errors) => {
                errors.into_iter().for_each(|e| c.push(e));
                None
            }
        };
        if meta.as_ref() == Some(current) {
            c.push(FieldError::new(
                "title",
                "unchanged",
                "a correction must change at least one field",
            ));
        }
        c.finish(meta.map(|m| (m, note)).unwrap_or_default())
    }
}

/// One field a correction changed, as it read before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldChange {
    /// The field's name as the API spells it (`title`, `summary`, `keywords` …).
    pub field: String,
    pub before: String,
    pub after: String,
}

/// A correction as kept: the item's history shows every one, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Correction {
    pub id: CorrectionId,
    pub asset_id: AssetId,
    /// Who corrected it (`None` once that person is gone).
    pub user_id: Option<UserId>,
    /// The note to adopters.
    pub note: String,
    pub changes: Vec<FieldChange>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What a correction from `before` to `after` changes, field by field, in the form's order.
pub fn changes(before: &AssetMeta, after: &AssetMeta) -> Vec<FieldChange> {
    let pairs: [(&str, String, String); 8] = [
        ("title", before.title.clone(), after.title.clone()),
        ("summary", before.summary.clone(), after.summary.clone()),
        ("script", before.script.clone(), after.script.clone()),
        (
            "keywords",
            before.keywords.join(", "),
            after.keywords.join(", "),
        ),
        ("category", before.category.clone(), after.category.clone()),
        ("city", before.city.clone(), after.city.clone()),
        (
            "shot_date",
            before.shot_date.clone(),
            after.shot_date.clone(),
        ),
        (
            "copyright",
            before.copyright.clone(),
            after.copyright.clone(),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, b, a)| b != a)
        .map(|(field, before, after)| FieldChange {
            field: field.to_owned(),
            before,
            after,
        })
        .collect()
}

/// Validates a withdrawal's reason.
pub fn withdrawal_reason(reason: &str) -> Validated<String> {
    let mut c = Checker::new();
    let r = notice_message(&mut c, "reason", reason);
    c.finish(r)
}

/// A notice's text: required, at most 500 characters, on several lines if need be.
fn notice_message(c: &mut Checker, field: &'static str, value: &str) -> String {
    let v = c.long_text(field, value, 500);
    if v.is_empty() {
        c.push(FieldError::new(
            field,
            "required",
            format!("{field} is required"),
        ));
    }
    v
}

/// Whether an item in `status` may be withdrawn (ready or still being processed).
pub fn may_withdraw(status: AssetStatus) -> bool {
    matches!(status, AssetStatus::Ready | AssetStatus::Processing)
}

/// Whether an item in `status` may be corrected (anything but withdrawn).
pub fn may_correct(status: AssetStatus) -> bool {
    !matches!(status, AssetStatus::Withdrawn | AssetStatus::Uploading)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> AssetMeta {
        AssetInput {
            filename: "a.mp4",
            title: "台风登陆",
            keywords: "台风,防汛",
            ..Default::default()
        }
        .validate()
        .expect("valid")
    }

    #[test]
    fn a_correction_changes_only_what_it_names_and_needs_a_note() {
        let m = meta();
        let (fixed, note) = CorrectionInput {
            note: " 标题错字 ",
            title: Some("台风“海葵”登陆"),
            ..Default::default()
        }
        .apply(&m)
        .expect("valid");
        assert_eq!(fixed.title, "台风“海葵”登陆");
        assert_eq!(fixed.keywords, m.keywords);
        assert_eq!(note, "标题错字");
        let changed = changes(&m, &fixed);
        assert_eq!(changed.len(), 1, "only the title: {changed:?}");
        assert_eq!(
            (changed[0].field.as_str(), changed[0].before.as_str()),
            ("title", m.title.as_str())
        );
        assert_eq!(changed[0].after, "台风“海葵”登陆");
        let errors = CorrectionInput {
            note: "",
            title: Some(""),
            ..Default::default()
        }
        .apply(&m)
        .expect_err("refused");
        let codes: Vec<_> = errors.iter().map(|e| (e.field, e.code)).collect();
        assert!(codes.contains(&("note", "required")), "{codes:?}");
        let unchanged = CorrectionInput {
            note: "x",
            title: Some("台风登陆"),
            ..Default::default()
        }
        .apply(&m)
        .expect_err("refused");
        assert_eq!(unchanged[0].code, "unchanged");
        let bad = CorrectionInput {
            note: "x",
            shot_date: Some("2026-13-40"),
            ..Default::default()
        }
        .apply(&m)
        .expect_err("refused");
        assert_eq!(bad[0].field, "shot_date");
    }

    #[test]
    fn withdrawal_needs_a_reason_and_a_live_item() {
        assert_eq!(withdrawal_reason("  版权争议 ").expect("valid"), "版权争议");
        assert_eq!(
            withdrawal_reason(" ").expect_err("refused")[0].code,
            "required"
        );
        assert_eq!(
            withdrawal_reason(&"长".repeat(501)).expect_err("refused")[0].code,
            "too_long"
        );
        assert!(may_withdraw(AssetStatus::Ready));
        assert!(!may_withdraw(AssetStatus::Withdrawn));
        assert!(!may_correct(AssetStatus::Withdrawn));
    }

    #[test]
    fn event_kinds_read_back() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
        }
    }
}
