//! The ledger as the rules see it: integer keys and integer pence, built once per run.
//!
//! In: the canonical ledger frame and the case. Out: one row per ledger row that has an
//! amount in the base currency, with the columns below, sorted by account (case order),
//! day and `seq`. Rules compare with thresholds in the base currency, so a row whose
//! `amount_base` is still null (a foreign-currency row not yet converted) cannot be
//! judged: it is left out and counted, and the count is reported with the findings.
//!
//! Why integers: polars' `rolling_*_by` rejects Decimal, and string keys make every
//! sort and partition slow. A window key `k = group * STRIDE + day` puts every account
//! (or subject) on its own stretch of one integer line, far enough apart that no window
//! of up to `MAX_WINDOW_DAYS` ever reaches the next group. One sorted rolling pass over
//! `k` then computes every group's windows at once, with no per-group loop and no
//! `over()` partitioning; the same trick lets forward/backward fills stay inside a group.

use chrono::NaiveDate;
use polars::prelude::*;

use super::keyword_match::KeywordSets;
use super::kind::Context;
use super::reference::Reference;
use crate::case::Case;
use crate::ledger::col as lc;
use crate::ledger::Channel;

/// Distance between groups on the window key line (2^20 days, about 2,870 years).
pub const STRIDE: i64 = 1 << 20;
/// The longest window any rule may use; far below `STRIDE`, so windows never cross groups.
pub const MAX_WINDOW_DAYS: u32 = 3660;

/// Column names of the prepared rows.
pub mod c {
    /// The ledger's `seq` (u64): the link back to every provenance column.
    pub const SEQ: &str = "seq";
    /// Account index in case order (u32).
    pub const ACCT: &str = "acct";
    /// Booking date as days since 1970-01-01 (i64).
    pub const DAY: &str = "day";
    /// Window key: group index × STRIDE + day (i64).
    pub const K: &str = "k";
    /// `amount_base` in pence (i64), signed: + money in, − money out.
    pub const PENCE: &str = "pence";
    /// The channel as a small integer code (u32): [`super::channel_code`], [`super::channel_in`].
    pub const CHANNEL: &str = "channel";
    pub const COUNTERPARTY: &str = "counterparty_name";
    pub const COUNTERPARTY_ACCOUNT: &str = "counterparty_account";
    pub const DESCRIPTION: &str = "description";
    pub const LOCATION: &str = "location";
    /// The named person on the case side of a money transfer (sender of a send).
    pub const PARTY_NAME: &str = "party_name";
    pub const PARTY_ADDRESS: &str = "party_address";
    pub const PARTY_ID: &str = "party_id";
    /// The other side's country, where the record gives it (money transfers).
    pub const COUNTERPARTY_COUNTRY: &str = "counterparty_country";
    /// Subject index (u32), present only after [`super::by_subject`].
    pub const SUBJ: &str = "subj";
}

/// The prepared rows and what was left out.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub rows: DataFrame,
    /// Ledger rows left out because `amount_base` is null.
    pub without_base_amount: usize,
}

