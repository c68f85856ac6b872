//! Property tests of the confiscation schedules (`proptest`, few cases so CI stays fast).
//!
//! Each case is the worked case of `fixtures/schedule/` with generated extras written into a
//! copy of its files: cash credits, card payments and salary credits on the defendant's
//! Lloyds account, transfers from it to his Starling account (both sides), credits on the
//! Starling account, generated gifts-file lines and asset-register lines. The statements are
//! rewritten whole, with running balances computed from the rows, so every file is valid.
//! The case is ingested, verified and scheduled through the library, and:
//! - the benefit, historic and uplifted totals are the sums of their lines;
//! - the available amount is `max(0, sum of its lines)`, and each kind's total is the sum of
//!   its lines;
//! - the tainted-gifts total is the sum of the counted values;
//! - the recoverable amount is `min(benefit, available amount)`;
//! - every ledger credit to a defendant's account after the relevant day is on exactly one
//!   benefit or exclusion line (nothing lost, nothing counted twice);
//! - shuffling the rows within each day (balances recomputed, as the bank would print them)
//!   changes no schedule line and no total, when no payment can be made beyond the balance in
//!   either order;
//! - where payments can go beyond the balance, shuffling changes only the s.10(4) lines, the
//!   `expenditure_funded` exclusions and the totals through them: which payment the balance
//!   met is read from the bank's order, which its running balance attests, so there the
//!   order is evidence (two worked cases in
//!   `s10_4_follows_the_order_the_running_balance_attests`).

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use polars::prelude::*;
use proceeds::case::{Case, ResolveOptions};
use proceeds::confiscation::{schedule, Jurisdiction, ReferenceData, Schedules};
use proceeds::ingest::{ingest_case, Registry};
use proceeds::verify::{verify, VerifyOptions};
use proptest::prelude::*;

use crate::support::fixture;

