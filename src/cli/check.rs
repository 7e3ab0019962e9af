//! `inkspot check`: the config is valid once loaded; this compiles and
//! test-fills every template, flags spot keys that nothing reads, and
//! with `--fetch` asks every source.

use std::collections::HashMap;

use super::CliError;
use crate::config::{Config, Spot};
use crate::pipeline::{BuildError, Pipeline};
use crate::source::SpotData;
use crate::template::Context;

/// `inkspot check`: the config is valid if we got here; compiles and
/// test-fills every template (of `only` that spot, when given), and with
/// `fetch` prints every field's value and fills the templates with it.
pub async fn check(config: Config, fetch: bool, only: Option<&str>) -> Result<(), CliError> {
    for warning in &config.warnings {
        println!("warn {warning}");
    }
    let spots: Vec<&Spot> = match only {
        Some(name) => {
            let wanted = |s: &&Spot| s.name.eq_ignore_ascii_case(name) || s.slug() == name;
            let found: Vec<&Spot> = config.spots.iter().filter(wanted).collect();
            if found.is_empty() {
                let names: Vec<&str> = config.spots.iter().map(|s| s.name.as_str()).collect();
                println!("FAIL no spot `{name}`; spots: {}", names.join(", "));
                return Err(CliError::Check(1));
            }
            found
        }
        None => config.spots.iter().collect(),
    };
    // The failure memory is for the server: a check asks every source now.
    let mut fetch_config = config.fetch.clone();
    fetch_config.failure_ttl = std::time::Duration::ZERO;
    let fetcher =
        crate::source::Fetcher::new(&fetch_config, &config.base_dir).map_err(BuildError::from)?;
    let pipeline = Pipeline::with_fetcher(&config, fetcher)?;
    for warning in unused_spot_keys(&config) {
        println!("warn {warning}");
    }
    for warning in unknown_sources(&config, &pipeline.templates().current()) {
        println!("warn {warning}");
    }
    let mut failures = check_templates(&config, &pipeline, &spots, &HashMap::new()).await;
    failures += check_firmware(&config);
    println!(
        "config ok: {} spot(s), templates in {}",
        config.spots.len(),
        config.templates_dir().display()
    );
    if fetch {
        let (failed, data) = check_sources(&spots, &pipeline).await;
        failures += failed;
        println!("\nthe templates, filled with the data fetched:");
        failures += check_templates(&config, &pipeline, &spots, &data).await;
    }
    if failures > 0 {
        Err(CliError::Check(failures))
    } else {
        Ok(())
    }
}

/// Reads `trmnl.firmware_dir` as the service does at start, checking each
/// image's SHA-256; returns 1 when it would be refused.
fn check_firmware(config: &Config) -> usize {
    match crate::app::load_firmware(config) {
        Ok(None) => 0,
        Ok(Some(firmware)) => {
            for image in firmware.catalog().images() {
                let models = image.models.join(", ");
                println!(
                    "ok   firmware {} {} for {models}",
                    image.file, image.version
                );
            }
            0
        }
        Err(e) => {
            println!("FAIL {e}");
            1
        }
    }
}

