//! A mashup drawn: each part's template filled with its spot's data at its
//! region's size and drawn there, a part without data or whose template
//! fails drawn as its own small error picture, and the whole panel through
//! one output stage (dithering, inks, encoding) as any spot's picture.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tiny_skia::{Color, Pixmap, PixmapPaint, Transform};

use super::{DrawError, Pipeline};
use crate::artifact::Rendered;
use crate::clock::Clock;
use crate::config::{Mashup, Region, Spot};
use crate::render::{Output, Renderer};
use crate::request::RenderRequest;
use crate::source::SpotData;
use crate::template::{Context, Templates};

/// One part: its spot and that spot's data.
pub type Part = (Arc<Spot>, Arc<SpotData>);

/// Fetches each of `parts` (the mashup's spots, in its layout's order) and
/// draws the mashup `request` asks for, storing nothing: what `inkspot
/// render` does for a mashup. `None` when every part failed.
pub async fn render_mashup(
    pipeline: &Pipeline,
    request: &RenderRequest,
    parts: &[RenderRequest],
    clock: &dyn Clock,
) -> (SpotData, Option<Result<Rendered, DrawError>>) {
    let fetched =
        futures_util::future::join_all(parts.iter().map(|p| pipeline.fetch(p, clock))).await;
    let data: Vec<Arc<SpotData>> = fetched.into_iter().map(Arc::new).collect();
    let names: Vec<String> = parts.iter().map(|p| p.spot.name.clone()).collect();
    let all = SpotData::of_parts(&names, data.clone());
    if all.all_failed() {
        return (all, None);
    }
    let parts = parts.iter().map(|p| p.spot.clone()).zip(data).collect();
    let drawn = pipeline
        .draw_mashup(request, &all, parts, clock.now())
        .await;
    (all, Some(drawn))
}

/// The mashup's panel at `output`'s size, encoded: its `parts` in the
/// regions of `mashup`'s layout; `now` dates a part's error picture.
pub(super) fn draw(
    templates: &Templates,
    renderer: &Renderer,
    mashup: &Mashup,
    parts: &[Part],
    output: &Output,
    now: DateTime<Utc>,
) -> Result<Vec<u8>, DrawError> {
    let (width, height) = (output.width, output.height);
    let mut panel =
        Pixmap::new(width, height).ok_or(crate::render::RenderError::Size(width, height))?;
    panel.fill(Color::WHITE);
    let regions = mashup.layout.regions(width, height, mashup.gutter);
    for (region, (spot, data)) in regions.iter().zip(parts) {
        let drawn = part(templates, renderer, spot, data, region, output)
            .or_else(|why| failed(templates, renderer, spot, region, &why, now));
        match drawn {
            Ok(pixmap) => {
                let (x, y) = (region.x as i32, region.y as i32);
                panel.draw_pixmap(
                    x,
                    y,
                    pixmap.as_ref(),
                    &PixmapPaint::default(),
                    Transform::identity(),
                    None,
                );
            }
            // Even the error picture fails: the region stays white.
            Err(e) => {
                tracing::warn!(spot = %spot.name, error = %e, "a mashup part could not be drawn at all")
            }
        }
    }
    Ok(renderer.encode_within(&panel, output)?)
}

/// The part's own template filled with its data at the region's size, or
/// why it cannot be.
fn part(
    templates: &Templates,
    renderer: &Renderer,
    spot: &Spot,
    data: &SpotData,
    region: &Region,
    output: &Output,
) -> Result<Pixmap, String> {
    if data.all_failed() {
        return Err(data.failure_summary());
    }
    let name = spot.template.for_size(region.width, region.height);
    let context = Context::new(
        spot,
        region.width,
        region.height,
        Some(data),
        data.fetched_at,
    )
    .with_layers(templates.layers(name), None)
    .with_inks(output.palette);
    let drawn = templates
        .render(name, &context)
        .map_err(|e| e.to_string())
        .and_then(|svg| renderer.parse(&svg).map_err(|e| e.to_string()))
        .and_then(|tree| {
            renderer
                .draw(&tree, region.width, region.height)
                .map_err(|e| e.to_string())
        });
    drawn.map_err(|e| {
        tracing::warn!(spot = %spot.name, error = %e, "a mashup part's template fails; its region shows the error");
        "its template could not be drawn; the server log has the details".to_string()
    })
}

/// The error picture for the part, saying `why`, at the region's size.
fn failed(
    templates: &Templates,
    renderer: &Renderer,
    spot: &Spot,
    region: &Region,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Pixmap, DrawError> {
    let mut context = Context::new(spot, region.width, region.height, None, now);
    context.headline = Some("No picture right now".to_string());
    context.reason = Some(why.to_string());
    let svg = templates.render_error(&context)?;
    let tree = renderer.parse(&svg)?;
    Ok(renderer.draw(&tree, region.width, region.height)?)
}
