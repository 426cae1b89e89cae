//! What `plan` prints: one report, as text (sections written to any
//! `fmt::Write`) or as JSON, with the same warnings in both.

use std::fmt::{self, Write};
use std::path::PathBuf;

use serde::Serialize;

use super::{Origin, StackOrigins};
use crate::analysis::cost::{
    ApiKind, CapacityPlan, DurationBasis, FigureBook, LimitKind, Stack, num, price,
};
use crate::analysis::summary::Summary;

/// The run a plan comes from.
#[derive(Debug, Clone, Serialize)]
pub struct RunRef {
    pub run_id: String,
    pub host: String,
    pub local_stage: bool,
    pub summary: PathBuf,
    pub schema_version: u32,
    pub started_at_unix_ns: u64,
    /// A stepped run's knee (step index), whose figures the plan used.
    pub knee: Option<usize>,
}

impl RunRef {
    pub fn of(s: &Summary, summary: PathBuf) -> Self {
        Self {
            run_id: s.run.run_id.clone(),
            host: s.run.host.clone(),
            local_stage: s.run.local_stage,
            summary,
            schema_version: s.schema_version,
            started_at_unix_ns: s.run.started_at_unix_ns,
            knee: s.knee,
        }
    }
}

/// A plan and everything it rests on. `plan --json` prints this.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub run: RunRef,
    /// Where each part of the stack's shape came from.
    pub stack_origins: StackOrigins,
    /// The figures' files, in the order applied.
    pub figures_from: Vec<String>,
    /// Every figure used, with its unit, region, source and date.
    pub figures: FigureBook,
    /// With `--free-tier`: the total without it.
    pub total_without_free_tier: Option<f64>,
    /// The REPORT lines billed from (`--lambda-reports`, or an emulated
    /// run's own), if any.
    pub lambda_reports: Option<super::ReportsUsed>,
    /// Traffic, stack, measured, costs, limits, the binding limit, warnings.
    #[serde(flatten)]
    pub plan: CapacityPlan,
}

pub fn text(r: &PlanReport, explain: bool) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = write_text(&mut o, r, explain);
    o
}

fn write_text(o: &mut impl Write, r: &PlanReport, explain: bool) -> fmt::Result {
    header(o, r)?;
    stack(o, &r.plan.stack, &r.stack_origins)?;
    costs(o, r, explain)?;
    worst_case(o, &r.plan, explain)?;
    limits(o, &r.plan, explain)?;
    for w in &r.plan.warnings {
        writeln!(o, "\nWARNING: {}", w.message)?;
    }
    if explain {
        sources(o, &r.figures)?;
    }
    Ok(())
}

fn header(o: &mut impl Write, r: &PlanReport) -> fmt::Result {
    let t = &r.plan.traffic;
    let m = &r.plan.measured;
    writeln!(
        o,
        "Capacity plan for {} visits a month, peak {} visits/s ({} reads a visit, {}% cold starts, free tier {})",
        num(t.visits_per_month, 0),
        num(t.peak_visits_per_second, 2),
        num(t.reads_per_visit, 3),
        num(100.0 * t.cold_start_rate, 3),
        if t.free_tier {
            "included"
        } else {
            "not included: --free-tier"
        }
    )?;
    writeln!(
        o,
        "From run {} against {}{}: {}",
        r.run.run_id,
        r.run.host,
        if r.run.local_stage {
            " (the local stage: not AWS)"
        } else {
            ""
        },
        r.run.summary.display()
    )?;
    let basis = match m.basis {
        DurationBasis::ServerTiming { responses } => format!(
            "the function's measured duration: the handler's own Server-Timing, mean of {} responses",
            num(responses as f64, 0)
        ),
        DurationBasis::ClientLatency => {
            "the client's mean latency of ok requests (an upper bound: it includes the network and API Gateway)"
                .to_owned()
        }
        DurationBasis::Given => "given with --lambda-ms".to_owned(),
        DurationBasis::LambdaReports { invocations } => format!(
            "Lambda's REPORT lines: the mean Billed Duration of the warm ones among {} invocations",
            num(invocations as f64, 0)
        ),
    };
    writeln!(
        o,
        "Billed duration: {} ms, {basis}; {} B a response body",
        num(m.function_ms, 3),
        num(m.response_body_bytes, 1)
    )?;
    if let Some(used) = &r.lambda_reports {
        let f = &used.figures;
        let init = f.init_ms_p50.map_or("none".to_owned(), |ms| {
            format!("median init {} ms", num(ms, 2))
        });
        writeln!(
            o,
            "REPORT lines: {} invocations, {} cold starts ({init}), billed p50 {} ms, p99 {} ms, max memory used {} of {} MB; from {}",
            f.invocations,
            f.cold_starts,
            num(f.billed_ms_p50, 0),
            num(f.billed_ms_p99, 0),
            num(f.max_memory_used_mb, 0),
            num(f.memory_size_mb, 0),
            used.from
        )?;
    }
    Ok(())
}

fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Template => "template",
        Origin::Flag => "flag",
        Origin::Default => "default",
    }
}

