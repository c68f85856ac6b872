//! Fuzz the case-file parser and resolver: any bytes as `case.toml`. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proceeds::case::{Case, ResolveOptions};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("proceeds-fuzz-case-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let path = dir.join("case.toml");
    std::fs::write(&path, data).expect("scratch file");
    let _ = Case::load(&path, ResolveOptions::default());
});
