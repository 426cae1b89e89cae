//! Serves the counter API on 127.0.0.1 against DynamoDB Local until Ctrl-C.
//!
//! Configuration: the Lambda's environment variables (README,
//! "Configuration"), plus `DYNAMODB_ENDPOINT` to use a DynamoDB you run
//! yourself, `LOCAL_STAGE_PORT` to pick the port and `DYNAMODB_LOCAL_DATA`
//! to keep the tables.
//!
//! `--faults KIND[,KIND...]` (latency, throttle, errors, pause, restart)
//! injects faults while it serves, one window of `--fault-duration`
//! seconds (3) every `--fault-interval` seconds (8), kinds in turn.
//!
//! If the DynamoDB Local it started dies and cannot be restarted on its
//! data, it exits with status 1 and the cause.
//!
//! `--emulate-aws` serves the stage shaped like the deployed one instead
//! (docs/emulated-stage.md): the template's HTTP API (`--template FILE`,
//! default `infra/template.yaml` here or above) in front of Lambda
//! execution environments running our `bootstrap` (`BOOTSTRAP_BIN`, else
//! found under `target/`) or `--function 'COMMAND'` (with `--function-env
//! K=V`, repeatable), idle environments retired after `--idle-timeout`
//! seconds, REPORT lines in `--log-dir DIR`.

use std::time::Duration;

use anyhow::Context;
use local_stage::{Binding, EmulatedStage, EmulationOptions, FaultPlan, LocalStage, StageOptions};

const USAGE: &str = "usage: local-stage [--faults KIND[,KIND...]] [--fault-interval SECS] [--fault-duration SECS]
       local-stage --emulate-aws [--template FILE] [--parameter NAME=VALUE]... [--function CMD] [--function-env K=V]... [--idle-timeout SECS] [--log-dir DIR]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let (faults, emulate) = match args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("local-stage: {e}");
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Some(options) = emulate {
        return emulated(options).await;
    }
    let mut options = StageOptions::from_env().context("configuration")?;
    options.faults = faults;
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
        println!("  faults: {plan}");
    }
    stage
        .start_faults(std::time::Instant::now())
        .context("starting the fault injector")?;
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
    for w in stage.stop_faults() {
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
    stage.fault_plan().map(|p| {
        let kinds: Vec<&str> = p.kinds.iter().map(|k| k.name()).collect();
        format!(
            "{} s of {} every {} s",
            p.duration.as_secs_f64(),
            kinds.join(", then "),
            p.interval.as_secs_f64()
        )
    })
}

/// What the command line asks for: a fault injector for the in-process stage,
/// or the emulated stage's options (`--emulate-aws`). Nothing else is
/// accepted: the rest of the configuration is the environment's.
fn args(
    mut args: impl Iterator<Item = String>,
) -> Result<(Option<FaultPlan>, Option<EmulationOptions>), String> {
    let mut kinds = None;
    let mut interval = FaultPlan::DEFAULT_INTERVAL;
    let mut duration = FaultPlan::DEFAULT_DURATION;
    let mut emulate = false;
    let mut emulation = EmulationOptions::default();
    let mut emulation_flag = None;
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
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        // The earlier names (Jepsen's "nemesis") still work.
        let flag = match flag.as_str() {
            "--nemesis" => "--faults".to_owned(),
            "--nemesis-interval" => "--fault-interval".to_owned(),
            "--nemesis-duration" => "--fault-duration".to_owned(),
            _ => flag,
        };
        let takes_value = !matches!(flag.as_str(), "--emulate-aws");
        let value = inline.or_else(|| if takes_value { args.next() } else { None });
        let needed = |v: Option<String>| v.ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--faults" => {
                let list = needed(value)?;
                kinds = Some(FaultPlan::parse_kinds(&list).map_err(|e| format!("--faults: {e}"))?);
            }
            "--fault-interval" => interval = secs("--fault-interval", value)?,
            "--fault-duration" => duration = secs("--fault-duration", value)?,
            "--emulate-aws" => emulate = true,
            "--template" => emulation.template = Some(needed(value)?.into()),
            "--parameter" => emulation
                .parameters
                .push(key_value("--parameter", &needed(value)?)?),
            "--function" => emulation.function = Some(needed(value)?),
            "--function-env" => emulation
                .function_env
                .push(key_value("--function-env", &needed(value)?)?),
            "--idle-timeout" => emulation.idle_timeout = secs("--idle-timeout", value)?,
            "--log-dir" => emulation.log_dir = Some(needed(value)?.into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
        if !flag.starts_with("--fault") && flag != "--emulate-aws" {
            emulation_flag = Some(flag);
        }
    }
    match (emulate, kinds, emulation_flag) {
        (true, Some(_), _) => {
            Err("--faults acts on the in-process stage: not with --emulate-aws".into())
        }
        (true, None, _) => Ok((None, Some(emulation))),
        (false, _, Some(flag)) => Err(format!(
            "{flag} belongs to the emulated stage: add --emulate-aws"
        )),
        (false, None, None) => Ok((None, None)),
        (false, Some(kinds), None) => FaultPlan::new(kinds, interval, duration)
            .map(|p| (Some(p), None))
            .map_err(|e| format!("--faults: {e}")),
    }
}

/// `K=V`, with a name an environment variable can have.
fn key_value(flag: &str, text: &str) -> Result<(String, String), String> {
    sam_template::key_value(text).map_err(|e| format!("{flag} {e}"))
}

/// `--emulate-aws`: serves until Ctrl-C, then prints the stage's figures.
async fn emulated(mut options: EmulationOptions) -> anyhow::Result<()> {
    if options.log_dir.is_none() {
        // Kept after the stage stops, for the user to read.
        let dir = tempfile::Builder::new()
            .prefix("emulated-stage-")
            .tempdir()
            .context("making a log directory")?;
        options.log_dir = Some(dir.keep());
    }
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("listening for Ctrl-C")?;
    let stage = EmulatedStage::start(options)
        .await
        .context("starting the emulated stage")?;
    let t = stage.template();
    println!("Emulated AWS stage: {}", stage.url());
    println!(
        "  template: {} (stage {})",
        t.source.display(),
        t.stage_name
    );
    for r in &t.routes {
        let throttle = r
            .throttle
            .map_or("account throttle only".to_owned(), |th| th.to_string());
        println!("  route {}: {throttle}", r.key.key());
    }
    let f = &t.function;
    println!(
        "  function {}: {} MB, timeout {} s, environments up to {}",
        f.name,
        f.memory_mb,
        f.timeout.as_secs_f64(),
        stage.figures().environments_limit
    );
    println!("  runs: {}", stage.command().join(" "));
    for note in &t.notes {
        println!("  note: {note}");
    }
    println!(
        "  DynamoDB: {} (table {})",
        stage.dynamodb_endpoint(),
        stage.table()
    );
    println!("  REPORT lines: {}", stage.reports_path().display());
    println!("  try: curl -X POST '{}/visits?path=/'", stage.url());
    println!("Ctrl-C to stop.");
    interrupt.recv().await;
    println!("Stopping.");
    let figures = stage.figures();
    drop(stage);
    println!("{}", serde_json::to_string_pretty(&figures)?);
    Ok(())
}
