//! `loadtest compare`'s table, as terminal text or as Markdown (a CI job
//! summary): each figure of BASE and NEW with its change, the shape
//! warnings first, the regressions and the outcome last.

use std::fmt::{self, Write};

use crate::analysis::compare::{Comparison, Row, Unit};

/// A value as the table shows it.
fn value(unit: Unit, v: f64) -> String {
    match unit {
        Unit::RequestsPerSecond => format!("{v:.1}/s"),
        Unit::Milliseconds => format!("{v:.3} ms"),
        Unit::Fraction => format!("{:.2}%", 100.0 * v),
        Unit::VisitsPerSecond => format!("{v:.1} visits/s"),
    }
}

fn with_note(unit: Unit, v: f64, note: Option<&String>) -> String {
    match note {
        Some(n) => format!("{} ({n})", value(unit, v)),
        None => value(unit, v),
    }
}

fn change(r: &Row) -> String {
    match (r.unit, r.change) {
        (Unit::Fraction, Some(d)) => format!("{:+.2} pts", 100.0 * d),
        (_, Some(pct)) => format!("{pct:+.1}%"),
        (_, None) => "–".to_owned(),
    }
}

/// The cells of each row: figure, base, new, change.
fn cells(c: &Comparison) -> Vec<[String; 4]> {
    c.rows
        .iter()
        .map(|r| {
            [
                r.figure.clone(),
                with_note(r.unit, r.base, r.base_note.as_ref()),
                with_note(r.unit, r.new, r.new_note.as_ref()),
                change(r),
            ]
        })
        .collect()
}

fn outcome(c: &Comparison) -> String {
    match c.regressions.len() {
        0 => "COMPARE: PASS (no regression past the limits given)".to_owned(),
        n => format!(
            "COMPARE: FAIL ({n} regression{})",
            if n == 1 { "" } else { "s" }
        ),
    }
}

fn shape_warning(c: &Comparison) -> Option<String> {
    if c.shape.is_empty() {
        return None;
    }
    let what: Vec<String> = c
        .shape
        .iter()
        .map(|d| format!("{} {} → {}", d.what, d.base, d.new))
        .collect();
    Some(format!(
        "WARNING: the runs differ in shape ({}): the comparison may mislead",
        what.join("; ")
    ))
}

/// The comparison as terminal text.
pub fn text(c: &Comparison) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = write_text(&mut o, c);
    o
}

fn write_text(o: &mut impl Write, c: &Comparison) -> fmt::Result {
    writeln!(o, "Comparing NEW {} with BASE {}", c.new_run, c.base_run)?;
    for line in shape_warning(c).into_iter().chain(c.notes.clone()) {
        writeln!(o, "{line}")?;
    }
    let rows = cells(c);
    let width = |i: usize, title: &str| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([title.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let w = [
        width(0, "figure"),
        width(1, "base"),
        width(2, "new"),
        width(3, "change"),
    ];
    let header = ["figure", "base", "new", "change"].map(str::to_owned);
    for r in std::iter::once(&header).chain(&rows) {
        writeln!(
            o,
            "  {:<a$}  {:>b$}  {:>c$}  {:>d$}",
            r[0],
            r[1],
            r[2],
            r[3],
            a = w[0],
            b = w[1],
            c = w[2],
            d = w[3]
        )?;
    }
    for r in &c.regressions {
        writeln!(o, "REGRESSION: {}", r.message)?;
    }
    writeln!(o, "{}", outcome(c))
}

/// The comparison as Markdown (for `$GITHUB_STEP_SUMMARY`).
pub fn markdown(c: &Comparison) -> String {
    let mut o = format!(
        "### Load test: `{}` against baseline `{}`\n\n",
        c.new_run, c.base_run
    );
    for line in shape_warning(c).into_iter().chain(c.notes.clone()) {
        let _ = writeln!(o, "> {line}\n");
    }
    o.push_str("| figure | base | new | change |\n| --- | ---: | ---: | ---: |\n");
    for r in cells(c) {
        let _ = writeln!(o, "| {} | {} | {} | {} |", r[0], r[1], r[2], r[3]);
    }
    o.push('\n');
    for r in &c.regressions {
        let _ = writeln!(o, "- **REGRESSION**: {}", r.message);
    }
    let _ = writeln!(o, "\n**{}**", outcome(c));
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::compare::{Regression, ShapeDifference};

    fn comparison() -> Comparison {
        Comparison {
            base_run: "base".into(),
            new_run: "new".into(),
            rows: vec![
                Row {
                    figure: "p99".into(),
                    unit: Unit::Milliseconds,
                    base: 2.0,
                    new: 4.0,
                    base_note: None,
                    new_note: None,
                    change: Some(100.0),
                },
                Row {
                    figure: "error rate".into(),
                    unit: Unit::Fraction,
                    base: 0.0,
                    new: 0.015,
                    base_note: None,
                    new_note: None,
                    change: Some(0.015),
                },
            ],
            shape: vec![ShapeDifference {
                what: "users".into(),
                base: "8".into(),
                new: "16".into(),
            }],
            notes: vec![],
            regressions: vec![Regression {
                figure: "p99".into(),
                change: 100.0,
                limit: 50.0,
                message: "p99 rose 100.0%".into(),
            }],
        }
    }

    #[test]
    fn the_table_names_each_change_the_shape_and_the_regression() {
        let t = text(&comparison());
        assert!(
            t.contains("WARNING: the runs differ in shape (users 8 → 16)"),
            "{t}"
        );
        assert!(t.contains("+100.0%") && t.contains("+1.50 pts"), "{t}");
        assert!(t.contains("REGRESSION: p99 rose 100.0%"), "{t}");
        assert!(t.ends_with("COMPARE: FAIL (1 regression)\n"), "{t}");
        let md = markdown(&comparison());
        assert!(
            md.contains("| p99 | 2.000 ms | 4.000 ms | +100.0% |"),
            "{md}"
        );
        assert!(md.contains("**COMPARE: FAIL (1 regression)**"), "{md}");
    }
}
