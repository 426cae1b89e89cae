//! `loadtest --emulate-aws`: the real `loadtest` against the stage shaped
//! like AWS, with the real `bootstrap` (or a Python function through
//! Lambda's runtime interface client) in its environments.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use loadtest::analysis::lambda_reports;
use loadtest::analysis::summary::Summary;

use crate::helpers::{out_dir, stderr, stdout, summary};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The real `bootstrap`: `BOOTSTRAP_BIN` (relative to the workspace root,
/// as .ci/run exports the packaged one), else this workspace's build of
/// it (`cargo build -p counter-lambda --bin bootstrap`, once).
fn bootstrap() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("BOOTSTRAP_BIN").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            return if p.is_relative() {
                workspace().join(p)
            } else {
                p
            };
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "counter-lambda", "--bin", "bootstrap"])
            .current_dir(workspace())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building bootstrap failed");
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("../debug/bootstrap")
    })
    .clone()
}

/// Python's Lambda runtime interface client and boto3, pinned, in the
/// venv under target/ the local stage's tests share (made once, under a
/// lock). Returns its python.
fn python() -> PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("..");
        let venv = target.join("emulated-stage-venv");
        let status = Command::new("flock")
            .arg(target.join("emulated-stage-venv.lock"))
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../counter-lambda/local-stage/tests/functions/venv.sh"),
            )
            .arg(&venv)
            .status()
            .expect("flock and python3 run");
        assert!(status.success(), "making the Python venv failed");
        venv.join("bin/python")
    })
    .clone()
}

