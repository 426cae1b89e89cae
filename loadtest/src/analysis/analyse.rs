//! From observations to a [`Summary`]: the verdict, the figures, the
//! thresholds. Pure, shared by a run and by a merge of several nodes.

use super::checker::{DEFAULT_MIN_OK, History, Status, Verdict, VerdictStatus, check};
use super::observation::{Observation, Outcome};
use super::stats::{
    Latency, Requests, ServerTiming, StepStats, StepWindow, co_corrected, histogram, knee,
    per_second, per_step,
};
use super::summary::{
    Generator, LatencyReport, RunFacts, SCHEMA_VERSION, Summary, ThresholdResult, files,
};
use super::usl::{self, UslFit};

/// What is known of a run besides its observations.
#[derive(Debug, Clone)]
pub struct RunEvidence {
    pub run: RunFacts,
    /// One node of a multi-node run: the others write to the same counter,
    /// so accounting is left to `loadtest merge`.
    pub other_nodes_write: bool,
    pub initial: u64,
    pub final_count: u64,
    /// Why the count after the run could not be read, if it could not
    /// (the target died): `final_count` then means nothing, and the checks
    /// that need it are not judged.
    pub final_read_error: Option<String>,
    pub cross_node_skew_ns: u64,
    /// Fewer ok responses than this make the verdict inconclusive (`--min-ok`).
    pub min_ok: u64,
    pub response_bytes_mean: f64,
    /// `None` where the platform does not tell.
    pub cpu_percent: Option<f64>,
    pub cores: usize,
    pub aborted: Option<String>,
    pub stopped_early: Option<String>,
    /// The signal that interrupted the run, if one did.
    pub interrupted: Option<String>,
    pub windows: Vec<StepWindow>,
    pub per_user_rps: Option<f64>,
    /// The handler's own time, from responses' `Server-Timing`.
    pub server_timing: Option<ServerTiming>,
    /// Requests that may have been sent but were never recorded (a killed
    /// run): judged as unknown operations ([`super::checker::History::unrecorded`]).
    pub unrecorded: u64,
}

impl RunEvidence {
    /// Evidence of a run with nothing but its facts known yet: counts 0,
    /// one core, no abort, no steps. Set the rest with `..`.
    pub fn of(run: RunFacts) -> Self {
        Self {
            run,
            other_nodes_write: false,
            initial: 0,
            final_count: 0,
            final_read_error: None,
            cross_node_skew_ns: 0,
            min_ok: DEFAULT_MIN_OK,
            response_bytes_mean: 0.0,
            cpu_percent: None,
            cores: 1,
            aborted: None,
            stopped_early: None,
            interrupted: None,
            windows: vec![],
            per_user_rps: None,
            server_timing: None,
            unrecorded: 0,
        }
    }
}

/// Thresholds that make the run a CI gate.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub max_p99_ms: Option<f64>,
    pub max_error_rate: f64,
}

