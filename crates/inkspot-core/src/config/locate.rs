//! Finds the line of a key in the config text, so validation messages can
//! point at it, and collects problems so located. Parsing keeps spans only in `toml_edit`'s document model,
//! which is why this walks that model rather than the typed structs.

use toml_edit::{ImDocument, Item};

use super::Problem;

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A key in a table.
    Key(String),
    /// An element of an array or array of tables.
    Index(usize),
}

/// Formats a path the way messages show it: `spots[0].sources[1].url`.
pub fn display(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Returns the 1-based line where `path` is written in `text`: the key's own
/// line for a key, the table's header for an array element.
pub fn line_of(text: &str, path: &[Seg]) -> Option<usize> {
    let doc = ImDocument::parse(text).ok()?;
    let offset = offset_of(doc.as_item(), path)?;
    Some(text[..offset.min(text.len())].matches('\n').count() + 1)
}

fn offset_of(item: &Item, path: &[Seg]) -> Option<usize> {
    let Some((first, rest)) = path.split_first() else {
        return item_span(item);
    };
    match first {
        Seg::Key(k) => {
            let table = item.as_table_like()?;
            let (key, child) = table.get_key_value(k)?;
            if rest.is_empty() {
                key.span().map(|s| s.start).or_else(|| item_span(child))
            } else {
                offset_of(child, rest).or_else(|| key.span().map(|s| s.start))
            }
        }
        Seg::Index(i) => {
            let child = match item {
                Item::ArrayOfTables(a) => Item::Table(a.get(*i)?.clone()),
                Item::Value(toml_edit::Value::Array(a)) => Item::Value(a.get(*i)?.clone()),
                _ => return None,
            };
            offset_of(&child, rest).or_else(|| item_span(&child))
        }
    }
}

fn item_span(item: &Item) -> Option<usize> {
    match item {
        Item::Table(t) => t.span().map(|s| s.start),
        Item::ArrayOfTables(a) => a.span().map(|s| s.start),
        Item::Value(v) => v.span().map(|s| s.start),
        Item::None => None,
    }
}

/// Problems (and warnings) found so far, each located in the text.
pub(in crate::config) struct Collector<'a> {
    /// The config's text, which problems are located in.
    pub text: &'a str,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

impl Collector<'_> {
    fn locate(&self, path: &[Seg], message: impl Into<String>) -> Problem {
        Problem {
            key: display(path),
            line: line_of(self.text, path),
            message: message.into(),
        }
    }

    /// Records a problem at `path`.
    pub fn add(&mut self, path: &[Seg], message: impl Into<String>) {
        let problem = self.locate(path, message);
        self.problems.push(problem);
    }

    /// Records a warning at `path`: the config loads, but should change.
    pub fn warn(&mut self, path: &[Seg], message: impl Into<String>) {
        let warning = self.locate(path, message);
        self.warnings.push(warning);
    }
}

pub(in crate::config) fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

pub(in crate::config) fn with(path: &[Seg], more: &[Seg]) -> Vec<Seg> {
    path.iter().chain(more).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[server]\nlisten = \"x\"\n\n[[spots]]\nname = \"A\"\n\n[[spots]]\nname = \"B\"\n[[spots.sources]]\nid = \"r\"\nurl = \"ftp://x\"\n";

    #[test]
    fn finds_nested_keys_in_arrays_of_tables() {
        let path = [
            Seg::Key("spots".into()),
            Seg::Index(1),
            Seg::Key("sources".into()),
            Seg::Index(0),
            Seg::Key("url".into()),
        ];
        assert_eq!(line_of(TEXT, &path), Some(11));
        assert_eq!(display(&path), "spots[1].sources[0].url");
    }

    #[test]
    fn finds_top_level_key_and_table_header() {
        assert_eq!(
            line_of(
                TEXT,
                &[Seg::Key("server".into()), Seg::Key("listen".into())]
            ),
            Some(2)
        );
        assert_eq!(
            line_of(
                TEXT,
                &[
                    Seg::Key("spots".into()),
                    Seg::Index(1),
                    Seg::Key("name".into())
                ]
            ),
            Some(8)
        );
    }

    #[test]
    fn missing_key_gives_none() {
        assert_eq!(line_of(TEXT, &[Seg::Key("nope".into())]), None);
    }
}
