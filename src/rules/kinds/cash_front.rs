//! `cash_front`: a business account whose cash looks unlike the business's trade.
//!
//! For each business account (case `kind = "business"`), per calendar year or over the
//! whole period, five signals are computed and each is reported with its test:
//! cash share of credits against the sector norm for its `business_type`; cash banked
//! against the cash its declared turnover would lead one to expect; all credits against
//! declared turnover; the share of cash deposits in round amounts; and the first-digit
//! distribution of cash deposits against Benford's law (mean absolute deviation and
//! Nigrini's conformity band). A finding needs `min_signals` of them at once: none is
//! evidence on its own, and a signal that cannot be computed (no norm, no declared
//! turnover, too few deposits) is shown as not available, never guessed.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::case::AccountKind;
use crate::ledger::Channel;
use crate::rules::kind::{i64s, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::{account_in, c, channel_in, date_of_day};

/// The kind.
pub struct CashFront;

/// The period figures are computed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// Each calendar year.
    Year,
    /// Everything in the ledger for the account.
    WholePeriod,
}

/// Nigrini's first-digit conformity bands (mean absolute deviation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenfordBand {
    /// MAD above 0.012.
    MarginallyAcceptable,
    /// MAD above 0.015.
    Nonconformity,
}

/// Nigrini (2012), first digits: upper bounds of close, acceptable and marginally
/// acceptable conformity.
pub const NIGRINI_FIRST_DIGIT: [(f64, &str); 3] = [
    (0.006, "close conformity"),
    (0.012, "acceptable conformity"),
    (0.015, "marginally acceptable conformity"),
];

/// Nigrini's band for a first-digit MAD.
pub fn nigrini_band(mad: f64) -> &'static str {
    NIGRINI_FIRST_DIGIT
        .iter()
        .find(|(limit, _)| mad <= *limit)
        .map_or("nonconformity", |(_, name)| name)
}

/// Benford's expected share of first digit d: log10(1 + 1/d).
pub fn benford_expected(d: u32) -> f64 {
    (1.0 + 1.0 / f64::from(d)).log10()
}

