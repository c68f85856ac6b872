//! Verify: the ledger as ingested goes in; a ledger fit to count from, and the evidence
//! that it is, comes out.
//!
//! **In:** the resolved [`Case`], the canonical ledger from ingest (schema in
//! `docs/ledger.md`), and the statement periods whose opening and closing balances the
//! bank stated (structured formats), to which [`verify`] adds the periods of the case's
//! `period_balances` reference file when it names one.
//!
//! **Out:** [`Verified`] — the ledger with duplicated overlap rows removed, `amount_base`
//! filled from the case's rate table and counterparties normalised; `integrity` (every
//! balance, statement, coverage, overlap and conversion check, pass or fail);
//! `duplicates` (every row removed and the row it duplicates); `transfers` (debits and
//! credits between case accounts matched one to one, with a score and a reason); and
//! plain-language summary paragraphs for the court report. Columns are documented in
//! `docs/verify.md`.
//!
//! **Order, and why:** duplicates first, so that no later check or total sees a row twice;
//! currency next, because transfer matching compares base-currency amounts; counterparties
//! before transfers, which use the normalised names as evidence; balances on the
//! deduplicated ledger, so the chain crosses from one export into the next exactly where
//! the kept copy hands over; coverage gaps from the statement periods and the balance
//! breaks; transfers last. Each check lives in its own file.

pub mod balances;
pub mod counterparties;
pub mod currency;
pub mod duplicates;
mod frame;
pub mod gaps;
pub mod integrity;
pub mod periods;
mod refcsv;
pub mod summary;
pub mod transfers;

use std::path::PathBuf;

use polars::prelude::*;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::case::Case;
use crate::ingest::StatementPeriod;
use crate::ledger::col;

pub use counterparties::CounterpartyRules;
pub use currency::RateTable;
pub use frame::{date_to_day, day_to_date};

/// Columns the verify stage adds to the ledger, after the canonical ones.
pub mod added_col {
    /// Rate used to fill `amount_base` (base currency per one unit), `Decimal(18, 8)`.
    pub const FX_RATE: &str = "fx_rate";
    /// Date of the rate used; earlier than `booking_date` on weekends and holidays.
    pub const FX_RATE_DATE: &str = "fx_rate_date";
    /// Normalised counterparty name for counting distinct counterparties.
    pub const COUNTERPARTY_KEY: &str = "counterparty_key";
    /// Id of the `rules/counterparties.toml` pattern that read the narrative, if any.
    pub const COUNTERPARTY_RULE: &str = "counterparty_rule";
    /// The matched internal transfer this row is one side of, if any.
    pub const TRANSFER_ID: &str = "transfer_id";
}

/// Parameters of the verification stage. Every one has a default; the case file may set them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyOptions {
    /// A credit may be booked up to this many days after the debit it matches (0 = same day).
    pub transfer_window_days: u32,
    /// Largest relative difference between the base-currency amounts of a debit and a
    /// credit in different currencies, as a fraction of the debit (`"0.02"` = 2%).
    pub fx_tolerance: Decimal,
    /// Match a transfer only when an account number, a name or a reference supports it,
    /// not on amount and date alone.
    pub require_transfer_evidence: bool,
    /// Channels the debit and the credit of an internal transfer may have.
    pub transfer_channels: Vec<String>,
    /// Most candidate credits weighed for one debit (nearest dates first); reaching the
    /// limit is reported in the summary.
    pub max_transfer_candidates: usize,
    /// Oldest rate, in days before a booking date, that may stand in for that day's rate
    /// (weekends and holidays); an older one is an error. Set 31 for monthly rate tables.
    pub max_rate_age_days: u32,
    /// A counterparty rules file to use instead of the shipped `rules/counterparties.toml`
    /// (the caller resolves the path).
    pub counterparty_rules: Option<PathBuf>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            transfer_window_days: 3,
            fx_tolerance: Decimal::new(2, 2),
            require_transfer_evidence: true,
            transfer_channels: ["transfer", "standing_order", "cheque", "other"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_transfer_candidates: 50,
            max_rate_age_days: 7,
            counterparty_rules: None,
        }
    }
}

