//! The trace batch by batch (step 3 of docs/streaming.md): each batch's trace written in
//! parts, put together in a whole trace's order.
//!
//! Money moves between accounts only through matched internal transfers and money transfers
//! between case accounts, and those never leave a group: a batch's trace gives its accounts
//! what the trace of the whole ledger gives them. The whole trace's files are ordered by
//! account within each method, so they are put together as the ledger is
//! ([`super::LedgerParts`]):
//!
//! - `trace_flows.csv`: per method (in [`Method::ALL`] order), the tainted parts of debits
//!   and overdraft repayments in ledger order, then the money left in each account, in
//!   account order: each batch writes its rows stretch by stretch of one account;
//! - `trace_summary.csv`: one row per payment, in ledger order (or, when the tracing table
//!   names destinations, in the order it names them);
//! - `trace_balances.csv` and `trace_origins.csv`: by account;
//! - `trace_notes.csv`: in the order the trace makes them (opening balances by account,
//!   transfers in `transfers.csv` order, money transfers by reference, unlinked transfers
//!   by date); a tainted counterparty matched nothing when it matched nothing in any batch.
//!
//! Txn ids the tracing table names (destinations, tainted and legitimate credits) are given
//! to the batch whose ledger holds them; one no batch holds is the error a whole trace gives.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::case::Case;
use crate::error::Error;
use crate::ledger::col;
use crate::report::csv_out::{write_trace_flows, write_trace_summary};
use crate::trace::{Method, TaintSpec, Trace, TraceError};

use super::{append, by_account, internal, io_error};

/// The trace's tables for the outputs and the court report, put together from every batch.
#[derive(Debug)]
pub struct TraceTables {
    /// The elected method's flows (or FIFO's), for the report's diagram.
    pub flows: DataFrame,
    /// The first rows of `trace_summary.csv`.
    pub summary: DataFrame,
    /// Rows of `trace_summary.csv`.
    pub summary_rows: usize,
    pub balances: DataFrame,
    pub origins: DataFrame,
    pub notes: DataFrame,
    pub elected: Option<Method>,
    /// Tainted origins.
    pub origins_count: usize,
}

/// Each batch's trace, written and kept in parts.
#[derive(Debug)]
pub struct TraceParts {
    dir: PathBuf,
    /// How many first rows of the summary the report needs.
    head: usize,
    /// Part files: (flows, summary) of each batch.
    parts: Vec<(PathBuf, PathBuf)>,
    /// (method, remaining, account, batch, offset, length) of each stretch of flows.
    flows: Vec<(usize, bool, u32, usize, u64, u64)>,
    /// (order key, batch, offset, length) of each stretch of the summary.
    summary: Vec<(u64, usize, u64, u64)>,
    summary_columns: Option<Vec<String>>,
    summary_rows: usize,
    /// The elected method's flows, (account, remaining, batch, frame).
    elected_flows: Vec<(bool, u32, usize, DataFrame)>,
    /// The first summary rows of each batch, by account (or destination order).
    summary_heads: Vec<(u64, usize, DataFrame)>,
    balances: Vec<(u32, usize, DataFrame)>,
    origins: Vec<(u32, usize, DataFrame)>,
    origins_count: usize,
    /// (phase, key, key text, batch, position, kind, txn_id, message).
    notes: Vec<NoteAt>,
    /// Notes of tainted counterparties that matched nothing, in the order the first batch
    /// made them, and how many batches made each.
    matched_nothing: Vec<(String, usize)>,
    batches: usize,
    elected: Option<Method>,
    empty: Option<[DataFrame; 4]>,
}

/// A note with the key that orders it as a whole trace makes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct NoteAt {
    phase: u8,
    key: (i64, u64),
    text_key: String,
    batch: usize,
    position: usize,
    kind: String,
    txn_id: Option<String>,
    message: String,
}

/// The phase of the trace that makes a note of `kind`, in the order the phases run.
fn phase_of(kind: &str) -> u8 {
    match kind {
        "opening_balance_unknown" => 0,
        "transfer_excluded" | "transfer_amounts_differ" => 1,
        "msb_transfer_linked" | "msb_transfer_not_linked" => 2,
        "transfer_unlinked" => 3,
        _ => 4,
    }
}

