//! Per-stage benchmark on a synthetic case (`proceeds synth`), each stage timed beside the
//! reference it is judged against, in the same process.
//!
//! ```text
//! cargo bench --bench stages -- ingest   CASE_DIR
//! cargo bench --bench stages -- verify   CASE_DIR RUN_DIR
//! cargo bench --bench stages -- detect   CASE_DIR RUN_DIR
//! cargo bench --bench stages -- trace    CASE_DIR RUN_DIR
//! cargo bench --bench stages -- schedule CASE_DIR RUN_DIR
//! cargo bench --bench stages -- e2e      CASE_DIR RUN_DIR
//! cargo bench --bench stages -- prepare  CASE_DIR RUN_DIR
//! cargo bench --bench stages -- batches  CASE_DIR RUN_DIR
//! ```
//!
//! `CASE_DIR` is a case written by `proceeds synth --rows N`; `RUN_DIR` is the output folder
//! of `proceeds run CASE_DIR/case.toml --out RUN_DIR` (the `e2e` stage writes it), whose
//! `ledger.parquet`, `transfers.csv` and `finding_evidence.csv` feed the later stages, so
//! each stage runs alone in its process and its peak memory is its own. `prepare` writes
//! just those three files (ingest, verify, detect; untimed) when end to end is not run.
//! `benches/run.sh` does all of this at several sizes and prints one table.
//!
//! References: for ingest and end to end, polars reading the same statement files with a
//! plain all-string schema (one reader per file, as ingest does); for verify, detect,
//! trace and schedule, polars reading `RUN_DIR/ledger.parquet`. Files are read once before
//! timing so both sides find them in the page cache. Detect, trace and schedule are then
//! timed on that ledger put in one chunk per column, as a run hands it to them (the read
//! gives dozens of chunks; `BENCH_ON_PARQUET_CHUNKS=1` also times detect and trace once on
//! those). `BENCH_RULE_TIMES=1` prints, for detect's last run, how long its preparation,
//! keyword columns and each rule (plan + findings) took (`Timings::line`).
//! `BENCH_RULES=TRF-005,MUL-001` runs only those rules in detect (to profile one rule; the
//! line it prints is then not the all-rules figure the target is judged on).
//!
//! Each measurement is one line a script can collect:
//! `BENCH stage=detect format=all rows=1000000 seconds=1.234 ref=parquet_read ref_seconds=0.301`
//! The ratio reported is stage time ÷ reference time (targets: ingest ≤ 2, i.e. at least
//! half of polars' throughput; detect ≤ 3; trace ≤ 5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use polars::io::csv::read::CsvReadOptions;
use polars::prelude::*;
use proceeds::case::{Case, ResolveOptions};
use proceeds::confiscation::{schedule, Jurisdiction, ReferenceData};
use proceeds::ingest::{ingest_case, Registry};
use proceeds::pipeline::{self, RunOptions};
use proceeds::rules::{rules_for_case, run_rules, Findings, Reference};
use proceeds::trace::{trace, Trace, TraceInput};
use proceeds::verify::verify;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One measurement, printed as a `BENCH` line.
struct Line<'a> {
    stage: &'a str,
    format: &'a str,
    rows: usize,
    seconds: f64,
    reference: &'a str,
    ref_seconds: f64,
    extra: String,
}

impl Line<'_> {
    fn print(&self) {
        println!(
            "BENCH stage={} format={} rows={} seconds={:.3} rows_per_s={:.0} ref={} ref_seconds={:.3} ratio={:.2}{}{}",
            self.stage,
            self.format,
            self.rows,
            self.seconds,
            self.rows as f64 / self.seconds.max(1e-9),
            self.reference,
            self.ref_seconds,
            self.seconds / self.ref_seconds.max(1e-9),
            if self.extra.is_empty() { "" } else { " " },
            self.extra
        );
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (stage, case_dir) = match (args.first(), args.get(1)) {
        (Some(s), Some(d)) => (s.as_str(), PathBuf::from(d)),
        _ => {
            eprintln!("usage: stages STAGE CASE_DIR [RUN_DIR] (see benches/stages.rs)");
            std::process::exit(2);
        }
    };
    let run_dir = args.get(2).map(PathBuf::from);
    let need_run_dir = || {
        run_dir
            .clone()
            .ok_or_else(|| format!("stage {stage} needs RUN_DIR (the output of proceeds run)"))
    };
    if cfg!(debug_assertions) {
        eprintln!("note: debug assertions on: not a release build");
    }
    let case = Case::load(&case_dir.join("case.toml"), ResolveOptions::default())?;
    match stage {
        "ingest" => bench_ingest(&case),
        "verify" => bench_verify(&case, &need_run_dir()?),
        "detect" => bench_detect(&case, &need_run_dir()?),
        "trace" => bench_trace(&case, &need_run_dir()?),
        "schedule" => bench_schedule(&case, &need_run_dir()?),
        "e2e" => bench_e2e(&case, &case_dir, &need_run_dir()?),
        "prepare" => prepare(&case, &need_run_dir()?),
        "batches" => bench_batches(&case, &need_run_dir()?),
        other => Err(format!(
            "unknown stage {other:?}: ingest, verify, detect, trace, schedule, e2e, prepare or batches"
        )
        .into()),
    }
}

