//! Metrics a dashboard reads while the run goes: with `--metrics-addr`,
//! `GET /metrics` in the Prometheus text format (0.0.4), and, always,
//! `per-second.jsonl` in the run directory ([`super::per_second`]).
//!
//! Nothing here is on the request path. A scrape reads [`LiveStats`]'s
//! atomics through a `prometheus-client` collector, so the users pay for
//! the figures once, in `LiveStats::observe`, whether anyone scrapes or
//! not. When the load ends, the exposition is frozen at the final figures
//! (what summary.json then counts), the run state is let go, and the
//! server keeps answering with those until the run is over, or, with
//! `--metrics-linger`, until one scrape has read them.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet, prometheus_text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use super::per_second::PerSecondWriter;
use super::progress::{LiveCounts, bucket_top};
use super::signals;
use super::users::RunState;
use crate::UsageError;

/// Connections served at once; more wait in the accept queue's place:
/// they are closed at once.
const MAX_CONNECTIONS: usize = 16;
/// A connection lives at most this long (Prometheus opens another).
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// The request head must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// The `--metrics-addr` socket, bound before anything else starts, so a
/// taken port is a usage error that changes nothing.
pub async fn bind(addr: Option<SocketAddr>) -> Result<Option<TcpListener>, UsageError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| UsageError(format!("--metrics-addr {addr}: cannot listen there: {e}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    super::status(&format!("Metrics: http://{bound}/metrics"));
    Ok(Some(listener))
}

/// Who the figures are of: the run info metric's labels.
#[derive(Debug, Clone)]
pub struct RunLabels {
    pub run_id: String,
    pub node: u16,
}

/// What the run exports while it goes: `/metrics` (if asked for) and
/// `per-second.jsonl`. Both hold the run state until [`LiveExport::finish`]
/// (or drop).
pub struct LiveExport {
    metrics: Option<Server>,
    per_second: PerSecondWriter,
}

impl LiveExport {
    /// Starts serving on `listener` (if any) and writing `per-second.jsonl`
    /// into `dir`, before the load begins.
    pub fn start(
        listener: Option<TcpListener>,
        state: &Arc<RunState>,
        dir: &Path,
        labels: RunLabels,
    ) -> anyhow::Result<Self> {
        let per_second = PerSecondWriter::start(state.clone(), dir)?;
        let metrics = listener.map(|l| Server::start(l, state.clone(), labels));
        Ok(Self {
            metrics,
            per_second,
        })
    }

    /// The load is over: writes the last per-second line, freezes
    /// `/metrics` at the final figures and lets the run state go. The
    /// server answers until the returned value is dropped. From here a
    /// signal no longer interrupts the run ([`signals::settle`]): it ends
    /// the linger.
    pub fn finish(self) -> FinalMetrics {
        signals::settle();
        self.per_second.finish();
        FinalMetrics(self.metrics.inspect(|s| s.exposition.freeze()))
    }
}

/// `/metrics` after the load: the final figures, served until dropped.
pub struct FinalMetrics(Option<Server>);

impl FinalMetrics {
    /// Keeps serving until one scrape has read the final figures, at most
    /// `limit_secs` (a run ending between two of Prometheus's scrapes
    /// otherwise leaves its last seconds unseen), or until a signal: the
    /// run is recorded, and whoever sent it wants the process gone.
    pub async fn linger(self, limit_secs: u64) {
        let Some(server) = &self.0 else { return };
        if limit_secs == 0 {
            return;
        }
        super::status(&format!(
            "Metrics: serving the final figures until scraped once (at most {limit_secs} s; a signal ends it)"
        ));
        let limit = Duration::from_secs(limit_secs);
        let scraped = server.exposition.final_scraped.notified();
        tokio::select! {
            _ = tokio::time::timeout(limit, scraped) => {}
            () = signals::after_the_load() => {}
        }
    }
}

/// The accept loop's task, aborted on drop (connections already open end
/// within [`CONNECTION_LIFETIME`]).
struct Server {
    exposition: Arc<Exposition>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    fn start(listener: TcpListener, state: Arc<RunState>, labels: RunLabels) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(LiveCollector { state, labels }));
        let exposition = Arc::new(Exposition {
            source: Mutex::new(Source::Live(registry)),
            final_scraped: Notify::new(),
        });
        let served = exposition.clone();
        let task = tokio::spawn(http_serve::serve(
            listener,
            move |req| {
                let answer = respond(&served, &req);
                async move { answer }
            },
            http_serve::ServeOptions {
                header_read_timeout: HEADER_TIMEOUT,
                max_connections: Some(MAX_CONNECTIONS),
                connection_lifetime: Some(CONNECTION_LIFETIME),
                ..Default::default()
            },
        ));
        Self { exposition, task }
    }
}

/// What a scrape reads: the live collector, or the final text once the
/// load is over (the collector, and with it the run state, dropped).
struct Exposition {
    source: Mutex<Source>,
    /// Signalled when a scrape has read the final figures.
    final_scraped: Notify,
}

enum Source {
    Live(Registry),
    Final(String),
}

impl Exposition {
    fn render(&self) -> String {
        let source = self.source.lock().unwrap_or_else(|e| e.into_inner());
        match &*source {
            Source::Live(registry) => encode(registry),
            Source::Final(text) => {
                self.final_scraped.notify_one();
                text.clone()
            }
        }
    }

    fn freeze(&self) {
        let mut source = self.source.lock().unwrap_or_else(|e| e.into_inner());
        if let Source::Live(registry) = &*source {
            *source = Source::Final(encode(registry));
        }
    }
}

fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    if let Err(e) = prometheus_text::encode(&mut text, registry) {
        tracing::warn!("encoding /metrics: {e}");
    }
    text
}

