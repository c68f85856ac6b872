//! `cash_structuring`: cash deposits kept just below a threshold that together pass it.
//!
//! In a band just below the threshold (from `band_from` × threshold up to a penny under
//! it), at least `min_count` deposits whose total within `window_days` reaches the
//! threshold. Per account, or per subject across every account the subject controls;
//! optionally only when the episode used several accounts or several branches.

use std::str::FromStr;

use polars::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ledger::Channel;
use crate::rules::kind::{
    i64s, strs, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value,
};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::{by_subject, c, MAX_WINDOW_DAYS};
use crate::rules::window::{
    count_and_total, episodes, group_of_k, EPISODE, FIRES, W_COUNT, W_TOTAL,
};

/// The kind.
pub struct CashStructuring;

/// Whose deposits are added up together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// Each account on its own.
    Account,
    /// Each subject, across every account the subject controls.
    Subject,
}

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub threshold: Money,
    pub band_from: f64,
    pub min_count: u32,
    pub window_days: u32,
    pub per: Per,
    pub min_accounts: u32,
    pub min_locations: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            threshold: Money::pounds(10_000),
            band_from: 0.8,
            min_count: 2,
            window_days: 7,
            per: Per::Account,
            min_accounts: 1,
            min_locations: 1,
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "threshold",
            meaning: "The amount deposits are kept below. A deposit at or above it is not in the band; the deposits in a window must together reach it.",
            valid: "an amount from 100 to 10000000 (whole pounds, or a string with pence)",
        },
        ParamDoc {
            name: "band_from",
            meaning: "Lower edge of the band as a fraction of the threshold: 0.8 with a £10,000 threshold means deposits from £8,000.00 to £9,999.99.",
            valid: "a number from 0.5 up to but not including 1",
        },
        ParamDoc {
            name: "min_count",
            meaning: "Fewest in-band deposits within one window.",
            valid: "a whole number from 2 to 100",
        },
        ParamDoc {
            name: "window_days",
            meaning: "Length of the rolling window in calendar days, both ends included (7 = the day of a deposit and the six days before it).",
            valid: "a whole number from 1 to 366",
        },
        ParamDoc {
            name: "per",
            meaning: "`account`: each account on its own. `subject`: each subject across every account the case says they control (`controlled_by`).",
            valid: "\"account\" or \"subject\"",
        },
        ParamDoc {
            name: "min_accounts",
            meaning: "Fewest different accounts the episode's deposits went into (more than 1 only makes sense with per = \"subject\").",
            valid: "a whole number from 1 to 50; 1 when per = \"account\"",
        },
        ParamDoc {
            name: "min_locations",
            meaning: "Fewest different branches or machines (the ledger's `location`) the episode's deposits were made at; 1 = location not considered.",
            valid: "a whole number from 1 to 50",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        let t = self.threshold;
        ensure(
            t >= Money::pounds(100) && t <= Money::pounds(10_000_000),
            "threshold",
            t,
            Self::DOCS[0].valid,
        )?;
        ensure(
            self.band_from >= 0.5 && self.band_from < 1.0,
            "band_from",
            self.band_from,
            Self::DOCS[1].valid,
        )?;
        ensure(
            (2..=100).contains(&self.min_count),
            "min_count",
            self.min_count,
            Self::DOCS[2].valid,
        )?;
        ensure(
            (1..=366).contains(&self.window_days) && self.window_days <= MAX_WINDOW_DAYS,
            "window_days",
            self.window_days,
            Self::DOCS[3].valid,
        )?;
        ensure(
            (1..=50).contains(&self.min_accounts)
                && (self.per == Per::Subject || self.min_accounts == 1),
            "min_accounts",
            self.min_accounts,
            Self::DOCS[5].valid,
        )?;
        ensure(
            (1..=50).contains(&self.min_locations),
            "min_locations",
            self.min_locations,
            Self::DOCS[6].valid,
        )
    }
}

/// The lowest amount in the band, in pence: `band_from` × threshold, rounded up to a
/// penny, computed in decimal so 0.8 × £10,000 is exactly £8,000.00.
pub fn band_floor(threshold: Money, band_from: f64) -> i64 {
    let fraction = Decimal::from_str(&band_from.to_string()).unwrap_or(Decimal::ONE);
    (Decimal::from(threshold.pence()) * fraction)
        .ceil()
        .to_i64()
        .unwrap_or(threshold.pence())
}

impl RuleKind for CashStructuring {
    fn name(&self) -> &'static str {
        "cash_structuring"
    }
    fn method(&self) -> &'static str {
        "Takes the credits in scope (by default cash deposits) whose amount lies in the band \
         from `band_from` × `threshold` up to one penny below `threshold`. For every such \
         deposit it looks at the window of `window_days` calendar days ending on the deposit's \
         day, counting every in-band deposit booked in that window (per account, or per \
         subject across the accounts the subject controls). A window fires when it holds at \
         least `min_count` in-band deposits whose total reaches `threshold`. Overlapping firing \
         windows are merged into one episode, reported once; its evidence is every in-band \
         deposit in any of its firing windows. When `min_accounts` or `min_locations` is more \
         than 1, an episode is reported only if its deposits went into at least that many \
         accounts, or were made at that many different locations. Deposits at or above the \
         threshold, and deposits below the band, are never evidence."
    }
    fn params(&self) -> &'static [ParamDoc] {
        Params::DOCS
    }
    fn default_channels(&self) -> Option<&'static [Channel]> {
        Some(&[Channel::CashDeposit])
    }
    fn compile(&self, table: &toml::Table) -> Result<Box<dyn Detector>, ParamError> {
        Ok(Box::new(params::parse::<Params>(table)?))
    }
}

