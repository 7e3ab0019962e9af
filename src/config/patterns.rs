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
        let selector = scraper::Selector::parse(source)
            .map_err(|e| format!("invalid CSS selector `{source}`: {e}"))?;
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
