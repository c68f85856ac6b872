//! The pipeline: load the case, run the stages in order, write the outputs.
//!
//! Stages: ingest, verify, detect, trace, schedule. Each stage reads the
//! frames the earlier ones produced and adds its own outputs; `run` runs every stage that
//! exists, and each sub-command runs the stages up to and including its own. Tracing runs
//! only when the case file says what is tainted (`[tracing]`); otherwise the summary and
//! the manifest say why it did not run. The schedule stage likewise runs only when the case
//! names a `price_index` reference file (s.80 cannot be applied without one).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::case::{Case, ResolveOptions};
use crate::confiscation::{schedule, Jurisdiction, ReferenceData, Schedules};
use crate::error::Error;
use crate::groups::GroupsError;
use crate::hash::{sha256_file, sha256_hex};
use crate::ingest::budget::{self, Scope};
use crate::ingest::detect::detect;
use crate::ingest::{check_memory, ingest_case, IngestError, Ingested, Registry, SourceReport};
use crate::money::{format_amount, from_minor_units};
use crate::report::manifest::{CaseInfo, Counts, Input, LayoutUse, Manifest, RuleUse, Tool};
use crate::report::{
    court, csv_out, ensure_dir, parquet_out, write_atomic, write_frame_csv, write_trace_flows_csv,
    write_trace_summary_csv, AtomicWriter, OutputFile,
};
use crate::rules::{rules_for_case, run_rules, Findings, Reference};
use crate::trace::{trace, Method, Trace, TraceInput};
use crate::verify::{verify, Verified};
use polars::prelude::DataFrame;

/// How a run is carried out.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub out_dir: PathBuf,
    /// Fixed run timestamp for reproducible manifests; otherwise taken from the
    /// environment (`PROCEEDS_RUN_TIMESTAMP`, `SOURCE_DATE_EPOCH`) or the clock.
    pub run_timestamp: Option<String>,
    pub show_progress: bool,
    /// Print to standard error, as each stage ends, how long it took and the peak memory of
    /// the process so far, and the same for each output file as it is written (with the
    /// progress bar on a terminal, and in benchmarks).
    pub log_stages: bool,
    pub resolve: ResolveOptions,
    /// Skip the memory budget (`--no-memory-check`): run even when the estimated peak
    /// memory exceeds the memory available.
    pub skip_memory_check: bool,
    /// Run in batches of linked accounts (`crate::batches`, `--by-groups`): the outputs are
    /// the same bytes; the whole ledger is never held. Every command but `ingest`.
    pub by_groups: bool,
    /// Rows a batch holds at most ([`crate::batches::BATCH_ROWS`] when 0).
    pub batch_rows: u64,
}

/// The stages, in order. A command runs every stage up to and including its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Ingest,
    Verify,
    Detect,
    Trace,
    Schedule,
}

/// What a run did, for the summary printed at the end.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub case_reference: String,
    pub out_dir: PathBuf,
    pub sources: Vec<SourceReport>,
    pub ledger_rows: usize,
    pub rejected: u64,
    pub outputs: Vec<OutputFile>,
    /// What each stage did or why it did not run, one line each.
    pub stage_notes: Vec<String>,
    /// How the run was carried out on this machine (in batches, because of the memory
    /// available; batches cut to fit it), one line each: printed with the summary, written
    /// to no output, since the outputs are the same bytes however the run was carried out.
    pub run_notes: Vec<String>,
}

/// Run every stage over a case and write the outputs.
pub fn run(case_path: &Path, options: &RunOptions) -> Result<RunSummary, Error> {
    run_to(case_path, options, Stage::Schedule)
}

