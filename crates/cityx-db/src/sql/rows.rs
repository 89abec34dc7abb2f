//! Conversions between database rows and domain records. Columns hold only text and
//! integers (flags 0/1, times as epoch milliseconds), which every backend stores alike.

use crate::{Error, Result};
use cityx_core::{
    ApiToken, Asset, AssetMeta, AuditEntry, Role, ScopeSet, Station, TenantScope, TokenKind,
    Upload, User,
};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::str::FromStr;
use time::OffsetDateTime;

use crate::model::SessionRow;

/// User columns renamed `u_*`, for joins with tables that share column names.
pub const USER_COLS_PREFIXED: &str = "u.id AS u_id, u.station_id AS u_station_id, \
    u.email AS u_email, u.display_name AS u_display_name, u.role AS u_role, \
    u.disabled AS u_disabled, u.created_at AS u_created_at, u.updated_at AS u_updated_at, \
    u.last_login_at AS u_last_login_at";

pub fn ms(t: OffsetDateTime) -> i64 {
    cityx_core::epoch_ms(t)
}

/// A fencing token as stored (an integer column).
pub fn fence(token: u64) -> i64 {
    i64::try_from(token).unwrap_or(i64::MAX)
}

pub fn opt_ms(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(ms)
}

pub fn from_ms(v: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The two bind values of a `($n OR station_id = $m)` clause.
pub fn scope_args(scope: TenantScope) -> (bool, Option<String>) {
    match scope {
        TenantScope::All => (true, None),
        TenantScope::Station(s) => (false, Some(s.to_string())),
        TenantScope::Nothing => (false, None),
    }
}

pub(crate) fn get<'r, T>(row: &'r AnyRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(col).map_err(|e| Error::Query {
        context: "decode a row",
        source: e,
    })
}

pub(crate) fn parse<T: FromStr>(what: &'static str, v: String) -> Result<T> {
    v.parse().map_err(|_| Error::Corrupt { what, value: v })
}

pub(crate) fn parse_opt<T: FromStr>(what: &'static str, v: Option<String>) -> Result<Option<T>> {
    v.map(|v| parse(what, v)).transpose()
}

pub fn station_from(r: &AnyRow) -> Result<Station> {
    Ok(Station {
        id: parse("station id", get(r, "id")?)?,
        name: get(r, "name")?,
        code: get(r, "code")?,
        city: get(r, "city")?,
        province: get(r, "province")?,
        region: parse("region", get(r, "region")?)?,
        contact_name: get(r, "contact_name")?,
        contact_phone: get(r, "contact_phone")?,
        contact_email: get(r, "contact_email")?,
        default_visibility: parse("visibility", get(r, "default_visibility")?)?,
        created_at: from_ms(get(r, "created_at")?),
        updated_at: from_ms(get(r, "updated_at")?),
    })
}

fn user_with_prefix(r: &AnyRow, p: &str) -> Result<User> {
    let c = |name: &str| format!("{p}{name}");
    Ok(User {
        id: parse("user id", get(r, &c("id"))?)?,
        station_id: parse_opt("station id", get(r, &c("station_id"))?)?,
        email: get(r, &c("email"))?,
        display_name: get(r, &c("display_name"))?,
        role: parse::<Role>("role", get(r, &c("role"))?)?,
        disabled: get::<i64>(r, &c("disabled"))? != 0,
        created_at: from_ms(get(r, &c("created_at"))?),
        updated_at: from_ms(get(r, &c("updated_at"))?),
        last_login_at: get::<Option<i64>>(r, &c("last_login_at"))?.map(from_ms),
    })
}

pub fn user_from(r: &AnyRow) -> Result<User> {
    user_with_prefix(r, "")
}

pub fn prefixed_user_from(r: &AnyRow) -> Result<User> {
    user_with_prefix(r, "u_")
}

pub fn token_from(r: &AnyRow) -> Result<ApiToken> {
    let scopes: String = get(r, "scopes")?;
    Ok(ApiToken {
        id: parse("token id", get(r, "id")?)?,
        user_id: parse("user id", get(r, "user_id")?)?,
        station_id: parse_opt("station id", get(r, "station_id")?)?,
        name: get(r, "name")?,
        kind: parse::<TokenKind>("token kind", get(r, "kind")?)?,
        prefix: get(r, "prefix")?,
        scopes: ScopeSet::parse_names(&scopes).map_err(|_| Error::Corrupt {
            what: "token scopes",
            value: scopes.clone(),
        })?,
        created_at: from_ms(get(r, "created_at")?),
        expires_at: from_ms(get(r, "expires_at")?),
        revoked_at: get::<Option<i64>>(r, "revoked_at")?.map(from_ms),
        last_used_at: get::<Option<i64>>(r, "last_used_at")?.map(from_ms),
    })
}

pub fn session_from(r: &AnyRow) -> Result<SessionRow> {
    Ok(SessionRow {
        id_hash: get(r, "id_hash")?,
        user_id: parse("user id", get(r, "user_id")?)?,
        csrf_token: get(r, "csrf_token")?,
        created_at: from_ms(get(r, "created_at")?),
        expires_at: from_ms(get(r, "expires_at")?),
        ip: get(r, "ip")?,
        user_agent: get(r, "user_agent")?,
    })
}

