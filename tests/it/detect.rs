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
                phone: None,
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
        verify: Default::default(),
        tracing: None,
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
            party: Default::default(),
            counterparty_country: None,
            excluded_reason: None,
        };
        self.builder.push(order, &prov, row);
        format!("0000000000ab-L{}", self.line)
    }

    fn finish(self) -> (DataFrame, Case) {
        (self.builder.finish().unwrap(), self.case)
    }

    fn run(self, rule_ids: &[&str]) -> Findings {
        self.run_with(rule_ids, &Reference::shipped().unwrap())
    }

    fn run_with(self, rule_ids: &[&str], reference: &Reference) -> Findings {
        let (ledger, case) = self.finish();
        rules::run_rules(&ledger, &case, &shipped(rule_ids), reference).unwrap()
    }
}

/// Shipped rules by id.
fn shipped(rule_ids: &[&str]) -> Vec<rules::Rule> {
    let rules: Vec<_> = rules::shipped_rules()
        .unwrap()
        .into_iter()
        .filter(|r| rule_ids.contains(&r.id.as_str()))
        .collect();
    assert_eq!(
        rules.len(),
        rule_ids.len(),
        "unknown rule id in {rule_ids:?}"
    );
    rules
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
        assert_eq!(
            Decimal::from_str(&total[i]).unwrap(),
            sum_in + sum_out,
            "{id}"
        );
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
    for day in [
        "2024-01-05",
        "2024-01-12",
        "2024-01-19",
        "2024-01-26",
        "2024-02-02",
    ] {
        b.add(t("VH-NW", day, "250.00", CashDeposit).at("Leeds Kirkgate"));
    }
    let (ledger, c) = b.finish();
    let reference = Reference::shipped().unwrap();
    let f = rules::run_rules(
        &ledger,
        &c,
        &shipped(&["STR-001", "STR-002", "STR-003"]),
        &reference,
    )
    .unwrap();
    check_invariants(&f);

    // Scope: one account, up to a date. Only the June pair of DH-MONZO is left.
    let scoped = format!("{GOOD_RULE}\n[rule.scope]\naccounts = [\"DH-MONZO\"]\nto = 2024-06-30\n");
    let scoped = rules::compile::compile_file(&scoped, "local.toml").unwrap();
    let g = rules::run_rules(&ledger, &c, &scoped, &reference).unwrap();
    assert_eq!(
        found(&g, "STR-001"),
        vec![(
            "STR-001/DH-MONZO/2024-06-01/1".to_string(),
            ids(&[&jun1, &jun2])
        )]
    );
    assert_eq!(
        g.rules[0].scope,
        "channels cash_deposit (the kind's default); accounts DH-MONZO; to 2024-06-30"
    );
    let wrong = format!("{GOOD_RULE}\n[rule.scope]\nsubjects = [\"XX\"]\n");
    let wrong = rules::compile::compile_file(&wrong, "local.toml").unwrap();
    assert_eq!(
        rules::run_rules(&ledger, &c, &wrong, &reference).unwrap_err().to_string(),
        "rule STR-001: scope names subject \"XX\", which the case does not declare; declared subjects: DH, VH"
    );

    assert_eq!(
        found(&f, "STR-001"),
        vec![
            (
                "STR-001/DH-LLOYDS/2024-01-08/1".to_string(),
                ids(&[&jan1, &jan2, &jan3])
            ),
            (
                "STR-001/DH-MONZO/2024-06-01/1".to_string(),
                ids(&[&jun1, &jun2])
            ),
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

// ---------------------------------------------------------------------------------------
// Money-transfer sends
// ---------------------------------------------------------------------------------------

#[test]
fn msb_structuring_by_one_sender_and_by_linked_senders() {
    use Channel::MsbSend;
    let c = case(
        &[
            ("DH", "Dorian Harlow", Some("14 Larkfield Rise, Leeds")),
            ("VH", "Vesna Harlow", Some("14 Larkfield Rise, Leeds")),
            ("KN", "Kasia Nowak", Some("2 Mill Lane, Bradford")),
        ],
        &[
            ("DH-WU", &["DH"], None),
            ("VH-WU", &["VH"], None),
            ("KN-WU", &["KN"], None),
        ],
    );
    let mut b = Book::new(c);
    // MSB-001: one sender, one receiver (name written two ways), just under £1,000.
    let a1 = b.add(t("DH-WU", "2024-02-01", "-950.00", MsbSend).from("Ahmed Khan"));
    let a2 = b.add(t("DH-WU", "2024-02-03", "-980.00", MsbSend).from("AHMED  KHAN."));
    // MSB-002: two Harlows (same surname and address), one receiver, just under £2,000.
    let f1 = b.add(t("DH-WU", "2024-03-01", "-1900.00", MsbSend).from("Faisal Qureshi"));
    let f2 = b.add(t("VH-WU", "2024-03-02", "-1850.00", MsbSend).from("Faisal Qureshi"));
    // Decoy: an unrelated sender to the same receiver on the same days.
    b.add(t("KN-WU", "2024-03-02", "-1800.00", MsbSend).from("Faisal Qureshi"));
    // MSB-003: two Harlows on the same day, to different receivers.
    let s1 = b.add(t("DH-WU", "2024-04-05", "-900.00", MsbSend).from("Receiver One"));
    let s2 = b.add(t("VH-WU", "2024-04-05", "-850.00", MsbSend).from("Receiver Two"));
    // Decoys: above every threshold; below the band.
    b.add(t("DH-WU", "2024-05-01", "-2500.00", MsbSend).from("Ahmed Khan"));
    b.add(t("DH-WU", "2024-05-02", "-2500.00", MsbSend).from("Ahmed Khan"));
    b.add(t("DH-WU", "2024-06-01", "-500.00", MsbSend).from("Ahmed Khan"));
    b.add(t("DH-WU", "2024-06-02", "-600.00", MsbSend).from("Ahmed Khan"));
    let f = b.run(&["MSB-001", "MSB-002", "MSB-003"]);
    check_invariants(&f);
    assert_eq!(
        found(&f, "MSB-001"),
        vec![("MSB-001/DH-WU/2024-02-01/1".to_string(), ids(&[&a1, &a2]))]
    );
    assert_eq!(
        found(&f, "MSB-002"),
        vec![(
            "MSB-002/linked:DH+VH/2024-03-01/1".to_string(),
            ids(&[&f1, &f2])
        )]
    );
    assert_eq!(
        found(&f, "MSB-003"),
        vec![(
            "MSB-003/linked:DH+VH/2024-04-05/1".to_string(),
            ids(&[&s1, &s2])
        )]
    );
    let m = cell(&f, "MSB-002/linked:DH+VH/2024-03-01/1", "metrics");
    assert!(m.contains("band: £1,600.00 to £1,999.99"), "{m}");
    assert!(m.contains("receiver: Faisal Qureshi"), "{m}");
    assert!(
        m.contains("senders (sending accounts): 2 (test: at least 2, met)"),
        "{m}"
    );
    assert!(
        m.contains("senders linked by: shared address 14 LARKFIELD RISE LEEDS (DH, VH); shared surname HARLOW (DH, VH)"),
        "{m}"
    );
    assert_eq!(
        cell(&f, "MSB-002/linked:DH+VH/2024-03-01/1", "amount_out"),
        "3750.00"
    );
    assert_eq!(
        cell(&f, "MSB-002/linked:DH+VH/2024-03-01/1", "subject"),
        "DH;VH"
    );
}

// ---------------------------------------------------------------------------------------
// Money mules and rapid movement
// ---------------------------------------------------------------------------------------

#[test]
fn pass_through_fires_on_a_mule_and_not_on_a_busy_student() {
    use Channel::*;
    let c = case(
        &[
            ("MK", "Marek Kowal", None),
            ("SA", "Sam Adeyemi", None),
            ("HH", "Helen Hart", None),
            ("LL", "Lena Lord", None),
        ],
        &[
            ("MK-MONZO", &["MK"], None),
            ("SA-STARLING", &["SA"], None),
            ("HH-HSBC", &["HH"], None),
            ("LL-BARCLAYS", &["LL"], None),
        ],
    );
    let mut b = Book::new(c);
    // The mule: six unrelated senders in three days, nine tenths out within a day or two.
    b.add(t("MK-MONZO", "2024-02-01", "-25.00", Card).from("TESCO"));
    let m: Vec<String> = vec![
        b.add(t("MK-MONZO", "2024-03-04", "950.00", Transfer).from("Kasia Nowak")),
        b.add(t("MK-MONZO", "2024-03-04", "1200.00", Transfer).from("Tomasz Wrobel")),
        b.add(t("MK-MONZO", "2024-03-04", "1100.00", Transfer).from("Ana Popescu")),
        b.add(t("MK-MONZO", "2024-03-05", "1450.00", Transfer).from("J. Smith")),
        b.add(t("MK-MONZO", "2024-03-05", "1300.00", Transfer).from("Li Wei")),
        b.add(t("MK-MONZO", "2024-03-05", "-3000.00", Transfer).from("CRYPTO EXCH LTD")),
        b.add(t("MK-MONZO", "2024-03-06", "1000.00", Transfer).from("Omar Haddad")),
        b.add(t("MK-MONZO", "2024-03-06", "-3400.00", Transfer).from("R ROSS")),
    ];
    // The busy student: forty friends paying small sums over a month, a loan instalment,
    // rent and daily card spending: the money is spent, not passed on.
    b.add(t("SA-STARLING", "2024-03-01", "2500.00", Transfer).from("STUDENT LOANS CO"));
    for i in 0..40u32 {
        let day = format!("2024-03-{:02}", 1 + i % 28);
        let amount = format!("{}.00", 10 + (i * 7) % 35);
        let friend = format!("Friend {i}");
        b.add(t("SA-STARLING", &day, &amount, Transfer).from(&friend));
    }
    for d in 1..=28u32 {
        b.add(t("SA-STARLING", &format!("2024-03-{d:02}"), "-31.50", Card).from("CO-OP"));
    }
    b.add(t("SA-STARLING", "2024-03-02", "-650.00", Transfer).from("UNI HALLS RENT"));
    // A household: one salary in, everything out in bills within days.
    b.add(t("HH-HSBC", "2024-03-01", "6000.00", Transfer).from("ACME PAYROLL"));
    for (d, payee) in [
        ("01", "MORTGAGE"),
        ("02", "COUNCIL TAX"),
        ("02", "ENERGY"),
        ("03", "CAR LOAN"),
    ] {
        b.add(t("HH-HSBC", &format!("2024-03-{d}"), "-1450.00", DirectDebit).from(payee));
    }
    // A landlord: eight tenants pay rent on the 1st, a mortgage goes out.
    for i in 0..8 {
        let tenant = format!("Tenant {i}");
        b.add(t("LL-BARCLAYS", "2024-03-01", "700.00", Transfer).from(&tenant));
    }
    b.add(t("LL-BARCLAYS", "2024-03-02", "-1000.00", DirectDebit).from("MORTGAGE"));
    let (ledger, c) = b.finish();
    let f = rules::run_rules(
        &ledger,
        &c,
        &shipped(&["MUL-001"]),
        &Reference::shipped().unwrap(),
    )
    .unwrap();
    check_invariants(&f);
    // Even without the money-in test, the student keeps too much for a pass-through account.
    let loose = GOOD_RULE
        .replace("cash_structuring", "pass_through")
        .replace("threshold = 10000", "min_money_in = 0");
    let loose = rules::compile::compile_file(&loose, "test.toml").unwrap();
    let g = rules::run_rules(&ledger, &c, &loose, &Reference::shipped().unwrap()).unwrap();
    assert_eq!(
        column(&g.findings, "finding_id"),
        ["STR-001/MK-MONZO/2024-03-04/1"]
    );
    let mule = m.iter().collect::<Vec<_>>();
    assert_eq!(
        found(&f, "MUL-001"),
        vec![("MUL-001/MK-MONZO/2024-03-04/1".to_string(), ids(&mule))]
    );
    let id = "MUL-001/MK-MONZO/2024-03-04/1";
    assert_eq!(cell(&f, id, "amount_in"), "7000.00");
    assert_eq!(cell(&f, id, "amount_out"), "6400.00");
    assert_eq!(cell(&f, id, "total_amount"), "13400.00");
    assert_eq!(
        cell(&f, id, "metrics"),
        "strongest window: 2024-02-29 to 2024-03-06; \
         money in: £7,000.00 (test: at least £5,000.00, met); \
         money passed on: £6,400.00; \
         pass-through ratio (passed on ÷ in): 0.914 (test: at least 0.900, met); \
         retained (in − passed on): £600.00; \
         different senders: 6 (test: at least 5, met); \
         share of credits from new senders: 1.000 (test: at least 0.500, met); \
         median dwell of credits: 0.5 days (test: at most 2 days, met); \
         credits in the window: 6"
    );
}

#[test]
fn rapid_movement_fires_when_a_large_credit_leaves_within_days() {
    use Channel::*;
    let c = case(
        &[("DH", "Dorian Harlow", None), ("AS", "Alice Saver", None)],
        &[("FLIP", &["DH"], None), ("SAVER", &["AS"], None)],
    );
    let mut b = Book::new(c);
    let c1 = b.add(t("FLIP", "2024-04-10", "20000.00", Transfer).from("VENDOR X"));
    let d1 = b.add(t("FLIP", "2024-04-10", "-9000.00", Transfer).from("PAYEE A"));
    let d2 = b.add(t("FLIP", "2024-04-11", "-9500.00", Transfer).from("PAYEE B"));
    // Not evidence: a card payment two weeks later.
    b.add(t("FLIP", "2024-04-25", "-40.00", Card).from("SHELL"));
    // Same day, the debit listed before the credit: still carried on on day 0.
    let d3 = b.add(t("FLIP", "2024-05-02", "-4800.00", Transfer).from("PAYEE C"));
    let c2 = b.add(t("FLIP", "2024-05-02", "5000.00", Transfer).from("VENDOR Y"));
    // Decoys: an inheritance that stays ten days; a large credit only half paid on.
    b.add(t("SAVER", "2024-04-10", "20000.00", Transfer).from("SOLICITORS CLIENT AC"));
    b.add(t("SAVER", "2024-04-20", "-19000.00", Transfer).from("ISA PROVIDER"));
    b.add(t("SAVER", "2024-06-01", "6000.00", Transfer).from("CAR SALE"));
    b.add(t("SAVER", "2024-06-01", "-3000.00", Transfer).from("DEALER"));
    let f = b.run(&["RAP-001"]);
    check_invariants(&f);
    assert_eq!(
        found(&f, "RAP-001"),
        vec![
            (
                "RAP-001/FLIP/2024-04-10/1".to_string(),
                ids(&[&c1, &d1, &d2])
            ),
            ("RAP-001/FLIP/2024-05-02/1".to_string(), ids(&[&d3, &c2])),
        ]
    );
    let m = cell(&f, "RAP-001/FLIP/2024-04-10/1", "metrics");
    assert!(
        m.contains("longest time until 90% had been paid out: 1 days (test: at most 2 days, met)"),
        "{m}"
    );
    assert!(m.contains("paid out in the period: £18,500.00"), "{m}");
}

// ---------------------------------------------------------------------------------------
// Round amounts and high-risk destinations
// ---------------------------------------------------------------------------------------

#[test]
fn round_amounts_and_high_risk_destinations() {
    use Channel::*;
    let c = case(
        &[("DH", "Dorian Harlow", None), ("TT", "Tom Tenant", None)],
        &[
            ("DH-LLOYDS", &["DH"], None),
            ("TT-NW", &["TT"], None),
            ("DH-HSBC", &["DH"], None),
        ],
    );
    let mut b = Book::new(c);
    let r1 = b.add(t("DH-LLOYDS", "2024-05-01", "-2000.00", Transfer).from("A"));
    let r2 = b.add(t("DH-LLOYDS", "2024-05-10", "-3500.00", Transfer).from("B"));
    let r3 = b.add(t("DH-LLOYDS", "2024-05-20", "-5000.00", Transfer).from("C"));
    // Decoy: monthly rent, round but one a month.
    for m in 1..=6 {
        b.add(
            t(
                "TT-NW",
                &format!("2024-{m:02}-01"),
                "-1000.00",
                StandingOrder,
            )
            .from("LANDLORD"),
        );
        b.add(t("TT-NW", &format!("2024-{m:02}-01"), "-1000.00", Transfer).from("LANDLORD"));
    }
    // Decoy: only two of three are round.
    b.add(t("DH-HSBC", "2024-05-01", "-2000.00", Transfer).from("A"));
    b.add(t("DH-HSBC", "2024-05-10", "-3520.00", Transfer).from("B"));
    b.add(t("DH-HSBC", "2024-05-20", "-5000.00", Transfer).from("C"));
    // High-risk: an Iranian IBAN and a BIC with country IR within 30 days, one later.
    let h1 = b.add(
        t("DH-HSBC", "2024-07-01", "-4000.00", Transfer)
            .from("PARS TRADING")
            .to_account("IR06 0170 0000 0012 3456 7890 01"),
    );
    let h2 = b.add(
        t("DH-HSBC", "2024-07-15", "2500.00", Transfer)
            .from("PARS TRADING")
            .to_account("ABCDIRTHXXX"),
    );
    let h3 = b.add(
        t("DH-HSBC", "2024-11-01", "-700.00", Transfer)
            .from("PARS TRADING")
            .to_account("IR06 0170 0000 0012 3456 7890 01"),
    );
    // Decoys: a UK IBAN with "IRAN" in the name, a UK account number.
    b.add(
        t("DH-HSBC", "2024-07-02", "-900.00", Transfer)
            .from("IRAN CARPETS LTD")
            .to_account("GB82 WEST 1234 5698 7654 32"),
    );
    b.add(
        t("DH-HSBC", "2024-07-03", "-900.00", Transfer)
            .from("MIRANDA")
            .to_account("12345678"),
    );
    let f = b.run(&["RND-001", "HRC-001"]);
    check_invariants(&f);
    assert_eq!(
        found(&f, "RND-001"),
        vec![(
            "RND-001/DH-LLOYDS/2024-05-01/1".to_string(),
            ids(&[&r1, &r2, &r3])
        )]
    );
    assert_eq!(
        found(&f, "HRC-001"),
        vec![
            ("HRC-001/DH-HSBC/2024-07-01/1".to_string(), ids(&[&h1, &h2])),
            ("HRC-001/DH-HSBC/2024-11-01/1".to_string(), ids(&[&h3])),
        ]
    );
    let m = cell(&f, "HRC-001/DH-HSBC/2024-07-01/1", "metrics");
    assert!(
        m.starts_with("listed countries found: IR; the list: IR, KP, MM"),
        "{m}"
    );
    assert_eq!(
        cell(&f, "HRC-001/DH-HSBC/2024-07-01/1", "amount_in"),
        "2500.00"
    );
    assert_eq!(
        cell(&f, "HRC-001/DH-HSBC/2024-07-01/1", "amount_out"),
        "4000.00"
    );
}

// ---------------------------------------------------------------------------------------
// Cash-intensive fronts
// ---------------------------------------------------------------------------------------

#[test]
fn cash_front_fires_on_a_front_and_not_on_a_genuine_cash_business() {
    use Channel::*;
    let c = case(
        &[("DH", "Dorian Harlow", None), ("CO", "Carla Owens", None)],
        &[
            ("BRIGHTSIDE", &["DH"], Some("car_wash")),
            ("CAFE", &["CO"], Some("cafe")),
            ("DH-LLOYDS", &["DH"], None),
        ],
    );
    let mut b = Book::new(c);
    let start = NaiveDate::from_ymd_opt(2023, 1, 2).unwrap();
    let date =
        |i: u32, n: u32| (start + chrono::Duration::days(i64::from(i * 360 / n))).to_string();
    // The front: 320 round cash deposits of £500–£900 in 2023 against £60,000 declared.
    let mut front_cash = Vec::new();
    for i in 0..320u32 {
        let amount = format!("{}.00", 500 + (i * 37 % 9) * 50);
        front_cash.push(b.add(t("BRIGHTSIDE", &date(i, 320), &amount, CashDeposit)));
    }
    for w in 0..50u32 {
        b.add(t("BRIGHTSIDE", &date(w, 50), "200.00", Transfer).from("CARD SETTLEMENT"));
    }
    // The cafe: 320 cash deposits of takings with pence, card settlements weekly; cash and
    // credits match its declared £135,000 and the cafe norm (0.60).
    let mut cafe_cash_pence = 0i64;
    for i in 0..320u32 {
        let pence = 15_000 + i64::from(i * 7919 % 11_000) + 7_500;
        cafe_cash_pence += pence;
        let amount = format!("{}.{:02}", pence / 100, pence % 100);
        b.add(t("CAFE", &date(i, 320), &amount, CashDeposit));
    }
    for w in 0..48u32 {
        b.add(t("CAFE", &date(w, 48), "1000.00", Transfer).from("WORLDPAY"));
    }
    // 2024: the front's pattern continues for a few weeks, with no declared turnover.
    for i in 0..10u32 {
        b.add(t(
            "BRIGHTSIDE",
            &format!("2024-01-{:02}", 2 + i),
            "800.00",
            CashDeposit,
        ));
    }
    let mut reference = Reference::shipped().unwrap();
    for (acct, pounds) in [("BRIGHTSIDE", 60_000i64), ("CAFE", 135_000)] {
        reference.declared_turnover.insert(
            (acct.to_string(), 2023),
            rules::reference::Declared {
                pence: pounds * 100,
                source: "test".into(),
                origin: "test".into(),
            },
        );
    }
    let (ledger, c) = b.finish();
    let f = rules::run_rules(&ledger, &c, &shipped(&["CIB-001", "CIB-002"]), &reference).unwrap();
    check_invariants(&f);
    let front: Vec<&String> = front_cash.iter().collect();
    assert_eq!(
        found(&f, "CIB-001"),
        vec![("CIB-001/BRIGHTSIDE/2023-01-02/1".to_string(), ids(&front))]
    );
    // Whole period: 2023 and the ten deposits of 2024.
    let whole = found(&f, "CIB-002");
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].0, "CIB-002/BRIGHTSIDE/2023-01-02/1");
    assert_eq!(whole[0].1.len(), 330);
    assert_eq!(&whole[0].1[..320], &ids(&front)[..]);

    let id = "CIB-001/BRIGHTSIDE/2023-01-02/1";
    let m = cell(&f, id, "metrics");
    let total: i64 = (0..320u32)
        .map(|i| i64::from(500 + (i * 37 % 9) * 50))
        .sum();
    assert_eq!(cell(&f, id, "amount_in"), format!("{total}.00"));
    assert!(
        m.contains("cash share of credits: 0.957 (test: above 1.050, not met)"),
        "{m}"
    );
    assert!(m.contains("sector norm: car_wash 0.70 × 1.5 (source: ILLUSTRATIVE placeholder (not a published statistic))"), "{m}");
    assert!(m.contains("declared turnover: £60,000.00"), "{m}");
    assert!(m.contains("(test: at least 1.500, met)"), "{m}");
    assert!(
        m.contains(
            "share of cash deposits in multiples of £50.00: 1.000 (test: at least 0.500, met)"
        ),
        "{m}"
    );
    assert!(m.contains("Nigrini conformity band: nonconformity"), "{m}");
    assert!(
        m.contains("signals met (of 5 computed): 4 (test: at least 2, met)"),
        "{m}"
    );
    assert_eq!(cell(&f, id, "window_start"), "2023-01-02");
    // The cafe is not a finding. With one signal enough, it would be: its takings fall in a
    // narrow range (£225 to £335), so its first digits cannot follow Benford's law, and that
    // is the only signal it meets.
    assert!(!column(&f.findings, "account_id")
        .iter()
        .any(|a| a == "CAFE"));
    let one_signal = GOOD_RULE
        .replace("cash_structuring", "cash_front")
        .replace("threshold = 10000", "min_signals = 1");
    let loose = rules::compile::compile_file(&one_signal, "test.toml").unwrap();
    let g = rules::run_rules(&ledger, &c, &loose, &reference).unwrap();
    let cafe = cell(&g, "STR-001/CAFE/2023-01-02/1", "metrics");
    assert_eq!(cafe_cash_pence, 8_972_760);
    assert!(
        cafe.contains("cash banked: £89,727.60; all credits: £137,727.60"),
        "{cafe}"
    );
    assert!(
        cafe.contains("cash share of credits: 0.651 (test: above 0.900, not met)"),
        "{cafe}"
    );
    assert!(
        cafe.contains("(declared turnover × norm): 1.108 (test: at least 1.500, not met)"),
        "{cafe}"
    );
    assert!(
        cafe.contains("all credits ÷ declared turnover: 1.020 (test: above 1.250, not met)"),
        "{cafe}"
    );
    assert!(
        cafe.contains("in multiples of £50.00: 0.000 (test: at least 0.500, not met)"),
        "{cafe}"
    );
    assert!(
        cafe.contains("Nigrini conformity band: nonconformity"),
        "{cafe}"
    );
    assert!(
        cafe.contains("signals met (of 5 computed): 1 (test: at least 1, met)"),
        "{cafe}"
    );
}

// ---------------------------------------------------------------------------------------
// Rule files: errors, docs, explain
// ---------------------------------------------------------------------------------------

const GOOD_RULE: &str = r#"
[[rule]]
id = "STR-001"
name = "Test"
version = 1
kind = "cash_structuring"
severity = "high"
description = "Test rule."
basis = ["FATF Recommendations"]

[rule.params]
threshold = 10000
"#;

fn compile_error(text: &str) -> String {
    match rules::compile::compile_file(text, "rules/typologies/structuring.toml") {
        Ok(_) => panic!("compiled: {text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn rule_file_errors_name_file_rule_key_and_what_is_valid() {
    assert!(rules::compile::compile_file(GOOD_RULE, "x.toml").is_ok());
    assert_eq!(
        compile_error(&GOOD_RULE.replace("threshold = 10000", "treshold = 10000")),
        "rules/typologies/structuring.toml: rule STR-001: unknown param `treshold`; valid params: \
         threshold, band_from, min_count, window_days, per, min_accounts, min_locations"
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("threshold = 10000", "min_count = \"three\"")),
        "rules/typologies/structuring.toml: rule STR-001: param `min_count` has the wrong type \
         (invalid type: string \"three\", expected u32); valid: a whole number from 2 to 100"
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("threshold = 10000", "band_from = 1.2")),
        "rules/typologies/structuring.toml: rule STR-001: param `band_from` = 1.2 is out of range; \
         valid: a number from 0.5 up to but not including 1"
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("cash_structuring", "smurfing")),
        "rules/typologies/structuring.toml: rule STR-001: unknown kind `smurfing`; valid kinds: \
         cash_structuring, msb_structuring, pass_through, rapid_movement, cash_front, \
         round_amounts, high_risk_destination, keyword_payments, source_country_remittance, \
         wage_stripping, spending_vs_income"
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("name = ", "nmae = ")),
        "rules/typologies/structuring.toml: rule STR-001: unknown key `nmae`; valid keys: id, \
         name, version, kind, description, basis, severity, params, scope"
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("version = 1", "version = \"1\"")),
        "rules/typologies/structuring.toml: rule STR-001: key `version` is not valid: invalid \
         type: string \"1\", expected u32"
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("threshold = 10000", "threshold = 9999.99")),
        "rules/typologies/structuring.toml: rule STR-001: param `threshold` has the wrong type \
         (9999.99 is a floating-point number, which is not exact; write whole pounds (10000) or \
         a string with pence (\"9999.99\")); valid: an amount from 100 to 10000000 (whole \
         pounds, or a string with pence)"
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("threshold = 10000", "per = \"household\"")),
        "rules/typologies/structuring.toml: rule STR-001: param `per` has the wrong type \
         (unknown variant `household`, expected `account` or `subject`); valid: \"account\" or \
         \"subject\""
    );
    let scoped = format!("{GOOD_RULE}\n[rule.scope]\nchannels = [\"cash\"]\n");
    assert_eq!(
        compile_error(&scoped),
        "rules/typologies/structuring.toml: rule STR-001: scope key `channels` is not valid: \
         unknown variant `cash`, expected one of `cash_deposit`, `cash_withdrawal`, `transfer`, \
         `card`, `direct_debit`, `standing_order`, `cheque`, `fee`, `interest`, `msb_send`, \
         `msb_payout`, `other`"
    );
    let scoped = format!("{GOOD_RULE}\n[rule.scope]\nchanels = [\"cash_deposit\"]\n");
    assert_eq!(
        compile_error(&scoped),
        "rules/typologies/structuring.toml: rule STR-001: unknown scope key `chanels`; valid \
         scope keys: channels, accounts, subjects, from, to"
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("\"STR-001\"", "\"structuring one\"")),
        "rules/typologies/structuring.toml: rule structuring one: `id` \"structuring one\" is not \
         valid; use two to five capital letters, a hyphen and three digits, e.g. \"STR-001\""
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("kind = \"cash_structuring\"\n", "")),
        "rules/typologies/structuring.toml: rule STR-001: missing key `kind`"
    );
    assert_eq!(
        compile_error(&GOOD_RULE.replace("severity = \"high\"", "severity = \"critical\"")),
        "rules/typologies/structuring.toml: rule STR-001: key `severity` is not valid: unknown \
         variant `critical`, expected one of `low`, `medium`, `high`"
    );
    assert_eq!(
        compile_error("[rule]\nid = 1"),
        "rules/typologies/structuring.toml: `rule` must be an array of tables: write each rule as [[rule]]"
    );
    assert!(compile_error(&GOOD_RULE.replace("id = ", "id = = "))
        .starts_with("rules/typologies/structuring.toml: TOML parse error at line 3"));
    // Every shipped kind's params have documentation and sane defaults.
    for kind in rules::registry::KINDS {
        assert!(kind.compile(&toml::Table::new()).is_ok(), "{}", kind.name());
    }
}

