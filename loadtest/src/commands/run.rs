//! The default command, one load run: open the target, read the count,
//! let goose hammer `POST /visits` while every response is recorded, read
//! the count again, judge, and write the run directory. Returns the
//! summary; printing it is the caller's.

use std::num::NonZeroU16;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;

use super::cli::{HarnessArgs, RunArgs};
use crate::UsageError;
use crate::analysis::analyse::{RunEvidence, Thresholds, analyse};
use crate::analysis::faults::judge_faults;
use crate::analysis::observation::Observation;
use crate::analysis::open::{self, OpenEvidence};
use crate::analysis::run_start::{self, RunStart, StartThresholds};
use crate::analysis::stats::StepWindow;
use crate::analysis::summary::{RunFacts, Summary, files};
use crate::load::api::{Api, ApiOptions, ProbeFailed};
use crate::load::arrival::{RateSegment, constant_rate, rate_at, rate_steps};
use crate::load::client::Endpoint;
use crate::load::metrics::{self, LiveExport, RunLabels};
use crate::load::progress::{self, Display, Snapshot};
use crate::load::request::CountingRequest;
use crate::load::schedule::{step_schedule, test_plan_peak};
use crate::load::target::{NemesisSpec, Target};
use crate::load::users::{
    RunState, Sending, UserRules, count_towards_the_bound, visit_transaction,
};
use crate::load::{cpu, emulation, signals, start, status, stream};
use crate::output::run_dir;

/// Users when neither -u nor a test plan says.
pub const DEFAULT_USERS: usize = 32;
/// Seconds when neither -t nor a test plan says: a short run.
pub const DEFAULT_RUN_SECS: usize = 10;
/// Seconds a request may take (goose's `--timeout`) before it is unknown.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// The open model's pool when `--max-users` does not say.
pub const DEFAULT_MAX_USERS: usize = 100;

/// How the users are scheduled: goose's own options, or `--steps`.
#[derive(Clone)]
struct Workload {
    /// The goose test plan `--steps` makes, if any.
    step_plan: Option<String>,
    /// The windows in which steps are measured.
    windows: Vec<StepWindow>,
    /// A user plan the user gave goose (`--test-plan`).
    user_plan: Option<usize>,
    peak_users: usize,
    /// How long the load is meant to last, where the harness knows.
    planned: Option<Duration>,
    /// The open model's arrival schedule (`--arrival-rate`, `--rate-steps`);
    /// `windows` and these count from its origin.
    open: Option<Vec<RateSegment>>,
}

impl Workload {
    fn of(harness: &HarnessArgs, goose: &GooseConfiguration) -> Self {
        if let Some(open) = Self::open(harness, goose) {
            return open;
        }
        let user_plan = goose_test_plan_peak(goose);
        if harness.steps.is_empty() {
            let peak_users = user_plan.or(goose.users).unwrap_or(DEFAULT_USERS);
            let run_secs = match &goose.run_time {
                Some(t) => timespan_secs(t).ok(),
                None if user_plan.is_none() => Some(DEFAULT_RUN_SECS as u64),
                None => None,
            };
            return Self {
                step_plan: None,
                windows: vec![],
                user_plan,
                peak_users,
                planned: run_secs.map(Duration::from_secs),
                open: None,
            };
        }
        let (plan, windows) = step_schedule(&harness.steps, harness.step_secs, harness.warmup_secs);
        let end = windows.last().map_or(0.0, |w| w.to_s + 1.0);
        Self {
            step_plan: Some(plan),
            windows,
            user_plan,
            peak_users: harness.steps.iter().copied().max().unwrap_or(1),
            planned: Some(Duration::from_secs_f64(end)),
            open: None,
        }
    }

    /// The open model: a pool of `--max-users` serving an arrival
    /// schedule, one rate for `-t` or `--rate-steps` in turn.
    fn open(harness: &HarnessArgs, goose: &GooseConfiguration) -> Option<Self> {
        let pool = harness.max_users.map_or(DEFAULT_MAX_USERS, |n| n as usize);
        let (segments, windows) = match harness.arrival_rate {
            Some(rate) => {
                let secs = goose
                    .run_time
                    .as_deref()
                    .and_then(|t| timespan_secs(t).ok());
                let secs = secs.unwrap_or(DEFAULT_RUN_SECS as u64);
                (constant_rate(rate, secs as f64), vec![])
            }
            None if !harness.rate_steps.is_empty() => rate_steps(
                &harness.rate_steps,
                harness.step_secs,
                harness.warmup_secs,
                pool,
            ),
            None => return None,
        };
        let end = segments.iter().map(|s| s.to_s).fold(0.0, f64::max);
        Some(Self {
            step_plan: None,
            windows,
            user_plan: None,
            peak_users: pool,
            planned: Some(Duration::from_secs_f64(end)),
            open: Some(segments),
        })
    }

