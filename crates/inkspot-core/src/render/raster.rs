//! Pixel work between drawing and encoding: gray conversion, inversion,
//! reduction to 2^bits levels with optional error diffusion, and rotation.

use tiny_skia::Pixmap;

use super::Output;
use super::tones::{Choice, Tones};
use super::{diffuse, palette};
use crate::config::{Dither, Palette};

/// Pixels ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pixels {
    /// One byte a pixel, 0 black to 255 white; after reduction every value
    /// is one of the 2^bits evenly spaced levels.
    Gray(Vec<u8>),
    /// Three bytes a pixel, R G B.
    Rgb(Vec<u8>),
    /// One byte a pixel: an index into the palette's inks.
    Indexed(Vec<u8>, Palette),
}

/// An image in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raster {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels, row by row, top first.
    pub pixels: Pixels,
}

impl Raster {
    /// Converts a pixmap drawn over white (so opaque) to gray or RGB,
    /// applying `output`'s bits, dithering, inversion and rotation.
    pub fn from_pixmap(pixmap: &Pixmap, output: &Output) -> Self {
        let data = pixmap.data();
        let pixels = match output.bits {
            _ if output.palette.is_some() => indexed(data, pixmap.width() as usize, output),
            Some(bits) => {
                let mut gray = to_gray(data);
                if output.invert {
                    gray.iter_mut().for_each(|v| *v = 255 - *v);
                }
                if bits < 8 {
                    reduce(&mut gray, pixmap.width() as usize, bits, output.dither);
                }
                Pixels::Gray(gray)
            }
            None => {
                let mut rgb: Vec<u8> = data
                    .chunks_exact(4)
                    .flat_map(|p| [p[0], p[1], p[2]])
                    .collect();
                if output.invert {
                    rgb.iter_mut().for_each(|v| *v = 255 - *v);
                }
                Pixels::Rgb(rgb)
            }
        };
        Raster {
            width: pixmap.width(),
            height: pixmap.height(),
            pixels,
        }
        .rotated(output.rotate)
    }

    /// The image turned clockwise by `degrees` (0, 90, 180 or 270).
    pub fn rotated(self, degrees: u16) -> Self {
        let (w, h) = (self.width as usize, self.height as usize);
        let turn = |src: &[u8], n: usize| -> Vec<u8> {
            let mut dst = vec![0; src.len()];
            for y in 0..h {
                for x in 0..w {
                    let to = match degrees {
                        90 => x * h + (h - 1 - y),
                        180 => (h - 1 - y) * w + (w - 1 - x),
                        270 => (w - 1 - x) * h + y,
                        _ => y * w + x,
                    };
                    let from = y * w + x;
                    dst[to * n..to * n + n].copy_from_slice(&src[from * n..from * n + n]);
                }
            }
            dst
        };
        if degrees.is_multiple_of(360) {
            return self;
        }
        let pixels = match &self.pixels {
            Pixels::Gray(g) => Pixels::Gray(turn(g, 1)),
            Pixels::Rgb(c) => Pixels::Rgb(turn(c, 3)),
            Pixels::Indexed(i, palette) => Pixels::Indexed(turn(i, 1), *palette),
        };
        let (width, height) = if degrees % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        };
        Raster {
            width,
            height,
            pixels,
        }
    }
}

/// The pixmap reduced to `output`'s palette; `Auto` diffuses the error
/// in the picture's tonal blocks and picks the nearest ink elsewhere.
fn indexed(data: &[u8], width: usize, output: &Output) -> Pixels {
    let palette = output.palette.unwrap_or(Palette::Bwry);
    let mut rgba = data.to_vec();
    if output.invert {
        for p in rgba.chunks_exact_mut(4) {
            p[..3].iter_mut().for_each(|v| *v = 255 - *v);
        }
    }
    let indices = match output.dither {
        Dither::Auto => match Tones::of(&to_gray(&rgba), width).choice() {
            Choice::Crisp => palette::reduce(&rgba, width, palette, Dither::None),
            Choice::Dither => palette::reduce(&rgba, width, palette, Dither::FloydSteinberg),
            Choice::Mixed(tones) => {
                let mut crisp = palette::reduce(&rgba, width, palette, Dither::None);
                let dithered = palette::reduce(&rgba, width, palette, Dither::FloydSteinberg);
                tones.merge(&mut crisp, &dithered, width);
                crisp
            }
        },
        other => palette::reduce(&rgba, width, palette, other),
    };
    Pixels::Indexed(indices, palette)
}

/// Rec. 601 luma of opaque RGBA pixels, in integer arithmetic.
pub fn to_gray(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .map(|p| ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32 + 128) >> 8) as u8)
        .collect()
}

/// The level nearest to `v` among 2^bits evenly spaced levels.
#[inline]
pub fn quantize(v: i32, bits: u8) -> u8 {
    let max = (1i32 << bits) - 1;
    let level = (v.clamp(0, 255) * max + 127) / 255;
    (level * 255 / max) as u8
}

