//! Tracing: textbook worked examples computed by hand, LIBR specifics, a multi-hop fixture
//! (mule → defendant current → savings → solicitor) and property tests on random ledgers.
//!
//! Figures are pence (`1_164_02` is £1,164.02) and every one is asserted to the penny.

#![allow(clippy::inconsistent_digit_grouping)]

use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;
use proceeds::ledger::Channel;
use proceeds::money::{parse_amount, AmountStyle};
use proceeds::report::csv_out::frame_to_csv;
use proceeds::trace::engine::{AccountBook, Allocator, Lot};
use proceeds::trace::fifo::Fifo;
use proceeds::trace::hallett::Hallett;
use proceeds::trace::input::{evidence_frame, ledger_frame, transfers_frame, TraceRow};
use proceeds::trace::libr::Libr;
use proceeds::trace::lifo::Lifo;
use proceeds::trace::pro_rata::ProRata;
use proceeds::trace::{trace, DestinationKind, Method, TaintSpec, Trace, TraceInput};
use proptest::prelude::*;

use crate::support::{fixture, read_csv};

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(i64::from(d))
}

/// A row of account `A` on day `d`: positive pence in, negative out.
fn row(txn: &str, account: &str, seq: u64, d: u32, pence: i64, channel: Channel) -> TraceRow {
    TraceRow::new(txn, account, seq, day(d), pence, channel)
}

fn run(rows: &[TraceRow], transfers: &[(&str, &str)], spec: &TaintSpec) -> Trace {
    let ledger = ledger_frame(rows).unwrap();
    let transfers = transfers_frame(transfers).unwrap();
    trace(&TraceInput {
        ledger: &ledger,
        transfers: Some(&transfers),
        finding_evidence: None,
        spec,
    })
    .unwrap()
}

fn tainted_ids(ids: &[&str]) -> TaintSpec {
    TaintSpec {
        tainted_txn_ids: ids.iter().map(|s| s.to_string()).collect(),
        ..TaintSpec::default()
    }
}

/// Tainted pence of debit `txn` under each method, in `Method::ALL` order.
fn tainted_by_method(t: &Trace, txn: &str) -> Vec<i64> {
    t.backward(txn)
        .unwrap()
        .methods
        .iter()
        .map(|m| m.tainted_pence)
        .collect()
}

fn end_tainted(t: &Trace, account: &str) -> Vec<i64> {
    Method::ALL
        .iter()
        .map(|&m| t.tainted_at_end(m, account).unwrap())
        .collect()
}

/// A Decimal(18, 2) column as pence.
fn pence_column(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    let ca = df.column(name).unwrap().decimal().unwrap();
    assert_eq!(ca.scale(), 2, "{name}");
    ca.physical().iter().map(|v| v.map(|v| v as i64)).collect()
}

