//! `rapid_movement`: a large credit most of which has left the account within days.
//!
//! For each credit of at least `min_credit`, the dwell (see `dwell`) until onward debits
//! (transfers, cash withdrawals, money-transfer sends, cheques by default) from its day
//! onwards reach `carried_share` of it; it fires when that is at most `max_days`. Credits
//! whose periods (credit day to carried-on day) overlap form one episode; its evidence is
//! the large credits and every onward debit booked in the episode's period.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ledger::Channel;
use crate::rules::dwell::{onward_flow, with_dwell, DWELL, ONWARD_CHANNELS};
use crate::rules::kind::{i64s, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::{account_in, accounts_where, c, rows_of_accounts};
use crate::rules::window::{group_of_k, window_sum_by, EPISODE, FIRES};

/// The kind.
pub struct RapidMovement;

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub min_credit: Money,
    pub carried_share: f64,
    pub max_days: u32,
    pub onward_channels: Vec<Channel>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            min_credit: Money::pounds(5_000),
            carried_share: 0.9,
            max_days: 2,
            onward_channels: ONWARD_CHANNELS.to_vec(),
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "min_credit",
            meaning: "Smallest credit looked at.",
            valid: "an amount from 1 to 100000000",
        },
        ParamDoc {
            name: "carried_share",
            meaning: "Share of the credit that must have been paid out (by debits from the credit's day onwards).",
            valid: "a number from 0.5 to 1",
        },
        ParamDoc {
            name: "max_days",
            meaning: "Most days from the credit's booking day to the day that share had been paid out (0 = the same day).",
            valid: "a whole number from 0 to 30",
        },
        ParamDoc {
            name: "onward_channels",
            meaning: "The debits that count as paying the credit on. Card payments, direct debits and standing orders are spending, not passing on, unless listed here.",
            valid: "a list of one or more channels, e.g. [\"transfer\", \"cash_withdrawal\", \"msb_send\", \"cheque\"]",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        ensure(
            self.min_credit >= Money(100) && self.min_credit <= Money::pounds(100_000_000),
            "min_credit",
            self.min_credit,
            Self::DOCS[0].valid,
        )?;
        ensure(
            (0.5..=1.0).contains(&self.carried_share),
            "carried_share",
            self.carried_share,
            Self::DOCS[1].valid,
        )?;
        ensure(
            self.max_days <= 30,
            "max_days",
            self.max_days,
            Self::DOCS[2].valid,
        )?;
        ensure(
            !self.onward_channels.is_empty(),
            "onward_channels",
            "[]",
            Self::DOCS[3].valid,
        )
    }
}

