//! Reference data the rules compare with: sector cash norms (shipped), and declared
//! turnover and accepted legitimate sources (supplied by the case).
//!
//! **Sector cash norms** — `rules/lists/sector_cash_norms.csv`, built into the binary:
//! `business_type,cash_share,source`, one row per business type (the value of
//! `business_type` on a case account), `cash_share` the typical share of a business's
//! takings received in cash (0 to 1). Lines starting with `#` are comments. The shipped
//! figures are ILLUSTRATIVE (see the file's header); a case should replace them with
//! sourced figures before relying on them, and the source travels with every finding.
//!
//! **Declared turnover** — the CSV the case names as `[reference] declared_turnover`:
//!
//! ```text
//! account_id,year,declared_turnover,source
//! CAFE-HSBC,2023,84000.00,"HMRC CT600 for year to 31/12/2023 (exhibit AE/9)"
//! ```
//!
//! `account_id` is a case account key (a business account), `year` a calendar year,
//! `declared_turnover` the turnover the business declared for that year, a plain amount
//! in the base currency (digits, optional two decimals, no `£` or commas), and `source`
//! where the figure comes from. A business whose accounting year is not the calendar year
//! must be apportioned by the investigator, who says so in `source`. Every problem is an
//! error naming the file, line and column.
//!
//! **Accepted legitimate sources** — the CSV the case names as `[reference]
//! legitimate_sources`, the same file the schedules read, parsed by the schedules' own
//! reader ([`crate::confiscation::reference::parse_legitimate`]; format in
//! `docs/schedules.md`). Detection counts the credits it accepts as identified income
//! (`spending_vs_income`); which ledger rows it accepts is settled once per run by
//! [`legitimate_credits`], with the schedules' matching rules.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use polars::prelude::*;
use rust_decimal::Decimal;

use super::prepare::day_of_date;
use super::RuleError;
use crate::case::{AccountKind, Case};
use crate::confiscation::reference::{parse_legitimate, LegitimateMatch, LegitimateSource};
use crate::confiscation::ScheduleError;
use crate::ledger::col as lc;
use crate::trace::normalise_name;

/// The shipped sector norms file.
pub const SECTOR_NORMS_FILE: &str = "rules/lists/sector_cash_norms.csv";
const SECTOR_NORMS: &str = include_str!("../../rules/lists/sector_cash_norms.csv");

/// A sector's typical cash share and where it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct SectorNorm {
    pub cash_share: f64,
    pub source: String,
}

/// One declared-turnover figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Pence in the base currency.
    pub pence: i64,
    pub source: String,
    /// File and line it came from.
    pub origin: String,
}

/// Reference data for a run.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    /// By business type.
    pub sector_norms: BTreeMap<String, SectorNorm>,
    /// By (account key, calendar year).
    pub declared_turnover: BTreeMap<(String, i32), Declared>,
    /// The declared-turnover file as written in the case, if any.
    pub declared_turnover_file: Option<String>,
    /// The case's accepted legitimate sources, in file order.
    pub legitimate: Vec<LegitimateSource>,
    /// The legitimate-sources file as written in the case, if any.
    pub legitimate_file: Option<String>,
}

impl Reference {
    /// The shipped lists only (no case data).
    pub fn shipped() -> Result<Reference, RuleError> {
        Ok(Reference {
            sector_norms: parse_sector_norms(SECTOR_NORMS, SECTOR_NORMS_FILE)?,
            ..Reference::default()
        })
    }

    /// The shipped lists plus the case's reference files.
    pub fn for_case(case: &Case) -> Result<Reference, RuleError> {
        let mut r = Reference::shipped()?;
        // A reference file's text, or the error naming it.
        let read = |path: &crate::case::CasePath| {
            std::fs::read_to_string(&path.resolved).map_err(|e| RuleError::Reference {
                file: path.written.clone(),
                line: 0,
                message: format!("cannot be read: {e}"),
            })
        };
        if let Some(path) = case.reference_file("declared_turnover") {
            let text = read(path)?;
            r.declared_turnover = parse_declared_turnover(&text, &path.written, case)?;
            r.declared_turnover_file = Some(path.written.clone());
        }
        if let Some(path) = case.reference_file("legitimate_sources") {
            let text = read(path)?;
            r.legitimate = parse_legitimate(&path.written, &text).map_err(|e| match e {
                ScheduleError::Reference {
                    file,
                    line,
                    field,
                    problem,
                } => RuleError::Reference {
                    file,
                    line,
                    message: format!("field `{field}`: {problem}"),
                },
                other => RuleError::Reference {
                    file: path.written.clone(),
                    line: 0,
                    message: other.to_string(),
                },
            })?;
            r.legitimate_file = Some(path.written.clone());
        }
        Ok(r)
    }
}

