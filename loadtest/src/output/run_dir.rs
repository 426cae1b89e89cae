//! The run directory: where a run's files go and what they are called.
//!
//! ```text
//! <out-dir>/<run-id>/[node-<n>/]
//!   run.json            what the run is, written as its load begins
//!   summary.json        machine-readable result (docs/run-directory.md)
//!   observations.bin    every request, 32-byte records (see observation.rs),
//!                       streamed as the run goes (load/stream.rs)
//!   latency.hgrm        percentile distribution, HdrHistogram text format
//!   latency.hdr         the histogram, serialized (V2), mergeable
//!   report.html         self-contained report, charts as inline SVG
//!   over-time.svg, latency-vs-throughput.svg (stepped runs)
//!   goose-report.html   goose's own report (its charts need the internet)
//!   per-second.jsonl    the timeline, a line a second as the run goes
//! ```
//!
//! The names are [`crate::analysis::summary::files`]: summary.json lists
//! them, and this module writes them (all but those written during the
//! run: per-second.jsonl by `load/per_second.rs`, run.json and
//! observations.bin by `load/stream.rs`).

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
use crate::load::stream::Streamed;

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

/// A whole run directory from memory: the observations, the histogram,
/// summary.json and the report.
pub fn write_run(dir: &Path, summary: &Summary, ops: &[Observation]) -> anyhow::Result<()> {
    write_observations(dir, ops)?;
    let h = histogram(ops);
    write_histogram(dir, &h)?;
    write_summary(dir, summary, &h, None)
}

/// The end of a run whose observations were streamed: its histogram,
/// summary.json and report, and the observations whole only if streaming
/// them failed (else they are on disk already).
pub fn finish_run(
    dir: &Path,
    summary: &Summary,
    ops: &[Observation],
    streamed: &Streamed,
    baseline: Option<&Baseline>,
) -> anyhow::Result<()> {
    let h = histogram(ops);
    write_histogram(dir, &h)?;
    // The stream said why when it failed; the whole history is written now.
    if let Streamed::Failed(_) = streamed {
        write_observations(dir, ops)?;
    }
    write_summary(dir, summary, &h, baseline)
}

/// observations.bin, whole.
pub fn write_observations(dir: &Path, ops: &[Observation]) -> anyhow::Result<()> {
    let path = dir.join(files::OBSERVATIONS);
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    observation::write_all(BufWriter::new(file), ops)
        .with_context(|| format!("writing {}", path.display()))
}

/// Another run's latencies, drawn beside this one's (`--baseline DIR`).
#[derive(Debug, Clone)]
pub struct Baseline {
    /// Its run id (or directory name).
    pub label: String,
    /// (percentile, ms), as [`percentile_points`] gives them.
    pub points: Vec<(f64, f64)>,
}

/// The latency.hdr of the run in `dir`; the error says what is wrong
/// with it (the caller names the directory).
pub fn read_histogram(dir: &Path) -> Result<Histogram<u64>, String> {
    let bytes = std::fs::read(dir.join(files::HISTOGRAM))
        .map_err(|e| format!("no {} to read ({e})", files::HISTOGRAM))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("{} is not a histogram: {e:?}", files::HISTOGRAM))
}

/// run.json, if the run wrote one (runs before it did not).
pub fn read_start(dir: &Path) -> anyhow::Result<Option<crate::analysis::run_start::RunStart>> {
    let path = dir.join(files::RUN_START);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(crate::UsageError(format!("reading {}: {e}", path.display())).into()),
    };
    crate::analysis::run_start::parse(&text)
        .map(Some)
        .map_err(|e| crate::UsageError(format!("{}: {e}", path.display())).into())
}

/// The baseline run in `dir`: its latency.hdr (every run and merge has
/// one), named by its summary's run id. Refused (exit 2) when unreadable.
pub fn read_baseline(dir: &Path) -> anyhow::Result<Baseline> {
    let usage = |why: String| crate::UsageError(format!("--baseline {}: {why}", dir.display()));
    let h = read_histogram(dir).map_err(|e| usage(format!("{e}: give a run directory")))?;
    let label = std::fs::read_to_string(dir.join(files::SUMMARY))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["run_id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Baseline {
        label,
        points: percentile_points(&h),
    })
}

/// summary.json, the charts and report.html (all but the observations).
pub fn write_summary(
    dir: &Path,
    summary: &Summary,
    h: &Histogram<u64>,
    baseline: Option<&Baseline>,
) -> anyhow::Result<()> {
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
    let base = baseline.map(|b| (b.label.as_str(), b.points.as_slice()));
    let title = if baseline.is_some() {
        "Percentiles, beside the baseline's"
    } else {
        "Percentiles"
    };
    charts.push((
        title,
        plot::percentiles(&summary.run.run_id, &percentile_points(h), base),
    ));
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
