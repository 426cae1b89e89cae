//! "Why it failed": the operations that prove each failed check, drawn as
//! a timeline (hand-written SVG, inline in `report.html`).
//!
//! One panel per counter-example, one lane per operation: a bar from its
//! start to its end in milliseconds since the run's start, its outcome
//! written on it and drawn by shape (ok solid; unknown hatched, with a
//! dashed tail, since it may have taken effect after its client gave up;
//! failed hollow and dotted), and its part in the proof beside its name. A
//! count nobody can have taken is a dashed line at the instant it had to be
//! taken by; an out-of-order pair shows the gap between the first's end and
//! the second's start. Colour only repeats what shapes and words say.

use std::fmt::Write as _;

use crate::analysis::checker::{CheckName, Role, Status, Verdict, Witness, WitnessOp};
use crate::analysis::observation::Outcome;

/// At most this many counter-examples are drawn for one check.
pub const PER_CHECK: usize = 3;

const WIDTH: f64 = 960.0;
/// Left column: the operation's name and its part.
const LABELS: f64 = 250.0;
const RIGHT: f64 = 24.0;
const LANE: f64 = 34.0;
const BAR: f64 = 16.0;
const TITLE_LINE: f64 = 16.0;
/// Characters of a title line.
const WRAP: usize = 125;
const AXIS: f64 = 34.0;
const GAP: f64 = 26.0;
/// Room above the lanes for the deadline's or the gap's label.
const NOTE: f64 = 18.0;

const INK: &str = "#222";
const OK_FILL: &str = "#4a7fc1";
const UNKNOWN: &str = "#c77800";
const FAILED: &str = "#a0406a";
const ALARM: &str = "#c0141e";

/// The timeline of every failed check's witnesses, or `None` when no check
/// failed with operations to show.
pub fn why_it_failed(v: &Verdict) -> Option<String> {
    let panels: Vec<(CheckName, &Witness)> = v
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .flat_map(|c| {
            c.witnesses
                .iter()
                .filter(|w| !w.ops.is_empty())
                .take(PER_CHECK)
                .map(move |w| (c.check, w))
        })
        .collect();
    if panels.is_empty() {
        return None;
    }
    let mut body = String::new();
    let mut y = 8.0;
    for (check, w) in panels {
        y = panel(&mut body, y, check, w) + GAP;
    }
    let height = y;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {WIDTH} {height:.0}\" font-family=\"system-ui, sans-serif\" font-size=\"12\" \
         role=\"img\" aria-label=\"The operations that prove each failed check, on a timeline\">\
         <defs>\
         <pattern id=\"tl-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
         <rect width=\"6\" height=\"6\" fill=\"#fff3e0\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"{UNKNOWN}\" stroke-width=\"2\"/></pattern>\
         <marker id=\"tl-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"{INK}\"/></marker>\
         </defs><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>{body}</svg>"
    );
    Some(svg)
}

/// Maps ms to x for one panel.
struct Scale {
    from_ms: f64,
    to_ms: f64,
}

impl Scale {
    fn of(w: &Witness) -> Self {
        let ms = |ns: u64| ns as f64 / 1e6;
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for o in &w.ops {
            lo = lo.min(ms(o.start_ns));
            hi = hi.max(ms(o.end_ns));
        }
        if let Some(d) = w.deadline_ns {
            lo = lo.min(ms(d));
            hi = hi.max(ms(d));
        }
        let span = (hi - lo).max(1e-3);
        // Room on the right for the unknown operations' tails.
        Self {
            from_ms: (lo - 0.06 * span).max(0.0),
            to_ms: hi + 0.18 * span,
        }
    }

    fn x(&self, ms: f64) -> f64 {
        LABELS + (ms - self.from_ms) / (self.to_ms - self.from_ms) * (WIDTH - LABELS - RIGHT)
    }

    fn x_ns(&self, ns: u64) -> f64 {
        self.x(ns as f64 / 1e6)
    }
}

/// Draws one witness from `top`; returns where it ends.
fn panel(o: &mut String, top: f64, check: CheckName, w: &Witness) -> f64 {
    let scale = Scale::of(w);
    let mut y = top;
    let title = format!("{}: {}", check.title(), w.claim);
    for (i, line) in wrap(&title, WRAP).iter().enumerate() {
        y += TITLE_LINE;
        let weight = if i == 0 { " font-weight=\"600\"" } else { "" };
        let _ = write!(
            o,
            "<text x=\"8\" y=\"{y:.1}\" fill=\"{INK}\"{weight}>{}</text>",
            esc(line)
        );
    }
    y += 8.0 + NOTE;
    let lanes_top = y;
    let lanes_bottom = lanes_top + LANE * w.ops.len() as f64;
    let _ = write!(
        o,
        "<rect x=\"{LABELS}\" y=\"{lanes_top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#fafafa\" stroke=\"#ddd\"/>",
        WIDTH - LABELS - RIGHT,
        lanes_bottom - lanes_top
    );
    for (k, op) in w.ops.iter().enumerate() {
        lane(o, &scale, lanes_top + LANE * k as f64, op);
    }
    match check {
        CheckName::Completeness => deadline(o, &scale, w, lanes_top, lanes_bottom),
        CheckName::RealTimeOrder => precedence(o, &scale, w, lanes_top, lanes_bottom),
        _ => {}
    }
    axis(o, &scale, lanes_bottom)
}

