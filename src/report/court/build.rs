//! What the court report says: the case header, the summary of the confiscation figures,
//! the method statement, the integrity of the material, the charts, each schedule, the
//! tracing, the findings (trafficking indicators under their own heading) and the sources
//! appendix with the SHA-256 of every input.
//!
//! Every figure is taken from the stage that computed it (the schedules, the trace, the
//! integrity checks); nothing is recomputed here except the charts' monthly sums and
//! running balances, which are sums of exact pence. Tables longer than
//! [`MAX_TABLE_ROWS`] are cut with a note naming the CSV that holds every line; totals
//! always cover every line.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;

use super::charts::{self, BalancePoint, FlowEdge, FlowNode, MonthCredits};
use super::doc::{Align, Block, Document, Figure, Pair, Section, Table};
use crate::case::{AccountKind, Case, SubjectRole};
use crate::confiscation::Schedules;
use crate::ingest::SourceReport;
use crate::ledger::col;
use crate::report::manifest::Input;
use crate::report::ReportError;
use crate::rules::params::format_money;
use crate::rules::RuleApplied;

/// Lines shown per table; the CSV outputs hold every line.
pub const MAX_TABLE_ROWS: usize = 1000;
/// Characters shown of one table cell (a finding's tests, which come first, then what it
/// found). At 10M rows the findings tables' long cells were a third of the memory
/// typesetting the report took (decisions.md); `findings.csv` holds the full text.
pub const MAX_CELL_CHARS: usize = 400;
/// Evidence rows named per finding; `finding_evidence.csv` names every one.
pub const MAX_EVIDENCE_IDS: usize = 12;
/// Accounts given their own charts, busiest first.
pub const MAX_CHART_ACCOUNTS: usize = 24;
/// Destinations named in the flow diagram; the rest are grouped.
const MAX_FLOW_DESTINATIONS: usize = 12;

/// The tracing outputs the report draws on (the frames of `trace_*.csv`).
#[derive(Debug, Clone, Copy)]
pub struct TraceFrames<'a> {
    pub flows: &'a DataFrame,
    /// `trace_summary.csv`'s first rows (at least [`MAX_TABLE_ROWS`] where it has them).
    pub summary: &'a DataFrame,
    /// How many rows `trace_summary.csv` has in all.
    pub summary_rows: usize,
    pub balances: &'a DataFrame,
    pub origins: &'a DataFrame,
    /// The method the investigator elected, if any.
    pub elected: Option<&'a str>,
}

/// The detection outputs the report draws on.
#[derive(Debug, Clone, Copy)]
pub struct FindingFrames<'a> {
    pub findings: &'a DataFrame,
    pub rules: &'a [RuleApplied],
    pub notes: &'a [String],
}

/// Everything the report is built from.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    pub case: &'a Case,
    /// What the charts show of the ledger ([`ChartAccounts::of`] the verified ledger, or
    /// the ingested one when verify did not run).
    pub charts: &'a ChartAccounts,
    pub sources: &'a [SourceReport],
    pub integrity: Option<&'a DataFrame>,
    /// The verify stage's plain-language summary paragraphs (`integrity_summary.txt`).
    pub integrity_summary: &'a [String],
    pub transfers: Option<&'a DataFrame>,
    pub findings: Option<FindingFrames<'a>>,
    pub trace: Option<TraceFrames<'a>>,
    pub schedules: Option<&'a Schedules>,
    /// Every input with its SHA-256: case file, sources, reference, layout and rule files.
    pub inputs: &'a [Input],
    pub run_timestamp: &'a str,
    /// What each stage did or why it did not run.
    pub stage_notes: &'a [String],
}

fn polars_err(context: &'static str) -> impl FnOnce(PolarsError) -> ReportError {
    move |source| ReportError::Encode {
        path: "court report".into(),
        message: format!("{context}: {source}"),
    }
}

/// A column as text (`None` for null or a missing column).
fn text_column(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>, ReportError> {
    let Ok(column) = df.column(name) else {
        return Ok(vec![None; df.height()]);
    };
    let as_text = column
        .cast(&DataType::String)
        .map_err(polars_err("report column"))?;
    let ca = as_text.str().map_err(polars_err("report column"))?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

/// A column read as text row by row, without copying each value out: for the ledger and
/// the trace flows, which run to tens of millions of rows. A missing column reads as empty.
struct Texts(StringChunked);

impl Texts {
    fn of(df: &DataFrame, name: &str) -> Result<Texts, ReportError> {
        let ca = match df.column(name) {
            Ok(column) => column
                .cast(&DataType::String)
                .map_err(polars_err("report column"))?
                .str()
                .map_err(polars_err("report column"))?
                .rechunk()
                .into_owned(),
            Err(_) => StringChunked::full_null(name.into(), df.height()),
        };
        Ok(Texts(ca))
    }

    fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i)
    }
}

/// A money column read as pence row by row: a `Decimal` column of scale 2 (the ledger's)
/// from its integers, any other through its text as [`pence`] reads it. The same pence
/// either way; the integers spare a string per row of a ledger of tens of millions.
enum PenceColumn {
    Minor(Int128Chunked),
    Text(Texts),
}

impl PenceColumn {
    fn of(df: &DataFrame, name: &str) -> Result<PenceColumn, ReportError> {
        if let Ok(column) = df.column(name) {
            if let Ok(ca) = column.decimal() {
                if ca.scale() == 2 {
                    return Ok(PenceColumn::Minor(ca.physical().rechunk().into_owned()));
                }
            }
        }
        Ok(PenceColumn::Text(Texts::of(df, name)?))
    }

    fn get(&self, i: usize) -> Option<i64> {
        match self {
            PenceColumn::Minor(ca) => ca.get(i).and_then(|v| i64::try_from(v).ok()),
            PenceColumn::Text(t) => t.get(i).and_then(pence),
        }
    }
}

/// A date column read row by row: a `Date` column from its day numbers, any other through
/// its text (`2024-01-31`). A date whose year has more than four digits is read back from
/// its text either way, so both give the same dates.
enum DateColumn {
    Days(Int32Chunked),
    Text(Texts),
}

impl DateColumn {
    fn of(df: &DataFrame, name: &str) -> Result<DateColumn, ReportError> {
        if let Ok(column) = df.column(name) {
            if let Ok(ca) = column.date() {
                return Ok(DateColumn::Days(ca.physical().rechunk().into_owned()));
            }
        }
        Ok(DateColumn::Text(Texts::of(df, name)?))
    }

    fn get(&self, i: usize) -> Option<NaiveDate> {
        use chrono::Datelike;
        match self {
            DateColumn::Days(ca) => {
                let date = crate::trace::input::day_to_date(ca.get(i)?);
                if (0..=9999).contains(&date.year()) {
                    Some(date)
                } else {
                    date.to_string().parse().ok()
                }
            }
            DateColumn::Text(t) => t.get(i)?.parse().ok(),
        }
    }
}

/// Pence of a decimal written as text (`9400.00`, `-12.5`).
fn pence(text: &str) -> Option<i64> {
    let mut d: Decimal = text.trim().parse().ok()?;
    d.rescale(2);
    i64::try_from(d.mantissa()).ok()
}

fn money_text(text: Option<&str>, currency: &str) -> String {
    text.and_then(pence)
        .map_or_else(String::new, |p| format_money(p, currency))
}

