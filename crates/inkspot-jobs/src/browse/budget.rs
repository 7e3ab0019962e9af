//! Each key's browser time over the last hour: what its screenshot jobs
//! and crawls cost the browser (a picture shared from another job costs
//! nothing), against its `browser_seconds`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3600);

/// Browser time spent, by key name, over the last hour.
#[derive(Default)]
pub struct BrowserTime(Mutex<HashMap<String, VecDeque<(Instant, Duration)>>>);

impl BrowserTime {
    /// Time `key` spent over the last hour.
    pub fn used(&self, key: &str) -> Duration {
        let mut spent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = spent.get_mut(key) else {
            return Duration::ZERO;
        };
        while list.front().is_some_and(|(at, _)| at.elapsed() > HOUR) {
            list.pop_front();
        }
        list.iter().map(|(_, took)| *took).sum()
    }

    /// Counts `took` against `key`.
    pub fn add(&self, key: &str, took: Duration) {
        if took.is_zero() {
            return;
        }
        let mut spent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        spent
            .entry(key.to_string())
            .or_default()
            .push_back((Instant::now(), took));
    }

    /// When the oldest time `key` spent leaves the hour.
    pub fn retry_after(&self, key: &str) -> Duration {
        let spent = self.0.lock().unwrap_or_else(|e| e.into_inner());
        spent
            .get(key)
            .and_then(|l| l.front())
            .map_or(Duration::ZERO, |(at, _)| HOUR.saturating_sub(at.elapsed()))
    }
}

/// One job's owner and its hourly allowance.
pub struct Budget<'a> {
    /// Every key's time.
    pub time: &'a BrowserTime,
    /// The job's key.
    pub owner: String,
    /// Its `browser_seconds`.
    pub limit: Duration,
}

impl Budget<'_> {
    /// Why no more pictures may be taken for the job, if so.
    pub fn spent(&self) -> Option<String> {
        (self.time.used(&self.owner) >= self.limit).then(|| {
            format!(
                "the key `{}` used its {} s of browser time for this hour (`browser_seconds`)",
                self.owner,
                self.limit.as_secs()
            )
        })
    }

    /// Counts a picture's time.
    pub fn pay(&self, took: Duration) {
        self.time.add(&self.owner, took);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_adds_up_per_key_and_the_budget_says_when_it_is_spent() {
        let time = BrowserTime::default();
        time.add("alice", Duration::from_secs(2));
        time.add("alice", Duration::from_secs(3));
        time.add("bob", Duration::from_secs(1));
        assert_eq!(time.used("alice"), Duration::from_secs(5));
        assert_eq!(time.used("carol"), Duration::ZERO);
        let budget = Budget {
            time: &time,
            owner: "alice".into(),
            limit: Duration::from_secs(5),
        };
        assert!(budget.spent().unwrap().contains("used its 5 s"));
        let bob = Budget {
            time: &time,
            owner: "bob".into(),
            limit: Duration::from_secs(5),
        };
        assert_eq!(bob.spent(), None);
        assert!(time.retry_after("alice") > Duration::from_secs(3590));
    }
}
