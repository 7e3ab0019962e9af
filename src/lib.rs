//! inkspot renders images for low-power displays: it fetches a spot's data
//! from websites, fills an SVG template, rasterizes it and serves the result
//! from a cache that survives restarts.
//!
//! The modules follow the path of a request: [`http`] receives it,
//! [`engine`] answers from [`store`] or runs a job that uses [`source`],
//! [`template`] and [`render`]; [`config`] describes all of it.

pub mod cli;
pub mod config;
pub mod engine;
#[doc(hidden)]
pub mod fuzz;
pub mod http;
pub mod render;
pub mod source;
pub mod store;
pub mod template;
pub mod text;

pub use config::Config;
pub use engine::Engine;
