//! The variants clients asked for: every size and preset a request drew
//! joins its spot's schedule, and leaves it once nobody has asked for it
//! within the idle time. The list is bounded, and kept with the renders as
//! a small document so a restart keeps the schedule.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::render::Output;

/// The name of the document the list is kept in.
pub const DOCUMENT: &str = "schedule";

/// One variant: a spot (by position in the config) and an output.
type Variant = (usize, Output);

/// Requested variants and when each was last asked for.
pub struct Demand {
    /// Seconds since the Unix epoch of the last request, per variant.
    asked: RwLock<HashMap<Variant, AtomicI64>>,
    max: usize,
    idle: Duration,
    /// Whether a variant joined or left since the document was written.
    changed: AtomicBool,
}

/// The document's form.
#[derive(Debug, Serialize, Deserialize)]
struct Document {
    requested: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    /// The spot's slug.
    spot: String,
    /// The output, as [`Output::to_query`] writes it.
    output: String,
    /// When it was last asked for.
    asked_at: DateTime<Utc>,
}

impl Demand {
    /// An empty list of at most `max` variants, each kept for `idle`
    /// after its last request.
    pub fn new(max: usize, idle: Duration) -> Self {
        Self {
            asked: RwLock::new(HashMap::new()),
            max,
            idle,
            changed: AtomicBool::new(false),
        }
    }

    /// Notes a request for `output` of the spot at `index` at `now`;
    /// `false` when the list is full and the variant is not on it. Cheap
    /// for a variant already listed: it runs on every request.
    pub fn note(&self, index: usize, output: Output, now: DateTime<Utc>) -> bool {
        let secs = now.timestamp();
        let variant = (index, output);
        if let Some(last) = self.read().get(&variant) {
            // Read first: most requests come within the same second, and a
            // write would bounce the cache line between cores.
            if last.load(Ordering::Relaxed) < secs {
                last.fetch_max(secs, Ordering::Relaxed);
            }
            return true;
        }
        let mut asked = self.asked.write().unwrap_or_else(PoisonError::into_inner);
        if asked.len() >= self.max && !asked.contains_key(&variant) {
            return false;
        }
        asked
            .entry(variant)
            .or_insert_with(|| AtomicI64::new(secs))
            .fetch_max(secs, Ordering::Relaxed);
        self.changed.store(true, Ordering::Relaxed);
        true
    }

    /// Whether `output` of the spot at `index` is listed.
    pub fn contains(&self, index: usize, output: &Output) -> bool {
        self.read().contains_key(&(index, *output))
    }

    /// The variants of the spot at `index` asked for within the idle time
    /// before `now`, with when each was last asked for, oldest request first.
    pub fn of_spot(&self, index: usize, now: DateTime<Utc>) -> Vec<(Output, DateTime<Utc>)> {
        let since = self.since(now);
        let mut out: Vec<_> = self
            .read()
            .iter()
            .filter(|((i, _), _)| *i == index)
            .map(|((_, o), t)| (*o, t.load(Ordering::Relaxed)))
            .filter(|(_, t)| *t >= since)
            .filter_map(|(o, t)| Some((o, DateTime::from_timestamp(t, 0)?)))
            .collect();
        out.sort_by_key(|(o, t)| (*t, o.to_query()));
        out
    }

    /// Forgets the variants nobody asked for within the idle time before
    /// `now`; returns how many.
    pub fn forget_idle(&self, now: DateTime<Utc>) -> usize {
        let since = self.since(now);
        let mut asked = self.asked.write().unwrap_or_else(PoisonError::into_inner);
        let before = asked.len();
        asked.retain(|_, t| t.load(Ordering::Relaxed) >= since);
        let gone = before - asked.len();
        if gone > 0 {
            self.changed.store(true, Ordering::Relaxed);
        }
        gone
    }

    /// Whether the list changed since the last call.
    pub fn take_changed(&self) -> bool {
        self.changed.swap(false, Ordering::Relaxed)
    }

