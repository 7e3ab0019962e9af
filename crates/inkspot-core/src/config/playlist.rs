//! A device's playlist item: a spot, or a spot with the preset it is drawn
//! as, how long it stays on the panel and the hours it is shown in.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::ActiveHours;

/// One item of a playlist: a spot by name or slug (`"Linda Mar"`), or a
/// table, `{ spot = "Linda Mar", preset = "trmnl-bwry", duration = "30m",
/// hours = "06:00-10:00" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaylistItem {
    /// The spot, by name or slug.
    pub spot: String,
    /// The preset it is drawn as. Default: the one the panel's model takes.
    pub preset: Option<String>,
    /// How long it stays on the panel before the next item. Default: one
    /// wake.
    #[serde(serialize_with = "humantime_opt")]
    pub duration: Option<Duration>,
    /// The local hours (in the device's `timezone`) it is shown in; outside
    /// them it is skipped. Default: all day.
    #[serde(serialize_with = "display_opt")]
    pub hours: Option<ActiveHours>,
}

impl PlaylistItem {
    /// An item that shows `spot` for one wake, all day.
    pub fn spot(spot: &str) -> Self {
        Self {
            spot: spot.to_string(),
            preset: None,
            duration: None,
            hours: None,
        }
    }
}

/// The table form, with its keys checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    spot: String,
    #[serde(default)]
    preset: Option<String>,
    #[serde(default, deserialize_with = "super::units::opt_duration")]
    duration: Option<Duration>,
    #[serde(default, deserialize_with = "super::schedule::active_hours")]
    hours: Option<ActiveHours>,
}

impl<'de> Deserialize<'de> for PlaylistItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> Visitor<'de> for Either {
            type Value = PlaylistItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a spot's name, or a table such as { spot = \"Linda Mar\", duration = \"30m\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PlaylistItem, E> {
                Ok(PlaylistItem::spot(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PlaylistItem, A::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(PlaylistItem {
                    spot: t.spot,
                    preset: t.preset,
                    duration: t.duration,
                    hours: t.hours,
                })
            }
        }
        d.deserialize_any(Either)
    }
}

fn humantime_opt<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(&humantime::format_duration(*d)),
        None => s.serialize_none(),
    }
}

fn display_opt<S: serde::Serializer>(h: &Option<ActiveHours>, s: S) -> Result<S::Ok, S::Error> {
    match h {
        Some(h) => s.collect_str(h),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        playlist: Vec<PlaylistItem>,
    }

    #[test]
    fn items_are_names_or_tables() {
        let doc: Doc = toml::from_str(
            r#"playlist = ["Linda Mar", { spot = "Pacifica", preset = "trmnl-bwry", duration = "30m", hours = "06:00-10:00" }]"#,
        )
        .unwrap();
        assert_eq!(doc.playlist[0], PlaylistItem::spot("Linda Mar"));
        let item = &doc.playlist[1];
        assert_eq!(item.spot, "Pacifica");
        assert_eq!(item.preset.as_deref(), Some("trmnl-bwry"));
        assert_eq!(item.duration, Some(Duration::from_secs(1800)));
        assert_eq!(item.hours.unwrap().to_string(), "06:00-10:00");
    }

    #[test]
    fn a_mistyped_key_is_named() {
        let err = toml::from_str::<Doc>(r#"playlist = [{ spot = "A", duraton = "1m" }]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("duraton"), "{err}");
    }
}
