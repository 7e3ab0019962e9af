//! Source URL templates: `{{ spot.<key> }}` and `{{ today }}` filled from
//! the config and the clock, so one source definition serves many spots.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::{Config, Seg, Spot};

/// Fills `{{ spot.<key> }}` and `{{ today }}` (the date in the spot's
/// `timezone`, else UTC, as `YYYY-MM-DD`) in a source URL. Values come from
/// the config only.
pub fn expand_url(url: &str, spot: &Spot, now: DateTime<Utc>) -> Result<String, minijinja::Error> {
    if !url.contains("{{") && !url.contains("{%") {
        return Ok(url.to_string());
    }
    let mut map = BTreeMap::new();
    for (k, v) in &spot.extra {
        if let Ok(v) = serde_json::to_value(v) {
            map.insert(k.clone(), v);
        }
    }
    map.insert("name".to_string(), Value::from(spot.name.clone()));
    map.insert("slug".to_string(), Value::from(spot.slug()));
    let today = match spot.timezone {
        Some(tz) => {
            map.insert("timezone".to_string(), Value::from(tz.name()));
            now.with_timezone(&tz).format("%Y-%m-%d").to_string()
        }
        None => now.format("%Y-%m-%d").to_string(),
    };
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.render_str(url, minijinja::context! { spot => map, today => today })
}

/// The config check for source URLs: every URL template expands for its
/// spot, and the result is a URL inkspot can fetch.
pub fn check_urls(config: &Config) -> Vec<(Vec<Seg>, String)> {
    let mut out = Vec::new();
    for (i, spot) in config.spots.iter().enumerate() {
        for (j, source) in spot.sources.iter().enumerate() {
            if !source.url.contains("{{") && !source.url.contains("{%") {
                continue;
            }
            let expanded = expand_url(&source.url, spot, Utc::now())
                .map_err(|e| format!("cannot fill the URL template: {e}"))
                .and_then(|url| crate::config::check_url(&url));
            if let Err(message) = expanded {
                let path = vec![
                    Seg::Key("spots".into()),
                    Seg::Index(i),
                    Seg::Key("sources".into()),
                    Seg::Index(j),
                    Seg::Key("url".into()),
                ];
                out.push((path, message));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rstest::rstest;

    use super::*;

    const SPOT: &str = "[[spots]]\nname = \"A\"\ntemplate = \"surf\"\nlat = 37.594\ntimezone = \"America/Los_Angeles\"\n\n[[spots.sources]]\nid = \"r\"\n";
    const TAIL: &str = "format = \"json\"\n[spots.sources.fields]\nv = { pointer = \"/v\" }\n";

    fn load(url: &str) -> Result<Config, crate::config::ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("templates")).unwrap();
        std::fs::write(dir.path().join("templates/surf.svg"), "<svg/>").unwrap();
        let text = format!("{SPOT}url = \"{url}\"\n{TAIL}");
        Config::from_toml_with(&text, Path::new("config.toml"), dir.path(), &[check_urls])
    }

    #[test]
    fn source_urls_can_use_spot_keys_and_today() {
        let config = load("https://x.test/?lat={{ spot.lat }}&d={{ today }}").unwrap();
        let spot = &config.spots[0];
        let now = DateTime::parse_from_rfc3339("2026-11-23T03:00:00Z")
            .unwrap()
            .to_utc();
        let url = expand_url(&spot.sources[0].url, spot, now).unwrap();
        // 03:00 UTC is still the 22nd in California.
        assert_eq!(url, "https://x.test/?lat=37.594&d=2026-11-22");
    }

    #[rstest]
    #[case(
        "https://x.test/?lat={{ spot.nope }}",
        "line 9: `spots[0].sources[0].url`: cannot fill the URL template"
    )]
    #[case("{{ spot.name }}", "is not a URL")]
    #[case("ftp://x/{{ spot.name }}", "scheme `ftp` is not supported")]
    fn bad_url_templates_are_config_errors(#[case] url: &str, #[case] expected: &str) {
        let message = load(url).unwrap_err().to_string();
        assert!(
            message.contains(expected),
            "`{expected}` not in:\n{message}"
        );
    }
}