/// Run the stages up to and including `last` and write their outputs.
pub fn run_to(case_path: &Path, options: &RunOptions, last: Stage) -> Result<RunSummary, Error> {
    let case = Case::load(case_path, options.resolve)?;
    let registry = Registry::for_case(&case)?;
    if options.by_groups {
        return run_by_groups(&case, &registry, options, last);
    }
    // A case whose whole ledger would not fit the memory available runs in batches of
    // linked accounts instead (every command but `ingest`, which has no batches): the same
    // outputs, never the whole ledger held at once.
    match memory_check(&case, options, last) {
        Err(Error::Ingest(IngestError::OverMemory(over))) if last >= Stage::Verify => {
            let (needed, available) = budget::human_pair(over.estimate_bytes, over.available.bytes);
            let why = format!(
                "the whole ledger would need an estimated {needed} at its peak and {available} is available ({})",
                over.available.from.describe(),
            );
            // A run by groups short of memory too says why it was one.
            let mut summary =
                run_by_groups(&case, &registry, options, last).map_err(|e| match e {
                    Error::Groups(GroupsError::OverMemory(m)) => {
                        Error::Groups(GroupsError::OverMemory(format!(
                            "{why}, so the run went in batches of linked accounts, and then: {m}"
                        )))
                    }
                    e => e,
                })?;
            summary.run_notes.insert(
                0,
                format!(
                    "run in batches of linked accounts (as with --by-groups), since {why}; the outputs are the same"
                ),
            );
            return Ok(summary);
        }
        other => other?,
    }
    let mut log = StageLog::start(options.log_stages);
    let mut ingested = ingest_case(&case, &registry, options.show_progress)?;
    let ingested_rows = ingested.ledger.height();
    crate::give_back_free_memory();
    log.ended("ingest");
    // Verify is handed the ingested ledger itself: the columns it replaces are let go
    // with it, not held beside the verified ledger until the outputs are written.
    let verified = if last >= Stage::Verify {
        let ledger = std::mem::replace(&mut ingested.ledger, DataFrame::empty());
        Some(verify(&case, ledger, &ingested.statements, &case.verify)?)
    } else {
        None
    };
    crate::give_back_free_memory();
    log.ended("verify");
    let found = match &verified {
        Some(v) if last >= Stage::Detect => {
            let rules = rules_for_case(&case)?;
            let reference = Reference::for_case(&case)?;
            Some(run_rules(&v.ledger, &case, &rules, &reference)?)
        }
        _ => None,
    };
    crate::give_back_free_memory();
    log.ended("detect");
    // The schedules before the trace: the schedule stage's working copy of the ledger is
    // let go when it returns, so it never coexists with the trace's books.
    let scheduled = match &verified {
        Some(v) if last >= Stage::Schedule && case.reference_file("price_index").is_some() => {
            let reference = ReferenceData::load(&case)?;
            let jurisdiction = Jurisdiction::by_id(&case.jurisdiction)?;
            Some(schedule(
                &case,
                &v.ledger,
                &v.transfers,
                found.as_ref().map(|f| &f.evidence),
                &reference,
                &jurisdiction,
            )?)
        }
        _ => None,
    };
    crate::give_back_free_memory();
    log.ended("schedule");
    let traced = match (&verified, &case.tracing) {
        (Some(v), Some(spec)) if last >= Stage::Trace => Some(trace(&TraceInput {
            ledger: &v.ledger,
            transfers: Some(&v.transfers),
            finding_evidence: found.as_ref().map(|f| &f.evidence),
            spec,
        })?),
        _ => None,
    };
    crate::give_back_free_memory();
    log.ended("trace");
    let summary = write_outputs(
        &case,
        &registry,
        &mut log,
        Stages {
            last,
            ingested,
            ingested_rows,
            verified,
            found,
            traced,
            scheduled: scheduled.as_ref(),
            ledger_parts: None,
            trace_parts: None,
            charts: None,
        },
        options,
    )?;
    log.ended("outputs");
    Ok(summary)
}

/// [`run_to`] in batches of linked accounts ([`crate::batches::run`]): verify and detect
/// (`last`), their outputs the same bytes as a run of the whole ledger. The link pass checks
/// its own memory as it reads (the whole-case estimate does not apply).
fn run_by_groups(
    case: &Case,
    registry: &Registry,
    options: &RunOptions,
    last: Stage,
) -> Result<RunSummary, Error> {
    if last < Stage::Verify {
        return Err(Error::Usage(
            "--by-groups runs verify and the stages after it; `ingest` reads the sources only, so run it without --by-groups".into(),
        ));
    }
    let dir = &options.out_dir;
    ensure_dir(dir)?;
    refuse_output_beside_inputs(case, dir)?;
    let mut log = StageLog::start(options.log_stages);
    let available = if options.skip_memory_check {
        None
    } else {
        budget::available().map_err(IngestError::MemoryCheck)?
    };
    // The schedules read the reference data as the batches run, to keep the rows they
    // read; a case without a price index has no schedules (as in a whole run).
    let reference = if last >= Stage::Schedule && case.reference_file("price_index").is_some() {
        Some(ReferenceData::load(case)?)
    } else {
        None
    };
    let requested = if options.batch_rows == 0 {
        crate::batches::BATCH_ROWS
    } else {
        options.batch_rows
    };
    let mut run = crate::batches::run(
        case,
        registry,
        &crate::batches::RunPlan {
            work: dir.clone(),
            max_rows: requested,
            detect: last >= Stage::Detect,
            available,
            scope: scope_of(last),
            trace: case
                .tracing
                .clone()
                .filter(|_| last >= Stage::Trace)
                .map(|spec| (spec, TRACE_SUMMARY_HEAD)),
            schedule: reference.clone(),
            charts: last >= Stage::Schedule,
        },
    )?;
    log.ended("ingest, verify, detect and trace, by batches");
    let (batch_rows_cut_to, batches) = (run.batch_rows_cut_to, run.batches);
    let scheduled = match (&run.schedule_rows, &reference) {
        (Some(rows), Some(reference)) => {
            let jurisdiction = Jurisdiction::by_id(&case.jurisdiction)?;
            Some(schedule(
                case,
                rows,
                &run.transfers,
                run.found.as_ref().map(|f| &f.evidence),
                reference,
                &jurisdiction,
            )?)
        }
        _ => None,
    };
    // The rows the schedules read are let go once they have.
    run.schedule_rows = None;
    drop(reference);
    crate::give_back_free_memory();
    log.ended("schedule");
    let ingested_rows = run.rows_read as usize;
    let mut summary = write_outputs(
        case,
        registry,
        &mut log,
        Stages {
            last,
            ingested: Ingested {
                ledger: DataFrame::empty(),
                rejects: run.rejects,
                skipped: run.skipped,
                sources: run.sources,
                statements: Vec::new(),
            },
            ingested_rows,
            verified: Some(Verified {
                ledger: DataFrame::empty(),
                integrity: run.integrity,
                duplicates: run.duplicates,
                transfers: run.transfers,
                summary: run.summary,
                facts: Default::default(),
                counterparty_rules: run.counterparty_rules,
                rows_in: ingested_rows,
            }),
            found: run.found,
            traced: None,
            scheduled: scheduled.as_ref(),
            ledger_parts: Some((run.ledger, run.ledger_rows)),
            trace_parts: run.trace,
            charts: run.charts,
        },
        options,
    )?;
    log.ended("outputs");
    if let Some(rows) = batch_rows_cut_to {
        summary.run_notes.push(format!(
            "batches of at most {rows} rows (not {requested}), to fit the memory available; {batches} batches"
        ));
    }
    Ok(summary)
}

