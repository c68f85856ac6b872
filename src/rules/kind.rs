//! What a rule kind is: documentation, parameters, and a detector that turns ledger rows
//! into episodes with evidence.
//!
//! A kind's detector receives the prepared ledger rows (see `prepare`) already cut down to
//! the rule's scope, as a polars lazy frame, and returns [`Hits`]: one row per episode
//! with its figures, and the ledger `seq` of every evidence row. Turning hits into
//! findings (ids, totals, provenance) is common code in `findings`, so every kind reports
//! the same way.

use std::fmt;

use polars::prelude::*;
use serde_json::json;

use super::params::{format_money, ParamDoc, ParamError};
use super::reference::Reference;
use crate::case::Case;
use crate::ledger::Channel;

/// A rule kind implemented in Rust. A new kind is one file implementing this trait and one
/// line in `registry::KINDS`.
pub trait RuleKind: Sync {
    /// The `kind` value in rule files, e.g. `cash_structuring`.
    fn name(&self) -> &'static str;
    /// What the kind looks for and how it computes it, in plain words.
    fn method(&self) -> &'static str;
    /// The parameters, in documentation order.
    fn params(&self) -> &'static [ParamDoc];
    /// Channels looked at when a rule's scope names none; `None` means every channel.
    fn default_channels(&self) -> Option<&'static [Channel]>;
    /// Check a rule's `params` table and build its detector.
    fn compile(&self, params: &toml::Table) -> Result<Box<dyn Detector>, ParamError>;
}

/// A compiled rule's logic, with its parameters checked and filled in.
pub trait Detector: Send + Sync + fmt::Debug {
    /// Parameter values in effect, in documentation order, as TOML text.
    fn params_in_effect(&self) -> Vec<(String, String)>;
    /// Find episodes in the prepared, scoped rows. They arrive sorted by `k` then `seq`
    /// (see [`super::prepare`]), and a rule may rely on it.
    fn detect(&self, rows: LazyFrame, ctx: &Context<'_>) -> PolarsResult<Hits>;
    /// The keyword lists the rule matches against counterparty names and narratives, so a
    /// run can match every rule's lists in one pass ([`Context::keyword_columns`]).
    fn keyword_lists(&self) -> Vec<Vec<String>> {
        Vec::new()
    }
}

/// What a detector found.
#[derive(Debug, Default)]
pub struct Hits {
    pub episodes: Vec<Episode>,
    /// One row per evidence transaction: `episode` (u32), `seq` (u64, the ledger's).
    pub evidence: Option<DataFrame>,
    /// Things the rule could not evaluate, for the run's notes.
    pub notes: Vec<String>,
}

/// One episode: a group (account, subject, ...) and period that crossed the rule's tests.
#[derive(Debug, Clone)]
pub struct Episode {
    /// Matches `episode` in the evidence frame.
    pub episode: u32,
    /// Short key for the finding id: an account key, `subject:ID`, ...
    pub group: String,
    /// Subject ids concerned, `;`-separated.
    pub subject: String,
    /// Set when the period is not simply first to last evidence date (e.g. a calendar year).
    pub window: Option<(chrono::NaiveDate, chrono::NaiveDate)>,
    pub metrics: Vec<Metric>,
}

/// Everything a detector may need besides the rows.
#[derive(Debug)]
pub struct Context<'a> {
    pub case: &'a Case,
    pub reference: &'a Reference,
    /// Case account keys by account index (`acct` in the prepared rows).
    pub account_ids: Vec<String>,
    /// Controlling subject ids by account index, `;`-separated.
    pub controllers: Vec<String>,
    /// Case subject ids by subject index (`subj`).
    pub subject_ids: Vec<String>,
    /// `acct` (u32) → `subj` (u32): one row per controlling subject.
    pub account_subjects: DataFrame,
    /// Addresses two or more subjects share (case file `address`), by address index.
    pub addresses: Vec<crate::rules::prepare::SharedContact>,
    /// `acct` (u32) → `subj` (u32, an address index): one row per shared address whose
    /// subjects control the account.
    pub account_addresses: DataFrame,
    /// Keyword lists already matched over the rows (list → boolean column of the prepared
    /// rows), filled by the run before the rules; a list not here is matched by its rule.
    pub keyword_columns: Vec<(Vec<String>, String)>,
    /// Phone numbers two or more subjects share (case file `phone`), by phone index.
    pub phones: Vec<crate::rules::prepare::SharedContact>,
    /// `acct` (u32) → `subj` (u32, a phone index): one row per shared phone number whose
    /// subjects control the account.
    pub account_phones: DataFrame,
    /// `seq` of every ledger credit the case's legitimate-sources file accepts, ascending
    /// ([`crate::rules::reference::legitimate_credits`]); empty without such a file.
    pub legitimate_credits: Vec<u64>,
}

