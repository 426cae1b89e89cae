//! The real API against the contract: the local stage (counter-lambda on
//! DynamoDB Local), or the stage at `CONTRACT_BASE_URL`.

use std::time::Duration;

use contract_tests::browser::{Browser, counter_line, screenshot};
use contract_tests::contract::Operation;
use contract_tests::provider::{Provider, Reply, check_reply, send, verify};
use contract_tests::site::SiteListener;
use local_stage::{LocalStage, StageOptions};
use reqwest::Method;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{PLACEHOLDER, contract};

const SITE: &str = "https://site.example";

fn config(vars: &[(&str, &str)]) -> counter_lambda::Config {
    counter_lambda::Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("valid configuration")
}

fn run_id() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    )
}

/// The responses only a broken stage gives; exercised by the tests below.
fn fault_operations() -> Vec<Operation> {
    ["POST", "GET"]
        .iter()
        .flat_map(|m| {
            [503, 500].map(|status| Operation {
                path: "/visits".into(),
                method: (*m).into(),
                status,
            })
        })
        .collect()
}

/// Sends each fault operation with this status to a broken stage and checks
/// the replies against the contract.
async fn replay_faults(c: &contract_tests::Contract, base: &str, status: u16) -> Vec<Reply> {
    let http = reqwest::Client::new();
    let mut replies = Vec::new();
    for op in fault_operations()
        .into_iter()
        .filter(|o| o.status == status)
    {
        let method = Method::from_bytes(op.method.as_bytes()).expect("method");
        let reply = send(&http, method, &format!("{base}/visits?path=/"), None)
            .await
            .expect("answers");
        let findings = check_reply(c, &op, &reply, &format!("{} {status}", op.method));
        assert!(findings.is_empty(), "{findings:?}");
        replies.push(reply);
    }
    replies
}

/// `CONTRACT_ONLY_VISITS=true`: the stage's address serves only `/visits`
/// (the API behind the site's distribution, the per-client limit on).
fn only_visits() -> bool {
    std::env::var("CONTRACT_ONLY_VISITS").is_ok_and(|v| v == "true")
}

#[tokio::test]
async fn the_api_meets_every_operation_and_example_of_the_contract() {
    let c = contract();
    let (_stage, target) = match std::env::var("CONTRACT_BASE_URL") {
        Ok(base) => (
            None,
            Provider {
                base,
                allowed_origin: std::env::var("CONTRACT_ALLOWED_ORIGIN").ok(),
                disallowed_path: std::env::var("CONTRACT_DISALLOWED_PATH").ok(),
                // No real origin ends in .invalid (RFC 2606): a stage that
                // allows named origins refuses it.
                disallowed_origin: Some(
                    std::env::var("CONTRACT_DISALLOWED_ORIGIN")
                        .unwrap_or_else(|_| "https://not-allowed.invalid".into()),
                ),
                unknown_routes: !only_visits(),
                run_id: run_id(),
            },
        ),
        Err(_) => {
            // The in-process stage, or with CONTRACT_STAGE=emulated the
            // stage shaped like AWS (stage.rs).
            let (stage, base) = crate::stage::start(&[
                ("ALLOWED_PATHS", "/,/__contract/*"),
                ("ALLOWED_ORIGINS", SITE),
            ])
            .await;
            let target = Provider {
                base,
                allowed_origin: Some(SITE.into()),
                disallowed_path: Some("/not-listed".into()),
                disallowed_origin: Some("https://elsewhere.example".into()),
                unknown_routes: true,
                run_id: run_id(),
            };
            (Some(stage), target)
        }
    };
    let report = verify(&c, &target).await;
    let findings: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    assert!(
        findings.is_empty(),
        "{} differs from the contract:\n{}",
        target.base,
        findings.join("\n")
    );

    // Every documented response is exercised: here, or by the fault tests
    // (a stage whose address serves only /visits has no unknown routes).
    let mut covered = report.covered.clone();
    covered.extend(fault_operations());
    for op in c
        .operations()
        .into_iter()
        .filter(|o| target.unknown_routes || o.path != "/{unknown}")
    {
        assert!(
            covered.contains(&op),
            "no check exercises {} {} {}",
            op.method,
            op.path,
            op.status
        );
    }
}

/// `//visits`, `/visits/` and `/visits//` are other routes: the contract's
/// 404, and nothing is counted (the contract has one route, `/visits`).
#[tokio::test]
async fn other_spellings_of_the_route_are_404_and_count_nothing() {
    let c = contract();
    let stage = LocalStage::start(StageOptions::new(config(&[])))
        .await
        .expect("stage");
    let http = reqwest::Client::new();
    let base = stage.url();
    let not_found = Operation {
        path: "/{unknown}".into(),
        method: "GET".into(),
        status: 404,
    };
    for route in ["//visits", "/visits/", "/visits//"] {
        for method in [Method::POST, Method::GET] {
            let url = format!("{base}{route}?path=/spelled");
            let reply = send(&http, method.clone(), &url, None)
                .await
                .expect("answers");
            let findings = check_reply(&c, &not_found, &reply, &format!("{method} {route}"));
            assert!(findings.is_empty(), "{findings:?}");
        }
    }
    let read = send(
        &http,
        Method::GET,
        &format!("{base}/visits?path=/spelled"),
        None,
    )
    .await
    .expect("answers");
    assert_eq!(
        read.body,
        Some(serde_json::json!({"path": "/spelled", "count": 0})),
        "nothing was counted"
    );
}

