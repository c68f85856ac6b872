//! Report: writing the run's outputs, atomically, and the manifest that hashes them.
//!
//! Every output is written to a temporary file in the output folder and renamed into
//! place, so a crash never leaves a half-written file that looks complete. CSV text cells
//! are sanitised against formula injection (`sanitize`); the parquet ledger keeps the
//! raw text exactly as the bank gave it. Output bytes depend only on the inputs: the one
//! wall-clock value, the run timestamp, lives in `manifest.json` and can be fixed.

pub mod court;
pub mod csv_out;
pub mod manifest;
pub mod parquet_out;
pub mod sanitize;
pub mod xlsx_out;

use std::path::{Path, PathBuf};

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot create output folder {path}: {source}")]
    OutputDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {message}")]
    Encode { path: PathBuf, message: String },
}

/// An output written by the run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OutputFile {
    /// File name inside the output folder.
    pub file: String,
    pub sha256: String,
    pub size_bytes: u64,
}

/// Write `bytes` to `dir/name` through a temporary file and a rename ([`AtomicWriter`]).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<OutputFile, ReportError> {
    use std::io::Write;
    let mut w = AtomicWriter::create(dir, name)?;
    if let Err(e) = w.write_all(bytes) {
        return Err(w.error(e));
    }
    w.finish()
}

/// An output being written: bytes go to `dir/.NAME.partial` and into its SHA-256 as they
/// are written, so a large output is never held whole in memory; [`AtomicWriter::finish`]
/// makes it durable and renames it into place. Dropped without `finish` (an error part way),
/// only the `.partial` file is left, which no reader takes for a finished output and
/// `verify-manifest` reports.
pub struct AtomicWriter {
    name: String,
    path: PathBuf,
    tmp: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    hash: crate::hash::Sha256Stream,
    size: u64,
}

impl AtomicWriter {
    pub fn create(dir: &Path, name: &str) -> Result<Self, ReportError> {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.partial"));
        let file = std::fs::File::create(&tmp).map_err(|source| ReportError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(AtomicWriter {
            name: name.to_string(),
            path,
            tmp,
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            hash: Default::default(),
            size: 0,
        })
    }

    /// The error for a failure while writing this output.
    pub fn error(&self, source: std::io::Error) -> ReportError {
        ReportError::Write {
            path: self.path.clone(),
            source,
        }
    }

    /// Flush, sync and rename into place.
    pub fn finish(self) -> Result<OutputFile, ReportError> {
        let AtomicWriter {
            name,
            path,
            tmp,
            file,
            hash,
            size,
        } = self;
        let err = |source| ReportError::Write {
            path: path.clone(),
            source,
        };
        let file = file.into_inner().map_err(|e| err(e.into_error()))?;
        file.sync_all().map_err(err)?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(err)?;
        Ok(OutputFile {
            file: name,
            sha256: hash.finish(),
            size_bytes: size,
        })
    }
}

impl std::io::Write for AtomicWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Write `frame` to `dir/name` as CSV ([`csv_out::write_frame_csv`]), streamed through an
/// [`AtomicWriter`].
pub fn write_frame_csv(
    dir: &Path,
    name: &str,
    frame: &polars::prelude::DataFrame,
) -> Result<OutputFile, ReportError> {
    let w = AtomicWriter::create(dir, name)?;
    csv_out::write_frame_csv(name, frame, w)?.finish()
}

/// `trace_flows.csv` into `dir` from the trace's rows ([`csv_out::write_trace_flows`]),
/// streamed through an [`AtomicWriter`]: the table is never held whole.
pub fn write_trace_flows_csv<'a>(
    dir: &Path,
    rows: impl Iterator<Item = crate::trace::FlowRow<'a>>,
) -> Result<OutputFile, ReportError> {
    let w = AtomicWriter::create(dir, "trace_flows.csv")?;
    csv_out::write_trace_flows(rows, w)?.finish()
}

/// `trace_summary.csv` into `dir` from the trace's rows ([`csv_out::write_trace_summary`]),
/// streamed through an [`AtomicWriter`]: the table is never held whole.
pub fn write_trace_summary_csv(
    dir: &Path,
    trace: &crate::trace::Trace,
) -> Result<OutputFile, ReportError> {
    let w = AtomicWriter::create(dir, "trace_summary.csv")?;
    csv_out::write_trace_summary(&trace.summary_columns(), trace.summary_row_iter(), w)?.finish()
}

/// Create the output folder if needed.
pub fn ensure_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::OutputDir {
        path: dir.to_path_buf(),
        source,
    })
}

/// Create a working file of a run, not an output (a batch's ledger part,
/// `crate::batches`): read back by the run and removed ([`remove_work_file`]) before it ends.
pub fn create_work_file(path: &Path) -> Result<std::fs::File, ReportError> {
    std::fs::File::create(path).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Remove a working file made by [`create_work_file`].
pub fn remove_work_file(path: &Path) -> Result<(), ReportError> {
    std::fs::remove_file(path).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}
