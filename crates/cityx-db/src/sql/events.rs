//! The event log, part of the plumbing every context shares: an event is written in the
//! transaction of the change it tells (the outbox), numbered in commit order, counted in the
//! daily statistics, and read back by the member feed, webhooks and every event subscriber
//! with the same audience rule.

use super::rows::{from_ms, get, ms, parse, parse_opt};
use super::visibility::rights_of;
use crate::{Error, Result};
use cityx_core::{Event, EventKind, NewEvent, StationId};
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// Records an event and counts it in the statistics, inside the transaction of the change it
/// tells. Call it last: the event number's row lock is held until the commit, which is what
/// keeps numbers in commit order.
///
/// What counts (docs/api.md, "Statistics"): a contribution is an item that became ready and
/// is not a copy of an earlier one (its event carries `copy_of`); an adoption is a station's
/// first take of an item (its event says `first_take`).
pub(crate) async fn record_event(tx: &mut Transaction<'static, Any>, e: &NewEvent) -> Result<i64> {
    let day = cityx_core::day::of(e.at);
    match e.kind {
        EventKind::ItemPublished if e.data.get("copy_of").is_none() => {
            bump(tx, day, e.station_id, "contributions").await?
        }
        EventKind::AdoptionCreated if e.data["first_take"] == true => {
            bump(tx, day, e.station_id, "adoptions_made").await?;
            if let Some(contributor) = e.audience {
                bump(tx, day, contributor, "adoptions_received").await?;
            }
        }
        _ => {}
    }
    let (seq,): (i64,) =
        sqlx::query_as("UPDATE event_head SET seq = seq + 1 WHERE id = 1 RETURNING seq")
            .fetch_one(&mut **tx)
            .await
            .map_err(|err| Error::from_sqlx("number an event", "event", err))?;
    sqlx::query(
        "INSERT INTO events (seq, kind, asset_id, station_id, audience, data, at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7)",
    )
    .bind(seq)
    .bind(e.kind.as_str())
    .bind(e.asset_id.map(|a| a.to_string()))
    .bind(e.station_id.to_string())
    .bind(e.audience.map(|s| s.to_string()))
    .bind(e.data.to_string())
    .bind(ms(e.at))
    .execute(&mut **tx)
    .await
    .map_err(|err| Error::from_sqlx("record an event", "event", err))?;
    Ok(seq)
}

pub(crate) const EVENT_COLS: &str = "e.seq, e.kind, e.asset_id, e.station_id, e.data, e.at";

/// Whether the station `own` (an SQL expression) is told of the event `e` at `now`: events
/// about it or addressed to it, and item events of items it may see (the item joined as
/// `a`). The feed and webhooks both use this rule.
pub(crate) fn audience_sql(own: &str, now: &str) -> String {
    format!(
        "(e.station_id = {own} OR e.audience = {own} \
         OR (e.audience IS NULL AND a.id IS NOT NULL AND {}))",
        rights_of(own, now)
    )
}

/// Adds one to a station's count of the day. `column` is one of the fixed names above.
async fn bump(
    tx: &mut Transaction<'static, Any>,
    day: i64,
    station: StationId,
    column: &'static str,
) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO stats_daily (day, station_id, {column}) VALUES ($1, $2, 1) \
         ON CONFLICT (day, station_id) DO UPDATE SET {column} = stats_daily.{column} + 1"
    ))
    .bind(day)
    .bind(station.to_string())
    .execute(&mut **tx)
    .await
    .map_err(|err| Error::from_sqlx("count an event", "statistics", err))?;
    Ok(())
}

pub(crate) fn event_from(r: &AnyRow) -> Result<Event> {
    let data: String = get(r, "data")?;
    Ok(Event {
        seq: get(r, "seq")?,
        kind: parse("event kind", get(r, "kind")?)?,
        asset_id: parse_opt("asset id", get(r, "asset_id")?)?,
        station_id: parse("station id", get(r, "station_id")?)?,
        data: serde_json::from_str(&data).map_err(|_| Error::Corrupt {
            what: "event data",
            value: data.clone(),
        })?,
        at: from_ms(get(r, "at")?),
    })
}
