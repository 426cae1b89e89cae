//! The real `bootstrap` executable, run as Lambda runs it: against a local
//! Lambda Runtime API (`/2018-06-01/runtime/invocation/...`) that hands it
//! real API Gateway v1, v2 and function-URL events, with DynamoDB Local
//! behind it.
//!
//! Set `BOOTSTRAP_BIN` to test another build of it (CI tests the
//! size-tuned `--profile lambda-release` binary that gets deployed).

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use local_stage::{RequestBody, ServeOptions};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::events::event;
use crate::helpers::{fresh_table, shared_dynamodb};

/// What the function posted back for one invocation.
#[derive(Debug)]
enum Outcome {
    Response(Value),
    Error(Value),
}

struct Invocation {
    id: String,
    event: String,
    done: oneshot::Sender<Outcome>,
}

/// A local Lambda Runtime API: `/next` waits for the next queued event,
/// `/response` and `/error` complete it.
struct RuntimeApi {
    addr: String,
    queue: mpsc::Sender<Invocation>,
    first_poll: Arc<Mutex<Option<Instant>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Pending = Arc<Mutex<std::collections::HashMap<String, oneshot::Sender<Outcome>>>>;

async fn runtime_api() -> RuntimeApi {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (queue, rx) = mpsc::channel::<Invocation>(16);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let pending: Pending = Arc::default();
    let first_poll: Arc<Mutex<Option<Instant>>> = Arc::default();
    let first = first_poll.clone();
    let server = tokio::spawn(local_stage::serve(
        listener,
        move |req| {
            let (rx, pending, first) = (rx.clone(), pending.clone(), first.clone());
            async move { answer(req, rx, pending, first).await }
        },
        ServeOptions::default(),
    ));
    RuntimeApi {
        addr,
        queue,
        first_poll,
        server,
    }
}

async fn answer(
    req: hyper::Request<RequestBody>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Invocation>>>,
    pending: Pending,
    first_poll: Arc<Mutex<Option<Instant>>>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let reply = |status: u16, body: &str| {
        hyper::Response::builder()
            .status(status)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap_or_default()
    };
    if path == "/2018-06-01/runtime/invocation/next" {
        first_poll
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(Instant::now);
        let Some(inv) = rx.lock().await.recv().await else {
            return reply(500, "shutting down");
        };
        pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(inv.id.clone(), inv.done);
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() + 10_000)
            .unwrap_or(0);
        return hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", inv.id.as_str())
            .header("lambda-runtime-deadline-ms", deadline.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-west-1:123456789012:function:visitor-counter",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-6743a1b2-1a2b3c4d5e6f7a8b9c0d1e2f;Sampled=0",
            )
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(inv.event)))
            .unwrap_or_default();
    }
    let parts: Vec<&str> = path
        .trim_start_matches("/2018-06-01/runtime/invocation/")
        .split('/')
        .collect();
    if let [id, kind @ ("response" | "error")] = parts.as_slice() {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if let Some(done) = pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(*id)
        {
            let _ = done.send(if *kind == "response" {
                Outcome::Response(value)
            } else {
                Outcome::Error(value)
            });
        }
        return reply(202, r#"{"status":"OK"}"#);
    }
    reply(404, "unknown runtime API path")
}

impl RuntimeApi {
    async fn invoke(&self, id: &str, event: String) -> Outcome {
        let (done, result) = oneshot::channel();
        self.queue
            .send(Invocation {
                id: id.to_owned(),
                event,
                done,
            })
            .await
            .expect("queue");
        tokio::time::timeout(Duration::from_secs(20), result)
            .await
            .expect("the function answered within 20 s")
            .expect("an outcome")
    }
}

/// `BOOTSTRAP_BIN` (relative to the workspace root), or this build's binary.
fn bootstrap_bin() -> String {
    match std::env::var("BOOTSTRAP_BIN") {
        Ok(p) if std::path::Path::new(&p).is_relative() => {
            format!("{}/../{p}", env!("CARGO_MANIFEST_DIR"))
        }
        Ok(p) => p,
        Err(_) => env!("CARGO_BIN_EXE_bootstrap").to_owned(),
    }
}