fn or_empty(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// Build the report.
pub fn build(input: &ReportInput<'_>) -> Result<Document, ReportError> {
    let case = input.case;
    let base = case.base_currency.as_str();
    let subtitle = case
        .title
        .clone()
        .unwrap_or_else(|| format!("Case {}", case.reference));
    let mut header = vec![
        Pair::new("Case reference", &case.reference),
        Pair::new("Law applied", jurisdiction_line(input)),
        Pair::new(
            "Criminal lifestyle",
            if case.lifestyle {
                "yes: the court is asked to find a criminal lifestyle (s.10 assumptions)"
            } else {
                "no: benefit from particular criminal conduct"
            },
        ),
        Pair::new(
            "Proceedings started",
            case.proceedings_started.format("%-d %B %Y").to_string(),
        ),
    ];
    if let Some(c) = case.conviction {
        header.push(Pair::new("Conviction", c.format("%-d %B %Y").to_string()));
    }
    if let Some(s) = input.schedules {
        header.push(Pair::new(
            "Relevant day",
            s.relevant_day.day.format("%-d %B %Y").to_string(),
        ));
        header.push(Pair::new("Valuation month", s.valuation_month.to_string()));
    }
    for s in &case.subjects {
        header.push(Pair::new(
            capitalise(subject_role(s.role)),
            format!("{} ({})", s.name, s.id),
        ));
    }
    if let Some(i) = &case.investigator {
        header.push(Pair::new("Prepared by", i));
    }
    header.push(Pair::new(
        "Produced by",
        format!(
            "proceeds {} on {}",
            env!("CARGO_PKG_VERSION"),
            input.run_timestamp
        ),
    ));
    header.push(Pair::new("Base currency", base));

    let mut sections = vec![summary_section(input)?];
    sections.push(method_section(input));
    sections.push(integrity_section(input)?);
    sections.push(charts_section(input)?);
    if let Some(s) = input.schedules {
        sections.extend(schedule_sections(s, base));
    }
    sections.push(tracing_section(input)?);
    sections.extend(findings_sections(input)?);
    sections.push(sources_section(input));
    Ok(Document {
        title: "Financial investigation report".into(),
        subtitle,
        case_reference: case.reference.clone(),
        footer: format!(
            "{}: financial investigation report, produced by proceeds {} on {}",
            case.reference,
            env!("CARGO_PKG_VERSION"),
            input.run_timestamp
        ),
        header,
        sections,
    })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn subject_role(role: SubjectRole) -> &'static str {
    match role {
        SubjectRole::Defendant => "defendant",
        SubjectRole::Associate => "associate",
        SubjectRole::ThirdParty => "third party",
    }
}

fn jurisdiction_line(input: &ReportInput<'_>) -> String {
    match input.schedules {
        Some(s) => format!(
            "{} ({} version {})",
            s.jurisdiction_name, s.jurisdiction_id, s.jurisdiction_version
        ),
        None => input.case.jurisdiction.clone(),
    }
}

fn money_columns() -> (Align, Align) {
    (Align::Left, Align::Right)
}

fn summary_section(input: &ReportInput<'_>) -> Result<Section, ReportError> {
    let mut blocks = Vec::new();
    match input.schedules {
        Some(s) => {
            let base = input.case.base_currency.as_str();
            let t = &s.totals;
            let (l, r) = money_columns();
            let mut table = Table::new(
                "summary",
                &[("Item", l, 5), ("Amount", r, 2), ("How it is found", l, 7)],
                false,
            );
            let mut line = |item: &str, pence: i64, how: &str| {
                table.rows.push(vec![
                    item.to_string(),
                    format_money(pence, base),
                    how.to_string(),
                ]);
            };
            line(
                "Benefit: historic figures",
                t.benefit_historic,
                "sum of the historic amounts on the Benefit schedule (section 5)",
            );
            line(
                "Benefit: adjusted for the value of money (s.80(2)(a))",
                t.benefit_uplifted,
                "sum of the uplifted amounts on the Benefit schedule",
            );
            line(
                "Benefit (value under s.80)",
                t.benefit,
                "sum of the values counted on the Benefit schedule",
            );
            line(
                "Free property (net of encumbrances, defendant's share)",
                t.free_property,
                "Available Amount lines of kind property",
            );
            line(
                "Bank balances",
                t.bank_balances,
                "Available Amount lines of kind bank balance",
            );
            line(
                "Obligations having priority (deducted)",
                t.priority_obligations,
                "Available Amount lines of kind priority obligation",
            );
            line(
                "Tainted gifts",
                t.tainted_gifts,
                "sum of the counted values on the Tainted Gifts schedule",
            );
            line(
                "Available amount (s.9)",
                t.available,
                "sum of the Available Amount schedule, never below nil",
            );
            table.total = Some(vec![
                "Recoverable amount (s.7)".into(),
                format_money(t.recoverable, base),
                format!(
                    "the lower of benefit and available amount: the {}",
                    t.recoverable_is
                ),
            ]);
            blocks.push(Block::Paragraph {
                text: format!(
                    "The recoverable amount is {}, the {}. Benefit is {} ({} before adjustment for the value of money); the available amount is {}.",
                    format_money(t.recoverable, base),
                    t.recoverable_is,
                    format_money(t.benefit, base),
                    format_money(t.benefit_historic, base),
                    format_money(t.available, base)
                ),
            });
            blocks.push(Block::Table(table));
        }
        None => blocks.push(Block::Caution {
            text: "The confiscation schedules were not produced: the case file names no price_index reference file, which s.80 needs to value benefit and gifts. The other sections stand on their own.".into(),
        }),
    }
    blocks.push(Block::Heading {
        text: "What each stage did".into(),
    });
    blocks.push(Block::List {
        items: input.stage_notes.to_vec(),
    });
    Ok(Section {
        id: "summary".into(),
        title: "Summary".into(),
        blocks,
    })
}

fn method_section(input: &ReportInput<'_>) -> Section {
    let mut blocks = Vec::new();
    match input.schedules {
        Some(s) => {
            blocks.push(Block::List {
                items: s.method.clone(),
            });
        }
        None => blocks.push(Block::Paragraph {
            text: format!(
                "Law applied: {}. No schedule was computed, so no assumption was made.",
                input.case.jurisdiction
            ),
        }),
    }
    blocks.push(Block::Heading {
        text: "Tracing".into(),
    });
    blocks.push(Block::Paragraph {
        text: match input.trace {
            Some(t) => format!(
                "Money was traced through the case accounts by five methods side by side (FIFO, LIFO, Hallett, lowest intermediate balance, pro rata). Method elected by the investigator: {}. Each method's result is shown in section {}, so the consequence of the election can be seen.",
                t.elected.unwrap_or("none stated"),
                "Tracing"
            ),
            None => "Tracing was not run: the case file does not say what is tainted ([tracing] table).".into(),
        },
    });
    if let Some(f) = input.findings {
        blocks.push(Block::Heading {
            text: "Detection rules".into(),
        });
        blocks.push(Block::Paragraph {
            text: format!(
                "{} rules were applied; each is listed with its version and parameters in the Findings section. A finding is an indicator that calls for explanation, not proof of an offence.",
                f.rules.len()
            ),
        });
    }
    Section {
        id: "method".into(),
        title: "Method statement".into(),
        blocks,
    }
}

fn integrity_section(input: &ReportInput<'_>) -> Result<Section, ReportError> {
    let mut blocks: Vec<Block> = input
        .integrity_summary
        .iter()
        .map(|p| Block::Paragraph { text: p.clone() })
        .collect();
    let read: u64 = input.sources.iter().map(|s| s.records_read).sum();
    let accepted: u64 = input.sources.iter().map(|s| s.accepted).sum();
    let rejected: u64 = input.sources.iter().map(|s| s.rejected).sum();
    let skipped: u64 = input.sources.iter().map(|s| s.skipped).sum();
    blocks.push(Block::Paragraph {
        text: format!(
            "{} source files were read: {read} lines, of which {accepted} were accepted as transactions, {rejected} rejected with a reason (rejects.csv) and {skipped} skipped as headers, preambles, blank lines or footers (skipped.csv). Every line is accounted for in every file: accepted + rejected + skipped = read.",
            input.sources.len()
        ),
    });
    let (l, r) = money_columns();
    let mut table = Table::new(
        "ingest",
        &[
            ("Source file", l, 6),
            ("Exhibit", l, 2),
            ("Layout", l, 2),
            ("Read", r, 1),
            ("Accepted", r, 1),
            ("Rejected", r, 1),
            ("Skipped", r, 1),
            ("First date", l, 2),
            ("Last date", l, 2),
        ],
        true,
    );
    for s in input.sources.iter().take(MAX_TABLE_ROWS) {
        table.rows.push(vec![
            s.source_file.clone(),
            s.exhibit.clone().unwrap_or_default(),
            s.layout.clone(),
            s.records_read.to_string(),
            s.accepted.to_string(),
            s.rejected.to_string(),
            s.skipped.to_string(),
            s.first_date.map(|d| d.to_string()).unwrap_or_default(),
            s.last_date.map(|d| d.to_string()).unwrap_or_default(),
        ]);
    }
    table.total = Some(vec![
        "All sources".into(),
        String::new(),
        String::new(),
        read.to_string(),
        accepted.to_string(),
        rejected.to_string(),
        skipped.to_string(),
        String::new(),
        String::new(),
    ]);
    cut_note(&mut table, input.sources.len(), "sources.csv");
    blocks.push(Block::Table(table));
    if let Some(df) = input.integrity {
        let result = text_column(df, "result")?;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for r in result.iter().flatten() {
            *counts.entry(r.clone()).or_default() += 1;
        }
        let said: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        blocks.push(Block::Heading {
            text: "Integrity checks".into(),
        });
        blocks.push(Block::Paragraph {
            text: format!(
                "{} checks were made on the material (running balances, statement periods, coverage, duplicates, currencies): {}. Each is listed below; integrity.csv holds the same lines.",
                df.height(),
                if said.is_empty() { "none".to_string() } else { said.join(", ") }
            ),
        });
        if counts.get("fail").copied().unwrap_or(0) > 0 {
            blocks.push(Block::Caution {
                text: "At least one integrity check failed. Figures drawn from the accounts concerned should be read with the failure in mind.".into(),
            });
        }
        let check_no = text_column(df, "check_no")?;
        let check = text_column(df, "check")?;
        let account = text_column(df, "account_id")?;
        let detail = text_column(df, "detail")?;
        let mut table = Table::new(
            "integrity",
            &[
                ("No", r, 1),
                ("Check", l, 3),
                ("Account", l, 3),
                ("Result", l, 2),
                ("Detail", l, 12),
            ],
            true,
        );
        for i in 0..df.height().min(MAX_TABLE_ROWS) {
            table.rows.push(vec![
                or_empty(&check_no[i]),
                or_empty(&check[i]).replace('_', " "),
                or_empty(&account[i]),
                or_empty(&result[i]).replace('_', " "),
                or_empty(&detail[i]),
            ]);
        }
        cut_note(&mut table, df.height(), "integrity.csv");
        blocks.push(Block::Table(table));
    }
    if let Some(t) = input.transfers {
        blocks.push(Block::Paragraph {
            text: format!(
                "{} internal transfers between case accounts were matched (transfers.csv); they are followed by the trace and not counted twice as benefit.",
                t.height()
            ),
        });
    }
    Ok(Section {
        id: "integrity".into(),
        title: "Integrity of the material".into(),
        blocks,
    })
}

/// The text, or its first `max` characters and where the rest is.
fn clip(text: &str, max: usize, file: &str) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head} … (cut here; {file} holds the full text)")
}

