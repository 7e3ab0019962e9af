//! The `inkspot` command: parses the command line and starts things.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use inkspot::cli::{self, CliError, RenderArgs};

/// glibc's malloc keeps freed render buffers resident in per-thread arenas;
/// jemalloc gives them back to the system (figures in docs/performance.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, built into the binary rather than read from the
/// environment: freed pages go back to the system at once. A render frees a
/// few large buffers, so this costs a few `madvise` calls per render and
/// nothing on a cache hit; with jemalloc's default decay the pages of a
/// burst of renders stayed resident (bench/memory.sh).
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8; 57] = b"background_thread:true,dirty_decay_ms:0,muzzy_decay_ms:0\0";

/// Renders images for low-power displays from SVG templates and website data.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Config file.
    #[arg(long, short, global = true, env = "INKSPOT_CONFIG", default_value = inkspot::config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Log format; the filter comes from RUST_LOG (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Run as if it were this time (RFC 3339), with the clock standing
    /// still: for demos and tests that must draw the same picture.
    #[arg(long, global = true, value_parser = parse_time)]
    now: Option<DateTime<Utc>>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (the default).
    Serve {
        /// Address to listen on, overriding `server.listen`.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Fetch, render and write one image without a server.
    Render {
        /// Spot name or slug.
        #[arg(long)]
        spot: String,
        /// Output preset, e.g. trmnl, trmnl-bmp, kindle, esphome-bmp.
        #[arg(long)]
        device: Option<String>,
        /// Output option as KEY=VALUE, as in the query string (bits=1, rotate=90, format=bmp, ...); repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        options: Vec<String>,
        /// The earlier name of --set; accepted with a warning.
        #[arg(long = "option", hide = true)]
        legacy_options: Vec<String>,
        /// Output file, or `-` for standard output.
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// Also write the filled SVG template here (for template work).
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Also write the filled HTML page here (an HTML template's).
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Validate the config and compile every template.
    Check {
        /// Also fetch every source, print each field's value or why it is
        /// missing, and fill each template with the data fetched.
        #[arg(long)]
        fetch: bool,
        /// Only this spot (name or slug).
        #[arg(long)]
        spot: Option<String>,
    },
    /// Print the scheduled runs of the next hours, and why each is there:
    /// a prerender preset, a requested variant, active hours.
    Schedule {
        /// How many hours ahead to plan.
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
    /// Print a running service's status: storage, renders, each spot's
    /// sources and each device's last call.
    Status {
        /// The status URL, instead of /status on the config's port.
        #[arg(long)]
        url: Option<String>,
        /// The admin token, when the service has one.
        #[arg(long, env = "INKSPOT_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Print a field's values kept by a running service: the last hours'
    /// observations and the latest forecast.
    History {
        /// Spot name or slug.
        #[arg(long)]
        spot: String,
        /// The field, as `source.field`, e.g. buoy.wvht.
        #[arg(long)]
        field: String,
        /// How many hours back.
        #[arg(long, default_value_t = 24.0)]
        hours: f64,
        /// Buckets of this length (10m, 1h, 1d) instead of every value.
        #[arg(long)]
        step: Option<String>,
        /// Print CSV, as /api/history writes it.
        #[arg(long)]
        csv: bool,
        /// The service's base URL, instead of the config's port.
        #[arg(long)]
        url: Option<String>,
    },
    /// Manage TRMNL devices on a running service (admin token needed).
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
    /// Exit 0 when the service on `server.listen` answers /healthz (for Docker).
    Healthcheck {
        /// URL to probe instead of the one derived from the config.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Subcommand)]
enum DevicesCommand {
    /// Let a device that is set up already fetch its key again from
    /// /api/setup, for `trmnl.pairing_window` (after a reset).
    Pair {
        /// The device's MAC address or friendly id.
        device: String,
        /// The service's base URL, instead of the config's port.
        #[arg(long)]
        url: Option<String>,
        /// The admin token.
        #[arg(long, env = "INKSPOT_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Put a device to sleep until a date (the start of that day in its
    /// time zone) or time: away mode, shown on its panel.
    Pause {
        /// The device's MAC address or friendly id.
        device: String,
        /// `2026-12-24`, or an RFC 3339 time.
        #[arg(long)]
        until: String,
        /// The service's base URL, instead of the config's port.
        #[arg(long)]
        url: Option<String>,
        /// The admin token.
        #[arg(long, env = "INKSPOT_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// End a device's pause; it hears so at its next wake.
    Resume {
        /// The device's MAC address or friendly id.
        device: String,
        /// The service's base URL, instead of the config's port.
        #[arg(long)]
        url: Option<String>,
        /// The admin token.
        #[arg(long, env = "INKSPOT_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
    /// Forget a device's failed firmware updates, so that the version held
    /// from it after `trmnl.update_attempts` failures is offered again.
    ClearFirmware {
        /// The device's MAC address or friendly id.
        device: String,
        /// The service's base URL, instead of the config's port.
        #[arg(long)]
        url: Option<String>,
        /// The admin token.
        #[arg(long, env = "INKSPOT_ADMIN_TOKEN", hide_env_values = true)]
        token: Option<String>,
    },
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-11-22T17:30:00Z: {e}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let flush = init_logging(args.log_format, &args);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    flush.finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), CliError> {
    // `--now`, else the config's `[clock] now`, else the real time.
    let load = || {
        cli::load(&args.config).map(|config| {
            let clock = cli::clock(args.now.or(config.clock.now));
            (config, clock)
        })
    };
    let config_path = args.config.clone();
    match args.command.unwrap_or(Command::Serve { listen: None }) {
        Command::Serve { listen } => {
            let (config, clock) = load()?;
            cli::serve(config, clock, listen).await
        }
        Command::Render {
            spot,
            device,
            mut options,
            legacy_options,
            out,
            svg,
            html,
        } => {
            if !legacy_options.is_empty() {
                eprintln!(
                    "warning: --option is now --set KEY=VALUE; --option goes in the next release"
                );
                options.extend(legacy_options);
            }
            let render = RenderArgs {
                spot: &spot,
                preset: device.as_deref(),
                options: &options,
                out: &out,
                svg: svg.as_deref(),
                html: html.as_deref(),
            };
            let (config, clock) = load()?;
            cli::render(config, clock, render).await
        }
        Command::Check { fetch, spot } => {
            cli::check(cli::load(&args.config)?, fetch, spot.as_deref()).await
        }
        Command::Schedule { hours } => {
            let config = cli::load(&args.config)?;
            let now = args.now.or(config.clock.now).unwrap_or_else(Utc::now);
            cli::schedule(config, now, hours).await
        }
        Command::Status { url, token } => {
            cli::status(&args.config, url.as_deref(), token.as_deref()).await
        }
        Command::History {
            spot,
            field,
            hours,
            step,
            csv,
            url,
        } => {
            let args = cli::HistoryArgs {
                spot: &spot,
                field: &field,
                hours,
                step: step.as_deref(),
                csv,
                url: url.as_deref(),
            };
            cli::history(&config_path, args).await
        }
        Command::Devices { command } => {
            let (device, url, token, action) = match command {
                DevicesCommand::Pair { device, url, token } => {
                    (device, url, token, cli::DeviceAction::Pair)
                }
                DevicesCommand::ClearFirmware { device, url, token } => {
                    (device, url, token, cli::DeviceAction::ClearFirmware)
                }
                DevicesCommand::Pause {
                    device,
                    until,
                    url,
                    token,
                } => (device, url, token, cli::DeviceAction::Pause(until)),
                DevicesCommand::Resume { device, url, token } => {
                    (device, url, token, cli::DeviceAction::Resume)
                }
            };
            let (url, token) = (url.as_deref(), token.as_deref());
            cli::device_action(&args.config, &device, action, url, token).await
        }
        Command::Healthcheck { url } => cli::healthcheck(&args.config, url.as_deref()).await,
    }
}

/// What must be flushed at exit: the trace exporter, when there is one.
#[derive(Default)]
struct Flush {
    #[cfg(feature = "otlp")]
    exporter: Option<inkspot::otlp::Exporter>,
}

impl Flush {
    fn finish(self) {
        #[cfg(feature = "otlp")]
        if let Some(exporter) = self.exporter {
            exporter.shutdown();
        }
    }
}

/// Logs to standard error, and with the `otlp` feature, traces to the
/// collector in `[otlp]` of the config the service runs with.
fn init_logging(format: LogFormat, args: &Args) -> Flush {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let given = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The S3 client logs each retry at info; the store logs the outcome.
    // The DevTools client warns of every event newer Chromiums send that
    // its protocol tables lack; the browser's own faults are logged by
    // inkspot.
    for (target, quiet) in [
        ("object_store", "object_store=warn"),
        ("chromiumoxide", "chromiumoxide=error"),
    ] {
        if !given.contains(target)
            && let Ok(quiet) = quiet.parse()
        {
            filter = filter.add_directive(quiet);
        }
    }
    // Colour only for a person at a terminal: not in files, not in
    // `docker logs`, and never when NO_COLOR is set (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let fmt = match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let registry = tracing_subscriber::registry().with(fmt.with_filter(filter));
    #[cfg(feature = "otlp")]
    {
        let serving = matches!(args.command, None | Some(Command::Serve { .. }));
        let otlp = serving
            .then(|| cli::load(&args.config).ok())
            .flatten()
            .map(|c| c.otlp)
            .filter(|o| o.endpoint.is_some());
        if let Some(config) = otlp {
            let endpoint = config.endpoint.clone().unwrap_or_default();
            match inkspot::otlp::layer(&config, &endpoint) {
                Ok((layer, exporter)) => {
                    let level = tracing_subscriber::filter::LevelFilter::INFO;
                    registry.with(layer.with_filter(level)).init();
                    tracing::info!(%endpoint, "exporting traces over OTLP");
                    return Flush {
                        exporter: Some(exporter),
                    };
                }
                Err(e) => eprintln!("warning: {e}; no traces are exported"),
            }
        }
    }
    #[cfg(not(feature = "otlp"))]
    let _ = args;
    registry.init();
    Flush::default()
}
