//! The visitor counter's API: `POST /visits?path=/page` adds one to that
//! page's counter in DynamoDB and returns it; `GET` reads it.
//!
//! One handler ([`handler::handle`]) serves API Gateway REST (v1), HTTP API
//! (v2) and Lambda function URLs through `lambda_http`; the `local-stage`
//! crate serves the same handler on 127.0.0.1 against DynamoDB Local.
//! The path rules clients share live in `counter-api` (re-exported as
//! [`path`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let app = counter_lambda::App::from_env().await?;
//! let request = lambda_http::Request::default();
//! let response = counter_lambda::handler::handle(&app, request).await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod error;
pub mod handler;
pub mod route;
pub mod store;

pub use counter_api::path;

pub use config::Config;
pub use store::CounterStore;

/// What the handler needs: configuration and the store. Built once per
/// Lambda instance (or per local stage) and passed in, never global.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Config,
    pub store: CounterStore,
}

impl App {
    pub fn new(config: Config, client: aws_sdk_dynamodb::Client) -> Self {
        let store = CounterStore::new(client, config.table_name.clone())
            .with_budget(config.timeouts.operation)
            .with_test_keys(store::TestKeys {
                prefix: config.loadtest_prefix.clone(),
                ttl: config.test_key_ttl,
            });
        Self { config, store }
    }

    /// Configuration and SDK client from the environment, as on Lambda.
    pub async fn from_env() -> Result<Self, config::ConfigError> {
        let config = Config::from_env()?;
        let client = store::dynamodb_client(config.timeouts).await;
        Ok(Self::new(config, client))
    }
}

/// JSON logs through `tracing`, as CloudWatch wants them. `RUST_LOG` takes
/// a level or `target=level` directives (default `info`); parsed by
/// `Targets`, which keeps a regex engine out of the Lambda binary.
pub fn init_json_logs() {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter: tracing_subscriber::filter::Targets = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing::level_filters::LevelFilter::INFO)
        });
    let _ = json_logs(std::io::stdout, filter).try_init();
}

/// The function's log format (one JSON object a line, no timestamp: Lambda
/// adds its own) written to `writer`: what `init_json_logs` installs, and
/// what tests read the handler's lines through.
pub fn json_logs<W>(
    writer: W,
    filter: tracing_subscriber::filter::Targets,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .without_time()
                .with_writer(writer),
        )
        .with(filter)
}
