//! From frames to events: rows in each account's chronology, transfer links, the order in
//! which events are applied, opening balances, and which credits are tainted origins.
//!
//! Nothing here depends on the method: every method runs over the same [`Prepared`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use super::input::{self, day_to_date};
use super::output::TraceNote;
use super::txn_index::TxnIndex;
use super::{normalise_name, TaintSpec, TraceError, TraceInput};
use crate::ledger::col;
use polars::prelude::{ChunkTake, IdxCa, IdxSize, StringChunked};

/// "No row".
pub(crate) const NONE: u32 = u32::MAX;

/// A credit's classification, for `trace_origins.csv`.
#[derive(Debug, Clone)]
pub(crate) struct Classified {
    pub row: u32,
    pub tainted: bool,
    pub reason: String,
}

/// Everything the methods need, in canonical row order (account, then `seq`).
#[derive(Debug)]
pub(crate) struct Prepared {
    pub txn_id: Texts,
    pub account: Vec<u32>,
    /// Each row's `seq`, for the schedule of events; let go at the end of preparation.
    pub seq: Vec<u64>,
    pub date: Vec<i32>,
    /// Signed pence in the base currency.
    pub amount: Vec<i64>,
    pub channel: Texts,
    pub counterparty: Texts,
    /// Account ids in order of first appearance in the ledger.
    pub accounts: Vec<String>,
    /// Opening balance (pence) implied by the first row's reported balance, else 0.
    pub opening: Vec<i64>,
    /// For each row, its origin index if it is a tainted credit, else `engine::CLEAN`.
    pub origin_of_row: Vec<u32>,
    /// Row of each origin, in canonical order.
    pub origins: Vec<u32>,
    /// Linked internal transfer: for a debit its credit's row, for a credit its debit's row.
    pub link: Vec<u32>,
    /// Transfer id of a linked row (both ends), for notes.
    pub transfer_id: HashMap<u32, String>,
    /// Rows in the order events are applied.
    pub schedule: Vec<u32>,
    pub classified: Vec<Classified>,
    pub notes: Vec<TraceNote>,
    /// Destinations of interest (rows), in the order the spec names them.
    pub destinations: Vec<u32>,
    /// Finds a row by its `txn_id` ([`Prepared::row_of`]). Built for preparation and let
    /// go at its end (16 bytes a ledger row); built again if a question asks for a row
    /// by id afterwards.
    pub txn_index: std::sync::OnceLock<TxnIndex>,
    /// Wall-clock time of each preparation step (for benchmarks only).
    pub timings: Vec<(&'static str, std::time::Duration)>,
    /// Rows kept for the record but not counted (amount taken as 0), with the reason.
    pub excluded: HashMap<u32, String>,
}

/// The ledger's money-transfer fields, in canonical row order (all `None` when the ledger
/// lacks the columns).
#[derive(Debug, Default)]
struct MsbFields {
    /// `bank_txn_id`: the MTCN of a money transfer.
    reference: Option<Texts>,
    /// `party_name`: the sender of a send, the receiver of a payout.
    party: Option<Texts>,
}

impl MsbFields {
    fn party(&self, row: usize) -> Option<&str> {
        self.party.as_ref().and_then(|t| t.get(row))
    }
}

/// A text column of the ledger in canonical row order. It shares the frame's buffers (a
/// polars column is reference-counted), so tracing holds no copy of the ledger's text; only
/// a ledger not already in canonical order is gathered into a new column once.
#[derive(Debug, Clone)]
pub(crate) struct Texts(StringChunked);

impl Texts {
    /// `column` in canonical order: `order[row]` is the frame row of canonical row `row`
    /// (`None`: the same row).
    fn new(column: &StringChunked, order: Option<&[u32]>) -> Result<Texts, TraceError> {
        let ca = match order {
            None => column.rechunk().into_owned(),
            Some(order) => {
                let idx = IdxCa::from_vec(
                    "".into(),
                    order.iter().map(|&i| i as IdxSize).collect::<Vec<_>>(),
                );
                column
                    .take(&idx)
                    .map_err(|source| TraceError::Polars {
                        context: format!("ledger column `{}` in canonical order", column.name()),
                        source,
                    })?
                    .rechunk()
                    .into_owned()
            }
        };
        Ok(Texts(ca))
    }

    /// The text of `row`; `None` when the cell is empty (null).
    pub fn get(&self, row: usize) -> Option<&str> {
        self.0.get(row)
    }

