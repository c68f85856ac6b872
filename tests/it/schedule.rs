//! The confiscation schedules on the worked case of `fixtures/schedule/` (fictional people,
//! made-up figures), every expected figure computed by hand below and asserted to the penny.
//!
//! The case (proceedings started 2025-03-14, so the relevant day is 2019-03-15; conviction
//! 2025-11-03; valuation month 2026-01; fictional CPIH index, I(2026-01) = 140.0):
//!
//! DH-LLOYDS (defendant; opening balance 500.00; file lines newest first):
//!   L10 2019-03-01 +2,000.00 NORTHGATE LOGISTICS salary   before the relevant day (and salary)
//!   L9  2019-03-15 +3,000.00 cash deposit                 ON the relevant day: out
//!   L8  2019-03-16 +4,000.00 cash deposit                 the day after: IN (s.10(2))
//!   L7  2019-03-20 −4,000.00 GOLDSMITHS (the watch)       met from the balance
//!   L6  2019-04-01 +2,000.00 NORTHGATE LOGISTICS salary   accepted legitimate source: out
//!   L5  2021-06-10 −5,000.00 to DH-STARLING               internal transfer
//!   L4  2021-06-11 −2,000.00 to VH-STARLING (associate)   a gift after the relevant day
//!   L3  2025-04-10 +1,000.00 cash deposit                 after proceedings started: IN
//!   L2  2025-05-02 −1,700.00 TESCO                        1,500.00 in the account: 200.00 beyond it
//! DH-STARLING (defendant; opening 0):
//!   S3  2021-06-10 +5,000.00 from Dorian Harlow           internal transfer credit: out
//!   S4  2021-06-15 +  750.00 from `=HYPERLINK("http://x","y")`  IN (s.10(2)); a hostile name
//!   S5  2023-02-01 −1,250.00 Kwik Motors                  met from the balance; 4,500.00 left
//! VH-STARLING (associate): V3 2021-06-11 +2,000.00 from Dorian Harlow (the gift arriving).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use proceeds::case::{Case, ResolveOptions};
use proceeds::confiscation::{schedule, Jurisdiction, ReferenceData, ScheduleError, Schedules};
use proceeds::hash::sha256_file;
use proceeds::ingest::{ingest_case, Registry};
use proceeds::pipeline::{run_to, RunOptions, Stage};
use proceeds::rules::{rules_for_case, run_rules, Reference};
use proceeds::verify::{verify, VerifyOptions};

use crate::support::{fixture, read_csv};

/// The txn_id of a line of a fixture statement.
fn txn(file: &str, line: u32) -> String {
    let (sha, _) = sha256_file(&fixture("schedule/statements").join(file)).unwrap();
    format!("{}-L{line}", &sha[..12])
}

fn lloyds(line: u32) -> String {
    txn("lloyds_DH_current.csv", line)
}

fn starling(line: u32) -> String {
    txn("starling_DH_savings.csv", line)
}

fn run_case(name: &str) -> Schedules {
    let case = Case::load(
        &fixture(&format!("schedule/{name}")),
        ResolveOptions::default(),
    )
    .unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let ingested = ingest_case(&case, &registry, false).unwrap();
    assert!(ingested.rejects.is_empty(), "{:#?}", ingested.rejects);
    let verified = verify(
        &case,
        ingested.ledger,
        &ingested.statements,
        &VerifyOptions::default(),
    )
    .unwrap();
    assert_eq!(verified.transfers.height(), 2, "both transfers matched");
    let reference = ReferenceData::load(&case).unwrap();
    let jurisdiction = Jurisdiction::by_id(&case.jurisdiction).unwrap();
    schedule(
        &case,
        &verified.ledger,
        &verified.transfers,
        None,
        &reference,
        &jurisdiction,
    )
    .unwrap()
}

/// Pence as a `1234.56` string, for readable assertions.
fn gbp(p: i64) -> String {
    format!(
        "{}{}.{:02}",
        if p < 0 { "-" } else { "" },
        p.abs() / 100,
        p.abs() % 100
    )
}

#[test]
fn worked_case_benefit_to_the_penny() {
    let s = run_case("case.toml");
    assert_eq!(s.relevant_day.day.to_string(), "2019-03-15");
    assert!(s
        .relevant_day
        .derivation
        .contains("from 2019-03-15 to 2025-03-14"));
    assert_eq!(s.valuation_month.to_string(), "2026-01");

    // Benefit lines, by hand (uplift = historic × 140.0 / I(month), half to even):
    //   s.10(2) L8  2019-03  4,000.00 × 140/112.0 = 5,000.00 exactly
    //   s.10(2) L3  2025-04  1,000.00 × 140/137.2 = 1,020.408… → 1,020.41 (after proceedings)
    //   s.10(2) S4  2021-06    750.00 × 140/118.3 =   887.573… →   887.57
    //   s.10(3) HOUSE-1 2016-05 15,000.00 × 140/100.0 = 21,000.00
    //   s.10(4) L2  2025-05    200.00 × 140/137.5 =   203.636… →   203.64
    //     (TESCO 1,700.00 paid with 1,500.00 in the account: 200.00 beyond it, never repaid)
    //   s.80(2)(b) WATCH-1: value now (6,500.00 − 0) × 1 = 6,500.00 > 5,000.00 uplifted for
    //     L8, which it represents: + 1,500.00
    let got: Vec<(String, Option<String>, String, String, String)> = s
        .benefit
        .iter()
        .map(|l| {
            (
                l.section.clone(),
                l.txn_id.clone(),
                gbp(l.historic),
                gbp(l.uplifted),
                gbp(l.value),
            )
        })
        .collect();
    let line = |sec: &str, txn: Option<String>, h: &str, u: &str, v: &str| {
        (
            sec.to_string(),
            txn,
            h.to_string(),
            u.to_string(),
            v.to_string(),
        )
    };
    assert_eq!(
        got,
        vec![
            line("s.10(2)", Some(lloyds(8)), "4000.00", "5000.00", "5000.00"),
            line("s.10(2)", Some(lloyds(3)), "1000.00", "1020.41", "1020.41"),
            line("s.10(2)", Some(starling(4)), "750.00", "887.57", "887.57"),
            line("s.10(3)", None, "15000.00", "21000.00", "21000.00"),
            line("s.10(4)", Some(lloyds(2)), "200.00", "203.64", "203.64"),
            line("s.80(2)(b)", None, "0.00", "0.00", "1500.00"),
        ]
    );
    // The credit after proceedings started says so; the relevant-day credit is not here.
    assert!(s.benefit[1]
        .reason
        .contains("after proceedings started on 2025-03-14"));
    assert!(s.benefit.iter().all(|l| l.txn_id != Some(lloyds(9))));
    assert!(s.benefit[4]
        .reason
        .contains("200.00 of it paid beyond the money then in the account"));
    assert!(
        s.benefit[0].basis.contains("represented by asset WATCH-1"),
        "{}",
        s.benefit[0].basis
    );
    // Every line cites its source.
    assert_eq!(
        s.benefit[0].source_ref,
        "statements/lloyds_DH_current.csv:8"
    );
    assert_eq!(s.benefit[0].exhibit, "AE/1");
    assert_eq!(s.benefit[3].source_ref, "reference/assets.csv:3");

    // Totals: historic 4,000 + 1,000 + 750 + 15,000 + 200 = 20,950.00;
    // uplifted 5,000.00 + 1,020.41 + 887.57 + 21,000.00 + 203.64 = 28,111.62;
    // benefit 28,111.62 + 1,500.00 = 29,611.62.
    assert_eq!(gbp(s.totals.benefit_historic), "20950.00");
    assert_eq!(gbp(s.totals.benefit_uplifted), "28111.62");
    assert_eq!(gbp(s.totals.benefit), "29611.62");
}

