//! Fitting text that can grow into the room it has, measured with the
//! fonts that will draw it (never by guessing widths per character):
//!
//! - `fit(text, width, size, min=size*0.7, bold=false)` gives `{text, size}`:
//!   the text at `size` when it fits in `width` px, else at the size that
//!   makes it fit, down to `min`, below which it is shortened with `…`.
//! - `fit_lines(items, width, size, lines, bold=false)` gives up to `lines`
//!   lines, one item each, each shortened to `width`; when there are more
//!   items than lines, the last line says `and N more`.
//! - `wrap(text, width, size, lines, bold=false)` breaks `text` at spaces
//!   into at most `lines` lines of `width` px; when it needs more, the last
//!   line ends with `…`.

use std::sync::Arc;

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error};
use serde::Serialize;

/// Measures text as the renderer lays it out, in the default sans-serif
/// family.
pub trait Measure: Send + Sync {
    /// The width in px of `text` at font size `size`, bold or not.
    fn width(&self, text: &str, size: f64, bold: bool) -> f64;
}

/// A measure shared by every template environment.
pub type SharedMeasure = Arc<dyn Measure>;

/// Text and the font size to draw it at.
#[derive(Debug, Serialize, PartialEq)]
pub struct Fitted {
    /// The text, shortened with `…` when even `min` was too large.
    pub text: String,
    /// The font size, rounded down to a tenth of a pixel.
    pub size: f64,
}

/// `text` fitted into `width` px at `size`, scaled down to `min` at most,
/// then shortened.
pub fn fit(
    measure: &dyn Measure,
    text: &str,
    width: f64,
    size: f64,
    min: f64,
    bold: bool,
) -> Fitted {
    let full = measure.width(text, size, bold);
    if full <= width || text.is_empty() {
        return Fitted {
            text: text.to_string(),
            size,
        };
    }
    // Width is proportional to size, so one measure gives the size.
    let scaled = (size * width / full * 10.0).floor() / 10.0;
    if scaled >= min {
        return Fitted {
            text: text.to_string(),
            size: scaled,
        };
    }
    Fitted {
        text: shorten(measure, text, width, min, bold),
        size: min,
    }
}

