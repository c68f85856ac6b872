//! Fuzz the mt940 parser on arbitrary text: it must never panic, and every record it reports
//! must lie within the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proceeds::ingest::mt940;
use proceeds::ingest::statement::Outcome;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The reader ends a line at LF, CRLF or a lone CR; allow one line after the last break.
    let lines = proceeds::ingest::lines::lines(&text).count() as u32 + 1;
    if let Ok(file) = mt940::parse(&text) {
        for outcome in &file.outcomes {
            let line = match outcome {
                Outcome::Entry(e) => {
                    assert!(e.statement < file.statements.len());
                    e.line
                }
                Outcome::Rejected(p) | Outcome::Skipped(p) => p.line,
            };
            assert!(line >= 1 && line <= lines, "line {line} of {lines}");
        }
    }
});
