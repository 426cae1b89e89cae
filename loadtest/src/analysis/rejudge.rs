//! A run judged again from its files alone (`loadtest report`), by the
//! same [`analyse`] a run uses: a run that ended itself, from its
//! summary.json's facts and its observations; a run that was killed
//! before it wrote a summary, from its run.json and the observations it
//! left on disk.
//!
//! What a run counted live and never wrote as observations (the open
//! model's offered and dropped arrivals, the generator's CPU, the
//! handler's Server-Timing, the fault windows, when the load began) is
//! taken from summary.json as the run wrote it; a killed run has none of
//! it, and says so.

use super::analyse::{RunEvidence, Thresholds, analyse};
use super::checker::DEFAULT_MIN_OK;
use super::faults::{FaultWindow, judge_faults};
use super::observation::Observation;
use super::open;
use super::run_start::RunStart;
use super::stats::StepWindow;
use super::summary::{Killed, Summary, files};

/// What `report` found on disk for a killed run, beside run.json.
#[derive(Debug, Clone)]
pub struct KilledRecord {
    /// Bytes of a record cut short at the end of observations.bin.
    pub torn_bytes: u64,
    /// The count read after the kill, or why there is none.
    pub final_count: Result<u64, String>,
    /// Where that count was read (`--host`).
    pub final_count_from: Option<String>,
}

/// Why a killed run's count after the load is unknown without `--host`.
pub fn no_final_count(start: &RunStart) -> String {
    if start.local_stage {
        "the run was killed before it read the count, and its local stage died with it (a stage given with --host can be read afterwards)".to_owned()
    } else {
        "the run was killed before it read the count; give --host to read it now".to_owned()
    }
}

/// A killed run, judged from what it left: its history up to the kill is
/// judged whole (uniqueness, real-time order, range); accounting and
/// completeness need the count read afterwards, and then allow for the
/// requests the kill kept off the disk (at most
/// [`RunStart::unrecorded_at_most`], judged as unknown operations). It
/// never passes: its thresholds saw part of a run, and without the count
/// the verdict is at best inconclusive.
pub fn judge_killed(start: &RunStart, ops: &[Observation], record: KilledRecord) -> Summary {
    let evidence = RunEvidence {
        other_nodes_write: start.other_nodes_write,
        initial: start.initial_count,
        final_count: *record.final_count.as_ref().unwrap_or(&start.initial_count),
        final_read_error: record.final_count.as_ref().err().cloned(),
        min_ok: start.thresholds.min_ok,
        cores: 0,
        interrupted: Some("a kill".to_owned()),
        windows: start.windows.clone(),
        per_user_rps: start.user_rate,
        unrecorded: start.unrecorded_at_most(),
        ..RunEvidence::of(start.facts())
    };
    let mut summary = analyse(evidence, ops, &start.thresholds.limits());
    summary.generator.note = Some(
        "the run was killed: its CPU was not measured, and neither were response sizes, Server-Timing or dropped arrivals".to_owned(),
    );
    summary.killed = Some(Killed {
        nodes: vec![start.node],
        records_on_disk: ops.len() as u64,
        torn_bytes: record.torn_bytes,
        unrecorded_at_most: start.unrecorded_at_most(),
        final_count_from: record.final_count_from,
    });
    list_run_files(&mut summary);
    summary
}

/// A run that ended itself, judged again from its observations and the
/// facts its summary recorded (and its run.json, where it has one).
pub fn rejudge(previous: &Summary, start: Option<&RunStart>, ops: &[Observation]) -> Summary {
    let thresholds = thresholds_of(previous);
    let mut summary = analyse(evidence_of(previous, start), ops, &thresholds);
    summary.start = previous.start.clone();
    if let Some(model) = previous.open_model {
        let dropped: Vec<u64> = previous.steps.iter().filter_map(|s| s.dropped).collect();
        // summary.json keeps no schedule end: the last answer stands for it.
        let last_s = ops.iter().map(|o| o.end_ns).max().unwrap_or(0) as f64 / 1e9;
        open::apply_model(
            &mut summary,
            model,
            &dropped,
            last_s,
            thresholds.max_error_rate,
        );
    }
    let windows: Vec<FaultWindow> = previous
        .faults
        .iter()
        .map(|f| FaultWindow {
            kind: f.kind.clone(),
            start_s: f.start_s,
            end_s: f.end_s,
        })
        .collect();
    judge_faults(&mut summary, ops, &windows, thresholds.max_error_rate);
    summary.files = previous.files.clone();
    if start.is_some() {
        list_run_files(&mut summary);
    }
    summary
}

/// The files a run writes as it goes, listed in summary.json.
pub fn list_run_files(summary: &mut Summary) {
    for (role, name) in [
        ("per_second", files::PER_SECOND),
        ("run_start", files::RUN_START),
    ] {
        summary.files.insert(role.into(), name.into());
    }
}

/// The thresholds a run judged itself by, as its summary states them.
fn thresholds_of(s: &Summary) -> Thresholds {
    let limit = |names: &[&str]| {
        s.thresholds
            .iter()
            .find(|t| names.contains(&t.name.as_str()))
            .map(|t| t.limit)
    };
    Thresholds {
        max_p99_ms: limit(&["p99_ms"]),
        max_error_rate: limit(&["error_rate", "error_rate_outside_faults"]).unwrap_or(0.01),
    }
}

