//! The verification stage, on the planted facts of `fixtures/verify/` (a known balance break,
//! a missing month, an overlapping export, internal transfers in GBP and EUR→GBP, and the
//! decoys that must be left alone), and on small ledgers built here for the edge cases.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use proceeds::case::{
    Account, AccountKind, Case, CasePath, ReferenceFile, ResolveOptions, Source, Subject,
    SubjectRole,
};
use proceeds::hash::sha256_file;
use proceeds::ingest::{ingest_case, Registry};
use proceeds::ledger::{Channel, LedgerBuilder, LedgerRow, Provenance};
use proceeds::report::csv_out::frame_to_csv;
use proceeds::verify::{self, verify, RateTable, Verified, VerifyError, VerifyOptions};
use rust_decimal::Decimal;

use crate::support::fixture;

// ---------------------------------------------------------------------------------------
// Helpers

/// Every cell of a frame as text (nulls empty), one map per row.
fn records(df: &DataFrame) -> Vec<BTreeMap<String, String>> {
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let cols: Vec<StringChunked> = df
        .columns()
        .iter()
        .map(|c| c.cast(&DataType::String).unwrap().str().unwrap().clone())
        .collect();
    (0..df.height())
        .map(|i| {
            names
                .iter()
                .zip(&cols)
                .map(|(n, c)| (n.clone(), c.get(i).unwrap_or("").to_string()))
                .collect()
        })
        .collect()
}

fn column(df: &DataFrame, name: &str) -> Vec<String> {
    records(df).into_iter().map(|r| r[name].clone()).collect()
}

fn fixture_case() -> Case {
    Case::load(&fixture("verify/case.toml"), ResolveOptions::default()).unwrap()
}

fn run_fixture() -> Verified {
    let case = fixture_case();
    let registry = Registry::for_case(&case).unwrap();
    let ingested = ingest_case(&case, &registry, false).unwrap();
    assert!(ingested.rejects.is_empty(), "{:#?}", ingested.rejects);
    assert_eq!(ingested.ledger.height(), 43);
    verify(
        &case,
        ingested.ledger,
        &ingested.statements,
        &VerifyOptions::default(),
    )
    .unwrap()
}

/// The txn_id of a line of a fixture statement.
fn txn(file: &str, line: u32) -> String {
    let (sha, _) = sha256_file(&fixture("verify/statements").join(file)).unwrap();
    format!("{}-L{line}", &sha[..12])
}

const LLOYDS: &str = "lloyds_DH_2024Q1.csv";
const MONZO_A: &str = "monzo_DH_2024-01-01_to_2024-02-15.csv";
const MONZO_B: &str = "monzo_DH_2024-02-05_to_2024-03-31.csv";
const STARLING_JAN: &str = "starling_VH_2024-01.csv";
const STARLING_MAR: &str = "starling_VH_2024-03.csv";
const EURO: &str = "euro_DH_2024-03.csv";

fn ledger_row(v: &Verified, txn_id: &str) -> Option<BTreeMap<String, String>> {
    records(&v.ledger)
        .into_iter()
        .find(|r| r["txn_id"] == txn_id)
}

// ---------------------------------------------------------------------------------------
// The fixture case

#[test]
fn the_balance_break_is_found_to_the_penny() {
    let v = run_fixture();
    let fails: Vec<_> = records(&v.integrity)
        .into_iter()
        .filter(|r| r["check"] == "balance_continuity" && r["result"] == "fail")
        .collect();
    assert_eq!(fails.len(), 2, "{fails:#?}");
    let lloyds = &fails[0];
    assert_eq!(lloyds["account_id"], "DH-LLOYDS");
    assert_eq!(lloyds["from_date"], "2024-02-10");
    assert_eq!(lloyds["to_date"], "2024-02-14");
    assert_eq!(lloyds["expected"], "2990.30");
    assert_eq!(lloyds["reported"], "2890.30");
    assert_eq!(lloyds["difference"], "-100.00");
    assert_eq!(lloyds["source_file"], format!("statements/{LLOYDS}"));
    assert_eq!(lloyds["line"], "6");
    assert_eq!(lloyds["txn_id"], txn(LLOYDS, 6));
    assert_eq!(lloyds["previous_txn_id"], txn(LLOYDS, 7));
    // The break across the missing February of VH-STARLING.
    let starling = &fails[1];
    assert_eq!(starling["account_id"], "VH-STARLING");
    assert_eq!(
        (starling["from_date"].as_str(), starling["to_date"].as_str()),
        ("2024-01-29", "2024-03-04")
    );
    assert_eq!(
        (
            starling["expected"].as_str(),
            starling["reported"].as_str(),
            starling["difference"].as_str()
        ),
        ("1152.50", "1502.50", "350.00")
    );
    assert_eq!(starling["previous_txn_id"], txn(STARLING_JAN, 6));
    assert_eq!(starling["txn_id"], txn(STARLING_MAR, 3));
    // Passes are reported too: every other balance reconciles.
    let passed: u64 = records(&v.integrity)
        .iter()
        .filter(|r| r["check"] == "balance_continuity" && r["result"] == "pass")
        .map(|r| r["rows"].parse::<u64>().unwrap())
        .sum();
    // Lloyds 13 rows → 12 checks, one failing; Starling 7 → 6, one failing; EUR 5 → 4.
    assert_eq!(passed, 11 + 5 + 4);
    let monzo: Vec<_> = records(&v.integrity)
        .into_iter()
        .filter(|r| r["check"] == "balance_continuity" && r["account_id"] == "DH-MONZO")
        .collect();
    assert_eq!(monzo.len(), 1);
    assert_eq!(monzo[0]["result"], "not_checked");
}

