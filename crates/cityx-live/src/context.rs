//! The live channels' use cases: what the doors call.

use cityx_app::{App, Error, Result, secrets};
use cityx_core::live::{Channel, ChannelInput, KEY_PREFIX, key_hint};
use cityx_core::{Actor, AuditAction, ChannelId, NewAudit, TenantScope, policy};
use cityx_storage::StorageKey;
use serde::Serialize;
use utoipa::ToSchema;

/// A channel with its stream key: the only time the key is shown (at creation and rotation).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ChannelWithKey {
    pub channel: Channel,
    /// The stream key to give the encoder. Shown once; rotate it to get a new one.
    pub stream_key: String,
}

/// The largest live file read (a segment of a high rate or a long keyframe interval).
pub const LIVE_FILE: u64 = 32 << 20;

/// A file of a channel's live output, read for a viewer.
pub struct LiveFile {
    pub bytes: bytes::Bytes,
    pub content_type: &'static str,
    /// The playlist changes every segment; segments and thumbnails do not (a thumbnail is
    /// replaced under the same name, so it is kept briefly).
    pub cache_control: &'static str,
}

/// Live channels, as a context of its own holding only the live repository, storage, the
/// outbound guard and the sealer.
pub struct Live<'a> {
    repo: &'a dyn cityx_db::LiveRepo,
    storage: &'a cityx_storage::Storage,
    fetch: &'a cityx_fetch::Guard,
    sealer: Option<&'a cityx_app::secrets::Sealer>,
    media: cityx_app::Media<'a>,
}

/// Where a live channel plays from, for one viewer, until `expires_at`: a signed address
/// that needs no session (a player, a CDN), whose every request still answers to the
/// viewer's rights of the moment.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LiveLink {
    /// The signed prefix: append `index.m3u8`, a segment's path or `thumb.jpg`.
    pub base: String,
    /// The playlist under `base`: `master.m3u8` for a channel with lower renditions,
    /// `index.m3u8` otherwise.
    pub playlist: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
}

/// A fresh stream key: `sk_` and 192 random bits in hex.
pub fn new_stream_key() -> Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(e.to_string().into()))?;
    Ok(format!("{KEY_PREFIX}{}", secrets::hex(&bytes)))
}

/// What a channel's sealed SRT passphrase is bound to (not to be opened as another secret).
pub(crate) fn passphrase_binding(id: ChannelId) -> String {
    format!("srt-passphrase:{id}")
}

fn too_many(e: cityx_db::Error) -> Error {
    match e {
        cityx_db::Error::WrongState {
            entity: "channel", ..
        } => Error::field(
            "name",
            "too_many",
            format!(
                "a station has at most {} channels",
                cityx_core::live::MAX_PER_STATION
            ),
        ),
        e => e.into(),
    }
}

impl<'a> Live<'a> {
    pub fn of(app: &'a App) -> Self {
        Live {
            repo: &**app.repo(),
            storage: app.storage(),
            fetch: app.fetch_guard(),
            sealer: app.sealer().ok(),
            media: app.media(),
        }
    }

    /// Creates a channel for the caller's station (station admins); returns its key once.
    pub async fn create(&self, actor: &Actor, input: &ChannelInput<'_>) -> Result<ChannelWithKey> {
        let station = policy::create_channel(actor)?;
        let fields = input.validate()?;
        let by = actor.user_id.ok_or(Error::Forbidden)?;
        let id = ChannelId::new();
        self.check_source(&fields, station, id).await?;
        let key = new_stream_key()?;
        let audit = NewAudit::by(
            actor,
            AuditAction::ChannelCreated,
            "channel",
            id,
            Some(station),
        )
        .detail("name", fields.name.clone());
        self.repo
            .insert_channel(
                id,
                station,
                &fields,
                &secrets::hash_secret(&key),
                &key_hint(&key),
                by,
                &audit,
            )
            .await
            .map_err(too_many)?;
        tracing::info!(channel = %id, %station, "live channel created");
        Ok(ChannelWithKey {
            channel: self.repo.get_channel(actor.tenant_scope(), id).await?,
            stream_key: key,
        })
    }

