//! What a job makes: its renders, one image or a zip; or its animation,
//! frames drawn `jobs.concurrency` at a time and encoded as they arrive.

use std::io::{BufWriter, Write};
use std::sync::Arc;

use chrono::{DateTime, DurationRound, Utc};
use futures_util::{StreamExt, stream};
use tokio_util::sync::CancellationToken;

use tokio::sync::Semaphore;

use super::result::Capped;
use super::run::{Failure, Tracker, storage_failure, write_failure};
use super::spec::{self, AnimationPlan};
use crate::engine::Engine;
use crate::engine::RenderFailure;
use crate::pipeline::DrawError;
use crate::render::Raster;
use crate::render::animate::{Encoder, Settings};
use crate::request::RenderRequest;
use crate::source::SpotData;
use crate::store::Rendered;
use crate::template::Frame;

/// Where a job's result is written: its scratch file, within its room.
pub(crate) type Out = BufWriter<Capped<std::fs::File>>;

/// Draws a job's renders and frames, `jobs.concurrency` at a time.
pub(super) struct Producer {
    engine: Arc<Engine>,
    /// Places for job renders and frames in flight.
    slots: Semaphore,
}

impl Producer {
    pub(super) fn new(engine: Arc<Engine>) -> Self {
        let slots = Semaphore::new(engine.config().jobs.concurrency.max(1));
        Self { engine, slots }
    }

    /// Draws each render (shared with the image cache) and writes one
    /// image as is, or several into a zip; returns its type and name.
    pub(super) async fn renders(
        &self,
        id: &str,
        list: Vec<(RenderRequest, String)>,
        tracker: &mut Tracker<'_>,
        out: Out,
        token: &CancellationToken,
    ) -> Result<(String, String), Failure> {
        let single = list.len() == 1;
        let mut file = Some(out);
        let mut zip = None;
        let mut single_result = None;
        let mut drawn = self.drawn(list);
        while let Some((i, name, result)) = drawn.next().await {
            let rendered = match result {
                Ok(rendered) => rendered,
                Err(failure) => {
                    tracker.set(i, "failed", Some(describe(&failure)));
                    continue;
                }
            };
            let bytes = rendered.bytes.clone();
            if single {
                let media_type = rendered.meta.content_type.as_str().to_string();
                single_result = Some((media_type, name.clone()));
                let mut out = file.take().expect("one render, written once");
                self.blocking(id, move || out.write_all(&bytes).and_then(|()| out.flush()))
                    .await?;
            } else {
                let writer = zip
                    .take()
                    .or_else(|| file.take().map(zip::ZipWriter::new))
                    .expect("a zip for several renders");
                zip = Some(
                    self.blocking(id, move || add_entry(writer, &name, &rendered))
                        .await?,
                );
            }
            tracker.set(i, "done", None);
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
            self.blocking(id, move || {
                writer.finish().map_err(std::io::Error::other)?.flush()
            })
            .await?;
        }
        let name = format!("inkspot-{}.zip", &id[..8]);
        Ok(("application/zip".into(), name))
    }

    /// Runs file work on a blocking thread (see [`blocking`]).
    async fn blocking<T: Send + 'static>(
        &self,
        id: &str,
        work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        blocking(id, work).await
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

    /// The frames of `hours`, drawn `jobs.concurrency` at a time, in order.
    fn frames<'a>(
        &'a self,
        request: &'a RenderRequest,
        data: &'a SpotData,
        hours: &'a [i64],
    ) -> impl futures_util::Stream<Item = (usize, Result<Raster, DrawError>)> + 'a {
        let most = self.engine.config().jobs.concurrency.max(1);
        let base = hour_of(data.fetched_at);
        let count = hours.len();
        let pipeline = self.engine.pipeline();
        stream::iter(hours.iter().copied().enumerate())
            .map(move |(index, hours)| async move {
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
            .buffered(most)
    }

    /// Draws the animation's frames, `jobs.concurrency` at a time, and
    /// encodes each as it arrives; returns the file's type and name.
    pub(super) async fn animation(
        &self,
        a: AnimationPlan,
        tracker: &mut Tracker<'_>,
        out: Out,
        token: &CancellationToken,
    ) -> Result<(String, String), Failure> {
        let request = &a.request;
        let data = self.engine.data_for(request).await;
        if data.all_failed() {
            return Err(format!(
                "no data for {}: {}",
                request.spot.name,
                data.failure_summary()
            ));
        }
        let settings = settings(&a);
        let output = request.output;
        let gray = output.bits.is_some() && output.palette.is_none();
        let mut encoder = Encoder::new(out, settings, gray)
            .map_err(|e| format!("the animation could not be started: {e}"))?;
        let pipeline = self.engine.pipeline();
        let mut frames = self.frames(request, &data, &a.hours);
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

/// How the animation `a` is written.
fn settings(a: &AnimationPlan) -> Settings {
    let (width, height) = a.request.output.final_size();
    Settings {
        format: a.spec.format,
        palette: a.spec.palette,
        delay_ms: a.spec.delay_ms,
        loops: a.spec.loops,
        frames: a.hours.len(),
        width,
        height,
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

/// `t` as a zip entry's time: zip times are local and naive, so the UTC
/// time, to the second.
pub(crate) fn zip_time(t: DateTime<Utc>) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    zip::DateTime::from_date_and_time(
        t.year().clamp(1980, 2107) as u16,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .unwrap_or_default()
}

/// Adds one entry to the zip, deflated when that makes it smaller.
fn add_entry<W: Write + std::io::Seek>(
    mut zip: zip::ZipWriter<W>,
    name: &str,
    rendered: &Rendered,
) -> std::io::Result<zip::ZipWriter<W>> {
    let when = zip_time(rendered.meta.rendered_at);
    // PNG and GIF are compressed already; BMP is raw pixels, and deflates
    // to a fraction of its size.
    let method = match rendered.meta.content_type {
        crate::store::MediaType::Bmp => zip::CompressionMethod::Deflated,
        _ => zip::CompressionMethod::Stored,
    };
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .last_modified_time(when);
    zip.start_file(name, options)
        .map_err(std::io::Error::other)?;
    zip.write_all(&rendered.bytes)?;
    Ok(zip)
}

/// Runs file work on a blocking thread; a failure is logged and said
/// plainly.
pub(crate) async fn blocking<T: Send + 'static>(
    id: &str,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(write_failure(id, &e)),
        Err(e) => Err(storage_failure(id, &e)),
    }
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
