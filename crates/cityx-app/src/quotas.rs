//! Stations' storage: each station's quota (its own, or the installation's default), what it
//! uses, and how many unfinished uploads it holds. The hub sets quotas; a station sees its
//! own.

use crate::{Error, Ingest, Result};
use cityx_core::{Actor, AuditAction, NewAudit, StationId, policy};
use serde::Serialize;
use utoipa::ToSchema;

/// A station's storage and its limits.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StationQuota {
    pub station_id: StationId,
    /// The station's own quota in bytes; `null` when the default applies.
    pub own_quota_bytes: Option<u64>,
    /// The quota that applies, in bytes; `null` for no limit.
    pub quota_bytes: Option<u64>,
    /// Stored masters plus the announced length of unfinished uploads.
    pub used_bytes: u64,
    pub unfinished_uploads: u64,
    /// Unfinished uploads the station may hold at once; `0` for no limit.
    pub max_unfinished_uploads: u64,
}

impl Ingest<'_> {
    /// A station's quota and use: the hub's roles for any station, a station's people for
    /// their own.
    pub async fn station_quota(&self, actor: &Actor, station: StationId) -> Result<StationQuota> {
        policy::read(actor)?;
        if !actor.tenant_scope().admits(Some(station)) {
            return Err(Error::NotFound("station"));
        }
        let own = self.ingest.quota_of(station).await?;
        let limits = self.uploads.limits();
        Ok(StationQuota {
            station_id: station,
            own_quota_bytes: own,
            quota_bytes: own.or(limits.default_quota),
            used_bytes: self.ingest.quota_used(station).await?,
            unfinished_uploads: self.ingest.active_upload_count(station).await?,
            max_unfinished_uploads: limits.max_unfinished,
        })
    }

    /// Sets a station's own quota in bytes, or goes back to the default (`None`): hub
    /// admins. A quota below what the station uses refuses new uploads until it deletes
    /// items; nothing stored is removed.
    pub async fn set_station_quota(
        &self,
        actor: &Actor,
        station: StationId,
        quota_bytes: Option<u64>,
    ) -> Result<StationQuota> {
        policy::manage_stations(actor)?;
        if quota_bytes.is_some_and(|q| q > i64::MAX as u64) {
            return Err(Error::field(
                "quota_bytes",
                "out_of_range",
                "quota_bytes is too large",
            ));
        }
        let audit = NewAudit::by(
            actor,
            AuditAction::StationUpdated,
            "station",
            station,
            Some(station),
        )
        .detail("quota_bytes", quota_bytes);
        self.ingest
            .set_quota(station, quota_bytes, &audit)
            .await
            .map_err(|e| match e {
                cityx_db::Error::NotFound { .. } => Error::NotFound("station"),
                e => e.into(),
            })?;
        self.station_quota(actor, station).await
    }
}
