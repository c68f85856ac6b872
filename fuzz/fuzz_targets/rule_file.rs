//! Fuzz the detection-rule compiler (`rules/typologies/*.toml`, or a case's own rule
//! files): any text. Never a panic; a refusal names the file. The checks are in
//! `harness/reference_files.rs`, shared with `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/reference_files.rs"]
mod harness;

fuzz_target!(|data: &[u8]| {
    harness::rule_file(&String::from_utf8_lossy(data));
});
