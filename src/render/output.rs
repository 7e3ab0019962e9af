//! What a device asked for: size, format, gray depth, dithering, rotation,
//! inversion. Options come from built-in presets, config presets and query
//! parameters, merged in that order into one concrete [`Output`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::config::{MAX_DIMENSION, MIN_DIMENSION};

/// Encoded file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG: gray at 1, 2, 4 or 8 bits, or RGB.
    Png,
    /// Uncompressed bottom-up BMP: 1 bit, 8-bit gray palette, or 24-bit.
    Bmp,
}

/// Error diffusion used when reducing to fewer gray levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dither {
    /// Nearest level, no diffusion: crisp edges, banding in gradients.
    None,
    /// Floyd–Steinberg: smooth gradients, the default below 8 bits.
    FloydSteinberg,
    /// Atkinson: diffuses 3/4 of the error, higher contrast, as on early Macs.
    Atkinson,
}

/// A parameter value that is not allowed, with what is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{param}`: `{value}`; allowed: {allowed}")]
pub struct InvalidOption {
    /// The parameter's name.
    pub param: &'static str,
    /// What was sent (shortened).
    pub value: String,
    /// What is allowed.
    pub allowed: String,
}

fn invalid(param: &'static str, value: &str, allowed: impl Into<String>) -> InvalidOption {
    InvalidOption {
        param,
        value: crate::text::ellipsize(value, 40),
        allowed: allowed.into(),
    }
}

/// Optional output settings: a preset, or what a request says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputOptions {
    /// Width in pixels, 16 to 4096. The template is drawn at this size.
    pub width: Option<u32>,
    /// Height in pixels, 16 to 4096.
    pub height: Option<u32>,
    /// `png` or `bmp`.
    pub format: Option<ImageFormat>,
    /// Gray bits: 1, 2, 4 or 8. None keeps the template's colours.
    pub bits: Option<u8>,
    /// `none`, `floyd-steinberg` or `atkinson`.
    pub dither: Option<Dither>,
    /// Clockwise rotation after drawing: 0, 90, 180 or 270.
    pub rotate: Option<u16>,
    /// Swap black and white.
    pub invert: Option<bool>,
}

/// Query parameters that set output options.
pub const OPTION_PARAMS: &[&str] = &[
    "width", "height", "format", "bits", "dither", "rotate", "invert",
];

impl OutputOptions {
    /// Sets the option `param` from its query text.
    pub fn set(&mut self, param: &str, value: &str) -> Result<(), InvalidOption> {
        let dim = |p: &'static str| {
            value
                .parse::<u32>()
                .ok()
                .filter(|v| (MIN_DIMENSION..=MAX_DIMENSION).contains(v))
                .ok_or_else(|| invalid(p, value, format!("{MIN_DIMENSION} to {MAX_DIMENSION}")))
        };
        match param {
            "width" => self.width = Some(dim("width")?),
            "height" => self.height = Some(dim("height")?),
            "format" => {
                self.format = Some(match value {
                    "png" => ImageFormat::Png,
                    "bmp" => ImageFormat::Bmp,
                    _ => return Err(invalid("format", value, "png, bmp")),
                })
            }
            "bits" => {
                self.bits = Some(match value {
                    "1" => 1,
                    "2" => 2,
                    "4" => 4,
                    "8" => 8,
                    _ => return Err(invalid("bits", value, "1, 2, 4, 8")),
                })
            }
            "dither" => {
                self.dither = Some(match value {
                    "none" => Dither::None,
                    "floyd-steinberg" => Dither::FloydSteinberg,
                    "atkinson" => Dither::Atkinson,
                    _ => return Err(invalid("dither", value, "none, floyd-steinberg, atkinson")),
                })
            }
            "rotate" => {
                self.rotate = Some(match value {
                    "0" => 0,
                    "90" => 90,
                    "180" => 180,
                    "270" => 270,
                    _ => return Err(invalid("rotate", value, "0, 90, 180, 270")),
                })
            }
            "invert" => {
                self.invert = Some(match value {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(invalid("invert", value, "true, false")),
                })
            }
            _ => return Err(invalid("parameter", param, OPTION_PARAMS.join(", "))),
        }
        Ok(())
    }

    /// Says what in a preset is out of range (presets come from config).
    pub fn check(&self) -> Result<(), InvalidOption> {
        let mut probe = OutputOptions::default();
        for (param, value) in [
            ("width", self.width.map(|v| v.to_string())),
            ("height", self.height.map(|v| v.to_string())),
            ("bits", self.bits.map(|v| v.to_string())),
            ("rotate", self.rotate.map(|v| v.to_string())),
        ] {
            if let Some(v) = value {
                probe.set(param, &v)?;
            }
        }
        Ok(())
    }

    /// `self` with every option `over` sets replacing it.
    pub fn overlay(&self, over: &OutputOptions) -> OutputOptions {
        OutputOptions {
            width: over.width.or(self.width),
            height: over.height.or(self.height),
            format: over.format.or(self.format),
            bits: over.bits.or(self.bits),
            dither: over.dither.or(self.dither),
            rotate: over.rotate.or(self.rotate),
            invert: over.invert.or(self.invert),
        }
    }

    /// The concrete output, with `width`×`height` where no size is set.
    pub fn resolve(&self, width: u32, height: u32) -> Output {
        let bits = self.bits;
        Output {
            width: self.width.unwrap_or(width),
            height: self.height.unwrap_or(height),
            format: self.format.unwrap_or(ImageFormat::Png),
            bits,
            dither: match (bits, self.dither) {
                (Some(8) | None, _) => Dither::None,
                (_, Some(d)) => d,
                (_, None) => Dither::FloydSteinberg,
            },
            rotate: self.rotate.unwrap_or(0),
            invert: self.invert.unwrap_or(false),
        }
    }
}