pub fn analyse(a: RunEvidence, ops: &[Observation], limits: &Thresholds) -> Summary {
    let verdict = judge(&a, ops);
    let requests = Requests::of(ops);
    let first = ops.iter().map(|o| o.start_ns).min().unwrap_or(0);
    let last = ops.iter().map(|o| o.end_ns).max().unwrap_or(0);
    let duration_s = (last.saturating_sub(first)) as f64 / 1e9;
    let throughput_rps = if duration_s > 0.0 {
        requests.total as f64 / duration_s
    } else {
        0.0
    };
    let latency = latency_report(ops, a.run.users, duration_s, requests.total);
    let thresholds = run_thresholds(limits, &requests, &latency.all);
    let steps = per_step(
        ops,
        &a.windows,
        a.per_user_rps,
        limits.max_p99_ms,
        limits.max_error_rate,
    );
    let usl = fit_steps(&steps);
    let knee = knee(&steps, usl.as_ref());
    let mut files: std::collections::BTreeMap<String, String> = files::ALWAYS
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    if !steps.is_empty() {
        files.insert(
            "plot_latency_vs_throughput".into(),
            files::PLOT_LATENCY_VS_THROUGHPUT.into(),
        );
    }
    let saturated = a.cpu_percent.is_some_and(|c| c > 90.0 * a.cores as f64);
    let passed = verdict.passed()
        && a.aborted.is_none()
        && a.interrupted.is_none()
        && requests.total > 0
        && thresholds_met(&steps, &thresholds);
    Summary {
        schema_version: SCHEMA_VERSION,
        duration_s,
        initial_count: a.initial,
        final_count: a.final_count,
        error_rate: requests.error_rate(),
        throttle_rate: requests.throttle_rate(),
        requests,
        throughput_rps,
        response_bytes_mean: a.response_bytes_mean,
        latency,
        generator: Generator {
            cpu_percent_of_one_core: a.cpu_percent,
            cores: a.cores,
            saturated,
            note: a.run.local_stage.then(|| {
                "the local stage runs in this process: its handler's CPU is included".to_owned()
            }),
        },
        run: a.run,
        verdict,
        thresholds,
        aborted: a.aborted,
        stopped_early: a.stopped_early,
        interrupted: a.interrupted.is_some(),
        interrupted_by: a.interrupted,
        open_model: None,
        steps,
        knee,
        usl,
        server_timing: a.server_timing,
        per_second: per_second(ops),
        faults: Vec::new(),
        stage: None,
        start: super::summary::Start::default(),
        final_read_error: a.final_read_error,
        killed: None,
        passed,
        files,
    }
}

/// The atomicity verdict on enough evidence. When the count after the run
/// could not be read, only what needs no final count is judged (uniqueness,
/// real-time order, and range from below), and a verdict that found nothing
/// wrong is inconclusive, never a pass.
fn judge(a: &RunEvidence, ops: &[Observation]) -> Verdict {
    let unreadable = a.final_read_error.is_some();
    let highest_seen = ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .map(|o| o.count)
        .max()
        .unwrap_or(a.initial)
        .max(a.initial);
    let mut verdict = check(&History {
        initial: a.initial,
        final_count: if unreadable {
            highest_seen
        } else {
            a.final_count
        },
        ops,
        outside_traffic: a.run.outside_traffic || a.other_nodes_write || unreadable,
        cross_node_skew_ns: a.cross_node_skew_ns,
        unrecorded: a.unrecorded,
    });
    if let Some(e) = &a.final_read_error
        && !(a.run.outside_traffic || a.other_nodes_write)
    {
        // Skipped for want of the count, not for other writers.
        for c in verdict
            .checks
            .iter_mut()
            .filter(|c| c.status == Status::Skipped)
        {
            c.detail = format!("skipped: no count after the run to judge it by ({e})");
        }
    }
    verdict.require_evidence(a.min_ok);
    if let Some(e) = &a.final_read_error
        && verdict.status == VerdictStatus::Pass
    {
        verdict.status = VerdictStatus::Inconclusive;
        verdict.inconclusive_reason = Some(format!(
            "the count after the run could not be read ({e}): accounting and completeness were not judged"
        ));
    }
    verdict
}

/// Latency by outcome, and of all requests with coordinated omission
/// corrected at each user's mean cadence (a closed loop's expected interval).
fn latency_report(ops: &[Observation], users: usize, duration_s: f64, total: u64) -> LatencyReport {
    let expected_interval_us = if total > 0 {
        (duration_s * 1e6 * users as f64 / total as f64) as u64
    } else {
        1
    };
    let only = |outcome| Latency::of(&histogram(ops.iter().filter(|o| o.outcome == outcome)));
    LatencyReport {
        ok: only(Outcome::Ok),
        failed: only(Outcome::Failed),
        unknown: only(Outcome::Unknown),
        all: Latency::of(&histogram(ops)),
        all_co_corrected: Latency::of(&co_corrected(ops, expected_interval_us)),
        expected_interval_ms: expected_interval_us as f64 / 1000.0,
    }
}

