//! `manifest.json`: what went in, what came out, with SHA-256 of each, the tool version,
//! layouts and rules used, and the parameters of the run.
//!
//! Paths are as written in the case file (inputs) or names inside the output folder
//! (outputs), never absolute, so the manifest of a case is the same on every machine.
//! The only wall-clock value is `run_timestamp`, whose origin is stated.

use serde::Serialize;

use super::OutputFile;

/// The whole manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub tool: Tool,
    /// When the run happened (RFC 3339), or the value fixed by flag or environment.
    pub run_timestamp: String,
    /// `--run-timestamp`, `PROCEEDS_RUN_TIMESTAMP`, `SOURCE_DATE_EPOCH` or `clock`.
    pub run_timestamp_source: String,
    pub case: CaseInfo,
    pub stages: Vec<String>,
    /// What each stage did or why it did not run.
    pub stage_notes: Vec<String>,
    pub inputs: Vec<Input>,
    pub layouts: Vec<LayoutUse>,
    pub rules: Vec<RuleUse>,
    pub counts: Counts,
    pub outputs: Vec<OutputFile>,
}

/// The software that produced the outputs.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    /// This build of proceeds.
    pub fn this() -> Tool {
        Tool {
            name: "proceeds".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// The case and the parameters it sets.
#[derive(Debug, Clone, Serialize)]
pub struct CaseInfo {
    pub file: String,
    pub sha256: String,
    pub reference: String,
    pub base_currency: String,
    pub jurisdiction: String,
    pub lifestyle: bool,
    pub proceedings_started: String,
    pub conviction: Option<String>,
    pub valuation: Option<String>,
}

/// One input file.
#[derive(Debug, Clone, Serialize)]
pub struct Input {
    /// `source`, `layout`, or the reference-data role (`rates`, `assets`, ...).
    pub role: String,
    /// As written in the case file, relative to it.
    pub path: String,
    pub sha256: String,
    pub size_bytes: u64,
}

/// A layout used by at least one source.
#[derive(Debug, Clone, Serialize)]
pub struct LayoutUse {
    pub id: String,
    pub version: u32,
    pub origin: String,
    pub sha256: String,
}

/// A detection rule applied (id and version).
#[derive(Debug, Clone, Serialize)]
pub struct RuleUse {
    pub id: String,
    pub version: u32,
}

/// Record accounting over all sources.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub sources: usize,
    pub records_read: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub skipped: u64,
    pub ledger_rows: usize,
}

impl Manifest {
    /// Pretty JSON with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs of strings and numbers cannot fail.
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}
