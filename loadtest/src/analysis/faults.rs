//! Fault windows (a fault injector's, `--faults`) and what each cost: requests in
//! flight during it, their outcomes and p99, and how long the stage took
//! to recover. Faults are meant to cost availability, never correctness:
//! the verdict is judged as always, and the error-rate threshold judges
//! the requests outside the windows and their recovery.

use serde::{Deserialize, Serialize};

use super::observation::{Observation, Outcome};
use super::stats::{Latency, histogram};
use super::summary::Summary;

/// The kinds a fault injector knows (the local stage's `FaultKind` names).
pub const KINDS: [&str; 5] = ["latency", "throttle", "errors", "pause", "restart"];

/// A fault as the stage applied it, in seconds of the run's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultWindow {
    pub kind: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// One window and what it cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultReport {
    pub kind: String,
    pub start_s: f64,
    pub end_s: f64,
    /// Requests in flight at some time during the window...
    pub requests: u64,
    /// ...and their outcomes.
    pub ok: u64,
    pub unknown: u64,
    pub failed: u64,
    /// Their p99 latency.
    pub p99_ms: f64,
    /// The start of the first whole second after the window (counted from
    /// its end) whose error rate is within the threshold; `None`: not
    /// within the run.
    pub recovered_at_s: Option<f64>,
    /// `recovered_at_s - end_s`.
    pub time_to_recover_s: Option<f64>,
}

const NS: f64 = 1e9;

fn in_flight(o: &Observation, from_s: f64, to_s: f64) -> bool {
    (o.start_ns as f64) < to_s * NS && (o.end_ns as f64) >= from_s * NS
}

fn is_error(o: &Observation) -> bool {
    o.outcome != Outcome::Ok
}

/// Each window's figures, from the run's observations. Recovery is judged
/// on the requests that start in each second after the window's end: the
/// first second with requests and an error rate at most `max_error_rate`.
pub fn fault_reports(
    ops: &[Observation],
    windows: &[FaultWindow],
    max_error_rate: f64,
) -> Vec<FaultReport> {
    let last_start_s = ops.iter().map(|o| o.start_ns).max().unwrap_or(0) as f64 / NS;
    windows
        .iter()
        .map(|w| {
            let during: Vec<&Observation> = ops
                .iter()
                .filter(|o| in_flight(o, w.start_s, w.end_s))
                .collect();
            let count = |outcome| during.iter().filter(|o| o.outcome == outcome).count() as u64;
            let recovered_at_s = (0..)
                .map(|j| w.end_s + f64::from(j))
                .take_while(|from| *from <= last_start_s)
                .find(|from| {
                    let second = ops.iter().filter(|o| {
                        let s = o.start_ns as f64 / NS;
                        s >= *from && s < from + 1.0
                    });
                    let (n, errors) = second.fold((0u64, 0u64), |(n, e), o| {
                        (n + 1, e + u64::from(is_error(o)))
                    });
                    n > 0 && errors as f64 / n as f64 <= max_error_rate
                });
            FaultReport {
                kind: w.kind.clone(),
                start_s: w.start_s,
                end_s: w.end_s,
                requests: during.len() as u64,
                ok: count(Outcome::Ok),
                unknown: count(Outcome::Unknown),
                failed: count(Outcome::Failed),
                p99_ms: Latency::of(&histogram(during.iter().copied())).p99_ms,
                recovered_at_s,
                time_to_recover_s: recovered_at_s.map(|r| r - w.end_s),
            }
        })
        .collect()
}

/// The error rate of the requests outside every window and its recovery
/// (from the window's start to its recovery, or to the end of the run):
/// what the stage does when nothing is broken. `None` with no such request.
pub fn error_rate_outside(ops: &[Observation], reports: &[FaultReport]) -> Option<f64> {
    let (n, errors) = ops
        .iter()
        .filter(|o| {
            !reports
                .iter()
                .any(|r| in_flight(o, r.start_s, r.recovered_at_s.unwrap_or(f64::INFINITY)))
        })
        .fold((0u64, 0u64), |(n, e), o| {
            (n + 1, e + u64::from(is_error(o)))
        });
    (n > 0).then(|| errors as f64 / n as f64)
}