/// The `seq` of every ledger credit an accepted legitimate source matches, ascending, as
/// the schedules match them: a `txn_id` line names one row (only a credit counts here); a
/// `counterparty` line matches every credit whose counterparty name is the same after
/// [`normalise_name`] on both sides, booked within its `from` and `until`. A `txn_id` the
/// ledger does not hold is refused, naming the file and line. Names are compared once per
/// distinct counterparty name in the ledger, not per row.
pub fn legitimate_credits(
    ledger: &DataFrame,
    reference: &Reference,
) -> Result<Vec<u64>, RuleError> {
    if reference.legitimate.is_empty() {
        return Ok(Vec::new());
    }
    let internal = |e: PolarsError| RuleError::Internal {
        rule: "(all rules)".into(),
        stage: "legitimate sources",
        source: e,
    };
    let txn_ids: Vec<&str> = reference
        .legitimate
        .iter()
        .filter_map(|l| match &l.matcher {
            LegitimateMatch::TxnId(id) => Some(id.as_str()),
            LegitimateMatch::Counterparty(_) => None,
        })
        .collect();
    let mut matches = lit(false);
    if !txn_ids.is_empty() {
        let ids = || lit(Series::new("ids".into(), &txn_ids)).implode(false);
        let found = ledger
            .clone()
            .lazy()
            .filter(col(lc::TXN_ID).is_in(ids(), false))
            .select([col(lc::TXN_ID)])
            .collect()
            .map_err(internal)?;
        let found: BTreeSet<&str> = found
            .column(lc::TXN_ID)
            .and_then(|c| c.str())
            .map_err(internal)?
            .iter()
            .flatten()
            .collect();
        for l in &reference.legitimate {
            if let LegitimateMatch::TxnId(id) = &l.matcher {
                if !found.contains(id.as_str()) {
                    return Err(RuleError::Reference {
                        file: l.file.clone(),
                        line: l.line,
                        message: format!(
                            "field `value`: names txn_id {id:?}, which is not in the ledger"
                        ),
                    });
                }
            }
        }
        matches = matches.or(col(lc::TXN_ID).is_in(ids(), false));
    }
    let by_name = reference
        .legitimate
        .iter()
        .any(|l| matches!(l.matcher, LegitimateMatch::Counterparty(_)));
    if by_name {
        let names = ledger
            .column(lc::COUNTERPARTY_NAME)
            .and_then(|c| c.unique())
            .map_err(internal)?;
        let names: Vec<(String, &str)> = names
            .str()
            .map_err(internal)?
            .iter()
            .flatten()
            .map(|n| (normalise_name(n), n))
            .collect();
        let day = || {
            col(lc::BOOKING_DATE)
                .cast(DataType::Int32)
                .cast(DataType::Int64)
        };
        for l in &reference.legitimate {
            let LegitimateMatch::Counterparty(name) = &l.matcher else {
                continue;
            };
            let key = normalise_name(name);
            let raw: Vec<&str> = names
                .iter()
                .filter(|(n, _)| *n == key)
                .map(|(_, raw)| *raw)
                .collect();
            if raw.is_empty() {
                continue;
            }
            let mut hit = col(lc::COUNTERPARTY_NAME)
                .is_in(lit(Series::new("names".into(), raw)).implode(false), false);
            if let Some(from) = l.from {
                hit = hit.and(day().gt_eq(lit(day_of_date(from))));
            }
            if let Some(until) = l.until {
                hit = hit.and(day().lt_eq(lit(day_of_date(until))));
            }
            matches = matches.or(hit);
        }
    }
    let credits = ledger
        .clone()
        .lazy()
        .filter(matches.and(col(lc::AMOUNT).gt(lit(0))))
        .select([col(lc::SEQ).strict_cast(DataType::UInt64)])
        .sort([lc::SEQ], SortMultipleOptions::default())
        .collect()
        .map_err(internal)?;
    Ok(credits
        .column(lc::SEQ)
        .and_then(|c| c.u64())
        .map_err(internal)?
        .into_no_null_iter()
        .collect())
}

fn reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes())
}

