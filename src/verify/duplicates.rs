//! Duplicates and overlaps: two exports of one account that cover the same days must not
//! count those days twice.
//!
//! For each account, each pair of its sources whose date ranges overlap is compared over
//! the overlap period (the later of the two first dates to the earlier of the two last
//! dates). The source listed **first in the case file is kept**; a row of the later source
//! is dropped when it is a copy of a kept row: same account, booking date, amount and
//! normalised description (upper case, punctuation as spaces, spaces collapsed).
//!
//! The comparison is of **multisets**, not pairs: the *n*-th copy of a key in the later
//! source is matched to the *n*-th row with that key in the kept source (each in ledger
//! order), through a hash map from key to the kept rows' queue, O(n). So two genuine £20
//! withdrawals on one day survive when the kept source shows both; if the later source
//! shows three, two are dropped and the third is kept and reported. Rows of one source are
//! never compared with each other: identical-looking rows inside one source are genuine.
//!
//! Every dropped row is listed in `duplicates.csv` with the row it duplicates and why; each
//! overlap is an `overlap` row of `integrity.csv`, failing when either source has rows in
//! the overlap that the other lacks.

use std::collections::{HashMap, VecDeque};

use polars::prelude::*;

use super::frame::{date_column, date_text, money_column, money_text, polars_err, Rows};
use super::integrity::{Check, IntegrityRow, Outcome};
use super::VerifyError;
use crate::case::Case;

/// The columns of `duplicates.csv`, in order.
pub const COLUMNS: [&str; 14] = [
    "dropped_txn_id",
    "kept_txn_id",
    "account_id",
    "booking_date",
    "amount",
    "currency",
    "description",
    "dropped_source_file",
    "dropped_line",
    "kept_source_file",
    "kept_line",
    "overlap_from",
    "overlap_to",
    "reason",
];

/// Two sources of one account that cover some of the same days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub account: usize,
    pub kept_source: String,
    pub dropped_source: String,
    pub from: i32,
    pub to: i32,
    /// Rows of each source dated in the overlap.
    pub kept_rows: usize,
    pub later_rows: usize,
    /// Rows of the later source dropped as copies.
    pub dropped: usize,
    /// Rows of the later source in the overlap with no copy in the kept source (kept).
    pub later_unmatched: Vec<String>,
    /// Rows of the kept source in the overlap with no copy in the later source.
    pub kept_unmatched: Vec<String>,
}

/// What the duplicate check found.
#[derive(Debug, Clone)]
pub struct Dedup {
    /// Per ledger row (in `seq` order): whether it stays in the ledger.
    pub keep: Vec<bool>,
    /// `duplicates.csv`.
    pub duplicates: DataFrame,
    pub overlaps: Vec<Overlap>,
    pub integrity: Vec<IntegrityRow>,
}

impl Dedup {
    /// Rows dropped.
    pub fn dropped(&self) -> usize {
        self.keep.iter().filter(|k| !**k).count()
    }
}

/// The description as compared between exports: upper case, every run of characters that
/// are not letters or digits read as one space, trimmed.
pub fn normalise_description(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars().flat_map(char::to_uppercase) {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        } else {
            space = true;
        }
    }
    out
}

struct Dropped {
    row: usize,
    kept: usize,
    overlap: usize,
    copy: usize,
    copies_kept: usize,
}

