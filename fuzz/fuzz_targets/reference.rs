//! Fuzz the reference-file readers (rates, period balances, declared turnover, sector norms,
//! price index, asset register, gifts, legitimate sources): the first byte picks the reader,
//! the rest is the file's text. Never a panic; a refusal names the file and a line within it.
//! The checks are in `harness/reference_files.rs`, shared with `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/reference_files.rs"]
mod harness;

fn cases() -> &'static harness::Cases {
    static CASES: std::sync::OnceLock<harness::Cases> = std::sync::OnceLock::new();
    CASES.get_or_init(|| harness::Cases::load(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    harness::reference(cases(), pick as usize, &String::from_utf8_lossy(rest));
});
