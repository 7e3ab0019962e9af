//! inkspot renders images for low-power displays: it fetches a spot's data
//! from websites, fills an SVG template, rasterizes it and serves the result
//! from a cache that survives restarts.
//!
//! Data flows one way. [`http`] and [`cli`] are the edges: they resolve a
//! [`request::RenderRequest`] through the [`request::Catalog`] and ask the
//! [`engine`], which answers from the [`store`] or submits a job to the
//! [`flight`] (single-flight) table that runs the [`pipeline`] ([`source`], [`template`],
//! [`render`]). [`config`] is plain data that depends on nothing else;
//! [`clock`] and [`supervisor`] stand alone.

pub mod app;
pub mod cli;
pub mod jobs;
pub use inkspot_core::{
    artifact, clock, config, flight, observe, pipeline, render, request, source, template, text,
};
pub mod coord;
pub mod db;
pub mod devices;
pub mod engine;
#[doc(hidden)]
pub mod fuzz;
pub mod http;
pub mod metrics;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod schedule;
pub mod status;
pub mod store;
pub mod supervisor;

pub use config::Config;
pub use engine::Engine;

/// The config checks that need modules other than `config`: source URL
/// templates must expand to URLs inkspot can fetch.
pub const CONFIG_CHECKS: &[config::Check] = &[source::check_urls];

/// Reads and validates the config at `path` with every module's checks.
pub fn load_config(path: &std::path::Path) -> Result<Config, config::ConfigError> {
    Config::load_with(path, CONFIG_CHECKS)
}
