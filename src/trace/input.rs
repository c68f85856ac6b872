//! Reading the frames tracing uses, exactly, and building small ones for tests and benches.
//!
//! Money columns are polars `Decimal`; they are read as integer pence without any float
//! (a scale below 2 is widened exactly; a value with fractions of a penny is refused).

use chrono::NaiveDate;
use polars::prelude::*;

use super::TraceError;
use crate::ledger::{col, Channel};

/// Ledger columns tracing reads. `amount_base` is used when present, else `amount`.
pub const REQUIRED_COLUMNS: [&str; 9] = [
    col::TXN_ID,
    col::ACCOUNT_ID,
    col::SEQ,
    col::BOOKING_DATE,
    col::AMOUNT,
    col::AMOUNT_BASE,
    col::BALANCE,
    col::CHANNEL,
    col::COUNTERPARTY_NAME,
];

/// Ledger columns tracing reads when present: rows with an `excluded_reason` (a cancelled
/// money transfer) move no money; `bank_txn_id` (the MTCN) and `party_name` pair the send
/// and the payout of one money transfer between case accounts.
pub const OPTIONAL_COLUMNS: [&str; 3] = [col::EXCLUDED_REASON, col::BANK_TXN_ID, col::PARTY_NAME];

fn column<'a>(
    df: &'a DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<&'a Column, TraceError> {
    df.column(name).map_err(|_| TraceError::Schema {
        frame,
        problem: format!("has no column `{name}`"),
    })
}

fn wrong_type(frame: &'static str, name: &str, want: &str, got: &DataType) -> TraceError {
    TraceError::Schema {
        frame,
        problem: format!("column `{name}` is {got}, expected {want}"),
    }
}

/// A string column as owned values (nulls kept).
pub(crate) fn strings(
    df: &DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<Vec<Option<String>>, TraceError> {
    let ca = str_column(df, frame, name)?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

/// A string column, nulls kept, borrowed from the frame (no copies of its text).
pub(crate) fn str_column<'a>(
    df: &'a DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<&'a StringChunked, TraceError> {
    let c = column(df, frame, name)?;
    c.str()
        .map_err(|_| wrong_type(frame, name, "String", c.dtype()))
}

/// A string column that may be absent (`None`), borrowed; present, it must be text.
pub(crate) fn optional_str_column<'a>(
    df: &'a DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<Option<&'a StringChunked>, TraceError> {
    if df.column(name).is_err() {
        return Ok(None);
    }
    str_column(df, frame, name).map(Some)
}

/// A string column with no nulls allowed, borrowed from the frame (no copies of its text).
pub(crate) fn required_str_column<'a>(
    df: &'a DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<&'a StringChunked, TraceError> {
    let ca = str_column(df, frame, name)?;
    if ca.null_count() > 0 {
        let i = ca.iter().position(|v| v.is_none()).unwrap_or_default();
        return Err(TraceError::BadData {
            frame,
            problem: format!("column `{name}` is empty in row {}", i + 1),
        });
    }
    Ok(ca)
}

/// A string column with no nulls allowed.
pub(crate) fn required_strings(
    df: &DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<Vec<String>, TraceError> {
    strings(df, frame, name)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| TraceError::BadData {
                frame,
                problem: format!("column `{name}` is empty in row {}", i + 1),
            })
        })
        .collect()
}

/// An unsigned integer column (`seq`).
pub(crate) fn unsigned(
    df: &DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<Vec<u64>, TraceError> {
    let c = column(df, frame, name)?;
    if !c.dtype().is_integer() {
        return Err(wrong_type(frame, name, "an integer", c.dtype()));
    }
    let cast = c
        .strict_cast(&DataType::UInt64)
        .map_err(|_| wrong_type(frame, name, "a non-negative integer", c.dtype()))?;
    let ca = cast.u64().map_err(|e| TraceError::Polars {
        context: format!("{frame} column `{name}`"),
        source: e,
    })?;
    ca.iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| TraceError::BadData {
                frame,
                problem: format!("column `{name}` is empty in row {}", i + 1),
            })
        })
        .collect()
}

/// A date column as days since 1970-01-01.
pub(crate) fn dates(
    df: &DataFrame,
    frame: &'static str,
    name: &str,
) -> Result<Vec<i32>, TraceError> {
    let c = column(df, frame, name)?;
    let ca = c
        .date()
        .map_err(|_| wrong_type(frame, name, "Date", c.dtype()))?;
    ca.physical()
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| TraceError::BadData {
                frame,
                problem: format!("column `{name}` is empty in row {}", i + 1),
            })
        })
        .collect()
}

/// A money column read as pence (nulls kept). Must be `Decimal` with scale ≤ 2, or whole
/// pence.
pub(crate) struct Pence<'a> {
    values: &'a Int128Chunked,
    scale: u32,
    frame: &'static str,
    name: &'a str,
}

impl<'a> Pence<'a> {
    pub fn of(df: &'a DataFrame, frame: &'static str, name: &'a str) -> Result<Self, TraceError> {
        let c = column(df, frame, name)?;
        let ca = c
            .decimal()
            .map_err(|_| wrong_type(frame, name, "Decimal(18, 2)", c.dtype()))?;
        Ok(Pence {
            values: ca.physical(),
            scale: ca.scale() as u32,
            frame,
            name,
        })
    }

