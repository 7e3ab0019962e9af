//! SVG templates: minijinja templates in the templates folder, filled with a
//! spot's data. Escaping is on for every `.svg` template, so scraped text can
//! never break the document.

pub mod chart;
mod context;
mod fit;
pub mod helpers;
pub mod history;
pub mod layers;
mod live;
pub(crate) mod values;
mod view;

pub use context::{Context, Frame};
pub use fit::{Fitted, Measure, SharedMeasure};

/// Functions and filters a domain adds to every template, beside the
/// generic helpers: the surf report's tides are one
/// ([`crate::surf::register`]).
pub type Plugin = fn(&mut Environment<'static>);

/// What templates are compiled with beyond the generic helpers: how `fit`
/// measures text, and the domain plugins.
#[derive(Clone)]
pub struct Toolkit {
    /// Text widths for `fit` and `wrap`.
    pub measure: SharedMeasure,
    /// Registered on every compiled set, in order.
    pub plugins: &'static [Plugin],
}
pub use layers::Layer;
pub use live::{LiveTemplates, POLL};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, State};

/// Name of the template drawn when a spot has no image to show.
pub const ERROR_TEMPLATE: &str = "error";

/// The shipped error template's name, kept even when the folder has its
/// own `error.svg`, so an error picture can always be drawn.
const BUILTIN_ERROR_NAME: &str = "builtin-error";

/// Used when the templates folder has no `error.svg` of its own.
const BUILTIN_ERROR_TEMPLATE: &str = include_str!("../../../../templates/error.svg");

/// The template of notices the server draws for a device (see
/// [`Templates::render_notice`]); shipped, not taken from the folder.
const NOTICE_NAME: &str = "builtin-notice";
const NOTICE_TEMPLATE: &str = include_str!("../../../../templates/notice.svg");

/// Instructions one fill of a template may run. The shipped surf templates
/// use under 1,000; this bounds a template that loops far longer than any
/// picture needs, so it fails instead of holding a render thread for ever.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// Errors from loading or filling templates.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The templates folder or a file in it could not be read.
    #[error("cannot read templates in {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A template does not compile or failed while rendering; minijinja's
    /// message names the template, the line and the reason.
    #[error("template {name}: {detail}")]
    Template { name: String, detail: String },
    /// No such template.
    #[error("template `{0}` not found")]
    Missing(String),
}

fn template_error(name: &str, e: &minijinja::Error) -> TemplateError {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    TemplateError::Template {
        // The file it came from, `.svg` or `.html`, when minijinja knows it.
        name: e
            .name()
            .map_or_else(|| format!("{name}.svg"), str::to_string),
        detail,
    }
}

/// The compiled templates of one templates folder.
pub struct Templates {
    env: Environment<'static>,
    /// Hash of each template's source, so a changed file changes cache keys.
    versions: BTreeMap<String, String>,
    /// The layers each template declares.
    layers: BTreeMap<String, Vec<Layer>>,
    /// The templates that are HTML pages (`NAME.html`), drawn by the browser.
    html: std::collections::BTreeSet<String>,
}

/// The file a template named `name` was read from.
fn file_name(html: &std::collections::BTreeSet<String>, name: &str) -> String {
    if html.contains(name) {
        format!("{name}.html")
    } else {
        format!("{name}.svg")
    }
}

impl Templates {
    /// Reads and compiles every `*.svg` and `*.html` file in `dir` with the generic
    /// helpers and `toolkit`'s.
    pub fn load(dir: &Path, toolkit: &Toolkit) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_fuel(Some(TEMPLATE_FUEL));
        // `data.other.field` for a source this spot lacks, or `spot.x.y`,
        // is undefined rather than an error: a template can serve spots
        // with different sources.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".svg") || name.ends_with(".xml") || name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // truncate, wordwrap, wordcount, pluralize, ... from minijinja-contrib.
        minijinja_contrib::add_to_environment(&mut env);
        env.add_filter("datetimeformat", datetimeformat);
        helpers::register(&mut env);
        fit::register(&mut env, toolkit.measure.clone());
        history::register(&mut env);
        chart::register(&mut env, toolkit.measure.clone());
        for plugin in toolkit.plugins {
            plugin(&mut env);
        }

