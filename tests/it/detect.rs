//! Detection rules: each shipped rule fires on the rows it must and not on its decoys, with
//! the exact evidence rows asserted; rule-file errors name file, rule, key and what is valid.

use std::path::PathBuf;
use std::str::FromStr;

use chrono::NaiveDate;
use polars::prelude::*;
use proceeds::case::{Account, AccountKind, Case, Subject, SubjectRole};
use proceeds::ledger::{Channel, LedgerBuilder, LedgerRow, Provenance};
use proceeds::rules::{self, Findings, Reference};
use rust_decimal::Decimal;

use crate::support;

// ---------------------------------------------------------------------------------------
// Building cases and ledgers in Rust
// ---------------------------------------------------------------------------------------

/// A subject: id, full name, address.
type S<'a> = (&'a str, &'a str, Option<&'a str>);

/// An account: id, controlling subjects, business type (business accounts only).
type A<'a> = (&'a str, &'a [&'a str], Option<&'a str>);

fn case(subjects: &[S<'_>], accounts: &[A<'_>]) -> Case {
    Case {
        path: PathBuf::from("fixtures/detect/case.toml"),
        dir: PathBuf::from("fixtures/detect"),
        reference: "DETECT-TEST".into(),
        title: None,
        base_currency: "GBP".into(),
        jurisdiction: "uk-poca-2002".into(),
        lifestyle: true,
        investigator: None,
        proceedings_started: NaiveDate::from_ymd_opt(2025, 3, 14).unwrap(),
        conviction: None,
        valuation: None,
        subjects: subjects
            .iter()
            .enumerate()
            .map(|(i, (id, name, address))| Subject {
                id: id.to_string(),
                name: name.to_string(),
                role: if i == 0 {
                    SubjectRole::Defendant
                } else {
                    SubjectRole::Associate
                },
                date_of_birth: None,
                address: address.map(str::to_string),
                aliases: Vec::new(),
            })
            .collect(),
        accounts: accounts
            .iter()
            .map(|(id, by, business)| Account {
                id: id.to_string(),
                holder: id.to_string(),
                bank: "Test Bank".into(),
                sort_code: Some("309457".into()),
                account_number: Some("12345678".into()),
                iban: None,
                currency: "GBP".into(),
                kind: if business.is_some() {
                    AccountKind::Business
                } else {
                    AccountKind::Personal
                },
                business_type: business.map(str::to_string),
                controlled_by: by.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
        sources: Vec::new(),
        reference_data: Vec::new(),
        rule_sets: Vec::new(),
        layout_files: Vec::new(),
    }
}

/// One transaction to add to a test ledger.
#[derive(Clone, Copy)]
struct T<'a> {
    account: &'a str,
    date: &'a str,
    amount: &'a str,
    channel: Channel,
    counterparty: Option<&'a str>,
    location: Option<&'a str>,
    counterparty_account: Option<&'a str>,
}

fn t<'a>(account: &'a str, date: &'a str, amount: &'a str, channel: Channel) -> T<'a> {
    T {
        account,
        date,
        amount,
        channel,
        counterparty: None,
        location: None,
        counterparty_account: None,
    }
}

impl<'a> T<'a> {
    fn from(mut self, who: &'a str) -> Self {
        self.counterparty = Some(who);
        self
    }
    fn at(mut self, location: &'a str) -> Self {
        self.location = Some(location);
        self
    }
    fn to_account(mut self, account: &'a str) -> Self {
        self.counterparty_account = Some(account);
        self
    }
}

/// A ledger built row by row; every row is one line of one fictional source file, so its
/// `txn_id` is `0000000000ab-L<line>`.
struct Book {
    case: Case,
    builder: LedgerBuilder,
    line: u32,
}

const SHA: &str = "0000000000ab0000000000000000000000000000000000000000000000000000";

impl Book {
    fn new(case: Case) -> Book {
        Book {
            case,
            builder: LedgerBuilder::new(),
            line: 1,
        }
    }

    /// Add a row and return its txn_id.
    fn add(&mut self, tx: T<'_>) -> String {
        self.line += 1;
        let order = self
            .case
            .accounts
            .iter()
            .position(|a| a.id == tx.account)
            .unwrap_or_else(|| panic!("no account {}", tx.account)) as u32;
        let amount = Decimal::from_str(tx.amount).unwrap();
        let prov = Provenance {
            source_index: 1,
            source_file: "statements/test.csv".into(),
            source_sha256: SHA.into(),
            exhibit: Some("AE/1".into()),
        };
        let row = LedgerRow {
            account_id: tx.account.into(),
            source_line: self.line,
            sub: 0,
            order_in_source: u64::from(self.line),
            booking_date: NaiveDate::parse_from_str(tx.date, "%Y-%m-%d").unwrap(),
            value_date: None,
            amount,
            currency: "GBP".into(),
            amount_base: Some(amount),
            balance: None,
            channel: tx.channel,
            counterparty_name: tx.counterparty.map(str::to_string),
            counterparty_account: tx.counterparty_account.map(str::to_string),
            description: format!(
                "{} {}",
                tx.channel.as_str().to_uppercase(),
                tx.counterparty.unwrap_or("")
            )
            .trim()
            .to_string(),
            location: tx.location.map(str::to_string),
            bank_type: None,
            bank_txn_id: None,
            booking_time: None,
            reversal: false,
        };
        self.builder.push(order, &prov, row);
        format!("0000000000ab-L{}", self.line)
    }

