use super::users::Opt;
use super::{
    Chrome, FormErrors, ListQuery, fmt_opt_time, fmt_time, form_target, redirect_or_error,
};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{FormList, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cityx_app::{NewToken, PageRequest};
use cityx_core::{ApiToken, ScopeSet, TokenId, UserId};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;
use std::collections::HashMap;

pub struct TokenRow {
    pub tk: ApiToken,
    pub owner: String,
    pub kind: String,
    pub scopes: String,
    pub expires: String,
    pub last_used: String,
    pub state: &'static str,
    pub active: bool,
}

pub struct ScopeOpt {
    pub value: &'static str,
    pub label: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    t: T,
    c: Chrome,
    rows: Vec<TokenRow>,
    next: String,
    show_all: bool,
    admin: bool,
    owner_opts: Vec<Opt>,
    scope_opts: Vec<ScopeOpt>,
    name: String,
    days: String,
    max_days: u32,
    errs: FormErrors,
    secret: String,
}

struct Typed {
    name: String,
    days: String,
    scopes: ScopeSet,
    errs: FormErrors,
    secret: String,
    status: StatusCode,
}

async fn page(st: &HttpState, u: &WebUser, q: &ListQuery, typed: Typed) -> Response {
    let show_all = q.all.as_deref() == Some("1");
    let admin = cityx_core::policy::token_listing_scope(&u.actor).is_some();
    let result = async {
        let req = cityx_app::page_request(Some(50), q.cursor.as_deref())
            .map_err(|e| WebError::app(e, u.t))?;
        let tokens = st
            .app
            .access()
            .list_tokens(&u.actor, None, show_all, &req)
            .await
            .map_err(|e| WebError::app(e, u.t))?;
        // Admins see owners by email and may create tokens for the people they manage.
        let users = if admin {
            st.app
                .people()
                .list_users(&u.actor, None, &PageRequest::first(PageRequest::MAX_LIMIT))
                .await
                .map_err(|e| WebError::app(e, u.t))?
                .items
        } else {
            Vec::new()
        };
        Ok::<_, WebError>((tokens, users))
    }
    .await;
    let (tokens, users) = match result {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let emails: HashMap<UserId, String> = users.iter().map(|x| (x.id, x.email.clone())).collect();
    let now = cityx_core::now();
    let rows = tokens
        .items
        .into_iter()
        .map(|tk| {
            let state = if tk.revoked_at.is_some() {
                "token.revoked"
            } else if tk.expires_at <= now {
                "token.expired"
            } else {
                "token.active"
            };
            TokenRow {
                owner: emails
                    .get(&tk.user_id)
                    .cloned()
                    .unwrap_or_else(|| u.actor.label.clone()),
                kind: u.t.get2("token.kind.", tk.kind.as_str()),
                scopes: tk
                    .scopes
                    .iter()
                    .map(|s| u.t.get2("scope.", s.as_str()))
                    .collect::<Vec<_>>()
                    .join(" · "),
                expires: fmt_time(tk.expires_at),
                last_used: fmt_opt_time(tk.last_used_at, u.t.get("user.never")),
                active: state == "token.active",
                state,
                tk,
            }
        })
        .collect();
    let view = TokensPage {
        t: u.t,
        c: Chrome::new(u, "tokens", q.done.as_deref()),
        rows,
        next: tokens.next.map(|n| n.to_string()).unwrap_or_default(),
        show_all,
        admin,
        owner_opts: users
            .iter()
            .filter(|x| Some(x.id) != u.actor.user_id && !x.disabled)
            .map(|x| Opt {
                value: x.id.to_string(),
                label: format!("{} ({})", x.display_name, x.email),
            })
            .collect(),
        scope_opts: u
            .actor
            .scopes
            .iter()
            .map(|s| ScopeOpt {
                value: s.as_str(),
                label: u.t.get2("scope.", s.as_str()),
                checked: typed.scopes.contains(s),
            })
            .collect(),
        name: typed.name,
        days: typed.days,
        max_days: st.app.auth_options().api_token_max_days,
        errs: typed.errs,
        secret: typed.secret,
    };
    render(&view, u.t, typed.status)
}

fn blank(st: &HttpState) -> Typed {
    Typed {
        name: String::new(),
        days: st.app.auth_options().api_token_default_days.to_string(),
        scopes: ScopeSet::of(&[cityx_core::Scope::Read]),
        errs: FormErrors::default(),
        secret: String::new(),
        status: StatusCode::OK,
    }
}

pub async fn list(State(st): State<HttpState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    let typed = blank(&st);
    page(&st, &u, &q, typed).await
}

pub async fn create(State(st): State<HttpState>, u: WebUser, f: FormList) -> Response {
    if let Err(e) = u.check_csrf(f.get("_csrf")) {
        return e.into_response();
    }
    let names = f.all("scopes").join(" ");
    let mut typed = Typed {
        name: f.get("name").to_owned(),
        days: f.get("days").to_owned(),
        scopes: ScopeSet::parse_names(&names).unwrap_or(ScopeSet::NONE),
        errs: FormErrors::default(),
        secret: String::new(),
        status: StatusCode::UNPROCESSABLE_ENTITY,
    };
    let mut field_errors = Vec::new();
    let days = match typed.days.trim() {
        "" => None,
        d => match d.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                field_errors.push(cityx_core::FieldError::new(
                    "expires_in_days",
                    "bad_format",
                    "",
                ));
                None
            }
        },
    };
    let user_id = match f.get("user_id").trim() {
        "" => None,
        s => match s.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                field_errors.push(cityx_core::FieldError::new("user_id", "not_found", ""));
                None
            }
        },
    };
    if typed.scopes.is_empty() {
        field_errors.push(cityx_core::FieldError::new("scopes", "required", ""));
    }
    if !field_errors.is_empty() {
        typed.errs = FormErrors::from_fields(u.t, &field_errors);
        return page(&st, &u, &ListQuery::default(), typed).await;
    }
    let req = NewToken {
        name: typed.name.clone(),
        scopes: typed.scopes,
        expires_in_days: days,
        user_id,
    };
    match st.app.access().create_token(&u.actor, &req).await {
        Ok((_, secret)) => {
            let mut fresh = blank(&st);
            fresh.secret = secret.expose().to_owned();
            page(&st, &u, &ListQuery::default(), fresh).await
        }
        Err(cityx_app::Error::Forbidden) => {
            typed.errs = FormErrors::from_fields(
                u.t,
                &[cityx_core::FieldError::new("scopes", "not_allowed", "")],
            );
            page(&st, &u, &ListQuery::default(), typed).await
        }
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => {
                typed.errs = errs;
                page(&st, &u, &ListQuery::default(), typed).await
            }
            Err(p) => p.into_response(),
        },
    }
}

pub async fn revoke(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    f: FormList,
) -> Response {
    let id: TokenId = match form_target(&u, f.get("_csrf"), &id, ErrorCode::TokenNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(
        st.app.access().revoke_token(&u.actor, id).await,
        u.t,
        |_| "/tokens?done=token_revoked",
    )
}
