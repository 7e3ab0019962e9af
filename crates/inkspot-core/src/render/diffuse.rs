//! Error diffusion, written once for every picture inkspot reduces: gray
//! levels on monochrome panels ([`gray`]), the inks of colour panels and
//! the palettes of GIF frames ([`colour`]). Each pixel, with the error
//! carried to it, becomes the nearest value the caller allows; what that
//! misses is spread to its neighbours by a [`Kernel`].

/// Where a pixel's error goes: `(dx, dy, weight)` taps, the weights over
/// 2^`shift`.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    /// Right (`dx`) and down (`dy`, at most 2) of the pixel, and the share.
    pub taps: &'static [(isize, usize, i32)],
    /// The weights' divisor as a power of two.
    pub shift: u32,
}

/// Floyd–Steinberg: four taps over 16, the whole error passed on.
pub const FLOYD_STEINBERG: Kernel = Kernel {
    taps: &[(1, 0, 7), (-1, 1, 3), (0, 1, 5), (1, 1, 1)],
    shift: 4,
};

/// Atkinson: six taps over 8, so only 6/8 of the error passes on and
/// light and dark areas stay clean.
pub const ATKINSON: Kernel = Kernel {
    taps: &[
        (1, 0, 1),
        (2, 0, 1),
        (-1, 1, 1),
        (0, 1, 1),
        (1, 1, 1),
        (0, 2, 1),
    ],
    shift: 3,
};

/// Columns of padding on each side of an error row, so no tap needs a
/// bounds branch.
const PAD: usize = 2;

/// The error owed, kept times 2^`shift`, as a value to add: divided with
/// rounding.
#[inline]
fn owed(scaled: i32, shift: u32) -> i32 {
    (scaled + (1 << (shift - 1))) >> shift
}

/// Diffuses `gray` (rows of `width`) in place onto the levels `nearest`
/// gives for any value from -255 to 510.
pub fn gray(gray: &mut [u8], width: usize, kernel: &Kernel, nearest: impl Fn(i32) -> u8) {
    if width == 0 {
        return;
    }
    if kernel.taps == FLOYD_STEINBERG.taps {
        return gray_floyd_steinberg(gray, width, nearest);
    }
    let stride = width + 2 * PAD;
    let mut errors = vec![0i32; stride * 3];
    for line in gray.chunks_exact_mut(width) {
        let (current, below) = errors.split_at_mut(stride);
        for (x, px) in line.iter_mut().enumerate() {
            let old = i32::from(*px) + owed(current[x + PAD], kernel.shift);
            let new = nearest(old);
            *px = new;
            let err = old.clamp(-255, 510) - i32::from(new);
            if err == 0 {
                // Flat black and white, most of an e-ink layout, passes on nothing.
                continue;
            }
            for &(dx, dy, w) in kernel.taps {
                let col = (x as isize + PAD as isize + dx) as usize;
                if dy == 0 {
                    current[col] += err * w;
                } else {
                    below[(dy - 1) * stride + col] += err * w;
                }
            }
        }
        next_row(&mut errors, stride, 0);
    }
}

/// Floyd–Steinberg on gray, written out: it is the default and the hot
/// path. The error owed to the current row rides in a register; the row
/// below is a padded buffer.
fn gray_floyd_steinberg(gray: &mut [u8], width: usize, nearest: impl Fn(i32) -> u8) {
    let mut below = vec![0i32; width + 2];
    let mut next_below = vec![0i32; width + 2];
    for line in gray.chunks_exact_mut(width) {
        let mut right = 0i32;
        for (x, px) in line.iter_mut().enumerate() {
            // Errors are kept times 16; below[x + 1] is this pixel's share.
            let old = i32::from(*px) + owed(right + below[x + 1], 4);
            let new = nearest(old);
            *px = new;
            let err = old.clamp(-255, 510) - i32::from(new);
            right = err * 7;
            next_below[x] += err * 3;
            next_below[x + 1] += err * 5;
            next_below[x + 2] = err;
        }
        std::mem::swap(&mut below, &mut next_below);
        next_below.iter_mut().for_each(|e| *e = 0);
    }
}

