//! Balance continuity: do the rows held add up to the balances the bank reported?
//!
//! **Running balances.** Per account, in ledger order (`seq`), each row that carries a
//! `balance` must equal the balance of the previous row that carried one plus every
//! movement since (rows without a balance in between are added in). A sequential scan is
//! the honest algorithm: O(n). A break is reported with the rows either side, the expected
//! and reported balances and `difference = reported - expected`; the scan then continues
//! from the reported balance, so one break is reported once. Consecutive passing checks are
//! reported as one `pass` row per run within a source file. The check runs on the
//! deduplicated ledger, so where one export hands over to the next the chain crosses from
//! the last kept row of the first into the second: a break there means rows are missing
//! between the two files (`gaps.rs` reports it as a coverage gap).
//!
//! **Statement periods.** Where a statement states an opening and a closing balance:
//! opening + the movements of the account's rows booked in the period (first to last day,
//! inclusive) = closing (`statement_balance`); and each period's opening = the previous
//! period's closing (`statement_chain`).

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::frame::{date_text, money_text, Rows};
use super::integrity::{Check, IntegrityRow, Outcome};
use super::{date_to_day, VerifyError};
use crate::case::Case;
use crate::ingest::StatementPeriod;

/// A running-balance break: the rows either side and the figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub account: usize,
    pub previous_txn_id: String,
    pub txn_id: String,
    pub previous_date: i32,
    pub date: i32,
    pub previous_source: String,
    pub source: String,
    pub line: u32,
    pub expected: i128,
    pub reported: i128,
    /// `reported - expected`: the net movement missing from the rows held, if rows are missing.
    pub difference: i128,
}

impl Break {
    /// Whether the rows either side come from different source files.
    pub fn across_sources(&self) -> bool {
        self.previous_source != self.source
    }
}

/// A statement period resolved against the case: account, first and last day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub account: usize,
    pub start: Option<i32>,
    pub end: Option<i32>,
    pub opening: Option<i128>,
    pub closing: Option<i128>,
    pub source_file: String,
    pub line: u32,
}

/// What the balance checks found.
#[derive(Debug, Clone, Default)]
pub struct BalanceChecks {
    pub breaks: Vec<Break>,
    /// Per account: running-balance checks that passed.
    pub passed: Vec<u64>,
    /// Per account: whether at least two rows carry a balance (so the chain was checked).
    pub checked: Vec<bool>,
    /// Statement periods per account, sorted by start.
    pub periods: Vec<Vec<Period>>,
    pub statement_fails: usize,
    pub chain_fails: usize,
    pub integrity: Vec<IntegrityRow>,
}

fn minor(d: Decimal) -> Option<i128> {
    let mut v = d;
    v.rescale(2);
    (v == d).then(|| v.mantissa())
}

/// Run both balance checks over the deduplicated ledger.
pub(crate) fn check(
    case: &Case,
    rows: &Rows<'_>,
    statements: &[StatementPeriod],
) -> Result<BalanceChecks, VerifyError> {
    let lists = rows.by_account(case.accounts.len())?;
    let mut out = BalanceChecks {
        passed: vec![0; case.accounts.len()],
        checked: vec![false; case.accounts.len()],
        periods: vec![Vec::new(); case.accounts.len()],
        ..BalanceChecks::default()
    };
    for (account, list) in lists.iter().enumerate() {
        running_balances(case, rows, account, list, &mut out);
    }
    statement_periods(case, rows, &lists, statements, &mut out)?;
    Ok(out)
}

struct Run {
    from: i32,
    to: i32,
    checks: u64,
    source: String,
    first_txn: String,
    last_txn: String,
}

