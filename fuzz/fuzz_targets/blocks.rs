//! Fuzz the `Key: value` block reader (Santander's text export) and the field reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proceeds::ingest::layout::LayoutKind;
use proceeds::ingest::{blocks, fields, RecordEvent, Registry};

fuzz_target!(|data: &[u8]| {
    let registry = Registry::shipped().expect("shipped layouts compile");
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
