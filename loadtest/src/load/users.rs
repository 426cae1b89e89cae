//! The virtual users' one transaction, the counting request, and the
//! state they share: the request and how its answer is judged, the
//! recorder, the bounds, the abort rule.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use goose::prelude::*;
use hdrhistogram::Histogram;

use super::arrival::{ArrivalQueue, RateSegment};
use super::client::{Client, Connection, Prepared};
use super::progress::LiveStats;
use super::recorder::{RECORD_BYTES_IN_MEMORY, Recorder};
use super::schedule::Pacing;
use super::signals;
use crate::analysis::answer::AnswerRule;
use crate::analysis::observation::{Lateness, Observation, Outcome};
use crate::analysis::stats::{ServerTiming, new_histogram};

/// Shards of the `Server-Timing` histogram: a user records into its own
/// (user % shards), each made on first use (a run whose stage does not
/// send the header allocates none).
const TIMING_SHARDS: usize = 16;

/// A run whose answers are nearly all throttles (429) stops: past this
/// share of them, after `--abort-min-requests`.
const THROTTLED_ABORT: f64 = 0.99;

/// Room kept for requests after the load (the last counting request with
/// `--read none`, and its retries): the records never regrow.
const OUTSIDE_THE_LOAD: u64 = 8;

/// What the run's users share.
pub struct RunState {
    pub recorder: Recorder,
    /// What progress shows while the run goes.
    pub live: LiveStats,
    /// Observation times count from here.
    pub clock: Instant,
    /// Where each user's own connection goes.
    client: Client,
    /// The counting request, built once.
    request: Prepared,
    /// How its answers are judged.
    rule: AnswerRule,
    node: u16,
    /// Requests begun; none begins past `request_limit`.
    started: AtomicU64,
    pub response_bytes: AtomicU64,
    /// The handler's own time per response (`Server-Timing: app;dur=`), µs.
    server_timing: Vec<Mutex<Option<Histogram<u64>>>>,
    abort_rate: f64,
    abort_min: u64,
    /// Requests the run may begin: `max_requests`, or fewer when
    /// `--max-memory` cannot hold that many records.
    request_limit: u64,
    /// Why the run stops at `request_limit`.
    limit_reason: String,
    pub aborted: OnceLock<String>,
    pub stopped: OnceLock<String>,
    user_interval: Option<Duration>,
    /// The open model's arrival schedule: users take their slots from it.
    pub arrivals: Option<ArrivalQueue>,
}

/// The bounds and rules a run's users obey.
#[derive(Debug, Clone)]
pub struct UserRules {
    pub abort_error_rate: f64,
    pub abort_min_requests: u64,
    pub max_requests: u64,
    /// `--max-memory`: bytes the run's records may take.
    pub max_memory_bytes: u64,
    /// `--user-rate`: each user's interval between intended sends.
    pub user_interval: Option<Duration>,
    /// The open model's arrival schedule, if the run has one.
    pub arrivals: Option<Vec<RateSegment>>,
}

/// What the users send, and how its answers are judged.
pub struct Sending {
    pub client: Client,
    pub request: Prepared,
    pub rule: AnswerRule,
}

impl RunState {
    /// `initial`: the count before the run (progress spots duplicates
    /// above it); `clock`: where observation times count from (the
    /// requests before the load already used it).
    /// Fails when the records' room (reserved now) cannot be had.
    pub fn new(
        sending: Sending,
        node: u16,
        initial: u64,
        rules: &UserRules,
        clock: Instant,
    ) -> anyhow::Result<Self> {
        let memory_limit = rules.max_memory_bytes / RECORD_BYTES_IN_MEMORY;
        let (request_limit, limit_reason) = if memory_limit < rules.max_requests {
            (
                memory_limit,
                format!(
                    "reached --max-memory {:.4} MiB: room for {memory_limit} records of {RECORD_BYTES_IN_MEMORY} bytes",
                    rules.max_memory_bytes as f64 / 1_048_576.0
                ),
            )
        } else {
            (
                rules.max_requests,
                format!("reached --max-requests {}", rules.max_requests),
            )
        };
        let room = request_limit.saturating_add(OUTSIDE_THE_LOAD);
        let recorder = Recorder::with_capacity(room).map_err(|e| {
            anyhow::anyhow!(
                "reserving room for {request_limit} records: {e} (lower --max-memory or --max-requests)"
            )
        })?;
        Ok(Self {
            recorder,
            live: LiveStats::new(initial, request_limit),
            clock,
            client: sending.client,
            request: sending.request,
            rule: sending.rule,
            node,
            started: AtomicU64::new(0),
            response_bytes: AtomicU64::new(0),
            server_timing: (0..TIMING_SHARDS).map(|_| Mutex::new(None)).collect(),
            abort_rate: rules.abort_error_rate,
            abort_min: rules.abort_min_requests,
            request_limit,
            limit_reason,
            aborted: OnceLock::new(),
            stopped: OnceLock::new(),
            user_interval: rules.user_interval,
            arrivals: rules.arrivals.clone().map(ArrivalQueue::new),
        })
    }

