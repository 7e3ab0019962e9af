//! What `/status` and `inkspot status` show: the version and uptime, the
//! background tasks, storage against its limits, the render queue, the
//! job API's jobs, each spot's sources and schedule, each device's last
//! call, and the process's own load.

mod devices;
mod load;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::coord::CoordinationStatus;
use crate::engine::Engine;
use crate::flight::Stage;
use crate::jobs::{JobService, Tally};
use crate::schedule::SpotStatus;
use crate::supervisor::TaskState;
pub use devices::{DeviceHealth, FirmwareStatus};
pub use load::{Load, disk_free, process_load};

/// A device is overdue this long after the time it was told to call again.
pub const OVERDUE_AFTER: chrono::Duration = chrono::Duration::minutes(5);

/// Whether the service has all it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Every service it uses answers.
    Ok,
    /// A shared service is away and the replica makes do without it.
    Degraded,
}

/// A source as its spot's last fetch found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    /// It answered.
    Ok,
    /// It failed, as `error` says.
    Failed,
    /// Not fetched yet.
    Unknown,
}

/// The whole status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// The version running.
    pub version: String,
    /// When the service started.
    pub started_at: DateTime<Utc>,
    /// Seconds since then.
    pub uptime_seconds: i64,
    /// Whether it can serve (what `/readyz` says).
    pub ready: bool,
    /// `ok`, or `degraded` while a shared service is away and the replica
    /// makes do without it.
    pub state: ServiceState,
    /// What is degraded, and how the replica makes do.
    pub degraded: Vec<String>,
    /// What needs the operator although the service runs: a template that
    /// fails on its spot's data, a device that can show none of its items.
    pub problems: Vec<String>,
    /// How this replica shares work with others.
    pub coordination: CoordinationStatus,
    /// Each background task and its state.
    pub tasks: BTreeMap<String, TaskState>,
    /// Storage against its limits.
    pub storage: Storage,
    /// Render jobs.
    pub renders: Renders,
    /// The job API's jobs, when it is on (with `[[api_keys]]`).
    pub jobs: Option<Jobs>,
    /// The process's CPU and memory.
    pub load: Load,
    /// Each spot, in config order.
    pub spots: Vec<SpotHealth>,
    /// Each device that has joined.
    pub devices: Vec<DeviceHealth>,
    /// The history of fetched values: rows and bytes kept, samples written
    /// and dropped, and per spot slug its newest sample; `None` when it is
    /// not kept.
    #[serde(default)]
    pub history: Option<crate::history::Kept>,
    /// The browser: its state, version, memory, open pages and pictures.
    #[serde(default)]
    pub browser: Option<crate::browser::BrowserStatus>,
    /// The firmware images devices are offered, with counts; `None`
    /// without `trmnl.firmware_dir`.
    #[serde(default)]
    pub firmware: Option<FirmwareStatus>,
}

/// The job API's jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Jobs {
    /// How many are in each state.
    #[serde(flatten)]
    pub tally: Tally,
    /// Renders jobs may have in flight at once (`jobs.concurrency`).
    pub concurrency: usize,
    /// Why the jobs cannot be counted now, such as the database being
    /// away.
    pub error: Option<String>,
}

/// Storage: the memory layer and the backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Storage {
    /// The backend, such as `disk`.
    pub backend: String,
    /// Whether its last operation worked.
    pub ok: bool,
    /// Its last failure, while not ok.
    pub error: Option<String>,
    /// Renders whose write failed, waiting to be written again.
    pub pending_writes: usize,
    /// The memory layer.
    pub memory: Layer,
    /// The backend.
    pub disk: Layer,
}

/// One storage layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layer {
    /// Renders held.
    pub entries: u64,
    /// Their bytes.
    pub bytes: u64,
    /// The most bytes it may hold.
    pub limit_bytes: u64,
    /// Bytes free on the disk under it, for the disk layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
}

