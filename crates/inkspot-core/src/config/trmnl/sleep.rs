//! `[[devices]] sleep = [{ days = "mon-fri", hours = "23:00-06:30" }]`:
//! the periods a device sleeps through, each on some weekdays, in the
//! device's local time.

use chrono::Weekday;
use serde::{Deserialize, Deserializer, de};

use super::super::ActiveHours;

/// One sleep period: from `hours`' start on each of `days`, to its end
/// (the next day when it crosses midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SleepPeriod {
    /// The weekdays on which it starts.
    pub days: Weekdays,
    /// Its start and end, local times.
    pub hours: ActiveHours,
}

/// A set of weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weekdays(u8);

impl Weekdays {
    /// Every day.
    pub const ALL: Weekdays = Weekdays(0x7f);

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }
}

impl std::str::FromStr for Weekdays {
    type Err = String;

    /// `"mon-fri"`, `"sat,sun"`, `"fri-mon"` (a range may wrap), `"daily"`.
    fn from_str(s: &str) -> Result<Self, String> {
        let form = "write days like \"mon-fri\", \"sat,sun\" or \"daily\"";
        let text = s.trim().to_ascii_lowercase();
        if text == "daily" || text == "*" {
            return Ok(Self::ALL);
        }
        let day = |t: &str| {
            t.trim()
                .parse::<Weekday>()
                .map_err(|_| format!("`{}` is not a weekday; {form}", t.trim()))
        };
        let mut bits = 0u8;
        for part in text.split(',') {
            let (from, to) = match part.split_once('-') {
                Some((a, b)) => (day(a)?, day(b)?),
                None => (day(part)?, day(part)?),
            };
            let mut d = from;
            loop {
                bits |= 1 << d.num_days_from_monday();
                if d == to {
                    break;
                }
                d = d.succ();
            }
        }
        Ok(Self(bits))
    }
}

impl<'de> Deserialize<'de> for SleepPeriod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            days: Option<String>,
            hours: String,
        }
        let raw = Raw::deserialize(d)?;
        let days = match raw.days {
            Some(days) => days.parse().map_err(de::Error::custom)?,
            None => Weekdays::ALL,
        };
        let hours = raw.hours.parse().map_err(de::Error::custom)?;
        Ok(Self { days, hours })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("mon-fri", &[Weekday::Mon, Weekday::Fri], &[Weekday::Sat, Weekday::Sun])]
    #[case("sat,sun", &[Weekday::Sat, Weekday::Sun], &[Weekday::Mon])]
    #[case("fri-mon", &[Weekday::Fri, Weekday::Sun, Weekday::Mon], &[Weekday::Tue, Weekday::Thu])]
    #[case("Daily", &[Weekday::Mon, Weekday::Sun], &[])]
    #[case("wed", &[Weekday::Wed], &[Weekday::Tue, Weekday::Thu])]
    fn weekdays_parse(#[case] text: &str, #[case] yes: &[Weekday], #[case] no: &[Weekday]) {
        let days: Weekdays = text.parse().unwrap();
        assert!(yes.iter().all(|d| days.contains(*d)), "{text}");
        assert!(!no.iter().any(|d| days.contains(*d)), "{text}");
    }

    #[rstest]
    #[case("weekdays", "`weekdays` is not a weekday")]
    #[case("mon-funday", "`funday` is not a weekday")]
    fn bad_weekdays_are_named(#[case] text: &str, #[case] said: &str) {
        let e = text.parse::<Weekdays>().unwrap_err();
        assert!(e.contains(said), "{e}");
    }
}
