use super::{Chrome, CsrfOnly, FormErrors, ListQuery, fmt_opt_time, form_target, parse_id};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{WebForm, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cityx_app::{NewUser, PageRequest, UserPatch};
use cityx_core::{Role, Station, StationId, User, UserId};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize, Default, Clone)]
pub struct UserForm {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub station_id: String,
    #[serde(default)]
    pub password: String,
}

pub struct Opt {
    pub value: String,
    pub label: String,
}

pub struct UserRow {
    pub u: User,
    pub role: String,
    pub station: String,
    pub last_login: String,
}

/// Roles the user may hand out.
fn role_options(u: &WebUser, only_hub: Option<bool>) -> Vec<Opt> {
    Role::ALL
        .iter()
        .filter(|r| u.is_hub_admin() || !r.is_hub())
        .filter(|r| only_hub.is_none_or(|hub| r.is_hub() == hub))
        .map(|r| Opt {
            value: r.as_str().to_owned(),
            label: u.t.get2("role.", r.as_str()),
        })
        .collect()
}

/// The stations the user can see (one page of up to 500: the network has about 200).
async fn stations(st: &HttpState, u: &WebUser) -> Result<Vec<Station>, WebError> {
    st.app
        .people()
        .list_stations(&u.actor, &PageRequest::first(PageRequest::MAX_LIMIT))
        .await
        .map(|p| p.items)
        .map_err(|e| WebError::app(e, u.t))
}

fn station_label(t: T, stations: &HashMap<StationId, String>, id: Option<StationId>) -> String {
    match id {
        None => t.get("user.station.hub").to_owned(),
        Some(id) => stations.get(&id).cloned().unwrap_or_else(|| id.to_string()),
    }
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    t: T,
    c: Chrome,
    rows: Vec<UserRow>,
    next: String,
    filter: String,
    station_opts: Vec<Opt>,
    can_create: bool,
    hub_admin: bool,
    role_opts: Vec<Opt>,
    hub_roles: String,
    form: UserForm,
    errs: FormErrors,
    generated: String,
}

async fn list_page(
    st: &HttpState,
    u: &WebUser,
    q: &ListQuery,
    form: UserForm,
    errs: FormErrors,
    generated: String,
    status: StatusCode,
) -> Response {
    let result = async {
        let all_stations = stations(st, u).await?;
        let filter = q
            .station_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<StationId>());
        let filter = match filter {
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => return Err(WebError::code(ErrorCode::InvalidQuery, u.t)),
            None => None,
        };
        let page_req = cityx_app::page_request(Some(50), q.cursor.as_deref())
            .map_err(|e| WebError::app(e, u.t))?;
        let page = st
            .app
            .people()
            .list_users(&u.actor, filter, &page_req)
            .await
            .map_err(|e| WebError::app(e, u.t))?;
        Ok((all_stations, filter, page))
    }
    .await;
    let (all_stations, filter, page) = match result {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let names: HashMap<StationId, String> = all_stations
        .iter()
        .map(|s| (s.id, format!("{} ({})", s.name, s.code)))
        .collect();
    let rows = page
        .items
        .into_iter()
        .map(|x| UserRow {
            role: u.t.get2("role.", x.role.as_str()),
            station: station_label(u.t, &names, x.station_id),
            last_login: fmt_opt_time(x.last_login_at, u.t.get("user.never")),
            u: x,
        })
        .collect();
    let view = UsersPage {
        t: u.t,
        c: Chrome::new(u, "users", q.done.as_deref()),
        rows,
        next: page.next.map(|n| n.to_string()).unwrap_or_default(),
        filter: filter.map(|f| f.to_string()).unwrap_or_default(),
        station_opts: all_stations
            .iter()
            .map(|s| Opt {
                value: s.id.to_string(),
                label: format!("{} ({})", s.name, s.code),
            })
            .collect(),
        can_create: u.can_manage_users(),
        hub_admin: u.is_hub_admin(),
        role_opts: role_options(u, None),
        hub_roles: "hub_admin hub_editor".to_owned(),
        form,
        errs,
        generated,
    };
    render(&view, u.t, status)
}

pub async fn list(State(st): State<HttpState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    let form = UserForm {
        role: "editor".into(),
        station_id: u
            .actor
            .station_id
            .map(|s| s.to_string())
            .unwrap_or_default(),
        ..Default::default()
    };
    list_page(
        &st,
        &u,
        &q,
        form,
        FormErrors::default(),
        String::new(),
        StatusCode::OK,
    )
    .await
}

