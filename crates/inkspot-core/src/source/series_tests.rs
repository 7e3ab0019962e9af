//! Samples from real recorded answers (`../shared/reference/real/`, beside
//! the project) and from pages written in their formats.

use chrono::{DateTime, Utc};

use super::*;
use crate::config::Source;
use crate::source::extract_at;

fn source(spec: &str) -> Source {
    toml::from_str(spec).unwrap()
}

fn at(now: &str) -> Moment {
    Moment {
        now: DateTime::parse_from_rfc3339(now).unwrap().to_utc(),
        tz: Some(chrono_tz::America::Los_Angeles),
    }
}

fn reference(name: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/reference/real/"
    );
    std::fs::read_to_string(format!("{path}{name}")).unwrap_or_else(|e| {
        panic!("{path}{name}: {e}: the real answers are in ../shared/reference/real/, beside the project (it is in CI)")
    })
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

const NDBC: &str = r#"
id = "buoy"
url = "file://x"
format = "text"
[fields]
wvht = { column = "WVHT", type = "number", rows = "all" }
wtmp = { column = "WTMP", type = "number" }
"#;

#[test]
fn the_ndbc_rows_become_a_series_with_their_times_and_units() {
    let body = reference("ndbc_realtime2_46026_2026-08-17.txt");
    let ((values, errors), batch) =
        extract_at(&source(NDBC), &body, at("2026-08-17T07:00:00Z")).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    // The template's value is still the newest that is not missing.
    assert_eq!(values["wvht"], serde_json::json!(1.1));
    let wvht: Vec<_> = batch
        .observed
        .iter()
        .filter(|s| s.field == "buoy.wvht")
        .collect();
    // The newest row is `MM`: a gap, not a zero.
    assert_eq!(wvht[0].at, t("2026-08-17T06:20:00Z"));
    assert!(wvht.iter().all(|s| s.value > 0.0));
    assert!(!wvht.iter().any(|s| s.at == t("2026-08-17T06:30:00Z")));
    let rows = body.lines().filter(|l| !l.starts_with('#')).count();
    let missing = body
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split_whitespace().nth(8) == Some("MM"))
        .count();
    assert_eq!(wvht.len(), rows - missing);
    assert_eq!(batch.units["buoy.wvht"], "m");
    assert_eq!(batch.units["buoy.wtmp"], "degC");
    // Without `rows = "all"`, the one newest value at its row's time.
    let wtmp: Vec<_> = batch
        .observed
        .iter()
        .filter(|s| s.field == "buoy.wtmp")
        .collect();
    assert_eq!(wtmp.len(), 1);
    assert_eq!(
        (wtmp[0].at, wtmp[0].value),
        (t("2026-08-17T06:30:00Z"), 14.8)
    );
    assert!(batch.forecast.is_empty() && batch.forecast_fields.is_empty());
}

#[test]
fn a_current_value_takes_the_answers_own_time() {
    let body = reference("openmeteo_marine_current_metric_2026-08-18.json");
    let spec = r#"
id = "marine"
url = "file://x"
format = "json"
[fields]
wave = { pointer = "/current/wave_height", times = "/current/time", type = "number" }
period = { pointer = "/current/wave_period", type = "number" }
"#;
    let mut moment = at("2026-08-18T15:20:00Z");
    moment.tz = Some(chrono_tz::UTC);
    let ((values, _), batch) = extract_at(&source(spec), &body, moment).unwrap();
    assert_eq!(values["wave"], serde_json::json!(0.8));
    let wave = batch
        .observed
        .iter()
        .find(|s| s.field == "marine.wave")
        .unwrap();
    assert_eq!((wave.at, wave.value), (t("2026-08-18T15:15:00Z"), 0.8));
    assert_eq!(batch.units["marine.wave"], "m");
    // Without `times`, the fetch's time.
    let period = batch
        .observed
        .iter()
        .find(|s| s.field == "marine.period")
        .unwrap();
    assert_eq!(period.at, moment.now);
}

