//! `report.html`: one self-contained page (no script, no external
//! resource). A header with the verdict and the figures people look for
//! first, the checks, latency and steps as HTML tables, the charts full
//! width (inline SVG), and the terminal text at the end.

use std::fmt::Write as _;
use std::path::Path;

use super::text::text;
use crate::analysis::checker::{Status, VerdictStatus};
use crate::analysis::stats::Latency;
use crate::analysis::summary::Summary;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}\
    pre{background:#f4f4f4;padding:1rem;overflow-x:auto;font-size:.85rem}\
    .pass{color:#0a5d1e}.fail{color:#a4000f}.inconclusive{color:#7a4a00}\
    .badge{font-weight:700;padding:.1rem .5rem;border:2px solid currentColor;border-radius:.3rem}\
    dl.figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(9rem,1fr));gap:.5rem;margin:1rem 0}\
    dl.figures div{background:#f4f4f4;padding:.5rem .75rem;border-radius:.3rem}\
    dl.figures dt{font-size:.8rem;color:#444}dl.figures dd{margin:0;font-size:1.3rem;font-weight:600}\
    table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-variant-numeric:tabular-nums}\
    th,td{padding:.25rem .6rem;border-bottom:1px solid #ccc;text-align:right}\
    th:first-child,td:first-child,td.text{text-align:left}\
    figure{margin:0 0 1.5rem}figure svg{width:100%;height:auto}";

/// The verdict as a word and a CSS class.
fn verdict_word(s: &Summary) -> (&'static str, &'static str) {
    match s.verdict.status {
        VerdictStatus::Pass => ("PASS", "pass"),
        VerdictStatus::Fail => ("FAIL", "fail"),
        VerdictStatus::Inconclusive => ("INCONCLUSIVE", "inconclusive"),
    }
}

/// The page for a run written to `dir`, with its charts (title, SVG).
pub fn page(s: &Summary, dir: &Path, charts: &[(&str, String)]) -> String {
    let mut body = String::new();
    header(&mut body, s, dir);
    checks(&mut body, s);
    latency(&mut body, s);
    steps(&mut body, s);
    stage(&mut body, s);
    for (title, svg) in charts {
        let _ = write!(body, "<h2>{}</h2><figure>{svg}</figure>", escape(title));
    }
    let _ = write!(
        body,
        "<h2>As printed in the terminal</h2><pre>{}</pre>",
        escape(&text(s, dir))
    );
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>Load test {}</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(&s.run.run_id)
    )
}

/// The emulated stage's figures (`--emulate-aws`).
fn stage(o: &mut String, s: &Summary) {
    if let Some(stage) = &s.stage {
        o.push_str("<h2>Emulated AWS stage</h2><ul>");
        for line in stage.lines() {
            let _ = write!(o, "<li>{}</li>", escape(&line));
        }
        o.push_str("</ul>");
    }
}

fn header(o: &mut String, s: &Summary, dir: &Path) {
    let (word, class) = verdict_word(s);
    let result = if s.passed { "pass" } else { "fail" };
    let _ = write!(
        o,
        "<h1>Load test {} — verdict <span class=\"badge {class}\">{word}</span>, \
         result <span class=\"badge {result}\">{}</span></h1>",
        escape(&s.run.run_id),
        result.to_uppercase()
    );
    let _ = write!(
        o,
        "<p>{} requests to <code>{}</code>, counter <code>{}</code>{}.</p>",
        s.requests.total,
        escape(&s.run.host),
        escape(&s.run.path),
        if s.run.local_stage {
            " (the local stage on this machine: not AWS)"
        } else {
            ""
        }
    );
    let killed = s.killed.as_ref().map(|k| {
        format!(
            "the run ended without writing a summary; judged afterwards from the {} records on disk ({})",
            k.records_on_disk,
            match &k.final_count_from {
                Some(from) => format!("count after the kill read at {from}"),
                None => "no count after the kill".to_owned(),
            }
        )
    });
    let interrupted = s.interrupted_by.clone().filter(|_| killed.is_none());
    for (label, why) in [
        ("Killed", &killed),
        ("Aborted", &s.aborted),
        ("Interrupted by", &interrupted),
        ("Inconclusive", &s.verdict.inconclusive_reason),
    ] {
        if let Some(why) = why {
            let _ = write!(
                o,
                "<p class=\"fail\"><strong>{label}:</strong> {}</p>",
                escape(why)
            );
        }
    }
    let figures = [
        ("throughput", format!("{:.1} req/s", s.throughput_rps)),
        ("p50", format!("{:.2} ms", s.latency.all.p50_ms)),
        ("p99", format!("{:.2} ms", s.latency.all.p99_ms)),
        (
            "p99 (CO-corrected)",
            format!("{:.2} ms", s.latency.all_co_corrected.p99_ms),
        ),
        ("errors", format!("{:.2} %", 100.0 * s.error_rate)),
        ("throttled", format!("{:.2} %", 100.0 * s.throttle_rate)),
        ("duration", format!("{:.1} s", s.duration_s)),
        ("users (peak)", s.run.users.to_string()),
    ];
    o.push_str("<dl class=\"figures\">");
    for (k, v) in figures {
        let _ = write!(o, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    }
    o.push_str("</dl>");
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let _ = write!(
        o,
        "<p>Run directory: <code>{}</code></p>",
        escape(&absolute.display().to_string())
    );
}

fn checks(o: &mut String, s: &Summary) {
    o.push_str("<h2>Atomicity checks</h2><table><tr><th>check</th><th>status</th><th>what was found</th></tr>");
    for c in &s.verdict.checks {
        let (word, class) = match c.status {
            Status::Pass => ("PASS", "pass"),
            Status::Fail => ("FAIL", "fail"),
            Status::Skipped => ("SKIP", "inconclusive"),
        };
        let mut detail = escape(&c.detail);
        for e in &c.examples {
            let _ = write!(detail, "<br>– {}", escape(e));
        }
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"text {class}\">{word}</td><td class=\"text\">{detail}</td></tr>",
            c.check.title()
        );
    }
    o.push_str("</table>");
}

fn latency_row(o: &mut String, name: &str, l: &Latency) {
    let _ = write!(
        o,
        "<tr><td>{name}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td></tr>",
        l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
    );
}

fn latency(o: &mut String, s: &Summary) {
    o.push_str("<h2>Latency (ms)</h2><table><tr><th>requests</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>");
    for (name, l) in [
        ("ok", &s.latency.ok),
        ("failed (4xx)", &s.latency.failed),
        ("unknown", &s.latency.unknown),
        ("all", &s.latency.all),
        ("all, CO-corrected", &s.latency.all_co_corrected),
    ] {
        if l.count > 0 || name == "all" {
            latency_row(o, name, l);
        }
    }
    o.push_str("</table>");
}

fn steps(o: &mut String, s: &Summary) {
    if s.steps.is_empty() {
        return;
    }
    o.push_str("<h2>Steps</h2><table><tr><th>step</th><th>users</th><th>offered/s</th><th>achieved/s</th><th>p50 ms</th><th>p99 ms</th><th>errors</th><th>throttled</th><th>dropped</th><th>within thresholds</th></tr>");
    for (i, st) in s.steps.iter().enumerate() {
        let knee = if Some(i) == s.knee { " (knee)" } else { "" };
        let _ = write!(
            o,
            "<tr><td>{}{knee}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2} %</td><td>{:.2} %</td><td>{}</td><td>{}</td></tr>",
            i + 1,
            st.users,
            st.offered_rps
                .map_or("closed".to_owned(), |r| format!("{r:.0}")),
            st.achieved_rps,
            st.latency.p50_ms,
            st.latency.p99_ms,
            100.0 * st.error_rate,
            100.0 * st.throttle_rate,
            // Only the open model drops arrivals.
            st.dropped.map_or("–".to_owned(), |d| d.to_string()),
            if st.within_thresholds { "yes" } else { "no" }
        );
    }
    o.push_str("</table>");
}
