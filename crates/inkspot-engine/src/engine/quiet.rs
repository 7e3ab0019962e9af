//! Keeping the log readable while something keeps failing: one line per
//! failed run of a spot (never one per source and a summary repeating
//! them), the same failure again at most once every [`REPEAT_EVERY`] with
//! how often it recurred, a line when the spot recovers, and one hint, once,
//! when every source of a spot could not reach its remote host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::Spot;
use crate::source::SpotData;

/// How often the same failure is logged again while it lasts.
pub const REPEAT_EVERY: Duration = Duration::from_secs(15 * 60);

/// The last line logged for each subject (a spot's fetch, its drawing):
/// what failed, when, and how often it has recurred since. As many entries
/// as spots, twice.
#[derive(Default)]
pub(super) struct Quiet {
    logged: Mutex<HashMap<String, Logged>>,
    hinted: AtomicBool,
}

struct Logged {
    what: String,
    at: Instant,
    repeats: u32,
}

impl Quiet {
    /// Whether `what` failing for `subject` should be logged now, and how
    /// often it recurred unlogged before: `None` while the same failure was
    /// logged less than [`REPEAT_EVERY`] ago.
    pub(super) fn failing(&self, subject: &str, what: &str) -> Option<u32> {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(last) = logged.get_mut(subject)
            && last.what == what
            && last.at.elapsed() < REPEAT_EVERY
        {
            last.repeats += 1;
            return None;
        }
        let repeats = logged
            .get(subject)
            .filter(|l| l.what == what)
            .map_or(0, |l| l.repeats);
        let entry = Logged {
            what: what.to_string(),
            at: Instant::now(),
            repeats: 0,
        };
        logged.insert(subject.to_string(), entry);
        Some(repeats)
    }

    /// Forgets `subject`'s failure; `true` when it had one.
    pub(super) fn recovered(&self, subject: &str) -> bool {
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        logged.remove(subject).is_some()
    }

    /// Logs how `spot`'s fetch went, when that is news.
    pub(super) fn fetched(&self, spot: &Spot, data: &SpotData) {
        let subject = format!("fetch:{}", spot.slug());
        let failed: Vec<_> = data.errors.iter().filter(|e| e.field.is_none()).collect();
        if failed.is_empty() {
            if self.recovered(&subject) {
                tracing::info!(spot = %spot.name, "every source answers again");
            }
            return;
        }
        let which: Vec<&str> = failed.iter().map(|e| e.source.as_str()).collect();
        let Some(repeats) = self.failing(&subject, &which.join(",")) else {
            return;
        };
        let errors: Vec<String> = failed
            .iter()
            .map(|e| match &e.url {
                Some(url) => format!("{}: {} (GET {url})", e.source, e.reason),
                None => format!("{}: {}", e.source, e.reason),
            })
            .collect();
        let errors = errors.join("; ");
        let failed_count = format!("{} of {}", failed.len(), data.sources_total);
        if data.all_failed() {
            tracing::warn!(spot = %spot.name, failed = %failed_count, repeated = repeats, %errors, "every source failed: no new image until one answers");
        } else {
            tracing::warn!(spot = %spot.name, failed = %failed_count, repeated = repeats, %errors, "some sources failed: drawn with what came");
        }
        let offline = data.all_failed() && failed.iter().all(|e| e.unreachable);
        if offline && !self.hinted.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "no network? no source host of a spot could be reached; `inkspot serve --config examples/offline.toml` runs without one"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_failure_is_logged_once_until_it_changes_or_ends() {
        let quiet = Quiet::default();
        assert_eq!(quiet.failing("fetch:a", "buoy"), Some(0));
        assert_eq!(quiet.failing("fetch:a", "buoy"), None);
        assert_eq!(quiet.failing("fetch:a", "buoy"), None);
        assert_eq!(quiet.failing("fetch:b", "buoy"), Some(0), "another spot");
        assert_eq!(
            quiet.failing("fetch:a", "buoy,tide"),
            Some(0),
            "a new failure"
        );
        assert!(quiet.recovered("fetch:a"));
        assert!(!quiet.recovered("fetch:a"));
        assert_eq!(quiet.failing("fetch:a", "buoy"), Some(0));
    }
}
