//! Assets, uploads and the jobs they start.

use super::jobs::insert_job;
use super::rows::{
    ASSET_COLS, ASSET_SELECT, asset_from, bytes_i64, ms, parse, parse_opt, scope_args, upload_from,
};
use super::{SqlRepo, commit, found, not_found_unless, write_audit};
use crate::model::{
    ClaimedJob, CompletedUpload, JobSummary, NewJob, StationLimits, UploadProgress,
};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::{Asset, AssetId, NewAudit, StationId, TenantScope, Upload, UploadId, UploadState};
use sqlx::{Any, Transaction};
use time::OffsetDateTime;

#[async_trait]
pub trait IngestRepo: Send + Sync {
    /// Sets a station's own quota in bytes (`None`: the installation's default).
    async fn set_quota(
        &self,
        id: StationId,
        quota_bytes: Option<u64>,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Bytes a station holds or has reserved: stored masters plus announced uploads.
    async fn quota_used(&self, id: StationId) -> Result<u64>;
    /// A station's own quota in bytes; `None` when it has none (the default applies).
    async fn quota_of(&self, id: StationId) -> Result<Option<u64>>;
    /// How many of a station's uploads are still active (neither finished nor ended).
    async fn active_upload_count(&self, id: StationId) -> Result<u64>;
    /// Creates an asset (`uploading`) and its upload in one transaction, reserving the
    /// upload's length against the station's quota ([`Error::QuotaExceeded`]) while the
    /// station has fewer unfinished uploads than the limit ([`Error::TooManyUploads`]).
    async fn create_upload(
        &self,
        asset: &Asset,
        upload: &Upload,
        progress: &UploadProgress,
        limits: &StationLimits,
        audit: &NewAudit,
    ) -> Result<()>;
    async fn get_upload(&self, scope: TenantScope, id: UploadId) -> Result<Upload>;
    /// Gives an active upload's write lease to `writer` until `until`, unless another
    /// writer's lease still runs at `now`; returns the upload's offset and saved progress,
    /// or `None` when the upload is locked (or no longer active).
    async fn lease_upload(
        &self,
        id: UploadId,
        writer: &str,
        now: time::OffsetDateTime,
        until: time::OffsetDateTime,
    ) -> Result<Option<(u64, UploadProgress)>>;
    /// Extends `writer`'s lease; false when it is no longer theirs.
    async fn renew_upload_lease(
        &self,
        id: UploadId,
        writer: &str,
        until: time::OffsetDateTime,
    ) -> Result<bool>;
    /// Ends `writer`'s lease (nothing happens when it is not theirs).
    async fn release_upload_lease(&self, id: UploadId, writer: &str) -> Result<()>;
    /// Records a new durable offset and the progress saved with it, if the stored offset
    /// is still `from` and `writer` still holds the lease; false otherwise.
    async fn advance_upload(
        &self,
        id: UploadId,
        writer: &str,
        from: u64,
        to: u64,
        expires_at: time::OffsetDateTime,
        progress: &UploadProgress,
    ) -> Result<bool>;
    /// Finishes an upload: the asset moves to `processing` with its hashes and the first job
    /// is enqueued, in one transaction; or, with [`CompletedUpload::rejected`], it is
    /// rejected and deleted with no job. Finishing a finished upload changes nothing.
    async fn complete_upload(
        &self,
        id: UploadId,
        done: &CompletedUpload,
        job: &NewJob,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Creates an item (`uploading`) whose master a job fetches or makes (an import from its
    /// `source_url`, a live clip), with the job in the same transaction, when the station has fewer unfinished items than the limit
    /// ([`Error::TooManyUploads`]; uploads, imports and made items count alike).
    async fn create_import(
        &self,
        asset: &Asset,
        job: &NewJob,
        limits: &StationLimits,
        audit: &NewAudit,
    ) -> Result<()>;
    /// Records a fetched master like a finished upload, after checking that the station's
    /// quota takes `size` more bytes ([`Error::QuotaExceeded`]). Fenced by the import job's
    /// lease: false, and nothing written, when the lease is no longer ours.
    async fn complete_import(
        &self,
        job: &ClaimedJob,
        done: &CompletedUpload,
        size: u64,
        limits: &StationLimits,
        next: &NewJob,
        audit: &NewAudit,
    ) -> Result<bool>;
    /// Ends an active upload (terminated or expired): its asset is removed and its
    /// reservation released. Returns the upload as it was.
    async fn end_upload(
        &self,
        scope: TenantScope,
        id: UploadId,
        state: UploadState,
        audit: &NewAudit,
    ) -> Result<Upload>;
    /// Active uploads whose expiry has passed.
    async fn expired_uploads(&self, now: time::OffsetDateTime) -> Result<Vec<Upload>>;
    /// Active uploads that received every byte but were not finished (a crash in between).
    async fn unfinished_uploads(&self) -> Result<Vec<Upload>>;
    async fn get_asset(&self, scope: TenantScope, id: AssetId) -> Result<Asset>;
    /// Items of the caller's station (the hub: of any, or of `filter.station`), deleted ones
    /// too until they are purged, newest first.
    async fn list_assets(
        &self,
        scope: TenantScope,
        filter: &crate::AssetFilter,
        page: &crate::PageRequest,
    ) -> Result<crate::Page<Asset>>;
    /// The jobs of an asset, oldest first.
    async fn jobs_of_asset(&self, id: AssetId) -> Result<Vec<JobSummary>>;
    /// Another live asset (processing or ready, not deleted) with this SHA-256, anywhere in
    /// the exchange.
    async fn find_by_sha256(&self, sha256: &str, other_than: AssetId) -> Result<Option<AssetId>>;
    /// Deletes an asset: it is marked deleted now and purged after `purge_after`. Deleting a
    /// deleted asset changes nothing; an asset still uploading (not an import) is
    /// [`Error::WrongState`] (terminate its upload instead). Returns the asset as it now is.
    async fn delete_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        purge_after: time::OffsetDateTime,
        audit: &NewAudit,
    ) -> Result<Asset>;
    /// Undoes a deletion that has not been purged yet.
    async fn restore_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        audit: &NewAudit,
    ) -> Result<Asset>;
    /// Deleted assets whose grace period has passed and whose objects are still there.
    async fn assets_to_purge(
        &self,
        now: time::OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(AssetId, StationId)>>;
    /// Readies a purge: the asset's waiting jobs (and running ones whose lease has passed)
    /// end dead. False, and nothing changed, while a job still holds a live lease.
    async fn prepare_purge(&self, id: AssetId, now: time::OffsetDateTime) -> Result<bool>;
    /// Records that a deleted asset's objects are gone: it disappears and its bytes stop
    /// counting against the station's quota.
    async fn finish_purge(&self, id: AssetId, audit: &NewAudit) -> Result<()>;
}

const UPLOAD_COLS: &str = "id, asset_id, station_id, user_id, length, offset_bytes, metadata, \
                           state, expires_at, created_at";

/// Bytes a station holds or has reserved, read inside the caller's transaction. (The casts:
/// PostgreSQL sums BIGINTs as NUMERIC.)
async fn used_bytes(tx: &mut Transaction<'static, Any>, station: StationId) -> Result<u64> {
    let (reserved, stored): (i64, i64) = sqlx::query_as(
        "SELECT \
           (SELECT CAST(COALESCE(SUM(length), 0) AS BIGINT) FROM uploads \
             WHERE station_id = $1 AND state = 'active'), \
           (SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM assets \
             WHERE station_id = $1 AND status <> 'uploading' AND purged_at IS NULL)",
    )
    .bind(station.to_string())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("sum a station's bytes", "station", e))?;
    Ok(u64::try_from(reserved.max(0) + stored.max(0)).unwrap_or_default())
}

/// A station's unfinished items: uploads, imports and items a job is making (a live clip),
/// all `uploading` until their master has arrived.
async fn active_uploads(tx: &mut Transaction<'static, Any>, station: StationId) -> Result<u64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM assets WHERE station_id = $1 AND status = 'uploading' \
         AND deleted_at IS NULL",
    )
    .bind(station.to_string())
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("count a station's uploads", "upload", e))?;
    Ok(u64::try_from(n).unwrap_or_default())
}

