//! The trafficking rule pack (`rules/typologies/trafficking.toml`): each rule fires on the
//! rows it must, with the exact evidence rows asserted, and not on its decoys — a landlord
//! receiving several tenants' rents, a family sending modest remittances home, a travel agent
//! buying tickets for customers, an employer's wages arriving and being spent gradually.

use std::path::PathBuf;
use std::str::FromStr;

use chrono::NaiveDate;
use polars::prelude::*;
use proceeds::case::{Account, AccountKind, Case, CasePath, ReferenceFile, Subject, SubjectRole};
use proceeds::ledger::{Channel, LedgerBuilder, LedgerRow, Party, Provenance};
use proceeds::rules::{self, Findings, Reference};
use rust_decimal::Decimal;

const SHA: &str = "0000000000ab0000000000000000000000000000000000000000000000000000";

/// The case: a controller, a worker, an employee, a landlord, a travel agent, a money
/// transfer firm's records (one account, many senders named on each record); three
/// workers at different addresses who gave one mobile number (written three ways), and a
/// family of three on one landline.
fn case() -> Case {
    let subject = |id: &str, name: &str, address: &str, role| Subject {
        id: id.into(),
        name: name.into(),
        role,
        date_of_birth: None,
        address: Some(address.into()),
        phone: None,
        aliases: Vec::new(),
    };
    let with_phone = |s: Subject, phone: &str| Subject {
        phone: Some(phone.into()),
        ..s
    };
    let account = |id: &str, by: &[&str], kind, business: Option<&str>| Account {
        id: id.into(),
        holder: id.into(),
        bank: "Test Bank".into(),
        sort_code: None,
        account_number: None,
        iban: None,
        currency: "GBP".into(),
        kind,
        business_type: business.map(str::to_string),
        controlled_by: by.iter().map(|s| s.to_string()).collect(),
    };
    Case {
        path: PathBuf::from("fixtures/trafficking/case.toml"),
        dir: PathBuf::from("fixtures/trafficking"),
        reference: "TRAFFIC-TEST".into(),
        title: None,
        base_currency: "GBP".into(),
        jurisdiction: "uk-poca-2002".into(),
        lifestyle: true,
        investigator: None,
        proceedings_started: NaiveDate::from_ymd_opt(2025, 3, 14).unwrap(),
        conviction: None,
        valuation: None,
        subjects: vec![
            subject(
                "KD",
                "Kastriot Dema",
                "1 Mill Lane, Derby",
                SubjectRole::Defendant,
            ),
            subject(
                "AV",
                "Ana Vasile",
                "22 Station Road, Derby",
                SubjectRole::ThirdParty,
            ),
            subject(
                "PJ",
                "Paul Jones",
                "5 Elm Close, Leicester",
                SubjectRole::ThirdParty,
            ),
            subject(
                "LL",
                "Linda Lowe",
                "8 Park View, Derby",
                SubjectRole::ThirdParty,
            ),
            subject(
                "MB",
                "Mihai Bota",
                "22 Station Road, Derby",
                SubjectRole::ThirdParty,
            ),
            subject(
                "IC",
                "Ioana Cristea",
                "22 Station Road, Derby",
                SubjectRole::ThirdParty,
            ),
            with_phone(
                subject(
                    "RP",
                    "Radu Popa",
                    "3 Mill Court, Derby",
                    SubjectRole::ThirdParty,
                ),
                "07700 900461",
            ),
            with_phone(
                subject(
                    "ES",
                    "Elena Stan",
                    "41 Canal Street, Derby",
                    SubjectRole::ThirdParty,
                ),
                "+44 7700 900461",
            ),
            with_phone(
                subject(
                    "DT",
                    "Dorin Toma",
                    "7 Abbey Road, Nottingham",
                    SubjectRole::ThirdParty,
                ),
                "447700900461",
            ),
            with_phone(
                subject(
                    "GH",
                    "George Hill",
                    "12 Orchard Way, Leicester",
                    SubjectRole::ThirdParty,
                ),
                "0116 496 0321",
            ),
            with_phone(
                subject(
                    "SH",
                    "Sarah Hill",
                    "12 Orchard Way, Leicester",
                    SubjectRole::ThirdParty,
                ),
                "+44 116 496 0321",
            ),
            with_phone(
                subject(
                    "TH",
                    "Tom Hill",
                    "12 Orchard Way, Leicester",
                    SubjectRole::ThirdParty,
                ),
                "0116 4960321",
            ),
        ],
        accounts: vec![
            account("KD-CTRL", &["KD"], AccountKind::Personal, None),
            account("KD-LUX", &["KD"], AccountKind::Personal, None),
            // The workers' accounts: the investigator has evidence (seized cards) that KD
            // operates two of them, and wrote it in the case file.
            account("AV-WORKER", &["AV"], AccountKind::Personal, None),
            account("MB-WORKER", &["MB", "KD"], AccountKind::Personal, None),
            account("IC-WORKER", &["IC", "KD"], AccountKind::Personal, None),
            account("PJ-EMPLOYEE", &["PJ"], AccountKind::Personal, None),
            account("LL-LANDLORD", &["LL"], AccountKind::Personal, None),
            account(
                "SKYWAY-TRAVEL",
                &[],
                AccountKind::Business,
                Some("travel_agent"),
            ),
            account("MSB-RECORDS", &[], AccountKind::Msb, None),
            account("RP-WORKER", &["RP"], AccountKind::Personal, None),
            account("ES-WORKER", &["ES"], AccountKind::Personal, None),
            account("DT-WORKER", &["DT"], AccountKind::Personal, None),
            account("GH-CURRENT", &["GH"], AccountKind::Personal, None),
            account("SH-CURRENT", &["SH"], AccountKind::Personal, None),
            account("TH-CURRENT", &["TH"], AccountKind::Personal, None),
        ],
        sources: Vec::new(),
        reference_data: Vec::new(),
        rule_sets: Vec::new(),
        layout_files: Vec::new(),
        verify: Default::default(),
        tracing: None,
    }
}

