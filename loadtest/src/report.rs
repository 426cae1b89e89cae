//! What a run leaves behind: the run directory and the terminal summary.
//!
//! ```text
//! target/loadtest/<run-id>/[node-<n>/]
//!   summary.json        machine-readable result (README: "summary.json")
//!   observations.bin    every request, 29-byte records (see observation.rs)
//!   latency.hgrm        percentile distribution, HdrHistogram text format
//!   latency.hdr         the histogram, serialized (V2), mergeable
//!   report.html         self-contained report, charts as inline SVG
//!   over-time.svg, latency-vs-throughput.svg (stepped runs)
//!   goose-report.html   goose's own report (its charts need the internet)
//! ```

use std::fmt::Write as _;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2Serializer};

use crate::checker::Status;
use crate::observation::{self, Observation};
use crate::plot;
use crate::stats::histogram;
use crate::summary::Summary;

/// `<out>/<run-id>` for node 0 alone, `<out>/<run-id>/node-<n>` otherwise.
pub fn run_dir(out: &Path, run_id: &str, node: u16) -> PathBuf {
    let dir = out.join(run_id);
    if node == 0 {
        dir
    } else {
        dir.join(format!("node-{node}"))
    }
}

pub fn write_run(dir: &Path, summary: &Summary, ops: &[Observation]) -> anyhow::Result<()> {
    let h = histogram(ops);
    write_histogram(dir, &h)?;
    let file = std::fs::File::create(dir.join("observations.bin"))?;
    observation::write_all(BufWriter::new(file), ops)?;
    write_summary(dir, summary, &h)
}

/// summary.json, the charts and report.html (all but the observations).
pub fn write_summary(dir: &Path, summary: &Summary, h: &Histogram<u64>) -> anyhow::Result<()> {
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(summary)?,
    )
    .context("writing summary.json")?;
    let over_time = plot::over_time(&summary.per_second);
    std::fs::write(dir.join("over-time.svg"), &over_time)?;
    let mut charts = vec![("Over time", over_time)];
    if !summary.steps.is_empty() {
        let curve = plot::latency_vs_throughput(&summary.steps, summary.knee);
        std::fs::write(dir.join("latency-vs-throughput.svg"), &curve)?;
        charts.insert(0, ("Latency against load", curve));
    }
    charts.push(("Percentiles", plot::percentiles(&percentile_points(h))));
    std::fs::write(dir.join("report.html"), html(summary, &charts)).context("writing report.html")
}

pub fn write_histogram(dir: &Path, h: &Histogram<u64>) -> anyhow::Result<()> {
    std::fs::write(dir.join("latency.hgrm"), hgrm(h))?;
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| anyhow::anyhow!("serializing the histogram: {e:?}"))?;
    std::fs::write(dir.join("latency.hdr"), bytes)?;
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

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Skipped => "SKIP",
    }
}

