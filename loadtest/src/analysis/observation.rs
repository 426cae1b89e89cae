//! One observation per request: when it was sent and ended, how late it
//! was sent after its intended time, and what came back. 32 bytes each in
//! memory and on disk (after an 8-byte header).
//!
//! Two start times, because two questions need different ones. The
//! checker needs the instant the request left: an increment took effect
//! between sending and answering, and an earlier "start" would widen the
//! interval and let a history pass that no atomic counter produces. The
//! latency of a paced or open run counts from the intended time, as wrk2's
//! and k6's do, or the report hides the queueing the schedule saw. So
//! `start_ns` is the send time and `late` how long after its slot the
//! request was sent (zero in a closed run).

use std::io::{self, Read, Write};

/// What a request proved about the counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Outcome {
    /// 200 with a count: the increment happened and returned that count.
    Ok = 0,
    /// A definite 4xx: the increment did not happen.
    Failed = 1,
    /// Timeout, reset, 5xx, or a body that made no sense: the increment may
    /// or may not have happened.
    Unknown = 2,
}

impl Outcome {
    fn from_u8(b: u8) -> io::Result<Self> {
        match b {
            0 => Ok(Outcome::Ok),
            1 => Ok(Outcome::Failed),
            2 => Ok(Outcome::Unknown),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad outcome byte",
            )),
        }
    }
}

/// One request. Times are nanoseconds since the run's start (per node: a
/// merged history shifts each node by its wall-clock start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// When the request was sent.
    pub start_ns: u64,
    pub end_ns: u64,
    /// The returned count (meaningful only for [`Outcome::Ok`]).
    pub count: u64,
    /// HTTP status, 0 when no response came.
    pub status: u16,
    /// Which generator node made it (0 for a single-node run).
    pub node: u16,
    pub outcome: Outcome,
    /// How long after its intended time (`--user-rate`'s or the open
    /// model's slot) the request was sent.
    pub late: Lateness,
}

const _: () = assert!(std::mem::size_of::<Observation>() <= 32);

/// A delay in three bytes: exact to the microsecond below 2²³ µs (8.4 s),
/// to the millisecond above, up to 2²³ ms (2.3 hours; longer saturates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lateness([u8; 3]);

impl Lateness {
    pub const ZERO: Lateness = Lateness([0; 3]);
    const COARSE: u32 = 1 << 23;

    pub fn from_ns(ns: u64) -> Self {
        let us = ns / 1_000;
        let v = if us < u64::from(Self::COARSE) {
            us as u32
        } else {
            Self::COARSE | (ns / 1_000_000).min(u64::from(Self::COARSE - 1)) as u32
        };
        let [a, b, c, _] = v.to_le_bytes();
        Lateness([a, b, c])
    }

    pub fn ns(self) -> u64 {
        let [a, b, c] = self.0;
        let v = u32::from_le_bytes([a, b, c, 0]);
        if v & Self::COARSE == 0 {
            u64::from(v) * 1_000
        } else {
            u64::from(v & !Self::COARSE) * 1_000_000
        }
    }
}

/// Bytes of one observation on disk (the current format).
pub const RECORD_BYTES: usize = 32;
/// The first format: no lateness, 29 bytes a record, no header.
const RECORD_BYTES_V1: usize = 29;
/// What a file of the current format starts with.
const MAGIC: [u8; 8] = *b"LTOBS\x02\0\0";

impl Observation {
    pub fn ok(start_ns: u64, end_ns: u64, count: u64) -> Self {
        Self {
            start_ns,
            end_ns,
            count,
            status: 200,
            node: 0,
            outcome: Outcome::Ok,
            late: Lateness::ZERO,
        }
    }

    /// When the request was meant to be sent: its slot in a paced or open
    /// run, else when it was sent.
    pub fn intended_start_ns(&self) -> u64 {
        self.start_ns.saturating_sub(self.late.ns())
    }

