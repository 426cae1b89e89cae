//! The atomicity checker: is a recorded history of increments one that an
//! atomic counter could have produced?
//!
//! Pure: it reads observations and two counter reads, and does no I/O. Five
//! checks, each O(n log n):
//!
//! 1. **uniqueness**: no two ok operations returned the same count (a
//!    duplicate is a lost update);
//! 2. **real-time order**: if A ended before B started, A's count < B's;
//! 3. **accounting**: `final − initial = ok + k` for some `0 ≤ k ≤ unknown`
//!    (below: lost updates; above: phantom increments, e.g. retried writes);
//! 4. **range**: every ok count lies in `(initial, final]`;
//! 5. **completeness**: every count in `(initial, final]` that no ok
//!    response returned is owned by a distinct unknown operation that could
//!    have produced it: one that started before every ok operation that
//!    returned a higher count had ended (see [`completeness`]).
//!
//! # Why the five are enough
//!
//! The model: an ok operation took effect at one instant between its start
//! and its end; a failed one (a definite 4xx) never did; an unknown one
//! (timeout, 5xx, nonsense body) either never did or did at one instant
//! after its start, possibly after its client gave up. The history is
//! *linearizable* when such instants exist at which a counter stepping by
//! one from `initial` hands every ok operation the count it returned and
//! ends at `final`. Each check states something every such history has, so
//! they are necessary. Together they are sufficient. With 1, 4 and 5, every
//! count in `(initial, final]` belongs to exactly one operation: the ok one
//! that returned it, or the unknown one that owns it. Order these operations
//! by count. That order respects real time ("A ended before B started"
//! puts A first): for two ok operations by check 2; for an ok operation that
//! ended before an unknown one started, because check 5 gave the unknown one
//! only counts above the ok one's; an unknown operation never ended, so it
//! precedes nothing. And a total order that respects real time is realised
//! by instants: walk it and put each operation's instant at the latest start
//! seen so far; that is inside the operation's interval, since no operation
//! earlier in the order started after it ended. (Accounting follows from
//! 1, 4 and 5; it stays for its plain message.)
//!
//! Across generator nodes, whose clocks differ, "A ended before B started"
//! means "more than the skew allowance before", in checks 2 and 5 alike: the
//! checker then decides exactly whether some order by count respects that
//! relation. A brute-force linearizability search over small histories
//! (`checker/oracle.rs`, tests only) agrees with it on every one of 100,000
//! random histories per test run.
//!
//! A failed check keeps the operations that prove it, as [`Witness`]es
//! (the report draws them as a timeline).
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

mod completeness;
#[cfg(test)]
mod oracle;
mod real_time;
mod uniqueness;

/// At most this many counter-examples (and witnesses) are kept per check.
pub const MAX_EXAMPLES: usize = 10;

/// A verdict on fewer ok responses than this is inconclusive unless told
/// otherwise (`--min-ok`): a handful of answers says little about atomicity.
pub const DEFAULT_MIN_OK: u64 = 10;

/// What the checker is given.
#[derive(Debug, Clone, Copy)]
pub struct History<'a> {
    /// The count read before the first request.
    pub initial: u64,
    /// The count read after the last request ended.
    pub final_count: u64,
    pub ops: &'a [Observation],
    /// Others may increment this counter too (a real page, or the other
    /// nodes of a multi-node run): accounting and completeness are then
    /// meaningless and skipped.
    pub outside_traffic: bool,
    /// Clock skew allowed between operations of *different* nodes: A must
    /// end more than this before B starts for A to precede B.
    pub cross_node_skew_ns: u64,
    /// Requests that may have been sent but are not in `ops`: a run killed
    /// before it wrote them (in flight, or recorded but not yet on disk).
    /// Nothing is known of them but that they were sent, after the run
    /// began: each is judged as an unknown operation that may have taken
    /// effect at any instant, so it may own any count (accounting and
    /// completeness). At most this many; possibly none.
    pub unrecorded: u64,
}

impl<'a> History<'a> {
    pub fn new(initial: u64, final_count: u64, ops: &'a [Observation]) -> Self {
        Self {
            initial,
            final_count,
            ops,
            outside_traffic: false,
            cross_node_skew_ns: 0,
            unrecorded: 0,
        }
    }

