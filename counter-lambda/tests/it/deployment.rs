//! `infra/template.yaml` agrees with the code and with `openapi.yaml`: the
//! table's name and key, the function's environment, its permissions, and
//! its routes. Change one side alone and a test here fails.

use std::collections::BTreeSet;

use counter_lambda::config::{DEFAULT_TABLE, PRETRAFFIC_PATH, VARIABLES};
use counter_lambda::store::KEY_ATTRIBUTE;
use serde_json::Value;

fn yaml(relative: &str) -> Value {
    let file = format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&file).expect("file");
    serde_yaml_ng::from_str(&text).expect("plain YAML (long-form intrinsics)")
}

fn template() -> Value {
    yaml("infra/template.yaml")
}

#[test]
fn the_table_is_the_one_the_code_writes_to() {
    let t = template();
    let table = &t["Resources"]["VisitorCountTable"]["Properties"];
    assert_eq!(table["TableName"]["Ref"], "TableName");
    assert_eq!(
        t["Parameters"]["TableName"]["Default"], DEFAULT_TABLE,
        "production's table by default; a staging stack passes its own"
    );
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["KeySchema"],
        serde_json::json!([{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}]),
        "the partition key is the code's key attribute, alone"
    );
    assert_eq!(
        table["AttributeDefinitions"],
        serde_json::json!([{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}])
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
}

#[test]
fn the_functions_environment_is_what_the_config_reads() {
    let t = template();
    let env = t["Resources"]["CounterFunction"]["Properties"]["Environment"]["Variables"]
        .as_object()
        .expect("environment");
    let known: BTreeSet<&str> = VARIABLES.into_iter().collect();
    for name in env.keys() {
        assert!(
            known.contains(name.as_str()) || name == "RUST_LOG",
            "{name} is set in the template but the code never reads it"
        );
    }
    for needed in ["TABLE_NAME", "ALLOWED_ORIGINS", "ALLOWED_PATHS"] {
        assert!(
            env.contains_key(needed),
            "the template does not set {needed}"
        );
    }
    assert_eq!(env["TABLE_NAME"]["Ref"], "VisitorCountTable");
}

#[test]
fn the_function_may_only_update_and_get_items_of_that_table() {
    let t = template();
    let policies = &t["Resources"]["CounterFunction"]["Properties"]["Policies"];
    let statements = policies[0]["Statement"]
        .as_array()
        .expect("one inline policy");
    assert_eq!(statements.len(), 1);
    assert_eq!(
        statements[0]["Action"],
        serde_json::json!(["dynamodb:UpdateItem", "dynamodb:GetItem"])
    );
    assert_eq!(
        statements[0]["Resource"]["Fn::GetAtt"],
        serde_json::json!(["VisitorCountTable", "Arn"])
    );
    assert_eq!(
        policies.as_array().map(Vec::len),
        Some(1),
        "no other policy"
    );
}

