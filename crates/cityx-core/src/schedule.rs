//! When periodic work falls due: a fixed interval (`every 60s`) or a cron expression read in
//! Beijing time (`cron 30 2 * * *`: 02:30 every day in China, which keeps no daylight saving,
//! so UTC+8 all year), and what happens to due times missed while no node ran (the misfire
//! policy). Pure: the scheduler in `cityx-queue` stores the next due time and asks here for
//! the one after.

use std::fmt;
use std::str::FromStr;
use time::{Duration, OffsetDateTime, UtcOffset};

/// Beijing time: UTC+8, all year.
pub const BEIJING: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// How often a task falls due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Every {
    /// A fixed period from the first due time on.
    Interval(Duration),
    /// The minutes a cron expression names, in Beijing time.
    Cron(Cron),
}

/// What to do with due times that passed while every node was down (or busy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misfire {
    /// Run once for all of them as soon as a node can, then go on from now.
    RunOnce,
    /// Run only when at most [`SKIP_GRACE`] late; otherwise wait for the next due time.
    Skip,
}

/// How late a `Skip` task may still run.
pub const SKIP_GRACE: Duration = Duration::minutes(1);

impl Misfire {
    pub const ALL: [Misfire; 2] = [Misfire::RunOnce, Misfire::Skip];
    pub fn as_str(self) -> &'static str {
        match self {
            Misfire::RunOnce => "run_once",
            Misfire::Skip => "skip",
        }
    }
}

from_name!(Misfire);

/// What the scheduler does with a due time: whether to run now, and when the task is next due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub run: bool,
    pub next: OffsetDateTime,
}

impl Every {
    /// The first due time strictly after `t`; `None` for a cron expression that never matches
    /// (such as `0 0 31 2 *`).
    pub fn next_after(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        match self {
            Every::Interval(d) => Some(t + *d),
            Every::Cron(c) => c.next_after(t),
        }
    }

    /// Decides about the due time `due` at `now` (`due <= now`): interval tasks keep their
    /// cadence (the next due time is `due` plus whole periods), cron tasks take the next
    /// matching minute after `now`.
    pub fn decide(&self, due: OffsetDateTime, now: OffsetDateTime, misfire: Misfire) -> Decision {
        let run = match misfire {
            Misfire::RunOnce => true,
            Misfire::Skip => now - due <= SKIP_GRACE,
        };
        let next = match self {
            Every::Interval(d) if d.is_positive() => {
                let periods = ((now - due).whole_milliseconds() / d.whole_milliseconds()) + 1;
                due + *d * i32::try_from(periods).unwrap_or(i32::MAX)
            }
            // A zero or negative interval (refused when parsed) would spin: once a minute.
            Every::Interval(_) => now + Duration::MINUTE,
            Every::Cron(c) => c.next_after(now).unwrap_or(now + Duration::days(366 * 100)),
        };
        Decision { run, next }
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Every::Interval(d) => write!(f, "every {}s", d.whole_seconds()),
            Every::Cron(c) => write!(f, "cron {}", c.text),
        }
    }
}

/// Why a schedule did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad schedule {text:?}: {reason}")]
pub struct BadSchedule {
    pub text: String,
    pub reason: &'static str,
}

impl FromStr for Every {
    type Err = BadSchedule;

    /// `every 90s`, `every 5m`, `every 2h`, `every 1d`, or `cron M H DOM MON DOW`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| BadSchedule {
            text: s.to_owned(),
            reason,
        };
        let s = s.trim();
        if let Some(rest) = s.strip_prefix("every ") {
            let rest = rest.trim();
            let split = rest
                .find(|c: char| !c.is_ascii_digit())
                .ok_or_else(|| bad("an interval needs a unit: s, m, h or d"))?;
            let n: i64 = rest[..split].parse().map_err(|_| bad("not a number"))?;
            let unit = match &rest[split..] {
                "s" => 1,
                "m" => 60,
                "h" => 3600,
                "d" => 86_400,
                _ => return Err(bad("an interval's unit is s, m, h or d")),
            };
            if n <= 0 || n > 366 * 86_400 / unit {
                return Err(bad("an interval is from 1 s to 366 days"));
            }
            return Ok(Every::Interval(Duration::seconds(n * unit)));
        }
        if let Some(rest) = s.strip_prefix("cron ") {
            return rest.parse().map(Every::Cron);
        }
        Err(bad("a schedule starts with \"every\" or \"cron\""))
    }
}

