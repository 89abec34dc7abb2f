//! Reading the audit log.

use crate::{App, Page, PageRequest, Result};
use cityx_core::{Actor, AuditEntry, StationId, policy};
use cityx_db::AuditFilter;

impl App {
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
        Ok(self.repo.list_audit(&filter, page).await?)
    }
}
