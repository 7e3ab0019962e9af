//! Animation files, written frame by frame as frames arrive, so a whole
//! animation is never held in memory: animated GIF, animated PNG (APNG),
//! and a contact sheet (every frame on one PNG, in a grid, for e-ink).

mod dither;

use std::io::Write;

use crate::render::Raster;
use crate::render::palette::inks;
use crate::render::raster::Pixels;

use serde::{Deserialize, Serialize};

/// An animation's file format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AnimationFormat {
    /// Animated GIF.
    #[default]
    Gif,
    /// Animated PNG.
    Apng,
    /// Every frame on one PNG, in a grid.
    Sheet,
}

/// Where a GIF's palette comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PaletteMode {
    /// One for every frame: the output's levels or inks, or a colour cube
    /// with error diffusion for full colour.
    #[default]
    Global,
    /// Each frame's own, chosen from its colours.
    Frame,
}

/// Why an animation could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AnimateError {
    /// GIF encoding failed.
    #[error("GIF: {0}")]
    Gif(#[from] gif::EncodingError),
    /// PNG encoding failed.
    #[error("PNG: {0}")]
    Png(#[from] png::EncodingError),
    /// Writing the file failed.
    #[error("write: {0}")]
    Io(#[from] std::io::Error),
    /// A frame of another size than the first.
    #[error("frames differ in size")]
    Size,
}

/// White space between frames on a contact sheet, in pixels.
const GUTTER: u32 = 8;

/// How the animation is written.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// The file format.
    pub format: AnimationFormat,
    /// A GIF's palette.
    pub palette: PaletteMode,
    /// Each frame's delay, ms.
    pub delay_ms: u32,
    /// Times it plays; 0 for ever.
    pub loops: u16,
    /// How many frames there will be.
    pub frames: usize,
    /// Each frame's size.
    pub width: u32,
    /// Each frame's height.
    pub height: u32,
}

impl Settings {
    /// The media type of the file.
    pub fn media_type(&self) -> &'static str {
        match self.format {
            AnimationFormat::Gif => "image/gif",
            AnimationFormat::Apng => "image/apng",
            AnimationFormat::Sheet => "image/png",
        }
    }

    /// The file name extension.
    pub fn extension(&self) -> &'static str {
        match self.format {
            AnimationFormat::Gif => "gif",
            AnimationFormat::Apng => "png",
            AnimationFormat::Sheet => "png",
        }
    }

    /// Columns of a contact sheet: about square.
    fn columns(&self) -> usize {
        (self.frames as f64).sqrt().ceil().max(1.0) as usize
    }
}

/// Writes frames to `W` as they are added.
pub enum Encoder<W: Write + 'static> {
    /// An animated GIF.
    Gif(gif::Encoder<W>, Settings),
    /// An animated PNG.
    Apng(png::Writer<W>, Settings),
    /// A contact sheet: frames wait until their row of the grid is whole.
    Sheet(Box<png::StreamWriter<'static, W>>, Settings, Vec<Raster>),
}

impl<W: Write + 'static> Encoder<W> {
    /// Starts the file on `out`. `gray` says whether frames are gray (so
    /// the PNG kinds are written gray too).
    pub fn new(out: W, s: Settings, gray: bool) -> Result<Self, AnimateError> {
        let (w, h) = (s.width, s.height);
        match s.format {
            AnimationFormat::Gif => {
                let mut enc = gif::Encoder::new(out, w as u16, h as u16, &[])?;
                enc.set_repeat(match s.loops {
                    0 => gif::Repeat::Infinite,
                    n => gif::Repeat::Finite(n - 1),
                })?;
                Ok(Encoder::Gif(enc, s))
            }
            AnimationFormat::Apng => {
                let mut enc = png::Encoder::new(out, w, h);
                enc.set_color(color(gray));
                enc.set_depth(png::BitDepth::Eight);
                enc.set_animated(s.frames as u32, u32::from(s.loops))?;
                enc.set_frame_delay(s.delay_ms.min(u32::from(u16::MAX)) as u16, 1000)?;
                Ok(Encoder::Apng(enc.write_header()?, s))
            }
            AnimationFormat::Sheet => {
                let cols = s.columns();
                let rows = s.frames.div_ceil(cols);
                let sw = cols as u32 * w + (cols as u32 - 1) * GUTTER;
                let sh = rows as u32 * h + (rows as u32).saturating_sub(1) * GUTTER;
                let mut enc = png::Encoder::new(out, sw, sh);
                enc.set_color(color(gray));
                enc.set_depth(png::BitDepth::Eight);
                let stream = enc.write_header()?.into_stream_writer()?;
                Ok(Encoder::Sheet(Box::new(stream), s, Vec::new()))
            }
        }
    }

    /// Adds the next frame.
    pub fn add(&mut self, frame: Raster) -> Result<(), AnimateError> {
        match self {
            Encoder::Gif(enc, s) => {
                check_size(&frame, s)?;
                let mut f = gif_frame(&frame, s.palette);
                f.delay = (s.delay_ms / 10).clamp(1, u32::from(u16::MAX)) as u16;
                enc.write_frame(&f)?;
            }
            Encoder::Apng(writer, s) => {
                check_size(&frame, s)?;
                writer.write_image_data(&samples(&frame))?;
            }
            Encoder::Sheet(stream, s, row) => {
                check_size(&frame, s)?;
                row.push(frame);
                if row.len() == s.columns() {
                    write_sheet_row(stream, s, row, true)?;
                }
            }
        }
        Ok(())
    }

    /// Ends the file.
    pub fn finish(self) -> Result<(), AnimateError> {
        match self {
            Encoder::Gif(enc, _) => {
                enc.into_inner()?.flush()?;
            }
            Encoder::Apng(writer, _) => writer.finish()?,
            Encoder::Sheet(mut stream, s, mut row) => {
                if !row.is_empty() {
                    write_sheet_row(&mut stream, &s, &mut row, false)?;
                }
                stream.finish()?;
            }
        }
        Ok(())
    }
}

