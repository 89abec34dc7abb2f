//! `Settings`: every option of cityx in one struct, loaded in layers
//! (defaults < file < `CITYX_SECTION__KEY` environment < flags) and validated before use.

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The documented defaults, exactly as `cityx config default` prints them.
pub const DEFAULT_CONFIG: &str = include_str!("../../../cityx.example.toml");

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSettings,
    pub data: DataSettings,
    pub database: DatabaseSettings,
    pub storage: cityx_storage::StoreOptions,
    pub auth: cityx_app::AuthOptions,
    pub uploads: cityx_app::UploadOptions,
    pub jobs: JobSettings,
    pub queue: QueueSettings,
    pub media: MediaSettings,
    pub fetch: FetchSettings,
    pub live: LiveSettings,
    /// The delivery profile of the technical check (技审).
    pub qc: cityx_media::qc::Profile,
    pub log: LogSettings,
}

/// Every job kind there is (what `jobs.only_kinds` and `jobs.kinds` may name). A test
/// checks it against the kinds the subsystems register (`server::registry`).
pub const JOB_KINDS: [&str; 6] = [
    cityx_app::IMPORT_JOB,
    cityx_core::live::CLIP_JOB,
    cityx_app::PROBE_JOB,
    cityx_app::TRANSCODE_JOB,
    cityx_core::webhook::WEBHOOK_JOB,
    cityx_jobs::TIDY,
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobSettings {
    /// Run jobs in this process.
    pub enabled: bool,
    /// CPU-heavy jobs at once; 0 = one per core.
    pub heavy_slots: usize,
    /// Light jobs at once; 0 = two per core.
    pub light_slots: usize,
    pub lease_secs: u64,
    /// The job kinds this process runs; empty: all.
    pub only_kinds: Vec<String>,
    /// The first retry of a failed job waits this long; each next one twice as long.
    pub retry_base_secs: u64,
    /// The longest wait between retries.
    pub retry_max_secs: u64,
    /// Per job kind: its class and its own slots.
    pub kinds: std::collections::BTreeMap<String, cityx_queue::KindOptions>,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            enabled: true,
            heavy_slots: 0,
            light_slots: 0,
            lease_secs: 60,
            only_kinds: Vec::new(),
            retry_base_secs: 5,
            retry_max_secs: 600,
            kinds: Default::default(),
        }
    }
}

/// The message bus that carries jobs and events between nodes.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// Empty: workers claim jobs from the database. `nats://HOST:PORT` (comma-separated for
    /// a cluster): NATS JetStream carries them, and the events.
    pub url: String,
    /// Names this installation's streams and subjects on a shared NATS.
    pub prefix: String,
    /// Messages of one job kind that may wait unclaimed in the stream.
    pub window: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            url: String::new(),
            prefix: "cityx".into(),
            window: 16,
        }
    }
}

/// NATS URLs may carry a user and password or a token: never print them.
impl fmt::Debug for QueueSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueSettings")
            .field("url", &redact_credentials(&self.url))
            .field("prefix", &self.prefix)
            .field("window", &self.window)
            .finish()
    }
}

