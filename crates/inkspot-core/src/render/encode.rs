//! Encoders for what devices decode: PNG (gray at 1, 2, 4, 8 bits, RGB, or
//! indexed with a colour panel's inks; never interlaced, never alpha) and
//! uncompressed bottom-up BMP (1 bit in the exact TRMNL layout, 8-bit gray
//! palette, 4-bit ink palette, 24-bit).

use super::palette;
use super::raster::{Pixels, Raster};
use crate::config::ImageFormat;

/// Errors from encoding.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// Encodes `raster` as `format`; `bits` is the gray depth it was reduced to.
pub fn encode(
    raster: &Raster,
    format: ImageFormat,
    bits: Option<u8>,
) -> Result<Vec<u8>, EncodeError> {
    match format {
        ImageFormat::Png => png(raster, bits),
        ImageFormat::Bmp => Ok(bmp(raster, bits)),
    }
}

/// Packs gray levels into `bits`-wide indices, rows padded to `align` bytes,
/// most significant bits first (PNG and BMP agree on that).
fn pack(gray: &[u8], width: usize, bits: u8, align: usize) -> (Vec<u8>, usize) {
    let max = (1u32 << bits) - 1;
    let levels: Vec<u8> = gray
        .iter()
        .map(|&v| ((v as u32 * max + 127) / 255) as u8)
        .collect();
    pack_indices(&levels, width, bits, align)
}

/// Packs indices below 2^`bits` as [`pack`] packs levels.
fn pack_indices(indices: &[u8], width: usize, bits: u8, align: usize) -> (Vec<u8>, usize) {
    let per_byte = 8 / bits as usize;
    let stride = width.div_ceil(per_byte).div_ceil(align) * align;
    let rows = indices.len().checked_div(width).unwrap_or(0);
    let mut out = vec![0u8; stride * rows];
    for (row, line) in indices.chunks_exact(width.max(1)).enumerate() {
        let dst = &mut out[row * stride..(row + 1) * stride];
        for (x, &index) in line.iter().enumerate() {
            let shift = 8 - bits as usize * (x % per_byte + 1);
            dst[x / per_byte] |= index << shift;
        }
    }
    (out, stride)
}

fn png(raster: &Raster, bits: Option<u8>) -> Result<Vec<u8>, EncodeError> {
    let mut plte = None;
    let (data, color, depth) = match (&raster.pixels, bits) {
        (Pixels::Indexed(indices, palette), _) => {
            let b = palette::bits(*palette);
            let depth = match b {
                1 => png::BitDepth::One,
                2 => png::BitDepth::Two,
                _ => png::BitDepth::Four,
            };
            plte = Some(
                palette::inks(*palette)
                    .iter()
                    .flat_map(|i| i.written)
                    .collect::<Vec<u8>>(),
            );
            (
                pack_indices(indices, raster.width as usize, b, 1).0,
                png::ColorType::Indexed,
                depth,
            )
        }
        (Pixels::Gray(gray), Some(b)) if b < 8 => {
            let depth = match b {
                1 => png::BitDepth::One,
                2 => png::BitDepth::Two,
                _ => png::BitDepth::Four,
            };
            (
                pack(gray, raster.width as usize, b, 1).0,
                png::ColorType::Grayscale,
                depth,
            )
        }
        (Pixels::Gray(gray), _) => (
            gray.clone(),
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
        ),
        (Pixels::Rgb(rgb), _) => (rgb.clone(), png::ColorType::Rgb, png::BitDepth::Eight),
    };
    let mut out = Vec::with_capacity(data.len() / 4 + 1024);
    let mut encoder = png::Encoder::new(&mut out, raster.width, raster.height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if let Some(plte) = plte {
        encoder.set_palette(plte);
    }
    encoder.set_compression(png::Compression::Default);
    if depth == png::BitDepth::Eight {
        encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    } else {
        // Packed pixels: filters measured larger than none on e-ink layouts.
        encoder.set_filter(png::FilterType::NoFilter);
    }
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&data)?;
    writer.finish()?;
    Ok(out)
}

