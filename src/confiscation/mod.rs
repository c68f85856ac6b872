//! Confiscation schedules (POCA 2002 Part 2): the figures behind the prosecutor's statement
//! of information (s.16).
//!
//! **In:** the resolved [`Case`] (lifestyle, dates, subjects, accounts, `[schedule]`), the
//! verified ledger (`docs/ledger.md` plus verify's `transfer_id`, `fx_rate`), the matched
//! internal transfers (`transfers.csv` columns), the detection stage's finding evidence
//! when there is one (read for `[schedule] attributed_findings`), the case's reference files
//! ([`ReferenceData`]: price index, asset register, gifts, accepted legitimate sources) and
//! the legal parameters of the case's jurisdiction ([`Jurisdiction`],
//! `rules/jurisdictions/*.toml`).
//!
//! **Out:** [`Schedules`] — the relevant day and its derivation; the benefit schedule
//! (every assumed or attributed item with its reason, historic and uplifted figures); the
//! exclusions schedule (every credit to the defendant's accounts not counted, and every
//! asset or expenditure not assumed, with its reason); the available-amount schedule (free
//! property, final balances, obligations having priority, tainted gifts); the tainted-gifts
//! schedule (every gift with the s.77 timing rule applied per line); the recoverable
//! amount. As frames with documented columns (`docs/schedules.md`) for CSV and XLSX.
//!
//! **Why this way:** every figure goes before a court and is challenged. So nothing is
//! dropped silently (a credit is either counted or listed as excluded, with its reason);
//! nothing is counted twice (internal transfers are not new benefit, expenditure met from
//! money already in the account is not counted again); money is integer pence with one
//! stated rounding per line; and the law's parameters are data, so a change in the law is
//! a change to a file. One file per calculation: [`relevant_day`], [`benefit`], [`uplift`],
//! [`available_amount`], [`tainted_gifts`], [`recoverable_amount`].

pub mod available_amount;
pub mod benefit;
pub mod frames;
pub mod jurisdiction;
pub mod recoverable_amount;
pub mod reference;
pub mod relevant_day;
mod rows;
pub mod tainted_gifts;
pub mod uplift;

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use polars::prelude::{DataFrame, PolarsError};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

use crate::case::{Case, SubjectRole};
use crate::trace::txn_index::TxnIndex;
use reference::LegitimateMatch;

pub use jurisdiction::Jurisdiction;
pub use reference::ReferenceData;
pub use relevant_day::RelevantDay;
pub use rows::{Entry, FindingEvidence, Transfer};
pub use uplift::{Month, PriceIndex, Valuation};

/// `[schedule]` in the case file: what the investigator decides for the schedules.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleOptions {
    /// No criminal lifestyle: the ledger rows (credits) attributed to the particular
    /// criminal conduct, by txn_id.
    pub attributed_txn_ids: Vec<String>,
    /// No criminal lifestyle: findings whose evidence credits are attributed to the
    /// particular criminal conduct: rule ids (`"STR-001"`), finding ids
    /// (`"STR-001/DH-LLOYDS/2024-01-08/1"`) or `"*"` for every finding.
    pub attributed_findings: Vec<String>,
    /// No criminal lifestyle: the date of the (earliest) offence, for the s.77(3) gift rule.
    #[serde(deserialize_with = "de_opt_date")]
    pub offence_date: Option<NaiveDate>,
    /// The defendant's beneficial share of an account's balance (joint accounts), by
    /// account id, e.g. `{ "JOINT-HSBC" = "0.5" }`; default 1.
    pub account_shares: BTreeMap<String, Decimal>,
}

/// A date written either as a TOML date (`2021-01-01`) or as a string (`"2021-01-01"`).
fn de_opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum DateRepr {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match Option::<DateRepr>::deserialize(d)? {
        None => return Ok(None),
        Some(DateRepr::Toml(dt)) => dt.to_string(),
        Some(DateRepr::Text(s)) => s,
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "{text:?} is not a plain date; write it like 2021-01-01"
            ))
        })
}

