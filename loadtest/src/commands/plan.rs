//! `loadtest plan`: a run's summary, a traffic profile and the deployed
//! stack's shape → monthly cost by service, the headroom to each limit and
//! the limit that binds first. This module does the reading (the run's
//! summary.json, infra/template.yaml, price files); the model is pure
//! ([`crate::analysis::cost`]).

mod report;
mod template;

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::UsageError;
use crate::analysis::cost::{
    self, ApiKind, Arch, DurationBasis, FigureBook, Group, Measured, Quotas, SECONDS_PER_MONTH,
    Stack, Throttle, Traffic, Warning, WarningKind,
};
use crate::analysis::lambda_reports;
use crate::analysis::summary::{SCHEMA_VERSION, Summary, files};
pub use report::{PlanReport, RunRef, text};
use template::TemplateShape;

/// The built-in figures: prices, limits and footprint with their sources.
pub const FIGURES: &str = include_str!("../../data/aws-us-east-1.json");
pub const FIGURES_NAME: &str = "loadtest/data/aws-us-east-1.json (built in)";

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// A run directory (or its summary.json).
    pub run: PathBuf,
    /// Visits a month to plan for.
    #[arg(long, value_name = "N", value_parser = finite)]
    pub visits_per_month: f64,
    /// Peak visits a second.
    #[arg(long, value_name = "N", value_parser = finite)]
    pub peak_per_second: f64,
    /// Strongly consistent `GET /visits` per visit (each a request, an
    /// invocation and a read unit that shares the item's budget).
    #[arg(long, value_name = "N", default_value_t = 0.0, value_parser = finite)]
    pub reads_per_visit: f64,
    /// Share of invocations that cold-start (each bills its init).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.01, value_parser = finite)]
    pub cold_start_rate: f64,
    /// Subtract the always-free allowances (Lambda 1 M requests and
    /// 400,000 GB-s, 100 GB transfer, 5 GB logs a month).
    #[arg(long)]
    pub free_tier: bool,
    /// SAM template to read the stack's shape from (default:
    /// infra/template.yaml here or in a directory above, up to the git root).
    #[arg(long, value_name = "FILE", conflicts_with = "no_template")]
    pub template: Option<PathBuf>,
    /// Read no template: the shape comes from the flags and the defaults.
    #[arg(long)]
    pub no_template: bool,
    /// Give a template parameter a value, as `sam deploy
    /// --parameter-overrides` (repeatable; an unknown name is refused).
    #[arg(long = "parameter", value_name = "NAME=VALUE", value_parser = sam_template::key_value, conflicts_with = "no_template")]
    pub parameters: Vec<(String, String)>,
    /// The API's kind (default: the template's, else http).
    #[arg(long, value_enum)]
    pub api: Option<ApiArg>,
    /// The function's architecture (default: the template's, else arm64).
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// The function's memory (default: the template's, else 128).
    #[arg(long, value_name = "MB", value_parser = finite)]
    pub memory_mb: Option<f64>,
    /// The function's timeout (default: the template's, else 6).
    #[arg(long, value_name = "S", value_parser = finite)]
    pub timeout_s: Option<f64>,
    /// The stage's route throttle, requests/s (default: the template's,
    /// else none).
    #[arg(long, value_name = "RPS", value_parser = finite)]
    pub route_rate: Option<f64>,
    /// The route throttle's burst (default: the template's, else the rate).
    #[arg(long, value_name = "N", value_parser = finite, requires = "route_rate")]
    pub route_burst: Option<f64>,
    /// The function's reserved concurrency (default: the template's, else none).
    #[arg(long, value_name = "N", value_parser = finite)]
    pub reserved_concurrency: Option<f64>,
    /// The log group's retention (default: the template's, else never expire).
    #[arg(long, value_name = "DAYS", value_parser = finite)]
    pub log_retention_days: Option<f64>,
    /// The per-client limit: requests to /visits per client IP in 5
    /// minutes (AWS WAF; the API then answers through CloudFront), priced
    /// when on; 0: off (default: the template's, else off).
    #[arg(long, value_name = "N", value_parser = finite)]
    pub per_client_limit: Option<f64>,
    /// The account's Lambda concurrency (default 1,000; new accounts may
    /// start lower: see Service Quotas).
    #[arg(long, value_name = "N", value_parser = finite)]
    pub concurrency: Option<f64>,
    /// Function duration to bill; default: the run's Server-Timing mean,
    /// else its mean client latency (an upper bound).
    #[arg(long, value_name = "MS", value_parser = finite)]
    pub lambda_ms: Option<f64>,
    /// Init duration of a cold start (default: the figures' median for the
    /// architecture).
    #[arg(long, value_name = "MS", value_parser = finite)]
    pub init_ms: Option<f64>,
    /// Lambda's REPORT lines to bill from (default: the run's own, when
    /// it ran on the emulated stage), e.g. exported from a real stage's
    /// CloudWatch Logs with `aws logs filter-log-events` (docs/emulated-stage.md).
    ///
    /// Their warm invocations' mean Billed Duration becomes the duration
    /// billed, their cold starts' median Init Duration the init.
    #[arg(long, value_name = "FILE")]
    pub lambda_reports: Option<PathBuf>,
    /// Bytes of the handler's log line (default: the measured figure).
    #[arg(long, value_name = "BYTES", value_parser = finite)]
    pub handler_log_bytes: Option<f64>,
    /// JSON file overriding some prices (names as in loadtest/data/*.json).
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// JSON file overriding some limits, likewise.
    #[arg(long, value_name = "FILE")]
    pub limits: Option<PathBuf>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the arithmetic of every line, and every figure's source.
    #[arg(long)]
    pub explain: bool,
}

