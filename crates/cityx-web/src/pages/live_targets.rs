//! Restream targets on a channel's page (for its station's admins): the list with each
//! push's state, a form to add one, and per target a form to change it, switch it off or on,
//! and remove it. A partner's key is never shown again, nor put back into a form that came
//! back with a mistake.

use super::live::{Extra, form_back};
use super::{CsrfOnly, FormErrors, form_target};
use crate::error::WebError;
use crate::i18n::T;
use crate::session::{WebForm, WebUser};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use cityx_core::live::target::{Target, TargetInput, TargetState};
use cityx_core::{ChannelId, TargetId};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;
use cityx_live::Targets;

/// A target as the page lists it.
pub struct TargetRow {
    pub id: String,
    pub name: String,
    pub url: String,
    pub key_hint: String,
    /// An SRT target (which may take a passphrase), and whether it has one.
    pub srt: bool,
    pub has_passphrase: bool,
    pub enabled: bool,
    pub state: &'static str,
    pub state_shown: String,
    pub sent: String,
    pub kbps: u32,
    pub attempts: u32,
    pub error: String,
    /// The failure's English detail when `error` names it in Chinese (a hover text).
    pub error_detail: String,
    /// Mistakes of its change form, when it came back.
    pub errs: FormErrors,
}

impl TargetRow {
    pub fn of(t: T, target: &Target) -> Self {
        TargetRow {
            id: target.id.to_string(),
            name: target.name.clone(),
            url: target.url.clone(),
            key_hint: target.key_hint.clone(),
            srt: cityx_core::live::target::is_srt(&target.url),
            has_passphrase: target.has_passphrase,
            enabled: target.enabled,
            state: target.state.as_str(),
            state_shown: t.get2("live.target.state.", target.state.as_str()),
            sent: megabytes(target.bytes),
            kbps: target.kbps,
            attempts: target.attempts,
            error: error_text(t, target),
            error_detail: super::live::trouble_detail(t, target.error_code, &target.error),
            errs: FormErrors::default(),
        }
    }
}

/// Why the target's push failed: while it retries, the reason now; otherwise (idle, or
/// pushing again) the last failure, said to be the last.
fn error_text(t: T, target: &Target) -> String {
    let text = super::live::trouble_text(t, target.error_code, &target.error);
    let past = matches!(target.state, TargetState::Idle | TargetState::Live);
    if past && !text.is_empty() {
        format!("{}{text}", t.get("live.target.last_error"))
    } else {
        text
    }
}

/// Bytes as megabytes with one decimal.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// The add form as typed (never its key), with its mistakes.
#[derive(Default)]
pub struct TargetForm {
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub errs: FormErrors,
}

impl TargetForm {
    pub fn blank() -> Self {
        TargetForm {
            enabled: true,
            ..TargetForm::default()
        }
    }
}

/// A target form as posted.
#[derive(serde::Deserialize)]
pub struct TargetPost {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub key: String,
    /// An SRT target's passphrase (empty: none on a new target, kept on a change).
    #[serde(default)]
    pub passphrase: String,
    /// A checkbox of the change form: present to remove the passphrase.
    #[serde(default)]
    pub passphrase_clear: Option<String>,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub enabled: Option<String>,
}

impl TargetPost {
    fn input(&self) -> TargetInput<'_> {
        TargetInput {
            name: &self.name,
            url: &self.url,
            key: &self.key,
            enabled: self.enabled.is_some(),
            passphrase: if self.passphrase_clear.is_some() {
                Some("")
            } else {
                Some(self.passphrase.trim()).filter(|p| !p.is_empty())
            },
        }
    }

    fn typed(&self, errs: FormErrors) -> TargetForm {
        TargetForm {
            name: self.name.clone(),
            url: self.url.clone(),
            enabled: self.enabled.is_some(),
            errs,
        }
    }
}

/// The targets of a channel its reader manages (empty when they cannot be read).
pub async fn rows(st: &HttpState, u: &WebUser, id: ChannelId) -> Vec<TargetRow> {
    match Targets::of(&st.app).list(&u.actor, id).await {
        Ok(list) => list.iter().map(|t| TargetRow::of(u.t, t)).collect(),
        Err(e) => {
            tracing::warn!(channel = %id, error = %e, "could not list a channel's targets");
            Vec::new()
        }
    }
}