    /// Takes a channel shared with the caller's station into it (拉到本台): a new channel of
    /// the station, visible to it alone, that pulls the source's signal whenever it is on air.
    pub async fn take(&self, actor: &Actor, source: ChannelId) -> Result<ChannelWithKey> {
        let src = self.get(actor, source).await?;
        let name: String = format!("{} · {}", src.name, src.station_name)
            .chars()
            .take(100)
            .collect();
        let pull = format!("channel:{source}");
        let input = ChannelInput {
            name: &name,
            visibility: "private",
            pull_url: &pull,
            ..ChannelInput::default()
        };
        self.create(actor, &input).await
    }

    /// The channels the caller may watch, live ones first.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<Channel>> {
        policy::read(actor)?;
        let channels = self
            .repo
            .list_watchable_channels(watch_scope(actor))
            .await?;
        Ok(channels.into_iter().map(|c| as_seen(actor, c)).collect())
    }

    /// A channel the caller may watch.
    pub async fn get(&self, actor: &Actor, id: ChannelId) -> Result<Channel> {
        policy::read(actor)?;
        let channel = self
            .repo
            .get_watchable_channel(watch_scope(actor), id)
            .await?;
        Ok(as_seen(actor, channel))
    }

    /// Whether the caller may change the channel (and so see its ingest address).
    pub fn may_manage(actor: &Actor, channel: &Channel) -> bool {
        policy::manage_channels(actor).is_ok()
            && (actor.tenant_scope() == TenantScope::All
                || actor.station_id == Some(channel.station_id))
    }

    pub async fn update(
        &self,
        actor: &Actor,
        id: ChannelId,
        input: &ChannelInput<'_>,
    ) -> Result<Channel> {
        policy::manage_channels(actor)?;
        let fields = input.validate()?;
        let scope = actor.tenant_scope();
        let station = self.repo.get_channel(scope, id).await?.station_id;
        self.check_source(&fields, station, id).await?;
        let audit = NewAudit::by(
            actor,
            AuditAction::ChannelUpdated,
            "channel",
            id,
            Some(station),
        );
        self.repo.update_channel(scope, id, &fields, &audit).await?;
        Ok(self.repo.get_channel(scope, id).await?)
    }

    /// Refuses a pull address that cannot work for channel `id` of `station`: a remote one
    /// the outbound guard refuses (a private network, a host that does not resolve), or a
    /// channel that is this one or is not shared with the station.
    async fn check_source(
        &self,
        fields: &cityx_core::live::ChannelFields,
        station: cityx_core::StationId,
        id: ChannelId,
    ) -> Result<()> {
        use cityx_core::live::Source;
        let Some(raw) = fields.pull_url.as_deref() else {
            return Ok(());
        };
        let refused =
            |code: &'static str, msg: &str| Error::field("pull_url", code, msg.to_owned());
        let remote = match Source::parse(raw).map_err(|e| Error::Validation(vec![e]))? {
            Source::Channel(source) if source == id => {
                return Err(refused("bad_value", "a channel cannot pull itself"));
            }
            Source::Channel(source) => {
                return match self
                    .repo
                    .get_watchable_channel(TenantScope::Station(station), source)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_not_found() => Err(refused(
                        "not_found",
                        "no such channel is shared with this station",
                    )),
                    Err(e) => Err(e.into()),
                };
            }
            Source::Rtmp { app_url, .. } => app_url,
            Source::Srt { address, .. } => address,
            Source::Hls(url) | Source::Rtsp(url) => url,
        };
        let mut url = cityx_fetch::Url::parse(&remote)
            .map_err(|_| refused("bad_format", "not an address"))?;
        let port = match url.scheme() {
            "rtmp" => Some(crate::rtmp_client::DEFAULT_PORT),
            "rtmps" => Some(crate::rtmp_client::DEFAULT_TLS_PORT),
            "rtsp" => Some(crate::rtsp::DEFAULT_PORT),
            _ => None,
        };
        if url.port().is_none() && port.is_some() {
            let _ = url.set_port(port);
        }
        self.fetch
            .admit(&url)
            .await
            .map_err(|e| Error::field("pull_url", e.code(), e.to_string()))?;
        Ok(())
    }

    /// Sets the passphrase SRT publishers must encrypt with (`Some`), or removes it; an SRT
    /// publisher without it is refused from its next connection.
    pub async fn set_srt_passphrase(
        &self,
        actor: &Actor,
        id: ChannelId,
        passphrase: Option<&str>,
    ) -> Result<Channel> {
        policy::manage_channels(actor)?;
        let scope = actor.tenant_scope();
        let station = self.repo.get_channel(scope, id).await?.station_id;
        let sealed = match passphrase {
            Some(p) => {
                cityx_core::live::check_srt_passphrase(p)
                    .map_err(|e| Error::Validation(vec![e]))?;
                let sealer = self.sealer.ok_or_else(|| {
                    Error::Internal("no secret key was set (data.secret_key_file)".into())
                })?;
                Some((
                    sealer.seal(&passphrase_binding(id), p)?,
                    cityx_core::live::target::key_hint_of(p),
                ))
            }
            None => None,
        };
        let mut audit = NewAudit::by(
            actor,
            AuditAction::ChannelUpdated,
            "channel",
            id,
            Some(station),
        );
        audit.detail = serde_json::json!({ "srt_passphrase": if sealed.is_some() { "set" } else { "removed" } });
        self.repo
            .set_channel_passphrase(
                scope,
                id,
                sealed.as_ref().map(|(s, h)| (s.as_str(), h.as_str())),
                &audit,
            )
            .await?;
        Ok(self.repo.get_channel(scope, id).await?)
    }

    /// Replaces the stream key; the old one is refused from now on.
    pub async fn rotate_key(&self, actor: &Actor, id: ChannelId) -> Result<ChannelWithKey> {
        policy::manage_channels(actor)?;
        let scope = actor.tenant_scope();
        let station = self.repo.get_channel(scope, id).await?.station_id;
        let key = new_stream_key()?;
        let audit = NewAudit::by(
            actor,
            AuditAction::ChannelKeyRotated,
            "channel",
            id,
            Some(station),
        );
        self.repo
            .rotate_channel_key(
                scope,
                id,
                &secrets::hash_secret(&key),
                &key_hint(&key),
                &audit,
            )
            .await?;
        Ok(ChannelWithKey {
            channel: self.repo.get_channel(scope, id).await?,
            stream_key: key,
        })
    }

    /// Deletes a channel and its recorded window; a publisher is cut off at its next report.
    pub async fn delete(&self, actor: &Actor, id: ChannelId) -> Result<()> {
        policy::manage_channels(actor)?;
        let scope = actor.tenant_scope();
        let station = self.repo.get_channel(scope, id).await?.station_id;
        let audit = NewAudit::by(
            actor,
            AuditAction::ChannelDeleted,
            "channel",
            id,
            Some(station),
        );
        self.repo.delete_channel(scope, id, &audit).await?;
        if let Err(e) = self
            .storage
            .delete_prefix(&StorageKey::live_prefix(id))
            .await
        {
            tracing::warn!(channel = %id, error = %e, "a deleted channel's files stay");
        }
        Ok(())
    }

    /// A file of the channel's live output (`index.m3u8`, `<session>/<n>.ts`, `thumb.jpg`)
    /// for a viewer who may watch it.
    pub async fn file(&self, actor: &Actor, id: ChannelId, relative: &str) -> Result<LiveFile> {
        self.get(actor, id).await?;
        self.read_file(id, relative).await
    }

    /// A signed playback address of a channel the caller may watch (see [`LiveLink`]).
    pub async fn media_link(&self, actor: &Actor, id: ChannelId) -> Result<LiveLink> {
        let ch = self.get(actor, id).await?;
        let (grant, expires_at) = self
            .media
            .grant(cityx_app::media::Purpose::Live, id, actor)
            .await?;
        let base = format!("/api/v1/live/{grant}/");
        Ok(LiveLink {
            playlist: format!("{base}{}", playlist_of(&ch)),
            base,
            expires_at,
        })
    }

    /// A file under a signed playback address: the grant must be intact, unexpired and its
    /// holder still enabled, and its station still allowed to watch the channel (decided
    /// at most every 2 s per channel and station).
    pub async fn media_file(&self, grant: &str, relative: &str) -> Result<LiveFile> {
        let (id, scope): (ChannelId, TenantScope) = self
            .media
            .open_grant(cityx_app::media::Purpose::Live, grant)
            .await?;
        let caches = crate::serve::caches();
        let may = match caches.may_watch(id, scope) {
            Some(may) => may,
            None => {
                let may = match self.repo.get_watchable_channel(scope, id).await {
                    Ok(_) => true,
                    Err(e) if e.is_not_found() => false,
                    Err(e) => return Err(e.into()),
                };
                caches.keep_decision(id, scope, may);
                may
            }
        };
        if !may {
            return Err(Error::NotFound("channel"));
        }
        self.read_file(id, relative).await
    }

    /// One of the channel's files, through this process's serving caches.
    async fn read_file(&self, id: ChannelId, relative: &str) -> Result<LiveFile> {
        let (content_type, cache_control) = match relative.rsplit('.').next() {
            Some("m3u8") => ("application/vnd.apple.mpegurl", "no-cache"),
            Some("ts") => ("video/mp2t", "private, max-age=86400, immutable"),
            Some("jpg") => ("image/jpeg", "private, max-age=2"),
            _ => return Err(Error::NotFound("file")),
        };
        let caches = crate::serve::caches();
        let bytes = match caches.file(id, relative) {
            Some(b) => b,
            // The caches hold only what was read under a valid key.
            None => {
                let key = StorageKey::live(id, relative).ok_or(Error::NotFound("file"))?;
                let bytes = self.storage.read_small(&key, LIVE_FILE).await.map_err(|e| {
                    if e.is_not_found() {
                        Error::NotFound("file")
                    } else {
                        Error::Internal(e.to_string().into())
                    }
                });
                let bytes = match bytes {
                    Ok(Some((_, b))) => b,
                    // Renditions asked for, no broadcast since: the copy alone.
                    Ok(None) | Err(Error::NotFound(_)) if relative == crate::ladder::MASTER => {
                        bytes::Bytes::from(crate::ladder::copy_only_master())
                    }
                    Ok(None) => return Err(Error::NotFound("file")),
                    Err(e) => return Err(e),
                };
                caches.keep_file(id, relative, &bytes);
                bytes
            }
        };
        Ok(LiveFile {
            bytes,
            content_type,
            cache_control,
        })
    }
}

/// The playlist a channel's players load: the master when it has lower renditions.
pub fn playlist_of(ch: &cityx_core::live::Channel) -> &'static str {
    if ch.renditions.is_empty() {
        crate::mover::PLAYLIST
    } else {
        crate::ladder::MASTER
    }
}

/// `HH:MM:SS` in Beijing time, for default titles.
pub(crate) fn beijing_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC));
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// `YYYY-MM-DD HH:MM` in Beijing time, for recordings' titles.
pub(crate) fn beijing_day_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// A channel as `actor` may see it: whole for those who manage it.
fn as_seen(actor: &Actor, channel: Channel) -> Channel {
    if Live::may_manage(actor, &channel) {
        channel
    } else {
        channel.for_viewers()
    }
}

/// Whose channels a viewer may watch: the hub's roles every one, a station's people those
/// shared with their station.
fn watch_scope(actor: &Actor) -> TenantScope {
    if matches!(
        actor.role,
        cityx_core::Role::HubAdmin | cityx_core::Role::HubEditor
    ) {
        TenantScope::All
    } else {
        actor
            .station_id
            .map_or(TenantScope::Nothing, TenantScope::Station)
    }
}