fn header_check(
    rdr: &mut csv::Reader<&[u8]>,
    file: &str,
    expected: &[&str],
) -> Result<(), RuleError> {
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| RuleError::Reference {
            file: file.into(),
            line: 1,
            message: e.to_string(),
        })?
        .iter()
        .map(str::to_string)
        .collect();
    if header != expected {
        return Err(RuleError::Reference {
            file: file.into(),
            line: 1,
            message: format!(
                "the header is {:?}; expected exactly: {}",
                header.join(","),
                expected.join(",")
            ),
        });
    }
    Ok(())
}

/// Parse a sector norms list.
pub fn parse_sector_norms(
    text: &str,
    file: &str,
) -> Result<BTreeMap<String, SectorNorm>, RuleError> {
    let mut rdr = reader(text);
    header_check(&mut rdr, file, &["business_type", "cash_share", "source"])?;
    let mut out = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| RuleError::Reference {
            file: file.into(),
            line: 0,
            message: e.to_string(),
        })?;
        let line = rec.position().map_or(0, |p| p.line() as u32);
        let err = |message: String| RuleError::Reference {
            file: file.into(),
            line,
            message,
        };
        let business_type = rec.get(0).unwrap_or_default().to_string();
        let share: f64 = rec
            .get(1)
            .unwrap_or_default()
            .parse()
            .map_err(|_| err("`cash_share` must be a number between 0 and 1".into()))?;
        if !(0.0..=1.0).contains(&share) {
            return Err(err(format!(
                "`cash_share` is {share}; it must be between 0 and 1"
            )));
        }
        let source = rec.get(2).unwrap_or_default().to_string();
        if business_type.is_empty() || source.is_empty() {
            return Err(err("`business_type` and `source` must not be empty".into()));
        }
        if out
            .insert(
                business_type.clone(),
                SectorNorm {
                    cash_share: share,
                    source,
                },
            )
            .is_some()
        {
            return Err(err(format!(
                "business type {business_type:?} is listed twice"
            )));
        }
    }
    Ok(out)
}

/// Parse a declared-turnover file against the case's accounts.
pub fn parse_declared_turnover(
    text: &str,
    file: &str,
    case: &Case,
) -> Result<BTreeMap<(String, i32), Declared>, RuleError> {
    let mut rdr = reader(text);
    header_check(
        &mut rdr,
        file,
        &["account_id", "year", "declared_turnover", "source"],
    )?;
    let mut out = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| RuleError::Reference {
            file: file.into(),
            line: 0,
            message: e.to_string(),
        })?;
        let line = rec.position().map_or(0, |p| p.line() as u32);
        let err = |message: String| RuleError::Reference {
            file: file.into(),
            line,
            message,
        };
        let account = rec.get(0).unwrap_or_default().to_string();
        match case.account(&account) {
            None => {
                return Err(err(format!(
                    "`account_id` {account:?} is not an account in the case; declared accounts: {}",
                    case.accounts
                        .iter()
                        .map(|a| a.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            Some(a) if a.kind != AccountKind::Business => {
                return Err(err(format!(
                    "`account_id` {account:?} is not a business account; set kind = \"business\" and business_type on it in the case file"
                )))
            }
            Some(_) => {}
        }
        let year_text = rec.get(1).unwrap_or_default();
        let year: i32 = year_text
            .parse()
            .ok()
            .filter(|y| (1970..=2099).contains(y))
            .ok_or_else(|| {
                err(format!(
                    "`year` is {year_text:?}; expected a calendar year such as 2023"
                ))
            })?;
        let amount_text = rec.get(2).unwrap_or_default();
        let amount = Decimal::from_str(amount_text)
            .ok()
            .filter(|d| !d.is_sign_negative() && d.scale() <= 2 && amount_text.chars().all(|c| c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                err(format!(
                    "`declared_turnover` is {amount_text:?}; expected a plain amount such as 84000.00 (no currency sign or commas)"
                ))
            })?;
        let pence = i64::try_from(crate::money::to_minor_units(amount))
            .map_err(|_| err("`declared_turnover` is too large".into()))?;
        let source = rec.get(3).unwrap_or_default().to_string();
        if source.is_empty() {
            return Err(err(
                "`source` is empty; say where the declared figure comes from".into(),
            ));
        }
        let declared = Declared {
            pence,
            source,
            origin: format!("{file}:{line}"),
        };
        if out.insert((account.clone(), year), declared).is_some() {
            return Err(err(format!(
                "{account:?} {year} is listed twice; give one figure per account and year"
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_norms_parse() {
        let r = Reference::shipped().unwrap();
        assert!(!r.sector_norms.is_empty());
        for n in r.sector_norms.values() {
            assert!(n.source.contains("ILLUSTRATIVE"), "{}", n.source);
        }
    }
}
