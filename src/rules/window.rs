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
//!
//! **Sums.** A window's count, sums and distinct values ([`window_sum`], [`window_count`],
//! [`window_distinct`]) are one pass of two positions over the sorted keys, the window's
//! first row and the row after its last day ([`Steps`]), into a column made at its full
//! length once. polars' `rolling_sum_by` and rolling `n_unique` give the same figures (tests
//! hold them equal), but the first grows its result a row at a time, and at ten million rows
//! that growing and the fresh memory it touches were a sixth of detection's time.

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
        window_count(days).alias(W_COUNT),
        window_sum(value, days).alias(W_TOTAL),
    ])
}

/// The sum of `value` (whole numbers, `Int64`) over the window of `days` days ending on each
/// row's day: the rows whose `k` is after `k - days` and at most `k`, those booked later on
/// the same day included. Null values add nothing, and a window holding none but nulls sums
/// to null, as with polars' `rolling_sum_by` (`min_periods` 1). Rows are expected sorted by
/// `k`; others are put in order first and the sums returned in the rows' own order.
pub fn window_sum(value: Expr, days: u32) -> Expr {
    window_sum_by(value, c::K, days)
}

/// [`window_sum`] over any whole-number key column sorted ascending (the days run back from
/// each row's key).
pub fn window_sum_by(value: Expr, key: &str, days: u32) -> Expr {
    // Not elementwise: a filter the optimiser moved before it would change its sums.
    value.apply_many(
        move |columns: &mut [Column]| {
            let name = columns[0].name().clone();
            let values = columns[0].as_materialized_series().cast(&DataType::Int64)?;
            let keys = key_column(&columns[1])?;
            let sums = sums_over_days(keys.cont_slice()?, Some(values.i64()?), i64::from(days))?;
            Ok(sums.with_name(name).into_series().into_column())
        },
        &[col(key)],
        |_, fields| Ok(Field::new(fields[0].name().clone(), DataType::Int64)),
    )
}

/// The number of rows in the window of `days` days ending on each row's day ([`window_sum`]
/// of 1 for every row), `Int64`, named `w_count` until aliased.
pub fn window_count(days: u32) -> Expr {
    col(c::K).apply_many(
        move |columns: &mut [Column]| {
            let keys = key_column(&columns[0])?;
            let counts = sums_over_days(keys.cont_slice()?, None, i64::from(days))?;
            Ok(counts.with_name(W_COUNT.into()).into_series().into_column())
        },
        &[],
        |_, _| Ok(Field::new(W_COUNT.into(), DataType::Int64)),
    )
}

/// Whether an empty value counts as one more distinct value ([`window_distinct`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    /// As polars' `n_unique`: every empty value together is one value.
    Counted,
    /// As `drop_nulls().n_unique()`: empty values are not counted.
    Ignored,
}

/// The number of different values of `ids` (whole numbers, e.g. [`super::prepare::text_ids`]
/// or account indices) in the window of `days` days ending on each row's day, `Int64`: the
/// same figures as polars' `n_unique` over [`rolling_agg`], in one pass of two positions
/// over the sorted keys with a count per value, where polars counts each window's values
/// afresh. Rows are expected sorted by `k`, as for [`window_sum`].
pub fn window_distinct(ids: Expr, days: u32, nulls: Nulls) -> Expr {
    ids.apply_many(
        move |columns: &mut [Column]| {
            let name = columns[0].name().clone();
            let ids = columns[0]
                .as_materialized_series()
                .cast(&DataType::UInt32)?;
            let ids = ids.u32()?.rechunk();
            let keys = key_column(&columns[1])?;
            let keys = keys.cont_slice()?;
            let days = i64::from(days);
            let counts = if ids.null_count() == 0 {
                let ids = ids.cont_slice()?;
                in_key_order(keys, |keys, order| {
                    distinct_in_windows(keys, |i| Some(ids[at(order, i)]), days, nulls)
                })?
            } else {
                let ids: Vec<Option<u32>> = ids.iter().collect();
                in_key_order(keys, |keys, order| {
                    distinct_in_windows(keys, |i| ids[at(order, i)], days, nulls)
                })?
            };
            Ok(counts.with_name(name).into_series().into_column())
        },
        &[col(c::K)],
        |_, fields| Ok(Field::new(fields[0].name().clone(), DataType::Int64)),
    )
}

