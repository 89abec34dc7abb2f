//! The visibility rule in SQL, part of the plumbing every context shares: the rule of
//! `cityx_core::exchange::can_see`, which is the reference (the property test in
//! `cityx-testkit` checks that this SQL and the search index agree with it).

/// The rule of `cityx_core::exchange::can_see` for the table alias `a`, with `$all` (bool),
/// `$own` (the caller's station id, or NULL) and `$now` (epoch ms) at the given positions.
pub(crate) fn visible_sql(all: u8, own: u8, now: u8) -> String {
    format!(
        "(${all} OR a.station_id = ${own} OR (a.status = 'ready' AND a.deleted_at IS NULL \
         AND {}))",
        rights_of(&format!("${own}"), &format!("${now}"))
    )
}

/// The rights part of that rule (visibility, shares, a hiding embargo), whatever the item's
/// state: whom the feed tells about an item's corrections and withdrawal. `own` and `now` are
/// SQL expressions (a parameter such as `$3`, or a column).
pub(crate) fn rights_of(own: &str, now: &str) -> String {
    format!(
        "(a.visibility IN ('exchange', 'public') OR (a.visibility = 'stations' AND EXISTS \
         (SELECT 1 FROM asset_shares s WHERE s.asset_id = a.id AND s.station_id = {own}))) \
         AND NOT (a.embargo_hides = 1 AND COALESCE(a.embargo_until, 0) > {now})"
    )
}