/// Mean absolute deviation of observed first-digit counts (digits 1..=9) from Benford.
pub fn benford_mad(counts: &[i64; 9]) -> Option<f64> {
    let n: i64 = counts.iter().sum();
    if n == 0 {
        return None;
    }
    let total: f64 = (1..=9u32)
        .map(|d| (counts[d as usize - 1] as f64 / n as f64 - benford_expected(d)).abs())
        .sum();
    Some(total / 9.0)
}

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub period: Period,
    pub norm_multiple: f64,
    pub max_cash_to_expected: f64,
    pub max_credits_to_declared: f64,
    pub round_to: Money,
    pub max_round_share: f64,
    pub min_round_count: u32,
    pub min_benford_count: u32,
    pub benford_fails_from: BenfordBand,
    pub min_signals: u32,
    pub min_cash: Money,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            period: Period::Year,
            norm_multiple: 1.5,
            max_cash_to_expected: 1.5,
            max_credits_to_declared: 1.25,
            round_to: Money::pounds(50),
            max_round_share: 0.5,
            min_round_count: 20,
            min_benford_count: 300,
            benford_fails_from: BenfordBand::Nonconformity,
            min_signals: 2,
            min_cash: Money::pounds(10_000),
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "period",
            meaning: "`year`: figures per calendar year. `whole_period`: one set of figures over the whole ledger.",
            valid: "\"year\" or \"whole_period\"",
        },
        ParamDoc {
            name: "norm_multiple",
            meaning: "Cash share of credits is a signal when above the sector norm times this (a norm of 0.40 and 1.5 → above 0.60).",
            valid: "a number from 1 to 5",
        },
        ParamDoc {
            name: "max_cash_to_expected",
            meaning: "Cash banked ÷ expected cash (declared turnover × sector norm) at or above this is a signal.",
            valid: "a number from 1 to 20",
        },
        ParamDoc {
            name: "max_credits_to_declared",
            meaning: "All credits ÷ declared turnover above this is a signal.",
            valid: "a number from 1 to 20",
        },
        ParamDoc {
            name: "round_to",
            meaning: "A cash deposit is round when it is a whole multiple of this.",
            valid: "an amount from 1 to 100000",
        },
        ParamDoc {
            name: "max_round_share",
            meaning: "Share of cash deposits in round amounts at or above this is a signal.",
            valid: "a number from 0.05 to 1",
        },
        ParamDoc {
            name: "min_round_count",
            meaning: "Fewest cash deposits for the round-amount share to be computed.",
            valid: "a whole number from 1 to 100000",
        },
        ParamDoc {
            name: "min_benford_count",
            meaning: "Fewest cash deposits of £10 or more for the first-digit test to be computed (small samples deviate by chance).",
            valid: "a whole number from 50 to 1000000",
        },
        ParamDoc {
            name: "benford_fails_from",
            meaning: "Nigrini's first-digit band from which the Benford test is a signal: `nonconformity` (MAD above 0.015) or `marginally_acceptable` (MAD above 0.012).",
            valid: "\"nonconformity\" or \"marginally_acceptable\"",
        },
        ParamDoc {
            name: "min_signals",
            meaning: "Fewest signals met at once for a finding.",
            valid: "a whole number from 1 to 5",
        },
        ParamDoc {
            name: "min_cash",
            meaning: "Least cash banked in the period for a finding.",
            valid: "an amount from 0 to 100000000",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        let d = Self::DOCS;
        ensure(
            (1.0..=5.0).contains(&self.norm_multiple),
            "norm_multiple",
            self.norm_multiple,
            d[1].valid,
        )?;
        ensure(
            (1.0..=20.0).contains(&self.max_cash_to_expected),
            "max_cash_to_expected",
            self.max_cash_to_expected,
            d[2].valid,
        )?;
        ensure(
            (1.0..=20.0).contains(&self.max_credits_to_declared),
            "max_credits_to_declared",
            self.max_credits_to_declared,
            d[3].valid,
        )?;
        ensure(
            self.round_to >= Money::pounds(1) && self.round_to <= Money::pounds(100_000),
            "round_to",
            self.round_to,
            d[4].valid,
        )?;
        ensure(
            (0.05..=1.0).contains(&self.max_round_share),
            "max_round_share",
            self.max_round_share,
            d[5].valid,
        )?;
        ensure(
            (1..=100_000).contains(&self.min_round_count),
            "min_round_count",
            self.min_round_count,
            d[6].valid,
        )?;
        ensure(
            (50..=1_000_000).contains(&self.min_benford_count),
            "min_benford_count",
            self.min_benford_count,
            d[7].valid,
        )?;
        ensure(
            (1..=5).contains(&self.min_signals),
            "min_signals",
            self.min_signals,
            d[9].valid,
        )?;
        ensure(
            self.min_cash <= Money::pounds(100_000_000),
            "min_cash",
            self.min_cash,
            d[10].valid,
        )
    }
}

