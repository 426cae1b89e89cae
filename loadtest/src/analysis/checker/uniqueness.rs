//! Check 1, uniqueness: no two ok operations returned the same count (a
//! duplicate is a lost update).
//!
//! The counts a run returns lie close together (between the counter's
//! reads before and after), so two bits per count find the duplicates in
//! one pass: "seen" and "seen twice". That costs a quarter of a byte per
//! operation where the range is as wide as the run, and at most 4 bytes
//! (the size of a sorted index, the fallback) where a range is sparse; a
//! second pass, only when something is duplicated, gathers the operations
//! of the first few duplicated counts for the report.

use super::{
    CheckName, CheckResult, MAX_EXAMPLES, OkOps, Role, Witness, describe, result, witness_op,
};
use crate::analysis::observation::Observation;

/// Operations named in one example.
const NAMED: usize = 4;

/// What the check found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Duplicates {
    /// Counts returned more than once.
    counts: u64,
    /// Operations beyond the first for each such count (lost updates).
    extra_ops: u64,
    /// The lowest [`MAX_EXAMPLES`] duplicated counts, ascending.
    groups: Vec<Group>,
}

/// One duplicated count and who returned it.
#[derive(Debug, PartialEq, Eq)]
struct Group {
    count: u64,
    /// How many ok operations returned it.
    times: u64,
    /// The first [`NAMED`] of them, in history order.
    ops: Vec<u32>,
}

pub(super) fn uniqueness(ops: &[Observation], ok: OkOps<'_>) -> CheckResult {
    let found = find(ops, ok);
    let mut examples = Vec::new();
    let mut witnesses = Vec::new();
    for g in &found.groups {
        let who: Vec<String> = g.ops.iter().map(|&k| describe(ops, k)).collect();
        let times = match g.times {
            2 => "twice".to_owned(),
            n => format!("{n} times"),
        };
        let claim = format!("count {} returned {times}: {}", g.count, who.join(" and "));
        witnesses.push(Witness {
            claim: claim.clone(),
            count: Some(g.count),
            deadline_ns: None,
            ops: g.ops[..2]
                .iter()
                .map(|&k| witness_op(ops, k, Role::Duplicate))
                .collect(),
        });
        examples.push(claim);
    }
    let detail = if found.counts == 0 {
        format!("{} ok responses, all counts distinct", ok.len())
    } else {
        format!(
            "{} counts returned more than once ({} lost updates)",
            found.counts, found.extra_ops
        )
    };
    result(
        CheckName::Uniqueness,
        found.counts,
        detail,
        examples,
        witnesses,
    )
}

fn find(ops: &[Observation], ok: OkOps<'_>) -> Duplicates {
    let counts = ok.iter().map(|i| ops[i as usize].count);
    let (Some(lo), Some(hi)) = (counts.clone().min(), counts.max()) else {
        return Duplicates::default();
    };
    // Two bits a count, or the 4-byte index of the fallback, whichever is less.
    if (hi - lo) / 16 < ok.len() as u64 {
        by_bitmap(ops, ok, lo, hi)
    } else {
        by_sorting(ops, ok)
    }
}

fn by_bitmap(ops: &[Observation], ok: OkOps<'_>, lo: u64, hi: u64) -> Duplicates {
    let words = ((hi - lo) / 64 + 1) as usize;
    let mut seen = vec![0u64; words];
    let mut twice = vec![0u64; words];
    let mut found = Duplicates::default();
    for i in ok.iter() {
        let v = ops[i as usize].count - lo;
        let (w, bit) = ((v / 64) as usize, 1u64 << (v % 64));
        if seen[w] & bit == 0 {
            seen[w] |= bit;
            continue;
        }
        found.extra_ops += 1;
        if twice[w] & bit == 0 {
            twice[w] |= bit;
            found.counts += 1;
        }
    }
    if found.counts == 0 {
        return found;
    }
    drop(seen);
    // The lowest duplicated counts, then one pass for their operations.
    let mut lowest = Vec::new();
    for (w, &bits) in twice.iter().enumerate() {
        let mut bits = bits;
        while bits != 0 && lowest.len() < MAX_EXAMPLES {
            lowest.push(lo + w as u64 * 64 + u64::from(bits.trailing_zeros()));
            bits &= bits - 1;
        }
        if lowest.len() == MAX_EXAMPLES {
            break;
        }
    }
    found.groups = lowest
        .into_iter()
        .map(|count| Group {
            count,
            times: 0,
            ops: vec![],
        })
        .collect();
    for i in ok.iter() {
        let count = ops[i as usize].count;
        if let Ok(g) = found.groups.binary_search_by_key(&count, |g| g.count) {
            let g = &mut found.groups[g];
            g.times += 1;
            if g.ops.len() < NAMED {
                g.ops.push(i);
            }
        }
    }
    found
}

