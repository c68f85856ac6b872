//! `msb_structuring`: money-transfer sends kept just below an agent's identification
//! thresholds, by one sender or by senders the case links by surname or address.
//!
//! The ledger has no sender columns: a send's sender is the case account it sits in (a
//! money transfer firm's records of one customer are one case account, controlled by the
//! subject who is that customer). Senders are "linked" when their controlling subjects
//! share a surname (last word of the name) or an address in the case file, directly or
//! through a chain of such links. Identity-document numbers are not in the case file, so
//! links by ID number are not made.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::cash_structuring::band_floor;
use crate::case::Case;
use crate::ledger::Channel;
use crate::rules::kind::{
    i64s, strs, Context, Detector, Episode, Hits, Metric, Op, RuleKind, Value,
};
use crate::rules::params::{self, ensure, Money, ParamDoc, ParamError, ParamSet};
use crate::rules::prepare::{c, normalised_counterparty, STRIDE};
use crate::rules::window::{count_and_total, episodes, EPISODE, FIRES, W_COUNT, W_TOTAL};

/// The kind.
pub struct MsbStructuring;

/// Whose sends are added up together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Senders {
    /// Each sending account on its own.
    One,
    /// Sending accounts whose subjects share a surname or an address.
    Linked,
}

/// Parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    pub thresholds: Vec<Money>,
    pub band_from: f64,
    pub min_count: u32,
    pub window_days: u32,
    pub senders: Senders,
    pub same_receiver: bool,
    pub min_senders: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            thresholds: vec![Money::pounds(1_000), Money::pounds(2_000)],
            band_from: 0.8,
            min_count: 2,
            window_days: 7,
            senders: Senders::One,
            same_receiver: true,
            min_senders: 1,
        }
    }
}

impl ParamSet for Params {
    const DOCS: &'static [ParamDoc] = &[
        ParamDoc {
            name: "thresholds",
            meaning: "Amounts at which the agent must identify the customer. Each send is placed in the band below the lowest threshold it is just under; sends in different bands are not added together.",
            valid: "a list of 1 to 10 amounts, each from 10 to 1000000, all different",
        },
        ParamDoc {
            name: "band_from",
            meaning: "Lower edge of each band as a fraction of its threshold (0.8 with £1,000 means £800.00 to £999.99).",
            valid: "a number from 0.5 up to but not including 1",
        },
        ParamDoc {
            name: "min_count",
            meaning: "Fewest in-band sends within one window.",
            valid: "a whole number from 2 to 100",
        },
        ParamDoc {
            name: "window_days",
            meaning: "Length of the rolling window in calendar days, both ends included (1 = the same day).",
            valid: "a whole number from 1 to 366",
        },
        ParamDoc {
            name: "senders",
            meaning: "`one`: each sending account on its own. `linked`: sending accounts whose controlling subjects share a surname or an address in the case file, taken together.",
            valid: "\"one\" or \"linked\"",
        },
        ParamDoc {
            name: "same_receiver",
            meaning: "true: only sends to the same receiver (counterparty name, compared ignoring case and punctuation) are added together. false: any receiver.",
            valid: "true or false",
        },
        ParamDoc {
            name: "min_senders",
            meaning: "Fewest different senders (sending accounts) in the episode.",
            valid: "a whole number from 1 to 50; 1 when senders = \"one\"",
        },
    ];

    fn validate(&self) -> Result<(), ParamError> {
        let t = &self.thresholds;
        let mut sorted = t.clone();
        sorted.sort();
        sorted.dedup();
        ensure(
            !t.is_empty()
                && t.len() <= 10
                && sorted.len() == t.len()
                && t.iter()
                    .all(|m| *m >= Money::pounds(10) && *m <= Money::pounds(1_000_000)),
            "thresholds",
            format!("{:?}", t.iter().map(|m| m.plain()).collect::<Vec<_>>()),
            Self::DOCS[0].valid,
        )?;
        ensure(
            self.band_from >= 0.5 && self.band_from < 1.0,
            "band_from",
            self.band_from,
            Self::DOCS[1].valid,
        )?;
        ensure(
            (2..=100).contains(&self.min_count),
            "min_count",
            self.min_count,
            Self::DOCS[2].valid,
        )?;
        ensure(
            (1..=366).contains(&self.window_days),
            "window_days",
            self.window_days,
            Self::DOCS[3].valid,
        )?;
        ensure(
            (1..=50).contains(&self.min_senders)
                && (self.senders == Senders::Linked || self.min_senders == 1),
            "min_senders",
            self.min_senders,
            Self::DOCS[6].valid,
        )
    }
}

