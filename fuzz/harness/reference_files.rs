//! The checks of the fuzz targets for reference files (`reference`), counterparty rules
//! (`counterparties`) and detection-rule files (`rule_file`), shared with `cargo test`
//! (`tests/it/fuzz_seeds.rs` runs them over the same seeds, `fuzz/reference-seeds.txt`, and
//! mutations of each). Each check panics when a property fails; a parser's own refusal is
//! not a failure, but it must name the file it was given and a line within it.
#![allow(dead_code)] // each fuzz target uses one check

use std::path::Path;

use proceeds::case::{Case, ResolveOptions};

/// How the checks name the file they parse, so that a refusal can be seen to name it.
pub const FILE: &str = "fuzzed-reference";

/// The reference-file readers, in the order the `reference` target's first byte picks them.
pub const READERS: [&str; 8] = [
    "rates",
    "period_balances",
    "declared_turnover",
    "sector_norms",
    "price_index",
    "assets",
    "gifts",
    "legitimate_sources",
];

/// The cases whose accounts and base currency the readers check against: the verify
/// fixture (rates, period balances) and the detect fixture (declared turnover, which needs a
/// business account).
pub struct Cases {
    verify: Case,
    detect: Case,
}

impl Cases {
    /// Load the fixture cases from the repository at `root`.
    pub fn load(root: &Path) -> Cases {
        let load = |rel: &str| {
            Case::load(&root.join(rel), ResolveOptions::default())
                .unwrap_or_else(|e| panic!("fixture case {rel}: {e}"))
        };
        Cases {
            verify: load("fixtures/verify/case.toml"),
            detect: load("fixtures/detect/case/case.toml"),
        }
    }
}

/// The line a refusal names must lie within the text (line 0: the file as a whole).
fn line_within(text: &str, line: u32, error: &dyn std::fmt::Display) {
    let lines = text.bytes().filter(|b| matches!(b, b'\n' | b'\r')).count() + 1;
    assert!(
        line as usize <= lines,
        "refusal names line {line} of a {lines}-line file: {error}"
    );
}

fn names_the_file(error: &dyn std::fmt::Display) {
    let text = error.to_string();
    assert!(
        text.contains(FILE),
        "refusal does not name the file: {text}"
    );
}

/// Feed `text` to reference reader `reader` (an index into [`READERS`], taken modulo).
pub fn reference(cases: &Cases, reader: usize, text: &str) {
    use proceeds::confiscation::reference as schedule;
    use proceeds::confiscation::ScheduleError;
    use proceeds::rules::RuleError;
    use proceeds::verify::VerifyError;
    let verify_error = |e: VerifyError| {
        names_the_file(&e);
        if let VerifyError::BadRate { line, .. } | VerifyError::BadPeriodBalance { line, .. } = e {
            line_within(text, line, &e);
        }
    };
    let rule_error = |e: RuleError| {
        names_the_file(&e);
        if let RuleError::Reference { line, .. } = e {
            line_within(text, line, &e);
        }
    };
    let schedule_error = |e: ScheduleError| {
        names_the_file(&e);
        if let ScheduleError::Reference { line, .. } = e {
            line_within(text, line, &e);
        }
    };
    match READERS[reader % READERS.len()] {
        "rates" => {
            let base = &cases.verify.base_currency;
            if let Err(e) = proceeds::verify::RateTable::parse(FILE, "0", text, base) {
                verify_error(e);
            }
        }
        "period_balances" => {
            let parsed =
                proceeds::verify::periods::parse_period_balances(&cases.verify, FILE, "0", text);
            if let Err(e) = parsed {
                verify_error(e);
            }
        }
        "declared_turnover" => {
            let parsed =
                proceeds::rules::reference::parse_declared_turnover(text, FILE, &cases.detect);
            if let Err(e) = parsed {
                rule_error(e);
            }
        }
        "sector_norms" => match proceeds::rules::reference::parse_sector_norms(text, FILE) {
            Ok(norms) => {
                for norm in norms.values() {
                    assert!((0.0..=1.0).contains(&norm.cash_share), "{norm:?}");
                }
            }
            Err(e) => rule_error(e),
        },
        "price_index" => {
            if let Err(e) = schedule::parse_price_index(FILE, text) {
                schedule_error(e);
            }
        }
        "assets" => {
            if let Err(e) = schedule::parse_assets(FILE, text) {
                schedule_error(e);
            }
        }
        "gifts" => {
            if let Err(e) = schedule::parse_gifts(FILE, text) {
                schedule_error(e);
            }
        }
        _ => {
            if let Err(e) = schedule::parse_legitimate(FILE, text) {
                schedule_error(e);
            }
        }
    }
}

/// Feed `text` as a counterparty rules file (`rules/counterparties.toml`, or a case's own);
/// rules that compile must read narratives without a panic.
pub fn counterparties(text: &str) {
    match proceeds::verify::CounterpartyRules::from_toml(FILE, text) {
        Ok(rules) => {
            for narrative in [
                "",
                "TFR FROM J SMITH REF RENT",
                "CASH DEPOSIT LEEDS BRANCH",
                "PAYPAL *EBAY 12/03",
                "ÉÇ ☃ \u{0} \t",
            ] {
                let _ = rules.read_narrative(narrative, true);
                let _ = rules.read_narrative(narrative, false);
            }
        }
        Err(e) => names_the_file(&e),
    }
}

/// Feed `text` as a detection-rule file (`rules/typologies/*.toml`, or a case's own).
pub fn rule_file(text: &str) {
    if let Err(e) = proceeds::rules::compile::compile_file(text, FILE) {
        names_the_file(&e);
    }
}
