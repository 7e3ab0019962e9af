//! `[[spots]]`: the places that can be rendered, their sources and the
//! fields read from each source.

/// The rules this section must satisfy beyond its types, checked at load.
pub(super) mod checks;
pub(super) mod mashup;

pub use mashup::{LAYOUTS, Layout, MAX_GUTTER, Mashup, Region};

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{CssSelector, Pattern};

/// `[[spots]]`: one place to render. Keys other than those below are passed
/// to the template as `spot.<key>` (for example `lat`, `timezone`).
#[derive(Debug, Clone, Deserialize)]
pub struct Spot {
    /// Display name, matched case-insensitively by `?spot=`. Required
    /// (checked with the rest, so a misspelt key is reported beside it).
    #[serde(default)]
    pub name: String,
    /// URL-safe name (`linda-mar`); derived from `name` when absent.
    #[serde(default)]
    pub slug: Option<String>,
    /// Template name: `templates/<template>.svg` (or `.html`), or one per orientation,
    /// `{ landscape = "surf", portrait = "surf-portrait" }`. Required
    /// (checked with the rest, as `name` is).
    #[serde(default)]
    pub template: SpotTemplate,
    /// Image width in pixels. Default 800.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Image height in pixels. Default 480.
    #[serde(default = "default_height")]
    pub height: u32,
    /// Output preset used when a request names none, e.g. `"trmnl"`.
    #[serde(default)]
    pub preset: Option<String>,
    /// The former name of `preset`, still read for one release with a
    /// warning. `None` after loading.
    #[serde(default)]
    pub device: Option<String>,
    /// IANA time zone (`"America/Los_Angeles"`) of the spot's local times:
    /// `today` in source URLs and times in templates. UTC when absent.
    #[serde(skip)]
    pub timezone: Option<chrono_tz::Tz>,
    /// `timezone` as written; checked and parsed into `timezone` at load.
    #[serde(default, rename = "timezone")]
    pub(super) timezone_name: Option<String>,
    /// Where the data comes from.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// How often the scheduler fetches and draws this spot ahead of
    /// requests, e.g. `"30m"`. Default: `cache.max_age` less a tenth (at
    /// most 5 minutes), so a fresh render always exists.
    #[serde(default, deserialize_with = "super::units::opt_duration")]
    pub refresh: Option<std::time::Duration>,
    /// Local times (in `timezone`) in which the spot is refreshed, e.g.
    /// `"06:00-21:00"`. Outside them nothing is fetched and the last image
    /// is served until the window opens. Default: all day.
    #[serde(default, deserialize_with = "super::schedule::active_hours")]
    pub active_hours: Option<super::ActiveHours>,
    /// Presets drawn on every refresh, e.g. `["trmnl", "kindle"]`, besides
    /// the variants clients ask for. Default: the spot's own output.
    #[serde(default)]
    pub prerender: Vec<String>,
    /// The spot's own retention of its history, e.g. `{ keep_raw = "30d" }`.
    #[serde(default)]
    pub history: Option<super::SpotHistory>,
    /// The spot's picture is this web page, taken by the browser, instead
    /// of a filled template: `screenshot = { url = "…" }`.
    #[serde(default)]
    pub screenshot: Option<super::Screenshot>,
    /// Hosts the page of an HTML template may load from (a web font, a
    /// library from a CDN); none by default.
    #[serde(default)]
    pub page_hosts: Vec<String>,
    /// The spot is a layout of other spots, each drawn in its region by
    /// its own template: `mashup = { layout = "1Lx2R", spots = [...] }`.
    /// Such a spot has no sources or template of its own.
    #[serde(default)]
    pub mashup: Option<Mashup>,
    /// The friendly id of a TRMNL whose own sensors (its `SENSORS`
    /// header) the template reads: `device.sensors.temperature`, and
    /// `history("device:<id>.temperature")`. Default: none.
    #[serde(default)]
    pub sensors_of: Option<String>,
    /// Any other keys, passed to the template.
    #[serde(flatten)]
    pub extra: BTreeMap<String, toml::Value>,
}

/// A spot's `template`: one for every size, or one per orientation, so a
/// portrait panel (a Kindle) gets a layout made for it, not a letterbox.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "a template name such as \"surf\", or { landscape = \"surf\", portrait = \"surf-portrait\" }"
)]
pub enum SpotTemplate {
    /// `template = "surf"`
    One(String),
    /// `template = { landscape = "surf", portrait = "surf-portrait" }`
    ByOrientation {
        /// Drawn when the output is at least as wide as it is tall.
        landscape: String,
        /// Drawn when the output is taller than it is wide.
        portrait: String,
    },
}

impl Default for SpotTemplate {
    /// No template: the config check reports it as missing.
    fn default() -> Self {
        SpotTemplate::One(String::new())
    }
}

