//! Where concurrent users put their observations while a run goes.
//!
//! One vector, its room reserved when the run starts for every request the
//! run may make (at most `--max-requests`, and no more than `--max-memory`
//! allows). Reserving is address space only: a page is backed when the
//! first record lands on it, so a short run costs what it records. The
//! vector never grows (no doubling, no copy of the history while the run
//! goes) and is sorted in place at the end: a run's records cost their 32
//! bytes each and nothing more. Its one lock is held for a push.

use std::collections::TryReserveError;
use std::sync::Mutex;

use crate::analysis::observation::Observation;

/// Bytes one observation takes in memory.
pub const RECORD_BYTES_IN_MEMORY: u64 = std::mem::size_of::<Observation>() as u64;

/// Every observation of the run, in arrival order until sorted.
#[derive(Debug)]
pub struct Recorder {
    records: Mutex<Vec<Observation>>,
}

impl Recorder {
    /// Room for `capacity` observations, reserved now.
    pub fn with_capacity(capacity: u64) -> Result<Self, TryReserveError> {
        let mut records = Vec::new();
        records.try_reserve_exact(usize::try_from(capacity).unwrap_or(usize::MAX))?;
        Ok(Self {
            records: Mutex::new(records),
        })
    }

    pub fn record(&self, op: Observation) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(op);
    }

    /// Every observation, ordered by start time (then end time).
    pub fn into_sorted(self) -> Vec<Observation> {
        let mut all = self.records.into_inner().unwrap_or_else(|e| e.into_inner());
        all.sort_unstable_by_key(|o| (o.start_ns, o.end_ns));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_collects_every_users_observations_in_start_order() {
        let r = Recorder::with_capacity(10).expect("room");
        std::thread::scope(|s| {
            for user in 0..10u64 {
                let r = &r;
                s.spawn(move || r.record(Observation::ok(100 - user, 200, user)));
            }
        });
        let all = r.into_sorted();
        assert_eq!(all.len(), 10);
        assert!(all.windows(2).all(|w| w[0].start_ns <= w[1].start_ns));
    }

    #[test]
    fn the_room_is_reserved_once_and_never_regrown() {
        let r = Recorder::with_capacity(1000).expect("room");
        let before = r.records.lock().expect("lock").as_ptr();
        for i in 0..1000 {
            r.record(Observation::ok(i, i + 1, i));
        }
        let records = r.records.lock().expect("lock");
        assert_eq!(records.as_ptr(), before, "no reallocation, no copy");
        assert_eq!(records.capacity(), 1000);
    }

    #[test]
    fn an_impossible_reservation_is_an_error_not_an_abort() {
        assert!(Recorder::with_capacity(u64::MAX / 2).is_err());
    }
}
