//! `spending_vs_income`: an account's spending far above its identified income over a
//! period.
//!
//! *Identified income* is the credits recognised as pay or benefits by a keyword list (the
//! shipped `wages_benefits`, plus `extra_keywords`) and the credits the investigator
//! accepted as legitimate in the case's `legitimate_sources` file (the file the schedules
//! read; [`Context::legitimate_credits`]), each credit counted once; the finding shows the
//! two parts. The ledger does not say which other credits are legitimate — a cash deposit or
//! a transfer from a person may be a loan, a gift or proceeds — so they are reported, not
//! counted as income. No declared personal income is read: the legitimate-sources file
//! names credits, not an income figure, and the rules' other reference data holds declared
//! turnover for business accounts only.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::keyword_payments::{all_keywords, check_list, matches_keywords};
use crate::ledger::Channel;
use crate::rules::kind::{i64s, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::{c, channel_in, rows_of_accounts};
use crate::rules::window::{episodes, group_of_k, window_sum, EPISODE, FIRES};

/// The kind.
pub struct SpendingVsIncome;

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub list: String,
    pub extra_keywords: Vec<String>,
    pub spending_channels: Vec<Channel>,
    pub window_days: u32,
    pub min_spending: Money,
    pub min_ratio: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            list: "wages_benefits".into(),
            extra_keywords: Vec::new(),
            spending_channels: vec![
                Channel::Card,
                Channel::DirectDebit,
                Channel::StandingOrder,
                Channel::CashWithdrawal,
            ],
            window_days: 91,
            min_spending: Money::pounds(10_000),
            min_ratio: 3.0,
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "list",
            meaning: "The shipped keyword list that recognises a credit as income (pay or a benefit).",
            valid: "accommodation, adult_advertising, travel or wages_benefits",
        },
        ParamDoc {
            name: "extra_keywords",
            meaning: "Words or phrases added to the list for this rule (e.g. an employer or pension payer in the case).",
            valid: "a list of up to 500 non-empty words or phrases",
        },
        ParamDoc {
            name: "spending_channels",
            meaning: "Debit channels counted as spending.",
            valid: "a non-empty list of channels",
        },
        ParamDoc {
            name: "window_days",
            meaning: "Length of the rolling window in calendar days, both ends included.",
            valid: "a whole number from 7 to 366",
        },
        ParamDoc {
            name: "min_spending",
            meaning: "Least spending within one window.",
            valid: "an amount from 1 to 100000000",
        },
        ParamDoc {
            name: "min_ratio",
            meaning: "Spending must be at least this multiple of the identified income in the same window.",
            valid: "a number from 1 to 1000",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        check_list("list", &self.list, &self.extra_keywords)?;
        ensure(
            !self.spending_channels.is_empty(),
            "spending_channels",
            "[]",
            Self::DOCS[2].valid,
        )?;
        ensure(
            (7..=366).contains(&self.window_days),
            "window_days",
            self.window_days,
            Self::DOCS[3].valid,
        )?;
        ensure(
            self.min_spending >= Money(1) && self.min_spending <= Money::pounds(100_000_000),
            "min_spending",
            self.min_spending,
            Self::DOCS[4].valid,
        )?;
        ensure(
            (1.0..=1000.0).contains(&self.min_ratio),
            "min_ratio",
            self.min_ratio,
            Self::DOCS[5].valid,
        )
    }
}

