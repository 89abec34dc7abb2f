//! After an item is out: corrections and withdrawals with notices that every adopting station
//! must acknowledge, the member feed (a signed cursor over the event log, with long polling),
//! and the network's statistics.

use crate::{Error, Result, secrets};
use cityx_core::day;
use cityx_core::notice::{CorrectionInput, withdrawal_reason};
use cityx_core::{
    Actor, Asset, AssetId, AuditAction, Correction, CorrectionId, Event, NewAudit, Notice,
    NoticeId, TenantScope, policy,
};
use cityx_db::{NoticeFilter, Page, PageRequest, StationStats, TopItem, ZoneStats};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::time::Duration;
use utoipa::ToSchema;

/// After an item is out: corrections, withdrawals, notices, the member feed and the
/// network's statistics. See [`App::notices`](crate::App::notices).
#[derive(Clone, Copy)]
pub struct Notices<'a> {
    pub(crate) notices: &'a dyn cityx_db::NoticeRepo,
    pub(crate) ingest: &'a dyn cityx_db::IngestRepo,
    pub(crate) link_key: &'a crate::secrets::LinkKey,
}

/// The longest a feed request waits for news.
pub const MAX_FEED_WAIT: Duration = Duration::from_secs(30);
/// Events per feed answer at most.
pub const MAX_FEED_LIMIT: u32 = 500;
/// How often a waiting feed request looks for news.
const FEED_POLL: Duration = Duration::from_millis(250);
/// The longest period statistics cover, in days.
const MAX_STATS_DAYS: i64 = 366;

/// Which notices a station lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeDirection {
    /// Sent to the caller's station, which adopted the item (the hub: every notice).
    Received,
    /// About the caller's station's items.
    Issued,
}

/// A correction or withdrawal: the item after it, and the notices sent to the stations that
/// adopted it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Told {
    pub asset: cityx_core::Asset,
    pub notices: Vec<Notice>,
}

/// One answer of the member feed.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FeedPage {
    /// Oldest first. Kinds: `item.published`, `item.corrected`, `item.withdrawn`,
    /// `adoption.created`, `notice.created`, `zone.invited`, `channel.alarm`.
    pub events: Vec<Event>,
    /// Pass as `cursor` next time, also after an empty answer. Opaque and signed.
    pub cursor: String,
}

/// One day of the network's figures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct DayPoint {
    /// `YYYY-MM-DD`, Beijing time.
    pub date: String,
    pub contributions: i64,
    pub adoptions: i64,
}

/// Figures of a province or city.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AreaStats {
    pub name: String,
    pub stations: i64,
    pub contributions: i64,
    pub adoptions_made: i64,
    pub adoptions_received: i64,
}

/// The network's statistics over a period.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Statistics {
    /// `YYYY-MM-DD`, inclusive, Beijing time.
    pub from: String,
    pub to: String,
    /// The league table: every station, most credited first.
    pub stations: Vec<StationStats>,
    /// Every day of the period, days without events as zeros.
    pub days: Vec<DayPoint>,
    pub top_items: Vec<TopItem>,
    /// Zones running in the period, most adopted first.
    pub zones: Vec<ZoneStats>,
    pub provinces: Vec<AreaStats>,
    pub cities: Vec<AreaStats>,
}

/// An optional `YYYY-MM-DD` field as a Beijing day.
fn parse_day(field: &'static str, s: &str) -> std::result::Result<Option<i64>, Error> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    day::parse(s)
        .map(Some)
        .ok_or_else(|| Error::field(field, "bad_format", format!("{field} must be YYYY-MM-DD")))
}

