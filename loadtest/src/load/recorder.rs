//! Where concurrent users put their observations while a run goes.

use std::sync::Mutex;

use crate::analysis::observation::Observation;

/// Where concurrent users put their observations: one lock per shard, a
/// user always writing to its own shard, so the locks are uncontended.
#[derive(Debug)]
pub struct Recorder {
    shards: Vec<Mutex<Vec<Observation>>>,
}

impl Recorder {
    pub fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::new(Vec::new())).collect(),
        }
    }

    pub fn record(&self, user: usize, op: Observation) {
        let shard = &self.shards[user % self.shards.len()];
        shard.lock().unwrap_or_else(|e| e.into_inner()).push(op);
    }

    /// Every observation, ordered by start time.
    pub fn into_sorted(self) -> Vec<Observation> {
        let mut all: Vec<Observation> = self
            .shards
            .into_iter()
            .flat_map(|s| s.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect();
        all.sort_unstable_by_key(|o| (o.start_ns, o.end_ns));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_collects_every_users_observations_in_start_order() {
        let r = Recorder::new(4);
        for user in 0..10u64 {
            r.record(user as usize, Observation::ok(100 - user, 200, user));
        }
        let all = r.into_sorted();
        assert_eq!(all.len(), 10);
        assert!(all.windows(2).all(|w| w[0].start_ns <= w[1].start_ns));
    }
}
