//! Reading the TOML, reporting every mistake of type or form in one run:
//! the parser stops at its first error, so on failure each section (and
//! each spot with its sources), then each one-line key under its table
//! headers, is parsed again on its own, the other lines blanked so that
//! line numbers stay true.

use super::Config;

/// `text` as a [`Config`], or every parse error in it, each with its line.
pub(super) fn parse(text: &str) -> Result<Config, Vec<String>> {
    let first = match toml::from_str::<Config>(text) {
        Ok(config) => return Ok(config),
        Err(e) => e.to_string().trim_end().to_string(),
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut errors: Vec<String> = Vec::new();
    let alone = |unit: &[usize]| {
        let kept: Vec<&str> = lines
            .iter()
            .enumerate()
            .map(|(i, line)| if unit.contains(&i) { *line } else { "" })
            .collect();
        toml::from_str::<Config>(&kept.join("\n"))
            .err()
            .map(|e| e.to_string().trim_end().to_string())
    };
    for unit in units(&lines) {
        if let Some(message) = alone(&unit).filter(|m| !errors.contains(m)) {
            errors.push(message);
        }
    }
    // A key alone under its headers lacks its table's other keys, so only
    // a mistake on the key's own line counts.
    for (line, unit) in keys(&lines) {
        let here = format!("at line {}, ", line + 1);
        if let Some(message) = alone(&unit).filter(|m| m.contains(&here) && !errors.contains(m)) {
            errors.push(message);
        }
    }
    errors.sort_by_key(|m| line_of(m));
    // A mistake only the whole file shows (a table defined twice across
    // sections) is still reported.
    if errors.is_empty() {
        errors.push(first);
    }
    Err(errors.iter().map(|m| suggest(m)).collect())
}

/// `text` with the lines the parse `errors` name blanked, so the rest can
/// be parsed and checked too; line numbers stay true.
pub(super) fn without_failed_lines(text: &str, errors: &[String]) -> String {
    let failed: Vec<usize> = errors.iter().map(|m| line_of(m)).collect();
    text.lines()
        .enumerate()
        .map(|(i, line)| if failed.contains(&(i + 1)) { "" } else { line })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A parse error with the nearest known key suggested for an unknown one
/// (serde names them: "unknown field `max_agee`, expected one of ...").
fn suggest(message: &str) -> String {
    let Some(rest) = message.split("unknown field `").nth(1) else {
        return message.to_string();
    };
    let Some((unknown, known)) = rest.split_once('`') else {
        return message.to_string();
    };
    let near = known
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|k| strsim::damerau_levenshtein(unknown, k) <= 2)
        .min_by_key(|k| strsim::damerau_levenshtein(unknown, k));
    match near {
        Some(k) => format!("{message}\ndid you mean `{k}`?"),
        None => message.to_string(),
    }
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

/// Each one-line `key = value` with the headers it sits under: its table,
/// and for a spot's sources and fields, the spot's and source's headers.
fn keys(lines: &[&str]) -> Vec<(usize, Vec<usize>)> {
    let (mut spot, mut source, mut table) = (None, None, None);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if let Some(name) = header(line) {
            if trimmed.starts_with("[[spots]]") {
                (spot, source) = (Some(i), None);
            } else if trimmed.starts_with("[[spots.sources]]") {
                source = Some(i);
            }
            table = Some((i, name.to_string()));
            continue;
        }
        if !is_one_line_key(trimmed) {
            continue;
        }
        let mut unit: Vec<usize> = Vec::new();
        if let Some((at, name)) = &table {
            if name.starts_with("spots") {
                unit.extend(spot);
            }
            if name.starts_with("spots.sources") {
                unit.extend(source);
            }
            unit.push(*at);
        }
        unit.push(i);
        out.push((i, unit));
    }
    out
}

/// Whether `line` is a whole `key = value` pair on one line.
fn is_one_line_key(line: &str) -> bool {
    let Some((key, value)) = line.split_once('=') else {
        return false;
    };
    let opens = value.matches(['[', '{']).count();
    let closes = value.matches([']', '}']).count();
    !key.trim().is_empty()
        && !key.contains(['"', '#', '['])
        && opens == closes
        && !value.contains("\"\"\"")
        && !value.contains("'''")
}

/// The line a parse error names, for ordering them as the file reads.
fn line_of(message: &str) -> usize {
    message
        .split("at line ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(usize::MAX)
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
    fn two_mistakes_in_one_table_are_both_reported() {
        let text = "[cache]\nmax_age = \"an hour\"\nmax_disk = \"lots\"\n\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n\n[[spots.sources]]\nid = \"r\"\nurl = \"https://x.test\"\nformat = \"json\"\n[spots.sources.fields]\nv = { pointer = \"/v\", type = \"numeric\" }\nw = { pointer = \"/w\", type = \"text\", all = \"yes\" }\n";
        let errors = parse(text).unwrap_err();
        let all = errors.join("\n");
        for expected in ["line 2", "line 3", "line 14", "line 15"] {
            assert!(
                all.contains(&format!("at line {}", &expected[5..])),
                "{expected} not in:\n{all}"
            );
        }
        assert_eq!(errors.len(), 4, "each once, in file order:\n{all}");
        assert!(errors[0].contains("at line 2,"), "{all}");
    }

    #[test]
    fn a_good_file_parses_once() {
        let text = "[cache]\nmax_age = \"1h\"\n[[spots]]\nname = \"A\"\ntemplate = \"surf\"\n";
        assert_eq!(parse(text).unwrap().spots.len(), 1);
    }
}