/// Sums station figures by province or city.
fn by_area(stations: &[StationStats], key: fn(&StationStats) -> &str) -> Vec<AreaStats> {
    let mut areas: Vec<AreaStats> = Vec::new();
    for s in stations {
        let name = key(s);
        let i = match areas.iter().position(|a| a.name == name) {
            Some(i) => i,
            None => {
                areas.push(AreaStats {
                    name: name.to_owned(),
                    stations: 0,
                    contributions: 0,
                    adoptions_made: 0,
                    adoptions_received: 0,
                });
                areas.len() - 1
            }
        };
        let a = &mut areas[i];
        a.stations += 1;
        a.contributions += s.contributions;
        a.adoptions_made += s.adoptions_made;
        a.adoptions_received += s.adoptions_received;
    }
    areas.sort_by(|a, b| {
        (b.contributions + b.adoptions_received)
            .cmp(&(a.contributions + a.adoptions_received))
            .then_with(|| a.name.cmp(&b.name))
    });
    areas
}

impl Notices<'_> {
    /// Corrects an item's metadata: its own station's editors and admins (and the hub
    /// admin). Every station that adopted it is told, with the note.
    pub async fn correct_asset(
        &self,
        actor: &Actor,
        id: AssetId,
        input: &CorrectionInput<'_>,
    ) -> Result<Told> {
        policy::manage_items(actor)?;
        let asset = self.ingest.get_asset(actor.tenant_scope(), id).await?;
        let (meta, note) = input.apply(&asset.meta)?;
        let audit = NewAudit::by(
            actor,
            AuditAction::AssetCorrected,
            "asset",
            id,
            Some(asset.station_id),
        )
        .detail("note", note.clone());
        let correction = Correction {
            id: CorrectionId::new(),
            asset_id: id,
            user_id: actor.user_id,
            changes: cityx_core::notice::changes(&asset.meta, &meta),
            note,
            at: cityx_core::now(),
        };
        let notices = self
            .notices
            .correct_asset(actor.tenant_scope(), &meta, &correction, &audit)
            .await?;
        tracing::info!(asset = %id, told = notices.len(), "item corrected");
        let asset = self.ingest.get_asset(actor.tenant_scope(), id).await?;
        Ok(Told { asset, notices })
    }

    /// The corrections of an item the caller has read (through a use case that checked they
    /// may see it), newest first.
    pub async fn corrections_of(&self, asset: &Asset) -> Result<Vec<Correction>> {
        Ok(self.notices.list_corrections(asset.id).await?)
    }

    /// Withdraws an item from the exchange for good: it can no longer be found or adopted,
    /// its download links stop working, and every station that adopted it is told.
    pub async fn withdraw_asset(&self, actor: &Actor, id: AssetId, reason: &str) -> Result<Told> {
        policy::manage_items(actor)?;
        let asset = self.ingest.get_asset(actor.tenant_scope(), id).await?;
        let reason = withdrawal_reason(reason)?;
        let audit = NewAudit::by(
            actor,
            AuditAction::AssetWithdrawn,
            "asset",
            id,
            Some(asset.station_id),
        )
        .detail("reason", reason.clone());
        let notices = self
            .notices
            .withdraw_asset(actor.tenant_scope(), id, &reason, &audit)
            .await?;
        tracing::info!(asset = %id, told = notices.len(), "item withdrawn");
        let asset = self.ingest.get_asset(actor.tenant_scope(), id).await?;
        Ok(Told { asset, notices })
    }

    /// Notices to the caller's station or about its items, newest first; the hub reads all.
    pub async fn list_notices(
        &self,
        actor: &Actor,
        direction: NoticeDirection,
        asset: Option<AssetId>,
        open_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Notice>> {
        policy::read(actor)?;
        let own = actor.station_id;
        let filter = NoticeFilter {
            station: own.filter(|_| direction == NoticeDirection::Received),
            contributor: own.filter(|_| direction == NoticeDirection::Issued),
            asset,
            open_only,
        };
        Ok(self
            .notices
            .list_notices(actor.tenant_scope(), &filter, page)
            .await?)
    }

    /// Acknowledges a notice sent to the caller's station. Acknowledging again is harmless.
    pub async fn acknowledge_notice(&self, actor: &Actor, id: NoticeId) -> Result<Notice> {
        policy::acknowledge(actor)?;
        let station = actor.station_id.ok_or(Error::Forbidden)?;
        let user = actor.user_id.ok_or(Error::Forbidden)?;
        let audit = NewAudit::by(
            actor,
            AuditAction::NoticeAcknowledged,
            "notice",
            id,
            Some(station),
        );
        Ok(self
            .notices
            .acknowledge_notice(station, id, user, &audit)
            .await?)
    }

    /// Open notices of the caller's station: what the navigation shows as a count.
    pub async fn open_notice_count(&self, actor: &Actor) -> Result<usize> {
        let Some(station) = actor.station_id else {
            return Ok(0);
        };
        Ok(self.notices.count_open_notices(station).await?)
    }

    fn cursor_mac(key: &[u8], scope: TenantScope, seq: i64) -> Result<Hmac<Sha256>> {
        let who = match scope {
            TenantScope::All => "hub".to_owned(),
            TenantScope::Station(s) => s.to_string(),
            TenantScope::Nothing => "none".to_owned(),
        };
        secrets::mac(key, &format!("feed/{who}/{seq}"))
    }

    async fn encode_cursor(&self, scope: TenantScope, seq: i64) -> Result<String> {
        let mac = Self::cursor_mac(self.link_key.get().await?, scope, seq)?;
        let sig = mac.finalize().into_bytes();
        Ok(format!("{seq}.{}", secrets::hex(&sig[..16])))
    }

    /// The position a cursor names; a cursor changed or issued to another caller is refused.
    async fn decode_cursor(&self, scope: TenantScope, cursor: &str) -> Result<i64> {
        let (seq, sig) = cursor.split_once('.').ok_or(Error::InvalidCursor)?;
        let seq: i64 = seq.parse().map_err(|_| Error::InvalidCursor)?;
        let sig = secrets::unhex(sig)
            .filter(|s| s.len() == 16)
            .ok_or(Error::InvalidCursor)?;
        Self::cursor_mac(self.link_key.get().await?, scope, seq)?
            .verify_truncated_left(&sig)
            .map_err(|_| Error::InvalidCursor)?;
        Ok(seq)
    }

    /// The member feed: events the caller may see after `cursor` (from the beginning
    /// without one), oldest first. With nothing new it waits up to `wait` for news. Events
    /// are numbered in commit order, so following the returned cursors never skips or
    /// repeats one.
    pub async fn feed(
        &self,
        actor: &Actor,
        cursor: Option<&str>,
        wait: Duration,
        limit: u32,
    ) -> Result<FeedPage> {
        policy::read(actor)?;
        let scope = actor.tenant_scope();
        let mut after = match cursor.map(str::trim).filter(|c| !c.is_empty()) {
            Some(c) => self.decode_cursor(scope, c).await?,
            None => 0,
        };
        let limit = limit.clamp(1, MAX_FEED_LIMIT);
        let deadline = tokio::time::Instant::now() + wait.min(MAX_FEED_WAIT);
        loop {
            // Every event up to the head had committed when the head was read, so what the
            // caller may not see up to there can be passed over for good.
            let head = self.notices.event_head().await?;
            let events = self
                .notices
                .feed(scope, after, limit, cityx_core::now())
                .await?;
            if let Some(last) = events.last() {
                let next = if events.len() < limit as usize {
                    last.seq.max(head)
                } else {
                    last.seq
                };
                let cursor = self.encode_cursor(scope, next).await?;
                return Ok(FeedPage { events, cursor });
            }
            after = after.max(head);
            loop {
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    let cursor = self.encode_cursor(scope, after).await?;
                    return Ok(FeedPage {
                        events: Vec::new(),
                        cursor,
                    });
                }
                tokio::time::sleep(FEED_POLL.min(deadline - now)).await;
                if self.notices.event_head().await? > after {
                    break;
                }
            }
        }
    }

    /// The network's figures over `[from, to]` (`YYYY-MM-DD`, Beijing days; default: the
    /// last 30 days): the hub's league tables and charts.
    pub async fn statistics(&self, actor: &Actor, from: &str, to: &str) -> Result<Statistics> {
        policy::read_statistics(actor)?;
        let today = day::of(cityx_core::now());
        let to = parse_day("to", to)?.unwrap_or(today);
        let from = parse_day("from", from)?.unwrap_or(to - 29);
        if from > to {
            return Err(Error::field(
                "from",
                "after_to",
                "from must not be after to",
            ));
        }
        if to - from >= MAX_STATS_DAYS {
            return Err(Error::field(
                "from",
                "too_long",
                format!("a period is at most {MAX_STATS_DAYS} days"),
            ));
        }
        let stations = self.notices.station_stats((from, to)).await?;
        let counted = self.notices.daily_stats((from, to)).await?;
        let days = (from..=to)
            .map(|d| {
                let hit = counted.iter().find(|c| c.day == d);
                DayPoint {
                    date: day::format(d),
                    contributions: hit.map_or(0, |c| c.contributions),
                    adoptions: hit.map_or(0, |c| c.adoptions),
                }
            })
            .collect();
        let (start, end) = (day::start(from), day::start(to + 1));
        let top_items = self.notices.top_items(start, end, 10).await?;
        let zones = self.notices.zone_stats(start, end).await?;
        Ok(Statistics {
            from: day::format(from),
            to: day::format(to),
            provinces: by_area(&stations, |s| &s.province),
            cities: by_area(&stations, |s| &s.city),
            stations,
            days,
            top_items,
            zones,
        })
    }
}