/// Each stage's time and the process's peak memory so far, to standard error
/// ([`RunOptions::log_stages`]).
struct StageLog {
    on: bool,
    clock: std::time::Instant,
    /// Since the last output file was written (or the stage began).
    step: std::time::Instant,
}

impl StageLog {
    fn start(on: bool) -> StageLog {
        let now = std::time::Instant::now();
        StageLog {
            on,
            clock: now,
            step: now,
        }
    }

    fn ended(&mut self, stage: &str) {
        if !self.on {
            return;
        }
        eprintln!(
            "{stage}: {:.2} s{}",
            self.clock.elapsed().as_secs_f64(),
            Self::peak()
        );
        self.clock = std::time::Instant::now();
        self.step = self.clock;
    }

    /// One output file written, and how long it took since the one before (for the
    /// outputs stage, whose time at 10M rows is most of a run).
    fn wrote(&mut self, file: OutputFile) -> OutputFile {
        self.step(&file.file);
        file
    }

    /// A step within a stage: its time since the step before, indented under the stage.
    fn step(&mut self, what: &str) {
        if self.on {
            eprintln!(
                "  {what}: {:.2} s{}",
                self.step.elapsed().as_secs_f64(),
                Self::peak()
            );
            self.step = std::time::Instant::now();
        }
    }

    fn peak() -> String {
        let now = budget::resident_memory_bytes()
            .map(|b| format!(" (now {} MB)", b / 1_000_000))
            .unwrap_or_default();
        budget::peak_memory_bytes()
            .map(|b| format!(", peak memory so far {} MB{now}", b / 1_000_000))
            .unwrap_or_default()
    }
}

/// Ingest one statement file without a case file, detecting its layout unless one is
/// named. Returns the summary and the layout used.
pub fn ingest_file(
    file: &Path,
    layout: Option<&str>,
    currency: &str,
    options: &RunOptions,
) -> Result<(RunSummary, String), Error> {
    let registry = Registry::shipped()?;
    if !options.skip_memory_check {
        let name = file.display().to_string();
        let sizes = budget::sizes([(name.as_str(), file)]);
        let available = budget::available().map_err(IngestError::MemoryCheck)?;
        budget::decide(&sizes, Scope::WithoutReport, available).map_err(IngestError::from)?;
    }
    let layout = match layout {
        Some(id) => id.to_string(),
        None => {
            let bytes = std::fs::read(file)
                .map_err(|e| Error::Usage(format!("cannot read {}: {e}", file.display())))?;
            let found = detect(&bytes, &registry);
            found.layout.ok_or_else(|| {
                Error::Usage(format!(
                    "cannot tell the format of {}: {}",
                    file.display(),
                    found.reasons.join("; ")
                ))
            })?
        }
    };
    let case = Case::ad_hoc(file, &layout, currency)?;
    let ingested = ingest_case(&case, &registry, options.show_progress)?;
    let stages = Stages {
        last: Stage::Ingest,
        ingested_rows: ingested.ledger.height(),
        ingested,
        verified: None,
        found: None,
        traced: None,
        scheduled: None,
        ledger_parts: None,
        trace_parts: None,
        charts: None,
    };
    let mut log = StageLog::start(options.log_stages);
    let summary = write_outputs(&case, &registry, &mut log, stages, options)?;
    Ok((summary, layout))
}

/// The memory budget of a run up to `last`, unless the run skips it. The court report is
/// written at the schedule stage.
fn memory_check(case: &Case, options: &RunOptions, last: Stage) -> Result<(), Error> {
    if !options.skip_memory_check {
        check_memory(case, scope_of(last))?;
    }
    Ok(())
}

/// What the memory estimate of a run up to `last` covers: the court report is written at
/// the schedule stage.
fn scope_of(last: Stage) -> Scope {
    if last >= Stage::Schedule {
        Scope::WithReport
    } else {
        Scope::WithoutReport
    }
}

/// The backward question for one debit, as text: how much of it is tainted under each
/// method and from which origins.
pub fn backward_report(
    case_path: &Path,
    options: &RunOptions,
    txn_id: &str,
) -> Result<String, Error> {
    let case = Case::load(case_path, options.resolve)?;
    let spec = case.tracing.clone().ok_or_else(|| {
        Error::Usage("the case file has no [tracing] table saying what is tainted".into())
    })?;
    let registry = Registry::for_case(&case)?;
    memory_check(&case, options, Stage::Trace)?;
    let ingested = ingest_case(&case, &registry, false)?;
    let v = verify(&case, ingested.ledger, &ingested.statements, &case.verify)?;
    let found = run_rules(
        &v.ledger,
        &case,
        &rules_for_case(&case)?,
        &Reference::for_case(&case)?,
    )?;
    let t = trace(&TraceInput {
        ledger: &v.ledger,
        transfers: Some(&v.transfers),
        finding_evidence: Some(&found.evidence),
        spec: &spec,
    })?;
    let b = t.backward(txn_id)?;
    let pounds = |p: i64| format_amount(from_minor_units(i128::from(p)));
    let mut out = format!(
        "{} {} {}: {} paid out ({} from an overdraft)\n",
        b.txn_id,
        b.account_id,
        b.booking_date,
        pounds(b.amount_pence),
        pounds(b.overdraft_pence)
    );
    for m in &b.methods {
        out.push_str(&format!(
            "  {:<9} tainted {:>14}  clean {:>14}\n",
            m.method.as_str(),
            pounds(m.tainted_pence),
            pounds(m.clean_pence)
        ));
        for o in &m.origins {
            out.push_str(&format!(
                "            from {} ({}) {:>14}\n",
                o.origin_txn_id,
                o.path,
                pounds(o.amount_pence)
            ));
        }
    }
    Ok(out)
}