/// The txn ids a tracing table names, by key.
fn named_txn_ids(spec: &TaintSpec) -> [(&'static str, &Vec<String>); 3] {
    [
        ("tainted_txn_ids", &spec.tainted_txn_ids),
        ("legitimate_txn_ids", &spec.legitimate_txn_ids),
        ("destinations", &spec.destinations),
    ]
}

/// The tracing table as a batch's trace needs it: the txn ids it names kept where the
/// batch's ledger holds them (`found` collects them).
pub fn spec_for_batch(
    spec: &TaintSpec,
    ledger: &DataFrame,
    found: &mut HashSet<String>,
) -> Result<TaintSpec, Error> {
    let named: HashSet<&str> = named_txn_ids(spec)
        .iter()
        .flat_map(|(_, ids)| ids.iter().map(String::as_str))
        .collect();
    let mut held: HashSet<String> = HashSet::new();
    if !named.is_empty() {
        let ids = ledger
            .column(col::TXN_ID)
            .and_then(|c| c.str().cloned())
            .map_err(internal("reading txn ids"))?;
        for id in ids.iter().flatten() {
            if named.contains(id) {
                held.insert(id.to_string());
            }
        }
    }
    let mut out = spec.clone();
    for ids in [
        &mut out.tainted_txn_ids,
        &mut out.legitimate_txn_ids,
        &mut out.destinations,
    ] {
        ids.retain(|id| held.contains(id));
    }
    found.extend(held);
    Ok(out)
}

/// The error a whole trace gives for a named txn no batch's ledger holds.
pub fn check_named_txn_ids(spec: &TaintSpec, found: &HashSet<String>) -> Result<(), Error> {
    for (key, ids) in named_txn_ids(spec) {
        if let Some(txn) = ids.iter().find(|id| !found.contains(*id)) {
            return Err(TraceError::Spec {
                key: key.to_string(),
                problem: format!("names txn {txn}, which is not in the ledger"),
            }
            .into());
        }
    }
    Ok(())
}

/// Bytes of a CSV writer's output after its header line.
fn rows_only(bytes: Vec<u8>) -> Vec<u8> {
    match bytes.windows(2).position(|w| w == b"\r\n") {
        Some(at) => bytes[at + 2..].to_vec(),
        None => Vec::new(),
    }
}

impl TraceParts {
    /// Parts kept in `dir`; `head` first rows of the summary are kept for the report.
    pub fn new(dir: &Path, head: usize) -> TraceParts {
        TraceParts {
            dir: dir.to_path_buf(),
            head,
            parts: Vec::new(),
            flows: Vec::new(),
            summary: Vec::new(),
            summary_columns: None,
            summary_rows: 0,
            elected_flows: Vec::new(),
            summary_heads: Vec::new(),
            balances: Vec::new(),
            origins: Vec::new(),
            origins_count: 0,
            notes: Vec::new(),
            matched_nothing: Vec::new(),
            batches: 0,
            elected: None,
            empty: None,
        }
    }

    /// Add batch `batch`'s trace: `ledger` is the batch's verified ledger, `transfers` the
    /// whole case's (`transfers.csv`), `destinations` the tracing table's.
    pub fn add(
        &mut self,
        case: &Case,
        trace: &Trace,
        ledger: &DataFrame,
        transfers: &DataFrame,
        destinations: &[String],
    ) -> Result<(), Error> {
        let batch = self.parts.len();
        self.batches += 1;
        self.elected = trace.elected_method();
        let index: HashMap<&str, u32> = case.account_positions();
        let account_of = |id: &str| -> Result<u32, Error> {
            index.get(id).copied().ok_or_else(|| {
                Error::Internal(format!(
                    "a batch's trace names account {id:?}, which the case does not declare"
                ))
            })
        };
        let flows_path = self.dir.join(format!(".trace-flows-part-{batch:05}.csv"));
        let summary_path = self.dir.join(format!(".trace-summary-part-{batch:05}.csv"));
        // Listed before they are made, so that a failure part way removes them too.
        self.parts.push((flows_path.clone(), summary_path.clone()));

        // trace_flows.csv: each method's rows in stretches of one account and kind.
        let mut out = std::io::BufWriter::with_capacity(
            1 << 20,
            crate::report::create_work_file(&flows_path)?,
        );
        let mut offset = 0u64;
        let elected = self.elected.unwrap_or(Method::Fifo);
        for (m, method) in Method::ALL.iter().enumerate() {
            let mut rows = trace.flow_rows(Some(*method)).peekable();
            while let Some(first) = rows.next() {
                let remaining = first.destination_txn_id.is_none();
                let account = first.destination_account;
                let mut stretch = vec![first];
                while let Some(next) = rows.peek() {
                    if next.destination_txn_id.is_none() != remaining
                        || next.destination_account != account
                    {
                        break;
                    }
                    stretch.extend(rows.next());
                }
                let a = account_of(account)?;
                let bytes = rows_only(write_trace_flows(stretch.into_iter(), Vec::new())?);
                out.write_all(&bytes)
                    .map_err(|e| io_error(&flows_path, e))?;
                self.flows
                    .push((m, remaining, a, batch, offset, bytes.len() as u64));
                offset += bytes.len() as u64;
            }
        }
        out.flush().map_err(|e| io_error(&flows_path, e))?;
        // The elected method's flows as a frame, split by account and kind.
        let frame = trace.flows_frame_of(Some(elected))?;
        if self.empty.is_none() {
            self.empty = Some([
                frame.clear(),
                trace.summary_frame_head(0)?,
                trace.balances_frame()?.clear(),
                trace.origins_frame()?.clear(),
            ]);
        }
        let kinds = frame
            .column("destination_kind")
            .and_then(|c| c.str().cloned())
            .map_err(internal("reading the flows"))?;
        let accounts = frame
            .column("destination_account")
            .and_then(|c| c.str().cloned())
            .map_err(internal("reading the flows"))?;
        let mut start = 0;
        for i in 1..=frame.height() {
            let key = |i: usize| {
                (
                    kinds.get(i) == Some("remaining_balance"),
                    accounts.get(i).unwrap_or_default(),
                )
            };
            if i == frame.height() || key(i) != key(start) {
                let (remaining, account) = key(start);
                self.elected_flows.push((
                    remaining,
                    account_of(account)?,
                    batch,
                    frame.slice(start as i64, i - start),
                ));
                start = i;
            }
        }

        // trace_summary.csv: stretches of one account, or of one destination.
        let columns = trace.summary_columns();
        self.summary_columns.get_or_insert_with(|| columns.clone());
        let order: HashMap<&str, u64> = destinations
            .iter()
            .enumerate()
            .map(|(i, d)| (d.as_str(), i as u64))
            .collect();
        let key_of = |row: &crate::trace::SummaryRow<'_>| -> Result<u64, Error> {
            if order.is_empty() {
                Ok(u64::from(account_of(row.account_id)?))
            } else {
                order.get(row.destination_txn_id).copied().ok_or_else(|| {
                    Error::Internal(format!(
                        "a batch's trace summarises {}, which the tracing table does not name",
                        row.destination_txn_id
                    ))
                })
            }
        };
        let mut out = std::io::BufWriter::with_capacity(
            1 << 20,
            crate::report::create_work_file(&summary_path)?,
        );
        let mut offset = 0u64;
        let mut rows = trace.summary_row_iter().peekable();
        let mut n = 0usize;
        let mut head: Option<DataFrame> = None;
        while let Some(first) = rows.next() {
            let key = key_of(&first)?;
            let mut stretch = vec![first];
            while let Some(next) = rows.peek() {
                if key_of(next)? != key {
                    break;
                }
                stretch.extend(rows.next());
            }
            let (first_row, len) = (n, stretch.len());
            n += len;
            let bytes = rows_only(write_trace_summary(
                &columns,
                stretch.into_iter(),
                Vec::new(),
            )?);
            out.write_all(&bytes)
                .map_err(|e| io_error(&summary_path, e))?;
            self.summary.push((key, batch, offset, bytes.len() as u64));
            offset += bytes.len() as u64;
            // The report's first rows: those of this stretch among the batch's first.
            if first_row < self.head {
                if head.is_none() {
                    head = Some(trace.summary_frame_head(self.head)?);
                }
                if let Some(head) = &head {
                    self.summary_heads
                        .push((key, batch, head.slice(first_row as i64, len)));
                }
            }
        }
        out.flush().map_err(|e| io_error(&summary_path, e))?;
        self.summary_rows += n;
        self.keep_first_summary_rows();

        // Balances and origins, by account.
        for (frame, out) in [
            (trace.balances_frame()?, &mut self.balances),
            (trace.origins_frame()?, &mut self.origins),
        ] {
            for (account, part) in by_account(&frame, &index)? {
                out.push((account, batch, part));
            }
        }
        self.origins_count += trace.origin_txn_ids().len();

        // Notes, with the keys that order them as a whole trace makes them.
        let notes = trace.notes();
        let named: HashSet<&str> = notes.iter().filter_map(|n| n.txn_id.as_deref()).collect();
        let rows = note_rows(ledger, &named)?;
        let transfer_at = transfer_positions(transfers, &named)?;
        for (position, note) in notes.into_iter().enumerate() {
            if note.kind == "taint_rule_matched_nothing" {
                match self
                    .matched_nothing
                    .iter_mut()
                    .find(|(m, _)| *m == note.message)
                {
                    Some((_, n)) => *n += 1,
                    None => self.matched_nothing.push((note.message, 1)),
                }
                continue;
            }
            let row = note.txn_id.as_deref().and_then(|t| rows.get(t));
            let in_transfers = note
                .txn_id
                .as_deref()
                .is_some_and(|t| transfer_at.contains_key(t));
            let mut phase = phase_of(note.kind);
            // A money transfer's amounts that differ are noted as it is linked.
            if note.kind == "transfer_amounts_differ" && !in_transfers {
                phase = 2;
            }
            let (key, text_key) = match phase {
                1 => (
                    (
                        note.txn_id
                            .as_deref()
                            .and_then(|t| transfer_at.get(t))
                            .map_or(0, |&p| p as i64),
                        0,
                    ),
                    String::new(),
                ),
                2 => ((0, 0), row.map(|r| r.2.clone()).unwrap_or_default()),
                // A trace unlinks a transfer only when every account it still follows
                // waits on another; it takes the least waiting credit by (date, seq), and
                // every account's next row is later than its waiting one. So its notes
                // come in the order of their credits' (date, seq), and batches' notes
                // sorted by it are in the whole trace's order (tests/it/trace.rs).
                3 => (row.map_or((0, 0), |r| (i64::from(r.1), r.0)), String::new()),
                _ => ((0, row.map_or(0, |r| r.0)), String::new()),
            };
            self.notes.push(NoteAt {
                phase,
                key,
                text_key,
                batch,
                position,
                kind: note.kind.to_string(),
                txn_id: note.txn_id,
                message: note.message,
            });
        }
        Ok(())
    }

    /// Keep, of the batches' first summary rows so far, only those that can be among the
    /// first `head` rows of the whole (the first `head` in the whole's order): the other
    /// batches' are let go.
    fn keep_first_summary_rows(&mut self) {
        let mut heads = std::mem::take(&mut self.summary_heads);
        heads.sort_by_key(|(key, batch, _)| (*key, *batch));
        let mut rows = 0;
        for (key, batch, frame) in heads {
            if rows >= self.head {
                break;
            }
            let frame = frame.slice(0, (self.head - rows).min(frame.height()));
            rows += frame.height();
            self.summary_heads.push((key, batch, frame));
        }
    }

    /// The tables for the outputs and the report.
    pub fn tables(&mut self) -> Result<TraceTables, Error> {
        let [flows_empty, summary_empty, balances_empty, origins_empty] = match self.empty.take() {
            Some(e) => e,
            None => {
                return Err(Error::Internal(
                    "the trace ran in no batch: the case has no account".into(),
                ))
            }
        };
        let mut flows = std::mem::take(&mut self.elected_flows);
        flows.sort_by_key(|(remaining, account, batch, _)| (*remaining, *account, *batch));
        let mut acc = None;
        for (_, _, _, frame) in flows {
            append(&mut acc, frame)?;
        }
        let mut flows = acc.unwrap_or(flows_empty);
        flows.rechunk_mut();
        let mut heads = std::mem::take(&mut self.summary_heads);
        heads.sort_by_key(|(key, batch, _)| (*key, *batch));
        let mut acc = None;
        for (_, _, frame) in heads {
            append(&mut acc, frame)?;
        }
        let mut summary = acc.unwrap_or(summary_empty);
        summary = summary.slice(0, self.head.min(summary.height()));
        summary.rechunk_mut();
        let balances = super::stacked(std::mem::take(&mut self.balances), balances_empty)?;
        let origins = super::stacked(std::mem::take(&mut self.origins), origins_empty)?;
        let mut notes = std::mem::take(&mut self.notes);
        notes.sort();
        let mut kinds: Vec<String> = Vec::new();
        let mut txn_ids: Vec<Option<String>> = Vec::new();
        let mut messages: Vec<String> = Vec::new();
        for n in notes {
            kinds.push(n.kind);
            txn_ids.push(n.txn_id);
            messages.push(n.message);
        }
        // A tainted counterparty matched nothing when no batch's credits matched it.
        for (message, batches) in &self.matched_nothing {
            if *batches == self.batches {
                kinds.push("taint_rule_matched_nothing".into());
                txn_ids.push(None);
                messages.push(message.clone());
            }
        }
        let notes = DataFrame::new(
            kinds.len(),
            vec![
                Column::new("kind".into(), kinds),
                Column::new("txn_id".into(), txn_ids),
                Column::new("message".into(), messages),
            ],
        )
        .map_err(internal("building trace_notes"))?;
        Ok(TraceTables {
            flows,
            summary,
            summary_rows: self.summary_rows,
            balances,
            origins,
            notes,
            elected: self.elected,
            origins_count: self.origins_count,
        })
    }

    /// Write `trace_flows.csv` and `trace_summary.csv` (headers, then every stretch in a
    /// whole trace's order) and remove the parts.
    pub fn finish(mut self, flows: &mut dyn Write, summary: &mut dyn Write) -> Result<(), Error> {
        let header = write_trace_flows(std::iter::empty(), Vec::new())?;
        flows
            .write_all(&header)
            .map_err(|e| io_error(Path::new("trace_flows.csv"), e))?;
        self.flows
            .sort_by_key(|&(m, remaining, account, batch, offset, _)| {
                (m, remaining, account, batch, offset)
            });
        let stretches: Vec<(usize, u64, u64)> = self
            .flows
            .iter()
            .map(|&(_, _, _, batch, offset, len)| (batch, offset, len))
            .collect();
        let files: Vec<&Path> = self.parts.iter().map(|p| p.0.as_path()).collect();
        super::copy_stretches(&files, &stretches, flows)?;
        let columns = self.summary_columns.take().unwrap_or_default();
        let header = write_trace_summary(&columns, std::iter::empty(), Vec::new())?;
        summary
            .write_all(&header)
            .map_err(|e| io_error(Path::new("trace_summary.csv"), e))?;
        self.summary
            .sort_by_key(|&(key, batch, offset, _)| (key, batch, offset));
        let stretches: Vec<(usize, u64, u64)> = self
            .summary
            .iter()
            .map(|&(_, batch, offset, len)| (batch, offset, len))
            .collect();
        let files: Vec<&Path> = self.parts.iter().map(|p| p.1.as_path()).collect();
        super::copy_stretches(&files, &stretches, summary)?;
        for (a, b) in self.parts.drain(..) {
            crate::report::remove_work_file(&a)?;
            crate::report::remove_work_file(&b)?;
        }
        Ok(())
    }
}

