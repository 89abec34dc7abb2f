//! Live (直播): the wall of every channel the reader may watch, with thumbnails; a channel's
//! page with the player (scroll back through the time-shift window), its input health, and
//! for its station's admins the ingest address, the stream key (shown once) and settings.

use super::live_targets::{self, TargetForm, TargetRow};
use super::{
    Chrome, CsrfOnly, FormErrors, ListQuery, fmt_time, form_target, parse_id, redirect_or_error,
};
use crate::error::{WebError, render};
use crate::i18n::T;
use crate::session::{WebForm, WebUser};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cityx_core::live::{Channel, ChannelInput, ChannelState};
use cityx_core::{ChannelId, Visibility, policy};
use cityx_http::error::ErrorCode;
use cityx_http::http::HttpState;
use cityx_live::Live;

/// A channel as the wall shows it.
pub struct Tile {
    pub id: String,
    pub name: String,
    pub station: String,
    pub live: bool,
    /// On air on its slate (the input dropped).
    pub slate: bool,
    /// The alarms raised now, in the reader's language.
    pub alarms: String,
    pub since: String,
}

/// Whether the channel is on air on its slate.
fn on_slate(ch: &Channel) -> bool {
    ch.state == ChannelState::Live && ch.health.as_ref().is_some_and(|h| h.slate)
}

/// The alarms' and troubles' names in the reader's language, for the page's script.
fn names_json(t: T) -> String {
    let of = |prefix: &str, codes: &mut dyn Iterator<Item = &'static str>| {
        serde_json::Value::Object(
            codes
                .map(|c| (c.to_owned(), t.get2(prefix, c).into()))
                .collect(),
        )
    };
    serde_json::json!({
        "alarms": of("live.alarm.", &mut cityx_core::live::Alarm::ALL.iter().map(|a| a.as_str())),
        "troubles": of("live.trouble.", &mut cityx_core::live::Trouble::ALL.iter().map(|c| c.as_str())),
    })
    .to_string()
}

/// Why an input or a push failed, for the page: the code named in the reader's language,
/// then the operators' detail (in English).
pub(super) fn trouble_text(t: T, code: Option<cityx_core::live::Trouble>, detail: &str) -> String {
    match code {
        // In Chinese the code's name alone; the operators' English detail is its hover
        // text (`trouble_detail`).
        Some(c) if detail.is_empty() || t.is_zh() => t.get2("live.trouble.", c.as_str()),
        Some(c) => format!("{} · {detail}", t.get2("live.trouble.", c.as_str())),
        None => detail.to_owned(),
    }
}

/// The English detail of a failure that [`trouble_text`] leaves out, for a hover text.
pub(super) fn trouble_detail(
    t: T,
    code: Option<cityx_core::live::Trouble>,
    detail: &str,
) -> String {
    if code.is_some() && t.is_zh() {
        detail.to_owned()
    } else {
        String::new()
    }
}

/// The channel's alarms raised now, named in the reader's language.
fn alarm_list(t: T, ch: &Channel) -> String {
    ch.health
        .iter()
        .flat_map(|h| h.alarms.iter())
        .map(|a| t.get2("live.alarm.", a.as_str()))
        .collect::<Vec<_>>()
        .join("、")
}

/// What the channel form holds (typed, or the channel's).
pub struct ChannelForm {
    pub name: String,
    pub description: String,
    pub visibility: String,
    /// The codes of the stations that may watch when `visibility` is `stations`.
    pub shared_with: String,
    pub dvr_minutes: u32,
    pub max_kbps: u32,
    pub max_height: u32,
    pub record: bool,
    /// Daily recording windows, separated by commas.
    pub record_windows: String,
    pub pull_url: String,
    /// One address or CIDR per line.
    pub publish_cidrs: String,
    pub renditions: Vec<u32>,
    pub errs: FormErrors,
}

