use super::exchange::{HitView, hit_view};
use super::{
    Chrome, CsrfOnly, FormErrors, ListQuery, fmt_time, form_target, parse_id, redirect_or_error,
};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::WebForm;
use crate::session::WebUser;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cityx_app::SearchHit;
use cityx_core::human_size as human;
use cityx_core::{Asset, AssetId};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;

/// The error codes an upload can meet, for the page's script.
const UPLOAD_ERRORS: [&str; 10] = [
    "upload_too_large",
    "quota_exceeded",
    "validation_failed",
    "forbidden",
    "upload_gone",
    "upload_locked",
    "checksum_mismatch",
    "csrf_failed",
    "unauthenticated",
    "offset_mismatch",
];

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    t: T,
    c: Chrome,
    max_size: u64,
    max_size_text: String,
    /// Texts for the script, as JSON.
    texts: String,
    /// The import-by-URL form as sent, and what was wrong with it.
    import: ImportForm,
    errs: FormErrors,
    /// The visibilities an uploader may choose, and whether each is the station's default.
    visibilities: Vec<(&'static str, bool)>,
}

#[derive(serde::Deserialize, Default)]
pub struct ImportForm {
    #[serde(default, rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    title: String,
}

pub async fn upload(State(st): State<HttpState>, u: WebUser) -> Response {
    upload_page(&st, &u, ImportForm::default(), FormErrors::default()).await
}

/// Imports an item by URL from the upload page; its page follows the fetch.
pub async fn import(
    State(st): State<HttpState>,
    u: WebUser,
    WebForm(f): WebForm<ImportForm>,
) -> Response {
    if let Err(e) = u.check_csrf(&f.csrf) {
        return e.into_response();
    }
    let input = cityx_core::AssetInput {
        title: &f.title,
        ..Default::default()
    };
    match st
        .app
        .ingest()
        .create_import(&u.actor, &f.url, &input)
        .await
    {
        Ok(a) => Redirect::to(&format!("/items/{}?done=import_started", a.id)).into_response(),
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => upload_page(&st, &u, f, errs).await,
            Err(page) => page.into_response(),
        },
    }
}

async fn upload_page(
    st: &HttpState,
    u: &WebUser,
    import: ImportForm,
    errs: FormErrors,
) -> Response {
    if let Err(e) = cityx_core::policy::contribute(&u.actor) {
        return WebError::app(e.into(), u.t).into_response();
    }
    let t = u.t;
    let mut errors = serde_json::Map::new();
    for code in UPLOAD_ERRORS {
        errors.insert(code.to_owned(), t.get2("err.", code).into());
    }
    // A refused field is named, with why, as the forms do (FormErrors::from_fields).
    let mut fields = serde_json::Map::new();
    for field in [
        "filename",
        "title",
        "summary",
        "script",
        "keywords",
        "category",
        "city",
        "shot_date",
        "copyright",
        "licence",
        "embargo_until",
        "visibility",
    ] {
        fields.insert(field.to_owned(), t.get2("field.", field).into());
    }
    let mut reasons = serde_json::Map::new();
    for code in [
        "required",
        "too_long",
        "bad_format",
        "bad_value",
        "not_allowed",
    ] {
        reasons.insert(code.to_owned(), t.get2("fe.", code).into());
    }
    let texts = serde_json::json!({
        "pause": t.get("upload.pause"),
        "resume": t.get("upload.resume"),
        "retry": t.get("upload.retry"),
        "paused": t.get("upload.paused"),
        "done": t.get("upload.done"),
        "failed": t.get("upload.failed"),
        "network": t.get("upload.network"),
        "reconnecting": t.get("upload.reconnecting"),
        "cancelled": t.get("upload.cancelled"),
        "confirm_cancel": t.get("upload.confirm_cancel"),
        "file_title": t.get("upload.file_title"),
        "errors": errors,
        "fields": fields,
        "reasons": reasons,
        "colon": if t.is_zh() { "：" } else { " " },
    });
    let max = st.app.ingest().upload_options().max_size;
    let default = match u.actor.station_id {
        Some(own) => match st.app.people().get_station(&u.actor, own).await {
            Ok(s) => s.default_visibility,
            Err(e) => return WebError::app(e, t).into_response(),
        },
        None => cityx_core::Visibility::Exchange,
    };
    let visibilities = [
        cityx_core::Visibility::Private,
        cityx_core::Visibility::Exchange,
        cityx_core::Visibility::Public,
    ]
    .into_iter()
    .map(|v| (v.as_str(), v == default))
    .collect();
    let status = if errs.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = UploadPage {
        t,
        c: Chrome::new(u, "upload", None),
        max_size: max,
        max_size_text: human(max),
        texts: texts.to_string().replace("</", "<\\/"),
        import,
        errs,
        visibilities,
    };
    render(&page, t, status)
}

