//! Currency conversion: `amount_base` for every row, from the case's dated rate table.
//!
//! **Rates file** (`[reference] rates`): CSV with the header `date,currency,rate`; `date`
//! is `YYYY-MM-DD`; `currency` an ISO 4217 code other than the base currency; `rate` the
//! number of units of the **base currency per one unit of `currency`** (GBP base, EUR
//! 0.8541 means €1 = £0.8541), a plain positive decimal with at most 8 places. A date and
//! currency may appear once. A malformed file is refused with its file, line and field.
//!
//! **Which rate:** the rate dated on the row's `booking_date`; when there is none (a
//! weekend or a holiday), the latest earlier rate, at most `max_rate_age_days` old. The
//! ledger says which rate was used: `fx_rate` and `fx_rate_date` (earlier than the booking
//! date when an earlier rate stood in). No rate at all, or only an older one, is an error
//! naming the date and currency: never a silent zero or null.
//!
//! **Arithmetic:** exact integers. The amount in minor units times the rate at scale 8 is
//! exact in `i128`; the product is rounded once, **half to even, to the minor unit**
//! (€50.00 × 0.8537 = £42.685 → £42.68). Rows already in the base currency keep
//! `amount_base = amount`; a row whose source gave its own `amount_base` keeps it.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use rust_decimal::Decimal;

use super::frame::{date_text, day_to_date, polars_err, set_column, Rows};
use super::integrity::{Check, IntegrityRow, Outcome};
use super::refcsv::{iso_date, plain_decimal, read, RefProblem};
use super::{added_col, frame, RowRef, VerifyError, VerifyOptions};
use crate::case::Case;
use crate::hash::sha256_file;
use crate::ledger::col;
use crate::money::{is_currency_code, LEDGER_MAX_ABS};

/// Decimal places kept for a rate.
pub const RATE_SCALE: u32 = 8;
const RATE_UNIT: i128 = 100_000_000;

/// The header of a rates file.
pub const HEADER: [&str; 3] = ["date", "currency", "rate"];

/// A dated exchange-rate table: base currency per one unit of each other currency.
#[derive(Debug, Clone)]
pub struct RateTable {
    /// The file as written in the case file.
    pub file: String,
    pub sha256: String,
    pub base: String,
    /// Per currency: (day, rate in units of 10^-8), sorted by day.
    rates: HashMap<String, Vec<(i32, i128)>>,
}

impl RateTable {
    /// The case's rates file, if it names one.
    pub fn for_case(case: &Case) -> Result<Option<RateTable>, VerifyError> {
        let Some(path) = case.reference_file("rates") else {
            return Ok(None);
        };
        let unreadable = |source| VerifyError::Unreadable {
            file: path.written.clone(),
            source,
        };
        let (sha256, _) = sha256_file(&path.resolved).map_err(unreadable)?;
        let text = std::fs::read_to_string(&path.resolved).map_err(unreadable)?;
        RateTable::parse(&path.written, &sha256, &text, &case.base_currency).map(Some)
    }

