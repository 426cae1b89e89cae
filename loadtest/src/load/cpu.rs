//! The generator's own CPU time, so a report can say when the generator,
//! not the target, was the bottleneck.

use std::time::Duration;

/// CPU time (user + system) this process has used so far, or `None` where
/// the platform does not tell (then the report says "unknown", never 0%).
pub fn process_cpu() -> Option<Duration> {
    let usage = cpu_time::ProcessTime::try_now().ok()?;
    Some(usage.as_duration())
}
