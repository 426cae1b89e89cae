use crate::helpers::{loadtest, run, stderr, stdout};

#[tokio::test]
async fn a_stepped_run_fits_the_usl_names_the_knee_records_server_timing_then_plans() {
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
    assert!(text.contains("USL fit X(N)"), "{text}");
    let dir = &r.dir;
    let s = r.summary();
    assert_eq!(s.steps.len(), 3);
    assert!(
        s.steps.iter().all(|st| st.achieved_rps > 0.0),
        "{:?}",
        s.steps
    );
    let usl = s.usl.expect("three step sizes are fitted");
    assert_eq!(usl.points, 3);
    assert!(
        usl.lambda > 0.0 && usl.sigma >= 0.0 && usl.kappa >= 0.0,
        "{usl:?}"
    );
    assert!(s.knee.is_some(), "the first step is within 1 s p99");
    // The local stage's handler sends Server-Timing: every ok response carried it.
    let timing = s.server_timing.expect("Server-Timing recorded");
    assert!(timing.count >= s.requests.ok, "{timing:?} {:?}", s.requests);
    assert!(
        timing.mean_ms > 0.0 && timing.mean_ms <= s.latency.all.mean_ms,
        "{timing:?}"
    );
    let plot = s
        .files
        .get("plot_latency_vs_throughput")
        .expect("the summary links the plot");
    let svg = std::fs::read_to_string(dir.join(plot)).expect("plot");
    assert!(svg.contains("<svg") && svg.contains("latency against throughput"));
    assert!(
        svg.contains("the fitted USL as a line"),
        "the chart draws the fit"
    );

    let dir_s = dir.to_str().expect("utf-8");
    plans_from_the_run(dir_s).await;
    refuses_bad_plan_inputs(dir_s).await;
}

/// `loadtest plan DIR --visits-per-month V --peak-per-second P EXTRA...`.
async fn run_plan(dir: &str, visits: &str, peak: &str, extra: &[&str]) -> std::process::Output {
    let args = [
        &[
            "plan",
            dir,
            "--visits-per-month",
            visits,
            "--peak-per-second",
            peak,
        ][..],
        extra,
    ]
    .concat();
    loadtest(&args).await
}

/// `plan` on the stepped run: text with the measured duration, and JSON
/// with the same warnings, the run and the inputs.
async fn plans_from_the_run(dir: &str) {
    let plan = run_plan(dir, "10000000", "20", &["--explain"]).await;
    let text = stdout(&plan);
    assert_eq!(plan.status.code(), Some(0), "{text}{}", stderr(&plan));
    for needle in [
        "Monthly cost (USD)",
        "DynamoDB writes",
        "CloudWatch Logs ingestion",
        "350 B, measured",
        "Binds first:",
        "the function's measured duration: the handler's own Server-Timing",
        "infra/template.yaml",
        "route throttle 200/s burst 15 [template]",
        "Worst case: the stage at its whole ceiling all month (4 routes, 215 requests/s",
        "Figures used",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
    let json = run_plan(dir, "1e6", "1500", &["--json"]).await;
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    let kinds: Vec<&str> = plan["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter_map(|w| w["kind"].as_str())
        .collect();
    for kind in ["item_sharding", "local_stage", "peak_above_limit"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(plan["run"]["run_id"], "steps");
    assert_eq!(plan["binding_limit"], "stage_route_throttle");
    assert_eq!(plan["stack_origins"]["route_throttle"], "template");
    assert_eq!(plan["measured"]["basis"]["from"], "server_timing");
    assert!(plan["figures"]["prices"]["http_api_per_million"]["source"].is_string());
    assert!(plan["traffic"]["peak_visits_per_second"].as_f64() == Some(1500.0));

    // A template parameter given as a deploy would give it.
    let given = run_plan(
        dir,
        "10000000",
        "20",
        &["--parameter", "ThrottleRateLimit=100"],
    )
    .await;
    let text = stdout(&given);
    assert_eq!(given.status.code(), Some(0), "{text}{}", stderr(&given));
    assert!(
        text.contains("route throttle 100/s burst 15 [template]"),
        "{text}"
    );
}

/// Exit 2 for a non-finite input, a template parameter the template does
/// not have, and a summary of another schema.
async fn refuses_bad_plan_inputs(dir: &str) {
    let inf = run_plan(dir, "1e6", "inf", &[]).await;
    assert_eq!(inf.status.code(), Some(2));
    assert!(stderr(&inf).contains("inf"), "{}", stderr(&inf));

    let unknown = run_plan(dir, "1e6", "20", &["--parameter", "NoSuchParameter=1"]).await;
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("NoSuchParameter"),
        "{}",
        stderr(&unknown)
    );

    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tmp");
    let text =
        std::fs::read_to_string(std::path::Path::new(dir).join("summary.json")).expect("summary");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["schema_version"] = 2.into();
    let future = tmp.path().join("summary.json");
    std::fs::write(&future, v.to_string()).expect("write");
    let refused = run_plan(future.to_str().expect("utf-8"), "1e6", "20", &[]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("schema_version 2"),
        "{}",
        stderr(&refused)
    );
}

/// `--max-p99` fails a stepped run whose first step already misses it
/// (no step was within it), as --help and the README say.
#[tokio::test]
async fn a_stepped_run_whose_first_step_misses_max_p99_fails() {
    let r = run(
        "steps-miss",
        &[
            "--steps",
            "1,2",
            "--step-secs",
            "1",
            "--warmup-secs",
            "1",
            "--max-p99",
            "0.001",
            "--max-duration",
            "60",
        ],
    )
    .await;
    let text = r.stdout();
    assert_eq!(r.code(), Some(1), "{text}{}", r.stderr());
    assert!(
        text.contains("knee: none, the first step already missed"),
        "{text}"
    );
    assert!(
        text.contains("the run fails only if its first step misses them: FAIL"),
        "{text}"
    );
    let s = r.summary();
    assert!(s.verdict.passed(), "the counter itself is fine");
    assert!(!s.passed);
}
