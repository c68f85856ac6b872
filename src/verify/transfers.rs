//! Internal transfers: a debit in one case account and a credit in another for the same
//! money, matched one to one.
//!
//! **Candidates.** A debit and a credit are candidates when they are in different case
//! accounts, both have a channel listed in `transfer_channels`, the credit is booked on the
//! debit's day or up to `transfer_window_days` after it, and the amounts agree: exactly, in
//! the account currency, when both accounts share a currency; otherwise their `amount_base`
//! values differ by at most `fx_tolerance` of the debit's `amount_base` (the banks' own
//! conversion differs from the case's rate table by their spread).
//!
//! **Complexity: O(n log n), never pairwise.** Credits are sorted once into three indexes,
//! each keyed on (group, currency, booking date, amount) and, when the case holds several
//! currencies, on (group, currency, booking date, amount_base): all credits; credits by
//! their own account; credits by the case account their counterparty account names. For
//! each debit and each day of the window a binary search finds, in each index, the credits
//! of exactly that amount (same currency) or inside the tolerance band (other currencies):
//! the general index gives every candidate; the other two find, in O(log n) however busy the
//! day, the credits in the account the debit's counterparty account names, and the credits
//! whose counterparty account names the debit's account. Each search takes at most
//! `max_transfer_candidates` credits (nearest days first), so the work per debit is bounded
//! and the whole is O(n log n); a crowded day can push a name- or reference-only candidate
//! past the limit, never an account-number one, and every debit that reaches the limit is
//! counted in the summary. `benches/verify_transfers.rs` measures it on 1,000,000 rows.
//!
//! **Score (0-100) and evidence.**
//!
//! | evidence | points |
//! |---|---|
//! | same amount, same currency / within the FX tolerance | 25 / 15 |
//! | booked the same day, 1, 2, 3+ days later | 15, 10, 5, 0 |
//! | the debit's counterparty account is the credit's account | 15 |
//! | the credit's counterparty account is the debit's account | 15 |
//! | the debit's counterparty is the credit account's holder (exact key / initials and surname) | 10 / 5 |
//! | the credit's counterparty is the debit account's holder (exact key / initials and surname) | 10 / 5 |
//! | both narratives carry the same reference | 10 |
//!
//! With `require_transfer_evidence` (the default) a pair needs at least one of the last
//! five; amount and date alone are not enough. **Assignment** is greedy and deterministic:
//! candidates sorted by score (highest first), then days apart, then the debit's `seq`,
//! then the credit's `seq`; a pair is taken when neither row is taken yet. The reason for
//! every match is written out in words.

use std::collections::{HashMap, HashSet};

use polars::prelude::*;
use rust_decimal::Decimal;

use super::counterparties::CounterpartyRules;
use super::frame::{
    date_column, money_column, money_text, polars_err, set_column, text_column, Rows,
};
use super::{added_col, VerifyError, VerifyOptions};
use crate::case::{digits, Case};

/// The columns of `transfers.csv`, in order. The first ten are the contract with tracing.
pub const COLUMNS: [&str; 17] = [
    "transfer_id",
    "debit_txn_id",
    "credit_txn_id",
    "debit_account",
    "credit_account",
    "debit_date",
    "credit_date",
    "amount_base",
    "score",
    "reason",
    "days_apart",
    "debit_amount",
    "debit_currency",
    "credit_amount",
    "credit_currency",
    "debit_amount_base",
    "base_difference",
];

/// How a row's counterparty name compares with an account holder's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameMatch {
    None,
    /// Same initials and surname (`D HARLOW` for `DORIAN HARLOW`).
    Initials,
    /// Same normalised key.
    Exact,
}

/// The evidence for one candidate pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub fx: bool,
    pub days: i32,
    pub debit_names_credit_account: bool,
    pub credit_names_debit_account: bool,
    pub debit_names_credit_holder: NameMatch,
    pub credit_names_debit_holder: NameMatch,
    pub reference: Option<String>,
}

impl Evidence {
    /// Points, per the table in the module note.
    pub fn score(&self) -> u32 {
        let name = |m: NameMatch| match m {
            NameMatch::Exact => 10,
            NameMatch::Initials => 5,
            NameMatch::None => 0,
        };
        (if self.fx { 15 } else { 25 })
            + (15 - 5 * self.days.clamp(0, 3)) as u32
            + 15 * u32::from(self.debit_names_credit_account)
            + 15 * u32::from(self.credit_names_debit_account)
            + name(self.debit_names_credit_holder)
            + name(self.credit_names_debit_holder)
            + 10 * u32::from(self.reference.is_some())
    }

