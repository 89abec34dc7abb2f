//! The pages. Each handler reads through a `cityx-app` use case and renders a template;
//! each form handler checks the CSRF token, calls one use case and redirects (or re-renders
//! the form with its errors).

pub mod account;
pub mod audit;
pub mod exchange;
pub mod follows;
pub mod home;
pub mod items;
pub mod library;
pub mod live;
pub mod live_targets;
pub mod login;
pub mod notices;
pub mod stations;
pub mod tokens;
pub mod users;
pub mod webhooks;
pub mod zones;

use crate::error::WebError;
use crate::i18n::T;
use crate::session::{WebUser, encode_component};
use cityx_core::FieldError;
use cityx_http::error::ErrorCode;
use time::{OffsetDateTime, UtcOffset};

/// What the frame around every page needs: the user, the navigation, the flash message.
pub struct Chrome {
    pub email: String,
    pub role: String,
    pub csrf: String,
    /// Navigation key of the current area (`home`, `stations` …).
    pub current: &'static str,
    /// This page, encoded, for the language switch to return to.
    pub here: String,
    pub hub_admin: bool,
    pub list_users: bool,
    pub audit: bool,
    /// May contribute items.
    pub contribute: bool,
    /// Belongs to a station, which has its own items (the library).
    pub library: bool,
    /// Open notices to the user's station.
    pub open_notices: usize,
    /// May read the network's statistics.
    pub statistics: bool,
    /// May manage webhooks.
    pub webhooks: bool,
    /// A translated "done" message after a redirect.
    pub done: String,
}

impl Chrome {
    pub fn new(u: &WebUser, current: &'static str, done: Option<&str>) -> Self {
        Chrome {
            email: u.actor.label.clone(),
            role: u.t.get2("role.", u.actor.role.as_str()),
            csrf: u.csrf.clone(),
            current,
            here: encode_component(&u.path),
            hub_admin: u.is_hub_admin(),
            list_users: u.can_list_users(),
            audit: u.can_read_audit(),
            contribute: cityx_core::policy::contribute(&u.actor).is_ok(),
            library: u.actor.station_id.is_some(),
            open_notices: u.open_notices,
            statistics: cityx_core::policy::read_statistics(&u.actor).is_ok(),
            webhooks: cityx_core::policy::manage_webhooks(&u.actor).is_ok(),
            done: done
                .map(|d| {
                    let key = format!("done.{d}");
                    let text = u.t.get(&key);
                    if text == key {
                        String::new()
                    } else {
                        text.to_owned()
                    }
                })
                .unwrap_or_default(),
        }
    }
}

/// Field errors of a form, translated.
#[derive(Clone, Default)]
pub struct FormErrors {
    pub messages: Vec<String>,
    fields: Vec<&'static str>,
}

impl FormErrors {
    pub fn from_fields(t: T, errs: &[FieldError]) -> Self {
        FormErrors {
            messages: errs
                .iter()
                .map(|e| {
                    let label = t.get2("field.", e.field);
                    // Names a reader typed that are no station's are named back.
                    let reason = if e.code == UNKNOWN_NAMES {
                        format!(
                            "{}{}{}",
                            t.get("fe.unknown_station"),
                            t.get("common.colon"),
                            e.message
                        )
                    } else {
                        t.get2("fe.", e.code)
                    };
                    // A reason about the whole form is not pinned to one field.
                    if e.code == "unchanged" {
                        return reason;
                    }
                    if t.is_zh() {
                        format!("{label}：{reason}")
                    } else {
                        format!("{label} {reason}")
                    }
                })
                .collect(),
            fields: errs.iter().map(|e| e.field).collect(),
        }
    }

    pub fn message(msg: String) -> Self {
        FormErrors {
            messages: vec![msg],
            fields: Vec::new(),
        }
    }

