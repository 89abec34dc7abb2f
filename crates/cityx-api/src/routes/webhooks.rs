//! Webhooks: a station's systems told of events by signed POSTs, and their delivery log.

use crate::error::{ApiResult, ErrorBody};
use crate::http::{ApiJson, ApiPath, Caller, HttpState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cityx_core::{EventKind, JobId, Webhook, WebhookId, WebhookInput};
use cityx_webhooks::{CreatedWebhook, WebhookView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A webhook as a station admin registers it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// An http or https address on a public network (or one the operator allowed).
    pub url: String,
    /// Event kinds to send; empty or absent: all.
    #[serde(default)]
    #[schema(value_type = Vec<EventKind>)]
    pub kinds: Vec<String>,
}

/// Registers a webhook for the caller's station (station admins) and shows its secret once.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = WebhookBody,
    responses(
        (status = 201, description = "Created; `secret` is shown this once", body = CreatedWebhook),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a station admin, or no `admin` scope", body = ErrorBody),
        (status = 422, description = "Invalid or refused address, unknown kinds, too many webhooks", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiJson(body): ApiJson<WebhookBody>,
) -> ApiResult<(StatusCode, Json<CreatedWebhook>)> {
    let input = WebhookInput {
        url: &body.url,
        kinds: body.kinds.iter().map(String::as_str).collect(),
    };
    Ok((
        StatusCode::CREATED,
        Json(
            cityx_webhooks::Webhooks::of(&st.app)
                .create(&actor, &input)
                .await?,
        ),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

/// The station's webhooks (every station's for hub admins), with delivery counts.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "Webhooks", body = WebhookList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn list(
    State(st): State<HttpState>,
    Caller(actor): Caller,
) -> ApiResult<Json<WebhookList>> {
    Ok(Json(WebhookList {
        items: cityx_webhooks::Webhooks::of(&st.app).list(&actor).await?,
    }))
}

/// A webhook and its latest 50 deliveries.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such webhook of the caller's station", body = ErrorBody),
    ))]
pub async fn get(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(
        cityx_webhooks::Webhooks::of(&st.app)
            .get(&actor, id)
            .await?,
    ))
}

/// Deletes a webhook; deliveries still waiting are skipped.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = WebhookId, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such webhook of the caller's station", body = ErrorBody),
    ))]
pub async fn delete(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath(id): ApiPath<WebhookId>,
) -> ApiResult<StatusCode> {
    cityx_webhooks::Webhooks::of(&st.app)
        .delete(&actor, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a failed delivery again, with a fresh round of attempts.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "webhooks",
    params(
        ("id" = WebhookId, Path, description = "Webhook id"),
        ("delivery_id" = JobId, Path, description = "Delivery id"),
    ),
    responses(
        (status = 202, description = "Queued"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such delivery of the caller's station's webhook", body = ErrorBody),
        (status = 409, description = "The delivery has not failed (`invalid_state`)", body = ErrorBody),
    ))]
pub async fn retry(
    State(st): State<HttpState>,
    Caller(actor): Caller,
    ApiPath((id, delivery)): ApiPath<(WebhookId, JobId)>,
) -> ApiResult<StatusCode> {
    cityx_webhooks::Webhooks::of(&st.app)
        .retry_delivery(&actor, id, delivery)
        .await?;
    Ok(StatusCode::ACCEPTED)
}