    pub fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    /// `t` in observation time (ns since the run's clock started).
    fn ns_at(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.clock).as_nanos() as u64
    }

    /// Records a request sent before or after the load (the first and
    /// last counting requests): an operation of the history, outside the
    /// load's bounds and abort rule.
    pub fn record_outside_the_load(&self, op: Observation) {
        self.live.observe(&op);
        self.recorder.record(op);
    }

    fn record(&self, op: Observation) {
        self.live.observe(&op);
        self.recorder.record(op);
        // The live counters are the run's counts: nothing kept twice.
        let total = self.live.total();
        // A throttle's 429 is a stage protecting itself, not a broken one:
        // the abort judges the answers it let through (the thresholds
        // still judge every answer at the end).
        let throttled = self.live.with_status(429);
        if total >= self.abort_min && throttled as f64 > THROTTLED_ABORT * total as f64 {
            // ...but a stage that refuses nearly everything is not being
            // measured, only billed: stop hammering it.
            self.abort(format!(
                "the stage throttled {throttled} of {total} requests (429): it is refusing this load (lower the rate or raise its throttle)"
            ));
        }
        let judged = total.saturating_sub(throttled);
        let errors = judged - self.live.ok.load(Ordering::Relaxed).min(judged);
        if judged >= self.abort_min && errors as f64 / judged as f64 > self.abort_rate {
            let besides = match throttled {
                0 => String::new(),
                n => format!(" (besides {n} throttled, 429)"),
            };
            self.abort(format!(
                "error rate {:.1}% after {judged} requests{besides} passed --abort-error-rate {:.1}%",
                100.0 * errors as f64 / judged as f64,
                100.0 * self.abort_rate
            ));
        }
        if total >= self.request_limit {
            self.stop(self.limit_reason.clone());
        }
    }

    /// Stops the run as failed (goose's killswitch); the first reason is kept.
    pub fn abort(&self, reason: String) {
        if self.aborted.set(reason.clone()).is_ok() {
            self.close_arrivals();
            goose::trigger_killswitch(&reason);
        }
    }

    /// Stops the run at one of its bounds: not a failure.
    pub fn stop(&self, reason: String) {
        if self.stopped.set(reason.clone()).is_ok() {
            self.close_arrivals();
            goose::trigger_killswitch(&reason);
        }
    }

    /// Open model: goose stops users only between iterations, so the
    /// users waiting for a slot are released here, now.
    fn close_arrivals(&self) {
        if let Some(arrivals) = &self.arrivals {
            arrivals.close();
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
        let total = self.live.total();
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
    .set_name("count a visit")
}

/// Requests sent before the load (the first counting request) count
/// towards the request bound.
pub fn count_towards_the_bound(state: &RunState, requests: u64) {
    state.started.fetch_add(requests, Ordering::Relaxed);
}

/// One request: send, judge the answer, record it.
async fn post_visit(user: &mut GooseUser, state: &RunState) -> TransactionResult {
    let intended = match (&state.arrivals, state.user_interval) {
        (Some(arrivals), _) => match wait_for_arrival(arrivals, state).await {
            Some(slot) => Some(slot),
            // The schedule is over, or the run is stopping: nothing is
            // sent, and the pool idles until goose stops it.
            None => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(());
            }
        },
        (None, Some(interval)) => Some(wait_for_slot(user, interval).await),
        (None, None) => None,
    };
    // The request bound is hard: goose notices its killswitch only between
    // iterations, so past the bound users idle instead of sending.
    if state.started.fetch_add(1, Ordering::Relaxed) >= state.request_limit {
        state.stop(state.limit_reason.clone());
        tokio::time::sleep(Duration::from_millis(20)).await;
        return Ok(());
    }
    // Goose's own client would wait on `--throttle-requests`; this path
    // waits on goose's throttle itself, before the send time is taken.
    if user.is_throttled
        && let Some(throttle) = &user.throttle
        && throttle.send_async(true).await.is_err()
    {
        // Never sent: the run ended while this user waited on the
        // throttle. Not an operation at all, so not an unknown one.
        return Ok(());
    }
    let sent = Sent::now(state, intended);
    let session = session(user);
    let timeout = session.timeout;
    let conn = session.conn.get_mut().unwrap_or_else(|e| e.into_inner());
    let _in_flight = state.live.request_begins();
    let answer = match conn.send(&state.client, &state.request, timeout).await {
        Ok(x) => {
            state
                .response_bytes
                .fetch_add(x.body.len() as u64, Ordering::Relaxed);
            let (outcome, count) = state.rule.judge(x.status, Some(&x.body));
            (x.status, outcome, count, x.server_ms)
        }
        Err(_) => (0, Outcome::Unknown, 0, None),
    };
    finish(user.weighted_users_index, state, sent, answer);
    Ok(())
}

