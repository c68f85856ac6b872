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

/// Several keyword lists matched in one pass over the text.
///
/// Every shipped keyword rule reads the counterparty name and narrative of every row, and
/// several rules share a list (five use `wages_benefits`). Matching each list separately
/// walks the same text once per rule; this walks it once for all of them. The rule for each
/// list is exactly [`KeywordMatcher`]'s: one automaton holds the keywords of every list
/// (ASCII case folded), each keyword knows which lists hold it, and an occurrence with a
/// non-alphanumeric byte (or the text's edge) on each side marks those lists. Text holding
/// a non-ASCII byte, or a list holding a non-ASCII keyword, is answered by that list's
/// regex, as in [`KeywordMatcher::is_match`].
#[derive(Debug, Clone)]
pub struct KeywordSets {
    /// One matcher per list, for the regex answer.
    lists: Vec<KeywordMatcher>,
    /// The keywords of every ASCII list; `None` when no list is ASCII.
    ascii: Option<AhoCorasick>,
    /// Per automaton pattern: the lists (bits) that hold it.
    pattern_lists: Vec<u64>,
    /// The lists answered by the automaton (bits); the others go to their regex.
    ascii_lists: u64,
}

impl KeywordSets {
    /// The most lists one pass can carry.
    pub const MAX: usize = 64;

