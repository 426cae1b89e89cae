//! Who may count. A page on an origin the stage does not allow cannot (403
//! `origin_not_allowed`, nothing counted); a client without `Origin` (not a
//! browser page) counts as before; reads keep their rules. A stage that
//! answers only through its CloudFront distribution refuses what skipped
//! it. The PreTraffic check's key is counted only by a direct invocation.
//! And the fields a request chooses are bounded in its log line.

use std::sync::{Arc, Mutex};

use counter_lambda::App;
use counter_lambda::config::PRETRAFFIC_PATH;
use counter_lambda::handler::{LOG_FIELD_MAX_BYTES, handle};
use local_stage::{create_table, local_client};
use serde_json::Value;

use crate::events::event;
use crate::helpers::{TestStage, config, shared_dynamodb, spawn_stage};

const SITE: &str = "https://site.example";

async fn post_from(t: &TestStage, origin: Option<&str>, path: &str) -> crate::helpers::Reply {
    let mut r = t.http.post(t.url("/visits")).query(&[("path", path)]);
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    t.send(r).await
}

#[tokio::test]
async fn a_page_on_another_origin_cannot_count_and_a_client_without_origin_can() {
    let t = spawn_stage(&[("ALLOWED_ORIGINS", SITE)]).await;
    for origin in [
        "https://evil.example",
        "https://site.example.evil",
        "http://site.example",
        "null",
    ] {
        let r = post_from(&t, Some(origin), "/").await;
        assert_eq!(
            (r.status, r.error_code()),
            (403, "origin_not_allowed"),
            "{origin}"
        );
        assert_eq!(r.header("access-control-allow-origin"), None, "{origin}");
        assert_eq!(r.header("vary"), Some("Origin"));
    }
    // Refused before the path is looked at: even a valid page is not counted.
    assert!(t.items().await.is_empty(), "nothing was counted");

    assert_eq!(
        post_from(&t, None, "/").await.count(),
        1,
        "no Origin: counted"
    );
    let allowed = post_from(&t, Some(SITE), "/").await;
    assert_eq!(allowed.count(), 2);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(SITE));

    // Reads are unchanged: answered, without Access-Control-Allow-Origin.
    let read = t
        .send(
            t.http
                .get(t.url("/visits?path=/"))
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!((read.status, read.count()), (200, 2));
    assert_eq!(read.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn with_no_origin_configured_no_browser_page_counts() {
    // The Lambda's default (ALLOWED_ORIGINS unset): no origin is allowed.
    let t = spawn_stage(&[]).await;
    let r = post_from(&t, Some(SITE), "/").await;
    assert_eq!((r.status, r.error_code()), (403, "origin_not_allowed"));
    assert!(t.items().await.is_empty());
    assert_eq!(post_from(&t, None, "/").await.count(), 1);
}

#[tokio::test]
async fn a_stage_answering_only_through_cloudfront_refuses_what_skipped_it() {
    let t = spawn_stage(&[("ORIGIN_VERIFY_SECRET", "s3cret-from-the-stack")]).await;
    let direct = [
        t.http.post(t.url("/visits?path=/")),
        t.http.get(t.url("/visits?path=/")),
        t.http.get(t.url("/nope")),
        t.http
            .post(t.url("/visits?path=/"))
            .header("x-origin-verify", "guess"),
        t.http
            .post(t.url("/visits?path=/"))
            .header("x-origin-verify", "s3cret-from-the-stack-and-more"),
    ];
    for request in direct {
        let r = t.send(request).await;
        assert_eq!(
            (r.status, r.error_code()),
            (403, "direct_access_refused"),
            "{}",
            r.raw
        );
    }
    assert!(t.items().await.is_empty(), "nothing was counted");
    let through = t
        .send(
            t.http
                .post(t.url("/visits?path=/"))
                .header("x-origin-verify", "s3cret-from-the-stack"),
        )
        .await;
    assert_eq!((through.status, through.count()), (200, 1));
}

async fn app(vars: &[(&str, &str)]) -> App {
    let cfg = config(vars);
    let client = local_client(&shared_dynamodb().endpoint(), cfg.timeouts).await;
    create_table(&client, &cfg.table_name).await.expect("table");
    App::new(cfg, client)
}

/// An HTTP API event for `method /visits?path=<path>`, as the PreTraffic
/// hook sends it when `pretraffic` (an authorizer context, which API
/// Gateway never sets for this API: it has no authorizer).
fn http_event(method: &str, path: &str, pretraffic: bool) -> String {
    let mut e: Value = serde_json::from_str(&event("apigw-http-v2", method, path)).expect("json");
    if pretraffic {
        e["requestContext"]["authorizer"] = serde_json::json!({"lambda": {"pretraffic": true}});
    }
    e.to_string()
}

async fn invoke(app: &App, json: &str) -> (u16, Value) {
    let request = lambda_http::request::from_str(json).expect("the event parses");
    let response = handle(app, request).await;
    let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    (response.status().as_u16(), body)
}

#[tokio::test]
async fn the_pretraffic_key_is_counted_and_read_only_by_a_direct_invocation() {
    let gated = [
        ("ALLOWED_PATHS", "/"),
        ("ALLOWED_ORIGINS", SITE),
        ("LOADTEST_PATH_PREFIX", ""),
        ("ORIGIN_VERIFY_SECRET", "s3cret"),
    ];
    let app = app(&gated).await;
    // Through the API (no authorizer context): not even past the edge check.
    for method in ["POST", "GET"] {
        let (status, body) = invoke(&app, &http_event(method, PRETRAFFIC_PATH, false)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("direct_access_refused"))
        );
    }
    // A stage without the edge check: outside the allow-list.
    let open = self::app(&gated[..3]).await;
    for method in ["POST", "GET"] {
        let (status, body) = invoke(&open, &http_event(method, PRETRAFFIC_PATH, false)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("path_not_allowed"))
        );
    }
    // The PreTraffic check's own invocation writes and reads it...
    let (status, body) = invoke(&app, &http_event("POST", PRETRAFFIC_PATH, true)).await;
    assert_eq!(
        (status, &body),
        (
            200,
            &serde_json::json!({"path": PRETRAFFIC_PATH, "count": 1})
        )
    );
    let (status, body) = invoke(&app, &http_event("GET", PRETRAFFIC_PATH, true)).await;
    assert_eq!((status, body["count"].as_u64()), (200, Some(1)));
    // ...and nothing else outside the allow-list.
    let (status, body) = invoke(&app, &http_event("POST", "/other", true)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("path_not_allowed"))
    );
}