/// A five-field cron expression (minute, hour, day of month, month, day of week with 0 or 7
/// for Sunday), each field `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a list of
/// these separated by commas. As in Vixie cron, when both day fields are restricted a day
/// matches either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    any_day: bool,
    any_weekday: bool,
}

impl FromStr for Cron {
    type Err = BadSchedule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason| BadSchedule {
            text: s.to_owned(),
            reason,
        };
        let fields: Vec<&str> = s.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields[..] else {
            return Err(bad("a cron expression has five fields"));
        };
        let field = |text: &str, lo: u32, hi: u32| {
            bits(text, lo, hi).ok_or_else(|| bad("a field is out of range or malformed"))
        };
        let mut weekdays = field(dow, 0, 7)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            text: fields.join(" "),
            minutes: field(m, 0, 59)?,
            hours: u32::try_from(field(h, 0, 23)?).unwrap_or_default(),
            days: u32::try_from(field(dom, 1, 31)?).unwrap_or_default(),
            months: u16::try_from(field(mon, 1, 12)?).unwrap_or_default(),
            weekdays: u8::try_from(weekdays & 0x7f).unwrap_or_default(),
            // As in Vixie cron, a field starting with `*` (`*/2` too) counts as unrestricted.
            any_day: dom.starts_with('*'),
            any_weekday: dow.starts_with('*'),
        })
    }
}

/// The values a field names, as bits.
fn bits(text: &str, lo: u32, hi: u32) -> Option<u64> {
    let mut out = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => {
                    let v = r.parse().ok()?;
                    // `5/15` means from 5 to the end, by 15.
                    (v, if part.contains('/') { hi } else { v })
                }
            },
        };
        if from < lo || to > hi || from > to {
            return None;
        }
        let mut v = from;
        while v <= to {
            out |= 1 << v;
            match v.checked_add(step) {
                Some(next) => v = next,
                None => break,
            }
        }
    }
    Some(out)
}