#[test]
fn rules_check_reads_files_and_refuses_an_id_used_twice() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, GOOD_RULE).unwrap();
    std::fs::write(&b, GOOD_RULE).unwrap();
    let infos = rules::check(std::slice::from_ref(&a)).unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].id, "STR-001");
    assert_eq!(
        infos[0].params,
        vec![
            ("threshold".to_string(), "\"10000.00\"".to_string()),
            ("band_from".to_string(), "0.8".to_string()),
            ("min_count".to_string(), "2".to_string()),
            ("window_days".to_string(), "7".to_string()),
            ("per".to_string(), "\"account\"".to_string()),
            ("min_accounts".to_string(), "1".to_string()),
            ("min_locations".to_string(), "1".to_string()),
        ]
    );
    let e = rules::check(&[a.clone(), b.clone()])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "{}: rule STR-001: id STR-001 is already defined by {}; give this rule another id",
            b.display(),
            a.display()
        )
    );
}

#[test]
fn shipped_rules_list_and_explain() {
    let ids: Vec<String> = rules::list().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [
            "STR-001", "STR-002", "STR-003", "MSB-001", "MSB-002", "MSB-003", "MUL-001", "RAP-001",
            "CIB-001", "CIB-002", "RND-001", "HRC-001", "TRF-001", "TRF-002", "TRF-003", "TRF-004",
            "TRF-005", "TRF-006", "TRF-007", "TRF-008", "TRF-009", "TRF-010", "TRF-011", "TRF-012"
        ]
    );
    let text = rules::explain("str-001").unwrap();
    assert!(text.starts_with(
        "STR-001 — Cash deposits just below the threshold, one account (version 1)\n"
    ));
    assert!(text.contains("  threshold = \"10000.00\"\n"));
    assert!(text.contains(
        "Scope\n  channels cash_deposit (the kind's default); every account; every date"
    ));
    assert_eq!(
        rules::explain("STR-999").unwrap_err().to_string(),
        "there is no rule STR-999; known rules: STR-001, STR-002, STR-003, MSB-001, MSB-002, \
         MSB-003, MUL-001, RAP-001, CIB-001, CIB-002, RND-001, HRC-001, TRF-001, TRF-002, \
         TRF-003, TRF-004, TRF-005, TRF-006, TRF-007, TRF-008, TRF-009, TRF-010, TRF-011, \
         TRF-012"
    );
}

