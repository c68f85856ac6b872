//! Benchmark: internal-transfer matching (`proceeds::verify::transfers::match_transfers`)
//! over generated ledgers, printing rows per second and time / (n log2 n) for each size, so
//! that O(n log n) scaling (not pairwise, O(n^2)) can be seen by comparing sizes.
//!
//! ```sh
//! cargo bench --bench verify_transfers                        # 1,000,000 rows (release)
//! cargo bench --profile dev --bench verify_transfers -- 100000 1000000
//! ```
//!
//! The generated case has 2,000 accounts (5% in EUR), about 1,370 rows a day (two years at
//! 1,000,000 rows; `PROCEEDS_BENCH_DENSITY=fixed-span` puts every size in two years, so that
//! the days grow busier with size and the per-debit candidate limit is reached): a fifth of them
//! are the two sides of internal transfers (the debit names the credit account's sort code
//! and number), the rest are card, cash and external transfer payments with many repeated
//! round amounts (£10, £20, £50, £100), which is what makes naive equi-joins on amount blow up.
//! Generation is deterministic (a fixed linear congruential generator); only matching is
//! timed, best of `PROCEEDS_BENCH_REPEAT` (default 3) runs.

use std::time::Instant;

use chrono::NaiveDate;
use polars::prelude::*;
use proceeds::case::{Account, AccountKind, Case, Subject, SubjectRole};
use proceeds::ledger::{Channel, LedgerBuilder, LedgerRow, Provenance};
use proceeds::verify::transfers::match_transfers;
use proceeds::verify::{CounterpartyRules, VerifyOptions};
use rust_decimal::Decimal;