/// Checks that a station can take `more` bytes under its own quota or the default, holding
/// its row (a row lock on PostgreSQL, the write lock on SQLite) so that concurrent
/// reservations are serialised.
async fn reserve(
    tx: &mut Transaction<'static, Any>,
    station: StationId,
    more: u64,
    limits: &StationLimits,
) -> Result<()> {
    super::hold_row(tx, "stations", &station.to_string(), "station").await?;
    let quota: Option<i64> = sqlx::query_scalar("SELECT quota_bytes FROM stations WHERE id = $1")
        .bind(station.to_string())
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| Error::from_sqlx("read a quota", "station", e))?;
    let own = quota.and_then(|q| u64::try_from(q).ok());
    if let Some(quota) = own.or(limits.default_quota) {
        let used = used_bytes(tx, station).await?;
        if used.saturating_add(more) > quota {
            return Err(Error::QuotaExceeded {
                quota,
                used,
                requested: more,
            });
        }
    }
    Ok(())
}

async fn insert_asset(tx: &mut Transaction<'static, Any>, a: &Asset) -> Result<()> {
    let m = &a.meta;
    sqlx::query(&format!(
        "INSERT INTO assets ({ASSET_COLS}, visibility) VALUES \
         ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)"
    ))
    .bind(a.id.to_string())
    .bind(a.station_id.to_string())
    .bind(a.uploader_id.to_string())
    .bind(a.status.as_str())
    .bind(&m.filename)
    .bind(&m.title)
    .bind(&m.summary)
    .bind(&m.script)
    .bind(m.keywords.join("\n"))
    .bind(&m.category)
    .bind(&m.city)
    .bind(&m.shot_date)
    .bind(&m.copyright)
    .bind(&m.licence)
    .bind(m.embargo_until.map(ms))
    .bind(bytes_i64(a.size_bytes))
    .bind(&a.sha256)
    .bind(&a.md5)
    .bind(a.duplicate_of.map(|d| d.to_string()))
    .bind(&a.failure)
    .bind(&a.source_url)
    .bind(ms(a.created_at))
    .bind(ms(a.updated_at))
    .bind(a.visibility.as_str())
    .execute(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("insert an asset", "asset", e))?;
    Ok(())
}

