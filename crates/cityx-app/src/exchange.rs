//! The exchange: searching the catalogue, an item's rights, adopting items (the ledger and
//! signed download links), and keeping the search index in step with the database.

use crate::{AssetFile, Error, Result, secrets};
use cityx_core::exchange::{self, AdoptRefusal};
use cityx_core::{
    Actor, Adoption, AdoptionId, Asset, AssetId, AssetStatus, AuditAction, FieldError, NewAudit,
    RightsInput, StationId, Take, TenantScope, policy,
};
use cityx_db::{AdoptionFilter, CatalogueRow, Page, PageRequest};
pub use cityx_search::question::{MAX_PER_PAGE, SearchInput};
use cityx_search::{Doc, Related, RelatedTo, Request, Results, SearchIndex, Viewer};
use cityx_storage::StorageKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// The exchange: search, rights, adoption and download links. See [`App::exchange`](crate::App::exchange).
#[derive(Clone, Copy)]
pub struct Exchange<'a> {
    pub(crate) exchange: &'a dyn cityx_db::ExchangeRepo,
    pub(crate) ingest: &'a dyn cityx_db::IngestRepo,
    pub(crate) stations: &'a dyn cityx_db::StationRepo,
    pub(crate) users: &'a dyn cityx_db::UserRepo,
    pub(crate) search: &'a std::sync::OnceLock<Arc<SearchIndex>>,
    pub(crate) link_key: &'a crate::secrets::LinkKey,
    pub(crate) storage: &'a cityx_storage::Storage,
}

/// How long a signed download link may be started. A download that stops can be resumed
/// with a new link from the adoption (the ledger keeps one entry).
const LINK_TTL: Duration = Duration::from_secs(6 * 3600);
/// How far back each round of the indexer looks again, for changes committed after later
/// ones (a transaction takes its time from before its commit).
const OVERLAP_MS: i64 = 10_000;
/// Rows read per round of the indexer.
const INDEX_BATCH: u32 = 500;
/// Items in each list beside an item ([`Exchange::related`]).
const RELATED_PER_LIST: usize = 6;

/// Keywords suggested from the title, summary and script when the contributor gave none.
const SUGGESTED_KEYWORDS: usize = 8;

/// The metadata with suggested keywords (jieba TF-IDF and TextRank) when it has none, so that
/// every item can be found by its subjects and followed by keyword.
pub async fn with_keywords(mut meta: cityx_core::AssetMeta) -> cityx_core::AssetMeta {
    if !meta.keywords.is_empty() || (meta.summary.is_empty() && meta.script.is_empty()) {
        return meta;
    }
    let (title, summary, script) = (
        meta.title.clone(),
        meta.summary.clone(),
        meta.script.clone(),
    );
    match tokio::task::spawn_blocking(move || {
        cityx_search::text::suggest_keywords(&title, &summary, &script, SUGGESTED_KEYWORDS)
    })
    .await
    {
        Ok(k) => meta.keywords = k,
        Err(e) => tracing::warn!(error = %e, "keyword suggestion failed"),
    }
    meta
}

/// What the search index sees of a caller, and the moment (epoch ms) its rights are read
/// at.
fn viewer_now(actor: &Actor) -> (Viewer, i64) {
    let viewer = match actor.tenant_scope() {
        TenantScope::All => Viewer::All,
        TenantScope::Station(s) => Viewer::Station(s),
        TenantScope::Nothing => Viewer::Nobody,
    };
    (viewer, cityx_core::epoch_ms(cityx_core::now()))
}

