//! Topic zones: the campaigns, their invited stations and targets, and contributed items
//! (listed to each reader under the items' rights).

use super::rows::{from_ms, get, ms, parse, parse_opt, scope_args};
use super::visibility::visible_sql;
use super::{SqlRepo, commit, not_found_unless, write_audit};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::zone::ZoneFields;
use cityx_core::{
    AssetId, NewAudit, StationId, TenantScope, UserId, Zone, ZoneId, ZoneInvite, ZoneItem,
};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

/// Topic zones (专区): the hub's campaigns, invited stations with targets, and the items
/// stations contribute (listed under each item's rights).
#[async_trait]
pub trait ZoneRepo: Send + Sync {
    /// An unknown invited station is `NotFound { entity: "station" }` and changes nothing.
    async fn insert_zone(
        &self,
        id: cityx_core::ZoneId,
        zone: &cityx_core::zone::ZoneFields,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Replaces a zone's fields and invitations.
    async fn update_zone(
        &self,
        id: cityx_core::ZoneId,
        zone: &cityx_core::zone::ZoneFields,
        audit: &NewAudit,
    ) -> Result<()>;
    /// A zone with its invitations and counts.
    async fn get_zone(&self, id: cityx_core::ZoneId) -> Result<cityx_core::Zone>;
    /// Zones, latest window first.
    async fn list_zones(&self, limit: u32) -> Result<Vec<cityx_core::Zone>>;
    /// A zone's items that the caller may see at `now`, latest first.
    async fn zone_items(
        &self,
        scope: TenantScope,
        zone: cityx_core::ZoneId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<cityx_core::ZoneItem>>;
    /// Contributes `station`'s own item to an open zone; `false` if it was there already.
    /// A closed zone or an item not ready or processing is `WrongState`.
    async fn add_zone_item(
        &self,
        station: StationId,
        zone: cityx_core::ZoneId,
        asset: AssetId,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// Takes an item out of a zone (its station's, or any for the hub).
    async fn remove_zone_item(
        &self,
        scope: TenantScope,
        zone: cityx_core::ZoneId,
        asset: AssetId,
        audit: &NewAudit,
    ) -> Result<()>;
}

const ZONE_COLS: &str = "z.id, z.title, z.brief, z.cover_asset_id, z.starts_at, z.ends_at, \
    z.created_by, z.created_at, z.updated_at, \
    (SELECT COUNT(*) FROM zone_items zi WHERE zi.zone_id = z.id) AS items, \
    (SELECT CAST(COALESCE(SUM(a.adoption_count), 0) AS BIGINT) FROM zone_items zi \
     JOIN assets a ON a.id = zi.asset_id WHERE zi.zone_id = z.id) AS adoptions";

fn zone_from(r: &AnyRow) -> Result<Zone> {
    Ok(Zone {
        id: parse("zone id", get(r, "id")?)?,
        title: get(r, "title")?,
        brief: get(r, "brief")?,
        cover_asset_id: parse_opt("asset id", get(r, "cover_asset_id")?)?,
        starts_at: from_ms(get(r, "starts_at")?),
        ends_at: from_ms(get(r, "ends_at")?),
        created_by: parse("user id", get(r, "created_by")?)?,
        created_at: from_ms(get(r, "created_at")?),
        updated_at: from_ms(get(r, "updated_at")?),
        invited: Vec::new(),
        items: get(r, "items")?,
        adoptions: get(r, "adoptions")?,
    })
}

/// Writes a zone's invitations, replacing those it had. An unknown station is
/// `NotFound { entity: "station" }`.
/// Sets a zone's invited stations; returns those newly invited.
async fn invite(
    tx: &mut Transaction<'static, Any>,
    zone: ZoneId,
    invited: &[(StationId, i64)],
) -> Result<Vec<(StationId, i64)>> {
    let before: Vec<(String,)> =
        sqlx::query_as("SELECT station_id FROM zone_stations WHERE zone_id = $1")
            .bind(zone.to_string())
            .fetch_all(&mut **tx)
            .await
            .map_err(|e| Error::from_sqlx("read a zone's stations", "zone", e))?;
    let newly = invited
        .iter()
        .filter(|(s, _)| !before.iter().any(|(b,)| *b == s.to_string()))
        .copied()
        .collect();
    sqlx::query("DELETE FROM zone_stations WHERE zone_id = $1")
        .bind(zone.to_string())
        .execute(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("invite stations", "zone", e))?;
    for (station, target) in invited {
        let added = sqlx::query(
            "INSERT INTO zone_stations (zone_id, station_id, target) \
             SELECT $1, id, $2 FROM stations WHERE id = $3",
        )
        .bind(zone.to_string())
        .bind(*target)
        .bind(station.to_string())
        .execute(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("invite a station", "zone", e))?
        .rows_affected();
        not_found_unless(added, "station")?;
    }
    Ok(newly)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Tells each newly invited station (its feed, its webhooks, its notices page): last in the
/// transaction, as events are.
async fn tell_invited(
    tx: &mut Transaction<'static, Any>,
    zone: ZoneId,
    z: &ZoneFields,
    newly: &[(StationId, i64)],
) -> Result<()> {
    let at = cityx_core::now();
    for (station, target) in newly {
        super::events::record_event(
            tx,
            &cityx_core::NewEvent {
                kind: cityx_core::EventKind::ZoneInvited,
                asset_id: None,
                station_id: *station,
                audience: Some(*station),
                data: serde_json::json!({
                    "zone_id": zone, "title": z.title, "target": target,
                    "starts_at": rfc3339(z.starts_at), "ends_at": rfc3339(z.ends_at),
                }),
                at,
            },
        )
        .await?;
    }
    Ok(())
}

/// Touches an item so that the search index takes its zones again.
async fn touch(tx: &mut Transaction<'static, Any>, asset: AssetId) -> Result<()> {
    sqlx::query("UPDATE assets SET updated_at = $1 WHERE id = $2")
        .bind(ms(cityx_core::now()))
        .bind(asset.to_string())
        .execute(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("touch an item", "asset", e))?;
    Ok(())
}

impl SqlRepo {
    /// Fills in the invitations of `zones` (with each station's contributions), in one query.
    async fn with_invites(&self, mut zones: Vec<Zone>) -> Result<Vec<Zone>> {
        let ids: Vec<String> = zones.iter().map(|z| z.id.to_string()).collect();
        for chunk in ids.chunks(200) {
            let sql = format!(
                "SELECT zs.zone_id, zs.station_id, s.name, zs.target, \
                 (SELECT COUNT(*) FROM zone_items zi WHERE zi.zone_id = zs.zone_id \
                  AND zi.station_id = zs.station_id) AS contributed \
                 FROM zone_stations zs JOIN stations s ON s.id = zs.station_id \
                 WHERE zs.zone_id IN ({}) ORDER BY zs.zone_id, s.code",
                super::placeholders(chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            let rows = q
                .fetch_all(&self.pool)
                .await
                .map_err(|e| Error::from_sqlx("read zones' stations", "zone", e))?;
            for r in &rows {
                let zone: ZoneId = parse("zone id", get(r, "zone_id")?)?;
                let invite = ZoneInvite {
                    station_id: parse("station id", get(r, "station_id")?)?,
                    station_name: get(r, "name")?,
                    target: get(r, "target")?,
                    contributed: get(r, "contributed")?,
                };
                if let Some(z) = zones.iter_mut().find(|z| z.id == zone) {
                    z.invited.push(invite);
                }
            }
        }
        Ok(zones)
    }
}

#[async_trait]
impl ZoneRepo for SqlRepo {
    async fn insert_zone(
        &self,
        id: ZoneId,
        z: &ZoneFields,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<()> {
        let now = ms(cityx_core::now());
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO zones (id, title, brief, cover_asset_id, starts_at, ends_at, \
             created_by, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$8)",
        )
        .bind(id.to_string())
        .bind(&z.title)
        .bind(&z.brief)
        .bind(z.cover_asset_id.map(|a| a.to_string()))
        .bind(ms(z.starts_at))
        .bind(ms(z.ends_at))
        .bind(by.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("create a zone", "zone", e))?;
        let newly = invite(&mut tx, id, &z.invited).await?;
        write_audit(&mut tx, audit).await?;
        tell_invited(&mut tx, id, z, &newly).await?;
        commit(tx).await
    }

    async fn update_zone(&self, id: ZoneId, z: &ZoneFields, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE zones SET title = $1, brief = $2, cover_asset_id = $3, starts_at = $4, \
             ends_at = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(&z.title)
        .bind(&z.brief)
        .bind(z.cover_asset_id.map(|a| a.to_string()))
        .bind(ms(z.starts_at))
        .bind(ms(z.ends_at))
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("change a zone", "zone", e))?
        .rows_affected();
        not_found_unless(changed, "zone")?;
        let newly = invite(&mut tx, id, &z.invited).await?;
        write_audit(&mut tx, audit).await?;
        tell_invited(&mut tx, id, z, &newly).await?;
        commit(tx).await
    }

    async fn get_zone(&self, id: ZoneId) -> Result<Zone> {
        let row = sqlx::query(&format!("SELECT {ZONE_COLS} FROM zones z WHERE z.id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| Error::from_sqlx("read a zone", "zone", e))?;
        let zone = super::found(row, zone_from, "zone")?;
        let mut one = self.with_invites(vec![zone]).await?;
        one.pop().ok_or(Error::NotFound { entity: "zone" })
    }

    async fn list_zones(&self, limit: u32) -> Result<Vec<Zone>> {
        let rows = sqlx::query(&format!(
            "SELECT {ZONE_COLS} FROM zones z ORDER BY z.ends_at DESC, z.id DESC LIMIT $1"
        ))
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list zones", "zone", e))?;
        let zones = rows.iter().map(zone_from).collect::<Result<Vec<_>>>()?;
        self.with_invites(zones).await
    }

    async fn zone_items(
        &self,
        scope: TenantScope,
        zone: ZoneId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ZoneItem>> {
        let (all, own) = scope_args(scope);
        let rows = sqlx::query(&format!(
            "SELECT a.id, a.title, a.station_id, s.name AS station_name, a.adoption_count, \
             a.derived, zi.added_at FROM zone_items zi JOIN assets a ON a.id = zi.asset_id \
             JOIN stations s ON s.id = a.station_id \
             WHERE zi.zone_id = $1 AND a.purged_at IS NULL AND {} \
             ORDER BY zi.added_at DESC, a.id LIMIT $5",
            visible_sql(2, 3, 4)
        ))
        .bind(zone.to_string())
        .bind(all)
        .bind(own)
        .bind(ms(now))
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list a zone's items", "zone", e))?;
        rows.iter()
            .map(|r| {
                let derived: Option<String> = get(r, "derived")?;
                Ok(ZoneItem {
                    asset_id: parse("asset id", get(r, "id")?)?,
                    title: get(r, "title")?,
                    station_id: parse("station id", get(r, "station_id")?)?,
                    station_name: get(r, "station_name")?,
                    adoptions: get(r, "adoption_count")?,
                    has_poster: derived.is_some_and(|d| d.contains("\"poster\"")),
                    added_at: from_ms(get(r, "added_at")?),
                })
            })
            .collect()
    }

    async fn add_zone_item(
        &self,
        station: StationId,
        zone: ZoneId,
        asset: AssetId,
        by: UserId,
        audit: &NewAudit,
    ) -> Result<bool> {
        let now = cityx_core::now();
        let mut tx = self.begin().await?;
        let window: Option<(i64, i64)> =
            sqlx::query_as("SELECT starts_at, ends_at FROM zones WHERE id = $1")
                .bind(zone.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| Error::from_sqlx("read a zone", "zone", e))?;
        let (starts, ends) = window.ok_or(Error::NotFound { entity: "zone" })?;
        if !(starts..ends).contains(&ms(now)) {
            return Err(Error::WrongState {
                entity: "zone",
                state: "closed".into(),
            });
        }
        let item: Option<(String, Option<i64>)> = sqlx::query_as(
            "SELECT status, deleted_at FROM assets WHERE id = $1 AND station_id = $2 \
             AND purged_at IS NULL",
        )
        .bind(asset.to_string())
        .bind(station.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("read an item", "asset", e))?;
        let (status, deleted) = item.ok_or(Error::NotFound { entity: "asset" })?;
        if deleted.is_some() || !matches!(status.as_str(), "ready" | "processing") {
            return Err(Error::WrongState {
                entity: "asset",
                state: if deleted.is_some() {
                    "deleted".into()
                } else {
                    status
                },
            });
        }
        let added = sqlx::query(
            "INSERT INTO zone_items (zone_id, asset_id, station_id, added_by, added_at) \
             VALUES ($1,$2,$3,$4,$5) ON CONFLICT (zone_id, asset_id) DO NOTHING",
        )
        .bind(zone.to_string())
        .bind(asset.to_string())
        .bind(station.to_string())
        .bind(by.to_string())
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("contribute to a zone", "zone", e))?
        .rows_affected();
        if added == 1 {
            touch(&mut tx, asset).await?;
            write_audit(&mut tx, audit).await?;
        }
        commit(tx).await?;
        Ok(added == 1)
    }

    async fn remove_zone_item(
        &self,
        scope: TenantScope,
        zone: ZoneId,
        asset: AssetId,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let removed = sqlx::query(
            "DELETE FROM zone_items WHERE zone_id = $1 AND asset_id = $2 \
             AND ($3 OR station_id = $4)",
        )
        .bind(zone.to_string())
        .bind(asset.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("remove an item from a zone", "zone", e))?
        .rows_affected();
        not_found_unless(removed, "asset")?;
        touch(&mut tx, asset).await?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }
}
