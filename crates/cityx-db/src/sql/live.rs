//! Live channels. A channel is held by one publishing session at a time: a lease on its row
//! (`session`, `node`, `held_until`) that the ingest takes by compare-and-set when a
//! publisher's key is accepted and renews with every health report, so a second publisher
//! is refused while the first is alive, and a dead node's hold runs out.

use super::rows::{from_ms, get, ms, parse, scope_args};
use super::{SqlRepo, commit, found, not_found_unless, write_audit};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::live::{Alarm, Channel, ChannelFields, ChannelState, Health, MAX_PER_STATION};
use cityx_core::{ChannelId, NewAudit, StationId, TenantScope, UserId};
use sqlx::any::AnyRow;
use time::OffsetDateTime;

/// Live channels and who holds them.
#[async_trait]
pub trait LiveRepo: Send + Sync {
    /// Adds a channel to `station`; more than `MAX_PER_STATION` is
    /// `WrongState { state: "too_many" }`.
    #[allow(clippy::too_many_arguments)]
    async fn insert_channel(
        &self,
        id: ChannelId,
        station: StationId,
        fields: &ChannelFields,
        key_hash: &str,
        key_hint: &str,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// The channels `scope` may watch: its own station's, those shared with it, and every
    /// one for the hub; live ones first, then by name.
    async fn list_watchable_channels(&self, scope: TenantScope) -> Result<Vec<Channel>>;
    /// A channel `scope` may watch.
    async fn get_watchable_channel(&self, scope: TenantScope, id: ChannelId) -> Result<Channel>;
    /// A channel of `scope`'s own station (any for the hub): for changes.
    async fn get_channel(&self, scope: TenantScope, id: ChannelId) -> Result<Channel>;
    async fn update_channel(
        &self,
        scope: TenantScope,
        id: ChannelId,
        fields: &ChannelFields,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Replaces the stream key: the old one stops at once, and a publisher using it loses the
    /// channel at its next report (its hold ends).
    async fn rotate_channel_key(
        &self,
        scope: TenantScope,
        id: ChannelId,
        key_hash: &str,
        key_hint: &str,
        audit: &NewAudit,
    ) -> Result<()>;
    async fn delete_channel(
        &self,
        scope: TenantScope,
        id: ChannelId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Sets (`Some((sealed, hint))`) or removes the passphrase SRT publishers must use.
    async fn set_channel_passphrase(
        &self,
        scope: TenantScope,
        id: ChannelId,
        passphrase: Option<(&str, &str)>,
        audit: &NewAudit,
    ) -> Result<()>;
    /// The channel's SRT passphrase, sealed (for the ingest); `None` when it has none.
    async fn channel_passphrase(&self, id: ChannelId) -> Result<Option<String>>;
    /// The live channel whose stream key hashes to `key_hash` (for the ingest).
    async fn channel_by_key(&self, key_hash: &str) -> Result<Option<Channel>>;
    /// Takes the channel for a pull's session until `until`, unless another session holds
    /// it (a slate, whose id starts with `slate-`, yields: it stood in for this input);
    /// whether it was taken.
    async fn hold_channel(
        &self,
        id: ChannelId,
        session: &str,
        node: &str,
        until: OffsetDateTime,
    ) -> Result<bool>;
    /// Takes the channel for a publisher's session even from a standby session (one whose id
    /// starts with `pull-` or `slate-`: the channel's backup pull or its slate), which then
    /// loses it at its next report; unless another publisher holds it. Whether it was taken.
    async fn take_over_channel(
        &self,
        id: ChannelId,
        session: &str,
        node: &str,
        until: OffsetDateTime,
    ) -> Result<bool>;
    /// Renews the session's hold with a health report; false when the session lost the
    /// channel (deleted, or held by another after this one's lease ran out).
    async fn renew_channel(
        &self,
        id: ChannelId,
        session: &str,
        until: OffsetDateTime,
        health: &Health,
    ) -> Result<bool>;
    /// Passes the session's hold to session `to` (its slate) with `health` as the channel's
    /// report, keeping when the broadcast began; false when `from` no longer holds it.
    async fn hand_over_channel(
        &self,
        id: ChannelId,
        from: &str,
        to: &str,
        until: OffsetDateTime,
        health: &Health,
    ) -> Result<bool>;
    /// Ends the session's hold, keeping its last health report.
    async fn release_channel(&self, id: ChannelId, session: &str, health: &Health) -> Result<()>;
    /// Channels that pull their signal and that no session but a slate holds now (for the
    /// pullers).
    async fn unheld_pull_channels(&self) -> Result<Vec<Channel>>;
    /// Keeps `health` (a failed pull's reason) as the channel's last report, unless a
    /// session holds the channel now.
    async fn note_unheld_health(&self, id: ChannelId, health: &Health) -> Result<()>;
    /// Tells the channel's station that an alarm was raised or cleared (a `channel.alarm`
    /// event: its feed, its webhooks).
    async fn record_channel_alarm(
        &self,
        channel: &Channel,
        alarm: Alarm,
        raised: bool,
    ) -> Result<()>;
}

const CHANNEL_COLS: &str = "c.id, c.station_id, s.name AS station_name, c.name, c.description, \
    c.visibility, c.shared_with, c.max_kbps, c.max_height, c.dvr_minutes, c.record, \
    c.key_hint, c.key_rotated_at, c.session, c.held_until, c.live_since, c.health, \
    c.created_by, c.created_at, c.updated_at, c.pull_url, c.publish_cidrs, c.srt_passphrase_hint, c.renditions, c.record_windows";
const CHANNEL_FROM: &str = "live_channels c JOIN stations s ON s.id = c.station_id";

fn channel_from(r: &AnyRow) -> Result<Channel> {
    let shared: String = get(r, "shared_with")?;
    let held_until: Option<i64> = get(r, "held_until")?;
    let session: Option<String> = get(r, "session")?;
    let live = session.is_some() && held_until.is_some_and(|t| t > ms(cityx_core::now()));
    let health: Option<String> = get(r, "health")?;
    let int = |col: &str| -> Result<u32> {
        let v: i64 = get(r, col)?;
        Ok(u32::try_from(v).unwrap_or(0))
    };
    Ok(Channel {
        id: parse("channel id", get(r, "id")?)?,
        station_id: parse("station id", get(r, "station_id")?)?,
        station_name: get(r, "station_name")?,
        name: get(r, "name")?,
        description: get(r, "description")?,
        visibility: parse("visibility", get(r, "visibility")?)?,
        shared_with: shared
            .split_whitespace()
            .map(|s| parse("station id", s.to_owned()))
            .collect::<Result<_>>()?,
        max_kbps: int("max_kbps")?,
        max_height: int("max_height")?,
        dvr_minutes: int("dvr_minutes")?,
        record: get::<i64>(r, "record")? != 0,
        record_windows: get::<Option<String>>(r, "record_windows")?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
        pull_url: get(r, "pull_url")?,
        publish_cidrs: get::<Option<String>>(r, "publish_cidrs")?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
        renditions: get::<Option<String>>(r, "renditions")?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
        srt_passphrase_hint: get::<Option<String>>(r, "srt_passphrase_hint")?.unwrap_or_default(),
        state: if live {
            ChannelState::Live
        } else {
            ChannelState::Idle
        },
        live_since: if live {
            get::<Option<i64>>(r, "live_since")?.map(from_ms)
        } else {
            None
        },
        health: health.and_then(|h| serde_json::from_str(&h).ok()),
        key_hint: get(r, "key_hint")?,
        key_rotated_at: from_ms(get(r, "key_rotated_at")?),
        created_by: parse("user id", get(r, "created_by")?)?,
        created_at: from_ms(get(r, "created_at")?),
        updated_at: from_ms(get(r, "updated_at")?),
    })
}

/// The channels a scope may watch: `$1` all, `$2` its station, `$3` `% <station> %`.
const WATCHABLE: &str = "($1 OR c.station_id = $2 OR c.visibility IN ('exchange','public') \
    OR (c.visibility = 'stations' AND ' ' || c.shared_with || ' ' LIKE $3))";

fn watch_args(scope: TenantScope) -> (bool, Option<String>, String) {
    let (all, own) = scope_args(scope);
    let like = format!("% {} %", own.as_deref().unwrap_or("-"));
    (all, own, like)
}

/// The allow-list as stored: a JSON array, or NULL for none.
fn cidrs_text(fields: &ChannelFields) -> Option<String> {
    (!fields.publish_cidrs.is_empty())
        .then(|| serde_json::to_string(&fields.publish_cidrs).unwrap_or_default())
}

/// The renditions as stored: a JSON array, or NULL for none.
fn renditions_text(fields: &ChannelFields) -> Option<String> {
    (!fields.renditions.is_empty())
        .then(|| serde_json::to_string(&fields.renditions).unwrap_or_default())
}

/// The recording windows as stored: a JSON array, or NULL for none.
fn windows_text(fields: &ChannelFields) -> Option<String> {
    (!fields.record_windows.is_empty())
        .then(|| serde_json::to_string(&fields.record_windows).unwrap_or_default())
}

fn shared_text(fields: &ChannelFields) -> String {
    fields
        .shared_with
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

impl SqlRepo {
    /// Takes the channel for `session` until `until` when no session holds it, or when the
    /// one that does matches `yields` (standby sessions, by their ids), keeping when the
    /// broadcast began if it goes on; whether it was taken.
    async fn take_hold(
        &self,
        id: ChannelId,
        session: &str,
        node: &str,
        until: OffsetDateTime,
        yields: &'static str,
    ) -> Result<bool> {
        let now = ms(cityx_core::now());
        let done = sqlx::query(&format!(
            "UPDATE live_channels SET session = $1, node = $2, held_until = $3, \
             live_since = CASE WHEN held_until > $4 THEN live_since ELSE $4 END, health = NULL \
             WHERE id = $5 AND deleted_at IS NULL AND (held_until IS NULL OR held_until < $4 \
             OR {yields})"
        ))
        .bind(session)
        .bind(node)
        .bind(ms(until))
        .bind(now)
        .bind(id.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("hold a channel", "channel", e))?;
        Ok(done.rows_affected() == 1)
    }

    /// Renews the hold of session `from` as session `to` (the same one, or its slate) until
    /// `until`, with `health` as the channel's report; whether `from` still held it.
    async fn pass_hold(
        &self,
        id: ChannelId,
        from: &str,
        to: &str,
        until: OffsetDateTime,
        health: &Health,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE live_channels SET session = $1, held_until = $2, health = $3 \
             WHERE id = $4 AND session = $5 AND deleted_at IS NULL",
        )
        .bind(to)
        .bind(ms(until))
        .bind(serde_json::to_string(health).unwrap_or_default())
        .bind(id.to_string())
        .bind(from)
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("renew a channel's hold", "channel", e))?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl LiveRepo for SqlRepo {
    async fn insert_channel(
        &self,
        id: ChannelId,
        station: StationId,
        fields: &ChannelFields,
        key_hash: &str,
        key_hint: &str,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        super::hold_row(&mut tx, "stations", &station.to_string(), "station").await?;
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM live_channels WHERE station_id = $1 AND deleted_at IS NULL",
        )
        .bind(station.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("count channels", "channel", e))?;
        if count >= MAX_PER_STATION {
            return Err(Error::WrongState {
                entity: "channel",
                state: "too_many".into(),
            });
        }
        let now = ms(cityx_core::now());
        sqlx::query(
            "INSERT INTO live_channels (id, station_id, name, description, visibility, \
             shared_with, max_kbps, max_height, dvr_minutes, key_hash, key_hint, \
             key_rotated_at, created_by, created_at, updated_at, record, pull_url, publish_cidrs, \
             renditions, record_windows) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $12, $14, $15, $16, \
             $17, $18)",
        )
        .bind(id.to_string())
        .bind(station.to_string())
        .bind(&fields.name)
        .bind(&fields.description)
        .bind(fields.visibility.as_str())
        .bind(shared_text(fields))
        .bind(i64::from(fields.max_kbps))
        .bind(i64::from(fields.max_height))
        .bind(i64::from(fields.dvr_minutes))
        .bind(key_hash)
        .bind(key_hint)
        .bind(now)
        .bind(by.to_string())
        .bind(i64::from(fields.record))
        .bind(fields.pull_url.as_deref())
        .bind(cidrs_text(fields))
        .bind(renditions_text(fields))
        .bind(windows_text(fields))
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("add a channel", "channel", e))?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn list_watchable_channels(&self, scope: TenantScope) -> Result<Vec<Channel>> {
        let (all, own, like) = watch_args(scope);
        let rows = sqlx::query(&format!(
            "SELECT {CHANNEL_COLS} FROM {CHANNEL_FROM} WHERE c.deleted_at IS NULL \
             AND {WATCHABLE} \
             ORDER BY CASE WHEN c.held_until > $4 THEN 0 ELSE 1 END, c.name, c.id LIMIT 1000"
        ))
        .bind(all)
        .bind(own)
        .bind(like)
        .bind(ms(cityx_core::now()))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list channels", "channel", e))?;
        rows.iter().map(channel_from).collect()
    }

    async fn get_watchable_channel(&self, scope: TenantScope, id: ChannelId) -> Result<Channel> {
        let (all, own, like) = watch_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {CHANNEL_COLS} FROM {CHANNEL_FROM} WHERE c.id = $4 \
             AND c.deleted_at IS NULL AND {WATCHABLE}"
        ))
        .bind(all)
        .bind(own)
        .bind(like)
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a channel", "channel", e))?;
        found(row, channel_from, "channel")
    }

    async fn get_channel(&self, scope: TenantScope, id: ChannelId) -> Result<Channel> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {CHANNEL_COLS} FROM {CHANNEL_FROM} WHERE c.id = $1 \
             AND c.deleted_at IS NULL AND ($2 OR c.station_id = $3)"
        ))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a channel", "channel", e))?;
        found(row, channel_from, "channel")
    }

    async fn update_channel(
        &self,
        scope: TenantScope,
        id: ChannelId,
        fields: &ChannelFields,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE live_channels SET name = $1, description = $2, visibility = $3, \
             shared_with = $4, max_kbps = $5, max_height = $6, dvr_minutes = $7, \
             updated_at = $8, record = $12, pull_url = $13, publish_cidrs = $14, renditions = $15, \
             record_windows = $16 \
             WHERE id = $9 AND deleted_at IS NULL AND ($10 OR station_id = $11)",
        )
        .bind(&fields.name)
        .bind(&fields.description)
        .bind(fields.visibility.as_str())
        .bind(shared_text(fields))
        .bind(i64::from(fields.max_kbps))
        .bind(i64::from(fields.max_height))
        .bind(i64::from(fields.dvr_minutes))
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .bind(i64::from(fields.record))
        .bind(fields.pull_url.as_deref())
        .bind(cidrs_text(fields))
        .bind(renditions_text(fields))
        .bind(windows_text(fields))
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("change a channel", "channel", e))?;
        not_found_unless(done.rows_affected(), "channel")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn rotate_channel_key(
        &self,
        scope: TenantScope,
        id: ChannelId,
        key_hash: &str,
        key_hint: &str,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let now = ms(cityx_core::now());
        let done = sqlx::query(
            "UPDATE live_channels SET key_hash = $1, key_hint = $2, key_rotated_at = $3, \
             updated_at = $3, session = NULL, node = NULL, held_until = NULL \
             WHERE id = $4 AND deleted_at IS NULL AND ($5 OR station_id = $6)",
        )
        .bind(key_hash)
        .bind(key_hint)
        .bind(now)
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("rotate a stream key", "channel", e))?;
        not_found_unless(done.rows_affected(), "channel")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn delete_channel(
        &self,
        scope: TenantScope,
        id: ChannelId,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let now = ms(cityx_core::now());
        // The key is freed (a deleted channel's key must not match), the hold ended.
        let done = sqlx::query(
            "UPDATE live_channels SET deleted_at = $1, updated_at = $1, \
             key_hash = 'deleted:' || id, session = NULL, node = NULL, held_until = NULL \
             WHERE id = $2 AND deleted_at IS NULL AND ($3 OR station_id = $4)",
        )
        .bind(now)
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("delete a channel", "channel", e))?;
        not_found_unless(done.rows_affected(), "channel")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn set_channel_passphrase(
        &self,
        scope: TenantScope,
        id: ChannelId,
        passphrase: Option<(&str, &str)>,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE live_channels SET srt_passphrase_sealed = $1, srt_passphrase_hint = $2, \
             updated_at = $3 WHERE id = $4 AND deleted_at IS NULL AND ($5 OR station_id = $6)",
        )
        .bind(passphrase.map(|p| p.0))
        .bind(passphrase.map(|p| p.1))
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("set a channel's passphrase", "channel", e))?;
        not_found_unless(done.rows_affected(), "channel")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn channel_passphrase(&self, id: ChannelId) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT srt_passphrase_sealed FROM live_channels WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read a channel's passphrase", "channel", e))?;
        Ok(row.and_then(|r| r.0))
    }

    async fn channel_by_key(&self, key_hash: &str) -> Result<Option<Channel>> {
        let row = sqlx::query(&format!(
            "SELECT {CHANNEL_COLS} FROM {CHANNEL_FROM} WHERE c.key_hash = $1 \
             AND c.deleted_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("find a channel by key", "channel", e))?;
        row.as_ref().map(channel_from).transpose()
    }

    async fn hold_channel(
        &self,
        id: ChannelId,
        session: &str,
        node: &str,
        until: OffsetDateTime,
    ) -> Result<bool> {
        self.take_hold(id, session, node, until, "session LIKE 'slate-%'")
            .await
    }

    async fn renew_channel(
        &self,
        id: ChannelId,
        session: &str,
        until: OffsetDateTime,
        health: &Health,
    ) -> Result<bool> {
        self.pass_hold(id, session, session, until, health).await
    }

    async fn hand_over_channel(
        &self,
        id: ChannelId,
        from: &str,
        to: &str,
        until: OffsetDateTime,
        health: &Health,
    ) -> Result<bool> {
        self.pass_hold(id, from, to, until, health).await
    }

    async fn release_channel(&self, id: ChannelId, session: &str, health: &Health) -> Result<()> {
        sqlx::query(
            "UPDATE live_channels SET session = NULL, node = NULL, held_until = NULL, \
             live_since = NULL, health = $1 WHERE id = $2 AND session = $3",
        )
        .bind(serde_json::to_string(health).unwrap_or_default())
        .bind(id.to_string())
        .bind(session)
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("release a channel", "channel", e))?;
        Ok(())
    }

    async fn unheld_pull_channels(&self) -> Result<Vec<Channel>> {
        let rows = sqlx::query(&format!(
            "SELECT {CHANNEL_COLS} FROM {CHANNEL_FROM} WHERE c.deleted_at IS NULL \
             AND c.pull_url IS NOT NULL AND (c.held_until IS NULL OR c.held_until < $1 \
             OR c.session LIKE 'slate-%') \
             ORDER BY c.id LIMIT 1000"
        ))
        .bind(ms(cityx_core::now()))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list pulling channels", "channel", e))?;
        rows.iter().map(channel_from).collect()
    }

    async fn note_unheld_health(&self, id: ChannelId, health: &Health) -> Result<()> {
        sqlx::query(
            "UPDATE live_channels SET health = $1 WHERE id = $2 AND deleted_at IS NULL \
             AND (held_until IS NULL OR held_until < $3)",
        )
        .bind(serde_json::to_string(health).unwrap_or_default())
        .bind(id.to_string())
        .bind(ms(cityx_core::now()))
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("note a channel's health", "channel", e))?;
        Ok(())
    }

    async fn record_channel_alarm(
        &self,
        channel: &Channel,
        alarm: Alarm,
        raised: bool,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        super::events::record_event(
            &mut tx,
            &cityx_core::NewEvent {
                kind: cityx_core::EventKind::ChannelAlarm,
                asset_id: None,
                station_id: channel.station_id,
                audience: Some(channel.station_id),
                data: serde_json::json!({
                    "channel_id": channel.id, "channel": channel.name,
                    "alarm": alarm.as_str(), "raised": raised,
                }),
                at: cityx_core::now(),
            },
        )
        .await?;
        commit(tx).await
    }

    async fn take_over_channel(
        &self,
        id: ChannelId,
        session: &str,
        node: &str,
        until: OffsetDateTime,
    ) -> Result<bool> {
        self.take_hold(
            id,
            session,
            node,
            until,
            "session LIKE 'pull-%' OR session LIKE 'slate-%'",
        )
        .await
    }
}