    /// The arrival rate offered `elapsed` into the schedule (open model only).
    fn offered_at(&self, elapsed: Duration) -> Option<f64> {
        rate_at(self.open.as_deref()?, elapsed.as_secs_f64())
    }

    /// A step as progress names it: its users, or its offered rate.
    fn step_label(w: &StepWindow) -> String {
        match w.rate {
            Some(r) => format!("{r}/s offered"),
            None => format!("{} users", w.users),
        }
    }

    /// What the users are doing `elapsed` into the workload (the open
    /// model's schedule, from its origin; else the run), for progress.
    fn phase(&self, elapsed: Duration) -> String {
        let t = elapsed.as_secs_f64();
        if self.windows.is_empty() {
            return match (self.user_plan, self.offered_at(elapsed)) {
                (Some(peak), _) => format!("test plan, up to {peak} users"),
                (None, Some(r)) => format!("open, {r}/s offered, {} users", self.peak_users),
                (None, None) if self.open.is_some() => "open, schedule done".to_owned(),
                (None, None) => format!("{} users", self.peak_users),
            };
        }
        let n = self.windows.len();
        // A closed step begins with a 1 s ramp; an open one at once.
        let ramp = if self.open.is_some() { 0.0 } else { 1.0 };
        match self.windows.iter().position(|w| t < w.to_s) {
            Some(0) if t < self.windows[0].from_s - ramp => {
                format!("warm-up, {}", Self::step_label(&self.windows[0]))
            }
            Some(i) => format!("step {}/{n}, {}", i + 1, Self::step_label(&self.windows[i])),
            None if self.open.is_some() => "schedule done".to_owned(),
            None => "ramping down".to_owned(),
        }
    }
}

/// The peak users of goose's `--test-plan`, if one was given (the field is
/// private to goose; its serialized form is not).
fn goose_test_plan_peak(goose: &GooseConfiguration) -> Option<usize> {
    let v = serde_json::to_value(goose).ok()?;
    test_plan_peak(&v["test_plan"])
}

