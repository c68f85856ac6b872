//! Property tests over generated statements (`proptest`, small case counts so CI stays fast).
//!
//! Random small statements are written in shipped layouts (Starling: one signed amount
//! column, oldest first; Lloyds: debit and credit columns, newest first), ingested through
//! the library, and checked against what was written:
//! - every row and every penny survives: rows accepted = rows written, and the ledger's
//!   amounts, in file order, are exactly the amounts written, also after export to the
//!   CSV and parquet copies;
//! - per account, the sum of movements = closing balance − opening balance;
//! - the ledger is identical across reruns;
//! - shuffling rows within a day changes the bank's order (which is evidence, so the ledger
//!   order may change) but never the row count, the total, or any day's total;
//! - amounts round-trip exactly through `money::format_amount` and `money::parse_amount`,
//!   with or without thousands separators, and parsing never panics on arbitrary text.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use polars::prelude::*;
use proceeds::case::{Case, ResolveOptions};
use proceeds::ingest::{ingest_case, Ingested, Registry};
use proceeds::money::{format_amount, from_minor_units, parse_amount, AmountStyle};
use proptest::prelude::*;

/// One generated transaction: days after 2024-01-01, amount in pence, narrative.
#[derive(Debug, Clone)]
struct Txn {
    day: i64,
    pence: i64,
    description: String,
}

fn date(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + Duration::days(day)
}

/// Pence as a bank writes them: `1,234.56`, `-12.50`, with grouping when asked.
fn written(pence: i64, grouped: bool) -> String {
    let sign = if pence < 0 { "-" } else { "" };
    let abs = pence.unsigned_abs();
    let (pounds, p) = (abs / 100, abs % 100);
    let mut int = pounds.to_string();
    if grouped {
        let digits: Vec<char> = int.chars().collect();
        let mut out = String::new();
        for (i, c) in digits.iter().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(*c);
        }
        int = out;
    }
    format!("{sign}{int}.{p:02}")
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A Starling export (oldest first) with running balances from `opening`.
fn starling(rows: &[Txn], opening: i64, grouped: bool) -> String {
    let mut out = String::from(
        "Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP),Spending Category,Notes\n",
    );
    let mut balance = opening;
    for r in rows {
        balance += r.pence;
        out.push_str(&format!(
            "{},Payee {},{},FASTER PAYMENT,{},{},GENERAL,\n",
            date(r.day).format("%d/%m/%Y"),
            r.day,
            quoted(&r.description),
            quoted(&written(r.pence, grouped)),
            quoted(&written(balance, grouped)),
        ));
    }
    out
}

/// A Lloyds export (newest first: rows reversed) with debit and credit columns.
fn lloyds(rows: &[Txn], opening: i64) -> String {
    let mut out = String::from(
        "Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,Debit Amount,Credit Amount,Balance\n",
    );
    let mut balance = opening;
    let mut lines = Vec::new();
    for r in rows {
        balance += r.pence;
        let (debit, credit) = if r.pence < 0 {
            (written(-r.pence, true), String::new())
        } else {
            (String::new(), written(r.pence, true))
        };
        lines.push(format!(
            "{},FPO,'30-94-57,11223344,{},{},{},{}\n",
            date(r.day).format("%d/%m/%Y"),
            quoted(&r.description),
            quoted(&debit),
            quoted(&credit),
            quoted(&written(balance, true)),
        ));
    }
    lines.reverse();
    out.extend(lines);
    out
}

const CASE: &str = r#"[case]
reference = "PROPERTY"
lifestyle = true
[dates]
proceedings_started = 2025-03-14
[[subjects]]
id = "D1"
name = "Dorian Harlow"
role = "defendant"
[[accounts]]
id = "ACC"
holder = "Dorian Harlow"
bank = "Fictional Bank"
sort_code = "30-94-57"
account_number = "11223344"
controlled_by = ["D1"]
[[sources]]
path = "statement.csv"
layout = "LAYOUT"
account = "ACC"
"#;

fn ingest(text: &str, layout: &str) -> Ingested {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("statement.csv"), text).unwrap();
    let case_path = dir.path().join("case.toml");
    std::fs::write(&case_path, CASE.replace("LAYOUT", layout)).unwrap();
    let case = Case::load(&case_path, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    ingest_case(&case, &registry, false).unwrap()
}

/// The ledger's money column as pence, in ledger order.
fn pence_column(df: &DataFrame, name: &str) -> Vec<Option<i128>> {
    let c = df.column(name).unwrap();
    let ca = c.decimal().unwrap();
    assert_eq!(ca.scale(), 2);
    ca.physical().iter().collect()
}

fn day_column(df: &DataFrame) -> Vec<i32> {
    let c = df.column("booking_date").unwrap();
    c.date()
        .unwrap()
        .physical()
        .iter()
        .map(Option::unwrap)
        .collect()
}

