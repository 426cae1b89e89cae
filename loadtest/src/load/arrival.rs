//! The open workload model (`--arrival-rate`, `--rate-steps`): iterations
//! start on a schedule of their own, whatever the stage answers, served by
//! a fixed pool of goose users.
//!
//! Slots are pulled, not pushed: a user that is free takes the next slot
//! nobody has taken and sleeps until it is due. So a slot still untaken
//! when its time has passed is one no user was free for: it is **dropped**
//! (counted, never sent late). The core, [`Arrivals`], is pure arithmetic
//! on offsets from the schedule's origin; [`ArrivalQueue`] puts it on the
//! clock for the users.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::analysis::stats::StepWindow;

/// A slot whose time passed less than this ago is still started (late: its
/// latency counts from the slot); older untaken slots are dropped. Covers
/// a user's own scheduling delay between its answer and its next claim.
pub const LATE_GRACE: Duration = Duration::from_millis(5);

/// Between the first claim and the first slot: every user of the pool is
/// started (goose starts them within milliseconds) before the clock runs.
pub const LEAD: Duration = Duration::from_millis(100);

/// One constant rate held for a while (offsets in seconds from the origin).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSegment {
    pub rate: f64,
    pub from_s: f64,
    pub to_s: f64,
}

impl RateSegment {
    /// Slots in the segment: `from + k/rate` for every k that falls before `to`.
    fn slots(&self) -> u64 {
        self.slots_before(self.to_s)
    }

    /// Slot `k`'s time, from the origin.
    fn at(&self, k: u64) -> Duration {
        Duration::from_secs_f64(self.from_s + k as f64 / self.rate)
    }

    /// The first slot due at or after `t` (`slots()` if none is), found
    /// by arithmetic, not by walking the slots: the estimate
    /// ceil((t − from)·rate) is then moved to agree exactly with `at`
    /// (at most a step or two, for rounding).
    fn first_at_or_after(&self, t: Duration) -> u64 {
        let n = self.slots();
        // `as` saturates: a negative estimate is 0.
        let mut k = (((t.as_secs_f64() - self.from_s) * self.rate).ceil() as u64).min(n);
        while k > 0 && self.at(k - 1) >= t {
            k -= 1;
        }
        while k < n && self.at(k) < t {
            k += 1;
        }
        k
    }

    /// Slots of the segment due before `t` (none of another segment's).
    fn slots_before(&self, t: f64) -> u64 {
        // k/rate < t − from for k < (t − from)·rate; the ε keeps a product
        // such as 0.1 × 20 = 2.0000000000000004 from counting a slot at t.
        let n = (t.min(self.to_s) - self.from_s) * self.rate;
        (n - 1e-9).ceil().max(0.0) as u64
    }
}

/// `--arrival-rate R` for `secs` seconds: one segment.
pub fn constant_rate(rate: f64, secs: f64) -> Vec<RateSegment> {
    vec![RateSegment {
        rate,
        from_s: 0.0,
        to_s: secs,
    }]
}

/// `--rate-steps`: a warm-up at the first rate (unmeasured), then each
/// rate for `hold_secs`, and the windows in which the steps are measured
/// (whole holds: an open model needs no ramp). `users` is the pool.
pub fn rate_steps(
    rates: &[f64],
    hold_secs: u64,
    warmup_secs: u64,
    users: usize,
) -> (Vec<RateSegment>, Vec<StepWindow>) {
    let mut segments = Vec::new();
    let mut windows = Vec::new();
    let mut t = 0.0;
    if let (Some(&first), true) = (rates.first(), warmup_secs > 0) {
        t = warmup_secs as f64;
        segments.push(RateSegment {
            rate: first,
            from_s: 0.0,
            to_s: t,
        });
    }
    for &rate in rates {
        let to = t + hold_secs as f64;
        segments.push(RateSegment {
            rate,
            from_s: t,
            to_s: to,
        });
        windows.push(StepWindow {
            users,
            from_s: t,
            to_s: to,
            rate: Some(rate),
        });
        t = to;
    }
    (segments, windows)
}

/// What a claim gives a free user.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Claim {
    /// The slot's time, from the origin: the user starts then, and its
    /// latency counts from it.
    pub at: Duration,
    /// Slots skipped on the way because they were past `LATE_GRACE`.
    pub dropped: u64,
}