#[test]
fn worked_case_exclusions_are_listed_never_dropped() {
    let s = run_case("case.toml");
    let got: Vec<(&str, Option<String>, String)> = s
        .exclusions
        .iter()
        .map(|l| (l.category, l.txn_id.clone(), gbp(l.amount)))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "before_relevant_day",
                Some(lloyds(10)),
                "2000.00".to_string()
            ),
            (
                "before_relevant_day",
                Some(lloyds(9)),
                "3000.00".to_string()
            ),
            ("legitimate_source", Some(lloyds(6)), "2000.00".to_string()),
            (
                "internal_transfer",
                Some(starling(3)),
                "5000.00".to_string()
            ),
            ("asset_not_assumed", None, "0.00".to_string()),
        ]
    );
    // The salary before the relevant day carries both reasons.
    assert!(s.exclusions[0]
        .reason
        .contains("before the relevant day 2019-03-15"));
    assert!(s.exclusions[0]
        .reason
        .contains("accepted legitimate source"));
    assert!(s.exclusions[1]
        .reason
        .contains("on the relevant day itself (2019-03-15)"));
    assert_eq!(s.exclusions[2].evidence_ref, "AE/40 payslips and P60s");
    assert!(s.exclusions[3].reason.contains("internal transfer TR-"));
    assert!(s.exclusions[4].description.starts_with("WATCH-1"));

    // Completeness: every credit to the defendant's accounts is counted once or excluded
    // once: 4,000 + 1,000 + 750 counted; 2,000 + 3,000 + 2,000 + 5,000 excluded; 17,750.00.
    let counted: BTreeSet<String> = s
        .benefit
        .iter()
        .filter(|l| l.section == "s.10(2)")
        .filter_map(|l| l.txn_id.clone())
        .collect();
    let excluded: BTreeSet<String> = s
        .exclusions
        .iter()
        .filter_map(|l| l.txn_id.clone())
        .collect();
    assert!(counted.is_disjoint(&excluded));
    let credits: BTreeSet<String> = [10, 9, 8, 6, 3]
        .map(lloyds)
        .into_iter()
        .chain([3, 4].map(starling))
        .collect();
    assert_eq!(
        counted.union(&excluded).cloned().collect::<BTreeSet<_>>(),
        credits
    );
    let counted_sum: i64 = s
        .benefit
        .iter()
        .filter(|l| l.section == "s.10(2)")
        .map(|l| l.historic)
        .sum();
    let excluded_sum: i64 = s
        .exclusions
        .iter()
        .filter(|l| l.txn_id.is_some())
        .map(|l| l.amount)
        .sum();
    assert_eq!(gbp(counted_sum + excluded_sum), "17750.00");
}

