//! The trace's answers: frames for the output files, and the forward and backward questions.
//!
//! Money in frames is `Decimal(18, 2)`, positive (an amount of money moved or held). Rows
//! are in a fixed order (method order, then ledger order, then origin order), so the same
//! input gives the same frames byte for byte.

use chrono::NaiveDate;
use polars::prelude::*;

use super::engine::{Lot, CLEAN};
use super::input::{date_column, day_to_date, money_column};
use super::prepare::{Prepared, NONE};
use super::run::{Flow, Outcome, TaintedByRow};
use super::{Method, TraceError};

/// Something the investigator should know about how the trace treated the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceNote {
    /// `transfer_unlinked`, `transfer_amounts_differ`, `transfer_excluded`,
    /// `msb_transfer_linked`, `msb_transfer_not_linked`, `opening_balance_unknown`,
    /// `taint_rule_matched_nothing`.
    pub kind: &'static str,
    pub txn_id: Option<String>,
    pub message: String,
}

/// Where a tainted part went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DestinationKind {
    /// A debit that left the case accounts (payment, cash withdrawal, card, MSB send …).
    Payment,
    /// A debit carried to another case account along a matched transfer.
    InternalTransfer,
    /// Part of a credit that repaid an overdraft (the money went to the bank).
    OverdraftRepayment,
    /// Still in the account at the end of the statements.
    RemainingBalance,
}

impl DestinationKind {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Payment => "payment",
            DestinationKind::InternalTransfer => "internal_transfer",
            DestinationKind::OverdraftRepayment => "overdraft_repayment",
            DestinationKind::RemainingBalance => "remaining_balance",
        }
    }
}

/// The tainted part of a debit from one origin along one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginShare {
    pub origin_txn_id: String,
    pub origin_account: String,
    /// Accounts the money passed through, `A>B>C`.
    pub path: String,
    pub amount_pence: i64,
}

/// One method's answer to "how much of this debit is tainted?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodSplit {
    pub method: Method,
    pub tainted_pence: i64,
    pub clean_pence: i64,
    pub origins: Vec<OriginShare>,
}

/// The backward question for one debit, under every method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backward {
    pub txn_id: String,
    pub account_id: String,
    pub booking_date: NaiveDate,
    /// The debit, as a positive amount.
    pub amount_pence: i64,
    /// The part paid from an overdraft (the same under every method).
    pub overdraft_pence: i64,
    /// One per method, in [`Method::ALL`] order; tainted + clean + overdraft = amount.
    pub methods: Vec<MethodSplit>,
}

/// One destination of tainted money in a forward answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardDestination {
    pub kind: DestinationKind,
    /// The debit (or repaying credit); `None` for a remaining balance.
    pub txn_id: Option<String>,
    pub account_id: String,
    pub booking_date: Option<NaiveDate>,
    pub amount_pence: i64,
}

/// Tainted money still in one account at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemainingShare {
    pub account_id: String,
    pub amount_pence: i64,
}

/// The forward question under one method: where the chosen tainted money went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    pub method: Method,
    /// Payments out of the case accounts and overdraft repayments, in ledger order.
    pub destinations: Vec<ForwardDestination>,
    /// Internal transfers it passed along (not final destinations), in ledger order.
    pub via_transfers: Vec<ForwardDestination>,
    /// What is left, per account (case order), only accounts holding some.
    pub remaining: Vec<RemainingShare>,
}

impl Forward {
    /// Everything accounted for: destinations plus remaining.
    pub fn accounted_pence(&self) -> i64 {
        self.destinations
            .iter()
            .map(|d| d.amount_pence)
            .sum::<i64>()
            + self.remaining.iter().map(|r| r.amount_pence).sum::<i64>()
    }
}