#[test]
fn the_missing_month_is_found_with_its_dates_and_quiet_weeks_are_not() {
    let v = run_fixture();
    let integrity = records(&v.integrity);
    let gaps: Vec<_> = integrity
        .iter()
        .filter(|r| r["check"] == "coverage" && r["result"] == "fail")
        .collect();
    // One gap only: not the within-file Lloyds break, not Starling's quiet three weeks in
    // January (5 to 26 January, balances continuous), not Monzo's unchecked account.
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    let g = gaps[0];
    assert_eq!(g["account_id"], "VH-STARLING");
    assert_eq!(
        (g["from_date"].as_str(), g["to_date"].as_str()),
        ("2024-02-01", "2024-02-29")
    );
    assert_eq!(g["difference"], "350.00");
    assert!(
        g["detail"].contains("statement periods and a balance break"),
        "{}",
        g["detail"]
    );
    // The statement periods from the case's period_balances file: both reconcile, the chain fails.
    let statements: Vec<_> = integrity
        .iter()
        .filter(|r| r["check"] == "statement_balance")
        .collect();
    assert_eq!(statements.len(), 2);
    assert!(statements
        .iter()
        .all(|r| r["result"] == "pass" && r["difference"] == "0.00"));
    assert_eq!(statements[0]["expected"], "1197.50");
    assert_eq!(statements[1]["rows"], "3");
    let chain: Vec<_> = integrity
        .iter()
        .filter(|r| r["check"] == "statement_chain")
        .collect();
    assert_eq!(chain.len(), 1);
    assert_eq!(
        (
            chain[0]["result"].as_str(),
            chain[0]["expected"].as_str(),
            chain[0]["reported"].as_str()
        ),
        ("fail", "1197.50", "1547.50")
    );
    assert_eq!(chain[0]["source_file"], "reference/period_balances.csv");
    assert_eq!(chain[0]["line"], "4");
    // Coverage of the other accounts.
    let coverage = |acc: &str| {
        integrity
            .iter()
            .find(|r| r["check"] == "coverage" && r["account_id"] == acc)
            .map(|r| r["result"].clone())
    };
    assert_eq!(coverage("DH-LLOYDS").as_deref(), Some("pass"));
    assert_eq!(coverage("DH-EUR").as_deref(), Some("pass"));
    assert_eq!(coverage("DH-MONZO").as_deref(), Some("not_checked"));
}

#[test]
fn the_overlapping_export_drops_exactly_the_copies() {
    let v = run_fixture();
    let dups = records(&v.duplicates);
    let dropped: Vec<String> = dups.iter().map(|r| r["dropped_txn_id"].clone()).collect();
    let kept: Vec<String> = dups.iter().map(|r| r["kept_txn_id"].clone()).collect();
    assert_eq!(
        dropped,
        (2..=6).map(|l| txn(MONZO_B, l)).collect::<Vec<_>>()
    );
    assert_eq!(kept, (6..=10).map(|l| txn(MONZO_A, l)).collect::<Vec<_>>());
    for r in &dups {
        assert_eq!(
            (r["overlap_from"].as_str(), r["overlap_to"].as_str()),
            ("2024-02-05", "2024-02-15")
        );
        assert_eq!(r["account_id"], "DH-MONZO");
    }
    // The two identical £20 withdrawals of 7 February: both copies in the later export are
    // dropped, matched one to one (copy 1 of 2, copy 2 of 2), and both originals are kept.
    assert_eq!(dups[1]["amount"], "-20.00");
    assert!(
        dups[1]["reason"].contains("copy 1 of 2"),
        "{}",
        dups[1]["reason"]
    );
    assert!(
        dups[2]["reason"].contains("copy 2 of 2"),
        "{}",
        dups[2]["reason"]
    );
    assert_eq!(v.ledger.height(), 43 - 5);
    assert_eq!(v.rows_in, 43);
    let ids = column(&v.ledger, "txn_id");
    for d in &dropped {
        assert!(!ids.contains(d), "{d} should have been dropped");
    }
    for k in [
        txn(MONZO_A, 7),
        txn(MONZO_A, 8),
        txn(MONZO_B, 7),
        txn(MONZO_B, 10),
    ] {
        assert!(ids.contains(&k), "{k} should be kept");
    }
    let overlap: Vec<_> = records(&v.integrity)
        .into_iter()
        .filter(|r| r["check"] == "overlap")
        .collect();
    assert_eq!(overlap.len(), 1);
    assert_eq!(overlap[0]["result"], "pass");
    assert_eq!(overlap[0]["rows"], "5");
    assert_eq!(overlap[0]["expected"], "-101.50");
    assert_eq!(overlap[0]["difference"], "0.00");
}

#[test]
fn identical_rows_in_one_source_are_genuine_and_survive() {
    let v = run_fixture();
    // Two £20.00 cash withdrawals at Leeds Briggate on 8 January 2024, both in the Lloyds export.
    for line in [11, 12] {
        let r = ledger_row(&v, &txn(LLOYDS, line)).expect("both withdrawals stay in the ledger");
        assert_eq!(
            (r["amount"].as_str(), r["booking_date"].as_str()),
            ("-20.00", "2024-01-08")
        );
    }
    assert!(column(&v.duplicates, "dropped_txn_id")
        .iter()
        .all(|d| !d.starts_with(&txn(LLOYDS, 1)[..12])));
}

