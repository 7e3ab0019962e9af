use std::path::Path;

use rstest::rstest;

use std::time::Duration;

use bytesize::ByteSize;

use super::*;

const SPOT: &str = r#"
[[spots]]
name = "Linda Mar"
template = "surf"
"#;

/// Parses `text` with a templates folder holding `surf.svg`.
fn load(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/surf.svg"), "<svg/>").unwrap();
    Config::from_toml(text, Path::new("config.toml"), dir.path())
}

fn error(text: &str) -> String {
    load(text)
        .expect_err("config should be rejected")
        .to_string()
}

#[test]
fn minimal_config_gets_every_default() {
    let config = load(SPOT).unwrap();
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(config.cache.max_age, Duration::from_secs(3600));
    assert_eq!(config.cache.dir, PathBuf::from("cache"));
    assert_eq!(config.fetch.timeout, Duration::from_secs(10));
    assert_eq!(config.fetch.max_bytes, ByteSize::mib(2));
    let spot = &config.spots[0];
    assert_eq!((spot.width, spot.height), (800, 480));
    assert_eq!(spot.slug(), "linda-mar");
}

#[test]
fn the_documented_schema_parses() {
    let text = r##"
[server]
listen = "0.0.0.0:8080"
[cache]
max_age = "1h"
dir = "cache"
[fetch]
timeout = "10s"
max_bytes = "2MiB"
[[spots]]
name = "Linda Mar"
template = "surf"
width = 800
height = 480
lat = 37.594
[[spots.sources]]
id = "report"
url = "https://example.com/linda-mar"
format = "html"
[spots.sources.fields]
wave_height = { css = "#waves .value", type = "number" }
headline    = { css = "h1" }
photo       = { css = "img.hero", attr = "src" }
"##;
    let config = load(text).unwrap();
    let source = &config.spots[0].sources[0];
    assert_eq!(source.fields["wave_height"].kind, FieldType::Number);
    assert_eq!(source.fields["photo"].attr.as_deref(), Some("src"));
    assert_eq!(config.spots[0].extra["lat"].as_float(), Some(37.594));
}

#[rstest]
// Parse errors: toml names the line and serde the key.
#[case("[cache]\nmaxage = \"1h\"\n", &["line 2", "unknown field `maxage`"])]
#[case("colour = 1\n", &["line 1", "unknown field `colour`"])]
#[case("[cache]\nmax_age = \"an hour\"\n", &["line 2", "max_age"])]
#[case("[fetch]\nmax_bytes = \"lots\"\n", &["line 2"])]
#[case("[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n[[spots.sources]]\nid = \"r\"\nurl = \"http://x\"\nformat = \"html\"\n[spots.sources.fields]\nv = { css = \"div[\" }\n", &["line 9", "invalid CSS selector `div[`"])]
#[case("[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n[[spots.sources]]\nid = \"r\"\nurl = \"http://x\"\nformat = \"text\"\n[spots.sources.fields]\nv = { regex = \"(\" }\n", &["line 9", "invalid regex"])]
#[case("[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n[[spots.sources]]\nid = \"r\"\nurl = \"http://x\"\nformat = \"xml\"\n", &["line 7", "unknown variant `xml`"])]
fn parse_errors_name_key_and_line(#[case] body: &str, #[case] expected: &[&str]) {
    let text = if body.contains("[[spots]]") {
        body.to_string()
    } else {
        format!("{body}{SPOT}")
    };
    let message = error(&text);
    for e in expected {
        assert!(message.contains(e), "`{e}` not in:\n{message}");
    }
}

#[rstest]
#[case::css_on_json(
    "format = \"json\"\n[spots.sources.fields]\nv = { css = \"h1\" }",
    "line 10: `spots[0].sources[0].fields.v.css`"
)]
#[case::pointer_missing(
    "format = \"json\"\n[spots.sources.fields]\nv = { regex = \"x\" }",
    "needs `pointer"
)]
#[case::bad_pointer(
    "format = \"json\"\n[spots.sources.fields]\nv = { pointer = \"a/b\" }",
    "must be empty or start with `/`"
)]
#[case::pointer_on_html(
    "format = \"html\"\n[spots.sources.fields]\nv = { css = \"h1\", pointer = \"/a\" }",
    "`pointer` only works with format = \"json\""
)]
#[case::attr_on_text(
    "format = \"text\"\n[spots.sources.fields]\nv = { regex = \"x\", attr = \"src\" }",
    "`attr` only works with format = \"html\""
)]
#[case::no_fields("format = \"html\"", "at least one field")]
fn extractors_must_fit_the_format(#[case] tail: &str, #[case] expected: &str) {
    let text = format!(
        "[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n\n[[spots.sources]]\nid = \"r\"\nurl = \"https://example.com\"\n{tail}\n"
    );
    let message = error(&text);
    assert!(
        message.contains(expected),
        "`{expected}` not in:\n{message}"
    );
}

