//! One observation per request: when it started and ended, and what came
//! back. 32 bytes each in memory, 29 on disk.

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
    pub start_ns: u64,
    pub end_ns: u64,
    /// The returned count (meaningful only for [`Outcome::Ok`]).
    pub count: u64,
    /// HTTP status, 0 when no response came.
    pub status: u16,
    /// Which generator node made it (0 for a single-node run).
    pub node: u16,
    pub outcome: Outcome,
}

const _: () = assert!(std::mem::size_of::<Observation>() <= 32);

/// Bytes of one observation on disk.
pub const RECORD_BYTES: usize = 29;

impl Observation {
    pub fn ok(start_ns: u64, end_ns: u64, count: u64) -> Self {
        Self {
            start_ns,
            end_ns,
            count,
            status: 200,
            node: 0,
            outcome: Outcome::Ok,
        }
    }

    pub fn latency_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    fn encode(&self, out: &mut [u8; RECORD_BYTES]) {
        out[0..8].copy_from_slice(&self.start_ns.to_le_bytes());
        out[8..16].copy_from_slice(&self.end_ns.to_le_bytes());
        out[16..24].copy_from_slice(&self.count.to_le_bytes());
        out[24..26].copy_from_slice(&self.status.to_le_bytes());
        out[26..28].copy_from_slice(&self.node.to_le_bytes());
        out[28] = self.outcome as u8;
    }

    fn decode(b: &[u8; RECORD_BYTES]) -> io::Result<Self> {
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
        })
    }
}

/// Writes observations as fixed 29-byte little-endian records.
pub fn write_all(mut w: impl Write, ops: &[Observation]) -> io::Result<()> {
    let mut buf = [0u8; RECORD_BYTES];
    for op in ops {
        op.encode(&mut buf);
        w.write_all(&buf)?;
    }
    w.flush()
}

pub fn read_all(mut r: impl Read) -> io::Result<Vec<Observation>> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    if bytes.len() % RECORD_BYTES != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "observation file is not a whole number of records",
        ));
    }
    bytes
        .chunks_exact(RECORD_BYTES)
        .map(|c| {
            let mut rec = [0u8; RECORD_BYTES];
            rec.copy_from_slice(c);
            Observation::decode(&rec)
        })
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
            },
        ];
        let mut bytes = Vec::new();
        write_all(&mut bytes, &ops).expect("write");
        assert_eq!(bytes.len(), 2 * RECORD_BYTES);
        assert_eq!(read_all(&bytes[..]).expect("read"), ops);
        assert!(
            read_all(&bytes[..RECORD_BYTES + 1]).is_err(),
            "a torn file is refused"
        );
        bytes[28] = 9;
        assert!(
            read_all(&bytes[..]).is_err(),
            "a bad outcome byte is refused"
        );
    }
}