    /// Every row's value, in order.
    pub fn iter(&self) -> impl Iterator<Item = Result<Option<i64>, TraceError>> + '_ {
        self.values
            .iter()
            .enumerate()
            .map(|(i, v)| self.convert(i, v))
    }

    /// Row `i`'s value.
    pub fn get(&self, i: usize) -> Result<Option<i64>, TraceError> {
        self.convert(i, self.values.get(i))
    }

    fn convert(&self, i: usize, v: Option<i128>) -> Result<Option<i64>, TraceError> {
        let Some(v) = v else { return Ok(None) };
        crate::money::whole_pence(v, self.scale)
            .map(Some)
            .ok_or_else(|| TraceError::BadData {
                frame: self.frame,
                problem: format!(
                    "column `{}` row {} is not a whole number of pence within range",
                    self.name,
                    i + 1
                ),
            })
    }
}

/// Days since 1970-01-01 → date.
pub(crate) fn day_to_date(day: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(i64::from(day))
}

/// Date → days since 1970-01-01.
pub(crate) fn date_to_day(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

/// A money column from pence.
pub(crate) fn money_column(name: &str, values: Vec<Option<i64>>) -> PolarsResult<Column> {
    let ca = Int128Chunked::from_iter_options(
        name.into(),
        values.into_iter().map(|v| v.map(i128::from)),
    );
    Ok(ca.into_decimal(18, 2)?.into_series().into_column())
}

/// A date column from days since 1970-01-01.
pub(crate) fn date_column(name: &str, days: Vec<Option<i32>>) -> PolarsResult<Column> {
    let ca = Int32Chunked::from_iter_options(name.into(), days.into_iter());
    Ok(ca.into_date().into_series().into_column())
}

/// One ledger row with only what tracing reads; for tests, benches and hand-made cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRow {
    pub txn_id: String,
    pub account_id: String,
    pub seq: u64,
    pub booking_date: NaiveDate,
    /// Signed pence: + money in, − money out (used as `amount` and `amount_base`).
    pub amount_pence: i64,
    /// Running balance in pence as the bank reported it.
    pub balance_pence: Option<i64>,
    pub channel: Channel,
    pub counterparty_name: Option<String>,
    /// The row's own party: for money transfers the sender of a send, the receiver of a
    /// payout.
    pub party_name: Option<String>,
    /// The bank's or money-transfer firm's reference (MTCN for money transfers).
    pub bank_txn_id: Option<String>,
    /// Why the row is kept but not counted (a cancelled money transfer).
    pub excluded_reason: Option<String>,
}

impl TraceRow {
    /// A row with no party, reference or exclusion.
    pub fn new(
        txn_id: &str,
        account_id: &str,
        seq: u64,
        booking_date: NaiveDate,
        amount_pence: i64,
        channel: Channel,
    ) -> TraceRow {
        TraceRow {
            txn_id: txn_id.to_string(),
            account_id: account_id.to_string(),
            seq,
            booking_date,
            amount_pence,
            balance_pence: None,
            channel,
            counterparty_name: None,
            party_name: None,
            bank_txn_id: None,
            excluded_reason: None,
        }
    }
}

/// A frame with the ledger columns tracing reads ([`REQUIRED_COLUMNS`] and
/// [`OPTIONAL_COLUMNS`]), from rows.
pub fn ledger_frame(rows: &[TraceRow]) -> PolarsResult<DataFrame> {
    let n = rows.len();
    let columns = vec![
        Column::new(
            col::TXN_ID.into(),
            rows.iter().map(|r| r.txn_id.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            col::ACCOUNT_ID.into(),
            rows.iter()
                .map(|r| r.account_id.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            col::SEQ.into(),
            rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        ),
        date_column(
            col::BOOKING_DATE,
            rows.iter()
                .map(|r| Some(date_to_day(r.booking_date)))
                .collect(),
        )?,
        money_column(
            col::AMOUNT,
            rows.iter().map(|r| Some(r.amount_pence)).collect(),
        )?,
        money_column(
            col::AMOUNT_BASE,
            rows.iter().map(|r| Some(r.amount_pence)).collect(),
        )?,
        money_column(col::BALANCE, rows.iter().map(|r| r.balance_pence).collect())?,
        Column::new(
            col::CHANNEL.into(),
            rows.iter().map(|r| r.channel.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            col::COUNTERPARTY_NAME.into(),
            rows.iter()
                .map(|r| r.counterparty_name.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            col::PARTY_NAME.into(),
            rows.iter()
                .map(|r| r.party_name.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            col::BANK_TXN_ID.into(),
            rows.iter()
                .map(|r| r.bank_txn_id.as_deref())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            col::EXCLUDED_REASON.into(),
            rows.iter()
                .map(|r| r.excluded_reason.as_deref())
                .collect::<Vec<_>>(),
        ),
    ];
    DataFrame::new(n, columns)
}

/// An internal-transfers frame (`transfer_id`, `debit_txn_id`, `credit_txn_id`) from
/// (debit, credit) txn_id pairs; transfer ids are `TR1`, `TR2`, ….
pub fn transfers_frame(pairs: &[(&str, &str)]) -> PolarsResult<DataFrame> {
    let n = pairs.len();
    DataFrame::new(
        n,
        vec![
            Column::new(
                "transfer_id".into(),
                (1..=n).map(|i| format!("TR{i}")).collect::<Vec<_>>(),
            ),
            Column::new(
                "debit_txn_id".into(),
                pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
            ),
            Column::new(
                "credit_txn_id".into(),
                pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
            ),
        ],
    )
}

/// A finding-evidence frame (`rule_id`, `txn_id`) from pairs.
pub fn evidence_frame(rows: &[(&str, &str)]) -> PolarsResult<DataFrame> {
    DataFrame::new(
        rows.len(),
        vec![
            Column::new(
                "rule_id".into(),
                rows.iter().map(|p| p.0).collect::<Vec<_>>(),
            ),
            Column::new(
                "txn_id".into(),
                rows.iter().map(|p| p.1).collect::<Vec<_>>(),
            ),
        ],
    )
}