/// Fills each spot's template and the error template, with the spot's
/// `data` when there is some (else none), which catches errors a compile
/// cannot see; returns how many failed.
async fn check_templates(
    config: &Config,
    pipeline: &Pipeline,
    spots: &[&Spot],
    data: &HashMap<String, SpotData>,
) -> usize {
    let browser = crate::browser::Browser::new(&config.browser);
    let templates = pipeline.templates().current();
    // The service's own parser and fonts: what parses here draws there.
    let renderer = crate::render::Renderer::new(&config.templates_dir(), false);
    let mut failures = 0;
    for spot in spots {
        let fetched = data.get(&spot.name);
        let now = fetched.map_or_else(chrono::Utc::now, |d| d.fetched_at);
        let context = Context::new(spot, spot.width, spot.height, fetched, now);
        let mut error_context = context.clone();
        error_context.reason = Some("example: every source failed".to_string());
        if let Some(shot) = &spot.screenshot {
            println!(
                "ok   screenshot {} for {} (taken by the browser when drawn)",
                shot.url, spot.name
            );
            continue;
        }
        if let Some(mashup) = &spot.mashup {
            let layout = mashup.layout.name();
            let parts = mashup.spots.join(", ");
            println!(
                "ok   mashup {} ({layout}: {parts}), drawn by their templates",
                spot.name
            );
            continue;
        }
        let mut filled: Vec<_> = spot
            .template
            .names()
            .into_iter()
            .map(|(_, name)| (name, templates.render(name, &context)))
            .collect();
        filled.push(("error", templates.render_error(&error_context)));
        for (template, result) in filled {
            let file = if templates.is_html(template) {
                format!("{template}.html")
            } else {
                format!("{template}.svg")
            };
            // Filled is not drawable: the output must also be SVG, or a
            // page the browser loads.
            let problem = match result {
                Ok(html) if templates.is_html(template) => {
                    load_page(&browser, config, spot, html).await
                }
                Ok(svg) => svg_problem(
                    &renderer,
                    &svg,
                    &templates.source(template).unwrap_or_default(),
                ),
                Err(e) => Some(e.to_string()),
            };
            match problem {
                None => println!("ok   template {file} for {}", spot.name),
                Some(why) if why.starts_with("no browser") => {
                    println!(
                        "warn template {file} for {}: filled, not loaded: {why}",
                        spot.name
                    );
                }
                Some(why) => {
                    failures += 1;
                    println!("FAIL template {file} for {}: {why}", spot.name);
                }
            }
        }
    }
    browser.shutdown().await;
    failures
}

/// Loads a filled HTML template in the browser, as a render would.
async fn load_page(
    browser: &crate::browser::Browser,
    config: &Config,
    spot: &Spot,
    html: String,
) -> Option<String> {
    use crate::shot::{Camera, Page, ShotRequest};
    let page = Page::Html {
        html,
        assets: config.templates_dir(),
    };
    let mut request = ShotRequest::new(page, spot.width, spot.height);
    request.hosts = spot.page_hosts.clone();
    browser.shoot(request).await.err().map(|e| e.to_string())
}

/// Fetches every source of `spots` and prints each field's value, or why
/// it is missing; returns how many failed, and each spot's data.
async fn check_sources(spots: &[&Spot], pipeline: &Pipeline) -> (usize, HashMap<String, SpotData>) {
    let mut failures = 0;
    let mut all = HashMap::new();
    let now = chrono::Utc::now();
    for spot in spots {
        println!("\n{}", spot.name);
        let mut data = SpotData::failed(spot, "not fetched", now);
        data.errors.clear();
        for source in &spot.sources {
            match crate::source::fetch_source(pipeline.fetcher(), spot, source, now).await {
                Err(reason) => {
                    failures += 1;
                    let url = crate::source::expand_url(&source.url, spot, now)
                        .map(|u| crate::source::redact(&u))
                        .unwrap_or_else(|_| source.url.clone());
                    println!("  {} FAILED: {reason} (GET {url})", source.id);
                    data.errors.push(crate::source::FieldError {
                        source: source.id.clone(),
                        field: None,
                        unreachable: reason.is_unreachable(),
                        reason: reason.to_string(),
                        url: None,
                    });
                }
                Ok((((values, errors), samples), bytes)) => {
                    data.samples.absorb(samples);
                    for (field, value) in &values {
                        match errors.iter().find(|e| e.field.as_deref() == Some(field)) {
                            Some(e) => {
                                failures += 1;
                                println!("  {}.{field} = none ({})", source.id, e.reason);
                            }
                            None => println!("  {}.{field} = {value}", source.id),
                        }
                    }
                    data.sources_ok += 1;
                    data.bytes += bytes;
                    data.values.insert(source.id.clone(), values);
                    data.errors.extend(errors);
                }
            }
        }
        data.recall_own(now);
        all.insert(spot.name.clone(), data);
    }
    (failures, all)
}

