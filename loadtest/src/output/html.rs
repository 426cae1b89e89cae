//! `report.html`: one self-contained page (no script, no external
//! resource): the terminal text and the charts as inline SVG.

use std::fmt::Write as _;
use std::path::Path;

use super::text::text;
use crate::analysis::summary::Summary;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page for a run written to `dir`, with its charts (title, SVG).
pub fn page(s: &Summary, dir: &Path, charts: &[(&str, String)]) -> String {
    let verdict = if s.passed { "PASS" } else { "FAIL" };
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Load test {} — <span class=\"{}\">{verdict}</span></h1>",
        escape(&s.run.run_id),
        verdict.to_lowercase()
    );
    let _ = write!(body, "<pre>{}</pre>", escape(&text(s, dir)));
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
