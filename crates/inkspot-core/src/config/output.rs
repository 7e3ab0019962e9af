//! Output options as plain data: what a preset or a request asks for (size,
//! format, gray depth, dithering, rotation, inversion), the built-in
//! presets, and parsing a value from its query text. Resolving them into one
//! concrete output is the renderer's business (`render::Output`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{MAX_DIMENSION, MIN_DIMENSION};

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
    /// The default below 8 bits: `none` when the drawing is black and white
    /// but for its anti-aliased edges (text and lines stay crisp, not
    /// speckled), Floyd–Steinberg when it has grey areas or pictures.
    Auto,
    /// Nearest level, no diffusion: crisp edges, banding in gradients.
    None,
    /// Floyd–Steinberg: smooth gradients.
    FloydSteinberg,
    /// Atkinson: diffuses 3/4 of the error, higher contrast, as on early Macs.
    Atkinson,
}

/// The inks of a colour e-ink panel, which it snaps every pixel to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Palette {
    /// Black, white, yellow and red: TRMNL BWRY (`og_bwry`). A 2-bit
    /// indexed PNG.
    Bwry,
    /// Black, white, yellow, red, blue and green: E Ink Spectra 6
    /// (reTerminal E1002). A 4-bit indexed PNG.
    Spectra6,
}

impl Palette {
    /// The name in config and queries.
    pub fn name(self) -> &'static str {
        match self {
            Palette::Bwry => "bwry",
            Palette::Spectra6 => "spectra6",
        }
    }
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
    // Values come from requests: bound what is echoed back.
    let value = match value.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_string(),
    };
    InvalidOption {
        param,
        value,
        allowed: allowed.into(),
    }
}

/// Optional output settings: a preset, or what a request says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize)]
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
    /// `bwry` or `spectra6`: the drawing reduced to a colour panel's inks,
    /// dithered on the server, as an indexed image. Replaces `bits`.
    pub palette: Option<Palette>,
    /// The most bytes the device accepts (TRMNL OG-class: 90000, X-class:
    /// 750000). A larger image is drawn again without dithering, then
    /// with fewer levels, until it fits; each step is logged. Not a query
    /// parameter: a preset sets it.
    pub max_bytes: Option<u32>,
    /// The status of the error picture: `503` (the default), or `200` for
    /// clients that discard the body of any other status (TRMNL's image
    /// download, ESPHome's `online_image`), so the picture still reaches
    /// the panel. Not a query parameter: a preset sets it.
    pub error_status: Option<u16>,
}

/// Query parameters that set output options.
pub const OPTION_PARAMS: &[&str] = &[
    "width", "height", "format", "bits", "dither", "rotate", "invert", "palette",
];

/// `value` as one of `choices` (text, value), or the error naming them.
fn choose<T: Copy>(
    param: &'static str,
    value: &str,
    choices: &[(&str, T)],
) -> Result<T, InvalidOption> {
    choices
        .iter()
        .find(|(text, _)| text.eq_ignore_ascii_case(value))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let allowed: Vec<&str> = choices.iter().map(|(t, _)| *t).collect();
            invalid(param, value, allowed.join(", "))
        })
}

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
                let formats = [("png", ImageFormat::Png), ("bmp", ImageFormat::Bmp)];
                self.format = Some(choose("format", value, &formats)?);
            }
            "bits" => {
                self.bits = Some(choose(
                    "bits",
                    value,
                    &[("1", 1), ("2", 2), ("4", 4), ("8", 8)],
                )?)
            }
            "dither" => {
                let dithers = [
                    ("auto", Dither::Auto),
                    ("none", Dither::None),
                    ("floyd-steinberg", Dither::FloydSteinberg),
                    ("atkinson", Dither::Atkinson),
                ];
                self.dither = Some(choose("dither", value, &dithers)?);
            }
            "rotate" => {
                let angles = [("0", 0), ("90", 90), ("180", 180), ("270", 270)];
                self.rotate = Some(choose("rotate", value, &angles)?);
            }
            "palette" => {
                let palettes = [("bwry", Palette::Bwry), ("spectra6", Palette::Spectra6)];
                self.palette = Some(choose("palette", value, &palettes)?);
            }
            "invert" => {
                self.invert = Some(match value.to_ascii_lowercase().as_str() {
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
        if let Some(max) = self.max_bytes.filter(|m| *m < 1024) {
            return Err(invalid("max_bytes", &max.to_string(), "1024 or more"));
        }
        match self.error_status {
            None | Some(200 | 503) => Ok(()),
            Some(other) => Err(invalid("error_status", &other.to_string(), "200, 503")),
        }
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
            palette: over.palette.or(self.palette),
            max_bytes: over.max_bytes.or(self.max_bytes),
            error_status: over.error_status.or(self.error_status),
        }
    }
}

/// The built-in output presets; config `[presets.NAME]` tables add to or
/// replace them.
pub fn builtin_presets() -> BTreeMap<String, OutputOptions> {
    // Each of these clients shows only a 200's body: errors come as a
    // picture with 200 and `X-Error-Code`.
    let preset = |w, h, format, bits| OutputOptions {
        width: w,
        height: h,
        format: Some(format),
        bits: Some(bits),
        error_status: Some(200),
        ..OutputOptions::default()
    };
    // Colour TRMNL-firmware panels: 800×480 indexed PNG of their inks,
    // within the 90,000 bytes OG-class firmware accepts.
    let inks = |palette| OutputOptions {
        palette: Some(palette),
        max_bytes: Some(90_000),
        ..preset(Some(800), Some(480), ImageFormat::Png, 1)
    };
    BTreeMap::from([
        // TRMNL: exactly the panel size, 1-bit gray PNG (non-flashing
        // refresh), within the 90,000 bytes its firmware accepts (`bits=2`
        // for the OG's four grays stays within it too).
        (
            "trmnl".to_string(),
            OutputOptions {
                max_bytes: Some(90_000),
                ..preset(Some(800), Some(480), ImageFormat::Png, 1)
            },
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
        // XTEINK X3 on TRMNL firmware: 792×528, 1-bit PNG, within 90,000
        // bytes (TRMNL's model list).
        (
            "xteink-x3".to_string(),
            OutputOptions {
                max_bytes: Some(90_000),
                ..preset(Some(792), Some(528), ImageFormat::Png, 1)
            },
        ),
        ("trmnl-bwry".to_string(), inks(Palette::Bwry)),
        ("spectra6".to_string(), inks(Palette::Spectra6)),
        // TRMNL X: 1872×1404, 16 grays, up to 750,000 bytes.
        (
            "trmnl-x".to_string(),
            OutputOptions {
                max_bytes: Some(750_000),
                ..preset(Some(1872), Some(1404), ImageFormat::Png, 4)
            },
        ),
    ])
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
    #[case("dither", "ordered", "auto, none, floyd-steinberg, atkinson")]
    #[case("rotate", "45", "0, 90, 180, 270")]
    #[case("invert", "yes", "true, false")]
    #[case("palette", "rgb", "bwry, spectra6")]
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
    fn overlay_keeps_what_the_top_layer_does_not_set() {
        let trmnl = &builtin_presets()["trmnl"];
        let mut asked = OutputOptions::default();
        asked.set("invert", "true").unwrap();
        let merged = trmnl.overlay(&asked);
        assert_eq!(
            (merged.width, merged.bits, merged.invert),
            (Some(800), Some(1), Some(true))
        );
    }
}