/// Diffuses colour pixels (`channels` bytes each, RGB first; rows of
/// `width`) onto the entries `nearest` picks: for the colour wanted, the
/// entry's index and the colour it really shows, which the error is
/// measured against. Returns the indices.
pub fn colour(
    pixels: &[u8],
    channels: usize,
    width: usize,
    kernel: &Kernel,
    mut nearest: impl FnMut([u8; 3]) -> (u8, [u8; 3]),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(pixels.len() / channels.max(1));
    if width == 0 || channels < 3 {
        return out;
    }
    let stride = width + 2 * PAD;
    let mut errors = vec![[0i32; 3]; stride * 3];
    for line in pixels.chunks_exact(width * channels) {
        let (current, below) = errors.split_at_mut(stride);
        for (x, p) in line.chunks_exact(channels).enumerate() {
            let carried = current[x + PAD];
            let want: [u8; 3] = std::array::from_fn(|c| {
                (i32::from(p[c]) + owed(carried[c], kernel.shift)).clamp(0, 255) as u8
            });
            let (index, got) = nearest(want);
            out.push(index);
            let err: [i32; 3] = std::array::from_fn(|c| i32::from(want[c]) - i32::from(got[c]));
            if err == [0; 3] {
                continue;
            }
            for &(dx, dy, w) in kernel.taps {
                let col = (x as isize + PAD as isize + dx) as usize;
                let cell = if dy == 0 {
                    &mut current[col]
                } else {
                    &mut below[(dy - 1) * stride + col]
                };
                for c in 0..3 {
                    cell[c] += err[c] * w;
                }
            }
        }
        next_row(&mut errors, stride, [0; 3]);
    }
    out
}

/// Moves the error rows up one: the row below becomes current, and the
/// last is cleared.
fn next_row<T: Copy>(errors: &mut [T], stride: usize, zero: T) {
    errors.copy_within(stride.., 0);
    let last = errors.len() - stride;
    errors[last..].iter_mut().for_each(|e| *e = zero);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// A flat mid gray, diffused onto black and white by either kernel,
    /// keeps its average; both paths of Floyd–Steinberg agree.
    #[rstest]
    #[case(FLOYD_STEINBERG)]
    #[case(ATKINSON)]
    fn gray_keeps_a_flat_gray_on_average(#[case] kernel: Kernel) {
        let mut pixels = vec![100u8; 64 * 64];
        gray(&mut pixels, 64, &kernel, |v| if v < 128 { 0 } else { 255 });
        let white = pixels.iter().filter(|&&v| v == 255).count() as f64 / pixels.len() as f64;
        assert!((0.34..0.44).contains(&white), "{white}");
    }

    /// The colour path on a gray image with two entries gives the same
    /// proportion as the gray path, RGB or RGBA alike.
    #[rstest]
    #[case(3)]
    #[case(4)]
    fn colour_keeps_a_flat_colour_on_average(#[case] channels: usize) {
        let pixels: Vec<u8> = (0..64 * 64)
            .flat_map(|_| [100u8, 100, 100, 255].into_iter().take(channels))
            .collect();
        let index = colour(&pixels, channels, 64, &FLOYD_STEINBERG, |want| {
            if want[0] < 128 {
                (0, [0; 3])
            } else {
                (1, [255; 3])
            }
        });
        assert_eq!(index.len(), 64 * 64);
        let white = index.iter().filter(|&&i| i == 1).count() as f64 / index.len() as f64;
        assert!((0.34..0.44).contains(&white), "{white}");
    }

    #[test]
    fn an_image_without_width_gives_nothing() {
        let mut empty: Vec<u8> = Vec::new();
        gray(&mut empty, 0, &ATKINSON, |v| v.clamp(0, 255) as u8);
        assert!(colour(&[], 3, 0, &FLOYD_STEINBERG, |_| (0, [0; 3])).is_empty());
    }
}