#[test]
fn hourly_arrays_split_into_history_and_forecast() {
    let body = r#"{"utc_offset_seconds":-28800,"hourly_units":{"time":"iso8601","wave_height":"ft"},
        "hourly":{"time":["2026-11-22T07:00","2026-11-22T08:00","2026-11-22T09:00","2026-11-22T10:00","2026-11-22T11:00"],
        "wave_height":[3.1,null,3.5,3.9,4.2]}}"#;
    let spec = r#"
id = "marine"
url = "file://x"
format = "json"
[fields]
wave = { pointer = "/hourly/wave_height", times = "/hourly/time", type = "number" }
"#;
    // 09:30 in California.
    let ((values, errors), batch) =
        extract_at(&source(spec), body, at("2026-11-22T17:30:00Z")).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        values["wave"],
        serde_json::json!(3.5),
        "the newest value not in the future"
    );
    let observed: Vec<_> = batch.observed.iter().map(|s| (s.at, s.value)).collect();
    assert_eq!(
        observed,
        vec![
            (t("2026-11-22T15:00:00Z"), 3.1),
            (t("2026-11-22T17:00:00Z"), 3.5)
        ]
    );
    let ahead: Vec<_> = batch.forecast.iter().map(|s| (s.at, s.value)).collect();
    assert_eq!(
        ahead,
        vec![
            (t("2026-11-22T18:00:00Z"), 3.9),
            (t("2026-11-22T19:00:00Z"), 4.2)
        ]
    );
    assert_eq!(batch.forecast_fields, vec!["marine.wave".to_string()]);
    assert_eq!(batch.units["marine.wave"], "ft");
}

#[test]
fn a_text_field_keeps_its_latest_value() {
    let body = reference("openmeteo_marine_current_metric_2026-08-18.json");
    let spec = r#"
id = "marine"
url = "file://x"
format = "json"
[fields]
unit = { pointer = "/current_units/wave_height" }
"#;
    let (_, batch) = extract_at(&source(spec), &body, at("2026-08-18T15:20:00Z")).unwrap();
    assert_eq!(batch.texts.len(), 1);
    assert_eq!(
        (batch.texts[0].0.as_str(), batch.texts[0].2.as_str()),
        ("marine.unit", "m")
    );
    assert!(batch.observed.is_empty());
}

#[test]
fn coops_predictions_keep_each_one_at_its_own_time() {
    let body = reference("coops_predictions_hourly_9414523_2019-01-29.json");
    let spec = r#"
id = "tide_curve"
url = "file://x"
format = "json"
[fields]
height = { pointer = "/predictions", each = "/v", times = "/t", type = "number" }
"#;
    // Noon in California: 13 hours of the day are past, 35 ahead.
    let ((values, errors), batch) =
        extract_at(&source(spec), &body, at("2019-01-29T20:00:00Z")).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(batch.observed.len(), 13);
    assert_eq!(batch.forecast.len(), 35);
    let noon = batch.observed.iter().max_by_key(|s| s.at).unwrap();
    assert_eq!(
        noon.at,
        t("2019-01-29T20:00:00Z"),
        "local times read in the spot's zone"
    );
    assert_eq!(
        values["height"],
        serde_json::json!(noon.value),
        "the template gets the newest past value"
    );
    assert_eq!(batch.observed[0].at, t("2019-01-29T08:00:00Z"));
    assert!(
        (batch.observed[0].value - 2.728).abs() < 1e-9,
        "numbers written as strings"
    );
}

/// An array of one element is a series too: its one future value is the
/// forecast, not an observation dated ahead.
#[test]
fn one_future_element_is_the_forecast() {
    let body = r#"{"hourly":{"time":["2026-11-22T11:00"],"wave_height":[4.2]}}"#;
    let spec = r#"
id = "marine"
url = "file://x"
format = "json"
[fields]
wave = { pointer = "/hourly/wave_height", times = "/hourly/time", type = "number" }
"#;
    let ((values, errors), batch) =
        extract_at(&source(spec), body, at("2026-11-22T17:30:00Z")).unwrap();
    assert!(batch.observed.is_empty());
    assert_eq!(batch.forecast.len(), 1);
    assert_eq!(batch.forecast_fields, vec!["marine.wave".to_string()]);
    assert_eq!(values["wave"], Value::Null, "nothing at or before now");
    assert_eq!(errors.len(), 1, "and the template is told why: {errors:?}");
}
