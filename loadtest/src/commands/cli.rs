//! Command line: the harness's own options beside goose's unchanged ones.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};
use goose::config::GooseConfiguration;

use crate::analysis::answer::{CountPointer, StatusRange};
use crate::analysis::checker::DEFAULT_MIN_OK;
use crate::load::request::{DEFAULT_REQUEST, Header, ReadLine, RequestLine};
use crate::load::start::{self, StartAt};

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
    ///
    /// Judges the nodes' combined history with the same thresholds as a run
    /// and reports their start skew. Exit code: 0 pass, 1 the combined
    /// verdict or a threshold failed (or a node aborted or was interrupted),
    /// 2 usage error (bad flags, directories that are not the nodes of one run).
    Merge(MergeArgs),
    /// Capacity and cost plan from a run's summary.json and a traffic profile.
    Plan(Box<super::plan::PlanArgs>),
    /// Judge a run directory again from its files: the verdict, summary.json, report.html.
    ///
    /// A run that was killed (no summary.json) is judged from what it left on
    /// disk; --host reads its count now. Exit code: 0 pass, 1 fail, inconclusive
    /// or killed, 2 usage error.
    Report(super::report::ReportArgs),
    /// Compare two runs (or merges): throughput, latency, errors, the knee; regressions fail.
    ///
    /// Exit code: 0 no regression past the limits given, 1 a regression
    /// (named), 2 usage error.
    Compare(super::compare::CompareArgs),
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
#[command(group = clap::ArgGroup::new("open").multiple(false))]
pub struct HarnessArgs {
    /// Count a real page, not the run's own key (no accounting).
    ///
    /// Others may visit it too, so only uniqueness, real-time order and range
    /// can be checked.
    #[arg(long, value_name = "PATH", value_parser = page_path)]
    pub path: Option<String>,

    /// The run counts `<prefix>/<run-id>`.
    #[arg(long, value_name = "PREFIX", default_value = "/__loadtest", value_parser = key_prefix)]
    pub path_prefix: String,

    /// Run id, shared by a run's nodes [default: time + random].
    #[arg(long, value_name = "ID", value_parser = parse_run_id)]
    pub run_id: Option<String>,

    /// This node's number (1, 2, ...) in a multi-node run.
    #[arg(long, value_name = "N")]
    pub node_id: Option<std::num::NonZeroU16>,

    /// Begin the load at this instant (RFC 3339 or unix seconds).
    ///
    /// For nodes started together: the node opens the target and reads the count first, then waits
    /// (a countdown on stderr). An instant more than 5 s past, or more than
    /// 1 h ahead, is refused (exit 2).
    #[arg(long, value_name = "TIME", value_parser = start_at)]
    pub start_at: Option<StartAt>,

    /// Where run directories are written.
    #[arg(long, value_name = "DIR", default_value_os_t = default_out_dir())]
    pub out_dir: PathBuf,

    /// Fail (exit 1) when p99 exceeds this (with --steps: per step).
    ///
    /// With --steps it judges each step instead: the knee is the last step
    /// within it, and the run fails only when its first step misses it.
    #[arg(long, value_name = "MS")]
    pub max_p99: Option<f64>,

    /// Fail (exit 1) above this error rate (failed + unknown).
    ///
    /// With --steps: per step, as --max-p99.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.01, value_parser = fraction)]
    pub max_error_rate: f64,

    /// Abort above this error rate.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.5, value_parser = fraction)]
    pub abort_error_rate: f64,

    /// Requests before --abort-error-rate applies.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub abort_min_requests: u64,

    /// Stop after this many requests.
    #[arg(long, value_name = "N", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: u64,

    /// The run stops by itself after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub max_duration: u64,

    /// Stop before the records take more MiB than this.
    ///
    /// Not a failure. Each request's record takes 32 bytes in memory; room for the run's
    /// records is reserved at the start (backed only as they arrive).
    #[arg(long, value_name = "MIB", default_value_t = 1024.0, value_parser = mebibytes)]
    pub max_memory: f64,

    /// Pace each user to this many requests a second.
    ///
    /// Latency is then measured from the intended send time.
    #[arg(long, value_name = "RPS", value_parser = rate)]
    pub user_rate: Option<f64>,

