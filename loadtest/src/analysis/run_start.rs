//! `run.json`: what a later command needs to judge a run that never wrote
//! its summary (SIGKILL, the OOM killer, a CI job's timeout), written when
//! the load begins. With `observations.bin` (streamed as the run goes) it
//! is enough for `loadtest report` to judge the history on disk.
//!
//! Fields are only ever added: a reader ignores the ones it does not know,
//! and a field added later carries a default, so every `run.json` written
//! since version 1 reads. `schema_version` changes only if a field must
//! change its meaning.

use serde::{Deserialize, Serialize};

use super::analyse::Thresholds;
use super::stats::StepWindow;
use super::summary::RunFacts;

pub const RUN_START_SCHEMA_VERSION: u32 = 1;

/// How the load was shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// `-u N`: each user sends again once answered.
    Closed,
    /// `-u N --user-rate R`.
    Paced,
    /// `--steps`.
    Stepped,
    /// goose's `--test-plan`.
    TestPlan,
    /// `--arrival-rate`.
    Open,
    /// `--rate-steps`.
    OpenStepped,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Closed => "closed",
            Model::Paced => "paced",
            Model::Stepped => "stepped",
            Model::TestPlan => "test plan",
            Model::Open => "open",
            Model::OpenStepped => "open, stepped",
        }
    }
}

/// The thresholds the run judges itself by.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StartThresholds {
    pub max_p99_ms: Option<f64>,
    pub max_error_rate: f64,
    pub min_ok: u64,
}

impl StartThresholds {
    /// The latency and error limits the summary is judged by.
    pub fn limits(&self) -> Thresholds {
        Thresholds {
            max_p99_ms: self.max_p99_ms,
            max_error_rate: self.max_error_rate,
        }
    }
}

/// `run.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStart {
    pub schema_version: u32,
    pub run_id: String,
    /// `--node-id`, 0 for a run on one node.
    pub node: u16,
    pub host: String,
    /// The run started its own local stage (no --host): it died with the
    /// run, so a killed run's count cannot be read afterwards.
    pub local_stage: bool,
    /// The counter the run increments.
    pub path: String,
    /// `--path` to a real page: others count on it too.
    pub outside_traffic: bool,
    /// A node of a multi-node run: the other nodes count on it too.
    pub other_nodes_write: bool,
    /// The count read before the load.
    pub initial_count: u64,
    /// Users at the peak (the open model's pool): each has at most one
    /// request in flight.
    pub users: usize,
    pub model: Model,
    /// How long the load was meant to last, where the harness knows.
    pub planned_duration_s: Option<f64>,
    /// Wall clock at the run's time zero: observation times count from it.
    pub started_at_unix_ns: u64,
    pub thresholds: StartThresholds,
    /// `--user-rate`.
    pub user_rate: Option<f64>,
    /// The measured windows of `--steps` on the run's clock (the open
    /// model's begin at its schedule's origin, known only as it starts:
    /// not here).
    #[serde(default)]
    pub windows: Vec<StepWindow>,
    /// At most this many recorded requests wait in memory for the disk;
    /// a kill loses at most these and one request in flight per user.
    pub max_unwritten_records: u64,
    /// The command line, as given (header values redacted).
    #[serde(default)]
    pub command_line: Vec<String>,
    pub loadtest_version: String,
    /// How a visit was counted and the count read: what `report --host`
    /// reads the count with after a kill (headers are given again).
    #[serde(default)]
    pub api: Option<super::summary::RequestFacts>,
}

impl RunStart {
    /// The run's facts as summary.json states them.
    pub fn facts(&self) -> RunFacts {
        RunFacts {
            run_id: self.run_id.clone(),
            nodes: vec![self.node],
            host: self.host.clone(),
            local_stage: self.local_stage,
            path: self.path.clone(),
            outside_traffic: self.outside_traffic,
            started_at_unix_ns: self.started_at_unix_ns,
            users: self.users,
            api: self.api.clone(),
        }
    }

    /// Requests a kill can have left off the disk: the records not yet
    /// written, and one in flight per user.
    pub fn unrecorded_at_most(&self) -> u64 {
        self.max_unwritten_records + self.users as u64
    }
}

/// `run.json`'s text, refused with a reason when it is not one this
/// version reads.
pub fn parse(text: &str) -> Result<RunStart, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    match value["schema_version"].as_u64() {
        Some(v) if v == u64::from(RUN_START_SCHEMA_VERSION) => {}
        other => {
            return Err(format!(
                "schema_version {}; this loadtest reads {RUN_START_SCHEMA_VERSION}",
                other.map_or("(none)".to_owned(), |v| v.to_string())
            ));
        }
    }
    serde_json::from_value(value).map_err(|e| format!("not a run's start record: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn start() -> RunStart {
        RunStart {
            schema_version: RUN_START_SCHEMA_VERSION,
            run_id: "r".into(),
            node: 0,
            host: "http://127.0.0.1:1".into(),
            local_stage: false,
            path: "/__loadtest/r".into(),
            outside_traffic: false,
            other_nodes_write: false,
            initial_count: 5,
            users: 4,
            model: Model::Closed,
            planned_duration_s: Some(10.0),
            started_at_unix_ns: 1_000,
            thresholds: StartThresholds {
                max_p99_ms: Some(50.0),
                max_error_rate: 0.01,
                min_ok: 10,
            },
            user_rate: None,
            windows: vec![],
            max_unwritten_records: 8192,
            command_line: vec!["loadtest".into(), "-u".into(), "4".into()],
            loadtest_version: "0.1.0".into(),
            api: None,
        }
    }

    #[test]
    fn a_start_record_round_trips_and_fields_added_later_are_ignored() {
        let s = start();
        let mut json = serde_json::to_value(&s).expect("serializes");
        json["count_read_by"] = "GET /visits".into();
        assert_eq!(parse(&json.to_string()), Ok(s.clone()));
        assert_eq!(s.unrecorded_at_most(), 8196);
        assert_eq!(s.facts().nodes, vec![0]);
        json["schema_version"] = 2.into();
        assert!(parse(&json.to_string()).is_err_and(|e| e.contains("schema_version 2")));
        assert!(parse("{").is_err());
        assert!(parse(r#"{"schema_version": 1}"#).is_err_and(|e| e.contains("start record")));
    }
}