#[test]
fn worked_case_gifts_available_and_recoverable() {
    let s = run_case("case.toml");
    // Gifts (value − consideration, uplifted to 2026-01):
    //   G-1 2018-06-20 6,000 − 1,000 = 5,000.00 × 140/108.0 = 6,481.481… → 6,481.48;
    //       before the relevant day, not of benefit: NOT tainted, counts nil
    //   ledger L4 2021-06-11 2,000.00 × 140/118.3 = 2,366.863… → 2,366.86: tainted
    //   G-2 2022-09-01 3,000 − 500 = 2,500.00 × 140/129.5 = 2,702.702… → 2,702.70: tainted
    //   tainted gifts: 2,366.86 + 2,702.70 = 5,069.56
    let got: Vec<(String, String, String, bool, String)> = s
        .gifts
        .iter()
        .map(|g| {
            (
                g.gift_id.clone(),
                gbp(g.gift_amount),
                gbp(g.uplifted),
                g.tainted,
                gbp(g.counted),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "G-1".into(),
                "5000.00".into(),
                "6481.48".into(),
                false,
                "0.00".into()
            ),
            (
                format!("GIFT-{}", lloyds(4)),
                "2000.00".into(),
                "2366.86".into(),
                true,
                "2366.86".into()
            ),
            (
                "G-2".into(),
                "2500.00".into(),
                "2702.70".into(),
                true,
                "2702.70".into()
            ),
        ]
    );
    assert!(s.gifts[0]
        .rule
        .starts_with("not tainted: made on 2018-06-20, on or before the relevant day 2019-03-15"));
    assert!(s.gifts[1]
        .rule
        .starts_with("tainted: made on 2021-06-11, after the relevant day 2019-03-15"));
    assert_eq!(s.gifts[1].recipient, "Vesna Harlow");
    assert!(s.gifts[2]
        .rule
        .contains("gift = value 3000.00 less consideration 500.00"));
    assert_eq!(gbp(s.totals.tainted_gifts), "5069.56");

    // Available amount:
    //   HOUSE-1 (320,000.00 − 180,000.00) × 0.5      = 70,000.00
    //   WATCH-1 (6,500.00 − 0) × 1                   =  6,500.00
    //   FINE-1  obligation having priority           = −1,200.00
    //   CAR-VH  held by the associate                =      0.00
    //   DH-LLOYDS last balance −200.00: overdrawn    =      0.00
    //   DH-STARLING last balance                     =  4,500.00
    //   tainted gifts                                =  5,069.56
    //   available amount                             = 84,869.56
    let got: Vec<(&str, String, String)> = s
        .available
        .iter()
        .map(|l| (l.kind, l.item_id.clone(), gbp(l.value)))
        .collect();
    let row = |k: &'static str, id: &str, v: &str| (k, id.to_string(), v.to_string());
    assert_eq!(
        got,
        vec![
            row("property", "HOUSE-1", "70000.00"),
            row("property", "WATCH-1", "6500.00"),
            row("priority_obligation", "FINE-1", "-1200.00"),
            row("property", "CAR-VH", "0.00"),
            row("bank_balance", "DH-LLOYDS", "0.00"),
            row("bank_balance", "DH-STARLING", "4500.00"),
            row("tainted_gifts", "TAINTED-GIFTS", "5069.56"),
        ]
    );
    assert!(s.available[4].basis.contains("overdrawn"));
    assert!(s.available[5]
        .basis
        .starts_with("last balance reported by the bank, 2023-02-01"));
    assert_eq!(gbp(s.totals.free_property), "76500.00");
    assert_eq!(gbp(s.totals.bank_balances), "4500.00");
    assert_eq!(gbp(s.totals.priority_obligations), "-1200.00");
    assert_eq!(gbp(s.totals.available), "84869.56");
    // Recoverable: the lower of 29,611.62 and 84,869.56 is the benefit.
    assert_eq!(gbp(s.totals.recoverable), "29611.62");
    assert_eq!(s.totals.recoverable_is, "benefit");
}

#[test]
fn non_lifestyle_case_counts_only_attributed_rows() {
    let s = run_case("non-lifestyle.toml");
    // Attributed: L8 4,000.00 → 5,000.00 and S4 750.00 → 887.57; WATCH-1 represents L8:
    // + 1,500.00. Benefit 5,000.00 + 887.57 + 1,500.00 = 7,387.57. No assumption, so no
    // s.10(3)/(4) lines and nothing to exclude.
    assert_eq!(gbp(s.totals.benefit_historic), "4750.00");
    assert_eq!(gbp(s.totals.benefit), "7387.57");
    assert!(s.benefit.iter().take(2).all(|l| l.section == "s.6(4)(c)"));
    assert!(s.exclusions.is_empty());
    // Gifts tainted after the offence date 2021-01-01 (s.77(3)): the same two, 5,069.56.
    assert_eq!(gbp(s.totals.tainted_gifts), "5069.56");
    assert!(s.gifts[1]
        .rule
        .contains("after the date of the offence 2021-01-01 (POCA 2002 s.77(3))"));
    assert_eq!(gbp(s.totals.available), "84869.56");
    assert_eq!(gbp(s.totals.recoverable), "7387.57");
}

#[test]
fn frames_have_the_documented_columns() {
    use proceeds::confiscation::frames::{
        AVAILABLE_COLUMNS, BENEFIT_COLUMNS, EXCLUSION_COLUMNS, GIFT_COLUMNS, SUMMARY_COLUMNS,
    };
    let s = run_case("case.toml");
    let names = |df: polars::prelude::DataFrame| -> Vec<String> {
        df.get_column_names()
            .iter()
            .map(|c| c.to_string())
            .collect()
    };
    assert_eq!(names(s.benefit_frame().unwrap()), BENEFIT_COLUMNS);
    assert_eq!(names(s.exclusions_frame().unwrap()), EXCLUSION_COLUMNS);
    assert_eq!(names(s.available_frame().unwrap()), AVAILABLE_COLUMNS);
    assert_eq!(names(s.gifts_frame().unwrap()), GIFT_COLUMNS);
    assert_eq!(names(s.summary_frame().unwrap()), SUMMARY_COLUMNS);
}

#[test]
fn no_price_index_is_refused() {
    let case = Case::load(&fixture("schedule/case.toml"), ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let ingested = ingest_case(&case, &registry, false).unwrap();
    let v = verify(
        &case,
        ingested.ledger,
        &ingested.statements,
        &VerifyOptions::default(),
    )
    .unwrap();
    let mut reference = ReferenceData::load(&case).unwrap();
    reference.price_index = None;
    let j = Jurisdiction::by_id("uk-poca-2002").unwrap();
    let e = schedule(&case, &v.ledger, &v.transfers, None, &reference, &j).unwrap_err();
    assert!(matches!(e, ScheduleError::Case { .. }), "{e}");
    assert!(e.to_string().contains("price_index"), "{e}");
}

fn run_outputs(dir: &Path) {
    let options = RunOptions {
        out_dir: dir.to_path_buf(),
        run_timestamp: Some("2026-02-01T00:00:00Z".into()),
        ..RunOptions::default()
    };
    let summary = run_to(&fixture("schedule/case.toml"), &options, Stage::Schedule).unwrap();
    assert!(
        summary.stage_notes.iter().any(|n| n.starts_with(
            "schedule: benefit 29611.62, available amount 84869.56, recoverable amount 29611.62"
        )),
        "{:?}",
        summary.stage_notes
    );
}

const OUTPUTS: [&str; 9] = [
    "schedules.xlsx",
    "report.html",
    "report.pdf",
    "schedule_summary.csv",
    "schedule_benefit.csv",
    "schedule_exclusions.csv",
    "schedule_available_amount.csv",
    "schedule_tainted_gifts.csv",
    "manifest.json",
];

#[test]
fn outputs_are_byte_identical_on_rerun() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    run_outputs(a.path());
    run_outputs(b.path());
    for name in OUTPUTS {
        let x = std::fs::read(a.path().join(name)).unwrap();
        let y = std::fs::read(b.path().join(name)).unwrap();
        assert!(x == y, "{name} differs between two runs");
    }
}

