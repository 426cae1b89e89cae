//! [`LocalStage`]: the handler on 127.0.0.1 over HTTP/1.1, with a table in
//! DynamoDB Local (started here, or one the user names).

use std::net::Ipv4Addr;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tokio::task::JoinHandle;

use crate::dynamodb_local::{Binding, DynamoDbLocal, LocalError, Storage};
use crate::fault_injector::{AppliedFault, FaultInjector, FaultPlan, FaultTargets, check_targets};
use crate::fault_proxy::FaultProxy;
use crate::serve::{RequestBody, ServeOptions, serve};
use crate::supervisor::{DatabaseHealth, Supervisor};
use counter_lambda::config::{Config, ConfigError, StoreTimeouts};
use counter_lambda::store::{KEY_ATTRIBUTE, TTL_ATTRIBUTE};
use counter_lambda::{App, handler};

/// Timeouts for creating the table at start-up (not the API's: those are
/// the handler's configuration).
pub(crate) const SETUP_TIMEOUTS: StoreTimeouts = StoreTimeouts {
    connect: std::time::Duration::from_secs(5),
    attempt: std::time::Duration::from_secs(30),
    operation: std::time::Duration::from_secs(60),
};

/// Bodies past this are not read: the request is refused as having a body.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// How to run a local stage.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// The handler's configuration (table name, origins, allow-list...).
    pub config: Config,
    /// Use this DynamoDB endpoint instead of starting DynamoDB Local.
    pub dynamodb_endpoint: Option<String>,
    /// Port for the API on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// How long a client may take to send its request (head and body).
    pub serve: ServeOptions,
    /// Where the DynamoDB Local this stage starts keeps its tables. `None`
    /// (the default): a temporary directory the stage owns and removes
    /// when it stops (in /dev/shm where there is one). In a directory, a
    /// crash of java is survived: the stage restarts it on the same data.
    pub storage: Option<Storage>,
    /// Faults to inject once [`LocalStage::start_faults`] is called: the
    /// handler then reaches DynamoDB through a fault proxy.
    pub faults: Option<FaultPlan>,
}

impl StageOptions {
    /// Defaults for a stage: every path allowed, any origin (it is a
    /// development server on loopback), a free port.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            dynamodb_endpoint: None,
            port: 0,
            serve: ServeOptions::default(),
            storage: None,
            faults: None,
        }
    }

    /// From the environment: the handler's variables, plus
    /// `DYNAMODB_ENDPOINT`, `LOCAL_STAGE_PORT` and `DYNAMODB_LOCAL_DATA`
    /// (a directory to keep the tables in, kept after the stage stops; or
    /// `memory`; unset: a temporary directory).
    pub fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_lookup(|name| match (name, std::env::var(name).ok()) {
            ("ALLOWED_ORIGINS", None) => Some("*".to_owned()),
            (_, value) => value,
        })?;
        let port = match std::env::var("LOCAL_STAGE_PORT") {
            Err(_) => 0,
            Ok(value) => value.trim().parse().map_err(|_| ConfigError::BadNumber {
                var: "LOCAL_STAGE_PORT",
                value,
            })?,
        };
        Ok(Self {
            config,
            dynamodb_endpoint: std::env::var("DYNAMODB_ENDPOINT")
                .ok()
                .filter(|e| !e.is_empty()),
            port,
            serve: ServeOptions::default(),
            storage: match std::env::var("DYNAMODB_LOCAL_DATA") {
                Err(_) => None,
                Ok(v) if v.trim().is_empty() => None,
                Ok(v) if v.trim() == "memory" => Some(Storage::InMemory),
                Ok(v) => Some(Storage::Directory(v.into())),
            },
            faults: None,
        })
    }
}

/// A running local stage. Dropping it stops the server and, if it started
/// one, DynamoDB Local (and removes the stage's own data directory).
///
/// A DynamoDB Local the stage started is supervised: if java dies, the
/// stage answers 503 while it restarts it on the same data, or, when that
/// cannot help, reports why ([`LocalStage::database_failed`]).
#[derive(Debug)]
pub struct LocalStage {
    url: String,
    dynamodb_endpoint: String,
    binding: Option<Binding>,
    client: Client,
    table: String,
    server: JoinHandle<()>,
    // Dropped after the server task is aborted, in this order: java stops,
    // then its data directory is removed.
    database: Option<Supervisor>,
    _data_dir: Option<tempfile::TempDir>,
    /// With a fault injector planned: the proxy the handler's client goes
    /// through, the plan, and the fault injector once started.
    faults: Option<Faults>,
}

#[derive(Debug)]
struct Faults {
    proxy: FaultProxy,
    plan: FaultPlan,
    targets: FaultTargets,
    running: Option<FaultInjector>,
}

