//! The open workload model against a stage that slows down mid-run: the
//! open model keeps offering its rate (and says what it dropped) where the
//! closed model's rate falls with the stage. Judged by ratios of rates the
//! test server itself measured, never by timings.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;

use crate::helpers::{assert_accounts_for_every_increment, run, send_signal, serve_on_loopback};

/// An atomic counter (test code, on 127.0.0.1) that answers in 5 ms until
/// `slow_after` past its first POST, then in 200 ms; it notes when each
/// POST arrived.
struct SlowingCounter {
    url: String,
    slow_after: Duration,
    first_post: Arc<OnceLock<Instant>>,
    posts: Arc<Mutex<Vec<Instant>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SlowingCounter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Shared {
    count: AtomicU64,
    slow_after: Duration,
    first_post: Arc<OnceLock<Instant>>,
    posts: Arc<Mutex<Vec<Instant>>>,
}

async fn answer(
    shared: &Shared,
    req: hyper::Request<local_stage::RequestBody>,
) -> hyper::Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or("");
    let path = counter_lambda::path::path_from_query(Some(query)).unwrap_or_default();
    let count = if req.method() == hyper::Method::POST {
        let now = Instant::now();
        let first = *shared.first_post.get_or_init(|| now);
        shared.posts.lock().expect("lock").push(now);
        let count = shared.count.fetch_add(1, Ordering::SeqCst) + 1;
        let latency = if now.duration_since(first) < shared.slow_after {
            Duration::from_millis(5)
        } else {
            Duration::from_millis(200)
        };
        tokio::time::sleep(latency).await;
        count
    } else {
        shared.count.load(Ordering::SeqCst)
    };
    let body = serde_json::json!({"path": path, "count": count}).to_string();
    hyper::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a response")
}

async fn spawn_slowing_counter(slow_after: Duration) -> SlowingCounter {
    let first_post = Arc::new(OnceLock::new());
    let posts = Arc::new(Mutex::new(Vec::new()));
    let shared = Arc::new(Shared {
        count: AtomicU64::new(0),
        slow_after,
        first_post: first_post.clone(),
        posts: posts.clone(),
    });
    let (url, server) = serve_on_loopback(move |req| {
        let shared = shared.clone();
        async move { answer(&shared, req).await }
    })
    .await;
    SlowingCounter {
        url,
        slow_after,
        first_post,
        posts,
        server,
    }
}

impl SlowingCounter {
    fn posts(&self) -> u64 {
        self.posts.lock().expect("lock").len() as u64
    }

    /// POSTs a second that reached the stage while it was fast and while
    /// it was slow, each half less its first half second (the change
    /// settling), the slow half up to the last POST.
    fn rates(&self) -> (f64, f64) {
        let posts = self.posts.lock().expect("lock");
        let first = *self.first_post.get().expect("a POST arrived");
        let last = *posts.last().expect("a POST arrived");
        let settle = Duration::from_millis(500);
        let rate = |from: Instant, to: Instant| {
            let n = posts.iter().filter(|t| **t >= from && **t < to).count();
            n as f64 / to.saturating_duration_since(from).as_secs_f64().max(1e-3)
        };
        let switch = first + self.slow_after;
        (rate(first + settle, switch), rate(switch + settle, last))
    }
}

/// A run against the server: `-t 5`, bounded, its own run id.
async fn run_against(stage: &SlowingCounter, id: &str, args: &[&str]) -> crate::helpers::Run {
    let mut all = vec![
        "--host",
        &stage.url,
        "-q",
        "--max-duration",
        "60",
        "--max-requests",
        "20000",
    ];
    all.extend_from_slice(args);
    run(id, &all).await
}

