//! Ingest: disclosed files in, canonical ledger out, with every record accounted for.
//!
//! For each source named in the case, in case order: hash the file (SHA-256, before
//! parsing), decode it, split it into records with its layout, read each record into a
//! transaction, assign it to a case account, and push it into the ledger. Each record
//! is accepted, rejected (with file, line, field, reason and raw text) or skipped as
//! non-data (preamble, header, blank, footer); per source, records read = accepted +
//! rejected + skipped is checked before the stage returns. A file that cannot be read
//! as its layout at all is an [`IngestError`] naming the file.

pub mod blocks;
pub mod budget;
pub mod camt;
pub mod decode;
pub mod delimited;
pub mod detect;
pub mod fields;
pub mod layout;
pub mod lines;
pub mod msb;
pub mod mt940;
pub mod ofx;
pub mod records;
pub mod registry;
pub mod spreadsheet;
pub mod statement;
pub mod structured;

use std::collections::HashMap;

use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use polars::prelude::{DataFrame, PolarsError};
use rust_decimal::Decimal;

use crate::case::{digits, Case, Source};
use crate::hash::sha256_hex;
use crate::ledger::{LedgerBuilder, LedgerRowRef, Provenance};
use layout::{Field, Layout, LayoutKind, RowOrder, FIELD_COUNT};
pub use registry::Registry;

/// The values of one record, by [`Field`].
pub type Values<'a> = [Option<&'a str>; FIELD_COUNT];

/// What a record reader found at one place in the file. Events are passed by value to a
/// callback and never stored, so the size of the `Data` variant costs nothing.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum RecordEvent<'a> {
    /// A data record: its 1-based line, raw text, position among data records, and values.
    Data {
        line: u32,
        raw: &'a str,
        index: u64,
        values: Values<'a>,
    },
    /// A non-data line (preamble, header, blank, footer) and why it is not data.
    Skip {
        line: u32,
        raw: &'a str,
        reason: String,
    },
    /// A record the reader itself cannot use (wrong field count, broken quoting).
    Reject {
        line: u32,
        raw: &'a str,
        field: String,
        reason: String,
    },
}

/// A file-level problem found by a reader: the file cannot be read as its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProblem {
    pub line: u32,
    pub message: String,
}

/// Why ingest could not complete.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("source {file}: cannot be read: {source}")]
    Unreadable {
        file: String,
        source: std::io::Error,
    },
    #[error("source {file}: {source}")]
    Undecodable {
        file: String,
        source: decode::DecodeError,
    },
    #[error("source {file} (layout {layout}), line {line}: {message}")]
    NotTheLayout {
        file: String,
        layout: String,
        line: u32,
        message: String,
    },
    #[error("source {file}: layout {layout:?} is not known; known layouts: {known}. Add a layout file with `layouts = [...]` in the case file, or see `proceeds formats list`")]
    UnknownLayout {
        file: String,
        layout: String,
        known: String,
    },
    #[error("source {file}: layout {layout:?} carries no account number, so the case must say which account it is: add `account = \"...\"` to this [[sources]] entry")]
    AccountRequired { file: String, layout: String },
    #[error("sources {first} and {second} have identical content (SHA-256 {sha256}); a file listed twice would double every transaction")]
    SameContent {
        first: String,
        second: String,
        sha256: String,
    },
    #[error(transparent)]
    Layout(#[from] layout::LayoutError),
    #[error(transparent)]
    OverMemory(#[from] budget::OverBudget),
    #[error("{0}")]
    MemoryCheck(String),
    #[error("internal error building the ledger: {0}")]
    Ledger(#[from] PolarsError),
    #[error("internal error: source {file} read {read} records but accounted for {accepted} accepted + {rejected} rejected + {skipped} skipped")]
    Unbalanced {
        file: String,
        read: u64,
        accepted: u64,
        rejected: u64,
        skipped: u64,
    },
}

impl IngestError {
    /// Whether the error is ours (a bug) rather than the input's.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            IngestError::Ledger(_) | IngestError::Unbalanced { .. }
        )
    }
}

/// A rejected record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub source_file: String,
    pub source_sha256: String,
    pub line: u32,
    pub field: String,
    pub reason: String,
    pub raw: String,
}

/// A record skipped as non-data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub source_file: String,
    pub line: u32,
    pub reason: String,
    pub raw: String,
}