    /// Open model: start this many requests a second.
    ///
    /// Whatever the answers (k6's constant-arrival-rate): a pool of --max-users users serves the
    /// arrivals; one due when no user is free is dropped (counted, never
    /// sent late); latency counts from the intended start. -t sets how long.
    #[arg(long, value_name = "RPS", value_parser = rate, group = "open",
        conflicts_with_all = ["user_rate", "steps", "users", "increase_rate", "test_plan"])]
    pub arrival_rate: Option<f64>,

    /// Open-model stepped run: each arrival rate in turn.
    ///
    /// As --steps (a warm-up, then each held --step-secs), in req/s
    /// offered; the knee is stated as the offered rate.
    #[arg(long, value_name = "RPS,...", value_delimiter = ',', num_args = 1.., value_parser = rate, group = "open",
        conflicts_with_all = ["user_rate", "steps", "users", "increase_rate", "test_plan", "run_time"])]
    pub rate_steps: Vec<f64>,

    /// The open model's pool of users [default: 100].
    ///
    /// All started before the first arrival.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000), requires = "open")]
    pub max_users: Option<u64>,

    /// Stepped capacity run: hold each of these user counts in turn.
    ///
    /// The Universal Scalability Law is fitted to the steps (3+ sizes); the knee
    /// is the last step within the thresholds and not past the fit's point
    /// where one more user adds under half a lone user's throughput.
    #[arg(long, value_name = "USERS,...", value_delimiter = ',', num_args = 1.., value_parser = users,
        conflicts_with_all = ["test_plan", "users", "run_time"])]
    pub steps: Vec<usize>,

    /// Seconds each step is held.
    #[arg(long, value_name = "SECS", default_value_t = 8)]
    pub step_secs: u64,

    /// List every goose option.
    #[arg(long)]
    pub help_goose: bool,

    /// List every option of the harness (--help shows the common ones).
    #[arg(long)]
    pub help_all: bool,

    /// Draw the run in DIR's percentiles beside this run's.
    ///
    /// In report.html: the latency percentile curve of another run (a baseline).
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,

    /// Seconds of unmeasured warm-up.
    ///
    /// Before the first step, and before a plain run on the local stage.
    #[arg(long, value_name = "SECS", default_value_t = 3)]
    pub warmup_secs: u64,

    /// Fewer ok responses: INCONCLUSIVE (exit 1).
    ///
    /// Never a pass.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MIN_OK, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_ok: u64,

    /// Inject faults into the local stage: latency,throttle,errors,pause,restart.
    ///
    /// Into the local stage, kinds in turn: one window of --fault-duration
    /// seconds (3) every --fault-interval seconds (8), the first after one
    /// window of calm. Not with --host or --steps.
    #[arg(long, alias = "nemesis", value_name = "KIND,...", value_delimiter = ',', num_args = 1.., value_parser = fault_kind,
        conflicts_with_all = ["host", "steps", "rate_steps"])]
    pub faults: Vec<String>,

    /// Seconds from one fault window to the next.
    #[arg(long, alias = "nemesis-interval", value_name = "SECS", default_value_t = 8.0, value_parser = seconds)]
    pub fault_interval: f64,

    /// Seconds each fault window lasts (a restart: until DynamoDB Local answers again).
    #[arg(long, alias = "nemesis-duration", value_name = "SECS", default_value_t = 3.0, value_parser = seconds)]
    pub fault_duration: f64,

    /// Serve Prometheus metrics at http://ADDR/metrics.
    ///
    /// ADDR is IP:PORT, such as 127.0.0.1:9464 (port 0: any free port, printed
    /// on stderr). Served from before the load begins until the run ends.
    #[arg(long, value_name = "ADDR", value_parser = socket_addr)]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// After the run, keep serving /metrics until one scrape has read the final figures, at most SECS
    /// (SIGINT or SIGTERM ends it; the run keeps its exit code).
    #[arg(long, value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub metrics_linger: u64,

    // --- the emulated AWS stage (load/emulation.rs, docs/emulated-stage.md) ---
    /// A local stage shaped like AWS: docs/emulated-stage.md.
    ///
    /// The template's HTTP API (routes, throttle: 429s) in front of Lambda
    /// execution environments running the real function (cold starts,
    /// reserved concurrency, timeout, REPORT lines), on DynamoDB Local.
    #[arg(long)]
    pub emulate_aws: bool,

    /// The SAM template the emulated stage reads [default: infra/template.yaml here or above].
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,

    /// Run this function in the emulated stage instead of our bootstrap.
    ///
    /// Such as 'python3 -m awslambdaric app.handler'; run in the current directory.
    #[arg(long, value_name = "CMD")]
    pub function: Option<String>,

    /// Give a template parameter a value, as `sam deploy --parameter-overrides` (repeatable).
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = sam_template::key_value)]
    pub parameters: Vec<(String, String)>,

    /// Add to the emulated function's environment (repeatable).
    #[arg(long, value_name = "K=V", value_parser = sam_template::key_value)]
    pub function_env: Vec<(String, String)>,

    /// Retire an emulated environment idle this long (cold starts recur).
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    pub idle_timeout: Option<f64>,
    // --- end emulated stage ---
    #[command(flatten)]
    pub api: ApiArgs,
}

