//! `summary.json`: the machine-readable result of a run (or of a merge).
//! Field names are stable; `schema_version` changes if they ever must.
//! Documented field by field in docs/run-directory.md.

use serde::{Deserialize, Serialize};

use super::checker::Verdict;
use super::stats::{Latency, Requests, Second, ServerTiming, StepStats};
use super::usl::UslFit;

pub const SCHEMA_VERSION: u32 = 1;

/// The run directory's file names, as `files` in summary.json lists them.
pub mod files {
    pub const SUMMARY: &str = "summary.json";
    pub const REPORT: &str = "report.html";
    pub const OBSERVATIONS: &str = "observations.bin";
    pub const HISTOGRAM_TEXT: &str = "latency.hgrm";
    pub const HISTOGRAM: &str = "latency.hdr";
    pub const PLOT_OVER_TIME: &str = "over-time.svg";
    pub const PLOT_LATENCY_VS_THROUGHPUT: &str = "latency-vs-throughput.svg";
    /// A run's timeline as it went, one JSON line a second (load/per_second.rs).
    pub const PER_SECOND: &str = "per-second.jsonl";
    /// What the run was, written when its load began (analysis/run_start.rs).
    pub const RUN_START: &str = "run.json";
    /// The emulated stage's REPORT lines, one per invocation (`--emulate-aws`).
    pub const LAMBDA_REPORTS: &str = "lambda-reports.log";

    /// The files every run has, by role.
    pub const ALWAYS: [(&str, &str); 6] = [
        ("summary", SUMMARY),
        ("report", REPORT),
        ("observations", OBSERVATIONS),
        ("histogram_text", HISTOGRAM_TEXT),
        ("histogram", HISTOGRAM),
        ("plot_over_time", PLOT_OVER_TIME),
    ];
}

/// What a run was: where it pointed, at which counter, when, how wide.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFacts {
    pub run_id: String,
    /// The node that wrote it; for a merge, the nodes merged.
    pub nodes: Vec<u16>,
    pub host: String,
    /// The run started its own local stage (no --host).
    pub local_stage: bool,
    /// The counter the run incremented.
    pub path: String,
    /// `--path` to a real page: others may increment it too.
    pub outside_traffic: bool,
    /// Wall clock at the run's time zero; observation times count from it.
    pub started_at_unix_ns: u64,
    /// Users at the peak.
    pub users: usize,
    /// How a visit was counted and the count read (runs before these
    /// options: our contract, `null`).
    #[serde(default)]
    pub api: Option<RequestFacts>,
}

