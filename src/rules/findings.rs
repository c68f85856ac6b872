//! Findings: what a rule's hits become in the outputs, the same way for every kind.
//!
//! In: one rule's [`Hits`] (episodes and the `seq` of their evidence rows) and the
//! ledger. Out: rows of the `findings` frame and of the long-form `finding_evidence`
//! frame (schemas in `docs/detection.md`).
//!
//! - Evidence rows are joined back to the ledger by `seq`, so each carries its `txn_id`,
//!   source file, line and exhibit exactly as ingested.
//! - Totals are summed from those rows in integer pence and written as exact decimals:
//!   `amount_in` (credits), `amount_out` (debits, as a positive figure) and
//!   `total_amount` = `amount_in` + `amount_out`, all in the base currency
//!   (`amount_base`). Each reconciles to the penny with the evidence rows beneath it.
//! - `finding_id` = `RULE/GROUP/WINDOW_START/N`, where N numbers findings of the same
//!   rule, group and start date in order of their first evidence row: the same inputs
//!   give the same ids.
//! - An episode without evidence rows is our bug, not a finding: it is an error.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::*;

use super::compile::Rule;
use super::kind::{metrics_json, readable, Hits};
use super::prepare::date_of_day;
use crate::ledger::col as lc;

/// `findings` column names, in output order.
pub mod fc {
    pub const FINDING_ID: &str = "finding_id";
    pub const RULE_ID: &str = "rule_id";
    pub const RULE_VERSION: &str = "rule_version";
    pub const RULE_NAME: &str = "rule_name";
    pub const SEVERITY: &str = "severity";
    pub const SUBJECT: &str = "subject";
    pub const ACCOUNT_ID: &str = "account_id";
    pub const WINDOW_START: &str = "window_start";
    pub const WINDOW_END: &str = "window_end";
    pub const EVIDENCE_COUNT: &str = "evidence_count";
    pub const AMOUNT_IN: &str = "amount_in";
    pub const AMOUNT_OUT: &str = "amount_out";
    pub const TOTAL_AMOUNT: &str = "total_amount";
    pub const METRICS: &str = "metrics";
    pub const METRICS_JSON: &str = "metrics_json";
    pub const EVIDENCE_TXN_IDS: &str = "evidence_txn_ids";
}

/// `finding_evidence` columns, in output order.
pub const EVIDENCE_COLUMNS: &[&str] = &[
    fc::FINDING_ID,
    fc::RULE_ID,
    lc::TXN_ID,
    lc::ACCOUNT_ID,
    lc::BOOKING_DATE,
    lc::AMOUNT,
    lc::CURRENCY,
    lc::AMOUNT_BASE,
    lc::CHANNEL,
    lc::COUNTERPARTY_NAME,
    lc::DESCRIPTION,
    lc::LOCATION,
    lc::SOURCE_FILE,
    lc::SOURCE_LINE,
    lc::EXHIBIT,
    lc::SEQ,
];

/// One finding, before it becomes a frame row.
#[derive(Debug, Clone)]
struct Row {
    episode: u32,
    group: String,
    subject: String,
    accounts: String,
    start: NaiveDate,
    end: NaiveDate,
    first_seq: u64,
    count: i64,
    amount_in: i64,
    amount_out: i64,
    metrics: String,
    metrics_json: String,
    txn_ids: String,
}

/// Whether the ledger's `seq` numbers its rows 1, 2, 3, ... in frame order (a canonical
/// ledger), so that row `seq - 1` is the row with that `seq`.
pub fn seq_is_position(ledger: &DataFrame) -> bool {
    let Ok(seq) = ledger.column(lc::SEQ).and_then(|c| c.u64().cloned()) else {
        return false;
    };
    seq.null_count() == 0
        && seq
            .into_no_null_iter()
            .zip(1u64..)
            .all(|(seq, want)| seq == want)
}