#[test]
fn internal_transfers_are_matched_exactly_in_score_order_and_decoys_left_alone() {
    let v = run_fixture();
    let t = records(&v.transfers);
    let pairs: Vec<(String, String, String, String, String)> = t
        .iter()
        .map(|r| {
            (
                r["debit_txn_id"].clone(),
                r["credit_txn_id"].clone(),
                r["debit_account"].clone(),
                r["credit_account"].clone(),
                r["score"].clone(),
            )
        })
        .collect();
    let p = |d: String, c: String, da: &str, ca: &str, s: &str| {
        (d, c, da.to_string(), ca.to_string(), s.to_string())
    };
    assert_eq!(
        pairs,
        vec![
            p(
                txn(LLOYDS, 10),
                txn(MONZO_A, 2),
                "DH-LLOYDS",
                "DH-MONZO",
                "85"
            ),
            p(
                txn(LLOYDS, 8),
                txn(MONZO_A, 5),
                "DH-LLOYDS",
                "DH-MONZO",
                "75"
            ),
            p(txn(EURO, 4), txn(LLOYDS, 4), "DH-EUR", "DH-LLOYDS", "80"),
            p(
                txn(LLOYDS, 3),
                txn(STARLING_MAR, 4),
                "DH-LLOYDS",
                "VH-STARLING",
                "70"
            ),
            p(
                txn(MONZO_B, 10),
                txn(STARLING_MAR, 5),
                "DH-MONZO",
                "VH-STARLING",
                "65"
            ),
        ]
    );
    // Ordered by debit date; the scores order the evidence: account numbers both ways beat
    // a name on one side.
    assert_eq!(
        column(&v.transfers, "debit_date"),
        [
            "2024-01-15",
            "2024-02-02",
            "2024-03-09",
            "2024-03-20",
            "2024-03-29"
        ]
    );
    // The decoys on 2 February 2024: the external £1,500.00 payment to Kamil Brandt and the
    // external £1,500.00 credit from Kasia Nowak are the same amount on the same day, and
    // are not matched, to each other or to the real transfer.
    let matched: Vec<String> = t
        .iter()
        .flat_map(|r| [r["debit_txn_id"].clone(), r["credit_txn_id"].clone()])
        .collect();
    assert!(
        !matched.contains(&txn(LLOYDS, 9)),
        "the payment to Kamil Brandt is external"
    );
    assert!(
        !matched.contains(&txn(MONZO_A, 4)),
        "the credit from Kasia Nowak is external"
    );
    // The EUR→GBP transfer: debit €2,000.00 at the Friday rate, credit £1,702.40.
    let fx = &t[2];
    assert_eq!(fx["amount_base"], "1702.40");
    assert_eq!(fx["debit_amount"], "2000.00");
    assert_eq!(fx["debit_currency"], "EUR");
    assert_eq!(fx["debit_amount_base"], "1708.20");
    assert_eq!(fx["base_difference"], "-5.80");
    assert_eq!(fx["days_apart"], "2");
    assert!(
        fx["reason"].contains("within the 2% tolerance"),
        "{}",
        fx["reason"]
    );
    assert!(fx["reason"].contains("both narratives carry the reference FX0309"));
    // The tracing contract: these column names, in this order.
    assert_eq!(
        &v.transfers
            .get_column_names()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()[..10],
        [
            "transfer_id",
            "debit_txn_id",
            "credit_txn_id",
            "debit_account",
            "credit_account",
            "debit_date",
            "credit_date",
            "amount_base",
            "score",
            "reason"
        ]
    );
    // Both sides of each transfer carry its id in the ledger.
    let id = &t[0]["transfer_id"];
    assert_eq!(
        ledger_row(&v, &txn(LLOYDS, 10)).unwrap()["transfer_id"],
        *id
    );
    assert_eq!(
        ledger_row(&v, &txn(MONZO_A, 2)).unwrap()["transfer_id"],
        *id
    );
    assert_eq!(ledger_row(&v, &txn(LLOYDS, 9)).unwrap()["transfer_id"], "");
}