/// The run's thresholds, each with what was measured.
fn run_thresholds(limits: &Thresholds, requests: &Requests, all: &Latency) -> Vec<ThresholdResult> {
    let mut thresholds = vec![ThresholdResult {
        name: "error_rate".into(),
        limit: limits.max_error_rate,
        actual: requests.error_rate(),
        passed: requests.error_rate() <= limits.max_error_rate,
    }];
    if let Some(max) = limits.max_p99_ms {
        thresholds.push(ThresholdResult {
            name: "p99_ms".into(),
            limit: max,
            actual: all.p99_ms,
            passed: all.p99_ms <= max,
        });
    }
    thresholds
}

/// The thresholds' gate. A run: every threshold met. A stepped run is
/// meant to go past where the stage bends, so its thresholds judge each
/// step (the knee is the last within them) and fail the run only when its
/// first step already misses them: no step was within them.
fn thresholds_met(steps: &[StepStats], thresholds: &[ThresholdResult]) -> bool {
    match steps.first() {
        None => thresholds.iter().all(|t| t.passed),
        Some(first) => first.within_thresholds,
    }
}

/// The USL fitted to the steps' (users, achieved throughput), when there
/// are enough distinct step sizes.
fn fit_steps(steps: &[StepStats]) -> Option<UslFit> {
    let points: Vec<(f64, f64)> = steps
        .iter()
        .map(|s| (s.users as f64, s.achieved_rps))
        .collect();
    usl::fit(&points).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn analysis() -> RunEvidence {
        RunEvidence {
            run: RunFacts {
                run_id: "t".into(),
                nodes: vec![0],
                host: "http://127.0.0.1:1".into(),
                local_stage: false,
                path: "/__loadtest/t".into(),
                outside_traffic: false,
                started_at_unix_ns: 0,
                users: 1,
                api: None,
            },
            other_nodes_write: false,
            initial: 0,
            final_count: 3,
            final_read_error: None,
            cross_node_skew_ns: 0,
            min_ok: 1,
            response_bytes_mean: 30.0,
            cpu_percent: Some(10.0),
            cores: 2,
            aborted: None,
            stopped_early: None,
            interrupted: None,
            windows: vec![],
            per_user_rps: None,
            server_timing: None,
            unrecorded: 0,
        }
    }

    fn ops() -> Vec<Observation> {
        (0..3)
            .map(|i| Observation::ok(i * 10_000_000, i * 10_000_000 + 5_000_000, i + 1))
            .collect()
    }

    #[test]
    fn a_clean_run_passes_and_a_threshold_fails_it() {
        let ok = analyse(
            analysis(),
            &ops(),
            &Thresholds {
                max_p99_ms: None,
                max_error_rate: 0.0,
            },
        );
        assert!(ok.passed);
        assert!((ok.latency.all.p99_ms - 5.0).abs() < 0.01);
        let slow = analyse(
            analysis(),
            &ops(),
            &Thresholds {
                max_p99_ms: Some(1.0),
                max_error_rate: 0.0,
            },
        );
        assert!(!slow.passed, "p99 5 ms > 1 ms");
        assert!(slow.verdict.passed(), "the verdict itself is fine");
    }

    #[test]
    fn an_aborted_or_empty_run_does_not_pass() {
        let limits = Thresholds {
            max_p99_ms: None,
            max_error_rate: 1.0,
        };
        let mut a = analysis();
        a.aborted = Some("error rate".into());
        assert!(!analyse(a, &ops(), &limits).passed);
        let mut a = analysis();
        a.final_count = 0;
        assert!(!analyse(a, &[], &limits).passed);
    }

    #[test]
    fn a_saturated_generator_is_flagged() {
        let mut a = analysis();
        a.cpu_percent = Some(195.0);
        let s = analyse(
            a,
            &ops(),
            &Thresholds {
                max_p99_ms: None,
                max_error_rate: 0.0,
            },
        );
        assert!(s.generator.saturated);
    }

    #[test]
    fn a_cpu_time_the_platform_does_not_tell_stays_unknown() {
        let mut a = analysis();
        a.cpu_percent = None;
        let thresholds = Thresholds {
            max_p99_ms: None,
            max_error_rate: 0.0,
        };
        let s = analyse(a, &ops(), &thresholds);
        assert_eq!(s.generator.cpu_percent_of_one_core, None);
        assert!(!s.generator.saturated);
    }

    /// A stepped run goes past the bend on purpose: a later step that
    /// misses the thresholds places the knee; a first step that misses
    /// them fails the run.
    #[test]
    fn a_stepped_run_fails_only_when_its_first_step_misses_the_thresholds() {
        let mut ops = Vec::new();
        for i in 0..50u64 {
            ops.push(Observation::ok(
                i * 20_000_000,
                i * 20_000_000 + 5_000_000,
                i + 1,
            ));
            let start = 1_000_000_000 + i * 20_000_000;
            ops.push(Observation::ok(start, start + 80_000_000, 51 + i));
        }
        ops.sort_by_key(|o| o.start_ns);
        let mut a = analysis();
        a.final_count = 100;
        a.windows = vec![
            StepWindow {
                users: 1,
                from_s: 0.0,
                to_s: 1.0,
                rate: None,
            },
            StepWindow {
                users: 4,
                from_s: 1.0,
                to_s: 2.0,
                rate: None,
            },
        ];
        let limits = |p99| Thresholds {
            max_p99_ms: Some(p99),
            max_error_rate: 0.0,
        };
        let s = analyse(a.clone(), &ops, &limits(50.0));
        assert!(s.passed, "{:?}", s.steps);
        assert_eq!(s.knee, Some(0));
        assert!(
            !s.thresholds.iter().all(|t| t.passed),
            "the whole run's p99 misses"
        );
        let s = analyse(a, &ops, &limits(1.0));
        assert!(!s.passed, "no step within --max-p99 1");
        assert_eq!(s.knee, None);
    }
}

