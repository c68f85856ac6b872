//! The relevant day (POCA 2002 s.10(8)): the first day of the period of six years ending
//! with the day proceedings were started. Printed on the schedules with its derivation.
//!
//! Proceedings started 2025-03-14: the six years ending with that day run from 2019-03-15
//! to 2025-03-14 inclusive, so the relevant day is 2019-03-15. For a start on 29 February
//! the period begins on 1 March six years earlier (the day after 28 February).

use chrono::{Days, Months, NaiveDate};

use super::jurisdiction::RelevantDayRule;
use super::ScheduleError;

/// The relevant day and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelevantDay {
    /// The relevant day itself: credits on it are outside s.10(2), credits after it inside.
    pub day: NaiveDate,
    pub proceedings_started: NaiveDate,
    pub period_years: u32,
    /// The derivation in words, printed on the Summary sheet.
    pub derivation: String,
    pub citation: String,
}

/// The relevant day for proceedings started on `proceedings_started`.
pub fn relevant_day(
    proceedings_started: NaiveDate,
    rule: &RelevantDayRule,
) -> Result<RelevantDay, ScheduleError> {
    let out_of_range = || ScheduleError::Case {
        key: "dates.proceedings_started".into(),
        problem: format!(
            "is {proceedings_started}, too early to count back {} years",
            rule.period_years
        ),
    };
    // The same calendar day `period_years` earlier (28 February for 29 February), then the
    // next day: the period of N years ending with D is (D − N years, D].
    let day = proceedings_started
        .checked_sub_months(Months::new(rule.period_years * 12))
        .and_then(|d| d.checked_add_days(Days::new(1)))
        .ok_or_else(out_of_range)?;
    let derivation = format!(
        "Proceedings started on {proceedings_started}. The period of {n} years ending with that day runs from {day} to {proceedings_started} inclusive; its first day, {day}, is the relevant day ({cite}). Property transferred to the defendant after {day} falls under s.10(2); a credit on {day} itself does not.",
        n = rule.period_years,
        cite = rule.citation,
    );
    Ok(RelevantDay {
        day,
        proceedings_started,
        period_years: rule.period_years,
        derivation,
        citation: rule.citation.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> RelevantDayRule {
        RelevantDayRule {
            period_years: 6,
            citation: "POCA 2002 s.10(8)".into(),
        }
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn six_years_ending_with_the_day() {
        let r = relevant_day(d(2025, 3, 14), &rule()).unwrap();
        assert_eq!(r.day, d(2019, 3, 15));
        assert!(r.derivation.contains("from 2019-03-15 to 2025-03-14"));
        // Leap days: six years ending with 2024-02-29 began on 2018-03-01.
        assert_eq!(
            relevant_day(d(2024, 2, 29), &rule()).unwrap().day,
            d(2018, 3, 1)
        );
        assert_eq!(
            relevant_day(d(2025, 1, 1), &rule()).unwrap().day,
            d(2019, 1, 2)
        );
        assert_eq!(
            relevant_day(d(2024, 12, 31), &rule()).unwrap().day,
            d(2019, 1, 1)
        );
    }
}