/// BMP: `BM` file header, 40-byte BITMAPINFOHEADER, palette, bottom-up rows.
fn bmp(raster: &Raster, bits: Option<u8>) -> Vec<u8> {
    let (w, h) = (raster.width as usize, raster.height as usize);
    let (rows, stride, bpp, palette): (Vec<u8>, usize, u16, Vec<[u8; 4]>) =
        match (&raster.pixels, bits) {
            (Pixels::Gray(gray), Some(1)) => {
                // Index 1 is white: TRMNL sends bits to the panel as they are,
                // with 1 = white, and wants black first in the palette.
                let (rows, stride) = pack(gray, w, 1, 4);
                (rows, stride, 1, vec![[0, 0, 0, 0], [255, 255, 255, 0]])
            }
            (Pixels::Gray(gray), _) => {
                let stride = w.div_ceil(4) * 4;
                let mut rows = vec![0; stride * h];
                for (y, line) in gray.chunks_exact(w.max(1)).enumerate() {
                    rows[y * stride..y * stride + w].copy_from_slice(line);
                }
                let palette = (0..=255u8).map(|v| [v, v, v, 0]).collect();
                (rows, stride, 8, palette)
            }
            (Pixels::Indexed(indices, palette), _) => {
                let (rows, stride) = pack_indices(indices, w, 4, 4);
                let inks = palette::inks(*palette).iter();
                let entries = inks.map(|i| [i.written[2], i.written[1], i.written[0], 0]);
                (rows, stride, 4, entries.collect())
            }
            (Pixels::Rgb(rgb), _) => {
                let stride = (w * 3).div_ceil(4) * 4;
                let mut rows = vec![0; stride * h];
                for (y, line) in rgb.chunks_exact((w * 3).max(1)).enumerate() {
                    for (x, p) in line.chunks_exact(3).enumerate() {
                        let o = y * stride + x * 3;
                        rows[o..o + 3].copy_from_slice(&[p[2], p[1], p[0]]);
                    }
                }
                (rows, stride, 24, Vec::new())
            }
        };
    let offset = 14 + 40 + palette.len() * 4;
    let image_size = stride * h;
    let mut out = Vec::with_capacity(offset + image_size);
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&((offset + image_size) as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(offset as u32).to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes());
    out.extend_from_slice(&(w as i32).to_le_bytes());
    // Positive height: bottom-up, which every client here requires.
    out.extend_from_slice(&(h as i32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&bpp.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // BI_RGB, uncompressed
    // Some decoders (TRMNL's) refuse 0 here, though BMP allows it.
    out.extend_from_slice(&(image_size as u32).to_le_bytes());
    out.extend_from_slice(&2835i32.to_le_bytes()); // 72 dpi
    out.extend_from_slice(&2835i32.to_le_bytes());
    out.extend_from_slice(&(palette.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for entry in &palette {
        out.extend_from_slice(entry);
    }
    for row in rows.chunks_exact(stride.max(1)).rev() {
        out.extend_from_slice(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_msb_first_with_padding() {
        let (packed, stride) = pack(&[0, 255, 255, 0, 0, 0, 0, 0, 255], 9, 1, 4);
        assert_eq!(stride, 4);
        assert_eq!(&packed[..2], &[0b0110_0000, 0b1000_0000]);
        let (packed, _) = pack(&[0, 85, 170, 255], 4, 2, 1);
        assert_eq!(packed, vec![0b00_01_10_11]);
    }

    #[test]
    fn trmnl_bmp_layout() {
        let mut gray = vec![255u8; 800 * 480];
        gray[0] = 0; // top-left black
        let raster = Raster {
            width: 800,
            height: 480,
            pixels: Pixels::Gray(gray),
        };
        let bmp = bmp(&raster, Some(1));
        assert_eq!(bmp.len(), 48_062);
        assert_eq!(&bmp[..2], b"BM");
        assert_eq!(u32::from_le_bytes(bmp[2..6].try_into().unwrap()), 48_062);
        assert_eq!(u32::from_le_bytes(bmp[10..14].try_into().unwrap()), 62);
        assert_eq!(u32::from_le_bytes(bmp[14..18].try_into().unwrap()), 40);
        assert_eq!(i32::from_le_bytes(bmp[22..26].try_into().unwrap()), 480);
        assert_eq!(u16::from_le_bytes(bmp[28..30].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(bmp[34..38].try_into().unwrap()), 48_000);
        assert_eq!(&bmp[54..62], &[0, 0, 0, 0, 255, 255, 255, 0]);
        // Bottom-up: the top row is the last one in the file.
        let top_row = &bmp[62 + 479 * 100..62 + 480 * 100];
        assert_eq!(top_row[0], 0b0111_1111);
        assert!(top_row[1..].iter().all(|&b| b == 0xFF));
    }
}
