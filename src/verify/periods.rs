//! The case's `period_balances` reference file: statement periods with the opening and
//! closing balances printed on paper statements, for sources (CSV exports) that carry none.
//!
//! Format (`docs/verify.md`): a CSV with the header
//! `account_id,period_start,period_end,opening_balance,closing_balance`; dates
//! `YYYY-MM-DD`; balances plain decimals in the account's currency with at most two places
//! (`-12.50`). The opening balance is the balance at the start of `period_start`, before
//! any movement that day; the closing balance is the balance at the end of `period_end`.
//! Each line becomes a [`StatementPeriod`] whose `source_file` is the reference file.

use crate::case::Case;
use crate::hash::sha256_file;
use crate::ingest::StatementPeriod;

use super::refcsv::{iso_date, plain_decimal, read, RefProblem};
use super::VerifyError;

/// The header of a period balances file.
pub const HEADER: [&str; 5] = [
    "account_id",
    "period_start",
    "period_end",
    "opening_balance",
    "closing_balance",
];

/// Read the case's `period_balances` file, if it names one.
pub fn load_period_balances(case: &Case) -> Result<Vec<StatementPeriod>, VerifyError> {
    let Some(path) = case.reference_file("period_balances") else {
        return Ok(Vec::new());
    };
    let unreadable = |source| VerifyError::Unreadable {
        file: path.written.clone(),
        source,
    };
    let (sha256, _) = sha256_file(&path.resolved).map_err(unreadable)?;
    let text = std::fs::read_to_string(&path.resolved).map_err(unreadable)?;
    parse_period_balances(case, &path.written, &sha256, &text)
}

/// Parse the text of a period balances file.
pub fn parse_period_balances(
    case: &Case,
    file: &str,
    sha256: &str,
    text: &str,
) -> Result<Vec<StatementPeriod>, VerifyError> {
    let bad = |p: RefProblem| VerifyError::BadPeriodBalance {
        file: file.to_string(),
        line: p.line,
        field: p.field,
        problem: p.problem,
    };
    let records = read(text, &HEADER).map_err(bad)?;
    let mut out = Vec::with_capacity(records.len());
    for rec in records {
        let problem = |field: &str, problem: String| {
            bad(RefProblem {
                line: rec.line,
                field: field.to_string(),
                problem,
            })
        };
        let f = &rec.fields;
        let account = case.account(&f[0]).ok_or_else(|| {
            problem(
                "account_id",
                format!(
                    "{:?} is not an account of the case; expected one of {}",
                    f[0],
                    case.accounts
                        .iter()
                        .map(|a| a.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let date = |i: usize| {
            iso_date(&f[i]).ok_or_else(|| {
                problem(
                    HEADER[i],
                    format!("{:?} is not a date written YYYY-MM-DD", f[i]),
                )
            })
        };
        let start = date(1)?;
        let end = date(2)?;
        if end < start {
            return Err(problem(
                "period_end",
                format!("{end} is before period_start {start}"),
            ));
        }
        let balance = |i: usize| plain_decimal(&f[i], 2, true).map_err(|p| problem(HEADER[i], p));
        let opening = balance(3)?;
        let closing = balance(4)?;
        out.push(StatementPeriod {
            account_id: account.id.clone(),
            source_file: file.to_string(),
            source_sha256: sha256.to_string(),
            line: rec.line,
            statement_id: None,
            currency: account.currency.clone(),
            period_start: Some(start),
            period_end: Some(end),
            opening: Some((start, opening)),
            closing: Some((end, closing)),
        });
    }
    Ok(out)
}
