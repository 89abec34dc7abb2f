//! After an item is out: corrections and withdrawals with their notices to adopters, the event
//! log that the member feed reads, and the daily statistics that events keep.

use super::events::{EVENT_COLS, audience_sql, event_from, record_event};
use super::rows::{from_ms, get, ms, parse, parse_opt, scope_args};
use super::{SqlRepo, commit, page, write_audit};
use crate::model::{DayStats, NoticeFilter, Page, PageRequest, StationStats, TopItem, ZoneStats};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::{
    AssetId, AssetMeta, Correction, Event, EventKind, NewAudit, NewEvent, Notice, NoticeId,
    NoticeKind, StationId, TenantScope, UserId,
};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

/// After an item is out: corrections and withdrawals with notices to every station that
/// adopted it, the event log (numbered in commit order) that the member feed reads, and the
/// statistics that events keep.
#[async_trait]
pub trait NoticeRepo: Send + Sync {
    /// Replaces an item's editable metadata and keeps the correction (its note and what it
    /// changed) in the item's history; when it is ready, notifies its adopters. Not for
    /// withdrawn or deleted items (`WrongState`).
    async fn correct_asset(
        &self,
        scope: TenantScope,
        meta: &cityx_core::AssetMeta,
        correction: &Correction,
        audit: &NewAudit,
    ) -> Result<Vec<cityx_core::Notice>>;
    /// An item's corrections, newest first.
    async fn list_corrections(&self, asset: AssetId) -> Result<Vec<Correction>>;
    /// Withdraws a ready or processing item and notifies its adopters.
    async fn withdraw_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        reason: &str,
        audit: &NewAudit,
    ) -> Result<Vec<cityx_core::Notice>>;
    /// Notices to or from the caller's station (all for the hub), newest first.
    async fn list_notices(
        &self,
        scope: TenantScope,
        filter: &NoticeFilter,
        page: &PageRequest,
    ) -> Result<Page<cityx_core::Notice>>;
    /// How many notices to `station` wait for its acknowledgement (the navigation's badge:
    /// read on every page, so a count, not a list).
    async fn count_open_notices(&self, station: StationId) -> Result<usize>;
    /// Acknowledges a notice sent to `station`; a second time changes nothing.
    async fn acknowledge_notice(
        &self,
        station: StationId,
        id: cityx_core::NoticeId,
        user: UserId,
        audit: &NewAudit,
    ) -> Result<cityx_core::Notice>;
    /// Events after `after` that the caller may see at `now`, in order.
    async fn feed(
        &self,
        scope: TenantScope,
        after: i64,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<cityx_core::Event>>;
    /// The number of the last event.
    async fn event_head(&self) -> Result<i64>;
    /// Every station's figures over Beijing days `days` (inclusive).
    async fn station_stats(&self, days: (i64, i64)) -> Result<Vec<StationStats>>;
    /// The network's figures per Beijing day, days with none left out.
    async fn daily_stats(&self, days: (i64, i64)) -> Result<Vec<DayStats>>;
    /// Zones whose window meets `[from, to)`, with their contributions and adoptions (a
    /// station taking an item, once) in it, most adopted first.
    async fn zone_stats(&self, from: OffsetDateTime, to: OffsetDateTime) -> Result<Vec<ZoneStats>>;
    /// The most adopted items of `[from, to)`: how many stations took each (once each), of
    /// items still out (not withdrawn or deleted), under their current title.
    async fn top_items(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<TopItem>>;
}

const NOTICE_COLS: &str = "n.id, n.asset_id, n.asset_title, n.contributor_id, \
    c.name AS contributor_name, n.station_id, s.name AS station_name, n.kind, n.message, \
    n.created_at, n.acknowledged_at, n.acknowledged_by";

const NOTICE_FROM: &str =
    "notices n JOIN stations c ON c.id = n.contributor_id JOIN stations s ON s.id = n.station_id";

fn notice_from(r: &AnyRow) -> Result<Notice> {
    Ok(Notice {
        id: parse("notice id", get(r, "id")?)?,
        asset_id: parse("asset id", get(r, "asset_id")?)?,
        asset_title: get(r, "asset_title")?,
        contributor_id: parse("station id", get(r, "contributor_id")?)?,
        contributor_name: get(r, "contributor_name")?,
        station_id: parse("station id", get(r, "station_id")?)?,
        station_name: get(r, "station_name")?,
        kind: parse("notice kind", get(r, "kind")?)?,
        message: get(r, "message")?,
        created_at: from_ms(get(r, "created_at")?),
        acknowledged_at: get::<Option<i64>>(r, "acknowledged_at")?.map(from_ms),
        acknowledged_by: parse_opt("user id", get(r, "acknowledged_by")?)?,
    })
}

/// The item a correction or withdrawal is about, read and locked in the transaction.
struct Target {
    id: AssetId,
    station: StationId,
    status: String,
}

/// Reads the item for a change by its station (or the hub) and checks its state.
async fn target(
    tx: &mut Transaction<'static, Any>,
    scope: TenantScope,
    id: AssetId,
    allowed: fn(cityx_core::AssetStatus) -> bool,
) -> Result<Target> {
    let (all, own) = scope_args(scope);
    let row: Option<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT station_id, status, deleted_at FROM assets \
         WHERE id = $1 AND ($2 OR station_id = $3) AND purged_at IS NULL",
    )
    .bind(id.to_string())
    .bind(all)
    .bind(own)
    .fetch_optional(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("read an item", "asset", e))?;
    let (station, status, deleted) = row.ok_or(Error::NotFound { entity: "asset" })?;
    let parsed: cityx_core::AssetStatus = parse("asset status", status.clone())?;
    if deleted.is_some() || !allowed(parsed) {
        return Err(Error::WrongState {
            entity: "asset",
            state: if deleted.is_some() {
                "deleted".to_owned()
            } else {
                status
            },
        });
    }
    Ok(Target {
        id,
        station: parse("station id", station)?,
        status,
    })
}

