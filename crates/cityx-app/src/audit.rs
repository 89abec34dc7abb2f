//! Reading the audit log.

use crate::{Page, PageRequest, People, Result};
use cityx_core::{Actor, AuditEntry, StationId, policy};
use cityx_db::AuditFilter;

impl People<'_> {
    /// Newest first; hub admins see everything, station admins their station's entries.
    pub async fn list_audit(
        &self,
        actor: &Actor,
        station: Option<StationId>,
        action: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>> {
        let scope = policy::read_audit(actor)?;
        let filter = AuditFilter {
            scope,
            station,
            action: action.map(str::to_owned),
        };
        Ok(self.audit.list_audit(&filter, page).await?)
    }
}
