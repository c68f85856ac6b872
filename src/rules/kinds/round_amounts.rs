//! `round_amounts`: repeated transfers in large round amounts.
//!
//! Per account, transfers whose amount is a whole multiple of `round_to` and at least
//! `min_amount`; the window of `window_days` ending on each such transfer's day fires when
//! it holds at least `min_count` of them totalling at least `min_total`.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ledger::Channel;
use crate::rules::kind::{i64s, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::c;
use crate::rules::window::{
    count_and_total, episodes, group_of_k, EPISODE, FIRES, W_COUNT, W_TOTAL,
};

/// The kind.
pub struct RoundAmounts;

/// Which way the money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
    Both,
}

impl Direction {
    /// The rows of this direction (`pence` > 0 in, < 0 out).
    pub fn filter(self) -> Expr {
        match self {
            Direction::In => col(c::PENCE).gt(lit(0)),
            Direction::Out => col(c::PENCE).lt(lit(0)),
            Direction::Both => col(c::PENCE).neq(lit(0)),
        }
    }

    /// Words for a reader.
    pub fn words(self) -> &'static str {
        match self {
            Direction::In => "money in",
            Direction::Out => "money out",
            Direction::Both => "money in or out",
        }
    }
}

/// The size of a row, whichever way it went.
pub fn magnitude() -> Expr {
    when(col(c::PENCE).lt(lit(0)))
        .then(lit(0) - col(c::PENCE))
        .otherwise(col(c::PENCE))
}

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub round_to: Money,
    pub min_amount: Money,
    pub direction: Direction,
    pub min_count: u32,
    pub window_days: u32,
    pub min_total: Money,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            round_to: Money::pounds(500),
            min_amount: Money::pounds(1_000),
            direction: Direction::Both,
            min_count: 3,
            window_days: 30,
            min_total: Money::pounds(10_000),
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "round_to",
            meaning: "An amount is round when it is a whole multiple of this (500 → £1,500.00 is round, £1,520.00 is not).",
            valid: "an amount from 1 to 1000000",
        },
        ParamDoc {
            name: "min_amount",
            meaning: "Smallest transfer looked at.",
            valid: "an amount from 0 to 100000000",
        },
        ParamDoc {
            name: "direction",
            meaning: "Which transfers count: `in`, `out` or `both`.",
            valid: "\"in\", \"out\" or \"both\"",
        },
        ParamDoc {
            name: "min_count",
            meaning: "Fewest round transfers within one window.",
            valid: "a whole number from 2 to 1000",
        },
        ParamDoc {
            name: "window_days",
            meaning: "Length of the rolling window in calendar days, both ends included.",
            valid: "a whole number from 1 to 366",
        },
        ParamDoc {
            name: "min_total",
            meaning: "Least total of the round transfers within one window.",
            valid: "an amount from 0 to 100000000",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        ensure(
            self.round_to >= Money::pounds(1) && self.round_to <= Money::pounds(1_000_000),
            "round_to",
            self.round_to,
            Self::DOCS[0].valid,
        )?;
        ensure(
            self.min_amount <= Money::pounds(100_000_000),
            "min_amount",
            self.min_amount,
            Self::DOCS[1].valid,
        )?;
        ensure(
            (2..=1000).contains(&self.min_count),
            "min_count",
            self.min_count,
            Self::DOCS[3].valid,
        )?;
        ensure(
            (1..=366).contains(&self.window_days),
            "window_days",
            self.window_days,
            Self::DOCS[4].valid,
        )?;
        ensure(
            self.min_total <= Money::pounds(100_000_000),
            "min_total",
            self.min_total,
            Self::DOCS[5].valid,
        )
    }
}

impl RuleKind for RoundAmounts {
    fn name(&self) -> &'static str {
        "round_amounts"
    }
    fn method(&self) -> &'static str {
        "Takes the rows in scope (by default transfers) going the chosen `direction` whose \
         amount is at least `min_amount` and a whole multiple of `round_to`. Per account, the \
         window of `window_days` calendar days ending on each such row's day fires when it \
         holds at least `min_count` of them totalling at least `min_total`. Overlapping firing \
         windows form one episode; its evidence is every round transfer in any of its firing \
         windows. Regular round payments such as rent are usually too few per window to fire; \
         set `min_count` with the case's regular payments in mind."
    }
    fn params(&self) -> &'static [ParamDoc] {
        Params::DOCS
    }
    fn default_channels(&self) -> Option<&'static [Channel]> {
        Some(&[Channel::Transfer])
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
        // One filter over every row: a first filter on the direction alone would copy
        // nearly every row before the amount tests threw most of them away.
        let candidates = rows
            .filter(
                self.direction.filter().and(
                    magnitude()
                        .gt_eq(lit(self.min_amount.pence()))
                        .and((magnitude() % lit(self.round_to.pence())).eq(lit(0i64))),
                ),
            )
            .with_column(magnitude().alias("_size"));
        let covered = episodes(
            count_and_total(candidates, col("_size"), self.window_days).with_column(
                col(W_COUNT)
                    .gt_eq(lit(i64::from(self.min_count)))
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
                col(W_COUNT).filter(col(FIRES)).max().alias("peak_count"),
            ])
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;
        let ids = i64s(&agg, EPISODE)?;
        let groups = i64s(&agg, "group")?;
        let n = i64s(&agg, "n")?;
        let total = i64s(&agg, "total")?;
        let peak_total = i64s(&agg, "peak_total")?;
        let peak_count = i64s(&agg, "peak_count")?;
        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let w = self.window_days;
        let mut out = Vec::new();
        for i in 0..agg.height() {
            let acct = groups[i].unwrap_or_default() as u32;
            let pc = peak_count[i].unwrap_or_default();
            let pt = peak_total[i].unwrap_or_default();
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group: ctx.account(acct).to_string(),
                subject: ctx.controllers_of(acct).to_string(),
                window: None,
                metrics: vec![
                    Metric::tested(
                        "peak_window_count",
                        format!("round transfers in a {w}-day window"),
                        Value::Count(pc),
                        Op::AtLeast,
                        Value::Count(i64::from(self.min_count)),
                        pc >= i64::from(self.min_count),
                    ),
                    Metric::tested(
                        "peak_window_total",
                        format!("their highest {w}-day total"),
                        money(pt),
                        Op::AtLeast,
                        money(self.min_total.pence()),
                        pt >= self.min_total.pence(),
                    ),
                    Metric::info(
                        "round_to",
                        "round means a multiple of",
                        money(self.round_to.pence()),
                    ),
                    Metric::info(
                        "direction",
                        "direction",
                        Value::Text(self.direction.words().into()),
                    ),
                    Metric::info(
                        "episode_count",
                        "round transfers in the episode",
                        Value::Count(n[i].unwrap_or_default()),
                    ),
                    Metric::info(
                        "episode_total",
                        "their total",
                        money(total[i].unwrap_or_default()),
                    ),
                ],
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