/// Per-source accounting, written to `sources.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    pub index: usize,
    pub source_file: String,
    pub exhibit: Option<String>,
    pub sha256: String,
    pub size_bytes: u64,
    pub layout: String,
    pub layout_version: u32,
    pub layout_sha256: String,
    pub encoding: String,
    pub declared_account: Option<String>,
    pub records_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub skipped: u64,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
    pub money_in: Decimal,
    pub money_out: Decimal,
}

/// A statement period as the bank stated it: the opening and closing balances that
/// structured formats (MT940, camt, OFX) carry, for the balance checks of `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementPeriod {
    pub account_id: String,
    pub source_file: String,
    pub source_sha256: String,
    /// 1-based line where the statement starts.
    pub line: u32,
    /// The bank's statement id (`:20:`/`:28C:`, camt `Stmt/Id`), if any.
    pub statement_id: Option<String>,
    pub currency: String,
    /// First and last day covered, when the format states it or the entries show it.
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
    /// Opening booked balance and its date.
    pub opening: Option<(NaiveDate, Decimal)>,
    /// Closing booked balance and its date.
    pub closing: Option<(NaiveDate, Decimal)>,
}

/// Everything ingest produces.
#[derive(Debug)]
pub struct Ingested {
    pub ledger: DataFrame,
    pub rejects: Vec<Reject>,
    pub skipped: Vec<Skipped>,
    pub sources: Vec<SourceReport>,
    /// Statement periods with stated balances (empty for CSV layouts).
    pub statements: Vec<StatementPeriod>,
}

/// What reading one source gave, apart from its rows.
#[derive(Default)]
struct SourceRead {
    rejects: Vec<Reject>,
    skipped: Vec<Skipped>,
    statements: Vec<StatementPeriod>,
}