/// `GET /metrics`; anything else is a 404 or a 405.
fn respond<B>(exposition: &Exposition, req: &Request<B>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    if req.uri().path() != "/metrics" {
        *response.status_mut() = StatusCode::NOT_FOUND;
        *response.body_mut() = Full::new(Bytes::from_static(b"see /metrics\n"));
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
    } else {
        let text = exposition.render();
        response.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
        );
        if req.method() == Method::GET {
            *response.body_mut() = Full::new(Bytes::from(text));
        }
    }
    response
}

/// Reads the run's [`LiveStats`](super::progress::LiveStats) at each scrape.
struct LiveCollector {
    state: Arc<RunState>,
    labels: RunLabels,
}

impl fmt::Debug for LiveCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCollector")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let figures = self.state.live.figures();
        let elapsed = self.state.clock.elapsed().as_secs_f64();
        encode_figures(&mut encoder, &figures, elapsed, &self.labels)
    }
}

/// The figures as metrics, every name prefixed `loadtest_` (docs/metrics.md,
/// "Metrics during a run").
fn encode_figures(
    e: &mut DescriptorEncoder,
    f: &LiveCounts,
    elapsed_s: f64,
    labels: &RunLabels,
) -> fmt::Result {
    let node = labels.node.to_string();
    let info = [("run_id", labels.run_id.as_str()), ("node", node.as_str())];
    e.encode_descriptor(
        "loadtest_run",
        "The run these figures are of.",
        None,
        MetricType::Info,
    )?
    .encode_info(&info)?;
    gauge(
        e,
        "loadtest_elapsed_seconds",
        "Seconds since the run's clock started.",
        elapsed_s,
    )?;
    let mut m = e.encode_descriptor(
        "loadtest_requests",
        "Requests answered or given up on, by outcome: ok (a count came back), failed (a definite 4xx), unknown (no answer, 5xx, or a 200 without this run's count).",
        None,
        MetricType::Counter,
    )?;
    for (outcome, n) in [("ok", f.ok), ("failed", f.failed), ("unknown", f.unknown)] {
        ConstCounter::new(n).encode(m.encode_family(&[("outcome", outcome)])?)?;
    }
    let mut m = e.encode_descriptor(
        "loadtest_requests_by_status",
        "Requests by HTTP status; status=\"0\": no response came (as summary.json's by_status).",
        None,
        MetricType::Counter,
    )?;
    for (status, n) in &f.by_status {
        let status = status.to_string();
        ConstCounter::new(*n).encode(m.encode_family(&[("status", status)])?)?;
    }
    encode_latency(e, f)?;
    gauge(
        e,
        "loadtest_requests_in_flight",
        "Requests sent and not yet answered.",
        f.in_flight as f64,
    )?;
    counter(
        e,
        "loadtest_dropped_iterations",
        "Open model: iterations due when no user was free, so never sent.",
        f.dropped,
    )?;
    counter(
        e,
        "loadtest_duplicate_counts",
        "Ok answers whose count an earlier one returned: lost updates the uniqueness check will report.",
        f.duplicates,
    )
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, n: u64) -> fmt::Result {
    let c = ConstCounter::new(n);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: f64) -> fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

/// The live histogram (8 buckets per power of two) as Prometheus buckets,
/// two per power of two from 96 µs to 67 s: its edges, so each `le`
/// count is exact to the microsecond.
fn encode_latency(e: &mut DescriptorEncoder, f: &LiveCounts) -> fmt::Result {
    let buckets = prometheus_buckets(&f.latency);
    let count = f.latency.iter().sum();
    let mut m = e.encode_descriptor(
        "loadtest_request_duration_seconds",
        "Request latency (from the intended send time with --user-rate or an arrival rate), every outcome.",
        None,
        MetricType::Histogram,
    )?;
    m.encode_histogram::<NoLabelSet>(f.latency_sum_us as f64 / 1e6, count, &buckets, None)
}

/// Live bucket of the lowest and highest Prometheus edge: 96 µs and 67 s.
const FIRST_EDGE_BUCKET: usize = 35;
const LAST_EDGE_BUCKET: usize = 191;

/// (upper edge in seconds, requests in (previous edge, edge]) from the
/// live buckets; what lies past the last edge counts only in `+Inf`.
fn prometheus_buckets(live: &[u64]) -> Vec<(f64, u64)> {
    let mut out = Vec::new();
    let mut pending = 0;
    for (b, n) in live.iter().enumerate().take(LAST_EDGE_BUCKET + 1) {
        pending += n;
        if b >= FIRST_EDGE_BUCKET && b % 4 == 3 {
            out.push(((bucket_top(b) + 1) as f64 / 1e6, pending));
            pending = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_edges_are_live_bucket_edges_from_96_us_to_67_s() {
        assert_eq!(bucket_top(FIRST_EDGE_BUCKET) + 1, 96);
        assert_eq!(bucket_top(LAST_EDGE_BUCKET) + 1, 1 << 26);
        let mut live = vec![0u64; 512];
        live[0] = 2; // 0 µs: below the first edge, in it
        live[36] = 3; // just past 96 µs
        live[400] = 5; // past 67 s: only in +Inf
        let b = prometheus_buckets(&live);
        assert_eq!(b.len(), 40, "two edges per power of two");
        assert_eq!(b[0], (0.000096, 2));
        assert_eq!(b[1], (0.000128, 3));
        assert!(b.windows(2).all(|w| w[0].0 < w[1].0), "edges rise");
        assert_eq!(
            b.iter().map(|(_, n)| n).sum::<u64>(),
            5,
            "+Inf holds the rest"
        );
    }
}
