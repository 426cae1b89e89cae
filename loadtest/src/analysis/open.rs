//! The open workload model's figures: offered against achieved arrivals,
//! and the iterations dropped because no user was free. Pure.

use serde::{Deserialize, Serialize};

use super::observation::Observation;
use super::stats::{StepStats, knee};
use super::summary::{Summary, ThresholdResult};

/// What the arrival schedule did, as the run's I/O saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenEvidence {
    /// The pool (`--max-users`).
    pub max_users: usize,
    /// Where the schedule began and ended, seconds on the run's clock.
    pub from_s: f64,
    pub to_s: f64,
    /// Iterations the schedule offered (due within it).
    pub offered: u64,
    /// Of those, never sent: no user was free when they were due.
    pub dropped: u64,
    /// Dropped iterations of each measured step, in step order.
    pub step_dropped: Vec<u64>,
}

/// summary.json's `open_model`: the run's offered and achieved arrival
/// rates over its schedule (warm-up included), and what was dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OpenModel {
    pub max_users: usize,
    /// Seconds the arrival schedule lasted.
    pub schedule_s: f64,
    pub offered: u64,
    pub offered_rps: f64,
    /// Iterations sent (by intended start) within the schedule.
    pub sent: u64,
    pub achieved_rps: f64,
    pub dropped: u64,
}

impl OpenModel {
    pub fn of(e: &OpenEvidence, ops: &[Observation]) -> Self {
        let secs = (e.to_s - e.from_s).max(1e-9);
        let sent = requests_begun(ops, e.from_s, e.to_s);
        Self {
            max_users: e.max_users,
            schedule_s: e.to_s - e.from_s,
            offered: e.offered,
            offered_rps: e.offered as f64 / secs,
            sent,
            achieved_rps: sent as f64 / secs,
            dropped: e.dropped,
        }
    }

    /// Several nodes' schedules together: counts and rates add (each node
    /// offered its own rate at the same time); `schedule_s` is the longest.
    pub fn combine(parts: &[OpenModel]) -> Option<Self> {
        (!parts.is_empty()).then(|| Self {
            max_users: parts.iter().map(|p| p.max_users).sum(),
            schedule_s: parts.iter().map(|p| p.schedule_s).fold(0.0, f64::max),
            offered: parts.iter().map(|p| p.offered).sum(),
            offered_rps: parts.iter().map(|p| p.offered_rps).sum(),
            sent: parts.iter().map(|p| p.sent).sum(),
            achieved_rps: parts.iter().map(|p| p.achieved_rps).sum(),
            dropped: parts.iter().map(|p| p.dropped).sum(),
        })
    }

    /// Sent over offered (1 when nothing was offered).
    pub fn achieved_fraction(&self) -> f64 {
        if self.offered == 0 {
            1.0
        } else {
            self.sent as f64 / self.offered as f64
        }
    }
}

/// Requests whose intended start (their arrival's slot) lies in
/// [from_s, to_s): an arrival due before the schedule's end is sent even
/// when a busy machine sends it a little after.
pub fn requests_begun(ops: &[Observation], from_s: f64, to_s: f64) -> u64 {
    let (from, to) = ((from_s * 1e9) as u64, (to_s * 1e9) as u64);
    ops.iter()
        .map(Observation::intended_start_ns)
        .filter(|&t| t >= from && t < to)
        .count() as u64
}

/// An open-model run's summary: the run's offered and achieved arrivals,
/// and each step's dropped iterations. A dropped iteration is load the
/// stage was offered and never got (its pool ran out because answers were
/// slow), so drops are judged like errors: the run's `dropped_rate`
/// threshold, and a step with more than `max_dropped_rate` of its
/// arrivals dropped is past the knee, whatever its sent requests' p99.
pub fn apply(summary: &mut Summary, e: &OpenEvidence, ops: &[Observation], max_dropped_rate: f64) {
    let model = OpenModel::of(e, ops);
    apply_model(summary, model, &e.step_dropped, e.to_s, max_dropped_rate);
}