#[test]
fn rules_reference_is_current() {
    let path = support::root().join("docs/rules.md");
    let generated = rules::rules_markdown().unwrap();
    if std::env::var("PROCEEDS_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/rules.md is stale; regenerate it with: {}",
        rules::docs::BLESS_HINT
    );
}

// ---------------------------------------------------------------------------------------
// End to end: a case folder of disclosed-style CSVs, a declared-turnover file, a case rule
// ---------------------------------------------------------------------------------------

/// Compare bytes with a golden file, or write it when PROCEEDS_BLESS=1.
fn golden(path: &std::path::Path, bytes: &[u8]) {
    if std::env::var("PROCEEDS_BLESS").as_deref() == Ok("1") {
        std::fs::write(path, bytes).unwrap();
    }
    let expected = std::fs::read(path).unwrap_or_default();
    assert!(
        expected == bytes,
        "{} differs; review and regenerate with PROCEEDS_BLESS=1\n--- got ---\n{}",
        path.display(),
        String::from_utf8_lossy(bytes)
    );
}

#[test]
fn case_folder_end_to_end_with_golden_findings() {
    use proceeds::case::ResolveOptions;
    let dir = support::fixture("detect/case");
    let case = Case::load(&dir.join("case.toml"), ResolveOptions::default()).unwrap();
    let registry = proceeds::ingest::Registry::for_case(&case).unwrap();
    let ingested = proceeds::ingest::ingest_case(&case, &registry, false).unwrap();
    assert!(ingested.rejects.is_empty());
    let reference = Reference::for_case(&case).unwrap();
    let rules = rules::rules_for_case(&case).unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "STR-001", "STR-002", "STR-003", "MSB-001", "MSB-002", "MSB-003", "CIB-001", "CIB-002",
            "LOC-001"
        ]
    );
    let f = rules::run_rules(&ingested.ledger, &case, &rules, &reference).unwrap();
    check_invariants(&f);

    let (lloyds, _) =
        proceeds::hash::sha256_file(&dir.join("statements/lloyds_DH_2024.csv")).unwrap();
    let (natwest, _) =
        proceeds::hash::sha256_file(&dir.join("statements/natwest_BRIGHTSIDE_2023.csv")).unwrap();
    let line = |sha: &str, n: u32| format!("{}-L{n}", &sha[..12]);
    // The Lloyds export is newest first: 08/01 is line 12, 10/01 line 11, 12/01 line 10.
    let jan = vec![line(&lloyds, 12), line(&lloyds, 11), line(&lloyds, 10)];
    assert_eq!(
        found(&f, "STR-001"),
        vec![("STR-001/DH-LLOYDS/2024-01-08/1".to_string(), jan.clone())]
    );
    assert_eq!(
        found(&f, "STR-003"),
        vec![("STR-003/subject:DH/2024-01-08/1".to_string(), jan)]
    );
    assert_eq!(
        found(&f, "LOC-001"),
        vec![(
            "LOC-001/DH-LLOYDS/2024-02-20/1".to_string(),
            vec![line(&lloyds, 4), line(&lloyds, 3)]
        )]
    );
    // Every weekly cash deposit of 2023 (the CDM lines of the NatWest file) is evidence.
    let text = std::fs::read_to_string(dir.join("statements/natwest_BRIGHTSIDE_2023.csv")).unwrap();
    let cdm: Vec<String> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(",CDM,"))
        .map(|(i, _)| line(&natwest, i as u32 + 1))
        .collect();
    assert_eq!(cdm.len(), 52);
    assert_eq!(
        found(&f, "CIB-001"),
        vec![("CIB-001/BRIGHTSIDE/2023-01-02/1".to_string(), cdm.clone())]
    );
    let m = cell(&f, "CIB-001/BRIGHTSIDE/2023-01-02/1", "metrics");
    assert!(m.contains("declared turnover: £48,000.00"), "{m}");
    assert!(m.contains("first-digit mean absolute deviation from Benford: not available (52 cash deposits of £10 or more; at least 300 needed)"), "{m}");
    assert!(
        m.contains("signals met (of 4 computed): 3 (test: at least 2, met)"),
        "{m}"
    );
    assert_eq!(f.rules.len(), 9);
    assert_eq!(
        f.rules[0].params[0],
        ("threshold".into(), "\"10000.00\"".into())
    );
    assert!(f.notes.is_empty(), "{:?}", f.notes);

    // The outputs, as the report stage would write them, match the reviewed golden files.
    let findings_csv =
        proceeds::report::csv_out::frame_to_csv("findings.csv", &f.findings).unwrap();
    golden(&dir.join("expected_findings.csv"), &findings_csv);
    let evidence_csv =
        proceeds::report::csv_out::frame_to_csv("finding_evidence.csv", &f.evidence).unwrap();
    golden(&dir.join("expected_evidence.csv"), &evidence_csv);

    // Same inputs, same outputs.
    let again = rules::run_rules(&ingested.ledger, &case, &rules, &reference).unwrap();
    assert!(again.findings.equals_missing(&f.findings));
    assert!(again.evidence.equals_missing(&f.evidence));
}

