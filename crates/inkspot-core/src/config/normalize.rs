//! Completing a parsed config before it is checked: the built-in presets
//! under the configured ones, deprecated key names moved to their new
//! names with a warning, and time zone names parsed.

use super::locate::{Collector, Seg, key};
use super::{Config, Devices, builtin_presets, normalize_mac};

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The keys the environment may give when the file does not: secrets, and
/// what a container deployment sets per environment (the shared services
/// of replicas), so the one shipped config serves there too.
fn from_env(c: &mut Collector, config: &mut Config) {
    use super::Secret;
    if config.database.url.is_none() {
        config.database.url = env("INKSPOT_DATABASE_URL").map(Secret::new);
    }
    if config.coordination.redis_url.is_none() {
        config.coordination.redis_url = env("INKSPOT_REDIS_URL").map(Secret::new);
    }
    if config.server.admin_token.is_none() {
        config.server.admin_token = env("INKSPOT_ADMIN_TOKEN").map(Secret::new);
    }
    if config.browser.ws_url.is_none() {
        config.browser.ws_url = env("INKSPOT_BROWSER_WS_URL");
    }
    if let Some(address) = env("INKSPOT_BROWSER_GUARD_ADDRESS") {
        match address.parse() {
            Ok(ip) => config.browser.guard_address = ip,
            Err(_) => c.add(
                &[
                    super::locate::key("browser"),
                    super::locate::key("guard_address"),
                ],
                format!("INKSPOT_BROWSER_GUARD_ADDRESS `{address}` is not an IP address"),
            ),
        }
    }
    if config.server.trusted_proxies.is_empty()
        && let Some(list) = env("INKSPOT_TRUSTED_PROXIES")
    {
        for item in list.split(',').filter(|i| !i.trim().is_empty()) {
            match super::units::parse_network(item) {
                Ok(net) => config.server.trusted_proxies.push(net),
                Err(e) => c.add(
                    &[key("server"), key("trusted_proxies")],
                    format!("INKSPOT_TRUSTED_PROXIES: {e}"),
                ),
            }
        }
    }
    let storage = &mut config.storage;
    if storage.backend == super::StorageBackend::Disk {
        match env("INKSPOT_STORAGE_BACKEND").as_deref() {
            None | Some("disk") => {}
            Some("s3") => storage.backend = super::StorageBackend::S3,
            Some(_) => c.add(
                &[key("storage"), key("backend")],
                "INKSPOT_STORAGE_BACKEND must be `disk` or `s3`",
            ),
        }
    }
    let fill = |field: &mut Option<String>, name: &str| {
        if field.is_none() {
            *field = env(name);
        }
    };
    fill(&mut storage.bucket, "INKSPOT_STORAGE_BUCKET");
    fill(&mut storage.prefix, "INKSPOT_STORAGE_PREFIX");
    fill(&mut storage.endpoint, "INKSPOT_STORAGE_ENDPOINT");
}

/// Fills in what parsing leaves to do; problems and warnings go to `c`.
pub(super) fn normalize(c: &mut Collector, config: &mut Config) {
    let mut presets = builtin_presets();
    if let Devices::Presets(legacy) = &mut config.devices {
        let legacy = std::mem::take(legacy);
        config.devices = Devices::default();
        for name in legacy.keys() {
            c.warn(
                &[key("devices"), key(name)],
                format!("`[devices.{name}]` is now `[presets.{name}]`; the old name is read for one more release"),
            );
        }
        presets.extend(legacy);
    }
    presets.extend(std::mem::take(&mut config.presets));
    config.presets = presets;
    normalize_devices(c, config);
    from_env(c, config);
    if config
        .server
        .admin_token
        .as_ref()
        .is_some_and(|t| t.expose().len() < 16)
    {
        c.add(
            &[key("server"), key("admin_token")],
            "must be at least 16 characters (or INKSPOT_ADMIN_TOKEN): make one with `openssl rand -hex 16`",
        );
    }

    for (i, spot) in config.spots.iter_mut().enumerate() {
        let at = |k: &str| [key("spots"), Seg::Index(i), key(k)];
        if let Some(device) = spot.device.take() {
            if spot.preset.is_some() {
                c.add(
                    &at("device"),
                    "`device` is the old name of `preset`: keep only `preset`",
                );
            } else {
                c.warn(
                    &at("device"),
                    format!("`device = \"{device}\"` in a spot is now `preset = \"{device}\"`; the old name is read for one more release"),
                );
                spot.preset = Some(device);
            }
        }
        spot.timezone = timezone(c, &at("timezone"), spot.timezone_name.as_deref());
    }
}

/// The table a configured preset was written in: `presets`, or the old
/// `devices` (so a problem points at the line the user wrote).
pub(super) fn preset_table(text: &str, name: &str) -> &'static str {
    let written_as_device = toml_edit::ImDocument::parse(text)
        .ok()
        .and_then(|doc| doc.get("devices").map(|d| d.get(name).is_some()))
        .unwrap_or(false);
    if written_as_device {
        "devices"
    } else {
        "presets"
    }
}

/// The key a spot named its preset with: `preset`, or the old `device`.
pub(super) fn spot_preset_key(text: &str, index: usize) -> &'static str {
    let old = toml_edit::ImDocument::parse(text)
        .ok()
        .and_then(|doc| {
            doc.get("spots")?
                .as_array_of_tables()?
                .get(index)
                .map(|t| t.contains_key("device"))
        })
        .unwrap_or(false);
    if old { "device" } else { "preset" }
}

/// MACs in the form devices send them, and time zones parsed.
fn normalize_devices(c: &mut Collector, config: &mut Config) {
    let Devices::List(devices) = &mut config.devices else {
        return;
    };
    for (i, device) in devices.iter_mut().enumerate() {
        let at = |k: &str| [key("devices"), Seg::Index(i), key(k)];
        match normalize_mac(&device.mac) {
            Some(mac) => device.mac = mac,
            None => c.add(
                &at("mac"),
                format!(
                    "`{}` is not a MAC address; write it as the device shows it, like \"AA:BB:CC:DD:EE:FF\"",
                    device.mac
                ),
            ),
        }
        device.timezone = timezone(c, &at("timezone"), device.timezone_name.as_deref());
    }
}

/// The time zone `name` at `path`, or a problem when it is not one.
fn timezone(c: &mut Collector, path: &[Seg], name: Option<&str>) -> Option<chrono_tz::Tz> {
    let name = name?;
    let tz = name.parse::<chrono_tz::Tz>().ok();
    if tz.is_none() {
        c.add(
            path,
            format!("`{name}` is not an IANA time zone name such as \"America/Los_Angeles\""),
        );
    }
    tz
}
