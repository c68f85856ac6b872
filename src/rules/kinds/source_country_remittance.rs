//! `source_country_remittance`: money sent to countries on a list, added up per sender, per
//! receiver or per group of linked senders.
//!
//! The country of a send is the ledger's `counterparty_country` (money-transfer records give
//! the receiver's country), or, where `read_identifiers` is on, the country of the
//! counterparty's IBAN or BIC (bank transfers). Narratives are not searched for country
//! names. The sender is the named person on the send (`party_id`, else `party_name`), or,
//! for a row that names no one (a bank statement), the case account it sits in. Senders are
//! *linked* when they share a surname (last word of the name), an address or an identity
//! document number, directly or through a chain; an account's surname and address are those
//! of its first controlling subject in the case file. The default list is
//! `rules/lists/source_countries.csv` (built in), with its source in its header.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::high_risk_destination::identifier_country;
use crate::ledger::Channel;
use crate::rules::kind::{
    i64s, strs, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value,
};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::{c, normalised_counterparty, STRIDE};
use crate::rules::window::{
    count_and_total, episodes, rolling_agg, EPISODE, FIRES, W_COUNT, W_TOTAL,
};

/// The shipped country list.
pub const SOURCE_COUNTRIES: &str = include_str!("../../../rules/lists/source_countries.csv");

/// The shipped list as (code, upper-case name).
pub fn shipped_countries() -> Vec<(String, String)> {
    SOURCE_COUNTRIES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("country,"))
        .filter_map(|l| {
            let mut f = l.split(',');
            Some((
                f.next()?.trim().to_uppercase(),
                f.next()?.trim().to_uppercase(),
            ))
        })
        .collect()
}

/// The kind.
pub struct SourceCountryRemittance;

/// Whose sends are added up together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    /// Each sender on their own.
    Sender,
    /// Each receiver (name and country), whoever sent.
    Receiver,
    /// Each group of linked senders.
    Linked,
}

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub countries: Vec<String>,
    pub read_identifiers: bool,
    pub per: Per,
    pub min_amount: Money,
    pub window_days: u32,
    pub min_count: u32,
    pub min_total: Money,
    pub min_senders: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            countries: Vec::new(),
            read_identifiers: true,
            per: Per::Sender,
            min_amount: Money(0),
            window_days: 30,
            min_count: 3,
            min_total: Money::pounds(3_000),
            min_senders: 1,
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "countries",
            meaning: "ISO 3166 two-letter codes of the countries looked at; empty = the shipped list rules/lists/source_countries.csv.",
            valid: "a list of up to 250 two-letter upper-case codes, e.g. [\"AL\", \"VN\"]; [] for the shipped list",
        },
        ParamDoc {
            name: "read_identifiers",
            meaning: "Also read the country of a counterparty's IBAN or BIC (bank transfers), where the row gives no counterparty country.",
            valid: "true or false",
        },
        ParamDoc {
            name: "per",
            meaning: "`sender`: each sender on their own (party ID, else party name, else the case account). `receiver`: each receiver (name and country). `linked`: each group of senders sharing a surname, address or ID number.",
            valid: "\"sender\", \"receiver\" or \"linked\"",
        },
        ParamDoc {
            name: "min_amount",
            meaning: "Smallest send looked at.",
            valid: "an amount from 0 to 100000000",
        },
        ParamDoc {
            name: "window_days",
            meaning: "Length of the rolling window in calendar days, both ends included.",
            valid: "a whole number from 1 to 366",
        },
        ParamDoc {
            name: "min_count",
            meaning: "Fewest sends within one window.",
            valid: "a whole number from 1 to 1000",
        },
        ParamDoc {
            name: "min_total",
            meaning: "Least total of the sends within one window.",
            valid: "an amount from 0 to 100000000",
        },
        ParamDoc {
            name: "min_senders",
            meaning: "Fewest different senders within one window.",
            valid: "a whole number from 1 to 1000; 1 when per = \"sender\"",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        ensure(
            self.countries.len() <= 250
                && self
                    .countries
                    .iter()
                    .all(|c| c.len() == 2 && c.chars().all(|x| x.is_ascii_uppercase())),
            "countries",
            format!("{:?}", self.countries),
            Self::DOCS[0].valid,
        )?;
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
            self.min_total <= max,
            "min_total",
            self.min_total,
            Self::DOCS[6].valid,
        )?;
        ensure(
            (1..=1000).contains(&self.min_senders)
                && (self.per != Per::Sender || self.min_senders == 1),
            "min_senders",
            self.min_senders,
            Self::DOCS[7].valid,
        )
    }
}

