use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use loadtest::summary::Summary;

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

pub fn out_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
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