/// Runs of each timed section; the best is kept. `BENCH_REPEAT`, default 3 up to two
/// million rows and 1 above (end to end always runs once: it writes the run folder).
fn repeats(rows: usize) -> usize {
    std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if rows <= 2_000_000 { 3 } else { 1 })
        .max(1)
}

/// Best time of `runs` runs of `f`, and the last result.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut best = f64::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f()?;
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    Ok((best, last.ok_or("no run")?))
}

/// Processor time this process has used so far (user + system, all threads), in seconds,
/// from `/proc/self/stat`; 0 where that cannot be read. Its resolution is the kernel's clock
/// tick (usually 10 ms).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses and may hold spaces): utime
    // and stime are the 12th and 13th of them.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Read every file once, untimed, so both sides of a comparison start from the page cache.
fn warm(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        std::hint::black_box(std::fs::read(p)?);
    }
    Ok(())
}

/// polars reading statement files with an all-string schema, one reader per file; the
/// layout decides only where the header is. Returns rows read.
fn polars_read_csv(files: &[(PathBuf, String)]) -> Result<usize> {
    let mut rows = 0;
    for (path, layout) in files {
        let options = CsvReadOptions::default()
            .with_has_header(layout != "hsbc")
            .with_skip_lines(usize::from(layout == "natwest"))
            .with_infer_schema_length(Some(0));
        let df = options
            .try_into_reader_with_file_path(Some(path.clone()))?
            .finish()?;
        rows += df.height();
    }
    Ok(rows)
}

fn source_files(case: &Case) -> Vec<(PathBuf, String)> {
    case.sources
        .iter()
        .map(|s| (s.path.resolved.clone(), s.layout.clone()))
        .collect()
}

fn bench_ingest(case: &Case) -> Result<()> {
    let registry = Registry::for_case(case)?;
    let files = source_files(case);
    warm(&files.iter().map(|f| f.0.clone()).collect::<Vec<_>>())?;
    let mut layouts: BTreeMap<String, Vec<(PathBuf, String)>> = BTreeMap::new();
    for f in &files {
        layouts.entry(f.1.clone()).or_default().push(f.clone());
    }
    // Start polars' thread pool before anything is timed.
    polars_read_csv(&files[..files.len().min(1)])?;
    let (mut ours, mut theirs, mut total_rows) = (0.0, 0.0, 0);
    let runs = repeats(files.len() * 750);
    for (layout, files) in &layouts {
        let (ref_seconds, polars_rows) = best_of(runs, || polars_read_csv(files))?;
        let mut one = case.clone();
        one.sources.retain(|s| &s.layout == layout);
        let (seconds, rows) = best_of(runs, || {
            Ok(ingest_case(&one, &registry, false)?.ledger.height())
        })?;
        Line {
            stage: "ingest",
            format: layout,
            rows,
            seconds,
            reference: "polars_csv_all_string",
            ref_seconds,
            extra: format!("files={} polars_rows={polars_rows}", files.len()),
        }
        .print();
        ours += seconds;
        theirs += ref_seconds;
        total_rows += rows;
    }
    Line {
        stage: "ingest",
        format: "all",
        rows: total_rows,
        seconds: ours,
        reference: "polars_csv_all_string",
        ref_seconds: theirs,
        extra: format!("files={}", files.len()),
    }
    .print();
    Ok(())
}