/// The schedule and its bookkeeping: which slot is next, what was dropped.
#[derive(Debug, Clone)]
pub struct Arrivals {
    segments: Vec<RateSegment>,
    /// The next untaken slot: its segment and its index in it.
    segment: usize,
    index: u64,
    dropped_by_segment: Vec<u64>,
}

impl Arrivals {
    pub fn new(segments: Vec<RateSegment>) -> Self {
        let n = segments.len();
        let mut a = Self {
            segments,
            segment: 0,
            index: 0,
            dropped_by_segment: vec![0; n],
        };
        a.skip_empty();
        a
    }

    /// The next untaken slot's offset, if the schedule has one left.
    fn next(&self) -> Option<Duration> {
        let s = self.segments.get(self.segment)?;
        Some(s.at(self.index))
    }

    /// Moves past finished (or empty) segments.
    fn skip_empty(&mut self) {
        while let Some(s) = self.segments.get(self.segment) {
            if self.index < s.slots() {
                return;
            }
            self.segment += 1;
            self.index = 0;
        }
    }

    /// Drops every untaken slot due before `t`: the next untaken slot
    /// becomes the first due at or after it. Arithmetic per segment, so
    /// a call costs the same however many slots it drops. Returns how many.
    fn drop_before(&mut self, t: Duration) -> u64 {
        let mut dropped = 0;
        while let Some(s) = self.segments.get(self.segment) {
            let n = s.slots();
            let first = s.first_at_or_after(t).max(self.index);
            let skipped = first - self.index;
            self.dropped_by_segment[self.segment] += skipped;
            dropped += skipped;
            self.index = first;
            if first < n {
                break;
            }
            self.segment += 1;
            self.index = 0;
        }
        dropped
    }

    /// Takes the next untaken slot, if the schedule has one left.
    fn take(&mut self) -> Option<Duration> {
        let at = self.next()?;
        self.index += 1;
        self.skip_empty();
        Some(at)
    }

    /// A free user at `now` (from the origin) takes the next slot: every
    /// untaken slot more than `LATE_GRACE` in the past is dropped first.
    /// `None` once the schedule is over.
    pub fn claim(&mut self, now: Duration) -> Option<Claim> {
        let dropped = self.drop_before(now.saturating_sub(LATE_GRACE));
        let at = self.take()?;
        Some(Claim { at, dropped })
    }

    /// At the end of the run: every slot due before `until` that no user
    /// took was dropped. Returns how many.
    pub fn settle(&mut self, until: Duration) -> u64 {
        self.drop_before(until)
    }

    /// Slots the whole schedule offers.
    pub fn offered(&self) -> u64 {
        self.segments.iter().map(RateSegment::slots).sum()
    }

    /// Slots due before `until` (from the origin).
    pub fn due_before(&self, until: Duration) -> u64 {
        let t = until.as_secs_f64();
        self.segments.iter().map(|s| s.slots_before(t)).sum()
    }

    pub fn dropped_by_segment(&self) -> &[u64] {
        &self.dropped_by_segment
    }

    /// Where the schedule ends, from the origin.
    pub fn end(&self) -> Duration {
        Duration::from_secs_f64(self.segments.iter().map(|s| s.to_s).fold(0.0, f64::max))
    }
}

/// The rate offered `t` seconds from the origin (none outside the schedule).
pub fn rate_at(segments: &[RateSegment], t: f64) -> Option<f64> {
    segments
        .iter()
        .find(|s| t >= s.from_s && t < s.to_s)
        .map(|s| s.rate)
}

/// The schedule on the clock, shared by the users: the origin is set by
/// the first claim, `LEAD` ahead of it. Closed when the run stops: no
/// slot is handed out after that, and a user waiting for one is released.
pub struct ArrivalQueue {
    arrivals: Mutex<Arrivals>,
    origin: OnceLock<Instant>,
    /// When the run stopped (`close`).
    stopped_at: OnceLock<Instant>,
    closed: Notify,
}

