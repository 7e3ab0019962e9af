//! What a job makes: its renders, one image or a zip; or its animation,
//! frames drawn `jobs.concurrency` at a time and encoded as they arrive.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use chrono::{DateTime, DurationRound, Utc};
use futures_util::{StreamExt, stream};
use tokio_util::sync::CancellationToken;

use super::Batches;
use super::animate::{Encoder, Settings};
use super::run::{Failure, Tracker};
use super::spec::{self, AnimationPlan};
use crate::engine::RenderFailure;
use crate::request::RenderRequest;
use crate::store::Rendered;
use crate::template::Frame;

impl Batches {
    /// Draws each render (shared with the image cache) and writes one
    /// image as is, or several into a zip; returns its type and name.
    pub(super) async fn renders(
        &self,
        id: &str,
        list: Vec<(RenderRequest, String)>,
        tracker: &mut Tracker<'_>,
        scratch: &tempfile::NamedTempFile,
        token: &CancellationToken,
    ) -> Result<(String, String), Failure> {
        let single = list.len() == 1;
        let file = scratch.reopen().map_err(|e| self.storage_failure(id, &e))?;
        let mut zip = (!single).then(|| zip::ZipWriter::new(BufWriter::new(file)));
        let mut single_result = None;
        let mut drawn = self.drawn(list);
        while let Some((i, name, result)) = drawn.next().await {
            match result {
                Ok(rendered) if single => {
                    single_result = Some((
                        rendered.meta.content_type.as_str().to_string(),
                        name.clone(),
                    ));
                    let mut out = scratch.reopen().map_err(|e| self.storage_failure(id, &e))?;
                    let bytes = rendered.bytes.clone();
                    let written = tokio::task::spawn_blocking(move || out.write_all(&bytes)).await;
                    written
                        .map_err(|e| self.storage_failure(id, &e))?
                        .map_err(|e| self.storage_failure(id, &e))?;
                    tracker.set(i, "done", None);
                }
                Ok(rendered) => {
                    let writer = zip.take().expect("a zip for several renders");
                    let bytes = rendered.bytes.clone();
                    let entry = name.clone();
                    let written =
                        tokio::task::spawn_blocking(move || add_entry(writer, &entry, &bytes))
                            .await;
                    let writer = written
                        .map_err(|e| self.storage_failure(id, &e))?
                        .map_err(|e| self.storage_failure(id, &e))?;
                    zip = Some(writer);
                    tracker.set(i, "done", None);
                }
                Err(failure) => tracker.set(i, "failed", Some(describe(&failure))),
            }
            if !tracker.flush().await || token.is_cancelled() {
                return Err("cancelled".into());
            }
        }
        if single {
            let failed = tracker.items.first().and_then(|i| i.error.clone());
            return single_result
                .ok_or_else(|| failed.unwrap_or_else(|| "the render failed".into()));
        }
        if tracker.items.iter().all(|i| i.state == "failed") {
            return Err("every render failed; each item says why".into());
        }
        if let Some(writer) = zip {
            let finished = tokio::task::spawn_blocking(move || {
                writer.finish().map_err(std::io::Error::other)?.flush()
            })
            .await;
            finished
                .map_err(|e| self.storage_failure(id, &e))?
                .map_err(|e| self.storage_failure(id, &e))?;
        }
        Ok((
            "application/zip".into(),
            format!("inkspot-{}.zip", &id[..8]),
        ))
    }

    /// The renders of `list`, `jobs.concurrency` at a time, in order.
    fn drawn(
        &self,
        list: Vec<(RenderRequest, String)>,
    ) -> impl futures_util::Stream<Item = (usize, String, Result<Arc<Rendered>, RenderFailure>)> + '_
    {
        let most = self.engine.config().jobs.concurrency.max(1);
        stream::iter(list.into_iter().enumerate())
            .map(move |(i, (request, name))| async move {
                let _slot = self.slots.acquire().await;
                (i, name, self.engine.current(&request).await)
            })
            .buffered(most)
    }

