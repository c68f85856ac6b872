//! `wage_stripping`: pay or benefit credits that leave the account again, in cash or to
//! someone else, within a day or so of arriving — repeatedly.
//!
//! A credit is *pay or benefit* when its counterparty name or narrative holds a keyword of
//! the shipped list (default `wages_benefits`) or of `extra_keywords`. It is *carried on*
//! when the account's onward debits (cash withdrawals, transfers, money-transfer sends and
//! cheques by default; card spending and bills are spending, not passing on) from the start
//! of its day add up to `carried_share` of it within `max_days` (see `dwell`). Statements
//! give booking days, not times: "within hours" cannot be told from "the same day".

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::keyword_payments::{all_keywords, check_list, matches_keywords};
use crate::ledger::Channel;
use crate::rules::dwell::{dwell_of_credits, join_dwell, onward_flow, DWELL, ONWARD_CHANNELS};
use crate::rules::kind::{i64s, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::{c, channel_in};
use crate::rules::window::{count_and_total, episodes, group_of_k, EPISODE, FIRES, W_COUNT};

/// The kind.
pub struct WageStripping;

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub list: String,
    pub extra_keywords: Vec<String>,
    pub min_credit: Money,
    pub carried_share: f64,
    pub max_days: u32,
    pub onward_channels: Vec<Channel>,
    pub window_days: u32,
    pub min_occurrences: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            list: "wages_benefits".into(),
            extra_keywords: Vec::new(),
            min_credit: Money::pounds(100),
            carried_share: 0.9,
            max_days: 1,
            onward_channels: ONWARD_CHANNELS.to_vec(),
            window_days: 92,
            min_occurrences: 3,
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "list",
            meaning: "The shipped keyword list that recognises a credit as pay or a benefit.",
            valid: "accommodation, adult_advertising, travel or wages_benefits",
        },
        ParamDoc {
            name: "extra_keywords",
            meaning: "Words or phrases added to the list for this rule (e.g. the employers in a case).",
            valid: "a list of up to 500 non-empty words or phrases",
        },
        ParamDoc {
            name: "min_credit",
            meaning: "Smallest pay or benefit credit looked at.",
            valid: "an amount from 1 to 100000000",
        },
        ParamDoc {
            name: "carried_share",
            meaning: "Share of the credit that onward debits must add up to.",
            valid: "a number above 0 up to 1",
        },
        ParamDoc {
            name: "max_days",
            meaning: "Days after the credit's booking day by which it must have been carried on (0 = the same day).",
            valid: "a whole number from 0 to 7",
        },
        ParamDoc {
            name: "onward_channels",
            meaning: "Debit channels that carry money on.",
            valid: "a non-empty list of channels",
        },
        ParamDoc {
            name: "window_days",
            meaning: "Length of the rolling window in which the occurrences are counted.",
            valid: "a whole number from 1 to 366",
        },
        ParamDoc {
            name: "min_occurrences",
            meaning: "Fewest pay or benefit credits carried on within one window.",
            valid: "a whole number from 1 to 100",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        check_list("list", &self.list, &self.extra_keywords)?;
        ensure(
            self.min_credit >= Money(1) && self.min_credit <= Money::pounds(100_000_000),
            "min_credit",
            self.min_credit,
            Self::DOCS[2].valid,
        )?;
        ensure(
            self.carried_share > 0.0 && self.carried_share <= 1.0,
            "carried_share",
            self.carried_share,
            Self::DOCS[3].valid,
        )?;
        ensure(
            self.max_days <= 7,
            "max_days",
            self.max_days,
            Self::DOCS[4].valid,
        )?;
        ensure(
            !self.onward_channels.is_empty(),
            "onward_channels",
            "[]",
            Self::DOCS[5].valid,
        )?;
        ensure(
            (1..=366).contains(&self.window_days),
            "window_days",
            self.window_days,
            Self::DOCS[6].valid,
        )?;
        ensure(
            (1..=100).contains(&self.min_occurrences),
            "min_occurrences",
            self.min_occurrences,
            Self::DOCS[7].valid,
        )
    }
}

impl RuleKind for WageStripping {
    fn name(&self) -> &'static str {
        "wage_stripping"
    }
    fn method(&self) -> &'static str {
        "Finds credits of at least `min_credit` whose counterparty name or narrative holds a \
         keyword of `list` or `extra_keywords` (pay or a benefit). For each, computes its dwell: \
         the days from its booking day until the account's debits in `onward_channels` booked \
         from the start of that day add up to `carried_share` of it (debits earlier on the same \
         day count, because order within a day is not evidence). A credit with a dwell of at \
         most `max_days` is *carried on*. Per account, the window of `window_days` days ending \
         on each carried-on credit fires when it holds at least `min_occurrences` of them. \
         Overlapping firing windows form one episode; its evidence is the carried-on credits \
         and the onward debits booked from each one's day to `max_days` after it. This \
         compares amounts; it does not say which pound went where, and a booking day cannot \
         show hours."
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

impl Detector for Params {
    fn params_in_effect(&self) -> Vec<(String, String)> {
        params::in_effect(self)
    }

    fn keyword_lists(&self) -> Vec<Vec<String>> {
        vec![all_keywords(&self.list, &self.extra_keywords)]
    }

