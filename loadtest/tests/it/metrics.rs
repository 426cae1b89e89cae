//! Metrics while the run goes: `/metrics` scraped mid-run is valid
//! Prometheus exposition (checked by Prometheus's own `promtool`), the
//! final scrape adds up to summary.json exactly, and `per-second.jsonl`
//! grows while the run goes and keeps every second through a SIGINT.
//!
//! promtool is Debian's, fetched into the user's cache on first use
//! (`promtool.rs`); a test never skips its check.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::Bytes;
use local_stage::RequestBody;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;

use crate::helpers::{out_dir, send_signal, serve_on_loopback, summary};
use crate::promtool::promtool;

/// A counter on 127.0.0.1 that answers one POST in ten 400 (failed) and
/// one in ten 503 (unknown; it never counts), so every outcome and three
/// statuses show; aborted on drop.
struct MixedStage {
    url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for MixedStage {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn mixed_answer(
    seen: &AtomicU64,
    count: &AtomicU64,
    mixed: bool,
    req: hyper::Request<RequestBody>,
) -> hyper::Response<Full<Bytes>> {
    let path = counter_api::path_from_query(req.uri().query()).unwrap_or_default();
    let (status, n) = if req.method() != hyper::Method::POST {
        (200, count.load(Ordering::SeqCst))
    } else {
        match seen.fetch_add(1, Ordering::SeqCst) % 10 {
            3 if mixed => (400, 0),
            7 if mixed => (503, 0),
            _ => (200, count.fetch_add(1, Ordering::SeqCst) + 1),
        }
    };
    let body = serde_json::json!({"path": path, "count": n}).to_string();
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

async fn spawn_mixed_stage() -> MixedStage {
    spawn_stage(true).await
}

/// A counter on 127.0.0.1; with `mixed`, some answers 400 and 503.
async fn spawn_stage(mixed: bool) -> MixedStage {
    let (seen, count) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (url, server) = serve_on_loopback(move |req| {
        let (seen, count) = (seen.clone(), count.clone());
        async move { mixed_answer(&seen, &count, mixed, req).await }
    })
    .await;
    MixedStage { url, server }
}

/// `promtool check metrics` on `text`: Prometheus's own tooling accepts
/// the exposition.
fn promtool_accepts(text: &str) {
    let mut child = std::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("piped to promtool");
    let out = child.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool check metrics refused the exposition:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `name{labels}` → value, from the text exposition.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').expect("name and value");
            (key.to_owned(), value.parse().expect("a number"))
        })
        .collect()
}

/// Sum of the samples of `name` (every label set).
fn sum_of(s: &BTreeMap<String, f64>, name: &str) -> u64 {
    s.iter()
        .filter(|(k, _)| *k == name || k.starts_with(&format!("{name}{{")))
        .map(|(_, v)| *v as u64)
        .sum()
}

async fn scrape(http: &reqwest::Client, url: &str) -> Option<String> {
    let response = http.get(url).send().await.ok()?;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().ok()?.to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.ok()
}

/// Scrapes until the run has answered some requests (bounded).
async fn scrape_mid_run(http: &reqwest::Client, url: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(text) = scrape(http, url).await
            && sum_of(&samples(&text), "loadtest_requests_total") > 0
        {
            return text;
        }
        assert!(Instant::now() < deadline, "no requests counted on {url}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The lines of per-second.jsonl, each parsed; waits (bounded) for `at_least`.
async fn timeline(file: &Path, at_least: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect();
        if lines.len() >= at_least {
            return lines;
        }
        assert!(Instant::now() < deadline, "{} lines: {text}", lines.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (bounded) for a stderr line containing `needle`; returns it.
async fn stderr_line(lines: &mut mpsc::UnboundedReceiver<String>, needle: &str) -> String {
    let found = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.recv().await {
            if line.contains(needle) {
                return Some(line);
            }
        }
        None
    })
    .await;
    found
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no stderr line with {needle:?}"))
}

fn spawn_loadtest(out: &Path, host: &str) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--run-id", "metrics", "--out-dir"])
        .arg(out)
        .args(["--host", host, "--metrics-addr", "127.0.0.1:0"])
        .args(["--metrics-linger", "120", "-u", "4", "--user-rate", "40"])
        .args([
            "-t",
            "90",
            "--max-duration",
            "150",
            "--max-requests",
            "50000",
        ])
        .args(["--abort-error-rate", "1", "--max-error-rate", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("started")
}

#[tokio::test]
async fn metrics_scraped_mid_run_are_valid_and_the_final_scrape_adds_up_to_the_summary() {
    let stage = spawn_mixed_stage().await;
    let (_tmp, out) = out_dir();
    let mut child = spawn_loadtest(&out, &stage.url);
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let (tx, mut lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            let _ = tx.send(line);
        }
    });
    let announced = stderr_line(&mut lines, "Metrics: http://").await;
    let url = announced.trim_start_matches("Metrics: ").trim().to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");

    let mid = scrape_mid_run(&http, &url).await;
    promtool_accepts(&mid);
    let m = samples(&mid);
    assert_eq!(m["loadtest_run_info{run_id=\"metrics\",node=\"0\"}"], 1.0);
    let file = out.join("metrics").join("per-second.jsonl");
    let live_lines = timeline(&file, 2).await;
    assert!(
        child.try_wait().expect("child").is_none(),
        "per-second.jsonl had {} lines while the run was still going",
        live_lines.len()
    );
    assert_eq!(live_lines[0]["second"], 0);

    send_signal(child.id().expect("pid"), "INT");
    stderr_line(&mut lines, "serving the final figures").await;
    let last = scrape(&http, &url).await.expect("the final scrape");
    tokio::spawn(async move { while lines.recv().await.is_some() {} });
    let o = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the run ended once scraped")
        .expect("waited");
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    promtool_accepts(&last);
    assert_final_scrape_is_the_summary(&samples(&last), &out.join("metrics"));
}

#[tokio::test]
async fn a_signal_during_the_linger_ends_it_and_keeps_the_runs_own_exit_code() {
    let stage = spawn_stage(false).await;
    let (_tmp, out) = out_dir();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--run-id", "linger", "--out-dir"])
        .arg(&out)
        .args(["--host", &stage.url, "--metrics-addr", "127.0.0.1:0"])
        .args(["--metrics-linger", "600", "-u", "2", "--user-rate", "20"])
        .args(["-t", "2", "--max-duration", "60", "--max-requests", "5000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("started");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let (tx, mut lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            let _ = tx.send(line);
        }
    });
    // The load is over and the run recorded: it waits for a scrape.
    stderr_line(&mut lines, "serving the final figures").await;
    let summary_file = out.join("linger").join("summary.json");
    let recorded = std::fs::read(&summary_file).expect("summary.json written before the linger");
    tokio::spawn(async move { while lines.recv().await.is_some() {} });

    send_signal(child.id().expect("pid"), "TERM");
    // Far below the 600 s linger: only the signal can have ended it.
    let o = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the signal ended the linger")
        .expect("waited");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("RESULT: PASS"), "{text}");
    assert_eq!(o.status.code(), Some(0), "the run's own exit code: {text}");
    assert_eq!(
        std::fs::read(&summary_file).expect("still there"),
        recorded,
        "summary.json unchanged"
    );
    let s = summary(&out.join("linger"));
    assert!(!s.interrupted && s.passed, "{s:?}");
}