/// Build the prepared rows. Fails only on our own bugs or a ledger that does not match
/// the case (an account the case does not declare).
pub fn prepare(ledger: &DataFrame, case: &Case) -> PolarsResult<Prepared> {
    let without_base_amount = ledger.column(lc::AMOUNT_BASE)?.null_count();
    let mut base = ledger.clone().lazy();
    // Usually every row has its base amount, and a filter would only copy every column.
    if without_base_amount > 0 {
        base = base.filter(col(lc::AMOUNT_BASE).is_not_null());
    }
    let mut base = base
        .select([
            col(lc::SEQ),
            col(lc::ACCOUNT_ID),
            col(lc::BOOKING_DATE)
                .cast(DataType::Int32)
                .cast(DataType::Int64)
                .alias(c::DAY),
            col(lc::AMOUNT_BASE).alias(c::PENCE),
            col(lc::CHANNEL),
            col(lc::COUNTERPARTY_NAME),
            col(lc::COUNTERPARTY_ACCOUNT),
            col(lc::DESCRIPTION),
            col(lc::LOCATION),
            col(lc::PARTY_NAME),
            col(lc::PARTY_ADDRESS),
            col(lc::PARTY_ID),
            col(lc::COUNTERPARTY_COUNTRY),
        ])
        .collect()?;
    if !base
        .column(lc::SEQ)?
        .as_materialized_series()
        .is_sorted(SortOptions::default())?
    {
        base = base.sort([lc::SEQ], SortMultipleOptions::default())?;
    }
    // Rows of one account are contiguous in a canonical ledger, so the account key is
    // looked up once per run of rows (a few thousand strings), in one walk down the column.
    let index = case.account_positions();
    // The account keys on one thread, pence and channel codes on another: three walks down
    // ten million rows, independent of each other.
    let accounts_of_rows = || -> PolarsResult<Series> {
        let mut account_of_row: Vec<u32> = Vec::with_capacity(base.height());
        let mut current: Option<(&str, u32)> = None;
        for id in base.column(lc::ACCOUNT_ID)?.str()?.iter() {
            let id = id.unwrap_or_default();
            let i = match current {
                Some((run, i)) if run == id => i,
                _ => {
                    let Some(&i) = index.get(id) else {
                        polars_bail!(ComputeError: "the ledger has rows for account {id:?}, which the case does not declare")
                    };
                    current = Some((id, i));
                    i
                }
            };
            account_of_row.push(i);
        }
        Ok(UInt32Chunked::from_vec(c::ACCT.into(), account_of_row).into_series())
    };
    let money_and_channels = || -> PolarsResult<(Int64Chunked, UInt32Chunked)> {
        Ok((
            pence_of(base.column(c::PENCE)?)?,
            channel_codes(base.column(lc::CHANNEL)?.str()?)?,
        ))
    };
    let (acct, money) = std::thread::scope(|scope| {
        let other = scope.spawn(money_and_channels);
        let acct = accounts_of_rows();
        // A panic there is a bug: pass it on, as `crate::parallel` does.
        let money = other
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (acct, money)
    });
    let (acct, (pence, channel)) = (acct?, money?);
    let mut rows = base;
    rows.with_column(acct.into_column())?;
    rows.with_column(channel.into_column())?;
    rows.with_column(pence.into_column())?;
    let rows = rows
        .lazy()
        .with_column((col(c::ACCT).cast(DataType::Int64) * lit(STRIDE) + col(c::DAY)).alias(c::K))
        .drop(cols([lc::ACCOUNT_ID]))
        .collect()?;
    // A canonical ledger (account in case order, then date; `seq` numbers that order) is
    // now sorted by `k` too. Anything else is sorted explicitly.
    let k_sorted = rows
        .column(c::K)?
        .as_materialized_series()
        .is_sorted(SortOptions::default())?;
    let rows = if k_sorted {
        rows
    } else {
        rows.sort([c::K, lc::SEQ], SortMultipleOptions::default())?
    };
    // One contiguous chunk per number column: every rule scans these again. The text
    // columns stay as they came (a ledger read from parquet comes in dozens of chunks):
    // only a few rules read them, after filtering the rows down, and copying every text
    // column of every row into one chunk costs more than all those rules together.
    let columns = rows
        .columns()
        .iter()
        .map(|column| match column.dtype() {
            DataType::String => column.clone(),
            _ => column.rechunk(),
        })
        .collect::<Vec<Column>>();
    let rows = DataFrame::new(rows.height(), columns)?;
    Ok(Prepared {
        rows,
        without_base_amount,
    })
}

/// The code of a channel in the prepared rows' `channel` column: its place in
/// [`Channel::ALL`]. Rules filter on channels all the time; a number is compared
/// and carried through joins far more cheaply than the channel's name.
pub fn channel_code(channel: Channel) -> u32 {
    Channel::ALL
        .iter()
        .position(|&c| c == channel)
        .map_or(u32::MAX, |i| i as u32)
}

/// True where a prepared row's channel is one of `channels`.
pub fn channel_in(channels: &[Channel]) -> Expr {
    // A few comparisons with a constant, not a hash lookup per row: `is_in` looked each of
    // ten million codes up in a hash set, for every rule that filters on channels.
    let mut codes: Vec<u32> = channels.iter().map(|&c| channel_code(c)).collect();
    codes.sort_unstable();
    codes.dedup();
    codes
        .into_iter()
        .map(|code| col(c::CHANNEL).eq(lit(code)))
        .reduce(Expr::or)
        .unwrap_or(lit(false))
}

