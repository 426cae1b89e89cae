//! The terminal report: the verdict first, then requests, latency, steps,
//! the generator, thresholds and the run's files. Each section writes to
//! any `fmt::Write`, so the HTML report embeds the same text.

use std::fmt::{self, Write};
use std::path::Path;

use crate::analysis::checker::{Status, VerdictStatus};
use crate::analysis::summary::{Summary, files};

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
    start(o, s)?;
    latency(o, s)?;
    steps(o, s)?;
    faults(o, s)?;
    stage(o, s)?;
    generator(o, s)?;
    thresholds(o, s)?;
    run_files(o, s, dir)?;
    writeln!(o, "RESULT: {}", if s.passed { "PASS" } else { "FAIL" })
}

/// How the run counted and read, when it was not our own contract's
/// default; and what a shared counter leaves unjudged.
fn api(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let Some(a) = &s.run.api else {
        return Ok(());
    };
    use crate::load::request::{DEFAULT_READ, DEFAULT_REQUEST};
    let ours = a.request == DEFAULT_REQUEST && a.read == DEFAULT_READ;
    if !ours {
        let at = match a.count_at.as_deref() {
            None => "not found",
            Some("") => "\"\" (the whole body)",
            Some(p) => p,
        };
        writeln!(
            o,
            "  counted by {}, count at {at}; read: {}",
            a.request, a.read
        )?;
    }
    if a.shared {
        writeln!(
            o,
            "  a shared counter (no {{key}} in --request): others may count on it, so accounting and completeness are not judged; --exclusive says nobody does"
        )?;
    }
    Ok(())
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS",
        Status::Fail => "FAIL",
        Status::Skipped => "SKIP",
    }
}

fn verdict(o: &mut impl Write, s: &Summary) -> fmt::Result {
    match (&s.verdict.status, &s.verdict.inconclusive_reason) {
        (VerdictStatus::Inconclusive, Some(why)) => writeln!(
            o,
            "\nVERDICT: INCONCLUSIVE ({why}) — atomicity of {} on {} not judged",
            s.run.path, s.run.host
        )?,
        (status, _) => writeln!(
            o,
            "\nVERDICT: {} (atomicity of {} on {})",
            status.word(),
            s.run.path,
            s.run.host
        )?,
    }
    api(o, s)?;
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
    if let Some(k) = &s.killed {
        killed(o, k)?;
    } else if let Some(signal) = &s.interrupted_by {
        writeln!(
            o,
            "INTERRUPTED by {signal}: the load stopped early; the record below is what the run saw until then"
        )?;
    }
    if let Some(reason) = &s.stopped_early {
        writeln!(o, "Stopped at a bound: {reason}")?;
    }
    Ok(())
}

