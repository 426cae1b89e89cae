//! The handler driven with real API Gateway REST (v1), HTTP API (v2) and
//! function-URL event JSON, parsed the way the Lambda runtime parses it.

use counter_lambda::App;
use counter_lambda::handler::handle;
use counter_lambda::path::encode_component;
use local_stage::{create_table, local_client};

use crate::helpers::{config, shared_dynamodb};

/// Fills an event fixture for one request. `path` is the decoded page path;
/// the raw query is its form-encoding.
pub fn event(kind: &str, method: &str, path: &str) -> String {
    let file = format!("{}/tests/events/{kind}.json", env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(&file).expect("event fixture");
    let raw_query = format!("path={}", encode_component(path));
    template
        .replace("__METHOD__", method)
        .replace("__PATH__", &path.replace('\\', "\\\\").replace('"', "\\\""))
        .replace("__RAWQUERY__", &raw_query)
}

async fn app() -> App {
    let cfg = config(&[("ALLOWED_ORIGINS", "https://site.example")]);
    let client = local_client(&shared_dynamodb().endpoint(), cfg.timeouts).await;
    create_table(&client, &cfg.table_name).await.expect("table");
    App::new(cfg, client)
}

async fn invoke(app: &App, json: &str) -> (u16, http::HeaderMap, serde_json::Value) {
    let request = lambda_http::request::from_str(json).expect("lambda_http parses the event");
    let response = handle(app, request).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_slice(response.body()).unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

const KINDS: [&str; 3] = ["apigw-rest-v1", "apigw-http-v2", "function-url"];

#[tokio::test]
async fn each_event_kind_counts_reads_and_sets_headers() {
    let app = app().await;
    for kind in KINDS {
        let page = format!("/events/{kind} page");
        for expected in 1..=2 {
            let (status, headers, body) = invoke(&app, &event(kind, "POST", &page)).await;
            assert_eq!(status, 200, "{kind}: {body}");
            assert_eq!(
                body,
                serde_json::json!({"path": page, "count": expected}),
                "{kind}"
            );
            assert_eq!(
                headers["access-control-allow-origin"], "https://site.example",
                "{kind}"
            );
            assert_eq!(headers["cache-control"], "no-store", "{kind}");
        }
        let (status, _, body) = invoke(&app, &event(kind, "GET", &page)).await;
        assert_eq!((status, body["count"].as_u64()), (200, Some(2)), "{kind}");
    }
}

#[tokio::test]
async fn each_event_kind_refuses_bad_input_and_wrong_methods() {
    let app = app().await;
    for kind in KINDS {
        let (status, _, body) = invoke(&app, &event(kind, "POST", "relative")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_path")),
            "{kind}"
        );
        let (status, _, body) = invoke(&app, &event(kind, "DELETE", "/")).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (405, Some("method_not_allowed")),
            "{kind}"
        );
    }
    // The refused POST of "relative" created no counter behind the API.
    let relative = app.store.current("relative").await.expect("read");
    assert_eq!(relative, 0);
}
