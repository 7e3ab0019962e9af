//! The pipeline's pictures that a browser takes: a screenshot spot's page,
//! or a filled HTML template. The picture is fitted to the output's size
//! and goes through the same output stage as a drawn SVG (levels,
//! dithering, rotation, inks, the byte limit).

use std::path::PathBuf;
use std::sync::Arc;

use tiny_skia::{Pixmap, PixmapPaint, Transform};

use super::{DrawError, Pipeline};
use crate::config::{Screenshot, expand_env};
use crate::render::{Output, RenderError};
use crate::request::RenderRequest;
use crate::shot::{Camera, Page, ShotError, ShotRequest};
use crate::template::{Context, Templates};

/// What draws a request's picture.
pub(super) enum Source {
    /// The resvg renderer, from the filled SVG template.
    Svg,
    /// The browser.
    Browser(Box<ShotRequest>),
}

/// The browser's side of the pipeline: the camera, and the folder an
/// HTML template's page reads its files from.
#[derive(Clone)]
pub(super) struct Browsing {
    pub(super) camera: Arc<dyn Camera>,
    pub(super) templates_dir: Arc<PathBuf>,
}

impl Browsing {
    /// Whether `request` is drawn by the browser, and with what: for an
    /// HTML template, filled with `context` here.
    pub(super) fn source_of(
        &self,
        request: &RenderRequest,
        context: &Context,
        templates: &Templates,
    ) -> Result<Source, DrawError> {
        let (w, h) = (request.output.width, request.output.height);
        if let Some(shot) = &request.spot.screenshot {
            return Ok(Source::Browser(Box::new(screenshot(shot, w, h)?)));
        }
        let name = request.template();
        if !templates.is_html(name) {
            return Ok(Source::Svg);
        }
        let html = templates.render(name, context)?;
        let page = Page::Html {
            html,
            assets: self.templates_dir.as_ref().clone(),
        };
        let mut shot = ShotRequest::new(page, w, h);
        shot.hosts = request.spot.page_hosts.clone();
        Ok(Source::Browser(Box::new(shot)))
    }

    /// Takes the picture and encodes it for `output` on a blocking thread
    /// of `pipeline`'s.
    pub(super) async fn shoot(
        &self,
        pipeline: &Pipeline,
        shot: ShotRequest,
        output: Output,
    ) -> Result<Vec<u8>, DrawError> {
        let started = std::time::Instant::now();
        let taken = self.camera.shoot(shot).await?;
        pipeline.observer.stage("shot", started.elapsed());
        let renderer = pipeline.renderer.clone();
        let metrics = pipeline.observer.clone();
        pipeline
            .cpu
            .run(move || -> Result<Vec<u8>, DrawError> {
                let started = std::time::Instant::now();
                let pixmap = fit(&taken.image, output.width, output.height)?;
                let bytes = renderer.encode_within(&pixmap, &output)?;
                metrics.stage("encode", started.elapsed());
                Ok(bytes)
            })
            .await?
    }

    /// The picture as pixels at the output's size, not encoded.
    pub(super) async fn shoot_pixels(
        &self,
        pipeline: &Pipeline,
        shot: ShotRequest,
        output: Output,
    ) -> Result<Pixmap, DrawError> {
        let taken = self.camera.shoot(shot).await?;
        pipeline
            .cpu
            .run(move || fit(&taken.image, output.width, output.height).map_err(DrawError::from))
            .await?
    }
}