/// What goose's run left: its result, the wall time and the CPU it used.
struct Execution {
    goose_error: Option<String>,
    wall: Duration,
    cpu: Option<Duration>,
    started_at_unix_ns: u64,
}

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
    target.start_nemesis(state.clock)?;
    let display = Display::for_stderr(quiet);
    let execution = execute_bounded(attack, &state, harness.max_duration, &workload, display).await;

    let faults = target.stop_nemesis().await;
    let final_read = count_after(&mut api, &state, node).await;
    let stage = emulation::finish(&target, &dir);
    let facts = RunFacts {
        run_id,
        nodes: vec![node],
        host: target.host.clone(),
        local_stage: target.is_local_stage(),
        path: key,
        outside_traffic: harness.path.is_some() || api.shared,
        started_at_unix_ns: execution.started_at_unix_ns,
        users: workload.peak_users,
        api: Some(api.described.clone()),
    };
    drop(target);
    settle_arrivals(&state);
    let (final_metrics, streamed) = (live.finish(), record.finish());
    let state = Arc::into_inner(state).context("users still hold the recorder")?;
    let (mut summary, ops) = judge(
        state,
        facts,
        &harness,
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

/// The API's description from the command line.
fn api_options(h: &HarnessArgs) -> ApiOptions {
    let a = &h.api;
    ApiOptions {
        request: CountingRequest {
            line: a.request.clone(),
            body: a
                .request_body
                .clone()
                .map(bytes::Bytes::from)
                .unwrap_or_default(),
            headers: a.headers.clone(),
        },
        count_at: a.count_at.clone(),
        read: a.read.clone(),
        read_count_at: a.read_count_at.clone(),
        exclusive: a.exclusive,
        failed_status: a.failed_status.clone(),
        cacert: a.cacert.clone(),
    }
}

/// What the users send and how its answers are judged.
fn sending(api: &Api) -> anyhow::Result<Sending> {
    Ok(Sending {
        client: api.client().clone(),
        request: api.counting.clone(),
        rule: api
            .rule()
            .context("the first answer did not show where the count is")?,
    })
}

/// What the run knows before its load: the count, the common start, and
/// the requests it already sent (the first counting request).
struct BeforeTheLoad {
    initial: u64,
    start: crate::analysis::summary::Start,
    /// Observation times count from here.
    clock: Instant,
    ops: Vec<Observation>,
}

/// Reads the count (or, with `--read none`, takes it from the first
/// counting request), waits for `--start-at`, and, for an API other than
/// ours, sends the first counting request, which shows where the count is
/// in the answers.
async fn before_the_load(
    api: &mut Api,
    shown: &str,
    start_at: Option<&start::StartAt>,
    quiet: bool,
    node: u16,
) -> anyhow::Result<BeforeTheLoad> {
    let read = if api.reads_by_counting() {
        None
    } else {
        let initial = api
            .read()
            .await
            .context("reading the count before the run")?;
        status(&format!("{shown} (count {initial} before the run)"));
        Some(initial)
    };
    let start = start::wait(start_at, quiet).await?;
    let clock = Instant::now();
    if api.is_contract() && read.is_some() {
        // Our own API: where the count is, is known; the first counting
        // request is the load's.
        return Ok(BeforeTheLoad {
            initial: read.unwrap_or_default(),
            start,
            clock,
            ops: vec![],
        });
    }
    let probe = api
        .probe(clock, node, read.is_none())
        .await
        .context("the first counting request")?;
    let initial = match (read, probe.count) {
        (Some(n), _) => n,
        (None, None) => anyhow::bail!("the first counting request answered no count"),
        (None, Some(count)) => {
            let initial = count.checked_sub(1).ok_or_else(|| {
                UsageError(
                    "the first counting request answered 0: with --read none the count must be the visit's number (1 for the first visit), not the count before it".into(),
                )
            })?;
            status(&format!(
                "{shown} (count {initial} before the run: the first counting request's, less one)"
            ));
            initial
        }
    };
    Ok(BeforeTheLoad {
        initial,
        start,
        clock,
        ops: probe.ops,
    })
}

/// The count after the load: read, or (`--read none`) told by one more
/// counting request, recorded as an operation of the history. An error
/// keeps the run's record: the verdict says what it could not judge.
async fn count_after(api: &mut Api, state: &RunState, node: u16) -> Result<u64, String> {
    let counted = if api.reads_by_counting() {
        match api.probe(state.clock, node, true).await {
            Ok(probe) => {
                probe
                    .ops
                    .iter()
                    .for_each(|op| state.record_outside_the_load(*op));
                probe
                    .count
                    .ok_or_else(|| anyhow::anyhow!("the last counting request answered no count"))
            }
            Err(e) => {
                if let Some(failed) = e.downcast_ref::<ProbeFailed>() {
                    failed
                        .ops
                        .iter()
                        .for_each(|op| state.record_outside_the_load(*op));
                }
                Err(e)
            }
        }
    } else {
        api.read().await
    };
    counted.map_err(|e| {
        let e = format!("{e:#}");
        status(&format!("could not read the count after the run: {e}"));
        e
    })
}

/// Wall clock at the run's time zero (its clock's start).
fn started_at_unix_ns(state: &RunState) -> u64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    now.saturating_sub(state.clock.elapsed().as_nanos() as u64)
}

/// The flags checked before anything starts (bad ones: exit 2, nothing
/// changed), and the `--baseline` they name, read now.
fn checked(
    harness: &HarnessArgs,
    goose: &GooseConfiguration,
) -> anyhow::Result<Option<run_dir::Baseline>> {
    validate(harness, goose)?;
    validate_goose(goose)?;
    let baseline = harness.baseline.as_deref();
    baseline.map(run_dir::read_baseline).transpose()
}

