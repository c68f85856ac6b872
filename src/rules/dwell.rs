//! Dwell time: how long money stays in an account before the same amount has left.
//!
//! For a credit of X booked on day d, its dwell is the number of days from d until the
//! first day by which the account's debits booked from the start of day d onwards add up
//! to at least `share` × X. 0 means the same day. A credit that is never carried on within
//! the ledger has no dwell (null). Whole days, because most statements carry only a
//! booking date; debits earlier on the credit's own day count, because the order of rows
//! within a day is not reliable evidence of time.
//!
//! This is a statement about amounts, not about which pound went where (that is the
//! tracing stage's business, with its own allocation methods): it says "by day d+k, at
//! least this much had been paid out of the account since the money arrived".
//!
//! Computed without a per-row loop: a running total of all debits (in window-key order,
//! so it never decreases) gives each debit a position; each credit's target position is
//! the running total at the start of its day plus `share` × X. Sorting credits and
//! debits together by position and back-filling the debits' keys gives, for each credit,
//! the first debit at or past its target — the day it was carried on. Keys of different
//! accounts are far apart, so a match in another account means "never carried on".

use polars::prelude::*;

use super::prepare::{c, STRIDE};

/// Column added by [`with_dwell`]: days (i64), null for debits and for credits never
/// carried on.
pub const DWELL: &str = "dwell_days";

/// Add [`DWELL`] to rows sorted by `k` then `seq`. `flow` is each row's signed pence as
/// far as dwell is concerned: credits positive, the debits that count as carrying money
/// on negative, anything else 0. `share_bp` is the share of each credit that must have
/// left, in basis points (10000 = all of it). The result keeps the rows' order.
pub fn with_dwell(rows: LazyFrame, flow: Expr, share_bp: i64) -> PolarsResult<LazyFrame> {
    let out_p = when(col(c::PENCE).lt(lit(0)))
        .then(lit(0) - col(c::PENCE))
        .otherwise(lit(0i64));
    let base = rows
        .clone()
        .select([col(c::SEQ), col(c::K), flow.alias(c::PENCE)])
        .with_column(out_p.clone().cum_sum(false).alias("_cum_out"))
        .with_column(
            when(col(c::K).neq(col(c::K).shift(lit(1))).fill_null(lit(true)))
                .then(col("_cum_out") - out_p)
                .otherwise(lit(NULL).cast(DataType::Int64))
                .fill_null_with_strategy(FillNullStrategy::Forward(None))
                .alias("_out_before_day"),
        );
    let need = (col(c::PENCE) * lit(share_bp) + lit(9_999i64)).floor_div(lit(10_000i64));
    let credits = base.clone().filter(col(c::PENCE).gt(lit(0))).select([
        col(c::SEQ),
        col(c::K),
        (col("_out_before_day") + need).alias("_pos"),
        lit(0i32).alias("_is_debit"),
    ]);
    let debits = base.filter(col(c::PENCE).lt(lit(0))).select([
        col(c::SEQ),
        col(c::K),
        col("_cum_out").alias("_pos"),
        lit(1i32).alias("_is_debit"),
    ]);
    // Sorted by position, a credit before a debit at the same position: one integer key
    // (`_pos` × 2 + `_is_debit`) sorts far faster than the two columns as a pair.
    let dwell = concat([credits, debits], UnionArgs::default())?
        .sort_by_exprs(
            [col("_pos") * lit(2i64) + col("_is_debit").cast(DataType::Int64)],
            SortMultipleOptions::default(),
        )
        .with_column(
            when(col("_is_debit").eq(lit(1)))
                .then(col(c::K))
                .otherwise(lit(NULL).cast(DataType::Int64))
                .fill_null_with_strategy(FillNullStrategy::Backward(None))
                .alias("_carry_k"),
        )
        .filter(col("_is_debit").eq(lit(0)))
        .select([
            col(c::SEQ),
            when(
                col("_carry_k")
                    .floor_div(lit(STRIDE))
                    .eq(col(c::K).floor_div(lit(STRIDE))),
            )
            .then(col("_carry_k") - col(c::K))
            .otherwise(lit(NULL).cast(DataType::Int64))
            .alias(DWELL),
        ]);
    // The rows' own order is kept, so no sort is needed after the join.
    Ok(rows.join(
        dwell,
        [col(c::SEQ)],
        [col(c::SEQ)],
        JoinArgs {
            maintain_order: MaintainOrderJoin::Left,
            ..JoinArgs::new(JoinType::Left)
        },
    ))
}

/// The channels that carry money on to someone else by default: transfers, cash
/// withdrawals, money-transfer sends and cheques. Card payments, direct debits, standing
/// orders and fees are spending, not passing money on.
pub const ONWARD_CHANNELS: [crate::ledger::Channel; 4] = [
    crate::ledger::Channel::Transfer,
    crate::ledger::Channel::CashWithdrawal,
    crate::ledger::Channel::MsbSend,
    crate::ledger::Channel::Cheque,
];

/// Signed pence counting credits and only the debits in `onward` channels (others 0).
pub fn onward_flow(onward: &[crate::ledger::Channel]) -> Expr {
    let is_onward = super::prepare::channel_in(onward);
    when(col(c::PENCE).gt(lit(0)).or(is_onward))
        .then(col(c::PENCE))
        .otherwise(lit(0i64))
}
