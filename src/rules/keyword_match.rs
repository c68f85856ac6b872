//! Whole-word keyword matching over a text column, fast enough for every row of a large
//! case.
//!
//! The rule is the regular expression [`KeywordMatcher::pattern`]: a keyword, ignoring case,
//! not preceded or followed by a letter or digit of any script. Evaluated by the regex
//! engine over tens of millions of narratives, that pattern (case-insensitive, Unicode
//! classes on both sides) was the largest single cost of detection. Bank narratives are
//! nearly always ASCII, and for ASCII text the same rule needs no regex: find every
//! occurrence of every keyword (Aho-Corasick, ASCII case folded, overlapping, so no
//! occurrence hides another) and check the byte on each side is not an ASCII letter or
//! digit. A text holding any non-ASCII byte, or a keyword list holding a non-ASCII keyword,
//! goes to the regex itself, so the answer is the regex's answer for every input; a
//! property test checks the two agree.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use polars::prelude::*;
use regex::Regex;

/// Finds `words` as whole words, ignoring case.
#[derive(Debug, Clone)]
pub struct KeywordMatcher {
    regex: Regex,
    /// `None` when a keyword is not ASCII: every text then goes to the regex.
    ascii: Option<AhoCorasick>,
}

impl KeywordMatcher {
    /// The rule, as a regular expression: each keyword (trimmed, literal) between a start
    /// of text or a character that is not a letter or digit, and an end of text or such a
    /// character, ignoring case.
    pub fn pattern(words: &[String]) -> String {
        let alternatives: Vec<String> = words.iter().map(|w| regex::escape(w.trim())).collect();
        format!(
            r"(?i)(^|[^\p{{L}}\p{{N}}])({})($|[^\p{{L}}\p{{N}}])",
            alternatives.join("|")
        )
    }

    pub fn new(words: &[String]) -> Result<Self, String> {
        let regex = Regex::new(&Self::pattern(words)).map_err(|e| e.to_string())?;
        let trimmed: Vec<&str> = words.iter().map(|w| w.trim()).collect();
        let ascii = if trimmed.iter().all(|w| w.is_ascii()) {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&trimmed)
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        Ok(KeywordMatcher { regex, ascii })
    }

    /// Whether `text` holds a keyword as a whole word.
    pub fn is_match(&self, text: &str) -> bool {
        match &self.ascii {
            Some(ac) if text.is_ascii() => {
                // Most texts hold no keyword at all: `is_match` answers that with the
                // automaton's prefilter, skipping the byte-by-byte overlapping walk.
                if !ac.is_match(text) {
                    return false;
                }
                let bytes = text.as_bytes();
                ac.find_overlapping_iter(text).any(|m| {
                    let before = m.start() == 0 || !bytes[m.start() - 1].is_ascii_alphanumeric();
                    let after = m.end() == bytes.len() || !bytes[m.end()].is_ascii_alphanumeric();
                    before && after
                })
            }
            _ => self.regex.is_match(text),
        }
    }

    /// A boolean column: whether each text holds a keyword (null text: false).
    pub fn column(&self, texts: &StringChunked) -> BooleanChunked {
        let mut out: BooleanChunked = texts
            .iter()
            .map(|t| Some(t.is_some_and(|t| self.is_match(t))))
            .collect();
        out.rename(texts.name().clone());
        out
    }

    /// The expression: whether `column` (text) holds a keyword; null text gives false.
    pub fn expr(self, column: &str) -> Expr {
        let matcher = std::sync::Arc::new(self);
        col(column).map(
            move |c: Column| {
                let texts = c.as_materialized_series().str()?.clone();
                Ok(matcher.column(&texts).into_series().into_column())
            },
            |_, field| Ok(Field::new(field.name().clone(), DataType::Boolean)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn whole_words_only_ignoring_case() {
        let m = KeywordMatcher::new(&words(&["HOTEL", "SHORT LET", "B&B"])).unwrap();
        assert!(m.is_match("Premier hotel London"));
        assert!(m.is_match("HOTEL"));
        assert!(m.is_match("card: hotel."));
        assert!(!m.is_match("HOTELS4U"));
        assert!(!m.is_match("XHOTEL"));
        assert!(m.is_match("AIRBNB SHORT LET 12"));
        assert!(!m.is_match("SHORT LETS"));
        assert!(m.is_match("the b&b"));
        // Non-ASCII text goes to the regex: a letter of another script is a letter.
        assert!(!m.is_match("ÉHOTEL"));
        assert!(m.is_match("«HOTEL»"));
        assert!(m.is_match("Café hotel"));
    }

    #[test]
    fn an_occurrence_that_fails_does_not_hide_one_that_holds() {
        // "SHORT LET" fails (S follows) where "SHORT" holds at the same place.
        let m = KeywordMatcher::new(&words(&["SHORT LET", "SHORT"])).unwrap();
        assert!(m.is_match("SHORT LETS"));
        let m = KeywordMatcher::new(&words(&["AB", "ABC"])).unwrap();
        assert!(m.is_match("ABC"));
        assert!(m.is_match("XAB AB"));
        assert!(!m.is_match("XABC ABCD"));
    }

    #[test]
    fn null_text_is_no_match() {
        let m = KeywordMatcher::new(&words(&["RENT"])).unwrap();
        let ca = StringChunked::new("d".into(), [Some("RENT MAY"), None, Some("rental")]);
        let got: Vec<Option<bool>> = m.column(&ca).iter().collect();
        assert_eq!(got, vec![Some(true), Some(false), Some(false)]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]
        /// The fast path answers as the regex does, on texts built from keyword pieces,
        /// separators, letters of either case and a few non-ASCII letters.
        #[test]
        fn agrees_with_the_regex(
            keys in prop::collection::vec("[A-Ca-c]{1,3}( [A-C]{1,2})?", 1..4),
            text in "[A-Ca-c0-9 ,.&_é\u{212A}\u{17F}-]{0,16}",
        ) {
            let m = KeywordMatcher::new(&keys).unwrap();
            let regex = Regex::new(&KeywordMatcher::pattern(&keys)).unwrap();
            prop_assert_eq!(m.is_match(&text), regex.is_match(&text), "{:?} in {:?}", keys, text);
        }
    }
}