/// [`apply`], from figures already counted: the model, each step's
/// dropped iterations, and when the schedule ended on the run's clock
/// (`loadtest report` judges a run again from its summary's).
pub fn apply_model(
    summary: &mut Summary,
    model: OpenModel,
    step_dropped: &[u64],
    schedule_end_s: f64,
    max_dropped_rate: f64,
) {
    summary.open_model = Some(model);
    nothing_to_correct(summary);
    for (s, d) in summary.steps.iter_mut().zip(step_dropped) {
        s.dropped = Some(*d);
        // What the step offered before the run ended (early, if it stopped).
        let held = (s.to_s.min(schedule_end_s) - s.from_s).max(0.0);
        let offered = s.offered_rps.unwrap_or(0.0) * held;
        if *d as f64 > max_dropped_rate * offered {
            s.within_thresholds = false;
        }
    }
    summary.knee = knee(&summary.steps, summary.usl.as_ref());
    let threshold = dropped_rate(&model, max_dropped_rate);
    summary.passed &= match summary.steps.first() {
        None => threshold.passed,
        Some(first) => first.within_thresholds,
    };
    summary.thresholds.push(threshold);
}

/// A merge's summary: the nodes' combined open model judged as [`apply`]
/// judges a run, from the counts each node recorded (a merge has no
/// steps, so the run's `dropped_rate` threshold is all there is to judge).
pub fn apply_combined(summary: &mut Summary, model: OpenModel, max_dropped_rate: f64) {
    summary.open_model = Some(model);
    nothing_to_correct(summary);
    let threshold = dropped_rate(&model, max_dropped_rate);
    summary.passed &= threshold.passed;
    summary.thresholds.push(threshold);
}

/// Arrivals do not wait for answers and latency counts from each one's
/// intended start: there is no coordinated omission to correct.
fn nothing_to_correct(summary: &mut Summary) {
    summary.latency.all_co_corrected = summary.latency.all;
    summary.latency.expected_interval_ms = 0.0;
}

/// The run's `dropped_rate` threshold: dropped over offered arrivals.
fn dropped_rate(model: &OpenModel, max_dropped_rate: f64) -> ThresholdResult {
    let actual = if model.offered == 0 {
        0.0
    } else {
        model.dropped as f64 / model.offered as f64
    };
    ThresholdResult {
        name: "dropped_rate".into(),
        limit: max_dropped_rate,
        actual,
        passed: actual <= max_dropped_rate,
    }
}