fn read_parquet(run_dir: &Path) -> Result<(f64, DataFrame)> {
    let path = run_dir.join("ledger.parquet");
    warm(std::slice::from_ref(&path))?;
    let rows = ParquetReader::new(std::fs::File::open(&path)?)
        .num_rows()
        .unwrap_or(0);
    // As many runs as the stages get (a first read in a fresh process pays for its memory
    // the way a stage's single run does). Each read but the last is dropped at once, so no
    // two copies of the ledger are held.
    let read =
        || -> Result<DataFrame> { Ok(ParquetReader::new(std::fs::File::open(&path)?).finish()?) };
    let runs = repeats(rows);
    let mut best = f64::MAX;
    if runs > 1 {
        best = best_of(runs - 1, || read().map(drop))?.0;
    }
    let (last, ledger) = best_of(1, read)?;
    Ok((best.min(last), ledger))
}

/// The ledger as a run hands it to its stages: one chunk per column (ingest builds it so).
/// A parquet read gives it in many chunks (39 at 10M rows); the stages are timed on the
/// ledger as a run holds it (see [`on_parquet_chunks`] for the other figure). Returns the
/// ledger and the number of chunks it was read in.
///
/// The texts ingest writes row by row (`col::WRITTEN_ROW_BY_ROW`) are written again the
/// same way: the parquet read leaves each row pointing into its row group's dictionary of
/// values, so a stage reading them in row order would jump about memory as no run does.
fn as_a_run_holds_it(mut ledger: DataFrame) -> Result<(DataFrame, usize)> {
    let chunks = ledger
        .columns()
        .iter()
        .map(|c| c.n_chunks())
        .max()
        .unwrap_or(1);
    // Column by column, so the ledger is never held twice.
    let names: Vec<PlSmallStr> = ledger.get_column_names_owned();
    for name in names {
        let column = ledger.column(&name)?;
        let whole = if proceeds::ledger::col::WRITTEN_ROW_BY_ROW.contains(&name.as_str())
            && column.null_count() < column.len()
        {
            let mut row_by_row = StringChunkedBuilder::new(name.clone(), column.len());
            for value in column.str()?.iter() {
                row_by_row.append_option(value);
            }
            row_by_row.finish().into_column()
        } else {
            column.rechunk()
        };
        ledger.with_column(whole)?;
    }
    Ok((ledger, chunks))
}

/// With `BENCH_ON_PARQUET_CHUNKS=1`, one run of `f` on the ledger as the parquet read gives
/// it, printed as ` seconds_on_parquet_chunks=…`; otherwise nothing. Off by default: the
/// allocator keeps that run's memory, so it would raise the stage's peak RSS.
fn on_parquet_chunks(f: impl FnMut() -> Result<()>) -> Result<String> {
    if std::env::var_os("BENCH_ON_PARQUET_CHUNKS").is_none() {
        return Ok(String::new());
    }
    let (seconds, ()) = best_of(1, f)?;
    Ok(format!(" seconds_on_parquet_chunks={seconds:.3}"))
}

/// An output CSV of a run, every column a string (transfers.csv, finding_evidence.csv).
fn read_output_csv(path: &Path, columns: &[&str]) -> Result<DataFrame> {
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))?
        .finish()?;
    Ok(df.select(columns.iter().copied())?)
}

fn bench_verify(case: &Case, run_dir: &Path) -> Result<()> {
    let (ref_seconds, parquet) = read_parquet(run_dir)?;
    drop(parquet);
    let registry = Registry::for_case(case)?;
    let ingested = ingest_case(case, &registry, false)?;
    let rows = ingested.ledger.height();
    let (seconds, verified) = best_of(repeats(rows), || {
        Ok(verify(
            case,
            ingested.ledger.clone(),
            &ingested.statements,
            &case.verify,
        )?)
    })?;
    Line {
        stage: "verify",
        format: "all",
        rows,
        seconds,
        reference: "parquet_read",
        ref_seconds,
        extra: format!(
            "transfers={} duplicates={}",
            verified.transfers.height(),
            verified.duplicates.height()
        ),
    }
    .print();
    Ok(())
}

/// The case's rules, or only those `BENCH_RULES` names.
fn bench_rules(case: &Case) -> Result<Vec<proceeds::rules::Rule>> {
    let mut rules = rules_for_case(case)?;
    if let Ok(only) = std::env::var("BENCH_RULES") {
        let only: Vec<&str> = only.split(',').map(str::trim).collect();
        rules.retain(|r| only.contains(&r.id.as_str()));
    }
    Ok(rules)
}

