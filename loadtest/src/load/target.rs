//! What the load goes to: the `--host` the user named, or (with the
//! `local-stage` feature) a local stage started for the run.

use crate::UsageError;
use crate::analysis::faults::FaultWindow;

/// The faults to inject into the local stage (`--faults`).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub kinds: Vec<String>,
    pub interval_s: f64,
    pub duration_s: f64,
}

/// The API under load. Holds the local stage, if one was started, until
/// dropped.
pub struct Target {
    /// Base URL, without a trailing `/`.
    pub host: String,
    #[cfg(feature = "local-stage")]
    stage: Option<local_stage::LocalStage>,
    /// `--emulate-aws`: the stage shaped like AWS (load/emulation.rs).
    #[cfg(feature = "local-stage")]
    emulated: Option<local_stage::EmulatedStage>,
}

impl Target {
    /// The user's `--host`, or a local stage on 127.0.0.1 when there is
    /// none. `path_prefix` is the load-test prefix the stage must allow.
    pub async fn open(
        host: Option<&str>,
        path_prefix: &str,
        faults: Option<&FaultSpec>,
    ) -> anyhow::Result<Self> {
        // `--faults` with `--host` is refused by the command line (cli.rs).
        if let Some(h) = host {
            return Ok(Self {
                host: h.trim_end_matches('/').to_owned(),
                #[cfg(feature = "local-stage")]
                stage: None,
                #[cfg(feature = "local-stage")]
                emulated: None,
            });
        }
        Self::local(path_prefix, faults).await
    }

    #[cfg(feature = "local-stage")]
    async fn local(path_prefix: &str, faults: Option<&FaultSpec>) -> anyhow::Result<Self> {
        use anyhow::Context;
        use local_stage::{Config, LocalStage, StageOptions};
        super::status(
            "No --host: starting the local stage (counter-lambda on DynamoDB Local, 127.0.0.1) ...",
        );
        let mut config = Config::from_lookup(|_| None)?;
        config.loadtest_prefix = Some(path_prefix.to_owned());
        let mut options = StageOptions::new(config);
        options.faults = faults.map(fault_plan).transpose()?;
        let stage = LocalStage::start(options)
            .await
            .context("starting the local stage")?;
        Ok(Self {
            host: stage.url().to_owned(),
            stage: Some(stage),
            emulated: None,
        })
    }

    /// The emulated stage as the target (`--emulate-aws`).
    #[cfg(feature = "local-stage")]
    pub fn from_emulated(stage: local_stage::EmulatedStage) -> Self {
        Self {
            host: stage.url().to_owned(),
            stage: None,
            emulated: Some(stage),
        }
    }

    #[cfg(feature = "local-stage")]
    pub fn emulated(&self) -> Option<&local_stage::EmulatedStage> {
        self.emulated.as_ref()
    }

    /// Whether the target is the emulated AWS stage (no warm-up: the
    /// deployed stage gets none, and it would spend the throttle's burst).
    pub fn is_emulated(&self) -> bool {
        #[cfg(feature = "local-stage")]
        return self.emulated.is_some();
        #[cfg(not(feature = "local-stage"))]
        false
    }

    #[cfg(not(feature = "local-stage"))]
    async fn local(_path_prefix: &str, _faults: Option<&FaultSpec>) -> anyhow::Result<Self> {
        Err(UsageError(
            "--host is required: this loadtest has no local stage; the default build has it (`cargo install --locked --path loadtest`, `pipx install visitor-counter-loadtest`, the release binaries; it runs on Java 17 and npm)"
                .into(),
        )
        .into())
    }

    /// Starts the stage's faults, if it has one, its windows counted from
    /// `origin` (the run's clock).
    pub fn start_faults(&mut self, origin: std::time::Instant) -> anyhow::Result<()> {
        #[cfg(feature = "local-stage")]
        if let Some(stage) = &mut self.stage {
            stage.start_faults(origin)?;
        }
        let _ = origin;
        Ok(())
    }

    /// Stops the fault injector and waits (bounded) until DynamoDB Local is up
    /// again; returns the windows it applied, in seconds of the run.
    pub async fn stop_faults(&mut self) -> Vec<FaultWindow> {
        #[cfg(feature = "local-stage")]
        if let Some(stage) = &mut self.stage {
            let windows = stage.stop_faults();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while !matches!(
                stage.database_health(),
                None | Some(
                    local_stage::DatabaseHealth::Up { .. } | local_stage::DatabaseHealth::Failed(_)
                )
            ) && std::time::Instant::now() < deadline
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            return windows
                .into_iter()
                .map(|w| FaultWindow {
                    kind: w.kind.name().to_owned(),
                    start_s: w.start.as_secs_f64(),
                    end_s: w.end.as_secs_f64(),
                })
                .collect();
        }
        vec![]
    }

    /// Whether the target is a local stage this run started (in-process
    /// or emulated).
    pub fn is_local_stage(&self) -> bool {
        #[cfg(feature = "local-stage")]
        return self.stage.is_some() || self.emulated.is_some();
        #[cfg(not(feature = "local-stage"))]
        false
    }
}

/// `--faults` and its timing, checked before anything starts.
pub fn check_faults(spec: &FaultSpec) -> Result<(), UsageError> {
    #[cfg(feature = "local-stage")]
    fault_plan(spec)?;
    let _ = spec;
    Ok(())
}

/// The stage's plan from `--faults` and its timing.
#[cfg(feature = "local-stage")]
fn fault_plan(spec: &FaultSpec) -> Result<local_stage::FaultPlan, UsageError> {
    use local_stage::FaultPlan;
    let bad = |e: local_stage::FaultPlanError| UsageError(format!("--faults: {e}"));
    let kinds = FaultPlan::parse_kinds(&spec.kinds.join(",")).map_err(bad)?;
    let secs = |s: f64| std::time::Duration::try_from_secs_f64(s).unwrap_or_default();
    FaultPlan::new(kinds, secs(spec.interval_s), secs(spec.duration_s)).map_err(bad)
}

#[cfg(all(test, feature = "local-stage"))]
mod tests {
    use crate::analysis::faults::KINDS;

    /// The kinds `--faults` accepts (and the report names) are the ones
    /// the stage can apply, in the same order.
    #[test]
    fn the_fault_kinds_the_cli_accepts_are_the_stages() {
        let stage: Vec<&str> = local_stage::FaultKind::ALL
            .iter()
            .map(|k| k.name())
            .collect();
        assert_eq!(stage, KINDS);
    }
}