    /// Whether anything beyond amount and date supports the pair.
    pub fn supported(&self) -> bool {
        self.debit_names_credit_account
            || self.credit_names_debit_account
            || self.debit_names_credit_holder != NameMatch::None
            || self.credit_names_debit_holder != NameMatch::None
            || self.reference.is_some()
    }
}

/// One matched transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub transfer_id: String,
    /// Ledger row positions (in `seq` order) of the debit and the credit.
    pub debit_row: usize,
    pub credit_row: usize,
    pub score: u32,
    pub evidence: Evidence,
    pub reason: String,
}

/// The result of matching.
#[derive(Debug, Clone)]
pub struct TransferMatches {
    /// `transfers.csv`, ordered by debit date then debit `seq`.
    pub frame: DataFrame,
    pub transfers: Vec<Transfer>,
    /// Per ledger row: the transfer it is one side of.
    pub row_transfer: Vec<Option<String>>,
    pub debits_considered: usize,
    pub credits_considered: usize,
    /// Candidate pairs weighed.
    pub candidates: usize,
    /// Debits left unmatched whose candidates all lacked supporting evidence.
    pub unsupported_debits: usize,
    /// Debits left unmatched although a supported candidate existed: each such credit was
    /// taken by a pair with a higher score.
    pub outbid_debits: usize,
    /// Debits with more candidates than `max_transfer_candidates`.
    pub capped_debits: usize,
    /// Sum of `amount_base` over the matched transfers, minor units.
    pub total_base: i128,
}

impl TransferMatches {
    /// Add the `transfer_id` column to the ledger.
    pub fn apply(&self, mut ledger: DataFrame) -> Result<DataFrame, VerifyError> {
        set_column(
            &mut ledger,
            Column::new(added_col::TRANSFER_ID.into(), self.row_transfer.clone()),
        )?;
        Ok(ledger)
    }
}

/// One debit or credit, compactly: what the search needs.
#[derive(Debug, Clone, Copy)]
struct Side {
    row: usize,
    currency: u32,
    day: i32,
    account: u32,
    /// Magnitudes in minor units (a `Decimal(18, 2)` magnitude always fits an `i64`).
    amount: i64,
    base: i64,
    seq: u64,
}

struct Candidate {
    debit: usize,
    credit: usize,
    score: u32,
    evidence: Evidence,
}

/// The initials-and-surname form of a key: `DORIAN HARLOW` → `D HARLOW`.
fn initials(key: &str) -> Option<String> {
    let words: Vec<&str> = key.split(' ').collect();
    let (last, rest) = words.split_last()?;
    if rest.is_empty() {
        return None;
    }
    let mut out: Vec<String> = rest
        .iter()
        .filter_map(|w| w.chars().next().map(String::from))
        .collect();
    out.push((*last).to_string());
    Some(out.join(" "))
}

fn name_match(
    row_key: Option<&str>,
    row_initials: Option<&str>,
    holder_key: Option<&str>,
    holder_initials: Option<&str>,
) -> NameMatch {
    match (row_key, holder_key) {
        (Some(r), Some(h)) if r == h => NameMatch::Exact,
        (Some(_), Some(_)) if holder_initials.is_some() && row_initials == holder_initials => {
            NameMatch::Initials
        }
        _ => NameMatch::None,
    }
}

fn tokens(description: &str) -> Vec<String> {
    description
        .to_uppercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Tokens that look like a payment reference: the word after `REF`/`REFERENCE`, and any
/// word of at least four characters mixing letters and digits.
fn reference_tokens(tokens: &[String]) -> Vec<&str> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let after_ref = i > 0 && matches!(tokens[i - 1].as_str(), "REF" | "REFERENCE");
        let mixed = t.chars().count() >= 4
            && t.chars().any(|c| c.is_ascii_digit())
            && t.chars().any(char::is_alphabetic);
        if after_ref || mixed {
            out.push(t.as_str());
        }
    }
    out
}

/// What evidence needs from a row's text, worked out once per row.
struct RowText {
    /// Words of the narrative, sorted, without repeats.
    tokens: Vec<String>,
    /// Words that look like references.
    refs: Vec<String>,
    /// Initials-and-surname form of the counterparty key.
    initials: Option<String>,
}

