//! What each subcommand does, kept out of `main.rs` so it can be tested and
//! reused.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::engine::Engine;
use crate::render::OutputOptions;
use crate::template::{Context, ERROR_TEMPLATE, Templates};

/// `inkspot serve`: listens until SIGINT or SIGTERM, then drains.
pub async fn serve(engine: Arc<Engine>, listen: Option<SocketAddr>) -> Result<(), String> {
    let addr = listen.unwrap_or(engine.config().server.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(address = %local, spots = engine.spots().len(), "inkspot listening");
    crate::http::serve(listener, engine, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
    tracing::info!("stopped");
    Ok(())
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
    tracing::info!("shutting down: finishing requests in flight");
}

/// `inkspot render`: one image to a file, written atomically.
pub async fn render(
    engine: &Engine,
    name: &str,
    device: Option<&str>,
    options: &[String],
    out: &Path,
    svg_out: Option<&Path>,
) -> Result<(), String> {
    let mut parsed = OutputOptions::default();
    for option in options {
        let (k, v) = option
            .split_once('=')
            .ok_or_else(|| format!("--option `{option}` must look like KEY=VALUE, e.g. bits=1"))?;
        parsed.set(k, v).map_err(|e| e.to_string())?;
    }
    let spot = engine.find(name).ok_or_else(|| {
        let names: Vec<&str> = engine.spots().iter().map(|s| s.name.as_str()).collect();
        format!("unknown spot `{name}`; configured: {}", names.join(", "))
    })?;
    let (rendered, data) = engine
        .render_once(spot, device, &parsed)
        .await
        .map_err(|e| e.to_string())?;
    for e in &data.errors {
        eprintln!(
            "warning: {}{}: {}",
            e.source,
            e.field
                .as_deref()
                .map(|f| format!(".{f}"))
                .unwrap_or_default(),
            e.reason
        );
    }
    write_atomic(out, &rendered.bytes)?;
    if let Some(svg_out) = svg_out {
        let output = engine
            .output(spot, device, &parsed)
            .map_err(|e| e.to_string())?;
        let svg = engine
            .svg(spot, &output, &data)
            .map_err(|e| e.to_string())?;
        write_atomic(svg_out, svg.as_bytes())?;
    }
    println!(
        "wrote {} ({}, {} bytes)",
        out.display(),
        rendered.meta.content_type,
        rendered.bytes.len()
    );
    Ok(())
}

/// Writes `bytes` to `out` through a temporary file in the same folder.
fn write_atomic(out: &Path, bytes: &[u8]) -> Result<(), String> {
    let folder = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(folder)
        .map_err(|e| format!("cannot write in {}: {e}", folder.display()))?;
    std::io::Write::write_all(&mut tmp, bytes)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    tmp.persist(out)
        .map_err(|e| format!("cannot write {}: {}", out.display(), e.error))?;
    Ok(())
}

/// `inkspot check`: the config is valid if we got here; compiles and test-fills
/// every template, and with `fetch` prints every field's value.
pub async fn check(config: Config, fetch: bool) -> Result<(), String> {
    let templates = Templates::load(&config.templates_dir()).map_err(|e| e.to_string())?;
    let mut failures = 0;
    for spot in &config.spots {
        // Filling with no data catches errors a compile cannot see.
        let context = Context::new(spot, spot.width, spot.height, None, chrono::Utc::now());
        let mut error_context = context.clone();
        error_context.reason = Some("example: every source failed".to_string());
        for (template, context) in [
            (spot.template.as_str(), &context),
            (ERROR_TEMPLATE, &error_context),
        ] {
            match templates.render(template, context) {
                Ok(_) => println!("ok   template {template}.svg for {}", spot.name),
                Err(e) => {
                    failures += 1;
                    println!("FAIL {e}");
                }
            }
        }
    }
    println!(
        "config ok: {} spot(s), templates in {}",
        config.spots.len(),
        config.templates_dir().display()
    );
    if fetch {
        let fetcher = crate::source::Fetcher::new(&config.fetch, &config.base_dir)
            .map_err(|e| e.to_string())?;
        for spot in &config.spots {
            println!("\n{}", spot.name);
            for source in &spot.sources {
                match crate::source::fetch_source(&fetcher, spot, source).await {
                    Err(reason) => {
                        failures += 1;
                        println!("  {} FAILED: {reason}", source.id);
                    }
                    Ok((values, errors)) => {
                        for (field, value) in values {
                            match errors.iter().find(|e| e.field.as_deref() == Some(&field)) {
                                Some(e) => {
                                    failures += 1;
                                    println!("  {}.{field} = none ({})", source.id, e.reason);
                                }
                                None => println!("  {}.{field} = {value}", source.id),
                            }
                        }
                    }
                }
            }
        }
    }
    if failures > 0 {
        Err(format!("{failures} problem(s) found"))
    } else {
        Ok(())
    }
}

/// `inkspot healthcheck`: GET /healthz on the configured port over loopback.
pub async fn healthcheck(config_path: &Path, url: Option<&str>) -> Result<(), String> {
    let url = match url {
        Some(u) => u.to_string(),
        None => {
            // A missing config still has a port: the default one.
            let port = if config_path.exists() || config_path != Path::new(DEFAULT_CONFIG_PATH) {
                Config::load(config_path)
                    .map_err(|e| e.to_string())?
                    .server
                    .listen
                    .port()
            } else {
                crate::config::ServerConfig::default().listen.port()
            };
            format!("http://127.0.0.1:{port}/healthz")
        }
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let response = client
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}
