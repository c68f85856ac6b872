//! The canonical ledger: one row per transaction, whatever the source format.
//!
//! Every ingest path produces [`LedgerRow`]s; [`LedgerBuilder`] collects them column by
//! column and [`LedgerBuilder::finish`] returns a polars `DataFrame` in canonical order
//! (account, booking date, the case's source order, then the bank's own order within the
//! file). The schema is documented in `docs/ledger.md` and pinned by [`schema`]. Money
//! columns are `Decimal(18, 2)`: exact, never floats.

use chrono::NaiveDate;
use polars::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::to_minor_units;

/// How money moved. The closed list every later stage relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    CashDeposit,
    CashWithdrawal,
    Transfer,
    Card,
    DirectDebit,
    StandingOrder,
    Cheque,
    Fee,
    Interest,
    MsbSend,
    MsbPayout,
    Other,
}

impl Channel {
    /// Every channel, in documentation order.
    pub const ALL: [Channel; 12] = [
        Channel::CashDeposit,
        Channel::CashWithdrawal,
        Channel::Transfer,
        Channel::Card,
        Channel::DirectDebit,
        Channel::StandingOrder,
        Channel::Cheque,
        Channel::Fee,
        Channel::Interest,
        Channel::MsbSend,
        Channel::MsbPayout,
        Channel::Other,
    ];

    /// The name used in files: `cash_deposit`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::CashDeposit => "cash_deposit",
            Channel::CashWithdrawal => "cash_withdrawal",
            Channel::Transfer => "transfer",
            Channel::Card => "card",
            Channel::DirectDebit => "direct_debit",
            Channel::StandingOrder => "standing_order",
            Channel::Cheque => "cheque",
            Channel::Fee => "fee",
            Channel::Interest => "interest",
            Channel::MsbSend => "msb_send",
            Channel::MsbPayout => "msb_payout",
            Channel::Other => "other",
        }
    }
}

/// Ledger column names, in output order.
pub mod col {
    pub const TXN_ID: &str = "txn_id";
    pub const ACCOUNT_ID: &str = "account_id";
    pub const SOURCE_FILE: &str = "source_file";
    pub const SOURCE_SHA256: &str = "source_sha256";
    pub const SOURCE_LINE: &str = "source_line";
    pub const EXHIBIT: &str = "exhibit";
    pub const SEQ: &str = "seq";
    pub const BOOKING_DATE: &str = "booking_date";
    pub const VALUE_DATE: &str = "value_date";
    pub const AMOUNT: &str = "amount";
    pub const CURRENCY: &str = "currency";
    pub const AMOUNT_BASE: &str = "amount_base";
    pub const BALANCE: &str = "balance";
    pub const CHANNEL: &str = "channel";
    pub const COUNTERPARTY_NAME: &str = "counterparty_name";
    pub const COUNTERPARTY_ACCOUNT: &str = "counterparty_account";
    pub const DESCRIPTION: &str = "description";
    pub const LOCATION: &str = "location";
    pub const BANK_TYPE: &str = "bank_type";
    pub const BANK_TXN_ID: &str = "bank_txn_id";
    pub const BOOKING_TIME: &str = "booking_time";
    pub const REVERSAL: &str = "reversal";
    pub const PARTY_NAME: &str = "party_name";
    pub const PARTY_ADDRESS: &str = "party_address";
    pub const PARTY_ID: &str = "party_id";
    pub const COUNTERPARTY_COUNTRY: &str = "counterparty_country";
    pub const EXCLUDED_REASON: &str = "excluded_reason";

    /// The text columns [`super::LedgerBuilder`] writes row by row, each row's bytes after
    /// the previous row's in ledger order. The other text columns (account, source file,
    /// SHA-256, exhibit, currency, channel) hold one copy of each value, shared by its rows.
    pub const WRITTEN_ROW_BY_ROW: [&str; 13] = [
        TXN_ID,
        COUNTERPARTY_NAME,
        COUNTERPARTY_ACCOUNT,
        DESCRIPTION,
        LOCATION,
        BANK_TYPE,
        BANK_TXN_ID,
        BOOKING_TIME,
        PARTY_NAME,
        PARTY_ADDRESS,
        PARTY_ID,
        COUNTERPARTY_COUNTRY,
        EXCLUDED_REASON,
    ];
}

/// Precision and scale of every money column.
pub const MONEY_DTYPE: DataType = DataType::Decimal(18, 2);

/// The ledger schema, in column order.
pub fn schema() -> Vec<(&'static str, DataType)> {
    use col::*;
    vec![
        (TXN_ID, DataType::String),
        (ACCOUNT_ID, DataType::String),
        (SOURCE_FILE, DataType::String),
        (SOURCE_SHA256, DataType::String),
        (SOURCE_LINE, DataType::UInt32),
        (EXHIBIT, DataType::String),
        (SEQ, DataType::UInt64),
        (BOOKING_DATE, DataType::Date),
        (VALUE_DATE, DataType::Date),
        (AMOUNT, MONEY_DTYPE),
        (CURRENCY, DataType::String),
        (AMOUNT_BASE, MONEY_DTYPE),
        (BALANCE, MONEY_DTYPE),
        (CHANNEL, DataType::String),
        (COUNTERPARTY_NAME, DataType::String),
        (COUNTERPARTY_ACCOUNT, DataType::String),
        (DESCRIPTION, DataType::String),
        (LOCATION, DataType::String),
        (BANK_TYPE, DataType::String),
        (BANK_TXN_ID, DataType::String),
        (BOOKING_TIME, DataType::String),
        (REVERSAL, DataType::Boolean),
        (PARTY_NAME, DataType::String),
        (PARTY_ADDRESS, DataType::String),
        (PARTY_ID, DataType::String),
        (COUNTERPARTY_COUNTRY, DataType::String),
        (EXCLUDED_REASON, DataType::String),
    ]
}

/// Where a row came from: enough to find the line in the disclosed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// Position of the source in the case file (1-based); orders same-day rows across files.
    pub source_index: u32,
    /// Path as written in the case file.
    pub source_file: String,
    pub source_sha256: String,
    pub exhibit: Option<String>,
}

/// One transaction, ready for the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRow {
    pub account_id: String,
    /// 1-based line (or record) in the source where the row starts.
    pub source_line: u32,
    /// 0 for a whole record; 1, 2, … for the parts of a record split into several rows.
    pub sub: u32,
    /// Position in the bank's chronology within the source (0 = earliest).
    pub order_in_source: u64,
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub amount: Decimal,
    pub currency: String,
    pub amount_base: Option<Decimal>,
    pub balance: Option<Decimal>,
    pub channel: Channel,
    pub counterparty_name: Option<String>,
    pub counterparty_account: Option<String>,
    pub description: String,
    pub location: Option<String>,
    pub bank_type: Option<String>,
    pub bank_txn_id: Option<String>,
    pub booking_time: Option<String>,
    /// A reversal of an earlier entry, as the bank marked it.
    pub reversal: bool,
    /// Who acted on the case side when the record names a person (MSB sender or receiver).
    pub party: Party,
    pub counterparty_country: Option<String>,
    /// Why no later stage may count this row (e.g. a cancelled money transfer); `None`
    /// for an ordinary transaction.
    pub excluded_reason: Option<String>,
}