/// The API under test as the run used it (`--request`, `--read`,
/// `--count-at`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFacts {
    /// The counting request, `{key}` as written.
    pub request: String,
    /// The read, or `none` (the first and last counting requests told
    /// the count before and after).
    pub read: String,
    /// Where the count was in the answers.
    pub count_at: Option<String>,
    /// Where the count was in the read's answers, when the user said.
    #[serde(default)]
    pub read_count_at: Option<String>,
    /// The counter is one the API chose (no `{key}`) and others may count
    /// on it: accounting and completeness are not judged.
    pub shared: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    /// Flattened: its fields are top-level in summary.json.
    #[serde(flatten)]
    pub run: RunFacts,
    pub duration_s: f64,
    pub initial_count: u64,
    pub final_count: u64,
    pub requests: Requests,
    pub throughput_rps: f64,
    pub error_rate: f64,
    pub throttle_rate: f64,
    /// Mean size of a response body, in bytes.
    pub response_bytes_mean: f64,
    pub latency: LatencyReport,
    pub generator: Generator,
    pub verdict: Verdict,
    pub thresholds: Vec<ThresholdResult>,
    /// Why the run was aborted as failed (error rate, goose error), if it was.
    pub aborted: Option<String>,
    /// A bound (--max-requests, --max-duration) that ended the run: not a failure.
    pub stopped_early: Option<String>,
    /// A signal (SIGINT, SIGTERM) stopped the run early: it never passes.
    #[serde(default)]
    pub interrupted: bool,
    /// Which signal, if one did.
    #[serde(default)]
    pub interrupted_by: Option<String>,
    /// The open model (`--arrival-rate`, `--rate-steps`): offered against
    /// achieved arrivals and the iterations dropped; null otherwise.
    #[serde(default)]
    pub open_model: Option<super::open::OpenModel>,
    /// Per-step figures of a stepped run (empty otherwise)...
    pub steps: Vec<StepStats>,
    /// ...and the index of the knee: the last step within the thresholds
    /// and not past the USL fit's point of diminishing returns.
    pub knee: Option<usize>,
    /// The Universal Scalability Law fitted to the steps (3+ step sizes).
    #[serde(default)]
    pub usl: Option<UslFit>,
    /// The handler's own time (its `Server-Timing: app;dur=`), when the
    /// responses carried it.
    #[serde(default)]
    pub server_timing: Option<ServerTiming>,
    pub per_second: Vec<Second>,
    /// The fault windows a fault injector applied (`--faults`) and what each
    /// cost; empty without one.
    #[serde(default)]
    pub faults: Vec<super::faults::FaultReport>,
    /// The emulated stage's own figures (`--emulate-aws`); null otherwise.
    #[serde(default)]
    pub stage: Option<super::stage::StageFigures>,
    /// When the load began (`--start-at`) and, for a merge, how far apart
    /// the nodes began. Flattened: its fields are top-level.
    #[serde(flatten, default)]
    pub start: Start,
    /// Why the count after the run could not be read, if it could not
    /// (then the checks that need it were not judged).
    #[serde(default)]
    pub final_read_error: Option<String>,
    /// Set when the run was killed before it wrote its summary: this one
    /// was made afterwards (`loadtest report`, or `merge` for its nodes)
    /// from the files it left. Null for a run that ended itself.
    #[serde(default)]
    pub killed: Option<Killed>,
    /// Verdict passed, thresholds met and not aborted: the exit code is 0.
    pub passed: bool,
    /// The run directory's files, by role (names relative to the directory).
    pub files: std::collections::BTreeMap<String, String>,
}

/// What was judged of a run that was killed before it wrote its summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Killed {
    /// The nodes that were killed (a run's own node; for a merge, those of
    /// its nodes).
    pub nodes: Vec<u16>,
    /// Whole records read from observations.bin.
    pub records_on_disk: u64,
    /// Bytes of a last record cut short by the kill (not judged).
    pub torn_bytes: u64,
    /// Requests that may have been sent without their record reaching the
    /// disk (one in flight per user, and the records waiting for the
    /// disk), judged as unknown operations: at most this many.
    pub unrecorded_at_most: u64,
    /// Where the count after the kill was read (`report --host`), if it was.
    pub final_count_from: Option<String>,
}

/// When the load began: planned (`--start-at`) and actual, in wall-clock
/// unix nanoseconds; for a merge, the start skew across the nodes. Every
/// field is optional (summaries written before it lack them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Start {
    /// The instant `--start-at` named (the nodes' common one, for a merge).
    #[serde(default)]
    pub start_planned_unix_ns: Option<u64>,
    /// When the load began: the wait's end (the earliest node's, for a merge).
    #[serde(default)]
    pub start_actual_unix_ns: Option<u64>,
    /// Merge: the latest node's actual start minus the earliest's, ms.
    #[serde(default)]
    pub start_skew_ms: Option<f64>,
    /// The largest |actual − planned| start (over the nodes, for a merge), ms.
    #[serde(default)]
    pub start_skew_vs_planned_ms: Option<f64>,
}

impl Start {
    /// One run's start.
    pub fn of_run(planned: Option<u64>, actual: u64) -> Self {
        Self {
            start_planned_unix_ns: planned,
            start_actual_unix_ns: Some(actual),
            start_skew_ms: None,
            start_skew_vs_planned_ms: planned.map(|p| ms_between(p, actual)),
        }
    }

