//! Counterparties: names read from narratives where the layout left them empty, and a
//! normalised `counterparty_key` on every row that names a counterparty.
//!
//! The patterns and the normalisation word lists are data, in `rules/counterparties.toml`
//! (built into the binary; a case may name another file), compiled once into
//! [`CounterpartyRules`]. A row keeps what its layout gave; only empty fields are filled,
//! and `counterparty_rule` names the pattern that filled them, so every derived name can
//! be traced to a rule. The narrative itself (`description`) is never changed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use polars::prelude::*;
use regex::{CaptureLocations, Regex, RegexBuilder};
use serde::Deserialize;

use super::frame::{set_column, text_column};
use super::{added_col, VerifyError};
use crate::hash::sha256_hex;
use crate::ledger::col;

/// The shipped rules file.
pub const SHIPPED_ORIGIN: &str = "rules/counterparties.toml";
const SHIPPED: &str = include_str!("../../rules/counterparties.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    rules: RawHeader,
    normalise: RawNormalise,
    #[serde(default)]
    patterns: Vec<RawPattern>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    version: u32,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNormalise {
    #[serde(default)]
    drop_leading: Vec<String>,
    #[serde(default)]
    drop_trailing: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    id: String,
    pattern: String,
    #[serde(default)]
    direction: Direction,
}

/// Which rows a pattern applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Any,
    Credit,
    Debit,
}

/// A compiled narrative pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub id: String,
    pub direction: Direction,
    regex: Regex,
    /// Where each of [`GROUPS`] (`counterparty`, `counterparty_account`, `location`) is in
    /// the pattern, if it has it.
    groups: [Option<usize>; 3],
}

/// What a pattern read from a narrative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarrativeMatch<'r> {
    pub rule_id: &'r str,
    pub counterparty: Option<String>,
    pub counterparty_account: Option<String>,
    pub location: Option<String>,
}

/// Compiled counterparty rules.
#[derive(Debug, Clone)]
pub struct CounterpartyRules {
    /// Where the rules came from (`rules/counterparties.toml` or the case's file).
    pub origin: String,
    pub version: u32,
    pub sha256: String,
    leading: Vec<Vec<String>>,
    trailing: Vec<Vec<String>>,
    pub patterns: Vec<Pattern>,
}

const GROUPS: [&str; 3] = ["counterparty", "counterparty_account", "location"];

impl CounterpartyRules {
    /// The shipped rules, compiled once per process.
    pub fn shipped() -> Result<&'static CounterpartyRules, VerifyError> {
        static RULES: OnceLock<Result<CounterpartyRules, String>> = OnceLock::new();
        RULES
            .get_or_init(|| {
                CounterpartyRules::from_toml(SHIPPED_ORIGIN, SHIPPED).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|problem| VerifyError::BadCounterpartyRules {
                file: SHIPPED_ORIGIN.into(),
                problem: problem.clone(),
            })
    }

    /// Read and compile a rules file.
    pub fn load(path: &Path) -> Result<CounterpartyRules, VerifyError> {
        let text = std::fs::read_to_string(path).map_err(|source| VerifyError::Unreadable {
            file: path.display().to_string(),
            source,
        })?;
        CounterpartyRules::from_toml(&path.display().to_string(), &text)
    }

