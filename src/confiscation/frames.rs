//! The schedules as polars frames, one per output: the columns of `schedule_*.csv` and of
//! the sheets of `schedules.xlsx` (documented in `docs/schedules.md`). Money is
//! `Decimal(18, 2)`, index values and shares `Decimal(18, 6)`, dates `Date`.

use polars::prelude::*;
use rust_decimal::Decimal;

use super::{pounds, ScheduleError, Schedules};

fn polars_err(context: &str) -> impl FnOnce(PolarsError) -> ScheduleError + '_ {
    move |source| ScheduleError::Polars {
        context: context.to_string(),
        source,
    }
}

fn money(name: &str, values: Vec<Option<i64>>) -> PolarsResult<Column> {
    let ca = Int128Chunked::from_iter_options(
        name.into(),
        values.into_iter().map(|v| v.map(i128::from)),
    );
    Ok(ca.into_decimal(18, 2)?.into_series().into_column())
}

fn decimal6(name: &str, values: Vec<Option<Decimal>>) -> PolarsResult<Column> {
    let ca = Int128Chunked::from_iter_options(
        name.into(),
        values.into_iter().map(|v| {
            v.map(|mut d| {
                d.rescale(6);
                d.mantissa()
            })
        }),
    );
    Ok(ca.into_decimal(18, 6)?.into_series().into_column())
}

fn dates(name: &str, values: Vec<Option<chrono::NaiveDate>>) -> Column {
    Series::new(name.into(), values.as_slice()).into_column()
}

fn text(name: &str, values: Vec<Option<String>>) -> Column {
    Column::new(name.into(), values)
}

fn lines(n: usize) -> Column {
    Column::new("line".into(), (1..=n as u32).collect::<Vec<u32>>())
}

/// Columns of `schedule_benefit.csv` / the Benefit sheet.
pub const BENEFIT_COLUMNS: [&str; 21] = [
    "line",
    "section",
    "kind",
    "account_id",
    "date",
    "txn_id",
    "description",
    "counterparty",
    "channel",
    "historic_amount",
    "month_obtained",
    "index_obtained",
    "index_valuation",
    "uplifted_amount",
    "benefit_value",
    "basis",
    "reason",
    "source_ref",
    "exhibit",
    "valuation_month",
    "index_series",
];

/// Columns of `schedule_exclusions.csv` / the Exclusions sheet.
pub const EXCLUSION_COLUMNS: [&str; 13] = [
    "line",
    "category",
    "account_id",
    "date",
    "txn_id",
    "amount",
    "description",
    "counterparty",
    "channel",
    "reason",
    "evidence_ref",
    "source_ref",
    "exhibit",
];

/// Columns of `schedule_available_amount.csv` / the Available Amount sheet.
pub const AVAILABLE_COLUMNS: [&str; 13] = [
    "line",
    "kind",
    "item_id",
    "description",
    "holder",
    "valuation_date",
    "market_value",
    "encumbrances",
    "share",
    "value",
    "basis",
    "source_ref",
    "exhibit",
];

/// Columns of `schedule_tainted_gifts.csv` / the Tainted Gifts sheet.
pub const GIFT_COLUMNS: [&str; 19] = [
    "line",
    "gift_id",
    "origin",
    "date",
    "recipient",
    "description",
    "value_at_gift",
    "consideration",
    "gift_amount",
    "month",
    "index_at_gift",
    "index_valuation",
    "uplifted_amount",
    "value_now",
    "tainted",
    "rule",
    "counted_value",
    "source_ref",
    "exhibit",
];

/// Columns of `schedule_summary.csv` / the Summary sheet.
pub const SUMMARY_COLUMNS: [&str; 5] = ["line", "key", "item", "amount", "detail"];

