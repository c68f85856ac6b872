//! `high_risk_destination`: money sent to or received from accounts in listed countries.
//!
//! The only country evidence the ledger carries is the counterparty's account identifier,
//! and only two identifier forms state a country: an IBAN (its first two letters) and a
//! SWIFT/BIC code (its fifth and sixth letters). Rows are matched on those alone. Country
//! names in narratives are not matched: "IRAN" inside a shop name, or a town called
//! Paris, would make guesses, not evidence. Countries that issue no IBANs are found only
//! where the bank recorded a BIC.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::round_amounts::{magnitude, Direction};
use crate::ledger::Channel;
use crate::rules::kind::{
    i64s, strs, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value,
};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::c;
use crate::rules::window::{
    count_and_total, episodes, group_of_k, EPISODE, FIRES, W_COUNT, W_TOTAL,
};

/// The kind.
pub struct HighRiskDestination;

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub countries: Vec<String>,
    pub direction: Direction,
    pub min_amount: Money,
    pub window_days: u32,
    pub min_total: Money,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            countries: vec!["IR".into(), "KP".into(), "MM".into()],
            direction: Direction::Both,
            min_amount: Money(0),
            window_days: 30,
            min_total: Money(0),
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "countries",
            meaning: "ISO 3166 two-letter country codes treated as high-risk. Set it to the list in force for the period under review.",
            valid: "a list of 1 to 250 two-letter upper-case codes, e.g. [\"IR\", \"KP\"]",
        },
        ParamDoc {
            name: "direction",
            meaning: "Which rows count: `out` (money sent), `in` (money received) or `both`.",
            valid: "\"in\", \"out\" or \"both\"",
        },
        ParamDoc {
            name: "min_amount",
            meaning: "Smallest row looked at.",
            valid: "an amount from 0 to 100000000",
        },
        ParamDoc {
            name: "window_days",
            meaning: "Rows within this many days of each other form one episode.",
            valid: "a whole number from 1 to 366",
        },
        ParamDoc {
            name: "min_total",
            meaning: "Least total of the matching rows within one window (0 = any matching row is reported).",
            valid: "an amount from 0 to 100000000",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        ensure(
            !self.countries.is_empty()
                && self.countries.len() <= 250
                && self
                    .countries
                    .iter()
                    .all(|c| c.len() == 2 && c.chars().all(|x| x.is_ascii_uppercase())),
            "countries",
            format!("{:?}", self.countries),
            Self::DOCS[0].valid,
        )?;
        ensure(
            self.min_amount <= Money::pounds(100_000_000),
            "min_amount",
            self.min_amount,
            Self::DOCS[2].valid,
        )?;
        ensure(
            (1..=366).contains(&self.window_days),
            "window_days",
            self.window_days,
            Self::DOCS[3].valid,
        )?;
        ensure(
            self.min_total <= Money::pounds(100_000_000),
            "min_total",
            self.min_total,
            Self::DOCS[4].valid,
        )
    }
}

impl RuleKind for HighRiskDestination {
    fn name(&self) -> &'static str {
        "high_risk_destination"
    }
    fn method(&self) -> &'static str {
        "Reads a country from the counterparty account identifier of each row in scope: the \
         first two letters of an IBAN (two letters, two digits, then 11 to 30 letters or \
         digits, spaces ignored), or the fifth and sixth letters of a SWIFT/BIC code (eight or \
         eleven characters, the first six letters). Rows whose country is in `countries`, \
         going the chosen `direction` and of at least `min_amount`, are matches. Per account, \
         matches within `window_days` of each other form one episode, reported when the \
         window's total reaches `min_total`. Narrative text is not searched for country names. \
         Countries that issue no IBANs are found only where the bank recorded a BIC."
    }
    fn params(&self) -> &'static [ParamDoc] {
        Params::DOCS
    }
    fn default_channels(&self) -> Option<&'static [Channel]> {
        None
    }
    fn compile(&self, table: &toml::Table) -> Result<Box<dyn Detector>, ParamError> {
        Ok(Box::new(params::parse::<Params>(table)?))
    }
}

/// Whether each text begins, after any white space, with two ASCII letters (null: false):
/// the regular expression `^\s*[A-Za-z]{2}`, tested on the bytes without a regex engine
/// (`str::trim_start` removes the same Unicode white space as `\s`).
pub fn begins_with_two_letters(texts: Expr) -> Expr {
    texts.map(
        |c: Column| {
            let texts = c.as_materialized_series().str()?.clone();
            let mut out: BooleanChunked = texts
                .iter()
                .map(|t| {
                    Some(t.is_some_and(|t| {
                        let b = t.trim_start().as_bytes();
                        b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1].is_ascii_alphabetic()
                    }))
                })
                .collect();
            out.rename(texts.name().clone());
            Ok(out.into_series().into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::Boolean)),
    )
}

