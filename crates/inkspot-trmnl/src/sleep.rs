//! When a device sleeps: its `sleep` periods (each on some weekdays, in
//! its time zone) and its pause, chained, so that it is told to wake
//! exactly when the last of them ends, across midnight and DST changes.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use inkspot_core::config::SleepPeriod;
use inkspot_engine::engine::Engine;

use crate::Device;
use inkspot_core::config::DeviceConfig;

/// The longest pause an operator may set.
pub const MAX_PAUSE: Duration = Duration::days(366);

/// Why a device sleeps, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asleep {
    /// When it should wake.
    pub until: DateTime<Utc>,
    /// Whether a pause holds it (else only its periods).
    pub paused: bool,
}

/// Whether the device with `periods` and `paused_until` in time zone `tz`
/// sleeps at `now`, and until when: the end of the pause or period it is
/// in, carried on through every period or pause that holds at that end.
pub fn asleep(
    periods: &[SleepPeriod],
    paused_until: Option<DateTime<Utc>>,
    tz: Tz,
    now: DateTime<Utc>,
) -> Option<Asleep> {
    let paused = paused_until.is_some_and(|p| p > now);
    let mut until = now;
    // A week of adjoining periods at most, then it wakes anyway.
    for _ in 0..16 {
        let mut next = until;
        if let Some(p) = paused_until.filter(|p| *p > next) {
            next = p;
        }
        if let Some(end) = periods.iter().filter_map(|p| holding(p, tz, next)).max() {
            next = end;
        }
        if next == until {
            break;
        }
        until = next;
    }
    (until > now).then_some(Asleep { until, paused })
}

/// Whether `device` sleeps at `now`, by its configured `sleep` periods
/// and time zone and the pause an operator set.
pub fn of_device(engine: &Engine, device: &Device, now: DateTime<Utc>) -> Option<Asleep> {
    let config = configured(engine.config(), &device.mac);
    let periods = config.map_or(&[][..], |c| c.sleep.as_slice());
    let tz = config.and_then(|c| c.timezone).unwrap_or(chrono_tz::UTC);
    asleep(periods, device.paused_until, tz, now)
}

/// When the first of `device`'s sleep periods that begins in the `within`
/// seconds after `now` begins, if one does.
pub fn next_start(
    engine: &Engine,
    device: &Device,
    now: DateTime<Utc>,
    within: u64,
) -> Option<DateTime<Utc>> {
    let config = configured(engine.config(), &device.mac)?;
    let tz = config.timezone.unwrap_or(chrono_tz::UTC);
    starts(&config.sleep, tz, now, Duration::seconds(within as i64))
}

/// The first start of one of `periods` in `(now, now + within]`.
fn starts(
    periods: &[SleepPeriod],
    tz: Tz,
    now: DateTime<Utc>,
    within: Duration,
) -> Option<DateTime<Utc>> {
    use chrono::Datelike;
    let today = now.with_timezone(&tz).date_naive();
    let days = (0..=within.num_days() + 1).map(|d| today + Duration::days(d));
    days.flat_map(|day| {
        periods
            .iter()
            .filter(move |p| p.days.contains(day.weekday()))
            .map(move |p| instant(tz, day, p.hours.start))
    })
    .filter(|t| *t > now && *t <= now + within)
    .min()
}

/// The device `mac` as `config`'s `[[devices]]` has it.
fn configured<'a>(config: &'a inkspot_core::config::Config, mac: &str) -> Option<&'a DeviceConfig> {
    config.devices.list().iter().find(|d| d.mac == mac)
}

/// The time zone of the device `mac` as `config` sets it; UTC by default.
pub fn time_zone(config: &inkspot_core::config::Config, mac: &str) -> Tz {
    configured(config, mac)
        .and_then(|d| d.timezone)
        .unwrap_or(chrono_tz::UTC)
}

/// What `device`'s sleep picture says at `now`, in its time zone, its
/// name in the title when it has one ("Kitchen is paused").
pub fn picture_text(engine: &Engine, device: &Device, now: DateTime<Utc>) -> (String, String) {
    let tz = time_zone(engine.config(), &device.mac);
    let (title, text) = match of_device(engine, device, now) {
        Some(asleep) => describe(&asleep, tz, now),
        None => (
            "Awake",
            "the next picture comes at the next wake".to_string(),
        ),
    };
    let name = configured(engine.config(), &device.mac).and_then(|c| c.name.as_deref());
    let title = match name {
        Some(name) => format!("{name} is {}", title.to_lowercase()),
        None => title.to_string(),
    };
    (title, text)
}