        let read_err = |source| TemplateError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut versions = BTreeMap::new();
        let mut sources = Vec::new();
        let mut html = std::collections::BTreeSet::new();
        // No folder at all (a config of screenshot spots alone): the
        // shipped error picture, and nothing else.
        let entries = match std::fs::read_dir(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            read => read.map_err(read_err)?.collect(),
        };
        for entry in entries {
            let path = entry.map_err(read_err)?.path();
            let (Some(stem), Some(kind @ ("svg" | "html"))) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            if kind == "html" {
                if dir.join(format!("{stem}.svg")).is_file() {
                    return Err(TemplateError::Template {
                        name: format!("{stem}.html"),
                        detail: format!("{stem}.svg has the same name: keep one of the two"),
                    });
                }
                html.insert(stem.to_string());
            }
            let text = std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                path: path.clone(),
                source,
            })?;
            sources.push((stem.to_string(), text));
        }
        if !sources.iter().any(|(name, _)| name == ERROR_TEMPLATE) {
            sources.push((
                ERROR_TEMPLATE.to_string(),
                BUILTIN_ERROR_TEMPLATE.to_string(),
            ));
        }
        sources.retain(|(name, _)| name != BUILTIN_ERROR_NAME && name != NOTICE_NAME);
        sources.push((
            BUILTIN_ERROR_NAME.to_string(),
            BUILTIN_ERROR_TEMPLATE.to_string(),
        ));
        sources.push((NOTICE_NAME.to_string(), NOTICE_TEMPLATE.to_string()));
        let mut layers = BTreeMap::new();
        for (name, text) in sources {
            let file = file_name(&html, &name);
            let declared = layers::declared(&text).map_err(|e| TemplateError::Template {
                name: file.clone(),
                detail: e.to_string(),
            })?;
            layers.insert(name.clone(), declared);
            versions.insert(
                name.clone(),
                blake3::hash(text.as_bytes()).to_hex()[..16].to_string(),
            );
            env.add_template_owned(file, text)
                .map_err(|e| template_error(&name, &e))?;
        }
        Ok(Self {
            env,
            versions,
            layers,
            html,
        })
    }

    /// The layers template `name` declares, in order.
    pub fn layers(&self, name: &str) -> &[Layer] {
        self.layers.get(name).map_or(&[], Vec::as_slice)
    }

    /// A short hash of the template's source, or `None` if there is no such template.
    pub fn version(&self, name: &str) -> Option<&str> {
        self.versions.get(name).map(String::as_str)
    }

    /// A short hash of every template's source together: what a picture
    /// drawn by several templates (a mashup's) depends on.
    pub fn all_versions(&self) -> String {
        let joined: Vec<&str> = self.versions.values().map(String::as_str).collect();
        blake3::hash(joined.join(",").as_bytes()).to_hex()[..16].to_string()
    }

    /// The source text of template `name`, for pointing at its lines.
    pub fn source(&self, name: &str) -> Option<String> {
        let template = self.env.get_template(&file_name(&self.html, name)).ok()?;
        Some(template.source().to_string())
    }

    /// Whether template `name` is an HTML page, drawn by the browser.
    pub fn is_html(&self, name: &str) -> bool {
        self.html.contains(name)
    }

    /// Whether a template of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.versions.contains_key(name)
    }

    /// Fills template `name` with `context`.
    pub fn render(&self, name: &str, context: &Context) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(&file_name(&self.html, name))
            .map_err(|_| TemplateError::Missing(name.to_string()))?;
        template
            .render(view::context(context))
            .map_err(|e| template_error(name, &e))
    }

    /// Fills `error.svg` with `context`, or the shipped error template when
    /// the folder's own one fails, so a display always gets a picture.
    pub fn render_error(&self, context: &Context) -> Result<String, TemplateError> {
        self.render(ERROR_TEMPLATE, context).or_else(|e| {
            tracing::error!(error = %e, "error.svg fails; drawing the shipped error picture");
            self.render(BUILTIN_ERROR_NAME, context)
        })
    }

    /// Fills the shipped notice template: `spot.name` as the title and
    /// `reason` as the text, one line per line.
    pub fn render_notice(&self, context: &Context) -> Result<String, TemplateError> {
        self.render(NOTICE_NAME, context)
    }
}

/// `{{ now | datetimeformat("%H:%M") }}`: formats an RFC 3339 timestamp (or
/// Unix seconds) with a chrono/strftime pattern, in the time zone given as
/// the second argument, else the spot's `timezone` key, else UTC.
fn datetimeformat(
    state: &State,
    value: Value,
    format: Option<String>,
    tz: Option<String>,
) -> Result<String, minijinja::Error> {
    use minijinja::ErrorKind::InvalidOperation;
    let time: DateTime<Utc> = if let Some(s) = value.as_str() {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                minijinja::Error::new(
                    InvalidOperation,
                    format!("`{s}` is not an RFC 3339 time: {e}"),
                )
            })?
    } else if let Ok(secs) = i64::try_from(value.clone()) {
        DateTime::from_timestamp(secs, 0)
            .ok_or_else(|| minijinja::Error::new(InvalidOperation, "timestamp out of range"))?
    } else {
        return Err(minijinja::Error::new(
            InvalidOperation,
            format!("datetimeformat needs a time, got {value}"),
        ));
    };
    let zone = tz.or_else(|| {
        state
            .lookup("spot")
            .and_then(|s| s.get_attr("timezone").ok())
            .and_then(|v| v.as_str().map(str::to_string))
    });
    let format = format.unwrap_or_else(|| "%Y-%m-%d %H:%M".to_string());
    match zone {
        Some(name) => {
            let tz: chrono_tz::Tz = name.parse().map_err(|_| {
                minijinja::Error::new(InvalidOperation, format!("unknown time zone `{name}`"))
            })?;
            format_time(&time.with_timezone(&tz), &format)
        }
        None => format_time(&time, &format),
    }
}

fn format_time<Tz: chrono::TimeZone>(
    time: &DateTime<Tz>,
    format: &str,
) -> Result<String, minijinja::Error>
where
    Tz::Offset: std::fmt::Display,
{
    // chrono reports a bad pattern as a fmt::Error while writing.
    let mut out = String::new();
    std::fmt::Write::write_fmt(&mut out, format_args!("{}", time.format(format))).map_err(
        |_| {
            minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("bad time format `{format}`"),
            )
        },
    )?;
    Ok(out)
}

/// Fills `template` with every helper, at `now`, for a spot in
/// California: what the helpers' tests check against.
#[cfg(test)]
pub(crate) fn render_for_test(template: &str, now: &str) -> String {
    let mut env = Environment::new();
    helpers::register(&mut env);
    for plugin in crate::PLUGINS {
        plugin(&mut env);
    }
    env.render_str(
        template,
        minijinja::context! {
            now => now,
            spot => minijinja::context! { timezone => "America/Los_Angeles" },
        },
    )
    .unwrap()
}

#[cfg(test)]
mod tests;
