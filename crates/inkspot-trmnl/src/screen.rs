//! What a display answer says: which spot, as which output for the
//! panel's model, under which `filename`, and how long to sleep.

use std::sync::Arc;

use chrono::{DateTime, NaiveTime, Utc};
use inkspot_core::config::{DeviceConfig, OutputOptions, PlaylistItem};
use inkspot_core::request::RenderRequest;
use inkspot_engine::engine::{Engine, Look};

use crate::answer::DisplayAnswer;
use crate::playlist::until_change;
use crate::{Device, Telemetry, models};

/// How soon a device whose image is being drawn comes back, seconds.
pub const PREPARING_REFRESH: u64 = 60;

/// How soon a device that is not registered polls again, seconds.
pub const UNREGISTERED_REFRESH: u64 = 300;

/// The configured device with `mac`, if any.
pub fn configured<'a>(engine: &'a Engine, mac: &str) -> Option<&'a DeviceConfig> {
    engine.config().devices.list().iter().find(|d| d.mac == mac)
}

/// What a device shows: a spot, as the output its model takes.
pub struct Choice {
    index: usize,
    slug: String,
    preset: String,
    bits: Option<u8>,
    /// `/image?...` for it.
    pub path: String,
}

/// The `/image` path of the spot `slug` as `preset`, at `bits` when given.
fn image_path(slug: &str, preset: &str, bits: Option<u8>) -> String {
    let bits = bits.map(|b| format!("&bits={b}")).unwrap_or_default();
    format!("/image?spot={slug}&device={preset}{bits}")
}

impl Choice {
    /// The render request for it.
    pub fn request(&self, engine: &Engine) -> Option<RenderRequest> {
        let options = OutputOptions {
            bits: self.bits,
            ..OutputOptions::default()
        };
        let catalog = engine.catalog();
        catalog
            .request(self.index, Some(&self.preset), &options)
            .ok()
    }

    /// The path of the setup picture: the 48,062-byte BMP for a 1-bit
    /// panel, which every firmware takes (older ones take no PNG there).
    pub fn setup_path(&self) -> String {
        if self.preset == "trmnl" && self.bits.is_none() {
            image_path(&self.slug, "trmnl-bmp", None)
        } else {
            self.path.clone()
        }
    }
}

/// What `device` shows in turn: its own playlist, else
/// `trmnl.default_playlist`, else every spot.
pub fn playlist(engine: &Engine, device: &Device) -> Vec<PlaylistItem> {
    let config = configured(engine, &device.mac);
    match config.map(|c| c.playlist.clone()).filter(|p| !p.is_empty()) {
        Some(p) => p,
        None if !engine.config().trmnl.default_playlist.is_empty() => {
            engine.config().trmnl.default_playlist.clone()
        }
        None => engine
            .catalog()
            .spots()
            .iter()
            .map(|s| PlaylistItem::spot(&s.slug()))
            .collect(),
    }
}

/// The time of day at `now` where `device` hangs (its `timezone`, else UTC).
pub fn local_time(engine: &Engine, device: &Device, now: DateTime<Utc>) -> NaiveTime {
    let tz = configured(engine, &device.mac).and_then(|c| c.timezone);
    now.with_timezone(&tz.unwrap_or(chrono_tz::UTC)).time()
}

pub fn choose(engine: &Engine, device: &Device, telemetry: &Telemetry) -> Option<Choice> {
    let config = configured(engine, &device.mac);
    let playlist = playlist(engine, device);
    let item = playlist.get(device.place().index(playlist.len()))?;
    let index = engine.catalog().find(&item.spot)?;
    let (preset, bits) = match &item.preset {
        Some(preset) => (preset.clone(), None),
        None => {
            let panel = models::choose(
                telemetry.model.as_deref(),
                telemetry.size,
                config.and_then(|c| c.model.as_deref()),
                device.model.as_deref(),
            );
            (panel.preset.to_string(), panel.bits)
        }
    };
    let slug = engine.catalog().spots()[index].slug();
    let path = image_path(&slug, &preset, bits);
    Some(Choice {
        index,
        slug,
        preset,
        bits,
        path,
    })
}

/// A display answer, and the size of the image it points at.
pub struct Screen {
    /// What the firmware reads.
    pub answer: DisplayAnswer,
    /// The image's bytes, when it is drawn.
    pub bytes: Option<i64>,
    /// The panel's byte limit for it.
    pub cap: Option<i64>,
    /// Whether it points at a drawn image of its item.
    pub ready: bool,
    /// Why its item cannot be drawn, when its last render failed.
    pub failed: Option<String>,
}

impl Screen {
    pub fn without_image(answer: DisplayAnswer) -> Self {
        Self {
            answer,
            bytes: None,
            cap: None,
            ready: false,
            failed: None,
        }
    }
}

