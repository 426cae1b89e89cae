//! Live progress while a run goes: what the users have seen so far (counts
//! by outcome, latency quantiles, duplicate counts), shown on stderr once a
//! second as one refreshed line on a terminal, or a plain line every 5 s
//! in a log. `-q` silences it.
//!
//! [`LiveStats`] is updated on every request, so it is lock-free: atomic
//! counters, a log-scale latency histogram of atomic buckets (about 9%
//! wide: enough for a progress line; the report uses HDR histograms), and
//! a bitset of the counts returned so far to spot a duplicate the moment
//! it happens. `/metrics` and `per-second.jsonl` (`load/metrics.rs`,
//! `load/per_second.rs`) read the same figures, so the request path pays
//! for them once.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::analysis::observation::{Observation, Outcome};

/// Sub-buckets per power of two in the live latency histogram.
const SUB: u64 = 8;
const BUCKETS: usize = 64 * SUB as usize;
/// Slots of the per-status counters: 0 (no response) to 999, hyper's range.
const STATUSES: usize = 1000;

/// What the users have seen so far, updated without locks.
pub struct LiveStats {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub unknown: AtomicU64,
    pub duplicates: AtomicU64,
    /// Open model (`--arrival-rate`): iterations due when no user was free
    /// to start them, so never sent.
    pub dropped: AtomicU64,
    /// Requests sent and not yet answered or given up on.
    pub in_flight: AtomicU64,
    /// Requests by HTTP status (index 0: no response came).
    by_status: Vec<AtomicU64>,
    latency_us: Vec<AtomicU64>,
    latency_sum_us: AtomicU64,
    /// Bit `c − initial − 1` is set once count `c` was returned.
    seen: Vec<AtomicU64>,
    initial: u64,
}

/// The bucket of a latency in microseconds: 8 per power of two.
fn bucket(us: u64) -> usize {
    if us < SUB {
        return us as usize;
    }
    let exp = 63 - u64::from(us.leading_zeros()); // ≥ 3
    let sub = (us >> (exp - 3)) & (SUB - 1);
    ((exp - 2) * SUB + sub) as usize
}

/// The largest latency (µs) that falls in bucket `b`.
pub fn bucket_top(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let exp = b / SUB + 2;
    let sub = b % SUB;
    ((SUB + sub + 1) << (exp - 3)) - 1
}

impl LiveStats {
    /// `max_counts`: how many counts above `initial` to track for
    /// duplicates (the run's request bound).
    pub fn new(initial: u64, max_counts: u64) -> Self {
        let words = max_counts.min(1 << 30).div_ceil(64) as usize;
        Self {
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            by_status: (0..STATUSES).map(|_| AtomicU64::new(0)).collect(),
            latency_us: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            latency_sum_us: AtomicU64::new(0),
            seen: (0..words).map(|_| AtomicU64::new(0)).collect(),
            initial,
        }
    }

