//! Latency and throughput figures from observations: HDR histograms (with
//! coordinated-omission correction), per-second series and per-step
//! figures. Pure: no I/O.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::observation::{Observation, Outcome};
use super::usl::UslFit;

/// Histograms hold microseconds, 1 µs to 1 hour, 3 significant figures.
pub const HIST_MAX_US: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).unwrap_or_else(|_| {
        // The bounds are constants that hdrhistogram accepts.
        unreachable!("valid histogram bounds")
    })
}

fn us(ns: u64) -> u64 {
    (ns / 1000).clamp(1, HIST_MAX_US)
}

/// Latencies of the given observations.
pub fn histogram<'a>(ops: impl IntoIterator<Item = &'a Observation>) -> Histogram<u64> {
    let mut h = new_histogram();
    for o in ops {
        h.saturating_record(us(o.latency_ns()));
    }
    h
}

/// Latencies with coordinated-omission correction: a request that took
/// longer than the expected interval between a user's requests stands for
/// the requests that user would have sent meanwhile (hdrhistogram's
/// `record_correct`, the "average cadence" method).
pub fn co_corrected<'a>(
    ops: impl IntoIterator<Item = &'a Observation>,
    expected_interval_us: u64,
) -> Histogram<u64> {
    let mut h = new_histogram();
    for o in ops {
        let _ = h.record_correct(us(o.latency_ns()), expected_interval_us.max(1));
    }
    h
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |v: u64| v as f64 / 1000.0;
        Self {
            count: h.len(),
            min_ms: ms(h.min()),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// Counts by outcome and status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Requests {
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Responses with 429 or 503: the stage (or DynamoDB behind it) shed load.
    pub throttled: u64,
    /// Requests that got no HTTP response at all (timeout, reset, refused).
    pub no_response: u64,
    /// HTTP status → count; "0" for no response.
    pub by_status: std::collections::BTreeMap<String, u64>,
}

impl Requests {
    pub fn of<'a>(ops: impl IntoIterator<Item = &'a Observation>) -> Self {
        let mut r = Requests::default();
        for o in ops {
            r.total += 1;
            match o.outcome {
                Outcome::Ok => r.ok += 1,
                Outcome::Failed => r.failed += 1,
                Outcome::Unknown => r.unknown += 1,
            }
            if o.status == 429 || o.status == 503 {
                r.throttled += 1;
            }
            if o.status == 0 {
                r.no_response += 1;
            }
            *r.by_status.entry(o.status.to_string()).or_default() += 1;
        }
        r
    }

    /// Failed and unknown, as a fraction of all requests.
    pub fn error_rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            (self.failed + self.unknown) as f64 / self.total as f64
        }
    }

    pub fn throttle_rate(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.throttled as f64 / self.total as f64
        }
    }
}

/// One second of the run (by request start).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Second {
    pub second: u64,
    pub requests: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Requests, errors and latency per second of the run.
pub fn per_second(ops: &[Observation]) -> Vec<Second> {
    let Some(last) = ops.iter().map(|o| o.start_ns / 1_000_000_000).max() else {
        return vec![];
    };
    let mut buckets: Vec<(Histogram<u64>, u64)> =
        (0..=last).map(|_| (new_histogram(), 0)).collect();
    for o in ops {
        let b = &mut buckets[(o.start_ns / 1_000_000_000) as usize];
        b.0.saturating_record(us(o.latency_ns()));
        if o.outcome != Outcome::Ok {
            b.1 += 1;
        }
    }
    buckets
        .into_iter()
        .enumerate()
        .map(|(s, (h, errors))| Second {
            second: s as u64,
            requests: h.len(),
            errors,
            p50_ms: Latency::of(&h).p50_ms,
            p99_ms: Latency::of(&h).p99_ms,
        })
        .collect()
}

/// A step of a stepped run: a number of users held for a while.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepWindow {
    pub users: usize,
    /// Measured from this offset (after the ramp to this step)...
    pub from_s: f64,
    /// ...to this one.
    pub to_s: f64,
    /// The open model (`--rate-steps`): the arrival rate offered, req/s.
    #[serde(default)]
    pub rate: Option<f64>,
}

/// Figures for one step, from that step's own histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    pub users: usize,
    pub from_s: f64,
    pub to_s: f64,
    /// What the step asked for: the arrival rate (open model), users × the
    /// per-user rate when paced, else null (a closed loop offers "as fast
    /// as the stage answers").
    pub offered_rps: Option<f64>,
    /// Requests begun (by intended start) in the window, a second.
    pub achieved_rps: f64,
    /// The open model: iterations due in the step that no user was free
    /// to start (never sent). Null for the closed and paced models.
    #[serde(default)]
    pub dropped: Option<u64>,
    pub latency: Latency,
    pub error_rate: f64,
    pub throttle_rate: f64,
    /// Met the latency and error thresholds.
    pub within_thresholds: bool,
}

