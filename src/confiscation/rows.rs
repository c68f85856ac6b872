//! Reading the verified ledger, the matched transfers and the finding evidence into rows,
//! exactly: money as integer pence (a fraction of a penny is refused, never rounded), dates
//! as dates, and text borrowed from the frames' string columns rather than copied (a
//! ledger of millions of rows would otherwise be held twice, the second time as several
//! separately allocated strings per row). The rows live no longer than the frames they are
//! read from.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;

use super::ScheduleError;
use crate::ledger::col;
use crate::trace::txn_index::TxnIndex;
use crate::verify::added_col;

/// One verified ledger row, with what the schedules read. The text is borrowed from the
/// ledger frame's columns, not copied: a ten-million-row ledger costs the schedules one
/// `Entry` of fixed size per row and no text of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub txn_id: &'a str,
    pub account_id: &'a str,
    pub source_file: &'a str,
    pub source_line: u32,
    pub exhibit: Option<&'a str>,
    pub seq: u64,
    pub booking_date: NaiveDate,
    /// Pence in the account currency, signed.
    pub amount: i64,
    pub currency: &'a str,
    /// Pence in the base currency, signed.
    pub amount_base: i64,
    /// Pence in the account currency, as the bank reported it.
    pub balance: Option<i64>,
    pub channel: &'a str,
    pub counterparty_name: Option<&'a str>,
    /// Empty when the ledger gives none.
    pub description: &'a str,
    pub reversal: bool,
    pub excluded_reason: Option<&'a str>,
    pub transfer_id: Option<&'a str>,
    /// Base currency per one unit of `currency`; `None` for base-currency rows.
    pub fx_rate: Option<Decimal>,
    pub fx_rate_date: Option<NaiveDate>,
}

impl Entry<'_> {
    /// `source_file:line`, the citation printed on every schedule line.
    pub fn source_ref(&self) -> String {
        format!("{}:{}", self.source_file, self.source_line)
    }
}

/// One evidence row of a finding, as the detection stage wrote it (`finding_evidence`),
/// its text borrowed from that frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingEvidence<'a> {
    pub finding_id: &'a str,
    pub rule_id: &'a str,
    pub txn_id: &'a str,
}

impl FindingEvidence<'_> {
    /// Whether `name`, an entry of `[schedule] attributed_findings`, names this row's
    /// finding: `"*"` (every finding), its rule id or its finding id.
    pub fn is_named_by(&self, name: &str) -> bool {
        name == "*" || name == self.rule_id || name == self.finding_id
    }
}

/// The name of the finding-evidence frame in errors.
const FINDING_EVIDENCE: &str = "finding evidence";

/// One matched internal transfer (a debit and a credit in two case accounts), its text
/// borrowed from the transfers frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer<'a> {
    pub transfer_id: &'a str,
    pub debit_txn_id: &'a str,
    pub credit_txn_id: &'a str,
    pub debit_account: &'a str,
    pub credit_account: &'a str,
}

fn schema(problem: String) -> ScheduleError {
    ScheduleError::Input {
        frame: "ledger",
        problem,
    }
}

fn column<'a>(
    df: &'a DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<&'a Column, ScheduleError> {
    df.column(name).map_err(|_| ScheduleError::Input {
        frame,
        problem: if frame == FINDING_EVIDENCE {
            format!("has no column `{name}`; the schedules read the detection stage's finding_evidence frame (docs/detection.md)")
        } else {
            format!("has no column `{name}`; the schedules read the verified ledger (run the verify stage first)")
        },
    })
}

/// A string column, nulls kept, borrowed from the frame (no copy of its text).
fn text<'a>(
    df: &'a DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<&'a StringChunked, ScheduleError> {
    let c = column(df, frame, name)?;
    c.str().map_err(|_| ScheduleError::Input {
        frame,
        problem: format!("column `{name}` is {}, expected String", c.dtype()),
    })
}

/// A string column with no nulls allowed, its values in row order, borrowed from the frame.
fn required_text<'a>(
    df: &'a DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<impl Iterator<Item = &'a str> + 'a, ScheduleError> {
    let ca = text(df, frame, name)?;
    if ca.null_count() > 0 {
        let i = ca.iter().position(|v| v.is_none()).unwrap_or_default();
        return Err(ScheduleError::Input {
            frame,
            problem: format!("column `{name}` is empty in row {}", i + 1),
        });
    }
    Ok(ca.no_null_iter())
}

