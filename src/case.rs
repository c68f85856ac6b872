//! The case file: what an investigator declares about a case, parsed and then resolved.
//!
//! `case.toml` is read into [`RawCase`] (serde, unknown keys rejected) and resolved once
//! into a [`Case`] whose paths exist inside the case folder, whose dates are consistent,
//! whose account and subject keys are unique and whose every reference (source → account,
//! account → controlling subject) points at something declared. The rest of the program
//! never re-checks these facts. Errors name the file, the key and what would be valid.

use chrono::NaiveDate;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use crate::money::is_currency_code;

/// A problem with the case file. Each message names the key and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("cannot read case file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("case file {path} is not valid: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("case file {path}: `{key}` {problem}")]
    Invalid {
        path: PathBuf,
        key: String,
        problem: String,
    },
}

/// Options that relax the case-folder checks; each must be asked for explicitly.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolveOptions {
    /// Allow source and reference paths outside the case folder (absolute, `..`, symlinks out).
    pub allow_outside_case_dir: bool,
}

/// The case file as written. See `docs/case-file.md`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCase {
    pub case: RawCaseHeader,
    pub dates: RawDates,
    #[serde(default)]
    pub subjects: Vec<RawSubject>,
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
    #[serde(default)]
    pub sources: Vec<RawSource>,
    #[serde(default)]
    pub reference: RawReference,
    #[serde(default)]
    pub rules: RawRules,
    /// Extra layout files (relative to the case file) beside the shipped ones.
    #[serde(default)]
    pub layouts: Vec<String>,
    /// `[verify]`: parameters of the verification stage.
    #[serde(default)]
    pub verify: crate::verify::VerifyOptions,
    /// `[tracing]`: what is tainted and what the investigator asks about.
    #[serde(default)]
    pub tracing: Option<crate::trace::TaintSpec>,
    /// `[schedule]`: what the investigator decides for the confiscation schedules. Checked
    /// here (unknown keys refused) and read by `confiscation::ReferenceData::load`.
    #[serde(default)]
    pub schedule: crate::confiscation::ScheduleOptions,
}

/// `[case]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCaseHeader {
    pub reference: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default = "default_base_currency")]
    pub base_currency: String,
    #[serde(default = "default_jurisdiction")]
    pub jurisdiction: String,
    pub lifestyle: bool,
    #[serde(default)]
    pub investigator: Option<String>,
}

fn default_base_currency() -> String {
    "GBP".to_string()
}
fn default_jurisdiction() -> String {
    "uk-poca-2002".to_string()
}

/// `[dates]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDates {
    pub proceedings_started: toml::value::Datetime,
    #[serde(default)]
    pub conviction: Option<toml::value::Datetime>,
    #[serde(default)]
    pub valuation: Option<toml::value::Datetime>,
}

/// `[[subjects]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSubject {
    pub id: String,
    pub name: String,
    pub role: SubjectRole,
    #[serde(default)]
    pub date_of_birth: Option<toml::value::Datetime>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A subject's part in the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectRole {
    Defendant,
    Associate,
    ThirdParty,
}

/// `[[accounts]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    pub id: String,
    pub holder: String,
    pub bank: String,
    #[serde(default)]
    pub sort_code: Option<String>,
    #[serde(default)]
    pub account_number: Option<String>,
    #[serde(default)]
    pub iban: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub kind: AccountKind,
    #[serde(default)]
    pub business_type: Option<String>,
    #[serde(default)]
    pub controlled_by: Vec<String>,
}

/// Personal or business account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    #[default]
    Personal,
    Business,
    /// A money service business customer record (transfers sent or received through an
    /// agent); identifiers are optional.
    Msb,
}

/// `[[sources]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub path: String,
    pub layout: String,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub exhibit: Option<String>,
    #[serde(default)]
    pub produced_by: Option<String>,
}