impl ArrivalQueue {
    pub fn new(segments: Vec<RateSegment>) -> Self {
        Self {
            arrivals: Mutex::new(Arrivals::new(segments)),
            origin: OnceLock::new(),
            stopped_at: OnceLock::new(),
            closed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arrivals> {
        self.arrivals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A free user's next slot, as an instant; drops counted into
    /// `dropped`. `None` once the schedule is over or the queue closed.
    pub fn claim(&self, dropped: &AtomicU64) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let now = Instant::now();
        let origin = *self.origin.get_or_init(|| now + LEAD);
        let mut a = self.lock();
        let n = a.drop_before(
            now.saturating_duration_since(origin)
                .saturating_sub(LATE_GRACE),
        );
        let at = a.take();
        drop(a);
        if n > 0 {
            dropped.fetch_add(n, Ordering::Relaxed);
        }
        Some(origin + at?)
    }

    /// Sleeps until `slot`, or until the queue is closed, whichever comes
    /// first. True when the slot is due and the run still going: only
    /// then may its request be sent.
    pub async fn wait_until(&self, slot: Instant) -> bool {
        let closed = self.closed.notified();
        tokio::pin!(closed);
        // Registered before the check, so a `close` between the two still
        // wakes this wait.
        closed.as_mut().enable();
        if self.is_closed() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep_until(slot.into()) => !self.is_closed(),
            () = closed => false,
        }
    }

    /// The run stops (any reason): records the instant (the first call's)
    /// and releases every user waiting for a slot. Their slots are neither
    /// sent nor dropped.
    pub fn close(&self) {
        if self.stopped_at.set(Instant::now()).is_ok() {
            self.closed.notify_waiters();
        }
    }

    pub fn is_closed(&self) -> bool {
        self.stopped_at.get().is_some()
    }

    /// Drops every slot already past its grace that no user took (the rule
    /// `claim` applies), so the live count of drops does not wait for a
    /// user to come back. Nothing once closed: users no longer take slots.
    pub fn drop_overdue(&self, dropped: &AtomicU64) {
        let Some(origin) = self.origin() else {
            return;
        };
        if self.is_closed() {
            return;
        }
        let now = Instant::now().saturating_duration_since(origin);
        let n = self.lock().settle(now.saturating_sub(LATE_GRACE));
        if n > 0 {
            dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// When the schedule began, if a user ever claimed.
    pub fn origin(&self) -> Option<Instant> {
        self.origin.get().copied()
    }

    /// After the load: how far the schedule got (from the origin: its end,
    /// or the stop if the run stopped before it; now if never closed) and
    /// the core's figures. Slots due by then that no user took within
    /// `LATE_GRACE` before the stop are dropped (counted into `dropped`);
    /// calling it again changes nothing.
    pub fn finish(&self, dropped: &AtomicU64) -> (Duration, Arrivals) {
        let mut a = self.lock();
        let Some(origin) = self.origin() else {
            return (Duration::ZERO, a.clone());
        };
        let stop = self
            .stopped_at
            .get()
            .copied()
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(origin);
        let until = stop.min(a.end());
        let n = a.settle(stop.saturating_sub(LATE_GRACE).min(until));
        dropped.fetch_add(n, Ordering::Relaxed);
        (until, a.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn slot_k_is_intended_at_start_plus_k_over_r() {
        let mut a = Arrivals::new(constant_rate(100.0, 1.0));
        assert_eq!(a.offered(), 100);
        // Users free before the start take the slots in turn, 10 ms apart.
        for k in 0..100u64 {
            let c = a.claim(Duration::ZERO).expect("a slot");
            assert_eq!(
                c,
                Claim {
                    at: ms(10 * k),
                    dropped: 0
                }
            );
        }
        assert_eq!(a.claim(Duration::ZERO), None, "the schedule is over");
    }

    #[test]
    fn a_slot_nobody_was_free_for_is_dropped_not_sent_late() {
        let mut a = Arrivals::new(constant_rate(100.0, 1.0));
        assert_eq!(a.claim(ms(0)).map(|c| c.at), Some(ms(0)));
        // The one user comes back at 53 ms: slots 10..40 are past the
        // grace (dropped), 50 is 3 ms late (started, late).
        let c = a.claim(ms(53)).expect("a slot");
        assert_eq!(
            c,
            Claim {
                at: ms(50),
                dropped: 4
            }
        );
        // Exactly at the grace's edge the slot is still started.
        assert_eq!(
            a.claim(ms(65)).map(|c| (c.at, c.dropped)),
            Some((ms(60), 0))
        );
        assert_eq!(a.dropped_by_segment(), &[4]);
    }

    #[test]
    fn settling_drops_what_was_due_and_untaken_and_nothing_after_the_end() {
        let mut a = Arrivals::new(constant_rate(10.0, 1.0));
        a.claim(ms(0));
        assert_eq!(a.settle(ms(450)), 4, "slots at 100..400");
        assert_eq!(a.due_before(ms(450)), 5, "0..400");
        assert_eq!(a.settle(ms(5000)), 5, "500..900; none past the end");
        assert_eq!(a.due_before(ms(5000)), a.offered());
        assert_eq!(a.claim(ms(0)), None);
        assert_eq!(a.dropped_by_segment(), &[9]);
    }

    #[test]
    fn rate_steps_warm_up_then_hold_each_rate_and_count_drops_per_step() {
        let (segments, windows) = rate_steps(&[10.0, 20.0], 2, 1, 64);
        assert_eq!(
            segments
                .iter()
                .map(|s| (s.rate, s.from_s, s.to_s))
                .collect::<Vec<_>>(),
            vec![(10.0, 0.0, 1.0), (10.0, 1.0, 3.0), (20.0, 3.0, 5.0)]
        );
        assert_eq!(windows.len(), 2);
        assert_eq!((windows[1].from_s, windows[1].rate), (3.0, Some(20.0)));
        assert_eq!(windows[1].users, 64);
        let mut a = Arrivals::new(segments.clone());
        assert_eq!(a.offered(), 10 + 20 + 40);
        // The first slot of the second step, at 3 s, is the 31st.
        for _ in 0..30 {
            a.claim(Duration::ZERO);
        }
        assert_eq!(a.claim(Duration::ZERO).map(|c| c.at), Some(ms(3000)));
        // Back at 4 s: 3.05 .. 3.95 s are dropped in the second step.
        assert_eq!(a.claim(ms(4000)).map(|c| c.dropped), Some(19));
        assert_eq!(a.dropped_by_segment(), &[0, 0, 19]);
        assert_eq!(a.end(), ms(5000));
        assert_eq!(
            a.due_before(ms(3100)),
            10 + 20 + 2,
            "3.00 and 3.05 of the second step"
        );
        assert_eq!(rate_at(&segments, 3.5), Some(20.0));
        assert_eq!(rate_at(&segments, 5.0), None);
        let (none, _) = rate_steps(&[10.0], 2, 0, 1);
        assert_eq!(none.len(), 1, "no warm-up segment");
    }

    #[test]
    fn rates_that_do_not_divide_the_time_still_offer_their_share() {
        // 3/s for 1 s: slots at 0, 1/3, 2/3.
        let mut a = Arrivals::new(constant_rate(3.0, 1.0));
        assert_eq!(a.offered(), 3);
        let at: Vec<_> = (0..3)
            .filter_map(|_| a.claim(Duration::ZERO))
            .map(|c| c.at.as_millis())
            .collect();
        assert_eq!(at, vec![0, 333, 666]);
        assert_eq!(a.claim(Duration::ZERO), None);
    }

    /// The rule `drop_before` computes, by walking the slots one by one
    /// (the implementation before it): the reference it must equal.
    fn walk_before(a: &mut Arrivals, t: Duration) -> u64 {
        let mut dropped = 0;
        while let Some(at) = a.next() {
            if at >= t {
                break;
            }
            a.dropped_by_segment[a.segment] += 1;
            dropped += 1;
            a.index += 1;
            a.skip_empty();
        }
        dropped
    }

    fn state(a: &Arrivals) -> (usize, u64, Vec<u64>) {
        (a.segment, a.index, a.dropped_by_segment.clone())
    }

    proptest::proptest! {
        #[test]
        fn dropping_by_arithmetic_equals_walking_the_slots(
            // Rates that do and do not divide a second, a warm-up and
            // steps as `rate_steps` makes them, and an empty segment.
            rates in proptest::collection::vec(
                proptest::sample::select(vec![0.1, 1.0, 3.0, 7.3, 10.0, 33.3, 100.0, 999.0, 2000.0]),
                1..4,
            ),
            secs in proptest::collection::vec(0u64..6, 1..4),
            // Times: in ms and µs, or exactly a slot's time (a nanosecond
            // either side, too); taken or settled.
            ops in proptest::collection::vec(
                (0u64..20_000, 0u64..1000, 0u8..5, proptest::bool::ANY),
                1..40,
            ),
        ) {
            let mut segments = Vec::new();
            let mut t = 0.0;
            for (i, rate) in rates.iter().enumerate() {
                let to = t + secs[i % secs.len()] as f64;
                segments.push(RateSegment { rate: *rate, from_s: t, to_s: to });
                t = to;
            }
            let mut fast = Arrivals::new(segments);
            let mut walk = fast.clone();
            for (ms, us, mode, take) in ops {
                let s = fast.segments[ms as usize % fast.segments.len()];
                let slot = s.at(us % (s.slots() + 1));
                let now = match mode {
                    0 | 1 => Duration::from_millis(ms) + Duration::from_micros(us),
                    2 => slot,
                    3 => slot + Duration::from_nanos(1),
                    _ => slot.saturating_sub(Duration::from_nanos(1)),
                };
                // Claims see the grace subtracted: make their edges exact too.
                let now = if take && mode >= 2 { now + LATE_GRACE } else { now };
                if take {
                    let c = fast.claim(now);
                    let n = walk_before(&mut walk, now.saturating_sub(LATE_GRACE));
                    let at = walk.take();
                    proptest::prop_assert_eq!(c, at.map(|at| Claim { at, dropped: n }));
                } else {
                    proptest::prop_assert_eq!(fast.settle(now), walk_before(&mut walk, now));
                }
                proptest::prop_assert_eq!(state(&fast), state(&walk));
            }
        }
    }

    #[test]
    fn dropping_a_million_slots_costs_one_step_not_a_million() {
        // 10M/s with a slot exactly at the time asked: the first slot at
        // or after 100 ms is the 1,000,000th, whatever the rounding.
        let mut a = Arrivals::new(constant_rate(10_000_000.0, 1.0));
        assert_eq!(a.settle(ms(100)), 1_000_000);
        assert_eq!(a.claim(ms(100) + LATE_GRACE).map(|c| c.dropped), Some(0));
        let mut walk = Arrivals::new(constant_rate(10_000_000.0, 1.0));
        assert_eq!(walk_before(&mut walk, ms(100)), 1_000_000);
    }

    #[test]
    fn a_closed_queue_hands_out_no_slot() {
        let q = ArrivalQueue::new(constant_rate(100.0, 10.0));
        let dropped = AtomicU64::new(0);
        assert!(q.claim(&dropped).is_some());
        q.close();
        assert_eq!(q.claim(&dropped), None);
        q.drop_overdue(&dropped);
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn closing_releases_a_user_waiting_for_its_slot_and_it_is_not_sent() {
        // One slot every 100 s: the second is far off.
        let q = Arc::new(ArrivalQueue::new(constant_rate(0.01, 1000.0)));
        let dropped = AtomicU64::new(0);
        let first = q.claim(&dropped).expect("slot 0");
        let second = q.claim(&dropped).expect("slot 1");
        assert!(second >= first + Duration::from_secs(99));
        let waiting = tokio::spawn({
            let q = q.clone();
            async move { q.wait_until(second).await }
        });
        // Let the user start waiting (if it has not, it sees the close
        // when it does: either way its slot must not be sent).
        tokio::task::yield_now().await;
        q.close();
        let sent = tokio::time::timeout(Duration::from_secs(60), waiting)
            .await
            .expect("the close released the wait, long before the slot")
            .expect("the wait did not panic");
        assert!(!sent, "a slot whose wait was cut short is not sent");
        assert!(!q.wait_until(Instant::now()).await, "nor one due now");
    }

    #[test]
    fn a_stopped_run_offered_only_what_fell_due_before_the_stop() {
        let q = ArrivalQueue::new(constant_rate(10.0, 1000.0));
        let dropped = AtomicU64::new(0);
        q.claim(&dropped).expect("slot 0");
        q.close();
        let (until, a) = q.finish(&dropped);
        assert!(
            until < a.end() / 2,
            "until {until:?}: the stop, not the end"
        );
        // The slots a user held are neither sent nor dropped: just slot 0.
        assert!(a.due_before(until) <= 1 + dropped.load(Ordering::Relaxed));
        assert_eq!(a.offered(), 10_000);
        let again = q.finish(&dropped);
        assert_eq!(again.0, until, "the stop was recorded once");
    }

    #[test]
    fn a_schedule_that_ran_out_is_settled_to_its_end() {
        let q = ArrivalQueue::new(constant_rate(1000.0, 0.0));
        let dropped = AtomicU64::new(0);
        assert_eq!(q.claim(&dropped), None, "an empty schedule");
        let (until, a) = q.finish(&dropped);
        assert_eq!((until, a.offered()), (Duration::ZERO, 0));
    }
}
