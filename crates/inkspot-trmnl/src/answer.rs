//! The answers the TRMNL firmware reads, as types: built by the decisions
//! of this crate, serialised once at the HTTP edge, never read back as
//! JSON.

use serde::Serialize;

/// What `/api/display` (and `/api/current_screen`) answers.
#[derive(Debug, Clone, Serialize)]
pub struct DisplayAnswer {
    /// `0` for a device that is shown something, `202` for one that is not
    /// registered (it shows its friendly id and asks again), `200` from
    /// `/api/current_screen`. Never `500`, which wipes a device.
    pub status: u16,
    /// Where the image is.
    pub image_url: String,
    /// The firmware's cache key: the same name is neither downloaded nor
    /// drawn again.
    pub filename: String,
    /// Seconds until the device should wake.
    pub refresh_rate: u64,
    /// Always `false`: `true` wipes the device.
    pub reset_firmware: bool,
    /// `true` with `firmware_url`: install the image there. Only when the
    /// operator turned updates on and every condition holds
    /// ([`crate::firmware::policy`]).
    pub update_firmware: bool,
    /// Where the firmware image is, with `update_firmware`.
    pub firmware_url: Option<String>,
    /// The function the device's double-click is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub special_function: Option<&'static str>,
    /// The function a double-click just asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
}

impl DisplayAnswer {
    /// Show the image at `image_url`, named `filename`, then sleep
    /// `refresh_rate` seconds.
    pub fn show(image_url: String, filename: String, refresh_rate: u64) -> Self {
        Self {
            status: 0,
            image_url,
            filename,
            refresh_rate,
            reset_firmware: false,
            update_firmware: false,
            firmware_url: None,
            special_function: None,
            action: None,
        }
    }

    /// For a device that is not registered: no image, come back after
    /// `refresh_rate` seconds.
    pub fn unregistered(refresh_rate: u64) -> Self {
        Self {
            status: 202,
            special_function: Some("none"),
            ..Self::show(String::new(), String::new(), refresh_rate)
        }
    }
}

/// What `/api/setup` answers.
#[derive(Debug, Clone, Serialize)]
pub struct SetupAnswer {
    /// `200` with a key, `404` without one (the device shows "not
    /// registered" and asks again later).
    pub status: u16,
    /// The device's key; empty with `404`.
    pub api_key: String,
    /// The six characters on its setup screen; empty with `404`.
    pub friendly_id: String,
    /// The setup picture.
    pub image_url: String,
    /// Shown on the device.
    pub message: String,
}

impl SetupAnswer {
    /// No key, and why.
    pub fn refused(message: &str) -> Self {
        Self {
            status: 404,
            api_key: String::new(),
            friendly_id: String::new(),
            image_url: String::new(),
            message: message.to_string(),
        }
    }
}
