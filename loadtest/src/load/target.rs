//! What the load goes to: the `--host` the user named, or (with the
//! `local-stage` feature) a local stage started for the run; and the two
//! reads of the counter around the run.

use std::time::Duration;

use anyhow::Context;
use counter_api::CountBody;

use crate::UsageError;
use crate::analysis::faults::FaultWindow;

/// The faults to inject into the local stage (`--nemesis`).
#[derive(Debug, Clone, PartialEq)]
pub struct NemesisSpec {
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
        nemesis: Option<&NemesisSpec>,
    ) -> anyhow::Result<Self> {
        if let Some(h) = host {
            if nemesis.is_some() {
                return Err(UsageError(
                    "--nemesis acts on the local stage: leave out --host".into(),
                )
                .into());
            }
            return Ok(Self {
                host: h.trim_end_matches('/').to_owned(),
                #[cfg(feature = "local-stage")]
                stage: None,
                #[cfg(feature = "local-stage")]
                emulated: None,
            });
        }
        Self::local(path_prefix, nemesis).await
    }

    #[cfg(feature = "local-stage")]
    async fn local(path_prefix: &str, nemesis: Option<&NemesisSpec>) -> anyhow::Result<Self> {
        use local_stage::{Config, LocalStage, StageOptions};
        super::status(
            "No --host: starting the local stage (counter-lambda on DynamoDB Local, 127.0.0.1) ...",
        );
        let mut config = Config::from_lookup(|_| None)?;
        config.loadtest_prefix = Some(path_prefix.to_owned());
        let mut options = StageOptions::new(config);
        options.nemesis = nemesis.map(nemesis_plan).transpose()?;
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
    async fn local(_path_prefix: &str, _nemesis: Option<&NemesisSpec>) -> anyhow::Result<Self> {
        Err(UsageError(
            "--host is required: this loadtest was built without the local stage (feature `local-stage`)"
                .into(),
        )
        .into())
    }

    /// Starts the stage's nemesis, if it has one, its windows counted from
    /// `origin` (the run's clock).
    pub fn start_nemesis(&mut self, origin: std::time::Instant) -> anyhow::Result<()> {
        #[cfg(feature = "local-stage")]
        if let Some(stage) = &mut self.stage {
            stage.start_nemesis(origin)?;
        }
        let _ = origin;
        Ok(())
    }

    /// Stops the nemesis and waits (bounded) until DynamoDB Local is up
    /// again; returns the windows it applied, in seconds of the run.
    pub async fn stop_nemesis(&mut self) -> Vec<FaultWindow> {
        #[cfg(feature = "local-stage")]
        if let Some(stage) = &mut self.stage {
            let windows = stage.stop_nemesis();
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while !matches!(
                stage.database_health(),
                None | Some(
                    local_stage::DatabaseHealth::Up { .. } | local_stage::DatabaseHealth::Failed(_)
                )
            ) && std::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
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

/// The stage's plan from `--nemesis` and its timing.
#[cfg(feature = "local-stage")]
fn nemesis_plan(spec: &NemesisSpec) -> Result<local_stage::NemesisPlan, UsageError> {
    use local_stage::NemesisPlan;
    let bad = |e: local_stage::NemesisError| UsageError(format!("--nemesis: {e}"));
    let kinds = NemesisPlan::parse_kinds(&spec.kinds.join(",")).map_err(bad)?;
    let secs = |s: f64| Duration::try_from_secs_f64(s).unwrap_or_default();
    NemesisPlan::new(kinds, secs(spec.interval_s), secs(spec.duration_s)).map_err(bad)
}

/// Checks a `--host` value: an absolute http(s) URL.
pub fn validate_host(host: &str) -> Result<(), UsageError> {
    let url = reqwest::Url::parse(host).map_err(|e| {
        let hint = if host.contains("://") {
            String::new()
        } else {
            format!(" (did you mean http://{host} ?)")
        };
        UsageError(format!("--host {host:?} is not a URL: {e}{hint}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UsageError(format!(
            "--host {host:?}: use http:// or https://"
        )));
    }
    Ok(())
}

/// The counter's current value, by `GET /visits`.
pub async fn read_count(http: &reqwest::Client, base: &str, path: &str) -> anyhow::Result<u64> {
    let url = visits_url(base, path);
    let mut last = None;
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => {
                let body: CountBody = r.json().await.context("GET /visits: body is not a count")?;
                return Ok(body.count);
            }
            Ok(r) => last = Some(format!("GET {url} answered {}", r.status())),
            Err(e) => last = Some(format!("GET {url}: {}", with_causes(&e))),
        }
    }
    anyhow::bail!(last.unwrap_or_default())
}

/// `<base>/visits?path=<encoded>`; a stage in the base URL is kept.
pub fn visits_url(base: &str, path: &str) -> String {
    format!(
        "{}{}?path={}",
        base.trim_end_matches('/'),
        counter_api::VISITS_ROUTE,
        counter_api::encode_component(path)
    )
}

/// An error and its causes on one line ("error sending request: client
/// error (Connect): tcp connect error: Connection refused"): reqwest's own
/// text drops the cause a user needs.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let c = cause.to_string();
        if !text.contains(&c) {
            text.push_str(": ");
            text.push_str(&c);
        }
        source = cause.source();
    }
    text
}

#[cfg(all(test, feature = "local-stage"))]
mod tests {
    use crate::analysis::faults::KINDS;

    /// The kinds `--nemesis` accepts (and the report names) are the ones
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