impl RowText {
    fn new(description: &str, key: Option<&str>) -> RowText {
        let words = tokens(description);
        let refs = reference_tokens(&words)
            .into_iter()
            .map(str::to_string)
            .collect();
        let mut tokens = words;
        tokens.sort_unstable();
        tokens.dedup();
        RowText {
            tokens,
            refs,
            initials: key.and_then(initials),
        }
    }

    /// A reference-like word of either narrative that the other narrative also carries.
    fn shared_reference(&self, other: &RowText) -> Option<String> {
        self.refs
            .iter()
            .find(|t| other.tokens.binary_search(t).is_ok())
            .or_else(|| {
                other
                    .refs
                    .iter()
                    .find(|t| self.tokens.binary_search(t).is_ok())
            })
            .cloned()
    }
}

#[cfg(test)]
fn shared_reference(a: &str, b: &str) -> Option<String> {
    RowText::new(a, None).shared_reference(&RowText::new(b, None))
}

/// A search key: (group, currency, day, amount or amount_base); `group` is an account or 0.
type Key = (u32, u32, i32, i64);

/// Credits sorted by key, keys and credits in separate arrays so that a binary search reads
/// only the compact keys: one list keyed on the amount, and (when the case holds several
/// currencies) one keyed on `amount_base`.
struct Index {
    amount_keys: Vec<Key>,
    amount_sides: Vec<Side>,
    base_keys: Vec<Key>,
    base_sides: Vec<Side>,
}

impl Index {
    fn new(items: impl Iterator<Item = (u32, Side)>, multi_currency: bool) -> Index {
        let items: Vec<(u32, Side)> = items.collect();
        let sorted = |value: fn(&Side) -> i64| -> (Vec<Key>, Vec<Side>) {
            let mut v: Vec<(Key, u64, u32)> = items
                .iter()
                .enumerate()
                .map(|(i, (g, s))| ((*g, s.currency, s.day, value(s)), s.seq, i as u32))
                .collect();
            v.sort_unstable();
            (
                v.iter().map(|(k, _, _)| *k).collect(),
                v.iter().map(|(_, _, i)| items[*i as usize].1).collect(),
            )
        };
        let (amount_keys, amount_sides) = sorted(|s| s.amount);
        let (base_keys, base_sides) = if multi_currency {
            sorted(|s| s.base)
        } else {
            (Vec::new(), Vec::new())
        };
        Index {
            amount_keys,
            amount_sides,
            base_keys,
            base_sides,
        }
    }

    fn range<'a>(keys: &[Key], sides: &'a [Side], lo: Key, hi: Key) -> &'a [Side] {
        let a = keys.partition_point(|k| *k < lo);
        let b = keys.partition_point(|k| *k <= hi).max(a);
        &sides[a..b]
    }
}

/// The search for one debit's candidate credits.
struct Scan<'d> {
    debit: &'d Side,
    window: i32,
    currencies: u32,
    slack: i64,
    limit: usize,
}

impl Scan<'_> {
    /// Add the credits of `group` in `index` that could be this debit's, nearest days
    /// first, at most `limit`; returns whether the limit cut the list short.
    fn collect(&self, index: &Index, group: u32, found: &mut Vec<(Side, bool)>) -> bool {
        let d = self.debit;
        let mut budget = self.limit;
        for day in d.day..=d.day + self.window {
            let key = (group, d.currency, day, d.amount);
            for c in Index::range(&index.amount_keys, &index.amount_sides, key, key) {
                if c.account == d.account {
                    continue;
                }
                if budget == 0 {
                    return true;
                }
                budget -= 1;
                found.push((*c, false));
            }
            if index.base_keys.is_empty() {
                continue;
            }
            for cur in (0..self.currencies).filter(|c| *c != d.currency) {
                let lo = (group, cur, day, d.base - self.slack);
                let hi = (group, cur, day, d.base + self.slack);
                for c in Index::range(&index.base_keys, &index.base_sides, lo, hi) {
                    if c.account == d.account {
                        continue;
                    }
                    if budget == 0 {
                        return true;
                    }
                    budget -= 1;
                    found.push((*c, true));
                }
            }
        }
        false
    }
}

/// Which case account an identifier written on a row names: sort code and number, a
/// number unique among the case's accounts, or an IBAN.
struct AccountNames(HashMap<String, usize>);

