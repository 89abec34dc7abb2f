//! Beijing days: how editors name dates (`YYYY-MM-DD` in China Standard Time, UTC+8), how
//! statistics are bucketed, and how zone windows and search date ranges are cut. A day is
//! counted from 1970-01-01.

use time::OffsetDateTime;

const DAY_MS: i64 = 86_400_000;
const OFFSET_MS: i64 = 8 * 3_600_000;

/// The Beijing day of `t`.
pub fn of(t: OffsetDateTime) -> i64 {
    (crate::epoch_ms(t) + OFFSET_MS).div_euclid(DAY_MS)
}

/// The first instant of Beijing day `day`.
pub fn start(day: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(day * DAY_MS - OFFSET_MS)
}

/// The day a `YYYY-MM-DD` names, or `None` when it names none.
pub fn parse(s: &str) -> Option<i64> {
    let d = time::Date::parse(
        s.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(of(d.midnight().assume_offset(time::macros::offset!(+8))))
}

/// `YYYY-MM-DD` of a day.
pub fn format(day: i64) -> String {
    let d = (start(day) + time::Duration::milliseconds(OFFSET_MS)).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_turn_at_16_utc() {
        let t = time::macros::datetime!(2026-11-20 15:59:59 UTC);
        let u = time::macros::datetime!(2026-11-20 16:00:00 UTC);
        assert_eq!(of(u), of(t) + 1);
        assert_eq!(start(of(u)), u);
        assert_eq!(format(of(u)), "2026-11-21");
    }

    #[test]
    fn dates_read_and_print_in_beijing_time() {
        let day = parse("2026-11-21").expect("a day");
        assert_eq!(format(day), "2026-11-21");
        assert_eq!(format(day + 10), "2026-12-01");
        assert_eq!(parse("2026-11-31"), None);
        assert_eq!(parse(" "), None);
        assert_eq!(start(day), time::macros::datetime!(2026-11-20 16:00 UTC));
    }
}
