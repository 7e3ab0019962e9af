//! The configuration file: typed structs whose doc comments are the reference,
//! their defaults, loading, and the validation pass that turns mistakes into
//! messages naming the key and its line.
//!
//! Every default lives in the `Default` impls and `default_*` functions of
//! this module (and the built-in presets in [`builtin_presets`]), so the
//! README and `inkspot check` agree with the code.
//!
//! This module depends on no other module of the crate. Checks that need
//! another module (a source URL template that must expand, say) come in as
//! [`Check`] functions, and their problems are located like any other.

mod locate;
mod normalize;
mod output;
mod patterns;
mod validate;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;
use serde::Deserialize;

pub use locate::Seg;
pub use output::{
    Dither, ImageFormat, InvalidOption, OPTION_PARAMS, OutputOptions, builtin_presets,
};
pub use patterns::{CssSelector, Pattern};
pub use validate::check_url;

/// A check contributed by another module: the problems it finds, each at a
/// key path, which the loader turns into messages with line numbers.
pub type Check = fn(&Config) -> Vec<(Vec<Seg>, String)>;

/// Where the configuration is read from when nothing else is said.
pub const DEFAULT_CONFIG_PATH: &str = "config.toml";

/// Errors from reading and validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax, a wrong type, or an unknown key; the message carries the line.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// The file parsed, but a value does not make sense.
    #[error("{}", format_invalid(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// One thing wrong with a parsed config, located at a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the key, e.g. `spots[0].sources[1].url`.
    pub key: String,
    /// 1-based line of the key in the file, when it could be found.
    pub line: Option<usize>,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: `{}`: {}", self.key, self.message),
            None => write!(f, "`{}`: {}", self.key, self.message),
        }
    }
}

fn format_invalid(path: &Path, problems: &[Problem]) -> String {
    let mut out = format!("{}: invalid configuration", path.display());
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: the HTTP listener.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[cache]`: how long renders stay fresh and where they are kept.
    #[serde(default)]
    pub cache: CacheConfig,
    /// `[fetch]`: limits for upstream requests.
    #[serde(default)]
    pub fetch: FetchConfig,
    /// `[templates]`: where SVG templates are found.
    #[serde(default)]
    pub templates: TemplatesConfig,
    /// `[presets.NAME]`: output presets (`width`, `height`, `format`, `bits`,
    /// `dither`, `rotate`, `invert`), chosen with `?device=NAME`; they add
    /// to or replace the built-in `trmnl`, `trmnl-bmp`, `kindle`,
    /// `esphome-bmp`. After loading, this holds the built-in ones too.
    #[serde(default)]
    pub presets: BTreeMap<String, OutputOptions>,
    /// `[devices.NAME]`: the former name of `[presets.NAME]`, still read for
    /// one release with a warning. Empty after loading.
    #[serde(default)]
    pub devices: BTreeMap<String, OutputOptions>,
    /// `[[spots]]`: the places that can be rendered. At least one is required.
    #[serde(default)]
    pub spots: Vec<Spot>,
    /// Folder of the config file; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Things that load but should change, such as a deprecated key.
    #[serde(skip)]
    pub warnings: Vec<Problem>,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on. Default `0.0.0.0:8080`.
    pub listen: SocketAddr,
    /// Longest time any request may take before it is answered 503. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Renders that may run at once on blocking threads. Default: the number of CPUs.
    pub render_concurrency: Option<usize>,
    /// Renders (fetch and draw) that may be waiting or running at once. A
    /// request that needs one more is answered 503 with `Retry-After`, so a
    /// flood of cold requests cannot starve cache hits. Default `32`.
    pub render_queue: usize,
    /// On SIGTERM or SIGINT, requests in flight get this long to finish
    /// before the process exits anyway. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// `[server.rate_limit]`: requests per client address.
    pub rate_limit: RateLimitConfig,
}

/// `[server.rate_limit]`: a token bucket per client IP address. A client
/// past it is answered 429 with `Retry-After`. `/healthz` is not limited.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per minute per client; `0` turns the limit off.
    /// Default `120`.
    pub per_minute: u32,
    /// Requests a client may send at once before the sustained rate applies.
    /// Default `60`.
    pub burst: u32,
    /// Whether loopback clients (127.0.0.1, ::1) are limited too. Behind a
    /// reverse proxy on the same host every client is loopback, so rate
    /// limit there instead. Default `false`.
    pub loopback: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_minute: 120,
            burst: 60,
            loopback: false,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            request_timeout: Duration::from_secs(30),
            render_concurrency: None,
            render_queue: 32,
            shutdown_timeout: Duration::from_secs(10),
            rate_limit: RateLimitConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The render concurrency to use: configured, or one per CPU.
    pub fn render_concurrency(&self) -> usize {
        self.render_concurrency.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        })
    }
}

/// `[cache]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// A render younger than this is served without fetching anything. Default `1h`.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// A render made while some sources failed stays fresh only this long. Default `5m`.
    #[serde(with = "humantime_serde")]
    pub partial_max_age: Duration,
    /// When a render has expired, send it at once (`X-Cache: stale`) while one
    /// background refresh runs, so no device waits for a slow upstream.
    /// Default `true`.
    pub serve_stale: bool,
    /// `Cache-Control: max-age` sent with an old render served while a
    /// refresh runs or because every source failed. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub stale_max_age: Duration,
    /// `Retry-After` sent with the 503 error image when no render exists. Default `60s`.
    #[serde(with = "humantime_serde")]
    pub error_retry_after: Duration,
    /// Folder where renders are stored; they survive restarts. Default `cache`.
    pub dir: PathBuf,
    /// Memory the in-process cache may hold, e.g. `"64MiB"`. Default `64MiB`.
    pub memory: ByteSize,
    /// The cache folder is kept under this size; the oldest renders go
    /// first. Default `256MiB`.
    pub max_disk: ByteSize,
    /// Renders on disk older than this are deleted. Default `7d`.
    #[serde(with = "humantime_serde")]
    pub max_disk_age: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(3600),
            partial_max_age: Duration::from_secs(300),
            serve_stale: true,
            stale_max_age: Duration::from_secs(60),
            error_retry_after: Duration::from_secs(60),
            dir: PathBuf::from("cache"),
            memory: ByteSize::mib(64),
            max_disk: ByteSize::mib(256),
            max_disk_age: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// `[fetch]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Total time allowed for one upstream request, body included. Default `10s`.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Larger upstream bodies are cut off and count as a failed source. Default `2MiB`.
    pub max_bytes: ByteSize,
    /// `User-Agent` sent upstream. Default `inkspot/<version>`.
    pub user_agent: String,
    /// A source that just failed is not asked again for this long; requests
    /// in between see the same failure. `"0s"` turns this off. Default `30s`.
    #[serde(with = "humantime_serde")]
    pub failure_ttl: Duration,
    /// Requests that may be open at once to one upstream host (and port);
    /// more wait their turn within `fetch.timeout`. Default `4`.
    pub per_host_concurrency: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_bytes: ByteSize::mib(2),
            user_agent: concat!("inkspot/", env!("CARGO_PKG_VERSION")).to_string(),
            failure_ttl: Duration::from_secs(30),
            per_host_concurrency: 4,
        }
    }
}