/// What the verification stage produces.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The ledger: overlap duplicates removed (`seq` keeps its original numbers, so a gap in
    /// `seq` shows where a row was dropped), `amount_base` filled, counterparties normalised,
    /// plus the columns in [`added_col`].
    pub ledger: DataFrame,
    /// Every check, pass or fail (`integrity.csv`).
    pub integrity: DataFrame,
    /// Every row removed as a duplicate, with the row kept in its place (`duplicates.csv`).
    pub duplicates: DataFrame,
    /// Internal transfers matched one to one (`transfers.csv`).
    pub transfers: DataFrame,
    /// Plain-language integrity summary paragraphs for the court report.
    pub summary: Vec<String>,
    /// What the paragraphs state, to be added up with other runs' (`crate::batches`).
    pub facts: summary::Facts,
    /// The counterparty rules used, for the manifest.
    pub counterparty_rules: RulesUsed,
    /// Rows in the ledger given to the stage (before duplicates were removed).
    pub rows_in: usize,
}

/// A rules file used by the stage: where it came from, its version and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesUsed {
    pub origin: String,
    pub version: u32,
    pub sha256: String,
}

impl RulesUsed {
    /// The rules' line in the manifest's `rules`.
    pub fn manifest_entry(&self) -> crate::report::manifest::RuleUse {
        crate::report::manifest::RuleUse {
            id: format!("counterparties ({})", self.origin),
            version: self.version,
        }
    }

    fn of(rules: &CounterpartyRules) -> RulesUsed {
        RulesUsed {
            origin: rules.origin.clone(),
            version: rules.version,
            sha256: rules.sha256.clone(),
        }
    }
}

/// Why verification could not complete. Messages name the file, line and field and say
/// what would be valid.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reference file {file} cannot be read: {source}")]
    Unreadable {
        file: String,
        source: std::io::Error,
    },
    #[error("rates file {file}, line {line}, field `{field}`: {problem}")]
    BadRate {
        file: String,
        line: u32,
        field: String,
        problem: String,
    },
    #[error("period balances file {file}, line {line}, field `{field}`: {problem}")]
    BadPeriodBalance {
        file: String,
        line: u32,
        field: String,
        problem: String,
    },
    #[error("account {account} is held in {currency}, but the case names no rates file; add `rates = \"reference/rates.csv\"` under [reference] with columns date,currency,rate (rate = {base} per one {currency})")]
    NoRatesFile {
        account: String,
        currency: String,
        base: String,
    },
    #[error("rates file {file} has no {currency} rate on or before {date}, needed for {row}; add a line `{date},{currency},RATE` where RATE is {base} per one {currency}")]
    MissingRate {
        file: String,
        currency: String,
        base: String,
        date: chrono::NaiveDate,
        row: Box<RowRef>,
    },
    #[error("rates file {file}: the latest {currency} rate on or before {date} is dated {rate_date}, {age_days} days earlier, more than the {max_days} days allowed (max_rate_age_days), needed for {row}; add the rate for {date} or raise max_rate_age_days")]
    StaleRate {
        file: String,
        currency: String,
        date: chrono::NaiveDate,
        rate_date: chrono::NaiveDate,
        age_days: i64,
        max_days: u32,
        row: Box<RowRef>,
    },
    #[error("{row}: {amount} {currency} at rate {rate} gives a base amount too large for the ledger (at most 16 digits before the decimal point)")]
    ConversionOverflow {
        row: Box<RowRef>,
        amount: String,
        currency: String,
        rate: Decimal,
    },
    #[error("counterparty rules {file}: {problem}")]
    BadCounterpartyRules { file: String, problem: String },
    #[error("verify option `{option}` {problem}")]
    BadOption { option: String, problem: String },
    #[error("internal error: the ledger given to verify is not the canonical ledger: {problem}")]
    Ledger { problem: String },
    #[error("internal error in verify ({context}): {source}")]
    Polars {
        context: String,
        source: PolarsError,
    },
}

/// A ledger row named in an error: its id, file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRef {
    pub txn_id: String,
    pub source_file: String,
    pub line: u32,
}

impl std::fmt::Display for RowRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, line {})",
            self.txn_id, self.source_file, self.line
        )
    }
}

impl VerifyError {
    /// Whether the error is ours (a bug) rather than the input's.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            VerifyError::Ledger { .. } | VerifyError::Polars { .. }
        )
    }
}

/// Run every verification check over a case's ledger.
///
/// `statements` are the periods with stated balances from ingest; the periods of the case's
/// `period_balances` file, if it names one, are read and added here. Fails (rather than
/// guessing) on a malformed or missing reference file, a missing exchange rate, or a bad
/// counterparty rules file.
pub fn verify(
    case: &Case,
    ledger: DataFrame,
    statements: &[StatementPeriod],
    options: &VerifyOptions,
) -> Result<Verified, VerifyError> {
    check_options(options)?;
    // Reference data first, so a bad file fails before any work is done.
    with_counterparty_rules(options, |rules| {
        verify_with(case, ledger, statements, options, rules, None)
    })
}

