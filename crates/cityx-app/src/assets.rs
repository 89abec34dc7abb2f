//! Items once uploaded: reading one, deleting it (it leaves the catalogue at once and can be
//! restored during a grace period), and purging deleted items, which removes their objects
//! and releases their quota.

use crate::{Error, Ingest, Result};
use cityx_core::{Actor, Asset, AssetId, AuditAction, NewAudit, policy};
use cityx_db::JobSummary;
use cityx_storage::StorageKey;

/// Deleted items purged per round of the `tidy` task.
const PURGE_BATCH: u32 = 100;

/// An asset as its page and the API show it.
#[derive(Clone, Debug, PartialEq)]
pub struct AssetView {
    pub asset: Asset,
    pub jobs: Vec<JobSummary>,
}

impl Ingest<'_> {
    /// An asset the caller may see, with its jobs.
    pub async fn get_asset(&self, actor: &Actor, id: AssetId) -> Result<AssetView> {
        policy::read(actor)?;
        let scope = actor.tenant_scope();
        let read = || {
            self.exchange
                .get_visible_asset(scope, id, cityx_core::now())
        };
        let mut asset = read().await?;
        // Jobs are the contributor's and the hub's business.
        let mut jobs = Vec::new();
        if scope.admits(Some(asset.station_id)) {
            jobs = self.ingest.jobs_of_asset(id).await?;
            // A job that ends marks its item first and records its own outcome second. Read
            // in the other order, the item may still say `processing` beside a job that has
            // just gone dead; a second look after the jobs shows the item's word on it.
            if asset.status == cityx_core::AssetStatus::Processing {
                asset = read().await?;
            }
        }
        // The earlier copy found at upload may be another station's private item: it is
        // named only to those who may see it (`/related` lists the copies each reader may
        // see).
        if let Some(earlier) = asset.duplicate_of {
            let seen = self
                .exchange
                .get_visible_asset(scope, earlier, cityx_core::now())
                .await;
            match seen {
                Ok(_) => {}
                Err(e) if e.is_not_found() => asset.duplicate_of = None,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(AssetView { asset, jobs })
    }

    /// The caller's station's own items (the library, 我的素材), in every state, deleted
    /// ones until they are purged, newest first; the hub lists any station's.
    pub async fn library(
        &self,
        actor: &Actor,
        filter: &cityx_db::AssetFilter,
        page: &cityx_db::PageRequest,
    ) -> Result<cityx_db::Page<Asset>> {
        policy::read(actor)?;
        Ok(self
            .ingest
            .list_assets(actor.tenant_scope(), filter, page)
            .await?)
    }

    /// Deletes an item: hidden from the exchange now, its files removed and its quota
    /// released after the grace period. Deleting it again changes nothing.
    pub async fn delete_asset(&self, actor: &Actor, id: AssetId) -> Result<Asset> {
        policy::manage_items(actor)?;
        let audit = self
            .item_audit(actor, AuditAction::AssetDeleted, id)
            .await?;
        let purge_after = self.purge_time_from_now();
        let when = purge_after
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let audit = audit.detail("purge_after", when);
        Ok(self
            .ingest
            .delete_asset(actor.tenant_scope(), id, purge_after, &audit)
            .await?)
    }

    /// Undoes a deletion within its grace period.
    pub async fn restore_asset(&self, actor: &Actor, id: AssetId) -> Result<Asset> {
        policy::manage_items(actor)?;
        let audit = self
            .item_audit(actor, AuditAction::AssetRestored, id)
            .await?;
        Ok(self
            .ingest
            .restore_asset(actor.tenant_scope(), id, &audit)
            .await?)
    }

    async fn item_audit(
        &self,
        actor: &Actor,
        action: AuditAction,
        id: AssetId,
    ) -> Result<NewAudit> {
        let a = self.ingest.get_asset(actor.tenant_scope(), id).await?;
        Ok(NewAudit::by(actor, action, "asset", id, Some(a.station_id)))
    }

    /// A round of the `tidy` task: removes the objects of deleted items whose grace period has
    /// passed, then records them purged (which releases their quota). An item with a job
    /// still holding its lease waits for the next round. Returns how many were purged.
    pub async fn purge_deleted(&self) -> Result<usize> {
        let mut purged = 0;
        for (id, station) in self
            .ingest
            .assets_to_purge(cityx_core::now(), PURGE_BATCH)
            .await?
        {
            if !self.ingest.prepare_purge(id, cityx_core::now()).await? {
                continue;
            }
            // Objects first: a crash after this leaves the item to purge again, never
            // objects nobody accounts for.
            self.storage
                .delete_prefix(&StorageKey::asset_prefix(id))
                .await
                .map_err(|e| Error::Internal(Box::new(e)))?;
            let system = Actor::system();
            let audit = NewAudit::by(
                &system,
                AuditAction::AssetPurged,
                "asset",
                id,
                Some(station),
            );
            self.ingest.finish_purge(id, &audit).await?;
            purged += 1;
        }
        Ok(purged)
    }
}

/// An item the caller may read and see now (its own station's, or what its rights show the
/// caller's station).
pub(crate) async fn readable_asset(
    repo: &dyn cityx_db::ExchangeRepo,
    actor: &Actor,
    id: AssetId,
) -> Result<Asset> {
    policy::read(actor)?;
    Ok(repo
        .get_visible_asset(actor.tenant_scope(), id, cityx_core::now())
        .await?)
}