/// How a visit is sent and the count read: ours by default, any API's
/// with these (docs/own-counter.md).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "The API under test")]
pub struct ApiArgs {
    /// The counting request [default: POST /visits?path={key}].
    ///
    /// {key} is replaced by the run's own key, URL-encoded; without it the
    /// counter is one the API chooses (a shared counter: see --exclusive).
    /// No request is ever sent twice.
    #[arg(long, value_name = "REQUEST", default_value = DEFAULT_REQUEST, hide_default_value = true)]
    pub request: RequestLine,

    /// The counting request's body ({key}: the key as it is).
    #[arg(id = "counting_body", long = "request-body", value_name = "TEXT")]
    pub request_body: Option<String>,

    /// A header for every request, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<Header>,

    /// Where the count is in the answer: a JSON pointer [default: found].
    ///
    /// By default the first answer shows it: the body if it is a number, or the one integer in it.
    #[arg(long, value_name = "POINTER")]
    pub count_at: Option<CountPointer>,

    /// How to read the count before and after, or none.
    ///
    /// none: the API only increments, and the run's first and last counting
    /// requests tell the count. Default: GET /visits?path={key} with the
    /// default --request, none with another.
    #[arg(long, value_name = "REQUEST|none")]
    pub read: Option<ReadLine>,

    /// Where the count is in the read's answer [default: found].
    #[arg(long, value_name = "POINTER", requires = "read")]
    pub read_count_at: Option<CountPointer>,

    /// Nobody else counts on the API's counter during the run.
    ///
    /// Then accounting and completeness are judged on a shared counter too.
    #[arg(long)]
    pub exclusive: bool,

    /// Statuses the API never counts on, e.g. 4xx or 400,409.
    ///
    /// Default: 4xx for our contract; for another API, only API Gateway's
    /// own refusals (its 429 throttle, 404 no route, 401, 403).
    #[arg(long, value_name = "STATUS,...", value_delimiter = ',')]
    pub failed_status: Vec<StatusRange>,

    /// A CA certificate (PEM) to trust for an https:// stage.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
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
    /// As for a run: fail (exit 1) when p99 over all nodes exceeds this.
    #[arg(long, value_name = "MS")]
    pub max_p99: Option<f64>,
    /// As for a run: fail (exit 1) when failed + unknown over all nodes exceed this fraction
    /// (or, for open-model nodes, their dropped arrivals over those offered).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.01, value_parser = fraction)]
    pub max_error_rate: f64,
    /// As for a run: fewer ok responses over all nodes make the verdict INCONCLUSIVE.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MIN_OK, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_ok: u64,
    // A node was killed or its last read failed: read the count now (the
    // flattened options' own docs are their help).
    #[command(flatten)]
    pub read_again: ReadAgainArgs,
}