impl Schedules {
    /// The benefit schedule.
    pub fn benefit_frame(&self) -> Result<DataFrame, ScheduleError> {
        let l = &self.benefit;
        let s = |f: &dyn Fn(&super::BenefitLine) -> Option<String>| -> Vec<Option<String>> {
            l.iter().map(f).collect()
        };
        let build = || -> PolarsResult<DataFrame> {
            DataFrame::new(
                l.len(),
                vec![
                    lines(l.len()),
                    text("section", s(&|x| Some(x.section.clone()))),
                    text("kind", s(&|x| Some(x.kind.to_string()))),
                    text("account_id", s(&|x| x.account_id.clone())),
                    dates("date", l.iter().map(|x| Some(x.date)).collect()),
                    text("txn_id", s(&|x| x.txn_id.clone())),
                    text("description", s(&|x| Some(x.description.clone()))),
                    text("counterparty", s(&|x| x.counterparty.clone())),
                    text("channel", s(&|x| x.channel.clone())),
                    money(
                        "historic_amount",
                        l.iter().map(|x| Some(x.historic)).collect(),
                    )?,
                    text("month_obtained", s(&|x| x.month.map(|m| m.to_string()))),
                    decimal6(
                        "index_obtained",
                        l.iter().map(|x| x.index_obtained).collect(),
                    )?,
                    decimal6(
                        "index_valuation",
                        l.iter().map(|x| x.index_valuation).collect(),
                    )?,
                    money(
                        "uplifted_amount",
                        l.iter().map(|x| Some(x.uplifted)).collect(),
                    )?,
                    money("benefit_value", l.iter().map(|x| Some(x.value)).collect())?,
                    text("basis", s(&|x| Some(x.basis.clone()))),
                    text("reason", s(&|x| Some(x.reason.clone()))),
                    text("source_ref", s(&|x| Some(x.source_ref.clone()))),
                    text("exhibit", s(&|x| Some(x.exhibit.clone()))),
                    text(
                        "valuation_month",
                        s(&|_| Some(self.valuation_month.to_string())),
                    ),
                    text("index_series", s(&|_| Some(self.index_series.clone()))),
                ],
            )
        };
        build().map_err(polars_err("benefit frame"))
    }

    /// The exclusions schedule.
    pub fn exclusions_frame(&self) -> Result<DataFrame, ScheduleError> {
        let l = &self.exclusions;
        let s = |f: &dyn Fn(&super::ExclusionLine) -> Option<String>| -> Vec<Option<String>> {
            l.iter().map(f).collect()
        };
        let build = || -> PolarsResult<DataFrame> {
            DataFrame::new(
                l.len(),
                vec![
                    lines(l.len()),
                    text("category", s(&|x| Some(x.category.to_string()))),
                    text("account_id", s(&|x| x.account_id.clone())),
                    dates("date", l.iter().map(|x| x.date).collect()),
                    text("txn_id", s(&|x| x.txn_id.clone())),
                    money("amount", l.iter().map(|x| Some(x.amount)).collect())?,
                    text("description", s(&|x| Some(x.description.clone()))),
                    text("counterparty", s(&|x| x.counterparty.clone())),
                    text("channel", s(&|x| x.channel.clone())),
                    text("reason", s(&|x| Some(x.reason.clone()))),
                    text("evidence_ref", s(&|x| Some(x.evidence_ref.clone()))),
                    text("source_ref", s(&|x| Some(x.source_ref.clone()))),
                    text("exhibit", s(&|x| Some(x.exhibit.clone()))),
                ],
            )
        };
        build().map_err(polars_err("exclusions frame"))
    }

