//! `inkspot status`: reads a running service's `/status` and prints it as
//! tables a person reads at a glance.

use std::fmt::Write as _;
use std::path::Path;

use bytesize::ByteSize;
use serde_json::Value;

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
    let status: Value = serde_json::from_slice(&body).map_err(|e| failed(e.to_string()))?;
    print!("{}", render(&status));
    Ok(())
}

fn size(v: &Value) -> String {
    ByteSize(v.as_u64().unwrap_or(0)).to_string()
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A time as `HH:MM:SS` when it is an RFC 3339 time, else as given.
fn time(v: &Value) -> String {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or_else(|| text(v), |t| t.format("%m-%d %H:%M:%S").to_string())
}

/// The status as text: a summary, then a table of spots and of devices.
pub fn render(s: &Value) -> String {
    let mut out = String::new();
    let up = s["uptime_seconds"].as_u64().unwrap_or(0);
    let ready = if s["ready"] == true {
        "ready"
    } else {
        "NOT READY"
    };
    let _ = writeln!(
        out,
        "inkspot {}, up {}h {:02}m, {ready}",
        text(&s["version"]),
        up / 3600,
        up / 60 % 60
    );
    let tasks: Vec<String> = s["tasks"]
        .as_object()
        .map(|t| t.iter().map(|(k, v)| format!("{k} {}", text(v))).collect())
        .unwrap_or_default();
    let _ = writeln!(out, "tasks: {}", tasks.join(", "));
    for reason in s["degraded"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "DEGRADED: {}", text(reason));
    }
    for problem in s["problems"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "PROBLEM: {}", text(problem));
    }
    if s["coordination"]["backend"] == "redis" {
        let _ = writeln!(
            out,
            "coordination: redis {}",
            text(&s["coordination"]["state"])
        );
    }
    let st = &s["storage"];
    let (mem, disk) = (&st["memory"], &st["disk"]);
    let free = disk["free_bytes"]
        .as_u64()
        .map(|f| format!(", {} free", ByteSize(f)))
        .unwrap_or_default();
    let health = if st["ok"] == true {
        "ok".to_string()
    } else {
        format!("FAILING: {}", text(&st["error"]))
    };
    let _ = writeln!(
        out,
        "storage: {} {health}; memory {} renders, {} of {}; disk {} renders, {} of {}{free}",
        text(&st["backend"]),
        text(&mem["entries"]),
        size(&mem["bytes"]),
        size(&mem["limit_bytes"]),
        text(&disk["entries"]),
        size(&disk["bytes"]),
        size(&disk["limit_bytes"]),
    );
    let r = &s["renders"];
    let _ = writeln!(
        out,
        "renders: {} queued, {} in flight (queue {}, {} at once); process: cpu {:.1}%, memory {}",
        text(&r["queued"]),
        text(&r["in_flight"]),
        text(&r["queue_limit"]),
        text(&r["concurrency"]),
        s["load"]["cpu_percent"].as_f64().unwrap_or(0.0),
        size(&s["load"]["memory_bytes"]),
    );
    if let Some(jobs) = s["jobs"].as_object() {
        let _ = writeln!(out, "{}", jobs_line(jobs));
    }
    out.push('\n');
    out.push_str(&table(
        &["SPOT", "LAST FETCH", "SOURCES", "NEXT IMAGE", "ERROR"],
        &spot_rows(s),
    ));
    let devices = device_rows(s);
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

fn spot_rows(s: &Value) -> Vec<Vec<String>> {
    let spots = s["spots"].as_array().cloned().unwrap_or_default();
    spots
        .iter()
        .map(|spot| {
            let sources: Vec<String> = spot["sources"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| format!("{} {}", text(&x["id"]), text(&x["state"])))
                        .collect()
                })
                .unwrap_or_default();
            vec![
                text(&spot["name"]),
                time(&spot["last_fetch_at"]),
                sources.join(", "),
                time(&spot["next_image_at"]),
                text(&spot["error"]),
            ]
        })
        .collect()
}