impl RuleKind for SourceCountryRemittance {
    fn name(&self) -> &'static str {
        "source_country_remittance"
    }
    fn method(&self) -> &'static str {
        "Takes the debits in scope (by default money-transfer sends and transfers) of at least \
         `min_amount` whose country is in `countries` (empty: the shipped list \
         rules/lists/source_countries.csv). The country is the row's counterparty_country \
         (code or country name), or, with `read_identifiers`, the country of the counterparty's \
         IBAN (first two letters) or BIC (fifth and sixth letters); narratives are not read. \
         The sender is the person the record names (party_id, else party_name, compared \
         ignoring case and punctuation), or the case account for a row that names no one. \
         Sends are grouped `per` sender, per receiver (counterparty name and country) or per \
         group of linked senders (sharing the last word of the name, an address or an ID \
         number, directly or through a chain; for an account, its first controlling subject's \
         name and address). In each group, the window of `window_days` days ending on each \
         send fires when it holds at least `min_count` sends from at least `min_senders` \
         senders, together at least `min_total`. Overlapping firing windows form one episode; \
         its evidence is the sends in its firing windows."
    }
    fn params(&self) -> &'static [ParamDoc] {
        Params::DOCS
    }
    fn default_channels(&self) -> Option<&'static [Channel]> {
        Some(&[Channel::MsbSend, Channel::Transfer])
    }
    fn compile(&self, table: &toml::Table) -> Result<Box<dyn Detector>, ParamError> {
        Ok(Box::new(params::parse::<Params>(table)?))
    }
}

/// Upper-case letters and digits, runs of anything else as one space, trimmed.
fn norm(e: Expr) -> Expr {
    e.str()
        .to_uppercase()
        .str()
        .replace_all(lit(r"[^\p{L}\p{N}]+"), lit(" "), false)
        .str()
        .strip_chars(lit(NULL))
}