fn str_column(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Textbook: one mixed account, one purchase, five different answers.
// ---------------------------------------------------------------------------------------

/// The account (all £):
///
/// | day | txn | in/out | what |
/// |---|---|---|---|
/// | 0 | C1 | +1,000.00 | salary (clean) |
/// | 1 | T  | +3,000.00 | cash from drug supply (tainted) |
/// | 2 | C2 |   +200.00 | refund (clean) |
/// | 3 | W  | −2,000.00 | cash withdrawal |
/// | 4 | C3 |   +500.00 | salary (clean) |
/// | 5 | P  | −2,000.00 | the car |
///
/// By hand, the tainted part of P:
/// - FIFO: queue [C1 1,000, T 3,000, C2 200]; W takes C1 1,000 + T 1,000 → [T 2,000,
///   C2 200]; + C3 → [T 2,000, C2 200, C3 500]; P takes T 2,000 → **2,000.00**.
/// - LIFO: W takes C2 200 + T 1,800 → [C1 1,000, T 1,200]; + C3 → [C1, T 1,200, C3 500];
///   P takes C3 500, T 1,200, C1 300 → **1,200.00**.
/// - Hallett: clean 1,200, tainted 3,000; W takes clean 1,200 + T 800 → T 2,200, clean 0;
///   + C3 → clean 500; P takes clean 500 + T 1,500 → **1,500.00**.
/// - LIBR (tainted out first, never above the lowest balance): W takes T 2,000 → T 1,000,
///   clean 1,200 (the balance, 2,200, never fell below 1,000); + C3 → clean 1,700; P takes
///   T 1,000 + clean 1,000 → **1,000.00**.
/// - Pro rata, in pence: before W the balance is 420,000, tainted 300,000. W = 200,000:
///   tainted 200,000×300,000/420,000 = 142,857.14…, clean 200,000×120,000/420,000 =
///   57,142.86… → floors 142,857 + 57,142 = 199,999; the penny left goes to the larger
///   remainder (clean, .86) → W: tainted 1,428.57, clean 571.43. Left: tainted 1,571.43,
///   clean 628.57; + C3 → clean 1,128.57, balance 2,700.00. P = 200,000: tainted
///   200,000×157,143/270,000 = 116,402.22…, clean 200,000×112,857/270,000 = 83,597.77… →
///   116,402 + 83,597 = 199,999; the penny goes to clean (.77 > .22) → **1,164.02**.
fn textbook() -> Vec<TraceRow> {
    vec![
        row("C1", "A", 1, 0, 1_000_00, Channel::Transfer),
        row("T", "A", 2, 1, 3_000_00, Channel::CashDeposit),
        row("C2", "A", 3, 2, 200_00, Channel::Card),
        row("W", "A", 4, 3, -2_000_00, Channel::CashWithdrawal),
        row("C3", "A", 5, 4, 500_00, Channel::Transfer),
        row("P", "A", 6, 5, -2_000_00, Channel::Transfer),
    ]
}

#[test]
fn textbook_five_methods_five_answers_for_the_same_purchase() {
    let t = run(&textbook(), &[], &tainted_ids(&["T"]));
    //                                   FIFO      LIFO      Hallett   LIBR      pro rata
    assert_eq!(
        tainted_by_method(&t, "P"),
        vec![2_000_00, 1_200_00, 1_500_00, 1_000_00, 1_164_02]
    );
    let p = t.backward("P").unwrap();
    assert_eq!(p.amount_pence, 2_000_00);
    assert_eq!(p.overdraft_pence, 0);
    for m in &p.methods {
        assert_eq!(m.tainted_pence + m.clean_pence, 2_000_00, "{:?}", m.method);
        assert_eq!(m.origins.len(), 1);
        assert_eq!(m.origins[0].origin_txn_id, "T");
        assert_eq!(m.origins[0].path, "A");
        assert_eq!(m.origins[0].amount_pence, m.tainted_pence);
    }
    // The withdrawal W, by hand as above.
    assert_eq!(
        tainted_by_method(&t, "W"),
        vec![1_000_00, 1_800_00, 800_00, 2_000_00, 1_428_57]
    );
    // What is left of the 700.00 balance: FIFO [C2 200, C3 500]; LIFO [C1 700];
    // Hallett T 700; LIBR clean 700; pro rata tainted 1,571.43 − 1,164.02 = 407.41.
    assert_eq!(end_tainted(&t, "A"), vec![0, 0, 700_00, 0, 407_41]);
    assert_eq!(t.balance_at_end("A"), Some(700_00));
    // Conservation of the origin: 3,000.00 = paid out + left, under every method.
    for f in t.forward(Some("T")).unwrap() {
        assert_eq!(f.accounted_pence(), 3_000_00, "{:?}", f.method);
    }
}

#[test]
fn textbook_summary_frame_shows_every_method_and_the_election() {
    let spec = TaintSpec {
        elected_method: Some(Method::Hallett),
        destinations: vec!["P".into()],
        ..tainted_ids(&["T"])
    };
    let t = run(&textbook(), &[], &spec);
    let s = t.summary_frame().unwrap();
    assert_eq!(s.height(), 1);
    let get = |c: &str| pence_column(&s, c)[0].unwrap();
    assert_eq!(get("amount"), 2_000_00);
    assert_eq!(get("overdraft"), 0);
    let expect = [
        ("fifo", 2_000_00),
        ("lifo", 1_200_00),
        ("hallett", 1_500_00),
        ("libr", 1_000_00),
        ("pro_rata", 1_164_02),
    ];
    for (m, tainted) in expect {
        assert_eq!(get(&format!("tainted_{m}")), tainted, "{m}");
        assert_eq!(get(&format!("clean_{m}")), 2_000_00 - tainted, "{m}");
    }
    assert_eq!(
        str_column(&s, "elected_method"),
        vec![Some("hallett".into())]
    );
    assert_eq!(get("tainted_elected"), 1_500_00);
    // Without named destinations every debit leaving the case accounts is summarised.
    let all = run(&textbook(), &[], &tainted_ids(&["T"]));
    let s = all.summary_frame().unwrap();
    assert_eq!(
        str_column(&s, "destination_txn_id"),
        vec![Some("W".into()), Some("P".into())]
    );
    assert_eq!(str_column(&s, "elected_method"), vec![None, None]);
}

// ---------------------------------------------------------------------------------------
// LIBR specifics.
// ---------------------------------------------------------------------------------------

#[test]
fn libr_a_later_clean_deposit_does_not_replenish() {
    // +1,000 tainted; −900 (balance 100, the lowest); +5,000 clean; −300.
    let rows = vec![
        row("T", "A", 1, 0, 1_000_00, Channel::CashDeposit),
        row("W", "A", 2, 1, -900_00, Channel::CashWithdrawal),
        row("C", "A", 3, 2, 5_000_00, Channel::Transfer),
        row("P", "A", 4, 3, -300_00, Channel::Card),
    ];
    let spec = tainted_ids(&["T"]);
    // Stop before P: under every method the tainted money is at most the lowest balance
    // (100.00), not the 1,000.00 that went in, despite the 5,000.00 clean deposit.
    let before = run(&rows[..3], &[], &spec);
    assert_eq!(end_tainted(&before, "A"), vec![100_00; 5]);
    let t = run(&rows, &[], &spec);
    // P (300): LIBR follows the 100 tainted out first, then clean: 100.00 — not 300.
    // FIFO: [T 100, C 5,000] → 100. LIFO: C first → 0. Hallett: clean first → 0.
    // Pro rata: 30,000 × 10,000 / 510,000 = 588.23… → 588 (remainder .23 < clean's .76).
    assert_eq!(tainted_by_method(&t, "P"), vec![100_00, 0, 0, 100_00, 5_88]);
    assert_eq!(end_tainted(&t, "A"), vec![0, 100_00, 100_00, 0, 94_12]);
}

#[test]
fn libr_an_overdraft_ends_the_trace() {
    // +400 tainted; −600 (200 overdrawn); +1,000 clean; −500.
    let rows = vec![
        row("T", "A", 1, 0, 400_00, Channel::CashDeposit),
        row("W", "A", 2, 1, -600_00, Channel::CashWithdrawal),
        row("C", "A", 3, 2, 1_000_00, Channel::Transfer),
        row("P", "A", 4, 3, -500_00, Channel::Card),
    ];
    let t = run(&rows, &[], &tainted_ids(&["T"]));
    let w = t.backward("W").unwrap();
    // W: 400 from the account (all tainted, the only money there), 200 from the overdraft.
    assert_eq!(w.overdraft_pence, 200_00);
    for m in &w.methods {
        assert_eq!(
            (m.tainted_pence, m.clean_pence),
            (400_00, 0),
            "{:?}",
            m.method
        );
    }
    // C repays the 200 and leaves 800 clean: the trace of T ended at the overdraft.
    assert_eq!(tainted_by_method(&t, "P"), vec![0; 5]);
    assert_eq!(end_tainted(&t, "A"), vec![0; 5]);
    assert_eq!(t.balance_at_end("A"), Some(300_00));
    let balances = t.balances_frame().unwrap();
    assert_eq!(pence_column(&balances, "overdraft"), vec![Some(0); 5]);
    assert_eq!(
        pence_column(&balances, "end_balance"),
        vec![Some(300_00); 5]
    );
}

#[test]
fn a_tainted_credit_into_an_overdraft_repays_it_first() {
    // Opening balance −250.00 (first reported balance −150.00 after +100.00 clean);
    // then +500 tainted: 150 repays the overdraft, 350 stays tainted.
    let mut rows = vec![
        row("C", "A", 1, 0, 100_00, Channel::Transfer),
        row("T", "A", 2, 1, 500_00, Channel::CashDeposit),
    ];
    rows[0].balance_pence = Some(-150_00);
    let t = run(&rows, &[], &tainted_ids(&["T"]));
    let b = t.balances_frame().unwrap();
    assert_eq!(pence_column(&b, "opening_balance")[0], Some(-250_00));
    assert_eq!(end_tainted(&t, "A"), vec![350_00; 5]);
    for f in t.forward(Some("T")).unwrap() {
        assert_eq!(f.destinations.len(), 1);
        assert_eq!(f.destinations[0].kind, DestinationKind::OverdraftRepayment);
        assert_eq!(f.destinations[0].txn_id.as_deref(), Some("T"));
        assert_eq!(f.destinations[0].amount_pence, 150_00);
        assert_eq!(f.accounted_pence(), 500_00);
    }
}

// ---------------------------------------------------------------------------------------
// Multi-hop fixture: mule → defendant current → savings → solicitor.
// ---------------------------------------------------------------------------------------

fn pence_of(text: &str) -> i64 {
    let d = parse_amount(text, &AmountStyle::default()).unwrap();
    i64::try_from(proceeds::money::to_minor_units(d)).unwrap()
}

fn load_ledger(path: &Path) -> Vec<TraceRow> {
    let rows = read_csv(path);
    let h = &rows[0];
    let at = |r: &Vec<String>, name: &str| r[h.iter().position(|c| c == name).unwrap()].clone();
    // Columns a fixture may leave out.
    let optional = |r: &Vec<String>, name: &str| {
        h.iter()
            .position(|c| c == name)
            .map(|i| r[i].clone())
            .filter(|s| !s.is_empty())
    };
    rows[1..]
        .iter()
        .map(|r| TraceRow {
            txn_id: at(r, "txn_id"),
            account_id: at(r, "account_id"),
            seq: at(r, "seq").parse().unwrap(),
            booking_date: NaiveDate::parse_from_str(&at(r, "booking_date"), "%Y-%m-%d").unwrap(),
            amount_pence: pence_of(&at(r, "amount")),
            balance_pence: Some(at(r, "balance"))
                .filter(|s| !s.is_empty())
                .map(|s| pence_of(&s)),
            channel: serde_json::from_str(&format!("\"{}\"", at(r, "channel"))).unwrap(),
            counterparty_name: Some(at(r, "counterparty_name")).filter(|s| !s.is_empty()),
            party_name: optional(r, "party_name"),
            bank_txn_id: optional(r, "bank_txn_id"),
            excluded_reason: optional(r, "excluded_reason"),
        })
        .collect()
}

fn string_frame(path: &Path) -> DataFrame {
    let rows = read_csv(path);
    let columns = rows[0]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            Column::new(
                name.as_str().into(),
                rows[1..].iter().map(|r| r[i].clone()).collect::<Vec<_>>(),
            )
        })
        .collect();
    DataFrame::new(rows.len() - 1, columns).unwrap()
}

fn multi_hop() -> Trace {
    multi_hop_with(|rows| rows)
}

/// The multi-hop case with its ledger rows rearranged by `arrange` first.
fn multi_hop_with(mut arrange: impl FnMut(Vec<TraceRow>) -> Vec<TraceRow>) -> Trace {
    let dir = fixture("trace/multi-hop");
    let ledger = ledger_frame(&arrange(load_ledger(&dir.join("ledger.csv")))).unwrap();
    let transfers = string_frame(&dir.join("transfers.csv"));
    let evidence = string_frame(&dir.join("evidence.csv"));
    let spec: TaintSpec =
        toml::from_str(&std::fs::read_to_string(dir.join("tracing.toml")).unwrap()).unwrap();
    trace(&TraceInput {
        ledger: &ledger,
        transfers: Some(&transfers),
        finding_evidence: Some(&evidence),
        spec: &spec,
    })
    .unwrap()
}

/// Compare a frame's CSV with a golden file; `PROCEEDS_BLESS=1` rewrites the file.
fn golden(name: &str, df: &DataFrame) {
    let path = fixture("trace/multi-hop").join(name);
    let got = frame_to_csv(name, df).unwrap();
    if std::env::var_os("PROCEEDS_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with PROCEEDS_BLESS=1)", path.display()));
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want),
        "{name} differs from fixtures/trace/multi-hop/{name}"
    );
}

