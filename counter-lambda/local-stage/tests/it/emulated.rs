//! The emulated AWS stage with the real `bootstrap` (and a Python function
//! through Lambda's runtime interface client) behind it: routes, API
//! Gateway's throttle, cold starts and warm reuse, Lambda's throttle, the
//! function timeout, REPORT lines.

use std::path::Path;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use local_stage::{EmulatedStage, EmulationOptions};
use serde_json::Value;

use crate::support::{
    TemplateSpec, blackhole, bootstrap, fresh_table, functions_dir, python, shared_dynamodb,
    workspace,
};

struct Stage {
    stage: EmulatedStage,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: u16,
    body: Value,
    raw: String,
}

/// The function's DynamoDB is `endpoint`, one that never answers, and it
/// gives up on it after `timeout_ms`.
fn silent_dynamodb(o: &mut EmulationOptions, endpoint: &str, timeout_ms: &str) {
    for (k, v) in [
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint),
        ("DYNAMODB_ATTEMPT_TIMEOUT_MS", timeout_ms),
        ("DYNAMODB_OPERATION_TIMEOUT_MS", timeout_ms),
    ] {
        o.function_env.push((k.into(), v.into()));
    }
}

/// An emulated stage on the shared DynamoDB Local, its logs in a
/// directory of its own.
async fn start(template: Option<PathBuf>, tweak: impl FnOnce(&mut EmulationOptions)) -> Stage {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = EmulationOptions {
        template,
        bootstrap: Some(bootstrap()),
        dynamodb_endpoint: Some(shared_dynamodb().endpoint()),
        log_dir: Some(dir.path().join("logs")),
        ..EmulationOptions::default()
    };
    tweak(&mut options);
    let stage = EmulatedStage::start(options)
        .await
        .expect("the emulated stage starts");
    Stage {
        stage,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Stage {
    async fn call(&self, method: &str, path_and_query: &str) -> Reply {
        let url = format!("{}{path_and_query}", self.stage.url());
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let r = self
            .http
            .request(method, url)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .expect("an answer");
        let status = r.status().as_u16();
        let raw = r.text().await.expect("a body");
        Reply {
            status,
            body: serde_json::from_str(&raw).unwrap_or(Value::Null),
            raw,
        }
    }

    async fn visit(&self, path: &str) -> Reply {
        self.call("POST", &format!("/visits?path={path}")).await
    }

    /// The figures once `n` invocations have ended (a REPORT line is
    /// written when the runtime asks for its next event, a moment after
    /// the answer).
    async fn figures_after(&self, n: u64) -> local_stage::StageFigures {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let f = self.stage.figures();
            if f.invocations >= n || Instant::now() > deadline {
                return f;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn reports(&self) -> Vec<String> {
        std::fs::read_to_string(self.stage.reports_path())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// A REPORT line's fields by name (`Duration` → `5.83 ms`).
fn fields(line: &str) -> std::collections::BTreeMap<String, String> {
    line.strip_prefix("REPORT ")
        .expect("a REPORT line")
        .split('\t')
        .filter(|f| !f.is_empty())
        .filter_map(|f| f.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn template_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[tokio::test]
async fn the_projects_template_serves_its_routes_under_its_stage() {
    let template = workspace().join("infra/template.yaml");
    let table = fresh_table();
    let s = start(Some(template), |o| {
        o.function_env.push(("TABLE_NAME".into(), table.clone()));
    })
    .await;
    assert!(s.stage.url().ends_with("/prod"), "{}", s.stage.url());
    for expected in 1..=3 {
        let r = s.visit("/emulated").await;
        assert_eq!(
            (r.status, r.body["count"].as_u64()),
            (200, Some(expected)),
            "{}",
            r.raw
        );
    }
    let read = s.call("GET", "/visits?path=/emulated").await;
    assert_eq!(read.body["count"], 3);
    // DELETE has no route of its own: ANY /{proxy+} takes it to the
    // function, which answers the contract's 405.
    let delete = s.call("DELETE", "/visits").await;
    assert_eq!(
        (delete.status, delete.body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    // Outside the stage, API Gateway itself answers.
    let url = s.stage.url().trim_end_matches("/prod").to_owned();
    let outside = reqwest::get(format!("{url}/visits?path=/x"))
        .await
        .expect("answer");
    assert_eq!(outside.status(), 404);
    assert_eq!(
        outside.text().await.expect("body"),
        r#"{"message":"Not Found"}"#
    );
    let f = s.figures_after(5).await;
    assert_eq!((f.requests, f.not_found, f.invocations), (6, 1, 5), "{f:?}");
    assert_eq!(
        f.cold_starts, 1,
        "sequential requests reuse one environment"
    );
    let template = sam_template::Template::read(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/template.yaml"),
    )
    .and_then(|t| t.http_stage())
    .expect("the project's template");
    assert_eq!(
        Some(f.environments_limit),
        template.function.reserved_concurrency.map(u64::from),
        "the template's reserved concurrency"
    );
}

#[tokio::test]
async fn past_the_burst_api_gateway_answers_429_with_its_own_body() {
    let dir = template_dir();
    let table = fresh_table();
    let template = TemplateSpec {
        rate: 1.0,
        burst: 5.0,
        table: &table,
        ..TemplateSpec::default()
    }
    .write(dir.path());
    let s = start(Some(template), |_| {}).await;
    let began = Instant::now();
    let mut answers = Vec::new();
    for _ in 0..30 {
        answers.push(s.visit("/burst").await);
    }
    let elapsed = began.elapsed().as_secs_f64();
    let ok = answers.iter().filter(|r| r.status == 200).count();
    let throttled: Vec<&Reply> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok + throttled.len(), 30, "only 200s and 429s");
    // The burst at once, then one a second.
    assert!(ok >= 5, "{ok} admitted");
    assert!(
        ok as f64 <= 5.0 + elapsed + 1.0,
        "{ok} admitted in {elapsed:.1} s"
    );
    for r in &throttled {
        assert_eq!(r.raw, r#"{"message":"Too Many Requests"}"#);
    }
    let f = s.figures_after(ok as u64).await;
    assert_eq!(f.throttled_by_api_gateway, throttled.len() as u64);
    assert_eq!(
        f.invocations, ok as u64,
        "a throttled request never reaches Lambda"
    );
}

#[tokio::test]
async fn one_cold_start_then_warm_reuse_until_the_idle_environment_is_retired() {
    let dir = template_dir();
    let table = fresh_table();
    let template = TemplateSpec {
        table: &table,
        ..TemplateSpec::default()
    }
    .write(dir.path());
    let s = start(Some(template), |o| o.idle_timeout = Duration::from_secs(1)).await;
    for _ in 0..10 {
        assert_eq!(s.visit("/warm").await.status, 200);
    }
    let f = s.figures_after(10).await;
    assert_eq!(
        (f.cold_starts, f.environments_peak, f.invocations),
        (1, 1, 10),
        "{f:?}"
    );
    assert!(f.init_ms_p50.is_some_and(|ms| ms > 0.0));
    let reports = s.reports();
    assert_eq!(reports.len(), 10, "one REPORT line per invocation");
    for (i, line) in reports.iter().enumerate() {
        let f = fields(line);
        for key in [
            "RequestId",
            "Duration",
            "Billed Duration",
            "Memory Size",
            "Max Memory Used",
        ] {
            assert!(f.contains_key(key), "{key} in {line:?}");
        }
        assert_eq!(f["Memory Size"], "128 MB");
        let used: u64 = f["Max Memory Used"]
            .trim_end_matches(" MB")
            .parse()
            .expect("MB");
        assert!(used > 0, "{line}");
        assert_eq!(f.contains_key("Init Duration"), i == 0, "{line}");
    }
    // Idle past --idle-timeout: retired, so the next visit starts cold.
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.stage.figures().environments_alive > 0 {
        assert!(
            Instant::now() < deadline,
            "the idle environment was not retired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.visit("/warm").await.status, 200);
    assert_eq!(s.figures_after(11).await.cold_starts, 2);
}

#[tokio::test]
async fn when_every_environment_is_busy_lambda_throttles_and_api_gateway_answers_500() {
    let (_hole, hanging) = blackhole();
    let dir = template_dir();
    let table = fresh_table();
    let template = TemplateSpec {
        reserved: Some(2),
        timeout_s: 10,
        table: &table,
        ..TemplateSpec::default()
    }
    .write(dir.path());
    // A DynamoDB that never answers keeps each environment busy ~2 s,
    // then the function answers its own 503.
    let s = start(Some(template), |o| silent_dynamodb(o, &hanging, "2000")).await;
    let answers = futures::future::join_all((0..8).map(|_| s.visit("/busy"))).await;
    let throttled: Vec<&Reply> = answers.iter().filter(|r| r.status == 500).collect();
    let served = answers.iter().filter(|r| r.status == 503).count();
    assert_eq!(
        throttled.len() + served,
        8,
        "{:?}",
        answers.iter().map(|r| &r.raw).collect::<Vec<_>>()
    );
    assert!(
        served <= 2 && throttled.len() >= 4,
        "{served} served, {} throttled",
        throttled.len()
    );
    for r in &throttled {
        assert_eq!(r.raw, r#"{"message":"Internal Server Error"}"#);
    }
    let f = s.stage.figures();
    assert_eq!(f.throttled_by_lambda, throttled.len() as u64, "{f:?}");
    assert_eq!((f.environments_peak, f.environments_limit), (2, 2));
}

#[tokio::test]
async fn the_function_timeout_ends_the_invocation_and_resets_the_environment() {
    let (_hole, hanging) = blackhole();
    let dir = template_dir();
    let table = fresh_table();
    let template = TemplateSpec {
        timeout_s: 1,
        table: &table,
        ..TemplateSpec::default()
    }
    .write(dir.path());
    let s = start(Some(template), |o| silent_dynamodb(o, &hanging, "20000")).await;
    let began = Instant::now();
    let r = s.visit("/slow").await;
    assert_eq!(
        (r.status, r.raw.as_str()),
        (500, r#"{"message":"Internal Server Error"}"#)
    );
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "stopped at its 1 s timeout"
    );
    let f = s.stage.figures();
    assert_eq!((f.function_timeouts, f.cold_starts), (1, 1), "{f:?}");
    let line = s.reports().pop().expect("a REPORT line");
    assert!(line.ends_with("Status: timeout"), "{line}");
    assert_eq!(fields(&line)["Duration"], "1000.00 ms");
    // The environment was reset: the next invocation starts a new one.
    assert_eq!(s.visit("/slow").await.status, 500);
    assert_eq!(s.stage.figures().cold_starts, 2);
}

#[tokio::test]
async fn a_python_function_runs_through_awslambdaric_on_dynamodb_local() {
    let dir = template_dir();
    let table = fresh_table();
    let template = TemplateSpec {
        runtime: "python3.12",
        handler: "atomic.handler",
        table: &table,
        ..TemplateSpec::default()
    }
    .write(dir.path());
    let python = python();
    let s = start(Some(template), |o| {
        o.function = Some(format!(
            "{} -m awslambdaric atomic.handler",
            python.display()
        ));
        o.function_env
            .push(("PYTHONPATH".into(), functions_dir().display().to_string()));
        o.function_env.push(("TABLE_NAME".into(), table.clone()));
    })
    .await;
    for expected in 1..=3 {
        let r = s.visit("/py").await;
        // The handler returns {"path", "count"} with no statusCode:
        // format 2.0 makes it a 200 with that JSON as the body.
        assert_eq!(r.status, 200, "{}", r.raw);
        assert_eq!(
            r.body,
            serde_json::json!({"path": "/py", "count": expected})
        );
    }
    assert_eq!(s.call("GET", "/visits?path=/py").await.body["count"], 3);
    let bad = s.call("POST", "/visits?path=relative").await;
    assert_eq!(
        (bad.status, bad.body["error"].as_str()),
        (400, Some("invalid_path"))
    );
    let f = s.figures_after(5).await;
    assert_eq!((f.cold_starts, f.invocations), (1, 5), "{f:?}");
}

#[tokio::test]
async fn a_python_template_without_a_function_command_is_refused_with_the_fix() {
    let dir = template_dir();
    let template = TemplateSpec {
        runtime: "python3.12",
        handler: "app.handler",
        ..TemplateSpec::default()
    }
    .write(dir.path());
    let err = EmulatedStage::start(EmulationOptions {
        template: Some(template),
        dynamodb_endpoint: Some("http://127.0.0.1:9".into()),
        ..EmulationOptions::default()
    })
    .await
    .expect_err("refused");
    assert!(err.to_string().contains("--function"), "{err}");
}
