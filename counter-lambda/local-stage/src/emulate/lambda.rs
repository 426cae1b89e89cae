//! Lambda: a pool of execution environments for one function, each a
//! process of the real function polling a Runtime API of its own.
//!
//! What is emulated, and where AWS says so:
//!
//! - One invocation at a time per environment; a new environment for an
//!   invocation when none is free, up to the function's reserved
//!   concurrency (else the account's); past it the invocation is
//!   rejected (a throttle)
//!   (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).
//! - Init: from the process's start to its first `next`, "The Init phase
//!   ends when the runtime ... send[s] a Next API request", limited to
//!   10 s; the invocation that caused it waits for it (a cold start).
//!   Invoke: from the event's delivery to the runtime's next `next` ("The
//!   invoke phase ends after the runtime ... signal[s] that [it is] done
//!   by sending a Next API request"); the caller has its answer at
//!   `/response`. "If the Lambda function crashes or times out during the
//!   Invoke phase, Lambda resets the execution environment": the process
//!   is killed, and the next invocation starts a new one
//!   (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html).
//! - The environment variables Lambda sets for a runtime
//!   (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
//!
//! Where AWS is silent, the choices made here:
//!
//! - An environment idle for `idle_timeout` is retired (AWS does not
//!   document when it reclaims idle environments; observers report minutes).
//! - A free environment is reused most-recently-used first, so the rest
//!   age out.
//! - An init that fails (an `/init/error`, an exit, or no `next` within
//!   10 s) fails the invocation that waited for it as a function error;
//!   Lambda's retry of the init inside the first invocation is not
//!   emulated.
//! - Max Memory Used is the peak resident memory (`VmHWM`) of the
//!   environment's process and its descendants, summed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use super::report::{Ended, Invocation, Sink, Tally};
use super::runtime_api::{Call, Delivery, Reply, RuntimeApi};

/// "The Init phase is limited to 10 seconds" (lambda-runtime-environment).
pub const INIT_LIMIT: Duration = Duration::from_secs(10);

/// How a function is run.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The program and its arguments (a shell command runs as `sh -c`).
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Everything but the per-environment variables.
    pub env: BTreeMap<String, String>,
    pub name: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Where the processes' stdout and stderr go (the function log).
    pub log: Arc<File>,
}

impl FunctionSpec {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            sam_template::REGION,
            sam_template::ACCOUNT_ID,
            self.name
        )
    }
}

/// How an invocation ended, as the caller (API Gateway) learns it.
#[derive(Debug)]
pub enum Outcome {
    /// The function's result (`/response`).
    Response(Bytes),
    /// `/error`, an exit mid-invocation, or a failed init.
    FunctionError,
    /// The function's Timeout passed.
    Timeout,
}

/// Lambda rejected the invocation: every allowed environment was busy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled;

struct Job {
    event: Bytes,
    done: oneshot::Sender<Outcome>,
}

#[derive(Clone)]
struct Handle {
    id: u64,
    jobs: mpsc::Sender<Job>,
}

#[derive(Default)]
struct PoolState {
    /// Free environments, most recently used last.
    idle: Vec<Handle>,
    alive: usize,
    peak: usize,
    next_id: u64,
    tasks: Vec<tokio::task::AbortHandle>,
}

/// The environments of one function.
pub struct Pool {
    spec: FunctionSpec,
    limit: usize,
    idle_timeout: Duration,
    state: Mutex<PoolState>,
    tally: Arc<Mutex<Tally>>,
    sink: Arc<Sink>,
    guard: Watchdog,
}

impl Pool {
    pub fn new(
        spec: FunctionSpec,
        limit: usize,
        idle_timeout: Duration,
        tally: Arc<Mutex<Tally>>,
        sink: Arc<Sink>,
    ) -> std::io::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            spec,
            limit,
            idle_timeout,
            state: Mutex::default(),
            tally,
            sink,
            guard: Watchdog::start()?,
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Environments alive at once, at most so far; the limit; alive now.
    pub fn environments(&self) -> (u64, u64, u64) {
        let s = self.state();
        (s.peak as u64, self.limit as u64, s.alive as u64)
    }

