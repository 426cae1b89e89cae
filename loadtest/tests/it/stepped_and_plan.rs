use crate::helpers::{loadtest, run, stderr, stdout};

#[tokio::test]
async fn a_stepped_run_reports_each_step_names_the_knee_and_plots_it_then_plans() {
    let r = run(
        "steps",
        &[
            "--steps",
            "1,4,16",
            "--step-secs",
            "2",
            "--warmup-secs",
            "1",
            "--max-p99",
            "1000",
            "--max-duration",
            "90",
        ],
    )
    .await;
    let text = r.stdout();
    assert_eq!(r.code(), Some(0), "{text}{}", r.stderr());
    assert!(text.contains("Steps   users"), "{text}");
    assert!(text.contains("knee:"), "{text}");
    let dir = &r.dir;
    let s = r.summary();
    assert_eq!(s.steps.len(), 3);
    assert!(
        s.steps.iter().all(|st| st.achieved_rps > 0.0),
        "{:?}",
        s.steps
    );
    assert!(s.knee.is_some());
    let plot = s
        .files
        .get("plot_latency_vs_throughput")
        .expect("the summary links the plot");
    let svg = std::fs::read_to_string(dir.join(plot)).expect("plot");
    assert!(svg.contains("<svg") && svg.contains("latency vs throughput"));

    let dir_s = dir.to_str().expect("utf-8");
    let plan = loadtest(&[
        "plan",
        dir_s,
        "--visits-per-month",
        "10000000",
        "--peak-per-second",
        "20",
    ])
    .await;
    let text = stdout(&plan);
    assert_eq!(plan.status.code(), Some(0), "{text}{}", stderr(&plan));
    assert!(
        text.contains("Monthly cost (USD)") && text.contains("DynamoDB writes"),
        "{text}"
    );
    assert!(text.contains("Binds first:"), "{text}");
    let json = loadtest(&[
        "plan",
        dir_s,
        "--visits-per-month",
        "1e6",
        "--peak-per-second",
        "1500",
        "--json",
    ])
    .await;
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert!(
        plan["warnings"][0]
            .as_str()
            .is_some_and(|w| w.contains("write sharding"))
    );
}
