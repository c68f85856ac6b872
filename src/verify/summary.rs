//! The integrity summary: plain-language paragraphs that open the court report.
//!
//! One paragraph per subject, in a fixed order: what the ledger holds, overlapping exports,
//! running balances, statement periods, coverage, currency, internal transfers and
//! counterparties. Every figure in them is one of the figures in `integrity.csv`,
//! `duplicates.csv` or `transfers.csv`, so each sentence can be checked against a row.

use std::collections::HashMap;

use polars::prelude::*;

use super::balances::BalanceChecks;
use super::counterparties::{CounterpartyRules, Parties};
use super::currency::{Converted, RateTable};
use super::duplicates::Dedup;
use super::frame::{date_text, money_text, polars_err};
use super::gaps::Coverage;
use super::transfers::TransferMatches;
use super::VerifyError;
use crate::case::Case;
use crate::ingest::StatementPeriod;
use crate::ledger::col;

/// Everything the summary reports on.
pub(crate) struct Inputs<'a> {
    pub case: &'a Case,
    pub ledger: &'a DataFrame,
    pub rows_in: usize,
    pub dedup: &'a Dedup,
    pub converted: &'a Converted,
    pub parties: &'a Parties,
    pub rules: &'a CounterpartyRules,
    pub balance: &'a BalanceChecks,
    pub coverage: &'a Coverage,
    pub transfers: &'a TransferMatches,
    pub periods: &'a [StatementPeriod],
    pub rates: Option<&'a RateTable>,
}

const LISTED: usize = 20;

/// `1 debit`, `2 debits`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn more(total: usize) -> String {
    if total > LISTED {
        format!("; and {} more, listed in integrity.csv", total - LISTED)
    } else {
        String::new()
    }
}

struct AccountStats {
    rows: u64,
    first: i32,
    last: i32,
    money_in: i128,
    money_out: i128,
}

/// Rows, dates and money in and out (base currency) per account: a polars group-by.
fn account_stats(ledger: &DataFrame) -> Result<HashMap<String, AccountStats>, VerifyError> {
    let base = col(col::AMOUNT_BASE);
    let stats = ledger
        .clone()
        .lazy()
        .group_by([col(col::ACCOUNT_ID)])
        .agg([
            len().alias("rows"),
            col(col::BOOKING_DATE).min().alias("first"),
            col(col::BOOKING_DATE).max().alias("last"),
            base.clone()
                .filter(base.clone().gt(lit(0)))
                .sum()
                .alias("money_in"),
            base.clone()
                .filter(base.lt(lit(0)))
                .sum()
                .alias("money_out"),
        ])
        .collect()
        .map_err(polars_err("summing money in and out per account"))?;
    let get = |name: &str| {
        stats
            .column(name)
            .map_err(polars_err("reading account totals"))
    };
    let ids = get(col::ACCOUNT_ID)?
        .str()
        .map_err(polars_err("account_id"))?
        .clone();
    let rows = get("rows")?
        .cast(&DataType::UInt64)
        .map_err(polars_err("rows"))?;
    let rows = rows.u64().map_err(polars_err("rows"))?.clone();
    let first = get("first")?
        .date()
        .map_err(polars_err("first"))?
        .physical()
        .clone();
    let last = get("last")?
        .date()
        .map_err(polars_err("last"))?
        .physical()
        .clone();
    let money = |name: &str| -> Result<Vec<i128>, VerifyError> {
        let c = get(name)?;
        let d = c.decimal().map_err(polars_err(name))?;
        let scale = d.scale() as u32;
        // Sums keep the scale of their input (2); rescale defensively all the same.
        let factor = 10i128.pow(scale.saturating_sub(2));
        Ok(d.physical()
            .iter()
            .map(|v| v.unwrap_or(0) / factor.max(1))
            .collect())
    };
    let money_in = money("money_in")?;
    let money_out = money("money_out")?;
    let mut out = HashMap::new();
    for i in 0..stats.height() {
        if let (Some(id), Some(r), Some(f), Some(l)) =
            (ids.get(i), rows.get(i), first.get(i), last.get(i))
        {
            out.insert(
                id.to_string(),
                AccountStats {
                    rows: r,
                    first: f,
                    last: l,
                    money_in: money_in[i],
                    money_out: money_out[i],
                },
            );
        }
    }
    Ok(out)
}

