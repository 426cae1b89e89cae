//! Goose runs the users: configured with the harness's defaults and the
//! workload, bounded in time whatever goose's own options say, with
//! progress each second and a signal passed on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;

use super::*;
use crate::load::progress::{self, Display, Snapshot};
use crate::load::users::{RunState, visit_transaction};
use crate::load::{cpu, signals};
use crate::output::run_dir;

/// What goose's run left: its result, the wall time and the CPU it used.
pub(super) struct Execution {
    pub(super) goose_error: Option<String>,
    pub(super) wall: Duration,
    pub(super) cpu: Option<Duration>,
}

/// Goose, configured with this harness's defaults and the workload.
pub(super) fn build_attack(
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
pub(super) async fn execute_bounded(
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
    }
}

pub(super) struct Progress {
    pub(super) display: Display,
    pub(super) workload: Workload,
}

/// Until goose finishes: stops the run at its time bound, passes a signal
/// on to goose (which clears its killswitch when it starts), and shows
/// progress each second.
pub(super) async fn watch(
    state: Arc<RunState>,
    finished: Arc<AtomicBool>,
    limit: Duration,
    mut p: Progress,
) {
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
pub(super) fn workload_time(state: &RunState) -> Duration {
    match &state.arrivals {
        Some(queue) => queue.origin().map_or(Duration::ZERO, |o| {
            Instant::now().saturating_duration_since(o)
        }),
        None => state.clock.elapsed(),
    }
}

/// The open model's arrivals that fell due before the load stopped (the
/// schedule's end, or the stop `close` recorded) and no user took are
/// dropped, before the final figures are exported, so /metrics counts them.
pub(super) fn settle_arrivals(state: &RunState) {
    if let Some(queue) = &state.arrivals {
        queue.finish(&state.live.dropped);
    }
}