/// Sends a notice to every station that adopted the item, each with its event, and records
/// the item's own event.
async fn tell_adopters(
    tx: &mut Transaction<'static, Any>,
    t: &Target,
    title: &str,
    kind: NoticeKind,
    message: &str,
) -> Result<Vec<Notice>> {
    let now = cityx_core::now();
    let adopters: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT d.station_id, s.name FROM adoptions d \
         JOIN stations s ON s.id = d.station_id WHERE d.asset_id = $1 ORDER BY d.station_id",
    )
    .bind(t.id.to_string())
    .fetch_all(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("read an item's adopters", "adoption", e))?;
    let (contributor_name,): (String,) = sqlx::query_as("SELECT name FROM stations WHERE id = $1")
        .bind(t.station.to_string())
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("read a station", "station", e))?;
    let mut notices = Vec::with_capacity(adopters.len());
    for (station, station_name) in adopters {
        let n = Notice {
            id: NoticeId::new(),
            asset_id: t.id,
            asset_title: title.to_owned(),
            contributor_id: t.station,
            contributor_name: contributor_name.clone(),
            station_id: parse("station id", station)?,
            station_name,
            kind,
            message: message.to_owned(),
            created_at: now,
            acknowledged_at: None,
            acknowledged_by: None,
        };
        sqlx::query(
            "INSERT INTO notices (id, asset_id, asset_title, contributor_id, station_id, kind, \
             message, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(n.id.to_string())
        .bind(n.asset_id.to_string())
        .bind(&n.asset_title)
        .bind(n.contributor_id.to_string())
        .bind(n.station_id.to_string())
        .bind(kind.as_str())
        .bind(&n.message)
        .bind(ms(now))
        .execute(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("send a notice", "notice", e))?;
        notices.push(n);
    }
    let item_event = match kind {
        NoticeKind::Correction => EventKind::ItemCorrected,
        NoticeKind::Withdrawal => EventKind::ItemWithdrawn,
    };
    record_event(
        tx,
        &NewEvent {
            kind: item_event,
            asset_id: Some(t.id),
            station_id: t.station,
            audience: None,
            data: serde_json::json!({ "title": title, "message": message }),
            at: now,
        },
    )
    .await?;
    for n in &notices {
        record_event(
            tx,
            &NewEvent {
                kind: EventKind::NoticeCreated,
                asset_id: Some(t.id),
                station_id: t.station,
                audience: Some(n.station_id),
                data: serde_json::json!({
                    "notice_id": n.id, "kind": kind.as_str(), "title": title, "message": message,
                }),
                at: now,
            },
        )
        .await?;
    }
    Ok(notices)
}

