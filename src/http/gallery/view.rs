//! What the gallery page shows of each spot and device, as the page's
//! template reads it: states in words, times in one form (UTC, and how
//! long ago or ahead).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::devices::models::Panel;
use crate::engine::{Engine, Look};
use crate::status::{DeviceHealth, SourceState, SpotHealth};

/// One spot as the page shows it.
#[derive(Serialize)]
pub(super) struct SpotView {
    name: String,
    slug: String,
    /// `ok`, `partial`, `failed` (every source, or the template), `waiting`.
    state: &'static str,
    /// Its data in words: when it came, or why there is none.
    data: String,
    /// When the next image is expected, in words.
    next_image: String,
    failing: Vec<Failing>,
    template_error: Option<String>,
    panel: PanelView,
    presets: Vec<PresetView>,
    /// Each numeric field's last day.
    history: Vec<super::history::FieldView>,
}

#[derive(Serialize)]
struct Failing {
    id: String,
    error: String,
}

#[derive(Serialize)]
struct PanelView {
    url: String,
    image: String,
    width: u32,
    height: u32,
    bytes: Option<usize>,
    cap: Option<u32>,
    over: bool,
    /// What the panel's image is when there are no bytes to count.
    note: &'static str,
}

#[derive(Serialize)]
struct PresetView {
    name: String,
    url: String,
    absolute: String,
}

