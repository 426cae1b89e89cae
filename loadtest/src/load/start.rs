//! A common start for the nodes of one run (`--start-at`): each node sets
//! up (opens the target, reads the count), then waits for the instant and
//! begins its load then, so N machines start together without a
//! coordinator. The parsing and the decisions are pure functions of the
//! text and the clock's reading, tested alone; [`wait`] is the I/O.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::progress::Display;
use super::{signals, status};
use crate::analysis::summary::Start;

/// How far past `--start-at` a node may still be launched: a later
/// instant is refused (exit 2) before anything starts.
pub const START_GRACE: Duration = Duration::from_secs(5);
/// How far ahead `--start-at` may lie: no node waits longer than this.
pub const MAX_START_WAIT: Duration = Duration::from_secs(3600);

/// The instant the load is to begin, as given and as unix nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartAt {
    pub text: String,
    pub unix_ns: u64,
}

/// `--start-at`'s value: RFC 3339 (`2026-11-26T10:00:00Z`, any offset,
/// fractions allowed) or unix seconds (`1795687200`, `1795687200.25`).
pub fn parse_instant(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return unix_seconds_ns(t).ok_or_else(|| {
            format!("{text:?} is not unix seconds (digits, at most one '.', at most 9 decimals)")
        });
    }
    let at = OffsetDateTime::parse(t, &Rfc3339).map_err(|e| {
        format!("{text:?} is neither RFC 3339 (2026-11-26T10:00:00Z) nor unix seconds: {e}")
    })?;
    u64::try_from(at.unix_timestamp_nanos())
        .map_err(|_| format!("{text:?} lies before 1970 or too far ahead"))
}

/// `secs[.fraction]` as nanoseconds, exactly.
fn unix_seconds_ns(t: &str) -> Option<u64> {
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() || frac.len() > 9 || frac.contains('.') {
        return None;
    }
    let frac_ns = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow(9 - frac.len() as u32)
    };
    whole
        .parse::<u64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(frac_ns)
}

/// Whether a node given `--start-at` at `now_ns` may go ahead: the instant
/// must not lie more than [`START_GRACE`] behind nor more than
/// [`MAX_START_WAIT`] ahead. The error names the value.
pub fn accept(text: &str, now_ns: u64) -> Result<StartAt, String> {
    let unix_ns = parse_instant(text)?;
    if let Some(late) = now_ns.checked_sub(unix_ns)
        && Duration::from_nanos(late) > START_GRACE
    {
        return Err(format!(
            "{text} is {:.1} s in the past (a node may start at most {} s late): give a later instant",
            late as f64 / 1e9,
            START_GRACE.as_secs()
        ));
    }
    if let Some(ahead) = unix_ns.checked_sub(now_ns)
        && Duration::from_nanos(ahead) > MAX_START_WAIT
    {
        return Err(format!(
            "{text} is {:.0} s ahead: a node waits at most {} s",
            ahead as f64 / 1e9,
            MAX_START_WAIT.as_secs()
        ));
    }
    Ok(StartAt {
        text: text.to_owned(),
        unix_ns,
    })
}

/// How long is left until `at_ns` at `now_ns`; `None` once it is due.
pub fn remaining(at_ns: u64, now_ns: u64) -> Option<Duration> {
    (at_ns > now_ns).then(|| Duration::from_nanos(at_ns - now_ns))
}

/// The countdown line.
pub fn countdown_line(at: &StartAt, left: Duration) -> String {
    format!(
        "waiting for --start-at {}: the load begins in {:.1} s",
        at.text,
        left.as_secs_f64()
    )
}

/// The wall clock, as unix nanoseconds.
pub fn now_unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
}