/// The fixture, by hand (£). Origins: M1 2,000 and M2 1,500 (evidence of MULE-001); the
/// mule's first balance (2,100 after +2,000) implies 100 clean already there.
///
/// MULE [C 100, M1 2,000, M2 1,500] sends 3,000 to DH-CURRENT (TR1, M3→D2):
/// - FIFO & Hallett: C 100, M1 2,000, M2 900.   LIFO: M2 1,500, M1 1,500.
/// - LIBR (tainted first): M1 2,000, M2 1,000.
/// - Pro rata (pence, Σ 360,000, W 300,000): C 8,333.3 → 8,333; M1 166,666.7 → 166,667
///   (the penny: largest remainder); M2 125,000 → C 83.33, M1 1,666.67, M2 1,250.00.
///
/// DH-CURRENT: D1 +1,800 salary (clean), D2 +3,000 (carried), D3 −600 card, D4 −2,500 to
/// savings (TR2, D4→S2):
/// - FIFO: [C 1,800, M1 2,000, M2 900, C 100] (the lots of one credit enter in origin
///   order, clean money last); D3 takes C 600; D4 takes C 1,200 + M1 1,300.
/// - LIFO: [C 1,800, M1 1,500, M2 1,500] (one credit's lots in origin order); D3 takes M2
///   600; D4 takes M2 900, M1 1,500, C 100.
/// - Hallett: clean 1,900, D3 600 clean, D4 clean 1,300 + M1 1,200.
/// - LIBR: D3 takes M1 600; D4 takes M1 1,400, M2 1,000, C 100.
/// - Pro rata: C 188,333, M1 166,667, M2 125,000 (Σ 480,000). D3 60,000 → 23,541.6 /
///   20,833.4 / 15,625 → the penny to C (.625) → 23,542 / 20,833 / 15,625. Left 164,791 /
///   145,834 / 109,375. D4 250,000 → 98,089.88 / 86,805.95 / 65,104.17 → two pence to the
///   largest remainders M1 (.95) and C (.88) → C 980.90, M1 868.06, M2 651.04.
///
/// DH-SAVINGS: S2 +2,500 (carried), S1 +1,000 clean, S3 −3,000 to the solicitor:
/// - FIFO: [M1 1,300, C 1,200, C 1,000] → M1 1,300, C 1,700 → **1,300.00**.
/// - LIFO: [M1 1,500, M2 900, C 100 + C 1,000] → C 1,100, M2 900, M1 1,000 → **1,900.00**.
/// - Hallett: clean 2,300 first, then M1 700 → **700.00**.
/// - LIBR: M1 1,400 + M2 1,000 first, then clean 600 → **2,400.00**.
/// - Pro rata: C 198,090, M1 86,806, M2 65,104 (Σ 350,000), W 300,000 → 169,791.43 /
///   74,405.14 / 55,803.43 → one penny left, C and M2 tie on remainder (150,000/350,000
///   each) → the earlier lot, clean → M1 744.05 + M2 558.03 = **1,302.08**.
#[test]
fn multi_hop_tainted_share_of_the_solicitor_payment() {
    let t = multi_hop();
    assert_eq!(t.origin_txn_ids(), vec!["M1", "M2"]);
    assert!(t.notes().is_empty(), "{:?}", t.notes());
    assert_eq!(
        tainted_by_method(&t, "S3"),
        vec![1_300_00, 1_900_00, 700_00, 2_400_00, 1_302_08]
    );
    let s3 = t.backward("S3").unwrap();
    let origins = |m: Method| {
        s3.methods[m.index()]
            .origins
            .iter()
            .map(|o| (o.origin_txn_id.as_str(), o.path.as_str(), o.amount_pence))
            .collect::<Vec<_>>()
    };
    const PATH: &str = "MULE>DH-CURRENT>DH-SAVINGS";
    assert_eq!(origins(Method::Fifo), vec![("M1", PATH, 1_300_00)]);
    assert_eq!(
        origins(Method::Lifo),
        vec![("M1", PATH, 1_000_00), ("M2", PATH, 900_00)]
    );
    assert_eq!(origins(Method::Hallett), vec![("M1", PATH, 700_00)]);
    assert_eq!(
        origins(Method::Libr),
        vec![("M1", PATH, 1_400_00), ("M2", PATH, 1_000_00)]
    );
    assert_eq!(
        origins(Method::ProRata),
        vec![("M1", PATH, 744_05), ("M2", PATH, 558_03)]
    );
    // The card payment D3 in the current account, by hand as above.
    assert_eq!(
        tainted_by_method(&t, "D3"),
        vec![0, 600_00, 0, 600_00, 364_58]
    );
}

#[test]
fn multi_hop_forward_from_one_origin_accounts_for_every_penny() {
    let t = multi_hop();
    let forward = t.forward(Some("M1")).unwrap();
    for f in &forward {
        assert_eq!(f.accounted_pence(), 2_000_00, "{:?}", f.method);
    }
    // Pro rata, M1: 333.33 stayed in the mule, of which M4 (cash) took 222.22 (40,000 ×
    // 33,333 / 60,000 exactly) and 111.11 is left; 1,666.67 reached the current account:
    // D3 208.33, D4 868.06 to savings, 590.28 left; S3 744.05, 124.01 left in savings.
    let pr = &forward[Method::ProRata.index()];
    let dest: Vec<(&str, i64)> = pr
        .destinations
        .iter()
        .map(|d| (d.txn_id.as_deref().unwrap(), d.amount_pence))
        .collect();
    assert_eq!(dest, vec![("M4", 222_22), ("D3", 208_33), ("S3", 744_05)]);
    let via: Vec<(&str, i64)> = pr
        .via_transfers
        .iter()
        .map(|d| (d.txn_id.as_deref().unwrap(), d.amount_pence))
        .collect();
    assert_eq!(via, vec![("M3", 1_666_67), ("D4", 868_06)]);
    let left: Vec<(&str, i64)> = pr
        .remaining
        .iter()
        .map(|r| (r.account_id.as_str(), r.amount_pence))
        .collect();
    assert_eq!(
        left,
        vec![
            ("MULE", 111_11),
            ("DH-CURRENT", 590_28),
            ("DH-SAVINGS", 124_01)
        ]
    );
    // FIFO, M1: all 2,000 to the current account; 1,300 on to savings and out to the
    // solicitor; 700 left in the current account.
    let fifo = &forward[Method::Fifo.index()];
    assert_eq!(fifo.destinations.len(), 1);
    assert_eq!(fifo.destinations[0].txn_id.as_deref(), Some("S3"));
    assert_eq!(fifo.destinations[0].amount_pence, 1_300_00);
    assert_eq!(fifo.remaining.len(), 1);
    assert_eq!(fifo.remaining[0].account_id, "DH-CURRENT");
    assert_eq!(fifo.remaining[0].amount_pence, 700_00);
}

#[test]
fn multi_hop_origins_show_why_each_credit_is_tainted() {
    let t = multi_hop();
    let o = t.origins_frame().unwrap();
    assert_eq!(
        str_column(&o, "txn_id"),
        vec![Some("M1".into()), Some("M2".into())]
    );
    assert_eq!(
        str_column(&o, "reason"),
        vec![
            Some("evidence of finding MULE-001".into()),
            Some("evidence of finding MULE-001".into())
        ]
    );
}

#[test]
fn flows_written_row_by_row_are_the_flows_frame_written() {
    use proceeds::report::csv_out::write_trace_flows;
    let t = multi_hop();
    let whole = frame_to_csv("f.csv", &t.flows_frame().unwrap()).unwrap();
    let rows = t.flows_frame().unwrap().height();
    assert!(rows > 3, "the multi-hop case has {rows} flows");
    let by_row = write_trace_flows(t.flow_rows(None), Vec::new()).unwrap();
    assert_eq!(
        String::from_utf8(by_row).unwrap(),
        String::from_utf8(whole).unwrap()
    );
    // One method's flows are that method's rows of the whole, in the same order.
    let all = t.flows_frame().unwrap();
    for m in Method::ALL {
        let one = t.flows_frame_of(Some(m)).unwrap();
        let expected = all
            .clone()
            .lazy()
            .filter(col("method").eq(lit(m.as_str())))
            .collect()
            .unwrap();
        assert!(one.height() > 0, "{m:?} has flows");
        assert!(one.equals_missing(&expected), "{m:?}");
        assert_eq!(t.flow_rows(Some(m)).count(), one.height());
    }
    // No flows at all: the file is its header.
    let none = run(
        &[row("Q1", "A", 1, 0, 1000, Channel::CashDeposit)],
        &[],
        &TaintSpec::default(),
    );
    let header = write_trace_flows(none.flow_rows(None), Vec::new()).unwrap();
    assert_eq!(
        String::from_utf8(header).unwrap(),
        String::from_utf8(frame_to_csv("f.csv", &none.flows_frame().unwrap()).unwrap()).unwrap()
    );
    assert_eq!(none.flows_frame().unwrap().height(), 0);
}

