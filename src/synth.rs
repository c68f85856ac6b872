//! A labelled synthetic case: a complete case folder an investigator (or a benchmark) can
//! run at once, with the typologies it contains written to a separate labels file.
//!
//! `proceeds synth --out DIR --seed S` writes `case.toml`, one statement per account in
//! the shipped UK layouts (weighted like real disclosures: mostly Lloyds-style CSV),
//! reference data, and `labels.csv` naming every injected row by file and line:
//! structuring episodes (cash deposits just under £10,000 within a week), money-mule
//! accounts (many unrelated senders, most of it out again within a day), cash-intensive
//! front businesses (cash far above declared turnover), internal transfers between one
//! subject's accounts, and decoys that must not be mistaken for them (a single large
//! declared cash deposit, a student paid by many friends who keeps and spends the money,
//! a cash business whose cash matches its declared turnover).
//!
//! Everything is fictional and deterministic per seed: the generator has its own
//! pseudo-random sequence (SplitMix64) so output does not change with a dependency's
//! version. Accounts are generated and written one at a time, and labels are written as
//! they are made, so memory stays bounded by one account's rows (plus a line of `case.toml`
//! per account) whatever the total size.
//!
//! The case also names a fictional price index and a `[tracing]` table (cash deposits and
//! the evidence rows of the structuring and mule rules are tainted), so `proceeds run` runs
//! every stage. The typologies' shapes are [`TypologyParams`], so detection quality can be
//! measured on cases the rules were not written against; [`score`] compares a run's
//! findings with the labels.

pub mod score;

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use chrono::{Datelike, Days, NaiveDate};

/// Settings of a synthetic case.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub out: PathBuf,
    pub seed: u64,
    pub accounts: usize,
    pub months: u32,
    /// Approximate total number of transactions; `None`: about 60 per account per month.
    pub rows: Option<u64>,
    /// The shapes of the injected typologies.
    pub typology: TypologyParams,
}

/// The shapes of the injected typologies. The defaults are the generator's original
/// constants; varying them measures how detection holds up on cases it was not tuned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypologyParams {
    /// Cash deposits in a structuring episode: this many, or one more.
    pub structuring_deposits: u64,
    /// Days between the deposits of an episode.
    pub structuring_gap_days: u64,
    /// Lowest structured deposit in pounds (the highest is £9,900).
    pub structuring_low_pounds: u64,
    /// Fewest senders paying into a mule account (up to 14 more).
    pub mule_senders: u64,
    /// Percent of a mule's receipts paid out again.
    pub mule_out_percent: i64,
    /// Days from the receipts to the payment out.
    pub mule_dwell_days: u64,
    /// Percent of a front business's takings paid in as cash.
    pub front_cash_percent: u64,
    /// A front's declared turnover as a percent of the cash it banked.
    pub front_declared_percent: i64,
}

impl Default for TypologyParams {
    fn default() -> Self {
        TypologyParams {
            structuring_deposits: 3,
            structuring_gap_days: 2,
            structuring_low_pounds: 8_100,
            mule_senders: 12,
            mule_out_percent: 95,
            mule_dwell_days: 1,
            front_cash_percent: 85,
            front_declared_percent: 20,
        }
    }
}

impl TypologyParams {
    fn check(&self) -> Result<(), SynthError> {
        let bad = |m: &str| Err(SynthError::Settings(m.to_string()));
        if !(1..=20).contains(&self.structuring_deposits) {
            return bad("--structuring-deposits must be between 1 and 20");
        }
        if self.structuring_gap_days > 30 {
            return bad("--structuring-gap-days must be at most 30");
        }
        if !(1..=9_900).contains(&self.structuring_low_pounds) {
            return bad("--structuring-low-pounds must be between 1 and 9900");
        }
        if !(1..=500).contains(&self.mule_senders) {
            return bad("--mule-senders must be between 1 and 500");
        }
        if !(0..=100).contains(&self.mule_out_percent) {
            return bad("--mule-out-percent must be between 0 and 100");
        }
        if self.mule_dwell_days > 60 {
            return bad("--mule-dwell-days must be at most 60");
        }
        if self.front_cash_percent > 100 {
            return bad("--front-cash-percent must be at most 100");
        }
        if !(0..=1_000).contains(&self.front_declared_percent) {
            return bad("--front-declared-percent must be between 0 and 1000");
        }
        Ok(())
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    pub accounts: usize,
    pub rows: u64,
    pub labels: u64,
    pub files: usize,
}

/// Why a synthetic case could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Settings(String),
}