/// How `merge` and `report` read a counter's count again after its run
/// (a killed run never read its final count).
#[derive(Debug, Clone, Args)]
pub struct ReadAgainArgs {
    /// Read the counter's count now, at this stage (the run's own URL, or
    /// another of the same stage), to judge accounting and completeness.
    #[arg(long, value_name = "URL", value_parser = host)]
    pub host: Option<String>,
    /// With --host: a header for the read, 'Name: value' (repeatable), as the run had.
    #[arg(
        short = 'H',
        long = "header",
        value_name = "'NAME: VALUE'",
        requires = "host"
    )]
    pub headers: Vec<Header>,
    /// With --host: a CA certificate (PEM) to trust, as the run had.
    #[arg(long, value_name = "FILE", requires = "host")]
    pub cacert: Option<PathBuf>,
}

impl ReadAgainArgs {
    /// Reads the count of the run's counter (`path`, read as the run's
    /// `facts` say) at `--host` now; `None` without `--host`.
    pub fn read<'a>(
        &'a self,
        path: &'a str,
        facts: Option<&'a crate::analysis::summary::RequestFacts>,
    ) -> Option<impl Future<Output = Result<u64, String>> + 'a> {
        let host = self.host.as_deref()?;
        Some(crate::load::api::Api::read_again(
            host,
            path,
            facts,
            &self.headers,
            self.cacert.as_deref(),
        ))
    }
}

/// `loadtest-runs` in the current directory: a run writes where it is
/// started, never into the tree the binary was built in.
pub fn default_out_dir() -> PathBuf {
    PathBuf::from("loadtest-runs")
}

pub(crate) fn fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not a fraction between 0 and 1"))
    }
}

/// A rate: a finite number of requests a second above 0.
fn rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1e7 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a rate: give requests a second, above 0 (such as 200 or 0.5)"
        )),
    }
}

/// A number of users: 1 or more.
fn users(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a number of users: 1 or more")),
    }
}

/// A page's path, by the contract's rules.
fn page_path(s: &str) -> Result<String, String> {
    counter_api::validate_path(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// A prefix the run's own key goes below.
fn key_prefix(s: &str) -> Result<String, String> {
    counter_api::validate_path(&format!("{s}/x"))
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// A goose time span, as goose itself reads it (`90`, `90s`, `1h2m3s`).
fn time_span(s: &str) -> Result<String, String> {
    goose::util::parse_timespan(s)
        .map(|_| s.to_owned())
        .ok_or_else(|| format!("`{s}` is not a time span: use whole seconds or h, m, s in that order, such as 90, 90s or 1h2m3s"))
}

/// A positive number, kept as goose's text.
fn positive(s: &str) -> Result<String, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(s.to_owned()),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// `--host`: an absolute http(s) URL.
fn host(s: &str) -> Result<String, String> {
    crate::load::client::Endpoint::parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.why)
}

fn fault_kind(s: &str) -> Result<String, String> {
    use crate::analysis::faults::KINDS;
    let kind = s.trim();
    if KINDS.contains(&kind) {
        Ok(kind.to_owned())
    } else {
        Err(format!("unknown fault kind; use {}", KINDS.join(", ")))
    }
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a number of seconds between 0 and 3600"
        )),
    }
}

fn socket_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not an address: use IP:PORT, such as 127.0.0.1:9464"))
}

fn start_at(s: &str) -> Result<StartAt, String> {
    start::accept(s, start::now_unix_ns())
}

/// A memory size in MiB (fractions allowed: 0.5 is 512 KiB), up to 1 PiB.
fn mebibytes(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v * 1_048_576.0 >= 32.0 && v <= 1_073_741_824.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a size in MiB between 0.0001 and 1073741824"
        )),
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

