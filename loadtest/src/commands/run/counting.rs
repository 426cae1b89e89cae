//! The API around the load: the count before it (read, or told by the
//! first counting request), the first counting request itself, and the
//! count after.

use std::time::Instant;

use anyhow::Context;

use crate::UsageError;
use crate::analysis::observation::Observation;
use crate::commands::cli::HarnessArgs;
use crate::load::api::{Api, ApiOptions, ProbeFailed};
use crate::load::request::CountingRequest;
use crate::load::users::{RunState, Sending};
use crate::load::{start, status};

/// The API's description from the command line.
pub(super) fn api_options(h: &HarnessArgs) -> ApiOptions {
    let a = &h.api;
    ApiOptions {
        request: CountingRequest {
            line: a.request.clone(),
            body: a
                .request_body
                .clone()
                .map(bytes::Bytes::from)
                .unwrap_or_default(),
            headers: a.headers.clone(),
        },
        count_at: a.count_at.clone(),
        read: a.read.clone(),
        read_count_at: a.read_count_at.clone(),
        exclusive: a.exclusive,
        failed_status: a.failed_status.clone(),
        cacert: a.cacert.clone(),
    }
}

/// What the users send and how its answers are judged.
pub(super) fn sending(api: &Api) -> anyhow::Result<Sending> {
    Ok(Sending {
        client: api.client().clone(),
        request: api.counting.clone(),
        rule: api
            .rule()
            .context("the first answer did not show where the count is")?,
    })
}

/// What the run knows before its load: the count, the common start, and
/// the requests it already sent (the first counting request).
pub(super) struct BeforeTheLoad {
    pub(super) initial: u64,
    pub(super) start: crate::analysis::summary::Start,
    /// Observation times count from here.
    pub(super) clock: Instant,
    pub(super) ops: Vec<Observation>,
}

/// Reads the count (or, with `--read none`, takes it from the first
/// counting request), waits for `--start-at`, and, for an API other than
/// ours, sends the first counting request, which shows where the count is
/// in the answers.
pub(super) async fn before_the_load(
    api: &mut Api,
    shown: &str,
    start_at: Option<&start::StartAt>,
    quiet: bool,
    node: u16,
) -> anyhow::Result<BeforeTheLoad> {
    let read = if api.reads_by_counting() {
        None
    } else {
        let initial = api
            .read()
            .await
            .context("reading the count before the run")?;
        status(&format!("{shown} (count {initial} before the run)"));
        Some(initial)
    };
    let start = start::wait(start_at, quiet).await?;
    let clock = Instant::now();
    if api.is_contract() && read.is_some() {
        // Our own API: where the count is, is known; the first counting
        // request is the load's.
        return Ok(BeforeTheLoad {
            initial: read.unwrap_or_default(),
            start,
            clock,
            ops: vec![],
        });
    }
    let probe = api
        .probe(clock, node, read.is_none())
        .await
        .context("the first counting request")?;
    let initial = match (read, probe.count) {
        (Some(n), _) => n,
        (None, None) => anyhow::bail!("the first counting request answered no count"),
        (None, Some(count)) => {
            let initial = count.checked_sub(1).ok_or_else(|| {
                UsageError(
                    "the first counting request answered 0: with --read none the count must be the visit's number (1 for the first visit), not the count before it".into(),
                )
            })?;
            status(&format!(
                "{shown} (count {initial} before the run: the first counting request's, less one)"
            ));
            initial
        }
    };
    Ok(BeforeTheLoad {
        initial,
        start,
        clock,
        ops: probe.ops,
    })
}

/// The count after the load: read, or (`--read none`) told by one more
/// counting request, recorded as an operation of the history. An error
/// keeps the run's record: the verdict says what it could not judge.
pub(super) async fn count_after(api: &mut Api, state: &RunState, node: u16) -> Result<u64, String> {
    let counted = if api.reads_by_counting() {
        match api.probe(state.clock, node, true).await {
            Ok(probe) => {
                probe
                    .ops
                    .iter()
                    .for_each(|op| state.record_outside_the_load(*op));
                probe
                    .count
                    .ok_or_else(|| anyhow::anyhow!("the last counting request answered no count"))
            }
            Err(e) => {
                if let Some(failed) = e.downcast_ref::<ProbeFailed>() {
                    failed
                        .ops
                        .iter()
                        .for_each(|op| state.record_outside_the_load(*op));
                }
                Err(e)
            }
        }
    } else {
        api.read().await
    };
    counted.map_err(|e| {
        let e = format!("{e:#}");
        status(&format!("could not read the count after the run: {e}"));
        e
    })
}