impl Detector for Params {
    fn params_in_effect(&self) -> Vec<(String, String)> {
        params::in_effect(self)
    }

    fn detect(&self, rows: LazyFrame, ctx: &Context<'_>) -> PolarsResult<Hits> {
        let floor = band_floor(self.threshold, self.band_from);
        let threshold = self.threshold.pence();
        let in_band = rows.filter(
            col(c::PENCE)
                .gt_eq(lit(floor))
                .and(col(c::PENCE).lt(lit(threshold))),
        );
        let keyed = match self.per {
            Per::Account => in_band,
            Per::Subject => by_subject(in_band, ctx),
        };
        let covered = episodes(
            count_and_total(keyed, col(c::PENCE), self.window_days).with_column(
                col(W_COUNT)
                    .gt_eq(lit(i64::from(self.min_count)))
                    .and(col(W_TOTAL).gt_eq(lit(threshold)))
                    .alias(FIRES),
            ),
            self.window_days,
        )
        .filter(col(EPISODE).is_not_null())
        .with_column(
            col(c::LOCATION)
                .str()
                .to_uppercase()
                .str()
                .replace_all(lit(r"\s+"), lit(" "), false)
                .str()
                .strip_chars(lit(NULL))
                .alias("_location"),
        )
        .collect()?;
        let agg = covered
            .clone()
            .lazy()
            .group_by([col(EPISODE)])
            .agg([
                group_of_k().first().alias("group"),
                len().alias("n"),
                col(c::PENCE).sum().alias("total"),
                col(W_TOTAL).filter(col(FIRES)).max().alias("peak_total"),
                col(W_COUNT).filter(col(FIRES)).max().alias("peak_count"),
                col(c::ACCT).n_unique().alias("n_accounts"),
                col("_location")
                    .drop_nulls()
                    .n_unique()
                    .alias("n_locations"),
                col("_location")
                    .drop_nulls()
                    .unique()
                    .sort(SortOptions::default())
                    .alias("locations"),
            ])
            .with_column(col("locations").list().join(lit(", "), true))
            .filter(
                col("n_accounts")
                    .gt_eq(lit(self.min_accounts))
                    // With min_locations = 1 location is not considered (rows may have none).
                    .and(
                        lit(self.min_locations <= 1)
                            .or(col("n_locations").gt_eq(lit(self.min_locations))),
                    ),
            )
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;

        let ids = i64s(&agg, EPISODE)?;
        let groups = i64s(&agg, "group")?;
        let n = i64s(&agg, "n")?;
        let total = i64s(&agg, "total")?;
        let peak_total = i64s(&agg, "peak_total")?;
        let peak_count = i64s(&agg, "peak_count")?;
        let n_accounts = i64s(&agg, "n_accounts")?;
        let n_locations = i64s(&agg, "n_locations")?;
        let locations = strs(&agg, "locations")?;
        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let mut out = Vec::new();
        for i in 0..agg.height() {
            let g = groups[i].unwrap_or_default() as u32;
            let (group, subject) = match self.per {
                Per::Account => (
                    ctx.account(g).to_string(),
                    ctx.controllers_of(g).to_string(),
                ),
                Per::Subject => (
                    format!("subject:{}", ctx.subject(g)),
                    ctx.subject(g).to_string(),
                ),
            };
            let pt = peak_total[i].unwrap_or_default();
            let pc = peak_count[i].unwrap_or_default();
            let mut metrics = vec![
                Metric::tested(
                    "peak_window_total",
                    format!("highest {}-day total of in-band deposits", self.window_days),
                    money(pt),
                    Op::AtLeast,
                    money(threshold),
                    pt >= threshold,
                ),
                Metric::tested(
                    "peak_window_count",
                    format!("in-band deposits in a {}-day window", self.window_days),
                    Value::Count(pc),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_count)),
                    pc >= i64::from(self.min_count),
                ),
                Metric::info(
                    "band",
                    "band",
                    Value::Text(format!(
                        "{} to {}",
                        ctx.money(floor),
                        ctx.money(threshold - 1)
                    )),
                ),
                Metric::info(
                    "episode_count",
                    "in-band deposits in the episode",
                    Value::Count(n[i].unwrap_or_default()),
                ),
                Metric::info(
                    "episode_total",
                    "total of the episode's in-band deposits",
                    money(total[i].unwrap_or_default()),
                ),
            ];
            let na = n_accounts[i].unwrap_or_default();
            if self.min_accounts > 1 {
                metrics.push(Metric::tested(
                    "accounts_used",
                    "accounts the deposits went into",
                    Value::Count(na),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_accounts)),
                    na >= i64::from(self.min_accounts),
                ));
            }
            let nl = n_locations[i].unwrap_or_default();
            if self.min_locations > 1 {
                metrics.push(Metric::tested(
                    "locations_used",
                    "branches or machines used",
                    Value::Count(nl),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_locations)),
                    nl >= i64::from(self.min_locations),
                ));
                metrics.push(Metric::info(
                    "locations",
                    "locations",
                    Value::Text(locations[i].clone().unwrap_or_default()),
                ));
            }
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group,
                subject,
                window: None,
                metrics,
            });
        }
        let evidence = covered
            .lazy()
            .select([col(EPISODE), col(c::SEQ)])
            .join(
                agg.lazy().select([col(EPISODE)]),
                [col(EPISODE)],
                [col(EPISODE)],
                JoinArgs::new(JoinType::Semi),
            )
            .collect()?;
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

    #[test]
    fn band_is_exact() {
        assert_eq!(band_floor(Money::pounds(10_000), 0.8), 800_000);
        assert_eq!(band_floor(Money(99_999), 0.9), 90_000); // 899.991 → 900.00
    }
}