/// A [`LedgerRow`] with its text borrowed, for [`LedgerBuilder::push_row`]: the builder
/// copies text into its own column buffers, so a row costs no allocation of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerRowRef<'a> {
    pub source_line: u32,
    pub sub: u32,
    pub order_in_source: u64,
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub amount: Decimal,
    pub currency: &'a str,
    pub amount_base: Option<Decimal>,
    pub balance: Option<Decimal>,
    pub channel: Channel,
    pub counterparty_name: Option<&'a str>,
    pub counterparty_account: Option<&'a str>,
    pub description: &'a str,
    pub location: Option<&'a str>,
    pub bank_type: Option<&'a str>,
    pub bank_txn_id: Option<&'a str>,
    pub booking_time: Option<&'a str>,
    pub reversal: bool,
    pub party: &'a Party,
    pub counterparty_country: Option<&'a str>,
    pub excluded_reason: Option<&'a str>,
}

impl LedgerRow {
    /// The row with its text borrowed.
    pub fn as_ref(&self) -> LedgerRowRef<'_> {
        LedgerRowRef {
            source_line: self.source_line,
            sub: self.sub,
            order_in_source: self.order_in_source,
            booking_date: self.booking_date,
            value_date: self.value_date,
            amount: self.amount,
            currency: &self.currency,
            amount_base: self.amount_base,
            balance: self.balance,
            channel: self.channel,
            counterparty_name: self.counterparty_name.as_deref(),
            counterparty_account: self.counterparty_account.as_deref(),
            description: &self.description,
            location: self.location.as_deref(),
            bank_type: self.bank_type.as_deref(),
            bank_txn_id: self.bank_txn_id.as_deref(),
            booking_time: self.booking_time.as_deref(),
            reversal: self.reversal,
            party: &self.party,
            counterparty_country: self.counterparty_country.as_deref(),
            excluded_reason: self.excluded_reason.as_deref(),
        }
    }
}

/// The person on the case side of a record that names one (money-transfer records).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    pub name: Option<String>,
    pub address: Option<String>,
    pub id: Option<String>,
}

/// The stable transaction id: the first 12 hex digits of the source's SHA-256, the line,
/// and the part number when a record yields several rows. Same bytes → same id.
pub fn txn_id(source_sha256: &str, line: u32, sub: u32) -> String {
    let mut id = String::new();
    write_txn_id(&mut id, source_sha256, line, sub);
    id
}

/// [`txn_id`] written into `out` (cleared first), so a column of ids reuses one buffer.
fn write_txn_id(out: &mut String, source_sha256: &str, line: u32, sub: u32) {
    use std::fmt::Write;
    out.clear();
    let prefix = source_sha256.get(..12).unwrap_or(source_sha256);
    // Writing into a String cannot fail.
    let _ = if sub == 0 {
        write!(out, "{prefix}-L{line}")
    } else {
        write!(out, "{prefix}-L{line}.{sub}")
    };
}

/// One text column, every cell's bytes in one buffer: no `String` per cell to allocate,
/// sort or free.
#[derive(Debug, Default)]
struct TextColumn {
    bytes: String,
    /// Per row, where its value ends in `bytes` (it starts where the previous row's ends).
    ends: Vec<usize>,
    /// Per row, whether it has a value (`None` is not the empty string).
    present: Vec<bool>,
    /// Rows pushed while no row had a value, before any was stored: a column most sources
    /// never fill (the money-transfer parties, say) costs nothing per row until one does.
    absent_only: usize,
    /// Rows to make room for when the first value is stored ([`LedgerBuilder::with_capacity`]).
    expected_rows: usize,
}

impl TextColumn {
    fn push(&mut self, value: Option<&str>) {
        match value {
            None if self.ends.is_empty() => self.absent_only += 1,
            _ => {
                if self.ends.is_empty() {
                    let rows = self.expected_rows.max(self.absent_only + 1);
                    self.ends.reserve(rows);
                    self.present.reserve(rows);
                    self.ends.resize(self.absent_only, 0);
                    self.present.resize(self.absent_only, false);
                    self.absent_only = 0;
                }
                if let Some(v) = value {
                    self.bytes.push_str(v);
                }
                self.ends.push(self.bytes.len());
                self.present.push(value.is_some());
            }
        }
    }

    fn get(&self, row: usize) -> Option<&str> {
        if self.ends.is_empty() || !self.present[row] {
            return None;
        }
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        self.bytes.get(start..self.ends[row])
    }
}

/// A money column that may be empty, in minor units: 17 bytes a row where `Option<i128>`
/// takes 32 (a builder holds every row of a case).
#[derive(Debug, Default)]
struct MoneyColumn {
    minor: Vec<i128>,
    present: Vec<bool>,
}

impl MoneyColumn {
    fn with_capacity(rows: usize) -> Self {
        MoneyColumn {
            minor: Vec::with_capacity(rows),
            present: Vec::with_capacity(rows),
        }
    }

    fn push(&mut self, value: Option<i128>) {
        self.minor.push(value.unwrap_or(0));
        self.present.push(value.is_some());
    }

    fn get(&self, row: usize) -> Option<i128> {
        self.present[row].then(|| self.minor[row])
    }
}

/// The base-currency amounts: in most cases every row's is its own amount (a statement in
/// the case's currency), so nothing is stored per row until a row's differs; from then on
/// every row's is stored, the earlier rows' filled in from their amounts.
#[derive(Debug, Default)]
struct BaseAmounts {
    /// Every row's, once one row's differed from its amount.
    rows: Option<MoneyColumn>,
    /// Rows to make room for when the first differing row comes.
    expected_rows: usize,
}

impl BaseAmounts {
    /// Add the last row of `amounts`, whose base amount is `base`.
    fn push(&mut self, amounts: &[i128], base: Option<i128>) {
        let column = match &mut self.rows {
            Some(column) => column,
            None if base.is_some() && base == amounts.last().copied() => return,
            None => {
                let earlier = &amounts[..amounts.len().saturating_sub(1)];
                let mut column = MoneyColumn::with_capacity(self.expected_rows.max(amounts.len()));
                for &amount in earlier {
                    column.push(Some(amount));
                }
                self.rows.insert(column)
            }
        };
        column.push(base);
    }

    /// Store every row's base amount, for a builder whose rows are `amounts`.
    fn store_all(&mut self, amounts: &[i128]) {
        self.rows.get_or_insert_with(|| {
            let mut column = MoneyColumn::with_capacity(amounts.len());
            for &amount in amounts {
                column.push(Some(amount));
            }
            column
        });
    }
}

/// The value dates: none stored until a row has one (most statements give only the booking
/// date); from then on every row's, the earlier rows' as absent.
#[derive(Debug, Default)]
struct ValueDates {
    /// Rows pushed while no row had a value date.
    absent_only: usize,
    rows: Option<Vec<Option<NaiveDate>>>,
    expected_rows: usize,
}

