//! A run killed halfway (`kill -9`: no signal it can handle, no summary)
//! still leaves its evidence: run.json and the observations streamed to
//! disk. `loadtest report` judges them: every request of every second the
//! run completed (per-second.jsonl says how many), a racy counter's
//! duplicates as a FAIL, and never a PASS without the count read after
//! the kill.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use local_stage::{LocalStage, StageOptions};

use crate::helpers::{loadtest, out_dir, send_signal, stdout, summary};
use crate::racy_counter::spawn_racy_counter;

/// Lines of per-second.jsonl so far, as (second, requests).
fn seconds(dir: &Path) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(dir.join("per-second.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            (
                v["second"].as_u64().unwrap_or(0),
                v["requests"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Starts `loadtest <args>` (a run of 30 s whose directory is `dir`),
/// kills it with SIGKILL once it has completed 4 seconds (nothing it can
/// catch: no summary), and checks that it left its record.
async fn kill_after_4_seconds(args: &[&str], dir: &Path) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(args)
        .args([
            "-t",
            "30",
            "-q",
            "--max-duration",
            "60",
            "--max-requests",
            "300000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("started");
    let deadline = Instant::now() + Duration::from_secs(120);
    while seconds(dir).len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the run never completed 4 seconds"
        );
        assert!(
            child.try_wait().expect("status").is_none(),
            "the run ended by itself"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    send_signal(child.id().expect("pid"), "KILL");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("gone at once")
        .expect("waited");
    assert_eq!(status.code(), None, "killed by a signal, not an exit");
    assert!(
        !dir.join("summary.json").exists(),
        "a killed run writes no summary"
    );
    assert!(dir.join("run.json").is_file());
}

/// A run of 8 users against `host`, killed halfway; its directory.
async fn killed_run(host: &str, out: &Path, run_id: &str) -> PathBuf {
    let out_s = out.to_str().expect("utf-8");
    let dir = out.join(run_id);
    kill_after_4_seconds(
        &[
            "--run-id",
            run_id,
            "--out-dir",
            out_s,
            "--host",
            host,
            "-u",
            "8",
        ],
        &dir,
    )
    .await;
    dir
}

/// Every request of every second the run completed and reported before
/// the kill is on disk and judged. The last line is left out: it may have
/// been written in the few milliseconds before the kill, its records not
/// yet.
fn assert_judges_every_completed_second(dir: &Path, s: &loadtest::analysis::summary::Summary) {
    let lines = seconds(dir);
    let completed: u64 = lines[..lines.len() - 1].iter().map(|l| l.1).sum();
    let killed = s.killed.as_ref().expect("marked killed");
    assert!(completed > 0, "{lines:?}");
    assert!(
        killed.records_on_disk >= completed,
        "{} on disk, {completed} completed in seconds 0..{}",
        killed.records_on_disk,
        lines.len() - 1
    );
    assert_eq!(
        s.requests.total, killed.records_on_disk,
        "all of them judged"
    );
}

async fn report(dir: &Path, host: Option<&str>) -> (Option<i32>, String) {
    let mut args = vec!["report", dir.to_str().expect("utf-8")];
    args.extend(host.map(|h| ["--host", h]).into_iter().flatten());
    let o = loadtest(&args).await;
    (o.status.code(), stdout(&o))
}

#[tokio::test]
async fn a_killed_run_is_judged_from_what_it_left_and_passes_only_with_its_final_count() {
    let stage = LocalStage::start(StageOptions::new(
        counter_lambda::Config::from_lookup(|_| None).expect("config"),
    ))
    .await
    .expect("stage");
    let (_tmp, out) = out_dir();
    let dir = killed_run(stage.url(), &out, "killed").await;

    let (code, text) = report(&dir, None).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("KILLED: the run ended without writing a summary"),
        "{text}"
    );
    assert!(text.contains("VERDICT: INCONCLUSIVE"), "{text}");
    assert!(text.contains("give --host to read it now"), "{text}");
    let s = summary(&dir);
    assert!(
        !s.verdict.passed() && !s.passed,
        "never a pass without the count"
    );
    assert_judges_every_completed_second(&dir, &s);
    assert!(dir.join("report.html").is_file());

    let (code, text) = report(&dir, Some(stage.url())).await;
    assert_eq!(code, Some(1), "a killed run never passes as a run: {text}");
    assert!(text.contains("VERDICT: PASS"), "{text}");
    let s = summary(&dir);
    assert!(s.verdict.passed() && !s.passed, "{:#?}", s.verdict);
    let killed = s.killed.as_ref().expect("marked killed");
    assert_eq!(killed.final_count_from.as_deref(), Some(stage.url()));
    let counted = s.final_count - s.initial_count;
    assert!(
        counted >= s.requests.ok,
        "every recorded ok counted: {counted} < {}",
        s.requests.ok
    );
    // Reported again without --host: the count read before still stands.
    let (code, text) = report(&dir, None).await;
    assert_eq!(code, Some(1));
    assert!(text.contains("VERDICT: PASS"), "{text}");
}

#[tokio::test]
async fn a_racy_counters_killed_run_fails_with_or_without_its_final_count() {
    let racy = spawn_racy_counter().await;
    let (_tmp, out) = out_dir();
    let dir = killed_run(&racy.url, &out, "killed-racy").await;
    for host in [None, Some(racy.url.as_str())] {
        let (code, text) = report(&dir, host).await;
        assert_eq!(code, Some(1), "{text}");
        assert!(text.contains("VERDICT: FAIL"), "{text}");
        let s = summary(&dir);
        let uniqueness = s
            .verdict
            .get(loadtest::analysis::checker::CheckName::Uniqueness)
            .expect("judged");
        assert!(uniqueness.violations > 0, "{uniqueness:?}");
        assert_judges_every_completed_second(&dir, &s);
    }
}

/// A node killed halfway is merged with what it left, marked, and the
/// merge does not pass.
#[tokio::test]
async fn merge_takes_a_killed_node_and_marks_it() {
    let stage = LocalStage::start(StageOptions::new(
        counter_lambda::Config::from_lookup(|_| None).expect("config"),
    ))
    .await
    .expect("stage");
    let (_tmp, out) = out_dir();
    let run_dir = out.join("nodes");
    let host = stage.url().to_owned();
    let node = |n: &'static str| {
        let (out, host) = (run_dir.clone(), host.clone());
        async move {
            let out = out.to_str().expect("utf-8").to_owned();
            loadtest(&[
                "--run-id",
                "both",
                "--node-id",
                n,
                "--out-dir",
                &out,
                "--host",
                &host,
                "-u",
                "4",
                "-t",
                "3",
                "-q",
                "--max-duration",
                "60",
                "--max-requests",
                "20000",
            ])
            .await
        }
    };
    let complete = node("1").await;
    assert_eq!(complete.status.code(), Some(0), "{}", stdout(&complete));
    // Node 2, killed: its directory as a kill leaves it.
    let killed = killed_run_as_node(&host, &run_dir).await;
    let node1 = run_dir.join("both/node-1");
    let args = |host: Option<&str>| {
        let mut a = vec!["merge".to_owned(), node1.display().to_string()];
        a.push(killed.display().to_string());
        if let Some(h) = host {
            a.extend(["--host".to_owned(), h.to_owned()]);
        }
        a
    };
    let run = |a: Vec<String>| async move {
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        loadtest(&refs).await
    };
    let o = run(args(None)).await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("KILLED: node 2"), "{text}");
    assert!(text.contains("VERDICT: INCONCLUSIVE"), "{text}");
    let o = run(args(Some(&host))).await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("VERDICT: PASS"), "{text}");
    let merged = summary(&run_dir.join("both/merged"));
    assert_eq!(merged.killed.expect("marked").nodes, vec![2]);
    assert_eq!(merged.run.nodes, vec![1, 2]);
}

/// Node 2 of run "both" (in `out`), killed halfway; its directory.
async fn killed_run_as_node(host: &str, out: &Path) -> PathBuf {
    let out_s = out.to_str().expect("utf-8");
    let dir = out.join("both/node-2");
    let args = ["--run-id", "both", "--node-id", "2", "--out-dir", out_s];
    kill_after_4_seconds(&[&args[..], &["--host", host, "-u", "4"]].concat(), &dir).await;
    dir
}
