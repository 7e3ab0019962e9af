//! A screenshots job: each page taken (or shared), at most
//! `browser.concurrency` at once, into a zip with its `index.json`.

use std::io::Write;

use futures_util::{StreamExt, stream};
use tokio_util::sync::CancellationToken;

use super::{Browsing, Budget, IndexRow, describe, status_problem};
use crate::produce::{Out, blocking};
use crate::run::{Failure, Tracker};
use crate::spec::ShotsPlan;

/// What a screenshots job needs besides its plan.
pub(crate) struct Shooter<'a> {
    /// The camera and the shared pictures.
    pub browsing: &'a Browsing,
    /// The owner's browser time.
    pub budget: Budget<'a>,
    /// Pages taken at once (`browser.concurrency`).
    pub at_once: usize,
}

/// Takes every page of `plan` with `browsing` and writes the zip to
/// `out`; returns its type and name.
pub(crate) async fn screenshots(
    shooter: &Shooter<'_>,
    id: &str,
    plan: ShotsPlan,
    tracker: &mut Tracker<'_>,
    out: Out,
    token: &CancellationToken,
) -> Result<(String, String), Failure> {
    let Shooter {
        browsing,
        budget,
        at_once,
    } = shooter;
    let (browsing, budget, at_once) = (*browsing, budget, *at_once);
    let now = chrono::Utc::now();
    let options = plan.options.clone();
    let mut taken = stream::iter(plan.pages.into_iter().enumerate())
        .map(|(i, (url, file))| {
            let options = &options;
            async move {
                if let Some(spent) = budget.spent() {
                    return (i, url, file, Err(spent));
                }
                let (taken, took) = browsing.take(&url, options, false, now).await;
                budget.pay(took);
                (i, url, file, taken.map_err(|e| describe(&e)))
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
                zip = blocking(id, move || entry(zip, &file, &png.image, png.at)).await?;
                let state = if row.error.is_some() {
                    "failed"
                } else {
                    "done"
                };
                tracker.set(i, state, row.error.clone());
            }
            Err(e) => {
                row.error = Some(e);
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
    let when = crate::produce::zip_time(when);
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
