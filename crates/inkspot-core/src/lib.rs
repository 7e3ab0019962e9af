//! The core of inkspot, with no server in it: the config and its
//! validation, the sources and their fetcher, the templates, the renderer
//! and its encoders, the artifacts it makes, the catalog of outputs and
//! the pipeline that runs them.
//!
//! It knows no database, Redis, object store or web framework. What it
//! needs of them it asks through small traits the server implements:
//! [`observe::Observe`] counts fetches and stages, and
//! [`source::FetchShare`] shares failures and per-host permits with other
//! replicas.
//!
//! Data flows one way: [`config`] is plain data that depends on nothing
//! else; [`source`], [`template`] and [`render`] read it; [`request`] names
//! an output through the [`request::Catalog`]; [`pipeline`] runs the three
//! stages and yields an [`artifact::Rendered`].

pub mod artifact;
pub mod clock;
pub mod config;
pub mod flight;
pub mod history;
pub mod observe;
pub mod pipeline;
pub mod render;
pub mod request;
pub mod shot;
pub mod source;
pub mod surf;
pub mod template;
pub mod text;

pub use config::Config;

/// The domain plugins every template set is compiled with.
pub const PLUGINS: &[template::Plugin] = &[surf::register];

/// The toolkit templates are compiled with: `renderer` measures text for
/// `fit`, and the [`PLUGINS`].
pub fn toolkit(renderer: &render::Renderer) -> template::Toolkit {
    template::Toolkit {
        measure: std::sync::Arc::new(renderer.clone()),
        plugins: PLUGINS,
    }
}