pub fn audit_from(r: &AnyRow) -> Result<AuditEntry> {
    let detail: String = get(r, "detail")?;
    Ok(AuditEntry {
        id: parse("audit id", get(r, "id")?)?,
        at: from_ms(get(r, "at")?),
        actor_user_id: parse_opt("user id", get(r, "actor_user_id")?)?,
        actor_label: get(r, "actor_label")?,
        station_id: parse_opt("station id", get(r, "station_id")?)?,
        action: get(r, "action")?,
        target_type: get(r, "target_type")?,
        target_id: get(r, "target_id")?,
        ok: get::<i64>(r, "ok")? != 0,
        ip: get(r, "ip")?,
        detail: serde_json::from_str(&detail).map_err(|_| Error::Corrupt {
            what: "audit detail",
            value: detail.clone(),
        })?,
    })
}

/// Asset columns, in the order [`asset_from`] reads them.
pub const ASSET_COLS: &str = "id, station_id, uploader_id, status, filename, title, summary, \
    script, keywords, category, city, shot_date, copyright, licence, embargo_until, size_bytes, \
    sha256, md5, duplicate_of, failure, source_url, created_at, updated_at";

/// Every column [`asset_from`] reads: [`ASSET_COLS`] and what the pipeline and the exchange
/// add.
pub const ASSET_SELECT: &str = "id, station_id, uploader_id, status, filename, title, summary, \
    script, keywords, category, city, shot_date, copyright, licence, embargo_until, size_bytes, \
    sha256, md5, duplicate_of, failure, source_url, created_at, updated_at, technical, \
    playback, derived, qc, deleted_at, purge_after, visibility, embargo_hides, adoption_count, \
    corrected_at";

pub fn asset_from(r: &AnyRow) -> Result<Asset> {
    let keywords: String = get(r, "keywords")?;
    Ok(Asset {
        id: parse("asset id", get(r, "id")?)?,
        station_id: parse("station id", get(r, "station_id")?)?,
        uploader_id: parse("user id", get(r, "uploader_id")?)?,
        status: parse("asset status", get(r, "status")?)?,
        meta: AssetMeta {
            filename: get(r, "filename")?,
            title: get(r, "title")?,
            summary: get(r, "summary")?,
            script: get(r, "script")?,
            keywords: keywords
                .split('\n')
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect(),
            category: get(r, "category")?,
            city: get(r, "city")?,
            shot_date: get(r, "shot_date")?,
            copyright: get(r, "copyright")?,
            licence: get(r, "licence")?,
            embargo_until: get::<Option<i64>>(r, "embargo_until")?.map(from_ms),
        },
        size_bytes: u64::try_from(get::<i64>(r, "size_bytes")?).unwrap_or_default(),
        sha256: get(r, "sha256")?,
        md5: get(r, "md5")?,
        duplicate_of: parse_opt("asset id", get(r, "duplicate_of")?)?,
        failure: get(r, "failure")?,
        source_url: get(r, "source_url")?,
        technical: json(r, "technical")?,
        playback: get(r, "playback")?,
        derived: json(r, "derived")?,
        qc: json(r, "qc")?,
        deleted_at: get::<Option<i64>>(r, "deleted_at")?.map(from_ms),
        purge_after: get::<Option<i64>>(r, "purge_after")?.map(from_ms),
        visibility: parse("visibility", get(r, "visibility")?)?,
        shared_with: Vec::new(),
        embargo_hides: get::<i64>(r, "embargo_hides")? != 0,
        adoption_count: u64::try_from(get::<i64>(r, "adoption_count")?).unwrap_or_default(),
        corrected_at: get::<Option<i64>>(r, "corrected_at")?.map(from_ms),
        created_at: from_ms(get(r, "created_at")?),
        updated_at: from_ms(get(r, "updated_at")?),
    })
}

fn json(r: &AnyRow, col: &str) -> Result<Option<serde_json::Value>> {
    Ok(get::<Option<String>>(r, col)?.and_then(|t| serde_json::from_str(&t).ok()))
}

pub fn upload_from(r: &AnyRow) -> Result<Upload> {
    Ok(Upload {
        id: parse("upload id", get(r, "id")?)?,
        asset_id: parse("asset id", get(r, "asset_id")?)?,
        station_id: parse("station id", get(r, "station_id")?)?,
        user_id: parse("user id", get(r, "user_id")?)?,
        length: u64::try_from(get::<i64>(r, "length")?).unwrap_or_default(),
        offset: u64::try_from(get::<i64>(r, "offset_bytes")?).unwrap_or_default(),
        metadata: get(r, "metadata")?,
        state: parse("upload state", get(r, "state")?)?,
        expires_at: from_ms(get(r, "expires_at")?),
        created_at: from_ms(get(r, "created_at")?),
    })
}

/// Byte counts are stored as signed 64-bit integers.
pub fn bytes_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