impl AccountNames {
    fn new(case: &Case) -> AccountNames {
        let mut map = HashMap::new();
        let mut numbers: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, a) in case.accounts.iter().enumerate() {
            if let (Some(sc), Some(n)) = (&a.sort_code, &a.account_number) {
                map.insert(format!("{sc}{n}"), i);
            }
            if let Some(n) = &a.account_number {
                numbers.entry(n.as_str()).or_default().push(i);
            }
            if let Some(iban) = &a.iban {
                map.insert(iban.clone(), i);
            }
        }
        for (n, accounts) in numbers {
            if let [one] = accounts.as_slice() {
                map.entry(n.to_string()).or_insert(*one);
            }
        }
        AccountNames(map)
    }

    fn named_by(&self, raw: &str) -> Option<usize> {
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        if let Some(&i) = self.0.get(&compact) {
            return Some(i);
        }
        let d = digits(raw);
        if d.len() >= 6 {
            self.0.get(&d).copied()
        } else {
            None
        }
    }
}

/// Match internal transfers over a verified ledger (`amount_base` filled, `counterparty_key`
/// present). `rules` normalise the account holders' names the same way as the rows'.
pub fn match_transfers(
    case: &Case,
    ledger: &DataFrame,
    rules: &CounterpartyRules,
    options: &VerifyOptions,
) -> Result<TransferMatches, VerifyError> {
    match_transfers_in(case, ledger, &Rows::read(case, ledger)?, rules, options)
}

