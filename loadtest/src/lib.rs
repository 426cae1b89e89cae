//! The visitor counter's load test: goose hammers `POST /visits`, every
//! response is recorded, and a checker proves the increments atomic.
//!
//! Modules: [`observation`] (the record of one request), [`checker`] (the
//! atomicity verdict, pure), [`stats`] (HDR latencies, per-second and
//! per-step figures, pure), [`analysis`] (observations → [`summary::Summary`],
//! pure), [`run`] (goose and I/O), [`merge`] (several nodes), [`report`] and
//! [`plot`] (output), [`cost`] and [`plan`] (capacity planning).

pub mod analysis;
pub mod checker;
pub mod cli;
pub mod cost;
pub mod merge;
pub mod observation;
pub mod plan;
pub mod plot;
pub mod report;
pub mod run;
pub mod stats;
pub mod summary;

use std::process::ExitCode;

use clap::Parser;

/// A mistake in how the tool was called: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses arguments, runs, and maps the outcome to the exit code:
/// 0 pass, 1 fail (verdict, threshold, abort, or an error during the run),
/// 2 usage error.
pub async fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let outcome = match cli.command {
        None => run::run(cli.run).await.map(|s| s.passed),
        Some(cli::Command::Merge(args)) => merge::merge(&args).map(|(s, dir)| {
            report::print(&s, &dir);
            s.passed
        }),
        Some(cli::Command::Plan(args)) => plan::print_plan(&args).map(|()| true),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) if e.downcast_ref::<goose::GooseError>().is_some_and(is_usage) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn is_usage(e: &goose::GooseError) -> bool {
    matches!(e, goose::GooseError::InvalidOption { .. })
}