fn by_sorting(ops: &[Observation], ok: OkOps<'_>) -> Duplicates {
    let mut by_count: Vec<u32> = ok.iter().collect();
    by_count.sort_unstable_by_key(|&i| (ops[i as usize].count, i));
    let mut found = Duplicates::default();
    for run in by_count.chunk_by(|&a, &b| ops[a as usize].count == ops[b as usize].count) {
        if run.len() < 2 {
            continue;
        }
        found.counts += 1;
        found.extra_ops += run.len() as u64 - 1;
        if found.groups.len() < MAX_EXAMPLES {
            found.groups.push(Group {
                count: ops[run[0] as usize].count,
                times: run.len() as u64,
                ops: run.iter().take(NAMED).copied().collect(),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::observation::Outcome;
    use proptest::prelude::*;

    fn ops_with(counts: &[u64]) -> Vec<Observation> {
        counts
            .iter()
            .enumerate()
            .map(|(i, &c)| Observation::ok(i as u64 * 10, i as u64 * 10 + 5, c))
            .collect()
    }

    #[test]
    fn duplicates_are_counted_once_per_count_and_once_per_extra_operation() {
        let ops = ops_with(&[5, 7, 5, 9, 5, 7, 8]);
        let found = find(&ops, OkOps::of(&ops));
        assert_eq!(found.counts, 2, "5 and 7");
        assert_eq!(found.extra_ops, 3, "two more 5s, one more 7");
        assert_eq!(found.groups[0].count, 5);
        assert_eq!(found.groups[0].times, 3);
        assert_eq!(found.groups[0].ops, vec![0, 2, 4]);
        assert_eq!(found.groups[1].ops, vec![1, 5]);
    }

    #[test]
    fn a_sparse_range_is_sorted_and_gives_the_same_answer() {
        // (1000 - 1) / 16 = 62 ≥ 5 operations: sparse enough that `find`
        // sorts, small enough for a bitmap to check it against.
        let ops = ops_with(&[1, 1000, 1, 999, 1000]);
        let ok = OkOps::of(&ops);
        assert!((1000 - 1) / 16 >= ops.len() as u64, "find takes the sort");
        let found = find(&ops, ok);
        assert_eq!(found, by_bitmap(&ops, ok, 1, 1000));
        assert_eq!(found, by_sorting(&ops, ok));
        assert_eq!((found.counts, found.extra_ops), (2, 2));
        assert_eq!((found.groups[0].count, found.groups[1].count), (1, 1000));

        // Near u64::MAX a bitmap could not even be allocated: `find` must sort.
        let ops = ops_with(&[1, u64::MAX, 1, u64::MAX - 1, u64::MAX]);
        let found = find(&ops, OkOps::of(&ops));
        assert_eq!((found.counts, found.extra_ops), (2, 2));
    }

    proptest! {
        /// The bitmap and the sort agree on every history, the witnesses too.
        #[test]
        fn bitmap_and_sorting_agree(counts in prop::collection::vec(1u64..200, 1..300)) {
            let mut ops = ops_with(&counts);
            // Only some operations are ok: every third is unknown.
            for o in ops.iter_mut().skip(2).step_by(3) {
                o.outcome = Outcome::Unknown;
            }
            let ok = OkOps::of(&ops);
            let lo = ok.iter().map(|i| counts[i as usize]).min();
            let hi = ok.iter().map(|i| counts[i as usize]).max();
            if let (Some(lo), Some(hi)) = (lo, hi) {
                prop_assert_eq!(by_bitmap(&ops, ok, lo, hi), by_sorting(&ops, ok));
            }
        }
    }
}