fn norm_text(s: &str) -> String {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_uppercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Union-find over a handful of distinct senders.
fn find(p: &mut [usize], i: usize) -> usize {
    let mut r = i;
    while p[r] != r {
        r = p[r];
    }
    let mut j = i;
    while p[j] != r {
        let next = p[j];
        p[j] = r;
        j = next;
    }
    r
}

impl Detector for Params {
    fn params_in_effect(&self) -> Vec<(String, String)> {
        params::in_effect(self)
    }

    fn detect(&self, rows: LazyFrame, ctx: &Context<'_>) -> PolarsResult<Hits> {
        let listed: Vec<(String, String)> = if self.countries.is_empty() {
            shipped_countries()
        } else {
            let names: BTreeMap<String, String> = shipped_countries().into_iter().collect();
            self.countries
                .iter()
                .map(|c| {
                    (
                        c.clone(),
                        names.get(c).cloned().unwrap_or_else(|| c.clone()),
                    )
                })
                .collect()
        };
        // Country written as a code or a name → code.
        let mut from_text: Vec<String> = Vec::new();
        let mut to_code: Vec<String> = Vec::new();
        for (code, name) in &listed {
            from_text.push(code.clone());
            to_code.push(code.clone());
            from_text.push(norm_text(name));
            to_code.push(code.clone());
        }
        let country_of_text = df!("_written" => from_text, "_code" => to_code)?
            .lazy()
            .unique_stable(None, UniqueKeepStrategy::First);
        let country = if self.read_identifiers {
            when(col(c::COUNTERPARTY_COUNTRY).is_null())
                .then(identifier_country())
                .otherwise(col("_code"))
        } else {
            col("_code")
        };
        let codes = Series::new(
            "codes".into(),
            listed.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>(),
        );
        let account_keys = df!(
            c::ACCT => (0..ctx.account_ids.len() as u32).collect::<Vec<u32>>(),
            "_account_key" => ctx.account_ids.iter().map(|a| format!("ACCOUNT {a}")).collect::<Vec<_>>(),
        )?;
        let account_key = col("_account_key");
        let sender = when(col(c::PARTY_ID).is_not_null())
            .then(lit("ID ") + norm(col(c::PARTY_ID)))
            .when(col(c::PARTY_NAME).is_not_null())
            .then(norm(col(c::PARTY_NAME)))
            .otherwise(account_key);
        // A row says nothing of a country unless it gives one or (when read) an account
        // identifier: the others are left out before any text is looked at.
        let may_name_country = if self.read_identifiers {
            col(c::COUNTERPARTY_COUNTRY)
                .is_not_null()
                .or(col(c::COUNTERPARTY_ACCOUNT).is_not_null())
        } else {
            col(c::COUNTERPARTY_COUNTRY).is_not_null()
        };
        let candidates = rows
            .filter(
                col(c::PENCE)
                    .lt(lit(0))
                    .and((lit(0) - col(c::PENCE)).gt_eq(lit(self.min_amount.pence())))
                    .and(may_name_country),
            )
            .with_column(norm(col(c::COUNTERPARTY_COUNTRY)).alias("_written"))
            .join(
                country_of_text,
                [col("_written")],
                [col("_written")],
                JoinArgs::new(JoinType::Left),
            )
            .with_column(country.alias("_country"))
            .filter(col("_country").is_in(lit(codes).implode(false), false))
            .join(
                account_keys.lazy(),
                [col(c::ACCT)],
                [col(c::ACCT)],
                JoinArgs::new(JoinType::Left),
            )
            .with_columns([
                (lit(0) - col(c::PENCE)).alias("_sent"),
                sender.alias("_sender"),
                (normalised_counterparty() + lit(" (") + col("_country") + lit(")"))
                    .alias("_receiver"),
            ])
            .collect()?;

        // Sender links (only for `per = "linked"`): over the distinct senders, not the rows.
        let link_reasons: BTreeMap<String, String>;
        let group_key = match self.per {
            Per::Sender => col("_sender"),
            Per::Receiver => col("_receiver"),
            Per::Linked => {
                let (map, reasons) = link_senders(&candidates, ctx)?;
                link_reasons = reasons;
                let keyed = candidates
                    .clone()
                    .lazy()
                    .join(
                        map.lazy(),
                        [col("_sender")],
                        [col("_sender")],
                        JoinArgs::new(JoinType::Left),
                    )
                    .collect()?;
                return self.windows(keyed, col("_link"), ctx, &link_reasons);
            }
        };
        self.windows(candidates, group_key, ctx, &BTreeMap::new())
    }
}

/// `_sender` → `_link` (the sorted `+`-joined member list), and each link's reason.
fn link_senders(
    candidates: &DataFrame,
    ctx: &Context<'_>,
) -> PolarsResult<(DataFrame, BTreeMap<String, String>)> {
    let distinct = candidates
        .clone()
        .lazy()
        .group_by([col("_sender")])
        .agg([
            col(c::ACCT).first(),
            col(c::PARTY_NAME).drop_nulls().first().alias("name"),
            col(c::PARTY_ADDRESS).drop_nulls().first().alias("address"),
            col(c::PARTY_ID).drop_nulls().first().alias("id"),
        ])
        .sort(["_sender"], SortMultipleOptions::default())
        .collect()?;
    let senders = strs(&distinct, "_sender")?;
    let accts = i64s(&distinct, c::ACCT)?;
    let names = strs(&distinct, "name")?;
    let addresses = strs(&distinct, "address")?;
    let ids = strs(&distinct, "id")?;
    let n = senders.len();
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in 0..n {
        let acct = accts[i].unwrap_or_default() as usize;
        let subject = ctx.case.accounts.get(acct).and_then(|a| {
            a.controlled_by
                .first()
                .and_then(|s| ctx.case.subjects.iter().find(|x| &x.id == s))
        });
        let name = names[i].clone().or_else(|| subject.map(|s| s.name.clone()));
        let address = if ids[i].is_some() || names[i].is_some() {
            addresses[i].clone()
        } else {
            subject.and_then(|s| s.address.clone())
        };
        if let Some(sn) = name.as_deref().map(norm_text).and_then(|n| {
            n.split(' ')
                .next_back()
                .map(str::to_string)
                .filter(|s| !s.is_empty())
        }) {
            by_key.entry(format!("surname {sn}")).or_default().push(i);
        }
        if let Some(a) = address.as_deref().map(norm_text).filter(|a| !a.is_empty()) {
            by_key.entry(format!("address {a}")).or_default().push(i);
        }
        if let Some(d) = ids[i].as_deref().map(norm_text).filter(|d| !d.is_empty()) {
            by_key.entry(format!("ID number {d}")).or_default().push(i);
        }
    }
    let mut parent: Vec<usize> = (0..n).collect();
    for members in by_key.values() {
        for w in members.windows(2) {
            let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut members_of: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (i, s) in senders.iter().enumerate() {
        let r = find(&mut parent, i);
        members_of
            .entry(r)
            .or_default()
            .push(s.clone().unwrap_or_default());
    }
    let label = |r: usize, m: &BTreeMap<usize, Vec<String>>| m[&r].join("+");
    let mut reasons: BTreeMap<String, String> = BTreeMap::new();
    for (key, members) in &by_key {
        if members.len() > 1 {
            let r = find(&mut parent, members[0]);
            let entry = reasons.entry(label(r, &members_of)).or_default();
            if !entry.is_empty() {
                entry.push_str("; ");
            }
            entry.push_str(&format!("shared {key}"));
        }
    }
    let links: Vec<String> = (0..n)
        .map(|i| label(find(&mut parent, i), &members_of))
        .collect();
    let map = df!(
        "_sender" => senders.into_iter().map(Option::unwrap_or_default).collect::<Vec<String>>(),
        "_link" => links,
    )?;
    Ok((map, reasons))
}

impl Params {
    /// Windows over the candidates grouped by `group_key`, and the findings.
    fn windows(
        &self,
        candidates: DataFrame,
        group_key: Expr,
        ctx: &Context<'_>,
        reasons: &BTreeMap<String, String>,
    ) -> PolarsResult<Hits> {
        let keyed = candidates.lazy().with_column(group_key.alias("_group"));
        let groups = keyed
            .clone()
            .select([col("_group")])
            .unique_stable(None, UniqueKeepStrategy::First)
            .sort(["_group"], SortMultipleOptions::default())
            .with_row_index("_g", None);
        let keyed = keyed
            .join(
                groups,
                [col("_group")],
                [col("_group")],
                JoinArgs::new(JoinType::Inner),
            )
            .with_column((col("_g").cast(DataType::Int64) * lit(STRIDE) + col(c::DAY)).alias(c::K))
            .sort([c::K, c::SEQ], SortMultipleOptions::default());
        let days = self.window_days;
        let covered = episodes(
            count_and_total(keyed, col("_sent"), days)
                .with_column(
                    rolling_agg(col("_sender").n_unique(), days)
                        .cast(DataType::Int64)
                        .alias("_w_senders"),
                )
                .with_column(
                    col(W_COUNT)
                        .gt_eq(lit(i64::from(self.min_count)))
                        .and(col(W_TOTAL).gt_eq(lit(self.min_total.pence())))
                        .and(col("_w_senders").gt_eq(lit(i64::from(self.min_senders))))
                        .alias(FIRES),
                ),
            days,
        )
        .filter(col(EPISODE).is_not_null())
        .collect()?;
        let agg = covered
            .clone()
            .lazy()
            .group_by([col(EPISODE)])
            .agg([
                col("_group").first(),
                len().cast(DataType::Int64).alias("n"),
                col("_sent").sum().alias("total"),
                col(W_COUNT).filter(col(FIRES)).max().alias("peak_count"),
                col(W_TOTAL).filter(col(FIRES)).max().alias("peak_total"),
                col("_w_senders")
                    .filter(col(FIRES))
                    .max()
                    .alias("peak_senders"),
                col("_country")
                    .unique()
                    .sort(SortOptions::default())
                    .alias("countries"),
                col("_sender")
                    .unique()
                    .sort(SortOptions::default())
                    .alias("senders"),
                col("_receiver")
                    .unique()
                    .sort(SortOptions::default())
                    .alias("receivers"),
                col(c::ACCT)
                    .unique()
                    .sort(SortOptions::default())
                    .alias("accts"),
            ])
            .with_columns([
                col("countries").list().join(lit(", "), true),
                col("senders").list().join(lit(", "), true),
                col("receivers").list().join(lit(", "), true),
            ])
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;
        let ids = i64s(&agg, EPISODE)?;
        let group = strs(&agg, "_group")?;
        let n = i64s(&agg, "n")?;
        let total = i64s(&agg, "total")?;
        let peak_count = i64s(&agg, "peak_count")?;
        let peak_total = i64s(&agg, "peak_total")?;
        let peak_senders = i64s(&agg, "peak_senders")?;
        let countries = strs(&agg, "countries")?;
        let senders = strs(&agg, "senders")?;
        let receivers = strs(&agg, "receivers")?;
        let accts_col = agg.column("accts")?.list()?.clone();
        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let mut out = Vec::new();
        for i in 0..agg.height() {
            let g = group[i].clone().unwrap_or_default();
            let mut subjects: Vec<String> = accts_col
                .get_as_series(i)
                .map(|s| {
                    s.u32()
                        .map(|ca| {
                            ca.into_no_null_iter()
                                .flat_map(|a| {
                                    ctx.controllers_of(a)
                                        .split(';')
                                        .filter(|x| !x.is_empty())
                                        .map(str::to_string)
                                        .collect::<Vec<_>>()
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            subjects.sort();
            subjects.dedup();
            let prefix = match self.per {
                Per::Sender => "sender",
                Per::Receiver => "receiver",
                Per::Linked => "linked",
            };
            let pc = peak_count[i].unwrap_or_default();
            let pt = peak_total[i].unwrap_or_default();
            let ps = peak_senders[i].unwrap_or_default();
            let mut metrics = vec![
                Metric::tested(
                    "peak_window_count",
                    format!("sends in a {}-day window", self.window_days),
                    Value::Count(pc),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_count)),
                    pc >= i64::from(self.min_count),
                ),
                Metric::tested(
                    "peak_window_total",
                    format!("highest {}-day total of sends", self.window_days),
                    money(pt),
                    Op::AtLeast,
                    money(self.min_total.pence()),
                    pt >= self.min_total.pence(),
                ),
            ];
            if self.per != Per::Sender {
                metrics.push(Metric::tested(
                    "peak_window_senders",
                    format!("different senders in a {}-day window", self.window_days),
                    Value::Count(ps),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_senders)),
                    ps >= i64::from(self.min_senders),
                ));
            }
            if self.per == Per::Linked {
                metrics.push(Metric::info(
                    "link",
                    "senders linked by",
                    Value::Text(
                        reasons
                            .get(&g)
                            .cloned()
                            .unwrap_or_else(|| "one sender (no link)".into()),
                    ),
                ));
            }
            metrics.extend([
                Metric::info(
                    "countries",
                    "countries",
                    Value::Text(countries[i].clone().unwrap_or_default()),
                ),
                Metric::info(
                    "senders",
                    "senders",
                    Value::Text(senders[i].clone().unwrap_or_default()),
                ),
                Metric::info(
                    "receivers",
                    "receivers",
                    Value::Text(receivers[i].clone().unwrap_or_default()),
                ),
                Metric::info(
                    "episode_count",
                    "sends in the episode",
                    Value::Count(n[i].unwrap_or_default()),
                ),
                Metric::info(
                    "episode_total",
                    "their total",
                    money(total[i].unwrap_or_default()),
                ),
            ]);
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group: format!("{prefix}:{}", g.replace(' ', "_")),
                subject: subjects.join(";"),
                window: None,
                metrics,
            });
        }
        Ok(Hits {
            episodes: out,
            evidence: Some(covered.select([EPISODE, c::SEQ])?),
            notes: Vec::new(),
        })
    }
}
