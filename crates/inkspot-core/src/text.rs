//! Small text helpers shared by the modules that echo untrusted text.

/// `s` cut to at most `max` characters, with `…` appended when it was cut.
pub fn ellipsize(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("abc", 3, "abc")]
    #[case("abcd", 3, "abc…")]
    #[case("ééé", 3, "ééé")]
    #[case("éééé", 3, "ééé…")]
    #[case("", 0, "")]
    fn cuts_by_characters(#[case] s: &str, #[case] max: usize, #[case] expect: &str) {
        assert_eq!(ellipsize(s, max), expect);
    }
}
