//! Running a case batch by batch: step 2 of docs/streaming.md.
//!
//! The groups of [`crate::groups`] are packed into **batches** of about [`BATCH_ROWS`]
//! rows ([`plan`]). Each batch is ingested on its own ([`ingest_batch`]): the sources that
//! hold its accounts are read, its accounts' rows kept, and each row given the `seq` a
//! whole ingest gives it (the rows of the accounts before it in the case file, from the
//! link pass's counts, plus its place in its account). Verify ([`verify_batch`]) and
//! detection then run over the batch's rows alone; what crosses accounts never crosses a
//! group, so each batch gives its accounts what a run of the whole case gives them. The
//! batches' results are put together in the whole run's order ([`Merged`]): integrity
//! checks by account and renumbered, duplicates by account, findings by rule, group,
//! window start and first evidence row, with their evidence in that order, and the ledger
//! by `seq` ([`LedgerParts`]: each batch writes its rows as CSV, account stretch by
//! account stretch, and `ledger.csv` is those stretches copied in case order).
//!
//! Transfers are the link pass's own (`crate::verify::transfers_only` over the rows
//! transfer matching can need, shown equal to a whole run's); each batch's matching must
//! find exactly the link pass's transfers between its accounts, or the run stops.
//!
//! The trace runs batch by batch too ([`trace`]); the schedules run once, over the rows they
//! read, kept from every batch. With the memory available known, batches are cut to the
//! rows that fit it ([`rows_that_fit`]), and a case whose largest group alone does not fit
//! is refused before any batch is read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

pub mod trace;

use crate::case::Case;
use crate::error::Error;
use crate::groups::Groups;
use crate::ingest::budget::{self, Scope};
use crate::ingest::{ingest_case, Ingested, Registry, Reject, Skipped, SourceReport};
use crate::ledger::col;
use crate::rules::Findings;
use crate::verify::summary::Facts;
use crate::verify::{verify_accounts, Verified};

/// Rows a batch holds at most, unless one group alone holds more: enough that each
/// stage's fixed cost per call is small beside its work (the 10M-row synthetic case has
/// 10,644 groups), few enough that a batch's stages stay well inside memory.
pub const BATCH_ROWS: u64 = 1_000_000;

/// The case's groups packed into batches of at most `max_rows` rows (a group larger than
/// that is a batch of its own), in group order; each batch's accounts in case order.
pub fn plan(groups: &Groups, max_rows: u64) -> Vec<Vec<u32>> {
    let mut batches = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut rows = 0u64;
    for (g, members) in groups.members.iter().enumerate() {
        let size = groups.rows(g);
        if !current.is_empty() && rows.saturating_add(size) > max_rows {
            current.sort_unstable();
            batches.push(std::mem::take(&mut current));
            rows = 0;
        }
        current.extend_from_slice(members);
        rows += size;
    }
    if !current.is_empty() {
        current.sort_unstable();
        batches.push(current);
    }
    batches
}

/// The estimated peak memory of a batch of `batch_rows` rows: the run's fixed part
/// ([`Scope::base_bytes`]: the program, its rules, the report's typesetting when `scope`
/// includes it), what the run holds from the link pass across every batch (`held`: its
/// transfers), and [`budget::PEAK_BYTES_PER_INPUT_BYTE`] for each byte of the batch's share
/// of the sources (the case's `input_bytes` per row of its `rows`, times `batch_rows`): the
/// whole-case estimate of [`budget::estimate_peak`], for a batch. What a run keeps from each
/// batch (findings, the schedules' rows, the charts' figures) is small beside a batch and
/// within the fixed part's room.
pub fn batch_peak(batch_rows: u64, input_bytes: u64, rows: u64, held: u64, scope: Scope) -> u64 {
    let share = if rows == 0 {
        0
    } else {
        (u128::from(batch_rows) * u128::from(input_bytes) / u128::from(rows)).min(u64::MAX.into())
            as u64
    };
    budget::estimate_peak(share, scope).saturating_add(held)
}

/// The most rows a batch can hold for its estimated peak ([`batch_peak`]) to stay within
/// `available` bytes; `u64::MAX` for a case with no source bytes.
pub fn rows_that_fit(available: u64, input_bytes: u64, rows: u64, held: u64, scope: Scope) -> u64 {
    let room = available.saturating_sub(budget::estimate_peak(0, scope).saturating_add(held));
    let per_row = u128::from(scope.bytes_per_input_byte()) * u128::from(input_bytes);
    if per_row == 0 {
        return u64::MAX;
    }
    (u128::from(room) * u128::from(rows) / per_row).min(u64::MAX.into()) as u64
}

