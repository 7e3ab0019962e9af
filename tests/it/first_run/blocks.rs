//! The fenced blocks of the docs, and the command lines of a shell block
//! split as a shell splits them, for the checks in `docs`.

use std::path::PathBuf;

use crate::common::*;

/// One fenced block.
pub struct Block {
    pub file: String,
    pub line: usize,
    pub lang: String,
    pub text: String,
    /// The `<!-- ... -->` comment right above it, if any.
    pub marker: Option<String>,
}

impl Block {
    pub fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

pub fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo_path("README.md"), repo_path("SECURITY.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo_path("docs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

pub fn blocks() -> Vec<Block> {
    let mut out = Vec::new();
    for path in doc_files() {
        let file = path
            .strip_prefix(repo_path(""))
            .unwrap()
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            let Some(lang) = lines[i].strip_prefix("```") else {
                i += 1;
                continue;
            };
            let start = i;
            let end = (i + 1..lines.len())
                .find(|&j| lines[j].starts_with("```"))
                .unwrap_or_else(|| panic!("{file}:{}: an unclosed block", i + 1));
            let marker = lines[..start]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .and_then(|l| l.trim().strip_prefix("<!--"))
                .map(|l| l.trim_end_matches("-->").trim().to_string());
            out.push(Block {
                file: file.clone(),
                line: start + 1,
                lang: lang.trim().to_string(),
                text: lines[start + 1..end].join("\n"),
                marker,
            });
            i = end + 1;
        }
    }
    out
}

/// Command lines of a shell block: continuations joined, comments and
/// `$ ` prompts taken off, output lines of a `console` block left out.
pub fn commands(block: &Block) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in block.text.lines() {
        let line = if block.lang == "console" {
            match line.strip_prefix("$ ") {
                Some(command) => command,
                None => continue,
            }
        } else {
            line
        };
        let line = if open_quote(&current) {
            line.to_string()
        } else {
            strip_comment(line)
        };
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(&line);
                // A quote left open goes on to the next line.
                if open_quote(&current) {
                    current.push(' ');
                    continue;
                }
                let command = std::mem::take(&mut current).trim().to_string();
                if !command.is_empty() {
                    out.push(command);
                }
            }
        }
    }
    out
}

/// Whether `text` ends inside a quote.
fn open_quote(text: &str) -> bool {
    let (mut single, mut double) = (false, false);
    for c in text.chars() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ => {}
        }
    }
    single || double
}

/// `line` without a `#` comment outside quotes.
fn strip_comment(line: &str) -> String {
    let (mut single, mut double) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && (i == 0 || line[..i].ends_with(' ')) => {
                return line[..i].trim_end().to_string();
            }
            _ => {}
        }
    }
    line.to_string()
}

/// Shell words, with quotes removed and `$(...)` kept as one word.
pub fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, ' ') => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}
