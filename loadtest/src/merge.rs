//! Merges the run directories of several generator nodes: observations
//! checked together (cross-node order with a skew allowance), histograms
//! added.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use hdrhistogram::serialization::Deserializer;

use crate::analysis::{Analysis, Limits, analyse};
use crate::cli::MergeArgs;
use crate::observation::{self, Observation};
use crate::report;
use crate::stats::new_histogram;
use crate::summary::{RunFacts, Summary};

pub struct Node {
    pub dir: PathBuf,
    pub summary: Summary,
    pub ops: Vec<Observation>,
}

pub fn read_node(dir: &Path) -> anyhow::Result<Node> {
    let text = std::fs::read_to_string(dir.join("summary.json"))
        .with_context(|| format!("{}: no summary.json", dir.display()))?;
    let summary: Summary = serde_json::from_str(&text)
        .with_context(|| format!("{}: summary.json is not a run summary", dir.display()))?;
    let file = std::fs::File::open(dir.join("observations.bin"))
        .with_context(|| format!("{}: no observations.bin", dir.display()))?;
    let ops = observation::read_all(std::io::BufReader::new(file))
        .with_context(|| format!("{}: observations.bin", dir.display()))?;
    Ok(Node {
        dir: dir.to_owned(),
        summary,
        ops,
    })
}

pub fn merge(args: &MergeArgs) -> anyhow::Result<(Summary, PathBuf)> {
    let nodes: Vec<Node> = args
        .dirs
        .iter()
        .map(|d| read_node(d))
        .collect::<Result<_, _>>()?;
    let Some(first) = nodes.first() else {
        bail!("nothing to merge");
    };
    for n in &nodes {
        let (a, b) = (&first.summary.run, &n.summary.run);
        if a.path != b.path || a.host != b.host {
            bail!(
                "{} ran against {} {}, {} against {} {}: not one run",
                first.dir.display(),
                a.host,
                a.path,
                n.dir.display(),
                b.host,
                b.path
            );
        }
    }
    let mut ids: Vec<u16> = nodes
        .iter()
        .flat_map(|n| n.summary.run.nodes.clone())
        .collect();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        bail!("two directories come from the same --node-id: give each node its own");
    }
    // One timeline: each node's times shifted by its wall-clock start.
    let base = nodes
        .iter()
        .map(|n| n.summary.run.started_at_unix_ns)
        .min()
        .unwrap_or(0);
    let mut ops: Vec<Observation> = Vec::new();
    let mut histogram = new_histogram();
    for n in &nodes {
        let shift = n.summary.run.started_at_unix_ns - base;
        ops.extend(n.ops.iter().map(|o| Observation {
            start_ns: o.start_ns + shift,
            end_ns: o.end_ns + shift,
            ..*o
        }));
        let bytes = std::fs::read(n.dir.join("latency.hdr"))
            .with_context(|| format!("{}: no latency.hdr", n.dir.display()))?;
        let h: hdrhistogram::Histogram<u64> = Deserializer::new()
            .deserialize(&mut &bytes[..])
            .map_err(|e| anyhow::anyhow!("{}: latency.hdr: {e:?}", n.dir.display()))?;
        histogram
            .add(&h)
            .map_err(|e| anyhow::anyhow!("adding histograms: {e:?}"))?;
    }
    ops.sort_unstable_by_key(|o| (o.start_ns, o.end_ns));
    // Each node read the count before its own first request and after its
    // last: the smallest first read precedes every write, the largest last
    // read follows them all.
    let initial = nodes
        .iter()
        .map(|n| n.summary.initial_count)
        .min()
        .unwrap_or(0);
    let final_count = nodes
        .iter()
        .map(|n| n.summary.final_count)
        .max()
        .unwrap_or(0);
    let aborted: Vec<String> = nodes
        .iter()
        .filter_map(|n| {
            n.summary
                .aborted
                .as_ref()
                .map(|a| format!("{}: {a}", n.dir.display()))
        })
        .collect();
    let summary = analyse(
        Analysis {
            run: RunFacts {
                nodes: ids,
                started_at_unix_ns: base,
                users: nodes.iter().map(|n| n.summary.run.users).sum(),
                ..first.summary.run.clone()
            },
            other_nodes_write: false,
            initial,
            final_count,
            cross_node_skew_ns: (args.skew_ms * 1e6) as u64,
            response_bytes_mean: first.summary.response_bytes_mean,
            cpu_percent: nodes
                .iter()
                .map(|n| n.summary.generator.cpu_percent_of_one_core)
                .sum(),
            cores: first.summary.generator.cores,
            aborted: (!aborted.is_empty()).then(|| aborted.join("; ")),
            stopped_early: None,
            windows: vec![],
            per_user_rps: None,
        },
        &ops,
        &Limits {
            max_p99_ms: args.max_p99,
            max_error_rate: args.max_error_rate,
        },
    );
    let out = match &args.out {
        Some(o) => o.clone(),
        None => first
            .dir
            .parent()
            .map_or_else(|| PathBuf::from("merged"), |p| p.join("merged")),
    };
    std::fs::create_dir_all(&out)?;
    report::write_histogram(&out, &histogram)?;
    let file = std::fs::File::create(out.join("observations.bin"))?;
    observation::write_all(std::io::BufWriter::new(file), &ops)?;
    report::write_summary(&out, &summary, &histogram)?;
    Ok((summary, out))
}