    /// A ended before B started: on one node by its own clock, across
    /// nodes by more than the skew allowance.
    pub fn precedes(&self, a: &Observation, b: &Observation) -> bool {
        let skew = if a.node == b.node {
            0
        } else {
            self.cross_node_skew_ns
        };
        a.end_ns.saturating_add(skew) < b.start_ns
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    Uniqueness,
    RealTimeOrder,
    Accounting,
    Range,
    Completeness,
}

impl CheckName {
    pub fn title(self) -> &'static str {
        match self {
            CheckName::Uniqueness => "uniqueness",
            CheckName::RealTimeOrder => "real-time order",
            CheckName::Accounting => "accounting",
            CheckName::Range => "range",
            CheckName::Completeness => "completeness",
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
    /// The operations behind the first counter-examples, as data.
    #[serde(default)]
    pub witnesses: Vec<Witness>,
}

/// The smallest set of operations that proves one violation: the pair that
/// returned one count, the pair out of real-time order, the operation
/// outside the range, or the count nobody can have taken with the
/// operations that bound it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witness {
    /// The violation in one line (the matching entry of `examples`).
    pub claim: String,
    /// The count at issue: returned twice, out of order, out of range, or
    /// taken by nobody.
    pub count: Option<u64>,
    /// For a count taken by nobody: it had to be taken before this instant
    /// (ns since the run's start), when the first ok operation that returned
    /// a higher count ended.
    pub deadline_ns: Option<u64>,
    pub ops: Vec<WitnessOp>,
}

/// One operation in a [`Witness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessOp {
    /// Its position in the history (`req #index` in the text).
    pub index: u64,
    pub role: Role,
    /// Nanoseconds since the run's start.
    pub start_ns: u64,
    pub end_ns: u64,
    pub outcome: Outcome,
    /// The count it returned (ok operations only).
    pub count: Option<u64>,
    /// HTTP status, 0 when no response came.
    pub status: u16,
    pub node: u16,
}

/// What an operation shows in a [`Witness`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Returned a count another operation returned too.
    Duplicate,
    /// Ended before the `Later` one started...
    EndedFirst,
    /// ...yet returned a count no greater.
    Later,
    /// Returned a count outside `(initial, final]`.
    OutOfRange,
    /// Ok, returned a count above the one nobody took: that count had to be
    /// taken before it ended.
    Bound,
    /// Unknown, and started too late to have taken the count.
    TooLate,
    /// Unknown and early enough, but needed for a lower count nobody was
    /// told of.
    Claimed,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Duplicate => "same count",
            Role::EndedFirst => "ended first",
            Role::Later => "started after, no higher count",
            Role::OutOfRange => "out of range",
            Role::Bound => "higher count: bound",
            Role::TooLate => "started too late",
            Role::Claimed => "needed for a lower count",
        }
    }
}

/// The verdict as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictStatus {
    /// Every check passed on enough evidence.
    Pass,
    /// A check failed.
    Fail,
    /// No check failed, but too few ok responses to say the counter is
    /// atomic: never a pass.
    Inconclusive,
}

impl VerdictStatus {
    pub fn word(self) -> &'static str {
        match self {
            VerdictStatus::Pass => "PASS",
            VerdictStatus::Fail => "FAIL",
            VerdictStatus::Inconclusive => "INCONCLUSIVE",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub status: VerdictStatus,
    /// Why the verdict is inconclusive, when it is.
    pub inconclusive_reason: Option<String>,
    pub initial: u64,
    pub final_count: u64,
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Requests sent but never recorded (a killed run), judged as unknown
    /// operations beside `unknown`: [`History::unrecorded`].
    #[serde(default)]
    pub unrecorded: u64,
    pub checks: Vec<CheckResult>,
}

impl Verdict {
    /// Every check passed (and, after [`Verdict::require_evidence`], on
    /// enough evidence).
    pub fn passed(&self) -> bool {
        self.status == VerdictStatus::Pass
    }