impl Context<'_> {
    /// The case's base currency (all thresholds are in it).
    pub fn currency(&self) -> &str {
        &self.case.base_currency
    }

    /// Format pence in the base currency.
    pub fn money(&self, pence: i64) -> String {
        format_money(pence, self.currency())
    }

    /// The account key for an account index.
    pub fn account(&self, acct: u32) -> &str {
        self.account_ids
            .get(acct as usize)
            .map_or("?", String::as_str)
    }

    /// Controlling subjects for an account index.
    pub fn controllers_of(&self, acct: u32) -> &str {
        self.controllers
            .get(acct as usize)
            .map_or("", String::as_str)
    }

    /// A shared address by index.
    pub fn address(&self, index: u32) -> Option<&crate::rules::prepare::SharedContact> {
        self.addresses.get(index as usize)
    }

    /// A shared phone number by index.
    pub fn phone(&self, index: u32) -> Option<&crate::rules::prepare::SharedContact> {
        self.phones.get(index as usize)
    }

    /// The subject id for a subject index.
    pub fn subject(&self, subj: u32) -> &str {
        self.subject_ids
            .get(subj as usize)
            .map_or("?", String::as_str)
    }
}

/// A figure reported with a finding, and the test it was put to.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Machine name, e.g. `peak_window_total`.
    pub name: &'static str,
    /// Words for a reader, e.g. "highest 7-day total".
    pub label: String,
    pub value: Value,
    pub test: Option<Test>,
}

/// A metric's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Pence in the base currency.
    Money(i64, String),
    Count(i64),
    /// A ratio or share (may be a float; money never is), shown to 3 places.
    Ratio(f64),
    /// A small score shown to 4 places (e.g. a mean absolute deviation).
    Score(f64),
    /// Days (may be fractional, e.g. a median).
    Days(f64),
    Text(String),
    /// Not available (e.g. too few rows); said so, not guessed.
    Missing(String),
}

/// The comparison a metric was put to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    AtLeast,
    AtMost,
    Above,
    Below,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::AtLeast => ">=",
            Op::AtMost => "<=",
            Op::Above => ">",
            Op::Below => "<",
        }
    }
    fn words(self) -> &'static str {
        match self {
            Op::AtLeast => "at least",
            Op::AtMost => "at most",
            Op::Above => "above",
            Op::Below => "below",
        }
    }
}

/// A threshold test and whether the metric met it.
#[derive(Debug, Clone)]
pub struct Test {
    pub op: Op,
    pub threshold: Value,
    pub met: bool,
}

impl Value {
    /// The value as a reader sees it, written onto `out`.
    fn push_display(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = match self {
            Value::Money(p, cur) => {
                out.push_str(&format_money(*p, cur));
                Ok(())
            }
            Value::Count(n) => write!(out, "{n}"),
            Value::Ratio(r) => write!(out, "{r:.3}"),
            Value::Score(r) => write!(out, "{r:.4}"),
            Value::Days(d) => {
                if d.fract() == 0.0 {
                    write!(out, "{d:.0} days")
                } else {
                    write!(out, "{d:.1} days")
                }
            }
            Value::Text(t) => {
                out.push_str(t);
                Ok(())
            }
            Value::Missing(why) => write!(out, "not available ({why})"),
        };
    }

    /// [`Value::json`] written onto `out`: money and counts directly, the rest through
    /// `serde_json`.
    fn push_json(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Value::Money(p, _) => {
                let _ = write!(
                    out,
                    "\"{:.2}\"",
                    rust_decimal::Decimal::from_i128_with_scale(i128::from(*p), 2)
                );
            }
            Value::Count(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Text(t) => push_json_str(out, t),
            other => out.push_str(&other.json().to_string()),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Value::Money(p, _) => json!(format!(
                "{:.2}",
                rust_decimal::Decimal::from_i128_with_scale(i128::from(*p), 2)
            )),
            Value::Count(n) => json!(n),
            Value::Ratio(r) | Value::Score(r) | Value::Days(r) => {
                if r.is_finite() {
                    json!((r * 1e6).round() / 1e6)
                } else {
                    serde_json::Value::Null
                }
            }
            Value::Text(t) => json!(t),
            Value::Missing(_) => serde_json::Value::Null,
        }
    }
}

impl Metric {
    /// A figure reported for context, with no test.
    pub fn info(name: &'static str, label: impl Into<String>, value: Value) -> Metric {
        Metric {
            name,
            label: label.into(),
            value,
            test: None,
        }
    }

    /// A figure put to a test; `met` is computed by the caller from the same numbers.
    pub fn tested(
        name: &'static str,
        label: impl Into<String>,
        value: Value,
        op: Op,
        threshold: Value,
        met: bool,
    ) -> Metric {
        Metric {
            name,
            label: label.into(),
            value,
            test: Some(Test { op, threshold, met }),
        }
    }

    /// `highest 7-day total: £19,400.00 (test: at least £10,000.00, met)`
    pub fn readable(&self) -> String {
        let mut out = String::new();
        self.push_readable(&mut out);
        out
    }

    /// [`Metric::readable`] written onto `out`: a finding's metrics go into one string
    /// without a string of their own each (a rule can have tens of thousands of findings).
    fn push_readable(&self, out: &mut String) {
        out.push_str(&self.label);
        out.push_str(": ");
        self.value.push_display(out);
        if let Some(t) = &self.test {
            out.push_str(" (test: ");
            out.push_str(t.op.words());
            out.push(' ');
            t.threshold.push_display(out);
            out.push_str(if t.met { ", met)" } else { ", not met)" });
        }
    }

