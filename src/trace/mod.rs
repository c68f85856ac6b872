//! Tracing: follow tainted money through mixed accounts by every recognised method.
//!
//! **In:** the ledger frame (`docs/ledger.md`; the columns used are listed in
//! [`input::REQUIRED_COLUMNS`]), optionally the internal-transfers frame from verification
//! (`debit_txn_id`, `credit_txn_id`, …), optionally the detection stage's evidence rows
//! (`rule_id`, `txn_id`), and a [`TaintSpec`] saying which credits are tainted. Money
//! transfers between case accounts (the send and the payout of one MTCN, read from the
//! ledger's `bank_txn_id` and `party_name`) are linked like internal transfers; rows with an
//! `excluded_reason` move no money ([`input::OPTIONAL_COLUMNS`]).
//!
//! **Out:** a [`Trace`] holding, for each of the five [`Method`]s, the split by origin of
//! every debit, the overdraft repayments and the money left in each account; as frames for
//! `trace_flows.csv`, `trace_summary.csv`, `trace_balances.csv` and `trace_origins.csv`,
//! and as answers to the forward ("where did origin X go?") and backward ("how much of this
//! payment is tainted?") questions.
//!
//! **Why:** whose money paid for the house depends on the tracing method, and the law
//! recognises several. Every method runs on the same events and is shown side by side; the
//! investigator's election is recorded. Money is integer pence throughout; every split sums
//! exactly to its parent. The method rules, the rounding rule, opening balances, overdrafts
//! and multi-hop transfers are documented in `docs/tracing.md`.

pub mod engine;
pub mod fifo;
pub mod hallett;
pub mod input;
pub mod libr;
pub mod lifo;
mod output;
mod prepare;
pub mod pro_rata;
mod run;
pub(crate) mod txn_index;

use chrono::NaiveDate;
use polars::prelude::{DataFrame, PolarsError};
use serde::{Deserialize, Deserializer, Serialize};

use crate::ledger::Channel;

pub use engine::{apportion, AccountBook, Allocator, Lot};
pub use output::{
    Backward, DestinationKind, FlowRow, Forward, ForwardDestination, MethodSplit, OriginShare,
    RemainingShare, SummaryRow, Trace, TraceNote,
};

/// A tracing method. Order here is the order of every output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Clayton's Case: earliest money out first.
    Fifo,
    /// Latest money out first.
    Lifo,
    /// Re Hallett's Estate: the wrongdoer's own (clean) money out first.
    Hallett,
    /// Roscoe v Winder limit, tainted money followed out first (claimant's election).
    Libr,
    /// Barlow Clowes rolling charge: in proportion to the tainted share of the balance.
    ProRata,
}

impl Method {
    /// Every method, in output order.
    pub const ALL: [Method; 5] = [
        Method::Fifo,
        Method::Lifo,
        Method::Hallett,
        Method::Libr,
        Method::ProRata,
    ];

    /// The name used in files and the case file: `fifo`, `lifo`, `hallett`, `libr`, `pro_rata`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Fifo => "fifo",
            Method::Lifo => "lifo",
            Method::Hallett => "hallett",
            Method::Libr => "libr",
            Method::ProRata => "pro_rata",
        }
    }

    /// Position in [`Method::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// What is tainted, and what the investigator asks about: the `[tracing]` table of the case
/// file. A credit is tainted when any `tainted_*` rule (or `all_credits_tainted`) matches it
/// and no `legitimate_*` entry does; everything else is clean. See `docs/tracing.md`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaintSpec {
    /// The method the investigator elects; all are computed and shown regardless.
    #[serde(default)]
    pub elected_method: Option<Method>,
    /// Debits the investigator asks about (the house deposit), by txn_id. Empty: every
    /// debit that leaves the case accounts is summarised.
    #[serde(default)]
    pub destinations: Vec<String>,
    /// Credits tainted by name.
    #[serde(default)]
    pub tainted_txn_ids: Vec<String>,
    /// Credits from these counterparties are tainted (names compared after
    /// [`normalise_name`]).
    #[serde(default)]
    pub tainted_counterparties: Vec<String>,
    /// Credits on these channels, optionally within a date window and to some accounts.
    #[serde(default)]
    pub tainted_channels: Vec<ChannelTaint>,
    /// Credits that are evidence rows of findings of these rule ids (`"*"`: any rule).
    #[serde(default)]
    pub tainted_findings: Vec<String>,
    /// Every credit is tainted unless it is an accepted legitimate source.
    #[serde(default)]
    pub all_credits_tainted: bool,
    /// Accepted legitimate sources by txn_id: never tainted, shown as excluded.
    #[serde(default)]
    pub legitimate_txn_ids: Vec<String>,
    /// Accepted legitimate sources by counterparty: never tainted, shown as excluded.
    #[serde(default)]
    pub legitimate_counterparties: Vec<String>,
}

/// Credits on one channel, within an optional date window, to optional accounts.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelTaint {
    /// The ledger channel, e.g. `cash_deposit`.
    pub channel: Channel,
    /// Only credits booked strictly after this day (e.g. the relevant day, s.10(2) POCA).
    #[serde(default, deserialize_with = "de_opt_date")]
    pub after: Option<NaiveDate>,
    /// Only credits booked on or before this day.
    #[serde(default, deserialize_with = "de_opt_date")]
    pub until: Option<NaiveDate>,
    /// Only credits to these accounts (empty: any account).
    #[serde(default)]
    pub accounts: Vec<String>,
}

