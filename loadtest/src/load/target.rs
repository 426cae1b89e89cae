//! What the load goes to: the `--host` the user named, or (with the
//! `local-stage` feature) a local stage started for the run; and the two
//! reads of the counter around the run.

use std::time::Duration;

use anyhow::Context;
use counter_api::CountBody;

use crate::UsageError;

/// The API under load. Holds the local stage, if one was started, until
/// dropped.
pub struct Target {
    /// Base URL, without a trailing `/`.
    pub host: String,
    #[cfg(feature = "local-stage")]
    stage: Option<local_stage::LocalStage>,
}

impl Target {
    /// The user's `--host`, or a local stage on 127.0.0.1 when there is
    /// none. `path_prefix` is the load-test prefix the stage must allow.
    pub async fn open(host: Option<&str>, path_prefix: &str) -> anyhow::Result<Self> {
        if let Some(h) = host {
            return Ok(Self {
                host: h.trim_end_matches('/').to_owned(),
                #[cfg(feature = "local-stage")]
                stage: None,
            });
        }
        Self::local(path_prefix).await
    }

    #[cfg(feature = "local-stage")]
    async fn local(path_prefix: &str) -> anyhow::Result<Self> {
        use local_stage::{Config, LocalStage, StageOptions};
        super::status(
            "No --host: starting the local stage (counter-lambda on DynamoDB Local, 127.0.0.1) ...",
        );
        let mut config = Config::from_lookup(|_| None)?;
        config.loadtest_prefix = Some(path_prefix.to_owned());
        let stage = LocalStage::start(StageOptions::new(config))
            .await
            .context("starting the local stage")?;
        Ok(Self {
            host: stage.url().to_owned(),
            stage: Some(stage),
        })
    }

    #[cfg(not(feature = "local-stage"))]
    async fn local(_path_prefix: &str) -> anyhow::Result<Self> {
        Err(UsageError(
            "--host is required: this loadtest was built without the local stage (feature `local-stage`)"
                .into(),
        )
        .into())
    }

    /// Whether the target is a local stage this run started.
    pub fn is_local_stage(&self) -> bool {
        #[cfg(feature = "local-stage")]
        return self.stage.is_some();
        #[cfg(not(feature = "local-stage"))]
        false
    }
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
