//! The pure core: what a run's observations mean. No I/O here (no
//! `std::fs`, no network, no clock, no `tokio`, `reqwest` or `clap`): every
//! function takes data and returns data, so each is tested alone and a
//! merge of several nodes reuses them unchanged. A test enforces it.
//!
//! - [`answer`]: where the count is in an answer, and which refusals
//!   prove nothing was counted;
//! - [`observation`]: one request (sent, end, lateness, outcome, count)
//!   and its 32-byte record;
//! - [`checker`]: the atomicity verdict;
//! - [`stats`]: HDR latencies, per-second and per-step figures, the knee;
//! - [`analyse`]: observations and run evidence → [`summary::Summary`];
//! - [`rejudge`]: a run judged again from its files (`loadtest report`),
//!   a killed one from what it left;
//! - [`faults`]: a fault injector's fault windows and what each cost;
//! - [`open`]: the open model's offered and achieved arrivals, dropped ones;
//! - [`summary`]: what `summary.json` holds;
//! - [`run_start`]: what `run.json` holds (written as the load begins);
//! - [`usl`]: the Universal Scalability Law fitted to a stepped run;
//! - [`cost`]: the cost and quota model behind `loadtest plan`;
//! - [`compare`]: two runs' figures side by side, and their regressions.
//! - [`lambda_reports`]: Lambda's REPORT lines read (emulated or exported);
//! - [`stage`]: the emulated stage's figures in a summary.

pub mod analyse;
pub mod answer;
pub mod checker;
pub mod compare;
pub mod cost;
pub mod faults;
pub mod lambda_reports;
pub mod observation;
pub mod open;
pub mod rejudge;
pub mod run_start;
pub mod stage;
pub mod stats;
pub mod summary;
pub mod usl;
