use super::*;
use crate::analysis::analyse::{RunEvidence, Thresholds, analyse};
use crate::analysis::cost::{CostItem, LimitKind};
use crate::analysis::observation::Observation;
use crate::analysis::stats::ServerTiming;
use crate::analysis::summary::RunFacts;
use crate::commands::cli::Command;

/// A run directory holding a summary of 100 ok requests of 7.4 ms, with
/// or without the handler's Server-Timing.
fn run_dir(server_timing: Option<ServerTiming>) -> tempfile::TempDir {
    let ops: Vec<Observation> = (0..100)
        .map(|i| Observation::ok(i * 10_000_000, i * 10_000_000 + 7_400_000, i + 1))
        .collect();
    let evidence = RunEvidence {
        final_count: 100,
        response_bytes_mean: 50.0,
        server_timing,
        ..RunEvidence::of(RunFacts {
            run_id: "planned".into(),
            nodes: vec![0],
            host: "https://example.execute-api.us-east-1.amazonaws.com/prod".into(),
            local_stage: false,
            path: "/__loadtest/planned".into(),
            outside_traffic: false,
            started_at_unix_ns: 0,
            users: 1,
            api: None,
        })
    };
    let summary = analyse(
        evidence,
        &ops,
        &Thresholds {
            max_p99_ms: None,
            max_error_rate: 0.01,
        },
    );
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join(files::SUMMARY),
        serde_json::to_string(&summary).expect("json"),
    )
    .expect("write");
    dir
}

fn args(dir: &Path, extra: &[&str]) -> PlanArgs {
    let mut all = vec!["loadtest", "plan", dir.to_str().expect("utf-8")];
    all.extend_from_slice(extra);
    match crate::commands::cli::parse_from(all)
        .expect("parses")
        .command
    {
        Some(Command::Plan(a)) => *a,
        other => panic!("not a plan: {other:?}"),
    }
}

/// The repository's root, where infra/template.yaml is: cargo runs a
/// crate's unit tests in the crate's directory, one below the root.
fn repo() -> PathBuf {
    std::env::current_dir()
        .expect("a working directory")
        .parent()
        .expect("workspace")
        .to_owned()
}

fn usage_error(r: anyhow::Result<PlanReport>) -> String {
    let e = r.expect_err("refused");
    assert!(e.downcast_ref::<UsageError>().is_some(), "exit 2: {e:#}");
    e.to_string()
}

#[test]
fn the_template_found_from_the_current_directory_makes_300_per_second_bind_on_the_stage() {
    let dir = run_dir(None);
    let r = make_report(
        &args(
            dir.path(),
            &["--visits-per-month", "1e7", "--peak-per-second", "300"],
        ),
        &repo().join("loadtest/src"),
    )
    .expect("plan");
    assert_eq!(
        r.stack_origins.template,
        Some(repo().join("infra/template.yaml"))
    );
    assert_eq!(r.stack_origins.route_throttle, Origin::Template);
    assert_eq!(r.plan.binding_limit, Some(LimitKind::StageRouteThrottle));
    let t = text(&r, false);
    assert!(
        t.contains("route throttle 200/s burst 15 [template]"),
        "{t}"
    );
    assert!(
        t.contains("Binds first: API stage route throttle at 200 visits/s"),
        "{t}"
    );
}

#[test]
fn flags_override_the_template_and_without_one_the_defaults_are_said() {
    let dir = run_dir(None);
    let r = make_report(
        &args(
            dir.path(),
            &[
                "--visits-per-month",
                "1e7",
                "--peak-per-second",
                "300",
                "--route-rate",
                "2000",
                "--arch",
                "x86_64",
            ],
        ),
        &repo(),
    )
    .expect("plan");
    assert_eq!(r.stack_origins.route_throttle, Origin::Flag);
    assert_eq!(
        r.plan.stack.route_throttle.map(|t| t.burst),
        Some(15.0),
        "the template's burst"
    );
    assert_eq!(r.plan.stack.arch, Arch::X86_64);
    let c = r.plan.stack.stage_ceiling.expect("the template's routes");
    assert_eq!(
        (c.rate, c.write_rate),
        (2015.0, 2000.0),
        "the counting route at the flag's rate, the three others at their own 5/s"
    );
    // With the route raised to 2,000/s, the template's reserved concurrency
    // of 60 caps Lambda at 10 × 60 = 600 requests/s: below the item's 1,000.
    assert_eq!(r.plan.binding_limit, Some(LimitKind::LambdaRequestRate));

    let r = make_report(
        &args(
            dir.path(),
            &[
                "--visits-per-month",
                "1e7",
                "--peak-per-second",
                "300",
                "--no-template",
            ],
        ),
        &repo(),
    )
    .expect("plan");
    assert_eq!(r.stack_origins.template, None);
    assert_eq!(r.stack_origins.memory_mb, Origin::Default);
    assert!(
        r.plan
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::Inputs && w.message.contains("--no-template"))
    );
}

