//! The visitor counter's load test: goose hammers `POST /visits`, every
//! response is recorded, and a checker proves the increments atomic.
//!
//! The tree shows the rule "pure core, I/O at the edge":
//!
//! - [`analysis`]: the pure core (observations, the checker, statistics,
//!   the summary, the cost model); no I/O;
//! - [`load`]: the run's I/O (the target, the users, their schedules, the
//!   recorder, CPU);
//! - [`output`]: the run directory, the terminal text, the HTML report and
//!   its charts;
//! - [`commands`]: `run` (the default), `merge`, `plan`, `report`,
//!   `compare`, and the command line.

pub mod analysis;
pub mod commands;
pub mod load;
pub mod output;

use std::process::ExitCode;

use commands::{cli, compare, merge, plan, report, run};

/// The goose this was built with (for `-V`).
const GOOSE_VERSION: &str = "0.19";

/// `-V`: the version, the commit it was built from (`unknown` when built
/// without git, see build.rs) and whether the local stage is built in.
pub fn version() -> String {
    let stage = if cfg!(feature = "local-stage") {
        "local stage built in"
    } else {
        "no local stage: --host required"
    };
    format!(
        "loadtest {} (commit {}, {stage}; goose {GOOSE_VERSION})",
        env!("CARGO_PKG_VERSION"),
        env!("LOADTEST_GIT_COMMIT"),
    )
}

/// A mistake in how the tool was called: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Parses arguments, runs, and maps the outcome to the exit code:
/// 0 pass, 1 fail (verdict, threshold, abort, or an error during the run),
/// 2 usage error.
pub async fn main_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let parsed = cli::parse_from(args);
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(message) = cli::plain_usage_error(&e) {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if cli.run.harness.help_all {
        print!("{}", cli::all_options_help());
        return ExitCode::SUCCESS;
    }
    if cli.run.harness.help_goose {
        print!("{}", cli::goose_help());
        return ExitCode::SUCCESS;
    }
    if cli.run.goose.version {
        println!("{}", version());
        return ExitCode::SUCCESS;
    }
    let outcome = match cli.command {
        None => {
            let out_dir = cli.run.harness.out_dir.clone();
            let node = cli.run.harness.node_id;
            run::run(cli.run).await.map(|s| {
                output::print(&s, &output::run_dir::path(&out_dir, &s.run.run_id, node));
                s.passed
            })
        }
        Some(cli::Command::Merge(args)) => merge::merge(&args).await.map(|(s, dir)| {
            output::print(&s, &dir);
            s.passed
        }),
        Some(cli::Command::Plan(args)) => plan::print_plan(&args).map(|()| true),
        Some(cli::Command::Report(args)) => report::report(&args).await.map(|(s, dir)| {
            output::print(&s, &dir);
            s.passed
        }),
        Some(cli::Command::Compare(args)) => compare::compare(&args),
    };
    // An interrupted run exits 128 + the signal, whatever it saw.
    if let Some(signal) = load::signals::interrupted() {
        if let Err(e) = &outcome {
            eprintln!("error: {e:#}");
        }
        return ExitCode::from(signal.exit_code());
    }
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if e.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {e:#}");
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
