//! The layers around every route: request ids, tracing, metrics, a time limit, panic
//! catching, body limits and security headers; and the lean layers of the media routes,
//! which players and CDNs ask many times a second.

use crate::error::{ApiError, ErrorCode};
use crate::http::HttpOptions;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Label, SharedString};
use std::time::{Duration, Instant};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// Request ids are UUIDv7, so they sort by time in the logs.
#[derive(Clone, Copy, Default)]
struct MakeV7;

impl MakeRequestId for MakeV7 {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}

/// `Strict-Transport-Security` when the public URL is https: two years, this host only.
const HSTS: &str = "max-age=63072000";

/// Whether a client-sent request id may be kept: 16 to 64 characters of hex digits and
/// dashes, so a UUID or nginx's `$request_id`. Anything else could forge or garble log lines.
pub fn request_id_acceptable(value: &[u8]) -> bool {
    (16..=64).contains(&value.len()) && value.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-')
}

/// Drops a client's `X-Request-Id` unless it came through a trusted proxy and has the strict
/// shape of [`request_id_acceptable`]; the next layer then makes a new one.
fn scrub_request_id(trust_forwarded: bool) -> impl Fn(Request) -> Request + Clone {
    move |mut req: Request| {
        let keep = trust_forwarded
            && req.headers().get_all("x-request-id").iter().count() == 1
            && req
                .headers()
                .get("x-request-id")
                .is_some_and(|v| request_id_acceptable(v.as_bytes()));
        if !keep {
            req.headers_mut().remove("x-request-id");
        }
        req
    }
}

/// Wraps an assembled router (API and web) in the common layers.
pub fn wrap(router: Router, http: &HttpOptions) -> Router {
    let timeout = http.request_timeout;
    let x_request_id = HeaderName::from_static("x-request-id");
    let layers = ServiceBuilder::new()
        .map_request(scrub_request_id(http.trust_forwarded))
        .layer(SetRequestIdLayer::new(x_request_id.clone(), MakeV7))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(DefaultOnFailure::new().level(Level::ERROR)),
        )
        .layer(PropagateRequestIdLayer::new(x_request_id))
        .layer(CatchPanicLayer::custom(panicked))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .option_layer(http.secure_cookies.then(|| {
            SetResponseHeaderLayer::overriding(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            )
        }))
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| observe(req, next, timeout)))
        .layer(DefaultBodyLimit::max(http.body_limit));
    router.layer(layers)
}

fn panicked(_: Box<dyn std::any::Any + Send>) -> Response {
    tracing::error!("handler panicked");
    ApiError::from_code(ErrorCode::Internal).into_response()
}

/// Wraps the media routes (files under a media link: a player asks for a playlist or a
/// segment every few seconds, a CDN in front of many players more often) in lean layers.
/// They keep the time limit, panic catching, the security headers and the metrics (with
/// fixed labels, counted without allocating), and leave out the request id, the span and
/// the log line per request: the answers are files, and what fails is counted and logged by
/// the handler.
pub fn wrap_media(router: Router, http: &HttpOptions) -> Router {
    let limit = http.request_timeout;
    let hsts = http.secure_cookies;
    let layers = ServiceBuilder::new()
        .layer(CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| observe_media(req, next, limit, hsts),
        ));
    router.layer(layers)
}

/// [`observe`] for the media routes, plus the security headers.
async fn observe_media(req: Request, next: Next, limit: Duration, hsts: bool) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = if req.uri().path().starts_with("/api/v1/live/") {
        LIVE_ROUTE
    } else {
        MEDIA_ROUTE
    };
    let mut res = within(limit, next.run(req)).await;
    let headers = res.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    record_media(&method, route, res.status(), started);
    res
}

/// The answers of the media routes counted without looking their metrics up each time.
const MEDIA_STATUSES: [u16; 4] = [200, 206, 304, 404];

/// The media routes' request counters and timers by method (GET, HEAD), route (items',
/// live) and status ([`MEDIA_STATUSES`]), looked up once: a player's requests are many and
/// small, and the registry's lookup by name and labels cost more than counting.
fn media_handles() -> &'static [(metrics::Counter, metrics::Histogram)] {
    static HANDLES: std::sync::OnceLock<Vec<(metrics::Counter, metrics::Histogram)>> =
        std::sync::OnceLock::new();
    HANDLES.get_or_init(|| {
        let mut handles = Vec::new();
        for method in ["GET", "HEAD"] {
            for route in [MEDIA_ROUTE, LIVE_ROUTE] {
                for status in MEDIA_STATUSES {
                    let labels = [
                        Label::from_static_parts("method", method),
                        Label::from_static_parts("route", route),
                        Label::new("status", status.to_string()),
                    ];
                    handles.push((
                        metrics::counter!("http_requests_total", labels.iter()),
                        metrics::histogram!("http_request_duration_seconds", labels.iter()),
                    ));
                }
            }
        }
        handles
    })
}

/// [`record`] for the media routes.
fn record_media(method: &Method, route: &'static str, status: StatusCode, started: Instant) {
    let m = match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        _ => return record(method_label(method), route.into(), status, started),
    };
    let r = usize::from(route == LIVE_ROUTE);
    let Some(s) = MEDIA_STATUSES.iter().position(|s| *s == status.as_u16()) else {
        return record(method_label(method), route.into(), status, started);
    };
    let (count, time) = &media_handles()[(m * 2 + r) * MEDIA_STATUSES.len() + s];
    count.increment(1);
    time.record(started.elapsed().as_secs_f64());
}

/// The route label of every media file.
pub const MEDIA_ROUTE: &str = "/api/v1/media/{grant}/{*path}";
/// The route label of every live channel's file under a signed address.
pub const LIVE_ROUTE: &str = "/api/v1/live/{grant}/{*path}";

/// A request's answer, or `timeout` when it takes longer than `limit`.
async fn within(limit: Duration, answer: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(limit, answer).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(?limit, "request timed out");
            let mut e = ApiError::from_code(ErrorCode::Timeout);
            e.retry_after = Some(5);
            e.into_response()
        }
    }
}

/// A method as a metric label, without allocating.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times one request.
fn record(method: &'static str, route: SharedString, status: StatusCode, started: Instant) {
    let status: SharedString = match status.as_u16() {
        200 => "200".into(),
        206 => "206".into(),
        304 => "304".into(),
        404 => "404".into(),
        other => other.to_string().into(),
    };
    let labels = [
        Label::from_static_parts("method", method),
        Label::new("route", route),
        Label::new("status", status),
    ];
    metrics::counter!("http_requests_total", labels.iter()).increment(1);
    metrics::histogram!("http_request_duration_seconds", labels.iter())
        .record(started.elapsed().as_secs_f64());
}

/// Counts and times every request by route, and bounds how long it may take.
async fn observe(req: Request, next: Next, limit: Duration) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let api = route.starts_with("/api/");
    // Upload bodies may take hours on a slow link; they end on their own idle timeout.
    let limit = if route.starts_with("/api/v1/uploads") {
        Duration::from_secs(u64::MAX / 4)
    } else if route == "/api/v1/feed" {
        // A long poll waits for news on purpose.
        limit + cityx_app::MAX_FEED_WAIT
    } else {
        limit
    };
    let mut res = within(limit, next.run(req)).await;
    if api && !res.headers().contains_key(header::CACHE_CONTROL) {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    record(method, route.into(), res.status(), started);
    res
}
