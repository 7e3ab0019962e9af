//! The engine of inkspot: what a request for an image becomes. It answers
//! from the [`store`] when a render is fresh, and otherwise runs one
//! shared render job through the core's pipeline; it keeps the
//! [`schedule`] that draws images before anyone asks, coordinates work
//! with other replicas ([`coord`]), counts everything in its [`metrics`],
//! and owns its background tasks through a [`supervisor`].
//!
//! It knows no database, no devices, no job API and no HTTP: those are the
//! server's, which builds the engine and asks it. Its backends are
//! features: `s3` (storage on S3) and `redis` (coordination).

pub mod coord;
pub mod engine;
pub mod metrics;
pub mod schedule;
pub mod store;
pub mod supervisor;

// The core's modules, at the paths the engine's code names them by.
pub use inkspot_core::{
    artifact, clock, config, flight, history, observe, pipeline, render, request, source, template,
    text,
};

pub use engine::Engine;
