//! The body of `POST /api/jobs`: a list of renders, or one animation.
//! Parsing names the field a problem is in (`renders[2].spot`); resolving
//! checks every item against the catalog, the templates and the limits,
//! and reports every problem at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::render::animate::{AnimationFormat, PaletteMode};

use crate::config::{JobsConfig, OutputOptions};
use crate::engine::Engine;
use crate::request::RenderRequest;

mod browse;
mod parse;
pub use browse::{
    Crawl, CrawlPlan, MAX_DEPTH, MAX_FULL_HEIGHT, Screenshots, ShotFormat, ShotOptions, ShotsPlan,
    file_name as page_file,
};
pub use parse::parse;

/// The body as sent.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Body {
    /// Images to draw: one is downloaded as itself, several as a zip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renders: Option<Vec<What>>,
    /// One animation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub animation: Option<Animation>,
    /// Pictures of web pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshots: Option<Screenshots>,
    /// A page and the pages its links reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crawl: Option<Crawl>,
}

/// A spot drawn as a preset with options, as `/image` draws it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct What {
    /// The spot's name or slug.
    pub spot: String,
    /// A preset, as `/image?device=`.
    #[serde(default, alias = "device", skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Output options, as `/image`'s parameters (`width`, `bits`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, serde_json::Value>,
    /// The template layers to draw; all of them when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
}

/// An animation: the spot's template drawn for a series of hours. Its
/// first four fields are those of [`What`], written again so that unknown
/// fields are named at their own path.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Animation {
    /// The spot's name or slug.
    pub spot: String,
    /// A preset, as `/image?device=`.
    #[serde(default, alias = "device", skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Output options, as `/image`'s parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, serde_json::Value>,
    /// The template layers to draw; all of them when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
    /// The hours the frames stand for, from the data's hour.
    pub hours: Hours,
    /// `gif`, `apng`, or `sheet` (every frame on one PNG, for e-ink).
    #[serde(default)]
    pub format: AnimationFormat,
    /// A GIF's colours: one `global` palette, or one per `frame`.
    #[serde(default)]
    pub palette: PaletteMode,
    /// How long each frame shows, in milliseconds (10 to 60000).
    #[serde(default = "default_delay")]
    pub delay_ms: u32,
    /// How many times it plays; `0` for ever.
    #[serde(default)]
    pub loops: u16,
}

fn default_delay() -> u32 {
    500
}

/// `from`, `to` (not included) and `step`, in hours: `0`, `24`, `3` makes
/// 0, 3, ... 21.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
pub struct Hours {
    /// The first frame's hour. Default `0`.
    #[serde(default)]
    pub from: i64,
    /// The hour the frames stop before.
    pub to: i64,
    /// Hours between frames. Default `1`.
    #[serde(default = "one")]
    pub step: i64,
}

fn one() -> i64 {
    1
}

/// A problem with the body, at a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field's path, such as `renders[2].spot`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

pub(crate) fn problem(field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
    }
}

/// A resolved job.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Images, each with its file name in the zip.
    Renders(Vec<(RenderRequest, String)>),
    /// One animation.
    Animation(AnimationPlan),
    /// Pictures of web pages.
    Screenshots(ShotsPlan),
    /// A crawl.
    Crawl(CrawlPlan),
}

/// A resolved animation.
#[derive(Debug, Clone)]
pub struct AnimationPlan {
    /// What each frame draws.
    pub request: RenderRequest,
    /// The hour of each frame.
    pub hours: Vec<i64>,
    /// The body's settings.
    pub spec: Animation,
}

/// Resolves `body` against the engine's spots, presets and templates and
/// the job limits; every problem is reported.
pub fn resolve(engine: &Engine, body: &Body, limits: &JobsConfig) -> Result<Plan, Vec<Problem>> {
    let given = [
        body.renders.is_some(),
        body.animation.is_some(),
        body.screenshots.is_some(),
        body.crawl.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(vec![problem(
            "body",
            "give one of `renders`, `animation`, `screenshots` or `crawl`",
        )]);
    }
    let config = engine.config();
    match body {
        Body {
            renders: Some(renders),
            ..
        } => resolve_renders(engine, renders, limits),
        Body {
            animation: Some(animation),
            ..
        } => resolve_animation(engine, animation, limits),
        Body {
            screenshots: Some(shots),
            ..
        } => browse::resolve_screenshots(config, shots).map(Plan::Screenshots),
        Body {
            crawl: Some(crawl), ..
        } => browse::resolve_crawl(config, crawl).map(Plan::Crawl),
        _ => Err(vec![problem(
            "body",
            "give `renders` (a list of {\"spot\": ...}), `animation`, `screenshots` or `crawl`",
        )]),
    }
}

