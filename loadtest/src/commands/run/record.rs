//! What the run leaves: run.json as the load begins, the run directory's
//! live exports, and everything the run saw judged into the summary.

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;

use super::*;
use crate::analysis::analyse::{RunEvidence, analyse};
use crate::analysis::observation::Observation;
use crate::analysis::open::{self, OpenEvidence};
use crate::analysis::rejudge;
use crate::analysis::run_start::{self, RunStart, StartThresholds};
use crate::analysis::stats::StepWindow;
use crate::analysis::summary::Summary;
use crate::commands::cli::HarnessArgs;
use crate::load::api::Api;
use crate::load::metrics::{LiveExport, RunLabels};
use crate::load::target::Target;
use crate::load::users::RunState;
use crate::load::{signals, stream};

/// Wall clock at the run's time zero (its clock's start).
pub(super) fn started_at_unix_ns(state: &RunState) -> u64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    now.saturating_sub(state.clock.elapsed().as_nanos() as u64)
}

/// The command line as run.json keeps it: header values (`-H`: API keys,
/// tokens) and the request body replaced, query values in `--request` and
/// `--read` replaced; names kept. Short flags may come together (`-qH`).
pub(super) fn redacted(args: impl Iterator<Item = String>) -> Vec<String> {
    use crate::load::api::{REDACTED, redact_query};
    fn header(h: &str) -> String {
        match h.split_once(':') {
            Some((name, _)) => format!("{name}: {REDACTED}"),
            None => REDACTED.to_owned(),
        }
    }
    let mut out = Vec::new();
    // What the next argument is the value of, if it needs hiding.
    let mut pending: Option<fn(&str) -> String> = None;
    for arg in args {
        if let Some(hide) = pending.take() {
            out.push(hide(&arg));
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg.as_str(), None),
        };
        let hide: Option<fn(&str) -> String> = match flag {
            "--header" => Some(header),
            "--request-body" => Some(|_| REDACTED.to_owned()),
            "--request" | "--read" => Some(redact_query),
            _ => None,
        };
        match (hide, inline) {
            (Some(h), Some(v)) => out.push(format!("{flag}={}", h(v))),
            (Some(h), None) => {
                out.push(arg.clone());
                pending = Some(h);
            }
            (None, _) => match short_header(&arg) {
                Some((flags, Some(value))) => out.push(format!("{flags}{}", header(value))),
                Some((_, None)) => {
                    out.push(arg.clone());
                    pending = Some(header);
                }
                None => out.push(arg),
            },
        }
    }
    out
}

/// A cluster of short flags ending in `-H` (`-H`, `-qH`, `-HName: v`):
/// the flags up to `H`, and the value attached after it, if any.
fn short_header(arg: &str) -> Option<(&str, Option<&str>)> {
    let rest = arg.strip_prefix('-').filter(|r| !r.starts_with('-'))?;
    let at = rest.find('H')?;
    if !rest[..at].chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = &rest[at + 1..];
    Some((&arg[..at + 2], (!value.is_empty()).then_some(value)))
}

