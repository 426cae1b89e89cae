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
    assert_eq!(
        merged.final_count - merged.initial_count,
        merged.requests.ok
    );
    // The merged histogram holds every node's samples.
    let bytes = std::fs::read(out.join("three/merged/latency.hdr")).expect("merged histogram");
    let h: hdrhistogram::Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut &bytes[..])
        .expect("deserializes");
    assert_eq!(h.len(), per_node);
}

#[tokio::test]
async fn merge_refuses_directories_of_different_runs() {
    let (_tmp, out) = out_dir();
    let o = loadtest(&["merge", out.to_str().expect("utf-8")]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(crate::helpers::stderr(&o).contains("summary.json"));
}