impl ChannelForm {
    fn blank() -> Self {
        ChannelForm {
            name: String::new(),
            description: String::new(),
            visibility: "exchange".into(),
            shared_with: String::new(),
            dvr_minutes: cityx_core::live::DEFAULT_DVR_MINUTES,
            max_kbps: 0,
            max_height: 0,
            record: false,
            record_windows: String::new(),
            pull_url: String::new(),
            publish_cidrs: String::new(),
            renditions: Vec::new(),
            errs: FormErrors::default(),
        }
    }

    /// The channel's settings, with the codes of the stations it is shared with.
    fn of(c: &Channel, shared_with: String) -> Self {
        ChannelForm {
            name: c.name.clone(),
            description: c.description.clone(),
            visibility: c.visibility.as_str().into(),
            shared_with,
            dvr_minutes: c.dvr_minutes,
            max_kbps: c.max_kbps,
            max_height: c.max_height,
            record: c.record,
            // Shown without seconds when they are 0.
            record_windows: c
                .record_windows
                .iter()
                .map(|w| {
                    w.split('-')
                        .map(|t| t.strip_suffix(":00").unwrap_or(t))
                        .collect::<Vec<_>>()
                        .join("-")
                })
                .collect::<Vec<_>>()
                .join(", "),
            pull_url: c.pull_url.clone().unwrap_or_default(),
            publish_cidrs: c.publish_cidrs.join("\n"),
            renditions: c.renditions.clone(),
            errs: FormErrors::default(),
        }
    }

    /// The rendition heights a form offers, and whether each is ticked.
    pub fn rendition_choices(&self) -> Vec<(u32, bool)> {
        cityx_core::live::RENDITION_HEIGHTS
            .iter()
            .map(|h| (*h, self.renditions.contains(h)))
            .collect()
    }

    /// The visibilities a form offers.
    pub fn choices(&self, t: &T) -> Vec<(&'static str, String, bool)> {
        [
            Visibility::Private,
            Visibility::Stations,
            Visibility::Exchange,
            Visibility::Public,
        ]
        .into_iter()
        .map(|v| {
            (
                v.as_str(),
                t.get2("live.visibility.", v.as_str()),
                self.visibility == v.as_str(),
            )
        })
        .collect()
    }
}

/// The form's fields as posted.
#[derive(serde::Deserialize)]
pub struct ChannelPost {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub visibility: String,
    /// Station codes or names, separated by commas or spaces.
    #[serde(default)]
    pub shared_with: String,
    #[serde(default)]
    pub dvr_minutes: String,
    #[serde(default)]
    pub max_kbps: String,
    #[serde(default)]
    pub max_height: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub record: Option<String>,
    /// Daily windows, separated by commas or spaces.
    #[serde(default)]
    pub record_windows: String,
    #[serde(default)]
    pub pull_url: String,
    /// One address or CIDR per line (or separated by commas or spaces).
    #[serde(default)]
    pub publish_cidrs: String,
    /// Checkboxes, one per rendition height: present when ticked.
    #[serde(default)]
    pub rendition_1080: Option<String>,
    #[serde(default)]
    pub rendition_720: Option<String>,
    #[serde(default)]
    pub rendition_540: Option<String>,
    #[serde(default)]
    pub rendition_480: Option<String>,
    #[serde(default)]
    pub rendition_360: Option<String>,
    #[serde(default)]
    pub rendition_240: Option<String>,
}

/// A number field: empty is 0; anything else that is not a number is out of every range.
fn number(v: &str) -> u32 {
    let v = v.trim();
    if v.is_empty() {
        0
    } else {
        v.parse().unwrap_or(u32::MAX)
    }
}

impl ChannelPost {
    /// The ticked rendition heights.
    fn renditions(&self) -> Vec<u32> {
        [
            (1080, &self.rendition_1080),
            (720, &self.rendition_720),
            (540, &self.rendition_540),
            (480, &self.rendition_480),
            (360, &self.rendition_360),
            (240, &self.rendition_240),
        ]
        .into_iter()
        .filter(|(_, ticked)| ticked.is_some())
        .map(|(h, _)| h)
        .collect()
    }

