//! `GET /api/history`: a spot's field over a range, as JSON or CSV, raw or
//! in steps: observations (raw rows where they are kept, hourly rollups
//! before) and the latest forecast.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ApiError;
use crate::app::App;
use crate::config::{FieldType, Spot};
use crate::history::{Answer, QueryError, Range, Row};

/// The longest range of raw rows (or steps under an hour) one request may
/// ask for.
pub const MAX_RAW_DAYS: i64 = 31;
/// The longest range in steps of an hour or more.
pub const MAX_STEPPED_DAYS: i64 = 800;
/// The shortest step.
pub const MIN_STEP_SECS: i64 = 60;

/// The query: `spot`, `field` (`source.field`), `from` and `to` (RFC 3339;
/// default the last 24 hours and the next 48), or `hours` (the last N
/// hours), `step` (`10m`, `1h`, `1d`), `format` (`json` or `csv`).
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    spot: Option<String>,
    /// A TRMNL's friendly id or MAC instead of a spot: its own sensors'
    /// readings (with the admin token).
    device: Option<String>,
    field: Option<String>,
    from: Option<String>,
    to: Option<String>,
    hours: Option<f64>,
    step: Option<String>,
    format: Option<String>,
}

/// One row as the API writes it.
#[derive(Debug, Serialize)]
struct Point {
    t: DateTime<Utc>,
    value: f64,
    min: f64,
    max: f64,
    count: i64,
}

/// The JSON answer.
#[derive(Debug, Serialize)]
struct Body {
    #[serde(skip_serializing_if = "Option::is_none")]
    spot: Option<String>,
    /// With `device=`: its friendly id.
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<String>,
    field: String,
    unit: Option<String>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Option<String>,
    observed: Vec<Point>,
    forecast: Vec<Point>,
}

/// `GET /api/history`.
pub async fn history(
    State(app): State<App>,
    headers: HeaderMap,
    super::query::Params(q): super::query::Params<HistoryQuery>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(&q, &headers)?;
    let subject = subject(&app, &q, &headers).await?;
    let field = match &subject {
        Subject::Spot(spot) => field(spot, q.field.as_deref())?,
        Subject::Device(id) => sensor_field(id, q.field.as_deref())?,
    };
    let now = app.engine.clock().now();
    let (range, step_text) = range(&q, now)?;
    let Some(keeper) = &app.history else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "history_off",
            "no history is kept: `history.enabled` is off, or the database cannot be opened (see the log)",
        ));
    };
    let answer = match &subject {
        Subject::Spot(spot) => keeper.query(spot, &field, range, now).await,
        Subject::Device(id) => keeper.query_device(id, &field, range, now).await,
    };
    let answer = answer.map_err(query_error)?;
    let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default();
    if csv {
        return Ok(csv_answer(&answer, at));
    }
    let points = |rows: &[Row]| {
        rows.iter()
            .map(|r| Point {
                t: at(r.at),
                value: r.value,
                min: r.min,
                max: r.max,
                count: r.count,
            })
            .collect()
    };
    let (spot, device) = match subject {
        Subject::Spot(spot) => (Some(spot.name.clone()), None),
        Subject::Device(id) => (None, Some(id)),
    };
    Ok(Json(Body {
        spot,
        device,
        field,
        unit: answer.unit.clone(),
        from: at(range.from),
        to: at(range.to),
        step: step_text,
        observed: points(&answer.observed),
        forecast: points(&answer.forecast),
    })
    .into_response())
}

/// What a failed query tells the client.
fn query_error(e: QueryError) -> ApiError {
    match e {
        e @ QueryError::TooMany(_) => ApiError::bad_request("range_too_large", e.to_string()),
        QueryError::Database(e) => {
            tracing::warn!(error = %e, "history query failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "history_unavailable",
                "the database does not answer; try again later",
            )
            .with_retry_after(5)
        }
    }
}

fn wants_csv(q: &HistoryQuery, headers: &HeaderMap) -> Result<bool, ApiError> {
    match q.format.as_deref() {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::bad_request(
            "invalid_parameter",
            format!("format `{other}` is not known: use json or csv"),
        )),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"))),
    }
}

/// Whose history is asked for.
enum Subject {
    /// A spot's fetched values.
    Spot(std::sync::Arc<Spot>),
    /// A TRMNL's own sensors, by friendly id.
    Device(String),
}

/// The spot, or with `device=` the device (which needs the admin token,
/// or the gallery's session: a room's air says whether someone is home).
async fn subject(app: &App, q: &HistoryQuery, headers: &HeaderMap) -> Result<Subject, ApiError> {
    let Some(id) = q.device.as_deref() else {
        return spot(app, q.spot.as_deref()).map(Subject::Spot);
    };
    if q.spot.is_some() {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "ask for a `spot` or a `device`, not both",
        ));
    }
    super::admin::viewer(app, headers).await?;
    let device = super::admin::find(app, id).await?;
    Ok(Subject::Device(device.friendly_id))
}