/// Waits for `start_at` (at once without it), showing a countdown unless
/// `quiet`; returns the planned and the actual start. A run calls it once
/// set up (target open, count read) and before its clock starts, so its
/// observation times count from the load's start. A node whose setup
/// ended after the instant starts at once and says how late it is (merge
/// reports the skew). A signal during the wait ends the run before any
/// request is sent.
pub async fn wait(start_at: Option<&StartAt>, quiet: bool) -> anyhow::Result<Start> {
    let Some(at) = start_at else {
        return Ok(Start::of_run(None, now_unix_ns()));
    };
    if let Some(left) = remaining(at.unix_ns, now_unix_ns()) {
        status(&format!(
            "Waiting {:.1} s for --start-at {}",
            left.as_secs_f64(),
            at.text
        ));
    }
    let mut display = Display::for_stderr(quiet);
    while let Some(left) = remaining(at.unix_ns, now_unix_ns()) {
        if let Some(signal) = signals::interrupted() {
            display.finish();
            anyhow::bail!(
                "{} received while waiting for --start-at: nothing was sent",
                signal.name()
            );
        }
        display.show(countdown_line(at, left));
        tokio::time::sleep(left.min(Duration::from_millis(100))).await;
    }
    display.finish();
    let actual = now_unix_ns();
    let late = Duration::from_nanos(actual.saturating_sub(at.unix_ns));
    if late > START_GRACE {
        status(&format!(
            "Started {:.1} s after --start-at {} (setup took longer): merge reports the skew",
            late.as_secs_f64(),
            at.text
        ));
    }
    Ok(Start::of_run(Some(at.unix_ns), actual))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn rfc3339_and_unix_seconds_name_the_same_instant() {
        let t = 1_795_687_200u64;
        assert_eq!(parse_instant("2026-11-26T10:00:00Z"), Ok(t * S));
        assert_eq!(parse_instant("2026-11-26T11:00:00+01:00"), Ok(t * S));
        assert_eq!(parse_instant("2026-11-26T10:00:00.25Z"), Ok(t * S + S / 4));
        assert_eq!(parse_instant("1795687200"), Ok(t * S));
        assert_eq!(parse_instant("1795687200.25"), Ok(t * S + S / 4));
        assert_eq!(parse_instant("1795687200.000000001"), Ok(t * S + 1));
    }

    #[test]
    fn anything_else_is_refused_with_the_value_named() {
        for bad in [
            "",
            "now",
            "2026-11-26",
            "2026-11-26 10:00:00",
            "2026-11-26T10:00:00",
            "1795600800.1234567891",
            "1.2.3",
            ".5",
            "-5",
            "99999999999999999999",
            "1969-12-31T23:59:59Z",
        ] {
            let e = parse_instant(bad).expect_err(bad);
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn an_instant_past_by_more_than_the_grace_or_too_far_ahead_is_refused() {
        let at = 10_000 * S;
        let grace = START_GRACE.as_nanos() as u64;
        let max_wait = MAX_START_WAIT.as_nanos() as u64;
        assert!(accept("10000", at).is_ok(), "now");
        assert!(accept("10000", at + grace).is_ok(), "just within the grace");
        let e = accept("10000", at + grace + 1).expect_err("past the grace");
        assert!(e.contains("10000") && e.contains("in the past"), "{e}");
        assert!(accept("10000", at - max_wait).is_ok(), "the longest wait");
        let e = accept("10000", at - max_wait - 1).expect_err("too far ahead");
        assert!(e.contains("10000") && e.contains("ahead"), "{e}");
        assert!(accept("bogus", at).is_err());
    }

    #[test]
    fn the_wait_is_what_is_left_until_the_instant() {
        assert_eq!(remaining(10 * S, 4 * S), Some(Duration::from_secs(6)));
        assert_eq!(remaining(10 * S, 10 * S), None, "due");
        assert_eq!(remaining(10 * S, 11 * S), None, "late: start at once");
    }

    #[test]
    fn a_node_never_starts_before_the_instant() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let at = now_unix_ns() + 300_000_000;
        let planned = StartAt {
            text: "in 0.3 s".into(),
            unix_ns: at,
        };
        let start = rt.block_on(wait(Some(&planned), true)).expect("waited");
        assert_eq!(start.start_planned_unix_ns, Some(at));
        assert!(start.start_actual_unix_ns.is_some_and(|a| a >= at));
        assert!(start.start_skew_vs_planned_ms.is_some());
    }

    #[test]
    fn without_start_at_the_run_starts_at_once_and_records_when() {
        let before = now_unix_ns();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let start = rt.block_on(wait(None, true)).expect("no wait");
        assert_eq!(start.start_planned_unix_ns, None);
        assert!(start.start_actual_unix_ns.is_some_and(|a| a >= before));
    }
}