/// An item as the index takes it, or `None` when it must leave the index.
fn index_doc(row: &CatalogueRow) -> Option<Doc> {
    let a = &row.asset;
    if row.purged || a.deleted_at.is_some() || a.status == AssetStatus::Uploading {
        return None;
    }
    let technical = a.technical.as_ref();
    let duration_s = technical
        .and_then(|t| t["duration_s"].as_f64())
        .unwrap_or_default();
    let height = technical
        .and_then(|t| {
            let v = &t["video"];
            Some(
                v["display_width"]
                    .as_u64()?
                    .min(v["display_height"].as_u64()?),
            )
        })
        .unwrap_or_default();
    let embargo_until = a
        .meta
        .embargo_until
        .map(cityx_core::epoch_ms)
        .unwrap_or_default();
    Some(Doc {
        id: a.id,
        station_id: a.station_id,
        station_name: row.station_name.clone(),
        title: a.meta.title.clone(),
        summary: a.meta.summary.clone(),
        script: a.meta.script.clone(),
        keywords: a.meta.keywords.clone(),
        city: if a.meta.city.is_empty() {
            row.station_city.clone()
        } else {
            a.meta.city.clone()
        },
        province: row.province.clone(),
        category: a.meta.category.clone(),
        status: a.status.as_str().to_owned(),
        visibility: a.visibility,
        shared_with: a.shared_with.clone(),
        hidden_until: if a.embargo_hides { embargo_until } else { 0 },
        embargo_until,
        created: cityx_core::epoch_ms(a.created_at),
        duration_s,
        height,
        qc: a
            .qc
            .as_ref()
            .and_then(|q| q["verdict"].as_str())
            .unwrap_or_default()
            .to_owned(),
        adoptions: a.adoption_count,
        has_poster: a.derived.as_ref().is_some_and(|d| d["poster"].is_string()),
        corrected: a.corrected_at.is_some(),
        zones: row.zones.iter().map(|z| z.to_string()).collect(),
        sha256: a.sha256.clone().unwrap_or_default(),
    })
}

/// Where the indexer is: the last change it took, and what it took in the overlap window
/// (so that a change is indexed once, however often it is read again).
#[derive(Default)]
struct IndexFollower {
    mark: Option<(OffsetDateTime, Option<AssetId>)>,
    recent: HashMap<AssetId, OffsetDateTime>,
}

fn parse_mark(mark: &str) -> Option<(OffsetDateTime, Option<AssetId>)> {
    let (t, id) = mark.split_once(':')?;
    let t =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.parse::<i64>().ok()?) * 1_000_000)
            .ok()?;
    Some((t, id.parse().ok()))
}

/// A signed download link.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DownloadLink {
    /// Path and query, relative to the server: `/api/v1/downloads/{id}/{take}?exp=…&sig=…`.
    /// It needs no credentials, supports `Range`, and can be started until `expires_at`.
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// An adoption and, unless the item was only added to the library, where to download it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Adopted {
    pub adoption: Adoption,
    /// Absent for `library`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download: Option<DownloadLink>,
}

fn refusal(r: AdoptRefusal, asset: &Asset) -> Error {
    match r {
        AdoptRefusal::Embargoed => Error::Embargoed {
            until: asset.meta.embargo_until.unwrap_or_else(cityx_core::now),
        },
        AdoptRefusal::Withdrawn => Error::Withdrawn,
        AdoptRefusal::NotReady => Error::WrongState {
            entity: "asset",
            state: asset.status.as_str().to_owned(),
        },
        AdoptRefusal::OwnItem => Error::OwnItem,
    }
}

