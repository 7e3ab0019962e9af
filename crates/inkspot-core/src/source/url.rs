//! Source URL templates: `{{ spot.<key> }}`, `{{ today }}` and `{{ now }}`
//! filled from the config and the clock, with a `date` filter for the
//! date forms services want, so one source definition serves many spots.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::{Config, Seg, Spot};

/// Fills `{{ spot.<key> }}`, `{{ today }}` (the date in the spot's
/// `timezone`, else UTC, as `YYYY-MM-DD`) and `{{ now }}` (the local time,
/// RFC 3339) in a source URL. `{{ today | date("%Y%m%d") }}` formats either
/// with strftime codes. Values come from the config and the clock only.
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
    let local = match spot.timezone {
        Some(tz) => {
            map.insert("timezone".to_string(), Value::from(tz.name()));
            now.with_timezone(&tz).fixed_offset()
        }
        None => now.fixed_offset(),
    };
    let today = local.format("%Y-%m-%d").to_string();
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_filter("date", date);
    env.render_str(
        url,
        minijinja::context! { spot => map, today => today, now => local.to_rfc3339() },
    )
}

/// `{{ today | date("%Y%m%d") }}`: a date (`YYYY-MM-DD`) or time (RFC
/// 3339) in the form `format` gives with strftime codes.
fn date(value: String, format: String) -> Result<String, minijinja::Error> {
    use chrono::format::{Item, StrftimeItems};
    let bad = |msg: String| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg);
    let items: Vec<Item> = StrftimeItems::new(&format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return Err(bad(format!(
            "`{format}` is not a strftime format; write it like \"%Y%m%d\""
        )));
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(&value) {
        return Ok(time.format_with_items(items.into_iter()).to_string());
    }
    let day = chrono::NaiveDate::parse_from_str(&value, "%Y-%m-%d")
        .map_err(|_| bad(format!("`date` needs `today` or `now`, got \"{value}\"")))?;
    let has_time = items.iter().any(|i| {
        matches!(i, Item::Numeric(n, _) if matches!(n,
            chrono::format::Numeric::Hour | chrono::format::Numeric::Minute
            | chrono::format::Numeric::Second | chrono::format::Numeric::Timestamp))
    });
    if has_time {
        return Err(bad(format!(
            "`{format}` asks for a time of day; use it on `now`, not `today`"
        )));
    }
    Ok(day.format_with_items(items.into_iter()).to_string())
}

/// `url` fit for a log line or a status page: the password of its user
/// and the values of query parameters that name a key, token, secret,
/// signature or password are replaced by `REDACTED`.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("REDACTED"));
    }
    let secret = |name: &str| {
        let name = name.to_ascii_lowercase();
        [
            "key",
            "token",
            "secret",
            "sig",
            "password",
            "passwd",
            "auth",
            "appid",
            "credential",
        ]
        .iter()
        .any(|s| name.contains(s))
    };
    if parsed.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "REDACTED".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
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
    #[rstest::rstest]
    #[case(
        "https://api.example.com/v1?lat=1&appid=abc123&units=si",
        "https://api.example.com/v1?lat=1&appid=REDACTED&units=si"
    )]
    #[case(
        "https://user:pw@example.com/x?token=t",
        "https://user:REDACTED@example.com/x?token=REDACTED"
    )]
    #[case(
        "https://www.ndbc.noaa.gov/data/realtime2/46012.txt",
        "https://www.ndbc.noaa.gov/data/realtime2/46012.txt"
    )]
    fn urls_lose_their_secrets_in_logs(#[case] url: &str, #[case] shown: &str) {
        assert_eq!(super::redact(url), shown);
    }

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
    #[case("{{ today | date('%Y%m%d') }}", "20261122")]
    #[case("{{ today | date('%m/%d/%Y') }}", "11/22/2026")]
    #[case("{{ now | date('%Y%m%d %H:%M') }}", "20261122 19:00")]
    #[case("{{ today }}", "2026-11-22")]
    fn dates_in_the_forms_services_want(#[case] template: &str, #[case] expected: &str) {
        let config = load("https://x.test/").unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-23T03:00:00Z")
            .unwrap()
            .to_utc();
        let url = format!("https://x.test/?d={template}");
        let filled = expand_url(&url, &config.spots[0], now).unwrap();
        assert_eq!(filled, format!("https://x.test/?d={expected}"));
    }

    #[rstest]
    #[case("{{ today | date('%Q') }}", "is not a strftime format")]
    #[case("{{ today | date('%H') }}", "use it on `now`")]
    #[case("{{ spot.name | date('%Y') }}", "needs `today` or `now`")]
    fn bad_date_formats_say_what_is_wrong(#[case] template: &str, #[case] expected: &str) {
        let config = load("https://x.test/").unwrap();
        let url = format!("https://x.test/?d={template}");
        let message = expand_url(&url, &config.spots[0], Utc::now())
            .unwrap_err()
            .to_string();
        assert!(message.contains(expected), "`{expected}` not in {message}");
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
