//! The surf report's own template functions, registered as a plugin of
//! the generic template engine: tides from NOAA CO-OPS predictions (the
//! next high and low, and today's curve).

mod tides;

use minijinja::Environment;

/// Registers the surf functions on `env`: a [`crate::template::Plugin`].
pub fn register(env: &mut Environment<'static>) {
    tides::register(env);
}