fn running_balances(
    case: &Case,
    rows: &Rows<'_>,
    account: usize,
    list: &[usize],
    out: &mut BalanceChecks,
) {
    let with_balance = list.iter().filter(|&&i| rows.balance(i).is_some()).count();
    if list.is_empty() {
        return;
    }
    if with_balance < 2 {
        let mut row =
            IntegrityRow::new(Check::BalanceContinuity, account, case, Outcome::NotChecked);
        row.from_date = list.first().map(|&i| rows.date[i]);
        row.to_date = list.last().map(|&i| rows.date[i]);
        row.rows = Some(0);
        row.detail = if with_balance == 0 {
            "no row carries a running balance, so the rows cannot be checked against the bank's balances".into()
        } else {
            "only one row carries a running balance; there is nothing to check it against".into()
        };
        out.integrity.push(row);
        return;
    }
    out.checked[account] = true;
    let cur = &case.accounts[account].currency;
    let mut last: Option<usize> = None;
    let mut pending: i128 = 0;
    let mut between: u64 = 0;
    let mut run: Option<Run> = None;
    let close = |run: &mut Option<Run>, out: &mut BalanceChecks| {
        if let Some(r) = run.take() {
            let mut row = IntegrityRow::new(Check::BalanceContinuity, account, case, Outcome::Pass);
            row.from_date = Some(r.from);
            row.to_date = Some(r.to);
            row.rows = Some(r.checks);
            row.source_file = Some(r.source);
            row.txn_id = Some(r.last_txn.clone());
            row.previous_txn_id = Some(r.first_txn.clone());
            row.detail = format!(
                "{} consecutive running balances reconcile from {} to {} ({} to {})",
                r.checks,
                r.first_txn,
                r.last_txn,
                date_text(r.from),
                date_text(r.to)
            );
            out.integrity.push(row);
        }
    };
    for &i in list {
        let Some(reported) = rows.balance(i) else {
            pending += rows.amount(i);
            between += 1;
            continue;
        };
        if let Some(p) = last {
            let Some(previous) = rows.balance(p) else {
                continue;
            };
            let movement = pending + rows.amount(i);
            let expected = previous + movement;
            if expected == reported {
                out.passed[account] += 1;
                let same_source = run
                    .as_ref()
                    .is_some_and(|r| r.source == rows.source_file(i));
                if !same_source {
                    close(&mut run, out);
                    run = Some(Run {
                        from: rows.date[p],
                        to: rows.date[i],
                        checks: 0,
                        source: rows.source_file(i).to_string(),
                        first_txn: rows.txn_id(p).to_string(),
                        last_txn: rows.txn_id(i).to_string(),
                    });
                }
                if let Some(r) = run.as_mut() {
                    r.checks += 1;
                    r.to = rows.date[i];
                    r.last_txn = rows.txn_id(i).to_string();
                }
            } else {
                close(&mut run, out);
                let b = Break {
                    account,
                    previous_txn_id: rows.txn_id(p).to_string(),
                    txn_id: rows.txn_id(i).to_string(),
                    previous_date: rows.date[p],
                    date: rows.date[i],
                    previous_source: rows.source_file(p).to_string(),
                    source: rows.source_file(i).to_string(),
                    line: rows.source_line[i],
                    expected,
                    reported,
                    difference: reported - expected,
                };
                let mut detail = format!(
                    "the balance after {} ({}, line {}, {}) is reported as {}; the previous balance, after {} ({}, line {}, {}), was {} and the movements since total {}{}, so {} was expected: a difference of {}",
                    b.txn_id,
                    b.source,
                    b.line,
                    date_text(b.date),
                    money_text(reported, cur),
                    b.previous_txn_id,
                    b.previous_source,
                    rows.source_line[p],
                    date_text(b.previous_date),
                    money_text(previous, cur),
                    money_text(movement, cur),
                    if between > 0 { format!(" (including {between} rows without a balance)") } else { String::new() },
                    money_text(expected, cur),
                    money_text(b.difference, cur)
                );
                if b.across_sources() {
                    detail.push_str(
                        "; the two rows are in different exports, so rows between them appear to be missing (see coverage)",
                    );
                } else {
                    detail.push_str(
                        "; rows may be missing or altered, or the bank's balance is wrong",
                    );
                }
                let mut row =
                    IntegrityRow::new(Check::BalanceContinuity, account, case, Outcome::Fail);
                row.from_date = Some(b.previous_date);
                row.to_date = Some(b.date);
                row.expected = Some(expected);
                row.reported = Some(reported);
                row.difference = Some(b.difference);
                row.rows = Some(1);
                row.source_file = Some(b.source.clone());
                row.line = Some(b.line);
                row.txn_id = Some(b.txn_id.clone());
                row.previous_txn_id = Some(b.previous_txn_id.clone());
                row.detail = detail;
                out.integrity.push(row);
                out.breaks.push(b);
            }
        }
        last = Some(i);
        pending = 0;
        between = 0;
    }
    close(&mut run, out);
}