/// The result of tracing every method.
#[derive(Debug)]
pub struct Trace {
    p: Prepared,
    outcomes: Vec<Outcome>,
    elected: Option<super::Method>,
    timings: Vec<(&'static str, std::time::Duration)>,
}

/// One row of `trace_flows.csv` before it is a frame: a tainted part of a debit (or of an
/// overdraft repayment), or a tainted lot still held in an account at the end.
#[derive(Clone, Copy)]
enum FlowItem<'a> {
    Flow(&'a Outcome, &'a Flow),
    Remaining(&'a Outcome, u32, &'a Lot),
}

/// One row of `trace_flows.csv`, its values as they are (money in pence, dates as dates), for
/// writers that do not need a frame ([`Trace::flow_rows`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow<'a> {
    pub method: &'static str,
    pub origin_txn_id: &'a str,
    pub origin_account: &'a str,
    pub origin_date: NaiveDate,
    pub destination_kind: &'static str,
    /// `None` for a remaining balance.
    pub destination_txn_id: Option<&'a str>,
    pub destination_account: &'a str,
    pub destination_date: Option<NaiveDate>,
    pub destination_channel: Option<&'a str>,
    pub counterparty: Option<&'a str>,
    pub amount_pence: i64,
    /// Accounts the money passed through, `A>B>C`.
    pub path: std::rc::Rc<str>,
}

/// One row of `trace_summary.csv`, its values as they are (money in pence, the date as a
/// date), for writers that do not need a frame ([`Trace::summary_row_iter`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow<'a> {
    pub destination_txn_id: &'a str,
    pub account_id: &'a str,
    pub booking_date: NaiveDate,
    pub channel: &'a str,
    pub counterparty: Option<&'a str>,
    /// The payment, as a positive amount.
    pub amount_pence: i64,
    /// The part of it paid from an overdraft.
    pub overdraft_pence: i64,
    /// (tainted, clean) pence under each method, in [`Method::ALL`] order.
    pub by_method: [(i64, i64); Method::ALL.len()],
    pub elected_method: Option<&'static str>,
    /// (tainted, clean) pence under the elected method, if one was elected.
    pub elected: Option<(i64, i64)>,
}

fn polars_err(context: &str) -> impl Fn(PolarsError) -> TraceError + '_ {
    move |source| TraceError::Polars {
        context: context.to_string(),
        source,
    }
}

