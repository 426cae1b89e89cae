//! Charts as SVG text (plotters' SVG backend): inlined into the HTML
//! report and written beside it, so they work offline.

use std::fmt::Display;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::analysis::faults::FaultReport;
use crate::analysis::stats::{Second, StepStats};
use crate::analysis::usl::UslFit;

const SIZE: (u32, u32) = (760, 320);

/// Okabe–Ito colours, distinct for colour-blind readers; every series also
/// differs by line style and is named in a legend, never by colour alone.
const P50: RGBColor = RGBColor(0, 114, 178);
const P99: RGBColor = RGBColor(213, 94, 0);
const RATE: RGBColor = RGBColor(0, 0, 0);

/// A legend entry's sample: a short line in the series' style.
fn legend_line(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// plotters' errors, as text for the report.
fn msg(e: impl Display) -> String {
    e.to_string()
}

/// An SVG of `size`, white, drawn by `draw`; a failure becomes a short
/// note in its place rather than a broken report.
fn svg(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Result<(), String>) -> String {
    let mut out = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(msg)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(msg))
    };
    match result {
        Ok(()) => out,
        Err(e) => format!("<p>chart not drawn: {e}</p>"),
    }
}

/// The house style: a 14 px caption, values on a 56 px y-axis.
fn chart<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    margin: u32,
    x_labels: u32,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 14))
        .margin(margin)
        .x_label_area_size(x_labels)
        .y_label_area_size(56);
    builder
}

fn max_of(values: impl Iterator<Item = f64>, floor: f64) -> f64 {
    values.fold(0.0, f64::max).max(floor)
}

/// Fault windows shaded: orange, the kind written at the top.
fn shade_faults<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordu64, plotters::coord::types::RangedCoordu64>,
    >,
    faults: &[FaultReport],
    top: u64,
) -> Result<(), String> {
    let shade = RGBColor(255, 165, 0).mix(0.25).filled();
    // Seconds are whole on this axis: a window covers the seconds it touches.
    let span = |f: &FaultReport| {
        (
            f.start_s.floor() as u64,
            (f.end_s.ceil() as u64).max(f.start_s.floor() as u64 + 1),
        )
    };
    chart
        .draw_series(faults.iter().map(|f| {
            let (a, b) = span(f);
            Rectangle::new([(a, 0), (b, top)], shade)
        }))
        .map_err(msg)?;
    chart
        .draw_series(faults.iter().map(|f| {
            Text::new(
                f.kind.clone(),
                (span(f).0, top),
                ("sans-serif", 11).into_font(),
            )
        }))
        .map_err(msg)?;
    Ok(())
}

/// Where each step of a stepped run begins: a thin grey line, named.
fn mark_steps<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordu64, plotters::coord::types::RangedCoordu64>,
    >,
    steps: &[StepStats],
    top: u64,
) -> Result<(), String> {
    chart
        .draw_series(steps.iter().map(|st| {
            let x = st.from_s.floor() as u64;
            PathElement::new(
                vec![(x, 0), (x, top)],
                RGBColor(120, 120, 120).stroke_width(1),
            )
        }))
        .map_err(msg)?;
    chart
        .draw_series(steps.iter().enumerate().map(|(i, st)| {
            Text::new(
                format!(" step {} ({} users)", i + 1, st.users),
                (st.from_s.floor() as u64, top - top / 12),
                ("sans-serif", 10).into_font(),
            )
        }))
        .map_err(msg)?;
    Ok(())
}