impl LocalStage {
    pub async fn start(options: StageOptions) -> Result<Self, LocalError> {
        let Database {
            endpoint: dynamodb_endpoint,
            binding,
            supervisor: database,
            data_dir,
        } = Database::start(options.dynamodb_endpoint.clone(), options.storage.clone()).await?;
        let client = local_client(&dynamodb_endpoint, options.config.timeouts).await;
        let faults = match options.faults.clone() {
            None => None,
            Some(plan) => {
                Some(Faults::new(plan, &dynamodb_endpoint, &database, &options.config).await?)
            }
        };
        let handler_client = match &faults {
            Some(f) => local_client(f.proxy.url(), options.config.timeouts).await,
            None => client.clone(),
        };
        let table = options.config.table_name.clone();
        // Set-up is not a visit: a JVM that has just started may take
        // seconds over its first request, so this one gets a patient client.
        create_table(
            &local_client(&dynamodb_endpoint, SETUP_TIMEOUTS).await,
            &table,
        )
        .await?;

        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = Arc::new(App::new(options.config, handler_client));
        let server = tokio::spawn(serve(
            listener,
            move |req| {
                let app = app.clone();
                async move { answer(&app, req).await }
            },
            options.serve,
        ));
        Ok(Self {
            url,
            dynamodb_endpoint,
            binding,
            client,
            table,
            server,
            database,
            _data_dir: data_dir,
            faults,
        })
    }

    /// Starts the planned faults, its windows counted from `origin` (the
    /// run's clock). Does nothing without a plan or when already started.
    pub fn start_faults(&mut self, origin: std::time::Instant) -> Result<(), LocalError> {
        if let Some(f) = &mut self.faults
            && f.running.is_none()
        {
            let faults = FaultInjector::start(f.plan.clone(), f.targets.clone(), origin)
                .map_err(|e| LocalError::Setup(format!("faults: {e}")))?;
            f.running = Some(faults);
        }
        Ok(())
    }

    /// The fault injector this stage was started with, if any.
    pub fn fault_plan(&self) -> Option<&FaultPlan> {
        self.faults.as_ref().map(|f| &f.plan)
    }

    /// The fault windows applied so far.
    pub fn fault_windows(&self) -> Vec<AppliedFault> {
        self.faults
            .as_ref()
            .and_then(|f| f.running.as_ref())
            .map(FaultInjector::applied)
            .unwrap_or_default()
    }

    /// Stops the fault injector (a fault on now ends; a paused java continues)
    /// and returns every window it applied.
    pub fn stop_faults(&mut self) -> Vec<AppliedFault> {
        self.faults
            .as_mut()
            .and_then(|f| f.running.take())
            .map(FaultInjector::stop)
            .unwrap_or_default()
    }

    /// The API's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn dynamodb_endpoint(&self) -> &str {
        &self.dynamodb_endpoint
    }

    /// A client for the same DynamoDB, for tests that look behind the API.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Where the DynamoDB Local this stage started listens (`None`: the
    /// user's own DynamoDB).
    pub fn binding(&self) -> Option<&Binding> {
        self.binding.as_ref()
    }

    /// The state of the DynamoDB Local this stage started.
    pub fn database_health(&self) -> Option<DatabaseHealth> {
        self.database.as_ref().map(Supervisor::health)
    }

    /// The java process of the DynamoDB Local this stage started, while it
    /// runs.
    pub fn database_pid(&self) -> Option<u32> {
        self.database.as_ref().and_then(Supervisor::java_pid)
    }

    /// Resolves, with the cause, once the DynamoDB Local this stage started
    /// has died for good (not restarted). Never, for a user's own DynamoDB.
    pub fn database_failed(&self) -> impl std::future::Future<Output = String> + use<> {
        let updates = self.database.as_ref().map(Supervisor::health_updates);
        async move {
            if let Some(mut updates) = updates
                && let Ok(health) = updates
                    .wait_for(|h| matches!(h, DatabaseHealth::Failed(_)))
                    .await
                && let DatabaseHealth::Failed(cause) = &*health
            {
                return cause.clone();
            }
            std::future::pending().await
        }
    }

    /// Stops DynamoDB Local on purpose (only one this stage started; it is
    /// not restarted until [`LocalStage::restart_database`]): the API must
    /// then answer 503.
    pub fn stop_database(&mut self) -> Result<(), LocalError> {
        self.supervisor()?.stop()
    }

    /// Starts DynamoDB Local again on the same port and storage, and
    /// creates the table if it is not there (in memory, it is not).
    pub async fn restart_database(&mut self) -> Result<(), LocalError> {
        self.supervisor()?.start_again().await?;
        let setup = local_client(&self.dynamodb_endpoint, SETUP_TIMEOUTS).await;
        create_table(&setup, &self.table).await
    }

    fn supervisor(&self) -> Result<&Supervisor, LocalError> {
        self.database
            .as_ref()
            .ok_or_else(|| LocalError::Setup("this stage uses an external DynamoDB".into()))
    }
}

