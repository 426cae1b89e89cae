//! How the users are scheduled: goose's own options, `--steps`, or the
//! open model's arrival schedule; and the bounds they obey.

use std::time::Duration;

use goose::config::GooseConfiguration;

use super::*;
use crate::analysis::stats::StepWindow;
use crate::commands::cli::HarnessArgs;
use crate::load::arrival::{RateSegment, constant_rate, rate_at, rate_steps};
use crate::load::schedule::{step_schedule, test_plan_peak};
use crate::load::users::UserRules;

/// How the users are scheduled: goose's own options, or `--steps`.
#[derive(Clone)]
pub(super) struct Workload {
    /// The goose test plan `--steps` makes, if any.
    pub(super) step_plan: Option<String>,
    /// The windows in which steps are measured.
    pub(super) windows: Vec<StepWindow>,
    /// A user plan the user gave goose (`--test-plan`).
    pub(super) user_plan: Option<usize>,
    pub(super) peak_users: usize,
    /// How long the load is meant to last, where the harness knows.
    pub(super) planned: Option<Duration>,
    /// The open model's arrival schedule (`--arrival-rate`, `--rate-steps`);
    /// `windows` and these count from its origin.
    pub(super) open: Option<Vec<RateSegment>>,
}

impl Workload {
    pub(super) fn of(harness: &HarnessArgs, goose: &GooseConfiguration) -> Self {
        if let Some(open) = Self::open(harness, goose) {
            return open;
        }
        let user_plan = goose_test_plan_peak(goose);
        if harness.steps.is_empty() {
            let peak_users = user_plan.or(goose.users).unwrap_or(DEFAULT_USERS);
            let run_secs = match &goose.run_time {
                Some(t) => goose::util::parse_timespan(t).map(|s| s as u64),
                None if user_plan.is_none() => Some(DEFAULT_RUN_SECS as u64),
                None => None,
            };
            return Self {
                step_plan: None,
                windows: vec![],
                user_plan,
                peak_users,
                planned: run_secs.map(Duration::from_secs),
                open: None,
            };
        }
        let (plan, windows) = step_schedule(&harness.steps, harness.step_secs, harness.warmup_secs);
        let end = windows.last().map_or(0.0, |w| w.to_s + 1.0);
        Self {
            step_plan: Some(plan),
            windows,
            user_plan,
            peak_users: harness.steps.iter().copied().max().unwrap_or(1),
            planned: Some(Duration::from_secs_f64(end)),
            open: None,
        }
    }

    /// The open model: a pool of `--max-users` serving an arrival
    /// schedule, one rate for `-t` or `--rate-steps` in turn.
    pub(super) fn open(harness: &HarnessArgs, goose: &GooseConfiguration) -> Option<Self> {
        let pool = harness.max_users.map_or(DEFAULT_MAX_USERS, |n| n as usize);
        let (segments, windows) = match harness.arrival_rate {
            Some(rate) => {
                let secs = goose
                    .run_time
                    .as_deref()
                    .and_then(|t| goose::util::parse_timespan(t).map(|s| s as u64));
                let secs = secs.unwrap_or(DEFAULT_RUN_SECS as u64);
                (constant_rate(rate, secs as f64), vec![])
            }
            None if !harness.rate_steps.is_empty() => rate_steps(
                &harness.rate_steps,
                harness.step_secs,
                harness.warmup_secs,
                pool,
            ),
            None => return None,
        };
        let end = segments.iter().map(|s| s.to_s).fold(0.0, f64::max);
        Some(Self {
            step_plan: None,
            windows,
            user_plan: None,
            peak_users: pool,
            planned: Some(Duration::from_secs_f64(end)),
            open: Some(segments),
        })
    }

    /// The arrival rate offered `elapsed` into the schedule (open model only).
    pub(super) fn offered_at(&self, elapsed: Duration) -> Option<f64> {
        rate_at(self.open.as_deref()?, elapsed.as_secs_f64())
    }