/// A statement row: date, signed pence, bank type (Lloyds) and narrative.
#[derive(Debug, Clone)]
struct Row {
    date: NaiveDate,
    pence: i64,
    kind: &'static str,
    description: String,
    /// Starling reference column.
    reference: String,
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn row(date: NaiveDate, pence: i64, kind: &'static str, description: &str, reference: &str) -> Row {
    Row {
        date,
        pence,
        kind,
        description: description.to_string(),
        reference: reference.to_string(),
    }
}

/// The worked case's Lloyds rows, oldest first.
fn lloyds_base() -> Vec<Row> {
    vec![
        row(
            day(2019, 3, 1),
            200_000,
            "FPI",
            "NORTHGATE LOGISTICS REF PAYROLL 0319",
            "",
        ),
        row(
            day(2019, 3, 15),
            300_000,
            "DEP",
            "CASH DEPOSIT LEEDS BRIGGATE",
            "",
        ),
        row(
            day(2019, 3, 16),
            400_000,
            "DEP",
            "CASH DEPOSIT LEEDS BRIGGATE",
            "",
        ),
        row(day(2019, 3, 20), -400_000, "DEB", "GOLDSMITHS LEEDS", ""),
        row(
            day(2019, 4, 1),
            200_000,
            "FPI",
            "NORTHGATE LOGISTICS REF PAYROLL 0419",
            "",
        ),
        row(
            day(2021, 6, 10),
            -500_000,
            "FPO",
            "D HARLOW 608371 22334455",
            "",
        ),
        row(
            day(2021, 6, 11),
            -200_000,
            "FPO",
            "VESNA HARLOW 608371 99887766",
            "",
        ),
        row(
            day(2025, 4, 10),
            100_000,
            "DEP",
            "CASH DEPOSIT LEEDS BRIGGATE",
            "",
        ),
        row(day(2025, 5, 2), -170_000, "DEB", "TESCO STORES 2291", ""),
    ]
}

/// The worked case's Starling (savings) rows after its opening-balance row, oldest first.
fn starling_base() -> Vec<Row> {
    vec![
        row(
            day(2021, 6, 10),
            500_000,
            "",
            "Dorian Harlow",
            "FROM LLOYDS",
        ),
        row(
            day(2021, 6, 15),
            75_000,
            "",
            "=HYPERLINK(\"http://x\",\"y\")",
            "INVOICE 77",
        ),
        row(day(2023, 2, 1), -125_000, "", "Kwik Motors", "DEPOSIT"),
    ]
}

/// A generated extra movement.
#[derive(Debug, Clone)]
enum Extra {
    Cash(i64, i64),
    Salary(i64, i64),
    Spend(i64, i64),
    Transfer(i64, i64),
    SavingsCredit(i64, i64),
}

/// Days after 2018-06-01 (to late 2025, inside the fixture's price index).
fn extra_date(d: i64) -> NaiveDate {
    day(2018, 6, 1) + Duration::days(d)
}

fn extra() -> impl Strategy<Value = Extra> {
    // Forty possible days, so that several movements often share a day (and the order
    // within a day is exercised), among them days of the worked case's own rows.
    let d = prop_oneof![
        (0i64..40).prop_map(|k| k * 67),
        Just(288),  // 2019-03-16, the first cash deposit after the relevant day
        Just(1105), // 2021-06-10, the worked case's transfer
    ];
    let p = 1i64..=500_000;
    prop_oneof![
        (d.clone(), p.clone()).prop_map(|(d, p)| Extra::Cash(d, p)),
        (d.clone(), p.clone()).prop_map(|(d, p)| Extra::Salary(d, p)),
        (d.clone(), p.clone()).prop_map(|(d, p)| Extra::Spend(d, p)),
        (d.clone(), 1i64..=300_000).prop_map(|(d, p)| Extra::Transfer(d, p)),
        (d, p).prop_map(|(d, p)| Extra::SavingsCredit(d, p)),
    ]
}

/// A generated gifts-file line: days after 2016-02-01, value, consideration, was benefit.
#[derive(Debug, Clone)]
struct Gift {
    day: i64,
    value: i64,
    consideration: i64,
    was_benefit: bool,
    to_associate: bool,
}

fn gift() -> impl Strategy<Value = Gift> {
    (
        0i64..3_500,
        1i64..=2_000_000,
        0i64..=3_000_000,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(day, value, consideration, was_benefit, to_associate)| Gift {
                day,
                value,
                consideration,
                was_benefit,
                to_associate,
            },
        )
}

/// A generated asset-register line.
#[derive(Debug, Clone)]
enum Asset {
    Property {
        value: i64,
        encumbrances: i64,
        share_quarters: u32,
        acquired_day: i64,
        assumed: Option<i64>,
    },
    Obligation(i64),
}

fn asset() -> impl Strategy<Value = Asset> {
    prop_oneof![
        (
            1i64..=50_000_000,
            0i64..=60_000_000,
            1u32..=4,
            0i64..3_500,
            proptest::option::of(1i64..=5_000_000)
        )
            .prop_map(
                |(value, encumbrances, share_quarters, acquired_day, assumed)| {
                    Asset::Property {
                        value,
                        encumbrances,
                        share_quarters,
                        acquired_day,
                        assumed,
                    }
                }
            ),
        (1i64..=10_000_000).prop_map(Asset::Obligation),
    ]
}

/// A generated case: the extras, gifts and assets, and the Lloyds opening balance.
#[derive(Debug, Clone)]
struct Generated {
    extras: Vec<Extra>,
    gifts: Vec<Gift>,
    assets: Vec<Asset>,
    lloyds_opening: i64,
}

fn generated(lloyds_opening: i64) -> impl Strategy<Value = Generated> {
    (
        proptest::collection::vec(extra(), 0..16),
        proptest::collection::vec(gift(), 0..4),
        proptest::collection::vec(asset(), 0..4),
    )
        .prop_map(move |(extras, gifts, assets)| Generated {
            extras,
            gifts,
            assets,
            lloyds_opening,
        })
}

/// `1234.56` / `-1234.56` from pence (plain, as the reference files want).
fn plain(p: i64) -> String {
    format!(
        "{}{}.{:02}",
        if p < 0 { "-" } else { "" },
        p.unsigned_abs() / 100,
        p.unsigned_abs() % 100
    )
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Sort rows by date, then by their within-day key (stable), as the bank's order.
fn bank_order(mut rows: Vec<Row>, keys: &dyn Fn(usize) -> u64) -> Vec<Row> {
    let mut keyed: Vec<(NaiveDate, u64, usize, Row)> = rows
        .drain(..)
        .enumerate()
        .map(|(i, r)| (r.date, keys(i), i, r))
        .collect();
    keyed.sort_by_key(|(d, k, i, _)| (*d, *k, *i));
    keyed.into_iter().map(|(_, _, _, r)| r).collect()
}

/// Write the case's files into `dir` (a copy of `fixtures/schedule/`).
fn write_case(dir: &std::path::Path, g: &Generated, keys: &dyn Fn(usize) -> u64) {
    let mut lloyds = lloyds_base();
    let mut starling = starling_base();
    for e in &g.extras {
        match *e {
            Extra::Cash(d, p) => {
                lloyds.push(row(extra_date(d), p, "DEP", "CASH DEPOSIT HEADINGLEY", ""))
            }
            Extra::Salary(d, p) => lloyds.push(row(
                extra_date(d),
                p,
                "FPI",
                "NORTHGATE LOGISTICS REF PAYROLL",
                "",
            )),
            Extra::Spend(d, p) => lloyds.push(row(
                extra_date(d),
                -p,
                "DEB",
                "CARD PAYMENT ARGOS LEEDS",
                "",
            )),
            Extra::Transfer(d, p) => {
                lloyds.push(row(
                    extra_date(d),
                    -p,
                    "FPO",
                    "D HARLOW 608371 22334455",
                    "",
                ));
                starling.push(row(extra_date(d), p, "", "Dorian Harlow", "FROM LLOYDS"));
            }
            Extra::SavingsCredit(d, p) => {
                starling.push(row(extra_date(d), p, "", "J SMITH", "LOAN REPAYMENT"))
            }
        }
    }
    let n_lloyds = lloyds.len();
    let lloyds = bank_order(lloyds, keys);
    let starling = bank_order(starling, &|i| keys(n_lloyds + i));

    // Lloyds: newest first, running balance after each row.
    let mut balance = g.lloyds_opening;
    let mut lines = Vec::new();
    for r in &lloyds {
        balance += r.pence;
        let (debit, credit) = if r.pence < 0 {
            (quoted(&plain(-r.pence)), String::new())
        } else {
            (String::new(), quoted(&plain(r.pence)))
        };
        lines.push(format!(
            "{},{},'30-94-57,11223344,{},{debit},{credit},{}",
            r.date.format("%d/%m/%Y"),
            r.kind,
            r.description,
            quoted(&plain(balance))
        ));
    }
    lines.reverse();
    let mut text = String::from("Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,Debit Amount,Credit Amount,Balance\n");
    for l in lines {
        text.push_str(&l);
        text.push('\n');
    }
    std::fs::write(dir.join("statements/lloyds_DH_current.csv"), text).unwrap();

    // Starling: oldest first, after an opening-balance row.
    let mut text = String::from("Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP),Spending Category,Notes\n01/01/2018,Opening Balance,,,0.00,0.00,,\n");
    let mut balance = 0i64;
    for r in &starling {
        balance += r.pence;
        text.push_str(&format!(
            "{},{},{},FASTER PAYMENT,{},{},INCOME,\n",
            r.date.format("%d/%m/%Y"),
            quoted(&r.description),
            r.reference,
            plain(r.pence),
            plain(balance)
        ));
    }
    std::fs::write(dir.join("statements/starling_DH_savings.csv"), text).unwrap();

    let mut gifts = String::from("gift_id,date,recipient,description,value,consideration,property_was_benefit,txn_id,exhibit\n");
    for (i, gift) in g.gifts.iter().enumerate() {
        gifts.push_str(&format!(
            "G-{i},{},{},Generated gift {i},{},{},{},,AE/{}\n",
            (day(2016, 2, 1) + Duration::days(gift.day)).format("%Y-%m-%d"),
            if gift.to_associate {
                "Vesna Harlow"
            } else {
                "Marek Harlow (brother)"
            },
            plain(gift.value),
            plain(gift.consideration),
            if gift.was_benefit { "yes" } else { "no" },
            30 + i
        ));
    }
    std::fs::write(dir.join("reference/gifts.csv"), gifts).unwrap();

    let mut assets = String::from("asset_id,kind,description,holder,market_value,valuation_date,encumbrances,share,acquired,disposed,assumed_benefit,represents,note,exhibit\n");
    for (i, a) in g.assets.iter().enumerate() {
        match a {
            Asset::Property {
                value,
                encumbrances,
                share_quarters,
                acquired_day,
                assumed,
            } => assets.push_str(&format!(
                "A-{i},property,Generated property {i},DH,{},2025-12-01,{},{},{},,{},,,AE/{}\n",
                plain(*value),
                plain(*encumbrances),
                f64::from(*share_quarters) / 4.0,
                (day(2016, 2, 1) + Duration::days(*acquired_day)).format("%Y-%m-%d"),
                assumed.map(plain).unwrap_or_default(),
                20 + i
            )),
            Asset::Obligation(owed) => assets.push_str(&format!(
                "A-{i},priority_obligation,Generated fine {i},DH,{},2025-12-01,,,,,,,,AE/{}\n",
                plain(*owed),
                20 + i
            )),
        }
    }
    std::fs::write(dir.join("reference/assets.csv"), assets).unwrap();
}

/// A ledger row as the schedules' lines can be compared across orders: account, date,
/// amount, description (a txn_id names a file line, which a shuffle moves).
type RowKey = (String, String, String, String);

/// Ingest, verify and schedule the case; return the schedules and, per txn_id, the ledger
/// row's key.
fn run(dir: &std::path::Path) -> (Schedules, BTreeMap<String, RowKey>) {
    let case = Case::load(&dir.join("case.toml"), ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let ingested = ingest_case(&case, &registry, false).unwrap();
    assert!(ingested.rejects.is_empty(), "{:#?}", ingested.rejects);
    let v = verify(
        &case,
        ingested.ledger,
        &ingested.statements,
        &VerifyOptions::default(),
    )
    .unwrap();
    let reference = ReferenceData::load(&case).unwrap();
    let j = Jurisdiction::by_id(&case.jurisdiction).unwrap();
    let s = schedule(&case, &v.ledger, &v.transfers, None, &reference, &j).unwrap();
    let text = |name: &str| -> Vec<String> {
        v.ledger
            .column(name)
            .unwrap()
            .cast(&DataType::String)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|x| x.unwrap_or_default().to_string())
            .collect()
    };
    let ids = text("txn_id");
    let accounts = text("account_id");
    let dates = text("booking_date");
    let amounts = text("amount_base");
    let descriptions = text("description");
    let mut keys = BTreeMap::new();
    for i in 0..ids.len() {
        keys.insert(
            ids[i].clone(),
            (
                accounts[i].clone(),
                dates[i].clone(),
                amounts[i].clone(),
                descriptions[i].clone(),
            ),
        );
    }
    (s, keys)
}

fn copy_case() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["", "statements", "reference"] {
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

fn schedules_for(
    g: &Generated,
    keys: &dyn Fn(usize) -> u64,
) -> (Schedules, BTreeMap<String, RowKey>) {
    let dir = copy_case();
    write_case(dir.path(), g, keys);
    let (s, rows) = run(dir.path());
    // The worked case's 14 ledger rows (opening-balance rows are not transactions) and every
    // generated movement, a transfer counted on both sides.
    let transfers = g
        .extras
        .iter()
        .filter(|e| matches!(e, Extra::Transfer(..)))
        .count();
    assert_eq!(rows.len(), 14 + g.extras.len() + transfers, "ledger rows");
    (s, rows)
}

/// The sums each total must be, checked against the totals.
fn assert_totals_are_sums_of_lines(s: &Schedules) {
    let t = &s.totals;
    assert_eq!(
        t.benefit,
        s.benefit.iter().map(|l| l.value).sum::<i64>(),
        "benefit"
    );
    assert_eq!(
        t.benefit_historic,
        s.benefit.iter().map(|l| l.historic).sum::<i64>(),
        "historic"
    );
    assert_eq!(
        t.benefit_uplifted,
        s.benefit.iter().map(|l| l.uplifted).sum::<i64>(),
        "uplifted"
    );
    let lines: i64 = s.available.iter().map(|l| l.value).sum();
    assert_eq!(t.available_lines, lines, "available lines");
    assert_eq!(t.available, lines.max(0), "available amount");
    let kind = |k: &str| -> i64 {
        s.available
            .iter()
            .filter(|l| l.kind == k)
            .map(|l| l.value)
            .sum()
    };
    assert_eq!(t.free_property, kind("property"), "free property");
    assert_eq!(t.bank_balances, kind("bank_balance"), "bank balances");
    assert_eq!(
        t.priority_obligations,
        kind("priority_obligation"),
        "obligations"
    );
    assert_eq!(
        t.tainted_gifts,
        s.gifts.iter().map(|l| l.counted).sum::<i64>(),
        "tainted gifts"
    );
    assert_eq!(kind("tainted_gifts"), t.tainted_gifts, "tainted gifts line");
    assert_eq!(t.recoverable, t.benefit.min(t.available), "recoverable");
    for g in &s.gifts {
        if !g.tainted {
            assert_eq!(g.counted, 0, "an untainted gift counts nothing: {g:?}");
        }
    }
}

/// Every credit to a defendant's account after the relevant day is on exactly one benefit
/// or exclusion line.
fn assert_every_credit_once(s: &Schedules, keys: &BTreeMap<String, RowKey>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for id in s
        .benefit
        .iter()
        .filter_map(|l| l.txn_id.as_deref())
        .chain(s.exclusions.iter().filter_map(|l| l.txn_id.as_deref()))
    {
        *seen.entry(id).or_default() += 1;
    }
    let relevant_day = s.relevant_day.day.to_string();
    for (id, (account, date, amount, description)) in keys {
        let credit = !amount.starts_with('-') && !amount.trim_start_matches(['0', '.']).is_empty();
        if (account == "DH-LLOYDS" || account == "DH-STARLING") && credit && *date > relevant_day {
            assert_eq!(
                seen.get(id.as_str()).copied().unwrap_or(0),
                1,
                "credit {id} {account} {date} {amount} {description}: on {} benefit/exclusion lines",
                seen.get(id.as_str()).copied().unwrap_or(0)
            );
        }
    }
}

/// The schedules with every txn_id replaced by its ledger row, and line references (which
/// name file lines) left out: what must not change when rows within a day are reordered.
fn canonical(s: &Schedules, keys: &BTreeMap<String, RowKey>) -> Vec<String> {
    let key = |id: &Option<String>| id.as_ref().map(|i| keys.get(i).cloned());
    let mut out = vec![format!("{:?}", s.totals)];
    let mut benefit: Vec<String> = s
        .benefit
        .iter()
        .map(|l| {
            format!(
                "{} {:?} {} {} {} {:?}",
                l.section,
                key(&l.txn_id),
                l.historic,
                l.uplifted,
                l.value,
                l.month
            )
        })
        .collect();
    let mut exclusions: Vec<String> = s
        .exclusions
        .iter()
        .map(|l| {
            format!(
                "{} {:?} {:?} {:?} {} {}",
                l.category,
                l.account_id,
                l.date,
                key(&l.txn_id),
                l.amount,
                l.description
            )
        })
        .collect();
    let mut available: Vec<String> = s
        .available
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {:?} {}",
                l.kind, l.item_id, l.holder, l.market_value, l.value
            )
        })
        .collect();
    let mut gifts: Vec<String> = s
        .gifts
        .iter()
        .map(|l| {
            format!(
                "{} {} {} {} {} {} {} {} {}",
                l.origin,
                l.date,
                l.recipient,
                l.value_at_gift,
                l.consideration,
                l.gift_amount,
                l.uplifted,
                l.tainted,
                l.counted
            )
        })
        .collect();
    for part in [&mut benefit, &mut exclusions, &mut available, &mut gifts] {
        part.sort();
        out.append(part);
    }
    out
}

