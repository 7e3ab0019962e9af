//! Palettes for colour GIF frames, with Floyd–Steinberg error diffusion
//! onto them (the render module's), so gradients keep their tone in 256
//! colours: one colour cube for every frame, or a palette made for each
//! frame (NeuQuant) when the frame has more colours than a GIF holds.

use std::collections::HashMap;

/// Levels of each channel in the colour cube: 6 red, 7 green, 6 blue (252
/// colours), green finest as the eye is most sensitive to it.
const CUBE: [usize; 3] = [6, 7, 6];

/// NeuQuant's sampling factor: 1 looks at every pixel, 30 at the fewest;
/// 10 is the GIF encoder's own default balance.
const SAMPLING: i32 = 10;

/// The colour cube's palette, red slowest.
pub(super) fn cube_palette() -> Vec<u8> {
    let mut out = Vec::with_capacity(252 * 3);
    for r in 0..CUBE[0] {
        for g in 0..CUBE[1] {
            for b in 0..CUBE[2] {
                out.extend([level(r, 0), level(g, 1), level(b, 2)]);
            }
        }
    }
    out
}

fn level(i: usize, channel: usize) -> u8 {
    (i * 255 / (CUBE[channel] - 1)) as u8
}

/// RGB pixels mapped to the colour cube, diffused.
pub(super) fn cube(rgb: &[u8], width: usize) -> Vec<u8> {
    diffuse(rgb, width, |want| {
        let i: [usize; 3] = std::array::from_fn(|c| {
            let n = CUBE[c] as i32 - 1;
            ((i32::from(want[c]) * n + 127) / 255) as usize
        });
        let index = i[0] * CUBE[1] * CUBE[2] + i[1] * CUBE[2] + i[2];
        (index as u8, std::array::from_fn(|c| level(i[c], c)))
    })
}

/// RGB pixels with a palette of their own: every colour exactly when
/// there are at most 256, else a NeuQuant palette, diffused. Returns the
/// indices and the palette.
pub(super) fn frame_palette(rgb: &[u8], width: usize) -> (Vec<u8>, Vec<u8>) {
    if let Some(exact) = exact(rgb) {
        return exact;
    }
    let rgba: Vec<u8> = rgb
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    let quant = color_quant::NeuQuant::new(SAMPLING, 256, &rgba);
    let palette = quant.color_map_rgb();
    let index = diffuse(rgb, width, |want| {
        let i = quant.index_of(&[want[0], want[1], want[2], 255]);
        (
            i as u8,
            [palette[i * 3], palette[i * 3 + 1], palette[i * 3 + 2]],
        )
    });
    (index, palette)
}

/// Every colour its own entry, when there are at most 256.
fn exact(rgb: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut entries: HashMap<[u8; 3], u8> = HashMap::new();
    let mut palette = Vec::new();
    let mut index = Vec::with_capacity(rgb.len() / 3);
    for p in rgb.chunks_exact(3) {
        let colour = [p[0], p[1], p[2]];
        let next = entries.len();
        let i = match entries.get(&colour) {
            Some(&i) => i,
            None if next < 256 => {
                entries.insert(colour, next as u8);
                palette.extend(colour);
                next as u8
            }
            None => return None,
        };
        index.push(i);
    }
    Some((index, palette))
}

/// Floyd–Steinberg over `rgb` rows of `width` onto the entries `nearest`
/// gives (an index and its colour).
fn diffuse(rgb: &[u8], width: usize, nearest: impl Fn([u8; 3]) -> (u8, [u8; 3])) -> Vec<u8> {
    let kernel = &crate::render::diffuse::FLOYD_STEINBERG;
    crate::render::diffuse::colour(rgb, 3, width, kernel, nearest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mean colour of the entries `index` picks from `palette`.
    fn mean(index: &[u8], palette: &[u8]) -> [u64; 3] {
        let mut sum = [0u64; 3];
        for &i in index {
            for (c, s) in sum.iter_mut().enumerate() {
                *s += u64::from(palette[usize::from(i) * 3 + c]);
            }
        }
        sum.map(|s| s / index.len() as u64)
    }

    #[test]
    fn the_cube_keeps_a_flat_colour_on_average() {
        // A mid orange not in the cube: dithering mixes entries whose
        // average is the colour.
        let (w, h) = (64, 64);
        let rgb: Vec<u8> = (0..w * h).flat_map(|_| [200u8, 120, 40]).collect();
        let index = cube(&rgb, w);
        let got = mean(&index, &cube_palette());
        for (c, want) in [200u64, 120, 40].iter().enumerate() {
            assert!(got[c].abs_diff(*want) <= 4, "channel {c}: {got:?}");
        }
        assert!(
            index.iter().any(|&i| i != index[0]),
            "dithered, not one flat entry"
        );
    }

    #[test]
    fn a_frame_of_few_colours_keeps_them_exactly() {
        let rgb: Vec<u8> = (0..300)
            .flat_map(|i| {
                if i % 3 == 0 {
                    [10u8, 20, 30]
                } else {
                    [250, 128, 0]
                }
            })
            .collect();
        let (index, palette) = frame_palette(&rgb, 30);
        assert_eq!(palette, [10, 20, 30, 250, 128, 0]);
        assert_eq!(&index[..4], [0, 1, 1, 0]);
    }

    /// A frame of far more than 256 colours: its own palette, and
    /// diffusion keeps each stretch of the gradient's tone better than
    /// the nearest entries alone do.
    #[test]
    fn a_frame_of_many_colours_is_diffused_onto_its_own_palette() {
        let (w, h) = (320usize, 64usize);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [
                    (x * 255 / w) as u8,
                    (y * 255 / h) as u8,
                    ((x + y) % 256) as u8,
                ]
            })
            .collect();
        let (index, palette) = frame_palette(&rgb, w);
        assert!(palette.len() <= 256 * 3);
        let rgba: Vec<u8> = rgb
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        let quant = color_quant::NeuQuant::new(SAMPLING, 256, &rgba);
        let nearest: Vec<u8> = rgba.chunks(4).map(|p| quant.index_of(p) as u8).collect();
        // The error of 16×16 blocks' mean colours against the source's.
        let block_error = |index: &[u8]| -> u64 {
            let mut total = 0;
            for by in (0..h).step_by(16) {
                for bx in (0..w).step_by(16) {
                    let (mut want, mut got) = ([0u64; 3], [0u64; 3]);
                    for y in by..by + 16 {
                        for x in bx..bx + 16 {
                            let i = y * w + x;
                            for c in 0..3 {
                                want[c] += u64::from(rgb[i * 3 + c]);
                                got[c] += u64::from(palette[usize::from(index[i]) * 3 + c]);
                            }
                        }
                    }
                    total += (0..3).map(|c| want[c].abs_diff(got[c])).sum::<u64>();
                }
            }
            total
        };
        let (diffused, plain) = (block_error(&index), block_error(&nearest));
        // About half the error, measured; a third less at the least.
        assert!(
            diffused * 3 < plain * 2,
            "diffused {diffused}, nearest {plain}"
        );
    }
}