impl SpotTemplate {
    /// The template to draw for an output `width`×`height`.
    pub fn for_size(&self, width: u32, height: u32) -> &str {
        match self {
            SpotTemplate::One(name) => name,
            SpotTemplate::ByOrientation { portrait, .. } if height > width => portrait,
            SpotTemplate::ByOrientation { landscape, .. } => landscape,
        }
    }

    /// Every template named, with the config key that names it.
    pub fn names(&self) -> Vec<(&'static str, &str)> {
        match self {
            SpotTemplate::One(name) => vec![("", name)],
            SpotTemplate::ByOrientation {
                landscape,
                portrait,
            } => vec![("landscape", landscape), ("portrait", portrait)],
        }
    }
}

fn default_width() -> u32 {
    800
}
fn default_height() -> u32 {
    480
}

/// The largest width or height a spot may ask for.
pub const MAX_DIMENSION: u32 = 4096;
/// The smallest width or height a spot may ask for.
pub const MIN_DIMENSION: u32 = 16;

impl Spot {
    /// The slug: configured, or derived from the name.
    pub fn slug(&self) -> String {
        self.slug.clone().unwrap_or_else(|| slugify(&self.name))
    }
}

/// Lower-case ASCII letters and digits, other runs of characters become `-`.
pub fn slugify(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// `[[spots.sources]]`: one upstream document and the fields read from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Name of the source in the template: `data.<id>.<field>`. Required.
    pub id: String,
    /// `http://`, `https://`, or `file://PATH` (relative to the config's folder).
    pub url: String,
    /// How the body is read: `html`, `json` or `text`. Required.
    pub format: Format,
    /// json: a pointer that, when it finds a value, marks the answer as an
    /// error even with HTTP 200 (NOAA CO-OPS answers `{"error": {"message":
    /// ...}}`), e.g. `"/error/message"`. The source then fails with that text.
    #[serde(default)]
    pub error_pointer: Option<String>,
    /// Fields to extract, by name.
    #[serde(default)]
    pub fields: BTreeMap<String, Field>,
}

/// How a source's body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// HTML, read with CSS selectors (`css`, `attr`).
    Html,
    /// JSON, read with RFC 6901 pointers (`pointer`).
    Json,
    /// Plain text, read with regular expressions (`regex`).
    Text,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Html => "html",
            Format::Json => "json",
            Format::Text => "text",
        })
    }
}

/// One extracted value.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// CSS selector (html). Text content with whitespace collapsed, or `attr`.
    pub css: Option<CssSelector>,
    /// Attribute to read from the element matched by `css`.
    pub attr: Option<String>,
    /// RFC 6901 JSON pointer (json), e.g. `/hourly/wave_height/0`.
    pub pointer: Option<String>,
    /// Column name (text): whitespace-separated columns named by the first
    /// `#` header line, newest row first, `MM` for missing (NOAA NDBC
    /// realtime files). Gives the newest value that is not missing.
    pub column: Option<String>,
    /// With `column`: the UTC time (RFC 3339) of the row the value comes
    /// from, built from its `YY MM DD hh mm` columns, instead of the value.
    #[serde(default)]
    pub row_time: bool,
    /// Regular expression (text), or a narrowing step after `css`/`pointer`;
    /// the first capture group wins, else the whole match.
    pub regex: Option<Pattern>,
    /// A list of every match instead of the first.
    #[serde(default)]
    pub all: bool,
    /// `text` (default) or `number` (the first decimal number in the value).
    #[serde(default, rename = "type")]
    pub kind: FieldType,
    /// `"all"`: with `column`, every row of the file is kept in the
    /// history, each at its row's time (the template still gets the newest
    /// value). Default `"latest"`: the one value, at its own time.
    #[serde(default)]
    pub rows: Rows,
    /// json: a pointer to the time of the value. Beside one value, a time
    /// (`/current/time`); beside an array of values, an array of times as
    /// long (`/hourly/time`): every element is then kept, past ones as
    /// observations and later ones as the forecast, and the template gets
    /// the newest value not in the future. Times without an offset are in
    /// the spot's `timezone`.
    pub times: Option<String>,
    /// json: with `pointer` at an array of objects, the value's pointer
    /// inside each of them (CO-OPS: `each = "/v"`); `times` is then
    /// inside each too (`times = "/t"`).
    pub each: Option<String>,
    /// The value's unit for the history and charts, e.g. `"ft"`. Default:
    /// what the answer says (an NDBC file's units line, Open-Meteo's
    /// `*_units`).
    pub unit: Option<String>,
}

/// Which rows of a field the history keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rows {
    /// The field's one value.
    #[default]
    Latest,
    /// Every row the answer holds.
    All,
}

/// What a field's value becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// The value as a string (JSON numbers and booleans stay as they are).
    #[default]
    Text,
    /// The first decimal number found in the value.
    Number,
}
