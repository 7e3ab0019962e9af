//! One display call, decided: the item a wake shows, the playlist turned
//! when its item has had its time, an item that cannot be drawn skipped,
//! the double-click answered, and the telemetry kept.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use inkspot_core::config::SpecialFunction;
use inkspot_engine::engine::Engine;

use crate::answer::DisplayAnswer;
use crate::firmware::{Call, Firmware, Policy, Sent};
use crate::playlist::{Turn, after, first, on_wake};
use crate::screen::{Screen, configured, local_time, playlist, screen};
use crate::{Device, Registry, Shown, Telemetry};

/// One display call: what every step of its answer needs.
pub struct Wake<'a> {
    /// The engine images come from.
    pub engine: &'a Arc<Engine>,
    /// Where the device's place and telemetry are kept, when the
    /// database is open.
    pub devices: Option<&'a Registry>,
    /// What the device sent.
    pub telemetry: Telemetry,
    /// Where the device reaches this server.
    pub base: String,
    /// The time of the call.
    pub now: DateTime<Utc>,
}

impl Wake<'_> {
    /// The answer that shows `device`'s current item.
    pub async fn screen(&self, device: &Device) -> Screen {
        screen(self.engine, device, &self.telemetry, &self.base, self.now).await
    }

    /// Moves `device` on in its playlist when the current item has had its
    /// time and the next one's image is drawn (asking starts its render);
    /// until then, the current item again.
    pub async fn turn(&self, device: &mut Device) -> Screen {
        let items = playlist(self.engine, device);
        let local = local_time(self.engine, device, self.now);
        let turn = on_wake(&items, device.place(), self.now, local);
        let next_index = match turn {
            Turn::Next(j) => j,
            // Asking for the next item's image now has it drawn by its turn.
            Turn::Stay => device.place().index(items.len()) + 1,
        };
        if items.len() > 1 {
            let mut next = device.clone();
            next.playlist_position = (next_index % items.len()) as i64;
            next.playlist_since = None;
            let candidate = self.screen(&next).await;
            if matches!(turn, Turn::Next(_)) && candidate.ready {
                *device = next;
            }
        }
        let shown = self.show(device).await;
        if shown.failed.is_none() {
            return shown;
        }
        // Its item cannot be drawn: on to the next one that can, so one
        // spot without data does not hold the panel. With none, the error
        // picture, under a name that holds while the failure does.
        for j in after(&items, device.place(), local) {
            let mut next = device.clone();
            next.playlist_position = j as i64;
            next.playlist_since = None;
            if self.screen(&next).await.ready {
                *device = next;
                return self.show(device).await;
            }
        }
        shown
    }

    /// The answer for the item `device` is on, which starts its time on
    /// the panel when this is the first wake that shows its image.
    pub async fn show(&self, device: &mut Device) -> Screen {
        let shown = self.screen(device).await;
        if device.playlist_since.is_none()
            && shown.ready
            && let Some(registry) = self.devices
        {
            device.playlist_since = Some(self.now);
            let position = device.playlist_position;
            let _ = registry.set_place(&device.mac, position, self.now).await;
        }
        shown
    }

    /// Records the call's telemetry and what it was given, in `screen`.
    pub async fn record(&self, device: &Device, screen: &Screen) {
        let Some(registry) = self.devices else {
            return;
        };
        let secs = screen.answer.refresh_rate;
        let shown = Shown {
            expected_at: Some(self.now + chrono::Duration::seconds(secs as i64)),
            image_bytes: screen.bytes,
            image_cap: screen.cap,
            trouble: screen
                .failed
                .as_ref()
                .map(|why| format!("no playlist item can be drawn; showing {why}")),
        };
        let seen = registry
            .logbook()
            .seen(&device.mac, &self.telemetry, &shown, self.now);
        if let Err(e) = seen.await {
            tracing::warn!(error = %e, "cannot record a device's telemetry");
        }
    }
}