/// `t` as the page writes every time: `2026-12-06 20:57 UTC`.
pub(super) fn short(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How far `t` is from `now`, in at most two units: `3m 12s`.
fn span(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().unsigned_abs();
    let text = humantime::format_duration(std::time::Duration::from_secs(secs)).to_string();
    text.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// `t` and how long ago it was.
fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    format!("{} ({} ago)", short(t), span(t, now))
}

/// The spot's data in words, and its state. Only data that came is dated:
/// a fetch that failed everywhere is no data however recent.
fn data_state(spot: &SpotHealth, now: DateTime<Utc>) -> (&'static str, String) {
    let failed = spot
        .sources
        .iter()
        .filter(|s| s.state == SourceState::Failed)
        .count();
    let Some(at) = spot.last_fetch_at else {
        return ("waiting", "not fetched yet".to_string());
    };
    if failed == spot.sources.len() && failed > 0 {
        return (
            "failed",
            format!("no data: every source failed at {}", ago(at, now)),
        );
    }
    let state = if failed > 0 { "partial" } else { "ok" };
    (state, format!("data from {}", ago(at, now)))
}

/// When the next image comes, in words; a time already past is due.
fn next_image(at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match at {
        None => "drawn when asked for".to_string(),
        Some(at) if at <= now => "due now".to_string(),
        Some(at) => format!("{} (in {})", short(at), span(at, now)),
    }
}

/// The spot at `index` with its health `spot`, its panel as `panel` shows
/// it, and each preset's address under `base`.
pub(super) async fn spot_view(
    engine: &Arc<Engine>,
    index: usize,
    spot: &SpotHealth,
    panel: &Panel,
    base: &str,
    recent: Option<&crate::history::Recent>,
) -> SpotView {
    let now = engine.clock().now();
    let request = super::panel_request(engine, index, panel);
    let look = match &request {
        Some(r) => engine.look(r).await,
        None => Look::Preparing,
    };
    let (served, note) = match look {
        Look::Ready(served) => (Some(served), ""),
        Look::Preparing => (None, "being drawn"),
        Look::Failed(_) => (None, "the error picture: no image could be drawn"),
    };
    let bytes = served.as_ref().map(|s| s.rendered.bytes.len());
    let cap = request.as_ref().and_then(|r| r.output.max_bytes);
    let slug = &spot.slug;
    let extra = panel.bits.map(|b| format!("&bits={b}")).unwrap_or_default();
    let image = format!("{base}/image?spot={slug}&device={}{extra}", panel.preset);
    let version = served
        .as_ref()
        .map(|s| s.rendered.meta.checksum.hex()[..12].to_string())
        .unwrap_or_default();
    let (mut state, data) = data_state(spot, now);
    if spot.template_error.is_some() {
        state = "failed";
    }
    let history = match (recent, engine.catalog().spots().get(index)) {
        (Some(recent), Some(config)) => super::history::fields(config, recent, now.timestamp()),
        _ => Vec::new(),
    };
    SpotView {
        history,
        name: spot.name.clone(),
        slug: slug.clone(),
        state,
        data,
        next_image: next_image(spot.next_image_at, now),
        failing: spot
            .sources
            .iter()
            .filter(|s| s.state == SourceState::Failed)
            .map(|s| Failing {
                id: s.id.clone(),
                error: s.error.clone().unwrap_or_default(),
            })
            .collect(),
        template_error: spot.template_error.clone(),
        panel: PanelView {
            url: format!("/preview?spot={slug}&model={}&v={version}", panel.model),
            image,
            width: request.as_ref().map_or(0, |r| r.output.width),
            height: request.as_ref().map_or(0, |r| r.output.height),
            bytes,
            cap,
            over: matches!((bytes, cap), (Some(b), Some(c)) if b > c as usize),
            note,
        },
        presets: presets(engine, slug, base),
    }
}

/// Each preset's picture (a look) and the address a device would use.
fn presets(engine: &Engine, slug: &str, base: &str) -> Vec<PresetView> {
    engine
        .catalog()
        .preset_names()
        .into_iter()
        .map(|name| {
            let url = format!("/image?spot={slug}&device={name}");
            PresetView {
                name: name.to_string(),
                absolute: format!("{base}{url}"),
                url: format!("{url}&preview=1"),
            }
        })
        .collect()
}

/// One device as the page shows it.
#[derive(Serialize)]
pub(super) struct DeviceView {
    friendly_id: String,
    name: Option<String>,
    battery: Option<String>,
    rssi: Option<i64>,
    /// Its own sensors' latest readings, "21.5 C · 612 ppm".
    sensors: Option<String>,
    last_seen: String,
    /// `ok`, or what is wrong, in words.
    state: String,
    ok: bool,
}

/// `device` as the page shows it at `now`.
pub(super) fn device_view(device: &DeviceHealth, now: DateTime<Utc>) -> DeviceView {
    let state = if let Some(trouble) = &device.trouble {
        trouble.clone()
    } else if device.overdue {
        match device.expected_at {
            Some(at) => format!("overdue: expected at {}", ago(at, now)),
            None => "overdue".to_string(),
        }
    } else if let Some(until) = device.paused_until {
        format!("paused until {}", until.format("%Y-%m-%d %H:%M UTC"))
    } else if let Some(held) = device.held_message() {
        held
    } else if device.over_cap {
        "its image is over the panel's limit: the device throws it away".to_string()
    } else {
        "ok".to_string()
    };
    DeviceView {
        friendly_id: device.friendly_id.clone(),
        name: device.name.clone(),
        battery: device
            .battery_percent
            .map(|p| match device.battery_voltage {
                Some(v) => format!("{p}% ({v:.2} V)"),
                None => format!("{p}%"),
            }),
        rssi: device.rssi,
        sensors: (!device.sensors.is_empty()).then(|| {
            let each = device.sensors.iter().map(|(kind, r)| {
                let unit = r.unit.as_deref().unwrap_or("");
                format!("{kind} {} {unit}", r.value).trim_end().to_string()
            });
            each.collect::<Vec<_>>().join(" · ")
        }),
        last_seen: device
            .last_seen_at
            .map_or("never".to_string(), |t| ago(t, now)),
        // A pause is the owner's wish, not a problem.
        ok: state == "ok" || device.paused_until.is_some() && state.starts_with("paused"),
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[rstest]
    #[case(None, "drawn when asked for")]
    #[case(Some("2026-12-06T20:00:00Z"), "due now")]
    #[case(Some("2026-12-06T21:00:00Z"), "due now")]
    #[case(Some("2026-12-06T21:25:30Z"), "2026-12-06 21:25 UTC (in 25m 30s)")]
    fn the_next_image_is_never_in_the_past(#[case] at: Option<&str>, #[case] said: &str) {
        assert_eq!(next_image(at.map(t), t("2026-12-06T21:00:00Z")), said);
    }
}