#[tokio::test]
async fn the_open_model_keeps_offering_its_rate_when_the_stage_slows_and_the_closed_model_does_not()
{
    let slow_after = Duration::from_millis(2500);
    let stage = spawn_slowing_counter(slow_after).await;
    let open = run_against(
        &stage,
        "open-slowing",
        // A stall on a busy machine may drop a few arrivals: the rate is
        // what is judged here, not the run's thresholds.
        &[
            "--arrival-rate",
            "200",
            "--max-users",
            "64",
            "-t",
            "5",
            "--max-error-rate",
            "0.25",
        ],
    )
    .await;
    assert_eq!(open.code(), Some(0), "{}{}", open.stdout(), open.stderr());
    let (fast, slow) = stage.rates();
    assert!(
        slow >= 0.7 * 200.0,
        "the open model kept offering 200/s in the slow half: fast {fast:.0}/s, slow {slow:.0}/s"
    );
    let s = open.summary();
    let m = s.open_model.expect("summary.json has the open model");
    assert_eq!(m.max_users, 64);
    assert!(
        (m.offered_rps - 200.0).abs() < 1.0,
        "offered {}/s",
        m.offered_rps
    );
    assert!(m.achieved_rps >= 0.7 * m.offered_rps, "{m:?}");
    assert!(m.sent + m.dropped <= m.offered, "{m:?}");
    assert_eq!(m.sent, s.requests.total, "every request was a slot");
    assert!(
        open.stdout().contains("open model: offered"),
        "{}",
        open.stdout()
    );
    assert_accounts_for_every_increment(&s);
    drop(stage);

    let stage = spawn_slowing_counter(slow_after).await;
    let closed = run_against(&stage, "closed-slowing", &["-u", "8", "-t", "5"]).await;
    assert_eq!(
        closed.code(),
        Some(0),
        "{}{}",
        closed.stdout(),
        closed.stderr()
    );
    let (fast, slow) = stage.rates();
    assert!(
        slow <= 0.5 * fast,
        "the closed model's rate fell with the stage: fast {fast:.0}/s, slow {slow:.0}/s"
    );
    assert!(closed.summary().open_model.is_none());
}

#[tokio::test]
async fn a_pool_too_small_for_the_rate_drops_arrivals_and_says_so_and_every_sent_request_is_judged()
{
    // Slow from the first request: 2 users at 200 ms serve about 10/s.
    let stage = spawn_slowing_counter(Duration::ZERO).await;
    let r = run_against(
        &stage,
        "open-small-pool",
        &["--arrival-rate", "200", "--max-users", "2", "-t", "3"],
    )
    .await;
    let s = r.summary();
    let m = s.open_model.expect("summary.json has the open model");
    assert!(m.dropped > 0, "{m:?}");
    assert!(m.achieved_rps < 0.5 * m.offered_rps, "{m:?}");
    // Every offered slot was sent or dropped (a slot a user held when the
    // run ended, at most one a user, is neither).
    assert!(m.sent + m.dropped <= m.offered, "{m:?}");
    assert!(m.sent + m.dropped + 2 >= m.offered, "{m:?}");
    // The verdict judged every request sent, and only those.
    let v = &s.verdict;
    assert_eq!(v.ok + v.failed + v.unknown, s.requests.total);
    assert_eq!(s.requests.total, stage.posts(), "the stage saw each one");
    assert_accounts_for_every_increment(&s);
    // Dropped arrivals fail the run like errors do, and the report says so.
    assert_eq!(r.code(), Some(1), "{}", r.stdout());
    let t = s
        .thresholds
        .iter()
        .find(|t| t.name == "dropped_rate")
        .expect("a dropped_rate threshold");
    assert!(!t.passed && t.actual > 0.5, "{t:?}");
    let text = r.stdout();
    assert!(text.contains(&format!("dropped {}", m.dropped)), "{text}");
}