    /// From the intended start to the end (the latency a report gives).
    pub fn latency_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.intended_start_ns())
    }

    fn encode(&self, out: &mut [u8; RECORD_BYTES]) {
        out[0..8].copy_from_slice(&self.start_ns.to_le_bytes());
        out[8..16].copy_from_slice(&self.end_ns.to_le_bytes());
        out[16..24].copy_from_slice(&self.count.to_le_bytes());
        out[24..26].copy_from_slice(&self.status.to_le_bytes());
        out[26..28].copy_from_slice(&self.node.to_le_bytes());
        out[28] = self.outcome as u8;
        out[29..32].copy_from_slice(&self.late.0);
    }

    /// A record of either format: the first 29 bytes are the same.
    fn decode(b: &[u8]) -> io::Result<Self> {
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Ok(Self {
            start_ns: u64_at(0),
            end_ns: u64_at(8),
            count: u64_at(16),
            status: u16::from_le_bytes([b[24], b[25]]),
            node: u16::from_le_bytes([b[26], b[27]]),
            outcome: Outcome::from_u8(b[28])?,
            late: match b.get(29..32) {
                Some(&[x, y, z]) => Lateness([x, y, z]),
                _ => Lateness::ZERO,
            },
        })
    }
}

/// Writes observations: a header, then fixed 32-byte little-endian records.
pub fn write_all(mut w: impl Write, ops: &[Observation]) -> io::Result<()> {
    w.write_all(&MAGIC)?;
    let mut buf = [0u8; RECORD_BYTES];
    for op in ops {
        op.encode(&mut buf);
        w.write_all(&buf)?;
    }
    w.flush()
}

/// The header a streamed file starts with (written before any record).
pub fn header() -> [u8; 8] {
    MAGIC
}

/// Appends the records of `ops` to `out` (no header): a streamed block.
pub fn encode_into(out: &mut Vec<u8>, ops: &[Observation]) {
    let mut buf = [0u8; RECORD_BYTES];
    out.reserve(ops.len() * RECORD_BYTES);
    for op in ops {
        op.encode(&mut buf);
        out.extend_from_slice(&buf);
    }
}

/// What a file of a run that may have been killed holds: its whole
/// records, and the bytes after the last whole one (a record cut short by
/// a kill in the middle of a write), which are not judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub ops: Vec<Observation>,
    pub torn_bytes: u64,
}

/// Reads a file as a killed run left it: the current format's header,
/// then every whole record; a last record cut short, or a header cut short
/// (the run was killed before its first block), is not an error. A file
/// of the first format (no header) has no tolerance: it was written whole
/// at the end of a run. A bad outcome byte is still refused.
pub fn read_recovered(mut r: impl Read) -> io::Result<Recovered> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    if bytes.len() < MAGIC.len() && MAGIC.starts_with(&bytes) {
        return Ok(Recovered {
            ops: Vec::new(),
            torn_bytes: bytes.len() as u64,
        });
    }
    let Some(records) = bytes.strip_prefix(&MAGIC[..]) else {
        return read_all(&bytes[..]).map(|ops| Recovered { ops, torn_bytes: 0 });
    };
    let chunks = records.chunks_exact(RECORD_BYTES);
    let torn_bytes = chunks.remainder().len() as u64;
    let ops = chunks.map(Observation::decode).collect::<io::Result<_>>()?;
    Ok(Recovered { ops, torn_bytes })
}

