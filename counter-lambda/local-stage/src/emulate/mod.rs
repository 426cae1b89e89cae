//! `--emulate-aws`: a local stage shaped like the deployed one. It reads
//! the SAM template and serves, on 127.0.0.1, API Gateway's HTTP API (the
//! template's stage and routes, its throttle, payload format 2.0 and its
//! answer mapping, the integration timeout, its own error answers) in
//! front of Lambda (execution environments running the real function,
//! each a process polling a Runtime API of its own, at most the reserved
//! concurrency, cold starts, the function timeout, REPORT lines), on
//! DynamoDB Local.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use local_stage::{EmulatedStage, EmulationOptions};
//! let stage = EmulatedStage::start(EmulationOptions::default()).await?;
//! println!("POST {}/visits?path=/", stage.url());
//! let figures = stage.figures(); // 429s, throttles, cold starts, billed ms
//! # Ok(()) }
//! ```
//!
//! Module map: [`sam_template`] reads the template; `http_api` is API
//! Gateway (pure); `lambda` the environments; `runtime_api` one
//! environment's Runtime API; `report` the REPORT lines and the figures.

mod http_api;
mod lambda;
mod report;
mod runtime_api;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tokio::task::JoinHandle;

use crate::dynamodb_local::{Binding, LocalError, Storage};
use crate::serve::{RequestBody, ServeOptions, serve};
use crate::stage::{Database, SETUP_TIMEOUTS, create_table, local_client};
use crate::supervisor::Supervisor;
use http_api::{Answer, EventInput, GatewayAnswer, Router, TokenBucket};
use lambda::{FunctionSpec, Outcome, Pool};
pub use report::StageFigures;
use report::{Sink, Tally};
use sam_template::{HttpStage, Template, Throttle};

/// The account-level figures the stage applies where the template says
/// nothing: read from the load test's figures file (each with its source
/// there), compiled in.
const FIGURES: &str = include_str!("../../../../loadtest/data/aws-us-east-1.json");

/// The REPORT lines' file in the stage's log directory ([`EmulatedStage::reports_path`]).
pub const REPORTS_FILE: &str = "lambda-reports.log";
/// The whole function log (START, END, REPORT and the function's own
/// output, as its log stream holds them).
pub const FUNCTION_LOG: &str = "function.log";

/// Variables passed from this process to the function's, so that a
/// command such as `python3 -m awslambdaric app.handler` finds what it
/// would in the user's shell. Everything else comes from the template,
/// Lambda's own variables and `--function-env`.
const PASSED_THROUGH: [&str; 10] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONHOME",
    "NODE_PATH",
    "SSL_CERT_FILE",
];

/// How to run an emulated stage.
#[derive(Debug, Clone)]
pub struct EmulationOptions {
    /// The SAM template; `None`: `infra/template.yaml` here or above.
    pub template: Option<PathBuf>,
    /// Template parameters given values other than their defaults
    /// (`--parameter NAME=VALUE`, as `sam deploy --parameter-overrides`).
    pub parameters: Vec<(String, String)>,
    /// Another function's command (run in the current directory), e.g.
    /// `python3 -m awslambdaric app.handler`; `None`: our `bootstrap`.
    pub function: Option<String>,
    /// Our `bootstrap`; `None`: `BOOTSTRAP_BIN`, else found under the
    /// workspace's `target/`.
    pub bootstrap: Option<PathBuf>,
    /// Added to the function's environment, last (`--function-env K=V`).
    pub function_env: Vec<(String, String)>,
    /// A free environment is retired after this long.
    pub idle_timeout: Duration,
    /// Use this DynamoDB instead of starting DynamoDB Local.
    pub dynamodb_endpoint: Option<String>,
    /// Where the DynamoDB Local it starts keeps its tables.
    pub storage: Option<Storage>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where the REPORT lines and the function log go; `None`: a
    /// temporary directory the stage removes when it stops.
    pub log_dir: Option<PathBuf>,
    pub serve: ServeOptions,
}