    /// The channel as posted, shared with the stations of `shared` (ids).
    fn input<'a>(&'a self, shared: &'a [String]) -> ChannelInput<'a> {
        ChannelInput {
            name: &self.name,
            description: &self.description,
            visibility: &self.visibility,
            shared_with: shared.iter().map(String::as_str).collect(),
            max_kbps: number(&self.max_kbps),
            max_height: number(&self.max_height),
            // Empty is the default window; 0 is a mistake the form names.
            dvr_minutes: match number(&self.dvr_minutes) {
                0 if !self.dvr_minutes.trim().is_empty() => u32::MAX,
                n => n,
            },
            record: self.record.is_some(),
            record_windows: self
                .record_windows
                .split(|c: char| c == ',' || c == '，' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .collect(),
            pull_url: &self.pull_url,
            publish_cidrs: self
                .publish_cidrs
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .collect(),
            renditions: self.renditions(),
        }
    }

    fn typed(&self, errs: FormErrors) -> ChannelForm {
        ChannelForm {
            name: self.name.clone(),
            description: self.description.clone(),
            visibility: self.visibility.clone(),
            shared_with: self.shared_with.clone(),
            dvr_minutes: number(&self.dvr_minutes).min(99_999),
            max_kbps: number(&self.max_kbps).min(999_999),
            max_height: number(&self.max_height).min(99_999),
            record: self.record.is_some(),
            record_windows: self.record_windows.clone(),
            pull_url: self.pull_url.clone(),
            publish_cidrs: self.publish_cidrs.clone(),
            renditions: self.renditions(),
            errs,
        }
    }
}

/// The ids of the stations the form names when it shares with named stations (a name that
/// is no station's is the form's mistake, named); none otherwise.
async fn shared_ids(
    st: &HttpState,
    u: &WebUser,
    f: &ChannelPost,
) -> Result<Vec<String>, cityx_app::Error> {
    if f.visibility != Visibility::Stations.as_str() {
        return Ok(Vec::new());
    }
    let directory = st.app.people().station_directory(&u.actor).await?;
    super::stations_named(&directory, "shared_with", &f.shared_with)
        .map_err(|e| cityx_app::Error::Validation(vec![e]))
}

/// The codes of the stations a channel is shared with, for its form.
async fn shared_codes(st: &HttpState, u: &WebUser, ch: &Channel) -> String {
    if ch.shared_with.is_empty() || !Live::may_manage(&u.actor, ch) {
        return String::new();
    }
    match st.app.people().station_directory(&u.actor).await {
        Ok(directory) => super::station_codes(&directory, &ch.shared_with),
        Err(e) => {
            tracing::warn!(error = %e, "the station directory could not be read");
            String::new()
        }
    }
}

#[derive(Template)]
#[template(path = "live.html")]
struct WallPage {
    t: T,
    c: Chrome,
    tiles: Vec<Tile>,
    may_create: bool,
    form: ChannelForm,
}

fn tile(t: T, ch: &Channel) -> Tile {
    Tile {
        id: ch.id.to_string(),
        name: ch.name.clone(),
        station: ch.station_name.clone(),
        live: ch.state == ChannelState::Live,
        slate: on_slate(ch),
        alarms: alarm_list(t, ch),
        since: ch
            .live_since
            .map(fmt_time)
            .unwrap_or_else(|| t.get("live.idle").to_owned()),
    }
}

async fn wall(st: &HttpState, u: &WebUser, done: Option<&str>, form: ChannelForm) -> Response {
    let t = u.t;
    let channels = match Live::of(&st.app).list(&u.actor).await {
        Ok(c) => c,
        Err(e) => return WebError::app(e, t).into_response(),
    };
    let status = if form.errs.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = WallPage {
        t,
        c: Chrome::new(u, "live", done),
        tiles: channels.iter().map(|ch| tile(t, ch)).collect(),
        may_create: policy::create_channel(&u.actor).is_ok(),
        form,
    };
    render(&page, t, status)
}

/// `/live`: every channel the reader may watch, live ones first.
pub async fn list(State(st): State<HttpState>, u: WebUser, Query(q): Query<ListQuery>) -> Response {
    wall(&st, &u, q.done.as_deref(), ChannelForm::blank()).await
}

/// `POST /live`: creates a channel and opens it with its stream key shown once.
pub async fn create(
    State(st): State<HttpState>,
    u: WebUser,
    WebForm(f): WebForm<ChannelPost>,
) -> Response {
    if let Err(e) = u.check_csrf(&f.csrf) {
        return e.into_response();
    }
    let made = match shared_ids(&st, &u, &f).await {
        Ok(shared) => Live::of(&st.app).create(&u.actor, &f.input(&shared)).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(made) => {
            let extra = Extra::with_key(made.stream_key);
            channel_page(&st, &u, made.channel, Some("channel_created"), extra).await
        }
        Err(e) => match FormErrors::from_app(u.t, e) {
            Ok(errs) => wall(&st, &u, None, f.typed(errs)).await,
            Err(p) => p.into_response(),
        },
    }
}

/// The health figures as the page lists them.
pub struct Figure {
    pub id: &'static str,
    pub label: String,
    pub value: String,
    /// A hover text (the English detail of a failure named in Chinese).
    pub title: String,
}

/// The figures that describe the input (not shown while the slate covers its absence).
const INPUT_FIGURES: [&str; 8] = [
    "video", "audio", "size", "fps", "kbps", "keyframe", "uptime", "level",
];

fn figures(t: T, ch: &Channel, manage: bool) -> Vec<Figure> {
    let h = ch.health.clone().unwrap_or_default();
    let dash = |s: String| if s.is_empty() { "—".to_owned() } else { s };
    // A converted input shows what it is converted to.
    let codec = |name: &str, to: &str| match name {
        "" => "—".to_owned(),
        n if h.converted && n != to => format!("{n} → {to}"),
        n => n.to_owned(),
    };
    let mut out = vec![
        ("video", codec(&h.video_codec, "h264")),
        ("audio", codec(&h.audio_codec, "aac")),
        (
            "size",
            if h.width > 0 {
                format!("{}×{}", h.width, h.height)
            } else {
                "—".into()
            },
        ),
        ("fps", format!("{:.1}", h.fps)),
        ("kbps", h.kbps.to_string()),
        ("keyframe", format!("{:.1}", h.keyframe_secs)),
        ("uptime", h.uptime_secs.to_string()),
        ("reconnects", h.reconnects.to_string()),
        (
            "level",
            h.audio_db.map_or("—".into(), |db| format!("{db:.1}")),
        ),
        ("alarms", dash(alarm_list(t, ch))),
    ];
    // The publisher's address, and why the input failed, are for those who manage the
    // channel.
    if manage {
        out.push(("remote", dash(h.remote)));
        out.push(("error", dash(trouble_text(t, h.error_code, &h.error))));
    }
    let detail = if manage {
        trouble_detail(t, h.error_code, &h.error)
    } else {
        String::new()
    };
    // On the slate there is no input: its figures would be the card's.
    if h.slate {
        for (id, value) in &mut out {
            if INPUT_FIGURES.contains(id) {
                "—".clone_into(value);
            }
        }
    }
    out.into_iter()
        .map(|(id, value)| Figure {
            id,
            label: t.get2("live.health.", id),
            value,
            title: if id == "error" {
                detail.clone()
            } else {
                String::new()
            },
        })
        .collect()
}

/// What the clip form holds (typed, after a mistake).
#[derive(Default)]
pub struct ClipForm {
    pub from: String,
    pub to: String,
    pub from_shown: String,
    pub to_shown: String,
    pub title: String,
    pub errs: FormErrors,
}

/// The clip form's fields as posted.
#[derive(serde::Deserialize)]
pub struct ClipPost {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub title: String,
}

/// `HH:MM:SS` in Beijing time of an RFC 3339 time, or a dash.
fn shown(v: &str) -> String {
    match time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
        Ok(at) => {
            let cst = time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC);
            let at = at.to_offset(cst);
            format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
        }
        Err(_) => "—".to_owned(),
    }
}