fn bench_detect(case: &Case, run_dir: &Path) -> Result<()> {
    let (ref_seconds, read) = read_parquet(run_dir)?;
    let rules = bench_rules(case)?;
    let detect = |ledger: &DataFrame| -> Result<Findings> {
        let rules = bench_rules(case)?;
        let reference = Reference::for_case(case)?;
        Ok(run_rules(ledger, case, &rules, &reference)?)
    };
    let on_chunks = on_parquet_chunks(|| detect(&read).map(drop))?;
    let (ledger, chunks) = as_a_run_holds_it(read)?;
    let mut cpu = Vec::new();
    let (seconds, found) = best_of(repeats(ledger.height()), || {
        let before = process_cpu_seconds();
        let found = detect(&ledger);
        cpu.push(process_cpu_seconds() - before);
        found
    })?;
    if std::env::var_os("BENCH_RULE_TIMES").is_some() {
        println!("# detect, last run: {}", found.timings.line());
        let cpu: Vec<String> = cpu.iter().map(|s| format!("{s:.2}")).collect();
        println!(
            "# detect, processor seconds (user + system) per run: {}",
            cpu.join(" ")
        );
    }
    Line {
        stage: "detect",
        format: "all",
        rows: ledger.height(),
        seconds,
        reference: "parquet_read",
        ref_seconds,
        extra: format!(
            "rules={} findings={} evidence={} parquet_chunks={chunks}{on_chunks}",
            rules.len(),
            found.findings.height(),
            found.evidence.height()
        ),
    }
    .print();
    Ok(())
}

fn bench_trace(case: &Case, run_dir: &Path) -> Result<()> {
    let spec = case
        .tracing
        .clone()
        .ok_or("the case has no [tracing] table (write it with proceeds synth)")?;
    let (ref_seconds, read) = read_parquet(run_dir)?;
    let transfers = read_output_csv(
        &run_dir.join("transfers.csv"),
        &["transfer_id", "debit_txn_id", "credit_txn_id"],
    )?;
    let evidence = read_output_csv(
        &run_dir.join("finding_evidence.csv"),
        &["rule_id", "txn_id"],
    )?;
    let run = |ledger: &DataFrame| -> Result<Trace> {
        Ok(trace(&TraceInput {
            ledger,
            transfers: Some(&transfers),
            finding_evidence: Some(&evidence),
            spec: &spec,
        })?)
    };
    let on_chunks = on_parquet_chunks(|| run(&read).map(drop))?;
    let (ledger, chunks) = as_a_run_holds_it(read)?;
    let (seconds, traced) = best_of(repeats(ledger.height()), || run(&ledger))?;
    let t = Instant::now();
    let frames = [
        // As a run writes it: row by row, here into nothing.
        {
            let mut count = 0;
            proceeds::report::csv_out::write_trace_flows(
                traced.flow_rows(None).inspect(|_| count += 1),
                std::io::sink(),
            )?;
            count
        },
        traced.summary_frame()?.height(),
        traced.balances_frame()?.height(),
        traced.origins_frame()?.height(),
        traced.notes_frame()?.height(),
    ];
    let frame_seconds = t.elapsed().as_secs_f64();
    let steps: Vec<String> = traced
        .timings()
        .iter()
        .map(|(step, took)| format!("{}={:.3}", step.trim(), took.as_secs_f64()))
        .collect();
    Line {
        stage: "trace",
        format: "all",
        rows: ledger.height(),
        seconds,
        reference: "parquet_read",
        ref_seconds,
        extra: format!(
            "origins={} flows={} output_frames_seconds={frame_seconds:.3} parquet_chunks={chunks}{on_chunks} {}",
            traced.origin_txn_ids().len(),
            frames[0],
            steps.join(" ")
        ),
    }
    .print();
    Ok(())
}

fn bench_schedule(case: &Case, run_dir: &Path) -> Result<()> {
    let (ref_seconds, read) = read_parquet(run_dir)?;
    let (ledger, chunks) = as_a_run_holds_it(read)?;
    let transfers = read_output_csv(
        &run_dir.join("transfers.csv"),
        &[
            "transfer_id",
            "debit_txn_id",
            "credit_txn_id",
            "debit_account",
            "credit_account",
        ],
    )?;
    let (seconds, schedules) = best_of(repeats(ledger.height()), || {
        let reference = ReferenceData::load(case)?;
        let jurisdiction = Jurisdiction::by_id(&case.jurisdiction)?;
        Ok(schedule(
            case,
            &ledger,
            &transfers,
            None,
            &reference,
            &jurisdiction,
        )?)
    })?;
    Line {
        stage: "schedule",
        format: "all",
        rows: ledger.height(),
        seconds,
        reference: "parquet_read",
        ref_seconds,
        extra: format!(
            "benefit_lines={} parquet_chunks={chunks}",
            schedules.benefit_frame()?.height()
        ),
    }
    .print();
    Ok(())
}