    /// `{"metric": ..., "value": ..., "op": ">=", "threshold": ..., "met": true}`
    pub fn json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("metric".into(), json!(self.name));
        m.insert("value".into(), self.value.json());
        if let Some(t) = &self.test {
            m.insert("op".into(), json!(t.op.symbol()));
            m.insert("threshold".into(), t.threshold.json());
            m.insert("met".into(), json!(t.met));
        }
        serde_json::Value::Object(m)
    }
}

/// All metrics as one readable string, `; `-separated.
pub fn readable(metrics: &[Metric]) -> String {
    let mut out = String::with_capacity(80 * metrics.len());
    for (i, m) in metrics.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        m.push_readable(&mut out);
    }
    out
}

/// All metrics as a JSON array (order kept). Each metric is an object with its keys in
/// alphabetical order (`met`, `metric`, `op`, `threshold`, `value`), as `serde_json` writes
/// a map; written straight into one string, as thousands of findings each have several.
pub fn metrics_json(metrics: &[Metric]) -> String {
    let mut out = String::with_capacity(96 * metrics.len() + 2);
    out.push('[');
    for (i, m) in metrics.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        if let Some(t) = &m.test {
            out.push_str(if t.met {
                "\"met\":true,"
            } else {
                "\"met\":false,"
            });
        }
        out.push_str("\"metric\":");
        push_json_str(&mut out, m.name);
        if let Some(t) = &m.test {
            out.push_str(",\"op\":");
            push_json_str(&mut out, t.op.symbol());
            out.push_str(",\"threshold\":");
            t.threshold.push_json(&mut out);
        }
        out.push_str(",\"value\":");
        m.value.push_json(&mut out);
        out.push('}');
    }
    out.push(']');
    out
}

/// `text` as a JSON string, escaped as `serde_json` escapes it.
fn push_json_str(out: &mut String, text: &str) {
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(text);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::from(text).to_string());
    }
}

/// Read a column of a small collected frame (episode aggregates) as `i64`s, nulls as `None`.
pub fn i64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<i64>>> {
    let s = df.column(name)?.cast(&DataType::Int64)?;
    Ok(s.i64()?.iter().collect())
}

/// Read a column of a small collected frame as `f64`s.
pub fn f64s(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<f64>>> {
    let s = df.column(name)?.cast(&DataType::Float64)?;
    Ok(s.f64()?.iter().collect())
}

/// Read a column of a small collected frame as strings.
pub fn strs(df: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    let s = df.column(name)?.cast(&DataType::String)?;
    Ok(s.str()?.iter().map(|v| v.map(str::to_string)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON `serde_json` writes for the same metrics: an array of maps.
    fn by_serde(metrics: &[Metric]) -> String {
        serde_json::Value::Array(metrics.iter().map(Metric::json).collect()).to_string()
    }

    #[test]
    fn metrics_json_is_what_serde_json_writes() {
        let gbp = |p| Value::Money(p, "GBP".into());
        let metrics = vec![
            Metric::tested(
                "peak_window_total",
                "highest 7-day total",
                gbp(2_750_000),
                Op::AtLeast,
                gbp(1_000_000),
                true,
            ),
            Metric::tested(
                "ratio",
                "out ÷ in",
                Value::Ratio(0.912_345_678),
                Op::Above,
                Value::Ratio(0.9),
                false,
            ),
            Metric::info("count", "rows", Value::Count(-3)),
            Metric::info("owed", "money", gbp(-5)),
            Metric::info("score", "MAD", Value::Score(1e-9)),
            Metric::info("days", "median", Value::Days(f64::NAN)),
            Metric::info("whole", "days", Value::Days(3.0)),
            Metric::info(
                "counterparties",
                "names",
                Value::Text("A \"QUOTED\" NAME\\, TAB\there, ZOË, \u{1}".into()),
            ),
            Metric::info("none", "missing", Value::Missing("too few rows".into())),
        ];
        assert_eq!(metrics_json(&metrics), by_serde(&metrics));
        assert_eq!(metrics_json(&[]), "[]");
        assert_eq!(
            metrics_json(&metrics[..1]),
            r#"[{"met":true,"metric":"peak_window_total","op":">=","threshold":"10000.00","value":"27500.00"}]"#
        );
        assert_eq!(readable(&metrics[2..4]), "rows: -3; money: -£0.05");
        assert_eq!(
            readable(&metrics),
            "highest 7-day total: £27,500.00 (test: at least £10,000.00, met); \
             out ÷ in: 0.912 (test: above 0.900, not met); rows: -3; money: -£0.05; \
             MAD: 0.0000; median: NaN days; days: 3 days; \
             names: A \"QUOTED\" NAME\\, TAB\there, ZOË, \u{1}; \
             missing: not available (too few rows)"
        );
        assert_eq!(readable(&[]), "");
        assert_eq!(
            Metric::info("d", "median dwell", Value::Days(0.25)).readable(),
            "median dwell: 0.2 days"
        );
    }
}