/// Sums of the daily statistics per station over `days` (inclusive), every station listed.
const STATION_STATS: &str = "SELECT st.id, st.name, st.code, st.city, st.province, \
    CAST(COALESCE(SUM(d.contributions), 0) AS BIGINT) AS contributions, \
    CAST(COALESCE(SUM(d.adoptions_made), 0) AS BIGINT) AS adoptions_made, \
    CAST(COALESCE(SUM(d.adoptions_received), 0) AS BIGINT) AS adoptions_received \
    FROM stations st LEFT JOIN stats_daily d ON d.station_id = st.id AND d.day >= $1 AND d.day <= $2 \
    GROUP BY st.id, st.name, st.code, st.city, st.province";

#[async_trait]
impl NoticeRepo for SqlRepo {
    async fn correct_asset(
        &self,
        scope: TenantScope,
        meta: &AssetMeta,
        correction: &Correction,
        audit: &NewAudit,
    ) -> Result<Vec<Notice>> {
        let (id, note) = (correction.asset_id, correction.note.as_str());
        let mut tx = self.begin().await?;
        let t = target(&mut tx, scope, id, cityx_core::notice::may_correct).await?;
        sqlx::query(
            "UPDATE assets SET title = $1, summary = $2, script = $3, keywords = $4, \
             category = $5, city = $6, shot_date = $7, copyright = $8, updated_at = $9, \
             corrected_at = $9 WHERE id = $10",
        )
        .bind(&meta.title)
        .bind(&meta.summary)
        .bind(&meta.script)
        .bind(meta.keywords.join("\n"))
        .bind(&meta.category)
        .bind(&meta.city)
        .bind(&meta.shot_date)
        .bind(&meta.copyright)
        .bind(ms(correction.at))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("correct an item", "asset", e))?;
        let changes = serde_json::to_string(&correction.changes).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO corrections (id, asset_id, user_id, note, changes, at) \
             VALUES ($1,$2,$3,$4,$5,$6)",
        )
        .bind(correction.id.to_string())
        .bind(id.to_string())
        .bind(correction.user_id.map(|u| u.to_string()))
        .bind(note)
        .bind(changes)
        .bind(ms(correction.at))
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("keep a correction", "correction", e))?;
        write_audit(&mut tx, audit).await?;
        // Only a published item has anyone to tell.
        let notices = if t.status == "ready" {
            tell_adopters(&mut tx, &t, &meta.title, NoticeKind::Correction, note).await?
        } else {
            Vec::new()
        };
        commit(tx).await?;
        Ok(notices)
    }

    async fn list_corrections(&self, asset: AssetId) -> Result<Vec<Correction>> {
        let rows: Vec<(String, Option<String>, String, String, i64)> = sqlx::query_as(
            "SELECT id, user_id, note, changes, at FROM corrections WHERE asset_id = $1 \
             ORDER BY at DESC, id DESC",
        )
        .bind(asset.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read an item's corrections", "correction", e))?;
        rows.into_iter()
            .map(|(id, user, note, changes, at)| {
                Ok(Correction {
                    id: parse("correction id", id)?,
                    asset_id: asset,
                    user_id: parse_opt("user id", user)?,
                    note,
                    changes: serde_json::from_str(&changes).map_err(|_| Error::Corrupt {
                        what: "correction changes",
                        value: changes.clone(),
                    })?,
                    at: from_ms(at),
                })
            })
            .collect()
    }

    async fn withdraw_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        reason: &str,
        audit: &NewAudit,
    ) -> Result<Vec<Notice>> {
        let mut tx = self.begin().await?;
        let t = target(&mut tx, scope, id, cityx_core::notice::may_withdraw).await?;
        let (title,): (String,) = sqlx::query_as(
            "UPDATE assets SET status = 'withdrawn', failure = $1, updated_at = $2 WHERE id = $3 \
             RETURNING title",
        )
        .bind(reason)
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("withdraw an item", "asset", e))?;
        write_audit(&mut tx, audit).await?;
        let notices = tell_adopters(&mut tx, &t, &title, NoticeKind::Withdrawal, reason).await?;
        commit(tx).await?;
        Ok(notices)
    }

    async fn list_notices(
        &self,
        scope: TenantScope,
        f: &NoticeFilter,
        req: &PageRequest,
    ) -> Result<Page<Notice>> {
        let (all, own) = scope_args(scope);
        let rows = sqlx::query(&format!(
            "SELECT {NOTICE_COLS} FROM {NOTICE_FROM} \
             WHERE ($1 OR n.station_id = $2 OR n.contributor_id = $2) \
             AND ($3 IS NULL OR n.station_id = $3) AND ($4 IS NULL OR n.contributor_id = $4) \
             AND ($5 IS NULL OR n.asset_id = $5) AND (NOT $6 OR n.acknowledged_at IS NULL) \
             AND ($7 IS NULL OR n.id < $7) ORDER BY n.id DESC LIMIT $8"
        ))
        .bind(all)
        .bind(own)
        .bind(f.station.map(|s| s.to_string()))
        .bind(f.contributor.map(|s| s.to_string()))
        .bind(f.asset.map(|s| s.to_string()))
        .bind(f.open_only)
        .bind(req.after.map(|u| u.to_string()))
        .bind(i64::from(req.limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list notices", "notice", e))?;
        let items = rows.iter().map(notice_from).collect::<Result<Vec<_>>>()?;
        Ok(page(items, req, |n| n.id.0))
    }

    async fn count_open_notices(&self, station: StationId) -> Result<usize> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM notices WHERE station_id = $1 AND acknowledged_at IS NULL",
        )
        .bind(station.to_string())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("count open notices", "notice", e))?;
        Ok(usize::try_from(n).unwrap_or_default())
    }

    async fn acknowledge_notice(
        &self,
        station: StationId,
        id: NoticeId,
        user: UserId,
        audit: &NewAudit,
    ) -> Result<Notice> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE notices SET acknowledged_at = $1, acknowledged_by = $2 \
             WHERE id = $3 AND station_id = $4 AND acknowledged_at IS NULL",
        )
        .bind(ms(cityx_core::now()))
        .bind(user.to_string())
        .bind(id.to_string())
        .bind(station.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("acknowledge a notice", "notice", e))?
        .rows_affected();
        let row = sqlx::query(&format!(
            "SELECT {NOTICE_COLS} FROM {NOTICE_FROM} WHERE n.id = $1 AND n.station_id = $2"
        ))
        .bind(id.to_string())
        .bind(station.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("read a notice", "notice", e))?;
        let notice = super::found(row, notice_from, "notice")?;
        // Acknowledging twice changes nothing and is not audited twice.
        if done == 1 {
            write_audit(&mut tx, audit).await?;
        }
        commit(tx).await?;
        Ok(notice)
    }

    async fn feed(
        &self,
        scope: TenantScope,
        after: i64,
        limit: u32,
        now: OffsetDateTime,
    ) -> Result<Vec<Event>> {
        let (all, own) = scope_args(scope);
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLS} FROM events e LEFT JOIN assets a ON a.id = e.asset_id \
             WHERE e.seq > $1 AND ($2 OR {}) ORDER BY e.seq LIMIT $5",
            audience_sql("$3", "$4")
        ))
        .bind(after)
        .bind(all)
        .bind(own)
        .bind(ms(now))
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read the feed", "event", e))?;
        rows.iter().map(event_from).collect()
    }

    async fn event_head(&self) -> Result<i64> {
        let (seq,): (i64,) = sqlx::query_as("SELECT seq FROM event_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("read the event head", "event", e))?;
        Ok(seq)
    }

    async fn station_stats(&self, days: (i64, i64)) -> Result<Vec<StationStats>> {
        let rows = sqlx::query(&format!(
            "{STATION_STATS} ORDER BY adoptions_received DESC, contributions DESC, st.code"
        ))
        .bind(days.0)
        .bind(days.1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("sum statistics by station", "statistics", e))?;
        rows.iter()
            .map(|r| {
                Ok(StationStats {
                    station_id: parse("station id", get(r, "id")?)?,
                    name: get(r, "name")?,
                    code: get(r, "code")?,
                    city: get(r, "city")?,
                    province: get(r, "province")?,
                    contributions: get(r, "contributions")?,
                    adoptions_made: get(r, "adoptions_made")?,
                    adoptions_received: get(r, "adoptions_received")?,
                })
            })
            .collect()
    }

    async fn daily_stats(&self, days: (i64, i64)) -> Result<Vec<DayStats>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT day, CAST(SUM(contributions) AS BIGINT), CAST(SUM(adoptions_made) AS BIGINT) \
             FROM stats_daily WHERE day >= $1 AND day <= $2 GROUP BY day ORDER BY day",
        )
        .bind(days.0)
        .bind(days.1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("sum statistics by day", "statistics", e))?;
        Ok(rows
            .into_iter()
            .map(|(day, contributions, adoptions)| DayStats {
                day,
                contributions,
                adoptions,
            })
            .collect())
    }

    async fn zone_stats(&self, from: OffsetDateTime, to: OffsetDateTime) -> Result<Vec<ZoneStats>> {
        let rows = sqlx::query(
            "SELECT z.id, z.title, \
             (SELECT COUNT(*) FROM zone_items zi WHERE zi.zone_id = z.id \
              AND zi.added_at >= $1 AND zi.added_at < $2) AS items, \
             (SELECT COUNT(DISTINCT d.asset_id || ' ' || d.station_id) FROM adoptions d \
              JOIN zone_items zi ON zi.asset_id = d.asset_id \
              WHERE zi.zone_id = z.id AND d.at >= $1 AND d.at < $2) AS adoptions \
             FROM zones z WHERE z.starts_at < $2 AND z.ends_at > $1 \
             ORDER BY adoptions DESC, items DESC, z.id LIMIT 100",
        )
        .bind(ms(from))
        .bind(ms(to))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("sum statistics by zone", "statistics", e))?;
        rows.iter()
            .map(|r| {
                Ok(ZoneStats {
                    zone_id: parse("zone id", get(r, "id")?)?,
                    title: get(r, "title")?,
                    items: get(r, "items")?,
                    adoptions: get(r, "adoptions")?,
                })
            })
            .collect()
    }

    async fn top_items(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<TopItem>> {
        let rows = sqlx::query(
            "SELECT d.asset_id, MAX(a.title) AS title, MAX(c.name) AS station_name, \
             COUNT(DISTINCT d.station_id) AS adoptions FROM adoptions d \
             JOIN stations c ON c.id = d.contributor_id JOIN assets a ON a.id = d.asset_id \
             WHERE d.at >= $1 AND d.at < $2 AND a.status = 'ready' AND a.deleted_at IS NULL \
             GROUP BY d.asset_id ORDER BY adoptions DESC, d.asset_id LIMIT $3",
        )
        .bind(ms(from))
        .bind(ms(to))
        .bind(i64::from(limit.clamp(1, 100)))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("rank items", "statistics", e))?;
        rows.iter()
            .map(|r| {
                Ok(TopItem {
                    asset_id: parse("asset id", get(r, "asset_id")?)?,
                    title: get(r, "title")?,
                    station_name: get(r, "station_name")?,
                    adoptions: get(r, "adoptions")?,
                })
            })
            .collect()
    }
}