fn resolve_renders(
    engine: &Engine,
    renders: &[What],
    limits: &JobsConfig,
) -> Result<Plan, Vec<Problem>> {
    if renders.is_empty() {
        return Err(vec![problem("renders", "is empty")]);
    }
    if renders.len() > limits.max_items {
        let message = format!(
            "{} items, more than the {} one job may have (`jobs.max_items`)",
            renders.len(),
            limits.max_items
        );
        return Err(vec![problem("renders", message)]);
    }
    let mut problems = Vec::new();
    let mut planned = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, what) in renders.iter().enumerate() {
        let at = format!("renders[{i}]");
        match request_for(
            engine,
            &at,
            &what.spot,
            &what.preset,
            &what.options,
            &what.layers,
        ) {
            Ok(request) => {
                let name = file_name(&request, what.preset.as_deref(), &mut names);
                planned.push((request, name));
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(Plan::Renders(planned))
    } else {
        Err(problems)
    }
}

fn resolve_animation(
    engine: &Engine,
    a: &Animation,
    limits: &JobsConfig,
) -> Result<Plan, Vec<Problem>> {
    let mut problems = Vec::new();
    let hours = frame_hours(a.hours, limits, &mut problems);
    if !(10..=60_000).contains(&a.delay_ms) {
        problems.push(problem("animation.delay_ms", "must be 10 to 60000"));
    }
    let request = request_for(
        engine,
        "animation",
        &a.spot,
        &a.preset,
        &a.options,
        &a.layers,
    );
    let request = match request {
        Ok(request) => {
            let (w, h) = (request.output.width, request.output.height);
            if u64::from(w) * u64::from(h) > limits.max_frame_pixels {
                let message = format!(
                    "{w}×{h} frames have more than the {} pixels a frame may have (`jobs.max_frame_pixels`)",
                    limits.max_frame_pixels
                );
                problems.push(problem("animation.options", message));
            }
            Some(request)
        }
        Err(mut p) => {
            problems.append(&mut p);
            None
        }
    };
    match request {
        Some(request) if problems.is_empty() => Ok(Plan::Animation(AnimationPlan {
            request,
            hours,
            spec: a.clone(),
        })),
        _ => Err(problems),
    }
}

/// The hours `hours` make, within `limits`; problems are added.
fn frame_hours(hours: Hours, limits: &JobsConfig, problems: &mut Vec<Problem>) -> Vec<i64> {
    let Hours { from, to, step } = hours;
    if step < 1 {
        problems.push(problem("animation.hours.step", "must be at least 1"));
        return Vec::new();
    }
    if to <= from {
        problems.push(problem("animation.hours.to", "must be after `from`"));
        return Vec::new();
    }
    if from < -48 || to > 24 * 16 {
        problems.push(problem(
            "animation.hours",
            "frames must stand within 2 days back and 16 days ahead",
        ));
        return Vec::new();
    }
    let hours: Vec<i64> = (from..to).step_by(step as usize).collect();
    if hours.len() > limits.max_frames {
        let message = format!(
            "makes {} frames, more than the {} one animation may have (`jobs.max_frames`)",
            hours.len(),
            limits.max_frames
        );
        problems.push(problem("animation.hours", message));
    }
    hours
}

/// The request an item describes; problems name fields under `at`.
fn request_for(
    engine: &Engine,
    at: &str,
    spot: &str,
    preset: &Option<String>,
    options: &BTreeMap<String, serde_json::Value>,
    layers: &Option<Vec<String>>,
) -> Result<RenderRequest, Vec<Problem>> {
    use crate::request::RequestError;
    let mut problems = Vec::new();
    let mut parsed = OutputOptions::default();
    for (key, value) in options {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                problems.push(problem(
                    format!("{at}.options.{key}"),
                    "must be a string, number or boolean",
                ));
                continue;
            }
        };
        if !crate::config::OPTION_PARAMS.contains(&key.as_str()) {
            let allowed = crate::config::OPTION_PARAMS.join(", ");
            problems.push(problem(
                format!("{at}.options.{key}"),
                format!("unknown option; allowed: {allowed}"),
            ));
        } else if let Err(e) = parsed.set(key, &text) {
            problems.push(problem(format!("{at}.options.{key}"), e.to_string()));
        }
    }
    let custom = parsed.width.is_some() || parsed.height.is_some();
    if custom && !engine.config().server.custom_sizes {
        problems.push(problem(
            format!("{at}.options"),
            "this server draws only configured sizes (`server.custom_sizes = false`): leave out `width` and `height`",
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let request = engine.catalog().resolve(spot, preset.as_deref(), &parsed);
    let request = match (request, layers) {
        (Ok(r), Some(picked)) => engine.pick_layers(r, picked),
        (r, _) => r,
    };
    request.map_err(|e| {
        let field = match &e {
            RequestError::UnknownSpot(_) => "spot",
            RequestError::UnknownPreset { .. } => "preset",
            RequestError::UnknownLayer { .. } => "layers",
            RequestError::BadOption(_) | RequestError::TooLarge { .. } => "options",
        };
        vec![problem(format!("{at}.{field}"), e.to_string())]
    })
}

/// `<spot>-<preset>.<ext>`, unique within the job.
fn file_name(
    request: &RenderRequest,
    preset: Option<&str>,
    taken: &mut std::collections::HashSet<String>,
) -> String {
    let preset = preset
        .map(crate::config::slugify)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| format!("{}x{}", request.output.width, request.output.height));
    let ext = request.output.media_type().extension();
    let stem = format!("{}-{preset}", request.spot.slug());
    let mut name = format!("{stem}.{ext}");
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{stem}-{n}.{ext}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests;
