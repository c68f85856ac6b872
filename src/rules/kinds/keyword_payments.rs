//! `keyword_payments`: repeated payments to (or from) a kind of payee recognised by a
//! keyword list — accommodation, adult or classified advertising, travel, pay and benefits.
//!
//! The keyword lists are data in `rules/lists/keywords_*.txt` (built in), one keyword per
//! line, each with its source and date in the file's header. A row matches when one of the
//! list's keywords, or of the rule's `extra_keywords`, appears as a whole word in its
//! counterparty name or narrative, ignoring case. Per account, the window of `window_days`
//! days ending on each matching row fires when it holds enough matching rows, enough
//! different payees and enough money. What a keyword match shows is the payee's trade as the
//! bank wrote its name, not what was bought or for whom.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::round_amounts::{magnitude, Direction};
use crate::ledger::Channel;
use crate::rules::keyword_match::KeywordMatcher;
use crate::rules::kind::{i64s, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::{
    account_in, accounts_of_groups_of_at_least, by_address, by_phone, by_subject, c,
    normalised_counterparty, text_ids,
};
use crate::rules::window::{
    count_and_total, episodes, group_of_k, window_distinct, Nulls, EPISODE, FIRES, W_COUNT, W_TOTAL,
};

/// The shipped keyword lists: (name used in rule files, text).
#[rustfmt::skip]
pub const KEYWORD_LISTS: &[(&str, &str)] = &[
    ("accommodation", include_str!("../../../rules/lists/keywords_accommodation.txt")),
    ("adult_advertising", include_str!("../../../rules/lists/keywords_adult_advertising.txt")),
    ("travel", include_str!("../../../rules/lists/keywords_travel.txt")),
    ("wages_benefits", include_str!("../../../rules/lists/keywords_wages_benefits.txt")),
];

/// The keywords of a shipped list (upper case), or `None` for an unknown list.
pub fn keywords(list: &str) -> Option<Vec<String>> {
    KEYWORD_LISTS
        .iter()
        .find(|(n, _)| *n == list)
        .map(|(_, text)| {
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_uppercase)
                .collect()
        })
}

/// Check a list name and extra keywords; the error says which lists exist.
pub fn check_list(key: &str, list: &str, extra: &[String]) -> Result<(), ParamError> {
    ensure(
        keywords(list).is_some(),
        key,
        format!("{list:?}"),
        "the name of a shipped keyword list: accommodation, adult_advertising, travel, wages_benefits",
    )?;
    ensure(
        extra.len() <= 500 && extra.iter().all(|k| !k.trim().is_empty()),
        "extra_keywords",
        format!("{extra:?}"),
        "a list of up to 500 non-empty words or phrases",
    )
}

/// Whether a row's counterparty name or narrative holds one of `words` as a whole word,
/// ignoring case ([`KeywordMatcher`]): the run's column for the list where it has matched
/// the list already ([`Context::keyword_columns`]), else the matching itself.
pub fn matches_keywords(ctx: &Context<'_>, words: &[String]) -> PolarsResult<Expr> {
    if let Some((_, name)) = ctx.keyword_columns.iter().find(|(w, _)| w == words) {
        return Ok(col(name.as_str()));
    }
    let matcher = KeywordMatcher::new(words)
        .map_err(|e| polars_err!(ComputeError: "keyword list cannot be compiled: {e}"))?;
    Ok(matcher
        .clone()
        .expr(c::COUNTERPARTY)
        .or(matcher.expr(c::DESCRIPTION)))
}

/// Every keyword of `list` plus `extra` (upper case, no duplicates).
pub fn all_keywords(list: &str, extra: &[String]) -> Vec<String> {
    let mut words = keywords(list).unwrap_or_default();
    words.extend(extra.iter().map(|w| w.trim().to_uppercase()));
    words.sort();
    words.dedup();
    words
}

/// The kind.
pub struct KeywordPayments;