    /// Hands `event` to a free environment, or to a new one (a cold
    /// start); rejects it when every allowed environment is busy.
    pub fn invoke(self: &Arc<Self>, event: Bytes) -> Result<oneshot::Receiver<Outcome>, Throttled> {
        let (done, outcome) = oneshot::channel();
        let mut job = Job { event, done };
        loop {
            let free = {
                let mut s = self.state();
                match s.idle.pop() {
                    Some(h) => Ok(h),
                    None if s.alive < self.limit => {
                        s.alive += 1;
                        s.peak = s.peak.max(s.alive);
                        s.next_id += 1;
                        Err(s.next_id)
                    }
                    None => return Err(Throttled),
                }
            };
            match free {
                Ok(handle) => match handle.jobs.try_send(job) {
                    Ok(()) => return Ok(outcome),
                    // It ended meanwhile (and left the count): next one.
                    Err(e) => job = e.into_inner(),
                },
                Err(id) => {
                    let task = tokio::spawn(run(self.clone(), id, job));
                    let mut s = self.state();
                    s.tasks.retain(|t| !t.is_finished());
                    s.tasks.push(task.abort_handle());
                    return Ok(outcome);
                }
            }
        }
    }

    fn free(&self, handle: Handle) {
        self.state().idle.push(handle);
    }

    /// An environment has ended.
    fn gone(&self, id: u64) {
        let mut s = self.state();
        s.idle.retain(|h| h.id != id);
        s.alive = s.alive.saturating_sub(1);
    }

    /// Retires a free environment; `false` when it was just taken (its job
    /// is on the way).
    fn retire(&self, id: u64) -> bool {
        let mut s = self.state();
        let before = s.idle.len();
        s.idle.retain(|h| h.id != id);
        if s.idle.len() < before {
            s.alive = s.alive.saturating_sub(1);
            true
        } else {
            false
        }
    }

    /// Stops every environment now: their processes are killed (the
    /// watchdog kills their process groups) and their tasks aborted.
    pub fn shut_down(&self) {
        let tasks = std::mem::take(&mut self.state().tasks);
        for t in tasks {
            t.abort();
        }
        self.guard.kill_all();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// One environment's process, its Runtime API and its calls.
struct Environment {
    child: Child,
    pgid: Option<i32>,
    calls: mpsc::Receiver<Call>,
    _api: RuntimeApi,
}

impl Environment {
    async fn start(pool: &Pool) -> Result<Self, String> {
        let (tx, calls) = mpsc::channel(8);
        let api = RuntimeApi::start(tx)
            .await
            .map_err(|e| format!("binding its Runtime API: {e}"))?;
        let spec = &pool.spec;
        let stream = log_stream_name();
        let mut command = Command::new(&spec.argv[0]);
        command
            .args(&spec.argv[1..])
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(&spec.env)
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_LOG_STREAM_NAME", stream)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                spec.log.try_clone().map_err(|e| e.to_string())?,
            ))
            .stderr(Stdio::from(
                spec.log.try_clone().map_err(|e| e.to_string())?,
            ))
            // Its own process group: killed whole, and a terminal's
            // Ctrl-C reaches only the stage, which stops it in order.
            .process_group(0)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| format!("starting {:?}: {e}", spec.argv.join(" ")))?;
        let pgid = child.id().and_then(|p| i32::try_from(p).ok());
        if let Some(g) = pgid {
            pool.guard.add(g);
        }
        Ok(Self {
            child,
            pgid,
            calls,
            _api: api,
        })
    }

    /// Kills the process group and reaps the process.
    async fn kill(mut self, pool: &Pool) {
        if let Some(g) = self.pgid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(g),
                nix::sys::signal::Signal::SIGKILL,
            );
            pool.guard.forget(g);
        }
        let _ = self.child.kill().await;
    }

    /// The peak resident memory, MB (rounded up).
    fn max_memory_used_mb(&self) -> u64 {
        let kb = self.child.id().map_or(0, tree_vm_hwm_kb);
        kb.div_ceil(1024)
    }

    /// Waits for the first `next`: the end of init.
    async fn init(&mut self) -> Result<oneshot::Sender<Delivery>, String> {
        let deadline = tokio::time::sleep(INIT_LIMIT);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                call = self.calls.recv() => match call {
                    Some(Call::Next(next)) => return Ok(next),
                    Some(Call::InitError { body }) => {
                        return Err(format!("init error: {}", String::from_utf8_lossy(&body)));
                    }
                    Some(Call::Done { reply, .. }) => {
                        let _ = reply.send(Reply::UnknownRequest);
                    }
                    None => return Err("its Runtime API stopped".into()),
                },
                status = self.child.wait() => {
                    return Err(format!("the process exited during init ({})", describe(status)));
                }
                () = &mut deadline => {
                    return Err(format!("no `next` within the {} s init limit", INIT_LIMIT.as_secs()));
                }
            }
        }
    }
}

