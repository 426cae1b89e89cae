//! When requests are meant to go: the stepped capacity run's goose test plan
//! and the per-user pacing schedule. Pure arithmetic, tested alone.

use std::time::{Duration, Instant};

use crate::analysis::stats::StepWindow;

/// A goose test plan for `--steps`: a warm-up at the first step's users
/// (unmeasured: the stage's caches and JITs settle), then for each step a
/// 1 s ramp and a hold; and the windows in which steps are measured (the
/// holds).
pub fn step_schedule(
    steps: &[usize],
    hold_secs: u64,
    warmup_secs: u64,
) -> (String, Vec<StepWindow>) {
    let mut plan = Vec::new();
    let mut windows = Vec::new();
    let mut t = 0.0;
    if let (Some(&first), true) = (steps.first(), warmup_secs > 0) {
        plan.push(format!("{first},1s"));
        plan.push(format!("{first},{warmup_secs}s"));
        t += 1.0 + warmup_secs as f64;
    }
    for &users in steps {
        plan.push(format!("{users},1s"));
        plan.push(format!("{users},{hold_secs}s"));
        t += 1.0;
        windows.push(StepWindow {
            users,
            from_s: t,
            to_s: t + hold_secs as f64,
            rate: None,
        });
        t += hold_secs as f64;
    }
    plan.push("0,1s".to_owned());
    (plan.join(";"), windows)
}

/// One user's strict send schedule (`--user-rate`): slots `interval` apart
/// from its first request. A user that falls behind sends at once, but its
/// latency still counts from the slot it missed (as wrk2 does), so a slow
/// stage cannot hide the requests it delayed (coordinated omission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    next: Instant,
    interval: Duration,
}

impl Pacing {
    /// The schedule of a user whose first request goes at `first`.
    pub fn starting(first: Instant, interval: Duration) -> Self {
        Self {
            next: first,
            interval,
        }
    }

    /// The intended send time of the next request, and how long to wait
    /// for it from `now` (zero when the user is behind). Advances the
    /// schedule by one slot whatever `now` is: late requests are not
    /// forgiven by shifting the schedule.
    pub fn next_slot(&mut self, now: Instant) -> (Instant, Duration) {
        let slot = self.next;
        self.next = slot + self.interval;
        (slot, slot.saturating_duration_since(now))
    }
}

/// The peak users of a goose `--test-plan` string's serialized form
/// (`{"steps": [[users, ms], ...]}`), if one was given.
pub fn test_plan_peak(test_plan: &serde_json::Value) -> Option<usize> {
    let steps = test_plan["steps"].as_array()?;
    Some(
        steps
            .iter()
            .filter_map(|s| s[0].as_u64())
            .max()
            .unwrap_or(0) as usize,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stepped_schedule_warms_up_then_measures_each_hold() {
        let (plan, windows) = step_schedule(&[2, 8], 5, 3);
        assert_eq!(plan, "2,1s;2,3s;2,1s;2,5s;8,1s;8,5s;0,1s");
        assert_eq!(
            windows,
            vec![
                StepWindow {
                    users: 2,
                    from_s: 5.0,
                    to_s: 10.0,
                    rate: None,
                },
                StepWindow {
                    users: 8,
                    from_s: 11.0,
                    to_s: 16.0,
                    rate: None,
                },
            ]
        );
        let (plan, windows) = step_schedule(&[4], 2, 0);
        assert_eq!(plan, "4,1s;4,2s;0,1s");
        assert_eq!(windows[0].from_s, 1.0);
        assert!(
            plan.parse::<goose::test_plan::TestPlan>().is_ok(),
            "goose accepts it"
        );
    }

    #[test]
    fn pacing_keeps_slots_an_interval_apart_and_waits_only_when_early() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut p = Pacing::starting(t0, ms(100));
        // On time: the first slot is now, no wait.
        assert_eq!(p.next_slot(t0), (t0, Duration::ZERO));
        // Early (10 ms after the first): wait 90 ms for the slot at 100.
        assert_eq!(p.next_slot(t0 + ms(10)), (t0 + ms(100), ms(90)));
        // Late (350 ms): the slot at 200 is reported, no wait, and the
        // schedule is not shifted: the next slot is still 300.
        assert_eq!(p.next_slot(t0 + ms(350)), (t0 + ms(200), Duration::ZERO));
        assert_eq!(p.next_slot(t0 + ms(350)).0, t0 + ms(300));
        assert_eq!(p.next_slot(t0 + ms(350)), (t0 + ms(400), ms(50)));
    }

    #[test]
    fn a_test_plans_peak_is_its_largest_user_count() {
        let v = serde_json::json!({"steps": [[4, 1000], [16, 2000], [0, 1000]]});
        assert_eq!(test_plan_peak(&v), Some(16));
        assert_eq!(test_plan_peak(&serde_json::Value::Null), None);
    }
}