/// Ingest every source of a case into the ledger.
pub fn ingest_case(
    case: &Case,
    registry: &Registry,
    show_progress: bool,
) -> Result<Ingested, IngestError> {
    let bar = if show_progress {
        let bar = ProgressBar::new(case.sources.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{spinner} ingest {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let accounts = AccountIndex::new(case);
    // Sources are read on every core. Each thread adds the rows of the sources it reads to
    // a builder of its own (a few large columns, not thousands of small ones); the ledger
    // puts every row in canonical order, so which thread read a source does not matter.
    // Rejects and reports are joined in case order: those of reading the sources one after
    // another, and the first problem in case order is the one reported.
    //
    // Each thread reads with a copy of the layouts of its own. A copy's patterns share the
    // compiled program but keep their own search caches: a pattern shared between threads
    // hands every thread but the first its cache through a lock, at every search.
    let read = |(builder, registry): &mut (LedgerBuilder, Registry),
                i: usize|
     -> Result<(SourceRead, SourceReport), IngestError> {
        let source = &case.sources[i];
        let layout = registry
            .get(&source.layout)
            .ok_or_else(|| IngestError::UnknownLayout {
                file: source.path.written.clone(),
                layout: source.layout.clone(),
                known: registry.ids().join(", "),
            })?;
        let mut one = SourceRead::default();
        let report = read_source(
            case,
            &accounts,
            source,
            layout,
            builder,
            &mut one.rejects,
            &mut one.skipped,
            &mut one.statements,
        )?;
        bar.set_message(source.path.written.clone());
        bar.inc(1);
        Ok((one, report))
    };
    let mut rejects = Vec::new();
    let mut skipped = Vec::new();
    let mut reports: Vec<SourceReport> = Vec::new();
    let mut statements = Vec::new();
    let rows = expected_rows_per_thread(case, registry);
    let (reads, states) = crate::parallel::in_order_with(
        case.sources.len(),
        || (LedgerBuilder::with_capacity(rows), registry.clone()),
        read,
    );
    let builders: Vec<LedgerBuilder> = states.into_iter().map(|(builder, _)| builder).collect();
    // Each source's position in `reports` by its content's hash: a case of thousands of
    // statements is not checked pair by pair.
    let mut by_content: HashMap<String, usize> = HashMap::with_capacity(case.sources.len());
    for one in reads {
        let (one, report) = one?;
        if let Some(&prev) = by_content.get(&report.sha256) {
            return Err(IngestError::SameContent {
                first: reports[prev].source_file.clone(),
                second: report.source_file.clone(),
                sha256: report.sha256.clone(),
            });
        }
        by_content.insert(report.sha256.clone(), reports.len());
        reports.push(report);
        rejects.extend(one.rejects);
        skipped.extend(one.skipped);
        statements.extend(one.statements);
    }
    bar.finish_and_clear();
    let ledger = LedgerBuilder::finish_parts(builders)?;
    Ok(Ingested {
        ledger,
        rejects,
        skipped,
        sources: reports,
        statements,
    })
}

/// About how many rows each reading thread will add to its builder, from the sources'
/// sizes and the bytes a short row of their kind takes (40 for a CSV row: the shortest of
/// the synthetic layouts averages 42), so the builders' columns are made once and not grown
/// (and copied) step by step. A quarter more than an even share, as the threads take the
/// sources as they come; at most 20 million rows. A guess either way costs only time: more
/// rows than guessed grow the columns as before, fewer leave room untouched. An error
/// reading a size counts the source as empty: the read reports it.
fn expected_rows_per_thread(case: &Case, registry: &Registry) -> usize {
    const MAX_ROWS: u64 = 20_000_000;
    let bytes_per_row = |kind: LayoutKind| -> u64 {
        match kind {
            LayoutKind::Delimited | LayoutKind::Msb => 40,
            LayoutKind::Mt940 | LayoutKind::Blocks => 80,
            LayoutKind::Ofx => 150,
            LayoutKind::Camt => 400,
        }
    };
    let rows: u64 = case
        .sources
        .iter()
        .map(|s| {
            let size = std::fs::metadata(&s.path.resolved).map_or(0, |m| m.len());
            let kind = registry
                .get(&s.layout)
                .map_or(LayoutKind::Delimited, |l| l.kind);
            size / bytes_per_row(kind)
        })
        .sum();
    let threads = std::thread::available_parallelism()
        .map_or(1, |p| p.get())
        .min(case.sources.len().max(1)) as u64;
    let share = if threads <= 1 {
        rows
    } else {
        (rows / threads + rows / threads / 4).min(rows)
    };
    share.min(MAX_ROWS) as usize
}

/// Refuse the case, before any source is read, when the estimated peak memory of a run of
/// `scope` over it exceeds the memory available (see [`budget`]).
pub fn check_memory(case: &Case, scope: budget::Scope) -> Result<u64, IngestError> {
    let available = budget::available().map_err(IngestError::MemoryCheck)?;
    let sizes = budget::sizes(
        case.sources
            .iter()
            .map(|s| (s.path.written.as_str(), s.path.resolved.as_path())),
    );
    Ok(budget::decide(&sizes, scope, available)?)
}

/// Where one source's records go: the ledger, the rejects, the skipped lines, and the
/// source's own counts. Every reader (CSV, blocks, spreadsheet, MT940, camt, OFX) feeds it.
pub struct SourceSink<'a> {
    case: &'a Case,
    source: &'a Source,
    layout: &'a Layout,
    /// The layout's field reader, its formats prepared once for the source.
    reader: fields::RowReader<'a>,
    provenance: Provenance,
    /// The source's slot in the ledger builder.
    slot: u32,
    builder: &'a mut LedgerBuilder,
    rejects: &'a mut Vec<Reject>,
    skipped: &'a mut Vec<Skipped>,
    report: SourceReport,
    accounts: AccountResolver<'a>,
}

impl SourceSink<'_> {
    /// A non-data record.
    pub fn skip(&mut self, line: u32, raw: &str, reason: String) {
        self.report.records_read += 1;
        self.report.skipped += 1;
        self.skipped.push(Skipped {
            source_file: self.provenance.source_file.clone(),
            line,
            reason,
            raw: raw.to_string(),
        });
    }

    /// A record that cannot be used, and why.
    pub fn reject(&mut self, line: u32, raw: &str, field: String, reason: String) {
        self.report.records_read += 1;
        self.report.rejected += 1;
        self.rejects.push(Reject {
            source_file: self.provenance.source_file.clone(),
            source_sha256: self.provenance.source_sha256.clone(),
            line,
            field,
            reason,
            raw: raw.to_string(),
        });
    }

    /// A record read into a draft: assign it to a case account and add it to the ledger,
    /// or reject it if the account or currency does not fit.
    pub fn accept(&mut self, line: u32, sub: u32, index: u64, raw: &str, draft: fields::RowDraft) {
        match self.place(&draft, None) {
            Ok(order) => {
                self.report.records_read += 1;
                self.report.accepted += 1;
                self.push(line, sub, index, order, &draft);
            }
            Err((field, reason)) => self.reject(line, raw, field, reason),
        }
    }

    /// A record that yields several ledger rows (a money transfer's send, fee and payout):
    /// each part is `(sub, draft, account)`, where `account` names a case account position
    /// to use instead of the source's. All parts are accepted, or the record is rejected.
    pub fn accept_parts(
        &mut self,
        line: u32,
        index: u64,
        raw: &str,
        parts: Vec<(u32, fields::RowDraft, Option<usize>)>,
    ) {
        let mut placed = Vec::with_capacity(parts.len());
        for (sub, draft, account) in &parts {
            match self.place(draft, *account) {
                Ok(order) => placed.push((*sub, draft, order)),
                Err((field, reason)) => return self.reject(line, raw, field, reason),
            }
        }
        self.report.records_read += 1;
        self.report.accepted += 1;
        for (sub, draft, order) in placed {
            self.push(line, sub, index, order, draft);
        }
    }

    /// The case account a draft goes to (its position), or the field and reason to reject it.
    fn place(
        &mut self,
        draft: &fields::RowDraft,
        account: Option<usize>,
    ) -> Result<usize, (String, String)> {
        let order = match account {
            Some(i) => i,
            None => self
                .accounts
                .decide(draft.row_account.as_deref())
                .map_err(|r| ("account".to_string(), r))?,
        };
        let account = &self.case.accounts[order];
        if draft.currency != account.currency {
            return Err((
                Field::Currency.key().to_string(),
                format!(
                    "row is in {} but account {} is held in {}",
                    draft.currency, account.id, account.currency
                ),
            ));
        }
        Ok(order)
    }

    fn push(
        &mut self,
        line: u32,
        sub: u32,
        index: u64,
        account_order: usize,
        draft: &fields::RowDraft,
    ) {
        let report = &mut self.report;
        if draft.amount.is_sign_negative() {
            report.money_out += -draft.amount;
        } else {
            report.money_in += draft.amount;
        }
        report.first_date = Some(
            report
                .first_date
                .map_or(draft.booking_date, |d| d.min(draft.booking_date)),
        );
        report.last_date = Some(
            report
                .last_date
                .map_or(draft.booking_date, |d| d.max(draft.booking_date)),
        );
        let order_in_source = match self.layout.row_order {
            RowOrder::OldestFirst => index,
            RowOrder::NewestFirst => u64::MAX - index,
        };
        let amount_base = (draft.currency == self.case.base_currency).then_some(draft.amount);
        self.builder.push_row(
            self.slot,
            account_order as u32,
            &self.case.accounts[account_order].id,
            LedgerRowRef {
                source_line: line,
                sub,
                order_in_source,
                booking_date: draft.booking_date,
                value_date: draft.value_date,
                amount: draft.amount,
                currency: &draft.currency,
                amount_base,
                balance: draft.balance,
                channel: draft.channel,
                counterparty_name: draft.counterparty_name.as_deref(),
                counterparty_account: draft.counterparty_account.as_deref(),
                description: &draft.description,
                location: draft.location.as_deref(),
                bank_type: draft.bank_type.as_deref(),
                bank_txn_id: draft.bank_txn_id.as_deref(),
                booking_time: draft.booking_time.as_deref(),
                reversal: draft.reversal,
                party: &draft.party,
                counterparty_country: draft.counterparty_country.as_deref(),
                excluded_reason: draft.excluded_reason.as_deref(),
            },
        );
    }

    /// The case being ingested.
    pub fn case(&self) -> &Case {
        self.case
    }

    /// Route a reader's event.
    pub fn event(&mut self, event: RecordEvent<'_>) {
        match event {
            RecordEvent::Skip { line, raw, reason } => self.skip(line, raw, reason),
            RecordEvent::Reject {
                line,
                raw,
                field,
                reason,
            } => self.reject(line, raw, field, reason),
            RecordEvent::Data {
                line,
                raw,
                index,
                values,
            } => match self.reader.read(&values) {
                Ok(draft) => self.accept(line, 0, index, raw, draft),
                Err(p) => self.reject(line, raw, p.field.to_string(), p.reason),
            },
        }
    }

    /// Which case account an identifier belongs to, given the source's declaration.
    pub fn assign(&self, row_account: Option<&str>) -> Result<(usize, String), String> {
        self.accounts
            .assign(row_account)
            .map(|i| (i, self.case.accounts[i].id.clone()))
    }

    /// The source's path as written in the case file.
    pub fn source_file(&self) -> &str {
        &self.provenance.source_file
    }

    /// The source's SHA-256.
    pub fn source_sha256(&self) -> &str {
        &self.provenance.source_sha256
    }

    /// The source's case account key, when it declares one.
    pub fn declared_account(&self) -> Option<&str> {
        self.source.account.as_deref()
    }

    /// The layout this source is read with.
    pub fn layout(&self) -> &Layout {
        self.layout
    }
}

/// Ingest one source into `builder`, appending its rejects and skipped lines, and any
/// statement periods with stated balances to `statements`.
pub fn ingest_source(
    case: &Case,
    source: &Source,
    layout: &Layout,
    builder: &mut LedgerBuilder,
    rejects: &mut Vec<Reject>,
    skipped: &mut Vec<Skipped>,
    statements: &mut Vec<StatementPeriod>,
) -> Result<SourceReport, IngestError> {
    let accounts = AccountIndex::new(case);
    read_source(
        case, &accounts, source, layout, builder, rejects, skipped, statements,
    )
}

/// [`ingest_source`] with the case's account index built once for all its sources.
#[allow(clippy::too_many_arguments)]
fn read_source(
    case: &Case,
    accounts: &AccountIndex,
    source: &Source,
    layout: &Layout,
    builder: &mut LedgerBuilder,
    rejects: &mut Vec<Reject>,
    skipped: &mut Vec<Skipped>,
    statements: &mut Vec<StatementPeriod>,
) -> Result<SourceReport, IngestError> {
    let file = source.path.written.clone();
    // Read once (read-only) and hash those very bytes before any parsing, so the hash in
    // the ledger and the manifest is the hash of what was parsed, even if the file on disk
    // changes while the run is going on.
    let bytes = std::fs::read(&source.path.resolved).map_err(|e| IngestError::Unreadable {
        file: file.clone(),
        source: e,
    })?;
    let sha256 = sha256_hex(&bytes);
    let size_bytes = bytes.len() as u64;
    let row_has_account = layout.kind.is_structured()
        || [Field::Account, Field::AccountNumber]
            .iter()
            .any(|f| layout.column(*f).is_some());
    if source.account.is_none() && !row_has_account {
        return Err(IngestError::AccountRequired {
            file,
            layout: layout.id.clone(),
        });
    }
    let not_the_layout = |p: SourceProblem| IngestError::NotTheLayout {
        file: file.clone(),
        layout: layout.id.clone(),
        line: p.line,
        message: p.message,
    };
    let provenance = Provenance {
        source_index: source.index as u32,
        source_file: file.clone(),
        source_sha256: sha256.clone(),
        exhibit: source.exhibit.clone(),
    };
    let slot = builder.add_source(provenance.clone());
    let mut sink = SourceSink {
        case,
        source,
        layout,
        reader: fields::RowReader::new(layout),
        provenance,
        slot,
        builder,
        rejects,
        skipped,
        report: SourceReport {
            index: source.index,
            source_file: file.clone(),
            exhibit: source.exhibit.clone(),
            sha256: sha256.clone(),
            size_bytes,
            layout: layout.id.clone(),
            layout_version: layout.version,
            layout_sha256: layout.sha256.clone(),
            encoding: String::new(),
            declared_account: source.account.clone(),
            records_read: 0,
            accepted: 0,
            rejected: 0,
            skipped: 0,
            first_date: None,
            last_date: None,
            money_in: Decimal::new(0, 2),
            money_out: Decimal::new(0, 2),
        },
        accounts: AccountResolver::new(case, accounts, source),
    };
    if let Some(kind) = spreadsheet::sniff(&bytes) {
        if layout.kind != LayoutKind::Delimited {
            return Err(not_the_layout(SourceProblem {
                line: 1,
                message: format!(
                    "the file is a {kind} spreadsheet, but layout {} reads {:?} files; use a delimited layout for spreadsheets",
                    layout.id, layout.kind
                ),
            }));
        }
        sink.report.encoding = kind.to_string();
        spreadsheet::read(&bytes, layout, &mut sink).map_err(not_the_layout)?;
    } else {
        let decoded =
            decode::decode(&bytes, layout.encoding).map_err(|e| IngestError::Undecodable {
                file: file.clone(),
                source: e,
            })?;
        sink.report.encoding = decoded.encoding.clone();
        let read = match layout.kind {
            LayoutKind::Delimited => delimited::read(&decoded.text, layout, |e| sink.event(e)),
            LayoutKind::Msb => msb::read(&decoded.text, layout, &mut sink),
            LayoutKind::Blocks => blocks::read(&decoded.text, layout, |e| sink.event(e)),
            LayoutKind::Mt940 => {
                structured::read(&decoded.text, mt940::parse, &mut sink, statements)
            }
            LayoutKind::Camt => structured::read(&decoded.text, camt::parse, &mut sink, statements),
            LayoutKind::Ofx => structured::read(&decoded.text, ofx::parse, &mut sink, statements),
        };
        read.map_err(not_the_layout)?;
    }
    let report = sink.report;
    if report.records_read != report.accepted + report.rejected + report.skipped {
        return Err(IngestError::Unbalanced {
            file,
            read: report.records_read,
            accepted: report.accepted,
            rejected: report.rejected,
            skipped: report.skipped,
        });
    }
    Ok(report)
}

/// Decide which case account a row belongs to, from the source's declared account and
/// the identifier the row itself carries. Returns the account's position and key.
///
/// This builds the case's [`AccountIndex`] for one decision; ingest builds it once per
/// case and decides each identifier once per source ([`AccountResolver`]).
pub fn assign_account(
    case: &Case,
    source: &Source,
    row_account: Option<&str>,
) -> Result<(usize, String), String> {
    AccountResolver::new(case, &AccountIndex::new(case), source)
        .assign(row_account)
        .map(|i| (i, case.accounts[i].id.clone()))
}

/// The case's accounts by key and by the identifiers a row may write, built once per case
/// so that placing a row never compares it with every account.
#[derive(Debug, Default)]
pub struct AccountIndex {
    /// Position by account key.
    by_id: HashMap<String, usize>,
    /// Positions by IBAN.
    by_iban: HashMap<String, Vec<usize>>,
    /// Positions by account number, sort code and account number, and IBAN national digits.
    by_digits: HashMap<String, Vec<usize>>,
    /// Positions by the last four characters of the account number and of sort code and
    /// account number, for masked identifiers (`****5678`).
    by_last_four: HashMap<String, Vec<usize>>,
}

impl AccountIndex {
    /// Index the case's accounts.
    pub fn new(case: &Case) -> Self {
        let mut index = AccountIndex::default();
        let add = |map: &mut HashMap<String, Vec<usize>>, key: &str, i: usize| {
            let at = map.entry(key.to_string()).or_default();
            if at.last() != Some(&i) {
                at.push(i);
            }
        };
        for (i, a) in case.accounts.iter().enumerate() {
            index.by_id.entry(a.id.clone()).or_insert(i);
            if let Some(iban) = &a.iban {
                add(&mut index.by_iban, iban, i);
                let bban: String = iban.chars().skip(4).filter(char::is_ascii_digit).collect();
                if !bban.is_empty() {
                    add(&mut index.by_digits, &bban, i);
                }
            }
            let full = match (&a.sort_code, &a.account_number) {
                (Some(sc), Some(n)) => Some(format!("{sc}{n}")),
                _ => None,
            };
            for number in [a.account_number.as_deref(), full.as_deref()]
                .into_iter()
                .flatten()
            {
                add(&mut index.by_digits, number, i);
                if let Some(last) = number.len().checked_sub(4).and_then(|at| number.get(at..)) {
                    add(&mut index.by_last_four, last, i);
                }
            }
        }
        index
    }

    /// Positions, ascending, of the accounts an identifier names ([`identifier_matches`]).
    fn matching(&self, case: &Case, raw: &str) -> Vec<usize> {
        // Every account `identifier_matches` can accept is under one of these keys; each
        // candidate is then checked with it, so the answer is that of a scan of every account.
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        let mut candidates: Vec<usize> = Vec::new();
        let mut take = |map: &HashMap<String, Vec<usize>>, key: &str| {
            if let Some(found) = map.get(key) {
                candidates.extend(found);
            }
        };
        take(&self.by_iban, &compact);
        let all_digits = digits(raw);
        if !all_digits.is_empty() {
            take(&self.by_digits, &all_digits);
        }
        let tail = masked_tail(raw);
        if let Some(last) = tail.len().checked_sub(4).and_then(|at| tail.get(at..)) {
            take(&self.by_last_four, last);
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&i| identifier_matches(&case.accounts[i], raw));
        candidates
    }
}

/// How one source's rows are placed in case accounts: its declared account resolved once,
/// and each identifier its rows carry decided once.
#[derive(Debug)]
pub struct AccountResolver<'a> {
    case: &'a Case,
    index: &'a AccountIndex,
    /// The declared account's position, if the source declares one.
    declared: Option<usize>,
    /// Decisions for the identifiers seen so far in this source.
    decided: HashMap<String, Result<usize, String>>,
    /// The decision for rows that carry no identifier.
    no_identifier: Option<Result<usize, String>>,
    /// The last identifier decided, and its decision: a statement's rows mostly repeat it,
    /// and one comparison is cheaper than hashing it again.
    last: Option<(String, Result<usize, String>)>,
}

