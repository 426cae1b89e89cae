//! Check 5, completeness: every count in `(initial, final]` that no ok
//! response returned must have been taken by an unknown operation, a
//! different one for each such count, that could have taken it.
//!
//! Unknown operation U can have taken count v only if no ok operation that
//! returned a count above v had ended before U started (that operation took
//! its count after v was taken, so after U took effect, and U took effect
//! after it started). So U can take exactly the counts above `c(U)`, the
//! highest count returned by an ok operation that ended before U started:
//! the counts each unknown can take are all those above a threshold.
//! With such nested choices a sweep over the missing counts in increasing
//! order, handing each to any unknown still free whose threshold lies below
//! it, finds an owner for every count whenever any assignment can (a count
//! met later can use every unknown an earlier one could); a count left
//! without one is a violation.
//!
//! Cost: `c(U)` for all unknowns by one pass over the ok operations, each a
//! lookup among the unknowns sorted by start (a bucketed binary search);
//! the returned counts go in a bitmap over `(initial, final]`. Memory is
//! proportional to the unknowns plus one bit per count, not to the ok
//! operations.

use super::{
    CheckName, CheckResult, History, MAX_EXAMPLES, OkOps, Role, Witness, describe, result, skipped,
    witness_op,
};
use crate::analysis::observation::{Observation, Outcome};

/// At most this many unknown operations that were early enough, but are
/// needed elsewhere, are named in one witness.
const CLAIMED_SHOWN: usize = 3;

pub(super) fn completeness(h: &History<'_>, ok: OkOps<'_>) -> CheckResult {
    if h.outside_traffic {
        return skipped(
            CheckName::Completeness,
            "skipped: others write to this counter too, so the counts nobody here was told of are not ours to explain (outside traffic, or other nodes: `loadtest merge` checks their runs together)",
        );
    }
    let survey = Survey::of(h);
    let thresholds = highest_preceding(h, ok, &survey.unknown, survey.one_node);
    let Sweep {
        missing,
        orphans,
        orphan_runs,
    } = Sweep::over(&survey.returned, &thresholds, h.unrecorded);
    let (lo, hi) = (h.initial, h.final_count);
    let unknown = match h.unrecorded {
        0 => survey.unknown.len().to_string(),
        n => format!(
            "{} recorded + up to {n} never recorded",
            survey.unknown.len()
        ),
    };
    if orphans == 0 {
        return result(
            CheckName::Completeness,
            0,
            all_owned(lo, hi, missing, unknown),
            vec![],
            vec![],
        );
    }
    let witnesses = explain(h, ok, &survey.unknown, &thresholds, &orphan_runs);
    let detail = format!(
        "{orphans} of the {missing} counts in ({lo}, {hi}] that no ok response returned can have been taken by no unknown operation ({unknown} unknown): counts that appeared from nowhere"
    );
    let examples = witnesses.iter().map(|w| w.claim.clone()).collect();
    result(
        CheckName::Completeness,
        orphans,
        detail,
        examples,
        witnesses,
    )
}

/// One pass over the history: the unknown operations, the counts
/// returned, and whether one node made every operation that counts.
struct Survey {
    unknown: Vec<u32>,
    returned: Returned,
    one_node: bool,
}

impl Survey {
    fn of(h: &History<'_>) -> Self {
        let mut unknown: Vec<u32> = Vec::new();
        let mut returned = Returned::new(h);
        let mut first_node = None;
        let mut one_node = true;
        for (i, o) in h.ops.iter().enumerate() {
            match o.outcome {
                Outcome::Ok => returned.add(o.count),
                Outcome::Unknown => unknown.push(i as u32),
                Outcome::Failed => continue,
            }
            one_node &= *first_node.get_or_insert(o.node) == o.node;
        }
        returned.seal();
        Self {
            unknown,
            returned,
            one_node,
        }
    }
}

/// The sweep over the counts no ok operation returned, in increasing
/// order, each handed to an unknown operation still free that could have
/// taken it.
struct Sweep {
    missing: u64,
    orphans: u64,
    /// (first orphaned count, how many in its run), at most
    /// [`MAX_EXAMPLES`].
    orphan_runs: Vec<(u64, u64)>,
}

