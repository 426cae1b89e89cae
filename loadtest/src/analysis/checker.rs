//! The atomicity checker: is a recorded history of increments one that an
//! atomic counter could have produced?
//!
//! Pure: it reads observations and two counter reads, and does no I/O. Four
//! checks, each O(n log n):
//!
//! 1. **uniqueness**: no two ok operations returned the same count (a
//!    duplicate is a lost update);
//! 2. **real-time order**: if A ended before B started, A's count < B's;
//! 3. **accounting**: `final − initial = ok + k` for some `0 ≤ k ≤ unknown`
//!    (below: lost updates; above: phantom increments, e.g. retried writes);
//! 4. **range**: every ok count lies in `(initial, final]`.
//!
//! ```
//! use loadtest::analysis::checker::{History, check};
//! use loadtest::analysis::observation::Observation;
//! let ops = [Observation::ok(0, 10, 1), Observation::ok(20, 30, 2)];
//! let verdict = check(&History::new(0, 2, &ops));
//! assert!(verdict.passed());
//! ```

use serde::{Deserialize, Serialize};

use super::observation::{Observation, Outcome};

/// At most this many counter-examples are kept per check.
pub const MAX_EXAMPLES: usize = 10;

/// What the checker is given.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    /// The count read before the first request.
    pub initial: u64,
    /// The count read after the last request ended.
    pub final_count: u64,
    pub ops: &'a [Observation],
    /// Others may increment this counter too (a real page, or the other
    /// nodes of a multi-node run): accounting is then meaningless and skipped.
    pub outside_traffic: bool,
    /// Clock skew allowed between operations of *different* nodes: A must
    /// end more than this before B starts for A to precede B.
    pub cross_node_skew_ns: u64,
}

impl<'a> History<'a> {
    pub fn new(initial: u64, final_count: u64, ops: &'a [Observation]) -> Self {
        Self {
            initial,
            final_count,
            ops,
            outside_traffic: false,
            cross_node_skew_ns: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    Uniqueness,
    RealTimeOrder,
    Accounting,
    Range,
}

impl CheckName {
    pub fn title(self) -> &'static str {
        match self {
            CheckName::Uniqueness => "uniqueness",
            CheckName::RealTimeOrder => "real-time order",
            CheckName::Accounting => "accounting",
            CheckName::Range => "range",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: CheckName,
    pub status: Status,
    /// One line: what was checked and what was found.
    pub detail: String,
    /// How many violations (duplicate counts, out-of-order operations...).
    pub violations: u64,
    /// Up to [`MAX_EXAMPLES`] concrete counter-examples.
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub initial: u64,
    pub final_count: u64,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    pub checks: Vec<CheckResult>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != Status::Fail)
    }

    pub fn get(&self, name: CheckName) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == name)
    }
}

/// Runs every check.
pub fn check(history: &History<'_>) -> Verdict {
    let ok: Vec<u32> = indices_where(history.ops, Outcome::Ok);
    let failed = history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Failed)
        .count() as u64;
    let unknown = history.ops.len() as u64 - ok.len() as u64 - failed;
    Verdict {
        initial: history.initial,
        final_count: history.final_count,
        ok: ok.len() as u64,
        failed,
        unknown,
        checks: vec![
            uniqueness(history.ops, &ok),
            real_time_order(history.ops, &ok, history.cross_node_skew_ns),
            accounting(history, ok.len() as u64, unknown),
            range(history, &ok),
        ],
    }
}

fn indices_where(ops: &[Observation], outcome: Outcome) -> Vec<u32> {
    ops.iter()
        .enumerate()
        .filter(|(_, o)| o.outcome == outcome)
        .map(|(i, _)| i as u32)
        .collect()
}

/// Names an operation in a counter-example.
fn describe(ops: &[Observation], i: u32) -> String {
    let o = &ops[i as usize];
    let node = if o.node > 0 {
        format!("node {} ", o.node)
    } else {
        String::new()
    };
    format!(
        "{node}req #{i} [{:.3} s – {:.3} s]",
        o.start_ns as f64 / 1e9,
        o.end_ns as f64 / 1e9
    )
}

