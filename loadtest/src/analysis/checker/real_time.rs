//! Check 2, real-time order: if ok operation A ended before ok operation B
//! started, A's count is below B's.
//!
//! One sweep over the ok operations in start order. An operation becomes
//! *visible* at its end (plus the skew allowance across nodes): every
//! operation that starts after that instant must return more. Operations
//! passed but not yet visible wait in a heap keyed by that instant, so the
//! sweep holds the operations in flight, not the history: memory is
//! proportional to the concurrency (and to the operations within one skew
//! allowance), whatever the run's length. Each B is compared with the
//! highest count among the operations visible when it started.
//!
//! On one node every pair is compared by that node's clock; across nodes
//! only with the skew allowance ([`History::precedes`]). A run's history is
//! already in start order, so nothing is sorted; a history in another
//! order (a test's, or a corrupt file) is read through a sorted index.
//!
//! [`History::precedes`]: super::History::precedes

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use super::{
    CheckName, CheckResult, MAX_EXAMPLES, OkOps, Role, Witness, describe, result, witness_op,
};
use crate::analysis::observation::Observation;

pub(super) fn real_time_order(ops: &[Observation], ok: OkOps<'_>, skew_ns: u64) -> CheckResult {
    let (violations, found) = violations(ops, ok, skew_ns);
    let detail = if violations == 0 {
        format!(
            "every count exceeds the counts of all {} ok operations that ended before it started",
            ok.len()
        )
    } else {
        format!(
            "{violations} operations returned a count no greater than one that had already completed"
        )
    };
    let mut examples = Vec::new();
    let mut witnesses = Vec::new();
    for (a, b) in found {
        let claim = format!(
            "{} returned {} after {} had already returned {}",
            describe(ops, b),
            ops[b as usize].count,
            describe(ops, a),
            ops[a as usize].count
        );
        witnesses.push(Witness {
            claim: claim.clone(),
            count: Some(ops[b as usize].count),
            deadline_ns: None,
            ops: vec![
                witness_op(ops, a, Role::EndedFirst),
                witness_op(ops, b, Role::Later),
            ],
        });
        examples.push(claim);
    }
    result(
        CheckName::RealTimeOrder,
        violations,
        detail,
        examples,
        witnesses,
    )
}

/// How many ok operations B have an A that precedes them with a count
/// ≥ theirs, and the first [`MAX_EXAMPLES`] such pairs (A, B), B in start
/// order.
fn violations(ops: &[Observation], ok: OkOps<'_>, skew_ns: u64) -> (u64, Vec<(u32, u32)>) {
    let Some(first) = ok.iter().next() else {
        return (0, vec![]);
    };
    let node = ops[first as usize].node;
    let multi_node = ok.iter().any(|i| ops[i as usize].node != node);
    let skew_ns = if multi_node { skew_ns } else { 0 };
    if ok.iter().map(|i| ops[i as usize].start_ns).is_sorted() {
        sweep(ops, ok.iter(), multi_node, skew_ns)
    } else {
        let mut by_start: Vec<u32> = ok.iter().collect();
        by_start.sort_by_key(|&i| ops[i as usize].start_ns);
        sweep(ops, by_start.iter().copied(), multi_node, skew_ns)
    }
}

/// [`violations`] over the ok operations in start order.
fn sweep(
    ops: &[Observation],
    by_start: impl Iterator<Item = u32> + Clone,
    multi_node: bool,
    skew_ns: u64,
) -> (u64, Vec<(u32, u32)>) {
    // Across nodes, with the allowance; and each node by its own clock.
    let mut across = Sweep::new(ops, by_start.clone(), skew_ns);
    let mut per_node: Vec<(u16, Sweep)> = Vec::new();
    if multi_node {
        let nodes: BTreeSet<u16> = by_start.clone().map(|i| ops[i as usize].node).collect();
        for node in nodes {
            let members = by_start.clone().filter(|&i| ops[i as usize].node == node);
            per_node.push((node, Sweep::new(ops, members, 0)));
        }
    }
    let mut flagged = 0u64;
    let mut found = Vec::new();
    for b in by_start {
        let node = ops[b as usize].node;
        let local = per_node
            .binary_search_by_key(&node, |(n, _)| *n)
            .ok()
            .and_then(|k| per_node[k].1.judge(ops, b));
        // Every operation is passed to the sweep across nodes too.
        let across_hit = across.judge(ops, b);
        if let Some(a) = local.or(across_hit) {
            flagged += 1;
            if found.len() < MAX_EXAMPLES {
                found.push((a, b));
            }
        }
    }
    (flagged, found)
}

/// The ok operations seen so far in start order, as they become visible.
struct Sweep {
    skew_ns: u64,
    /// Passed, not yet visible: (visible from, operation).
    pending: BinaryHeap<Reverse<(u64, u32)>>,
    /// Operations that end (plus the skew) before they start, which only a
    /// corrupt record does: visible from then, so also to operations that
    /// started before them. Sorted by that instant.
    early: Vec<(u64, u32)>,
    next_early: usize,
    /// The highest count among the visible operations.
    best: Option<u32>,
}

impl Sweep {
    /// `members`: the operations this sweep will be shown.
    fn new(ops: &[Observation], members: impl Iterator<Item = u32>, skew_ns: u64) -> Self {
        let mut early: Vec<(u64, u32)> = members
            .filter_map(|i| {
                let o = &ops[i as usize];
                let visible = o.end_ns.saturating_add(skew_ns);
                (visible < o.start_ns).then_some((visible, i))
            })
            .collect();
        early.sort_unstable();
        Self {
            skew_ns,
            pending: BinaryHeap::new(),
            early,
            next_early: 0,
            best: None,
        }
    }

    /// B, the next operation in start order: the operation with the
    /// highest count among those that ended before B started, if its count
    /// is ≥ B's. Then B is passed.
    fn judge(&mut self, ops: &[Observation], b: u32) -> Option<u32> {
        let start = ops[b as usize].start_ns;
        while let Some(&Reverse((visible, a))) = self.pending.peek() {
            if visible >= start {
                break;
            }
            self.pending.pop();
            self.see(ops, a);
        }
        while let Some(&(visible, a)) = self.early.get(self.next_early) {
            if visible >= start {
                break;
            }
            self.next_early += 1;
            self.see(ops, a);
        }
        let hit = self
            .best
            .filter(|&a| ops[a as usize].count >= ops[b as usize].count);
        let o = &ops[b as usize];
        let visible = o.end_ns.saturating_add(self.skew_ns);
        if visible >= o.start_ns {
            self.pending.push(Reverse((visible, b)));
        }
        hit
    }

    fn see(&mut self, ops: &[Observation], a: u32) {
        if self
            .best
            .is_none_or(|x| ops[a as usize].count > ops[x as usize].count)
        {
            self.best = Some(a);
        }
    }
}