#[test]
fn declared_turnover_file_errors_name_file_line_and_fix() {
    let c = case(
        &[("DH", "Dorian Harlow", None)],
        &[
            ("BRIGHTSIDE", &["DH"], Some("car_wash")),
            ("DH-LLOYDS", &["DH"], None),
        ],
    );
    let parse = |text: &str| {
        rules::reference::parse_declared_turnover(text, "reference/declared_turnover.csv", &c)
            .map(|m| m.len())
            .map_err(|e| e.to_string())
    };
    let header = "account_id,year,declared_turnover,source\n";
    assert_eq!(
        parse(&format!("{header}BRIGHTSIDE,2023,48000.00,accounts\n")),
        Ok(1)
    );
    assert_eq!(
        parse(&format!("{header}BRIGHTSIDE,2023,\"£48,000\",accounts\n")).unwrap_err(),
        "reference/declared_turnover.csv, line 2: `declared_turnover` is \"£48,000\"; expected a \
         plain amount such as 84000.00 (no currency sign or commas)"
    );
    assert_eq!(
        parse(&format!("{header}DH-LLOYDS,2023,1.00,accounts\n")).unwrap_err(),
        "reference/declared_turnover.csv, line 2: `account_id` \"DH-LLOYDS\" is not a business \
         account; set kind = \"business\" and business_type on it in the case file"
    );
    assert_eq!(
        parse(&format!("{header}BRIGHTSIDE,23,1.00,accounts\n")).unwrap_err(),
        "reference/declared_turnover.csv, line 2: `year` is \"23\"; expected a calendar year such as 2023"
    );
    assert_eq!(
        parse(&format!(
            "{header}BRIGHTSIDE,2023,1.00,a\nBRIGHTSIDE,2023,2.00,b\n"
        ))
        .unwrap_err(),
        "reference/declared_turnover.csv, line 3: \"BRIGHTSIDE\" 2023 is listed twice; give one \
         figure per account and year"
    );
    assert_eq!(
        parse("account,year,turnover\n").unwrap_err(),
        "reference/declared_turnover.csv, line 1: the header is \"account,year,turnover\"; \
         expected exactly: account_id,year,declared_turnover,source"
    );
}