fn result(check: CheckName, violations: u64, detail: String, examples: Vec<String>) -> CheckResult {
    CheckResult {
        check,
        status: if violations == 0 {
            Status::Pass
        } else {
            Status::Fail
        },
        detail,
        violations,
        examples,
    }
}

fn uniqueness(ops: &[Observation], ok: &[u32]) -> CheckResult {
    let mut by_count: Vec<(u64, u32)> = ok.iter().map(|&i| (ops[i as usize].count, i)).collect();
    by_count.sort_unstable();
    let mut duplicated_counts = 0u64;
    let mut extra_ops = 0u64;
    let mut examples = Vec::new();
    let mut i = 0;
    while i < by_count.len() {
        let mut j = i + 1;
        while j < by_count.len() && by_count[j].0 == by_count[i].0 {
            j += 1;
        }
        if j - i > 1 {
            duplicated_counts += 1;
            extra_ops += (j - i - 1) as u64;
            if examples.len() < MAX_EXAMPLES {
                let who: Vec<String> = by_count[i..j]
                    .iter()
                    .take(4)
                    .map(|&(_, k)| describe(ops, k))
                    .collect();
                let times = match j - i {
                    2 => "twice".to_owned(),
                    n => format!("{n} times"),
                };
                examples.push(format!(
                    "count {} returned {times}: {}",
                    by_count[i].0,
                    who.join(" and ")
                ));
            }
        }
        i = j;
    }
    let detail = if duplicated_counts == 0 {
        format!("{} ok responses, all counts distinct", ok.len())
    } else {
        format!("{duplicated_counts} counts returned more than once ({extra_ops} lost updates)")
    };
    result(CheckName::Uniqueness, duplicated_counts, detail, examples)
}

/// Operations B that have an operation A which ended before B started yet
/// returned a count ≥ B's. A sweep over B in start order keeps the largest
/// count among operations that ended before B started.
fn real_time_order(ops: &[Observation], ok: &[u32], skew_ns: u64) -> CheckResult {
    let mut flagged = vec![false; ok.len()];
    let mut examples = Vec::new();
    let multi_node = ok
        .iter()
        .any(|&i| ops[i as usize].node != ops[ok[0] as usize].node);
    // Operations of one node share a clock: compare them exactly. Across
    // nodes, only with the skew allowance.
    if multi_node {
        let mut nodes: Vec<u16> = ok.iter().map(|&i| ops[i as usize].node).collect();
        nodes.sort_unstable();
        nodes.dedup();
        for node in nodes {
            let members: Vec<usize> = (0..ok.len())
                .filter(|&k| ops[ok[k] as usize].node == node)
                .collect();
            sweep(ops, ok, &members, 0, &mut flagged, &mut examples);
        }
        let all: Vec<usize> = (0..ok.len()).collect();
        sweep(ops, ok, &all, skew_ns, &mut flagged, &mut examples);
    } else {
        let all: Vec<usize> = (0..ok.len()).collect();
        sweep(ops, ok, &all, 0, &mut flagged, &mut examples);
    }
    let violations = flagged.iter().filter(|&&f| f).count() as u64;
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
    result(CheckName::RealTimeOrder, violations, detail, examples)
}

/// `members` index into `ok`; flags B when some A with
/// `A.end + skew < B.start` has `A.count >= B.count`.
fn sweep(
    ops: &[Observation],
    ok: &[u32],
    members: &[usize],
    skew_ns: u64,
    flagged: &mut [bool],
    examples: &mut Vec<String>,
) {
    let op = |k: usize| &ops[ok[k] as usize];
    let mut by_start: Vec<usize> = members.to_vec();
    by_start.sort_unstable_by_key(|&k| op(k).start_ns);
    let mut by_end: Vec<usize> = members.to_vec();
    by_end.sort_unstable_by_key(|&k| op(k).end_ns);
    let mut best: Option<usize> = None; // largest count among those ended
    let mut e = 0;
    for &b in &by_start {
        let b_start = op(b).start_ns;
        while e < by_end.len() && op(by_end[e]).end_ns.saturating_add(skew_ns) < b_start {
            let a = by_end[e];
            if best.is_none_or(|x| op(a).count > op(x).count) {
                best = Some(a);
            }
            e += 1;
        }
        if let Some(a) = best
            && op(a).count >= op(b).count
            && !flagged[b]
        {
            flagged[b] = true;
            if examples.len() < MAX_EXAMPLES {
                examples.push(format!(
                    "{} returned {} after {} had already returned {}",
                    describe(ops, ok[b]),
                    op(b).count,
                    describe(ops, ok[a]),
                    op(a).count
                ));
            }
        }
    }
}

