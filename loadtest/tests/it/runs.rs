use crate::helpers::{SHORT, loadtest, out_dir, stdout, summary};
use crate::racy_counter::spawn_racy_counter;

#[tokio::test]
async fn the_real_counter_on_the_local_stage_passes() {
    let (_tmp, out) = out_dir();
    let out_s = out.to_str().expect("utf-8 path");
    let mut args = vec!["--run-id", "local-pass", "--out-dir", out_s];
    args.extend_from_slice(SHORT);
    let o = loadtest(&args).await;
    let text = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}\n{}",
        crate::helpers::stderr(&o)
    );
    assert!(text.contains("VERDICT: PASS"), "{text}");
    assert!(text.contains("p99.9"), "the latency table: {text}");
    assert!(
        !text.contains("[INFO]"),
        "goose's own log stays behind the warn filter: {text}"
    );
    let dir = out.join("local-pass");
    let s = summary(&dir);
    assert!(s.passed && s.run.local_stage);
    assert!(s.requests.ok > 10, "{:?}", s.requests);
    assert_eq!(s.final_count - s.initial_count, s.requests.ok);
    for file in [
        "summary.json",
        "observations.bin",
        "latency.hgrm",
        "latency.hdr",
        "report.html",
        "over-time.svg",
    ] {
        assert!(dir.join(file).is_file(), "{file} written");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).expect("report");
    assert!(
        html.contains("<svg") && !html.contains("<script"),
        "self-contained, no script"
    );
}

#[tokio::test]
async fn a_racy_read_then_write_counter_fails_with_named_duplicates() {
    let racy = spawn_racy_counter().await;
    let (_tmp, out) = out_dir();
    let out_s = out.to_str().expect("utf-8 path");
    let o = loadtest(&[
        "--host",
        &racy.url,
        "--run-id",
        "racy",
        "--out-dir",
        out_s,
        "-u",
        "16",
        "-t",
        "3",
        "--max-duration",
        "60",
    ])
    .await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("VERDICT: FAIL"), "{text}");
    assert!(text.contains("uniqueness       FAIL"), "{text}");
    assert!(
        text.contains("returned twice") || text.contains("times:"),
        "a named duplicate: {text}"
    );
    let s = summary(&out.join("racy"));
    assert!(!s.passed);
    let u = &s.verdict.checks[0];
    assert!(u.violations > 0 && !u.examples.is_empty());
}

#[tokio::test]
async fn a_real_page_is_judged_without_accounting_and_the_report_says_why() {
    let (_tmp, out) = out_dir();
    let out_s = out.to_str().expect("utf-8 path");
    let mut args = vec![
        "--path",
        "/blog/hello",
        "--run-id",
        "real-page",
        "--out-dir",
        out_s,
    ];
    args.extend_from_slice(SHORT);
    let o = loadtest(&args).await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(
        text.contains("accounting       SKIP  skipped: others write to this counter too"),
        "{text}"
    );
    let s = summary(&out.join("real-page"));
    assert!(s.run.outside_traffic);
    assert_eq!(s.run.path, "/blog/hello");
}

#[tokio::test]
async fn goose_options_work_unchanged_including_a_test_plan() {
    let (_tmp, out) = out_dir();
    let out_s = out.to_str().expect("utf-8 path");
    let o = loadtest(&[
        "--run-id",
        "plan",
        "--out-dir",
        out_s,
        "--test-plan",
        "4,1s;4,2s;0,1s",
        "--max-duration",
        "60",
        "--throttle-requests",
        "200",
    ])
    .await;
    let text = stdout(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}{}",
        crate::helpers::stderr(&o)
    );
    let s = summary(&out.join("plan"));
    assert_eq!(s.run.users, 4, "the plan's peak");
    assert!(
        s.requests.total > 0 && s.requests.total <= 200 * 5,
        "--throttle-requests held: {}",
        s.requests.total
    );
}

#[tokio::test]
async fn user_rate_paces_each_user() {
    let (_tmp, out) = out_dir();
    let out_s = out.to_str().expect("utf-8 path");
    let o = loadtest(&[
        "--run-id",
        "paced",
        "--out-dir",
        out_s,
        "-u",
        "4",
        "-t",
        "3",
        "--user-rate",
        "10",
        "--max-duration",
        "60",
    ])
    .await;
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let s = summary(&out.join("paced"));
    // 4 users × 10/s for about 3-4 s: a few dozen requests, not thousands.
    assert!(
        (40..=4 * 10 * 5).contains(&s.requests.total),
        "{} requests at 4 users x 10/s",
        s.requests.total
    );
}
