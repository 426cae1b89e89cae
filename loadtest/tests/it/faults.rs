//! Faults during load (`--faults`): each kind costs availability, never
//! correctness; a dependency fault is a 503 with `Retry-After`, never a
//! 500; no request waits past the operation timeout (plus a generous
//! margin); the stage recovers by itself; the racy counter still fails;
//! an interrupted run leaves no paused or orphaned java.

use std::time::Duration;

use counter_lambda::config::StoreTimeouts;
use local_stage::{FaultKind, FaultPlan, LocalStage, StageOptions};

use crate::helpers::{assert_accounts_for_every_increment, run, send_signal};
use crate::racy_counter::spawn_racy_counter_with_faults;

/// A short run of the real binary with one 2 s window of `kind` at 2 s
/// (the interval is longer than the run: goose takes a moment to stop,
/// and a second window would find no load to judge it by).
async fn run_with(kind: &str, secs: &str) {
    let r = run(
        &format!("faults-{kind}"),
        &[
            "-u",
            "8",
            "-t",
            secs,
            "--max-duration",
            "90",
            "--max-requests",
            "40000",
            "--faults",
            kind,
            "--fault-duration",
            "2",
            "--fault-interval",
            "60",
            // The window's errors must not abort the run, nor stray 503s
            // of a busy machine fail it outside the window.
            "--abort-error-rate",
            "1",
            "--max-error-rate",
            "0.05",
        ],
    )
    .await;
    assert_eq!(r.code(), Some(0), "{}\n{}", r.stdout(), r.stderr());
    let s = r.summary();
    assert_accounts_for_every_increment(&s);
    assert_eq!(s.faults.len(), 1, "{:?}", s.faults);
    let f = &s.faults[0];
    assert_eq!(f.kind, kind);
    assert!(
        f.requests > 0 && f.unknown + f.failed > 0,
        "the fault cost something: {f:?}"
    );
    // Only 200s and 503s: a dependency fault is never a 500.
    for status in s.requests.by_status.keys() {
        assert!(
            status == "200" || status == "503",
            "{:?}",
            s.requests.by_status
        );
    }
    // No request waited past the operation timeout, with a wide margin for
    // a busy machine (the client's own timeout is 10 s).
    let bound = StoreTimeouts::default().operation + Duration::from_secs(4);
    assert!(
        s.latency.all.max_ms < bound.as_secs_f64() * 1000.0,
        "max {} ms",
        s.latency.all.max_ms
    );
    assert!(
        f.recovered_at_s.is_some(),
        "recovered within the run: {f:?}"
    );
    assert!(r.stdout().contains("Faults ("), "{}", r.stdout());
}

#[tokio::test]
async fn latency_costs_availability_never_correctness() {
    run_with("latency", "8").await;
}

#[tokio::test]
async fn throttling_costs_availability_never_correctness() {
    run_with("throttle", "8").await;
}

#[tokio::test]
async fn errors_and_resets_cost_availability_never_correctness() {
    run_with("errors", "8").await;
}

#[tokio::test]
async fn a_pause_costs_availability_never_correctness() {
    run_with("pause", "8").await;
}

#[tokio::test]
async fn a_restart_costs_availability_never_correctness() {
    // java's start takes seconds (8 s seen on a busy 2-core machine): a
    // longer run, so the recovery after it is inside the run.
    run_with("restart", "20").await;
}

#[tokio::test]
async fn a_dependency_fault_is_a_503_with_retry_after_and_the_stage_recovers() {
    let config = counter_lambda::Config::from_lookup(|_| None).expect("config");
    let mut options = StageOptions::new(config);
    let ms = Duration::from_millis;
    options.faults = Some(
        FaultPlan::new(
            vec![FaultKind::Throttle, FaultKind::Errors, FaultKind::Latency],
            ms(2500),
            ms(1500),
        )
        .expect("plan"),
    );
    let mut stage = LocalStage::start(options).await.expect("stage");
    let url = format!("{}/visits?path=/faults", stage.url());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    stage
        .start_faults(std::time::Instant::now())
        .expect("faults");
    // Four clients for 8.5 s (three windows: 1.5-3, 4-5.5, 6.5-8 s).
    let end = tokio::time::Instant::now() + ms(8500);
    let clients = (0..4).map(|_| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let mut seen = vec![];
            for _ in 0..5000 {
                if tokio::time::Instant::now() >= end {
                    break;
                }
                let r = http.post(&url).send().await.expect("an answer");
                seen.push((r.status().as_u16(), r.headers().contains_key("retry-after")));
            }
            seen
        })
    });
    let mut seen = vec![];
    for c in clients {
        seen.extend(c.await.expect("client"));
    }
    let windows = stage.stop_faults();
    assert!(windows.len() >= 3, "{windows:?}");
    let unavailable = seen.iter().filter(|(s, _)| *s == 503).count();
    assert!(unavailable > 0, "the faults showed: {seen:?}");
    for (status, retry_after) in &seen {
        assert!(*status == 200 || *status == 503, "status {status}");
        assert!(*status == 200 || *retry_after, "a 503 without Retry-After");
    }
    // It recovers by itself: a bounded poll for the next 200.
    let mut ok = false;
    for _ in 0..50 {
        if http
            .post(&url)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ok = true;
            break;
        }
        tokio::time::sleep(ms(100)).await;
    }
    assert!(ok, "the stage answers 200 again after the faults");
}