    /// A step as progress names it: its users, or its offered rate.
    pub(super) fn step_label(w: &StepWindow) -> String {
        match w.rate {
            Some(r) => format!("{r}/s offered"),
            None => format!("{} users", w.users),
        }
    }

    /// What the users are doing `elapsed` into the workload (the open
    /// model's schedule, from its origin; else the run), for progress.
    pub(super) fn phase(&self, elapsed: Duration) -> String {
        let t = elapsed.as_secs_f64();
        if self.windows.is_empty() {
            return match (self.user_plan, self.offered_at(elapsed)) {
                (Some(peak), _) => format!("test plan, up to {peak} users"),
                (None, Some(r)) => format!("open, {r}/s offered, {} users", self.peak_users),
                (None, None) if self.open.is_some() => "open, schedule done".to_owned(),
                (None, None) => format!("{} users", self.peak_users),
            };
        }
        let n = self.windows.len();
        // A closed step begins with a 1 s ramp; an open one at once.
        let ramp = if self.open.is_some() { 0.0 } else { 1.0 };
        match self.windows.iter().position(|w| t < w.to_s) {
            Some(0) if t < self.windows[0].from_s - ramp => {
                format!("warm-up, {}", Self::step_label(&self.windows[0]))
            }
            Some(i) => format!("step {}/{n}, {}", i + 1, Self::step_label(&self.windows[i])),
            None if self.open.is_some() => "schedule done".to_owned(),
            None => "ramping down".to_owned(),
        }
    }
}

/// The peak users of goose's `--test-plan`, if one was given (the field is
/// private to goose; its serialized form is not).
pub(super) fn goose_test_plan_peak(goose: &GooseConfiguration) -> Option<usize> {
    let v = serde_json::to_value(goose).ok()?;
    test_plan_peak(&v["test_plan"])
}

/// The bounds and rules the users obey, from the flags.
pub(super) fn user_rules(harness: &HarnessArgs, workload: &Workload) -> UserRules {
    UserRules {
        arrivals: workload.open.clone(),
        abort_error_rate: harness.abort_error_rate,
        abort_min_requests: harness.abort_min_requests,
        max_requests: harness.max_requests,
        max_memory_bytes: (harness.max_memory * 1_048_576.0) as u64,
        user_interval: harness.user_rate.map(|r| Duration::from_secs_f64(1.0 / r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn an_open_workload_is_a_pool_and_a_schedule_and_progress_names_its_rates() {
        let workload = |args: &[&str]| {
            let cli = crate::commands::cli::parse_from([&["loadtest"], args].concat())
                .expect("valid flags");
            Workload::of(&cli.run.harness, &cli.run.goose)
        };
        let w = workload(&[
            "--rate-steps",
            "10,20",
            "--step-secs",
            "2",
            "--warmup-secs",
            "1",
        ]);
        assert_eq!(w.peak_users, DEFAULT_MAX_USERS);
        assert_eq!(w.planned, Some(Duration::from_secs(5)));
        let at = |s: f64| Duration::from_secs_f64(s);
        assert_eq!(w.phase(at(0.5)), "warm-up, 10/s offered");
        assert_eq!(w.phase(at(3.5)), "step 2/2, 20/s offered");
        assert_eq!(w.offered_at(at(3.5)), Some(20.0));
        assert_eq!(w.phase(at(5.5)), "schedule done");
        let w = workload(&["--arrival-rate", "50", "--max-users", "8", "-t", "4"]);
        assert_eq!((w.peak_users, w.planned), (8, Some(Duration::from_secs(4))));
        assert_eq!(w.phase(at(1.0)), "open, 50/s offered, 8 users");
        let closed = workload(&["-u", "3", "-t", "1m30s"]);
        assert_eq!(
            (closed.open.is_none(), closed.offered_at(at(1.0))),
            (true, None)
        );
        assert_eq!(
            closed.planned,
            Some(Duration::from_secs(90)),
            "goose's own time spans"
        );
    }
}