#[test]
fn the_summary_written_row_by_row_is_the_summary_frame_written() {
    use proceeds::report::csv_out::write_trace_summary;
    let by_row = |t: &Trace| {
        String::from_utf8(
            write_trace_summary(&t.summary_columns(), t.summary_row_iter(), Vec::new()).unwrap(),
        )
        .unwrap()
    };
    let by_frame = |t: &Trace| {
        String::from_utf8(frame_to_csv("s.csv", &t.summary_frame().unwrap()).unwrap()).unwrap()
    };
    // The multi-hop case elects pro rata; the textbook case, run without an election, has
    // its elected columns empty.
    let elected = multi_hop();
    let not_elected = run(&textbook(), &[], &tainted_ids(&["T"]));
    for t in [&elected, &not_elected] {
        let whole = t.summary_frame().unwrap();
        assert!(whole.height() >= 1, "{} summary rows", whole.height());
        assert_eq!(by_row(t), by_frame(t));
        assert_eq!(t.summary_len(), whole.height());
        // The head is the whole's first rows; asking for more than there are gives them all.
        let head = t.summary_frame_head(1).unwrap();
        assert!(head.equals_missing(&whole.slice(0, 1)));
        assert!(t
            .summary_frame_head(whole.height() + 5)
            .unwrap()
            .equals_missing(&whole));
    }
    assert_eq!(not_elected.summary_len(), 2);
    assert!(by_row(&elected).contains(",pro_rata,"));
    assert!(by_row(&not_elected)
        .lines()
        .nth(1)
        .unwrap()
        .ends_with(",,,"));
    assert_eq!(elected.summary_columns().len(), 20);
}

#[test]
fn a_ledger_out_of_canonical_order_traces_the_same() {
    // Canonical order is (account, seq); a frame in any other order is put in that order
    // before tracing, text columns included. Accounts keep their order of first
    // appearance (which orders some outputs); each account's rows are reversed.
    let t = multi_hop();
    let mut moved = 0;
    let r = multi_hop_with(|rows| {
        let mut accounts: Vec<String> = Vec::new();
        for row in &rows {
            if !accounts.contains(&row.account_id) {
                accounts.push(row.account_id.clone());
            }
        }
        let arranged: Vec<TraceRow> = accounts
            .iter()
            .flat_map(|a| {
                let mut own: Vec<TraceRow> = rows
                    .iter()
                    .filter(|r| &r.account_id == a)
                    .cloned()
                    .collect();
                own.reverse();
                own
            })
            .collect();
        moved = arranged.iter().zip(&rows).filter(|(a, b)| a != b).count();
        arranged
    });
    assert!(moved > 5, "{moved} rows moved");
    for (a, b) in [
        (t.flows_frame().unwrap(), r.flows_frame().unwrap()),
        (t.summary_frame().unwrap(), r.summary_frame().unwrap()),
        (t.balances_frame().unwrap(), r.balances_frame().unwrap()),
        (t.origins_frame().unwrap(), r.origins_frame().unwrap()),
        (t.notes_frame().unwrap(), r.notes_frame().unwrap()),
    ] {
        let text = |f: &DataFrame| String::from_utf8(frame_to_csv("x", f).unwrap()).unwrap();
        assert_eq!(text(&a), text(&b));
    }
    golden("expected_flows.csv", &r.flows_frame().unwrap());
}

#[test]
fn multi_hop_output_frames_match_the_golden_files() {
    let t = multi_hop();
    golden("expected_flows.csv", &t.flows_frame().unwrap());
    golden("expected_summary.csv", &t.summary_frame().unwrap());
    golden("expected_balances.csv", &t.balances_frame().unwrap());
    // Each account's end balance is split exactly under every method.
    let b = t.balances_frame().unwrap();
    let (end, tainted, clean, od) = (
        pence_column(&b, "end_balance"),
        pence_column(&b, "tainted"),
        pence_column(&b, "clean"),
        pence_column(&b, "overdraft"),
    );
    for i in 0..b.height() {
        assert_eq!(
            tainted[i].unwrap() + clean[i].unwrap() - od[i].unwrap(),
            end[i].unwrap()
        );
    }
    // Reported closing balances: MULE 200, DH-CURRENT 1,700, DH-SAVINGS 500.
    assert_eq!(t.balance_at_end("MULE"), Some(200_00));
    assert_eq!(t.balance_at_end("DH-CURRENT"), Some(1_700_00));
    assert_eq!(t.balance_at_end("DH-SAVINGS"), Some(500_00));
}

// ---------------------------------------------------------------------------------------
// The spec: exclusions are shown, mistakes are refused.
// ---------------------------------------------------------------------------------------

#[test]
fn all_credits_tainted_shows_accepted_legitimate_sources_as_excluded() {
    let mut rows = textbook();
    rows[0].counterparty_name = Some("ACME LTD".into());
    let spec = TaintSpec {
        all_credits_tainted: true,
        legitimate_counterparties: vec!["Acme Ltd.".into()],
        legitimate_txn_ids: vec!["C3".into()],
        ..TaintSpec::default()
    };
    let t = run(&rows, &[], &spec);
    assert_eq!(t.origin_txn_ids(), vec!["T", "C2"]);
    let o = t.origins_frame().unwrap();
    assert_eq!(
        str_column(&o, "status"),
        ["excluded", "tainted", "tainted", "excluded"]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect::<Vec<_>>()
    );
    let reasons = str_column(&o, "reason");
    assert!(reasons[0]
        .as_deref()
        .unwrap()
        .contains("accepted legitimate source: counterparty \"Acme Ltd.\""));
    assert!(reasons[3]
        .as_deref()
        .unwrap()
        .contains("accepted legitimate source (legitimate_txn_ids)"));
}

#[test]
fn channel_windows_are_strictly_after_the_day_given() {
    let rows = vec![
        row("K0", "A", 1, 0, 100_00, Channel::CashDeposit),
        row("K1", "A", 2, 1, 100_00, Channel::CashDeposit),
        row("K2", "A", 3, 2, 100_00, Channel::Transfer),
        row("K3", "A", 4, 3, 100_00, Channel::CashDeposit),
    ];
    let spec: TaintSpec = toml::from_str(
        "[[tainted_channels]]\nchannel = \"cash_deposit\"\nafter = 2024-01-01\nuntil = 2024-01-03\n",
    )
    .unwrap();
    // day(0) is 2024-01-01 itself: outside. K1 (01-02) in; K2 is not cash; K3 (01-04) after `until`.
    assert_eq!(run(&rows, &[], &spec).origin_txn_ids(), vec!["K1"]);
}

#[test]
fn spec_mistakes_are_refused_with_the_txn_named() {
    let ledger = ledger_frame(&textbook()).unwrap();
    let attempt = |spec: TaintSpec| {
        trace(&TraceInput {
            ledger: &ledger,
            transfers: None,
            finding_evidence: None,
            spec: &spec,
        })
        .unwrap_err()
        .to_string()
    };
    let e = attempt(tainted_ids(&["NOPE"]));
    assert!(e.contains("NOPE") && e.contains("not in the ledger"), "{e}");
    let e = attempt(tainted_ids(&["W"]));
    assert!(e.contains("not a credit"), "{e}");
    let e = attempt(TaintSpec {
        destinations: vec!["T".into()],
        ..TaintSpec::default()
    });
    assert!(e.contains("not a debit"), "{e}");
    let e = attempt(TaintSpec {
        tainted_findings: vec!["*".into()],
        ..TaintSpec::default()
    });
    assert!(e.contains("no finding evidence"), "{e}");
    let evidence = evidence_frame(&[("STR-001", "GHOST")]).unwrap();
    let e = trace(&TraceInput {
        ledger: &ledger,
        transfers: None,
        finding_evidence: Some(&evidence),
        spec: &TaintSpec {
            tainted_findings: vec!["*".into()],
            ..TaintSpec::default()
        },
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("GHOST"), "{e}");
}

#[test]
fn transfer_mistakes_are_refused_and_contradictions_unlinked_with_a_note() {
    let rows = vec![
        row("A1", "A", 1, 0, 100_00, Channel::CashDeposit),
        row("A2", "A", 2, 1, -100_00, Channel::Transfer),
        row("B1", "B", 3, 0, 100_00, Channel::Transfer),
        row("B2", "B", 4, 1, -100_00, Channel::Transfer),
    ];
    let ledger = ledger_frame(&rows).unwrap();
    let spec = tainted_ids(&["A1"]);
    let with = |pairs: &[(&str, &str)]| {
        let transfers = transfers_frame(pairs).unwrap();
        trace(&TraceInput {
            ledger: &ledger,
            transfers: Some(&transfers),
            finding_evidence: None,
            spec: &spec,
        })
    };
    let e = with(&[("B1", "A2")]).unwrap_err().to_string();
    assert!(e.contains("B1 is not a debit"), "{e}");
    let e = with(&[("A2", "B1"), ("B2", "B1")]).unwrap_err().to_string();
    assert!(e.contains("more than one transfer"), "{e}");
    // A2 → B1 is fine: B1 waits for A2 although it is dated a day earlier.
    let t = with(&[("A2", "B1")]).unwrap();
    assert!(t.notes().is_empty());
    assert_eq!(t.tainted_at_end(Method::Fifo, "B"), Some(0));
    assert_eq!(tainted_by_method(&t, "B2"), vec![100_00; 5]);
    // A2 → B1 and B2 → A1 would need each credit before the other's debit: a cycle. The
    // earliest waiting credit is unlinked and the note names it.
    let rows2 = vec![
        row("A1", "A", 1, 0, 100_00, Channel::Transfer),
        row("A2", "A", 2, 1, -100_00, Channel::Transfer),
        row("B1", "B", 3, 0, 100_00, Channel::Transfer),
        row("B2", "B", 4, 1, -100_00, Channel::Transfer),
    ];
    let t = run(&rows2, &[("A2", "B1"), ("B2", "A1")], &TaintSpec::default());
    let notes = t.notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].kind, "transfer_unlinked");
    assert_eq!(notes[0].txn_id.as_deref(), Some("A1"));
}