impl RuleKind for MsbStructuring {
    fn name(&self) -> &'static str {
        "msb_structuring"
    }
    fn method(&self) -> &'static str {
        "Takes the debits in scope (by default money-transfer sends, channel msb_send) and \
         places each in the band just below the lowest of `thresholds` it is under (from \
         `band_from` × threshold to one penny below it); sends outside every band are ignored. \
         Sends are grouped by sender (`senders = \"one\"`: the sending account; `\"linked\"`: \
         all sending accounts whose controlling subjects share a surname or an address in the \
         case file, directly or through a chain of such links), by band and, when \
         `same_receiver` is true, by receiver. In each group, the window of `window_days` days \
         ending on each send's day fires when it holds at least `min_count` in-band sends \
         whose total reaches the band's threshold. Overlapping firing windows form one \
         episode, reported once if it involves at least `min_senders` senders. The ledger \
         carries no sender name, address or ID number of its own: senders are the case's \
         accounts, and links come only from the case file's subjects."
    }
    fn params(&self) -> &'static [ParamDoc] {
        Params::DOCS
    }
    fn default_channels(&self) -> Option<&'static [Channel]> {
        Some(&[Channel::MsbSend])
    }
    fn compile(&self, table: &toml::Table) -> Result<Box<dyn Detector>, ParamError> {
        Ok(Box::new(params::parse::<Params>(table)?))
    }
}

/// Sender links: for each account, the index of its group of linked senders, and for each
/// group, the reason for the link. Accounts without a controlling subject stand alone.
pub struct SenderLinks {
    pub group_of_account: Vec<u32>,
    pub reasons: BTreeMap<u32, String>,
}

pub(crate) fn surname(name: &str) -> Option<String> {
    name.split_whitespace()
        .last()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_uppercase()
        })
        .filter(|s| !s.is_empty())
}

