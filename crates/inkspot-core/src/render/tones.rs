//! Which parts of a picture are tones and which are lines, for `dither =
//! "auto"`: a photo, a grey area or a gradient is dithered, so its shades
//! survive on a panel of few levels; text and lines are thresholded, so
//! their edges stay crisp. A web page mixes both, so the choice is made
//! per block of [`BLOCK`] pixels, not once for the whole picture.

/// The side of a block the choice is made for, in pixels.
pub const BLOCK: usize = 16;

/// A block is tonal when at least one pixel in this many is grey with grey
/// on all four sides. Anti-aliased edges are a pixel or two wide, so their
/// grey pixels touch black or white; a grey area or a photo does not.
const TONAL_SHARE: usize = 8;

/// The picture's blocks, each tonal or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tones {
    /// Blocks across.
    across: usize,
    /// One flag per block, rows of `across`.
    tonal: Vec<bool>,
}

/// What `auto` comes to for a whole picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Nothing tonal: threshold every pixel.
    Crisp,
    /// Everything tonal: dither every pixel.
    Dither,
    /// Dither the tonal blocks, threshold the rest.
    Mixed(Tones),
}

#[inline]
fn grey(v: u8) -> bool {
    (32..=223).contains(&v)
}

impl Tones {
    /// The blocks of `gray` (rows of `width`).
    pub fn of(gray: &[u8], width: usize) -> Self {
        let height = gray.len().checked_div(width).unwrap_or(0);
        let across = width.div_ceil(BLOCK);
        let down = height.div_ceil(BLOCK);
        let mut inner = vec![0usize; across * down];
        // Neighbours clamped at the border, so an edge strip of a block or
        // two pixels is judged like any other.
        for y in 0..height {
            let (up, down_row) = (y.saturating_sub(1), (y + 1).min(height - 1));
            for x in 0..width {
                let (left, right) = (x.saturating_sub(1), (x + 1).min(width - 1));
                if grey(gray[y * width + x])
                    && grey(gray[y * width + left])
                    && grey(gray[y * width + right])
                    && grey(gray[up * width + x])
                    && grey(gray[down_row * width + x])
                {
                    inner[(y / BLOCK) * across + x / BLOCK] += 1;
                }
            }
        }
        let tonal = inner
            .iter()
            .enumerate()
            .map(|(b, &n)| {
                let (bx, by) = (b % across, b / across);
                let w = BLOCK.min(width - bx * BLOCK);
                let h = BLOCK.min(height - by * BLOCK);
                n > 0 && n * TONAL_SHARE >= w * h
            })
            .collect();
        Tones { across, tonal }
    }

    /// Whether the pixel at `(x, y)` lies in a tonal block.
    #[inline]
    pub fn at(&self, x: usize, y: usize) -> bool {
        self.tonal[(y / BLOCK) * self.across + x / BLOCK]
    }

    /// The choice for the whole picture.
    pub fn choice(self) -> Choice {
        if !self.tonal.iter().any(|&t| t) {
            Choice::Crisp
        } else if self.tonal.iter().all(|&t| t) {
            Choice::Dither
        } else {
            Choice::Mixed(self)
        }
    }

    /// Takes each pixel (rows of `width`) from `dithered` where it is tonal
    /// and from `crisp` elsewhere, into `crisp`.
    pub fn merge<T: Copy>(&self, crisp: &mut [T], dithered: &[T], width: usize) {
        for (i, (c, d)) in crisp.iter_mut().zip(dithered).enumerate() {
            if self.at(i % width, i / width) {
                *c = *d;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// 64×64 white, with a grey square at (0,0)..(32,32) if `grey_area`,
    /// and a black bar with anti-aliased (grey) edges in the lower half.
    fn picture(grey_area: bool) -> Vec<u8> {
        let w = 64;
        let mut gray = vec![255u8; w * w];
        for y in 40..=50 {
            for x in 4..60 {
                let edge = y == 40 || y == 50 || x == 4 || x == 59;
                gray[y * w + x] = if edge { 140 } else { 0 };
            }
        }
        if grey_area {
            for y in 0..32 {
                for x in 0..32 {
                    gray[y * w + x] = 128;
                }
            }
        }
        gray
    }

    #[rstest]
    #[case::lines_only(picture(false), "crisp")]
    #[case::lines_and_a_grey_area(picture(true), "mixed")]
    #[case::all_grey(vec![128u8; 64 * 64], "dither")]
    #[case::a_gradient((0..64 * 64).map(|i| (i % 64 * 2 + 60) as u8).collect(), "dither")]
    fn chooses_per_picture(#[case] gray: Vec<u8>, #[case] expect: &str) {
        let got = match Tones::of(&gray, 64).choice() {
            Choice::Crisp => "crisp",
            Choice::Dither => "dither",
            Choice::Mixed(_) => "mixed",
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn the_grey_area_is_tonal_and_the_bar_is_not() {
        let tones = Tones::of(&picture(true), 64);
        assert!(tones.at(5, 5) && tones.at(31, 31));
        assert!(!tones.at(10, 45) && !tones.at(50, 45) && !tones.at(40, 10));
    }

    /// A photo 801 pixels wide: its last column, a block of its own, is
    /// dithered with the rest.
    #[test]
    fn a_one_pixel_edge_strip_is_judged_like_the_rest() {
        let gray = vec![128u8; 801 * 40];
        assert_eq!(Tones::of(&gray, 801).choice(), Choice::Dither);
        let gray = vec![128u8; 40 * 33];
        assert_eq!(Tones::of(&gray, 40).choice(), Choice::Dither);
    }

    #[test]
    fn sizes_that_are_not_whole_blocks_work() {
        let tones = Tones::of(&vec![128u8; 37 * 21], 37);
        assert_eq!(tones.choice(), Choice::Dither);
        assert_eq!(Tones::of(&[], 0).choice(), Choice::Crisp);
    }
}
