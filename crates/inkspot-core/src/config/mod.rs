//! The configuration file: typed structs whose doc comments are the reference,
//! their defaults, loading, and the validation pass that turns mistakes into
//! messages naming the key and its line.
//!
//! Each section is a module with its types, their defaults (`Default`
//! impls and `default_*` functions) and, in its `checks.rs`, the rules its
//! values must meet: `sections/` (server, cache, fetch, clock, templates,
//! otlp), `spot/`, `schedule/`, `storage/`, `trmnl/` (database, devices),
//! `jobs/`. The built-in presets are [`builtin_presets`]. `validate.rs`
//! runs every section's checks and the rules that span sections, so the
//! docs and `inkspot check` agree with the code.
//!
//! This module depends on no other module of the crate. Checks that need
//! another module (a source URL template that must expand, say) come in as
//! [`Check`] functions, and their problems are located like any other.

mod browser;
mod history;
mod jobs;
mod locate;
mod normalize;
mod output;
mod parse;
mod patterns;
mod playlist;
mod schedule;
mod sections;
mod spot;
mod storage;
mod trmnl;
mod units;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use browser::{
    BrowserConfig, Screenshot, WaitFor, checks::check_page_url, expand_env, parse_size,
};
pub use history::{HistoryConfig, Retention, SpotHistory};
pub use jobs::{ApiKeyConfig, JobsConfig};
pub use locate::Seg;
pub use output::{
    Dither, ImageFormat, InvalidOption, OPTION_PARAMS, OutputOptions, Palette, builtin_presets,
};
pub use patterns::{CssSelector, Pattern};
pub use playlist::PlaylistItem;
pub use schedule::{ActiveHours, ScheduleConfig};
pub use sections::{
    CacheConfig, ClockConfig, FetchConfig, OtlpConfig, RateLimitConfig, Secret, ServerConfig,
    TemplatesConfig,
};
pub use spot::checks::check_url;
pub use spot::{
    Field, FieldType, Format, LAYOUTS, Layout, MAX_DIMENSION, MAX_GUTTER, MIN_DIMENSION, Mashup,
    Region, Rows, Source, Spot, SpotTemplate, slugify,
};
pub use storage::{CoordinationConfig, StorageBackend, StorageConfig};
pub use trmnl::{
    DatabaseConfig, DeviceConfig, Devices, SleepPeriod, SpecialFunction, TrmnlConfig, Weekdays,
    normalize_mac,
};

/// A check contributed by another module: the problems it finds, each at a
/// key path, which the loader turns into messages with line numbers.
pub type Check = fn(&Config) -> Vec<(Vec<Seg>, String)>;

/// Where the configuration is read from when nothing else is said.
pub const DEFAULT_CONFIG_PATH: &str = "config.toml";

/// For a config file that is not there: where it was looked for, and how
/// to name another.
fn read_hint(path: &std::path::Path, source: &std::io::Error) -> String {
    if source.kind() != std::io::ErrorKind::NotFound {
        return String::new();
    }
    let folder = std::env::current_dir()
        .ok()
        .map(|cwd| cwd.join(path.parent().unwrap_or(std::path::Path::new(""))))
        .map_or_else(|| "this folder".to_string(), |f| f.display().to_string());
    format!(
        " (looked in {folder}); name the file with --config FILE or INKSPOT_CONFIG, or try the offline demo: --config examples/offline.toml"
    )
}

/// Errors from reading and validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}{}", read_hint(path, source))]
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
    /// `[schedule]`: refreshing spots ahead of requests.
    #[serde(default)]
    pub schedule: ScheduleConfig,
    /// `[clock]`: a fixed time for demos and tests.
    #[serde(default)]
    pub clock: ClockConfig,
    /// `[presets.NAME]`: output presets (`width`, `height`, `format`, `bits`,
    /// `dither`, `rotate`, `invert`), chosen with `?device=NAME`; they add
    /// to or replace the built-in `trmnl`, `trmnl-bmp`, `kindle`,
    /// `esphome-bmp`. After loading, this holds the built-in ones too.
    #[serde(default)]
    pub presets: BTreeMap<String, OutputOptions>,
    /// `[[devices]]`: TRMNL devices. (`[devices.NAME]`, the former name of
    /// `[presets.NAME]`, is still read for one release with a warning, and
    /// moved to `presets`.)
    #[serde(default)]
    pub devices: Devices,
    /// `[trmnl]`: how TRMNL devices are answered.
    #[serde(default)]
    pub trmnl: TrmnlConfig,
    /// `[database]`: where device state is kept.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// `[otlp]`: trace export.
    #[serde(default)]
    pub otlp: OtlpConfig,
    /// `[storage]`: where renders and job results are kept.
    #[serde(default)]
    pub storage: StorageConfig,
    /// `[coordination]`: how replicas share work (Redis).
    #[serde(default)]
    pub coordination: CoordinationConfig,
    /// `[jobs]`: the job API's limits.
    #[serde(default)]
    pub jobs: JobsConfig,
    /// `[history]`: how long fetched values are kept.
    #[serde(default)]
    pub history: HistoryConfig,
    /// `[browser]`: the headless browser for screenshot spots and HTML
    /// templates.
    #[serde(default)]
    pub browser: BrowserConfig,
    /// `[[api_keys]]`: the keys the job API accepts; without any, it is off.
    #[serde(default)]
    pub api_keys: Vec<ApiKeyConfig>,
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
        let mut config = parse::parse(text).map_err(|errors| {
            let mut message = errors.join("\n\n");
            // The rest of the file is checked too, so one run shows every
            // mistake, not the type errors first and the values next time.
            let rest = parse::without_failed_lines(text, &errors);
            if let Ok(mut config) = parse::parse(&rest) {
                config.base_dir = base_dir.to_path_buf();
                for problem in validate::validate(&mut config, &rest, checks) {
                    message.push_str(&format!("\n\n{problem}"));
                }
            }
            ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            }
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

    /// How often `spot` is refreshed: its `refresh`, or else `cache.max_age`
    /// less a margin of a tenth (at most five minutes), so the new render is
    /// stored before the old one expires.
    pub fn refresh_of(&self, spot: &Spot) -> std::time::Duration {
        spot.refresh.unwrap_or_else(|| {
            let max_age = self.cache.max_age;
            max_age - (max_age / 10).min(schedule::MAX_MARGIN)
        })
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

    /// The database file, resolved.
    pub fn database_path(&self) -> PathBuf {
        match &self.database.path {
            Some(path) => self.resolve(path),
            None => self.cache_dir().join("inkspot.db"),
        }
    }

    /// The cache folder, resolved.
    pub fn cache_dir(&self) -> PathBuf {
        self.resolve(&self.cache.dir)
    }
}

#[cfg(test)]
mod tests;
