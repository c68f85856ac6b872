//! Rule files → compiled rules.
//!
//! A file's text is parsed as TOML, each `[[rule]]` is read into a [`RawRule`] (unknown
//! keys refused), its `kind` is looked up in the registry, its `params` are checked by
//! that kind and its `scope` is resolved. Every error names the file, the rule id and
//! the key, and says what would be valid. The result is a [`Rule`] whose detector is
//! ready to run and whose parameters, with defaults filled in, can be printed.

use chrono::NaiveDate;

use super::kind::Detector;
use super::registry;
use super::spec::{from_table, RawRule, RawScope, Severity, TableError};
use super::RuleError;
use crate::hash::sha256_hex;
use crate::ledger::Channel;

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub version: u32,
    /// The kind's name (see `registry::KINDS`).
    pub kind: &'static str,
    pub description: String,
    pub basis: Vec<String>,
    pub severity: Severity,
    /// Where the rule was defined: a path, e.g. `rules/typologies/structuring.toml`.
    pub origin: String,
    /// SHA-256 of the rule file's text.
    pub file_sha256: String,
    pub scope: Scope,
    pub detector: Box<dyn Detector>,
}

impl Rule {
    /// Parameters in effect (defaults filled in), as `(name, TOML value)`.
    pub fn params(&self) -> Vec<(String, String)> {
        self.detector.params_in_effect()
    }
}

/// Which ledger rows a rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Channels looked at; `None` = every channel.
    pub channels: Option<Vec<Channel>>,
    /// Whether `channels` is the kind's default rather than the rule's own choice.
    pub channels_by_default: bool,
    /// Case account keys; empty = every account.
    pub accounts: Vec<String>,
    /// Case subject ids; empty = every subject.
    pub subjects: Vec<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Scope {
    /// One line for a reader.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        parts.push(match &self.channels {
            None => "every channel".to_string(),
            Some(c) => format!(
                "channels {}{}",
                c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
                if self.channels_by_default {
                    " (the kind's default)"
                } else {
                    ""
                }
            ),
        });
        if self.accounts.is_empty() && self.subjects.is_empty() {
            parts.push("every account".to_string());
        }
        if !self.accounts.is_empty() {
            parts.push(format!("accounts {}", self.accounts.join(", ")));
        }
        if !self.subjects.is_empty() {
            parts.push(format!(
                "accounts controlled by {}",
                self.subjects.join(", ")
            ));
        }
        match (self.from, self.to) {
            (None, None) => parts.push("every date".to_string()),
            (Some(f), None) => parts.push(format!("from {f}")),
            (None, Some(t)) => parts.push(format!("to {t}")),
            (Some(f), Some(t)) => parts.push(format!("{f} to {t}")),
        }
        parts.join("; ")
    }
}

