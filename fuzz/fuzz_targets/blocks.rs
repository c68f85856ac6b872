//! Fuzz the `Key: value` block reader (Santander's text export) and the field reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proceeds::ingest::layout::LayoutKind;
use proceeds::ingest::{blocks, fields, RecordEvent, Registry};

/// The shipped layouts, compiled once (compiling their patterns per input dominated the
/// run time).
fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| Registry::shipped().expect("shipped layouts compile"))
}

fuzz_target!(|data: &[u8]| {
    let registry = registry();
    let Some(layout) = registry.iter().find(|l| l.kind == LayoutKind::Blocks) else {
        return;
    };
    let text = String::from_utf8_lossy(data);
    let _ = blocks::read(&text, layout, |event| {
        if let RecordEvent::Data { values, .. } = event {
            let _ = fields::read_row(layout, &values);
        }
    });
});
