//! Durations and sizes in the config, read with messages that show the
//! right form: a user who writes `"1 hour"` or `"lots"` sees an example.

use std::time::Duration;

use bytesize::ByteSize;
use serde::de::{Deserializer, Error, Unexpected, Visitor};

/// A duration such as `"90s"`, `"15m"`, `"1h"` or `"7d"`.
pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

const DURATION_FORM: &str = "write it like \"90s\", \"15m\", \"1h\" or \"7d\"";

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a duration; {DURATION_FORM}")
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Duration, E> {
        humantime::parse_duration(text)
            .map_err(|e| E::custom(format!("`{text}` is not a duration ({e}); {DURATION_FORM}")))
    }

    // A bare number has no unit: say which form it takes, with the number.
    fn visit_u64<E: Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "`{v}` has no unit: write it as a string with one, like \"{v}s\" (seconds), \"{v}m\" or \"{v}h\""
        )))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<Duration, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::invalid_value(Unexpected::Signed(v), &self)),
        }
    }
}

/// An optional duration, as [`duration`] reads it.
pub fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Networks such as `["10.0.0.0/8", "192.168.1.10"]`: a single address
/// stands for itself.
pub fn networks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    let texts: Vec<String> = serde::Deserialize::deserialize(d)?;
    texts
        .iter()
        .map(|t| parse_network(t).map_err(D::Error::custom))
        .collect()
}

/// One network, or one address as a network of itself.
pub fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("`{text}` is not an address or a network; write it like \"10.0.0.0/8\" or \"192.168.1.10\"")
        })
}

/// A size such as `"64MiB"`, `"2GB"`, or a number of bytes.
pub fn size<'de, D: Deserializer<'de>>(d: D) -> Result<ByteSize, D::Error> {
    d.deserialize_any(SizeVisitor)
}

struct SizeVisitor;

const SIZE_FORM: &str = "write it like \"64MiB\", \"2GB\" or a number of bytes";

impl Visitor<'_> for SizeVisitor {
    type Value = ByteSize;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a size; {SIZE_FORM}")
    }

    fn visit_u64<E: Error>(self, v: u64) -> Result<ByteSize, E> {
        Ok(ByteSize::b(v))
    }

    fn visit_i64<E: Error>(self, v: i64) -> Result<ByteSize, E> {
        u64::try_from(v)
            .map(ByteSize::b)
            .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<ByteSize, E> {
        v.parse()
            .map_err(|_| E::custom(format!("`{v}` is not a size; {SIZE_FORM}")))
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Both {
        #[serde(deserialize_with = "super::duration")]
        age: std::time::Duration,
        #[serde(deserialize_with = "super::size")]
        size: bytesize::ByteSize,
    }

    #[rstest]
    #[case("age = \"1h\"\nsize = \"64MiB\"", "3600 67108864")]
    #[case("age = \"90s\"\nsize = 2048", "90 2048")]
    fn right_forms_read(#[case] text: &str, #[case] expected: &str) {
        let both: Both = toml::from_str(text).unwrap();
        assert_eq!(
            format!("{} {}", both.age.as_secs(), both.size.as_u64()),
            expected
        );
    }

    #[rstest]
    #[case(
        "age = \"an hour\"\nsize = 1",
        "write it like \"90s\", \"15m\", \"1h\" or \"7d\""
    )]
    #[case(
        "age = \"1h\"\nsize = \"lots\"",
        "`lots` is not a size; write it like \"64MiB\""
    )]
    #[case("age = \"1h\"\nsize = -5", "write it like \"64MiB\"")]
    fn wrong_forms_show_the_right_one(#[case] text: &str, #[case] expected: &str) {
        let message = toml::from_str::<Both>(text).unwrap_err().to_string();
        assert!(message.contains(expected), "{message}");
    }
}
