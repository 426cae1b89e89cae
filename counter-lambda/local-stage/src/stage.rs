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
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tokio::task::JoinHandle;

use crate::dynamodb_local::{DynamoDbLocal, LocalError};
use crate::serve::{RequestBody, ServeOptions, serve};
use counter_lambda::config::{Config, ConfigError, StoreTimeouts};
use counter_lambda::store::KEY_ATTRIBUTE;
use counter_lambda::{App, handler};

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
        }
    }

    /// From the environment: the handler's variables, plus
    /// `DYNAMODB_ENDPOINT` and `LOCAL_STAGE_PORT`.
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
        })
    }
}

/// A running local stage. Dropping it stops the server and, if it started
/// one, DynamoDB Local.
#[derive(Debug)]
pub struct LocalStage {
    url: String,
    dynamodb_endpoint: String,
    client: Client,
    table: String,
    server: JoinHandle<()>,
    // Last: dropped after the server task is aborted.
    database: Option<DynamoDbLocal>,
}

impl LocalStage {
    pub async fn start(options: StageOptions) -> Result<Self, LocalError> {
        let database = match &options.dynamodb_endpoint {
            Some(_) => None,
            None => Some(
                tokio::task::spawn_blocking(DynamoDbLocal::start)
                    .await
                    .map_err(|e| LocalError::Start(e.to_string()))??,
            ),
        };
        let dynamodb_endpoint = match (&options.dynamodb_endpoint, &database) {
            (Some(url), _) => url.clone(),
            (None, Some(db)) => db.endpoint(),
            (None, None) => unreachable!("a database was started above"),
        };
        let client = local_client(&dynamodb_endpoint, options.config.timeouts).await;
        let table = options.config.table_name.clone();
        create_table(&client, &table).await?;

        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, options.port)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = Arc::new(App::new(options.config, client.clone()));
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
            client,
            table,
            server,
            database,
        })
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

    /// Stops DynamoDB Local (only one this stage started): the API must
    /// then answer 503.
    pub fn stop_database(&mut self) -> Result<(), LocalError> {
        let db = self
            .database
            .as_mut()
            .ok_or_else(|| LocalError::Setup("this stage uses an external DynamoDB".into()))?;
        db.stop();
        Ok(())
    }

    /// Starts DynamoDB Local again on the same port and recreates the table.
    pub async fn restart_database(&mut self) -> Result<(), LocalError> {
        let mut db = self
            .database
            .take()
            .ok_or_else(|| LocalError::Setup("this stage uses an external DynamoDB".into()))?;
        let db = tokio::task::spawn_blocking(move || db.restart().map(|()| db))
            .await
            .map_err(|e| LocalError::Start(e.to_string()))??;
        self.database = Some(db);
        create_table(&self.client, &self.table).await
    }
}

impl Drop for LocalStage {
    fn drop(&mut self) {
        self.server.abort();
    }
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

/// Creates the counter table (key `path`, a String; on-demand) unless it
/// exists: the same shape as `infra/template.yaml`.
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
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("ResourceInUseException") => Ok(()),
        Err(e) => Err(LocalError::Setup(format!(
            "CreateTable {table}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(&e)
        ))),
    }
}