fn describe(status: std::io::Result<std::process::ExitStatus>) -> String {
    match status {
        Ok(s) => s.to_string(),
        Err(e) => e.to_string(),
    }
}

/// An environment's life: init with its first job, then jobs until it
/// is retired, killed by a timeout, or its process ends.
async fn run(pool: Arc<Pool>, id: u64, first: Job) {
    let spawned = Instant::now();
    let mut env = match Environment::start(&pool).await {
        Ok(env) => env,
        Err(why) => return init_failed(&pool, id, first, None, &why).await,
    };
    let mut next = match env.init().await {
        Ok(next) => next,
        Err(why) => return init_failed(&pool, id, first, Some(env), &why).await,
    };
    let (jobs_tx, mut jobs) = mpsc::channel(1);
    let handle = Handle { id, jobs: jobs_tx };
    let mut init = Some(spawned.elapsed());
    let mut job = first;
    loop {
        let mut freed = false;
        match invoke(
            &pool,
            &mut env,
            (next, &handle, &mut freed),
            job,
            init.take(),
        )
        .await
        {
            Some(n) => next = n,
            None => {
                env.kill(&pool).await;
                return pool.gone(id);
            }
        }
        if !freed {
            pool.free(handle.clone());
        }
        match wait_for_job(&pool, &mut env, &mut jobs, id).await {
            Some(j) => job = j,
            None => return env.kill(&pool).await,
        }
    }
}

async fn init_failed(pool: &Pool, id: u64, job: Job, env: Option<Environment>, why: &str) {
    tracing::warn!(function = %pool.spec.name, "an execution environment failed to start: {why}");
    pool.sink.log(&format!("INIT_REPORT Status: error\t{why}"));
    let _ = job.done.send(Outcome::FunctionError);
    if let Some(env) = env {
        env.kill(pool).await;
    }
    pool.gone(id);
}

/// Free: waits for a job; `None` when retired or the process ended.
async fn wait_for_job(
    pool: &Pool,
    env: &mut Environment,
    jobs: &mut mpsc::Receiver<Job>,
    id: u64,
) -> Option<Job> {
    loop {
        tokio::select! {
            job = jobs.recv() => return job,
            _ = env.child.wait() => {
                pool.gone(id);
                return None;
            }
            () = tokio::time::sleep(pool.idle_timeout) => {
                if pool.retire(id) {
                    return None;
                }
                // Taken just now: its job is on the way.
            }
            call = env.calls.recv() => {
                if let Some(Call::Done { reply, .. }) = call {
                    let _ = reply.send(Reply::UnknownRequest);
                }
            }
        }
    }
}