impl Sweep {
    /// `thresholds[k]`: unknown k can have taken only counts above it;
    /// `anytime` more unknowns (never recorded) can have taken any count.
    fn over(returned: &Returned, thresholds: &[u64], anytime: u64) -> Self {
        // Thresholds in increasing order: the unknowns free for a count are
        // a prefix of this order, growing with the count.
        let mut sorted_thresholds = thresholds.to_vec();
        sorted_thresholds.sort_unstable();
        let mut admitted = 0usize;
        let mut free = anytime;
        let mut sweep = Self {
            missing: 0,
            orphans: 0,
            orphan_runs: Vec::new(),
        };
        returned.for_each_gap(|lo, hi| {
            let len = hi - lo + 1;
            sweep.missing += len;
            while admitted < sorted_thresholds.len() && sorted_thresholds[admitted] < lo {
                admitted += 1;
                free += 1;
            }
            let taken = free.min(len);
            free -= taken;
            if taken < len {
                sweep.orphans += len - taken;
                if sweep.orphan_runs.len() < MAX_EXAMPLES {
                    sweep.orphan_runs.push((lo + taken, len - taken));
                }
            }
        });
        sweep
    }
}

/// The passing detail: every count in `(lo, hi]` returned or owned.
fn all_owned(lo: u64, hi: u64, missing: u64, unknown: String) -> String {
    match missing {
        0 => format!("every count in ({lo}, {hi}] was returned by an ok response"),
        1 => format!(
            "the one count in ({lo}, {hi}] that no ok response returned can be owned by an unknown operation that started in time ({unknown} unknown)"
        ),
        _ => format!(
            "each of the {missing} counts in ({lo}, {hi}] that no ok response returned can be owned by its own unknown operation, one that started in time ({unknown} unknown)"
        ),
    }
}

/// For each operation in `unknown`, the highest count returned by an ok
/// operation that ended before it started (0 when none did): it can have
/// taken only counts above that.
fn highest_preceding(h: &History<'_>, ok: OkOps<'_>, unknown: &[u32], one_node: bool) -> Vec<u64> {
    let ops = h.ops;
    let mut highest = vec![0u64; unknown.len()];
    if unknown.is_empty() {
        return highest;
    }
    // Every pair, with the skew allowance (none on one node)...
    let skew = if one_node { 0 } else { h.cross_node_skew_ns };
    let all = Starts::new(ops, unknown.to_vec());
    all.raise(
        ops.iter().filter(|o| o.outcome == Outcome::Ok),
        skew,
        &mut highest,
    );
    if one_node {
        return highest;
    }
    // ...and each node's own pairs by its own clock.
    let mut by_node: Vec<u32> = (0..unknown.len() as u32).collect();
    by_node.sort_unstable_by_key(|&k| ops[unknown[k as usize] as usize].node);
    let mut ok_by_node: Vec<u32> = ok.iter().collect();
    ok_by_node.sort_unstable_by_key(|&i| ops[i as usize].node);
    let mut a = 0;
    let mut b = 0;
    while a < by_node.len() {
        let node = ops[unknown[by_node[a] as usize] as usize].node;
        let mut a_end = a;
        while a_end < by_node.len() && ops[unknown[by_node[a_end] as usize] as usize].node == node {
            a_end += 1;
        }
        while b < ok_by_node.len() && ops[ok_by_node[b] as usize].node < node {
            b += 1;
        }
        let mut b_end = b;
        while b_end < ok_by_node.len() && ops[ok_by_node[b_end] as usize].node == node {
            b_end += 1;
        }
        let members: Vec<u32> = by_node[a..a_end]
            .iter()
            .map(|&k| unknown[k as usize])
            .collect();
        let mut local = vec![0u64; members.len()];
        Starts::new(ops, members).raise(
            ok_by_node[b..b_end].iter().map(|&i| &ops[i as usize]),
            0,
            &mut local,
        );
        for (k, c) in by_node[a..a_end].iter().zip(local) {
            let slot = &mut highest[*k as usize];
            *slot = (*slot).max(c);
        }
        a = a_end;
        b = b_end;
    }
    highest
}