/// A sensor kind the firmware sends, as the device's field.
fn sensor_field(id: &str, field: Option<&str>) -> Result<String, ApiError> {
    let kinds = crate::devices::sensors::KINDS;
    match field {
        Some(f) if kinds.contains(&f) => Ok(f.to_string()),
        Some(f) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_field",
            format!(
                "device {id} has no sensor `{}`; sensors: {}",
                crate::text::ellipsize(f, 100),
                kinds.join(", ")
            ),
        )),
        None => Err(ApiError::bad_request(
            "missing_parameter",
            format!("`field` is required; sensors: {}", kinds.join(", ")),
        )),
    }
}

fn spot(app: &App, name: Option<&str>) -> Result<std::sync::Arc<Spot>, ApiError> {
    let name = name.ok_or_else(|| {
        ApiError::bad_request(
            "missing_parameter",
            "`spot` (or `device`) is required, e.g. /api/history?spot=Linda%20Mar&field=buoy.wvht",
        )
    })?;
    let catalog = app.engine.catalog();
    match catalog.find(name) {
        Some(i) => Ok(catalog.spots()[i].clone()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_spot",
            format!("no spot named `{}`", crate::text::ellipsize(name, 100)),
        )
        .with_spots(super::spot_names(&app.engine))),
    }
}

/// The spot's numeric fields, as `source.field`.
pub fn numeric_fields(spot: &Spot) -> Vec<String> {
    spot.sources
        .iter()
        .flat_map(|s| {
            s.fields
                .iter()
                .filter(|(_, f)| f.kind == FieldType::Number && !f.all)
                .map(move |(name, _)| format!("{}.{name}", s.id))
        })
        .collect()
}

fn field(spot: &Spot, field: Option<&str>) -> Result<String, ApiError> {
    let known = numeric_fields(spot);
    let field = field.ok_or_else(|| {
        ApiError::bad_request(
            "missing_parameter",
            format!(
                "`field` is required; {}'s fields: {}",
                spot.name,
                known.join(", ")
            ),
        )
    })?;
    if known.iter().any(|k| k == field) {
        return Ok(field.to_string());
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_field",
        format!(
            "{} has no numeric field `{}`; its fields: {}",
            spot.name,
            crate::text::ellipsize(field, 100),
            known.join(", ")
        ),
    ))
}

fn time(text: Option<&str>, key: &str, default: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    match text {
        None => Ok(default),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.to_utc())
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!(
                        "`{key}` must be an RFC 3339 time such as 2026-11-22T17:30:00Z, not `{}`",
                        crate::text::ellipsize(t, 40)
                    ),
                )
            }),
    }
}

fn range(q: &HistoryQuery, now: DateTime<Utc>) -> Result<(Range, Option<String>), ApiError> {
    let hours = match q.hours {
        Some(h) if h > 0.0 && h <= (MAX_STEPPED_DAYS * 24) as f64 => h,
        Some(h) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!(
                    "`hours` must be more than 0 and at most {}, not {h}",
                    MAX_STEPPED_DAYS * 24
                ),
            ));
        }
        None => 24.0,
    };
    if q.hours.is_some() && q.from.is_some() {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "give `from` or `hours`, not both",
        ));
    }
    let back = Duration::seconds((hours * 3600.0) as i64);
    let from = time(q.from.as_deref(), "from", now - back)?;
    let to = time(q.to.as_deref(), "to", now + Duration::hours(48))?;
    if to <= from {
        return Err(ApiError::bad_request(
            "invalid_parameter",
            "`to` must be after `from`",
        ));
    }
    let step = match q.step.as_deref() {
        None => None,
        Some(s) => {
            let d = humantime::parse_duration(s).map_err(|_| {
                ApiError::bad_request(
                    "invalid_parameter",
                    format!(
                        "`step` must be a duration such as 10m, 1h or 1d, not `{}`",
                        crate::text::ellipsize(s, 40)
                    ),
                )
            })?;
            let secs = d.as_secs() as i64;
            if secs < MIN_STEP_SECS {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    "`step` must be at least 1m",
                ));
            }
            Some(secs)
        }
    };
    let days = (to - from).num_seconds() as f64 / 86_400.0;
    let limit = if step.is_some_and(|s| s >= 3600) {
        MAX_STEPPED_DAYS
    } else {
        MAX_RAW_DAYS
    };
    if days > limit as f64 {
        let how = if limit == MAX_RAW_DAYS {
            format!(
                "raw rows (or steps under an hour) over at most {MAX_RAW_DAYS} days; ask with step=1h or more for up to {MAX_STEPPED_DAYS} days"
            )
        } else {
            format!("at most {MAX_STEPPED_DAYS} days")
        };
        return Err(ApiError::bad_request(
            "range_too_long",
            format!("the range is {days:.0} days; one request reads {how}"),
        ));
    }
    Ok((
        Range {
            from: from.timestamp(),
            to: to.timestamp(),
            step,
        },
        q.step.clone(),
    ))
}

fn csv_answer(answer: &Answer, at: impl Fn(i64) -> DateTime<Utc>) -> Response {
    let mut out = String::from("kind,time,value,min,max,count\n");
    for (kind, rows) in [
        ("observed", &answer.observed),
        ("forecast", &answer.forecast),
    ] {
        for r in rows {
            out.push_str(&format!(
                "{kind},{},{},{},{},{}\n",
                at(r.at).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                r.value,
                r.min,
                r.max,
                r.count
            ));
        }
    }
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response()
}
