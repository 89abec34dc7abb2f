//! Playback by signed address: a caller who may see an item gets a media link, an expiring
//! HMAC-signed path prefix under which the item's playable files (HLS playlists and
//! segments, storyboard, thumbnails, poster, proxy) are served without a session or a
//! database read per request. A CDN can cache under it, and a player needs no cookie.
//!
//! Every request still answers to the item's rights of the moment and to its holder: whether
//! the link's station may see the item is read from the database at most once per
//! [`RIGHTS_TTL`] per item and viewer, and whether the person it was made for is still
//! enabled and still of that station at most once per [`RIGHTS_TTL`] per person, so a
//! withdrawal, a deletion, narrowed rights or a disabled account stop playback within
//! seconds.
//!
//! Small files ([`SMALL_FILE`] or less: playlists, segments, pictures) are read whole in one
//! trip to a blocking thread and, once the item is ready (its files no longer change), kept
//! in a memory cache of a fixed budget, evicting the least recently used.

use crate::pipeline::{AssetFile, extension_of, servable, storage_error};
use crate::{Error, Result, secrets};
use cityx_core::links::MediaGrant;
use cityx_core::{Actor, AssetId, AssetStatus, ScopeSet, StationId, TenantScope, UserId, policy};
use cityx_storage::StorageKey;
use hmac::Mac;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// Playback by signed media links. See [`App::media`](crate::App::media).
#[derive(Clone, Copy)]
pub struct Media<'a> {
    pub(crate) exchange: &'a dyn cityx_db::ExchangeRepo,
    pub(crate) users: &'a dyn cityx_db::UserRepo,
    pub(crate) storage: &'a cityx_storage::Storage,
    pub(crate) media: &'a MediaCache,
    pub(crate) link_key: &'a crate::secrets::LinkKey,
}

/// Files up to this size are read whole (and cached when the item is ready); larger ones
/// (a long proxy MP4) are streamed.
pub const SMALL_FILE: u64 = 4 << 20;
/// How long a media link plays.
const LINK_TTL: Duration = Duration::from_secs(6 * 3600);
/// How long a rights decision is reused.
const RIGHTS_TTL: Duration = Duration::from_secs(2);
/// Decisions kept before the expired ones are swept.
const RIGHTS_SWEEP: usize = 10_000;

/// The person a link was made for; `-` for the system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Holder(Option<UserId>);

impl Holder {
    fn code(self) -> String {
        self.0.map_or_else(|| "-".to_owned(), |u| u.to_string())
    }

    fn parse(code: &str) -> Option<Self> {
        match code {
            "-" => Some(Holder(None)),
            s => s.parse().ok().map(|u| Holder(Some(u))),
        }
    }
}

/// Values (decisions, small files) reused until they are `ttl` old, so that a player's
/// requests in a burst cost one database or storage read. Stale entries are swept once the
/// map holds [`RIGHTS_SWEEP`].
pub struct Recent<K, V> {
    ttl: Duration,
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Recent<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Recent {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    pub fn put(&self, key: K, value: V) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= RIGHTS_SWEEP {
            let ttl = self.ttl;
            map.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        map.insert(key, (Instant::now(), value));
    }
}

/// Where an item plays from, for one viewer, until `expires_at`.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MediaLink {
    /// The signed prefix: append a file's path (`hls/master.m3u8`, `poster.jpg` …).
    pub base: String,
    /// The playlist to play under `base`, once something plays.
    pub hls: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Whose rights a link carries: the hub's, a station's, or only what everyone may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Viewer {
    All,
    Station(StationId),
    Nobody,
}

impl Viewer {
    fn of(scope: TenantScope) -> Self {
        match scope {
            TenantScope::All => Viewer::All,
            TenantScope::Station(s) => Viewer::Station(s),
            TenantScope::Nothing => Viewer::Nobody,
        }
    }

    fn scope(self) -> TenantScope {
        match self {
            Viewer::All => TenantScope::All,
            Viewer::Station(s) => TenantScope::Station(s),
            Viewer::Nobody => TenantScope::Nothing,
        }
    }

    fn code(self) -> String {
        match self {
            Viewer::All => "all".into(),
            Viewer::Station(s) => s.to_string(),
            Viewer::Nobody => "none".into(),
        }
    }