/// A whole master has arrived (upload or import): the asset moves to `processing` with its
/// hashes and size and its first job is enqueued; or it is rejected and deleted, with none.
async fn record_arrival(
    tx: &mut Transaction<'static, Any>,
    asset: AssetId,
    done: &CompletedUpload,
    size: u64,
    job: &NewJob,
) -> Result<()> {
    let at = ms(done.completed_at);
    let rejected = done.rejected.as_ref();
    sqlx::query(
        "UPDATE assets SET status = $1, sha256 = $2, md5 = $3, duplicate_of = $4, \
         size_bytes = $5, failure = $6, deleted_at = $7, purge_after = $8, updated_at = $9 \
         WHERE id = $10",
    )
    .bind(if rejected.is_some() {
        "rejected"
    } else {
        "processing"
    })
    .bind(&done.sha256)
    .bind(&done.md5)
    .bind(done.duplicate_of.map(|d| d.to_string()))
    .bind(bytes_i64(size))
    .bind(rejected.map(|r| r.failure.as_str()))
    .bind(rejected.map(|_| at))
    .bind(rejected.map(|r| ms(r.purge_after)))
    .bind(at)
    .bind(asset.to_string())
    .execute(&mut **tx)
    .await
    .map_err(|e| Error::from_sqlx("update an asset", "asset", e))?;
    if rejected.is_none() {
        insert_job(&mut **tx, job).await?;
    }
    Ok(())
}