/// Why the schedules could not be produced. Messages name the file, line, key or txn_id.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// A reference file is malformed or lacks what is needed.
    #[error("schedule: reference file {file}{}, field `{field}`: {problem}", line_suffix(.line))]
    Reference {
        file: String,
        line: u32,
        field: String,
        problem: String,
    },
    /// The case file does not give what the schedules need, or contradicts the ledger.
    #[error("schedule: `{key}` {problem}")]
    Case { key: String, problem: String },
    /// A jurisdiction file is malformed.
    #[error("schedule: jurisdiction file {file}: {problem}")]
    Jurisdiction { file: String, problem: String },
    /// An input frame lacks a column or holds a value that cannot be scheduled.
    #[error("schedule: {frame} frame {problem}")]
    Input {
        frame: &'static str,
        problem: String,
    },
    /// Polars failed while building a frame (our bug).
    #[error("internal error in schedule ({context}): {source}")]
    Polars {
        context: String,
        source: PolarsError,
    },
}

/// `, line N`, or nothing for a problem with the file as a whole (line 0).
fn line_suffix(line: &u32) -> String {
    if *line > 0 {
        format!(", line {line}")
    } else {
        String::new()
    }
}

impl ScheduleError {
    /// Whether the error is ours (a bug) rather than the input's.
    pub fn is_internal(&self) -> bool {
        matches!(self, ScheduleError::Polars { .. })
    }
}

/// One line of the benefit schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BenefitLine {
    /// The statutory basis: `s.10(2)`, `s.10(3)`, `s.10(4)`, `s.80(2)(b)`, `s.6(4)(c)`.
    pub section: String,
    /// `transferred`, `held`, `expenditure`, `representing_property`, `particular_conduct`.
    pub kind: &'static str,
    pub account_id: Option<String>,
    pub date: NaiveDate,
    pub txn_id: Option<String>,
    pub description: String,
    pub counterparty: Option<String>,
    pub channel: Option<String>,
    /// Pence obtained, in the base currency (0 on an s.80(2)(b) line).
    pub historic: i64,
    pub month: Option<Month>,
    pub index_obtained: Option<Decimal>,
    pub index_valuation: Option<Decimal>,
    /// Pence, `historic` brought to the valuation month (0 on an s.80(2)(b) line).
    pub uplifted: i64,
    /// Pence counted: `uplifted`, or on an s.80(2)(b) line the excess of the value now.
    pub value: i64,
    /// How the value was chosen (s.80).
    pub basis: String,
    /// Why the item is benefit.
    pub reason: String,
    /// `source_file:line` (a statement or a reference file).
    pub source_ref: String,
    pub exhibit: String,
}

/// One line of the exclusions schedule: something that is not counted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExclusionLine {
    /// `excluded_at_ingest`, `before_relevant_day`, `outside_window`, `internal_transfer`,
    /// `reversal`, `legitimate_source`, `assumption_not_applied`, `expenditure_funded`,
    /// `asset_not_assumed`, `finding_debit`, `not_defendant_account`.
    pub category: &'static str,
    pub account_id: Option<String>,
    pub date: Option<NaiveDate>,
    pub txn_id: Option<String>,
    /// Pence in the base currency, signed as in the ledger (+ credit).
    pub amount: i64,
    pub description: String,
    pub counterparty: Option<String>,
    pub channel: Option<String>,
    pub reason: String,
    pub evidence_ref: String,
    pub source_ref: String,
    pub exhibit: String,
}

/// One line of the available-amount schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableLine {
    /// `property`, `bank_balance`, `priority_obligation`, `tainted_gifts`.
    pub kind: &'static str,
    pub item_id: String,
    pub description: String,
    /// Subject id (property) or account holder.
    pub holder: String,
    pub valuation_date: Option<NaiveDate>,
    /// Pence: market value, balance, or amount owed.
    pub market_value: Option<i64>,
    pub encumbrances: Option<i64>,
    pub share: Option<Decimal>,
    /// Pence counted: positive for property, negative for an obligation having priority.
    pub value: i64,
    pub basis: String,
    pub source_ref: String,
    pub exhibit: String,
}