    /// The text of `row`, `""` for an empty cell: for columns checked to have none.
    pub fn text(&self, row: usize) -> &str {
        self.0.get(row).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every row's text in order, `""` for an empty cell.
    pub fn texts(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(Option::unwrap_or_default)
    }
}

impl Prepared {
    /// The row holding `txn`, if the ledger has it.
    pub fn row_of(&self, txn: &str) -> Option<u32> {
        self.txn_index
            .get_or_init(|| {
                // Preparation refused a ledger with an id twice, so this cannot fail; if it
                // did, no row would be found by id rather than a wrong one.
                TxnIndex::build_from(self.txn_id.texts(), |row| self.txn_id.text(row))
                    .unwrap_or_default()
            })
            .get(|row| self.txn_id.text(row), txn)
    }

    /// Whether a row is a credit whose money came from another case account.
    pub fn is_linked_credit(&self, row: u32) -> bool {
        self.amount[row as usize] > 0 && self.link[row as usize] != NONE
    }
}

fn bad(frame: &'static str, problem: String) -> TraceError {
    TraceError::BadData { frame, problem }
}

fn spec_err(key: &str, problem: String) -> TraceError {
    TraceError::Spec {
        key: key.to_string(),
        problem,
    }
}

pub(crate) fn prepare(input: &TraceInput<'_>) -> Result<Prepared, TraceError> {
    const L: &str = "ledger";
    let clock = std::time::Instant::now();
    let df = input.ledger;
    let txn_raw = input::required_str_column(df, L, col::TXN_ID)?;
    let account_raw = input::required_str_column(df, L, col::ACCOUNT_ID)?;
    // The number columns are read on two cores: money on one, `seq` and dates on the other.
    // Of the money, each row's pence moved (its base amount, else its amount) is kept; the
    // amount and balance are read again only at each account's first row, for its opening.
    let amount_col = input::Pence::of(df, L, col::AMOUNT)?;
    let base_col = input::Pence::of(df, L, col::AMOUNT_BASE)?;
    let balance_col = input::Pence::of(df, L, col::BALANCE)?;
    let (moved, numbers) = std::thread::scope(|scope| {
        let moved = scope.spawn(|| -> Result<Vec<i64>, TraceError> {
            base_col
                .iter()
                .zip(amount_col.iter())
                .enumerate()
                .map(|(i, (base, amount))| match (base?, amount?) {
                    (Some(b), _) => Ok(b),
                    (None, Some(a)) => Ok(a),
                    (None, None) => Err(bad(
                        L,
                        format!(
                            "txn {} has neither amount nor amount_base",
                            txn_raw.get(i).unwrap_or_default()
                        ),
                    )),
                })
                .collect()
        });
        let numbers = (|| -> Result<(Vec<u64>, Vec<i32>), TraceError> {
            Ok((
                input::unsigned(df, L, col::SEQ)?,
                input::dates(df, L, col::BOOKING_DATE)?,
            ))
        })();
        (moved.join(), numbers)
    });
    let (seq_raw, date_raw) = numbers?;
    let moved = moved.map_err(|_| bad(L, "reading the money columns failed".to_string()))??;
    let channel_raw = input::required_str_column(df, L, col::CHANNEL)?;
    let counterparty_raw = input::str_column(df, L, col::COUNTERPARTY_NAME)?;
    let excluded_raw = input::optional_str_column(df, L, col::EXCLUDED_REASON)?;
    let reference_raw = input::optional_str_column(df, L, col::BANK_TXN_ID)?;
    let party_raw = input::optional_str_column(df, L, col::PARTY_NAME)?;

    // Accounts in order of first appearance; rows by (account, seq, frame position).
    let read = clock.elapsed();
    let mut accounts: Vec<String> = Vec::new();
    let mut account_index: HashMap<&str, u32> = HashMap::new();
    // Rows of one account are usually contiguous: look an id up only when it changes.
    let mut last: Option<(&str, u32)> = None;
    let account_of: Vec<u32> = account_raw
        .iter()
        .map(|a| a.unwrap_or_default())
        .map(|a| match last {
            Some((id, i)) if id == a => i,
            _ => {
                let i = *account_index.entry(a).or_insert_with(|| {
                    accounts.push(a.to_string());
                    (accounts.len() - 1) as u32
                });
                last = Some((a, i));
                i
            }
        })
        .collect();
    let n = txn_raw.len();
    if n >= NONE as usize {
        return Err(bad(
            L,
            format!("has {n} rows; tracing handles fewer than 2^32"),
        ));
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    // A canonical ledger is already in this order; sort only when it is not.
    let key = |i: u32| (account_of[i as usize], seq_raw[i as usize], i);
    let canonical = order.is_sorted_by_key(|&i| key(i));
    if !canonical {
        order.sort_unstable_by_key(|&i| key(i));
    }
    let reorder = (!canonical).then_some(order.as_slice());
    let texts = |column: &StringChunked| Texts::new(column, reorder);
    let optional_texts = |column: Option<&StringChunked>| column.map(texts).transpose();

    let txn_id = texts(txn_raw)?;
    let mut p = Prepared {
        // Set once the index below, built from `txn_id` on another thread, is done.
        txn_id: Texts(StringChunked::default()),
        account: Vec::with_capacity(n),
        seq: Vec::with_capacity(n),
        date: Vec::with_capacity(n),
        amount: Vec::with_capacity(n),
        channel: texts(channel_raw)?,
        counterparty: texts(counterparty_raw)?,
        opening: vec![0; accounts.len()],
        accounts,
        origin_of_row: vec![super::engine::CLEAN; n],
        origins: Vec::new(),
        link: vec![NONE; n],
        transfer_id: HashMap::new(),
        schedule: Vec::with_capacity(n),
        classified: Vec::new(),
        notes: Vec::new(),
        destinations: Vec::new(),
        txn_index: std::sync::OnceLock::new(),
        timings: Vec::new(),
        excluded: HashMap::new(),
    };
    // Money-transfer fields, in canonical row order, for pairing sends with payouts.
    let msb = MsbFields {
        reference: optional_texts(reference_raw)?,
        party: optional_texts(party_raw)?,
    };
    // The txn-id index is built on the other core while the rows are copied here.
    let (index, rows) = std::thread::scope(|scope| {
        let index = scope.spawn(|| TxnIndex::build_from(txn_id.texts(), |row| txn_id.text(row)));
        let rows = canonical_rows(
            &mut p,
            &order,
            &account_of,
            &RawColumns {
                txn: txn_raw,
                seq: &seq_raw,
                date: &date_raw,
                moved: &moved,
                amount: &amount_col,
                base: &base_col,
                balance: &balance_col,
                excluded: excluded_raw,
            },
        );
        (index.join(), rows)
    });
    rows?;
    p.txn_index = std::sync::OnceLock::from(
        index
            .map_err(|_| bad(L, "building the txn_id index failed".to_string()))?
            .map_err(|txn| bad(L, format!("txn_id {txn} appears twice")))?,
    );
    p.txn_id = txn_id;
    let indexed = clock.elapsed();
    link_transfers(&mut p, input)?;
    link_money_transfers(&mut p, &msb);
    schedule(&mut p);
    let scheduled = clock.elapsed();
    classify(&mut p, input)?;
    destinations(&mut p, input.spec)?;
    let classified = clock.elapsed();
    // What only preparation reads: the methods and the outputs never look a row up by id
    // or by `seq` (a question asked later builds the index again).
    p.txn_index = std::sync::OnceLock::new();
    p.seq = Vec::new();
    p.timings = vec![
        ("  read", read),
        ("  index", indexed - read),
        ("  link", scheduled - indexed),
        ("  taint", classified - scheduled),
    ];
    Ok(p)
}

/// The ledger's columns as read, in frame order.
struct RawColumns<'a> {
    txn: &'a StringChunked,
    seq: &'a [u64],
    date: &'a [i32],
    /// Per row, the pence it moves: its base amount, else its amount.
    moved: &'a [i64],
    amount: &'a input::Pence<'a>,
    base: &'a input::Pence<'a>,
    balance: &'a input::Pence<'a>,
    excluded: Option<&'a StringChunked>,
}

/// Copy the rows into `p` in canonical order (`order[row]` is the frame row): account, seq,
/// date and base-currency pence, each account's opening balance, excluded rows.
fn canonical_rows(
    p: &mut Prepared,
    order: &[u32],
    account_of: &[u32],
    raw: &RawColumns<'_>,
) -> Result<(), TraceError> {
    let txn_of = |i: usize| raw.txn.get(i).unwrap_or_default();
    let (seq_raw, date_raw, excluded_raw) = (raw.seq, raw.date, raw.excluded);
    let mut seen_account = vec![false; p.accounts.len()];
    let mut volume: Vec<i128> = vec![0; p.accounts.len()];
    for (row, &i) in order.iter().enumerate() {
        let i = i as usize;
        let a = account_of[i];
        let amount = raw.moved[i];
        if !seen_account[a as usize] {
            seen_account[a as usize] = true;
            // The first reported balance implies what was there before the first row:
            // only in the account's own currency, so only when amount_base = amount.
            if let (Some(bal), Some(amt)) = (raw.balance.get(i)?, raw.amount.get(i)?) {
                let base = raw.base.get(i)?;
                if base.is_none() || base == Some(amt) {
                    p.opening[a as usize] = bal - amt;
                } else {
                    p.notes.push(TraceNote {
                        kind: "opening_balance_unknown",
                        txn_id: Some(txn_of(i).to_string()),
                        message: format!(
                            "account {} is not in the base currency; its opening balance cannot be converted exactly and is taken as 0",
                            p.accounts[a as usize]
                        ),
                    });
                }
            }
            volume[a as usize] += i128::from(p.opening[a as usize].abs());
        }
        volume[a as usize] += i128::from(amount.abs());
        if volume[a as usize] > i128::from(i64::MAX) {
            return Err(TraceError::Overflow {
                account: p.accounts[a as usize].clone(),
            });
        }
        p.account.push(a);
        p.seq.push(seq_raw[i]);
        p.date.push(date_raw[i]);
        p.amount.push(amount);
        let excluded = excluded_raw.and_then(|c| c.get(i));
        if let Some(reason) = excluded.filter(|r| !r.trim().is_empty()) {
            // Kept for the record, not counted: it moves no money.
            p.amount[row] = 0;
            p.excluded.insert(row as u32, reason.to_string());
        }
    }
    Ok(())
}

fn link_transfers(p: &mut Prepared, input: &TraceInput<'_>) -> Result<(), TraceError> {
    const T: &str = "transfers";
    let Some(df) = input.transfers else {
        return Ok(());
    };
    let debits = input::required_strings(df, T, "debit_txn_id")?;
    let credits = input::required_strings(df, T, "credit_txn_id")?;
    let ids = if df.column("transfer_id").is_ok() {
        input::strings(df, T, "transfer_id")?
    } else {
        vec![None; debits.len()]
    };
    let debit_accounts = if df.column("debit_account").is_ok() {
        Some(input::strings(df, T, "debit_account")?)
    } else {
        None
    };
    let credit_accounts = if df.column("credit_account").is_ok() {
        Some(input::strings(df, T, "credit_account")?)
    } else {
        None
    };
    for i in 0..debits.len() {
        let name = ids[i].clone().unwrap_or_else(|| format!("row {}", i + 1));
        let find = |txn: &str| {
            p.row_of(txn).ok_or_else(|| {
                bad(
                    T,
                    format!("transfer {name} names txn {txn}, which is not in the ledger"),
                )
            })
        };
        let d = find(&debits[i])?;
        let c = find(&credits[i])?;
        if let Some((row, reason)) = [d, c]
            .into_iter()
            .find_map(|r| p.excluded.get(&r).map(|why| (r, why.clone())))
        {
            p.notes.push(TraceNote {
                kind: "transfer_excluded",
                txn_id: Some(p.txn_id.text(row as usize).to_string()),
                message: format!(
                    "transfer {name} (debit {} → credit {}) is not followed: txn {} is excluded ({reason})",
                    debits[i], credits[i], p.txn_id.text(row as usize)
                ),
            });
            continue;
        }
        if p.amount[d as usize] >= 0 {
            return Err(bad(
                T,
                format!("transfer {name}: debit_txn_id {} is not a debit", debits[i]),
            ));
        }
        if p.amount[c as usize] <= 0 {
            return Err(bad(
                T,
                format!(
                    "transfer {name}: credit_txn_id {} is not a credit",
                    credits[i]
                ),
            ));
        }
        for (end, row, given) in [
            ("debit_account", d, debit_accounts.as_ref().map(|v| &v[i])),
            ("credit_account", c, credit_accounts.as_ref().map(|v| &v[i])),
        ] {
            if let Some(Some(given)) = given {
                let actual = &p.accounts[p.account[row as usize] as usize];
                if given != actual {
                    return Err(bad(
                        T,
                        format!(
                            "transfer {name}: {end} is {given} but txn {} is in account {actual}",
                            p.txn_id.text(row as usize)
                        ),
                    ));
                }
            }
        }
        for row in [d, c] {
            if p.link[row as usize] != NONE {
                return Err(bad(
                    T,
                    format!(
                        "txn {} is in more than one transfer; transfers are one-to-one",
                        p.txn_id.text(row as usize)
                    ),
                ));
            }
        }
        join(p, d, c, name);
    }
    Ok(())
}

/// Link debit `d` to credit `c` as transfer `name`, with a note if the amounts differ.
fn join(p: &mut Prepared, d: u32, c: u32, name: String) {
    p.link[d as usize] = c;
    p.link[c as usize] = d;
    p.transfer_id.insert(d, name.clone());
    p.transfer_id.insert(c, name.clone());
    let (out, inn) = (-p.amount[d as usize], p.amount[c as usize]);
    if out != inn {
        p.notes.push(TraceNote {
            kind: "transfer_amounts_differ",
            txn_id: Some(p.txn_id.text(c as usize).to_string()),
            message: format!(
                "transfer {name}: {} left and {} arrived (base currency); the composition of the debit is scaled to the credit by largest remainder",
                crate::money::format_amount(crate::money::from_minor_units(out.into())),
                crate::money::format_amount(crate::money::from_minor_units(inn.into())),
            ),
        });
    }
}

/// Money transfers between case accounts: the send (`msb_send`, a debit) and the payout
/// (`msb_payout`, a credit) of one transfer are linked like an internal transfer, so the
/// trace passes through the money-transfer firm. They are one transfer when they carry the
/// same reference (`bank_txn_id`, the MTCN), sit in different accounts, neither is excluded
/// (a cancelled transfer never links) nor already in a matched transfer, and their parties
/// agree after [`normalise_name`]: the send's party (sender) is the payout's counterparty
/// and the send's counterparty (receiver) the payout's party. A reference with more than one
/// send or payout, or whose parties disagree, is not linked and a note says why. Each link
/// is noted with both txn_ids (`msb_transfer_linked`).
fn link_money_transfers(p: &mut Prepared, msb: &MsbFields) {
    let mut by_reference: BTreeMap<&str, (Vec<u32>, Vec<u32>)> = BTreeMap::new();
    let Some(references) = msb.reference.as_ref() else {
        return;
    };
    // The channel first: most rows are not money transfers.
    for (r, (channel, reference)) in p.channel.0.iter().zip(references.0.iter()).enumerate() {
        let send = match channel {
            Some("msb_send") if p.amount[r] < 0 => true,
            Some("msb_payout") if p.amount[r] > 0 => false,
            _ => continue,
        };
        let row = r as u32;
        let Some(reference) = reference.map(str::trim) else {
            continue;
        };
        if reference.is_empty() || p.link[r] != NONE || p.excluded.contains_key(&row) {
            continue;
        }
        let (sends, payouts) = by_reference.entry(reference).or_default();
        if send {
            sends.push(row);
        } else {
            payouts.push(row);
        }
    }
    let name_of = |v: Option<&str>| v.map(normalise_name).filter(|n| !n.is_empty());
    for (reference, (sends, payouts)) in by_reference {
        if sends.is_empty() || payouts.is_empty() {
            // Sent to, or received from, someone outside the case accounts.
            continue;
        }
        let ids = |rows: &[u32]| {
            rows.iter()
                .map(|&r| p.txn_id.text(r as usize))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let name = format!("MSB {reference}");
        if sends.len() > 1 || payouts.len() > 1 {
            p.notes.push(TraceNote {
                kind: "msb_transfer_not_linked",
                txn_id: Some(p.txn_id.text(sends[0] as usize).to_string()),
                message: format!(
                    "money transfer {reference} has sends {} and payouts {}: which paid which is not known, so none is followed",
                    ids(&sends),
                    ids(&payouts)
                ),
            });
            continue;
        }
        let (s, c) = (sends[0], payouts[0]);
        let (sr, cr) = (s as usize, c as usize);
        let sender = name_of(msb.party(sr));
        let receiver = name_of(p.counterparty.get(sr));
        let problem = if p.account[sr] == p.account[cr] {
            Some("the send and the payout are in the same account".to_string())
        } else if sender != name_of(p.counterparty.get(cr)) || receiver != name_of(msb.party(cr)) {
            Some(format!(
                "the send is from {} to {} but the payout is from {} to {}",
                msb.party(sr).unwrap_or("(no name)"),
                p.counterparty.get(sr).unwrap_or("(no name)"),
                p.counterparty.get(cr).unwrap_or("(no name)"),
                msb.party(cr).unwrap_or("(no name)"),
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            p.notes.push(TraceNote {
                kind: "msb_transfer_not_linked",
                txn_id: Some(p.txn_id.text(sr).to_string()),
                message: format!(
                    "money transfer {reference} (send {} → payout {}) is not followed: {problem}",
                    p.txn_id.text(sr),
                    p.txn_id.text(cr)
                ),
            });
            continue;
        }
        p.notes.push(TraceNote {
            kind: "msb_transfer_linked",
            txn_id: Some(p.txn_id.text(sr).to_string()),
            message: format!(
                "money transfer {reference}: send {} from {} paid out as {} in {}; followed as a transfer between case accounts",
                p.txn_id.text(sr),
                p.accounts[p.account[sr] as usize],
                p.txn_id.text(cr),
                p.accounts[p.account[cr] as usize],
            ),
        });
        join(p, s, c, name);
    }
}

/// Order events so that each account's rows keep their chronology and a transfer's credit
/// is applied after its debit. Accounts advance in (date, seq) order of their next row; an
/// account whose next row is a transfer credit waits for the debit. If every remaining
/// account waits (the transfers' dates contradict the chronologies), the earliest waiting
/// transfer is unlinked — its credit is treated as an ordinary credit and its debit as an
/// ordinary payment — and a note says so. The figures depend only on each account's
/// chronology and the links, not on how accounts interleave: so the accounts that take
/// part in no transfer come first, each whole, and only the others are merged.
fn schedule(p: &mut Prepared) {
    let n_acc = p.accounts.len();
    // In canonical order an account's rows are contiguous, accounts in index order.
    debug_assert!(p.account.is_sorted());
    let mut rows_of: Vec<std::ops::Range<u32>> = vec![0..0; n_acc];
    let mut linked = vec![false; n_acc];
    let mut start = 0;
    for row in 0..=p.account.len() {
        let a = p.account.get(row).copied();
        if row > 0 && a != Some(p.account[row - 1]) {
            rows_of[p.account[row - 1] as usize] = start as u32..row as u32;
            start = row;
        }
        if let Some(a) = a {
            linked[a as usize] |= p.link[row] != NONE;
        }
    }
    for acc in 0..n_acc {
        if !linked[acc] {
            p.schedule.extend(rows_of[acc].clone());
        }
    }
    let row_at = |acc: u32, pos: usize| {
        let range = &rows_of[acc as usize];
        (range.start as usize + pos < range.end as usize).then(|| range.start + pos as u32)
    };
    let mut pos = vec![0usize; n_acc];
    let mut processed = vec![false; p.txn_id.len()];
    let mut heap: BinaryHeap<Reverse<(i32, u64, u32)>> = BinaryHeap::new();
    let mut waiting: HashMap<u32, u32> = HashMap::new();
    let mut blocked: BTreeSet<(i32, u64, u32)> = BTreeSet::new();

    let push_head = |acc: u32,
                     pos: &[usize],
                     processed: &[bool],
                     heap: &mut BinaryHeap<Reverse<(i32, u64, u32)>>,
                     waiting: &mut HashMap<u32, u32>,
                     blocked: &mut BTreeSet<(i32, u64, u32)>,
                     p: &Prepared| {
        if let Some(row) = row_at(acc, pos[acc as usize]) {
            let key = (p.date[row as usize], p.seq[row as usize], acc);
            let debit = p.link[row as usize];
            if p.amount[row as usize] > 0 && debit != NONE && !processed[debit as usize] {
                waiting.insert(debit, acc);
                blocked.insert(key);
            } else {
                heap.push(Reverse(key));
            }
        }
    };
    for acc in (0..n_acc as u32).filter(|&a| linked[a as usize]) {
        push_head(
            acc,
            &pos,
            &processed,
            &mut heap,
            &mut waiting,
            &mut blocked,
            p,
        );
    }
    loop {
        while let Some(Reverse((_, _, acc))) = heap.pop() {
            let row = rows_of[acc as usize].start + pos[acc as usize] as u32;
            p.schedule.push(row);
            processed[row as usize] = true;
            pos[acc as usize] += 1;
            if p.amount[row as usize] < 0 && p.link[row as usize] != NONE {
                if let Some(w) = waiting.remove(&row) {
                    let head = rows_of[w as usize].start + pos[w as usize] as u32;
                    blocked.remove(&(p.date[head as usize], p.seq[head as usize], w));
                    heap.push(Reverse((p.date[head as usize], p.seq[head as usize], w)));
                }
            }
            push_head(
                acc,
                &pos,
                &processed,
                &mut heap,
                &mut waiting,
                &mut blocked,
                p,
            );
        }
        let Some(key) = blocked.pop_first() else {
            break;
        };
        let acc = key.2;
        let credit = rows_of[acc as usize].start + pos[acc as usize] as u32;
        let debit = p.link[credit as usize];
        waiting.remove(&debit);
        p.link[credit as usize] = NONE;
        p.link[debit as usize] = NONE;
        let name = p.transfer_id.get(&credit).cloned().unwrap_or_default();
        p.notes.push(TraceNote {
            kind: "transfer_unlinked",
            txn_id: Some(p.txn_id.text(credit as usize).to_string()),
            message: format!(
                "transfer {name} (debit {} → credit {}) cannot be followed: each account's chronology puts the credit before money that must leave first; the credit is treated as an ordinary credit and the debit as an ordinary payment",
                p.txn_id.text(debit as usize), p.txn_id.text(credit as usize)
            ),
        });
        heap.push(Reverse(key));
    }
    debug_assert_eq!(p.schedule.len(), p.txn_id.len());
}

fn classify(p: &mut Prepared, input: &TraceInput<'_>) -> Result<(), TraceError> {
    let spec = input.spec;
    let row_of = |key: &str, txn: &str| -> Result<u32, TraceError> {
        p.row_of(txn)
            .ok_or_else(|| spec_err(key, format!("names txn {txn}, which is not in the ledger")))
    };
    let mut tainted_txn: HashSet<u32> = HashSet::new();
    for txn in &spec.tainted_txn_ids {
        let row = row_of("tainted_txn_ids", txn)?;
        if let Some(why) = p.excluded.get(&row) {
            return Err(spec_err(
                "tainted_txn_ids",
                format!("names txn {txn}, which is excluded ({why}): it moved no money"),
            ));
        }
        if p.amount[row as usize] <= 0 {
            return Err(spec_err(
                "tainted_txn_ids",
                format!(
                    "names txn {txn}, which is not a credit; only money coming in can be an origin"
                ),
            ));
        }
        if p.is_linked_credit(row) {
            return Err(spec_err(
                "tainted_txn_ids",
                format!(
                    "names txn {txn}, the credit end of internal transfer {}; its composition is carried from debit {}: taint the money where it first came in instead",
                    p.transfer_id.get(&row).cloned().unwrap_or_default(),
                    p.txn_id.text(p.link[row as usize] as usize)
                ),
            ));
        }
        tainted_txn.insert(row);
    }
    let mut legitimate_txn: HashSet<u32> = HashSet::new();
    for txn in &spec.legitimate_txn_ids {
        let row = row_of("legitimate_txn_ids", txn)?;
        if p.amount[row as usize] <= 0 {
            return Err(spec_err(
                "legitimate_txn_ids",
                format!("names txn {txn}, which is not a credit"),
            ));
        }
        legitimate_txn.insert(row);
    }
    let account_known: HashSet<&str> = p.accounts.iter().map(String::as_str).collect();
    for (i, rule) in spec.tainted_channels.iter().enumerate() {
        for a in &rule.accounts {
            if !account_known.contains(a.as_str()) {
                return Err(spec_err(
                    &format!("tainted_channels[{i}].accounts"),
                    format!("names account {a:?}, which has no rows in the ledger"),
                ));
            }
        }
        if let (Some(after), Some(until)) = (rule.after, rule.until) {
            if until <= after {
                return Err(spec_err(
                    &format!("tainted_channels[{i}]"),
                    format!(
                        "has until = {until} not later than after = {after}, so it matches nothing"
                    ),
                ));
            }
        }
    }
    // Finding evidence: the wanted rule ids of each row, in the order the evidence first
    // names them, as (row, rule) sorted by row, walked beside the rows below.
    let mut rule_names: Vec<&str> = Vec::new();
    let mut evidence: Vec<(u32, usize, u32)> = Vec::new();
    if !spec.tainted_findings.is_empty() {
        let Some(df) = input.finding_evidence else {
            return Err(spec_err(
                "tainted_findings",
                "names findings, but no finding evidence was supplied to the tracing stage".into(),
            ));
        };
        const F: &str = "finding evidence";
        let rules = input::required_str_column(df, F, "rule_id")?;
        let txns = input::required_str_column(df, F, "txn_id")?;
        let wanted = |rule: &str| spec.tainted_findings.iter().any(|f| f == "*" || f == rule);
        let mut rule_index: HashMap<&str, u32> = HashMap::new();
        for (line, (rule, txn)) in rules.iter().zip(txns.iter()).enumerate() {
            let (rule, txn) = (rule.unwrap_or_default(), txn.unwrap_or_default());
            let row = p.row_of(txn).ok_or_else(|| {
                bad(
                    F,
                    format!("finding {rule} names txn {txn}, which is not in the ledger"),
                )
            })?;
            if wanted(rule) {
                let i = *rule_index.entry(rule).or_insert_with(|| {
                    rule_names.push(rule);
                    (rule_names.len() - 1) as u32
                });
                evidence.push((row, line, i));
            }
        }
        evidence.sort_unstable();
        // A rule named twice for one row counts once, at its first line.
        let mut seen: Vec<(u32, u32)> = Vec::new();
        evidence.retain(|&(row, _, rule)| {
            if seen.last().is_some_and(|&(r, _)| r != row) {
                seen.clear();
            }
            if seen.contains(&(row, rule)) {
                return false;
            }
            seen.push((row, rule));
            true
        });
    }
    let mut next_evidence = 0;
    let tainted_names: Vec<(String, &String)> = spec
        .tainted_counterparties
        .iter()
        .map(|n| (normalise_name(n), n))
        .collect();
    let legit_names: Vec<(String, &String)> = spec
        .legitimate_counterparties
        .iter()
        .map(|n| (normalise_name(n), n))
        .collect();
    let mut name_used = vec![false; tainted_names.len()];

    for row in 0..p.txn_id.len() as u32 {
        let r = row as usize;
        if p.amount[r] <= 0 || p.is_linked_credit(row) {
            continue;
        }
        let name = if tainted_names.is_empty() && legit_names.is_empty() {
            None
        } else {
            p.counterparty.get(r).map(normalise_name)
        };
        let mut reasons: Vec<String> = Vec::new();
        if tainted_txn.contains(&row) {
            reasons.push("listed in tainted_txn_ids".into());
        }
        if let Some(name) = &name {
            for (i, (norm, written)) in tainted_names.iter().enumerate() {
                if !norm.is_empty() && norm == name {
                    name_used[i] = true;
                    reasons.push(format!(
                        "counterparty matches tainted_counterparties {written:?}"
                    ));
                }
            }
        }
        for rule in &spec.tainted_channels {
            if p.channel.text(r) != rule.channel.as_str() {
                continue;
            }
            let day = day_to_date(p.date[r]);
            if rule.after.is_none_or(|a| day > a)
                && rule.until.is_none_or(|u| day <= u)
                && (rule.accounts.is_empty()
                    || rule
                        .accounts
                        .iter()
                        .any(|a| *a == p.accounts[p.account[r] as usize]))
            {
                let mut text = format!("channel {}", rule.channel.as_str());
                if let Some(a) = rule.after {
                    text.push_str(&format!(" after {a}"));
                }
                if let Some(u) = rule.until {
                    text.push_str(&format!(" until {u}"));
                }
                reasons.push(text);
            }
        }
        while evidence.get(next_evidence).is_some_and(|e| e.0 < row) {
            next_evidence += 1;
        }
        while let Some(&(_, _, rule)) = evidence.get(next_evidence).filter(|e| e.0 == row) {
            reasons.push(format!("evidence of finding {}", rule_names[rule as usize]));
            next_evidence += 1;
        }
        if spec.all_credits_tainted && reasons.is_empty() {
            reasons.push("all_credits_tainted: not an accepted legitimate source".into());
        }
        if reasons.is_empty() {
            continue;
        }
        let mut exclusions: Vec<String> = Vec::new();
        if legitimate_txn.contains(&row) {
            exclusions.push("accepted legitimate source (legitimate_txn_ids)".into());
        }
        if let Some(name) = &name {
            for (norm, written) in &legit_names {
                if !norm.is_empty() && norm == name {
                    exclusions.push(format!(
                        "accepted legitimate source: counterparty {written:?}"
                    ));
                }
            }
        }
        if exclusions.is_empty() {
            p.origin_of_row[r] = p.origins.len() as u32;
            p.origins.push(row);
            p.classified.push(Classified {
                row,
                tainted: true,
                reason: reasons.join("; "),
            });
        } else {
            p.classified.push(Classified {
                row,
                tainted: false,
                reason: format!(
                    "{}; excluded: {}",
                    reasons.join("; "),
                    exclusions.join("; ")
                ),
            });
        }
    }
    for (i, used) in name_used.iter().enumerate() {
        if !used {
            p.notes.push(TraceNote {
                kind: "taint_rule_matched_nothing",
                txn_id: None,
                message: format!(
                    "tainted_counterparties {:?} matched no credit",
                    tainted_names[i].1
                ),
            });
        }
    }
    if p.origins.len() >= super::engine::CLEAN as usize {
        return Err(spec_err("", "marks 2^32 or more origins".into()));
    }
    Ok(())
}

fn destinations(p: &mut Prepared, spec: &TaintSpec) -> Result<(), TraceError> {
    for txn in &spec.destinations {
        let row = p.row_of(txn).ok_or_else(|| {
            spec_err(
                "destinations",
                format!("names txn {txn}, which is not in the ledger"),
            )
        })?;
        if let Some(why) = p.excluded.get(&row) {
            return Err(spec_err(
                "destinations",
                format!("names txn {txn}, which is excluded ({why}): it moved no money"),
            ));
        }
        if p.amount[row as usize] >= 0 {
            return Err(spec_err(
                "destinations",
                format!("names txn {txn}, which is not a debit; a destination is money going out"),
            ));
        }
        if !p.destinations.contains(&row) {
            p.destinations.push(row);
        }
    }
    Ok(())
}