/// `[reference]`: reference-data files used by later stages.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReference {
    pub rates: Option<String>,
    pub price_index: Option<String>,
    pub assets: Option<String>,
    pub gifts: Option<String>,
    pub declared_turnover: Option<String>,
    pub legitimate_sources: Option<String>,
    pub period_balances: Option<String>,
}

/// `[rules]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    #[serde(default)]
    pub sets: Vec<String>,
}

/// A resolved, validated case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case file itself.
    pub path: PathBuf,
    /// Folder the case file is in; every relative path is resolved from here.
    pub dir: PathBuf,
    pub reference: String,
    pub title: Option<String>,
    pub base_currency: String,
    pub jurisdiction: String,
    pub lifestyle: bool,
    pub investigator: Option<String>,
    pub proceedings_started: NaiveDate,
    pub conviction: Option<NaiveDate>,
    pub valuation: Option<NaiveDate>,
    pub subjects: Vec<Subject>,
    pub accounts: Vec<Account>,
    pub sources: Vec<Source>,
    pub reference_data: Vec<ReferenceFile>,
    pub rule_sets: Vec<String>,
    pub layout_files: Vec<CasePath>,
    /// Parameters of the verification stage.
    pub verify: crate::verify::VerifyOptions,
    /// The tracing specification, if the case asks for tracing.
    pub tracing: Option<crate::trace::TaintSpec>,
}

/// A path as written in the case file and as resolved on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasePath {
    /// As written, relative to the case file: used in every output for provenance.
    pub written: String,
    /// Resolved location.
    pub resolved: PathBuf,
}

/// A person in the case.
#[derive(Debug, Clone)]
pub struct Subject {
    pub id: String,
    pub name: String,
    pub role: SubjectRole,
    pub date_of_birth: Option<NaiveDate>,
    pub address: Option<String>,
    /// A phone number as written; compared by [`phone_key`].
    pub phone: Option<String>,
    pub aliases: Vec<String>,
}

/// A bank account in the case.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub holder: String,
    pub bank: String,
    /// Six digits, no separators.
    pub sort_code: Option<String>,
    /// Digits as given (usually eight).
    pub account_number: Option<String>,
    /// Upper case, no spaces.
    pub iban: Option<String>,
    pub currency: String,
    pub kind: AccountKind,
    pub business_type: Option<String>,
    pub controlled_by: Vec<String>,
}

/// One disclosed document to ingest.
#[derive(Debug, Clone)]
pub struct Source {
    /// 1-based position in the case file.
    pub index: usize,
    pub path: CasePath,
    pub layout: String,
    pub account: Option<String>,
    pub exhibit: Option<String>,
    pub produced_by: Option<String>,
}

/// A reference-data file named in `[reference]`.
#[derive(Debug, Clone)]
pub struct ReferenceFile {
    /// The key in `[reference]`, e.g. `rates`.
    pub role: String,
    pub path: CasePath,
}

