//! `observations.bin`, written as the run goes: a thread of its own
//! appends the records the users put in the [`Recorder`], in blocks,
//! every [`TICK`] (the header first, before the load begins). Each block
//! is one `write` to the file, so the kernel holds it the moment the call
//! returns: a run that is killed (SIGKILL, the OOM killer, a CI job's
//! timeout) leaves every record but the last few milliseconds' on disk,
//! and at most [`MAX_UNWRITTEN`] of them missing (the recorder makes a
//! user wait rather than leave more: see [`super::recorder`]).
//!
//! Nothing here is on the request path: the users only push into the
//! recorder, as before; the writer takes each block under the recorder's
//! lock (a copy of at most [`BLOCK`] records) and encodes and writes it
//! outside it. The file holds the records in the order they were
//! recorded (about the order the requests ended); readers sort them.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use super::recorder::{MAX_UNWRITTEN, Recorder};
use super::users::RunState;
use crate::analysis::observation::{self, Observation};
use crate::analysis::run_start::RunStart;
use crate::analysis::summary::files;

/// How often the writer appends what arrived.
pub const TICK: Duration = Duration::from_millis(10);
/// Records copied out under the recorder's lock at a time (128 KiB).
const BLOCK: usize = 4096;

/// What a run writes as its load begins, so that a kill leaves a record
/// to judge: `run.json`, then `observations.bin` (its header now, its
/// records as they come).
pub fn begin(
    dir: &Path,
    state: &Arc<RunState>,
    start: &RunStart,
) -> anyhow::Result<ObservationStream> {
    let path = dir.join(files::RUN_START);
    std::fs::write(&path, serde_json::to_string_pretty(start)?)
        .with_context(|| format!("writing {}", path.display()))?;
    ObservationStream::start(
        state.clone(),
        |s| &s.recorder,
        &dir.join(files::OBSERVATIONS),
    )
}

/// How the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Streamed {
    /// Every record is in the file.
    Complete { records: u64 },
    /// Writing failed (the disk is full...): the file stops short, and
    /// the run's end must write it whole from memory.
    Failed(String),
}

/// The writer thread; [`ObservationStream::finish`] (or drop) writes the
/// last records and stops it.
pub struct ObservationStream {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Streamed>>,
}

impl ObservationStream {
    /// Creates `path` with the header and starts appending the records of
    /// `recorder(&owner)` to it.
    pub fn start<T: Send + Sync + 'static>(
        owner: Arc<T>,
        recorder: fn(&T) -> &Recorder,
        path: &Path,
    ) -> anyhow::Result<Self> {
        let mut file =
            File::create(path).with_context(|| format!("creating {}", path.display()))?;
        file.write_all(&observation::header())
            .with_context(|| format!("writing {}", path.display()))?;
        recorder(&owner).stream(MAX_UNWRITTEN);
        let (stop, stopped) = mpsc::channel();
        let kept = owner.clone();
        let thread = std::thread::Builder::new()
            .name("observations".into())
            .spawn(move || {
                let rec = recorder(&owner);
                let end = write_blocks(rec, file, &stopped);
                rec.stop_streaming();
                if rec.waits() > 0 {
                    tracing::warn!(
                        "users waited {} times for observations.bin to be written (a slow disk): their next requests went out late",
                        rec.waits()
                    );
                }
                end
            });
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                recorder(&kept).stop_streaming();
                return Err(e).context("starting the observations writer");
            }
        };
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Writes the records not yet written and stops (call it once no user
    /// records any more).
    pub fn finish(mut self) -> Streamed {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Streamed {
        drop(self.stop.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(end)) => end,
            Some(Err(_)) => {
                let why = "the observations writer panicked; they are written whole at the end";
                tracing::warn!("{why}");
                Streamed::Failed(why.into())
            }
            None => Streamed::Failed("already stopped".into()),
        }
    }
}

impl Drop for ObservationStream {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop_and_join();
        }
    }
}

/// Until told to stop: every tick, whatever arrived since the last, in
/// blocks; then the rest.
fn write_blocks(rec: &Recorder, mut file: File, stop: &mpsc::Receiver<()>) -> Streamed {
    let mut block: Vec<Observation> = Vec::with_capacity(BLOCK);
    let mut bytes: Vec<u8> = Vec::with_capacity(BLOCK * observation::RECORD_BYTES);
    let mut on_disk = 0usize;
    loop {
        let stopping = match stop.recv_timeout(TICK) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        };
        while rec.next_block(on_disk, &mut block, BLOCK) > 0 {
            bytes.clear();
            observation::encode_into(&mut bytes, &block);
            if let Err(e) = file.write_all(&bytes) {
                let why = format!(
                    "writing observations.bin after {on_disk} records: {e}; the rest is written at the end"
                );
                tracing::warn!("{why}");
                return Streamed::Failed(why);
            }
            on_disk += block.len();
        }
        if stopping {
            // Not needed against a kill (the kernel has the blocks), only
            // against the machine going down before it writes them back.
            if let Err(e) = file.sync_data() {
                tracing::warn!("syncing observations.bin: {e}");
            }
            return Streamed::Complete {
                records: on_disk as u64,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::observation::read_recovered;

    #[test]
    fn every_record_reaches_the_file_while_the_run_goes_and_at_its_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("observations.bin");
        let rec = Arc::new(Recorder::with_capacity(20_000).expect("room"));
        let stream = ObservationStream::start(rec.clone(), |r| r, &path).expect("started");
        for i in 0..10_000 {
            rec.record(Observation::ok(i, i + 1, i));
        }
        // Written within a few ticks, with the run still going.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let on_disk = read_recovered(&std::fs::read(&path).expect("file")[..])
                .expect("reads")
                .ops
                .len();
            if on_disk == 10_000 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{on_disk} on disk");
            std::thread::sleep(TICK);
        }
        for i in 10_000..12_345 {
            rec.record(Observation::ok(i, i + 1, i));
        }
        assert_eq!(stream.finish(), Streamed::Complete { records: 12_345 });
        let file = read_recovered(&std::fs::read(&path).expect("file")[..]).expect("reads");
        assert_eq!(file.torn_bytes, 0);
        let Ok(rec) = Arc::try_unwrap(rec) else {
            panic!("the writer let the recorder go");
        };
        assert_eq!(file.ops, rec.into_sorted(), "the same records, in order");
    }

    #[test]
    fn a_file_that_cannot_be_created_is_an_error_and_nobody_waits() {
        let rec = Arc::new(Recorder::with_capacity(10).expect("room"));
        let nowhere = Path::new("/nonexistent-dir/observations.bin");
        assert!(ObservationStream::start(rec.clone(), |r| r, nowhere).is_err());
        for i in 0..10 {
            rec.record(Observation::ok(i, i + 1, i));
        }
    }
}
