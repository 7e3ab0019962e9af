//! inkspot renders images for low-power displays: it fetches a spot's data
//! from websites, fills an SVG template, rasterizes it and serves the result
//! from a cache that survives restarts.
//!
//! This crate is the server: the composition root ([`app`]), the HTTP
//! edges ([`http`]), the command line ([`cli`]), the database ([`db`]),
//! TRMNL devices ([`devices`]), the job API ([`jobs`]), the [`history`] of
//! fetched values and [`status`]. It
//! builds the engine (`inkspot-engine`: cache, render jobs, storage,
//! coordination, schedule, metrics) over the core (`inkspot-core`: config,
//! sources, templates, render, pipeline), and re-exports both crates'
//! modules, so `inkspot::config` is `inkspot_core::config`. Data flows one
//! way: server → engine → core.

pub mod app;
pub mod cli;
pub use inkspot_browser as browser;
pub use inkspot_core::{
    artifact, clock, config, flight, observe, pipeline, render, request, shot, source, template,
    text,
};
pub use inkspot_db as db;
pub use inkspot_engine::{coord, engine, metrics, schedule, store, supervisor};
pub use inkspot_history as history;
pub use inkspot_jobs as jobs;
pub use inkspot_trmnl as devices;
#[doc(hidden)]
pub mod fuzz;
pub mod http;
#[cfg(feature = "otlp")]
pub mod otlp;
pub mod status;

pub use config::Config;
pub use engine::Engine;

/// The config checks that need modules other than `config`: source URL
/// templates must expand to URLs inkspot can fetch.
pub const CONFIG_CHECKS: &[config::Check] = &[source::check_urls];

/// Reads and validates the config at `path` with every module's checks.
pub fn load_config(path: &std::path::Path) -> Result<Config, config::ConfigError> {
    Config::load_with(path, CONFIG_CHECKS)
}