/// Adds the windows' reports to a run's summary and judges its error-rate
/// threshold outside them (a run with faults is expected to fail requests
/// in them), then sets `passed` again by the rule `analyse` uses for a run
/// without steps (a fault injector is refused with `--steps`).
pub fn judge_faults(
    summary: &mut Summary,
    ops: &[Observation],
    windows: &[FaultWindow],
    max_error_rate: f64,
) {
    if windows.is_empty() {
        return;
    }
    let reports = fault_reports(ops, windows, max_error_rate);
    let outside = error_rate_outside(ops, &reports).unwrap_or(0.0);
    for t in summary
        .thresholds
        .iter_mut()
        .filter(|t| t.name == "error_rate")
    {
        t.name = "error_rate_outside_faults".into();
        t.actual = outside;
        t.passed = outside <= t.limit;
    }
    summary.faults = reports;
    summary.passed = summary.verdict.passed()
        && summary.aborted.is_none()
        && !summary.interrupted
        && summary.requests.total > 0
        && summary.steps.is_empty()
        && summary.thresholds.iter().all(|t| t.passed);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(start_ms: u64, latency_ms: u64, outcome: Outcome) -> Observation {
        Observation {
            start_ns: start_ms * 1_000_000,
            end_ns: (start_ms + latency_ms) * 1_000_000,
            count: 0,
            status: if outcome == Outcome::Ok { 200 } else { 503 },
            node: 0,
            outcome,
            late: crate::analysis::observation::Lateness::ZERO,
        }
    }

    fn window(kind: &str, start_s: f64, end_s: f64) -> FaultWindow {
        FaultWindow {
            kind: kind.into(),
            start_s,
            end_s,
        }
    }

    /// 10 requests a second for 10 s; errors from 3.0 s to 5.5 s (the
    /// window is 3..5, the stage takes half a second more to recover).
    fn history() -> Vec<Observation> {
        (0..100)
            .map(|i| {
                let start = i * 100;
                let bad = (3000..5500).contains(&start);
                op(start, 10, if bad { Outcome::Unknown } else { Outcome::Ok })
            })
            .collect()
    }

    #[test]
    fn a_window_counts_the_requests_in_flight_and_when_the_stage_recovered() {
        let mut ops = history();
        // One long request that began before the window and ended in it.
        ops.push(op(2500, 1000, Outcome::Unknown));
        let r = fault_reports(&ops, &[window("pause", 3.0, 5.0)], 0.01);
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!((r.requests, r.ok, r.unknown, r.failed), (21, 0, 21, 0));
        assert!(
            r.p99_ms >= 999.0,
            "the long request is the p99: {}",
            r.p99_ms
        );
        // 5..6 has 5 errors in 10, 6..7 none.
        assert_eq!(r.recovered_at_s, Some(6.0));
        assert_eq!(r.time_to_recover_s, Some(1.0));
    }

    #[test]
    fn a_stage_that_never_recovers_has_no_recovery_time() {
        let ops: Vec<Observation> = (0..50)
            .map(|i| {
                op(
                    i * 100,
                    5,
                    if i < 20 {
                        Outcome::Ok
                    } else {
                        Outcome::Unknown
                    },
                )
            })
            .collect();
        let r = fault_reports(&ops, &[window("restart", 2.0, 3.0)], 0.01);
        assert_eq!(r[0].recovered_at_s, None);
        assert_eq!(r[0].time_to_recover_s, None);
        // A looser threshold is met at once.
        let r = fault_reports(&ops, &[window("restart", 2.0, 3.0)], 1.0);
        assert_eq!(r[0].time_to_recover_s, Some(0.0));
    }

    #[test]
    fn the_error_rate_outside_faults_leaves_out_the_windows_and_their_recovery() {
        let mut ops = history();
        ops.push(op(8000, 5, Outcome::Failed)); // one error in the 71 outside
        let reports = fault_reports(&ops, &[window("errors", 3.0, 5.0)], 0.01);
        let outside = error_rate_outside(&ops, &reports).expect("requests outside");
        assert!((outside - 1.0 / 71.0).abs() < 1e-9, "{outside}");
        assert_eq!(error_rate_outside(&ops, &[]).map(|r| r > 0.2), Some(true));
    }

    #[test]
    fn judging_faults_keeps_a_failed_verdict_failed_and_passes_errors_inside_windows() {
        use crate::analysis::analyse::{RunEvidence, Thresholds, analyse};
        use crate::analysis::summary::RunFacts;
        let ops: Vec<Observation> = (0..400u64)
            .map(|i| {
                let start = i * 25;
                if (3000..4000).contains(&start) {
                    op(start, 10, Outcome::Unknown)
                } else {
                    Observation {
                        count: i + 1,
                        ..op(start, 10, Outcome::Ok)
                    }
                }
            })
            .collect();
        let final_count = ops.len() as u64;
        let facts = RunFacts {
            run_id: "t".into(),
            nodes: vec![0],
            host: "http://127.0.0.1:1".into(),
            local_stage: true,
            path: "/__loadtest/t".into(),
            outside_traffic: false,
            started_at_unix_ns: 0,
            users: 1,
            api: None,
        };
        let evidence = RunEvidence {
            initial: 0,
            final_count,
            ..RunEvidence::of(facts)
        };
        let limits = Thresholds {
            max_p99_ms: None,
            max_error_rate: 0.01,
        };
        let mut s = analyse(evidence.clone(), &ops, &limits);
        assert!(!s.passed, "40 errors in 400 miss a 1% threshold");
        judge_faults(&mut s, &ops, &[window("errors", 3.0, 4.0)], 0.01);
        assert!(s.passed, "{:?}", s.thresholds);
        assert_eq!(s.faults.len(), 1);
        assert_eq!(s.faults[0].unknown, 40);

        // A lost increment stays a failed verdict whatever the faults.
        let lost = RunEvidence {
            final_count: final_count - 50,
            ..evidence
        };
        let mut s = analyse(lost, &ops, &limits);
        judge_faults(&mut s, &ops, &[window("errors", 3.0, 4.0)], 0.01);
        assert!(!s.passed);
    }
}
