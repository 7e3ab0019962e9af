//! A screenshots job: each page taken (or shared), at most
//! `browser.concurrency` at once, into a zip with its `index.json`.

use std::io::Write;

use futures_util::{StreamExt, stream};
use tokio_util::sync::CancellationToken;

use super::{Browsing, IndexRow, describe, status_problem};
use crate::produce::{Out, blocking};
use crate::run::{Failure, Tracker};
use crate::spec::ShotsPlan;

/// Takes every page of `plan` with `browsing` and writes the zip to
/// `out`; returns its type and name.
pub(crate) async fn screenshots(
    browsing: &Browsing,
    id: &str,
    plan: ShotsPlan,
    tracker: &mut Tracker<'_>,
    out: Out,
    token: &CancellationToken,
    at_once: usize,
) -> Result<(String, String), Failure> {
    let now = chrono::Utc::now();
    let options = plan.options.clone();
    let mut taken = stream::iter(plan.pages.into_iter().enumerate())
        .map(|(i, (url, file))| {
            let options = &options;
            async move {
                (
                    i,
                    url.clone(),
                    file,
                    browsing.take(&url, options, false, now).await,
                )
            }
        })
        .buffered(at_once.max(1));
    let mut zip = zip::ZipWriter::new(out);
    let mut index = Vec::new();
    while let Some((i, url, file, result)) = taken.next().await {
        let mut row = IndexRow {
            url: url.to_string(),
            final_url: None,
            status: None,
            title: None,
            file: None,
            time: None,
            error: None,
            depth: None,
            parent: None,
        };
        match result {
            Ok(shot) => {
                row.final_url = Some(shot.final_url.clone());
                row.status = Some(shot.status);
                row.title = Some(shot.title.clone());
                row.file = Some(file.clone());
                row.time = Some(shot.at);
                row.error = status_problem(shot.status);
                let png = shot.clone();
                zip = blocking(id, move || entry(zip, &file, &png.png, png.at)).await?;
                let state = if row.error.is_some() {
                    "failed"
                } else {
                    "done"
                };
                tracker.set(i, state, row.error.clone());
            }
            Err(e) => {
                row.error = Some(describe(&e));
                tracker.set(i, "failed", row.error.clone());
            }
        }
        index.push(row);
        if !tracker.flush().await || token.is_cancelled() {
            return Err("cancelled".into());
        }
    }
    if index.iter().all(|r| r.file.is_none()) {
        return Err("no page could be taken; each item says why".into());
    }
    let json = serde_json::to_vec_pretty(&index).unwrap_or_default();
    blocking(id, move || {
        let zip = entry(zip, "index.json", &json, now)?;
        zip.finish().map_err(std::io::Error::other)?.flush()
    })
    .await?;
    Ok((
        "application/zip".into(),
        format!("inkspot-{}.zip", &id[..8]),
    ))
}

/// `zip` with `bytes` added as `name`, dated `when` (to the second, as zip
/// times are naive), stored (PNG is compressed already).
pub(crate) fn entry<W: Write + std::io::Seek>(
    mut zip: zip::ZipWriter<W>,
    name: &str,
    bytes: &[u8],
    when: chrono::DateTime<chrono::Utc>,
) -> std::io::Result<zip::ZipWriter<W>> {
    use chrono::{Datelike, Timelike};
    let when = zip::DateTime::from_date_and_time(
        when.year().clamp(1980, 2107) as u16,
        when.month() as u8,
        when.day() as u8,
        when.hour() as u8,
        when.minute() as u8,
        when.second() as u8,
    )
    .unwrap_or_default();
    let method = if name.ends_with(".json") {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(when);
    zip.start_file(name, options)
        .map_err(std::io::Error::other)?;
    zip.write_all(bytes)?;
    Ok(zip)
}