    /// Turns a use-case error into form errors, or passes it on as a page error.
    pub fn from_app(t: T, e: cityx_app::Error) -> Result<Self, crate::error::WebError> {
        match e {
            cityx_app::Error::Validation(f) => Ok(Self::from_fields(t, &f)),
            cityx_app::Error::Conflict { .. } | cityx_app::Error::CannotChangeSelf => {
                Ok(Self::message(crate::error::WebError::app(e, t).message()))
            }
            e => Err(crate::error::WebError::app(e, t)),
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields.contains(&field)
    }

    pub fn any(&self) -> bool {
        !self.messages.is_empty()
    }
}

/// The start of every form that acts on one entity: the CSRF token must match and the id in
/// the path must parse.
pub fn form_target<I: std::str::FromStr>(
    u: &WebUser,
    csrf: &str,
    raw_id: &str,
    not_found: ErrorCode,
) -> Result<I, WebError> {
    u.check_csrf(csrf)?;
    parse_id(raw_id, not_found, u.t)
}

/// How a form's change ends: a redirect to `to(value)` when it worked, the error page in the
/// reader's language when it did not.
pub fn redirect_or_error<V, S: AsRef<str>>(
    result: Result<V, cityx_app::Error>,
    t: T,
    to: impl FnOnce(V) -> S,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match result {
        Ok(v) => axum::response::Redirect::to(to(v).as_ref()).into_response(),
        Err(e) => WebError::app(e, t).into_response(),
    }
}

/// A form that carries nothing but its CSRF token (a button).
#[derive(serde::Deserialize)]
pub struct CsrfOnly {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
}

/// Parses an id from a page path; a malformed one is simply "not found".
pub fn parse_id<I: std::str::FromStr>(
    raw: &str,
    not_found: ErrorCode,
    t: T,
) -> Result<I, WebError> {
    raw.parse().map_err(|_| WebError::code(not_found, t))
}

/// Times are shown in China Standard Time, where the stations are.
pub fn fmt_time(t: OffsetDateTime) -> String {
    let cst = UtcOffset::from_hms(8, 0, 0).unwrap_or(UtcOffset::UTC);
    let t = t.to_offset(cst);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

pub fn fmt_opt_time(t: Option<OffsetDateTime>, never: &str) -> String {
    t.map(fmt_time).unwrap_or_else(|| never.to_owned())
}

/// The reason of a form's field that names stations that do not exist; its message is the
/// names, as typed, and is shown.
const UNKNOWN_NAMES: &str = "unknown_station_names";

/// Stations as an editor names them in a form (codes or names, separated by commas, spaces
/// or 、): the ids of those found in `directory`, or the mistake of `field` that names the
/// names that are no station's.
pub fn stations_named(
    directory: &[cityx_app::StationEntry],
    field: &'static str,
    text: &str,
) -> Result<Vec<String>, FieldError> {
    let (mut found, mut unknown) = (Vec::new(), Vec::new());
    for name in text
        .split([',', '，', ' ', '、'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match directory
            .iter()
            .find(|d| d.code.eq_ignore_ascii_case(name) || d.name == name)
        {
            Some(d) => found.push(d.id.to_string()),
            None => unknown.push(name.to_owned()),
        }
    }
    if unknown.is_empty() {
        Ok(found)
    } else {
        Err(FieldError::new(field, UNKNOWN_NAMES, unknown.join("、")))
    }
}

/// The codes of stations by id, as a form shows them (ids no longer in `directory` left out).
pub fn station_codes(
    directory: &[cityx_app::StationEntry],
    ids: &[cityx_core::StationId],
) -> String {
    ids.iter()
        .filter_map(|s| {
            directory
                .iter()
                .find(|d| d.id == *s)
                .map(|d| d.code.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Query parameters every list page takes.
#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    pub cursor: Option<String>,
    pub done: Option<String>,
    pub station_id: Option<String>,
    pub all: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_in_china_standard_time() {
        let t = time::macros::datetime!(2026-11-21 16:30 UTC);
        assert_eq!(fmt_time(t), "2026-11-22 00:30");
        assert_eq!(fmt_opt_time(None, "从未"), "从未");
    }

    #[test]
    fn field_errors_are_translated() {
        let errs = [FieldError::new("code", "bad_format", "x")];
        let zh = FormErrors::from_fields(T(crate::i18n::Lang::Zh), &errs);
        assert_eq!(zh.messages, vec!["代码：格式不正确"]);
        assert!(zh.has("code") && !zh.has("name"));
        let en = FormErrors::from_fields(T(crate::i18n::Lang::En), &errs);
        assert_eq!(en.messages, vec!["Code is not in the right format"]);
    }
}
