//! What a device reports in its request headers, read defensively: a value
//! that does not parse, or is out of range, is left out, never refused.

use http::HeaderMap;

/// The telemetry of one display call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Telemetry {
    /// `Battery-Voltage`, volts (0 to 10).
    pub battery_voltage: Option<f64>,
    /// `RSSI`, dBm (-150 to 0).
    pub rssi: Option<i64>,
    /// `FW-Version`, up to 32 printable characters.
    pub firmware: Option<String>,
    /// `Model`, up to 32 characters of `[a-z0-9_-]` and spaces (the Seeed
    /// Sticky sends `reTerminal Sticky`), lower case.
    pub model: Option<String>,
    /// `Wake-Time`, ms awake last cycle.
    pub wake_time_ms: Option<i64>,
    /// `Width` and `Height` of the panel, pixels.
    pub size: Option<(u32, u32)>,
    /// On USB power (`USB-Connected: true`) or charging
    /// (`Battery-Charging: 1`); sent by TRMNL gen2 and X only.
    pub powered: bool,
    /// `Percent-Charged`, 0 to 100: the X's own gauge.
    pub percent_charged: Option<i64>,
    /// Why it woke (`Update-Source`): `timer`, `button` (`EXT0` on S3
    /// boards), `powercycle`, or `other`.
    pub wake_reason: Option<&'static str>,
    /// `WiFi-Band`, such as `2.4` or `5`, up to 8 characters.
    pub wifi_band: Option<String>,
    /// `Temperature-Profile`, up to 16 characters.
    pub temperature_profile: Option<String>,
    /// `Image-Cached`: whether it has the image of its last `filename`.
    pub image_cached: Option<bool>,
}

impl Telemetry {
    /// Its battery, percent: the X's own gauge when it sends one, else
    /// the voltage by TRMNL's curve.
    pub fn battery(&self) -> Option<i64> {
        self.percent_charged
            .or(self.battery_voltage.map(battery_percent))
    }
}

/// `Update-Source` as one of a few reasons: the S3 boards name the button
/// by its wake pin, `EXT0`.
fn wake_reason(sent: &str) -> &'static str {
    match sent.to_ascii_lowercase().as_str() {
        "timer" => "timer",
        "button" | "ext0" | "ext1" => "button",
        "powercycle" | "power_cycle" | "reset" => "powercycle",
        _ => "other",
    }
}

impl Telemetry {
    /// Reads the headers the firmware sends; anything malformed is ignored.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let number = |name: &str| text(name).and_then(|v| v.parse::<f64>().ok());
        let int = |name: &str, range: std::ops::RangeInclusive<i64>| {
            text(name)
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|v| range.contains(v))
        };
        let size = match (int("width", 1..=8192), int("height", 1..=8192)) {
            (Some(w), Some(h)) => Some((w as u32, h as u32)),
            _ => None,
        };
        Self {
            battery_voltage: number("battery-voltage").filter(|v| (0.0..=10.0).contains(v)),
            rssi: int("rssi", -150..=0),
            firmware: text("fw-version")
                .filter(|v| !v.is_empty() && v.len() <= 32)
                .filter(|v| v.chars().all(|c| c.is_ascii_graphic()))
                .map(str::to_string),
            model: text("model")
                .map(str::to_ascii_lowercase)
                .filter(|v| !v.is_empty() && v.len() <= 32)
                .filter(|v| {
                    v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_- ".contains(&b))
                }),
            wake_time_ms: int("wake-time", 0..=86_400_000),
            size,
            powered: matches!(text("usb-connected"), Some("true" | "1"))
                || matches!(text("battery-charging"), Some("1" | "true")),
            percent_charged: int("percent-charged", 0..=100),
            wake_reason: text("update-source")
                .filter(|v| !v.is_empty())
                .map(wake_reason),
            wifi_band: short(text("wifi-band"), 8),
            temperature_profile: short(text("temperature-profile"), 16),
            image_cached: match text("image-cached") {
                Some("true" | "1") => Some(true),
                Some("false" | "0") => Some(false),
                _ => None,
            },
        }
    }
}

