//! `pass_through`: an account that receives money from many different senders and pays
//! most of it straight out again (the money-mule pattern).
//!
//! Per account, for the window of `window_days` ending on each transaction's day: money
//! in, money passed on (onward debits: transfers, cash withdrawals, money-transfer sends,
//! cheques — not card spending or bills), pass-through ratio, distinct senders, the share of credits
//! from senders new to the account, and the median dwell time of the window's credits.
//! A window fires only when every test is met at once; each figure is reported.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ledger::Channel;
use crate::rules::dwell::{onward_flow, with_dwell, DWELL, ONWARD_CHANNELS};
use crate::rules::kind::{
    f64s, i64s, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value,
};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::{
    account_in, accounts_where, c, date_of_day, normalised_counterparty, rows_of_accounts, text_ids,
};
use crate::rules::window::{
    episodes, group_of_k, rolling_agg, window_count, window_distinct, window_sum, Nulls, EPISODE,
    FIRES,
};

/// The kind.
pub struct PassThrough;

/// Dwell given to a credit that is never carried on, so that it counts against a short
/// median rather than being left out of it.
const NEVER: i64 = 1_000_000;

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub window_days: u32,
    pub min_money_in: Money,
    pub min_pass_through: f64,
    pub max_median_dwell_days: u32,
    pub min_senders: u32,
    pub min_new_sender_share: f64,
    pub onward_channels: Vec<Channel>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            window_days: 7,
            min_money_in: Money::pounds(5_000),
            min_pass_through: 0.9,
            max_median_dwell_days: 2,
            min_senders: 5,
            min_new_sender_share: 0.5,
            onward_channels: ONWARD_CHANNELS.to_vec(),
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "window_days",
            meaning: "Length of the rolling window in calendar days, both ends included.",
            valid: "a whole number from 1 to 90",
        },
        ParamDoc {
            name: "min_money_in",
            meaning: "Least money in (all credits in scope) within the window.",
            valid: "an amount from 0 to 100000000",
        },
        ParamDoc {
            name: "min_pass_through",
            meaning: "Least pass-through ratio: money passed on ÷ money in within the window (0.9 = nine tenths passed on again).",
            valid: "a number from 0.1 to 10",
        },
        ParamDoc {
            name: "max_median_dwell_days",
            meaning: "Longest median dwell of the window's credits: for each credit, the days until onward debits from its day onwards equal it (0 = same day; a credit never carried on counts as never).",
            valid: "a whole number from 0 to 60",
        },
        ParamDoc {
            name: "min_senders",
            meaning: "Fewest different senders of credits within the window (counterparty names compared ignoring case and punctuation; the narrative where there is no name).",
            valid: "a whole number from 1 to 10000",
        },
        ParamDoc {
            name: "min_new_sender_share",
            meaning: "Least share of the window's credits from a sender whose first payment into the account in the ledger is on that credit's day. 0 switches the test off. At the start of the ledger every sender is new, so this test is weak in the first weeks of a statement.",
            valid: "a number from 0 to 1",
        },
        ParamDoc {
            name: "onward_channels",
            meaning: "The debits that count as passing money on (money out, and dwell). Card payments, direct debits and standing orders are spending, not passing on, unless listed here.",
            valid: "a list of one or more channels, e.g. [\"transfer\", \"cash_withdrawal\", \"msb_send\", \"cheque\"]",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        ensure(
            (1..=90).contains(&self.window_days),
            "window_days",
            self.window_days,
            Self::DOCS[0].valid,
        )?;
        ensure(
            self.min_money_in <= Money::pounds(100_000_000),
            "min_money_in",
            self.min_money_in,
            Self::DOCS[1].valid,
        )?;
        ensure(
            (0.1..=10.0).contains(&self.min_pass_through),
            "min_pass_through",
            self.min_pass_through,
            Self::DOCS[2].valid,
        )?;
        ensure(
            self.max_median_dwell_days <= 60,
            "max_median_dwell_days",
            self.max_median_dwell_days,
            Self::DOCS[3].valid,
        )?;
        ensure(
            (1..=10_000).contains(&self.min_senders),
            "min_senders",
            self.min_senders,
            Self::DOCS[4].valid,
        )?;
        ensure(
            (0.0..=1.0).contains(&self.min_new_sender_share),
            "min_new_sender_share",
            self.min_new_sender_share,
            Self::DOCS[5].valid,
        )?;
        ensure(
            !self.onward_channels.is_empty(),
            "onward_channels",
            "[]",
            Self::DOCS[6].valid,
        )
    }
}