fn accounting(history: &History<'_>, ok: u64, unknown: u64) -> CheckResult {
    if history.outside_traffic {
        return CheckResult {
            check: CheckName::Accounting,
            status: Status::Skipped,
            detail: "skipped: others write to this counter too (outside traffic, or other nodes: `loadtest merge` checks their runs together)".into(),
            violations: 0,
            examples: vec![],
        };
    }
    let (initial, fin) = (history.initial, history.final_count);
    let Some(delta) = fin.checked_sub(initial) else {
        return result(
            CheckName::Accounting,
            1,
            format!("the counter went backwards: {initial} before, {fin} after"),
            vec![],
        );
    };
    let range = format!(
        "final − initial = {fin} − {initial} = {delta}; ok = {ok}, unknown = {unknown}, so expected {ok}..={}",
        ok + unknown
    );
    if delta < ok {
        result(
            CheckName::Accounting,
            ok - delta,
            format!("{range}: {} lost updates", ok - delta),
            vec![],
        )
    } else if delta > ok + unknown {
        result(
            CheckName::Accounting,
            delta - ok - unknown,
            format!(
                "{range}: {} phantom increments (a write counted twice, or a writer outside the test)",
                delta - ok - unknown
            ),
            vec![],
        )
    } else {
        result(CheckName::Accounting, 0, range, vec![])
    }
}

