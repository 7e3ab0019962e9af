//! The concrete output of one render: the options of a preset and a request
//! merged and resolved against the spot's size, with everything needed to
//! draw and encode, and the name of the variant in the store.

use std::fmt;

use crate::artifact::MediaType;
use crate::config::{Dither, ImageFormat, OutputOptions, Palette};

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
    /// A colour panel's inks, replacing `bits`.
    pub palette: Option<Palette>,
    /// The most bytes the device accepts.
    pub max_bytes: Option<u32>,
}

impl Output {
    /// `options` made concrete, with `width`×`height` where no size is set.
    pub fn resolve(options: &OutputOptions, width: u32, height: u32) -> Output {
        let palette = options.palette;
        let bits = if palette.is_some() {
            None
        } else {
            options.bits
        };
        Output {
            width: options.width.unwrap_or(width),
            height: options.height.unwrap_or(height),
            format: options.format.unwrap_or(ImageFormat::Png),
            bits,
            dither: match (bits, options.dither) {
                _ if palette.is_some() => options.dither.unwrap_or(Dither::Auto),
                (Some(8) | None, _) => Dither::None,
                (_, Some(d)) => d,
                (_, None) => Dither::Auto,
            },
            rotate: options.rotate.unwrap_or(0),
            invert: options.invert.unwrap_or(false),
            palette,
            max_bytes: options.max_bytes,
        }
    }

    /// What to draw instead when the image is over `max_bytes`, in order:
    /// without dithering (flat areas compress far better), then with half
    /// the gray bits, down to one; a palette gives way to 1-bit gray last.
    pub fn smaller(&self) -> Vec<Output> {
        let mut out = Vec::new();
        let mut next = *self;
        if next.dither != Dither::None && (next.palette.is_some() || next.bits.is_some()) {
            next.dither = Dither::None;
            out.push(next);
        }
        if next.palette.is_some() {
            next.palette = None;
            next.bits = Some(1);
            out.push(next);
        }
        while let Some(bits) = next.bits.filter(|b| *b > 1) {
            next.bits = Some(bits / 2);
            next.dither = Dither::None;
            out.push(next);
        }
        out
    }

    /// Size of the encoded image, after rotation.
    pub fn final_size(&self) -> (u32, u32) {
        if self.rotate % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }

    /// The media type of the encoded bytes.
    pub fn media_type(&self) -> MediaType {
        match self.format {
            ImageFormat::Png => MediaType::Png,
            ImageFormat::Bmp => MediaType::Bmp,
        }
    }

    /// The output as query parameters that give it back through
    /// [`Output::from_query`]: how the schedule remembers a variant.
    pub fn to_query(&self) -> String {
        let format = match self.format {
            ImageFormat::Png => "png",
            ImageFormat::Bmp => "bmp",
        };
        let dither = match self.dither {
            Dither::Auto => "auto",
            Dither::None => "none",
            Dither::FloydSteinberg => "floyd-steinberg",
            Dither::Atkinson => "atkinson",
        };
        let bits = self.bits.map(|b| format!("&bits={b}")).unwrap_or_default();
        let palette = self
            .palette
            .map(|p| format!("&palette={}", p.name()))
            .unwrap_or_default();
        let max = self
            .max_bytes
            .map(|m| format!("&max_bytes={m}"))
            .unwrap_or_default();
        format!(
            "width={}&height={}&format={format}{bits}{palette}&dither={dither}&rotate={}&invert={}{max}",
            self.width, self.height, self.rotate, self.invert
        )
    }