impl RuleKind for PassThrough {
    fn name(&self) -> &'static str {
        "pass_through"
    }
    fn method(&self) -> &'static str {
        "For every transaction of every account, looks at the window of `window_days` calendar \
         days ending on its day (both ends included) and computes: money in (all credits) and \
         money passed on (debits in `onward_channels`: by default transfers, cash withdrawals, \
         money-transfer sends and cheques, not card spending or bills); the pass-through \
         ratio, money passed on ÷ money in; the number of different senders of the \
         window's credits (counterparty names compared ignoring case and punctuation, the \
         narrative where the bank gives no name); the share of the window's credits from a \
         sender paying into the account for the first time in the ledger; and the median dwell \
         time of the window's credits, where a credit's dwell is the number of days from its \
         booking day until the account's onward debits from that day onwards add up to the \
         credit (a credit never carried on counts as never). A window fires when money in reaches \
         `min_money_in`, the ratio reaches `min_pass_through`, senders reach `min_senders`, \
         the new-sender share reaches `min_new_sender_share` and the median dwell is at most \
         `max_median_dwell_days` — all at once. Overlapping firing windows form one episode; \
         its evidence is every transaction in any of its firing windows, and its figures are \
         those of its firing window with the most money in (the earliest, on a tie). Retained \
         money (in − passed on) is reported, not tested: it is money in × (1 − the ratio)."
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

impl Params {
    /// Phase 0, credits alone: the accounts where a window of `window_days` ending on a
    /// credit holds at least `min_senders` credits and at least `min_money_in`. A firing
    /// window's credits all lie in the window ending on its last credit, so no other
    /// account can fire.
    fn busy_accounts(&self, rows: LazyFrame) -> PolarsResult<Vec<u32>> {
        let w = self.window_days;
        let busy = rows
            .select([col(c::ACCT), col(c::K), col(c::PENCE)])
            .filter(col(c::PENCE).gt(lit(0)))
            .with_columns([
                window_sum(col(c::PENCE), w).alias("w_in"),
                window_count(w).alias("w_credits"),
            ]);
        accounts_where(
            busy,
            col("w_in")
                .gt_eq(lit(self.min_money_in.pence()))
                .and(col("w_credits").gt_eq(lit(i64::from(self.min_senders)))),
        )
    }

    /// Phase 1: the accounts (a plan with an `acct` column) with a window where money in,
    /// money passed on and the count of credits pass the rule's tests.
    fn pass_through_accounts(&self, rows: LazyFrame) -> LazyFrame {
        let w = self.window_days;
        let flow = onward_flow(&self.onward_channels);
        rows.select([col(c::ACCT), col(c::K), col(c::PENCE), flow.alias("_flow")])
            // Rows that are neither credits nor onward debits add nothing to these sums.
            .filter(col("_flow").neq(lit(0i64)))
            .with_columns([
                when(col("_flow").gt(lit(0i64)))
                    .then(col("_flow"))
                    .otherwise(lit(0i64))
                    .alias("_in"),
                when(col("_flow").lt(lit(0i64)))
                    .then(lit(0) - col("_flow"))
                    .otherwise(lit(0i64))
                    .alias("_out"),
                col("_flow")
                    .gt(lit(0i64))
                    .cast(DataType::Int64)
                    .alias("_is_credit"),
            ])
            .with_columns([
                window_sum(col("_in"), w).alias("w_in"),
                window_sum(col("_out"), w).alias("w_out"),
                window_sum(col("_is_credit"), w).alias("w_credits"),
            ])
            .filter(
                col("w_in")
                    .gt(lit(0i64))
                    .and(col("w_in").gt_eq(lit(self.min_money_in.pence())))
                    .and(
                        (col("w_out").cast(DataType::Float64)
                            / col("w_in").cast(DataType::Float64))
                        .gt_eq(lit(self.min_pass_through)),
                    )
                    .and(col("w_credits").gt_eq(lit(i64::from(self.min_senders)))),
            )
            .select([col(c::ACCT)])
            .unique(None, UniqueKeepStrategy::First)
    }
}

impl Detector for Params {
    fn params_in_effect(&self) -> Vec<(String, String)> {
        params::in_effect(self)
    }

