//! The terminal report: the verdict first, then requests, latency, steps,
//! the generator, thresholds and the run's files. Each section writes to
//! any `fmt::Write`, so the HTML report embeds the same text.

use std::fmt::{self, Write};
use std::path::Path;

use crate::analysis::checker::Status;
use crate::analysis::summary::Summary;

/// The whole report as a string.
pub fn text(s: &Summary, dir: &Path) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut o, s, dir);
    o
}

/// Every section in order.
pub fn write_report(o: &mut impl Write, s: &Summary, dir: &Path) -> fmt::Result {
    verdict(o, s)?;
    requests(o, s)?;
    latency(o, s)?;
    steps(o, s)?;
    generator(o, s)?;
    thresholds(o, s)?;
    run_files(o, s, dir)?;
    writeln!(o, "RESULT: {}", if s.passed { "PASS" } else { "FAIL" })
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Skipped => "SKIP",
    }
}

fn verdict(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let verdict = if s.verdict.passed() { "PASS" } else { "FAIL" };
    writeln!(
        o,
        "\nVERDICT: {verdict} (atomicity of {} on {})",
        s.run.path, s.run.host
    )?;
    for c in &s.verdict.checks {
        writeln!(
            o,
            "  {:<16} {}  {}",
            c.check.title(),
            mark(c.status),
            c.detail
        )?;
        for e in &c.examples {
            writeln!(o, "      {e}")?;
        }
    }
    if let Some(reason) = &s.aborted {
        writeln!(o, "ABORTED: {reason}")?;
    }
    if let Some(reason) = &s.stopped_early {
        writeln!(o, "Stopped at a bound: {reason}")?;
    }
    Ok(())
}

fn requests(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let r = &s.requests;
    writeln!(
        o,
        "\nRequests: {} in {:.1} s = {:.1} req/s with {} users",
        r.total, s.duration_s, s.throughput_rps, s.run.users
    )?;
    writeln!(
        o,
        "  ok {}, failed (4xx) {}, unknown {} (of which no response {}); error rate {:.2}%, throttled {:.2}%",
        r.ok,
        r.failed,
        r.unknown,
        r.no_response,
        100.0 * s.error_rate,
        100.0 * s.throttle_rate
    )?;
    let statuses: Vec<String> = r
        .by_status
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    writeln!(o, "  by status: {}", statuses.join(", "))
}

fn latency(o: &mut impl Write, s: &Summary) -> fmt::Result {
    writeln!(
        o,
        "\nLatency (ms)          p50       p90       p99     p99.9       max"
    )?;
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
        writeln!(
            o,
            "  {name:<18}{:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        )?;
    }
    writeln!(
        o,
        "  (CO correction: expected interval {:.3} ms per user)",
        s.latency.expected_interval_ms
    )
}

fn steps(o: &mut impl Write, s: &Summary) -> fmt::Result {
    if s.steps.is_empty() {
        return Ok(());
    }
    writeln!(
        o,
        "\nSteps   users   offered/s  achieved/s   p50 ms   p99 ms   max ms   errors  throttled"
    )?;
    for (i, st) in s.steps.iter().enumerate() {
        let offered = st
            .offered_rps
            .map_or("closed".to_owned(), |r| format!("{r:.0}"));
        let knee = if Some(i) == s.knee { "  <- knee" } else { "" };
        writeln!(
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
        )?;
    }
    match s.knee {
        Some(k) => writeln!(
            o,
            "  knee: step {} ({} users, {:.0} req/s) is the last within the thresholds",
            k + 1,
            s.steps[k].users,
            s.steps[k].achieved_rps
        ),
        None => writeln!(
            o,
            "  knee: none, the first step already missed the thresholds"
        ),
    }
}

fn generator(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let g = &s.generator;
    writeln!(
        o,
        "\nGenerator CPU: {:.0}% of one core ({} cores){}",
        g.cpu_percent_of_one_core,
        g.cores,
        if g.saturated {
            "  WARNING: the generator saturated the machine; latencies include its own queueing"
        } else {
            ""
        }
    )?;
    if let Some(note) = &g.note {
        writeln!(o, "  ({note})")?;
    }
    Ok(())
}

fn thresholds(o: &mut impl Write, s: &Summary) -> fmt::Result {
    if s.steps.is_empty() {
        for t in &s.thresholds {
            writeln!(
                o,
                "Threshold {}: {:.4} (limit {}) {}",
                t.name,
                t.actual,
                t.limit,
                if t.passed { "PASS" } else { "FAIL" }
            )?;
        }
        return Ok(());
    }
    let limits: Vec<String> = s
        .thresholds
        .iter()
        .map(|t| format!("{} ≤ {}", t.name, t.limit))
        .collect();
    writeln!(
        o,
        "Thresholds ({}) judge each step and so place the knee; a stepped run is gated by its verdict.",
        limits.join(", ")
    )
}

fn run_files(o: &mut impl Write, s: &Summary, dir: &Path) -> fmt::Result {
    writeln!(o, "\nRun directory: {}", dir.display())?;
    let names: Vec<&str> = s.files.values().map(String::as_str).collect();
    writeln!(o, "  {}", names.join(", "))
}
