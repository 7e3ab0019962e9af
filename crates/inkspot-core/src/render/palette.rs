//! Colour e-ink panels: reducing a drawing to the few inks a panel has.
//!
//! The panels do no dithering of their own: TRMNL's BWRY firmware snaps
//! each pixel to black, white, yellow or red, and the Spectra 6 boards to
//! the nearest of six reference inks. So the server dithers, against the
//! colours the inks really show, and writes the pure ink colours the
//! device snaps to exactly.

use super::diffuse;
use crate::config::{Dither, Palette};

/// One ink: the colour written to the file, and the colour the panel
/// really shows, which error diffusion aims for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ink {
    /// What templates call it: `inks.red`.
    pub name: &'static str,
    /// The palette entry in the file, which the device snaps to exactly.
    pub written: [u8; 3],
    /// What the ink looks like on the panel.
    pub shown: [u8; 3],
}

const fn rgb(c: u32) -> [u8; 3] {
    [(c >> 16) as u8, (c >> 8) as u8, c as u8]
}

const fn ink(name: &'static str, written: u32, shown: u32) -> Ink {
    Ink {
        name,
        written: rgb(written),
        shown: rgb(shown),
    }
}

/// TRMNL BWRY (`og_bwry`): the four inks in TRMNL's own palette order.
const BWRY: [Ink; 4] = [
    ink("black", 0x000000, 0x000000),
    ink("white", 0xFFFFFF, 0xFFFFFF),
    ink("yellow", 0xFFFF00, 0xFFFF00),
    ink("red", 0xFF0000, 0xFF0000),
];

/// E Ink Spectra 6 (reTerminal E1002): pure inks written, matched against
/// the inks as measured on the panel (the calibration Home Assistant's
/// puppet add-on ships), so gradients come out with the right weight.
/// Black is taken as the neutral gray of its measured lightness (it
/// measures 191E21, faintly blue): with the tint, the error a gray area
/// leaves drifts red, and red and green pixels appear in it.
const SPECTRA6: [Ink; 6] = [
    ink("black", 0x000000, 0x1C1C1C),
    ink("white", 0xFFFFFF, 0xE8E8E8),
    ink("yellow", 0xFFFF00, 0xEFDE44),
    ink("red", 0xFF0000, 0xB21318),
    ink("blue", 0x0000FF, 0x2157BA),
    ink("green", 0x00FF00, 0x125F20),
];

/// The inks of `palette`, in palette order.
pub fn inks(palette: Palette) -> &'static [Ink] {
    match palette {
        Palette::Bwry => &BWRY,
        Palette::Spectra6 => &SPECTRA6,
    }
}

/// The PNG bit depth that holds an index into `palette`.
pub fn bits(palette: Palette) -> u8 {
    match inks(palette).len() {
        0..=2 => 1,
        3..=4 => 2,
        _ => 4,
    }
}

/// `rgb` as luma and two chroma axes (BT.601), the space inks are
/// compared in.
fn ycc(rgb: [i32; 3]) -> [f32; 3] {
    let [r, g, b] = rgb.map(|v| v as f32);
    [
        0.299 * r + 0.587 * g + 0.114 * b,
        -0.1687 * r - 0.3313 * g + 0.5 * b,
        0.5 * r - 0.4187 * g - 0.0813 * b,
    ]
}

/// How much more a difference of hue counts than one of lightness. Gray
/// areas then mix black and white, not complementary inks (on Spectra 6,
/// yellow and blue average to a gray, and look like confetti).
const CHROMA_WEIGHT: f32 = 6.0;