fn cents(d: &Data) -> i64 {
    match d {
        Data::Float(f) => (f * 100.0).round() as i64,
        Data::Int(i) => i * 100,
        other => panic!("expected a number, found {other:?}"),
    }
}

/// Header name → column index of row 0.
fn columns(range: &calamine::Range<Data>) -> BTreeMap<String, u32> {
    let (_, width) = range.get_size();
    (0..width as u32)
        .filter_map(|c| match range.get_value((0, c)) {
            Some(Data::String(s)) => Some((s.clone(), c)),
            _ => None,
        })
        .collect()
}

/// Row index of the `Total` line (column A).
fn total_row(range: &calamine::Range<Data>) -> u32 {
    (1..range.get_size().0 as u32)
        .find(|&r| range.get_value((r, 0)) == Some(&Data::String("Total".into())))
        .expect("a Total row")
}

#[test]
fn xlsx_totals_reconcile_and_text_is_inert() {
    let dir = tempfile::tempdir().unwrap();
    run_outputs(dir.path());
    let bytes = std::fs::read(dir.path().join("schedules.xlsx")).unwrap();
    let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).unwrap();
    assert_eq!(
        wb.sheet_names(),
        [
            "Summary",
            "Benefit",
            "Exclusions",
            "Available Amount",
            "Tainted Gifts",
            "Tracing",
            "Findings",
            "Integrity",
            "Sources"
        ]
    );

    // Each total is =SUM over its lines, and its cached value equals the sum of the lines.
    for (sheet, cols, expected) in [
        (
            "Benefit",
            vec!["historic_amount", "uplifted_amount", "benefit_value"],
            vec!["20950.00", "28111.62", "29611.62"],
        ),
        ("Available Amount", vec!["value"], vec!["84869.56"]),
        (
            "Tainted Gifts",
            vec!["counted_value", "uplifted_amount"],
            vec!["5069.56", "11551.04"],
        ),
        ("Exclusions", vec!["amount"], vec!["12000.00"]),
    ] {
        let range = wb.worksheet_range(sheet).unwrap();
        let formulas = wb.worksheet_formula(sheet).unwrap();
        let names = columns(&range);
        let total = total_row(&range);
        for (name, want) in cols.iter().zip(expected) {
            let c = names[*name];
            let lines: i64 = (1..total)
                .map(|r| range.get_value((r, c)).map_or(0, cents))
                .sum();
            let cached = cents(range.get_value((total, c)).unwrap());
            assert_eq!(lines, cached, "{sheet} {name}: lines against total");
            assert_eq!(gbp(cached), want, "{sheet} {name}");
            let col = (b'A' + c as u8) as char;
            assert_eq!(
                formulas.get_value((total, c)).map(String::as_str),
                Some(format!("SUM({col}2:{col}{})", total).as_str()),
                "{sheet} {name}: formula"
            );
        }
    }

    // The Summary's figures are formulas on those totals, cached with the engine's figures.
    let summary = wb.worksheet_range("Summary").unwrap();
    let summary_f = wb.worksheet_formula("Summary").unwrap();
    let names = columns(&summary);
    let (key, amount) = (names["key"], names["amount"]);
    let mut figures = BTreeMap::new();
    for r in 1..summary.get_size().0 as u32 {
        if let (Some(Data::String(k)), Some(v @ Data::Float(_))) =
            (summary.get_value((r, key)), summary.get_value((r, amount)))
        {
            figures.insert(
                k.clone(),
                (
                    gbp(cents(v)),
                    summary_f
                        .get_value((r, amount))
                        .cloned()
                        .unwrap_or_default(),
                ),
            );
        }
    }
    assert_eq!(figures["benefit"].0, "29611.62");
    assert!(
        figures["benefit"].1.starts_with("'Benefit'!O"),
        "{:?}",
        figures["benefit"]
    );
    assert_eq!(figures["available"].0, "84869.56");
    assert!(
        figures["available"]
            .1
            .starts_with("MAX(0,'Available Amount'!"),
        "{:?}",
        figures["available"]
    );
    assert_eq!(figures["free_property"].0, "76500.00");
    assert!(figures["free_property"].1.starts_with("SUMIF("));
    assert_eq!(figures["tainted_gifts"].0, "5069.56");
    assert_eq!(figures["recoverable"].0, "29611.62");
    assert!(figures["recoverable"].1.starts_with("MIN("));

    // The hostile counterparty is text beginning with a quote, not a formula.
    let benefit = wb.worksheet_range("Benefit").unwrap();
    let benefit_f = wb.worksheet_formula("Benefit").unwrap();
    let cp = columns(&benefit)["counterparty"];
    let hostile: Vec<u32> = (1..benefit.get_size().0 as u32)
        .filter(|&r| matches!(benefit.get_value((r, cp)), Some(Data::String(s)) if s.contains("HYPERLINK")))
        .collect();
    assert_eq!(hostile.len(), 1);
    assert_eq!(
        benefit.get_value((hostile[0], cp)),
        Some(&Data::String("'=HYPERLINK(\"http://x\",\"y\")".into()))
    );
    assert!(benefit_f
        .get_value((hostile[0], cp))
        .is_none_or(String::is_empty));

    // Sources name every input; Findings and Tracing say why they are empty.
    let sources = wb.worksheet_range("Sources").unwrap();
    let text: Vec<String> = sources
        .rows()
        .flatten()
        .filter_map(|d| match d {
            Data::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    for p in [
        "statements/lloyds_DH_current.csv",
        "reference/cpih.csv",
        "reference/assets.csv",
        "reference/gifts.csv",
        "reference/legitimate.csv",
    ] {
        assert!(text.iter().any(|t| t == p), "Sources lacks {p}");
    }
    // The Findings sheet carries the detection stage's findings, or says there were none.
    let findings = wb.worksheet_range("Findings").unwrap();
    let detected = std::fs::read_to_string(dir.path().join("findings.csv")).unwrap();
    if detected.lines().count() > 1 {
        assert!(findings
            .rows()
            .flatten()
            .any(|d| matches!(d, Data::String(s) if s == "finding_id")));
    } else {
        assert!(findings.rows().flatten().any(
            |d| matches!(d, Data::String(s) if s.starts_with("The detection rules ran and produced no findings"))
        ));
    }
}

#[test]
fn csv_schedules_are_sanitised_and_numbers_stay_numbers() {
    let dir = tempfile::tempdir().unwrap();
    run_outputs(dir.path());
    let benefit = read_csv(&dir.path().join("schedule_benefit.csv"));
    let header = &benefit[0];
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let hostile: Vec<&Vec<String>> = benefit
        .iter()
        .filter(|r| r[col("counterparty")].contains("HYPERLINK"))
        .collect();
    assert_eq!(hostile.len(), 1);
    assert_eq!(
        hostile[0][col("counterparty")],
        "'=HYPERLINK(\"http://x\",\"y\")"
    );
    assert_eq!(hostile[0][col("historic_amount")], "750.00");
    assert_eq!(hostile[0][col("uplifted_amount")], "887.57");
    // A negative figure stays a number, not a quoted text cell.
    let available = read_csv(&dir.path().join("schedule_available_amount.csv"));
    let vcol = available[0].iter().position(|h| h == "value").unwrap();
    assert!(available.iter().any(|r| r[vcol] == "-1200.00"));
    let summary = read_csv(&dir.path().join("schedule_summary.csv"));
    let recoverable = summary.iter().find(|r| r[1] == "recoverable").unwrap();
    assert_eq!(recoverable[3], "29611.62");
}

/// Copy the worked case into a temporary folder, so a test can change a reference file.
fn copy_case() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["", "statements", "reference", "rules"] {
        let from = fixture("schedule").join(sub);
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap();
            if f.file_type().unwrap().is_file() {
                std::fs::copy(f.path(), dir.path().join(sub).join(f.file_name())).unwrap();
            }
        }
    }
    dir
}

