//! Fuzz amount and date parsing: never a panic, and an accepted amount is whole pence
//! within the ledger's range that formats and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proceeds::money::{format_amount, parse_amount, to_minor_units, AmountStyle, LEDGER_MAX_ABS};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let styles = [
        AmountStyle::default(),
        AmountStyle {
            decimal_separator: ',',
            thousands_separator: Some('.'),
            negative_in_parentheses: false,
            cr_dr_suffix: true,
        },
        AmountStyle {
            decimal_separator: '.',
            thousands_separator: Some(' '),
            negative_in_parentheses: true,
            cr_dr_suffix: true,
        },
    ];
    for style in &styles {
        if let Ok(v) = parse_amount(&text, style) {
            assert_eq!(v.scale(), 2);
            assert!(to_minor_units(v).abs() < LEDGER_MAX_ABS);
            let back = parse_amount(&format_amount(v), &AmountStyle::default()).unwrap();
            assert_eq!(back, v);
        }
    }
    for format in ["%d/%m/%Y", "%Y-%m-%d", "%d %b %Y"] {
        let _ = proceeds::ingest::fields::parse_date(&text, format);
    }
});
