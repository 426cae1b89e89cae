//! The virtual users' one transaction, `POST /visits`, and the state they
//! share: the recorder, the bounds, the abort rule.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use counter_api::CountBody;
use goose::goose::GooseResponse;
use goose::prelude::*;
use hdrhistogram::Histogram;

use super::progress::LiveStats;
use super::recorder::Recorder;
use super::schedule::Pacing;
use crate::analysis::observation::{Observation, Outcome};
use crate::analysis::stats::{ServerTiming, new_histogram, server_timing_app_ms};

/// Shards of the `Server-Timing` histogram: a user records into its own
/// (user % shards), each made on first use (a run whose stage does not
/// send the header allocates none).
const TIMING_SHARDS: usize = 16;

/// What the run's users share.
pub struct RunState {
    pub recorder: Recorder,
    /// What progress shows while the run goes.
    pub live: LiveStats,
    /// Observation times count from here.
    pub clock: Instant,
    url: String,
    path: String,
    node: u16,
    /// Requests begun; none begins past `max_requests`.
    started: AtomicU64,
    pub total: AtomicU64,
    errors: AtomicU64,
    pub response_bytes: AtomicU64,
    /// The handler's own time per response (`Server-Timing: app;dur=`), µs.
    server_timing: Vec<Mutex<Option<Histogram<u64>>>>,
    abort_rate: f64,
    abort_min: u64,
    max_requests: u64,
    pub aborted: OnceLock<String>,
    pub stopped: OnceLock<String>,
    user_interval: Option<Duration>,
}

/// The bounds and rules a run's users obey.
#[derive(Debug, Clone)]
pub struct UserRules {
    pub abort_error_rate: f64,
    pub abort_min_requests: u64,
    pub max_requests: u64,
    /// `--user-rate`: each user's interval between intended sends.
    pub user_interval: Option<Duration>,
}

impl RunState {
    /// `initial`: the count read before the run (progress spots duplicates
    /// above it).
    pub fn new(url: String, path: String, node: u16, initial: u64, rules: &UserRules) -> Self {
        Self {
            recorder: Recorder::new(256),
            live: LiveStats::new(initial, rules.max_requests),
            clock: Instant::now(),
            url,
            path,
            node,
            started: AtomicU64::new(0),
            total: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            response_bytes: AtomicU64::new(0),
            server_timing: (0..TIMING_SHARDS).map(|_| Mutex::new(None)).collect(),
            abort_rate: rules.abort_error_rate,
            abort_min: rules.abort_min_requests,
            max_requests: rules.max_requests,
            aborted: OnceLock::new(),
            stopped: OnceLock::new(),
            user_interval: rules.user_interval,
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    fn record(&self, user: usize, op: Observation) {
        self.live.observe(&op);
        self.recorder.record(user, op);
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        let errors = if op.outcome == Outcome::Ok {
            self.errors.load(Ordering::Relaxed)
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed) + 1
        };
        if total >= self.abort_min && errors as f64 / total as f64 > self.abort_rate {
            self.abort(format!(
                "error rate {:.1}% after {total} requests passed --abort-error-rate {:.1}%",
                100.0 * errors as f64 / total as f64,
                100.0 * self.abort_rate
            ));
        }
        if total >= self.max_requests {
            self.stop(format!("reached --max-requests {}", self.max_requests));
        }
    }

    /// Stops the run as failed (goose's killswitch); the first reason is kept.
    pub fn abort(&self, reason: String) {
        if self.aborted.set(reason.clone()).is_ok() {
            goose::trigger_killswitch(&reason);
        }
    }

    /// Stops the run at one of its bounds: not a failure.
    pub fn stop(&self, reason: String) {
        if self.stopped.set(reason.clone()).is_ok() {
            goose::trigger_killswitch(&reason);
        }
    }

    fn record_server_timing(&self, user: usize, ms: f64) {
        let shard = &self.server_timing[user % TIMING_SHARDS];
        let mut h = shard.lock().unwrap_or_else(|e| e.into_inner());
        h.get_or_insert_with(new_histogram)
            .saturating_record(((ms * 1000.0).round() as u64).max(1));
    }

    /// The handler's own time over the run, if its responses said.
    pub fn server_timing(&self) -> Option<ServerTiming> {
        let mut all = new_histogram();
        for shard in &self.server_timing {
            if let Some(h) = shard.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                // Same bounds: adding cannot fail.
                let _ = all.add(h);
            }
        }
        ServerTiming::of(&all)
    }