/// Unknown operations sorted by start, with a bucket table over time so
/// that "the first to start after t" is a short search.
struct Starts {
    /// Positions in the caller's list, by start.
    order: Vec<u32>,
    starts: Vec<u64>,
    /// `first[b]`: the first position whose start is at least
    /// `min + (b << shift)`.
    first: Vec<u32>,
    min: u64,
    shift: u32,
}

impl Starts {
    fn new(ops: &[Observation], members: Vec<u32>) -> Self {
        let mut order: Vec<u32> = (0..members.len() as u32).collect();
        order.sort_unstable_by_key(|&k| ops[members[k as usize] as usize].start_ns);
        let starts: Vec<u64> = order
            .iter()
            .map(|&k| ops[members[k as usize] as usize].start_ns)
            .collect();
        let min = starts.first().copied().unwrap_or(0);
        let span = starts.last().copied().unwrap_or(0) - min;
        let buckets = starts.len().next_power_of_two() as u64;
        let mut shift = 0;
        while (span >> shift) >= buckets {
            shift += 1;
        }
        let mut first = Vec::with_capacity(buckets as usize + 1);
        let mut p = 0usize;
        for b in 0..=buckets {
            // Past u64 for the last buckets of a span near u64::MAX.
            let from = u128::from(min) + (u128::from(b) << shift);
            while p < starts.len() && u128::from(starts[p]) < from {
                p += 1;
            }
            first.push(p as u32);
        }
        Self {
            order,
            starts,
            first,
            min,
            shift,
        }
    }

    /// The first position (by start) whose start is after `t`.
    fn first_after(&self, t: u64) -> usize {
        let n = self.starts.len();
        if t < self.min {
            return 0;
        }
        let b = ((t - self.min) >> self.shift) as usize;
        if b + 1 >= self.first.len() {
            return n;
        }
        let (lo, hi) = (self.first[b] as usize, self.first[b + 1] as usize);
        lo + self.starts[lo..hi].partition_point(|&s| s <= t)
    }

    /// Raises `highest[k]` (k a position in the caller's list) to the count
    /// of every op in `preceding` that ended more than `skew` before
    /// operation k started.
    fn raise<'o>(
        &self,
        preceding: impl Iterator<Item = &'o Observation>,
        skew: u64,
        highest: &mut [u64],
    ) {
        // Counts land on the first operation that starts after the op ended;
        // a running maximum carries them to every later one.
        let mut at = vec![0u64; self.starts.len() + 1];
        for o in preceding {
            let p = self.first_after(o.end_ns.saturating_add(skew));
            at[p] = at[p].max(o.count);
        }
        let mut running = 0;
        for (p, &k) in self.order.iter().enumerate() {
            running = running.max(at[p]);
            let slot = &mut highest[k as usize];
            *slot = (*slot).max(running);
        }
    }
}

/// The counts in `(initial, final]` that ok operations returned.
enum Returned {
    /// Bit `v - initial - 1` set when count v was returned.
    Bits {
        base: u64,
        len: u64,
        words: Vec<u64>,
    },
    /// The same, sorted and distinct, when the range is too wide for a
    /// bitmap (a final count far above what the run can explain).
    Sorted {
        base: u64,
        last: u64,
        counts: Vec<u64>,
    },
}

impl Returned {
    /// Empty, for the range `(initial, final]`.
    fn new(h: &History<'_>) -> Self {
        let base = h.initial.saturating_add(1);
        let len = h.final_count.saturating_sub(h.initial);
        // A bitmap costs at most 8 bytes an operation.
        if len <= 64 * (h.ops.len() as u64 + 1) {
            Returned::Bits {
                base,
                len,
                words: vec![0u64; len.div_ceil(64) as usize],
            }
        } else {
            Returned::Sorted {
                base,
                last: h.final_count,
                counts: Vec::new(),
            }
        }
    }

    /// Count `c` was returned (ignored outside the range).
    fn add(&mut self, c: u64) {
        match self {
            Returned::Bits { base, len, words } => {
                if c >= *base && c - *base < *len {
                    let bit = c - *base;
                    words[(bit / 64) as usize] |= 1 << (bit % 64);
                }
            }
            Returned::Sorted { base, last, counts } => {
                if c >= *base && c <= *last {
                    counts.push(c);
                }
            }
        }
    }