fn color(gray: bool) -> png::ColorType {
    if gray {
        png::ColorType::Grayscale
    } else {
        png::ColorType::Rgb
    }
}

fn check_size(frame: &Raster, s: &Settings) -> Result<(), AnimateError> {
    if (frame.width, frame.height) == (s.width, s.height) {
        Ok(())
    } else {
        Err(AnimateError::Size)
    }
}

/// The frame's samples as the PNG kinds write them: gray, or RGB.
fn samples(frame: &Raster) -> Vec<u8> {
    match &frame.pixels {
        Pixels::Gray(g) => g.clone(),
        Pixels::Rgb(rgb) => rgb.clone(),
        Pixels::Indexed(idx, palette) => {
            let inks = inks(*palette);
            idx.iter()
                .flat_map(|&i| inks.get(usize::from(i)).map_or([0; 3], |ink| ink.written))
                .collect()
        }
    }
}

/// One row of the grid: the frames side by side, a gutter between them,
/// and a gutter below unless it is the last row. White fills the rest.
fn write_sheet_row<W: Write + 'static>(
    stream: &mut png::StreamWriter<'static, W>,
    s: &Settings,
    row: &mut Vec<Raster>,
    gutter_below: bool,
) -> Result<(), AnimateError> {
    let channels = if matches!(row[0].pixels, Pixels::Gray(_)) {
        1
    } else {
        3
    };
    let cols = s.columns();
    let width = (cols as u32 * s.width + (cols as u32 - 1) * GUTTER) as usize * channels;
    let samples: Vec<Vec<u8>> = row.iter().map(samples).collect();
    let frame_row = s.width as usize * channels;
    let gap = GUTTER as usize * channels;
    let mut line = vec![255u8; width];
    for y in 0..s.height as usize {
        line.fill(255);
        for (i, frame) in samples.iter().enumerate() {
            let at = i * (frame_row + gap);
            line[at..at + frame_row].copy_from_slice(&frame[y * frame_row..(y + 1) * frame_row]);
        }
        stream.write_all(&line)?;
    }
    if gutter_below {
        line.fill(255);
        for _ in 0..GUTTER {
            stream.write_all(&line)?;
        }
    }
    row.clear();
    Ok(())
}

/// A GIF frame of `frame`.
fn gif_frame(frame: &Raster, mode: PaletteMode) -> gif::Frame<'static> {
    let (w, h) = (frame.width as u16, frame.height as u16);
    match (&frame.pixels, mode) {
        (Pixels::Gray(g), PaletteMode::Global) => {
            // Every gray its own entry: the output's levels are exact.
            let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
            indexed_frame(w, h, g.clone(), palette)
        }
        (Pixels::Gray(g), PaletteMode::Frame) => {
            let mut used = [false; 256];
            g.iter().for_each(|&v| used[usize::from(v)] = true);
            let levels: Vec<u8> = (0..=255u8).filter(|&v| used[usize::from(v)]).collect();
            let mut index = [0u8; 256];
            for (i, &v) in levels.iter().enumerate() {
                index[usize::from(v)] = i as u8;
            }
            let palette = levels.iter().flat_map(|&v| [v, v, v]).collect();
            indexed_frame(
                w,
                h,
                g.iter().map(|&v| index[usize::from(v)]).collect(),
                palette,
            )
        }
        (Pixels::Indexed(idx, palette), _) => {
            let colours = inks(*palette).iter().flat_map(|i| i.written).collect();
            indexed_frame(w, h, idx.clone(), colours)
        }
        (Pixels::Rgb(rgb), PaletteMode::Frame) => {
            let (index, palette) = dither::frame_palette(rgb, frame.width as usize);
            indexed_frame(w, h, index, palette)
        }
        (Pixels::Rgb(rgb), PaletteMode::Global) => {
            let index = dither::cube(rgb, frame.width as usize);
            indexed_frame(w, h, index, dither::cube_palette())
        }
    }
}

fn indexed_frame(w: u16, h: u16, index: Vec<u8>, palette: Vec<u8>) -> gif::Frame<'static> {
    gif::Frame {
        width: w,
        height: h,
        buffer: index.into(),
        palette: Some(palette),
        ..gif::Frame::default()
    }
}
