//! One execution environment's Lambda Runtime API on 127.0.0.1
//! (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
//! `GET /2018-06-01/runtime/invocation/next` (held until there is an
//! event), `POST .../invocation/{id}/response`, `POST .../invocation/{id}/error`
//! and `POST .../runtime/init/error`. Every call is passed to the
//! environment that owns the API ([`super::lambda`]), which decides.

use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::serve::{RequestBody, ServeOptions, serve};

const PREFIX: &str = "/2018-06-01/runtime/";

/// Lambda's synchronous payload limit, for a response: 6 MB
/// (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// An event handed to the runtime, with the headers `/next` carries.
#[derive(Debug)]
pub struct Delivery {
    pub request_id: String,
    pub deadline_ms: u64,
    pub function_arn: String,
    pub trace_id: String,
    pub event: Bytes,
}

/// A call the runtime made.
#[derive(Debug)]
pub enum Call {
    /// `/next`: answer with the next event (the sender is the held request).
    Next(oneshot::Sender<Delivery>),
    /// `/response` or `/error` (`error: true`) for a request id.
    Done {
        request_id: String,
        error: bool,
        body: Bytes,
        reply: oneshot::Sender<Reply>,
    },
    /// `/init/error`.
    InitError { body: Bytes },
}

/// How the environment answers `/response` and `/error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Accepted,
    /// Not the invocation in flight.
    UnknownRequest,
}

/// The API, served until dropped.
#[derive(Debug)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    server: JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    pub async fn start(calls: mpsc::Sender<Call>) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        // `/next` is held as long as the environment waits for work: no
        // header timeout may cut a runtime's idle poll, only its own.
        let options = ServeOptions {
            header_read_timeout: std::time::Duration::from_secs(3600),
            body_read_timeout: std::time::Duration::from_secs(60),
            ..ServeOptions::default()
        };
        let server = tokio::spawn(serve(
            listener,
            move |req| {
                let calls = calls.clone();
                async move { answer(req, calls).await }
            },
            options,
        ));
        Ok(Self { addr, server })
    }
}

fn reply(status: u16, body: &str) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap_or_default()
}

/// The errors the Runtime API answers with (its OpenAPI's shapes).
fn error(status: u16, kind: &str, message: &str) -> hyper::Response<Full<Bytes>> {
    reply(
        status,
        &serde_json::json!({"errorType": kind, "errorMessage": message}).to_string(),
    )
}

async fn answer(
    req: hyper::Request<RequestBody>,
    calls: mpsc::Sender<Call>,
) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return error(404, "NotFound", "not a Runtime API path");
    };
    let method = req.method().clone();
    match (method.as_str(), rest) {
        ("GET", "invocation/next") => next(calls).await,
        ("POST", "init/error") => {
            let body = read(req).await.unwrap_or_default();
            let _ = calls.send(Call::InitError { body }).await;
            reply(202, r#"{"status":"OK"}"#)
        }
        ("POST", rest) => match rest
            .strip_prefix("invocation/")
            .and_then(|r| r.rsplit_once('/'))
        {
            Some((id, kind @ ("response" | "error"))) => {
                let id = id.to_owned();
                done(req, calls, id, kind == "error").await
            }
            _ => error(404, "NotFound", "not a Runtime API path"),
        },
        _ => error(405, "MethodNotAllowed", "not a Runtime API method"),
    }
}

async fn next(calls: mpsc::Sender<Call>) -> hyper::Response<Full<Bytes>> {
    let (tx, rx) = oneshot::channel();
    if calls.send(Call::Next(tx)).await.is_err() {
        return error(
            500,
            "ServiceException",
            "the execution environment is shutting down",
        );
    }
    match rx.await {
        Ok(d) => hyper::Response::builder()
            .header("lambda-runtime-aws-request-id", d.request_id.as_str())
            .header("lambda-runtime-deadline-ms", d.deadline_ms.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                d.function_arn.as_str(),
            )
            .header("lambda-runtime-trace-id", d.trace_id.as_str())
            .header("content-type", "application/json")
            .body(Full::new(d.event))
            .unwrap_or_default(),
        Err(_) => error(
            500,
            "ServiceException",
            "the execution environment is shutting down",
        ),
    }
}

async fn done(
    req: hyper::Request<RequestBody>,
    calls: mpsc::Sender<Call>,
    request_id: String,
    is_error: bool,
) -> hyper::Response<Full<Bytes>> {
    let Some(body) = read(req).await else {
        return error(
            413,
            "RequestEntityTooLarge",
            &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
        );
    };
    let (tx, rx) = oneshot::channel();
    let call = Call::Done {
        request_id,
        error: is_error,
        body,
        reply: tx,
    };
    if calls.send(call).await.is_err() {
        return error(
            500,
            "ServiceException",
            "the execution environment is shutting down",
        );
    }
    match rx.await {
        Ok(Reply::Accepted) => reply(202, r#"{"status":"OK"}"#),
        Ok(Reply::UnknownRequest) => error(400, "InvalidRequestID", "Invalid request ID"),
        Err(_) => error(
            500,
            "ServiceException",
            "the execution environment is shutting down",
        ),
    }
}

/// The body, or `None` past the response limit.
async fn read(req: hyper::Request<RequestBody>) -> Option<Bytes> {
    Limited::new(req.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .ok()
        .map(|b| b.to_bytes())
}
