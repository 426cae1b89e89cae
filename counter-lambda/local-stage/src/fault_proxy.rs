//! [`FaultProxy`]: a small HTTP/1.1 proxy on 127.0.0.1 between the
//! handler's DynamoDB client and DynamoDB Local. It forwards every request
//! unchanged until a [`ProxyFault`] is switched on; then it answers as a
//! sick DynamoDB does, on the wire, so the SDK and the store meet the real
//! thing:
//!
//! - [`ProxyFault::Latency`]: forwards, then holds the answer (past the
//!   client's attempt timeout for the first part of the window);
//! - [`ProxyFault::Throttle`]: two requests in three get DynamoDB's 400
//!   `ProvisionedThroughputExceededException` / `ThrottlingException`
//!   (not forwarded: a throttled write did not happen);
//! - [`ProxyFault::Errors`]: half get a 500 `InternalServerError` (not
//!   forwarded), half are forwarded and their connection is cut in the
//!   middle of the answer (the write may have happened).
//!
//! When DynamoDB Local cannot be reached, the proxy drops the client's
//! connection without an answer, as a dead endpoint would (an answer such
//! as a 502 would be a fault of the proxy's own invention).

use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::serve::RequestBody;

/// A request the proxy gives up on upstream (DynamoDB Local paused or
/// gone) is dropped after this; the client's own timeouts end sooner.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// What the proxy does to requests while it is switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyFault {
    /// Forward, then answer `long` late until `long_until`, `short` late after.
    Latency {
        long: Duration,
        long_until: Instant,
        short: Duration,
    },
    /// DynamoDB's throttling answers (two requests in three).
    Throttle,
    /// 500 `InternalServerError`, or a connection cut mid-answer.
    Errors,
}

/// The proxy's switch, shared with whoever injects faults.
#[derive(Debug, Default)]
pub struct FaultSwitch {
    fault: Mutex<Option<ProxyFault>>,
    seq: AtomicU64,
}

impl FaultSwitch {
    /// Switches a fault on (`Some`) or off (`None`).
    pub fn set(&self, fault: Option<ProxyFault>) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    pub fn get(&self) -> Option<ProxyFault> {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The proxy, serving until dropped.
#[derive(Debug)]
pub struct FaultProxy {
    url: String,
    switch: Arc<FaultSwitch>,
    server: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`
    /// (`http://127.0.0.1:<port>`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let upstream: hyper::Uri = upstream
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let switch = Arc::new(FaultSwitch::default());
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        let proxy = Proxy {
            upstream,
            client,
            switch: switch.clone(),
        };
        let proxy = Arc::new(proxy);
        let server = tokio::spawn(crate::serve::serve_fallible(
            listener,
            move |req| {
                let proxy = proxy.clone();
                async move { proxy.answer(req).await }
            },
            crate::serve::ServeOptions::default(),
        ));
        Ok(Self {
            url,
            switch,
            server,
        })
    }

    /// Where the SDK should send its requests.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn switch(&self) -> Arc<FaultSwitch> {
        self.switch.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Proxy {
    upstream: hyper::Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    switch: Arc<FaultSwitch>,
}

/// Why the proxy drops a connection without an answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Dropped(String);

impl Proxy {
    /// The answer, or an error: hyper then closes the connection unanswered.
    async fn answer(
        &self,
        req: hyper::Request<RequestBody>,
    ) -> Result<hyper::Response<ProxyBody>, Dropped> {
        let n = self.switch.seq.fetch_add(1, Ordering::Relaxed);
        match self.switch.get() {
            None => self.forward(req).await.map(|r| r.map(ProxyBody::whole)),
            Some(ProxyFault::Latency {
                long,
                long_until,
                short,
            }) => {
                let late = if Instant::now() < long_until {
                    long
                } else {
                    short
                };
                let response = self.forward(req).await;
                tokio::time::sleep(late).await;
                response.map(|r| r.map(ProxyBody::whole))
            }
            Some(ProxyFault::Throttle) if n % 3 != 2 => Ok(throttled(n.is_multiple_of(2))),
            Some(ProxyFault::Throttle) => self.forward(req).await.map(|r| r.map(ProxyBody::whole)),
            Some(ProxyFault::Errors) if n.is_multiple_of(2) => Ok(internal_error()),
            Some(ProxyFault::Errors) => {
                let response = self.forward(req).await?;
                Ok(response.map(ProxyBody::cut))
            }
        }
    }

    /// Sends the request to DynamoDB Local, headers unchanged, and reads
    /// the whole answer.
    async fn forward(
        &self,
        req: hyper::Request<RequestBody>,
    ) -> Result<hyper::Response<Bytes>, Dropped> {
        let (mut parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| Dropped(format!("reading the request: {e}")))?
            .to_bytes();
        let mut uri = hyper::Uri::builder();
        if let Some(scheme) = self.upstream.scheme() {
            uri = uri.scheme(scheme.clone());
        }
        if let Some(authority) = self.upstream.authority() {
            uri = uri.authority(authority.clone());
        }
        parts.uri = uri
            .path_and_query(parts.uri.path_and_query().map_or("/", |p| p.as_str()))
            .build()
            .map_err(|e| Dropped(e.to_string()))?;
        let request = hyper::Request::from_parts(parts, Full::new(body));
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| Dropped(format!("upstream: {e}")))?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| Dropped(format!("upstream body: {e}")))?
                .to_bytes();
            Ok(hyper::Response::from_parts(parts, body))
        };
        tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
            .await
            .map_err(|_| Dropped("upstream timed out".into()))?
    }
}

