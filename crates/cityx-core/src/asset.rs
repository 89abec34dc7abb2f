//! Items of the exchange (assets) and the resumable uploads that bring them in.

use crate::exchange::Visibility;
use crate::ids::{AssetId, StationId, UploadId, UserId};
use crate::model::UnknownName;
use crate::validate::{Checker, FieldError, Validated};
use serde::Serialize;
use std::str::FromStr;
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Where an asset is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetStatus {
    /// Bytes are still arriving.
    Uploading,
    /// Uploaded; probing, transcoding and checking run.
    Processing,
    Ready,
    /// Processing failed; `failure` says why.
    Failed,
    /// Refused (e.g. an exact duplicate under the reject policy).
    Rejected,
    Withdrawn,
}

impl AssetStatus {
    pub const ALL: [AssetStatus; 6] = [
        AssetStatus::Uploading,
        AssetStatus::Processing,
        AssetStatus::Ready,
        AssetStatus::Failed,
        AssetStatus::Rejected,
        AssetStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetStatus::Uploading => "uploading",
            AssetStatus::Processing => "processing",
            AssetStatus::Ready => "ready",
            AssetStatus::Failed => "failed",
            AssetStatus::Rejected => "rejected",
            AssetStatus::Withdrawn => "withdrawn",
        }
    }
}

from_name!(AssetStatus);

/// What a contributor says about an item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct AssetMeta {
    /// The uploaded file's name, as the contributor's computer called it.
    pub filename: String,
    pub title: String,
    pub summary: String,
    /// The script (文稿).
    pub script: String,
    pub keywords: Vec<String>,
    pub category: String,
    pub city: String,
    /// `YYYY-MM-DD`, or empty.
    pub shot_date: String,
    pub copyright: String,
    pub licence: String,
    /// Not downloadable by others before this time.
    #[serde(with = "time::serde::rfc3339::option")]
    pub embargo_until: Option<OffsetDateTime>,
}

