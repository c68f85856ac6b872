//! CSV outputs: the ledger, rejects, skipped lines and the per-source accounting.
//!
//! Money is written with exactly two decimal places and no grouping (`-1234.50`), dates
//! as ISO 8601, and text through [`sanitize_text`]. Column order is fixed and rows come
//! in a deterministic order, so the same inputs give the same bytes.

use polars::prelude::*;

use super::sanitize::sanitize_text;
use super::ReportError;
use crate::ingest::{Reject, Skipped, SourceReport};
use crate::money::format_amount;

fn encode_err(name: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Encode {
        path: name.into(),
        message: e.to_string(),
    }
}

/// Write rows of text cells (already formatted) to CSV bytes. Text cells are sanitised
/// unless their column is listed in `numeric`.
pub fn to_csv_bytes(
    name: &str,
    header: &[&str],
    numeric: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<Vec<u8>, ReportError> {
    let keep: Vec<bool> = header.iter().map(|h| numeric.contains(h)).collect();
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(header).map_err(|e| encode_err(name, e))?;
    for row in rows {
        let cells = row.iter().zip(&keep).map(|(cell, numeric)| {
            if *numeric {
                cell.clone()
            } else {
                sanitize_text(cell).into_owned()
            }
        });
        w.write_record(cells).map_err(|e| encode_err(name, e))?;
    }
    w.into_inner().map_err(|e| encode_err(name, e))
}

/// A frame as CSV: every column in order, nulls as empty cells, Decimal/number/date
/// columns unsanitised, text columns sanitised.
pub fn frame_to_csv(name: &str, df: &DataFrame) -> Result<Vec<u8>, ReportError> {
    let header: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    let numeric: Vec<&str> = df
        .columns()
        .iter()
        .filter(|c| !matches!(c.dtype(), DataType::String))
        .map(|c| c.name().as_str())
        .collect();
    let as_text: Vec<StringChunked> = df
        .columns()
        .iter()
        .map(|c| {
            c.as_materialized_series()
                .cast(&DataType::String)
                .and_then(|s| s.str().cloned())
        })
        .collect::<PolarsResult<_>>()
        .map_err(|e| encode_err(name, e))?;
    let height = df.height();
    let rows = (0..height).map(|i| {
        as_text
            .iter()
            .map(|ca| ca.get(i).unwrap_or("").to_string())
            .collect::<Vec<String>>()
    });
    to_csv_bytes(name, &header, &numeric, rows)
}

/// `rejects.csv`
pub fn rejects_csv(rejects: &[Reject]) -> Result<Vec<u8>, ReportError> {
    to_csv_bytes(
        "rejects.csv",
        &[
            "source_file",
            "source_sha256",
            "line",
            "field",
            "reason",
            "raw",
        ],
        &["line"],
        rejects.iter().map(|r| {
            vec![
                r.source_file.clone(),
                r.source_sha256.clone(),
                r.line.to_string(),
                r.field.clone(),
                r.reason.clone(),
                r.raw.clone(),
            ]
        }),
    )
}

/// `skipped.csv`
pub fn skipped_csv(skipped: &[Skipped]) -> Result<Vec<u8>, ReportError> {
    to_csv_bytes(
        "skipped.csv",
        &["source_file", "line", "reason", "raw"],
        &["line"],
        skipped.iter().map(|s| {
            vec![
                s.source_file.clone(),
                s.line.to_string(),
                s.reason.clone(),
                s.raw.clone(),
            ]
        }),
    )
}

/// Header of `sources.csv`.
pub const SOURCES_HEADER: [&str; 19] = [
    "source",
    "source_file",
    "exhibit",
    "sha256",
    "size_bytes",
    "layout",
    "layout_version",
    "encoding",
    "declared_account",
    "records_read",
    "accepted",
    "rejected",
    "skipped",
    "balanced",
    "first_date",
    "last_date",
    "money_in",
    "money_out",
    "layout_sha256",
];

/// `sources.csv`: one row per source with its hash and record accounting.
pub fn sources_csv(sources: &[SourceReport]) -> Result<Vec<u8>, ReportError> {
    to_csv_bytes(
        "sources.csv",
        &SOURCES_HEADER,
        &[
            "source",
            "size_bytes",
            "layout_version",
            "records_read",
            "accepted",
            "rejected",
            "skipped",
            "first_date",
            "last_date",
            "money_in",
            "money_out",
        ],
        sources.iter().map(|s| {
            let balanced = s.records_read == s.accepted + s.rejected + s.skipped;
            vec![
                s.index.to_string(),
                s.source_file.clone(),
                s.exhibit.clone().unwrap_or_default(),
                s.sha256.clone(),
                s.size_bytes.to_string(),
                s.layout.clone(),
                s.layout_version.to_string(),
                s.encoding.clone(),
                s.declared_account.clone().unwrap_or_default(),
                s.records_read.to_string(),
                s.accepted.to_string(),
                s.rejected.to_string(),
                s.skipped.to_string(),
                if balanced { "yes" } else { "NO" }.to_string(),
                s.first_date.map(|d| d.to_string()).unwrap_or_default(),
                s.last_date.map(|d| d.to_string()).unwrap_or_default(),
                format_amount(s.money_in),
                format_amount(s.money_out),
                s.layout_sha256.clone(),
            ]
        }),
    )
}