impl ValueDates {
    fn push(&mut self, date: Option<NaiveDate>) {
        match (&mut self.rows, date) {
            (Some(rows), _) => rows.push(date),
            (None, None) => self.absent_only += 1,
            (None, Some(_)) => {
                let mut rows = Vec::with_capacity(self.expected_rows.max(self.absent_only + 1));
                rows.resize(self.absent_only, None);
                rows.push(date);
                self.rows = Some(rows);
                self.absent_only = 0;
            }
        }
    }

    fn get(&self, row: usize) -> Option<NaiveDate> {
        self.rows.as_ref().and_then(|rows| rows[row])
    }
}

/// Position of a distinct value in a builder's small table of values.
fn intern(table: &mut Vec<String>, value: &str) -> u32 {
    match table.iter().position(|v| v == value) {
        Some(i) => i as u32,
        None => {
            table.push(value.to_string());
            (table.len() - 1) as u32
        }
    }
}

/// A column whose few distinct values (sources, accounts, currencies, channels) are
/// stored once and gathered per row: the rows share the values' bytes.
fn gathered<'v>(
    name: &str,
    values: impl Iterator<Item = Option<&'v str>>,
    picks: impl Iterator<Item = u32>,
) -> PolarsResult<Column> {
    let values: StringChunked = values.collect();
    let picks = IdxCa::from_vec(
        PlSmallStr::EMPTY,
        picks.map(|p| p as IdxSize).collect::<Vec<IdxSize>>(),
    );
    Ok(values
        .take(&picks)?
        .with_name(name.into())
        .into_series()
        .into_column())
}

/// Collects ledger rows column by column.
#[derive(Debug, Default)]
pub struct LedgerBuilder {
    /// The sources rows came from, by slot ([`LedgerBuilder::add_source`]).
    sources: Vec<Provenance>,
    /// Account keys, once per account position (again if a position's key changes).
    account_ids: Vec<String>,
    /// Per account position in the case file, where its key is in `account_ids`.
    account_id_at: Vec<Option<u32>>,
    currencies: Vec<String>,
    account_order: Vec<u32>,
    /// Per row, its account key's position in `account_ids`.
    account_id: Vec<u32>,
    source_slot: Vec<u32>,
    row_order: Vec<u64>,
    source_line: Vec<u32>,
    sub: Vec<u32>,
    booking_date: Vec<NaiveDate>,
    value_date: ValueDates,
    amount: Vec<i128>,
    currency: Vec<u32>,
    amount_base: BaseAmounts,
    balance: MoneyColumn,
    channel: Vec<Channel>,
    counterparty_name: TextColumn,
    counterparty_account: TextColumn,
    description: TextColumn,
    location: TextColumn,
    bank_type: TextColumn,
    bank_txn_id: TextColumn,
    booking_time: TextColumn,
    reversal: Vec<bool>,
    party_name: TextColumn,
    party_address: TextColumn,
    party_id: TextColumn,
    counterparty_country: TextColumn,
    excluded_reason: TextColumn,
}