fn stack(o: &mut impl Write, s: &Stack, from: &StackOrigins) -> fmt::Result {
    writeln!(o, "Stack: {}", from.note)?;
    let api = match s.api {
        ApiKind::Http => "HTTP API",
        ApiKind::Rest => "REST API",
    };
    let throttle = s
        .route_throttle
        .map_or("no route throttle".to_owned(), |t| {
            format!(
                "route throttle {}/s burst {}",
                num(t.rate, 3),
                num(t.burst, 0)
            )
        });
    let reserved = s
        .reserved_concurrency
        .map_or("none".to_owned(), |r| num(r, 0));
    let retention = s.log_retention_days.map_or("never expire".to_owned(), |d| {
        format!("kept {} days", num(d, 0))
    });
    writeln!(
        o,
        "  {api} [{}], {throttle} [{}], {} [{}], {} MB [{}], timeout {} s [{}], reserved concurrency {reserved} [{}], logs {retention} [{}]",
        origin(from.api),
        origin(from.route_throttle),
        s.arch.name(),
        origin(from.arch),
        num(s.memory_mb, 0),
        origin(from.memory_mb),
        num(s.timeout_s, 3),
        origin(from.timeout_s),
        origin(from.reserved_concurrency),
        origin(from.log_retention_days)
    )?;
    let ceiling = s
        .stage_ceiling
        .map_or("unknown (no routes read)".to_owned(), |c| {
            format!(
                "{} routes, {}/s, buckets of {} together",
                c.routes,
                num(c.rate, 3),
                num(c.burst, 0)
            )
        });
    let per_client = s.per_client_limit.map_or("off".to_owned(), |l| {
        format!(
            "{} requests to /visits per client IP in 5 minutes (AWS WAF; the API behind CloudFront)",
            num(l, 0)
        )
    });
    writeln!(
        o,
        "  stage ceiling {ceiling} [{}], per-client limit {per_client} [{}]",
        origin(from.stage_ceiling),
        origin(from.per_client_limit)
    )
}

/// A month with every route at its throttle: what the API can be made to cost.
fn worst_case(o: &mut impl Write, p: &CapacityPlan, explain: bool) -> fmt::Result {
    let Some(w) = &p.worst_case else {
        return Ok(());
    };
    writeln!(
        o,
        "\nWorst case: the stage at its whole ceiling all month ({} routes, {} requests/s, {} M requests) (USD)",
        w.ceiling.routes,
        num(w.ceiling.rate, 3),
        num(w.requests_per_month / 1e6, 1)
    )?;
    if explain {
        for line in &w.explain {
            writeln!(o, "      {line}")?;
        }
    }
    for c in &w.costs {
        writeln!(
            o,
            "  {:<34} {:>10.2}   {}",
            c.service, c.usd_per_month, c.basis
        )?;
    }
    writeln!(o, "  {:<34} {:>10.2}", "total", w.total_usd_per_month)
}

fn costs(o: &mut impl Write, r: &PlanReport, explain: bool) -> fmt::Result {
    writeln!(o, "\nMonthly cost (USD)")?;
    for c in &r.plan.costs {
        writeln!(
            o,
            "  {:<34} {:>10.2}   {}",
            c.service, c.usd_per_month, c.basis
        )?;
        if explain {
            for line in &c.explain {
                writeln!(o, "      {line}")?;
            }
        }
    }
    writeln!(o, "  {:<34} {:>10.2}", "total", r.plan.total_usd_per_month)?;
    if let Some(without) = r.total_without_free_tier {
        writeln!(
            o,
            "  (the free tier takes ${} off {}: {} without it)",
            num(without - r.plan.total_usd_per_month, 6),
            price(without),
            price(r.plan.total_usd_per_month)
        )?;
    }
    Ok(())
}

fn limits(o: &mut impl Write, p: &CapacityPlan, explain: bool) -> fmt::Result {
    writeln!(
        o,
        "\nLimits at the peak                               capacity       needed   headroom  binds at visits/s"
    )?;
    for l in &p.limits {
        writeln!(
            o,
            "  {:<44} {:>12} {:>12} {:>9}x {:>12}   {}",
            l.limit,
            num(l.capacity, 1),
            num(l.needed_at_peak, 2),
            num(l.headroom, 2),
            num(l.binds_at_visits_per_second, 1),
            l.unit
        )?;
        if explain {
            for line in &l.explain {
                writeln!(o, "      {line}")?;
            }
        }
    }
    let Some(kind) = p.binding_limit else {
        return Ok(());
    };
    let at = p.limit(kind).map_or(0.0, |l| l.binds_at_visits_per_second);
    let with: Vec<&str> = p.binds_with.iter().map(|k| LimitKind::label(*k)).collect();
    writeln!(
        o,
        "\nBinds first: {} at {} visits/s{}",
        kind.label(),
        num(at, 1),
        if with.is_empty() {
            String::new()
        } else {
            format!(" (tied with {})", with.join(", "))
        }
    )
}

fn sources(o: &mut impl Write, book: &FigureBook) -> fmt::Result {
    writeln!(o, "\nFigures used (value, unit; source, checked)")?;
    for (group, figures) in [
        ("prices", &book.prices),
        ("limits", &book.limits),
        ("footprint", &book.footprint),
    ] {
        for (name, f) in figures {
            writeln!(
                o,
                "  {group}.{name} = {} {} [{}]; {}, checked {}{}",
                f.value,
                f.unit,
                f.region,
                f.source,
                f.checked,
                f.how.as_deref().map_or(String::new(), |h| format!("; {h}"))
            )?;
        }
    }
    Ok(())
}