#[derive(Template)]
#[template(path = "channel.html")]
struct ChannelPage {
    t: T,
    c: Chrome,
    id: String,
    name: String,
    description: String,
    station: String,
    live: bool,
    slate: bool,
    since: String,
    visibility: String,
    dvr_minutes: u32,
    /// The channel pulls a remote signal (for those who manage it).
    pulls: bool,
    /// Some broadcast has reported its input's health (a new channel's has none).
    has_health: bool,
    /// Lower renditions are made: the player offers a choice.
    renditions: bool,
    figures: Vec<Figure>,
    manage: bool,
    rtmp_url: String,
    srt_url: String,
    key_hint: String,
    key_rotated: String,
    stream_key: String,
    form: ChannelForm,
    may_clip: bool,
    /// The reader may take the channel into their own station (another station's admin).
    may_take: bool,
    clip: ClipForm,
    targets: Vec<TargetRow>,
    target: TargetForm,
    /// The alarms' and troubles' names in the reader's language, as JSON for the page's
    /// script.
    names: String,
    /// Where the player plays from: the viewer's signed address of the playlist.
    playlist_src: String,
    /// The SRT passphrase's last characters (empty: none) and its form's mistakes.
    srt_passphrase_hint: String,
    passphrase_errs: FormErrors,
}

