//! Counters that are not ours: the APIs people built before they found
//! this harness, each in an atomic and a racy version (read, wait for the
//! "database", write back one more), answering in the shapes people
//! publish. Every atomic one must PASS and every racy one FAIL, with the
//! same checks our own API gets.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response};
use local_stage::RequestBody;

use crate::helpers::{Run, run, serve_on_loopback};

/// How a stand-in API counts and answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// `POST /api/visits?page=K` → `42`; `GET` the same reads.
    BareNumber,
    /// `POST /hit` with `{"page": K}` → `{"ok": true, "data": {"page": K,
    /// "stats": {"visits": 42}}}`; `GET /stats?page=K` reads.
    Nested,
    /// One global counter: `POST /counter` → `42\n` as text; `GET` reads.
    Text,
    /// `GET /visitors?id=K` increments → `{"visitors": 42}`; `GET /peek?id=K` reads.
    GetIncrements,
    /// One global counter, no read: `POST /increment` → a whole Lambda
    /// proxy result, `{"statusCode": 200, "headers": ..., "body": "{\"count\": 42}"}`.
    IncrementOnly,
}

impl Shape {
    /// How a user describes the API to loadtest.
    fn flags(self) -> Vec<&'static str> {
        match self {
            Shape::BareNumber => vec![
                "--request",
                "POST /api/visits?page={key}",
                "--read",
                "GET /api/visits?page={key}",
            ],
            Shape::Nested => vec![
                "--request",
                "POST /hit",
                "--request-body",
                r#"{"page": "{key}"}"#,
                "-H",
                "Content-Type: application/json",
                "--read",
                "GET /stats?page={key}",
            ],
            Shape::Text => vec![
                "--request",
                "POST /counter",
                "--read",
                "GET /counter",
                "--exclusive",
            ],
            Shape::GetIncrements => vec![
                "--request",
                "GET /visitors?id={key}",
                "--read",
                "GET /peek?id={key}",
            ],
            Shape::IncrementOnly => vec![
                "--request",
                "POST /increment",
                "--read",
                "none",
                "--count-at",
                "/body/count",
                "--exclusive",
            ],
        }
    }
}

/// A stand-in API on 127.0.0.1.
pub struct StandIn {
    pub url: String,
    /// Requests that reached it.
    pub received: Arc<AtomicU64>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Default)]
struct Counts {
    by_key: Mutex<HashMap<String, u64>>,
}

impl Counts {
    fn read(&self, key: &str) -> u64 {
        let counts = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(key).copied().unwrap_or(0)
    }

    /// One more: at once, or (racy) read, wait for the "database", write.
    async fn add(&self, key: &str, racy: bool) -> u64 {
        if !racy {
            let mut counts = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
            let n = counts.entry(key.to_owned()).or_insert(0);
            *n += 1;
            return *n;
        }
        let seen = self.read(key);
        tokio::time::sleep(Duration::from_micros(300)).await;
        let mut counts = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        counts.insert(key.to_owned(), seen + 1);
        seen + 1
    }
}

fn query_value(req: &Request<RequestBody>, name: &str) -> String {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .unwrap_or("")
        .to_owned()
}