/// One invocation. Returns the runtime's next `next` when the
/// environment lives on, `None` when it must be reset (timeout, exit).
///
/// The environment is offered for the next invocation as soon as its
/// answer is posted (`freed`): that invocation's event is delivered at
/// the runtime's next `next`, a moment later. AWS does not say whether an
/// environment between its answer and its `next` takes new work; taking
/// it spares a client on loopback, whose next request can arrive inside
/// that moment, a cold start per request that a client across a network
/// does not see. One event at a time per environment still holds.
async fn invoke(
    pool: &Pool,
    env: &mut Environment,
    (next, handle, freed): (oneshot::Sender<Delivery>, &Handle, &mut bool),
    job: Job,
    init: Option<Duration>,
) -> Option<oneshot::Sender<Delivery>> {
    let spec = &pool.spec;
    let request_id = uuid_v4();
    let started = Instant::now();
    let deadline_ms = unix_ms(SystemTime::now() + spec.timeout);
    let delivery = Delivery {
        request_id: request_id.clone(),
        deadline_ms,
        function_arn: spec.arn(),
        trace_id: trace_id(),
        event: job.event,
    };
    pool.sink
        .log(&format!("START RequestId: {request_id} Version: $LATEST"));
    let mut done = Some(job.done);
    let ended = if next.send(delivery).is_err() {
        // The runtime gave up its `next` before the event came.
        Err(Ended::Crashed)
    } else {
        let free = || {
            pool.free(handle.clone());
            *freed = true;
        };
        serve_invocation(env, &request_id, &mut done, started + spec.timeout, free).await
    };
    let duration = match ended {
        Err(Ended::Timeout) => spec.timeout,
        _ => started.elapsed(),
    };
    if let Some(done) = done.take() {
        let _ = done.send(match ended {
            Err(Ended::Timeout) => Outcome::Timeout,
            _ => Outcome::FunctionError,
        });
    }
    let record = Invocation {
        request_id: request_id.clone(),
        duration,
        init,
        memory_size_mb: spec.memory_mb,
        max_memory_used_mb: env.max_memory_used_mb(),
        ended: ended.as_ref().err().copied().unwrap_or(Ended::Normally),
    };
    if matches!(ended, Err(Ended::Timeout)) {
        pool.sink.log(&format!(
            "{} {request_id} Task timed out after {:.2} seconds",
            rfc3339_now(),
            spec.timeout.as_secs_f64()
        ));
    }
    pool.sink.log(&format!("END RequestId: {request_id}"));
    pool.sink.report(&record);
    pool.tally
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .invocation(&record);
    ended.ok()
}

/// Until the runtime asks for the next event: the answer goes to the
/// caller as soon as it is posted. `Err`: how the invocation ended badly.
async fn serve_invocation(
    env: &mut Environment,
    request_id: &str,
    done: &mut Option<oneshot::Sender<Outcome>>,
    deadline: Instant,
    free: impl FnOnce(),
) -> Result<oneshot::Sender<Delivery>, Ended> {
    let mut free = Some(free);
    let timeout = tokio::time::sleep_until(deadline.into());
    tokio::pin!(timeout);
    loop {
        tokio::select! {
            call = env.calls.recv() => match call {
                Some(Call::Done { request_id: id, error, body, reply }) => {
                    if id != request_id || done.is_none() {
                        let _ = reply.send(Reply::UnknownRequest);
                        continue;
                    }
                    let _ = reply.send(Reply::Accepted);
                    // Free before the caller hears: its next request may
                    // come at once.
                    if let Some(free) = free.take() {
                        free();
                    }
                    if let Some(d) = done.take() {
                        let _ = d.send(if error { Outcome::FunctionError } else { Outcome::Response(body) });
                    }
                }
                // A `next` before any answer is an invocation left
                // unanswered: a function error.
                Some(Call::Next(next)) => return Ok(next),
                Some(Call::InitError { .. }) => {}
                None => return Err(Ended::Crashed),
            },
            _ = env.child.wait() => return Err(Ended::Crashed),
            () = &mut timeout => return Err(Ended::Timeout),
        }
    }
}