/// The first step past the knee, in offered-rate terms: "at 400/s
/// offered, p99 rose to …". `None` without a knee, when the knee is the
/// last step, or when the steps are not the open model's.
pub fn past_the_knee(steps: &[StepStats], knee: Option<usize>) -> Option<&StepStats> {
    steps.get(knee? + 1).filter(|s| s.dropped.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_at_ms(start_ms: u64) -> Observation {
        Observation::ok(start_ms * 1_000_000, start_ms * 1_000_000 + 1, 1)
    }

    #[test]
    fn achieved_counts_what_began_inside_the_schedule_against_what_it_offered() {
        // Offered 100 over 1 s from 0.5 s; 60 sent inside, 5 outside.
        let mut ops: Vec<_> = (0..60).map(|i| op_at_ms(500 + i * 10)).collect();
        ops.extend((0..5).map(|i| op_at_ms(1600 + i)));
        let m = OpenModel::of(
            &OpenEvidence {
                max_users: 4,
                from_s: 0.5,
                to_s: 1.5,
                offered: 100,
                dropped: 40,
                step_dropped: vec![],
            },
            &ops,
        );
        assert_eq!((m.sent, m.dropped, m.offered), (60, 40, 100));
        assert!((m.offered_rps - 100.0).abs() < 1e-9);
        assert!((m.achieved_rps - 60.0).abs() < 1e-9);
        assert!((m.achieved_fraction() - 0.6).abs() < 1e-9);
    }

    #[test]
    fn an_arrival_due_inside_the_schedule_but_sent_after_its_end_was_sent() {
        // The last slot, 1.49 s, sent 30 ms late on a busy machine.
        let late = Observation {
            late: crate::analysis::observation::Lateness::from_ns(30_000_000),
            ..op_at_ms(1520)
        };
        let ops = vec![op_at_ms(1000), late];
        assert_eq!(requests_begun(&ops, 0.5, 1.5), 2);
        assert_eq!(requests_begun(&[op_at_ms(1520)], 0.5, 1.5), 0);
    }

    #[test]
    fn nodes_offered_rates_and_drops_add() {
        let a = OpenModel {
            max_users: 8,
            schedule_s: 10.0,
            offered: 1000,
            offered_rps: 100.0,
            sent: 990,
            achieved_rps: 99.0,
            dropped: 10,
        };
        let b = OpenModel {
            schedule_s: 10.5,
            dropped: 3,
            ..a
        };
        let m = OpenModel::combine(&[a, b]).expect("some");
        assert_eq!(
            (m.max_users, m.offered, m.dropped, m.sent),
            (16, 2000, 13, 1980)
        );
        assert!((m.offered_rps - 200.0).abs() < 1e-9);
        assert_eq!(m.schedule_s, 10.5);
        assert_eq!(OpenModel::combine(&[]), None);
    }

    /// A summary of `ops` (all ok, counts 1..) with one step at `rate`
    /// from 0 to `to_s`, judged at a 1% error rate.
    fn one_step_summary(ops: &[Observation], rate: f64, to_s: f64) -> Summary {
        use crate::analysis::analyse::{RunEvidence, Thresholds, analyse};
        use crate::analysis::stats::StepWindow;
        use crate::analysis::summary::RunFacts;
        let mut evidence = RunEvidence::of(RunFacts {
            run_id: "r".into(),
            nodes: vec![0],
            host: "http://127.0.0.1:1".into(),
            local_stage: false,
            path: "/__loadtest/r".into(),
            outside_traffic: false,
            started_at_unix_ns: 0,
            users: 4,
            api: None,
        });
        evidence.final_count = ops.len() as u64;
        evidence.windows = vec![StepWindow {
            users: 4,
            from_s: 0.0,
            to_s,
            rate: Some(rate),
        }];
        let limits = Thresholds {
            max_p99_ms: None,
            max_error_rate: 0.01,
        };
        analyse(evidence, ops, &limits)
    }

    /// A run stopped 2 s into a 10 s step at 100/s offered 200 arrivals in
    /// it, not 1000: 10 dropped is 5%, past a 1% limit.
    #[test]
    fn a_step_cut_short_by_a_stop_is_judged_on_what_it_offered_before_it() {
        let ops: Vec<_> = (0..190)
            .map(|i| Observation::ok(i * 10_000_000, i * 10_000_000 + 1, i + 1))
            .collect();
        let mut s = one_step_summary(&ops, 100.0, 10.0);
        let e = OpenEvidence {
            max_users: 4,
            from_s: 0.0,
            to_s: 2.0,
            offered: 200,
            dropped: 10,
            step_dropped: vec![10],
        };
        apply(&mut s, &e, &ops, 0.01);
        assert!(!s.steps[0].within_thresholds, "{:?}", s.steps[0]);
    }

    #[test]
    fn a_summary_carries_the_open_model_and_older_ones_without_it_still_read() {
        let ops: Vec<_> = (0..100)
            .map(|i| Observation::ok(i * 10_000_000, i * 10_000_000 + 1, i + 1))
            .collect();
        let mut s = one_step_summary(&ops, 150.0, 1.0);
        let e = OpenEvidence {
            max_users: 4,
            from_s: 0.0,
            to_s: 1.0,
            offered: 150,
            dropped: 50,
            step_dropped: vec![50],
        };
        assert!(s.passed && s.knee == Some(0), "before the drops are judged");
        apply(&mut s, &e, &ops, 0.01);
        assert_eq!(s.steps[0].offered_rps, Some(150.0), "the step's rate");
        assert_eq!(s.steps[0].dropped, Some(50));
        assert!(
            !s.steps[0].within_thresholds,
            "a third dropped: past the knee"
        );
        assert_eq!(s.knee, None);
        assert_eq!(
            s.latency.all_co_corrected, s.latency.all,
            "nothing to correct"
        );
        assert!(!s.passed);
        let t = s.thresholds.last().expect("dropped_rate");
        assert_eq!(t.name, "dropped_rate");
        assert!((t.actual - 1.0 / 3.0).abs() < 1e-9 && !t.passed, "{t:?}");
        let mut json = serde_json::to_value(&s).expect("serializes");
        assert_eq!(json["open_model"]["dropped"], 50);
        assert_eq!(json["open_model"]["sent"], 100);
        let fields = json.as_object_mut().expect("an object");
        fields.remove("open_model");
        fields["steps"][0]
            .as_object_mut()
            .expect("a step")
            .remove("dropped");
        let old: Summary = serde_json::from_value(json).expect("an older summary reads");
        assert_eq!((old.open_model, old.steps[0].dropped), (None, None));
    }
}