impl RuleKind for CashFront {
    fn name(&self) -> &'static str {
        "cash_front"
    }
    fn method(&self) -> &'static str {
        "For each business account (kind = \"business\" in the case file), takes its credits \
         in scope, per calendar year (`period = \"year\"`) or over the whole ledger, and \
         computes five signals. (1) Cash share: cash deposits ÷ all credits, a signal when \
         above the sector norm for the account's `business_type` (rules/lists/sector_cash_norms.csv) \
         times `norm_multiple`. (2) Cash against declared turnover: cash banked ÷ (declared \
         turnover × sector norm), a signal at or above `max_cash_to_expected`. (3) Credits \
         against declared turnover: all credits ÷ declared turnover, a signal above \
         `max_credits_to_declared`. Declared turnover comes from the case's \
         `[reference] declared_turnover` file, per account and calendar year; over the whole \
         period only years with a declared figure are compared. (4) Round amounts: the share \
         of cash deposits that are whole multiples of `round_to`, a signal at or above \
         `max_round_share` (with at least `min_round_count` deposits). (5) First digits: the \
         distribution of the first digit of cash deposits of £10 or more against Benford's \
         law, as the mean absolute deviation (MAD) over digits 1 to 9, placed in Nigrini's \
         first-digit bands (close conformity to 0.006, acceptable to 0.012, marginally \
         acceptable to 0.015, nonconformity above); a signal from `benford_fails_from`, with \
         at least `min_benford_count` deposits. Takings that fall in a narrow range (a \
         business banking similar sums daily) do not follow Benford's law whatever their \
         honesty, which is why no signal stands alone. A finding needs at least `min_signals` \
         signals and `min_cash` of cash banked in the period; every signal's figure is \
         reported, met or not, and a signal that cannot be computed is reported as not \
         available. Evidence rows are the cash deposits of the period."
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

/// Per-account, per-year sums (from polars), to be combined into periods.
#[derive(Debug, Clone, Default)]
struct Sums {
    credits: i64,
    cash: i64,
    n_cash: i64,
    n_round: i64,
    digits: [i64; 9],
    first_day: i64,
    last_day: i64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.credits += o.credits;
        self.cash += o.cash;
        self.n_cash += o.n_cash;
        self.n_round += o.n_round;
        for (a, b) in self.digits.iter_mut().zip(o.digits) {
            *a += b;
        }
        self.first_day = self.first_day.min(o.first_day);
        self.last_day = self.last_day.max(o.last_day);
    }
}

impl Detector for Params {
    fn params_in_effect(&self) -> Vec<(String, String)> {
        params::in_effect(self)
    }

    fn detect(&self, rows: LazyFrame, ctx: &Context<'_>) -> PolarsResult<Hits> {
        let case = ctx.case;
        let business: Vec<u32> = case
            .accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.kind == AccountKind::Business)
            .map(|(i, _)| i as u32)
            .collect();
        let mut notes = Vec::new();
        if business.is_empty() {
            return Ok(Hits::default());
        }
        let is_cash = channel_in(&[Channel::CashDeposit]);
        let digit = when(is_cash.clone().and(col(c::PENCE).gt_eq(lit(1_000i64))))
            .then(
                col(c::PENCE)
                    .cast(DataType::String)
                    .str()
                    .slice(lit(0), lit(1)),
            )
            .otherwise(lit(NULL).cast(DataType::String));
        let credits = rows
            .filter(account_in(&business).and(col(c::PENCE).gt(lit(0))))
            .with_columns([
                col(c::DAY)
                    .cast(DataType::Int32)
                    .cast(DataType::Date)
                    .dt()
                    .year()
                    .alias("_year"),
                is_cash.clone().alias("_cash"),
                digit.alias("_digit"),
            ]);
        let mut aggs = vec![
            col(c::PENCE).sum().alias("credits"),
            col(c::PENCE).filter(col("_cash")).sum().alias("cash"),
            col("_cash").sum().alias("n_cash"),
            col("_cash")
                .and((col(c::PENCE) % lit(self.round_to.pence())).eq(lit(0i64)))
                .sum()
                .alias("n_round"),
            col(c::DAY).min().alias("first_day"),
            col(c::DAY).max().alias("last_day"),
        ];
        for d in 1..=9 {
            aggs.push(
                col("_digit")
                    .eq(lit(d.to_string()))
                    .sum()
                    .alias(format!("d{d}")),
            );
        }
        let per_year = credits
            .clone()
            .group_by([col(c::ACCT), col("_year")])
            .agg(aggs)
            .sort([c::ACCT, "_year"], SortMultipleOptions::default())
            .collect()?;