/// What a newcomer gets wrong first, each reported with what to write.
#[rstest]
#[case::misspelt_template(
    "[[spots]]\nname = \"A\"\ntemplat = \"surf\"\ntimezon = \"UTC\"\n",
    &["`spots[0].template`: `template` is required", "line 3: `spots[0].templat`: unknown key `templat` in a spot: did you mean `template`?", "line 4: `spots[0].timezon`"]
)]
#[case::missing_name("[[spots]]\ntemplate = \"surf\"\n", &["`name` is required"])]
#[case::bad_selector(
    "[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n[[spots.sources]]\nid = \"r\"\nurl = \"https://x.test\"\nformat = \"html\"\n[spots.sources.fields]\nv = { css = \"..bad\" }\n",
    &["line 9", "a `.` must be followed by a class name; write it like"]
)]
#[case::bad_size("[cache]\nmax_disk = \"lots\"\n", &["line 2", "write it like \"64MiB\""])]
#[case::bad_duration("[cache]\nmax_age = \"an hour\"\n", &["line 2", "write it like \"90s\""])]
#[case::bare_seconds("[fetch]\ntimeout = 10\n", &["line 2", "`10` has no unit", "like \"10s\""])]
#[case::section_typo(
    "[cache]\nmax_agee = \"1h\"\n",
    &["unknown field `max_agee`", "did you mean `max_age`?"]
)]
#[case::typo_and_a_bad_value(
    "[cache]\nmax_agee = \"1h\"\n[server]\nrender_queue = 0\n",
    &["unknown field `max_agee`", "line 4: `server.render_queue`: must be at least 1"]
)]
fn newcomers_mistakes_say_what_to_write(#[case] text: &str, #[case] expected: &[&str]) {
    let message = error(text);
    for e in expected {
        assert!(message.contains(e), "`{e}` not in:\n{message}");
    }
}

#[test]
fn a_config_away_from_its_templates_gets_one_hint() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{SPOT}[[spots]]\nname = \"B\"\ntemplate = \"surf\"\n");
    let message = Config::from_toml(&text, Path::new("config.toml"), dir.path())
        .unwrap_err()
        .to_string();
    assert!(message.contains("set `templates.dir`"), "{message}");
    assert!(
        !message.contains("not found"),
        "one hint, not one per spot: {message}"
    );
}

/// Screenshot spots need no templates: a config of those alone loads
/// without a templates folder.
#[test]
fn screenshot_spots_alone_need_no_templates_folder() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[spots]]\nname = \"Hall\"\nscreenshot = { url = \"https://example.com/\" }\n";
    let loaded = Config::from_toml(text, Path::new("config.toml"), dir.path());
    assert!(loaded.is_ok(), "{:?}", loaded.err().map(|e| e.to_string()));
}

