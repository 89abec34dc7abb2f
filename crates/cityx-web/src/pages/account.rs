use super::{Chrome, FormErrors, ListQuery};
use crate::error::render;
use crate::i18n::T;
use crate::session::{WebForm, WebUser, clear_cookie};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cityx_http::http::{HttpState, SESSION_COOKIE};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    t: T,
    c: Chrome,
    role: String,
    errs: FormErrors,
}

fn page(u: &WebUser, errs: FormErrors, done: Option<&str>, status: StatusCode) -> Response {
    let view = AccountPage {
        t: u.t,
        c: Chrome::new(u, "account", done),
        role: u.t.get2("role.", u.actor.role.as_str()),
        errs,
    };
    render(&view, u.t, status)
}

pub async fn show(u: WebUser, Query(q): Query<ListQuery>) -> Response {
    page(&u, FormErrors::default(), q.done.as_deref(), StatusCode::OK)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

pub async fn change_password(
    State(st): State<HttpState>,
    u: WebUser,
    WebForm(f): WebForm<PasswordForm>,
) -> Response {
    if let Err(e) = u.check_csrf(&f.csrf) {
        return e.into_response();
    }
    match st
        .app
        .access()
        .change_own_password(&u.actor, &f.current_password, &f.new_password)
        .await
    {
        // Every session of the user has ended, this one included.
        Ok(_) => (
            [clear_cookie(SESSION_COOKIE)],
            Redirect::to("/login?done=password_changed"),
        )
            .into_response(),
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => page(&u, errs, None, StatusCode::UNPROCESSABLE_ENTITY),
            Err(p) => p.into_response(),
        },
    }
}
