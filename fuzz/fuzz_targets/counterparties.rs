//! Fuzz the counterparty rules parser (`rules/counterparties.toml`, or a case's own): any
//! text. Never a panic; rules that compile read narratives without one; a refusal names the
//! file. The checks are in `harness/reference_files.rs`, shared with `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/reference_files.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    harness::counterparties(&String::from_utf8_lossy(data));
});