/// An error answer shaped as DynamoDB sends it (JSON 1.0 protocol).
fn dynamodb_error(
    status: u16,
    type_id: &str,
    short: &str,
    message: &str,
) -> hyper::Response<ProxyBody> {
    let body = format!(r#"{{"__type":"{type_id}","message":"{message}"}}"#);
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", short)
        .header(
            "x-amzn-requestid",
            "FAULTPROXY0000000000000000000000000000000000000000",
        )
        .header("content-length", body.len())
        .body(ProxyBody::whole(Bytes::from(body)))
        .unwrap_or_else(|_| hyper::Response::new(ProxyBody::whole(Bytes::new())))
}

fn throttled(provisioned: bool) -> hyper::Response<ProxyBody> {
    if provisioned {
        dynamodb_error(
            400,
            "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
            "ProvisionedThroughputExceededException",
            "The level of configured provisioned throughput for the table was exceeded. \
             Consider increasing your provisioning level with the UpdateTable API.",
        )
    } else {
        dynamodb_error(
            400,
            "com.amazon.coral.availability#ThrottlingException",
            "ThrottlingException",
            "Rate of requests exceeds the allowed throughput.",
        )
    }
}

fn internal_error() -> hyper::Response<ProxyBody> {
    dynamodb_error(
        500,
        "com.amazonaws.dynamodb.v20120810#InternalServerError",
        "InternalServerError",
        "Internal server error",
    )
}

/// A response body: whole, or cut after its first half (the connection
/// is then closed mid-answer).
#[derive(Debug)]
pub(crate) struct ProxyBody {
    data: Option<Bytes>,
    cut: bool,
}

impl ProxyBody {
    fn whole(data: Bytes) -> Self {
        Self {
            data: Some(data),
            cut: false,
        }
    }

    fn cut(data: Bytes) -> Self {
        Self {
            data: Some(data.slice(..data.len() / 2)),
            cut: true,
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.data.take() {
            Some(data) if !data.is_empty() => Poll::Ready(Some(Ok(Frame::data(data)))),
            _ if self.cut => {
                self.cut = false;
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fault proxy: connection cut mid-answer",
                ))))
            }
            _ => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && !self.cut
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, self.cut) {
            (Some(d), false) => SizeHint::with_exact(d.len() as u64),
            _ => SizeHint::default(),
        }
    }
}
