//! The `SENSORS` header of firmware 1.8 and later: the readings of the
//! device's own sensors (a Qwiic board's temperature, humidity, CO₂ or
//! pressure), comma-separated, each
//! `make=…;model=…;kind=…;value=…;unit=…;created_at=<epoch seconds>`.
//! Read defensively: a reading that does not parse is left out and said
//! why, never refused; the display call is answered as usual.

use chrono::{DateTime, Utc};
use inkspot_core::history::{Batch, Sample};

/// The most readings one header may carry; the rest are left out.
pub const MAX_READINGS: usize = 16;

/// The kinds the firmware reports.
pub const KINDS: &[&str] = &["temperature", "humidity", "carbon_dioxide", "pressure"];

/// One sensor reading.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SensorReading {
    /// What it measures: one of [`KINDS`].
    pub kind: String,
    /// The value.
    pub value: f64,
    /// Its unit as sent (`C`, `%`, `ppm`, `hPa`), when sent.
    pub unit: Option<String>,
    /// The sensor's maker and model, when sent.
    pub sensor: Option<String>,
    /// When it was read: `created_at`, else the call's time.
    pub at: DateTime<Utc>,
}

/// The readings of a `SENSORS` header, and why any were left out.
pub fn parse(header: &str, now: DateTime<Utc>) -> (Vec<SensorReading>, Vec<String>) {
    let mut readings = Vec::new();
    let mut problems = Vec::new();
    for entry in header.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if readings.len() == MAX_READINGS {
            problems.push(format!(
                "more than {MAX_READINGS} readings; the rest left out"
            ));
            break;
        }
        match reading(entry, now) {
            Ok(r) => readings.push(r),
            Err(why) => problems.push(why),
        }
    }
    (readings, problems)
}

/// One `key=value;…` entry.
fn reading(entry: &str, now: DateTime<Utc>) -> Result<SensorReading, String> {
    let shown: String = entry.chars().take(80).collect();
    let field = |name: &str| {
        entry
            .split(';')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 32
                    && v.chars().all(|c| c.is_ascii_graphic() || c == ' ')
            })
    };
    let kind = field("kind")
        .map(|k| k.to_ascii_lowercase())
        .filter(|k| KINDS.contains(&k.as_str()))
        .ok_or_else(|| format!("`{shown}`: no known kind ({})", KINDS.join(", ")))?;
    let value = field("value")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && v.abs() < 1e7)
        .ok_or_else(|| format!("`{shown}`: no number in value"))?;
    let sensor = match (field("make"), field("model")) {
        (Some(make), Some(model)) => Some(format!("{make} {model}")),
        (one, other) => one.or(other),
    };
    // A time from before 2020 or ahead of the call is the device's clock
    // not set: the call's time stands.
    let at = field("created_at")
        .and_then(|t| t.parse::<i64>().ok())
        .and_then(|t| DateTime::from_timestamp(t, 0))
        .filter(|t| t.timestamp() >= 1_577_836_800 && *t <= now + chrono::Duration::minutes(5))
        .unwrap_or(now);
    Ok(SensorReading {
        kind,
        value,
        unit: field("unit"),
        sensor,
        at,
    })
}

/// The readings as a history batch: one sample per reading under its kind
/// (`temperature`), with its unit.
pub fn batch(readings: &[SensorReading]) -> Batch {
    let mut batch = Batch::default();
    for r in readings {
        batch.observed.push(Sample {
            field: r.kind.clone(),
            at: r.at,
            value: r.value,
        });
        if let Some(unit) = &r.unit {
            batch.units.insert(r.kind.clone(), unit.clone());
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn now() -> DateTime<Utc> {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn several_readings_are_read_with_their_units_and_times() {
        let header = "make=Sensirion;model=SCD41;kind=temperature;value=21.5;unit=C;created_at=1796040000,\
                      make=Sensirion;model=SCD41;kind=humidity;value=48;unit=%;created_at=1796040000,\
                      make=Sensirion;model=SCD41;kind=carbon_dioxide;value=612;unit=ppm;created_at=1796040000";
        let (readings, problems) = parse(header, now());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(readings.len(), 3);
        assert_eq!(readings[0].kind, "temperature");
        assert_eq!(readings[0].value, 21.5);
        assert_eq!(readings[0].unit.as_deref(), Some("C"));
        assert_eq!(readings[0].sensor.as_deref(), Some("Sensirion SCD41"));
        assert_eq!(readings[0].at.timestamp(), 1_796_040_000);
        let batch = batch(&readings);
        assert_eq!(batch.observed.len(), 3);
        assert_eq!(batch.units["carbon_dioxide"], "ppm");
    }

    #[rstest]
    #[case::no_kind("value=3;unit=C", "no known kind")]
    #[case::unknown_kind("kind=radiation;value=3", "no known kind")]
    #[case::no_value("kind=humidity;unit=%", "no number")]
    #[case::not_a_number("kind=humidity;value=wet", "no number")]
    #[case::infinite("kind=humidity;value=inf", "no number")]
    fn a_malformed_reading_is_left_out_and_said_why(#[case] entry: &str, #[case] why: &str) {
        let header = format!("kind=pressure;value=1013;unit=hPa,{entry}");
        let (readings, problems) = parse(&header, now());
        assert_eq!(readings.len(), 1, "the good one is kept");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains(why), "{problems:?}");
    }

    #[rstest]
    #[case::unset_clock("0")]
    #[case::ahead("1999999999")]
    #[case::not_a_time("soon")]
    fn an_unlikely_time_is_the_calls(#[case] at: &str) {
        let (readings, _) = parse(&format!("kind=temperature;value=20;created_at={at}"), now());
        assert_eq!(readings[0].at, now());
    }

    #[test]
    fn a_header_is_bounded() {
        let header = vec!["kind=temperature;value=20"; 40].join(",");
        let (readings, problems) = parse(&header, now());
        assert_eq!(readings.len(), MAX_READINGS);
        assert_eq!(problems.len(), 1);
        assert!(parse("", now()).0.is_empty());
        assert!(parse(",,", now()).1.is_empty());
    }
}