impl RuleKind for SpendingVsIncome {
    fn name(&self) -> &'static str {
        "spending_vs_income"
    }
    fn method(&self) -> &'static str {
        "Per account, for the window of `window_days` days ending on each row's day, adds up \
         spending (debits in `spending_channels`) and identified income: credits whose \
         counterparty name or narrative holds a keyword of `list` or `extra_keywords`, and \
         credits the case's legitimate-sources file accepts (matched as the schedules match \
         them), each counted once and reported in those two parts. The \
         window fires when spending is at least `min_spending` and at least `min_ratio` × the \
         identified income. Overlapping firing windows form one episode; its evidence is the \
         spending and income rows in its firing windows, and its figures are those of the \
         firing window with the most spending. Other credits (cash, transfers from people) are \
         reported but not counted as income, because the ledger does not show where they came \
         from; declared personal income is not read (the legitimate-sources file names \
         credits, not an income figure)."
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
        let is_spending = channel_in(&self.spending_channels).and(col(c::PENCE).lt(lit(0)));
        let is_credit = || col(c::PENCE).gt(lit(0));
        let is_keyword_income = is_credit().and(matches_keywords(ctx, &words)?);
        // Accepted legitimate credits the keywords do not already recognise.
        let is_accepted_income = if ctx.legitimate_credits.is_empty() {
            lit(false)
        } else {
            is_credit()
                .and(
                    col(c::SEQ).cast(DataType::UInt64).is_in(
                        lit(Series::new(
                            "legitimate".into(),
                            ctx.legitimate_credits.as_slice(),
                        ))
                        .implode(false),
                        false,
                    ),
                )
                .and(col("_is_keyword_income").not())
        };
        let w = || self.window_days;
        let zero = || lit(0i64);
        let flagged = |rows: LazyFrame| {
            rows.with_columns([
                is_spending.clone().alias("_is_spending"),
                is_keyword_income.clone().alias("_is_keyword_income"),
            ])
            .with_column(is_accepted_income.clone().alias("_is_accepted_income"))
            .with_column(
                col("_is_keyword_income")
                    .or(col("_is_accepted_income"))
                    .alias("_is_income"),
            )
            .with_columns([
                window_sum(
                    when(col("_is_spending"))
                        .then(lit(0) - col(c::PENCE))
                        .otherwise(zero()),
                    w(),
                )
                .alias("_w_spending"),
                window_sum(
                    when(col("_is_income"))
                        .then(col(c::PENCE))
                        .otherwise(zero()),
                    w(),
                )
                .alias("_w_income"),
            ])
        };
        let fires = col("_w_spending")
            .gt_eq(lit(self.min_spending.pence()))
            .and(
                col("_w_spending")
                    .cast(DataType::Float64)
                    .gt_eq(col("_w_income").cast(DataType::Float64) * lit(self.min_ratio)),
            );
        // Phase 1, every account: only the two sums a window fires on. The rest is computed
        // only for the accounts with a firing window, over all of their rows; windows never
        // reach across accounts and episodes are numbered only where windows fire, so the
        // result is the same.
        // The cheap integer test first, over every row; the ratio (in floating point) only
        // on the windows with enough spending.
        let enough_spending = flagged(rows.clone())
            .filter(col("_w_spending").gt_eq(lit(self.min_spending.pence())))
            .select([col(c::ACCT), col("_w_spending"), col("_w_income")])
            .collect()?;
        let firing_accounts = enough_spending
            .lazy()
            .filter(fires.clone())
            .select([col(c::ACCT)])
            .unique(None, UniqueKeepStrategy::First);
        let rows = rows_of_accounts(rows, firing_accounts)?;
        let covered = episodes(
            flagged(rows)
                .with_columns([
                    window_sum(
                        when(col("_is_accepted_income"))
                            .then(col(c::PENCE))
                            .otherwise(zero()),
                        w(),
                    )
                    .alias("_w_accepted"),
                    window_sum(
                        when(col(c::PENCE).gt(lit(0)).and(col("_is_income").not()))
                            .then(col(c::PENCE))
                            .otherwise(zero()),
                        w(),
                    )
                    .alias("_w_other_in"),
                ])
                .with_column(fires.alias(FIRES)),
            self.window_days,
        )
        .filter(col(EPISODE).is_not_null())
        .select([
            col(EPISODE),
            col(c::SEQ),
            col(c::K),
            col(FIRES),
            col("_is_spending"),
            col("_is_income"),
            col("_w_spending"),
            col("_w_income"),
            col("_w_accepted"),
            col("_w_other_in"),
        ])
        .collect()?;
        // The firing window with the most spending (the earliest on a tie) speaks for the episode.
        let agg = covered
            .clone()
            .lazy()
            .filter(col(FIRES))
            .sort(
                [EPISODE, "_w_spending", c::K],
                SortMultipleOptions::default().with_order_descending_multi([false, true, false]),
            )
            .group_by_stable([col(EPISODE)])
            .agg([
                group_of_k().first().alias("group"),
                col("_w_spending").first().alias("spending"),
                col("_w_income").first().alias("income"),
                col("_w_accepted").first().alias("accepted"),
                col("_w_other_in").first().alias("other_in"),
            ])
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;
        let ids = i64s(&agg, EPISODE)?;
        let groups = i64s(&agg, "group")?;
        let spending = i64s(&agg, "spending")?;
        let income = i64s(&agg, "income")?;
        let accepted = i64s(&agg, "accepted")?;
        let other_in = i64s(&agg, "other_in")?;
        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let days = self.window_days;
        let accepted_label = match &ctx.reference.legitimate_file {
            Some(file) => format!("of which other credits accepted as legitimate ({file})"),
            None => "of which other credits accepted as legitimate (the case names no legitimate_sources file)".to_string(),
        };
        let mut out = Vec::new();
        for i in 0..agg.height() {
            let acct = groups[i].unwrap_or_default() as u32;
            let s = spending[i].unwrap_or_default();
            let inc = income[i].unwrap_or_default();
            let acc = accepted[i].unwrap_or_default();
            let ratio = if inc > 0 {
                Value::Ratio(s as f64 / inc as f64)
            } else {
                Value::Missing("no identified income in the window".into())
            };
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group: ctx.account(acct).to_string(),
                subject: ctx.controllers_of(acct).to_string(),
                window: None,
                metrics: vec![
                    Metric::tested(
                        "window_spending",
                        format!("spending in the {days}-day window with the most"),
                        money(s),
                        Op::AtLeast,
                        money(self.min_spending.pence()),
                        s >= self.min_spending.pence(),
                    ),
                    Metric::info("window_income", "identified income in that window", money(inc)),
                    Metric::info(
                        "window_income_keyword",
                        "of which pay or benefits recognised by keyword",
                        money(inc - acc),
                    ),
                    Metric::info(
                        "window_income_accepted",
                        accepted_label.clone(),
                        money(acc),
                    ),
                    Metric::tested(
                        "spending_to_income",
                        "spending ÷ identified income",
                        ratio,
                        Op::AtLeast,
                        Value::Ratio(self.min_ratio),
                        true,
                    ),
                    Metric::info(
                        "window_other_credits",
                        "other credits in that window (neither recognised by keyword nor accepted as legitimate; source not shown by the ledger, not counted as income)",
                        money(other_in[i].unwrap_or_default()),
                    ),
                ],
            });
        }
        let evidence = covered
            .lazy()
            .filter(col("_is_spending").or(col("_is_income")))
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
