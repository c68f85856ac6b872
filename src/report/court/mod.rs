//! The court report: the schedules, the method statement, the integrity of the material,
//! the findings and the charts an investigator would otherwise draw by hand, as a
//! self-contained HTML page (`report.html`) and a PDF typeset from the same document
//! (`report.pdf`), with page numbers and a sources appendix giving the SHA-256 of every
//! input.
//!
//! [`build`](mod@build) decides what the report says ([`doc::Document`]); [`html::render`] and
//! [`pdf::render`] only lay it out.

pub mod build;
pub mod charts;
pub mod doc;
pub mod html;
pub mod pdf;

pub use build::{build, FindingFrames, ReportInput, TraceFrames};