/// The built-in device presets; config `[devices.NAME]` tables add to or
/// replace them.
pub fn builtin_presets() -> BTreeMap<String, OutputOptions> {
    let preset = |w, h, format, bits| OutputOptions {
        width: w,
        height: h,
        format: Some(format),
        bits: Some(bits),
        ..OutputOptions::default()
    };
    BTreeMap::from([
        // TRMNL: exactly the panel size, 1-bit gray PNG (non-flashing refresh).
        (
            "trmnl".to_string(),
            preset(Some(800), Some(480), ImageFormat::Png, 1),
        ),
        // TRMNL firmware 1.5 and older: the exact 48,062-byte BMP.
        (
            "trmnl-bmp".to_string(),
            preset(Some(800), Some(480), ImageFormat::Bmp, 1),
        ),
        // Jailbroken Kindle (eips): 8-bit gray PNG, portrait.
        (
            "kindle".to_string(),
            preset(Some(600), Some(800), ImageFormat::Png, 8),
        ),
        // ESPHome online_image on small boards: 1-bit BMP at the spot's size.
        (
            "esphome-bmp".to_string(),
            preset(None, None, ImageFormat::Bmp, 1),
        ),
    ])
}

/// A concrete output: everything needed to draw and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Output {
    /// Width the template is drawn at.
    pub width: u32,
    /// Height the template is drawn at.
    pub height: u32,
    /// File format.
    pub format: ImageFormat,
    /// Gray bits, or `None` for colour.
    pub bits: Option<u8>,
    /// Diffusion when `bits` < 8.
    pub dither: Dither,
    /// Clockwise rotation in degrees.
    pub rotate: u16,
    /// Black and white swapped.
    pub invert: bool,
}

impl Output {
    /// Size of the encoded image, after rotation.
    pub fn final_size(&self) -> (u32, u32) {
        if self.rotate % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }

    /// The MIME type.
    pub fn content_type(&self) -> &'static str {
        match self.format {
            ImageFormat::Png => "image/png",
            ImageFormat::Bmp => "image/bmp",
        }
    }

    /// A file-safe name of this output, part of cache keys.
    pub fn variant(&self) -> String {
        let h = blake3::hash(self.to_string().as_bytes()).to_hex();
        let ext = match self.format {
            ImageFormat::Png => "png",
            ImageFormat::Bmp => "bmp",
        };
        format!("{ext}-{}", &h[..16])
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}x{} {:?} bits={:?} dither={:?} rotate={} invert={}",
            self.width, self.height, self.format, self.bits, self.dither, self.rotate, self.invert
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("width", "15", "16 to 4096")]
    #[case("width", "4097", "16 to 4096")]
    #[case("height", "abc", "16 to 4096")]
    #[case("format", "jpeg", "png, bmp")]
    #[case("bits", "3", "1, 2, 4, 8")]
    #[case("dither", "ordered", "none, floyd-steinberg, atkinson")]
    #[case("rotate", "45", "0, 90, 180, 270")]
    #[case("invert", "yes", "true, false")]
    fn bad_values_name_parameter_and_allowed(
        #[case] p: &str,
        #[case] v: &str,
        #[case] allowed: &str,
    ) {
        let err = OutputOptions::default().set(p, v).unwrap_err();
        assert_eq!(err.param, p);
        assert_eq!(err.allowed, allowed);
    }

    #[test]
    fn explicit_options_override_presets_and_defaults_fill_the_rest() {
        let trmnl = &builtin_presets()["trmnl"];
        let mut asked = OutputOptions::default();
        asked.set("invert", "true").unwrap();
        asked.set("dither", "atkinson").unwrap();
        let out = trmnl.overlay(&asked).resolve(300, 200);
        assert_eq!((out.width, out.height, out.bits), (800, 480, Some(1)));
        assert_eq!((out.dither, out.invert), (Dither::Atkinson, true));
        let plain = OutputOptions::default().resolve(300, 200);
        assert_eq!(
            (plain.width, plain.height, plain.bits, plain.dither),
            (300, 200, None, Dither::None)
        );
    }

    #[rstest]
    #[case(Some(1), None, Dither::FloydSteinberg)]
    #[case(Some(4), Some(Dither::None), Dither::None)]
    #[case(Some(8), Some(Dither::Atkinson), Dither::None)]
    #[case(None, Some(Dither::Atkinson), Dither::None)]
    fn dither_defaults(
        #[case] bits: Option<u8>,
        #[case] dither: Option<Dither>,
        #[case] expect: Dither,
    ) {
        let o = OutputOptions {
            bits,
            dither,
            ..Default::default()
        };
        assert_eq!(o.resolve(100, 100).dither, expect);
    }

    #[test]
    fn rotation_swaps_the_final_size_and_variants_differ() {
        let mut o = OutputOptions::default();
        o.set("rotate", "90").unwrap();
        let r = o.resolve(800, 480);
        assert_eq!(r.final_size(), (480, 800));
        assert_ne!(
            r.variant(),
            OutputOptions::default().resolve(800, 480).variant()
        );
    }
}