/// The findings and evidence frames of one rule (possibly empty, always with the schema).
/// `seq_is_position`: [`seq_is_position`] of `ledger`, worked out once per run.
pub fn assemble(
    rule: &Rule,
    hits: Hits,
    ledger: &DataFrame,
    seq_is_position: bool,
) -> PolarsResult<(DataFrame, DataFrame)> {
    let evidence = match hits.evidence {
        Some(e) if !hits.episodes.is_empty() => e,
        _ => return Ok((empty_findings()?, empty_evidence(ledger)?)),
    };
    let ledger_columns: Vec<&str> = EVIDENCE_COLUMNS
        .iter()
        .filter(|n| **n != fc::FINDING_ID && **n != fc::RULE_ID)
        .copied()
        .collect();
    let ev = evidence.lazy().select([
        col("episode").cast(DataType::UInt32),
        col(lc::SEQ).cast(DataType::UInt64),
    ]);
    let ev = if seq_is_position {
        // `seq` n is ledger row n - 1: the rows are taken by position, no join needed.
        let ev = ev
            .unique_stable(None, UniqueKeepStrategy::First)
            .sort(["episode", lc::SEQ], SortMultipleOptions::default())
            .collect()?;
        let height = ledger.height() as u64;
        let mut positions = Vec::with_capacity(ev.height());
        for seq in ev.column(lc::SEQ)?.u64()?.into_no_null_iter() {
            polars_ensure!(
                (1..=height).contains(&seq),
                ComputeError: "evidence names seq {seq}, which the ledger of {height} rows does not hold"
            );
            positions.push((seq - 1) as IdxSize);
        }
        let mut rows = ledger
            .select(ledger_columns.iter().copied().filter(|n| *n != lc::SEQ))?
            .take(&IdxCa::from_vec("positions".into(), positions))?;
        rows.with_column(ev.column("episode")?.clone())?;
        rows.with_column(ev.column(lc::SEQ)?.clone())?;
        rows
    } else {
        ev.unique_stable(None, UniqueKeepStrategy::First)
            .join(
                ledger
                    .clone()
                    .lazy()
                    .select(ledger_columns.iter().map(|n| col(*n)).collect::<Vec<_>>()),
                [col(lc::SEQ)],
                [col(lc::SEQ)],
                JoinArgs::new(JoinType::Inner),
            )
            .sort(["episode", lc::SEQ], SortMultipleOptions::default())
            .collect()?
    };

    let pence = (col(lc::AMOUNT_BASE) * lit(100)).strict_cast(DataType::Int64);
    let agg = ev
        .clone()
        .lazy()
        .group_by([col("episode")])
        .agg([
            col(lc::BOOKING_DATE)
                .min()
                .cast(DataType::Int32)
                .alias("start"),
            col(lc::BOOKING_DATE)
                .max()
                .cast(DataType::Int32)
                .alias("end"),
            col(lc::SEQ).min().alias("first_seq"),
            len().cast(DataType::Int64).alias("count"),
            pence
                .clone()
                .filter(pence.clone().gt(lit(0)))
                .sum()
                .alias("amount_in"),
            (lit(0) - pence.clone())
                .filter(pence.lt(lit(0)))
                .sum()
                .alias("amount_out"),
            col(lc::TXN_ID).alias("txn_ids"),
            col(lc::ACCOUNT_ID)
                .unique()
                .sort(SortOptions::default())
                .alias("accounts"),
        ])
        .with_columns([
            col("txn_ids").list().join(lit(";"), true),
            col("accounts").list().join(lit(";"), true),
        ])
        .collect()?;

    let episode_ids: Vec<u32> = agg.column("episode")?.u32()?.into_no_null_iter().collect();
    let starts = agg.column("start")?.i32()?.clone();
    let ends = agg.column("end")?.i32()?.clone();
    let firsts = agg.column("first_seq")?.u64()?.clone();
    let counts = agg.column("count")?.i64()?.clone();
    let ins = agg.column("amount_in")?.cast(&DataType::Int64)?;
    let outs = agg.column("amount_out")?.cast(&DataType::Int64)?;
    let ins = ins.i64()?;
    let outs = outs.i64()?;
    let txns = agg.column("txn_ids")?.str()?.clone();
    let accts = agg.column("accounts")?.str()?.clone();
    let mut by_episode = BTreeMap::new();
    for (i, e) in episode_ids.iter().enumerate() {
        by_episode.insert(*e, i);
    }

    let mut rows = Vec::with_capacity(hits.episodes.len());
    for ep in &hits.episodes {
        let Some(&i) = by_episode.get(&ep.episode) else {
            polars_bail!(ComputeError: "rule {}: episode {} ({}) has no evidence rows", rule.id, ep.episode, ep.group);
        };
        let day = |v: Option<i32>| date_of_day(i64::from(v.unwrap_or_default()));
        let (start, end) = ep.window.unwrap_or((day(starts.get(i)), day(ends.get(i))));
        rows.push(Row {
            episode: ep.episode,
            group: ep.group.clone(),
            subject: ep.subject.clone(),
            accounts: accts.get(i).unwrap_or_default().to_string(),
            start,
            end,
            first_seq: firsts.get(i).unwrap_or_default(),
            count: counts.get(i).unwrap_or_default(),
            amount_in: ins.get(i).unwrap_or_default(),
            amount_out: outs.get(i).unwrap_or_default(),
            metrics: readable(&ep.metrics),
            metrics_json: metrics_json(&ep.metrics),
            txn_ids: txns.get(i).unwrap_or_default().to_string(),
        });
    }
    rows.sort_by(|a, b| {
        (&a.group, a.start, a.first_seq, a.episode).cmp(&(
            &b.group,
            b.start,
            b.first_seq,
            b.episode,
        ))
    });
    let mut ids = Vec::with_capacity(rows.len());
    let mut n = 0u32;
    for (i, r) in rows.iter().enumerate() {
        if i > 0 && rows[i - 1].group == r.group && rows[i - 1].start == r.start {
            n += 1;
        } else {
            n = 1;
        }
        ids.push(format!("{}/{}/{}/{}", rule.id, r.group, r.start, n));
    }

    let meta = Meta {
        id: &rule.id,
        version: rule.version,
        name: &rule.name,
        severity: rule.severity.as_str(),
    };
    let findings = findings_frame(&meta, &rows, &ids)?;
    let map = df!(
        "episode" => rows.iter().map(|r| r.episode).collect::<Vec<u32>>(),
        fc::FINDING_ID => ids.clone(),
        "_order" => (0..rows.len() as u32).collect::<Vec<u32>>(),
    )?;
    let evidence = ev
        .lazy()
        .join(
            map.lazy(),
            [col("episode")],
            [col("episode")],
            JoinArgs::new(JoinType::Inner),
        )
        .sort(["_order", lc::SEQ], SortMultipleOptions::default())
        .with_column(lit(rule.id.clone()).alias(fc::RULE_ID))
        .select(EVIDENCE_COLUMNS.iter().map(|n| col(*n)).collect::<Vec<_>>())
        .collect()?;
    Ok((findings, evidence))
}