/// A template: one function behind `POST` and `GET /visits`.
fn template(dir: &Path, throttle: (u32, u32), reserved: u32, python: Option<&str>) -> PathBuf {
    let (runtime, handler) = python.map_or(("provided.al2023", "bootstrap"), |h| ("python3.12", h));
    let text = format!(
        r#"Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefaultRouteSettings: {{ThrottlingRateLimit: {rate}, ThrottlingBurstLimit: {burst}}}
  CounterFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: {handler}
      Runtime: {runtime}
      MemorySize: 128
      Timeout: 6
      ReservedConcurrentExecutions: {reserved}
      Environment: {{Variables: {{TABLE_NAME: visitor_count, ALLOWED_ORIGINS: "*"}}}}
      Events:
        Post: {{Type: HttpApi, Properties: {{ApiId: !Ref Api, Method: POST, Path: /visits}}}}
        Get: {{Type: HttpApi, Properties: {{ApiId: !Ref Api, Method: GET, Path: /visits}}}}
"#,
        rate = throttle.0,
        burst = throttle.1,
    );
    let path = dir.join(format!("template-{}.yaml", rand_suffix()));
    std::fs::write(&path, text).expect("template written");
    path
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

struct Run {
    output: Output,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Run {
    fn summary(&self) -> Summary {
        summary(&self.dir)
    }
    fn text(&self) -> String {
        format!("{}{}", stdout(&self.output), stderr(&self.output))
    }
}

/// `loadtest --emulate-aws --run-id ID --out-dir <tmp> <args>` with the
/// real bootstrap, bounded in time.
async fn emulated(run_id: &str, args: &[&str]) -> Run {
    let (tmp, root) = out_dir();
    let out = root.to_str().expect("utf-8").to_owned();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--emulate-aws", "--run-id", run_id, "--out-dir", &out])
        .args(["--max-duration", "120", "--warmup-secs", "1"])
        .args(args)
        .env("BOOTSTRAP_BIN", bootstrap())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("loadtest finished within its bound")
        .expect("loadtest ran");
    Run {
        output,
        dir: root.join(run_id),
        _tmp: tmp,
    }
}

fn status_count(s: &Summary, status: &str) -> u64 {
    s.requests.by_status.get(status).copied().unwrap_or(0)
}

#[tokio::test]
async fn past_the_templates_throttle_api_gateway_answers_429_and_the_rest_is_judged() {
    // The project's template, read as the stage reads it (its POST
    // route's throttle, its reserved concurrency). On two cores a cold
    // stage hit at 400/s starts its environments on the same cores as
    // DynamoDB Local and the generator, so the first second can show
    // Lambda throttles AWS (each environment on its own CPU) would not:
    // the abort rule is lifted, the answers are what is judged.
    let template = workspace().join("infra/template.yaml");
    let shape = sam_template::Template::read(&template)
        .and_then(|t| t.http_stage())
        .expect("template");
    let post = shape
        .routes
        .iter()
        .find(|r| r.key.key() == "POST /visits")
        .and_then(|r| r.throttle)
        .expect("the counting route is throttled");
    let environments = shape
        .function
        .reserved_concurrency
        .expect("reserved concurrency");
    let r = emulated(
        "emulated-400",
        &[
            "--template",
            template.to_str().expect("utf-8"),
            "--arrival-rate",
            "400",
            "-t",
            "10",
            "--abort-error-rate",
            "1",
        ],
    )
    .await;
    let s = r.summary();
    assert!(s.verdict.passed(), "{:#?}\n{}", s.verdict, r.text());
    let stage = s
        .stage
        .clone()
        .expect("summary.json has the stage's figures");
    let throttled = status_count(&s, "429");
    assert_eq!(throttled, stage.throttled_by_api_gateway, "{stage:?}");
    // The bucket's bound: never more than the burst plus the rate since.
    let admitted = s.requests.total - throttled;
    let (rate, burst) = (
        post.rate.expect("a rate of its own"),
        post.burst.expect("a burst of its own"),
    );
    let bound = burst + rate * s.duration_s;
    assert!(
        admitted as f64 <= bound * 1.05,
        "{admitted} admitted in {:.1} s",
        s.duration_s
    );
    // More sent than the bucket holds: the rest was answered 429 (about
    // half when the generator keeps up with 400/s).
    if s.requests.total as f64 > bound * 1.1 {
        assert!(throttled > 0, "{:?}", s.requests);
    }
    assert!(
        stage.cold_starts >= 1 && stage.init_ms_p50.is_some(),
        "{stage:?}"
    );
    assert!(
        stage.environments_peak <= u64::from(environments),
        "{stage:?}"
    );
    let reports = std::fs::read_to_string(r.dir.join("lambda-reports.log")).expect("REPORT lines");
    let parsed = lambda_reports::parse(&reports).expect("they parse");
    assert_eq!(parsed.len() as u64, stage.invocations);
    assert_eq!(
        parsed.iter().filter(|p| p.init_ms.is_some()).count() as u64,
        stage.cold_starts
    );
    assert!(r.text().contains("Emulated AWS stage:"), "{}", r.text());
}

#[tokio::test]
async fn past_its_environments_lambda_throttles_and_the_verdict_stays_exact() {
    let (_tmp, dir) = out_dir();
    let template = template(&dir, (100_000, 100_000), 50, None);
    let r = emulated(
        "emulated-64",
        &[
            "--template",
            template.to_str().expect("utf-8"),
            "-u",
            "64",
            "-t",
            "5",
            "--abort-error-rate",
            "1",
        ],
    )
    .await;
    let s = r.summary();
    let stage = s.stage.clone().expect("the stage's figures");
    assert!(stage.throttled_by_lambda > 0, "{stage:?}\n{}", r.text());
    assert!(stage.environments_peak <= 50, "{stage:?}");
    // API Gateway answers a Lambda throttle 500: on an HTTP API the same
    // answer as a function that failed, so the client cannot know the
    // function never ran, and the run counts it unknown, never failed.
    let fives = status_count(&s, "500");
    assert_eq!(
        fives,
        stage.throttled_by_lambda + stage.function_errors + stage.function_timeouts
    );
    assert!(s.requests.unknown >= fives, "{:?}", s.requests);
    assert_eq!(
        s.requests.failed,
        status_count(&s, "429"),
        "{:?}",
        s.requests
    );
    // Exact: every increment accounted for, with the throttled ones as
    // writes that may (here: did not) happen.
    assert!(s.verdict.passed(), "{:#?}", s.verdict);
    let delta = s.final_count - s.initial_count;
    assert!((s.requests.ok..=s.requests.ok + s.requests.unknown).contains(&delta));
    // The function never ran for a throttled request: only the other
    // unknowns (a timed-out or failed invocation) may have counted.
    let may_have_run = s.requests.unknown - stage.throttled_by_lambda;
    assert!(
        delta <= s.requests.ok + may_have_run,
        "{delta} {:?} {stage:?}",
        s.requests
    );
}

async fn python_run(run_id: &str, handler: &str) -> Run {
    let (_tmp, dir) = out_dir();
    let template = template(
        &dir,
        (100_000, 100_000),
        50,
        Some(&format!("{handler}.handler")),
    );
    let function = format!("{} -m awslambdaric {handler}.handler", python().display());
    let functions = workspace().join("counter-lambda/local-stage/tests/functions");
    let pythonpath = format!("PYTHONPATH={}", functions.display());
    let r = emulated(
        run_id,
        &[
            "--template",
            template.to_str().expect("utf-8"),
            "--function",
            &function,
            "--function-env",
            &pythonpath,
            "-u",
            "12",
            "-t",
            "6",
        ],
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    r
}

#[tokio::test]
async fn a_python_counter_that_adds_atomically_passes() {
    let r = python_run("emulated-py-atomic", "atomic").await;
    let s = r.summary();
    assert!(s.verdict.passed(), "{:#?}\n{}", s.verdict, r.text());
    let stage = s.stage.expect("the stage's figures");
    assert!(
        stage.function.contains("awslambdaric"),
        "{}",
        stage.function
    );
    assert!(stage.cold_starts >= 1);
}

#[tokio::test]
async fn a_python_counter_that_reads_then_writes_fails() {
    let r = python_run("emulated-py-racy", "get_then_put").await;
    let s = r.summary();
    assert!(
        !s.verdict.passed(),
        "lost updates must be found:\n{}",
        r.text()
    );
    assert_eq!(r.output.status.code(), Some(1), "{}", r.text());
    assert!(r.text().contains("VERDICT: FAIL"), "{}", r.text());
}

#[tokio::test]
async fn a_stepped_run_finds_its_knee_where_the_plan_says_the_throttle_binds() {
    let (_tmp, dir) = out_dir();
    let template = template(&dir, (50, 10), 50, None);
    let t = template.to_str().expect("utf-8");
    // Past 50/s the bucket (10 deep) empties within a second and a sixth
    // of 60/s is answered 429: far past the 5% a step may miss by (a
    // busy machine's dropped arrivals stay below it).
    let r = emulated(
        "emulated-knee",
        &[
            "--template",
            t,
            "--rate-steps",
            "30,40,50,60,75",
            "--step-secs",
            "5",
            "--max-error-rate",
            "0.05",
        ],
    )
    .await;
    let s = r.summary();
    let Some(knee) = s.knee.and_then(|k| s.steps.get(k)) else {
        panic!("no knee:\n{}", r.text());
    };
    let knee_rate = knee.offered_rps.expect("an open step");
    let plan = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["plan", r.dir.to_str().expect("utf-8"), "--template", t])
        .args([
            "--visits-per-month",
            "1000000",
            "--peak-per-second",
            "40",
            "--json",
        ])
        .output()
        .await
        .expect("plan ran");
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let json: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan JSON");
    assert_eq!(json["binding_limit"], "stage_route_throttle", "{json}");
    let binds = json["limits"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["kind"] == "stage_route_throttle"))
        .and_then(|l| l["binds_at_visits_per_second"].as_f64())
        .expect("the route throttle's line");
    assert!(
        (knee_rate - binds).abs() <= 0.2 * binds,
        "knee {knee_rate}/s, the plan's first limit binds at {binds}/s\n{}",
        r.text()
    );
    // The plan billed the run's own REPORT lines.
    assert_eq!(
        json["measured"]["basis"]["from"], "lambda_reports",
        "{json}"
    );
}

#[tokio::test]
async fn emulation_flags_that_cannot_work_exit_2_before_anything_starts() {
    for (args, says) in [
        (
            &["--emulate-aws", "--host", "http://127.0.0.1:9"][..],
            "leave out --host",
        ),
        (
            &["--function", "python3 -m awslambdaric app.handler"][..],
            "add --emulate-aws",
        ),
        (
            &["--emulate-aws", "--faults", "latency"][..],
            "not with --emulate-aws",
        ),
        (
            &["--emulate-aws", "--function-env", "NOEQUALS"][..],
            "NAME=VALUE",
        ),
    ] {
        let o = crate::helpers::loadtest(args).await;
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("starting the emulated"), "{args:?}");
    }
}
