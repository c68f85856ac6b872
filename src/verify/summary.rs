//! The integrity summary: plain-language paragraphs that open the court report.
//!
//! One paragraph per subject, in a fixed order: what the ledger holds, overlapping exports,
//! running balances, statement periods, coverage, currency, internal transfers and
//! counterparties. Every figure in them is one of the figures in `integrity.csv`,
//! `duplicates.csv` or `transfers.csv`, so each sentence can be checked against a row.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;

use super::balances::BalanceChecks;
use super::counterparties::{CounterpartyRules, Parties};
use super::currency::{Converted, RateTable};
use super::duplicates::Dedup;
use super::frame::{date_text, money_text, polars_err};
use super::gaps::Coverage;
use super::integrity::{Check, Outcome};
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

#[derive(Debug, Clone, PartialEq, Eq)]
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

/// An overlap of two exports, as the summary states it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OverlapFact {
    account: usize,
    kept_source: String,
    dropped_source: String,
    from: i32,
    to: i32,
    dropped: usize,
    later_unmatched: usize,
    kept_unmatched: usize,
}

/// A running-balance break, as the summary states it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BreakFact {
    account: usize,
    date: i32,
    source: String,
    line: u32,
    txn_id: String,
    reported: i128,
    expected: i128,
    difference: i128,
}

/// A coverage gap, as the summary states it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GapFact {
    account: usize,
    from: i32,
    to: i32,
    missing_movement: Option<i128>,
}

/// What the summary says of the internal transfers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferFacts {
    pub matched: usize,
    /// Minor units of the base currency.
    pub total_base: i128,
    pub unsupported_debits: usize,
    pub outbid_debits: usize,
    pub capped_debits: usize,
}

impl TransferFacts {
    pub(crate) fn of(t: &TransferMatches) -> TransferFacts {
        TransferFacts {
            matched: t.transfers.len(),
            total_base: t.total_base,
            unsupported_debits: t.unsupported_debits,
            outbid_debits: t.outbid_debits,
            capped_debits: t.capped_debits,
        }
    }
}

/// Every figure and list the summary paragraphs state, for some of the case's accounts or
/// all of them. Facts of disjoint sets of accounts (batches of groups, `crate::batches`)
/// add up ([`Facts::add`]) to the facts of their union: each list is kept in account order
/// and each count is a sum, so the paragraphs of the sum are the paragraphs of a run over
/// all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    ledger_rows: usize,
    rows_in: usize,
    dropped: usize,
    accounts: BTreeMap<usize, AccountStats>,
    overlaps: Vec<OverlapFact>,
    /// Per account (case order): whether its running balances were checked.
    balance_checked: Vec<bool>,
    balance_passed: u64,
    breaks: Vec<BreakFact>,
    periods_given: bool,
    periods_checked: usize,
    statement_fails: usize,
    chain_fails: usize,
    gaps: Vec<GapFact>,
    not_checked: Vec<usize>,
    converted_per_account: Vec<usize>,
    earlier_rates: usize,
    rates_file: String,
    transfers: TransferFacts,
    filled: usize,
    counterparty_keys: BTreeSet<String>,
    rules_origin: String,
    rules_version: u32,
}

