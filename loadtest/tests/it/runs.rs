use crate::helpers::{SHORT, assert_accounts_for_every_increment, run};
use crate::racy_counter::spawn_racy_counter;

#[tokio::test]
async fn the_real_counter_on_the_local_stage_passes() {
    let r = run("local-pass", SHORT).await;
    let text = r.stdout();
    assert_eq!(r.code(), Some(0), "{text}\n{}", r.stderr());
    assert!(text.contains("VERDICT: PASS"), "{text}");
    assert!(text.contains("p99.9"), "the latency table: {text}");
    assert!(
        !text.contains("[INFO]"),
        "goose's own log stays behind the warn filter: {text}"
    );
    assert!(
        r.stderr()
            .lines()
            .any(|l| l.contains("req/s") && l.contains("duplicates 0")),
        "live progress on stderr: {}",
        r.stderr()
    );
    let s = r.summary();
    assert!(s.passed && s.run.local_stage);
    assert!(s.requests.ok > 10, "{:?}", s.requests);
    assert_accounts_for_every_increment(&s);
    for role in [
        "summary",
        "observations",
        "histogram_text",
        "histogram",
        "report",
        "plot_over_time",
    ] {
        let file = s
            .files
            .get(role)
            .unwrap_or_else(|| panic!("summary.json names its {role}"));
        assert!(r.dir.join(file).is_file(), "{file} written");
    }
    let html = std::fs::read_to_string(r.dir.join("report.html")).expect("report");
    assert!(
        html.contains("<svg") && !html.contains("<script"),
        "self-contained, no script"
    );
}

#[tokio::test]
async fn a_racy_read_then_write_counter_fails_with_named_duplicates() {
    let racy = spawn_racy_counter().await;
    let r = run(
        "racy",
        &[
            "--host",
            &racy.url,
            "-u",
            "16",
            "-t",
            "3",
            "--max-duration",
            "60",
        ],
    )
    .await;
    let text = r.stdout();
    assert_eq!(r.code(), Some(1), "{text}");
    assert!(text.contains("VERDICT: FAIL"), "{text}");
    assert!(text.contains("uniqueness       FAIL"), "{text}");
    assert!(
        text.contains("returned twice") || text.contains("times:"),
        "a named duplicate: {text}"
    );
    let s = r.summary();
    assert!(!s.passed);
    let u = &s.verdict.checks[0];
    assert!(u.violations > 0 && !u.examples.is_empty());
}

#[tokio::test]
async fn a_real_page_is_judged_without_accounting_and_the_report_says_why() {
    let r = run(
        "real-page",
        &[&["--path", "/blog/hello", "-q"], SHORT].concat(),
    )
    .await;
    let text = r.stdout();
    assert_eq!(r.code(), Some(0), "{text}");
    assert!(
        !r.stderr().contains("req/s"),
        "-q: no progress: {}",
        r.stderr()
    );
    assert!(
        text.contains("accounting       SKIP  skipped: others write to this counter too"),
        "{text}"
    );
    let s = r.summary();
    assert!(s.run.outside_traffic);
    assert_eq!(s.run.path, "/blog/hello");
}

async fn throttled_plan_run(id: &str, per_second: &str) -> loadtest::analysis::summary::Summary {
    let r = run(
        id,
        &[
            "--test-plan",
            "4,1s;4,3s;0,1s",
            "--max-duration",
            "60",
            "--throttle-requests",
            per_second,
        ],
    )
    .await;
    assert_eq!(r.code(), Some(0), "{}{}", r.stdout(), r.stderr());
    r.summary()
}

/// Goose's `--test-plan` and `--throttle-requests` work unchanged. The
/// throttle is judged as goose's own test judges it, by a ratio: five times
/// the rate gives well over three times the requests (a bound alone would
/// pass on a slow machine whatever the throttle did).
#[tokio::test]
async fn goose_options_work_unchanged_including_a_test_plan_and_the_throttle() {
    let slow = throttled_plan_run("plan-slow", "20").await;
    let fast = throttled_plan_run("plan-fast", "100").await;
    assert_eq!(slow.run.users, 4, "the plan's peak");
    assert!(slow.requests.total > 0);
    assert!(
        fast.requests.total > 3 * slow.requests.total,
        "--throttle-requests 100 gave {} requests, 20 gave {}",
        fast.requests.total,
        slow.requests.total
    );
}

#[tokio::test]
async fn user_rate_paces_each_user() {
    let r = run(
        "paced",
        &[
            "-u",
            "4",
            "-t",
            "3",
            "--user-rate",
            "10",
            "--max-duration",
            "60",
        ],
    )
    .await;
    assert_eq!(r.code(), Some(0), "{}", r.stdout());
    let s = r.summary();
    // 4 users × 10/s for about 3-4 s: a few dozen requests, not thousands.
    assert!(
        (40..=4 * 10 * 5).contains(&s.requests.total),
        "{} requests at 4 users x 10/s",
        s.requests.total
    );
}