/// A within-day order from a seed: a key per row.
fn shuffled(seed: u64) -> impl Fn(usize) -> u64 {
    move |i| {
        let mut x = seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 33;
        x
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Totals are the sums of their lines; every credit after the relevant day is counted or
    /// excluded exactly once.
    #[test]
    fn schedule_totals_are_sums_of_lines_and_every_credit_is_placed_once(
        g in prop_oneof![generated(50_000), generated(0), generated(1_000_000)]
    ) {
        let (s, keys) = schedules_for(&g, &|_| 0);
        assert_totals_are_sums_of_lines(&s);
        assert_every_credit_once(&s, &keys);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// With an opening balance no generated day can overdraw, reordering rows within each
    /// day (balances recomputed) changes no line and no total.
    #[test]
    fn schedules_do_not_depend_on_the_order_within_a_day(
        g in generated(1_000_000_000),
        seed in any::<u64>(),
    ) {
        let (a, keys_a) = schedules_for(&g, &|_| 0);
        let (b, keys_b) = schedules_for(&g, &shuffled(seed));
        assert_totals_are_sums_of_lines(&b);
        prop_assert_eq!(canonical(&a, &keys_a), canonical(&b, &keys_b));
    }
}

/// The lines that do not depend on the order of a day's rows when a payment can be made
/// beyond the balance: everything but the s.10(4) lines and the `expenditure_funded`
/// exclusions, plus the benefit totals less the s.10(4) lines.
fn canonical_outside_expenditure(s: &Schedules, keys: &BTreeMap<String, RowKey>) -> Vec<String> {
    let mut lines = canonical(s, keys);
    lines.remove(0);
    lines.retain(|l| !l.starts_with("s.10(4) ") && !l.starts_with("expenditure_funded "));
    let s10_4 = |f: fn(&proceeds::confiscation::BenefitLine) -> i64| -> i64 {
        s.benefit
            .iter()
            .filter(|l| l.section == "s.10(4)")
            .map(f)
            .sum()
    };
    lines.push(format!(
        "benefit outside s.10(4): historic {}, value {}",
        s.totals.benefit_historic - s10_4(|l| l.historic),
        s.totals.benefit - s10_4(|l| l.value)
    ));
    lines
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// With overdrafts possible, reordering rows within a day changes only which payments
    /// were met from the balance (s.10(4) and `expenditure_funded` lines): the bank's
    /// running balance attests that order. Every other line and the historic total stay.
    #[test]
    fn only_expenditure_lines_follow_the_order_within_a_day(
        g in generated(0),
        seed in any::<u64>(),
    ) {
        let (a, keys_a) = schedules_for(&g, &|_| 0);
        let (b, keys_b) = schedules_for(&g, &shuffled(seed));
        prop_assert_eq!(
            canonical_outside_expenditure(&a, &keys_a),
            canonical_outside_expenditure(&b, &keys_b)
        );
    }
}

/// Two cases where the order within a day decides what s.10(4) counts, as it should: the
/// bank's order is evidence there (its running balance shows which payment the balance met).
///
/// 1. TESCO (−1,700.00) with 1,500.00 in the account and a 500.00 cash deposit the same
///    day: paid before the deposit, 200.00 of it is beyond the balance and repaid by the
///    deposit (an `expenditure_funded` exclusion line); paid after it, the balance meets it
///    (no line). The totals are the same either way.
/// 2. An internal transfer (−5,000.00) and a card payment (−355.96) on 2021-06-10 with
///    4,355.95 in the account: whichever leaves second is paid beyond the balance. Beyond
///    the balance, the card payment is expenditure (s.10(4)) and the transfer is not (the
///    money stayed with the defendant), and the 1,000.00 credit of 2025-04-10 repays the
///    older shortfall first: card payment first, the transfer's shortfall of 1,000.01 is
///    left 0.01 unrepaid and nothing is counted for it; transfer first, the card payment's
///    355.96 is repaid all but 0.01, which is counted. The s.10(4) total differs by 0.01.
#[test]
fn s10_4_follows_the_order_the_running_balance_attests() {
    // 1. 2025-05-02 is 2527 days after 2018-06-01; row 8 is TESCO, row 9 the deposit.
    let g = Generated {
        extras: vec![Extra::Cash(2527, 50_000)],
        gifts: Vec::new(),
        assets: Vec::new(),
        lloyds_opening: 50_000,
    };
    assert_eq!(extra_date(2527), day(2025, 5, 2));
    let (tesco_first, keys_a) = schedules_for(&g, &|_| 0);
    let (deposit_first, keys_b) = schedules_for(&g, &|i| u64::from(i != 9));
    let funded = |s: &Schedules, keys: &BTreeMap<String, RowKey>| -> Vec<String> {
        s.exclusions
            .iter()
            .filter(|l| l.category == "expenditure_funded")
            .filter_map(|l| l.txn_id.as_ref().and_then(|id| keys.get(id)))
            .map(|k| format!("{} {}", k.1, k.3))
            .collect()
    };
    let tesco = "2025-05-02 TESCO STORES 2291".to_string();
    assert!(funded(&tesco_first, &keys_a).contains(&tesco));
    assert!(!funded(&deposit_first, &keys_b).contains(&tesco));
    assert_eq!(tesco_first.totals, deposit_first.totals);

    // 2. Row 5 is the transfer of 2021-06-10, row 11 the card payment that day.
    let g = Generated {
        extras: vec![
            Extra::Spend(288, 146_846),
            Extra::Spend(0, 117_559),
            Extra::Spend(1105, 35_596),
        ],
        gifts: Vec::new(),
        assets: Vec::new(),
        lloyds_opening: 0,
    };
    let s10_4 = |s: &Schedules, keys: &BTreeMap<String, RowKey>| -> Vec<(String, i64)> {
        s.benefit
            .iter()
            .filter(|l| l.section == "s.10(4)")
            .map(|l| {
                let k = l.txn_id.as_ref().and_then(|id| keys.get(id)).unwrap();
                (format!("{} {}", k.1, k.3), l.historic)
            })
            .collect()
    };
    let (transfer_first, keys_a) = schedules_for(&g, &|_| 0);
    let (card_first, keys_b) = schedules_for(&g, &|i| u64::from(i != 11));
    assert_eq!(
        s10_4(&transfer_first, &keys_a),
        [
            ("2021-06-10 CARD PAYMENT ARGOS LEEDS".to_string(), 1),
            (
                "2021-06-11 VESNA HARLOW 608371 99887766".to_string(),
                200_000
            ),
            ("2025-05-02 TESCO STORES 2291".to_string(), 170_000),
        ]
    );
    assert_eq!(
        s10_4(&card_first, &keys_b),
        [
            (
                "2021-06-11 VESNA HARLOW 608371 99887766".to_string(),
                200_000
            ),
            ("2025-05-02 TESCO STORES 2291".to_string(), 170_000),
        ]
    );
    assert_eq!(
        transfer_first.totals.benefit_historic - card_first.totals.benefit_historic,
        1
    );
}