/// One line of the tainted-gifts schedule (every gift, tainted or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftScheduleLine {
    pub gift_id: String,
    /// `gifts file` or `ledger transfer`.
    pub origin: &'static str,
    pub date: NaiveDate,
    pub recipient: String,
    pub description: String,
    pub value_at_gift: i64,
    pub consideration: i64,
    /// `value_at_gift − consideration`, at least 0 (s.78).
    pub gift_amount: i64,
    pub month: Month,
    pub index_at_gift: Decimal,
    pub index_valuation: Decimal,
    pub uplifted: i64,
    /// Pence: the value now of the share of the property given (s.81(1)(b)), when the gifts
    /// file gives a value now.
    pub value_now: Option<i64>,
    pub tainted: bool,
    /// The s.77 (and s.78) rule applied to this line, in words.
    pub rule: String,
    /// When tainted, the greater of `uplifted` and `value_now` (s.81(1)); else 0.
    pub counted: i64,
    pub source_ref: String,
    pub exhibit: String,
}

/// The totals, each the sum of its schedule's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub benefit_historic: i64,
    pub benefit_uplifted: i64,
    /// The benefit: the value used under s.80.
    pub benefit: i64,
    pub free_property: i64,
    pub bank_balances: i64,
    /// Negative: obligations having priority.
    pub priority_obligations: i64,
    pub tainted_gifts: i64,
    /// Sum of the available-amount lines (may be negative).
    pub available_lines: i64,
    /// `max(0, available_lines)`.
    pub available: i64,
    pub recoverable: i64,
    /// `benefit` or `available amount`.
    pub recoverable_is: &'static str,
}

/// Everything the schedule stage produces.
#[derive(Debug, Clone)]
pub struct Schedules {
    pub case_reference: String,
    pub lifestyle: bool,
    pub conviction: Option<NaiveDate>,
    pub relevant_day: RelevantDay,
    pub valuation_month: Month,
    pub valuation_basis: String,
    pub index_series: String,
    pub index_vintage: String,
    pub index_file: String,
    pub jurisdiction_id: String,
    pub jurisdiction_name: String,
    pub jurisdiction_version: u32,
    pub jurisdiction_sha256: String,
    pub benefit: Vec<BenefitLine>,
    pub exclusions: Vec<ExclusionLine>,
    pub available: Vec<AvailableLine>,
    pub gifts: Vec<GiftScheduleLine>,
    pub totals: Totals,
    /// The method statement: law applied, assumptions made and not made, rules used.
    pub method: Vec<String>,
}

/// What the calculations share.
pub(crate) struct Context<'a> {
    pub case: &'a Case,
    pub jurisdiction: &'a Jurisdiction,
    pub relevant_day: &'a RelevantDay,
    pub valuation: &'a Valuation,
    pub reference: &'a ReferenceData,
    /// The ledger rows the schedules read ([`rows::rows_schedules_read`]) in `seq` order,
    /// their text borrowed from the ledger frame.
    pub entries: &'a [Entry<'a>],
    /// `entries` found by txn_id ([`Context::ledger_row`]).
    pub by_txn: TxnIndex,
    pub transfers_by_credit: BTreeMap<&'a str, &'a Transfer<'a>>,
    pub transfers_by_debit: BTreeMap<&'a str, &'a Transfer<'a>>,
    /// The detection stage's evidence rows, when detection ran.
    pub finding_evidence: Option<&'a [FindingEvidence<'a>]>,
    /// Accounts a defendant holds or controls.
    pub defendant_accounts: BTreeSet<String>,
}

impl Context<'_> {
    /// The position in `entries` of the ledger row with this txn_id, if the ledger holds it.
    pub fn ledger_row(&self, txn_id: &str) -> Option<usize> {
        self.by_txn
            .get(|row| self.entries[row].txn_id, txn_id)
            .map(|row| row as usize)
    }

    /// Whether the account is one a defendant holds or controls.
    pub fn is_defendant_account(&self, account: &str) -> bool {
        self.defendant_accounts.contains(account)
    }

    /// The exhibit of a ledger row, or empty.
    pub fn exhibit(e: &Entry<'_>) -> String {
        e.exhibit.unwrap_or_default().to_string()
    }

    /// Subject ids with role defendant.
    pub fn is_defendant(&self, subject: &str) -> bool {
        self.case
            .subjects
            .iter()
            .any(|s| s.id == subject && s.role == SubjectRole::Defendant)
    }
}