    pub fn get(&self, name: CheckName) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.check == name)
    }

    /// No evidence is no verdict: with fewer than `min_ok` ok responses
    /// (never fewer than one) a verdict that found nothing wrong is
    /// inconclusive. A failed check stays a failure, however few.
    pub fn require_evidence(&mut self, min_ok: u64) {
        let needed = min_ok.max(1);
        if self.status != VerdictStatus::Pass || self.ok >= needed {
            return;
        }
        let requests = self.ok + self.failed + self.unknown;
        self.status = VerdictStatus::Inconclusive;
        self.inconclusive_reason = Some(if self.ok == 0 {
            format!(
                "no ok response among {requests} requests, {} failed and {} unknown: no count to judge",
                self.failed, self.unknown
            )
        } else {
            format!(
                "only {} ok responses among {requests} requests, fewer than the {needed} that --min-ok asks for",
                self.ok
            )
        });
    }
}

/// The ok operations of a history, by index in history order: found by
/// filtering when a check reads them, never stored (a run's history is
/// mostly ok operations, and an index of them would cost 4 bytes each).
#[derive(Debug, Clone, Copy)]
pub(super) struct OkOps<'a> {
    ops: &'a [Observation],
    len: usize,
}

impl<'a> OkOps<'a> {
    pub(super) fn of(ops: &'a [Observation]) -> Self {
        let len = ops.iter().filter(|o| o.outcome == Outcome::Ok).count();
        Self { ops, len }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = u32> + Clone + 'a {
        self.ops
            .iter()
            .enumerate()
            .filter(|(_, o)| o.outcome == Outcome::Ok)
            .map(|(i, _)| i as u32)
    }
}

/// Runs every check.
pub fn check(history: &History<'_>) -> Verdict {
    let ok = OkOps::of(history.ops);
    let failed = history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Failed)
        .count() as u64;
    let unknown = history.ops.len() as u64 - ok.len() as u64 - failed;
    let checks = vec![
        uniqueness::uniqueness(history.ops, ok),
        real_time::real_time_order(history.ops, ok, history.cross_node_skew_ns),
        accounting(history, ok.len() as u64, unknown),
        range(history, ok),
        completeness::completeness(history, ok),
    ];
    let status = if checks.iter().any(|c| c.status == Status::Fail) {
        VerdictStatus::Fail
    } else {
        VerdictStatus::Pass
    };
    Verdict {
        status,
        inconclusive_reason: None,
        initial: history.initial,
        final_count: history.final_count,
        ok: ok.len() as u64,
        failed,
        unknown,
        unrecorded: history.unrecorded,
        checks,
    }
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

/// Operation `i` in the role it plays in a witness.
fn witness_op(ops: &[Observation], i: u32, role: Role) -> WitnessOp {
    let o = &ops[i as usize];
    WitnessOp {
        index: u64::from(i),
        role,
        start_ns: o.start_ns,
        end_ns: o.end_ns,
        outcome: o.outcome,
        count: (o.outcome == Outcome::Ok).then_some(o.count),
        status: o.status,
        node: o.node,
    }
}

fn result(
    check: CheckName,
    violations: u64,
    detail: String,
    examples: Vec<String>,
    witnesses: Vec<Witness>,
) -> CheckResult {
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
        witnesses,
    }
}

fn skipped(check: CheckName, detail: &str) -> CheckResult {
    CheckResult {
        check,
        status: Status::Skipped,
        detail: detail.to_owned(),
        violations: 0,
        examples: vec![],
        witnesses: vec![],
    }
}