/// Every counter of the final scrape is summary.json's figure, exactly, and
/// per-second.jsonl's lines add up to the same total.
fn assert_final_scrape_is_the_summary(m: &BTreeMap<String, f64>, dir: &Path) {
    let s = summary(dir);
    let r = &s.requests;
    assert!(r.ok > 0 && r.failed > 0 && r.unknown > 0, "{r:?}");
    for (outcome, n) in [("ok", r.ok), ("failed", r.failed), ("unknown", r.unknown)] {
        let key = format!("loadtest_requests_total{{outcome=\"{outcome}\"}}");
        assert_eq!(m.get(&key).copied(), Some(n as f64), "{key}");
    }
    assert_eq!(sum_of(m, "loadtest_requests_by_status_total"), r.total);
    for (status, n) in &r.by_status {
        let key = format!("loadtest_requests_by_status_total{{status=\"{status}\"}}");
        assert_eq!(m.get(&key).copied(), Some(*n as f64), "{key}");
    }
    assert_eq!(m["loadtest_request_duration_seconds_count"], r.total as f64);
    assert_eq!(
        m["loadtest_request_duration_seconds_bucket{le=\"+Inf\"}"],
        r.total as f64
    );
    let mean_ms = 1000.0 * m["loadtest_request_duration_seconds_sum"] / r.total as f64;
    let hdr_mean = s.latency.all.mean_ms;
    assert!(
        (mean_ms - hdr_mean).abs() <= 0.01 + hdr_mean * 0.01,
        "live mean {mean_ms} ms, HDR mean {hdr_mean} ms"
    );
    assert_eq!(m["loadtest_requests_in_flight"], 0.0);
    assert_eq!(m["loadtest_duplicate_counts_total"], 0.0);
    assert_eq!(m["loadtest_dropped_iterations_total"], 0.0);
    let text = std::fs::read_to_string(dir.join("per-second.jsonl")).expect("timeline");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line parses"))
        .collect();
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["second"], i as u64, "contiguous seconds");
    }
    let per_second: u64 = lines
        .iter()
        .map(|l| l["requests"].as_u64().expect("n"))
        .sum();
    assert_eq!(per_second, r.total, "no second lost, the last one included");
}

#[tokio::test]
async fn a_bad_or_taken_metrics_address_is_a_usage_error() {
    let o = crate::helpers::loadtest(&["--metrics-addr", "localhost:9464"]).await;
    assert_eq!(o.status.code(), Some(2));
    let err = crate::helpers::stderr(&o);
    assert!(
        err.contains("--metrics-addr") && err.contains("IP:PORT"),
        "{err}"
    );

    let taken = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (_tmp, out) = out_dir();
    let out = out.to_str().expect("utf-8").to_owned();
    let args = [
        "--out-dir",
        &out,
        "--host",
        "http://127.0.0.1:9",
        "--metrics-addr",
        &addr,
    ];
    let o = crate::helpers::loadtest(&args).await;
    let err = crate::helpers::stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("--metrics-addr {addr}")), "{err}");
    assert!(
        std::fs::read_dir(&out).expect("out dir").next().is_none(),
        "nothing written"
    );
}