    /// Compile rules from TOML text; `origin` names the file in errors.
    pub fn from_toml(origin: &str, text: &str) -> Result<CounterpartyRules, VerifyError> {
        let bad = |problem: String| VerifyError::BadCounterpartyRules {
            file: origin.to_string(),
            problem,
        };
        let raw: RawRules = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let phrases = |key: &str, list: &[String]| -> Result<Vec<Vec<String>>, VerifyError> {
            list.iter()
                .enumerate()
                .map(|(i, p)| {
                    let words: Vec<String> = p.split_whitespace().map(str::to_uppercase).collect();
                    if words.is_empty() {
                        Err(bad(format!("`normalise.{key}[{i}]` is empty")))
                    } else {
                        Ok(words)
                    }
                })
                .collect()
        };
        let leading = phrases("drop_leading", &raw.normalise.drop_leading)?;
        let trailing = phrases("drop_trailing", &raw.normalise.drop_trailing)?;
        let mut patterns = Vec::with_capacity(raw.patterns.len());
        for (i, p) in raw.patterns.into_iter().enumerate() {
            if p.id.trim().is_empty() {
                return Err(bad(format!(
                    "`patterns[{i}].id` is empty; give each pattern an id"
                )));
            }
            if patterns.iter().any(|q: &Pattern| q.id == p.id) {
                return Err(bad(format!(
                    "pattern id {:?} is used twice; ids must be unique",
                    p.id
                )));
            }
            let regex = RegexBuilder::new(&p.pattern)
                .case_insensitive(true)
                .build()
                .map_err(|e| bad(format!("pattern {:?} is not a valid regex: {e}", p.id)))?;
            let names: Vec<&str> = regex.capture_names().flatten().collect();
            if let Some(other) = names.iter().find(|n| !GROUPS.contains(n)) {
                return Err(bad(format!(
                    "pattern {:?} has a group named {other:?}; valid names are {}",
                    p.id,
                    GROUPS.join(", ")
                )));
            }
            if names.is_empty() {
                return Err(bad(format!(
                    "pattern {:?} captures nothing; add a named group (?P<counterparty>...), (?P<counterparty_account>...) or (?P<location>...)",
                    p.id
                )));
            }
            let groups = GROUPS.map(|g| regex.capture_names().position(|n| n == Some(g)));
            patterns.push(Pattern {
                id: p.id,
                direction: p.direction,
                regex,
                groups,
            });
        }
        Ok(CounterpartyRules {
            origin: origin.to_string(),
            version: raw.rules.version,
            sha256: sha256_hex(text.as_bytes()),
            leading,
            trailing,
            patterns,
        })
    }

    /// The normalised key of a counterparty name; `None` when nothing is left of it.
    pub fn normalise(&self, name: &str) -> Option<String> {
        let mut cleaned = String::with_capacity(name.len() + 8);
        for c in name.chars().flat_map(char::to_uppercase) {
            match c {
                '&' => cleaned.push_str(" AND "),
                '\'' | '\u{2019}' | '\u{2018}' | '`' => {}
                c if c.is_alphanumeric() => cleaned.push(c),
                _ => cleaned.push(' '),
            }
        }
        let mut words: Vec<&str> = cleaned.split_whitespace().collect();
        let mut changed = true;
        while changed {
            changed = false;
            for p in &self.leading {
                if words.len() > p.len() && words[..p.len()].iter().zip(p).all(|(w, q)| *w == q) {
                    words.drain(..p.len());
                    changed = true;
                    break;
                }
            }
        }
        changed = true;
        while changed {
            changed = false;
            for p in &self.trailing {
                let n = words.len();
                if n > p.len() && words[n - p.len()..].iter().zip(p).all(|(w, q)| *w == q) {
                    words.truncate(n - p.len());
                    changed = true;
                    break;
                }
            }
        }
        if words.is_empty() {
            None
        } else {
            Some(words.join(" "))
        }
    }

    /// The first pattern that matches a narrative (for money in when `credit`).
    pub fn read_narrative(&self, description: &str, credit: bool) -> Option<NarrativeMatch<'_>> {
        self.read_narrative_into(description, credit, &mut self.capture_slots())
    }

    /// Room for each pattern's captures, made once and reused for every narrative
    /// ([`CounterpartyRules::read_narrative_into`]).
    pub fn capture_slots(&self) -> Vec<CaptureLocations> {
        self.patterns
            .iter()
            .map(|p| p.regex.capture_locations())
            .collect()
    }

    /// [`CounterpartyRules::read_narrative`] with the captures' room given
    /// ([`CounterpartyRules::capture_slots`]), so no row allocates it.
    pub fn read_narrative_into(
        &self,
        description: &str,
        credit: bool,
        slots: &mut [CaptureLocations],
    ) -> Option<NarrativeMatch<'_>> {
        for (p, slot) in self.patterns.iter().zip(slots.iter_mut()) {
            let applies = match p.direction {
                Direction::Any => true,
                Direction::Credit => credit,
                Direction::Debit => !credit,
            };
            if !applies {
                continue;
            }
            if p.regex.captures_read(slot, description).is_some() {
                let group = |k: usize| {
                    p.groups[k]
                        .and_then(|g| slot.get(g))
                        .map(|(start, end)| description[start..end].trim().to_string())
                        .filter(|s| !s.is_empty())
                };
                return Some(NarrativeMatch {
                    rule_id: &p.id,
                    counterparty: group(0),
                    counterparty_account: group(1),
                    location: group(2),
                });
            }
        }
        None
    }
}