#[tokio::test]
async fn rate_steps_find_the_knee_in_offered_rate_terms() {
    // 24 users at 200 ms serve about 120/s: 20/s and 40/s fit with room
    // (a stall of 0.4 s would still leave users free), 320/s does not.
    let stage = spawn_slowing_counter(Duration::ZERO).await;
    let r = run_against(
        &stage,
        "open-steps",
        &[
            "--rate-steps",
            "20,40,320",
            "--max-users",
            "24",
            "--max-error-rate",
            "0.05",
            "--step-secs",
            "2",
            "--warmup-secs",
            "1",
        ],
    )
    .await;
    let s = r.summary();
    assert_eq!(s.steps.len(), 3, "{}", r.stdout());
    let offered: Vec<_> = s.steps.iter().map(|st| st.offered_rps).collect();
    assert_eq!(offered, vec![Some(20.0), Some(40.0), Some(320.0)]);
    let last = &s.steps[2];
    assert!(last.dropped.is_some_and(|d| d > 0), "{last:?}");
    assert!(last.achieved_rps < 0.75 * 320.0, "{last:?}");
    assert_eq!(s.knee, Some(1), "{}", r.stdout());
    assert_eq!(
        r.code(),
        Some(0),
        "the first step was within: {}",
        r.stdout()
    );
    let text = r.stdout();
    assert!(text.contains("knee: 40/s offered"), "{text}");
    assert!(text.contains("past it, at 320/s offered"), "{text}");
    assert_accounts_for_every_increment(&s);
    // One pool for every step: the chart puts achieved against offered,
    // not throughput against users (one x for all steps).
    let plot = s
        .files
        .get("plot_latency_vs_throughput")
        .expect("the summary links the plot");
    let svg = std::fs::read_to_string(r.dir.join(plot)).expect("plot");
    assert!(svg.contains("achieved against offered rate"), "{svg}");
    assert!(svg.contains("320/s offered") && !svg.contains("throughput against users"));
}

/// POSTs the stage saw, polled a moment after loadtest exited: any POST
/// a user still held would show up here. Bounded: 20 polls, 100 ms apart.
async fn posts_once_settled(stage: &SlowingCounter) -> u64 {
    let mut seen = stage.posts();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = seen.max(stage.posts());
    }
    seen
}

#[tokio::test]
async fn the_hard_time_bound_stops_users_waiting_for_far_arrivals_and_the_figures_end_there() {
    // 50 users at 2/s hold the slots of the next 25 s; the run may last 4.
    let stage = spawn_slowing_counter(Duration::from_secs(3600)).await;
    let r = run(
        "open-bounded",
        &[
            "--host",
            &stage.url,
            "-q",
            "--arrival-rate",
            "2",
            "--max-users",
            "50",
            "-t",
            "60",
            "--max-duration",
            "4",
            "--min-ok",
            "1",
        ],
    )
    .await;
    let at_exit = stage.posts();
    assert_eq!(r.code(), Some(0), "{}{}", r.stdout(), r.stderr());
    let s = r.summary();
    assert!(
        s.stopped_early
            .as_deref()
            .is_some_and(|w| w.contains("--max-duration")),
        "{:?}",
        s.stopped_early
    );
    assert_eq!(
        posts_once_settled(&stage).await,
        at_exit,
        "nothing after the exit"
    );
    // Slots fall due at 2/s from after the bound's clock started: at most
    // 8 in 4 s (a few spare). Users that kept their far slots would send
    // up to 50.
    assert!(at_exit <= 12, "{at_exit} POSTs within a 4 s bound at 2/s");
    assert_eq!(s.requests.total, at_exit, "every POST was recorded");
    let m = s.open_model.expect("summary.json has the open model");
    // The schedule counts to the stop, not to its planned 60 s nor to
    // when the run was judged.
    assert!(m.schedule_s < 12.0, "{m:?}");
    assert!(m.offered as f64 <= 2.0 * m.schedule_s + 1.0, "{m:?}");
    assert!((m.offered_rps - 2.0).abs() < 0.75, "{m:?}");
    assert!(m.sent + m.dropped <= m.offered, "{m:?}");
    assert!(m.achieved_rps >= 0.5 * m.offered_rps, "{m:?}");
    assert_accounts_for_every_increment(&s);
}

