//! Coverage gaps: periods for which no statement is held, between the first and the last
//! date held for an account.
//!
//! A quiet week is not a gap: days without rows prove nothing. A gap needs evidence:
//!
//! - **statement periods** — the days between two statement periods that no period covers;
//! - **a balance break across two source files** — the last row of one export and the
//!   first row of the next do not reconcile, so movements (net `difference`) are missing
//!   between them; the gap runs from the date of the one row to the date of the other.
//!
//! When both kinds of evidence point at the same days, they are reported as one gap with
//! the statement dates and the missing net movement from the break. A break between two
//! rows of the same file is reported by `balances.rs` only: it is a fault inside an
//! export, not a missing statement. An account with neither running balances nor statement
//! periods is reported as `not_checked`: its completeness cannot be tested from the
//! material. (Missing rows whose movements net to exactly zero cannot be seen by any
//! balance test; that limit is stated in `docs/verify.md`.)

use super::balances::BalanceChecks;
use super::frame::{date_text, money_text, Rows};
use super::integrity::{Check, IntegrityRow, Outcome};
use super::VerifyError;
use crate::case::Case;

/// A period for which statements or rows appear to be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub account: usize,
    /// First and last day of the gap, inclusive.
    pub from: i32,
    pub to: i32,
    /// Found from the statement periods.
    pub from_statements: bool,
    /// Found from a balance break between two files.
    pub from_balance_break: bool,
    /// Net movement missing (reported − expected balance), where a break shows it.
    pub missing_movement: Option<i128>,
    /// Rows held dated inside the gap.
    pub rows_held: usize,
    /// The rows either side of the break, if any.
    pub break_rows: Option<(String, String)>,
}

/// What the coverage check found.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    pub gaps: Vec<Gap>,
    /// Accounts whose coverage could not be checked.
    pub not_checked: Vec<usize>,
    pub integrity: Vec<IntegrityRow>,
}

/// Find coverage gaps from statement periods and balance breaks.
pub(crate) fn find(
    case: &Case,
    rows: &Rows<'_>,
    balances: &BalanceChecks,
) -> Result<Coverage, VerifyError> {
    let lists = rows.by_account(case.accounts.len())?;
    let mut out = Coverage::default();
    for (account, list) in lists.iter().enumerate() {
        let periods = &balances.periods[account];
        let rows_in = |from: i32, to: i32| {
            list.partition_point(|&i| rows.date[i] <= to)
                - list.partition_point(|&i| rows.date[i] < from)
        };
        let mut gaps: Vec<Gap> = Vec::new();
        // Days no statement period covers, between the first and last period.
        let mut dated: Vec<(i32, i32)> = periods
            .iter()
            .filter_map(|p| Some((p.start?, p.end?)))
            .collect();
        dated.sort_unstable();
        if let Some(&(_, first_end)) = dated.first() {
            let mut covered_to = first_end;
            for &(s, e) in &dated[1..] {
                if s > covered_to + 1 {
                    let (from, to) = (covered_to + 1, s - 1);
                    gaps.push(Gap {
                        account,
                        from,
                        to,
                        from_statements: true,
                        from_balance_break: false,
                        missing_movement: None,
                        rows_held: rows_in(from, to),
                        break_rows: None,
                    });
                }
                covered_to = covered_to.max(e);
            }
        }
        // Breaks between the last row of one export and the first of the next.
        for b in balances
            .breaks
            .iter()
            .filter(|b| b.account == account && b.across_sources())
        {
            let merged = gaps.iter_mut().find(|g| {
                g.from_statements
                    && !g.from_balance_break
                    && b.previous_date <= g.to
                    && b.date >= g.from
            });
            let rows_pair = Some((b.previous_txn_id.clone(), b.txn_id.clone()));
            match merged {
                Some(g) => {
                    g.from_balance_break = true;
                    g.missing_movement = Some(b.difference);
                    g.break_rows = rows_pair;
                }
                None => gaps.push(Gap {
                    account,
                    from: b.previous_date,
                    to: b.date,
                    from_statements: false,
                    from_balance_break: true,
                    missing_movement: Some(b.difference),
                    rows_held: 0,
                    break_rows: rows_pair,
                }),
            }
        }
        gaps.sort_by_key(|g| (g.from, g.to));
        let cur = &case.accounts[account].currency;
        for g in &gaps {
            let basis = match (g.from_statements, g.from_balance_break) {
                (true, true) => "statement periods and a balance break",
                (true, false) => "statement periods",
                _ => "a balance break between two exports",
            };
            let mut detail = if g.from_statements {
                format!(
                    "no statement is held for {} to {} (found from {basis})",
                    date_text(g.from),
                    date_text(g.to)
                )
            } else {
                format!(
                    "rows appear to be missing between {} and {} (found from {basis})",
                    date_text(g.from),
                    date_text(g.to)
                )
            };
            if let (Some(m), Some((a, b))) = (g.missing_movement, &g.break_rows) {
                detail.push_str(&format!(
                    "; the balances after {a} and {b} differ by {} more than the rows held between them explain: the net movement of the missing rows",
                    money_text(m, cur)
                ));
            }
            if g.rows_held > 0 {
                detail.push_str(&format!(
                    "; {} rows dated in these days are held from other sources",
                    g.rows_held
                ));
            }
            let mut row = IntegrityRow::new(Check::Coverage, account, case, Outcome::Fail);
            row.from_date = Some(g.from);
            row.to_date = Some(g.to);
            row.difference = g.missing_movement;
            row.rows = Some(g.rows_held as u64);
            if let Some((a, b)) = &g.break_rows {
                row.previous_txn_id = Some(a.clone());
                row.txn_id = Some(b.clone());
                if let Some(brk) = balances.breaks.iter().find(|x| &x.txn_id == b) {
                    row.expected = Some(brk.expected);
                    row.reported = Some(brk.reported);
                    row.source_file = Some(brk.source.clone());
                    row.line = Some(brk.line);
                }
            }
            row.detail = detail;
            out.integrity.push(row);
        }
        let evidence = balances.checked[account] || !periods.is_empty();
        let first = list.first().map(|&i| rows.date[i]);
        let last = list.last().map(|&i| rows.date[i]);
        if gaps.is_empty() {
            let mut row = IntegrityRow::new(
                Check::Coverage,
                account,
                case,
                if evidence {
                    Outcome::Pass
                } else {
                    Outcome::NotChecked
                },
            );
            row.from_date = first.or(dated.first().map(|d| d.0));
            row.to_date = last.or(dated.iter().map(|d| d.1).max());
            row.rows = Some(list.len() as u64);
            row.detail = match (evidence, first) {
                (true, _) => {
                    let mut basis = Vec::new();
                    if balances.checked[account] {
                        basis.push("no running-balance break falls between two exports");
                    }
                    if !periods.is_empty() {
                        basis.push("the statement periods are contiguous");
                    }
                    format!("no missing statement period found: {}", basis.join(" and "))
                }
                (false, Some(_)) => "no running balances and no statement periods are held, so whether statements are missing cannot be checked from the material".into(),
                (false, None) => "no transactions and no statements are held for this account".into(),
            };
            if !evidence {
                out.not_checked.push(account);
            }
            out.integrity.push(row);
        }
        out.gaps.extend(gaps);
    }
    Ok(out)
}