/// A finding's evidence rows: the first few txn ids and how many more there are.
fn evidence_cell(ids: &str) -> String {
    let all: Vec<&str> = ids.split(';').filter(|s| !s.is_empty()).collect();
    if all.len() <= MAX_EVIDENCE_IDS {
        return all.join("; ");
    }
    format!(
        "{}; and {} more rows (finding_evidence.csv)",
        all[..MAX_EVIDENCE_IDS].join("; "),
        all.len() - MAX_EVIDENCE_IDS
    )
}

fn cut_note(table: &mut Table, lines: usize, file: &str) {
    if lines > MAX_TABLE_ROWS {
        let totals = if table.total.is_some() {
            " Totals cover every line."
        } else {
            ""
        };
        table.notes.push(format!(
            "Lines 1 to {MAX_TABLE_ROWS} of {lines} are shown; {file} holds every line.{totals}"
        ));
    }
}

/// Per account: rows in ledger order, for the charts.
#[derive(Debug, Clone)]
struct AccountRows {
    currency: String,
    /// (date, channel, amount in account currency pence, bank balance pence).
    rows: Vec<(NaiveDate, String, i64, Option<i64>)>,
}

/// What the charts show of the ledger: every account with its money in, most first, and
/// the rows of the [`MAX_CHART_ACCOUNTS`] charted accounts.
#[derive(Debug, Clone, Default)]
pub struct ChartAccounts {
    order: Vec<(String, i64)>,
    accounts: BTreeMap<String, AccountRows>,
}

impl ChartAccounts {
    /// The charts' reading of a ledger (`account_rows`).
    pub fn of(ledger: &DataFrame) -> Result<ChartAccounts, ReportError> {
        account_rows(ledger, MAX_CHART_ACCOUNTS)
    }

    /// The charts' reading of a ledger from that of its parts, each part holding whole
    /// accounts (the batches of `crate::batches`): the accounts charted overall are among
    /// those each part charts.
    pub fn merge(parts: Vec<ChartAccounts>) -> ChartAccounts {
        let mut order: Vec<(String, i64)> = Vec::new();
        let mut accounts = BTreeMap::new();
        for part in parts {
            order.extend(part.order);
            accounts.extend(part.accounts);
        }
        order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let charted: BTreeSet<&str> = order
            .iter()
            .take(MAX_CHART_ACCOUNTS)
            .map(|(a, _)| a.as_str())
            .collect();
        accounts.retain(|a, _| charted.contains(a.as_str()));
        ChartAccounts { order, accounts }
    }
}

