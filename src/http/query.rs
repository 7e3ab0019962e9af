//! Parsing and bounding the query string of `/image`.

use super::error::{ApiError, truncate};

/// Parameters `/image` accepts.
pub const IMAGE_PARAMS: &[&str] = &["spot"];

/// The longest value any parameter may have.
const MAX_VALUE: usize = 200;

/// A validated `/image` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageQuery {
    /// The spot's name or slug, as sent.
    pub spot: String,
}

impl ImageQuery {
    /// Parses `raw` (the part after `?`), rejecting unknown, repeated and
    /// over-long parameters with a message naming them.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut spot = None;
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !IMAGE_PARAMS.contains(&k.as_ref()) {
                return Err(ApiError::bad_request(
                    "unknown_parameter",
                    format!(
                        "unknown parameter `{}`; allowed: {}",
                        truncate(&k, 40),
                        IMAGE_PARAMS.join(", ")
                    ),
                ));
            }
            if v.len() > MAX_VALUE {
                return Err(ApiError::bad_request(
                    "parameter_too_long",
                    format!("parameter `{k}` is longer than {MAX_VALUE} bytes"),
                ));
            }
            if spot.replace(v.into_owned()).is_some() {
                return Err(ApiError::bad_request(
                    "repeated_parameter",
                    format!("parameter `{k}` is given more than once"),
                ));
            }
        }
        match spot {
            Some(s) if !s.trim().is_empty() => Ok(Self {
                spot: s.trim().to_string(),
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

    #[rstest]
    #[case(None, "`spot` is required")]
    #[case(Some("spot="), "`spot` is required")]
    #[case(Some("spot=a&spot=b"), "more than once")]
    #[case(Some("spto=a"), "unknown parameter `spto`")]
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