/// [`window_distinct`] of keys sorted ascending, the value at place `i` being `value(i)`.
fn distinct_in_windows(
    keys: &[i64],
    value: impl Fn(usize) -> Option<u32>,
    days: i64,
    nulls: Nulls,
) -> PolarsResult<Figures> {
    let n = keys.len();
    // One count per value, the empty value's last; a map where the values are too sparse
    // for a table.
    let largest = (0..n)
        .filter_map(&value)
        .max()
        .map_or(0, |v| v as usize + 1);
    let slot = |v: Option<u32>| -> Option<usize> {
        match (v, nulls) {
            (Some(v), _) => Some(v as usize),
            (None, Nulls::Counted) => Some(largest),
            (None, Nulls::Ignored) => None,
        }
    };
    let mut table: Vec<u32> = Vec::new();
    let mut map: foldhash::HashMap<usize, u32> = foldhash::HashMap::default();
    let dense = largest <= 4 * n + 64;
    if dense {
        table = vec![0; largest + 1];
    }
    let mut count = |s: usize, add: bool| -> i64 {
        let c = if dense {
            &mut table[s]
        } else {
            map.entry(s).or_insert(0)
        };
        if add {
            *c += 1;
            i64::from(*c == 1)
        } else {
            *c -= 1;
            -i64::from(*c == 0)
        }
    };
    let mut distinct: i64 = 0;
    let mut out: Vec<i64> = Vec::with_capacity(n);
    for step in Steps::new(keys, days) {
        for i in step.rows.clone() {
            if let Some(s) = slot(value(i)) {
                distinct += count(s, true);
            }
        }
        for i in step.leave {
            if let Some(s) = slot(value(i)) {
                distinct += count(s, false);
            }
        }
        out.extend(std::iter::repeat_n(distinct, step.rows.len()));
    }
    Ok(Figures {
        values: out,
        empty: Vec::new(),
    })
}

/// One day of a walk over keys sorted ascending ([`Steps`]): the day's rows, which come
/// into the window, and the rows whose day falls out of it.
struct Step {
    rows: std::ops::Range<usize>,
    leave: std::ops::Range<usize>,
}

/// The walk of the window kernels: two positions, the window's first row and the row after
/// its last day, move forward along the sorted keys a day at a time, so each row comes in
/// once and goes out once. A day's window is every row whose key is after `day - days` and
/// at most `day`: the day's own rows all come in before its figures are read.
struct Steps<'a> {
    keys: &'a [i64],
    days: i64,
    first: usize,
    after: usize,
}

impl<'a> Steps<'a> {
    fn new(keys: &'a [i64], days: i64) -> Self {
        Steps {
            keys,
            days,
            first: 0,
            after: 0,
        }
    }
}

impl Iterator for Steps<'_> {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        let keys = self.keys;
        let row = self.after;
        let &day = keys.get(row)?;
        let mut last = row;
        while last < keys.len() && keys[last] == day {
            last += 1;
        }
        self.after = last;
        let from = day.saturating_sub(self.days);
        let start = self.first;
        while self.first < last && keys[self.first] <= from {
            self.first += 1;
        }
        Some(Step {
            rows: row..last,
            leave: start..self.first,
        })
    }
}

/// A window key column as `Int64` in one chunk, with no nulls (every prepared row has a key).
fn key_column(column: &Column) -> PolarsResult<Int64Chunked> {
    let keys = column.as_materialized_series().cast(&DataType::Int64)?;
    let keys = keys.i64()?.rechunk();
    polars_ensure!(
        keys.null_count() == 0,
        ComputeError: "window key {} has {} empty values; every row needs one", column.name(), keys.null_count()
    );
    Ok(keys.into_owned())
}

/// Per row, the sum of `values` (or, with `None`, the count of rows) whose key is after
/// `key - days` and at most `key`.
fn sums_over_days(
    keys: &[i64],
    values: Option<&Int64Chunked>,
    days: i64,
) -> PolarsResult<Int64Chunked> {
    let Some(values) = values else {
        return in_key_order(keys, |keys, _| window_sums(keys, |_| Some(1), days));
    };
    let values = values.rechunk();
    if values.null_count() == 0 {
        let values = values.cont_slice()?;
        in_key_order(keys, |keys, order| {
            window_sums(keys, |i| Some(values[at(order, i)]), days)
        })
    } else {
        let values: Vec<Option<i64>> = values.iter().collect();
        in_key_order(keys, |keys, order| {
            window_sums(keys, |i| values[at(order, i)], days)
        })
    }
}

/// One figure per row from a window kernel, in the order of the keys it was given, and the
/// places whose window held no value (their figure is null).
struct Figures {
    values: Vec<i64>,
    empty: Vec<usize>,
}

impl Figures {
    fn into_column(self) -> Int64Chunked {
        if self.empty.is_empty() {
            return Int64Chunked::from_vec(PlSmallStr::EMPTY, self.values);
        }
        let mut with_nulls: Vec<Option<i64>> = self.values.into_iter().map(Some).collect();
        for i in self.empty {
            with_nulls[i] = None;
        }
        with_nulls.into_iter().collect()
    }
}