#[tokio::test]
async fn the_racy_counter_still_fails_under_faults() {
    let plan = FaultPlan::new(
        vec![FaultKind::Latency, FaultKind::Throttle, FaultKind::Errors],
        Duration::from_secs(3),
        Duration::from_secs(1),
    )
    .expect("plan");
    let racy = spawn_racy_counter_with_faults(Some(plan)).await;
    let r = run(
        "faults-racy",
        &[
            "--host",
            &racy.url,
            "-u",
            "16",
            "-t",
            "8",
            "--max-duration",
            "60",
            "--max-requests",
            "20000",
            "--abort-error-rate",
            "1",
        ],
    )
    .await;
    assert_eq!(r.code(), Some(1), "{}\n{}", r.stdout(), r.stderr());
    assert!(!r.summary().verdict.passed(), "{:#?}", r.summary().verdict);
}

#[tokio::test]
async fn faults_with_host_is_a_usage_error() {
    let r = run(
        "faults-host",
        &[
            "--host",
            "http://127.0.0.1:9",
            "--faults",
            "pause",
            "-t",
            "1",
        ],
    )
    .await;
    assert_eq!(r.code(), Some(2), "{}", r.stderr());
    assert!(r.stderr().contains("--faults"), "{}", r.stderr());
    let bad = run("faults-bad", &["--faults", "flood", "-t", "1"]).await;
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr());
}

/// The java processes whose parent's parent is `pid` (loadtest → sh
/// watchdog → java), with their state letter.
fn java_grandchildren(pid: u32) -> Vec<(u32, char)> {
    let parent = |p: u32| -> Option<(u32, char)> {
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 2..];
        let mut fields = rest.split_whitespace();
        let state = fields.next()?.chars().next()?;
        Some((fields.next()?.parse().ok()?, state))
    };
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "java")
        })
        .filter_map(|p| {
            let (sh, state) = parent(p)?;
            let (grand, _) = parent(sh)?;
            (grand == pid).then_some((p, state))
        })
        .collect()
}

#[tokio::test]
async fn ctrl_c_during_a_pause_leaves_no_paused_or_orphaned_java() {
    let (_tmp, out) = crate::helpers::out_dir();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["-u", "4", "-t", "40", "--max-duration", "90", "-q"])
        .args([
            "--faults",
            "pause",
            "--fault-duration",
            "6",
            "--fault-interval",
            "20",
        ])
        .args(["--abort-error-rate", "1", "--out-dir"])
        .arg(&out)
        .kill_on_drop(true)
        .spawn()
        .expect("loadtest starts");
    let pid = child.id().expect("pid");
    // Bounded poll: until its DynamoDB Local is paused (state T).
    let mut paused = None;
    for _ in 0..900 {
        if let Some((java, _)) = java_grandchildren(pid).into_iter().find(|(_, s)| *s == 'T') {
            paused = Some(java);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let java = paused.expect("DynamoDB Local was paused within 90 s");
    send_signal(pid, "INT");
    let status = tokio::time::timeout(Duration::from_secs(90), child.wait())
        .await
        .expect("loadtest ended within 90 s of SIGINT")
        .expect("wait");
    assert_eq!(status.code(), Some(130));
    // Bounded poll: the java it paused is gone (not left stopped).
    let mut gone = false;
    for _ in 0..150 {
        let state = std::fs::read_to_string(format!("/proc/{java}/stat")).ok();
        if state.is_none_or(|s| s.contains(") Z")) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "java {java} outlived the run");
}
