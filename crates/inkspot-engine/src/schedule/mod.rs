//! The schedule: which variants of each spot are drawn ahead of requests,
//! when each spot runs next, and how its last run went. This module holds
//! the plan and the state; the engine's runner acts on it, and requests
//! read it for `Cache-Control` and "next image expected at".
//!
//! Each spot runs on its own phase within its interval ([`plan`]); each run
//! fetches the spot once and draws every variant from that one fetch: the
//! configured `prerender` presets and the variants clients asked for
//! recently ([`demand`]).

pub mod demand;
pub mod plan;
mod state;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use demand::Demand;
pub use plan::SpotPlan;
pub use state::{Outcome, Run, SpotState, SpotStatus, Variant, Why};

use crate::config::{Config, OutputOptions};
use crate::render::Output;
use crate::request::Catalog;

/// What a run is assumed to take before one has been measured.
const FIRST_ESTIMATE: Duration = Duration::from_secs(5);

/// A spot whose run is this late (past its expected end) is not being
/// served by the schedule: requests refresh it themselves.
const OVERDUE: Duration = Duration::from_secs(120);

/// No run armed.
const NONE: i64 = i64::MIN;

/// The schedule of every configured spot.
pub struct Schedule {
    plans: Vec<SpotPlan>,
    /// Per spot, the configured variants and why each is there.
    prerender: Vec<Vec<(Output, Why)>>,
    states: Vec<Mutex<SpotState>>,
    /// Per spot, the armed run in milliseconds since the epoch ([`NONE`]):
    /// read by every request, so kept out of the lock.
    next: Vec<AtomicI64>,
    /// Per spot, how long its last run took, in milliseconds.
    took: Vec<AtomicU64>,
    /// The variants clients asked for.
    pub demand: Demand,
    /// Whether the runner is running; requests refresh spots themselves
    /// when it is not.
    alive: AtomicBool,
    /// Whether start-up runs what is due at once.
    eager: bool,
}

impl Schedule {
    /// The schedule of `config`, whose presets `catalog` resolves.
    pub fn new(config: &Config, catalog: &Catalog) -> Self {
        let n = config.spots.len();
        let prerender = (0..n).map(|i| configured(config, catalog, i)).collect();
        Self {
            plans: (0..n).map(|i| SpotPlan::new(config, i)).collect(),
            prerender,
            states: (0..n).map(|_| Mutex::default()).collect(),
            next: (0..n).map(|_| AtomicI64::new(NONE)).collect(),
            took: (0..n).map(|_| AtomicU64::new(0)).collect(),
            demand: Demand::new(config.schedule.max_requested, config.schedule.idle),
            alive: AtomicBool::new(false),
            eager: config.schedule.startup,
        }
    }

    /// How many spots it plans.
    pub fn len(&self) -> usize {
        self.plans.len()
    }