    /// Parse the text of a rates file for a case whose base currency is `base`.
    pub fn parse(
        file: &str,
        sha256: &str,
        text: &str,
        base: &str,
    ) -> Result<RateTable, VerifyError> {
        let bad = |p: RefProblem| VerifyError::BadRate {
            file: file.to_string(),
            line: p.line,
            field: p.field,
            problem: p.problem,
        };
        let records = read(text, &HEADER).map_err(bad)?;
        let mut seen: BTreeMap<(String, i32), u32> = BTreeMap::new();
        let mut rates: HashMap<String, Vec<(i32, i128)>> = HashMap::new();
        for rec in records {
            let problem = |field: &str, problem: String| {
                bad(RefProblem {
                    line: rec.line,
                    field: field.to_string(),
                    problem,
                })
            };
            let f = &rec.fields;
            let date = iso_date(&f[0]).ok_or_else(|| {
                problem(
                    "date",
                    format!("{:?} is not a date written YYYY-MM-DD", f[0]),
                )
            })?;
            let currency = f[1].as_str();
            if !is_currency_code(currency) {
                return Err(problem(
                    "currency",
                    format!("{currency:?} is not an ISO 4217 code (expected e.g. EUR, USD)"),
                ));
            }
            if currency == base {
                return Err(problem(
                    "currency",
                    format!("{currency} is the base currency; it needs no rate, remove the line"),
                ));
            }
            let rate = plain_decimal(&f[2], RATE_SCALE, false).map_err(|p| problem("rate", p))?;
            if rate.is_zero() {
                return Err(problem("rate", "is zero; a rate must be positive".into()));
            }
            let mut scaled = rate;
            scaled.rescale(RATE_SCALE);
            let mantissa = scaled.mantissa();
            let day = super::date_to_day(date);
            if let Some(first) = seen.insert((currency.to_string(), day), rec.line) {
                return Err(problem(
                    "date",
                    format!("{currency} on {date} is already given at line {first}; each date and currency may appear once"),
                ));
            }
            rates
                .entry(currency.to_string())
                .or_default()
                .push((day, mantissa));
        }
        for list in rates.values_mut() {
            list.sort_unstable();
        }
        Ok(RateTable {
            file: file.to_string(),
            sha256: sha256.to_string(),
            base: base.to_string(),
            rates,
        })
    }

    /// The rate dated `day`, or failing that the latest earlier one: (its day, the rate).
    pub fn rate_on_or_before(&self, currency: &str, day: i32) -> Option<(i32, Decimal)> {
        let list = self.rates.get(currency)?;
        let n = list.partition_point(|(d, _)| *d <= day);
        let (d, r) = *list.get(n.checked_sub(1)?)?;
        Some((d, Decimal::from_i128_with_scale(r, RATE_SCALE)))
    }

    /// Currencies with at least one rate, sorted.
    pub fn currencies(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.rates.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// `amount` (minor units) × `rate`, rounded half to even to the minor unit. `None` on overflow.
pub fn convert_minor(amount_minor: i128, rate: Decimal) -> Option<i128> {
    let mut r = rate;
    r.rescale(RATE_SCALE);
    if r != rate {
        return None;
    }
    let product = amount_minor.checked_mul(r.mantissa())?;
    Some(div_round_half_even(product, RATE_UNIT))
}

/// `n / d` rounded to the nearest integer, ties to the even one (`d > 0`).
fn div_round_half_even(n: i128, d: i128) -> i128 {
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d);
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal if q % 2 != 0 => q + 1,
        _ => q,
    }
}

/// A row converted with an earlier day's rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierRate {
    pub txn_id: String,
    pub account: usize,
    pub currency: String,
    pub booking_day: i32,
    pub rate_day: i32,
}

/// The conversion of a ledger: new column values and what was done.
#[derive(Debug, Clone)]
pub struct Converted {
    /// Every row's base amount in minor units: the column itself once applied (16 bytes a
    /// row, moved into the frame, not copied).
    pub amount_base: Vec<i128>,
    /// Per row converted here, in row order: (row, rate used at scale 8, the rate's day).
    /// Most cases convert few rows or none; a column a row is built only to apply them.
    pub rates_used: Vec<(usize, i128, i32)>,
    /// Rows converted here, per account (case order).
    pub converted_per_account: Vec<usize>,
    /// Rows whose source already gave `amount_base`.
    pub given_by_source: usize,
    pub earlier_rates: Vec<EarlierRate>,
    pub integrity: Vec<IntegrityRow>,
}

impl Converted {
    /// Rows converted in all.
    pub fn converted(&self) -> usize {
        self.converted_per_account.iter().sum()
    }