    /// Mean response body size over all requests.
    pub fn response_bytes_mean(&self) -> f64 {
        let total = self.total.load(Ordering::Relaxed);
        if total == 0 {
            return 0.0;
        }
        self.response_bytes.load(Ordering::Relaxed) as f64 / total as f64
    }
}

/// The goose transaction every user runs.
pub fn visit_transaction(state: Arc<RunState>) -> Transaction {
    Transaction::new(Arc::new(move |user| {
        let state = state.clone();
        Box::pin(async move { post_visit(user, &state).await })
    }))
    .set_name("POST /visits")
}

/// One request: POST, classify the answer, record it.
async fn post_visit(user: &mut GooseUser, state: &RunState) -> TransactionResult {
    // The request bound is hard: goose notices its killswitch only between
    // iterations, so past the bound users idle instead of sending.
    if state.started.fetch_add(1, Ordering::Relaxed) >= state.max_requests {
        state.stop(format!("reached --max-requests {}", state.max_requests));
        tokio::time::sleep(Duration::from_millis(20)).await;
        return Ok(());
    }
    let start_ns = match state.user_interval {
        Some(interval) => {
            let intended = wait_for_slot(user, interval).await;
            intended.saturating_duration_since(state.clock).as_nanos() as u64
        }
        None => state.now_ns(),
    };
    let response = user.post(&state.url, "").await;
    if let Err(e) = &response
        && matches!(**e, TransactionError::RequestCanceled { .. })
    {
        // Never sent: the run ended while this user waited on goose's
        // throttle. Not an operation at all, so not an unknown one.
        return Ok(());
    }
    let (status, outcome, count, server_ms) = classify(response, state).await;
    let end_ns = state.now_ns();
    if let Some(ms) = server_ms {
        state.record_server_timing(user.weighted_users_index, ms);
    }
    state.record(
        user.weighted_users_index,
        Observation {
            start_ns,
            end_ns,
            count,
            status,
            node: state.node,
            outcome,
        },
    );
    Ok(())
}

/// Waits for this user's next slot; returns the intended send time.
async fn wait_for_slot(user: &mut GooseUser, interval: Duration) -> Instant {
    let now = Instant::now();
    let (slot, wait) = match user.get_session_data_mut::<Pacing>() {
        Some(pacing) => pacing.next_slot(now),
        None => {
            let mut pacing = Pacing::starting(now, interval);
            let first = pacing.next_slot(now);
            user.set_session_data(pacing);
            first
        }
    };
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    slot
}

/// A response → (status, outcome, count, the handler's Server-Timing ms).
/// A 200 must carry this run's path and a count; anything else that is
/// not a definite 4xx may have counted, so it is unknown.
async fn classify(
    result: Result<GooseResponse, Box<TransactionError>>,
    state: &RunState,
) -> (u16, Outcome, u64, Option<f64>) {
    let Ok(GooseResponse {
        response: Ok(response),
        ..
    }) = result
    else {
        return (0, Outcome::Unknown, 0, None);
    };
    let status = response.status().as_u16();
    let server_ms = response
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(server_timing_app_ms);
    let body = response.bytes().await;
    if let Ok(b) = &body {
        state
            .response_bytes
            .fetch_add(b.len() as u64, Ordering::Relaxed);
    }
    let (outcome, count) = match (status, body) {
        (200, Ok(bytes)) => match serde_json::from_slice::<CountBody>(&bytes) {
            Ok(b) if b.path == state.path => (Outcome::Ok, b.count),
            // A 200 that makes no sense: the write may have happened.
            _ => (Outcome::Unknown, 0),
        },
        (400..=499, _) => (Outcome::Failed, 0),
        _ => (Outcome::Unknown, 0),
    };
    (status, outcome, count, server_ms)
}
