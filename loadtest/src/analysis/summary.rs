//! `summary.json`: the machine-readable result of a run (or of a merge).
//! Field names are stable; `schema_version` changes if they ever must.
//! Documented field by field in README.md ("summary.json").

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
    /// Verdict passed, thresholds met and not aborted: the exit code is 0.
    pub passed: bool,
    /// The run directory's files, by role (names relative to the directory).
    pub files: std::collections::BTreeMap<String, String>,
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
    /// CPU time of this process over the run, as a percentage of one core.
    pub cpu_percent_of_one_core: f64,
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