/// [`match_transfers`] over rows already read from `ledger`.
pub(crate) fn match_transfers_in(
    case: &Case,
    ledger: &DataFrame,
    rows: &Rows<'_>,
    rules: &CounterpartyRules,
    options: &VerifyOptions,
) -> Result<TransferMatches, VerifyError> {
    // Each row's counterparty key and the case account its counterparty account names, read
    // where a candidate needs them (a ledger-long copy of each was 320 MB at 10M rows).
    let keys = text_column(ledger, added_col::COUNTERPARTY_KEY)?;
    let n = rows.len();
    let channels: HashSet<&str> = options
        .transfer_channels
        .iter()
        .map(String::as_str)
        .collect();
    let mut currency_ids: HashMap<&str, u32> = HashMap::new();
    let mut debits: Vec<Side> = Vec::new();
    let mut credits: Vec<Side> = Vec::new();
    for i in 0..n {
        let Some(base) = rows.amount_base(i) else {
            continue;
        };
        if rows.amount(i) == 0 || !channels.contains(rows.channel(i)) {
            continue;
        }
        let next = currency_ids.len() as u32;
        let currency = *currency_ids.entry(rows.currency(i)).or_insert(next);
        let (Ok(amount), Ok(base), Ok(account)) = (
            i64::try_from(rows.amount(i).abs()),
            i64::try_from(base.abs()),
            u32::try_from(rows.account(i)),
        ) else {
            continue;
        };
        let side = Side {
            row: i,
            currency,
            day: rows.date[i],
            account,
            amount,
            base,
            seq: rows.seq(i),
        };
        if rows.amount(i) < 0 {
            debits.push(side);
        } else {
            credits.push(side);
        }
    }
    let currencies = currency_ids.len() as u32;
    // Visit debits by day and amount, so that consecutive searches land on neighbouring keys
    // (the order of visits cannot change the result: candidates are sorted before assignment).
    debits.sort_unstable_by_key(|d| (d.day, d.currency, d.amount, d.seq));
    let names = AccountNames::new(case);
    let named = |i: usize| rows.counterparty_account(i).and_then(|a| names.named_by(a));
    // Three ways in to the credits, each sorted once: all credits; credits by their own
    // account (for a debit whose counterparty account names one); credits by the account
    // their counterparty account names (for the debit's own account). The last two find
    // account-number evidence in O(log n) however crowded a day is.
    let multi = currencies > 1;
    let general = Index::new(credits.iter().map(|c| (0, *c)), multi);
    let by_account = Index::new(credits.iter().map(|c| (c.account, *c)), multi);
    let by_named = Index::new(
        credits.iter().filter_map(|c| {
            named(c.row)
                .and_then(|a| u32::try_from(a).ok())
                .map(|a| (a, *c))
        }),
        multi,
    );
    let holder_keys: Vec<Option<String>> = case
        .accounts
        .iter()
        .map(|a| rules.normalise(&a.holder))
        .collect();
    let holder_initials: Vec<Option<String>> = holder_keys
        .iter()
        .map(|k| k.as_deref().and_then(initials))
        .collect();
    let (tol_m, tol_scale) = (
        options.fx_tolerance.mantissa(),
        options.fx_tolerance.scale(),
    );
    let tol_div = 10i128.checked_pow(tol_scale).unwrap_or(i128::MAX);

    let window = options.transfer_window_days as i32;
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut found: Vec<(Side, bool)> = Vec::new();
    // Each row's words and initials, worked out the first time the row is a candidate.
    let mut texts: Vec<Option<Box<RowText>>> = (0..n).map(|_| None).collect();
    // Debits with candidates: (row, whether any candidate had supporting evidence).
    let mut debits_with_candidates: Vec<(usize, bool)> = Vec::new();
    let mut capped_debits = 0;
    for d in &debits {
        found.clear();
        let slack = i64::try_from(
            i128::from(d.base)
                .checked_mul(tol_m)
                .map_or(i128::from(d.base), |p| p / tol_div),
        )
        .unwrap_or(d.base);
        let scan = Scan {
            debit: d,
            window,
            currencies,
            slack,
            limit: options.max_transfer_candidates,
        };
        let mut capped = scan.collect(&general, 0, &mut found);
        if let Some(x) = named(d.row)
            .and_then(|x| u32::try_from(x).ok())
            .filter(|x| *x != d.account)
        {
            capped |= scan.collect(&by_account, x, &mut found);
        }
        capped |= scan.collect(&by_named, d.account, &mut found);
        if found.is_empty() {
            continue;
        }
        capped_debits += usize::from(capped);
        found.sort_unstable_by_key(|(c, _)| c.row);
        found.dedup_by_key(|(c, _)| c.row);
        let mut any_supported = false;
        let di = d.row;
        if texts[di].is_none() {
            texts[di] = Some(Box::new(RowText::new(rows.description(di), keys.get(di))));
        }
        for &(c, fx) in &found {
            let ci = c.row;
            if texts[ci].is_none() {
                texts[ci] = Some(Box::new(RowText::new(rows.description(ci), keys.get(ci))));
            }
            let (Some(dt), Some(ct)) = (texts[di].as_deref(), texts[ci].as_deref()) else {
                continue;
            };
            let (d_acc, c_acc) = (d.account as usize, c.account as usize);
            let evidence = Evidence {
                fx,
                days: c.day - d.day,
                debit_names_credit_account: named(di) == Some(c_acc),
                credit_names_debit_account: named(ci) == Some(d_acc),
                debit_names_credit_holder: name_match(
                    keys.get(di),
                    dt.initials.as_deref(),
                    holder_keys[c_acc].as_deref(),
                    holder_initials[c_acc].as_deref(),
                ),
                credit_names_debit_holder: name_match(
                    keys.get(ci),
                    ct.initials.as_deref(),
                    holder_keys[d_acc].as_deref(),
                    holder_initials[d_acc].as_deref(),
                ),
                reference: dt.shared_reference(ct),
            };
            any_supported |= evidence.supported();
            if options.require_transfer_evidence && !evidence.supported() {
                continue;
            }
            candidates.push(Candidate {
                debit: di,
                credit: ci,
                score: evidence.score(),
                evidence,
            });
        }
        debits_with_candidates.push((d.row, any_supported));
    }
    let weighed = candidates.len();
    candidates.sort_by(|a, b| {
        (
            std::cmp::Reverse(a.score),
            a.evidence.days,
            rows.seq(a.debit),
            rows.seq(a.credit),
        )
            .cmp(&(
                std::cmp::Reverse(b.score),
                b.evidence.days,
                rows.seq(b.debit),
                rows.seq(b.credit),
            ))
    });
    let mut taken = vec![false; n];
    let mut transfers = Vec::new();
    for c in candidates {
        if taken[c.debit] || taken[c.credit] {
            continue;
        }
        taken[c.debit] = true;
        taken[c.credit] = true;
        let reason = reason(case, rows, keys, &c, options);
        transfers.push(Transfer {
            transfer_id: format!("TR-{}", rows.txn_id(c.debit)),
            debit_row: c.debit,
            credit_row: c.credit,
            score: c.score,
            evidence: c.evidence,
            reason,
        });
    }
    transfers.sort_by_key(|t| (rows.date[t.debit_row], rows.seq(t.debit_row)));
    let unmatched = debits_with_candidates.iter().filter(|(d, _)| !taken[*d]);
    let unsupported_debits = unmatched
        .clone()
        .filter(|(_, supported)| !supported)
        .count();
    let outbid_debits = unmatched.filter(|(_, supported)| *supported).count();
    let mut row_transfer = vec![None; n];
    for t in &transfers {
        row_transfer[t.debit_row] = Some(t.transfer_id.clone());
        row_transfer[t.credit_row] = Some(t.transfer_id.clone());
    }
    let total_base = transfers
        .iter()
        .filter_map(|t| rows.amount_base(t.credit_row))
        .sum();
    let frame = transfers_frame(case, rows, &transfers)?;
    Ok(TransferMatches {
        frame,
        transfers,
        row_transfer,
        debits_considered: debits.len(),
        credits_considered: credits.len(),
        candidates: weighed,
        unsupported_debits,
        outbid_debits,
        capped_debits,
        total_base,
    })
}