#[tokio::test]
async fn sigint_stops_the_open_model_at_once_though_its_users_hold_later_arrivals() {
    // 100 users at 1/s hold the slots of the next 100 s.
    let stage = spawn_slowing_counter(Duration::from_secs(3600)).await;
    let (_tmp, out) = crate::helpers::out_dir();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["--run-id", "open-sigint", "--out-dir"])
        .arg(&out)
        .args(["--host", &stage.url, "-q", "--arrival-rate", "1"])
        .args(["--max-users", "100", "-t", "120", "--max-duration", "150"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("started");
    // Bounded poll: the load is running once the stage saw 3 POSTs.
    let running = tokio::time::timeout(Duration::from_secs(120), async {
        while stage.posts() < 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(running.is_ok(), "the run sent its first arrivals");
    let at_signal = stage.posts();
    send_signal(child.id().expect("pid"), "INT");
    let o = tokio::time::timeout(Duration::from_secs(200), child.wait_with_output())
        .await
        .expect("the run ended within its bound after the signal")
        .expect("waited");
    let at_exit = stage.posts();
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(130), "{text}");
    // One arrival a second: one may have been due as the signal came.
    // Users that kept their slots would go on sending one a second.
    assert!(
        at_exit <= at_signal + 2,
        "{at_signal} POSTs at the signal, {at_exit} at the exit"
    );
    assert_eq!(
        posts_once_settled(&stage).await,
        at_exit,
        "nothing after the exit"
    );
    let s = crate::helpers::summary(&out.join("open-sigint"));
    assert!(s.interrupted);
    assert_eq!(s.requests.total, at_exit, "every POST was recorded");
    let m = s.open_model.expect("summary.json has the open model");
    // Offered up to the signal, not over the 120 s schedule.
    assert!(m.offered <= at_exit + 3, "{m:?}, {at_exit} POSTs");
    assert!(m.schedule_s < 60.0, "{m:?}");
}

/// A paced user that falls behind (it means to send every 50 ms, each
/// answer takes 200 ms) sends later and later: its latency counts from
/// each slot, the record keeps when it really left (the checker judges
/// from that), and the lateness is what lies between.
#[tokio::test]
async fn a_paced_user_that_falls_behind_records_when_it_sent_and_how_late() {
    let stage = spawn_slowing_counter(Duration::ZERO).await;
    let r = run_against(
        &stage,
        "paced-behind",
        &["-u", "2", "--user-rate", "20", "-t", "3"],
    )
    .await;
    assert_eq!(r.code(), Some(0), "{}{}", r.stdout(), r.stderr());
    let file = std::fs::File::open(r.dir.join("observations.bin")).expect("observations");
    let ops = loadtest::analysis::observation::read_all(std::io::BufReader::new(file))
        .expect("observations read");
    assert!(ops.len() >= 4, "{} requests", ops.len());
    let ms = |ns: u64| ns as f64 / 1e6;
    let mut service: Vec<f64> = ops.iter().map(|o| ms(o.end_ns - o.start_ns)).collect();
    service.sort_by(f64::total_cmp);
    let median_service = service[service.len() / 2];
    let latest = ops.iter().map(|o| ms(o.late.ns())).fold(0.0, f64::max);
    // Two users, 20/s each, answered at 5/s each: by the end of 3 s each
    // is seconds behind its schedule.
    assert!(
        latest > 2.0 * median_service,
        "late {latest} ms, service {median_service} ms"
    );
    for o in &ops {
        assert_eq!(o.latency_ns(), o.end_ns - (o.start_ns - o.late.ns()));
    }
    let s = r.summary();
    assert!(
        s.latency.all.p99_ms > 2.0 * median_service,
        "p99 {} ms counts from the slots, service {median_service} ms",
        s.latency.all.p99_ms
    );
    assert_accounts_for_every_increment(&s);
}
