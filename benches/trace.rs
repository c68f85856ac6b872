//! Tracing benchmark: 1,000,000 generated ledger rows across 1,000 accounts, every method.
//!
//! Run: `cargo bench --bench trace` (release profile). `TRACE_BENCH_ROWS` changes the size.
//! Data: deterministic (xorshift, fixed seed). One year of rows in date order; 40% ordinary
//! credits (a quarter of them cash deposits, which are the tainted origins), 45% debits,
//! 15% transfers between two random accounts matched in an internal-transfers frame.
//! Prints rows/second for preparation and for each method, the time to build the output
//! frames and the flow rows each method writes.
//!
//! Then a cash business (`TRACE_BENCH_SMALL_LOTS` deposit/payment pairs, default 20,000; 0
//! skips it): one account with £2,000,000 of clean money, small tainted cash deposits (each
//! an origin) and small card payments. Pro rata holds every origin, so the account holds
//! tens of thousands of lots, of which a card payment owes a whole penny to almost none.

use std::time::Instant;

use chrono::NaiveDate;
use proceeds::ledger::Channel;
use proceeds::trace::input::{ledger_frame, transfers_frame, TraceRow};
use proceeds::trace::{trace, ChannelTaint, Method, TaintSpec, TraceInput};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// True when run by `cargo test --benches` (cargo passes `--bench` only to `cargo bench`):
/// then a small size is used, so CI sees that the benchmark still runs.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn main() {
    let target: usize = std::env::var("TRACE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke() { 10_000 } else { 1_000_000 });
    let accounts = 1_000u64;
    let start = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut rows: Vec<TraceRow> = Vec::with_capacity(target + 1);
    let mut pairs: Vec<(String, String)> = Vec::new();
    let push = |rows: &mut Vec<TraceRow>, account: u64, pence: i64, channel: Channel| {
        let seq = rows.len() as u64 + 1;
        let day = (rows.len() as u64 * 365 / target as u64) as i64;
        let id = format!("T{seq}");
        rows.push(TraceRow {
            counterparty_name: Some(format!("CP{}", account % 97)),
            ..TraceRow::new(
                &id,
                &format!("ACC{account:04}"),
                seq,
                start + chrono::Duration::days(day),
                pence,
                channel,
            )
        });
        id
    };
    while rows.len() < target {
        let account = rng.below(accounts);
        let pence = 1 + rng.below(200_000) as i64;
        let kind = rng.below(100);
        if kind < 40 {
            let channel = if rng.below(4) == 0 {
                Channel::CashDeposit
            } else {
                Channel::Transfer
            };
            push(&mut rows, account, pence, channel);
        } else if kind < 85 || rows.len() + 2 > target {
            let channel = [Channel::Card, Channel::CashWithdrawal, Channel::DirectDebit]
                [rng.below(3) as usize];
            push(&mut rows, account, -pence, channel);
        } else {
            let to = (account + 1 + rng.below(accounts - 1)) % accounts;
            let d = push(&mut rows, account, -pence, Channel::Transfer);
            let c = push(&mut rows, to, pence, Channel::Transfer);
            pairs.push((d, c));
        }
    }
    let t0 = Instant::now();
    let ledger = ledger_frame(&rows).unwrap();
    let pair_refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(d, c)| (d.as_str(), c.as_str()))
        .collect();
    let transfers = transfers_frame(&pair_refs).unwrap();
    let build = t0.elapsed();
    drop(rows);
    let spec = TaintSpec {
        elected_method: Some(Method::ProRata),
        tainted_channels: vec![ChannelTaint {
            channel: Channel::CashDeposit,
            after: None,
            until: None,
            accounts: Vec::new(),
        }],
        ..TaintSpec::default()
    };
    let t1 = Instant::now();
    let result = trace(&TraceInput {
        ledger: &ledger,
        transfers: Some(&transfers),
        finding_evidence: None,
        spec: &spec,
    })
    .unwrap();
    let total = t1.elapsed();
    let n = result.rows() as f64;
    println!(
        "trace bench: {} rows, {} accounts, {} transfers, {} tainted origins (frames built in {:.2?})",
        result.rows(),
        accounts,
        pairs.len(),
        result.origin_txn_ids().len(),
        build
    );
    for (step, took) in result.timings() {
        println!(
            "  {step:<9} {:>9.3} s  {:>12.0} rows/s",
            took.as_secs_f64(),
            n / took.as_secs_f64()
        );
    }
    println!(
        "  all       {:>9.3} s  {:>12.0} rows/s (prepare + five methods)",
        total.as_secs_f64(),
        n / total.as_secs_f64()
    );
    let t2 = Instant::now();
    let flows = result.flows_frame().unwrap();
    let summary = result.summary_frame().unwrap();
    let balances = result.balances_frame().unwrap();
    println!(
        "  frames    {:>9.3} s  (flows {} rows, summary {} rows, balances {} rows)",
        t2.elapsed().as_secs_f64(),
        flows.height(),
        summary.height(),
        balances.height()
    );
    let methods = flows.column("method").unwrap().str().unwrap();
    for m in Method::ALL {
        let rows = methods.iter().filter(|v| *v == Some(m.as_str())).count();
        println!("  flows     {:<9} {rows:>9} rows", m.as_str());
    }
    let pairs: usize = std::env::var("TRACE_BENCH_SMALL_LOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    if pairs > 0 {
        small_lots(pairs);
    }
}

/// A cash business: one account with a large clean balance, many small tainted cash
/// deposits (each its own origin) and many small card payments. Under pro rata every origin
/// stays in the account, so the account holds tens of thousands of lots, and a card payment
/// of a few pounds owes a whole penny to almost none of them.
fn small_lots(pairs: usize) {
    let start = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut rows: Vec<TraceRow> = Vec::with_capacity(2 * pairs);
    for i in 0..pairs {
        let day = start + chrono::Duration::days((i * 365 / pairs) as i64);
        let deposit = 100 + rng.below(4_900) as i64;
        let payment = 1 + rng.below(2_000) as i64;
        for (n, pence, channel) in [
            (2 * i, deposit, Channel::CashDeposit),
            (2 * i + 1, -payment, Channel::Card),
        ] {
            let mut row = TraceRow::new(
                &format!("S{n}"),
                "CASHBIZ",
                n as u64 + 1,
                day,
                pence,
                channel,
            );
            if n == 0 {
                // £2,000,000 of clean money already there.
                row.balance_pence = Some(200_000_000 + pence);
            }
            rows.push(row);
        }
    }
    let ledger = ledger_frame(&rows).unwrap();
    let spec = TaintSpec {
        tainted_channels: vec![ChannelTaint {
            channel: Channel::CashDeposit,
            after: None,
            until: None,
            accounts: Vec::new(),
        }],
        ..TaintSpec::default()
    };
    let result = trace(&TraceInput {
        ledger: &ledger,
        transfers: None,
        finding_evidence: None,
        spec: &spec,
    })
    .unwrap();
    let flows = result.flows_frame().unwrap();
    println!(
        "small lots: {} rows in one account, {} tainted origins, {} flow rows",
        result.rows(),
        result.origin_txn_ids().len(),
        flows.height()
    );
    for (step, took) in result.timings() {
        if !step.starts_with(' ') {
            println!("  {step:<9} {:>9.3} s", took.as_secs_f64());
        }
    }
}