/// The batch size a run uses: `requested`, cut to the rows that fit the memory available
/// ([`rows_that_fit`]). Refused, with a message saying what to do, when the largest group
/// of linked accounts does not fit on its own (a group is never split).
pub fn fit_batch_rows(
    case: &Case,
    groups: &Groups,
    requested: u64,
    memory: &BatchMemory,
) -> Result<u64, crate::groups::GroupsError> {
    let rows: u64 = groups.rows_of_account.iter().sum();
    let fit = rows_that_fit(
        memory.available.bytes,
        memory.input_bytes,
        rows,
        memory.held,
        memory.scope,
    );
    if let Some(g) = groups.largest() {
        let largest = groups.rows(g);
        if largest > fit {
            let members = &groups.members[g];
            let named: Vec<&str> = members
                .iter()
                .take(5)
                .map(|&a| case.accounts[a as usize].id.as_str())
                .collect();
            let more = match members.len() {
                n if n > 5 => format!(" and {} more", n - 5),
                _ => String::new(),
            };
            let (needed, available) = budget::human_pair(
                batch_peak(largest, memory.input_bytes, rows, memory.held, memory.scope),
                memory.available.bytes,
            );
            return Err(crate::groups::GroupsError::OverMemory(format!(
                "not enough memory for this case even in batches of linked accounts: its largest group ({} accounts: {}{more}) holds {largest} of its {rows} rows, and accounts linked by transfers, controllers, addresses or money-transfer references are never split; a batch of that group needs an estimated {needed} ({} + {} × its share of the {} of sources{} + {} the run holds for every batch), and {available} is available ({}). Run it on a machine with more memory, or pass --no-memory-check to run it anyway (the operating system may then kill it part-way through)",
                members.len(),
                named.join(", "),
                budget::human(memory.scope.base_bytes()),
                memory.scope.bytes_per_input_byte(),
                budget::human(memory.input_bytes),
                memory.scope.included(),
                budget::human(memory.held),
                memory.available.from.describe(),
            )));
        }
    }
    Ok(requested.min(fit))
}

/// What the batch size is fitted to ([`fit_batch_rows`]).
#[derive(Debug, Clone, Copy)]
pub struct BatchMemory {
    pub available: budget::Available,
    /// Bytes of the case's sources.
    pub input_bytes: u64,
    /// What the run holds for every batch.
    pub held: u64,
    pub scope: Scope,
}

/// Where each account's rows start in a whole ingest's order (canonical order is by
/// account first): the rows of the accounts before it in the case file.
pub fn seq_offsets(rows_of_account: &[u64]) -> Vec<u64> {
    let mut offsets = Vec::with_capacity(rows_of_account.len());
    let mut at = 0u64;
    for &rows in rows_of_account {
        offsets.push(at);
        at += rows;
    }
    offsets
}

/// Whether each case account (case order) is one of `accounts`.
fn membership(case: &Case, accounts: &[u32]) -> Vec<bool> {
    let mut member = vec![false; case.accounts.len()];
    for &a in accounts {
        if let Some(m) = member.get_mut(a as usize) {
            *m = true;
        }
    }
    member
}

/// The rows of `accounts` (case positions) as a whole ingest gives them: the sources that
/// declare one of them, and every source that declares no account, are read; the rows of
/// other accounts are left out; each row gets the `seq` of a whole ingest (`offsets`, from
/// [`seq_offsets`]). The counts read must be the link pass's (`rows_of_account`). The
/// sources' reports, rejects and skipped lines are those of the sources read, each source's
/// whole (a source that declares no account is read by every batch).
pub fn ingest_batch(
    case: &Case,
    registry: &Registry,
    accounts: &[u32],
    offsets: &[u64],
    rows_of_account: &[u64],
) -> Result<Ingested, Error> {
    let member = membership(case, accounts);
    let index: HashMap<&str, u32> = case.account_positions();
    let mut sub = case.clone();
    sub.sources.retain(|s| match s.account.as_deref() {
        Some(id) => index.get(id).is_some_and(|&a| member[a as usize]),
        None => true,
    });
    let mut ingested = ingest_case(&sub, registry, false)?;
    let ids = ingested
        .ledger
        .column(col::ACCOUNT_ID)
        .and_then(|c| c.str().cloned())
        .map_err(internal("reading the batch's accounts"))?;
    let of_row: Vec<Option<u32>> = ids
        .iter()
        .map(|id| id.and_then(|id| index.get(id).copied()))
        .collect();
    if of_row.iter().any(|a| a.is_none_or(|a| !member[a as usize])) {
        let keep: BooleanChunked = of_row
            .iter()
            .map(|a| Some(a.is_some_and(|a| member[a as usize])))
            .collect();
        ingested.ledger = ingested
            .ledger
            .filter(&keep)
            .map_err(internal("keeping the batch's accounts"))?;
    }
    let mut placed = vec![0u64; case.accounts.len()];
    let mut seq = Vec::with_capacity(ingested.ledger.height());
    for a in of_row.into_iter().flatten() {
        if member[a as usize] {
            let a = a as usize;
            placed[a] += 1;
            seq.push(offsets[a] + placed[a]);
        }
    }
    for &a in accounts {
        let a = a as usize;
        if placed[a] != rows_of_account[a] {
            return Err(Error::Internal(format!(
                "batch ingest read {} rows of account {} where the link pass counted {}",
                placed[a], case.accounts[a].id, rows_of_account[a]
            )));
        }
    }
    ingested
        .ledger
        .with_column(Column::new(col::SEQ.into(), seq))
        .map_err(internal("numbering the batch's rows"))?;
    ingested.statements.retain(|s| {
        index
            .get(s.account_id.as_str())
            .is_some_and(|&a| member[a as usize])
    });
    Ok(ingested)
}

