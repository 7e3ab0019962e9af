//! The integration tests, in one binary: each module is one concern, run
//! through real sockets, files, decoders and servers (see
//! docs/testing.md). The replicas' tests, which start several binaries and
//! servers of their own, are `tests/replicas.rs`; the trace export's, built
//! with its feature, `tests/otlp.rs`.

#[path = "../common/mod.rs"]
mod common;

mod animation;
mod architecture;
mod browser;
mod browser_jobs;
mod cli;
mod colour;
mod coordination;
mod database;
mod deploy;
mod endpoints;
mod engine;
mod faults;
mod first_run;
mod fuzz_regressions;
mod gallery;
mod golden;
mod history;
mod hostile;
mod image;
mod jobs;
mod jobs_durability;
mod mashup;
mod operability;
mod output;
mod overload;
mod properties;
mod report;
mod schedule;
mod shutdown;
mod status;
mod storage;
mod trmnl;
mod trmnl_firmware;
mod trmnl_fleet;
mod trmnl_sensors;
mod trmnl_sleep;