/// `nats://user:secret@host,…` as `nats://***@host,…`.
pub fn redact_credentials(urls: &str) -> String {
    urls.split(',')
        .map(|url| match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
            _ => url.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaSettings {
    pub ffmpeg: String,
    pub ffprobe: String,
    pub probe_timeout_secs: u64,
    pub stall_timeout_secs: u64,
    /// Rung heights of the HLS ladder (the shorter side for portrait video).
    pub ladder_heights: Vec<u32>,
    pub x264_preset: String,
    pub segment_secs: u32,
    pub audio_kbps: u32,
    pub proxy_height: u32,
    /// Memory for small files (playlists, segments, pictures) of ready items served under
    /// media links, in MiB; 0 for none.
    pub cache_mb: u64,
}

impl Default for MediaSettings {
    fn default() -> Self {
        let l = cityx_media::ladder::LadderOptions::default();
        MediaSettings {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            probe_timeout_secs: 60,
            stall_timeout_secs: 60,
            ladder_heights: l.heights,
            x264_preset: l.preset,
            segment_secs: l.segment_secs,
            audio_kbps: l.audio_kbps,
            proxy_height: l.proxy_height,
            cache_mb: cityx_app::DEFAULT_MEDIA_CACHE >> 20,
        }
    }
}

const X264_PRESETS: [&str; 9] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

/// Outbound fetches (imports by URL): see `cityx-fetch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchSettings {
    pub allow_cidrs: Vec<String>,
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    pub read_timeout_secs: u64,
    pub max_redirects: u32,
    /// PEM certificates trusted besides the public roots, for partners on a private CA
    /// (HTTPS fetches, `rtmps://` restream targets and pulls). Empty: public roots only.
    pub ca_file: String,
}

impl Default for FetchSettings {
    fn default() -> Self {
        let d = cityx_fetch::Options::default();
        FetchSettings {
            allow_cidrs: Vec::new(),
            timeout_secs: d.timeout.as_secs(),
            connect_timeout_secs: d.connect_timeout.as_secs(),
            read_timeout_secs: d.read_timeout.as_secs(),
            max_redirects: d.max_redirects,
            ca_file: String::new(),
        }
    }
}

/// Live channels: the RTMP ingest and how streams are packaged (`cityx-live`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveSettings {
    /// Run the RTMP ingest on API nodes.
    pub enabled: bool,
    /// Where encoders connect (RTMP); empty: server.listen's host on port 1935 (on a free
    /// port when server.listen's port is 0, as in tests).
    pub rtmp_listen: String,
    /// The RTMP address shown to encoders, e.g. rtmp://live.example.org/live; empty: made
    /// from server.public_url's host (or this machine) and rtmp_listen's port.
    pub rtmp_url: String,
    /// Where SRT callers connect (UDP); empty: server.listen's host on port 10080 (a free
    /// port when server.listen's port is 0); `off`: no SRT ingest.
    pub srt_listen: String,
    /// The SRT address shown to encoders, e.g. srt://live.example.org:10080; empty: made like
    /// rtmp_url.
    pub srt_url: String,
    /// Target HLS segment length, seconds (segments end on the next keyframe).
    pub segment_secs: u32,
    /// A new thumbnail every this many seconds.
    pub thumbnail_secs: u32,
    /// Connections one address (or IPv6 /64) may hold on the ingest port.
    pub max_connections_per_ip: usize,
    /// Connections the ingest port holds in all.
    pub max_connections: usize,
    /// How long a channel whose input dropped (without ending) goes on on a slate, a card
    /// and silence, waiting for the input or its pull to come back; 0: it ends at once.
    pub slate_secs: u32,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            enabled: true,
            rtmp_listen: String::new(),
            rtmp_url: String::new(),
            srt_listen: String::new(),
            srt_url: String::new(),
            segment_secs: 2,
            thumbnail_secs: 5,
            max_connections_per_ip: 20,
            max_connections: 1000,
            slate_secs: 300,
        }
    }
}

/// What a `cityx serve` process does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The API, the web UI and the jobs: one machine.
    #[default]
    All,
    /// The API and the web UI, with the search index and the clean-up; no jobs.
    Api,
    /// The jobs only; its HTTP answers `/healthz`, `/readyz` and `/metrics`.
    Worker,
}

impl Role {
    pub fn serves_api(self) -> bool {
        self != Role::Worker
    }

    pub fn runs_jobs(self) -> bool {
        self != Role::Api
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// What this process does (`--role`).
    pub role: Role,
    pub listen: String,
    pub public_url: String,
    pub trust_forwarded: bool,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub shutdown_grace_secs: u64,
    /// Longest a connection may take to send a request's head, from its opening or the end
    /// of its previous answer; so also how long an idle keep-alive connection stays open.
    pub header_read_timeout_secs: u64,
    /// Connections one client address may hold at once (0: no limit). Not applied with
    /// `trust_forwarded`, where every connection is the proxy's.
    pub max_connections_per_ip: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            role: Role::All,
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            trust_forwarded: false,
            request_timeout_secs: 30,
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 20,
            header_read_timeout_secs: 30,
            max_connections_per_ip: 256,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSettings {
    pub dir: PathBuf,
    /// The key that encrypts partners' secrets (restream stream keys): 64 hex characters in
    /// a file outside the database. Default `<dir>/secret.key`, made at first start; every
    /// node of a cluster needs the same file.
    pub secret_key_file: Option<PathBuf>,
}

impl Default for DataSettings {
    fn default() -> Self {
        DataSettings {
            dir: PathBuf::from("./data"),
            secret_key_file: None,
        }
    }
}

impl DataSettings {
    pub fn secret_key_path(&self) -> PathBuf {
        self.secret_key_file
            .clone()
            .unwrap_or_else(|| self.dir.join("secret.key"))
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: String::new(),
            max_connections: 8,
        }
    }
}

/// Database URLs may hold passwords: never print them.
impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &cityx_db::redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: String,
    pub filter: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: "text".into(),
            filter: "info,sqlx=warn,tower_http=info".into(),
        }
    }
}

