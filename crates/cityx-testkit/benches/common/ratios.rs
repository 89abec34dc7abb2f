//! The table every bench ends with: each figure beside its reference from the same run, their
//! ratio, and the goal when there is one. Printed as Markdown, so that a run can be pasted
//! into docs/benchmarks.md as it is. Shared by the benches of `cityx-testkit` and of
//! `cityx-search` (included by path).
//!
//! Bench targets have no test harness, so the tests below run with rustc alone (the file
//! uses only std):
//!
//!     rustc --edition 2024 --test crates/cityx-testkit/benches/common/ratios.rs -o /tmp/ratios && /tmp/ratios

// Each bench uses part of it.
#![allow(dead_code)]

/// What the ratio (measured / reference) should be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Goal {
    None,
    /// At least this ratio (more is better: rates).
    AtLeast(f64),
    /// At most this ratio (less is better: times, memory).
    AtMost(f64),
}

struct Row {
    measure: String,
    measured: f64,
    reference: f64,
    unit: String,
    goal: Goal,
}

/// A titled table of ratios.
pub struct Ratios {
    title: String,
    rows: Vec<Row>,
}

impl Ratios {
    pub fn new(title: impl Into<String>) -> Ratios {
        Ratios {
            title: title.into(),
            rows: Vec::new(),
        }
    }

    /// A row: `measure` says what was measured against what; `measured` and `reference`
    /// are in `unit`.
    pub fn add(
        &mut self,
        measure: impl Into<String>,
        (measured, reference): (f64, f64),
        unit: &str,
        goal: Goal,
    ) -> &mut Ratios {
        self.rows.push(Row {
            measure: measure.into(),
            measured,
            reference,
            unit: unit.to_owned(),
            goal,
        });
        self
    }

    /// The title, then a Markdown table with aligned columns.
    pub fn render(&self) -> String {
        let mut lines: Vec<[String; 5]> = vec![[
            "measure".into(),
            "measured".into(),
            "reference".into(),
            "ratio".into(),
            "goal".into(),
        ]];
        for r in &self.rows {
            let ratio = ratio(r.measured, r.reference);
            lines.push([
                r.measure.clone(),
                with_unit(r.measured, &r.unit),
                with_unit(r.reference, &r.unit),
                ratio.map_or("—".into(), |x| format!("{x:.2}x")),
                judge(ratio, r.goal),
            ]);
        }
        let widths: Vec<usize> = (0..5)
            .map(|c| {
                lines
                    .iter()
                    .map(|l| l[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let row = |cells: &[String; 5]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, &w))| {
                    let pad = " ".repeat(w - cell.chars().count());
                    // Text to the left, figures to the right.
                    if c == 0 || c == 4 {
                        format!("{cell}{pad}")
                    } else {
                        format!("{pad}{cell}")
                    }
                })
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let mut out = format!("\n{}\n\n", self.title);
        out.push_str(&row(&lines[0]));
        let rule: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(c, &w)| {
                let dashes = "-".repeat(w.max(3));
                if c == 0 || c == 4 {
                    dashes
                } else {
                    // Right-aligned in Markdown too.
                    format!("{}:", &dashes[1..])
                }
            })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for l in &lines[1..] {
            out.push_str(&row(l));
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// measured / reference, or nothing when the reference is not a positive figure.
fn ratio(measured: f64, reference: f64) -> Option<f64> {
    (reference > 0.0 && reference.is_finite() && measured.is_finite()).then(|| measured / reference)
}

/// The goal and whether the ratio, as printed (two decimals), meets it.
fn judge(ratio: Option<f64>, goal: Goal) -> String {
    let (sign, bound, meets): (&str, f64, fn(f64, f64) -> bool) = match goal {
        Goal::None => return String::new(),
        Goal::AtLeast(g) => ("≥", g, |r, g| r >= g),
        Goal::AtMost(g) => ("≤", g, |r, g| r <= g),
    };
    let Some(ratio) = ratio else {
        return format!("{sign} {bound}x");
    };
    let shown = (ratio * 100.0).round() / 100.0;
    let mark = if meets(shown, bound) { "✔" } else { "✘" };
    format!("{sign} {bound}x {mark}")
}

/// A figure with its unit: thousands separated, fewer decimals as it grows.
fn with_unit(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let figure = if v.abs() >= 1000.0 {
        let digits = format!("{:.0}", v.abs());
        let mut grouped = String::new();
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(d);
        }
        if v < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if unit.is_empty() {
        figure
    } else {
        format!("{figure} {unit}")
    }
}

#[cfg(test)]
mod tests {
    // No `use *`: bench builds set `cfg(test)` but leave the tests out, which would
    // leave the import unused.

    #[test]
    fn figures_keep_their_size_readable() {
        use super::*;
        assert_eq!(with_unit(1_234_567.4, "/s"), "1,234,567 /s");
        assert_eq!(with_unit(1000.0, ""), "1,000");
        assert_eq!(with_unit(999.6, "ms"), "1000 ms");
        assert_eq!(with_unit(123.4, "ms"), "123 ms");
        assert_eq!(with_unit(12.34, "ms"), "12.3 ms");
        assert_eq!(with_unit(1.234, "ms"), "1.23 ms");
        assert_eq!(with_unit(-2500.0, ""), "-2,500");
        assert_eq!(with_unit(f64::NAN, "ms"), "—");
    }

    #[test]
    fn goals_are_judged_on_the_ratio_as_printed() {
        use super::*;
        assert_eq!(judge(Some(0.85), Goal::AtLeast(0.8)), "≥ 0.8x ✔");
        assert_eq!(judge(Some(0.7951), Goal::AtLeast(0.8)), "≥ 0.8x ✔");
        assert_eq!(judge(Some(0.79), Goal::AtLeast(0.8)), "≥ 0.8x ✘");
        assert_eq!(judge(Some(1.3), Goal::AtMost(1.2)), "≤ 1.2x ✘");
        assert_eq!(judge(Some(0.5), Goal::AtMost(1.0)), "≤ 1x ✔");
        assert_eq!(judge(Some(0.5), Goal::None), "");
        assert_eq!(judge(None, Goal::AtLeast(0.8)), "≥ 0.8x");
    }

    #[test]
    fn no_ratio_without_a_reference() {
        use super::*;
        assert_eq!(ratio(5.0, 0.0), None);
        assert_eq!(ratio(5.0, f64::NAN), None);
        assert_eq!(ratio(f64::INFINITY, 1.0), None);
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
    }

    #[test]
    fn the_table_is_aligned_markdown() {
        use super::*;
        let mut t = Ratios::new("ratios");
        t.add("uploads / dd", (400.0, 500.0), "MB/s", Goal::AtLeast(0.8))
            .add("搜索 p99", (12.0, 0.0), "ms", Goal::None);
        let text = t.render();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(lines.len(), 4, "{text}");
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{text}");
        assert!(lines[1].contains("---:"), "figures right-aligned: {text}");
        assert!(
            lines[2].contains("0.80x") && lines[2].contains("≥ 0.8x ✔"),
            "{text}"
        );
        let cells: Vec<&str> = lines[3].split('|').map(str::trim).collect();
        assert_eq!(cells[4], "—", "no ratio without a reference: {text}");
        assert!(text.starts_with("\nratios\n\n"), "{text}");
    }
}