fn range(history: &History<'_>, ok: &[u32]) -> CheckResult {
    let (lo, hi) = (history.initial, history.final_count);
    let mut violations = 0u64;
    let mut examples = Vec::new();
    for &i in ok {
        let c = history.ops[i as usize].count;
        if c <= lo || c > hi {
            violations += 1;
            if examples.len() < MAX_EXAMPLES {
                examples.push(format!(
                    "{} returned {c}, outside ({lo}, {hi}]",
                    describe(history.ops, i)
                ));
            }
        }
    }
    let detail = if violations == 0 {
        format!("every ok count lies in ({lo}, {hi}]")
    } else {
        format!("{violations} ok counts lie outside ({lo}, {hi}]")
    };
    result(CheckName::Range, violations, detail, examples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op(start: u64, end: u64, count: u64) -> Observation {
        Observation::ok(start, end, count)
    }

    fn with(o: Observation, outcome: Outcome) -> Observation {
        Observation {
            outcome,
            status: if outcome == Outcome::Failed { 400 } else { 503 },
            count: 0,
            ..o
        }
    }

    fn status(v: &Verdict, c: CheckName) -> Status {
        v.get(c).map(|r| r.status).expect("check present")
    }

    #[test]
    fn a_sequential_atomic_history_passes_everything() {
        let ops: Vec<_> = (0..5).map(|i| op(i * 10, i * 10 + 5, 101 + i)).collect();
        let v = check(&History::new(100, 105, &ops));
        assert!(v.passed(), "{v:#?}");
        assert_eq!((v.ok, v.failed, v.unknown), (5, 0, 0));
    }

    #[test]
    fn duplicate_counts_fail_uniqueness_with_a_named_example() {
        let ops = vec![op(0, 10, 1), op(1, 11, 2), op(2, 12, 2)];
        let v = check(&History::new(0, 2, &ops));
        let u = v.get(CheckName::Uniqueness).expect("present");
        assert_eq!(u.status, Status::Fail);
        assert_eq!(u.violations, 1);
        assert!(
            u.examples[0].starts_with("count 2 returned twice: req #1"),
            "{:?}",
            u.examples
        );
        assert!(!v.passed());
    }

    #[test]
    fn a_count_lower_than_an_earlier_completed_one_fails_real_time_order() {
        // #0 ended at 10 with count 2; #1 started at 20 and got 1.
        let ops = vec![op(0, 10, 2), op(20, 30, 1)];
        let v = check(&History::new(0, 2, &ops));
        assert_eq!(status(&v, CheckName::RealTimeOrder), Status::Fail);
        assert_eq!(status(&v, CheckName::Uniqueness), Status::Pass);
        let r = v.get(CheckName::RealTimeOrder).expect("present");
        assert!(r.examples[0].contains("req #1"), "{:?}", r.examples);
        assert!(r.examples[0].contains("after req #0"), "{:?}", r.examples);
    }

    #[test]
    fn overlapping_operations_may_take_counts_in_either_order() {
        let ops = vec![op(0, 30, 2), op(10, 20, 1)];
        assert!(check(&History::new(0, 2, &ops)).passed());
        // Touching ends are not "before": end == start is concurrent.
        let ops = vec![op(0, 10, 2), op(10, 20, 1)];
        assert!(check(&History::new(0, 2, &ops)).passed());
    }

    #[test]
    fn accounting_fails_on_lost_and_on_phantom_increments() {
        let ops = vec![op(0, 10, 1), op(20, 30, 2)];
        let lost = check(&History::new(0, 1, &ops));
        let acc = lost.get(CheckName::Accounting).expect("present");
        assert_eq!((acc.status, acc.violations), (Status::Fail, 1));
        assert!(acc.detail.contains("lost updates"), "{}", acc.detail);
        let phantom = check(&History::new(0, 3, &ops));
        let acc = phantom.get(CheckName::Accounting).expect("present");
        assert_eq!(acc.status, Status::Fail);
        assert!(acc.detail.contains("phantom"), "{}", acc.detail);
        let backwards = check(&History::new(5, 2, &ops));
        assert_eq!(status(&backwards, CheckName::Accounting), Status::Fail);
    }

    #[test]
    fn unknown_outcomes_allow_up_to_that_many_extra_increments() {
        let ops = vec![
            op(0, 10, 1),
            with(op(20, 30, 0), Outcome::Unknown),
            with(op(40, 50, 0), Outcome::Failed),
            op(60, 70, 3),
        ];
        // The unknown one happened (count 2 went to nobody): fine.
        assert!(check(&History::new(0, 3, &ops)).passed());
        // It did not happen, and the returned 3 ... then 3 is out of range.
        let v = check(&History::new(0, 2, &ops));
        assert_eq!(status(&v, CheckName::Range), Status::Fail);
        // A failed (4xx) request must not count: 4 would be a phantom.
        let v = check(&History::new(0, 4, &ops));
        assert_eq!(status(&v, CheckName::Accounting), Status::Fail);
    }

    #[test]
    fn counts_outside_initial_and_final_fail_range() {
        let ops = vec![op(0, 10, 5), op(20, 30, 11)];
        let v = check(&History::new(5, 10, &ops));
        let r = v.get(CheckName::Range).expect("present");
        assert_eq!((r.status, r.violations), (Status::Fail, 2));
    }

    #[test]
    fn outside_traffic_skips_accounting_only() {
        let ops = vec![op(0, 10, 3), op(20, 30, 7)];
        let mut h = History::new(0, 9, &ops);
        h.outside_traffic = true;
        let v = check(&h);
        assert_eq!(status(&v, CheckName::Accounting), Status::Skipped);
        assert!(v.passed());
    }

    #[test]
    fn cross_node_order_uses_the_skew_allowance_but_same_node_does_not() {
        let a = Observation {
            node: 1,
            ..op(0, 10, 2)
        };
        let b = Observation {
            node: 2,
            ..op(15, 25, 1)
        };
        let pair = [a, b];
        let mut h = History::new(0, 2, &pair);
        assert_eq!(status(&check(&h), CheckName::RealTimeOrder), Status::Fail);
        h.cross_node_skew_ns = 10;
        assert!(check(&h).passed(), "5 ns apart is within a 10 ns skew");
        let b_same = Observation { node: 1, ..b };
        let same = [
            a,
            b_same,
            Observation {
                node: 2,
                ..op(100, 110, 3)
            },
        ];
        h.ops = &same;
        h.final_count = 3;
        assert_eq!(
            status(&check(&h), CheckName::RealTimeOrder),
            Status::Fail,
            "one node's own clock is exact"
        );
    }

    /// A history an atomic counter could produce: each operation takes
    /// effect at a random instant inside its interval, and counts follow
    /// the order of those instants. Unknown ones take effect or not.
    fn linearizable(spans: Vec<(u64, u64, u8)>, initial: u64) -> (Vec<Observation>, u64) {
        let mut effects: Vec<(u64, usize)> = Vec::new();
        let mut ops: Vec<Observation> = Vec::new();
        for (i, (start, len, kind)) in spans.into_iter().enumerate() {
            let end = start + len;
            let point = start + (len * u64::from(kind)) / 255;
            let outcome = match kind % 7 {
                0 => Outcome::Failed,
                1 => Outcome::Unknown,
                _ => Outcome::Ok,
            };
            let applied = match outcome {
                Outcome::Ok => true,
                Outcome::Failed => false,
                Outcome::Unknown => kind % 2 == 0,
            };
            if applied {
                effects.push((point, i));
            }
            ops.push(Observation {
                start_ns: start,
                end_ns: end,
                count: 0,
                status: 0,
                node: 0,
                outcome,
            });
        }
        effects.sort_unstable();
        let mut count = initial;
        for (_, i) in &effects {
            count += 1;
            ops[*i].count = count;
        }
        (ops, count)
    }

    fn spans() -> impl Strategy<Value = Vec<(u64, u64, u8)>> {
        prop::collection::vec((0u64..10_000, 1u64..500, any::<u8>()), 1..300)
    }

    proptest! {
        #[test]
        fn every_linearizable_history_passes(spans in spans(), initial in 0u64..1000) {
            let (ops, fin) = linearizable(spans, initial);
            let v = check(&History::new(initial, fin, &ops));
            prop_assert!(v.passed(), "{:#?}", v);
        }

        #[test]
        fn duplicating_any_ok_count_fails_uniqueness(spans in spans(), pick in any::<prop::sample::Index>()) {
            let (mut ops, fin) = linearizable(spans, 0);
            let ok: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].outcome == Outcome::Ok).collect();
            prop_assume!(ok.len() >= 2);
            let a = ok[pick.index(ok.len())];
            let b = ok[(pick.index(ok.len()) + 1) % ok.len()];
            ops[b].count = ops[a].count;
            let v = check(&History::new(0, fin, &ops));
            prop_assert_eq!(status(&v, CheckName::Uniqueness), Status::Fail);
        }

        #[test]
        fn fewer_increments_than_ok_responses_fails(spans in spans(), lost in 1u64..5) {
            let (ops, _) = linearizable(spans, 10);
            let ok = ops.iter().filter(|o| o.outcome == Outcome::Ok).count() as u64;
            prop_assume!(ok >= lost);
            // The counter grew by fewer than the ok responses: lost updates.
            let v = check(&History::new(10, 10 + ok - lost, &ops));
            prop_assert_eq!(status(&v, CheckName::Accounting), Status::Fail);
        }

        #[test]
        fn swapping_counts_of_ordered_operations_fails_real_time_order(spans in spans()) {
            let (mut ops, fin) = linearizable(spans, 0);
            // Find A, B with A.end < B.start, both ok; swap their counts.
            let ok: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].outcome == Outcome::Ok).collect();
            let pair = ok.iter().flat_map(|&a| ok.iter().map(move |&b| (a, b)))
                .find(|&(a, b)| ops[a].end_ns < ops[b].start_ns);
            prop_assume!(pair.is_some());
            let (a, b) = pair.expect("assumed");
            let (ca, cb) = (ops[a].count, ops[b].count);
            ops[a].count = cb;
            ops[b].count = ca;
            let v = check(&History::new(0, fin, &ops));
            prop_assert_eq!(status(&v, CheckName::RealTimeOrder), Status::Fail);
        }
    }
}