/// Compile every rule in a rule file's text. `origin` names the file in errors.
pub fn compile_file(text: &str, origin: &str) -> Result<Vec<Rule>, RuleError> {
    let file_err = |message: String| RuleError::File {
        origin: origin.to_string(),
        message,
    };
    let top: toml::Table = toml::from_str(text).map_err(|e| file_err(one_line(&e.to_string())))?;
    for key in top.keys() {
        if key != "rule" {
            return Err(file_err(format!(
                "unknown top-level key `{key}`; a rule file holds only [[rule]] tables"
            )));
        }
    }
    let tables = match top.get("rule") {
        Some(toml::Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            return Err(file_err(
                "`rule` must be an array of tables: write each rule as [[rule]]".into(),
            ))
        }
        None => return Err(file_err("holds no rules; add a [[rule]] table".into())),
    };
    let sha = sha256_hex(text.as_bytes());
    let mut rules: Vec<Rule> = Vec::new();
    for (i, item) in tables.iter().enumerate() {
        let label = item
            .get("id")
            .and_then(toml::Value::as_str)
            .map_or_else(|| format!("#{} (no id)", i + 1), str::to_string);
        let rule_err = |message: String| RuleError::Rule {
            origin: origin.to_string(),
            rule: label.clone(),
            message,
        };
        let Some(table) = item.as_table() else {
            return Err(rule_err("must be a table: write it as [[rule]]".into()));
        };
        let raw: RawRule = from_table(table).map_err(|e| {
            rule_err(match e {
                TableError::Unknown { key, valid } => {
                    format!("unknown key `{key}`; valid keys: {}", valid.join(", "))
                }
                TableError::WrongType { key, message } => {
                    format!("key `{key}` is not valid: {message}")
                }
                TableError::Other(m) => m,
            })
        })?;
        let rule = compile_rule(raw, origin, &sha).map_err(rule_err)?;
        if let Some(prev) = rules.iter().find(|r| r.id == rule.id) {
            return Err(rule_err(format!(
                "id {} is used twice in this file (first by {:?}); rule ids must be unique",
                rule.id, prev.name
            )));
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn compile_rule(raw: RawRule, origin: &str, sha: &str) -> Result<Rule, String> {
    if !id_is_valid(&raw.id) {
        return Err(format!(
            "`id` {:?} is not valid; use two to five capital letters, a hyphen and three digits, e.g. \"STR-001\"",
            raw.id
        ));
    }
    if raw.version == 0 {
        return Err(
            "`version` must be 1 or more; bump it whenever the rule's meaning or defaults change"
                .into(),
        );
    }
    for (key, value) in [("name", &raw.name), ("description", &raw.description)] {
        if value.trim().is_empty() {
            return Err(format!("`{key}` must not be empty"));
        }
    }
    if raw.basis.is_empty() || raw.basis.iter().any(|b| b.trim().is_empty()) {
        return Err("`basis` must list at least one guidance document, e.g. [\"FATF Recommendations (2012, as amended)\"]".into());
    }
    let Some(kind) = registry::kind(&raw.kind) else {
        return Err(format!(
            "unknown kind `{}`; valid kinds: {}",
            raw.kind,
            registry::KINDS
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let detector = kind.compile(&raw.params).map_err(|e| e.to_string())?;
    let scope: RawScope = from_table(&raw.scope).map_err(|e| match e {
        TableError::Unknown { key, valid } => format!(
            "unknown scope key `{key}`; valid scope keys: {}",
            valid.join(", ")
        ),
        TableError::WrongType { key, message } => {
            format!("scope key `{key}` is not valid: {message}")
        }
        TableError::Other(m) => format!("scope: {m}"),
    })?;
    let date = |key: &str, v: &Option<String>| -> Result<Option<NaiveDate>, String> {
        match v {
            None => Ok(None),
            Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| {
                    format!("scope key `{key}` must be a plain date like 2024-01-31, found {text}")
                }),
        }
    };
    let from = date("from", &scope.from)?;
    let to = date("to", &scope.to)?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(format!("scope `from` ({f}) is after `to` ({t})"));
        }
    }
    let (channels, channels_by_default) = match scope.channels {
        Some(c) if c.is_empty() => {
            return Err("scope key `channels` is empty; leave it out to use the kind's default, or list channels".into())
        }
        Some(c) => (Some(c), false),
        None => (kind.default_channels().map(<[Channel]>::to_vec), true),
    };
    Ok(Rule {
        id: raw.id,
        name: raw.name.trim().to_string(),
        version: raw.version,
        kind: kind.name(),
        description: raw.description.trim().to_string(),
        basis: raw.basis,
        severity: raw.severity,
        origin: origin.to_string(),
        file_sha256: sha.to_string(),
        scope: Scope {
            channels,
            channels_by_default,
            accounts: scope.accounts,
            subjects: scope.subjects,
            from,
            to,
        },
        detector,
    })
}

/// `STR-001`: 2–5 capital letters, a hyphen, three digits.
pub fn id_is_valid(id: &str) -> bool {
    let Some((letters, digits)) = id.split_once('-') else {
        return false;
    };
    (2..=5).contains(&letters.len())
        && letters.chars().all(|c| c.is_ascii_uppercase())
        && digits.len() == 3
        && digits.chars().all(|c| c.is_ascii_digit())
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}