/// A run killed before it wrote its summary: what was judged of it.
fn killed(o: &mut impl Write, k: &crate::analysis::summary::Killed) -> fmt::Result {
    let who = match k.nodes.as_slice() {
        [0] => "the run".to_owned(),
        [n] => format!("node {n}"),
        nodes => format!(
            "nodes {}",
            nodes
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    writeln!(
        o,
        "KILLED: {who} ended without writing a summary (SIGKILL, the OOM killer, a timeout...): judged afterwards from the {} records on disk{}",
        k.records_on_disk,
        match k.torn_bytes {
            0 => String::new(),
            n => format!(" (and {n} bytes of a record cut short, not judged)"),
        }
    )?;
    match &k.final_count_from {
        Some(from) => writeln!(
            o,
            "  the count after the kill read at {from}; up to {} requests sent but never recorded judged as unknown",
            k.unrecorded_at_most
        ),
        None => writeln!(
            o,
            "  no count after the kill: accounting and completeness not judged"
        ),
    }
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
    writeln!(o, "  by status: {}", statuses.join(", "))?;
    open_model(o, s)
}

/// The open model: what the schedule offered against what was sent.
fn open_model(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let Some(m) = &s.open_model else {
        return Ok(());
    };
    writeln!(
        o,
        "  open model: offered {:.1}/s ({} over {:.1} s), achieved {:.1}/s ({} sent, {:.0}%), dropped {} (no free user among {})",
        m.offered_rps,
        m.offered,
        m.schedule_s,
        m.achieved_rps,
        m.sent,
        100.0 * m.achieved_fraction(),
        m.dropped,
        m.max_users
    )
}

/// When the load began against `--start-at`, and a merge's start skew.
fn start(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let st = &s.start;
    let planned = st.start_planned_unix_ns.map(|ns| {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| format!("{ns} ns"))
    });
    match (planned, st.start_skew_ms, st.start_skew_vs_planned_ms) {
        (Some(p), Some(skew), Some(vs)) => writeln!(
            o,
            "  start: planned {p}; start skew {skew:.1} ms (latest node − earliest), at most {vs:.1} ms from the planned instant"
        ),
        (Some(p), None, Some(vs)) => writeln!(o, "  start: planned {p}; began {vs:.1} ms from it"),
        (None, Some(skew), _) => writeln!(
            o,
            "  start skew {skew:.1} ms (latest node − earliest; no --start-at)"
        ),
        _ => Ok(()),
    }
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
    if s.open_model.is_some() {
        return writeln!(
            o,
            "  (open model: latency counts from each arrival's intended start, so nothing to correct)"
        );
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
    let open = s.open_model.is_some();
    writeln!(
        o,
        "\nSteps   users   offered/s  achieved/s   p50 ms   p99 ms   max ms   errors  throttled{}",
        if open { "   dropped" } else { "" }
    )?;
    for (i, st) in s.steps.iter().enumerate() {
        let offered = st
            .offered_rps
            .map_or("closed".to_owned(), |r| format!("{r:.0}"));
        let knee = if Some(i) == s.knee { "  <- knee" } else { "" };
        let dropped = st.dropped.map_or(String::new(), |d| format!(" {d:>9}"));
        writeln!(
            o,
            "  {:>3} {:>7} {:>11} {:>11.1} {:>8.2} {:>8.2} {:>8.2} {:>7.2}% {:>8.2}%{dropped}{knee}",
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
    if open {
        return open_knee(o, s);
    }
    usl_fit(o, s)?;
    let diminishing = s.usl.and_then(|u| u.diminishing_from_users);
    match (s.knee, s.steps.first()) {
        (Some(k), _) => writeln!(
            o,
            "  knee: step {} ({} users, {:.0} req/s): the last within the thresholds{}",
            k + 1,
            s.steps[k].users,
            s.steps[k].achieved_rps,
            diminishing.map_or(String::new(), |n| format!(
                " and at or below the fit's N = {n:.1}"
            ))
        ),
        (None, Some(first)) if first.within_thresholds => writeln!(
            o,
            "  knee: none, the first step ({} users) is already past the fit's N = {:.1}",
            first.users,
            diminishing.unwrap_or(0.0)
        ),
        (None, _) => writeln!(
            o,
            "  knee: none, the first step already missed the thresholds"
        ),
    }
}

/// An open-model stepped run's knee, in offered-rate terms (its pool is
/// one size, so no USL fit): the last step within the thresholds, and what
/// the next offered rate did.
fn open_knee(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let rate = |st: &crate::analysis::stats::StepStats| st.offered_rps.unwrap_or(0.0);
    match s.knee.and_then(|k| s.steps.get(k)) {
        Some(k) => writeln!(
            o,
            "  knee: {:.0}/s offered ({:.0}/s achieved, p99 {:.2} ms): the last within the thresholds",
            rate(k),
            k.achieved_rps,
            k.latency.p99_ms
        )?,
        None => writeln!(
            o,
            "  knee: none, the first step already missed the thresholds"
        )?,
    }
    match crate::analysis::open::past_the_knee(&s.steps, s.knee) {
        Some(next) => writeln!(
            o,
            "  past it, at {:.0}/s offered: p99 {:.2} ms, {:.0}/s achieved, {} dropped, errors {:.2}%",
            rate(next),
            next.latency.p99_ms,
            next.achieved_rps,
            next.dropped.unwrap_or(0),
            100.0 * next.error_rate
        ),
        None => Ok(()),
    }
}

/// The Universal Scalability Law fitted to the steps, in words.
fn usl_fit(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let Some(u) = &s.usl else {
        return writeln!(
            o,
            "  USL fit: none (it needs 3 or more step sizes with throughput)"
        );
    };
    writeln!(
        o,
        "  USL fit X(N) = λN/(1 + σ(N-1) + κN(N-1)) over {} steps (R² {:.3}): λ {:.1} req/s a user, \
         contention σ {:.4}, coherency κ {:.6}",
        u.points, u.r_squared, u.lambda, u.sigma, u.kappa
    )?;
    match (u.peak_users, u.peak_rps) {
        (Some(n), Some(x)) => writeln!(
            o,
            "    predicted peak {x:.0} req/s at N = {n:.1} users (more users lower throughput)"
        )?,
        (None, Some(x)) => writeln!(
            o,
            "    no peak (κ = 0): throughput levels off towards {x:.0} req/s"
        )?,
        _ => writeln!(o, "    no peak: throughput grows linearly with users")?,
    }
    match u.diminishing_from_users {
        Some(n) => writeln!(
            o,
            "    from N = {n:.1} one more user adds under {:.0}% of a lone user's throughput",
            100.0 * u.marginal_fraction
        ),
        None => Ok(()),
    }
}

fn generator(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let g = &s.generator;
    writeln!(
        o,
        "\nGenerator CPU: {}{}",
        match (g.cpu_percent_of_one_core, g.cores) {
            // A killed run measured neither.
            (None, 0) => "unknown".to_owned(),
            (cpu, cores) => format!(
                "{} of one core ({cores} cores)",
                cpu.map_or("unknown".to_owned(), |c| format!("{c:.0}%"))
            ),
        },
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

/// One line per fault window: what was in flight during it, and when the
/// error rate was back within the threshold.
fn faults(o: &mut impl Write, s: &Summary) -> fmt::Result {
    if s.faults.is_empty() {
        return Ok(());
    }
    writeln!(
        o,
        "\nFaults (s of the run; requests in flight during each window):\n  {:<9} {:>6} {:>6} {:>8} {:>6} {:>7} {:>6} {:>9} {:>10}",
        "kind", "from", "to", "requests", "ok", "unknown", "failed", "p99 ms", "recovered"
    )?;
    for f in &s.faults {
        let recovered = match f.time_to_recover_s {
            Some(t) => format!("+{t:.0} s"),
            None => "not yet".to_owned(),
        };
        writeln!(
            o,
            "  {:<9} {:>6.1} {:>6.1} {:>8} {:>6} {:>7} {:>6} {:>9.1} {:>10}",
            f.kind, f.start_s, f.end_s, f.requests, f.ok, f.unknown, f.failed, f.p99_ms, recovered
        )?;
    }
    Ok(())
}

/// The emulated stage's own figures (`--emulate-aws`).
fn stage(o: &mut impl Write, s: &Summary) -> fmt::Result {
    let Some(stage) = &s.stage else {
        return Ok(());
    };
    writeln!(o, "\nEmulated AWS stage:")?;
    for line in stage.lines() {
        writeln!(o, "  {line}")?;
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
        "Thresholds ({}) judge each step and so place the knee; the run fails only if its first step misses them: {}",
        limits.join(", "),
        match s.steps.first() {
            Some(first) if first.within_thresholds => "PASS",
            _ => "FAIL",
        }
    )
}

fn run_files(o: &mut impl Write, s: &Summary, dir: &Path) -> fmt::Result {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    writeln!(o, "\nRun directory: {}", absolute.display())?;
    let mut names: Vec<&str> = s.files.values().map(String::as_str).collect();
    for extra in [files::PER_SECOND, super::run_dir::GOOSE_REPORT] {
        if !names.contains(&extra) && dir.join(extra).is_file() {
            names.push(extra);
        }
    }
    writeln!(o, "  {}", names.join(", "))
}