/// The status, parsed body and headers of an API Gateway-shaped function
/// response (REST responses carry headers in `multiValueHeaders`).
fn http_of(outcome: &Outcome) -> (u64, Value, Value) {
    let Outcome::Response(r) = outcome else {
        panic!("expected a response, got {outcome:?}");
    };
    let body: Value =
        serde_json::from_str(r["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
    let mut headers = r["headers"].as_object().cloned().unwrap_or_default();
    if let Some(multi) = r["multiValueHeaders"].as_object() {
        for (name, values) in multi {
            headers
                .entry(name.to_lowercase())
                .or_insert_with(|| values[0].clone());
        }
    }
    (
        r["statusCode"].as_u64().unwrap_or(0),
        body,
        Value::Object(headers),
    )
}

#[tokio::test]
async fn the_bootstrap_binary_serves_every_event_kind_and_reports_bad_events_to_error() {
    let api = runtime_api().await;
    let table = fresh_table();
    let client = local_stage::local_client(&shared_dynamodb().endpoint(), Default::default()).await;
    local_stage::create_table(&client, &table)
        .await
        .expect("table");

    let started = Instant::now();
    let mut child = tokio::process::Command::new(bootstrap_bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "visitor-counter")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/visitor-counter")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/24/[$LATEST]test")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_ENDPOINT_URL_DYNAMODB", shared_dynamodb().endpoint())
        .env("TABLE_NAME", &table)
        .env("ALLOWED_ORIGINS", "https://site.example")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("bootstrap starts");

    // The three event kinds, each counted.
    let mut expected = 0;
    for (i, kind) in ["apigw-rest-v1", "apigw-http-v2", "function-url"]
        .into_iter()
        .enumerate()
    {
        expected += 1;
        let outcome = api
            .invoke(&format!("req-{i}"), event(kind, "POST", "/runtime"))
            .await;
        let (status, body, headers) = http_of(&outcome);
        assert_eq!(status, 200, "{kind}: {outcome:?}");
        assert_eq!(
            body,
            serde_json::json!({"path": "/runtime", "count": expected}),
            "{kind}"
        );
        assert_eq!(headers["cache-control"], "no-store", "{kind}");
        assert_eq!(
            headers["access-control-allow-origin"], "https://site.example",
            "{kind}"
        );
    }
    let first_poll = api
        .first_poll
        .lock()
        .map(|g| *g)
        .ok()
        .flatten()
        .expect("polled /next");
    eprintln!(
        "bootstrap {}: first /next poll {:.1} ms after spawn",
        bootstrap_bin(),
        first_poll.duration_since(started).as_secs_f64() * 1000.0
    );

    // A GET reads; a bad path is a 400 response, not a function error.
    let (status, body, _) = http_of(
        &api.invoke("req-get", event("apigw-http-v2", "GET", "/runtime"))
            .await,
    );
    assert_eq!((status, body["count"].as_u64()), (200, Some(3)));
    let (status, body, _) = http_of(
        &api.invoke("req-bad", event("apigw-rest-v1", "POST", "relative"))
            .await,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_path"))
    );

    // An event that is no HTTP event at all reaches /error...
    match api
        .invoke(
            "req-not-http",
            r#"{"Records": [{"eventSource": "aws:sqs"}]}"#.to_owned(),
        )
        .await
    {
        Outcome::Error(e) => assert!(
            e["errorType"].is_string() && e["errorMessage"].is_string(),
            "{e}"
        ),
        other => panic!("expected /error, got {other:?}"),
    }
    // ...and the process goes on serving: no crash loop.
    assert!(
        child.try_wait().expect("status").is_none(),
        "bootstrap still running"
    );
    let (status, body, _) = http_of(
        &api.invoke("req-after", event("function-url", "POST", "/runtime"))
            .await,
    );
    assert_eq!((status, body["count"].as_u64()), (200, Some(4)));

    let _ = child.kill().await;
    let output = child.wait_with_output().await.expect("output");
    let logs = String::from_utf8_lossy(&output.stdout);
    let first = logs.lines().next().unwrap_or_default();
    assert!(
        serde_json::from_str::<Value>(first).is_ok(),
        "logs are JSON lines: {first:?}"
    );
}