/// The country an account identifier states, if it is an IBAN or a BIC.
pub fn identifier_country() -> Expr {
    let id = col(c::COUNTERPARTY_ACCOUNT)
        .str()
        .to_uppercase()
        .str()
        .replace_all(lit(r"[\s-]"), lit(""), false);
    when(
        id.clone()
            .str()
            .contains(lit(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"), true),
    )
    .then(id.clone().str().slice(lit(0), lit(2)))
    .when(
        id.clone()
            .str()
            .contains(lit(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$"), true),
    )
    .then(id.str().slice(lit(4), lit(2)))
    .otherwise(lit(NULL).cast(DataType::String))
}

impl Detector for Params {
    fn params_in_effect(&self) -> Vec<(String, String)> {
        params::in_effect(self)
    }

    fn detect(&self, rows: LazyFrame, ctx: &Context<'_>) -> PolarsResult<Hits> {
        let countries = Series::new("countries".into(), self.countries.clone());
        let candidates = rows
            .filter(self.direction.filter().and(
                // Cheap first cut: IBANs and BICs both begin with two letters.
                begins_with_two_letters(col(c::COUNTERPARTY_ACCOUNT)),
            ))
            .with_columns([
                magnitude().alias("_size"),
                identifier_country().alias("_country"),
            ])
            .filter(
                col("_country")
                    .is_in(lit(countries).implode(false), false)
                    .and(col("_size").gt_eq(lit(self.min_amount.pence()))),
            );
        let covered = episodes(
            count_and_total(candidates, col("_size"), self.window_days).with_column(
                col(W_COUNT)
                    .gt_eq(lit(1i64))
                    .and(col(W_TOTAL).gt_eq(lit(self.min_total.pence())))
                    .alias(FIRES),
            ),
            self.window_days,
        )
        .filter(col(EPISODE).is_not_null())
        .collect()?;
        let agg = covered
            .clone()
            .lazy()
            .group_by([col(EPISODE)])
            .agg([
                group_of_k().first().alias("group"),
                len().alias("n"),
                col("_size").sum().alias("total"),
                col(W_TOTAL).filter(col(FIRES)).max().alias("peak_total"),
                col("_country")
                    .unique()
                    .sort(SortOptions::default())
                    .alias("found"),
                col(c::COUNTERPARTY_ACCOUNT)
                    .unique()
                    .sort(SortOptions::default())
                    .alias("identifiers"),
            ])
            .with_columns([
                col("found").list().join(lit(", "), true),
                col("identifiers").list().join(lit(", "), true),
            ])
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;
        let ids = i64s(&agg, EPISODE)?;
        let groups = i64s(&agg, "group")?;
        let n = i64s(&agg, "n")?;
        let total = i64s(&agg, "total")?;
        let peak_total = i64s(&agg, "peak_total")?;
        let found = strs(&agg, "found")?;
        let identifiers = strs(&agg, "identifiers")?;
        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let mut out = Vec::new();
        for i in 0..agg.height() {
            let acct = groups[i].unwrap_or_default() as u32;
            let pt = peak_total[i].unwrap_or_default();
            let mut metrics = vec![
                Metric::info(
                    "countries",
                    "listed countries found",
                    Value::Text(found[i].clone().unwrap_or_default()),
                ),
                Metric::info("list", "the list", Value::Text(self.countries.join(", "))),
                Metric::info(
                    "identifiers",
                    "counterparty identifiers",
                    Value::Text(identifiers[i].clone().unwrap_or_default()),
                ),
                Metric::info(
                    "direction",
                    "direction",
                    Value::Text(self.direction.words().into()),
                ),
                Metric::info(
                    "count",
                    "matching rows",
                    Value::Count(n[i].unwrap_or_default()),
                ),
                Metric::info("total", "their total", money(total[i].unwrap_or_default())),
            ];
            if self.min_total.pence() > 0 {
                metrics.push(Metric::tested(
                    "peak_window_total",
                    format!("highest {}-day total", self.window_days),
                    money(pt),
                    Op::AtLeast,
                    money(self.min_total.pence()),
                    pt >= self.min_total.pence(),
                ));
            }
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group: ctx.account(acct).to_string(),
                subject: ctx.controllers_of(acct).to_string(),
                window: None,
                metrics,
            });
        }
        let evidence = covered.select([EPISODE, c::SEQ])?;
        Ok(Hits {
            episodes: out,
            evidence: Some(evidence),
            notes: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_function(texts: &[Option<&str>]) -> Vec<bool> {
        let df = df!("t" => texts).expect("frame");
        df.lazy()
            .select([begins_with_two_letters(col("t")).alias("b")])
            .collect()
            .expect("collect")
            .column("b")
            .expect("b")
            .bool()
            .expect("bool")
            .iter()
            .map(|b| b.expect("no null"))
            .collect()
    }

    fn by_regex(texts: &[Option<&str>]) -> Vec<bool> {
        let re = regex::Regex::new(r"^\s*[A-Za-z]{2}").expect("pattern");
        texts
            .iter()
            .map(|t| t.is_some_and(|t| re.is_match(t)))
            .collect()
    }

    #[test]
    fn two_letters_after_white_space() {
        let texts = [
            Some("GB29NWBK60161331926819"),
            Some("  \u{a0}\u{2003}IR12 3456"),
            Some("12345678"),
            Some("G1"),
            Some("É GB"),
            Some("a"),
            Some(""),
            None,
            Some("\u{200b}GB"),
        ];
        assert_eq!(
            by_function(&texts),
            [true, true, false, false, false, false, false, false, false]
        );
        assert_eq!(by_function(&texts), by_regex(&texts));
    }

    proptest! {
        #[test]
        fn agrees_with_the_regex(text in "[ \t\u{a0}\u{2003}\u{200b}A-Za-z0-9É-]{0,6}") {
            let texts = [Some(text.as_str())];
            prop_assert_eq!(by_function(&texts), by_regex(&texts));
        }
    }
}
