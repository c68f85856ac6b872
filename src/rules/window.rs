//! Rolling windows and episodes, columnar.
//!
//! Every windowed rule asks the same two questions of rows sorted by the window key `k`
//! (see `prepare`): what do the last N days look like, ending on each row's day? and
//! which rows belong to a window that crossed the rule's tests?
//!
//! **Windows.** The window ending on day `d` covers days `d-N+1 ..= d`: N calendar days,
//! both ends included, and every row booked on `d` is inside it whatever its position in
//! the statement (bank order within a day is not reliable evidence of time).
//!
//! **Episodes.** Windows that cross the tests (*firing* windows) and overlap are merged
//! into one episode, so a run of deposits gives one finding, not one per day. An
//! episode's evidence is every row that lies in at least one of its firing windows. Done
//! with fills instead of a loop: a row is in a firing window exactly when the next firing
//! window end at or after it is within N-1 days (the nearest later end is always the one
//! whose window reaches back furthest), and a new episode starts at a firing row whose
//! window does not reach back to the previous firing row.

use polars::prelude::*;

use super::prepare::c;

/// Whether the window ending on this row crossed the rule's tests (bool).
pub const FIRES: &str = "fires";
/// Episode number (u32), null for rows in no firing window.
pub const EPISODE: &str = "episode";
/// Rows in the window ending on this row's day (i64).
pub const W_COUNT: &str = "w_count";
/// Total of the window's values (i64 pence).
pub const W_TOTAL: &str = "w_total";

/// Options for a rolling window of `days` days ending on (and including) each row's day.
pub fn days_window(days: u32) -> RollingOptionsDynamicWindow {
    RollingOptionsDynamicWindow {
        window_size: Duration::parse(&format!("{days}i")),
        min_periods: 1,
        closed_window: ClosedWindow::Right,
        fn_params: None,
    }
}

/// A rolling aggregation of any expression (`n_unique`, `median`, ...) over the window of
/// `days` days ending on each row's day. Rows must be sorted by `k`.
pub fn rolling_agg(agg: Expr, days: u32) -> Expr {
    agg.rolling(
        col(c::K),
        Duration::parse(&format!("{days}i")),
        Duration::parse(&format!("-{days}i")),
        ClosedWindow::Right,
    )
}

/// Add [`W_COUNT`] and [`W_TOTAL`] (the sum of `value`) for the window of `days` days
/// ending on each row's day. Rows must be sorted by `k`.
pub fn count_and_total(rows: LazyFrame, value: Expr, days: u32) -> LazyFrame {
    rows.with_columns([
        col(c::K)
            .is_not_null()
            .cast(DataType::Int64)
            .rolling_sum_by(col(c::K), days_window(days))
            .alias(W_COUNT),
        value
            .rolling_sum_by(col(c::K), days_window(days))
            .alias(W_TOTAL),
    ])
}

/// Add [`EPISODE`]: merge overlapping firing windows of `days` days (from the bool column
/// [`FIRES`]) into episodes and number them; rows in no firing window get null. Rows must
/// be sorted by `k` (then `seq`). Episode numbers are unique within the frame.
pub fn episodes(rows: LazyFrame, days: u32) -> LazyFrame {
    let reach = i64::from(days) - 1;
    let fire_k = "_fire_k";
    let prev_fire_k = "_prev_fire_k";
    let next_fire_k = "_next_fire_k";
    let ep = "_ep";
    let next_ep = "_next_ep";
    rows.with_column(
        when(col(FIRES))
            .then(col(c::K))
            .otherwise(lit(NULL).cast(DataType::Int64))
            .alias(fire_k),
    )
    .with_column(
        col(fire_k)
            .shift(lit(1))
            .fill_null_with_strategy(FillNullStrategy::Forward(None))
            .alias(prev_fire_k),
    )
    .with_column(
        (col(FIRES).and(
            col(prev_fire_k)
                .is_null()
                .or((col(c::K) - lit(reach)).gt(col(prev_fire_k))),
        ))
        .cast(DataType::UInt32)
        .cum_sum(false)
        .alias(ep),
    )
    .with_columns([
        col(fire_k)
            .fill_null_with_strategy(FillNullStrategy::Backward(None))
            .alias(next_fire_k),
        when(col(FIRES))
            .then(col(ep))
            .otherwise(lit(NULL).cast(DataType::UInt32))
            .fill_null_with_strategy(FillNullStrategy::Backward(None))
            .alias(next_ep),
    ])
    .with_column(
        when(
            col(next_fire_k)
                .is_not_null()
                .and((col(next_fire_k) - col(c::K)).lt_eq(lit(reach))),
        )
        .then(col(next_ep))
        .otherwise(lit(NULL).cast(DataType::UInt32))
        .alias(EPISODE),
    )
    .drop(cols([fire_k, prev_fire_k, next_fire_k, ep, next_ep]))
}

/// Group index (account or subject) of a window key.
pub fn group_of_k() -> Expr {
    col(c::K)
        .floor_div(lit(super::prepare::STRIDE))
        .cast(DataType::UInt32)
}