/// One operation's lane: its name and part on the left, its bar on the right.
fn lane(o: &mut String, scale: &Scale, top: f64, op: &WitnessOp) {
    let mid = top + LANE / 2.0;
    let node = if op.node > 0 {
        format!(" · node {}", op.node)
    } else {
        String::new()
    };
    let _ = write!(
        o,
        "<text x=\"8\" y=\"{:.1}\" fill=\"{INK}\">req #{}{node}</text>\
         <text x=\"8\" y=\"{:.1}\" fill=\"#555\" font-size=\"11\">{}</text>",
        mid - 2.0,
        op.index,
        mid + 11.0,
        esc(op.role.label())
    );
    let (x0, x1) = (scale.x_ns(op.start_ns), scale.x_ns(op.end_ns));
    let width = (x1 - x0).max(2.0);
    let bar_top = mid - BAR / 2.0;
    let (fill, stroke, dash) = match op.outcome {
        Outcome::Ok => (OK_FILL, "#1f4f8f", ""),
        Outcome::Unknown => ("url(#tl-hatch)", UNKNOWN, ""),
        Outcome::Failed => ("#fff", FAILED, " stroke-dasharray=\"2 2\""),
    };
    let _ = write!(
        o,
        "<rect x=\"{x0:.1}\" y=\"{bar_top:.1}\" width=\"{width:.1}\" height=\"{BAR}\" rx=\"2\" \
         fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"{dash}/>"
    );
    let label = match (op.outcome, op.count) {
        (Outcome::Ok, Some(c)) => format!("ok → {c}"),
        (Outcome::Ok, None) => "ok".to_owned(),
        (Outcome::Unknown, _) if op.status == 0 => "unknown (no response)".to_owned(),
        (Outcome::Unknown, _) => format!("unknown ({})", op.status),
        (Outcome::Failed, _) => format!("failed ({})", op.status),
    };
    // On the bar when it fits (white on the solid ok bar), else after it.
    let fits = width > text_width(&label) + 8.0 && op.outcome == Outcome::Ok;
    let (tx, colour, weight) = if fits {
        (x0 + 5.0, "#fff", "600")
    } else {
        (x1 + 5.0, INK, "600")
    };
    let _ = write!(
        o,
        "<text x=\"{tx:.1}\" y=\"{:.1}\" fill=\"{colour}\" font-weight=\"{weight}\">{}</text>",
        mid + 4.0,
        esc(&label)
    );
    if op.outcome == Outcome::Unknown {
        // It may have taken effect any time after its start: a dashed tail
        // from after its label to the edge.
        let from = x1 + 10.0 + text_width(&label);
        if from < WIDTH - RIGHT - 12.0 {
            let _ = write!(
                o,
                "<line x1=\"{from:.1}\" y1=\"{mid:.1}\" x2=\"{:.1}\" y2=\"{mid:.1}\" stroke=\"{UNKNOWN}\" \
                 stroke-width=\"1.5\" stroke-dasharray=\"5 4\" marker-end=\"url(#tl-arrow)\"/>",
                WIDTH - RIGHT - 2.0
            );
        }
    }
    if op.role == Role::TooLate {
        let _ = write!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{ALARM}\" font-size=\"11\" text-anchor=\"end\">started here ▸</text>",
            x0 - 3.0,
            mid + 4.0
        );
    }
}

/// The instant the orphaned count had to be taken by, across the lanes.
fn deadline(o: &mut String, scale: &Scale, w: &Witness, top: f64, bottom: f64) {
    let (Some(d), Some(v)) = (w.deadline_ns, w.count) else {
        return;
    };
    let x = scale.x_ns(d);
    let _ = write!(
        o,
        "<rect x=\"{LABELS}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{ALARM}\" fill-opacity=\"0.05\"/>\
         <line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"{ALARM}\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>",
        (x - LABELS).max(0.0),
        bottom - top,
        top,
    );
    note(
        o,
        x,
        top - 5.0,
        &format!(
            "✕ count {v} taken by nobody: it had to be taken before {:.3} ms",
            d as f64 / 1e6
        ),
    );
}

