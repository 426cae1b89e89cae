//! `loadtest plan`: a run's summary plus a traffic profile → monthly cost
//! by service and the limit that binds first.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::analysis::cost::{self, ApiKind, Arch, CapacityPlan, Measured, Prices, Quotas, Traffic};
use crate::analysis::summary::{Summary, files};

/// Response headers API Gateway sends besides the body (an estimate; the
/// harness measures only the body).
pub const HEADER_BYTES: f64 = 350.0;

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// A run directory (or its summary.json).
    pub run: PathBuf,
    /// Visits a month to plan for.
    #[arg(long, value_name = "N")]
    pub visits_per_month: f64,
    /// Peak visits a second.
    #[arg(long, value_name = "N")]
    pub peak_per_second: f64,
    #[arg(long, value_enum, default_value_t = ApiArg::Http)]
    pub api: ApiArg,
    #[arg(long, value_enum, default_value_t = ArchArg::Arm64)]
    pub arch: ArchArg,
    /// Lambda memory (infra/template.yaml deploys 128).
    #[arg(long, value_name = "MB", default_value_t = 128.0)]
    pub memory_mb: f64,
    /// Lambda duration to bill; default: the run's mean latency of ok
    /// requests (of the knee step, for a stepped run).
    #[arg(long, value_name = "MS")]
    pub lambda_ms: Option<f64>,
    /// JSON file overriding some prices (field names as in README, "Capacity planning").
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// JSON file overriding some quotas (limits), likewise.
    #[arg(long, value_name = "FILE")]
    pub limits: Option<PathBuf>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
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

pub fn load_summary(path: &std::path::Path) -> anyhow::Result<Summary> {
    let file = if path.is_dir() {
        path.join(files::SUMMARY)
    } else {
        path.to_owned()
    };
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a run summary", file.display()))
}

fn load<T: serde::de::DeserializeOwned + Default>(file: &Option<PathBuf>) -> anyhow::Result<T> {
    match file {
        None => Ok(T::default()),
        Some(f) => {
            let text =
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{}", f.display()))
        }
    }
}

pub fn make_plan(args: &PlanArgs) -> anyhow::Result<(CapacityPlan, Summary)> {
    if !(args.visits_per_month >= 0.0 && args.peak_per_second >= 0.0 && args.memory_mb > 0.0) {
        return Err(crate::UsageError(
            "--visits-per-month and --peak-per-second must be ≥ 0, --memory-mb > 0".into(),
        )
        .into());
    }
    let summary = load_summary(&args.run)?;
    let prices: Prices = load(&args.prices)?;
    let quotas: Quotas = load(&args.limits)?;
    let stage_capacity = match summary.knee {
        Some(k) => summary.steps.get(k).map(|s| s.achieved_rps),
        None if summary.steps.is_empty() => Some(summary.throughput_rps),
        None => None,
    };
    // A stepped run's saturated steps would inflate the mean: use the knee's.
    let knee_mean = summary
        .knee
        .and_then(|k| summary.steps.get(k))
        .map(|s| s.latency.mean_ms);
    let measured = Measured {
        lambda_duration_ms: args
            .lambda_ms
            .or(knee_mean)
            .unwrap_or(summary.latency.ok.mean_ms),
        response_bytes: summary.response_bytes_mean + HEADER_BYTES,
        stage_capacity_rps: stage_capacity.filter(|c| *c > 0.0),
    };
    let traffic = Traffic {
        visits_per_month: args.visits_per_month,
        peak_visits_per_second: args.peak_per_second,
        api: args.api.into(),
        arch: args.arch.into(),
        lambda_memory_mb: args.memory_mb,
    };
    Ok((
        cost::estimate(&traffic, &measured, &prices, &quotas),
        summary,
    ))
}

pub fn text(p: &CapacityPlan, s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Capacity plan for {:.0} visits a month, peak {:.1} visits/s",
        p.traffic.visits_per_month, p.traffic.peak_visits_per_second
    );
    let _ = writeln!(
        o,
        "From run {} against {}{}: mean latency {:.2} ms (billed as the Lambda's duration), {:.0} B a response",
        s.run.run_id,
        s.run.host,
        if s.run.local_stage {
            " (local stage: not AWS; measure a real stage for real figures)"
        } else {
            ""
        },
        p.measured.lambda_duration_ms,
        p.measured.response_bytes
    );
    let _ = writeln!(o, "\nMonthly cost (USD)");
    for c in &p.costs {
        let _ = writeln!(
            o,
            "  {:<32} {:>10.2}   {}",
            c.service, c.usd_per_month, c.basis
        );
    }
    let _ = writeln!(o, "  {:<32} {:>10.2}", "total", p.total_usd_per_month);
    let _ = writeln!(
        o,
        "\nLimits at the peak                              capacity     needed   headroom   binds at visits/s"
    );
    for l in &p.limits {
        let _ = writeln!(
            o,
            "  {:<44} {:>10.1} {:>10.2} {:>9.1}x {:>12.0}",
            l.limit, l.capacity, l.needed_at_peak, l.headroom, l.binds_at_visits_per_second
        );
    }
    let _ = writeln!(o, "\nBinds first: {}", p.binding_limit);
    for w in &p.warnings {
        let _ = writeln!(o, "\nWARNING: {w}");
    }
    o
}

pub fn print_plan(args: &PlanArgs) -> anyhow::Result<()> {
    let (plan, summary) = make_plan(args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", text(&plan, &summary));
    }
    Ok(())
}
