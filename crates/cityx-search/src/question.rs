//! The search question, the one shape it has from the door to the index: what the API's and
//! the web UI's query strings deserialize into, what follows and pages build, and what
//! [`SearchInput::validate`] turns into the index's [`Request`]. Pure (no index, no I/O), so
//! the fuzz target `search_question` reaches it as the server does: a query string, then
//! validation.

use crate::{Filters, Request, Sort};
use cityx_core::{FieldError, StationId};

/// A search question, the one shape it has from the door to the index: the API's and the web
/// UI's query string deserialize into it, follows and pages build it, and
/// [`SearchInput::validate`] turns it into the index's request. Text is never syntax:
/// quotes, colons and operators are just text. An unknown parameter is a 400 `invalid_query`.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchInput {
    /// Words in Chinese (simplified or traditional) or other languages.
    pub q: Option<String>,
    /// A station id.
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub station: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub category: Option<String>,
    /// Contributed on or after this day (`YYYY-MM-DD`, China Standard Time).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Contributed on or before this day.
    #[param(format = Date)]
    pub to: Option<String>,
    /// Seconds.
    #[param(minimum = 0)]
    pub min_duration: Option<f64>,
    #[param(minimum = 0)]
    pub max_duration: Option<f64>,
    /// `2160p`, `1080p`, `720p` or `sd`.
    #[param(pattern = "^(2160p|1080p|720p|sd)?$")]
    pub resolution: Option<String>,
    /// Technical check verdict: `pass`, `warn` or `fail`.
    #[param(pattern = "^(pass|warn|fail)?$")]
    pub qc: Option<String>,
    /// Only meaningful for one's own items: `processing`, `ready`, `failed`, `rejected`, `withdrawn`.
    #[param(pattern = "^(processing|ready|failed|rejected|withdrawn)?$")]
    pub status: Option<String>,
    /// Only items contributed to this topic zone (a zone id).
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub zone: Option<String>,
    /// `relevance` (default), `newest` or `adoptions`.
    #[param(pattern = "^(relevance|newest|adoptions)?$")]
    pub sort: Option<String>,
    /// 1-based (at most 100).
    #[param(minimum = 1, maximum = 100)]
    pub page: Option<u32>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// `false` leaves out the facet counts, which makes broad searches faster. Default `true`.
    pub facets: Option<bool>,
}

/// Results per page at most.
pub const MAX_PER_PAGE: u32 = 100;

/// The first instant (epoch ms) of a `YYYY-MM-DD` Beijing day, as the editors read dates.
fn day_start_ms(field: &'static str, day: &str, errs: &mut Vec<FieldError>) -> Option<i64> {
    if day.is_empty() {
        return None;
    }
    match cityx_core::day::parse(day) {
        Some(d) => Some(cityx_core::epoch_ms(cityx_core::day::start(d))),
        None => {
            errs.push(FieldError::new(
                field,
                "bad_format",
                format!("{field} must be YYYY-MM-DD"),
            ));
            None
        }
    }
}

fn one_of(
    field: &'static str,
    value: &str,
    allowed: &[&str],
    errs: &mut Vec<FieldError>,
) -> Option<String> {
    match value.trim() {
        "" => None,
        v if allowed.contains(&v) => Some(v.to_owned()),
        _ => {
            errs.push(FieldError::new(
                field,
                "bad_value",
                format!("{field} must be one of {}", allowed.join(", ")),
            ));
            None
        }
    }
}

fn short_text(value: &str) -> Option<String> {
    let v = value.trim();
    (!v.is_empty()).then(|| v.chars().take(50).collect())
}

impl SearchInput {
    /// The index's request, or every malformed field at once.
    pub fn validate(&self) -> Result<Request, Vec<FieldError>> {
        fn text(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or_default()
        }
        let mut errs = Vec::new();
        let station = match text(&self.station).trim() {
            "" => None,
            s => match s.parse::<StationId>() {
                Ok(id) => Some(id),
                Err(_) => {
                    errs.push(FieldError::new(
                        "station",
                        "bad_format",
                        "station must be a station id",
                    ));
                    None
                }
            },
        };
        let zone = match text(&self.zone).trim() {
            "" => None,
            z => match z.parse::<cityx_core::ZoneId>() {
                Ok(id) => Some(id.to_string()),
                Err(_) => {
                    errs.push(FieldError::new(
                        "zone",
                        "bad_format",
                        "zone must be a zone id",
                    ));
                    None
                }
            },
        };
        let from = day_start_ms("from", text(&self.from).trim(), &mut errs);
        let to = day_start_ms("to", text(&self.to).trim(), &mut errs).map(|t| t + 86_400_000);
        let sort = match text(&self.sort).trim() {
            "" | "relevance" => Sort::Relevance,
            "newest" => Sort::Newest,
            "adoptions" => Sort::Adoptions,
            _ => {
                errs.push(FieldError::new(
                    "sort",
                    "bad_value",
                    "sort must be relevance, newest or adoptions",
                ));
                Sort::Relevance
            }
        };
        for (field, v) in [
            ("min_duration", self.min_duration),
            ("max_duration", self.max_duration),
        ] {
            if v.is_some_and(|d| !d.is_finite() || d < 0.0) {
                errs.push(FieldError::new(
                    field,
                    "bad_value",
                    format!("{field} must be seconds, 0 or more"),
                ));
            }
        }
        if text(&self.q).chars().count() > 200 {
            errs.push(FieldError::new(
                "q",
                "too_long",
                "q must be at most 200 characters",
            ));
        }
        let mut in_range = |field: &'static str, v: Option<u32>, default: u32, max: u32| match v {
            None => default,
            Some(n) if (1..=max).contains(&n) => n,
            Some(_) => {
                errs.push(FieldError::new(
                    field,
                    "out_of_range",
                    format!("{field} must be between 1 and {max}"),
                ));
                default
            }
        };
        let per_page = in_range("per_page", self.per_page, 20, MAX_PER_PAGE);
        let page = in_range("page", self.page, 1, 100);
        let filters = Filters {
            station,
            city: short_text(text(&self.city)),
            province: short_text(text(&self.province)),
            category: short_text(text(&self.category)),
            from,
            to,
            min_duration: self.min_duration,
            max_duration: self.max_duration,
            resolution: one_of(
                "resolution",
                text(&self.resolution),
                &["2160p", "1080p", "720p", "sd"],
                &mut errs,
            ),
            qc: one_of("qc", text(&self.qc), &["pass", "warn", "fail"], &mut errs),
            status: one_of(
                "status",
                text(&self.status),
                &["processing", "ready", "failed", "rejected", "withdrawn"],
                &mut errs,
            ),
            zone,
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Request {
            q: text(&self.q).trim().to_owned(),
            filters,
            sort,
            offset: ((page - 1) * per_page) as usize,
            limit: per_page as usize,
            skip_facets: self.facets == Some(false),
        })
    }
}
