//! What to render: a [`RenderRequest`] names one configured spot and one
//! concrete output. The [`Catalog`] resolves and validates it once, at each
//! entry point: `/image` and `inkspot render` today, the scheduler, the
//! TRMNL display call and the job API tomorrow.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::config::{Config, InvalidOption, OutputOptions, Spot};
use crate::render::Output;

/// One spot drawn as one output.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// The spot's position in the config.
    pub index: usize,
    /// The spot.
    pub spot: Arc<Spot>,
    /// The output, resolved from the spot's preset, the requested preset
    /// and explicit options.
    pub output: Output,
    /// The HTTP status of the error picture for this client: 503, or 200
    /// for clients that show only a 200's body.
    pub error_status: u16,
    /// The template layers to draw; `None` draws every declared layer.
    pub layers: Option<Arc<[String]>>,
    /// A look at the image (the gallery's previews), not a device asking:
    /// it is drawn when missing, but does not put the variant on the
    /// schedule.
    pub preview: bool,
}

impl RenderRequest {
    /// The same request drawing only the layers `picked`, sorted and
    /// without repeats, so the same pick in any order is one render.
    pub fn with_layers(mut self, picked: &[String]) -> Self {
        let mut picked = picked.to_vec();
        picked.sort();
        picked.dedup();
        self.layers = Some(picked.into());
        self
    }

    /// The template to draw: the spot's, for this output's orientation.
    pub fn template(&self) -> &str {
        self.spot
            .template
            .for_size(self.output.width, self.output.height)
    }
}

/// Why a request cannot be rendered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// No configured spot has that name or slug.
    #[error("unknown spot `{0}`")]
    UnknownSpot(String),
    /// No preset has that name.
    #[error("unknown device `{name}`; allowed: {known}")]
    UnknownPreset {
        /// What was asked for.
        name: String,
        /// The preset names.
        known: String,
    },
    /// An output option is out of range.
    #[error(transparent)]
    BadOption(#[from] InvalidOption),
    /// The template declares no layer of that name.
    #[error("unknown layer `{name}`; {known}")]
    UnknownLayer {
        /// What was asked for.
        name: String,
        /// The layers the template declares, or that it has none.
        known: String,
    },
    /// The output has more pixels than `server.max_pixels`.
    #[error("{width}×{height} is more than the {max} pixels one image may have")]
    TooLarge {
        /// The asked width.
        width: u32,
        /// The asked height.
        height: u32,
        /// `server.max_pixels`.
        max: u64,
    },
}

/// The configured spots and presets, for finding and resolving requests.
#[derive(Debug, Clone)]
pub struct Catalog {
    spots: Vec<Arc<Spot>>,
    lookup: HashMap<String, usize>,
    presets: BTreeMap<String, OutputOptions>,
    max_pixels: u64,
}

impl Catalog {
    /// The catalog of a loaded `config`.
    pub fn new(config: &Config) -> Self {
        let mut lookup = HashMap::new();
        for (i, spot) in config.spots.iter().enumerate() {
            lookup.insert(spot.name.to_lowercase(), i);
            lookup.insert(spot.slug(), i);
        }
        Self {
            spots: config.spots.iter().cloned().map(Arc::new).collect(),
            lookup,
            presets: config.presets.clone(),
            max_pixels: config.server.max_pixels,
        }
    }

    /// The configured spots, in config order.
    pub fn spots(&self) -> &[Arc<Spot>] {
        &self.spots
    }