/// `--api`, as the cost model's [`ApiKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiArg {
    /// API Gateway HTTP API (what infra/template.yaml deploys).
    Http,
    /// API Gateway REST API.
    Rest,
}

/// `--arch`, as the cost model's [`Arch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

impl From<ApiArg> for ApiKind {
    fn from(a: ApiArg) -> Self {
        match a {
            ApiArg::Http => ApiKind::Http,
            ApiArg::Rest => ApiKind::Rest,
        }
    }
}

impl From<ArchArg> for Arch {
    fn from(a: ArchArg) -> Self {
        match a {
            ArchArg::Arm64 => Arch::Arm64,
            ArchArg::X86_64 => Arch::X86_64,
        }
    }
}

/// A number that is a number: `inf` and `NaN` are refused by name.
fn finite(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("`{s}` is not a finite number"))
    }
}

/// Where one part of the stack's shape came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Template,
    Flag,
    Default,
}

/// The stack's shape with the origin of each part.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackOrigins {
    /// The template read, if any.
    pub template: Option<PathBuf>,
    /// How the template was found, or why there is none.
    pub note: String,
    pub api: Origin,
    pub arch: Origin,
    pub memory_mb: Origin,
    pub timeout_s: Origin,
    pub route_throttle: Origin,
    pub reserved_concurrency: Origin,
    pub log_retention_days: Origin,
    pub stage_ceiling: Origin,
    pub per_client_limit: Origin,
}

pub fn print_plan(args: &PlanArgs) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    let report = make_report(args, &cwd)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report, args.explain));
    }
    Ok(())
}

/// The whole plan, with where every input came from. `cwd` is where the
/// template search starts.
pub fn make_report(args: &PlanArgs, cwd: &Path) -> anyhow::Result<PlanReport> {
    check_traffic(args)?;
    let (summary, summary_path) = load_summary(&args.run)?;
    let reports = load_reports(args, &summary, &summary_path)?;
    let (book, figures_from) = load_figures(args, reports.as_ref())?;
    let figures = book.resolve().map_err(|e| UsageError(e.to_string()))?;
    let (stack, origins) = stack(args, cwd, &figures.quotas)?;
    check_stack(&stack)?;
    let traffic = Traffic {
        visits_per_month: args.visits_per_month,
        peak_visits_per_second: args.peak_per_second,
        reads_per_visit: args.reads_per_visit,
        cold_start_rate: args.cold_start_rate,
        free_tier: args.free_tier,
    };
    let measured = measured(args, &summary, reports.as_ref())?;
    let mut plan = cost::estimate(&traffic, &stack, &measured, &figures);
    plan.warnings.extend(input_warnings(&origins));
    let without_free_tier = args.free_tier.then(|| {
        let t = Traffic {
            free_tier: false,
            ..traffic
        };
        cost::estimate(&t, &stack, &measured, &figures).total_usd_per_month
    });
    Ok(PlanReport {
        run: RunRef::of(&summary, summary_path),
        stack_origins: origins,
        figures_from,
        figures: book,
        total_without_free_tier: without_free_tier,
        lambda_reports: reports,
        plan,
    })
}

/// The REPORT lines a plan bills from, with where they came from.
#[derive(Debug, Clone, Serialize)]
pub struct ReportsUsed {
    pub from: String,
    pub figures: lambda_reports::ReportFigures,
}

