//! The fault injector: faults injected on a schedule while load runs, after
//! Jepsen's. A [`FaultPlan`] is a value (kinds, interval, duration); a
//! [`FaultInjector`] runs it as a task owned by whoever started it (the local
//! stage), records the windows it actually applied, and undoes any fault
//! still on when it is stopped or dropped (a paused java is continued).
//!
//! Faults between the handler and DynamoDB go through the
//! [`crate::FaultProxy`]; process faults act on the java process the
//! stage's supervisor owns, and tell the supervisor a kill is deliberate,
//! so it restarts java without counting it towards a crash loop.

use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::fault_proxy::{FaultSwitch, ProxyFault};
use crate::supervisor::DatabaseHealth;

/// How long a deliberately killed DynamoDB Local may take to come back
/// before the fault injector stops waiting (the supervisor keeps trying).
const RESTART_WITHIN: Duration = Duration::from_secs(120);

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// DynamoDB answers late: past the client's attempt timeout for the
    /// first half of the window, a quarter of it after.
    Latency,
    /// DynamoDB throttles (400 `ProvisionedThroughputExceededException`,
    /// `ThrottlingException`), two requests in three.
    Throttle,
    /// 500 `InternalServerError`, and connections cut mid-answer after the
    /// write was forwarded.
    Errors,
    /// DynamoDB Local stopped (SIGSTOP) for the window, then continued.
    Pause,
    /// DynamoDB Local killed (SIGKILL) and started again on its data; the
    /// window lasts until it answers again.
    Restart,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Latency,
        FaultKind::Throttle,
        FaultKind::Errors,
        FaultKind::Pause,
        FaultKind::Restart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Latency => "latency",
            FaultKind::Throttle => "throttle",
            FaultKind::Errors => "errors",
            FaultKind::Pause => "pause",
            FaultKind::Restart => "restart",
        }
    }

    /// Whether it acts on the java process (else through the proxy).
    pub fn is_process_fault(self) -> bool {
        matches!(self, FaultKind::Pause | FaultKind::Restart)
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = FaultPlanError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| FaultPlanError::UnknownKind(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultPlanError {
    #[error("unknown fault kind {0:?}: use latency, throttle, errors, pause or restart")]
    UnknownKind(String),
    #[error("no fault kinds given")]
    NoKinds,
    #[error(
        "a fault window of {duration:?} does not fit an interval of {interval:?}: the window must be shorter"
    )]
    WindowTooLong {
        duration: Duration,
        interval: Duration,
    },
    #[error("a fault window must last some time")]
    EmptyWindow,
    #[error("{0}: the stage has no DynamoDB Local of its own to act on")]
    NoProcess(FaultKind),
    #[error("restart: DynamoDB Local keeps its tables in memory, so a restart would empty them")]
    InMemory,
}

/// What the fault injector does: `kinds` in turn, one window of `duration` every
/// `interval`, the first after one `duration` of calm (windows begin at
/// D, D + I, D + 2I, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    pub kinds: Vec<FaultKind>,
    pub interval: Duration,
    pub duration: Duration,
}

impl FaultPlan {
    /// A window of 3 s every 8 s: five windows, one of each kind, fit a
    /// 40 s run with time to recover after each.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(8);
    pub const DEFAULT_DURATION: Duration = Duration::from_secs(3);

    pub fn new(
        kinds: Vec<FaultKind>,
        interval: Duration,
        duration: Duration,
    ) -> Result<Self, FaultPlanError> {
        if kinds.is_empty() {
            return Err(FaultPlanError::NoKinds);
        }
        if duration.is_zero() {
            return Err(FaultPlanError::EmptyWindow);
        }
        if duration >= interval {
            return Err(FaultPlanError::WindowTooLong { duration, interval });
        }
        Ok(Self {
            kinds,
            interval,
            duration,
        })
    }

    /// Kinds from `latency,throttle,...` with the default timing.
    pub fn parse_kinds(list: &str) -> Result<Vec<FaultKind>, FaultPlanError> {
        list.split(',')
            .filter(|k| !k.trim().is_empty())
            .map(FaultKind::from_str)
            .collect()
    }

    /// The `i`-th window: its kind and its planned start after the origin.
    pub fn window(&self, i: usize) -> (FaultKind, Duration) {
        let kind = self.kinds[i % self.kinds.len()];
        let start = self.duration + self.interval * u32::try_from(i).unwrap_or(u32::MAX);
        (kind, start)
    }
}

/// A fault as it was applied: times after the fault injector's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppliedFault {
    pub kind: FaultKind,
    pub start: Duration,
    pub end: Duration,
}

/// The java process of a supervised DynamoDB Local, for process faults.
#[derive(Debug, Clone)]
pub struct ProcessHandle {
    pub(crate) java_pid: Arc<AtomicU32>,
    /// Deaths the supervisor should take as deliberate.
    pub(crate) deliberate: Arc<AtomicU32>,
    pub(crate) health: watch::Receiver<DatabaseHealth>,
    pub(crate) in_memory: bool,
}