/// For a pair out of order: the first's end and the second's start, with
/// the gap between them.
fn precedence(o: &mut String, scale: &Scale, w: &Witness, top: f64, bottom: f64) {
    let first = w.ops.iter().find(|op| op.role == Role::EndedFirst);
    let later = w.ops.iter().find(|op| op.role == Role::Later);
    let (Some(a), Some(b)) = (first, later) else {
        return;
    };
    let (xa, xb) = (scale.x_ns(a.end_ns), scale.x_ns(b.start_ns));
    let _ = write!(
        o,
        "<line x1=\"{xa:.1}\" y1=\"{top:.1}\" x2=\"{xa:.1}\" y2=\"{bottom:.1}\" stroke=\"{ALARM}\" stroke-dasharray=\"3 3\"/>\
         <line x1=\"{xb:.1}\" y1=\"{top:.1}\" x2=\"{xb:.1}\" y2=\"{bottom:.1}\" stroke=\"{ALARM}\" stroke-dasharray=\"3 3\"/>\
         <line x1=\"{xa:.1}\" y1=\"{:.1}\" x2=\"{xb:.1}\" y2=\"{:.1}\" stroke=\"{ALARM}\" stroke-width=\"1.5\" marker-end=\"url(#tl-arrow)\"/>",
        top + 4.0,
        top + 4.0,
    );
    note(
        o,
        (xa + xb) / 2.0,
        top - 5.0,
        &format!(
            "req #{} ended {:.3} ms before req #{} started",
            a.index,
            (b.start_ns.saturating_sub(a.end_ns)) as f64 / 1e6,
            b.index
        ),
    );
}

/// A label above the lanes at `x`, kept inside the plot.
fn note(o: &mut String, x: f64, y: f64, text: &str) {
    let w = text_width(text);
    let left = (x - w / 2.0).clamp(LABELS, (WIDTH - RIGHT - w).max(LABELS));
    let _ = write!(
        o,
        "<text x=\"{left:.1}\" y=\"{y:.1}\" fill=\"{ALARM}\" font-weight=\"700\">{}</text>",
        esc(text)
    );
}

/// About how wide `text` is at 12 px, bold.
fn text_width(text: &str) -> f64 {
    7.0 * text.chars().count() as f64
}

/// The time axis under the lanes, in ms since the run's start; returns its
/// bottom.
fn axis(o: &mut String, scale: &Scale, y: f64) -> f64 {
    let step = nice_step((scale.to_ms - scale.from_ms) / 6.0);
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    let _ = write!(
        o,
        "<line x1=\"{LABELS}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{INK}\"/>",
        WIDTH - RIGHT
    );
    let mut t = (scale.from_ms / step).ceil() * step;
    while t <= scale.to_ms {
        let x = scale.x(t);
        let _ = write!(
            o,
            "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"{INK}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{INK}\" font-size=\"11\">{t:.decimals$}</text>",
            y + 4.0,
            y + 16.0
        );
        t += step;
    }
    let _ = write!(
        o,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#555\" font-size=\"11\">ms since the run's start</text>",
        WIDTH - RIGHT,
        y + 30.0
    );
    y + AXIS
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1e-6);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * power)
}

/// Splits at spaces into lines of at most `width` characters (a longer
/// word gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let last = lines.last_mut().expect("one line at least");
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_owned());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::checker::{History, check};
    use crate::analysis::observation::Observation;

    const MS: u64 = 1_000_000;

    fn unknown(start: u64, end: u64) -> Observation {
        Observation {
            start_ns: start,
            end_ns: end,
            count: 0,
            status: 503,
            node: 0,
            outcome: Outcome::Unknown,
            late: crate::analysis::observation::Lateness::ZERO,
        }
    }

    #[test]
    fn a_passing_verdict_draws_nothing() {
        let ops = [Observation::ok(0, 10, 1), Observation::ok(20, 30, 2)];
        assert!(why_it_failed(&check(&History::new(0, 2, &ops))).is_none());
    }

    #[test]
    fn an_orphaned_count_is_drawn_with_its_bounds_and_its_deadline() {
        let ops = [
            Observation::ok(0, 5 * MS, 1),
            Observation::ok(MS, 10 * MS, 3),
            unknown(20 * MS, 30 * MS),
        ];
        let svg = why_it_failed(&check(&History::new(0, 3, &ops))).expect("a failure to draw");
        for expected in [
            "completeness: count 2:",
            "req #1",
            "req #2",
            "ok → 3",
            "unknown (503)",
            "started too late",
            "✕ count 2 taken by nobody: it had to be taken before 10.000 ms",
            "ms since the run's start",
        ] {
            assert!(svg.contains(expected), "{expected} in {svg}");
        }
        assert!(
            svg.contains("url(#tl-hatch)"),
            "unknown is hatched, not only coloured"
        );
        assert_eq!(svg.matches("<svg").count(), 1);
    }

    #[test]
    fn each_failed_check_gets_at_most_a_few_panels() {
        // Ten duplicated counts, and real-time order broken by each.
        let mut ops = Vec::new();
        for i in 0..10u64 {
            ops.push(Observation::ok(i * 100, i * 100 + 10, i + 1));
            ops.push(Observation::ok(i * 100 + 20, i * 100 + 30, i + 1));
        }
        let v = check(&History::new(0, 10, &ops));
        let svg = why_it_failed(&v).expect("failures");
        assert_eq!(svg.matches("uniqueness: count").count(), PER_CHECK);
        assert_eq!(svg.matches("real-time order: ").count(), PER_CHECK);
        assert!(
            svg.contains("ended 0.000 ms before req #"),
            "the gap is named"
        );
    }

    #[test]
    fn titles_wrap_at_spaces_and_ticks_are_round() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(
            wrap("averyverylongword x", 5),
            vec!["averyverylongword", "x"]
        );
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(0.012), 0.02);
        assert_eq!(nice_step(100.0), 100.0);
    }
}