impl LedgerBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `rows` rows in each column (a text column makes its
    /// room when it stores its first value). Rows beyond it are still taken: the room only
    /// spares the columns being grown, and copied, step by step.
    pub fn with_capacity(rows: usize) -> Self {
        let text = || TextColumn {
            expected_rows: rows,
            ..TextColumn::default()
        };
        LedgerBuilder {
            account_order: Vec::with_capacity(rows),
            account_id: Vec::with_capacity(rows),
            source_slot: Vec::with_capacity(rows),
            row_order: Vec::with_capacity(rows),
            source_line: Vec::with_capacity(rows),
            sub: Vec::with_capacity(rows),
            booking_date: Vec::with_capacity(rows),
            value_date: ValueDates {
                expected_rows: rows,
                ..ValueDates::default()
            },
            amount: Vec::with_capacity(rows),
            currency: Vec::with_capacity(rows),
            amount_base: BaseAmounts {
                expected_rows: rows,
                ..BaseAmounts::default()
            },
            balance: MoneyColumn::with_capacity(rows),
            channel: Vec::with_capacity(rows),
            counterparty_name: text(),
            counterparty_account: text(),
            description: text(),
            location: text(),
            bank_type: text(),
            bank_txn_id: text(),
            booking_time: text(),
            reversal: Vec::with_capacity(rows),
            party_name: text(),
            party_address: text(),
            party_id: text(),
            counterparty_country: text(),
            excluded_reason: text(),
            ..Self::default()
        }
    }

    /// Rows collected so far.
    pub fn len(&self) -> usize {
        self.account_order.len()
    }

    /// Whether no row has been collected.
    pub fn is_empty(&self) -> bool {
        self.account_order.is_empty()
    }

    /// Register a source whose rows follow; pass the returned slot to
    /// [`LedgerBuilder::push_row`].
    pub fn add_source(&mut self, provenance: Provenance) -> u32 {
        self.sources.push(provenance);
        (self.sources.len() - 1) as u32
    }

    /// Add a row. `account_order` is the account's position in the case file.
    pub fn push(&mut self, account_order: u32, provenance: &Provenance, row: LedgerRow) {
        let slot = match self.sources.last() {
            Some(last) if last == provenance => (self.sources.len() - 1) as u32,
            _ => self.add_source(provenance.clone()),
        };
        self.push_row(slot, account_order, &row.account_id, row.as_ref());
    }

    /// Add a row from the source in `source_slot` ([`LedgerBuilder::add_source`]).
    /// `account_order` is the account's position in the case file and `account_id` its key.
    pub fn push_row(
        &mut self,
        source_slot: u32,
        account_order: u32,
        account_id: &str,
        row: LedgerRowRef<'_>,
    ) {
        let at = account_order as usize;
        if self.account_id_at.len() <= at {
            self.account_id_at.resize(at + 1, None);
        }
        let key = match self.account_id_at[at] {
            Some(k) if self.account_ids[k as usize] == account_id => k,
            _ => {
                // Not searched for: a key seen first under this position is stored again.
                self.account_ids.push(account_id.to_string());
                let k = (self.account_ids.len() - 1) as u32;
                self.account_id_at[at] = Some(k);
                k
            }
        };
        self.account_id.push(key);
        self.account_order.push(account_order);
        self.source_slot.push(source_slot);
        self.row_order.push(row.order_in_source);
        self.source_line.push(row.source_line);
        self.sub.push(row.sub);
        self.booking_date.push(row.booking_date);
        self.value_date.push(row.value_date);
        self.amount.push(to_minor_units(row.amount));
        let currency = intern(&mut self.currencies, row.currency);
        self.currency.push(currency);
        self.amount_base
            .push(&self.amount, row.amount_base.map(to_minor_units));
        self.balance.push(row.balance.map(to_minor_units));
        self.channel.push(row.channel);
        self.counterparty_name.push(row.counterparty_name);
        self.counterparty_account.push(row.counterparty_account);
        self.description.push(Some(row.description));
        self.location.push(row.location);
        self.bank_type.push(row.bank_type);
        self.bank_txn_id.push(row.bank_txn_id);
        self.booking_time.push(row.booking_time);
        self.reversal.push(row.reversal);
        self.party_name.push(row.party.name.as_deref());
        self.party_address.push(row.party.address.as_deref());
        self.party_id.push(row.party.id.as_deref());
        self.counterparty_country.push(row.counterparty_country);
        self.excluded_reason.push(row.excluded_reason);
    }

    /// The ledger as a frame in canonical order, with `seq` numbering that order from 1.
    pub fn finish(self) -> PolarsResult<DataFrame> {
        Self::finish_parts(vec![self])
    }

    /// The rows of `parts` as one ledger in canonical order: each part's sources, account
    /// keys and currencies are numbered after the previous parts'. The order is total on
    /// the rows' own values (account, date, source, the bank's order, transaction id), so
    /// the ledger does not depend on which part holds a row: sources read on several
    /// threads, each thread's rows in a builder of its own, are joined this way without
    /// first copying their rows into one builder.
    pub fn finish_parts(mut parts: Vec<LedgerBuilder>) -> PolarsResult<DataFrame> {
        use col::*;
        let n: usize = parts.iter().map(LedgerBuilder::len).sum();
        let order = canonical_order(&parts);
        // What one ledger column alone reads is taken out of the parts, and that column
        // frees it once built, so ingest does not hold the builders' copy of every row
        // beside the whole ledger at its peak (as it did with the parts kept whole to the
        // end; docs/decisions.md).
        for part in parts.iter_mut() {
            part.account_order = Vec::new();
            part.row_order = Vec::new();
        }
        // Where no part stored a base amount apart, every row's is its amount, and the
        // column is the amount column itself; otherwise every part's is stored.
        let base_is_amount = parts.iter().all(|p| p.amount_base.rows.is_none());
        if !base_is_amount {
            for part in parts.iter_mut() {
                part.amount_base.store_all(&part.amount);
            }
        }
        macro_rules! taken {
            ($field:ident) => {
                Inputs::new(&mut parts, |p| std::mem::take(&mut p.$field))
            };
        }
        let account_id = taken!(account_id);
        let booking_date = taken!(booking_date);
        let value_date = taken!(value_date);
        let amount = taken!(amount);
        let currency = taken!(currency);
        let amount_base = taken!(amount_base);
        let balance = taken!(balance);
        let channel = taken!(channel);
        let reversal = taken!(reversal);
        let texts: [(&str, Inputs<TextColumn>); 12] = [
            (COUNTERPARTY_NAME, taken!(counterparty_name)),
            (COUNTERPARTY_ACCOUNT, taken!(counterparty_account)),
            (DESCRIPTION, taken!(description)),
            (LOCATION, taken!(location)),
            (BANK_TYPE, taken!(bank_type)),
            (BANK_TXN_ID, taken!(bank_txn_id)),
            (BOOKING_TIME, taken!(booking_time)),
            (PARTY_NAME, taken!(party_name)),
            (PARTY_ADDRESS, taken!(party_address)),
            (PARTY_ID, taken!(party_id)),
            (COUNTERPARTY_COUNTRY, taken!(counterparty_country)),
            (EXCLUDED_REASON, taken!(excluded_reason)),
        ];
        let parts = parts.as_slice();
        // The parts' small tables joined, and where each part's numbers start in them.
        let mut sources: Vec<&Provenance> = Vec::new();
        let mut account_ids: Vec<&str> = Vec::new();
        let mut currencies: Vec<String> = Vec::new();
        let mut slot_base = Vec::with_capacity(parts.len());
        let mut key_base = Vec::with_capacity(parts.len());
        let mut currency_of: Vec<Vec<u32>> = Vec::with_capacity(parts.len());
        for part in parts {
            slot_base.push(sources.len() as u32);
            key_base.push(account_ids.len() as u32);
            sources.extend(part.sources.iter());
            account_ids.extend(part.account_ids.iter().map(String::as_str));
            currency_of.push(
                part.currencies
                    .iter()
                    .map(|c| intern(&mut currencies, c))
                    .collect(),
            );
        }
        // The rows in canonical order, each as its part and its position in the part.
        let rows = || order.iter().map(|&(p, r)| (&parts[p as usize], r as usize));
        // The same, for the inputs taken out of the parts: each row's value in `inputs`.
        fn each<'a, T, V>(
            order: &'a [(u32, u32)],
            inputs: &'a [T],
            value: impl Fn(&'a T, usize) -> V + 'a,
        ) -> impl Iterator<Item = V> + 'a {
            order
                .iter()
                .map(move |&(p, r)| value(&inputs[p as usize], r as usize))
        }
        let slots = || {
            order
                .iter()
                .map(|&(p, r)| slot_base[p as usize] + parts[p as usize].source_slot[r as usize])
        };
        let by_source = |name: &str, value: fn(&Provenance) -> Option<&str>| {
            gathered(name, sources.iter().map(|p| value(p)), slots())
        };
        fn money(name: &str, v: impl Iterator<Item = Option<i128>>) -> PolarsResult<Column> {
            let ca = Int128Chunked::from_iter_options(name.into(), v);
            Ok(ca.into_decimal(18, 2)?.into_series().into_column())
        }
        let date = |name: &str, v: Vec<Option<NaiveDate>>| -> Column {
            Series::new(name.into(), v.as_slice()).into_column()
        };
        let text = |name: &str, inputs: &Inputs<TextColumn>| -> Column {
            let columns = inputs.take();
            if columns.iter().all(|column| column.ends.is_empty()) {
                // No source filled it: one null column, its buffers allocated zeroed and
                // never written (a view and a validity bit a row written out would be 160 MB
                // at 10M rows, for each of the several columns most cases never fill).
                return StringChunked::full_null(name.into(), n)
                    .into_series()
                    .into_column();
            }
            let mut out = StringChunkedBuilder::new(name.into(), n);
            for value in each(&order, &columns, |column, r| column.get(r)) {
                out.append_option(value);
            }
            out.finish().into_series().into_column()
        };
        // Each column is built from the rows in canonical order independently of the
        // others, so they are built on every core (the largest, the transaction ids, first).
        const COLUMNS: usize = 27;
        let build = |k: usize| -> PolarsResult<Column> {
            match k {
                0 => {
                    let mut txn_ids = StringChunkedBuilder::new(TXN_ID.into(), n);
                    let mut id = String::new();
                    for (part, r) in rows() {
                        let sha = &part.sources[part.source_slot[r] as usize].source_sha256;
                        write_txn_id(&mut id, sha, part.source_line[r], part.sub[r]);
                        txn_ids.append_value(id.as_str());
                    }
                    Ok(txn_ids.finish().into_series().into_column())
                }
                1 => {
                    let keys = account_id.take();
                    gathered(
                        ACCOUNT_ID,
                        account_ids.iter().map(|a| Some(*a)),
                        order
                            .iter()
                            .map(|&(p, r)| key_base[p as usize] + keys[p as usize][r as usize]),
                    )
                }
                2 => by_source(SOURCE_FILE, |p| Some(p.source_file.as_str())),
                3 => by_source(SOURCE_SHA256, |p| Some(p.source_sha256.as_str())),
                4 => Ok(Column::new(
                    SOURCE_LINE.into(),
                    rows()
                        .map(|(part, r)| part.source_line[r])
                        .collect::<Vec<u32>>(),
                )),
                5 => by_source(EXHIBIT, |p| p.exhibit.as_deref()),
                6 => Ok(Column::new(
                    SEQ.into(),
                    (1..=n as u64).collect::<Vec<u64>>(),
                )),
                7 => {
                    let dates = booking_date.take();
                    Ok(date(
                        BOOKING_DATE,
                        each(&order, &dates, |d, r| Some(d[r])).collect(),
                    ))
                }
                8 => {
                    let dates = value_date.take();
                    if dates.iter().all(|d| d.rows.is_none()) {
                        Ok(Series::full_null(VALUE_DATE.into(), n, &DataType::Date).into_column())
                    } else {
                        Ok(date(
                            VALUE_DATE,
                            each(&order, &dates, ValueDates::get).collect(),
                        ))
                    }
                }
                9 => {
                    let amounts = amount.take();
                    money(AMOUNT, each(&order, &amounts, |a, r| Some(a[r])))
                }
                10 => {
                    let codes = currency.take();
                    gathered(
                        CURRENCY,
                        currencies.iter().map(|c| Some(c.as_str())),
                        order.iter().map(|&(p, r)| {
                            currency_of[p as usize][codes[p as usize][r as usize] as usize]
                        }),
                    )
                }
                11 => {
                    let amounts = amount_base.take();
                    if base_is_amount {
                        // Put in place of the amount column once that is built.
                        return Ok(Column::new_empty(AMOUNT_BASE.into(), &DataType::Null));
                    }
                    money(
                        AMOUNT_BASE,
                        each(&order, &amounts, |a: &BaseAmounts, r| {
                            a.rows.as_ref().and_then(|column| column.get(r))
                        }),
                    )
                }
                12 => {
                    let amounts = balance.take();
                    money(BALANCE, each(&order, &amounts, MoneyColumn::get))
                }
                13 => {
                    let channels = channel.take();
                    gathered(
                        CHANNEL,
                        Channel::ALL.iter().map(|c| Some(c.as_str())),
                        each(&order, &channels, |c, r| {
                            Channel::ALL.iter().position(|x| *x == c[r]).unwrap_or(0) as u32
                        }),
                    )
                }
                // `texts` in ledger order: columns 14 to 20, then (after `reversal`) 22 to 26.
                14..=20 => Ok(text(texts[k - 14].0, &texts[k - 14].1)),
                21 => {
                    let flags = reversal.take();
                    Ok(Column::new(
                        REVERSAL.into(),
                        each(&order, &flags, |f, r| f[r]).collect::<Vec<bool>>(),
                    ))
                }
                22..=26 => Ok(text(texts[k - 15].0, &texts[k - 15].1)),
                _ => unreachable!("the ledger has {COLUMNS} columns"),
            }
        };
        let mut columns = crate::parallel::in_order(COLUMNS, build)
            .into_iter()
            .collect::<PolarsResult<Vec<Column>>>()?;
        if base_is_amount {
            // The same values: the column shares the amount column's memory.
            let mut base = columns[9].clone();
            base.rename(AMOUNT_BASE.into());
            columns[11] = base;
        }
        DataFrame::new(n, columns)
    }
}

