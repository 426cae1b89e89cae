//! `--emulate-aws`: the run's target is the emulated AWS stage
//! (`local_stage::EmulatedStage`) instead of the in-process local stage;
//! after the run, its figures go into summary.json and its REPORT lines
//! into the run directory.

use std::path::{Path, PathBuf};

use super::target::Target;
use crate::UsageError;
use crate::analysis::stage::StageFigures;
use crate::analysis::summary::{Summary, files};
use crate::commands::cli::HarnessArgs;

/// What the emulated stage is asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct EmulationSpec {
    pub template: Option<PathBuf>,
    /// Template parameters given values (`--parameter NAME=VALUE`).
    pub parameters: Vec<(String, String)>,
    pub function: Option<String>,
    pub function_env: Vec<(String, String)>,
    pub idle_timeout_s: Option<f64>,
    /// Seconds to warm DynamoDB Local (straight to it) before the load.
    pub warmup_s: u64,
}

/// The emulated stage's options, if asked for; refuses what cannot go
/// with them (a `--host`, a fault injector) and emulation flags without
/// `--emulate-aws`.
pub fn spec(h: &HarnessArgs, host: Option<&str>) -> Result<Option<EmulationSpec>, UsageError> {
    let given = [
        (h.template.is_some(), "--template"),
        (!h.parameters.is_empty(), "--parameter"),
        (h.function.is_some(), "--function"),
        (!h.function_env.is_empty(), "--function-env"),
        (h.idle_timeout.is_some(), "--idle-timeout"),
    ];
    if !h.emulate_aws {
        return match given.iter().find(|(g, _)| *g) {
            Some((_, flag)) => Err(UsageError(format!(
                "{flag} belongs to the emulated stage: add --emulate-aws"
            ))),
            None => Ok(None),
        };
    }
    if host.is_some() {
        return Err(UsageError(
            "--emulate-aws starts a stage shaped like AWS on this machine: leave out --host".into(),
        ));
    }
    if !h.faults.is_empty() {
        return Err(UsageError(
            "--faults acts on the in-process local stage: not with --emulate-aws".into(),
        ));
    }
    Ok(Some(EmulationSpec {
        template: h.template.clone(),
        parameters: h.parameters.clone(),
        function: h.function.clone(),
        function_env: h.function_env.clone(),
        idle_timeout_s: h.idle_timeout,
        warmup_s: h.warmup_secs,
    }))
}

/// Starts the emulated stage; the run's counters live below
/// `path_prefix`, which our function is told (the user's own
/// `--function-env` still wins).
#[cfg(feature = "local-stage")]
pub async fn open(spec: &EmulationSpec, path_prefix: &str) -> anyhow::Result<Target> {
    use anyhow::Context;
    use local_stage::{EmulatedStage, EmulationOptions};
    super::status(
        "--emulate-aws: starting the emulated AWS stage (the template's HTTP API and Lambda environments, DynamoDB Local, 127.0.0.1) ...",
    );
    let mut function_env = vec![("LOADTEST_PATH_PREFIX".to_owned(), path_prefix.to_owned())];
    function_env.extend(spec.function_env.iter().cloned());
    let mut options = EmulationOptions {
        template: spec.template.clone(),
        parameters: spec.parameters.clone(),
        function: spec.function.clone(),
        function_env,
        ..EmulationOptions::default()
    };
    if let Some(s) = spec.idle_timeout_s {
        options.idle_timeout = std::time::Duration::from_secs_f64(s);
    }
    let stage = EmulatedStage::start(options)
        .await
        .context("starting the emulated stage")?;
    let t = stage.template();
    super::status(&format!(
        "  {} (stage {}, {} routes); function {} ({}); environments up to {}",
        t.source.display(),
        t.stage_name,
        t.routes.len(),
        t.function.name,
        stage.command().join(" "),
        stage.figures().environments_limit
    ));
    for note in &t.notes {
        super::status(&format!("  note: {note}"));
    }
    if spec.warmup_s > 0 {
        super::status(&format!(
            "  warming DynamoDB Local for {} s (straight to the table: the stage's throttle and environments stay cold) ...",
            spec.warmup_s
        ));
        stage
            .warm_database(std::time::Duration::from_secs(spec.warmup_s))
            .await;
    }
    Ok(Target::from_emulated(stage))
}

#[cfg(not(feature = "local-stage"))]
pub async fn open(_spec: &EmulationSpec, _path_prefix: &str) -> anyhow::Result<Target> {
    Err(UsageError(
        "--emulate-aws needs the local stage: this loadtest was built without it (feature `local-stage`)"
            .into(),
    )
    .into())
}

/// The stage's figures, and its REPORT lines copied into `dir`; `None`
/// for any other target.
pub fn finish(target: &Target, dir: &Path) -> Option<StageFigures> {
    #[cfg(feature = "local-stage")]
    if let Some(stage) = target.emulated() {
        let copied = std::fs::copy(stage.reports_path(), dir.join(files::LAMBDA_REPORTS));
        if let Err(e) = copied {
            super::status(&format!("could not copy the REPORT lines: {e}"));
        }
        return Some(figures(stage));
    }
    let _ = (target, dir);
    None
}

/// Puts the stage's figures (if any) into the summary, with its file.
pub fn record(summary: &mut Summary, stage: Option<StageFigures>) {
    if let Some(s) = stage {
        summary
            .files
            .insert("lambda_reports".into(), files::LAMBDA_REPORTS.into());
        summary.stage = Some(s);
    }
}

#[cfg(feature = "local-stage")]
fn figures(stage: &local_stage::EmulatedStage) -> StageFigures {
    let f = stage.figures();
    StageFigures {
        requests: f.requests,
        throttled_by_api_gateway: f.throttled_by_api_gateway,
        throttled_by_lambda: f.throttled_by_lambda,
        function_errors: f.function_errors,
        function_timeouts: f.function_timeouts,
        integration_timeouts: f.integration_timeouts,
        invocations: f.invocations,
        cold_starts: f.cold_starts,
        init_ms_p50: f.init_ms_p50,
        init_ms_max: f.init_ms_max,
        environments_peak: f.environments_peak,
        environments_limit: f.environments_limit,
        memory_size_mb: f.memory_size_mb,
        max_memory_used_mb: f.max_memory_used_mb,
        billed_ms_mean: f.billed_ms_mean,
        billed_ms_p50: f.billed_ms_p50,
        billed_ms_p99: f.billed_ms_p99,
        template: stage.template().source.display().to_string(),
        function: stage.command().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn harness(args: &[&str]) -> HarnessArgs {
        crate::commands::cli::parse_from([&["loadtest"], args].concat())
            .expect("valid flags")
            .run
            .harness
    }

    #[test]
    fn the_emulated_stage_goes_with_no_host_and_no_faults() {
        let h = harness(&[
            "--emulate-aws",
            "--function-env",
            "A=1",
            "--idle-timeout",
            "5",
        ]);
        let s = spec(&h, None).expect("valid").expect("asked for");
        assert_eq!(s.function_env, [("A".to_owned(), "1".to_owned())]);
        assert_eq!(s.idle_timeout_s, Some(5.0));
        assert!(spec(&h, Some("https://x")).is_err());
        let h = harness(&["--emulate-aws", "--faults", "latency"]);
        assert!(spec(&h, None).is_err());
        let h = harness(&["--template", "t.yaml"]);
        let e = spec(&h, None).expect_err("needs --emulate-aws");
        assert!(e.0.contains("--emulate-aws"), "{}", e.0);
        assert_eq!(spec(&harness(&[]), None).expect("valid"), None);
    }
}
