//! Rasterizing filled SVG templates (usvg, resvg, tiny-skia) and encoding the
//! result for devices.

pub mod animate;
pub mod diffuse;
pub mod encode;
pub mod fonts;
pub mod output;
pub mod palette;
pub mod preview;
pub mod raster;
pub mod tones;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tiny_skia::{Pixmap, Transform};
use usvg::fontdb::Database;

pub use crate::config::{Dither, ImageFormat};
pub use output::Output;
pub use raster::Raster;

/// Errors from drawing.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The filled template is not valid SVG.
    #[error("the filled template is not valid SVG: {0}")]
    Svg(#[from] usvg::Error),
    /// The requested size cannot be allocated.
    #[error("cannot allocate a {0}x{1} image")]
    Size(u32, u32),
    /// Encoding failed.
    #[error(transparent)]
    Encode(#[from] encode::EncodeError),
    /// A picture (a browser's screenshot) could not be decoded.
    #[error("the picture cannot be decoded: {0}")]
    Image(String),
}

/// Draws SVG documents with a font database loaded once.
#[derive(Clone)]
pub struct Renderer {
    fontdb: Arc<Database>,
    resources: Arc<PathBuf>,
}

impl Renderer {
    /// A renderer whose images and fonts come from `templates_dir`, plus the
    /// shipped and (when `system_fonts`) the system's fonts.
    pub fn new(templates_dir: &Path, system_fonts: bool) -> Self {
        let resources = templates_dir
            .canonicalize()
            .unwrap_or_else(|_| templates_dir.to_path_buf());
        Self {
            fontdb: Arc::new(fonts::database(&resources, system_fonts)),
            resources: Arc::new(resources),
        }
    }

    /// Parses `svg` into a tree; images may come only from the templates folder.
    pub fn parse(&self, svg: &str) -> Result<usvg::Tree, RenderError> {
        let resources = self.resources.clone();
        let options = usvg::Options {
            resources_dir: Some(self.resources.as_ref().clone()),
            fontdb: self.fontdb.clone(),
            font_family: fonts::SANS.to_string(),
            image_href_resolver: usvg::ImageHrefResolver {
                resolve_data: usvg::ImageHrefResolver::default_data_resolver(),
                resolve_string: Box::new(move |href, opts| {
                    resolve_local_image(&resources, href, opts)
                }),
            },
            ..usvg::Options::default()
        };
        Ok(usvg::Tree::from_str(svg, &options)?)
    }

    /// How far `text` reaches from its start, in px, at font size `size`
    /// in the default family, laid out as a drawing would lay it out; 0
    /// when it cannot be laid out.
    pub fn text_width(&self, text: &str, size: f64, bold: bool) -> f64 {
        let escaped = text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let weight = if bold { "bold" } else { "normal" };
        let svg = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="{h}"><text x="0" y="{size}" font-size="{size}" font-weight="{weight}" xml:space="preserve">{escaped}</text></svg>"#,
            h = size * 2.0
        );
        let Ok(tree) = self.parse(&svg) else {
            return 0.0;
        };
        let right = tree.root().abs_bounding_box().right();
        f64::from(right.max(0.0))
    }

    /// Draws `tree` at `width`×`height` over white. The SVG's own size is
    /// scaled uniformly to fit and centred, so a template drawn at another
    /// aspect ratio is letterboxed rather than distorted; templates that use
    /// `spot.width` and `spot.height` fill any size exactly.
    pub fn draw(&self, tree: &usvg::Tree, width: u32, height: u32) -> Result<Pixmap, RenderError> {
        let mut pixmap = Pixmap::new(width, height).ok_or(RenderError::Size(width, height))?;
        pixmap.fill(tiny_skia::Color::WHITE);
        let size = tree.size();
        let scale = (width as f32 / size.width()).min(height as f32 / size.height());
        let dx = (width as f32 - size.width() * scale) / 2.0;
        let dy = (height as f32 - size.height() * scale) / 2.0;
        let transform = Transform::from_scale(scale, scale).post_translate(dx, dy);
        resvg::render(tree, transform, &mut pixmap.as_mut());
        Ok(pixmap)
    }

    /// Parses, draws and encodes `svg` for `output`. CPU-bound: the service
    /// runs it on a blocking thread (see `flight::Cpu`).
    /// An image over the output's `max_bytes` is encoded again with less
    /// ([`Output::smaller`]) until it fits, since the device would throw
    /// it away; each step is logged.
    pub fn render(&self, svg: &str, output: &Output) -> Result<Vec<u8>, RenderError> {
        self.render_timed(svg, output).map(|(bytes, _)| bytes)
    }

    /// [`Renderer::render`], with the time spent drawing (parse and
    /// rasterize) and encoding.
    pub fn render_timed(
        &self,
        svg: &str,
        output: &Output,
    ) -> Result<(Vec<u8>, StageTimes), RenderError> {
        let started = std::time::Instant::now();
        let tree = self.parse(svg)?;
        let pixmap = self.draw(&tree, output.width, output.height)?;
        let drawn = std::time::Instant::now();
        let bytes = self.encode_within(&pixmap, output)?;
        let times = StageTimes {
            draw: drawn - started,
            encode: drawn.elapsed(),
        };
        Ok((bytes, times))
    }

    /// Encodes `pixmap` as `output`, with less when over its `max_bytes`.
    pub fn encode_within(&self, pixmap: &Pixmap, output: &Output) -> Result<Vec<u8>, RenderError> {
        let bytes = encode_as(pixmap, output)?;
        let Some(cap) = output.max_bytes.map(|m| m as usize) else {
            return Ok(bytes);
        };
        let mut last = bytes;
        for smaller in output.smaller() {
            if last.len() <= cap {
                break;
            }
            let over = last.len();
            last = encode_as(pixmap, &smaller)?;
            tracing::warn!(
                asked = %output, drawn = %smaller, bytes = over, cap, now = last.len(),
                "the image is over the device's byte limit; drawn again with less"
            );
        }
        if last.len() > cap {
            tracing::warn!(output = %output, bytes = last.len(), cap, "the image is over the device's byte limit at its smallest encoding");
        }
        Ok(last)
    }
}

