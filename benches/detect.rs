//! Benchmark: every shipped detection rule over a generated ledger, against the time to
//! read the same ledger from parquet.
//!
//! ```text
//! cargo bench --bench detect                      # 1,000,000 rows (release profile)
//! cargo bench --bench detect -- 1000000 10000000  # several sizes
//! cargo bench --profile dev --bench detect        # without a release build of polars
//! ```
//!
//! The ledger has the canonical schema (`proceeds::ledger::schema`), 10,000 accounts (5% of
//! them businesses) controlled by 2,000 subjects, about two years of rows per account, and a
//! mix of channels, counterparties and amounts from a fixed-seed generator, so every run
//! sees the same data. Reported: rows per second for the full rule set, the parquet read
//! time, and their ratio (the target is rules ≤ 3 × parquet read).

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use polars::prelude::*;
use proceeds::case::{Account, AccountKind, Case, Subject, SubjectRole};
use proceeds::rules::{self, Reference};

const ACCOUNTS: usize = 10_000;
const SUBJECTS: usize = 2_000;

/// xorshift64*: small, fast, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn case() -> Case {
    let business_types = ["car_wash", "cafe", "takeaway", "barber", "nail_bar"];
    Case {
        path: "bench/case.toml".into(),
        dir: "bench".into(),
        reference: "BENCH".into(),
        title: None,
        base_currency: "GBP".into(),
        jurisdiction: "uk-poca-2002".into(),
        lifestyle: true,
        investigator: None,
        proceedings_started: NaiveDate::from_ymd_opt(2025, 3, 14).unwrap(),
        conviction: None,
        valuation: None,
        subjects: (0..SUBJECTS)
            .map(|i| Subject {
                id: format!("S{i:04}"),
                name: format!("Person {} Surname{}", i, i % 700),
                role: if i == 0 {
                    SubjectRole::Defendant
                } else {
                    SubjectRole::Associate
                },
                date_of_birth: None,
                address: Some(format!("{} High Street", i % 1500)),
                phone: None,
                aliases: Vec::new(),
            })
            .collect(),
        accounts: (0..ACCOUNTS)
            .map(|i| {
                let business = i % 20 == 0;
                Account {
                    id: format!("A{i:05}"),
                    holder: format!("Holder {i}"),
                    bank: "Bench Bank".into(),
                    sort_code: Some("309457".into()),
                    account_number: Some(format!("{:08}", i)),
                    iban: None,
                    currency: "GBP".into(),
                    kind: if business {
                        AccountKind::Business
                    } else {
                        AccountKind::Personal
                    },
                    business_type: business.then(|| business_types[i % 5].to_string()),
                    controlled_by: vec![format!("S{:04}", i % SUBJECTS)],
                }
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

/// A ledger of `n` rows in canonical order (account, then date).
fn ledger(n: usize) -> PolarsResult<DataFrame> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let per_account = n.div_ceil(ACCOUNTS);
    let start = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap();
    let channels = [
        ("card", 40u64),
        ("transfer", 30),
        ("cash_deposit", 10),
        ("cash_withdrawal", 5),
        ("direct_debit", 10),
        ("msb_send", 3),
        ("standing_order", 2),
    ];
    let total_weight: u64 = channels.iter().map(|c| c.1).sum();
    let mut txn_id = Vec::with_capacity(n);
    let mut account_id = Vec::with_capacity(n);
    let mut source_line = Vec::with_capacity(n);
    let mut date = Vec::with_capacity(n);
    let mut amount = Vec::with_capacity(n);
    let mut channel = Vec::with_capacity(n);
    let mut counterparty = Vec::with_capacity(n);
    let mut counterparty_account: Vec<Option<String>> = Vec::with_capacity(n);
    let mut description = Vec::with_capacity(n);
    let mut location: Vec<Option<&str>> = Vec::with_capacity(n);
    let branches = [
        "LEEDS KIRKGATE",
        "LEEDS BRIGGATE",
        "WAKEFIELD",
        "BRADFORD",
        "YORK",
    ];
    'outer: for a in 0..ACCOUNTS {
        let mut days: Vec<i64> = (0..per_account).map(|_| rng.below(730) as i64).collect();
        days.sort_unstable();
        for d in days {
            if txn_id.len() == n {
                break 'outer;
            }
            let i = txn_id.len();
            let mut pick = rng.below(total_weight);
            let mut ch = "other";
            for (name, w) in channels {
                if pick < w {
                    ch = name;
                    break;
                }
                pick -= w;
            }
            // Mostly everyday amounts (£1 to £300), sometimes larger (to about £30,000).
            let magnitude = match rng.below(100) {
                0..=69 => 100,
                70..=94 => 10_000,
                95..=98 => 100_000,
                _ => 1_000_000,
            };
            let pence = (magnitude + rng.below(magnitude * 2)) as i128;
            let credit = matches!(ch, "cash_deposit") || (ch == "transfer" && rng.below(2) == 0);
            txn_id.push(format!("0000bench000-L{}", i + 2));
            account_id.push(format!("A{a:05}"));
            source_line.push(i as u32 + 2);
            date.push(start + chrono::Duration::days(d));
            amount.push(if credit { pence } else { -pence });
            channel.push(ch);
            // Each account deals mostly with its own circle of 30 counterparties.
            let cp = if rng.below(10) == 0 {
                format!("COUNTERPARTY {}", rng.below(50_000))
            } else {
                format!("COUNTERPARTY {}", (a as u64 * 7 + rng.below(30)) % 50_000)
            };
            description.push(format!("{} {}", ch.to_uppercase(), cp));
            counterparty.push(cp);
            counterparty_account.push(if ch == "transfer" && rng.below(500) == 0 {
                Some("IR06 0170 0000 0012 3456 7890 01".to_string())
            } else if ch == "transfer" {
                Some(format!("{:08}", rng.below(100_000_000)))
            } else {
                None
            });
            location.push((ch == "cash_deposit").then(|| branches[rng.below(5) as usize]));
        }
    }
    let rows = txn_id.len();
    let money = |name: &str, v: &[i128]| -> PolarsResult<Column> {
        let ca = Int128Chunked::from_iter_values(name.into(), v.iter().copied());
        Ok(ca.into_decimal(18, 2)?.into_series().into_column())
    };
    let none_str = |name: &str| Column::full_null(name.into(), rows, &DataType::String);
    let columns = vec![
        Column::new("txn_id".into(), txn_id),
        Column::new("account_id".into(), account_id),
        Column::new("source_file".into(), vec!["statements/bench.csv"; rows]),
        Column::new("source_sha256".into(), vec!["0000bench000"; rows]),
        Column::new("source_line".into(), source_line),
        Column::new("exhibit".into(), vec!["AE/1"; rows]),
        Column::new("seq".into(), (1..=rows as u64).collect::<Vec<u64>>()),
        Series::new("booking_date".into(), date.as_slice()).into_column(),
        Column::full_null("value_date".into(), rows, &DataType::Date),
        money("amount", &amount)?,
        Column::new("currency".into(), vec!["GBP"; rows]),
        money("amount_base", &amount)?,
        Column::full_null("balance".into(), rows, &DataType::Decimal(18, 2)),
        Column::new("channel".into(), channel),
        Column::new("counterparty_name".into(), counterparty),
        Column::new("counterparty_account".into(), counterparty_account),
        Column::new("description".into(), description),
        Column::new("location".into(), location),
        none_str("bank_type"),
        none_str("bank_txn_id"),
        none_str("booking_time"),
        Column::new("reversal".into(), vec![false; rows]),
    ];
    // The money-transfer columns (party_*, counterparty_country) and excluded_reason stay
    // empty here: a bank ledger. Taken from the schema so the bench follows it.
    let mut df = DataFrame::new(rows, columns)?;
    for (name, dtype) in proceeds::ledger::schema() {
        if df.column(name).is_err() {
            df.with_column(Column::full_null(name.into(), rows, &dtype))?;
        }
    }
    Ok(df)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

/// True when run by `cargo test --benches` (cargo passes `--bench` only to `cargo bench`):
/// then a small size is used, so CI sees that the benchmark still runs.
fn smoke() -> bool {
    !std::env::args().any(|a| a == "--bench")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace('_', "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![if smoke() { 20_000 } else { 1_000_000 }]
    } else {
        sizes
    };
    let case = case();
    let reference = Reference::shipped()?;
    let rules = rules::shipped_rules()?;
    println!(
        "detect benchmark: {} shipped rules, {} accounts, {} cores{}",
        rules.len(),
        ACCOUNTS,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if cfg!(debug_assertions) {
            " (debug assertions on: not a release build)"
        } else {
            ""
        }
    );
    let dir = tempfile::tempdir()?;
    for n in sizes {
        let t = Instant::now();
        let mut df = ledger(n)?;
        let generated = t.elapsed();
        let path = dir.path().join(format!("ledger_{n}.parquet"));
        ParquetWriter::new(std::fs::File::create(&path)?)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(&mut df)?;
        drop(df);
        let runs = if n > 2_000_000 { 1 } else { 3 };
        let (read, ledger) = best_of(runs, || {
            ParquetReader::new(std::fs::File::open(&path).expect("parquet file"))
                .finish()
                .expect("parquet read")
        });
        let (detect, findings) = best_of(runs, || {
            rules::run_rules(&ledger, &case, &rules, &reference).expect("rules run")
        });
        let size_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
        println!(
            "{n:>11} rows (generated in {:.1} s, parquet {size_mb:.0} MB): read parquet {:.3} s; \
             all rules {:.3} s = {:.0} rows/s; rules ÷ read = {:.1}; {} findings, {} evidence rows",
            generated.as_secs_f64(),
            read.as_secs_f64(),
            detect.as_secs_f64(),
            n as f64 / detect.as_secs_f64(),
            detect.as_secs_f64() / read.as_secs_f64(),
            findings.findings.height(),
            findings.evidence.height(),
        );
        for r in &findings.rules {
            print!("{} {}  ", r.id, r.findings);
        }
        println!();
        // Per rule, to see where the time goes.
        if std::env::var("PROCEEDS_BENCH_PER_RULE").is_ok() {
            let (prep, _) = best_of(1, || {
                rules::prepare::prepare(&ledger, &case).expect("prepare")
            });
            println!("    shared preparation {:.3} s", prep.as_secs_f64());
            for rule in &rules {
                let one = std::slice::from_ref(rule);
                let (t, _) = best_of(1, || {
                    rules::run_rules(&ledger, &case, one, &reference).expect("rule")
                });
                println!(
                    "    {:<8} {:.3} s ({:.3} s without the preparation)",
                    rule.id,
                    t.as_secs_f64(),
                    (t.as_secs_f64() - prep.as_secs_f64()).max(0.0)
                );
            }
        }
    }
    Ok(())
}
