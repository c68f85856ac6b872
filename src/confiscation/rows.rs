//! Reading the verified ledger and the matched transfers into rows, exactly: money as
//! integer pence (a fraction of a penny is refused, never rounded), dates as dates.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;

use super::ScheduleError;
use crate::ledger::col;
use crate::verify::added_col;

/// One verified ledger row, with what the schedules read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub txn_id: String,
    pub account_id: String,
    pub source_file: String,
    pub source_line: u32,
    pub exhibit: Option<String>,
    pub seq: u64,
    pub booking_date: NaiveDate,
    /// Pence in the account currency, signed.
    pub amount: i64,
    pub currency: String,
    /// Pence in the base currency, signed.
    pub amount_base: i64,
    /// Pence in the account currency, as the bank reported it.
    pub balance: Option<i64>,
    pub channel: String,
    pub counterparty_name: Option<String>,
    pub description: String,
    pub reversal: bool,
    pub excluded_reason: Option<String>,
    pub transfer_id: Option<String>,
    /// Base currency per one unit of `currency`; `None` for base-currency rows.
    pub fx_rate: Option<Decimal>,
    pub fx_rate_date: Option<NaiveDate>,
}

impl Entry {
    /// `source_file:line`, the citation printed on every schedule line.
    pub fn source_ref(&self) -> String {
        format!("{}:{}", self.source_file, self.source_line)
    }
}

/// One evidence row of a finding, as the detection stage wrote it (`finding_evidence`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingEvidence {
    pub finding_id: String,
    pub rule_id: String,
    pub txn_id: String,
}

/// The name of the finding-evidence frame in errors.
const FINDING_EVIDENCE: &str = "finding evidence";

/// One matched internal transfer (a debit and a credit in two case accounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub transfer_id: String,
    pub debit_txn_id: String,
    pub credit_txn_id: String,
    pub debit_account: String,
    pub credit_account: String,
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