/// True where a prepared row's account is one of `accounts` (indices into the case's
/// accounts). Read off a table with one entry per account index, not looked up in a hash
/// set per row; an account beyond the table is not one of them. The table is read here
/// rather than gathered by polars: a gather of booleans builds its result a row at a time,
/// three times slower over ten million rows.
pub fn account_in(accounts: &[u32]) -> Expr {
    let Some(&last) = accounts.iter().max() else {
        return lit(false);
    };
    let mut table = vec![false; last as usize + 1];
    for &a in accounts {
        table[a as usize] = true;
    }
    let listed = move |a: u32| table.get(a as usize).copied().unwrap_or(false);
    col(c::ACCT).map(
        move |column: Column| {
            let ids = column.as_materialized_series().cast(&DataType::UInt32)?;
            let ids = ids.u32()?;
            let mut mask: BooleanChunked = if ids.null_count() == 0 {
                ids.into_no_null_iter().map(&listed).collect()
            } else {
                ids.iter().map(|a| a.is_some_and(&listed)).collect()
            };
            mask.rename(column.name().clone());
            Ok(mask.into_series().into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::Boolean)),
    )
}

/// A money column (`Decimal`, scale at most 2, no nulls: the rows without one are left out
/// before) as whole pence, read off its integers rather than multiplied and cast as decimals.
fn pence_of(money: &Column) -> PolarsResult<Int64Chunked> {
    let decimal = money.decimal()?;
    let scale = decimal.scale();
    polars_ensure!(scale <= 2, ComputeError: "column {} has {scale} decimal places; amounts have at most 2", money.name());
    let factor = 10i128.pow(2 - scale as u32);
    let mut pence: Vec<i64> = Vec::with_capacity(decimal.len());
    for value in decimal.physical().iter() {
        let Some(value) = value else {
            polars_bail!(ComputeError: "column {} has an empty amount among the rows kept", money.name())
        };
        let Some(p) = value
            .checked_mul(factor)
            .and_then(|p| i64::try_from(p).ok())
        else {
            polars_bail!(ComputeError: "amount {value} (scale {scale}) in column {} is out of range", money.name())
        };
        pence.push(p);
    }
    Ok(Int64Chunked::from_vec(c::PENCE.into(), pence))
}

/// The ledger's channel names as [`channel_code`]s. Ingest writes only the names of
/// [`Channel::ALL`]; any other value (or none) is a ledger this build did not make.
fn channel_codes(names: &StringChunked) -> PolarsResult<UInt32Chunked> {
    let mut codes: Vec<u32> = Vec::with_capacity(names.len());
    let mut last: Option<(&str, u32)> = None;
    for name in names.iter() {
        let code = match (name, last) {
            (Some(name), Some((seen, code))) if seen == name => code,
            (Some(name), _) => {
                let Some(channel) = Channel::ALL.iter().find(|c| c.as_str() == name) else {
                    polars_bail!(ComputeError: "the ledger has a row with channel {name:?}; the channels are {}", Channel::ALL.map(|c| c.as_str()).join(", "))
                };
                let code = channel_code(*channel);
                last = Some((name, code));
                code
            }
            (None, _) => {
                polars_bail!(ComputeError: "the ledger has a row with no channel")
            }
        };
        codes.push(code);
    }
    Ok(UInt32Chunked::from_vec(c::CHANNEL.into(), codes))
}

/// The accounts with at least one row where `condition` holds, ascending. A cheap first
/// sieve for a rule that can only fire on such a row: its costlier steps then read the rows
/// of those accounts alone ([`account_in`]).
pub fn accounts_where(rows: LazyFrame, condition: Expr) -> PolarsResult<Vec<u32>> {
    let found = rows
        .filter(condition)
        .select([col(c::ACCT)])
        .unique(None, UniqueKeepStrategy::Any)
        .collect()?;
    let mut accounts: Vec<u32> = found.column(c::ACCT)?.u32()?.iter().flatten().collect();
    accounts.sort_unstable();
    Ok(accounts)
}

/// The rows of the accounts that `accounts` lists (a plan with an `acct` column, run here),
/// in their order. A filter rather than a semi join: the join would first copy each column
/// it carries, text included, into one chunk for every row of every account.
pub fn rows_of_accounts(rows: LazyFrame, accounts: LazyFrame) -> PolarsResult<LazyFrame> {
    let accounts = accounts.select([col(c::ACCT)]).collect()?;
    let listed: Vec<u32> = accounts.column(c::ACCT)?.u32()?.iter().flatten().collect();
    Ok(rows.filter(account_in(&listed)))
}

/// Column holding each row's keyword-list bit mask (u64) while [`add_keyword_columns`] works.
pub const KEYWORDS: &str = "_kw";