pub async fn create(
    State(st): State<HttpState>,
    u: WebUser,
    WebForm(f): WebForm<UserForm>,
) -> Response {
    if let Err(e) = u.check_csrf(&f.csrf) {
        return e.into_response();
    }
    let station_id = match f.station_id.trim() {
        "" => None,
        s => match s.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                let errs = FormErrors::from_fields(
                    u.t,
                    &[cityx_core::FieldError::new("station_id", "not_found", "")],
                );
                return list_page(
                    &st,
                    &u,
                    &ListQuery::default(),
                    f,
                    errs,
                    String::new(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        },
    };
    let new = NewUser {
        email: f.email.clone(),
        display_name: f.display_name.clone(),
        role: f.role.clone(),
        station_id,
        password: Some(f.password.clone()).filter(|p| !p.is_empty()),
    };
    match st.app.people().create_user(&u.actor, &new).await {
        Ok((_, Some(generated))) => {
            let q = ListQuery {
                done: Some("user_created".into()),
                ..Default::default()
            };
            let form = UserForm {
                role: f.role,
                station_id: f.station_id,
                ..Default::default()
            };
            list_page(
                &st,
                &u,
                &q,
                form,
                FormErrors::default(),
                generated,
                StatusCode::OK,
            )
            .await
        }
        Ok((_, None)) => Redirect::to("/users?done=user_created").into_response(),
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => {
                list_page(
                    &st,
                    &u,
                    &ListQuery::default(),
                    f,
                    errs,
                    String::new(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
            Err(page) => page.into_response(),
        },
    }
}

#[derive(Template)]
#[template(path = "user_edit.html")]
struct EditPage {
    t: T,
    c: Chrome,
    target: User,
    station: String,
    last_login: String,
    role_opts: Vec<Opt>,
    can_edit: bool,
    is_self: bool,
    display_name: String,
    role: String,
    errs: FormErrors,
    generated: String,
}

struct EditState {
    display_name: Option<String>,
    role: Option<String>,
    errs: FormErrors,
    generated: String,
    done: Option<String>,
    status: StatusCode,
}

impl Default for EditState {
    fn default() -> Self {
        EditState {
            display_name: None,
            role: None,
            errs: FormErrors::default(),
            generated: String::new(),
            done: None,
            status: StatusCode::OK,
        }
    }
}

async fn edit_page(st: &HttpState, u: &WebUser, id: UserId, s: EditState) -> Response {
    let target = match st.app.people().get_user(&u.actor, id).await {
        Ok(t) => t,
        Err(e) => return WebError::app(e, u.t).into_response(),
    };
    let station = match target.station_id {
        Some(sid) => match st.app.people().get_station(&u.actor, sid).await {
            Ok(s) => format!("{} ({})", s.name, s.code),
            Err(_) => sid.to_string(),
        },
        None => u.t.get("user.station.hub").to_owned(),
    };
    let can_edit =
        cityx_core::policy::manage_user(&u.actor, target.station_id, target.role).is_ok();
    let view = EditPage {
        t: u.t,
        c: Chrome::new(u, "users", s.done.as_deref()),
        station,
        last_login: fmt_opt_time(target.last_login_at, u.t.get("user.never")),
        role_opts: role_options(u, Some(target.role.is_hub())),
        can_edit,
        is_self: u.actor.user_id == Some(id),
        display_name: s
            .display_name
            .unwrap_or_else(|| target.display_name.clone()),
        role: s.role.unwrap_or_else(|| target.role.as_str().to_owned()),
        errs: s.errs,
        generated: s.generated,
        target,
    };
    render(&view, u.t, s.status)
}

pub async fn edit(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    match parse_id::<UserId>(&id, ErrorCode::UserNotFound, u.t) {
        Ok(id) => {
            edit_page(
                &st,
                &u,
                id,
                EditState {
                    done: q.done,
                    ..Default::default()
                },
            )
            .await
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct EditForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
}

pub async fn update(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<EditForm>,
) -> Response {
    let id: UserId = match form_target(&u, &f.csrf, &id, ErrorCode::UserNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let patch = UserPatch {
        display_name: Some(f.display_name.clone()),
        role: Some(f.role.clone()),
        disabled: None,
    };
    apply(&st, &u, id, patch, Some((f.display_name, f.role))).await
}

#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    disabled: String,
}

pub async fn set_status(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<StatusForm>,
) -> Response {
    let id: UserId = match form_target(&u, &f.csrf, &id, ErrorCode::UserNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let patch = UserPatch {
        disabled: Some(f.disabled == "1"),
        ..Default::default()
    };
    apply(&st, &u, id, patch, None).await
}

async fn apply(
    st: &HttpState,
    u: &WebUser,
    id: UserId,
    patch: UserPatch,
    typed: Option<(String, String)>,
) -> Response {
    match st.app.people().update_user(&u.actor, id, &patch).await {
        Ok(_) => Redirect::to(&format!("/users/{id}?done=user_updated")).into_response(),
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => {
                let (display_name, role) = typed
                    .map(|(d, r)| (Some(d), Some(r)))
                    .unwrap_or((None, None));
                let s = EditState {
                    display_name,
                    role,
                    errs,
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    ..Default::default()
                };
                edit_page(st, u, id, s).await
            }
            Err(page) => page.into_response(),
        },
    }
}

pub async fn reset_password(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let id: UserId = match form_target(&u, &f.csrf, &id, ErrorCode::UserNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match st.app.people().reset_password(&u.actor, id, None).await {
        Ok((generated, _)) => {
            let s = EditState {
                generated: generated.unwrap_or_default(),
                done: Some("password_reset".to_owned()),
                ..Default::default()
            };
            edit_page(&st, &u, id, s).await
        }
        Err(e) => WebError::app(e, u.t).into_response(),
    }
}