/// Whose rows are counted together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// Each account on its own.
    Account,
    /// All the accounts one subject controls, per the case file.
    Subject,
    /// All the accounts held or controlled by subjects who share an address (the case
    /// file's subject `address`; only addresses two or more subjects share).
    Address,
    /// All the accounts held or controlled by subjects who share a phone number (the case
    /// file's subject `phone`, compared by [`crate::case::phone_key`]; only numbers two or
    /// more subjects share).
    Phone,
}

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub list: String,
    pub extra_keywords: Vec<String>,
    pub direction: Direction,
    pub min_amount: Money,
    pub window_days: u32,
    pub min_count: u32,
    pub min_payees: u32,
    pub min_total: Money,
    pub exclude_business_types: Vec<String>,
    pub per: Per,
    pub min_accounts: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            list: "accommodation".into(),
            extra_keywords: Vec::new(),
            direction: Direction::Out,
            min_amount: Money(0),
            window_days: 31,
            min_count: 3,
            min_payees: 1,
            min_total: Money(0),
            exclude_business_types: Vec::new(),
            per: Per::Account,
            min_accounts: 1,
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "list",
            meaning: "The shipped keyword list (rules/lists/keywords_NAME.txt) that recognises the payee.",
            valid: "accommodation, adult_advertising, travel or wages_benefits",
        },
        ParamDoc {
            name: "extra_keywords",
            meaning: "Words or phrases added to the list for this rule (e.g. the employers or letting agents in a case).",
            valid: "a list of up to 500 non-empty words or phrases",
        },
        ParamDoc {
            name: "direction",
            meaning: "Which rows count: `out` (payments), `in` (money received) or `both`.",
            valid: "\"in\", \"out\" or \"both\"",
        },
        ParamDoc {
            name: "min_amount",
            meaning: "Smallest matching row looked at.",
            valid: "an amount from 0 to 100000000",
        },
        ParamDoc {
            name: "window_days",
            meaning: "Length of the rolling window in calendar days, both ends included.",
            valid: "a whole number from 1 to 366",
        },
        ParamDoc {
            name: "min_count",
            meaning: "Fewest matching rows within one window.",
            valid: "a whole number from 1 to 1000",
        },
        ParamDoc {
            name: "min_payees",
            meaning: "Fewest different payees (payers, for money in) among the window's matching rows: counterparty names compared ignoring case and punctuation, the narrative where there is no name.",
            valid: "a whole number from 1 to 1000",
        },
        ParamDoc {
            name: "min_total",
            meaning: "Least total of the window's matching rows.",
            valid: "an amount from 0 to 100000000",
        },
        ParamDoc {
            name: "exclude_business_types",
            meaning: "Business accounts whose `business_type` in the case file is one of these are not looked at (their trade explains the payments, e.g. a travel agent buying tickets).",
            valid: "a list of business types as written in the case file",
        },
        ParamDoc {
            name: "per",
            meaning: "`account`: each account on its own. `subject`: all the accounts a subject controls according to the case file's `controlled_by`, taken together (an account controlled by two subjects counts for each). `address`: all the accounts controlled by subjects who share an address in the case file (compared ignoring case and punctuation; only addresses two or more subjects share). `phone`: the same for a phone number two or more subjects share (compared on digits, `+44` or `44` read as the national `0`; see docs/case-file.md).",
            valid: "\"account\", \"subject\", \"address\" or \"phone\"",
        },
        ParamDoc {
            name: "min_accounts",
            meaning: "Fewest different accounts among the window's matching rows (useful with per = \"subject\").",
            valid: "a whole number from 1 to 1000; 1 when per = \"account\"",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        check_list("list", &self.list, &self.extra_keywords)?;
        let max = Money::pounds(100_000_000);
        ensure(
            self.min_amount <= max,
            "min_amount",
            self.min_amount,
            Self::DOCS[3].valid,
        )?;
        ensure(
            (1..=366).contains(&self.window_days),
            "window_days",
            self.window_days,
            Self::DOCS[4].valid,
        )?;
        ensure(
            (1..=1000).contains(&self.min_count),
            "min_count",
            self.min_count,
            Self::DOCS[5].valid,
        )?;
        ensure(
            (1..=1000).contains(&self.min_payees),
            "min_payees",
            self.min_payees,
            Self::DOCS[6].valid,
        )?;
        ensure(
            self.min_total <= max,
            "min_total",
            self.min_total,
            Self::DOCS[7].valid,
        )
    }
}