#[test]
fn server_timing_is_billed_when_the_run_has_it_and_client_latency_is_the_fallback() {
    let timed = run_dir(Some(ServerTiming {
        count: 100,
        mean_ms: 0.42,
        p50_ms: 0.4,
        p99_ms: 0.9,
    }));
    let a = args(
        timed.path(),
        &["--visits-per-month", "1e7", "--peak-per-second", "20"],
    );
    let r = make_report(&a, &repo()).expect("plan");
    assert_eq!(
        r.plan.measured.basis,
        DurationBasis::ServerTiming { responses: 100 }
    );
    assert_eq!(r.plan.measured.function_ms, 0.42);
    assert!(text(&r, false).contains("the function's measured duration"));
    assert!(
        !r.plan
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::ClientLatency)
    );

    let untimed = run_dir(None);
    let a = args(
        untimed.path(),
        &["--visits-per-month", "1e7", "--peak-per-second", "20"],
    );
    let r = make_report(&a, &repo()).expect("plan");
    assert_eq!(r.plan.measured.basis, DurationBasis::ClientLatency);
    assert!((r.plan.measured.function_ms - 7.4).abs() < 0.01);
    assert!(
        r.plan
            .warnings
            .iter()
            .any(|w| w.kind == WarningKind::ClientLatency)
    );
}

#[test]
fn the_free_tier_and_explain_show_their_arithmetic() {
    let dir = run_dir(None);
    let a = args(
        dir.path(),
        &[
            "--visits-per-month",
            "1e7",
            "--peak-per-second",
            "20",
            "--free-tier",
            "--explain",
        ],
    );
    let r = make_report(&a, &repo()).expect("plan");
    let without = r.total_without_free_tier.expect("both totals");
    assert!(without > r.plan.total_usd_per_month);
    let t = text(&r, true);
    assert!(t.contains("the free tier takes $"), "{t}");
    assert!(
        t.contains("free tier: 1,000,000 of 1,000,000 invocations free"),
        "{t}"
    );
    assert!(t.contains("prices.http_api_per_million"), "{t}");
    let logs = r.plan.cost(CostItem::LogsIngestion).expect("logs");
    assert!(logs.usd_per_month > 0.0);
}

#[test]
fn bad_inputs_are_refused_by_name_and_change_nothing() {
    let dir = run_dir(None);
    let e = crate::commands::cli::parse_from([
        "loadtest",
        "plan",
        "x",
        "--visits-per-month",
        "1",
        "--peak-per-second",
        "inf",
    ])
    .expect_err("inf");
    assert!(
        e.to_string().contains("`inf` is not a finite number"),
        "{e}"
    );
    let msg = usage_error(make_report(
        &args(
            dir.path(),
            &["--visits-per-month", "1e7", "--peak-per-second", "1"],
        ),
        &repo(),
    ));
    assert!(msg.contains("below the month's average"), "{msg}");
    let msg = usage_error(make_report(
        &args(
            dir.path(),
            &[
                "--visits-per-month",
                "1e7",
                "--peak-per-second",
                "20",
                "--memory-mb",
                "64",
            ],
        ),
        &repo(),
    ));
    assert!(msg.contains("memory"), "{msg}");
    let msg = usage_error(make_report(
        &args(
            dir.path(),
            &[
                "--visits-per-month",
                "1e7",
                "--peak-per-second",
                "20",
                "--cold-start-rate",
                "2",
            ],
        ),
        &repo(),
    ));
    assert!(msg.contains("--cold-start-rate 2"), "{msg}");
}

#[test]
fn a_summary_of_another_schema_version_is_refused() {
    let dir = run_dir(None);
    let file = dir.path().join(files::SUMMARY);
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read")).expect("json");
    v["schema_version"] = 99.into();
    std::fs::write(&file, v.to_string()).expect("write");
    let msg = usage_error(make_report(
        &args(
            dir.path(),
            &["--visits-per-month", "1e7", "--peak-per-second", "20"],
        ),
        &repo(),
    ));
    assert!(msg.contains("schema_version 99"), "{msg}");
}