fn txn_strategy() -> impl Strategy<Value = Txn> {
    (
        0i64..20,
        prop_oneof![
            -100_000_000i64..100_000_000,
            -99i64..100,
            Just(0i64),
            Just(-99_999_999_999_999i64),
            Just(99_999_999_999_999i64),
        ],
        "[A-Za-z0-9 ,'=+@-]{0,24}",
    )
        .prop_map(|(day, pence, description)| Txn {
            day,
            pence,
            description,
        })
}

/// Rows sorted by day, the order a statement lists them (oldest first).
fn statement_strategy() -> impl Strategy<Value = Vec<Txn>> {
    prop::collection::vec(txn_strategy(), 1..30).prop_map(|mut rows| {
        rows.sort_by_key(|r| r.day);
        rows
    })
}

/// Per-day totals in pence.
fn per_day(days: &[i32], pence: &[Option<i128>]) -> BTreeMap<i32, i128> {
    let mut m = BTreeMap::new();
    for (d, p) in days.iter().zip(pence) {
        *m.entry(*d).or_insert(0) += p.unwrap();
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_row_and_penny_survives_a_signed_amount_layout(
        rows in statement_strategy(),
        opening in -1_000_000i64..1_000_000,
        grouped in any::<bool>(),
    ) {
        let ing = ingest(&starling(&rows, opening, grouped), "starling");
        prop_assert!(ing.rejects.is_empty(), "{:?}", ing.rejects);
        let report = &ing.sources[0];
        prop_assert_eq!(report.accepted, rows.len() as u64);
        prop_assert_eq!(report.records_read, report.accepted + report.rejected + report.skipped);
        let amounts = pence_column(&ing.ledger, "amount");
        let expected: Vec<Option<i128>> = rows.iter().map(|r| Some(i128::from(r.pence))).collect();
        // Oldest-first file order is the ledger order of one account.
        prop_assert_eq!(&amounts, &expected);
        // Per account: the sum of movements is closing − opening.
        let balances = pence_column(&ing.ledger, "balance");
        let closing = balances.last().copied().flatten().unwrap();
        let sum: i128 = amounts.iter().map(|a| a.unwrap()).sum();
        prop_assert_eq!(sum, closing - i128::from(opening));
        // Every running balance is the one written.
        let mut running = i128::from(opening);
        for (a, b) in amounts.iter().zip(&balances) {
            running += a.unwrap();
            prop_assert_eq!(Some(running), *b);
        }
        let descriptions: Vec<String> = ing.ledger.column("description").unwrap().str().unwrap()
            .iter().map(|d| d.unwrap_or("").to_string()).collect();
        let written_descriptions: Vec<String> = rows.iter().map(|r| r.description.clone()).collect();
        prop_assert_eq!(descriptions, written_descriptions);
        // Export round trip: the CSV copy and the parquet copy give back every row and penny.
        let csv = proceeds::report::csv_out::frame_to_csv("ledger.csv", &ing.ledger).unwrap();
        let table = crate::support::parse_csv(&csv);
        let at = table[0].iter().position(|h| h == "amount").unwrap();
        let exported: Vec<String> = table[1..].iter().map(|r| r[at].clone()).collect();
        let expected_text: Vec<String> = rows.iter()
            .map(|r| format_amount(from_minor_units(i128::from(r.pence)))).collect();
        prop_assert_eq!(exported, expected_text);
        let parquet = proceeds::report::parquet_out::to_parquet_bytes(
            "ledger.parquet", &ing.ledger, Vec::new()).unwrap();
        let back = ParquetReader::new(std::io::Cursor::new(parquet)).finish().unwrap();
        prop_assert!(back.equals_missing(&ing.ledger));
    }

    #[test]
    fn every_row_and_penny_survives_a_debit_credit_newest_first_layout(
        rows in statement_strategy(),
        opening in -1_000_000i64..1_000_000,
    ) {
        let ing = ingest(&lloyds(&rows, opening), "lloyds");
        prop_assert!(ing.rejects.is_empty(), "{:?}", ing.rejects);
        prop_assert_eq!(ing.sources[0].accepted, rows.len() as u64);
        // Newest-first rows come back in chronological order.
        let amounts = pence_column(&ing.ledger, "amount");
        let expected: Vec<Option<i128>> = rows.iter().map(|r| Some(i128::from(r.pence))).collect();
        prop_assert_eq!(&amounts, &expected);
        let balances = pence_column(&ing.ledger, "balance");
        let sum: i128 = amounts.iter().map(|a| a.unwrap()).sum();
        prop_assert_eq!(sum, balances.last().copied().flatten().unwrap() - i128::from(opening));
        let money_in: i128 = rows.iter().filter(|r| r.pence > 0).map(|r| i128::from(r.pence)).sum();
        let money_out: i128 = rows.iter().filter(|r| r.pence < 0).map(|r| -i128::from(r.pence)).sum();
        prop_assert_eq!(proceeds::money::to_minor_units(ing.sources[0].money_in), money_in);
        prop_assert_eq!(proceeds::money::to_minor_units(ing.sources[0].money_out), money_out);
    }

    #[test]
    fn reruns_give_the_same_ledger(rows in statement_strategy(), opening in -1000i64..1000) {
        let text = starling(&rows, opening, true);
        let a = ingest(&text, "starling");
        let b = ingest(&text, "starling");
        prop_assert!(a.ledger.equals_missing(&b.ledger));
        prop_assert_eq!(a.sources, b.sources);
    }

    #[test]
    fn shuffling_rows_within_a_day_keeps_every_total(
        rows in statement_strategy(),
        seed in any::<u64>(),
    ) {
        // Reorder rows within each day (a different export of the same days); balances are
        // left out because a running balance belongs to the bank's order.
        let mut shuffled = rows.clone();
        let mut state = seed | 1;
        let mut start = 0;
        while start < shuffled.len() {
            let day = shuffled[start].day;
            let end = start + shuffled[start..].iter().take_while(|r| r.day == day).count();
            for i in (start + 1..end).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let j = start + (state % ((i - start + 1) as u64)) as usize;
                shuffled.swap(i, j);
            }
            start = end;
        }
        let strip = |text: String| -> String {
            // Drop the balance column's value: "...,amount,balance,category,notes".
            text.lines().enumerate().map(|(i, l)| {
                if i == 0 { return format!("{l}\n"); }
                let mut rec = csv::ReaderBuilder::new().has_headers(false)
                    .from_reader(l.as_bytes());
                let r = rec.records().next().unwrap().unwrap();
                let cells: Vec<String> = r.iter().enumerate()
                    .map(|(k, c)| if k == 5 { String::new() } else { quoted(c) }).collect();
                format!("{}\n", cells.join(","))
            }).collect()
        };
        let a = ingest(&strip(starling(&rows, 0, false)), "starling");
        let b = ingest(&strip(starling(&shuffled, 0, false)), "starling");
        prop_assert_eq!(a.ledger.height(), rows.len());
        prop_assert_eq!(b.ledger.height(), rows.len());
        let (pa, pb) = (pence_column(&a.ledger, "amount"), pence_column(&b.ledger, "amount"));
        let total = |p: &[Option<i128>]| p.iter().map(|x| x.unwrap()).sum::<i128>();
        prop_assert_eq!(total(&pa), total(&pb));
        prop_assert_eq!(per_day(&day_column(&a.ledger), &pa), per_day(&day_column(&b.ledger), &pb));
        prop_assert_eq!(a.sources[0].money_in, b.sources[0].money_in);
        prop_assert_eq!(a.sources[0].money_out, b.sources[0].money_out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn amounts_round_trip_exactly(pence in -999_999_999_999_999_999i64..=999_999_999_999_999_999) {
        let value = from_minor_units(i128::from(pence));
        let text = format_amount(value);
        let style = AmountStyle::default();
        let back = parse_amount(&text, &style).unwrap();
        prop_assert_eq!(back, value);
        prop_assert_eq!(format_amount(back), text);
        // The way a bank writes it, with thousands separators, reads back the same.
        prop_assert_eq!(parse_amount(&written(pence, true), &style).unwrap(), value);
        prop_assert_eq!(proceeds::money::to_minor_units(back), i128::from(pence));
    }

    #[test]
    fn parsing_never_panics_on_arbitrary_text(
        s in "\\PC{0,40}",
        decimal_comma in any::<bool>(),
        parentheses in any::<bool>(),
        cr_dr in any::<bool>(),
    ) {
        let style = AmountStyle {
            decimal_separator: if decimal_comma { ',' } else { '.' },
            thousands_separator: Some(if decimal_comma { '.' } else { ',' }),
            negative_in_parentheses: parentheses,
            cr_dr_suffix: cr_dr,
        };
        if let Ok(v) = parse_amount(&s, &style) {
            // Whatever is accepted is whole pence within the ledger's range.
            prop_assert!(v.scale() == 2);
            prop_assert!(proceeds::money::to_minor_units(v).abs() < proceeds::money::LEDGER_MAX_ABS);
        }
        let _ = proceeds::ingest::fields::parse_date(&s, "%d/%m/%Y");
    }

    #[test]
    fn parsing_never_panics_on_amount_like_text(s in "[-+(£$ ]{0,2}[0-9,. ]{0,40}[)A-Z -]{0,3}") {
        for style in [AmountStyle::default(), AmountStyle {
            decimal_separator: ',', thousands_separator: Some(' '),
            negative_in_parentheses: false, cr_dr_suffix: true }] {
            if let Ok(v) = parse_amount(&s, &style) {
                prop_assert!(v.scale() == 2);
                prop_assert!(proceeds::money::to_minor_units(v).abs() < proceeds::money::LEDGER_MAX_ABS);
            }
        }
    }

    #[test]
    fn decoding_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for enc in [
            proceeds::ingest::layout::Encoding::Auto,
            proceeds::ingest::layout::Encoding::Utf8,
            proceeds::ingest::layout::Encoding::Windows1252,
            proceeds::ingest::layout::Encoding::Utf16,
        ] {
            let _ = proceeds::ingest::decode::decode(&bytes, enc);
        }
    }
}
