//! Webhooks (接口推送): a station admin registers addresses, sees each one's deliveries, and
//! retries a failed one; the hub admin sees and deletes every station's.

use super::{
    Chrome, CsrfOnly, FormErrors, ListQuery, fmt_time, form_target, parse_id, redirect_or_error,
};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{FormList, WebForm, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cityx_core::{EventKind, JobId, Webhook, WebhookId, WebhookInput, policy};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;

/// An event kind as a checkbox.
pub struct KindOpt {
    pub value: &'static str,
    pub label: String,
    pub checked: bool,
}

/// A webhook as the list shows it.
pub struct HookRow {
    pub id: String,
    pub url: String,
    pub kinds: String,
    pub station: String,
    pub created: String,
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
}

fn kinds_text(t: T, w: &Webhook) -> String {
    if w.kinds.is_empty() {
        return t.get("webhook.kinds.all").to_owned();
    }
    w.kinds
        .iter()
        .map(|k| t.get2("event.", k.as_str()))
        .collect::<Vec<_>>()
        .join(" · ")
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    t: T,
    c: Chrome,
    rows: Vec<HookRow>,
    may_create: bool,
    hub: bool,
    kind_opts: Vec<KindOpt>,
    url: String,
    errs: FormErrors,
    secret: String,
}

/// What the create form holds.
struct Typed {
    url: String,
    kinds: Vec<String>,
    errs: FormErrors,
    secret: String,
    status: StatusCode,
}

impl Typed {
    fn blank() -> Self {
        Typed {
            url: String::new(),
            kinds: Vec::new(),
            errs: FormErrors::default(),
            secret: String::new(),
            status: StatusCode::OK,
        }
    }
}

async fn page(st: &HttpState, u: &WebUser, done: Option<&str>, typed: Typed) -> Response {
    let t = u.t;
    let hooks = match cityx_webhooks::Webhooks::of(&st.app).list(&u.actor).await {
        Ok(h) => h,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let hub = u.is_hub_admin();
    let names = if hub {
        match st.app.people().station_directory(&u.actor).await {
            Ok(d) => d.into_iter().map(|s| (s.id, s.name)).collect(),
            Err(e) => return WebError::app(e, t).into_response(),
        }
    } else {
        Vec::new()
    };
    let rows = hooks
        .iter()
        .map(|w| HookRow {
            id: w.id.to_string(),
            url: w.url.clone(),
            kinds: kinds_text(t, w),
            station: names
                .iter()
                .find(|(id, _)| *id == w.station_id)
                .map(|(_, n)| n.clone())
                .unwrap_or_default(),
            created: fmt_time(w.created_at),
            pending: w.pending,
            delivered: w.delivered,
            failed: w.failed,
        })
        .collect();
    let view = WebhooksPage {
        t,
        c: Chrome::new(u, "webhooks", done),
        rows,
        may_create: policy::create_webhook(&u.actor).is_ok(),
        hub,
        kind_opts: EventKind::ALL
            .iter()
            .map(|k| KindOpt {
                value: k.as_str(),
                label: t.get2("event.", k.as_str()),
                checked: typed.kinds.iter().any(|x| x == k.as_str()),
            })
            .collect(),
        url: typed.url,
        errs: typed.errs,
        secret: typed.secret,
    };
    render(&view, t, typed.status)
}

/// `/webhooks`: the station's webhooks and the form to add one.
pub async fn list(State(st): State<HttpState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    page(&st, &u, q.done.as_deref(), Typed::blank()).await
}

/// `POST /webhooks`: adds one and shows its secret once.
pub async fn create(State(st): State<HttpState>, u: WebUser, f: FormList) -> Response {
    if let Err(e) = u.check_csrf(f.get("_csrf")) {
        return e.into_response();
    }
    let kinds = f.all("kinds");
    let input = WebhookInput {
        url: f.get("url"),
        kinds: kinds.clone(),
    };
    match cityx_webhooks::Webhooks::of(&st.app)
        .create(&u.actor, &input)
        .await
    {
        Ok(made) => {
            let fresh = Typed {
                secret: made.secret,
                ..Typed::blank()
            };
            page(&st, &u, Some("webhook_created"), fresh).await
        }
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => {
                let typed = Typed {
                    url: input.url.to_owned(),
                    kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
                    errs,
                    secret: String::new(),
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                };
                page(&st, &u, None, typed).await
            }
            Err(p) => p.into_response(),
        },
    }
}

/// A delivery as the log shows it.
pub struct DeliveryRow {
    pub id: String,
    pub seq: i64,
    pub kind: String,
    pub state: &'static str,
    pub attempts: i64,
    pub status: String,
    pub error: String,
    pub at: String,
    pub failed: bool,
}

#[derive(Template)]
#[template(path = "webhook.html")]
struct WebhookPage {
    t: T,
    c: Chrome,
    id: String,
    url: String,
    kinds: String,
    rows: Vec<DeliveryRow>,
}

/// `/webhooks/{id}`: the webhook's latest deliveries.
pub async fn show(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let t = u.t;
    let id: WebhookId = match parse_id(&id, ErrorCode::WebhookNotFound, t) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let view = match cityx_webhooks::Webhooks::of(&st.app)
        .get(&u.actor, id)
        .await
    {
        Ok(v) => v,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let rows = view
        .deliveries
        .iter()
        .map(|d| DeliveryRow {
            id: d.id.to_string(),
            seq: d.event_seq,
            kind: t.get2("event.", d.event_kind.as_str()),
            state: d.state.as_str(),
            attempts: d.attempts,
            status: d.response_status.map(|s| s.to_string()).unwrap_or_default(),
            error: d.error.clone().unwrap_or_default(),
            at: fmt_time(d.updated_at),
            failed: d.state == cityx_core::DeliveryState::Failed,
        })
        .collect();
    let page = WebhookPage {
        t,
        c: Chrome::new(&u, "webhooks", q.done.as_deref()),
        id: view.webhook.id.to_string(),
        url: view.webhook.url.clone(),
        kinds: kinds_text(t, &view.webhook),
        rows,
    };
    render(&page, t, StatusCode::OK)
}

/// `POST /webhooks/{id}/delete`.
pub async fn delete(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let id: WebhookId = match form_target(&u, &f.csrf, &id, ErrorCode::WebhookNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(
        cityx_webhooks::Webhooks::of(&st.app)
            .delete(&u.actor, id)
            .await,
        u.t,
        |()| "/webhooks?done=webhook_deleted",
    )
}

/// `POST /webhooks/{id}/deliveries/{delivery}/retry`.
pub async fn retry(
    State(st): State<HttpState>,
    u: WebUser,
    Path((id, delivery)): Path<(String, String)>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let id: WebhookId = match form_target(&u, &f.csrf, &id, ErrorCode::WebhookNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let delivery: JobId = match parse_id(&delivery, ErrorCode::DeliveryNotFound, u.t) {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(
        cityx_webhooks::Webhooks::of(&st.app)
            .retry_delivery(&u.actor, id, delivery)
            .await,
        u.t,
        |()| format!("/webhooks/{id}?done=delivery_retried"),
    )
}