/// Requests a second and p50/p99 latency a second, over the run; the
/// fault windows of a `--faults` run shaded behind the requests.
pub fn over_time(seconds: &[Second], faults: &[FaultReport], steps: &[StepStats]) -> String {
    svg(SIZE, |root| {
        let (top, bottom) = root.split_vertically(SIZE.1 / 2);
        let n = seconds.len().max(1) as u64;
        let max_rps = seconds.iter().map(|s| s.requests).max().unwrap_or(1).max(1);
        let y_top = max_rps + max_rps / 10 + 1;
        let caption = if faults.is_empty() {
            "requests per second"
        } else {
            "requests per second (fault windows shaded)"
        };
        let mut rps = chart(&top, caption, 6, 32)
            .build_cartesian_2d(0u64..n, 0u64..y_top)
            .map_err(msg)?;
        rps.configure_mesh()
            .x_desc("seconds since the start")
            .y_desc("requests/s")
            .draw()
            .map_err(msg)?;
        shade_faults(&mut rps, faults, y_top)?;
        mark_steps(&mut rps, steps, y_top)?;
        rps.draw_series(LineSeries::new(
            seconds.iter().map(|s| (s.second, s.requests)),
            RATE.stroke_width(2),
        ))
        .map_err(msg)?;

        let max_ms = max_of(seconds.iter().map(|s| s.p99_ms), 0.001);
        let mut latency = chart(&bottom, "latency per second", 6, 32)
            .build_cartesian_2d(0u64..n, 0f64..max_ms * 1.1)
            .map_err(msg)?;
        latency
            .configure_mesh()
            .x_desc("seconds since the start")
            .y_desc("ms")
            .draw()
            .map_err(msg)?;
        let active = || seconds.iter().filter(|s| s.requests > 0);
        latency
            .draw_series(LineSeries::new(
                active().map(|s| (s.second, s.p50_ms)),
                P50.stroke_width(2),
            ))
            .map_err(msg)?
            .label("p50 (solid)")
            .legend(legend_line(P50.stroke_width(2)));
        latency
            .draw_series(DashedLineSeries::new(
                active().map(|s| (s.second, s.p99_ms)),
                6,
                4,
                P99.stroke_width(2),
            ))
            .map_err(msg)?
            .label("p99 (dashed)")
            .legend(legend_line(P99.stroke_width(2)));
        latency
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(msg)?;
        Ok(())
    })
}

/// Two panels for a stepped run: p50 and p99 latency against achieved
/// throughput, one point per step, the knee circled; and throughput
/// against users, the measured steps as points with the fitted USL curve
/// (and its peak) drawn over them, or, for the open model's rate steps
/// (one pool for every step), achieved against offered rate.
pub fn latency_vs_throughput(
    steps: &[StepStats],
    knee: Option<usize>,
    usl: Option<&UslFit>,
    max_p99_ms: Option<f64>,
) -> String {
    let size = (SIZE.0, 2 * SIZE.1);
    svg(size, |root| {
        let (top, bottom) = root.split_vertically(SIZE.1);
        latency_panel(&top, steps, knee, max_p99_ms)?;
        if is_open(steps) {
            offered_panel(&bottom, steps)
        } else {
            usl_panel(&bottom, steps, usl)
        }
    })
}

/// The open model's steps: each has its dropped arrivals and a rate.
fn is_open(steps: &[StepStats]) -> bool {
    steps
        .iter()
        .all(|s| s.dropped.is_some() && s.offered_rps.is_some())
}

/// A step's name on a chart: its offered rate (open model) or its users.
fn step_name(s: &StepStats, open: bool) -> String {
    match s.offered_rps {
        Some(r) if open => format!("  {r}/s offered"),
        _ => format!("  {} users", s.users),
    }
}