    fn run(self, rule_ids: &[&str]) -> Findings {
        self.run_with(rule_ids, &Reference::shipped().unwrap())
    }

    fn run_with(self, rule_ids: &[&str], reference: &Reference) -> Findings {
        let ledger = self.builder.finish().unwrap();
        let rules: Vec<_> = rules::shipped_rules()
            .unwrap()
            .into_iter()
            .filter(|r| rule_ids.contains(&r.id.as_str()))
            .collect();
        assert_eq!(rules.len(), rule_ids.len(), "unknown rule id in {rule_ids:?}");
        rules::run_rules(&ledger, &self.case, &rules, reference).unwrap()
    }
}

/// Every finding of a rule: (finding_id, evidence txn_ids from the evidence frame).
fn found(f: &Findings, rule: &str) -> Vec<(String, Vec<String>)> {
    let ids = column(&f.findings, "finding_id");
    let rules = column(&f.findings, "rule_id");
    let ev_ids = column(&f.evidence, "finding_id");
    let ev_txn = column(&f.evidence, "txn_id");
    ids.iter()
        .zip(&rules)
        .filter(|(_, r)| *r == rule)
        .map(|(id, _)| {
            let txns = ev_ids
                .iter()
                .zip(&ev_txn)
                .filter(|(e, _)| *e == id)
                .map(|(_, t)| t.clone())
                .collect();
            (id.clone(), txns)
        })
        .collect()
}

/// A column as strings (nulls empty).
fn column(df: &DataFrame, name: &str) -> Vec<String> {
    df.column(name)
        .unwrap()
        .cast(&DataType::String)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect()
}

/// One finding's value in a column.
fn cell(f: &Findings, finding_id: &str, name: &str) -> String {
    let ids = column(&f.findings, "finding_id");
    let i = ids
        .iter()
        .position(|x| x == finding_id)
        .unwrap_or_else(|| panic!("no finding {finding_id}; have {ids:?}"));
    column(&f.findings, name)[i].clone()
}