/// [`verify`] over the rows of some of the case's accounts (`accounts`, case positions),
/// a set no internal transfer leaves (a batch of groups, `crate::batches`): the integrity
/// checks and the summary's facts are those of these accounts alone, where [`verify`]
/// would also find every other account holding nothing.
pub fn verify_accounts(
    case: &Case,
    ledger: DataFrame,
    statements: &[StatementPeriod],
    options: &VerifyOptions,
    accounts: &[u32],
) -> Result<Verified, VerifyError> {
    check_options(options)?;
    let mut member = vec![false; case.accounts.len()];
    for &a in accounts {
        if let Some(m) = member.get_mut(a as usize) {
            *m = true;
        }
    }
    with_counterparty_rules(options, |rules| {
        verify_with(case, ledger, statements, options, rules, Some(&member))
    })
}

/// The counterparty rules a verify with these options uses: where they came from, their
/// version and SHA-256 (for a run that verifies no rows, the manifest's entry all the same).
pub fn counterparty_rules_used(options: &VerifyOptions) -> Result<RulesUsed, VerifyError> {
    with_counterparty_rules(options, |rules| Ok(RulesUsed::of(rules)))
}

/// The counterparty rules the options name (a case's own file), else the shipped ones, for
/// `f`.
fn with_counterparty_rules<T>(
    options: &VerifyOptions,
    f: impl FnOnce(&CounterpartyRules) -> Result<T, VerifyError>,
) -> Result<T, VerifyError> {
    match &options.counterparty_rules {
        Some(path) => f(&CounterpartyRules::load(path)?),
        None => f(CounterpartyRules::shipped()?),
    }
}

/// [`verify`] with its counterparty rules.
fn verify_with(
    case: &Case,
    ledger: DataFrame,
    statements: &[StatementPeriod],
    options: &VerifyOptions,
    rules: &CounterpartyRules,
    member: Option<&[bool]>,
) -> Result<Verified, VerifyError> {
    let rates = RateTable::for_case(case)?;
    let mut periods: Vec<StatementPeriod> = statements.to_vec();
    periods.extend(periods::load_period_balances(case)?);

    let rows_in = ledger.height();
    let FirstSteps {
        ledger,
        dedup,
        converted,
        parties,
        mut integrity_rows,
    } = first_steps(case, ledger, rates.as_ref(), rules, options)?;

    // 4. Balance continuity and statement periods; 5. coverage gaps.
    // Steps 4 to 6 read the same columns of the same ledger: read once.
    let rows = frame::Rows::read(case, &ledger)?;
    let balance = balances::check(case, &rows, &periods)?;
    integrity_rows.extend(balance.integrity.iter().cloned());
    let coverage = gaps::find(case, &rows, &balance)?;
    integrity_rows.extend(coverage.integrity.iter().cloned());

    // 6. Internal transfers.
    let matched = transfers::match_transfers_in(case, &ledger, &rows, rules, options)?;
    drop(rows);
    let ledger = matched.apply(ledger)?;

    let facts = summary::Facts::of(
        &summary::Inputs {
            case,
            ledger: &ledger,
            rows_in,
            dedup: &dedup,
            converted: &converted,
            parties: &parties,
            rules,
            balance: &balance,
            coverage: &coverage,
            transfers: &matched,
            periods: &periods,
            rates: rates.as_ref(),
        },
        member,
    )?;
    if let Some(member) = member {
        integrity_rows.retain(|r| member.get(r.account).copied().unwrap_or(false));
    }
    let integrity = integrity::to_frame(integrity_rows)?;
    Ok(Verified {
        ledger,
        integrity,
        duplicates: dedup.duplicates,
        transfers: matched.frame,
        summary: facts.paragraphs(case),
        facts,
        counterparty_rules: RulesUsed::of(rules),
        rows_in,
    })
}

/// What steps 1 to 3 of [`verify`] leave: the ledger without overlap duplicates, with base
/// amounts and counterparty keys, and what each step found.
struct FirstSteps {
    ledger: DataFrame,
    dedup: duplicates::Dedup,
    converted: currency::Converted,
    parties: counterparties::Parties,
    integrity_rows: Vec<integrity::IntegrityRow>,
}