    fn parse(code: &str) -> Option<Self> {
        match code {
            "all" => Some(Viewer::All),
            "none" => Some(Viewer::Nobody),
            s => s.parse().ok().map(Viewer::Station),
        }
    }
}

/// What a viewer may play of an item: `None` when it may not see it; else whether its files
/// are final, and their version (the item's last change).
type Playable = Option<(bool, i64)>;

#[derive(Clone, PartialEq, Eq, Hash)]
struct FileKey {
    asset: AssetId,
    version: i64,
    path: String,
}

struct Cached {
    file: AssetFile,
    last_used: u64,
}

#[derive(Default)]
struct Files {
    map: HashMap<FileKey, Cached>,
    bytes: u64,
    clock: u64,
}

/// The memory behind media links: rights decisions and small files.
pub(crate) struct MediaCache {
    budget: u64,
    rights: Recent<(AssetId, Viewer), Playable>,
    holders: Recent<(UserId, Viewer), bool>,
    files: Mutex<Files>,
}

impl MediaCache {
    /// A cache holding at most `budget` bytes of files (0: none).
    pub(crate) fn new(budget: u64) -> Self {
        MediaCache {
            budget,
            rights: Recent::new(RIGHTS_TTL),
            holders: Recent::new(RIGHTS_TTL),
            files: Default::default(),
        }
    }

    fn file(&self, key: &FileKey) -> Option<AssetFile> {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.clock += 1;
        let now = files.clock;
        files.map.get_mut(key).map(|c| {
            c.last_used = now;
            c.file.clone()
        })
    }

    fn keep(&self, key: FileKey, file: &AssetFile) {
        let size = file.info.size;
        if size > self.budget / 8 {
            return;
        }
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.clock += 1;
        let now = files.clock;
        if let Some(old) = files.map.insert(
            key,
            Cached {
                file: file.clone(),
                last_used: now,
            },
        ) {
            files.bytes -= old.file.info.size;
        }
        files.bytes += size;
        if files.bytes > self.budget {
            // Down to three quarters of the budget, least recently used first: sorting is
            // paid once per quarter of the budget, not on every insert.
            let mut by_age: Vec<(u64, FileKey)> = files
                .map
                .iter()
                .map(|(k, c)| (c.last_used, k.clone()))
                .collect();
            by_age.sort_unstable_by_key(|(used, _)| *used);
            for (_, k) in by_age {
                if files.bytes <= self.budget / 4 * 3 {
                    break;
                }
                if let Some(c) = files.map.remove(&k) {
                    files.bytes -= c.file.info.size;
                }
            }
        }
    }

    /// Bytes of files held now.
    pub(crate) fn held(&self) -> u64 {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }
}

/// What a grant is for, in its signature: an item's files or a live channel's, so that a
/// grant for one is never taken for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Item,
    Live,
}

impl Purpose {
    fn prefix(self) -> &'static str {
        match self {
            Purpose::Item => "media",
            Purpose::Live => "live",
        }
    }
}

/// The MAC of a grant on `id` for `purpose`, for `viewer`'s rights and `holder`, until
/// `expires` (unix seconds), and the part it covers.
fn grant_mac<I: std::fmt::Display + std::str::FromStr>(
    key: &[u8],
    purpose: Purpose,
    id: I,
    (viewer, holder): (Viewer, Holder),
    expires: i64,
) -> Result<(String, hmac::Hmac<sha2::Sha256>)> {
    let part = MediaGrant::<I>::signed_part(id, &viewer.code(), &holder.code(), expires);
    let mac = signed_mac(key, purpose, &part)?;
    Ok((part, mac))
}

/// The MAC of a grant's signed part (as [`MediaGrant::signed_part`] writes it) for `purpose`.
fn signed_mac(key: &[u8], purpose: Purpose, part: &str) -> Result<hmac::Hmac<sha2::Sha256>> {
    use hmac::Mac;
    let mut mac = secrets::mac(key, purpose.prefix())?;
    mac.update(b"/");
    mac.update(part.as_bytes());
    Ok(mac)
}