/// The case's accounts a defendant controls.
fn defendant_accounts(case: &Case) -> BTreeSet<String> {
    case.accounts
        .iter()
        .filter(|a| {
            a.controlled_by.iter().any(|s| {
                case.subjects
                    .iter()
                    .any(|x| &x.id == s && x.role == SubjectRole::Defendant)
            })
        })
        .map(|a| a.id.clone())
        .collect()
}

/// The ledger rows the schedules read: every row of the defendants' accounts, and the rows
/// named by txn_id (attributed, gifts, legitimate sources, both ends of each transfer, and
/// the evidence of the findings `attributed_findings` names).
fn read_rows(
    ledger: &DataFrame,
    defendant_accounts: &BTreeSet<String>,
    transfer_rows: &[Transfer<'_>],
    evidence_rows: Option<&[FindingEvidence<'_>]>,
    reference: &ReferenceData,
) -> Result<DataFrame, ScheduleError> {
    let mut named: foldhash::HashSet<&str> = foldhash::HashSet::default();
    named.extend(
        reference
            .options
            .attributed_txn_ids
            .iter()
            .map(String::as_str),
    );
    named.extend(reference.gifts.iter().filter_map(|g| g.txn_id.as_deref()));
    named.extend(
        reference
            .legitimate
            .iter()
            .filter_map(|l| match &l.matcher {
                LegitimateMatch::TxnId(id) => Some(id.as_str()),
                _ => None,
            }),
    );
    named.extend(
        transfer_rows
            .iter()
            .flat_map(|t| [t.debit_txn_id, t.credit_txn_id]),
    );
    // Evidence rows are looked up only for the findings `attributed_findings` names.
    let attributed = &reference.options.attributed_findings;
    if let Some(evidence) = evidence_rows.filter(|_| !attributed.is_empty()) {
        named.extend(
            evidence
                .iter()
                .filter(|e| attributed.iter().any(|n| e.is_named_by(n)))
                .map(|e| e.txn_id),
        );
    }
    rows::rows_schedules_read(ledger, defendant_accounts, &named)
}

/// The rows of `ledger` (some of the case's, in ledger order) that [`schedule`] reads: the
/// schedules of a case run in batches (`crate::batches`) read these rows of every batch,
/// put together in ledger order, in place of the whole ledger. `transfers` are the whole
/// case's; `finding_evidence` may be the batch's own (a finding's evidence is in its batch).
pub fn rows_schedules_read(
    case: &Case,
    ledger: &DataFrame,
    transfers: &DataFrame,
    finding_evidence: Option<&DataFrame>,
    reference: &ReferenceData,
) -> Result<DataFrame, ScheduleError> {
    let transfer_rows = rows::read_transfers(transfers)?;
    let evidence_rows = finding_evidence
        .map(rows::read_finding_evidence)
        .transpose()?;
    read_rows(
        ledger,
        &defendant_accounts(case),
        &transfer_rows,
        evidence_rows.as_deref(),
        reference,
    )
}

/// Produce every schedule for a case.
///
/// `ledger` is the verified ledger, `transfers` the verify stage's matched transfers,
/// `finding_evidence` the detection stage's `finding_evidence` frame (`None` when detection
/// did not run), `reference` the case's reference files ([`ReferenceData::load`]) and
/// `jurisdiction` the legal parameters ([`Jurisdiction::by_id`] of the case's
/// `jurisdiction`). Refuses, naming what is missing, when there is no price index (s.80
/// cannot be applied), a reference names a txn_id the ledger does not hold, a
/// non-lifestyle case attributes nothing, or `attributed_findings` names a finding that
/// gave no evidence.
pub fn schedule(
    case: &Case,
    ledger: &DataFrame,
    transfers: &DataFrame,
    finding_evidence: Option<&DataFrame>,
    reference: &ReferenceData,
    jurisdiction: &Jurisdiction,
) -> Result<Schedules, ScheduleError> {
    let relevant_day =
        relevant_day::relevant_day(case.proceedings_started, &jurisdiction.relevant_day)?;
    let index = reference.price_index.clone().ok_or_else(|| ScheduleError::Case {
        key: "reference.price_index".into(),
        problem: "is not given; s.80 values benefit and gifts adjusted for changes in the value of money, so name a price index file (series,NAME / vintage,TEXT / month,index lines; see docs/schedules.md)".into(),
    })?;
    let valuation = Valuation::new(case.valuation, index)?;
    for (account, share) in &reference.options.account_shares {
        if case.account(account).is_none() {
            return Err(ScheduleError::Case {
                key: format!("schedule.account_shares.{account}"),
                problem: "names an account that is not declared".into(),
            });
        }
        if *share <= Decimal::ZERO || *share > Decimal::ONE {
            return Err(ScheduleError::Case {
                key: format!("schedule.account_shares.{account}"),
                problem: format!("is {share}; expected a fraction above 0 and at most 1"),
            });
        }
    }
    let transfer_rows = rows::read_transfers(transfers)?;
    let evidence_rows = finding_evidence
        .map(rows::read_finding_evidence)
        .transpose()?;
    let defendant_accounts = defendant_accounts(case);
    let read = read_rows(
        ledger,
        &defendant_accounts,
        &transfer_rows,
        evidence_rows.as_deref(),
        reference,
    )?;
    let entries = rows::read_ledger(&read)?;
    let by_txn = rows::index_by_txn(&entries)?;
    let ctx = Context {
        case,
        jurisdiction,
        relevant_day: &relevant_day,
        valuation: &valuation,
        reference,
        entries: &entries,
        by_txn,
        transfers_by_credit: transfer_rows.iter().map(|t| (t.credit_txn_id, t)).collect(),
        transfers_by_debit: transfer_rows.iter().map(|t| (t.debit_txn_id, t)).collect(),
        finding_evidence: evidence_rows.as_deref(),
        defendant_accounts,
    };
    let benefit = benefit::benefit(&ctx)?;
    let gifts = tainted_gifts::tainted_gifts(&ctx)?;
    let available = available_amount::available_amount(&ctx, &gifts)?;
    let totals = recoverable_amount::totals(&benefit.lines, &available, &gifts);
    let method = method_statement(&ctx, &benefit.method);
    Ok(Schedules {
        case_reference: case.reference.clone(),
        lifestyle: case.lifestyle,
        conviction: case.conviction,
        relevant_day: relevant_day.clone(),
        valuation_month: valuation.month,
        valuation_basis: valuation.basis.clone(),
        index_series: valuation.index.series.clone(),
        index_vintage: valuation.index.vintage.clone(),
        index_file: valuation.index.file.clone(),
        jurisdiction_id: jurisdiction.jurisdiction.id.clone(),
        jurisdiction_name: jurisdiction.jurisdiction.name.clone(),
        jurisdiction_version: jurisdiction.jurisdiction.version,
        jurisdiction_sha256: jurisdiction.sha256.clone(),
        benefit: benefit.lines,
        exclusions: benefit.exclusions,
        available,
        gifts,
        totals,
        method,
    })
}

/// The method statement: the law applied, the assumptions made and not made, and the
/// rules the engine used, one paragraph each.
fn method_statement(ctx: &Context<'_>, benefit_notes: &[String]) -> Vec<String> {
    let j = ctx.jurisdiction;
    let mut out = vec![format!(
        "Law applied: {} (jurisdiction file {} version {}).",
        j.jurisdiction.name, j.jurisdiction.id, j.jurisdiction.version
    )];
    out.push(ctx.relevant_day.derivation.clone());
    if ctx.case.lifestyle {
        out.push(format!(
            "The court is asked to find a criminal lifestyle ({}: among its tests, relevant benefit of not less than {} and conduct over a period of at least {} months); the assumptions of s.10 are applied as listed below. {}.",
            j.lifestyle.citation,
            j.lifestyle.relevant_benefit_threshold,
            j.lifestyle.conduct_period_months,
            j.citations.incorrect_or_injustice
        ));
    } else {
        out.push(format!(
            "No criminal lifestyle: the benefit is the benefit from particular criminal conduct ({}), the ledger rows (and the credits among the evidence of the findings) the investigator attributes to it; the s.10 assumptions are not made.",
            j.citations.particular_conduct
        ));
    }
    out.extend(benefit_notes.iter().cloned());
    out.push(format!(
        "{}. Index: {} ({}), file {}. Valuation month {}: {}. Each line is uplifted as historic × index(valuation month) / index(month obtained), computed exactly and rounded once, half to even, to the penny; totals are sums of the rounded lines.",
        j.citations.value_of_property_obtained,
        ctx.valuation.index.series,
        ctx.valuation.index.vintage,
        ctx.valuation.index.file,
        ctx.valuation.month,
        ctx.valuation.basis
    ));
    out.push(format!(
        "{}. Free property is (market value − encumbrances) × the holder's beneficial share, rounded half to even to the penny, and never below nil. Bank balances are the last balance the bank reported (or the opening balance plus every movement where no closing balance is reported), converted at the rate of the account's last row; an overdrawn account counts as nil, because an ordinary debt is not an obligation having priority ({}).",
        j.citations.available_amount, j.citations.priority_obligations
    ));
    out.push(format!(
        "{}; {}; {}. Gifts are taken from the gifts file and from matched transfers out of the defendant's accounts into accounts controlled only by associates (no consideration shown).",
        j.citations.tainted_gifts, j.citations.gift_definition, j.citations.value_of_tainted_gift
    ));
    out.push(format!("{}.", j.citations.recoverable_amount));
    out
}

/// Names of the subjects controlling an account, joined.
pub(crate) fn controllers(case: &Case, account: &str) -> String {
    case.account(account)
        .map(|a| {
            a.controlled_by
                .iter()
                .filter_map(|id| case.subjects.iter().find(|s| &s.id == id))
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// `value × share`, rounded half to even to the penny.
pub(crate) fn share_of(pence: i64, share: Decimal) -> i64 {
    let mut s = share;
    s.rescale(6);
    let v = uplift::div_half_even(i128::from(pence) * s.mantissa(), 1_000_000);
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Pence of a foreign amount converted at `rate` (base per unit, at most 8 places),
/// rounded half to even to the penny, as the verify stage converts rows.
pub(crate) fn convert_at(pence: i64, rate: Decimal) -> i64 {
    let mut r = rate;
    r.rescale(8);
    let v = uplift::div_half_even(i128::from(pence) * r.mantissa(), 100_000_000);
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Pence as `1234.56`.
pub(crate) fn pounds(pence: i64) -> String {
    crate::money::format_amount(crate::money::from_minor_units(i128::from(pence)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_conversions_round_half_to_even() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        // 0.01 × 0.5 = 0.005 → 0.00; 0.03 × 0.5 = 0.015 → 0.02.
        assert_eq!(share_of(1, d("0.5")), 0);
        assert_eq!(share_of(3, d("0.5")), 2);
        assert_eq!(share_of(14_000_000, d("0.5")), 7_000_000);
        // €1,234.56 at 0.8541 = £1,054.437696 → £1,054.44; €50.00 × 0.8537 = 42.685 → 42.68.
        assert_eq!(convert_at(123_456, d("0.8541")), 105_444);
        assert_eq!(convert_at(5_000, d("0.8537")), 4_268);
    }

    #[test]
    fn schedule_options_read_from_toml() {
        let o: ScheduleOptions = toml::from_str(
            "attributed_txn_ids = [\"a-L1\"]\nattributed_findings = [\"STR-001\", \"*\"]\noffence_date = 2021-01-01\naccount_shares = { J = \"0.5\" }\n",
        )
        .unwrap();
        assert_eq!(o.attributed_findings, vec!["STR-001", "*"]);
        assert_eq!(o.offence_date, NaiveDate::from_ymd_opt(2021, 1, 1));
        assert_eq!(o.account_shares["J"], Decimal::new(5, 1));
        let typo = toml::from_str::<ScheduleOptions>("offense_date = 2021-01-01").unwrap_err();
        assert!(typo.to_string().contains("unknown field"), "{typo}");
    }
}