/// Match every distinct keyword list in `lists` against the rows' counterparty names and
/// narratives in one pass ([`KeywordSets`]), adding one boolean column per list
/// (`_kw0`, `_kw1`, ...). Returns each list with its column, for
/// [`Context::keyword_columns`]. Lists beyond [`KeywordSets::MAX`] are left to their rules.
///
/// The pass writes a bit mask per row ([`KeywordSets::mask_column`]); each list's column is
/// then read off its bit by polars' vectorised kernels ([`keyword_bit`]) and the mask dropped.
/// Collecting each boolean column from the masks row by row was 6% of detect at 10M rows.
pub fn add_keyword_columns(
    rows: &mut DataFrame,
    lists: &[Vec<String>],
) -> PolarsResult<Vec<(Vec<String>, String)>> {
    let mut distinct: Vec<Vec<String>> = Vec::new();
    for list in lists {
        if !distinct.contains(list) && distinct.len() < KeywordSets::MAX {
            distinct.push(list.clone());
        }
    }
    if distinct.is_empty() || rows.height() == 0 {
        return Ok(Vec::new());
    }
    let sets = KeywordSets::new(&distinct)
        .map_err(|e| polars_err!(ComputeError: "keyword list cannot be compiled: {e}"))?;
    let masks = sets.mask_column(
        rows.column(c::COUNTERPARTY)?.str()?,
        rows.column(c::DESCRIPTION)?.str()?,
        KEYWORDS.into(),
    )?;
    let names: Vec<String> = (0..distinct.len()).map(|i| format!("_kw{i}")).collect();
    let columns = DataFrame::new(masks.len(), vec![masks])?
        .lazy()
        .select(
            names
                .iter()
                .zip(0..)
                .map(|(name, bit)| keyword_bit(bit).alias(name.as_str()))
                .collect::<Vec<_>>(),
        )
        .collect()?;
    for column in columns.columns() {
        rows.with_column(column.clone())?;
    }
    Ok(distinct.into_iter().zip(names).collect())
}

/// True where a prepared row holds a keyword of the list with bit `bit` of [`KEYWORDS`].
pub fn keyword_bit(bit: u32) -> Expr {
    col(KEYWORDS).and(lit(1u64 << bit)).neq(lit(0u64))
}

/// The context shared by every rule of a run.
pub fn context<'a>(case: &'a Case, reference: &'a Reference) -> PolarsResult<Context<'a>> {
    let subject_ids: Vec<String> = case.subjects.iter().map(|s| s.id.clone()).collect();
    let index: std::collections::HashMap<&str, usize> = subject_ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut acct_col = Vec::new();
    let mut subj_col = Vec::new();
    for (i, a) in case.accounts.iter().enumerate() {
        for s in &a.controlled_by {
            if let Some(&j) = index.get(s.as_str()) {
                acct_col.push(i as u32);
                subj_col.push(j as u32);
            }
        }
    }
    // Addresses and phone numbers shared by two or more subjects: the accounts those
    // subjects hold or control are taken together under `per = "address"` / `"phone"`.
    let (addresses, account_addresses) = shared_by(case, |s| {
        s.address
            .as_deref()
            .map(normalise_address)
            .filter(|a| !a.is_empty())
    })?;
    let (phones, account_phones) = shared_by(case, |s| {
        s.phone.as_deref().and_then(crate::case::phone_key)
    })?;
    Ok(Context {
        case,
        reference,
        addresses,
        account_addresses,
        phones,
        account_phones,
        legitimate_credits: Vec::new(),
        account_ids: case.accounts.iter().map(|a| a.id.clone()).collect(),
        controllers: case
            .accounts
            .iter()
            .map(|a| a.controlled_by.join(";"))
            .collect(),
        subject_ids,
        account_subjects: df!(c::ACCT => acct_col, c::SUBJ => subj_col)?,
        keyword_columns: Vec::new(),
    })
}

/// The values (by `key`) that two or more subjects share, each with its subjects, and the
/// accounts those subjects hold or control: `acct` (u32) → `subj` (u32, the index of the
/// shared value), one row per shared value whose subjects control the account.
fn shared_by(
    case: &Case,
    key: impl Fn(&crate::case::Subject) -> Option<String>,
) -> PolarsResult<(Vec<SharedContact>, DataFrame)> {
    let mut by_value: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (j, s) in case.subjects.iter().enumerate() {
        if let Some(v) = key(s) {
            by_value.entry(v).or_default().push(j);
        }
    }
    let mut shared = Vec::new();
    let mut acct_col = Vec::new();
    let mut value_col = Vec::new();
    for (value, subjects) in by_value.into_iter().filter(|(_, s)| s.len() >= 2) {
        let v = shared.len() as u32;
        let ids: Vec<&str> = subjects
            .iter()
            .map(|&j| case.subjects[j].id.as_str())
            .collect();
        for (i, acct) in case.accounts.iter().enumerate() {
            if acct.controlled_by.iter().any(|s| ids.contains(&s.as_str())) {
                acct_col.push(i as u32);
                value_col.push(v);
            }
        }
        shared.push(SharedContact {
            value,
            subjects: ids.join(";"),
        });
    }
    Ok((shared, df!(c::ACCT => acct_col, c::SUBJ => value_col)?))
}