    /// Whether it plans no spot.
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }

    /// The plan of the spot at `index`.
    pub fn plan(&self, index: usize) -> &SpotPlan {
        &self.plans[index]
    }

    /// Whether start-up runs what is due at once.
    pub fn eager(&self) -> bool {
        self.eager
    }

    /// The variants a run of the spot at `index` draws at `now`: the
    /// configured ones, then those asked for recently.
    pub fn variants(&self, index: usize, now: DateTime<Utc>) -> Vec<Variant> {
        let mut out: Vec<Variant> = self.prerender[index]
            .iter()
            .map(|(output, why)| Variant {
                output: *output,
                why: why.clone(),
            })
            .collect();
        for (output, asked_at) in self.demand.of_spot(index, now) {
            if !out.iter().any(|v| v.output == output) {
                let why = Why::Requested { asked_at };
                out.push(Variant { output, why });
            }
        }
        out
    }

    /// Notes a request for `output` of the spot at `index` at `now`, so a
    /// variant not configured joins the schedule; returns whether runs draw
    /// it. Runs on every request: one lookup for a listed variant.
    pub fn note(&self, index: usize, output: &Output, now: DateTime<Utc>) -> bool {
        self.prerender[index].iter().any(|(o, _)| o == output)
            || self.demand.note(index, *output, now)
    }

    /// Whether runs of the spot at `index` draw `output` already, without
    /// noting a request for it (a preview's look).
    pub fn covers(&self, index: usize, output: &Output) -> bool {
        self.prerender[index].iter().any(|(o, _)| o == output)
            || self.demand.contains(index, output)
    }

    /// Marks the runner as running or not; requests refresh spots
    /// themselves while it is not.
    pub fn set_alive(&self, alive: bool) {
        self.alive.store(alive, Ordering::Relaxed);
    }

    /// Whether the runner is running.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Arms the next run of the spot at `index` at `at`.
    pub fn arm(&self, index: usize, at: DateTime<Utc>) {
        self.next[index].store(at.timestamp_millis(), Ordering::Relaxed);
        self.state(index).next_run = Some(at);
    }

    /// The armed run of the spot at `index`.
    pub fn next_run(&self, index: usize) -> Option<DateTime<Utc>> {
        match self.next[index].load(Ordering::Relaxed) {
            NONE => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    /// What a run of the spot at `index` takes: its last one, or an
    /// estimate before the first.
    pub fn run_time(&self, index: usize) -> Duration {
        match self.took[index].load(Ordering::Relaxed) {
            0 => FIRST_ESTIMATE,
            ms => Duration::from_millis(ms),
        }
    }

    /// When the next image of the spot at `index` is expected: its next run
    /// plus what a run takes. `None` while the runner is not running.
    pub fn next_image_at(&self, index: usize) -> Option<DateTime<Utc>> {
        if !self.is_alive() {
            return None;
        }
        let took = chrono::Duration::from_std(self.run_time(index)).ok()?;
        Some(self.next_run(index)? + took)
    }

    /// How long a client should keep an image of the spot at `index` seen
    /// at `now`: until the next image is expected, at least a second.
    /// `None` when the schedule is not keeping the spot fresh: the runner
    /// is stopped, or so far past the expected image that it is stuck.
    pub fn keep_for(&self, index: usize, now: DateTime<Utc>) -> Option<Duration> {
        let expected = self.next_image_at(index)?;
        match (expected - now).to_std() {
            Ok(left) => Some(left.max(Duration::from_secs(1))),
            Err(_) => {
                ((now - expected).to_std().ok()? <= OVERDUE).then_some(Duration::from_secs(1))
            }
        }
    }

    /// Whether the spot at `index` is backing off after failed runs.
    pub fn is_backing_off(&self, index: usize) -> bool {
        self.state(index).failures > 0
    }

    /// Spots whose run is due at `now` and not running, in config order.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.next_run(i).is_some_and(|t| t <= now) && !self.state(i).running)
            .collect()
    }

    /// The earliest armed run of a spot not running.
    pub fn earliest(&self) -> Option<DateTime<Utc>> {
        (0..self.len())
            .filter(|&i| !self.state(i).running)
            .filter_map(|i| self.next_run(i))
            .min()
    }

    /// Marks the spot at `index` as running.
    pub fn begin(&self, index: usize) {
        self.state(index).running = true;
    }

    /// Records a finished `run` of the spot at `index` and arms the next
    /// one as its plan says; returns when that is.
    pub fn finish(&self, index: usize, run: Run, now: DateTime<Utc>) -> DateTime<Utc> {
        let plan = &self.plans[index];
        let took = u64::try_from(run.took.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.took[index].store(took, Ordering::Relaxed);
        let next = {
            let mut state = self.state(index);
            let next = state.record(run, plan, now);
            state.running = false;
            next
        };
        self.arm(index, jittered(next, now, plan.jitter));
        next
    }

    /// Arms the spot at `index` for its next slot, after another replica
    /// took this run: its renders are in the shared storage.
    pub fn ran_elsewhere(&self, index: usize, now: DateTime<Utc>) -> DateTime<Utc> {
        let plan = &self.plans[index];
        let next = plan.next_run(Some(now), now, true);
        {
            let mut state = self.state(index);
            state.running = false;
            state.last_elsewhere = Some(now);
        }
        self.arm(index, jittered(next, now, plan.jitter));
        next
    }

    /// What the status page shows of the spot at `index` at `now`.
    pub fn status(&self, index: usize, now: DateTime<Utc>) -> SpotStatus {
        let state = self.state(index).clone();
        let variants = self.variants(index, now);
        SpotStatus::new(state, &self.plans[index], variants, now)
    }

    fn state(&self, index: usize) -> std::sync::MutexGuard<'_, SpotState> {
        self.states[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// When the oldest data behind a spot's stored variants was fetched, from
/// each variant's stored `(data_at, partial)`: `None` when one has no
/// render or one made of partial data, so the spot is due.
pub fn oldest_data(
    stored: impl IntoIterator<Item = Option<(DateTime<Utc>, bool)>>,
) -> Option<DateTime<Utc>> {
    let mut oldest: Option<DateTime<Utc>> = None;
    for entry in stored {
        let (data_at, false) = entry? else {
            return None;
        };
        oldest = Some(oldest.map_or(data_at, |o| o.min(data_at)));
    }
    oldest
}

/// The spot's `prerender` presets, or its own output when it names none.
fn configured(config: &Config, catalog: &Catalog, index: usize) -> Vec<(Output, Why)> {
    let spot = &config.spots[index];
    let none = OutputOptions::default();
    if spot.prerender.is_empty() {
        return catalog
            .request(index, None, &none)
            .map(|r| vec![(r.output, Why::Default)])
            .unwrap_or_default();
    }
    let mut out: Vec<(Output, Why)> = Vec::new();
    for name in &spot.prerender {
        // Names were checked at load; one that no longer resolves is skipped.
        if let Ok(r) = catalog.request(index, Some(name), &none)
            && !out.iter().any(|(o, _)| *o == r.output)
        {
            out.push((r.output, Why::Preset(name.clone())));
        }
    }
    out
}

/// `planned`, moved earlier by a random part of `jitter`, never before `now`.
fn jittered(planned: DateTime<Utc>, now: DateTime<Utc>, jitter: Duration) -> DateTime<Utc> {
    if jitter.is_zero() {
        return planned;
    }
    let ms = rand::random_range(0..jitter.as_millis().max(1) as i64);
    (planned - chrono::Duration::milliseconds(ms)).max(now)
}