    /// The list as a document; `slugs` names the spots by position.
    pub fn to_document(&self, slugs: &[String]) -> Vec<u8> {
        let mut requested: Vec<Entry> = self
            .read()
            .iter()
            .filter_map(|((i, output), t)| {
                Some(Entry {
                    spot: slugs.get(*i)?.clone(),
                    output: output.to_query(),
                    asked_at: DateTime::from_timestamp(t.load(Ordering::Relaxed), 0)?,
                })
            })
            .collect();
        requested.sort_by(|a, b| (&a.spot, &a.output).cmp(&(&b.spot, &b.output)));
        serde_json::to_vec_pretty(&Document { requested }).unwrap_or_default()
    }

    /// Adds the variants of a document written by [`Demand::to_document`]
    /// that still name a spot (`find` gives its position) and are not
    /// idle at `now`; returns how many, or why the document is unreadable.
    pub fn restore(
        &self,
        document: &[u8],
        find: impl Fn(&str) -> Option<usize>,
        now: DateTime<Utc>,
    ) -> Result<usize, serde_json::Error> {
        let document: Document = serde_json::from_slice(document)?;
        let since = self.since(now);
        let mut restored = 0;
        for entry in document.requested {
            let (Some(index), Some(output)) =
                (find(&entry.spot), Output::from_query(&entry.output))
            else {
                continue;
            };
            if entry.asked_at.timestamp() >= since && self.note(index, output, entry.asked_at) {
                restored += 1;
            }
        }
        self.changed.store(false, Ordering::Relaxed);
        Ok(restored)
    }

    fn since(&self, now: DateTime<Utc>) -> i64 {
        now.timestamp() - self.idle.as_secs() as i64
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Variant, AtomicI64>> {
        self.asked.read().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OutputOptions;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn output(width: u32) -> Output {
        Output::resolve(&OutputOptions::default(), width, 480)
    }

    #[test]
    fn variants_join_and_leave_after_the_idle_time() {
        let demand = Demand::new(8, Duration::from_secs(3600));
        assert!(demand.note(0, output(800), at("2026-11-23T10:00:00Z")));
        assert!(demand.note(0, output(600), at("2026-11-23T10:30:00Z")));
        assert!(demand.note(1, output(800), at("2026-11-23T10:30:00Z")));
        assert!(demand.take_changed());
        assert!(!demand.take_changed(), "told once");
        // Asked again: still one entry, with the later time.
        demand.note(0, output(800), at("2026-11-23T10:40:00Z"));
        assert!(!demand.take_changed(), "a new time is not a new variant");
        let later = at("2026-11-23T11:35:00Z");
        let of_0: Vec<u32> = demand
            .of_spot(0, later)
            .iter()
            .map(|(o, _)| o.width)
            .collect();
        assert_eq!(of_0, [800], "600 was last asked 65 minutes ago");
        assert_eq!(demand.forget_idle(later), 2);
        assert!(!demand.contains(0, &output(600)));
        assert!(demand.contains(0, &output(800)));
    }

    #[test]
    fn the_list_is_bounded() {
        let demand = Demand::new(2, Duration::from_secs(3600));
        let now = at("2026-11-23T10:00:00Z");
        assert!(demand.note(0, output(100), now));
        assert!(demand.note(0, output(200), now));
        assert!(!demand.note(0, output(300), now), "full");
        assert!(demand.note(0, output(100), now), "listed ones still count");
    }

    #[test]
    fn the_document_survives_a_restart_and_drops_what_no_longer_fits() {
        let demand = Demand::new(8, Duration::from_secs(3600));
        demand.note(0, output(800), at("2026-11-23T10:00:00Z"));
        demand.note(1, output(600), at("2026-11-23T10:50:00Z"));
        let doc = demand.to_document(&["linda-mar".into(), "gone".into()]);

        let again = Demand::new(8, Duration::from_secs(3600));
        let find = |slug: &str| (slug == "linda-mar").then_some(0);
        let restored = again
            .restore(&doc, find, at("2026-11-23T10:55:00Z"))
            .unwrap();
        assert_eq!(restored, 1, "the spot `gone` is no longer configured");
        assert_eq!(
            again.of_spot(0, at("2026-11-23T10:55:00Z")),
            [(output(800), at("2026-11-23T10:00:00Z"))]
        );
        assert!(
            again
                .restore(b"{not json", find, at("2026-11-23T10:55:00Z"))
                .is_err()
        );
    }
}
