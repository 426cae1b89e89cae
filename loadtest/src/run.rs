//! One load run: start the target (or use --host), read the count, let
//! goose hammer `POST /visits`, record every response, read the count
//! again, then judge.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use counter_lambda::local::{LocalStage, StageOptions};
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;

use crate::analysis::{Analysis, Limits, analyse};
use crate::cli::{HarnessArgs, RunArgs};
use crate::observation::{Observation, Outcome, Recorder};
use crate::stats::StepWindow;
use crate::summary::{RunFacts, Summary};
use crate::{UsageError, report};

/// Users when neither -u nor a test plan says.
pub const DEFAULT_USERS: usize = 32;
/// Seconds when neither -t nor a test plan says: a short run.
pub const DEFAULT_RUN_SECS: usize = 10;

/// The peak users of goose's `--test-plan`, if one was given (the field is
/// private to goose; its serialized form, `{"steps": [[users, ms], ...]}`,
/// is not).
fn test_plan_peak(goose: &GooseConfiguration) -> Option<usize> {
    let v = serde_json::to_value(goose).ok()?;
    let steps = v["test_plan"]["steps"].as_array()?;
    Some(
        steps
            .iter()
            .filter_map(|s| s[0].as_u64())
            .max()
            .unwrap_or(0) as usize,
    )
}

/// What the run's users share.
struct Shared {
    recorder: Recorder,
    clock: Instant,
    url: String,
    path: String,
    node: u16,
    /// Requests begun; none begins past `max_requests`.
    started: AtomicU64,
    total: AtomicU64,
    errors: AtomicU64,
    response_bytes: AtomicU64,
    abort_rate: f64,
    abort_min: u64,
    max_requests: u64,
    aborted: OnceLock<String>,
    stopped: OnceLock<String>,
    user_interval: Option<Duration>,
}

#[derive(serde::Deserialize)]
struct CountBody {
    path: String,
    count: u64,
}

/// Per-user pacing state (goose session data).
#[derive(Clone)]
struct Pace {
    next: Instant,
}

impl Shared {
    fn now_ns(&self) -> u64 {
        self.clock.elapsed().as_nanos() as u64
    }

    fn record(&self, user: usize, op: Observation) {
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
    fn abort(&self, reason: String) {
        if self.aborted.set(reason.clone()).is_ok() {
            goose::trigger_killswitch(&reason);
        }
    }

    /// Stops the run at one of its bounds: not a failure.
    fn stop(&self, reason: String) {
        if self.stopped.set(reason.clone()).is_ok() {
            goose::trigger_killswitch(&reason);
        }
    }
}

/// One request: POST, classify the answer, record it.
async fn post_visit(user: &mut GooseUser, shared: &Shared) -> TransactionResult {
    // The request bound is hard: goose notices its killswitch only between
    // iterations, so past the bound users idle instead of sending.
    if shared.started.fetch_add(1, Ordering::Relaxed) >= shared.max_requests {
        shared.stop(format!("reached --max-requests {}", shared.max_requests));
        tokio::time::sleep(Duration::from_millis(20)).await;
        return Ok(());
    }
    // With pacing, latency counts from the intended send time, so a slow
    // stage cannot hide the requests it delayed (coordinated omission).
    let intended = match shared.user_interval {
        Some(interval) => {
            let now = Instant::now();
            // A strict schedule: a user that falls behind sends at once, and
            // the time its request waited counts in its latency.
            let next = match user.get_session_data_mut::<Pace>() {
                Some(p) => {
                    let slot = p.next;
                    p.next = slot + interval;
                    slot
                }
                None => {
                    user.set_session_data(Pace {
                        next: now + interval,
                    });
                    now
                }
            };
            if next > now {
                tokio::time::sleep(next - now).await;
            }
            Some(next)
        }
        None => None,
    };
    let start_ns = match intended {
        Some(t) => t.saturating_duration_since(shared.clock).as_nanos() as u64,
        None => shared.now_ns(),
    };
    let (status, outcome, count) = match user.post(&shared.url, "").await {
        Err(_) => (0, Outcome::Unknown, 0),
        Ok(goose) => match goose.response {
            Err(_) => (0, Outcome::Unknown, 0),
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await;
                if let Ok(b) = &body {
                    shared
                        .response_bytes
                        .fetch_add(b.len() as u64, Ordering::Relaxed);
                }
                match (status, body) {
                    (200, Ok(bytes)) => match serde_json::from_slice::<CountBody>(&bytes) {
                        Ok(b) if b.path == shared.path => (200, Outcome::Ok, b.count),
                        // A 200 that makes no sense: the write may have happened.
                        _ => (200, Outcome::Unknown, 0),
                    },
                    (400..=499, _) => (status, Outcome::Failed, 0),
                    _ => (status, Outcome::Unknown, 0),
                }
            }
        },
    };
    let end_ns = shared.now_ns();
    shared.record(
        user.weighted_users_index,
        Observation {
            start_ns,
            end_ns,
            count,
            status,
            node: shared.node,
            outcome,
        },
    );
    Ok(())
}

