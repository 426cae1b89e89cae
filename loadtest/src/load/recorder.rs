//! Where concurrent users put their observations while a run goes.
//!
//! One vector, its room reserved when the run starts for every request the
//! run may make (at most `--max-requests`, and no more than `--max-memory`
//! allows). Reserving is address space only: a page is backed when the
//! first record lands on it, so a short run costs what it records. The
//! vector never grows (no doubling, no copy of the history while the run
//! goes) and is sorted in place at the end: a run's records cost their 32
//! bytes each and nothing more. Its one lock is held for a push.
//!
//! A writer off the request path ([`super::stream`]) copies the records to
//! `observations.bin` in blocks as they arrive, a block at a time under the
//! lock. How far it has got bounds what a kill can lose: once streaming
//! starts, a user that would leave more than [`MAX_UNWRITTEN`] records
//! waiting for the disk waits for the writer first (it never does while
//! the writer keeps up, which it does with room to spare: the benchmark
//! never waits). So at any instant at most `MAX_UNWRITTEN` recorded
//! requests are missing from the file, and at most one more per user is
//! in flight or waiting: what a killed run's judge allows for.

use std::collections::TryReserveError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::analysis::observation::Observation;

/// Bytes one observation takes in memory.
pub const RECORD_BYTES_IN_MEMORY: u64 = std::mem::size_of::<Observation>() as u64;

/// At most this many records wait in memory for the disk (256 KiB of
/// them): some 75 ms of the fastest generator measured here (110,000
/// requests/s), while the writer writes every 10 ms.
pub const MAX_UNWRITTEN: u64 = 8192;

#[derive(Debug)]
struct Records {
    all: Vec<Observation>,
    /// `all[..on_disk]` is in the file (as the writer last said).
    on_disk: usize,
    /// A user waits rather than leave more than this unwritten
    /// (`usize::MAX`: nothing is streamed, nobody waits).
    max_unwritten: usize,
}

/// Every observation of the run, in arrival order until sorted.
#[derive(Debug)]
pub struct Recorder {
    records: Mutex<Records>,
    /// Signalled when records reach the disk (or streaming stops).
    written: Condvar,
    /// Times a user waited for the disk.
    waits: AtomicU64,
}

impl Recorder {
    /// Room for `capacity` observations, reserved now.
    pub fn with_capacity(capacity: u64) -> Result<Self, TryReserveError> {
        let mut all = Vec::new();
        all.try_reserve_exact(usize::try_from(capacity).unwrap_or(usize::MAX))?;
        Ok(Self {
            records: Mutex::new(Records {
                all,
                on_disk: 0,
                max_unwritten: usize::MAX,
            }),
            written: Condvar::new(),
            waits: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn record(&self, op: Observation) {
        let mut r = self.lock();
        if r.all.len() - r.on_disk >= r.max_unwritten {
            r = self.wait_for_disk(r);
        }
        r.all.push(op);
    }

    /// The writer is behind: wait until it has made room.
    #[cold]
    fn wait_for_disk<'a>(&self, r: MutexGuard<'a, Records>) -> MutexGuard<'a, Records> {
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.written
            .wait_while(r, |r| r.all.len() - r.on_disk >= r.max_unwritten)
            .unwrap_or_else(|e| e.into_inner())
    }

    /// From now on at most `max` records wait for the disk (a writer is
    /// streaming them).
    pub fn stream(&self, max: u64) {
        self.lock().max_unwritten = usize::try_from(max).unwrap_or(usize::MAX);
    }

    /// Streaming is over (done, or the disk failed): nobody waits any more.
    pub fn stop_streaming(&self) {
        self.lock().max_unwritten = usize::MAX;
        self.written.notify_all();
    }

    /// The writer's step: records up to `on_disk` are in the file now;
    /// copies the next ones (at most `max`) into `block`, emptied first.
    /// Returns how many.
    pub fn next_block(&self, on_disk: usize, block: &mut Vec<Observation>, max: usize) -> usize {
        block.clear();
        let mut r = self.lock();
        if on_disk > r.on_disk {
            r.on_disk = on_disk;
            self.written.notify_all();
        }
        let end = r.all.len().min(on_disk.saturating_add(max));
        block.extend_from_slice(r.all.get(on_disk..end).unwrap_or_default());
        block.len()
    }

    /// Times a user waited for the disk.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// Every observation, ordered by start time (then end time).
    pub fn into_sorted(self) -> Vec<Observation> {
        let mut all = self
            .records
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .all;
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
        let before = r.lock().all.as_ptr();
        for i in 0..1000 {
            r.record(Observation::ok(i, i + 1, i));
        }
        let records = r.lock();
        assert_eq!(records.all.as_ptr(), before, "no reallocation, no copy");
        assert_eq!(records.all.capacity(), 1000);
    }

    #[test]
    fn an_impossible_reservation_is_an_error_not_an_abort() {
        assert!(Recorder::with_capacity(u64::MAX / 2).is_err());
    }

    #[test]
    fn the_writer_gets_every_record_once_in_blocks_in_arrival_order() {
        let r = Recorder::with_capacity(100).expect("room");
        for i in 0..10 {
            r.record(Observation::ok(i, i + 1, i));
        }
        let mut block = Vec::new();
        assert_eq!(r.next_block(0, &mut block, 4), 4);
        assert_eq!(block[0].count, 0);
        assert_eq!(r.next_block(4, &mut block, 100), 6);
        assert_eq!(block[5].count, 9);
        assert_eq!(r.next_block(10, &mut block, 100), 0, "nothing new");
        r.record(Observation::ok(10, 11, 10));
        assert_eq!(r.next_block(10, &mut block, 100), 1);
    }

    /// While the writer is behind by the limit, a user waits, and its
    /// record is not in memory yet; once the writer says the records are
    /// on disk, it goes on.
    #[test]
    fn a_user_waits_rather_than_leave_more_than_the_limit_unwritten() {
        let r = Recorder::with_capacity(100).expect("room");
        r.stream(3);
        for i in 0..3 {
            r.record(Observation::ok(i, i + 1, i));
        }
        std::thread::scope(|s| {
            let user = s.spawn(|| r.record(Observation::ok(3, 4, 3)));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while r.waits() == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the user never waited"
                );
                std::thread::yield_now();
            }
            assert_eq!(r.lock().all.len(), 3, "the fourth record waits outside");
            let mut block = Vec::new();
            assert_eq!(r.next_block(0, &mut block, 100), 3);
            assert_eq!(r.next_block(3, &mut block, 100), 0, "3 on disk now");
            user.join().expect("the user went on");
        });
        assert_eq!(r.lock().all.len(), 4);
        r.stop_streaming();
        for i in 4..20 {
            r.record(Observation::ok(i, i + 1, i));
        }
        assert_eq!(r.into_sorted().len(), 20, "after streaming, nobody waits");
    }
}