/// The command line as run.json keeps it: header values (`-H`: API keys,
/// tokens) replaced, names kept.
fn redacted(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut next_is_header = false;
    for arg in args {
        let (flag, value) = match arg.split_once('=') {
            Some((f, v)) if f == "--header" => (Some(f), Some(v.to_owned())),
            _ if arg.starts_with("-H") && arg.len() > 2 => (Some("-H"), Some(arg[2..].to_owned())),
            _ => (None, None),
        };
        let hide = |h: &str| match h.split_once(':') {
            Some((name, _)) => format!("{name}: (redacted)"),
            None => "(redacted)".to_owned(),
        };
        if next_is_header {
            out.push(hide(&arg));
            next_is_header = false;
        } else if let (Some(flag), Some(value)) = (flag, value) {
            let sep = if flag == "--header" { "=" } else { "" };
            out.push(format!("{flag}{sep}{}", hide(&value)));
        } else {
            next_is_header = arg == "-H" || arg == "--header";
            out.push(arg);
        }
    }
    out
}

/// run.json: what a later `loadtest report` needs if this run is killed.
fn run_start(
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
fn start_live(
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

/// The `--host`, or the local stage (with its nemesis, if asked for).
async fn open_target(harness: &HarnessArgs, goose: &GooseConfiguration) -> anyhow::Result<Target> {
    let nemesis = nemesis_spec(harness);
    let target = match emulation::spec(harness, goose.host.as_deref())? {
        Some(spec) => emulation::open(&spec, &harness.path_prefix).await?,
        None => {
            Target::open(
                goose.host.as_deref(),
                &harness.path_prefix,
                nemesis.as_ref(),
            )
            .await?
        }
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

/// `--nemesis` and its timing, if given.
fn nemesis_spec(h: &HarnessArgs) -> Option<NemesisSpec> {
    (!h.nemesis.is_empty()).then(|| NemesisSpec {
        kinds: h.nemesis.clone(),
        interval_s: h.nemesis_interval,
        duration_s: h.nemesis_duration,
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

/// The bounds and rules the users obey, from the flags.
fn user_rules(harness: &HarnessArgs, workload: &Workload) -> UserRules {
    UserRules {
        arrivals: workload.open.clone(),
        abort_error_rate: harness.abort_error_rate,
        abort_min_requests: harness.abort_min_requests,
        max_requests: harness.max_requests,
        max_memory_bytes: (harness.max_memory * 1_048_576.0) as u64,
        user_interval: harness.user_rate.map(|r| Duration::from_secs_f64(1.0 / r)),
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

/// Goose, configured with this harness's defaults and the workload.
fn build_attack(
    goose: GooseConfiguration,
    workload: &Workload,
    state: Arc<RunState>,
    dir: &std::path::Path,
) -> anyhow::Result<Box<GooseAttack>> {
    let mut goose = goose;
    if let Some(end) = workload.planned.filter(|_| workload.open.is_some()) {
        // The pool idles out the schedule's last second: goose counts its
        // run time from when all users are up, the schedule from its origin.
        goose.run_time = Some((end.as_secs_f64().ceil() as u64 + 1).to_string());
    }
    let mut attack = GooseAttack::initialize_with_config(goose)?
        .register_scenario(scenario!("visitor").register_transaction(visit_transaction(state)))
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(
            GooseDefault::Timeout,
            DEFAULT_TIMEOUT_SECS.to_string().as_str(),
        )?
        .set_default(
            GooseDefault::ReportFile,
            dir.join(run_dir::GOOSE_REPORT).to_string_lossy().as_ref(),
        )?;
    // No request goes through goose's client, and goose 0.19 sends a
    // user's batch of transaction and scenario times only when a request
    // fills or ages it: they would pile up all run, 16 bytes a request
    // each (heaptrack). The harness records every iteration itself.
    attack = attack
        .set_default(GooseDefault::NoTransactionMetrics, true)?
        .set_default(GooseDefault::NoScenarioMetrics, true)?;
    // Goose refuses these beside a test plan, defaults included.
    if let Some(plan) = &workload.step_plan {
        attack = attack.set_default(GooseDefault::TestPlan, plan.as_str())?;
    } else if workload.user_plan.is_none() {
        let users = workload.peak_users;
        // The open model's whole pool starts within 10 ms, before its
        // first arrival; a closed run's users within the first second.
        let per_second = if workload.open.is_some() {
            users * 100
        } else {
            users
        };
        attack = attack
            .set_default(GooseDefault::Users, users)?
            .set_default(GooseDefault::IncreaseRate, per_second.to_string().as_str())?
            .set_default(GooseDefault::RunTime, DEFAULT_RUN_SECS)?
            .set_default(GooseDefault::NoResetMetrics, true)?;
    }
    Ok(attack)
}

/// Runs goose under the hard time bound, whatever goose's own options say,
/// showing progress once a second and passing on an interruption.
async fn execute_bounded(
    attack: Box<GooseAttack>,
    state: &Arc<RunState>,
    max_secs: u64,
    workload: &Workload,
    display: Display,
) -> Execution {
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = tokio::spawn(watch(
        state.clone(),
        finished.clone(),
        Duration::from_secs(max_secs),
        Progress {
            display,
            workload: workload.clone(),
        },
    ));
    let started_at_unix_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
        - state.clock.elapsed().as_nanos() as u64;
    let cpu_before = cpu::process_cpu();
    let wall = Instant::now();
    let result = attack.execute().await;
    let wall = wall.elapsed();
    let cpu = cpu::process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    finished.store(true, Ordering::Relaxed);
    // However goose ended, the load has stopped: the schedule's figures
    // end here at the latest (a stop closed the queue earlier).
    if let Some(arrivals) = &state.arrivals {
        arrivals.close();
    }
    let _ = watchdog.await;
    goose::reset_killswitch();
    Execution {
        goose_error: result.err().map(|e| format!("goose: {e}")),
        wall,
        cpu,
        started_at_unix_ns,
    }
}

struct Progress {
    display: Display,
    workload: Workload,
}

/// Until goose finishes: stops the run at its time bound, passes a signal
/// on to goose (which clears its killswitch when it starts), and shows
/// progress each second.
async fn watch(state: Arc<RunState>, finished: Arc<AtomicBool>, limit: Duration, mut p: Progress) {
    let deadline = Instant::now() + limit;
    let mut last = (Instant::now(), 0u64);
    while !finished.load(Ordering::Relaxed) {
        if Instant::now() >= deadline {
            state.stop(format!("reached --max-duration {} s", limit.as_secs()));
        }
        if let Some(signal) = signals::interrupted()
            && !goose::is_killswitch_triggered()
        {
            goose::trigger_killswitch(&format!("{} received", signal.name()));
        }
        // Once the run is being stopped (any reason: a bound, an abort, a
        // signal, goose's own), users stop taking arrivals and those
        // waiting for one are released: the ones falling due then were
        // not for want of a free user.
        if let Some(arrivals) = &state.arrivals {
            if goose::is_killswitch_triggered() {
                arrivals.close();
            }
            arrivals.drop_overdue(&state.live.dropped);
        }
        if last.0.elapsed() >= Duration::from_secs(1) {
            let total = state.live.total();
            let rps = (total - last.1) as f64 / last.0.elapsed().as_secs_f64();
            last = (Instant::now(), total);
            let elapsed = state.clock.elapsed();
            let at = workload_time(&state);
            p.display.show(progress::line(&Snapshot {
                elapsed,
                planned: p.workload.planned,
                phase: &p.workload.phase(at),
                rps,
                offered_rps: p.workload.offered_at(at),
                stats: &state.live,
            }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    p.display.finish();
}

/// Where the workload is, for progress: the open model's schedule counts
/// from its origin (its start, until a user has claimed), a closed run's
/// steps from the run's clock.
fn workload_time(state: &RunState) -> Duration {
    match &state.arrivals {
        Some(queue) => queue.origin().map_or(Duration::ZERO, |o| {
            Instant::now().saturating_duration_since(o)
        }),
        None => state.clock.elapsed(),
    }
}

/// Everything the run saw → the summary, and the observations it judged.
fn judge(
    state: RunState,
    run: RunFacts,
    harness: &HarnessArgs,
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
        run,
        other_nodes_write: harness.node_id.is_some(),
        initial,
        final_count: *final_read.as_ref().unwrap_or(&initial),
        final_read_error: final_read.err(),
        cross_node_skew_ns: 0,
        min_ok: harness.min_ok,
        response_bytes_mean,
        cpu_percent,
        cores,
        aborted,
        stopped_early,
        interrupted,
        windows,
        per_user_rps: harness.user_rate,
        server_timing,
        unrecorded: 0,
    };
    let thresholds = Thresholds {
        max_p99_ms: harness.max_p99,
        max_error_rate: harness.max_error_rate,
    };
    let mut summary = analyse(evidence, &ops, &thresholds);
    if let Some(open) = &open {
        open::apply(&mut summary, open, &ops, harness.max_error_rate);
    }
    // Written while the run went (a merge has none).
    summary
        .files
        .insert("per_second".into(), files::PER_SECOND.into());
    summary
        .files
        .insert("run_start".into(), files::RUN_START.into());
    (summary, ops)
}

/// The open model's arrivals that fell due before the load stopped (the
/// schedule's end, or the stop `close` recorded) and no user took are
/// dropped, before the final figures are exported, so /metrics counts them.
fn settle_arrivals(state: &RunState) {
    if let Some(queue) = &state.arrivals {
        queue.finish(&state.live.dropped);
    }
}

/// The open model's record on the run's clock, and the step windows moved
/// from the schedule's origin onto it; a closed run's windows unchanged.
fn open_evidence(state: &RunState, workload: &Workload) -> (Option<OpenEvidence>, Vec<StepWindow>) {
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

fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{:04x}", now.as_secs(), rand::random::<u16>())
}

/// A goose time span as goose reads it: whole seconds (`90`), or hours,
/// minutes and seconds in that order, each at most once (`1h2m3s`, `90s`).
pub fn timespan_secs(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "{text:?} is not a time span: use whole seconds or h, m, s in that order, such as 90, 90s or 1h2m3s"
        )
    };
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let mut total = 0u64;
    let mut rest = text;
    let mut smallest_unit_so_far = u64::MAX;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match rest[digits..].chars().next() {
            Some('h') => 3600,
            Some('m') => 60,
            Some('s') => 1,
            _ => return Err(bad()),
        };
        if digits == 0 || scale >= smallest_unit_so_far {
            return Err(bad());
        }
        smallest_unit_so_far = scale;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        total = n
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[digits + 1..];
    }
    if text.is_empty() {
        Err(bad())
    } else {
        Ok(total)
    }
}

/// Checks goose's options with goose's own rules before anything starts
/// (goose itself checks them only when the load begins, after the local
/// stage is up), naming the option.
fn validate_goose(goose: &GooseConfiguration) -> Result<(), UsageError> {
    if goose.users == Some(0) {
        return Err(UsageError("--users (-u) must be at least 1".into()));
    }
    for (flag, value) in [
        ("--run-time (-t)", &goose.run_time),
        ("--increase-time (-s)", &goose.increase_time),
        ("--decrease-time", &goose.decrease_time),
    ] {
        if let Some(v) = value {
            timespan_secs(v).map_err(|e| UsageError(format!("{flag}: {e}")))?;
        }
    }
    for (flag, value) in [
        ("--increase-rate (-r)", &goose.increase_rate),
        ("--decrease-rate", &goose.decrease_rate),
        ("--timeout", &goose.timeout),
    ] {
        if let Some(v) = value
            && !v.parse::<f64>().is_ok_and(|n| n.is_finite() && n > 0.0)
        {
            return Err(UsageError(format!(
                "{flag}: {v:?} is not a positive number"
            )));
        }
    }
    if goose.dashboard {
        return Err(UsageError(
            "--dashboard: this build has no goose dashboard; progress shows on stderr (use -q to hide it)".into(),
        ));
    }
    if goose.running_metrics.is_some() {
        return Err(UsageError(
            "--running-metrics: loadtest shows its own progress on stderr each second (use -q to hide it)".into(),
        ));
    }
    Ok(())
}

/// Checks the harness's own options before anything starts.
fn validate(h: &HarnessArgs, goose: &GooseConfiguration) -> Result<(), UsageError> {
    if let Some(p) = &h.path {
        counter_api::validate_path(p).map_err(|e| UsageError(format!("--path {p:?}: {e}")))?;
    }
    counter_api::validate_path(&format!("{}/x", h.path_prefix))
        .map_err(|e| UsageError(format!("--path-prefix {:?}: {e}", h.path_prefix)))?;
    if let Some(host) = &goose.host {
        Endpoint::parse(host).map_err(|e| UsageError(e.to_string()))?;
    }
    if let Some(r) = h.user_rate
        && !(r > 0.0 && r.is_finite())
    {
        return Err(UsageError("--user-rate must be a positive number".into()));
    }
    validate_open(h, goose)?;
    emulation::spec(h, goose.host.as_deref())?;
    if !h.nemesis.is_empty() {
        let refuse = |why: &str| Err(UsageError(format!("--nemesis: {why}")));
        if goose.host.is_some() {
            return refuse("it acts on the local stage; leave out --host");
        }
        if !h.steps.is_empty() || !h.rate_steps.is_empty() {
            return refuse(
                "not with --steps or --rate-steps (faults would blur the steps' figures)",
            );
        }
        if h.nemesis_duration >= h.nemesis_interval {
            return refuse("--nemesis-duration must be shorter than --nemesis-interval");
        }
    }
    if !h.steps.is_empty() {
        if h.steps.contains(&0) {
            return Err(UsageError(
                "--steps: each step needs at least one user".into(),
            ));
        }
        if goose_test_plan_peak(goose).is_some()
            || goose.users.is_some()
            || goose.run_time.is_some()
        {
            return Err(UsageError(
                "--steps makes its own test plan: leave out --test-plan, --users and --run-time"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// The open model's options: one schedule, its own pool, and none of the
/// closed model's options beside it.
fn validate_open(h: &HarnessArgs, goose: &GooseConfiguration) -> Result<(), UsageError> {
    let flag = match (h.arrival_rate.is_some(), !h.rate_steps.is_empty()) {
        (true, true) => {
            return Err(UsageError(
                "--arrival-rate and --rate-steps: give one (--rate-steps is the stepped form)"
                    .into(),
            ));
        }
        (true, false) => "--arrival-rate",
        (false, true) => "--rate-steps",
        (false, false) if h.max_users.is_some() => {
            return Err(UsageError(
                "--max-users sizes the open model's pool: give --arrival-rate or --rate-steps too"
                    .into(),
            ));
        }
        (false, false) => return Ok(()),
    };
    let conflicts = [
        (
            h.user_rate.is_some(),
            "--user-rate",
            "it paces a closed loop's users",
        ),
        (
            !h.steps.is_empty(),
            "--steps",
            "--rate-steps is the stepped form in arrival rates",
        ),
        (
            goose.users.is_some(),
            "--users (-u)",
            "the pool is --max-users",
        ),
        (
            goose.increase_rate.is_some(),
            "--increase-rate (-r)",
            "the whole pool starts before the first arrival",
        ),
        (
            goose_test_plan_peak(goose).is_some(),
            "--test-plan",
            "the arrival schedule is the plan",
        ),
        (
            flag == "--rate-steps" && goose.run_time.is_some(),
            "--run-time (-t)",
            "the steps' lengths are --warmup-secs and --step-secs",
        ),
    ];
    match conflicts.iter().find(|(given, _, _)| *given) {
        Some((_, other, why)) => Err(UsageError(format!("{flag}: not with {other} ({why})"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_workload_is_a_pool_and_a_schedule_and_progress_names_its_rates() {
        let workload = |args: &[&str]| {
            let cli =
                super::super::cli::parse_from([&["loadtest"], args].concat()).expect("valid flags");
            Workload::of(&cli.run.harness, &cli.run.goose)
        };
        let w = workload(&[
            "--rate-steps",
            "10,20",
            "--step-secs",
            "2",
            "--warmup-secs",
            "1",
        ]);
        assert_eq!(w.peak_users, DEFAULT_MAX_USERS);
        assert_eq!(w.planned, Some(Duration::from_secs(5)));
        let at = |s: f64| Duration::from_secs_f64(s);
        assert_eq!(w.phase(at(0.5)), "warm-up, 10/s offered");
        assert_eq!(w.phase(at(3.5)), "step 2/2, 20/s offered");
        assert_eq!(w.offered_at(at(3.5)), Some(20.0));
        assert_eq!(w.phase(at(5.5)), "schedule done");
        let w = workload(&["--arrival-rate", "50", "--max-users", "8", "-t", "4"]);
        assert_eq!((w.peak_users, w.planned), (8, Some(Duration::from_secs(4))));
        assert_eq!(w.phase(at(1.0)), "open, 50/s offered, 8 users");
        let closed = workload(&["-u", "3"]);
        assert_eq!(
            (closed.open.is_none(), closed.offered_at(at(1.0))),
            (true, None)
        );
    }

    #[test]
    fn time_spans_read_as_goose_reads_them() {
        assert_eq!(timespan_secs("90"), Ok(90));
        assert_eq!(timespan_secs("90s"), Ok(90));
        assert_eq!(timespan_secs("1h2m3s"), Ok(3723));
        assert_eq!(timespan_secs("2m"), Ok(120));
        for bad in ["", "10seconds", "s", "3s2m", "1m1m", "-1", "1.5s", "1h 2m"] {
            assert!(timespan_secs(bad).is_err(), "{bad:?} refused");
        }
    }
}