    /// The available-amount schedule.
    pub fn available_frame(&self) -> Result<DataFrame, ScheduleError> {
        let l = &self.available;
        let s = |f: &dyn Fn(&super::AvailableLine) -> Option<String>| -> Vec<Option<String>> {
            l.iter().map(f).collect()
        };
        let build = || -> PolarsResult<DataFrame> {
            DataFrame::new(
                l.len(),
                vec![
                    lines(l.len()),
                    text("kind", s(&|x| Some(x.kind.to_string()))),
                    text("item_id", s(&|x| Some(x.item_id.clone()))),
                    text("description", s(&|x| Some(x.description.clone()))),
                    text("holder", s(&|x| Some(x.holder.clone()))),
                    dates(
                        "valuation_date",
                        l.iter().map(|x| x.valuation_date).collect(),
                    ),
                    money("market_value", l.iter().map(|x| x.market_value).collect())?,
                    money("encumbrances", l.iter().map(|x| x.encumbrances).collect())?,
                    decimal6("share", l.iter().map(|x| x.share).collect())?,
                    money("value", l.iter().map(|x| Some(x.value)).collect())?,
                    text("basis", s(&|x| Some(x.basis.clone()))),
                    text("source_ref", s(&|x| Some(x.source_ref.clone()))),
                    text("exhibit", s(&|x| Some(x.exhibit.clone()))),
                ],
            )
        };
        build().map_err(polars_err("available amount frame"))
    }

    /// The tainted-gifts schedule.
    pub fn gifts_frame(&self) -> Result<DataFrame, ScheduleError> {
        let l = &self.gifts;
        let s = |f: &dyn Fn(&super::GiftScheduleLine) -> Option<String>| -> Vec<Option<String>> {
            l.iter().map(f).collect()
        };
        let build = || -> PolarsResult<DataFrame> {
            DataFrame::new(
                l.len(),
                vec![
                    lines(l.len()),
                    text("gift_id", s(&|x| Some(x.gift_id.clone()))),
                    text("origin", s(&|x| Some(x.origin.to_string()))),
                    dates("date", l.iter().map(|x| Some(x.date)).collect()),
                    text("recipient", s(&|x| Some(x.recipient.clone()))),
                    text("description", s(&|x| Some(x.description.clone()))),
                    money(
                        "value_at_gift",
                        l.iter().map(|x| Some(x.value_at_gift)).collect(),
                    )?,
                    money(
                        "consideration",
                        l.iter().map(|x| Some(x.consideration)).collect(),
                    )?,
                    money(
                        "gift_amount",
                        l.iter().map(|x| Some(x.gift_amount)).collect(),
                    )?,
                    text("month", s(&|x| Some(x.month.to_string()))),
                    decimal6(
                        "index_at_gift",
                        l.iter().map(|x| Some(x.index_at_gift)).collect(),
                    )?,
                    decimal6(
                        "index_valuation",
                        l.iter().map(|x| Some(x.index_valuation)).collect(),
                    )?,
                    money(
                        "uplifted_amount",
                        l.iter().map(|x| Some(x.uplifted)).collect(),
                    )?,
                    money("value_now", l.iter().map(|x| x.value_now).collect())?,
                    text(
                        "tainted",
                        s(&|x| Some(if x.tainted { "yes" } else { "no" }.to_string())),
                    ),
                    text("rule", s(&|x| Some(x.rule.clone()))),
                    money("counted_value", l.iter().map(|x| Some(x.counted)).collect())?,
                    text("source_ref", s(&|x| Some(x.source_ref.clone()))),
                    text("exhibit", s(&|x| Some(x.exhibit.clone()))),
                ],
            )
        };
        build().map_err(polars_err("tainted gifts frame"))
    }

