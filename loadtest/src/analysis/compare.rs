//! Two runs side by side (`loadtest compare BASE NEW`): the figures a
//! release changes (throughput, latency percentiles, error and throttle
//! rates, the knee, the first limit the plan reaches), each with its
//! change, the limits that turn a change into a regression, and what
//! makes the two runs different shapes (then the comparison may mislead:
//! a warning, not a refusal). Pure: summaries in, a [`Comparison`] out.

use serde::Serialize;

use super::run_start::Model;
use super::summary::Summary;

/// A measured duration this much longer or shorter than the other is a
/// different shape (runs meant to last as long differ by a second or so).
const DURATION_TOLERANCE: f64 = 0.10;

/// One run, as compared.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub summary: &'a Summary,
    /// From its run.json, where it has one.
    pub model: Option<Model>,
    pub planned_duration_s: Option<f64>,
    /// The limit its plan (plan.json beside it) reaches first.
    pub first_limit: Option<&'a FirstLimit>,
}

/// The limit a plan reaches at the lowest visit rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstLimit {
    pub limit: String,
    pub visits_per_second: f64,
}

/// The changes that make a regression (`None`: not judged).
#[derive(Debug, Clone, Copy, Default)]
pub struct RegressionLimits {
    /// p99 may rise by at most this many percent.
    pub max_p99_increase_pct: Option<f64>,
    /// Throughput may fall by at most this many percent.
    pub max_throughput_drop_pct: Option<f64>,
    /// The error rate may rise by at most this much (a fraction: 0.01 is
    /// one percentage point).
    pub max_error_rate_increase: Option<f64>,
}

/// What a row's numbers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    RequestsPerSecond,
    Milliseconds,
    /// A fraction of requests: its change is the difference.
    Fraction,
    VisitsPerSecond,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub figure: String,
    pub unit: Unit,
    pub base: f64,
    pub new: f64,
    /// What the figure is of, where it says more than its number (the
    /// knee's step, the limit's name), base and new.
    pub base_note: Option<String>,
    pub new_note: Option<String>,
    /// New against base: percent for rates and times, the difference for
    /// fractions; `None` when base is 0.
    pub change: Option<f64>,
}

/// A change past its limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    pub figure: String,
    /// The change (as the row's) and the limit it passed.
    pub change: f64,
    pub limit: f64,
    pub message: String,
}

/// Something that makes the runs different shapes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShapeDifference {
    pub what: String,
    pub base: String,
    pub new: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub base_run: String,
    pub new_run: String,
    pub rows: Vec<Row>,
    pub shape: Vec<ShapeDifference>,
    /// Runs that were killed or did not pass: their figures are partial
    /// or odd, worth a word.
    pub notes: Vec<String>,
    pub regressions: Vec<Regression>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.regressions.is_empty()
    }
}

/// Compares NEW with BASE.
pub fn compare(base: Side<'_>, new: Side<'_>, limits: &RegressionLimits) -> Comparison {
    let rows = rows(base, new);
    let regressions = regressions(&rows, limits);
    Comparison {
        base_run: base.summary.run.run_id.clone(),
        new_run: new.summary.run.run_id.clone(),
        shape: shape(base, new),
        notes: notes(base.summary, "BASE")
            .into_iter()
            .chain(notes(new.summary, "NEW"))
            .collect(),
        rows,
        regressions,
    }
}

fn change(unit: Unit, base: f64, new: f64) -> Option<f64> {
    match unit {
        Unit::Fraction => Some(new - base),
        _ if base == 0.0 => None,
        _ => Some(100.0 * (new - base) / base),
    }
}

fn row(figure: &str, unit: Unit, base: f64, new: f64) -> Row {
    Row {
        figure: figure.to_owned(),
        unit,
        base,
        new,
        base_note: None,
        new_note: None,
        change: change(unit, base, new),
    }
}

fn rows(b: Side<'_>, n: Side<'_>) -> Vec<Row> {
    let (bs, ns) = (b.summary, n.summary);
    let (bl, nl) = (&bs.latency.all, &ns.latency.all);
    let mut rows = vec![
        row(
            "throughput",
            Unit::RequestsPerSecond,
            bs.throughput_rps,
            ns.throughput_rps,
        ),
        row("p50", Unit::Milliseconds, bl.p50_ms, nl.p50_ms),
        row("p90", Unit::Milliseconds, bl.p90_ms, nl.p90_ms),
        row("p99", Unit::Milliseconds, bl.p99_ms, nl.p99_ms),
        row("p99.9", Unit::Milliseconds, bl.p999_ms, nl.p999_ms),
        row("error rate", Unit::Fraction, bs.error_rate, ns.error_rate),
        row(
            "throttle rate",
            Unit::Fraction,
            bs.throttle_rate,
            ns.throttle_rate,
        ),
    ];
    rows.extend(knee_row(bs, ns));
    if let (Some(bf), Some(nf)) = (b.first_limit, n.first_limit) {
        rows.push(Row {
            base_note: Some(bf.limit.clone()),
            new_note: Some(nf.limit.clone()),
            ..row(
                "first limit",
                Unit::VisitsPerSecond,
                bf.visits_per_second,
                nf.visits_per_second,
            )
        });
    }
    rows
}