    pub fn new(lists: &[Vec<String>]) -> Result<Self, String> {
        if lists.len() > Self::MAX {
            return Err(format!(
                "{} keyword lists given; at most {} are matched together",
                lists.len(),
                Self::MAX
            ));
        }
        let matchers = lists
            .iter()
            .map(|w| KeywordMatcher::new(w))
            .collect::<Result<Vec<_>, _>>()?;
        let mut words: Vec<(String, u64)> = Vec::new();
        let mut ascii_lists = 0u64;
        for (i, (list, m)) in lists.iter().zip(&matchers).enumerate() {
            if m.ascii.is_none() {
                continue;
            }
            ascii_lists |= 1 << i;
            for w in list {
                let key = w.trim().to_ascii_uppercase();
                match words.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, bits)) => *bits |= 1 << i,
                    None => words.push((key, 1 << i)),
                }
            }
        }
        let ascii = if words.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(words.iter().map(|(k, _)| k.as_str()))
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(KeywordSets {
            lists: matchers,
            ascii,
            pattern_lists: words.into_iter().map(|(_, bits)| bits).collect(),
            ascii_lists,
        })
    }

    /// The lists (bit `i` for list `i`) that `text` holds a keyword of, as whole words.
    pub fn lists_matched(&self, text: &str) -> u64 {
        let mut found = 0u64;
        let mut by_regex = !self.ascii_lists;
        match &self.ascii {
            Some(ac) if text.is_ascii() => {
                if ac.is_match(text) {
                    let bytes = text.as_bytes();
                    for m in ac.find_overlapping_iter(text) {
                        let bits = self.pattern_lists[m.pattern().as_usize()];
                        if bits & !found == 0 {
                            continue;
                        }
                        let before =
                            m.start() == 0 || !bytes[m.start() - 1].is_ascii_alphanumeric();
                        let after =
                            m.end() == bytes.len() || !bytes[m.end()].is_ascii_alphanumeric();
                        if before && after {
                            found |= bits;
                            if found & self.ascii_lists == self.ascii_lists {
                                break;
                            }
                        }
                    }
                }
            }
            _ => by_regex = u64::MAX,
        }
        for (i, m) in self.lists.iter().enumerate() {
            if by_regex & (1 << i) != 0 && m.regex.is_match(text) {
                found |= 1 << i;
            }
        }
        found
    }

    /// Which lists each row's `first` or `second` text holds a keyword of, as a bit mask per
    /// row (bit `i` for list `i`; null text: no list), in a `UInt64` column named `name`. One
    /// column for every list; [`super::prepare::add_keyword_columns`] reads each list's
    /// boolean column off its bit. The rows are split between the machine's cores, each
    /// writing its own stretch of the column.
    pub fn mask_column(
        &self,
        first: &StringChunked,
        second: &StringChunked,
        name: PlSmallStr,
    ) -> PolarsResult<Column> {
        polars_ensure!(
            first.len() == second.len(),
            ComputeError: "keyword columns: {} and {} texts", first.len(), second.len()
        );
        let n = first.len();
        let parts = std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .clamp(1, 8)
            .min(n.max(1));
        let size = n.div_ceil(parts.max(1)).max(1);
        let mut masks = vec![0u64; n];
        std::thread::scope(|scope| {
            let handles: Vec<_> = masks
                .chunks_mut(size)
                .enumerate()
                .map(|(part, out)| {
                    let start = part * size;
                    let a = first.slice(start as i64, out.len());
                    let b = second.slice(start as i64, out.len());
                    scope.spawn(move || {
                        for ((slot, x), y) in out.iter_mut().zip(a.iter()).zip(b.iter()) {
                            // A counterparty name is often the narrative itself: read it once.
                            *slot = match (x, y) {
                                (Some(x), Some(y)) if x == y => self.lists_matched(x),
                                _ => {
                                    x.map_or(0, |t| self.lists_matched(t))
                                        | y.map_or(0, |t| self.lists_matched(t))
                                }
                            };
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join())
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(|_| polars_err!(ComputeError: "a keyword matching thread failed"))?;
        Ok(UInt64Chunked::from_vec(name, masks)
            .into_series()
            .into_column())
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

    #[test]
    fn several_lists_in_one_pass_answer_as_each_list_alone() {
        let lists = vec![
            words(&["HOTEL", "SHORT LET"]),
            words(&["SHORT", "COACH"]),
            words(&["hotel"]),
            words(&["CAFÉ"]),
        ];
        let sets = KeywordSets::new(&lists).unwrap();
        let texts = [
            "Premier Hotel",
            "SHORT LETS",
            "short let coach",
            "café hotel",
            "CAFÉ",
            "COACHES",
            "",
        ];
        let want = [0b0101, 0b0010, 0b0011, 0b1101, 0b1000, 0b0000, 0b0000];
        for (t, w) in texts.iter().zip(want) {
            assert_eq!(sets.lists_matched(t), w, "{t:?}");
        }
        let a = StringChunked::new(
            "a".into(),
            [Some("HOTEL"), None, Some("x"), None, Some("short let")],
        );
        let b = StringChunked::new(
            "b".into(),
            [None, Some("coach"), Some("café"), None, Some("short let")],
        );
        let column = sets.mask_column(&a, &b, "kw".into()).unwrap();
        let got: Vec<Option<u64>> = column.u64().unwrap().iter().collect();
        // Row 0: HOTEL (lists 0 and 2); row 1: coach (list 1); row 2: café (list 3); row 4,
        // the same text twice (read once): lists 0 and 1.
        assert_eq!(
            got,
            [
                Some(0b0101),
                Some(0b0010),
                Some(0b1000),
                Some(0),
                Some(0b0011)
            ]
        );
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

        /// Lists matched together answer as each list matched alone.
        #[test]
        fn lists_together_agree_with_each_alone(
            lists in prop::collection::vec(
                prop::collection::vec("[A-Ca-c]{1,3}( [A-C]{1,2})?|é[ab]", 1..4), 1..5),
            text in "[A-Ca-c0-9 ,.&_é\u{212A}\u{17F}-]{0,16}",
        ) {
            let sets = KeywordSets::new(&lists).unwrap();
            let got = sets.lists_matched(&text);
            for (i, list) in lists.iter().enumerate() {
                let alone = KeywordMatcher::new(list).unwrap().is_match(&text);
                prop_assert_eq!(got & (1 << i) != 0, alone, "list {:?} in {:?}", list, text);
            }
        }
    }
}
