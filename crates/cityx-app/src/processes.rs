//! The spine as operators see it: supervised processes (their state, restarts and last log
//! lines; stop and start) and the periodic tasks. A context of its own, holding only the
//! repository traits it needs: the first of the split of [`App`] by context.

use crate::{App, Result};
use cityx_core::process::{Desired, Process};
use cityx_core::{Actor, AuditAction, NewAudit, ProcessId, policy};
use cityx_db::{ProcessRepo, ScheduleRepo, ScheduleRow};

/// The most processes one list shows.
pub const MAX_LISTED: u32 = 500;

/// Supervised processes and periodic tasks: see [`App::processes`].
pub struct Processes<'a> {
    processes: &'a dyn ProcessRepo,
    schedules: &'a dyn ScheduleRepo,
}

impl App {
    /// Supervised processes and periodic tasks.
    pub fn processes(&self) -> Processes<'_> {
        Processes {
            processes: &*self.repo,
            schedules: &*self.repo,
        }
    }
}

impl Processes<'_> {
    /// The caller's station's processes (every one for hub admins), of one kind or all.
    pub async fn list(&self, actor: &Actor, kind: Option<&str>) -> Result<Vec<Process>> {
        policy::watch_processes(actor)?;
        Ok(self
            .processes
            .list_processes(actor.tenant_scope(), kind, MAX_LISTED)
            .await?)
    }

    pub async fn get(&self, actor: &Actor, id: ProcessId) -> Result<Process> {
        policy::watch_processes(actor)?;
        Ok(self.processes.get_process(actor.tenant_scope(), id).await?)
    }

    /// Asks a process to run or to stop; the node that holds it acts within a lease renewal
    /// (about 2 s), and a stopped process stays stopped until started again.
    pub async fn set_desired(
        &self,
        actor: &Actor,
        id: ProcessId,
        desired: Desired,
    ) -> Result<Process> {
        policy::steer_processes(actor)?;
        let scope = actor.tenant_scope();
        let action = match desired {
            Desired::Running => AuditAction::ProcessStarted,
            Desired::Stopped => AuditAction::ProcessStopped,
        };
        let station = self.processes.get_process(scope, id).await?.station_id;
        let audit = NewAudit::by(actor, action, "process", id, station);
        self.processes
            .set_process_desired(scope, id, desired, &audit)
            .await?;
        Ok(self.processes.get_process(scope, id).await?)
    }

    /// The periodic tasks and how they ran (hub admins).
    pub async fn schedules(&self, actor: &Actor) -> Result<Vec<ScheduleRow>> {
        policy::operate(actor)?;
        Ok(self.schedules.list_schedules().await?)
    }
}
