use super::AuditList;
use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiQuery, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use cityx_core::StationId;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    pub station_id: Option<StationId>,
    /// e.g. `login_failed`, `user_created`, `token_revoked`.
    pub action: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub cursor: Option<String>,
}

/// The audit log, newest first: hub admins see all, station admins their station.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    responses(
        (status = 200, description = "A page of entries", body = AuditList),
        (status = 400, description = "Bad query or cursor", body = ErrorBody),
        (status = 422, description = "`limit` out of range", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditList>> {
    let page = cityx_app::page_request(q.limit, q.cursor.as_deref())?;
    Ok(Json(
        st.app
            .people()
            .list_audit(&actor, q.station_id, q.action.as_deref(), &page)
            .await?
            .into(),
    ))
}
