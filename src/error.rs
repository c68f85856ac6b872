//! The program's error: which layer failed, and the exit code that says so.
//!
//! Exit codes: 0 success; 2 bad input (case file, layout, disclosed file, usage);
//! 3 internal error (a bug: please report it with the manifest and the command).

use crate::case::CaseError;
use crate::confiscation::ScheduleError;
use crate::ingest::layout::LayoutError;
use crate::ingest::IngestError;
use crate::report::ReportError;
use crate::rules::RuleError;
use crate::trace::TraceError;
use crate::verify::VerifyError;

/// Exit code for bad input: the case file, a layout, a disclosed file or the command line.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code for an internal error.
pub const EXIT_INTERNAL: u8 = 3;

/// Any failure of a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Case(#[from] CaseError),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Groups(#[from] crate::groups::GroupsError),
    #[error("{0}")]
    Usage(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Ingest(e) if e.is_internal() => EXIT_INTERNAL,
            Error::Verify(e) if e.is_internal() => EXIT_INTERNAL,
            Error::Trace(e) if !e.is_bad_input() => EXIT_INTERNAL,
            Error::Rules(e) if e.is_internal() => EXIT_INTERNAL,
            Error::Schedule(e) if e.is_internal() => EXIT_INTERNAL,
            Error::Verify(_) | Error::Trace(_) | Error::Rules(_) | Error::Schedule(_) => {
                EXIT_BAD_INPUT
            }
            Error::Internal(_) => EXIT_INTERNAL,
            // Failing to write outputs is an environment problem the user can fix (disk, permissions).
            Error::Case(_)
            | Error::Layout(_)
            | Error::Ingest(_)
            | Error::Report(_)
            | Error::Groups(_)
            | Error::Usage(_) => EXIT_BAD_INPUT,
        }
    }
}