#[async_trait]
impl IngestRepo for SqlRepo {
    async fn set_quota(&self, id: StationId, quota: Option<u64>, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE stations SET quota_bytes = $1, updated_at = $2 WHERE id = $3")
                .bind(quota.map(bytes_i64))
                .bind(ms(cityx_core::now()))
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(|e| Error::from_sqlx("set a quota", "station", e))?;
        not_found_unless(done.rows_affected(), "station")?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn quota_used(&self, id: StationId) -> Result<u64> {
        let mut tx = self.begin().await?;
        let used = used_bytes(&mut tx, id).await?;
        commit(tx).await?;
        Ok(used)
    }

    async fn active_upload_count(&self, id: StationId) -> Result<u64> {
        let mut tx = self.begin().await?;
        let n = active_uploads(&mut tx, id).await?;
        commit(tx).await?;
        Ok(n)
    }

    async fn quota_of(&self, id: StationId) -> Result<Option<u64>> {
        let quota: Option<Option<i64>> =
            sqlx::query_scalar("SELECT quota_bytes FROM stations WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| Error::from_sqlx("read a quota", "station", e))?;
        let quota = quota.ok_or(Error::NotFound { entity: "station" })?;
        Ok(quota.and_then(|q| u64::try_from(q).ok()))
    }

    async fn create_upload(
        &self,
        a: &Asset,
        u: &Upload,
        progress: &UploadProgress,
        limits: &StationLimits,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        // The station's row is held from here: concurrent creations count one at a time.
        reserve(&mut tx, u.station_id, u.length, limits).await?;
        let max = limits.max_unfinished;
        if max > 0 && active_uploads(&mut tx, u.station_id).await? >= max {
            return Err(Error::TooManyUploads { limit: max });
        }
        insert_asset(&mut tx, a).await?;
        sqlx::query(&format!(
            "INSERT INTO uploads ({UPLOAD_COLS}, updated_at, hashes, spool) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10,$11,$12)"
        ))
        .bind(u.id.to_string())
        .bind(u.asset_id.to_string())
        .bind(u.station_id.to_string())
        .bind(u.user_id.to_string())
        .bind(bytes_i64(u.length))
        .bind(bytes_i64(u.offset))
        .bind(&u.metadata)
        .bind(u.state.as_str())
        .bind(ms(u.expires_at))
        .bind(ms(u.created_at))
        .bind(progress.hashes.as_deref())
        .bind(progress.spool.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("insert an upload", "upload", e))?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn get_upload(&self, scope: TenantScope, id: UploadId) -> Result<Upload> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1 AND ($2 OR station_id = $3)"
        ))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read an upload", "upload", e))?;
        found(row, upload_from, "upload")
    }

    async fn lease_upload(
        &self,
        id: UploadId,
        writer: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<Option<(u64, UploadProgress)>> {
        let row = sqlx::query(
            "UPDATE uploads SET writer = $1, writer_until = $2 \
             WHERE id = $3 AND state = 'active' AND (writer_until IS NULL OR writer_until <= $4) \
             RETURNING offset_bytes, hashes, spool",
        )
        .bind(writer)
        .bind(ms(until))
        .bind(id.to_string())
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("lease an upload", "upload", e))?;
        row.map(|r| {
            use sqlx::Row;
            let read = |e| Error::from_sqlx("read an upload", "upload", e);
            let offset: i64 = r.try_get("offset_bytes").map_err(read)?;
            let progress = UploadProgress {
                hashes: r.try_get("hashes").map_err(read)?,
                spool: r.try_get("spool").map_err(read)?,
            };
            Ok((u64::try_from(offset).unwrap_or(0), progress))
        })
        .transpose()
    }