    pub fn observe(&self, op: &Observation) {
        let us = op.latency_ns() / 1000;
        self.latency_us[bucket(us).min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
        self.by_status[usize::from(op.status).min(STATUSES - 1)].fetch_add(1, Ordering::Relaxed);
        match op.outcome {
            Outcome::Ok => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                self.mark_seen(op.count);
            }
            Outcome::Failed => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Unknown => {
                self.unknown.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn mark_seen(&self, count: u64) {
        let Some(i) = count.checked_sub(self.initial + 1) else {
            return;
        };
        let Some(word) = self.seen.get((i / 64) as usize) else {
            return;
        };
        let bit = 1u64 << (i % 64);
        if word.fetch_or(bit, Ordering::Relaxed) & bit != 0 {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Answers with this status so far.
    pub fn with_status(&self, status: u16) -> u64 {
        self.by_status[usize::from(status).min(STATUSES - 1)].load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
            + self.unknown.load(Ordering::Relaxed)
    }

    /// The latency (ms) at quantile `q` so far, to the bucket's top.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.latency_counts(), q)
    }

    /// A request begins: in flight until the guard drops.
    pub fn request_begins(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    fn latency_counts(&self) -> Vec<u64> {
        self.latency_us
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// Every figure, read now. Each is read on its own: while requests
    /// land they may disagree by those; once the users are gone they agree.
    pub fn figures(&self) -> LiveCounts {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LiveCounts {
            ok: load(&self.ok),
            failed: load(&self.failed),
            unknown: load(&self.unknown),
            duplicates: load(&self.duplicates),
            dropped: load(&self.dropped),
            in_flight: load(&self.in_flight),
            by_status: (0u16..)
                .zip(&self.by_status)
                .map(|(s, c)| (s, load(c)))
                .filter(|(_, c)| *c > 0)
                .collect(),
            latency: self.latency_counts(),
            latency_sum_us: load(&self.latency_sum_us),
        }
    }
}

/// Keeps a request counted in flight; dropping it ends the request.
pub struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// [`LiveStats`] at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveCounts {
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    pub duplicates: u64,
    pub dropped: u64,
    pub in_flight: u64,
    /// (status, requests), statuses seen only; 0 is no response.
    pub by_status: Vec<(u16, u64)>,
    /// Requests per latency bucket (see [`bucket_top`]).
    pub latency: Vec<u64>,
    pub latency_sum_us: u64,
}

/// The latency (ms) at quantile `q` of bucket counts, to the bucket's top.
pub fn quantile_ms(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (b, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(bucket_top(b) as f64 / 1000.0);
        }
    }
    None
}

/// One progress line.
pub struct Snapshot<'a> {
    pub elapsed: Duration,
    pub planned: Option<Duration>,
    /// "step 2/4, 16 users" or "32 users".
    pub phase: &'a str,
    pub rps: f64,
    /// The open model: the arrival rate offered now.
    pub offered_rps: Option<f64>,
    pub stats: &'a LiveStats,
}

pub fn line(s: &Snapshot<'_>) -> String {
    let planned = s
        .planned
        .map_or(String::new(), |p| format!("/{:.0}", p.as_secs_f64()));
    let rate = match s.offered_rps {
        Some(o) => format!(
            "offered {o:.0}/s, achieved {:.0}/s, dropped {}",
            s.rps,
            s.stats.dropped.load(Ordering::Relaxed)
        ),
        None => format!("{:.0} req/s", s.rps),
    };
    let q = |q| {
        s.stats
            .quantile_ms(q)
            .map_or("-".to_owned(), |v| format!("{v:.1}"))
    };
    format!(
        "[{:>5.1}{planned} s] {} | {rate} | p50 {} ms, p99 {} ms | ok {}, failed {}, unknown {} | duplicates {}",
        s.elapsed.as_secs_f64(),
        s.phase,
        q(0.5),
        q(0.99),
        s.stats.ok.load(Ordering::Relaxed),
        s.stats.failed.load(Ordering::Relaxed),
        s.stats.unknown.load(Ordering::Relaxed),
        s.stats.duplicates.load(Ordering::Relaxed),
    )
}

/// Where progress goes: a refreshed line on a terminal, a plain line every
/// few seconds otherwise, or nowhere.
pub enum Display {
    Terminal(indicatif::ProgressBar),
    /// The first line at once, then one every `every`.
    Log {
        every: Duration,
        last: Option<Instant>,
    },
    Quiet,
}

impl Display {
    pub fn for_stderr(quiet: bool) -> Self {
        if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            Display::Terminal(bar)
        } else {
            Display::Log {
                every: Duration::from_secs(5),
                last: None,
            }
        }
    }

    pub fn show(&mut self, line: String) {
        match self {
            Display::Terminal(bar) => {
                bar.set_message(line);
                bar.tick();
            }
            Display::Log { every, last } => {
                if last.is_none_or(|t| t.elapsed() >= *every) {
                    *last = Some(Instant::now());
                    eprintln!("{line}");
                }
            }
            Display::Quiet => {}
        }
    }

    pub fn finish(self) {
        if let Display::Terminal(bar) = self {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_latency_and_their_tops_bound_it() {
        let mut last = 0;
        for us in [0u64, 1, 7, 8, 9, 15, 16, 100, 999, 1000, 12_345, 1 << 40] {
            let b = bucket(us);
            assert!(b >= last, "buckets grow with latency");
            last = b;
            assert!(bucket_top(b) >= us, "{us} µs ≤ top of its bucket");
            if b > 0 {
                assert!(bucket_top(b - 1) < us, "{us} µs > top of the bucket below");
            }
            assert!(
                bucket_top(b) as f64 <= us as f64 * 1.13 + 1.0,
                "bucket width"
            );
        }
    }

    #[test]
    fn quantiles_and_duplicates_so_far() {
        let live = LiveStats::new(100, 1000);
        for i in 0..100u64 {
            live.observe(&Observation::ok(0, (i + 1) * 1_000_000, 101 + i));
        }
        assert_eq!(live.duplicates.load(Ordering::Relaxed), 0);
        let p50 = live.quantile_ms(0.5).expect("samples");
        assert!((50.0..=56.0).contains(&p50), "{p50}");
        live.observe(&Observation::ok(0, 1, 150));
        assert_eq!(live.duplicates.load(Ordering::Relaxed), 1, "150 twice");
        live.observe(&Observation::ok(0, 1, 100_000));
        assert_eq!(
            live.total(),
            102,
            "a count past the tracked range is counted, not marked"
        );
    }

    #[test]
    fn figures_count_statuses_latency_and_requests_in_flight() {
        let live = LiveStats::new(0, 100);
        let first = live.request_begins();
        let second = live.request_begins();
        assert_eq!(live.figures().in_flight, 2);
        drop(first);
        live.observe(&Observation::ok(0, 2_000_000, 1));
        let mut failed = Observation::ok(0, 1_000_000, 0);
        (failed.status, failed.outcome) = (400, Outcome::Failed);
        live.observe(&failed);
        let mut lost = Observation::ok(0, 500_000, 0);
        (lost.status, lost.outcome) = (0, Outcome::Unknown);
        live.observe(&lost);
        drop(second);
        let f = live.figures();
        assert_eq!(f.in_flight, 0, "each guard ends its request");
        assert_eq!(f.by_status, vec![(0, 1), (200, 1), (400, 1)]);
        assert_eq!((f.ok, f.failed, f.unknown), (1, 1, 1));
        assert_eq!(f.latency_sum_us, 3_500);
        assert_eq!(f.latency.iter().sum::<u64>(), 3);
    }
}
