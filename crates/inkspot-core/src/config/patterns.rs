//! Compiled selectors and regular expressions that deserialize from strings,
//! so a bad one is reported by the parser with its line.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, de};

/// A CSS selector, compiled when the config is read.
#[derive(Clone)]
pub struct CssSelector {
    source: String,
    selector: Arc<scraper::Selector>,
}

impl CssSelector {
    /// Compiles `source`, or says why it is not a selector.
    pub fn parse(source: &str) -> Result<Self, String> {
        let selector = scraper::Selector::parse(source).map_err(|e| {
            format!(
                "invalid CSS selector `{source}`: {}; write it like \"table.currentobs tr\" or \"#waves .value\"",
                selector_problem(&e)
            )
        })?;
        Ok(Self {
            source: source.to_string(),
            selector: Arc::new(selector),
        })
    }

    /// The compiled selector.
    pub fn selector(&self) -> &scraper::Selector {
        &self.selector
    }

    /// The selector as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for CssSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CssSelector({:?})", self.source)
    }
}

impl<'de> Deserialize<'de> for CssSelector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CssSelector::parse(&s).map_err(de::Error::custom)
    }
}

/// A regular expression, compiled when the config is read.
#[derive(Clone)]
pub struct Pattern(regex::Regex);

impl Pattern {
    /// Compiles `source`, or says why it is not a regular expression.
    pub fn parse(source: &str) -> Result<Self, String> {
        regex::RegexBuilder::new(source)
            // Bounded so a config cannot make a pathological automaton.
            .size_limit(1 << 20)
            .build()
            .map(Pattern)
            .map_err(|e| format!("invalid regex `{source}`: {e}"))
    }

    /// The compiled expression.
    pub fn regex(&self) -> &regex::Regex {
        &self.0
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Pattern::parse(&s).map_err(de::Error::custom)
    }
}

/// What is wrong with a selector, in plain words: the parser's own
/// messages for these cases ask the reader to report a bug.
fn selector_problem(e: &scraper::error::SelectorErrorKind) -> String {
    use scraper::error::SelectorErrorKind as K;
    let detail = match e {
        K::UnexpectedSelectorParseError(kind) => format!("{kind:?}"),
        other => return other.to_string(),
    };
    let plain = [
        ("ClassNeedsIdent", "a `.` must be followed by a class name"),
        ("EmptySelector", "it is empty"),
        (
            "DanglingCombinator",
            "a `>`, `+` or `~` has nothing after it",
        ),
        ("EmptyNegation", "`:not()` is empty"),
        (
            "PseudoElementExpectedIdent",
            "a `::` must be followed by a name",
        ),
        (
            "NoQualifiedNameInAttributeSelector",
            "a `[` must be followed by an attribute name",
        ),
        (
            "UnexpectedTokenInAttributeSelector",
            "an attribute selector is not closed with `]`",
        ),
        (
            "InvalidState",
            "a pseudo-class is not one a page can be read with",
        ),
    ];
    plain
        .iter()
        .find(|(name, _)| detail.starts_with(name))
        .map_or_else(
            || "it is not a CSS selector".to_string(),
            |(_, words)| (*words).to_string(),
        )
}
