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
//! the running total at the start of its day plus `share` × X. A binary search of the
//! debits' positions (polars' `search_sorted`) gives, for each credit, the first debit at
//! or past its target — the day it was carried on. Keys of different accounts are far
//! apart, so a match in another account means "never carried on".

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
    let dwell = dwell_of_credits(rows.clone(), flow, share_bp)?;
    Ok(join_dwell(rows, dwell, JoinType::Left))
}

/// `rows` joined by `seq` to a plan of `seq` and [`DWELL`] ([`dwell_of_credits`]), in the
/// rows' own order (so no sort is needed after it): `Left` keeps every row, debits with no
/// dwell; `Inner` keeps the credits among them.
pub fn join_dwell(rows: LazyFrame, dwell: LazyFrame, how: JoinType) -> LazyFrame {
    rows.join(
        dwell,
        [col(c::SEQ)],
        [col(c::SEQ)],
        JoinArgs {
            maintain_order: MaintainOrderJoin::Left,
            ..JoinArgs::new(how)
        },
    )
}

/// The [`DWELL`] of every credit among `rows` (sorted by `k` then `seq`; `flow` and
/// `share_bp` as for [`with_dwell`]): a plan of `seq` and `dwell_days`, one row per credit,
/// for a rule that needs the dwell of a few of the rows and not a column for all of them.
pub fn dwell_of_credits(rows: LazyFrame, flow: Expr, share_bp: i64) -> PolarsResult<LazyFrame> {
    let out_p = when(col(c::PENCE).lt(lit(0)))
        .then(lit(0) - col(c::PENCE))
        .otherwise(lit(0i64));
    // Only credits and carrying debits move the running total or need a dwell: rows whose
    // flow is 0 are left out before the running total is taken (they would add 0 to it).
    let base = rows
        .clone()
        .select([col(c::SEQ), col(c::K), flow.alias(c::PENCE)])
        .filter(col(c::PENCE).neq(lit(0i64)))
        .with_column(out_p.clone().cum_sum(false).alias("_cum_out"))
        .with_column(
            when(col(c::K).neq(col(c::K).shift(lit(1))).fill_null(lit(true)))
                .then(col("_cum_out") - out_p)
                .otherwise(lit(NULL).cast(DataType::Int64))
                .fill_null_with_strategy(FillNullStrategy::Forward(None))
                .alias("_out_before_day"),
        )
        .collect()?;
    let need = (col(c::PENCE) * lit(share_bp) + lit(9_999i64)).floor_div(lit(10_000i64));
    let credits = base
        .clone()
        .lazy()
        .filter(col(c::PENCE).gt(lit(0)))
        .select([
            col(c::SEQ),
            col(c::K),
            (col("_out_before_day") + need).alias("_pos"),
        ])
        .collect()?;
    // Debits in row order: their running total only grows (every debit adds to it), so it
    // is sorted, and each credit's carrying debit is found by binary search: the first debit
    // whose running total reaches the credit's target (a debit exactly at it counts).
    let debits = base
        .lazy()
        .filter(col(c::PENCE).lt(lit(0)))
        .select([col(c::K), col("_cum_out")])
        .collect()?;
    let at = search_sorted(
        debits.column("_cum_out")?.as_materialized_series(),
        credits.column("_pos")?.as_materialized_series(),
        SearchSortedSide::Left,
        false,
    )?;
    // One null after the last debit: a credit whose target no debit reaches (index = the
    // number of debits) was never carried on.
    let mut debit_k = debits.column(c::K)?.as_materialized_series().clone();
    debit_k.append(&Series::full_null(c::K.into(), 1, &DataType::Int64))?;
    let carry_k = debit_k.take(&at)?.with_name("_carry_k".into());
    let mut credits = credits;
    credits.with_column(carry_k.into_column())?;
    Ok(credits.lazy().select([
        col(c::SEQ),
        when(
            col("_carry_k")
                .floor_div(lit(STRIDE))
                .eq(col(c::K).floor_div(lit(STRIDE))),
        )
        .then(col("_carry_k") - col(c::K))
        .otherwise(lit(NULL).cast(DataType::Int64))
        .alias(DWELL),
    ]))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The way dwell was first computed: credits and debits sorted together by position,
    /// the debits' keys filled back onto the credits. Kept to hold the search to it.
    fn by_sorting(rows: LazyFrame, flow: Expr, share_bp: i64) -> PolarsResult<LazyFrame> {
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
        Ok(join_dwell(rows, dwell, JoinType::Left))
    }

    /// Rows (account, day, pence), sorted as rules see them; returns each row's dwell.
    fn dwell_of(rows: &[(u32, i64, i64)], share_bp: i64, sorting: bool) -> Vec<Option<i64>> {
        let mut rows = rows.to_vec();
        rows.sort_by_key(|&(a, d, _)| (a, d));
        let frame = df!(
            c::SEQ => (1..=rows.len() as u64).collect::<Vec<u64>>(),
            c::K => rows.iter().map(|&(a, d, _)| i64::from(a) * STRIDE + d).collect::<Vec<i64>>(),
            c::PENCE => rows.iter().map(|&(_, _, p)| p).collect::<Vec<i64>>()
        )
        .expect("frame");
        let plan = if sorting {
            by_sorting(frame.lazy(), col(c::PENCE), share_bp)
        } else {
            with_dwell(frame.lazy(), col(c::PENCE), share_bp)
        };
        let out = plan.expect("plan").collect().expect("dwell");
        out.column(DWELL)
            .expect("dwell column")
            .i64()
            .expect("i64")
            .iter()
            .collect()
    }

    #[test]
    fn dwell_is_the_day_the_share_has_left() {
        // Account 0: £100 in on day 10; £30 out earlier that day (it counts), £50 on day
        // 12, £20 on day 15: all of it gone by day 15, 90% by day 15 too (£80 by day 12).
        // Account 1: £10 in on day 3 and out on day 3 exactly; £40 in on day 4 never
        // carried on (the debits of account 2 do not count).
        // Account 2: £5 out on day 1 only.
        let rows = [
            (0, 10, -3_000),
            (0, 10, 10_000),
            (0, 12, -5_000),
            (0, 15, -2_000),
            (1, 3, 1_000),
            (1, 3, -1_000),
            (1, 4, 4_000),
            (2, 1, -500),
        ];
        assert_eq!(
            dwell_of(&rows, 10_000, false),
            [None, Some(5), None, None, Some(0), None, None, None]
        );
        assert_eq!(
            dwell_of(&rows, 8_000, false),
            [None, Some(2), None, None, Some(0), None, None, None]
        );
        assert_eq!(
            dwell_of(&rows, 10_000, true),
            dwell_of(&rows, 10_000, false)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn the_search_gives_what_sorting_gave(
            rows in proptest::collection::vec((0u32..4, 0i64..30, -5_000i64..5_000), 0..60),
            share_bp in 1i64..=10_000,
        ) {
            prop_assert_eq!(dwell_of(&rows, share_bp, false), dwell_of(&rows, share_bp, true));
        }
    }
}