/// Achieved against offered rate, one point a step, with the line where
/// they are equal: a stage keeping up sits on it; past its capacity the
/// points fall below (the gap is what was dropped or queued).
fn offered_panel(area: &Area<'_>, steps: &[StepStats]) -> Result<(), String> {
    let max = max_of(
        steps
            .iter()
            .flat_map(|s| [s.achieved_rps, s.offered_rps.unwrap_or(0.0)]),
        1.0,
    ) * 1.1;
    let caption = "achieved against offered rate, one point a step (dashed: achieved = offered)";
    let mut c = chart(area, caption, 8, 30)
        .build_cartesian_2d(0f64..max, 0f64..max)
        .map_err(msg)?;
    c.configure_mesh()
        .x_desc("offered arrivals/s")
        .y_desc("achieved requests/s")
        .draw()
        .map_err(msg)?;
    c.draw_series(DashedLineSeries::new(
        [(0.0, 0.0), (max, max)],
        6,
        4,
        BLACK.stroke_width(1),
    ))
    .map_err(msg)?;
    let points: Vec<(f64, f64)> = steps
        .iter()
        .map(|s| (s.offered_rps.unwrap_or(0.0), s.achieved_rps))
        .collect();
    c.draw_series(LineSeries::new(points.clone(), P50.stroke_width(2)))
        .map_err(msg)?;
    c.draw_series(points.iter().map(|&p| Circle::new(p, 4, P99.filled())))
        .map_err(msg)?;
    c.draw_series(steps.iter().zip(&points).map(|(s, &p)| {
        let dropped = s.dropped.unwrap_or(0);
        Text::new(format!("  {dropped} dropped"), p, ("sans-serif", 11))
    }))
    .map_err(msg)?;
    Ok(())
}