/// What a channel page shows besides the channel: a key shown once, forms that came back.
#[derive(Default)]
pub(super) struct Extra {
    pub stream_key: String,
    pub form: Option<ChannelForm>,
    pub clip: Option<ClipForm>,
    pub target: Option<TargetForm>,
    pub target_errs: Option<(String, FormErrors)>,
    /// The SRT passphrase form's mistakes, when it came back.
    pub passphrase_errs: Option<FormErrors>,
}

impl Extra {
    /// A page that shows a new stream key once.
    fn with_key(stream_key: String) -> Self {
        Extra {
            stream_key,
            ..Extra::default()
        }
    }
}

/// A form on the channel's page that came back: the page again with its mistakes (made into
/// what the page shows by `extra`), or the error page when it is no form mistake.
pub(super) async fn form_back(
    st: &HttpState,
    u: &WebUser,
    id: ChannelId,
    e: cityx_app::Error,
    extra: impl FnOnce(FormErrors) -> Extra,
) -> Response {
    match (
        FormErrors::from_app(u.t, e),
        Live::of(&st.app).get(&u.actor, id).await,
    ) {
        (Ok(errs), Ok(ch)) => channel_page(st, u, ch, None, extra(errs)).await,
        (Err(p), _) => p.into_response(),
        (_, Err(e)) => WebError::app(e, u.t).into_response(),
    }
}

