//! Parsing and bounding the query string of `/image`.

use super::error::ApiError;
use crate::config::OPTION_PARAMS;
use crate::config::OutputOptions;
use crate::text::ellipsize;

/// The longest value any parameter may have.
const MAX_VALUE: usize = 200;
/// The most parameters a query may have.
const MAX_PARAMS: usize = 16;

/// A validated `/image` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageQuery {
    /// The spot's name or slug, as sent.
    pub spot: String,
    /// A device preset name.
    pub device: Option<String>,
    /// Explicit output options; they override the preset.
    pub options: OutputOptions,
}

fn allowed() -> String {
    let mut all = vec!["spot", "device"];
    all.extend(OPTION_PARAMS);
    all.join(", ")
}

impl ImageQuery {
    /// Parses `raw` (the part after `?`), rejecting unknown, repeated,
    /// over-long and out-of-range parameters with a message naming them.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut spot = None;
        let mut device = None;
        let mut options = OutputOptions::default();
        let mut seen: Vec<String> = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let known = k == "spot" || k == "device" || OPTION_PARAMS.contains(&k.as_ref());
            if !known {
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!(
                        "unknown parameter `{}`; allowed: {}",
                        ellipsize(&k, 40),
                        allowed()
                    ),
                ));
            }
            if v.len() > MAX_VALUE {
                return Err(ApiError::bad_request(
                    "parameter_too_long",
                    format!("parameter `{k}` is longer than {MAX_VALUE} bytes"),
                ));
            }
            if seen.iter().any(|s| *s == k) || seen.len() >= MAX_PARAMS {
                return Err(ApiError::bad_request(
                    "repeated_parameter",
                    format!("parameter `{k}` is given more than once"),
                ));
            }
            seen.push(k.to_string());
            match k.as_ref() {
                "spot" => spot = Some(v.trim().to_string()),
                "device" => device = Some(v.trim().to_string()),
                param => options
                    .set(param, v.trim())
                    .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?,
            }
        }
        match spot {
            Some(s) if !s.is_empty() => Ok(Self {
                spot: s,
                device: device.filter(|d| !d.is_empty()),
                options,
            }),
            _ => Err(ApiError::bad_request(
                "missing_spot",
                "parameter `spot` is required, e.g. /image?spot=linda-mar",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(Some("spot=Linda%20Mar"), "Linda Mar")]
    #[case(Some("spot=linda-mar"), "linda-mar")]
    #[case(Some("spot=+Linda+Mar+"), "Linda Mar")]
    fn accepts(#[case] raw: Option<&str>, #[case] spot: &str) {
        assert_eq!(ImageQuery::parse(raw).unwrap().spot, spot);
    }

    #[test]
    fn reads_device_and_options() {
        let q =
            ImageQuery::parse(Some("spot=a&device=trmnl&bits=2&rotate=90&invert=true")).unwrap();
        assert_eq!(q.device.as_deref(), Some("trmnl"));
        assert_eq!(
            (q.options.bits, q.options.rotate, q.options.invert),
            (Some(2), Some(90), Some(true))
        );
    }

    #[rstest]
    #[case(None, "`spot` is required")]
    #[case(Some("spot="), "`spot` is required")]
    #[case(Some("spot=a&spot=b"), "more than once")]
    #[case(Some("spto=a"), "unknown parameter `spto`")]
    #[case(Some("spot=a&bits=3"), "invalid `bits`: `3`; allowed: 1, 2, 4, 8")]
    #[case(Some("spot=a&width=99999"), "invalid `width`")]
    fn rejects(#[case] raw: Option<&str>, #[case] message: &str) {
        let err = format!("{:?}", ImageQuery::parse(raw).unwrap_err());
        assert!(err.contains(message), "{err}");
    }

    #[test]
    fn rejects_long_values() {
        let raw = format!("spot={}", "a".repeat(MAX_VALUE + 1));
        let err = format!("{:?}", ImageQuery::parse(Some(&raw)).unwrap_err());
        assert!(err.contains("longer than"), "{err}");
    }
}
