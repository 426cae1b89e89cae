//! The run stops itself: early on a failing stage, at its bounds, and at
//! once on a usage error.

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{loadtest, run, stderr, stdout};

/// A stage whose reads work but whose writes all fail with 503.
async fn failing_stage() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"path": "/x", "count": 0})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_failing_stage_aborts_the_run_early() {
    let stage = failing_stage().await;
    let r = run(
        "abort",
        &[
            "--host",
            &stage.uri(),
            "-u",
            "4",
            "-t",
            "120",
            "--abort-error-rate",
            "0.5",
            "--abort-min-requests",
            "20",
        ],
    )
    .await;
    let text = r.stdout();
    assert_eq!(r.code(), Some(1), "{text}");
    assert!(text.contains("ABORTED: error rate"), "{text}");
    let s = r.summary();
    assert!(s.aborted.is_some());
    // It stopped long before the 120 s asked for: a few requests, not minutes of them.
    assert!(s.requests.total < 2000, "{} requests", s.requests.total);
    let received = stage.received_requests().await.expect("recorded").len();
    assert!(received < 2000, "{received} requests reached the stage");
}

/// A stage whose throttle refuses every write, as API Gateway answers it:
/// not broken, but only billed, not measured. The run stops early too.
#[tokio::test]
async fn a_stage_that_throttles_every_request_stops_the_run_early() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"path": "/x", "count": 0})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(serde_json::json!({"message": "Too Many Requests"})),
        )
        .mount(&server)
        .await;
    let r = run(
        "throttled",
        &[
            "--host",
            &server.uri(),
            "-u",
            "4",
            "-t",
            "120",
            "--abort-min-requests",
            "20",
        ],
    )
    .await;
    let text = r.stdout();
    assert_eq!(r.code(), Some(1), "{text}");
    assert!(text.contains("ABORTED: the stage throttled"), "{text}");
    let s = r.summary();
    assert!(s.requests.total < 2000, "{} requests", s.requests.total);
}

#[tokio::test]
async fn max_requests_bounds_a_run_and_is_not_a_failure() {
    let r = run("bounded", &["-u", "4", "-t", "120", "--max-requests", "40"]).await;
    assert_eq!(r.code(), Some(0), "{}{}", r.stdout(), r.stderr());
    let s = r.summary();
    assert!(
        s.stopped_early
            .as_deref()
            .is_some_and(|r| r.contains("--max-requests"))
    );
    assert!(
        s.requests.total >= 40 && s.requests.total <= 40 + 4,
        "{}",
        s.requests.total
    );
}

#[tokio::test]
async fn usage_errors_exit_2_with_a_clear_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["--no-such-flag"], "--no-such-flag"),
        (&["--max-error-rate", "2"], "not a fraction"),
        (&["--host", "not a url"], "--host"),
        (&["--host", "ftp://127.0.0.1"], "http:// or https://"),
        (
            &["--host", "127.0.0.1:8080"],
            "did you mean http://127.0.0.1:8080",
        ),
        (&["--path", "relative"], "--path"),
        (&["--run-id", "a/b"], "run id"),
        (
            &["--steps", "4,8", "-u", "3"],
            "--steps makes its own test plan",
        ),
        (&["-u", "notanumber"], "notanumber"),
        (&["-u", "0"], "--users"),
        (&["-t", "10seconds"], "--run-time"),
        (&["--timeout", "soon"], "--timeout"),
        (&["--dashboard"], "--dashboard"),
        (&["--arrival-rate", "0"], "--arrival-rate"),
        (&["--arrival-rate", "nan"], "--arrival-rate"),
        (&["--arrival-rate", "inf"], "--arrival-rate"),
        (
            &["--arrival-rate", "5", "-u", "3"],
            "--arrival-rate: not with --users",
        ),
        (
            &["--arrival-rate", "5", "--user-rate", "2"],
            "--arrival-rate: not with --user-rate",
        ),
        (
            &["--arrival-rate", "5", "--steps", "2,4"],
            "--arrival-rate: not with --steps",
        ),
        (&["--rate-steps", "10,0"], "--rate-steps"),
        (
            &["--rate-steps", "10,20", "-t", "5"],
            "--rate-steps: not with --run-time",
        ),
        (&["--arrival-rate", "5", "--rate-steps", "10"], "give one"),
        (&["--max-users", "8"], "--max-users"),
        (&["--cacert", "/no/such/ca.pem"], "--cacert"),
        (
            &["--request", "POST /count", "--read", "GET /count?p={key}"],
            "names {key}",
        ),
        (&["-H", "http://127.0.0.1:1"], "--host"),
    ];
    let (_tmp, out) = crate::helpers::out_dir();
    let out_s = out.to_str().expect("utf-8 temp path");
    for (args, expected) in cases {
        let o = loadtest(&[&["--out-dir", out_s][..], args].concat()).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
        assert!(
            !stderr(&o).contains("starting the local stage"),
            "{args:?}: refused before anything started"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&out).expect("readable").collect();
    assert!(left.is_empty(), "a usage error leaves no run directory");
}