impl Media<'_> {
    /// A media link to an item the caller may see, carrying the caller's rights.
    pub async fn media_link(&self, actor: &Actor, id: AssetId) -> Result<MediaLink> {
        let asset = crate::assets::readable_asset(self.exchange, actor, id).await?;
        self.media_link_of(actor, &asset).await
    }

    /// [`Media::media_link`] for an item already read (the item page has it). The link
    /// carries the caller's station's rights and the caller, which every request under it
    /// checks again.
    pub async fn media_link_of(
        &self,
        actor: &Actor,
        asset: &cityx_core::Asset,
    ) -> Result<MediaLink> {
        let (grant, expires_at) = self.grant(Purpose::Item, asset.id, actor).await?;
        Ok(MediaLink {
            base: format!("/api/v1/media/{grant}/"),
            hls: asset.playback.clone(),
            expires_at,
        })
    }

    /// A grant on `id` for `purpose`, carrying the caller's station's rights and the caller,
    /// which every request under it checks again; and until when it plays.
    pub async fn grant<I: std::fmt::Display + std::str::FromStr>(
        &self,
        purpose: Purpose,
        id: I,
        actor: &Actor,
    ) -> Result<(String, OffsetDateTime)> {
        policy::read(actor)?;
        let expires_at = cityx_core::now() + LINK_TTL;
        let (part, mac) = grant_mac(
            self.link_key.get().await?,
            purpose,
            id,
            (Viewer::of(actor.tenant_scope()), Holder(actor.user_id)),
            expires_at.unix_timestamp(),
        )?;
        // Half the MAC (128 bits) keeps the address short.
        let sig = mac.finalize().into_bytes();
        Ok((format!("{part}.{}", secrets::hex(&sig[..16])), expires_at))
    }

    /// Opens a grant made for `purpose`: it must be intact and unexpired and its holder still
    /// enabled and of the grant's station. Its id, and whose rights it carries (the caller
    /// checks them on the thing itself).
    pub async fn open_grant<I>(&self, purpose: Purpose, grant: &str) -> Result<(I, TenantScope)>
    where
        I: std::fmt::Display + std::str::FromStr + Copy,
    {
        let grant = MediaGrant::<I>::parse(grant).ok_or(Error::BadMediaLink)?;
        let (id, exp) = (grant.asset, grant.expires);
        let (Some(viewer), Some(holder)) =
            (Viewer::parse(grant.viewer), Holder::parse(grant.holder))
        else {
            return Err(Error::BadMediaLink);
        };
        // The signature covers the grant's text before it, as it was written: a grant spelt
        // any other way than cityx writes it (upper-case ids, leading zeros) fails here.
        let signed = grant
            .text
            .rsplit_once('.')
            .map_or(grant.text, |(signed, _)| signed);
        let expected = signed_mac(self.link_key.get().await?, purpose, signed)?;
        let sig = &grant.signature;
        if sig.len() != 16 || expected.verify_truncated_left(sig).is_err() {
            return Err(Error::BadMediaLink);
        }
        if exp < cityx_core::now().unix_timestamp() {
            return Err(Error::BadMediaLink);
        }
        if !self.holder_may_watch(holder, viewer).await? {
            return Err(Error::BadMediaLink);
        }
        Ok((id, viewer.scope()))
    }

    /// A file under a media link: the link must be intact and unexpired, its holder still
    /// enabled and of the link's station, and that station still allowed to see the item.
    pub async fn media_file(&self, grant: &str, relative: &str) -> Result<AssetFile> {
        let (asset, scope): (AssetId, _) = self.open_grant(Purpose::Item, grant).await?;
        let viewer = Viewer::of(scope);
        let Some((settled, version)) = self.playable(asset, viewer).await? else {
            return Err(Error::NotFound("asset"));
        };
        load_file(
            self.storage,
            self.media,
            asset,
            settled.then_some(version),
            relative,
        )
        .await
    }

    /// Whether the person a link was made for is still enabled and still sees as the
    /// link's viewer does (the same station, or the hub).
    async fn holder_may_watch(&self, holder: Holder, viewer: Viewer) -> Result<bool> {
        let Holder(Some(user)) = holder else {
            return Ok(true);
        };
        if let Some(ok) = self.media.holders.get(&(user, viewer)) {
            return Ok(ok);
        }
        let ok = match self.users.get_user(TenantScope::All, user).await {
            Ok(u) => {
                !u.disabled
                    && Viewer::of(Actor::for_user(&u, None, ScopeSet::NONE).tenant_scope())
                        == viewer
            }
            Err(cityx_db::Error::NotFound { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        self.media.holders.put((user, viewer), ok);
        Ok(ok)
    }

    async fn playable(&self, asset: AssetId, viewer: Viewer) -> Result<Playable> {
        if let Some(p) = self.media.rights.get(&(asset, viewer)) {
            return Ok(p);
        }
        let playable = match self
            .exchange
            .get_visible_asset(viewer.scope(), asset, cityx_core::now())
            .await
        {
            Ok(a) if a.deleted_at.is_none() && a.status != AssetStatus::Withdrawn => Some((
                a.status == AssetStatus::Ready,
                cityx_core::epoch_ms(a.updated_at),
            )),
            Ok(_) | Err(cityx_db::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        self.media.rights.put((asset, viewer), playable);
        Ok(playable)
    }

    /// Bytes of media files held in memory, for the metrics.
    pub fn media_cache_bytes(&self) -> u64 {
        self.media.held()
    }
}

/// One of an item's derived files. `version` is the item's last change when its files
/// are final: then small files come from (and go into) the memory cache.
pub(crate) async fn load_file(
    storage: &cityx_storage::Storage,
    cache: &MediaCache,
    asset: AssetId,
    version: Option<i64>,
    relative: &str,
) -> Result<AssetFile> {
    if !servable(relative) {
        return Err(Error::NotFound("file"));
    }
    let key = StorageKey::derived(asset, relative).ok_or(Error::NotFound("file"))?;
    let cache_key = version.map(|version| FileKey {
        asset,
        version,
        path: relative.to_owned(),
    });
    if let Some(hit) = cache_key.as_ref().and_then(|k| cache.file(k)) {
        return Ok(hit);
    }
    let extension = extension_of(relative);
    let file = match storage
        .read_small(&key, SMALL_FILE)
        .await
        .map_err(storage_error)?
    {
        Some((info, bytes)) => AssetFile {
            key,
            info,
            extension,
            body: Some(bytes),
        },
        None => AssetFile {
            info: storage.head(&key).await.map_err(storage_error)?,
            key,
            extension,
            body: None,
        },
    };
    if let Some(k) = cache_key
        && file.body.is_some()
    {
        cache.keep(k, &file);
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use cityx_storage::ObjectInfo;

    fn file(size: u64) -> AssetFile {
        AssetFile {
            key: StorageKey::master(AssetId::new()),
            info: ObjectInfo { size, etag: None },
            extension: "ts".into(),
            body: Some(Bytes::from(vec![0; size as usize])),
        }
    }

    fn key(n: i64) -> FileKey {
        static ASSET: std::sync::OnceLock<AssetId> = std::sync::OnceLock::new();
        FileKey {
            asset: *ASSET.get_or_init(AssetId::new),
            version: n,
            path: "hls/x.ts".into(),
        }
    }

    #[test]
    fn the_cache_keeps_its_budget_and_the_recently_used() {
        let cache = MediaCache::new(1000);
        for n in 0..8 {
            cache.keep(key(n), &file(100));
        }
        assert_eq!(cache.held(), 800);
        // Using the oldest keeps it when the budget overflows.
        assert!(cache.file(&key(0)).is_some());
        for n in 8..12 {
            cache.keep(key(n), &file(100));
        }
        assert!(cache.held() <= 1000, "{}", cache.held());
        assert!(cache.file(&key(0)).is_some(), "recently used stays");
        assert!(cache.file(&key(1)).is_none(), "least recently used goes");
        assert!(cache.file(&key(11)).is_some());
        // Too big for the cache: not kept at all.
        cache.keep(key(99), &file(200));
        assert!(cache.file(&key(99)).is_none());
        // Replacing an entry does not count it twice.
        let before = cache.held();
        cache.keep(key(11), &file(100));
        assert_eq!(cache.held(), before);
    }

    #[test]
    fn viewers_round_trip_through_their_codes() {
        for v in [
            Viewer::All,
            Viewer::Nobody,
            Viewer::Station(StationId::new()),
        ] {
            assert_eq!(Viewer::parse(&v.code()), Some(v));
            assert_eq!(Viewer::of(v.scope()), v);
        }
        assert_eq!(Viewer::parse("hub"), None);
    }
}
