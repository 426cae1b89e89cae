//! Serves the counter API on 127.0.0.1 against DynamoDB Local until Ctrl-C.
//!
//! Configuration: the Lambda's environment variables (README,
//! "Configuration"), plus `DYNAMODB_ENDPOINT` to use a DynamoDB you run
//! yourself, `LOCAL_STAGE_PORT` to pick the port and `DYNAMODB_LOCAL_DATA`
//! to keep the tables.
//!
//! `--nemesis KIND[,KIND...]` (latency, throttle, errors, pause, restart)
//! injects faults while it serves, one window of `--nemesis-duration`
//! seconds (3) every `--nemesis-interval` seconds (8), kinds in turn.
//!
//! If the DynamoDB Local it started dies and cannot be restarted on its
//! data, it exits with status 1 and the cause.

use std::time::Duration;

use anyhow::Context;
use local_stage::{Binding, LocalStage, NemesisPlan, StageOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let nemesis = match nemesis_from_args(std::env::args().skip(1)) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("local-stage: {e}");
            eprintln!(
                "usage: local-stage [--nemesis KIND[,KIND...]] [--nemesis-interval SECS] [--nemesis-duration SECS]"
            );
            std::process::exit(2);
        }
    };
    let mut options = StageOptions::from_env().context("configuration")?;
    options.nemesis = nemesis;
    let mut stage = LocalStage::start(options)
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
    if let Some(plan) = stage_plan(&stage) {
        println!("  nemesis: {plan}");
    }
    stage
        .start_nemesis(std::time::Instant::now())
        .context("starting the nemesis")?;
    // Listening before saying so: a Ctrl-C right after the line below must
    // stop the stage in order, not kill it.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("listening for Ctrl-C")?;
    println!("Ctrl-C to stop.");
    let failed = stage.database_failed();
    let outcome = tokio::select! {
        _ = interrupt.recv() => {
            println!("Stopping.");
            Ok(())
        }
        cause = failed => Err(anyhow::anyhow!("{cause}")),
    };
    for w in stage.stop_nemesis() {
        println!(
            "  fault {:<8} {:>7.1} s .. {:>7.1} s",
            w.kind.name(),
            w.start.as_secs_f64(),
            w.end.as_secs_f64()
        );
    }
    drop(stage);
    outcome
}

fn stage_plan(stage: &LocalStage) -> Option<String> {
    stage.nemesis_plan().map(|p| {
        let kinds: Vec<&str> = p.kinds.iter().map(|k| k.name()).collect();
        format!(
            "{} s of {} every {} s",
            p.duration.as_secs_f64(),
            kinds.join(", then "),
            p.interval.as_secs_f64()
        )
    })
}

/// `--nemesis`, `--nemesis-interval`, `--nemesis-duration` (nothing else is
/// accepted: the rest of the configuration is the environment's).
fn nemesis_from_args(
    mut args: impl Iterator<Item = String>,
) -> Result<Option<NemesisPlan>, String> {
    let mut kinds = None;
    let mut interval = NemesisPlan::DEFAULT_INTERVAL;
    let mut duration = NemesisPlan::DEFAULT_DURATION;
    let secs = |flag: &str, v: Option<String>| -> Result<Duration, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("{flag} {v:?}: not a number of seconds (0 to 3600)"))
    };
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        let value = inline.or_else(|| {
            if flag.starts_with("--nemesis") {
                args.next()
            } else {
                None
            }
        });
        match flag.as_str() {
            "--nemesis" => {
                let list = value.ok_or("--nemesis needs a value")?;
                kinds =
                    Some(NemesisPlan::parse_kinds(&list).map_err(|e| format!("--nemesis: {e}"))?);
            }
            "--nemesis-interval" => interval = secs("--nemesis-interval", value)?,
            "--nemesis-duration" => duration = secs("--nemesis-duration", value)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    match kinds {
        None => Ok(None),
        Some(kinds) => NemesisPlan::new(kinds, interval, duration)
            .map(Some)
            .map_err(|e| format!("--nemesis: {e}")),
    }
}
