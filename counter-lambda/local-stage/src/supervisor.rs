//! Keeps the DynamoDB Local a stage started alive: when java dies (killed,
//! crashed, out of memory), the supervisor reaps it and starts it again on
//! the same port and the same data directory, so the API answers 503 while
//! it is down and then recovers with every count it had. When restarting
//! cannot help (the data was in memory, so a restart would silently wipe
//! it; or it keeps dying), the supervisor gives up and says why
//! ([`DatabaseHealth::Failed`]); the `local-stage` binary then exits
//! non-zero with that cause.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::dynamodb_local::{DynamoDbLocal, LocalError, Storage};

/// What the supervisor knows of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseHealth {
    /// Running; `restarts` is how many times it was restarted after dying.
    Up { restarts: u32 },
    /// Died; being started again.
    Restarting { restarts: u32, cause: String },
    /// Stopped on purpose ([`crate::LocalStage::stop_database`]).
    Stopped,
    /// Died and will not be restarted: the cause, for the user.
    Failed(String),
}

/// At most this many restarts within [`RESTART_WINDOW`]; one more death
/// in that window is a crash loop, and the supervisor gives up.
pub const MAX_RESTARTS: usize = 3;
pub const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// How often the supervisor looks at the process (and its commands).
const POLL: Duration = Duration::from_millis(100);

/// Whether another restart is allowed now, given when the earlier ones
/// happened: fewer than [`MAX_RESTARTS`] within the last [`RESTART_WINDOW`].
pub fn may_restart(earlier: &[Instant], now: Instant) -> bool {
    earlier
        .iter()
        .filter(|t| now.saturating_duration_since(**t) < RESTART_WINDOW)
        .count()
        < MAX_RESTARTS
}

enum Command {
    Stop(mpsc::Sender<()>),
    Start(oneshot::Sender<Result<(), LocalError>>),
}

/// The supervising thread and its handles. Dropping it stops the database
/// and waits for the thread.
#[derive(Debug)]
pub(crate) struct Supervisor {
    commands: Option<mpsc::Sender<Command>>,
    health: watch::Receiver<DatabaseHealth>,
    java_pid: Arc<AtomicU32>,
    /// Deaths to take as deliberate (the fault injector's restarts): restarted,
    /// not counted towards a crash loop.
    deliberate: Arc<AtomicU32>,
    in_memory: bool,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    pub(crate) fn start(db: DynamoDbLocal) -> Self {
        let (commands, inbox) = mpsc::channel();
        let (report, health) = watch::channel(DatabaseHealth::Up { restarts: 0 });
        let java_pid = Arc::new(AtomicU32::new(db.java_pid().unwrap_or(0)));
        let pid = java_pid.clone();
        let deliberate = Arc::new(AtomicU32::new(0));
        let expected = deliberate.clone();
        let in_memory = *db.storage() == Storage::InMemory;
        let thread = std::thread::Builder::new()
            .name("dynamodb-local-supervisor".into())
            .spawn(move || supervise(db, &inbox, &report, &pid, &expected))
            .ok();
        Self {
            commands: Some(commands),
            health,
            java_pid,
            deliberate,
            in_memory,
            thread,
        }
    }

    /// A handle on java for the fault injector's process faults.
    pub(crate) fn process_handle(&self) -> crate::fault_injector::ProcessHandle {
        crate::fault_injector::ProcessHandle {
            java_pid: self.java_pid.clone(),
            deliberate: self.deliberate.clone(),
            health: self.health.clone(),
            in_memory: self.in_memory,
        }
    }

    pub(crate) fn health(&self) -> DatabaseHealth {
        self.health.borrow().clone()
    }

    pub(crate) fn health_updates(&self) -> watch::Receiver<DatabaseHealth> {
        self.health.clone()
    }

    pub(crate) fn java_pid(&self) -> Option<u32> {
        Some(self.java_pid.load(Ordering::SeqCst)).filter(|p| *p != 0)
    }

    /// Blocks until java has stopped (a few seconds at most).
    pub(crate) fn stop(&self) -> Result<(), LocalError> {
        let (done, wait) = mpsc::channel();
        self.send(Command::Stop(done))?;
        wait.recv().map_err(|_| gone())
    }