impl Facts {
    /// The facts of a run's inputs, for the accounts `member` marks (by case position), or
    /// every account.
    pub(crate) fn of(x: &Inputs<'_>, member: Option<&[bool]>) -> Result<Facts, VerifyError> {
        let n = x.case.accounts.len();
        let is_member = |a: usize| member.is_none_or(|m| m.get(a).copied().unwrap_or(false));
        let stats = account_stats(x.ledger)?;
        let accounts = x
            .case
            .accounts
            .iter()
            .enumerate()
            .filter_map(|(i, a)| stats.get(&a.id).map(|s| (i, s.clone())))
            .collect();
        let overlaps = x
            .dedup
            .overlaps
            .iter()
            .filter(|o| is_member(o.account))
            .map(|o| OverlapFact {
                account: o.account,
                kept_source: o.kept_source.clone(),
                dropped_source: o.dropped_source.clone(),
                from: o.from,
                to: o.to,
                dropped: o.dropped,
                later_unmatched: o.later_unmatched.len(),
                kept_unmatched: o.kept_unmatched.len(),
            })
            .collect();
        let breaks = x
            .balance
            .breaks
            .iter()
            .filter(|b| is_member(b.account))
            .map(|b| BreakFact {
                account: b.account,
                date: b.date,
                source: b.source.clone(),
                line: b.line,
                txn_id: b.txn_id.clone(),
                reported: b.reported,
                expected: b.expected,
                difference: b.difference,
            })
            .collect();
        // Statement periods and their checks, counted from the checks made.
        let fails = |check: Check| {
            x.balance
                .integrity
                .iter()
                .filter(|r| r.check == check && r.result == Outcome::Fail && is_member(r.account))
                .count()
        };
        let keys = x.ledger.column(super::added_col::COUNTERPARTY_KEY).ok();
        let counterparty_keys = match keys.map(|k| k.str()) {
            Some(Ok(k)) => k.iter().flatten().map(str::to_string).collect(),
            _ => BTreeSet::new(),
        };
        Ok(Facts {
            ledger_rows: x.ledger.height(),
            rows_in: x.rows_in,
            dropped: x.dedup.dropped(),
            accounts,
            overlaps,
            balance_checked: (0..n)
                .map(|a| is_member(a) && x.balance.checked[a])
                .collect(),
            balance_passed: (0..n)
                .filter(|&a| is_member(a))
                .map(|a| x.balance.passed[a])
                .sum(),
            breaks,
            periods_given: !x.periods.is_empty(),
            periods_checked: (0..n)
                .filter(|&a| is_member(a))
                .map(|a| x.balance.periods[a].len())
                .sum(),
            statement_fails: fails(Check::StatementBalance),
            chain_fails: fails(Check::StatementChain),
            gaps: x
                .coverage
                .gaps
                .iter()
                .filter(|g| is_member(g.account))
                .map(|g| GapFact {
                    account: g.account,
                    from: g.from,
                    to: g.to,
                    missing_movement: g.missing_movement,
                })
                .collect(),
            not_checked: x
                .coverage
                .not_checked
                .iter()
                .copied()
                .filter(|&a| is_member(a))
                .collect(),
            converted_per_account: (0..n)
                .map(|a| {
                    if is_member(a) {
                        x.converted.converted_per_account[a]
                    } else {
                        0
                    }
                })
                .collect(),
            earlier_rates: x
                .converted
                .earlier_rates
                .iter()
                .filter(|r| is_member(r.account))
                .count(),
            rates_file: x.rates.map_or(String::new(), |r| r.file.clone()),
            transfers: TransferFacts::of(x.transfers),
            filled: x.parties.filled_by_rule.values().sum(),
            counterparty_keys,
            rules_origin: x.rules.origin.clone(),
            rules_version: x.rules.version,
        })
    }

    /// Add the facts of another set of accounts, disjoint from these.
    pub fn add(&mut self, other: Facts) {
        if self.balance_checked.is_empty() {
            *self = other;
            return;
        }
        self.ledger_rows += other.ledger_rows;
        self.rows_in += other.rows_in;
        self.dropped += other.dropped;
        self.accounts.extend(other.accounts);
        self.overlaps.extend(other.overlaps);
        self.overlaps.sort_by_key(|o| o.account);
        for (a, b) in self.balance_checked.iter_mut().zip(other.balance_checked) {
            *a |= b;
        }
        self.balance_passed += other.balance_passed;
        self.breaks.extend(other.breaks);
        self.breaks.sort_by_key(|b| b.account);
        self.periods_given |= other.periods_given;
        self.periods_checked += other.periods_checked;
        self.statement_fails += other.statement_fails;
        self.chain_fails += other.chain_fails;
        self.gaps.extend(other.gaps);
        self.gaps.sort_by_key(|g| g.account);
        self.not_checked.extend(other.not_checked);
        self.not_checked.sort_unstable();
        for (a, b) in self
            .converted_per_account
            .iter_mut()
            .zip(other.converted_per_account)
        {
            *a += b;
        }
        self.earlier_rates += other.earlier_rates;
        self.filled += other.filled;
        self.counterparty_keys.extend(other.counterparty_keys);
    }

    /// The internal transfers' figures, from a matching over the whole case.
    pub fn set_transfers(&mut self, transfers: TransferFacts) {
        self.transfers = transfers;
    }

    /// The summary paragraphs.
    pub fn paragraphs(&self, case: &Case) -> Vec<String> {
        paragraphs(self, case)
    }
}