    /// Draws the animation's frames, `jobs.concurrency` at a time, and
    /// encodes each as it arrives; returns the file's type and name.
    pub(super) async fn animation(
        &self,
        a: AnimationPlan,
        tracker: &mut Tracker<'_>,
        scratch: &tempfile::NamedTempFile,
        token: &CancellationToken,
    ) -> Result<(String, String), Failure> {
        let request = a.request;
        let data = self.engine.data_for(&request).await;
        if data.all_failed() {
            return Err(format!(
                "no data for {}: {}",
                request.spot.name,
                data.failure_summary()
            ));
        }
        let output = request.output;
        let (width, height) = output.final_size();
        let settings = Settings {
            format: a.spec.format,
            palette: a.spec.palette,
            delay_ms: a.spec.delay_ms,
            loops: a.spec.loops,
            frames: a.hours.len(),
            width,
            height,
        };
        let gray = output.bits.is_some() && output.palette.is_none();
        let file = scratch.reopen().map_err(|e| format!("scratch file: {e}"))?;
        let mut encoder = Encoder::new(BufWriter::new(file), settings, gray)
            .map_err(|e| format!("the animation could not be started: {e}"))?;
        let base = hour_of(data.fetched_at);
        let count = a.hours.len();
        let most = self.engine.config().jobs.concurrency.max(1);
        let (pipeline, data) = (self.engine.pipeline(), &data);
        let request = &request;
        let mut frames = stream::iter(a.hours.iter().copied().enumerate())
            .map(|(index, hours)| async move {
                let _slot = self.slots.acquire().await;
                let at = base + chrono::Duration::hours(hours);
                let frame = Frame {
                    index,
                    count,
                    at: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    hours,
                };
                (index, pipeline.draw_frame(request, data, frame).await)
            })
            .buffered(most);
        while let Some((index, drawn)) = frames.next().await {
            let raster = drawn.map_err(|e| {
                tracing::error!(spot = %request.spot.name, frame = index, error = %e, "an animation frame could not be drawn");
                format!("frame {index} could not be drawn; the server log has the details")
            })?;
            let added = pipeline
                .cpu()
                .run(move || encoder.add(raster).map(|()| encoder))
                .await;
            encoder = added
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("frame {index} could not be encoded: {e}"))?;
            tracker.set(index, "done", None);
            if !tracker.flush().await || token.is_cancelled() {
                return Err("cancelled".into());
            }
        }
        pipeline
            .cpu()
            .run(move || encoder.finish())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("the animation could not be finished: {e}"))?;
        let name = format!(
            "{}-{}.{}",
            request.spot.slug(),
            format_name(&settings),
            settings.extension()
        );
        Ok((settings.media_type().to_string(), name))
    }
}

fn format_name(s: &Settings) -> &'static str {
    match s.format {
        spec::AnimationFormat::Gif => "animation",
        spec::AnimationFormat::Apng => "animation",
        spec::AnimationFormat::Sheet => "sheet",
    }
}

/// The start of the hour `t` is in: frames stand for whole hours, as the
/// hourly forecasts do.
fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::hours(1)).unwrap_or(t)
}

/// Adds one stored (not compressed again) entry to the zip.
fn add_entry<W: Write + std::io::Seek>(
    mut zip: zip::ZipWriter<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<zip::ZipWriter<W>> {
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file(name, options)
        .map_err(std::io::Error::other)?;
    zip.write_all(bytes)?;
    Ok(zip)
}

/// What an item's owner is told about a failed render; the causes of
/// drawing failures stay in the log.
fn describe(failure: &RenderFailure) -> String {
    match failure {
        RenderFailure::NoData { reason, .. } => format!("no data: {reason}"),
        RenderFailure::Draw { .. } | RenderFailure::Panicked(_) => {
            "the image could not be drawn; the server log has the details".into()
        }
    }
}
