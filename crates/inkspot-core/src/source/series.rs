//! What each field of a fetch gives the history: a numeric field's value at
//! the time it stands for (an NDBC row's time, `times` beside a JSON
//! value, else the fetch's time), every row of a column with `rows =
//! "all"`, every element of a JSON array with `times` (or of an array of
//! objects with `each` and `times` inside them: CO-OPS's `{t, v}`), later
//! ones as the forecast, and a text field's latest value.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use super::extract::{Document, refine};
use crate::config::{Field, FieldType, Rows};
use crate::history::{Batch, Sample};

/// The most rows one field may give the history in one fetch: 45 days of
/// ten-minute rows is 6,480.
pub const MAX_ROWS: usize = 20_000;

/// When the fetch happened and the zone of times written without one.
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    /// The fetch's time: later values are forecast.
    pub now: DateTime<Utc>,
    /// The spot's time zone.
    pub tz: Option<chrono_tz::Tz>,
}

/// Adds what field `name` of source `source` gives to `batch`; with
/// `times` over an array, returns the template's value (the newest one not
/// in the future).
pub fn collect(
    doc: &Document,
    source: &str,
    name: &str,
    field: &Field,
    value: &Value,
    at: Moment,
    batch: &mut Batch,
) -> Option<Value> {
    let key = format!("{source}.{name}");
    if field.kind == FieldType::Text {
        if let Value::String(text) = value
            && !field.all
        {
            batch.texts.push((key, at.now, text.clone()));
        }
        return None;
    }
    if field.all {
        return None;
    }
    let (rows, unit) = match (doc, &field.column, &field.times) {
        (Document::Text(text), Some(column), _) => column_rows(text, column, field),
        (Document::Json(json), None, Some(times)) => json_rows(json, field, times, at.tz),
        _ => (scalar(value, at.now), None),
    };
    if let Some(unit) = field
        .unit
        .clone()
        .or(unit)
        .or_else(|| json_unit(doc, field))
    {
        batch.units.insert(key.clone(), unit);
    }
    // A series is what an array gives, however many of its elements hold
    // a value: its later ones are the forecast, replaced as a whole.
    let is_series = matches!(
        (doc, &field.times),
        (Document::Json(json), Some(_)) if json.pointer(field.pointer.as_deref().unwrap_or("")).is_some_and(Value::is_array)
    );
    let mut newest_past: Option<(DateTime<Utc>, f64)> = None;
    if is_series {
        batch.forecast_fields.push(key.clone());
    }
    for (t, v) in rows.into_iter().take(MAX_ROWS) {
        let sample = Sample {
            field: key.clone(),
            at: t,
            value: v,
        };
        if t > at.now && is_series {
            batch.forecast.push(sample);
        } else {
            if newest_past.is_none_or(|(n, _)| t > n) {
                newest_past = Some((t, v));
            }
            batch.observed.push(sample);
        }
    }
    is_series.then(|| newest_past.map_or(Value::Null, |(_, v)| number(v)))
}

fn number(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn scalar(value: &Value, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, f64)> {
    value.as_f64().map(|v| vec![(now, v)]).unwrap_or_default()
}

/// An NDBC-style column with its row times: every row with `rows =
/// "all"`, else the newest that is not missing; and the unit from the
/// second `#` line.
fn column_rows(
    text: &str,
    name: &str,
    field: &Field,
) -> (Vec<(DateTime<Utc>, f64)>, Option<String>) {
    let mut headers = text.lines().filter(|l| l.starts_with('#'));
    let names: Vec<&str> = match headers.next() {
        Some(h) => h.trim_start_matches('#').split_whitespace().collect(),
        None => return (Vec::new(), None),
    };
    let Some(index) = names.iter().position(|h| *h == name) else {
        return (Vec::new(), None);
    };
    let unit = headers
        .next()
        .and_then(|u| u.trim_start_matches('#').split_whitespace().nth(index))
        .map(str::to_string);
    let pos = |n: &str| names.iter().position(|h| *h == n);
    let cols = [
        pos("YY").or_else(|| pos("YYYY")),
        pos("MM"),
        pos("DD"),
        pos("hh"),
        pos("mm"),
    ];
    let mut rows = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let (Some(cell), Some(t)) = (cells.get(index), row_time(&cells, &cols)) else {
            continue;
        };
        // `MM` is a gap: nothing is kept for the row.
        let Some(v) = refine(Value::String((*cell).to_string()), field)
            .ok()
            .and_then(|v| v.as_f64())
        else {
            continue;
        };
        rows.push((t, v));
        if field.rows == Rows::Latest || rows.len() >= MAX_ROWS {
            break;
        }
    }
    (rows, unit)
}

fn row_time(cells: &[&str], cols: &[Option<usize>; 5]) -> Option<DateTime<Utc>> {
    let part = |i: usize| {
        cols[i]
            .and_then(|c| cells.get(c))
            .and_then(|s| s.parse::<u32>().ok())
    };
    let year = part(0)?;
    let year = if year < 100 { 2000 + year } else { year };
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, part(1)?, part(2)?)?;
    Some(date.and_hms_opt(part(3)?, part(4)?, 0)?.and_utc())
}

/// Values at `field.pointer` and times at `times`: arrays side by side, or
/// one value and its time.
fn json_rows(
    json: &Value,
    field: &Field,
    times: &str,
    tz: Option<chrono_tz::Tz>,
) -> (Vec<(DateTime<Utc>, f64)>, Option<String>) {
    let values = json.pointer(field.pointer.as_deref().unwrap_or(""));
    let stamps = json.pointer(times);
    let read = |v: &Value| refine(v.clone(), field).ok().and_then(|v| v.as_f64());
    if let (Some(each), Some(Value::Array(items))) = (&field.each, values) {
        // Each element holds its value and its time (CO-OPS: `{t, v}`).
        let rows = items
            .iter()
            .take(MAX_ROWS)
            .filter_map(|item| {
                let t = parse_time(item.pointer(times)?.as_str()?, tz)?;
                Some((t, read(item.pointer(each).filter(|v| !v.is_null())?)?))
            })
            .collect();
        return (rows, None);
    }
    let rows = match (values, stamps) {
        (Some(Value::Array(vs)), Some(Value::Array(ts))) => vs
            .iter()
            .zip(ts)
            .take(MAX_ROWS)
            .filter(|(v, _)| !v.is_null())
            .filter_map(|(v, t)| Some((parse_time(t.as_str()?, tz)?, read(v)?)))
            .collect(),
        (Some(v), Some(Value::String(t))) if !v.is_array() => {
            parse_time(t, tz).zip(read(v)).into_iter().collect()
        }
        _ => Vec::new(),
    };
    (rows, None)
}

/// Open-Meteo's convention: the unit of `/hourly/x` is at `/hourly_units/x`.
fn json_unit(doc: &Document, field: &Field) -> Option<String> {
    let (Document::Json(json), Some(pointer)) = (doc, &field.pointer) else {
        return None;
    };
    let mut parts = pointer.trim_start_matches('/').splitn(3, '/');
    let (group, name) = (parts.next()?, parts.next()?);
    json.pointer(&format!("/{group}_units/{name}"))?
        .as_str()
        .map(str::to_string)
}

/// A time as APIs write it: RFC 3339, or local without an offset (in `tz`).
pub fn parse_time(s: &str, tz: Option<chrono_tz::Tz>) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.to_utc());
    }
    let naive = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?;
    match tz {
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.to_utc()),
        None => Some(Utc.from_utc_datetime(&naive)),
    }
}

#[cfg(test)]
#[path = "series_tests.rs"]
mod tests;
