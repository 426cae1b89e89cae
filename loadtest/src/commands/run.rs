//! The default command, one load run: open the target, read the count,
//! let goose hammer `POST /visits` while every response is recorded, read
//! the count again, judge, and write the run directory. Returns the
//! summary; printing it is the caller's.

mod counting;
mod execute;
mod record;
mod workload;

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use goose::config::GooseConfiguration;

use super::cli::{HarnessArgs, RunArgs};
use crate::UsageError;
use crate::analysis::faults::judge_faults;
use crate::analysis::summary::Summary;
use crate::load::api::Api;
use crate::load::metrics::{self};
use crate::load::progress::Display;
use crate::load::target::{FaultSpec, Target};
use crate::load::users::{RunState, count_towards_the_bound};
use crate::load::{emulation, signals, status};
use crate::output::run_dir;

use counting::*;
use execute::*;
use record::*;
use workload::*;

/// Users when neither -u nor a test plan says.
pub const DEFAULT_USERS: usize = 32;

/// Seconds when neither -t nor a test plan says: a short run.
pub const DEFAULT_RUN_SECS: usize = 10;

pub use crate::load::users::DEFAULT_TIMEOUT_SECS;

/// The open model's pool when `--max-users` does not say.
pub const DEFAULT_MAX_USERS: usize = 100;

/// Runs the load test; returns the summary (written to the run directory).
pub async fn run(args: RunArgs) -> anyhow::Result<Summary> {
    let RunArgs { harness, mut goose } = args;
    let baseline = checked(&harness, &goose)?;
    let options = api_options(&harness);
    let metrics = metrics::bind(harness.metrics_addr).await?;
    signals::install();
    let quiet = goose.quiet > 0;
    let run_id = harness.run_id.clone().unwrap_or_else(new_run_id);
    let key = counter_key(&harness, &run_id);

    let mut target = open_target(&harness, &goose).await?;
    goose.host = Some(target.host.clone());
    let mut api = Api::new(&target.host, &key, &options)?;
    let node = harness.node_id.map_or(0, NonZeroU16::get);
    let shown = format!(
        "Target {}, counter {}",
        target.host,
        api.counter_shown(&key)
    );
    let before = before_the_load(&mut api, &shown, harness.start_at.as_ref(), quiet, node).await?;

    let workload = Workload::of(&harness, &goose);
    let state = Arc::new(RunState::new(
        sending(&api)?,
        node,
        before.initial,
        &user_rules(&harness, &workload),
        before.clock,
    )?);
    for op in &before.ops {
        state.record_outside_the_load(*op);
    }
    count_towards_the_bound(&state, before.ops.len() as u64);
    let dir = run_dir::path(&harness.out_dir, &run_id, harness.node_id);
    let started = run_start(&harness, &workload, &target, &state, &run_id, &before, &api);
    let (live, record) = start_live(&dir, metrics, &state, &started)?;

    let attack = build_attack(goose, &workload, state.clone(), &dir)?;
    target.start_faults(state.clock)?;
    let display = Display::for_stderr(quiet);
    let execution = execute_bounded(attack, &state, harness.max_duration, &workload, display).await;

    let faults = target.stop_faults().await;
    let final_read = count_after(&mut api, &state, node).await;
    let stage = emulation::finish(&target, &dir);
    drop(target);
    settle_arrivals(&state);
    let (final_metrics, streamed) = (live.finish(), record.finish());
    let state = Arc::into_inner(state).context("users still hold the recorder")?;
    // Judged by the facts and thresholds run.json stated when the load began.
    let (mut summary, ops) = judge(
        state,
        &started,
        &workload,
        execution,
        (before.initial, final_read),
    );
    summary.start = before.start;
    emulation::record(&mut summary, stage);
    judge_faults(&mut summary, &ops, &faults, harness.max_error_rate);
    run_dir::finish_run(&dir, &summary, &ops, &streamed, baseline.as_ref())?;
    final_metrics.linger(harness.metrics_linger).await;
    Ok(summary)
}

/// The flags checked before anything starts (bad ones: exit 2, nothing
/// changed), and the `--baseline` they name, read now.
fn checked(
    harness: &HarnessArgs,
    goose: &GooseConfiguration,
) -> anyhow::Result<Option<run_dir::Baseline>> {
    // Everything else was checked as the command line was read (cli.rs).
    if goose.dashboard {
        return Err(UsageError(
            "--dashboard: this build has no goose dashboard; progress shows on stderr (use -q to hide it)".into(),
        )
        .into());
    }
    if goose.running_metrics.is_some() {
        return Err(UsageError(
            "--running-metrics: loadtest shows its own progress on stderr each second (use -q to hide it)".into(),
        )
        .into());
    }
    emulation::spec(harness, goose.host.as_deref())?;
    api_options(harness).check()?;
    if let Some(spec) = fault_spec(harness) {
        crate::load::target::check_faults(&spec)?;
    }
    let baseline = harness.baseline.as_deref();
    baseline.map(run_dir::read_baseline).transpose()
}

/// The `--host`, or the local stage (with its faults, if asked for).
async fn open_target(harness: &HarnessArgs, goose: &GooseConfiguration) -> anyhow::Result<Target> {
    let faults = fault_spec(harness);
    let target = match emulation::spec(harness, goose.host.as_deref())? {
        Some(spec) => emulation::open(&spec, &harness.path_prefix).await?,
        None => Target::open(goose.host.as_deref(), &harness.path_prefix, faults.as_ref()).await?,
    };
    if let Some(signal) = signals::interrupted() {
        anyhow::bail!(
            "{} received before the load started: nothing was sent",
            signal.name()
        );
    }
    warm_up_local_stage(harness, goose, &target).await;
    Ok(target)
}

/// `--faults` and its timing, if given.
fn fault_spec(h: &HarnessArgs) -> Option<FaultSpec> {
    (!h.faults.is_empty()).then(|| FaultSpec {
        kinds: h.faults.clone(),
        interval_s: h.fault_interval,
        duration_s: h.fault_duration,
    })
}

/// A plain run on the local stage first warms it up, unmeasured, on a key
/// of its own (a stepped run warms up inside its test plan).
async fn warm_up_local_stage(harness: &HarnessArgs, goose: &GooseConfiguration, target: &Target) {
    let stepped = !harness.steps.is_empty() || !harness.rate_steps.is_empty();
    if !target.is_local_stage() || target.is_emulated() || stepped || harness.warmup_secs == 0 {
        return;
    }
    let key = format!("{}/warm-up", harness.path_prefix.trim_end_matches('/'));
    let users = Workload::of(harness, goose).peak_users;
    status(&format!(
        "Warming the local stage up for {} s (unmeasured, counter {key}) ...",
        harness.warmup_secs
    ));
    let secs = Duration::from_secs(harness.warmup_secs);
    match Api::ours(&target.host, &key) {
        Ok(api) => {
            let n = crate::load::warmup::warm_up(api.client(), &api.counting, users, secs).await;
            tracing::info!("warm-up: {n} requests answered 200");
        }
        Err(e) => tracing::warn!("no warm-up: {e}"),
    }
}

/// The counter this run increments: a real page (`--path`; others visit it
/// too) or the run's own key (`{key}` in the requests).
fn counter_key(harness: &HarnessArgs, run_id: &str) -> String {
    match &harness.path {
        Some(p) => p.clone(),
        None => format!("{}/{run_id}", harness.path_prefix.trim_end_matches('/')),
    }
}

fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{:04x}", now.as_secs(), rand::random::<u16>())
}
