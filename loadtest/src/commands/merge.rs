//! Merges the run directories of several generator nodes: observations
//! checked together (cross-node order with a skew allowance), histograms
//! added, the same thresholds as a run, the nodes' start skew reported.
//!
//! A node that was killed (its directory has run.json and the observations
//! it streamed, but no summary of its own) is merged with what it left and
//! marked: the merge never passes, and its accounting and completeness are
//! judged only on a count read afterwards (`--host`), allowing for the
//! requests each kill kept off the disk.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use super::cli::MergeArgs;
use super::report::{Record, read_record};
use crate::UsageError;
use crate::analysis::analyse::{RunEvidence, Thresholds, analyse};
use crate::analysis::observation::{self, Observation};
use crate::analysis::open::{self, OpenModel};
use crate::analysis::rejudge::{KilledRecord, judge_killed};
use crate::analysis::stats::{ServerTiming, histogram};
use crate::analysis::summary::{Killed, RunFacts, Start, Summary, files};
use crate::output::run_dir;

pub struct Node {
    pub dir: PathBuf,
    /// Its own summary; for a killed node, its history judged alone (its
    /// `killed` says so).
    pub summary: Summary,
    pub ops: Vec<Observation>,
    pub histogram: Histogram<u64>,
}

/// A node's directory: a complete run, or what a killed one left.
pub fn read_node(dir: &Path) -> anyhow::Result<Node> {
    // The same reader as `report` (and `plan`'s summary reader): another
    // schema version is refused (exit 2).
    let (summary, ops, histogram) = match read_record(dir)? {
        Record::Complete { summary, ops, .. } => {
            let h = run_dir::read_histogram(dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            (*summary, ops, h)
        }
        Record::Killed {
            start,
            ops,
            torn_bytes,
            ..
        } => {
            let record = KilledRecord {
                torn_bytes,
                final_count: Err("killed".into()),
                final_count_from: None,
            };
            let h = histogram(&ops);
            (judge_killed(&start, &ops, record), ops, h)
        }
    };
    Ok(Node {
        dir: dir.to_owned(),
        summary,
        ops,
        histogram,
    })
}

/// Merges the nodes' directories; returns the merged summary and where it
/// was written.
pub async fn merge(args: &MergeArgs) -> anyhow::Result<(Summary, PathBuf)> {
    if !(args.skew_ms.is_finite() && (0.0..=3_600_000.0).contains(&args.skew_ms)) {
        return Err(crate::UsageError(format!(
            "--skew-ms {}: give a clock-skew allowance from 0 to 3,600,000 ms",
            args.skew_ms
        ))
        .into());
    }
    // A directory that is not a node's complete record is a usage error
    // (exit 2), as are directories that are not one run's nodes.
    let nodes: Vec<Node> = args
        .dirs
        .iter()
        .map(|d| read_node(d))
        .collect::<Result<_, _>>()
        .map_err(|e| UsageError(format!("{e:#}")))?;
    let ids = check_one_run(&nodes)?;
    let (ops, base) = one_timeline(&nodes);
    let histogram = added_histograms(&nodes)?;
    let killed = killed_nodes(&nodes, args.read_again.host.as_deref());
    let mut evidence = RunEvidence {
        min_ok: args.min_ok,
        ..evidence(&nodes, ids, base, args.skew_ms)
    };
    read_final_count_again(args, &nodes, killed.as_ref(), &mut evidence).await;
    let mut summary = analyse(
        evidence,
        &ops,
        &Thresholds {
            max_p99_ms: args.max_p99,
            max_error_rate: args.max_error_rate,
        },
    );
    summary.start = Start::merged(nodes.iter().map(|n| &n.summary.start));
    summary.killed = killed;
    let open: Vec<OpenModel> = nodes.iter().filter_map(|n| n.summary.open_model).collect();
    if let Some(model) = OpenModel::combine(&open) {
        // The nodes' drops judged together, by the run's rule and limit.
        open::apply_combined(&mut summary, model, args.max_error_rate);
    }
    let out = match &args.out {
        Some(o) => o.clone(),
        None => nodes[0]
            .dir
            .parent()
            .map_or_else(|| PathBuf::from("merged"), |p| p.join("merged")),
    };
    std::fs::create_dir_all(&out)?;
    run_dir::write_histogram(&out, &histogram)?;
    let file = std::fs::File::create(out.join(files::OBSERVATIONS))?;
    observation::write_all(std::io::BufWriter::new(file), &ops)?;
    run_dir::write_summary(&out, &summary, &histogram, None)?;
    Ok((summary, out))
}

/// Refuses directories that are not the nodes of one run (another run id,
/// host or counter; a node twice); returns the node ids.
fn check_one_run(nodes: &[Node]) -> anyhow::Result<Vec<u16>> {
    let Some(first) = nodes.first() else {
        return Err(crate::UsageError("nothing to merge".into()).into());
    };
    for n in nodes {
        let (a, b) = (&first.summary.run, &n.summary.run);
        if a.run_id != b.run_id || a.path != b.path || a.host != b.host {
            return Err(crate::UsageError(format!(
                "{} is run {} against {} {}, {} is run {} against {} {}: not one run",
                first.dir.display(),
                a.run_id,
                a.host,
                a.path,
                n.dir.display(),
                b.run_id,
                b.host,
                b.path
            ))
            .into());
        }
    }
    let mut ids: Vec<u16> = nodes
        .iter()
        .flat_map(|n| n.summary.run.nodes.clone())
        .collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(crate::UsageError(
            "two directories come from the same --node-id: give each node its own".into(),
        )
        .into());
    }
    Ok(ids)
}