/// An address as compared: upper-case letters and digits, runs of anything else one space.
pub fn normalise_address(address: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for ch in address.chars() {
        if ch.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(ch.to_uppercase());
        } else {
            gap = true;
        }
    }
    out
}

/// An address or phone number two or more case subjects share, and who they are.
#[derive(Debug, Clone)]
pub struct SharedContact {
    /// As compared: an address by [`normalise_address`], a phone number by
    /// [`crate::case::phone_key`].
    pub value: String,
    /// Subject ids, `;`-separated.
    pub subjects: String,
}

/// Re-key rows by shared address: one copy of each row per shared address whose subjects
/// hold or control its account (see [`Context::addresses`]); like [`by_subject`], with the
/// address index in `subj`.
pub fn by_address(rows: LazyFrame, ctx: &Context<'_>) -> LazyFrame {
    regroup(rows, &ctx.account_addresses)
}

/// Re-key rows by shared phone number: one copy of each row per shared phone number whose
/// subjects hold or control its account (see [`Context::phones`]); like [`by_address`].
pub fn by_phone(rows: LazyFrame, ctx: &Context<'_>) -> LazyFrame {
    regroup(rows, &ctx.account_phones)
}

/// Re-key rows by controlling subject: one copy of each row per subject controlling its
/// account (rows of accounts nobody controls drop out), `k` = subject × STRIDE + day,
/// sorted by `k` then `seq`.
pub fn by_subject(rows: LazyFrame, ctx: &Context<'_>) -> LazyFrame {
    regroup(rows, &ctx.account_subjects)
}

/// The accounts of the groups in `map` (`acct` → `subj`, as [`by_subject`], [`by_address`]
/// and [`by_phone`] use) that hold at least `n` different accounts, ascending: a window of a
/// smaller group can never hold `n` accounts.
pub fn accounts_of_groups_of_at_least(map: &DataFrame, n: u32) -> PolarsResult<Vec<u32>> {
    let accts = map.column(c::ACCT)?.u32()?;
    let groups = map.column(c::SUBJ)?.u32()?;
    let mut members: std::collections::BTreeMap<u32, std::collections::BTreeSet<u32>> =
        std::collections::BTreeMap::new();
    for (a, g) in accts.iter().zip(groups.iter()) {
        if let (Some(a), Some(g)) = (a, g) {
            members.entry(g).or_default().insert(a);
        }
    }
    let mut out: Vec<u32> = members
        .into_values()
        .filter(|m| m.len() >= n as usize)
        .flatten()
        .collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// One copy of each row per group its account belongs to (`acct` → `subj` in `map`), keyed
/// `k` = group × STRIDE + day and sorted by `k` then `seq`.
fn regroup(rows: LazyFrame, map: &DataFrame) -> LazyFrame {
    rows.join(
        map.clone().lazy(),
        [col(c::ACCT)],
        [col(c::ACCT)],
        JoinArgs::new(JoinType::Inner),
    )
    .with_column((col(c::SUBJ).cast(DataType::Int64) * lit(STRIDE) + col(c::DAY)).alias(c::K))
    .sort([c::K, c::SEQ], SortMultipleOptions::default())
}

/// Days since 1970-01-01 → date.
pub fn date_of_day(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN) + chrono::Duration::days(day)
}

/// Date → days since 1970-01-01.
pub fn day_of_date(date: NaiveDate) -> i64 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN);
    (date - epoch).num_days()
}

/// Upper-case letters and digits (any script), runs of anything else as one space, trimmed: the key
/// counterparty names are compared on (`J. Smith ` and `J SMITH` are the same sender).
/// Where a row has no counterparty name, its narrative is used instead.
///
/// Each distinct text is normalised once ([`normalised_names`]): a column holds far fewer
/// names than rows.
pub fn normalised_counterparty() -> Expr {
    col(c::COUNTERPARTY).fill_null(col(c::DESCRIPTION)).map(
        |c: Column| {
            let texts = c.as_materialized_series().str()?.clone();
            Ok(normalised_names(&texts)?.into_series().into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::String)),
    )
}