/// Reduces `gray` (rows of `width`) to 2^bits levels in place; `Auto`
/// dithers the picture's tonal blocks and thresholds the rest.
pub fn reduce(gray: &mut [u8], width: usize, bits: u8, dither: Dither) {
    let table = Levels::new(bits);
    let nearest = |v: i32| table.nearest(v);
    match dither {
        Dither::None => gray.iter_mut().for_each(|v| *v = table.nearest(*v as i32)),
        Dither::FloydSteinberg => diffuse::gray(gray, width, &diffuse::FLOYD_STEINBERG, nearest),
        Dither::Atkinson => diffuse::gray(gray, width, &diffuse::ATKINSON, nearest),
        Dither::Auto => match Tones::of(gray, width).choice() {
            Choice::Crisp => reduce(gray, width, bits, Dither::None),
            Choice::Dither => reduce(gray, width, bits, Dither::FloydSteinberg),
            Choice::Mixed(tones) => {
                let mut dithered = gray.to_vec();
                diffuse::gray(&mut dithered, width, &diffuse::FLOYD_STEINBERG, nearest);
                reduce(gray, width, bits, Dither::None);
                tones.merge(gray, &dithered, width);
            }
        },
    }
}

/// The nearest level for every value error diffusion can produce
/// (-255..=510), so the hot loop does a lookup instead of two divisions.
struct Levels {
    table: Vec<u8>,
}

impl Levels {
    const OFFSET: i32 = 255;

    fn new(bits: u8) -> Self {
        let table = (-Self::OFFSET..=510).map(|v| quantize(v, bits)).collect();
        Self { table }
    }

    #[inline]
    fn nearest(&self, v: i32) -> u8 {
        self.table[(v.clamp(-Self::OFFSET, 510) + Self::OFFSET) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(1, &[0, 127, 128, 255], &[0, 0, 255, 255])]
    #[case(2, &[0, 42, 43, 128, 200, 255], &[0, 0, 85, 170, 170, 255])]
    #[case(4, &[16, 17, 255], &[17, 17, 255])]
    fn quantizes_to_evenly_spaced_levels(
        #[case] bits: u8,
        #[case] input: &[u8],
        #[case] expect: &[u8],
    ) {
        let out: Vec<u8> = input.iter().map(|&v| quantize(v as i32, bits)).collect();
        assert_eq!(out, expect);
    }

    #[rstest]
    #[case(Dither::FloydSteinberg)]
    #[case(Dither::Atkinson)]
    #[case(Dither::Auto)]
    fn dithering_a_flat_gray_keeps_its_average(#[case] dither: Dither) {
        let mut gray = vec![128u8; 64 * 64];
        reduce(&mut gray, 64, 1, dither);
        assert!(gray.iter().all(|&v| v == 0 || v == 255));
        let white = gray.iter().filter(|&&v| v == 255).count() as f64 / gray.len() as f64;
        assert!((0.4..0.6).contains(&white), "{white}");
    }

    /// A black square on white with a one-pixel grey edge, as anti-aliasing
    /// draws it: `auto` thresholds it (crisp, no speckles along the edge).
    #[test]
    fn auto_keeps_black_and_white_drawings_crisp() {
        let w = 64;
        let mut gray = vec![255u8; w * w];
        for y in 19..=40 {
            for x in 19..=40 {
                let edge = y == 19 || y == 40 || x == 19 || x == 40;
                gray[y * w + x] = if edge { 140 } else { 0 };
            }
        }
        let (mut auto, mut none) = (gray.clone(), gray.clone());
        reduce(&mut auto, w, 1, Dither::Auto);
        reduce(&mut none, w, 1, Dither::None);
        assert_eq!(auto, none);
    }

    /// A page as a browser draws it: a grey photo-like area beside text.
    /// `auto` dithers the area (its shade survives at 1-bit) and leaves the
    /// text's block exactly as thresholding draws it.
    #[test]
    fn auto_dithers_grey_areas_and_keeps_text_beside_them_crisp() {
        let w = 64;
        let mut gray = vec![255u8; w * w];
        for y in 0..32 {
            for x in 0..32 {
                gray[y * w + x] = 128;
            }
        }
        for y in 40..=50 {
            for x in 36..60 {
                let edge = y == 40 || y == 50 || x == 36 || x == 59;
                gray[y * w + x] = if edge { 140 } else { 0 };
            }
        }
        let (mut auto, mut none) = (gray.clone(), gray.clone());
        reduce(&mut auto, w, 1, Dither::Auto);
        reduce(&mut none, w, 1, Dither::None);
        let area: Vec<u8> = (0..32)
            .flat_map(|y| auto[y * w..y * w + 32].to_vec())
            .collect();
        let white = area.iter().filter(|&&v| v == 255).count() as f64 / area.len() as f64;
        assert!(
            (0.4..0.6).contains(&white),
            "the grey area dithered: {white}"
        );
        for y in 32..w {
            assert_eq!(
                auto[y * w + 32..(y + 1) * w],
                none[y * w + 32..(y + 1) * w],
                "row {y}"
            );
        }
    }

    #[test]
    fn no_dither_thresholds() {
        let mut gray = vec![100u8; 16];
        reduce(&mut gray, 4, 1, Dither::None);
        assert!(gray.iter().all(|&v| v == 0));
    }

    #[rstest]
    #[case(90, 2, 3, vec![4, 1, 5, 2, 6, 3])]
    #[case(180, 3, 2, vec![6, 5, 4, 3, 2, 1])]
    #[case(270, 2, 3, vec![3, 6, 2, 5, 1, 4])]
    fn rotates_clockwise(
        #[case] degrees: u16,
        #[case] w: u32,
        #[case] h: u32,
        #[case] expect: Vec<u8>,
    ) {
        // 1 2 3
        // 4 5 6
        let r = Raster {
            width: 3,
            height: 2,
            pixels: Pixels::Gray(vec![1, 2, 3, 4, 5, 6]),
        }
        .rotated(degrees);
        assert_eq!((r.width, r.height), (w, h));
        assert_eq!(r.pixels, Pixels::Gray(expect));
    }
}
