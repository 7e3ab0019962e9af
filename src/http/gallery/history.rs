//! The gallery's history of each spot: every numeric field's last day as a
//! sparkline, its newest value and trend, and a link to its CSV.

use serde::Serialize;

use crate::config::Spot;
use crate::history::Recent;
use inkspot_core::history::Series;

/// Sparklines are this big, in CSS pixels.
const SIZE: (f64, f64) = (160.0, 36.0);

/// One field as the gallery shows it.
#[derive(Serialize)]
pub(super) struct FieldView {
    field: String,
    /// The newest value with its unit, or `–`.
    last: String,
    /// rising, falling, steady; empty without values.
    trend: &'static str,
    /// An `<svg>` of the last 24 hours, made of numbers only.
    svg: String,
    /// Its rows as CSV.
    csv: String,
}

/// The spot's numeric fields over the 24 hours before `now`.
pub(super) fn fields(spot: &Spot, recent: &Recent, now: i64) -> Vec<FieldView> {
    crate::http::history::numeric_fields(spot)
        .into_iter()
        .map(|field| {
            let all = recent.observed.get(&field).map_or(&[][..], Vec::as_slice);
            let unit = recent.units.get(&field).map(String::as_str);
            let series = Series::window(&field, unit, all, now - 86_400, now);
            let summary = series.summary(None);
            let last = summary.as_ref().map_or("–".to_string(), |s| {
                format!("{} {}", round(s.last.value), unit.unwrap_or("")).trim().to_string()
            });
            let (w, h) = SIZE;
            let svg = format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{field}, last 24 hours">{}</svg>"#,
                inkspot_core::template::chart::spark(&series, (0.0, 0.0, w, h), None)
            );
            let csv = format!(
                "/api/history?spot={}&field={field}&format=csv",
                spot.slug()
            );
            FieldView {
                trend: summary.as_ref().map_or("", |s| s.trend.word()),
                field,
                last,
                svg,
                csv,
            }
        })
        .collect()
}

fn round(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