/// The browser's request for a screenshot spot at `width`×`height`: the
/// window is the spot's viewport, or the output's size shrunk by the zoom
/// (so the picture has the output's pixels).
pub fn screenshot(shot: &Screenshot, width: u32, height: u32) -> Result<ShotRequest, ShotError> {
    let url = crate::config::check_page_url(&shot.url).map_err(ShotError::Refused)?;
    let (w, h) = shot.viewport_size().unwrap_or_else(|| {
        let shrink = |v: u32| ((f64::from(v) / shot.zoom).round() as u32).max(1);
        (shrink(width), shrink(height))
    });
    let expand = |values: &std::collections::BTreeMap<String, String>| {
        values
            .iter()
            .map(|(k, v)| Ok((k.clone(), expand_env(v).map_err(ShotError::Load)?)))
            .collect::<Result<_, ShotError>>()
    };
    let mut request = ShotRequest::new(Page::Url(url), w, h);
    request.zoom = shot.zoom;
    request.wait_for = shot.wait_for.clone();
    request.delay = shot.delay;
    request.selector = shot.selector.clone();
    request.hide = shot.hide.clone();
    request.headers = expand(&shot.headers)?;
    request.cookies = expand(&shot.cookies)?;
    request.dark = shot.dark;
    Ok(request)
}

/// Decodes `png` and fits it into `width`×`height` over white: scaled
/// uniformly and centred, as a template of another aspect is.
pub fn fit(png: &[u8], width: u32, height: u32) -> Result<Pixmap, RenderError> {
    let shot = Pixmap::decode_png(png).map_err(|e| RenderError::Image(e.to_string()))?;
    if shot.width() == width && shot.height() == height {
        return Ok(shot);
    }
    let mut pixmap = Pixmap::new(width, height).ok_or(RenderError::Size(width, height))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    let scale = (width as f32 / shot.width() as f32).min(height as f32 / shot.height() as f32);
    let dx = (width as f32 - shot.width() as f32 * scale) / 2.0;
    let dy = (height as f32 - shot.height() as f32 * scale) / 2.0;
    let paint = PixmapPaint {
        quality: tiny_skia::FilterQuality::Bicubic,
        ..PixmapPaint::default()
    };
    let transform = Transform::from_scale(scale, scale).post_translate(dx, dy);
    pixmap.draw_pixmap(0, 0, shot.as_ref(), &paint, transform, None);
    Ok(pixmap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, rgba: [u8; 4]) -> Vec<u8> {
        let mut p = Pixmap::new(width, height).unwrap();
        p.fill(tiny_skia::Color::from_rgba8(
            rgba[0], rgba[1], rgba[2], rgba[3],
        ));
        p.encode_png().unwrap()
    }

    #[test]
    fn a_picture_of_the_right_size_is_kept_as_it_is() {
        let pixmap = fit(&png(8, 4, [0, 0, 0, 255]), 8, 4).unwrap();
        assert!(pixmap.pixels().iter().all(|p| p.red() == 0));
    }

    #[test]
    fn another_aspect_is_letterboxed_over_white() {
        // 4x4 black into 8x4: a black square in the middle, white beside.
        let pixmap = fit(&png(4, 4, [0, 0, 0, 255]), 8, 4).unwrap();
        let at = |x: u32, y: u32| pixmap.pixel(x, y).unwrap().red();
        assert_eq!(at(0, 2), 255);
        assert_eq!(at(4, 2), 0);
        assert_eq!(at(7, 2), 255);
    }

    #[test]
    fn a_screenshot_window_is_the_output_over_the_zoom() {
        let shot = Screenshot {
            url: "http://ha.local:8123/".into(),
            wait_for: None,
            delay: None,
            viewport: None,
            zoom: 2.0,
            selector: None,
            hide: vec![],
            headers: Default::default(),
            cookies: Default::default(),
            dark: false,
        };
        let request = screenshot(&shot, 800, 480).unwrap();
        assert_eq!((request.width, request.height), (400, 240));
        let wide = Screenshot {
            viewport: Some("1024x768".into()),
            ..shot.clone()
        };
        let request = screenshot(&wide, 800, 480).unwrap();
        assert_eq!((request.width, request.height), (1024, 768));
        let file = Screenshot {
            url: "file:///etc/passwd".into(),
            ..shot
        };
        assert!(matches!(
            screenshot(&file, 800, 480),
            Err(ShotError::Refused(_))
        ));
    }
}
