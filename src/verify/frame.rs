//! Column access for the verify stage: ledger columns for the sequential checks (numbers as
//! plain vectors, texts read row by row), and builders for the output frames.
//!
//! Dates are days since 1970-01-01 (polars' `Date` physical type); money is integer minor
//! units at scale 2 (polars' `Decimal(18, 2)` physical type). Nothing here rounds.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;

use super::{VerifyError, REQUIRED};
use crate::case::Case;
use crate::ledger::col;

/// Days from 0001-01-01 (day 1 in chrono's count) to 1970-01-01.
const UNIX_EPOCH_CE: i32 = 719_163;

/// A polars `Date` value (days since 1970-01-01) as a calendar date.
pub fn day_to_date(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day.saturating_add(UNIX_EPOCH_CE))
        .unwrap_or(NaiveDate::MIN)
}

/// A calendar date as a polars `Date` value (days since 1970-01-01).
pub fn date_to_day(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_CE
}

/// Wrap a polars error with what the stage was doing.
pub(crate) fn polars_err(context: &str) -> impl FnOnce(PolarsError) -> VerifyError + '_ {
    move |source| VerifyError::Polars {
        context: context.to_string(),
        source,
    }
}

fn ledger_problem(problem: String) -> VerifyError {
    VerifyError::Ledger { problem }
}

fn column<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Column, VerifyError> {
    df.column(name)
        .map_err(|_| ledger_problem(format!("column `{name}` is missing")))
}

fn wrong_type(name: &str, found: &DataType, expected: &str) -> VerifyError {
    ledger_problem(format!("column `{name}` is {found}, expected {expected}"))
}

/// A text column, to be read row by row.
pub(crate) fn text_column<'a>(
    df: &'a DataFrame,
    name: &str,
) -> Result<&'a StringChunked, VerifyError> {
    let c = column(df, name)?;
    c.str().map_err(|_| wrong_type(name, c.dtype(), "String"))
}

/// A money column's minor units, as stored; it must be a decimal with scale 2.
pub(crate) fn minor_units<'a>(
    df: &'a DataFrame,
    name: &str,
) -> Result<&'a Int128Chunked, VerifyError> {
    let c = column(df, name)?;
    let ca = c
        .decimal()
        .map_err(|_| wrong_type(name, c.dtype(), "Decimal(18, 2)"))?;
    if ca.scale() != 2 {
        return Err(wrong_type(name, c.dtype(), "Decimal(18, 2)"));
    }
    Ok(ca.physical())
}

/// A Decimal(18, 2) column in minor units, as 64-bit integers (which always hold 18 digits).
pub(crate) fn money64(df: &DataFrame, name: &str) -> Result<Vec<Option<i64>>, VerifyError> {
    minor_units(df, name)?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.map(i64::try_from).transpose().map_err(|_| {
                ledger_problem(format!(
                    "column `{name}` in row {i} holds more than 18 digits"
                ))
            })
        })
        .collect()
}

/// A date column as days since 1970-01-01.
pub(crate) fn dates(df: &DataFrame, name: &str) -> Result<Vec<Option<i32>>, VerifyError> {
    let c = column(df, name)?;
    let ca = c.date().map_err(|_| wrong_type(name, c.dtype(), "Date"))?;
    Ok(ca.physical().iter().collect())
}

fn no_nulls<T>(name: &str, values: Vec<Option<T>>) -> Result<Vec<T>, VerifyError> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| ledger_problem(format!("column `{name}` is null in row {i}")))
        })
        .collect()
}

/// A Decimal(18, 2) column from minor units.
pub(crate) fn money_column(name: &str, values: Vec<Option<i128>>) -> Result<Column, VerifyError> {
    decimal_column(name, values, 18, 2)
}

/// A decimal column of the given precision and scale from its integer representation.
pub(crate) fn decimal_column(
    name: &str,
    values: Vec<Option<i128>>,
    precision: usize,
    scale: usize,
) -> Result<Column, VerifyError> {
    let ca = Int128Chunked::from_iter_options(name.into(), values.into_iter());
    Ok(ca
        .into_decimal(precision, scale)
        .map_err(polars_err(name))?
        .into_series()
        .into_column())
}

/// A Date column from days since 1970-01-01.
pub(crate) fn date_column(name: &str, values: Vec<Option<i32>>) -> Column {
    Int32Chunked::from_iter_options(name.into(), values.into_iter())
        .into_date()
        .into_series()
        .into_column()
}

/// Replace a column of the same name, or append it.
pub(crate) fn set_column(df: &mut DataFrame, column: Column) -> Result<(), VerifyError> {
    let name = column.name().to_string();
    df.with_column(column).map_err(polars_err(&name))?;
    Ok(())
}

