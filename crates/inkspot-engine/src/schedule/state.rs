//! What the schedule remembers of each spot: its runs, failures in a row
//! and next run; and the snapshot of it that status pages show.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::SpotPlan;
use crate::render::Output;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every source answered and every variant was drawn.
    Ok,
    /// Some sources or variants failed; what could be drawn was stored.
    Partial,
    /// Nothing could be fetched or drawn; the old renders stay.
    Failed,
    /// The render queue was full; tried again shortly.
    Busy,
}

/// One run of a spot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// When it started.
    pub started: DateTime<Utc>,
    /// How long it took (wall time).
    #[serde(
        rename = "took_ms",
        serialize_with = "millis",
        deserialize_with = "from_millis"
    )]
    pub took: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// What failed, when something did.
    pub error: Option<String>,
    /// Body bytes received from the spot's upstreams.
    pub upstream_bytes: u64,
    /// Variants drawn and stored with new bytes.
    pub drawn: usize,
    /// Variants drawn whose bytes had not changed.
    pub unchanged: usize,
    /// When the data it drew was fetched.
    pub data_at: Option<DateTime<Utc>>,
}

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// Why a variant is drawn on every run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// The spot's own output (no `prerender` configured).
    Default,
    /// A preset named in `prerender`.
    Preset(String),
    /// A client asked for it; it stays until idle.
    Requested {
        /// When it was last asked for.
        asked_at: DateTime<Utc>,
    },
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Why::Default => f.write_str("the spot's own output"),
            Why::Preset(name) => write!(f, "prerender preset `{name}`"),
            Why::Requested { asked_at } => {
                write!(
                    f,
                    "requested, last at {}",
                    asked_at.format("%Y-%m-%d %H:%M UTC")
                )
            }
        }
    }
}

/// A variant a run draws, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The output.
    pub output: Output,
    /// Why it is drawn.
    pub why: Why,
}

/// The state of one spot's schedule.
#[derive(Debug, Clone, Default)]
pub struct SpotState {
    /// The armed run.
    pub next_run: Option<DateTime<Utc>>,
    /// Whether a run is in progress.
    pub running: bool,
    /// Runs since start-up.
    pub runs: u64,
    /// Failed (or partial) runs in a row; the backoff grows with them.
    pub failures: u32,
    /// The last run.
    pub last: Option<Run>,
    /// When the last run that ended `ok` started.
    pub last_success: Option<DateTime<Utc>>,
    /// When this replica last left a run to another replica, which held
    /// the spot's turn.
    pub last_elsewhere: Option<DateTime<Utc>>,
}

impl SpotState {
    /// Records `run`, finished at `now`, and returns when the next run is
    /// due by `plan`: on the spot's phase after a success, backing off after
    /// a failure, shortly after a full queue.
    pub fn record(&mut self, run: Run, plan: &SpotPlan, now: DateTime<Utc>) -> DateTime<Utc> {
        self.runs += 1;
        let next = match run.outcome {
            Outcome::Ok => {
                self.failures = 0;
                self.last_success = Some(run.started);
                plan.next_run(run.data_at, now, true)
            }
            Outcome::Partial | Outcome::Failed => {
                self.failures += 1;
                plan.after_failure(self.failures, now)
            }
            Outcome::Busy => plan.window_opens(now + chrono::Duration::seconds(30)),
        };
        self.last = Some(run);
        next
    }
}

/// A spot's schedule as the status page shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpotStatus {
    /// Seconds between runs.
    pub refresh_seconds: u64,
    /// `active_hours` as configured.
    pub active_hours: Option<String>,
    /// Whether now is inside them.
    pub active: bool,
    /// The next run.
    pub next_run: Option<DateTime<Utc>>,
    /// Whether a run is in progress.
    pub running: bool,
    /// Runs since start-up.
    pub runs: u64,
    /// Failed runs in a row.
    pub failures: u32,
    /// Whether the spot is backing off after failures.
    pub backing_off: bool,
    /// The last run.
    pub last_run: Option<Run>,
    /// When the last fully successful run started.
    pub last_success: Option<DateTime<Utc>>,
    /// When this replica last left a run to another replica (its renders
    /// are in the shared storage; its record in that replica's status).
    pub last_run_elsewhere: Option<DateTime<Utc>>,
    /// What each run draws.
    pub variants: Vec<VariantStatus>,
}

/// One variant in a status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantStatus {
    /// The output as `/image` query parameters.
    pub output: String,
    /// Why it is drawn.
    pub why: String,
}

impl SpotStatus {
    /// The status of a spot in `state` under `plan`, drawing `variants`.
    pub fn new(
        state: SpotState,
        plan: &SpotPlan,
        variants: Vec<Variant>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            refresh_seconds: plan.refresh.as_secs(),
            active_hours: plan.hours.map(|h| h.to_string()),
            active: plan.is_active(now),
            next_run: state.next_run,
            running: state.running,
            runs: state.runs,
            failures: state.failures,
            backing_off: state.failures > 0,
            last_run: state.last,
            last_success: state.last_success,
            last_run_elsewhere: state.last_elsewhere,
            variants: variants
                .into_iter()
                .map(|v| VariantStatus {
                    output: v.output.to_query(),
                    why: v.why.to_string(),
                })
                .collect(),
        }
    }
}
