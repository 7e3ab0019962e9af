//! The state `/metrics` shows as gauges, read when it is scraped: the
//! render queue and the cache layers from the engine, whether each service
//! answers, and each device's last call and battery.

use super::App;
use crate::coord::LinkState;
use crate::flight::Stage;
use crate::metrics::{BrowserGauges, DeviceGauges, Gauges, HistoryGauges, labels};

/// The gauges of `app` now.
pub async fn gauges(app: &App) -> Gauges {
    let engine = &app.engine;
    let jobs = engine.render_jobs();
    let queued = jobs.iter().filter(|j| j.stage == Stage::Queued).count();
    let usage = engine.store().usage().await;
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Gauges {
        queued: queued as i64,
        in_flight: (jobs.len() - queued) as i64,
        memory: (as_i64(usage.memory_entries), as_i64(usage.memory_bytes)),
        disk: (as_i64(usage.stored_entries), as_i64(usage.stored_bytes)),
        services: services_up(app).await,
        pending_writes: as_i64(engine.store().pending_writes() as u64),
        devices: device_gauges(app).await,
        firmware: app.firmware.as_ref().map(|f| f.counts()),
        history: history_gauges(app).await,
        browser: browser_gauges(app),
    }
}

fn browser_gauges(app: &App) -> BrowserGauges {
    let status = app.browser.status();
    let mut shots = vec![("ok".to_string(), status.shots_ok)];
    shots.extend(status.shots_failed);
    BrowserGauges {
        shots,
        shot_seconds: status.shot_seconds,
        restarts: status.restarts,
        pages_open: status.pages_open as i64,
        memory: status
            .memory_bytes
            .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
    }
}

async fn history_gauges(app: &App) -> Option<HistoryGauges> {
    let kept = app.history.as_ref()?.summary().await;
    Some(HistoryGauges {
        written: kept.written,
        dropped: kept.dropped,
        rollup_runs: kept.rollup_runs,
        samples: kept.samples,
        hours: kept.hours,
        bytes: i64::try_from(kept.bytes).unwrap_or(i64::MAX),
    })
}

/// Whether each service this replica uses answers: its storage, its
/// database, and Redis when replicas coordinate.
async fn services_up(app: &App) -> Vec<(&'static str, bool)> {
    let database = match &app.database {
        Some(pool) => crate::db::ping(pool).await.is_ok(),
        None => false,
    };
    let storage = app.engine.store().health().ok;
    let mut up = vec![("storage", storage), ("database", database)];
    let coordination = app.engine.coordination();
    if coordination.state != LinkState::Off {
        up.push(("coordination", coordination.state == LinkState::Connected));
    }
    up
}

async fn device_gauges(app: &App) -> Vec<(labels::Device, DeviceGauges)> {
    let Some(registry) = &app.devices else {
        return Vec::new();
    };
    let list = registry.list().await.unwrap_or_default();
    let configured = app.config().devices.list();
    let attempts = app.config().trmnl.update_attempts;
    list.into_iter()
        .map(|d| {
            let name = configured.iter().find(|c| c.mac == d.mac);
            let labels = labels::Device {
                device: d.friendly_id.clone(),
                name: name.and_then(|c| c.name.clone()).unwrap_or_default(),
            };
            let last_seen = d.last_seen_at.map(|t| t.timestamp());
            let gauges = DeviceGauges {
                last_seen,
                volts: d.battery_voltage,
                percent: d.battery_percent,
                rssi: d.rssi,
                firmware_failures: d.firmware_update.failures,
                firmware_held: d.firmware_update.held(attempts).is_some(),
            };
            (labels, gauges)
        })
        .collect()
}
