//! Integration tests, in one binary so polars is linked once.

mod case_file;
mod cli;
mod hostile;
mod layouts;
mod properties;
mod spreadsheets;
mod support;
mod trace;
mod verify;