/// The counter's current value, by `GET /visits`.
pub async fn read_count(http: &reqwest::Client, base: &str, path: &str) -> anyhow::Result<u64> {
    let url = visits_url(base, path);
    let mut last = None;
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => {
                let body: CountBody = r.json().await.context("GET /visits: body is not a count")?;
                return Ok(body.count);
            }
            Ok(r) => last = Some(format!("GET {url} answered {}", r.status())),
            Err(e) => last = Some(format!("GET {url}: {e}")),
        }
    }
    anyhow::bail!(last.unwrap_or_default())
}

/// `<base>/visits?path=<encoded>`; a stage in the base URL is kept.
pub fn visits_url(base: &str, path: &str) -> String {
    format!(
        "{}/visits?path={}",
        base.trim_end_matches('/'),
        counter_lambda::path::encode_component(path)
    )
}

fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{:04x}", now.as_secs(), rand::random::<u16>())
}

/// Checks the harness's own options before anything starts.
fn validate(h: &HarnessArgs, goose: &GooseConfiguration) -> Result<(), UsageError> {
    let has_plan = test_plan_peak(goose).is_some();
    if let Some(p) = &h.path {
        counter_lambda::path::validate_path(p)
            .map_err(|e| UsageError(format!("--path {p:?}: {e}")))?;
    }
    counter_lambda::path::validate_path(&format!("{}/x", h.path_prefix))
        .map_err(|e| UsageError(format!("--path-prefix {:?}: {e}", h.path_prefix)))?;
    if let Some(host) = &goose.host {
        let url = reqwest::Url::parse(host)
            .map_err(|e| UsageError(format!("--host {host:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UsageError(format!(
                "--host {host:?}: use http:// or https://"
            )));
        }
    }
    if let Some(r) = h.user_rate
        && !(r > 0.0 && r.is_finite())
    {
        return Err(UsageError("--user-rate must be a positive number".into()));
    }
    if !h.steps.is_empty() {
        if h.steps.contains(&0) {
            return Err(UsageError(
                "--steps: each step needs at least one user".into(),
            ));
        }
        if has_plan || goose.users.is_some() || goose.run_time.is_some() {
            return Err(UsageError(
                "--steps makes its own test plan: leave out --test-plan, --users and --run-time"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// A goose test plan for `--steps`: a warm-up at the first step's users
/// (unmeasured: the stage's caches and JITs settle), then for each step a
/// 1 s ramp and a hold; and the windows in which steps are measured (the
/// holds).
pub fn stepped_plan(
    steps: &[usize],
    hold_secs: u64,
    warmup_secs: u64,
) -> (String, Vec<StepWindow>) {
    let mut plan = Vec::new();
    let mut windows = Vec::new();
    let mut t = 0.0;
    if let (Some(&first), true) = (steps.first(), warmup_secs > 0) {
        plan.push(format!("{first},1s"));
        plan.push(format!("{first},{warmup_secs}s"));
        t += 1.0 + warmup_secs as f64;
    }
    for &users in steps {
        plan.push(format!("{users},1s"));
        plan.push(format!("{users},{hold_secs}s"));
        t += 1.0;
        windows.push(StepWindow {
            users,
            from_s: t,
            to_s: t + hold_secs as f64,
        });
        t += hold_secs as f64;
    }
    plan.push("0,1s".to_owned());
    (plan.join(";"), windows)
}

/// CPU time (user + system) this process has used, from /proc.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

/// Runs the load test; returns the summary (written to the run directory).
pub async fn run(args: RunArgs) -> anyhow::Result<Summary> {
    let RunArgs { harness, mut goose } = args;
    validate(&harness, &goose)?;
    let run_id = harness.run_id.clone().unwrap_or_else(new_run_id);
    let (path, outside_traffic) = match &harness.path {
        Some(p) => (p.clone(), true),
        None => (
            format!("{}/{run_id}", harness.path_prefix.trim_end_matches('/')),
            false,
        ),
    };

    let mut stage = None;
    let host = match &goose.host {
        Some(h) => h.trim_end_matches('/').to_owned(),
        None => {
            println!(
                "No --host: starting the local stage (counter-lambda on DynamoDB Local, 127.0.0.1) ..."
            );
            let mut config = counter_lambda::Config::from_lookup(|_| None)?;
            config.loadtest_prefix = Some(harness.path_prefix.clone());
            let s = LocalStage::start(StageOptions::new(config))
                .await
                .context("starting the local stage")?;
            let url = s.url().to_owned();
            stage = Some(s);
            goose.host = Some(url.clone());
            url
        }
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let initial = read_count(&http, &host, &path)
        .await
        .context("reading the count before the run")?;
    println!("Target {host}, counter {path} (count {initial} before the run)");

    let user_plan = test_plan_peak(&goose);
    let (plan_windows, stepped, peak_users) = if harness.steps.is_empty() {
        let users = user_plan.or(goose.users).unwrap_or(DEFAULT_USERS);
        (vec![], None, users)
    } else {
        let (plan, windows) = stepped_plan(&harness.steps, harness.step_secs, harness.warmup_secs);
        let peak = harness.steps.iter().copied().max().unwrap_or(1);
        (windows, Some(plan), peak)
    };

    let shared = Arc::new(Shared {
        recorder: Recorder::new(256),
        clock: Instant::now(),
        url: visits_url(&host, &path),
        path: path.clone(),
        node: harness.node_id,
        started: AtomicU64::new(0),
        total: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        response_bytes: AtomicU64::new(0),
        abort_rate: harness.abort_error_rate,
        abort_min: harness.abort_min_requests,
        max_requests: harness.max_requests,
        aborted: OnceLock::new(),
        stopped: OnceLock::new(),
        user_interval: harness.user_rate.map(|r| Duration::from_secs_f64(1.0 / r)),
    });

    let run_dir = report::run_dir(&harness.out_dir, &run_id, harness.node_id);
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;

    let transaction = {
        let shared = shared.clone();
        Transaction::new(Arc::new(move |user| {
            let shared = shared.clone();
            Box::pin(async move { post_visit(user, &shared).await })
        }))
        .set_name("POST /visits")
    };
    let mut attack = GooseAttack::initialize_with_config(goose)?
        .register_scenario(scenario!("visitor").register_transaction(transaction))
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::Timeout, "10")?
        .set_default(
            GooseDefault::ReportFile,
            run_dir.join("goose-report.html").to_string_lossy().as_ref(),
        )?;
    // Goose refuses these beside a test plan, defaults included.
    if let Some(plan) = &stepped {
        attack = attack.set_default(GooseDefault::TestPlan, plan.as_str())?;
    } else if user_plan.is_none() {
        attack = attack
            .set_default(GooseDefault::Users, peak_users)?
            .set_default(GooseDefault::IncreaseRate, peak_users.to_string().as_str())?
            .set_default(GooseDefault::RunTime, DEFAULT_RUN_SECS)?
            .set_default(GooseDefault::NoResetMetrics, true)?;
    }

    // The hard time bound, whatever goose's own options say.
    let finished = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let shared = shared.clone();
        let finished = finished.clone();
        let limit = Duration::from_secs(harness.max_duration);
        tokio::spawn(async move {
            let deadline = Instant::now() + limit;
            while !finished.load(Ordering::Relaxed) {
                if Instant::now() >= deadline {
                    shared.stop(format!("reached --max-duration {} s", limit.as_secs()));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let started_at_unix_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
        - shared.clock.elapsed().as_nanos() as u64;
    let cpu_before = process_cpu();
    let wall = Instant::now();
    let goose_result = attack.execute().await;
    let wall = wall.elapsed();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    finished.store(true, Ordering::Relaxed);
    let _ = watchdog.await;
    goose::reset_killswitch();

    let final_count = read_count(&http, &host, &path)
        .await
        .context("reading the count after the run")?;
    let local_stage = stage.is_some();
    drop(stage);

    let shared = Arc::into_inner(shared).context("users still hold the recorder")?;
    let mut aborted = shared.aborted.get().cloned();
    if let Err(e) = &goose_result {
        aborted.get_or_insert_with(|| format!("goose: {e}"));
    }
    let stopped_early = shared.stopped.get().cloned();
    let total = shared.total.load(Ordering::Relaxed);
    let response_bytes_mean = if total > 0 {
        shared.response_bytes.load(Ordering::Relaxed) as f64 / total as f64
    } else {
        0.0
    };
    let ops = shared.recorder.into_sorted();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu_percent = cpu.map_or(0.0, |c| {
        100.0 * c.as_secs_f64() / wall.as_secs_f64().max(1e-9)
    });

    let analysis = Analysis {
        run: RunFacts {
            run_id: run_id.clone(),
            nodes: vec![harness.node_id],
            host: host.clone(),
            local_stage,
            path,
            outside_traffic,
            started_at_unix_ns,
            users: peak_users,
        },
        other_nodes_write: harness.node_id > 0,
        initial,
        final_count,
        cross_node_skew_ns: 0,
        response_bytes_mean,
        cpu_percent,
        cores,
        aborted,
        stopped_early,
        windows: plan_windows,
        per_user_rps: harness.user_rate,
    };
    let limits = Limits {
        max_p99_ms: harness.max_p99,
        max_error_rate: harness.max_error_rate,
    };
    let summary = analyse(analysis, &ops, &limits);
    report::write_run(&run_dir, &summary, &ops)?;
    report::print(&summary, &run_dir);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stepped_plan_warms_up_then_measures_each_hold() {
        let (plan, windows) = stepped_plan(&[2, 8], 5, 3);
        assert_eq!(plan, "2,1s;2,3s;2,1s;2,5s;8,1s;8,5s;0,1s");
        assert_eq!(
            windows,
            vec![
                StepWindow {
                    users: 2,
                    from_s: 5.0,
                    to_s: 10.0
                },
                StepWindow {
                    users: 8,
                    from_s: 11.0,
                    to_s: 16.0
                },
            ]
        );
        let (plan, windows) = stepped_plan(&[4], 2, 0);
        assert_eq!(plan, "4,1s;4,2s;0,1s");
        assert_eq!(windows[0].from_s, 1.0);
        assert!(
            plan.parse::<goose::test_plan::TestPlan>().is_ok(),
            "goose accepts it"
        );
    }
}