/// The knee's throughput, where both runs found one.
fn knee_row(b: &Summary, n: &Summary) -> Option<Row> {
    let at = |s: &Summary| {
        let k = s.steps.get(s.knee?)?;
        let what = match k.offered_rps.filter(|_| s.open_model.is_some()) {
            Some(rate) => format!("{rate:.0}/s offered"),
            None => format!("{} users", k.users),
        };
        Some((k.achieved_rps, what))
    };
    let ((bx, bw), (nx, nw)) = (at(b)?, at(n)?);
    Some(Row {
        base_note: Some(bw),
        new_note: Some(nw),
        ..row("knee", Unit::RequestsPerSecond, bx, nx)
    })
}

fn regressions(rows: &[Row], limits: &RegressionLimits) -> Vec<Regression> {
    let find = |figure: &str| rows.iter().find(|r| r.figure == figure);
    let mut out = Vec::new();
    let mut judge = |figure: &str, limit: Option<f64>, sign: f64, what: &str| {
        let (Some(limit), Some(r)) = (limit, find(figure)) else {
            return;
        };
        let Some(change) = r.change else { return };
        if sign * change > limit {
            out.push(Regression {
                figure: figure.to_owned(),
                change,
                limit,
                message: match r.unit {
                    Unit::Fraction => format!(
                        "{figure} rose from {:.2}% to {:.2}% (+{:.2} points; {what} {:.2} points)",
                        100.0 * r.base,
                        100.0 * r.new,
                        100.0 * change,
                        100.0 * limit
                    ),
                    _ => format!(
                        "{figure} {} {:.1}%, from {:.3} to {:.3} ({what} {limit}%)",
                        if change < 0.0 { "fell" } else { "rose" },
                        change.abs(),
                        r.base,
                        r.new
                    ),
                },
            });
        }
    };
    judge(
        "p99",
        limits.max_p99_increase_pct,
        1.0,
        "--max-p99-increase",
    );
    judge(
        "throughput",
        limits.max_throughput_drop_pct,
        -1.0,
        "--max-throughput-drop",
    );
    judge(
        "error rate",
        limits.max_error_rate_increase,
        1.0,
        "--max-error-rate-increase",
    );
    out
}

/// What differs between the runs' shapes: users, model, duration, host.
fn shape(b: Side<'_>, n: Side<'_>) -> Vec<ShapeDifference> {
    let mut out = Vec::new();
    let mut differ = |what: &str, base: String, new: String| {
        if base != new {
            out.push(ShapeDifference {
                what: what.to_owned(),
                base,
                new,
            });
        }
    };
    let (bs, ns) = (b.summary, n.summary);
    differ("users", bs.run.users.to_string(), ns.run.users.to_string());
    differ("model", model_of(b), model_of(n));
    differ("host", bs.run.host.clone(), ns.run.host.clone());
    differ(
        "nodes",
        bs.run.nodes.len().to_string(),
        ns.run.nodes.len().to_string(),
    );
    let planned = b.planned_duration_s.zip(n.planned_duration_s);
    let (bd, nd) = planned.unwrap_or((bs.duration_s, ns.duration_s));
    let apart = (bd - nd).abs() > DURATION_TOLERANCE * bd.max(nd);
    let kind = if planned.is_some() {
        "planned duration"
    } else {
        "duration"
    };
    if (planned.is_some() && bd != nd) || apart {
        out.push(ShapeDifference {
            what: kind.to_owned(),
            base: format!("{bd:.1} s"),
            new: format!("{nd:.1} s"),
        });
    }
    out
}

/// The workload model: run.json's, else what the summary shows.
fn model_of(side: Side<'_>) -> String {
    if let Some(m) = side.model {
        return m.name().to_owned();
    }
    let s = side.summary;
    match (s.open_model.is_some(), s.steps.is_empty()) {
        (true, true) => Model::Open,
        (true, false) => Model::OpenStepped,
        (false, false) => Model::Stepped,
        (false, true) => Model::Closed,
    }
    .name()
    .to_owned()
}

