//! The spine for operators: supervised processes (state, restarts, last log lines; stop and
//! start) and the periodic tasks.

use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiPath, ApiQuery, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use cityx_app::ScheduleRow;
use cityx_core::ProcessId;
use cityx_core::process::{Desired, Process};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProcessFilter {
    /// Only processes of this kind.
    pub kind: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProcessList {
    /// Oldest first, at most 500.
    pub items: Vec<Process>,
}

/// Supervised processes of the caller's station (every station's for hub admins).
#[utoipa::path(get, path = "/api/v1/processes", tag = "processes",
    params(ProcessFilter),
    responses(
        (status = 200, description = "Processes", body = ProcessList),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub or station admin", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(filter): ApiQuery<ProcessFilter>,
) -> ApiResult<Json<ProcessList>> {
    let items = st
        .app
        .processes()
        .list(&actor, filter.kind.as_deref())
        .await?;
    Ok(Json(ProcessList { items }))
}

/// A supervised process: where it runs, its state, restarts and last log lines.
#[utoipa::path(get, path = "/api/v1/processes/{id}", tag = "processes",
    params(("id" = ProcessId, Path, description = "Process id")),
    responses(
        (status = 200, description = "The process", body = Process),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub or station admin", body = ErrorBody),
        (status = 404, description = "No such process of the caller's station", body = ErrorBody),
    ))]
pub async fn get(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ProcessId>,
) -> ApiResult<Json<Process>> {
    Ok(Json(st.app.processes().get(&actor, id).await?))
}

/// Stops a process: its node ends it within about 2 s, and it stays stopped.
#[utoipa::path(post, path = "/api/v1/processes/{id}/stop", tag = "processes",
    params(("id" = ProcessId, Path, description = "Process id")),
    responses(
        (status = 200, description = "Asked to stop; the process as it now is", body = Process),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub or station admin, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such process of the caller's station", body = ErrorBody),
    ))]
pub async fn stop(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ProcessId>,
) -> ApiResult<Json<Process>> {
    let p = st.app.processes();
    Ok(Json(p.set_desired(&actor, id, Desired::Stopped).await?))
}

/// Starts a stopped process again (its restarts counted from zero); a node takes it within
/// about a second.
#[utoipa::path(post, path = "/api/v1/processes/{id}/start", tag = "processes",
    params(("id" = ProcessId, Path, description = "Process id")),
    responses(
        (status = 200, description = "Asked to run; the process as it now is", body = Process),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub or station admin, or no `admin` scope", body = ErrorBody),
        (status = 404, description = "No such process of the caller's station", body = ErrorBody),
    ))]
pub async fn start(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<ProcessId>,
) -> ApiResult<Json<Process>> {
    let p = st.app.processes();
    Ok(Json(p.set_desired(&actor, id, Desired::Running).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleList {
    pub items: Vec<ScheduleRow>,
}

/// The periodic tasks (hub admins): when each is next due and how often it ran or was
/// skipped.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "processes",
    responses(
        (status = 200, description = "Periodic tasks, by name", body = ScheduleList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a hub admin, or no `admin` scope", body = ErrorBody),
    ))]
pub async fn schedules(
    State(st): State<HttpState>,
    Caller(actor): Caller,
) -> ApiResult<Json<ScheduleList>> {
    Ok(Json(ScheduleList {
        items: st.app.processes().schedules(&actor).await?,
    }))
}