/// Unlinked transfers are noted in the order of their credits' date and `seq`, whichever
/// accounts they are in: the trace unlinks only when every account still to follow waits
/// on another, takes the least waiting credit, and every account's next row is later still.
/// A run by groups orders the notes of its batches so (`batches::trace`), which is the
/// whole trace's order by this.
#[test]
fn unlinked_transfers_are_noted_in_the_order_of_their_credits() {
    let t = Channel::Transfer;
    let rows = vec![
        row("A1", "A", 1, 10, 100_00, t),
        row("A2", "A", 2, 11, -100_00, t),
        row("A3", "A", 3, 20, 100_00, t),
        row("A4", "A", 4, 21, -100_00, t),
        row("B1", "B", 5, 10, 100_00, t),
        row("B2", "B", 6, 11, -100_00, t),
        row("B3", "B", 7, 20, 100_00, t),
        row("B4", "B", 8, 21, -100_00, t),
        row("C1", "C", 9, 1, 100_00, t),
        row("C2", "C", 10, 2, -100_00, t),
        row("D1", "D", 11, 1, 100_00, t),
        row("D2", "D", 12, 2, -100_00, t),
    ];
    // Three cycles: A and B twice (days 10 and 20), C and D once (day 1).
    let cycles = [
        ("A2", "B1"),
        ("B2", "A1"),
        ("A4", "B3"),
        ("B4", "A3"),
        ("C2", "D1"),
        ("D2", "C1"),
    ];
    let t = run(&rows, &cycles, &TaintSpec::default());
    let notes = t.notes();
    let unlinked: Vec<&str> = notes
        .iter()
        .filter(|n| n.kind == "transfer_unlinked")
        .filter_map(|n| n.txn_id.as_deref())
        .collect();
    assert_eq!(unlinked, ["C1", "A1", "A3"]);
}

// ---------------------------------------------------------------------------------------
// Properties on random small ledgers.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Event {
    Credit {
        account: usize,
        pence: i64,
        tainted: bool,
    },
    Debit {
        account: usize,
        pence: i64,
    },
    Transfer {
        from: usize,
        to: usize,
        pence: i64,
    },
    /// A money transfer from one case account's holder to another's: a send and its payout
    /// with the same reference; a cancelled one is kept on both sides but moves nothing.
    MoneyTransfer {
        from: usize,
        to: usize,
        pence: i64,
        cancelled: bool,
    },
}

fn event(accounts: usize) -> impl Strategy<Value = Event> {
    let acc = 0..accounts;
    prop_oneof![
        (acc.clone(), 1i64..500_000, any::<bool>()).prop_map(|(account, pence, tainted)| {
            Event::Credit {
                account,
                pence,
                tainted,
            }
        }),
        (acc.clone(), 1i64..500_000).prop_map(|(account, pence)| Event::Debit { account, pence }),
        (acc.clone(), acc.clone(), 1i64..500_000).prop_map(|(from, to, pence)| Event::Transfer {
            from,
            to,
            pence
        }),
        (acc.clone(), acc, 1i64..500_000, prop::bool::weighted(0.2)).prop_map(
            |(from, to, pence, cancelled)| Event::MoneyTransfer {
                from,
                to,
                pence,
                cancelled,
            }
        ),
    ]
}

struct Case {
    rows: Vec<TraceRow>,
    transfers: Vec<(String, String)>,
    tainted: Vec<String>,
    opening: Vec<i64>,
}

fn build(events: &[Event], opening: &[i64]) -> Case {
    let mut case = Case {
        rows: Vec::new(),
        transfers: Vec::new(),
        tainted: Vec::new(),
        opening: opening.to_vec(),
    };
    let mut seq = 0u64;
    let mut push = |case: &mut Case, account: usize, pence: i64, i: usize| -> String {
        seq += 1;
        let id = format!("X{seq}");
        case.rows.push(TraceRow::new(
            &id,
            &format!("ACC{account}"),
            seq,
            day((i / 3) as u32),
            pence,
            Channel::Transfer,
        ));
        id
    };
    for (i, e) in events.iter().enumerate() {
        match *e {
            Event::Credit {
                account,
                pence,
                tainted,
            } => {
                let id = push(&mut case, account, pence, i);
                if tainted {
                    case.tainted.push(id);
                }
            }
            Event::Debit { account, pence } => {
                push(&mut case, account, -pence, i);
            }
            Event::Transfer { from, to, pence } if from != to => {
                let d = push(&mut case, from, -pence, i);
                let c = push(&mut case, to, pence, i);
                case.transfers.push((d, c));
            }
            Event::Transfer { from, pence, .. } => {
                push(&mut case, from, -pence, i);
            }
            Event::MoneyTransfer {
                from,
                to,
                pence,
                cancelled,
            } => {
                let reference = format!("MTCN{i}");
                for (account, signed, channel) in [
                    (from, -pence, Channel::MsbSend),
                    (to, pence, Channel::MsbPayout),
                ] {
                    push(&mut case, account, signed, i);
                    let r = case.rows.last_mut().unwrap();
                    r.channel = channel;
                    // The sender is the party of the send and the counterparty of the payout.
                    let (sender, receiver) = (format!("Holder {from}"), format!("Holder {to}"));
                    (r.party_name, r.counterparty_name) = if signed < 0 {
                        (Some(sender), Some(receiver))
                    } else {
                        (Some(receiver), Some(sender))
                    };
                    r.bank_txn_id = Some(reference.clone());
                    r.excluded_reason = cancelled.then(|| "status CANCELLED".to_string());
                }
            }
        }
    }
    // The opening balance is implied by each account's first reported balance.
    for (a, &open) in opening.iter().enumerate() {
        if let Some(first) = case
            .rows
            .iter_mut()
            .find(|r| r.account_id == format!("ACC{a}"))
        {
            first.balance_pence = Some(open + first.amount_pence);
        }
    }
    case
}

