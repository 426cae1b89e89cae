//! Serves the counter API on 127.0.0.1 against DynamoDB Local until Ctrl-C.
//!
//! Configuration: the Lambda's environment variables (README,
//! "Configuration"), plus `DYNAMODB_ENDPOINT` to use a DynamoDB you run
//! yourself, `LOCAL_STAGE_PORT` to pick the port and `DYNAMODB_LOCAL_DATA`
//! to keep the tables.
//!
//! If the DynamoDB Local it started dies and cannot be restarted on its
//! data, it exits with status 1 and the cause.

use anyhow::Context;
use local_stage::{Binding, LocalStage, StageOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let options = StageOptions::from_env().context("configuration")?;
    let stage = LocalStage::start(options)
        .await
        .context("starting the local stage")?;
    println!("Local stage: {}", stage.url());
    let reach = match stage.binding() {
        None => "your own",
        Some(Binding::Loopback) => "DynamoDB Local, 127.0.0.1 only",
        Some(Binding::AllInterfaces { .. }) => {
            "DynamoDB Local, ON EVERY INTERFACE: see the warning above"
        }
    };
    println!(
        "  DynamoDB: {} ({reach}; table {})",
        stage.dynamodb_endpoint(),
        stage.table()
    );
    println!("  try: curl -X POST '{}/visits?path=/'", stage.url());
    println!("Ctrl-C to stop.");
    let failed = stage.database_failed();
    let outcome = tokio::select! {
        signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C").map(|()| println!("Stopping.")),
        cause = failed => Err(anyhow::anyhow!("{cause}")),
    };
    drop(stage);
    outcome
}