/// A run that was killed, or whose verdict was not a pass, said plainly.
fn notes(s: &Summary, which: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(k) = &s.killed {
        out.push(format!(
            "{which} was killed: its figures cover {} recorded requests, up to the kill",
            k.records_on_disk
        ));
    }
    if !s.verdict.passed() {
        out.push(format!("{which}'s verdict was {}", s.verdict.status.word()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyse::{RunEvidence, Thresholds, analyse};
    use crate::analysis::observation::Observation;
    use crate::analysis::run_start::tests::start;

    const MS: u64 = 1_000_000;

    /// 2000 requests over 10 s, one user, each taking `ms`.
    fn run(ms: u64, users: usize) -> Summary {
        let ops: Vec<Observation> = (0..2000u64)
            .map(|i| Observation::ok(i * 5 * MS, i * 5 * MS + ms * MS, i + 1))
            .collect();
        let evidence = RunEvidence {
            final_count: 2000,
            ..RunEvidence::of(crate::analysis::summary::RunFacts {
                users,
                ..start().facts()
            })
        };
        let limits = Thresholds {
            max_p99_ms: None,
            max_error_rate: 0.01,
        };
        analyse(evidence, &ops, &limits)
    }

    fn side(s: &Summary) -> Side<'_> {
        Side {
            summary: s,
            model: None,
            planned_duration_s: None,
            first_limit: None,
        }
    }

    const P99_50: RegressionLimits = RegressionLimits {
        max_p99_increase_pct: Some(50.0),
        max_throughput_drop_pct: Some(10.0),
        max_error_rate_increase: Some(0.01),
    };

    #[test]
    fn equal_runs_compare_without_regression_or_warning() {
        let (a, b) = (run(2, 1), run(2, 1));
        let c = compare(side(&a), side(&b), &P99_50);
        assert!(c.passed(), "{c:#?}");
        assert!(c.shape.is_empty() && c.notes.is_empty());
        let p99 = c.rows.iter().find(|r| r.figure == "p99").expect("row");
        assert_eq!(p99.change, Some(0.0));
    }

    #[test]
    fn a_slower_new_run_is_a_p99_regression_named_with_its_limit() {
        let (fast, slow) = (run(2, 1), run(4, 1));
        let c = compare(side(&fast), side(&slow), &P99_50);
        assert_eq!(c.regressions.len(), 1, "{:#?}", c.regressions);
        let r = &c.regressions[0];
        assert_eq!(r.figure, "p99");
        assert!((r.change - 100.0).abs() < 5.0, "{}", r.change);
        assert!(
            r.message.contains("--max-p99-increase 50%"),
            "{}",
            r.message
        );
        let lenient = RegressionLimits {
            max_p99_increase_pct: Some(150.0),
            ..P99_50
        };
        assert!(compare(side(&fast), side(&slow), &lenient).passed());
        assert!(
            compare(side(&slow), side(&fast), &P99_50).passed(),
            "faster is no regression"
        );
        assert!(
            compare(side(&fast), side(&slow), &RegressionLimits::default()).passed(),
            "no limit, no regression"
        );
    }

    #[test]
    fn throughput_drops_and_error_rates_are_judged_by_their_own_limits() {
        let rows = vec![
            row("throughput", Unit::RequestsPerSecond, 1000.0, 850.0),
            row("error rate", Unit::Fraction, 0.001, 0.02),
        ];
        let r = regressions(&rows, &P99_50);
        let names: Vec<&str> = r.iter().map(|r| r.figure.as_str()).collect();
        assert_eq!(names, ["throughput", "error rate"]);
        assert!(r[0].message.contains("fell 15.0%"), "{}", r[0].message);
        assert!(r[1].message.contains("+1.90 points"), "{}", r[1].message);
        let within = vec![
            row("throughput", Unit::RequestsPerSecond, 1000.0, 950.0),
            row("error rate", Unit::Fraction, 0.001, 0.005),
        ];
        assert!(regressions(&within, &P99_50).is_empty());
    }

    fn planned(s: &Summary, d: f64) -> Side<'_> {
        Side {
            planned_duration_s: Some(d),
            model: Some(Model::Paced),
            ..side(s)
        }
    }

    #[test]
    fn runs_of_different_shapes_are_compared_with_a_warning_naming_what_differs() {
        let (a, mut b) = (run(2, 1), run(2, 16));
        b.run.host = "https://example.com".into();
        let c = compare(planned(&a, 10.0), planned(&b, 60.0), &P99_50);
        let what: Vec<&str> = c.shape.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(what, ["users", "host", "planned duration"]);
        assert_eq!(
            (c.shape[0].base.as_str(), c.shape[0].new.as_str()),
            ("1", "16")
        );
        let c = compare(side(&a), planned(&a, 10.0), &P99_50);
        assert_eq!(
            c.shape[0].what, "model",
            "closed (from the summary) against paced"
        );
    }

    #[test]
    fn the_knee_and_the_first_limit_are_compared_where_both_have_them() {
        let a = run(2, 1);
        let limit = |v| FirstLimit {
            limit: "DynamoDB one item".into(),
            visits_per_second: v,
        };
        let (la, lb) = (limit(1000.0), limit(800.0));
        let with = |s, l| Side {
            first_limit: Some(l),
            ..side(s)
        };
        let c = compare(with(&a, &la), with(&a, &lb), &P99_50);
        let row = c
            .rows
            .iter()
            .find(|r| r.figure == "first limit")
            .expect("row");
        assert_eq!(row.change, Some(-20.0));
        assert_eq!(row.new_note.as_deref(), Some("DynamoDB one item"));
        let c = compare(with(&a, &la), side(&a), &P99_50);
        assert!(
            c.rows
                .iter()
                .all(|r| r.figure != "first limit" && r.figure != "knee")
        );
    }
}
