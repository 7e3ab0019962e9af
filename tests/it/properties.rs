//! Property tests of the encoders and dithering: decoding what was encoded
//! gives the input back, and the output always has the size and depth asked.

use image::GenericImageView;
use inkspot::render::raster::{Pixels, Raster, quantize, reduce};
use inkspot::render::{Dither, ImageFormat, encode};
use proptest::prelude::*;

fn gray_raster(max_side: u32) -> impl Strategy<Value = (u32, u32, Vec<u8>)> {
    (1..=max_side, 1..=max_side).prop_flat_map(|(w, h)| {
        (
            Just(w),
            Just(h),
            proptest::collection::vec(any::<u8>(), (w * h) as usize),
        )
    })
}

fn bits() -> impl Strategy<Value = u8> {
    prop_oneof![Just(1u8), Just(2), Just(4), Just(8)]
}

fn dither() -> impl Strategy<Value = Dither> {
    prop_oneof![
        Just(Dither::None),
        Just(Dither::FloydSteinberg),
        Just(Dither::Atkinson)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn dithering_keeps_size_and_uses_only_the_levels((w, _h, mut gray) in gray_raster(40), bits in bits(), d in dither()) {
        let len = gray.len();
        reduce(&mut gray, w as usize, bits, d);
        prop_assert_eq!(gray.len(), len);
        for v in gray {
            prop_assert_eq!(quantize(v as i32, bits), v, "{} is not a level of {} bits", v, bits);
        }
    }

    #[test]
    fn png_gray_round_trips((w, h, gray) in gray_raster(48), bits in bits()) {
        let levels: Vec<u8> = gray.iter().map(|&v| quantize(v as i32, bits)).collect();
        let raster = Raster { width: w, height: h, pixels: Pixels::Gray(levels.clone()) };
        let png = encode::encode(&raster, ImageFormat::Png, Some(bits)).unwrap();
        let decoded = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
        prop_assert_eq!(decoded.dimensions(), (w, h));
        prop_assert_eq!(decoded.color(), image::ColorType::L8);
        prop_assert_eq!(decoded.to_luma8().into_raw(), levels);
        // The header says the depth that was asked for.
        prop_assert_eq!(png[24], bits, "IHDR bit depth");
        prop_assert_eq!(png[25], 0, "colour type gray");
        prop_assert_eq!(png[28], 0, "not interlaced");
    }

    #[test]
    fn bmp_round_trips((w, h, gray) in gray_raster(48), bits in prop_oneof![Just(1u8), Just(8)]) {
        let levels: Vec<u8> = gray.iter().map(|&v| quantize(v as i32, bits)).collect();
        let raster = Raster { width: w, height: h, pixels: Pixels::Gray(levels.clone()) };
        let bmp = encode::encode(&raster, ImageFormat::Bmp, Some(bits)).unwrap();
        let decoded = image::load_from_memory_with_format(&bmp, image::ImageFormat::Bmp).unwrap();
        prop_assert_eq!(decoded.dimensions(), (w, h));
        prop_assert_eq!(decoded.to_luma8().into_raw(), levels);
        prop_assert_eq!(u16::from_le_bytes([bmp[28], bmp[29]]), bits as u16);
        prop_assert_eq!(u32::from_le_bytes(bmp[2..6].try_into().unwrap()) as usize, bmp.len());
    }

    #[test]
    fn rgb_png_and_bmp_round_trip((w, h) in (1u32..=32, 1u32..=32), seed in any::<u64>()) {
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) >> 13) as u8).collect();
        let raster = Raster { width: w, height: h, pixels: Pixels::Rgb(rgb.clone()) };
        for format in [ImageFormat::Png, ImageFormat::Bmp] {
            let bytes = encode::encode(&raster, format, None).unwrap();
            let decoded = image::load_from_memory(&bytes).unwrap();
            prop_assert_eq!(decoded.dimensions(), (w, h));
            prop_assert_eq!(decoded.to_rgb8().into_raw(), rgb.clone());
        }
    }

    #[test]
    fn rotating_four_times_is_the_identity((w, h, gray) in gray_raster(24), turn in prop_oneof![Just(90u16), Just(180), Just(270)]) {
        let raster = Raster { width: w, height: h, pixels: Pixels::Gray(gray) };
        let mut r = raster.clone();
        for _ in 0..4 {
            r = r.rotated(turn);
        }
        prop_assert_eq!(r, raster);
    }
}