fn latency_panel(
    area: &Area<'_>,
    steps: &[StepStats],
    knee: Option<usize>,
    max_p99_ms: Option<f64>,
) -> Result<(), String> {
    let max_x = max_of(steps.iter().map(|s| s.achieved_rps), 1.0);
    let max_y = max_of(
        steps.iter().map(|s| s.latency.p99_ms).chain(max_p99_ms),
        0.001,
    );
    let caption = "latency against throughput, one point a step (knee circled)";
    let mut c = chart(area, caption, 8, 30)
        .build_cartesian_2d(0f64..max_x * 1.1, 0f64..max_y * 1.15)
        .map_err(msg)?;
    c.configure_mesh()
        .x_desc("achieved requests/s")
        .y_desc("ms")
        .draw()
        .map_err(msg)?;
    let p50 = steps.iter().map(|s| (s.achieved_rps, s.latency.p50_ms));
    let p99 = steps.iter().map(|s| (s.achieved_rps, s.latency.p99_ms));
    c.draw_series(LineSeries::new(p50, P50.stroke_width(2)))
        .map_err(msg)?
        .label("p50 (solid)")
        .legend(legend_line(P50.stroke_width(2)));
    c.draw_series(DashedLineSeries::new(
        p99.clone(),
        6,
        4,
        P99.stroke_width(2),
    ))
    .map_err(msg)?
    .label("p99 (dashed, dots at the steps)")
    .legend(legend_line(P99.stroke_width(2)));
    c.draw_series(p99.map(|p| Circle::new(p, 3, P99.filled())))
        .map_err(msg)?;
    // The p99 threshold the knee is judged by: a line, so "no knee" shows.
    if let Some(limit) = max_p99_ms {
        let line = BLACK.stroke_width(1);
        c.draw_series(DashedLineSeries::new(
            [(0.0, limit), (max_x * 1.1, limit)],
            3,
            3,
            line,
        ))
        .map_err(msg)?
        .label(format!("p99 threshold {limit} ms (dotted)"))
        .legend(legend_line(line));
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(msg)?;
    let open = is_open(steps);
    c.draw_series(steps.iter().map(|s| {
        Text::new(
            step_name(s, open),
            (s.achieved_rps, s.latency.p99_ms),
            ("sans-serif", 11),
        )
    }))
    .map_err(msg)?;
    if let Some(k) = knee.and_then(|k| steps.get(k)) {
        c.draw_series(std::iter::once(Circle::new(
            (k.achieved_rps, k.latency.p99_ms),
            9,
            BLACK.stroke_width(2),
        )))
        .map_err(msg)?;
    }
    Ok(())
}

/// Throughput against users: the steps, and the USL curve fitted to them.
fn usl_panel(area: &Area<'_>, steps: &[StepStats], usl: Option<&UslFit>) -> Result<(), String> {
    let max_users = steps.iter().map(|s| s.users).max().unwrap_or(1) as f64;
    // Show the predicted peak when it is near the measured range.
    let max_n = usl
        .and_then(|u| u.peak_users)
        .filter(|n| *n <= 2.0 * max_users)
        .map_or(max_users, |n| n.max(max_users))
        * 1.1;
    let curve: Vec<(f64, f64)> = usl.map_or(vec![], |u| {
        (0..=200)
            .map(|i| 1.0 + (max_n - 1.0) * f64::from(i) / 200.0)
            .map(|n| (n, u.throughput(n)))
            .collect()
    });
    let max_y = max_of(
        steps
            .iter()
            .map(|s| s.achieved_rps)
            .chain(curve.iter().map(|p| p.1)),
        1.0,
    );
    let caption = match usl {
        Some(_) => "throughput against users: steps as dots, the fitted USL as a line, its peak ×",
        None => "throughput vs users (no USL fit: fewer than 3 step sizes)",
    };
    let mut c = chart(area, caption, 8, 30)
        .build_cartesian_2d(0f64..max_n, 0f64..max_y * 1.15)
        .map_err(msg)?;
    c.configure_mesh()
        .x_desc("users")
        .y_desc("requests/s")
        .draw()
        .map_err(msg)?;
    c.draw_series(LineSeries::new(curve, P50.stroke_width(2)))
        .map_err(msg)?;
    c.draw_series(
        steps
            .iter()
            .map(|s| Circle::new((s.users as f64, s.achieved_rps), 4, P99.filled())),
    )
    .map_err(msg)?;
    let peak = usl
        .and_then(|u| u.peak_users.zip(u.peak_rps))
        .filter(|(n, _)| *n <= max_n);
    if let Some(p) = peak {
        c.draw_series(std::iter::once(Cross::new(p, 6, BLACK.stroke_width(2))))
            .map_err(msg)?;
    }
    Ok(())
}

/// Latency by percentile (from the HDR histogram), on the usual "nines"
/// axis (0, 90, 99, 99.9 % equally spaced), as HdrHistogram's plots draw
/// it, so the tail is not squeezed into the last pixels. With a baseline
/// (`--baseline`), its curve beside this run's, dashed, both named.
pub fn percentiles(
    label: &str,
    points: &[(f64, f64)],
    baseline: Option<(&str, &[(f64, f64)])>,
) -> String {
    let nines = |percent: f64| -(1.0 - (percent / 100.0).min(0.999_9)).log10();
    let shown =
        |p: &[(f64, f64)]| -> Vec<(f64, f64)> { p.iter().map(|&(p, ms)| (nines(p), ms)).collect() };
    let this = shown(points);
    let base = baseline.map(|(name, p)| (name, shown(p)));
    svg((SIZE.0, 280), |root| {
        let all = || this.iter().chain(base.iter().flat_map(|(_, b)| b.iter()));
        let max_x = (max_of(all().map(|p| p.0), 1.0) - 1e-6).ceil();
        let max_y = max_of(all().map(|p| p.1), 0.001);
        let mut c = chart(root, "latency by percentile, all requests", 8, 34)
            .build_cartesian_2d(0f64..max_x, 0f64..max_y * 1.1)
            .map_err(msg)?;
        c.configure_mesh()
            .x_desc("percentile")
            .y_desc("ms")
            .x_labels(max_x as usize + 1)
            .x_label_formatter(&|x| {
                let percent = 100.0 * (1.0 - 10f64.powf(-x));
                format!("{}%", (percent * 1000.0).round() / 1000.0)
            })
            .draw()
            .map_err(msg)?;
        let style = P50.stroke_width(2);
        c.draw_series(LineSeries::new(this.iter().copied(), style))
            .map_err(msg)?
            .label(format!("this run ({label})"))
            .legend(legend_line(style));
        let Some((name, b)) = &base else {
            return Ok(());
        };
        let dashed = P99.stroke_width(2);
        c.draw_series(DashedLineSeries::new(b.iter().copied(), 6, 4, dashed))
            .map_err(msg)?
            .label(format!("baseline ({name})"))
            .legend(legend_line(dashed));
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(msg)
    })
}