#[test]
fn the_routes_are_the_contracts_and_everything_else_reaches_the_function() {
    let t = template();
    let contract = yaml("openapi.yaml");
    let events = t["Resources"]["CounterFunction"]["Properties"]["Events"]
        .as_object()
        .expect("events");
    let routes: BTreeSet<(String, String)> = events
        .values()
        .filter(|e| e["Type"] == "HttpApi")
        .map(|e| {
            (
                e["Properties"]["Method"].as_str().unwrap_or("").to_owned(),
                e["Properties"]["Path"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let documented: BTreeSet<(String, String)> = contract["paths"]["/visits"]
        .as_object()
        .expect("/visits")
        .keys()
        .filter(|k| *k != "parameters")
        .map(|m| (m.to_uppercase(), "/visits".to_owned()))
        .collect();
    let explicit: BTreeSet<(String, String)> = routes
        .iter()
        .filter(|(_, p)| p == "/visits")
        .cloned()
        .collect();
    assert_eq!(
        explicit, documented,
        "routes for /visits = the contract's methods"
    );
    assert!(
        routes.contains(&("ANY".to_owned(), "/{proxy+}".to_owned())),
        "unknown routes reach the function, which answers the contract's 404/405"
    );
}

#[test]
fn the_function_runs_as_the_packaged_bootstrap() {
    let t = template();
    let f = &t["Resources"]["CounterFunction"]["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
    assert_eq!(f["Architectures"], serde_json::json!(["arm64"]));
    let code = f["CodeUri"].as_str().expect("CodeUri");
    let package = std::fs::read_to_string(format!(
        "{}/../infra/package.sh",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("infra/package.sh");
    let zip = code.rsplit('/').next().unwrap_or(code);
    assert!(
        package.contains(&zip.replace("arm64", "${arch}")),
        "infra/package.sh writes {zip}"
    );
}

// --- Safe deployment: alias, deployment preference, PreTraffic hook, alarms.

fn resources(t: &Value) -> &serde_json::Map<String, Value> {
    t["Resources"].as_object().expect("resources")
}

#[test]
fn each_deploy_publishes_a_version_behind_an_alias_shifted_gradually_after_a_hook() {
    let t = template();
    let f = &t["Resources"]["CounterFunction"]["Properties"];
    assert_eq!(f["AutoPublishAlias"], "live");
    let preference = &f["DeploymentPreference"];
    assert_eq!(preference["Type"]["Ref"], "DeploymentType");
    let types = t["Parameters"]["DeploymentType"]["AllowedValues"]
        .as_array()
        .expect("deployment types");
    let default = &t["Parameters"]["DeploymentType"]["Default"];
    assert!(types.contains(default));
    assert!(
        default
            .as_str()
            .is_some_and(|d| d.starts_with("Canary") || d.starts_with("Linear")),
        "gradual by default, not {default}"
    );
    assert_eq!(
        preference["Hooks"]["PreTraffic"]["Ref"], "PreTrafficHookFunction",
        "a smoke check before any traffic"
    );
}

#[test]
fn the_alarms_that_roll_back_exist_and_watch_5xx_errors_and_throttles() {
    let t = template();
    let all = resources(&t);
    let alarms: Vec<&str> = t["Resources"]["CounterFunction"]["Properties"]["DeploymentPreference"]
        ["Alarms"]
        .as_array()
        .expect("alarms")
        .iter()
        .filter_map(|a| a["Ref"].as_str())
        .collect();
    let mut watched = BTreeSet::new();
    for name in &alarms {
        let alarm = &all
            .get(*name)
            .unwrap_or_else(|| panic!("{name} is not a resource"));
        assert_eq!(alarm["Type"], "AWS::CloudWatch::Alarm", "{name}");
        let p = &alarm["Properties"];
        assert_eq!(
            p["TreatMissingData"], "notBreaching",
            "{name}: quiet is healthy"
        );
        // A single metric, or the metrics of a math expression.
        let mut metrics: Vec<String> = p["MetricName"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect();
        for m in p["Metrics"].as_array().into_iter().flatten() {
            if let Some(n) = m["MetricStat"]["Metric"]["MetricName"].as_str() {
                metrics.push(n.to_owned());
            }
        }
        assert!(!metrics.is_empty(), "{name} watches no metric");
        watched.extend(metrics);
    }
    for needed in ["ServerErrors", "Errors", "Throttles"] {
        assert!(
            watched.contains(needed),
            "no rollback alarm on {needed}: {watched:?}"
        );
    }
}

/// The Lambda alarms that roll a deploy back watch the new version only:
/// the live alias's invocations that ran it. A burst of throttles on the
/// old version during a canary cannot roll a deploy back.
#[test]
fn the_lambda_alarms_that_roll_back_watch_the_new_version_only() {
    let t = template();
    for name in ["FunctionErrorsAlarm", "FunctionThrottlesAlarm"] {
        let p = &t["Resources"][name]["Properties"];
        let dims: std::collections::BTreeMap<String, Value> = p["Dimensions"]
            .as_array()
            .expect("dimensions")
            .iter()
            .map(|d| {
                (
                    d["Name"].as_str().unwrap_or("").to_owned(),
                    d["Value"].clone(),
                )
            })
            .collect();
        assert_eq!(dims["FunctionName"]["Ref"], "CounterFunction", "{name}");
        assert_eq!(
            dims["Resource"]["Fn::Sub"], "${CounterFunction}:live",
            "{name}"
        );
        assert_eq!(
            dims["ExecutedVersion"]["Fn::GetAtt"],
            serde_json::json!(["CounterFunction.Version", "Version"]),
            "{name}: scoped to the version this deploy publishes"
        );
    }
}

#[test]
fn the_5xx_alarm_counts_the_log_lines_the_handler_writes() {
    // The handler logs one JSON line per request with `fields.status`
    // (handler.rs); the metric filters read that field.
    let t = template();
    let all = resources(&t);
    let mut metrics = BTreeSet::new();
    for (name, r) in all {
        if r["Type"] == "AWS::Logs::MetricFilter" {
            let p = &r["Properties"];
            assert_eq!(
                p["LogGroupName"]["Ref"], "CounterFunctionLogGroup",
                "{name}"
            );
            assert!(
                p["FilterPattern"]
                    .as_str()
                    .is_some_and(|f| f.contains("$.fields.status")),
                "{name}"
            );
            metrics.insert(
                p["MetricTransformations"][0]["MetricName"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
    }
    assert_eq!(
        metrics,
        BTreeSet::from(["Answers".to_owned(), "ServerErrors".to_owned()])
    );
    let handler = std::fs::read_to_string(format!("{}/src/handler.rs", env!("CARGO_MANIFEST_DIR")))
        .expect("handler.rs");
    assert!(
        handler.contains("status = status.as_u16()"),
        "the handler logs the status field"
    );
}

#[test]
fn the_hook_may_only_report_to_codedeploy_and_invoke_the_counters_versions() {
    let t = template();
    let hook = &t["Resources"]["PreTrafficHookFunction"]["Properties"];
    assert!(
        hook["FunctionName"]["Fn::Sub"]
            .as_str()
            .is_some_and(|n| n.starts_with("CodeDeployHook_")),
        "SAM's CodeDeploy role may only invoke hooks named CodeDeployHook_*"
    );
    assert_eq!(
        hook["Environment"]["Variables"]["NEW_VERSION"]["Ref"],
        "CounterFunction.Version"
    );
    let statements = hook["Policies"][0]["Statement"]
        .as_array()
        .expect("statements");
    let actions: BTreeSet<String> = statements
        .iter()
        .flat_map(|s| s["Action"].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        actions,
        BTreeSet::from([
            "codedeploy:PutLifecycleEventHookExecutionStatus".to_owned(),
            "lambda:InvokeFunction".to_owned()
        ])
    );
    assert!(
        statements
            .iter()
            .any(|s| s["Resource"]["Fn::Sub"] == "${CounterFunction.Arn}:*"),
        "it invokes the counter's versions, nothing else"
    );
}

/// Runs the template's inline PreTraffic hook in python3 (boto3 replaced by
/// a stub that hands each invocation to this test over a pipe), answering
/// each invocation with the real handler (or, with `writes_fail`, every
/// POST with the 500 a version that cannot write answers). The status it
/// reports to CodeDeploy, what it printed, and the requests it made.
async fn run_hook(app: &counter_lambda::App, writes_fail: bool) -> (String, String, Vec<String>) {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let t = template();
    let code = t["Resources"]["PreTrafficHookFunction"]["Properties"]["InlineCode"]
        .as_str()
        .expect("inline code");
    let dir = hook_dir();
    std::fs::write(dir.join("index.py"), code).expect("index.py");
    std::fs::write(
        dir.join("boto3.py"),
        r#"import io, sys
class _Lambda:
    def invoke(self, FunctionName, Payload):
        print("INVOKE " + Payload.decode(), flush=True)
        return {"Payload": io.BytesIO(sys.stdin.readline().encode())}
class _CodeDeploy:
    def put_lifecycle_event_hook_execution_status(self, **kw):
        print("STATUS " + kw["status"], flush=True)
def client(name):
    return _Lambda() if name == "lambda" else _CodeDeploy()
"#,
    )
    .expect("boto3 stub");
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import index; index.handler({'DeploymentId': 'd-1', 'LifecycleEventHookExecutionId': 'e-1'}, None)",
        ])
        .current_dir(&dir)
        .env("NEW_VERSION", "arn:aws:lambda:eu-west-1:1:function:counter:7")
        .env("SMOKE_PATH", "/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut to_hook = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut status = String::new();
    let mut printed = String::new();
    let mut requests = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        if let Some(event) = line.strip_prefix("INVOKE ") {
            let request = lambda_http::request::from_str(event).expect("the hook's event parses");
            requests.push(format!("{} {}", request.method(), request.uri()));
            let response = if writes_fail && request.method() == http::Method::POST {
                let mut r = http::Response::new(lambda_http::Body::Text(
                    counter_lambda::error::ApiError::Internal.body().to_string(),
                ));
                *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                r
            } else {
                counter_lambda::handler::handle(app, request).await
            };
            let headers: serde_json::Map<String, Value> = response
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), Value::from(v.to_str().unwrap_or(""))))
                .collect();
            let reply = serde_json::json!({
                "statusCode": response.status().as_u16(),
                "headers": headers,
                "body": String::from_utf8_lossy(response.body()),
            });
            writeln!(to_hook, "{reply}").expect("answer the hook");
        } else if let Some(s) = line.strip_prefix("STATUS ") {
            status = s.to_owned();
        } else {
            printed.push_str(&line);
        }
    }
    assert!(child.wait().expect("python3 ends").success());
    assert!(!requests.is_empty(), "the hook invoked the new version");
    (status, printed, requests)
}

fn hook_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "pretraffic-{}-{}",
        std::process::id(),
        crate::helpers::fresh_table()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test]
async fn the_pretraffic_hook_passes_a_healthy_version_and_fails_a_broken_one() {
    use local_stage::{create_table, local_client};

    let cfg = crate::helpers::config(&[]);
    let client = local_client(&crate::helpers::shared_dynamodb().endpoint(), cfg.timeouts).await;
    create_table(&client, &cfg.table_name).await.expect("table");
    let healthy = counter_lambda::App::new(cfg, client.clone());
    let (status, printed, requests) = run_hook(&healthy, false).await;
    assert_eq!(status, "Succeeded", "{printed}");
    assert!(
        requests.iter().any(|r| r.starts_with("POST ")
            && r.ends_with(&format!("path={}", PRETRAFFIC_PATH.replace('/', "%2F")))),
        "the hook writes its own key: {requests:?}"
    );

    // A version whose table does not exist answers 500: the hook stops it.
    let broken = counter_lambda::App::new(crate::helpers::config(&[]), client.clone());
    let (status, printed, _) = run_hook(&broken, false).await;
    assert_eq!(status, "Failed");
    assert!(printed.contains("GET /visits?path=/: 500"), "{printed}");

    // A version that reads but cannot write: the hook stops it too.
    let (status, printed, _) = run_hook(&healthy, true).await;
    assert_eq!(status, "Failed", "{printed}");
    assert!(
        printed.contains("POST /visits?path=/__pretraffic: 500"),
        "{printed}"
    );
}

#[test]
fn the_hook_writes_the_key_the_function_keeps_for_it_and_the_public_cannot_reach() {
    let t = template();
    let code = t["Resources"]["PreTrafficHookFunction"]["Properties"]["InlineCode"]
        .as_str()
        .expect("inline code");
    assert!(
        code.contains(&format!("WRITE_PATH = \"{PRETRAFFIC_PATH}\"")),
        "the hook writes {PRETRAFFIC_PATH}"
    );
    assert!(code.contains("\"authorizer\": {\"lambda\": {\"pretraffic\": True}}"));
    // Neither the site's pages nor the test keys' patterns reach it.
    for keys in ["disabled", "enabled"] {
        let config = deployed_config(keys);
        assert!(!config.allowed_paths.allows(PRETRAFFIC_PATH), "{keys}");
        assert!(config.pretraffic_paths.allows(PRETRAFFIC_PATH), "{keys}");
    }
}

// --- Bounded by default: the allow-list from site/pages.txt, test keys
// off by default and expiring, reserved concurrency.

/// The pages of `site/pages.txt` (comments and blank lines skipped).
fn site_pages() -> Vec<String> {
    let file = format!("{}/../site/pages.txt", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file)
        .expect("site/pages.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn repo_file(relative: &str) -> String {
    std::fs::read_to_string(format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn workflow() -> String {
    repo_file(".github/workflows/deploy.yml")
}

/// The function's configuration as the template sets it, for one value of
/// the LoadTestKeys parameter and the allow-list the workflow passes (the
/// per-client limit at its default: off).
fn deployed_config(load_test_keys: &str) -> counter_lambda::Config {
    deployed_config_with(load_test_keys, false)
}

/// A stack id's last part, as `Fn::Select [2, Fn::Split ["/", AWS::StackId]]`
/// gives it.
pub const STACK_UUID: &str = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

pub fn deployed_config_with(
    load_test_keys: &str,
    per_client_limit: bool,
) -> counter_lambda::Config {
    let t = template();
    let env = &t["Resources"]["CounterFunction"]["Properties"]["Environment"]["Variables"];
    let pages = site_pages().join(",");
    // Resolves the template's Fn::If / Ref / Fn::Sub / Fn::Select on these parameters.
    let resolve = |v: &Value| -> Option<String> {
        let v = match v.get("Fn::If") {
            Some(branches) => {
                let on = match branches[0].as_str() {
                    Some("LoadTestKeysEnabled") => load_test_keys == "enabled",
                    Some("PerClientLimitOn") => per_client_limit,
                    other => panic!("unknown condition {other:?}"),
                };
                &branches[if on { 1 } else { 2 }]
            }
            None => v,
        };
        if let Some(s) = v.as_str() {
            return Some(s.to_owned());
        }
        if v["Ref"] == "AllowedPaths" {
            return Some(pages.clone());
        }
        if stack_uuid(v) {
            return Some(STACK_UUID.to_owned());
        }
        v["Fn::Sub"]
            .as_str()
            .map(|s| s.replace("${AllowedPaths}", &pages))
    };
    counter_lambda::Config::from_lookup(|name| env.get(name).and_then(resolve))
        .expect("the template's configuration is valid")
}

/// `Fn::Select [2, Fn::Split ["/", Ref AWS::StackId]]`: the stack id's
/// random part.
fn stack_uuid(v: &Value) -> bool {
    v["Fn::Select"][0] == 2
        && v["Fn::Select"][1]["Fn::Split"] == serde_json::json!(["/", {"Ref": "AWS::StackId"}])
}

#[test]
fn the_allow_list_is_required_and_the_workflow_passes_the_sites_pages() {
    let t = template();
    let p = &t["Parameters"]["AllowedPaths"];
    assert!(p.get("Default").is_none(), "no default: {p}");
    let pattern = p["AllowedPattern"].as_str().expect("a pattern");
    assert_eq!(pattern, "^/.*", "an empty or `*` list cannot be deployed");

    let pages = site_pages();
    assert!(pages.contains(&"/".to_owned()), "the home page is a page");
    for page in &pages {
        assert_eq!(
            counter_lambda::path::validate_path(page),
            Ok(()),
            "{page} is a canonical path"
        );
        assert!(page.ends_with('/'), "{page}: published as {page}index.html");
        assert!(!page.starts_with("/__"), "{page}: /__ is for test keys");
    }
    let smoke = &t["Parameters"]["SmokeCheckPath"]["Default"];
    if let Some(smoke) = smoke.as_str() {
        assert!(
            pages.iter().any(|p| p == smoke),
            "the smoke check reads {smoke}"
        );
    }

    let w = workflow();
    assert!(
        w.contains("site/pages.txt"),
        "the workflow reads site/pages.txt"
    );
    assert_eq!(
        w.matches("ALLOWED_PATHS: ${{ steps.pages.outputs.allowed }}")
            .count(),
        2,
        "staging and production get the pages as their allow-list"
    );
    let deploy = repo_file("infra/deploy-stack.sh");
    assert!(
        deploy.contains("\"AllowedPaths=$ALLOWED_PATHS\""),
        "deploy-stack.sh passes them as AllowedPaths"
    );
    let publish = repo_file("infra/publish-site.sh");
    assert!(
        publish.contains("site/pages.txt") && publish.contains("\"$out${page}index.html\""),
        "publish-site.sh publishes each page"
    );

    let config = deployed_config("disabled");
    for page in &pages {
        assert!(config.allowed_paths.allows(page), "{page}");
    }
    for other in [
        "/admin",
        "/blog/x",
        "/__loadtest/run",
        "/__contract/run/page",
    ] {
        assert!(!config.allowed_paths.allows(other), "{other} is counted");
    }
}

#[test]
fn test_keys_are_off_by_default_and_expire() {
    use counter_lambda::store::{TTL_ATTRIBUTE, TestKeys};
    let t = template();
    let p = &t["Parameters"]["LoadTestKeys"];
    assert_eq!(p["Default"], "disabled");
    assert_eq!(
        p["AllowedValues"],
        serde_json::json!(["disabled", "enabled"])
    );
    assert_eq!(
        t["Conditions"]["LoadTestKeysEnabled"]["Fn::Equals"],
        serde_json::json!([{"Ref": "LoadTestKeys"}, "enabled"])
    );
    let ttl = &t["Resources"]["VisitorCountTable"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"], TTL_ATTRIBUTE);
    assert_eq!(ttl["Enabled"], true);
    let w = workflow();
    assert!(
        w.contains("LOADTEST_KEYS: enabled") && w.contains("LOADTEST_KEYS: disabled"),
        "on for staging, off for production"
    );
    assert!(
        repo_file("infra/deploy-stack.sh").contains("\"LoadTestKeys=${LOADTEST_KEYS:-disabled}\"")
    );

    let off = deployed_config("disabled");
    assert_eq!(off.loadtest_prefix, None);
    let on = deployed_config("enabled");
    let keys = TestKeys {
        prefix: on.loadtest_prefix.clone(),
        ttl: on.test_key_ttl,
    };
    assert!(on.test_key_ttl.is_some(), "test keys expire");
    for key in ["/__loadtest/run-1", "/__contract/run-1/page"] {
        assert!(
            on.allowed_paths.allows(key),
            "{key} is counted when enabled"
        );
        assert!(keys.is_test_key(key), "{key} gets expires_at");
    }
    for page in site_pages() {
        assert!(!keys.is_test_key(&page), "{page} never expires");
    }
}

/// A parameter's default, as a number.
fn default_of(t: &Value, name: &str) -> f64 {
    let d = &t["Parameters"][name]["Default"];
    d.as_f64()
        .or_else(|| d.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("{name} has no numeric default"))
}

/// (route key, rate, burst) for every route of the API (its own settings,
/// else the stage's default), as the workspace's template reader reads it.
fn route_throttles() -> Vec<(String, f64, f64)> {
    let file = format!("{}/../infra/template.yaml", env!("CARGO_MANIFEST_DIR"));
    let api = sam_template::Template::read(std::path::Path::new(&file))
        .and_then(|t| t.api())
        .expect("the template's API");
    api.routes
        .iter()
        .map(|r| {
            let key = r.key.key();
            let throttle = r
                .throttle
                .unwrap_or_else(|| panic!("{key} is not throttled"));
            let rate = throttle.rate.unwrap_or_else(|| panic!("{key} has no rate"));
            let burst = throttle
                .burst
                .unwrap_or_else(|| panic!("{key} has no burst"));
            (key, rate, burst)
        })
        .collect()
}

#[test]
fn the_stages_whole_ceiling_fits_the_reserved_concurrency_at_the_functions_duration() {
    let t = template();
    let f = &t["Resources"]["CounterFunction"]["Properties"];
    assert_eq!(
        f["ReservedConcurrentExecutions"]["Ref"],
        "ReservedConcurrency"
    );
    let reserved = default_of(&t, "ReservedConcurrency");
    let duration_s = t["Metadata"]["Sizing"]["FunctionDurationMs"]
        .as_f64()
        .expect("the sizing duration")
        / 1000.0;
    let routes = route_throttles();
    assert_eq!(routes.len(), 4, "every route: {routes:?}");
    // Every route key given its own settings is a route of the API.
    let api = &t["Resources"]["CounterApi"]["Properties"];
    for key in api["RouteSettings"]
        .as_object()
        .expect("route settings")
        .keys()
    {
        assert!(routes.iter().any(|(k, _, _)| k == key), "{key} is no route");
    }
    let rate: f64 = routes.iter().map(|r| r.1).sum();
    let bursts: f64 = routes.iter().map(|r| r.2).sum();
    let needed = bursts + rate * duration_s;
    assert!(
        needed <= reserved,
        "the stage admits {bursts} at once plus {rate}/s x {duration_s} s = {needed} concurrent, above {reserved} reserved"
    );
    // The counting route keeps the throttle the table is sized from.
    let post = routes.iter().find(|r| r.0 == "POST /visits").expect("POST");
    assert_eq!(post.1, default_of(&t, "ThrottleRateLimit"));
    assert!(
        post.2 <= reserved - rate * duration_s,
        "the POST burst alone fits"
    );
    // A slow DynamoDB (the SDK's operation timeout) holds at most the
    // reserved instances, far fewer than the ceiling would.
    let env = &f["Environment"]["Variables"];
    let operation_s: f64 = env["DYNAMODB_OPERATION_TIMEOUT_MS"]
        .as_str()
        .and_then(|v| v.parse::<f64>().ok())
        .expect("the operation timeout")
        / 1000.0;
    assert!(
        reserved < rate * operation_s,
        "{reserved} vs {}",
        rate * operation_s
    );
    assert!(t["Parameters"]["ReservedConcurrency"]["MinValue"].as_u64() >= Some(1));
}

#[test]
fn the_tables_write_ceiling_is_the_counting_routes_throttle() {
    let t = template();
    let table = &t["Resources"]["VisitorCountTable"]["Properties"];
    assert_eq!(
        table["OnDemandThroughput"]["MaxWriteRequestUnits"]["Ref"],
        "ThrottleRateLimit"
    );
    let api = &t["Resources"]["CounterApi"]["Properties"];
    assert_eq!(
        api["DefaultRouteSettings"]["ThrottlingRateLimit"]["Ref"],
        "ThrottleRateLimit"
    );
    assert!(
        api["RouteSettings"]["POST /visits"].is_null(),
        "POST keeps the default the table is sized from"
    );
}

// --- end bounded by default