/// The render jobs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Renders {
    /// Waiting for a render thread.
    pub queued: usize,
    /// Fetching or drawing.
    pub in_flight: usize,
    /// Jobs that may wait or run at once (`server.render_queue`).
    pub queue_limit: usize,
    /// Drawings at once (`server.render_concurrency`).
    pub concurrency: usize,
}

/// One spot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpotHealth {
    /// Its name.
    pub name: String,
    /// Its slug, for `/image?spot=`.
    pub slug: String,
    /// When its sources were last fetched, by request or schedule.
    pub last_fetch_at: Option<DateTime<Utc>>,
    /// Its newest stored render.
    pub last_render_at: Option<DateTime<Utc>>,
    /// What went wrong in the last fetch, if anything.
    pub error: Option<String>,
    /// Each source as the last fetch found it.
    pub sources: Vec<SourceHealth>,
    /// When its next image is expected.
    pub next_image_at: Option<DateTime<Utc>>,
    /// Its schedule, when the scheduler is on.
    pub schedule: Option<SpotStatus>,
    /// Its template failing on its data (file, line, reason); its last
    /// good image is served meanwhile.
    pub template_error: Option<String>,
}

/// One source of a spot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceHealth {
    /// Its id.
    pub id: String,
    /// How the last fetch found it.
    pub state: SourceState,
    /// Why it failed.
    pub error: Option<String>,
}

/// Whether `engine` can serve now, or why not: its own disk storage is
/// unusable, or it is shutting down. `/readyz` answers with this. Shared
/// services being away (S3, Redis, PostgreSQL) degrade a replica but leave
/// it ready: every replica shares the outage, and each still serves.
pub fn readiness(app: &App) -> Result<(), String> {
    if app.supervisor.is_stopping() {
        return Err("shutting down".into());
    }
    let health = app.engine.store().health();
    if !health.ok && !health.shared {
        let error = health.error.unwrap_or_default();
        let backend = health.backend;
        return Err(format!(
            "not ready: the {backend} storage is unusable: {error}"
        ));
    }
    Ok(())
}

/// The status of `app` now, with its jobs when the job API is on.
pub async fn collect(app: &App) -> Status {
    let engine = &app.engine;
    let now = engine.clock().now();
    let started_at = app.started_at();
    let health = engine.store().health();
    let usage = engine.store().usage().await;
    let cache = &engine.config().cache;
    let jobs = engine.render_jobs();
    let queued = jobs.iter().filter(|j| j.stage == Stage::Queued).count();
    let tasks = app.supervisor.tasks();
    let coordination = engine.coordination();
    let degraded = degraded(app, &health, &coordination).await;
    let spots = spots(engine).await;
    let devices = devices::devices(app, now).await;
    let history = match &app.history {
        Some(keeper) => Some(keeper.summary().await),
        None => None,
    };
    Status {
        history,
        browser: Some(app.browser.status()),
        firmware: devices::firmware(app),
        problems: problems(&spots, &devices),
        state: if degraded.is_empty() {
            ServiceState::Ok
        } else {
            ServiceState::Degraded
        },
        degraded,
        coordination,
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        uptime_seconds: i64::try_from(app.uptime().as_secs()).unwrap_or(i64::MAX),
        ready: readiness(app).is_ok(),
        tasks: tasks
            .into_iter()
            .map(|(name, state)| (name.to_string(), state))
            .collect(),
        storage: Storage {
            backend: health.backend.to_string(),
            ok: health.ok,
            error: health.error,
            pending_writes: engine.store().pending_writes(),
            memory: Layer {
                entries: usage.memory_entries,
                bytes: usage.memory_bytes,
                limit_bytes: cache.memory.as_u64(),
                free_bytes: None,
            },
            disk: Layer {
                entries: usage.stored_entries,
                bytes: usage.stored_bytes,
                limit_bytes: cache.max_disk.as_u64(),
                free_bytes: disk_free(&engine.config().cache_dir()),
            },
        },
        renders: Renders {
            queued,
            in_flight: jobs.len() - queued,
            queue_limit: engine.config().server.render_queue,
            concurrency: engine.config().server.render_concurrency(),
        },
        jobs: match &app.jobs {
            Some(service) => Some(job_status(engine, service).await),
            None => None,
        },
        load: process_load(),
        spots,
        devices,
    }
}