#[test]
fn override_files_replace_figures_and_typos_are_refused() {
    let dir = run_dir(None);
    let prices = dir.path().join("prices.json");
    std::fs::write(&prices, r#"{"http_api_per_million": 2.0}"#).expect("write");
    let p = prices.to_str().expect("utf-8");
    let r = make_report(
        &args(
            dir.path(),
            &[
                "--visits-per-month",
                "1e7",
                "--peak-per-second",
                "20",
                "--prices",
                p,
            ],
        ),
        &repo(),
    )
    .expect("plan");
    assert!(
        (r.plan
            .cost(CostItem::ApiGateway)
            .expect("api")
            .usd_per_month
            - 20.0)
            .abs()
            < 1e-9
    );
    assert_eq!(r.figures_from.len(), 2);
    std::fs::write(&prices, r#"{"http_api_per_milion": 2.0}"#).expect("write");
    let msg = usage_error(make_report(
        &args(
            dir.path(),
            &[
                "--visits-per-month",
                "1e7",
                "--peak-per-second",
                "20",
                "--prices",
                p,
            ],
        ),
        &repo(),
    ));
    assert!(
        msg.contains("unknown figure `http_api_per_milion`"),
        "{msg}"
    );
}

#[test]
fn the_stages_whole_ceiling_from_the_template_is_billed_as_the_worst_case() {
    let dir = run_dir(None);
    let r = make_report(
        &args(
            dir.path(),
            &["--visits-per-month", "1e6", "--peak-per-second", "10"],
        ),
        &repo(),
    )
    .expect("plan");
    let c = r.plan.stack.stage_ceiling.expect("the template's routes");
    assert_eq!(
        (c.routes, c.rate, c.burst, c.write_rate),
        (4, 215.0, 45.0, 200.0)
    );
    assert_eq!(r.stack_origins.stage_ceiling, Origin::Template);
    assert_eq!(r.plan.stack.per_client_limit, None, "off in the template");
    let t = text(&r, false);
    assert!(
        t.contains(
            "Worst case: the stage at its whole ceiling all month (4 routes, 215 requests/s"
        ),
        "{t}"
    );
    assert!(t.contains("per-client limit off [template]"), "{t}");
}

#[test]
fn the_per_client_limit_is_priced_when_the_template_or_a_flag_turns_it_on() {
    let dir = run_dir(None);
    let template = std::fs::read_to_string(repo().join("infra/template.yaml")).expect("template");
    let on = template.replacen(
        "  PerClientLimit:\n    Type: Number\n    Default: 0",
        "  PerClientLimit:\n    Type: Number\n    Default: 300",
        1,
    );
    assert_ne!(on, template);
    let file = dir.path().join("on.yaml");
    std::fs::write(&file, on).expect("write");
    let path = file.to_str().expect("utf-8");
    let traffic = ["--visits-per-month", "1e6", "--peak-per-second", "10"];
    let r = make_report(
        &args(dir.path(), &[&traffic[..], &["--template", path]].concat()),
        &repo(),
    )
    .expect("plan");
    assert_eq!(r.plan.stack.per_client_limit, Some(300.0));
    assert_eq!(r.stack_origins.per_client_limit, Origin::Template);
    assert!(r.plan.cost(CostItem::WafWebAcl).is_some());
    assert!(text(&r, false).contains("AWS WAF web ACL and rule"));

    let off = make_report(
        &args(
            dir.path(),
            &[
                &traffic[..],
                &["--template", path, "--per-client-limit", "0"],
            ]
            .concat(),
        ),
        &repo(),
    )
    .expect("plan");
    assert_eq!(off.plan.stack.per_client_limit, None);
    assert_eq!(off.stack_origins.per_client_limit, Origin::Flag);
    let e = usage_error(make_report(
        &args(
            dir.path(),
            &[&traffic[..], &["--per-client-limit", "5"]].concat(),
        ),
        &repo(),
    ));
    assert!(e.contains("per-client limit 5"), "{e}");
}

#[test]
fn template_parameters_change_the_plan_and_unknown_ones_are_refused() {
    let dir = run_dir(None);
    let traffic = ["--visits-per-month", "1e7", "--peak-per-second", "300"];
    let with =
        |extra: &[&str]| make_report(&args(dir.path(), &[&traffic[..], extra].concat()), &repo());
    let defaults = with(&[]).expect("plan");
    assert_eq!(defaults.plan.stack.reserved_concurrency, Some(60.0));
    let r = with(&[
        "--parameter",
        "ReservedConcurrency=7",
        "--parameter",
        "OtherRoutesRateLimit=50",
    ])
    .expect("plan");
    assert_eq!(r.stack_origins.reserved_concurrency, Origin::Template);
    assert_eq!(r.plan.stack.reserved_concurrency, Some(7.0));
    let c = r.plan.stack.stage_ceiling.expect("the template's routes");
    assert_eq!(
        (c.rate, c.write_rate),
        (350.0, 200.0),
        "the three other routes at the parameter's 50/s"
    );
    // 7 environments × 10 requests/s each: Lambda binds before the stage.
    assert_eq!(r.plan.binding_limit, Some(LimitKind::LambdaRequestRate));
    assert_ne!(r.plan.binding_limit, defaults.plan.binding_limit);
    assert!(
        r.stack_origins.note.contains("ReservedConcurrency=7"),
        "{}",
        r.stack_origins.note
    );

    let e = usage_error(with(&["--parameter", "Nope=1"]));
    assert!(e.contains("Nope") && e.contains("no such parameter"), "{e}");
    let e = usage_error(with(&["--parameter", "ReservedConcurrency=lots"]));
    assert!(e.contains("lots"), "{e}");
    // No template to give it to: said, not ignored.
    let bare = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(bare.path().join(".git")).expect("a git root");
    let e = usage_error(make_report(
        &args(
            dir.path(),
            &[&traffic[..], &["--parameter", "A=1"]].concat(),
        ),
        bare.path(),
    ));
    assert!(e.contains("--parameter A"), "{e}");
    let all = [
        &[
            "loadtest",
            "plan",
            "x",
            "--no-template",
            "--parameter",
            "A=1",
        ][..],
        &traffic[..],
    ]
    .concat();
    let e = crate::commands::cli::parse_from(all).expect_err("with --no-template");
    assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict, "{e}");
}