#[cfg(test)]
mod final_read {
    use super::*;
    use crate::analysis::checker::CheckName;

    fn evidence(final_read_error: Option<String>) -> RunEvidence {
        RunEvidence {
            final_count: 20,
            final_read_error,
            ..tests::analysis()
        }
    }

    fn ops(counts: &[u64]) -> Vec<Observation> {
        counts
            .iter()
            .enumerate()
            .map(|(i, &c)| Observation::ok(i as u64 * 10, i as u64 * 10 + 5, c))
            .collect()
    }

    const LIMITS: Thresholds = Thresholds {
        max_p99_ms: None,
        max_error_rate: 1.0,
    };

    #[test]
    fn a_run_whose_final_read_failed_is_inconclusive_not_a_pass() {
        let atomic: Vec<u64> = (1..=20).collect();
        let read = analyse(evidence(None), &ops(&atomic), &LIMITS);
        assert_eq!(read.verdict.status, VerdictStatus::Pass);
        let lost = analyse(
            evidence(Some("connection refused".into())),
            &ops(&atomic),
            &LIMITS,
        );
        assert_eq!(lost.verdict.status, VerdictStatus::Inconclusive);
        assert!(!lost.passed);
        let accounting = lost.verdict.get(CheckName::Accounting).expect("present");
        assert!(
            accounting.detail.contains("no count after the run"),
            "{}",
            accounting.detail
        );
        let why = lost.verdict.inconclusive_reason.unwrap_or_default();
        assert!(
            why.contains("could not be read") && why.contains("connection refused"),
            "{why}"
        );
    }

    #[test]
    fn what_needs_no_final_count_is_still_judged() {
        let duplicated = [1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11];
        let s = analyse(evidence(Some("reset".into())), &ops(&duplicated), &LIMITS);
        assert_eq!(
            s.verdict.status,
            VerdictStatus::Fail,
            "a duplicate is a duplicate"
        );
    }
}
