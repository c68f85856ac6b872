//! Integration tests, in one binary so polars is linked once.

mod batches;
mod case_file;
mod cli;
mod detect;
mod fuzz_seeds;
mod groups;
mod hostile;
mod layouts;
mod properties;
mod report;
mod schedule;
mod schedule_properties;
mod spreadsheets;
mod support;
mod synth;
mod trace;
mod trafficking;
mod verify;