pub struct JobRow {
    /// The stored kind, for the page's script.
    pub code: String,
    pub kind: String,
    pub state: String,
    pub progress: u32,
    pub error: String,
}

#[derive(Template)]
#[template(path = "asset.html")]
struct AssetPage {
    t: T,
    c: Chrome,
    a: Asset,
    status: String,
    size: String,
    created: String,
    embargo: String,
    keywords: String,
    /// The earlier item with the same file, by title, when the reader may see it.
    duplicate: Option<(AssetId, String)>,
    /// The name of the live channel it was cut or recorded from, when the reader may see it.
    from_channel: String,
    /// Its corrections, newest first.
    corrections: Vec<CorrectionRow>,
    /// Why the item failed, explained in the reader's language where we can.
    failure: String,
    /// What `failure` is: a processing failure, or the withdrawal's reason.
    failure_label: String,
    /// One line: container, duration, picture, sound.
    technical: String,
    jobs: Vec<JobRow>,
    /// Still changing: the page follows it.
    live: bool,
    signature: String,
    /// The playlist to play; empty until something plays.
    player_src: String,
    poster_src: String,
    /// The storyboard's WebVTT, for the seek bar's previews; empty without one.
    storyboard_src: String,
    /// Playing the fast path's copy while the ladder is made.
    fast_preview: bool,
    thumbs: Vec<String>,
    /// Other items of the same master file, and similar items, as the reader may see them.
    same_file: Vec<HitView>,
    similar: Vec<HitView>,
    qc: Option<QcView>,
    /// When a deleted item is purged; empty when it is not deleted.
    purge_after: String,
    /// The reader may delete or restore it.
    may_manage: bool,
    /// The exchange's side of the item.
    x: ExchangeBox,
    /// A form sent back with its mistakes.
    retry: Retry,
}