/// What the stages produced.
/// Owned, so that what typesetting the court report does not need can be let go first.
struct Stages<'a> {
    last: Stage,
    /// Its ledger, once verify has run, is empty: verify took it over.
    ingested: Ingested,
    /// How many rows ingest gave the ledger.
    ingested_rows: usize,
    verified: Option<Verified>,
    found: Option<Findings>,
    /// Owned: its flows are written row by row, then it is let go with the other tables.
    traced: Option<Trace>,
    scheduled: Option<&'a Schedules>,
    /// A run by batches: the verified ledger in parts, and its rows (the frames' ledger is
    /// then empty).
    ledger_parts: Option<(crate::batches::LedgerParts, usize)>,
    /// A run by batches: the trace's two large files in parts, and its tables.
    trace_parts: Option<(
        crate::batches::trace::TraceParts,
        crate::batches::trace::TraceTables,
    )>,
    /// A run by batches: what the report's charts show of the ledger.
    charts: Option<court::build::ChartAccounts>,
}

impl Stages<'_> {
    /// The verified ledger, or the ingested one when verify did not run.
    fn ledger(&self) -> &DataFrame {
        self.verified
            .as_ref()
            .map_or(&self.ingested.ledger, |v| &v.ledger)
    }

    /// Rows of the ledger written.
    fn ledger_rows(&self) -> usize {
        match &self.ledger_parts {
            Some((_, rows)) => *rows,
            None => self.ledger().height(),
        }
    }
}

pub(crate) fn resolve_timestamp(fixed: Option<&str>) -> (String, String) {
    if let Some(t) = fixed {
        return (t.to_string(), "--run-timestamp".into());
    }
    if let Ok(t) = std::env::var("PROCEEDS_RUN_TIMESTAMP") {
        if !t.is_empty() {
            return (t, "PROCEEDS_RUN_TIMESTAMP".into());
        }
    }
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        if let Some(t) = epoch
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        {
            return (
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "SOURCE_DATE_EPOCH".into(),
            );
        }
    }
    (
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "clock".into(),
    )
}