/// Spot keys handed to templates that no template or source URL reads:
/// most likely misspelt (`tide_staton`), so the value the user meant to
/// set is silently missing.
fn unused_spot_keys(config: &Config) -> Vec<String> {
    let mut readers = String::new();
    if let Ok(entries) = std::fs::read_dir(config.templates_dir()) {
        for path in entries.flatten().map(|e| e.path()) {
            if path.extension().is_some_and(|x| x == "svg") {
                readers.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    for spot in &config.spots {
        for source in &spot.sources {
            readers.push_str(&source.url);
        }
    }
    let mut out = Vec::new();
    for spot in &config.spots {
        for key in spot.extra.keys().filter(|k| !reads(&readers, k)) {
            out.push(format!(
                "spot `{}`: no template or source URL reads `spot.{key}`; is `{key}` misspelt?",
                spot.name
            ));
        }
    }
    out
}

/// `data.<id>` names a spot's templates read that none of its sources
/// has: most likely misspelt (`data.wether.temp`), and drawn as "–"
/// without a word otherwise.
pub fn unknown_sources(config: &Config, templates: &crate::template::Templates) -> Vec<String> {
    let Ok(read) = regex::Regex::new(r"\bdata\.([A-Za-z_][A-Za-z0-9_]*)") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for spot in &config.spots {
        let ids: Vec<&str> = spot.sources.iter().map(|s| s.id.as_str()).collect();
        for (_, template) in spot.template.names() {
            let text = templates.source(template).unwrap_or_default();
            let mut named: Vec<&str> = read
                .captures_iter(&text)
                .filter_map(|c| c.get(1).map(|m| m.as_str()))
                .filter(|id| !ids.contains(id))
                .collect();
            named.sort_unstable();
            named.dedup();
            for id in named {
                let near = ids
                    .iter()
                    .find(|known| strsim::damerau_levenshtein(id, known) <= 2)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                out.push(format!(
                    "template {template}.svg reads `data.{id}`, but spot `{}` has no source `{id}` (its sources: {}){near}",
                    spot.name,
                    ids.join(", ")
                ));
            }
        }
    }
    out
}

/// Whether `text` reads `spot.<key>` (or `spot["key"]`).
fn reads(text: &str, key: &str) -> bool {
    let dotted = format!("spot.{key}");
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(&dotted).any(|(at, m)| {
        let before = text[..at].chars().next_back();
        let after = text[at + m.len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    }) || text.contains(&format!("spot[\"{key}\"]"))
        || text.contains(&format!("spot['{key}']"))
}

/// Why a filled template is not SVG a renderer can draw, pointing to the
/// template line that wrote the offending output where it can be found.
fn svg_problem(renderer: &crate::render::Renderer, svg: &str, template: &str) -> Option<String> {
    let error = renderer.parse(svg).err()?;
    let message = error.to_string();
    let at = message
        .rsplit(" at ")
        .next()
        .and_then(|pos| pos.split(':').next())
        .and_then(|line| line.trim().parse::<usize>().ok());
    let hint = at
        .and_then(|n| svg.lines().nth(n.saturating_sub(1)))
        .and_then(|filled| template_line_of(filled, template))
        .map(|n| format!(" (written by line {n} of the template)"))
        .unwrap_or_default();
    Some(format!("{message}{hint}"))
}

/// The template line whose longest literal text (outside `{{ }}` and
/// `{% %}`) appears in `filled`: the line that most likely wrote it.
fn template_line_of(filled: &str, template: &str) -> Option<usize> {
    let tags = regex::Regex::new(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}").ok()?;
    template
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let literal = tags
                .split(line)
                .map(str::trim)
                .max_by_key(|piece| piece.len())?
                .to_string();
            (literal.len() >= 6 && filled.contains(&literal)).then_some((literal.len(), i + 1))
        })
        .max()
        .map(|(_, line)| line)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    #[rstest]
    #[case("{{ spot.buoy }}", "buoy", true)]
    #[case("{{ spot.wind_buoy }}", "buoy", false)]
    #[case("{{ spot.buoy_id }}", "buoy", false)]
    #[case("{{ spot['buoy'] }}", "buoy", true)]
    #[case("x={{spot.lat}}&y", "lat", true)]
    fn finds_what_templates_read(#[case] text: &str, #[case] key: &str, #[case] found: bool) {
        assert_eq!(super::reads(text, key), found);
    }
}
