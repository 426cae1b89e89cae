//! The benchmark's target: a minimal atomic visitor counter over hyper,
//! HTTP/1.1 keep-alive, one thread (pin it to a core). `POST /visits?path=P`
//! adds one to P's count and answers `{"path":P,"count":n}`; `GET` reads it.
//! Anything else is 404. It exists to load generators, not to be an API:
//! see `bench/generators.sh`.
//!
//! `cargo run --release -p loadtest --example bench_target [PORT]` prints
//! `http://127.0.0.1:<port>` on its first line (PORT 0 or none: a free one).

use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::rc::Rc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Counts by decoded path. One thread serves every connection, so a
/// `RefCell` is the whole of the atomicity: one request is handled at a time.
type Counts = Rc<RefCell<HashMap<String, u64>>>;

fn answer(req: &Request<Incoming>, counts: &Counts) -> Response<Full<Bytes>> {
    let path = match counter_api::path_from_query(req.uri().query()) {
        Ok(p) if req.uri().path() == counter_api::VISITS_ROUTE => p,
        _ => return status(StatusCode::NOT_FOUND),
    };
    let count = {
        let mut counts = counts.borrow_mut();
        let slot = counts.entry(path.clone()).or_insert(0);
        match *req.method() {
            Method::POST => *slot += 1,
            Method::GET => {}
            _ => return status(StatusCode::METHOD_NOT_ALLOWED),
        }
        *slot
    };
    let body = serde_json::to_vec(&counter_api::CountBody { path, count }).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}

fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::args().nth(1).map_or(Ok(0), |p| p.parse())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let mut out = std::io::stdout();
        writeln!(out, "http://{}", listener.local_addr()?)?;
        out.flush()?;
        let counts: Counts = Rc::default();
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let counts = counts.clone();
            tokio::task::spawn_local(async move {
                let service = service_fn(move |req| {
                    let r = answer(&req, &counts);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