/// What the sleep picture says: a title, and until when, in `tz`, as a
/// person reads it (the day is named when it is not today).
pub fn describe(asleep: &Asleep, tz: Tz, now: DateTime<Utc>) -> (&'static str, String) {
    let until = asleep.until.with_timezone(&tz);
    let today = now.with_timezone(&tz).date_naive();
    let when = if until.date_naive() == today {
        until.format("%H:%M").to_string()
    } else if until.date_naive() - today < Duration::days(7) {
        until.format("%H:%M on %A").to_string()
    } else {
        until.format("%H:%M on %A %-d %B %Y").to_string()
    };
    if asleep.paused {
        ("Paused", format!("until {when}"))
    } else {
        ("Asleep", format!("until {when}"))
    }
}

/// The end of the occurrence of `period` that holds at `t`, if one does.
fn holding(period: &SleepPeriod, tz: Tz, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let today = t.with_timezone(&tz).date_naive();
    [today - Duration::days(1), today]
        .into_iter()
        .find_map(|day| {
            use chrono::Datelike;
            if !period.days.contains(day.weekday()) {
                return None;
            }
            let start = instant(tz, day, period.hours.start);
            let end_day = if period.hours.end <= period.hours.start {
                day + Duration::days(1)
            } else {
                day
            };
            let end = instant(tz, end_day, period.hours.end);
            (start <= t && t < end).then_some(end)
        })
}

/// The instant a local `time` on `day` names in `tz`: the earlier of two
/// in the hour DST repeats, and the moment the clocks jump to for a time
/// they skip.
fn instant(tz: Tz, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = NaiveDateTime::new(day, time);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.to_utc(),
        LocalResult::None => {
            // Skipped by a DST jump: the first minute after the gap.
            (1..=180)
                .find_map(|m| {
                    tz.from_local_datetime(&(local + Duration::minutes(m)))
                        .earliest()
                })
                .map_or_else(|| tz.from_utc_datetime(&local).to_utc(), |t| t.to_utc())
        }
    }
}