/// A `MakeWriter` into a buffer the test reads.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
    type Writer = Captured;
    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

/// The handler's "request" log lines for these events, in the function's
/// own format.
async fn request_lines(app: &App, events: &[String]) -> Vec<(usize, Value)> {
    let out = Captured::default();
    let filter = "info".parse().expect("a filter");
    let _guard = tracing::subscriber::set_default(counter_lambda::json_logs(out.clone(), filter));
    for e in events {
        invoke(app, e).await;
    }
    let text = String::from_utf8(out.0.lock().expect("lock").clone()).expect("utf-8");
    text.lines()
        .filter_map(|l| Some((l.len(), serde_json::from_str::<Value>(l).ok()?)))
        .filter(|(_, v)| v["fields"]["message"] == "request")
        .collect()
}

#[tokio::test]
async fn the_fields_a_request_chooses_are_bounded_in_its_log_line() {
    let app = app(&[("ALLOWED_ORIGINS", SITE)]).await;
    let long_route = format!("/{}", "é".repeat(5000));
    let long_origin = format!("https://{}.example", "a".repeat(10_000));
    let mut junk: Value = serde_json::from_str(&event("apigw-http-v2", "POST", "/")).expect("json");
    junk["rawPath"] = Value::from(format!("/prod{long_route}"));
    junk["headers"]["origin"] = Value::from(long_origin.clone());
    let normal = event("apigw-http-v2", "POST", "/");
    // Every field at its bound, the method too (an extension method).
    let mut widest = junk.clone();
    widest["requestContext"]["http"]["method"] = Value::from("X".repeat(1000));
    let lines = request_lines(&app, &[junk.to_string(), normal, widest.to_string()]).await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    // The figure `handler_log_bytes_max` in loadtest/data adds this
    // difference to the ordinary line measured with the real bootstrap.
    eprintln!(
        "handler log line: ordinary {} B, every request-chosen field at its bound {} B",
        lines[1].0, lines[2].0
    );
    assert_eq!(lines[2].1["fields"]["method_len"], 1000);
    assert!(
        lines[2].0 < 3 * LOG_FIELD_MAX_BYTES + 300,
        "{} bytes",
        lines[2].0
    );

    let (bytes, j) = &lines[0];
    let f = &j["fields"];
    assert_eq!(f["status"], 404);
    let route = f["route"].as_str().expect("route");
    assert!(
        route.len() <= LOG_FIELD_MAX_BYTES && long_route.starts_with(route),
        "{route}"
    );
    assert_eq!(f["route_len"].as_u64(), Some(long_route.len() as u64));
    let origin = f["origin"].as_str().expect("origin");
    assert!(origin.len() <= LOG_FIELD_MAX_BYTES && long_origin.starts_with(origin));
    assert_eq!(f["origin_len"].as_u64(), Some(long_origin.len() as u64));
    assert!(
        *bytes < 3 * LOG_FIELD_MAX_BYTES + 300,
        "a junk request's line is bounded: {bytes} bytes"
    );

    // An ordinary request logs its fields whole, and no lengths.
    let f = &lines[1].1["fields"];
    assert_eq!(
        (f["route"].as_str(), f["origin"].as_str()),
        (Some("/visits"), Some(SITE))
    );
    assert!(
        f.get("route_len").is_none() && f.get("origin_len").is_none(),
        "{f}"
    );
}