fn run_case(case: &Case) -> Trace {
    let pairs: Vec<(&str, &str)> = case
        .transfers
        .iter()
        .map(|(d, c)| (d.as_str(), c.as_str()))
        .collect();
    let ids: Vec<&str> = case.tainted.iter().map(String::as_str).collect();
    run(&case.rows, &pairs, &tainted_ids(&ids))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Every method conserves money in pence: each debit's split (tainted by origin + clean
    /// + overdraft) sums to the debit; each account's end balance is tainted + clean −
    /// overdraft and equals opening + movements; and all tainted money is accounted for
    /// (paid out, repaid to the bank, or still held) — across transfers between accounts.
    #[test]
    fn every_method_conserves_pence(
        events in prop::collection::vec(event(3), 1..30),
        opening in prop::collection::vec(-50_000i64..50_000, 3),
    ) {
        let case = build(&events, &opening);
        let t = run_case(&case);
        let counted = |r: &&TraceRow| r.excluded_reason.is_none();
        for r in case.rows.iter().filter(counted).filter(|r| r.amount_pence < 0) {
            let b = t.backward(&r.txn_id).unwrap();
            for m in &b.methods {
                prop_assert_eq!(m.tainted_pence + m.clean_pence + b.overdraft_pence, -r.amount_pence);
                prop_assert!(m.tainted_pence >= 0 && m.clean_pence >= 0);
                prop_assert_eq!(m.origins.iter().map(|o| o.amount_pence).sum::<i64>(), m.tainted_pence);
            }
        }
        let balances = t.balances_frame().unwrap();
        let accounts = str_column(&balances, "account_id");
        let (end, tainted, clean, od) = (
            pence_column(&balances, "end_balance"),
            pence_column(&balances, "tainted"),
            pence_column(&balances, "clean"),
            pence_column(&balances, "overdraft"),
        );
        for i in 0..balances.height() {
            let account = accounts[i].clone().unwrap();
            let a: usize = account[3..].parse().unwrap();
            let moved: i64 = case.rows.iter().filter(counted).filter(|r| r.account_id == account).map(|r| r.amount_pence).sum();
            prop_assert_eq!(end[i].unwrap(), case.opening[a] + moved);
            prop_assert_eq!(tainted[i].unwrap() + clean[i].unwrap() - od[i].unwrap(), end[i].unwrap());
        }
        let tainted_in: i64 = case.rows.iter().filter(|r| case.tainted.contains(&r.txn_id)).map(|r| r.amount_pence).sum();
        for f in t.forward(None).unwrap() {
            prop_assert_eq!(f.accounted_pence(), tainted_in, "{:?}", f.method);
        }
        // And origin by origin: each one's pence are paid out, repaid or held, exactly.
        for r in case.rows.iter().filter(|r| case.tainted.contains(&r.txn_id)) {
            for f in t.forward(Some(&r.txn_id)).unwrap() {
                prop_assert_eq!(f.accounted_pence(), r.amount_pence, "{} {:?}", r.txn_id, f.method);
            }
        }
    }

    /// FIFO, LIFO and pro rata (and Hallett and LIBR) agree when the account has had only
    /// one deposit: there is only one lot to take from, whatever the rule.
    #[test]
    fn every_method_agrees_with_one_deposit(
        deposit in 1i64..1_000_000,
        tainted in any::<bool>(),
        debits in prop::collection::vec(1i64..400_000, 1..10),
    ) {
        let mut rows = vec![row("D", "A", 1, 0, deposit, Channel::CashDeposit)];
        for (i, &d) in debits.iter().enumerate() {
            rows.push(row(&format!("W{i}"), "A", 2 + i as u64, 1 + i as u32, -d, Channel::Card));
        }
        let spec = if tainted { tainted_ids(&["D"]) } else { TaintSpec::default() };
        let t = run(&rows, &[], &spec);
        for i in 0..debits.len() {
            let b = t.backward(&format!("W{i}")).unwrap();
            let fifo = &b.methods[Method::Fifo.index()];
            for m in &b.methods[1..] {
                prop_assert_eq!((fifo.tainted_pence, fifo.clean_pence), (m.tainted_pence, m.clean_pence), "{:?}", m.method);
                prop_assert_eq!(&fifo.origins, &m.origins, "{:?}", m.method);
            }
        }
    }

    /// In a single account (no transfers in), at every point Hallett holds the most tainted
    /// money any method can (exactly the LIBR limit), and LIBR-as-elected (tainted out
    /// first) the least; FIFO, LIFO and pro rata lie between. Per withdrawal no such order
    /// holds (Hallett can pay out more tainted later precisely because it kept more), so
    /// it is asserted on what is held, which is the cumulative form.
    #[test]
    fn hallett_holds_most_and_libr_least_in_one_account(
        events in prop::collection::vec(event(1), 1..30),
        opening in -50_000i64..50_000,
        cut in 0usize..30,
    ) {
        let events: Vec<Event> = events.into_iter().take(cut.max(1)).collect();
        let case = build(&events, &[opening]);
        let t = run_case(&case);
        let held = end_tainted(&t, "ACC0");
        let (fifo, lifo, hallett, libr, pro_rata) = (held[0], held[1], held[2], held[3], held[4]);
        for m in [fifo, lifo, pro_rata] {
            prop_assert!(libr <= m && m <= hallett, "{:?}", held);
        }
    }
}