/// `--until` as an operator writes it: a date (`2026-12-24`, meaning the
/// start of that day in the device's time zone) or an RFC 3339 time;
/// after `now` and within [`MAX_PAUSE`].
pub fn resolve_until(text: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let until = if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        instant(tz, day, NaiveTime::MIN)
    } else {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.to_utc())
            .map_err(|_| format!("`{text}` is neither a date like 2026-12-24 nor a time like 2026-12-24T18:00:00Z"))?
    };
    if until <= now {
        return Err(format!("{until} has passed"));
    }
    if until - now > MAX_PAUSE {
        return Err(format!(
            "{until} is more than {} days away",
            MAX_PAUSE.num_days()
        ));
    }
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const LA: Tz = chrono_tz::America::Los_Angeles;

    fn period(days: &str, hours: &str) -> SleepPeriod {
        SleepPeriod {
            days: days.parse().unwrap(),
            hours: hours.parse().unwrap(),
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn plan() -> Vec<SleepPeriod> {
        vec![
            period("mon-fri", "23:00-06:30"),
            period("sat,sun", "00:00-08:00"),
            period("mon-fri", "09:00-17:00"),
        ]
    }

    /// The wake time at the edges of several periods and weekdays, in Los
    /// Angeles time (2026-12-07 is a Monday).
    #[rstest]
    #[case::before_the_night("2026-12-07T22:59:59-08:00", None)]
    #[case::the_night_starts("2026-12-07T23:00:00-08:00", Some("2026-12-08T06:30:00-08:00"))]
    #[case::after_midnight("2026-12-08T03:00:00-08:00", Some("2026-12-08T06:30:00-08:00"))]
    #[case::the_night_ends("2026-12-08T06:30:00-08:00", None)]
    #[case::office_hours("2026-12-08T12:00:00-08:00", Some("2026-12-08T17:00:00-08:00"))]
    #[case::the_weekend_morning("2026-12-12T05:00:00-08:00", Some("2026-12-12T08:00:00-08:00"))]
    // Friday's night runs into Saturday's morning: one sleep until 08:00.
    #[case::friday_into_saturday("2026-12-11T23:30:00-08:00", Some("2026-12-12T08:00:00-08:00"))]
    // Sunday's night is not a weekday night: awake at 08:00 Sunday evening.
    #[case::sunday_evening("2026-12-13T23:30:00-08:00", None)]
    #[case::monday_small_hours("2026-12-14T03:00:00-08:00", None)]
    fn a_device_wakes_when_its_periods_end(#[case] now: &str, #[case] wake: Option<&str>) {
        let got = asleep(&plan(), None, LA, t(now)).map(|a| a.until);
        assert_eq!(got, wake.map(t));
    }

    /// Across the DST changes of 2026 in Los Angeles (8 March, 1 November).
    #[rstest]
    // Spring forward: 23:00 PST to 06:30 PDT is six and a half hours.
    #[case(
        "22:00-02:30",
        "2026-03-08T01:00:00-08:00",
        "2026-03-08T03:00:00-07:00"
    )]
    #[case(
        "23:00-06:30",
        "2026-03-07T23:00:00-08:00",
        "2026-03-08T06:30:00-07:00"
    )]
    // Fall back: the night is an hour longer.
    #[case(
        "23:00-06:30",
        "2026-10-31T23:00:00-07:00",
        "2026-11-01T06:30:00-08:00"
    )]
    fn sleep_follows_the_local_clock_across_dst(
        #[case] hours: &str,
        #[case] now: &str,
        #[case] wake: &str,
    ) {
        let got = asleep(&[period("daily", hours)], None, LA, t(now)).unwrap();
        assert_eq!(got.until, t(wake));
    }

    #[rstest]
    #[case::within("2026-12-07T22:50:00-08:00", 900, Some("2026-12-07T23:00:00-08:00"))]
    #[case::beyond("2026-12-07T22:40:00-08:00", 300, None)]
    #[case::saturday_midnight("2026-12-11T23:55:00-08:00", 3600, Some("2026-12-12T00:00:00-08:00"))]
    fn a_device_is_woken_as_its_sleep_begins(
        #[case] now: &str,
        #[case] within: i64,
        #[case] wake: Option<&str>,
    ) {
        // Friday's night is running at 23:55 but Saturday's period begins
        // at midnight: a start, though it is asleep already.
        let got = starts(&plan(), LA, t(now), Duration::seconds(within));
        assert_eq!(got, wake.map(t));
    }

    #[test]
    fn a_pause_runs_on_into_the_period_at_its_end() {
        // Paused until Thursday 24 December 23:30, inside the night's period.
        let until = t("2026-12-24T23:30:00-08:00");
        let got = asleep(&plan(), Some(until), LA, t("2026-12-20T10:00:00-08:00")).unwrap();
        assert!(got.paused);
        assert_eq!(got.until, t("2026-12-25T06:30:00-08:00"));
        assert_eq!(
            asleep(&[], Some(until), LA, until),
            None,
            "over when it ends"
        );
    }

    #[rstest]
    #[case("2026-12-08T06:30:00-08:00", false, "Asleep", "until 06:30 on Tuesday")]
    #[case("2026-12-07T17:00:00-08:00", false, "Asleep", "until 17:00")]
    #[case(
        "2026-12-24T00:00:00-08:00",
        true,
        "Paused",
        "until 00:00 on Thursday 24 December 2026"
    )]
    fn the_sleep_picture_says_until_when(
        #[case] until: &str,
        #[case] paused: bool,
        #[case] title: &str,
        #[case] text: &str,
    ) {
        let asleep = Asleep {
            until: t(until),
            paused,
        };
        let now = t("2026-12-07T12:00:00-08:00");
        assert_eq!(describe(&asleep, LA, now), (title, text.to_string()));
    }

    #[rstest]
    #[case("2026-12-24", Ok("2026-12-24T00:00:00-08:00"))]
    #[case("2026-12-24T18:00:00Z", Ok("2026-12-24T18:00:00Z"))]
    #[case("2026-12-01", Err("has passed"))]
    #[case("2028-01-01", Err("more than 366 days"))]
    #[case("sunday", Err("neither a date"))]
    fn pauses_are_read_in_the_devices_time_zone(
        #[case] text: &str,
        #[case] expect: Result<&str, &str>,
    ) {
        let now = t("2026-12-07T12:00:00Z");
        match (resolve_until(text, LA, now), expect) {
            (Ok(got), Ok(want)) => assert_eq!(got, t(want)),
            (Err(e), Err(said)) => assert!(e.contains(said), "{e}"),
            (got, want) => panic!("{got:?} vs {want:?}"),
        }
    }
}