    /// The nodes' starts together: the skew is over the nodes that recorded
    /// an actual start; the planned start is the earliest planned.
    pub fn merged<'a>(nodes: impl IntoIterator<Item = &'a Start>) -> Self {
        let nodes: Vec<&Start> = nodes.into_iter().collect();
        let actual: Vec<u64> = nodes
            .iter()
            .filter_map(|n| n.start_actual_unix_ns)
            .collect();
        let (first, last) = (actual.iter().min(), actual.iter().max());
        Self {
            start_planned_unix_ns: nodes.iter().filter_map(|n| n.start_planned_unix_ns).min(),
            start_actual_unix_ns: first.copied(),
            start_skew_ms: first.zip(last).map(|(a, b)| ms_between(*a, *b)),
            start_skew_vs_planned_ms: nodes
                .iter()
                .filter_map(|n| {
                    n.start_planned_unix_ns
                        .zip(n.start_actual_unix_ns)
                        .map(|(p, a)| ms_between(p, a))
                })
                .reduce(f64::max),
        }
    }
}

/// |b − a| in milliseconds.
fn ms_between(a: u64, b: u64) -> f64 {
    a.abs_diff(b) as f64 / 1e6
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyReport {
    /// Ok responses only.
    pub ok: Latency,
    /// Definite 4xx only.
    pub failed: Latency,
    /// Unknown outcomes only (timeouts, 5xx...).
    pub unknown: Latency,
    /// Every request, whatever its outcome.
    pub all: Latency,
    /// Every request, corrected for coordinated omission with the expected
    /// interval below.
    pub all_co_corrected: Latency,
    pub expected_interval_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Generator {
    /// CPU time of this process over the run, as a percentage of one core;
    /// `null` where the platform does not tell (never a made-up 0).
    pub cpu_percent_of_one_core: Option<f64>,
    pub cores: usize,
    /// Over 90% of the machine's cores: latencies then include the
    /// generator's own queueing.
    pub saturated: bool,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub name: String,
    pub limit: f64,
    pub actual: f64,
    pub passed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_merge_reports_the_spread_of_the_nodes_starts_and_the_worst_against_the_plan() {
        let plan = 1_000_000 * MS;
        let nodes = [
            Start::of_run(Some(plan), plan + 2 * MS),
            Start::of_run(Some(plan), plan + 9 * MS),
            Start::of_run(Some(plan), plan + 5 * MS),
        ];
        assert_eq!(nodes[1].start_skew_vs_planned_ms, Some(9.0));
        let m = Start::merged(&nodes);
        assert_eq!(m.start_planned_unix_ns, Some(plan));
        assert_eq!(m.start_actual_unix_ns, Some(plan + 2 * MS));
        assert_eq!(m.start_skew_ms, Some(7.0), "latest − earliest");
        assert_eq!(m.start_skew_vs_planned_ms, Some(9.0), "the latest node");
    }

    #[test]
    fn without_a_plan_only_the_skew_and_without_starts_nothing() {
        let m = Start::merged(&[Start::of_run(None, 10 * MS), Start::of_run(None, 4 * MS)]);
        assert_eq!(m.start_planned_unix_ns, None);
        assert_eq!(m.start_skew_ms, Some(6.0));
        assert_eq!(m.start_skew_vs_planned_ms, None);
        assert_eq!(
            Start::merged(&[Start::default(), Start::default()]),
            Start::default()
        );
    }

    #[test]
    fn summaries_written_before_start_times_still_read() {
        use crate::analysis::analyse::{RunEvidence, Thresholds, analyse};
        let mut s = analyse(
            RunEvidence::of(RunFacts {
                run_id: "r".into(),
                nodes: vec![1],
                host: "http://127.0.0.1:1".into(),
                local_stage: false,
                path: "/__loadtest/r".into(),
                outside_traffic: false,
                started_at_unix_ns: 0,
                users: 1,
                api: None,
            }),
            &[],
            &Thresholds {
                max_p99_ms: None,
                max_error_rate: 0.01,
            },
        );
        s.start = Start::of_run(Some(7), 9);
        let mut json = serde_json::to_value(&s).expect("serializes");
        assert_eq!(json["start_planned_unix_ns"], 7, "top-level fields");
        assert_eq!(json["start_skew_vs_planned_ms"], 2e-6);
        let fields = json.as_object_mut().expect("an object");
        for f in [
            "start_planned_unix_ns",
            "start_actual_unix_ns",
            "start_skew_ms",
            "start_skew_vs_planned_ms",
        ] {
            fields.remove(f);
        }
        let old: Summary = serde_json::from_value(json).expect("an older summary reads");
        assert_eq!(old.start, Start::default());
    }
}