/// Goose options people use, shown in the one-screen `--help` with this
/// tool's real defaults (`None`: goose's text is true as it stands). The
/// defaults are the constants a run uses.
fn common_goose() -> Vec<(&'static str, Option<String>)> {
    use super::run::{DEFAULT_RUN_SECS, DEFAULT_TIMEOUT_SECS, DEFAULT_USERS};
    let text = |t: &str| Some(t.to_owned());
    vec![
        (
            "host",
            text("The API's URL [default: a local stage on 127.0.0.1]"),
        ),
        (
            "users",
            Some(format!("Concurrent users [default: {DEFAULT_USERS}]")),
        ),
        (
            "increase_rate",
            text("Users started per second [default: all in the first second]"),
        ),
        (
            "run_time",
            Some(format!(
                "How long to run, e.g. 30, 30s, 1m30s [default: {DEFAULT_RUN_SECS} s]"
            )),
        ),
        (
            "test_plan",
            text("Users over time, e.g. \"8,5s;8,30s;0,1s\" (instead of -u, -r, -t)"),
        ),
        (
            "throttle_requests",
            text("At most this many requests a second, all users together"),
        ),
        (
            "timeout",
            Some(format!(
                "Seconds before a request counts as unknown [default: {DEFAULT_TIMEOUT_SECS}]"
            )),
        ),
        ("co_mitigation", None),
        ("quiet", text("No progress line on stderr")),
        (
            "report_file",
            text("Also write goose's own report (.html/.json/.md)"),
        ),
        ("version", text("Print loadtest's version (and goose's)")),
    ]
}

/// The command line as `loadtest --help` shows it: the harness's options
/// and the goose options people use, one line each; the rest of goose's
/// options are still accepted, and listed by `--help-goose`.
pub fn short_command() -> clap::Command {
    command(false)
}

/// `--help-all`: every option of the harness (goose's stay behind
/// `--help-goose`).
pub fn all_options_help() -> String {
    command(true).render_help().to_string()
}

fn command(all: bool) -> clap::Command {
    let common = common_goose();
    let mut cmd = Cli::command()
        .long_about(None)
        .disable_help_subcommand(true)
        .after_help("More options: --help-all (the harness), --help-goose (goose). Exit code: 0 pass, 1 fail (verdict, threshold, abort), 2 usage error, 130/143 interrupted.");
    let goose_ids: Vec<String> = GooseConfiguration::command()
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|id| id != "help")
        .collect();
    // `-H` is a request header here, as curl's; goose's host is --host.
    // Goose's `--request-body` (its request log's bodies) gives way to the
    // counting request's body: no request goes through goose's client.
    cmd = cmd
        .mut_arg("host", |a| a.short(None).value_parser(host))
        .mut_arg("request_body", |a| a.long("goose-request-body"))
        .mut_arg("users", |a| a.value_parser(users));
    // Goose's own rules, checked as the command line is read (goose checks
    // them only when the load begins, after the stage is up).
    for id in ["run_time", "increase_time", "decrease_time"] {
        cmd = cmd.mut_arg(id, |a| a.value_parser(time_span));
    }
    for id in ["increase_rate", "decrease_rate", "timeout"] {
        cmd = cmd.mut_arg(id, |a| a.value_parser(positive));
    }
    for id in goose_ids {
        let common = common.iter().find(|(c, _)| *c == id).cloned();
        cmd = cmd.mut_arg(&id, |a| {
            let a = a
                .long_help(None)
                .help_heading("Goose options (more: --help-goose)");
            match common {
                None => a.hide(true),
                Some((_, Some(text))) => a.help(text),
                Some((_, None)) => a,
            }
        });
    }
    // Behind --help-all (and in docs/); kept off the one screen.
    let rarer = [
        "fault_interval",
        "fault_duration",
        "metrics_linger",
        "help_goose",
        "help_all",
        "abort_min_requests",
        "run_id",
        "start_at",
        "max_memory",
        "path_prefix",
        "read_count_at",
        "failed_status",
        "warmup_secs",
        "min_ok",
        "step_secs",
        "max_users",
        "counting_body",
        "exclusive",
        "baseline",
        "template",
        "parameters",
        "function_env",
        "idle_timeout",
    ];
    for id in rarer.into_iter().filter(|_| !all) {
        cmd = cmd.mut_arg(id, |a| a.hide(true));
    }
    cmd.mut_args(|a| a.long_help(None))
}