    pub(crate) async fn start_again(&self) -> Result<(), LocalError> {
        let (done, wait) = oneshot::channel();
        self.send(Command::Start(done))?;
        wait.await.map_err(|_| gone())?
    }

    fn send(&self, command: Command) -> Result<(), LocalError> {
        self.commands
            .as_ref()
            .and_then(|c| c.send(command).ok())
            .ok_or_else(gone)
    }
}

fn gone() -> LocalError {
    LocalError::Setup("the DynamoDB Local supervisor has stopped".into())
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.commands = None; // the thread sees the channel close, stops java
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn supervise(
    mut db: DynamoDbLocal,
    inbox: &mpsc::Receiver<Command>,
    report: &watch::Sender<DatabaseHealth>,
    java_pid: &AtomicU32,
    deliberate: &AtomicU32,
) {
    let mut restarts: Vec<Instant> = Vec::new();
    let mut watching = true;
    loop {
        match inbox.recv_timeout(POLL) {
            Ok(Command::Stop(done)) => {
                db.stop();
                watching = false;
                java_pid.store(0, Ordering::SeqCst);
                report.send_replace(DatabaseHealth::Stopped);
                let _ = done.send(());
            }
            Ok(Command::Start(done)) => {
                let result = db.restart();
                java_pid.store(db.java_pid().unwrap_or(0), Ordering::SeqCst);
                watching = result.is_ok();
                report.send_replace(match &result {
                    Ok(()) => DatabaseHealth::Up {
                        restarts: count(&restarts),
                    },
                    Err(e) => DatabaseHealth::Failed(e.to_string()),
                });
                let _ = done.send(result);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                db.stop();
                return;
            }
            Err(mpsc::RecvTimeoutError::Timeout) if watching => {
                if let Some(status) = db.exited() {
                    java_pid.store(0, Ordering::SeqCst);
                    // A death the fault injector caused is restarted but is no
                    // sign of a crash loop.
                    let on_purpose = deliberate
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    let mut counted = restarts.clone();
                    watching = revive(&mut db, status, &mut counted, report);
                    if !on_purpose {
                        restarts = counted;
                    }
                    java_pid.store(db.java_pid().unwrap_or(0), Ordering::SeqCst);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

fn count(restarts: &[Instant]) -> u32 {
    u32::try_from(restarts.len()).unwrap_or(u32::MAX)
}

/// java has exited (and is reaped): start it again if that can help.
/// Returns whether it runs again.
fn revive(
    db: &mut DynamoDbLocal,
    status: std::process::ExitStatus,
    restarts: &mut Vec<Instant>,
    report: &watch::Sender<DatabaseHealth>,
) -> bool {
    let cause = format!(
        "DynamoDB Local (port {}) exited on its own ({status}; log: {})",
        db.port(),
        db.log().display()
    );
    let give_up = |why: String| {
        tracing::error!(%cause, "{why}");
        report.send_replace(DatabaseHealth::Failed(format!("{cause}; {why}")));
        false
    };
    if *db.storage() == Storage::InMemory {
        return give_up("its tables were in memory, so a restart would silently empty them".into());
    }
    if !may_restart(restarts, Instant::now()) {
        return give_up(format!(
            "not restarted: it died {} times within {} s",
            MAX_RESTARTS + 1,
            RESTART_WINDOW.as_secs()
        ));
    }
    restarts.push(Instant::now());
    tracing::warn!(%cause, "restarting DynamoDB Local on the same data");
    report.send_replace(DatabaseHealth::Restarting {
        restarts: count(restarts),
        cause: cause.clone(),
    });
    match db.restart() {
        Ok(()) => {
            tracing::info!(restarts = restarts.len(), "DynamoDB Local is back");
            report.send_replace(DatabaseHealth::Up {
                restarts: count(restarts),
            });
            true
        }
        Err(e) => give_up(format!("restarting it failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_are_allowed_until_a_crash_loop() {
        let base = Instant::now();
        let now = base + Duration::from_secs(200);
        let ago = |s: u64| base + Duration::from_secs(200 - s);
        assert!(may_restart(&[], now));
        assert!(may_restart(&[ago(5), ago(3)], now));
        assert!(
            !may_restart(&[ago(50), ago(5), ago(3)], now),
            "a fourth death within a minute"
        );
        assert!(
            may_restart(&[ago(120), ago(90), ago(3)], now),
            "old restarts no longer count"
        );
    }
}