/// The ledger as the charts read it: every account's money in (rows excluded at ingest, and
/// rows without an account, a date or an amount, left out), and the rows of the `keep`
/// accounts with the most money in (ties by account key), in ledger order. Only the charted
/// accounts' rows are held, however large the ledger.
fn account_rows(ledger: &DataFrame, keep: usize) -> Result<ChartAccounts, ReportError> {
    let account = Texts::of(ledger, col::ACCOUNT_ID)?;
    let date = DateColumn::of(ledger, col::BOOKING_DATE)?;
    let amount = PenceColumn::of(ledger, col::AMOUNT)?;
    let excluded = Texts::of(ledger, col::EXCLUDED_REASON)?;
    let row = |i: usize| -> Option<(&str, NaiveDate, i64)> {
        if excluded.get(i).is_some() {
            return None;
        }
        let a = account.get(i)?;
        let d = date.get(i)?;
        let m = amount.get(i)?;
        Some((a, d, m))
    };
    // An account's rows are usually together: its sum is kept to hand until the account
    // changes, not looked up in the map row by row.
    let mut money_in: BTreeMap<&str, i64> = BTreeMap::new();
    let mut current: Option<(&str, i64)> = None;
    for i in 0..ledger.height() {
        if let Some((a, _, m)) = row(i) {
            match &mut current {
                Some((held, sum)) if *held == a => *sum += m.max(0),
                _ => {
                    if let Some((held, sum)) = current.replace((a, m.max(0))) {
                        *money_in.entry(held).or_default() += sum;
                    }
                }
            }
        }
    }
    if let Some((held, sum)) = current {
        *money_in.entry(held).or_default() += sum;
    }
    let mut order: Vec<(String, i64)> = money_in
        .into_iter()
        .map(|(a, m)| (a.to_string(), m))
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let charted: BTreeSet<&str> = order.iter().take(keep).map(|(a, _)| a.as_str()).collect();
    let channel = Texts::of(ledger, col::CHANNEL)?;
    let balance = PenceColumn::of(ledger, col::BALANCE)?;
    let currency = Texts::of(ledger, col::CURRENCY)?;
    let mut out: BTreeMap<String, AccountRows> = BTreeMap::new();
    let mut last: Option<(&str, bool)> = None;
    for i in 0..ledger.height() {
        let Some(a) = account.get(i) else { continue };
        let is_charted = match last {
            Some((held, c)) if held == a => c,
            _ => {
                let c = charted.contains(a);
                last = Some((a, c));
                c
            }
        };
        if !is_charted {
            continue;
        }
        let Some((a, d, m)) = row(i) else { continue };
        let entry = match out.get_mut(a) {
            Some(entry) => entry,
            None => out.entry(a.to_string()).or_insert(AccountRows {
                currency: currency.get(i).unwrap_or_default().to_string(),
                rows: Vec::new(),
            }),
        };
        entry.rows.push((
            d,
            channel.get(i).unwrap_or("other").to_string(),
            m,
            balance.get(i),
        ));
    }
    Ok(ChartAccounts {
        order,
        accounts: out,
    })
}

fn charts_section(input: &ReportInput<'_>) -> Result<Section, ReportError> {
    let mut blocks = vec![Block::Paragraph {
        text: "For each account: the credits of each month by channel (money in, in the account's currency, rows excluded at ingest left out), and the balance after each row. Where the bank printed a running balance it is used; otherwise the balance is the net of the movements from the first row, and the chart says so. The flow diagram shows, for the elected tracing method, how much tainted money went from each kind of origin through the case accounts to each destination.".into(),
    }];
    let (order, accounts) = (&input.charts.order, &input.charts.accounts);
    if order.len() > MAX_CHART_ACCOUNTS {
        blocks.push(Block::Caution {
            text: format!(
                "{} accounts hold rows; the {MAX_CHART_ACCOUNTS} with the most money in are charted. ledger.csv holds every row.",
                order.len()
            ),
        });
    }
    let names: BTreeMap<&str, &str> = input
        .case
        .accounts
        .iter()
        .map(|a| (a.id.as_str(), a.bank.as_str()))
        .collect();
    for (n, (account, _)) in order.iter().take(MAX_CHART_ACCOUNTS).enumerate() {
        let Some(rows) = accounts.get(account) else {
            continue;
        };
        let mut months: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for (d, ch, m, _) in &rows.rows {
            if *m > 0 {
                *months
                    .entry(d.format("%Y-%m").to_string())
                    .or_default()
                    .entry(ch.clone())
                    .or_default() += m;
            }
        }
        let months: Vec<MonthCredits> = months
            .into_iter()
            .map(|(month, by_channel)| MonthCredits { month, by_channel })
            .collect();
        let bank = names.get(account.as_str()).copied().unwrap_or("");
        let title = format!("{account} ({bank}): credits by month and channel");
        let total: i64 = months.iter().map(MonthCredits::total).sum();
        blocks.push(Block::Figure(Figure {
            id: format!("credits-{}", n + 1),
            title: title.clone(),
            caption: format!(
                "Credits to {account} by month, stacked by channel; {} in all over {} months. Amounts in {}.",
                format_money(total, &rows.currency),
                months.len(),
                rows.currency
            ),
            width: 640,
            svg: charts::monthly_credits_svg(&title, &months, &rows.currency),
        }));
        let bank_balances = rows.rows.iter().all(|r| r.3.is_some());
        let mut running = 0i64;
        let all: Vec<BalancePoint> = rows
            .rows
            .iter()
            .map(|(d, _, m, b)| {
                running += m;
                BalancePoint {
                    date: *d,
                    balance: if bank_balances {
                        b.unwrap_or(running)
                    } else {
                        running
                    },
                }
            })
            .collect();
        let points = per_day_extremes(&all);
        let basis = if bank_balances {
            "balance after each row as printed by the bank"
        } else {
            "net of movements from the first row (no running balance on every row; opening balance not included)"
        };
        let title = format!("{account} ({bank}): balance over time");
        blocks.push(Block::Figure(Figure {
            id: format!("balance-{}", n + 1),
            title: title.clone(),
            caption: format!(
                "Balance of {account} after each of its {} rows: {basis}{}. Amounts in {}.",
                rows.rows.len(),
                if points.len() < all.len() {
                    "; within a day the first, lowest, highest and last balance are drawn"
                } else {
                    ""
                },
                rows.currency
            ),
            width: 640,
            svg: charts::balance_svg(&title, &points, &rows.currency, basis),
        }));
    }
    if let Some(t) = input.trace {
        let (edges, method) = flow_edges(t)?;
        let title = "Flow of tainted money: origins, accounts, destinations";
        let subtitle = format!(
            "method: {method}; amounts in {}; money still held at the end shown as a destination",
            input.case.base_currency
        );
        blocks.push(Block::Figure(Figure {
            id: "flow".into(),
            title: title.into(),
            caption: format!(
                "Tainted money under the {method} method: from the kind of origin (left), through each case account it passed (by hop), to where it went (right). Band widths are proportional to the amounts; trace_flows.csv holds every flow."
            ),
            width: 900,
            svg: charts::flow_svg(title, &subtitle, &edges, &input.case.base_currency),
        }));
    }
    Ok(Section {
        id: "charts".into(),
        title: "Charts".into(),
        blocks,
    })
}

/// At most four points a day, in row order: the day's first, lowest, highest and last
/// balance. A chart cannot show more than that within a day, and a busy account's chart
/// stays small; the lowest and highest balances, which the chart labels, are kept.
fn per_day_extremes(points: &[BalancePoint]) -> Vec<BalancePoint> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < points.len() {
        let day = points[start].date;
        let end = points[start..]
            .iter()
            .position(|p| p.date != day)
            .map_or(points.len(), |n| start + n);
        let slice = &points[start..end];
        let low = (0..slice.len()).min_by_key(|&i| (slice[i].balance, i));
        let high = (0..slice.len()).max_by_key(|&i| (slice[i].balance, std::cmp::Reverse(i)));
        let mut keep: Vec<usize> = [Some(0), low, high, Some(slice.len() - 1)]
            .into_iter()
            .flatten()
            .collect();
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|i| slice[i]));
        start = end;
    }
    out
}