    /// The position of the spot named `name` (any case) or with that slug.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.lookup
            .get(name)
            .or_else(|| self.lookup.get(&name.to_lowercase()))
            .copied()
    }

    /// The preset names.
    pub fn preset_names(&self) -> Vec<&str> {
        self.presets.keys().map(String::as_str).collect()
    }

    /// The request for the spot named `name`: its own preset, then
    /// `preset`, then `options`, each overriding the one before.
    pub fn resolve(
        &self,
        name: &str,
        preset: Option<&str>,
        options: &OutputOptions,
    ) -> Result<RenderRequest, RequestError> {
        let index = self
            .find(name)
            .ok_or_else(|| RequestError::UnknownSpot(name.to_string()))?;
        self.request(index, preset, options)
    }

    /// The request that draws `output` of the spot at `index`, as the
    /// schedule remembers it. The error picture's status is the default.
    pub fn exact(&self, index: usize, output: Output) -> RenderRequest {
        RenderRequest {
            index,
            spot: self.spots[index].clone(),
            output,
            error_status: 503,
            layers: None,
            preview: false,
        }
    }

    /// The spots of the mashup `request` asks for, in its layout's order,
    /// each as drawn at the mashup's output; none for another spot.
    pub fn parts_of(&self, request: &RenderRequest) -> Vec<RenderRequest> {
        let Some(mashup) = &request.spot.mashup else {
            return Vec::new();
        };
        let found = mashup.spots.iter().filter_map(|name| self.find(name));
        found.map(|i| self.exact(i, request.output)).collect()
    }

    /// The request for the spot at `index`, as [`Catalog::resolve`].
    pub fn request(
        &self,
        index: usize,
        preset: Option<&str>,
        options: &OutputOptions,
    ) -> Result<RenderRequest, RequestError> {
        let spot = self.spots[index].clone();
        let mut merged = OutputOptions::default();
        for name in [spot.preset.as_deref(), preset].into_iter().flatten() {
            // Names are matched as written first, then ignoring case, as
            // devices send `device=TRMNL` as readily as `trmnl`.
            let layer = self
                .presets
                .get(name)
                .or_else(|| {
                    self.presets
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                })
                .ok_or_else(|| RequestError::UnknownPreset {
                    name: crate::text::ellipsize(name, 40),
                    known: self.preset_names().join(", "),
                })?;
            merged = merged.overlay(layer);
        }
        let merged = merged.overlay(options);
        let output = Output::resolve(&merged, spot.width, spot.height);
        let (width, height) = (output.width, output.height);
        if u64::from(width) * u64::from(height) > self.max_pixels {
            let max = self.max_pixels;
            return Err(RequestError::TooLarge { width, height, max });
        }
        Ok(RenderRequest {
            index,
            spot,
            output,
            error_status: merged.error_status.unwrap_or(503),
            layers: None,
            preview: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rstest::rstest;

    use super::*;

    fn catalog() -> Catalog {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        std::fs::write(dir.path().join("templates/t.svg"), "<svg/>").unwrap();
        let text = "[presets.small]\nwidth = 200\nheight = 100\n[[spots]]\nname = \"Linda Mar\"\ntemplate = \"t\"\npreset = \"trmnl\"\n[[spots]]\nname = \"Plain\"\ntemplate = \"t\"\nwidth = 300\nheight = 200\n";
        Catalog::new(&Config::from_toml(text, Path::new("c.toml"), dir.path()).unwrap())
    }

    #[rstest]
    #[case("Linda Mar", None, (800, 480, Some(1)))]
    #[case("LINDA MAR", Some("small"), (200, 100, Some(1)))]
    #[case("plain", None, (300, 200, None))]
    #[case("plain", Some("kindle"), (600, 800, Some(8)))]
    fn spots_and_presets_resolve_in_order(
        #[case] name: &str,
        #[case] preset: Option<&str>,
        #[case] expect: (u32, u32, Option<u8>),
    ) {
        let r = catalog()
            .resolve(name, preset, &OutputOptions::default())
            .unwrap();
        assert_eq!((r.output.width, r.output.height, r.output.bits), expect);
    }

    #[test]
    fn an_output_over_the_pixel_limit_is_refused() {
        let c = catalog();
        let mut big = OutputOptions::default();
        big.set("width", "4096").unwrap();
        big.set("height", "1025").unwrap();
        let err = c.resolve("plain", None, &big).unwrap_err();
        assert_eq!(
            err.to_string(),
            "4096×1025 is more than the 4194304 pixels one image may have"
        );
        big.set("height", "1024").unwrap();
        assert!(c.resolve("plain", None, &big).is_ok(), "exactly the limit");
    }

    #[test]
    fn unknown_spots_and_presets_are_named() {
        let c = catalog();
        let none = OutputOptions::default();
        assert_eq!(
            c.resolve("Mavericks", None, &none).unwrap_err(),
            RequestError::UnknownSpot("Mavericks".into())
        );
        let err = c.resolve("plain", Some("nope"), &none).unwrap_err();
        assert!(
            err.to_string().contains(
                "unknown device `nope`; allowed: esphome-bmp, kindle, small, spectra6, trmnl, trmnl-bmp, trmnl-bwry, trmnl-x, xteink-x3"
            ),
            "{err}"
        );
    }
}
