//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use crate::routes::{
    assets, audit, auth, exchange, files, follows, imports, live, live_targets, notices, processes,
    stations, system, tokens, uploads, users, webhooks, zones,
};
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cityx API",
        description = "The converged-media platform of the city TV stations' network. \
            Authenticate with `Authorization: Bearer <token>`; get a token from \
            `POST /api/v1/auth/token`, the web UI or `cityx admin token create`. \
            Errors are `{\"error\": {\"code\", \"message\"}}` with stable codes.",
        license(name = "AGPL-3.0-only")
    ),
    paths(
        auth::token, auth::me, auth::change_password,
        stations::list, stations::create, stations::get, stations::update,
        stations::quota, stations::set_quota,
        users::list, users::create, users::get, users::update, users::reset_password,
        tokens::list, tokens::create, tokens::revoke,
        audit::list,
        uploads::options, uploads::create, uploads::head, uploads::patch, uploads::terminate,
        imports::create, assets::get_asset, assets::delete_asset, assets::restore_asset, files::get_file, files::media_link, files::media_file,
        exchange::search, exchange::suggest, exchange::related, exchange::set_rights, exchange::adopt,
        exchange::download_link, exchange::list_adoptions, exchange::signed_download,
        notices::correct, notices::corrections, notices::withdraw, notices::list, notices::acknowledge, notices::feed,
        notices::statistics, notices::export,
        zones::list, zones::create, zones::get, zones::update, zones::contribute, zones::remove,
        follows::list, follows::create, follows::seen, follows::delete,
        webhooks::list, webhooks::create, webhooks::get, webhooks::delete, webhooks::retry,
        live::list, live::create, live::get, live::update, live::delete, live::rotate_key, live::media_link, live::media_file, live::set_passphrase, live::remove_passphrase, live::clip, live::hls,
        live_targets::list, live_targets::create, live_targets::update, live_targets::delete,
        processes::list, processes::get, processes::stop, processes::start, processes::schedules,
        system::healthz, system::readyz, system::metrics, system::openapi,
    ),
    // Ids used only as path parameters are not pulled in by any body schema.
    components(schemas(cityx_core::UploadId, cityx_core::ChannelId, cityx_core::TargetId)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "auth", description = "Sign in and who am I"),
        (name = "stations", description = "Member stations (tenants)"),
        (name = "users", description = "People and roles"),
        (name = "tokens", description = "API tokens"),
        (name = "audit", description = "The audit log"),
        (name = "uploads", description = "Resumable uploads (tus 1.0.0)"),
        (name = "assets", description = "Items of the exchange"),
        (name = "exchange", description = "Search, rights, adoption and downloads"),
        (name = "notices", description = "Corrections, withdrawals and their notices, the member feed, statistics"),
        (name = "zones", description = "Topic zones (专区): campaigns stations contribute to"),
        (name = "follows", description = "Zones, keywords and stations a person follows, with what is new"),
        (name = "webhooks", description = "Signed POSTs of the feed's events to a station's systems"),
        (name = "live", description = "Live channels: RTMP ingest, HLS with a time-shift window, clips, recordings, restream targets"),
        (name = "processes", description = "Supervised long-running processes and periodic tasks"),
        (name = "system", description = "Health, readiness, metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}
