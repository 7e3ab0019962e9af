//! What a panel will really show for an image it is sent, as the device's
//! decoder and panel treat it: gray panels hold so many levels (a 1-bit
//! panel thresholds), colour panels snap each pixel to the nearest ink,
//! and neither the paper nor the black ink is pure.

use std::io::Cursor;

/// Why a preview could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The image is not a PNG the preview reads.
    #[error("cannot read the image: {0}")]
    Decode(#[from] png::DecodingError),
    /// The preview could not be written.
    #[error("cannot write the preview: {0}")]
    Encode(#[from] png::EncodingError),
}

/// How the panel shows pixels (see `devices::models::Looks`).
#[derive(Debug, Clone, Copy)]
pub enum Shows<'a> {
    /// This many grays, from `ink` to `paper`.
    Gray {
        /// Levels the panel holds.
        levels: u16,
        /// Black ink as it looks.
        ink: [u8; 3],
        /// The paper as it looks.
        paper: [u8; 3],
    },
    /// The colour each pixel snaps to, and how that ink looks.
    Inks(&'a [([u8; 3], [u8; 3])]),
}

/// The PNG `png` as the panel shows it: an RGB PNG of the same size.
pub fn panel_view(png: &[u8], shows: Shows<'_>) -> Result<Vec<u8>, PreviewError> {
    let mut decoder = png::Decoder::new(Cursor::new(png));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    let channels = info.color_type.samples();
    let (w, h) = (info.width, info.height);
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for px in buf[..info.buffer_size()].chunks_exact(channels) {
        let rgb = match channels {
            1 | 2 => [px[0]; 3],
            _ => [px[0], px[1], px[2]],
        };
        out.extend_from_slice(&shown(rgb, shows));
    }
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&out)?;
    Ok(bytes)
}

/// How the panel shows one pixel.
fn shown(rgb: [u8; 3], shows: Shows<'_>) -> [u8; 3] {
    match shows {
        Shows::Gray { levels, ink, paper } => {
            let luma =
                (u32::from(rgb[0]) * 299 + u32::from(rgb[1]) * 587 + u32::from(rgb[2]) * 114)
                    / 1000;
            let steps = u32::from(levels.max(2)) - 1;
            // The panel holds `levels` grays: the nearest one, from 0 to steps.
            let level = (luma * steps + 127) / 255;
            let mix = |a: u8, b: u8| {
                let (a, b) = (i64::from(a), i64::from(b));
                (a + (b - a) * i64::from(level) / i64::from(steps)) as u8
            };
            [
                mix(ink[0], paper[0]),
                mix(ink[1], paper[1]),
                mix(ink[2], paper[2]),
            ]
        }
        Shows::Inks(inks) => {
            let distance = |c: [u8; 3]| {
                c.iter()
                    .zip(rgb)
                    .map(|(a, b)| (i32::from(*a) - i32::from(b)).pow(2))
                    .sum::<i32>()
            };
            inks.iter()
                .min_by_key(|(pure, _)| distance(*pure))
                .map_or(rgb, |(_, look)| *look)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const INK: [u8; 3] = [0x19, 0x1E, 0x21];
    const PAPER: [u8; 3] = [0xE8, 0xE8, 0xE8];

    fn gray(levels: u16) -> Shows<'static> {
        Shows::Gray {
            levels,
            ink: INK,
            paper: PAPER,
        }
    }

    #[rstest]
    // A 1-bit panel thresholds at the middle.
    #[case(gray(2), [0, 0, 0], INK)]
    #[case(gray(2), [120, 120, 120], INK)]
    #[case(gray(2), [140, 140, 140], PAPER)]
    #[case(gray(2), [255, 255, 255], PAPER)]
    // Four grays: a dark gray falls on the second level.
    #[case(gray(4), [85, 85, 85], [0x5E, 0x61, 0x63])]
    fn grays_fall_on_the_panels_levels(
        #[case] shows: Shows<'static>,
        #[case] rgb: [u8; 3],
        #[case] expect: [u8; 3],
    ) {
        assert_eq!(shown(rgb, shows), expect);
    }

    #[test]
    fn colours_snap_to_the_nearest_ink_as_it_looks() {
        let inks: &[([u8; 3], [u8; 3])] = &[
            ([0, 0, 0], INK),
            ([255, 255, 255], PAPER),
            ([255, 0, 0], [0xB2, 0x13, 0x18]),
        ];
        assert_eq!(shown([230, 40, 30], Shows::Inks(inks)), [0xB2, 0x13, 0x18]);
        assert_eq!(shown([20, 20, 20], Shows::Inks(inks)), INK);
    }

    #[test]
    fn a_preview_keeps_the_size_and_shows_only_the_looks() {
        let mut png_bytes = Vec::new();
        let mut e = png::Encoder::new(&mut png_bytes, 3, 2);
        e.set_color(png::ColorType::Grayscale);
        e.set_depth(png::BitDepth::Eight);
        e.write_header()
            .unwrap()
            .write_image_data(&[0, 100, 200, 255, 30, 250])
            .unwrap();
        let view = panel_view(&png_bytes, gray(2)).unwrap();
        let mut reader = png::Decoder::new(Cursor::new(&view)).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        for px in buf.chunks_exact(3) {
            assert!(px == INK || px == PAPER, "{px:?}");
        }
    }
}