/// Every node's observations on one clock: each shifted by its wall-clock
/// start relative to the earliest node's. Returns them and that base.
fn one_timeline(nodes: &[Node]) -> (Vec<Observation>, u64) {
    let base = nodes
        .iter()
        .map(|n| n.summary.run.started_at_unix_ns)
        .min()
        .unwrap_or(0);
    let mut ops: Vec<Observation> = Vec::new();
    for n in nodes {
        let shift = n.summary.run.started_at_unix_ns - base;
        ops.extend(n.ops.iter().map(|o| Observation {
            start_ns: o.start_ns + shift,
            end_ns: o.end_ns + shift,
            ..*o
        }));
    }
    ops.sort_unstable_by_key(|o| (o.start_ns, o.end_ns));
    (ops, base)
}

fn added_histograms(nodes: &[Node]) -> anyhow::Result<Histogram<u64>> {
    let mut histogram = crate::analysis::stats::new_histogram();
    for n in nodes {
        histogram
            .add(&n.histogram)
            .map_err(|e| anyhow::anyhow!("adding histograms: {e:?}"))?;
    }
    Ok(histogram)
}

/// The killed nodes together, if any was: the merge's mark.
fn killed_nodes(nodes: &[Node], host: Option<&str>) -> Option<Killed> {
    let killed: Vec<&Killed> = nodes
        .iter()
        .filter_map(|n| n.summary.killed.as_ref())
        .collect();
    if killed.is_empty() {
        if let Some(host) = host {
            crate::load::status(&format!(
                "--host {host} not used: no node was killed, and each read the count itself"
            ));
        }
        return None;
    }
    Some(Killed {
        nodes: killed.iter().flat_map(|k| k.nodes.clone()).collect(),
        records_on_disk: killed.iter().map(|k| k.records_on_disk).sum(),
        torn_bytes: killed.iter().map(|k| k.torn_bytes).sum(),
        unrecorded_at_most: killed.iter().map(|k| k.unrecorded_at_most).sum(),
        final_count_from: host.map(str::to_owned),
    })
}