/// Per-step figures: only requests that started inside the step's window.
pub fn per_step(
    ops: &[Observation],
    windows: &[StepWindow],
    per_user_rps: Option<f64>,
    max_p99_ms: Option<f64>,
    max_error_rate: f64,
) -> Vec<StepStats> {
    windows
        .iter()
        .map(|w| {
            let (from, to) = ((w.from_s * 1e9) as u64, (w.to_s * 1e9) as u64);
            let inside: Vec<&Observation> = ops
                .iter()
                .filter(|o| o.start_ns >= from && o.start_ns < to)
                .collect();
            let requests = Requests::of(inside.iter().copied());
            let latency = Latency::of(&histogram(inside.iter().copied()));
            let secs = (w.to_s - w.from_s).max(1e-9);
            let within = requests.total > 0
                && requests.error_rate() <= max_error_rate
                && max_p99_ms.is_none_or(|max| latency.p99_ms <= max);
            StepStats {
                users: w.users,
                from_s: w.from_s,
                to_s: w.to_s,
                offered_rps: w.rate.or(per_user_rps.map(|r| r * w.users as f64)),
                achieved_rps: requests.total as f64 / secs,
                dropped: None,
                latency,
                error_rate: requests.error_rate(),
                throttle_rate: requests.throttle_rate(),
                within_thresholds: within,
            }
        })
        .collect()
}

/// The knee: the last step, in order, up to which every step met the
/// thresholds and whose users are not past the point the USL fit says
/// adding users stops paying (`diminishing_from_users`; no fit, no such
/// bound). `None` when the first step already fails either.
pub fn knee(steps: &[StepStats], usl: Option<&UslFit>) -> Option<usize> {
    let within = steps
        .iter()
        .position(|s| !s.within_thresholds)
        .unwrap_or(steps.len());
    let bound = usl.and_then(|u| u.diminishing_from_users);
    steps[..within]
        .iter()
        .rposition(|s| bound.is_none_or(|n| s.users as f64 <= n))
}

/// The handler's own time per request, from its `Server-Timing` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerTiming {
    /// Responses that carried it.
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl ServerTiming {
    /// From a histogram of microseconds; `None` when empty.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| {
            let l = Latency::of(h);
            Self {
                count: l.count,
                mean_ms: l.mean_ms,
                p50_ms: l.p50_ms,
                p99_ms: l.p99_ms,
            }
        })
    }

    /// Several nodes' figures: the count-weighted mean, and the highest
    /// p50 and p99 (an upper bound: percentiles do not add).
    pub fn combine(parts: &[ServerTiming]) -> Option<Self> {
        let count: u64 = parts.iter().map(|p| p.count).sum();
        (count > 0).then(|| Self {
            count,
            mean_ms: parts
                .iter()
                .map(|p| p.mean_ms * p.count as f64)
                .sum::<f64>()
                / count as f64,
            p50_ms: parts.iter().map(|p| p.p50_ms).fold(0.0, f64::max),
            p99_ms: parts.iter().map(|p| p.p99_ms).fold(0.0, f64::max),
        })
    }
}