/// `[templates]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// Folder holding `<name>.svg` templates, `error.svg`, images and `fonts/`.
    /// Default `templates`.
    pub dir: PathBuf,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("templates"),
        }
    }
}

/// `[[spots]]`: one place to render. Keys other than those below are passed
/// to the template as `spot.<key>` (for example `lat`, `timezone`).
#[derive(Debug, Clone, Deserialize)]
pub struct Spot {
    /// Display name, matched case-insensitively by `?spot=`. Required.
    pub name: String,
    /// URL-safe name (`linda-mar`); derived from `name` when absent.
    #[serde(default)]
    pub slug: Option<String>,
    /// Template name: `templates/<template>.svg`. Required.
    pub template: String,
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
    timezone_name: Option<String>,
    /// Where the data comes from.
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Any other keys, passed to the template.
    #[serde(flatten)]
    pub extra: BTreeMap<String, toml::Value>,
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

impl Config {
    /// Reads, parses and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, &[])
    }

    /// Like [`Config::load`], with the `checks` of other modules as well.
    pub fn load_with(path: &Path, checks: &[Check]) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Self::from_toml_with(&text, path, &base_dir, checks)
    }

    /// Parses and validates config text; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
        Self::from_toml_with(text, path, base_dir, &[])
    }

    /// Like [`Config::from_toml`], with the `checks` of other modules as well.
    pub fn from_toml_with(
        text: &str,
        path: &Path,
        base_dir: &Path,
        checks: &[Check],
    ) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.base_dir = base_dir.to_path_buf();
        let problems = validate::validate(&mut config, text, checks);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Resolves a path from the config against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The templates folder, resolved.
    pub fn templates_dir(&self) -> PathBuf {
        self.resolve(&self.templates.dir)
    }

    /// The cache folder, resolved.
    pub fn cache_dir(&self) -> PathBuf {
        self.resolve(&self.cache.dir)
    }
}

#[cfg(test)]
mod tests;