impl<'a> AccountResolver<'a> {
    /// A resolver for `source`'s rows.
    pub fn new(case: &'a Case, index: &'a AccountIndex, source: &Source) -> Self {
        let declared = source
            .account
            .as_ref()
            .and_then(|id| index.by_id.get(id).copied());
        AccountResolver {
            case,
            index,
            declared,
            decided: HashMap::new(),
            no_identifier: None,
            last: None,
        }
    }

    /// [`AccountResolver::assign`], remembering the decision for the rest of the source.
    pub fn decide(&mut self, row_account: Option<&str>) -> Result<usize, String> {
        if let (Some(raw), Some((last, d))) = (row_account, &self.last) {
            if raw == last {
                return d.clone();
            }
        }
        let d = self.decide_anew(row_account);
        if let Some(raw) = row_account {
            match &mut self.last {
                Some((last, kept)) => {
                    last.clear();
                    last.push_str(raw);
                    *kept = d.clone();
                }
                None => self.last = Some((raw.to_string(), d.clone())),
            }
        }
        d
    }

    /// [`AccountResolver::decide`] without the last decision to hand.
    fn decide_anew(&mut self, row_account: Option<&str>) -> Result<usize, String> {
        let known = match row_account {
            None => self.no_identifier.as_ref(),
            Some(raw) => self.decided.get(raw),
        };
        if let Some(d) = known {
            return d.clone();
        }
        let d = self.assign(row_account);
        match row_account {
            None => self.no_identifier = Some(d.clone()),
            Some(raw) => {
                self.decided.insert(raw.to_string(), d.clone());
            }
        }
        d
    }

