//! Rule files as written: the serde types and a checked deserialiser whose errors name
//! the key and list what is valid.
//!
//! A rule file is TOML with one or more `[[rule]]` tables. Each table is read into a
//! [`RawRule`]; its `params` stay a TOML table here and are checked by the rule's kind
//! (see `compile`). Unknown keys are errors, never ignored: a misspelt threshold that
//! silently fell back to its default would change what the engine reports.

use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Serialize};

use crate::ledger::Channel;

/// How serious a finding of this rule is, in the investigator's judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    /// The word used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One `[[rule]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Stable identifier, e.g. `STR-001`.
    pub id: String,
    /// Short title.
    pub name: String,
    /// Bumped whenever the rule's meaning or defaults change.
    pub version: u32,
    /// The rule kind implemented in Rust, e.g. `cash_structuring`.
    pub kind: String,
    /// Plain-language description: the words a court reads.
    pub description: String,
    /// The guidance the rule follows.
    pub basis: Vec<String>,
    pub severity: Severity,
    /// Parameters for the kind; checked by the kind.
    #[serde(default)]
    pub params: toml::Table,
    /// Which rows the rule looks at; read into [`RawScope`] separately so its errors
    /// name the scope key.
    #[serde(default)]
    pub scope: toml::Table,
}

/// `[rule.scope]`: which ledger rows a rule looks at.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScope {
    /// Channels; when absent, the kind's own default applies.
    #[serde(default)]
    pub channels: Option<Vec<Channel>>,
    /// Case account keys; empty = every account.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Case subject ids: the accounts they control; empty = every subject.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// First booking date looked at (inclusive): a TOML date `2024-01-31` (read as text).
    #[serde(default)]
    pub from: Option<String>,
    /// Last booking date looked at (inclusive).
    #[serde(default)]
    pub to: Option<String>,
}

/// The field names serde expects for a struct, read from its `Deserialize` impl so the
/// list in an error message can never drift from the code.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut recorder = FieldRecorder(None);
    let _ = T::deserialize(&mut recorder);
    recorder.0.unwrap_or(&[])
}

struct FieldRecorder(Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for &mut FieldRecorder {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("field recorder"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(serde::de::Error::custom("field recorder"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// What went wrong reading a table into a typed struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableError {
    /// A key the struct does not have.
    Unknown { key: String, valid: Vec<String> },
    /// A key whose value has the wrong type (serde's words).
    WrongType { key: String, message: String },
    /// A required key is missing, or another whole-table problem.
    Other(String),
}

/// Deserialise a TOML table into `T`, refusing unknown keys and attributing a type error
/// to the key that caused it. `T` must be `deny_unknown_fields`.
pub fn from_table<T: DeserializeOwned>(table: &toml::Table) -> Result<T, TableError> {
    let valid = field_names::<T>();
    for key in table.keys() {
        if !valid.contains(&key.as_str()) {
            return Err(TableError::Unknown {
                key: key.clone(),
                valid: valid.iter().map(|s| s.to_string()).collect(),
            });
        }
    }
    match toml::Value::Table(table.clone()).try_into::<T>() {
        Ok(v) => Ok(v),
        Err(whole) => {
            // Find the key responsible: try each key on its own. A struct with required
            // keys fails a one-key table with "missing field", which is not this key's fault.
            for (key, value) in table {
                let mut one = toml::Table::new();
                one.insert(key.clone(), value.clone());
                if let Err(e) = toml::Value::Table(one).try_into::<T>() {
                    let message = clean_serde_message(&e.to_string());
                    // toml appends the key's path; the caller names the key itself.
                    let message = message
                        .strip_suffix(&format!(" in `{key}`"))
                        .map_or(message.clone(), str::to_string);
                    if !message.starts_with("missing field") {
                        return Err(TableError::WrongType {
                            key: key.clone(),
                            message,
                        });
                    }
                }
            }
            let message = clean_serde_message(&whole.to_string());
            if let Some(rest) = message.strip_prefix("missing field ") {
                return Err(TableError::Other(format!("missing key {rest}")));
            }
            Err(TableError::Other(message))
        }
    }
}

/// serde's message without toml's trailing location noise.
fn clean_serde_message(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_serde() {
        let names = field_names::<RawScope>();
        assert_eq!(names, &["channels", "accounts", "subjects", "from", "to"]);
    }

    #[test]
    fn type_errors_name_the_key() {
        let t: toml::Table = toml::from_str("accounts = 3\nfrom = 2024-01-01").unwrap();
        let e = from_table::<RawScope>(&t).unwrap_err();
        match e {
            TableError::WrongType { key, .. } => assert_eq!(key, "accounts"),
            other => panic!("{other:?}"),
        }
    }
}