fn ids(v: &[&String]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Checks every finding's invariants: evidence rows exist, the evidence_txn_ids column
/// matches the evidence frame, and the totals reconcile to the penny with the rows.
fn check_invariants(f: &Findings) {
    let ids = column(&f.findings, "finding_id");
    let listed = column(&f.findings, "evidence_txn_ids");
    let count = column(&f.findings, "evidence_count");
    let amount_in = column(&f.findings, "amount_in");
    let amount_out = column(&f.findings, "amount_out");
    let total = column(&f.findings, "total_amount");
    let ev_ids = column(&f.evidence, "finding_id");
    let ev_txn = column(&f.evidence, "txn_id");
    let ev_amount = column(&f.evidence, "amount_base");
    for (i, id) in ids.iter().enumerate() {
        let rows: Vec<usize> = (0..ev_ids.len()).filter(|&j| &ev_ids[j] == id).collect();
        assert!(!rows.is_empty(), "{id} has no evidence");
        let txns: Vec<String> = rows.iter().map(|&j| ev_txn[j].clone()).collect();
        assert_eq!(txns.join(";"), listed[i], "{id}");
        assert_eq!(rows.len().to_string(), count[i], "{id}");
        let mut sum_in = Decimal::ZERO;
        let mut sum_out = Decimal::ZERO;
        for &j in &rows {
            let a = Decimal::from_str(&ev_amount[j]).unwrap();
            if a > Decimal::ZERO {
                sum_in += a;
            } else {
                sum_out -= a;
            }
        }
        assert_eq!(Decimal::from_str(&amount_in[i]).unwrap(), sum_in, "{id}");
        assert_eq!(Decimal::from_str(&amount_out[i]).unwrap(), sum_out, "{id}");
        assert_eq!(Decimal::from_str(&total[i]).unwrap(), sum_in + sum_out, "{id}");
    }
}

// ---------------------------------------------------------------------------------------
// Structuring
// ---------------------------------------------------------------------------------------

#[test]
fn structuring_fires_on_split_cash_and_not_on_decoys() {
    use Channel::*;
    let c = case(
        &[
            ("DH", "Dorian Harlow", Some("14 Larkfield Rise, Leeds")),
            ("VH", "Vesna Harlow", Some("14 Larkfield Rise, Leeds")),
        ],
        &[
            ("DH-LLOYDS", &["DH"], None),
            ("DH-MONZO", &["DH"], None),
            ("VH-NW", &["VH"], None),
        ],
    );
    let mut b = Book::new(c);
    // Fires: three deposits under £10,000 in five days at three branches (STR-001, STR-003).
    let jan1 = b.add(t("DH-LLOYDS", "2024-01-08", "9500.00", CashDeposit).at("Leeds Kirkgate"));
    let jan2 = b.add(t("DH-LLOYDS", "2024-01-10", "9200.00", CashDeposit).at("Leeds Briggate"));
    let jan3 = b.add(t("DH-LLOYDS", "2024-01-12", "8800.00", CashDeposit).at("Wakefield"));
    // Fires STR-002 only: one deposit into each of two accounts of the same person.
    let feb1 = b.add(t("DH-LLOYDS", "2024-02-05", "9000.00", CashDeposit).at("Leeds Kirkgate"));
    let feb2 = b.add(t("DH-MONZO", "2024-02-07", "9900.00", CashDeposit));
    // Decoy: a single large cash deposit, above the threshold (declared, e.g. a car sale).
    b.add(t("DH-LLOYDS", "2024-03-01", "15000.00", CashDeposit).at("Leeds Kirkgate"));
    // Decoy: one in-band deposit on its own.
    b.add(t("DH-LLOYDS", "2024-04-01", "9999.99", CashDeposit));
    // Window edge: 8 days apart is outside a 7-day window (no finding) ...
    b.add(t("DH-LLOYDS", "2024-05-01", "9000.00", CashDeposit));
    b.add(t("DH-LLOYDS", "2024-05-09", "9000.00", CashDeposit));
    // ... 7 days apart (1st and 7th) is inside it (finding).
    let jun1 = b.add(t("DH-MONZO", "2024-06-01", "8500.00", CashDeposit));
    let jun2 = b.add(t("DH-MONZO", "2024-06-07", "8500.00", CashDeposit));
    // Decoy: just below the band, twice in two days.
    b.add(t("DH-MONZO", "2024-07-01", "7999.99", CashDeposit));
    b.add(t("DH-MONZO", "2024-07-02", "7999.99", CashDeposit));
    // Decoy: in-band amounts, but transfers, not cash.
    b.add(t("DH-MONZO", "2024-08-01", "9500.00", Transfer).from("HALLAM AND CO"));
    b.add(t("DH-MONZO", "2024-08-02", "9500.00", Transfer).from("HALLAM AND CO"));
    // Decoy: small routine cash, weekly.
    for day in ["2024-01-05", "2024-01-12", "2024-01-19", "2024-01-26", "2024-02-02"] {
        b.add(t("VH-NW", day, "250.00", CashDeposit).at("Leeds Kirkgate"));
    }
    let f = b.run(&["STR-001", "STR-002", "STR-003"]);
    check_invariants(&f);

    assert_eq!(
        found(&f, "STR-001"),
        vec![
            (
                "STR-001/DH-LLOYDS/2024-01-08/1".to_string(),
                ids(&[&jan1, &jan2, &jan3])
            ),
            ("STR-001/DH-MONZO/2024-06-01/1".to_string(), ids(&[&jun1, &jun2])),
        ]
    );
    assert_eq!(
        found(&f, "STR-002"),
        vec![(
            "STR-002/subject:DH/2024-02-05/1".to_string(),
            ids(&[&feb1, &feb2])
        )]
    );
    assert_eq!(
        found(&f, "STR-003"),
        vec![(
            "STR-003/subject:DH/2024-01-08/1".to_string(),
            ids(&[&jan1, &jan2, &jan3])
        )]
    );

    let id = "STR-001/DH-LLOYDS/2024-01-08/1";
    assert_eq!(cell(&f, id, "amount_in"), "27500.00");
    assert_eq!(cell(&f, id, "total_amount"), "27500.00");
    assert_eq!(cell(&f, id, "window_start"), "2024-01-08");
    assert_eq!(cell(&f, id, "window_end"), "2024-01-12");
    assert_eq!(cell(&f, id, "subject"), "DH");
    assert_eq!(cell(&f, id, "account_id"), "DH-LLOYDS");
    assert_eq!(cell(&f, id, "rule_version"), "1");
    assert_eq!(
        cell(&f, id, "metrics"),
        "highest 7-day total of in-band deposits: £27,500.00 (test: at least £10,000.00, met); \
         in-band deposits in a 7-day window: 3 (test: at least 2, met); \
         band: £8,000.00 to £9,999.99; \
         in-band deposits in the episode: 3; \
         total of the episode's in-band deposits: £27,500.00"
    );
    assert!(cell(&f, id, "metrics_json").starts_with(
        r#"[{"met":true,"metric":"peak_window_total","op":">=","threshold":"10000.00","value":"27500.00"}"#
    ));
    assert_eq!(
        cell(&f, "STR-002/subject:DH/2024-02-05/1", "account_id"),
        "DH-LLOYDS;DH-MONZO"
    );
    assert!(cell(&f, "STR-003/subject:DH/2024-01-08/1", "metrics")
        .contains("branches or machines used: 3 (test: at least 3, met); locations: LEEDS BRIGGATE, LEEDS KIRKGATE, WAKEFIELD"));
    // The evidence frame carries provenance for each row.
    let files = column(&f.evidence, "source_file");
    assert!(files.iter().all(|s| s == "statements/test.csv"));
    let lines = column(&f.evidence, "source_line");
    assert_eq!(&lines[..3], &["2", "3", "4"]);
}
