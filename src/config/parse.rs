//! Reading the TOML, reporting every mistake of type or form in one run:
//! the parser stops at its first error, so on failure each section (and
//! each spot with its sources) is parsed again on its own, the other
//! lines blanked so that line numbers stay true.

use super::Config;

/// `text` as a [`Config`], or every parse error in it, each with its line.
pub(super) fn parse(text: &str) -> Result<Config, Vec<String>> {
    let first = match toml::from_str::<Config>(text) {
        Ok(config) => return Ok(config),
        Err(e) => e.to_string().trim_end().to_string(),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut errors: Vec<String> = Vec::new();
    for unit in units(&lines) {
        let alone: Vec<&str> = lines
            .iter()
            .enumerate()
            .map(|(i, line)| if unit.contains(&i) { *line } else { "" })
            .collect();
        if let Err(e) = toml::from_str::<Config>(&alone.join("\n")) {
            let message = e.to_string().trim_end().to_string();
            if !errors.contains(&message) {
                errors.push(message);
            }
        }
    }
    // A mistake only the whole file shows (a table defined twice across
    // sections) is still reported.
    if errors.is_empty() {
        errors.push(first);
    }
    Err(errors)
}

/// The lines of each part of the file that parses on its own: the keys
/// before the first table, each top-level table, each `[[spots]]` with its
/// own keys, and each of its sources under its spot's header.
fn units(lines: &[&str]) -> Vec<Vec<usize>> {
    let mut units: Vec<Vec<usize>> = vec![Vec::new()];
    let mut spot_header = None;
    for (i, line) in lines.iter().enumerate() {
        if let Some(name) = header(line) {
            let is_spot = line.trim_start().starts_with("[[spots]]");
            let is_source = line.trim_start().starts_with("[[spots.sources]]");
            if is_spot {
                spot_header = Some(i);
            }
            if is_spot || is_source || !name.starts_with("spots.") {
                // A source goes with its spot's header alone: the spot's
                // keys' own mistakes are its spot's unit's to report.
                units.push(if is_source {
                    spot_header.into_iter().collect()
                } else {
                    Vec::new()
                });
            }
        }
        if let Some(unit) = units.last_mut() {
            unit.push(i);
        }
    }
    units
}

/// The table name of a header line such as `[cache]` or `[[spots]]`.
fn header(line: &str) -> Option<&str> {
    let line = line.trim_start();
    let inner = line.strip_prefix("[[").or_else(|| line.strip_prefix('['))?;
    let end = inner.find(']')?;
    Some(inner[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_mistakes_are_three_errors_with_their_lines() {
        let text = "[cache]\nmax_disk = \"lots\"\n\n[server]\nlisten = 8080\n\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\nwidth = \"wide\"\n\n[[spots.sources]]\nid = \"r\"\nurl = \"https://x.test\"\nformat = \"yaml\"\n";
        let errors = parse(text).unwrap_err();
        let all = errors.join("\n");
        for expected in ["line 2", "line 5", "line 10", "line 15"] {
            assert!(all.contains(expected), "{expected} not in:\n{all}");
        }
    }

    #[test]
    fn a_good_file_parses_once() {
        let text = "[cache]\nmax_age = \"1h\"\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n";
        assert_eq!(parse(text).unwrap().spots.len(), 1);
    }
}