/// The next row's value of a column read in step with the frame's rows (`row` counts from
/// 0). Every column of a frame is as long as the frame, so the value is always there; were
/// it not, the row is reported as empty rather than read from another row.
fn next_text<'a>(
    values: &mut impl Iterator<Item = &'a str>,
    frame: &'static str,
    name: &str,
    row: usize,
) -> Result<&'a str, ScheduleError> {
    values.next().ok_or_else(|| ScheduleError::Input {
        frame,
        problem: format!("column `{name}` is empty in row {}", row + 1),
    })
}

/// A Decimal column as (mantissa, scale) values.
fn decimals(df: &DataFrame, name: &str) -> Result<(Vec<Option<i128>>, u32), ScheduleError> {
    let c = column(df, "ledger", name)?;
    let ca = c.decimal().map_err(|_| {
        schema(format!(
            "column `{name}` is {}, expected Decimal",
            c.dtype()
        ))
    })?;
    Ok((ca.physical().iter().collect(), ca.scale() as u32))
}

fn pence(df: &DataFrame, name: &str) -> Result<Vec<Option<i64>>, ScheduleError> {
    let (values, scale) = decimals(df, name)?;
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let Some(v) = v else { return Ok(None) };
            crate::money::whole_pence(v, scale)
                .map(Some)
                .ok_or_else(|| {
                    schema(format!(
                        "column `{name}` row {} is not a whole number of pence within range",
                        i + 1
                    ))
                })
        })
        .collect()
}

fn dates(df: &DataFrame, name: &str) -> Result<Vec<Option<NaiveDate>>, ScheduleError> {
    let c = column(df, "ledger", name)?;
    let ca = c
        .date()
        .map_err(|_| schema(format!("column `{name}` is {}, expected Date", c.dtype())))?;
    Ok(ca
        .physical()
        .iter()
        .map(|v| v.map(crate::verify::day_to_date))
        .collect())
}

/// The ledger rows the schedules can read: every row of an account a defendant holds or
/// controls, and every row another input names by txn_id (`named`: finding evidence,
/// internal transfers, gifts, legitimate sources, attributed rows). Every schedule line
/// comes from a defendant's account or from a row looked up by its txn_id, so the
/// schedules are the same as over the whole ledger; a large case's other accounts (third
/// parties, mules) are not read row by row. Rows keep their order. The whole frame is
/// returned, not copied, when every row is kept.
pub fn rows_schedules_read(
    ledger: &DataFrame,
    defendant_accounts: &BTreeSet<String>,
    named: &foldhash::HashSet<&str>,
) -> Result<DataFrame, ScheduleError> {
    const L: &str = "ledger";
    let accounts = required_text(ledger, L, col::ACCOUNT_ID)?;
    let txn_ids = required_text(ledger, L, col::TXN_ID)?;
    // A ledger comes account by account: the answer for the last account is reused.
    let mut last: Option<(&str, bool)> = None;
    let keep: Vec<bool> = accounts
        .zip(txn_ids)
        .map(|(account, txn_id)| {
            let of_defendant = match last {
                Some((seen, answer)) if seen == account => answer,
                _ => {
                    let answer = defendant_accounts.contains(account);
                    last = Some((account, answer));
                    answer
                }
            };
            of_defendant || named.contains(txn_id)
        })
        .collect();
    if keep.iter().all(|&k| k) {
        return Ok(ledger.clone());
    }
    ledger
        .filter(&BooleanChunked::from_slice("keep".into(), &keep))
        .map_err(|source| ScheduleError::Polars {
            context: "keeping the ledger rows the schedules read".into(),
            source,
        })
}