/// Check the ledger has the columns this stage reads and put it in canonical (`seq`) order.
pub(crate) fn canonical(ledger: DataFrame) -> Result<DataFrame, VerifyError> {
    for name in REQUIRED {
        column(&ledger, name)?;
    }
    let seq = no_nulls(col::SEQ, seq_column(&ledger)?)?;
    let sorted = seq.windows(2).all(|w| w[0] < w[1]);
    if sorted {
        return Ok(ledger);
    }
    let ledger = ledger
        .sort([col::SEQ], SortMultipleOptions::default())
        .map_err(polars_err("sorting the ledger by seq"))?;
    let seq = no_nulls(col::SEQ, seq_column(&ledger)?)?;
    if let Some(w) = seq.windows(2).find(|w| w[0] == w[1]) {
        return Err(ledger_problem(format!(
            "`seq` {} appears twice; seq numbers the canonical order and must be unique",
            w[0]
        )));
    }
    Ok(ledger)
}

fn seq_column(df: &DataFrame) -> Result<Vec<Option<u64>>, VerifyError> {
    let c = column(df, col::SEQ)?;
    let ca = c
        .u64()
        .map_err(|_| wrong_type(col::SEQ, c.dtype(), "UInt64"))?;
    Ok(ca.iter().collect())
}

/// The ledger's columns for the sequential checks, in `seq` order: numbers as vectors, texts
/// and `seq` read row by row from the frame, each row's account as its position in the case
/// file.
pub(crate) struct Rows<'a> {
    txn_id: Texts<'a>,
    /// Position of the row's account in `case.accounts`.
    account: Vec<u32>,
    source_file: Texts<'a>,
    pub source_line: Vec<u32>,
    seq: &'a UInt64Chunked,
    pub date: Vec<i32>,
    /// Money in minor units: a Decimal(18, 2) always fits 64 bits (8 bytes a row, not 16;
    /// 16 with the `Option`, not 32). Arithmetic on it widens to `i128`.
    amounts: Vec<i64>,
    currency: Texts<'a>,
    amounts_base: Vec<Option<i64>>,
    balances: Vec<Option<i64>>,
    channel: Texts<'a>,
    counterparty_account: Texts<'a>,
    description: Texts<'a>,
}

/// A text column of the ledger, read row by row where a check asks for it rather than
/// copied out: a 16-byte reference a row for each of six text columns, held through the
/// stage, was 1 GB at 10M rows.
#[derive(Clone, Copy)]
struct Texts<'a>(&'a StringChunked);

impl<'a> Texts<'a> {
    /// The column `name`; with `required`, refused if any row is null.
    fn of(df: &'a DataFrame, name: &str, required: bool) -> Result<Texts<'a>, VerifyError> {
        let ca = text_column(df, name)?;
        if required && ca.null_count() > 0 {
            let i = ca.iter().position(|v| v.is_none()).unwrap_or_default();
            return Err(ledger_problem(format!(
                "column `{name}` is null in row {i}"
            )));
        }
        Ok(Texts(ca))
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        self.0.get(i)
    }

    /// Row `i` of a column read with `required` (never null: "" cannot be returned).
    fn text(&self, i: usize) -> &'a str {
        self.0.get(i).unwrap_or_default()
    }
}