#[tokio::test]
async fn an_unreachable_database_gives_the_contracted_503() {
    let c = contract();
    let mut stage = LocalStage::start(StageOptions::new(config(&[(
        "DYNAMODB_OPERATION_TIMEOUT_MS",
        "2000",
    )])))
    .await
    .expect("stage with its own DynamoDB Local");
    stage.stop_database().expect("stop");
    for reply in replay_faults(&c, stage.url(), 503).await {
        assert_eq!(reply.body.as_ref().expect("json")["error"], "unavailable");
    }
}

#[tokio::test]
async fn a_missing_table_gives_the_contracted_500_without_leaking_why() {
    let c = contract();
    let stage = LocalStage::start(StageOptions::new(config(&[])))
        .await
        .expect("stage");
    stage
        .client()
        .delete_table()
        .table_name(stage.table())
        .send()
        .await
        .expect("table deleted");
    for reply in replay_faults(&c, stage.url(), 500).await {
        assert!(
            !reply.raw.contains("ResourceNotFound") && !reply.raw.contains("visitor_count"),
            "{}",
            reply.raw
        );
    }
}

#[tokio::test]
async fn a_server_answering_visits_instead_of_count_fails_naming_the_violation() {
    let c = contract();
    let impostor = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"visits": 3}))
                .insert_header("content-type", "application/json")
                .insert_header("cache-control", "no-store")
                .insert_header("vary", "Origin"),
        )
        .mount(&impostor)
        .await;
    let report = verify(
        &c,
        &Provider {
            base: impostor.uri(),
            allowed_origin: None,
            disallowed_path: None,
            disallowed_origin: None,
            unknown_routes: true,
            run_id: "impostor".into(),
        },
    )
    .await;
    let all: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    let all = all.join("\n");
    assert!(
        all.contains("POST /visits 200 (first visit): body {\"visits\":3} breaks the schema: \"count\" is a required property"),
        "{all}"
    );
    assert!(
        all.contains("Additional properties are not allowed ('visits' was unexpected)"),
        "{all}"
    );
    assert!(
        all.contains("status 200 where the contract says 400"),
        "{all}"
    );
}

/// The whole thing as a visitor sees it: the real page, the real API on
/// the local stage, real DynamoDB Local. Leaves a screenshot for review.
#[tokio::test]
async fn the_page_against_the_local_stage_shows_the_real_count() {
    let site = SiteListener::bind().await.expect("bind");
    let stage = LocalStage::start(StageOptions::new(config(&[(
        "ALLOWED_ORIGINS",
        site.origin.as_str(),
    )])))
    .await
    .expect("stage");
    let site = site.serve(stage.url(), 5000);
    let browser = Browser::launch().await.expect("Chromium");
    for expected in ["1", "2"] {
        let visit = browser
            .visit(
                &format!("{}/", site.origin()),
                |t| !t.is_empty() && t != PLACEHOLDER,
                Duration::from_secs(15),
            )
            .await
            .expect("page");
        assert_eq!(visit.text, expected);
        assert!(visit.exceptions.is_empty(), "{:?}", visit.exceptions);
        assert_eq!(
            counter_line(&visit.page).await.expect("line"),
            format!("Visitor #: {expected}")
        );
        if expected == "2" {
            let target =
                std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("site-screenshot.png");
            screenshot(&visit.page, &target).await.expect("screenshot");
            assert!(
                std::fs::metadata(&target)
                    .map(|m| m.len() > 1000)
                    .unwrap_or(false)
            );
        }
    }
}

/// A stage that answers only through its CloudFront distribution refuses
/// what skipped it with the contract's 403 `directAccessRefused`, counting
/// nothing (the `originNotAllowed` 403 is replayed by the check above).
#[tokio::test]
async fn a_request_that_skipped_cloudfront_gets_the_contracted_403() {
    let c = contract();
    let stage = LocalStage::start(StageOptions::new(config(&[(
        "ORIGIN_VERIFY_SECRET",
        "only-cloudfront-knows",
    )])))
    .await
    .expect("stage");
    let http = reqwest::Client::new();
    let forbidden = Operation {
        path: "/visits".into(),
        method: "POST".into(),
        status: 403,
    };
    let url = format!("{}/visits?path=/direct", stage.url());
    let reply = send(&http, Method::POST, &url, None)
        .await
        .expect("answers");
    let findings = check_reply(&c, &forbidden, &reply, "POST 403 (direct)");
    assert!(findings.is_empty(), "{findings:?}");
    let expected = c
        .example("/visits", "POST", 403, "directAccessRefused")
        .expect("example");
    assert_eq!(reply.body, Some(expected));
    let through = http
        .get(&url)
        .header("x-origin-verify", "only-cloudfront-knows")
        .send()
        .await
        .expect("answers");
    let body: serde_json::Value = through.json().await.expect("json");
    assert_eq!(body["count"], 0, "nothing was counted");
}
