//! The web UI: server-rendered pages (askama templates), Chinese first with English
//! available, plus the front-end files bundled from npm and embedded in the binary.
//!
//! Like `cityx-api`, this crate knows HTTP and nothing below `cityx-app`: pages call the same
//! use cases as the JSON API and show the same error codes, translated. It reuses the API
//! crate's state, cookies and error table. Sessions are cookies (HttpOnly, SameSite=Lax,
//! Secure behind TLS); every form carries a CSRF token bound to the session.

pub mod assets;
pub mod error;
pub use cityx_http::i18n;
pub mod pages;
pub mod session;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cityx_http::error::{ApiError, ErrorCode};
use cityx_http::http::HttpState;
use pages::{
    account, audit, exchange, follows, home, items, library, live, live_targets, login, notices,
    stations, tokens, users, webhooks, zones,
};
use tower_http::set_header::SetResponseHeaderLayer;

/// Content Security Policy of every page: our own scripts only, no framing.
/// `blob:` for media and workers: the HLS player feeds the video element through Media Source
/// Extensions and demuxes in a worker.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                   script-src 'self'; media-src 'self' blob:; worker-src 'self' blob:; \
                   object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// The pages and assets.
pub fn router() -> Router<HttpState> {
    Router::new()
        .route("/", get(home::home))
        .route("/exchange", get(exchange::exchange))
        .route("/adoptions", get(exchange::adoptions))
        .route("/library", get(library::list))
        .route("/library/bulk", post(library::bulk))
        .route("/items/{id}/adopt", post(exchange::adopt))
        .route("/items/{id}/download", post(exchange::download))
        .route("/items/{id}/rights", post(exchange::rights))
        .route("/follows", get(follows::list).post(follows::create))
        .route("/follows/{id}/open", post(follows::open))
        .route("/follows/{id}/delete", post(follows::delete))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", get(webhooks::show))
        .route("/webhooks/{id}/delete", post(webhooks::delete))
        .route(
            "/webhooks/{id}/deliveries/{delivery}/retry",
            post(webhooks::retry),
        )
        .route("/zones", get(zones::list).post(zones::create))
        .route("/zones/{id}", get(zones::show))
        .route("/zones/{id}/edit", post(zones::edit))
        .route("/zones/{id}/contribute", post(zones::contribute))
        .route("/zones/{id}/items/{asset}/remove", post(zones::remove))
        .route("/live", get(live::list).post(live::create))
        .route("/live/{id}", get(live::show).post(live::update))
        // A form's address reloaded (after a mistake the page stands there) goes back to the
        // channel's page rather than to an empty "method not allowed".
        .route("/live/{id}/key", get(live::back).post(live::rotate_key))
        .route(
            "/live/{id}/srt-passphrase",
            get(live::back).post(live::passphrase),
        )
        .route("/live/{id}/clips", get(live::back).post(live::clip))
        .route("/live/{id}/delete", get(live::back).post(live::delete))
        .route("/live/{id}/take", get(live::back).post(live::take))
        .route(
            "/live/{id}/targets",
            get(live::back).post(live_targets::add),
        )
        .route("/live/{id}/targets/{target}", post(live_targets::change))
        .route(
            "/live/{id}/targets/{target}/switch",
            post(live_targets::switch),
        )
        .route(
            "/live/{id}/targets/{target}/delete",
            post(live_targets::delete),
        )
        .route("/analytics", get(notices::analytics))
        .route("/analytics/export", get(notices::export))
        .route("/notices", get(notices::notices))
        .route("/notices/{id}/ack", post(notices::acknowledge))
        .route("/items/{id}/correct", post(notices::correct))
        .route("/items/{id}/withdraw", post(notices::withdraw))
        .route("/login", get(login::show).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/lang/{code}", get(login::switch))
        .route("/stations", get(stations::list).post(stations::create))
        .route("/stations/{id}", get(stations::edit).post(stations::update))
        .route("/stations/{id}/quota", post(stations::set_quota))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::edit).post(users::update))
        .route("/users/{id}/status", post(users::set_status))
        .route("/users/{id}/password", post(users::reset_password))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/audit", get(audit::list))
        .route("/upload", get(items::upload))
        .route("/upload/import", post(items::import))
        .route("/items/{id}", get(items::asset))
        .route("/items/{id}/delete", post(items::delete))
        .route("/items/{id}/restore", post(items::restore))
        .route("/account", get(account::show))
        .route("/account/password", post(account::change_password))
        .route("/api/docs", get(home::api_docs))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .route("/assets/{*path}", get(assets::serve))
}

/// Unknown paths: JSON under `/api/` and for API clients, a page for browsers.
pub async fn not_found(req: Request) -> Response {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if req.uri().path().starts_with("/api/") || !wants_html {
        return ApiError::from_code(ErrorCode::NotFound).into_response();
    }
    let t = i18n::T(session::lang_of(req.headers()));
    error::WebError::code(ErrorCode::NotFound, t).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_used_by_a_template_exists() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).expect("templates dir") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("template");
            for part in text.split("t.get(\"").skip(1) {
                let key = part.split('"').next().unwrap_or_default();
                if !i18n::has(key) {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from the catalog: {missing:#?}"
        );
    }
}
