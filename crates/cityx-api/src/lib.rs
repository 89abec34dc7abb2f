//! The JSON API under `/api/v1`, plus `/healthz`, `/readyz`, `/metrics` and the OpenAPI
//! document. The HTTP plumbing it shares with the web UI (state, caller extraction, the error
//! table, middleware, cookies) is `cityx-http`, re-exported here as [`http`], [`error`] and
//! [`middleware`]; the web UI imports nothing from this crate.
//!
//! Only the doors (this crate, `cityx-web`) and `cityx-http` know HTTP. Handlers parse, call one use case (of `cityx-app` or a subsystem)
//! and shape the answer; they never hold business rules, touch SQL or run long work.
//! Every failure goes through the one error table in [`error`].

pub use cityx_http::{error, http, middleware};
pub mod openapi;
pub mod routes;

use axum::Router;
use axum::routing::{get, patch, post, put};
use http::HttpState;
use routes::{
    assets, audit, auth, exchange, files, follows, imports, live, live_targets, notices, processes,
    stations, system, tokens, uploads, users, webhooks, zones,
};

/// The API routes but the media files ([`media_router`]), without middleware (see
/// [`middleware::wrap`]) and without a fallback: the binary sets one for the merged API and
/// web routers.
pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/api/v1/auth/token", post(auth::token))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/me/password", post(auth::change_password))
        .route(
            "/api/v1/stations",
            get(stations::list).post(stations::create),
        )
        .route(
            "/api/v1/stations/{id}",
            get(stations::get).patch(stations::update),
        )
        .route(
            "/api/v1/stations/{id}/quota",
            get(stations::quota).put(stations::set_quota),
        )
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{id}", get(users::get).patch(users::update))
        .route("/api/v1/users/{id}/password", post(users::reset_password))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/api/v1/audit", get(audit::list))
        .route(
            "/api/v1/uploads",
            post(uploads::create).options(uploads::options),
        )
        .route(
            "/api/v1/uploads/{id}",
            axum::routing::head(uploads::head)
                .patch(uploads::patch)
                .delete(uploads::terminate),
        )
        .route("/api/v1/imports", post(imports::create))
        .route(
            "/api/v1/assets/{id}",
            get(assets::get_asset).delete(assets::delete_asset),
        )
        .route("/api/v1/assets/{id}/restore", post(assets::restore_asset))
        .route("/api/v1/assets/{id}/files/{*path}", get(files::get_file))
        .route(
            "/api/v1/assets/{id}/rights",
            axum::routing::put(exchange::set_rights),
        )
        .route("/api/v1/assets/{id}/adoptions", post(exchange::adopt))
        .route(
            "/api/v1/assets/{id}/download-link",
            post(exchange::download_link),
        )
        .route("/api/v1/adoptions", get(exchange::list_adoptions))
        .route(
            "/api/v1/assets/{id}/corrections",
            get(notices::corrections).post(notices::correct),
        )
        .route("/api/v1/assets/{id}/withdrawal", post(notices::withdraw))
        .route("/api/v1/notices", get(notices::list))
        .route(
            "/api/v1/notices/{id}/acknowledgement",
            post(notices::acknowledge),
        )
        .route("/api/v1/feed", get(notices::feed))
        .route("/api/v1/zones", get(zones::list).post(zones::create))
        .route("/api/v1/zones/{id}", get(zones::get).put(zones::update))
        .route("/api/v1/zones/{id}/items", post(zones::contribute))
        .route(
            "/api/v1/zones/{id}/items/{asset_id}",
            axum::routing::delete(zones::remove),
        )
        .route("/api/v1/follows", get(follows::list).post(follows::create))
        .route(
            "/api/v1/follows/{id}",
            axum::routing::delete(follows::delete),
        )
        .route("/api/v1/follows/{id}/seen", post(follows::seen))
        .route("/api/v1/processes", get(processes::list))
        .route("/api/v1/processes/{id}", get(processes::get))
        .route("/api/v1/processes/{id}/stop", post(processes::stop))
        .route("/api/v1/processes/{id}/start", post(processes::start))
        .route("/api/v1/schedules", get(processes::schedules))
        .route("/api/v1/channels", get(live::list).post(live::create))
        .route(
            "/api/v1/channels/{id}",
            get(live::get).patch(live::update).delete(live::delete),
        )
        .route("/api/v1/channels/{id}/key", post(live::rotate_key))
        .route("/api/v1/channels/{id}/media", get(live::media_link))
        .route(
            "/api/v1/channels/{id}/srt-passphrase",
            put(live::set_passphrase).delete(live::remove_passphrase),
        )
        .route("/api/v1/channels/{id}/clips", post(live::clip))
        .route("/api/v1/channels/{id}/hls/{*path}", get(live::hls))
        .route(
            "/api/v1/channels/{id}/targets",
            get(live_targets::list).post(live_targets::create),
        )
        .route(
            "/api/v1/channels/{id}/targets/{target}",
            patch(live_targets::update).delete(live_targets::delete),
        )
        .route(
            "/api/v1/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v1/webhooks/{id}",
            get(webhooks::get).delete(webhooks::delete),
        )
        .route(
            "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry),
        )
        .route("/api/v1/statistics", get(notices::statistics))
        .route("/api/v1/statistics/export", get(notices::export))
        .route(
            "/api/v1/downloads/{id}/{rendition}",
            get(exchange::signed_download),
        )
        .route("/api/v1/assets/{id}/related", get(exchange::related))
        .route("/api/v1/assets/{id}/media", get(files::media_link))
        .route("/api/v1/search", get(exchange::search))
        .route("/api/v1/search/suggest", get(exchange::suggest))
        .route("/api/v1/openapi.json", get(system::openapi))
        .merge(system_router())
        .method_not_allowed_fallback(method_not_allowed)
}

/// Liveness, readiness and metrics: every process serves them, a worker nothing else.
pub fn system_router() -> Router<HttpState> {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/readyz", get(system::readyz))
        .route("/metrics", get(system::metrics))
        .method_not_allowed_fallback(method_not_allowed)
}

/// The files under media links, which go in their own lean layers
/// ([`middleware::wrap_media`]).
pub fn media_router() -> Router<HttpState> {
    Router::new()
        .route(middleware::MEDIA_ROUTE, get(files::media_file))
        .route(middleware::LIVE_ROUTE, get(live::media_file))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn method_not_allowed() -> error::ApiError {
    error::ApiError::from_code(error::ErrorCode::MethodNotAllowed)
}

/// The Prometheus recorder, installed once per process (the `metrics` facade is global by
/// design; tests that start several servers share it).
pub fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    use std::sync::OnceLock;
    static HANDLE: OnceLock<metrics_exporter_prometheus::PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        "http_request_duration_seconds".into(),
                    ),
                    &[
                        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| {
                    metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder()
                });
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