/// What a run batch by batch produced, put together in a whole run's order.
#[derive(Debug)]
pub struct BatchRun {
    /// Every source's report, rejects and skipped lines, in case order.
    pub sources: Vec<SourceReport>,
    pub rejects: Vec<Reject>,
    pub skipped: Vec<Skipped>,
    /// The verified ledger's rows, in parts, for `ledger.csv`.
    pub ledger: LedgerParts,
    /// Rows of the verified ledger.
    pub ledger_rows: usize,
    /// Rows read by ingest, before verify drops duplicates.
    pub rows_read: u64,
    pub integrity: DataFrame,
    pub duplicates: DataFrame,
    /// The link pass's transfers: the whole case's.
    pub transfers: DataFrame,
    /// The integrity summary's paragraphs, from every batch's facts.
    pub summary: Vec<String>,
    /// The counterparty rules verify used.
    pub counterparty_rules: crate::verify::RulesUsed,
    /// Detection's findings, when it ran.
    pub found: Option<Findings>,
    /// The trace's files in parts and its tables, when it ran.
    pub trace: Option<(trace::TraceParts, trace::TraceTables)>,
    /// The ledger rows the schedules read, in ledger order, when asked for.
    pub schedule_rows: Option<DataFrame>,
    /// What the court report's charts show of the ledger, when asked for.
    pub charts: Option<crate::report::court::build::ChartAccounts>,
    /// Batches run, and the most rows one held.
    pub batches: usize,
    pub largest_batch_rows: u64,
    /// The most rows a batch could hold, when the memory available cut it below the
    /// plan's `max_rows` ([`fit_batch_rows`]).
    pub batch_rows_cut_to: Option<u64>,
}

/// How to run a case batch by batch.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// Folder for the ledger's parts (it must exist; they are removed once written out).
    pub work: PathBuf,
    /// Rows a batch holds at most, unless one group alone holds more ([`BATCH_ROWS`]).
    pub max_rows: u64,
    /// Run detection too.
    pub detect: bool,
    /// Memory available, for the link pass's check and the batches' size (`None`: no
    /// check).
    pub available: Option<crate::ingest::budget::Available>,
    /// What the run's memory estimate covers: the court report too, or not.
    pub scope: Scope,
    /// Trace too, with this tracing table; keep this many first rows of the summary for
    /// the report.
    pub trace: Option<(crate::trace::TaintSpec, usize)>,
    /// Keep the ledger rows the schedules read ([`crate::confiscation::rows_schedules_read`]).
    pub schedule: Option<crate::confiscation::ReferenceData>,
    /// Keep what the court report's charts show of the ledger.
    pub charts: bool,
}

/// Ingest, verify and (with `detect`) detection of a case, batch by batch: the link pass
/// and the groups ([`crate::groups`]), batches of at most `max_rows` rows ([`plan`]),
/// each ingested, verified and searched on its own, the results put together
/// ([`Merged`], [`LedgerParts`] in `work`).
pub fn run(case: &Case, registry: &Registry, how: &RunPlan) -> Result<BatchRun, Error> {
    let (work, max_rows, detect) = (how.work.as_path(), how.max_rows, how.detect);
    let pass = crate::groups::link_pass(case, registry, crate::groups::BATCH_BYTES, how.available)?;
    let (transfers, transfer_facts) =
        crate::verify::transfers_and_facts(case, pass.ledger.clone(), &case.verify)?;
    let groups = crate::groups::link(case, &pass.ledger, pass.rows_of_account, &transfers)?;
    drop(pass.ledger);
    let source_bytes = pass
        .sources
        .iter()
        .fold(0u64, |sum, s| sum.saturating_add(s.size_bytes));
    crate::give_back_free_memory();
    let offsets = seq_offsets(&groups.rows_of_account);
    let fitted = match how.available {
        Some(available) => {
            let memory = BatchMemory {
                available,
                // The bytes the link pass read, source by source.
                input_bytes: source_bytes,
                held: transfers.estimated_size() as u64,
                scope: how.scope,
            };
            fit_batch_rows(case, &groups, max_rows, &memory)?
        }
        None => max_rows,
    };
    let batches = plan(&groups, fitted);
    let rules = if detect {
        Some((
            crate::rules::rules_for_case(case)?,
            crate::rules::Reference::for_case(case)?,
        ))
    } else {
        None
    };
    let mut merged = Merged::default();
    let mut ledger = LedgerParts::new(work);
    let mut ledger_rows = 0;
    let mut largest_batch_rows = 0;
    let mut counterparty_rules = None;
    let mut traced = how
        .trace
        .as_ref()
        .map(|(_, head)| trace::TraceParts::new(work, *head));
    let mut named_found: HashSet<String> = HashSet::new();
    let mut schedule_rows: Vec<(u32, usize, DataFrame)> = Vec::new();
    let mut schedule_empty: Option<DataFrame> = None;
    let mut charts = Vec::new();
    let account_index: HashMap<&str, u32> = case.account_positions();
    let mut sources: BTreeMap<usize, (SourceReport, Vec<Reject>, Vec<Skipped>)> = BTreeMap::new();
    for (b, accounts) in batches.iter().enumerate() {
        let ingested = ingest_batch(case, registry, accounts, &offsets, &groups.rows_of_account)?;
        largest_batch_rows = largest_batch_rows.max(ingested.ledger.height() as u64);
        // Each source's report, rejects and skipped lines once, from the first batch that
        // read it (a source that declares no account is read by every batch).
        for report in &ingested.sources {
            sources.entry(report.index).or_insert_with(|| {
                let file = &report.source_file;
                (
                    report.clone(),
                    ingested
                        .rejects
                        .iter()
                        .filter(|r| &r.source_file == file)
                        .cloned()
                        .collect(),
                    ingested
                        .skipped
                        .iter()
                        .filter(|s| &s.source_file == file)
                        .cloned()
                        .collect(),
                )
            });
        }
        let verified = verify_batch(case, ingested, accounts, &transfers)?;
        counterparty_rules.get_or_insert_with(|| verified.counterparty_rules.clone());
        let found = match &rules {
            Some((rules, reference)) => Some(crate::rules::run_rules(
                &verified.ledger,
                case,
                rules,
                reference,
            )?),
            None => None,
        };
        if let (Some((spec, _)), Some(parts)) = (&how.trace, traced.as_mut()) {
            let batch_spec = trace::spec_for_batch(spec, &verified.ledger, &mut named_found)?;
            let one = crate::trace::trace(&crate::trace::TraceInput {
                ledger: &verified.ledger,
                transfers: Some(&verified.transfers),
                finding_evidence: found.as_ref().map(|f| &f.evidence),
                spec: &batch_spec,
            })?;
            parts.add(case, &one, &verified.ledger, &transfers, &spec.destinations)?;
        }
        if let Some(reference) = &how.schedule {
            schedule_empty.get_or_insert_with(|| verified.ledger.clear());
            let rows = crate::confiscation::rows_schedules_read(
                case,
                &verified.ledger,
                &transfers,
                found.as_ref().map(|f| &f.evidence),
                reference,
            )?;
            for (account, part) in by_account(&rows, &account_index)? {
                schedule_rows.push((account, b, part));
            }
        }
        if how.charts {
            charts.push(crate::report::court::build::ChartAccounts::of(
                &verified.ledger,
            )?);
        }
        ledger.add(case, accounts, &verified.ledger)?;
        ledger_rows += verified.ledger.height();
        merged.add(case, b, &verified, found)?;
        drop(verified);
        crate::give_back_free_memory();
    }
    let mut facts = merged.facts();
    facts.set_transfers(transfer_facts);
    let trace = match (traced, &how.trace) {
        (Some(mut parts), Some((spec, _))) => {
            trace::check_named_txn_ids(spec, &named_found)?;
            let tables = parts.tables()?;
            Some((parts, tables))
        }
        _ => None,
    };
    let counterparty_rules = match counterparty_rules {
        Some(rules) => rules,
        // A case with no account has no batch: the rules verify would have used.
        None => crate::verify::counterparty_rules_used(&case.verify)?,
    };
    let mut run = BatchRun {
        summary: facts.paragraphs(case),
        counterparty_rules,
        sources: Vec::with_capacity(sources.len()),
        rejects: Vec::new(),
        skipped: Vec::new(),
        ledger,
        ledger_rows,
        rows_read: groups.rows_of_account.iter().sum(),
        integrity: merged.integrity()?,
        duplicates: merged.duplicates()?,
        transfers,
        found: merged.findings(case)?,
        trace,
        charts: how
            .charts
            .then(|| crate::report::court::build::ChartAccounts::merge(charts)),
        schedule_rows: match schedule_empty {
            Some(empty) if how.schedule.is_some() => Some(stacked(schedule_rows, empty)?),
            _ => None,
        },
        batches: batches.len(),
        largest_batch_rows,
        batch_rows_cut_to: (fitted < max_rows).then_some(fitted),
    };
    for (report, rejects, skipped) in sources.into_values() {
        run.sources.push(report);
        run.rejects.extend(rejects);
        run.skipped.extend(skipped);
    }
    Ok(run)
}