/// The summary paragraphs.
pub(crate) fn paragraphs(x: Inputs<'_>) -> Result<Vec<String>, VerifyError> {
    let case = x.case;
    let base = case.base_currency.as_str();
    let mut out = Vec::new();

    // What the ledger holds.
    let stats = account_stats(x.ledger)?;
    let mut per_account = Vec::new();
    for a in &case.accounts {
        if let Some(s) = stats.get(&a.id) {
            per_account.push(format!(
                "{} ({}, {}): {} transactions from {} to {}, {} in and {} out",
                a.id,
                a.holder,
                a.bank,
                s.rows,
                date_text(s.first),
                date_text(s.last),
                money_text(s.money_in, base),
                money_text(-s.money_out, base)
            ));
        }
    }
    let held = stats.len();
    let mut p = format!(
        "After verification the ledger holds {} transactions in {held} of the case's {} accounts, read from {} disclosed files",
        x.ledger.height(),
        case.accounts.len(),
        case.sources.len()
    );
    if x.dedup.dropped() > 0 {
        p.push_str(&format!(
            " ({} rows were read; {} were copies from overlapping exports and were removed, as set out below)",
            x.rows_in,
            x.dedup.dropped()
        ));
    }
    p.push_str(&format!(". Amounts in {base}: {}.", per_account.join("; ")));
    out.push(p);

    // Overlapping exports.
    if x.dedup.overlaps.is_empty() {
        out.push("No two exports of the same account cover the same days, so no row was removed as a duplicate.".into());
    } else {
        let mut parts = Vec::new();
        for o in &x.dedup.overlaps {
            let acc = &case.accounts[o.account];
            let mut s = format!(
                "{} and {} both cover account {} from {} to {}; the {} rows of {} dated in those days are copies of rows in {}, which is listed first in the case file and was kept, and were removed so that nothing is counted twice",
                o.kept_source,
                o.dropped_source,
                acc.id,
                date_text(o.from),
                date_text(o.to),
                o.dropped,
                o.dropped_source,
                o.kept_source
            );
            if !o.later_unmatched.is_empty() || !o.kept_unmatched.is_empty() {
                s.push_str(&format!(
                    ". The two exports do not agree for those days: {} rows appear only in {} (kept) and {} only in {}; the investigator should establish which export is complete",
                    o.later_unmatched.len(),
                    o.dropped_source,
                    o.kept_unmatched.len(),
                    o.kept_source
                ));
            }
            parts.push(s);
        }
        out.push(format!(
            "{}. Every removed row is listed in duplicates.csv beside the row it duplicates. Identical-looking transactions within a single export (for example two cash withdrawals of the same amount on the same day) are separate transactions and were all kept.",
            parts.join(". ")
        ));
    }

    // Running balances.
    let checked: Vec<String> = case
        .accounts
        .iter()
        .enumerate()
        .filter(|(i, _)| x.balance.checked[*i])
        .map(|(_, a)| a.id.clone())
        .collect();
    let unchecked: Vec<String> = case
        .accounts
        .iter()
        .enumerate()
        .filter(|(i, a)| !x.balance.checked[*i] && stats.contains_key(&a.id))
        .map(|(_, a)| a.id.clone())
        .collect();
    let mut p = String::new();
    if !checked.is_empty() {
        let passed: u64 = x.balance.passed.iter().sum();
        p.push_str(&format!(
            "Running balances were checked row by row for {}: {passed} reported balances agree to the penny with the previous balance plus the movements between them",
            list(&checked)
        ));
        if x.balance.breaks.is_empty() {
            p.push_str(", and there is no break.");
        } else {
            let breaks: Vec<String> = x
                .balance
                .breaks
                .iter()
                .take(LISTED)
                .map(|b| {
                    let cur = &case.accounts[b.account].currency;
                    format!(
                        "{} on {} ({}, line {}, {}): reported {}, expected {}, a difference of {}",
                        case.accounts[b.account].id,
                        date_text(b.date),
                        b.source,
                        b.line,
                        b.txn_id,
                        money_text(b.reported, cur),
                        money_text(b.expected, cur),
                        money_text(b.difference, cur)
                    )
                })
                .collect();
            p.push_str(&format!(
                "; {} do not: {}{}.",
                x.balance.breaks.len(),
                breaks.join("; "),
                more(x.balance.breaks.len())
            ));
        }
    }
    if !unchecked.is_empty() {
        if !p.is_empty() {
            p.push(' ');
        }
        p.push_str(&format!(
            "The exports for {} give no running balance, so their rows cannot be checked against the bank's own balances.",
            list(&unchecked)
        ));
    }
    if !p.is_empty() {
        out.push(p);
    }

    // Statement periods.
    if !x.periods.is_empty() {
        let total = x.balance.periods.iter().map(Vec::len).sum::<usize>();
        out.push(format!(
            "{total} statement periods with stated opening and closing balances were checked: in {} the opening balance plus the rows held does not give the closing balance, and in {} a statement does not open at the previous statement's closing balance. Each is a row of integrity.csv.",
            x.balance.statement_fails,
            x.balance.chain_fails
        ));
    }

    // Coverage.
    let mut p = String::new();
    if x.coverage.gaps.is_empty() {
        p.push_str("No missing statement period was found");
    } else {
        let gaps: Vec<String> = x
            .coverage
            .gaps
            .iter()
            .take(LISTED)
            .map(|g| {
                let acc = &case.accounts[g.account];
                let mut s = format!(
                    "{} from {} to {}",
                    acc.id,
                    date_text(g.from),
                    date_text(g.to)
                );
                if let Some(m) = g.missing_movement {
                    s.push_str(&format!(
                        " (the balances show {} of net movement missing)",
                        money_text(m, &acc.currency)
                    ));
                }
                s
            })
            .collect();
        p.push_str(&format!(
            "Statements or rows appear to be missing for {}{}. Figures for these accounts over these periods are incomplete",
            gaps.join("; "),
            more(x.coverage.gaps.len())
        ));
    }
    if !x.coverage.not_checked.is_empty() {
        let names: Vec<String> = x
            .coverage
            .not_checked
            .iter()
            .map(|&i| case.accounts[i].id.clone())
            .collect();
        p.push_str(&format!(
            ". For {}, neither running balances nor statement balances are held, so whether any statement is missing cannot be tested from the material",
            list(&names)
        ));
    }
    p.push('.');
    out.push(p);

    // Currency.
    if x.converted.converted() > 0 {
        let mut currencies: Vec<String> = case
            .accounts
            .iter()
            .enumerate()
            .filter(|(i, _)| x.converted.converted_per_account[*i] > 0)
            .map(|(_, a)| a.currency.clone())
            .collect();
        currencies.sort();
        currencies.dedup();
        let file = x.rates.map_or("", |r| r.file.as_str());
        out.push(format!(
            "{} transactions in {} were converted to {base} at the dated rates in {file} ({base} per one unit of the other currency), each rounded half to even to the penny. {} of them were booked on a day for which the table has no rate (a weekend or holiday) and were converted at the latest earlier rate; the ledger's fx_rate_date column shows the rate used for every converted row.",
            x.converted.converted(),
            list(&currencies),
            x.converted.earlier_rates.len()
        ));
    } else {
        out.push(format!(
            "Every transaction is in {base}; no currency conversion was needed."
        ));
    }

    // Transfers.
    let t = x.transfers;
    let mut p = format!(
        "{} between the case's own accounts {} matched, {} in all; each pairs one debit with one credit and is listed in transfers.csv with its score and the evidence for it. Money moving between these accounts is not new money, and later schedules must not count it twice.",
        count(t.transfers.len(), "internal transfer", "internal transfers"),
        if t.transfers.len() == 1 { "was" } else { "were" },
        money_text(t.total_base, base)
    );
    if t.unsupported_debits > 0 {
        p.push_str(&format!(
            " {} had a credit of the same amount within the matching window in another case account, but no account number, name or reference supports the pair, so {} not matched.",
            count(t.unsupported_debits, "further debit", "further debits"),
            if t.unsupported_debits == 1 { "it was" } else { "they were" }
        ));
    }
    if t.outbid_debits > 0 {
        p.push_str(&format!(
            " {} had a supported candidate credit that was matched to a better-evidenced debit instead, and {} unmatched.",
            count(t.outbid_debits, "debit", "debits"),
            if t.outbid_debits == 1 { "remains" } else { "remain" }
        ));
    }
    if t.capped_debits > 0 {
        p.push_str(&format!(
            " For {} more candidate credits were found than the limit weighed (max_transfer_candidates); the nearest in date were weighed.",
            count(t.capped_debits, "debit", "debits")
        ));
    }
    out.push(p);

    // Counterparties.
    let filled: usize = x.parties.filled_by_rule.values().sum();
    out.push(format!(
        "Where an export gave no counterparty, it was read from the narrative for {filled} transactions using {} (version {}); the ledger's counterparty_rule column names the rule used for each. {} distinct counterparty names appear after normalisation.",
        x.rules.origin,
        x.rules.version,
        x.parties.distinct_keys
    ));
    Ok(out)
}
