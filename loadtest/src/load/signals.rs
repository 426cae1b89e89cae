//! Interruption: SIGINT (Ctrl-C) and SIGTERM stop the load, and the run
//! still reads the count, writes everything and says it was interrupted;
//! a second signal exits at once. Once the load is over ([`settle`]), a
//! signal no longer interrupts the run (its record says what it saw, and
//! the exit code follows the record): it only ends the wait for a last
//! scrape ([`after_the_load`]). Signals are process-wide, so the state is
//! too.
//!
//! Goose installs its own Ctrl-C handler when a run starts, through the
//! `ctrlc` crate; installing ours first makes goose's attempt fail quietly
//! (the crate allows one handler), so ours decides.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use tokio::sync::Notify;

/// A signal that interrupted the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    Sigint,
    Sigterm,
}

impl Interrupt {
    /// The conventional exit code: 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Interrupt::Sigint => 130,
            Interrupt::Sigterm => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interrupt::Sigint => "SIGINT",
            Interrupt::Sigterm => "SIGTERM",
        }
    }
}

/// The run's state as signals see it: one of these.
const RUNNING: u8 = 0;
const BY_SIGINT: u8 = 1;
const BY_SIGTERM: u8 = 2;
const SETTLED: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(RUNNING);
static RECEIVED: AtomicU32 = AtomicU32::new(0);
/// A signal after [`settle`] (a permit kept until someone waits).
static AFTER_THE_LOAD: Notify = Notify::const_new();

/// The signal that interrupted the run, if one did (before [`settle`]).
pub fn interrupted() -> Option<Interrupt> {
    match STATE.load(Ordering::SeqCst) {
        BY_SIGINT => Some(Interrupt::Sigint),
        BY_SIGTERM => Some(Interrupt::Sigterm),
        _ => None,
    }
}

/// The load is over: whether a signal interrupted it is settled now, and
/// a later signal does not change it (nor the exit code). Call it before
/// the run reads [`interrupted`] for its record.
pub fn settle() {
    let _ = STATE.compare_exchange(RUNNING, SETTLED, Ordering::SeqCst, Ordering::SeqCst);
}

/// Resolves once a signal arrives after [`settle`] (at once if one
/// already has): the run is recorded or being recorded, and whoever waits
/// for more (a last scrape) should stop waiting.
pub async fn after_the_load() {
    AFTER_THE_LOAD.notified().await;
}

fn on_signal(signal: Interrupt) {
    if RECEIVED.fetch_add(1, Ordering::SeqCst) > 0 {
        eprintln!("{} again: exiting at once", signal.name());
        std::process::exit(i32::from(signal.exit_code()));
    }
    let code = match signal {
        Interrupt::Sigint => BY_SIGINT,
        Interrupt::Sigterm => BY_SIGTERM,
    };
    if STATE
        .compare_exchange(RUNNING, code, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        eprintln!(
            "{}: the load is already over; finishing the record, then exiting (again to exit at once)",
            signal.name()
        );
        AFTER_THE_LOAD.notify_one();
        return;
    }
    eprintln!(
        "{}: stopping the load; the run still reads the count and writes its record (again to exit at once)",
        signal.name()
    );
    goose::trigger_killswitch(&format!("{} received", signal.name()));
}

/// Installs the handlers (once per process; later calls do nothing).
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if let Err(e) = ctrlc::set_handler(|| on_signal(Interrupt::Sigint)) {
            tracing::warn!("could not install the SIGINT handler: {e}");
        }
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::spawn(async move {
                    while term.recv().await.is_some() {
                        on_signal(Interrupt::Sigterm);
                    }
                });
            }
            Err(e) => tracing::warn!("could not install the SIGTERM handler: {e}"),
        }
    });
}