/// Verify over one batch's ingest ([`crate::verify::verify_accounts`]: the integrity checks
/// and summary facts of the batch's own accounts). The transfers it matches must be exactly
/// the link pass's transfers (`transfers`, the whole case's) whose debit is in the batch.
pub fn verify_batch(
    case: &Case,
    ingested: Ingested,
    accounts: &[u32],
    transfers: &DataFrame,
) -> Result<Verified, Error> {
    let Ingested {
        ledger, statements, ..
    } = ingested;
    let verified = verify_accounts(case, ledger, &statements, &case.verify, accounts)?;
    let ids: HashSet<&str> = accounts
        .iter()
        .map(|&a| case.accounts[a as usize].id.as_str())
        .collect();
    let expected = rows_naming(transfers, "debit_account", &ids)?;
    let ids_of = |frame: &DataFrame| -> Result<Vec<String>, Error> {
        let mut ids: Vec<String> = frame
            .column("transfer_id")
            .and_then(|c| c.str().cloned())
            .map_err(internal("reading transfer ids"))?
            .iter()
            .flatten()
            .map(str::to_string)
            .collect();
        ids.sort_unstable();
        Ok(ids)
    };
    if ids_of(&verified.transfers)? != ids_of(&expected)? {
        return Err(Error::Internal(format!(
            "a batch of {} accounts matched {} internal transfers where the link pass matched {} with debits in its accounts",
            accounts.len(),
            verified.transfers.height(),
            expected.height()
        )));
    }
    Ok(verified)
}

/// The rows of `frame` whose text column `column` is one of `ids`.
fn rows_naming(frame: &DataFrame, column: &str, ids: &HashSet<&str>) -> Result<DataFrame, Error> {
    let keep: BooleanChunked = frame
        .column(column)
        .and_then(|c| c.str().cloned())
        .map_err(internal("reading account ids"))?
        .iter()
        .map(|a| Some(a.is_some_and(|a| ids.contains(a))))
        .collect();
    frame
        .filter(&keep)
        .map_err(internal("keeping a batch's rows"))
}

/// The batches' results put together in the order a run of the whole case gives them.
#[derive(Debug, Default)]
pub struct Merged {
    integrity: Vec<(u32, usize, DataFrame)>,
    duplicates: Vec<(u32, usize, DataFrame)>,
    /// The two frames' columns, for a case with no rows in them.
    empty: Option<[DataFrame; 2]>,
    facts: Facts,
    findings: Vec<(usize, Findings)>,
}

