//! The integrity report: one row per check, pass or fail, per account and period.
//!
//! Every check file produces [`IntegrityRow`]s; [`to_frame`] orders them (account in case
//! order, then [`Check`] order, then dates and line) and builds `integrity.csv`'s frame.
//! Columns are listed in [`COLUMNS`] and documented in `docs/verify.md`.

use polars::prelude::*;

use super::frame::{date_column, money_column, polars_err};
use super::VerifyError;
use crate::case::Case;

/// What was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// Each row's reported balance = the previous reported balance + the movements since.
    BalanceContinuity,
    /// A statement's opening balance + the movements dated in its period = its closing balance.
    StatementBalance,
    /// Each statement's opening balance = the previous statement's closing balance.
    StatementChain,
    /// Statements and rows cover the account from its first to its last date without a gap.
    Coverage,
    /// Two exports of one account overlap; the later copy of each row was dropped.
    Overlap,
    /// Rows in another currency were converted to the base currency.
    CurrencyConversion,
}

impl Check {
    /// The name written in `integrity.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Check::BalanceContinuity => "balance_continuity",
            Check::StatementBalance => "statement_balance",
            Check::StatementChain => "statement_chain",
            Check::Coverage => "coverage",
            Check::Overlap => "overlap",
            Check::CurrencyConversion => "currency_conversion",
        }
    }
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// The figures agree.
    Pass,
    /// The figures disagree, or something is missing: the investigator must look.
    Fail,
    /// The material holds nothing to check against (no balances, no statements).
    NotChecked,
}

impl Outcome {
    /// The name written in `integrity.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NotChecked => "not_checked",
        }
    }
}

/// One line of `integrity.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityRow {
    pub check: Check,
    /// Position of the account in the case file (orders the report).
    pub account: usize,
    pub account_id: String,
    /// Currency of `expected`, `reported` and `difference`.
    pub currency: String,
    pub result: Outcome,
    /// First and last day the check covers (for a break: the dates of the rows either side).
    pub from_date: Option<i32>,
    pub to_date: Option<i32>,
    /// Minor units.
    pub expected: Option<i128>,
    pub reported: Option<i128>,
    /// `reported - expected`.
    pub difference: Option<i128>,
    /// Rows (or row pairs, or periods) the check covered.
    pub rows: Option<u64>,
    /// Where the figure that was checked comes from.
    pub source_file: Option<String>,
    pub line: Option<u32>,
    pub txn_id: Option<String>,
    pub previous_txn_id: Option<String>,
    /// What was found, in plain words.
    pub detail: String,
}

impl IntegrityRow {
    /// A row with only the identifying fields set.
    pub fn new(check: Check, account: usize, case: &Case, result: Outcome) -> IntegrityRow {
        let acc = &case.accounts[account];
        IntegrityRow {
            check,
            account,
            account_id: acc.id.clone(),
            currency: acc.currency.clone(),
            result,
            from_date: None,
            to_date: None,
            expected: None,
            reported: None,
            difference: None,
            rows: None,
            source_file: None,
            line: None,
            txn_id: None,
            previous_txn_id: None,
            detail: String::new(),
        }
    }
}

/// The columns of `integrity.csv`, in order.
pub const COLUMNS: [&str; 16] = [
    "check_no",
    "check",
    "account_id",
    "currency",
    "result",
    "from_date",
    "to_date",
    "expected",
    "reported",
    "difference",
    "rows",
    "source_file",
    "line",
    "txn_id",
    "previous_txn_id",
    "detail",
];

/// Order the rows and build the frame.
pub fn to_frame(mut rows: Vec<IntegrityRow>) -> Result<DataFrame, VerifyError> {
    rows.sort_by(|a, b| {
        (
            a.account,
            a.check,
            a.from_date,
            a.to_date,
            &a.source_file,
            a.line,
            &a.detail,
        )
            .cmp(&(
                b.account,
                b.check,
                b.from_date,
                b.to_date,
                &b.source_file,
                b.line,
                &b.detail,
            ))
    });
    let n = rows.len();
    let text =
        |f: &dyn Fn(&IntegrityRow) -> String| -> Vec<String> { rows.iter().map(f).collect() };
    let opt_text = |f: &dyn Fn(&IntegrityRow) -> Option<String>| -> Vec<Option<String>> {
        rows.iter().map(f).collect()
    };
    let columns = vec![
        Column::new("check_no".into(), (1..=n as u32).collect::<Vec<u32>>()),
        Column::new("check".into(), text(&|r| r.check.as_str().to_string())),
        Column::new("account_id".into(), text(&|r| r.account_id.clone())),
        Column::new("currency".into(), text(&|r| r.currency.clone())),
        Column::new("result".into(), text(&|r| r.result.as_str().to_string())),
        date_column("from_date", rows.iter().map(|r| r.from_date).collect()),
        date_column("to_date", rows.iter().map(|r| r.to_date).collect()),
        money_column("expected", rows.iter().map(|r| r.expected).collect())?,
        money_column("reported", rows.iter().map(|r| r.reported).collect())?,
        money_column("difference", rows.iter().map(|r| r.difference).collect())?,
        Column::new(
            "rows".into(),
            rows.iter().map(|r| r.rows).collect::<Vec<Option<u64>>>(),
        ),
        Column::new("source_file".into(), opt_text(&|r| r.source_file.clone())),
        Column::new(
            "line".into(),
            rows.iter().map(|r| r.line).collect::<Vec<Option<u32>>>(),
        ),
        Column::new("txn_id".into(), opt_text(&|r| r.txn_id.clone())),
        Column::new(
            "previous_txn_id".into(),
            opt_text(&|r| r.previous_txn_id.clone()),
        ),
        Column::new("detail".into(), text(&|r| r.detail.clone())),
    ];
    DataFrame::new(n, columns).map_err(polars_err("building integrity.csv"))
}