/// The flow diagram's edges, aggregated from `trace_flows.csv` rows of one method.
fn flow_edges(t: TraceFrames<'_>) -> Result<(Vec<FlowEdge>, String), ReportError> {
    let method = t.elected.unwrap_or("fifo").to_string();
    let f = t.flows;
    let m = Texts::of(f, "method")?;
    let origin = Texts::of(f, "origin_txn_id")?;
    let kind = Texts::of(f, "destination_kind")?;
    let cp = Texts::of(f, "counterparty")?;
    let dest_account = Texts::of(f, "destination_account")?;
    let amount = Texts::of(f, "amount")?;
    let path = Texts::of(f, "path")?;
    let of_method: Vec<usize> = (0..f.height())
        .filter(|&i| m.get(i) == Some(method.as_str()))
        .collect();
    // Origin kind: the origin row's channel, for the origins these flows name.
    let named_origins: HashSet<&str> = of_method.iter().filter_map(|&i| origin.get(i)).collect();
    // Every origin is a row of `trace_origins.csv`, with its channel.
    let origins = t.origins;
    let txn = Texts::of(origins, "txn_id")?;
    let channel = Texts::of(origins, "channel")?;
    let mut origin_kind: BTreeMap<&str, String> = BTreeMap::new();
    for i in 0..origins.height() {
        if let (Some(id), Some(ch)) = (txn.get(i), channel.get(i)) {
            if named_origins.contains(id) {
                origin_kind.insert(id, format!("{}s", charts::channel_label(ch)));
            }
        }
    }
    // Flows with the same path, origin kind and destination move together: summed first.
    let mut same: BTreeMap<(&str, String, String), i64> = BTreeMap::new();
    for i in of_method {
        let Some(a) = amount.get(i).and_then(pence) else {
            continue;
        };
        let from = origin
            .get(i)
            .and_then(|o| origin_kind.get(o).cloned())
            .unwrap_or_else(|| "other origins".into());
        let to = match kind.get(i) {
            Some("remaining_balance") => {
                format!("still held in {}", dest_account.get(i).unwrap_or_default())
            }
            Some("internal_transfer") => continue,
            Some(k) => match cp.get(i) {
                Some(c) if !c.is_empty() => c.to_string(),
                _ => charts::channel_label(k),
            },
            None => "unknown".into(),
        };
        *same
            .entry((path.get(i).unwrap_or(""), from, to))
            .or_default() += a;
    }
    let hops: Vec<(Vec<String>, String, String, i64)> = same
        .into_iter()
        .map(|((path, from, to), a)| {
            let accounts: Vec<String> = path
                .split('>')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            (accounts, from, to, a)
        })
        .collect();
    // Destinations beyond the largest few are grouped.
    let mut by_dest: BTreeMap<&str, i64> = BTreeMap::new();
    for h in &hops {
        *by_dest.entry(h.2.as_str()).or_default() += h.3;
    }
    let mut ranked: Vec<(&str, i64)> = by_dest.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let named: BTreeSet<String> = ranked
        .iter()
        .take(MAX_FLOW_DESTINATIONS)
        .map(|(d, _)| (*d).to_string())
        .collect();
    let depth = hops.iter().map(|h| h.0.len()).max().unwrap_or(1).max(1);
    let mut agg: BTreeMap<(FlowNode, FlowNode), i64> = BTreeMap::new();
    for (accounts, from, to, a) in hops {
        let to = if named.contains(&to) {
            to
        } else {
            "other destinations".into()
        };
        let mut prev = FlowNode {
            column: 0,
            label: from,
        };
        for (hop, acc) in accounts.iter().enumerate() {
            let node = FlowNode {
                column: hop + 1,
                label: acc.clone(),
            };
            *agg.entry((prev, node.clone())).or_default() += a;
            prev = node;
        }
        let last = FlowNode {
            column: depth + 1,
            label: to,
        };
        *agg.entry((prev, last)).or_default() += a;
    }
    let edges = agg
        .into_iter()
        .filter(|(_, a)| *a > 0)
        .map(|((from, to), amount)| FlowEdge { from, to, amount })
        .collect();
    Ok((edges, method))
}

fn schedule_sections(s: &Schedules, base: &str) -> Vec<Section> {
    let (l, r) = money_columns();
    let m = |p: i64| format_money(p, base);
    // Benefit.
    let mut benefit = Table::new(
        "benefit",
        &[
            ("No", r, 1),
            ("Section", l, 2),
            ("Date", l, 2),
            ("Account", l, 3),
            ("Description", l, 5),
            ("Counterparty", l, 3),
            ("Historic", r, 2),
            ("Index", l, 3),
            ("Uplifted", r, 2),
            ("Counted", r, 2),
            ("Source (exhibit)", l, 4),
        ],
        true,
    );
    for (i, b) in s.benefit.iter().enumerate().take(MAX_TABLE_ROWS) {
        benefit.rows.push(vec![
            (i + 1).to_string(),
            b.section.clone(),
            b.date.to_string(),
            b.account_id.clone().unwrap_or_default(),
            b.description.clone(),
            b.counterparty.clone().unwrap_or_default(),
            m(b.historic),
            match (&b.month, b.index_obtained, b.index_valuation) {
                (Some(mo), Some(a), Some(v)) => format!("{mo}: {a} → {v}"),
                _ => String::new(),
            },
            m(b.uplifted),
            m(b.value),
            source_with_exhibit(&b.source_ref, &b.exhibit),
        ]);
    }
    benefit.total = Some(vec![
        String::new(),
        "Total".into(),
        String::new(),
        String::new(),
        format!("{} lines", s.benefit.len()),
        String::new(),
        m(s.totals.benefit_historic),
        String::new(),
        m(s.totals.benefit_uplifted),
        m(s.totals.benefit),
        String::new(),
    ]);
    cut_note(&mut benefit, s.benefit.len(), "schedule_benefit.csv");
    benefit.notes.push(format!(
        "Index: {} ({}), file {}. Each line: historic × index(valuation month {}) / index(month obtained), rounded once, half to even, to the penny; the total is the sum of the rounded lines. Where the value now of property representing the benefit is greater (s.80(2)(b)), the line says so and the greater figure is counted.",
        s.index_series, s.index_vintage, s.index_file, s.valuation_month
    ));
    let benefit_section = Section {
        id: "benefit".into(),
        title: "Benefit schedule".into(),
        blocks: vec![
            Block::Paragraph {
                text: format!(
                    "{} lines make up the benefit of {}. Each names the statutory basis, the ledger row (txn id on schedule_benefit.csv) and the line of the disclosed document it comes from.",
                    s.benefit.len(),
                    m(s.totals.benefit)
                ),
            },
            Block::Table(benefit),
        ],
    };
    // Exclusions.
    let mut exclusions = Table::new(
        "exclusions",
        &[
            ("No", r, 1),
            ("Category", l, 3),
            ("Date", l, 2),
            ("Account", l, 3),
            ("Amount", r, 2),
            ("Counterparty", l, 3),
            ("Reason", l, 9),
            ("Source (exhibit)", l, 4),
        ],
        true,
    );
    for (i, e) in s.exclusions.iter().enumerate().take(MAX_TABLE_ROWS) {
        exclusions.rows.push(vec![
            (i + 1).to_string(),
            e.category.replace('_', " "),
            e.date.map(|d| d.to_string()).unwrap_or_default(),
            e.account_id.clone().unwrap_or_default(),
            m(e.amount),
            e.counterparty.clone().unwrap_or_default(),
            e.reason.clone(),
            source_with_exhibit(&e.source_ref, &e.exhibit),
        ]);
    }
    cut_note(
        &mut exclusions,
        s.exclusions.len(),
        "schedule_exclusions.csv",
    );
    let mut by_category: BTreeMap<&str, (usize, i64)> = BTreeMap::new();
    for e in &s.exclusions {
        let c = by_category.entry(e.category).or_default();
        c.0 += 1;
        c.1 += e.amount;
    }
    let exclusions_section = Section {
        id: "exclusions".into(),
        title: "Exclusions: what is not counted, and why".into(),
        blocks: vec![
            Block::Paragraph {
                text: format!(
                    "{} items were not counted as benefit. By category: {}.",
                    s.exclusions.len(),
                    if by_category.is_empty() {
                        "none".to_string()
                    } else {
                        by_category
                            .iter()
                            .map(|(c, (n, a))| format!("{} {n} ({})", c.replace('_', " "), m(*a)))
                            .collect::<Vec<_>>()
                            .join("; ")
                    }
                ),
            },
            Block::Table(exclusions),
        ],
    };
    // Available amount.
    let mut available = Table::new(
        "available",
        &[
            ("No", r, 1),
            ("Kind", l, 2),
            ("Item", l, 2),
            ("Description", l, 6),
            ("Market value", r, 2),
            ("Encumbrances", r, 2),
            ("Share", r, 1),
            ("Value", r, 2),
            ("Source (exhibit)", l, 4),
        ],
        true,
    );
    for (i, a) in s.available.iter().enumerate().take(MAX_TABLE_ROWS) {
        available.rows.push(vec![
            (i + 1).to_string(),
            a.kind.replace('_', " "),
            a.item_id.clone(),
            a.description.clone(),
            a.market_value.map(m).unwrap_or_default(),
            a.encumbrances.map(m).unwrap_or_default(),
            a.share
                .map(|d| d.normalize().to_string())
                .unwrap_or_default(),
            m(a.value),
            source_with_exhibit(&a.source_ref, &a.exhibit),
        ]);
    }
    available.total = Some(vec![
        String::new(),
        "Total".into(),
        String::new(),
        format!(
            "sum of the lines {}; available amount (never below nil) {}",
            m(s.totals.available_lines),
            m(s.totals.available)
        ),
        String::new(),
        String::new(),
        String::new(),
        m(s.totals.available_lines),
        String::new(),
    ]);
    cut_note(
        &mut available,
        s.available.len(),
        "schedule_available_amount.csv",
    );
    let available_section = Section {
        id: "available".into(),
        title: "Available amount (s.9)".into(),
        blocks: vec![
            Block::Paragraph {
                text: "Free property from the asset register (market value less encumbrances, times the defendant's beneficial share), the last balance of each of the defendant's accounts, obligations having priority (deducted) and the tainted gifts.".into(),
            },
            Block::Table(available),
        ],
    };
    // Gifts.
    let mut gifts = Table::new(
        "gifts",
        &[
            ("No", r, 1),
            ("Gift", l, 2),
            ("Date", l, 2),
            ("Recipient", l, 3),
            ("Description", l, 5),
            ("Value", r, 2),
            ("Consideration", r, 2),
            ("Gift amount", r, 2),
            ("Uplifted", r, 2),
            ("Value now", r, 2),
            ("Rule applied", l, 6),
            ("Counted", r, 2),
            ("Source (exhibit)", l, 4),
        ],
        true,
    );
    for (i, g) in s.gifts.iter().enumerate().take(MAX_TABLE_ROWS) {
        gifts.rows.push(vec![
            (i + 1).to_string(),
            g.gift_id.clone(),
            g.date.to_string(),
            g.recipient.clone(),
            g.description.clone(),
            m(g.value_at_gift),
            m(g.consideration),
            m(g.gift_amount),
            m(g.uplifted),
            g.value_now.map(m).unwrap_or_default(),
            g.rule.clone(),
            m(g.counted),
            source_with_exhibit(&g.source_ref, &g.exhibit),
        ]);
    }
    gifts.total = Some(vec![
        String::new(),
        "Total".into(),
        String::new(),
        String::new(),
        format!(
            "{} gifts, {} tainted",
            s.gifts.len(),
            s.gifts.iter().filter(|g| g.tainted).count()
        ),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        m(s.totals.tainted_gifts),
        String::new(),
    ]);
    cut_note(&mut gifts, s.gifts.len(), "schedule_tainted_gifts.csv");
    let gifts_section = Section {
        id: "gifts".into(),
        title: "Tainted gifts (s.77, s.78, s.81)".into(),
        blocks: vec![
            Block::Paragraph {
                text: "Every gift found, tainted or not, with the timing rule of s.77 applied to it. A gift is its value less any consideration (s.78), adjusted for the value of money like benefit.".into(),
            },
            Block::Table(gifts),
        ],
    };
    vec![
        benefit_section,
        exclusions_section,
        available_section,
        gifts_section,
    ]
}