fn answer(status: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

async fn handle(
    shape: Shape,
    racy: bool,
    counts: &Counts,
    req: Request<RequestBody>,
) -> Response<Full<Bytes>> {
    let json = "application/json";
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    match (shape, method, path.as_str()) {
        (Shape::BareNumber, m, "/api/visits") => {
            let key = query_value(&req, "page");
            let n = if m == Method::POST {
                counts.add(&key, racy).await
            } else {
                counts.read(&key)
            };
            answer(200, json, n.to_string())
        }
        (Shape::Nested, Method::POST, "/hit") => {
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            let page = body
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["page"].as_str().map(str::to_owned));
            let Some(page) = page else {
                return answer(400, json, r#"{"ok": false}"#.into());
            };
            let n = counts.add(&page, racy).await;
            answer(200, json, nested(&page, n))
        }
        (Shape::Nested, Method::GET, "/stats") => {
            let page = query_value(&req, "page").replace("%2F", "/");
            let n = counts.read(&page);
            answer(200, json, nested(&page, n))
        }
        (Shape::Text, Method::POST, "/counter") => {
            let n = counts.add("", racy).await;
            answer(200, "text/plain", format!("{n}\n"))
        }
        (Shape::Text, Method::GET, "/counter") => {
            answer(200, "text/plain", format!("{}\n", counts.read("")))
        }
        (Shape::GetIncrements, Method::GET, "/visitors") => {
            let n = counts.add(&query_value(&req, "id"), racy).await;
            answer(200, json, format!(r#"{{"visitors": {n}}}"#))
        }
        (Shape::GetIncrements, Method::GET, "/peek") => {
            let n = counts.read(&query_value(&req, "id"));
            answer(200, json, format!(r#"{{"visitors": {n}}}"#))
        }
        (Shape::IncrementOnly, Method::POST, "/increment") => {
            let n = counts.add("", racy).await;
            let inner = format!(r#"{{"count": {n}}}"#);
            let proxy = serde_json::json!({
                "statusCode": 200,
                "headers": {"Content-Type": "application/json"},
                "body": inner,
            });
            answer(200, json, proxy.to_string())
        }
        (_, Method::GET, "/hello") => {
            answer(200, "text/html", "<html><body>Hello</body></html>".into())
        }
        _ => answer(404, json, r#"{"message":"Not Found"}"#.into()),
    }
}

fn nested(page: &str, n: u64) -> String {
    serde_json::json!({"ok": true, "data": {"page": page, "stats": {"visits": n}}}).to_string()
}

async fn stand_in(shape: Shape, racy: bool) -> StandIn {
    let counts = Arc::new(Counts::default());
    let received = Arc::new(AtomicU64::new(0));
    let seen = received.clone();
    let (url, server) = serve_on_loopback(move |req| {
        let counts = counts.clone();
        seen.fetch_add(1, Ordering::Relaxed);
        async move { handle(shape, racy, &counts, req).await }
    })
    .await;
    StandIn {
        url,
        received,
        server,
    }
}

async fn judge(shape: Shape, racy: bool) -> Run {
    let api = stand_in(shape, racy).await;
    let id = format!(
        "foreign-{}-{}",
        format!("{shape:?}").to_lowercase(),
        if racy { "racy" } else { "atomic" }
    );
    let mut args = vec![
        "--host",
        &api.url,
        "-u",
        "8",
        "-t",
        "2",
        "--max-duration",
        "60",
    ];
    args.extend(shape.flags());
    run(&id, &args).await
}

async fn assert_atomic_passes_and_racy_fails(shape: Shape) {
    let good = judge(shape, false).await;
    assert_eq!(
        good.code(),
        Some(0),
        "{shape:?} atomic: {}\n{}",
        good.stdout(),
        good.stderr()
    );
    let s = good.summary();
    assert!(s.verdict.passed() && s.requests.ok > 10, "{:?}", s.verdict);
    assert!(
        good.stderr().contains("count"),
        "the start-up lines show the count: {}",
        good.stderr()
    );
    let bad = judge(shape, true).await;
    assert_eq!(
        bad.code(),
        Some(1),
        "{shape:?} racy: {}\n{}",
        bad.stdout(),
        bad.stderr()
    );
    assert!(bad.stdout().contains("VERDICT: FAIL"), "{}", bad.stdout());
}

#[tokio::test]
async fn a_per_page_api_answering_a_bare_number_is_judged() {
    assert_atomic_passes_and_racy_fails(Shape::BareNumber).await;
}

#[tokio::test]
async fn a_json_body_request_answered_with_nested_json_is_judged() {
    assert_atomic_passes_and_racy_fails(Shape::Nested).await;
}

#[tokio::test]
async fn a_global_counter_answering_text_is_judged_when_exclusive() {
    assert_atomic_passes_and_racy_fails(Shape::Text).await;
}

#[tokio::test]
async fn a_get_that_increments_is_judged_and_never_sent_twice() {
    assert_atomic_passes_and_racy_fails(Shape::GetIncrements).await;
}

#[tokio::test]
async fn an_increment_only_api_is_judged_exactly_through_its_first_and_last_increments() {
    assert_atomic_passes_and_racy_fails(Shape::IncrementOnly).await;
    let r = judge(Shape::IncrementOnly, false).await;
    let s = r.summary();
    let accounting = s
        .verdict
        .checks
        .iter()
        .find(|c| c.detail.contains("final − initial"))
        .expect("accounting judged with --read none --exclusive");
    assert!(
        accounting.detail.contains("expected"),
        "{}",
        accounting.detail
    );
    assert_eq!(s.run.api.as_ref().map(|a| a.read.as_str()), Some("none"));
}

#[tokio::test]
async fn a_shared_counter_is_judged_without_accounting_and_says_so() {
    let api = stand_in(Shape::Text, false).await;
    let mut flags = Shape::Text.flags();
    flags.retain(|f| *f != "--exclusive");
    let mut args = vec!["--host", &api.url, "-u", "4", "-t", "2"];
    args.extend(flags);
    let r = run("foreign-shared", &args).await;
    assert_eq!(r.code(), Some(0), "{}\n{}", r.stdout(), r.stderr());
    let s = r.summary();
    assert!(s.run.outside_traffic && s.run.api.as_ref().is_some_and(|a| a.shared));
    assert!(
        r.stderr().contains("shared"),
        "the start-up line says the counter is shared: {}",
        r.stderr()
    );
    let racy = stand_in(Shape::Text, true).await;
    let mut args = vec!["--host", &racy.url, "-u", "8", "-t", "2"];
    args.extend(
        Shape::Text
            .flags()
            .into_iter()
            .filter(|f| *f != "--exclusive"),
    );
    let r = run("foreign-shared-racy", &args).await;
    assert_eq!(
        r.code(),
        Some(1),
        "duplicates need no accounting: {}",
        r.stdout()
    );
}

#[tokio::test]
async fn an_answer_with_several_integers_is_a_usage_error_naming_them() {
    let api = stand_in(Shape::IncrementOnly, false).await;
    let r = run(
        "foreign-ambiguous",
        &[
            "--host",
            &api.url,
            "--request",
            "POST /increment",
            "--read",
            "none",
            "-t",
            "2",
        ],
    )
    .await;
    let err = r.stderr();
    assert_eq!(r.code(), Some(2), "{err}");
    assert!(
        err.contains("/body/count") && err.contains("/statusCode") && err.contains("--count-at"),
        "{err}"
    );
    assert!(err.contains("statusCode"), "the body is shown: {err}");
    assert_eq!(
        api.received.load(Ordering::Relaxed),
        1,
        "one request, then it stopped"
    );
}

#[tokio::test]
async fn an_answer_with_no_integer_or_a_refusal_is_a_usage_error_showing_the_body() {
    let api = stand_in(Shape::Text, false).await;
    let try_request = |request: &'static str| {
        let url = api.url.clone();
        async move {
            let id = format!("foreign-no-count-{}", request.len());
            let args = ["--host", &url, "--request", request, "--read", "none"];
            run(&id, &args).await
        }
    };
    let r = try_request("GET /hello").await;
    let err = r.stderr();
    assert_eq!(r.code(), Some(2), "{err}");
    assert!(err.contains("no integer") && err.contains("Hello"), "{err}");
    let r = try_request("GET /nowhere").await;
    let err = r.stderr();
    assert_eq!(r.code(), Some(2), "{err}");
    assert!(
        err.contains("refused: 404") && err.contains("Not Found"),
        "{err}"
    );
}

#[tokio::test]
async fn the_open_model_and_a_paced_run_judge_another_api_alike() {
    let api = stand_in(Shape::Nested, false).await;
    for (id, model) in [
        (
            "foreign-open",
            &["--arrival-rate", "100", "--max-users", "16"][..],
        ),
        ("foreign-paced", &["-u", "4", "--user-rate", "25"][..]),
    ] {
        let mut args = vec!["--host", &api.url, "-t", "2"];
        args.extend_from_slice(model);
        args.extend(Shape::Nested.flags());
        let r = run(id, &args).await;
        assert_eq!(r.code(), Some(0), "{id}: {}\n{}", r.stdout(), r.stderr());
        let s = r.summary();
        assert!(
            s.verdict.passed() && s.requests.ok > 20,
            "{id}: {:?}",
            s.requests
        );
        assert_eq!(s.open_model.is_some(), id == "foreign-open", "{id}");
    }
}