/// Where a render's CPU time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// Parsing the SVG and rasterizing it.
    pub draw: std::time::Duration,
    /// Encoding the pixels (again, when over the byte limit).
    pub encode: std::time::Duration,
}

fn encode_as(pixmap: &Pixmap, output: &Output) -> Result<Vec<u8>, RenderError> {
    let raster = Raster::from_pixmap(pixmap, output);
    Ok(encode::encode(&raster, output.format, output.bits)?)
}

/// Loads `<image href>` only from files inside the templates folder: no
/// absolute paths elsewhere, no `..` escapes, no URLs.
fn resolve_local_image(root: &Path, href: &str, opts: &usvg::Options) -> Option<usvg::ImageKind> {
    if href.contains("://") {
        tracing::warn!(%href, "template image refused: only files in the templates folder can be used");
        return None;
    }
    let path = root
        .join(href.trim_start_matches("file:"))
        .canonicalize()
        .ok()?;
    if !path.starts_with(root) {
        tracing::warn!(%href, "template image refused: outside the templates folder");
        return None;
    }
    let data = std::fs::read(&path).ok()?;
    let data = Arc::new(data);
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Some(usvg::ImageKind::PNG(data)),
        Some("jpg" | "jpeg") => Some(usvg::ImageKind::JPEG(data)),
        Some("gif") => Some(usvg::ImageKind::GIF(data)),
        Some("webp") => Some(usvg::ImageKind::WEBP(data)),
        Some("svg") => usvg::Tree::from_data(&data, opts)
            .ok()
            .map(usvg::ImageKind::SVG),
        _ => None,
    }
}
