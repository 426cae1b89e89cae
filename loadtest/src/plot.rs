//! Charts as SVG text (plotters' SVG backend): inlined into the HTML
//! report and written beside it, so they work offline.

use plotters::prelude::*;

use crate::stats::{Second, StepStats};

const SIZE: (u32, u32) = (760, 320);

fn finish(svg: String, result: Result<(), String>) -> String {
    match result {
        Ok(()) => svg,
        Err(e) => format!("<p>chart not drawn: {e}</p>"),
    }
}

/// Requests a second and p50/p99 latency a second, over the run.
pub fn over_time(seconds: &[Second]) -> String {
    let mut svg = String::new();
    let result = (|| -> Result<(), String> {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (top, bottom) = root.split_vertically(SIZE.1 / 2);
        let n = seconds.len().max(1) as u64;
        let max_rps = seconds.iter().map(|s| s.requests).max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&top)
            .caption("requests per second", ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(18)
            .y_label_area_size(56)
            .build_cartesian_2d(0u64..n, 0u64..max_rps + max_rps / 10 + 1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("s")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                seconds.iter().map(|s| (s.second, s.requests)),
                &BLUE,
            ))
            .map_err(|e| e.to_string())?;
        let max_ms = seconds
            .iter()
            .map(|s| s.p99_ms)
            .fold(0.0, f64::max)
            .max(0.001);
        let mut chart = ChartBuilder::on(&bottom)
            .caption(
                "latency per second (ms): p50 green, p99 red",
                ("sans-serif", 14),
            )
            .margin(6)
            .x_label_area_size(18)
            .y_label_area_size(56)
            .build_cartesian_2d(0u64..n, 0f64..max_ms * 1.1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("s")
            .draw()
            .map_err(|e| e.to_string())?;
        let active = || seconds.iter().filter(|s| s.requests > 0);
        chart
            .draw_series(LineSeries::new(
                active().map(|s| (s.second, s.p50_ms)),
                &GREEN,
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                active().map(|s| (s.second, s.p99_ms)),
                &RED,
            ))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })();
    finish(svg, result)
}

/// p50 and p99 latency against achieved throughput, one point per step;
/// the knee circled.
pub fn latency_vs_throughput(steps: &[StepStats], knee: Option<usize>) -> String {
    let mut svg = String::new();
    let result = (|| -> Result<(), String> {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max_x = steps
            .iter()
            .map(|s| s.achieved_rps)
            .fold(0.0, f64::max)
            .max(1.0);
        let max_y = steps
            .iter()
            .map(|s| s.latency.p99_ms)
            .fold(0.0, f64::max)
            .max(0.001);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "latency vs throughput per step: p50 green, p99 red, knee circled",
                ("sans-serif", 14),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..max_x * 1.1, 0f64..max_y * 1.15)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("achieved requests/s")
            .y_desc("ms")
            .draw()
            .map_err(|e| e.to_string())?;
        let p50 = steps.iter().map(|s| (s.achieved_rps, s.latency.p50_ms));
        let p99 = steps.iter().map(|s| (s.achieved_rps, s.latency.p99_ms));
        chart
            .draw_series(LineSeries::new(p50.clone(), &GREEN))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(p99.clone(), &RED))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(p99.map(|p| Circle::new(p, 3, RED.filled())))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(steps.iter().map(|s| {
                Text::new(
                    format!("{}u", s.users),
                    (s.achieved_rps, s.latency.p99_ms),
                    ("sans-serif", 11),
                )
            }))
            .map_err(|e| e.to_string())?;
        if let Some(k) = knee.and_then(|k| steps.get(k)) {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (k.achieved_rps, k.latency.p99_ms),
                    9,
                    BLACK.stroke_width(2),
                )))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    })();
    finish(svg, result)
}

/// Latency by percentile (from the HDR histogram).
pub fn percentiles(points: &[(f64, f64)]) -> String {
    let mut svg = String::new();
    let result = (|| -> Result<(), String> {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let max_y = points.iter().map(|p| p.1).fold(0.0, f64::max).max(0.001);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "latency by percentile (ms), all requests",
                ("sans-serif", 14),
            )
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..100f64, 0f64..max_y * 1.1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(points.iter().copied(), &BLUE))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })();
    finish(svg, result)
}