/// Why two options do not go together: clap finds the conflict (the
/// `conflicts_with` above), this says why, the first named as written.
const NOT_TOGETHER: &[(&str, &str, &str)] = &[
    (
        "--arrival-rate",
        "--rate-steps",
        "give one: --rate-steps is the stepped form",
    ),
    (
        "--arrival-rate",
        "--user-rate",
        "it paces a closed loop's users",
    ),
    (
        "--arrival-rate",
        "--steps",
        "--rate-steps is the stepped form in arrival rates",
    ),
    ("--arrival-rate", "--users", "the pool is --max-users"),
    (
        "--arrival-rate",
        "--increase-rate",
        "the whole pool starts before the first arrival",
    ),
    (
        "--arrival-rate",
        "--test-plan",
        "the arrival schedule is the plan",
    ),
    (
        "--rate-steps",
        "--user-rate",
        "it paces a closed loop's users",
    ),
    (
        "--rate-steps",
        "--steps",
        "--steps holds users, --rate-steps arrival rates: give one",
    ),
    ("--rate-steps", "--users", "the pool is --max-users"),
    (
        "--rate-steps",
        "--increase-rate",
        "the whole pool starts before the first arrival",
    ),
    (
        "--rate-steps",
        "--test-plan",
        "the arrival schedule is the plan",
    ),
    (
        "--rate-steps",
        "--run-time",
        "the steps' lengths are --warmup-secs and --step-secs",
    ),
    ("--steps", "--test-plan", "--steps makes its own test plan"),
    ("--steps", "--users", "--steps makes its own test plan"),
    ("--steps", "--run-time", "--steps makes its own test plan"),
    (
        "--faults",
        "--host",
        "it acts on the local stage; leave out --host",
    ),
    (
        "--faults",
        "--steps",
        "faults would blur the steps' figures",
    ),
    (
        "--faults",
        "--rate-steps",
        "faults would blur the steps' figures",
    ),
];

/// clap's conflict and requirement errors, said as the rest of the tool
/// says a usage error (`None`: clap's own message says it).
pub fn plain_usage_error(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let flag = |s: &str| {
        let word = s.split_whitespace().next().unwrap_or(s);
        word.trim_matches(|c| c == '<' || c == '>').to_owned()
    };
    let names = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => vec![flag(s)],
        Some(ContextValue::Strings(v)) => v.iter().map(|s| flag(s)).collect(),
        _ => vec![],
    };
    match e.kind() {
        ErrorKind::ArgumentConflict => {
            let (a, b) = (names(ContextKind::InvalidArg), names(ContextKind::PriorArg));
            let (x, y) = (a.first()?, b.first()?);
            let (first, second, why) = NOT_TOGETHER
                .iter()
                .find(|(p, q, _)| (p == x && q == y) || (p == y && q == x))?;
            Some(format!("{first}: not with {second} ({why})"))
        }
        ErrorKind::MissingRequiredArgument
            if names(ContextKind::InvalidArg)
                .iter()
                .any(|n| n == "--arrival-rate" || n == "--rate-steps") =>
        {
            Some(
                "--max-users sizes the open model's pool: give --arrival-rate or --rate-steps too"
                    .into(),
            )
        }
        _ => None,
    }
}

/// The command line as `loadtest` reads it (tests call it too: `Cli`'s
/// own derive keeps goose's `-H`, which is a header here).
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches;
    short_command()
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m))
}

/// Every goose option with goose's own text, less its notes for programs
/// that embed goose ("Set in code with GooseDefault::…").
pub fn goose_help() -> String {
    let cmd = GooseConfiguration::command()
        .mut_arg("host", |a| a.short(None))
        .mut_arg("request_body", |a| a.long("goose-request-body"))
        .name("loadtest")
        .about("Goose's options, all accepted by loadtest (its own defaults: loadtest --help).")
        .after_help("")
        .after_long_help("")
        .mut_args(|a| {
            let strip = |text: String| {
                match text.find("Set in code with") {
                    Some(i) => {
                        let end = text[i..].find(". ").map_or(text.len(), |e| i + e + 1);
                        format!("{}{}", text[..i].trim_end(), &text[end..])
                    }
                    None => text,
                }
                .replace(" or GooseDefault::Host", "")
            };
            let help = a.get_help().map(|h| strip(h.to_string()));
            let long = a.get_long_help().map(|h| strip(h.to_string()));
            let a = match help {
                Some(h) => a.help(h),
                None => a,
            };
            match long {
                Some(h) => a.long_help(h),
                None => a,
            }
        });
    cmd.clone().render_long_help().to_string()
}