    /// Move `amount_base`, `fx_rate` and `fx_rate_date` into the ledger (they are left
    /// empty here: a ledger-long copy of each is not kept).
    pub fn apply(&mut self, mut ledger: DataFrame) -> Result<DataFrame, VerifyError> {
        let amounts = Int128Chunked::from_vec(
            col::AMOUNT_BASE.into(),
            std::mem::take(&mut self.amount_base),
        )
        .into_decimal(18, 2)
        .map_err(polars_err(col::AMOUNT_BASE))?;
        set_column(&mut ledger, amounts.into_series().into_column())?;
        let n = ledger.height();
        let used = std::mem::take(&mut self.rates_used);
        // A case in one currency converts no row: its rate columns are one null column
        // each, allocated zeroed and never written, not 20 bytes a row written out.
        let (fx_rate, fx_rate_date) = if used.is_empty() {
            (
                Series::full_null(
                    added_col::FX_RATE.into(),
                    n,
                    &DataType::Decimal(18, RATE_SCALE as usize),
                )
                .into_column(),
                Series::full_null(added_col::FX_RATE_DATE.into(), n, &DataType::Date).into_column(),
            )
        } else {
            // Row by row, each row converted taken from the list (in row order) as it is
            // reached.
            type Used<'u> = std::iter::Peekable<std::slice::Iter<'u, (usize, i128, i32)>>;
            let at = |i: usize, next: &mut Used<'_>| next.next_if(|u| u.0 == i).copied();
            let mut next = used.iter().peekable();
            let rate = Int128Chunked::from_iter_options(
                added_col::FX_RATE.into(),
                (0..n).map(|i| at(i, &mut next).map(|u| u.1)),
            )
            .into_decimal(18, RATE_SCALE as usize)
            .map_err(polars_err(added_col::FX_RATE))?;
            let mut next = used.iter().peekable();
            let day = Int32Chunked::from_iter_options(
                added_col::FX_RATE_DATE.into(),
                (0..n).map(|i| at(i, &mut next).map(|u| u.2)),
            )
            .into_date();
            (
                rate.into_series().into_column(),
                day.into_series().into_column(),
            )
        };
        set_column(&mut ledger, fx_rate)?;
        set_column(&mut ledger, fx_rate_date)?;
        Ok(ledger)
    }
}