/// What the item page shows of the exchange: adopting and downloading for other stations,
/// rights and credits for the contributor.
#[derive(Default)]
pub struct ExchangeBox {
    pub contributor: String,
    /// The reader's station may adopt it (another station's item, a role that adopts).
    pub may_adopt: bool,
    pub embargoed: bool,
    pub has_proxy: bool,
    /// What the reader's station has adopted of it: `master`, `proxy`, `library`.
    pub adopted: Vec<String>,
    /// The contributor (or the hub) may set its rights.
    pub may_set_rights: bool,
    /// Every visibility, and whether it is the item's.
    pub visibility_options: Vec<(&'static str, bool)>,
    /// Station codes it is shared with.
    pub shared_codes: String,
    /// `YYYY-MM-DDTHH:MM`, China Standard Time, for a datetime-local input.
    pub embargo_local: String,
    pub embargo_hides: bool,
    /// The stations one can name: `甲电视台 (sta)、…`.
    pub stations_hint: String,
    /// Who adopted it (for the contributor): station, form, purpose, when.
    pub credits: Vec<(String, String, String, String)>,
    /// The contributor may correct it (not withdrawn or deleted).
    pub may_correct: bool,
    /// The contributor may withdraw it (ready or processing).
    pub may_withdraw: bool,
    /// The question asked before withdrawing, with how many stations will be told.
    pub withdraw_confirm: String,
    /// Notices sent about it, with who has acknowledged (for the contributor).
    pub notices: Vec<super::notices::NoticeRow>,
}

async fn exchange_box(
    st: &HttpState,
    u: &WebUser,
    a: &Asset,
) -> Result<ExchangeBox, cityx_app::Error> {
    let t = u.t;
    let directory = st.app.people().station_directory(&u.actor).await?;
    let name_of = |id: cityx_core::StationId| {
        directory
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.name.clone())
            .unwrap_or_default()
    };
    let own = u.actor.station_id == Some(a.station_id);
    let mine = u.actor.tenant_scope().admits(Some(a.station_id));
    let mut x = ExchangeBox {
        contributor: name_of(a.station_id),
        may_adopt: !own && cityx_core::policy::adopt(&u.actor).is_ok(),
        embargoed: cityx_core::exchange::embargoed(a, cityx_core::now()),
        has_proxy: a.derived.as_ref().is_some_and(|d| d["proxy"].is_string()),
        // A withdrawn item's rights no longer matter: nobody else may see it.
        may_set_rights: mine
            && a.status != cityx_core::AssetStatus::Withdrawn
            && cityx_core::policy::manage_items(&u.actor).is_ok(),
        may_correct: mine
            && a.deleted_at.is_none()
            && cityx_core::notice::may_correct(a.status)
            && cityx_core::policy::manage_items(&u.actor).is_ok(),
        may_withdraw: mine
            && a.deleted_at.is_none()
            && cityx_core::notice::may_withdraw(a.status)
            && cityx_core::policy::manage_items(&u.actor).is_ok(),
        withdraw_confirm: String::new(),
        visibility_options: [
            cityx_core::Visibility::Exchange,
            cityx_core::Visibility::Stations,
            cityx_core::Visibility::Private,
            cityx_core::Visibility::Public,
        ]
        .into_iter()
        .map(|v| (v.as_str(), v == a.visibility))
        .collect(),
        shared_codes: super::station_codes(&directory, &a.shared_with),
        embargo_local: a
            .meta
            .embargo_until
            .map(|e| {
                let cst = e.to_offset(time::macros::offset!(+8));
                format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}",
                    cst.year(),
                    u8::from(cst.month()),
                    cst.day(),
                    cst.hour(),
                    cst.minute()
                )
            })
            .unwrap_or_default(),
        embargo_hides: a.embargo_hides,
        stations_hint: directory
            .iter()
            .filter(|d| d.id != a.station_id)
            .map(|d| format!("{} ({})", d.name, d.code))
            .collect::<Vec<_>>()
            .join("、"),
        ..Default::default()
    };
    let page = cityx_app::PageRequest::first(100);
    if x.may_adopt {
        let f = cityx_app::AdoptionFilter {
            station: u.actor.station_id,
            asset: Some(a.id),
            ..Default::default()
        };
        for ad in st
            .app
            .exchange()
            .list_adoptions(&u.actor, &f, &page)
            .await?
            .items
        {
            if !x.adopted.contains(&ad.rendition) {
                x.adopted.push(ad.rendition);
            }
        }
    }
    if mine {
        let f = cityx_app::AdoptionFilter {
            asset: Some(a.id),
            ..Default::default()
        };
        x.credits = st
            .app
            .exchange()
            .list_adoptions(&u.actor, &f, &page)
            .await?
            .items
            .into_iter()
            .map(|ad| {
                (
                    ad.station_name,
                    t.get2("adopt.take.", &ad.rendition),
                    ad.purpose,
                    fmt_time(ad.at),
                )
            })
            .collect();
        x.notices = st
            .app
            .notices()
            .list_notices(
                &u.actor,
                cityx_app::NoticeDirection::Issued,
                Some(a.id),
                false,
                &page,
            )
            .await?
            .items
            .into_iter()
            .map(|n| super::notices::notice_row(t, n))
            .collect();
        let adopters: std::collections::HashSet<&str> =
            x.credits.iter().map(|c| c.0.as_str()).collect();
        x.withdraw_confirm = t
            .get("manage.withdraw_confirm")
            .replace("{n}", &adopters.len().to_string());
    }
    Ok(x)
}

