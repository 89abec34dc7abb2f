use crate::error::{WebError, render};
use crate::i18n::{Lang, T};
use crate::session::{LANG_COOKIE, Reader, WebForm, WebUser, clear_cookie, safe_next};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cityx_http::error::ErrorCode;
use cityx_http::http::{ClientInfo, HttpState, SESSION_COOKIE, cookie, set_cookie};
use serde::Deserialize;

/// Double-submit cookie that protects the sign-in form itself.
const LOGIN_CSRF_COOKIE: &str = "cityx_login_csrf";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    t: T,
    csrf: String,
    next: String,
    email: String,
    error: String,
    done: String,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

fn secure(st: &HttpState, client: &ClientInfo) -> bool {
    st.http.secure_cookies || client.https
}

/// What the sign-in page shows besides its fresh CSRF token.
struct LoginView {
    next: String,
    email: String,
    error: String,
    done: String,
}

/// Renders the sign-in form with a fresh double-submit token in a cookie and the form.
fn login_page(
    t: T,
    st: &HttpState,
    client: &ClientInfo,
    v: LoginView,
    status: StatusCode,
) -> Response {
    // A random value per form; without randomness the form is unusable, the safe outcome.
    let csrf = cityx_app::generate_password().unwrap_or_default();
    let page = LoginPage {
        t,
        csrf: csrf.clone(),
        next: v.next,
        email: v.email,
        error: v.error,
        done: v.done,
    };
    let mut res = render(&page, t, status);
    if let Ok(v) = set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600, true, secure(st, client)).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

pub async fn show(
    State(st): State<HttpState>,
    Reader(t): Reader,
    client: ClientInfo,
    Query(q): Query<LoginQuery>,
) -> Response {
    let done = q
        .done
        .as_deref()
        .map(|d| {
            let key = format!("done.{d}");
            let s = t.get(&key);
            if s == key {
                String::new()
            } else {
                s.to_owned()
            }
        })
        .unwrap_or_default();
    let view = LoginView {
        next: safe_next(q.next.as_deref()),
        email: String::new(),
        error: String::new(),
        done,
    };
    login_page(t, &st, &client, view, StatusCode::OK)
}

pub async fn submit(
    State(st): State<HttpState>,
    Reader(t): Reader,
    client: ClientInfo,
    headers: HeaderMap,
    WebForm(f): WebForm<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if !cityx_app::csrf_matches(expected, &f.csrf) {
        let error = t.get("err.csrf_failed").to_owned();
        let view = LoginView {
            next: safe_next(Some(&f.next)),
            email: f.email,
            error,
            done: String::new(),
        };
        return login_page(t, &st, &client, view, StatusCode::FORBIDDEN);
    }
    let user = match st
        .app
        .access()
        .sign_in(&f.email, &f.password, client.ip.as_deref())
        .await
    {
        Ok(u) => u,
        Err(e) => {
            let err = WebError::app(e, t);
            let status = err.code.status();
            let mut error = err.message();
            // Say how long to wait, in whole minutes.
            if let Some(secs) = err.retry_after {
                let minutes = secs.div_ceil(60).max(1);
                error = format!(
                    "{error} {}",
                    t.get("login.retry_in").replace("{n}", &minutes.to_string())
                );
            }
            let view = LoginView {
                next: safe_next(Some(&f.next)),
                email: f.email,
                error,
                done: String::new(),
            };
            let mut res = login_page(t, &st, &client, view, status);
            if let Some(secs) = err.retry_after
                && let Ok(v) = secs.to_string().parse()
            {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return res;
        }
    };
    let session = match st
        .app
        .access()
        .start_session(&user, client.ip.as_deref(), client.user_agent.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let max_age = (session.expires_at - cityx_core::now()).whole_seconds();
    let cookie = set_cookie(
        SESSION_COOKIE,
        &session.secret,
        max_age,
        true,
        secure(&st, &client),
    );
    let clear = clear_cookie(LOGIN_CSRF_COOKIE);
    // Two cookies: AppendHeaders, because a header array would keep only the last.
    (
        axum::response::AppendHeaders([(header::SET_COOKIE, cookie), clear]),
        Redirect::to(&safe_next(Some(&f.next))),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
}

pub async fn logout(
    State(st): State<HttpState>,
    headers: HeaderMap,
    u: WebUser,
    WebForm(f): WebForm<CsrfForm>,
) -> Response {
    if let Err(e) = u.check_csrf(&f.csrf) {
        return e.into_response();
    }
    if let Some(secret) = cookie(&headers, SESSION_COOKIE)
        && let Err(e) = st.app.access().end_session(&u.actor, secret).await
    {
        return WebError::app(e, u.t).into_response();
    }
    (
        [clear_cookie(SESSION_COOKIE)],
        Redirect::to("/login?done=signed_out"),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct LangQuery {
    next: Option<String>,
}

/// `GET /lang/{code}`: remembers the language and goes back.
pub async fn switch(
    axum::extract::Path(code): axum::extract::Path<String>,
    Reader(t): Reader,
    Query(q): Query<LangQuery>,
) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return WebError::code(ErrorCode::NotFound, t).into_response();
    };
    let cookie = set_cookie(
        LANG_COOKIE,
        if lang == Lang::En { "en" } else { "zh" },
        365 * 86400,
        false,
        false,
    );
    (
        [(header::SET_COOKIE, cookie)],
        Redirect::to(&safe_next(q.next.as_deref())),
    )
        .into_response()
}
