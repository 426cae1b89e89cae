//! Three generator processes against one stage, each started through the
//! node entrypoint (`loadtest/scripts/node.sh`, as the GitHub workflow's
//! matrix jobs and the Kubernetes Indexed Job start them) with a common
//! `--start-at`, merged into one verdict, one histogram and a start skew.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use futures::future::join_all;
use local_stage::{LocalStage, StageOptions};

use crate::helpers::{loadtest, out_dir, stderr, stdout, summary};

/// `node.sh <args>` with `LOADTEST_BIN` pointing at the binary under test,
/// bounded in time.
async fn node_script(args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/node.sh");
    let run = tokio::process::Command::new("bash")
        .arg(script)
        .args(args)
        .env("LOADTEST_BIN", env!("CARGO_BIN_EXE_loadtest"))
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("node.sh finished within its bound")
        .expect("node.sh ran")
}

#[tokio::test]
async fn three_local_nodes_merge_into_one_verdict_and_histogram() {
    let stage = LocalStage::start(StageOptions::new(
        counter_lambda::Config::from_lookup(|_| None).expect("config"),
    ))
    .await
    .expect("stage");
    let (_tmp, out) = out_dir();
    let out_s = out.to_str().expect("utf-8").to_owned();
    // A few seconds ahead: the nodes set up, then wait for it together.
    let start_at = (time::OffsetDateTime::now_utc() + time::Duration::seconds(4))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    let runs = (1..=3).map(|node| {
        let node = node.to_string();
        let (out_s, url, start_at) = (out_s.clone(), stage.url().to_owned(), start_at.clone());
        async move {
            node_script(&[
                "--node-id",
                &node,
                "--run-id",
                "three",
                "--start-at",
                &start_at,
                "--host",
                &url,
                "--users",
                "4",
                "--duration",
                "3",
                "--out-dir",
                &out_s,
                "--",
                "--max-duration",
                "60",
                "--max-requests",
                "20000",
            ])
            .await
        }
    });
    for o in join_all(runs).await {
        assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    }
    let dirs: Vec<String> = (1..=3)
        .map(|n| {
            out.join("three")
                .join(format!("node-{n}"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut args = vec!["merge", "--skew-ms", "5", "--max-error-rate", "0.05"];
    args.extend(dirs.iter().map(String::as_str));
    let o = loadtest(&args).await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("VERDICT: PASS"), "{text}");
    assert!(text.contains("start skew"), "{text}");
    let merged = summary(&out.join("three").join("merged"));
    assert_eq!(merged.run.nodes, vec![1, 2, 3]);
    let nodes: Vec<_> = (1..=3)
        .map(|n| summary(&out.join("three").join(format!("node-{n}"))))
        .collect();
    let per_node: u64 = nodes.iter().map(|s| s.requests.total).sum();
    assert_eq!(merged.requests.total, per_node);
    crate::helpers::assert_accounts_for_every_increment(&merged);
    assert_start_skew_is_the_nodes_spread(&merged, &nodes, &start_at);
    // The merged histogram holds every node's samples.
    let bytes = std::fs::read(out.join("three/merged/latency.hdr")).expect("merged histogram");
    let h: hdrhistogram::Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .expect("deserializes");
    assert_eq!(h.len(), per_node);

    // Merge's exit code is the thresholds' too: no request takes under 1 µs.
    let strict = out.join("strict");
    let mut args = vec![
        "merge",
        "--out",
        strict.to_str().expect("utf-8"),
        "--max-p99",
        "0.001",
    ];
    args.extend(dirs.iter().map(String::as_str));
    let o = loadtest(&args).await;
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("RESULT: FAIL"), "{}", stdout(&o));
}

/// The start each node recorded, and what merge made of them: every node
/// planned the common instant and began at or after it; the skew is the
/// spread of the actual starts, never more than the latest node's lag.
fn assert_start_skew_is_the_nodes_spread(
    merged: &loadtest::analysis::summary::Summary,
    nodes: &[loadtest::analysis::summary::Summary],
    start_at: &str,
) {
    let planned = loadtest::load::start::parse_instant(start_at).expect("the instant given");
    let actual: Vec<u64> = nodes
        .iter()
        .map(|s| {
            assert_eq!(s.start.start_planned_unix_ns, Some(planned));
            let a = s.start.start_actual_unix_ns.expect("an actual start");
            assert!(a >= planned, "a node never starts before the instant");
            a
        })
        .collect();
    let (first, last) = (
        *actual.iter().min().expect("nodes"),
        *actual.iter().max().expect("nodes"),
    );
    let m = &merged.start;
    assert_eq!(m.start_planned_unix_ns, Some(planned));
    assert_eq!(m.start_actual_unix_ns, Some(first));
    let skew = m.start_skew_ms.expect("merge reports the start skew");
    assert!((skew - (last - first) as f64 / 1e6).abs() < 1e-6, "{skew}");
    let lag = m
        .start_skew_vs_planned_ms
        .expect("and the lag behind the plan");
    assert!((lag - (last - planned) as f64 / 1e6).abs() < 1e-6, "{lag}");
    assert!(skew <= lag, "skew {skew} ms within the latest lag {lag} ms");
}

#[tokio::test]
async fn a_start_instant_already_past_is_refused_through_the_entrypoint() {
    let (_tmp, out) = out_dir();
    let out_s = out.to_str().expect("utf-8");
    let o = node_script(&[
        "--node-id",
        "1",
        "--run-id",
        "late",
        "--start-at",
        "2000-01-01T00:00:00Z",
        "--host",
        "http://127.0.0.1:1",
        "--users",
        "1",
        "--duration",
        "1",
        "--out-dir",
        out_s,
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2000-01-01T00:00:00Z"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("in the past"), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(&out).expect("readable").collect();
    assert!(left.is_empty(), "refused before anything started");

    let o = node_script(&["--run-id", "late"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--node-id is missing"),
        "{}",
        stderr(&o)
    );
}

/// A node's run directory written through the library, as a run writes it.
fn fake_node(out: &std::path::Path, run_id: &str, node: u16) -> String {
    fake_open_node(out, run_id, node, None)
}

/// [`fake_node`], and with `Some(dropped)` an open-model node: its
/// arrivals those it sent plus `dropped`, judged as a run judges them.
fn fake_open_node(out: &std::path::Path, run_id: &str, node: u16, dropped: Option<u64>) -> String {
    use loadtest::analysis::analyse::{RunEvidence, Thresholds, analyse};
    use loadtest::analysis::observation::Observation;
    use loadtest::analysis::open::{OpenEvidence, apply};
    use loadtest::analysis::summary::RunFacts;
    // Node n returns counts n, n + 2, ...: two nodes interleave into one
    // atomic history of 2 × OPS counts.
    const OPS: u64 = 12;
    let ops: Vec<Observation> = (0..OPS)
        .map(|i| Observation {
            node,
            ..Observation::ok(1_000 * i, 1_000 * i + 1_500, 2 * i + u64::from(node))
        })
        .collect();
    let evidence = RunEvidence {
        run: RunFacts {
            run_id: run_id.into(),
            nodes: vec![node],
            host: "http://127.0.0.1:1".into(),
            local_stage: false,
            path: "/__loadtest/x".into(),
            outside_traffic: false,
            started_at_unix_ns: 0,
            users: 1,
            api: None,
        },
        other_nodes_write: true,
        initial: 0,
        final_count: 2 * OPS,
        final_read_error: None,
        cross_node_skew_ns: 0,
        min_ok: 1,
        response_bytes_mean: 30.0,
        cpu_percent: Some(10.0),
        cores: 2,
        aborted: None,
        stopped_early: None,
        interrupted: None,
        server_timing: None,
        windows: vec![],
        per_user_rps: None,
        unrecorded: 0,
    };
    let mut summary = analyse(
        evidence,
        &ops,
        &Thresholds {
            max_p99_ms: None,
            max_error_rate: 0.01,
        },
    );
    if let Some(dropped) = dropped {
        let e = OpenEvidence {
            max_users: 1,
            from_s: 0.0,
            to_s: 1.0,
            offered: OPS + dropped,
            dropped,
            step_dropped: vec![],
        };
        apply(&mut summary, &e, &ops, 0.01);
    }
    let dir = out.join(format!("{run_id}-node-{node}"));
    std::fs::create_dir_all(&dir).expect("dir");
    loadtest::output::run_dir::write_run(&dir, &summary, &ops).expect("written");
    dir.to_string_lossy().into_owned()
}

#[tokio::test]
async fn merge_refuses_directories_that_are_not_one_run() {
    let (_tmp, out) = out_dir();
    let empty = out.join("empty");
    std::fs::create_dir_all(&empty).expect("dir");
    let o = loadtest(&["merge", empty.to_str().expect("utf-8")]).await;
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("summary.json"));

    let a1 = fake_node(&out, "run-a", 1);
    let b2 = fake_node(&out, "run-b", 2);
    let o = loadtest(&["merge", &a1, &b2]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("not one run"), "{}", stderr(&o));

    let a1_again = fake_node(&out.join("copy"), "run-a", 1);
    let o = loadtest(&["merge", &a1, &a1_again]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("same --node-id"), "{}", stderr(&o));

    let future = fake_node(&out, "run-f", 1);
    let path = std::path::Path::new(&future).join("summary.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("json");
    v["schema_version"] = 99.into();
    std::fs::write(&path, v.to_string()).expect("rewritten");
    let o = loadtest(&["merge", &future]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("schema_version 99"));
    let o = loadtest(&["merge", "--skew-ms", "inf", &a1]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));

    let a2 = fake_node(&out, "run-a", 2);
    let o = loadtest(&["merge", &a1, &a2]).await;
    assert_eq!(
        o.status.code(),
        Some(0),
        "the two nodes of one run merge: {}",
        stdout(&o)
    );
}

#[tokio::test]
async fn open_model_nodes_that_each_dropped_half_their_arrivals_merge_into_a_fail() {
    let (_tmp, out) = out_dir();
    let a1 = fake_open_node(&out, "half", 1, Some(12));
    let a2 = fake_open_node(&out, "half", 2, Some(12));
    for dir in [&a1, &a2] {
        assert!(!summary(Path::new(dir)).passed, "each node failed alone");
    }
    let merged = out.join("half-merged");
    let o = loadtest(&["merge", "--out", merged.to_str().expect("utf-8"), &a1, &a2]).await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("Threshold dropped_rate"), "{text}");
    assert!(text.contains("RESULT: FAIL"), "{text}");
    let s = summary(&merged);
    let model = s.open_model.expect("the nodes' open model");
    assert_eq!((model.offered, model.dropped), (48, 24));
    let t = s
        .thresholds
        .iter()
        .find(|t| t.name == "dropped_rate")
        .expect("the dropped arrivals judged");
    assert!(!t.passed && (t.actual - 0.5).abs() < 1e-9, "{t:?}");
    assert!(!s.passed);
    assert_eq!(s.latency.expected_interval_ms, 0.0, "nothing to correct");
    assert_eq!(s.latency.all_co_corrected, s.latency.all);

    let b1 = fake_open_node(&out, "whole", 1, Some(0));
    let b2 = fake_open_node(&out, "whole", 2, Some(0));
    let merged = out.join("whole-merged");
    let o = loadtest(&["merge", "--out", merged.to_str().expect("utf-8"), &b1, &b2]).await;
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let s = summary(&merged);
    assert!(s.passed && s.open_model.is_some_and(|m| m.dropped == 0));
    assert!(
        s.thresholds
            .iter()
            .any(|t| t.name == "dropped_rate" && t.passed)
    );
}

/// A node that could not read the count after its run keeps `final_count`
/// at its count before: the merge must not take that for the final count
/// (it would "find" lost updates in a correct counter).
#[tokio::test]
async fn nodes_whose_last_read_failed_merge_into_an_inconclusive_verdict_not_a_fail() {
    let (_tmp, out) = out_dir();
    let nodes = [fake_node(&out, "run-u", 1), fake_node(&out, "run-u", 2)];
    for node in &nodes {
        let path = std::path::Path::new(node).join("summary.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("json");
        v["final_count"] = 0.into();
        v["final_read_error"] = "GET /visits: connection reset".into();
        std::fs::write(&path, v.to_string()).expect("rewritten");
    }
    let o = loadtest(&["merge", &nodes[0], &nodes[1]]).await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("VERDICT: INCONCLUSIVE"), "{text}");
    assert!(!text.contains("lost updates"), "{text}");
    assert!(text.contains("--host"), "says how to read it now: {text}");
}