/// The technical check as the page shows it.
pub struct QcView {
    pub verdict: String,
    /// `pass`, `warn` or `fail`, for styling.
    pub class: String,
    pub findings: Vec<FindingRow>,
    pub loudness: String,
    pub true_peak: String,
    pub lra: String,
}

pub struct FindingRow {
    pub check: String,
    /// Where the player seeks to show it, in seconds; empty without a time.
    pub seek: String,
    pub severity: String,
    pub class: String,
    pub time: String,
    pub value: String,
    pub expected: String,
}

/// `83.25` → `00:01:23.3`.
fn timecode(seconds: f64) -> String {
    let tenths = (seconds.max(0.0) * 10.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{}",
        tenths / 36_000,
        tenths / 600 % 60,
        tenths / 10 % 60,
        tenths % 10
    )
}

fn qc_view(t: T, qc: &serde_json::Value) -> Option<QcView> {
    let verdict = qc["verdict"].as_str()?;
    let m = &qc["measurements"];
    let num = |v: &serde_json::Value, unit: &str| {
        v.as_f64()
            .map(|x| format!("{x:.1} {unit}"))
            .unwrap_or_else(|| "—".into())
    };
    let findings = qc["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|f| {
                    let sev = f["severity"].as_str().unwrap_or("warn");
                    FindingRow {
                        check: t.get2("qc.check.", f["check"].as_str().unwrap_or("")),
                        seek: f["start"]
                            .as_f64()
                            .map(|s| format!("{:.1}", s.max(0.0)))
                            .unwrap_or_default(),
                        severity: t.get2("qc.", sev),
                        class: sev.to_owned(),
                        time: match (f["start"].as_f64(), f["end"].as_f64()) {
                            (Some(s), Some(e)) => format!("{} – {}", timecode(s), timecode(e)),
                            _ => String::new(),
                        },
                        value: f["value"].as_str().unwrap_or("").to_owned(),
                        expected: f["expected"].as_str().unwrap_or("").to_owned(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Some(QcView {
        verdict: t.get2("qc.", verdict),
        class: verdict.to_owned(),
        findings,
        loudness: num(&m["loudness_lufs"], "LUFS"),
        true_peak: num(&m["true_peak_dbtp"], "dBTP"),
        lra: num(&m["loudness_range_lu"], "LU"),
    })
}

/// A form of the item page sent back with its mistakes: which form, what was wrong (said
/// once each, translated) and what was typed, shown again as it was.
#[derive(Default)]
pub struct Retry {
    /// `adopt`, `rights`, `correct` or `withdraw`; empty when no form came back.
    pub form: &'static str,
    pub errors: Vec<String>,
    pub values: Vec<(&'static str, String)>,
}

impl Retry {
    /// What was typed in `field`, or `current` when the form did not come back.
    pub fn value(&self, field: &str, current: &str) -> String {
        self.values
            .iter()
            .find(|(k, _)| *k == field)
            .map_or_else(|| current.to_owned(), |(_, v)| v.clone())
    }

    pub fn of(&self, form: &str) -> bool {
        self.form == form
    }
}

pub async fn asset(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let id = match parse_id::<AssetId>(&id, ErrorCode::AssetNotFound, u.t) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    item_page(&st, &u, id, q.done.as_deref(), Retry::default()).await
}

/// How a form of the item page ends: back to the page saying `done` (at `anchor`), or the
/// page again with the form's mistakes and what was typed; errors that are not the form's
/// are error pages.
pub async fn item_form_result<V>(
    st: &HttpState,
    u: &WebUser,
    id: AssetId,
    result: Result<V, cityx_app::Error>,
    form: &'static str,
    values: Vec<(&'static str, String)>,
    done: &str,
) -> Response {
    match result {
        Ok(_) => {
            // Back where the form was, but after a withdrawal at the top, where the page
            // now says what happened.
            let anchor = match form {
                "rights" => "#rights",
                "adopt" => "#adopt",
                "correct" => "#manage",
                _ => "",
            };
            axum::response::Redirect::to(&format!("/items/{id}?done={done}{anchor}"))
                .into_response()
        }
        Err(e) => match super::FormErrors::from_app(u.t, e) {
            Ok(errs) => {
                let retry = Retry {
                    form,
                    errors: errs.messages,
                    values,
                };
                item_page(st, u, id, None, retry).await
            }
            Err(page) => page.into_response(),
        },
    }
}

/// The item page; with a [`Retry`], one of its forms is shown again with its mistakes
/// (422).
pub async fn item_page(
    st: &HttpState,
    u: &WebUser,
    id: AssetId,
    done: Option<&str>,
    retry: Retry,
) -> Response {
    let view = match st.app.ingest().get_asset(&u.actor, id).await {
        Ok(v) => v,
        Err(e @ cityx_app::Error::NotFound(_)) => {
            // A station that adopted an item later withdrawn may always read what happened.
            return match super::notices::tombstone(st, u, id).await {
                Some(page) => page,
                None => WebError::app(e, u.t).into_response(),
            };
        }
        Err(e) => return WebError::app(e, u.t).into_response(),
    };
    let a = view.asset;
    let t = u.t;
    let x = match exchange_box(st, u, &a).await {
        Ok(x) => x,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    // The neighbours come from the search index; the page stands without them.
    let related = st
        .app
        .exchange()
        .related_of(&u.actor, &a)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "related items of an item page");
            Default::default()
        });
    let now_ms = cityx_core::epoch_ms(cityx_core::now());
    let hits = |h: Vec<SearchHit>| h.into_iter().map(|h| hit_view(t, h, now_ms)).collect();
    let live = matches!(
        a.status,
        cityx_core::AssetStatus::Uploading | cityx_core::AssetStatus::Processing
    );
    // Progress moves in place; a change of state or of what plays reloads the page.
    let signature = format!(
        "{}|{}|{}",
        a.status.as_str(),
        view.jobs
            .iter()
            .map(|j| j.state.as_str())
            .collect::<Vec<_>>()
            .join(","),
        a.playback.as_deref().unwrap_or("")
    );
    let file = |p: &str| format!("/api/v1/assets/{}/files/{p}", a.id);
    // The player reads under a media link: no cookie per segment, no database read per
    // request, and small files from memory.
    let media = match st.app.media().media_link_of(&u.actor, &a).await {
        Ok(link) => link.base,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    // A withdrawn item is not to be played or taken again: no player, and the reason is the
    // withdrawal's, not a processing failure.
    let withdrawn = a.status == cityx_core::AssetStatus::Withdrawn;
    let played = |p: &str| format!("{media}{p}");
    let derived = a.derived.clone().unwrap_or_default();
    let failure_label = t
        .get(if withdrawn {
            "asset.withdrawn_because"
        } else {
            "asset.failed_because"
        })
        .to_owned();
    let failure = if withdrawn {
        a.failure.clone().unwrap_or_default()
    } else if a.status == cityx_core::AssetStatus::Rejected && a.qc.is_some() {
        t.get("asset.rejected_qc").to_owned()
    } else {
        a.failure
            .as_deref()
            .map(|f| explain_failure(t, f))
            .unwrap_or_default()
    };
    // The earlier item of the same file is named by its title (`get_asset` has kept it only
    // for those who may see it).
    let duplicate = match a.duplicate_of {
        Some(d) => st
            .app
            .ingest()
            .get_asset(&u.actor, d)
            .await
            .ok()
            .map(|v| (d, v.asset.meta.title)),
        None => None,
    };
    let from_channel = match a
        .source_url
        .as_deref()
        .and_then(|s| s.strip_prefix("live:"))
        .and_then(|c| c.parse::<cityx_core::ChannelId>().ok())
    {
        Some(c) => cityx_live::Live::of(&st.app)
            .get(&u.actor, c)
            .await
            .map(|ch| ch.name)
            .unwrap_or_default(),
        None => String::new(),
    };
    let corrections = match st.app.notices().corrections_of(&a).await {
        Ok(list) => list.into_iter().map(|c| correction_row(t, c)).collect(),
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let page = AssetPage {
        t,
        c: Chrome::new(u, "exchange", done),
        status: t.get2("asset.status.", a.status.as_str()),
        size: human(a.size_bytes),
        created: fmt_time(a.created_at),
        embargo: a.meta.embargo_until.map(fmt_time).unwrap_or_default(),
        keywords: a.meta.keywords.join("、"),
        duplicate,
        from_channel,
        corrections,
        failure,
        failure_label,
        player_src: a
            .playback
            .as_deref()
            .filter(|_| !withdrawn)
            .map(played)
            .unwrap_or_default(),
        poster_src: derived["poster"].as_str().map(file).unwrap_or_default(),
        storyboard_src: derived["storyboard"]["vtt"]
            .as_str()
            .map(played)
            .unwrap_or_default(),
        fast_preview: a
            .playback
            .as_deref()
            .is_some_and(|p| p.starts_with("hls/fast/")),
        thumbs: derived["thumbnails"]
            .as_array()
            .map(|t| t.iter().filter_map(|x| x.as_str()).map(file).collect())
            .unwrap_or_default(),
        same_file: hits(related.same_file),
        similar: hits(related.similar),
        qc: a.qc.as_ref().and_then(|q| qc_view(t, q)),
        technical: a.technical.as_ref().map(technical_line).unwrap_or_default(),
        jobs: view
            .jobs
            .into_iter()
            .map(|j| JobRow {
                kind: t.get2("job.", &j.kind),
                code: j.kind,
                state: t.get2("job.state.", &j.state),
                progress: j.progress,
                error: j.last_error.map(|e| step_error(t, &e)).unwrap_or_default(),
            })
            .collect(),
        live,
        signature,
        purge_after: a.purge_after.map(fmt_time).unwrap_or_default(),
        may_manage: cityx_core::policy::manage_items(&u.actor).is_ok()
            && u.actor.tenant_scope().admits(Some(a.station_id))
            && a.status != cityx_core::AssetStatus::Uploading,
        x,
        a,
        retry,
    };
    let status = if page.retry.form.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render(&page, t, status)
}

/// One correction as the item's history shows it.
pub struct CorrectionRow {
    pub at: String,
    pub note: String,
    /// Field (translated), before, after.
    pub changes: Vec<(String, String, String)>,
}

fn correction_row(t: T, c: cityx_core::Correction) -> CorrectionRow {
    CorrectionRow {
        at: fmt_time(c.at),
        note: c.note,
        changes: c
            .changes
            .into_iter()
            .map(|f| (t.get2("field.", &f.field), f.before, f.after))
            .collect(),
    }
}

/// A failure the editor can act on: known causes in their language, the tool's words after.
fn explain_failure(t: T, failure: &str) -> String {
    if let Some(detail) = failure.strip_prefix("not a media file cityx can read: ") {
        format!("{} ({detail})", t.get("asset.not_media"))
    } else if let Some(reason) = failure.strip_prefix(cityx_app::IMPORT_FAILURE) {
        format!("{}{reason}", t.get("asset.import_failed"))
    } else if failure.starts_with(cityx_app::DUPLICATE_FAILURE) {
        t.get("asset.rejected_duplicate").to_owned()
    } else {
        failure.to_owned()
    }
}

/// A processing step's error: explained where we know the cause; otherwise the tool's own
/// words, introduced in the reader's language.
fn step_error(t: T, error: &str) -> String {
    let explained = explain_failure(t, error);
    if explained == error {
        format!("{}{error}", t.get("asset.step_error_detail"))
    } else {
        explained
    }
}

/// Delete (`restore` false) or restore an item from its page.
async fn manage(st: &HttpState, u: &WebUser, id: &str, f: &CsrfOnly, restore: bool) -> Response {
    let id: AssetId = match form_target(u, &f.csrf, id, ErrorCode::AssetNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let (done, result) = if restore {
        (
            "item_restored",
            st.app.ingest().restore_asset(&u.actor, id).await,
        )
    } else {
        (
            "item_deleted",
            st.app.ingest().delete_asset(&u.actor, id).await,
        )
    };
    redirect_or_error(result, u.t, |_| format!("/items/{id}?done={done}"))
}

pub async fn delete(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    manage(&st, &u, &id, &f, false).await
}

pub async fn restore(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    manage(&st, &u, &id, &f, true).await
}

/// `mp4 · 00:02.0 · h264 1920×1080 25 fps · aac 48 kHz 2 ch`.
fn technical_line(t: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if let Some(c) = t["container"].as_str() {
        parts.push(c.split(',').next().unwrap_or(c).to_owned());
    }
    if let Some(d) = t["duration_s"].as_f64() {
        parts.push(format!(
            "{:02}:{:04.1}",
            (d / 60.0).floor() as u64,
            d % 60.0
        ));
    }
    let v = &t["video"];
    if let (Some(codec), Some(w), Some(h)) = (
        v["codec"].as_str(),
        v["display_width"].as_u64(),
        v["display_height"].as_u64(),
    ) {
        let fps = v["fps"].as_f64().unwrap_or(0.0);
        let mut s = format!("{codec} {w}×{h} {fps:.2} fps");
        if v["interlaced"].as_bool() == Some(true) {
            s.push_str(" i");
        }
        parts.push(s);
    }
    let a = &t["audio"];
    if let Some(codec) = a["codec"].as_str() {
        let khz = a["sample_rate"].as_f64().unwrap_or(0.0) / 1000.0;
        parts.push(format!(
            "{codec} {khz} kHz {} ch",
            a["channels"].as_u64().unwrap_or(0)
        ));
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn technical_lines() {
        let t = serde_json::json!({
            "container": "mov,mp4,m4a", "duration_s": 75.5,
            "video": {"codec": "h264", "display_width": 1920, "display_height": 1080, "fps": 25.0, "interlaced": true},
            "audio": {"codec": "aac", "sample_rate": 48000, "channels": 2}
        });
        assert_eq!(
            super::technical_line(&t),
            "mov · 01:15.5 · h264 1920×1080 25.00 fps i · aac 48 kHz 2 ch"
        );
    }

    #[test]
    fn failures_are_explained() {
        let zh = crate::i18n::T(crate::i18n::Lang::Zh);
        let f = super::explain_failure(
            zh,
            "not a media file cityx can read: Invalid data found when processing input",
        );
        assert!(
            f.starts_with("无法识别为音视频文件")
                && f.ends_with("(Invalid data found when processing input)"),
            "{f}"
        );
        assert_eq!(super::explain_failure(zh, "disk full"), "disk full");
        assert_eq!(
            super::explain_failure(zh, "import failed: the server answered HTTP 404"),
            "导入失败：the server answered HTTP 404"
        );
        assert!(super::explain_failure(zh, "duplicate of 0193").starts_with("与已有素材完全相同"));
        assert_eq!(
            super::step_error(zh, "ffmpeg exited with status 1"),
            "处理出错，工具的原话：ffmpeg exited with status 1"
        );
    }

    #[test]
    fn qc_reports_read_in_the_readers_language() {
        let zh = crate::i18n::T(crate::i18n::Lang::Zh);
        let q = serde_json::json!({
            "verdict": "fail",
            "findings": [
                {"check": "silence", "severity": "fail", "start": 10.0, "end": 22.25, "value": "12.3 s", "expected": "< 2 s"},
                {"check": "loudness", "severity": "warn", "value": "-20.1 LUFS", "expected": "-24 ±2 LUFS"}
            ],
            "measurements": {"loudness_lufs": -20.08, "true_peak_dbtp": null}
        });
        let v = super::qc_view(zh, &q).expect("view");
        assert_eq!((v.verdict.as_str(), v.class.as_str()), ("不通过", "fail"));
        assert_eq!(v.findings[0].check, "静音");
        assert_eq!(v.findings[0].time, "00:00:10.0 – 00:00:22.3");
        assert_eq!(v.findings[1].time, "");
        assert_eq!(
            (v.loudness.as_str(), v.true_peak.as_str()),
            ("-20.1 LUFS", "—")
        );
        assert_eq!(super::timecode(3723.25), "01:02:03.3");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(super::human(512), "512 B");
        assert_eq!(super::human(3 * 1024 * 1024 + 1), "3.0 MB");
        assert_eq!(super::human(50 * 1024 * 1024 * 1024), "50.0 GB");
    }
}
