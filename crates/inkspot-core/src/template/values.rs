//! Reading a template's context and arguments as helpers need them: the
//! time values are picked for, the spot's zone, local times as APIs write
//! them, numbers written as strings, lists; and the error a helper raises.

use chrono::{DateTime, Utc};
use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

pub(crate) fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// The spot's time zone from the template context, else UTC.
pub(crate) fn zone(state: &State) -> Option<chrono_tz::Tz> {
    state
        .lookup("spot")?
        .get_attr("timezone")
        .ok()?
        .as_str()?
        .parse()
        .ok()
}

/// The time values are picked for: the frame's time on an animation frame,
/// else `now` from the context, as a UTC time.
pub(crate) fn context_now(state: &State) -> Result<DateTime<Utc>, Error> {
    if let Some(at) = state
        .lookup("frame")
        .and_then(|f| f.get_attr("at").ok())
        .and_then(|v| v.as_str().map(str::to_string))
    {
        return DateTime::parse_from_rfc3339(&at)
            .map(|t| t.to_utc())
            .map_err(|e| bad(format!("`frame.at` is not RFC 3339: {e}")));
    }
    let now = state
        .lookup("now")
        .ok_or_else(|| bad("no `now` in the context"))?;
    let now = now.as_str().ok_or_else(|| bad("`now` is not a string"))?;
    DateTime::parse_from_rfc3339(now)
        .map(|t| t.to_utc())
        .map_err(|e| bad(format!("`now` is not RFC 3339: {e}")))
}

/// Reads a local time as APIs write it (`2026-04-01T06:58`, `2023-01-04 03:35`,
/// or with an offset) in the spot's zone.
pub(crate) fn parse_local(s: &str, tz: Option<chrono_tz::Tz>) -> Option<DateTime<Utc>> {
    crate::source::series::parse_time(s, tz)
}

/// A number, or a number written as a string, as CO-OPS writes them.
pub(crate) fn number(v: &Value) -> Option<f64> {
    f64::try_from(v.clone())
        .ok()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

pub(crate) fn list(v: &Value, what: &str) -> Result<Vec<Value>, Error> {
    if v.kind() != ValueKind::Seq {
        return Err(bad(format!("{what} must be a list, got {}", v.kind())));
    }
    Ok(v.try_iter()?.collect())
}
