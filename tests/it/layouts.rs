//! Golden tests for every shipped layout: `fixtures/layouts/<id>/` holds a case with one
//! statement written for the purpose (including the mess real exports contain) and the
//! rows, rejects and counts expected from it, worked out by hand. A new layout needs a
//! new folder, not new Rust.

use polars::prelude::*;
use proceeds::case::{Case, ResolveOptions};
use proceeds::ingest::{ingest_case, Registry};
use proceeds::money::format_amount;

use crate::support::{fixture, read_csv};

const PROJECTED: [&str; 8] = [
    "source_line",
    "booking_date",
    "amount",
    "balance",
    "channel",
    "counterparty_name",
    "counterparty_account",
    "location",
];

fn text_column(df: &DataFrame, name: &str) -> Vec<String> {
    df.column(name)
        .unwrap()
        .cast(&DataType::String)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

fn check_layout(id: &str) {
    let dir = fixture(&format!("layouts/{id}"));
    let case = Case::load(&dir.join("case.toml"), ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let out = ingest_case(&case, &registry, false).unwrap();

    // Rows, to the penny, in canonical order.
    let expected = read_csv(&dir.join("expected.csv"));
    let columns: Vec<Vec<String>> = PROJECTED
        .iter()
        .map(|c| text_column(&out.ledger, c))
        .collect();
    let actual: Vec<Vec<String>> = (0..out.ledger.height())
        .map(|i| columns.iter().map(|c| c[i].clone()).collect())
        .collect();
    assert_eq!(
        actual,
        expected[1..].to_vec(),
        "{id}: ledger rows differ from fixtures/layouts/{id}/expected.csv"
    );
    // Every row names its source, hash, exhibit and account.
    let report = &out.sources[0];
    for name in ["source_file", "source_sha256", "exhibit", "account_id"] {
        let values = text_column(&out.ledger, name);
        assert!(values.iter().all(|v| !v.is_empty()), "{id}: {name} missing");
    }
    assert!(text_column(&out.ledger, "source_sha256")
        .iter()
        .all(|s| *s == report.sha256));
    let ids = text_column(&out.ledger, "txn_id");
    let lines = text_column(&out.ledger, "source_line");
    for (txn, line) in ids.iter().zip(&lines) {
        let whole = format!("{}-L{line}", &report.sha256[..12]);
        assert!(
            *txn == whole || txn.starts_with(&format!("{whole}.")),
            "{id}: txn_id {txn} for line {line}"
        );
    }

    // Rejects: line, field and reason.
    let expected_rejects = read_csv(&dir.join("expected_rejects.csv"));
    assert_eq!(
        out.rejects.len(),
        expected_rejects.len() - 1,
        "{id}: rejects {:#?}",
        out.rejects
    );
    for (reject, want) in out.rejects.iter().zip(&expected_rejects[1..]) {
        assert_eq!(reject.line.to_string(), want[0], "{id}: reject line");
        assert_eq!(
            reject.field, want[1],
            "{id}: reject field at line {}",
            reject.line
        );
        assert!(
            reject.reason.contains(&want[2]),
            "{id}: line {} reason {:?} should contain {:?}",
            reject.line,
            reject.reason,
            want[2]
        );
        assert!(!reject.raw.is_empty(), "{id}: reject raw text kept");
    }

    // Counts balance and match the hand count; money in/out per file.
    let counts = read_csv(&dir.join("expected_counts.csv"));
    let want = &counts[1];
    assert_eq!(
        report.records_read.to_string(),
        want[0],
        "{id}: records read"
    );
    assert_eq!(report.accepted.to_string(), want[1], "{id}: accepted");
    assert_eq!(report.rejected.to_string(), want[2], "{id}: rejected");
    assert_eq!(report.skipped.to_string(), want[3], "{id}: skipped");
    assert_eq!(format_amount(report.money_in), want[4], "{id}: money in");
    assert_eq!(format_amount(report.money_out), want[5], "{id}: money out");
    assert_eq!(
        report.records_read,
        report.accepted + report.rejected + report.skipped
    );
    // One ledger row per accepted record, except money transfers (send, payout, fee parts).
    let distinct_records: std::collections::BTreeSet<String> = ids
        .iter()
        .map(|t| match (id, t.rsplit_once('.')) {
            ("msb-transfers", Some((record, _))) => record.to_string(),
            _ => t.clone(),
        })
        .collect();
    assert_eq!(
        distinct_records.len() as u64,
        report.accepted,
        "{id}: accepted records"
    );
    assert_eq!(out.skipped.len() as u64, report.skipped);
}

#[test]
fn every_shipped_layout_has_a_golden_fixture() {
    let registry = Registry::shipped().unwrap();
    for layout in registry.iter() {
        let dir = fixture(&format!("layouts/{}", layout.id));
        assert!(
            dir.join("expected.csv").exists(),
            "no fixture for layout {}",
            layout.id
        );
    }
}

#[test]
fn lloyds() {
    check_layout("lloyds");
}

#[test]
fn barclays() {
    check_layout("barclays");
}

#[test]
fn hsbc() {
    check_layout("hsbc");
}

#[test]
fn natwest() {
    check_layout("natwest");
}

#[test]
fn monzo() {
    check_layout("monzo");
}

#[test]
fn starling() {
    check_layout("starling");
}

#[test]
fn nationwide() {
    check_layout("nationwide");
}

#[test]
fn mt940() {
    check_layout("mt940");
}

#[test]
fn camt() {
    check_layout("camt");
}

#[test]
fn ofx() {
    check_layout("ofx");
}

#[test]
fn msb_transfers() {
    check_layout("msb-transfers");
}

#[test]
fn msb_records_keep_people_and_mark_cancelled_transfers() {
    let dir = fixture("layouts/msb-transfers");
    let case = Case::load(&dir.join("case.toml"), ResolveOptions::default()).unwrap();
    let out = ingest_case(&case, &Registry::for_case(&case).unwrap(), false).unwrap();
    let get = |c: &str| text_column(&out.ledger, c);
    let (ids, party, party_id, country, excluded) = (
        get("txn_id"),
        get("party_name"),
        get("party_id"),
        get("counterparty_country"),
        get("excluded_reason"),
    );
    let sha = &out.sources[0].sha256[..12];
    // Send, fee and payout parts of one transfer have their own ids.
    assert_eq!(ids[2], format!("{sha}-L3.1"));
    assert_eq!(ids[3], format!("{sha}-L3.3"));
    assert_eq!(ids[6], format!("{sha}-L3.2"));
    // The sender is the party on the send side, the receiver on the payout side.
    assert_eq!(
        (party[4].as_str(), party_id[4].as_str()),
        ("Mara Harlow", "P987654321")
    );
    assert_eq!(party[6], "Vesna Harlow");
    assert_eq!(country[0], "RO");
    assert_eq!(country[6], "GB");
    // The cancelled transfer is kept but marked on every part; the others are not.
    let marked: Vec<usize> = (0..excluded.len())
        .filter(|&i| !excluded[i].is_empty())
        .collect();
    assert_eq!(marked, [4, 5]);
    assert!(excluded[4].contains("status CANCELLED"));
    assert_eq!(get("account_id")[6], "VH-MSB");
    assert_eq!(get("currency")[6], "EUR");
}

#[test]
fn santander() {
    check_layout("santander");
}

#[test]
fn windows_1252_pound_and_accents_survive() {
    let dir = fixture("layouts/nationwide");
    let case = Case::load(&dir.join("case.toml"), ResolveOptions::default()).unwrap();
    let out = ingest_case(&case, &Registry::for_case(&case).unwrap(), false).unwrap();
    let descriptions = text_column(&out.ledger, "description");
    assert!(descriptions.contains(&"CAFÉ NERO LEEDS".to_string()));
    assert_eq!(out.sources[0].encoding, "windows-1252 (not valid UTF-8)");
    assert!(
        out.skipped[1].raw.contains("£3,204.10"),
        "{:?}",
        out.skipped[1]
    );
}

#[test]
fn monzo_keeps_bank_ids_and_times() {
    let dir = fixture("layouts/monzo");
    let case = Case::load(&dir.join("case.toml"), ResolveOptions::default()).unwrap();
    let out = ingest_case(&case, &Registry::for_case(&case).unwrap(), false).unwrap();
    assert_eq!(text_column(&out.ledger, "bank_txn_id")[0], "tx_0000AbC1");
    assert_eq!(text_column(&out.ledger, "booking_time")[1], "12:40:55");
}

#[test]
fn structured_formats_keep_statement_balances() {
    let dir = fixture("layouts/mt940");
    let case = Case::load(&dir.join("case.toml"), ResolveOptions::default()).unwrap();
    let out = ingest_case(&case, &Registry::for_case(&case).unwrap(), false).unwrap();
    let got: Vec<(String, u32, String, String)> = out
        .statements
        .iter()
        .map(|s| {
            let show = |b: Option<(chrono::NaiveDate, rust_decimal::Decimal)>| {
                b.map(|(d, a)| format!("{d} {}", format_amount(a)))
                    .unwrap_or_default()
            };
            (
                s.account_id.clone(),
                s.line,
                show(s.opening),
                show(s.closing),
            )
        })
        .collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        vec![
            (
                s("DE-ACC"),
                2,
                s("2023-12-29 1000.00"),
                s("2024-01-02 2150.50")
            ),
            (
                s("NL-ACC"),
                18,
                s("2024-01-01 -150.25"),
                s("2024-01-31 1014.64")
            ),
            (s("DE-ACC"), 36, s(""), s("")),
        ]
    );
    // The entries of each statement reconcile with its stated balances.
    assert_eq!(
        out.statements[0].period_start.unwrap().to_string(),
        "2024-01-02"
    );
}

#[test]
fn a_reversal_is_marked_in_the_ledger() {
    let dir = fixture("layouts/mt940");
    let case = Case::load(&dir.join("case.toml"), ResolveOptions::default()).unwrap();
    let out = ingest_case(&case, &Registry::for_case(&case).unwrap(), false).unwrap();
    let lines = text_column(&out.ledger, "source_line");
    let reversal = text_column(&out.ledger, "reversal");
    let marked: Vec<&str> = lines
        .iter()
        .zip(&reversal)
        .filter(|(_, r)| *r == "true")
        .map(|(l, _)| l.as_str())
        .collect();
    assert_eq!(marked, ["14", "29"]);
}

#[test]
fn a_statement_listed_twice_under_two_names_is_refused_naming_both() {
    let from = fixture("layouts/lloyds");
    let dir = tempfile::tempdir().unwrap();
    let statement = std::fs::read(from.join("statement.csv")).unwrap();
    let mut case = std::fs::read_to_string(from.join("case.toml")).unwrap();
    // Two other statements first, so the copy is found among several sources.
    for (i, name) in ["a.csv", "copy.csv", "b.csv", "statement.csv"]
        .iter()
        .enumerate()
    {
        let bytes = match *name {
            "a.csv" | "b.csv" => {
                let mut other = statement.clone();
                other.extend_from_slice(format!("\n\n\n{i}\n").as_bytes());
                other
            }
            _ => statement.clone(),
        };
        std::fs::write(dir.path().join(name), bytes).unwrap();
        if *name != "statement.csv" {
            case.push_str(&format!(
                "\n[[sources]]\npath = \"{name}\"\nlayout = \"lloyds\"\naccount = \"ACC\"\nexhibit = \"FX/{i}\"\n"
            ));
        }
    }
    std::fs::write(dir.path().join("case.toml"), case).unwrap();
    let case = Case::load(&dir.path().join("case.toml"), ResolveOptions::default()).unwrap();
    let e = match ingest_case(&case, &Registry::for_case(&case).unwrap(), false) {
        Ok(_) => panic!("the same statement twice is refused"),
        Err(e) => e.to_string(),
    };
    let sha = proceeds::hash::sha256_hex(&statement);
    assert_eq!(
        e,
        format!("sources statement.csv and copy.csv have identical content (SHA-256 {sha}); a file listed twice would double every transaction")
    );
}