impl Exchange<'_> {
    /// Uses `index` for searches; [`Exchange::follow_index`] keeps it current. Once only.
    pub fn attach_search(&self, index: Arc<SearchIndex>) -> Result<()> {
        self.search
            .set(index)
            .map_err(|_| Error::Internal("a search index is already attached".into()))
    }

    fn index(&self) -> Result<&Arc<SearchIndex>> {
        self.search
            .get()
            .ok_or_else(|| Error::Internal("the search index is not open".into()))
    }

    /// Runs `f` on the index on a blocking thread: tantivy's calls block.
    async fn on_index<T: Send + 'static>(
        &self,
        f: impl FnOnce(&SearchIndex) -> cityx_search::Result<T> + Send + 'static,
    ) -> Result<T> {
        let index = self.index()?.clone();
        tokio::task::spawn_blocking(move || f(&index))
            .await
            .map_err(|e| Error::Internal(e.into()))?
            .map_err(|e| Error::Internal(e.into()))
    }

    /// Searches the catalogue as the caller: visibility and embargo apply.
    pub async fn search(&self, actor: &Actor, input: &SearchInput) -> Result<Results> {
        policy::read(actor)?;
        self.search_as(actor, input.validate().map_err(Error::Validation)?)
            .await
    }

    /// Runs a checked search request under the caller's visibility, now.
    pub(crate) async fn search_as(&self, actor: &Actor, req: Request) -> Result<Results> {
        let (viewer, now) = viewer_now(actor);
        self.on_index(move |index| index.search(&req, viewer, now))
            .await
    }

    /// What an item page lists beside an item the caller may see: other items of the same
    /// master file, and similar items, under the caller's rights.
    pub async fn related(&self, actor: &Actor, id: AssetId) -> Result<Related> {
        let asset = crate::assets::readable_asset(self.exchange, actor, id).await?;
        self.related_of(actor, &asset).await
    }

    /// [`Exchange::related`] of an item already read (the item page has it): what is listed is
    /// filtered by the caller's rights whatever the item.
    pub async fn related_of(&self, actor: &Actor, asset: &cityx_core::Asset) -> Result<Related> {
        policy::read(actor)?;
        let of = RelatedTo {
            id: asset.id,
            sha256: asset.sha256.clone().unwrap_or_default(),
            title: asset.meta.title.clone(),
            keywords: asset.meta.keywords.clone(),
        };
        let (viewer, now) = viewer_now(actor);
        self.on_index(move |index| index.related(&of, viewer, now, RELATED_PER_LIST))
            .await
    }

    /// Titles that complete what the caller is typing.
    pub async fn suggest(&self, actor: &Actor, q: &str) -> Result<Vec<String>> {
        policy::read(actor)?;
        if q.chars().count() > 100 {
            return Ok(Vec::new());
        }
        let ((viewer, now), q) = (viewer_now(actor), q.to_owned());
        self.on_index(move |index| index.suggest(&q, viewer, now, 8))
            .await
    }

    /// Sets an item's rights: its own station's editors and admins (and the hub admin).
    pub async fn set_rights(
        &self,
        actor: &Actor,
        id: AssetId,
        input: &RightsInput<'_>,
    ) -> Result<Asset> {
        policy::manage_items(actor)?;
        let rights = input.validate().map_err(Error::Validation)?;
        let asset = self.ingest.get_asset(actor.tenant_scope(), id).await?;
        let audit = NewAudit::by(
            actor,
            AuditAction::RightsChanged,
            "asset",
            id,
            Some(asset.station_id),
        )
        .detail("visibility", rights.visibility.as_str())
        .detail("embargo_hides", rights.embargo_hides.to_string());
        match self
            .exchange
            .set_rights(actor.tenant_scope(), id, &rights, &audit)
            .await
        {
            Err(cityx_db::Error::NotFound { entity: "station" }) => {
                return Err(Error::Validation(vec![FieldError::new(
                    "shared_with",
                    "unknown_station",
                    "shared_with names a station that does not exist",
                )]));
            }
            r => r?,
        }
        Ok(self
            .exchange
            .get_visible_asset(actor.tenant_scope(), id, cityx_core::now())
            .await?)
    }

    /// Adopts an item for the caller's station: records it (credited to the contributor)
    /// and, for the master or the proxy, returns a signed download link.
    pub async fn adopt(
        &self,
        actor: &Actor,
        id: AssetId,
        take: &str,
        purpose: &str,
    ) -> Result<Adopted> {
        policy::adopt(actor)?;
        let station = actor.station_id.ok_or(Error::Forbidden)?;
        let take = Take::parse(take).ok_or_else(|| {
            Error::Validation(vec![FieldError::new(
                "rendition",
                "bad_value",
                "rendition must be master, proxy or library",
            )])
        })?;
        let purpose =
            exchange::adoption_purpose(purpose).map_err(|e| Error::Validation(vec![e]))?;
        let now = cityx_core::now();
        let asset = self.adoptable(actor, station, id, now).await?;
        if take == Take::Proxy && proxy_of(&asset).is_none() {
            return Err(Error::NotFound("file"));
        }
        let name = |s| async move {
            Ok::<_, Error>(self.stations.get_station(TenantScope::All, s).await?.name)
        };
        let adoption = Adoption {
            id: AdoptionId::new(),
            asset_id: id,
            asset_title: asset.meta.title.clone(),
            contributor_id: asset.station_id,
            contributor_name: name(asset.station_id).await?,
            station_id: station,
            station_name: name(station).await?,
            user_id: actor.user_id.ok_or(Error::Forbidden)?,
            rendition: take.as_str().to_owned(),
            purpose,
            at: now,
            item_now: None,
        };
        let audit = NewAudit::by(actor, AuditAction::AssetAdopted, "asset", id, Some(station))
            .detail("rendition", take.as_str())
            .detail("contributor", asset.station_id.to_string());
        match self.exchange.insert_adoption(&adoption, &audit).await {
            // Withdrawn between the check and the record.
            Err(cityx_db::Error::WrongState { .. }) => return Err(Error::Withdrawn),
            r => r?,
        }
        let download = match take {
            Take::Library => None,
            t => Some(self.download_link(id, t, now, adoption.user_id).await?),
        };
        tracing::info!(asset = %id, station = %station, rendition = take.as_str(), "item adopted");
        Ok(Adopted { adoption, download })
    }

    /// An item the caller sees and `station` may adopt at `now`, or why not.
    async fn adoptable(
        &self,
        actor: &Actor,
        station: StationId,
        id: AssetId,
        now: OffsetDateTime,
    ) -> Result<Asset> {
        let asset = self
            .exchange
            .get_visible_asset(actor.tenant_scope(), id, now)
            .await?;
        exchange::may_adopt(&asset, station, now).map_err(|r| refusal(r, &asset))?;
        Ok(asset)
    }

    /// A new download link for an item the station adopted before (the first one expired or
    /// the download was interrupted). Not a new adoption.
    pub async fn renew_download(
        &self,
        actor: &Actor,
        id: AssetId,
        take: &str,
    ) -> Result<DownloadLink> {
        policy::adopt(actor)?;
        let station = actor.station_id.ok_or(Error::Forbidden)?;
        let take = Take::parse(take)
            .filter(|t| *t != Take::Library)
            .ok_or(Error::NotFound("adoption"))?;
        let now = cityx_core::now();
        self.adoptable(actor, station, id, now).await?;
        let filter = AdoptionFilter {
            station: Some(station),
            asset: Some(id),
            ..Default::default()
        };
        let page = self
            .exchange
            .list_adoptions(actor.tenant_scope(), &filter, &PageRequest::first(100))
            .await?;
        if !page.items.iter().any(|a| a.rendition == take.as_str()) {
            return Err(Error::NotFound("adoption"));
        }
        let holder = actor.user_id.ok_or(Error::Forbidden)?;
        self.download_link(id, take, now, holder).await
    }

    /// Adoptions by or of the caller's station (all for the hub), newest first.
    pub async fn list_adoptions(
        &self,
        actor: &Actor,
        filter: &AdoptionFilter,
        page: &PageRequest,
    ) -> Result<Page<Adoption>> {
        policy::read(actor)?;
        Ok(self
            .exchange
            .list_adoptions(actor.tenant_scope(), filter, page)
            .await?)
    }

    fn signature(
        key: &[u8],
        id: AssetId,
        take: &str,
        expires: i64,
        holder: cityx_core::UserId,
    ) -> Result<Hmac<Sha256>> {
        secrets::mac(key, &format!("{id}/{take}/{expires}/{holder}"))
    }

    /// A link for `holder` (the person who adopted): it downloads while that person is
    /// enabled and of the station, and the station may still see the item.
    async fn download_link(
        &self,
        id: AssetId,
        take: Take,
        now: OffsetDateTime,
        holder: cityx_core::UserId,
    ) -> Result<DownloadLink> {
        let expires_at = now + LINK_TTL;
        let exp = expires_at.unix_timestamp();
        let mac = Self::signature(self.link_key.get().await?, id, take.as_str(), exp, holder)?;
        let sig = secrets::hex(&mac.finalize().into_bytes());
        Ok(DownloadLink {
            url: format!(
                "/api/v1/downloads/{id}/{}?exp={exp}&by={holder}&sig={sig}",
                take.as_str()
            ),
            expires_at,
        })
    }

    /// Whether the link's holder may still download the item now: enabled, and of a station
    /// that may see it (or of the hub).
    async fn holder_may_download(&self, holder: cityx_core::UserId, id: AssetId) -> Result<()> {
        let user = match self.users.get_user(TenantScope::All, holder).await {
            Ok(u) if !u.disabled => u,
            Ok(_) => return Err(Error::BadLink),
            Err(e) if e.is_not_found() => return Err(Error::BadLink),
            Err(e) => return Err(e.into()),
        };
        let scope = Actor::for_user(&user, None, cityx_core::ScopeSet::NONE).tenant_scope();
        match self
            .exchange
            .get_visible_asset(scope, id, cityx_core::now())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Err(Error::NotFound("asset")),
            Err(e) => Err(e.into()),
        }
    }

    /// The file a signed link names, with the name to save it under. A link that was
    /// changed or has expired is refused; so is one for an item withdrawn or deleted since.
    pub async fn signed_download(
        &self,
        id: AssetId,
        take: &str,
        exp: i64,
        by: &str,
        sig: &str,
    ) -> Result<(AssetFile, String)> {
        let take = Take::parse(take)
            .filter(|t| *t != Take::Library)
            .ok_or(Error::BadLink)?;
        let holder: cityx_core::UserId = by.parse().map_err(|_| Error::BadLink)?;
        let mac = Self::signature(self.link_key.get().await?, id, take.as_str(), exp, holder)?;
        let sig = secrets::unhex(sig).ok_or(Error::BadLink)?;
        mac.verify_slice(&sig).map_err(|_| Error::BadLink)?;
        if exp < cityx_core::now().unix_timestamp() {
            return Err(Error::BadLink);
        }
        let asset = self.ingest.get_asset(TenantScope::All, id).await?;
        if asset.deleted_at.is_some() || asset.status == AssetStatus::Withdrawn {
            return Err(Error::Withdrawn);
        }
        self.holder_may_download(holder, id).await?;
        // Saved under the item's title (what editors search their disks for), with the
        // master's own extension.
        let stem = asset.meta.title.chars().take(80).collect::<String>();
        let (key, name, extension) = match take {
            Take::Master => {
                let extension = crate::pipeline::extension_of(&asset.meta.filename);
                let name = if extension.is_empty() {
                    stem
                } else {
                    format!("{stem}.{extension}")
                };
                (StorageKey::master(id), name, extension)
            }
            _ => {
                let proxy = proxy_of(&asset).ok_or(Error::NotFound("file"))?;
                (
                    StorageKey::derived(id, &proxy).ok_or(Error::NotFound("file"))?,
                    // Not the master's name: both may sit side by side on a disk.
                    format!("{stem}_browse.mp4"),
                    "mp4".to_owned(),
                )
            }
        };
        let info = self
            .storage
            .head(&key)
            .await
            .map_err(crate::pipeline::storage_error)?;
        Ok((
            AssetFile {
                key,
                info,
                extension,
                body: None,
            },
            name,
        ))
    }

    /// One round of following the database into the search index: takes the changes since
    /// the last round, and commits them with the new position. Returns how many items
    /// changed in the index.
    async fn index_round(&self, follower: &mut IndexFollower) -> Result<usize> {
        let mark = match follower.mark {
            Some(m) => m,
            None => self
                .index()?
                .mark()
                .as_deref()
                .and_then(parse_mark)
                .unwrap_or((OffsetDateTime::UNIX_EPOCH, None)),
        };
        let mut from = (mark.0 - time::Duration::milliseconds(OVERLAP_MS), None);
        let mut newest = mark;
        let mut changed = 0;
        loop {
            let rows = self.exchange.changed_assets(from, INDEX_BATCH).await?;
            let Some(last) = rows.last() else { break };
            from = (last.asset.updated_at, Some(last.asset.id));
            let full = rows.len() == INDEX_BATCH as usize;
            let fresh: Vec<&CatalogueRow> = rows
                .iter()
                .filter(|r| follower.recent.get(&r.asset.id) != Some(&r.asset.updated_at))
                .collect();
            if !fresh.is_empty() {
                let (mut docs, mut gone) = (Vec::new(), Vec::new());
                for r in &fresh {
                    match index_doc(r) {
                        Some(d) => docs.push(d),
                        None => gone.push(r.asset.id),
                    }
                }
                let position = format!("{}:{}", cityx_core::epoch_ms(from.0), last.asset.id);
                self.on_index(move |index| {
                    index.upsert(&docs)?;
                    index.remove(&gone);
                    index.commit(&position)
                })
                .await?;
                changed += fresh.len();
                // Taken only once committed: a failed round is read again.
                for r in fresh {
                    follower.recent.insert(r.asset.id, r.asset.updated_at);
                }
            }
            newest = newest.max(from);
            if !full {
                break;
            }
        }
        follower.mark = Some(newest);
        // Forget what fell out of the overlap window.
        let horizon = newest.0 - time::Duration::milliseconds(OVERLAP_MS * 2);
        follower.recent.retain(|_, at| *at >= horizon);
        Ok(changed)
    }

    /// Rebuilds the search index from the database (`cityx admin reindex`).
    pub async fn reindex(&self) -> Result<usize> {
        self.on_index(|index| {
            index.clear()?;
            index.commit("")
        })
        .await?;
        self.index_round(&mut IndexFollower::default()).await
    }

    /// Keeps the search index within about a second of the database, for ever (abort the
    /// task to stop it).
    pub async fn follow_index(self) {
        let mut follower = IndexFollower::default();
        loop {
            match self.index_round(&mut follower).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(items = n, "search index updated"),
                Err(e) => tracing::warn!(error = %e, "search index update failed; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// The proxy MP4's name among an item's derived files, once made.
fn proxy_of(asset: &Asset) -> Option<String> {
    asset.derived.as_ref()?["proxy"].as_str().map(str::to_owned)
}