#[test]
fn rows_without_a_base_amount_are_left_out_and_said_so() {
    let c = case(
        &[("DH", "Dorian Harlow", None)],
        &[("DH-LLOYDS", &["DH"], None)],
    );
    let mut b = Book::new(c);
    b.add(t(
        "DH-LLOYDS",
        "2024-01-08",
        "9500.00",
        Channel::CashDeposit,
    ));
    let ledger = b.builder.finish().unwrap();
    let ledger = ledger
        .lazy()
        .with_column(
            lit(NULL)
                .cast(DataType::Decimal(18, 2))
                .alias("amount_base"),
        )
        .collect()
        .unwrap();
    let rules = rules::shipped_rules().unwrap();
    let f = rules::run_rules(&ledger, &b.case, &rules, &Reference::shipped().unwrap()).unwrap();
    assert_eq!(f.findings.height(), 0);
    assert_eq!(
        f.notes,
        vec!["1 ledger rows have no amount in the base currency (GBP) and were not looked at by any rule; convert them and run again"]
    );
    assert_eq!(f.findings.schema().len(), 16);
    assert_eq!(f.evidence.schema().len(), 16);
}

/// Rows of an account the case does not declare are a mismatch between ledger and case: the
/// run stops and names the account, whichever run of rows it comes in.
#[test]
fn a_ledger_row_of_an_undeclared_account_is_refused_by_name() {
    let declared = case(
        &[("DH", "Dorian Harlow", None)],
        &[("DH-LLOYDS", &["DH"], None), ("DH-MONZO", &["DH"], None)],
    );
    let mut b = Book::new(declared.clone());
    b.add(t("DH-LLOYDS", "2024-01-02", "100.00", Channel::CashDeposit));
    b.add(t("DH-MONZO", "2024-01-03", "200.00", Channel::CashDeposit));
    let ledger = b.builder.finish().unwrap();
    let rules = rules::shipped_rules().unwrap();
    let reference = Reference::shipped().unwrap();
    // Both accounts declared: it runs.
    assert!(rules::run_rules(&ledger, &declared, &rules, &reference).is_ok());
    // The case without the second account: the second run of rows is refused.
    let mut fewer = declared.clone();
    fewer.accounts.retain(|a| a.id != "DH-MONZO");
    let err = rules::run_rules(&ledger, &fewer, &rules, &reference)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "the ledger has rows for account \"DH-MONZO\", which the case does not declare"
        ),
        "{err}"
    );
}

