//! Three generator processes against one stage, merged into one verdict and
//! one histogram.

use futures::future::join_all;
use local_stage::{LocalStage, StageOptions};

use crate::helpers::{loadtest, out_dir, stdout, summary};

#[tokio::test]
async fn three_local_nodes_merge_into_one_verdict_and_histogram() {
    let stage = LocalStage::start(StageOptions::new(
        counter_lambda::Config::from_lookup(|_| None).expect("config"),
    ))
    .await
    .expect("stage");
    let (_tmp, out) = out_dir();
    let out_s = out.to_str().expect("utf-8").to_owned();
    let runs = (1..=3).map(|node| {
        let node = node.to_string();
        let out_s = out_s.clone();
        let url = stage.url().to_owned();
        async move {
            loadtest(&[
                "--host",
                &url,
                "--run-id",
                "three",
                "--node-id",
                &node,
                "--out-dir",
                &out_s,
                "-u",
                "4",
                "-t",
                "3",
                "--max-duration",
                "60",
            ])
            .await
        }
    });
    for o in join_all(runs).await {
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    }
    let dirs: Vec<String> = (1..=3)
        .map(|n| {
            out.join("three")
                .join(format!("node-{n}"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut args = vec!["merge", "--skew-ms", "5"];
    args.extend(dirs.iter().map(String::as_str));
    let o = loadtest(&args).await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("VERDICT: PASS"), "{text}");
    let merged = summary(&out.join("three").join("merged"));
    assert_eq!(merged.run.nodes, vec![1, 2, 3]);
    let per_node: u64 = (1..=3)
        .map(|n| {
            summary(&out.join("three").join(format!("node-{n}")))
                .requests
                .total
        })
        .sum();
    assert_eq!(merged.requests.total, per_node);
    crate::helpers::assert_accounts_for_every_increment(&merged);
    // The merged histogram holds every node's samples.
    let bytes = std::fs::read(out.join("three/merged/latency.hdr")).expect("merged histogram");
    let h: hdrhistogram::Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .expect("deserializes");
    assert_eq!(h.len(), per_node);
}

/// A node's run directory written through the library, as a run writes it.
fn fake_node(out: &std::path::Path, run_id: &str, node: u16) -> String {
    use loadtest::analysis::analyse::{RunEvidence, Thresholds, analyse};
    use loadtest::analysis::observation::Observation;
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
        },
        other_nodes_write: true,
        initial: 0,
        final_count: 2 * OPS,
        cross_node_skew_ns: 0,
        min_ok: 1,
        response_bytes_mean: 30.0,
        cpu_percent: 10.0,
        cores: 2,
        aborted: None,
        stopped_early: None,
        interrupted: None,
        server_timing: None,
        windows: vec![],
        per_user_rps: None,
    };
    let summary = analyse(
        evidence,
        &ops,
        &Thresholds {
            max_p99_ms: None,
            max_error_rate: 0.01,
        },
    );
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
    assert!(crate::helpers::stderr(&o).contains("summary.json"));

    let a1 = fake_node(&out, "run-a", 1);
    let b2 = fake_node(&out, "run-b", 2);
    let o = loadtest(&["merge", &a1, &b2]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        crate::helpers::stderr(&o).contains("not one run"),
        "{}",
        crate::helpers::stderr(&o)
    );

    let a1_again = fake_node(&out.join("copy"), "run-a", 1);
    let o = loadtest(&["merge", &a1, &a1_again]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        crate::helpers::stderr(&o).contains("same --node-id"),
        "{}",
        crate::helpers::stderr(&o)
    );

    let future = fake_node(&out, "run-f", 1);
    let path = std::path::Path::new(&future).join("summary.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("json");
    v["schema_version"] = 99.into();
    std::fs::write(&path, v.to_string()).expect("rewritten");
    let o = loadtest(&["merge", &future]).await;
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(crate::helpers::stderr(&o).contains("schema_version 99"));
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
