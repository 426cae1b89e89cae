//! Serves the counter API on 127.0.0.1 against DynamoDB Local until Ctrl-C.
//!
//! Configuration: the Lambda's environment variables (README,
//! "Configuration"), plus `DYNAMODB_ENDPOINT` to use a DynamoDB you run
//! yourself and `LOCAL_STAGE_PORT` to pick the port.

use anyhow::Context;
use local_stage::{LocalStage, StageOptions};

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
    println!(
        "  DynamoDB: {} (table {})",
        stage.dynamodb_endpoint(),
        stage.table()
    );
    println!("  try: curl -X POST '{}/visits?path=/'", stage.url());
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    println!("Stopping.");
    drop(stage);
    Ok(())
}