/// The counterparty columns after this step, and what was filled.
#[derive(Debug, Clone)]
pub struct Parties {
    /// `counterparty_name`, `counterparty_account`, `location`, `counterparty_key` and
    /// `counterparty_rule`, built as text columns as the rows are read (never held as a
    /// `String` per row).
    pub columns: [Column; 5],
    /// Rows filled by each pattern id.
    pub filled_by_rule: BTreeMap<String, usize>,
    /// Distinct keys in the ledger.
    pub distinct_keys: usize,
}

impl Parties {
    /// Write the columns into the ledger.
    pub fn apply(&self, mut ledger: DataFrame) -> Result<DataFrame, VerifyError> {
        for column in &self.columns {
            set_column(&mut ledger, column.clone())?;
        }
        Ok(ledger)
    }
}

/// A text column built row by row; one null column, allocated zeroed and never written,
/// when no row has a value (a case whose sources give no counterparty account, say).
struct TextOut {
    rows: StringChunkedBuilder,
    any: bool,
}

impl TextOut {
    fn new(name: &str, n: usize) -> Self {
        TextOut {
            rows: StringChunkedBuilder::new(name.into(), n),
            any: false,
        }
    }

    fn push(&mut self, value: Option<&str>) {
        self.any |= value.is_some();
        self.rows.append_option(value);
    }

    fn finish(self) -> Column {
        let column = self.rows.finish();
        if self.any {
            column.into_column()
        } else {
            StringChunked::full_null(column.name().clone(), column.len()).into_column()
        }
    }
}