fn write_outputs(
    case: &Case,
    registry: &Registry,
    log: &mut StageLog,
    mut stages: Stages<'_>,
    options: &RunOptions,
) -> Result<RunSummary, Error> {
    let dir = &options.out_dir;
    ensure_dir(dir)?;
    refuse_output_beside_inputs(case, dir)?;

    // First what the outputs and the report say, then the writing: the court report's
    // document is complete before the first file is written, so it can be typeset beside
    // the tables.
    let ledger_rows = stages.ledger_rows();
    let mut stage_notes = vec![format!(
        "ingest: {} sources, {} ledger rows",
        stages.ingested.sources.len(),
        stages.ingested_rows
    )];
    let mut rules = Vec::new();
    let mut stage_names = vec!["ingest".to_string()];
    if let Some(v) = stages.verified.as_ref() {
        stage_names.push("verify".into());
        rules.push(v.counterparty_rules.manifest_entry());
        let failures = count_value(&v.integrity, "result", "fail");
        stage_notes.push(format!(
            "verify: {} checks, {failures} failed (integrity.csv); {} duplicate rows dropped; {} internal transfers matched",
            v.integrity.height(),
            v.duplicates.height(),
            v.transfers.height()
        ));
    }
    if let Some(f) = stages.found.as_ref() {
        stage_names.push("detect".into());
        for r in &f.rules {
            rules.push(RuleUse {
                id: r.id.clone(),
                version: r.version,
            });
        }
        stage_notes.push(format!(
            "detect: {} rules applied, {} findings on {} evidence rows (findings.csv)",
            f.rules.len(),
            f.findings.height(),
            f.evidence.height()
        ));
        for n in &f.notes {
            stage_notes.push(format!("detect: {n}"));
        }
    }
    // The trace's smaller tables, the first rows of its summary and the elected method's
    // flows for the report's diagram. The flows of every method and the summary (tens and
    // ten million rows at 10M) are written row by row from the trace, never built as frames.
    let mut trace_tables: Option<TraceTables> = None;
    match (stages.traced.as_ref(), stages.last >= Stage::Trace) {
        (None, _) if stages.trace_parts.is_some() => {
            if let Some((_, t)) = stages.trace_parts.as_mut() {
                stage_names.push("trace".into());
                stage_notes.push(format!(
                    "trace: {} tainted origins, every method side by side; elected method {}",
                    t.origins_count,
                    t.elected.map(|m| m.as_str()).unwrap_or("not stated")
                ));
                let empty = DataFrame::empty();
                trace_tables = Some(TraceTables {
                    flows: std::mem::replace(&mut t.flows, empty.clone()),
                    summary: std::mem::replace(&mut t.summary, empty.clone()),
                    summary_rows: t.summary_rows,
                    balances: std::mem::replace(&mut t.balances, empty.clone()),
                    origins: std::mem::replace(&mut t.origins, empty.clone()),
                    notes: std::mem::replace(&mut t.notes, empty),
                    elected: t.elected.map(|m| m.as_str()),
                });
            }
        }
        (Some(t), _) => {
            stage_names.push("trace".into());
            let elected = t.elected_method();
            stage_notes.push(format!(
                "trace: {} tainted origins, every method side by side; elected method {}",
                t.origin_txn_ids().len(),
                elected.map(|m| m.as_str()).unwrap_or("not stated")
            ));
            trace_tables = Some(TraceTables {
                flows: t.flows_frame_of(Some(elected.unwrap_or(Method::Fifo)))?,
                // Only the first rows, which the report and the workbook show; the CSV is
                // written row by row from the trace.
                summary: t.summary_frame_head(TRACE_SUMMARY_HEAD)?,
                summary_rows: t.summary_len(),
                balances: t.balances_frame()?,
                origins: t.origins_frame()?,
                notes: t.notes_frame()?,
                elected: elected.map(|m| m.as_str()),
            });
        }
        (None, true) => stage_notes.push(
            "trace: not run: the case file has no [tracing] table saying what is tainted".into(),
        ),
        (None, false) => {}
    }
    let mut reference_inputs = Vec::new();
    for r in &case.reference_data {
        let (sha256, size_bytes) = sha256_file(&r.path.resolved).map_err(|e| {
            Error::Usage(format!(
                "reference file {} cannot be read: {e}",
                r.path.written
            ))
        })?;
        reference_inputs.push(Input {
            role: r.role.clone(),
            path: r.path.written.clone(),
            sha256,
            size_bytes,
        });
    }
    match (stages.scheduled, stages.last >= Stage::Schedule) {
        (Some(s), _) => {
            stage_names.push("schedule".into());
            rules.push(RuleUse {
                id: format!("jurisdiction {}", s.jurisdiction_id),
                version: s.jurisdiction_version,
            });
            let pounds = |p: i64| format_amount(from_minor_units(i128::from(p)));
            stage_notes.push(format!(
                "schedule: benefit {}, available amount {}, recoverable amount {} (the {}); relevant day {}",
                pounds(s.totals.benefit),
                pounds(s.totals.available),
                pounds(s.totals.recoverable),
                s.totals.recoverable_is,
                s.relevant_day.day
            ));
        }
        (None, true) if stages.verified.is_some() => stage_notes.push(
            "schedule: not run: the case names no price_index reference file, which s.80 needs to value benefit and gifts".into(),
        ),
        (None, _) => {}
    }
    let mut inputs = source_inputs(&stages.ingested.sources);
    inputs.extend(reference_inputs.iter().cloned());
    let (run_timestamp, run_timestamp_source) = resolve_timestamp(options.run_timestamp.as_deref());
    let layouts = layouts_used(registry, &stages.ingested.sources);
    let case_bytes = read_case_file(case)?;
    // The report's document, from the ledger and the stages' frames as they stand.
    let build_report = |stages: &Stages<'_>,
                        trace_tables: Option<&TraceTables>,
                        stage_notes: &[String]|
     -> Result<court::doc::Document, Error> {
        let appendix = report_inputs(case, &case_bytes, &inputs, &layouts, stages);
        let read;
        let charts = match &stages.charts {
            Some(charts) => charts,
            None => {
                read = court::build::ChartAccounts::of(stages.ledger())?;
                &read
            }
        };
        Ok(court::build(&court::ReportInput {
            case,
            charts,
            sources: &stages.ingested.sources,
            integrity: stages.verified.as_ref().map(|v| &v.integrity),
            integrity_summary: stages
                .verified
                .as_ref()
                .map_or(&[], |v| v.summary.as_slice()),
            transfers: stages.verified.as_ref().map(|v| &v.transfers),
            findings: stages.found.as_ref().map(|f| court::FindingFrames {
                findings: &f.findings,
                rules: &f.rules,
                notes: &f.notes,
            }),
            trace: trace_tables.map(|t| court::TraceFrames {
                flows: &t.flows,
                summary: &t.summary,
                summary_rows: t.summary_rows,
                balances: &t.balances,
                origins: &t.origins,
                elected: t.elected,
            }),
            schedules: stages.scheduled,
            inputs: &appendix,
            run_timestamp: &run_timestamp,
            stage_notes,
        })?)
    };
    let typeset = |report: &court::doc::Document| -> Result<[OutputFile; 2], Error> {
        let html = write_atomic(dir, "report.html", court::html::render(report).as_bytes())?;
        let pdf = write_atomic(
            dir,
            "report.pdf",
            &court::pdf::render(report, &run_timestamp)?,
        )?;
        Ok([html, pdf])
    };
    let counts = counts_of(&stages.ingested.sources, ledger_rows);

    // Then the writing. The report is typeset on a thread of its own while the tables are
    // written when memory allows both at once ([`typeset_beside_tables`]). Otherwise it is
    // built once the tables are written (the trace let go), and typeset once the ledger and
    // the stages' frames are let go too, so no two of these peaks coincide.
    let with_report = stages.last >= Stage::Schedule;
    let beside = with_report
        && typeset_beside_tables(
            ledger_rows,
            budget::available().ok().flatten().map(|a| a.bytes),
        );
    let mut outputs;
    if beside {
        let report = build_report(&stages, trace_tables.as_ref(), &stage_notes)?;
        let (written, typeset) = std::thread::scope(|scope| {
            let typesetter = scope.spawn(|| typeset(&report));
            let written = write_tables(
                case,
                dir,
                log,
                &mut stages,
                trace_tables.as_ref(),
                &reference_inputs,
            );
            (written, typesetter.join())
        });
        outputs = written?;
        match typeset {
            Ok(files) => outputs.extend(files?),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        log.step("report.html and report.pdf (typeset beside the tables: the wait for them)");
    } else {
        outputs = write_tables(
            case,
            dir,
            log,
            &mut stages,
            trace_tables.as_ref(),
            &reference_inputs,
        )?;
        if with_report {
            let report = build_report(&stages, trace_tables.as_ref(), &stage_notes)?;
            log.step("the court report built");
            drop(trace_tables);
            stages.verified = None;
            stages.found = None;
            stages.ingested.ledger = DataFrame::empty();
            crate::give_back_free_memory();
            log.step("the stages' frames let go");
            outputs.extend(typeset(&report)?);
            log.step("report.html and report.pdf (the report built and typeset after the tables)");
        }
    }
    if with_report {
        stage_notes.push(
            "report: report.html and report.pdf (schedules, method, integrity, charts, findings, sources)".into(),
        );
    }

    let manifest = Manifest {
        tool: Tool::this(),
        run_timestamp,
        run_timestamp_source,
        case: case_info(case, &case_bytes),
        stages: stage_names,
        stage_notes: stage_notes.clone(),
        inputs,
        layouts,
        rules,
        counts: counts.clone(),
        outputs: outputs.clone(),
    };
    write_atomic(dir, "manifest.json", &manifest.to_bytes())?;
    log.step("manifest.json");

    Ok(RunSummary {
        case_reference: case.reference.clone(),
        out_dir: dir.clone(),
        sources: stages.ingested.sources.clone(),
        ledger_rows: counts.ledger_rows,
        rejected: counts.rejected,
        outputs,
        stage_notes,
        run_notes: Vec::new(),
    })
}

/// The sources as the manifest lists its inputs.
pub(crate) fn source_inputs(sources: &[SourceReport]) -> Vec<Input> {
    sources
        .iter()
        .map(|s| Input {
            role: "source".into(),
            path: s.source_file.clone(),
            sha256: s.sha256.clone(),
            size_bytes: s.size_bytes,
        })
        .collect()
}

/// The record accounting over `sources`, and the ledger's rows.
pub(crate) fn counts_of(sources: &[SourceReport], ledger_rows: usize) -> Counts {
    Counts {
        sources: sources.len(),
        records_read: sources.iter().map(|s| s.records_read).sum(),
        accepted: sources.iter().map(|s| s.accepted).sum(),
        rejected: sources.iter().map(|s| s.rejected).sum(),
        skipped: sources.iter().map(|s| s.skipped).sum(),
        ledger_rows,
    }
}

/// The layouts `sources` were read with, in the registry's order.
pub(crate) fn layouts_used(registry: &Registry, sources: &[SourceReport]) -> Vec<LayoutUse> {
    let used: BTreeSet<&str> = sources.iter().map(|s| s.layout.as_str()).collect();
    registry
        .iter()
        .filter(|l| used.contains(l.id.as_str()))
        .map(|l| LayoutUse {
            id: l.id.clone(),
            version: l.version,
            origin: l.origin.clone(),
            sha256: l.sha256.clone(),
        })
        .collect()
}

/// The case file's bytes, read again for its hash.
pub(crate) fn read_case_file(case: &Case) -> Result<Vec<u8>, Error> {
    std::fs::read(&case.path).map_err(|e| {
        Error::Usage(format!(
            "case file {} cannot be re-read: {e}",
            case.path.display()
        ))
    })
}

/// The case as the manifest describes it.
pub(crate) fn case_info(case: &Case, case_bytes: &[u8]) -> CaseInfo {
    CaseInfo {
        file: case
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha256_hex(case_bytes),
        reference: case.reference.clone(),
        base_currency: case.base_currency.clone(),
        jurisdiction: case.jurisdiction.clone(),
        lifestyle: case.lifestyle,
        proceedings_started: case.proceedings_started.to_string(),
        conviction: case.conviction.map(|d| d.to_string()),
        valuation: case.valuation.map(|d| d.to_string()),
    }
}

/// First rows of `trace_summary.csv` the court report and the workbook show.
const TRACE_SUMMARY_HEAD: usize =
    if court::build::MAX_TABLE_ROWS > crate::report::xlsx_out::MAX_COPIED_ROWS {
        court::build::MAX_TABLE_ROWS
    } else {
        crate::report::xlsx_out::MAX_COPIED_ROWS
    };

/// Ledgers up to this many rows may have their court report typeset beside the tables
/// being written. Typesetting holds working memory of its own, and beside the tables it
/// adds to their peak instead of reusing what they let go. Measured end to end
/// (docs/performance.md, "Typesetting beside the tables"): at 104,052 rows 6.3–6.9 s →
/// 4.8–5.2 s for 50–70 MB more; at 1,046,495 rows 20.4–21.7 s → 15.2–16.3 s for 1.2–1.5 GB
/// more; at 1,904,339 rows 34.2 s → 31.8 s for 2.4 GB more, not worth it. Above this size
/// the report is typeset after the tables, once the ledger and the stages' frames are let go.
const TYPESET_BESIDE_UP_TO_ROWS: usize = 1_200_000;

/// Memory that must be free, when the tables are about to be written, for the report to be
/// typeset beside them: the 1M-row measurement with a margin.
const TYPESET_BESIDE_NEEDS_BYTES: u64 = 3_000_000_000;

/// Whether the report is typeset while the tables are written: a small enough ledger and
/// room in memory for both ([`budget::available`], read now, after the stages ran). The
/// memory check before a run estimates the other way round, one after the other; this
/// only spends memory that is free. The outputs are the same bytes either way.
fn typeset_beside_tables(ledger_rows: usize, available_bytes: Option<u64>) -> bool {
    ledger_rows <= TYPESET_BESIDE_UP_TO_ROWS
        && available_bytes.is_some_and(|b| b >= TYPESET_BESIDE_NEEDS_BYTES)
}

/// The trace's tables written as frames, and the elected method's flows for the report.
struct TraceTables {
    flows: DataFrame,
    /// The first rows of `trace_summary.csv`, for the report and the workbook.
    summary: DataFrame,
    /// How many rows `trace_summary.csv` has.
    summary_rows: usize,
    balances: DataFrame,
    origins: DataFrame,
    notes: DataFrame,
    elected: Option<&'static str>,
}

/// Every output but the court report and the manifest, in the manifest's order: the
/// ledger, rejects, skipped rows and sources, then each stage's tables.
fn write_tables(
    case: &Case,
    dir: &Path,
    log: &mut StageLog,
    stages: &mut Stages<'_>,
    trace: Option<&TraceTables>,
    reference_inputs: &[Input],
) -> Result<Vec<OutputFile>, Error> {
    log.step("preparing the outputs");
    // The trace's two large files first, and the trace let go once they are written: the
    // ledger's files, written next, then never coexist with it (at 10M rows the trace holds
    // about 1 GB). Each is its own file, so the order of writing changes no byte; the
    // manifest lists them in their place below.
    let mut trace_files = Vec::new();
    if let (Some((parts, _)), Some(_)) = (stages.trace_parts.take(), trace) {
        let mut flows = AtomicWriter::create(dir, "trace_flows.csv")?;
        let mut summary = AtomicWriter::create(dir, "trace_summary.csv")?;
        parts.finish(&mut flows, &mut summary)?;
        trace_files.push(log.wrote(flows.finish()?));
        trace_files.push(log.wrote(summary.finish()?));
    }
    if let (Some(t), Some(_)) = (stages.traced.take(), trace) {
        // Each is written row by row on one thread, reading the same trace: side by side.
        // The first error in file order is reported.
        let (flows, summary) = std::thread::scope(|scope| {
            let summary = scope.spawn(|| write_trace_summary_csv(dir, &t));
            let flows = write_trace_flows_csv(dir, t.flow_rows(None));
            (flows, summary.join())
        });
        let summary = summary.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        trace_files.push(log.wrote(flows?));
        trace_files.push(log.wrote(summary?));
    }
    let mut outputs = Vec::new();
    let metadata = ledger_metadata(case, &stages.ingested.sources);
    if let Some((parts, _)) = stages.ledger_parts.take() {
        // Both files from the batches' parts, in one pass over them.
        let mut parquet = AtomicWriter::create(dir, "ledger.parquet")?;
        let mut csv = AtomicWriter::create(dir, "ledger.csv")?;
        parts.finish(&mut csv, &mut parquet, metadata)?;
        outputs.push(log.wrote(parquet.finish()?));
        outputs.push(log.wrote(csv.finish()?));
    } else {
        let ledger = stages.ledger();
        let parquet = parquet_out::to_parquet_bytes("ledger.parquet", ledger, metadata)?;
        outputs.push(log.wrote(write_atomic(dir, "ledger.parquet", &parquet)?));
        drop(parquet);
        outputs.push(log.wrote(write_frame_csv(dir, "ledger.csv", ledger)?));
    }
    let ingested = &stages.ingested;
    outputs.push(log.wrote(write_atomic(
        dir,
        "rejects.csv",
        &csv_out::rejects_csv(&ingested.rejects)?,
    )?));
    outputs.push(log.wrote(write_atomic(
        dir,
        "skipped.csv",
        &csv_out::skipped_csv(&ingested.skipped)?,
    )?));
    outputs.push(log.wrote(write_atomic(
        dir,
        "sources.csv",
        &csv_out::sources_csv(&ingested.sources)?,
    )?));
    if let Some(v) = stages.verified.as_ref() {
        for (name, frame) in [
            ("integrity.csv", &v.integrity),
            ("duplicates.csv", &v.duplicates),
            ("transfers.csv", &v.transfers),
        ] {
            outputs.push(log.wrote(write_frame_csv(dir, name, frame)?));
        }
        let mut summary = v.summary.join("\n\n");
        summary.push('\n');
        outputs.push(log.wrote(write_atomic(
            dir,
            "integrity_summary.txt",
            summary.as_bytes(),
        )?));
    }
    if let Some(f) = stages.found.as_ref() {
        let evidence_meta = vec![(
            "proceeds.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )];
        outputs.push(log.wrote(write_frame_csv(dir, "findings.csv", &f.findings)?));
        outputs.push(log.wrote(write_atomic(
            dir,
            "findings.parquet",
            &parquet_out::to_parquet_bytes("findings.parquet", &f.findings, evidence_meta)?,
        )?));
        outputs.push(log.wrote(write_frame_csv(dir, "finding_evidence.csv", &f.evidence)?));
    }
    // The trace's files in their place: the two written above, then its smaller tables.
    if let Some(frames) = trace.filter(|_| !trace_files.is_empty()) {
        outputs.append(&mut trace_files);
        for (name, frame) in [
            ("trace_balances.csv", &frames.balances),
            ("trace_origins.csv", &frames.origins),
            ("trace_notes.csv", &frames.notes),
        ] {
            outputs.push(log.wrote(write_frame_csv(dir, name, frame)?));
        }
    }
    if let Some(s) = stages.scheduled {
        for (name, frame) in [
            ("schedule_summary.csv", s.summary_frame()?),
            ("schedule_benefit.csv", s.benefit_frame()?),
            ("schedule_exclusions.csv", s.exclusions_frame()?),
            ("schedule_available_amount.csv", s.available_frame()?),
            ("schedule_tainted_gifts.csv", s.gifts_frame()?),
        ] {
            outputs.push(log.wrote(write_frame_csv(dir, name, &frame)?));
        }
        let xlsx = crate::report::xlsx_out::schedules_xlsx(&crate::report::xlsx_out::XlsxInput {
            schedules: s,
            trace_summary: trace.map(|t| &t.summary),
            trace_summary_rows: trace.map_or(0, |t| t.summary_rows),
            integrity: stages.verified.as_ref().map(|v| &v.integrity),
            findings: stages.found.as_ref().map(|f| &f.findings),
            sources: &ingested.sources,
            inputs: reference_inputs,
            base_currency: &case.base_currency,
        })?;
        outputs.push(log.wrote(write_atomic(dir, "schedules.xlsx", &xlsx)?));
    }
    Ok(outputs)
}

/// The key-value metadata of `ledger.parquet`: the tool's version, the case, its base
/// currency and each source's SHA-256.
pub fn ledger_metadata(case: &Case, sources: &[SourceReport]) -> Vec<(String, String)> {
    let mut metadata = vec![
        (
            "proceeds.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "proceeds.case_reference".to_string(),
            case.reference.clone(),
        ),
        (
            "proceeds.base_currency".to_string(),
            case.base_currency.clone(),
        ),
    ];
    for s in sources {
        metadata.push((
            format!("proceeds.source.{}", s.source_file),
            s.sha256.clone(),
        ));
    }
    metadata
}

/// How many rows of a string column equal `value`.
fn count_value(df: &DataFrame, column: &str, value: &str) -> usize {
    df.column(column)
        .ok()
        .and_then(|c| {
            c.str()
                .ok()
                .map(|s| s.iter().filter(|v| *v == Some(value)).count())
        })
        .unwrap_or(0)
}

/// Outputs must never land beside a disclosed file: an output named like an input (a
/// source called `ledger.csv`) would overwrite evidence. A folder holding the case file or
/// any source, reference or layout file is refused as the output folder.
pub(crate) fn refuse_output_beside_inputs(case: &Case, dir: &Path) -> Result<(), Error> {
    let Ok(out) = std::fs::canonicalize(dir) else {
        return Ok(());
    };
    let inputs = std::iter::once(case.path.clone())
        .chain(case.sources.iter().map(|s| s.path.resolved.clone()))
        .chain(case.reference_data.iter().map(|r| r.path.resolved.clone()))
        .chain(case.layout_files.iter().map(|l| l.resolved.clone()));
    for input in inputs {
        let parent = std::fs::canonicalize(&input)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        if parent.as_deref() == Some(out.as_path()) {
            return Err(Error::Usage(format!(
                "output folder {} holds the case input {}; choose a folder of its own (e.g. --out out/run1) so no disclosed file can be overwritten",
                dir.display(),
                input.display()
            )));
        }
    }
    Ok(())
}

/// The sources appendix of the court report: the case file, every source and reference
/// file, the layouts used, the rule files and the jurisdiction file, each with its SHA-256.
fn report_inputs(
    case: &Case,
    case_bytes: &[u8],
    inputs: &[Input],
    layouts: &[LayoutUse],
    stages: &Stages<'_>,
) -> Vec<Input> {
    let mut all = vec![Input {
        role: "case file".into(),
        path: case
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sha256_hex(case_bytes),
        size_bytes: case_bytes.len() as u64,
    }];
    all.extend(inputs.iter().cloned());
    for l in layouts {
        all.push(Input {
            role: "layout".into(),
            path: format!("{} v{} ({})", l.id, l.version, l.origin),
            sha256: l.sha256.clone(),
            size_bytes: 0,
        });
    }
    if let Some(f) = &stages.found {
        let mut seen = BTreeSet::new();
        for r in &f.rules {
            if seen.insert(r.origin.clone()) {
                all.push(Input {
                    role: "rules".into(),
                    path: r.origin.clone(),
                    sha256: r.file_sha256.clone(),
                    size_bytes: 0,
                });
            }
        }
    }
    if let Some(s) = stages.scheduled {
        all.push(Input {
            role: "jurisdiction".into(),
            path: format!("{} v{}", s.jurisdiction_id, s.jurisdiction_version),
            sha256: s.jurisdiction_sha256.clone(),
            size_bytes: 0,
        });
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_typeset_beside_the_tables_only_for_a_small_ledger_with_memory_free() {
        // 1M rows with 8 GB free: beside.
        assert!(typeset_beside_tables(1_000_000, Some(8_000_000_000)));
        // At the row limit and exactly the memory needed: still beside.
        assert!(typeset_beside_tables(1_200_000, Some(3_000_000_000)));
        // One row over, however much memory: after the tables.
        assert!(!typeset_beside_tables(1_200_001, Some(64_000_000_000)));
        // Less memory free than typesetting needs: after the tables.
        assert!(!typeset_beside_tables(1_000, Some(2_999_999_999)));
        // Memory that cannot be read is not taken to be free.
        assert!(!typeset_beside_tables(1_000, None));
    }
}