/// The schedules of a case with its detection stage run first, as `proceeds schedule` does,
/// so that `[schedule] attributed_findings` has finding evidence to read.
fn schedules_with_findings(case_file: &Path) -> Result<Schedules, ScheduleError> {
    schedules_with_findings_and(case_file, true)
}

/// [`schedules_with_findings`], handing the schedules verify's internal transfers or none.
fn schedules_with_findings_and(
    case_file: &Path,
    with_transfers: bool,
) -> Result<Schedules, ScheduleError> {
    let case = Case::load(case_file, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let ingested = ingest_case(&case, &registry, false).unwrap();
    let v = verify(
        &case,
        ingested.ledger,
        &ingested.statements,
        &VerifyOptions::default(),
    )
    .unwrap();
    let rules = rules_for_case(&case).unwrap();
    let found = run_rules(
        &v.ledger,
        &case,
        &rules,
        &Reference::for_case(&case).unwrap(),
    )
    .unwrap();
    let reference = ReferenceData::load(&case)?;
    let j = Jurisdiction::by_id(&case.jurisdiction).unwrap();
    let transfers = if with_transfers {
        v.transfers.clone()
    } else {
        v.transfers.head(Some(0))
    };
    schedule(
        &case,
        &v.ledger,
        &transfers,
        Some(&found.evidence),
        &reference,
        &j,
    )
}

/// Add `line` at the end of a copied reference file.
fn append_line(file: &Path, line: &str) {
    let mut text = std::fs::read_to_string(file).unwrap();
    text.push_str(line);
    text.push('\n');
    std::fs::write(file, text).unwrap();
}

/// Rewrite a case file of a copied case, replacing `from` (which must be there) by `to`.
fn rewrite(case_file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(case_file).unwrap();
    assert!(
        text.contains(from),
        "{from:?} not in {}",
        case_file.display()
    );
    std::fs::write(case_file, text.replacen(from, to, 1)).unwrap();
}

/// `fixtures/schedule/non-lifestyle-findings.toml`: the attributed rows of
/// `non-lifestyle.toml` (L8, S4) plus the findings of the case's own rules
/// (`rules/attributed.toml`):
///
///   LDS-001/DH-LLOYDS/2019-03-15/1 (named by rule id): L9 +3,000.00 (2019-03-15),
///     L8 +4,000.00 (2019-03-16, also in attributed_txn_ids), L7 −4,000.00 (the watch)
///   LDS-002/VH-STARLING/2021-06-11/1 (named by finding id): V3 +2,000.00 into the
///     associate's account, the credit of the transfer from DH-LLOYDS
///
/// Benefit lines in ledger order, uplift = historic × 140.0 / I(month), half to even:
///   L9 (finding)           2019-03  3,000.00 × 140/112.0 = 3,750.00 exactly
///   L8 (listed + finding)  2019-03  4,000.00 × 140/112.0 = 5,000.00, once
///   S4 (listed)            2021-06    750.00 × 140/118.3 =   887.573… → 887.57
///   s.80(2)(b) WATCH-1 represents L8: 6,500.00 − 5,000.00 = 1,500.00
/// Historic 3,000 + 4,000 + 750 = 7,750.00; uplifted 3,750.00 + 5,000.00 + 887.57 =
/// 9,637.57; benefit 9,637.57 + 1,500.00 = 11,137.57. The relevant day (2019-03-15, the
/// day of L9) plays no part: no s.10 assumption is made.
/// Not counted: L7 (a debit) and V3 (an associate's account; an internal transfer).
#[test]
fn non_lifestyle_case_attributes_the_credits_among_named_findings() {
    let s = schedules_with_findings(&fixture("schedule/non-lifestyle-findings.toml")).unwrap();
    let got: Vec<(String, Option<String>, String, String, String)> = s
        .benefit
        .iter()
        .map(|l| {
            (
                l.section.clone(),
                l.txn_id.clone(),
                gbp(l.historic),
                gbp(l.uplifted),
                gbp(l.value),
            )
        })
        .collect();
    let line = |sec: &str, txn: Option<String>, h: &str, u: &str, v: &str| {
        (
            sec.to_string(),
            txn,
            h.to_string(),
            u.to_string(),
            v.to_string(),
        )
    };
    assert_eq!(
        got,
        vec![
            line(
                "s.6(4)(c)",
                Some(lloyds(9)),
                "3000.00",
                "3750.00",
                "3750.00"
            ),
            line(
                "s.6(4)(c)",
                Some(lloyds(8)),
                "4000.00",
                "5000.00",
                "5000.00"
            ),
            line("s.6(4)(c)", Some(starling(4)), "750.00", "887.57", "887.57"),
            line("s.80(2)(b)", None, "0.00", "0.00", "1500.00"),
        ]
    );
    assert_eq!(gbp(s.totals.benefit_historic), "7750.00");
    assert_eq!(gbp(s.totals.benefit_uplifted), "9637.57");
    assert_eq!(gbp(s.totals.benefit), "11137.57");
    // Recoverable: the lower of 11,137.57 and the unchanged available amount 84,869.56.
    assert_eq!(gbp(s.totals.available), "84869.56");
    assert_eq!(gbp(s.totals.recoverable), "11137.57");
    assert_eq!(s.totals.recoverable_is, "benefit");

    // Each line says where it came from.
    assert_eq!(
        s.benefit[0].reason,
        "evidence of finding LDS-001/DH-LLOYDS/2019-03-15/1 (rule LDS-001), named in schedule.attributed_findings: a credit to DH-LLOYDS, an account the defendant holds or controls, attributed to the particular criminal conduct"
    );
    assert_eq!(
        s.benefit[1].reason,
        "attributed by the investigator to the particular criminal conduct (case file schedule.attributed_txn_ids); also evidence of finding LDS-001/DH-LLOYDS/2019-03-15/1 (rule LDS-001), named in schedule.attributed_findings"
    );
    assert_eq!(
        s.benefit[2].reason,
        "attributed by the investigator to the particular criminal conduct (case file schedule.attributed_txn_ids)"
    );
    assert_eq!(
        s.benefit[0].source_ref,
        "statements/lloyds_DH_current.csv:9"
    );

    // The evidence rows that are not benefit are listed, with the finding and the reason.
    let excluded: Vec<(&str, Option<String>, String)> = s
        .exclusions
        .iter()
        .map(|l| (l.category, l.txn_id.clone(), gbp(l.amount)))
        .collect();
    assert_eq!(
        excluded,
        vec![
            ("finding_debit", Some(lloyds(7)), "-4000.00".to_string()),
            (
                "not_defendant_account",
                Some(txn("starling_VH_current.csv", 3)),
                "2000.00".to_string()
            ),
        ]
    );
    assert_eq!(
        s.exclusions[0].reason,
        "evidence of finding LDS-001/DH-LLOYDS/2019-03-15/1 (rule LDS-001), named in schedule.attributed_findings, not attributed: a debit (money out); benefit is property obtained, so only the credits among a finding's evidence are attributed"
    );
    assert_eq!(
        s.exclusions[1].reason,
        format!(
            "evidence of finding LDS-002/VH-STARLING/2021-06-11/1 (rule LDS-002), named in schedule.attributed_findings, not attributed: VH-STARLING is not an account a defendant holds or controls; internal transfer TR-{l4} from the defendant's own account DH-LLOYDS (row {l4}): not new benefit",
            l4 = lloyds(4)
        )
    );
    // The method statement counts them: 2 findings, 4 evidence rows, 1 counted only as
    // evidence (L9; L8 is listed too), 2 not counted.
    assert!(
        s.method.iter().any(|m| m.starts_with(
            "Findings attributed to the particular criminal conduct (schedule.attributed_findings: \"LDS-001\", \"LDS-002/VH-STARLING/2021-06-11/1\"): findings named: 2; their evidence rows: 4; rows counted as benefit that attributed_txn_ids does not also name: 1; rows not counted, listed on the exclusions schedule with the reason: 2."
        )),
        "{:#?}",
        s.method
    );

    // "*" names every finding: the same two, so the same schedules.
    let dir = copy_case();
    let case_file = dir.path().join("non-lifestyle-findings.toml");
    rewrite(
        &case_file,
        "attributed_findings = [\"LDS-001\", \"LDS-002/VH-STARLING/2021-06-11/1\"]",
        "attributed_findings = [\"*\"]",
    );
    let every = schedules_with_findings(&case_file).unwrap();
    assert_eq!(gbp(every.totals.benefit), "11137.57");
    assert_eq!(every.benefit, s.benefit);
    assert_eq!(every.exclusions, s.exclusions);
}

/// The schedules read only the defendants' rows and the rows named by txn_id. V3, on the
/// associate's account, is named by nothing but the evidence of LDS-002 once the schedules
/// are given no internal transfers: it must still be found, and listed as not benefit.
#[test]
fn evidence_on_another_account_is_found_when_nothing_else_names_it() {
    let s = schedules_with_findings_and(&fixture("schedule/non-lifestyle-findings.toml"), false)
        .unwrap();
    assert_eq!(gbp(s.totals.benefit), "11137.57");
    let v3 = s
        .exclusions
        .iter()
        .find(|l| l.txn_id == Some(txn("starling_VH_current.csv", 3)))
        .expect("V3 listed among the exclusions");
    assert_eq!(v3.category, "not_defendant_account");
    assert_eq!(gbp(v3.amount), "2000.00");
    assert!(
        v3.reason.starts_with("evidence of finding LDS-002/VH-STARLING/2021-06-11/1 (rule LDS-002), named in schedule.attributed_findings, not attributed: VH-STARLING is not an account a defendant holds or controls"),
        "{}",
        v3.reason
    );
    assert!(!v3.reason.contains("internal transfer"), "{}", v3.reason);
}

/// A row named by txn_id on an account no defendant controls is found (the schedules keep
/// every named row), so it is judged for what it is, not as missing from the ledger. V4 is
/// the associate's payment out, named by nothing else.
#[test]
fn a_row_named_on_another_account_is_found_and_judged_for_what_it_is() {
    let v4 = txn("starling_VH_current.csv", 4);
    let listed = "attributed_txn_ids = [\"40dc0ec6b738-L8\", \"347741263a3c-L4\"]";

    let dir = copy_case();
    let case_file = dir.path().join("non-lifestyle-findings.toml");
    rewrite(
        &case_file,
        listed,
        &format!("attributed_txn_ids = [\"40dc0ec6b738-L8\", \"347741263a3c-L4\", \"{v4}\"]"),
    );
    let e = schedules_with_findings(&case_file).unwrap_err().to_string();
    assert!(e.contains(&format!("names {v4:?}, a debit")), "{e}");

    let dir = copy_case();
    append_line(
        &dir.path().join("reference/gifts.csv"),
        &format!("G-3,2021-06-20,Vesna Harlow,Holiday,600.00,0.00,no,{v4},AE/32"),
    );
    let e = schedules_with_findings(&dir.path().join("non-lifestyle-findings.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("which is not a payment out of an account the defendant controls"),
        "{e}"
    );

    // A legitimate source may name any ledger row: accepted, and nothing changes.
    let dir = copy_case();
    append_line(
        &dir.path().join("reference/legitimate.csv"),
        &format!("txn_id,{v4},,,\"The associate's holiday, paid from her own wages\",AE/41"),
    );
    let s = schedules_with_findings(&dir.path().join("non-lifestyle-findings.toml")).unwrap();
    assert_eq!(gbp(s.totals.benefit), "11137.57");
}

#[test]
fn attributed_findings_are_refused_naming_the_key_and_the_fix() {
    let dir = copy_case();
    let case_file = dir.path().join("non-lifestyle-findings.toml");
    let named = "attributed_findings = [\"LDS-001\", \"LDS-002/VH-STARLING/2021-06-11/1\"]";

    // A rule that found nothing attributes nothing: refused, with the rules that did.
    rewrite(
        &case_file,
        named,
        "attributed_findings = [\"LDS-001\", \"STR-001\"]",
    );
    let e = schedules_with_findings(&case_file).unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule: `schedule.attributed_findings` names \"STR-001\", but no finding of this run has that rule id or finding id, so it attributes nothing; rules with findings in this run: LDS-001, LDS-002 (findings.csv lists each finding id); remove or correct it"
    );
    // So does a finding id with a wrong date.
    rewrite(
        &case_file,
        "\"STR-001\"",
        "\"LDS-001/DH-LLOYDS/2019-03-16/1\"",
    );
    let e = schedules_with_findings(&case_file).unwrap_err();
    assert!(
        e.to_string().starts_with("schedule: `schedule.attributed_findings` names \"LDS-001/DH-LLOYDS/2019-03-16/1\", but no finding"),
        "{e}"
    );
    rewrite(
        &case_file,
        "\"LDS-001\", \"LDS-001/DH-LLOYDS/2019-03-16/1\"",
        "\"LDS-001\", \"LDS-001\"",
    );
    let e = schedules_with_findings(&case_file).unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule: `schedule.attributed_findings` names \"LDS-001\" twice"
    );

    // Without the detection stage there is no evidence to read.
    rewrite(&case_file, "\"LDS-001\", \"LDS-001\"", "\"LDS-001\"");
    let e = schedules_of(&case_file).unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule: `schedule.attributed_findings` names findings, but no finding evidence was supplied to the schedule stage (detection did not run); run `proceeds schedule` or `proceeds run`, which detect first, or name the rows in schedule.attributed_txn_ids"
    );

    // "*" when detection found nothing (the shipped rules find nothing in this case).
    rewrite(
        &case_file,
        "sets = [\"rules/attributed.toml\"]",
        "sets = [\"structuring\"]",
    );
    rewrite(
        &case_file,
        "attributed_findings = [\"LDS-001\"]",
        "attributed_findings = [\"*\"]",
    );
    let e = schedules_with_findings(&case_file).unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule: `schedule.attributed_findings` names \"*\" (every finding), but detection made no findings in this run; remove it, or name the rows in schedule.attributed_txn_ids"
    );

    // A criminal lifestyle case attributes nothing by hand: either list is refused.
    rewrite(&case_file, "lifestyle = false", "lifestyle = true");
    let e = schedules_with_findings(&case_file).unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule: `schedule.attributed_txn_ids` is given, but the case is a criminal lifestyle case ([case] lifestyle = true), where the s.10 assumptions decide the benefit; remove it, or set lifestyle = false if the court is asked about particular criminal conduct only"
    );
    let text = std::fs::read_to_string(&case_file).unwrap();
    let without_rows: String = text
        .lines()
        .filter(|l| !l.starts_with("attributed_txn_ids"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&case_file, without_rows).unwrap();
    let e = schedules_with_findings(&case_file).unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule: `schedule.attributed_findings` is given, but the case is a criminal lifestyle case ([case] lifestyle = true), where the s.10 assumptions decide the benefit; remove it, or set lifestyle = false if the court is asked about particular criminal conduct only"
    );
}

