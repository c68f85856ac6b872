//! Fuzz the whole ingest of one file (decode, spreadsheet sniffing, every reader including
//! MSB records, field reading, account assignment, the per-file accounting) through every
//! shipped layout: the first byte picks the layout, the rest is the file. The accounting
//! must balance and the error, if any, must not be an internal one.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use proceeds::case::Case;
use proceeds::ingest::{ingest_source, Registry};
use proceeds::ledger::LedgerBuilder;

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("proceeds-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir.join("input")
}

/// The shipped layouts, compiled once (compiling their patterns per input dominated the
/// run time).
fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| Registry::shipped().expect("shipped layouts compile"))
}

fuzz_target!(|data: &[u8]| {
    // The spreadsheet reader catches panics inside the spreadsheet library and refuses the
    // file, as the program does; libFuzzer's hook would abort on them even when caught. An
    // uncaught panic still ends the run as a crash.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("panic (caught or not) at {:?}", info.location());
        }))
    });
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let registry = registry();
    let layouts: Vec<_> = registry.iter().collect();
    let layout = layouts[pick as usize % layouts.len()];
    let path = scratch();
    std::fs::write(&path, rest).expect("scratch file");
    let currency = if matches!(layout.id.as_str(), "camt" | "mt940") {
        "EUR"
    } else {
        "GBP"
    };
    let case = Case::ad_hoc(&path, &layout.id, currency).expect("ad hoc case");
    let mut builder = LedgerBuilder::new();
    let (mut rejects, mut skipped, mut statements) = (Vec::new(), Vec::new(), Vec::new());
    match ingest_source(
        &case,
        &case.sources[0],
        layout,
        &mut builder,
        &mut rejects,
        &mut skipped,
        &mut statements,
    ) {
        Ok(r) => {
            assert_eq!(r.records_read, r.accepted + r.rejected + r.skipped);
            assert!(builder.len() as u64 >= r.accepted);
            assert_eq!(rejects.len() as u64, r.rejected);
            assert_eq!(skipped.len() as u64, r.skipped);
        }
        Err(e) => assert!(!e.is_internal(), "internal error: {e}"),
    }
});