/// The longest start of `text` that fits in `width` with `…` after it,
/// cut at a word when one ends in the last third.
pub fn shorten(measure: &dyn Measure, text: &str, width: f64, size: f64, bold: bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let with_ellipsis = |n: usize| {
        let mut s: String = chars[..n].iter().collect();
        s = s.trim_end().to_string();
        s.push('…');
        s
    };
    // Binary search on the number of characters kept.
    let (mut lo, mut hi) = (0, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if measure.width(&with_ellipsis(mid), size, bold) <= width {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let word = chars[..lo].iter().rposition(|c| c.is_whitespace());
    let keep = match word {
        Some(at) if at * 3 >= lo * 2 => at,
        _ => lo,
    };
    with_ellipsis(keep)
}

/// Up to `lines` lines of `items`, each shortened to `width`; with more
/// items than lines the last line counts the rest.
pub fn fit_lines(
    measure: &dyn Measure,
    items: &[String],
    width: f64,
    size: f64,
    lines: usize,
    bold: bool,
) -> Vec<String> {
    let lines = lines.max(1);
    let shown = if items.len() <= lines {
        items.len()
    } else {
        lines - 1
    };
    let mut out: Vec<String> = items[..shown]
        .iter()
        .map(|item| fit(measure, item, width, size, size, bold).text)
        .collect();
    if shown < items.len() {
        out.push(format!("and {} more", items.len() - shown));
    }
    out
}

/// `text` broken at spaces into lines of at most `width` px, at most
/// `lines` of them; a word longer than a line is shortened, and when the
/// text needs more lines, the last one ends with `…`.
pub fn wrap(
    measure: &dyn Measure,
    text: &str,
    width: f64,
    size: f64,
    lines: usize,
    bold: bool,
) -> Vec<String> {
    let lines = lines.max(1);
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let joined = if current.is_empty() {
            word.to_string()
        } else {
            format!("{current} {word}")
        };
        if measure.width(&joined, size, bold) <= width {
            current = joined;
            continue;
        }
        if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if out.len() == lines {
            break;
        }
        current = word.to_string();
        if words.peek().is_none() {
            break;
        }
    }
    if !current.is_empty() && out.len() < lines {
        out.push(current);
    }
    let all = out.join(" ").split_whitespace().count() == text.split_whitespace().count();
    if let Some(last) = out.last_mut() {
        let last_fits = measure.width(last, size, bold) <= width;
        if !all || !last_fits {
            let rest = if all {
                last.clone()
            } else {
                format!("{last} …")
            };
            *last = shorten(measure, &rest, width, size, bold);
        }
    }
    for line in &mut out {
        if measure.width(line, size, bold) > width {
            *line = shorten(measure, line, width, size, bold);
        }
    }
    out
}

/// The `bold=` of a call, `false` when not given; no other keyword.
fn bold_only(kwargs: &Kwargs) -> Result<bool, Error> {
    let bold: Option<bool> = kwargs.get("bold")?;
    kwargs.assert_all_used()?;
    Ok(bold.unwrap_or(false))
}

/// Adds `fit`, `fit_lines` and `wrap` to `env`, measuring with `measure`.
pub(super) fn register(env: &mut Environment<'static>, measure: SharedMeasure) {
    let m = measure.clone();
    env.add_function(
        "fit",
        move |text: String, width: f64, size: f64, kwargs: Kwargs| -> Result<Value, Error> {
            let min: Option<f64> = kwargs.get("min")?;
            let bold = bold_only(&kwargs)?;
            let min = min.unwrap_or(size * 0.7).min(size);
            Ok(Value::from_serialize(fit(
                m.as_ref(),
                &text,
                width,
                size,
                min,
                bold,
            )))
        },
    );
    let m = measure.clone();
    env.add_function(
        "fit_lines",
        move |items: Vec<String>, width: f64, size: f64, lines: usize, kwargs: Kwargs| {
            let bold = bold_only(&kwargs)?;
            Ok::<_, Error>(fit_lines(m.as_ref(), &items, width, size, lines, bold))
        },
    );
    env.add_function(
        "wrap",
        move |text: String, width: f64, size: f64, lines: usize, kwargs: Kwargs| {
            let bold = bold_only(&kwargs)?;
            Ok::<_, Error>(wrap(measure.as_ref(), &text, width, size, lines, bold))
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    /// The renderer's own measure, with the shipped fonts.
    fn measure() -> SharedMeasure {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
        Arc::new(crate::render::Renderer::new(&dir, false))
    }

    const FOOTER: &str = "Swell: buoy 46012 · wind: buoy 46026 · water: buoy 46012 · Data: Open-Meteo.com (CC BY 4.0), NOAA NDBC, NOAA CO-OPS";

    #[rstest]
    #[case("Linda Mar", 500.0, 40.0, 24.0, false)]
    #[case(FOOTER, 752.0, 13.0, 10.0, false)]
    #[case(FOOTER, 300.0, 13.0, 10.0, false)]
    #[case(
        "Mavericks Outer Reef Beyond The Harbour Jetty",
        400.0,
        40.0,
        30.0,
        true
    )]
    fn fitted_text_is_within_its_width(
        #[case] text: &str,
        #[case] width: f64,
        #[case] size: f64,
        #[case] min: f64,
        #[case] bold: bool,
    ) {
        let m = measure();
        let f = fit(m.as_ref(), text, width, size, min, bold);
        assert!(f.size <= size && f.size >= min, "{f:?}");
        let drawn = m.width(&f.text, f.size, bold);
        assert!(drawn <= width, "{f:?} is {drawn} px in {width}");
        if m.width(text, size, bold) <= width {
            assert_eq!(
                f,
                Fitted {
                    text: text.into(),
                    size
                },
                "untouched when it fits"
            );
        }
    }

    #[test]
    fn shortening_keeps_words_and_says_so() {
        let m = measure();
        let f = fit(m.as_ref(), FOOTER, 300.0, 13.0, 10.0, false);
        assert!(f.text.ends_with('…'), "{f:?}");
        assert!(FOOTER.starts_with(f.text.trim_end_matches('…')), "{f:?}");
        assert!(m.width(FOOTER, 13.0, false) > m.width(FOOTER, 10.0, false));
    }

    #[rstest]
    #[case(FOOTER, 300.0, 3)]
    #[case(FOOTER, 800.0, 3)]
    #[case("short", 300.0, 2)]
    #[case("Averyveryverylongwordthatcannotfitanywhereatall and more", 120.0, 2)]
    fn wrapped_lines_fit_and_say_when_text_was_left_out(
        #[case] text: &str,
        #[case] width: f64,
        #[case] lines: usize,
    ) {
        let m = measure();
        let wrapped = wrap(m.as_ref(), text, width, 16.0, lines, false);
        assert!(!wrapped.is_empty() && wrapped.len() <= lines, "{wrapped:?}");
        for line in &wrapped {
            assert!(m.width(line, 16.0, false) <= width, "{line:?} in {width}");
        }
        let shown = wrapped.join(" ");
        if shown.split_whitespace().count() < text.split_whitespace().count() {
            assert!(
                wrapped.last().unwrap().ends_with('…'),
                "text left out: {wrapped:?}"
            );
        } else if !shown.contains('…') {
            assert_eq!(shown, text);
        }
    }

    #[test]
    fn more_items_than_lines_count_the_rest() {
        let m = measure();
        let items: Vec<String> = (1..=7).map(|i| format!("source{i}: timed out")).collect();
        let lines = fit_lines(m.as_ref(), &items, 400.0, 20.0, 4, false);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[3], "and 4 more");
        assert_eq!(
            fit_lines(m.as_ref(), &items[..3], 400.0, 20.0, 4, false).len(),
            3
        );
    }
}