    fn detect(&self, rows: LazyFrame, ctx: &Context<'_>) -> PolarsResult<Hits> {
        let words = all_keywords(&self.list, &self.extra_keywords);
        let share_bp = (self.carried_share * 10_000.0).round() as i64;
        let is_onward = channel_in(&self.onward_channels).and(col(c::PENCE).lt(lit(0)));
        // Only the columns used below: the text is read once, for the keywords. The rows
        // come sorted by `k` then `seq`, as the dwell needs them.
        let rows = rows
            .select([
                col(c::SEQ),
                col(c::K),
                col(c::ACCT),
                col(c::DAY),
                col(c::PENCE),
                col(c::CHANNEL),
                matches_keywords(ctx, &words)?.alias("_pay"),
            ])
            .collect()?;
        // The dwell of every credit, joined to the pay credits alone: a column of it for
        // every row would be a join over all of them.
        let dwell = dwell_of_credits(
            rows.clone().lazy(),
            onward_flow(&self.onward_channels),
            share_bp,
        )?;
        let pay_credits = rows.clone().lazy().filter(
            col(c::PENCE)
                .gt_eq(lit(self.min_credit.pence()))
                .and(col("_pay")),
        );
        let carried = join_dwell(pay_credits, dwell, JoinType::Inner)
            .filter(
                col(DWELL)
                    .is_not_null()
                    .and(col(DWELL).lt_eq(lit(i64::from(self.max_days)))),
            )
            .select([
                col(c::SEQ),
                col(c::K),
                col(c::ACCT),
                col(c::DAY),
                col(c::PENCE),
                col(DWELL),
            ]);
        let covered = episodes(
            count_and_total(carried, col(c::PENCE), self.window_days).with_column(
                col(W_COUNT)
                    .gt_eq(lit(i64::from(self.min_occurrences)))
                    .alias(FIRES),
            ),
            self.window_days,
        )
        .filter(col(EPISODE).is_not_null())
        .collect()?;
        // No episode, no finding: the onward debits need not be looked for (a pass over
        // every row).
        if covered.height() == 0 {
            return Ok(Hits::default());
        }
        // Onward debits from each evidence credit's day to `max_days` after it.
        let shifted: Vec<LazyFrame> = (0..=i64::from(self.max_days))
            .map(|j| {
                covered.clone().lazy().select([
                    col(EPISODE),
                    col(c::ACCT),
                    (col(c::DAY) + lit(j)).alias(c::DAY),
                ])
            })
            .collect();
        let reach =
            concat(shifted, UnionArgs::default())?.unique_stable(None, UniqueKeepStrategy::First);
        let onward = rows
            .lazy()
            .filter(is_onward)
            .select([col(c::SEQ), col(c::ACCT), col(c::DAY)])
            .join(
                reach,
                [col(c::ACCT), col(c::DAY)],
                [col(c::ACCT), col(c::DAY)],
                JoinArgs::new(JoinType::Inner),
            )
            .select([col(EPISODE), col(c::SEQ)]);
        let evidence = concat(
            [
                covered.clone().lazy().select([col(EPISODE), col(c::SEQ)]),
                onward,
            ],
            UnionArgs::default(),
        )?
        .unique_stable(None, UniqueKeepStrategy::First)
        .sort([EPISODE, c::SEQ], SortMultipleOptions::default())
        .collect()?;
        let agg = covered
            .lazy()
            .group_by([col(EPISODE)])
            .agg([
                group_of_k().first().alias("group"),
                len().cast(DataType::Int64).alias("n"),
                col(c::PENCE).sum().alias("total"),
                col(W_COUNT).filter(col(FIRES)).max().alias("peak"),
                col(DWELL).max().alias("slowest"),
            ])
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;
        let ids = i64s(&agg, EPISODE)?;
        let groups = i64s(&agg, "group")?;
        let n = i64s(&agg, "n")?;
        let total = i64s(&agg, "total")?;
        let peak = i64s(&agg, "peak")?;
        let slowest = i64s(&agg, "slowest")?;
        let cur = ctx.currency().to_string();
        let mut out = Vec::new();
        for i in 0..agg.height() {
            let acct = groups[i].unwrap_or_default() as u32;
            let p = peak[i].unwrap_or_default();
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group: ctx.account(acct).to_string(),
                subject: ctx.controllers_of(acct).to_string(),
                window: None,
                metrics: vec![
                    Metric::tested(
                        "peak_window_count",
                        format!(
                            "pay or benefit credits carried on within {} days, in a {}-day window",
                            self.max_days, self.window_days
                        ),
                        Value::Count(p),
                        Op::AtLeast,
                        Value::Count(i64::from(self.min_occurrences)),
                        p >= i64::from(self.min_occurrences),
                    ),
                    Metric::tested(
                        "slowest_dwell",
                        "longest dwell of those credits",
                        Value::Days(slowest[i].unwrap_or_default() as f64),
                        Op::AtMost,
                        Value::Days(f64::from(self.max_days)),
                        slowest[i].unwrap_or_default() <= i64::from(self.max_days),
                    ),
                    Metric::info(
                        "carried_share",
                        "share carried on",
                        Value::Ratio(self.carried_share),
                    ),
                    Metric::info(
                        "episode_count",
                        "pay or benefit credits carried on in the episode",
                        Value::Count(n[i].unwrap_or_default()),
                    ),
                    Metric::info(
                        "episode_total",
                        "their total",
                        Value::Money(total[i].unwrap_or_default(), cur.clone()),
                    ),
                ],
            });
        }
        Ok(Hits {
            episodes: out,
            evidence: Some(evidence),
            notes: Vec::new(),
        })
    }
}
