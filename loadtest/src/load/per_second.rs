//! `per-second.jsonl`: the run's timeline, written as it goes. Once a
//! second of the run's clock a thread of its own reads the live figures
//! and appends one JSON line for the second just ended (requests that
//! completed in it, by outcome; the rate achieved; p50/p99 of those
//! requests; dropped iterations; in flight at its end). Each line is one
//! `write` to the file, so a run that crashes or is killed (SIGKILL)
//! still leaves every second it completed; on SIGINT/SIGTERM the run ends
//! normally and the last, partial second is written too.
//!
//! The lines stay as written: they are what was seen live (seconds by
//! completion, latency to the live histogram's ~9% buckets). summary.json's
//! `per_second` is the exact series (seconds by start, HDR latencies).

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use super::progress::{LiveCounts, quantile_ms};
use super::users::RunState;
use crate::analysis::summary::files;

/// One line of `per-second.jsonl` (field names are stable; docs/run-directory.md).
#[derive(Debug, Serialize)]
pub struct SecondLine {
    /// Second `n` of the run's clock: from `n` s to `n + 1` s (less for
    /// the last line).
    pub second: u64,
    /// Seconds this line covers (1, except the last and a late write).
    pub interval_s: f64,
    /// Requests completed in it, and by outcome.
    pub requests: u64,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    /// `requests / interval_s`.
    pub achieved_rps: f64,
    /// Latency of the requests completed in it, ms (null: none).
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Iterations dropped in it (open model).
    pub dropped: u64,
    /// Requests in flight at its end.
    pub in_flight: u64,
    /// Ok answers in it whose count had already been returned.
    pub duplicates: u64,
}

impl SecondLine {
    /// The second between two readings of the figures.
    pub fn between(second: u64, interval: Duration, before: &LiveCounts, now: &LiveCounts) -> Self {
        let d = |f: fn(&LiveCounts) -> u64| f(now).saturating_sub(f(before));
        let latency: Vec<u64> = now
            .latency
            .iter()
            .enumerate()
            .map(|(b, n)| n.saturating_sub(before.latency.get(b).copied().unwrap_or(0)))
            .collect();
        let (ok, failed, unknown) = (d(|f| f.ok), d(|f| f.failed), d(|f| f.unknown));
        let requests = ok + failed + unknown;
        let interval_s = interval.as_secs_f64();
        let rps = if interval_s > 0.0 {
            requests as f64 / interval_s
        } else {
            0.0
        };
        Self {
            second,
            interval_s: (interval_s * 1000.0).round() / 1000.0,
            requests,
            ok,
            failed,
            unknown,
            achieved_rps: (rps * 10.0).round() / 10.0,
            p50_ms: quantile_ms(&latency, 0.5),
            p99_ms: quantile_ms(&latency, 0.99),
            dropped: d(|f| f.dropped),
            in_flight: now.in_flight,
            duplicates: d(|f| f.duplicates),
        }
    }
}

/// The writer thread; [`PerSecondWriter::finish`] (or drop) stops it
/// after the last line.
pub struct PerSecondWriter {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl PerSecondWriter {
    /// Creates `per-second.jsonl` in `dir` now (empty until the first
    /// second ends) and starts writing it.
    pub fn start(state: Arc<RunState>, dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(files::PER_SECOND);
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("per-second".into())
            .spawn(move || write_each_second(&state, file, &stopped))
            .context("starting the per-second writer")?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Writes the last (partial) second and waits for the thread.
    pub fn finish(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::warn!("the per-second writer panicked");
        }
    }
}

impl Drop for PerSecondWriter {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Until told to stop: a line at each whole second of the run's clock,
/// then one for the part-second since.
fn write_each_second(state: &RunState, mut file: File, stop: &mpsc::Receiver<()>) {
    let mut second = 0u64;
    let mut last = (Instant::now(), state.live.figures());
    loop {
        let due = state.clock + Duration::from_secs(second + 1);
        let stopping = match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        let now = (Instant::now(), state.live.figures());
        let line = SecondLine::between(second, now.0 - last.0, &last.1, &now.1);
        if stopping && line.requests + line.dropped == 0 && now.0 - last.0 < Duration::from_secs(1)
        {
            return;
        }
        let mut text = serde_json::to_string(&line).unwrap_or_default();
        text.push('\n');
        // One write per line: a killed run never leaves half a line.
        if let Err(e) = file.write_all(text.as_bytes()) {
            tracing::warn!(
                "writing {}: {e}; the timeline stops here",
                files::PER_SECOND
            );
            return;
        }
        if stopping {
            return;
        }
        last = now;
        second += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::observation::Observation;
    use crate::load::progress::LiveStats;

    #[test]
    fn a_line_counts_what_completed_between_two_readings() {
        let live = LiveStats::new(0, 1000);
        live.observe(&Observation::ok(0, 1_000_000, 1));
        let before = live.figures();
        for i in 0..10u64 {
            live.observe(&Observation::ok(0, (i + 1) * 10_000_000, 2 + i));
        }
        live.observe(&Observation::ok(0, 5_000_000, 5));
        let _flying = live.request_begins();
        let line = SecondLine::between(3, Duration::from_millis(500), &before, &live.figures());
        assert_eq!((line.second, line.requests, line.ok), (3, 11, 11));
        assert_eq!(line.achieved_rps, 22.0, "11 in half a second");
        assert_eq!((line.duplicates, line.in_flight), (1, 1));
        let p50 = line.p50_ms.expect("latencies");
        assert!(
            (50.0..=56.0).contains(&p50),
            "{p50}: this second's, not the run's"
        );
        let json = serde_json::to_value(&line).expect("serializes");
        assert_eq!(json["p99_ms"].as_f64(), line.p99_ms);
        let idle = SecondLine::between(4, Duration::from_secs(1), &before, &before);
        assert_eq!((idle.requests, idle.p50_ms), (0, None));
    }
}
