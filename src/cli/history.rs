//! `inkspot history --spot NAME --field F [--hours N]`: a field's values
//! from a running service's `/api/history`, as a table or as CSV.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::CliError;

/// What to ask for.
pub struct HistoryArgs<'a> {
    /// Spot name or slug.
    pub spot: &'a str,
    /// `source.field`.
    pub field: &'a str,
    /// The last this many hours.
    pub hours: f64,
    /// Buckets of this length (`1h`), or raw rows.
    pub step: Option<&'a str>,
    /// CSV as the API writes it, instead of a table.
    pub csv: bool,
    /// The service's base URL, instead of the config's port.
    pub url: Option<&'a str>,
}

#[derive(Deserialize)]
struct Row {
    t: DateTime<Utc>,
    value: f64,
    min: f64,
    max: f64,
    count: i64,
}

#[derive(Deserialize)]
struct Answer {
    spot: String,
    field: String,
    unit: Option<String>,
    observed: Vec<Row>,
    forecast: Vec<Row>,
}

/// Prints the field's history.
pub async fn history(config_path: &Path, args: HistoryArgs<'_>) -> Result<(), CliError> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("spot", args.spot)
        .append_pair("field", args.field)
        .append_pair("hours", &args.hours.to_string());
    if let Some(step) = args.step {
        query.append_pair("step", step);
    }
    if args.csv {
        query.append_pair("format", "csv");
    }
    let url = super::endpoint(
        config_path,
        args.url,
        &format!("/api/history?{}", query.finish()),
    )?;
    let failed = |reason: String| CliError::Health {
        url: url.clone(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let body = super::remote::answer(&url, client.get(&url)).await?;
    if args.csv {
        print!("{}", String::from_utf8_lossy(&body));
        return Ok(());
    }
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|e| failed(format!("answered what is not inkspot's history: {e}")))?;
    print!("{}", table(&answer));
    Ok(())
}

fn table(a: &Answer) -> String {
    let unit = a.unit.as_deref().unwrap_or("");
    let mut out = format!(
        "{} · {} ({})\n",
        a.spot,
        a.field,
        if unit.is_empty() { "no unit" } else { unit }
    );
    let _ = writeln!(
        out,
        "{:<10} {:<20} {:>10} {:>10} {:>10} {:>6}",
        "kind", "time (UTC)", "value", "min", "max", "count"
    );
    for (kind, rows) in [("observed", &a.observed), ("forecast", &a.forecast)] {
        for r in rows {
            let _ = writeln!(
                out,
                "{kind:<10} {:<20} {:>10.2} {:>10.2} {:>10.2} {:>6}",
                r.t.format("%Y-%m-%d %H:%M"),
                r.value,
                r.min,
                r.max,
                r.count
            );
        }
    }
    if a.observed.is_empty() && a.forecast.is_empty() {
        out.push_str("no values in that range yet\n");
    }
    out
}
