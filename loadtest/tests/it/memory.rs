//! `--max-memory` and the plain run's warm-up, on the local stage.

use crate::helpers::{assert_accounts_for_every_increment, run};

/// 0.0625 MiB is room for 2,048 records of 32 bytes: the run stops there,
/// cleanly (exit 0, a `stopped_early` reason, every request recorded and
/// judged), not when the memory is gone. Its warm-up goes first, on a key
/// of its own: the run's counter accounts for the run's requests alone.
#[tokio::test]
async fn a_run_stops_cleanly_before_its_records_would_pass_max_memory() {
    let r = run(
        "max-memory",
        &[
            "-u",
            "8",
            "-t",
            "120",
            "--max-duration",
            "120",
            "--max-memory",
            "0.0625",
            "--warmup-secs",
            "1",
        ],
    )
    .await;
    assert_eq!(r.code(), Some(0), "{}\n{}", r.stdout(), r.stderr());
    let s = r.summary();
    let why = s.stopped_early.clone().unwrap_or_default();
    assert!(why.contains("--max-memory"), "stopped_early: {why:?}");
    assert!(why.contains("2048 records"), "says how many: {why:?}");
    assert!(s.aborted.is_none(), "not a failure: {:?}", s.aborted);
    assert_eq!(s.requests.total, 2048, "every request up to the room");
    assert_eq!(s.initial_count, 0, "the warm-up counts elsewhere");
    assert_accounts_for_every_increment(&s);
    assert!(
        r.stderr().contains("Warming the local stage up for 1 s"),
        "{}",
        r.stderr()
    );
}

#[tokio::test]
async fn a_max_memory_that_holds_no_record_is_a_usage_error() {
    let r = run("max-memory-bad", &["--max-memory", "0"]).await;
    assert_eq!(r.code(), Some(2), "{}", r.stderr());
    assert!(r.stderr().contains("--max-memory"), "{}", r.stderr());
}