#[rstest]
#[case::no_spots("", "no spots configured")]
#[case::template_missing(
    "[[spots]]\nname = \"A\"\ntemplate = \"nope\"\n",
    "line 3: `spots[0].template`: template `nope` not found"
)]
#[case::template_path(
    "[[spots]]\nname = \"A\"\ntemplate = \"../etc/x\"\n",
    "must be a plain name"
)]
#[case::duplicate_name(
    "[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n[[spots]]\nname = \"a\"\ntemplate = \"surf\"\n",
    "line 5: `spots[1].name`: spot name `a` is used twice"
)]
#[case::too_wide(
    "[[spots]]\nname = \"A\"\ntemplate = \"surf\"\nwidth = 5000\n",
    "line 4: `spots[0].width`: 5000 is out of range"
)]
#[case::typo(
    "[[spots]]\nname = \"A\"\ntemplate = \"surf\"\nwidht = 600\n",
    "line 4: `spots[0].widht`: unknown key `widht` in a spot: did you mean `width`?"
)]
#[case::bad_slug(
    "[[spots]]\nname = \"A\"\nslug = \"Bad Slug\"\ntemplate = \"surf\"\n",
    "line 3: `spots[0].slug`"
)]
#[case::scheme(
    "[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n[[spots.sources]]\nid = \"r\"\nurl = \"ftp://x/y\"\nformat = \"text\"\n[spots.sources.fields]\nv = { regex = \"x\" }\n",
    "line 6: `spots[0].sources[0].url`: scheme `ftp` is not supported"
)]
#[case::dup_source(
    "[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n[[spots.sources]]\nid = \"r\"\nurl = \"file://a\"\nformat = \"text\"\n[spots.sources.fields]\nv = { regex = \"x\" }\n[[spots.sources]]\nid = \"r\"\nurl = \"file://b\"\nformat = \"text\"\n[spots.sources.fields]\nv = { regex = \"x\" }\n",
    "line 11: `spots[0].sources[1].id`: source id `r` is used twice"
)]
#[case::zero(
    "[cache]\nmax_age = \"0s\"\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n",
    "line 2: `cache.max_age`: must be longer than zero"
)]
#[case::queue(
    "[server]\nrender_queue = 0\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n",
    "line 2: `server.render_queue`: must be at least 1"
)]
#[case::per_host(
    "[fetch]\nper_host_concurrency = 0\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n",
    "line 2: `fetch.per_host_concurrency`: must be at least 1"
)]
#[case::max_disk(
    "[cache]\nmax_disk = \"10KiB\"\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n",
    "line 2: `cache.max_disk`: must be at least 1MiB"
)]
#[case::burst(
    "[server.rate_limit]\nper_minute = 10\nburst = 0\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n",
    "line 3: `server.rate_limit.burst`: must be at least 1"
)]
#[case::renders_per_client(
    "[server]\nrenders_per_client = 0\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n",
    "line 2: `server.renders_per_client`: must be at least 1"
)]
#[case::spot_pixels(
    "[[spots]]\nname = \"A\"\ntemplate = \"surf\"\nwidth = 4096\nheight = 4096\n",
    "line 4: `spots[0].width`: 4096×4096 is more than `server.max_pixels` (4194304)"
)]
#[case::preset_pixels(
    "[server]\nmax_pixels = 10000\n[presets.big]\nwidth = 200\nheight = 100\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\nwidth = 100\nheight = 100\n",
    "line 4: `presets.big.width`: 200×100 is more than `server.max_pixels` (10000)"
)]
fn validation_names_key_and_line(#[case] text: &str, #[case] expected: &str) {
    let message = error(text);
    assert!(
        message.contains(expected),
        "`{expected}` not in:\n{message}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "[[spots]]\nname = \"A\"\ntemplate = \"nope\"\nwidth = 1\n";
    match load(text).unwrap_err() {
        ConfigError::Invalid { problems, .. } => assert_eq!(problems.len(), 2, "{problems:?}"),
        other => panic!("expected Invalid, got {other}"),
    }
}

#[rstest]
#[case("Linda Mar", "linda-mar")]
#[case("  Ocean Beach (SF) ", "ocean-beach-sf")]
#[case("Pleasure Point #1", "pleasure-point-1")]
#[case("Ça va", "a-va")]
fn slugs(#[case] name: &str, #[case] slug: &str) {
    assert_eq!(slugify(name), slug);
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let config = load(SPOT).unwrap();
    assert_eq!(config.cache_dir(), config.base_dir.join("cache"));
    assert_eq!(config.resolve(Path::new("/abs")), PathBuf::from("/abs"));
}

#[test]
fn timezone_must_be_real() {
    let message =
        error("[[spots]]\nname = \"A\"\ntemplate = \"surf\"\ntimezone = \"Mars/Olympus\"\n");
    assert!(message.contains("line 4: `spots[0].timezone`"), "{message}");
}

#[test]
fn presets_add_to_the_builtin_ones() {
    let config = load(&format!(
        "[presets.small]\nwidth = 200\nbits = 1\n{SPOT}preset = \"small\"\n"
    ))
    .unwrap();
    assert_eq!(config.presets["small"].width, Some(200));
    assert!(config.presets.contains_key("trmnl"), "built-ins stay");
    assert_eq!(config.spots[0].preset.as_deref(), Some("small"));
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn the_old_names_still_load_with_a_warning_naming_the_new_key() {
    let text = format!("[devices.small]\nwidth = 200\n{SPOT}device = \"small\"\n");
    let config = load(&text).unwrap();
    assert_eq!(config.presets["small"].width, Some(200));
    assert!(config.devices.list().is_empty());
    assert_eq!(config.spots[0].preset.as_deref(), Some("small"));
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0]
            .starts_with("line 1: `devices.small`: `[devices.small]` is now `[presets.small]`"),
        "{warnings:?}"
    );
    assert!(
        warnings[1].starts_with(
            "line 7: `spots[0].device`: `device = \"small\"` in a spot is now `preset = \"small\"`"
        ),
        "{warnings:?}"
    );
}