fn bench_e2e(case: &Case, case_dir: &Path, run_dir: &Path) -> Result<()> {
    let files = source_files(case);
    warm(&files.iter().map(|f| f.0.clone()).collect::<Vec<_>>())?;
    polars_read_csv(&files[..files.len().min(1)])?;
    let (ref_seconds, _) = best_of(repeats(files.len() * 750), || polars_read_csv(&files))?;
    let t = Instant::now();
    let summary = pipeline::run(
        &case_dir.join("case.toml"),
        &RunOptions {
            out_dir: run_dir.to_path_buf(),
            run_timestamp: Some("2025-01-01T00:00:00Z".into()),
            // `E2E_NO_MEMORY_CHECK=1`: run a case the memory budget would refuse, to
            // measure what it really takes (`proceeds run --no-memory-check`).
            skip_memory_check: std::env::var_os("E2E_NO_MEMORY_CHECK").is_some(),
            // `E2E_BY_GROUPS=1`: the run in batches of linked accounts (`--by-groups`).
            by_groups: std::env::var_os("E2E_BY_GROUPS").is_some(),
            // Each stage's time and the peak memory so far, on standard error.
            log_stages: true,
            ..RunOptions::default()
        },
    )?;
    let seconds = t.elapsed().as_secs_f64();
    Line {
        stage: "e2e",
        format: if std::env::var_os("E2E_BY_GROUPS").is_some() {
            "by_groups"
        } else {
            "all"
        },
        rows: summary.ledger_rows,
        seconds,
        reference: "polars_csv_all_string",
        ref_seconds,
        extra: format!("outputs={}", summary.outputs.len()),
    }
    .print();
    Ok(())
}

/// Ingest, verify and detection batch by batch (`proceeds::batches::run`, batches of
/// `BENCH_BATCH_ROWS` rows, default `BATCH_ROWS`), and `ledger.csv` put together from the
/// batches' parts into `RUN_DIR/batches/ledger.csv` and `ledger.parquet` (with the other
/// tables the run writes, to compare with a whole run's); judged, as end to end is, against
/// polars reading the statement files. Its peak memory is the process's (`benches/run.sh`
/// reads it with `/usr/bin/time`).
fn bench_batches(case: &Case, run_dir: &Path) -> Result<()> {
    use proceeds::batches;
    let files = source_files(case);
    warm(&files.iter().map(|f| f.0.clone()).collect::<Vec<_>>())?;
    let (ref_seconds, _) = best_of(1, || polars_read_csv(&files))?;
    let max_rows: u64 = std::env::var("BENCH_BATCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(batches::BATCH_ROWS);
    let out_dir = run_dir.join("batches");
    let work = out_dir.join("work");
    std::fs::create_dir_all(&work)?;
    let registry = Registry::for_case(case)?;
    let t = Instant::now();
    let run = batches::run(
        case,
        &registry,
        &batches::RunPlan {
            work: work.clone(),
            max_rows,
            detect: true,
            available: None,
            scope: proceeds::ingest::budget::Scope::WithoutReport,
            trace: None,
            schedule: None,
            charts: false,
        },
    )?;
    let stages = t.elapsed().as_secs_f64();
    let mut csv = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(out_dir.join("ledger.csv"))?,
    );
    let mut parquet = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(out_dir.join("ledger.parquet"))?,
    );
    let metadata = pipeline::ledger_metadata(case, &run.sources);
    run.ledger.finish(&mut csv, &mut parquet, metadata)?;
    std::io::Write::flush(&mut parquet)?;
    // The other tables, to compare with a whole run's (`proceeds detect`).
    use proceeds::report::write_frame_csv;
    for (name, frame) in [
        ("integrity.csv", &run.integrity),
        ("duplicates.csv", &run.duplicates),
        ("transfers.csv", &run.transfers),
    ] {
        write_frame_csv(&out_dir, name, frame)?;
    }
    if let Some(f) = &run.found {
        write_frame_csv(&out_dir, "findings.csv", &f.findings)?;
        write_frame_csv(&out_dir, "finding_evidence.csv", &f.evidence)?;
    }
    let mut summary = run.summary.join("\n\n");
    summary.push('\n');
    proceeds::report::write_atomic(&out_dir, "integrity_summary.txt", summary.as_bytes())?;
    let seconds = t.elapsed().as_secs_f64();
    let findings = run.found.as_ref().map_or(0, |f| f.findings.height());
    Line {
        stage: "batches",
        format: "all",
        rows: run.ledger_rows,
        seconds,
        reference: "polars_csv_all_string",
        ref_seconds,
        extra: format!(
            "batches={} largest_batch_rows={} batch_rows={max_rows} stages_seconds={stages:.3} findings={findings} integrity={} transfers={}",
            run.batches,
            run.largest_batch_rows,
            run.integrity.height(),
            run.transfers.height()
        ),
    }
    .print();
    Ok(())
}

