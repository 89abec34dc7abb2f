//! What every HTTP handler shares: the state, the caller's address, cookies, and extractors
//! whose rejections speak the error table instead of plain text.

use crate::error::{ApiError, ErrorCode};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use cityx_app::App;
use cityx_core::Actor;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Name of the web session cookie.
pub const SESSION_COOKIE: &str = "cityx_session";
/// Header that carries the session's CSRF token on cookie-authenticated API changes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// HTTP settings the handlers need.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Take the client address from `X-Forwarded-For` and the scheme from
    /// `X-Forwarded-Proto` (only behind a proxy you run).
    pub trust_forwarded: bool,
    /// The public URL is https: cookies are always `Secure` and every answer carries
    /// `Strict-Transport-Security`.
    pub secure_cookies: bool,
    /// Largest JSON body accepted.
    pub body_limit: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// The RTMP address encoders publish live channels to, when this node's ingest runs
    /// (`rtmp://host:1935/live`).
    pub rtmp_url: Option<String>,
    /// The SRT address encoders publish to (`srt://host:10080`), when this node takes SRT.
    pub srt_url: Option<String>,
}

/// Shared by every handler of the API and the web UI.
#[derive(Clone)]
pub struct HttpState {
    pub app: Arc<App>,
    pub http: Arc<HttpOptions>,
    pub metrics: PrometheusHandle,
}

/// The caller's network address and user agent, for the audit log.
#[derive(Clone, Debug, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whether the request arrived over TLS (directly or at a trusted proxy).
    pub https: bool,
}

impl FromRequestParts<HttpState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        Ok(client_info(parts, state.http.trust_forwarded))
    }
}

pub fn client_info(parts: &Parts, trust_forwarded: bool) -> ClientInfo {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let forwarded_ip = trust_forwarded
        .then(|| header("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.split(',').next())
        // Only an address: anything else (a name, a script, a port) is not believed, and the
        // connection's own address is taken, as it keys the sign-in limit and the audit log.
        .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| ip.to_string());
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string());
    ClientInfo {
        ip: forwarded_ip.or(peer),
        user_agent: header("user-agent").map(|s| s.chars().take(200).collect()),
        https: trust_forwarded && header("x-forwarded-proto") == Some("https"),
    }
}

/// The value of one cookie.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the attributes cityx always uses.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age_secs: i64,
    http_only: bool,
    secure: bool,
) -> String {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age_secs}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// The authenticated caller of an API request: a bearer token, or the web session cookie
/// (then changes need the `X-CSRF-Token` header).
pub struct Caller(pub Actor);

impl FromRequestParts<HttpState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_info(parts, state.http.trust_forwarded).ip;
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::TokenInvalid,
                        "use `Authorization: Bearer <token>`",
                    )
                })?;
            let actor = state.app.access().authenticate_token(token.trim()).await?;
            return Ok(Caller(actor.from_ip(ip)));
        }
        if let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) {
            let (actor, csrf) = state.app.access().authenticate_session(secret).await?;
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let submitted = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !safe && !cityx_app::csrf_matches(&csrf, submitted) {
                return Err(ApiError::from_code(ErrorCode::CsrfFailed));
            }
            return Ok(Caller(actor.from_ip(ip)));
        }
        Err(ApiError::from_code(ErrorCode::Unauthenticated))
    }
}

/// `axum::Json` with rejections in the error table.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::from_code(ErrorCode::UnsupportedMediaType))
            }
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::from_code(ErrorCode::PayloadTooLarge))
            }
            Err(e) => Err(ApiError::new(ErrorCode::MalformedJson, e.body_text())),
        }
    }
}

/// `axum::extract::Query` with rejections in the error table.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| ApiError::new(ErrorCode::InvalidQuery, e.body_text()))
    }
}

/// `axum::extract::Path` where a malformed id is simply "not found".
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_: PathRejection| ApiError::from_code(ErrorCode::NotFound))
    }
}

/// A CSV download (header row first), with a BOM so that spreadsheet programs read the
/// Chinese as UTF-8.
pub fn csv_response(rows: &[Vec<String>], filename: &str) -> Response {
    let mut body = String::from("\u{feff}");
    for r in rows {
        body.push_str(&r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        body.push_str("\r\n");
    }
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// One cell of a CSV file: quoted when needed, and never read as a formula by a spreadsheet.
fn cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_address_is_believed_only_when_it_is_one() {
        let parts = |xff: &str| {
            let mut req = axum::http::Request::builder()
                .header("x-forwarded-for", xff)
                .body(())
                .expect("request");
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 4000))));
            req.into_parts().0
        };
        let ip = |xff: &str, trust| client_info(&parts(xff), trust).ip;
        assert_eq!(
            ip("203.0.113.9, 10.0.0.1", true).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(ip(" 2001:db8::1 ", true).as_deref(), Some("2001:db8::1"));
        for junk in [
            "<script>",
            "evil.example.cn",
            "203.0.113.9:80",
            "",
            "unknown",
        ] {
            assert_eq!(ip(junk, true).as_deref(), Some("192.0.2.7"), "{junk}");
        }
        assert_eq!(ip("203.0.113.9", false).as_deref(), Some("192.0.2.7"));
    }

    #[test]
    fn cookies_parse() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; cityx_session=abc".parse().expect("hv"));
        h.append(COOKIE, "lang=en".parse().expect("hv"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "lang"), Some("en"));
        assert_eq!(cookie(&h, "missing"), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("s", "v", 60, true, true);
        assert_eq!(c, "s=v; Path=/; Max-Age=60; SameSite=Lax; HttpOnly; Secure");
        assert!(!set_cookie("s", "v", 60, false, false).contains("Secure"));
    }

    #[test]
    fn csv_cells_quote_and_defuse_formulas() {
        assert_eq!(cell("杭州台"), "杭州台");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
