//! `loadtest compare BASE NEW`: reads two run directories (or merges),
//! compares them ([`crate::analysis::compare`]) and prints the table;
//! regressions past the limits given make the exit code 1.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::UsageError;
use crate::analysis::compare::{self, FirstLimit, RegressionLimits, Side};
use crate::analysis::run_start::RunStart;
use crate::analysis::summary::{Summary, files};
use crate::output;

/// A plan saved beside a run (`loadtest plan DIR ... --json > DIR/plan.json`).
pub const PLAN: &str = "plan.json";

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline: a run directory or a merge's (with summary.json).
    pub base: PathBuf,
    /// The run to judge against it.
    pub new: PathBuf,
    /// Fail (exit 1) when p99 rose by more than this many percent.
    #[arg(long, value_name = "PCT", value_parser = percent)]
    pub max_p99_increase: Option<f64>,
    /// Fail (exit 1) when throughput fell by more than this many percent.
    #[arg(long, value_name = "PCT", value_parser = percent)]
    pub max_throughput_drop: Option<f64>,
    /// Fail (exit 1) when the error rate rose by more than this (a fraction: 0.01 is one point).
    #[arg(long, value_name = "X", value_parser = crate::commands::cli::fraction)]
    pub max_error_rate_increase: Option<f64>,
    /// Print the table as Markdown (for a CI job summary).
    #[arg(long)]
    pub markdown: bool,
}

fn percent(s: &str) -> Result<f64, String> {
    match s.trim_end_matches('%').parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100_000.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a percentage (0 or more, such as 50)")),
    }
}

/// What compare reads of one run directory.
struct Run {
    summary: Summary,
    start: Option<RunStart>,
    first_limit: Option<FirstLimit>,
}

/// Compares, prints the table; Ok(true) when no regression passed its limit.
pub fn compare(args: &CompareArgs) -> anyhow::Result<bool> {
    let base = read(&args.base)?;
    let new = read(&args.new)?;
    let limits = RegressionLimits {
        max_p99_increase_pct: args.max_p99_increase,
        max_throughput_drop_pct: args.max_throughput_drop,
        max_error_rate_increase: args.max_error_rate_increase,
    };
    let c = compare::compare(base.side(), new.side(), &limits);
    if args.markdown {
        print!("{}", output::compare::markdown(&c));
    } else {
        print!("{}", output::compare::text(&c));
    }
    Ok(c.passed())
}

impl Run {
    fn side(&self) -> Side<'_> {
        Side {
            summary: &self.summary,
            model: self.start.as_ref().map(|s| s.model),
            planned_duration_s: self.start.as_ref().and_then(|s| s.planned_duration_s),
            first_limit: self.first_limit.as_ref(),
        }
    }
}

fn read(dir: &Path) -> anyhow::Result<Run> {
    let usage = |why: String| UsageError(format!("{}: {why}", dir.display()));
    if !dir.join(files::SUMMARY).is_file() {
        let killed = dir.join(files::RUN_START).is_file();
        return Err(usage(if killed {
            format!(
                "no {}: the run was killed; `loadtest report {}` judges it and writes one",
                files::SUMMARY,
                dir.display()
            )
        } else {
            format!("no {}: not a run directory", files::SUMMARY)
        })
        .into());
    }
    let (summary, _) = super::plan::load_summary(dir)?;
    let start = crate::output::run_dir::read_start(dir)?;
    let first_limit = match std::fs::read_to_string(dir.join(PLAN)) {
        Ok(text) => Some(first_limit(&text).map_err(|e| usage(format!("{PLAN}: {e}")))?),
        Err(_) => None,
    };
    Ok(Run {
        summary,
        start,
        first_limit,
    })
}

/// The limit a saved plan (`plan --json`) reaches first, and where.
fn first_limit(text: &str) -> Result<FirstLimit, String> {
    let plan: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let kind = plan["binding_limit"]
        .as_str()
        .ok_or("no binding_limit: not the output of `loadtest plan --json`")?;
    let line = plan["limits"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["kind"] == kind))
        .ok_or("its binding limit is not among its limits")?;
    Ok(FirstLimit {
        limit: line["limit"].as_str().unwrap_or(kind).to_owned(),
        visits_per_second: line["binds_at_visits_per_second"]
            .as_f64()
            .ok_or("the binding limit has no binds_at_visits_per_second")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_plan_gives_its_first_limit_and_anything_else_is_refused() {
        let plan = serde_json::json!({
            "binding_limit": "dynamo_db_item_throughput",
            "limits": [
                {"kind": "lambda_concurrency", "limit": "Lambda", "binds_at_visits_per_second": 4000.0},
                {"kind": "dynamo_db_item_throughput", "limit": "DynamoDB one item", "binds_at_visits_per_second": 1000.0}
            ]
        });
        assert_eq!(
            first_limit(&plan.to_string()),
            Ok(FirstLimit {
                limit: "DynamoDB one item".into(),
                visits_per_second: 1000.0
            })
        );
        assert!(first_limit("{}").is_err());
        assert!(first_limit("[").is_err());
        assert!(percent("50").is_ok() && percent("50%").is_ok());
        assert!(percent("-1").is_err() && percent("NaN").is_err());
    }
}