/// A ledger built row by row; each row is one line of a fictional source file, so its
/// `txn_id` is `0000000000ab-L<line>`.
struct Book {
    case: Case,
    builder: LedgerBuilder,
    line: u32,
}

/// A money-transfer send's sender and receiver.
struct Send<'a> {
    sender: &'a str,
    address: &'a str,
    id: &'a str,
    receiver: &'a str,
    country: &'a str,
}

impl Book {
    fn new() -> Book {
        Book {
            case: case(),
            builder: LedgerBuilder::new(),
            line: 1,
        }
    }

    fn push(
        &mut self,
        account: &str,
        date: &str,
        amount: &str,
        channel: Channel,
        who: &str,
    ) -> String {
        self.push_row(account, date, amount, channel, (who, None), None)
    }

    fn push_to(
        &mut self,
        account: &str,
        date: &str,
        amount: &str,
        who: &str,
        iban: &str,
    ) -> String {
        self.push_row(
            account,
            date,
            amount,
            Channel::Transfer,
            (who, Some(iban)),
            None,
        )
    }

    fn send(&mut self, date: &str, amount: &str, s: Send<'_>) -> String {
        self.push_row(
            "MSB-RECORDS",
            date,
            amount,
            Channel::MsbSend,
            (s.receiver, None),
            Some(s),
        )
    }

    fn push_row(
        &mut self,
        account: &str,
        date: &str,
        amount: &str,
        channel: Channel,
        (who, counterparty_account): (&str, Option<&str>),
        send: Option<Send<'_>>,
    ) -> String {
        self.line += 1;
        let order = self
            .case
            .accounts
            .iter()
            .position(|a| a.id == account)
            .unwrap_or_else(|| panic!("no account {account}")) as u32;
        let amount = Decimal::from_str(amount).unwrap();
        let prov = Provenance {
            source_index: 1,
            source_file: "statements/test.csv".into(),
            source_sha256: SHA.into(),
            exhibit: Some("AE/1".into()),
        };
        let (party, country) = match &send {
            Some(s) => (
                Party {
                    name: Some(s.sender.into()),
                    address: Some(s.address.into()),
                    id: Some(s.id.into()),
                },
                Some(s.country.to_string()),
            ),
            None => (Party::default(), None),
        };
        let row = LedgerRow {
            account_id: account.into(),
            source_line: self.line,
            sub: 0,
            order_in_source: u64::from(self.line),
            booking_date: NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap(),
            value_date: None,
            amount,
            currency: "GBP".into(),
            amount_base: Some(amount),
            balance: None,
            channel,
            counterparty_name: Some(who.into()),
            counterparty_account: counterparty_account.map(str::to_string),
            description: format!("{} {who}", channel.as_str().to_uppercase()),
            location: None,
            bank_type: None,
            bank_txn_id: None,
            booking_time: None,
            reversal: false,
            party,
            counterparty_country: country,
            excluded_reason: None,
        };
        self.builder.push(order, &prov, row);
        format!("0000000000ab-L{}", self.line)
    }

    /// Run the trafficking rules over the ledger.
    fn run(self) -> Findings {
        self.run_keeping_ledger().2
    }

    /// Run the trafficking rules and keep the ledger and case for the report.
    fn run_keeping_ledger(self) -> (Case, DataFrame, Findings) {
        let ledger = self.builder.finish().unwrap();
        let f = rules::run_rules(
            &ledger,
            &self.case,
            &trafficking_rules(),
            &Reference::shipped().unwrap(),
        )
        .unwrap();
        check_invariants(&f);
        (self.case, ledger, f)
    }

    /// Run the trafficking rules with the case naming `legitimate` as its
    /// `legitimate_sources` file (written as `reference/legitimate.csv`), read as
    /// `proceeds detect` reads it.
    fn run_with_legitimate(mut self, legitimate: &str) -> Result<Findings, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legitimate.csv");
        std::fs::write(&path, legitimate).unwrap();
        self.case.reference_data.push(ReferenceFile {
            role: "legitimate_sources".into(),
            path: CasePath {
                written: "reference/legitimate.csv".into(),
                resolved: path,
            },
        });
        let reference = Reference::for_case(&self.case).map_err(|e| e.to_string())?;
        let ledger = self.builder.finish().unwrap();
        let f = rules::run_rules(&ledger, &self.case, &trafficking_rules(), &reference)
            .map_err(|e| e.to_string())?;
        check_invariants(&f);
        Ok(f)
    }
}