/// The display answer for `device` at `now`, its image under `base` (where
/// the device reaches this server).
pub async fn screen(
    engine: &Arc<Engine>,
    device: &Device,
    telemetry: &Telemetry,
    base: &str,
    now: DateTime<Utc>,
) -> Screen {
    let Some(choice) = choose(engine, device, telemetry) else {
        let answer = DisplayAnswer::show(String::new(), String::new(), PREPARING_REFRESH);
        return Screen::without_image(answer);
    };
    let request = choice.request(engine);
    let look = match &request {
        Some(request) => engine.look(request).await,
        None => Look::Preparing,
    };
    let cap = request
        .as_ref()
        .and_then(|r| r.output.max_bytes)
        .map(i64::from);
    let spot = &engine.catalog().spots()[choice.index];
    let slug = spot.slug();
    let mut screen = Screen::without_image(DisplayAnswer::show(
        String::new(),
        String::new(),
        PREPARING_REFRESH,
    ));
    screen.cap = cap;
    // Every filename stays the same while what it names does: a firmware
    // downloads and redraws only when the name changes.
    let (filename, refresh) = match &look {
        Look::Ready(served) => {
            let r = &served.rendered;
            screen.ready = true;
            screen.bytes = Some(r.bytes.len() as i64);
            let name = filename(&slug, &r.meta.checksum.hex(), r.meta.rendered_at);
            (name, refresh_rate(engine, device, choice.index, now))
        }
        Look::Preparing => (format!("preparing-{}", prefix(&slug)), PREPARING_REFRESH),
        Look::Failed(failed) => {
            screen.failed = Some(format!("{}: {}", spot.name, failed.headline));
            let name = format!("error-{}-{}", failed.id(), failed.since.timestamp());
            (name, failing_refresh(engine, failed.since, now))
        }
    };
    screen.answer = DisplayAnswer::show(format!("{base}{}", choice.path), filename, refresh);
    screen
}

/// Seconds until a device showing an error picture tries again: a minute
/// at first, then half the time it has been failing, up to 15 minutes (the
/// firmware's own longest retry) and `trmnl.max_refresh`.
fn failing_refresh(engine: &Engine, since: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let trmnl = &engine.config().trmnl;
    let failing = (now - since).num_seconds().max(0) as u64;
    let most = FAILING_REFRESH_MAX
        .min(trmnl.max_refresh.as_secs())
        .max(PREPARING_REFRESH);
    (failing / 2).clamp(PREPARING_REFRESH, most)
}

/// The longest a device showing an error picture sleeps, seconds.
const FAILING_REFRESH_MAX: u64 = 900;

/// Up to seven letters and digits of `slug`, for a filename.
fn prefix(slug: &str) -> String {
    let prefix: String = slug
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(7)
        .collect();
    if prefix.is_empty() {
        "inkspot".to_string()
    } else {
        prefix
    }
}

/// `<prefix>-<6 hex of the content>-<unix render time>`, at most 31
/// characters: it changes only when the bytes do, so the panel is not
/// redrawn for nothing.
pub fn filename(slug: &str, hex: &str, rendered_at: DateTime<Utc>) -> String {
    format!("{}-{}-{}", prefix(slug), &hex[..6], rendered_at.timestamp())
}

/// Seconds until the device should wake: until the spot's next image is
/// expected (or its refresh), stretched when the battery is low, bounded
/// by config, no later than its playlist item's end, and through quiet
/// hours to their end. Never 0.
fn refresh_rate(engine: &Engine, device: &Device, index: usize, now: DateTime<Utc>) -> u64 {
    let trmnl = &engine.config().trmnl;
    let config = configured(engine, &device.mac);
    let fallback = config.and_then(|c| c.refresh).unwrap_or(trmnl.refresh);
    let mut secs = match engine.next_image_at(index) {
        Some(at) => (at - now).to_std().unwrap_or_default().as_secs() + jitter(),
        None => fallback.as_secs(),
    };
    if device.battery_percent.is_some_and(|p| p < 20) {
        secs *= 2;
    }
    let min = trmnl.min_refresh.as_secs().max(1);
    secs = secs.clamp(min, trmnl.max_refresh.as_secs().max(1));
    let local = local_time(engine, device, now);
    if let Some(left) = until_change(&playlist(engine, device), device.place(), now, local) {
        secs = secs.min(left.as_secs().max(min));
    }
    // A sleep period that begins before then: wake as it begins, to be
    // shown the sleep picture then, not a wake into it.
    if let Some(begins) = crate::sleep::next_start(engine, device, now, secs) {
        secs = secs.min(((begins - now).num_seconds().max(1) as u64).max(min));
    }
    if let Some(quiet) = config.and_then(|c| c.quiet_hours)
        && quiet.contains(local)
    {
        let end = (quiet.end - local).num_seconds().rem_euclid(86_400) as u64;
        secs = end.clamp(1, 86_400);
    }
    secs.max(1)
}

/// A few seconds, so devices told the same time do not all wake at once.
fn jitter() -> u64 {
    rand::random_range(1..=30)
}

/// Where the device reaches this server: `trmnl.public_url`, else the
/// `Host` it sent (letters, digits and `.-:[]` only), over HTTP.
pub fn base_url(engine: &Engine, host: Option<&str>) -> String {
    if let Some(url) = &engine.config().trmnl.public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = host
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_fit_the_firmware_and_follow_the_bytes() {
        let at: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let name = filename("linda-mar", "ab12cdef", at);
        assert_eq!(name, "lindama-ab12cd-1795428000");
        assert!(name.len() <= 31);
        assert_ne!(name, filename("linda-mar", "ab12ce00", at));
    }
}