/// A number for each distinct text of `texts` (`UInt32`, numbered in order of first
/// appearance; null stays null), for counting distinct names in rolling windows: counting
/// numbers is cheaper than comparing texts, and equal numbers mean equal texts.
pub fn text_ids(texts: Expr) -> Expr {
    texts.map(
        |c: Column| {
            let texts = c.as_materialized_series().str()?.clone();
            let (ids, _) = distinct_texts(&texts);
            let mut ids: UInt32Chunked = ids.into_iter().collect();
            ids.rename(texts.name().clone());
            Ok(ids.into_series().into_column())
        },
        |_, field| Ok(Field::new(field.name().clone(), DataType::UInt32)),
    )
}

/// Each row's number among the distinct texts of `texts` (null stays null), and those
/// texts in order of first appearance.
fn distinct_texts(texts: &StringChunked) -> (Vec<Option<u32>>, Vec<&str>) {
    let mut seen: foldhash::HashMap<&str, u32> = foldhash::HashMap::default();
    let mut distinct: Vec<&str> = Vec::new();
    let ids = texts
        .iter()
        .map(|t| {
            t.map(|t| {
                *seen.entry(t).or_insert_with(|| {
                    distinct.push(t);
                    (distinct.len() - 1) as u32
                })
            })
        })
        .collect();
    (ids, distinct)
}

/// Letters and digits of any script: what is not one of them separates words.
const NOT_LETTER_OR_DIGIT: &str = r"[^\p{L}\p{N}]+";

/// [`normalised_counterparty`] of a column of texts (null stays null), each distinct text
/// worked out once.
pub fn normalised_names(texts: &StringChunked) -> PolarsResult<StringChunked> {
    let separators = regex::Regex::new(NOT_LETTER_OR_DIGIT)
        .map_err(|e| polars_err!(ComputeError: "the name pattern cannot be compiled: {e}"))?;
    let (ids, distinct) = distinct_texts(texts);
    let keys: Vec<String> = distinct
        .into_iter()
        .map(|text| normalised_name(text, &separators))
        .collect();
    let mut column: StringChunked = ids
        .into_iter()
        .map(|i| i.map(|i| keys[i as usize].as_str()))
        .collect();
    column.rename(texts.name().clone());
    Ok(column)
}