impl ProcessHandle {
    fn pid(&self) -> Option<u32> {
        Some(self.java_pid.load(Ordering::SeqCst)).filter(|p| *p != 0)
    }
}

/// What the fault injector can act on.
#[derive(Debug, Clone)]
pub struct FaultTargets {
    /// The handler's attempt timeout: latency holds answers past it.
    pub attempt_timeout: Duration,
    /// The fault proxy's switch, for latency, throttle and errors.
    pub proxy: Option<Arc<FaultSwitch>>,
    /// The supervised java, for pause and restart.
    pub process: Option<ProcessHandle>,
}

/// The fault on now, to undo if the fault injector stops during it.
#[derive(Debug)]
struct Active {
    kind: FaultKind,
    start: Duration,
    paused: Option<u32>,
}

#[derive(Debug)]
struct State {
    stopped: bool,
    active: Option<Active>,
    applied: Vec<AppliedFault>,
}

#[derive(Debug)]
struct Shared {
    origin: Instant,
    targets: FaultTargets,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    /// Ends the fault on now, if any, and records its window.
    fn end_active(&self, state: &mut State) {
        if let Some(active) = state.active.take() {
            if let Some(proxy) = &self.targets.proxy {
                proxy.set(None);
            }
            if let Some(pid) = active.paused {
                signal(pid, "CONT");
            }
            state.applied.push(AppliedFault {
                kind: active.kind,
                start: active.start,
                end: self.now(),
            });
        }
    }
}

/// A running fault injector. Stopping or dropping it ends the fault on now.
#[derive(Debug)]
pub struct FaultInjector {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FaultInjector {
    /// Checks that `targets` can take every kind of `plan`, then runs it
    /// (on the current tokio runtime), windows counted from `origin`.
    pub fn start(
        plan: FaultPlan,
        targets: FaultTargets,
        origin: std::time::Instant,
    ) -> Result<Self, FaultPlanError> {
        check_targets(&plan, &targets)?;
        let shared = Arc::new(Shared {
            origin: Instant::from_std(origin),
            targets,
            state: Mutex::new(State {
                stopped: false,
                active: None,
                applied: vec![],
            }),
        });
        let task = tokio::spawn(run(plan, shared.clone()));
        Ok(Self { shared, task })
    }

    /// The windows applied so far (a window on now is not listed).
    pub fn applied(&self) -> Vec<AppliedFault> {
        self.shared.state().applied.clone()
    }

    /// Stops: the fault on now ends here. Returns every window applied.
    pub fn stop(self) -> Vec<AppliedFault> {
        self.halt();
        self.applied()
    }

