//! The run directory: where a run's files go and what they are called.
//!
//! ```text
//! <out-dir>/<run-id>/[node-<n>/]
//!   summary.json        machine-readable result (README: "summary.json")
//!   observations.bin    every request, 32-byte records (see observation.rs)
//!   latency.hgrm        percentile distribution, HdrHistogram text format
//!   latency.hdr         the histogram, serialized (V2), mergeable
//!   report.html         self-contained report, charts as inline SVG
//!   over-time.svg, latency-vs-throughput.svg (stepped runs)
//!   goose-report.html   goose's own report (its charts need the internet)
//!   per-second.jsonl    the timeline, a line a second as the run goes
//! ```
//!
//! The names are [`crate::analysis::summary::files`]: summary.json lists
//! them, and this module writes them (all but per-second.jsonl, which
//! `load/per_second.rs` writes during the run).

use std::fmt::Write as _;
use std::io::BufWriter;
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};

use super::{html, plot, timeline};
use crate::analysis::observation::{self, Observation};
use crate::analysis::stats::histogram;
use crate::analysis::summary::{Summary, files};

/// goose's own report, beside ours.
pub const GOOSE_REPORT: &str = "goose-report.html";

/// `<out>/<run-id>` for a run on one node, `<out>/<run-id>/node-<n>` for
/// node `n` of several.
pub fn path(out: &Path, run_id: &str, node: Option<NonZeroU16>) -> PathBuf {
    let dir = out.join(run_id);
    match node {
        None => dir,
        Some(n) => dir.join(format!("node-{n}")),
    }
}

pub fn write_run(dir: &Path, summary: &Summary, ops: &[Observation]) -> anyhow::Result<()> {
    let h = histogram(ops);
    write_histogram(dir, &h)?;
    let file = std::fs::File::create(dir.join(files::OBSERVATIONS))?;
    observation::write_all(BufWriter::new(file), ops)?;
    write_summary(dir, summary, &h)
}

/// summary.json, the charts and report.html (all but the observations).
pub fn write_summary(dir: &Path, summary: &Summary, h: &Histogram<u64>) -> anyhow::Result<()> {
    std::fs::write(
        dir.join(files::SUMMARY),
        serde_json::to_string_pretty(summary)?,
    )
    .context("writing summary.json")?;
    let over_time = plot::over_time(&summary.per_second, &summary.faults, &summary.steps);
    std::fs::write(dir.join(files::PLOT_OVER_TIME), &over_time)?;
    let mut charts = vec![("Over time", over_time)];
    if !summary.steps.is_empty() {
        let max_p99 = summary
            .thresholds
            .iter()
            .find(|t| t.name == "p99_ms")
            .map(|t| t.limit);
        let curve = plot::latency_vs_throughput(
            &summary.steps,
            summary.knee,
            summary.usl.as_ref(),
            max_p99,
        );
        std::fs::write(dir.join(files::PLOT_LATENCY_VS_THROUGHPUT), &curve)?;
        charts.insert(0, ("Latency against load", curve));
    }
    charts.push(("Percentiles", plot::percentiles(&percentile_points(h))));
    if let Some(why) = timeline::why_it_failed(&summary.verdict) {
        charts.insert(0, ("Why it failed", why));
    }
    std::fs::write(dir.join(files::REPORT), html::page(summary, dir, &charts))
        .context("writing report.html")
}

pub fn write_histogram(dir: &Path, h: &Histogram<u64>) -> anyhow::Result<()> {
    std::fs::write(dir.join(files::HISTOGRAM_TEXT), hgrm(h))?;
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing the histogram: {e:?}"))?;
    std::fs::write(dir.join(files::HISTOGRAM), bytes)?;
    Ok(())
}

fn percentile_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return vec![];
    }
    (0..=1000)
        .map(|i| {
            let q = f64::from(i) / 1000.0 * 0.999;
            (q * 100.0, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

/// The HdrHistogram percentile-distribution text (values in ms).
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let inverse = if q < 1.0 {
            format!("{:14.2}", 1.0 / (1.0 - q))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:12.3} {:14.12} {total:10} {inverse}",
            v.value_iterated_to() as f64 / 1000.0,
            q,
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    );
    out
}