        let accts = i64s(&per_year, c::ACCT)?;
        let years = i64s(&per_year, "_year")?;
        let get = |name: &str| i64s(&per_year, name);
        let (cr, ca, nc, nr, fd, ld) = (
            get("credits")?,
            get("cash")?,
            get("n_cash")?,
            get("n_round")?,
            get("first_day")?,
            get("last_day")?,
        );
        let mut digit_cols = Vec::new();
        for d in 1..=9 {
            digit_cols.push(get(&format!("d{d}"))?);
        }
        // (acct, year) → sums; then periods.
        let mut yearly: BTreeMap<(u32, i32), Sums> = BTreeMap::new();
        for i in 0..per_year.height() {
            let mut digits = [0i64; 9];
            for (d, col) in digit_cols.iter().enumerate() {
                digits[d] = col[i].unwrap_or_default();
            }
            yearly.insert(
                (
                    accts[i].unwrap_or_default() as u32,
                    years[i].unwrap_or_default() as i32,
                ),
                Sums {
                    credits: cr[i].unwrap_or_default(),
                    cash: ca[i].unwrap_or_default(),
                    n_cash: nc[i].unwrap_or_default(),
                    n_round: nr[i].unwrap_or_default(),
                    digits,
                    first_day: fd[i].unwrap_or_default(),
                    last_day: ld[i].unwrap_or_default(),
                },
            );
        }

        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let mut out = Vec::new();
        // (acct, year or -1 for the whole period) → episode
        let mut episode_of: Vec<(u32, i32, u32)> = Vec::new();
        let mut next_episode = 1u32;
        for &acct in &business {
            let account = &case.accounts[acct as usize];
            let norm = account
                .business_type
                .as_ref()
                .and_then(|t| ctx.reference.sector_norms.get(t));
            let acct_years: Vec<(i32, &Sums)> = yearly
                .iter()
                .filter(|((a, _), _)| *a == acct)
                .map(|((_, y), s)| (*y, s))
                .collect();
            if acct_years.is_empty() {
                continue;
            }
            if norm.is_none() {
                notes.push(format!(
                    "account {}: no sector cash norm for business type {:?} in {}; the cash-share signals were not computed",
                    account.id,
                    account.business_type.as_deref().unwrap_or("(none given)"),
                    crate::rules::reference::SECTOR_NORMS_FILE
                ));
            }
            let declared = |y: i32| {
                ctx.reference
                    .declared_turnover
                    .get(&(account.id.clone(), y))
            };
            // The periods: each year, or the whole period.
            let mut periods: Vec<(i32, String, Sums, Option<i64>, Sums)> = Vec::new();
            match self.period {
                Period::Year => {
                    for (y, s) in &acct_years {
                        let d = declared(*y).map(|d| d.pence);
                        periods.push((*y, y.to_string(), (*s).clone(), d, (*s).clone()));
                    }
                }
                Period::WholePeriod => {
                    let mut all = Sums::default();
                    let mut with_declared = Sums::default();
                    let mut declared_total: Option<i64> = None;
                    for (i, (y, s)) in acct_years.iter().enumerate() {
                        if i == 0 {
                            all = (*s).clone();
                        } else {
                            all.add(s);
                        }
                        if let Some(d) = declared(*y) {
                            if declared_total.is_none() {
                                with_declared = (*s).clone();
                            } else {
                                with_declared.add(s);
                            }
                            declared_total = Some(declared_total.unwrap_or(0) + d.pence);
                        }
                    }
                    let label = format!(
                        "{} to {} (whole period)",
                        date_of_day(all.first_day),
                        date_of_day(all.last_day)
                    );
                    periods.push((-1, label, all, declared_total, with_declared));
                }
            }
            for (year, label, s, declared_pence, s_declared) in periods {
                let mut metrics = vec![
                    Metric::info("period", "period", Value::Text(label)),
                    Metric::info("cash", "cash banked", money(s.cash)),
                    Metric::info("credits", "all credits", money(s.credits)),
                    Metric::info("cash_deposits", "cash deposits", Value::Count(s.n_cash)),
                ];
                let mut met = 0i64;
                let mut evaluated = 0i64;
                // (1) cash share vs sector norm
                let share = if s.credits > 0 {
                    s.cash as f64 / s.credits as f64
                } else {
                    0.0
                };
                match norm {
                    Some(n) => {
                        let limit = n.cash_share * self.norm_multiple;
                        let ok = share > limit;
                        evaluated += 1;
                        met += i64::from(ok);
                        metrics.push(Metric::tested(
                            "cash_share",
                            "cash share of credits",
                            Value::Ratio(share),
                            Op::Above,
                            Value::Ratio(limit),
                            ok,
                        ));
                        metrics.push(Metric::info(
                            "sector_norm",
                            "sector norm",
                            Value::Text(format!(
                                "{} {:.2} × {} (source: {})",
                                account.business_type.as_deref().unwrap_or_default(),
                                n.cash_share,
                                self.norm_multiple,
                                n.source
                            )),
                        ));
                    }
                    None => metrics.push(Metric::info(
                        "cash_share",
                        "cash share of credits",
                        Value::Ratio(share),
                    )),
                }
                // (2) and (3): declared turnover
                match declared_pence {
                    Some(dp) if dp > 0 => {
                        metrics.push(Metric::info(
                            "declared_turnover",
                            "declared turnover",
                            money(dp),
                        ));
                        if let Some(n) = norm {
                            let expected = dp as f64 * n.cash_share;
                            let ratio = if expected > 0.0 {
                                s_declared.cash as f64 / expected
                            } else {
                                f64::INFINITY
                            };
                            let ok = ratio >= self.max_cash_to_expected;
                            evaluated += 1;
                            met += i64::from(ok);
                            metrics.push(Metric::tested(
                                "cash_to_expected",
                                "cash banked ÷ expected cash (declared turnover × norm)",
                                Value::Ratio(ratio),
                                Op::AtLeast,
                                Value::Ratio(self.max_cash_to_expected),
                                ok,
                            ));
                        } else {
                            metrics.push(Metric::info(
                                "cash_to_expected",
                                "cash banked ÷ expected cash",
                                Value::Missing("no sector norm".into()),
                            ));
                        }
                        let ratio = s_declared.credits as f64 / dp as f64;
                        let ok = ratio > self.max_credits_to_declared;
                        evaluated += 1;
                        met += i64::from(ok);
                        metrics.push(Metric::tested(
                            "credits_to_declared",
                            "all credits ÷ declared turnover",
                            Value::Ratio(ratio),
                            Op::Above,
                            Value::Ratio(self.max_credits_to_declared),
                            ok,
                        ));
                    }
                    _ => metrics.push(Metric::info(
                        "declared_turnover",
                        "declared turnover",
                        Value::Missing(match &ctx.reference.declared_turnover_file {
                            Some(f) => format!("none for this account and period in {f}"),
                            None => "the case names no declared_turnover file".into(),
                        }),
                    )),
                }
                // (4) round amounts
                if s.n_cash >= i64::from(self.min_round_count) {
                    let rs = s.n_round as f64 / s.n_cash as f64;
                    let ok = rs >= self.max_round_share;
                    evaluated += 1;
                    met += i64::from(ok);
                    metrics.push(Metric::tested(
                        "round_share",
                        format!(
                            "share of cash deposits in multiples of {}",
                            ctx.money(self.round_to.pence())
                        ),
                        Value::Ratio(rs),
                        Op::AtLeast,
                        Value::Ratio(self.max_round_share),
                        ok,
                    ));
                } else {
                    metrics.push(Metric::info(
                        "round_share",
                        "share of cash deposits in round amounts",
                        Value::Missing(format!(
                            "{} cash deposits; at least {} needed",
                            s.n_cash, self.min_round_count
                        )),
                    ));
                }
                // (5) Benford
                let n_benford: i64 = s.digits.iter().sum();
                if n_benford >= i64::from(self.min_benford_count) {
                    let mad = benford_mad(&s.digits).unwrap_or_default();
                    let limit = match self.benford_fails_from {
                        BenfordBand::MarginallyAcceptable => 0.012,
                        BenfordBand::Nonconformity => 0.015,
                    };
                    let ok = mad > limit;
                    evaluated += 1;
                    met += i64::from(ok);
                    metrics.push(Metric::tested(
                        "benford_mad",
                        "first-digit mean absolute deviation from Benford",
                        Value::Score(mad),
                        Op::Above,
                        Value::Score(limit),
                        ok,
                    ));
                    metrics.push(Metric::info(
                        "benford_band",
                        "Nigrini conformity band",
                        Value::Text(nigrini_band(mad).into()),
                    ));
                    let shares: Vec<String> = (1..=9u32)
                        .map(|d| {
                            format!(
                                "{d}: {:.3} ({:.3})",
                                s.digits[d as usize - 1] as f64 / n_benford as f64,
                                benford_expected(d)
                            )
                        })
                        .collect();
                    metrics.push(Metric::info(
                        "first_digits",
                        "first-digit shares, observed (Benford)",
                        Value::Text(shares.join(", ")),
                    ));
                } else {
                    metrics.push(Metric::info(
                        "benford_mad",
                        "first-digit mean absolute deviation from Benford",
                        Value::Missing(format!(
                            "{n_benford} cash deposits of £10 or more; at least {} needed",
                            self.min_benford_count
                        )),
                    ));
                }
                metrics.push(Metric::tested(
                    "signals",
                    format!("signals met (of {evaluated} computed)"),
                    Value::Count(met),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_signals)),
                    met >= i64::from(self.min_signals),
                ));
                if met >= i64::from(self.min_signals)
                    && s.cash >= self.min_cash.pence()
                    && s.n_cash > 0
                {
                    let episode = next_episode;
                    next_episode += 1;
                    episode_of.push((acct, year, episode));
                    out.push(Episode {
                        episode,
                        group: account.id.clone(),
                        subject: ctx.controllers_of(acct).to_string(),
                        window: Some((date_of_day(s.first_day), date_of_day(s.last_day))),
                        metrics,
                    });
                }
            }
        }
        let map = df!(
            c::ACCT => episode_of.iter().map(|e| e.0).collect::<Vec<u32>>(),
            "_period" => episode_of.iter().map(|e| e.1).collect::<Vec<i32>>(),
            "episode" => episode_of.iter().map(|e| e.2).collect::<Vec<u32>>(),
        )?;
        let period = match self.period {
            Period::Year => col("_year"),
            Period::WholePeriod => lit(-1i32),
        };
        let evidence = credits
            .filter(col("_cash"))
            .with_column(period.alias("_period"))
            .join(
                map.lazy(),
                [col(c::ACCT), col("_period")],
                [col(c::ACCT), col("_period")],
                JoinArgs::new(JoinType::Inner),
            )
            .select([col("episode"), col(c::SEQ)])
            .collect()?;
        Ok(Hits {
            episodes: out,
            evidence: Some(evidence),
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benford_mad_and_bands() {
        // A sample following Benford closely.
        let n = 100_000.0;
        let mut counts = [0i64; 9];
        for d in 1..=9u32 {
            counts[d as usize - 1] = (benford_expected(d) * n).round() as i64;
        }
        assert!(benford_mad(&counts).unwrap() < 0.001);
        // All ones: |1 - 0.301| + sum of the other expected shares (0.699), over 9.
        let mut ones = [0i64; 9];
        ones[0] = 10;
        let mad = benford_mad(&ones).unwrap();
        assert!((mad - 2.0 * (1.0 - benford_expected(1)) / 9.0).abs() < 1e-12);
        assert_eq!(nigrini_band(0.005), "close conformity");
        assert_eq!(nigrini_band(0.010), "acceptable conformity");
        assert_eq!(nigrini_band(0.0131), "marginally acceptable conformity");
        assert_eq!(nigrini_band(0.0151), "nonconformity");
    }
}