#[test]
fn euro_rows_are_converted_at_the_dated_rate_with_weekends_on_the_friday_rate() {
    let v = run_fixture();
    let euro: Vec<_> = records(&v.ledger)
        .into_iter()
        .filter(|r| r["account_id"] == "DH-EUR")
        .collect();
    let got: Vec<(&str, &str, &str, &str, &str)> = euro
        .iter()
        .map(|r| {
            (
                r["booking_date"].as_str(),
                r["amount"].as_str(),
                r["amount_base"].as_str(),
                r["fx_rate"].as_str(),
                r["fx_rate_date"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "2024-03-01",
                "3000.00",
                "2565.90",
                "0.85530000",
                "2024-03-01"
            ),
            ("2024-03-04", "-42.17", "-36.10", "0.85610000", "2024-03-04"),
            // Saturday: Friday's rate.
            (
                "2024-03-09",
                "-2000.00",
                "-1708.20",
                "0.85410000",
                "2024-03-08"
            ),
            // €50.00 × 0.8537 = £42.685, half to even → £42.68 (half up would give £42.69).
            ("2024-03-11", "50.00", "42.68", "0.85370000", "2024-03-11"),
            // Saturday: Friday's rate.
            ("2024-03-16", "100.00", "85.55", "0.85550000", "2024-03-15"),
        ]
    );
    // Every row has a base amount; GBP rows equal their amount and carry no rate.
    for r in records(&v.ledger) {
        assert!(!r["amount_base"].is_empty(), "{}", r["txn_id"]);
        if r["currency"] == "GBP" {
            assert_eq!(r["amount_base"], r["amount"]);
            assert_eq!(
                (r["fx_rate"].as_str(), r["fx_rate_date"].as_str()),
                ("", "")
            );
        }
    }
    let conversion: Vec<_> = records(&v.integrity)
        .into_iter()
        .filter(|r| r["check"] == "currency_conversion")
        .collect();
    assert_eq!(conversion.len(), 1);
    assert_eq!(conversion[0]["rows"], "5");
    assert!(conversion[0]["detail"].contains("(9 March 2024, rate of 8 March 2024)"));
}

#[test]
fn counterparties_are_read_from_narratives_and_normalised() {
    let v = run_fixture();
    let get = |file: &str, line: u32| ledger_row(&v, &txn(file, line)).unwrap();
    let r = get(EURO, 2);
    assert_eq!(
        (
            r["counterparty_name"].as_str(),
            r["counterparty_key"].as_str(),
            r["counterparty_rule"].as_str()
        ),
        (
            "NORTHGATE LOGISTICS GMBH",
            "NORTHGATE LOGISTICS",
            "bank-giro-credit"
        )
    );
    let r = get(EURO, 4);
    assert_eq!(
        (
            r["counterparty_name"].as_str(),
            r["counterparty_account"].as_str(),
            r["counterparty_rule"].as_str()
        ),
        ("DORIAN HARLOW", "309457 11223344", "faster-payment")
    );
    let r = get(EURO, 5);
    assert_eq!(
        (
            r["counterparty_name"].as_str(),
            r["counterparty_key"].as_str()
        ),
        ("JOHN SMITH", "JOHN SMITH")
    );
    // Cash has no named counterparty: the place is the location.
    let r = get(EURO, 6);
    assert_eq!(
        (
            r["counterparty_name"].as_str(),
            r["location"].as_str(),
            r["counterparty_rule"].as_str()
        ),
        ("", "LEEDS BRIGGATE", "cash-deposit")
    );
    // Narratives are never changed; what a layout gave is kept, and the key still normalised.
    assert_eq!(r["description"], "CASH DEPOSIT LEEDS BRIGGATE");
    let r = get(MONZO_B, 7);
    assert_eq!(
        (
            r["counterparty_name"].as_str(),
            r["counterparty_key"].as_str(),
            r["counterparty_rule"].as_str()
        ),
        ("Northgate Logistics Ltd", "NORTHGATE LOGISTICS", "")
    );
    assert_eq!(get(MONZO_A, 7)["location"], "LEEDS BRIGGATE");
}

#[test]
fn outputs_are_deterministic_and_have_the_documented_columns() {
    let a = run_fixture();
    let b = run_fixture();
    for (name, x, y) in [
        ("ledger.csv", &a.ledger, &b.ledger),
        ("integrity.csv", &a.integrity, &b.integrity),
        ("duplicates.csv", &a.duplicates, &b.duplicates),
        ("transfers.csv", &a.transfers, &b.transfers),
    ] {
        assert_eq!(
            frame_to_csv(name, x).unwrap(),
            frame_to_csv(name, y).unwrap(),
            "{name}"
        );
    }
    assert_eq!(a.summary, b.summary);
    let names = |df: &DataFrame| {
        df.get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&a.integrity), verify::integrity::COLUMNS);
    assert_eq!(names(&a.duplicates), verify::duplicates::COLUMNS);
    assert_eq!(names(&a.transfers), verify::transfers::COLUMNS);
    let mut ledger_columns: Vec<String> = proceeds::ledger::schema()
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    ledger_columns.extend(
        [
            "fx_rate",
            "fx_rate_date",
            "counterparty_key",
            "counterparty_rule",
            "transfer_id",
        ]
        .map(String::from),
    );
    assert_eq!(names(&a.ledger), ledger_columns);
    // Integrity rows are numbered in order, accounts in case-file order.
    let numbers = column(&a.integrity, "check_no");
    assert_eq!(
        numbers,
        (1..=numbers.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(a.counterparty_rules.origin, "rules/counterparties.toml");
    assert_eq!(a.counterparty_rules.sha256.len(), 64);
}

#[test]
fn the_summary_states_each_finding_in_words() {
    let v = run_fixture();
    let text = v.summary.join("\n");
    for needle in [
        "After verification the ledger holds 38 transactions",
        "5 were copies from overlapping exports",
        "DH-LLOYDS on 14 February 2024 (statements/lloyds_DH_2024Q1.csv, line 6",
        "reported £2,890.30, expected £2,990.30, a difference of -£100.00",
        "VH-STARLING from 1 February 2024 to 29 February 2024 (the balances show £350.00 of net movement missing)",
        "5 transactions in EUR were converted to GBP",
        "2 of them were booked on a day for which the table has no rate",
        "5 internal transfers between the case's own accounts were matched, £4,852.40 in all",
        "1 debit had a supported candidate credit that was matched to a better-evidenced debit instead",
    ] {
        assert!(text.contains(needle), "summary lacks {needle:?}:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Small ledgers built for the edge cases

struct Acc {
    id: &'static str,
    holder: &'static str,
    sort_code: &'static str,
    number: &'static str,
    currency: &'static str,
}

fn acc(
    id: &'static str,
    holder: &'static str,
    sort_code: &'static str,
    number: &'static str,
) -> Acc {
    Acc {
        id,
        holder,
        sort_code,
        number,
        currency: "GBP",
    }
}

/// A resolved case built directly: accounts, sources (path, account) and reference files.
fn mini_case(
    dir: &Path,
    accounts: &[Acc],
    sources: &[(&str, &str)],
    references: &[(&str, &str)],
) -> Case {
    let path = |written: &str| CasePath {
        written: written.to_string(),
        resolved: dir.join(written),
    };
    Case {
        path: dir.join("case.toml"),
        dir: dir.to_path_buf(),
        reference: "MINI".into(),
        title: None,
        base_currency: "GBP".into(),
        jurisdiction: "uk-poca-2002".into(),
        lifestyle: true,
        investigator: None,
        proceedings_started: NaiveDate::from_ymd_opt(2025, 3, 14).unwrap(),
        conviction: None,
        valuation: None,
        subjects: vec![Subject {
            id: "S".into(),
            name: "Dorian Harlow".into(),
            role: SubjectRole::Defendant,
            date_of_birth: None,
            address: None,
            phone: None,
            aliases: Vec::new(),
        }],
        accounts: accounts
            .iter()
            .map(|a| Account {
                id: a.id.into(),
                holder: a.holder.into(),
                bank: "Fictional Bank".into(),
                sort_code: Some(a.sort_code.into()),
                account_number: Some(a.number.into()),
                iban: None,
                currency: a.currency.into(),
                kind: AccountKind::Personal,
                business_type: None,
                controlled_by: vec!["S".into()],
            })
            .collect(),
        sources: sources
            .iter()
            .enumerate()
            .map(|(i, (p, account))| Source {
                index: i + 1,
                path: path(p),
                layout: "test".into(),
                account: Some(account.to_string()),
                exhibit: None,
                produced_by: None,
            })
            .collect(),
        reference_data: references
            .iter()
            .map(|(role, p)| ReferenceFile {
                role: role.to_string(),
                path: path(p),
            })
            .collect(),
        rule_sets: Vec::new(),
        layout_files: Vec::new(),
        verify: Default::default(),
        tracing: None,
    }
}

/// A row of a built ledger.
struct Row {
    source: &'static str,
    line: u32,
    date: (i32, u32, u32),
    amount: &'static str,
    channel: Channel,
    counterparty: Option<&'static str>,
    counterparty_account: Option<&'static str>,
    description: &'static str,
}

fn row(
    source: &'static str,
    line: u32,
    date: (i32, u32, u32),
    amount: &'static str,
    description: &'static str,
) -> Row {
    Row {
        source,
        line,
        date,
        amount,
        channel: Channel::Transfer,
        counterparty: None,
        counterparty_account: None,
        description,
    }
}

/// The fake SHA-256 of a built source: its position, then zeros; txn ids `{n}00000000000-L{line}`.
fn fake_sha(index: usize) -> String {
    format!("{index}{}", "0".repeat(63))
}

fn fake_txn(case: &Case, source: &str, line: u32) -> String {
    let s = case
        .sources
        .iter()
        .find(|s| s.path.written == source)
        .unwrap();
    proceeds::ledger::txn_id(&fake_sha(s.index), line, 0)
}

fn build_ledger(case: &Case, rows: &[Row]) -> DataFrame {
    let mut b = LedgerBuilder::new();
    for r in rows {
        let src = case
            .sources
            .iter()
            .find(|s| s.path.written == r.source)
            .unwrap();
        let account_id = src.account.clone().unwrap();
        let account_order = case
            .accounts
            .iter()
            .position(|a| a.id == account_id)
            .unwrap();
        let currency = case.accounts[account_order].currency.clone();
        let amount: Decimal = r.amount.parse().unwrap();
        let prov = Provenance {
            source_index: src.index as u32,
            source_file: src.path.written.clone(),
            source_sha256: fake_sha(src.index),
            exhibit: None,
        };
        b.push(
            account_order as u32,
            &prov,
            LedgerRow {
                account_id,
                source_line: r.line,
                sub: 0,
                order_in_source: u64::from(r.line),
                booking_date: NaiveDate::from_ymd_opt(r.date.0, r.date.1, r.date.2).unwrap(),
                value_date: None,
                amount,
                amount_base: (currency == case.base_currency).then_some(amount),
                currency,
                balance: None,
                channel: r.channel,
                counterparty_name: r.counterparty.map(String::from),
                counterparty_account: r.counterparty_account.map(String::from),
                description: r.description.into(),
                location: None,
                bank_type: None,
                bank_txn_id: None,
                booking_time: None,
                reversal: false,
                party: Default::default(),
                counterparty_country: None,
                excluded_reason: None,
            },
        );
    }
    b.finish().unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn overlap_rows() -> Vec<Row> {
    vec![
        row("s1.csv", 2, (2024, 1, 1), "-5.00", "SHOP"),
        row("s1.csv", 3, (2024, 1, 2), "-20.00", "ATM LEEDS"),
        row("s1.csv", 4, (2024, 1, 2), "-20.00", "ATM LEEDS"),
        row("s1.csv", 5, (2024, 1, 3), "-7.00", "SHOP"),
        // The second export shows three £20 withdrawals where the first shows two.
        row("s2.csv", 2, (2024, 1, 2), "-20.00", "Atm  Leeds"),
        row("s2.csv", 3, (2024, 1, 2), "-20.00", "ATM LEEDS"),
        row("s2.csv", 4, (2024, 1, 2), "-20.00", "ATM LEEDS"),
        row("s2.csv", 5, (2024, 1, 3), "-7.00", "SHOP"),
        row("s2.csv", 6, (2024, 1, 5), "-9.00", "CAFE"),
    ]
}

#[test]
fn duplicates_are_a_multiset_match_two_copies_drop_two_of_three() {
    let dir = tempfile::tempdir().unwrap();
    let case = mini_case(
        dir.path(),
        &[acc("A", "Dorian Harlow", "111111", "11111111")],
        &[("s1.csv", "A"), ("s2.csv", "A")],
        &[],
    );
    let ledger = build_ledger(&case, &overlap_rows());
    let v = verify(&case, ledger, &[], &VerifyOptions::default()).unwrap();
    let t = |s: &str, l: u32| fake_txn(&case, s, l);
    assert_eq!(
        column(&v.duplicates, "dropped_txn_id"),
        [t("s2.csv", 2), t("s2.csv", 3), t("s2.csv", 5)]
    );
    assert_eq!(
        column(&v.duplicates, "kept_txn_id"),
        [t("s1.csv", 3), t("s1.csv", 4), t("s1.csv", 5)]
    );
    // The third £20 of s2 has no copy in s1: it is kept and the overlap fails for review.
    let ids = column(&v.ledger, "txn_id");
    assert!(ids.contains(&t("s2.csv", 4)) && ids.contains(&t("s2.csv", 6)));
    assert!(ids.contains(&t("s1.csv", 3)) && ids.contains(&t("s1.csv", 4)));
    assert_eq!(v.ledger.height(), 9 - 3);
    let overlap: Vec<_> = records(&v.integrity)
        .into_iter()
        .filter(|r| r["check"] == "overlap")
        .collect();
    assert_eq!(overlap.len(), 1);
    assert_eq!(overlap[0]["result"], "fail");
    assert_eq!(
        (
            overlap[0]["from_date"].as_str(),
            overlap[0]["to_date"].as_str()
        ),
        ("2024-01-02", "2024-01-03")
    );
    assert_eq!(
        (
            overlap[0]["expected"].as_str(),
            overlap[0]["reported"].as_str(),
            overlap[0]["difference"].as_str()
        ),
        ("-47.00", "-67.00", "-20.00")
    );
    assert!(overlap[0]["detail"].contains(&format!(
        "have no copy in s1.csv and were kept: {}",
        t("s2.csv", 4)
    )));
}

#[test]
fn the_source_listed_first_in_the_case_file_is_the_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    // Same rows, case file lists s2 first: now s1's copies are the ones dropped.
    let case = mini_case(
        dir.path(),
        &[acc("A", "Dorian Harlow", "111111", "11111111")],
        &[("s2.csv", "A"), ("s1.csv", "A")],
        &[],
    );
    let v = verify(
        &case,
        build_ledger(&case, &overlap_rows()),
        &[],
        &VerifyOptions::default(),
    )
    .unwrap();
    let t = |s: &str, l: u32| fake_txn(&case, s, l);
    assert_eq!(
        column(&v.duplicates, "dropped_txn_id"),
        [t("s1.csv", 3), t("s1.csv", 4), t("s1.csv", 5)]
    );
    assert_eq!(
        column(&v.duplicates, "kept_txn_id"),
        [t("s2.csv", 2), t("s2.csv", 3), t("s2.csv", 5)]
    );
}

fn transfer_case(dir: &Path) -> Case {
    let mut eur = acc("E", "Dorian Harlow", "333333", "33333333");
    eur.currency = "EUR";
    write(
        dir,
        "rates.csv",
        "date,currency,rate\n2024-02-01,EUR,0.85\n2024-02-05,EUR,0.85\n",
    );
    mini_case(
        dir,
        &[
            acc("A", "Dorian Harlow", "111111", "11111111"),
            acc("B", "Dorian Harlow", "222222", "22222222"),
            acc("C", "Dorian Harlow", "444444", "44444444"),
            eur,
        ],
        &[
            ("a.csv", "A"),
            ("b.csv", "B"),
            ("c.csv", "C"),
            ("e.csv", "E"),
        ],
        &[("rates", "rates.csv")],
    )
}

fn with_account(mut r: Row, account: &'static str) -> Row {
    r.counterparty_account = Some(account);
    r
}

fn with_name(mut r: Row, name: &'static str) -> Row {
    r.counterparty = Some(name);
    r
}

#[test]
fn the_transfer_window_and_fx_tolerance_are_exact_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let case = transfer_case(dir.path());
    let rows = vec![
        // Credit 3 days after the debit: inside the default window of 3.
        with_account(
            row("a.csv", 2, (2024, 1, 1), "-100.00", "TO B"),
            "22-22-22 22222222",
        ),
        row("b.csv", 2, (2024, 1, 4), "100.00", "FROM A"),
        // Credit 4 days after: outside.
        with_account(
            row("a.csv", 3, (2024, 1, 10), "-200.00", "TO B"),
            "22-22-22 22222222",
        ),
        row("b.csv", 3, (2024, 1, 14), "200.00", "FROM A"),
        // €1,000.00 at 0.85 = £850.00; 2% of it is £17.00: £867.00 is inside ...
        with_account(
            row("e.csv", 2, (2024, 2, 1), "-1000.00", "TO B"),
            "222222 22222222",
        ),
        row("b.csv", 4, (2024, 2, 1), "867.00", "FROM E"),
        // ... and £867.01 is outside.
        with_account(
            row("e.csv", 3, (2024, 2, 5), "-1000.00", "TO B"),
            "222222 22222222",
        ),
        row("b.csv", 5, (2024, 2, 5), "867.01", "FROM E"),
    ];
    let v = verify(
        &case,
        build_ledger(&case, &rows),
        &[],
        &VerifyOptions::default(),
    )
    .unwrap();
    let t = |s: &str, l: u32| fake_txn(&case, s, l);
    let pairs: Vec<(String, String)> = records(&v.transfers)
        .into_iter()
        .map(|r| (r["debit_txn_id"].clone(), r["credit_txn_id"].clone()))
        .collect();
    assert_eq!(
        pairs,
        [
            (t("a.csv", 2), t("b.csv", 2)),
            (t("e.csv", 2), t("b.csv", 4))
        ]
    );
    let fx = &records(&v.transfers)[1];
    assert_eq!(
        (
            fx["debit_amount_base"].as_str(),
            fx["amount_base"].as_str(),
            fx["base_difference"].as_str()
        ),
        ("850.00", "867.00", "17.00")
    );
    // A wider window takes the 4-day pair too.
    let options = VerifyOptions {
        transfer_window_days: 4,
        ..VerifyOptions::default()
    };
    let v = verify(&case, build_ledger(&case, &rows), &[], &options).unwrap();
    assert_eq!(v.transfers.height(), 3);
}

#[test]
fn equal_scores_break_by_date_gap_then_seq_and_matching_is_one_to_one() {
    let dir = tempfile::tempdir().unwrap();
    let case = transfer_case(dir.path());
    let rows = vec![
        // Score 45 both: B same day with initials (15 + 5), C next day with the full name (10 + 10).
        row("a.csv", 2, (2024, 3, 1), "-300.00", "TO SAVINGS"),
        with_name(row("b.csv", 2, (2024, 3, 1), "300.00", "IN"), "D Harlow"),
        with_name(
            row("c.csv", 2, (2024, 3, 2), "300.00", "IN"),
            "Dorian Harlow",
        ),
        // Score 50 both, same day: the credit earlier in the ledger (account B before C) wins.
        row("a.csv", 3, (2024, 4, 1), "-400.00", "TO SAVINGS"),
        with_name(
            row("b.csv", 3, (2024, 4, 1), "400.00", "IN"),
            "Mr Dorian Harlow",
        ),
        with_name(
            row("c.csv", 3, (2024, 4, 1), "400.00", "IN"),
            "DORIAN HARLOW",
        ),
        // Two debits for one credit: the one whose payee account names C takes it (65 to 50).
        with_account(
            row("a.csv", 4, (2024, 5, 1), "-500.00", "TO C"),
            "44-44-44 44444444",
        ),
        row("b.csv", 4, (2024, 5, 1), "-500.00", "TO C"),
        with_name(
            row("c.csv", 4, (2024, 5, 1), "500.00", "IN"),
            "Dorian Harlow",
        ),
        // Amount and date alone, no evidence: not a transfer.
        row("a.csv", 5, (2024, 6, 1), "-600.00", "PAYMENT"),
        row("b.csv", 5, (2024, 6, 1), "600.00", "RECEIPT"),
    ];
    let v = verify(
        &case,
        build_ledger(&case, &rows),
        &[],
        &VerifyOptions::default(),
    )
    .unwrap();
    let t = |s: &str, l: u32| fake_txn(&case, s, l);
    let got: Vec<(String, String, String)> = records(&v.transfers)
        .into_iter()
        .map(|r| {
            (
                r["debit_txn_id"].clone(),
                r["credit_txn_id"].clone(),
                r["score"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (t("a.csv", 2), t("b.csv", 2), "45".to_string()),
            (t("a.csv", 3), t("b.csv", 3), "50".to_string()),
            (t("a.csv", 4), t("c.csv", 4), "65".to_string()),
        ]
    );
    assert!(v
        .summary
        .iter()
        .any(|p| p.contains("1 further debit had a credit of the same amount")));
    assert!(v
        .summary
        .iter()
        .any(|p| p.contains("1 debit had a supported candidate credit")));
    // Without the evidence requirement, the bare pair is matched too.
    let options = VerifyOptions {
        require_transfer_evidence: false,
        ..VerifyOptions::default()
    };
    let v = verify(&case, build_ledger(&case, &rows), &[], &options).unwrap();
    assert_eq!(v.transfers.height(), 4);
    assert_eq!(column(&v.transfers, "score")[3], "40");
}

// ---------------------------------------------------------------------------------------
// Refusals

fn euro_case(dir: &Path, rates: Option<&str>) -> (Case, DataFrame) {
    let mut eur = acc("E", "Dorian Harlow", "333333", "33333333");
    eur.currency = "EUR";
    let refs: Vec<(&str, &str)> = match rates {
        Some(text) => {
            write(dir, "rates.csv", text);
            vec![("rates", "rates.csv")]
        }
        None => Vec::new(),
    };
    let case = mini_case(dir, &[eur], &[("e.csv", "E")], &refs);
    let ledger = build_ledger(&case, &[row("e.csv", 7, (2024, 1, 20), "-10.00", "CARD")]);
    (case, ledger)
}

#[test]
fn a_missing_rate_is_an_error_naming_the_date_and_currency() {
    let dir = tempfile::tempdir().unwrap();
    let (case, ledger) = euro_case(
        dir.path(),
        Some("date,currency,rate\n2024-01-21,EUR,0.85\n"),
    );
    let e = verify(&case, ledger, &[], &VerifyOptions::default()).unwrap_err();
    assert!(matches!(e, VerifyError::MissingRate { .. }), "{e:?}");
    let msg = e.to_string();
    for needle in [
        "rates.csv",
        "no EUR rate on or before 2024-01-20",
        "e.csv, line 7",
        "2024-01-20,EUR,RATE",
    ] {
        assert!(msg.contains(needle), "{msg}");
    }
    assert!(!e.is_internal());
}

#[test]
fn a_rate_older_than_the_limit_is_an_error_not_a_stand_in() {
    let dir = tempfile::tempdir().unwrap();
    let (case, ledger) = euro_case(
        dir.path(),
        Some("date,currency,rate\n2024-01-12,EUR,0.85\n"),
    );
    let e = verify(&case, ledger.clone(), &[], &VerifyOptions::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("dated 2024-01-12, 8 days earlier") && msg.contains("more than the 7 days"),
        "{msg}"
    );
    // A monthly table is accepted when the limit says so.
    let options = VerifyOptions {
        max_rate_age_days: 8,
        ..VerifyOptions::default()
    };
    let v = verify(&case, ledger, &[], &options).unwrap();
    assert_eq!(column(&v.ledger, "amount_base"), ["-8.50"]);
    assert_eq!(column(&v.ledger, "fx_rate_date"), ["2024-01-12"]);
}

#[test]
fn foreign_currency_without_a_rates_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (case, ledger) = euro_case(dir.path(), None);
    let msg = verify(&case, ledger, &[], &VerifyOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("account E is held in EUR") && msg.contains("[reference]"),
        "{msg}"
    );
}

#[test]
fn a_malformed_rates_file_is_refused_with_line_and_field() {
    let cases = [
        (
            "date,currency,rate\n2024-01-05,EUR,0.85\n05/01/2024,EUR,0.85\n",
            "line 3, field `date`",
        ),
        (
            "date,currency,rate\n2024-01-05,EURO,0.85\n",
            "line 2, field `currency`",
        ),
        (
            "date,currency,rate\n2024-01-05,GBP,1\n",
            "line 2, field `currency`: GBP is the base currency",
        ),
        (
            "date,currency,rate\n2024-01-05,EUR,\"0,85\"\n",
            "line 2, field `rate`",
        ),
        (
            "date,currency,rate\n2024-01-05,EUR,-0.85\n",
            "line 2, field `rate`",
        ),
        (
            "date,currency,rate\n2024-01-05,EUR,0\n",
            "line 2, field `rate`: is zero",
        ),
        (
            "date,currency,rate\n2024-01-05,EUR,0.123456789\n",
            "line 2, field `rate`",
        ),
        (
            "date,currency,rate\n2024-01-05,EUR,0.85\n2024-01-05,EUR,0.86\n",
            "line 3, field `date`: EUR on 2024-01-05 is already given at line 2",
        ),
        ("date,currency\n2024-01-05,EUR\n", "line 1, field `header`"),
        (
            "date,currency,rate\n2024-01-05,EUR,0.85,extra\n",
            "line 2, field ``: has 4 fields",
        ),
    ];
    for (text, want) in cases {
        let e = RateTable::parse("reference/rates.csv", "x", text, "GBP").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("rates file reference/rates.csv, ") && msg.contains(want),
            "{text:?}: {msg}"
        );
    }
}

#[test]
fn a_malformed_period_balances_file_is_refused_with_line_and_field() {
    let case = fixture_case();
    let bad = [
        ("account_id,period_start,period_end,opening_balance,closing_balance\nNOPE,2024-01-01,2024-01-31,1.00,2.00\n", "line 2, field `account_id`"),
        ("account_id,period_start,period_end,opening_balance,closing_balance\nDH-LLOYDS,2024-01-31,2024-01-01,1.00,2.00\n", "line 2, field `period_end`"),
        ("account_id,period_start,period_end,opening_balance,closing_balance\nDH-LLOYDS,2024-01-01,2024-01-31,\"1,000.00\",2.00\n", "line 2, field `opening_balance`"),
        ("account_id,period_start,period_end,opening_balance,closing_balance\nDH-LLOYDS,2024-01-01,2024-01-31,1.00,2.005\n", "line 2, field `closing_balance`"),
    ];
    for (text, want) in bad {
        let msg = verify::periods::parse_period_balances(&case, "p.csv", "x", text)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("period balances file p.csv") && msg.contains(want),
            "{msg}"
        );
    }
}

#[test]
fn options_have_defaults_and_refuse_unknown_keys() {
    let o: VerifyOptions =
        toml::from_str("transfer_window_days = 5\nfx_tolerance = \"0.015\"\n").unwrap();
    assert_eq!(o.transfer_window_days, 5);
    assert_eq!(o.fx_tolerance, "0.015".parse::<Decimal>().unwrap());
    assert_eq!(
        o.max_rate_age_days,
        VerifyOptions::default().max_rate_age_days
    );
    assert!(toml::from_str::<VerifyOptions>("transfer_window = 5\n").is_err());
    let d = VerifyOptions::default();
    assert_eq!(
        (d.transfer_window_days, d.fx_tolerance.to_string().as_str()),
        (3, "0.02")
    );
    // Nonsense values are refused before any work.
    let dir = tempfile::tempdir().unwrap();
    let (case, ledger) = euro_case(dir.path(), None);
    let bad = VerifyOptions {
        transfer_channels: vec!["wire".into()],
        ..VerifyOptions::default()
    };
    let msg = verify(&case, ledger, &[], &bad).unwrap_err().to_string();
    assert!(
        msg.contains("transfer_channels") && msg.contains("\"wire\""),
        "{msg}"
    );
}

#[test]
fn the_demo_case_verifies_cleanly_and_its_own_account_transfers_are_found() {
    let case = Case::load(&fixture("demo/case.toml"), ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let ingested = ingest_case(&case, &registry, false).unwrap();
    let rows = ingested.ledger.height();
    let v = verify(
        &case,
        ingested.ledger,
        &ingested.statements,
        &VerifyOptions::default(),
    )
    .unwrap();
    assert_eq!(v.ledger.height(), rows, "the demo exports do not overlap");
    assert!(records(&v.integrity).iter().all(|r| r["result"] != "fail"));
    let t = records(&v.transfers);
    assert!(t.iter().any(|r| r["debit_account"] == "DH-LLOYDS"
        && r["credit_account"] == "DH-MONZO"
        && r["debit_date"] == "2024-01-10"
        && r["amount_base"] == "5000.00"));
}

#[test]
fn an_empty_ledger_verifies_to_empty_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let case = mini_case(
        dir.path(),
        &[acc("A", "Dorian Harlow", "111111", "11111111")],
        &[("s1.csv", "A")],
        &[],
    );
    let v = verify(
        &case,
        build_ledger(&case, &[]),
        &[],
        &VerifyOptions::default(),
    )
    .unwrap();
    assert_eq!(
        (
            v.ledger.height(),
            v.duplicates.height(),
            v.transfers.height()
        ),
        (0, 0, 0)
    );
    let integrity = records(&v.integrity);
    assert_eq!(integrity.len(), 1);
    assert_eq!(
        (
            integrity[0]["check"].as_str(),
            integrity[0]["result"].as_str()
        ),
        ("coverage", "not_checked")
    );
}