impl<'a> Rows<'a> {
    /// Read the columns of a canonical ledger.
    pub fn read(case: &Case, df: &'a DataFrame) -> Result<Rows<'a>, VerifyError> {
        let account_ids = Texts::of(df, col::ACCOUNT_ID, true)?;
        let index: HashMap<&str, usize> = case
            .accounts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.as_str(), i))
            .collect();
        let account = account_ids
            .0
            .iter()
            .map(|id| {
                let id = id.unwrap_or_default();
                index
                    .get(id)
                    .and_then(|&a| u32::try_from(a).ok())
                    .ok_or_else(|| {
                        ledger_problem(format!(
                            "a row names account {id:?}, which is not in the case"
                        ))
                    })
            })
            .collect::<Result<Vec<u32>, VerifyError>>()?;
        let line_col = column(df, col::SOURCE_LINE)?;
        let source_line = no_nulls(
            col::SOURCE_LINE,
            line_col
                .u32()
                .map_err(|_| wrong_type(col::SOURCE_LINE, line_col.dtype(), "UInt32"))?
                .iter()
                .collect(),
        )?;
        let seq_col = column(df, col::SEQ)?;
        let seq = seq_col
            .u64()
            .map_err(|_| wrong_type(col::SEQ, seq_col.dtype(), "UInt64"))?;
        if seq.null_count() > 0 {
            let i = seq.iter().position(|v| v.is_none()).unwrap_or_default();
            return Err(ledger_problem(format!(
                "column `{}` is null in row {i}",
                col::SEQ
            )));
        }
        Ok(Rows {
            txn_id: Texts::of(df, col::TXN_ID, true)?,
            account,
            source_file: Texts::of(df, col::SOURCE_FILE, true)?,
            source_line,
            seq,
            date: no_nulls(col::BOOKING_DATE, dates(df, col::BOOKING_DATE)?)?,
            amounts: no_nulls(col::AMOUNT, money64(df, col::AMOUNT)?)?,
            currency: Texts::of(df, col::CURRENCY, true)?,
            amounts_base: money64(df, col::AMOUNT_BASE)?,
            balances: money64(df, col::BALANCE)?,
            channel: Texts::of(df, col::CHANNEL, true)?,
            counterparty_account: Texts::of(df, col::COUNTERPARTY_ACCOUNT, false)?,
            description: Texts::of(df, col::DESCRIPTION, true)?,
        })
    }

    /// Row `i`'s txn_id.
    pub fn txn_id(&self, i: usize) -> &'a str {
        self.txn_id.text(i)
    }

    /// Row `i`'s account: its position in `case.accounts`.
    pub fn account(&self, i: usize) -> usize {
        self.account[i] as usize
    }

    /// Row `i`'s source file, as the ledger names it.
    pub fn source_file(&self, i: usize) -> &'a str {
        self.source_file.text(i)
    }

    /// Row `i`'s `seq`.
    pub fn seq(&self, i: usize) -> u64 {
        self.seq.get(i).unwrap_or_default()
    }

    /// Row `i`'s currency.
    pub fn currency(&self, i: usize) -> &'a str {
        self.currency.text(i)
    }

    /// Row `i`'s channel.
    pub fn channel(&self, i: usize) -> &'a str {
        self.channel.text(i)
    }

    /// Row `i`'s counterparty account, if the source gave one.
    pub fn counterparty_account(&self, i: usize) -> Option<&'a str> {
        self.counterparty_account.get(i)
    }

    /// Row `i`'s narrative.
    pub fn description(&self, i: usize) -> &'a str {
        self.description.text(i)
    }

    /// Row `i`'s amount in minor units of its currency.
    pub fn amount(&self, i: usize) -> i128 {
        i128::from(self.amounts[i])
    }

    /// Row `i`'s amount in minor units of the base currency, if ingest gave one.
    pub fn amount_base(&self, i: usize) -> Option<i128> {
        self.amounts_base[i].map(i128::from)
    }

    /// Row `i`'s running balance as the bank reported it, in minor units, if any.
    pub fn balance(&self, i: usize) -> Option<i128> {
        self.balances[i].map(i128::from)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.date.len()
    }

    /// The rows of each account, in case order, each list in `seq` order. Canonical order
    /// keeps an account's rows in date order; a ledger that breaks this is refused.
    pub fn by_account(&self, accounts: usize) -> Result<Vec<Vec<usize>>, VerifyError> {
        let mut lists = vec![Vec::new(); accounts];
        for i in 0..self.len() {
            let list = &mut lists[self.account(i)];
            if let Some(&prev) = list.last() {
                if self.date[prev] > self.date[i] {
                    return Err(ledger_problem(format!(
                        "rows {} and {} of account {} are not in date order by seq",
                        self.txn_id(prev),
                        self.txn_id(i),
                        self.account(i)
                    )));
                }
            }
            list.push(i);
        }
        Ok(lists)
    }
}

/// Money in plain language: `£1,234.56`, `-£100.00`, `EUR 2,000.00`.
pub(crate) fn money_text(minor: i128, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let units = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let number = format!("{grouped}.{:02}", abs % 100);
    match currency {
        "GBP" => format!("{sign}£{number}"),
        "EUR" => format!("{sign}€{number}"),
        "USD" => format!("{sign}${number}"),
        other => format!("{sign}{other} {number}"),
    }
}

/// Money as the ledger writes it: `-1234.56`.
pub(crate) fn money_plain(minor: i128) -> String {
    crate::money::format_amount(crate::money::from_minor_units(minor))
}