pub(crate) fn address_key(address: &str) -> String {
    address
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_uppercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Link subjects sharing a surname or an address (union-find over the case's subjects —
/// a handful of people, not ledger rows), then accounts through their controllers.
pub fn sender_links(case: &Case) -> SenderLinks {
    let n = case.subjects.len();
    let mut parent: Vec<usize> = (0..n).collect();
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
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in case.subjects.iter().enumerate() {
        if let Some(sn) = surname(&s.name) {
            by_key.entry(format!("surname {sn}")).or_default().push(i);
        }
        if let Some(a) = s
            .address
            .as_deref()
            .map(address_key)
            .filter(|a| !a.is_empty())
        {
            by_key.entry(format!("address {a}")).or_default().push(i);
        }
    }
    for members in by_key.values() {
        for w in members.windows(2) {
            let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
            parent[a.max(b)] = a.min(b);
        }
    }
    // Accounts: the group of their first controller; controllers of one account are joined.
    let index: std::collections::HashMap<&str, usize> = case
        .subjects
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    for a in &case.accounts {
        let idx: Vec<usize> = a
            .controlled_by
            .iter()
            .filter_map(|s| index.get(s.as_str()).copied())
            .collect();
        for w in idx.windows(2) {
            let (x, y) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
            parent[x.max(y)] = x.min(y);
        }
    }
    let mut group_of_account = Vec::new();
    for (ai, a) in case.accounts.iter().enumerate() {
        let first = a
            .controlled_by
            .iter()
            .find_map(|s| index.get(s.as_str()).copied());
        group_of_account.push(match first {
            Some(i) => find(&mut parent, i) as u32,
            None => (n + ai) as u32,
        });
    }
    let mut reasons = BTreeMap::new();
    for (key, members) in &by_key {
        if members.len() > 1 {
            let g = find(&mut parent, members[0]) as u32;
            let entry: &mut String = reasons.entry(g).or_default();
            if !entry.is_empty() {
                entry.push_str("; ");
            }
            let who: Vec<&str> = members
                .iter()
                .map(|&i| case.subjects[i].id.as_str())
                .collect();
            entry.push_str(&format!("shared {key} ({})", who.join(", ")));
        }
    }
    SenderLinks {
        group_of_account,
        reasons,
    }
}

impl Detector for Params {
    fn params_in_effect(&self) -> Vec<(String, String)> {
        params::in_effect(self)
    }

    fn detect(&self, rows: LazyFrame, ctx: &Context<'_>) -> PolarsResult<Hits> {
        let mut thresholds = self.thresholds.clone();
        thresholds.sort();
        let sent = lit(0) - col(c::PENCE);
        // The band each send falls in: the lowest threshold it is just under.
        let mut band: Option<Expr> = None;
        for t in thresholds.iter().rev() {
            let floor = band_floor(*t, self.band_from);
            let cond = sent
                .clone()
                .gt_eq(lit(floor))
                .and(sent.clone().lt(lit(t.pence())));
            band = Some(match band {
                None => when(cond)
                    .then(lit(t.pence()))
                    .otherwise(lit(NULL).cast(DataType::Int64)),
                Some(other) => when(cond).then(lit(t.pence())).otherwise(other),
            });
        }
        let band = band.unwrap_or_else(|| lit(NULL).cast(DataType::Int64));
        let links = sender_links(ctx.case);
        let link_of = df!(
            c::ACCT => (0..links.group_of_account.len() as u32).collect::<Vec<u32>>(),
            "link" => links.group_of_account.clone(),
        )?;
        let receiver = if self.same_receiver {
            normalised_counterparty()
        } else {
            lit("")
        };
        let link = match self.senders {
            Senders::One => col(c::ACCT),
            Senders::Linked => col("link"),
        };
        let candidates = rows
            .filter(col(c::PENCE).lt(lit(0)))
            .with_columns([sent.alias("sent"), band.alias("threshold")])
            .filter(col("threshold").is_not_null())
            .with_column(receiver.alias("receiver"))
            .join(
                link_of.lazy(),
                [col(c::ACCT)],
                [col(c::ACCT)],
                JoinArgs::new(JoinType::Left),
            )
            .with_column(link.alias("sender_group"))
            .collect()?;
        let groups = candidates
            .clone()
            .lazy()
            .select([col("sender_group"), col("receiver"), col("threshold")])
            .unique_stable(None, UniqueKeepStrategy::First)
            .sort(
                ["sender_group", "receiver", "threshold"],
                SortMultipleOptions::default(),
            )
            .with_row_index("g", None);
        let keyed = candidates
            .lazy()
            .join(
                groups,
                [col("sender_group"), col("receiver"), col("threshold")],
                [col("sender_group"), col("receiver"), col("threshold")],
                JoinArgs::new(JoinType::Inner),
            )
            .with_column((col("g").cast(DataType::Int64) * lit(STRIDE) + col(c::DAY)).alias(c::K))
            .sort([c::K, c::SEQ], SortMultipleOptions::default());
        let covered = episodes(
            count_and_total(keyed, col("sent"), self.window_days).with_column(
                col(W_COUNT)
                    .gt_eq(lit(i64::from(self.min_count)))
                    .and(col(W_TOTAL).gt_eq(col("threshold")))
                    .alias(FIRES),
            ),
            self.window_days,
        )
        .filter(col(EPISODE).is_not_null())
        .collect()?;
        let agg = covered
            .clone()
            .lazy()
            .group_by([col(EPISODE)])
            .agg([
                col("sender_group").first(),
                col("receiver").first(),
                col(c::COUNTERPARTY)
                    .drop_nulls()
                    .first()
                    .alias("receiver_name"),
                col("threshold").first(),
                len().alias("n"),
                col("sent").sum().alias("total"),
                col(W_TOTAL).filter(col(FIRES)).max().alias("peak_total"),
                col(W_COUNT).filter(col(FIRES)).max().alias("peak_count"),
                col(c::ACCT).n_unique().alias("n_senders"),
                col(c::ACCT)
                    .unique()
                    .sort(SortOptions::default())
                    .alias("accts"),
            ])
            .filter(col("n_senders").gt_eq(lit(self.min_senders)))
            .sort([EPISODE], SortMultipleOptions::default())
            .collect()?;

        let ids = i64s(&agg, EPISODE)?;
        let sender_group = i64s(&agg, "sender_group")?;
        let receiver_name = strs(&agg, "receiver_name")?;
        let receiver = strs(&agg, "receiver")?;
        let threshold = i64s(&agg, "threshold")?;
        let n = i64s(&agg, "n")?;
        let total = i64s(&agg, "total")?;
        let peak_total = i64s(&agg, "peak_total")?;
        let peak_count = i64s(&agg, "peak_count")?;
        let n_senders = i64s(&agg, "n_senders")?;
        let accts_col = agg.column("accts")?.list()?.clone();
        let cur = ctx.currency().to_string();
        let money = |p: i64| Value::Money(p, cur.clone());
        let mut out = Vec::new();
        for i in 0..agg.height() {
            let accts: Vec<u32> = accts_col
                .get_as_series(i)
                .map(|s| {
                    s.u32()
                        .map(|ca| ca.into_no_null_iter().collect())
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            let mut subjects: Vec<String> = accts
                .iter()
                .flat_map(|a| {
                    ctx.controllers_of(*a)
                        .split(';')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                })
                .collect();
            subjects.sort();
            subjects.dedup();
            let t = threshold[i].unwrap_or_default();
            let group = match self.senders {
                Senders::One => ctx
                    .account(sender_group[i].unwrap_or_default() as u32)
                    .to_string(),
                Senders::Linked => format!("linked:{}", subjects.join("+")),
            };
            let pt = peak_total[i].unwrap_or_default();
            let pc = peak_count[i].unwrap_or_default();
            let mut metrics = vec![
                Metric::tested(
                    "peak_window_total",
                    format!("highest {}-day total of in-band sends", self.window_days),
                    money(pt),
                    Op::AtLeast,
                    money(t),
                    pt >= t,
                ),
                Metric::tested(
                    "peak_window_count",
                    format!("in-band sends in a {}-day window", self.window_days),
                    Value::Count(pc),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_count)),
                    pc >= i64::from(self.min_count),
                ),
                Metric::info(
                    "band",
                    "band",
                    Value::Text(format!(
                        "{} to {}",
                        ctx.money(band_floor(Money(t), self.band_from)),
                        ctx.money(t - 1)
                    )),
                ),
            ];
            if self.same_receiver {
                metrics.push(Metric::info(
                    "receiver",
                    "receiver",
                    Value::Text(
                        receiver_name[i]
                            .clone()
                            .or_else(|| receiver[i].clone())
                            .unwrap_or_default(),
                    ),
                ));
            }
            let ns = n_senders[i].unwrap_or_default();
            let sender_names: Vec<String> =
                accts.iter().map(|a| ctx.account(*a).to_string()).collect();
            if self.senders == Senders::Linked {
                metrics.push(Metric::tested(
                    "senders",
                    "senders (sending accounts)",
                    Value::Count(ns),
                    Op::AtLeast,
                    Value::Count(i64::from(self.min_senders)),
                    ns >= i64::from(self.min_senders),
                ));
                let g = links
                    .group_of_account
                    .get(accts.first().copied().unwrap_or_default() as usize)
                    .copied()
                    .unwrap_or_default();
                metrics.push(Metric::info(
                    "link",
                    "senders linked by",
                    Value::Text(
                        links
                            .reasons
                            .get(&g)
                            .cloned()
                            .unwrap_or_else(|| "controlling subject".into()),
                    ),
                ));
            }
            metrics.push(Metric::info(
                "sending_accounts",
                "sending accounts",
                Value::Text(sender_names.join(", ")),
            ));
            metrics.push(Metric::info(
                "episode_count",
                "in-band sends in the episode",
                Value::Count(n[i].unwrap_or_default()),
            ));
            metrics.push(Metric::info(
                "episode_total",
                "total of the episode's in-band sends",
                money(total[i].unwrap_or_default()),
            ));
            out.push(Episode {
                episode: ids[i].unwrap_or_default() as u32,
                group,
                subject: subjects.join(";"),
                window: None,
                metrics,
            });
        }
        let evidence = covered
            .lazy()
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
