//! Fuzz the layout-file compiler: any text as a layout. Never a panic; a layout that
//! compiles must also read text without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proceeds::ingest::layout::Layout;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(layout) = Layout::from_toml(&text, "fuzz") {
        let sample = "Date,Amount,Description\n01/02/2024,1.00,x\n";
        let _ = proceeds::ingest::delimited::read(sample, &layout, |_| {});
        let _ = proceeds::ingest::blocks::read(sample, &layout, |_| {});
    }
});