/// The index of the ink nearest to `rgb` as the panel shows it.
fn nearest(inks: &[[f32; 3]], rgb: [i32; 3]) -> usize {
    let [y, cb, cr] = ycc(rgb);
    let mut best = (0, f32::MAX);
    for (i, ink) in inks.iter().enumerate() {
        let d =
            (ink[0] - y).powi(2) + CHROMA_WEIGHT * ((ink[1] - cb).powi(2) + (ink[2] - cr).powi(2));
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// Reduces `rgba` (`width` pixels a row, premultiplied over white
/// already) to indices into `palette`, diffusing the error as `dither`
/// says (`Auto` is Floyd–Steinberg).
pub fn reduce(rgba: &[u8], width: usize, palette: Palette, dither: Dither) -> Vec<u8> {
    let inks = inks(palette);
    let targets: Vec<[f32; 3]> = inks.iter().map(|i| ycc(i.shown.map(i32::from))).collect();
    let kernel = match dither {
        Dither::None => None,
        Dither::Atkinson => Some(&diffuse::ATKINSON),
        Dither::Auto | Dither::FloydSteinberg => Some(&diffuse::FLOYD_STEINBERG),
    };
    let pick = |want: [u8; 3]| {
        let chosen = nearest(&targets, want.map(i32::from));
        (chosen as u8, inks[chosen].shown)
    };
    match kernel {
        Some(kernel) => diffuse::colour(rgba, 4, width, kernel, pick),
        None => rgba
            .chunks_exact(4)
            .map(|p| pick([p[0], p[1], p[2]]).0)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn flat(rgb: [u8; 3], n: usize) -> Vec<u8> {
        (0..n).flat_map(|_| [rgb[0], rgb[1], rgb[2], 255]).collect()
    }

    #[rstest]
    #[case(Palette::Bwry, [255, 0, 0], 3)]
    #[case(Palette::Bwry, [250, 240, 10], 2)]
    #[case(Palette::Bwry, [20, 20, 20], 0)]
    #[case(Palette::Spectra6, [30, 90, 200], 4)]
    #[case(Palette::Spectra6, [20, 100, 40], 5)]
    #[case(Palette::Spectra6, [240, 240, 240], 1)]
    fn a_colour_near_an_ink_becomes_it(
        #[case] palette: Palette,
        #[case] rgb: [u8; 3],
        #[case] index: u8,
    ) {
        for dither in [Dither::None, Dither::FloydSteinberg, Dither::Atkinson] {
            let out = reduce(&flat(rgb, 1), 1, palette, dither);
            assert_eq!(out, [index], "{dither:?}");
        }
    }

    #[test]
    fn gray_is_mixed_from_black_and_white_not_from_colours() {
        let out = reduce(
            &flat([128, 128, 128], 32 * 32),
            32,
            Palette::Spectra6,
            Dither::FloydSteinberg,
        );
        let colours: Vec<u8> = out.iter().copied().filter(|&i| i >= 2).collect();
        assert!(colours.is_empty(), "only black and white: {colours:?}");
        let white = out.iter().filter(|&&i| i == 1).count() as f64 / out.len() as f64;
        assert!((0.35..0.65).contains(&white), "{white}");
    }

    #[test]
    fn dithering_mixes_inks_in_proportion() {
        // Orange on BWRY: about half red, half yellow.
        let out = reduce(
            &flat([255, 128, 0], 64 * 64),
            64,
            Palette::Bwry,
            Dither::FloydSteinberg,
        );
        let red = out.iter().filter(|&&i| i == 3).count() as f64 / out.len() as f64;
        let yellow = out.iter().filter(|&&i| i == 2).count() as f64 / out.len() as f64;
        assert!((0.35..0.65).contains(&red), "red {red}");
        assert!((0.35..0.65).contains(&yellow), "yellow {yellow}");
        // Without dithering, all of one ink.
        let plain = reduce(&flat([255, 128, 0], 16), 4, Palette::Bwry, Dither::None);
        assert!(plain.iter().all(|&i| i == plain[0]));
    }

    proptest! {
        /// Whatever the picture and the diffusion, every pixel gets an ink
        /// of the palette, and one index per pixel.
        #[test]
        fn only_palette_inks_are_written(
            pixels in proptest::collection::vec(any::<[u8; 3]>(), 1..400),
            width in 1usize..40,
            spectra in any::<bool>(),
            dither in 0usize..3,
        ) {
            let palette = if spectra { Palette::Spectra6 } else { Palette::Bwry };
            let dither = [Dither::None, Dither::FloydSteinberg, Dither::Atkinson][dither];
            let rows = pixels.len() / width;
            prop_assume!(rows > 0);
            let rgba: Vec<u8> = pixels[..rows * width]
                .iter()
                .flat_map(|p| [p[0], p[1], p[2], 255])
                .collect();
            let out = reduce(&rgba, width, palette, dither);
            prop_assert_eq!(out.len(), rows * width);
            prop_assert!(out.iter().all(|&i| usize::from(i) < inks(palette).len()));
        }
    }
}
