//! `loadtest report DIR`: a run directory judged again from its files
//! alone, with the analysis a run uses: the verdict, summary.json,
//! report.html, the charts and histograms, written again in place.
//!
//! A run that ended itself is judged from its summary's facts and its
//! observations (after an upgrade, say). A run killed before it wrote its
//! summary (no summary.json, or one an earlier `report` made) is judged
//! from its run.json and the observations it left: its history up to the
//! kill, and, with `--host`, the count read now.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::cli::ReadAgainArgs;
use crate::UsageError;
use crate::analysis::observation::{self, Observation};
use crate::analysis::rejudge::{self, KilledRecord};
use crate::analysis::run_start::RunStart;
use crate::analysis::stats::histogram;
use crate::analysis::summary::{Summary, files};
use crate::load::status;
use crate::output::run_dir::{self, Baseline};

#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The run directory (of a run, or of one node of a run).
    pub dir: PathBuf,
    // A killed run: read its counter's count now (the flattened
    // options' own docs are their help).
    #[command(flatten)]
    pub read_again: ReadAgainArgs,
    /// Draw the latency percentiles of the run in DIR beside this run's (report.html).
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
}

/// What a run directory holds.
pub enum Record {
    /// The run ended itself and wrote its summary.
    Complete {
        summary: Box<Summary>,
        start: Option<Box<RunStart>>,
        ops: Vec<Observation>,
    },
    /// The run was killed before it wrote its summary (`previous`: one an
    /// earlier `report` made since).
    Killed {
        start: Box<RunStart>,
        ops: Vec<Observation>,
        torn_bytes: u64,
        previous: Option<Box<Summary>>,
    },
}

/// Reads a run directory; anything that is not one is a usage error.
pub fn read_record(dir: &Path) -> anyhow::Result<Record> {
    let usage = |why: String| UsageError(format!("{}: {why}", dir.display()));
    if !dir.is_dir() {
        return Err(usage("not a directory".into()).into());
    }
    let start = run_dir::read_start(dir)?;
    let summary = match dir.join(files::SUMMARY).is_file() {
        true => Some(super::plan::load_summary(dir)?.0),
        false => None,
    };
    if summary.is_none() && start.is_none() {
        return Err(usage(format!(
            "neither {} nor {}: not a run directory (or a killed run's from before loadtest wrote {})",
            files::SUMMARY,
            files::RUN_START,
            files::RUN_START
        ))
        .into());
    }
    let observations = dir.join(files::OBSERVATIONS);
    let bytes = std::fs::read(&observations).map_err(|e| {
        usage(format!(
            "no {} to judge ({e}): the run ended before its load began, or this is not a run directory",
            files::OBSERVATIONS
        ))
    })?;
    match (summary, start) {
        (Some(summary), start) if summary.killed.is_none() => {
            let ops = observation::read_all(&bytes[..])
                .map_err(|e| usage(format!("{}: {e}", files::OBSERVATIONS)))?;
            Ok(Record::Complete {
                summary: Box::new(summary),
                start: start.map(Box::new),
                ops,
            })
        }
        (previous, Some(start)) => {
            let found = observation::read_recovered(&bytes[..])
                .map_err(|e| usage(format!("{}: {e}", files::OBSERVATIONS)))?;
            Ok(Record::Killed {
                start: Box::new(start),
                ops: found.ops,
                torn_bytes: found.torn_bytes,
                previous: previous.map(Box::new),
            })
        }
        (_, None) => Err(usage(format!(
            "its {} is a killed run's, and its {} is gone",
            files::SUMMARY,
            files::RUN_START
        ))
        .into()),
    }
}

/// Judges the run in `args.dir` again and writes its summary, report and
/// charts there; returns the summary and the directory.
pub async fn report(args: &ReportArgs) -> anyhow::Result<(Summary, PathBuf)> {
    let baseline = args
        .baseline
        .as_deref()
        .map(run_dir::read_baseline)
        .transpose()?;
    let (summary, ops) = match read_record(&args.dir)? {
        Record::Complete {
            summary,
            start,
            ops,
        } => (complete(args, &summary, start.as_deref(), &ops)?, ops),
        Record::Killed {
            start,
            ops,
            torn_bytes,
            previous,
        } => {
            let record = final_count(args, &start, previous.as_deref()).await;
            let record = KilledRecord {
                torn_bytes,
                ..record
            };
            (rejudge::judge_killed(&start, &ops, record), ops)
        }
    };
    write(&args.dir, &summary, &ops, baseline.as_ref())?;
    Ok((summary, args.dir.clone()))
}

/// A run that ended itself, judged again.
fn complete(
    args: &ReportArgs,
    summary: &Summary,
    start: Option<&RunStart>,
    ops: &[Observation],
) -> anyhow::Result<Summary> {
    if summary.run.nodes.len() > 1 {
        return Err(UsageError(format!(
            "{}: a merge of nodes {:?}: judge it again with `loadtest merge` on the nodes' directories",
            args.dir.display(),
            summary.run.nodes
        ))
        .into());
    }
    if let Some(host) = &args.read_again.host {
        status(&format!(
            "--host {host} not used: this run read its count itself when it ended"
        ));
    }
    Ok(rejudge::rejudge(summary, start, ops))
}

/// The count of a killed run's counter after the kill: read now at
/// `--host`, or as an earlier `report` read it; else why there is none.
async fn final_count(
    args: &ReportArgs,
    start: &RunStart,
    previous: Option<&Summary>,
) -> KilledRecord {
    let host = args.read_again.host.as_deref();
    let record = |final_count, from: Option<&str>| KilledRecord {
        torn_bytes: 0,
        final_count,
        final_count_from: from.map(str::to_owned),
    };
    if let (Some(host), Some(read)) = (host, args.read_again.read(&start.path, start.api.as_ref()))
    {
        status(&format!(
            "Reading the count of {} at {host} (the run was killed before it did)",
            start.path
        ));
        let read = read.await;
        if let Err(e) = &read {
            status(&format!("could not read the count: {e}"));
        }
        return record(read, Some(host));
    }
    let earlier = previous.and_then(|p| {
        let from = p.killed.as_ref()?.final_count_from.as_deref()?;
        p.final_read_error
            .is_none()
            .then_some((p.final_count, from))
    });
    match earlier {
        Some((count, from)) => record(Ok(count), Some(from)),
        None => record(Err(rejudge::no_final_count(start)), None),
    }
}

/// The histogram, summary.json, the charts and report.html, in place.
fn write(
    dir: &Path,
    summary: &Summary,
    ops: &[Observation],
    baseline: Option<&Baseline>,
) -> anyhow::Result<()> {
    let h = histogram(ops);
    run_dir::write_histogram(dir, &h)
        .with_context(|| format!("writing the histograms in {}", dir.display()))?;
    run_dir::write_summary(dir, summary, &h, baseline)
}