fn device_rows(s: &Value) -> Vec<Vec<String>> {
    let devices = s["devices"].as_array().cloned().unwrap_or_default();
    devices
        .iter()
        .map(|d| {
            let battery = match (d["battery_voltage"].as_f64(), d["battery_percent"].as_i64()) {
                (Some(v), Some(p)) => format!("{v:.2} V {p}%"),
                _ => "-".into(),
            };
            let image = match (d["image_bytes"].as_u64(), d["image_cap"].as_u64()) {
                (Some(b), Some(c)) => format!("{} of {}", ByteSize(b), ByteSize(c)),
                (Some(b), None) => ByteSize(b).to_string(),
                _ => "-".into(),
            };
            let mut state = Vec::new();
            if d["overdue"] == true {
                state.push("OVERDUE");
            }
            if d["over_cap"] == true {
                state.push("OVER CAP");
            }
            if state.is_empty() {
                state.push("ok");
            }
            vec![
                text(&d["friendly_id"]),
                text(&d["name"]),
                text(&d["model"]),
                time(&d["last_seen_at"]),
                battery,
                text(&d["rssi"]),
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
fn jobs_line(jobs: &serde_json::Map<String, Value>) -> String {
    if let Some(error) = jobs.get("error").and_then(Value::as_str) {
        return format!("jobs: CANNOT COUNT: {error}");
    }
    let n = |k: &str| jobs.get(k).map_or_else(|| "-".into(), text);
    let oldest = jobs
        .get("oldest_queued_at")
        .filter(|v| !v.is_null())
        .map(|v| format!(", oldest from {}", time(v)))
        .unwrap_or_default();
    format!(
        "jobs: {} queued{oldest}, {} running, {} done, {} failed, {} cancelled, {} expired ({} renders at once)",
        n("queued"),
        n("running"),
        n("done"),
        n("failed"),
        n("cancelled"),
        n("expired"),
        n("concurrency"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_reads_as_tables() {
        let status = serde_json::json!({
            "version": "1.2.3", "uptime_seconds": 7260, "ready": true,
            "tasks": {"scheduler": "running"},
            "storage": {"backend": "disk", "ok": true, "error": null,
                "memory": {"entries": 2, "bytes": 2048, "limit_bytes": 67108864},
                "disk": {"entries": 3, "bytes": 4096, "limit_bytes": 268435456, "free_bytes": 1073741824}},
            "renders": {"queued": 0, "in_flight": 1, "queue_limit": 32, "concurrency": 2},
            "load": {"cpu_percent": 1.5, "memory_bytes": 25000000},
            "spots": [{"name": "Linda Mar", "last_fetch_at": "2026-11-23T10:00:00Z",
                "sources": [{"id": "buoy", "state": "ok"}, {"id": "tide", "state": "failed"}],
                "next_image_at": null, "error": "tide: HTTP 500"}],
            "devices": [{"friendly_id": "ABC123", "name": "Kitchen", "model": "og",
                "last_seen_at": "2026-11-23T10:01:00+00:00", "battery_voltage": 4.05,
                "battery_percent": 92, "rssi": -63, "image_bytes": 21000, "image_cap": 90000,
                "overdue": true, "over_cap": false}]
        });
        let text = render(&status);
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
    }

    #[test]
    fn the_jobs_read_as_a_line() {
        let status = serde_json::json!({"jobs": {"queued": 2, "running": 1, "done": 5,
            "failed": 0, "cancelled": 1, "expired": 3,
            "oldest_queued_at": "2026-11-23T10:00:00Z", "concurrency": 2, "error": null}});
        let text = render(&status);
        assert!(
            text.contains("\njobs: 2 queued, oldest from 11-23 10:00:00, 1 running, 5 done, 0 failed, 1 cancelled, 3 expired (2 renders at once)\n"),
            "{text}"
        );
        let away = serde_json::json!({"jobs": {"error": "pool timed out"}});
        assert!(render(&away).contains("\njobs: CANNOT COUNT: pool timed out\n"));
    }

    #[test]
    fn a_degraded_replica_says_what_is_away() {
        let status = serde_json::json!({
            "version": "1.2.3", "uptime_seconds": 60, "ready": true, "state": "degraded",
            "degraded": ["coordination: Redis is unreachable (refused); this replica works alone"],
            "coordination": {"backend": "redis", "state": "unreachable"},
            "problems": ["device Porch: no playlist item can be drawn"],
        });
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