/// The shipped trafficking rules.
fn trafficking_rules() -> Vec<rules::Rule> {
    let rules: Vec<_> = rules::shipped_rules()
        .unwrap()
        .into_iter()
        .filter(|r| r.id.starts_with("TRF-"))
        .collect();
    assert_eq!(rules.len(), 12);
    rules
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

/// One finding's value in a column.
fn cell(f: &Findings, finding_id: &str, name: &str) -> String {
    let ids = column(&f.findings, "finding_id");
    let i = ids
        .iter()
        .position(|x| x == finding_id)
        .unwrap_or_else(|| panic!("no finding {finding_id}; have {ids:?}"));
    column(&f.findings, name)[i].clone()
}

/// Evidence rows exist, `evidence_txn_ids` matches the evidence frame, totals reconcile.
fn check_invariants(f: &Findings) {
    let ids = column(&f.findings, "finding_id");
    let listed = column(&f.findings, "evidence_txn_ids");
    let amount_in = column(&f.findings, "amount_in");
    let amount_out = column(&f.findings, "amount_out");
    let ev_ids = column(&f.evidence, "finding_id");
    let ev_txn = column(&f.evidence, "txn_id");
    let ev_amount = column(&f.evidence, "amount_base");
    for (i, id) in ids.iter().enumerate() {
        let rows: Vec<usize> = (0..ev_ids.len()).filter(|&j| &ev_ids[j] == id).collect();
        assert!(!rows.is_empty(), "{id} has no evidence");
        let txns: Vec<String> = rows.iter().map(|&j| ev_txn[j].clone()).collect();
        assert_eq!(txns.join(";"), listed[i], "{id}");
        let (mut sum_in, mut sum_out) = (Decimal::ZERO, Decimal::ZERO);
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
    }
}

fn v(ids: &[&String]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// The employee: monthly pay from one employer, rent by standing order to one letting
/// agent, the rest spent by card over the month. The decoy for TRF-001, -002, -003, -009.
fn employee(b: &mut Book) {
    use Channel::*;
    for month in ["2024-01", "2024-02", "2024-03"] {
        b.push(
            "PJ-EMPLOYEE",
            &format!("{month}-01"),
            "-750.00",
            StandingOrder,
            "OAKWOOD LETTINGS RENT",
        );
        for day in ["03", "09", "15", "21", "27"] {
            b.push(
                "PJ-EMPLOYEE",
                &format!("{month}-{day}"),
                "-180.00",
                Card,
                "TESCO STORES",
            );
        }
        b.push(
            "PJ-EMPLOYEE",
            &format!("{month}-26"),
            "1850.00",
            Transfer,
            "BRIGHTWELL FOODS LTD PAYROLL",
        );
    }
}

/// The landlord: four tenants' rents received every month. Decoy for TRF-001 and TRF-003.
fn landlord(b: &mut Book) {
    for month in ["2024-01", "2024-02"] {
        for tenant in [
            "J SMITH RENT",
            "A KHAN RENT",
            "M NOWAK RENT",
            "T BROWN RENT",
        ] {
            b.push(
                "LL-LANDLORD",
                &format!("{month}-01"),
                "650.00",
                Channel::Transfer,
                tenant,
            );
        }
    }
}

/// Wages from two employers and a benefit payment into KD's account within 12 days.
fn three_payers_into_the_controller(b: &mut Book) -> [String; 3] {
    use Channel::*;
    [
        b.push(
            "KD-CTRL",
            "2024-03-01",
            "412.50",
            Transfer,
            "BRIGHTWELL FOODS LTD PAYROLL",
        ),
        b.push(
            "KD-CTRL",
            "2024-03-08",
            "390.00",
            Transfer,
            "GREENLEAF PACKING WAGES",
        ),
        b.push("KD-CTRL", "2024-03-12", "368.21", Transfer, "DWP UC"),
    ]
}

#[test]
fn wage_pooling_fires_on_several_payers_not_on_one_employer_or_rents() {
    use Channel::*;
    let mut b = Book::new();
    let [w1, w2, w3] = three_payers_into_the_controller(&mut b);
    // Outside the 35-day window of the others: not evidence.
    b.push(
        "KD-CTRL",
        "2024-06-01",
        "400.00",
        Transfer,
        "GREENLEAF PACKING WAGES",
    );
    employee(&mut b);
    landlord(&mut b);
    let f = b.run();
    let hits = found(&f, "TRF-001");
    assert_eq!(
        hits,
        vec![(
            "TRF-001/KD-CTRL/2024-03-01/1".to_string(),
            v(&[&w1, &w2, &w3])
        )]
    );
    let id = &hits[0].0;
    assert_eq!(cell(&f, id, "amount_in"), "1170.71");
    assert!(cell(&f, id, "metrics")
        .contains("different counterparties in a 35-day window: 3 (test: at least 3, met)"));
}

#[test]
fn pay_into_several_accounts_one_subject_controls() {
    use Channel::*;
    let mut b = Book::new();
    let k1 = b.push(
        "KD-CTRL",
        "2024-03-01",
        "412.50",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    let m1 = b.push(
        "MB-WORKER",
        "2024-03-02",
        "398.00",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    let i1 = b.push(
        "IC-WORKER",
        "2024-03-04",
        "377.25",
        Transfer,
        "GREENLEAF PACKING WAGES",
    );
    // AV's own account: KD is not recorded as controlling it, so it is not counted for KD.
    let av1 = b.push(
        "AV-WORKER",
        "2024-03-03",
        "420.00",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    employee(&mut b);
    let f = b.run();
    // AV, MB and IC all live at 22 Station Road: their three accounts' wages are taken
    // together by address (TRF-011), whoever controls them.
    let by_address = found(&f, "TRF-011");
    assert_eq!(
        by_address,
        vec![(
            "TRF-011/address:22 STATION ROAD DERBY/2024-03-02/1".to_string(),
            v(&[&av1, &m1, &i1])
        )]
    );
    let m = cell(&f, &by_address[0].0, "metrics");
    assert!(
        m.contains("address shared by the account holders: 22 STATION ROAD DERBY (AV, MB, IC)"),
        "{m}"
    );
    assert_eq!(cell(&f, &by_address[0].0, "subject"), "AV;MB;IC");
    let hits = found(&f, "TRF-010");
    assert_eq!(
        hits,
        vec![(
            "TRF-010/subject:KD/2024-03-01/1".to_string(),
            v(&[&k1, &m1, &i1])
        )]
    );
    let m = cell(&f, &hits[0].0, "metrics");
    assert!(
        m.contains("different accounts in a 35-day window: 3 (test: at least 3, met)"),
        "{m}"
    );
    assert!(m.contains("accounts: KD-CTRL, MB-WORKER, IC-WORKER"), "{m}");
    assert_eq!(
        cell(&f, &hits[0].0, "account_id"),
        "IC-WORKER;KD-CTRL;MB-WORKER"
    );
}

#[test]
fn wage_stripping_fires_on_pay_taken_out_at_once_not_on_gradual_spending() {
    use Channel::*;
    let mut b = Book::new();
    let p1 = b.push(
        "AV-WORKER",
        "2024-02-02",
        "420.00",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    let c1 = b.push(
        "AV-WORKER",
        "2024-02-02",
        "-400.00",
        CashWithdrawal,
        "ATM DERBY",
    );
    let p2 = b.push(
        "AV-WORKER",
        "2024-02-09",
        "415.00",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    let c2 = b.push("AV-WORKER", "2024-02-10", "-415.00", Transfer, "K DEMA");
    let p3 = b.push(
        "AV-WORKER",
        "2024-02-16",
        "430.00",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    let c3a = b.push(
        "AV-WORKER",
        "2024-02-16",
        "-200.00",
        CashWithdrawal,
        "ATM DERBY",
    );
    let c3b = b.push(
        "AV-WORKER",
        "2024-02-17",
        "-200.00",
        CashWithdrawal,
        "ATM DERBY",
    );
    // Spending by card is not passing money on.
    b.push("AV-WORKER", "2024-02-20", "-12.00", Card, "TESCO STORES");
    employee(&mut b);
    let f = b.run();
    assert_eq!(
        found(&f, "TRF-002"),
        vec![(
            "TRF-002/AV-WORKER/2024-02-02/1".to_string(),
            v(&[&p1, &c1, &p2, &c2, &p3, &c3a, &c3b])
        )]
    );
    assert_eq!(
        cell(&f, "TRF-002/AV-WORKER/2024-02-02/1", "amount_in"),
        "1265.00"
    );
    assert_eq!(
        cell(&f, "TRF-002/AV-WORKER/2024-02-02/1", "amount_out"),
        "1215.00"
    );
}

#[test]
fn accommodation_fires_on_several_payees_not_on_a_landlord_or_one_tenancy() {
    use Channel::*;
    let mut b = Book::new();
    let r1 = b.push(
        "KD-CTRL",
        "2024-04-01",
        "-950.00",
        StandingOrder,
        "OAKWOOD LETTINGS RENT",
    );
    let r2 = b.push(
        "KD-CTRL",
        "2024-04-03",
        "-1100.00",
        Transfer,
        "R PATEL LANDLORD",
    );
    let r3 = b.push(
        "KD-CTRL",
        "2024-04-10",
        "-384.00",
        Card,
        "PREMIER INN DERBY",
    );
    let r4 = b.push("KD-CTRL", "2024-04-20", "-512.60", Card, "AIRBNB * HMQ2X");
    // Not accommodation: a supermarket, and words that merely contain a keyword
    // (keywords match whole words only: PARENTPAY is not RENT, TORRENTS is not RENT).
    b.push("KD-CTRL", "2024-04-21", "-40.00", Card, "TESCO STORES");
    b.push(
        "KD-CTRL",
        "2024-04-22",
        "-25.00",
        Card,
        "PARENTPAY SCHOOL MEALS",
    );
    b.push(
        "KD-CTRL",
        "2024-04-23",
        "-9.99",
        Card,
        "TORRENTS HOSTING LTD",
    );
    employee(&mut b);
    landlord(&mut b);
    let f = b.run();
    assert_eq!(
        found(&f, "TRF-003"),
        vec![(
            "TRF-003/KD-CTRL/2024-04-01/1".to_string(),
            v(&[&r1, &r2, &r3, &r4])
        )]
    );
    assert_eq!(
        cell(&f, "TRF-003/KD-CTRL/2024-04-01/1", "amount_out"),
        "2946.60"
    );
}

#[test]
fn advertising_and_travel_fire_but_not_for_a_travel_agent() {
    use Channel::*;
    let mut b = Book::new();
    let a1 = b.push("KD-CTRL", "2024-05-01", "-45.00", Card, "VIVASTREET LTD");
    let a2 = b.push("KD-CTRL", "2024-05-06", "-45.00", Card, "VIVASTREET LTD");
    let a3 = b.push("KD-CTRL", "2024-05-12", "-60.00", Card, "ADULTWORK.COM");
    let a4 = b.push("KD-CTRL", "2024-05-19", "-45.00", Card, "VIVASTREET LTD");
    let t1 = b.push("KD-CTRL", "2024-05-02", "-89.99", Card, "RYANAIR DAC");
    let t2 = b.push("KD-CTRL", "2024-05-02", "-89.99", Card, "RYANAIR DAC");
    let t3 = b.push("KD-CTRL", "2024-05-14", "-38.50", Card, "NATIONAL EXPRESS");
    let t4 = b.push("KD-CTRL", "2024-05-14", "-38.50", Card, "NATIONAL EXPRESS");
    // One classified advert by the employee: not frequent.
    b.push("PJ-EMPLOYEE", "2024-05-03", "-9.99", Card, "GUMTREE.COM");
    // The travel agent buys tickets for customers all month: its trade.
    for day in ["01", "03", "05", "08", "11", "15"] {
        b.push(
            "SKYWAY-TRAVEL",
            &format!("2024-05-{day}"),
            "-240.00",
            Card,
            "RYANAIR DAC",
        );
    }
    let f = b.run();
    assert_eq!(
        found(&f, "TRF-004"),
        vec![(
            "TRF-004/KD-CTRL/2024-05-01/1".to_string(),
            v(&[&a1, &a2, &a3, &a4])
        )]
    );
    assert_eq!(
        found(&f, "TRF-005"),
        vec![(
            "TRF-005/KD-CTRL/2024-05-02/1".to_string(),
            v(&[&t1, &t2, &t3, &t4])
        )]
    );
    assert!(f
        .notes
        .iter()
        .any(|n| n.starts_with("TRF-005:") && n.contains("SKYWAY-TRAVEL")));
}

#[test]
fn remittances_fire_per_sender_receiver_and_linked_group_not_for_a_family() {
    let mut b = Book::new();
    let ilir = |receiver, country| Send {
        sender: "Ilir Dema",
        address: "1 Mill Lane, Derby",
        id: "AL1234567",
        receiver,
        country,
    };
    let besa = |receiver, country| Send {
        sender: "Besa Dema",
        address: "1 Mill Lane Derby",
        id: "AL7654321",
        receiver,
        country,
    };
    // Ilir: £3,600 in three sends in 30 days (TRF-006), all to Arben Dema in Albania.
    let i1 = b.send("2024-06-01", "-1200.00", ilir("Arben Dema", "AL"));
    let i2 = b.send("2024-06-08", "-1200.00", ilir("Arben Dema", "AL"));
    let i3 = b.send("2024-06-15", "-1200.00", ilir("ARBEN DEMA", "AL"));
    // Besa (same surname and address) to the same receiver, country written in full.
    let s1 = b.send("2024-06-03", "-900.00", besa("Arben Dema", "Albania"));
    let s2 = b.send("2024-06-20", "-900.00", besa("Arben Dema", "Albania"));
    // The controller's own bank transfer to the same receiver: its country comes from the
    // IBAN, its sender is the account, linked to the Demas through the case file's subject
    // (same surname and address).
    let k1 = b.push_to(
        "KD-CTRL",
        "2024-06-10",
        "-1000.00",
        "ARBEN DEMA",
        "AL35 2021 1109 0000 0000 0123 4567",
    );
    // A transfer to a UK account is not a remittance.
    b.push_to(
        "KD-CTRL",
        "2024-06-11",
        "-2500.00",
        "ARBEN DEMA",
        "GB33BUKB20201555555555",
    );
    // An unlinked third sender to the same receiver (TRF-007 needs three senders).
    let g1 = b.send(
        "2024-06-22",
        "-500.00",
        Send {
            sender: "Gentian Hoxha",
            address: "9 Canal Street, Derby",
            id: "AL5550001",
            receiver: "Arben Dema",
            country: "AL",
        },
    );
    // A family sending modest sums home every month: two linked senders, one receiver.
    for month in ["2024-06", "2024-07", "2024-08", "2024-09"] {
        for (sender, id) in [("Maria Popescu", "RO111"), ("Ion Popescu", "RO222")] {
            b.send(
                &format!("{month}-05"),
                "-200.00",
                Send {
                    sender,
                    address: "4 Oak Street, Derby",
                    id,
                    receiver: "Elena Popescu",
                    country: "RO",
                },
            );
        }
    }
    // Large sends to a country not on the list.
    for day in ["01", "02", "03"] {
        b.send(
            &format!("2024-06-{day}"),
            "-5000.00",
            Send {
                sender: "Claire Martin",
                address: "2 Rue Haute, Lille",
                id: "FR999",
                receiver: "Paul Martin",
                country: "FR",
            },
        );
    }
    let f = b.run();
    assert_eq!(
        found(&f, "TRF-006"),
        vec![(
            "TRF-006/sender:ID_AL1234567/2024-06-01/1".to_string(),
            v(&[&i1, &i2, &i3])
        )]
    );
    assert_eq!(
        found(&f, "TRF-007"),
        vec![(
            "TRF-007/receiver:ARBEN_DEMA_(AL)/2024-06-01/1".to_string(),
            v(&[&k1, &i1, &s1, &i2, &i3, &s2, &g1])
        )]
    );
    let linked = found(&f, "TRF-008");
    assert_eq!(
        linked,
        vec![(
            "TRF-008/linked:ACCOUNT_KD-CTRL+ID_AL1234567+ID_AL7654321/2024-06-01/1".to_string(),
            v(&[&k1, &i1, &s1, &i2, &i3, &s2])
        )]
    );
    let metrics = cell(&f, &linked[0].0, "metrics");
    assert!(
        metrics.contains("shared address 1 MILL LANE DERBY"),
        "{metrics}"
    );
    assert!(metrics.contains("shared surname DEMA"), "{metrics}");
    assert_eq!(cell(&f, &linked[0].0, "amount_out"), "6400.00");
    assert_eq!(cell(&f, &linked[0].0, "subject"), "KD");
}

#[test]
fn lifestyle_fires_on_spending_without_income_not_on_a_wage_earner() {
    use Channel::*;
    let mut b = Book::new();
    let uc = b.push("KD-LUX", "2024-01-10", "400.00", Transfer, "DWP UC");
    b.push("KD-LUX", "2024-01-12", "9000.00", CashDeposit, "CASH");
    let w1 = b.push(
        "KD-LUX",
        "2024-01-20",
        "-6200.00",
        Card,
        "GOLDSMITHS JEWELLERS",
    );
    let w2 = b.push(
        "KD-LUX",
        "2024-02-28",
        "-4800.00",
        Card,
        "MERCEDES-BENZ FINANCE",
    );
    // A well-paid employee spending most of their pay: spending below 3 × income.
    for month in ["2024-01", "2024-02", "2024-03"] {
        b.push(
            "PJ-EMPLOYEE",
            &format!("{month}-02"),
            "6000.00",
            Transfer,
            "NORTHGATE LTD SALARY",
        );
        b.push(
            "PJ-EMPLOYEE",
            &format!("{month}-04"),
            "-5000.00",
            Card,
            "JOHN LEWIS",
        );
    }
    employee(&mut b);
    let f = b.run();
    let hits = found(&f, "TRF-009");
    assert_eq!(
        hits,
        vec![(
            "TRF-009/KD-LUX/2024-01-10/1".to_string(),
            v(&[&uc, &w1, &w2])
        )]
    );
    let m = cell(&f, &hits[0].0, "metrics");
    assert!(
        m.contains("spending in the 91-day window with the most: £11,000.00"),
        "{m}"
    );
    assert!(
        m.contains("identified income in that window: £400.00"),
        "{m}"
    );
    assert!(m.contains("not counted as income): £9,000.00"), "{m}");
}

#[test]
fn a_wrong_keyword_list_is_an_error_naming_the_lists() {
    let text = r#"
[[rule]]
id = "TRF-901"
name = "x"
version = 1
kind = "keyword_payments"
severity = "low"
description = "x"
basis = ["x"]
[rule.params]
list = "casinos"
"#;
    let err = rules::compile::compile_file(text, "local.toml").unwrap_err();
    assert!(
        err.to_string().contains(
            "param `list` = \"casinos\" is out of range; valid: the name of a shipped keyword list"
        ),
        "{err}"
    );
}

#[test]
fn shipped_lists_have_a_source_a_date_and_entries() {
    use proceeds::rules::kinds::{keyword_payments, source_country_remittance};
    for (name, text) in keyword_payments::KEYWORD_LISTS {
        assert!(text.contains("Source:"), "{name}: no source in the header");
        assert!(text.contains("2026-11-28"), "{name}: no date in the header");
        let words = keyword_payments::keywords(name).unwrap();
        assert!(words.len() >= 10, "{name}: {words:?}");
        let mut unique = words.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), words.len(), "{name}: duplicate keywords");
    }
    let countries = source_country_remittance::shipped_countries();
    assert!(source_country_remittance::SOURCE_COUNTRIES.contains("Source: UK Home Office"));
    assert_eq!(
        countries
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>(),
        ["AL", "VN", "ER", "SD", "RO", "IN", "NG", "CN"]
    );
}

#[test]
fn the_report_groups_trafficking_findings_under_their_own_heading() {
    use proceeds::report::court::{self, doc::Block, FindingFrames, ReportInput};
    let mut b = Book::new();
    let [w1, w2, w3] = three_payers_into_the_controller(&mut b);
    let (case, ledger, f) = b.run_keeping_ledger();
    let charts = court::build::ChartAccounts::of(&ledger).unwrap();
    let doc = court::build(&ReportInput {
        case: &case,
        charts: &charts,
        sources: &[],
        integrity: None,
        integrity_summary: &[],
        transfers: None,
        findings: Some(FindingFrames {
            findings: &f.findings,
            rules: &f.rules,
            notes: &f.notes,
        }),
        trace: None,
        schedules: None,
        inputs: &[],
        run_timestamp: "2026-01-01T00:00:00Z",
        stage_notes: &[],
    })
    .unwrap();
    let findings = doc.sections.iter().find(|s| s.id == "findings").unwrap();
    let headings: Vec<&str> = findings
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Heading { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    // Only trafficking rules ran, so theirs is the only heading.
    assert_eq!(
        headings,
        ["Human trafficking and labour-exploitation indicators"]
    );
    let at = findings
        .blocks
        .iter()
        .position(|b| matches!(b, Block::Heading { .. }))
        .unwrap();
    // Under it: what an indicator is and is not evidence of, the rules applied, then the
    // finding with its exact evidence rows.
    assert!(
        matches!(&findings.blocks[at + 1], Block::Caution { text } if text.contains("not evidence of exploitation on its own"))
    );
    let table = findings.blocks[at..]
        .iter()
        .find_map(|b| match b {
            Block::Table(t) => Some(t),
            _ => None,
        })
        .unwrap();
    assert_eq!(table.rows.len(), 1);
    assert_eq!(table.rows[0][0], "TRF-001/KD-CTRL/2024-03-01/1");
    assert_eq!(table.rows[0][5], "£1,170.71");
    assert_eq!(table.rows[0][7], format!("{w1}; {w2}; {w3}"));
}

#[test]
fn two_housemates_wages_are_not_an_address_finding() {
    use Channel::*;
    let mut b = Book::new();
    // Only two of the three workers at 22 Station Road are paid: below min_accounts 3.
    b.push(
        "AV-WORKER",
        "2024-03-03",
        "420.00",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    b.push(
        "MB-WORKER",
        "2024-03-05",
        "398.00",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    b.push(
        "MB-WORKER",
        "2024-03-12",
        "398.00",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    // The landlord at 8 Park View shares her address with nobody in the case.
    landlord(&mut b);
    employee(&mut b);
    let f = b.run();
    assert!(found(&f, "TRF-011").is_empty());
}

#[test]
fn pay_into_several_accounts_whose_holders_share_a_phone_number() {
    use Channel::*;
    let mut b = Book::new();
    // Three workers at three addresses, one mobile number written three ways.
    let rp = b.push(
        "RP-WORKER",
        "2024-05-03",
        "415.00",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    // Not pay: not evidence.
    b.push("RP-WORKER", "2024-05-05", "200.00", CashDeposit, "CASH");
    let es = b.push(
        "ES-WORKER",
        "2024-05-10",
        "402.60",
        Transfer,
        "GREENLEAF PACKING WAGES",
    );
    let dt = b.push(
        "DT-WORKER",
        "2024-05-24",
        "388.75",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    // 52 days after the last of the others: alone in its window, not evidence.
    b.push(
        "DT-WORKER",
        "2024-07-15",
        "388.75",
        Transfer,
        "BRIGHTWELL FOODS LTD PAYROLL",
    );
    employee(&mut b);
    let f = b.run();
    let hits = found(&f, "TRF-012");
    assert_eq!(
        hits,
        vec![(
            "TRF-012/phone:07700900461/2024-05-03/1".to_string(),
            v(&[&rp, &es, &dt])
        )]
    );
    let id = &hits[0].0;
    // 415.00 + 402.60 + 388.75 = 1,206.35.
    assert_eq!(cell(&f, id, "amount_in"), "1206.35");
    assert_eq!(cell(&f, id, "amount_out"), "0.00");
    assert_eq!(cell(&f, id, "subject"), "RP;ES;DT");
    assert_eq!(cell(&f, id, "account_id"), "DT-WORKER;ES-WORKER;RP-WORKER");
    let m = cell(&f, id, "metrics");
    assert!(
        m.contains("phone number shared by the account holders: 07700900461 (RP, ES, DT)"),
        "{m}"
    );
    assert!(
        m.contains("different accounts in a 35-day window: 3 (test: at least 3, met)"),
        "{m}"
    );
    // Three addresses and three controllers: neither TRF-011 nor TRF-010 links them.
    assert!(found(&f, "TRF-011").is_empty());
    assert!(found(&f, "TRF-010").is_empty());
}

/// A family on one landline (and one address), each paid monthly.
fn family(b: &mut Book, with_son: bool) -> Vec<String> {
    let mut rows = Vec::new();
    for month in ["2024-03", "2024-04"] {
        rows.push(b.push(
            "GH-CURRENT",
            &format!("{month}-25"),
            "1650.00",
            Channel::Transfer,
            "NORTHGATE LTD SALARY",
        ));
        rows.push(b.push(
            "SH-CURRENT",
            &format!("{month}-28"),
            "1120.40",
            Channel::Transfer,
            "LEICESTER CITY COUNCIL PAYROLL",
        ));
    }
    if with_son {
        rows.push(b.push(
            "TH-CURRENT",
            "2024-04-12",
            "980.00",
            Channel::Transfer,
            "GREENLEAF PACKING WAGES",
        ));
    }
    rows
}

#[test]
fn a_couple_on_one_landline_is_not_a_phone_finding_but_three_earners_are() {
    // Two earners on the landline 0116 496 0321 (written two ways): four pay credits, up
    // to four in one 35-day window (min_count 3 met), but in two accounts, below
    // min_accounts 3. The same holds for their shared address (TRF-011).
    let mut b = Book::new();
    family(&mut b, false);
    employee(&mut b);
    let f = b.run();
    assert!(found(&f, "TRF-012").is_empty());
    assert!(found(&f, "TRF-011").is_empty());

    // Their adult son, on the same landline and at the same address, paid on 2024-04-12:
    // three accounts in the windows ending 2024-04-12, -25 and -28, so the family meets
    // both rules. Nothing in the statements tells a family from a controlled house; the
    // finding is an indicator to examine.
    let mut b = Book::new();
    let rows = family(&mut b, true);
    let f = b.run();
    // Ledger order: account by account in case order (GH, SH, TH), then date.
    let evidence = v(&[&rows[0], &rows[2], &rows[1], &rows[3], &rows[4]]);
    assert_eq!(
        found(&f, "TRF-012"),
        vec![(
            "TRF-012/phone:01164960321/2024-03-25/1".to_string(),
            evidence.clone()
        )]
    );
    assert_eq!(
        found(&f, "TRF-011"),
        vec![(
            "TRF-011/address:12 ORCHARD WAY LEICESTER/2024-03-25/1".to_string(),
            evidence
        )]
    );
    // 2 × 1,650.00 + 2 × 1,120.40 + 980.00 = 6,520.80.
    assert_eq!(
        cell(&f, "TRF-012/phone:01164960321/2024-03-25/1", "amount_in"),
        "6520.80"
    );
}

/// KD-LUX, January to March 2024: a salary from an employer whose name holds no pay
/// keyword (KESTREL HAULAGE LTD, 3,200.00 on the 5th of each month), one benefit payment a
/// keyword recognises (DWP UC, 300.00), a cash deposit (1,500.00) and 10,600.00 of spending.
/// Returns (spending rows, the UC credit, the three salary credits).
fn salaried_spender(b: &mut Book) -> ([String; 3], String, [String; 3]) {
    use Channel::*;
    let s1 = b.push(
        "KD-LUX",
        "2024-01-05",
        "3200.00",
        Transfer,
        "KESTREL HAULAGE LTD",
    );
    let w1 = b.push("KD-LUX", "2024-01-10", "-4100.00", Card, "JOHN LEWIS");
    let uc = b.push("KD-LUX", "2024-02-01", "300.00", Transfer, "DWP UC");
    let s2 = b.push(
        "KD-LUX",
        "2024-02-05",
        "3200.00",
        Transfer,
        "KESTREL HAULAGE LTD",
    );
    let w2 = b.push("KD-LUX", "2024-02-12", "-3900.00", Card, "CURRYS");
    b.push("KD-LUX", "2024-02-20", "1500.00", CashDeposit, "CASH");
    let s3 = b.push(
        "KD-LUX",
        "2024-03-05",
        "3200.00",
        Transfer,
        "KESTREL HAULAGE LTD",
    );
    let w3 = b.push(
        "KD-LUX",
        "2024-03-14",
        "-2600.00",
        DirectDebit,
        "BMW FINANCIAL SERVICES",
    );
    ([w1, w2, w3], uc, [s1, s2, s3])
}

#[test]
fn accepted_legitimate_credits_count_as_identified_income() {
    const HEADER: &str = "match_on,value,from,until,reason,evidence_ref\n";
    // Only the 91-day window ending 2024-03-14 reaches £10,000 of spending:
    // 4,100.00 + 3,900.00 + 2,600.00 = 10,600.00 (the one ending 2024-03-05 holds 8,000.00).

    // Without a legitimate-sources file only the keyword-recognised UC is income:
    // 10,600.00 ≥ 3 × 300.00 = 900.00, so it fires. Other credits: 3 × 3,200.00 + 1,500.00
    // = 11,100.00.
    let mut b = Book::new();
    let ([w1, w2, w3], uc, [_, _, s3]) = salaried_spender(&mut b);
    let f = b.run();
    let id = "TRF-009/KD-LUX/2024-01-10/1";
    assert_eq!(
        found(&f, "TRF-009"),
        vec![(id.to_string(), v(&[&w1, &uc, &w2, &w3]))]
    );
    let m = cell(&f, id, "metrics");
    for part in [
        "spending in the 91-day window with the most: £10,600.00",
        "identified income in that window: £300.00",
        "of which pay or benefits recognised by keyword: £300.00",
        "of which other credits accepted as legitimate (the case names no legitimate_sources file): £0.00",
        "not counted as income): £11,100.00",
    ] {
        assert!(m.contains(part), "{part:?} not in {m}");
    }

    // The salary accepted from 2024-03-01 only: the March credit counts, 3,200.00.
    // Income 300.00 + 3,200.00 = 3,500.00; 10,600.00 ≥ 3 × 3,500.00 = 10,500.00: it still
    // fires, with the March salary among the evidence; other credits 2 × 3,200.00 +
    // 1,500.00 = 7,900.00.
    let mut b = Book::new();
    salaried_spender(&mut b);
    let f = b
        .run_with_legitimate(&format!(
            "{HEADER}counterparty,Kestrel Haulage Ltd.,2024-03-01,,\"Salary, payslips from March only\",AE/50\n"
        ))
        .unwrap();
    assert_eq!(
        found(&f, "TRF-009"),
        vec![(id.to_string(), v(&[&w1, &uc, &w2, &s3, &w3]))]
    );
    let m = cell(&f, id, "metrics");
    for part in [
        "identified income in that window: £3,500.00",
        "of which pay or benefits recognised by keyword: £300.00",
        "of which other credits accepted as legitimate (reference/legitimate.csv): £3,200.00",
        "not counted as income): £7,900.00",
    ] {
        assert!(m.contains(part), "{part:?} not in {m}");
    }
    assert_eq!(cell(&f, id, "amount_in"), "3500.00");
    assert_eq!(cell(&f, id, "amount_out"), "10600.00");

    // The salary accepted throughout: income 300.00 + 3 × 3,200.00 = 9,900.00, and
    // 10,600.00 < 3 × 9,900.00 = 29,700.00: no finding.
    let mut b = Book::new();
    salaried_spender(&mut b);
    let f = b
        .run_with_legitimate(&format!(
            "{HEADER}counterparty,KESTREL HAULAGE LTD,,,Salary from the employer,AE/50\n"
        ))
        .unwrap();
    assert!(found(&f, "TRF-009").is_empty());

    // The file is read by the schedules' own reader and refused the same way.
    let mut b = Book::new();
    salaried_spender(&mut b);
    assert_eq!(
        b.run_with_legitimate(&format!("{HEADER}txn_id,000000000000-L1,,,typo,AE/41\n"))
            .unwrap_err(),
        "reference/legitimate.csv, line 2: field `value`: names txn_id \"000000000000-L1\", which is not in the ledger"
    );
    let mut b = Book::new();
    salaried_spender(&mut b);
    assert_eq!(
        b.run_with_legitimate(&format!("{HEADER}name,KESTREL HAULAGE LTD,,,Salary,AE/50\n"))
            .unwrap_err(),
        "reference/legitimate.csv, line 2: field `match_on`: is \"name\"; expected txn_id or counterparty"
    );
}