    /// The summary rows: (key, item, amount, detail).
    pub fn summary_rows(&self) -> Vec<(&'static str, String, Option<i64>, String)> {
        let t = &self.totals;
        let mut rows = vec![
            (
                "case",
                "Case reference".to_string(),
                None,
                self.case_reference.clone(),
            ),
            (
                "jurisdiction",
                "Law applied".to_string(),
                None,
                format!(
                    "{} ({} version {})",
                    self.jurisdiction_name, self.jurisdiction_id, self.jurisdiction_version
                ),
            ),
            (
                "lifestyle",
                "Criminal lifestyle".to_string(),
                None,
                if self.lifestyle {
                    "yes: the s.10 assumptions are applied"
                } else {
                    "no: benefit from particular criminal conduct"
                }
                .to_string(),
            ),
            (
                "proceedings_started",
                "Proceedings started".to_string(),
                None,
                self.relevant_day.proceedings_started.to_string(),
            ),
            (
                "relevant_day",
                format!("Relevant day: {}", self.relevant_day.day),
                None,
                self.relevant_day.derivation.clone(),
            ),
            (
                "conviction",
                "Date of conviction".to_string(),
                None,
                self.conviction
                    .map_or("not given".to_string(), |d| d.to_string()),
            ),
            (
                "valuation_month",
                format!("Valuation month: {}", self.valuation_month),
                None,
                self.valuation_basis.clone(),
            ),
            (
                "price_index",
                "Price index (s.80)".to_string(),
                None,
                format!(
                    "{}; vintage {}; file {}",
                    self.index_series, self.index_vintage, self.index_file
                ),
            ),
            (
                "benefit_historic",
                "Benefit: historic figures".to_string(),
                Some(t.benefit_historic),
                "sum of historic_amount on the Benefit schedule".to_string(),
            ),
            (
                "benefit_uplifted",
                "Benefit: adjusted for the value of money (s.80(2)(a))".to_string(),
                Some(t.benefit_uplifted),
                "sum of uplifted_amount on the Benefit schedule".to_string(),
            ),
            (
                "benefit",
                "Benefit (value under s.80)".to_string(),
                Some(t.benefit),
                "sum of benefit_value on the Benefit schedule, including any s.80(2)(b) lines"
                    .to_string(),
            ),
            (
                "free_property",
                "Free property (net of encumbrances, defendant's share)".to_string(),
                Some(t.free_property),
                "Available Amount lines of kind property".to_string(),
            ),
            (
                "bank_balances",
                "Bank balances".to_string(),
                Some(t.bank_balances),
                "Available Amount lines of kind bank_balance".to_string(),
            ),
            (
                "priority_obligations",
                "Obligations having priority (deducted)".to_string(),
                Some(t.priority_obligations),
                "Available Amount lines of kind priority_obligation".to_string(),
            ),
            (
                "tainted_gifts",
                "Tainted gifts".to_string(),
                Some(t.tainted_gifts),
                "sum of counted_value on the Tainted Gifts schedule".to_string(),
            ),
            (
                "available",
                "Available amount (s.9)".to_string(),
                Some(t.available),
                format!(
                    "sum of value on the Available Amount schedule ({}), never below nil",
                    pounds(t.available_lines)
                ),
            ),
            (
                "recoverable",
                "Recoverable amount (s.7)".to_string(),
                Some(t.recoverable),
                if t.recoverable_is == "benefit" {
                    "the benefit: the available amount is not less than the benefit".to_string()
                } else {
                    "the available amount, which is less than the benefit".to_string()
                },
            ),
        ];
        for (i, m) in self.method.iter().enumerate() {
            rows.push(("method", format!("Method {}", i + 1), None, m.clone()));
        }
        rows
    }

    /// The summary schedule.
    pub fn summary_frame(&self) -> Result<DataFrame, ScheduleError> {
        let rows = self.summary_rows();
        let build = || -> PolarsResult<DataFrame> {
            DataFrame::new(
                rows.len(),
                vec![
                    lines(rows.len()),
                    text("key", rows.iter().map(|r| Some(r.0.to_string())).collect()),
                    text("item", rows.iter().map(|r| Some(r.1.clone())).collect()),
                    money("amount", rows.iter().map(|r| r.2).collect())?,
                    text("detail", rows.iter().map(|r| Some(r.3.clone())).collect()),
                ],
            )
        };
        build().map_err(polars_err("summary frame"))
    }
}