    /// The output [`Output::to_query`] wrote, or `None` if `query` is not
    /// one (a file from another version, or damaged).
    pub fn from_query(query: &str) -> Option<Output> {
        let mut options = OutputOptions::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            // Only presets set the cap; it is not a query parameter.
            if k == "max_bytes" {
                options.max_bytes = Some(v.parse().ok()?);
            } else {
                options.set(&k, &v).ok()?;
            }
        }
        let (width, height) = (options.width?, options.height?);
        Some(Output::resolve(&options, width, height))
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
        )?;
        // Only when set, so the variants (and stored renders) of outputs
        // without them keep their names.
        if let Some(palette) = self.palette {
            write!(f, " palette={}", palette.name())?;
        }
        if let Some(max) = self.max_bytes {
            write!(f, " max_bytes={max}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::builtin_presets;
    use rstest::rstest;

    #[test]
    fn explicit_options_override_presets_and_defaults_fill_the_rest() {
        let trmnl = &builtin_presets()["trmnl"];
        let mut asked = OutputOptions::default();
        asked.set("invert", "true").unwrap();
        asked.set("dither", "atkinson").unwrap();
        let out = Output::resolve(&trmnl.overlay(&asked), 300, 200);
        assert_eq!((out.width, out.height, out.bits), (800, 480, Some(1)));
        assert_eq!((out.dither, out.invert), (Dither::Atkinson, true));
        let plain = Output::resolve(&OutputOptions::default(), 300, 200);
        assert_eq!(
            (plain.width, plain.height, plain.bits, plain.dither),
            (300, 200, None, Dither::None)
        );
    }

    #[rstest]
    #[case(Some(1), None, Dither::Auto)]
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
        assert_eq!(Output::resolve(&o, 100, 100).dither, expect);
    }

    #[rstest]
    #[case("")]
    #[case("bits=1&rotate=90&invert=true")]
    #[case("format=bmp&bits=8")]
    #[case("bits=2&dither=atkinson&width=1872&height=1404")]
    #[case("dither=floyd-steinberg&bits=4")]
    #[case("palette=bwry&bits=1")]
    #[case("palette=spectra6&dither=atkinson&rotate=90")]
    fn an_output_survives_its_query(#[case] options: &str) {
        let mut o = OutputOptions::default();
        for (k, v) in form_urlencoded::parse(options.as_bytes()) {
            o.set(&k, &v).unwrap();
        }
        let out = Output::resolve(&o, 800, 480);
        assert_eq!(Output::from_query(&out.to_query()), Some(out));
    }

    #[rstest]
    #[case("width=800")]
    #[case("width=800&height=480&bits=3")]
    #[case("width=800&height=480&colour=red")]
    fn a_query_that_is_not_an_output_is_none(#[case] query: &str) {
        assert_eq!(Output::from_query(query), None);
    }

    #[test]
    fn a_capped_output_survives_its_query_too() {
        let trmnl_x = &crate::config::builtin_presets()["trmnl-x"];
        let out = Output::resolve(trmnl_x, 800, 480);
        assert_eq!(out.max_bytes, Some(750_000));
        assert_eq!(Output::from_query(&out.to_query()), Some(out));
    }

    #[test]
    fn smaller_outputs_drop_the_dither_then_levels() {
        let mut o = OutputOptions::default();
        o.set("bits", "4").unwrap();
        o.set("dither", "atkinson").unwrap();
        let steps: Vec<(Option<u8>, Dither)> = Output::resolve(&o, 100, 100)
            .smaller()
            .iter()
            .map(|s| (s.bits, s.dither))
            .collect();
        assert_eq!(
            steps,
            [
                (Some(4), Dither::None),
                (Some(2), Dither::None),
                (Some(1), Dither::None)
            ]
        );
        let mut p = OutputOptions::default();
        p.set("palette", "spectra6").unwrap();
        let steps: Vec<(Option<Palette>, Option<u8>)> = Output::resolve(&p, 100, 100)
            .smaller()
            .iter()
            .map(|s| (s.palette, s.bits))
            .collect();
        assert_eq!(steps, [(Some(Palette::Spectra6), None), (None, Some(1))]);
    }

    #[test]
    fn rotation_swaps_the_final_size_and_variants_differ() {
        let mut o = OutputOptions::default();
        o.set("rotate", "90").unwrap();
        let r = Output::resolve(&o, 800, 480);
        assert_eq!(r.final_size(), (480, 800));
        let plain = Output::resolve(&OutputOptions::default(), 800, 480);
        assert_ne!(r.variant(), plain.variant());
    }
}