impl Trace {
    pub(crate) fn new(
        p: Prepared,
        outcomes: Vec<Outcome>,
        elected: Option<Method>,
        timings: Vec<(&'static str, std::time::Duration)>,
    ) -> Trace {
        Trace {
            p,
            outcomes,
            elected,
            timings,
        }
    }

    /// Wall-clock time of each step (`prepare`, then each method): for benchmarks and the
    /// run summary, never written into an output file.
    pub fn timings(&self) -> &[(&'static str, std::time::Duration)] {
        &self.timings
    }

    /// Number of ledger rows traced.
    pub fn rows(&self) -> usize {
        self.p.txn_id.len()
    }

    /// The method the investigator elected, if any.
    pub fn elected_method(&self) -> Option<Method> {
        self.elected
    }

    /// Notes on how the input was treated (unlinked transfers, scaled transfers, …).
    pub fn notes(&self) -> Vec<TraceNote> {
        self.p.notes.clone()
    }

    /// Txn ids of the tainted origins, in ledger order.
    pub fn origin_txn_ids(&self) -> Vec<&str> {
        self.p
            .origins
            .iter()
            .map(|&r| self.p.txn_id.text(r as usize))
            .collect()
    }

    /// The clean pence of debit `r` under outcome `o`: what the debit took from the account's
    /// funds (its amount less the unfunded part, the same under every method) less what of
    /// it was tainted. Recorded per method it would be another 8 bytes a ledger row for each.
    /// `tainted`: the debit's tainted pence under that outcome
    /// ([`super::run::Flows::tainted_of`]).
    fn clean_of(&self, r: usize, tainted: i64) -> i64 {
        -self.p.amount[r] - self.outcomes[0].unfunded[r] - tainted
    }

    fn outcome(&self, m: Method) -> &Outcome {
        &self.outcomes[m.index()]
    }

    fn path_text(&self, o: &Outcome, path: u32) -> String {
        o.paths
            .accounts(path)
            .iter()
            .map(|&a| self.p.accounts[a as usize].as_str())
            .collect::<Vec<_>>()
            .join(">")
    }

    fn kind_of(&self, row: u32) -> DestinationKind {
        if self.p.amount[row as usize] > 0 {
            DestinationKind::OverdraftRepayment
        } else if self.p.link[row as usize] != NONE {
            DestinationKind::InternalTransfer
        } else {
            DestinationKind::Payment
        }
    }

    fn row(&self, txn_id: &str) -> Result<u32, TraceError> {
        self.p
            .row_of(txn_id)
            .ok_or_else(|| TraceError::Question(format!("txn {txn_id} is not in the ledger")))
    }

    fn flows_of_row(o: &Outcome, row: u32) -> &[Flow] {
        o.flows.of_row(row)
    }

    /// Backward: how much of debit `txn_id` is tainted under each method, and from which origins.
    pub fn backward(&self, txn_id: &str) -> Result<Backward, TraceError> {
        let row = self.row(txn_id)?;
        let r = row as usize;
        if let Some(why) = self.p.excluded.get(&row) {
            return Err(TraceError::Question(format!(
                "txn {txn_id} is excluded ({why}): it moved no money"
            )));
        }
        if self.p.amount[r] >= 0 {
            return Err(TraceError::Question(format!(
                "txn {txn_id} is a credit; the backward question is asked of a debit"
            )));
        }
        let methods = self
            .outcomes
            .iter()
            .map(|o| MethodSplit {
                method: o.method,
                tainted_pence: o.flows.tainted_of(row),
                clean_pence: self.clean_of(r, o.flows.tainted_of(row)),
                origins: Self::flows_of_row(o, row)
                    .iter()
                    .map(|f| {
                        let origin_row = self.p.origins[f.origin as usize] as usize;
                        OriginShare {
                            origin_txn_id: self.p.txn_id.text(origin_row).to_string(),
                            origin_account: self.p.accounts[self.p.account[origin_row] as usize]
                                .clone(),
                            path: self.path_text(o, f.path),
                            amount_pence: f.amount,
                        }
                    })
                    .collect(),
            })
            .collect();
        Ok(Backward {
            txn_id: txn_id.to_string(),
            account_id: self.p.accounts[self.p.account[r] as usize].clone(),
            booking_date: day_to_date(self.p.date[r]),
            amount_pence: -self.p.amount[r],
            overdraft_pence: self.outcomes[0].unfunded[r],
            methods,
        })
    }

    /// Forward: where origin `origin_txn_id` (or, with `None`, all tainted money) went,
    /// under each method.
    pub fn forward(&self, origin_txn_id: Option<&str>) -> Result<Vec<Forward>, TraceError> {
        let origin = match origin_txn_id {
            None => None,
            Some(txn) => {
                let row = self.row(txn)?;
                let o = self.p.origin_of_row[row as usize];
                if o == CLEAN {
                    return Err(TraceError::Question(format!(
                        "txn {txn} is not a tainted origin"
                    )));
                }
                Some(o)
            }
        };
        let wanted = |o: u32| origin.is_none_or(|x| x == o);
        let mut answers = Vec::new();
        for o in &self.outcomes {
            let mut destinations = Vec::new();
            let mut via_transfers = Vec::new();
            let mut flows = o.flows.iter().peekable();
            while let Some(first) = flows.peek() {
                let row = first.row;
                let mut amount = 0;
                while let Some(f) = flows.next_if(|f| f.row == row) {
                    if wanted(f.origin) {
                        amount += f.amount;
                    }
                }
                if amount == 0 {
                    continue;
                }
                let kind = self.kind_of(row);
                let d = ForwardDestination {
                    kind,
                    txn_id: Some(self.p.txn_id.text(row as usize).to_string()),
                    account_id: self.p.accounts[self.p.account[row as usize] as usize].clone(),
                    booking_date: Some(day_to_date(self.p.date[row as usize])),
                    amount_pence: amount,
                };
                if kind == DestinationKind::InternalTransfer {
                    via_transfers.push(d);
                } else {
                    destinations.push(d);
                }
            }
            let remaining = o
                .end_lots
                .iter()
                .enumerate()
                .filter_map(|(a, lots)| {
                    let amount: i64 = lots
                        .iter()
                        .filter(|l| !l.is_clean() && wanted(l.origin))
                        .map(|l| l.amount)
                        .sum();
                    (amount > 0).then(|| RemainingShare {
                        account_id: self.p.accounts[a].clone(),
                        amount_pence: amount,
                    })
                })
                .collect();
            answers.push(Forward {
                method: o.method,
                destinations,
                via_transfers,
                remaining,
            });
        }
        Ok(answers)
    }

    /// Rows summarised in `trace_summary.csv`: the destinations of interest, or every debit
    /// that leaves the case accounts.
    fn summary_rows(&self) -> Vec<u32> {
        if !self.p.destinations.is_empty() {
            return self.p.destinations.clone();
        }
        (0..self.p.txn_id.len() as u32)
            .filter(|&r| self.p.amount[r as usize] < 0 && self.p.link[r as usize] == NONE)
            .collect()
    }

    /// `trace_flows.csv` whole: every tainted part of every debit, overdraft repayment and
    /// remaining balance, per method, origin and path. For a large trace, write
    /// [`Trace::flow_rows`] row by row instead.
    pub fn flows_frame(&self) -> Result<DataFrame, TraceError> {
        self.flows_frame_of(None)
    }

    /// `trace_flows.csv`'s rows of one method (`Some`), or of every method (`None`), in one
    /// frame.
    pub fn flows_frame_of(&self, method: Option<Method>) -> Result<DataFrame, TraceError> {
        self.flows_chunk(&self.flow_items(method).collect::<Vec<_>>())
    }

    /// Every tainted part of a debit, then every tainted lot left at the end, per method.
    fn flow_items(&self, method: Option<Method>) -> impl Iterator<Item = FlowItem<'_>> + '_ {
        self.outcomes
            .iter()
            .filter(move |o| method.is_none_or(|m| m == o.method))
            .flat_map(|o| {
                let flows = o.flows.iter().map(move |f| FlowItem::Flow(o, f));
                let remaining = o.end_lots.iter().enumerate().flat_map(move |(a, lots)| {
                    lots.iter()
                        .filter(|l| !l.is_clean())
                        .map(move |l| FlowItem::Remaining(o, a as u32, l))
                });
                flows.chain(remaining)
            })
    }

    /// The rows of `trace_flows.csv` one by one, in file order, for `method` (`Some`) or
    /// every method (`None`): the same rows as [`Trace::flows_frame_of`], without a frame.
    pub fn flow_rows(&self, method: Option<Method>) -> impl Iterator<Item = FlowRow<'_>> + '_ {
        let p = &self.p;
        let mut paths: std::collections::HashMap<(Method, u32), std::rc::Rc<str>> =
            std::collections::HashMap::new();
        self.flow_items(method).map(move |item| {
            let (o, origin, path) = match item {
                FlowItem::Flow(o, f) => (o, f.origin, f.path),
                FlowItem::Remaining(o, _, l) => (o, l.origin, l.path),
            };
            let path = paths
                .entry((o.method, path))
                .or_insert_with(|| self.path_text(o, path).into())
                .clone();
            let r = p.origins[origin as usize] as usize;
            let (origin_txn_id, origin_account, origin_date) = (
                p.txn_id.text(r),
                p.accounts[p.account[r] as usize].as_str(),
                day_to_date(p.date[r]),
            );
            match item {
                FlowItem::Flow(_, f) => {
                    let d = f.row as usize;
                    FlowRow {
                        method: o.method.as_str(),
                        origin_txn_id,
                        origin_account,
                        origin_date,
                        destination_kind: self.kind_of(f.row).as_str(),
                        destination_txn_id: Some(p.txn_id.text(d)),
                        destination_account: p.accounts[p.account[d] as usize].as_str(),
                        destination_date: Some(day_to_date(p.date[d])),
                        destination_channel: Some(p.channel.text(d)),
                        counterparty: p.counterparty.get(d),
                        amount_pence: f.amount,
                        path,
                    }
                }
                FlowItem::Remaining(_, account, lot) => FlowRow {
                    method: o.method.as_str(),
                    origin_txn_id,
                    origin_account,
                    origin_date,
                    destination_kind: DestinationKind::RemainingBalance.as_str(),
                    destination_txn_id: None,
                    destination_account: p.accounts[account as usize].as_str(),
                    destination_date: None,
                    destination_channel: None,
                    counterparty: None,
                    amount_pence: lot.amount,
                    path,
                },
            }
        })
    }

    /// `trace_flows.csv`'s rows for `items`, as a frame.
    fn flows_chunk(&self, items: &[FlowItem<'_>]) -> Result<DataFrame, TraceError> {
        let p = &self.p;
        // Path texts first, so the path column can borrow them.
        let mut paths: std::collections::HashMap<(Method, u32), String> =
            std::collections::HashMap::new();
        for item in items {
            let (o, path) = match item {
                FlowItem::Flow(o, f) => (o, f.path),
                FlowItem::Remaining(o, _, l) => (o, l.path),
            };
            paths
                .entry((o.method, path))
                .or_insert_with(|| self.path_text(o, path));
        }
        let n = items.len();
        let mut method = Vec::with_capacity(n);
        let mut origin_txn = Vec::with_capacity(n);
        let mut origin_account = Vec::with_capacity(n);
        let mut origin_date = Vec::with_capacity(n);
        let mut kind = Vec::with_capacity(n);
        let mut dest_txn: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut dest_account = Vec::with_capacity(n);
        let mut dest_date = Vec::with_capacity(n);
        let mut dest_channel: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut counterparty: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut amount = Vec::with_capacity(n);
        let mut path: Vec<&str> = Vec::with_capacity(n);
        let origin_info = |origin: u32| {
            let r = p.origins[origin as usize] as usize;
            (
                p.txn_id.text(r),
                p.accounts[p.account[r] as usize].as_str(),
                p.date[r],
            )
        };
        for item in items {
            let (o, origin, lot_path) = match item {
                FlowItem::Flow(o, f) => (o, f.origin, f.path),
                FlowItem::Remaining(o, _, l) => (o, l.origin, l.path),
            };
            let (t, a, d) = origin_info(origin);
            method.push(o.method.as_str());
            origin_txn.push(t);
            origin_account.push(a);
            origin_date.push(Some(d));
            path.push(paths[&(o.method, lot_path)].as_str());
            match item {
                FlowItem::Flow(_, f) => {
                    let r = f.row as usize;
                    kind.push(self.kind_of(f.row).as_str());
                    dest_txn.push(Some(p.txn_id.text(r)));
                    dest_account.push(p.accounts[p.account[r] as usize].as_str());
                    dest_date.push(Some(p.date[r]));
                    dest_channel.push(Some(p.channel.text(r)));
                    counterparty.push(p.counterparty.get(r));
                    amount.push(Some(f.amount));
                }
                FlowItem::Remaining(_, account, lot) => {
                    kind.push(DestinationKind::RemainingBalance.as_str());
                    dest_txn.push(None);
                    dest_account.push(p.accounts[*account as usize].as_str());
                    dest_date.push(None);
                    dest_channel.push(None);
                    counterparty.push(None);
                    amount.push(Some(lot.amount));
                }
            }
        }
        let build = || -> PolarsResult<DataFrame> {
            DataFrame::new(
                n,
                vec![
                    Column::new("method".into(), method),
                    Column::new("origin_txn_id".into(), origin_txn),
                    Column::new("origin_account".into(), origin_account),
                    date_column("origin_date", origin_date)?,
                    Column::new("destination_kind".into(), kind),
                    Column::new("destination_txn_id".into(), dest_txn),
                    Column::new("destination_account".into(), dest_account),
                    date_column("destination_date", dest_date)?,
                    Column::new("destination_channel".into(), dest_channel),
                    Column::new("counterparty".into(), counterparty),
                    money_column("amount", amount)?,
                    Column::new("path".into(), path),
                ],
            )
        };
        build().map_err(polars_err("building trace_flows"))
    }

    /// `trace_summary.csv`: per destination (of interest, or every debit leaving the case
    /// accounts): amount, overdraft, tainted and clean per method, and the elected method.
    pub fn summary_frame(&self) -> Result<DataFrame, TraceError> {
        self.summary_frame_of(&self.summary_rows())
    }

    /// The first `n` rows of [`Trace::summary_frame`], for tables that show only the start
    /// of it; [`Trace::summary_len`] is how many rows the whole has.
    pub fn summary_frame_head(&self, n: usize) -> Result<DataFrame, TraceError> {
        let mut rows = self.summary_rows();
        rows.truncate(n);
        self.summary_frame_of(&rows)
    }

    /// How many rows `trace_summary.csv` has: one per payment out of the traced accounts.
    pub fn summary_len(&self) -> usize {
        self.summary_rows().len()
    }

    /// The column names of `trace_summary.csv`, in order.
    pub fn summary_columns(&self) -> Vec<String> {
        let mut names: Vec<String> = [
            "destination_txn_id",
            "account_id",
            "booking_date",
            "channel",
            "counterparty",
            "amount",
            "overdraft",
        ]
        .map(String::from)
        .into();
        for o in &self.outcomes {
            let m = o.method.as_str();
            names.push(format!("tainted_{m}"));
            names.push(format!("clean_{m}"));
        }
        names.extend(["elected_method", "tainted_elected", "clean_elected"].map(String::from));
        names
    }

    /// `trace_summary.csv` row by row, in the frame's order, for writing without building
    /// the frame (one row per payment: ten million at 10M ledger rows).
    pub fn summary_row_iter(&self) -> impl Iterator<Item = SummaryRow<'_>> + '_ {
        let p = &self.p;
        let elected = self.elected.map(|m| m.index());
        let mut tainted: Vec<TaintedByRow<'_>> = self
            .outcomes
            .iter()
            .map(|o| o.flows.tainted_by_row())
            .collect();
        self.summary_rows().into_iter().map(move |row| {
            let r = row as usize;
            let mut by_method = [(0, 0); Method::ALL.len()];
            for (slot, reader) in by_method.iter_mut().zip(tainted.iter_mut()) {
                let t = reader.get(row);
                *slot = (t, self.clean_of(r, t));
            }
            SummaryRow {
                destination_txn_id: p.txn_id.text(r),
                account_id: p.accounts[p.account[r] as usize].as_str(),
                booking_date: day_to_date(p.date[r]),
                channel: p.channel.text(r),
                counterparty: p.counterparty.get(r),
                amount_pence: -p.amount[r],
                overdraft_pence: self.outcomes[0].unfunded[r],
                by_method,
                elected_method: self.elected.map(Method::as_str),
                elected: elected.map(|m| by_method[m]),
            }
        })
    }

    fn summary_frame_of(&self, rows: &[u32]) -> Result<DataFrame, TraceError> {
        let p = &self.p;
        let mut columns = vec![
            Column::new(
                "destination_txn_id".into(),
                rows.iter()
                    .map(|&r| p.txn_id.text(r as usize))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "account_id".into(),
                rows.iter()
                    .map(|&r| p.accounts[p.account[r as usize] as usize].as_str())
                    .collect::<Vec<_>>(),
            ),
        ];
        let mut build = || -> PolarsResult<()> {
            columns.push(date_column(
                "booking_date",
                rows.iter().map(|&r| Some(p.date[r as usize])).collect(),
            )?);
            columns.push(Column::new(
                "channel".into(),
                rows.iter()
                    .map(|&r| p.channel.text(r as usize))
                    .collect::<Vec<_>>(),
            ));
            columns.push(Column::new(
                "counterparty".into(),
                rows.iter()
                    .map(|&r| p.counterparty.get(r as usize))
                    .collect::<Vec<_>>(),
            ));
            columns.push(money_column(
                "amount",
                rows.iter().map(|&r| Some(-p.amount[r as usize])).collect(),
            )?);
            columns.push(money_column(
                "overdraft",
                rows.iter()
                    .map(|&r| Some(self.outcomes[0].unfunded[r as usize]))
                    .collect(),
            )?);
            let tainted: Vec<Vec<i64>> = self
                .outcomes
                .iter()
                .map(|o| {
                    let mut reader = o.flows.tainted_by_row();
                    rows.iter().map(|&r| reader.get(r)).collect()
                })
                .collect();
            for (o, t) in self.outcomes.iter().zip(&tainted) {
                let m = o.method.as_str();
                columns.push(money_column(
                    &format!("tainted_{m}"),
                    t.iter().map(|&t| Some(t)).collect(),
                )?);
                columns.push(money_column(
                    &format!("clean_{m}"),
                    rows.iter()
                        .zip(t)
                        .map(|(&r, &t)| Some(self.clean_of(r as usize, t)))
                        .collect(),
                )?);
            }
            let elected = self.elected.map(|m| &tainted[m.index()]);
            columns.push(Column::new(
                "elected_method".into(),
                rows.iter()
                    .map(|_| self.elected.map(Method::as_str))
                    .collect::<Vec<_>>(),
            ));
            columns.push(money_column(
                "tainted_elected",
                (0..rows.len()).map(|i| elected.map(|t| t[i])).collect(),
            )?);
            columns.push(money_column(
                "clean_elected",
                rows.iter()
                    .enumerate()
                    .map(|(i, &r)| elected.map(|t| self.clean_of(r as usize, t[i])))
                    .collect(),
            )?);
            Ok(())
        };
        build().map_err(polars_err("building trace_summary"))?;
        DataFrame::new(rows.len(), columns).map_err(polars_err("building trace_summary"))
    }

    /// `trace_balances.csv`: per account and method, the opening balance, the end balance
    /// and its split into tainted, clean and overdraft (end = tainted + clean − overdraft).
    pub fn balances_frame(&self) -> Result<DataFrame, TraceError> {
        let p = &self.p;
        let mut account = Vec::new();
        let mut method = Vec::new();
        let mut opening = Vec::new();
        let mut end = Vec::new();
        let mut tainted = Vec::new();
        let mut clean = Vec::new();
        let mut overdraft = Vec::new();
        for (a, name) in p.accounts.iter().enumerate() {
            for o in &self.outcomes {
                let lots: &[Lot] = &o.end_lots[a];
                let t: i64 = lots
                    .iter()
                    .filter(|l| !l.is_clean())
                    .map(|l| l.amount)
                    .sum();
                let c: i64 = lots.iter().filter(|l| l.is_clean()).map(|l| l.amount).sum();
                account.push(name.as_str());
                method.push(o.method.as_str());
                opening.push(Some(p.opening[a]));
                end.push(Some(t + c - o.end_overdraft[a]));
                tainted.push(Some(t));
                clean.push(Some(c));
                overdraft.push(Some(o.end_overdraft[a]));
            }
        }
        let n = account.len();
        let build = || -> PolarsResult<DataFrame> {
            DataFrame::new(
                n,
                vec![
                    Column::new("account_id".into(), account),
                    Column::new("method".into(), method),
                    money_column("opening_balance", opening)?,
                    money_column("end_balance", end)?,
                    money_column("tainted", tainted)?,
                    money_column("clean", clean)?,
                    money_column("overdraft", overdraft)?,
                ],
            )
        };
        build().map_err(polars_err("building trace_balances"))
    }

    /// `trace_origins.csv`: every credit a taint rule matched, tainted or excluded as an
    /// accepted legitimate source, with the reason.
    pub fn origins_frame(&self) -> Result<DataFrame, TraceError> {
        let p = &self.p;
        let c = &p.classified;
        let build = || -> PolarsResult<DataFrame> {
            DataFrame::new(
                c.len(),
                vec![
                    Column::new(
                        "txn_id".into(),
                        c.iter()
                            .map(|x| p.txn_id.text(x.row as usize))
                            .collect::<Vec<_>>(),
                    ),
                    Column::new(
                        "account_id".into(),
                        c.iter()
                            .map(|x| p.accounts[p.account[x.row as usize] as usize].as_str())
                            .collect::<Vec<_>>(),
                    ),
                    date_column(
                        "booking_date",
                        c.iter().map(|x| Some(p.date[x.row as usize])).collect(),
                    )?,
                    money_column(
                        "amount",
                        c.iter().map(|x| Some(p.amount[x.row as usize])).collect(),
                    )?,
                    Column::new(
                        "channel".into(),
                        c.iter()
                            .map(|x| p.channel.text(x.row as usize))
                            .collect::<Vec<_>>(),
                    ),
                    Column::new(
                        "counterparty".into(),
                        c.iter()
                            .map(|x| p.counterparty.get(x.row as usize))
                            .collect::<Vec<_>>(),
                    ),
                    Column::new(
                        "status".into(),
                        c.iter()
                            .map(|x| if x.tainted { "tainted" } else { "excluded" })
                            .collect::<Vec<_>>(),
                    ),
                    Column::new(
                        "reason".into(),
                        c.iter().map(|x| x.reason.as_str()).collect::<Vec<_>>(),
                    ),
                ],
            )
        };
        build().map_err(polars_err("building trace_origins"))
    }

    /// `trace_notes.csv`: the notes as a frame (`kind`, `txn_id`, `message`).
    pub fn notes_frame(&self) -> Result<DataFrame, TraceError> {
        let n = &self.p.notes;
        DataFrame::new(
            n.len(),
            vec![
                Column::new("kind".into(), n.iter().map(|x| x.kind).collect::<Vec<_>>()),
                Column::new(
                    "txn_id".into(),
                    n.iter().map(|x| x.txn_id.as_deref()).collect::<Vec<_>>(),
                ),
                Column::new(
                    "message".into(),
                    n.iter().map(|x| x.message.as_str()).collect::<Vec<_>>(),
                ),
            ],
        )
        .map_err(polars_err("building trace_notes"))
    }

    /// Tainted pence held by `account_id` at the end under `method`.
    pub fn tainted_at_end(&self, method: Method, account_id: &str) -> Option<i64> {
        let a = self.p.accounts.iter().position(|x| x == account_id)?;
        Some(
            self.outcome(method).end_lots[a]
                .iter()
                .filter(|l| !l.is_clean())
                .map(|l| l.amount)
                .sum(),
        )
    }

    /// Balance of `account_id` at the end (pence; negative when overdrawn).
    pub fn balance_at_end(&self, account_id: &str) -> Option<i64> {
        let a = self.p.accounts.iter().position(|x| x == account_id)?;
        let o = &self.outcomes[0];
        Some(o.end_lots[a].iter().map(|l| l.amount).sum::<i64>() - o.end_overdraft[a])
    }
}