impl Merged {
    /// Add one batch's verify (`verified`, over the batch of `accounts`) and detection.
    pub fn add(
        &mut self,
        case: &Case,
        batch: usize,
        verified: &Verified,
        found: Option<Findings>,
    ) -> Result<(), Error> {
        let index: HashMap<&str, u32> = case.account_positions();
        if self.empty.is_none() {
            self.empty = Some([verified.integrity.clear(), verified.duplicates.clear()]);
        }
        for (frame, out) in [
            (&verified.integrity, &mut self.integrity),
            (&verified.duplicates, &mut self.duplicates),
        ] {
            for (account, part) in by_account(frame, &index)? {
                out.push((account, batch, part));
            }
        }
        if let Some(found) = found {
            self.findings.push((batch, found));
        }
        self.facts.add(verified.facts.clone());
        Ok(())
    }

    /// What the integrity summary states, of every batch.
    pub fn facts(&mut self) -> Facts {
        std::mem::take(&mut self.facts)
    }

    /// `integrity.csv`: every batch's checks, by account in case order (each account's
    /// checks are in one batch, in the order `verify` gives them), numbered again.
    pub fn integrity(&mut self) -> Result<DataFrame, Error> {
        let mut frame = stacked(std::mem::take(&mut self.integrity), self.empty_frame(0))?;
        let n = frame.height() as u32;
        frame
            .with_column(Column::new(
                "check_no".into(),
                (1..=n).collect::<Vec<u32>>(),
            ))
            .map_err(internal("numbering the checks"))?;
        Ok(frame)
    }

    /// `duplicates.csv`: every batch's dropped rows, by account in case order.
    pub fn duplicates(&mut self) -> Result<DataFrame, Error> {
        stacked(std::mem::take(&mut self.duplicates), self.empty_frame(1))
    }

    fn empty_frame(&self, which: usize) -> DataFrame {
        self.empty
            .as_ref()
            .map(|e| e[which].clone())
            .unwrap_or_default()
    }

    /// The findings and their evidence in the order detection of the whole ledger gives
    /// them: by rule (rules in the run's order), then group, window start and first
    /// evidence row. A finding's group and window start are in its id
    /// (`RULE/GROUP/START/N`); findings equal on both are from one group, so from one
    /// batch, already in their order. The rules applied count every batch's findings.
    pub fn findings(&mut self, case: &Case) -> Result<Option<Findings>, Error> {
        let parts = std::mem::take(&mut self.findings);
        let Some((_, first)) = parts.first() else {
            return Ok(None);
        };
        let rule_order: HashMap<String, usize> = first
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        let mut rules = first.rules.clone();
        for r in &mut rules {
            r.findings = 0;
        }
        let accounts = case.account_positions();
        let mut without_base_amount = 0;
        let mut rule_notes: Vec<((usize, u32), usize, usize, String)> = Vec::new();
        // (rule, group, start, batch, row in the batch's findings)
        let mut keys: Vec<(usize, String, String, usize, usize)> = Vec::new();
        for (p, (_, found)) in parts.iter().enumerate() {
            for (r, applied) in found.rules.iter().enumerate() {
                if let Some(total) = rules.get_mut(r) {
                    total.findings += applied.findings;
                }
            }
            without_base_amount += found.without_base_amount;
            let skip = usize::from(found.without_base_amount > 0);
            for (at, n) in found.notes.iter().enumerate().skip(skip) {
                rule_notes.push((note_key(n, &rule_order, &accounts), p, at, n.clone()));
            }
            let ids = found
                .findings
                .column("finding_id")
                .and_then(|c| c.str().cloned())
                .map_err(internal("reading finding ids"))?;
            for (row, id) in ids.iter().enumerate() {
                let id = id.unwrap_or_default();
                let (rule, group, start) = split_finding_id(id).ok_or_else(|| {
                    Error::Internal(format!("finding id {id:?} is not RULE/GROUP/START/N"))
                })?;
                let r = rule_order.get(rule).copied().ok_or_else(|| {
                    Error::Internal(format!("finding {id} names a rule the run did not apply"))
                })?;
                keys.push((r, group.to_string(), start.to_string(), p, row));
            }
        }
        keys.sort();
        // The notes: rows without a base amount added up; each rule's notes in rule order,
        // those naming an account in case order, each once (a note about the case file is
        // made by every batch).
        let mut notes = Vec::new();
        if without_base_amount > 0 {
            notes.push(crate::rules::without_base_amount_note(
                without_base_amount,
                &case.base_currency,
            ));
        }
        rule_notes.sort();
        for (_, _, _, n) in rule_notes {
            if !notes.contains(&n) {
                notes.push(n);
            }
        }
        // Each batch's evidence rows of each finding: contiguous, in finding order.
        let mut evidence_ranges: Vec<HashMap<String, (usize, usize)>> = Vec::new();
        for (_, found) in &parts {
            let ids = found
                .evidence
                .column("finding_id")
                .and_then(|c| c.str().cloned())
                .map_err(internal("reading evidence"))?;
            let mut ranges: HashMap<String, (usize, usize)> = HashMap::new();
            for (i, id) in ids.iter().enumerate() {
                let id = id.unwrap_or_default();
                match ranges.get_mut(id) {
                    Some(r) if r.1 == i => r.1 += 1,
                    Some(_) => {
                        return Err(Error::Internal(format!(
                            "the evidence of finding {id} is not contiguous"
                        )))
                    }
                    None => {
                        ranges.insert(id.to_string(), (i, i + 1));
                    }
                }
            }
            evidence_ranges.push(ranges);
        }
        let mut findings: Option<DataFrame> = None;
        let mut evidence: Option<DataFrame> = None;
        // Consecutive keys from one batch are taken as one slice where their rows follow
        // each other.
        let mut k = 0;
        while k < keys.len() {
            let (_, _, _, p, row) = keys[k];
            let mut end = k + 1;
            while end < keys.len() && keys[end].3 == p && keys[end].4 == row + (end - k) {
                end += 1;
            }
            let found = &parts[p].1;
            let slice = found.findings.slice(row as i64, end - k);
            let ids = slice
                .column("finding_id")
                .and_then(|c| c.str().cloned())
                .map_err(internal("reading finding ids"))?;
            let first_id = ids.get(0).unwrap_or_default();
            let last_id = ids.get(end - k - 1).unwrap_or_default();
            let (lo, hi) = match (
                evidence_ranges[p].get(first_id),
                evidence_ranges[p].get(last_id),
            ) {
                (Some(a), Some(b)) => (a.0, b.1),
                _ => {
                    return Err(Error::Internal(format!(
                        "finding {first_id} or {last_id} has no evidence rows"
                    )))
                }
            };
            let evidence_slice = found.evidence.slice(lo as i64, hi - lo);
            append(&mut findings, slice)?;
            append(&mut evidence, evidence_slice)?;
            k = end;
        }
        let first = &parts[0].1;
        let mut findings = match findings {
            Some(f) => f,
            None => first.findings.clear(),
        };
        findings.rechunk_mut();
        Ok(Some(Findings {
            findings,
            evidence: evidence.unwrap_or_else(|| first.evidence.clear()),
            rules,
            notes,
            without_base_amount,
            timings: Default::default(),
        }))
    }
}