    /// Which case account (its position) a row carrying `row_account` belongs to.
    pub fn assign(&self, row_account: Option<&str>) -> Result<usize, String> {
        let case = self.case;
        let declared = self.declared;
        // An account declared with no identifiers at all (a one-file look at a statement)
        // cannot be contradicted by what a row says.
        if let Some(i) = declared {
            let a = &case.accounts[i];
            if a.sort_code.is_none() && a.account_number.is_none() && a.iban.is_none() {
                return Ok(i);
            }
        }
        let Some(raw) = row_account
            .filter(|r| !digits(r).is_empty() || r.chars().any(|c| c.is_ascii_alphabetic()))
        else {
            return declared.ok_or_else(|| {
                "row carries no account number and the source declares no account".to_string()
            });
        };
        // The declared account matching is the common case and decides it: no other account
        // need be looked at.
        if let Some(d) = declared {
            if identifier_matches(&case.accounts[d], raw) {
                return Ok(d);
            }
        }
        let matches = self.index.matching(case, raw);
        match (declared, matches.as_slice()) {
            (Some(d), m) if m.contains(&d) => Ok(d),
            (Some(d), _) => Err(format!(
                "row is for account {raw:?}, but the source is declared as account {} ({}); check the [[sources]] entry or the file",
                case.accounts[d].id,
                describe_identifiers(&case.accounts[d])
            )),
            (None, [one]) => Ok(*one),
            (None, []) => Err(format!(
                "row is for account {raw:?}, which is not one of the case's accounts; add it under [[accounts]] or remove the row's file from the case"
            )),
            (None, many) => Err(format!(
                "row's account {raw:?} matches several case accounts ({}); declare the source's account",
                many.iter().map(|i| case.accounts[*i].id.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

fn describe_identifiers(a: &crate::case::Account) -> String {
    let mut parts = Vec::new();
    if let (Some(sc), Some(n)) = (&a.sort_code, &a.account_number) {
        parts.push(format!("{}-{}-{} {}", &sc[0..2], &sc[2..4], &sc[4..6], n));
    } else if let Some(n) = &a.account_number {
        parts.push(n.clone());
    }
    if let Some(i) = &a.iban {
        parts.push(i.clone());
    }
    parts.join(", ")
}

/// Whether an identifier written in a row names this account. Masked identifiers
/// (`****5678`, `XXXX5678`) match on their visible trailing digits (at least four).
pub fn identifier_matches(account: &crate::case::Account, raw: &str) -> bool {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    if let Some(iban) = &account.iban {
        if compact == *iban {
            return true;
        }
        // A national account number written without the IBAN's country and check digits
        // (e.g. MT940 `:25:37040044/0532013000` for DE89 3704 0044 0532 0130 00).
        let bban_digits: String = iban.chars().skip(4).filter(char::is_ascii_digit).collect();
        if !bban_digits.is_empty() && digits(raw) == bban_digits && !raw.contains('*') {
            return true;
        }
    }
    let masked = raw.contains('*') || raw.to_uppercase().contains("XXX");
    let d = if masked {
        masked_tail(raw)
    } else {
        digits(raw)
    };
    if d.is_empty() {
        return false;
    }
    let full = match (&account.sort_code, &account.account_number) {
        (Some(sc), Some(n)) => Some(format!("{sc}{n}")),
        _ => None,
    };
    if masked {
        return d.len() >= 4
            && (account
                .account_number
                .as_ref()
                .is_some_and(|n| n.ends_with(&d))
                || full.as_ref().is_some_and(|f| f.ends_with(&d)));
    }
    account.account_number.as_deref() == Some(d.as_str()) || full.as_deref() == Some(d.as_str())
}

/// The visible trailing digits of a masked identifier (`****5678` → `5678`).
fn masked_tail(raw: &str) -> String {
    raw.chars()
        .rev()
        .take_while(|c| c.is_ascii_digit() || c.is_whitespace())
        .filter(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Account, AccountKind};

    fn account(
        id: &str,
        sort_code: Option<&str>,
        number: Option<&str>,
        iban: Option<&str>,
    ) -> Account {
        Account {
            id: id.to_string(),
            holder: "H".to_string(),
            bank: "B".to_string(),
            sort_code: sort_code.map(str::to_string),
            account_number: number.map(str::to_string),
            iban: iban.map(str::to_string),
            currency: "GBP".to_string(),
            kind: AccountKind::Personal,
            business_type: None,
            controlled_by: Vec::new(),
        }
    }

    /// The index finds exactly the accounts a scan of every account with
    /// `identifier_matches` finds, in the same order.
    #[test]
    fn the_account_index_finds_what_a_scan_finds() {
        let mut case = Case::ad_hoc(std::path::Path::new("Cargo.toml"), "t", "GBP").unwrap();
        case.accounts = vec![
            account("A", Some("112233"), Some("12345678"), None),
            account("B", Some("445566"), Some("12345678"), None),
            account("C", None, Some("99995678"), None),
            account("D", None, None, Some("GB29NWBK60161331926819")),
            account("E", None, None, Some("DE89370400440532013000")),
            account("F", Some("112233"), Some("5678"), None),
            account("G", None, None, None),
            account("H", Some("000000"), Some("123"), None),
        ];
        let index = AccountIndex::new(&case);
        let identifiers = [
            "12345678",
            "11-22-33 12345678",
            "112233 12345678",
            "****5678",
            "XXXX5678",
            "xxxx 5678",
            "***678",
            "5678",
            "GB29 NWBK 6016 1331 9268 19",
            "gb29nwbk60161331926819",
            "60161331926819",
            "37040044/0532013000",
            "XXX0532013000",
            "*0532013000",
            "000000123",
            "123",
            "abc",
            "",
        ];
        for raw in identifiers {
            let scan: Vec<usize> = (0..case.accounts.len())
                .filter(|&i| identifier_matches(&case.accounts[i], raw))
                .collect();
            assert_eq!(index.matching(&case, raw), scan, "{raw:?}");
        }
        // The declared account decides when it matches, and contradicts when it does not.
        let mut source = case.sources[0].clone();
        source.account = Some("B".to_string());
        let resolver = AccountResolver::new(&case, &index, &source);
        assert_eq!(resolver.assign(Some("12345678")), Ok(1));
        assert!(resolver.assign(Some("99995678")).is_err());
        source.account = None;
        let resolver = AccountResolver::new(&case, &index, &source);
        assert_eq!(resolver.assign(Some("99995678")), Ok(2));
        let several = resolver.assign(Some("12345678")).unwrap_err();
        assert!(several.contains("(A, B)"), "{several}");
    }
}