fn strings(
    df: &DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<Vec<Option<String>>, ScheduleError> {
    let c = column(df, frame, name)?;
    let ca = c.str().map_err(|_| ScheduleError::Input {
        frame,
        problem: format!("column `{name}` is {}, expected String", c.dtype()),
    })?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

fn required_strings(
    df: &DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<Vec<String>, ScheduleError> {
    strings(df, frame, name)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| ScheduleError::Input {
                frame,
                problem: format!("column `{name}` is empty in row {}", i + 1),
            })
        })
        .collect()
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
            let p = if scale <= 2 {
                v.checked_mul(10i128.pow(2 - scale))
            } else {
                let d = 10i128.pow(scale - 2);
                (v % d == 0).then_some(v / d)
            };
            p.and_then(|p| i64::try_from(p).ok())
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

/// Read the verified ledger (canonical columns plus verify's `transfer_id`, `fx_rate`,
/// `fx_rate_date`).
pub fn read_ledger(df: &DataFrame) -> Result<Vec<Entry>, ScheduleError> {
    let txn_id = required_strings(df, "ledger", col::TXN_ID)?;
    let account_id = required_strings(df, "ledger", col::ACCOUNT_ID)?;
    let source_file = required_strings(df, "ledger", col::SOURCE_FILE)?;
    let line_col = column(df, "ledger", col::SOURCE_LINE)?
        .strict_cast(&DataType::UInt32)
        .map_err(|e| schema(format!("column `source_line`: {e}")))?;
    let source_line: Vec<Option<u32>> = line_col
        .u32()
        .map_err(|e| schema(format!("column `source_line`: {e}")))?
        .iter()
        .collect();
    let exhibit = strings(df, "ledger", col::EXHIBIT)?;
    let seq_col = column(df, "ledger", col::SEQ)?
        .strict_cast(&DataType::UInt64)
        .map_err(|e| schema(format!("column `seq`: {e}")))?;
    let seq: Vec<Option<u64>> = seq_col
        .u64()
        .map_err(|e| schema(format!("column `seq`: {e}")))?
        .iter()
        .collect();
    let booking_date = dates(df, col::BOOKING_DATE)?;
    let amount = pence(df, col::AMOUNT)?;
    let currency = required_strings(df, "ledger", col::CURRENCY)?;
    let amount_base = pence(df, col::AMOUNT_BASE)?;
    let balance = pence(df, col::BALANCE)?;
    let channel = required_strings(df, "ledger", col::CHANNEL)?;
    let counterparty = strings(df, "ledger", col::COUNTERPARTY_NAME)?;
    let description = strings(df, "ledger", col::DESCRIPTION)?;
    let rev_col = column(df, "ledger", col::REVERSAL)?;
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
    let excluded = strings(df, "ledger", col::EXCLUDED_REASON)?;
    let transfer_id = strings(df, "ledger", added_col::TRANSFER_ID)?;
    let (fx, fx_scale) = decimals(df, added_col::FX_RATE)?;
    let fx_date = dates(df, added_col::FX_RATE_DATE)?;

    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let missing = |name: &str| schema(format!("column `{name}` is empty in row {}", i + 1));
        let amount_i = amount[i].ok_or_else(|| missing(col::AMOUNT))?;
        out.push(Entry {
            txn_id: txn_id[i].clone(),
            account_id: account_id[i].clone(),
            source_file: source_file[i].clone(),
            source_line: source_line[i].ok_or_else(|| missing(col::SOURCE_LINE))?,
            exhibit: exhibit[i].clone(),
            seq: seq[i].ok_or_else(|| missing(col::SEQ))?,
            booking_date: booking_date[i].ok_or_else(|| missing(col::BOOKING_DATE))?,
            amount: amount_i,
            currency: currency[i].clone(),
            amount_base: amount_base[i].ok_or_else(|| {
                schema(format!(
                    "column `amount_base` is empty in row {} ({}); the verify stage converts every row to the base currency",
                    i + 1,
                    txn_id[i]
                ))
            })?,
            balance: balance[i],
            channel: channel[i].clone(),
            counterparty_name: counterparty[i].clone(),
            description: description[i].clone().unwrap_or_default(),
            reversal: reversal[i].unwrap_or(false),
            excluded_reason: excluded[i].clone(),
            transfer_id: transfer_id[i].clone(),
            fx_rate: fx[i].map(|m| Decimal::from_i128_with_scale(m, fx_scale)),
            fx_rate_date: fx_date[i],
        });
    }
    // Each account's chronology is its rows in `seq` order.
    out.sort_by_key(|e| e.seq);
    let mut seen = BTreeMap::new();
    for e in &out {
        if seen.insert(e.txn_id.clone(), ()).is_some() {
            return Err(schema(format!("txn_id {} appears twice", e.txn_id)));
        }
    }
    Ok(out)
}

/// Read the internal transfers matched by the verify stage (`transfers.csv` columns).
pub fn read_transfers(df: &DataFrame) -> Result<Vec<Transfer>, ScheduleError> {
    let f = "transfers";
    let id = required_strings(df, f, "transfer_id")?;
    let debit = required_strings(df, f, "debit_txn_id")?;
    let credit = required_strings(df, f, "credit_txn_id")?;
    let debit_account = required_strings(df, f, "debit_account")?;
    let credit_account = required_strings(df, f, "credit_account")?;
    Ok((0..df.height())
        .map(|i| Transfer {
            transfer_id: id[i].clone(),
            debit_txn_id: debit[i].clone(),
            credit_txn_id: credit[i].clone(),
            debit_account: debit_account[i].clone(),
            credit_account: credit_account[i].clone(),
        })
        .collect())
}

/// Read the detection stage's evidence rows (`finding_evidence`: `finding_id`, `rule_id`,
/// `txn_id`), in the frame's order.
pub fn read_finding_evidence(df: &DataFrame) -> Result<Vec<FindingEvidence>, ScheduleError> {
    let f = FINDING_EVIDENCE;
    let finding = required_strings(df, f, "finding_id")?;
    let rule = required_strings(df, f, "rule_id")?;
    let txn = required_strings(df, f, "txn_id")?;
    Ok(finding
        .into_iter()
        .zip(rule)
        .zip(txn)
        .map(|((finding_id, rule_id), txn_id)| FindingEvidence {
            finding_id,
            rule_id,
            txn_id,
        })
        .collect())
}