/// One text's key: upper case; every run of characters that are not letters or digits
/// (Unicode categories L and N) becomes one space; no space at either end. ASCII text is
/// done byte by byte; other text by the regex `[^\p{L}\p{N}]+`, to the same rule.
pub fn normalised_name(text: &str, separators: &regex::Regex) -> String {
    if text.is_ascii() {
        let mut key = String::with_capacity(text.len());
        let mut gap = false;
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() {
                if gap && !key.is_empty() {
                    key.push(' ');
                }
                gap = false;
                key.push(b.to_ascii_uppercase() as char);
            } else {
                gap = true;
            }
        }
        return key;
    }
    let upper = text.to_uppercase();
    separators.replace_all(&upper, " ").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_become_their_codes_and_a_channel_no_build_writes_is_refused() {
        let names = StringChunked::new(
            "channel".into(),
            ["transfer", "transfer", "cash_deposit", "other", "transfer"],
        );
        let codes = channel_codes(&names).expect("known channels");
        let codes: Vec<Option<u32>> = codes.iter().collect();
        assert_eq!(codes, [Some(2), Some(2), Some(0), Some(11), Some(2)]);
        assert_eq!(channel_code(Channel::Transfer), 2);
        for (i, channel) in Channel::ALL.iter().enumerate() {
            assert_eq!(channel_code(*channel), i as u32);
        }

        let odd = StringChunked::new("channel".into(), ["transfer", "wire"]);
        let err = channel_codes(&odd)
            .expect_err("unknown channel")
            .to_string();
        assert!(err.contains("\"wire\""), "{err}");
        assert!(
            err.contains("cash_deposit, cash_withdrawal, transfer"),
            "{err}"
        );

        let none = StringChunked::new("channel".into(), [Some("card"), None]);
        let err = channel_codes(&none)
            .expect_err("missing channel")
            .to_string();
        assert!(err.contains("no channel"), "{err}");
    }

    #[test]
    fn money_becomes_whole_pence_from_its_integers() {
        let money = |values: Vec<Option<i128>>, scale: usize| -> Column {
            Int128Chunked::from_iter_options("amount_base".into(), values.into_iter())
                .into_decimal(38, scale)
                .expect("decimal")
                .into_series()
                .into_column()
        };
        let pence = |column: &Column| -> Vec<Option<i64>> {
            pence_of(column).expect("pence").iter().collect()
        };
        // 123.45, -0.07, 0.00 at scale 2; 12.3 and -4.0 at scale 1.
        let two = money(vec![Some(12345), Some(-7), Some(0)], 2);
        assert_eq!(pence(&two), [Some(12345), Some(-7), Some(0)]);
        let one = money(vec![Some(123), Some(-40)], 1);
        assert_eq!(pence(&one), [Some(1230), Some(-400)]);

        let huge = money(vec![Some(i128::from(i64::MAX) + 1)], 2);
        let err = pence_of(&huge).expect_err("out of range").to_string();
        assert!(err.contains("out of range"), "{err}");
        let empty = money(vec![Some(1), None], 2);
        let err = pence_of(&empty).expect_err("empty").to_string();
        assert!(err.contains("empty amount"), "{err}");
    }

    #[test]
    fn keyword_bit_reads_one_list_of_the_mask() {
        let rows = DataFrame::new(
            4,
            vec![
                Column::new(KEYWORDS.into(), [0b000u64, 0b101, 0b010, 1 << 63]),
                Column::new("n".into(), [1i64, 2, 3, 4]),
            ],
        )
        .expect("frame");
        let kept = |bit: u32| -> Vec<Option<i64>> {
            let kept = rows
                .clone()
                .lazy()
                .filter(keyword_bit(bit))
                .collect()
                .expect("filter");
            kept.column("n")
                .expect("n")
                .i64()
                .expect("i64")
                .iter()
                .collect()
        };
        assert_eq!(kept(0), [Some(2)]);
        assert_eq!(kept(1), [Some(3)]);
        assert_eq!(kept(2), [Some(2)]);
        assert_eq!(kept(3), []);
        assert_eq!(kept(63), [Some(4)]);
    }

    #[test]
    fn channel_in_keeps_the_rows_of_the_channels_named() {
        let names = StringChunked::new("channel".into(), ["card", "transfer", "msb_send", "fee"]);
        let rows = DataFrame::new(
            4,
            vec![
                channel_codes(&names)
                    .expect("known")
                    .into_series()
                    .into_column(),
                Column::new("n".into(), [1i64, 2, 3, 4]),
            ],
        )
        .expect("frame");
        let kept = rows
            .lazy()
            .filter(channel_in(&[Channel::Transfer, Channel::Fee]))
            .collect()
            .expect("filter");
        let n: Vec<Option<i64>> = kept
            .column("n")
            .expect("n")
            .i64()
            .expect("i64")
            .iter()
            .collect();
        assert_eq!(n, [Some(2), Some(4)]);
    }

    #[test]
    fn names_are_normalised_as_polars_string_functions_would() {
        let texts = [
            Some("J. Smith "),
            Some("J SMITH"),
            Some("  --ACME  Ltd.--"),
            Some("a\tb\n c"),
            Some("   "),
            Some(""),
            None,
            Some("Zoë O'Brien"),
            Some("straße 12"),
            Some("Cafe\u{301} Noir"),
            Some("\u{661}\u{662} مرحبا"),
            Some("ǅemal"),
            Some("J. Smith "),
        ];
        let frame = DataFrame::new(
            texts.len(),
            vec![
                Column::new(c::COUNTERPARTY.into(), texts),
                Column::new(
                    c::DESCRIPTION.into(),
                    vec![Some("narrative, here"); texts.len()],
                ),
            ],
        )
        .expect("frame");
        // The same rule written with polars' own string functions.
        let by_polars = col(c::COUNTERPARTY)
            .fill_null(col(c::DESCRIPTION))
            .str()
            .to_uppercase()
            .str()
            .replace_all(lit(NOT_LETTER_OR_DIGIT), lit(" "), false)
            .str()
            .strip_chars(lit(NULL));
        let out = frame
            .lazy()
            .select([
                normalised_counterparty().alias("ours"),
                by_polars.alias("polars"),
            ])
            .collect()
            .expect("normalise");
        let ours: Vec<Option<String>> = out
            .column("ours")
            .expect("ours")
            .str()
            .expect("str")
            .iter()
            .map(|s| s.map(str::to_string))
            .collect();
        let theirs: Vec<Option<String>> = out
            .column("polars")
            .expect("polars")
            .str()
            .expect("str")
            .iter()
            .map(|s| s.map(str::to_string))
            .collect();
        assert_eq!(ours, theirs);
        let some = |s: &str| Some(s.to_string());
        assert_eq!(ours[0], some("J SMITH"));
        assert_eq!(ours[1], some("J SMITH"));
        assert_eq!(ours[2], some("ACME LTD"));
        assert_eq!(ours[3], some("A B C"));
        assert_eq!(ours[4], some(""));
        assert_eq!(ours[6], some("NARRATIVE HERE"));
        assert_eq!(ours[7], some("ZOË O BRIEN"));
        assert_eq!(ours[8], some("STRASSE 12"));
        // A combining accent is a mark, not a letter: it separates, as the regex says.
        assert_eq!(ours[9], some("CAFE NOIR"));
    }

    #[test]
    fn only_groups_with_enough_accounts_are_kept() {
        // Subject 0 controls accounts 3, 1 and 5 (5 twice, as by two routes); subject 1
        // controls 2; subject 2 controls 1 and 4.
        let map = df!(
            c::ACCT => [3u32, 1, 5, 5, 2, 1, 4],
            c::SUBJ => [0u32, 0, 0, 0, 1, 2, 2]
        )
        .expect("map");
        assert_eq!(
            accounts_of_groups_of_at_least(&map, 3).expect("groups"),
            [1, 3, 5]
        );
        assert_eq!(
            accounts_of_groups_of_at_least(&map, 2).expect("groups"),
            [1, 3, 4, 5]
        );
        assert_eq!(
            accounts_of_groups_of_at_least(&map, 1).expect("groups"),
            [1, 2, 3, 4, 5]
        );
        assert!(accounts_of_groups_of_at_least(&map, 4)
            .expect("groups")
            .is_empty());
    }

    #[test]
    fn accounts_where_names_each_account_with_a_row_once_in_order() {
        let rows = df!(
            c::ACCT => [5u32, 3, 5, 1, 3, 2],
            c::PENCE => [100i64, -20, 700, 50, 900, -5]
        )
        .expect("rows");
        let found = |limit: i64| {
            accounts_where(rows.clone().lazy(), col(c::PENCE).gt_eq(lit(limit))).expect("sieve")
        };
        assert_eq!(found(100), [3, 5]);
        assert_eq!(found(0), [1, 3, 5]);
        assert_eq!(found(-100), [1, 2, 3, 5]);
        assert!(found(1_000).is_empty());
    }

    #[test]
    fn account_in_keeps_the_accounts_listed_and_no_other() {
        let rows = df!(
            c::ACCT => [0u32, 3, 1, 7, 3, 2],
            "n" => [1i64, 2, 3, 4, 5, 6]
        )
        .expect("rows");
        let kept_by = |filter: Expr| -> Vec<i64> {
            rows.clone()
                .lazy()
                .filter(filter)
                .collect()
                .expect("filter")
                .column("n")
                .expect("n")
                .i64()
                .expect("i64")
                .into_no_null_iter()
                .collect()
        };
        let kept = |accounts: &[u32]| kept_by(account_in(accounts));
        // Account 7 lies beyond the table of a list whose highest account is 3.
        assert_eq!(kept(&[3, 1]), [2, 3, 5]);
        assert_eq!(kept(&[7]), [4]);
        assert_eq!(kept(&[2, 2, 0]), [1, 6]);
        assert!(kept(&[]).is_empty());
        assert_eq!(kept_by(account_in(&[3]).not()), [1, 3, 4, 6]);
        // A row with no account is in no list.
        let with_none = df!(c::ACCT => [Some(0u32), None], "n" => [1i64, 2]).expect("rows");
        let listed = with_none
            .lazy()
            .select([account_in(&[0]).alias("listed")])
            .collect()
            .expect("select");
        let listed: Vec<Option<bool>> = listed
            .column("listed")
            .expect("listed")
            .bool()
            .expect("bool")
            .iter()
            .collect();
        assert_eq!(listed, [Some(true), Some(false)]);
    }

    #[test]
    fn equal_texts_get_equal_numbers_and_null_stays_null() {
        let frame =
            df!("t" => [Some("B"), None, Some("A"), Some("B"), Some("b"), None]).expect("frame");
        let ids: Vec<Option<u32>> = frame
            .lazy()
            .select([text_ids(col("t"))])
            .collect()
            .expect("ids")
            .column("t")
            .expect("t")
            .u32()
            .expect("u32")
            .iter()
            .collect();
        assert_eq!(ids, [Some(0), None, Some(1), Some(0), Some(2), None]);
    }
}