/// Read the verified ledger (canonical columns plus verify's `transfer_id`, `fx_rate`,
/// `fx_rate_date`), in `seq` order. The rows' text is borrowed from `df`.
pub fn read_ledger(df: &DataFrame) -> Result<Vec<Entry<'_>>, ScheduleError> {
    const L: &str = "ledger";
    let mut txn_id = required_text(df, L, col::TXN_ID)?;
    let mut account_id = required_text(df, L, col::ACCOUNT_ID)?;
    let mut source_file = required_text(df, L, col::SOURCE_FILE)?;
    let line_col = column(df, L, col::SOURCE_LINE)?
        .strict_cast(&DataType::UInt32)
        .map_err(|e| schema(format!("column `source_line`: {e}")))?;
    let source_line: Vec<Option<u32>> = line_col
        .u32()
        .map_err(|e| schema(format!("column `source_line`: {e}")))?
        .iter()
        .collect();
    let mut exhibit = text(df, L, col::EXHIBIT)?.iter();
    let seq_col = column(df, L, col::SEQ)?
        .strict_cast(&DataType::UInt64)
        .map_err(|e| schema(format!("column `seq`: {e}")))?;
    let seq: Vec<Option<u64>> = seq_col
        .u64()
        .map_err(|e| schema(format!("column `seq`: {e}")))?
        .iter()
        .collect();
    let booking_date = dates(df, col::BOOKING_DATE)?;
    let amount = pence(df, col::AMOUNT)?;
    let mut currency = required_text(df, L, col::CURRENCY)?;
    let amount_base = pence(df, col::AMOUNT_BASE)?;
    let balance = pence(df, col::BALANCE)?;
    let mut channel = required_text(df, L, col::CHANNEL)?;
    let mut counterparty = text(df, L, col::COUNTERPARTY_NAME)?.iter();
    let mut description = text(df, L, col::DESCRIPTION)?.iter();
    let rev_col = column(df, L, col::REVERSAL)?;
    let reversal: Vec<Option<bool>> = rev_col
        .bool()
        .map_err(|_| {
            schema(format!(
                "column `reversal` is {}, expected Boolean",
                rev_col.dtype()
            ))
        })?
        .iter()
        .collect();
    let mut excluded = text(df, L, col::EXCLUDED_REASON)?.iter();
    let mut transfer_id = text(df, L, added_col::TRANSFER_ID)?.iter();
    let (fx, fx_scale) = decimals(df, added_col::FX_RATE)?;
    let fx_date = dates(df, added_col::FX_RATE_DATE)?;

    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let missing = |name: &str| schema(format!("column `{name}` is empty in row {}", i + 1));
        // Every column advances one row per row, whatever it holds.
        let txn_i = next_text(&mut txn_id, L, col::TXN_ID, i)?;
        let account_i = next_text(&mut account_id, L, col::ACCOUNT_ID, i)?;
        let source_file_i = next_text(&mut source_file, L, col::SOURCE_FILE, i)?;
        let exhibit_i = exhibit.next().flatten();
        let currency_i = next_text(&mut currency, L, col::CURRENCY, i)?;
        let channel_i = next_text(&mut channel, L, col::CHANNEL, i)?;
        let counterparty_i = counterparty.next().flatten();
        let description_i = description.next().flatten();
        let excluded_i = excluded.next().flatten();
        let transfer_i = transfer_id.next().flatten();
        let amount_i = amount[i].ok_or_else(|| missing(col::AMOUNT))?;
        out.push(Entry {
            txn_id: txn_i,
            account_id: account_i,
            source_file: source_file_i,
            source_line: source_line[i].ok_or_else(|| missing(col::SOURCE_LINE))?,
            exhibit: exhibit_i,
            seq: seq[i].ok_or_else(|| missing(col::SEQ))?,
            booking_date: booking_date[i].ok_or_else(|| missing(col::BOOKING_DATE))?,
            amount: amount_i,
            currency: currency_i,
            amount_base: amount_base[i].ok_or_else(|| {
                schema(format!(
                    "column `amount_base` is empty in row {} ({txn_i}); the verify stage converts every row to the base currency",
                    i + 1
                ))
            })?,
            balance: balance[i],
            channel: channel_i,
            counterparty_name: counterparty_i,
            description: description_i.unwrap_or_default(),
            reversal: reversal[i].unwrap_or(false),
            excluded_reason: excluded_i,
            transfer_id: transfer_i,
            fx_rate: fx[i].map(|m| Decimal::from_i128_with_scale(m, fx_scale)),
            fx_rate_date: fx_date[i],
        });
    }
    // Each account's chronology is its rows in `seq` order.
    out.sort_by_key(|e| e.seq);
    Ok(out)
}