/// The inputs of the later stages, without the rest of a run's outputs: the verified
/// ledger (parquet), the matched transfers and the finding evidence, written by the same
/// writers the pipeline uses.
///
/// With `PREPARE_CHUNK_ACCOUNTS=N`, ingest and verify run over groups of about N accounts
/// (split where the controlling subject changes) and the results are stacked, so a case
/// larger than memory allows for one verify can still be prepared. Only for synthetic
/// cases: they plant internal transfers between one subject's accounts only, which stay in
/// one group. `seq` restarts in each group and is shifted past the previous groups', so it
/// is numbered as one ingest of the whole case would number it. Detection then runs over the
/// whole stacked ledger.
fn prepare(case: &Case, run_dir: &Path) -> Result<()> {
    use proceeds::report::{csv_out, parquet_out};
    std::fs::create_dir_all(run_dir)?;
    let registry = Registry::for_case(case)?;
    let chunk: usize = std::env::var("PREPARE_CHUNK_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let mut groups: Vec<Vec<String>> = vec![Vec::new()];
    let mut last_subject: Option<&Vec<String>> = None;
    for a in &case.accounts {
        let current = groups.last().map_or(0, Vec::len);
        if current >= chunk && last_subject != Some(&a.controlled_by) {
            groups.push(Vec::new());
        }
        if let Some(g) = groups.last_mut() {
            g.push(a.id.clone());
        }
        last_subject = Some(&a.controlled_by);
    }
    let mut ledger: Option<DataFrame> = None;
    let mut transfers: Option<DataFrame> = None;
    let mut seq_offset = 0u64;
    for group in &groups {
        let mut part = case.clone();
        part.sources
            .retain(|s| s.account.as_ref().is_none_or(|a| group.contains(a)));
        let ingested = ingest_case(&part, &registry, false)?;
        let rows_ingested = ingested.ledger.height() as u64;
        let verified = verify(&part, ingested.ledger, &ingested.statements, &part.verify)?;
        let seq_dtype = verified.ledger.column("seq")?.dtype().clone();
        let part_ledger = verified
            .ledger
            .lazy()
            .with_column(
                (col("seq").cast(DataType::UInt64) + lit(seq_offset))
                    .cast(seq_dtype)
                    .alias("seq"),
            )
            .collect()?;
        seq_offset += rows_ingested;
        match (&mut ledger, &mut transfers) {
            (Some(l), Some(t)) => {
                l.vstack_mut(&part_ledger)?;
                t.vstack_mut(&verified.transfers)?;
            }
            _ => {
                ledger = Some(part_ledger);
                transfers = Some(verified.transfers);
            }
        }
    }
    let (mut ledger, transfers) = (
        ledger.ok_or("the case has no sources")?,
        transfers.ok_or("the case has no sources")?,
    );
    ledger.rechunk_mut();
    let found = run_rules(
        &ledger,
        case,
        &rules_for_case(case)?,
        &Reference::for_case(case)?,
    )?;
    std::fs::write(
        run_dir.join("ledger.parquet"),
        parquet_out::to_parquet_bytes("ledger.parquet", &ledger, Vec::new())?,
    )?;
    std::fs::write(
        run_dir.join("transfers.csv"),
        csv_out::frame_to_csv("transfers.csv", &transfers)?,
    )?;
    std::fs::write(
        run_dir.join("finding_evidence.csv"),
        csv_out::frame_to_csv("finding_evidence.csv", &found.evidence)?,
    )?;
    println!(
        "prepared {} ledger rows in {} ({} groups of accounts)",
        ledger.height(),
        run_dir.display(),
        groups.len()
    );
    Ok(())
}