impl EmulationOptions {
    /// 5 minutes: AWS does not say when it reclaims an idle environment.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);
}

impl Default for EmulationOptions {
    fn default() -> Self {
        Self {
            template: None,
            parameters: Vec::new(),
            function: None,
            bootstrap: None,
            function_env: Vec::new(),
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            dynamodb_endpoint: std::env::var("DYNAMODB_ENDPOINT")
                .ok()
                .filter(|e| !e.is_empty()),
            storage: None,
            port: 0,
            log_dir: None,
            serve: ServeOptions::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulateError {
    #[error(transparent)]
    Template(#[from] sam_template::TemplateError),
    #[error(
        "no {} in {} or a directory above it (up to the git root): name one with --template FILE",
        sam_template::RELATIVE_PATH,
        .0.display()
    )]
    NoTemplate(PathBuf),
    /// The function cannot be run as asked.
    #[error("{0}")]
    Function(String),
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A running emulated stage. Dropping it stops the server and every
/// function process (and DynamoDB Local, if it started one).
pub struct EmulatedStage {
    url: String,
    gateway: Arc<Gateway>,
    server: JoinHandle<()>,
    template: HttpStage,
    command: Vec<String>,
    log_dir: PathBuf,
    dynamodb_endpoint: String,
    binding: Option<Binding>,
    table: String,
    // Dropped last: java stops, then its data directory goes.
    _database: Option<Supervisor>,
    _data_dir: Option<tempfile::TempDir>,
    _log_tmp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for EmulatedStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedStage")
            .field("url", &self.url)
            .field("command", &self.command)
            .field("log_dir", &self.log_dir)
            .finish_non_exhaustive()
    }
}

/// Where the function's and the REPORT lines go: `--log-dir`, else a
/// temporary directory the stage owns (kept while it runs).
fn log_dir(
    options: &EmulationOptions,
) -> Result<(PathBuf, Option<tempfile::TempDir>), EmulateError> {
    let (dir, tmp) = match &options.log_dir {
        Some(d) => (d.clone(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("emulated-stage-")
                .tempdir()?;
            (t.path().to_owned(), Some(t))
        }
    };
    std::fs::create_dir_all(&dir)?;
    Ok((dir, tmp))
}

/// The function's table (its `TABLE_NAME`, else the Lambda's default),
/// created in the stage's DynamoDB as the template's table would be.
async fn function_table(
    env: &BTreeMap<String, String>,
    endpoint: &str,
) -> Result<String, EmulateError> {
    let table = counter_lambda::config::table_name(env.get("TABLE_NAME").cloned());
    create_table(&local_client(endpoint, SETUP_TIMEOUTS).await, &table).await?;
    Ok(table)
}

impl EmulatedStage {
    pub async fn start(options: EmulationOptions) -> Result<Self, EmulateError> {
        let cwd = std::env::current_dir()?;
        let template_path = match &options.template {
            Some(p) => p.clone(),
            None => {
                sam_template::find(&cwd).ok_or_else(|| EmulateError::NoTemplate(cwd.clone()))?
            }
        };
        let mut template =
            Template::read_with(&template_path, &options.parameters)?.http_stage()?;
        check_routes(&template)?;
        let (argv, task_root, ours) = function_command(&options, &template, &cwd)?;
        let database =
            Database::start(options.dynamodb_endpoint.clone(), options.storage.clone()).await?;
        let env = function_environment(&options, &template, &task_root, ours, &database.endpoint);
        drop_notes_of_set_variables(&mut template, &env);
        let table = function_table(&env, &database.endpoint).await?;
        let (log_dir, log_tmp) = log_dir(&options)?;
        let sink = Arc::new(Sink::new(
            append(&log_dir.join(FUNCTION_LOG))?,
            append(&log_dir.join(REPORTS_FILE))?,
        ));
        let spec = FunctionSpec {
            argv: argv.clone(),
            cwd: task_root,
            env,
            name: template.function.name.clone(),
            memory_mb: template.function.memory_mb,
            timeout: template.function.timeout,
            log: Arc::new(append(&log_dir.join(FUNCTION_LOG))?),
        };
        let account = Account::from_figures();
        let limit = template
            .function
            .reserved_concurrency
            .map_or(account.concurrency, |r| r as usize);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let pool = Pool::new(spec, limit, options.idle_timeout, tally.clone(), sink)?;
        let gateway = Arc::new(Gateway::new(&template, &account, pool, tally));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
        let url = format!(
            "http://{}{}",
            listener.local_addr()?,
            gateway.router.base_path()
        );
        let serving = gateway.clone();
        let server = tokio::spawn(serve(
            listener,
            move |req| {
                let gateway = serving.clone();
                async move { gateway.answer(req).await }
            },
            options.serve,
        ));
        Ok(Self {
            url,
            gateway,
            server,
            template,
            command: argv,
            log_dir,
            dynamodb_endpoint: database.endpoint,
            binding: database.binding,
            table,
            _database: database.supervisor,
            _data_dir: database.data_dir,
            _log_tmp: log_tmp,
        })
    }

    /// The stage's base URL, its stage included: `http://127.0.0.1:PORT/prod`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What the stage counted so far.
    pub fn figures(&self) -> StageFigures {
        self.gateway.figures()
    }

    /// The template read.
    pub fn template(&self) -> &HttpStage {
        &self.template
    }

    /// The command each environment runs.
    pub fn command(&self) -> &[String] {
        &self.command
    }

    /// The REPORT lines, one per invocation.
    pub fn reports_path(&self) -> PathBuf {
        self.log_dir.join(REPORTS_FILE)
    }

    pub fn dynamodb_endpoint(&self) -> &str {
        &self.dynamodb_endpoint
    }

    /// Warms DynamoDB Local for `how_long` (a JVM serves its first
    /// thousands of requests slowly, while it compiles them), straight to
    /// the table, not through API Gateway or Lambda: the throttle's tokens
    /// and the environments stay as they are, as on a deployed stage, whose
    /// DynamoDB needs no warming. Returns the writes made.
    pub async fn warm_database(&self, how_long: Duration) -> u64 {
        let client = local_client(&self.dynamodb_endpoint, Default::default()).await;
        let deadline = Instant::now() + how_long;
        // The function's own write (`UpdateItem ADD`), straight to the table.
        let store = counter_lambda::store::CounterStore::new(client, self.table.clone());
        let writers = (0..8).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    if store.increment("/__warm-up/emulated-stage").await.is_err() {
                        break;
                    }
                    n += 1;
                }
                n
            })
        });
        let mut total = 0;
        for w in writers.collect::<Vec<_>>() {
            total += w.await.unwrap_or(0);
        }
        total
    }

    pub fn binding(&self) -> Option<&Binding> {
        self.binding.as_ref()
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

impl Drop for EmulatedStage {
    fn drop(&mut self) {
        self.server.abort();
        self.gateway.pool.shut_down();
    }
}

fn append(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

/// Only payload format 2.0 is emulated.
/// A variable the template left unset but `--function-env` sets is no
/// longer worth a note.
fn drop_notes_of_set_variables(template: &mut HttpStage, env: &BTreeMap<String, String>) {
    let set_now: Vec<String> = (template.function.environment_unset.iter())
        .filter(|(k, _)| env.contains_key(*k))
        .map(|(k, why)| sam_template::unset_variable_note(k, why))
        .collect();
    template.notes.retain(|n| !set_now.contains(n));
}

fn check_routes(t: &HttpStage) -> Result<(), EmulateError> {
    if t.routes.is_empty() {
        return Err(EmulateError::Function(format!(
            "{}: the function has no HttpApi routes",
            t.source.display()
        )));
    }
    match t.routes.iter().find(|r| r.payload_format != "2.0") {
        Some(r) => Err(EmulateError::Function(format!(
            "{}: route {} uses payload format {}; the emulated stage serves 2.0 (HTTP API's default)",
            t.source.display(),
            r.key.key(),
            r.payload_format
        ))),
        None => Ok(()),
    }
}

/// The account-level figures: Lambda's concurrency, API Gateway's
/// account throttle.
struct Account {
    concurrency: usize,
    throttle: Throttle,
}

impl Account {
    fn from_figures() -> Self {
        let v: serde_json::Value = serde_json::from_str(FIGURES).unwrap_or_default();
        let limit =
            |name: &str, default: f64| v["limits"][name]["value"].as_f64().unwrap_or(default);
        Self {
            concurrency: limit("lambda_account_concurrency", 1000.0) as usize,
            throttle: Throttle {
                rate: limit("api_gateway_account_rps", 10_000.0),
                burst: limit("api_gateway_account_burst", 5000.0),
            },
        }
    }
}

/// The program to run in each environment, the task root (its working
/// directory), and whether it is our function.
fn function_command(
    options: &EmulationOptions,
    t: &HttpStage,
    cwd: &Path,
) -> Result<(Vec<String>, PathBuf, bool), EmulateError> {
    if let Some(cmd) = &options.function {
        let argv = command_words(cmd).ok_or_else(|| {
            EmulateError::Function(format!("--function {cmd:?}: an empty command"))
        })?;
        return Ok((argv, cwd.to_owned(), false));
    }
    let runtime = t.function.runtime.as_deref().unwrap_or("provided.al2023");
    if !runtime.starts_with("provided") {
        return Err(EmulateError::Function(format!(
            "the template's function runs {runtime} (Handler {}): give its command with --function, \
             e.g. --function 'python3 -m awslambdaric {}'",
            t.function.handler.as_deref().unwrap_or("?"),
            t.function.handler.as_deref().unwrap_or("app.handler"),
        )));
    }
    let bin = find_bootstrap(options.bootstrap.clone(), cwd)?;
    let root = bin.parent().map_or_else(|| cwd.to_owned(), Path::to_owned);
    Ok((vec![bin.to_string_lossy().into_owned()], root, true))
}

/// A command line as words: run as it is written when it is plain words
/// (quotes allowed), through `sh -c` when it uses the shell's syntax.
fn command_words(cmd: &str) -> Option<Vec<String>> {
    if cmd.trim().is_empty() {
        return None;
    }
    if cmd.contains([
        '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '*', '?', '~',
    ]) {
        return Some(vec!["sh".into(), "-c".into(), cmd.to_owned()]);
    }
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in cmd.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (_, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    if quote.is_some() {
        return Some(vec!["sh".into(), "-c".into(), cmd.to_owned()]);
    }
    words.extend(word);
    Some(words)
}

/// Our `bootstrap`: the one named, else `BOOTSTRAP_BIN`, else the newest
/// that `infra/package.sh` or `cargo build --profile lambda-release -p
/// counter-lambda --bin bootstrap` left under a `target/` here or above
/// (or under `CARGO_TARGET_DIR`).
pub fn find_bootstrap(named: Option<PathBuf>, cwd: &Path) -> Result<PathBuf, EmulateError> {
    let named = named.or_else(|| {
        std::env::var_os("BOOTSTRAP_BIN")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    if let Some(p) = named {
        let p = if p.is_relative() { cwd.join(p) } else { p };
        return if p.is_file() {
            Ok(p)
        } else {
            Err(EmulateError::Function(format!(
                "the bootstrap {} does not exist",
                p.display()
            )))
        };
    }
    let mut targets: Vec<PathBuf> = cwd.ancestors().map(|d| d.join("target")).collect();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR").filter(|v| !v.is_empty()) {
        targets.insert(0, cwd.join(t));
    }
    let mut found: Vec<(SystemTime, PathBuf)> = Vec::new();
    for target in targets.iter().filter(|t| t.is_dir()) {
        let mut candidates = vec![
            target.join("lambda-release/bootstrap"),
            target.join("lambda/bootstrap/bootstrap"),
        ];
        if let Ok(dirs) = std::fs::read_dir(target) {
            candidates.extend(
                dirs.flatten()
                    .map(|d| d.path().join("lambda-release/bootstrap")),
            );
        }
        for c in candidates {
            if let Ok(modified) = std::fs::metadata(&c).and_then(|m| m.modified()) {
                found.push((modified, c));
            }
        }
    }
    found.sort();
    found.pop().map(|(_, p)| p).ok_or_else(|| {
        EmulateError::Function(
            "no bootstrap found: build the function as it ships with \
             `cargo build --profile lambda-release -p counter-lambda --bin bootstrap` (or \
             infra/package.sh x86_64), or set BOOTSTRAP_BIN=/path/to/bootstrap, or run \
             another function with --function 'COMMAND'"
                .to_owned(),
        )
    })
}

/// The function's environment: the template's (for our function), the
/// variables Lambda sets, DynamoDB Local with dummy credentials, then
/// `--function-env` last.
fn function_environment(
    options: &EmulationOptions,
    t: &HttpStage,
    task_root: &Path,
    ours: bool,
    dynamodb: &str,
) -> BTreeMap<String, String> {
    let f = &t.function;
    let mut env = if ours {
        f.environment.clone()
    } else {
        BTreeMap::new()
    };
    for name in PASSED_THROUGH {
        if let Some(v) = std::env::var_os(name) {
            env.insert(name.to_owned(), v.to_string_lossy().into_owned());
        }
    }
    let root = task_root.to_string_lossy().into_owned();
    let region = sam_template::REGION.to_owned();
    let lambda: [(&str, String); 15] = [
        ("AWS_LAMBDA_FUNCTION_NAME", f.name.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", f.name),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("AWS_REGION", region.clone()),
        ("AWS_DEFAULT_REGION", region),
        ("LAMBDA_TASK_ROOT", root.clone()),
        ("LAMBDA_RUNTIME_DIR", root),
        ("TZ", ":UTC".into()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("AWS_SESSION_TOKEN", "local".into()),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.to_owned()),
        ("_HANDLER", f.handler.clone().unwrap_or_default()),
    ];
    env.extend(lambda.into_iter().map(|(k, v)| (k.to_owned(), v)));
    // Not set for OS-only runtimes (the `provided` family).
    if let Some(rt) = f.runtime.as_deref().filter(|r| !r.starts_with("provided")) {
        env.insert("AWS_EXECUTION_ENV".into(), format!("AWS_Lambda_{rt}"));
    }
    env.extend(options.function_env.iter().cloned());
    env
}

/// API Gateway in front of the pool.
struct Gateway {
    router: Router,
    /// One bucket per route with a throttle (index as the routes').
    buckets: Vec<Option<Mutex<TokenBucket>>>,
    account: Mutex<TokenBucket>,
    pool: Arc<Pool>,
    tally: Arc<Mutex<Tally>>,
    memory_mb: u32,
    api_id: String,
}

impl Gateway {
    fn new(t: &HttpStage, account: &Account, pool: Arc<Pool>, tally: Arc<Mutex<Tally>>) -> Self {
        let now = Instant::now();
        let buckets = t
            .routes
            .iter()
            .map(|r| {
                r.throttle
                    .map(|th| Mutex::new(TokenBucket::new(th.or_account(account.throttle), now)))
            })
            .collect();
        Self {
            router: Router::new(&t.stage_name, t.routes.clone()),
            buckets,
            account: Mutex::new(TokenBucket::new(account.throttle, now)),
            pool,
            tally,
            memory_mb: t.function.memory_mb,
            api_id: "local".to_owned(),
        }
    }

    fn count(&self, f: impl FnOnce(&mut Tally)) {
        f(&mut self.tally.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn figures(&self) -> StageFigures {
        let environments = self.pool.environments();
        self.tally
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .figures(environments, self.memory_mb)
    }

    /// Whether the account's bucket and the route's each have a token.
    fn admit(&self, route: usize) -> bool {
        let now = Instant::now();
        let take = |b: &Mutex<TokenBucket>| b.lock().unwrap_or_else(|e| e.into_inner()).take(now);
        take(&self.account) && self.buckets[route].as_ref().is_none_or(take)
    }

    async fn answer(&self, req: hyper::Request<RequestBody>) -> hyper::Response<Full<Bytes>> {
        self.count(|t| t.requests += 1);
        let request_id = api_request_id();
        let answer = self.gateway(req, &request_id).await;
        let mut builder = hyper::Response::builder()
            .status(answer.status)
            .header("apigw-requestid", request_id.as_str());
        for (k, v) in &answer.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        builder
            .body(Full::new(answer.body))
            .unwrap_or_else(|_| internal_error())
    }

    async fn gateway(&self, req: hyper::Request<RequestBody>, request_id: &str) -> Answer {
        let (parts, body) = req.into_parts();
        let method = parts.method.as_str().to_owned();
        let raw_path = parts.uri.path().to_owned();
        let Some(matched) = self.router.route(&method, &raw_path) else {
            self.count(|t| t.not_found += 1);
            return Answer::gateway(GatewayAnswer::NotFound);
        };
        if !self.admit(matched.index) {
            self.count(|t| t.throttled_by_api_gateway += 1);
            return Answer::gateway(GatewayAnswer::Throttled);
        }
        let Ok(body) = Limited::new(body, http_api::MAX_REQUEST_BYTES)
            .collect()
            .await
        else {
            return Answer::gateway(GatewayAnswer::TooLarge);
        };
        let route = &self.router.routes()[matched.index];
        let route_key = route.key.key();
        let (time, epoch_ms) = request_time();
        let event = http_api::event_v2(&EventInput {
            method: &method,
            raw_path: &raw_path,
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            body: &body.to_bytes(),
            route_key: &route_key,
            stage: self.router.stage_name(),
            path_parameters: &matched.path_parameters,
            request_id,
            api_id: &self.api_id,
            source_ip: "127.0.0.1",
            time: &time,
            time_epoch_ms: epoch_ms,
        });
        let event = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
        let Ok(outcome) = self.pool.invoke(event) else {
            self.count(|t| t.throttled_by_lambda += 1);
            return Answer::gateway(GatewayAnswer::InternalError);
        };
        match tokio::time::timeout(route.integration_timeout, outcome).await {
            Err(_) => {
                self.count(|t| t.integration_timeouts += 1);
                Answer::gateway(GatewayAnswer::ServiceUnavailable)
            }
            Ok(Ok(Outcome::Response(payload))) => match http_api::map_result_v2(&payload) {
                Some(answer) => answer,
                None => {
                    self.count(|t| t.function_errors += 1);
                    Answer::gateway(GatewayAnswer::InternalError)
                }
            },
            Ok(Ok(Outcome::Timeout)) => {
                self.count(|t| t.function_timeouts += 1);
                Answer::gateway(GatewayAnswer::InternalError)
            }
            Ok(Ok(Outcome::FunctionError) | Err(_)) => {
                self.count(|t| t.function_errors += 1);
                Answer::gateway(GatewayAnswer::InternalError)
            }
        }
    }
}

fn internal_error() -> hyper::Response<Full<Bytes>> {
    let a = GatewayAnswer::InternalError;
    let mut r = hyper::Response::new(Full::new(Bytes::from_static(a.body().as_bytes())));
    *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    r
}

/// API Gateway's request ids look like `BQGojGzJDoEEMtA=`.
fn api_request_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut n = rand::random::<u128>();
    let mut id: String = (0..15)
        .map(|_| {
            let c = ALPHABET[(n % 62) as usize] as char;
            n /= 62;
            c
        })
        .collect();
    id.push('=');
    id
}

/// `24/Nov/2026:17:00:00 +0000` and unix ms, for the event.
fn request_time() -> (String, u64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let now = time::OffsetDateTime::now_utc();
    let text = format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        now.day(),
        MONTHS[usize::from(u8::from(now.month())) - 1],
        now.year(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let ms = (now.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    (text, ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_words_unless_they_need_a_shell() {
        assert_eq!(
            command_words("python3 -m awslambdaric app.handler"),
            Some(vec![
                "python3".into(),
                "-m".into(),
                "awslambdaric".into(),
                "app.handler".into()
            ])
        );
        assert_eq!(
            command_words(r#"node "my dir/index.js""#),
            Some(vec!["node".into(), "my dir/index.js".into()])
        );
        assert_eq!(
            command_words("cd fn && exec python3 -m awslambdaric app.handler"),
            Some(vec![
                "sh".into(),
                "-c".into(),
                "cd fn && exec python3 -m awslambdaric app.handler".into()
            ])
        );
        assert_eq!(command_words("  "), None);
    }

    #[test]
    fn the_account_figures_come_from_the_figures_file() {
        let a = Account::from_figures();
        assert_eq!(a.concurrency, 1000);
        assert_eq!(
            a.throttle,
            Throttle {
                rate: 10_000.0,
                burst: 5000.0
            }
        );
    }

    #[test]
    fn a_missing_bootstrap_says_how_to_build_one() {
        let empty = tempfile::tempdir().expect("tempdir");
        let named = find_bootstrap(Some(empty.path().join("nope")), empty.path());
        assert!(
            named
                .expect_err("refused")
                .to_string()
                .contains("does not exist")
        );
    }

    #[test]
    fn a_variable_the_template_left_unset_loses_its_note_once_set() {
        let text = "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Environment:\n        Variables:\n          ARN: !GetAtt F.Arn\n          OTHER: !GetAtt F.Arn\n      Events:\n        E: {Type: HttpApi}\n";
        let mut t = Template::parse(text, Path::new("t.yaml"))
            .and_then(|t| t.http_stage())
            .expect("template");
        let unset = |t: &HttpStage| t.notes.iter().filter(|n| n.contains("left unset")).count();
        assert_eq!(unset(&t), 2, "{:?}", t.notes);
        let env = BTreeMap::from([("ARN".to_owned(), "arn:aws:lambda:x".to_owned())]);
        drop_notes_of_set_variables(&mut t, &env);
        assert_eq!(unset(&t), 1, "{:?}", t.notes);
        assert!(t.notes.iter().any(|n| n.contains("OTHER")), "{:?}", t.notes);
    }

    #[test]
    fn the_function_environment_is_lambdas_then_the_users() {
        let t = Template::parse(
            include_str!("../../../../infra/template.yaml"),
            Path::new("infra/template.yaml"),
        )
        .and_then(|t| t.http_stage())
        .expect("template");
        let options = EmulationOptions {
            function_env: vec![("TABLE_NAME".into(), "mine".into())],
            ..EmulationOptions::default()
        };
        let env =
            function_environment(&options, &t, Path::new("/task"), true, "http://127.0.0.1:9");
        assert_eq!(env["TABLE_NAME"], "mine", "--function-env comes last");
        assert_eq!(
            env["ALLOWED_ORIGINS"], "",
            "the template's default, for our function"
        );
        assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "128");
        assert_eq!(env["AWS_ENDPOINT_URL_DYNAMODB"], "http://127.0.0.1:9");
        assert_eq!(env["_HANDLER"], "bootstrap");
        assert_eq!(env["LAMBDA_TASK_ROOT"], "/task");
        assert!(
            !env.contains_key("AWS_EXECUTION_ENV"),
            "not for provided runtimes"
        );
        let foreign = function_environment(&options, &t, Path::new("/task"), false, "x");
        assert!(
            !foreign.contains_key("ALLOWED_ORIGINS"),
            "not for another function"
        );
    }

    #[test]
    fn api_request_ids_look_like_api_gateways() {
        let id = api_request_id();
        assert_eq!(id.len(), 16);
        assert!(id.ends_with('='));
    }
}
