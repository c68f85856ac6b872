//! Value of money (POCA 2002 s.80(2)(a), s.81(1)(a)): a figure obtained in one month is
//! brought to the valuation month by the ratio of a price index.
//!
//! **Rule, one rounding per line:** `uplifted = historic × I(valuation month) / I(month
//! obtained)`, computed exactly as a fraction of integers (pence times the two index values
//! at scale 6) and rounded once, **half to even, to the penny**. Totals are sums of the
//! rounded lines, so every total reconciles with its lines. The month obtained is the
//! calendar month of the booking (or gift, or acquisition) date. A month outside the series
//! is refused rather than extrapolated.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use super::ScheduleError;

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// The month a date falls in.
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Month> {
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' {
            return None;
        }
        let year: i32 = s[..4].parse().ok()?;
        let month: u32 = s[5..].parse().ok()?;
        (s[..4].chars().all(|c| c.is_ascii_digit())
            && s[5..].chars().all(|c| c.is_ascii_digit())
            && (1..=12).contains(&month))
        .then_some(Month { year, month })
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A price index series (CPI, CPIH, ...) read from the case's `price_index` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceIndex {
    /// Path as written in the case file.
    pub file: String,
    /// The series name, printed on the schedules.
    pub series: String,
    /// The vintage (release) of the figures, printed on the schedules.
    pub vintage: String,
    /// Month → (index value, line in the file).
    pub months: BTreeMap<Month, (Decimal, u32)>,
}

impl PriceIndex {
    /// The last month in the series.
    pub fn last_month(&self) -> Month {
        // The reader refuses an empty series.
        self.months.keys().next_back().copied().unwrap_or(Month {
            year: 1970,
            month: 1,
        })
    }

    /// The first month in the series.
    pub fn first_month(&self) -> Month {
        self.months.keys().next().copied().unwrap_or(Month {
            year: 1970,
            month: 1,
        })
    }

    /// The index for a month, or an error naming what is needed.
    pub fn index(&self, month: Month, needed_for: &str) -> Result<Decimal, ScheduleError> {
        self.months
            .get(&month)
            .map(|(v, _)| *v)
            .ok_or_else(|| ScheduleError::Reference {
                file: self.file.clone(),
                line: 0,
                field: "month".into(),
                problem: format!(
                    "has no index for {month}, needed for {needed_for}; the series runs from {} to {} — add the month (figures are never extrapolated)",
                    self.first_month(),
                    self.last_month()
                ),
            })
    }
}

/// The valuation month and the index used to bring figures to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valuation {
    pub month: Month,
    /// Why this month: the case's `dates.valuation`, or the index's last month.
    pub basis: String,
    pub index: PriceIndex,
}

impl Valuation {
    /// The valuation month: the month of `dates.valuation` if the case gives one (it must be
    /// in the series), else the last month of the series.
    pub fn new(
        valuation_date: Option<NaiveDate>,
        index: PriceIndex,
    ) -> Result<Valuation, ScheduleError> {
        let (month, basis) = match valuation_date {
            Some(d) => (
                Month::of(d),
                format!("the month of the valuation date {d} (case file dates.valuation)"),
            ),
            None => (
                index.last_month(),
                "the last month of the price index series (the case file gives no dates.valuation)"
                    .to_string(),
            ),
        };
        index.index(month, "the valuation month")?;
        Ok(Valuation {
            month,
            basis,
            index,
        })
    }

    /// Bring `historic_pence` obtained in `month` to the valuation month.
    pub fn uplift(
        &self,
        historic_pence: i64,
        obtained: NaiveDate,
        what: &str,
    ) -> Result<Uplifted, ScheduleError> {
        let from = Month::of(obtained);
        let index_from = self.index.index(from, what)?;
        let index_to = self.index.index(self.month, "the valuation month")?;
        Ok(Uplifted {
            month: from,
            index_from,
            index_to,
            uplifted: uplift_pence(historic_pence, index_from, index_to),
        })
    }
}

/// A figure brought to the valuation month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uplifted {
    /// The month obtained.
    pub month: Month,
    pub index_from: Decimal,
    pub index_to: Decimal,
    /// Pence, rounded half to even.
    pub uplifted: i64,
}

/// `pence × to / from`, exactly, rounded once half to even to the penny.
pub fn uplift_pence(pence: i64, from: Decimal, to: Decimal) -> i64 {
    let scaled = |d: Decimal| -> i128 {
        let mut d = d;
        d.rescale(6);
        d.mantissa()
    };
    let (num, den) = (i128::from(pence) * scaled(to), scaled(from));
    let value = div_half_even(num, den);
    i64::try_from(value).unwrap_or(if value > 0 { i64::MAX } else { i64::MIN })
}

/// `n / d` rounded half to even; `d > 0`.
pub fn div_half_even(n: i128, d: i128) -> i128 {
    let (neg, n) = (n < 0, n.abs());
    let (mut q, r) = (n / d, n % d);
    if 2 * r > d || (2 * r == d && q % 2 == 1) {
        q += 1;
    }
    if neg {
        -q
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_even_to_the_penny() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        // 100.05 × 150/100 = 150.075 → 150.08 (7 is odd, so up); 100.03 × 1.5 = 150.045 → 150.04.
        assert_eq!(uplift_pence(10_005, d("100"), d("150")), 15_008);
        assert_eq!(uplift_pence(10_003, d("100"), d("150")), 15_004);
        // 1,000.00 × 140 / 137.2 = 1,020.408163... → 1,020.41.
        assert_eq!(uplift_pence(100_000, d("137.2"), d("140")), 102_041);
        // The exact fraction is rounded once: 750.00 × 140 / 118.3 = 887.5739...
        assert_eq!(uplift_pence(75_000, d("118.3"), d("140")), 88_757);
        // Deflation lowers the figure.
        assert_eq!(uplift_pence(10_000, d("110"), d("99")), 9_000);
        assert_eq!(div_half_even(-5, 2), -2);
        assert_eq!(div_half_even(7, 2), 4);
    }

    #[test]
    fn months() {
        assert_eq!(Month::parse("2019-03").unwrap().to_string(), "2019-03");
        assert_eq!(
            Month::parse("2019-12").unwrap().next().to_string(),
            "2020-01"
        );
        assert!(Month::parse("2019-13").is_none());
        assert!(Month::parse("2019-3").is_none());
    }
}