/// Where a rule's note (`RULE: text`, [`Findings::notes`]) stands: its rule's place among
/// the run's rules, then the case position of the account it names (`RULE: account ID: …`),
/// if any. A rule's notes about accounts are made account by account in case order.
fn note_key(
    note: &str,
    rule_order: &HashMap<String, usize>,
    accounts: &HashMap<&str, u32>,
) -> (usize, u32) {
    let Some((rule, text)) = note.split_once(": ") else {
        return (usize::MAX, u32::MAX);
    };
    let account = text
        .strip_prefix("account ")
        .and_then(|t| t.split_once(':'))
        .and_then(|(id, _)| accounts.get(id).copied())
        .unwrap_or(0);
    (rule_order.get(rule).copied().unwrap_or(usize::MAX), account)
}

/// `RULE/GROUP/START/N` as (rule, group, start): the rule is up to the first `/`, the
/// start and number are the last two parts (a group may hold a `/`).
fn split_finding_id(id: &str) -> Option<(&str, &str, &str)> {
    let (rule, rest) = id.split_once('/')?;
    let (rest, _n) = rest.rsplit_once('/')?;
    let (group, start) = rest.rsplit_once('/')?;
    Some((rule, group, start))
}

fn append(acc: &mut Option<DataFrame>, part: DataFrame) -> Result<(), Error> {
    match acc {
        Some(a) => a
            .vstack_mut_owned(part)
            .map(|_| ())
            .map_err(internal("joining the batches")),
        None => {
            *acc = Some(part);
            Ok(())
        }
    }
}

/// A frame's rows split into stretches of one account (its text column `account_id`),
/// each with the account's case position; the frame must hold each account's rows together.
fn by_account(
    frame: &DataFrame,
    index: &HashMap<&str, u32>,
) -> Result<Vec<(u32, DataFrame)>, Error> {
    let ids = frame
        .column("account_id")
        .and_then(|c| c.str().cloned())
        .map_err(internal("reading account ids"))?;
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut current: Option<&str> = None;
    let mut push = |from: usize, to: usize, id: &str| -> Result<(), Error> {
        let a = index.get(id).copied().ok_or_else(|| {
            Error::Internal(format!(
                "a batch's output names account {id:?}, which the case does not declare"
            ))
        })?;
        out.push((a, frame.slice(from as i64, to - from)));
        Ok(())
    };
    for (i, id) in ids.iter().enumerate() {
        let id = id.unwrap_or_default();
        if current != Some(id) {
            if let Some(c) = current {
                push(start, i, c)?;
            }
            current = Some(id);
            start = i;
        }
    }
    if let Some(c) = current {
        push(start, frame.height(), c)?;
    }
    Ok(out)
}

/// Stretches of rows by account in case order (then batch, then their order within it),
/// stacked into one frame.
fn stacked(mut parts: Vec<(u32, usize, DataFrame)>, empty: DataFrame) -> Result<DataFrame, Error> {
    parts.sort_by_key(|(account, batch, _)| (*account, *batch));
    let mut acc: Option<DataFrame> = None;
    for (_, _, part) in parts {
        append(&mut acc, part)?;
    }
    let mut frame = acc.unwrap_or(empty);
    frame.rechunk_mut();
    Ok(frame)
}

/// The ledger's rows written batch by batch, and put together in case order.
///
/// Each batch writes its verified ledger into a parquet part file of its own. A
/// **stretch** is a run of a batch's accounts that follow each other in the case file; the
/// rows of each account are in one batch, in the order a whole run gives them, and a whole
/// run orders its ledger by account first. So the whole ledger is every stretch's rows in
/// case order: [`LedgerParts::finish`] reads them so, a piece at a time, and writes
/// `ledger.csv` and `ledger.parquet` from them. The parquet file is cut into the row groups
/// a whole run's writer cuts the whole ledger into ([`row_groups`]), so both files are the
/// whole run's bytes.
#[derive(Debug)]
pub struct LedgerParts {
    dir: PathBuf,
    /// The verified ledger's columns (no rows), from the first batch.
    empty: Option<DataFrame>,
    /// (first account, batch, first row, rows) of each stretch written.
    stretches: Vec<(u32, usize, usize, usize)>,
    parts: Vec<PathBuf>,
}