async fn channel_page(
    st: &HttpState,
    u: &WebUser,
    ch: Channel,
    done: Option<&str>,
    extra: Extra,
) -> Response {
    let t = u.t;
    let Extra {
        stream_key,
        form,
        clip,
        target,
        target_errs,
        passphrase_errs,
    } = extra;
    let failed = passphrase_errs.as_ref().is_some_and(FormErrors::any)
        || form.as_ref().is_some_and(|f| f.errs.any())
        || clip.as_ref().is_some_and(|c| c.errs.any())
        || target.as_ref().is_some_and(|f| f.errs.any())
        || target_errs.as_ref().is_some_and(|(_, e)| e.any());
    let manage = Live::may_manage(&u.actor, &ch);
    let playlist_src = match Live::of(&st.app).media_link(&u.actor, ch.id).await {
        Ok(link) => link.playlist,
        Err(_) => format!(
            "/api/v1/channels/{}/hls/{}",
            ch.id,
            cityx_live::playlist_of(&ch)
        ),
    };
    let mut targets = if manage {
        live_targets::rows(st, u, ch.id).await
    } else {
        Vec::new()
    };
    if let Some((id, errs)) = target_errs
        && let Some(row) = targets.iter_mut().find(|r| r.id == id)
    {
        row.errs = errs;
    }
    let status = if failed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ChannelPage {
        t,
        c: Chrome::new(u, "live", done),
        id: ch.id.to_string(),
        name: ch.name.clone(),
        description: ch.description.clone(),
        station: ch.station_name.clone(),
        live: ch.state == ChannelState::Live,
        slate: on_slate(&ch),
        since: ch.live_since.map(fmt_time).unwrap_or_default(),
        visibility: t.get2("live.visibility.", ch.visibility.as_str()),
        dvr_minutes: ch.dvr_minutes,
        pulls: ch.pull_url.is_some(),
        has_health: ch.health.is_some(),
        renditions: !ch.renditions.is_empty(),
        figures: figures(t, &ch, manage),
        manage,
        rtmp_url: st.http.rtmp_url.clone().unwrap_or_default(),
        srt_url: st.http.srt_url.clone().unwrap_or_default(),
        key_hint: ch.key_hint.clone(),
        key_rotated: fmt_time(ch.key_rotated_at),
        stream_key,
        form: match form {
            Some(f) => f,
            None => ChannelForm::of(&ch, shared_codes(st, u, &ch).await),
        },
        may_clip: policy::make_items_for(&u.actor, ch.station_id).is_ok(),
        may_take: policy::create_channel(&u.actor).is_ok_and(|own| own != ch.station_id),
        clip: clip.unwrap_or_default(),
        targets,
        target: target.unwrap_or_else(TargetForm::blank),
        names: names_json(t),
        playlist_src,
        srt_passphrase_hint: ch.srt_passphrase_hint.clone(),
        passphrase_errs: passphrase_errs.unwrap_or_default(),
    };
    render(&page, t, status)
}

fn channel_id(u: &WebUser, raw: &str) -> Result<ChannelId, WebError> {
    parse_id(raw, ErrorCode::ChannelNotFound, u.t)
}

/// `/live/{id}`: the player, the input's health, and for its admins the ingest.
pub async fn show(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let id = match channel_id(&u, &id) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match Live::of(&st.app).get(&u.actor, id).await {
        Ok(ch) => channel_page(&st, &u, ch, q.done.as_deref(), Extra::default()).await,
        Err(e) => WebError::app(e, u.t).into_response(),
    }
}