fn reason(
    case: &Case,
    rows: &Rows<'_>,
    keys: &StringChunked,
    c: &Candidate,
    options: &VerifyOptions,
) -> String {
    let (d, k) = (c.debit, c.credit);
    let e = &c.evidence;
    let debit_acc = &case.accounts[rows.account(d)];
    let credit_acc = &case.accounts[rows.account(k)];
    let mut parts = Vec::new();
    if e.fx {
        let db = rows.amount_base(d).unwrap_or(0).abs();
        let cb = rows.amount_base(k).unwrap_or(0);
        let diff = cb - db;
        let pct = if db == 0 {
            Decimal::ZERO
        } else {
            (Decimal::from_i128_with_scale(diff * 100, 0) / Decimal::from_i128_with_scale(db, 0))
                .round_dp(2)
        };
        parts.push(format!(
            "{} out ({} at the case rate) and {} in ({} at the case rate): a difference of {} ({pct}% of the debit), within the {}% tolerance",
            money_text(rows.amount(d).abs(), rows.currency(d)),
            money_text(db, &case.base_currency),
            money_text(rows.amount(k), rows.currency(k)),
            money_text(cb, &case.base_currency),
            money_text(diff, &case.base_currency),
            (options.fx_tolerance * Decimal::ONE_HUNDRED).normalize()
        ));
    } else {
        parts.push(format!(
            "same amount ({})",
            money_text(rows.amount(k), rows.currency(k))
        ));
    }
    parts.push(match e.days {
        0 => "credited the same day".to_string(),
        1 => "credited 1 day after the debit".to_string(),
        n => format!("credited {n} days after the debit"),
    });
    if e.debit_names_credit_account {
        parts.push(format!(
            "the debit's counterparty account {} is {}",
            rows.counterparty_account(d).unwrap_or(""),
            credit_acc.id
        ));
    }
    if e.credit_names_debit_account {
        parts.push(format!(
            "the credit's counterparty account {} is {}",
            rows.counterparty_account(k).unwrap_or(""),
            debit_acc.id
        ));
    }
    let holder = |m: NameMatch, who: &str, key: Option<&str>, acc: &crate::case::Account| match m {
        NameMatch::Exact => Some(format!(
            "the {who} names {}, holder of {}",
            key.unwrap_or(""),
            acc.id
        )),
        NameMatch::Initials => Some(format!(
            "the {who} names {}, the initials and surname of {} (holder of {})",
            key.unwrap_or(""),
            acc.holder,
            acc.id
        )),
        NameMatch::None => None,
    };
    parts.extend(holder(
        e.debit_names_credit_holder,
        "debit",
        keys.get(d),
        credit_acc,
    ));
    parts.extend(holder(
        e.credit_names_debit_holder,
        "credit",
        keys.get(k),
        debit_acc,
    ));
    if let Some(r) = &e.reference {
        parts.push(format!("both narratives carry the reference {r}"));
    }
    parts.join("; ")
}

