//! How long the atomicity checker takes on 10 million operations, and the
//! same figure as a ratio to a peer measured in the same run: one
//! `sort_unstable` of the 10 million counts (the checker sorts several times,
//! so a few sorts' worth is the expected cost).
//!
//! `cargo bench -p loadtest --bench checker` (N=... to change the size).

use std::hint::black_box;
use std::time::Instant;

use loadtest::analysis::checker::{History, check};
use loadtest::analysis::observation::{Observation, Outcome};

/// A history 64 users could produce against an atomic counter: operations
/// overlap (each lasts as long as 64 starts), counts follow start order, and
/// one in a thousand is an unknown outcome that still took effect.
fn history(n: u64) -> Vec<Observation> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let start = i * 10_000 + state % 5_000;
            let unknown = state.is_multiple_of(1000);
            Observation {
                start_ns: start,
                end_ns: start + 640_000 + state % 100_000,
                count: if unknown { 0 } else { i + 1 },
                status: if unknown { 503 } else { 200 },
                node: 0,
                outcome: if unknown {
                    Outcome::Unknown
                } else {
                    Outcome::Ok
                },
            }
        })
        .collect()
}

fn main() {
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let ops = history(n);

    let mut counts: Vec<u64> = ops.iter().map(|o| o.count).collect();
    // Shuffled (Fisher–Yates), so the sort gets no help from existing order.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for i in (1..counts.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        counts.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let t = Instant::now();
    counts.sort_unstable();
    black_box(&counts);
    let sort = t.elapsed();

    let t = Instant::now();
    let verdict = check(&History::new(0, n, &ops));
    let checker = t.elapsed();
    assert!(
        verdict.passed(),
        "the generated history is atomic: {verdict:#?}"
    );

    println!(
        "checker: {n} operations in {:.3} s ({:.1} M ops/s)",
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
}