/// Find overlapping sources and the rows to drop.
pub(crate) fn find(case: &Case, rows: &Rows<'_>) -> Result<Dedup, VerifyError> {
    let n = rows.len();
    let source_index: HashMap<&str, usize> = case
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.path.written.as_str(), i))
        .collect();
    // Rows of each (account, source), in seq order (so in date order).
    let mut lists: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
    for i in 0..n {
        let src = *source_index
            .get(rows.source_file(i))
            .ok_or_else(|| VerifyError::Ledger {
                problem: format!(
                    "row {} names source {:?}, which is not a source of the case",
                    rows.txn_id(i),
                    rows.source_file(i)
                ),
            })?;
        lists.entry((rows.account(i), src)).or_default().push(i);
    }
    let mut by_account: Vec<Vec<usize>> = vec![Vec::new(); case.accounts.len()];
    for &(account, src) in lists.keys() {
        by_account[account].push(src);
    }
    let mut keep = vec![true; n];
    let mut overlaps = Vec::new();
    let mut dropped: Vec<Dropped> = Vec::new();
    let mut integrity = Vec::new();
    for (account, sources) in by_account.iter_mut().enumerate() {
        sources.sort_unstable();
        for (j, &later) in sources.iter().enumerate() {
            for &kept in &sources[..j] {
                let k_rows = &lists[&(account, kept)];
                let s_rows = &lists[&(account, later)];
                let (Some(&k0), Some(&k1), Some(&s0), Some(&s1)) =
                    (k_rows.first(), k_rows.last(), s_rows.first(), s_rows.last())
                else {
                    continue;
                };
                let from = rows.date[k0].max(rows.date[s0]);
                let to = rows.date[k1].min(rows.date[s1]);
                if from > to {
                    continue;
                }
                let in_overlap = |list: &Vec<usize>, keep: &Vec<bool>| -> Vec<usize> {
                    let lo = list.partition_point(|&i| rows.date[i] < from);
                    let hi = list.partition_point(|&i| rows.date[i] <= to);
                    list[lo..hi].iter().copied().filter(|&i| keep[i]).collect()
                };
                let k_in = in_overlap(k_rows, &keep);
                let s_in = in_overlap(s_rows, &keep);
                let key = |i: usize| {
                    (
                        rows.date[i],
                        rows.amount(i),
                        normalise_description(rows.description(i)),
                    )
                };
                let mut queue: HashMap<(i32, i128, String), VecDeque<usize>> = HashMap::new();
                for &i in &k_in {
                    queue.entry(key(i)).or_default().push_back(i);
                }
                let copies_kept: HashMap<(i32, i128, String), usize> =
                    queue.iter().map(|(k, q)| (k.clone(), q.len())).collect();
                let mut copy_no: HashMap<(i32, i128, String), usize> = HashMap::new();
                let overlap_no = overlaps.len();
                let mut later_unmatched = Vec::new();
                let mut matched = 0;
                for &s in &s_in {
                    let k = key(s);
                    let hit = queue.get_mut(&k).and_then(VecDeque::pop_front);
                    match hit {
                        Some(kept_row) => {
                            let c = copy_no.entry(k.clone()).or_default();
                            *c += 1;
                            keep[s] = false;
                            matched += 1;
                            dropped.push(Dropped {
                                row: s,
                                kept: kept_row,
                                overlap: overlap_no,
                                copy: *c,
                                copies_kept: copies_kept.get(&k).copied().unwrap_or(0),
                            });
                        }
                        None => later_unmatched.push(rows.txn_id(s).to_string()),
                    }
                }
                let mut kept_unmatched: Vec<usize> = queue.into_values().flatten().collect();
                kept_unmatched.sort_unstable();
                let kept_file = case.sources[kept].path.written.clone();
                let later_file = case.sources[later].path.written.clone();
                let sum = |list: &[usize]| list.iter().map(|&i| rows.amount(i)).sum::<i128>();
                let ok = later_unmatched.is_empty() && kept_unmatched.is_empty();
                let acc = &case.accounts[account];
                let mut detail = format!(
                    "{later_file} overlaps {kept_file} (listed first in the case file, kept) from {} to {}: {matched} of its {} rows in that period are copies of rows in {kept_file} and were dropped",
                    date_text(from),
                    date_text(to),
                    s_in.len()
                );
                if ok {
                    detail.push_str("; both exports hold the same rows for those days");
                } else {
                    if !later_unmatched.is_empty() {
                        detail.push_str(&format!(
                            "; {} rows of {later_file} in the overlap have no copy in {kept_file} and were kept: {}",
                            later_unmatched.len(),
                            later_unmatched.join(", ")
                        ));
                    }
                    if !kept_unmatched.is_empty() {
                        detail.push_str(&format!(
                            "; {} rows of {kept_file} in the overlap have no copy in {later_file}: {}",
                            kept_unmatched.len(),
                            kept_unmatched
                                .iter()
                                .map(|&i| rows.txn_id(i))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    detail.push_str("; check which export is complete");
                }
                let mut row = IntegrityRow::new(
                    Check::Overlap,
                    account,
                    case,
                    if ok { Outcome::Pass } else { Outcome::Fail },
                );
                row.from_date = Some(from);
                row.to_date = Some(to);
                row.expected = Some(sum(&k_in));
                row.reported = Some(sum(&s_in));
                row.difference = Some(sum(&s_in) - sum(&k_in));
                row.rows = Some(matched as u64);
                row.source_file = Some(later_file.clone());
                row.detail = format!(
                    "{detail}. Money moved in the overlap: {} in {kept_file}, {} in {later_file}",
                    money_text(sum(&k_in), &acc.currency),
                    money_text(sum(&s_in), &acc.currency)
                );
                integrity.push(row);
                overlaps.push(Overlap {
                    account,
                    kept_source: kept_file,
                    dropped_source: later_file,
                    from,
                    to,
                    kept_rows: k_in.len(),
                    later_rows: s_in.len(),
                    dropped: matched,
                    later_unmatched,
                    kept_unmatched: kept_unmatched
                        .iter()
                        .map(|&i| rows.txn_id(i).to_string())
                        .collect(),
                });
            }
        }
    }
    dropped.sort_by_key(|d| d.row);
    let duplicates = duplicates_frame(case, rows, &dropped, &overlaps)?;
    Ok(Dedup {
        keep,
        duplicates,
        overlaps,
        integrity,
    })
}

fn duplicates_frame(
    case: &Case,
    rows: &Rows<'_>,
    dropped: &[Dropped],
    overlaps: &[Overlap],
) -> Result<DataFrame, VerifyError> {
    let n = dropped.len();
    let text = |f: &dyn Fn(&Dropped) -> String| -> Vec<String> { dropped.iter().map(f).collect() };
    let reason = |d: &Dropped| {
        let o = &overlaps[d.overlap];
        format!(
            "same account, booking date, amount and description as {} in {} (listed first in the case file, kept); {} overlaps it from {} to {}; copy {} of {} such rows on that day in the kept export",
            rows.txn_id(d.kept),
            o.kept_source,
            o.dropped_source,
            date_text(o.from),
            date_text(o.to),
            d.copy,
            d.copies_kept
        )
    };
    let columns = vec![
        Column::new(
            "dropped_txn_id".into(),
            text(&|d| rows.txn_id(d.row).to_string()),
        ),
        Column::new(
            "kept_txn_id".into(),
            text(&|d| rows.txn_id(d.kept).to_string()),
        ),
        Column::new(
            "account_id".into(),
            text(&|d| case.accounts[rows.account(d.row)].id.clone()),
        ),
        date_column(
            "booking_date",
            dropped.iter().map(|d| Some(rows.date[d.row])).collect(),
        ),
        money_column(
            "amount",
            dropped.iter().map(|d| Some(rows.amount(d.row))).collect(),
        )?,
        Column::new(
            "currency".into(),
            text(&|d| rows.currency(d.row).to_string()),
        ),
        Column::new(
            "description".into(),
            text(&|d| rows.description(d.row).to_string()),
        ),
        Column::new(
            "dropped_source_file".into(),
            text(&|d| rows.source_file(d.row).to_string()),
        ),
        Column::new(
            "dropped_line".into(),
            dropped
                .iter()
                .map(|d| rows.source_line[d.row])
                .collect::<Vec<u32>>(),
        ),
        Column::new(
            "kept_source_file".into(),
            text(&|d| rows.source_file(d.kept).to_string()),
        ),
        Column::new(
            "kept_line".into(),
            dropped
                .iter()
                .map(|d| rows.source_line[d.kept])
                .collect::<Vec<u32>>(),
        ),
        date_column(
            "overlap_from",
            dropped
                .iter()
                .map(|d| Some(overlaps[d.overlap].from))
                .collect(),
        ),
        date_column(
            "overlap_to",
            dropped
                .iter()
                .map(|d| Some(overlaps[d.overlap].to))
                .collect(),
        ),
        Column::new("reason".into(), text(&reason)),
    ];
    DataFrame::new(n, columns).map_err(polars_err("building duplicates.csv"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_compare_without_punctuation_or_case() {
        assert_eq!(
            normalise_description("  Tesco-Stores  2291 "),
            "TESCO STORES 2291"
        );
        assert_eq!(
            normalise_description("TESCO STORES, 2291"),
            "TESCO STORES 2291"
        );
        assert_eq!(normalise_description("***"), "");
    }
}