/// One ledger column's inputs, one per builder part, taken out of the parts and handed over
/// once, so the column that reads them frees them as soon as it is built.
struct Inputs<T>(std::sync::Mutex<Vec<T>>);

impl<T> Inputs<T> {
    fn new(parts: &mut [LedgerBuilder], field: impl FnMut(&mut LedgerBuilder) -> T) -> Self {
        Inputs(std::sync::Mutex::new(parts.iter_mut().map(field).collect()))
    }

    /// The inputs; a second call gets none.
    fn take(&self) -> Vec<T> {
        let mut held = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut *held)
    }
}

/// The rows of `parts` in canonical order, each as (part, position in the part): account,
/// booking date, the case's source order, the bank's order within the file, then the
/// transaction id.
fn canonical_order(parts: &[LedgerBuilder]) -> Vec<(u32, u32)> {
    type Key = (u32, NaiveDate, u32, u64, u32, u32);
    let id = |p: u32, r: u32| {
        let (part, r) = (&parts[p as usize], r as usize);
        txn_id(
            &part.sources[part.source_slot[r] as usize].source_sha256,
            part.source_line[r],
            part.sub[r],
        )
    };
    // No two rows tie: the source is in the key before the transaction id, and within one
    // source the id (line and part) is unique. So the order is total, an unstable sort gives
    // the same order as a stable one, and the part holding a row (the last key, which
    // depends on which thread read the source) never decides.
    let order = |a: &Key, b: &Key| {
        (a.0, a.1, a.2, a.3)
            .cmp(&(b.0, b.1, b.2, b.3))
            .then_with(|| id(a.4, a.5).cmp(&id(b.4, b.5)))
            .then_with(|| (a.4, a.5).cmp(&(b.4, b.5)))
    };
    // Sorting compact keys (not positions into the columns) keeps the comparisons in
    // cache; the transaction id is only formatted for rows equal on everything else
    // (the parts of one record). Each part is sorted on a core of its own and the sorted
    // parts merged: the order being total, that is the order one sort of every row gives.
    // A part holds whole files one after another, each oldest or newest first, so it is
    // mostly runs already in order or in reverse: `sort_by_runs` puts those right in one
    // pass and sorts only what is still out of order.
    let sorted: Vec<Vec<Key>> = crate::parallel::in_order(parts.len(), |p| {
        let part = &parts[p];
        let mut keys: Vec<Key> = (0..part.len())
            .map(|r| {
                (
                    part.account_order[r],
                    part.booking_date[r],
                    part.sources[part.source_slot[r] as usize].source_index,
                    part.row_order[r],
                    p as u32,
                    r as u32,
                )
            })
            .collect();
        sort_by_runs(&mut keys, order);
        keys
    });
    merge_sorted(&sorted, order, |k| (k.4, k.5))
}

/// Sort `items` by `order`, in one pass where they are already in runs: each run in
/// strictly descending order is reversed (which is where a sort puts it), and the items are
/// sorted only if they are still out of order after that. Rows read from a file listed
/// newest first are such a run, and a part's files follow each other in the case's order.
fn sort_by_runs<T>(items: &mut [T], order: impl Fn(&T, &T) -> std::cmp::Ordering) {
    let mut start = 0;
    while start < items.len() {
        let mut end = start + 1;
        while end < items.len() && order(&items[end - 1], &items[end]).is_gt() {
            end += 1;
        }
        items[start..end].reverse();
        start = end;
    }
    if !items.is_sorted_by(|a, b| order(a, b).is_le()) {
        items.sort_unstable_by(order);
    }
}