impl Wake<'_> {
    /// The answer to a display call of `device`, with `double_click` when
    /// it sent `special_function: true`: its bound function, else the
    /// playlist's turn. `device` is moved on as the answer shows.
    pub async fn answer(&self, device: &mut Device, double_click: bool) -> Screen {
        let config = configured(self.engine, &device.mac);
        let bound = config.map_or(SpecialFunction::default(), |c| c.special_function);
        // A double-click wakes it from a planned sleep: someone is there.
        if !double_click
            && let Some(asleep) = crate::sleep::of_device(self.engine, device, self.now)
        {
            let picture = config.is_none_or(|c| c.sleep_picture);
            let mut screen = self.sleep(device, asleep, picture).await;
            screen.answer.special_function = Some(bound.name());
            return screen;
        }
        let mut screen = match (double_click, bound) {
            (true, SpecialFunction::Sleep) => {
                let mut screen = self.screen(device).await;
                let sleep = self.engine.config().trmnl.sleep.as_secs().max(1);
                screen.answer.refresh_rate = sleep;
                screen
            }
            (true, SpecialFunction::Identify) => Screen::without_image(self.identify(device)),
            (true, SpecialFunction::RestartPlaylist) => {
                let items = playlist(self.engine, device);
                let local = local_time(self.engine, device, self.now);
                device.playlist_position = first(&items, local) as i64;
                device.playlist_since = None;
                self.show(device).await
            }
            _ => self.turn(device).await,
        };
        if double_click {
            screen.answer.action = Some(bound.name());
        }
        screen.answer.special_function = Some(bound.name());
        screen
    }

    /// Judges `device`'s pending firmware offer by this call, and offers
    /// it an update in `answer` when every condition holds.
    pub async fn offer_firmware(
        &self,
        firmware: &Firmware,
        device: &Device,
        answer: &mut DisplayAnswer,
    ) {
        let Some(registry) = self.devices else {
            return;
        };
        let trmnl = &self.engine.config().trmnl;
        let enabled = configured(self.engine, &device.mac)
            .and_then(|c| c.firmware_updates)
            .unwrap_or(trmnl.firmware_updates);
        let t = &self.telemetry;
        let call = Call {
            device,
            sent: Sent {
                model: t.model.as_deref().or(device.model.as_deref()),
                version: t.firmware.as_deref(),
                battery: t.battery(),
                powered: t.powered,
            },
            policy: Policy {
                enabled,
                min_battery: trmnl.update_min_battery,
                hours: trmnl.update_hours,
                attempts: trmnl.update_attempts,
            },
            now: (self.now, local_time(self.engine, device, self.now)),
        };
        if let Some(image) = firmware.on_call(&registry.updates(), &call).await {
            answer.update_firmware = true;
            let (id, token) = (&device.friendly_id, device.url_token("firmware"));
            let url = format!(
                "{}/firmware/{}?device={id}&token={token}",
                self.base, image.file
            );
            answer.firmware_url = Some(url);
        }
    }

    /// The answer to a sleeping device: the sleep picture (or its current
    /// one, without `picture`) and a `refresh_rate` that wakes it when the
    /// sleep ends, at most a day on (the longest the firmware sleeps).
    async fn sleep(&self, device: &Device, asleep: crate::sleep::Asleep, picture: bool) -> Screen {
        let secs = (asleep.until - self.now).num_seconds().clamp(1, 86_400) as u64;
        // The picture is drawn for the panel of the spot it would show: a
        // device with none keeps its picture rather than an error.
        let drawable = crate::screen::choose(self.engine, device, &self.telemetry)
            .and_then(|c| c.request(self.engine))
            .is_some();
        let mut screen = if picture && drawable {
            Screen::without_image(DisplayAnswer::show(
                self.picture_url(device, "sleep_screen"),
                format!("sleep-{}-{}", device.friendly_id, asleep.until.timestamp()),
                secs,
            ))
        } else {
            self.screen(device).await
        };
        screen.answer.refresh_rate = secs;
        screen
    }

    /// Where `device` fetches the notice picture `name` (`identify`,
    /// `sleep_screen`): with its friendly id and a token of its key, for
    /// firmware that fetches a picture without its headers.
    fn picture_url(&self, device: &Device, name: &str) -> String {
        let (id, token) = (&device.friendly_id, device.url_token(name));
        format!("{}/api/{name}?device={id}&token={token}", self.base)
    }

    /// The double-click `identify`: a picture with the device's name,
    /// friendly id and MAC, shown until the next wake a minute later.
    fn identify(&self, device: &Device) -> DisplayAnswer {
        DisplayAnswer::show(
            self.picture_url(device, "identify"),
            format!("identify-{}-{}", device.friendly_id, self.now.timestamp()),
            self.engine.config().trmnl.min_refresh.as_secs().max(1),
        )
    }
}