/// Everything a summary says about its run besides its observations.
fn evidence_of(s: &Summary, start: Option<&RunStart>) -> RunEvidence {
    let open = s.open_model.is_some();
    let windows = s
        .steps
        .iter()
        .map(|st| StepWindow {
            users: st.users,
            from_s: st.from_s,
            to_s: st.to_s,
            rate: if open { st.offered_rps } else { None },
        })
        .collect();
    // Before run.json: a paced stepped run's offered rate is users × rate.
    let paced = || {
        let first = s.steps.first().filter(|_| !open)?;
        Some(first.offered_rps? / first.users.max(1) as f64)
    };
    RunEvidence {
        // A node's run was made with --node-id (1 and up); a lone run is node 0.
        other_nodes_write: start.map_or(s.run.nodes.iter().any(|&n| n > 0), |st| {
            st.other_nodes_write
        }),
        initial: s.initial_count,
        final_count: s.final_count,
        final_read_error: s.final_read_error.clone().or_else(|| legacy_read_error(s)),
        min_ok: start.map_or(DEFAULT_MIN_OK, |st| st.thresholds.min_ok),
        response_bytes_mean: s.response_bytes_mean,
        cpu_percent: s.generator.cpu_percent_of_one_core,
        cores: s.generator.cores,
        aborted: s.aborted.clone(),
        stopped_early: s.stopped_early.clone(),
        interrupted: s
            .interrupted_by
            .clone()
            .or_else(|| s.interrupted.then(|| "a signal".to_owned())),
        windows,
        per_user_rps: start.map_or_else(paced, |st| st.user_rate),
        server_timing: s.server_timing,
        ..RunEvidence::of(s.run.clone())
    }
}

/// Summaries written before `final_read_error` said it only in the
/// verdict's reason.
fn legacy_read_error(s: &Summary) -> Option<String> {
    let why = s.verdict.inconclusive_reason.as_deref()?;
    why.starts_with("the count after the run could not be read")
        .then(|| why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::checker::{CheckName, Status, VerdictStatus};
    use crate::analysis::observation::{Lateness, Outcome};
    use crate::analysis::run_start::tests::start;

    const MS: u64 = 1_000_000;

    /// Counts `initial + 1 ..= initial + n`, one user after another.
    fn history(initial: u64, n: u64) -> Vec<Observation> {
        (0..n)
            .map(|i| Observation::ok(i * 10 * MS, i * 10 * MS + 5 * MS, initial + 1 + i))
            .collect()
    }

    fn killed(final_count: Result<u64, String>) -> KilledRecord {
        KilledRecord {
            torn_bytes: 7,
            final_count,
            final_count_from: Some("http://127.0.0.1:1".into()),
        }
    }

    #[test]
    fn a_killed_run_without_its_final_count_is_never_a_pass() {
        let st = start();
        let s = judge_killed(&st, &history(5, 50), killed(Err(no_final_count(&st))));
        assert_eq!(s.verdict.status, VerdictStatus::Inconclusive);
        assert!(!s.passed);
        let why = s.verdict.inconclusive_reason.clone().unwrap_or_default();
        assert!(why.contains("give --host"), "{why}");
        let k = s.killed.expect("marked killed");
        assert_eq!((k.records_on_disk, k.torn_bytes), (50, 7));
    }

    /// With the count read afterwards: the kill's unrecorded requests
    /// (here 30 counted, never on disk) are allowed for, up to the bound,
    /// and the run still does not pass as a run.
    #[test]
    fn a_killed_run_with_its_final_count_allows_for_what_the_kill_kept_off_the_disk() {
        let st = start();
        let s = judge_killed(&st, &history(5, 50), killed(Ok(5 + 50 + 30)));
        assert_eq!(s.verdict.status, VerdictStatus::Pass, "{:#?}", s.verdict);
        assert_eq!(s.verdict.unrecorded, st.unrecorded_at_most());
        assert!(!s.passed, "a killed run never passes");
        let beyond = 5 + 50 + st.unrecorded_at_most() + 1;
        let s = judge_killed(&st, &history(5, 50), killed(Ok(beyond)));
        let accounting = s.verdict.get(CheckName::Accounting).expect("judged");
        assert_eq!(
            accounting.status,
            Status::Fail,
            "more than the kill explains"
        );
    }

    #[test]
    fn a_killed_runs_duplicates_fail_whatever_the_count() {
        let mut ops = history(5, 50);
        ops[20].count = ops[19].count;
        for final_count in [Ok(100), Err("no --host".to_owned())] {
            let s = judge_killed(&start(), &ops, killed(final_count));
            assert_eq!(s.verdict.status, VerdictStatus::Fail);
        }
    }

    #[test]
    fn a_complete_run_judged_again_gives_its_own_summary() {
        let mut ops = history(5, 40);
        ops.push(Observation {
            outcome: Outcome::Unknown,
            status: 503,
            count: 0,
            late: Lateness::from_ns(MS),
            ..Observation::ok(500 * MS, 510 * MS, 0)
        });
        let st = RunStart {
            initial_count: 5,
            ..start()
        };
        let evidence = RunEvidence {
            initial: 5,
            final_count: 46,
            min_ok: 10,
            cpu_percent: Some(40.0),
            cores: 2,
            ..RunEvidence::of(st.facts())
        };
        let limits = Thresholds {
            max_p99_ms: Some(50.0),
            max_error_rate: 0.05,
        };
        let original = analyse(evidence, &ops, &limits);
        let again = rejudge(&original, Some(&st), &ops);
        let json = |s: &Summary| {
            let mut v = serde_json::to_value(s).expect("serializes");
            v["files"] = serde_json::Value::Null;
            v
        };
        assert_eq!(json(&again), json(&original));
        assert_eq!(again.files["run_start"], files::RUN_START);
    }
}
