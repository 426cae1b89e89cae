//! Command line: the harness's own options beside goose's unchanged ones.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use goose::config::GooseConfiguration;

#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    about = "Load-tests a visitor-counter API and proves its increments atomic.",
    long_about = "Load-tests a visitor-counter API and proves its increments atomic.\n\n\
        With no --host it starts the local stage (the counter Lambda on DynamoDB Local) on \
        127.0.0.1. Goose's own options work unchanged; the harness's options are listed under \
        \"Harness\". Exit code: 0 pass, 1 verdict or threshold failed (or run aborted), 2 usage error.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Merge the run directories of several generator nodes into one verdict and one histogram.
    Merge(MergeArgs),
    /// Capacity and cost plan from a run's summary.json and a traffic profile.
    Plan(super::plan::PlanArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub harness: HarnessArgs,
    #[command(flatten)]
    pub goose: GooseConfiguration,
}

#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Harness")]
pub struct HarnessArgs {
    /// Count visits to this real page instead of a counter of the run's own.
    /// Others may visit it too, so only uniqueness, real-time order and range
    /// can be checked.
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// Prefix of the run's own counter: the run counts `<prefix>/<run-id>`.
    #[arg(long, value_name = "PREFIX", default_value = "/__loadtest")]
    pub path_prefix: String,

    /// Run id (default: time and a random suffix). Nodes of one run share it.
    #[arg(long, value_name = "ID", value_parser = parse_run_id)]
    pub run_id: Option<String>,

    /// This generator node's number (1, 2, ...), for a run split over several processes.
    #[arg(long, value_name = "N")]
    pub node_id: Option<std::num::NonZeroU16>,

    /// Where run directories are written.
    #[arg(long, value_name = "DIR", default_value_os_t = default_out_dir())]
    pub out_dir: PathBuf,

    /// Fail (exit 1) when the p99 latency of all requests exceeds this.
    #[arg(long, value_name = "MS")]
    pub max_p99: Option<f64>,

    /// Fail (exit 1) when failed + unknown requests exceed this fraction.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.01, value_parser = fraction)]
    pub max_error_rate: f64,

    /// Abort the run early once the error rate passes this fraction...
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5, value_parser = fraction)]
    pub abort_error_rate: f64,

    /// ...after at least this many requests.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub abort_min_requests: u64,

    /// Hard bound on requests: the run stops by itself after this many.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: u64,

    /// Hard bound on time in seconds, whatever goose's own options say.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub max_duration: u64,

    /// Per-user pacing: each user sends at most this many requests a second
    /// (latency is then measured from the intended send time).
    #[arg(long, value_name = "RPS")]
    pub user_rate: Option<f64>,

    /// Stepped capacity run: hold each of these user counts in turn.
    #[arg(long, value_name = "USERS,...", value_delimiter = ',', num_args = 1..)]
    pub steps: Vec<usize>,

    /// How long each step is held (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 8)]
    pub step_secs: u64,

    /// Unmeasured warm-up before the first step (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    pub warmup_secs: u64,
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Run directories of the nodes (each with summary.json and observations.bin).
    #[arg(required = true, num_args = 1..)]
    pub dirs: Vec<PathBuf>,
    /// Where the merged run goes (default: `merged` beside the first node's directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Clock skew allowed between nodes, for real-time order across nodes.
    #[arg(long, value_name = "MS", default_value_t = 50.0)]
    pub skew_ms: f64,
    /// As for a run.
    #[arg(long, value_name = "MS")]
    pub max_p99: Option<f64>,
    #[arg(long, value_name = "FRACTION", default_value_t = 0.01, value_parser = fraction)]
    pub max_error_rate: f64,
}

/// `loadtest-runs` in the current directory: a run writes where it is
/// started, never into the tree the binary was built in.
pub fn default_out_dir() -> PathBuf {
    PathBuf::from("loadtest-runs")
}

fn fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a fraction between 0 and 1"))
    }
}

fn parse_run_id(s: &str) -> Result<String, String> {
    if !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(s.to_owned())
    } else {
        Err("a run id is 1 to 64 of A-Z a-z 0-9 - _".to_owned())
    }
}
