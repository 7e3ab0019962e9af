//! `inkspot schedule`: the runs planned for the next hours, and why each
//! is there, worked out as the service's scheduler would from the config
//! and the renders and requested variants stored in the cache folder.

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::CliError;
use crate::config::Config;
use crate::engine::store_key;
use crate::pipeline::BuildError;
use crate::request::Catalog;
use crate::schedule::{Schedule, SpotPlan, demand, oldest_data};
use crate::store::{DiskBackend, DocumentStore, RenderStore};
use crate::template::{LiveTemplates, Templates};

/// Prints the plan for the `hours` after `now`.
pub async fn schedule(config: Config, now: DateTime<Utc>, hours: u64) -> Result<(), CliError> {
    print!("{}", plan(&config, now, hours).await?);
    Ok(())
}

/// One planned run.
struct Planned {
    at: DateTime<Utc>,
    spot: usize,
    why: String,
}

/// The plan as text: each spot's interval and variants, then every run in
/// time order.
pub async fn plan(config: &Config, now: DateTime<Utc>, hours: u64) -> Result<String, CliError> {
    let mut out = String::new();
    if !config.schedule.enabled {
        out.push_str("scheduled refreshes are off (`schedule.enabled = false`): spots are fetched when a request finds their render expired\n");
        return Ok(out);
    }
    let dir = config.templates_dir();
    let renderer = crate::render::Renderer::new(&dir, false);
    let templates =
        LiveTemplates::load(&dir, inkspot_core::toolkit(&renderer)).map_err(BuildError::from)?;
    let templates = templates.current();
    let catalog = Catalog::new(config);
    let schedule = Schedule::new(config, &catalog);
    let backend = DiskBackend::new(config.cache_dir());
    if let Ok(Some(doc)) = backend.get_document(demand::DOCUMENT).await {
        let _ = schedule
            .demand
            .restore(&doc, |slug| catalog.find(slug), now);
    }
    let end = now + chrono::Duration::hours(hours as i64);
    let mut runs = Vec::new();
    for (index, spot) in catalog.spots().iter().enumerate() {
        let plan = schedule.plan(index);
        describe_spot(&mut out, &spot.name, plan, &schedule, index, now);
        let data_at = stored_data_at(&backend, &catalog, &schedule, &templates, index, now).await;
        runs.extend(spot_runs(plan, index, data_at, now, end, schedule.eager()));
    }
    runs.sort_by_key(|r| (r.at, r.spot));
    let _ = writeln!(
        out,
        "\n{} runs from {} to {}; each may start up to {} earlier, at random:",
        runs.len(),
        now.format("%Y-%m-%d %H:%M UTC"),
        end.format("%Y-%m-%d %H:%M UTC"),
        humantime::format_duration(Duration::from_secs(config.schedule.jitter.as_secs())),
    );
    for run in &runs {
        let plan = schedule.plan(run.spot);
        let local = run.at.with_timezone(&plan.tz);
        let _ = writeln!(
            out,
            "  {}  {:<20}  {}",
            local.format("%Y-%m-%d %H:%M %Z"),
            catalog.spots()[run.spot].name,
            run.why
        );
    }
    Ok(out)
}

fn describe_spot(
    out: &mut String,
    name: &str,
    plan: &SpotPlan,
    schedule: &Schedule,
    index: usize,
    now: DateTime<Utc>,
) {
    let every = humantime::format_duration(plan.refresh);
    let phase = humantime::format_duration(Duration::from_secs(plan.offset.as_secs()));
    let _ = match plan.hours {
        Some(hours) => writeln!(
            out,
            "{name}: every {every} from {}, only within active_hours {hours} ({})",
            hours.start.format("%H:%M"),
            plan.tz
        ),
        None => writeln!(out, "{name}: every {every}, at its phase +{phase}"),
    };
    for variant in schedule.variants(index, now) {
        let _ = writeln!(
            out,
            "  draws {}: {}",
            variant.output.to_query(),
            variant.why
        );
    }
}

/// When the oldest stored data behind the spot's variants was fetched, as
/// the scheduler reads it at start-up.
async fn stored_data_at(
    backend: &DiskBackend,
    catalog: &Catalog,
    schedule: &Schedule,
    templates: &Templates,
    index: usize,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut stored = Vec::new();
    for variant in schedule.variants(index, now) {
        let key = store_key(&catalog.exact(index, variant.output), templates);
        let meta = backend.meta(&key).await.ok().flatten();
        stored.push(meta.map(|m| (m.data_at, m.partial)));
    }
    oldest_data(stored)
}

/// The runs of one spot between `now` and `end`, assuming each succeeds.
fn spot_runs(
    plan: &SpotPlan,
    spot: usize,
    data_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    end: DateTime<Utc>,
    eager: bool,
) -> Vec<Planned> {
    let mut runs = Vec::new();
    let mut at = plan.next_run(data_at, now, eager);
    let mut why = match data_at {
        None => "start-up: a variant has no render stored".to_string(),
        Some(_) if at == now => "start-up: the stored renders are due".to_string(),
        Some(d) => format!(
            "before the stored renders (data of {}) are due",
            d.format("%H:%M UTC")
        ),
    };
    while at <= end {
        let opened = plan.hours.is_some() && !plan.is_active(at - chrono::Duration::minutes(1));
        if opened {
            why = "active hours open".to_string();
        }
        runs.push(Planned { at, spot, why });
        let next = plan.next_run(Some(at), at, true);
        if next <= at {
            break;
        }
        at = next;
        why = format!("every {}", humantime::format_duration(plan.refresh));
    }
    runs
}