/// Feed the same events to one method's book, checking the LIBR limit at every step: the
/// tainted money held never exceeds the balance, nor the lowest balance since it went in
/// (tracked as `limit`: + each tainted deposit, then capped at the balance after each
/// debit; clean deposits never raise it).
fn check_limit<A: Allocator>(steps: &[(i64, bool)]) -> Result<(), TestCaseError> {
    let mut book = AccountBook::<A>::default();
    let mut limit: i64 = 0;
    let mut scratch = Vec::new();
    for &(pence, tainted) in steps {
        scratch.clear();
        if pence > 0 {
            let lot = if tainted {
                limit += pence;
                Lot {
                    origin: 0,
                    path: 0,
                    amount: pence,
                }
            } else {
                Lot::clean(pence)
            };
            book.credit(&[lot], &mut scratch);
        } else {
            book.debit(-pence, &mut scratch);
            limit = limit.min(book.balance().max(0));
        }
        let t = book.lots.tainted();
        prop_assert!(t >= 0);
        prop_assert!(
            t <= book.balance().max(0),
            "tainted {} > balance {}",
            t,
            book.balance()
        );
        prop_assert!(
            t <= limit,
            "tainted {} > lowest intermediate balance {}",
            t,
            limit
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// `tainted ≤ balance` and `tainted ≤ lowest intermediate balance` at every step, for
    /// LIBR and — since every method only moves money that is there — for the others too.
    #[test]
    fn tainted_never_exceeds_the_lowest_intermediate_balance(
        steps in prop::collection::vec((-300_000i64..300_000, any::<bool>()), 1..60),
    ) {
        let steps: Vec<(i64, bool)> = steps.into_iter().filter(|s| s.0 != 0).collect();
        check_limit::<Libr>(&steps)?;
        check_limit::<Fifo>(&steps)?;
        check_limit::<Lifo>(&steps)?;
        check_limit::<Hallett>(&steps)?;
        check_limit::<ProRata>(&steps)?;
    }
}

#[test]
fn frames_are_deterministic() {
    let a = multi_hop();
    let b = multi_hop();
    for (x, y) in [
        (a.flows_frame().unwrap(), b.flows_frame().unwrap()),
        (a.summary_frame().unwrap(), b.summary_frame().unwrap()),
        (a.balances_frame().unwrap(), b.balances_frame().unwrap()),
        (a.origins_frame().unwrap(), b.origins_frame().unwrap()),
    ] {
        assert_eq!(
            frame_to_csv("x", &x).unwrap(),
            frame_to_csv("x", &y).unwrap()
        );
    }
}

#[test]
fn all_credits_tainted_never_reclassifies_money_arriving_by_internal_transfer() {
    let dir = fixture("trace/multi-hop");
    let ledger = ledger_frame(&load_ledger(&dir.join("ledger.csv"))).unwrap();
    let transfers = string_frame(&dir.join("transfers.csv"));
    let spec = TaintSpec {
        all_credits_tainted: true,
        legitimate_counterparties: vec!["ACME LTD".into()],
        ..TaintSpec::default()
    };
    let t = trace(&TraceInput {
        ledger: &ledger,
        transfers: Some(&transfers),
        finding_evidence: None,
        spec: &spec,
    })
    .unwrap();
    // D2 and S2 are the credit ends of TR1 and TR2: their money is M1/M2/clean carried
    // from the debit, not new origins. D1 (ACME) is excluded and shown as excluded.
    assert_eq!(t.origin_txn_ids(), vec!["M1", "M2", "S1"]);
    let o = t.origins_frame().unwrap();
    assert_eq!(
        str_column(&o, "txn_id"),
        ["M1", "M2", "D1", "S1"]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect::<Vec<_>>()
    );
    let spec = tainted_ids(&["D2"]);
    let e = trace(&TraceInput {
        ledger: &ledger,
        transfers: Some(&transfers),
        finding_evidence: None,
        spec: &spec,
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("credit end of internal transfer TR1") && e.contains("M3"),
        "{e}"
    );
}

#[test]
fn a_transfer_whose_amounts_differ_is_scaled_exactly_with_a_note() {
    // A: +60 tainted, +40 clean, sends 100; B receives 90 (converted at a different rate).
    // Pro rata carries 60/40 → scaled to 90: 54.00 tainted, 36.00 clean. FIFO carries
    // [T 60, C 40] → 54/36 as well (the scaling is by amount, whatever the method).
    let rows = vec![
        row("T", "A", 1, 0, 60_00, Channel::CashDeposit),
        row("C", "A", 2, 0, 40_00, Channel::Transfer),
        row("D", "A", 3, 1, -100_00, Channel::Transfer),
        row("K", "B", 4, 1, 90_00, Channel::Transfer),
    ];
    let t = run(&rows, &[("D", "K")], &tainted_ids(&["T"]));
    assert_eq!(
        end_tainted(&t, "B"),
        vec![54_00, 54_00, 54_00, 54_00, 54_00]
    );
    let notes = t.notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].kind, "transfer_amounts_differ");
    assert!(notes[0].message.contains("100.00 left and 90.00 arrived"));
}

// ---------------------------------------------------------------------------------------
// Pro rata: the ordered implementation gives the figures of the stated rule exactly.
// ---------------------------------------------------------------------------------------

/// The rounding rule as written in `docs/tracing.md`, the slow way: every withdrawal splits
/// across the clean amount and every tainted lot (in order of arrival) with
/// [`apportion`](proceeds::trace::apportion); lots that reach zero are dropped.
#[derive(Default)]
struct ProRataByTheRule {
    clean: i64,
    lots: Vec<Lot>,
}

impl ProRataByTheRule {
    fn deposit(&mut self, lot: Lot) {
        if lot.is_clean() {
            self.clean += lot.amount;
        } else if let Some(held) = self.lots.iter_mut().find(|l| l.same_source(&lot)) {
            held.amount += lot.amount;
        } else {
            self.lots.push(lot);
        }
    }

    fn withdraw(&mut self, amount: i64) -> Vec<Lot> {
        let mut weights = vec![self.clean];
        weights.extend(self.lots.iter().map(|l| l.amount));
        let mut shares = Vec::new();
        proceeds::trace::apportion(amount, &weights, &mut shares);
        let mut out = Vec::new();
        if shares[0] > 0 {
            out.push(Lot::clean(shares[0]));
            self.clean -= shares[0];
        }
        for (lot, &share) in self.lots.iter_mut().zip(&shares[1..]) {
            if share > 0 {
                out.push(Lot {
                    amount: share,
                    ..*lot
                });
                lot.amount -= share;
            }
        }
        self.lots.retain(|l| l.amount > 0);
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Pro rata visits only the lots a withdrawal takes from, yet every split (and what is
    /// held after it) is the one the rule gives when every lot is weighed: same pence, same
    /// ties, same lots dropped. Small amounts make ties and zero shares common; hundreds of
    /// origins and mixed sizes exercise both ways of splitting (in order of size when few of
    /// 64 or more lots get a whole penny, else one pass), setting the order aside and
    /// rebuilding it, and compaction.
    #[test]
    fn pro_rata_gives_the_largest_remainder_split_over_every_lot(
        steps in prop::collection::vec(
            (0u32..400, prop_oneof![1i64..40, 1i64..400, 1i64..100_000], prop::bool::weighted(0.7)),
            1..600,
        ),
    ) {
        let mut fast = ProRata::default();
        let mut slow = ProRataByTheRule::default();
        let mut out = Vec::new();
        for &(origin, pence, deposit) in &steps {
            if deposit {
                // Every twentieth origin stands for clean money.
                let lot = if origin % 20 == 5 {
                    Lot::clean(pence)
                } else {
                    Lot { origin, path: origin % 2, amount: pence }
                };
                fast.deposit(lot);
                slow.deposit(lot);
            } else {
                let amount = pence.min(fast.funded());
                out.clear();
                fast.withdraw(amount, &mut out);
                let expected = if amount > 0 { slow.withdraw(amount) } else { Vec::new() };
                prop_assert_eq!(&out, &expected);
            }
            let mut held = Vec::new();
            fast.holdings(&mut held);
            let mut expected = Vec::new();
            if slow.clean > 0 {
                expected.push(Lot::clean(slow.clean));
            }
            expected.extend(slow.lots.iter().copied());
            prop_assert_eq!(held, expected);
            prop_assert_eq!(fast.tainted(), slow.lots.iter().map(|l| l.amount).sum::<i64>());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Money transfers between case accounts (fixtures/trace/msb-hop).
// ---------------------------------------------------------------------------------------

fn msb_hop_rows() -> Vec<TraceRow> {
    load_ledger(&fixture("trace/msb-hop").join("ledger.csv"))
}

fn msb_hop_spec() -> TaintSpec {
    toml::from_str(&std::fs::read_to_string(fixture("trace/msb-hop").join("tracing.toml")).unwrap())
        .unwrap()
}

/// The fixture, by hand (£). Kit Marlow's money-transfer account KM-QUICKCASH holds payouts
/// to him: K1 500 from his aunt (clean), K2 1,200 from A Victim and K4 800 from B Victim
/// (the origins). He sends K3 300 to someone outside the case, then K5 1,000 to Odile Brack
/// (MTCN 8800000005), paid out to her as O2 in OB-QUICKCASH, where O1 400 (clean) already
/// is; K6 is the fee. K7/O3 (MTCN 8800000006, 700) was cancelled: it never links and moves
/// no money. O4 sends 600 abroad: the destination.
///
/// KM-QUICKCASH [C 500, A 1,200], K3 −300, + B 800, K5 −1,000 (carried to O2):
/// - FIFO: K3 takes C 300; K5 takes C 200 + A 800 → carried {A 800, C 200}.
/// - LIFO: K3 takes A 300; K5 takes B 800 + A 200 → carried {A 200, B 800}.
/// - Hallett: K3 takes C 300; K5 takes C 200, then A 800 → carried {C 200, A 800}.
/// - LIBR: K3 takes A 300; K5 takes A 900 + B 100 → carried {A 900, B 100}.
/// - Pro rata (pence): K3 30,000 of [C 50,000, A 120,000]: 8,823.53 / 21,176.47 → the
///   penny to C (.53) → C 8,824, A 21,176; left C 41,176, A 98,824; + B 80,000 (Σ 220,000).
///   K5 100,000: C 18,716.36, A 44,920 exactly, B 36,363.64 → the penny to B (.64) →
///   carried {C 18,716, A 44,920, B 36,364}.
///
/// OB-QUICKCASH: O1 C 400, then O2 (the carried lots, origins in order, clean last); O4 −600:
/// - FIFO [C 400, A 800, C 200]: C 400 + A 200 → **200.00**.
/// - LIFO [C 400, A 200, B 800]: B 600 → **600.00**.
/// - Hallett: clean 600, tainted A 800: clean first → **0.00**.
/// - LIBR: tainted A 900, B 100 first: A 600 → **600.00**.
/// - Pro rata [C 58,716, A 44,920, B 36,364] (Σ 140,000), W 60,000: C 25,164 exactly,
///   A 19,251.43, B 15,584.57 → the penny to B (.57) → A 192.51 + B 155.85 = **348.36**.
///
/// Counted, the cancelled payout O3 (+700 clean, after O2) would be the latest money in
/// OB-QUICKCASH and LIFO would find O4 all clean; linked, the cancelled send K7 would carry
/// more of K2/K4 across.
#[test]
fn msb_hop_tainted_share_of_the_payment_abroad() {
    let t = run(&msb_hop_rows(), &[], &msb_hop_spec());
    assert_eq!(t.origin_txn_ids(), vec!["K2", "K4"]);
    assert_eq!(
        tainted_by_method(&t, "O4"),
        vec![200_00, 600_00, 0, 600_00, 348_36]
    );
    let o4 = t.backward("O4").unwrap();
    let origins = |m: Method| {
        o4.methods[m.index()]
            .origins
            .iter()
            .map(|o| (o.origin_txn_id.as_str(), o.path.as_str(), o.amount_pence))
            .collect::<Vec<_>>()
    };
    const PATH: &str = "KM-QUICKCASH>OB-QUICKCASH";
    assert_eq!(origins(Method::Fifo), vec![("K2", PATH, 200_00)]);
    assert_eq!(origins(Method::Lifo), vec![("K4", PATH, 600_00)]);
    assert_eq!(origins(Method::Hallett), vec![]);
    assert_eq!(origins(Method::Libr), vec![("K2", PATH, 600_00)]);
    assert_eq!(
        origins(Method::ProRata),
        vec![("K2", PATH, 192_51), ("K4", PATH, 155_85)]
    );
    // What crossed: the send is an internal transfer, tainted as worked above.
    assert_eq!(
        tainted_by_method(&t, "K5"),
        vec![800_00, 1_000_00, 800_00, 1_000_00, 812_84]
    );
    for f in t.forward(None).unwrap() {
        assert!(f
            .via_transfers
            .iter()
            .all(|d| d.kind == DestinationKind::InternalTransfer
                && d.txn_id.as_deref() == Some("K5")));
        // Every penny of K2 and K4 (2,000.00) is paid out or still held.
        assert_eq!(f.accounted_pence(), 2_000_00, "{:?}", f.method);
    }
    // Both txn_ids of the link are on record; the cancelled transfer is not linked.
    let notes = t.notes();
    let kinds: Vec<&str> = notes.iter().map(|n| n.kind).collect();
    assert_eq!(kinds, ["msb_transfer_linked"]);
    assert!(
        notes[0].message.contains("8800000005")
            && notes[0]
                .message
                .contains("send K5 from KM-QUICKCASH paid out as O2 in OB-QUICKCASH"),
        "{}",
        notes[0].message
    );
    // The cancelled rows moved no money: not a destination, not a question.
    let e = t.backward("K7").unwrap_err().to_string();
    assert!(e.contains("excluded") && e.contains("CANCELLED"), "{e}");
    let summary = t.summary_frame().unwrap();
    assert_eq!(
        str_column(&summary, "destination_txn_id"),
        vec![Some("O4".to_string())]
    );
}

/// Without the reference (MTCN) the send and the payout cannot be paired: O2 is an ordinary
/// clean credit and nothing tainted reaches O4 under any method.
#[test]
fn msb_hop_without_the_reference_is_not_followed() {
    let rows: Vec<TraceRow> = msb_hop_rows()
        .into_iter()
        .map(|r| TraceRow {
            bank_txn_id: None,
            ..r
        })
        .collect();
    let t = run(&rows, &[], &msb_hop_spec());
    assert_eq!(tainted_by_method(&t, "O4"), vec![0, 0, 0, 0, 0]);
    assert!(t.notes().is_empty(), "{:?}", t.notes());
}

/// Parties that disagree, or a reference shared by two sends, are not linked, with a note;
/// a cancelled row cannot be named as a destination or an origin.
#[test]
fn msb_links_are_refused_when_the_record_does_not_fit() {
    let mut rows = msb_hop_rows();
    let o2 = rows.iter_mut().find(|r| r.txn_id == "O2").unwrap();
    o2.counterparty_name = Some("Someone Else".into());
    let t = run(&rows, &[], &msb_hop_spec());
    assert_eq!(tainted_by_method(&t, "O4"), vec![0, 0, 0, 0, 0]);
    let notes = t.notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].kind, "msb_transfer_not_linked");
    assert!(
        notes[0]
            .message
            .contains("from Kit Marlow to Odile Brack but the payout is from Someone Else"),
        "{}",
        notes[0].message
    );

    let mut rows = msb_hop_rows();
    let k3 = rows.iter_mut().find(|r| r.txn_id == "K3").unwrap();
    k3.bank_txn_id = Some("8800000005".into());
    let t = run(&rows, &[], &msb_hop_spec());
    assert_eq!(tainted_by_method(&t, "O4"), vec![0, 0, 0, 0, 0]);
    assert_eq!(t.notes()[0].kind, "msb_transfer_not_linked");
    assert!(t.notes()[0].message.contains("sends K3, K5 and payouts O2"));

    let ledger = ledger_frame(&msb_hop_rows()).unwrap();
    for spec in [
        TaintSpec {
            destinations: vec!["K7".into()],
            ..TaintSpec::default()
        },
        tainted_ids(&["O3"]),
    ] {
        let e = trace(&TraceInput {
            ledger: &ledger,
            transfers: None,
            finding_evidence: None,
            spec: &spec,
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("excluded") && e.contains("moved no money"),
            "{e}"
        );
    }
}

/// The demo case through ingest and verification: Dorian Harlow's Quickcash send to Vesna
/// Harlow (MTCN 7310440002, line 3 of the MSB records: part 1 the send, part 2 the payout in
/// her EUR account) is followed; the amounts differ (900.00 GBP sent, 1,048.50 EUR paid out
/// at the case's rate), so the composition is scaled, with a note.
#[test]
fn demo_money_transfer_to_the_associate_is_followed() {
    use proceeds::case::{Case, ResolveOptions};
    use proceeds::ingest::{ingest_case, Registry};
    let case = Case::load(&fixture("demo/case.toml"), ResolveOptions::default()).unwrap();
    let ingested = ingest_case(&case, &Registry::for_case(&case).unwrap(), false).unwrap();
    let v = proceeds::verify::verify(&case, ingested.ledger, &ingested.statements, &case.verify)
        .unwrap();
    let spec = TaintSpec {
        all_credits_tainted: true,
        ..TaintSpec::default()
    };
    let t = trace(&TraceInput {
        ledger: &v.ledger,
        transfers: Some(&v.transfers),
        finding_evidence: None,
        spec: &spec,
    })
    .unwrap();
    let notes = t.notes();
    let linked: Vec<&str> = notes
        .iter()
        .filter(|n| n.kind.starts_with("msb") || n.message.contains("MSB"))
        .map(|n| n.message.as_str())
        .collect();
    assert_eq!(linked.len(), 2, "{linked:?}");
    assert!(
        linked[0].contains("money transfer 7310440002: send ")
            && linked[0].contains("-L3.1 from DH-QUICKCASH paid out as ")
            && linked[0].contains("-L3.2 in VH-QUICKCASH-EUR"),
        "{}",
        linked[0]
    );
    assert!(
        linked[1].contains("transfer MSB 7310440002: 900.00 left"),
        "{}",
        linked[1]
    );
    // The payout carries the send's composition: it is not an origin of its own.
    let payout = notes
        .iter()
        .find_map(|n| n.txn_id.clone().filter(|id| id.ends_with("-L3.2")))
        .unwrap();
    assert!(!t.origin_txn_ids().contains(&payout.as_str()));
}

#[test]
fn a_txn_id_used_twice_is_refused_by_name() {
    let rows = vec![
        row("K1", "A", 1, 1, 100_00, Channel::CashDeposit),
        row("K2", "A", 2, 2, -50_00, Channel::Transfer),
        row("K1", "B", 3, 2, 10_00, Channel::Transfer),
    ];
    let ledger = ledger_frame(&rows).unwrap();
    let e = trace(&TraceInput {
        ledger: &ledger,
        transfers: None,
        finding_evidence: None,
        spec: &tainted_ids(&["K2"]),
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("txn_id K1 appears twice"), "{e}");
}

/// The error the trace gives for `ledger`, K1 tainted.
fn refusal_tainting_k1(ledger: &DataFrame) -> String {
    trace(&TraceInput {
        ledger,
        transfers: None,
        finding_evidence: None,
        spec: &tainted_ids(&["K1"]),
    })
    .unwrap_err()
    .to_string()
}

#[test]
fn a_row_with_no_amount_at_all_is_refused_by_txn_id() {
    let rows = vec![
        row("K1", "A", 1, 1, 100_00, Channel::CashDeposit),
        row("K2", "A", 2, 2, -50_00, Channel::Transfer),
    ];
    let ledger = ledger_frame(&rows).unwrap();
    let money = ledger.column("amount").unwrap().dtype().clone();
    // Both amounts of K2 emptied: nothing says how much it moved.
    let emptied = |name: &str| {
        when(col("txn_id").eq(lit("K2")))
            .then(lit(NULL).cast(money.clone()))
            .otherwise(col(name))
            .alias(name)
    };
    let ledger = ledger
        .lazy()
        .with_columns([emptied("amount"), emptied("amount_base")])
        .collect()
        .unwrap();
    let e = refusal_tainting_k1(&ledger);
    assert!(
        e.contains("txn K2 has neither amount nor amount_base"),
        "{e}"
    );
}

#[test]
fn an_amount_with_a_fraction_of_a_penny_is_refused_naming_its_column_and_row() {
    let rows = vec![
        row("K1", "A", 1, 1, 100_00, Channel::CashDeposit),
        row("K2", "A", 2, 2, -50_00, Channel::Transfer),
    ];
    let ledger = ledger_frame(&rows).unwrap();
    // The base amounts at four places, K2's with a hundredth of a penny.
    let mut ledger = ledger;
    ledger
        .with_column(
            Int128Chunked::from_slice("amount_base".into(), &[100_0000, -50_0001])
                .into_decimal(18, 4)
                .unwrap()
                .into_column(),
        )
        .unwrap();
    let e = refusal_tainting_k1(&ledger);
    assert!(
        e.contains("column `amount_base` row 2 is not a whole number of pence within range"),
        "{e}"
    );
}