/// A header and one row per record.
fn table<T>(header: &[&str], records: &[T], row: impl Fn(&T) -> Vec<String>) -> Vec<Vec<String>> {
    let mut rows = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    rows.extend(records.iter().map(row));
    rows
}

impl Statistics {
    /// One table of the statistics as rows of text (header first), as a CSV export writes
    /// them: `stations`, `days`, `items`, `zones`, `provinces` or `cities`; `None` for
    /// another name.
    pub fn table(&self, table_name: &str) -> Option<Vec<Vec<String>>> {
        let s = self;
        let n = |v: i64| v.to_string();
        let areas = |list: &[AreaStats]| {
            table(
                &[
                    "name",
                    "stations",
                    "contributions",
                    "adoptions_made",
                    "adoptions_received",
                ],
                list,
                |a| {
                    vec![
                        a.name.clone(),
                        n(a.stations),
                        n(a.contributions),
                        n(a.adoptions_made),
                        n(a.adoptions_received),
                    ]
                },
            )
        };
        Some(match table_name {
            "stations" => table(
                &[
                    "code",
                    "name",
                    "city",
                    "province",
                    "contributions",
                    "adoptions_made",
                    "adoptions_received",
                ],
                &s.stations,
                |x| {
                    vec![
                        x.code.clone(),
                        x.name.clone(),
                        x.city.clone(),
                        x.province.clone(),
                        n(x.contributions),
                        n(x.adoptions_made),
                        n(x.adoptions_received),
                    ]
                },
            ),
            "days" => table(&["date", "contributions", "adoptions"], &s.days, |d| {
                vec![d.date.clone(), n(d.contributions), n(d.adoptions)]
            }),
            "items" => table(
                &["asset_id", "title", "station", "adoptions"],
                &s.top_items,
                |t| {
                    vec![
                        t.asset_id.to_string(),
                        t.title.clone(),
                        t.station_name.clone(),
                        n(t.adoptions),
                    ]
                },
            ),
            "zones" => table(&["zone_id", "title", "items", "adoptions"], &s.zones, |z| {
                vec![
                    z.zone_id.to_string(),
                    z.title.clone(),
                    n(z.items),
                    n(z.adoptions),
                ]
            }),
            "provinces" => areas(&s.provinces),
            "cities" => areas(&s.cities),
            _ => return None,
        })
    }
}
