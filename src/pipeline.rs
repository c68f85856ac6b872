//! The pipeline: load the case, run the stages in order, write the outputs.
//!
//! Stages so far: ingest. Each later stage (verify, detect, trace, schedule) reads the
//! frames the earlier ones produced and adds its own outputs; `run` runs every stage that
//! exists, and each sub-command runs the stages up to and including its own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::case::{Case, ResolveOptions};
use crate::error::Error;
use crate::hash::{sha256_file, sha256_hex};
use crate::ingest::detect::detect;
use crate::ingest::{ingest_case, Ingested, Registry, SourceReport};
use crate::report::manifest::{CaseInfo, Counts, Input, LayoutUse, Manifest, Tool};
use crate::report::{csv_out, ensure_dir, parquet_out, write_atomic, OutputFile};

/// How a run is carried out.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub out_dir: PathBuf,
    /// Fixed run timestamp for reproducible manifests; otherwise taken from the
    /// environment (`PROCEEDS_RUN_TIMESTAMP`, `SOURCE_DATE_EPOCH`) or the clock.
    pub run_timestamp: Option<String>,
    pub show_progress: bool,
    pub resolve: ResolveOptions,
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
}

/// Run every stage that exists over a case and write the outputs.
pub fn run(case_path: &Path, options: &RunOptions) -> Result<RunSummary, Error> {
    let case = Case::load(case_path, options.resolve)?;
    let registry = Registry::for_case(&case)?;
    let ingested = ingest_case(&case, &registry, options.show_progress)?;
    write_ingest_outputs(&case, &registry, &ingested, options, &["ingest"])
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
    let summary = write_ingest_outputs(&case, &registry, &ingested, options, &["ingest"])?;
    Ok((summary, layout))
}

fn resolve_timestamp(fixed: Option<&str>) -> (String, String) {
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

fn write_ingest_outputs(
    case: &Case,
    registry: &Registry,
    ingested: &Ingested,
    options: &RunOptions,
    stages: &[&str],
) -> Result<RunSummary, Error> {
    let dir = &options.out_dir;
    ensure_dir(dir)?;
    let mut outputs = Vec::new();

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
    for s in &ingested.sources {
        metadata.push((
            format!("proceeds.source.{}", s.source_file),
            s.sha256.clone(),
        ));
    }
    let parquet = parquet_out::to_parquet_bytes("ledger.parquet", &ingested.ledger, metadata)?;
    outputs.push(write_atomic(dir, "ledger.parquet", &parquet)?);
    drop(parquet);
    let ledger_csv = csv_out::frame_to_csv("ledger.csv", &ingested.ledger)?;
    outputs.push(write_atomic(dir, "ledger.csv", &ledger_csv)?);
    drop(ledger_csv);
    outputs.push(write_atomic(
        dir,
        "rejects.csv",
        &csv_out::rejects_csv(&ingested.rejects)?,
    )?);
    outputs.push(write_atomic(
        dir,
        "skipped.csv",
        &csv_out::skipped_csv(&ingested.skipped)?,
    )?);
    outputs.push(write_atomic(
        dir,
        "sources.csv",
        &csv_out::sources_csv(&ingested.sources)?,
    )?);

    let mut inputs = Vec::new();
    for s in &ingested.sources {
        inputs.push(Input {
            role: "source".into(),
            path: s.source_file.clone(),
            sha256: s.sha256.clone(),
            size_bytes: s.size_bytes,
        });
    }
    for r in &case.reference_data {
        let (sha256, size_bytes) = sha256_file(&r.path.resolved).map_err(|e| {
            Error::Usage(format!(
                "reference file {} cannot be read: {e}",
                r.path.written
            ))
        })?;
        inputs.push(Input {
            role: r.role.clone(),
            path: r.path.written.clone(),
            sha256,
            size_bytes,
        });
    }
    let used: BTreeSet<&str> = ingested.sources.iter().map(|s| s.layout.as_str()).collect();
    let layouts = registry
        .iter()
        .filter(|l| used.contains(l.id.as_str()))
        .map(|l| LayoutUse {
            id: l.id.clone(),
            version: l.version,
            origin: l.origin.clone(),
            sha256: l.sha256.clone(),
        })
        .collect();
    let case_bytes = std::fs::read(&case.path).map_err(|e| {
        Error::Usage(format!(
            "case file {} cannot be re-read: {e}",
            case.path.display()
        ))
    })?;
    let (run_timestamp, run_timestamp_source) = resolve_timestamp(options.run_timestamp.as_deref());
    let counts = Counts {
        sources: ingested.sources.len(),
        records_read: ingested.sources.iter().map(|s| s.records_read).sum(),
        accepted: ingested.sources.iter().map(|s| s.accepted).sum(),
        rejected: ingested.sources.iter().map(|s| s.rejected).sum(),
        skipped: ingested.sources.iter().map(|s| s.skipped).sum(),
        ledger_rows: ingested.ledger.height(),
    };
    let manifest = Manifest {
        tool: Tool {
            name: "proceeds".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        run_timestamp,
        run_timestamp_source,
        case: CaseInfo {
            file: case
                .path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: sha256_hex(&case_bytes),
            reference: case.reference.clone(),
            base_currency: case.base_currency.clone(),
            jurisdiction: case.jurisdiction.clone(),
            lifestyle: case.lifestyle,
            proceedings_started: case.proceedings_started.to_string(),
            conviction: case.conviction.map(|d| d.to_string()),
            valuation: case.valuation.map(|d| d.to_string()),
        },
        stages: stages.iter().map(|s| s.to_string()).collect(),
        inputs,
        layouts,
        rules: Vec::new(),
        counts: counts.clone(),
        outputs: outputs.clone(),
    };
    write_atomic(dir, "manifest.json", &manifest.to_bytes())?;

    Ok(RunSummary {
        case_reference: case.reference.clone(),
        out_dir: dir.clone(),
        sources: ingested.sources.clone(),
        ledger_rows: counts.ledger_rows,
        rejected: counts.rejected,
        outputs,
    })
}