/// SplitMix64: small, fast and fixed forever, so a seed always gives the same case.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Uniform pence in `lo..=hi` pounds.
    fn pounds(&mut self, lo: u64, hi: u64) -> i64 {
        (lo * 100 + self.below((hi - lo) * 100 + 1)) as i64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const FIRST: &[&str] = &[
    "Alex", "Bryony", "Callum", "Delia", "Eamon", "Farah", "Gareth", "Hana", "Idris", "Jolene",
    "Kasia", "Lewis", "Maren", "Nico", "Orla", "Piotr", "Quinn", "Rhian", "Soren", "Tamsin",
    "Umar", "Vesna", "Wyn", "Ximena", "Yusuf", "Zora",
];
const LAST: &[&str] = &[
    "Ashdown",
    "Brackley",
    "Corran",
    "Dunmore",
    "Elstow",
    "Fenwick",
    "Garside",
    "Holloway",
    "Ingram",
    "Jessop",
    "Kettering",
    "Lomax",
    "Marchant",
    "Northey",
    "Ormerod",
    "Pryce",
    "Quarrie",
    "Rudd",
    "Stennett",
    "Thwaite",
    "Underhill",
    "Vane",
    "Whitlock",
    "Yardley",
];
const SHOPS: &[&str] = &[
    "TESCO STORES",
    "SAINSBURYS S/MKT",
    "ASDA SUPERSTORE",
    "GREGGS",
    "BOOTS",
    "SHELL GARAGE",
    "CO-OP FOOD",
    "ALDI",
    "AMAZON MARKETPLACE",
    "TRAINLINE",
];
const BILLS: &[&str] = &[
    "OCTOPUS ENERGY",
    "BRITISH GAS",
    "SKY DIGITAL",
    "COUNCIL TAX",
    "VODAFONE LTD",
];
const EMPLOYERS: &[&str] = &[
    "NORTHGATE LOGISTICS",
    "PENNINE CARE LTD",
    "AIREDALE FOODS",
    "CALDER PRINT",
    "WHARFE BUILDERS",
];
const TOWNS: &[&str] = &[
    "LEEDS BRIGGATE",
    "LEEDS KIRKGATE",
    "BRADFORD",
    "WAKEFIELD",
    "HARROGATE",
    "HALIFAX",
    "YORK",
];

/// The CSV layouts the generator writes, weighted like real disclosures.
const LAYOUT_WEIGHTS: &[(&str, u64)] = &[
    ("lloyds", 50),
    ("barclays", 10),
    ("natwest", 12),
    ("monzo", 10),
    ("starling", 8),
    ("hsbc", 10),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Ordinary,
    Structuring,
    Mule,
    Front,
    HonestCashBusiness,
    Student,
    LargeDeclaredCash,
}

impl Role {
    fn business(self) -> bool {
        matches!(self, Role::Front | Role::HonestCashBusiness)
    }
}

/// One transaction before it is written.
#[derive(Debug, Clone)]
struct Txn {
    date: NaiveDate,
    pence: i64,
    kind: Kind,
    text: String,
    label: Option<Label>,
}

/// What a labelled row is: its typology, a note, and the episode it belongs to (the rows
/// of one structuring episode, one mule's receipts and payment out, or the two sides of
/// one internal transfer share an episode id).
#[derive(Debug, Clone)]
struct Label {
    typology: &'static str,
    note: String,
    episode: String,
}

fn label(
    typology: &'static str,
    note: impl Into<String>,
    episode: impl Into<String>,
) -> Option<Label> {
    Some(Label {
        typology,
        note: note.into(),
        episode: episode.into(),
    })
}

/// `labels.csv`, written as labels are made.
struct LabelWriter {
    out: BufWriter<std::fs::File>,
    path: PathBuf,
    count: u64,
}

impl LabelWriter {
    fn create(path: PathBuf) -> Result<Self, SynthError> {
        let file = std::fs::File::create(&path).map_err(|source| SynthError::Write {
            path: path.clone(),
            source,
        })?;
        let mut w = LabelWriter {
            out: BufWriter::new(file),
            path,
            count: 0,
        };
        w.line("label_id,typology,account_id,source_file,line,note,episode\n")?;
        Ok(w)
    }

    fn line(&mut self, text: &str) -> Result<(), SynthError> {
        self.out
            .write_all(text.as_bytes())
            .map_err(|source| SynthError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// One label; `file` and `line` empty for an account-level label.
    fn write(
        &mut self,
        typology: &str,
        account: &str,
        file: &str,
        line: Option<u32>,
        note: &str,
        episode: &str,
    ) -> Result<(), SynthError> {
        self.count += 1;
        let line = line.map(|l| l.to_string()).unwrap_or_default();
        let text = format!(
            "L{:07},{typology},{account},{file},{line},\"{note}\",{episode}\n",
            self.count
        );
        self.line(&text)
    }

    fn finish(mut self) -> Result<u64, SynthError> {
        self.out.flush().map_err(|source| SynthError::Write {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.count)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CashIn,
    CashOut,
    TransferIn,
    TransferOut,
    Card,
    DirectDebit,
}

struct Account {
    id: String,
    holder: String,
    subject: String,
    layout: &'static str,
    sort_code: String,
    number: String,
    role: Role,
    business_type: Option<&'static str>,
    opening: i64,
}

/// Write a synthetic case folder.
pub fn synth(options: &SynthOptions) -> Result<SynthSummary, SynthError> {
    if options.accounts < 4 {
        return Err(SynthError::Settings("--accounts must be at least 4".into()));
    }
    if options.months == 0 || options.months > 120 {
        return Err(SynthError::Settings(
            "--months must be between 1 and 120".into(),
        ));
    }
    options.typology.check()?;
    let tp = &options.typology;
    let out = &options.out;
    for dir in [out.clone(), out.join("statements"), out.join("reference")] {
        std::fs::create_dir_all(&dir).map_err(|source| SynthError::Write {
            path: dir.clone(),
            source,
        })?;
    }
    let mut rng = Rng(options.seed ^ 0x5EED_CA5E);
    let start = NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or(NaiveDate::MIN);
    let days = (0..options.months).fold(0u64, |acc, m| {
        let d = start
            .checked_add_months(chrono::Months::new(m))
            .unwrap_or(start);
        acc + days_in_month(d)
    });
    let per_account_month = match options.rows {
        Some(r) => (r / (options.accounts as u64 * u64::from(options.months))).max(4),
        None => 60,
    };

    // Accounts: subjects own one or two accounts; roles are assigned deterministically.
    let mut accounts = Vec::with_capacity(options.accounts);
    let mut subject_no = 0usize;
    while accounts.len() < options.accounts {
        subject_no += 1;
        let holder = format!("{} {}", rng.pick(FIRST), rng.pick(LAST));
        let subject = format!("S{subject_no:05}");
        let two = rng.chance(30) && accounts.len() + 2 <= options.accounts;
        for k in 0..if two { 2 } else { 1 } {
            let n = accounts.len();
            let role = match n % 50 {
                3 => Role::Structuring,
                11 => Role::Mule,
                19 => Role::Front,
                23 => Role::HonestCashBusiness,
                31 => Role::Student,
                37 => Role::LargeDeclaredCash,
                _ => Role::Ordinary,
            };
            let total: u64 = LAYOUT_WEIGHTS.iter().map(|(_, w)| w).sum();
            let mut roll = rng.below(total);
            let mut layout = LAYOUT_WEIGHTS[0].0;
            for (l, w) in LAYOUT_WEIGHTS {
                if roll < *w {
                    layout = l;
                    break;
                }
                roll -= w;
            }
            let business_type = match role {
                Role::Front | Role::HonestCashBusiness => {
                    Some(if k == 0 { "car_wash" } else { "nail_bar" })
                }
                _ => None,
            };
            let holder_name = match role {
                Role::Front | Role::HonestCashBusiness => {
                    format!("{} Hand Car Wash Ltd", rng.pick(LAST))
                }
                _ => holder.clone(),
            };
            accounts.push(Account {
                id: format!("A{:06}", n + 1),
                holder: holder_name,
                subject: subject.clone(),
                layout,
                sort_code: format!(
                    "{:02}-{:02}-{:02}",
                    30 + rng.below(60),
                    rng.below(100),
                    rng.below(100)
                ),
                number: format!("{:08}", 10_000_000 + n as u64 * 7 + rng.below(7)),
                role,
                business_type,
                opening: rng.pounds(100, 4000),
            });
        }
    }

    let mut labels = LabelWriter::create(out.join("labels.csv"))?;
    let mut transfer_no = 0u64;
    let mut rows = 0u64;
    let mut turnover = String::from("account_id,year,declared_turnover,source\n");
    // Internal transfers: a debit from each two-account subject's first account into its
    // second, written when the second account is generated.
    let mut pending_in: Vec<(usize, Txn)> = Vec::new();

    for i in 0..accounts.len() {
        let a = &accounts[i];
        let mut txns: Vec<Txn> = Vec::new();
        let mut day = 0u64;
        let per_day = per_account_month as f64 / 30.0;
        let mut credit = 0.0f64;
        while day < days {
            let date = start + Days::new(day);
            // Monthly salary or takings.
            if date.day() == 25 && !a.role.business() {
                let pay = if a.role == Role::Student {
                    rng.pounds(300, 500)
                } else {
                    rng.pounds(1400, 3200)
                };
                let who = rng.pick(EMPLOYERS);
                txns.push(Txn {
                    date,
                    pence: pay,
                    kind: Kind::TransferIn,
                    text: format!("{who} REF PAYROLL"),
                    label: None,
                });
            }
            if date.day() == 1 && !a.role.business() {
                let bill = *rng.pick(BILLS);
                txns.push(Txn {
                    date,
                    pence: -rng.pounds(30, 140),
                    kind: Kind::DirectDebit,
                    text: bill.to_string(),
                    label: None,
                });
            }
            credit += per_day;
            while credit >= 1.0 {
                credit -= 1.0;
                let roll = rng.below(100);
                let t = if a.role.business() && roll < 60 {
                    let cash = match a.role {
                        Role::Front => rng.chance(tp.front_cash_percent),
                        _ => rng.chance(45),
                    };
                    if cash {
                        Txn {
                            date,
                            pence: rng.pounds(80, 900),
                            kind: Kind::CashIn,
                            text: format!("CASH DEPOSIT {}", rng.pick(TOWNS)),
                            label: None,
                        }
                    } else {
                        Txn {
                            date,
                            pence: rng.pounds(20, 400),
                            kind: Kind::TransferIn,
                            text: "CARD TAKINGS SETTLEMENT".into(),
                            label: None,
                        }
                    }
                } else if roll < 80 {
                    Txn {
                        date,
                        pence: -rng.pounds(2, 90),
                        kind: Kind::Card,
                        text: format!("{} {}", rng.pick(SHOPS), 1000 + rng.below(9000)),
                        label: None,
                    }
                } else if roll < 88 {
                    Txn {
                        date,
                        pence: -((rng.below(15) as i64 + 1) * 1000),
                        kind: Kind::CashOut,
                        text: format!("LNK {} CD {}", rng.pick(TOWNS), rng.below(9999)),
                        label: None,
                    }
                } else if a.role == Role::Student && roll < 98 {
                    let friend = format!("{} {}", rng.pick(FIRST), rng.pick(LAST)).to_uppercase();
                    Txn {
                        date,
                        pence: rng.pounds(5, 40),
                        kind: Kind::TransferIn,
                        text: format!("{friend} REF PIZZA"),
                        label: label(
                            "decoy_student",
                            "many friends pay in; money kept and spent",
                            "",
                        ),
                    }
                } else {
                    Txn {
                        date,
                        pence: -rng.pounds(10, 250),
                        kind: Kind::TransferOut,
                        text: format!("{} {}", rng.pick(FIRST), rng.pick(LAST)).to_uppercase(),
                        label: None,
                    }
                };
                txns.push(t);
            }
            day += 1;
        }
        // Injected typologies.
        let mid = start + Days::new(days / 2);
        match a.role {
            Role::Structuring => {
                let n = tp.structuring_deposits + rng.below(2);
                for k in 0..n {
                    let d = mid + Days::new(k * tp.structuring_gap_days);
                    txns.push(Txn {
                        date: d,
                        pence: rng.pounds(tp.structuring_low_pounds, 9_900),
                        kind: Kind::CashIn,
                        text: format!("CASH DEPOSIT {}", rng.pick(TOWNS)),
                        label: label(
                            "structuring",
                            format!("episode of {n} deposits from {mid}"),
                            format!("STR-{}", a.id),
                        ),
                    });
                }
            }
            Role::Mule => {
                let senders = tp.mule_senders + rng.below(15);
                let mut total = 0;
                for _ in 0..senders {
                    let p = rng.pounds(150, 900);
                    total += p;
                    let who = format!("{} {}", rng.pick(FIRST), rng.pick(LAST)).to_uppercase();
                    txns.push(Txn {
                        date: mid,
                        pence: p,
                        kind: Kind::TransferIn,
                        text: format!("{who} REF INVOICE"),
                        label: label(
                            "mule",
                            "fan-in from unrelated senders",
                            format!("MULE-{}", a.id),
                        ),
                    });
                }
                let out = total * tp.mule_out_percent / 100;
                txns.push(Txn {
                    date: mid + Days::new(tp.mule_dwell_days),
                    pence: -out,
                    kind: Kind::TransferOut,
                    text: "K BRANDT 401122 99887766".into(),
                    label: label(
                        "mule",
                        format!(
                            "pass-through, {}% out after {} days",
                            tp.mule_out_percent, tp.mule_dwell_days
                        ),
                        format!("MULE-{}", a.id),
                    ),
                });
            }
            Role::LargeDeclaredCash => {
                txns.push(Txn {
                    date: mid,
                    pence: 1_500_000,
                    kind: Kind::CashIn,
                    text: "CASH DEPOSIT LEEDS BRIGGATE".into(),
                    label: label(
                        "decoy_large_cash",
                        "one declared cash deposit above the threshold (car sale)",
                        "",
                    ),
                });
            }
            Role::Front => labels.write(
                "front",
                &a.id,
                "",
                None,
                "cash share far above declared turnover",
                "",
            )?,
            Role::HonestCashBusiness => labels.write(
                "decoy_cash_business",
                &a.id,
                "",
                None,
                "cash matches declared turnover",
                "",
            )?,
            _ => {}
        }
        if a.role.business() {
            // Declared turnover per calendar year, from the cash banked that year.
            let mut cash_by_year: std::collections::BTreeMap<i32, i64> = Default::default();
            for t in txns.iter().filter(|t| t.kind == Kind::CashIn) {
                *cash_by_year.entry(t.date.year()).or_default() += t.pence;
            }
            for (year, cash) in cash_by_year {
                let declared = match a.role {
                    Role::Front => cash * tp.front_declared_percent / 100,
                    _ => cash * 11 / 10,
                };
                let _ = writeln!(
                    turnover,
                    "{},{year},{},\"Filed accounts, year to 31/12/{year} (synthetic)\"",
                    a.id,
                    pence_text(declared)
                );
            }
        }
        // An internal transfer to the subject's next account.
        if i + 1 < accounts.len() && accounts[i + 1].subject == a.subject {
            let d = start + Days::new(rng.below(days));
            let p = rng.pounds(200, 3000);
            let to = &accounts[i + 1];
            transfer_no += 1;
            let episode = format!("IT{transfer_no:06}");
            txns.push(Txn {
                date: d,
                pence: -p,
                kind: Kind::TransferOut,
                text: format!(
                    "{} {} {}",
                    a.holder.to_uppercase(),
                    to.sort_code.replace('-', ""),
                    to.number
                ),
                label: label(
                    "internal_transfer",
                    format!("to {}", to.id),
                    episode.clone(),
                ),
            });
            pending_in.push((
                i + 1,
                Txn {
                    date: d,
                    pence: p,
                    kind: Kind::TransferIn,
                    text: format!(
                        "{} {} {}",
                        a.holder.to_uppercase(),
                        a.sort_code.replace('-', ""),
                        a.number
                    ),
                    label: label("internal_transfer", format!("from {}", a.id), episode),
                },
            ));
        }
        txns.extend(
            pending_in
                .iter()
                .filter(|(k, _)| *k == i)
                .map(|(_, t)| t.clone()),
        );
        pending_in.retain(|(k, _)| *k != i);
        // Chronological, stable: same-day rows keep generation order.
        txns.sort_by_key(|t| t.date);
        let file = format!("statements/{}_{}.csv", a.id, a.layout);
        let (text, lines) = render(a, &txns);
        let path = out.join(&file);
        std::fs::write(&path, text).map_err(|source| SynthError::Write {
            path: path.clone(),
            source,
        })?;
        rows += txns.len() as u64;
        for (t, line) in txns.iter().zip(&lines) {
            if let Some(l) = &t.label {
                labels.write(l.typology, &a.id, &file, Some(*line), &l.note, &l.episode)?;
            }
        }
    }

    let mut case = String::new();
    let _ = writeln!(
        case,
        "# Synthetic case, seed {}: fictional people and made-up figures.",
        options.seed
    );
    let _ = writeln!(
        case,
        "# labels.csv lists the injected typologies and decoys.\n"
    );
    let _ = writeln!(
        case,
        "[case]\nreference = \"SYNTH-{}\"\nbase_currency = \"GBP\"\nlifestyle = true\n",
        options.seed
    );
    let _ = writeln!(case, "[dates]\nproceedings_started = 2025-03-14\n");
    let mut seen = std::collections::BTreeSet::new();
    for (n, a) in accounts.iter().enumerate() {
        if seen.insert(a.subject.clone()) {
            let role = if n == 0 { "defendant" } else { "third_party" };
            let name = if a.role.business() {
                format!("Director of {}", a.holder)
            } else {
                a.holder.clone()
            };
            let _ = writeln!(
                case,
                "[[subjects]]\nid = \"{}\"\nname = \"{}\"\nrole = \"{role}\"\n",
                a.subject, name
            );
        }
    }
    for a in &accounts {
        let _ = writeln!(
            case,
            "[[accounts]]\nid = \"{}\"\nholder = \"{}\"\nbank = \"{}\"\nsort_code = \"{}\"\naccount_number = \"{}\"\nkind = \"{}\"\n{}controlled_by = [\"{}\"]\n",
            a.id,
            a.holder,
            a.layout,
            a.sort_code,
            a.number,
            if a.role.business() { "business" } else { "personal" },
            a.business_type.map(|b| format!("business_type = \"{b}\"\n")).unwrap_or_default(),
            a.subject
        );
    }
    for a in &accounts {
        let _ = writeln!(
            case,
            "[[sources]]\npath = \"statements/{}_{}.csv\"\nlayout = \"{}\"\naccount = \"{}\"\nexhibit = \"SYN/{}\"\n",
            a.id, a.layout, a.layout, a.id, a.id
        );
    }
    let _ = writeln!(
        case,
        "[reference]\ndeclared_turnover = \"reference/declared_turnover.csv\"\nprice_index = \"reference/cpih.csv\"\n"
    );
    let _ = writeln!(
        case,
        "[tracing]\n# Cash paid in is tainted, and so are the evidence rows of the structuring and mule rules.\nelected_method = \"fifo\"\ntainted_findings = [\"STR-001\", \"STR-002\", \"STR-003\", \"MUL-001\"]\n\n[[tracing.tainted_channels]]\nchannel = \"cash_deposit\""
    );
    let last_month = start
        .checked_add_months(chrono::Months::new(options.months))
        .unwrap_or(start);
    let label_count = labels.finish()?;
    for (name, body) in [
        ("case.toml", case),
        ("reference/declared_turnover.csv", turnover),
        ("reference/cpih.csv", price_index(last_month)),
    ] {
        let path = out.join(name);
        let mut f = std::fs::File::create(&path).map_err(|source| SynthError::Write {
            path: path.clone(),
            source,
        })?;
        f.write_all(body.as_bytes())
            .map_err(|source| SynthError::Write {
                path: path.clone(),
                source,
            })?;
    }
    Ok(SynthSummary {
        accounts: accounts.len(),
        rows,
        labels: label_count,
        files: accounts.len() + 3,
    })
}

/// A fictional monthly price index (2015=100, rising 0.2 a month) from January 2015 to
/// December 2026 or `through`'s month, whichever is later.
fn price_index(through: NaiveDate) -> String {
    let mut out = String::from(
        "series,SYNTHETIC PRICE INDEX 2015=100 (fictional figures)\nvintage,generated\nmonth,index\n",
    );
    let end = (
        through.year().max(2026),
        if through.year() > 2026 {
            through.month()
        } else {
            12
        },
    );
    let (mut y, mut m, mut tenths) = (2015, 1u32, 1000u64);
    while (y, m) <= end {
        let _ = writeln!(out, "{y}-{m:02},{}.{}", tenths / 10, tenths % 10);
        tenths += 2;
        m += 1;
        if m > 12 {
            m = 1;
            y += 1;
        }
    }
    out
}

fn days_in_month(d: NaiveDate) -> u64 {
    let next = d.checked_add_months(chrono::Months::new(1)).unwrap_or(d);
    (next - d).num_days().max(0) as u64
}

/// Pence as `1234.56` (negative with a leading minus).
fn pence_text(p: i64) -> String {
    let sign = if p < 0 { "-" } else { "" };
    let a = p.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// The statement text in the account's layout, and the line of each transaction.
fn render(a: &Account, txns: &[Txn]) -> (String, Vec<u32>) {
    let mut out = String::new();
    let mut lines = vec![0u32; txns.len()];
    let mut balances = Vec::with_capacity(txns.len());
    let mut bal = a.opening;
    for t in txns {
        bal += t.pence;
        balances.push(bal);
    }
    let newest_first = matches!(a.layout, "lloyds" | "barclays" | "hsbc");
    let order: Vec<usize> = if newest_first {
        (0..txns.len()).rev().collect()
    } else {
        (0..txns.len()).collect()
    };
    let quote = |s: &str| {
        if s.contains(',') {
            format!("\"{s}\"")
        } else {
            s.to_string()
        }
    };
    let mut line: u32 = match a.layout {
        "hsbc" => 0,
        "natwest" => 2,
        _ => 1,
    };
    match a.layout {
        "lloyds" => out.push_str("Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,Debit Amount,Credit Amount,Balance\n"),
        "barclays" => out.push_str("Number,Date,Account,Amount,Subcategory,Memo\n"),
        "natwest" => out.push_str("\nDate,Type,Description,Value,Balance,Account Name,Account Number\n"),
        "monzo" => out.push_str("Transaction ID,Date,Time,Type,Name,Emoji,Category,Amount,Currency,Local amount,Local currency,Notes and #tags,Address,Receipt,Description,Category split,Money Out,Money In\n"),
        "starling" => out.push_str("Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP),Spending Category,Notes\n"),
        _ => {}
    }
    for i in order {
        let t = &txns[i];
        line += 1;
        lines[i] = line;
        let d = t.date.format("%d/%m/%Y");
        let amt = pence_text(t.pence);
        let abs = pence_text(t.pence.abs());
        let balance = pence_text(balances[i]);
        match a.layout {
            "lloyds" => {
                let code = match t.kind {
                    Kind::CashIn => "DEP",
                    Kind::CashOut => "CPT",
                    Kind::TransferIn => "FPI",
                    Kind::TransferOut => "FPO",
                    Kind::Card => "DEB",
                    Kind::DirectDebit => "DD",
                };
                let (debit, credit) = if t.pence < 0 {
                    (abs, String::new())
                } else {
                    (String::new(), abs)
                };
                let _ = writeln!(
                    out,
                    "{d},{code},'{},{},{},{debit},{credit},{balance}",
                    a.sort_code,
                    a.number,
                    quote(&t.text)
                );
            }
            "barclays" => {
                let sub = match t.kind {
                    Kind::CashIn => "Counter Credit",
                    Kind::CashOut => "Cash Machine",
                    Kind::TransferIn | Kind::TransferOut => "Funds Transfer",
                    Kind::Card => "Debit",
                    Kind::DirectDebit => "Direct Debit",
                };
                let memo = match t.kind {
                    Kind::CashIn => "CASH DEPOSIT".to_string(),
                    _ => t.text.clone(),
                };
                let _ = writeln!(
                    out,
                    ",{d},{} {},{amt},{sub},{}",
                    a.sort_code,
                    a.number,
                    quote(&memo)
                );
            }
            "natwest" => {
                let code = match t.kind {
                    Kind::CashIn => "CDM",
                    Kind::CashOut => "C/L",
                    Kind::TransferIn => "BAC",
                    Kind::TransferOut => "DPC",
                    Kind::Card => "POS",
                    Kind::DirectDebit => "D/D",
                };
                let _ = writeln!(
                    out,
                    "{d},{code},{},{amt},{balance},{},'{}-{}",
                    quote(&t.text),
                    quote(&a.holder),
                    a.sort_code.replace('-', ""),
                    a.number
                );
            }
            "monzo" => {
                let (ty, cat) = match t.kind {
                    Kind::CashIn => ("Cash deposit", "General"),
                    Kind::CashOut => ("Card payment", "Cash"),
                    Kind::TransferIn | Kind::TransferOut => ("Faster payment", "Transfers"),
                    Kind::Card => ("Card payment", "Shopping"),
                    Kind::DirectDebit => ("Direct Debit", "Bills"),
                };
                let (mo, mi) = if t.pence < 0 {
                    (amt.clone(), String::new())
                } else {
                    (String::new(), amt.clone())
                };
                let _ = writeln!(
                    out,
                    "tx_{}_{i:06},{d},12:00:00,{ty},{},,{cat},{amt},GBP,{amt},GBP,,,,{},,{mo},{mi}",
                    a.id,
                    quote(&t.text),
                    quote(&t.text)
                );
            }
            "starling" => {
                let ty = match t.kind {
                    Kind::CashIn => "CASH DEPOSIT",
                    Kind::CashOut => "ATM",
                    Kind::TransferIn | Kind::TransferOut => "FASTER PAYMENT",
                    Kind::Card => "CONTACTLESS",
                    Kind::DirectDebit => "DIRECT DEBIT",
                };
                let _ = writeln!(
                    out,
                    "{d},{},{},{ty},{amt},{balance},GENERAL,",
                    quote(&t.text),
                    quote(&t.text)
                );
            }
            _ => {
                let prefix = match t.kind {
                    Kind::CashIn => "CASH DEPOSIT",
                    Kind::CashOut => "CASH",
                    Kind::TransferIn => "CR",
                    Kind::TransferOut => "BP",
                    Kind::Card => "VIS",
                    Kind::DirectDebit => "DD",
                };
                let text = if t.kind == Kind::CashIn {
                    prefix.to_string()
                } else {
                    format!("{prefix} {}", t.text)
                };
                let _ = writeln!(out, "{d},\"{text}\",\"{amt}\"");
            }
        }
    }
    (out, lines)
}