/// The summary paragraphs.
fn paragraphs(x: &Facts, case: &Case) -> Vec<String> {
    let base = case.base_currency.as_str();
    let mut out = Vec::new();

    // What the ledger holds.
    let mut per_account = Vec::new();
    for (&i, s) in &x.accounts {
        let a = &case.accounts[i];
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
    let held = x.accounts.len();
    let mut p = format!(
        "After verification the ledger holds {} transactions in {held} of the case's {} accounts, read from {} disclosed files",
        x.ledger_rows,
        case.accounts.len(),
        case.sources.len()
    );
    if x.dropped > 0 {
        p.push_str(&format!(
            " ({} rows were read; {} were copies from overlapping exports and were removed, as set out below)",
            x.rows_in,
            x.dropped
        ));
    }
    let listed = per_account.len().min(LISTED);
    p.push_str(&format!(
        ". Amounts in {base}: {}{}.",
        per_account[..listed].join("; "),
        if per_account.len() > LISTED {
            format!(
                "; and {} more accounts, each source's dates and money in and out listed in sources.csv",
                per_account.len() - LISTED
            )
        } else {
            String::new()
        }
    ));
    out.push(p);

    // Overlapping exports.
    if x.overlaps.is_empty() {
        out.push("No two exports of the same account cover the same days, so no row was removed as a duplicate.".into());
    } else {
        let mut parts = Vec::new();
        for o in &x.overlaps {
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
            if o.later_unmatched > 0 || o.kept_unmatched > 0 {
                s.push_str(&format!(
                    ". The two exports do not agree for those days: {} rows appear only in {} (kept) and {} only in {}; the investigator should establish which export is complete",
                    o.later_unmatched,
                    o.dropped_source,
                    o.kept_unmatched,
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
        .filter(|(i, _)| x.balance_checked[*i])
        .map(|(_, a)| a.id.clone())
        .collect();
    let unchecked: Vec<String> = case
        .accounts
        .iter()
        .enumerate()
        .filter(|(i, _)| !x.balance_checked[*i] && x.accounts.contains_key(i))
        .map(|(_, a)| a.id.clone())
        .collect();
    let mut p = String::new();
    if !checked.is_empty() {
        p.push_str(&format!(
            "Running balances were checked row by row for {}: {} reported balances agree to the penny with the previous balance plus the movements between them",
            list(&checked),
            x.balance_passed
        ));
        if x.breaks.is_empty() {
            p.push_str(", and there is no break.");
        } else {
            let breaks: Vec<String> = x
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
                x.breaks.len(),
                breaks.join("; "),
                more(x.breaks.len())
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
    if x.periods_given {
        out.push(format!(
            "{} statement periods with stated opening and closing balances were checked: in {} the opening balance plus the rows held does not give the closing balance, and in {} a statement does not open at the previous statement's closing balance. Each is a row of integrity.csv.",
            x.periods_checked,
            x.statement_fails,
            x.chain_fails
        ));
    }

    // Coverage.
    let mut p = String::new();
    if x.gaps.is_empty() {
        p.push_str("No missing statement period was found");
    } else {
        let gaps: Vec<String> = x
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
            more(x.gaps.len())
        ));
    }
    if !x.not_checked.is_empty() {
        let names: Vec<String> = x
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
    let converted: usize = x.converted_per_account.iter().sum();
    if converted > 0 {
        let mut currencies: Vec<String> = case
            .accounts
            .iter()
            .enumerate()
            .filter(|(i, _)| x.converted_per_account[*i] > 0)
            .map(|(_, a)| a.currency.clone())
            .collect();
        currencies.sort();
        currencies.dedup();
        out.push(format!(
            "{} transactions in {} were converted to {base} at the dated rates in {} ({base} per one unit of the other currency), each rounded half to even to the penny. {} of them were booked on a day for which the table has no rate (a weekend or holiday) and were converted at the latest earlier rate; the ledger's fx_rate_date column shows the rate used for every converted row.",
            converted,
            list(&currencies),
            x.rates_file,
            x.earlier_rates
        ));
    } else {
        out.push(format!(
            "Every transaction is in {base}; no currency conversion was needed."
        ));
    }

    // Transfers.
    let t = &x.transfers;
    let mut p = format!(
        "{} between the case's own accounts {} matched, {} in all; each pairs one debit with one credit and is listed in transfers.csv with its score and the evidence for it. Money moving between these accounts is not new money, and later schedules must not count it twice.",
        count(t.matched, "internal transfer", "internal transfers"),
        if t.matched == 1 { "was" } else { "were" },
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
    out.push(format!(
        "Where an export gave no counterparty, it was read from the narrative for {} transactions using {} (version {}); the ledger's counterparty_rule column names the rule used for each. {} distinct counterparty names appear after normalisation.",
        x.filled,
        x.rules_origin,
        x.rules_version,
        x.counterparty_keys.len()
    ));
    out
}