/// The terminal summary: the verdict first.
pub fn text(s: &Summary, dir: &Path) -> String {
    let mut o = String::new();
    let verdict = if s.verdict.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(
        o,
        "\nVERDICT: {verdict} (atomicity of {} on {})",
        s.run.path, s.run.host
    );
    for c in &s.verdict.checks {
        let _ = writeln!(
            o,
            "  {:<16} {}  {}",
            c.check.title(),
            mark(c.status),
            c.detail
        );
        for e in &c.examples {
            let _ = writeln!(o, "      {e}");
        }
    }
    if let Some(reason) = &s.aborted {
        let _ = writeln!(o, "ABORTED: {reason}");
    }
    if let Some(reason) = &s.stopped_early {
        let _ = writeln!(o, "Stopped at a bound: {reason}");
    }
    let r = &s.requests;
    let _ = writeln!(
        o,
        "\nRequests: {} in {:.1} s = {:.1} req/s with {} users",
        r.total, s.duration_s, s.throughput_rps, s.run.users
    );
    let _ = writeln!(
        o,
        "  ok {}, failed (4xx) {}, unknown {} (of which no response {}); error rate {:.2}%, throttled {:.2}%",
        r.ok,
        r.failed,
        r.unknown,
        r.no_response,
        100.0 * s.error_rate,
        100.0 * s.throttle_rate
    );
    let statuses: Vec<String> = r
        .by_status
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(o, "  by status: {}", statuses.join(", "));
    let _ = writeln!(
        o,
        "\nLatency (ms)          p50       p90       p99     p99.9       max"
    );
    for (name, l) in [
        ("ok", &s.latency.ok),
        ("failed (4xx)", &s.latency.failed),
        ("unknown", &s.latency.unknown),
        ("all", &s.latency.all),
        ("all, CO-corrected", &s.latency.all_co_corrected),
    ] {
        if l.count == 0 && name != "ok" && name != "all" {
            continue;
        }
        let _ = writeln!(
            o,
            "  {name:<18}{:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
    }
    let _ = writeln!(
        o,
        "  (CO correction: expected interval {:.3} ms per user)",
        s.latency.expected_interval_ms
    );
    if !s.steps.is_empty() {
        let _ = writeln!(
            o,
            "\nSteps   users   offered/s  achieved/s   p50 ms   p99 ms   max ms   errors  throttled"
        );
        for (i, st) in s.steps.iter().enumerate() {
            let offered = st
                .offered_rps
                .map_or("closed".to_owned(), |r| format!("{r:.0}"));
            let knee = if Some(i) == s.knee { "  <- knee" } else { "" };
            let _ = writeln!(
                o,
                "  {:>3} {:>7} {:>11} {:>11.1} {:>8.2} {:>8.2} {:>8.2} {:>7.2}% {:>8.2}%{knee}",
                i + 1,
                st.users,
                offered,
                st.achieved_rps,
                st.latency.p50_ms,
                st.latency.p99_ms,
                st.latency.max_ms,
                100.0 * st.error_rate,
                100.0 * st.throttle_rate
            );
        }
        match s.knee {
            Some(k) => {
                let _ = writeln!(
                    o,
                    "  knee: step {} ({} users, {:.0} req/s) is the last within the thresholds",
                    k + 1,
                    s.steps[k].users,
                    s.steps[k].achieved_rps
                );
            }
            None => {
                let _ = writeln!(
                    o,
                    "  knee: none, the first step already missed the thresholds"
                );
            }
        }
    }
    let g = &s.generator;
    let _ = writeln!(
        o,
        "\nGenerator CPU: {:.0}% of one core ({} cores){}",
        g.cpu_percent_of_one_core,
        g.cores,
        if g.saturated {
            "  WARNING: the generator saturated the machine; latencies include its own queueing"
        } else {
            ""
        }
    );
    if let Some(note) = &g.note {
        let _ = writeln!(o, "  ({note})");
    }
    if s.steps.is_empty() {
        for t in &s.thresholds {
            let _ = writeln!(
                o,
                "Threshold {}: {:.4} (limit {}) {}",
                t.name,
                t.actual,
                t.limit,
                if t.passed { "PASS" } else { "FAIL" }
            );
        }
    } else {
        let limits: Vec<String> = s
            .thresholds
            .iter()
            .map(|t| format!("{} ≤ {}", t.name, t.limit))
            .collect();
        let _ = writeln!(
            o,
            "Thresholds ({}) judge each step and so place the knee; a stepped run is gated by its verdict.",
            limits.join(", ")
        );
    }
    let _ = writeln!(o, "\nRun directory: {}", dir.display());
    let names: Vec<&str> = s.files.values().map(String::as_str).collect();
    let _ = writeln!(o, "  {}", names.join(", "));
    let _ = writeln!(o, "RESULT: {}", if s.passed { "PASS" } else { "FAIL" });
    o
}

pub fn print(s: &Summary, dir: &Path) {
    print!("{}", text(s, dir));
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A single self-contained page: no script, no external resource.
pub fn html(s: &Summary, charts: &[(&str, String)]) -> String {
    let verdict = if s.passed { "PASS" } else { "FAIL" };
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Load test {} — <span class=\"{}\">{verdict}</span></h1>",
        escape(&s.run.run_id),
        verdict.to_lowercase()
    );
    let _ = write!(body, "<pre>{}</pre>", escape(&text(s, Path::new("."))));
    for (title, svg) in charts {
        let _ = write!(body, "<h2>{}</h2><figure>{svg}</figure>", escape(title));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Load test {}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
         pre{{background:#f6f6f6;padding:1rem;overflow-x:auto}}.pass{{color:#070}}.fail{{color:#b00}}\
         figure{{margin:0}}</style></head><body>{body}</body></html>\n",
        escape(&s.run.run_id)
    )
}