    async fn renew_upload_lease(
        &self,
        id: UploadId,
        writer: &str,
        until: OffsetDateTime,
    ) -> Result<bool> {
        let done =
            sqlx::query("UPDATE uploads SET writer_until = $1 WHERE id = $2 AND writer = $3")
                .bind(ms(until))
                .bind(id.to_string())
                .bind(writer)
                .execute(&self.pool)
                .await
                .map_err(|e| Error::from_sqlx("renew an upload lease", "upload", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_upload_lease(&self, id: UploadId, writer: &str) -> Result<()> {
        sqlx::query(
            "UPDATE uploads SET writer = NULL, writer_until = NULL WHERE id = $1 AND writer = $2",
        )
        .bind(id.to_string())
        .bind(writer)
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("release an upload lease", "upload", e))?;
        Ok(())
    }

    async fn advance_upload(
        &self,
        id: UploadId,
        writer: &str,
        from: u64,
        to: u64,
        expires_at: OffsetDateTime,
        progress: &UploadProgress,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE uploads SET offset_bytes = $1, expires_at = $2, updated_at = $3, \
             hashes = $4, spool = $5 \
             WHERE id = $6 AND offset_bytes = $7 AND state = 'active' AND writer = $8",
        )
        .bind(bytes_i64(to))
        .bind(ms(expires_at))
        .bind(ms(cityx_core::now()))
        .bind(progress.hashes.as_deref())
        .bind(progress.spool.as_deref())
        .bind(id.to_string())
        .bind(bytes_i64(from))
        .bind(writer)
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("record an upload offset", "upload", e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_upload(
        &self,
        id: UploadId,
        done: &CompletedUpload,
        job: &NewJob,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1 AND state = 'active' AND offset_bytes = length"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("read an upload", "upload", e))?;
        let Some(u) = row.map(|r| upload_from(&r)).transpose()? else {
            // Finished before (a retry after a crash), or not complete: nothing to do.
            return Ok(());
        };
        let at = ms(done.completed_at);
        sqlx::query("UPDATE uploads SET state = 'completed', updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("complete an upload", "upload", e))?;
        record_arrival(&mut tx, u.asset_id, done, u.length, job).await?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn create_import(
        &self,
        asset: &Asset,
        job: &NewJob,
        limits: &StationLimits,
        audit: &NewAudit,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        super::hold_row(
            &mut tx,
            "stations",
            &asset.station_id.to_string(),
            "station",
        )
        .await?;
        let max = limits.max_unfinished;
        if max > 0 && active_uploads(&mut tx, asset.station_id).await? >= max {
            return Err(Error::TooManyUploads { limit: max });
        }
        insert_asset(&mut tx, asset).await?;
        insert_job(&mut *tx, job).await?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn complete_import(
        &self,
        job: &ClaimedJob,
        done: &CompletedUpload,
        size: u64,
        limits: &StationLimits,
        next: &NewJob,
        audit: &NewAudit,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let Some(asset) = super::jobs::fence(&mut tx, job).await? else {
            return Ok(false);
        };
        let station: Option<String> = sqlx::query_scalar(
            "SELECT station_id FROM assets WHERE id = $1 AND status = 'uploading' \
             AND deleted_at IS NULL",
        )
        .bind(asset.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("read an asset", "asset", e))?;
        let Some(station) = station else {
            // Recorded before (the lease passed on after the write), or deleted meanwhile:
            // nothing more to do.
            commit(tx).await?;
            return Ok(true);
        };
        let station: StationId = parse("station id", station)?;
        reserve(&mut tx, station, size, limits).await?;
        record_arrival(&mut tx, asset, done, size, next).await?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn end_upload(
        &self,
        scope: TenantScope,
        id: UploadId,
        state: UploadState,
        audit: &NewAudit,
    ) -> Result<Upload> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE id = $1 AND ($2 OR station_id = $3)"
        ))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("read an upload", "upload", e))?;
        let u = found(row, upload_from, "upload")?;
        if u.state != UploadState::Active {
            return Ok(u);
        }
        sqlx::query("UPDATE uploads SET state = $1, updated_at = $2 WHERE id = $3")
            .bind(state.as_str())
            .bind(ms(cityx_core::now()))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("end an upload", "upload", e))?;
        sqlx::query("DELETE FROM assets WHERE id = $1 AND status = 'uploading'")
            .bind(u.asset_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("remove an unfinished asset", "asset", e))?;
        write_audit(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(u)
    }

    async fn expired_uploads(&self, now: OffsetDateTime) -> Result<Vec<Upload>> {
        let rows = sqlx::query(&format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE state = 'active' AND expires_at <= $1 ORDER BY id LIMIT 1000"
        ))
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list expired uploads", "upload", e))?;
        rows.iter().map(upload_from).collect()
    }

    async fn unfinished_uploads(&self) -> Result<Vec<Upload>> {
        let rows = sqlx::query(&format!(
            "SELECT {UPLOAD_COLS} FROM uploads WHERE state = 'active' AND offset_bytes = length ORDER BY id LIMIT 1000"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list unfinished uploads", "upload", e))?;
        rows.iter().map(upload_from).collect()
    }

    async fn get_asset(&self, scope: TenantScope, id: AssetId) -> Result<Asset> {
        let (all, own) = scope_args(scope);
        let row = sqlx::query(&format!(
            "SELECT {ASSET_SELECT} \
             FROM assets WHERE id = $1 AND ($2 OR station_id = $3) AND purged_at IS NULL"
        ))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("read an asset", "asset", e))?;
        found(row, asset_from, "asset")
    }

    async fn list_assets(
        &self,
        scope: TenantScope,
        f: &crate::AssetFilter,
        req: &crate::PageRequest,
    ) -> Result<crate::Page<Asset>> {
        use crate::LibraryState;
        let (all, own) = scope_args(scope);
        let (status, deleted) = match f.state {
            None => (None, None),
            Some(LibraryState::Deleted) => (None, Some(true)),
            Some(LibraryState::Status(s)) => (Some(s.as_str()), Some(false)),
        };
        // The title's words as a LIKE pattern, its wildcards taken literally.
        let title = f.title.as_deref().filter(|t| !t.is_empty()).map(|t| {
            let escaped = t
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let rows = sqlx::query(&format!(
            "SELECT {ASSET_SELECT} FROM assets WHERE purged_at IS NULL \
             AND ($1 OR station_id = $2) AND ($3 IS NULL OR station_id = $3) \
             AND ($4 IS NULL OR status = $4) \
             AND ($5 IS NULL OR (deleted_at IS NOT NULL) = $5) \
             AND ($6 IS NULL OR title LIKE $6 ESCAPE '\\') \
             AND ($7 IS NULL OR id < $7) ORDER BY id DESC LIMIT $8"
        ))
        .bind(all)
        .bind(own)
        .bind(f.station.map(|s| s.to_string()))
        .bind(status)
        .bind(deleted)
        .bind(title)
        .bind(req.after.map(|u| u.to_string()))
        .bind(i64::from(req.limit) + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list a station's items", "asset", e))?;
        let items = rows.iter().map(asset_from).collect::<Result<Vec<_>>>()?;
        Ok(super::page(items, req, |a| a.id.0))
    }

    async fn jobs_of_asset(&self, id: AssetId) -> Result<Vec<crate::JobSummary>> {
        let rows: Vec<super::jobs::SummaryRow> = sqlx::query_as(&format!(
            "SELECT {} FROM jobs WHERE subject_type = 'asset' AND subject_id = $1 ORDER BY id",
            super::jobs::SUMMARY_COLS
        ))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list an asset's jobs", "job", e))?;
        Ok(rows.into_iter().map(super::jobs::summary).collect())
    }

    async fn find_by_sha256(&self, sha256: &str, other_than: AssetId) -> Result<Option<AssetId>> {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT id FROM assets WHERE sha256 = $1 AND id <> $2 \
             AND status IN ('processing', 'ready') AND deleted_at IS NULL ORDER BY id LIMIT 1",
        )
        .bind(sha256)
        .bind(other_than.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("look up a hash", "asset", e))?;
        parse_opt("asset id", id)
    }

    async fn delete_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        purge_after: OffsetDateTime,
        audit: &NewAudit,
    ) -> Result<Asset> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let row: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT status, deleted_at, source_url FROM assets \
             WHERE id = $1 AND ($2 OR station_id = $3) AND purged_at IS NULL",
        )
        .bind(id.to_string())
        .bind(all)
        .bind(own.clone())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("read an asset", "asset", e))?;
        let (status, deleted_at, source) = row.ok_or(Error::NotFound { entity: "asset" })?;
        // An upload is ended by terminating it; an import can be deleted while it runs.
        if status == "uploading" && source.is_none() {
            return Err(Error::WrongState {
                entity: "asset",
                state: status,
            });
        }
        if deleted_at.is_none() {
            let now = ms(cityx_core::now());
            sqlx::query(
                "UPDATE assets SET deleted_at = $1, purge_after = $2, updated_at = $1 WHERE id = $3",
            )
            .bind(now)
            .bind(ms(purge_after))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("delete an asset", "asset", e))?;
            write_audit(&mut tx, audit).await?;
        }
        commit(tx).await?;
        self.get_asset(scope, id).await
    }

