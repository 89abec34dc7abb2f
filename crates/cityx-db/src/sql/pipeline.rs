//! The media pipeline's writes: technical data with the jobs that follow, the playlist to
//! play, what processing made, failures. Every write proves the job's lease first
//! ([`fence`]), in the same transaction.

use super::SqlRepo;
use super::jobs::fence;
use super::rows::{ms, parse};
use crate::model::{ClaimedJob, NewJob, Processed};
use crate::{Error, Result};
use async_trait::async_trait;
use cityx_core::AssetId;

/// The media pipeline's writes: each fenced by the job's lease, so that a worker whose lease
/// passed to another writes nothing.
#[async_trait]
pub trait PipelineRepo: Send + Sync {
    /// Records a probe's findings on the job's asset and enqueues the jobs that follow (a kind
    /// the asset already has a job of is not enqueued again), in one transaction. Writes
    /// from jobs are fenced: false, and nothing written, when the lease is no longer ours.
    async fn record_technical(
        &self,
        job: &ClaimedJob,
        technical_json: &str,
        next: &[NewJob],
    ) -> Result<bool>;
    /// Sets the playlist to play; with `only_first`, only when none is set yet (the fast
    /// path never replaces the ladder). Fenced.
    async fn set_playback(
        &self,
        job: &ClaimedJob,
        playback: &str,
        only_first: bool,
    ) -> Result<bool>;
    /// Records what the pipeline made and ends processing: `ready`, or `rejected` with a
    /// reason when the technical check failed. Fenced.
    async fn finish_processing(&self, job: &ClaimedJob, done: &Processed) -> Result<bool>;
    /// Marks an asset failed with a reason its uploader will read.
    async fn fail_asset(&self, asset: AssetId, reason: &str) -> Result<()>;
}

#[async_trait]
impl PipelineRepo for SqlRepo {
    async fn record_technical(
        &self,
        job: &ClaimedJob,
        technical_json: &str,
        next: &[NewJob],
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let Some(asset) = fence(&mut tx, job).await? else {
            return Ok(false);
        };
        sqlx::query("UPDATE assets SET technical = $1, updated_at = $2 WHERE id = $3")
            .bind(technical_json)
            .bind(ms(cityx_core::now()))
            .bind(asset.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("record technical metadata", "asset", e))?;
        for n in next {
            let exists: Option<String> =
                sqlx::query_scalar(
                    "SELECT id FROM jobs WHERE subject_type = 'asset' AND subject_id = $1 AND kind = $2",
                )
                    .bind(asset.to_string())
                    .bind(n.kind)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| Error::from_sqlx("look for a job", "job", e))?;
            if exists.is_none() {
                super::jobs::insert_job(&mut *tx, n).await?;
            }
        }
        super::commit(tx).await.map(|()| true)
    }

    async fn set_playback(
        &self,
        job: &ClaimedJob,
        playback: &str,
        only_first: bool,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let Some(asset) = fence(&mut tx, job).await? else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE assets SET playback = $1, updated_at = $2 WHERE id = $3 \
             AND (playback IS NULL OR NOT $4)",
        )
        .bind(playback)
        .bind(ms(cityx_core::now()))
        .bind(asset.to_string())
        .bind(only_first)
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("set the playlist to play", "asset", e))?;
        super::commit(tx).await.map(|()| true)
    }

    async fn finish_processing(&self, job: &ClaimedJob, done: &Processed) -> Result<bool> {
        let mut tx = self.begin().await?;
        let Some(asset) = fence(&mut tx, job).await? else {
            return Ok(false);
        };
        let (status, station, title, copy_of): (String, String, String, Option<String>) =
            sqlx::query_as(
                "SELECT status, station_id, title, duplicate_of FROM assets WHERE id = $1",
            )
            .bind(asset.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| Error::from_sqlx("read an item", "asset", e))?;
        let published = status == "processing" && done.rejection.is_none();
        // Only an item still processing changes state: one withdrawn meanwhile stays so.
        sqlx::query(
            "UPDATE assets SET playback = $1, derived = $2, qc = $3, qc_verdict = $4, \
             status = CASE WHEN status = 'processing' THEN $5 ELSE status END, \
             failure = CASE WHEN status = 'processing' THEN $6 ELSE failure END, updated_at = $7 \
             WHERE id = $8",
        )
        .bind(&done.playback)
        .bind(&done.derived_json)
        .bind(&done.qc_json)
        .bind(&done.qc_verdict)
        .bind(if done.rejection.is_some() {
            "rejected"
        } else {
            "ready"
        })
        .bind(done.rejection.as_deref())
        .bind(ms(cityx_core::now()))
        .bind(asset.to_string())
        .execute(&mut *tx)
        .await
        .map_err(|e| Error::from_sqlx("record what processing made", "asset", e))?;
        if published {
            super::events::record_event(
                &mut tx,
                &cityx_core::NewEvent {
                    kind: cityx_core::EventKind::ItemPublished,
                    asset_id: Some(asset),
                    station_id: parse("station id", station)?,
                    audience: None,
                    data: match copy_of {
                        Some(earlier) => serde_json::json!({ "title": title, "copy_of": earlier }),
                        None => serde_json::json!({ "title": title }),
                    },
                    at: cityx_core::now(),
                },
            )
            .await?;
        }
        super::commit(tx).await.map(|()| true)
    }

    async fn fail_asset(&self, asset: AssetId, reason: &str) -> Result<()> {
        sqlx::query(
            "UPDATE assets SET status = 'failed', failure = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(reason)
        .bind(ms(cityx_core::now()))
        .bind(asset.to_string())
        .execute(&self.pool)
        .await
        .map_err(|e| Error::from_sqlx("mark an asset failed", "asset", e))?;
        Ok(())
    }
}