/// Evidence is gathered from the ledger by position when `seq` numbers its rows 1, 2, 3, …
/// and through a `seq` lookup otherwise (a ledger with rows dropped or reordered): both
/// give the same findings and evidence, row for row.
#[test]
fn evidence_is_the_same_whether_seq_is_the_row_position_or_not() {
    use Channel::*;
    let c = case(
        &[("DH", "Dorian Harlow", None)],
        &[("DH-LLOYDS", &["DH"], None)],
    );
    let mut b = Book::new(c);
    b.add(t("DH-LLOYDS", "2024-01-02", "40.00", Card).from("CAFE"));
    let a = b.add(t("DH-LLOYDS", "2024-01-08", "9500.00", CashDeposit));
    let m = b.add(t("DH-LLOYDS", "2024-01-10", "9200.00", CashDeposit));
    let z = b.add(t("DH-LLOYDS", "2024-01-12", "8800.00", CashDeposit));
    let (ledger, case) = b.finish();
    let reversed = ledger.reverse();
    assert!(rules::findings::seq_is_position(&ledger));
    assert!(!rules::findings::seq_is_position(&reversed));
    let run = |l: &DataFrame| {
        rules::run_rules(
            l,
            &case,
            &shipped(&["STR-001"]),
            &Reference::shipped().unwrap(),
        )
        .unwrap()
    };
    let (by_position, by_lookup) = (run(&ledger), run(&reversed));
    assert!(by_position.findings.equals_missing(&by_lookup.findings));
    assert!(by_position.evidence.equals_missing(&by_lookup.evidence));
    assert_eq!(column(&by_lookup.evidence, "txn_id"), vec![a, m, z]);
    assert_eq!(
        column(&by_lookup.findings, "total_amount"),
        vec!["27500.00"]
    );
}