/// Rows in each row group of a part file, and read at a time by [`LedgerParts::finish`].
const PART_ROWS: usize = 65_536;

/// The row groups polars' parquet writer cuts a one-chunk frame of `rows` rows into (its
/// default row group size, 512 × 512): one group below that size; otherwise `rows / size`
/// groups of `rows / groups` rows, the last taking the remainder.
pub fn row_groups(rows: usize) -> Vec<usize> {
    const SIZE: usize = 512 * 512;
    if rows == 0 {
        return Vec::new();
    }
    if rows < SIZE {
        return vec![rows];
    }
    let n = rows / SIZE;
    let each = rows / n;
    let mut groups = vec![each; n - 1];
    groups.push(rows - each * (n - 1));
    groups
}

impl LedgerParts {
    /// Parts kept in `dir` (which must exist; the parts are removed by [`Self::finish`]).
    pub fn new(dir: &Path) -> LedgerParts {
        LedgerParts {
            dir: dir.to_path_buf(),
            empty: None,
            stretches: Vec::new(),
            parts: Vec::new(),
        }
    }

    /// Write a batch's verified ledger (accounts `accounts`, in case order).
    pub fn add(&mut self, case: &Case, accounts: &[u32], ledger: &DataFrame) -> Result<(), Error> {
        let batch = self.parts.len();
        let path = self.dir.join(format!(".ledger-part-{batch:05}.parquet"));
        if self.empty.is_none() {
            self.empty = Some(ledger.clear());
        }
        let index: HashMap<&str, u32> = accounts
            .iter()
            .map(|&a| (case.accounts[a as usize].id.as_str(), a))
            .collect();
        // Rows per account of the batch, to find each stretch's rows.
        let ids = ledger
            .column(col::ACCOUNT_ID)
            .and_then(|c| c.str().cloned())
            .map_err(internal("reading the ledger's accounts"))?;
        let mut rows: BTreeMap<u32, usize> = BTreeMap::new();
        for id in ids.iter() {
            let a = id.and_then(|id| index.get(id)).copied().ok_or_else(|| {
                Error::Internal(format!(
                    "batch {batch}'s ledger holds a row of another batch"
                ))
            })?;
            *rows.entry(a).or_default() += 1;
        }
        let mut row = 0usize;
        let mut i = 0;
        while i < accounts.len() {
            let mut j = i + 1;
            while j < accounts.len() && accounts[j] == accounts[j - 1] + 1 {
                j += 1;
            }
            let n: usize = accounts[i..j]
                .iter()
                .map(|a| rows.get(a).copied().unwrap_or(0))
                .sum();
            if n > 0 {
                self.stretches.push((accounts[i], batch, row, n));
            }
            row += n;
            i = j;
        }
        // Listed before it is made, so that a failure part way removes it too.
        self.parts.push(path.clone());
        let file = crate::report::create_work_file(&path)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        ParquetWriter::new(&mut out)
            .with_compression(ParquetCompression::Uncompressed)
            .with_statistics(StatisticsOptions::empty())
            .with_row_group_size(Some(PART_ROWS))
            .finish(&mut ledger.clone())
            .map_err(internal("writing a batch's ledger"))?;
        out.flush().map_err(|e| io_error(&path, e))?;
        Ok(())
    }

    /// Write `ledger.csv` to `csv` and `ledger.parquet` (with `metadata`, as
    /// [`crate::report::parquet_out::to_parquet_bytes`] writes it) to `parquet`, every
    /// stretch's rows in case order, and remove the parts. At most a row group of the
    /// parquet file and a piece of a part are held at a time.
    pub fn finish(
        mut self,
        csv: &mut dyn Write,
        parquet: &mut dyn Write,
        metadata: Vec<(String, String)>,
    ) -> Result<(), Error> {
        let empty = self.empty.take().unwrap_or_default();
        let header = crate::report::csv_out::frame_to_csv("ledger.csv", &empty)?;
        csv.write_all(&header)
            .map_err(|e| io_error(Path::new("ledger.csv"), e))?;
        self.stretches.sort_unstable();
        let total: usize = self.stretches.iter().map(|s| s.3).sum();
        let mut groups = row_groups(total).into_iter();
        let mut writer = ParquetWriter::new(parquet)
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::full())
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata)))
            .batched(empty.schema())
            .map_err(internal("starting ledger.parquet"))?;
        let mut group = empty.clone();
        let mut want = groups.next().unwrap_or(0);
        for &(_, batch, first, rows) in &self.stretches {
            let path = &self.parts[batch];
            let mut at = first;
            while at < first + rows {
                let len = (first + rows - at).min(PART_ROWS);
                let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
                let piece = ParquetReader::new(file)
                    .with_slice(Some((at, len)))
                    .finish()
                    .map_err(internal("reading a batch's ledger"))?;
                crate::report::csv_out::write_frame_rows("ledger.csv", &piece, csv)?;
                // The piece into row groups of the whole run's sizes.
                let mut taken = 0;
                while taken < piece.height() {
                    let room = want - group.height();
                    let part = piece.slice(taken as i64, room.min(piece.height() - taken));
                    taken += part.height();
                    group
                        .vstack_mut_owned(part)
                        .map_err(internal("building a row group"))?;
                    if group.height() == want {
                        group.rechunk_mut();
                        writer
                            .write_batch(&group)
                            .map_err(internal("writing ledger.parquet"))?;
                        group = empty.clone();
                        want = groups.next().unwrap_or(0);
                    }
                }
                at += len;
            }
        }
        writer
            .finish()
            .map_err(internal("finishing ledger.parquet"))?;
        for p in self.parts.drain(..) {
            crate::report::remove_work_file(&p)?;
        }
        csv.flush()
            .map_err(|e| io_error(Path::new("ledger.csv"), e))?;
        Ok(())
    }
}