/// run.json: what a later `loadtest report` needs if this run is killed.
pub(super) fn run_start(
    harness: &HarnessArgs,
    workload: &Workload,
    target: &Target,
    state: &RunState,
    run_id: &str,
    before: &BeforeTheLoad,
    api: &Api,
) -> RunStart {
    let path = counter_key(harness, run_id);
    let outside_traffic = harness.path.is_some() || api.shared;
    let initial = before.initial;
    use run_start::Model;
    let model = match (&workload.open, &workload.step_plan, workload.user_plan) {
        (Some(_), _, _) if !harness.rate_steps.is_empty() => Model::OpenStepped,
        (Some(_), _, _) => Model::Open,
        (None, Some(_), _) => Model::Stepped,
        (None, None, Some(_)) => Model::TestPlan,
        (None, None, None) if harness.user_rate.is_some() => Model::Paced,
        (None, None, None) => Model::Closed,
    };
    RunStart {
        schema_version: run_start::RUN_START_SCHEMA_VERSION,
        run_id: run_id.to_owned(),
        node: harness.node_id.map_or(0, NonZeroU16::get),
        host: target.host.clone(),
        local_stage: target.is_local_stage(),
        path,
        outside_traffic,
        other_nodes_write: harness.node_id.is_some(),
        initial_count: initial,
        users: workload.peak_users,
        model,
        planned_duration_s: workload.planned.map(|d| d.as_secs_f64()),
        started_at_unix_ns: started_at_unix_ns(state),
        thresholds: StartThresholds {
            max_p99_ms: harness.max_p99,
            max_error_rate: harness.max_error_rate,
            min_ok: harness.min_ok,
        },
        user_rate: harness.user_rate,
        // The open model's windows begin at its schedule's origin, known later.
        windows: match workload.open {
            None => workload.windows.clone(),
            Some(_) => vec![],
        },
        max_unwritten_records: crate::load::recorder::MAX_UNWRITTEN,
        command_line: redacted(std::env::args()),
        api: Some(api.described.clone()),
        loadtest_version: env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The run directory, made before the load, and what the run exports
/// while it goes (per-second.jsonl there; /metrics on `listener`), and
/// its record: run.json, and the observations streamed as they come.
pub(super) fn start_live(
    dir: &std::path::Path,
    listener: Option<tokio::net::TcpListener>,
    state: &Arc<RunState>,
    started: &RunStart,
) -> anyhow::Result<(LiveExport, stream::ObservationStream)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let labels = RunLabels {
        run_id: started.run_id.clone(),
        node: started.node,
    };
    let live = LiveExport::start(listener, state, dir, labels)?;
    Ok((live, stream::begin(dir, state, started)?))
}

/// Everything the run saw → the summary, and the observations it judged.
pub(super) fn judge(
    state: RunState,
    started: &RunStart,
    workload: &Workload,
    execution: Execution,
    (initial, final_read): (u64, Result<u64, String>),
) -> (Summary, Vec<Observation>) {
    let mut aborted = state.aborted.get().cloned();
    if let Some(e) = execution.goose_error {
        aborted.get_or_insert(e);
    }
    let response_bytes_mean = state.response_bytes_mean();
    let server_timing = state.server_timing();
    let stopped_early = state.stopped.get().cloned();
    let interrupted = signals::interrupted().map(|i| i.name().to_owned());
    let (open, windows) = open_evidence(&state, workload);
    let ops = state.recorder.into_sorted();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_percent = execution
        .cpu
        .map(|c| 100.0 * c.as_secs_f64() / execution.wall.as_secs_f64().max(1e-9));
    let evidence = RunEvidence {
        run: started.facts(),
        other_nodes_write: started.other_nodes_write,
        initial,
        final_count: *final_read.as_ref().unwrap_or(&initial),
        final_read_error: final_read.err(),
        cross_node_skew_ns: 0,
        min_ok: started.thresholds.min_ok,
        response_bytes_mean,
        cpu_percent,
        cores,
        aborted,
        stopped_early,
        interrupted,
        windows,
        per_user_rps: started.user_rate,
        server_timing,
        unrecorded: 0,
    };
    let mut summary = analyse(evidence, &ops, &started.thresholds.limits());
    if let Some(open) = &open {
        open::apply(&mut summary, open, &ops, started.thresholds.max_error_rate);
    }
    // Written while the run went (a merge has none).
    rejudge::list_run_files(&mut summary);
    (summary, ops)
}

/// The open model's record on the run's clock, and the step windows moved
/// from the schedule's origin onto it; a closed run's windows unchanged.
pub(super) fn open_evidence(
    state: &RunState,
    workload: &Workload,
) -> (Option<OpenEvidence>, Vec<StepWindow>) {
    let Some(queue) = &state.arrivals else {
        return (None, workload.windows.clone());
    };
    // Settled already (`settle_arrivals`): this only reads.
    let (until, arrivals) = queue.finish(&state.live.dropped);
    let origin_s = queue.origin().map_or(0.0, |o| {
        o.saturating_duration_since(state.clock).as_secs_f64()
    });
    let windows: Vec<StepWindow> = workload
        .windows
        .iter()
        .map(|w| StepWindow {
            from_s: w.from_s + origin_s,
            to_s: w.to_s + origin_s,
            ..*w
        })
        .collect();
    let by_segment = arrivals.dropped_by_segment();
    let evidence = OpenEvidence {
        max_users: workload.peak_users,
        from_s: origin_s,
        to_s: origin_s + until.as_secs_f64(),
        offered: arrivals.due_before(until),
        dropped: by_segment.iter().sum(),
        step_dropped: by_segment[by_segment.len().saturating_sub(windows.len())..].to_vec(),
    };
    (Some(evidence), windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_kept_out_of_the_recorded_command_line() {
        let args = [
            "loadtest",
            "-H",
            "X-Api-Key: s3cret",
            "-qH",
            "Authorization: Bearer t0ken",
            "-HCookie: c00kie",
            "--header=X-A: b",
            "--request",
            "POST /c?code=k3y&page={key}",
            "--read=GET /c?code=k3y",
            "--request-body",
            "{\"token\": \"x\"}",
            "-u",
            "4",
        ];
        let kept = redacted(args.iter().map(|a| a.to_string())).join(" ");
        for secret in ["s3cret", "t0ken", "c00kie", "k3y", "token"] {
            assert!(!kept.contains(secret), "{secret} in {kept}");
        }
        for kept_word in [
            "X-Api-Key",
            "Authorization",
            "Cookie",
            "page={key}",
            "-u 4",
            "-qH",
        ] {
            assert!(kept.contains(kept_word), "{kept_word} in {kept}");
        }
    }
}