const ACCOUNTS: usize = 2_000;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn case() -> Case {
    Case {
        path: "bench/case.toml".into(),
        dir: "bench".into(),
        reference: "BENCH".into(),
        title: None,
        base_currency: "GBP".into(),
        jurisdiction: "uk-poca-2002".into(),
        lifestyle: true,
        investigator: None,
        proceedings_started: NaiveDate::from_ymd_opt(2025, 3, 14).unwrap_or_default(),
        conviction: None,
        valuation: None,
        subjects: vec![Subject {
            id: "S".into(),
            name: "Bench Subject".into(),
            role: SubjectRole::Defendant,
            date_of_birth: None,
            address: None,
            phone: None,
            aliases: Vec::new(),
        }],
        accounts: (0..ACCOUNTS)
            .map(|i| Account {
                id: format!("ACC-{i:04}"),
                holder: format!("Holder {}", i / 3),
                bank: "Generated Bank".into(),
                sort_code: Some(format!("{:06}", 100_000 + i)),
                account_number: Some(format!("{:08}", 20_000_000 + i)),
                iban: None,
                currency: if i % 20 == 19 {
                    "EUR".into()
                } else {
                    "GBP".into()
                },
                kind: AccountKind::Personal,
                business_type: None,
                controlled_by: vec!["S".into()],
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

/// A ledger of about `n` rows with a counterparty key column, as verify leaves it.
fn ledger(case: &Case, n: usize, days: u64, rng: &mut Lcg) -> (DataFrame, usize) {
    let start = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or_default();
    let provenance: Vec<Provenance> = (0..ACCOUNTS)
        .map(|i| Provenance {
            source_index: i as u32 + 1,
            source_file: format!("statements/acc{i:04}.csv"),
            source_sha256: format!("{i:012}{}", "0".repeat(52)),
            exhibit: None,
        })
        .collect();
    let mut b = LedgerBuilder::new();
    let mut keys: Vec<(u32, u32, Option<String>)> = Vec::with_capacity(n);
    let mut line = vec![1u32; ACCOUNTS];
    let mut planted = 0;
    let mut push = |b: &mut LedgerBuilder,
                    acc: usize,
                    day: u64,
                    pence: i64,
                    channel: Channel,
                    cp: Option<(String, String)>,
                    keys: &mut Vec<(u32, u32, Option<String>)>| {
        let a = &case.accounts[acc];
        line[acc] += 1;
        let amount = Decimal::new(pence, 2);
        let amount_base = if a.currency == "GBP" {
            amount
        } else {
            (amount * Decimal::new(85, 2)).round_dp(2)
        };
        let (name, number) = match cp {
            Some((n, k)) => (Some(n), Some(k)),
            None => (None, None),
        };
        keys.push((
            acc as u32,
            line[acc],
            name.as_ref().map(|n| n.to_uppercase()),
        ));
        b.push(
            acc as u32,
            &provenance[acc],
            LedgerRow {
                account_id: a.id.clone(),
                source_line: line[acc],
                sub: 0,
                order_in_source: u64::from(line[acc]),
                booking_date: start + chrono::Days::new(day),
                value_date: None,
                amount,
                currency: a.currency.clone(),
                amount_base: Some(amount_base),
                balance: None,
                channel,
                counterparty_name: name,
                counterparty_account: number,
                description: format!("GENERATED {}", line[acc]),
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
    };
    let round = [1_000, 2_000, 5_000, 10_000];
    while keys.len() < n {
        let day = rng.below(days);
        if rng.below(10) < 1 {
            // An internal transfer: both sides, same currency, credited 0-2 days later.
            let from = rng.below(ACCOUNTS as u64) as usize;
            let mut to = rng.below(ACCOUNTS as u64) as usize;
            if to == from || case.accounts[to].currency != case.accounts[from].currency {
                to = (from + 1) % ACCOUNTS;
                if case.accounts[to].currency != case.accounts[from].currency {
                    continue;
                }
            }
            let pence = 100 * (1 + rng.below(2_000) as i64);
            let target = &case.accounts[to];
            let cp = (
                target.holder.clone(),
                format!(
                    "{} {}",
                    target.sort_code.clone().unwrap_or_default(),
                    target.account_number.clone().unwrap_or_default()
                ),
            );
            push(
                &mut b,
                from,
                day,
                -pence,
                Channel::Transfer,
                Some(cp),
                &mut keys,
            );
            push(
                &mut b,
                to,
                day + rng.below(3),
                pence,
                Channel::Transfer,
                None,
                &mut keys,
            );
            planted += 1;
        } else {
            let acc = rng.below(ACCOUNTS as u64) as usize;
            let pence = if rng.below(10) < 4 {
                round[rng.below(4) as usize]
            } else {
                1 + rng.below(200_000) as i64
            };
            let (channel, sign) = match rng.below(10) {
                0..=3 => (Channel::Card, -1),
                4 => (Channel::CashWithdrawal, -1),
                5..=7 => (Channel::Transfer, -1),
                _ => (Channel::Transfer, 1),
            };
            let cp = (channel == Channel::Transfer).then(|| {
                (
                    format!("EXTERNAL PARTY {}", rng.below(50_000)),
                    format!(
                        "{:06} {:08}",
                        900_000 + rng.below(99_999),
                        rng.below(99_999_999)
                    ),
                )
            });
            push(&mut b, acc, day, sign * pence, channel, cp, &mut keys);
        }
    }
    let mut df = match b.finish() {
        Ok(df) => df,
        Err(e) => panic!("building the generated ledger: {e}"),
    };
    // The counterparty_key column, in the ledger's canonical order: by txn id.
    let mut by_txn: std::collections::HashMap<String, Option<String>> = keys
        .into_iter()
        .map(|(acc, line, key)| {
            (
                proceeds::ledger::txn_id(&provenance[acc as usize].source_sha256, line, 0),
                key,
            )
        })
        .collect();
    let ids: Vec<String> = df
        .column("txn_id")
        .and_then(|c| c.str().cloned())
        .map(|ca| {
            ca.iter()
                .map(|s| s.unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let key_col: Vec<Option<String>> = ids.iter().map(|id| by_txn.remove(id).flatten()).collect();
    if let Err(e) = df.with_column(Column::new("counterparty_key".into(), key_col)) {
        panic!("adding counterparty_key: {e}");
    }
    (df, planted)
}

/// Days the generated rows span. `PROCEEDS_BENCH_DENSITY=fixed-span` keeps two years
/// whatever the size (so days get busier as rows grow); the default keeps about 1,370 rows
/// a day (two years at 1,000,000 rows), so a bigger case has a longer history.
fn span_days(n: usize) -> u64 {
    match std::env::var("PROCEEDS_BENCH_DENSITY").as_deref() {
        Ok("fixed-span") => 730,
        _ => ((n as u64) / 1_370).max(7),
    }
}

/// True when run by `cargo test --benches` (cargo passes `--bench` only to `cargo bench`):
/// then a small size is used, so CI sees that the benchmark still runs.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![if smoke() { 20_000 } else { 1_000_000 }]
    } else {
        sizes
    };
    let case = case();
    let rules = match CounterpartyRules::shipped() {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let options = VerifyOptions::default();
    let repeat: usize = std::env::var("PROCEEDS_BENCH_REPEAT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    println!(
        "verify_transfers: {ACCOUNTS} accounts, window {} days, FX tolerance {}, best of {repeat} timings",
        options.transfer_window_days, options.fx_tolerance
    );
    println!(
        "{:>10} {:>6} {:>9} {:>9} {:>11} {:>7} {:>9} {:>12} {:>14}",
        "rows",
        "days",
        "planted",
        "matched",
        "candidates",
        "capped",
        "seconds",
        "rows/second",
        "ns/(n log2 n)"
    );
    for n in sizes {
        let mut rng = Lcg(0x5eed_0000_0000_0001);
        let days = span_days(n);
        let (df, planted) = ledger(&case, n, days, &mut rng);
        let rows = df.height();
        // Best of several timings: the machine may be shared, and the best run is the one
        // least disturbed by others.
        let mut best = f64::INFINITY;
        let mut result = None;
        for _ in 0..repeat {
            let t0 = Instant::now();
            let m = match match_transfers(&case, &df, rules, &options) {
                Ok(m) => m,
                Err(e) => panic!("matching: {e}"),
            };
            best = best.min(t0.elapsed().as_secs_f64());
            result = Some(m);
        }
        let Some(matched) = result else { return };
        let secs = best;
        let nlogn = rows as f64 * (rows as f64).log2();
        println!(
            "{rows:>10} {days:>6} {planted:>9} {:>9} {:>11} {:>7} {secs:>9.3} {:>12.0} {:>14.2}",
            matched.transfers.len(),
            matched.candidates,
            matched.capped_debits,
            rows as f64 / secs,
            secs * 1e9 / nlogn
        );
    }
}
