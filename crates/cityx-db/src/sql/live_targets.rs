//! Restream targets of live channels: partner addresses with their sealed stream keys, and
//! the last report of each running push. Targets are managed by the channel's own station
//! (any for the hub); the ingest reads them, keys included, for the channel it holds.

use super::rows::{from_ms, get, ms, parse, scope_args};
use super::{SqlRepo, commit, found, not_found_unless, write_audit};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::live::target::{MAX_PER_CHANNEL, Target, TargetReport, TargetState};
use cityx_core::{ChannelId, NewAudit, TargetId, TenantScope};
use sqlx::any::AnyRow;

/// A target as stored, for the push: its key still sealed.
#[derive(Clone, Debug)]
pub struct SealedTarget {
    pub target: Target,
    pub key_sealed: String,
    /// An SRT target's passphrase, sealed.
    pub passphrase_sealed: Option<String>,
}

/// A new or changed target. `key` is `None` when a change keeps the stored key;
/// `passphrase` is `None` when it keeps the stored passphrase, `Some(None)` to remove it.
pub struct TargetRow<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub key: Option<(&'a str, &'a str)>,
    pub enabled: bool,
    pub passphrase: Option<Option<&'a str>>,
}

/// Restream targets of live channels.
#[async_trait]
pub trait TargetRepo: Send + Sync {
    /// Adds a target (its key sealed, and its hint) to a channel of `scope`'s station; more
    /// than `MAX_PER_CHANNEL` is `WrongState { state: "too_many" }`.
    async fn insert_target(
        &self,
        scope: TenantScope,
        channel: ChannelId,
        id: TargetId,
        row: &TargetRow<'_>,
        audit: &NewAudit,
    ) -> Result<()>;
    /// The targets of a channel of `scope`'s station, oldest first.
    async fn list_targets(&self, scope: TenantScope, channel: ChannelId) -> Result<Vec<Target>>;
    async fn get_target(
        &self,
        scope: TenantScope,
        channel: ChannelId,
        id: TargetId,
    ) -> Result<Target>;
    async fn update_target(
        &self,
        scope: TenantScope,
        channel: ChannelId,
        id: TargetId,
        row: &TargetRow<'_>,
        audit: &NewAudit,
    ) -> Result<()>;
    async fn delete_target(
        &self,
        scope: TenantScope,
        channel: ChannelId,
        id: TargetId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// The enabled targets of a channel, keys sealed (for the session that holds it).
    async fn targets_to_push(&self, channel: ChannelId) -> Result<Vec<SealedTarget>>;
    /// Stores what the pushes of a channel report.
    async fn report_targets(&self, reports: &[(TargetId, TargetReport)]) -> Result<()>;
}

const TARGET_COLS: &str = "t.id, t.channel_id, t.name, t.url, t.key_hint, t.enabled, t.report, \
    t.reported_at, t.created_at, t.key_sealed, t.passphrase_sealed";
/// A target joined to its channel, which `$1` (all) or `$2` (the station) may change.
const OWN_TARGET: &str = "live_targets t JOIN live_channels c ON c.id = t.channel_id \
    WHERE c.deleted_at IS NULL AND ($1 OR c.station_id = $2)";

fn target_from(r: &AnyRow) -> Result<SealedTarget> {
    let report: Option<String> = get(r, "report")?;
    let report: TargetReport = report
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let enabled = get::<i64>(r, "enabled")? != 0;
    let passphrase_sealed: Option<String> = get(r, "passphrase_sealed")?;
    Ok(SealedTarget {
        target: Target {
            id: parse("target id", get(r, "id")?)?,
            channel_id: parse("channel id", get(r, "channel_id")?)?,
            name: get(r, "name")?,
            url: get(r, "url")?,
            key_hint: get(r, "key_hint")?,
            has_passphrase: passphrase_sealed.is_some(),
            enabled,
            state: report.state.unwrap_or(TargetState::Idle),
            error: report.error,
            error_code: report.error_code,
            bytes: report.bytes,
            kbps: report.kbps,
            attempts: report.attempts,
            reported_at: get::<Option<i64>>(r, "reported_at")?.map(from_ms),
            created_at: from_ms(get(r, "created_at")?),
        },
        key_sealed: get(r, "key_sealed")?,
        passphrase_sealed,
    })
}

fn too_many() -> Error {
    Error::WrongState {
        entity: "target",
        state: "too_many".into(),
    }
}

#[async_trait]
impl TargetRepo for SqlRepo {
    async fn insert_target(
        &self,
        scope: TenantScope,
        channel: ChannelId,
        id: TargetId,
        row: &TargetRow<'_>,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let (sealed, hint) = row.key.ok_or_else(|| Error::WrongState {
            entity: "target",
            state: "without_key".into(),
        })?;
        let mut tx = self.begin().await?;
        // The channel's row is held so that two adds cannot both take the last place.
        let done = sqlx::query(
            "UPDATE live_channels SET updated_at = updated_at \
             WHERE id = $1 AND deleted_at IS NULL AND ($2 OR station_id = $3)",
        )
        .bind(channel.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("hold a channel", "channel", e))?;
        not_found_unless(done.rows_affected(), "channel")?;
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM live_targets WHERE channel_id = $1")
                .bind(channel.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| Error::from_sqlx("count targets", "target", e))?;
        if count >= MAX_PER_CHANNEL {
            return Err(too_many());
        }
        let now = ms(cityx_core::now());
        sqlx::query(
            "INSERT INTO live_targets (id, channel_id, name, url, key_sealed, key_hint, \
             enabled, created_at, updated_at, passphrase_sealed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
        )
        .bind(id.to_string())
        .bind(channel.to_string())
        .bind(row.name)
        .bind(row.url)
        .bind(sealed)
        .bind(hint)
        .bind(i64::from(row.enabled))
        .bind(now)
        .bind(row.passphrase.flatten())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("add a target", "target", e))?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn list_targets(&self, scope: TenantScope, channel: ChannelId) -> Result<Vec<Target>> {
        let (all, own) = scope_args(scope);
        let rows = sqlx::query(&format!(
            "SELECT {TARGET_COLS} FROM {OWN_TARGET} AND t.channel_id = $3 \
             ORDER BY t.created_at, t.id"
        ))
        .bind(all)
        .bind(own)
        .bind(channel.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list targets", "target", e))?;
        rows.iter()
            .map(|r| target_from(r).map(|t| t.target))
            .collect()
    }

    async fn get_target(
        &self,
        scope: TenantScope,
        channel: ChannelId,
        id: TargetId,
    ) -> Result<Target> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {TARGET_COLS} FROM {OWN_TARGET} AND t.channel_id = $3 AND t.id = $4"
        ))
        .bind(all)
        .bind(own)
        .bind(channel.to_string())
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a target", "target", e))?;
        found(row, |r| target_from(r).map(|t| t.target), "target")
    }

    async fn update_target(
        &self,
        scope: TenantScope,
        channel: ChannelId,
        id: TargetId,
        row: &TargetRow<'_>,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let (sealed, hint) = row.key.unzip();
        let done = sqlx::query(
            "UPDATE live_targets SET name = $1, url = $2, enabled = $3, \
             key_sealed = COALESCE($4, key_sealed), key_hint = COALESCE($5, key_hint), \
             updated_at = $6, \
             passphrase_sealed = CASE WHEN $11 THEN $12 ELSE passphrase_sealed END \
             WHERE id = $7 AND channel_id = $8 AND channel_id IN (SELECT id FROM live_channels \
             WHERE deleted_at IS NULL AND ($9 OR station_id = $10))",
        )
        .bind(row.name)
        .bind(row.url)
        .bind(i64::from(row.enabled))
        .bind(sealed)
        .bind(hint)
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .bind(channel.to_string())
        .bind(all)
        .bind(own)
        .bind(row.passphrase.is_some())
        .bind(row.passphrase.flatten())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("change a target", "target", e))?;
        not_found_unless(done.rows_affected(), "target")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn delete_target(
        &self,
        scope: TenantScope,
        channel: ChannelId,
        id: TargetId,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "DELETE FROM live_targets WHERE id = $1 AND channel_id = $2 AND channel_id IN \
             (SELECT id FROM live_channels WHERE deleted_at IS NULL AND ($3 OR station_id = $4))",
        )
        .bind(id.to_string())
        .bind(channel.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("remove a target", "target", e))?;
        not_found_unless(done.rows_affected(), "target")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn targets_to_push(&self, channel: ChannelId) -> Result<Vec<SealedTarget>> {
        let rows = sqlx::query(&format!(
            "SELECT {TARGET_COLS} FROM {OWN_TARGET} AND t.channel_id = $3 AND t.enabled = 1 \
             ORDER BY t.created_at, t.id"
        ))
        .bind(true)
        .bind(None::<String>)
        .bind(channel.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list targets", "target", e))?;
        rows.iter().map(target_from).collect()
    }

    async fn report_targets(&self, reports: &[(TargetId, TargetReport)]) -> Result<()> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        let now = ms(cityx_core::now());
        for (id, report) in reports {
            sqlx::query("UPDATE live_targets SET report = $1, reported_at = $2 WHERE id = $3")
                .bind(serde_json::to_string(report).unwrap_or_default())
                .bind(now)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::from_sqlx("report targets", "target", e))?;
        }
        commit(tx).await
    }
}