/// The final count when the nodes' own reads cannot be trusted for it: a
/// node was killed before its last read (only a count read after the kill
/// follows every write), or a node's last read failed. With `--host` it is
/// read now; without, the verdict says why it is missing.
async fn read_final_count_again(
    args: &MergeArgs,
    nodes: &[Node],
    killed: Option<&Killed>,
    evidence: &mut RunEvidence,
) {
    let run = &nodes[0].summary.run;
    let read = args.read_again.read(&run.path, run.api.as_ref());
    if let Some(k) = killed {
        let read = match read {
            Some(read) => read.await,
            None => Err(format!(
                "node(s) {:?} were killed before reading the count; give --host to read it now",
                k.nodes
            )),
        };
        evidence.final_count = *read.as_ref().unwrap_or(&evidence.initial);
        evidence.final_read_error = read.err();
        evidence.unrecorded = k.unrecorded_at_most;
    } else if evidence.final_read_error.is_some()
        && let Some(read) = read
    {
        let read = read.await;
        evidence.final_count = *read.as_ref().unwrap_or(&evidence.final_count);
        evidence.final_read_error = read.err();
    }
}

/// A node whose count after its run could not be read leaves the
/// largest final count meaningless (it may be an earlier read than the
/// last write): what it said, or `None` when every node read its count.
fn unread_counts(nodes: &[Node]) -> Option<String> {
    let unread: Vec<String> = nodes
        .iter()
        .filter_map(|n| {
            n.summary
                .final_read_error
                .as_ref()
                .map(|e| format!("{}: {e}", n.dir.display()))
        })
        .collect();
    (!unread.is_empty()).then(|| {
        format!(
            "a node could not read the count after its run ({}); give --host to read it now",
            unread.join("; ")
        )
    })
}

/// What the nodes saw together. Each node read the count before its own
/// first request and after its last: the smallest first read precedes
/// every write, the largest last read follows them all. CPU and cores add
/// up across the nodes' machines; the response size is the mean over all
/// requests.
fn evidence(nodes: &[Node], ids: Vec<u16>, base: u64, skew_ms: f64) -> RunEvidence {
    let sum = |f: &dyn Fn(&Summary) -> f64| nodes.iter().map(|n| f(&n.summary)).sum::<f64>();
    let requests = sum(&|s| s.requests.total as f64);
    let aborted: Vec<String> = nodes
        .iter()
        .filter_map(|n| {
            n.summary
                .aborted
                .as_ref()
                .map(|a| format!("{}: {a}", n.dir.display()))
        })
        .collect();
    let first = &nodes[0].summary;
    RunEvidence {
        run: RunFacts {
            nodes: ids,
            started_at_unix_ns: base,
            users: nodes.iter().map(|n| n.summary.run.users).sum(),
            ..first.run.clone()
        },
        other_nodes_write: false,
        initial: nodes
            .iter()
            .map(|n| n.summary.initial_count)
            .min()
            .unwrap_or(0),
        final_read_error: unread_counts(nodes),
        final_count: nodes
            .iter()
            .map(|n| n.summary.final_count)
            .max()
            .unwrap_or(0),
        cross_node_skew_ns: (skew_ms * 1e6) as u64,
        min_ok: crate::analysis::checker::DEFAULT_MIN_OK,
        response_bytes_mean: if requests > 0.0 {
            sum(&|s| s.response_bytes_mean * s.requests.total as f64) / requests
        } else {
            0.0
        },
        // Unknown on any node: unknown for the run.
        cpu_percent: nodes
            .iter()
            .map(|n| n.summary.generator.cpu_percent_of_one_core)
            .sum(),
        cores: nodes.iter().map(|n| n.summary.generator.cores).sum(),
        aborted: (!aborted.is_empty()).then(|| aborted.join("; ")),
        stopped_early: None,
        interrupted: nodes
            .iter()
            .find_map(|n| n.summary.interrupted_by.clone())
            .or_else(|| {
                nodes
                    .iter()
                    .any(|n| n.summary.interrupted)
                    .then(|| "a node's signal".to_owned())
            }),
        windows: vec![],
        per_user_rps: None,
        unrecorded: 0,
        server_timing: ServerTiming::combine(
            &nodes
                .iter()
                .filter_map(|n| n.summary.server_timing)
                .collect::<Vec<_>>(),
        ),
    }
}