fn accounting(history: &History<'_>, ok: u64, unknown: u64) -> CheckResult {
    if history.outside_traffic {
        return skipped(
            CheckName::Accounting,
            "skipped: others write to this counter too (outside traffic, or other nodes: `loadtest merge` checks their runs together)",
        );
    }
    let (initial, fin) = (history.initial, history.final_count);
    let Some(delta) = fin.checked_sub(initial) else {
        return result(
            CheckName::Accounting,
            1,
            format!("the counter went backwards: {initial} before, {fin} after"),
            vec![],
            vec![],
        );
    };
    // Requests never recorded (a killed run) may have counted, as unknown ones.
    let unrecorded = match history.unrecorded {
        0 => String::new(),
        n => format!(" + up to {n} sent but never recorded"),
    };
    let range = format!(
        "final − initial = {fin} − {initial} = {delta}; ok = {ok}, unknown = {unknown}{unrecorded}, so expected {ok}..={}",
        ok + unknown + history.unrecorded
    );
    let unknown = unknown + history.unrecorded;
    if delta < ok {
        result(
            CheckName::Accounting,
            ok - delta,
            format!("{range}: {} lost updates", ok - delta),
            vec![],
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
            vec![],
        )
    } else {
        result(CheckName::Accounting, 0, range, vec![], vec![])
    }
}

