//! Who is browsing: the session cookie, the language, and CSRF checks for forms.

use crate::error::WebError;
use crate::i18n::{Lang, T};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use cityx_core::{Actor, Role};
use cityx_http::error::ErrorCode;
use cityx_http::http::{HttpState, SESSION_COOKIE, cookie};

/// Cookie holding the chosen language.
pub const LANG_COOKIE: &str = "cityx_lang";

/// The reader's language: the cookie, else Chinese.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(Lang::parse)
        .unwrap_or_default()
}

/// A signed-in browser.
pub struct WebUser {
    pub actor: Actor,
    pub csrf: String,
    pub t: T,
    /// The path requested, for the language switch.
    pub path: String,
    /// Notices to the user's station not yet acknowledged (shown in the navigation).
    pub open_notices: usize,
}

impl WebUser {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, submitted: &str) -> Result<(), WebError> {
        if cityx_app::csrf_matches(&self.csrf, submitted) {
            Ok(())
        } else {
            Err(WebError::code(ErrorCode::CsrfFailed, self.t))
        }
    }

    pub fn is_hub_admin(&self) -> bool {
        self.actor.role == Role::HubAdmin
    }

    /// Whether the user may see the user list at all.
    pub fn can_list_users(&self) -> bool {
        matches!(
            self.actor.role,
            Role::HubAdmin | Role::HubEditor | Role::StationAdmin
        )
    }

    /// Whether the user may create and change users.
    pub fn can_manage_users(&self) -> bool {
        matches!(self.actor.role, Role::HubAdmin | Role::StationAdmin)
    }

    pub fn can_read_audit(&self) -> bool {
        matches!(self.actor.role, Role::HubAdmin | Role::StationAdmin)
    }
}

/// Not signed in: go to the sign-in page and come back afterwards.
pub struct ToLogin(String);

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        let next = if self.0.is_empty() || self.0 == "/" {
            "/login".to_owned()
        } else {
            format!("/login?next={}", encode_component(&self.0))
        };
        Redirect::to(&next).into_response()
    }
}

pub enum Rejection {
    Login(ToLogin),
    Error(WebError),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Login(l) => l.into_response(),
            Rejection::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<HttpState> for WebUser {
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &HttpState,
    ) -> Result<Self, Self::Rejection> {
        let t = T(lang_of(&parts.headers));
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(Rejection::Login(ToLogin(path)));
        };
        match state.app.access().authenticate_session(secret).await {
            Ok((actor, csrf)) => {
                let ip = cityx_http::http::client_info(parts, state.http.trust_forwarded).ip;
                let open_notices = match state.app.notices().open_notice_count(&actor).await {
                    Ok(n) => n,
                    Err(e) => return Err(Rejection::Error(WebError::app(e, t))),
                };
                Ok(WebUser {
                    actor: actor.from_ip(ip),
                    csrf,
                    t,
                    path,
                    open_notices,
                })
            }
            Err(cityx_app::Error::Unauthenticated | cityx_app::Error::AccountDisabled) => {
                Err(Rejection::Login(ToLogin(path)))
            }
            Err(e) => Err(Rejection::Error(WebError::app(e, t))),
        }
    }
}

/// The reader's language for pages that need no sign-in.
pub struct Reader(pub T);

impl<S: Send + Sync> FromRequestParts<S> for Reader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Reader(T(lang_of(&parts.headers))))
    }
}

/// `axum::Form` whose rejections are error pages in the reader's language.
pub struct WebForm<F>(pub F);

impl<F: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for WebForm<F> {
    type Rejection = WebError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let t = T(lang_of(req.headers()));
        axum::Form::<F>::from_request(req, state)
            .await
            .map(|f| WebForm(f.0))
            .map_err(|e| {
                let code = match e.status().as_u16() {
                    413 => ErrorCode::PayloadTooLarge,
                    415 => ErrorCode::UnsupportedMediaType,
                    _ => ErrorCode::MalformedForm,
                };
                WebError::code(code, t)
            })
    }
}

/// A form body with repeated keys (`scopes=read&scopes=write`, ticked checkboxes), which
/// `axum::Form` cannot express as a struct.
pub struct FormList(pub Vec<(String, String)>);

impl FormList {
    /// The first value of `key`, or "".
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl<S: Send + Sync> axum::extract::FromRequest<S> for FormList {
    type Rejection = WebError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        WebForm::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map(|f| FormList(f.0))
    }
}

/// Percent-encodes a URL query component.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `next` target that stays on this site: a path, never `//host` or a scheme.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/login") =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `Set-Cookie` that removes a cookie.
pub fn clear_cookie(name: &str) -> (header::HeaderName, String) {
    (
        header::SET_COOKIE,
        format!("{name}=; Path=/; Max-Age=0; SameSite=Lax"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_targets_stay_local() {
        assert_eq!(safe_next(Some("/users?x=1")), "/users?x=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/login")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn components_are_encoded() {
        assert_eq!(
            encode_component("/users?station_id=a&b"),
            "/users%3Fstation_id%3Da%26b"
        );
        assert_eq!(encode_component("电视"), "%E7%94%B5%E8%A7%86");
    }
}