/// One item of the exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Asset {
    pub id: AssetId,
    pub station_id: StationId,
    pub uploader_id: UserId,
    pub status: AssetStatus,
    #[serde(flatten)]
    pub meta: AssetMeta,
    /// Size of the master in bytes.
    pub size_bytes: u64,
    /// Hex SHA-256 of the master, once uploaded.
    pub sha256: Option<String>,
    /// Hex MD5 of the master, once uploaded.
    pub md5: Option<String>,
    /// An earlier asset with the same SHA-256.
    pub duplicate_of: Option<AssetId>,
    /// Why processing failed or the item was rejected.
    pub failure: Option<String>,
    /// The URL the master was imported from (imports only).
    pub source_url: Option<String>,
    /// What probing the master found: container, duration, streams.
    #[schema(value_type = Option<Object>)]
    pub technical: Option<serde_json::Value>,
    /// The playlist to play, relative to the item's files: `hls/fast/index.m3u8` while the
    /// ladder is being made, then `hls/master.m3u8`. `None` until something plays.
    pub playback: Option<String>,
    /// What the pipeline made: renditions, proxy, poster, thumbnails, storyboard.
    #[schema(value_type = Option<Object>)]
    pub derived: Option<serde_json::Value>,
    /// The technical check (技审): verdict, findings with time codes, measurements.
    #[schema(value_type = Option<Object>)]
    pub qc: Option<serde_json::Value>,
    /// When the item was deleted; it can be restored until `purge_after`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    /// When a deleted item's files are removed for good and its quota released.
    #[serde(with = "time::serde::rfc3339::option")]
    pub purge_after: Option<OffsetDateTime>,
    /// Who besides its own station and the hub may see the item.
    pub visibility: Visibility,
    /// The stations that may see it when `visibility` is `stations` (read with the item
    /// itself; empty in lists).
    pub shared_with: Vec<StationId>,
    /// During the embargo the item is hidden from others, not only undownloadable.
    pub embargo_hides: bool,
    /// How many stations adopted it (each counted once, whatever files it took).
    pub adoption_count: u64,
    /// When it was last corrected; `None` if never.
    #[serde(with = "time::serde::rfc3339::option")]
    pub corrected_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Asset {
    /// A new asset whose master is about to be uploaded: nothing known of it yet but its
    /// metadata and size.
    pub fn uploading(
        station_id: StationId,
        uploader_id: UserId,
        meta: AssetMeta,
        size_bytes: u64,
        now: OffsetDateTime,
    ) -> Self {
        Asset {
            id: AssetId::new(),
            station_id,
            uploader_id,
            status: AssetStatus::Uploading,
            meta,
            size_bytes,
            sha256: None,
            md5: None,
            duplicate_of: None,
            failure: None,
            source_url: None,
            technical: None,
            playback: None,
            derived: None,
            qc: None,
            deleted_at: None,
            purge_after: None,
            visibility: Visibility::default(),
            shared_with: Vec::new(),
            embargo_hides: false,
            adoption_count: 0,
            corrected_at: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Where a resumable upload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadState {
    Active,
    Completed,
    Terminated,
    Expired,
}

impl UploadState {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Active => "active",
            UploadState::Completed => "completed",
            UploadState::Terminated => "terminated",
            UploadState::Expired => "expired",
        }
    }
}

impl FromStr for UploadState {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            UploadState::Active,
            UploadState::Completed,
            UploadState::Terminated,
            UploadState::Expired,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
        .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// A resumable upload (tus).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub id: UploadId,
    pub asset_id: AssetId,
    pub station_id: StationId,
    pub user_id: UserId,
    /// Total bytes announced at creation.
    pub length: u64,
    /// Bytes durably received.
    pub offset: u64,
    /// The `Upload-Metadata` header as received, echoed by `HEAD`.
    pub metadata: String,
    pub state: UploadState,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

/// Asset metadata as sent (tus `Upload-Metadata` values, form fields).
#[derive(Clone, Debug, Default)]
pub struct AssetInput<'a> {
    pub filename: &'a str,
    pub title: &'a str,
    pub summary: &'a str,
    pub script: &'a str,
    /// Comma- or space-separated; `，` and `、` also separate.
    pub keywords: &'a str,
    pub category: &'a str,
    pub city: &'a str,
    pub shot_date: &'a str,
    pub copyright: &'a str,
    pub licence: &'a str,
    /// RFC 3339.
    pub embargo_until: &'a str,
}

impl AssetInput<'_> {
    pub fn validate(&self) -> Validated<AssetMeta> {
        let mut c = Checker::new();
        let filename = c.text("filename", self.filename, 255);
        // Without a title, the file name without its extension.
        let default_title = filename
            .rsplit_once('.')
            .map(|(stem, _)| stem)
            .filter(|s| !s.is_empty())
            .unwrap_or(&filename)
            .to_owned();
        let title = if self.title.trim().is_empty() {
            c.text("title", &default_title, 200)
        } else {
            c.text("title", self.title, 200)
        };
        let summary = c.long_text("summary", self.summary, 2_000);
        let script = c.long_text("script", self.script, 100_000);
        let keywords: Vec<String> = self
            .keywords
            .split([',', '，', '、', ' ', ';', '；'])
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        if keywords.len() > 50 || keywords.iter().any(|k| k.chars().count() > 50) {
            c.push(FieldError::new(
                "keywords",
                "too_long",
                "at most 50 keywords of 50 characters",
            ));
        } else if keywords
            .iter()
            .any(|k| k.chars().any(crate::validate::forbidden_in_text))
        {
            c.push(FieldError::new(
                "keywords",
                "bad_format",
                "keywords must not contain control or text-direction characters",
            ));
        }
        let category = c.optional_text("category", self.category, 50);
        let city = c.optional_text("city", self.city, 50);
        let shot_date = self.shot_date.trim().to_owned();
        if !shot_date.is_empty()
            && time::Date::parse(
                &shot_date,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .is_err()
        {
            c.push(FieldError::new(
                "shot_date",
                "bad_format",
                "shot_date must be YYYY-MM-DD",
            ));
        }
        let copyright = c.optional_text("copyright", self.copyright, 200);
        let licence = c.optional_text("licence", self.licence, 500);
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
        c.finish(AssetMeta {
            filename,
            title,
            summary,
            script,
            keywords,
            category,
            city,
            shot_date,
            copyright,
            licence,
            embargo_until,
        })
    }
}

/// Multi-line text: trimmed, at most `max` characters, no control characters but newlines
/// and tabs.
/// A size for people, in binary units: `512 B`, `3.0 MB`, `50.0 GB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_normalised() {
        let m = AssetInput {
            filename: "暴雨 现场.mp4",
            keywords: "暴雨，防汛、 杭州, 现场",
            shot_date: "2026-07-01",
            embargo_until: "2026-07-02T08:00:00+08:00",
            script: "第一段\n第二段",
            ..Default::default()
        }
        .validate()
        .expect("valid");
        assert_eq!(m.title, "暴雨 现场", "title defaults to the file name");
        assert_eq!(m.keywords, ["暴雨", "防汛", "杭州", "现场"]);
        assert_eq!(
            m.embargo_until.map(|t| t.unix_timestamp()),
            Some(1_782_950_400)
        );
    }

    #[test]
    fn bad_metadata_names_fields() {
        let errs = AssetInput {
            filename: "",
            shot_date: "yesterday",
            embargo_until: "soon",
            summary: "a\u{7}b",
            ..Default::default()
        }
        .validate()
        .expect_err("invalid");
        let fields: Vec<_> = errs.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            ["filename", "title", "summary", "shot_date", "embargo_until"]
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in AssetStatus::ALL {
            assert_eq!(s.as_str().parse::<AssetStatus>(), Ok(s));
        }
        assert_eq!("active".parse::<UploadState>(), Ok(UploadState::Active));
    }
}