impl Drop for LocalStage {
    fn drop(&mut self) {
        // First: no fault outlives the stage, and java is not left paused.
        self.stop_faults();
        self.server.abort();
    }
}

impl Faults {
    /// The proxy in front of `endpoint`, and what the plan may act on
    /// (checked now, so a plan the stage cannot run fails its start).
    async fn new(
        plan: FaultPlan,
        endpoint: &str,
        database: &Option<Supervisor>,
        config: &Config,
    ) -> Result<Self, LocalError> {
        let proxy = FaultProxy::start(endpoint).await?;
        let targets = FaultTargets {
            attempt_timeout: config.timeouts.attempt,
            proxy: Some(proxy.switch()),
            process: database.as_ref().map(Supervisor::process_handle),
        };
        check_targets(&plan, &targets).map_err(|e| LocalError::Setup(format!("faults: {e}")))?;
        Ok(Self {
            proxy,
            plan,
            targets,
            running: None,
        })
    }
}

/// The DynamoDB a stage uses: the one named, or a DynamoDB Local started
/// (and supervised) for the stage, on its own data directory unless told.
pub(crate) struct Database {
    pub(crate) endpoint: String,
    pub(crate) binding: Option<Binding>,
    pub(crate) supervisor: Option<Supervisor>,
    pub(crate) data_dir: Option<tempfile::TempDir>,
}

impl Database {
    pub(crate) async fn start(
        endpoint: Option<String>,
        storage: Option<Storage>,
    ) -> Result<Self, LocalError> {
        if let Some(endpoint) = endpoint {
            return Ok(Self {
                endpoint,
                binding: None,
                supervisor: None,
                data_dir: None,
            });
        }
        let (storage, data_dir) = match storage {
            Some(storage) => (storage, None),
            None => {
                let dir = own_data_dir()?;
                (Storage::Directory(dir.path().to_owned()), Some(dir))
            }
        };
        let db = tokio::task::spawn_blocking(move || DynamoDbLocal::start_with(storage))
            .await
            .map_err(|e| LocalError::Start(e.to_string()))??;
        Ok(Self {
            endpoint: db.endpoint(),
            binding: Some(db.binding().clone()),
            supervisor: Some(Supervisor::start(db)),
            data_dir,
        })
    }
}

/// The stage's own data directory: in /dev/shm where there is one. A RAM
/// file system is all the stage needs (the files outlive a java crash, not
/// a reboot), and SQLite's syncs cost nothing there: measured on a 2-core
/// machine, on /dev/shm ~100% of `-inMemory`'s requests/s, on an ext4 disk
/// ~43%. Elsewhere, the system's temp dir.
fn own_data_dir() -> std::io::Result<tempfile::TempDir> {
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("local-stage-dynamodb-");
        b
    };
    builder()
        .tempdir_in("/dev/shm")
        .or_else(|_| builder().tempdir())
}

/// hyper request → lambda_http request → handler → hyper response.
async fn answer(app: &App, req: hyper::Request<RequestBody>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        // Too large, broken, or not sent in time: still a request with a
        // body, refused as such (and hyper does not reuse the connection).
        Err(_) => Bytes::from_static(b"?"),
    };
    let body = if body.is_empty() {
        lambda_http::Body::Empty
    } else {
        lambda_http::Body::Binary(body.to_vec())
    };
    let response = handler::handle(app, http::Request::from_parts(parts, body)).await;
    let (parts, body) = response.into_parts();
    hyper::Response::from_parts(parts, Full::new(Bytes::copy_from_slice(&body)))
}

/// A client for DynamoDB Local: any credentials and region work there.
pub async fn local_client(endpoint: &str, timeouts: StoreTimeouts) -> Client {
    let shared = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-stage",
        ))
        .endpoint_url(endpoint)
        .timeout_config(counter_lambda::store::timeout_config(timeouts))
        .load()
        .await;
    Client::new(&shared)
}

/// Creates the counter table (key `path`, a String; on-demand; TTL on
/// `expires_at`) unless it exists: the same shape as `infra/template.yaml`.
pub async fn create_table(client: &Client, table: &str) -> Result<(), LocalError> {
    let setup = |e: aws_sdk_dynamodb::error::BuildError| LocalError::Setup(e.to_string());
    let result = client
        .create_table()
        .table_name(table)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KEY_ATTRIBUTE)
                .key_type(KeyType::Hash)
                .build()
                .map_err(setup)?,
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KEY_ATTRIBUTE)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(setup)?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match result {
        Ok(_) => {}
        Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
        Err(e) => {
            return Err(LocalError::Setup(format!(
                "CreateTable {table}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )));
        }
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL_ATTRIBUTE)
        .enabled(true)
        .build()
        .map_err(setup)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            LocalError::Setup(format!(
                "UpdateTimeToLive {table}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ))
        })
}