/// Fill empty counterparty fields from narratives and normalise every name.
pub(crate) fn apply(rules: &CounterpartyRules, ledger: &DataFrame) -> Result<Parties, VerifyError> {
    // The columns are walked row by row together, not copied out first (a reference a row
    // for each of four texts and a 128-bit amount: 960 MB at 10M rows).
    let text = |name: &str| text_column(ledger, name);
    let names = text(col::COUNTERPARTY_NAME)?;
    let accounts = text(col::COUNTERPARTY_ACCOUNT)?;
    let locations = text(col::LOCATION)?;
    let descriptions = text(col::DESCRIPTION)?;
    let amounts = super::frame::minor_units(ledger, col::AMOUNT)?;
    let n = ledger.height();
    let mut name_out = TextOut::new(col::COUNTERPARTY_NAME, n);
    let mut account_out = TextOut::new(col::COUNTERPARTY_ACCOUNT, n);
    let mut location_out = TextOut::new(col::LOCATION, n);
    let mut key_out = TextOut::new(added_col::COUNTERPARTY_KEY, n);
    let mut rule_out = TextOut::new(added_col::COUNTERPARTY_RULE, n);
    let mut filled_by_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut keys: foldhash::HashMap<String, Option<String>> = Default::default();
    let mut slots = rules.capture_slots();
    let rows = names
        .iter()
        .zip(accounts.iter())
        .zip(locations.iter())
        .zip(descriptions.iter())
        .zip(amounts.iter());
    for ((((name, account), location), description), amount) in rows {
        let mut name = name.map(std::borrow::Cow::Borrowed);
        let mut account = account.map(std::borrow::Cow::Borrowed);
        let mut location = location.map(std::borrow::Cow::Borrowed);
        let mut rule = None;
        if name.is_none() || account.is_none() || location.is_none() {
            let credit = amount.is_some_and(|a| a > 0);
            if let Some(m) =
                description.and_then(|d| rules.read_narrative_into(d, credit, &mut slots))
            {
                let mut filled = false;
                for (slot, value) in [
                    (&mut name, m.counterparty),
                    (&mut account, m.counterparty_account),
                    (&mut location, m.location),
                ] {
                    if slot.is_none() && value.is_some() {
                        *slot = value.map(std::borrow::Cow::Owned);
                        filled = true;
                    }
                }
                if filled {
                    *filled_by_rule.entry(m.rule_id.to_string()).or_default() += 1;
                    rule = Some(m.rule_id);
                }
            }
        }
        let key = match name.as_deref() {
            Some(nm) => match keys.get(nm) {
                Some(k) => k.as_deref(),
                None => {
                    let k = rules.normalise(nm);
                    keys.entry(nm.to_string()).or_insert(k).as_deref()
                }
            },
            None => None,
        };
        key_out.push(key);
        name_out.push(name.as_deref());
        account_out.push(account.as_deref());
        location_out.push(location.as_deref());
        rule_out.push(rule);
    }
    let distinct: std::collections::HashSet<&str> =
        keys.values().flatten().map(String::as_str).collect();
    Ok(Parties {
        columns: [
            name_out.finish(),
            account_out.finish(),
            location_out.finish(),
            key_out.finish(),
            rule_out.finish(),
        ],
        filled_by_rule,
        distinct_keys: distinct.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_rules_compile_and_read_uk_narratives() {
        let r = CounterpartyRules::shipped().unwrap();
        let m = r.read_narrative("FPI JOHN SMITH REF 1234", true).unwrap();
        assert_eq!(
            (m.rule_id, m.counterparty.as_deref()),
            ("faster-payment", Some("JOHN SMITH"))
        );
        let m = r.read_narrative("BGC NORTHGATE LOGISTICS", true).unwrap();
        assert_eq!(
            (m.rule_id, m.counterparty.as_deref()),
            ("bank-giro-credit", Some("NORTHGATE LOGISTICS"))
        );
        let m = r
            .read_narrative("CASH DEPOSIT LEEDS BRIGGATE", true)
            .unwrap();
        assert_eq!(m.rule_id, "cash-deposit");
        assert_eq!(
            (m.counterparty, m.location.as_deref()),
            (None, Some("LEEDS BRIGGATE"))
        );
        // Cash deposit patterns are for money in only.
        assert!(r
            .read_narrative("CASH DEPOSIT LEEDS BRIGGATE", false)
            .is_none());
        let m = r
            .read_narrative("FPO DORIAN HARLOW 309457 11223344 REF FX0309", false)
            .unwrap();
        assert_eq!(m.counterparty.as_deref(), Some("DORIAN HARLOW"));
        assert_eq!(m.counterparty_account.as_deref(), Some("309457 11223344"));
        let m = r.read_narrative("LINK ATM LEEDS BRIGGATE", false).unwrap();
        assert_eq!(m.location.as_deref(), Some("LEEDS BRIGGATE"));
        assert!(r.read_narrative("CARD ALDI LEEDS", false).is_none());
    }

    #[test]
    fn keys_drop_titles_and_legal_forms() {
        let r = CounterpartyRules::shipped().unwrap();
        let k = |s: &str| r.normalise(s);
        assert_eq!(k("Mr. John  Smith").as_deref(), Some("JOHN SMITH"));
        assert_eq!(
            k("NORTHGATE LOGISTICS LTD.").as_deref(),
            Some("NORTHGATE LOGISTICS")
        );
        assert_eq!(
            k("Northgate Logistics Limited").as_deref(),
            Some("NORTHGATE LOGISTICS")
        );
        assert_eq!(k("Hallam & Co").as_deref(), Some("HALLAM"));
        assert_eq!(k("O'Brien-Kelly Ltd").as_deref(), Some("OBRIEN KELLY"));
        assert_eq!(k("Dr").as_deref(), Some("DR"));
        assert_eq!(k("LTD").as_deref(), Some("LTD"));
        assert_eq!(k(" - ").as_deref(), None);
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let base = "[rules]\nversion = 1\n[normalise]\n";
        let e = CounterpartyRules::from_toml(
            "x.toml",
            &format!("{base}[[patterns]]\nid = \"a\"\npattern = '^FPI (?P<payer>.+)$'\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("x.toml") && e.contains("\"payer\""), "{e}");
        let e = CounterpartyRules::from_toml(
            "x.toml",
            &format!("{base}[[patterns]]\nid = \"a\"\npattern = '^FPI'\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("captures nothing"), "{e}");
        let e = CounterpartyRules::from_toml(
            "x.toml",
            &format!("{base}[[patterns]]\nid = \"a\"\npatern = '^FPI'\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("patern"), "{e}");
    }
}
