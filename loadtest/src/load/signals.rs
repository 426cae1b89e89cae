//! Interruption: SIGINT (Ctrl-C) and SIGTERM stop the load, and the run
//! still reads the count, writes everything and says it was interrupted;
//! a second signal exits at once. Signals are process-wide, so the state
//! is too.
//!
//! Goose installs its own Ctrl-C handler when a run starts, through the
//! `ctrlc` crate; installing ours first makes goose's attempt fail quietly
//! (the crate allows one handler), so ours decides.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

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

static FIRST: OnceLock<Interrupt> = OnceLock::new();
static RECEIVED: AtomicU32 = AtomicU32::new(0);

/// The first signal received, if any.
pub fn interrupted() -> Option<Interrupt> {
    FIRST.get().copied()
}

fn on_signal(signal: Interrupt) {
    if RECEIVED.fetch_add(1, Ordering::SeqCst) > 0 {
        eprintln!("{} again: exiting at once", signal.name());
        std::process::exit(i32::from(signal.exit_code()));
    }
    let _ = FIRST.set(signal);
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
