//! Parsing and bounding the query string of `/image`.

use super::error::ApiError;
use crate::config::OPTION_PARAMS;
use crate::config::OutputOptions;
use crate::text::ellipsize;

/// The longest value any parameter may have.
const MAX_VALUE: usize = 200;
/// The most parameters a query may have.
const MAX_PARAMS: usize = 16;
/// Parameters that clients add to defeat caches in between. They mean
/// nothing here: the answer already carries its own validators.
const CACHE_BUSTERS: [&str; 6] = ["t", "ts", "_", "cb", "v", "nocache"];

/// A validated `/image` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageQuery {
    /// The spot's name or slug, as sent.
    pub spot: String,
    /// A device preset name.
    pub device: Option<String>,
    /// `layers=swell,wind`: the template layers to draw.
    pub layers: Option<Vec<String>>,
    /// Explicit output options; they override the preset.
    pub options: OutputOptions,
    /// `preview=1`: a look (the gallery's), which does not put the variant
    /// on the schedule as a device's request does.
    pub preview: bool,
}

fn known_params() -> impl Iterator<Item = &'static str> {
    ["spot", "device", "layers", "preview"]
        .into_iter()
        .chain(OPTION_PARAMS.iter().copied())
}

/// The 400 for a parameter we do not know, with the nearest known one.
fn unknown(name: &str) -> ApiError {
    let lower = name.to_ascii_lowercase();
    let near = known_params().find(|k| strsim::damerau_levenshtein(&lower, k) <= 2);
    let hint = near
        .map(|k| format!("did you mean `{k}`? "))
        .unwrap_or_default();
    let allowed: Vec<_> = known_params().collect();
    ApiError::bad_request(
        "unknown_parameter",
        format!(
            "unknown parameter `{}`; {hint}allowed: {}",
            ellipsize(name, 40),
            allowed.join(", ")
        ),
    )
}

impl ImageQuery {
    /// Parses `raw` (the part after `?`), rejecting unknown, repeated,
    /// over-long and out-of-range parameters with a message naming them.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut spot = None;
        let mut device = None;
        let mut layers = None;
        let mut preview = false;
        let mut options = OutputOptions::default();
        let mut seen: Vec<String> = Vec::new();
        for (i, (k, v)) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()).enumerate() {
            // Ignored parameters count against the limits too.
            if i >= MAX_PARAMS {
                return Err(ApiError::bad_request(
                    "too_many_parameters",
                    format!("more than {MAX_PARAMS} parameters"),
                ));
            }
            if v.len() > MAX_VALUE {
                return Err(ApiError::bad_request(
                    "parameter_too_long",
                    format!(
                        "parameter `{}` is longer than {MAX_VALUE} bytes",
                        ellipsize(&k, 40)
                    ),
                ));
            }
            if CACHE_BUSTERS.contains(&k.as_ref()) {
                continue;
            }
            if !known_params().any(|known| known == k) {
                return Err(unknown(&k));
            }
            if seen.iter().any(|s| *s == k) {
                return Err(ApiError::bad_request(
                    "repeated_parameter",
                    format!("parameter `{k}` is given more than once"),
                ));
            }
            seen.push(k.to_string());
            match k.as_ref() {
                "spot" => spot = Some(v.trim().to_string()),
                "device" => device = Some(v.trim().to_string()),
                "preview" => preview = matches!(v.trim(), "1" | "true"),
                "layers" => {
                    let picked = v.split(',').map(str::trim).filter(|l| !l.is_empty());
                    layers = Some(picked.map(str::to_string).collect());
                }
                param => options
                    .set(param, v.trim())
                    .map_err(|e| ApiError::bad_request("invalid_parameter", e.to_string()))?,
            }
        }
        match spot {
            Some(s) if !s.is_empty() => Ok(Self {
                spot: s,
                device: device.filter(|d| !d.is_empty()),
                layers,
                options,
                preview,
            }),
            _ => Err(ApiError::bad_request(
                "missing_spot",
                "parameter `spot` is required, e.g. /image?spot=linda-mar",
            )),
        }
    }
}

/// `Query<T>` whose rejection is answered as every other bad request is:
/// a JSON 400 `invalid_parameter` naming the problem, not axum's text.
pub struct Params<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e| ApiError::bad_request("invalid_parameter", ellipsize(&e.body_text(), 200)))
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
    #[case(Some("spto=a"), "unknown parameter `spto`; did you mean `spot`?")]
    #[case(Some("spot=a&Width=3"), "did you mean `width`?")]
    #[case(
        Some("spot=a&colour=red"),
        "unknown parameter `colour`; allowed: spot, device"
    )]
    #[case(Some("spot=a&bits=3"), "invalid `bits`: `3`; allowed: 1, 2, 4, 8")]
    #[case(Some("spot=a&width=99999"), "invalid `width`")]
    fn rejects(#[case] raw: Option<&str>, #[case] message: &str) {
        let err = format!("{:?}", ImageQuery::parse(raw).unwrap_err());
        assert!(err.contains(message), "{err}");
    }

    #[rstest]
    #[case("spot=a&device=TRMNL&format=PNG&dither=None&invert=TRUE")]
    #[case(
        "spot=a&device=trmnl&format=png&dither=none&invert=1&t=1700000000&_=1&cb=x&v=2&ts=3&nocache=1"
    )]
    fn case_and_cache_busters_do_not_matter(#[case] raw: &str) {
        let q = ImageQuery::parse(Some(raw)).unwrap();
        assert_eq!(q.options.format, Some(crate::config::ImageFormat::Png));
        assert_eq!(q.options.dither, Some(crate::config::Dither::None));
        assert_eq!(q.options.invert, Some(true));
        assert!(q.device.unwrap().eq_ignore_ascii_case("trmnl"));
    }

    #[test]
    fn cache_busters_count_against_the_limits() {
        let many = format!("spot=a{}", "&t=1".repeat(MAX_PARAMS));
        let err = format!("{:?}", ImageQuery::parse(Some(&many)).unwrap_err());
        assert!(err.contains("more than 16 parameters"), "{err}");
        let long = format!("spot=a&t={}", "1".repeat(MAX_VALUE + 1));
        let err = format!("{:?}", ImageQuery::parse(Some(&long)).unwrap_err());
        assert!(err.contains("`t` is longer than"), "{err}");
    }

    #[test]
    fn rejects_long_values() {
        let raw = format!("spot={}", "a".repeat(MAX_VALUE + 1));
        let err = format!("{:?}", ImageQuery::parse(Some(&raw)).unwrap_err());
        assert!(err.contains("longer than"), "{err}");
    }
}