impl Case {
    /// Read and resolve a case file.
    pub fn load(path: &Path, options: ResolveOptions) -> Result<Case, CaseError> {
        let text = std::fs::read_to_string(path).map_err(|source| CaseError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: RawCase = toml::from_str(&text).map_err(|e| CaseError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        resolve(raw, path, options)
    }

    /// A one-file case for looking at a single statement without a case file: one
    /// account (`STATEMENT`) with no identifiers, so every row of the file is taken as
    /// that account's; no subjects, lifestyle off. Not for evidential runs.
    pub fn ad_hoc(file: &Path, layout: &str, currency: &str) -> Result<Case, CaseError> {
        let invalid = |key: &str, problem: String| CaseError::Invalid {
            path: file.to_path_buf(),
            key: key.to_string(),
            problem,
        };
        if !is_currency_code(currency) {
            return Err(invalid(
                "--currency",
                format!("{currency:?} is not an ISO 4217 code"),
            ));
        }
        let meta = std::fs::metadata(file)
            .map_err(|e| invalid("file", format!("cannot be opened: {e}")))?;
        if !meta.is_file() {
            return Err(invalid("file", "is not a file".into()));
        }
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let written = file
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Case {
            path: file.to_path_buf(),
            dir,
            reference: format!("ad hoc: {written}"),
            title: None,
            base_currency: currency.to_string(),
            jurisdiction: default_jurisdiction(),
            lifestyle: false,
            investigator: None,
            proceedings_started: NaiveDate::MIN,
            conviction: None,
            valuation: None,
            subjects: Vec::new(),
            accounts: vec![Account {
                id: "STATEMENT".into(),
                holder: "unknown".into(),
                bank: "unknown".into(),
                sort_code: None,
                account_number: None,
                iban: None,
                currency: currency.to_string(),
                kind: AccountKind::Personal,
                business_type: None,
                controlled_by: Vec::new(),
            }],
            sources: vec![Source {
                index: 1,
                path: CasePath {
                    written,
                    resolved: file.to_path_buf(),
                },
                layout: layout.to_string(),
                account: Some("STATEMENT".into()),
                exhibit: None,
                produced_by: None,
            }],
            reference_data: Vec::new(),
            rule_sets: Vec::new(),
            layout_files: Vec::new(),
            verify: crate::verify::VerifyOptions::default(),
            tracing: None,
        })
    }

    /// The account with this key.
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// Each account's position in the case file, by key.
    pub fn account_positions(&self) -> std::collections::HashMap<&str, u32> {
        self.accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.as_str(), i as u32))
            .collect()
    }

    /// The reference file for a role, if the case names one.
    pub fn reference_file(&self, role: &str) -> Option<&CasePath> {
        self.reference_data
            .iter()
            .find(|r| r.role == role)
            .map(|r| &r.path)
    }
}

fn toml_date(
    path: &Path,
    key: &str,
    value: &toml::value::Datetime,
) -> Result<NaiveDate, CaseError> {
    let invalid = |problem: String| CaseError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        problem,
    };
    match (&value.date, &value.time, &value.offset) {
        (Some(d), None, None) => {
            NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                .ok_or_else(|| invalid(format!("is not a calendar date: {value}")))
        }
        _ => Err(invalid(format!(
            "must be a plain date like 2025-03-14 (no time or offset), found {value}"
        ))),
    }
}

/// A phone number as compared, or `None` when it is not one. Spaces, `+`, `-`, `(` and `)`
/// are dropped and what is left must be digits (at least one). A number written with its
/// country code — after a leading `+`, after the international prefix `00`, or starting
/// `44` — is read as international: the United Kingdom's code 44 (and a trunk `0` written
/// after it, as in `+44 (0)7700 900123`) becomes the national `0`, so `07700 900123`,
/// `+44 7700 900123`, `447700900123` and `0044 7700 900123` are one number
/// (`07700900123`); another country's number is kept as `+` and its digits. Anything else
/// is compared on its digits as written.
pub fn phone_key(written: &str) -> Option<String> {
    let mut digits = String::new();
    for ch in written.chars() {
        match ch {
            '0'..='9' => digits.push(ch),
            ' ' | '+' | '-' | '(' | ')' => {}
            _ => return None,
        }
    }
    if digits.is_empty() {
        return None;
    }
    let international = if written.trim_start().starts_with('+') {
        Some(digits.as_str())
    } else if let Some(rest) = digits.strip_prefix("00") {
        Some(rest)
    } else if digits.starts_with("44") {
        Some(digits.as_str())
    } else {
        None
    };
    Some(match international {
        Some(number) => match number.strip_prefix("44") {
            Some(uk) => format!("0{}", uk.strip_prefix('0').unwrap_or(uk)),
            None => format!("+{number}"),
        },
        None => digits,
    })
}

/// Keep the digits of an identifier: `30-94-57` → `309457`.
pub fn digits(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_digit()).collect()
}