fn money_column(name: &str, values: impl Iterator<Item = i64>) -> PolarsResult<Column> {
    let ca = Int128Chunked::from_iter_values(name.into(), values.map(i128::from));
    Ok(ca.into_decimal(18, 2)?.into_series().into_column())
}

fn date_column(name: &str, values: Vec<NaiveDate>) -> Column {
    Series::new(name.into(), values.as_slice()).into_column()
}

/// The rule columns repeated on every finding row.
struct Meta<'a> {
    id: &'a str,
    version: u32,
    name: &'a str,
    severity: &'a str,
}

fn findings_frame(rule: &Meta<'_>, rows: &[Row], ids: &[String]) -> PolarsResult<DataFrame> {
    let n = rows.len();
    let s = |f: &dyn Fn(&Row) -> String| rows.iter().map(f).collect::<Vec<String>>();
    let columns = vec![
        Column::new(fc::FINDING_ID.into(), ids.to_vec()),
        Column::new(fc::RULE_ID.into(), vec![rule.id; n]),
        Column::new(fc::RULE_VERSION.into(), vec![rule.version; n]),
        Column::new(fc::RULE_NAME.into(), vec![rule.name; n]),
        Column::new(fc::SEVERITY.into(), vec![rule.severity; n]),
        Column::new(fc::SUBJECT.into(), s(&|r| r.subject.clone())),
        Column::new(fc::ACCOUNT_ID.into(), s(&|r| r.accounts.clone())),
        date_column(fc::WINDOW_START, rows.iter().map(|r| r.start).collect()),
        date_column(fc::WINDOW_END, rows.iter().map(|r| r.end).collect()),
        Column::new(
            fc::EVIDENCE_COUNT.into(),
            rows.iter().map(|r| r.count as u32).collect::<Vec<u32>>(),
        ),
        money_column(fc::AMOUNT_IN, rows.iter().map(|r| r.amount_in))?,
        money_column(fc::AMOUNT_OUT, rows.iter().map(|r| r.amount_out))?,
        money_column(
            fc::TOTAL_AMOUNT,
            rows.iter().map(|r| r.amount_in + r.amount_out),
        )?,
        Column::new(fc::METRICS.into(), s(&|r| r.metrics.clone())),
        Column::new(fc::METRICS_JSON.into(), s(&|r| r.metrics_json.clone())),
        Column::new(fc::EVIDENCE_TXN_IDS.into(), s(&|r| r.txn_ids.clone())),
    ];
    DataFrame::new(n, columns)
}

/// An empty `findings` frame with the full schema.
pub fn empty_findings() -> PolarsResult<DataFrame> {
    let meta = Meta {
        id: "",
        version: 0,
        name: "",
        severity: "",
    };
    findings_frame(&meta, &[], &[])
}

/// An empty `finding_evidence` frame with the full schema.
pub fn empty_evidence(ledger: &DataFrame) -> PolarsResult<DataFrame> {
    let mut columns = vec![
        Column::new(fc::FINDING_ID.into(), Vec::<String>::new()),
        Column::new(fc::RULE_ID.into(), Vec::<String>::new()),
    ];
    for name in &EVIDENCE_COLUMNS[2..] {
        columns.push(ledger.column(name)?.clear());
    }
    DataFrame::new(0, columns)
}