impl Cron {
    fn day_matches(&self, t: OffsetDateTime) -> bool {
        let dom = self.days & (1 << t.day()) != 0;
        let dow = self.weekdays & (1 << t.weekday().number_days_from_sunday()) != 0;
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// The first matching minute strictly after `t`, in UTC; `None` if none comes within
    /// five years.
    pub fn next_after(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let local = t.to_offset(BEIJING);
        let mut c = local.replace_second(0).ok()?.replace_nanosecond(0).ok()? + Duration::MINUTE;
        let limit = local + Duration::days(5 * 366);
        while c <= limit {
            if self.months & (1 << u8::from(c.month())) == 0 {
                // The first minute of the next month.
                let (y, m) = match c.month() {
                    time::Month::December => (c.year() + 1, time::Month::January),
                    m => (c.year(), m.next()),
                };
                c = c
                    .replace_day(1)
                    .ok()?
                    .replace_month(m)
                    .ok()?
                    .replace_year(y)
                    .ok()?;
                c = c.replace_hour(0).ok()?.replace_minute(0).ok()?;
            } else if !self.day_matches(c) {
                c = (c + Duration::DAY)
                    .replace_hour(0)
                    .ok()?
                    .replace_minute(0)
                    .ok()?;
            } else if self.hours & (1 << c.hour()) == 0 {
                c = (c + Duration::HOUR).replace_minute(0).ok()?;
            } else if self.minutes & (1 << c.minute()) == 0 {
                c += Duration::MINUTE;
            } else {
                return Some(c.to_offset(UtcOffset::UTC));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn every(s: &str) -> Every {
        s.parse().expect(s)
    }

    #[test]
    fn intervals_parse_and_refuse() {
        assert_eq!(every("every 90s"), Every::Interval(Duration::seconds(90)));
        assert_eq!(every("every 5m"), Every::Interval(Duration::minutes(5)));
        assert_eq!(every(" every 2h "), Every::Interval(Duration::hours(2)));
        for bad in [
            "every 0s",
            "every 5",
            "every 5w",
            "every -1m",
            "hourly",
            "every m",
        ] {
            assert!(bad.parse::<Every>().is_err(), "{bad}");
        }
        assert_eq!(every("every 5m").to_string(), "every 300s");
    }

    #[test]
    fn cron_fields_parse_and_refuse() {
        for good in [
            "* * * * *",
            "*/5 * * * *",
            "0 3 * * 1-5",
            "5,35 8-18/2 1 1,7 0",
            "0 0 * * 7",
        ] {
            assert!(good.parse::<Cron>().is_ok(), "{good}");
        }
        assert!(
            "*/4294967295 * * * *".parse::<Cron>().is_ok(),
            "a huge step names the first value"
        );
        for bad in [
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "a * * * *",
        ] {
            assert!(bad.parse::<Cron>().is_err(), "{bad}");
        }
        assert_eq!(every("cron 0  3 * * *").to_string(), "cron 0 3 * * *");
    }

    #[test]
    fn cron_is_read_in_beijing_time() {
        // 02:30 in Beijing is 18:30 UTC the day before.
        let c = every("cron 30 2 * * *");
        assert_eq!(
            c.next_after(datetime!(2026-12-03 12:00 UTC)),
            Some(datetime!(2026-12-03 18:30 UTC))
        );
        // Strictly after: a due time does not repeat itself.
        assert_eq!(
            c.next_after(datetime!(2026-12-03 18:30 UTC)),
            Some(datetime!(2026-12-04 18:30 UTC))
        );
    }

    #[test]
    fn cron_steps_months_weekdays_and_impossible_dates() {
        let five = every("cron */5 * * * *");
        assert_eq!(
            five.next_after(datetime!(2026-12-03 12:07:30 UTC)),
            Some(datetime!(2026-12-03 12:10 UTC))
        );
        // Mondays at 09:00 Beijing; 2026-12-07 is a Monday.
        let monday = every("cron 0 9 * * 1");
        assert_eq!(
            monday.next_after(datetime!(2026-12-03 00:00 UTC)),
            Some(datetime!(2026-12-07 01:00 UTC))
        );
        // Sunday as 7 and as 0; 2026-12-06 is a Sunday.
        for sunday in ["cron 0 0 * * 7", "cron 0 0 * * 0"] {
            assert_eq!(
                every(sunday).next_after(datetime!(2026-12-03 00:00 UTC)),
                Some(datetime!(2026-12-05 16:00 UTC)),
                "{sunday}"
            );
        }
        // New year in Beijing, across the year's end.
        assert_eq!(
            every("cron 0 0 1 1 *").next_after(datetime!(2026-12-03 00:00 UTC)),
            Some(datetime!(2026-12-31 16:00 UTC))
        );
        // Both day fields restricted: either matches (the 15th, or a Monday).
        assert_eq!(
            every("cron 0 12 15 * 1").next_after(datetime!(2026-12-08 00:00 UTC)),
            Some(datetime!(2026-12-14 04:00 UTC))
        );
        assert_eq!(
            every("cron 0 0 31 2 *").next_after(datetime!(2026-12-03 00:00 UTC)),
            None
        );
    }

    #[test]
    fn misfires_run_once_or_skip() {
        let due = datetime!(2026-12-03 12:00 UTC);
        let minute = every("every 60s");
        // On time, with either policy: run, and the next is one period on.
        for p in Misfire::ALL {
            let d = minute.decide(due, due + Duration::milliseconds(300), p);
            assert_eq!(
                d,
                Decision {
                    run: true,
                    next: due + Duration::MINUTE
                },
                "{p:?}"
            );
        }
        // Down for an hour and a half: one run (or none), and the cadence kept.
        let late = due + Duration::minutes(90) + Duration::seconds(20);
        let d = minute.decide(due, late, Misfire::RunOnce);
        assert_eq!(
            d,
            Decision {
                run: true,
                next: due + Duration::minutes(91)
            }
        );
        let d = minute.decide(due, late, Misfire::Skip);
        assert_eq!(
            d,
            Decision {
                run: false,
                next: due + Duration::minutes(91)
            }
        );
        // Cron tasks go on from now.
        let daily = every("cron 0 3 * * *");
        let d = daily.decide(due, due + Duration::days(2), Misfire::RunOnce);
        assert!(d.run);
        assert_eq!(d.next, datetime!(2026-12-05 19:00 UTC));
        assert!("run_once".parse::<Misfire>().is_ok() && "later".parse::<Misfire>().is_err());
    }
}
