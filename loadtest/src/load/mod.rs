//! The run's I/O: the target (a `--host` or the local stage), the API
//! under test and the one client its requests go through, the users and
//! what they share, their schedules, the recorder, the generator's CPU.

pub mod api;
pub mod arrival;
pub mod client;
pub mod cpu;
pub mod emulation;
pub mod metrics;
pub mod per_second;
pub mod progress;
pub mod recorder;
pub mod request;
pub mod schedule;
pub mod signals;
pub mod start;
pub mod stream;
pub mod target;
pub mod users;
pub mod warmup;

/// A start-up or progress line, on stderr (stdout carries the report).
pub fn status(line: &str) {
    eprintln!("{line}");
}
