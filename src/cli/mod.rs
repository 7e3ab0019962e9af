//! What each subcommand does, kept out of `main.rs` so it can be tested and
//! reused. Every failure is a [`CliError`], which `main` prints.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::App;
use crate::clock::SharedClock;
use crate::config::{Config, ConfigError, InvalidOption, OutputOptions};
use crate::engine::StartError;
use crate::pipeline::{BuildError, DrawError, Pipeline};
use crate::request::{Catalog, RequestError};

mod check;
mod devices;
mod history;
mod remote;
mod schedule;
mod status;
pub use check::check;
pub use devices::{DeviceAction, device_action};
pub use history::{HistoryArgs, history};
pub use remote::healthcheck;
use remote::{admin_token, endpoint, unreachable};
pub use schedule::{plan as schedule_plan, schedule};
pub use status::{render as status_table, status};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The config does not load.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The service cannot start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The pipeline cannot be built.
    #[error(transparent)]
    Pipeline(#[from] BuildError),
    /// The address cannot be listened on.
    #[error("cannot listen on {addr}: {source}{}", listen_hint(source))]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("server error: {0}")]
    Serve(#[source] std::io::Error),
    /// The spot or preset does not exist.
    #[error("{error}{hint}")]
    Request { error: RequestError, hint: String },
    /// A `--set` is not `KEY=VALUE`.
    #[error("--set `{0}` must look like KEY=VALUE, e.g. bits=1")]
    OptionSyntax(String),
    /// A `--set` value is out of range.
    #[error(transparent)]
    Option(#[from] InvalidOption),
    /// Every source of the spot failed.
    #[error("no data for {spot}: {reason}{hint}")]
    NoData {
        spot: String,
        reason: String,
        /// The offline demo, when no source's host could be reached.
        hint: &'static str,
    },
    /// The template could not be filled or drawn.
    #[error("cannot draw {spot}: {source}")]
    Draw { spot: String, source: DrawError },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `check` found problems, printed above.
    #[error("{0} problem(s) found")]
    Check(usize),
    /// The health probe failed.
    #[error("{url}: {reason}")]
    Health { url: String, reason: String },
}

/// For an address that is taken: another inkspot, most likely, and how to
/// choose another port.
fn listen_hint(source: &std::io::Error) -> &'static str {
    match source.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another program (another inkspot?) is using that port: stop it, or choose another port with --listen 127.0.0.1:8081 or `server.listen`"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: choose one above, with --listen or `server.listen`"
        }
        _ => "",
    }
}

/// Loads the config at `path` with every module's checks, and logs its
/// warnings (deprecated keys).
pub fn load(path: &Path) -> Result<Config, CliError> {
    let config = crate::load_config(path)?;
    for warning in &config.warnings {
        tracing::warn!("{}: {warning}", path.display());
    }
    Ok(config)
}

/// `inkspot serve`: listens until SIGINT or SIGTERM, then drains.
pub async fn serve(
    config: Config,
    clock: SharedClock,
    listen: Option<SocketAddr>,
) -> Result<(), CliError> {
    raise_open_file_limit();
    let app = App::with_clock(config, clock).await?;
    let engine = &app.engine;
    let templates = engine.pipeline().templates().current();
    for warning in check::unknown_sources(engine.config(), &templates) {
        tracing::warn!("{warning}");
    }
    let addr = listen.unwrap_or(engine.config().server.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Listen { addr, source })?;
    let local = listener.local_addr().map_err(CliError::Serve)?;
    let spots = engine.catalog().spots().len();
    // The next step, in one line: the URL of the first image.
    let host = match local.ip() {
        ip if ip.is_unspecified() => "localhost".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let first = engine.catalog().spots().first().map(|s| s.slug());
    let try_it = first
        .map(|slug| {
            format!(
                "; try: curl --fail-with-body -o {slug}.png 'http://{host}:{}/image?spot={slug}'",
                local.port()
            )
        })
        .unwrap_or_default();
    if let Some(addr) = engine.config().server.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| CliError::Listen { addr, source })?;
        let address = listener.local_addr().map_err(CliError::Serve)?;
        tracing::info!(%address, "metrics at /metrics here, not on the main port");
        let metrics_app = app.clone();
        app.supervisor
            .spawn("metrics-listener", move |stop| async move {
                let stopped = stop.cancelled_owned();
                let served = crate::http::serve_metrics(listener, metrics_app, stopped).await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "the metrics listener failed");
                }
            });
    }
    tracing::info!(address = %local, spots, "inkspot listening{try_it}");
    crate::http::serve(listener, app.clone(), shutdown_signal())
        .await
        .map_err(CliError::Serve)?;
    tracing::info!("stopped");
    Ok(())
}

