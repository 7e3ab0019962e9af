//! Layers a template declares: a comment block at the top of the file,
//!
//! ```text
//! {#- layers
//! basemap = "Coast"
//! swell = "Swell"
//! wind = "Wind"
//! -#}
//! ```
//!
//! each line a name and the header text that names it. A request picks
//! some (`layers=swell,wind`); without a pick every declared layer is
//! drawn. The template sees `layers.<name>` (true when drawn) and
//! `shown_layers`, the headers of the drawn ones in declared order.

use serde::Serialize;

/// A declared layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layer {
    /// Its name, as a request picks it.
    pub name: String,
    /// Its header text.
    pub title: String,
}

/// Why a template's layer block does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the layers block: {0}")]
pub struct LayersError(String);

/// The layers the template `source` declares, in order; none when it has
/// no block.
pub fn declared(source: &str) -> Result<Vec<Layer>, LayersError> {
    let start = source
        .find("{#- layers")
        .map(|i| i + "{#- layers".len())
        .or_else(|| source.find("{# layers").map(|i| i + "{# layers".len()));
    let Some(start) = start else {
        return Ok(Vec::new());
    };
    let rest = &source[start..];
    let end = rest
        .find("#}")
        .ok_or_else(|| LayersError("no closing `#}`".into()))?;
    let body = rest[..end].trim_end_matches('-');
    let table: toml::Table =
        toml::from_str(body).map_err(|e| LayersError(e.message().to_string()))?;
    // toml keeps keys sorted; the order of the file is the header's order.
    let mut layers = Vec::new();
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let Some(title) = table.get(name).and_then(|v| v.as_str()) else {
            return Err(LayersError(format!("`{name}` must be a quoted title")));
        };
        if !is_layer_name(name) {
            return Err(LayersError(format!(
                "`{name}`: a layer's name is a-z, 0-9 and _"
            )));
        }
        layers.push(Layer {
            name: name.to_string(),
            title: title.to_string(),
        });
    }
    Ok(layers)
}

/// Whether `name` can name a layer.
pub fn is_layer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn layers_are_read_in_the_order_written() {
        let src = "{#- layers\nwind = \"Wind\"\nbasemap = \"Coast\"\n-#}\n<svg/>";
        let names: Vec<_> = declared(src).unwrap().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["wind", "basemap"]);
        assert!(declared("<svg/>").unwrap().is_empty());
    }

    #[rstest]
    #[case("{#- layers\nwind = 3\n-#}", "`wind` must be a quoted title")]
    #[case("{#- layers\nWind = \"W\"\n-#}", "a layer's name is a-z")]
    #[case("{#- layers\nwind = \"W\"\n", "no closing")]
    fn bad_blocks_are_named(#[case] src: &str, #[case] expected: &str) {
        let e = declared(src).unwrap_err().to_string();
        assert!(e.contains(expected), "{e}");
    }
}