    fn detect(&self, rows: LazyFrame, ctx: &Context<'_>) -> PolarsResult<Hits> {
        let w = self.window_days;
        let credit = col(c::PENCE).gt(lit(0));
        let flow = onward_flow(&self.onward_channels);
        // Phase 1, cheap, every account: rolling money in, money passed on and credit count.
        // A window can only fire where these pass (distinct senders never exceed credits), so
        // phase 2 — dwell, distinct and new senders, medians — runs only on the accounts
        // that have such a window, over all of their rows. Same result, less work. Phase 1
        // itself reads only the accounts phase 0 finds on credits alone.
        let busy = self.busy_accounts(rows.clone())?;
        let candidates = self.pass_through_accounts(rows.clone().filter(account_in(&busy)));
        let rows = rows_of_accounts(rows, candidates)?;
        let prepared = with_dwell(rows, flow.clone(), 10_000)?
            .with_columns([
                when(credit.clone())
                    .then(col(c::PENCE))
                    .otherwise(lit(0i64))
                    .alias("_in"),
                when(flow.clone().lt(lit(0)))
                    .then(lit(0) - flow)
                    .otherwise(lit(0i64))
                    .alias("_out"),
                when(credit.clone())
                    .then(normalised_counterparty())
                    .otherwise(lit(NULL).cast(DataType::String))
                    .alias("_sender"),
                credit.clone().cast(DataType::Int64).alias("_is_credit"),
                when(credit.clone())
                    .then(col(DWELL).fill_null(lit(NEVER)))
                    .otherwise(lit(NULL).cast(DataType::Int64))
                    .alias("_dwell"),
            ])
            .with_column(text_ids(col("_sender")).alias("_sender_id"))
            .with_column(
                credit
                    .and(col(c::K).eq(col(c::K).min().over([col(c::ACCT), col("_sender_id")])?))
                    .cast(DataType::Int64)
                    .alias("_is_new"),
            )
            .with_columns([
                window_sum(col("_in"), w).alias("w_in"),
                window_sum(col("_out"), w).alias("w_out"),
                window_sum(col("_is_credit"), w).alias("w_credits"),
                window_sum(col("_is_new"), w).alias("w_new"),
                window_distinct(col("_sender_id"), w, Nulls::Ignored).alias("w_senders"),
                rolling_agg(col("_dwell").median(), w).alias("w_dwell"),
            ])
            .with_columns([
                (col("w_out").cast(DataType::Float64) / col("w_in").cast(DataType::Float64))
                    .alias("w_ratio"),
                (col("w_new").cast(DataType::Float64) / col("w_credits").cast(DataType::Float64))
                    .alias("w_new_share"),
            ])
            .with_column(
                col("w_in")
                    .gt(lit(0i64))
                    .and(col("w_in").gt_eq(lit(self.min_money_in.pence())))
                    .and(col("w_ratio").gt_eq(lit(self.min_pass_through)))
                    .and(col("w_senders").gt_eq(lit(i64::from(self.min_senders))))
                    .and(col("w_new_share").gt_eq(lit(self.min_new_sender_share)))
                    .and(col("w_dwell").lt_eq(lit(f64::from(self.max_median_dwell_days))))
                    .fill_null(lit(false))
                    .alias(FIRES),
            );
        let covered = episodes(prepared, w)
            .filter(col(EPISODE).is_not_null())
            .collect()?;
        // Each episode's figures: its firing window with the most money in, earliest first.
        let best = covered
            .clone()
            .lazy()
            .filter(col(FIRES))
            .sort_by_exprs(
                [col(EPISODE), col("w_in"), col(c::K)],
                SortMultipleOptions::default().with_order_descending_multi([false, true, false]),
            )
            .group_by_stable([col(EPISODE)])
            .agg([
                col(c::K).first(),
                col(c::DAY).first(),
                col("w_in").first(),
                col("w_out").first(),
                col("w_ratio").first(),
                col("w_senders").first(),
                col("w_new_share").first(),
                col("w_dwell").first(),
                col("w_credits").first(),
            ])
            .with_column(group_of_k().alias("group"))
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;
        let ids = i64s(&best, EPISODE)?;
        let groups = i64s(&best, "group")?;
        let days = i64s(&best, c::DAY)?;
        let w_in = i64s(&best, "w_in")?;
        let w_out = i64s(&best, "w_out")?;
        let ratio = f64s(&best, "w_ratio")?;
        let senders = i64s(&best, "w_senders")?;
        let new_share = f64s(&best, "w_new_share")?;
        let dwell = f64s(&best, "w_dwell")?;
        let credits = i64s(&best, "w_credits")?;
        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let mut out = Vec::new();
        for i in 0..best.height() {
            let acct = groups[i].unwrap_or_default() as u32;
            let end = days[i].unwrap_or_default();
            let (vin, vout) = (w_in[i].unwrap_or_default(), w_out[i].unwrap_or_default());
            let r = ratio[i].unwrap_or_default();
            let s = senders[i].unwrap_or_default();
            let ns = new_share[i].unwrap_or_default();
            let d = dwell[i].unwrap_or(f64::INFINITY);
            let dwell_value = if d >= NEVER as f64 {
                Value::Missing("most credits were never carried on".into())
            } else {
                Value::Days(d)
            };
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group: ctx.account(acct).to_string(),
                subject: ctx.controllers_of(acct).to_string(),
                window: None,
                metrics: vec![
                    Metric::info(
                        "window",
                        "strongest window",
                        Value::Text(format!(
                            "{} to {}",
                            date_of_day(end - i64::from(w) + 1),
                            date_of_day(end)
                        )),
                    ),
                    Metric::tested(
                        "money_in",
                        "money in",
                        money(vin),
                        Op::AtLeast,
                        money(self.min_money_in.pence()),
                        vin >= self.min_money_in.pence(),
                    ),
                    Metric::info("money_out", "money passed on", money(vout)),
                    Metric::tested(
                        "pass_through_ratio",
                        "pass-through ratio (passed on ÷ in)",
                        Value::Ratio(r),
                        Op::AtLeast,
                        Value::Ratio(self.min_pass_through),
                        r >= self.min_pass_through,
                    ),
                    Metric::info("retained", "retained (in − passed on)", money(vin - vout)),
                    Metric::tested(
                        "senders",
                        "different senders",
                        Value::Count(s),
                        Op::AtLeast,
                        Value::Count(i64::from(self.min_senders)),
                        s >= i64::from(self.min_senders),
                    ),
                    Metric::tested(
                        "new_sender_share",
                        "share of credits from new senders",
                        Value::Ratio(ns),
                        Op::AtLeast,
                        Value::Ratio(self.min_new_sender_share),
                        ns >= self.min_new_sender_share,
                    ),
                    Metric::tested(
                        "median_dwell",
                        "median dwell of credits",
                        dwell_value,
                        Op::AtMost,
                        Value::Days(f64::from(self.max_median_dwell_days)),
                        d <= f64::from(self.max_median_dwell_days),
                    ),
                    Metric::info(
                        "credits",
                        "credits in the window",
                        Value::Count(credits[i].unwrap_or_default()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::prepare::{channel_code, STRIDE};
    use proptest::prelude::*;

    /// Rows (account, day, pence, onward?) as rules see them: sorted by account and day.
    fn frame(rows: &[(u32, i64, i64, bool)]) -> DataFrame {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|&(a, d, _, _)| (a, d));
        let code = |onward: bool| {
            channel_code(if onward {
                Channel::Transfer
            } else {
                Channel::Card
            })
        };
        df!(
            c::SEQ => (1..=rows.len() as u64).collect::<Vec<u64>>(),
            c::ACCT => rows.iter().map(|r| r.0).collect::<Vec<u32>>(),
            c::K => rows.iter().map(|r| i64::from(r.0) * STRIDE + r.1).collect::<Vec<i64>>(),
            c::PENCE => rows.iter().map(|r| r.2).collect::<Vec<i64>>(),
            c::CHANNEL => rows.iter().map(|r| code(r.3)).collect::<Vec<u32>>()
        )
        .expect("frame")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Every account phase 1 finds over all rows is one phase 0 finds on credits alone,
        /// so reading only phase 0's accounts in phase 1 loses no finding.
        #[test]
        fn the_credit_sieve_keeps_every_account_phase_one_finds(
            rows in proptest::collection::vec(
                (0u32..4, 0i64..40, -3_000i64..3_000, any::<bool>()), 0..80),
            window_days in 1u32..10,
            min_money_in in 0i64..6_000,
            min_senders in 1u32..5,
            min_pass_through in 0.0f64..1.2,
        ) {
            let params = Params {
                window_days,
                min_money_in: Money(min_money_in),
                min_senders,
                min_pass_through,
                ..Params::default()
            };
            let rows = frame(&rows);
            let busy = params.busy_accounts(rows.clone().lazy()).expect("phase 0");
            let found = params
                .pass_through_accounts(rows.lazy())
                .collect()
                .expect("phase 1");
            for acct in found.column(c::ACCT).expect("acct").u32().expect("u32").iter().flatten() {
                prop_assert!(busy.contains(&acct), "account {} found by phase 1, not by phase 0 {:?}", acct, busy);
            }
        }
    }
}