/// Steps 1 to 3 of [`verify`]: overlapping exports, currency, counterparties.
fn first_steps(
    case: &Case,
    ledger: DataFrame,
    rates: Option<&RateTable>,
    rules: &CounterpartyRules,
    options: &VerifyOptions,
) -> Result<FirstSteps, VerifyError> {
    let ledger = frame::canonical(ledger)?;
    let mut integrity_rows = Vec::new();

    // 1. Overlapping exports: drop the later copy of each duplicated row.
    let rows = frame::Rows::read(case, &ledger)?;
    let dedup = duplicates::find(case, &rows)?;
    integrity_rows.extend(dedup.integrity.iter().cloned());
    // 2. Currency: amount_base, fx_rate, fx_rate_date. Nothing to drop is the usual case:
    // the ledger then stays as it is, not copied, and its rows are not read again.
    let kept_all = dedup.keep.iter().all(|&k| k);
    let converted_kept = if kept_all {
        Some(currency::convert(case, rates, &rows, options)?)
    } else {
        None
    };
    drop(rows);
    let (ledger, mut converted) = match converted_kept {
        Some(converted) => (ledger, converted),
        None => {
            let ledger = ledger
                .filter(&BooleanChunked::from_slice("keep".into(), &dedup.keep))
                .map_err(frame::polars_err("removing duplicate rows"))?;
            let rows = frame::Rows::read(case, &ledger)?;
            let converted = currency::convert(case, rates, &rows, options)?;
            drop(rows);
            (ledger, converted)
        }
    };
    integrity_rows.extend(converted.integrity.iter().cloned());
    let ledger = converted.apply(ledger)?;

    // 3. Counterparties: names from narratives, normalised keys.
    let parties = counterparties::apply(rules, &ledger)?;
    let ledger = parties.apply(ledger)?;

    Ok(FirstSteps {
        ledger,
        dedup,
        converted,
        parties,
        integrity_rows,
    })
}

/// Internal transfers alone (`transfers.csv`): the steps of [`verify`] that matching depends
/// on (overlapping exports, currency, counterparties) and the matching, run exactly as
/// [`verify`] runs them, without the balance and coverage checks. For a ledger holding only
/// some rows of an account (`crate::groups`), those checks would report every missing row.
pub fn transfers_only(
    case: &Case,
    ledger: DataFrame,
    options: &VerifyOptions,
) -> Result<DataFrame, VerifyError> {
    Ok(transfers_and_facts(case, ledger, options)?.0)
}

/// [`transfers_only`], with the figures the integrity summary states of them.
pub fn transfers_and_facts(
    case: &Case,
    ledger: DataFrame,
    options: &VerifyOptions,
) -> Result<(DataFrame, summary::TransferFacts), VerifyError> {
    check_options(options)?;
    with_counterparty_rules(options, |rules| {
        let rates = RateTable::for_case(case)?;
        let FirstSteps { ledger, .. } = first_steps(case, ledger, rates.as_ref(), rules, options)?;
        let rows = frame::Rows::read(case, &ledger)?;
        let matched = transfers::match_transfers_in(case, &ledger, &rows, rules, options)?;
        let facts = summary::TransferFacts::of(&matched);
        Ok((matched.frame, facts))
    })
}

fn check_options(options: &VerifyOptions) -> Result<(), VerifyError> {
    let bad = |option: &str, problem: String| VerifyError::BadOption {
        option: option.to_string(),
        problem,
    };
    if options.fx_tolerance.is_sign_negative() || options.fx_tolerance >= Decimal::ONE {
        return Err(bad(
            "fx_tolerance",
            format!(
                "is {}; expected a fraction from 0 to below 1, e.g. \"0.02\" for 2%",
                options.fx_tolerance
            ),
        ));
    }
    if options.transfer_window_days > 31 {
        return Err(bad(
            "transfer_window_days",
            format!("is {}; expected 0 to 31 days", options.transfer_window_days),
        ));
    }
    if options.max_transfer_candidates == 0 {
        return Err(bad(
            "max_transfer_candidates",
            "is 0; expected at least 1".into(),
        ));
    }
    let known: Vec<&str> = crate::ledger::Channel::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    for c in &options.transfer_channels {
        if !known.contains(&c.as_str()) {
            return Err(bad(
                "transfer_channels",
                format!("names {c:?}; valid channels are {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

/// The ledger column names this stage reads.
pub const REQUIRED: [&str; 16] = [
    col::TXN_ID,
    col::ACCOUNT_ID,
    col::SOURCE_FILE,
    col::SOURCE_LINE,
    col::SEQ,
    col::BOOKING_DATE,
    col::AMOUNT,
    col::CURRENCY,
    col::AMOUNT_BASE,
    col::BALANCE,
    col::CHANNEL,
    col::COUNTERPARTY_NAME,
    col::COUNTERPARTY_ACCOUNT,
    col::DESCRIPTION,
    col::LOCATION,
    col::BANK_TXN_ID,
];