/// Convert every row not in the base currency.
pub(crate) fn convert(
    case: &Case,
    rates: Option<&RateTable>,
    rows: &Rows<'_>,
    options: &VerifyOptions,
) -> Result<Converted, VerifyError> {
    let n = rows.len();
    let base = case.base_currency.as_str();
    let mut out = Converted {
        amount_base: Vec::with_capacity(n),
        rates_used: Vec::new(),
        converted_per_account: vec![0; case.accounts.len()],
        given_by_source: 0,
        earlier_rates: Vec::new(),
        integrity: Vec::new(),
    };
    let mut span: Vec<Option<(i32, i32)>> = vec![None; case.accounts.len()];
    for i in 0..n {
        let currency = rows.currency(i);
        if currency == base {
            out.amount_base
                .push(rows.amount_base(i).unwrap_or(rows.amount(i)));
            continue;
        }
        if let Some(given) = rows.amount_base(i) {
            out.given_by_source += 1;
            out.amount_base.push(given);
            continue;
        }
        let account = rows.account(i);
        let row_ref = || {
            Box::new(RowRef {
                txn_id: rows.txn_id(i).to_string(),
                source_file: rows.source_file(i).to_string(),
                line: rows.source_line[i],
            })
        };
        let table = rates.ok_or_else(|| VerifyError::NoRatesFile {
            account: case.accounts[account].id.clone(),
            currency: currency.to_string(),
            base: base.to_string(),
        })?;
        let day = rows.date[i];
        let (rate_day, rate) =
            table
                .rate_on_or_before(currency, day)
                .ok_or_else(|| VerifyError::MissingRate {
                    file: table.file.clone(),
                    currency: currency.to_string(),
                    base: base.to_string(),
                    date: day_to_date(day),
                    row: row_ref(),
                })?;
        let age = i64::from(day) - i64::from(rate_day);
        if age > i64::from(options.max_rate_age_days) {
            return Err(VerifyError::StaleRate {
                file: table.file.clone(),
                currency: currency.to_string(),
                date: day_to_date(day),
                rate_date: day_to_date(rate_day),
                age_days: age,
                max_days: options.max_rate_age_days,
                row: row_ref(),
            });
        }
        let value = convert_minor(rows.amount(i), rate)
            .filter(|v| v.abs() < LEDGER_MAX_ABS)
            .ok_or_else(|| VerifyError::ConversionOverflow {
                row: row_ref(),
                amount: frame::money_plain(rows.amount(i)),
                currency: currency.to_string(),
                rate,
            })?;
        out.amount_base.push(value);
        let mut scaled = rate;
        scaled.rescale(RATE_SCALE);
        out.rates_used.push((i, scaled.mantissa(), rate_day));
        out.converted_per_account[account] += 1;
        let s = &mut span[account];
        *s = Some(s.map_or((day, day), |(a, b)| (a.min(day), b.max(day))));
        if rate_day < day {
            out.earlier_rates.push(EarlierRate {
                txn_id: rows.txn_id(i).to_string(),
                account,
                currency: currency.to_string(),
                booking_day: day,
                rate_day,
            });
        }
    }
    for (account, count) in out.converted_per_account.iter().enumerate() {
        if *count == 0 {
            continue;
        }
        let acc = &case.accounts[account];
        let file = rates.map_or("", |t| t.file.as_str());
        let earlier: Vec<&EarlierRate> = out
            .earlier_rates
            .iter()
            .filter(|e| e.account == account)
            .collect();
        let mut detail = format!(
            "{count} rows in {cur} converted to {base} at the rates in {file} ({base} per one {cur}), each rounded half to even to the penny",
            cur = acc.currency
        );
        if earlier.is_empty() {
            detail.push_str("; every row had a rate for its own booking date");
        } else {
            let listed: Vec<String> = earlier
                .iter()
                .take(10)
                .map(|e| {
                    format!(
                        "{} ({}, rate of {})",
                        e.txn_id,
                        date_text(e.booking_day),
                        date_text(e.rate_day)
                    )
                })
                .collect();
            detail.push_str(&format!(
                "; {} booked on a day with no rate (weekend or holiday) used the latest earlier rate: {}{}",
                earlier.len(),
                listed.join(", "),
                if earlier.len() > 10 { ", ..." } else { "" }
            ));
        }
        let mut row = IntegrityRow::new(Check::CurrencyConversion, account, case, Outcome::Pass);
        row.currency = base.to_string();
        if let Some((a, b)) = span[account] {
            row.from_date = Some(a);
            row.to_date = Some(b);
        }
        row.rows = Some(*count as u64);
        row.source_file = rates.map(|t| t.file.clone());
        row.detail = detail;
        out.integrity.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_to_even_to_the_penny() {
        let r = |s: &str| s.parse::<Decimal>().unwrap();
        // €50.00 × 0.8537 = £42.685: the tie goes to the even penny.
        assert_eq!(convert_minor(5000, r("0.8537")), Some(4268));
        assert_eq!(convert_minor(-5000, r("0.8537")), Some(-4268));
        // Ties: 12.5p → 12p, 13.5p → 14p, 145.5p → 146p; not ties: 128.25p → 128p.
        assert_eq!(convert_minor(100, r("0.125")), Some(12));
        assert_eq!(convert_minor(100, r("0.135")), Some(14));
        assert_eq!(convert_minor(-100, r("0.135")), Some(-14));
        assert_eq!(convert_minor(100, r("1.455")), Some(146));
        assert_eq!(convert_minor(150, r("0.855")), Some(128));
        assert_eq!(convert_minor(-42_17, r("0.8561")), Some(-36_10));
        // More than 8 places cannot be represented and is refused, not rounded.
        assert_eq!(convert_minor(100, r("0.123456789")), None);
    }

    #[test]
    fn latest_earlier_rate() {
        let text = "date,currency,rate\n2024-03-08,EUR,0.8541\n2024-03-11,EUR,0.8537\n";
        let t = RateTable::parse("rates.csv", "x", text, "GBP").unwrap();
        let day = |d: u32| {
            super::super::date_to_day(chrono::NaiveDate::from_ymd_opt(2024, 3, d).unwrap())
        };
        assert_eq!(t.rate_on_or_before("EUR", day(9)).unwrap().0, day(8));
        assert_eq!(t.rate_on_or_before("EUR", day(11)).unwrap().0, day(11));
        assert!(t.rate_on_or_before("EUR", day(7)).is_none());
        assert!(t.rate_on_or_before("USD", day(9)).is_none());
    }
}
