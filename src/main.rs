//! The `inkspot` command: parses the command line and starts things.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use inkspot::{Config, Engine, cli};

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
        /// Device preset, e.g. trmnl, trmnl-bmp, kindle, esphome-bmp.
        #[arg(long)]
        device: Option<String>,
        /// Output option as KEY=VALUE, as in the query string (bits=1, rotate=90, format=bmp, ...); repeatable.
        #[arg(long = "option", short = 'o')]
        options: Vec<String>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Also write the filled SVG template here (for template work).
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Validate the config and compile every template.
    Check {
        /// Also fetch every source and print each field's value, or why it is missing.
        #[arg(long)]
        fetch: bool,
    },
    /// Exit 0 when the service on `server.listen` answers /healthz (for Docker).
    Healthcheck {
        /// URL to probe instead of the one derived from the config.
        #[arg(long)]
        url: Option<String>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(args.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let load = || Config::load(&args.config).map_err(|e| e.to_string());
    match args.command.unwrap_or(Command::Serve { listen: None }) {
        Command::Serve { listen } => cli::serve(start(load()?).await?, listen).await,
        Command::Render {
            spot,
            device,
            options,
            out,
            svg,
        } => {
            let engine = start(load()?).await?;
            cli::render(
                &engine,
                &spot,
                device.as_deref(),
                &options,
                &out,
                svg.as_deref(),
            )
            .await
        }
        Command::Check { fetch } => cli::check(load()?, fetch).await,
        Command::Healthcheck { url } => cli::healthcheck(&args.config, url.as_deref()).await,
    }
}

async fn start(config: Config) -> Result<std::sync::Arc<Engine>, String> {
    Engine::new(config).await.map_err(|e| e.to_string())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