/// `value` when it is 1 to `max` printable characters.
fn short(value: Option<&str>, max: usize) -> Option<String> {
    value
        .filter(|v| !v.is_empty() && v.len() <= max)
        .filter(|v| v.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_string)
}

/// A battery voltage as a percentage, by TRMNL's own curve: `(V - 3) /
/// 0.012`, then 100 from 88, 95 from 85, 90 from 83, and at least 1.
pub fn battery_percent(volts: f64) -> i64 {
    let raw = (volts - 3.0) / 0.012;
    let pct = if raw >= 88.0 {
        100.0
    } else if raw >= 85.0 {
        95.0
    } else if raw >= 83.0 {
        90.0
    } else {
        raw
    };
    (pct.round() as i64).clamp(1, 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(4.2, 100)]
    #[case(4.05, 95)]
    #[case(4.0, 90)]
    #[case(3.9, 75)]
    #[case(3.3, 25)]
    #[case(2.9, 1)]
    fn voltage_to_percent(#[case] volts: f64, #[case] pct: i64) {
        assert_eq!(battery_percent(volts), pct);
    }

    #[rstest]
    #[case("Battery-Voltage", "4.1", true)]
    #[case("Battery-Voltage", "four", false)]
    #[case("Battery-Voltage", "NaN", false)]
    #[case("Battery-Voltage", "-3", false)]
    #[case("Battery-Voltage", "1e308", false)]
    fn a_bad_battery_voltage_is_ignored(
        #[case] name: &'static str,
        #[case] value: &'static str,
        #[case] kept: bool,
    ) {
        let mut h = HeaderMap::new();
        h.insert(name, value.parse().unwrap());
        h.insert("RSSI", "-61".parse().unwrap());
        let t = Telemetry::from_headers(&h);
        assert_eq!(t.battery_voltage.is_some(), kept);
        assert_eq!(t.rssi, Some(-61), "the rest is read");
    }

    #[rstest]
    #[case("timer", Some("timer"))]
    #[case("EXT0", Some("button"))]
    #[case("button", Some("button"))]
    #[case("powercycle", Some("powercycle"))]
    #[case("ota", Some("other"))]
    #[case("", None)]
    fn wake_reasons_are_named(#[case] sent: &'static str, #[case] reason: Option<&str>) {
        let mut h = HeaderMap::new();
        h.insert("Update-Source", sent.parse().unwrap());
        assert_eq!(Telemetry::from_headers(&h).wake_reason, reason);
    }

    #[test]
    fn the_x_gauge_is_preferred_to_the_voltage_curve() {
        let mut h = HeaderMap::new();
        h.insert("Battery-Voltage", "4.2".parse().unwrap());
        assert_eq!(Telemetry::from_headers(&h).battery(), Some(100));
        h.insert("Percent-Charged", "63".parse().unwrap());
        h.insert("Image-Cached", "true".parse().unwrap());
        h.insert("WiFi-Band", "5".parse().unwrap());
        let t = Telemetry::from_headers(&h);
        assert_eq!(t.battery(), Some(63));
        assert_eq!(
            (t.image_cached, t.wifi_band.as_deref()),
            (Some(true), Some("5"))
        );
        h.insert("Percent-Charged", "163".parse().unwrap());
        assert_eq!(
            Telemetry::from_headers(&h).battery(),
            Some(100),
            "out of range: the curve"
        );
    }

    #[test]
    fn model_and_size_are_read_and_bounded() {
        let mut h = HeaderMap::new();
        h.insert("Model", "OG".parse().unwrap());
        h.insert("Width", "800".parse().unwrap());
        h.insert("Height", "480".parse().unwrap());
        h.insert("FW-Version", "1.8.15".parse().unwrap());
        let t = Telemetry::from_headers(&h);
        assert_eq!(t.model.as_deref(), Some("og"));
        assert_eq!(t.size, Some((800, 480)));
        assert_eq!(t.firmware.as_deref(), Some("1.8.15"));
        h.insert("Model", "<script>".parse().unwrap());
        assert_eq!(Telemetry::from_headers(&h).model, None);
    }
}