fn source_with_exhibit(source: &str, exhibit: &str) -> String {
    if exhibit.is_empty() {
        source.to_string()
    } else {
        format!("{source} ({exhibit})")
    }
}

fn tracing_section(input: &ReportInput<'_>) -> Result<Section, ReportError> {
    let Some(t) = input.trace else {
        return Ok(Section {
            id: "tracing".into(),
            title: "Tracing".into(),
            blocks: vec![Block::Paragraph {
                text: "Tracing was not run: the case file has no [tracing] table saying what is tainted.".into(),
            }],
        });
    };
    let base = input.case.base_currency.as_str();
    let (l, r) = money_columns();
    let s = t.summary;
    // Only the rows the table shows are read (the file holds them all).
    let shown = s.slice(0, MAX_TABLE_ROWS);
    let get = |name: &str| text_column(&shown, name);
    let dest = get("destination_txn_id")?;
    let account = get("account_id")?;
    let date = get("booking_date")?;
    let cp = get("counterparty")?;
    let amount = get("amount")?;
    let methods = ["fifo", "lifo", "hallett", "libr", "pro_rata"];
    let mut tainted = Vec::new();
    for mth in methods {
        tainted.push(get(&format!("tainted_{mth}"))?);
    }
    let mut table = Table::new(
        "tracing",
        &[
            ("Destination (txn id)", l, 3),
            ("Date", l, 2),
            ("Account", l, 3),
            ("Paid to", l, 4),
            ("Amount", r, 2),
            ("FIFO", r, 2),
            ("LIFO", r, 2),
            ("Hallett", r, 2),
            ("LIBR", r, 2),
            ("Pro rata", r, 2),
        ],
        true,
    );
    for i in 0..shown.height() {
        let mut row = vec![
            or_empty(&dest[i]),
            or_empty(&date[i]),
            or_empty(&account[i]),
            or_empty(&cp[i]),
            money_text(amount[i].as_deref(), base),
        ];
        for col in &tainted {
            row.push(money_text(col[i].as_deref(), base));
        }
        table.rows.push(row);
    }
    cut_note(&mut table, t.summary_rows, "trace_summary.csv");
    table.notes.push(
        "Each method column is the tainted part of the payment under that method; the rest of the payment is clean. LIBR: tainted money never above the lowest intermediate balance, no replenishment; read with the note on LIBR in docs/decisions.md.".into(),
    );
    // End balances per method.
    let b = t.balances;
    let b_shown = b.slice(0, MAX_TABLE_ROWS);
    let b_account = text_column(&b_shown, "account_id")?;
    let b_method = text_column(&b_shown, "method")?;
    let b_end = text_column(&b_shown, "end_balance")?;
    let b_tainted = text_column(&b_shown, "tainted")?;
    let mut held = Table::new(
        "trace_balances",
        &[
            ("Account", l, 3),
            ("Method", l, 2),
            ("End balance", r, 2),
            ("Tainted part", r, 2),
        ],
        false,
    );
    for i in 0..b_shown.height() {
        held.rows.push(vec![
            or_empty(&b_account[i]),
            or_empty(&b_method[i]),
            money_text(b_end[i].as_deref(), base),
            money_text(b_tainted[i].as_deref(), base),
        ]);
    }
    cut_note(&mut held, b.height(), "trace_balances.csv");
    Ok(Section {
        id: "tracing".into(),
        title: "Tracing".into(),
        blocks: vec![
            Block::Paragraph {
                text: format!(
                    "{} tainted origins (trace_origins.csv) were followed through the case accounts. For each payment of interest, the tainted part under every method; the investigator elected {}.",
                    t.origins.height(),
                    t.elected.unwrap_or("no method")
                ),
            },
            Block::Table(table),
            Block::Heading {
                text: "Money still held at the end, per method".into(),
            },
            Block::Table(held),
        ],
    })
}