/// The items of `runs`, each sorted by `order`, in one sequence sorted by `order` (the
/// first run's on a tie), each given as `each` makes it. Items are taken a block at a time:
/// from the run whose next item is least, every item up to the next item of another run,
/// found by galloping (1, 2, 4, ... items ahead, then halving), so a run that holds whole
/// files costs a few comparisons a file, not one an item.
fn merge_sorted<T, U>(
    runs: &[Vec<T>],
    order: impl Fn(&T, &T) -> std::cmp::Ordering,
    each: impl Fn(&T) -> U,
) -> Vec<U> {
    let total: usize = runs.iter().map(Vec::len).sum();
    let mut merged = Vec::with_capacity(total);
    let mut next = vec![0usize; runs.len()];
    // Whether `a`, of run `i`, comes before `b`, of run `j`.
    let before = |a: &T, i: usize, b: &T, j: usize| match order(a, b) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Equal => i < j,
        std::cmp::Ordering::Greater => false,
    };
    loop {
        // The least next item, and the least next item of the other runs.
        let mut least: Option<(usize, &T)> = None;
        let mut second: Option<(usize, &T)> = None;
        for (k, run) in runs.iter().enumerate() {
            let Some(item) = run.get(next[k]) else {
                continue;
            };
            match least {
                Some((i, l)) if !before(item, k, l, i) => {
                    if second.is_none_or(|(j, s)| before(item, k, s, j)) {
                        second = Some((k, item));
                    }
                }
                _ => {
                    second = least;
                    least = Some((k, item));
                }
            }
        }
        let Some((k, _)) = least else {
            break;
        };
        let rest = &runs[k][next[k]..];
        let take = match second {
            None => rest.len(),
            // At least the least item itself (which `leading` finds unless `order` is not a
            // consistent order; taking it then still ends the merge).
            Some((j, bound)) => leading(rest, |item| before(item, k, bound, j)).max(1),
        };
        merged.extend(rest[..take].iter().map(&each));
        next[k] += take;
    }
    merged
}

