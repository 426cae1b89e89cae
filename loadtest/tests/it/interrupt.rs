//! An interrupted run is honest: SIGINT or SIGTERM stops the load, the run
//! still reads the count and writes its whole record, marks itself
//! interrupted, and exits 128 + the signal (never 0).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{out_dir, send_signal, summary};

async fn interrupted_run(signal: &str, expected_code: i32) {
    let (_tmp, out) = out_dir();
    let run_id = format!("interrupted-{}", signal.to_lowercase());
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--run-id", &run_id, "--out-dir"])
        .arg(&out)
        .args(["-u", "4", "-t", "120", "--max-duration", "180"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("started");
    // Wait (bounded) for the first progress line: the load is running.
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let running = tokio::time::timeout(Duration::from_secs(120), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("req/s") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(running, Ok(true), "the run showed progress");
    send_signal(child.id().expect("pid"), signal);
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let o = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the run ended within its bound after the signal")
        .expect("waited");
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(expected_code), "{text}");
    let name = format!("SIG{signal}");
    assert!(text.contains(&format!("INTERRUPTED by {name}")), "{text}");
    assert!(text.contains("RESULT: FAIL"), "{text}");
    let s = summary(&out.join(&run_id));
    assert!(s.interrupted && !s.passed);
    assert_eq!(s.interrupted_by.as_deref(), Some(name.as_str()));
    assert!(s.requests.total > 0, "what the run saw is recorded");
    assert!(out.join(&run_id).join("observations.bin").is_file());
    assert!(
        s.verdict.passed(),
        "the real counter's history still judged: {:#?}",
        s.verdict
    );
}

#[tokio::test]
async fn sigint_mid_run_stops_writes_everything_and_exits_130() {
    interrupted_run("INT", 130).await;
}

#[tokio::test]
async fn sigterm_mid_run_stops_writes_everything_and_exits_143() {
    interrupted_run("TERM", 143).await;
}