/// A heading per rule set: the trafficking indicators stand under their own.
fn rule_set_title(origin: &str) -> (u8, &'static str) {
    let stem = origin
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(origin)
        .split(['.', ' '])
        .next()
        .unwrap_or("");
    match stem {
        "structuring" => (1, "Structuring"),
        "money_mules" => (2, "Money mules and rapid movement of funds"),
        "cash_fronts" => (3, "Cash-intensive businesses used as fronts"),
        "transfers" => (4, "Round amounts and high-risk destinations"),
        "trafficking" => (5, "Human trafficking and labour-exploitation indicators"),
        _ => (6, "Other rules"),
    }
}

fn findings_sections(input: &ReportInput<'_>) -> Result<Vec<Section>, ReportError> {
    let Some(f) = input.findings else {
        return Ok(vec![Section {
            id: "findings".into(),
            title: "Findings".into(),
            blocks: vec![Block::Paragraph {
                text: "Detection did not run.".into(),
            }],
        }]);
    };
    let base = input.case.base_currency.as_str();
    let df = f.findings;
    let rule_id = text_column(df, "rule_id")?;
    let finding_id = text_column(df, "finding_id")?;
    let name = text_column(df, "rule_name")?;
    let severity = text_column(df, "severity")?;
    let account = text_column(df, "account_id")?;
    let start = text_column(df, "window_start")?;
    let end = text_column(df, "window_end")?;
    let total = text_column(df, "total_amount")?;
    let metrics = text_column(df, "metrics")?;
    let evidence = text_column(df, "evidence_txn_ids")?;
    let group_of: BTreeMap<&str, (u8, &str)> = f
        .rules
        .iter()
        .map(|r| (r.id.as_str(), rule_set_title(&r.origin)))
        .collect();
    let mut groups: BTreeMap<(u8, &str), Vec<usize>> = BTreeMap::new();
    for (i, id) in rule_id.iter().enumerate() {
        let g = id
            .as_deref()
            .and_then(|id| group_of.get(id).copied())
            .unwrap_or((6, "Other rules"));
        groups.entry(g).or_default().push(i);
    }
    let (l, r) = money_columns();
    let mut blocks = vec![Block::Paragraph {
        text: format!(
            "{} findings from {} rules. A finding is an indicator that a transaction pattern calls for explanation; it is not proof of an offence, and the benefit does not depend on it unless the method statement says so. finding_evidence.csv lists every evidence row with its source line.",
            df.height(),
            f.rules.len()
        ),
    }];
    for note in f.notes {
        blocks.push(Block::Caution { text: note.clone() });
    }
    // Every rule set applied gets a heading, even without findings, so the reader sees
    // what was looked for.
    let mut all_groups: BTreeSet<(u8, &str)> = groups.keys().copied().collect();
    for r in f.rules {
        all_groups.insert(rule_set_title(&r.origin));
    }
    for g in all_groups {
        let rows = groups.get(&g).cloned().unwrap_or_default();
        let applied: Vec<&RuleApplied> = f
            .rules
            .iter()
            .filter(|r| rule_set_title(&r.origin) == g)
            .collect();
        blocks.push(Block::Heading {
            text: g.1.to_string(),
        });
        if g.0 == 5 {
            blocks.push(Block::Caution {
                text: "These indicators follow published guidance on the finance of human trafficking (FATF/APG 2018; FinCEN FIN-2014-A008 and FIN-2020-A008). Each is a pattern seen in trafficking cases, and each has innocent explanations (a landlord's rents, a family's remittances, a travel agent's tickets, an employer's payroll); a finding is a reason to look further, not evidence of exploitation on its own.".into(),
            });
        }
        blocks.push(Block::Paragraph {
            text: format!(
                "Rules applied: {}. Findings: {}.",
                applied
                    .iter()
                    .map(|r| format!("{} v{} ({} findings)", r.id, r.version, r.findings))
                    .collect::<Vec<_>>()
                    .join(", "),
                rows.len()
            ),
        });
        if !rows.is_empty() {
            let mut table = Table::new(
                &format!("findings-{}", g.0),
                &[
                    ("Finding", l, 4),
                    ("Rule", l, 4),
                    ("Severity", l, 1),
                    ("Account", l, 2),
                    ("Window", l, 3),
                    ("Amount", r, 2),
                    ("Why (each test and its result)", l, 9),
                    ("Evidence rows", l, 4),
                ],
                true,
            );
            for &i in rows.iter().take(MAX_TABLE_ROWS) {
                table.rows.push(vec![
                    or_empty(&finding_id[i]),
                    format!("{}: {}", or_empty(&rule_id[i]), or_empty(&name[i])),
                    or_empty(&severity[i]),
                    or_empty(&account[i]),
                    format!("{} to {}", or_empty(&start[i]), or_empty(&end[i])),
                    money_text(total[i].as_deref(), base),
                    clip(&or_empty(&metrics[i]), MAX_CELL_CHARS, "findings.csv"),
                    evidence_cell(&or_empty(&evidence[i])),
                ]);
            }
            cut_note(&mut table, rows.len(), "findings.csv");
            blocks.push(Block::Table(table));
        }
    }
    Ok(vec![Section {
        id: "findings".into(),
        title: "Findings".into(),
        blocks,
    }])
}