impl Drop for TraceParts {
    /// A run that stops part way leaves no part behind.
    fn drop(&mut self) {
        for (a, b) in self.parts.drain(..) {
            let _ = crate::report::remove_work_file(&a);
            let _ = crate::report::remove_work_file(&b);
        }
    }
}

/// For the txn ids `named`: each row's `seq`, booking day and money-transfer reference.
fn note_rows(
    ledger: &DataFrame,
    named: &HashSet<&str>,
) -> Result<HashMap<String, (u64, i32, String)>, Error> {
    let mut out = HashMap::new();
    if named.is_empty() {
        return Ok(out);
    }
    let ids = ledger
        .column(col::TXN_ID)
        .and_then(|c| c.str().cloned())
        .map_err(internal("reading txn ids"))?;
    let seq = ledger
        .column(col::SEQ)
        .and_then(|c| c.u64().cloned())
        .map_err(internal("reading seq"))?;
    let days = ledger
        .column(col::BOOKING_DATE)
        .and_then(|c| c.date().map(|d| d.physical().clone()))
        .map_err(internal("reading booking dates"))?;
    let references = ledger
        .column(col::BANK_TXN_ID)
        .and_then(|c| c.str().cloned())
        .map_err(internal("reading references"))?;
    for (i, id) in ids.iter().enumerate() {
        if let Some(id) = id.filter(|id| named.contains(id)) {
            out.insert(
                id.to_string(),
                (
                    seq.get(i).unwrap_or(0),
                    days.get(i).unwrap_or(0),
                    references.get(i).unwrap_or_default().trim().to_string(),
                ),
            );
        }
    }
    Ok(out)
}

/// For the txn ids `named`: the position in `transfers.csv` of the transfer each is a side
/// of.
fn transfer_positions(
    transfers: &DataFrame,
    named: &HashSet<&str>,
) -> Result<HashMap<String, usize>, Error> {
    let mut out = HashMap::new();
    if named.is_empty() {
        return Ok(out);
    }
    for side in ["debit_txn_id", "credit_txn_id"] {
        let ids = transfers
            .column(side)
            .and_then(|c| c.str().cloned())
            .map_err(internal("reading transfers"))?;
        for (i, id) in ids.iter().enumerate() {
            if let Some(id) = id.filter(|id| named.contains(id)) {
                out.insert(id.to_string(), i);
            }
        }
    }
    Ok(out)
}