fn resolve(raw: RawCase, path: &Path, options: ResolveOptions) -> Result<Case, CaseError> {
    let invalid = |key: &str, problem: String| CaseError::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        problem,
    };
    let dir = path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));

    if raw.case.reference.trim().is_empty() {
        return Err(invalid("case.reference", "must not be empty".into()));
    }
    if !is_currency_code(&raw.case.base_currency) {
        return Err(invalid(
            "case.base_currency",
            format!(
                "is {:?}, which is not an ISO 4217 code (expected e.g. \"GBP\", \"EUR\", \"USD\")",
                raw.case.base_currency
            ),
        ));
    }

    let proceedings_started = toml_date(
        path,
        "dates.proceedings_started",
        &raw.dates.proceedings_started,
    )?;
    let conviction = raw
        .dates
        .conviction
        .as_ref()
        .map(|d| toml_date(path, "dates.conviction", d))
        .transpose()?;
    let valuation = raw
        .dates
        .valuation
        .as_ref()
        .map(|d| toml_date(path, "dates.valuation", d))
        .transpose()?;
    if let Some(c) = conviction {
        if c < proceedings_started {
            return Err(invalid(
                "dates.conviction",
                format!("is {c}, before proceedings started on {proceedings_started}; a conviction follows the start of proceedings"),
            ));
        }
    }

    let mut subject_ids = BTreeSet::new();
    let mut subjects = Vec::new();
    for (i, s) in raw.subjects.into_iter().enumerate() {
        let key = format!("subjects[{i}].id");
        if s.id.trim().is_empty() {
            return Err(invalid(&key, "must not be empty".into()));
        }
        if !subject_ids.insert(s.id.clone()) {
            return Err(invalid(
                &key,
                format!("{:?} is declared twice; subject ids must be unique", s.id),
            ));
        }
        let date_of_birth = s
            .date_of_birth
            .as_ref()
            .map(|d| toml_date(path, &format!("subjects[{i}].date_of_birth"), d))
            .transpose()?;
        if let Some(phone) = &s.phone {
            if phone_key(phone).is_none() {
                return Err(invalid(
                    &format!("subjects[{i}].phone"),
                    format!("is {phone:?}; expected a phone number: digits, with spaces, +, -, ( and ) allowed, e.g. \"07700 900123\" or \"+44 7700 900123\" (leave phone out when it is not known)"),
                ));
            }
        }
        subjects.push(Subject {
            id: s.id,
            name: s.name,
            role: s.role,
            date_of_birth,
            address: s.address,
            phone: s.phone,
            aliases: s.aliases,
        });
    }
    if !subjects.iter().any(|s| s.role == SubjectRole::Defendant) {
        return Err(invalid(
            "subjects",
            "names no defendant; add a [[subjects]] entry with role = \"defendant\"".into(),
        ));
    }

    let mut account_ids = BTreeSet::new();
    let mut accounts = Vec::new();
    for (i, a) in raw.accounts.into_iter().enumerate() {
        let key = |k: &str| format!("accounts[{i}].{k}");
        if a.id.trim().is_empty() {
            return Err(invalid(&key("id"), "must not be empty".into()));
        }
        if !account_ids.insert(a.id.clone()) {
            return Err(invalid(
                &key("id"),
                format!("{:?} is declared twice; account keys must be unique", a.id),
            ));
        }
        let sort_code = match &a.sort_code {
            Some(sc) => {
                let d = digits(sc);
                if d.len() != 6
                    || sc
                        .chars()
                        .any(|c| !(c.is_ascii_digit() || c == '-' || c == ' '))
                {
                    return Err(invalid(
                        &key("sort_code"),
                        format!("is {sc:?}; expected six digits such as \"30-94-57\""),
                    ));
                }
                Some(d)
            }
            None => None,
        };
        let account_number = match &a.account_number {
            Some(n) => {
                let d = digits(n);
                if d.is_empty()
                    || d.len() > 34
                    || n.chars()
                        .any(|c| !(c.is_ascii_digit() || c == ' ' || c == '-'))
                {
                    return Err(invalid(
                        &key("account_number"),
                        format!(
                            "is {n:?}; expected the account number's digits, e.g. \"12345678\""
                        ),
                    ));
                }
                Some(d)
            }
            None => None,
        };
        let iban = match &a.iban {
            Some(s) => {
                let compact: String = s
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_ascii_uppercase();
                if !iban_is_valid(&compact) {
                    return Err(invalid(
                        &key("iban"),
                        format!("is {s:?}, which fails the IBAN check digits (ISO 13616 mod 97)"),
                    ));
                }
                Some(compact)
            }
            None => None,
        };
        if sort_code.is_none()
            && account_number.is_none()
            && iban.is_none()
            && a.kind != AccountKind::Msb
        {
            return Err(invalid(
                &format!("accounts[{i}]"),
                format!(
                    "({:?}) has no identifier; give sort_code and account_number, or iban (only kind = \"msb\" accounts may have none)",
                    a.id
                ),
            ));
        }
        let currency = a
            .currency
            .clone()
            .unwrap_or_else(|| raw.case.base_currency.clone());
        if !is_currency_code(&currency) {
            return Err(invalid(
                &key("currency"),
                format!("is {currency:?}, not an ISO 4217 code"),
            ));
        }
        for s in &a.controlled_by {
            if !subject_ids.contains(s) {
                return Err(invalid(
                    &key("controlled_by"),
                    format!(
                        "names subject {s:?}, which is not declared; declared subjects: {}",
                        join(&subject_ids)
                    ),
                ));
            }
        }
        accounts.push(Account {
            id: a.id,
            holder: a.holder,
            bank: a.bank,
            sort_code,
            account_number,
            iban,
            currency,
            kind: a.kind,
            business_type: a.business_type,
            controlled_by: a.controlled_by,
        });
    }

    let case_dir_canonical = std::fs::canonicalize(&dir).map_err(|e| {
        invalid(
            "case",
            format!("folder {} cannot be opened: {e}", dir.display()),
        )
    })?;
    let resolve_path = |key: &str, written: &str| -> Result<CasePath, CaseError> {
        let p = Path::new(written);
        if !options.allow_outside_case_dir
            && (p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)))
        {
            return Err(invalid(key, format!(
                "is {written:?}, which points outside the case folder; keep disclosed material inside the case folder, or pass --allow-outside-case-dir"
            )));
        }
        let resolved = dir.join(p);
        let meta = std::fs::metadata(&resolved).map_err(|e| {
            invalid(
                key,
                format!(
                    "is {written:?}, but {} cannot be opened: {e}",
                    resolved.display()
                ),
            )
        })?;
        if !meta.is_file() {
            return Err(invalid(key, format!("is {written:?}, which is not a file")));
        }
        if !options.allow_outside_case_dir {
            let canonical = std::fs::canonicalize(&resolved).map_err(|e| {
                invalid(
                    key,
                    format!("is {written:?}, which cannot be resolved: {e}"),
                )
            })?;
            if !canonical.starts_with(&case_dir_canonical) {
                return Err(invalid(key, format!(
                    "is {written:?}, a link to {} outside the case folder; copy the file into the case folder, or pass --allow-outside-case-dir",
                    canonical.display()
                )));
            }
        }
        Ok(CasePath {
            written: written.to_string(),
            resolved,
        })
    };

    let mut sources = Vec::new();
    let mut seen_paths = BTreeSet::new();
    for (i, s) in raw.sources.into_iter().enumerate() {
        let key = |k: &str| format!("sources[{i}].{k}");
        let path_resolved = resolve_path(&key("path"), &s.path)?;
        if !seen_paths.insert(s.path.clone()) {
            return Err(invalid(
                &key("path"),
                format!(
                    "{:?} is listed twice; each disclosed file is ingested once",
                    s.path
                ),
            ));
        }
        if let Some(acc) = &s.account {
            if !account_ids.contains(acc) {
                return Err(invalid(
                    &key("account"),
                    format!(
                        "names account {acc:?}, which is not declared; declared accounts: {}",
                        join(&account_ids)
                    ),
                ));
            }
        }
        if s.layout.trim().is_empty() {
            return Err(invalid(
                &key("layout"),
                "must name a layout (see `proceeds formats list`)".into(),
            ));
        }
        sources.push(Source {
            index: i + 1,
            path: path_resolved,
            layout: s.layout,
            account: s.account,
            exhibit: s.exhibit,
            produced_by: s.produced_by,
        });
    }
    if sources.is_empty() {
        return Err(invalid(
            "sources",
            "lists no files; add at least one [[sources]] entry".into(),
        ));
    }

    let mut reference_data = Vec::new();
    let r = raw.reference;
    for (role, value) in [
        ("rates", r.rates),
        ("price_index", r.price_index),
        ("assets", r.assets),
        ("gifts", r.gifts),
        ("declared_turnover", r.declared_turnover),
        ("legitimate_sources", r.legitimate_sources),
        ("period_balances", r.period_balances),
    ] {
        if let Some(written) = value {
            let path = resolve_path(&format!("reference.{role}"), &written)?;
            reference_data.push(ReferenceFile {
                role: role.to_string(),
                path,
            });
        }
    }

    let mut layout_files = Vec::new();
    for (i, l) in raw.layouts.iter().enumerate() {
        layout_files.push(resolve_path(&format!("layouts[{i}]"), l)?);
    }

    Ok(Case {
        path: path.to_path_buf(),
        dir,
        reference: raw.case.reference,
        title: raw.case.title,
        base_currency: raw.case.base_currency,
        jurisdiction: raw.case.jurisdiction,
        lifestyle: raw.case.lifestyle,
        investigator: raw.case.investigator,
        proceedings_started,
        conviction,
        valuation,
        subjects,
        accounts,
        sources,
        reference_data,
        rule_sets: raw.rules.sets,
        layout_files,
        verify: raw.verify,
        tracing: raw.tracing,
    })
}