fn statement_periods(
    case: &Case,
    rows: &Rows<'_>,
    lists: &[Vec<usize>],
    statements: &[StatementPeriod],
    out: &mut BalanceChecks,
) -> Result<(), VerifyError> {
    let index: HashMap<&str, usize> = case
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    for s in statements {
        let account = *index
            .get(s.account_id.as_str())
            .ok_or_else(|| VerifyError::Ledger {
                problem: format!(
                    "statement period at {} line {} names account {:?}, which is not in the case",
                    s.source_file, s.line, s.account_id
                ),
            })?;
        out.periods[account].push(Period {
            account,
            start: s.period_start.or(s.opening.map(|o| o.0)).map(date_to_day),
            end: s.period_end.or(s.closing.map(|c| c.0)).map(date_to_day),
            opening: s.opening.and_then(|o| minor(o.1)),
            closing: s.closing.and_then(|c| minor(c.1)),
            source_file: s.source_file.clone(),
            line: s.line,
        });
    }
    for (account, periods) in out.periods.iter_mut().enumerate() {
        periods.sort_by(|a, b| {
            (a.start, a.end, &a.source_file, a.line).cmp(&(b.start, b.end, &b.source_file, b.line))
        });
        let list = &lists[account];
        // Prefix sums of movements, for the sum over any date range in O(log n).
        let mut prefix = Vec::with_capacity(list.len() + 1);
        prefix.push(0i128);
        for &i in list {
            let last = prefix.last().copied().unwrap_or(0);
            prefix.push(last + rows.amount(i));
        }
        let cur = &case.accounts[account].currency;
        for p in periods.iter() {
            let mut row =
                IntegrityRow::new(Check::StatementBalance, account, case, Outcome::NotChecked);
            row.from_date = p.start;
            row.to_date = p.end;
            row.source_file = Some(p.source_file.clone());
            row.line = Some(p.line);
            match (p.start, p.end, p.opening, p.closing) {
                (Some(a), Some(b), Some(open), Some(close)) => {
                    let lo = list.partition_point(|&i| rows.date[i] < a);
                    let hi = list.partition_point(|&i| rows.date[i] <= b);
                    let movement = prefix[hi] - prefix[lo];
                    let expected = open + movement;
                    let ok = expected == close;
                    row.result = if ok { Outcome::Pass } else { Outcome::Fail };
                    row.expected = Some(expected);
                    row.reported = Some(close);
                    row.difference = Some(close - expected);
                    row.rows = Some((hi - lo) as u64);
                    row.detail = format!(
                        "statement {} to {}: opening balance {} plus the {} rows held for those days ({}) gives {}; the closing balance stated is {}{}",
                        date_text(a),
                        date_text(b),
                        money_text(open, cur),
                        hi - lo,
                        money_text(movement, cur),
                        money_text(expected, cur),
                        money_text(close, cur),
                        if ok {
                            String::new()
                        } else {
                            format!(
                                ": a difference of {}, so rows held for the period are missing, extra or altered",
                                money_text(close - expected, cur)
                            )
                        }
                    );
                    if !ok {
                        out.statement_fails += 1;
                    }
                }
                _ => {
                    row.detail = "the statement does not state both an opening and a closing balance with their dates, or a balance has more than two decimal places".into();
                }
            }
            out.integrity.push(row);
        }
        for w in periods.windows(2) {
            let (p, q) = (&w[0], &w[1]);
            let (Some(close), Some(open)) = (p.closing, q.opening) else {
                continue;
            };
            let ok = close == open;
            let mut row = IntegrityRow::new(
                Check::StatementChain,
                account,
                case,
                if ok { Outcome::Pass } else { Outcome::Fail },
            );
            row.from_date = p.end;
            row.to_date = q.start;
            row.expected = Some(close);
            row.reported = Some(open);
            row.difference = Some(open - close);
            row.rows = Some(2);
            row.source_file = Some(q.source_file.clone());
            row.line = Some(q.line);
            let mut detail = format!(
                "the statement from {} opens at {} ({}, line {}); the previous statement, to {}, closed at {} ({}, line {})",
                q.start.map_or("(no date)".into(), date_text),
                money_text(open, cur),
                q.source_file,
                q.line,
                p.end.map_or("(no date)".into(), date_text),
                money_text(close, cur),
                p.source_file,
                p.line
            );
            if !ok {
                out.chain_fails += 1;
                detail.push_str(&format!(
                    ": a difference of {}",
                    money_text(open - close, cur)
                ));
            }
            if let (Some(e), Some(s)) = (p.end, q.start) {
                if s > e + 1 {
                    detail.push_str(&format!(
                        "; no statement covers {} to {} (see coverage)",
                        date_text(e + 1),
                        date_text(s - 1)
                    ));
                } else if s <= e {
                    detail.push_str("; the two periods overlap");
                }
            }
            row.detail = detail;
            out.integrity.push(row);
        }
    }
    Ok(())
}
