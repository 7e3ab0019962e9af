//! Colour e-ink panels: reducing a drawing to the few inks a panel has.
//!
//! The panels do no dithering of their own: TRMNL's BWRY firmware snaps
//! each pixel to black, white, yellow or red, and the Spectra 6 boards to
//! the nearest of six reference inks. So the server dithers, against the
//! colours the inks really show, and writes the pure ink colours the
//! device snaps to exactly.

use crate::config::{Dither, Palette};

/// One ink: the colour written to the file, and the colour the panel
/// really shows, which error diffusion aims for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ink {
    /// The palette entry in the file, which the device snaps to exactly.
    pub written: [u8; 3],
    /// What the ink looks like on the panel.
    pub shown: [u8; 3],
}

const fn ink(written: u32, shown: u32) -> Ink {
    let rgb = |c: u32| [(c >> 16) as u8, (c >> 8) as u8, c as u8];
    Ink {
        written: rgb(written),
        shown: rgb(shown),
    }
}

/// TRMNL BWRY (`og_bwry`): the four inks in TRMNL's own palette order.
const BWRY: [Ink; 4] = [
    ink(0x000000, 0x000000),
    ink(0xFFFFFF, 0xFFFFFF),
    ink(0xFFFF00, 0xFFFF00),
    ink(0xFF0000, 0xFF0000),
];

/// E Ink Spectra 6 (reTerminal E1002): pure inks written, matched against
/// the inks as measured on the panel (the calibration Home Assistant's
/// puppet add-on ships), so gradients come out with the right weight.
const SPECTRA6: [Ink; 6] = [
    ink(0x000000, 0x191E21),
    ink(0xFFFFFF, 0xE8E8E8),
    ink(0xFFFF00, 0xEFDE44),
    ink(0xFF0000, 0xB21318),
    ink(0x0000FF, 0x2157BA),
    ink(0x00FF00, 0x125F20),
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

/// The index of the ink nearest to `rgb` as the panel shows it, by
/// distance weighted for the eye (red 2, green 4, blue 3).
fn nearest(inks: &[Ink], rgb: [i32; 3]) -> usize {
    let mut best = (0, i64::MAX);
    for (i, ink) in inks.iter().enumerate() {
        let d: i64 = [2, 4, 3]
            .iter()
            .zip(ink.shown.iter().zip(rgb))
            .map(|(w, (s, v))| {
                let diff = i64::from(*s) - i64::from(v);
                w * diff * diff
            })
            .sum();
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
    let height = if width == 0 { 0 } else { rgba.len() / 4 / width };
    let mut work: Vec<[i32; 3]> = rgba
        .chunks_exact(4)
        .map(|p| [i32::from(p[0]), i32::from(p[1]), i32::from(p[2])])
        .collect();
    let mut out = vec![0u8; work.len()];
    // (dx, dy, weight) of each neighbour, and the divisor.
    let (taps, divisor): (&[(isize, usize, i32)], i32) = match dither {
        Dither::None => (&[], 1),
        Dither::Atkinson => (
            &[(1, 0, 1), (2, 0, 1), (-1, 1, 1), (0, 1, 1), (1, 1, 1), (0, 2, 1)],
            8,
        ),
        Dither::Auto | Dither::FloydSteinberg => (&[(1, 0, 7), (-1, 1, 3), (0, 1, 5), (1, 1, 1)], 16),
    };
    for y in 0..height {
        for x in 0..width {
            let i = y * width + x;
            let old = work[i].map(|v| v.clamp(0, 255));
            let chosen = nearest(inks, old);
            out[i] = chosen as u8;
            let shown = inks[chosen].shown;
            let error = [0, 1, 2].map(|c| old[c] - i32::from(shown[c]));
            for &(dx, dy, weight) in taps {
                let (nx, ny) = (x as isize + dx, y + dy);
                if nx < 0 || nx as usize >= width || ny >= height {
                    continue;
                }
                let n = &mut work[ny * width + nx as usize];
                for c in 0..3 {
                    n[c] += error[c] * weight / divisor;
                }
            }
        }
    }
    out
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
    fn dithering_mixes_inks_in_proportion() {
        // Orange on BWRY: about half red, half yellow.
        let out = reduce(&flat([255, 128, 0], 64 * 64), 64, Palette::Bwry, Dither::FloydSteinberg);
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