/// Raises the soft limit on open files to the hard one, as Go's runtime
/// does: the soft default (1024 under systemd) is a leftover of select(2),
/// and `server.max_connections` is drawn from it. Unlimited is taken as
/// 65,536.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return;
    };
    let target = limit.maximum.unwrap_or(65_536);
    if current >= target {
        return;
    }
    limit.current = Some(target);
    match setrlimit(Resource::Nofile, limit) {
        Ok(()) => tracing::debug!(from = current, to = target, "raised the open-file limit"),
        Err(e) => tracing::debug!(error = %e, "cannot raise the open-file limit"),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight (Ctrl-C again to exit at once)");
    // A second Ctrl-C is someone who will not wait for the grace period.
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("second interrupt: exiting at once");
            std::process::exit(130);
        }
    });
}

/// What `inkspot render` draws, and where it goes.
pub struct RenderArgs<'a> {
    /// Spot name or slug.
    pub spot: &'a str,
    /// Preset name.
    pub preset: Option<&'a str>,
    /// `KEY=VALUE` output options.
    pub options: &'a [String],
    /// The image file, or `-` for standard output.
    pub out: &'a Path,
    /// Where to write the filled SVG too.
    pub svg: Option<&'a Path>,
    /// Where to write the filled HTML page too (an HTML template's).
    pub html: Option<&'a Path>,
}

/// `inkspot render`: one image to a file, written atomically, through the
/// same pipeline the service uses.
pub async fn render(
    config: Config,
    clock: SharedClock,
    args: RenderArgs<'_>,
) -> Result<(), CliError> {
    let mut parsed = OutputOptions::default();
    for option in args.options {
        let (k, v) = option
            .split_once('=')
            .ok_or_else(|| CliError::OptionSyntax(option.clone()))?;
        parsed.set(k, v)?;
    }
    let catalog = Catalog::new(&config);
    let request = catalog
        .resolve(args.spot, args.preset, &parsed)
        .map_err(|error| request_error(&catalog, error))?;
    let mut pipeline = Pipeline::new(&config)?;
    let browser = crate::browser::Browser::new(&config.browser);
    pipeline.photograph(std::sync::Arc::new(browser.clone()));
    let spot = request.spot.name.clone();
    let (data, drawn) = if request.spot.mashup.is_some() {
        let parts = catalog.parts_of(&request);
        crate::pipeline::render_mashup(&pipeline, &request, &parts, &*clock).await
    } else {
        pipeline.render(&request, &*clock).await
    };
    browser.shutdown().await;
    for e in &data.errors {
        let field = e
            .field
            .as_deref()
            .map(|f| format!(".{f}"))
            .unwrap_or_default();
        eprintln!("warning: {}{field}: {}", e.source, e.reason);
    }
    let Some(drawn) = drawn else {
        let reason = data.failure_summary();
        let offline = data
            .errors
            .iter()
            .all(|e| e.field.is_some() || e.unreachable);
        let hint = if offline {
            "\nno network? the offline demo runs without one: --config examples/offline.toml"
        } else {
            ""
        };
        return Err(CliError::NoData { spot, reason, hint });
    };
    let rendered = drawn.map_err(|source| CliError::Draw {
        spot: spot.clone(),
        source,
    })?;
    let to_stdout = args.out == Path::new("-");
    if to_stdout {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(&rendered.bytes)
            .and_then(|()| stdout.flush());
        written.map_err(|source| CliError::Write {
            path: args.out.to_path_buf(),
            source,
        })?;
    } else {
        write_atomic(args.out, &rendered.bytes)?;
    }
    if request.spot.mashup.is_some() && args.svg.or(args.html).is_some() {
        eprintln!(
            "warning: a mashup has no template of its own: render each of its spots with --svg"
        );
    } else if let Some(svg_out) = args.svg.or(args.html) {
        let svg = pipeline
            .fill(&request, &data)
            .map_err(|source| CliError::Draw { spot, source })?;
        write_atomic(svg_out, svg.as_bytes())?;
    }
    let summary = format!(
        "wrote {} ({}, {} bytes)",
        if to_stdout {
            "standard output".into()
        } else {
            args.out.display().to_string()
        },
        rendered.meta.content_type,
        rendered.bytes.len()
    );
    // Standard output carries the image itself when asked to.
    if to_stdout {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(())
}

fn request_error(catalog: &Catalog, error: RequestError) -> CliError {
    let hint = match error {
        RequestError::UnknownSpot(_) => {
            let names: Vec<&str> = catalog.spots().iter().map(|s| s.name.as_str()).collect();
            format!("; configured: {}", names.join(", "))
        }
        _ => String::new(),
    };
    CliError::Request { error, hint }
}

/// Writes `bytes` to `out` through a temporary file in the same folder.
fn write_atomic(out: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let err = |source| CliError::Write {
        path: out.to_path_buf(),
        source,
    };
    let folder = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Created with 0666 less the umask, as any tool's output: a web server
    // must be able to read the image it serves to a Kindle.
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(folder).map_err(err)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(err)?;
    tmp.persist(out).map_err(|e| err(e.error))?;
    Ok(())
}

/// A clock for the command line: frozen at `now` when given, else the
/// system's.
pub fn clock(now: Option<chrono::DateTime<chrono::Utc>>) -> SharedClock {
    match now {
        Some(t) => Arc::new(crate::clock::ManualClock::new(t)),
        None => Arc::new(crate::clock::SystemClock),
    }
}