fn join(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "(none)".to_string()
    } else {
        set.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// ISO 13616 check: country code, two check digits, then mod 97 of the rearranged number is 1.
pub fn iban_is_valid(iban: &str) -> bool {
    if iban.len() < 15 || iban.len() > 34 || !iban.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let bytes = iban.as_bytes();
    if !bytes[..2].iter().all(u8::is_ascii_uppercase) || !bytes[2..4].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let rearranged = iban[4..].chars().chain(iban[..4].chars());
    let mut rem: u32 = 0;
    for c in rearranged {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_compare_on_digits_with_the_uk_code_as_the_national_zero() {
        for same in [
            "07700 900123",
            "07700-900-123",
            "(07700) 900123",
            "+44 7700 900123",
            "+44 (0)7700 900123",
            "447700900123",
            "0044 7700 900123",
        ] {
            assert_eq!(phone_key(same).as_deref(), Some("07700900123"), "{same}");
        }
        assert_eq!(phone_key("01332 496 000").as_deref(), Some("01332496000"));
        assert_eq!(
            phone_key("+40 721 000 111").as_deref(),
            Some("+40721000111")
        );
        assert_eq!(
            phone_key("0040 721 000 111").as_deref(),
            Some("+40721000111")
        );
        assert_eq!(phone_key("0721 000 111").as_deref(), Some("0721000111"));
        for bad in ["", " ", "+", "07700 900123 ext 2", "07700.900123", "٠٧٧٠٠"] {
            assert_eq!(phone_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn iban_check_digits() {
        assert!(iban_is_valid("GB82WEST12345698765432"));
        assert!(!iban_is_valid("GB83WEST12345698765432"));
        assert!(iban_is_valid("DE89370400440532013000"));
    }
}