    fn halt(&self) {
        self.task.abort();
        let mut state = self.shared.state();
        state.stopped = true;
        self.shared.end_active(&mut state);
    }
}

impl Drop for FaultInjector {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Whether `targets` can take every kind `plan` names.
pub fn check_targets(plan: &FaultPlan, targets: &FaultTargets) -> Result<(), FaultPlanError> {
    for kind in &plan.kinds {
        match (kind.is_process_fault(), &targets.proxy, &targets.process) {
            (false, None, _) | (true, _, None) => return Err(FaultPlanError::NoProcess(*kind)),
            (true, _, Some(p)) if *kind == FaultKind::Restart && p.in_memory => {
                return Err(FaultPlanError::InMemory);
            }
            _ => {}
        }
    }
    Ok(())
}

async fn run(plan: FaultPlan, shared: Arc<Shared>) {
    for i in 0.. {
        let (kind, start) = plan.window(i);
        tokio::time::sleep_until(shared.origin + start).await;
        if !begin(&plan, kind, &shared) {
            return;
        }
        match kind {
            FaultKind::Restart => wait_until_up(&shared).await,
            _ => tokio::time::sleep_until(shared.origin + start + plan.duration).await,
        }
        let mut state = shared.state();
        if state.stopped {
            return;
        }
        shared.end_active(&mut state);
    }
}

/// Switches `kind` on (under the lock, so a concurrent stop sees it).
/// Returns false once stopped.
fn begin(plan: &FaultPlan, kind: FaultKind, shared: &Shared) -> bool {
    let mut state = shared.state();
    if state.stopped {
        return false;
    }
    let mut paused = None;
    let proxy_fault = match kind {
        FaultKind::Latency => {
            let long = shared.targets.attempt_timeout + Duration::from_millis(500);
            Some(ProxyFault::Latency {
                long,
                long_until: Instant::now() + plan.duration / 2,
                short: long / 8,
            })
        }
        FaultKind::Throttle => Some(ProxyFault::Throttle),
        FaultKind::Errors => Some(ProxyFault::Errors),
        FaultKind::Pause => {
            paused = shared.targets.process.as_ref().and_then(ProcessHandle::pid);
            if let Some(pid) = paused {
                signal(pid, "STOP");
            }
            None
        }
        FaultKind::Restart => {
            if let Some(p) = &shared.targets.process
                && let Some(pid) = p.pid()
            {
                p.deliberate.fetch_add(1, Ordering::SeqCst);
                if !signal(pid, "KILL") {
                    p.deliberate.fetch_sub(1, Ordering::SeqCst);
                }
            }
            None
        }
    };
    if let (Some(fault), Some(proxy)) = (proxy_fault, &shared.targets.proxy) {
        proxy.set(Some(fault));
    }
    tracing::warn!(fault = %kind, "faults: fault on");
    state.active = Some(Active {
        kind,
        start: shared.now(),
        paused,
    });
    true
}

/// Waits until the supervisor has seen java die and has it up again.
async fn wait_until_up(shared: &Shared) {
    let Some(p) = &shared.targets.process else {
        return;
    };
    let mut health = p.health.clone();
    let _ = tokio::time::timeout(RESTART_WITHIN, async {
        let _ = health
            .wait_for(|h| !matches!(h, DatabaseHealth::Up { .. }))
            .await;
        let _ = health
            .wait_for(|h| matches!(h, DatabaseHealth::Up { .. } | DatabaseHealth::Failed(_)))
            .await;
    })
    .await;
}

/// Sends `SIGname` to `pid` with `kill(1)` (no unsafe code here).
fn signal(pid: u32, name: &str) -> bool {
    let ok = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        tracing::warn!(pid, signal = name, "faults: kill failed");
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_windows_take_them_in_turn() {
        let kinds = FaultPlan::parse_kinds("latency, pause,restart").expect("kinds");
        assert_eq!(
            kinds,
            vec![FaultKind::Latency, FaultKind::Pause, FaultKind::Restart]
        );
        assert_eq!(
            FaultPlan::parse_kinds("latency,slow"),
            Err(FaultPlanError::UnknownKind("slow".into()))
        );
        let plan =
            FaultPlan::new(kinds, Duration::from_secs(8), Duration::from_secs(3)).expect("plan");
        assert_eq!(plan.window(0), (FaultKind::Latency, Duration::from_secs(3)));
        assert_eq!(plan.window(1), (FaultKind::Pause, Duration::from_secs(11)));
        assert_eq!(
            plan.window(3),
            (FaultKind::Latency, Duration::from_secs(27))
        );
    }

    #[test]
    fn a_plan_refuses_what_cannot_run() {
        let s = Duration::from_secs;
        assert_eq!(
            FaultPlan::new(vec![], s(8), s(3)),
            Err(FaultPlanError::NoKinds)
        );
        assert!(matches!(
            FaultPlan::new(vec![FaultKind::Pause], s(3), s(3)),
            Err(FaultPlanError::WindowTooLong { .. })
        ));
        assert_eq!(
            FaultPlan::new(vec![FaultKind::Pause], s(3), s(0)),
            Err(FaultPlanError::EmptyWindow)
        );
        let plan =
            FaultPlan::new(vec![FaultKind::Throttle, FaultKind::Pause], s(8), s(3)).expect("plan");
        let proxy_only = FaultTargets {
            attempt_timeout: Duration::from_secs(2),
            proxy: Some(Arc::new(FaultSwitch::default())),
            process: None,
        };
        assert_eq!(
            check_targets(&plan, &proxy_only),
            Err(FaultPlanError::NoProcess(FaultKind::Pause))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_injector_switches_its_fault_off_and_reports_the_windows() {
        let switch = Arc::new(FaultSwitch::default());
        let plan = FaultPlan::new(
            vec![FaultKind::Throttle, FaultKind::Errors],
            Duration::from_secs(4),
            Duration::from_secs(2),
        )
        .expect("plan");
        let targets = FaultTargets {
            attempt_timeout: Duration::from_secs(2),
            proxy: Some(switch.clone()),
            process: None,
        };
        let origin = Instant::now().into_std();
        let faults = FaultInjector::start(plan, targets, origin).expect("starts");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(switch.get(), Some(ProxyFault::Throttle));
        tokio::time::sleep(Duration::from_millis(4000)).await; // 6.5 s: errors
        assert_eq!(switch.get(), Some(ProxyFault::Errors));
        let windows = faults.stop();
        assert_eq!(switch.get(), None, "stopping ends the fault on now");
        let kinds: Vec<_> = windows.iter().map(|w| w.kind).collect();
        assert_eq!(kinds, vec![FaultKind::Throttle, FaultKind::Errors]);
        assert_eq!(windows[0].start.as_secs(), 2);
        assert_eq!(windows[0].end.as_secs(), 4);
        assert!(windows[1].end >= Duration::from_millis(6400), "{windows:?}");
    }
}