/// A date written either as a TOML date (`2019-03-15`) or as a string (`"2019-03-15"`).
fn de_opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum DateRepr {
        Toml(toml::value::Datetime),
        Text(String),
    }
    let text = match Option::<DateRepr>::deserialize(d)? {
        None => return Ok(None),
        Some(DateRepr::Toml(dt)) => dt.to_string(),
        Some(DateRepr::Text(s)) => s,
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| {
            serde::de::Error::custom(format!(
                "{text:?} is not a plain date; write it like 2019-03-15"
            ))
        })
}

/// Normalise a counterparty name for matching: upper case, every run of characters other
/// than letters and digits becomes one space, trimmed. `"J. Smith  Ltd"` → `"J SMITH LTD"`.
pub fn normalise_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_space = false;
    for c in name.chars() {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_uppercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// What the tracing stage reads.
#[derive(Debug, Clone, Copy)]
pub struct TraceInput<'a> {
    /// The canonical ledger (at least [`input::REQUIRED_COLUMNS`]).
    pub ledger: &'a DataFrame,
    /// Matched internal transfers: `debit_txn_id`, `credit_txn_id` required; `transfer_id`,
    /// `debit_account`, `credit_account` checked when present.
    pub transfers: Option<&'a DataFrame>,
    /// Detection evidence rows: `rule_id`, `txn_id`.
    pub finding_evidence: Option<&'a DataFrame>,
    /// What is tainted and what is asked.
    pub spec: &'a TaintSpec,
}

/// Why tracing could not run. Input errors name the txn_id, column or key at fault.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// A frame lacks a column or has the wrong type for it.
    #[error("tracing: {frame} frame: {problem}")]
    Schema {
        frame: &'static str,
        problem: String,
    },
    /// A value in a frame cannot be traced (a duplicate txn_id, a transfer with a credit
    /// as its debit, …).
    #[error("tracing: {frame} frame: {problem}")]
    BadData {
        frame: &'static str,
        problem: String,
    },
    /// The `[tracing]` spec names something that does not fit the ledger.
    #[error("tracing: `tracing.{key}` {problem}")]
    Spec { key: String, problem: String },
    /// A question about a txn_id the trace does not know.
    #[error("tracing: {0}")]
    Question(String),
    /// Polars failed while reading or building a frame.
    #[error("tracing: {context}: {source}")]
    Polars {
        context: String,
        source: PolarsError,
    },
    /// Sums outgrew 64-bit pence (more than 92 million billion pounds): a corrupt input.
    #[error("tracing: account {account} balance overflows 64-bit pence; the input is corrupt")]
    Overflow { account: String },
}

impl TraceError {
    /// Whether the error is the user's input (ledger, transfers, spec) rather than our bug.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, TraceError::Polars { .. })
    }
}

/// Trace every method over the input.
pub fn trace(input: &TraceInput<'_>) -> Result<Trace, TraceError> {
    let started = std::time::Instant::now();
    let mut prepared = prepare::prepare(input)?;
    // The columns prepare read and let go (700 MB at 10M rows) go back before the methods
    // build their books.
    crate::give_back_free_memory();
    let mut timings = vec![("prepare", started.elapsed())];
    timings.extend(prepared.timings.iter().copied());
    // The methods are independent: they run side by side, the longest (pro rata, which
    // splits every debit among every origin in the account) first, and their answers are
    // kept in method order.
    let mut started_order = Method::ALL;
    started_order.sort_by_key(|m| *m != Method::ProRata);
    let mut done = crate::parallel::in_order(started_order.len(), |i| {
        let started = std::time::Instant::now();
        let m = started_order[i];
        run::run_method(m, &prepared).map(|o| (o, started.elapsed()))
    })
    .into_iter()
    .zip(started_order)
    .map(|(outcome, m)| outcome.map(|(o, took)| (m, o, took)))
    .collect::<Result<Vec<_>, _>>()?;
    // The order of events is the methods' alone.
    prepared.schedule = Vec::new();
    done.sort_by_key(|(m, _, _)| m.index());
    let mut outcomes = Vec::with_capacity(done.len());
    for (m, outcome, took) in done {
        timings.push((m.as_str(), took));
        outcomes.push(outcome);
    }
    Ok(Trace::new(
        prepared,
        outcomes,
        input.spec.elected_method,
        timings,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise() {
        assert_eq!(normalise_name("J. Smith  Ltd"), "J SMITH LTD");
        assert_eq!(normalise_name("  o'brien-jones "), "O BRIEN JONES");
        assert_eq!(normalise_name("***"), "");
    }

    #[test]
    fn spec_reads_from_toml() {
        let spec: TaintSpec = toml::from_str(
            r#"
            elected_method = "pro_rata"
            destinations = ["abc-L9"]
            tainted_txn_ids = ["abc-L2"]
            tainted_counterparties = ["J Smith"]
            tainted_findings = ["STR-001"]
            legitimate_counterparties = ["HMRC"]
            [[tainted_channels]]
            channel = "cash_deposit"
            after = 2019-03-15
            until = "2024-12-31"
            accounts = ["DH-CURRENT"]
            "#,
        )
        .unwrap();
        assert_eq!(spec.elected_method, Some(Method::ProRata));
        assert_eq!(spec.tainted_channels[0].channel, Channel::CashDeposit);
        assert_eq!(
            spec.tainted_channels[0].after,
            NaiveDate::from_ymd_opt(2019, 3, 15)
        );
        assert_eq!(
            spec.tainted_channels[0].until,
            NaiveDate::from_ymd_opt(2024, 12, 31)
        );
        let typo = toml::from_str::<TaintSpec>("tainted_txn = []").unwrap_err();
        assert!(typo.to_string().contains("unknown field"), "{typo}");
        let bad_method = toml::from_str::<TaintSpec>("elected_method = \"clayton\"").unwrap_err();
        assert!(bad_method.to_string().contains("fifo"), "{bad_method}");
    }
}