impl RuleKind for RapidMovement {
    fn name(&self) -> &'static str {
        "rapid_movement"
    }
    fn method(&self) -> &'static str {
        "For each credit of at least `min_credit`, finds the first day by which the account's \
         onward debits (`onward_channels`: by default transfers, cash withdrawals, \
         money-transfer sends and cheques) booked from the credit's day onwards add up to \
         `carried_share` of it, and \
         fires when that day is at most `max_days` after the credit's day. Days are whole \
         booking days (statements rarely give times, so \"within hours\" cannot be told from \
         \"the same day\"). Firing credits whose periods (credit day to that day) overlap form \
         one episode; its evidence is those credits and every onward debit booked in the \
         episode's period. The figures compare amounts: they do not say which pound went where."
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

    fn detect(&self, rows: LazyFrame, ctx: &Context<'_>) -> PolarsResult<Hits> {
        let share_bp = (self.carried_share * 10_000.0).round() as i64;
        let flow = onward_flow(&self.onward_channels);
        let debit = flow.clone().lt(lit(0));
        let need = (col(c::PENCE) * lit(share_bp) + lit(9_999i64)).floor_div(lit(10_000i64));
        // Phase 1, cheap, every account: a credit fires exactly when the onward debits booked
        // from its day to `max_days` later reach the share needed (the dwell definition), so
        // a forward rolling sum (a backward one over the reversed key) finds the accounts
        // with any firing credit. Phase 2 computes dwell days and episodes for those alone.
        // Before that, cheaper still: only accounts with a credit of at least `min_credit`
        // can hold one.
        let reach = self.max_days + 1;
        let large = accounts_where(
            rows.clone(),
            col(c::PENCE).gt_eq(lit(self.min_credit.pence().max(1))),
        )?;
        let firing_accounts = rows
            .clone()
            .filter(account_in(&large))
            .select([
                col(c::ACCT),
                col(c::K),
                col(c::PENCE),
                flow.clone().alias("_flow"),
            ])
            // Only credits and onward debits matter here.
            .filter(col("_flow").neq(lit(0i64)))
            .with_column(
                when(col("_flow").lt(lit(0i64)))
                    .then(lit(0) - col("_flow"))
                    .otherwise(lit(0i64))
                    .alias("_out"),
            )
            .reverse()
            .with_column((lit(i64::MAX / 2) - col(c::K)).alias("_k_rev"))
            .with_column(window_sum_by(col("_out"), "_k_rev", reach).alias("_out_ahead"))
            .filter(
                col(c::PENCE)
                    .gt_eq(lit(self.min_credit.pence()))
                    .and(col("_out_ahead").gt_eq(need)),
            )
            .select([col(c::ACCT)])
            .unique(None, UniqueKeepStrategy::First);
        let rows = rows_of_accounts(rows, firing_accounts)?;
        let covered = with_dwell(rows, flow.clone(), share_bp)?
            .with_column(
                col(c::PENCE)
                    .gt_eq(lit(self.min_credit.pence()))
                    .and(col(DWELL).is_not_null())
                    .and(col(DWELL).lt_eq(lit(i64::from(self.max_days))))
                    .fill_null(lit(false))
                    .alias(FIRES),
            )
            .with_column(
                when(col(FIRES))
                    .then(col(c::K) + col(DWELL))
                    .otherwise(lit(-1i64))
                    .cum_max(false)
                    .alias("_run_end"),
            )
            .with_column(
                col("_run_end")
                    .shift(lit(1))
                    .fill_null(lit(-1i64))
                    .alias("_prev_end"),
            )
            .with_column(
                col(FIRES)
                    .and(col(c::K).gt(col("_prev_end")))
                    .cast(DataType::UInt32)
                    .cum_sum(false)
                    .alias("_ep"),
            )
            .with_columns([
                when(col(FIRES))
                    .then(col(c::K))
                    .otherwise(lit(NULL).cast(DataType::Int64))
                    .fill_null_with_strategy(FillNullStrategy::Backward(None))
                    .alias("_next_fire_k"),
                when(col(FIRES))
                    .then(col("_ep"))
                    .otherwise(lit(NULL).cast(DataType::UInt32))
                    .fill_null_with_strategy(FillNullStrategy::Backward(None))
                    .alias("_next_ep"),
            ])
            .with_column(
                when(col(FIRES))
                    .then(col("_ep"))
                    .when(debit.clone().and(col(c::K).lt_eq(col("_prev_end"))))
                    .then(col("_ep"))
                    .when(debit.and(col("_next_fire_k").eq(col(c::K))))
                    .then(col("_next_ep"))
                    .otherwise(lit(NULL).cast(DataType::UInt32))
                    .alias(EPISODE),
            )
            .filter(col(EPISODE).is_not_null())
            .collect()?;
        let agg = covered
            .clone()
            .lazy()
            .group_by([col(EPISODE)])
            .agg([
                group_of_k().first().alias("group"),
                col(c::PENCE)
                    .filter(col(FIRES))
                    .sum()
                    .alias("credits_total"),
                col(c::PENCE).filter(col(FIRES)).len().alias("credits"),
                col(c::PENCE).filter(col(FIRES)).min().alias("smallest"),
                col(DWELL).filter(col(FIRES)).max().alias("slowest"),
                (lit(0) - col(c::PENCE))
                    .filter(col(c::PENCE).lt(lit(0)))
                    .sum()
                    .alias("debits_total"),
            ])
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;
        let ids = i64s(&agg, EPISODE)?;
        let groups = i64s(&agg, "group")?;
        let credits_total = i64s(&agg, "credits_total")?;
        let credits = i64s(&agg, "credits")?;
        let smallest = i64s(&agg, "smallest")?;
        let slowest = i64s(&agg, "slowest")?;
        let debits_total = i64s(&agg, "debits_total")?;
        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let mut out = Vec::new();
        for i in 0..agg.height() {
            let acct = groups[i].unwrap_or_default() as u32;
            let small = smallest[i].unwrap_or_default();
            let slow = slowest[i].unwrap_or_default();
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group: ctx.account(acct).to_string(),
                subject: ctx.controllers_of(acct).to_string(),
                window: None,
                metrics: vec![
                    Metric::info(
                        "large_credits",
                        "large credits",
                        Value::Count(credits[i].unwrap_or_default()),
                    ),
                    Metric::info(
                        "large_credits_total",
                        "total of the large credits",
                        money(credits_total[i].unwrap_or_default()),
                    ),
                    Metric::tested(
                        "smallest_large_credit",
                        "smallest of them",
                        money(small),
                        Op::AtLeast,
                        money(self.min_credit.pence()),
                        small >= self.min_credit.pence(),
                    ),
                    Metric::tested(
                        "slowest_carried_on",
                        format!(
                            "longest time until {:.0}% had been paid out",
                            self.carried_share * 100.0
                        ),
                        Value::Days(slow as f64),
                        Op::AtMost,
                        Value::Days(f64::from(self.max_days)),
                        slow <= i64::from(self.max_days),
                    ),
                    Metric::info(
                        "debits_total",
                        "paid out in the period",
                        money(debits_total[i].unwrap_or_default()),
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