fn range(history: &History<'_>, ok: OkOps<'_>) -> CheckResult {
    let (lo, hi) = (history.initial, history.final_count);
    let mut violations = 0u64;
    let mut examples = Vec::new();
    let mut witnesses = Vec::new();
    for i in ok.iter() {
        let c = history.ops[i as usize].count;
        if c <= lo || c > hi {
            violations += 1;
            if examples.len() < MAX_EXAMPLES {
                let claim = format!(
                    "{} returned {c}, outside ({lo}, {hi}]",
                    describe(history.ops, i)
                );
                witnesses.push(Witness {
                    claim: claim.clone(),
                    count: Some(c),
                    deadline_ns: None,
                    ops: vec![witness_op(history.ops, i, Role::OutOfRange)],
                });
                examples.push(claim);
            }
        }
    }
    let detail = if violations == 0 {
        format!("every ok count lies in ({lo}, {hi}]")
    } else {
        format!("{violations} ok counts lie outside ({lo}, {hi}]")
    };
    result(CheckName::Range, violations, detail, examples, witnesses)
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
                late: crate::analysis::observation::Lateness::ZERO,
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

    const MS: u64 = 1_000_000;

    fn unknown(start: u64, end: u64) -> Observation {
        with(op(start, end, 0), Outcome::Unknown)
    }

    fn on(node: u16, o: Observation) -> Observation {
        Observation { node, ..o }
    }

    fn only_completeness_fails(v: &Verdict) -> bool {
        v.checks.iter().all(|c| match c.check {
            CheckName::Completeness => c.status == Status::Fail,
            _ => c.status == Status::Pass,
        })
    }

    /// The case the four older checks all pass: "3" ended at 10 ms, the
    /// only unknown started at 20 ms, so nobody can have taken count 2.
    #[test]
    fn a_count_no_unknown_can_have_taken_fails_completeness_naming_it_and_its_bounds() {
        let ops = vec![
            op(0, 5 * MS, 1),
            op(MS, 10 * MS, 3),
            unknown(20 * MS, 30 * MS),
        ];
        let v = check(&History::new(0, 3, &ops));
        assert!(only_completeness_fails(&v), "{v:#?}");
        assert_eq!(v.status, VerdictStatus::Fail);
        let c = v.get(CheckName::Completeness).expect("present");
        assert_eq!(c.violations, 1);
        let e = &c.examples[0];
        assert!(e.starts_with("count 2: "), "{e}");
        assert!(e.contains("req #1 [0.001 s – 0.010 s] returned 3"), "{e}");
        assert!(
            e.contains("req #2 [0.020 s – 0.030 s] started too late"),
            "{e}"
        );
        let w = &c.witnesses[0];
        assert_eq!((w.count, w.deadline_ns), (Some(2), Some(10 * MS)));
        let roles: Vec<(u64, Role)> = w.ops.iter().map(|o| (o.index, o.role)).collect();
        assert_eq!(roles, vec![(1, Role::Bound), (2, Role::TooLate)]);
        assert_eq!(w.ops[0].count, Some(3));
        assert_eq!(w.ops[1].outcome, Outcome::Unknown);
    }

    #[test]
    fn an_unknown_that_started_before_the_bound_ended_owns_the_missing_count() {
        for start in [0, 5 * MS, 10 * MS] {
            let ops = vec![
                op(0, 5 * MS, 1),
                op(MS, 10 * MS, 3),
                unknown(start, 30 * MS),
            ];
            assert!(
                check(&History::new(0, 3, &ops)).passed(),
                "an unknown starting at {start} ns may have taken 2 (at 10 ms: concurrent)"
            );
        }
        let ops = vec![
            op(0, 5 * MS, 1),
            op(MS, 10 * MS, 3),
            unknown(10 * MS + 1, 30 * MS),
        ];
        let v = check(&History::new(0, 3, &ops));
        assert!(
            only_completeness_fails(&v),
            "1 ns after the end is after it"
        );
    }

    #[test]
    fn one_unknown_cannot_own_two_missing_counts() {
        let ops = vec![op(0, 10, 1), unknown(0, 5), op(20, 30, 4)];
        let v = check(&History::new(0, 4, &ops));
        let c = v.get(CheckName::Completeness).expect("present");
        assert_eq!((c.status, c.violations), (Status::Fail, 1));
        let w = &c.witnesses[0];
        assert_eq!(w.count, Some(3), "the greedy owner takes 2, 3 is left");
        assert!(
            w.ops
                .iter()
                .any(|o| o.index == 1 && o.role == Role::Claimed)
        );
        assert!(
            c.examples[0].contains("needed for a lower count"),
            "{:?}",
            c.examples
        );
        // A second unknown, early enough, owns 3.
        let ops = vec![op(0, 10, 1), unknown(0, 5), op(20, 30, 4), unknown(25, 26)];
        assert!(check(&History::new(0, 4, &ops)).passed());
    }

    #[test]
    fn unknowns_take_the_counts_above_what_had_completed_before_they_started() {
        // 2 must precede 4 (ended at 30); the late unknown can only own 5.
        let ops = vec![
            unknown(0, 1),
            op(10, 20, 1),
            op(20, 30, 4),
            unknown(40, 50),
            op(60, 70, 6),
            unknown(65, 70),
        ];
        let v = check(&History::new(0, 6, &ops));
        assert!(only_completeness_fails(&v), "{v:#?}");
        let c = v.get(CheckName::Completeness).expect("present");
        assert_eq!(c.violations, 1);
        assert!(c.examples[0].starts_with("count 3: "), "{:?}", c.examples);
        // Counts 2..=3 missing and no unknown at all: one run, named once.
        let ops = vec![op(0, 10, 1), op(20, 30, 4)];
        let c = check(&History::new(0, 4, &ops));
        let c = c.get(CheckName::Completeness).expect("present");
        assert_eq!(c.violations, 2);
        assert!(
            c.examples[0].starts_with("counts 2..=3 (2 counts)"),
            "{:?}",
            c.examples
        );
        assert!(
            c.examples[0].contains("there are no unknown operations"),
            "{:?}",
            c.examples
        );
    }

    #[test]
    fn across_nodes_completeness_allows_the_skew_and_one_node_is_exact() {
        // Node 1 returned 1, then 3 ending at 10 ms; node 2's unknown began at 15 ms.
        let ops = vec![
            on(1, op(0, 5 * MS, 1)),
            on(1, op(MS, 10 * MS, 3)),
            on(2, unknown(15 * MS, 40 * MS)),
        ];
        let mut h = History::new(0, 3, &ops);
        assert!(
            only_completeness_fails(&check(&h)),
            "no skew: 15 ms is after 10 ms"
        );
        h.cross_node_skew_ns = 10 * MS;
        assert!(check(&h).passed(), "5 ms apart is within a 10 ms skew");
        // On node 1 itself the same unknown is too late, whatever the skew.
        let same = [ops[0], ops[1], on(1, ops[2])];
        h.ops = &same;
        let v = check(&h);
        assert!(only_completeness_fails(&v), "{v:#?}");
        // Node 2's own earlier op bounds it exactly, though node 1's bound
        // is within the skew: the witness names both.
        let mixed = [
            on(1, op(0, 5 * MS, 1)),
            on(1, op(MS, 10 * MS, 4)),
            on(2, op(MS, 12 * MS, 3)),
            on(2, unknown(13 * MS, 40 * MS)),
        ];
        h.ops = &mixed;
        h.final_count = 4;
        let v = check(&h);
        assert!(only_completeness_fails(&v), "{v:#?}");
        let w = &v.get(CheckName::Completeness).expect("present").witnesses[0];
        let roles: Vec<(u64, Role)> = w.ops.iter().map(|o| (o.index, o.role)).collect();
        assert_eq!(
            roles,
            vec![(1, Role::Bound), (3, Role::TooLate), (2, Role::Bound)]
        );
    }

    #[test]
    fn a_final_count_far_beyond_the_requests_fails_completeness_without_a_bitmap() {
        let ops = vec![op(0, 10, 1), unknown(0, 10)];
        let v = check(&History::new(0, 1 << 40, &ops));
        let c = v.get(CheckName::Completeness).expect("present");
        assert_eq!(c.violations, (1 << 40) - 2, "every missing count but one");
        assert!(c.examples[0].starts_with("counts 3..="), "{:?}", c.examples);
        let v = check(&History::new(
            u64::MAX - 2,
            u64::MAX,
            &[op(0, 10, u64::MAX)],
        ));
        let c = v.get(CheckName::Completeness).expect("present");
        assert_eq!(c.violations, 1, "{c:?}");
    }

    #[test]
    fn outside_traffic_skips_completeness_and_says_why() {
        let ops = vec![op(0, 10, 3), op(20, 30, 7)];
        let mut h = History::new(0, 9, &ops);
        h.outside_traffic = true;
        let v = check(&h);
        let c = v.get(CheckName::Completeness).expect("present");
        assert_eq!(c.status, Status::Skipped);
        assert!(
            c.detail.contains("others write to this counter"),
            "{}",
            c.detail
        );
        h.outside_traffic = false;
        assert_eq!(status(&check(&h), CheckName::Completeness), Status::Fail);
    }

    #[test]
    fn each_failed_check_keeps_the_operations_that_prove_it() {
        let ops = vec![op(0, 10, 2), op(20, 30, 1), op(40, 50, 2), op(60, 70, 9)];
        let v = check(&History::new(0, 3, &ops));
        let roles = |c: CheckName| -> Vec<(u64, Role)> {
            let r = v.get(c).expect("present");
            r.witnesses[0]
                .ops
                .iter()
                .map(|o| (o.index, o.role))
                .collect()
        };
        assert_eq!(
            roles(CheckName::Uniqueness),
            vec![(0, Role::Duplicate), (2, Role::Duplicate)]
        );
        assert_eq!(
            roles(CheckName::RealTimeOrder)[..2],
            [(0, Role::EndedFirst), (1, Role::Later)]
        );
        assert_eq!(roles(CheckName::Range), vec![(3, Role::OutOfRange)]);
        for c in &v.checks {
            assert_eq!(c.witnesses.len().min(c.examples.len()), c.witnesses.len());
            for (w, e) in c.witnesses.iter().zip(&c.examples) {
                assert_eq!(&w.claim, e);
            }
        }
    }

    #[test]
    fn no_ok_response_or_too_few_is_inconclusive_never_a_pass() {
        let ops = vec![unknown(0, 10), unknown(5, 15)];
        let mut v = check(&History::new(0, 0, &ops));
        assert!(v.passed(), "the checks themselves find nothing wrong");
        v.require_evidence(10);
        assert_eq!(v.status, VerdictStatus::Inconclusive);
        assert!(!v.passed());
        let why = v.inconclusive_reason.clone().expect("a reason");
        assert!(why.contains("no ok response among 2 requests"), "{why}");

        let ops: Vec<_> = (0..3).map(|i| op(i * 10, i * 10 + 5, i + 1)).collect();
        let mut v = check(&History::new(0, 3, &ops));
        v.require_evidence(10);
        assert_eq!(v.status, VerdictStatus::Inconclusive);
        assert!(
            v.inconclusive_reason
                .expect("a reason")
                .contains("only 3 ok responses")
        );
        let mut v = check(&History::new(0, 3, &ops));
        v.require_evidence(3);
        assert!(v.passed(), "3 ok responses meet --min-ok 3");
        let mut v = check(&History::new(0, 0, &[]));
        v.require_evidence(0);
        assert_eq!(
            v.status,
            VerdictStatus::Inconclusive,
            "never a pass on nothing"
        );
    }

    #[test]
    fn a_failure_stays_a_failure_however_few_the_ok_responses() {
        let ops = vec![op(0, 10, 1), op(5, 15, 1)];
        let mut v = check(&History::new(0, 1, &ops));
        v.require_evidence(10);
        assert_eq!(v.status, VerdictStatus::Fail);
        assert!(v.inconclusive_reason.is_none());
    }

    #[test]
    fn the_verdict_serialises_its_status_and_witnesses() {
        let ops = vec![
            op(0, 5 * MS, 1),
            op(MS, 10 * MS, 3),
            unknown(20 * MS, 30 * MS),
        ];
        let v = check(&History::new(0, 3, &ops));
        let json = serde_json::to_value(&v).expect("serialises");
        assert_eq!(json["status"], "fail");
        assert_eq!(json["inconclusive_reason"], serde_json::Value::Null);
        let c = &json["checks"][4];
        assert_eq!(c["check"], "completeness");
        assert_eq!(c["witnesses"][0]["count"], 2);
        assert_eq!(c["witnesses"][0]["ops"][1]["role"], "too_late");
        assert_eq!(c["witnesses"][0]["ops"][1]["outcome"], "Unknown");
        let back: Verdict = serde_json::from_value(json).expect("parses back");
        assert_eq!(back.status, VerdictStatus::Fail);
    }

    /// A killed run: count 5 went to a request whose record never reached
    /// the disk. Judged as an unknown that may have taken any count, one
    /// such request explains one missing count, and no more; it never
    /// explains a lost update.
    #[test]
    fn requests_never_recorded_own_missing_counts_one_each() {
        let ops: Vec<Observation> = (1..=10u64)
            .filter(|&c| c != 5)
            .map(|c| op(c * 10, c * 10 + 5, c))
            .collect();
        let alone = check(&History::new(0, 10, &ops));
        assert_eq!(status(&alone, CheckName::Completeness), Status::Fail);
        assert_eq!(status(&alone, CheckName::Accounting), Status::Fail);
        let killed = check(&History {
            unrecorded: 1,
            ..History::new(0, 10, &ops)
        });
        assert!(killed.passed(), "{killed:#?}");
        assert_eq!(killed.unrecorded, 1);
        let accounting = killed.get(CheckName::Accounting).expect("present");
        assert!(
            accounting
                .detail
                .contains("up to 1 sent but never recorded"),
            "{}",
            accounting.detail
        );
        let two_missing = check(&History {
            unrecorded: 1,
            ..History::new(0, 11, &ops)
        });
        assert_eq!(status(&two_missing, CheckName::Completeness), Status::Fail);
        let lost = check(&History {
            unrecorded: 100,
            ..History::new(0, 8, &ops)
        });
        assert_eq!(
            status(&lost, CheckName::Accounting),
            Status::Fail,
            "9 ok, 8 counted"
        );
    }

    proptest! {
        /// In any order, on two nodes with a skew, even with operations
        /// that end before they start (a corrupt file): exactly the
        /// operations a pairwise search flags.
        #[test]
        fn real_time_order_flags_exactly_what_a_pairwise_search_flags(
            raw in prop::collection::vec((0u64..40, 0u64..40, 1u64..12, 1u16..=2), 1..40),
            skew in 0u64..4,
        ) {
            let ops: Vec<Observation> = raw
                .iter()
                .map(|&(start, end, count, node)| on(node, op(start, end, count)))
                .collect();
            let h = History { cross_node_skew_ns: skew, ..History::new(0, 12, &ops) };
            let pairwise = (0..ops.len())
                .filter(|&b| {
                    (0..ops.len()).any(|a| h.precedes(&ops[a], &ops[b]) && ops[a].count >= ops[b].count)
                })
                .count() as u64;
            let v = check(&h);
            prop_assert_eq!(v.get(CheckName::RealTimeOrder).expect("present").violations, pairwise);
        }
    }
}