/// A window kernel's figures in the rows' own order. `kernel(keys, order)` works over the
/// keys sorted ascending, where the row at sorted place `i` is `order[i]` ([`at`]); `order`
/// is `None` when the rows are in key order already, the usual case. Out of order, the rows
/// are put in key order (stable) and the figures put back.
fn in_key_order(
    keys: &[i64],
    kernel: impl FnOnce(&[i64], Option<&[usize]>) -> PolarsResult<Figures>,
) -> PolarsResult<Int64Chunked> {
    if keys.windows(2).all(|w| w[0] <= w[1]) {
        return Ok(kernel(keys, None)?.into_column());
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    let sorted: Vec<i64> = order.iter().map(|&i| keys[i]).collect();
    let figures = kernel(&sorted, Some(&order))?;
    let mut values = vec![0i64; keys.len()];
    for (&v, &i) in figures.values.iter().zip(&order) {
        values[i] = v;
    }
    let empty = figures.empty.iter().map(|&place| order[place]).collect();
    Ok(Figures { values, empty }.into_column())
}

/// The row at sorted place `i` ([`in_key_order`]).
fn at(order: Option<&[usize]>, i: usize) -> usize {
    order.map_or(i, |order| order[i])
}

/// [`sums_over_days`] of keys sorted ascending, the value at place `i` being `value(i)`
/// ([`Steps`]: each row is added and taken off once).
fn window_sums(
    keys: &[i64],
    value: impl Fn(usize) -> Option<i64>,
    days: i64,
) -> PolarsResult<Figures> {
    let n = keys.len();
    let mut sum: i128 = 0;
    // Rows in the window with a value: none, and the window's sum is null.
    let mut present: usize = 0;
    let mut sums: Vec<i64> = Vec::with_capacity(n);
    let mut empty: Vec<usize> = Vec::new();
    for step in Steps::new(keys, days) {
        for i in step.rows.clone() {
            if let Some(x) = value(i) {
                sum += i128::from(x);
                present += 1;
            }
        }
        for i in step.leave {
            if let Some(x) = value(i) {
                sum -= i128::from(x);
                present -= 1;
            }
        }
        let total = i64::try_from(sum).map_err(
            |_| polars_err!(ComputeError: "a window's sum ({sum}) passes the largest whole number a column holds"),
        )?;
        if present == 0 {
            empty.extend(step.rows.clone());
        }
        sums.extend(std::iter::repeat_n(total, step.rows.len()));
    }
    Ok(Figures {
        values: sums,
        empty,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Figures = Vec<Option<i64>>;

    /// `window_sum` and `window_count` of `values` over `keys`, and polars' own
    /// `rolling_sum_by` of the same, as (ours, polars') per column.
    fn both(keys: Vec<i64>, values: Vec<Option<i64>>, days: u32) -> [(Figures, Figures); 2] {
        let frame = df!(c::K => keys, "v" => values).expect("frame");
        let got = frame
            .lazy()
            .with_columns([
                window_sum(col("v"), days).alias("ours"),
                window_count(days).alias("ours_n"),
                col("v")
                    .rolling_sum_by(col(c::K), days_window(days))
                    .alias("polars"),
                col(c::K)
                    .is_not_null()
                    .cast(DataType::Int64)
                    .rolling_sum_by(col(c::K), days_window(days))
                    .alias("polars_n"),
            ])
            .collect()
            .expect("sums");
        let column = |name: &str| -> Vec<Option<i64>> {
            got.column(name)
                .expect(name)
                .i64()
                .expect("i64")
                .iter()
                .collect()
        };
        [
            (column("ours"), column("polars")),
            (column("ours_n"), column("polars_n")),
        ]
    }

    #[test]
    fn a_window_holds_the_days_before_and_every_row_of_its_own_day() {
        // Days 1, 1, 2, 5, 5, 9 with a 4-day window: day 5's window is days 2..=5.
        let keys = vec![1, 1, 2, 5, 5, 9];
        let values = vec![Some(10), Some(20), Some(5), Some(1), Some(2), Some(100)];
        let [(sums, _), (counts, _)] = both(keys, values, 4);
        assert_eq!(
            sums,
            [30, 30, 35, 8, 8, 100].map(Some).to_vec(),
            "the first row of day 1 counts the second; day 5 leaves day 1 out"
        );
        assert_eq!(counts, [2, 2, 3, 3, 3, 1].map(Some).to_vec());
    }

    #[test]
    fn a_window_of_nulls_sums_to_null_and_nulls_add_nothing() {
        let keys = vec![1, 2, 10, 11];
        let values = vec![Some(7), None, None, Some(3)];
        let [(sums, polars), (counts, _)] = both(keys, values, 3);
        assert_eq!(sums, vec![Some(7), Some(7), None, Some(3)]);
        assert_eq!(sums, polars);
        assert_eq!(counts, [1, 2, 1, 2].map(Some).to_vec());
    }

    #[test]
    fn keys_out_of_order_give_each_row_its_own_window() {
        let keys = vec![5, 1, 3, 1];
        let values = vec![Some(1), Some(10), Some(100), Some(1000)];
        let [(sums, polars), (counts, _)] = both(keys, values, 3);
        assert_eq!(sums, [101, 1010, 1110, 1010].map(Some).to_vec());
        assert_eq!(sums, polars);
        assert_eq!(counts, [2, 2, 3, 2].map(Some).to_vec());
    }

    #[test]
    fn distinct_values_are_counted_per_window_with_or_without_the_empty_one() {
        let frame = df!(
            c::K => [1i64, 1, 2, 5, 9],
            "id" => [Some(1u32), Some(1), None, Some(2), Some(1)]
        )
        .expect("frame");
        let got = frame
            .lazy()
            .with_columns([
                window_distinct(col("id"), 4, Nulls::Counted).alias("with"),
                window_distinct(col("id"), 4, Nulls::Ignored).alias("without"),
            ])
            .collect()
            .expect("counts");
        let column = |name: &str| -> Vec<i64> {
            got.column(name)
                .expect(name)
                .i64()
                .expect("i64")
                .into_no_null_iter()
                .collect()
        };
        // Day 5's window is days 2 to 5: the empty value and 2.
        assert_eq!(column("with"), [1, 1, 2, 2, 1]);
        assert_eq!(column("without"), [1, 1, 1, 1, 1]);
    }

    #[test]
    fn a_row_without_a_window_key_is_an_error() {
        let frame = df!(c::K => [Some(1i64), None], "v" => [1i64, 2]).expect("frame");
        for figure in [window_sum(col("v"), 5), window_count(5)] {
            let err = frame
                .clone()
                .lazy()
                .with_column(figure.alias("s"))
                .collect()
                .expect_err("no key");
            assert!(
                err.to_string()
                    .contains("window key k has 1 empty values; every row needs one"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_sum_past_the_largest_whole_number_is_an_error() {
        let frame = df!(c::K => [1i64, 2], "v" => [i64::MAX, 1]).expect("frame");
        let err = frame
            .lazy()
            .with_column(window_sum(col("v"), 5).alias("s"))
            .collect()
            .expect_err("overflow");
        assert!(
            err.to_string().contains("passes the largest whole number"),
            "{err}"
        );
    }

    /// Keys ascending with repeats from (step, value) pairs (a step of 0 is another row the
    /// same day), and their values; reversed, when `shuffle`, so the keys are out of order.
    fn keyed<T>(steps: Vec<(i64, T)>, shuffle: bool) -> (Vec<i64>, Vec<T>) {
        let mut key = 0;
        let mut rows: Vec<(i64, T)> = steps
            .into_iter()
            .map(|(step, v)| {
                key += step;
                (key, v)
            })
            .collect();
        if shuffle {
            rows.reverse();
        }
        rows.into_iter().unzip()
    }

    proptest! {
        #[test]
        fn window_distinct_counts_are_polars_rolling_n_unique(
            steps in proptest::collection::vec((0i64..4, proptest::option::weighted(0.85, 0u32..12)), 1..200),
            days in 1u32..40,
            shuffle in any::<bool>(),
        ) {
            let (keys, ids) = keyed(steps, shuffle);
            let frame = df!(c::K => keys, "id" => ids).expect("frame");
            let got = frame
                .lazy()
                .with_columns([
                    window_distinct(col("id"), days, Nulls::Counted).alias("ours"),
                    window_distinct(col("id"), days, Nulls::Ignored).alias("ours_without"),
                    rolling_agg(col("id").n_unique(), days).cast(DataType::Int64).alias("polars"),
                    rolling_agg(col("id").drop_nulls().n_unique(), days)
                        .cast(DataType::Int64)
                        .alias("polars_without"),
                ])
                .collect();
            // polars' rolling expressions want their keys in order; ours take any order.
            if let Ok(got) = got {
                let column = |name: &str| -> Vec<Option<i64>> {
                    got.column(name).expect(name).i64().expect("i64").iter().collect()
                };
                prop_assert_eq!(column("ours"), column("polars"));
                prop_assert_eq!(column("ours_without"), column("polars_without"));
            } else {
                prop_assert!(shuffle);
            }
        }

        #[test]
        fn window_sums_are_polars_rolling_sums(
            steps in proptest::collection::vec((0i64..4, proptest::option::weighted(0.9, -1_000_000i64..1_000_000)), 1..200),
            days in 1u32..40,
            shuffle in any::<bool>(),
        ) {
            let (keys, values) = keyed(steps, shuffle);
            for (ours, polars) in both(keys, values, days) {
                prop_assert_eq!(ours, polars);
            }
        }
    }
}