impl Drop for LedgerParts {
    /// A run that stops part way (an error in a later batch) leaves no part behind.
    fn drop(&mut self) {
        for p in self.parts.drain(..) {
            let _ = crate::report::remove_work_file(&p);
        }
    }
}

/// Copy byte stretches `(file, offset, length)` of `files` to `out`, in the order given.
fn copy_stretches(
    files: &[&Path],
    stretches: &[(usize, u64, u64)],
    out: &mut dyn Write,
) -> Result<(), Error> {
    use std::io::{Read, Seek, SeekFrom};
    let mut open = Vec::with_capacity(files.len());
    for p in files {
        open.push(std::fs::File::open(p).map_err(|e| io_error(p, e))?);
    }
    let mut buf = Vec::new();
    for &(f, offset, len) in stretches {
        let (path, file) = (files[f], &mut open[f]);
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(path, e))?;
        buf.clear();
        Read::by_ref(file)
            .take(len)
            .read_to_end(&mut buf)
            .map_err(|e| io_error(path, e))?;
        out.write_all(&buf).map_err(|e| io_error(path, e))?;
    }
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Internal(format!("batch part {}: {e}", path.display()))
}

fn internal(what: &'static str) -> impl Fn(PolarsError) -> Error {
    move |e| Error::Internal(format!("batches: {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_id_splits_into_rule_group_and_start() {
        assert_eq!(
            split_finding_id("STR-001/A000004/2023-07-02/1"),
            Some(("STR-001", "A000004", "2023-07-02"))
        );
        assert_eq!(
            split_finding_id("CIB-001/12 HIGH ST/LEEDS/2023-07-02/12"),
            Some(("CIB-001", "12 HIGH ST/LEEDS", "2023-07-02"))
        );
        assert_eq!(split_finding_id("STR-001/2023-07-02"), None);
    }

    #[test]
    fn row_groups_are_cut_as_the_parquet_writer_cuts_a_whole_frame() {
        let size = 512 * 512;
        assert_eq!(row_groups(0), Vec::<usize>::new());
        assert_eq!(row_groups(10), vec![10]);
        assert_eq!(row_groups(size - 1), vec![size - 1]);
        assert_eq!(row_groups(size), vec![size]);
        assert_eq!(row_groups(2 * size - 1), vec![2 * size - 1]);
        assert_eq!(row_groups(2 * size + 5), vec![size + 2, size + 3]);
        assert_eq!(row_groups(1_046_495).iter().sum::<usize>(), 1_046_495);
    }

    #[test]
    fn a_rules_notes_stand_in_rule_order_then_account_order() {
        let rules: HashMap<String, usize> =
            [("CIB-001".to_string(), 0), ("TRF-005".to_string(), 1)].into();
        let accounts: HashMap<&str, u32> = [("B1", 4), ("B2", 9)].into();
        let key = |n: &str| note_key(n, &rules, &accounts);
        assert_eq!(key("CIB-001: account B2: no sector cash norm"), (0, 9));
        assert_eq!(key("CIB-001: account B1: no sector cash norm"), (0, 4));
        assert_eq!(key("TRF-005: accounts not looked at: B1"), (1, 0));
        assert!(key("CIB-001: account B2: x") > key("CIB-001: account B1: x"));
        assert!(key("TRF-005: accounts not looked at: B1") > key("CIB-001: account B2: x"));
    }

    #[test]
    fn a_batch_holds_the_rows_whose_share_of_the_sources_fits_beside_the_fixed_part() {
        // 100 MB of sources for 1,000,000 rows: 100 bytes a row, 1,000 at the peak.
        let (input, rows) = (100_000_000, 1_000_000);
        let fit = rows_that_fit(2_000_000_000, input, rows, 0, Scope::WithoutReport);
        assert_eq!(fit, 1_000_000);
        assert_eq!(
            batch_peak(fit, input, rows, 0, Scope::WithoutReport),
            2_000_000_000
        );
        assert!(batch_peak(fit + 1, input, rows, 0, Scope::WithoutReport) > 2_000_000_000);
        // What the run holds for every batch, and the report's larger fixed part, leave less.
        assert_eq!(
            rows_that_fit(
                2_000_000_000,
                input,
                rows,
                500_000_000,
                Scope::WithoutReport
            ),
            500_000
        );
        assert_eq!(
            rows_that_fit(2_500_000_000, input, rows, 0, Scope::WithReport),
            500_000
        );
        assert_eq!(
            batch_peak(500_000, input, rows, 0, Scope::WithReport),
            2_500_000_000
        );
        // No room at all, and no sources.
        assert_eq!(
            rows_that_fit(999_999_999, input, rows, 0, Scope::WithoutReport),
            0
        );
        assert_eq!(
            rows_that_fit(1_000, 0, 0, 0, Scope::WithoutReport),
            u64::MAX
        );
    }

    #[test]
    fn offsets_are_the_rows_of_the_accounts_before() {
        assert_eq!(seq_offsets(&[3, 0, 5, 2]), vec![0, 3, 3, 8]);
    }
}