/// The ledger rows (as [`read_ledger`] orders them) found by txn_id: one hash and row
/// number per row rather than a map of every id ([`TxnIndex`]). Refuses a txn_id that
/// appears twice, naming the one whose second appearance comes first in `seq` order.
pub fn index_by_txn(entries: &[Entry<'_>]) -> Result<TxnIndex, ScheduleError> {
    TxnIndex::build(entries.len(), |row| entries[row].txn_id)
        .map_err(|txn| schema(format!("txn_id {txn} appears twice")))
}

/// Read the internal transfers matched by the verify stage (`transfers.csv` columns); their
/// text is borrowed from `df`.
pub fn read_transfers(df: &DataFrame) -> Result<Vec<Transfer<'_>>, ScheduleError> {
    const F: &str = "transfers";
    let mut id = required_text(df, F, "transfer_id")?;
    let mut debit = required_text(df, F, "debit_txn_id")?;
    let mut credit = required_text(df, F, "credit_txn_id")?;
    let mut debit_account = required_text(df, F, "debit_account")?;
    let mut credit_account = required_text(df, F, "credit_account")?;
    (0..df.height())
        .map(|i| {
            Ok(Transfer {
                transfer_id: next_text(&mut id, F, "transfer_id", i)?,
                debit_txn_id: next_text(&mut debit, F, "debit_txn_id", i)?,
                credit_txn_id: next_text(&mut credit, F, "credit_txn_id", i)?,
                debit_account: next_text(&mut debit_account, F, "debit_account", i)?,
                credit_account: next_text(&mut credit_account, F, "credit_account", i)?,
            })
        })
        .collect()
}

/// Read the detection stage's evidence rows (`finding_evidence`: `finding_id`, `rule_id`,
/// `txn_id`), in the frame's order; their text is borrowed from `df`.
pub fn read_finding_evidence(df: &DataFrame) -> Result<Vec<FindingEvidence<'_>>, ScheduleError> {
    const F: &str = FINDING_EVIDENCE;
    let mut finding = required_text(df, F, "finding_id")?;
    let mut rule = required_text(df, F, "rule_id")?;
    let mut txn = required_text(df, F, "txn_id")?;
    (0..df.height())
        .map(|i| {
            Ok(FindingEvidence {
                finding_id: next_text(&mut finding, F, "finding_id", i)?,
                rule_id: next_text(&mut rule, F, "rule_id", i)?,
                txn_id: next_text(&mut txn, F, "txn_id", i)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> DataFrame {
        df!(
            col::ACCOUNT_ID => ["A1", "A1", "B2", "B2", "B2", "C3", "A9"],
            col::TXN_ID => ["t1", "t2", "t3", "t4", "t5", "t6", "t7"],
            "amount_pence" => [1i64, 2, 3, 4, 5, 6, 7],
        )
        .unwrap()
    }

    fn txn_ids(df: &DataFrame) -> Vec<&str> {
        df.column(col::TXN_ID)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(Option::unwrap)
            .collect()
    }

    #[test]
    fn the_schedules_read_the_defendants_accounts_and_the_rows_named() {
        let ledger = ledger();
        let defendants: BTreeSet<String> = ["A1".to_string(), "A9".to_string()].into();
        let named: foldhash::HashSet<&str> = ["t4", "t6", "t99"].into_iter().collect();
        let read = rows_schedules_read(&ledger, &defendants, &named).unwrap();
        assert_eq!(txn_ids(&read), ["t1", "t2", "t4", "t6", "t7"]);
        // The other columns come with their rows.
        let pence: Vec<i64> = read
            .column("amount_pence")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(pence, [1, 2, 4, 6, 7]);
        // Nothing named and no defendant account: no row.
        let none = rows_schedules_read(&ledger, &BTreeSet::new(), &Default::default()).unwrap();
        assert_eq!(none.height(), 0);
    }

    #[test]
    fn an_empty_txn_id_is_reported_with_its_ledger_row() {
        let ledger = df!(
            col::ACCOUNT_ID => [Some("A1"), Some("B2")],
            col::TXN_ID => [Some("t1"), None],
        )
        .unwrap();
        let err = rows_schedules_read(&ledger, &BTreeSet::new(), &Default::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("column `txn_id` is empty in row 2"), "{err}");
    }
}