/// `--lambda-reports FILE`, else the run's own `lambda-reports.log` (an
/// emulated run's); both read by the one parser.
fn load_reports(
    args: &PlanArgs,
    summary: &Summary,
    summary_path: &Path,
) -> anyhow::Result<Option<ReportsUsed>> {
    let file = match (&args.lambda_reports, summary.files.get("lambda_reports")) {
        (Some(f), _) => f.clone(),
        (None, Some(name)) => {
            let f = summary_path.parent().unwrap_or(Path::new(".")).join(name);
            if !f.is_file() {
                return Ok(None);
            }
            f
        }
        (None, None) => return Ok(None),
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| usage(format!("reading {}: {e}", file.display())))?;
    let reports =
        lambda_reports::parse(&text).map_err(|e| usage(format!("{}: {e}", file.display())))?;
    Ok(Some(ReportsUsed {
        from: file.display().to_string(),
        figures: lambda_reports::figures(&reports),
    }))
}

fn usage(message: String) -> anyhow::Error {
    UsageError(message).into()
}

/// The run's summary.json, refused (exit 2) when it is not one this
/// version reads.
pub fn load_summary(path: &Path) -> anyhow::Result<(Summary, PathBuf)> {
    let file = if path.is_dir() {
        path.join(files::SUMMARY)
    } else {
        path.to_owned()
    };
    let text = std::fs::read_to_string(&file)
        .map_err(|e| usage(format!("reading {}: {e}", file.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| usage(format!("{} is not JSON: {e}", file.display())))?;
    match value["schema_version"].as_u64() {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        other => {
            return Err(usage(format!(
                "{} has schema_version {}; this loadtest reads {SCHEMA_VERSION}",
                file.display(),
                other.map_or("(none)".to_owned(), |v| v.to_string())
            )));
        }
    }
    let summary = serde_json::from_value(value)
        .map_err(|e| usage(format!("{} is not a run summary: {e}", file.display())))?;
    Ok((summary, file))
}

/// The built-in figures, with the override files and flags applied (and
/// the REPORT lines' init, unless `--init-ms` says).
fn load_figures(
    args: &PlanArgs,
    reports: Option<&ReportsUsed>,
) -> anyhow::Result<(FigureBook, Vec<String>)> {
    let mut book = FigureBook::parse(FIGURES, FIGURES_NAME)?;
    let mut from = vec![FIGURES_NAME.to_owned()];
    for (file, group) in [(&args.prices, Group::Prices), (&args.limits, Group::Limits)] {
        if let Some(f) = file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| usage(format!("reading {}: {e}", f.display())))?;
            let name = f.display().to_string();
            book.apply_overrides(group, &text, &name)
                .map_err(|e| usage(e.to_string()))?;
            from.push(name);
        }
    }
    let mut flag = |group, name: &str, value: Option<f64>, flag: &str| -> anyhow::Result<()> {
        if let Some(v) = value {
            let json = serde_json::json!({ name: v }).to_string();
            book.apply_overrides(group, &json, flag)
                .map_err(|e| usage(e.to_string()))?;
        }
        Ok(())
    };
    flag(
        Group::Limits,
        "lambda_account_concurrency",
        args.concurrency,
        "--concurrency",
    )?;
    let reported_init = reports.and_then(|r| r.figures.init_ms_p50);
    let (init_ms, init_from) = match (args.init_ms, reported_init) {
        (Some(ms), _) => (Some(ms), "--init-ms"),
        (None, Some(ms)) => (Some(ms), "REPORT lines (median Init Duration)"),
        (None, None) => (None, "--init-ms"),
    };
    flag(Group::Footprint, "init_ms_arm64", init_ms, init_from)?;
    flag(Group::Footprint, "init_ms_x86_64", init_ms, init_from)?;
    flag(
        Group::Footprint,
        "handler_log_bytes",
        args.handler_log_bytes,
        "--handler-log-bytes",
    )?;
    Ok((book, from))
}

/// Bounds past which an input is a mistake, not a plan.
fn within(flag: &str, v: f64, lo: f64, hi: f64) -> anyhow::Result<()> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(usage(format!(
            "{flag} {v}: expected a number from {} to {}",
            cost::num(lo, 3),
            cost::num(hi, 0)
        )))
    }
}