fn schedules_of(case_file: &Path) -> Result<Schedules, ScheduleError> {
    let case = Case::load(case_file, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let ingested = ingest_case(&case, &registry, false).unwrap();
    let v = verify(
        &case,
        ingested.ledger,
        &ingested.statements,
        &VerifyOptions::default(),
    )
    .unwrap();
    let reference = ReferenceData::load(&case)?;
    let j = Jurisdiction::by_id(&case.jurisdiction).unwrap();
    schedule(&case, &v.ledger, &v.transfers, None, &reference, &j)
}

#[test]
fn a_gifts_file_line_replaces_the_ledger_transfer_and_benefit_property_is_tainted_any_time() {
    let dir = copy_case();
    let gifts = dir.path().join("reference/gifts.csv");
    let mut text = std::fs::read_to_string(&gifts).unwrap();
    // The 2,000.00 transfer to Vesna Harlow was part-paid for: 800.00 consideration.
    // A 2017 gift of property that was benefit is tainted although before the relevant day.
    text.push_str(&format!(
        "G-3,2021-06-11,Vesna Harlow,Transfer towards a car she sold him,2000.00,800.00,no,{},AE/32\n\
         G-0,2017-01-10,Marek Harlow (brother),Proceeds of a 2016 theft given to him,1000.00,,yes,,AE/33\n",
        lloyds(4)
    ));
    std::fs::write(&gifts, text).unwrap();
    let s = schedules_of(&dir.path().join("case.toml")).unwrap();
    let got: Vec<(String, String, bool, String)> = s
        .gifts
        .iter()
        .map(|g| {
            (
                g.gift_id.clone(),
                gbp(g.gift_amount),
                g.tainted,
                gbp(g.counted),
            )
        })
        .collect();
    // G-0: I(2017-01) = 102.6 in the fictional series:
    //   1,000.00 × 140 / 102.6 = 1,364.522… → 1,364.52, tainted under s.77(2)(b).
    // G-3: 2,000 − 800 = 1,200.00 × 140/118.3 = 1,420.118… → 1,420.12; the ledger line is gone.
    // Tainted: 1,364.52 + 1,420.12 + 2,702.70 = 5,487.34.
    assert_eq!(
        got,
        vec![
            ("G-0".into(), "1000.00".into(), true, "1364.52".into()),
            ("G-1".into(), "5000.00".into(), false, "0.00".into()),
            ("G-3".into(), "1200.00".into(), true, "1420.12".into()),
            ("G-2".into(), "2500.00".into(), true, "2702.70".into()),
        ]
    );
    assert!(
        s.gifts[0].rule.contains("but of property that was benefit"),
        "{}",
        s.gifts[0].rule
    );
    assert_eq!(gbp(s.totals.tainted_gifts), "5487.34");
}

#[test]
fn a_gift_worth_more_now_counts_its_value_now_under_s81() {
    let dir = copy_case();
    let gifts = dir.path().join("reference/gifts.csv");
    std::fs::write(
        &gifts,
        "gift_id,date,recipient,description,value,consideration,property_was_benefit,txn_id,exhibit,value_now\n\
         G-1,2018-06-20,Marek Harlow (brother),Ford Fiesta,6000.00,1000.00,no,,AE/30,9000.00\n\
         G-2,2022-09-01,Vesna Harlow,Motorcycle,3000.00,500.00,no,,AE/31,4000.00\n",
    )
    .unwrap();
    let s = schedules_of(&dir.path().join("case.toml")).unwrap();
    let g = |id: &str| s.gifts.iter().find(|g| g.gift_id == id).unwrap();
    // G-2: gift share 2,500/3,000 of the motorcycle, worth 4,000.00 now:
    //   4,000.00 × 2,500 / 3,000 = 3,333.333… → 3,333.33, more than the 2,702.70 uplifted,
    //   so 3,333.33 is counted (s.81(1)(b)).
    assert_eq!(g("G-2").uplifted, 270_270);
    assert_eq!(g("G-2").value_now, Some(333_333));
    assert_eq!(g("G-2").counted, 333_333);
    assert!(
        g("G-2").rule.contains("s.81(1)(b): 3333.33"),
        "{}",
        g("G-2").rule
    );
    // G-1 is before the relevant day and not benefit: its value now is shown, nil counted.
    assert_eq!(g("G-1").value_now, Some(750_000));
    assert_eq!(g("G-1").counted, 0);
    // The total moves by exactly the difference: 5,069.56 − 2,702.70 + 3,333.33 = 5,700.19.
    assert_eq!(gbp(s.totals.tainted_gifts), "5700.19");
    // The CSV carries the value now beside the uplifted amount.
    let frame = s.gifts_frame().unwrap();
    let now = frame
        .column("value_now")
        .unwrap()
        .cast(&polars::prelude::DataType::String)
        .unwrap();
    let now: Vec<Option<&str>> = now.str().unwrap().iter().collect();
    assert!(now.contains(&Some("3333.33")));
}

#[test]
fn reference_files_are_refused_with_file_line_and_field() {
    let dir = copy_case();
    let legit = dir.path().join("reference/legitimate.csv");
    let mut text = std::fs::read_to_string(&legit).unwrap();
    text.push_str("txn_id,000000000000-L1,,,typo,AE/41\n");
    std::fs::write(&legit, text).unwrap();
    let e = schedules_of(&dir.path().join("case.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule: reference file reference/legitimate.csv, line 4, field `value`: names txn_id \"000000000000-L1\", which is not in the verified ledger"
    );
    let index = dir.path().join("reference/cpih.csv");
    let text = std::fs::read_to_string(&index)
        .unwrap()
        .replace("2019-03,112.0\n", "");
    std::fs::write(&index, text).unwrap();
    let e = schedules_of(&dir.path().join("case.toml")).unwrap_err();
    assert!(
        e.to_string()
            .contains("field `month`: is 2019-04, but the line before is 2019-02"),
        "{e}"
    );
}
