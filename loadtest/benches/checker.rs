//! How long the atomicity checker takes on 10 million operations, 1% of
//! them unknown, and how much memory it takes beyond the observations;
//! the time also as a ratio to a peer measured in the same run: one
//! `sort_unstable` of the 10 million counts (the checker sorts, so a few
//! sorts' worth is the expected cost).
//!
//! Memory is counted, not estimated: a counting global allocator records
//! the peak of bytes allocated while the checker runs, above what was
//! allocated before it started (the observations themselves, 32 bytes each).
//!
//! `cargo bench -p loadtest --bench checker` (N=... to change the size).

use std::hint::black_box;
use std::time::{Duration, Instant};

use loadtest::analysis::checker::{History, check};
use loadtest::analysis::observation::{Observation, Outcome};
use peak_alloc::PeakAlloc;

#[global_allocator]
static ALLOCATOR: PeakAlloc = PeakAlloc;

/// Rounds of (sort, checker); the medians are reported.
const ROUNDS: usize = 3;

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A history 64 users could produce against an atomic counter: operations
/// overlap (each lasts as long as 64 starts), counts follow start order,
/// and one in a hundred is an unknown outcome, half of which took effect
/// (their counts went to nobody who was told). Returns it and the final
/// count.
fn history(n: u64) -> (Vec<Observation>, u64) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut count = 0;
    let ops = (0..n)
        .map(|i| {
            let r = xorshift(&mut state);
            let start = i * 10_000 + r % 5_000;
            let unknown = r.is_multiple_of(100);
            if !unknown || (r / 100).is_multiple_of(2) {
                count += 1;
            }
            Observation {
                start_ns: start,
                end_ns: start + 640_000 + r % 100_000,
                count: if unknown { 0 } else { count },
                status: if unknown { 503 } else { 200 },
                node: 0,
                outcome: if unknown {
                    Outcome::Unknown
                } else {
                    Outcome::Ok
                },
                late: loadtest::analysis::observation::Lateness::ZERO,
            }
        })
        .collect();
    (ops, count)
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort_unstable();
    xs[xs.len() / 2]
}

fn main() {
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let (ops, final_count) = history(n);
    let unknown = ops.iter().filter(|o| o.outcome == Outcome::Unknown).count();

    let mut sorts = Vec::new();
    let mut checks = Vec::new();
    let mut peak_extra = 0usize;
    for round in 0..ROUNDS {
        let mut counts: Vec<u64> = ops.iter().map(|o| o.count).collect();
        // Shuffled (Fisher–Yates), so the sort gets no help from order.
        let mut state = 0x2545_F491_4F6C_DD1Du64 + round as u64;
        for i in (1..counts.len()).rev() {
            let j = (xorshift(&mut state) % (i as u64 + 1)) as usize;
            counts.swap(i, j);
        }
        let t = Instant::now();
        counts.sort_unstable();
        black_box(&counts);
        sorts.push(t.elapsed());
        drop(counts);

        let before = ALLOCATOR.current_usage();
        ALLOCATOR.reset_peak_usage();
        let t = Instant::now();
        let verdict = check(&History::new(0, final_count, &ops));
        checks.push(t.elapsed());
        peak_extra = peak_extra.max(ALLOCATOR.peak_usage() - before);
        assert!(
            verdict.passed(),
            "the generated history is atomic: {verdict:#?}"
        );
    }
    let (sort, checker) = (median(sorts), median(checks));
    println!(
        "checker: {n} operations ({unknown} unknown) in {:.3} s ({:.1} M ops/s), median of {ROUNDS}",
        checker.as_secs_f64(),
        n as f64 / checker.as_secs_f64() / 1e6
    );
    println!(
        "peer:    sort_unstable of {n} counts in {:.3} s",
        sort.as_secs_f64()
    );
    println!(
        "ratio:   checker = {:.1}x one sort",
        checker.as_secs_f64() / sort.as_secs_f64()
    );
    println!(
        "memory:  {:.1} MB at the checker's peak beyond the observations = {:.1} bytes an operation (observations: {} bytes each)",
        peak_extra as f64 / 1e6,
        peak_extra as f64 / n as f64,
        std::mem::size_of::<Observation>()
    );
}