    async fn restore_asset(
        &self,
        scope: TenantScope,
        id: AssetId,
        audit: &NewAudit,
    ) -> Result<Asset> {
        let (all, own) = scope_args(scope);
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE assets SET deleted_at = NULL, purge_after = NULL, updated_at = $1 \
             WHERE id = $2 AND ($3 OR station_id = $4) AND purged_at IS NULL \
             AND deleted_at IS NOT NULL",
        )
        .bind(ms(cityx_core::now()))
        .bind(id.to_string())
        .bind(all)
        .bind(own)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("restore an asset", "asset", e))?;
        if done.rows_affected() == 1 {
            write_audit(&mut tx, audit).await?;
        }
        commit(tx).await?;
        // Not deleted, not visible, or purged: get_asset tells which.
        self.get_asset(scope, id).await
    }

    async fn assets_to_purge(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<(AssetId, StationId)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, station_id FROM assets WHERE purged_at IS NULL AND purge_after <= $1 \
             ORDER BY purge_after, id LIMIT $2",
        )
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("list assets to purge", "asset", e))?;
        rows.into_iter()
            .map(|(a, s)| Ok((parse("asset id", a)?, parse("station id", s)?)))
            .collect()
    }

    async fn prepare_purge(&self, id: AssetId, now: OffsetDateTime) -> Result<bool> {
        let mut tx = self.begin().await?;
        let now = ms(now);
        sqlx::query(
            "UPDATE jobs SET state = 'dead', last_error = 'the item was deleted', \
             lease_owner = NULL, updated_at = $1 \
             WHERE subject_type = 'asset' AND subject_id = $2 \
             AND (state = 'queued' OR (state = 'running' AND lease_until < $1))",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("end a deleted asset's jobs", "job", e))?;
        let running: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE subject_type = 'asset' AND subject_id = $1 \
             AND state = 'running'",
        )
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("count an asset's running jobs", "job", e))?;
        if running > 0 {
            // Keep the jobs as they were; the next round tries again.
            tx.rollback()
                .await
                .map_err(|e| Error::from_sqlx("roll back", "job", e))?;
            return Ok(false);
        }
        commit(tx).await?;
        Ok(true)
    }

    async fn finish_purge(&self, id: AssetId, audit: &NewAudit) -> Result<()> {
        let mut tx = self.begin().await?;
        let now = ms(cityx_core::now());
        let done = sqlx::query(
            "UPDATE assets SET purged_at = $1, playback = NULL, updated_at = $1 \
             WHERE id = $2 AND purged_at IS NULL AND deleted_at IS NOT NULL",
        )
        .bind(now)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("record a purge", "asset", e))?;
        if done.rows_affected() == 1 {
            write_audit(&mut tx, audit).await?;
        }
        commit(tx).await
    }
}
