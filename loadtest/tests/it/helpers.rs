use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use loadtest::analysis::summary::Summary;

/// Runs the real `loadtest` binary, bounded in time, and returns its output.
pub async fn loadtest(args: &[&str]) -> Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(args)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("loadtest finished within its bound")
        .expect("loadtest ran")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn summary(dir: &Path) -> Summary {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    serde_json::from_str(&text).expect("summary.json parses")
}

/// A fresh directory under cargo's per-target temp dir.
pub fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let path = tmp.path().to_owned();
    (tmp, path)
}

/// Short-run flags shared by the tests: few users, seconds, hard bounds.
pub const SHORT: &[&str] = &[
    "-u",
    "8",
    "-t",
    "3",
    "--max-duration",
    "60",
    "--max-requests",
    "20000",
];

/// A run of the real binary with a run directory of its own.
pub struct Run {
    pub output: Output,
    /// `<tmp>/<run-id>`: where this run's files are.
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }
    pub fn stdout(&self) -> String {
        stdout(&self.output)
    }
    pub fn stderr(&self) -> String {
        stderr(&self.output)
    }
    pub fn summary(&self) -> Summary {
        summary(&self.dir)
    }
}

/// `loadtest --run-id <id> --out-dir <a fresh temp dir> <args...>`.
pub async fn run(run_id: &str, args: &[&str]) -> Run {
    let (tmp, out) = out_dir();
    let out_s = out.to_str().expect("utf-8 temp path").to_owned();
    let mut all = vec!["--run-id", run_id, "--out-dir", &out_s];
    all.extend_from_slice(args);
    let output = loadtest(&all).await;
    Run {
        output,
        dir: out.join(run_id),
        _tmp: tmp,
    }
}

/// Judges a run's counts by the checker's own rules (not exact equality,
/// which one 503 on a busy machine breaks): every ok count unique, and
/// final − initial within [ok, ok + unknown].
pub fn assert_accounts_for_every_increment(s: &Summary) {
    let delta = s.final_count - s.initial_count;
    let r = &s.requests;
    assert!(
        (r.ok..=r.ok + r.unknown).contains(&delta),
        "final − initial = {delta}, ok {}, unknown {}",
        r.ok,
        r.unknown
    );
    assert!(s.verdict.passed(), "{:#?}", s.verdict);
}

/// Every file below `dir` (depth first).
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files
}

/// Sends `signal` ("INT", "TERM") to the process `pid`, as a user's Ctrl-C
/// or an orchestrator's stop would.
pub fn send_signal(pid: u32, signal: &str) {
    let kill = std::process::Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill ran");
    assert!(kill.success(), "kill -{signal} {pid}");
}

/// Serves `handler` on a free port of 127.0.0.1 (the test's own stand-in
/// for a stage); returns its base URL and the server task (abort it, or
/// drop the runtime, to stop it).
pub async fn serve_on_loopback<H, Fut>(handler: H) -> (String, tokio::task::JoinHandle<()>)
where
    H: Fn(hyper::Request<local_stage::RequestBody>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let server = tokio::spawn(local_stage::serve(
        listener,
        handler,
        local_stage::ServeOptions::default(),
    ));
    (url, server)
}
