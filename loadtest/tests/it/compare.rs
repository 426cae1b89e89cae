//! `loadtest compare` on real runs: against a fast stage, then the same
//! stage (the same URL) slowed by 100 ms an answer. The slow run is a p99 regression
//! past `--max-p99-increase 50` (exit 1, named); a run compared with
//! itself, or a faster one with a slower baseline, is none (exit 0);
//! different shapes are compared with a warning; bad input exits 2. And
//! `loadtest report` regenerates a complete run's summary as it was, with
//! a baseline's curve beside its own.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use crate::helpers::{Run, loadtest, run, serve_on_loopback, stdout, summary};

/// An atomic counter (test code, on 127.0.0.1), a count per path, that
/// answers each POST after `delay_ms` (changed as it runs).
async fn counter_answering_after(
    delay_ms: Arc<AtomicU64>,
) -> (String, tokio::task::JoinHandle<()>) {
    let counts: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    serve_on_loopback(move |req: hyper::Request<local_stage::RequestBody>| {
        let counts = counts.clone();
        let delay = Duration::from_millis(delay_ms.load(Ordering::Relaxed));
        async move {
            let query = req.uri().query().unwrap_or("");
            let path = counter_lambda::path::path_from_query(Some(query)).unwrap_or_default();
            let post = req.method() == hyper::Method::POST;
            let count = {
                let mut counts = counts.lock().expect("lock");
                let c = counts.entry(path.clone()).or_default();
                *c += u64::from(post);
                *c
            };
            if post {
                tokio::time::sleep(delay).await;
            }
            let body = serde_json::json!({"path": path, "count": count}).to_string();
            hyper::Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .expect("a response")
        }
    })
    .await
}

async fn run_against(url: &str, id: &str, users: &str) -> Run {
    let r = run(
        id,
        &[
            "--host",
            url,
            "-u",
            users,
            "-t",
            "3",
            "-q",
            "--max-duration",
            "60",
            "--max-requests",
            "20000",
        ],
    )
    .await;
    assert_eq!(r.code(), Some(0), "{}", r.stdout());
    r
}

async fn compare(base: &Path, new: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let (b, n) = (base.to_str().expect("utf-8"), new.to_str().expect("utf-8"));
    let mut args = vec!["compare", b, n];
    args.extend_from_slice(extra);
    let o = loadtest(&args).await;
    (
        o.status.code(),
        stdout(&o) + &String::from_utf8_lossy(&o.stderr),
    )
}

#[tokio::test]
async fn a_slowed_stage_is_a_p99_regression_and_equal_runs_are_not() {
    let delay_ms = Arc::new(AtomicU64::new(0));
    let (url, stage) = counter_answering_after(delay_ms.clone()).await;
    let base = run_against(&url, "fast", "4").await;
    delay_ms.store(100, Ordering::Relaxed);
    let new = run_against(&url, "slow", "4").await;
    delay_ms.store(0, Ordering::Relaxed);
    let limit = ["--max-p99-increase", "50"];

    let (code, text) = compare(&base.dir, &new.dir, &limit).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("REGRESSION: p99 rose"), "{text}");
    assert!(text.contains("--max-p99-increase 50%"), "{text}");
    assert!(text.contains("COMPARE: FAIL (1 regression)"), "{text}");
    assert!(!text.contains("WARNING"), "same shape: {text}");

    let (code, text) = compare(&base.dir, &base.dir, &limit).await;
    assert_eq!(code, Some(0), "a run against itself: {text}");
    let (code, text) = compare(&new.dir, &base.dir, &limit).await;
    assert_eq!(code, Some(0), "faster is no regression: {text}");
    let (code, text) = compare(&base.dir, &new.dir, &["--markdown"]).await;
    assert_eq!(code, Some(0), "no limit given, no regression: {text}");
    assert!(text.contains("| p99 |"), "{text}");

    let two = run_against(&url, "two-users", "2").await;
    let (code, text) = compare(&base.dir, &two.dir, &limit).await;
    assert!(
        text.contains("WARNING: the runs differ in shape (users 4 → 2)"),
        "{text}"
    );
    assert!(code.is_some_and(|c| c <= 1), "{text}");

    let (code, text) = compare(&base.dir, Path::new("/nonexistent/run"), &limit).await;
    assert_eq!(code, Some(2), "{text}");
    let (code, text) = compare(&base.dir, &new.dir, &["--max-p99-increase", "-5"]).await;
    assert_eq!(code, Some(2), "{text}");

    regenerates_a_complete_run_with_a_baseline(&base, &new).await;
    stage.abort();
}

/// `report` on a run that ended itself: the same verdict and figures, the
/// report written again, the baseline's percentile curve beside its own.
async fn regenerates_a_complete_run_with_a_baseline(base: &Run, new: &Run) {
    let before = summary(&new.dir);
    std::fs::remove_file(new.dir.join("report.html")).expect("removed");
    let dir = new.dir.to_str().expect("utf-8");
    let base_dir = base.dir.to_str().expect("utf-8");
    let o = loadtest(&["report", dir, "--baseline", base_dir]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("VERDICT: PASS"), "{}", stdout(&o));
    let after = summary(&new.dir);
    let json = |s| serde_json::to_value(s).expect("serializes");
    assert_eq!(json(&after), json(&before), "judged again, the same");
    let html = std::fs::read_to_string(new.dir.join("report.html")).expect("written again");
    assert!(
        html.contains("baseline (fast)"),
        "the baseline's curve, named"
    );
    let o = loadtest(&["report", dir, "--baseline", "/nonexistent/run"]).await;
    assert_eq!(o.status.code(), Some(2));
}
