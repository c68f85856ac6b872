//! Fuzz the delimited (CSV) reader and the field reader through every shipped delimited
//! layout: the first byte picks the layout, the rest is the file. Never a panic; every
//! physical line is accounted for at most once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proceeds::ingest::layout::LayoutKind;
use proceeds::ingest::{delimited, fields, RecordEvent, Registry};

/// The shipped layouts, compiled once (compiling their patterns per input dominated the
/// run time).
fn registry() -> &'static Registry {
    static REGISTRY: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
    REGISTRY.get_or_init(|| Registry::shipped().expect("shipped layouts compile"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let registry = registry();
    let layouts: Vec<_> = registry
        .iter()
        .filter(|l| l.kind == LayoutKind::Delimited)
        .collect();
    let layout = layouts[pick as usize % layouts.len()];
    let text = String::from_utf8_lossy(rest);
    let mut last_line = 0u32;
    let _ = delimited::read(&text, layout, |event| {
        let line = match event {
            RecordEvent::Data { line, values, .. } => {
                let _ = fields::read_row(layout, &values);
                line
            }
            RecordEvent::Skip { line, .. } | RecordEvent::Reject { line, .. } => line,
        };
        assert!(line > last_line, "line {line} after {last_line}");
        last_line = line;
    });
});