impl RuleKind for KeywordPayments {
    fn name(&self) -> &'static str {
        "keyword_payments"
    }
    fn method(&self) -> &'static str {
        "Takes the rows in scope going the chosen `direction`, of at least `min_amount`, whose \
         counterparty name or narrative holds a keyword of the shipped `list` \
         (rules/lists/keywords_NAME.txt) or of `extra_keywords` as a whole word, ignoring \
         case. Business accounts whose business type is in `exclude_business_types` are left \
         out. Per account (or, with `per = \"subject\"`, per subject across every account the case \
         file says they control; with `per = \"address\"` or `per = \"phone\"`, across every \
         account controlled by subjects who share an address, or a phone number, in the case \
         file), the window of `window_days` days ending on each matching row \
         fires when it holds at least `min_count` matching rows, from or to at least \
         `min_payees` different counterparties (names compared ignoring case and punctuation), \
         in at least `min_accounts` different accounts, together at least `min_total`. Overlapping firing windows form one episode; its evidence is the \
         matching rows in its firing windows. A keyword names the payee's trade as the bank \
         wrote it: it does not show what was bought, or for whom."
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

/// Each episode's different counterparties (`_payee`), sorted and joined with ", ", from
/// rows with an [`EPISODE`] number and the names' numbers (`_payee_id`, equal numbers for
/// equal names). The distinct names are put in order once for all episodes; each episode
/// then sorts the names' places in that order, numbers rather than texts, and looks the
/// map up only where the episode changes from one row to the next. Collecting and sorting
/// each episode's names as texts cost several times as much at 767,741 rows.
fn payees_by_episode(covered: &DataFrame) -> PolarsResult<std::collections::HashMap<u32, String>> {
    let episodes = covered.column(EPISODE)?.cast(&DataType::UInt32)?;
    let episodes = episodes.u32()?;
    let names = covered.column("_payee")?.str()?;
    let ids = covered.column("_payee_id")?.cast(&DataType::UInt32)?;
    let ids = ids.u32()?;
    // Each name by its number, then each number's place among the names in order.
    let mut name_of: Vec<Option<&str>> = Vec::new();
    for (id, name) in ids.iter().zip(names.iter()) {
        if let (Some(id), Some(name)) = (id, name) {
            let id = id as usize;
            if name_of.len() <= id {
                name_of.resize(id + 1, None);
            }
            name_of[id] = Some(name);
        }
    }
    let mut in_order: Vec<u32> = (0..name_of.len() as u32)
        .filter(|&id| name_of[id as usize].is_some())
        .collect();
    in_order.sort_unstable_by_key(|&id| name_of[id as usize]);
    let mut place = vec![0u32; name_of.len()];
    for (k, &id) in in_order.iter().enumerate() {
        place[id as usize] = k as u32;
    }
    let mut found: std::collections::HashMap<u32, Vec<u32>> = std::collections::HashMap::new();
    let mut run: Option<(u32, Vec<u32>)> = None;
    for (episode, id) in episodes.iter().zip(ids.iter()) {
        let (Some(episode), Some(&at)) = (episode, id.and_then(|id| place.get(id as usize))) else {
            continue;
        };
        match &mut run {
            Some((current, places)) if *current == episode => places.push(at),
            _ => {
                if let Some((done, places)) = run.take() {
                    found.entry(done).or_default().extend(places);
                }
                run = Some((episode, vec![at]));
            }
        }
    }
    if let Some((done, places)) = run {
        found.entry(done).or_default().extend(places);
    }
    Ok(found
        .into_iter()
        .map(|(episode, mut places)| {
            places.sort_unstable();
            places.dedup();
            let names: Vec<&str> = places
                .iter()
                .filter_map(|&k| name_of[in_order[k as usize] as usize])
                .collect();
            (episode, names.join(", "))
        })
        .collect())
}