fn transfers_frame(
    case: &Case,
    rows: &Rows<'_>,
    transfers: &[Transfer],
) -> Result<DataFrame, VerifyError> {
    let n = transfers.len();
    let text =
        |f: &dyn Fn(&Transfer) -> String| -> Vec<String> { transfers.iter().map(f).collect() };
    let money = |name: &str, f: &dyn Fn(&Transfer) -> Option<i128>| {
        money_column(name, transfers.iter().map(f).collect())
    };
    let columns = vec![
        Column::new("transfer_id".into(), text(&|t| t.transfer_id.clone())),
        Column::new(
            "debit_txn_id".into(),
            text(&|t| rows.txn_id(t.debit_row).to_string()),
        ),
        Column::new(
            "credit_txn_id".into(),
            text(&|t| rows.txn_id(t.credit_row).to_string()),
        ),
        Column::new(
            "debit_account".into(),
            text(&|t| case.accounts[rows.account(t.debit_row)].id.clone()),
        ),
        Column::new(
            "credit_account".into(),
            text(&|t| case.accounts[rows.account(t.credit_row)].id.clone()),
        ),
        date_column(
            "debit_date",
            transfers
                .iter()
                .map(|t| Some(rows.date[t.debit_row]))
                .collect(),
        ),
        date_column(
            "credit_date",
            transfers
                .iter()
                .map(|t| Some(rows.date[t.credit_row]))
                .collect(),
        ),
        money("amount_base", &|t| rows.amount_base(t.credit_row))?,
        Column::new(
            "score".into(),
            transfers.iter().map(|t| t.score).collect::<Vec<u32>>(),
        ),
        Column::new("reason".into(), text(&|t| t.reason.clone())),
        Column::new(
            "days_apart".into(),
            transfers
                .iter()
                .map(|t| t.evidence.days)
                .collect::<Vec<i32>>(),
        ),
        money("debit_amount", &|t| Some(rows.amount(t.debit_row).abs()))?,
        Column::new(
            "debit_currency".into(),
            text(&|t| rows.currency(t.debit_row).to_string()),
        ),
        money("credit_amount", &|t| Some(rows.amount(t.credit_row)))?,
        Column::new(
            "credit_currency".into(),
            text(&|t| rows.currency(t.credit_row).to_string()),
        ),
        money("debit_amount_base", &|t| {
            rows.amount_base(t.debit_row).map(i128::abs)
        })?,
        money("base_difference", &|t| {
            Some(rows.amount_base(t.credit_row)? - rows.amount_base(t.debit_row)?.abs())
        })?,
    ];
    DataFrame::new(n, columns).map_err(polars_err("building transfers.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_and_surname() {
        assert_eq!(initials("DORIAN HARLOW").as_deref(), Some("D HARLOW"));
        assert_eq!(initials("D HARLOW").as_deref(), Some("D HARLOW"));
        assert_eq!(initials("HARLOW"), None);
        assert_eq!(
            name_match(
                Some("D HARLOW"),
                Some("D HARLOW"),
                Some("DORIAN HARLOW"),
                Some("D HARLOW")
            ),
            NameMatch::Initials
        );
        assert_eq!(
            name_match(
                Some("V HARLOW"),
                Some("V HARLOW"),
                Some("DORIAN HARLOW"),
                Some("D HARLOW")
            ),
            NameMatch::None
        );
    }

    #[test]
    fn references_are_shared_tokens_that_look_like_references() {
        assert_eq!(
            shared_reference("RENT HX2291", "HX2291").as_deref(),
            Some("HX2291")
        );
        assert_eq!(
            shared_reference("DORIAN HARLOW REF SAVINGS", "SAVINGS").as_deref(),
            Some("SAVINGS")
        );
        // Plain words and bare numbers shared by chance are not references.
        assert_eq!(
            shared_reference("TESCO STORES 2291", "TESCO STORES 2291"),
            None
        );
        assert_eq!(shared_reference("PAYMENT RENT", "RENT"), None);
    }

    #[test]
    fn score_table() {
        let e = Evidence {
            fx: false,
            days: 0,
            debit_names_credit_account: true,
            credit_names_debit_account: true,
            debit_names_credit_holder: NameMatch::Exact,
            credit_names_debit_holder: NameMatch::Exact,
            reference: Some("X1".into()),
        };
        assert_eq!(e.score(), 100);
        let bare = Evidence {
            fx: true,
            days: 7,
            debit_names_credit_account: false,
            credit_names_debit_account: false,
            debit_names_credit_holder: NameMatch::None,
            credit_names_debit_holder: NameMatch::None,
            reference: None,
        };
        assert_eq!(bare.score(), 15);
        assert!(!bare.supported());
    }
}
