//! Merges the run directories of several generator nodes: observations
//! checked together (cross-node order with a skew allowance), histograms
//! added, the same thresholds as a run, the nodes' start skew reported.

use std::path::{Path, PathBuf};

use anyhow::Context;
use hdrhistogram::serialization::Deserializer;

use super::cli::MergeArgs;
use crate::UsageError;
use crate::analysis::analyse::{RunEvidence, Thresholds, analyse};
use crate::analysis::observation::{self, Observation};
use crate::analysis::open::{self, OpenModel};
use crate::analysis::stats::{ServerTiming, new_histogram};
use crate::analysis::summary::{RunFacts, Start, Summary, files};
use crate::output::run_dir;

pub struct Node {
    pub dir: PathBuf,
    pub summary: Summary,
    pub ops: Vec<Observation>,
}

pub fn read_node(dir: &Path) -> anyhow::Result<Node> {
    // The same reader as `plan`: another schema version is refused (exit 2).
    let (summary, _) = super::plan::load_summary(dir)?;
    let file = std::fs::File::open(dir.join(files::OBSERVATIONS))
        .with_context(|| format!("{}: no observations.bin", dir.display()))?;
    let ops = observation::read_all(std::io::BufReader::new(file))
        .with_context(|| format!("{}: observations.bin", dir.display()))?;
    Ok(Node {
        dir: dir.to_owned(),
        summary,
        ops,
    })
}

/// Merges the nodes' directories; returns the merged summary and where it
/// was written.
pub fn merge(args: &MergeArgs) -> anyhow::Result<(Summary, PathBuf)> {
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
    let evidence = RunEvidence {
        min_ok: args.min_ok,
        ..evidence(&nodes, ids, base, args.skew_ms)
    };
    let mut summary = analyse(
        evidence,
        &ops,
        &Thresholds {
            max_p99_ms: args.max_p99,
            max_error_rate: args.max_error_rate,
        },
    );
    summary.start = Start::merged(nodes.iter().map(|n| &n.summary.start));
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

fn added_histograms(nodes: &[Node]) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let mut histogram = new_histogram();
    for n in nodes {
        let bytes = std::fs::read(n.dir.join(files::HISTOGRAM))
            .with_context(|| format!("{}: no latency.hdr", n.dir.display()))?;
        let h: hdrhistogram::Histogram<u64> = Deserializer::new()
            .deserialize(&mut &bytes[..])
            .map_err(|e| anyhow::anyhow!("{}: latency.hdr: {e:?}", n.dir.display()))?;
        histogram
            .add(&h)
            .map_err(|e| anyhow::anyhow!("adding histograms: {e:?}"))?;
    }
    Ok(histogram)
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
        final_read_error: None,
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