/// Account indices whose business type is one of `types` (case-insensitive).
pub fn accounts_of_business_types(ctx: &Context<'_>, types: &[String]) -> Vec<u32> {
    ctx.case
        .accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            a.business_type
                .as_deref()
                .is_some_and(|b| types.iter().any(|t| t.eq_ignore_ascii_case(b)))
        })
        .map(|(i, _)| i as u32)
        .collect()
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
        let excluded = accounts_of_business_types(ctx, &self.exclude_business_types);
        let mut notes = Vec::new();
        if !excluded.is_empty() {
            notes.push(format!(
                "accounts not looked at because their business type explains such payments: {}",
                excluded
                    .iter()
                    .map(|a| ctx.account(*a))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        // Only the tests that can exclude a row are evaluated over every row: a floor of 0
        // keeps every row going the chosen direction, and no excluded account, no row.
        let mut keep = matches_keywords(ctx, &words)?.and(self.direction.filter());
        if self.min_amount.pence() > 0 {
            keep = keep.and(magnitude().gt_eq(lit(self.min_amount.pence())));
        }
        if !excluded.is_empty() {
            keep = keep.and(account_in(&excluded).not());
        }
        // Counted across accounts, only groups with enough accounts can ever fire.
        let groups = match self.per {
            Per::Account => None,
            Per::Subject => Some(&ctx.account_subjects),
            Per::Address => Some(&ctx.account_addresses),
            Per::Phone => Some(&ctx.account_phones),
        };
        if let Some(map) = groups.filter(|_| self.min_accounts > 1) {
            let eligible = accounts_of_groups_of_at_least(map, self.min_accounts)?;
            keep = keep.and(account_in(&eligible));
        }
        let candidates = rows
            .filter(keep)
            .with_columns([
                magnitude().alias("_size"),
                normalised_counterparty().alias("_payee"),
            ])
            .with_column(text_ids(col("_payee")).alias("_payee_id"));
        let candidates = match self.per {
            Per::Account => candidates,
            Per::Subject => by_subject(candidates, ctx),
            Per::Address => by_address(candidates, ctx),
            Per::Phone => by_phone(candidates, ctx),
        };
        let covered = episodes(
            count_and_total(candidates, col("_size"), self.window_days)
                .with_columns([
                    window_distinct(col("_payee_id"), self.window_days, Nulls::Counted)
                        .alias("_w_payees"),
                    // Counted per account, a window holds one account.
                    if self.per == Per::Account {
                        lit(1i64).alias("_w_accounts")
                    } else {
                        window_distinct(col(c::ACCT), self.window_days, Nulls::Counted)
                            .alias("_w_accounts")
                    },
                ])
                .with_column(
                    col(W_COUNT)
                        .gt_eq(lit(i64::from(self.min_count)))
                        .and(col("_w_payees").gt_eq(lit(i64::from(self.min_payees))))
                        .and(col("_w_accounts").gt_eq(lit(i64::from(self.min_accounts))))
                        .and(col(W_TOTAL).gt_eq(lit(self.min_total.pence())))
                        .alias(FIRES),
                ),
            self.window_days,
        )
        .filter(col(EPISODE).is_not_null())
        .collect()?;
        // Peaks over firing windows only: the other rows' figures are nulled first, so the
        // aggregation is a plain maximum per episode.
        let firing = |name: &str| {
            when(col(FIRES))
                .then(col(name))
                .otherwise(lit(NULL).cast(DataType::Int64))
        };
        let mut aggs = vec![
            group_of_k().first().alias("group"),
            len().cast(DataType::Int64).alias("n"),
            col("_size").sum().alias("total"),
            col("_peak_count").max().alias("peak_count"),
            col("_peak_payees").max().alias("peak_payees"),
            col("_peak_accounts").max().alias("peak_accounts"),
            col("_peak_total").max().alias("peak_total"),
        ];
        // The accounts are named only when a group holds several.
        if self.per != Per::Account {
            aggs.push(
                col(c::ACCT)
                    .unique()
                    .sort(SortOptions::default())
                    .alias("accts"),
            );
        }
        let agg = covered
            .clone()
            .lazy()
            .select([
                col(EPISODE),
                col(c::K),
                col(c::ACCT),
                col("_size"),
                col("_payee"),
                firing(W_COUNT).alias("_peak_count"),
                firing("_w_payees").alias("_peak_payees"),
                firing("_w_accounts").alias("_peak_accounts"),
                firing(W_TOTAL).alias("_peak_total"),
            ])
            .group_by([col(EPISODE)])
            .agg(aggs)
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;
        let payees = payees_by_episode(&covered)?;
        let ids = i64s(&agg, EPISODE)?;
        let groups = i64s(&agg, "group")?;
        let n = i64s(&agg, "n")?;
        let total = i64s(&agg, "total")?;
        let peak_count = i64s(&agg, "peak_count")?;
        let peak_payees = i64s(&agg, "peak_payees")?;
        let peak_total = i64s(&agg, "peak_total")?;
        let peak_accounts = i64s(&agg, "peak_accounts")?;
        let accts_col = if self.per == Per::Account {
            None
        } else {
            Some(agg.column("accts")?.list()?.clone())
        };
        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let days = self.window_days;
        let mut out = Vec::new();
        for i in 0..agg.height() {
            let acct = groups[i].unwrap_or_default() as u32;
            let pc = peak_count[i].unwrap_or_default();
            let pp = peak_payees[i].unwrap_or_default();
            let pt = peak_total[i].unwrap_or_default();
            let mut metrics = vec![
                Metric::tested(
                    "peak_window_count",
                    format!("matching rows in a {days}-day window"),
                    Value::Count(pc),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_count)),
                    pc >= i64::from(self.min_count),
                ),
                Metric::tested(
                    "peak_window_payees",
                    format!("different counterparties in a {days}-day window"),
                    Value::Count(pp),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_payees)),
                    pp >= i64::from(self.min_payees),
                ),
            ];
            if self.per != Per::Account {
                let pa = peak_accounts[i].unwrap_or_default();
                metrics.push(Metric::tested(
                    "peak_window_accounts",
                    format!("different accounts in a {days}-day window"),
                    Value::Count(pa),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_accounts)),
                    pa >= i64::from(self.min_accounts),
                ));
                let names: Vec<String> = accts_col
                    .as_ref()
                    .and_then(|accts| accts.get_as_series(i))
                    .and_then(|s| {
                        s.u32().ok().map(|ca| {
                            ca.into_no_null_iter()
                                .map(|a| ctx.account(a).to_string())
                                .collect()
                        })
                    })
                    .unwrap_or_default();
                metrics.push(Metric::info(
                    "accounts",
                    "accounts",
                    Value::Text(names.join(", ")),
                ));
            }
            if self.min_total.pence() > 0 {
                metrics.push(Metric::tested(
                    "peak_window_total",
                    format!("highest {days}-day total of matching rows"),
                    money(pt),
                    Op::AtLeast,
                    money(self.min_total.pence()),
                    pt >= self.min_total.pence(),
                ));
            }
            metrics.extend([
                Metric::info("list", "keyword list", Value::Text(self.list.clone())),
                Metric::info(
                    "counterparties",
                    "counterparties",
                    Value::Text(
                        ids[i]
                            .and_then(|e| payees.get(&(e as u32)))
                            .cloned()
                            .unwrap_or_default(),
                    ),
                ),
                Metric::info(
                    "episode_count",
                    "matching rows in the episode",
                    Value::Count(n[i].unwrap_or_default()),
                ),
                Metric::info(
                    "episode_total",
                    "their total",
                    money(total[i].unwrap_or_default()),
                ),
            ]);
            let (group, subject) = match self.per {
                Per::Account => (
                    ctx.account(acct).to_string(),
                    ctx.controllers_of(acct).to_string(),
                ),
                Per::Subject => (
                    format!("subject:{}", ctx.subject(acct)),
                    ctx.subject(acct).to_string(),
                ),
                Per::Address => {
                    let shared = ctx.address(acct);
                    let address = shared.map_or("?", |a| a.value.as_str());
                    let subjects = shared.map_or("", |a| a.subjects.as_str());
                    metrics.push(Metric::info(
                        "shared_address",
                        "address shared by the account holders",
                        Value::Text(format!("{address} ({})", subjects.replace(';', ", "))),
                    ));
                    (format!("address:{address}"), subjects.to_string())
                }
                Per::Phone => {
                    let shared = ctx.phone(acct);
                    let phone = shared.map_or("?", |p| p.value.as_str());
                    let subjects = shared.map_or("", |p| p.subjects.as_str());
                    metrics.push(Metric::info(
                        "shared_phone",
                        "phone number shared by the account holders",
                        Value::Text(format!("{phone} ({})", subjects.replace(';', ", "))),
                    ));
                    (format!("phone:{phone}"), subjects.to_string())
                }
            };
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group,
                subject,
                window: None,
                metrics,
            });
        }
        Ok(Hits {
            episodes: out,
            evidence: Some(covered.select([EPISODE, c::SEQ])?),
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_episode_names_its_different_counterparties_sorted() {
        let covered = df!(
            EPISODE => [1u32, 1, 1, 2, 2, 4, 1],
            "_payee" => [Some("TRAINLINE"), Some("EASYJET"), Some("TRAINLINE"), None, Some("RYANAIR"), None, Some("AVANTI")],
            "_payee_id" => [Some(0u32), Some(1), Some(0), None, Some(2), None, Some(3)]
        )
        .expect("rows");
        let payees = payees_by_episode(&covered).expect("payees");
        assert_eq!(
            payees.get(&1).map(String::as_str),
            Some("AVANTI, EASYJET, TRAINLINE")
        );
        assert_eq!(payees.get(&2).map(String::as_str), Some("RYANAIR"));
        // An episode whose rows have no name has none to show.
        assert_eq!(payees.get(&4), None);
        assert_eq!(payees.len(), 2);
    }
}
