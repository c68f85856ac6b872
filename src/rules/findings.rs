//! Findings: what a rule's hits become in the outputs, the same way for every kind.
//!
//! In: one rule's [`Hits`] (episodes and the `seq` of their evidence rows) and the
//! ledger. Out: rows of the `findings` frame and of the long-form `finding_evidence`
//! frame (schemas in `docs/detection.md`).
//!
//! - Evidence rows are taken from the ledger by `seq` (by position in a canonical ledger,
//!   where `seq` n is row n), so each carries its `txn_id`, source file, line and exhibit
//!   exactly as ingested.
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

/// One episode's evidence rows (a range of the sorted evidence) and what they add up to.
struct EpisodeRows {
    range: std::ops::Range<usize>,
    start: Option<i32>,
    end: Option<i32>,
    first_seq: u64,
    amount_in: i64,
    amount_out: i64,
    txn_ids: String,
    accounts: String,
    /// Whether a finding has taken this episode's strings (an episode is one finding).
    used: bool,
}

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
    // (episode, seq) of every evidence row, once each, ascending. Kinds mostly hand them
    // over in that order already; then there is nothing to sort.
    let episodes = evidence.column("episode")?.cast(&DataType::UInt32)?;
    let seqs = evidence.column(lc::SEQ)?.cast(&DataType::UInt64)?;
    let mut pairs: Vec<(u32, u64)> = episodes
        .u32()?
        .iter()
        .zip(seqs.u64()?.iter())
        .filter_map(|(e, s)| Some((e?, s?)))
        .collect();
    if !pairs.windows(2).all(|w| w[0] < w[1]) {
        pairs.sort_unstable();
        pairs.dedup();
    }
    // The ledger row of each: `seq - 1` in a canonical ledger, else looked up. A `seq` the
    // ledger does not hold is dropped (its episode then fails below, as it has no rows).
    let height = ledger.height() as u64;
    let mut positions: Vec<IdxSize> = Vec::with_capacity(pairs.len());
    if seq_is_position {
        for &(_, seq) in &pairs {
            polars_ensure!(
                (1..=height).contains(&seq),
                ComputeError: "rule {}: evidence names seq {seq}, which the ledger of {height} rows does not hold", rule.id
            );
            positions.push((seq - 1) as IdxSize);
        }
    } else {
        let mut by_seq: Vec<(u64, IdxSize)> = ledger
            .column(lc::SEQ)?
            .u64()?
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((s?, i as IdxSize)))
            .collect();
        by_seq.sort_unstable();
        pairs.retain(
            |&(_, seq)| match by_seq.binary_search_by_key(&seq, |&(s, _)| s) {
                Ok(k) => {
                    positions.push(by_seq[k].1);
                    true
                }
                Err(_) => false,
            },
        );
    }

    // Per episode, from its rows in `seq` order: dates, count, pence in and out, the
    // txn_ids and the accounts.
    let taken = ledger
        .select([
            lc::BOOKING_DATE,
            lc::AMOUNT_BASE,
            lc::TXN_ID,
            lc::ACCOUNT_ID,
        ])?
        .take(&IdxCa::from_vec("positions".into(), positions.clone()))?
        .lazy()
        .select([
            col(lc::BOOKING_DATE).cast(DataType::Int32),
            (col(lc::AMOUNT_BASE) * lit(100))
                .strict_cast(DataType::Int64)
                .alias("pence"),
            col(lc::TXN_ID),
            col(lc::ACCOUNT_ID),
        ])
        .collect()?;
    let days = taken.column(lc::BOOKING_DATE)?.i32()?;
    let pence = taken.column("pence")?.i64()?;
    let txn_ids = taken.column(lc::TXN_ID)?.str()?;
    let account_ids = taken.column(lc::ACCOUNT_ID)?.str()?;
    let mut per_episode: BTreeMap<u32, EpisodeRows> = BTreeMap::new();
    // The taken rows are in `pairs` order: walk them once, episode by episode.
    let mut taken_rows = days
        .iter()
        .zip(pence.iter())
        .zip(txn_ids.iter())
        .zip(account_ids.iter());
    let mut lo = 0;
    while lo < pairs.len() {
        let episode = pairs[lo].0;
        let mut hi = lo;
        while hi < pairs.len() && pairs[hi].0 == episode {
            hi += 1;
        }
        let mut e = EpisodeRows {
            range: lo..hi,
            start: None,
            end: None,
            first_seq: pairs[lo].1,
            amount_in: 0,
            amount_out: 0,
            txn_ids: String::new(),
            accounts: String::new(),
            used: false,
        };
        // Accounts as they change from row to row; sorted and deduplicated at the end.
        let mut accounts: Vec<&str> = Vec::new();
        for (((d, p), t), a) in taken_rows.by_ref().take(hi - lo) {
            if let Some(d) = d {
                e.start = Some(e.start.map_or(d, |s: i32| s.min(d)));
                e.end = Some(e.end.map_or(d, |x: i32| x.max(d)));
            }
            match p {
                Some(p) if p > 0 => e.amount_in += p,
                Some(p) if p < 0 => e.amount_out -= p,
                _ => {}
            }
            if let Some(t) = t {
                if e.txn_ids.is_empty() {
                    // Room for the episode's ids, each as long as its first (they are
                    // alike), made once.
                    e.txn_ids.reserve((hi - lo) * (t.len() + 1));
                } else {
                    e.txn_ids.push(';');
                }
                e.txn_ids.push_str(t);
            }
            if let Some(a) = a {
                if accounts.last() != Some(&a) {
                    accounts.push(a);
                }
            }
        }
        accounts.sort_unstable();
        accounts.dedup();
        e.accounts = accounts.join(";");
        per_episode.insert(episode, e);
        lo = hi;
    }

    let mut rows = Vec::with_capacity(hits.episodes.len());
    for ep in &hits.episodes {
        let Some(e) = per_episode.get_mut(&ep.episode) else {
            polars_bail!(ComputeError: "rule {}: episode {} ({}) has no evidence rows", rule.id, ep.episode, ep.group);
        };
        polars_ensure!(
            !e.used,
            ComputeError: "rule {}: episode {} ({}) was reported twice", rule.id, ep.episode, ep.group
        );
        e.used = true;
        let day = |v: Option<i32>| date_of_day(i64::from(v.unwrap_or_default()));
        let (start, end) = ep.window.unwrap_or((day(e.start), day(e.end)));
        rows.push(Row {
            episode: ep.episode,
            group: ep.group.clone(),
            subject: ep.subject.clone(),
            accounts: std::mem::take(&mut e.accounts),
            start,
            end,
            first_seq: e.first_seq,
            count: e.range.len() as i64,
            amount_in: e.amount_in,
            amount_out: e.amount_out,
            metrics: readable(&ep.metrics),
            metrics_json: metrics_json(&ep.metrics),
            txn_ids: std::mem::take(&mut e.txn_ids),
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
    // The evidence rows in finding order, then `seq`: one gather from the ledger.
    let mut order: Vec<IdxSize> = Vec::with_capacity(positions.len());
    let mut finding_ids: Vec<(&str, usize)> = Vec::with_capacity(rows.len());
    for (r, id) in rows.iter().zip(&ids) {
        if let Some(e) = per_episode.get(&r.episode) {
            order.extend_from_slice(&positions[e.range.clone()]);
            finding_ids.push((id.as_str(), e.range.len()));
        }
    }
    let n = order.len();
    let mut evidence = ledger
        .select(EVIDENCE_COLUMNS[2..].iter().copied())?
        .take(&IdxCa::from_vec("order".into(), order))?;
    evidence.with_column(repeated_texts(fc::FINDING_ID, &finding_ids)?)?;
    evidence.with_column(repeated_texts(fc::RULE_ID, &[(rule.id.as_str(), n)])?)?;
    let evidence = evidence.select(EVIDENCE_COLUMNS.iter().copied())?;
    Ok((findings, evidence))
}

/// A text column holding each `(text, count)`'s text `count` times, in order. Each text's
/// bytes are stored once and its rows point at them (a text column is a column of views
/// into byte buffers), where building it row by row would copy a finding's id once for
/// every evidence row.
fn repeated_texts(name: &str, runs: &[(&str, usize)]) -> PolarsResult<Column> {
    use polars_arrow::array::{Utf8ViewArray, View};
    use polars_arrow::datatypes::ArrowDataType;
    use polars_buffer::Buffer;
    let mut bytes: Vec<u8> = Vec::new();
    let mut views: Vec<View> = Vec::with_capacity(runs.iter().map(|r| r.1).sum());
    for &(text, count) in runs {
        let offset = u32::try_from(bytes.len())
            .map_err(|_| polars_err!(ComputeError: "column {name}: its texts pass 4 GiB"))?;
        if text.len() > View::MAX_INLINE_SIZE as usize {
            bytes.extend_from_slice(text.as_bytes());
        }
        let view = View::new_from_bytes(text.as_bytes(), 0, offset);
        views.extend(std::iter::repeat_n(view, count));
    }
    let buffers: Buffer<Buffer<u8>> = vec![Buffer::from(bytes)].into();
    let array = Utf8ViewArray::try_new(ArrowDataType::Utf8View, views.into(), buffers, None)?;
    Ok(StringChunked::with_chunk(name.into(), array)
        .into_series()
        .into_column())
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
    // Text columns straight from the rows' strings, not from copies of them.
    let text = |name: &str, f: &dyn Fn(&Row) -> &str| {
        let mut column: StringChunked = rows.iter().map(|r| Some(f(r))).collect();
        column.rename(name.into());
        column.into_series().into_column()
    };
    let columns = vec![
        Column::new(fc::FINDING_ID.into(), ids.to_vec()),
        Column::new(fc::RULE_ID.into(), vec![rule.id; n]),
        Column::new(fc::RULE_VERSION.into(), vec![rule.version; n]),
        Column::new(fc::RULE_NAME.into(), vec![rule.name; n]),
        Column::new(fc::SEVERITY.into(), vec![rule.severity; n]),
        text(fc::SUBJECT, &|r| &r.subject),
        text(fc::ACCOUNT_ID, &|r| &r.accounts),
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
        text(fc::METRICS, &|r| &r.metrics),
        text(fc::METRICS_JSON, &|r| &r.metrics_json),
        text(fc::EVIDENCE_TXN_IDS, &|r| &r.txn_ids),
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

#[cfg(test)]
mod tests {
    #[test]
    fn repeated_texts_give_each_text_its_rows() {
        let long = "TRF-005/ACC-000123/2025-01-03/1";
        let column = super::repeated_texts(
            "finding_id",
            &[
                (long, 3),
                ("", 1),
                ("SHORT", 2),
                (long, 0),
                ("ANOTHER-LONG-ID/9", 1),
            ],
        )
        .expect("column");
        let got: Vec<Option<&str>> = column.str().expect("text").iter().collect();
        let want = [long, long, long, "", "SHORT", "SHORT", "ANOTHER-LONG-ID/9"];
        assert_eq!(got, want.map(Some));
        assert_eq!(column.name().as_str(), "finding_id");
        assert!(super::repeated_texts("x", &[]).expect("empty").is_empty());
    }
}