    /// Done adding.
    fn seal(&mut self) {
        if let Returned::Sorted { counts, .. } = self {
            counts.sort_unstable();
            counts.dedup();
        }
    }

    #[cfg(test)]
    fn of(h: &History<'_>, ok: OkOps<'_>) -> Self {
        let mut r = Self::new(h);
        for i in ok.iter() {
            r.add(h.ops[i as usize].count);
        }
        r.seal();
        r
    }

    /// Calls `f(lo, hi)` for each maximal run `lo..=hi` of counts that no
    /// ok operation returned, in increasing order.
    fn for_each_gap(&self, mut f: impl FnMut(u64, u64)) {
        match self {
            Returned::Bits { base, len, words } => {
                let bit = |p: u64| words[(p / 64) as usize] >> (p % 64) & 1 == 1;
                let mut p = 0u64;
                while p < *len {
                    // Skip returned counts, a word at a time where all are.
                    if p.is_multiple_of(64) && words[(p / 64) as usize] == u64::MAX {
                        p += 64;
                        continue;
                    }
                    if bit(p) {
                        p += 1;
                        continue;
                    }
                    let from = p;
                    while p < *len {
                        if p.is_multiple_of(64) && words[(p / 64) as usize] == 0 {
                            p += 64;
                        } else if bit(p) {
                            break;
                        } else {
                            p += 1;
                        }
                    }
                    let to = p.min(*len);
                    f(base + from, base + to - 1);
                }
            }
            Returned::Sorted { base, last, counts } => {
                // Counts lie in base..=last, so c - 1 and c + 1 stay in u64.
                let mut next = Some(*base);
                for &c in counts {
                    if let Some(n) = next
                        && c > n
                    {
                        f(n, c - 1);
                    }
                    next = c.checked_add(1);
                }
                if let Some(n) = next
                    && n <= *last
                {
                    f(n, *last);
                }
            }
        }
    }
}

/// A witness for each orphaned run's first count: the ok operation whose
/// end bounds it, the earliest unknown operation too late for it (with the
/// ok operation that made it too late, when another), and the unknown
/// operations early enough but needed for lower counts.
fn explain(
    h: &History<'_>,
    ok: OkOps<'_>,
    unknown: &[u32],
    thresholds: &[u64],
    orphan_runs: &[(u64, u64)],
) -> Vec<Witness> {
    let ops = h.ops;
    let op = |i: u32| &ops[i as usize];
    // One pass over the ok operations for all the bounds.
    let mut bounds: Vec<Option<u32>> = vec![None; orphan_runs.len()];
    for i in ok.iter() {
        for (w, &(v, _)) in orphan_runs.iter().enumerate() {
            if op(i).count > v && bounds[w].is_none_or(|b| op(i).end_ns < op(b).end_ns) {
                bounds[w] = Some(i);
            }
        }
    }
    let mut witnesses = Vec::new();
    for (w, &(v, run)) in orphan_runs.iter().enumerate() {
        let too_late = (0..unknown.len())
            .filter(|&k| thresholds[k] >= v)
            .min_by_key(|&k| op(unknown[k]).start_ns)
            .map(|k| unknown[k]);
        let claimed: Vec<u32> = (0..unknown.len())
            .filter(|&k| thresholds[k] < v)
            .map(|k| unknown[k])
            .collect();
        // The ok operation that made `too_late` too late: the earliest-ending
        // one with a higher count that ended before it started.
        let stopper = too_late.and_then(|u| {
            ok.iter()
                .filter(|&i| op(i).count > v && h.precedes(op(i), op(u)))
                .min_by_key(|&i| op(i).end_ns)
        });
        let mut who = Vec::new();
        if let Some(b) = bounds[w] {
            who.push(witness_op(ops, b, Role::Bound));
        }
        if let Some(u) = too_late {
            who.push(witness_op(ops, u, Role::TooLate));
            if let Some(s) = stopper
                && Some(s) != bounds[w]
            {
                who.push(witness_op(ops, s, Role::Bound));
            }
        }
        for &c in claimed.iter().take(CLAIMED_SHOWN) {
            who.push(witness_op(ops, c, Role::Claimed));
        }
        witnesses.push(Witness {
            claim: claim(h, v, run, bounds[w], too_late, stopper, &claimed),
            count: Some(v),
            deadline_ns: bounds[w].map(|b| op(b).end_ns),
            ops: who,
        });
    }
    witnesses
}

