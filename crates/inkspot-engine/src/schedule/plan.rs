//! When one spot runs: slots every `refresh`, each spot at its own phase
//! so that N spots are spread over the interval; a run early enough that
//! the render it replaces never expires; the spot's active hours; and
//! backing off after failures. Time arithmetic only, so it is the same for
//! the runner and for `inkspot schedule`.

use std::time::Duration;

use chrono::{DateTime, Days, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::{ActiveHours, Config};

/// The first retry after a failure; each next one waits twice as long, up
/// to the spot's interval.
pub const FIRST_BACKOFF: Duration = Duration::from_secs(60);

/// When one spot is refreshed.
#[derive(Debug, Clone)]
pub struct SpotPlan {
    /// Time between runs.
    pub refresh: Duration,
    /// The spot's phase within the interval: its slots are at
    /// `offset + k × refresh` from the Unix epoch.
    pub offset: Duration,
    /// How much earlier than planned a run may start, at random.
    pub jitter: Duration,
    /// Local times in which it runs; all day when `None`.
    pub hours: Option<ActiveHours>,
    /// The time zone of `hours`.
    pub tz: Tz,
}

impl SpotPlan {
    /// The plan of the spot at `index` in `config`: the i-th of N spots
    /// starts i/N of the way into its interval.
    pub fn new(config: &Config, index: usize) -> Self {
        let spot = &config.spots[index];
        let refresh = config.refresh_of(spot).max(Duration::from_secs(1));
        let n = config.spots.len().max(1) as u32;
        Self {
            refresh,
            offset: refresh / n * index as u32,
            jitter: config.schedule.jitter.min(refresh / 10),
            hours: spot.active_hours,
            tz: spot.timezone.unwrap_or(Tz::UTC),
        }
    }

    /// The next run, seen at `now`, for renders made from data fetched at
    /// `data_at` (`None`: nothing stored). It is the spot's last slot
    /// before its data is `refresh` old, so runs fall on the spot's phase,
    /// but never more than a quarter of the interval early: a spot off its
    /// phase (after start-up, or a failure) moves onto it over a few runs
    /// rather than fetching twice in a row. Data already that old is due
    /// `now` when `eager`, else at the next slot. Outside active hours, the
    /// run moves to the window's start.
    pub fn next_run(
        &self,
        data_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        eager: bool,
    ) -> DateTime<Utc> {
        let due = data_at.map(|d| d + self.refresh);
        let run = match due {
            Some(due) if due > now => {
                let earliest = due - self.refresh / 4;
                self.slot_at_or_before(due).max(earliest).max(now)
            }
            _ if eager => now,
            _ => self.slot_at_or_before(now) + self.refresh,
        };
        self.window_opens(run)
    }

    /// The run after `failures` failures in a row, the last one at `now`:
    /// one minute, then twice as long each time, up to the interval.
    pub fn after_failure(&self, failures: u32, now: DateTime<Utc>) -> DateTime<Utc> {
        let doubled = FIRST_BACKOFF.saturating_mul(1 << failures.clamp(1, 20).saturating_sub(1));
        self.window_opens(now + doubled.min(self.refresh))
    }

    /// The latest slot at or before `t`. Slots count from the spot's phase
    /// after the Unix epoch; with active hours, from the start of the
    /// window, since devices are told to come back then and the first run
    /// of the day is there.
    pub fn slot_at_or_before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let period = self.refresh.as_millis().max(1) as i64;
        let anchor = match self.hours {
            None => self.offset.as_millis() as i64,
            Some(_) => self.window_start_before(t).timestamp_millis(),
        };
        let since = t.timestamp_millis() - anchor;
        let slot = since.div_euclid(period) * period + anchor;
        DateTime::from_timestamp_millis(slot).unwrap_or(t)
    }

    /// The latest start of the active hours at or before `t`.
    fn window_start_before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let Some(hours) = self.hours else { return t };
        let local = t.with_timezone(&self.tz).date_naive();
        (0..3)
            .filter_map(|back| local.checked_sub_days(Days::new(back)))
            .map(|date| self.to_utc(date.and_time(hours.start)))
            .find(|start| *start <= t)
            .unwrap_or(t)
    }

    /// Whether `t` is inside the active hours.
    pub fn is_active(&self, t: DateTime<Utc>) -> bool {
        self.hours
            .is_none_or(|h| h.contains(t.with_timezone(&self.tz).time()))
    }

    /// `t` if it is inside the active hours, else the start of the next
    /// window after it.
    pub fn window_opens(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let Some(hours) = self.hours else { return t };
        if self.is_active(t) {
            return t;
        }
        let local = t.with_timezone(&self.tz).date_naive();
        for day in 0..3 {
            let Some(date) = local.checked_add_days(Days::new(day)) else {
                break;
            };
            let start = self.to_utc(date.and_time(hours.start));
            if start > t {
                return start;
            }
        }
        t
    }

    /// A local wall time as UTC; a time skipped by a clock change counts
    /// as the hour after it.
    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.to_utc(),
            LocalResult::None => self.to_utc(local + chrono::Duration::hours(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn plan(refresh_min: u64, offset_min: u64, hours: Option<&str>) -> SpotPlan {
        SpotPlan {
            refresh: Duration::from_secs(refresh_min * 60),
            offset: Duration::from_secs(offset_min * 60),
            jitter: Duration::ZERO,
            hours: hours.map(|h| h.parse().unwrap()),
            tz: "America/Los_Angeles".parse().unwrap(),
        }
    }

    #[rstest]
    // Nothing stored: now, or the next slot when not eager.
    #[case(None, "2026-11-23T10:07:00Z", true, "2026-11-23T10:07:00Z")]
    #[case(None, "2026-11-23T10:07:00Z", false, "2026-11-23T10:15:00Z")]
    // Data from 10:07 is due at 11:07; the last slot before that, 10:15,
    // is too early: a quarter of the interval before it is due.
    #[case(
        Some("2026-11-23T10:07:00Z"),
        "2026-11-23T10:08:00Z",
        true,
        "2026-11-23T10:52:00Z"
    )]
    // Data from 10:20 is due at 11:20; its slot, 11:15, is late enough.
    #[case(
        Some("2026-11-23T10:20:00Z"),
        "2026-11-23T10:59:00Z",
        true,
        "2026-11-23T11:15:00Z"
    )]
    // Restarted with fresh data on disk: wait, but not past its phase.
    #[case(
        Some("2026-11-23T10:00:00Z"),
        "2026-11-23T10:30:00Z",
        false,
        "2026-11-23T10:45:00Z"
    )]
    // Overdue: now.
    #[case(
        Some("2026-11-23T08:00:00Z"),
        "2026-11-23T10:30:00Z",
        true,
        "2026-11-23T10:30:00Z"
    )]
    fn runs_come_before_the_data_is_due(
        #[case] data_at: Option<&str>,
        #[case] now: &str,
        #[case] eager: bool,
        #[case] expect: &str,
    ) {
        // Refresh every hour at a quarter past (UTC).
        let p = plan(60, 15, None);
        assert_eq!(p.next_run(data_at.map(at), at(now), eager), at(expect));
    }

    #[test]
    fn in_steady_state_every_run_falls_on_the_spots_phase() {
        let p = plan(60, 20, None);
        let mut t = at("2026-11-23T10:03:00Z");
        let mut runs = Vec::new();
        let mut data_at = None;
        for _ in 0..5 {
            let run = p.next_run(data_at, t, true);
            runs.push(run.format("%H:%M").to_string());
            data_at = Some(run);
            t = run;
        }
        assert_eq!(runs, ["10:03", "10:48", "11:33", "12:20", "13:20"]);
    }

    #[rstest]
    #[case(1, 1)]
    #[case(2, 2)]
    #[case(3, 4)]
    #[case(6, 32)]
    #[case(7, 55)]
    #[case(40, 55)]
    fn failures_back_off_up_to_the_interval(#[case] failures: u32, #[case] minutes: i64) {
        let p = plan(55, 0, None);
        let now = at("2026-11-23T10:00:00Z");
        assert_eq!(
            (p.after_failure(failures, now) - now).num_minutes(),
            minutes
        );
    }

    #[rstest]
    // 06:00-21:00 Pacific is 14:00-05:00 UTC in November.
    #[case("2026-11-23T15:00:00Z", "2026-11-23T15:00:00Z")]
    #[case("2026-11-23T05:30:00Z", "2026-11-23T14:00:00Z")]
    #[case("2026-11-23T13:59:00Z", "2026-11-23T14:00:00Z")]
    #[case("2026-11-24T04:59:00Z", "2026-11-24T04:59:00Z")]
    fn outside_active_hours_runs_wait_for_the_window(#[case] t: &str, #[case] expect: &str) {
        let p = plan(60, 0, Some("06:00-21:00"));
        assert_eq!(p.window_opens(at(t)), at(expect));
        assert_eq!(p.next_run(None, at(t), true), at(expect));
    }

    #[test]
    fn with_active_hours_runs_count_from_the_window_start() {
        let p = plan(55, 20, Some("06:00-09:00"));
        // 05:00 Pacific: the window opens at 06:00, then every 55 minutes.
        let mut t = at("2026-11-23T13:00:00Z");
        let mut data_at = Some(at("2026-11-22T16:00:00Z"));
        let mut runs = Vec::new();
        for _ in 0..5 {
            let run = p.next_run(data_at, t, true);
            runs.push(run.with_timezone(&p.tz).format("%d %H:%M").to_string());
            data_at = Some(run);
            t = run;
        }
        assert_eq!(
            runs,
            ["23 06:00", "23 06:55", "23 07:50", "23 08:45", "24 06:00"]
        );
    }

    #[test]
    fn spots_are_spread_over_the_interval() {
        let text = "[[spots]]\nname=\"a\"\ntemplate=\"t\"\n[[spots]]\nname=\"b\"\ntemplate=\"t\"\n[[spots]]\nname=\"c\"\ntemplate=\"t\"\n[[spots]]\nname=\"d\"\ntemplate=\"t\"\n";
        let config: Config = toml::from_str(text).unwrap();
        let offsets: Vec<u64> = (0..4)
            .map(|i| SpotPlan::new(&config, i).offset.as_secs() / 60)
            .collect();
        assert_eq!(offsets, [0, 13, 27, 41], "a quarter of 55 minutes apart");
    }
}