/// When a request left, and how late after its intended time.
#[derive(Clone, Copy)]
struct Sent {
    start_ns: u64,
    late: Lateness,
}

impl Sent {
    /// Sent now; `intended`: its slot in a paced or open run.
    fn now(state: &RunState, intended: Option<Instant>) -> Self {
        let start_ns = state.now_ns();
        let late = intended.map_or(0, |t| start_ns.saturating_sub(state.ns_at(t)));
        Self {
            start_ns,
            late: Lateness::from_ns(late),
        }
    }
}

/// Records one answered (or unanswered) request.
fn finish(
    user: usize,
    state: &RunState,
    sent: Sent,
    (status, outcome, count, server_ms): (u16, Outcome, u64, Option<f64>),
) {
    let end_ns = state.now_ns();
    if let Some(ms) = server_ms {
        state.record_server_timing(user, ms);
    }
    state.record(Observation {
        start_ns: sent.start_ns,
        end_ns,
        count,
        status,
        node: state.node,
        outcome,
        late: sent.late,
    });
}

/// What a user keeps between its requests.
struct Session {
    pacing: Option<Pacing>,
    /// Goose wants session data `Sync`; a hyper sender is not. The lock
    /// is never taken: `&mut` reaches the inside with `get_mut`.
    conn: Mutex<Connection>,
    /// Goose's `--timeout`, as goose's own client would apply it.
    timeout: Duration,
}

/// Goose wants session data `Clone` (a cloned user starts from it): a
/// clone opens its own connection.
impl Clone for Session {
    fn clone(&self) -> Self {
        Self {
            pacing: self.pacing,
            conn: Mutex::default(),
            timeout: self.timeout,
        }
    }
}

/// Seconds a request may take (goose's `--timeout`, which a run defaults
/// to this) before it is unknown.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// This user's session, made on its first request.
fn session(user: &mut GooseUser) -> &mut Session {
    if user.get_session_data::<Session>().is_none() {
        // Goose's own `--timeout`, as goose configured it (the run sets
        // its default: every user sees a value; the command line checked it).
        let timeout = user
            .config
            .timeout
            .as_deref()
            .and_then(|t| t.parse::<f64>().ok())
            .map_or(
                Duration::from_secs(DEFAULT_TIMEOUT_SECS),
                Duration::from_secs_f64,
            );
        user.set_session_data(Session {
            pacing: None,
            conn: Mutex::default(),
            timeout,
        });
    }
    user.get_session_data_unchecked_mut::<Session>()
}

/// Waits for this user's next slot; returns the intended send time.
async fn wait_for_slot(user: &mut GooseUser, interval: Duration) -> Instant {
    let now = Instant::now();
    let session = session(user);
    let pacing = session
        .pacing
        .get_or_insert_with(|| Pacing::starting(now, interval));
    let (slot, wait) = pacing.next_slot(now);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    slot
}

/// Open model: this free user's next arrival slot, waited for; `None`
/// once the schedule is over or the run is stopping (then a slot already
/// claimed is not sent). Slots no user was free for are dropped on the
/// way (counted in `live.dropped`).
async fn wait_for_arrival(arrivals: &ArrivalQueue, state: &RunState) -> Option<Instant> {
    // A signal stops goose without `RunState::stop`: the first user to
    // see it closes the queue (the progress watch does within 100 ms).
    let signalled = || signals::interrupted().is_some();
    if signalled() {
        arrivals.close();
    }
    let slot = arrivals.claim(&state.live.dropped)?;
    if !arrivals.wait_until(slot).await || signalled() {
        arrivals.close();
        return None;
    }
    Some(slot)
}