/// How many of the first items of `items` satisfy `holds`, which holds for a leading
/// stretch of `items` and for none after it. At least one item is looked at; a stretch of
/// n items costs about 2 log2 n looks.
fn leading<T>(items: &[T], holds: impl Fn(&T) -> bool) -> usize {
    if items.first().is_none_or(|first| !holds(first)) {
        return 0;
    }
    // `holds` is known true up to `known`; `ahead` is the next item to look at.
    let mut known = 0;
    let mut ahead = 1;
    while ahead < items.len() && holds(&items[ahead]) {
        known = ahead;
        ahead *= 2;
    }
    let end = ahead.min(items.len());
    known + 1 + items[known + 1..end].partition_point(&holds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_column_keeps_absent_and_empty_apart_before_and_after_its_first_value() {
        let mut never = TextColumn::default();
        let mut late = TextColumn::default();
        let values = [None, None, Some("ANNA FELL"), None, Some(""), Some("Leeds")];
        for v in values {
            never.push(None);
            late.push(v);
        }
        for (row, v) in values.iter().enumerate() {
            assert_eq!(never.get(row), None, "row {row}");
            assert_eq!(late.get(row), *v, "row {row}");
        }
        assert!(never.ends.is_empty() && never.present.is_empty());
        assert_eq!(never.absent_only, 6);
    }

    #[test]
    fn sorted_runs_merge_into_one_sorted_sequence() {
        let runs = vec![vec![1, 4, 4, 9], vec![], vec![0, 4, 5, 10, 11], vec![2]];
        let merged: Vec<i32> = merge_sorted(&runs, |a: &i32, b: &i32| a.cmp(b), |v| *v);
        assert_eq!(merged, vec![0, 1, 2, 4, 4, 4, 5, 9, 10, 11]);
        let none: Vec<Vec<i32>> = Vec::new();
        assert!(merge_sorted(&none, |a: &i32, b: &i32| a.cmp(b), |v| *v).is_empty());
    }

    #[test]
    fn a_tie_is_taken_from_the_first_run_even_inside_a_block() {
        // Pairs ordered by their first number alone: on a tie the earlier run's comes first.
        let by_first = |a: &(i32, char), b: &(i32, char)| a.0.cmp(&b.0);
        let runs = vec![
            vec![(1, 'a'), (3, 'a'), (3, 'a'), (7, 'a')],
            vec![(0, 'b'), (1, 'b'), (2, 'b'), (3, 'b'), (3, 'b'), (8, 'b')],
            vec![(3, 'c'), (7, 'c')],
        ];
        let merged = merge_sorted(&runs, by_first, |v| *v);
        let letters: String = merged.iter().map(|v| v.1).collect();
        assert_eq!(letters, "babbaabbcacb");
        let numbers: Vec<i32> = merged.iter().map(|v| v.0).collect();
        assert_eq!(numbers, vec![0, 1, 1, 2, 3, 3, 3, 3, 3, 7, 7, 8]);
    }

    #[test]
    fn blocks_merged_by_galloping_give_what_one_sort_gives() {
        // Runs of every length from 0 to 40, cut from one sequence so that their items
        // interleave in blocks of 1 to 63: the merge must equal the sorted whole.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut draw = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for round in 0..200 {
            let run_count = 1 + draw(4) as usize;
            let mut runs: Vec<Vec<u64>> = vec![Vec::new(); run_count];
            let mut value = 0;
            for _ in 0..draw(41) {
                let k = draw(run_count as u64) as usize;
                for _ in 0..1 + draw(if round % 2 == 0 { 3 } else { 64 }) {
                    value += draw(3); // repeats, so ties across runs happen
                    runs[k].push(value);
                }
            }
            let mut whole: Vec<u64> = runs.concat();
            whole.sort();
            let merged = merge_sorted(&runs, |a: &u64, b: &u64| a.cmp(b), |v| *v);
            assert_eq!(merged, whole, "round {round}: runs {runs:?}");
        }
    }

    #[test]
    fn leading_counts_the_stretch_that_holds() {
        let items: Vec<u32> = (0..100).collect();
        for cut in 0..=100 {
            assert_eq!(leading(&items, |v| *v < cut), cut as usize, "cut {cut}");
        }
        assert_eq!(leading(&[] as &[u32], |_| true), 0);
    }

    #[test]
    fn sorting_by_runs_gives_what_a_sort_gives() {
        // Files newest first and oldest first one after another, as a part holds them, and
        // out-of-order stretches that only a sort puts right.
        let mut items: Vec<(u32, u32)> = Vec::new();
        for file in 0..30u32 {
            let rows: Vec<(u32, u32)> = (0..file % 7)
                .map(|row| (file / 2, row * 3 + file))
                .collect();
            if file % 3 == 0 {
                items.extend(rows.iter().rev());
            } else {
                items.extend(rows);
            }
        }
        let mut by_runs = items.clone();
        sort_by_runs(&mut by_runs, |a, b| a.cmp(b));
        let mut sorted = items.clone();
        sorted.sort();
        assert_eq!(by_runs, sorted);
        // Descending runs only, each reversed in place: in order after one pass, so there
        // is no sort (one look at each neighbouring pair to find the runs, one to check).
        let mut newest_first: Vec<u32> = vec![5, 4, 3, 9, 8, 7, 6, 10, 12, 11];
        let looks = std::cell::Cell::new(0);
        sort_by_runs(&mut newest_first, |a, b| {
            looks.set(looks.get() + 1);
            a.cmp(b)
        });
        assert_eq!(newest_first, vec![3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert!(looks.get() <= 2 * 9, "{} comparisons", looks.get());
        // A stretch a reversal cannot mend.
        let mut shuffled = vec![4, 1, 3, 0, 2];
        sort_by_runs(&mut shuffled, |a: &u32, b: &u32| a.cmp(b));
        assert_eq!(shuffled, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn txn_ids_are_traceable_and_stable() {
        let sha = "3f2a9c1b7d4e0011223344556677889900aabbccddeeff00112233445566778";
        assert_eq!(txn_id(sha, 17, 0), "3f2a9c1b7d4e-L17");
        assert_eq!(txn_id(sha, 17, 2), "3f2a9c1b7d4e-L17.2");
    }

    #[test]
    fn finish_orders_rows_and_keeps_pennies() {
        let prov = |i: u32| Provenance {
            source_index: i,
            source_file: format!("s{i}.csv"),
            source_sha256: format!("{i:064}"),
            exhibit: None,
        };
        let row = |line: u32, day: u32, order: u64, pence: i64| LedgerRow {
            account_id: "A".into(),
            source_line: line,
            sub: 0,
            order_in_source: order,
            booking_date: NaiveDate::from_ymd_opt(2024, 1, day).unwrap(),
            value_date: None,
            amount: Decimal::new(pence, 2),
            currency: "GBP".into(),
            amount_base: Some(Decimal::new(pence, 2)),
            balance: None,
            channel: Channel::Card,
            counterparty_name: None,
            counterparty_account: None,
            description: format!("line {line}"),
            location: None,
            bank_type: None,
            bank_txn_id: None,
            booking_time: None,
            reversal: false,
            party: Party::default(),
            counterparty_country: None,
            excluded_reason: None,
        };
        let mut b = LedgerBuilder::new();
        // A newest-first file: line 2 is the later of two same-day rows.
        b.push(0, &prov(1), row(2, 5, 1, -1999));
        b.push(0, &prov(1), row(3, 5, 0, 100001));
        b.push(0, &prov(1), row(4, 3, 2, 1));
        let df = b.finish().unwrap();
        let lines: Vec<u32> = df
            .column(col::SOURCE_LINE)
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(lines, vec![4, 3, 2]);
        let amounts: Vec<String> = df
            .column(col::AMOUNT)
            .unwrap()
            .cast(&DataType::String)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect();
        assert_eq!(amounts, vec!["0.01", "1000.01", "-19.99"]);
        assert_eq!(df.schema().len(), schema().len());
        for (name, dtype) in schema() {
            assert_eq!(df.column(name).unwrap().dtype(), &dtype, "{name}");
        }
        // Every text column is either written row by row or one copy of each value.
        let shared: Vec<&str> = schema()
            .into_iter()
            .filter(|(name, dtype)| {
                *dtype == DataType::String && !col::WRITTEN_ROW_BY_ROW.contains(name)
            })
            .map(|(name, _)| name)
            .collect();
        use col::*;
        assert_eq!(
            shared,
            [
                ACCOUNT_ID,
                SOURCE_FILE,
                SOURCE_SHA256,
                EXHIBIT,
                CURRENCY,
                CHANNEL
            ]
        );
    }

    #[test]
    fn per_source_and_per_account_values_follow_their_rows() {
        let prov = |i: u32, exhibit: Option<&str>| Provenance {
            source_index: i,
            source_file: format!("statements/file-number-{i}.csv"),
            source_sha256: format!("{i:064}"),
            exhibit: exhibit.map(str::to_string),
        };
        let party = Party {
            name: Some("Ann".into()),
            address: None,
            id: Some(String::new()),
        };
        let row = |line: u32, sub: u32, currency: &'static str, channel: Channel| LedgerRowRef {
            source_line: line,
            sub,
            order_in_source: 0,
            booking_date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            value_date: None,
            amount: Decimal::new(1, 2),
            currency,
            amount_base: None,
            balance: None,
            channel,
            counterparty_name: Some(""),
            counterparty_account: None,
            description: "",
            location: None,
            bank_type: None,
            bank_txn_id: None,
            booking_time: None,
            reversal: false,
            party: &party,
            counterparty_country: None,
            excluded_reason: None,
        };
        let mut b = LedgerBuilder::new();
        let second = b.add_source(prov(2, None));
        let first = b.add_source(prov(1, Some("EX/1")));
        // Parts of one record order by their txn id as text: .10 before .2.
        b.push_row(second, 1, "B", row(7, 2, "EUR", Channel::Fee));
        b.push_row(second, 1, "B", row(7, 10, "EUR", Channel::MsbSend));
        b.push_row(first, 0, "A", row(9, 0, "GBP", Channel::Transfer));
        b.push_row(second, 0, "A", row(3, 0, "GBP", Channel::Other));
        let df = b.finish().unwrap();
        let text = |name: &str| -> Vec<Option<String>> {
            df.column(name)
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        };
        let some =
            |v: &[&str]| -> Vec<Option<String>> { v.iter().map(|s| Some(s.to_string())).collect() };
        assert_eq!(
            text(col::TXN_ID),
            some(&[
                "000000000000-L9",
                "000000000000-L3",
                "000000000000-L7.10",
                "000000000000-L7.2"
            ])
        );
        assert_eq!(text(col::ACCOUNT_ID), some(&["A", "A", "B", "B"]));
        assert_eq!(
            text(col::SOURCE_FILE),
            some(&[
                "statements/file-number-1.csv",
                "statements/file-number-2.csv",
                "statements/file-number-2.csv",
                "statements/file-number-2.csv"
            ])
        );
        assert_eq!(
            text(col::EXHIBIT),
            vec![Some("EX/1".to_string()), None, None, None]
        );
        assert_eq!(text(col::CURRENCY), some(&["GBP", "GBP", "EUR", "EUR"]));
        assert_eq!(
            text(col::CHANNEL),
            some(&["transfer", "other", "msb_send", "fee"])
        );
        assert_eq!(text(col::COUNTERPARTY_NAME), some(&["", "", "", ""]));
        assert_eq!(text(col::PARTY_ADDRESS), vec![None; 4]);
        assert_eq!(text(col::PARTY_ID), some(&["", "", "", ""]));
    }

    #[test]
    fn builders_joined_make_the_ledger_one_builder_makes() {
        let prov = |i: u32| Provenance {
            source_index: i,
            source_file: format!("s{i}.csv"),
            source_sha256: format!("{i:064}"),
            exhibit: (i == 2).then(|| "EX/2".to_string()),
        };
        let party = Party {
            name: Some("Ann".into()),
            address: None,
            id: None,
        };
        // Rows of three sources over two accounts (one key changing at one position) and
        // two currencies, with text in some columns and not others.
        // (source, account position, account key, line, day, currency, counterparty)
        type Row<'a> = (u32, u32, &'a str, u32, u32, &'a str, Option<&'a str>);
        let rows: Vec<Row> = vec![
            (0, 0, "A", 2, 5, "GBP", Some("Shop")),
            (0, 1, "B", 3, 4, "EUR", None),
            (1, 1, "B", 7, 4, "GBP", Some("")),
            (1, 0, "A2", 8, 1, "USD", Some("Café Ünïcode")),
            (2, 0, "A", 4, 5, "EUR", None),
            (2, 1, "B", 9, 2, "GBP", Some("Rent")),
        ];
        let push = |b: &mut LedgerBuilder, r: &Row| {
            let slot = b.add_source(prov(r.0));
            b.push_row(
                slot,
                r.1,
                r.2,
                LedgerRowRef {
                    source_line: r.3,
                    sub: 0,
                    order_in_source: u64::from(r.3),
                    booking_date: NaiveDate::from_ymd_opt(2024, 1, r.4).unwrap(),
                    value_date: None,
                    amount: Decimal::new(i64::from(r.3) * 101, 2),
                    currency: r.5,
                    amount_base: None,
                    balance: Some(Decimal::new(5, 2)),
                    channel: Channel::Card,
                    counterparty_name: r.6,
                    counterparty_account: None,
                    description: r.2,
                    location: r.6,
                    bank_type: None,
                    bank_txn_id: None,
                    booking_time: None,
                    reversal: r.3 == 9,
                    party: &party,
                    counterparty_country: None,
                    excluded_reason: None,
                },
            );
        };
        let mut one = LedgerBuilder::new();
        for r in &rows {
            push(&mut one, r);
        }
        let mut parts = Vec::new();
        for part in [&rows[..2], &rows[2..4], &rows[4..]] {
            let mut b = LedgerBuilder::new();
            for r in part {
                push(&mut b, r);
            }
            parts.push(b);
        }
        let (one, joined) = (
            one.finish().unwrap(),
            LedgerBuilder::finish_parts(parts).unwrap(),
        );
        assert_eq!(one.height(), 6);
        assert!(one.equals_missing(&joined), "{one}\n{joined}");
        let accounts: Vec<&str> = joined
            .column(col::ACCOUNT_ID)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|a| a.unwrap_or_default())
            .collect();
        // Position 0 holds A and then A2 (its key changed): ordered by day, then source.
        assert_eq!(accounts, vec!["A2", "A", "A", "B", "B", "B"]);
    }

    #[test]
    fn base_amounts_and_value_dates_are_kept_from_the_first_row_that_needs_them() {
        let party = Party::default();
        // (day, pence, base pence, value day); one account, one row a day.
        type Row = (u32, i64, Option<i64>, Option<u32>);
        let push = |b: &mut LedgerBuilder, source: u32, rows: &[Row]| {
            let slot = b.add_source(Provenance {
                source_index: source,
                source_file: format!("s{source}.csv"),
                source_sha256: format!("{source:064}"),
                exhibit: None,
            });
            for (line, &(day, pence, base, value_day)) in rows.iter().enumerate() {
                b.push_row(
                    slot,
                    0,
                    "A",
                    LedgerRowRef {
                        source_line: line as u32 + 2,
                        sub: 0,
                        order_in_source: line as u64,
                        booking_date: NaiveDate::from_ymd_opt(2024, 3, day).unwrap(),
                        value_date: value_day.and_then(|d| NaiveDate::from_ymd_opt(2024, 3, d)),
                        amount: Decimal::new(pence, 2),
                        currency: "GBP",
                        amount_base: base.map(|p| Decimal::new(p, 2)),
                        balance: None,
                        channel: Channel::Transfer,
                        counterparty_name: None,
                        counterparty_account: None,
                        description: "x",
                        location: None,
                        bank_type: None,
                        bank_txn_id: None,
                        booking_time: None,
                        reversal: false,
                        party: &party,
                        counterparty_country: None,
                        excluded_reason: None,
                    },
                );
            }
        };
        let pence = |ledger: &DataFrame, name: &str| -> Vec<Option<i128>> {
            let column = ledger.column(name).unwrap();
            let column = column.cast(&DataType::Decimal(18, 2)).unwrap();
            column.decimal().unwrap().physical().iter().collect()
        };
        let days = |ledger: &DataFrame| -> Vec<Option<u32>> {
            use chrono::Datelike;
            let column = ledger.column(col::VALUE_DATE).unwrap();
            (0..ledger.height())
                .map(|i| match column.get(i).unwrap() {
                    AnyValue::Date(d) => Some(
                        (NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                            + chrono::Days::new(d as u64))
                        .day(),
                    ),
                    _ => None,
                })
                .collect()
        };
        // Part one: every base amount its amount, no value date (nothing stored).
        let mut first = LedgerBuilder::new();
        push(
            &mut first,
            0,
            &[(1, 100, Some(100), None), (3, 300, Some(300), None)],
        );
        assert!(first.amount_base.rows.is_none() && first.value_date.rows.is_none());
        // Part two: the same for two rows, then a base amount apart and a value date.
        let mut second = LedgerBuilder::new();
        push(
            &mut second,
            1,
            &[
                (2, 200, Some(200), None),
                (4, 400, Some(400), None),
                (5, 500, None, Some(7)),
                (6, 600, Some(610), Some(9)),
            ],
        );
        assert!(second.amount_base.rows.is_some() && second.value_date.rows.is_some());
        let ledger = LedgerBuilder::finish_parts(vec![first, second]).unwrap();
        assert_eq!(
            pence(&ledger, col::AMOUNT),
            [100, 200, 300, 400, 500, 600].map(Some).to_vec()
        );
        assert_eq!(
            pence(&ledger, col::AMOUNT_BASE),
            vec![Some(100), Some(200), Some(300), Some(400), None, Some(610)]
        );
        assert_eq!(
            days(&ledger),
            vec![None, None, None, None, Some(7), Some(9)]
        );
        // Only rows whose base amount is their amount: the column is the amount column.
        let mut only = LedgerBuilder::new();
        push(
            &mut only,
            0,
            &[(2, -250, Some(-250), None), (1, 75, Some(75), None)],
        );
        let ledger = only.finish().unwrap();
        assert_eq!(pence(&ledger, col::AMOUNT_BASE), vec![Some(75), Some(-250)]);
        assert_eq!(
            ledger.column(col::AMOUNT_BASE).unwrap().dtype(),
            &DataType::Decimal(18, 2)
        );
        assert_eq!(days(&ledger), vec![None, None]);
    }
}