/// `POST /live/{id}`: changes the channel's settings.
pub async fn update(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<ChannelPost>,
) -> Response {
    let id: ChannelId = match form_target(&u, &f.csrf, &id, ErrorCode::ChannelNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let saved = match shared_ids(&st, &u, &f).await {
        Ok(shared) => {
            Live::of(&st.app)
                .update(&u.actor, id, &f.input(&shared))
                .await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(_) => Redirect::to(&format!("/live/{id}?done=channel_updated")).into_response(),
        Err(e) => {
            form_back(&st, &u, id, e, |errs| Extra {
                form: Some(f.typed(errs)),
                ..Extra::default()
            })
            .await
        }
    }
}

/// `POST /live/{id}/key`: a new stream key, shown once.
pub async fn rotate_key(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let id: ChannelId = match form_target(&u, &f.csrf, &id, ErrorCode::ChannelNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match Live::of(&st.app).rotate_key(&u.actor, id).await {
        Ok(made) => {
            let extra = Extra::with_key(made.stream_key);
            channel_page(&st, &u, made.channel, Some("channel_key_rotated"), extra).await
        }
        Err(e) => WebError::app(e, u.t).into_response(),
    }
}

/// `GET` of a channel form's address (a reload after a mistake): the channel's page.
pub async fn back(Path(id): Path<String>) -> Response {
    match id.parse::<ChannelId>() {
        Ok(id) => axum::response::Redirect::to(&format!("/live/{id}")).into_response(),
        Err(_) => axum::response::Redirect::to("/live").into_response(),
    }
}

/// The SRT passphrase form: a new passphrase, or `remove` to remove it.
#[derive(serde::Deserialize)]
pub struct PassphrasePost {
    #[serde(default, rename = "_csrf")]
    pub csrf: String,
    #[serde(default)]
    pub passphrase: String,
    /// Present when the remove button was pressed.
    #[serde(default)]
    pub remove: Option<String>,
}

/// `POST /live/{id}/srt-passphrase`: sets or removes the passphrase SRT publishers must use.
pub async fn passphrase(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<PassphrasePost>,
) -> Response {
    let id: ChannelId = match form_target(&u, &f.csrf, &id, ErrorCode::ChannelNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let wanted = f.remove.is_none().then_some(f.passphrase.as_str());
    match Live::of(&st.app)
        .set_srt_passphrase(&u.actor, id, wanted)
        .await
    {
        // Saved: to the channel's page, so that reloading it sends nothing again.
        Ok(ch) => {
            let done = if wanted.is_some() {
                "channel_passphrase_set"
            } else {
                "channel_passphrase_removed"
            };
            axum::response::Redirect::to(&format!("/live/{}?done={done}#srt-passphrase", ch.id))
                .into_response()
        }
        Err(e) => {
            form_back(&st, &u, id, e, |errs| Extra {
                passphrase_errs: Some(errs),
                ..Extra::default()
            })
            .await
        }
    }
}

/// `POST /live/{id}/take`: a channel of the reader's station that pulls this one.
pub async fn take(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let id: ChannelId = match form_target(&u, &f.csrf, &id, ErrorCode::ChannelNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    redirect_or_error(Live::of(&st.app).take(&u.actor, id).await, u.t, |made| {
        format!("/live/{}?done=channel_taken", made.channel.id)
    })
}

/// `POST /live/{id}/delete`.
pub async fn delete(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<CsrfOnly>,
) -> Response {
    let id: ChannelId = match form_target(&u, &f.csrf, &id, ErrorCode::ChannelNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    match Live::of(&st.app).delete(&u.actor, id).await {
        Ok(()) => Redirect::to("/live?done=channel_deleted").into_response(),
        Err(e) => WebError::app(e, u.t).into_response(),
    }
}

/// `POST /live/{id}/clips`: cuts the marked range into an item and opens it.
pub async fn clip(
    State(st): State<HttpState>,
    u: WebUser,
    Path(id): Path<String>,
    WebForm(f): WebForm<ClipPost>,
) -> Response {
    let id: ChannelId = match form_target(&u, &f.csrf, &id, ErrorCode::ChannelNotFound) {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    let rfc = &time::format_description::well_known::Rfc3339;
    let parse = |field: &'static str, v: &str| {
        time::OffsetDateTime::parse(v.trim(), rfc).map_err(|_| {
            cityx_app::Error::field(
                field,
                if v.trim().is_empty() {
                    "required"
                } else {
                    "bad_format"
                },
                format!("mark the {field} point on the player"),
            )
        })
    };
    // The form calls the range's ends in and out points.
    let as_marks = |e: cityx_app::Error| match e {
        cityx_app::Error::Validation(fields) => cityx_app::Error::Validation(
            fields
                .into_iter()
                .map(|mut f| {
                    f.field = match f.field {
                        "from" => "clip_in",
                        "to" => "clip_out",
                        other => other,
                    };
                    f
                })
                .collect(),
        ),
        e => e,
    };
    let live = Live::of(&st.app);
    let made = match (parse("from", &f.from), parse("to", &f.to)) {
        (Ok(from), Ok(to)) => live.clip(&st.app, &u.actor, id, from, to, &f.title).await,
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match made {
        Ok(asset) => Redirect::to(&format!("/items/{}?done=clip_made", asset.id)).into_response(),
        Err(e) => {
            form_back(&st, &u, id, as_marks(e), |errs| Extra {
                clip: Some(ClipForm {
                    from_shown: shown(&f.from),
                    to_shown: shown(&f.to),
                    from: f.from,
                    to: f.to,
                    title: f.title,
                    errs,
                }),
                ..Extra::default()
            })
            .await
        }
    }
}