fn check_traffic(a: &PlanArgs) -> anyhow::Result<()> {
    within("--visits-per-month", a.visits_per_month, 0.0, 1e13)?;
    within("--peak-per-second", a.peak_per_second, 0.0, 1e8)?;
    within("--reads-per-visit", a.reads_per_visit, 0.0, 1000.0)?;
    within("--cold-start-rate", a.cold_start_rate, 0.0, 1.0)?;
    let average = a.visits_per_month / SECONDS_PER_MONTH;
    if a.peak_per_second < average {
        return Err(usage(format!(
            "--peak-per-second {} is below the month's average of {} visits/s (--visits-per-month {})",
            a.peak_per_second,
            cost::num(average, 3),
            a.visits_per_month
        )));
    }
    for (flag, v, lo, hi) in [
        ("--concurrency", a.concurrency, 1.0, 1e7),
        ("--lambda-ms", a.lambda_ms, 0.001, 900_000.0),
        ("--init-ms", a.init_ms, 0.0, 10_000.0),
        ("--handler-log-bytes", a.handler_log_bytes, 0.0, 1_048_576.0),
    ] {
        if let Some(v) = v {
            within(flag, v, lo, hi)?;
        }
    }
    Ok(())
}

/// The shape, whoever gave it: Lambda's own ranges.
fn check_stack(s: &Stack) -> anyhow::Result<()> {
    within("memory (MB)", s.memory_mb, 128.0, 10_240.0)?;
    within("timeout (s)", s.timeout_s, 1.0, 900.0)?;
    if let Some(t) = s.route_throttle {
        within("route throttle rate", t.rate, 0.001, 1e8)?;
        within("route throttle burst", t.burst, 0.0, 1e8)?;
    }
    if let Some(r) = s.reserved_concurrency {
        within("reserved concurrency", r, 1.0, 1e7)?;
    }
    if let Some(d) = s.log_retention_days {
        within("log retention (days)", d, 1.0, 3653.0)?;
    }
    if let Some(l) = s.per_client_limit {
        // AWS WAF's rate-based rules take 10 and up.
        within("per-client limit", l, 10.0, 2e9)?;
    }
    Ok(())
}

/// The template's shape: the one named, the one found, or none.
fn template_shape(
    args: &PlanArgs,
    cwd: &Path,
    quotas: &Quotas,
) -> anyhow::Result<(Option<(TemplateShape, PathBuf)>, String)> {
    let found = match (&args.template, args.no_template) {
        (Some(file), _) => Some((file.clone(), "given with --template".to_owned())),
        (None, true) => None,
        (None, false) => {
            sam_template::find(cwd).map(|f| (f, format!("found from {}", cwd.display())))
        }
    };
    let Some((file, how)) = found else {
        if let Some((name, _)) = args.parameters.first() {
            return Err(usage(format!(
                "--parameter {name}: no template to give it to (no {} found from {}; name one with --template)",
                sam_template::RELATIVE_PATH,
                cwd.display()
            )));
        }
        let note = if args.no_template {
            "no template read (--no-template)".to_owned()
        } else {
            format!(
                "no {} in {} or above it up to the git root: planning from flags and defaults (HTTP API, no route throttle, arm64, 128 MB, 6 s, logs never expire)",
                sam_template::RELATIVE_PATH,
                cwd.display()
            )
        };
        return Ok((None, note));
    };
    let account = sam_template::Throttle {
        rate: quotas.api_gateway_account_rps,
        burst: quotas.api_gateway_account_burst,
    };
    let shape =
        template::read(&file, &args.parameters, account).map_err(|e| usage(e.to_string()))?;
    let parameters = if args.parameters.is_empty() {
        "parameters at their defaults".to_owned()
    } else {
        let given: Vec<String> = args
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("parameters at their defaults but {}", given.join(", "))
    };
    Ok((
        Some((shape, file.clone())),
        format!("{} ({how}; {parameters})", file.display()),
    ))
}

/// The shape when neither a flag nor a template says (the note in
/// [`template_shape`] names these).
const DEFAULT_STACK: Stack = Stack {
    api: ApiKind::Http,
    arch: Arch::Arm64,
    memory_mb: 128.0,
    timeout_s: 6.0,
    route_throttle: None,
    reserved_concurrency: None,
    log_retention_days: None,
    stage_ceiling: None,
    per_client_limit: None,
};

/// A flag, where given, over the template's or the default value.
fn flag<T>(field: &mut T, origin: &mut Origin, flag: Option<T>) {
    if let Some(v) = flag {
        *field = v;
        *origin = Origin::Flag;
    }
}