#[rstest]
#[case::unknown_preset(
    "preset = \"nope\"",
    "line 5: `spots[0].preset`: unknown preset `nope`; known: esphome-bmp, kindle, spectra6, trmnl, trmnl-bmp, trmnl-bwry, trmnl-x, xteink-x3"
)]
#[case::both_names(
    "preset = \"trmnl\"\ndevice = \"kindle\"",
    "`spots[0].device`: `device` is the old name of `preset`"
)]
#[case::misspelled_timezone(
    "timezon = \"America/Los_Angeles\"",
    "unknown key `timezon` in a spot: did you mean `timezone`?"
)]
#[case::bad_preset_value("[presets.big]\nwidth = 99999", "`presets.big.width`: invalid `width`")]
#[case::refresh_too_often("refresh = \"30s\"", "line 5: `spots[0].refresh`: must be at least 1m")]
#[case::unknown_prerender(
    "prerender = [\"trmnl\", \"kindel\"]",
    "line 5: `spots[0].prerender[1]`: unknown preset `kindel`; known: esphome-bmp, kindle, spectra6, trmnl, trmnl-bmp, trmnl-bwry, trmnl-x, xteink-x3"
)]
#[case::bad_window(
    "active_hours = \"6am-9pm\"",
    "`6am` is not a time of day; write it like \"06:00-21:00\""
)]
#[case::no_workers(
    "[schedule]\nconcurrency = 0",
    "line 6: `schedule.concurrency`: must be at least 1"
)]
fn preset_and_spot_key_problems(#[case] tail: &str, #[case] expected: &str) {
    let message = error(&format!("{SPOT}{tail}\n"));
    assert!(
        message.contains(expected),
        "`{expected}` not in:\n{message}"
    );
}

#[test]
fn schedule_keys_are_typed_and_a_refresh_past_expiry_is_a_warning() {
    let text = format!(
        "[schedule]\nidle = \"2h\"\n{SPOT}refresh = \"2h\"\nactive_hours = \"22:00-02:00\"\nprerender = [\"kindle\"]\n"
    );
    let config = load(&text).unwrap();
    assert_eq!(config.schedule.idle, Duration::from_secs(7200));
    let spot = &config.spots[0];
    assert_eq!(spot.refresh, Some(Duration::from_secs(7200)));
    assert_eq!(spot.active_hours.unwrap().to_string(), "22:00-02:00");
    assert_eq!(spot.prerender, ["kindle"]);
    assert!(spot.extra.is_empty(), "{:?}", spot.extra);
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "line 7: `spots[0].refresh`: is longer than `cache.max_age` (1h): each render expires before the next refresh, and devices get the old image in between"
        ]
    );
}

#[test]
fn the_timezone_is_typed() {
    let config = load(&format!("{SPOT}timezone = \"America/Los_Angeles\"\n")).unwrap();
    assert_eq!(
        config.spots[0].timezone,
        Some(chrono_tz::America::Los_Angeles)
    );
    assert!(!config.spots[0].extra.contains_key("timezone"));
}

#[test]
fn devices_are_listed_with_their_macs_normalized() {
    let text = format!(
        "[[devices]]\nmac = \"aa:bb:cc:dd:ee:01\"\nname = \"Kitchen\"\nquiet_hours = \"22:00-06:00\"\ntimezone = \"Europe/Paris\"\nspecial_function = \"sleep\"\n{SPOT}"
    );
    let config = load(&text).unwrap();
    let devices = config.devices.list();
    assert_eq!(devices.len(), 1, "{:?}", config.devices);
    assert_eq!(devices[0].mac, "AA:BB:CC:DD:EE:01");
    assert_eq!(devices[0].timezone, Some(chrono_tz::Europe::Paris));
    assert_eq!(devices[0].special_function, SpecialFunction::Sleep);
    let message = error(&format!("[[devices]]\nmac = \"kitchen\"\n{SPOT}"));
    assert!(
        message.contains("line 2: `devices[0].mac`: `kitchen` is not a MAC address"),
        "{message}"
    );
}

#[test]
fn a_playlist_names_configured_spots() {
    let text = format!(
        "[[devices]]\nmac = \"AA:BB:CC:DD:EE:01\"\nplaylist = [\"linda-mar\", \"Mavericks\"]\n{SPOT}"
    );
    let message = error(&text);
    assert!(
        message.contains(
            "line 3: `devices[0].playlist[1]`: no spot named `Mavericks`; spots: Linda Mar"
        ),
        "{message}"
    );
    let ok = format!(
        "[[devices]]\nmac = \"AA:BB:CC:DD:EE:01\"\nplaylist = [\"Linda Mar\", \"linda-mar\"]\n{SPOT}"
    );
    assert!(load(&ok).is_ok());
}