/// A date in plain language: `14 February 2024`.
pub(crate) fn date_text(day: i32) -> String {
    day_to_date(day).format("%-d %B %Y").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_round_trip() {
        let d = NaiveDate::from_ymd_opt(2024, 3, 9).unwrap();
        assert_eq!(date_to_day(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()), 0);
        assert_eq!(day_to_date(date_to_day(d)), d);
    }

    #[test]
    fn money_reads_as_a_person_writes_it() {
        assert_eq!(money_text(-10000, "GBP"), "-£100.00");
        assert_eq!(money_text(123456789, "GBP"), "£1,234,567.89");
        assert_eq!(money_text(5, "CHF"), "CHF 0.05");
        assert_eq!(money_plain(-170820), "-1708.20");
    }

    fn decimal_frame(precision: usize, values: &[Option<i128>]) -> DataFrame {
        let column = Int128Chunked::from_iter_options("amount".into(), values.iter().copied())
            .into_decimal(precision, 2)
            .unwrap()
            .into_series()
            .into_column();
        DataFrame::new(values.len(), vec![column]).unwrap()
    }

    #[test]
    fn money_is_read_as_64_bit_minor_units() {
        let most = 999_999_999_999_999_999i128; // 18 digits
        let df = decimal_frame(18, &[Some(-most), None, Some(12_345), Some(most)]);
        assert_eq!(
            money64(&df, "amount").unwrap(),
            [
                Some(-999_999_999_999_999_999i64),
                None,
                Some(12_345),
                Some(999_999_999_999_999_999)
            ]
        );
        // A wider decimal holding a value beyond 64 bits is refused, naming its row.
        let df = decimal_frame(38, &[Some(1), Some(i128::from(i64::MAX) + 1)]);
        let err = money64(&df, "amount").unwrap_err().to_string();
        assert!(
            err.contains("column `amount` in row 1 holds more than 18 digits"),
            "{err}"
        );
        // The wrong scale is refused as before.
        let df = DataFrame::new(
            1,
            vec![
                Int128Chunked::from_iter_options("amount".into(), [Some(1i128)].into_iter())
                    .into_decimal(18, 3)
                    .unwrap()
                    .into_series()
                    .into_column(),
            ],
        )
        .unwrap();
        assert!(money64(&df, "amount").is_err());
    }

    /// A three-row ledger of the ad hoc case's one account, with `txn_id` as given.
    fn three_rows(txn_ids: [Option<&str>; 3]) -> DataFrame {
        let money = |name: &str, v: [Option<i128>; 3]| {
            Int128Chunked::from_iter_options(name.into(), v.into_iter())
                .into_decimal(18, 2)
                .unwrap()
                .into_series()
                .into_column()
        };
        let text = |name: &str, v: [Option<&str>; 3]| {
            StringChunked::from_iter_options(name.into(), v.into_iter()).into_column()
        };
        DataFrame::new(
            3,
            vec![
                text(col::TXN_ID, txn_ids),
                text(col::ACCOUNT_ID, [Some("STATEMENT"); 3]),
                text(
                    col::SOURCE_FILE,
                    [Some("a.csv"), Some("a.csv"), Some("b.csv")],
                ),
                UInt32Chunked::from_slice(col::SOURCE_LINE.into(), &[2, 3, 2]).into_column(),
                UInt64Chunked::from_slice(col::SEQ.into(), &[1, 2, 3]).into_column(),
                date_column(
                    col::BOOKING_DATE,
                    vec![Some(19_000), Some(19_001), Some(19_002)],
                ),
                money(col::AMOUNT, [Some(-1_050), Some(20_000), Some(-1)]),
                text(col::CURRENCY, [Some("GBP"), Some("GBP"), Some("EUR")]),
                money(col::AMOUNT_BASE, [Some(-1_050), None, Some(-1)]),
                money(col::BALANCE, [None, Some(18_950), None]),
                text(col::CHANNEL, [Some("card"), Some("transfer"), Some("fee")]),
                text(col::COUNTERPARTY_ACCOUNT, [None, Some("12345678"), None]),
                text(
                    col::DESCRIPTION,
                    [Some("SHOP"), Some("FROM J DOE"), Some("FEE")],
                ),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_read_each_text_by_row_and_refuse_a_missing_required_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.csv");
        std::fs::write(&file, "x").unwrap();
        let case = Case::ad_hoc(&file, "uk-generic", "GBP").unwrap();

        let df = three_rows([Some("T1"), Some("T2"), Some("T3")]);
        let rows = Rows::read(&case, &df).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (0..3).map(|i| rows.txn_id(i)).collect::<Vec<_>>(),
            ["T1", "T2", "T3"]
        );
        assert_eq!(
            (0..3).map(|i| rows.source_file(i)).collect::<Vec<_>>(),
            ["a.csv", "a.csv", "b.csv"]
        );
        assert_eq!((0..3).map(|i| rows.seq(i)).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            (0..3).map(|i| rows.account(i)).collect::<Vec<_>>(),
            [0, 0, 0]
        );
        assert_eq!(rows.currency(2), "EUR");
        assert_eq!(rows.channel(1), "transfer");
        assert_eq!(rows.description(1), "FROM J DOE");
        assert_eq!(
            (0..3)
                .map(|i| rows.counterparty_account(i))
                .collect::<Vec<_>>(),
            [None, Some("12345678"), None]
        );
        assert_eq!(
            (rows.amount(0), rows.amount_base(1), rows.balance(1)),
            (-1_050, None, Some(18_950))
        );

        let df = three_rows([Some("T1"), None, Some("T3")]);
        let err = Rows::read(&case, &df)
            .err()
            .expect("a null txn_id is refused")
            .to_string();
        assert!(err.contains("column `txn_id` is null in row 1"), "{err}");
    }
}