#[tokio::test]
async fn help_lists_goose_options_and_the_harness_options() {
    let o = loadtest(&["--help"]).await;
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for flag in [
        "--host",
        "--users",
        "--run-time",
        "--test-plan",
        "--co-mitigation",
        "--report-file",
        "--max-p99",
        "--node-id",
        "--steps",
    ] {
        assert!(text.contains(flag), "{flag} in --help");
    }
}

#[tokio::test]
async fn help_is_one_screen_and_its_defaults_are_the_ones_a_run_uses() {
    use loadtest::commands::run::{DEFAULT_RUN_SECS, DEFAULT_TIMEOUT_SECS, DEFAULT_USERS};
    let o = loadtest(&["--help"]).await;
    let text = stdout(&o);
    assert!(
        text.lines().count() < 60,
        "{} lines:\n{text}",
        text.lines().count()
    );
    for default in [
        format!("Concurrent users [default: {DEFAULT_USERS}]"),
        format!("[default: {DEFAULT_RUN_SECS} s]"),
        format!("[default: {DEFAULT_TIMEOUT_SECS}]"),
    ] {
        assert!(text.contains(&default), "{default} in --help:\n{text}");
    }
    assert!(!text.contains("GooseDefault"), "{text}");
    let all = stdout(&loadtest(&["--help-goose"]).await);
    assert!(
        all.contains("--no-telnet") && !all.contains("GooseDefault"),
        "{all}"
    );
    let v = loadtest(&["-V"]).await;
    assert_eq!(v.status.code(), Some(0));
    assert!(stdout(&v).starts_with("loadtest "), "{}", stdout(&v));
}

#[tokio::test]
async fn a_closed_port_is_named_as_refused() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let r = crate::helpers::run(
        "refused",
        &["--host", &format!("http://127.0.0.1:{port}"), "-t", "1"],
    )
    .await;
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr().to_lowercase().contains("connection refused"),
        "the cause is kept: {}",
        r.stderr()
    );
}

#[tokio::test]
async fn without_java_the_run_says_so_at_once_and_how_to_fix_it() {
    let (_tmp, out) = crate::helpers::out_dir();
    let empty_path = out.join("no-java-here");
    std::fs::create_dir_all(&empty_path).expect("dir");
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["-t", "2", "--out-dir"])
        .arg(&out)
        .env("PATH", &empty_path)
        .env_remove("DYNAMODB_ENDPOINT")
        .kill_on_drop(true)
        .output();
    let o = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("finished within its bound")
        .expect("ran");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("needs Java"), "names Java: {err}");
    assert!(
        err.contains("DYNAMODB_ENDPOINT"),
        "says the way around: {err}"
    );
}

#[tokio::test]
async fn a_target_that_dies_still_leaves_the_runs_whole_record() {
    let stage = MockServer::start().await;
    // The first read answers; after that the "stage" is gone (500s).
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"path": "/x", "count": 0})),
        )
        .up_to_n_times(1)
        .mount(&stage)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&stage)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .mount(&stage)
        .await;
    let r = run(
        "dead-target",
        &[
            "--host",
            &stage.uri(),
            "-u",
            "2",
            "-t",
            "2",
            "--abort-error-rate",
            "1",
        ],
    )
    .await;
    assert_eq!(r.code(), Some(1), "{}", r.stdout());
    assert!(
        r.stderr()
            .contains("could not read the count after the run"),
        "{}",
        r.stderr()
    );
    let s = r.summary();
    assert_eq!(
        s.verdict.status,
        loadtest::analysis::checker::VerdictStatus::Inconclusive
    );
    assert!(s.requests.total > 0, "what the run saw is recorded");
    assert!(r.dir.join("observations.bin").is_file());
    assert!(r.dir.join("report.html").is_file());
    assert!(r.stdout().contains("INCONCLUSIVE"), "{}", r.stdout());
}