#[test]
fn playlist_tables_are_checked_item_by_item() {
    let text = format!(
        "[[devices]]\nmac = \"AA:BB:CC:DD:EE:01\"\nplaylist = [\n  \"linda-mar\",\n  {{ spot = \"Linda Mar\", preset = \"trmnl-bwy\", duration = \"10m\" }},\n  {{ spot = \"Mavericks\", hours = \"06:00-09:00\" }},\n]\n[trmnl]\nsleep = \"2d\"\n{SPOT}"
    );
    let message = error(&text);
    for expected in [
        "line 5: `devices[0].playlist[1].preset`: unknown preset `trmnl-bwy`",
        "line 6: `devices[0].playlist[2].spot`: no spot named `Mavericks`",
        "`trmnl.sleep`: must be between 1s and 24h",
    ] {
        assert!(message.contains(expected), "{expected}\n{message}");
    }
}

#[test]
fn metrics_need_an_address_of_their_own() {
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:8080\"\nmetrics_listen = \"127.0.0.1:8080\"\n{SPOT}"
    );
    let message = error(&text);
    assert!(
        message.contains("line 3: `server.metrics_listen`: is the same address as `server.listen`"),
        "{message}"
    );
    let ok = format!("[server]\nmetrics_listen = \"127.0.0.1:9090\"\n{SPOT}");
    assert!(load(&ok).is_ok());
}

#[test]
fn otlp_settings_are_checked() {
    let text = format!("[otlp]\nendpoint = \"localhost:4318\"\nsample_ratio = 1.5\n{SPOT}");
    let message = error(&text);
    assert!(
        message.contains("line 2: `otlp.endpoint`: `localhost:4318` is not an http(s) URL"),
        "{message}"
    );
    assert!(
        message.contains("line 3: `otlp.sample_ratio`: must be from 0 to 1"),
        "{message}"
    );
    let ok = format!("[otlp]\nendpoint = \"http://localhost:4318/v1/traces\"\n{SPOT}");
    let config = load(&ok).unwrap();
    let warned = config
        .warnings
        .iter()
        .any(|w| w.to_string().contains("--features otlp"));
    assert_eq!(warned, !cfg!(feature = "otlp"), "{:?}", config.warnings);
}

/// A mashup names as many configured spots as its layout holds, none of
/// them a mashup, and has no template or sources of its own.
#[rstest]
#[case::too_few(
    "mashup = { layout = \"1Lx2R\", spots = [\"Linda Mar\"] }",
    "`spots[1].mashup.spots`: layout `1Lx2R` holds 3 spots; 1 are listed"
)]
#[case::unknown_spot(
    "mashup = { layout = \"1Lx1R\", spots = [\"Linda Mar\", \"Mavericks\"] }",
    "`spots[1].mashup.spots[1]`: no spot named `Mavericks`; spots: Linda Mar"
)]
#[case::nested(
    "mashup = { layout = \"1Lx1R\", spots = [\"Linda Mar\", \"Both\"] }",
    "`spots[1].mashup.spots[1]`: `Both` is a mashup itself"
)]
#[case::unknown_layout(
    "mashup = { layout = \"3x3\", spots = [] }",
    "unknown layout `3x3`; layouts: 1x1, 1Lx1R, 1Lx2R, 2Lx1R, 1Tx1B, 1Tx2B, 2Tx1B, 2x2"
)]
#[case::own_template(
    "template = \"surf\"\nmashup = { layout = \"1x1\", spots = [\"Linda Mar\"] }",
    "`spots[1].mashup`: a mashup is drawn by its spots' templates"
)]
#[case::wide_gutter(
    "mashup = { layout = \"1x1\", spots = [\"Linda Mar\"], gutter = 100 }",
    "`spots[1].mashup.gutter`: must be 0 to 64 pixels"
)]
fn mashups_are_checked_at_load(#[case] keys: &str, #[case] said: &str) {
    let text = format!("{SPOT}\n[[spots]]\nname = \"Both\"\n{keys}\n");
    let e = error(&text);
    assert!(e.contains(said), "{said:?} missing from: {e}");
}

#[test]
fn a_mashup_of_configured_spots_loads() {
    let text = format!(
        "{SPOT}\n[[spots]]\nname = \"Both\"\nmashup = {{ layout = \"1lx1r\", spots = [\"Linda Mar\", \"linda-mar\"] }}\n"
    );
    let config = load(&text).unwrap();
    let mashup = config.spots[1].mashup.as_ref().unwrap();
    assert_eq!((mashup.layout.name(), mashup.gutter), ("1Lx1R", 8));
}