/// Reads a file of either format (the first had no header and no
/// lateness: its requests were all sent when they started).
pub fn read_all(mut r: impl Read) -> io::Result<Vec<Observation>> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    let (records, size) = match bytes.strip_prefix(&MAGIC[..]) {
        Some(rest) => (rest, RECORD_BYTES),
        None => (&bytes[..], RECORD_BYTES_V1),
    };
    if records.len() % size != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "observation file is not a whole number of records",
        ));
    }
    records
        .chunks_exact(size)
        .map(Observation::decode)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_bytes() {
        let ops = vec![
            Observation::ok(1, 2, 3),
            Observation {
                start_ns: u64::MAX - 1,
                end_ns: u64::MAX,
                count: 0,
                status: 503,
                node: 7,
                outcome: Outcome::Unknown,
                late: Lateness::from_ns(12_345_000),
            },
        ];
        let mut bytes = Vec::new();
        write_all(&mut bytes, &ops).expect("write");
        assert_eq!(bytes.len(), MAGIC.len() + 2 * RECORD_BYTES);
        assert_eq!(read_all(&bytes[..]).expect("read"), ops);
        assert!(
            read_all(&bytes[..MAGIC.len() + RECORD_BYTES + 1]).is_err(),
            "a torn file is refused"
        );
        bytes[MAGIC.len() + 28] = 9;
        assert!(
            read_all(&bytes[..]).is_err(),
            "a bad outcome byte is refused"
        );
    }

    #[test]
    fn a_killed_runs_file_reads_up_to_its_last_whole_record() {
        let ops: Vec<Observation> = (1..=3).map(|i| Observation::ok(i, i + 1, i)).collect();
        let mut bytes = header().to_vec();
        encode_into(&mut bytes, &ops);
        assert_eq!(
            read_recovered(&bytes[..]).expect("whole"),
            Recovered {
                ops: ops.clone(),
                torn_bytes: 0
            }
        );
        for cut in 1..RECORD_BYTES {
            let torn = &bytes[..bytes.len() - cut];
            let r = read_recovered(torn).expect("a torn last record is tolerated");
            assert_eq!(r.ops, ops[..2], "cut {cut}");
            assert_eq!(r.torn_bytes, (RECORD_BYTES - cut) as u64);
            assert!(
                read_all(torn).is_err(),
                "the strict reader still refuses it"
            );
        }
        for cut in 0..MAGIC.len() {
            let r = read_recovered(&bytes[..cut]).expect("killed writing the header");
            assert_eq!((r.ops.len(), r.torn_bytes), (0, cut as u64));
        }
        let header_only = read_recovered(&bytes[..MAGIC.len()]).expect("before the first block");
        assert_eq!((header_only.ops.len(), header_only.torn_bytes), (0, 0));
        let mut bad = bytes.clone();
        bad[MAGIC.len() + 28] = 7;
        assert!(
            read_recovered(&bad[..]).is_err(),
            "garbage is not a torn record"
        );
        assert!(read_recovered(&b"not observations"[..]).is_err());
    }

    #[test]
    fn a_file_of_the_first_format_reads_with_no_lateness() {
        let op = Observation::ok(5, 9, 3);
        let mut v1 = Vec::new();
        v1.extend_from_slice(&5u64.to_le_bytes());
        v1.extend_from_slice(&9u64.to_le_bytes());
        v1.extend_from_slice(&3u64.to_le_bytes());
        v1.extend_from_slice(&200u16.to_le_bytes());
        v1.extend_from_slice(&0u16.to_le_bytes());
        v1.push(0);
        assert_eq!(v1.len(), RECORD_BYTES_V1);
        assert_eq!(read_all(&v1[..]).expect("read"), vec![op]);
    }

    #[test]
    fn lateness_is_exact_to_the_microsecond_then_the_millisecond_then_saturates() {
        for ns in [0, 999, 1_000, 4_321_000, 8_388_607_000] {
            assert_eq!(Lateness::from_ns(ns).ns(), ns / 1_000 * 1_000, "{ns}");
        }
        for ns in [8_388_608_000u64, 60_000_000_000, 3_600_123_456_789] {
            assert_eq!(
                Lateness::from_ns(ns).ns(),
                ns / 1_000_000 * 1_000_000,
                "{ns}"
            );
        }
        let most = Lateness::from_ns(u64::MAX).ns();
        assert_eq!(
            most,
            ((1u64 << 23) - 1) * 1_000_000,
            "saturates at 2.3 hours"
        );
    }

    #[test]
    fn latency_counts_from_the_intended_time_and_the_send_time_stays_exact() {
        let op = Observation {
            late: Lateness::from_ns(40_000_000),
            ..Observation::ok(100_000_000, 150_000_000, 1)
        };
        assert_eq!(op.start_ns, 100_000_000, "sent then");
        assert_eq!(op.intended_start_ns(), 60_000_000);
        assert_eq!(op.latency_ns(), 90_000_000, "50 ms answering + 40 ms late");
    }

    /// Request A ends at 10 ms with count 2; B's slot was 8 ms, but it went
    /// out at 12 ms and returned 1: A preceded B, so the history is wrong.
    /// Judged from B's slot the two would overlap and pass.
    #[test]
    fn the_checker_judges_a_late_request_from_when_it_was_sent() {
        use crate::analysis::checker::{History, check};
        const MS: u64 = 1_000_000;
        let a = Observation::ok(0, 10 * MS, 2);
        let b = Observation {
            late: Lateness::from_ns(4 * MS),
            ..Observation::ok(12 * MS, 20 * MS, 1)
        };
        let verdict = check(&History::new(0, 2, &[a, b]));
        assert!(!verdict.passed(), "{verdict:?}");
        let judged_from_the_slot = Observation {
            start_ns: b.intended_start_ns(),
            late: Lateness::ZERO,
            ..b
        };
        assert!(check(&History::new(0, 2, &[a, judged_from_the_slot])).passed());
    }
}