/// The `dur` of the `app` metric of a `Server-Timing` header value
/// (W3C: `app;dur=0.42, db;dur=0.3`), in milliseconds.
pub fn server_timing_app_ms(header: &str) -> Option<f64> {
    header.split(',').find_map(|metric| {
        let mut parts = metric.split(';').map(str::trim);
        if parts.next() != Some("app") {
            return None;
        }
        parts
            .find_map(|p| p.strip_prefix("dur="))
            .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op_ms(start_ms: u64, latency_ms: u64, outcome: Outcome, status: u16) -> Observation {
        Observation {
            start_ns: start_ms * 1_000_000,
            end_ns: (start_ms + latency_ms) * 1_000_000,
            count: 1,
            status,
            node: 0,
            outcome,
            late: crate::analysis::observation::Lateness::ZERO,
        }
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let ops: Vec<_> = (1..=100).map(|i| op_ms(i, i, Outcome::Ok, 200)).collect();
        let l = Latency::of(&histogram(&ops));
        assert_eq!(l.count, 100);
        assert!((l.p50_ms - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p99_ms - 99.0).abs() < 0.1, "{l:?}");
        assert!((l.max_ms - 100.0).abs() < 0.1, "{l:?}");
    }

    #[test]
    fn co_correction_adds_the_requests_a_stall_held_back() {
        // 99 quick requests and one that stalled 1 s, with users sending one
        // every 10 ms: the stall hid ~99 requests that would have waited.
        let mut ops: Vec<_> = (0..99)
            .map(|i| op_ms(i * 10, 1, Outcome::Ok, 200))
            .collect();
        ops.push(op_ms(1000, 1000, Outcome::Ok, 200));
        let raw = histogram(&ops);
        let corrected = co_corrected(&ops, 10_000);
        assert_eq!(raw.len(), 100);
        assert!(corrected.len() > 190, "{}", corrected.len());
        assert!(
            corrected.value_at_quantile(0.9) > raw.value_at_quantile(0.9),
            "correction raises the tail"
        );
    }

    #[test]
    fn requests_are_counted_by_outcome_and_status() {
        let ops = vec![
            op_ms(0, 1, Outcome::Ok, 200),
            op_ms(0, 1, Outcome::Failed, 400),
            op_ms(0, 1, Outcome::Unknown, 503),
            op_ms(0, 1, Outcome::Unknown, 0),
        ];
        let r = Requests::of(&ops);
        assert_eq!((r.total, r.ok, r.failed, r.unknown), (4, 1, 1, 2));
        assert_eq!((r.throttled, r.no_response), (1, 1));
        assert!((r.error_rate() - 0.75).abs() < 1e-9);
        assert_eq!(r.by_status["503"], 1);
    }

    #[test]
    fn steps_use_their_own_window_and_the_knee_is_the_last_good_step() {
        let mut ops = Vec::new();
        for i in 0..100 {
            ops.push(op_ms(i * 10, 2, Outcome::Ok, 200)); // step 1: 0-1 s, fast
            ops.push(op_ms(1000 + i * 10, 5, Outcome::Ok, 200)); // step 2: 1-2 s
            ops.push(op_ms(2000 + i * 10, 80, Outcome::Ok, 200)); // step 3: slow
        }
        let windows = [
            StepWindow {
                users: 1,
                from_s: 0.0,
                to_s: 1.0,
                rate: None,
            },
            StepWindow {
                users: 2,
                from_s: 1.0,
                to_s: 2.0,
                rate: None,
            },
            StepWindow {
                users: 4,
                from_s: 2.0,
                to_s: 3.0,
                rate: None,
            },
        ];
        let steps = per_step(&ops, &windows, Some(50.0), Some(50.0), 0.01);
        assert_eq!(steps.len(), 3);
        assert!((steps[0].achieved_rps - 100.0).abs() < 1e-6);
        assert_eq!(steps[1].offered_rps, Some(100.0));
        assert!((steps[2].latency.p99_ms - 80.0).abs() < 0.1);
        assert_eq!(knee(&steps, None), Some(1));
        let all_bad = per_step(&ops, &windows, None, Some(1.0), 0.01);
        assert_eq!(knee(&all_bad, None), None);
        let all_good = per_step(&ops, &windows, None, None, 0.01);
        assert_eq!(knee(&all_good, None), Some(2));
        // A fit that says a third user adds under half a lone user's
        // throughput puts the knee at 2 users, thresholds or not.
        let fit =
            crate::analysis::usl::fit(&[(1.0, 100.0), (2.0, 190.0), (4.0, 250.0)]).expect("fit");
        let from = fit.diminishing_from_users.expect("diminishing");
        assert!((2.0..4.0).contains(&from), "{fit:?}");
        assert_eq!(knee(&all_good, Some(&fit)), Some(1));
        assert_eq!(knee(&all_bad, Some(&fit)), None);
    }

    #[test]
    fn the_app_metric_of_server_timing_is_read_and_others_ignored() {
        assert_eq!(server_timing_app_ms("app;dur=0.421"), Some(0.421));
        assert_eq!(
            server_timing_app_ms("db;dur=3, app;desc=\"x\";dur=12"),
            Some(12.0)
        );
        assert_eq!(server_timing_app_ms("app"), None);
        assert_eq!(server_timing_app_ms("cache;dur=1"), None);
        assert_eq!(server_timing_app_ms("app;dur=-1"), None);
        assert_eq!(server_timing_app_ms("app;dur=NaN"), None);
        let mut h = new_histogram();
        for us in [400, 500, 600] {
            h.record(us).expect("in range");
        }
        let t = ServerTiming::of(&h).expect("some");
        assert_eq!(t.count, 3);
        assert!((t.mean_ms - 0.5).abs() < 0.001, "{t:?}");
        let both = ServerTiming::combine(&[
            t,
            ServerTiming {
                count: 1,
                mean_ms: 2.5,
                p50_ms: 2.5,
                p99_ms: 2.5,
            },
        ])
        .expect("combined");
        assert!(
            (both.mean_ms - 1.0).abs() < 0.001 && both.count == 4,
            "{both:?}"
        );
        assert_eq!(ServerTiming::of(&new_histogram()), None);
    }

    #[test]
    fn per_second_buckets_by_start_time() {
        let ops = vec![
            op_ms(100, 5, Outcome::Ok, 200),
            op_ms(900, 5, Outcome::Unknown, 503),
            op_ms(2100, 5, Outcome::Ok, 200),
        ];
        let s = per_second(&ops);
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].requests, s[0].errors), (2, 1));
        assert_eq!(s[1].requests, 0);
        assert_eq!(s[2].requests, 1);
    }
}
