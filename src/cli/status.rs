//! `inkspot status`: reads a running service's `/status` and prints it as
//! tables a person reads at a glance.

use std::fmt::Write as _;
use std::path::Path;

use bytesize::ByteSize;
use chrono::{DateTime, Utc};

use crate::coord::Backend;
use crate::status::{DeviceHealth, Jobs, SpotHealth, Status, Storage};

use super::CliError;

/// Fetches `url` (default: `/status` on the config's port) with the admin
/// `token` if given, and prints it.
pub async fn status(
    config_path: &Path,
    url: Option<&str>,
    token: Option<&str>,
) -> Result<(), CliError> {
    let url = super::endpoint(config_path, url, "/status")?;
    let token = super::admin_token(config_path, token);
    let failed = |reason: String| CliError::Health {
        url: url.clone(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let mut request = client.get(&url);
    if let Some(token) = &token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| failed(super::unreachable(&url, &e)))?;
    let code = response.status();
    if code == reqwest::StatusCode::UNAUTHORIZED {
        return Err(failed(
            "answered 401: give the admin token with --token or INKSPOT_ADMIN_TOKEN".into(),
        ));
    }
    if !code.is_success() {
        return Err(failed(format!("answered {code}")));
    }
    let body = response.bytes().await.map_err(|e| failed(e.to_string()))?;
    let status: Status = serde_json::from_slice(&body)
        .map_err(|e| failed(format!("answered what is not inkspot's status: {e}")))?;
    print!("{}", render(&status));
    Ok(())
}

fn size(bytes: u64) -> String {
    ByteSize(bytes).to_string()
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A time as `MM-DD HH:MM:SS`, or `-`.
fn time(t: Option<DateTime<Utc>>) -> String {
    or_dash(t.map(|t| t.format("%m-%d %H:%M:%S")))
}

/// The status as text: a summary, then a table of spots and of devices.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let up = s.uptime_seconds.max(0);
    let ready = if s.ready { "ready" } else { "NOT READY" };
    let _ = writeln!(
        out,
        "inkspot {}, up {}h {:02}m, {ready}",
        s.version,
        up / 3600,
        up / 60 % 60
    );
    let tasks: Vec<String> = s
        .tasks
        .iter()
        .map(|(name, state)| format!("{name} {}", format!("{state:?}").to_lowercase()))
        .collect();
    let _ = writeln!(out, "tasks: {}", tasks.join(", "));
    for reason in &s.degraded {
        let _ = writeln!(out, "DEGRADED: {reason}");
    }
    for problem in &s.problems {
        let _ = writeln!(out, "PROBLEM: {problem}");
    }
    if s.coordination.backend == Backend::Redis {
        let state = format!("{:?}", s.coordination.state).to_lowercase();
        let _ = writeln!(out, "coordination: redis {state}");
    }
    let _ = writeln!(out, "{}", storage_line(&s.storage));
    let r = &s.renders;
    let _ = writeln!(
        out,
        "renders: {} queued, {} in flight (queue {}, {} at once); process: cpu {:.1}%, memory {}",
        r.queued,
        r.in_flight,
        r.queue_limit,
        r.concurrency,
        s.load.cpu_percent,
        size(s.load.memory_bytes),
    );
    if let Some(h) = &s.history {
        let _ = writeln!(
            out,
            "history: {} samples, {} hourly rollups, {} of {}; {} written, {} dropped since start",
            h.samples,
            h.hours,
            size(h.bytes),
            size(h.max_bytes),
            h.written,
            h.dropped
        );
    }
    if let Some(jobs) = &s.jobs {
        let _ = writeln!(out, "{}", jobs_line(jobs));
    }
    out.push('\n');
    out.push_str(&table(
        &["SPOT", "LAST FETCH", "SOURCES", "NEXT IMAGE", "ERROR"],
        &spot_rows(&s.spots),
    ));
    let devices = device_rows(&s.devices);
    if !devices.is_empty() {
        out.push('\n');
        let head = [
            "DEVICE",
            "NAME",
            "MODEL",
            "LAST SEEN",
            "BATTERY",
            "RSSI",
            "IMAGE",
            "STATE",
        ];
        out.push_str(&table(&head, &devices));
    }
    out
}

/// The storage in a line: its health, and each layer against its limit.
fn storage_line(st: &Storage) -> String {
    let (mem, disk) = (&st.memory, &st.disk);
    let free = disk
        .free_bytes
        .map(|f| format!(", {} free", size(f)))
        .unwrap_or_default();
    let health = if st.ok {
        "ok".to_string()
    } else {
        format!("FAILING: {}", or_dash(st.error.as_deref()))
    };
    format!(
        "storage: {} {health}; memory {} renders, {} of {}; disk {} renders, {} of {}{free}",
        st.backend,
        mem.entries,
        size(mem.bytes),
        size(mem.limit_bytes),
        disk.entries,
        size(disk.bytes),
        size(disk.limit_bytes),
    )
}

fn spot_rows(spots: &[SpotHealth]) -> Vec<Vec<String>> {
    spots
        .iter()
        .map(|spot| {
            let sources: Vec<String> = spot
                .sources
                .iter()
                .map(|x| format!("{} {}", x.id, format!("{:?}", x.state).to_lowercase()))
                .collect();
            vec![
                spot.name.clone(),
                time(spot.last_fetch_at),
                sources.join(", "),
                time(spot.next_image_at),
                or_dash(spot.error.as_deref()),
            ]
        })
        .collect()
}

fn device_rows(devices: &[DeviceHealth]) -> Vec<Vec<String>> {
    devices
        .iter()
        .map(|d| {
            let battery = match (d.battery_voltage, d.battery_percent) {
                (Some(v), Some(p)) => format!("{v:.2} V {p}%"),
                _ => "-".into(),
            };
            let bytes = |n: i64| size(u64::try_from(n).unwrap_or(0));
            let image = match (d.image_bytes, d.image_cap) {
                (Some(b), Some(c)) => format!("{} of {}", bytes(b), bytes(c)),
                (Some(b), None) => bytes(b),
                _ => "-".into(),
            };
            let mut state = Vec::new();
            if d.overdue {
                state.push("OVERDUE");
            }
            if d.over_cap {
                state.push("OVER CAP");
            }
            if state.is_empty() {
                state.push("ok");
            }
            vec![
                d.friendly_id.clone(),
                or_dash(d.name.as_deref()),
                or_dash(d.model.as_deref()),
                time(d.last_seen_at),
                battery,
                or_dash(d.rssi),
                image,
                state.join(", "),
            ]
        })
        .collect()
}

/// Columns padded to their widest cell.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(head.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// The job API's jobs in a line: how many in each state, since when the
/// oldest queued one waits, or why they cannot be counted.
fn jobs_line(jobs: &Jobs) -> String {
    if let Some(error) = &jobs.error {
        return format!("jobs: CANNOT COUNT: {error}");
    }
    let t = &jobs.tally;
    let oldest = t
        .oldest_queued_at
        .map(|at| format!(", oldest from {}", time(Some(at))))
        .unwrap_or_default();
    format!(
        "jobs: {} queued{oldest}, {} running, {} done, {} failed, {} cancelled, {} expired ({} renders at once)",
        t.queued, t.running, t.done, t.failed, t.cancelled, t.expired, jobs.concurrency,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status as a replica's `/status` writes it.
    fn sample() -> Status {
        let json = serde_json::json!({
            "version": "1.2.3", "started_at": "2026-11-23T08:00:00Z",
            "uptime_seconds": 7260, "ready": true, "state": "ok",
            "degraded": [], "problems": [],
            "coordination": {"backend": "none", "state": "off", "since": null, "error": null},
            "tasks": {"scheduler": "running"},
            "storage": {"backend": "disk", "ok": true, "error": null, "pending_writes": 0,
                "memory": {"entries": 2, "bytes": 2048, "limit_bytes": 67108864},
                "disk": {"entries": 3, "bytes": 4096, "limit_bytes": 268435456, "free_bytes": 1073741824}},
            "renders": {"queued": 0, "in_flight": 1, "queue_limit": 32, "concurrency": 2},
            "jobs": null,
            "load": {"cpu_percent": 1.5, "memory_bytes": 25000000},
            "spots": [{"name": "Linda Mar", "slug": "linda-mar",
                "last_fetch_at": "2026-11-23T10:00:00Z", "last_render_at": null,
                "sources": [{"id": "buoy", "state": "ok", "error": null},
                    {"id": "tide", "state": "failed", "error": "HTTP 500"}],
                "next_image_at": null, "schedule": null, "template_error": null,
                "error": "tide: HTTP 500"}],
            "devices": [{"friendly_id": "ABC123", "name": "Kitchen", "mac": "AA:BB:CC:DD:EE:FF",
                "model": "og", "firmware": "1.8.1",
                "last_seen_at": "2026-11-23T10:01:00+00:00", "expected_at": null,
                "battery_voltage": 4.05, "battery_percent": 92, "rssi": -63,
                "image_bytes": 21000, "image_cap": 90000,
                "overdue": true, "over_cap": false, "trouble": null}]
        });
        serde_json::from_value(json).expect("a status as /status writes it")
    }

    #[test]
    fn the_status_reads_as_tables() {
        let text = render(&sample());
        assert!(
            text.starts_with("inkspot 1.2.3, up 2h 01m, ready\n"),
            "{text}"
        );
        assert!(
            text.contains("disk 3 renders, 4.0 KiB of 256.0 MiB, 1.0 GiB free"),
            "{text}"
        );
        assert!(!text.contains("DEGRADED"), "{text}");
        assert!(text.contains("buoy ok, tide failed"), "{text}");
        assert!(text.contains("tide: HTTP 500"), "{text}");
        let device = text.lines().find(|l| l.starts_with("ABC123")).unwrap();
        assert!(device.contains("4.05 V 92%"), "{device}");
        assert!(device.ends_with("OVERDUE"), "{device}");
        assert!(!text.contains("jobs:"), "no job API, no line: {text}");
        assert!(!text.contains("coordination:"), "alone, no line: {text}");
    }

    #[test]
    fn the_jobs_read_as_a_line() {
        let mut status = sample();
        status.jobs = serde_json::from_value(serde_json::json!({"queued": 2, "running": 1,
            "done": 5, "failed": 0, "cancelled": 1, "expired": 3,
            "oldest_queued_at": "2026-11-23T10:00:00Z", "concurrency": 2, "error": null}))
        .unwrap();
        let text = render(&status);
        assert!(
            text.contains("\njobs: 2 queued, oldest from 11-23 10:00:00, 1 running, 5 done, 0 failed, 1 cancelled, 3 expired (2 renders at once)\n"),
            "{text}"
        );
        let jobs = status.jobs.as_mut().unwrap();
        jobs.error = Some("pool timed out".into());
        assert!(render(&status).contains("\njobs: CANNOT COUNT: pool timed out\n"));
    }

    #[test]
    fn a_degraded_replica_says_what_is_away() {
        let mut status = sample();
        status.state = crate::status::ServiceState::Degraded;
        status.degraded =
            vec!["coordination: Redis is unreachable (refused); this replica works alone".into()];
        status.coordination.backend = Backend::Redis;
        status.coordination.state = crate::coord::LinkState::Unreachable;
        status.problems = vec!["device Porch: no playlist item can be drawn".into()];
        let text = render(&status);
        assert!(
            text.contains("\nPROBLEM: device Porch: no playlist item can be drawn\n"),
            "{text}"
        );
        assert!(
            text.contains("\nDEGRADED: coordination: Redis is unreachable (refused)"),
            "{text}"
        );
        assert!(
            text.contains("\ncoordination: redis unreachable\n"),
            "{text}"
        );
    }
}