/// Values given as command-line flags, the top layer.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub role: Option<Role>,
    pub data: Option<PathBuf>,
    pub listen: Option<String>,
    pub log_format: Option<String>,
}

impl Settings {
    /// Loads the layers. `file` is `--config`; without it `./cityx.toml` is read if present.
    pub fn load(file: Option<&Path>, flags: &Overrides) -> anyhow::Result<Settings> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) => {
                if !path.is_file() {
                    bail!("configuration file {} does not exist", path.display());
                }
                fig = fig.merge(Toml::file_exact(path));
            }
            None if Path::new("cityx.toml").is_file() => {
                fig = fig.merge(Toml::file_exact("cityx.toml"));
            }
            None => {}
        }
        // Only CITYX_SECTION__KEY variables are settings; CITYX_ADMIN_EMAIL and friends
        // are not.
        fig = fig.merge(
            Env::prefixed("CITYX_")
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        if let Some(d) = &flags.data {
            fig = fig.merge(Serialized::default("data.dir", d));
        }
        if let Some(r) = flags.role {
            fig = fig.merge(Serialized::default("server.role", r));
        }
        if let Some(l) = &flags.listen {
            fig = fig.merge(Serialized::default("server.listen", l));
        }
        if let Some(f) = &flags.log_format {
            fig = fig.merge(Serialized::default("log.format", f));
        }
        let mut settings: Settings = fig.extract().map_err(|e| {
            // figment names the key and where it came from (file, environment, flag).
            let all: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
            anyhow::anyhow!("invalid configuration: {}", all.join("; "))
        })?;
        // Relative directories are the working directory's, also for the tools that jobs
        // run in directories of their own.
        for dir in [&mut settings.data.dir, &mut settings.uploads.spool_dir] {
            if !dir.as_os_str().is_empty() {
                *dir = std::path::absolute(&*dir)
                    .with_context(|| format!("cannot resolve the directory {}", dir.display()))?;
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        if !(self.server.public_url.is_empty()
            || self.server.public_url.starts_with("http://")
            || self.server.public_url.starts_with("https://"))
        {
            bail!("server.public_url must start with http:// or https://");
        }
        if self.server.role == Role::Worker && !self.jobs.enabled {
            bail!("server.role = worker runs jobs only, so it needs jobs.enabled = true");
        }
        if self.server.request_timeout_secs == 0 {
            bail!("server.request_timeout_secs must be at least 1");
        }
        if self.server.header_read_timeout_secs == 0 {
            bail!("server.header_read_timeout_secs must be at least 1");
        }
        if self.live.enabled {
            self.rtmp_addr()?;
            self.srt_addr()?;
        }
        if !(1..=10).contains(&self.live.segment_secs) {
            bail!("live.segment_secs must be between 1 and 10");
        }
        if !(1..=60).contains(&self.live.thumbnail_secs) {
            bail!("live.thumbnail_secs must be between 1 and 60");
        }
        if self.live.slate_secs > 86_400 {
            bail!("live.slate_secs must be at most 86400 (a day)");
        }
        if !(self.live.rtmp_url.is_empty()
            || self.live.rtmp_url.starts_with("rtmp://")
            || self.live.rtmp_url.starts_with("rtmps://"))
        {
            bail!("live.rtmp_url must start with rtmp:// or rtmps://");
        }
        if self.server.body_limit_bytes < 1024 {
            bail!("server.body_limit_bytes must be at least 1024");
        }
        let db = self.database_url();
        if cityx_db::Backend::of_url(&db).is_none() {
            bail!(
                "database.url `{}` is not supported: use sqlite://PATH or postgres://USER:PASSWORD@HOST/DATABASE",
                cityx_db::redact_url(&db)
            );
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        let storage = self.storage_url();
        if let Some(path) = storage.strip_prefix("file://") {
            if path.is_empty() {
                bail!("storage.url file:// needs a path, e.g. file:///srv/cityx/objects");
            }
            if self.storage.presign_downloads {
                bail!(
                    "storage.presign_downloads needs an s3:// store: a file:// store is served by cityx itself"
                );
            }
        } else if storage.starts_with("s3://") {
            // Opening builds the client without a request: the URL and options are checked.
            cityx_storage::Storage::open(&self.store_options())
                .map_err(|e| anyhow::anyhow!("storage: {e}"))?;
            if self.uploads.max_size > cityx_storage::spool::MAX_REMOTE_SIZE {
                bail!(
                    "uploads.max_size_bytes must be at most {} with S3 storage (10,000 parts of 8 MiB)",
                    cityx_storage::spool::MAX_REMOTE_SIZE
                );
            }
        } else {
            bail!("storage.url must be file://PATH or s3://BUCKET[/PREFIX]");
        }
        let q = &self.queue;
        if !q.url.is_empty()
            && !q
                .url
                .split(',')
                .all(|u| u.trim().starts_with("nats://") || u.trim().starts_with("tls://"))
        {
            bail!(
                "queue.url `{}` must be empty (jobs from the database) or nats://HOST:PORT (comma-separated for a cluster)",
                redact_credentials(&q.url)
            );
        }
        if !cityx_queue::bus::valid_prefix(&q.prefix) {
            bail!("queue.prefix must be a lower-case letter, then up to 31 of a-z, 0-9 and _");
        }
        if !(1..=10_000).contains(&q.window) {
            bail!("queue.window must be between 1 and 10000");
        }
        let m = &self.media;
        if m.ladder_heights.is_empty() || m.ladder_heights.iter().any(|h| !(144..=2160).contains(h))
        {
            bail!(
                "media.ladder_heights must list heights between 144 and 2160, e.g. [1080, 720, 480, 360]"
            );
        }
        if !X264_PRESETS.contains(&m.x264_preset.as_str()) {
            bail!(
                "media.x264_preset must be one of {}",
                X264_PRESETS.join(", ")
            );
        }
        if !(2..=10).contains(&m.segment_secs) {
            bail!(
                "media.segment_secs must be between 2 and 10 (HLS segments of 4 to 6 s are usual)"
            );
        }
        if !(32..=512).contains(&m.audio_kbps) {
            bail!("media.audio_kbps must be between 32 and 512");
        }
        if !(144..=1080).contains(&m.proxy_height) {
            bail!("media.proxy_height must be between 144 and 1080");
        }
        if m.cache_mb > 65_536 {
            bail!("media.cache_mb must be at most 65536 (64 GiB); 0 turns the cache off");
        }
        self.qc.validate().map_err(anyhow::Error::msg)?;
        self.auth.validate().map_err(anyhow::Error::msg)?;
        for (key, v) in [
            ("jobs.lease_secs", self.jobs.lease_secs),
            ("media.probe_timeout_secs", self.media.probe_timeout_secs),
            ("media.stall_timeout_secs", self.media.stall_timeout_secs),
        ] {
            if v < 3 {
                bail!("{key} must be at least 3");
            }
        }
        let j = &self.jobs;
        if j.retry_base_secs == 0 || j.retry_max_secs < j.retry_base_secs {
            bail!("jobs.retry_base_secs must be at least 1, and jobs.retry_max_secs at least that");
        }
        for (key, names) in [
            ("jobs.only_kinds", j.only_kinds.iter().collect::<Vec<_>>()),
            ("jobs.kinds", j.kinds.keys().collect()),
        ] {
            if let Some(k) = names.iter().find(|k| !JOB_KINDS.contains(&k.as_str())) {
                bail!(
                    "{key}: {k:?} is not a job kind; kinds are {}",
                    JOB_KINDS.join(", ")
                );
            }
        }
        self.fetch_options()?;
        for (key, v) in [
            ("fetch.timeout_secs", self.fetch.timeout_secs),
            (
                "fetch.connect_timeout_secs",
                self.fetch.connect_timeout_secs,
            ),
            ("fetch.read_timeout_secs", self.fetch.read_timeout_secs),
        ] {
            if v == 0 {
                bail!("{key} must be at least 1");
            }
        }
        self.uploads.validate().map_err(anyhow::Error::msg)?;
        if !matches!(self.log.format.as_str(), "text" | "json") {
            bail!(
                "log.format must be \"text\" or \"json\", not {:?}",
                self.log.format
            );
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.server.listen.parse().with_context(|| {
            format!(
                "server.listen `{}` is not an address like 127.0.0.1:8080",
                self.server.listen
            )
        })
    }

    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data.dir.join("cityx.db").display())
        } else {
            self.database.url.clone()
        }
    }

    pub fn storage_url(&self) -> String {
        if self.storage.url.is_empty() {
            format!("file://{}", self.data.dir.join("objects").display())
        } else {
            self.storage.url.clone()
        }
    }

    /// The store, with its URL defaulted to the data directory's.
    pub fn store_options(&self) -> cityx_storage::StoreOptions {
        cityx_storage::StoreOptions {
            url: self.storage_url(),
            ..self.storage.clone()
        }
    }

    /// The outbound-fetch guard's options; an allowed network that is no CIDR is an error
    /// naming it.
    pub fn fetch_options(&self) -> anyhow::Result<cityx_fetch::Options> {
        let f = &self.fetch;
        let allow = f
            .allow_cidrs
            .iter()
            .map(|c| {
                c.parse().map_err(|_| {
                    anyhow::anyhow!("fetch.allow_cidrs: {c:?} is not a CIDR such as 10.8.0.0/16")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let extra_roots = if f.ca_file.is_empty() {
            Vec::new()
        } else {
            let pem = std::fs::read(&f.ca_file)
                .with_context(|| format!("fetch.ca_file: cannot read {}", f.ca_file))?;
            cityx_fetch::read_pem_certificates(&pem)
                .map_err(|e| anyhow::anyhow!("fetch.ca_file {}: {e}", f.ca_file))?
        };
        Ok(cityx_fetch::Options {
            allow,
            timeout: Duration::from_secs(f.timeout_secs),
            connect_timeout: Duration::from_secs(f.connect_timeout_secs),
            read_timeout: Duration::from_secs(f.read_timeout_secs),
            max_redirects: f.max_redirects,
            extra_roots,
        })
    }

    pub fn media_tools(&self) -> cityx_media::Tools {
        cityx_media::Tools {
            ffmpeg: self.media.ffmpeg.clone().into(),
            ffprobe: self.media.ffprobe.clone().into(),
            probe_limit: Duration::from_secs(self.media.probe_timeout_secs),
            stall: Duration::from_secs(self.media.stall_timeout_secs),
        }
    }

    pub fn ladder_options(&self) -> cityx_media::ladder::LadderOptions {
        let mut heights = self.media.ladder_heights.clone();
        heights.sort_unstable_by(|a, b| b.cmp(a));
        heights.dedup();
        cityx_media::ladder::LadderOptions {
            heights,
            preset: self.media.x264_preset.clone(),
            segment_secs: self.media.segment_secs,
            audio_kbps: self.media.audio_kbps,
            proxy_height: self.media.proxy_height,
        }
    }

    /// The message bus, when `queue.url` names one.
    pub fn bus_options(&self) -> Option<cityx_queue::bus::BusOptions> {
        (!self.queue.url.is_empty()).then(|| cityx_queue::bus::BusOptions {
            url: self.queue.url.clone(),
            prefix: self.queue.prefix.clone(),
            ack_wait: Duration::from_secs(self.jobs.lease_secs),
            window: self.queue.window,
        })
    }

    pub fn runner_options(&self) -> cityx_queue::RunnerOptions {
        let d = cityx_queue::RunnerOptions::default();
        cityx_queue::RunnerOptions {
            lease: Duration::from_secs(self.jobs.lease_secs),
            backoff_base: Duration::from_secs(self.jobs.retry_base_secs),
            backoff_max: Duration::from_secs(self.jobs.retry_max_secs),
            kinds: self.jobs.kinds.clone().into_iter().collect(),
            heavy_slots: if self.jobs.heavy_slots == 0 {
                d.heavy_slots
            } else {
                self.jobs.heavy_slots
            },
            light_slots: if self.jobs.light_slots == 0 {
                d.light_slots
            } else {
                self.jobs.light_slots
            },
            ..d
        }
    }

    /// Where partial uploads wait: beside the local object store, so that a finished upload
    /// becomes an object by a rename.
    /// The search index: a cache of the database, rebuilt when missing.
    pub fn search_dir(&self) -> std::path::PathBuf {
        self.data.dir.join("search")
    }

    pub fn spool_dir(&self) -> std::path::PathBuf {
        if self.uploads.spool_dir.as_os_str().is_empty() {
            self.data.dir.join("spool")
        } else {
            self.uploads.spool_dir.clone()
        }
    }

    /// How the door accepts and keeps connections.
    pub fn conn_options(&self) -> cityx_http::serve::ConnOptions {
        cityx_http::serve::ConnOptions {
            header_read_timeout: Duration::from_secs(self.server.header_read_timeout_secs),
            max_per_address: if self.server.trust_forwarded {
                0
            } else {
                self.server.max_connections_per_ip
            },
        }
    }

    /// The RTMP ingest's address.
    pub fn rtmp_addr(&self) -> anyhow::Result<SocketAddr> {
        if self.live.rtmp_listen.is_empty() {
            let http = self.listen_addr()?;
            let port = if http.port() == 0 { 0 } else { 1935 };
            return Ok(SocketAddr::new(http.ip(), port));
        }
        self.live.rtmp_listen.parse().with_context(|| {
            format!(
                "live.rtmp_listen `{}` is not an address like 0.0.0.0:1935",
                self.live.rtmp_listen
            )
        })
    }

    /// Where the SRT ingest listens; `None` when it is off.
    pub fn srt_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        match self.live.srt_listen.trim() {
            "off" => Ok(None),
            "" => {
                let http = self.listen_addr()?;
                let port = if http.port() == 0 { 0 } else { 10080 };
                Ok(Some(SocketAddr::new(http.ip(), port)))
            }
            addr => addr.parse().map(Some).with_context(|| {
                format!("live.srt_listen `{addr}` is not an address like 0.0.0.0:10080, nor `off`")
            }),
        }
    }

    /// How the ingest runs on this node.
    pub fn ingest_options(&self) -> cityx_live::IngestOptions {
        cityx_live::IngestOptions {
            tools: self.media_tools(),
            work_dir: self.data.dir.join("live"),
            segment_secs: self.live.segment_secs,
            thumbnail_secs: self.live.thumbnail_secs,
            max_connections_per_ip: self.live.max_connections_per_ip.max(1),
            max_connections: self.live.max_connections.max(1),
            slate_secs: self.live.slate_secs,
        }
    }

    /// The RTMP address encoders are told, for the ingest bound at `bound`.
    pub fn rtmp_url(&self, bound: SocketAddr) -> String {
        if !self.live.rtmp_url.is_empty() {
            return self.live.rtmp_url.trim_end_matches('/').to_owned();
        }
        format!("rtmp://{}:{}/live", self.shown_host(bound), bound.port())
    }

    /// The SRT address shown to encoders for an ingest bound to `bound`.
    pub fn srt_url(&self, bound: SocketAddr) -> String {
        if !self.live.srt_url.is_empty() {
            return self.live.srt_url.trim_end_matches('/').to_owned();
        }
        format!("srt://{}:{}", self.shown_host(bound), bound.port())
    }

    /// The host encoders are told: server.public_url's, or the bound address (this machine's
    /// loopback when bound to every address).
    fn shown_host(&self, bound: SocketAddr) -> String {
        url::Url::parse(&self.server.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| {
                if bound.ip().is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    bound.ip().to_string()
                }
            })
    }

    pub fn http_options(&self) -> cityx_http::http::HttpOptions {
        cityx_http::http::HttpOptions {
            trust_forwarded: self.server.trust_forwarded,
            secure_cookies: self.server.public_url.starts_with("https://"),
            body_limit: self.server.body_limit_bytes,
            request_timeout: Duration::from_secs(self.server.request_timeout_secs),
            rtmp_url: None,
            srt_url: None,
        }
    }
}

#[cfg(test)]
// figment's `Jail` closures return its large error type; that is its API, not ours.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn the_committed_example_is_exactly_the_defaults() {
        let parsed: Settings = Figment::from(Toml::string(DEFAULT_CONFIG))
            .extract()
            .expect("the example config parses");
        assert_eq!(
            parsed,
            Settings::default(),
            "cityx.example.toml and Settings::default() differ: update one to match the other"
        );
    }

    #[test]
    fn layers_apply_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "cityx.toml",
                "[server]\nlisten = \"127.0.0.1:9000\"\nrequest_timeout_secs = 5\n",
            )?;
            jail.set_env("CITYX_SERVER__REQUEST_TIMEOUT_SECS", "7");
            jail.set_env("CITYX_SERVER__LISTEN", "127.0.0.1:9001");
            jail.set_env("CITYX_ADMIN_EMAIL", "not-a-setting@x.cn");
            let s = Settings::load(None, &Overrides::default()).expect("load");
            assert_eq!(s.server.request_timeout_secs, 7, "env beats file");
            assert_eq!(s.server.listen, "127.0.0.1:9001");
            jail.set_env("CITYX_SERVER__ROLE", "worker");
            assert_eq!(
                Settings::load(None, &Overrides::default())
                    .expect("load")
                    .server
                    .role,
                Role::Worker
            );
            let flags = Overrides {
                role: Some(Role::Api),
                listen: Some("127.0.0.1:9002".into()),
                data: Some("/srv/cityx".into()),
                log_format: None,
            };
            let s = Settings::load(None, &flags).expect("load");
            assert_eq!(s.server.listen, "127.0.0.1:9002", "flags beat env");
            assert_eq!(s.server.role, Role::Api, "flags beat env");
            assert_eq!(s.database_url(), "sqlite:///srv/cityx/cityx.db");
            assert_eq!(s.storage_url(), "file:///srv/cityx/objects");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_source() {
        Jail::expect_with(|jail| {
            jail.create_file("cityx.toml", "[server]\nlisten_addr = \"x\"\n")?;
            let err = Settings::load(None, &Overrides::default())
                .expect_err("typo")
                .to_string();
            assert!(err.contains("listen_addr"), "{err}");
            assert!(err.contains("cityx.toml"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("CITYX_AUTH__SESION_TTL_HOURS", "1");
            let err = Settings::load(None, &Overrides::default())
                .expect_err("typo")
                .to_string();
            assert!(err.contains("sesion_ttl_hours"), "{err}");
            assert!(
                err.to_lowercase().contains("environment") || err.contains("CITYX_"),
                "{err}"
            );
            Ok(())
        });
    }

    /// The settings loader against mangled files (a bounded, seeded mutation run; the cargo
    /// fuzz targets cover the parsers that do not need the whole server): every outcome is a
    /// loaded configuration or an error that says something, never a panic.
    #[test]
    fn mangled_configuration_files_are_refused_without_panicking() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let lines: Vec<&str> = DEFAULT_CONFIG.lines().collect();
        let junk = [
            "\u{202E}",
            "=",
            "[",
            "]]",
            "\"",
            "'''",
            "-1",
            "1e999",
            "\0",
            "数",
            "[[x]]",
            "a.b.c = 1",
        ];
        for round in 0..400 {
            let mut text: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            for _ in 0..1 + next() % 4 {
                let i = (next() as usize) % text.len();
                let j = (next() as usize) % junk.len();
                match next() % 4 {
                    0 => {
                        let at = text[i].len() / 2;
                        if text[i].is_char_boundary(at) {
                            text[i].insert_str(at, junk[j]);
                        }
                    }
                    1 => {
                        text.remove(i);
                    }
                    2 => text[i] = text[i].replace(['=', '"'], junk[j]),
                    _ => {
                        let copy = text[(next() as usize) % text.len()].clone();
                        text.insert(i, copy);
                    }
                }
            }
            let body = text.join("\n");
            Jail::expect_with(|jail| {
                jail.create_file("mangled.toml", &body)?;
                match Settings::load(Some(Path::new("mangled.toml")), &Overrides::default()) {
                    Ok(s) => assert!(s.validate().is_ok(), "round {round}"),
                    Err(e) => assert!(!e.to_string().trim().is_empty(), "round {round}"),
                }
                Ok(())
            });
        }
    }

    #[test]
    fn bad_values_are_refused() {
        Jail::expect_with(|jail| {
            for (key, value, needle) in [
                ("CITYX_SERVER__LISTEN", "localhost", "server.listen"),
                ("CITYX_DATABASE__URL", "mysql://u:pw@db/x", "database.url"),
                ("CITYX_LOG__FORMAT", "xml", "log.format"),
                (
                    "CITYX_AUTH__API_TOKEN_DEFAULT_DAYS",
                    "1000",
                    "api_token_default_days",
                ),
                (
                    "CITYX_SERVER__REQUEST_TIMEOUT_SECS",
                    "soon",
                    "request_timeout_secs",
                ),
                ("CITYX_UPLOADS__DUPLICATES", "ignore", "uploads.duplicates"),
                ("CITYX_SERVER__ROLE", "indexer", "server.role"),
                ("CITYX_MEDIA__CACHE_MB", "100000", "media.cache_mb"),
                (
                    "CITYX_AUTH__TOKEN_CACHE_SECS",
                    "61",
                    "auth.token_cache_secs",
                ),
                (
                    "CITYX_FETCH__ALLOW_CIDRS",
                    "[\"10.0.0.300/8\"]",
                    "fetch.allow_cidrs",
                ),
                ("CITYX_FETCH__CA_FILE", "/no/such/ca.pem", "fetch.ca_file"),
                // The default store is a directory, which cannot presign.
                (
                    "CITYX_STORAGE__PRESIGN_DOWNLOADS",
                    "true",
                    "storage.presign_downloads",
                ),
            ] {
                jail.clear_env();
                jail.set_env(key, value);
                let err = Settings::load(None, &Overrides::default())
                    .expect_err(key)
                    .to_string();
                assert!(err.to_lowercase().contains(needle), "{key}: {err}");
                assert!(
                    !err.contains(":pw@"),
                    "the password must not be printed: {err}"
                );
            }
            Ok(())
        });
    }

    #[test]
    fn job_kinds_take_a_class_and_slots_and_unknown_ones_are_refused() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "cityx.toml",
                "[jobs.kinds.webhook]\nslots = 2\n[jobs.kinds.probe]\nclass = \"heavy\"\n",
            )?;
            let s = Settings::load(
                Some(std::path::Path::new("cityx.toml")),
                &Overrides::default(),
            )
            .expect("valid");
            let opts = s.runner_options();
            assert_eq!(opts.kinds["webhook"].slots, 2);
            assert_eq!(opts.kinds["probe"].class, Some(cityx_queue::Class::Heavy));
            for (toml, needle) in [
                (
                    "[jobs.kinds.teleport]\nslots = 1\n",
                    "jobs.kinds: \"teleport\" is not a job kind",
                ),
                ("[jobs.kinds.probe]\nclass = \"medium\"\n", "medium"),
                ("[jobs.kinds.probe]\nthreads = 2\n", "threads"),
            ] {
                jail.create_file("cityx.toml", toml)?;
                let err = Settings::load(
                    Some(std::path::Path::new("cityx.toml")),
                    &Overrides::default(),
                )
                .expect_err(toml)
                .to_string();
                assert!(err.contains(needle), "{toml}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn a_worker_without_jobs_is_refused() {
        Jail::expect_with(|jail| {
            jail.set_env("CITYX_SERVER__ROLE", "worker");
            jail.set_env("CITYX_JOBS__ENABLED", "false");
            let err = Settings::load(None, &Overrides::default())
                .expect_err("a worker that runs nothing")
                .to_string();
            assert!(err.contains("jobs.enabled"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn debug_hides_database_passwords() {
        let mut s = Settings::default();
        s.database.url = "postgres://cityx:hunter2@db/cityx".into();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let err = Settings::load(
            Some(Path::new("/nonexistent/cityx.toml")),
            &Overrides::default(),
        )
        .expect_err("missing");
        assert!(err.to_string().contains("does not exist"));
    }
}
