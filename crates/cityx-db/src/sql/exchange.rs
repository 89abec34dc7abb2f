//! The exchange: items as other stations see them (visibility and embargo in the SQL), rights,
//! the adoption ledger, and the change feed that the search index follows.

use super::events::record_event;
use super::rows::{ASSET_SELECT, asset_from, from_ms, get, ms, parse, scope_args};
use super::visibility::visible_sql;
use super::{SqlRepo, commit, found, page, write_audit};
use crate::model::{AdoptionFilter, CatalogueRow, Page, PageRequest};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::{
    Adoption, Asset, AssetId, EventKind, NewAudit, NewEvent, Rights, StationId, TenantScope,
};
use sqlx::any::AnyRow;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The exchange: items as other stations see them, rights, adoptions, and the change feed of
/// the search index. Visibility and embargo are in the SQL of every read (the rule of
/// `cityx_core::exchange::can_see`).
#[async_trait]
pub trait ExchangeRepo: Send + Sync {
    /// An item the caller may see at `now`: its own station's in any state (deleted ones
    /// too, until purged), others' when ready and their rights allow. With `shared_with`.
    async fn get_visible_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        now: OffsetDateTime,
    ) -> Result<Asset>;
    /// Replaces an item's rights (visibility, shares, embargo, licence). An unknown station
    /// in `shared_with` is `NotFound { entity: "station" }` and changes nothing.
    async fn set_rights(
        &self,
        scope: TenantScope,
        id: AssetId,
        rights: &cityx_core::Rights,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Records an adoption and counts it on the item.
    async fn insert_adoption(
        &self,
        adoption: &cityx_core::Adoption,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Adoptions made by or credited to the caller's station (all for the hub), newest first.
    async fn list_adoptions(
        &self,
        scope: TenantScope,
        filter: &AdoptionFilter,
        page: &PageRequest,
    ) -> Result<Page<cityx_core::Adoption>>;
    /// Every item changed after `since` (update time, then id), purged ones included, oldest
    /// change first: what the search index follows.
    async fn changed_assets(
        &self,
        since: (OffsetDateTime, Option<AssetId>),
        limit: u32,
    ) -> Result<Vec<CatalogueRow>>;
}

const ADOPTION_COLS: &str = "d.id, d.asset_id, d.asset_title, d.contributor_id, \
    c.name AS contributor_name, d.station_id, s.name AS station_name, d.user_id, d.rendition, \
    d.purpose, d.at, a.title AS item_title, a.status AS item_status, \
    a.corrected_at AS item_corrected_at, a.deleted_at AS item_deleted_at";

fn adoption_from(r: &AnyRow) -> Result<Adoption> {
    Ok(Adoption {
        id: parse("adoption id", get(r, "id")?)?,
        asset_id: parse("asset id", get(r, "asset_id")?)?,
        asset_title: get(r, "asset_title")?,
        contributor_id: parse("station id", get(r, "contributor_id")?)?,
        contributor_name: get(r, "contributor_name")?,
        station_id: parse("station id", get(r, "station_id")?)?,
        station_name: get(r, "station_name")?,
        user_id: parse("user id", get(r, "user_id")?)?,
        rendition: get(r, "rendition")?,
        purpose: get(r, "purpose")?,
        at: from_ms(get(r, "at")?),
        item_now: Some(cityx_core::exchange::ItemNow {
            title: get(r, "item_title")?,
            status: parse("asset status", get(r, "item_status")?)?,
            corrected: get::<Option<i64>>(r, "item_corrected_at")?.is_some(),
            deleted: get::<Option<i64>>(r, "item_deleted_at")?.is_some(),
        }),
    })
}

impl SqlRepo {
    /// The `(asset_id, other)` rows of `table` for the given items, in bounded IN lists (the
    /// index follower reads in batches of at most a few hundred).
    pub(crate) async fn per_asset(
        &self,
        table: &'static str,
        other: &'static str,
        ids: &[String],
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(200) {
            let sql = format!(
                "SELECT asset_id, {other} FROM {table} WHERE asset_id IN ({}) \
                 ORDER BY asset_id, {other}",
                super::placeholders(chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String, String)>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(
                q.fetch_all(&self.pool)
                    .await
                    .map_err(|e| Error::from_sqlx("read items' links", table, e))?,
            );
        }
        Ok(out)
    }

    async fn shares_of(&self, ids: &[String]) -> Result<HashMap<String, Vec<StationId>>> {
        let mut out: HashMap<String, Vec<StationId>> = HashMap::new();
        for (asset, station) in self.per_asset("asset_shares", "station_id", ids).await? {
            out.entry(asset)
                .or_default()
                .push(parse("station id", station)?);
        }
        Ok(out)
    }
}

#[async_trait]
impl ExchangeRepo for SqlRepo {
    async fn get_visible_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        now: OffsetDateTime,
    ) -> Result<Asset> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {ASSET_SELECT} FROM assets a WHERE a.id = $1 AND a.purged_at IS NULL \
             AND {}",
            visible_sql(2, 3, 4)
        ))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read an item", "asset", e))?;
        let mut asset = found(row, asset_from, "asset")?;
        // Only items for selected stations have shares worth a read.
        if asset.visibility != cityx_core::Visibility::Stations {
            return Ok(asset);
        }
        let key = asset.id.to_string();
        asset.shared_with = self
            .shares_of(std::slice::from_ref(&key))
            .await?
            .remove(&key)
            .unwrap_or_default();
        Ok(asset)
    }

    async fn set_rights(
        &self,
        scope: TenantScope,
        id: AssetId,
        rights: &Rights,
        audit: &NewAudit,
    ) -> Result<()> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE assets SET visibility = $1, embargo_until = $2, embargo_hides = $3, \
             licence = $4, updated_at = $5 \
             WHERE id = $6 AND ($7 OR station_id = $8) AND purged_at IS NULL",
        )
        .bind(rights.visibility.as_str())
        .bind(rights.embargo_until.map(ms))
        .bind(i64::from(rights.embargo_hides))
        .bind(&rights.licence)
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("set an item's rights", "asset", e))?
        .rows_affected();
        super::not_found_unless(changed, "asset")?;
        sqlx::query("DELETE FROM asset_shares WHERE asset_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("set an item's rights", "asset", e))?;
        for station in &rights.shared_with {
            let added = sqlx::query(
                "INSERT INTO asset_shares (asset_id, station_id) \
                 SELECT $1, id FROM stations WHERE id = $2",
            )
            .bind(id.to_string())
            .bind(station.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("share an item", "asset", e))?
            .rows_affected();
            super::not_found_unless(added, "station")?;
        }
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn insert_adoption(&self, a: &Adoption, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        // Touching the item first takes its row lock: a withdrawal running at the same time
        // either waits for this adoption (and then tells its station) or wins (and this
        // refuses); and two takes by one station are counted one after the other.
        let live = sqlx::query(
            "UPDATE assets SET updated_at = $1 \
             WHERE id = $2 AND status = 'ready' AND deleted_at IS NULL",
        )
        .bind(ms(a.at))
        .bind(a.asset_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("count an adoption", "asset", e))?
        .rows_affected();
        if live == 0 {
            return Err(Error::WrongState {
                entity: "asset",
                state: "withdrawn".to_owned(),
            });
        }
        // An adoption is a station taking an item: counted at its first take only, however
        // many of the item's files the station downloads after.
        let (earlier,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM adoptions WHERE asset_id = $1 AND station_id = $2",
        )
        .bind(a.asset_id.to_string())
        .bind(a.station_id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("count an adoption", "adoption", e))?;
        let first_take = earlier == 0;
        // The same file taken again by the same station is already in the ledger: its
        // download link is made anew, and nothing is recorded twice.
        let (same,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM adoptions WHERE asset_id = $1 AND station_id = $2 \
             AND rendition = $3",
        )
        .bind(a.asset_id.to_string())
        .bind(a.station_id.to_string())
        .bind(&a.rendition)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("count an adoption", "adoption", e))?;
        if same > 0 {
            return commit(tx).await;
        }
        if first_take {
            sqlx::query("UPDATE assets SET adoption_count = adoption_count + 1 WHERE id = $1")
                .bind(a.asset_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::from_sqlx("count an adoption", "asset", e))?;
        }
        sqlx::query(
            "INSERT INTO adoptions (id, asset_id, asset_title, contributor_id, station_id, \
             user_id, rendition, purpose, at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
        )
        .bind(a.id.to_string())
        .bind(a.asset_id.to_string())
        .bind(&a.asset_title)
        .bind(a.contributor_id.to_string())
        .bind(a.station_id.to_string())
        .bind(a.user_id.to_string())
        .bind(&a.rendition)
        .bind(&a.purpose)
        .bind(ms(a.at))
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("record an adoption", "adoption", e))?;
        write_audit(&mut tx, audit).await?;
        record_event(
            &mut tx,
            &NewEvent {
                kind: EventKind::AdoptionCreated,
                asset_id: Some(a.asset_id),
                station_id: a.station_id,
                audience: Some(a.contributor_id),
                data: serde_json::json!({
                    "adoption_id": a.id, "title": a.asset_title, "rendition": a.rendition,
                    "station_name": a.station_name, "first_take": first_take,
                }),
                at: a.at,
            },
        )
        .await?;
        commit(tx).await
    }

    async fn list_adoptions(
        &self,
        scope: TenantScope,
        f: &AdoptionFilter,
        req: &PageRequest,
    ) -> Result<Page<Adoption>> {
        let (all, own) = scope_args(scope);
        let rows = sqlx::query(&format!(
            "SELECT {ADOPTION_COLS} FROM adoptions d \
             JOIN stations c ON c.id = d.contributor_id JOIN stations s ON s.id = d.station_id \
             JOIN assets a ON a.id = d.asset_id \
             WHERE ($1 OR d.contributor_id = $2 OR d.station_id = $2) \
             AND ($3 IS NULL OR d.contributor_id = $3) AND ($4 IS NULL OR d.station_id = $4) \
             AND ($5 IS NULL OR d.asset_id = $5) AND ($6 IS NULL OR d.id < $6) \
             ORDER BY d.id DESC LIMIT $7"
        ))
        .bind(all)
        .bind(own)
        .bind(f.contributor.map(|s| s.to_string()))
        .bind(f.station.map(|s| s.to_string()))
        .bind(f.asset.map(|s| s.to_string()))
        .bind(req.after.map(|u| u.to_string()))
        .bind(i64::from(req.limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list adoptions", "adoption", e))?;
        let items = rows.iter().map(adoption_from).collect::<Result<Vec<_>>>()?;
        Ok(page(items, req, |a| a.id.0))
    }

    async fn changed_assets(
        &self,
        since: (OffsetDateTime, Option<AssetId>),
        limit: u32,
    ) -> Result<Vec<CatalogueRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {cols}, a.purged_at, st.name AS station_name, st.city AS station_city, \
             st.province AS station_province FROM assets a JOIN stations st ON st.id = a.station_id \
             WHERE a.updated_at > $1 OR (a.updated_at = $1 AND a.id > $2) \
             ORDER BY a.updated_at, a.id LIMIT $3",
            cols = ASSET_SELECT
                .split(", ")
                .map(|c| format!("a.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(ms(since.0))
        .bind(since.1.map(|i| i.to_string()).unwrap_or_default())
        .bind(i64::from(limit.clamp(1, 1000)))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read changed items", "asset", e))?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(CatalogueRow {
                    asset: asset_from(r)?,
                    station_name: get(r, "station_name")?,
                    station_city: get(r, "station_city")?,
                    province: get(r, "station_province")?,
                    purged: get::<Option<i64>>(r, "purged_at")?.is_some(),
                    zones: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let shared: Vec<String> = out
            .iter()
            .filter(|r| r.asset.visibility == cityx_core::Visibility::Stations)
            .map(|r| r.asset.id.to_string())
            .collect();
        if !shared.is_empty() {
            let mut shares = self.shares_of(&shared).await?;
            for r in &mut out {
                if let Some(s) = shares.remove(&r.asset.id.to_string()) {
                    r.asset.shared_with = s;
                }
            }
        }
        let ids: Vec<String> = out.iter().map(|r| r.asset.id.to_string()).collect();
        let at: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        for (asset, zone) in self.per_asset("zone_items", "zone_id", &ids).await? {
            if let Some(&i) = at.get(asset.as_str()) {
                out[i].zones.push(parse("zone id", zone)?);
            }
        }
        Ok(out)
    }
}