/// `YYYY/MM/DD/[$LATEST]<32 hex>`, as Lambda names a log stream.
fn log_stream_name() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}/{:02}/{:02}/[$LATEST]{:032x}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        rand::random::<u128>()
    )
}

fn rfc3339_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A random (version 4) UUID, as Lambda's request ids are.
pub fn uuid_v4() -> String {
    let n = rand::random::<u128>() & !(0xf << 76) & !(0x3 << 62) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// An X-Ray trace header, not sampled.
fn trace_id() -> String {
    let secs = unix_ms(SystemTime::now()) / 1000;
    format!(
        "Root=1-{secs:08x}-{:024x};Parent={:016x};Sampled=0",
        rand::random::<u128>() >> 32,
        rand::random::<u64>()
    )
}

/// `VmHWM` (kB) of a process and its descendants, summed.
fn tree_vm_hwm_kb(pid: u32) -> u64 {
    let mut total = 0;
    let mut stack = vec![pid];
    let mut seen = 0;
    while let Some(p) = stack.pop() {
        seen += 1;
        if seen > 256 {
            break;
        }
        total += std::fs::read_to_string(format!("/proc/{p}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) {
            stack.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    total
}

/// A `sh` that outlives nothing: it holds a pipe from this process and
/// the list of the environments' process groups; when the pipe closes
/// (the stage stops, or this process dies for any reason) it kills every
/// group still listed. So no function process outlives its stage, even
/// when a test panics or the process is killed.
struct Watchdog {
    child: Mutex<Option<(std::process::Child, std::process::ChildStdin)>>,
}

const WATCHDOG: &str = r#"pgs=" "
while read -r op pg; do
  case "$op" in
    add) pgs="$pgs$pg " ;;
    del) case "$pgs" in *" $pg "*) pgs="${pgs%% $pg *} ${pgs#* $pg }" ;; esac ;;
  esac
done
for pg in $pgs; do kill -s KILL -- "-$pg" 2>/dev/null; done
exit 0"#;

impl Watchdog {
    fn start() -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin pipe to the watchdog"))?;
        Ok(Self {
            child: Mutex::new(Some((child, stdin))),
        })
    }

    fn send(&self, line: &str) {
        if let Some((_, stdin)) = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            let _ = stdin.write_all(line.as_bytes());
        }
    }

    fn add(&self, pgid: i32) {
        self.send(&format!("add {pgid}\n"));
    }

    fn forget(&self, pgid: i32) {
        self.send(&format!("del {pgid}\n"));
    }

    /// Closes the pipe and waits (bounded) for the watchdog to kill every
    /// group it holds.
    fn kill_all(&self) {
        let taken = self.child.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((mut child, stdin)) = taken {
            drop(stdin);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids() {
        let id = uuid_v4();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{id}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(uuid_v4(), id);
    }

    #[test]
    fn the_watchdog_kills_the_groups_it_holds_when_its_pipe_closes() {
        use std::os::unix::process::CommandExt;
        let spawn = || {
            std::process::Command::new("sleep")
                .arg("60")
                .process_group(0)
                .spawn()
                .expect("sleep")
        };
        let (mut kept, mut forgotten) = (spawn(), spawn());
        let dog = Watchdog::start().expect("watchdog");
        dog.add(kept.id() as i32);
        dog.add(forgotten.id() as i32);
        dog.forget(forgotten.id() as i32);
        dog.kill_all();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = kept.try_wait().expect("try_wait") {
                break Some(s);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.is_some(), "the held group was not killed");
        assert!(
            forgotten.try_wait().expect("try_wait").is_none(),
            "a forgotten group was killed"
        );
        let _ = forgotten.kill();
        let _ = forgotten.wait();
    }
}