/// A target's address is the form's 服务器地址, not the 链接 other forms have: its
/// mistakes are named after it.
fn server_address(e: cityx_app::Error) -> cityx_app::Error {
    match e {
        cityx_app::Error::Validation(mut fields) => {
            for f in &mut fields {
                if f.field == "url" {
                    f.field = "target_url";
                }
            }
            cityx_app::Error::Validation(fields)
        }
        e => e,
    }
}

fn done(id: ChannelId, what: &str) -> Response {
    Redirect::to(&format!("/live/{id}?done={what}#targets")).into_response()
}

/// `POST /live/{id}/targets`: adds a target.
pub async fn add(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<TargetPost>,
) -> Response {
    let id: ChannelId = match form_target(&u, &f.csrf, &id, ErrorCode::ChannelNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match Targets::of(&st.app).add(&u.actor, id, &f.input()).await {
        Ok(_) => done(id, "target_added"),
        Err(e) => {
            form_back(&st, &u, id, server_address(e), |errs| Extra {
                target: Some(f.typed(errs)),
                ..Extra::default()
            })
            .await
        }
    }
}

fn ids(u: &WebUser, csrf: &str, id: &str, target: &str) -> Result<(ChannelId, TargetId), WebError> {
    let channel = form_target(u, csrf, id, ErrorCode::ChannelNotFound)?;
    let target = super::parse_id(target, ErrorCode::NotFound, u.t)?;
    Ok((channel, target))
}

/// `POST /live/{id}/targets/{target}`: changes a target (an empty key keeps the stored one).
pub async fn change(
    State(st): State<HttpState>,
    u: WebUser,
    Path((id, target)): Path<(String, String)>,
    WebForm(f): WebForm<TargetPost>,
) -> Response {
    let (id, target) = match ids(&u, &f.csrf, &id, &target) {
        Ok(ids) => ids,
        Err(e) => return e.into_response(),
    };
    match Targets::of(&st.app)
        .change(&u.actor, id, target, &f.input())
        .await
    {
        Ok(_) => done(id, "target_updated"),
        Err(e) => {
            form_back(&st, &u, id, server_address(e), |errs| Extra {
                target_errs: Some((target.to_string(), errs)),
                ..Extra::default()
            })
            .await
        }
    }
}

/// `POST /live/{id}/targets/{target}/switch`: switches a target off or on.
pub async fn switch(
    State(st): State<HttpState>,
    u: WebUser,
    Path((id, target)): Path<(String, String)>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let (id, target) = match ids(&u, &f.csrf, &id, &target) {
        Ok(ids) => ids,
        Err(e) => return e.into_response(),
    };
    let targets = Targets::of(&st.app);
    let current = match targets.get(&u.actor, id, target).await {
        Ok(t) => t,
        Err(e) => return WebError::app(e, u.t).into_response(),
    };
    let input = TargetInput {
        name: &current.name,
        url: &current.url,
        key: "",
        enabled: !current.enabled,
        passphrase: None,
    };
    match targets.change(&u.actor, id, target, &input).await {
        Ok(_) => done(id, "target_updated"),
        Err(e) => WebError::app(e, u.t).into_response(),
    }
}

/// `POST /live/{id}/targets/{target}/delete`.
pub async fn delete(
    State(st): State<HttpState>,
    u: WebUser,
    Path((id, target)): Path<(String, String)>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let (id, target) = match ids(&u, &f.csrf, &id, &target) {
        Ok(ids) => ids,
        Err(e) => return e.into_response(),
    };
    match Targets::of(&st.app).remove(&u.actor, id, target).await {
        Ok(()) => done(id, "target_deleted"),
        Err(e) => WebError::app(e, u.t).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cityx_core::live::Trouble;
    use cityx_http::i18n::Lang;

    #[test]
    fn an_idle_target_says_its_error_is_the_last_one() {
        let t = T(Lang::Zh);
        let mut target = Target {
            id: TargetId::new(),
            channel_id: ChannelId::new(),
            name: "合作平台".into(),
            url: "rtmp://push.example.org/live".into(),
            key_hint: "ab12".into(),
            has_passphrase: false,
            enabled: true,
            state: TargetState::Retrying,
            error: "connection refused".into(),
            error_code: Some(Trouble::Refused),
            bytes: 0,
            kbps: 0,
            attempts: 3,
            reported_at: None,
            created_at: cityx_core::now(),
        };
        let now = error_text(t, &target);
        assert!(!now.is_empty() && !now.starts_with("上次失败："), "{now}");
        target.state = TargetState::Idle;
        assert_eq!(error_text(t, &target), format!("上次失败：{now}"));
        target.error.clear();
        target.error_code = None;
        assert_eq!(error_text(t, &target), "");
    }
}