/// The spots' template errors and the devices' troubles, one line each.
fn problems(spots: &[SpotHealth], devices: &[DeviceHealth]) -> Vec<String> {
    let templates = spots.iter().filter_map(|s| {
        let error = s.template_error.as_ref()?;
        Some(format!(
            "spot {}: {error}; its last good image is served",
            s.name
        ))
    });
    let troubles = devices.iter().filter_map(|d| {
        let trouble = d.trouble.as_ref()?;
        let name = d.name.as_deref().unwrap_or(&d.friendly_id);
        Some(format!("device {name}: {trouble}"))
    });
    let held = devices.iter().filter_map(|d| {
        let name = d.name.as_deref().unwrap_or(&d.friendly_id);
        Some(format!("device {name}: {}", d.held_message()?))
    });
    templates.chain(troubles).chain(held).collect()
}

/// The jobs of `service`, or why they cannot be counted.
async fn job_status(engine: &Engine, service: &JobService) -> Jobs {
    let (tally, error) = match service.tally().await {
        Ok(tally) => (tally, None),
        Err(e) => (Tally::default(), Some(e.to_string())),
    };
    Jobs {
        tally,
        concurrency: engine.config().jobs.concurrency,
        error,
    }
}

/// What is away, and how the replica makes do without it.
async fn degraded(
    app: &App,
    health: &crate::store::Health,
    coordination: &CoordinationStatus,
) -> Vec<String> {
    let mut out = Vec::new();
    if !health.ok && health.shared {
        let error = health.error.as_deref().unwrap_or_default();
        out.push(format!(
            "storage ({}): {error}; serving renders from memory and retrying writes",
            health.backend
        ));
    }
    if coordination.since.is_some() {
        let error = coordination.error.as_deref().unwrap_or_default();
        out.push(format!(
            "coordination: Redis is unreachable ({error}); this replica works alone"
        ));
    }
    match &app.database {
        None => {
            out.push("database: it could not be opened; devices are told to come back later".into())
        }
        Some(pool) => {
            if let Err(e) = crate::db::ping(pool).await {
                out.push(format!(
                    "database: {e}; devices are answered from their last known state"
                ));
            }
        }
    }
    out
}

async fn spots(engine: &Engine) -> Vec<SpotHealth> {
    let mut out = Vec::new();
    for (index, spot) in engine.catalog().spots().iter().enumerate() {
        let data = engine.last_data(&spot.slug()).await;
        let sources = spot
            .sources
            .iter()
            .map(|source| {
                let failure = data.as_ref().and_then(|d| {
                    d.errors
                        .iter()
                        .find(|e| e.source == source.id && e.field.is_none())
                });
                SourceHealth {
                    id: source.id.clone(),
                    state: match (&data, failure) {
                        (None, _) => SourceState::Unknown,
                        (Some(_), None) => SourceState::Ok,
                        (Some(_), Some(_)) => SourceState::Failed,
                    },
                    error: failure.map(|e| e.reason.clone()),
                }
            })
            .collect();
        out.push(SpotHealth {
            name: spot.name.clone(),
            slug: spot.slug(),
            last_fetch_at: data.as_ref().map(|d| d.fetched_at),
            last_render_at: engine.store().last_rendered(&spot.slug()).await,
            error: data
                .as_ref()
                .filter(|d| !d.errors.is_empty())
                .map(|d| d.problems()),
            sources,
            next_image_at: engine.next_image_at(index),
            schedule: engine.schedule_status(index),
            template_error: engine.template_problem(&spot.slug()).map(|p| p.error),
        });
    }
    out
}