/// The template's shape (else the defaults), with each flag given over it.
fn stack(args: &PlanArgs, cwd: &Path, quotas: &Quotas) -> anyhow::Result<(Stack, StackOrigins)> {
    let (shape, note) = template_shape(args, cwd, quotas)?;
    let (mut s, from) = match &shape {
        Some((t, _)) => (t.stack, Origin::Template),
        None => (DEFAULT_STACK, Origin::Default),
    };
    let mut o = StackOrigins {
        template: shape.as_ref().map(|(_, f)| f.clone()),
        note,
        api: from,
        arch: from,
        memory_mb: from,
        timeout_s: from,
        route_throttle: from,
        reserved_concurrency: from,
        log_retention_days: from,
        stage_ceiling: from,
        per_client_limit: from,
    };
    flag(&mut s.api, &mut o.api, args.api.map(Into::into));
    flag(&mut s.arch, &mut o.arch, args.arch.map(Into::into));
    flag(&mut s.memory_mb, &mut o.memory_mb, args.memory_mb);
    flag(&mut s.timeout_s, &mut o.timeout_s, args.timeout_s);
    let burst = |rate| {
        args.route_burst
            .or(s.route_throttle.map(|t| t.burst))
            .unwrap_or(rate)
    };
    let throttle = args.route_rate.map(|rate| {
        Some(Throttle {
            rate,
            burst: burst(rate),
        })
    });
    flag(&mut s.route_throttle, &mut o.route_throttle, throttle);
    let reserved = args.reserved_concurrency.map(Some);
    flag(
        &mut s.reserved_concurrency,
        &mut o.reserved_concurrency,
        reserved,
    );
    let retention = args.log_retention_days.map(Some);
    flag(
        &mut s.log_retention_days,
        &mut o.log_retention_days,
        retention,
    );
    let per_client = args.per_client_limit.map(|l| Some(l).filter(|l| *l > 0.0));
    flag(&mut s.per_client_limit, &mut o.per_client_limit, per_client);
    // The template's routes, at the default throttle as flagged.
    s.stage_ceiling = shape
        .as_ref()
        .and_then(|(t, _)| template::ceiling(&t.routes, s.route_throttle));
    if s.stage_ceiling.is_none() {
        o.stage_ceiling = Origin::Default;
    }
    Ok((s, o))
}

/// What the run measured: the function's own time when the responses
/// carried it, else the client's latency (of the knee step, in a stepped
/// run: saturated steps would inflate it).
fn measured(
    args: &PlanArgs,
    s: &Summary,
    reports: Option<&ReportsUsed>,
) -> anyhow::Result<Measured> {
    let knee = s.knee.and_then(|k| s.steps.get(k));
    let client_ms = knee.map_or(s.latency.ok.mean_ms, |k| k.latency.mean_ms);
    let billed = reports.map(|r| {
        let f = &r.figures;
        (
            f.warm_billed_ms_mean.unwrap_or(f.billed_ms_p50),
            f.invocations,
        )
    });
    let (function_ms, basis) = match (args.lambda_ms, s.server_timing.filter(|t| t.count > 0)) {
        (Some(ms), _) => (ms, DurationBasis::Given),
        (None, _) if billed.is_some() => {
            let (ms, invocations) = billed.unwrap_or_default();
            (ms, DurationBasis::LambdaReports { invocations })
        }
        (None, Some(t)) => (
            t.mean_ms,
            DurationBasis::ServerTiming { responses: t.count },
        ),
        (None, None) => (client_ms, DurationBasis::ClientLatency),
    };
    if !(function_ms > 0.0 && function_ms.is_finite()) {
        return Err(usage(
            "the run measured no duration (no ok response, no Server-Timing): give --lambda-ms"
                .into(),
        ));
    }
    let demonstrated = match knee {
        Some(k) => Some(k.achieved_rps),
        None if s.steps.is_empty() => Some(s.throughput_rps),
        None => None,
    };
    Ok(Measured {
        function_ms,
        basis,
        response_body_bytes: s.response_bytes_mean,
        demonstrated_rps: demonstrated.filter(|r| *r > 0.0),
        local_stage: s.run.local_stage,
    })
}

fn input_warnings(origins: &StackOrigins) -> Vec<Warning> {
    let mut out = Vec::new();
    if origins.template.is_none() {
        out.push(Warning::new(
            WarningKind::Inputs,
            format!("Stack: {}.", origins.note),
        ));
    }
    out
}

#[cfg(test)]
mod tests;