fn sources_section(input: &ReportInput<'_>) -> Section {
    let (l, r) = money_columns();
    let mut table = Table::new(
        "sources",
        &[
            ("Role", l, 2),
            ("File", l, 6),
            ("Bytes", r, 2),
            ("SHA-256", l, 10),
        ],
        true,
    );
    for i in input.inputs.iter().take(MAX_TABLE_ROWS) {
        table.rows.push(vec![
            i.role.clone(),
            i.path.clone(),
            if i.size_bytes > 0 {
                i.size_bytes.to_string()
            } else {
                String::new()
            },
            i.sha256.clone(),
        ]);
    }
    let business = input
        .case
        .accounts
        .iter()
        .filter(|a| a.kind == AccountKind::Business)
        .count();
    let mut accounts = Table::new(
        "accounts",
        &[
            ("Account", l, 3),
            ("Holder", l, 3),
            ("Bank", l, 4),
            ("Sort code / number / IBAN", l, 5),
            ("Currency", l, 1),
            ("Kind", l, 2),
        ],
        true,
    );
    for a in input.case.accounts.iter().take(MAX_TABLE_ROWS) {
        let number = [
            a.sort_code.clone(),
            a.account_number.clone(),
            a.iban.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        accounts.rows.push(vec![
            a.id.clone(),
            a.holder.clone(),
            a.bank.clone(),
            number,
            a.currency.clone(),
            format!("{:?}", a.kind).to_lowercase(),
        ]);
    }
    cut_note(&mut table, input.inputs.len(), "manifest.json");
    let case_file = input
        .case
        .path
        .file_name()
        .map_or_else(|| "the case file".into(), |f| f.to_string_lossy());
    cut_note(&mut accounts, input.case.accounts.len(), &case_file);
    Section {
        id: "sources".into(),
        title: "Appendix: sources and accounts".into(),
        blocks: vec![
            Block::Paragraph {
                text: format!(
                    "Every input to this report, with its size and SHA-256 as read before parsing; the command proceeds verify-manifest re-hashes them against manifest.json. {} accounts are in the case ({business} business).",
                    input.case.accounts.len()
                ),
            },
            Block::Table(table),
            Block::Heading {
                text: "Accounts in the case".into(),
            },
            Block::Table(accounts),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(section: &Section) -> Vec<&Table> {
        section
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Table(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn typed_money_and_dates_read_as_their_text_reads() {
        let minor = [
            Some(0i128),
            Some(1),
            Some(-1),
            Some(-5),
            Some(940_000),
            Some(-12_345_678_901),
            None,
            Some(i128::from(i64::MAX)),
            Some(i128::from(i64::MAX) + 1),
            Some(i128::from(i64::MIN)),
        ];
        let days = [
            Some(0),
            Some(-1),
            Some(19_753),
            None,
            Some(-719_528),  // 0000-01-01
            Some(2_932_896), // 9999-12-31
            Some(2_932_897), // 10000-01-01
            Some(-719_529),  // -0001-12-31
            Some(-25_567),
            Some(47_482),
        ];
        let df = DataFrame::new(
            minor.len(),
            vec![
                Int128Chunked::from_iter_options("amount".into(), minor.into_iter())
                    .into_decimal(38, 2)
                    .unwrap()
                    .into_series()
                    .into_column(),
                Int32Chunked::from_iter_options("date".into(), days.into_iter())
                    .into_date()
                    .into_series()
                    .into_column(),
            ],
        )
        .unwrap();
        let (money, money_text) = (
            PenceColumn::of(&df, "amount").unwrap(),
            Texts::of(&df, "amount").unwrap(),
        );
        let (dates, date_text) = (
            DateColumn::of(&df, "date").unwrap(),
            Texts::of(&df, "date").unwrap(),
        );
        assert!(matches!(money, PenceColumn::Minor(_)));
        assert!(matches!(dates, DateColumn::Days(_)));
        for i in 0..df.height() {
            assert_eq!(money.get(i), money_text.get(i).and_then(pence), "row {i}");
            assert_eq!(
                dates.get(i),
                date_text.get(i).and_then(|t| t.parse().ok()),
                "row {i}"
            );
        }
        assert_eq!(money.get(4), Some(940_000));
        assert_eq!(money.get(8), None);
        assert_eq!(dates.get(2), NaiveDate::from_ymd_opt(2024, 1, 31));
        // Another scale, and a column that is not there, go through the text.
        let other = DataFrame::new(
            1,
            vec![
                Int128Chunked::from_iter_options("a".into(), [Some(12_345i128)].into_iter())
                    .into_decimal(18, 3)
                    .unwrap()
                    .into_series()
                    .into_column(),
            ],
        )
        .unwrap();
        let three = PenceColumn::of(&other, "a").unwrap();
        assert!(matches!(three, PenceColumn::Text(_)));
        assert_eq!(three.get(0), pence("12.345"));
        assert_eq!(PenceColumn::of(&other, "missing").unwrap().get(0), None);
    }

    #[test]
    fn source_and_account_lists_past_the_table_limit_point_to_the_files_holding_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("statement.csv");
        std::fs::write(&file, "Date,Amount\n").unwrap();
        let mut case = Case::ad_hoc(&file, "lloyds", "GBP").unwrap();
        let first = case.accounts[0].clone();
        case.accounts = (0..MAX_TABLE_ROWS + 3)
            .map(|i| crate::case::Account {
                id: format!("A{i:05}"),
                ..first.clone()
            })
            .collect();
        let sources: Vec<SourceReport> = (0..MAX_TABLE_ROWS + 2)
            .map(|i| SourceReport {
                index: i,
                source_file: format!("s{i:05}.csv"),
                exhibit: None,
                sha256: format!("{i:064}"),
                size_bytes: 10,
                layout: "lloyds".into(),
                layout_version: 1,
                layout_sha256: String::new(),
                encoding: "utf-8".into(),
                declared_account: None,
                records_read: 3,
                accepted: 2,
                rejected: 0,
                skipped: 1,
                first_date: None,
                last_date: None,
                money_in: Decimal::ZERO,
                money_out: Decimal::ZERO,
            })
            .collect();
        let inputs: Vec<Input> = (0..MAX_TABLE_ROWS + 1)
            .map(|i| Input {
                role: "source".into(),
                path: format!("s{i:05}.csv"),
                sha256: format!("{i:064}"),
                size_bytes: 10,
            })
            .collect();
        let charts = ChartAccounts::default();
        let input = ReportInput {
            case: &case,
            charts: &charts,
            sources: &sources,
            integrity: None,
            integrity_summary: &[],
            transfers: None,
            findings: None,
            trace: None,
            schedules: None,
            inputs: &inputs,
            run_timestamp: "2026-11-29T00:00:00Z",
            stage_notes: &[],
        };
        let integrity = integrity_section(&input).unwrap();
        let counted = tables(&integrity)[0];
        assert_eq!(counted.rows.len(), MAX_TABLE_ROWS);
        // The total still counts every source: 1,002 × 3 lines read.
        assert_eq!(counted.total.as_ref().unwrap()[3], "3006");
        assert_eq!(
            counted.notes,
            vec!["Lines 1 to 1000 of 1002 are shown; sources.csv holds every line. Totals cover every line."]
        );
        let appendix = sources_section(&input);
        let [hashes, accounts] = tables(&appendix)[..] else {
            panic!("two tables in the appendix");
        };
        assert_eq!(hashes.rows.len(), MAX_TABLE_ROWS);
        assert_eq!(
            hashes.notes,
            vec!["Lines 1 to 1000 of 1001 are shown; manifest.json holds every line."]
        );
        assert_eq!(accounts.rows.len(), MAX_TABLE_ROWS);
        assert_eq!(accounts.rows[999][0], "A00999");
        assert_eq!(
            accounts.notes,
            vec!["Lines 1 to 1000 of 1003 are shown; statement.csv holds every line."]
        );
    }

    #[test]
    fn pence_reads_decimal_text_exactly() {
        assert_eq!(pence("9400.00"), Some(940_000));
        assert_eq!(pence("-12.5"), Some(-1_250));
        assert_eq!(pence("0.01"), Some(1));
        assert_eq!(pence("abc"), None);
    }

    #[test]
    fn a_day_keeps_its_first_lowest_highest_and_last_balance() {
        let d = |day: u32| NaiveDate::from_ymd_opt(2024, 1, day).unwrap();
        let p = |day: u32, balance: i64| BalancePoint {
            date: d(day),
            balance,
        };
        let points = [
            p(1, 500),
            p(1, 100),
            p(1, 900),
            p(1, 300),
            p(1, 400),
            p(2, 50),
        ];
        assert_eq!(
            per_day_extremes(&points),
            vec![p(1, 500), p(1, 100), p(1, 900), p(1, 400), p(2, 50)]
        );
    }

    #[test]
    fn long_cells_are_cut_with_a_pointer_to_the_full_text() {
        assert_eq!(clip("abc", 3, "x.csv"), "abc");
        assert_eq!(
            clip("abcdef", 3, "x.csv"),
            "abc … (cut here; x.csv holds the full text)"
        );
        let ids: Vec<String> = (1..=30).map(|i| format!("t-L{i}")).collect();
        let cell = evidence_cell(&ids.join(";"));
        assert!(cell.starts_with("t-L1; t-L2; "));
        assert!(cell.ends_with("t-L12; and 18 more rows (finding_evidence.csv)"));
        assert_eq!(evidence_cell("a;b"), "a; b");
    }

    #[test]
    fn rule_sets_get_their_own_headings() {
        assert_eq!(
            rule_set_title("rules/typologies/trafficking.toml (shipped)").0,
            5
        );
        assert_eq!(rule_set_title("structuring.toml").1, "Structuring");
        assert_eq!(rule_set_title("case/rules/extra.toml").0, 6);
    }
}