/// The counter-example in words.
fn claim(
    h: &History<'_>,
    v: u64,
    run: u64,
    bound: Option<u32>,
    too_late: Option<u32>,
    stopper: Option<u32>,
    claimed: &[u32],
) -> String {
    let ops = h.ops;
    let (counts, it) = if run > 1 {
        (
            format!("counts {v}..={} ({run} counts)", v + run - 1),
            "them",
        )
    } else {
        (format!("count {v}"), "it")
    };
    let mut s = match bound {
        Some(b) => format!(
            "{counts}: no ok response returned {it}, so an unknown operation must have taken {it} before {} returned {}",
            describe(ops, b),
            ops[b as usize].count
        ),
        None => format!("{counts}: above every ok count, and no ok response returned {it}"),
    };
    match (claimed, too_late) {
        ([], None) => s.push_str("; there are no unknown operations"),
        ([], Some(_)) => s.push_str("; no unknown operation started in time"),
        ([one], _) => s.push_str(&format!(
            "; the one unknown operation that started in time, {}, is needed for a lower count",
            describe(ops, *one)
        )),
        (many, _) => s.push_str(&format!(
            "; the {} unknown operations that started in time are all needed for lower counts",
            many.len()
        )),
    }
    match (too_late, stopper) {
        (Some(u), Some(st)) if Some(st) != bound => s.push_str(&format!(
            " ({} started after {} had returned {})",
            describe(ops, u),
            describe(ops, st),
            ops[st as usize].count
        )),
        (Some(u), _) => s.push_str(&format!(" ({} started too late)", describe(ops, u))),
        (None, _) => {}
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unknown_at(start: u64) -> Observation {
        Observation {
            start_ns: start,
            end_ns: start + 1,
            count: 0,
            status: 0,
            node: 0,
            outcome: Outcome::Unknown,
            late: crate::analysis::observation::Lateness::ZERO,
        }
    }

    proptest! {
        /// The bucketed search finds what a plain search over sorted
        /// starts finds, for clustered, spread and tied starts alike.
        #[test]
        fn the_bucketed_search_agrees_with_a_plain_one(
            starts in prop::collection::vec(prop_oneof![0u64..50, 0u64..1_000_000, Just(u64::MAX - 1)], 1..200),
            queries in prop::collection::vec(prop_oneof![0u64..60, 0u64..1_100_000, Just(u64::MAX)], 1..50),
        ) {
            let ops: Vec<Observation> = starts.iter().map(|&s| unknown_at(s.min(u64::MAX - 1))).collect();
            let index = Starts::new(&ops, (0..ops.len() as u32).collect());
            let mut sorted: Vec<u64> = ops.iter().map(|o| o.start_ns).collect();
            sorted.sort_unstable();
            for t in queries {
                prop_assert_eq!(index.first_after(t), sorted.partition_point(|&s| s <= t));
            }
        }
    }

    #[test]
    fn gaps_come_out_as_maximal_runs_in_order() {
        let ok: Vec<Observation> = [2u64, 3, 7, 70, 71, 200]
            .iter()
            .map(|&c| Observation::ok(0, 1, c))
            .collect();
        let idx = OkOps::of(&ok);
        let mut bits = Vec::new();
        let h = History::new(0, 130, &ok);
        Returned::of(&h, idx).for_each_gap(|a, b| bits.push((a, b)));
        assert_eq!(bits, vec![(1, 1), (4, 6), (8, 69), (72, 130)]);
        assert!(matches!(Returned::of(&h, idx), Returned::Bits { .. }));
        let wide = History::new(0, 1 << 20, &ok);
        assert!(matches!(Returned::of(&wide, idx), Returned::Sorted { .. }));
        let mut sorted = Vec::new();
        Returned::of(&wide, idx).for_each_gap(|a, b| sorted.push((a, b)));
        assert_eq!(
            sorted,
            vec![(1, 1), (4, 6), (8, 69), (72, 199), (201, 1 << 20)]
        );
    }
}
