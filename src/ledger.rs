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
}

impl TextColumn {
    fn push(&mut self, value: Option<&str>) {
        if let Some(v) = value {
            self.bytes.push_str(v);
        }
        self.ends.push(self.bytes.len());
        self.present.push(value.is_some());
    }

    fn reserve(&mut self, rows: usize, bytes: usize) {
        self.bytes.reserve(bytes);
        self.ends.reserve(rows);
        self.present.reserve(rows);
    }

    /// Add `other`'s rows after these.
    fn append(&mut self, other: TextColumn) {
        let base = self.bytes.len();
        self.bytes.push_str(&other.bytes);
        self.ends.extend(other.ends.iter().map(|e| base + e));
        self.present.extend(other.present);
    }

    fn get(&self, row: usize) -> Option<&str> {
        if !self.present[row] {
            return None;
        }
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        self.bytes.get(start..self.ends[row])
    }

    /// The column in the given row order.
    fn column(&self, name: &str, order: &[u32]) -> Column {
        let mut out = StringChunkedBuilder::new(name.into(), order.len());
        for &i in order {
            out.append_option(self.get(i as usize));
        }
        out.finish().into_series().into_column()
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
    value_date: Vec<Option<NaiveDate>>,
    amount: Vec<i128>,
    currency: Vec<u32>,
    amount_base: Vec<Option<i128>>,
    balance: Vec<Option<i128>>,
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
        self.amount_base.push(row.amount_base.map(to_minor_units));
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

    /// Make room for the rows of `parts`, so that appending them does not grow (and copy)
    /// every column many times over.
    pub fn reserve_for<'a>(&mut self, parts: impl Iterator<Item = &'a LedgerBuilder> + Clone) {
        let rows: usize = parts.clone().map(LedgerBuilder::len).sum();
        self.account_order.reserve(rows);
        self.account_id.reserve(rows);
        self.source_slot.reserve(rows);
        self.row_order.reserve(rows);
        self.source_line.reserve(rows);
        self.sub.reserve(rows);
        self.booking_date.reserve(rows);
        self.value_date.reserve(rows);
        self.amount.reserve(rows);
        self.currency.reserve(rows);
        self.amount_base.reserve(rows);
        self.balance.reserve(rows);
        self.channel.reserve(rows);
        self.reversal.reserve(rows);
        let bytes = |f: fn(&LedgerBuilder) -> &TextColumn| -> usize {
            parts.clone().map(|p| f(p).bytes.len()).sum()
        };
        let counterparty_name = bytes(|b| &b.counterparty_name);
        let counterparty_account = bytes(|b| &b.counterparty_account);
        let description = bytes(|b| &b.description);
        let location = bytes(|b| &b.location);
        let bank_type = bytes(|b| &b.bank_type);
        let bank_txn_id = bytes(|b| &b.bank_txn_id);
        let booking_time = bytes(|b| &b.booking_time);
        let party_name = bytes(|b| &b.party_name);
        let party_address = bytes(|b| &b.party_address);
        let party_id = bytes(|b| &b.party_id);
        let counterparty_country = bytes(|b| &b.counterparty_country);
        let excluded_reason = bytes(|b| &b.excluded_reason);
        self.counterparty_name.reserve(rows, counterparty_name);
        self.counterparty_account
            .reserve(rows, counterparty_account);
        self.description.reserve(rows, description);
        self.location.reserve(rows, location);
        self.bank_type.reserve(rows, bank_type);
        self.bank_txn_id.reserve(rows, bank_txn_id);
        self.booking_time.reserve(rows, booking_time);
        self.party_name.reserve(rows, party_name);
        self.party_address.reserve(rows, party_address);
        self.party_id.reserve(rows, party_id);
        self.counterparty_country
            .reserve(rows, counterparty_country);
        self.excluded_reason.reserve(rows, excluded_reason);
    }

    /// Add the rows of `other` after these, as if they had been pushed here in that order:
    /// its sources, account keys and currencies are renumbered into this builder's. Sources
    /// read in parallel, each into its own builder, are joined this way in case order, so
    /// the ledger is the one a single builder would have made.
    pub fn append(&mut self, other: LedgerBuilder) {
        let LedgerBuilder {
            sources,
            account_ids,
            account_id_at,
            currencies,
            account_order,
            account_id,
            source_slot,
            row_order,
            source_line,
            sub,
            booking_date,
            value_date,
            amount,
            currency,
            amount_base,
            balance,
            channel,
            counterparty_name,
            counterparty_account,
            description,
            location,
            bank_type,
            bank_txn_id,
            booking_time,
            reversal,
            party_name,
            party_address,
            party_id,
            counterparty_country,
            excluded_reason,
        } = other;
        let slot_base = self.sources.len() as u32;
        self.sources.extend(sources);
        let key_base = self.account_ids.len() as u32;
        self.account_ids.extend(account_ids);
        for (at, key) in account_id_at.into_iter().enumerate() {
            if let Some(key) = key {
                if self.account_id_at.len() <= at {
                    self.account_id_at.resize(at + 1, None);
                }
                self.account_id_at[at] = Some(key_base + key);
            }
        }
        let currency_of: Vec<u32> = currencies
            .iter()
            .map(|c| intern(&mut self.currencies, c))
            .collect();
        self.account_order.extend(account_order);
        self.account_id
            .extend(account_id.into_iter().map(|k| key_base + k));
        self.source_slot
            .extend(source_slot.into_iter().map(|s| slot_base + s));
        self.row_order.extend(row_order);
        self.source_line.extend(source_line);
        self.sub.extend(sub);
        self.booking_date.extend(booking_date);
        self.value_date.extend(value_date);
        self.amount.extend(amount);
        self.currency
            .extend(currency.into_iter().map(|c| currency_of[c as usize]));
        self.amount_base.extend(amount_base);
        self.balance.extend(balance);
        self.channel.extend(channel);
        self.counterparty_name.append(counterparty_name);
        self.counterparty_account.append(counterparty_account);
        self.description.append(description);
        self.location.append(location);
        self.bank_type.append(bank_type);
        self.bank_txn_id.append(bank_txn_id);
        self.booking_time.append(booking_time);
        self.reversal.extend(reversal);
        self.party_name.append(party_name);
        self.party_address.append(party_address);
        self.party_id.append(party_id);
        self.counterparty_country.append(counterparty_country);
        self.excluded_reason.append(excluded_reason);
    }

    /// The ledger as a frame in canonical order, with `seq` numbering that order from 1.
    pub fn finish(self) -> PolarsResult<DataFrame> {
        use col::*;
        let n = self.len();
        let order = self.canonical_order();
        let sha = |i: usize| {
            self.sources[self.source_slot[i] as usize]
                .source_sha256
                .as_str()
        };
        let by_source = |name: &str, value: fn(&Provenance) -> Option<&str>| {
            gathered(
                name,
                self.sources.iter().map(value),
                order.iter().map(|&i| self.source_slot[i as usize]),
            )
        };
        let money = |name: &str, v: Vec<Option<i128>>| -> PolarsResult<Column> {
            let ca = Int128Chunked::from_iter_options(name.into(), v.into_iter());
            Ok(ca.into_decimal(18, 2)?.into_series().into_column())
        };
        let date = |name: &str, v: Vec<Option<NaiveDate>>| -> Column {
            Series::new(name.into(), v.as_slice()).into_column()
        };
        // Each column is built from the rows in canonical order independently of the
        // others, so they are built on every core (the largest, the transaction ids, first).
        const COLUMNS: usize = 27;
        let build = |k: usize| -> PolarsResult<Column> {
            match k {
                0 => {
                    let mut txn_ids = StringChunkedBuilder::new(TXN_ID.into(), n);
                    let mut id = String::new();
                    for &i in &order {
                        let i = i as usize;
                        write_txn_id(&mut id, sha(i), self.source_line[i], self.sub[i]);
                        txn_ids.append_value(id.as_str());
                    }
                    Ok(txn_ids.finish().into_series().into_column())
                }
                1 => gathered(
                    ACCOUNT_ID,
                    self.account_ids.iter().map(|a| Some(a.as_str())),
                    order.iter().map(|&i| self.account_id[i as usize]),
                ),
                2 => by_source(SOURCE_FILE, |p| Some(p.source_file.as_str())),
                3 => by_source(SOURCE_SHA256, |p| Some(p.source_sha256.as_str())),
                4 => Ok(Column::new(
                    SOURCE_LINE.into(),
                    order
                        .iter()
                        .map(|&i| self.source_line[i as usize])
                        .collect::<Vec<u32>>(),
                )),
                5 => by_source(EXHIBIT, |p| p.exhibit.as_deref()),
                6 => Ok(Column::new(
                    SEQ.into(),
                    (1..=n as u64).collect::<Vec<u64>>(),
                )),
                7 => Ok(date(
                    BOOKING_DATE,
                    order
                        .iter()
                        .map(|&i| Some(self.booking_date[i as usize]))
                        .collect(),
                )),
                8 => Ok(date(
                    VALUE_DATE,
                    order.iter().map(|&i| self.value_date[i as usize]).collect(),
                )),
                9 => money(
                    AMOUNT,
                    order
                        .iter()
                        .map(|&i| Some(self.amount[i as usize]))
                        .collect(),
                ),
                10 => gathered(
                    CURRENCY,
                    self.currencies.iter().map(|c| Some(c.as_str())),
                    order.iter().map(|&i| self.currency[i as usize]),
                ),
                11 => money(
                    AMOUNT_BASE,
                    order
                        .iter()
                        .map(|&i| self.amount_base[i as usize])
                        .collect(),
                ),
                12 => money(
                    BALANCE,
                    order.iter().map(|&i| self.balance[i as usize]).collect(),
                ),
                13 => gathered(
                    CHANNEL,
                    Channel::ALL.iter().map(|c| Some(c.as_str())),
                    order.iter().map(|&i| {
                        Channel::ALL
                            .iter()
                            .position(|c| *c == self.channel[i as usize])
                            .unwrap_or(0) as u32
                    }),
                ),
                14 => Ok(self.counterparty_name.column(COUNTERPARTY_NAME, &order)),
                15 => Ok(self
                    .counterparty_account
                    .column(COUNTERPARTY_ACCOUNT, &order)),
                16 => Ok(self.description.column(DESCRIPTION, &order)),
                17 => Ok(self.location.column(LOCATION, &order)),
                18 => Ok(self.bank_type.column(BANK_TYPE, &order)),
                19 => Ok(self.bank_txn_id.column(BANK_TXN_ID, &order)),
                20 => Ok(self.booking_time.column(BOOKING_TIME, &order)),
                21 => Ok(Column::new(
                    REVERSAL.into(),
                    order
                        .iter()
                        .map(|&i| self.reversal[i as usize])
                        .collect::<Vec<bool>>(),
                )),
                22 => Ok(self.party_name.column(PARTY_NAME, &order)),
                23 => Ok(self.party_address.column(PARTY_ADDRESS, &order)),
                24 => Ok(self.party_id.column(PARTY_ID, &order)),
                25 => Ok(self
                    .counterparty_country
                    .column(COUNTERPARTY_COUNTRY, &order)),
                26 => Ok(self.excluded_reason.column(EXCLUDED_REASON, &order)),
                _ => unreachable!("the ledger has {COLUMNS} columns"),
            }
        };
        let columns = crate::parallel::in_order(COLUMNS, build)
            .into_iter()
            .collect::<PolarsResult<Vec<Column>>>()?;
        DataFrame::new(n, columns)
    }

    /// Row positions in canonical order: account, booking date, the case's source order,
    /// the bank's order within the file, then the transaction id.
    fn canonical_order(&self) -> Vec<u32> {
        let n = self.len();
        // Sorting compact keys (not positions into the columns) keeps the comparisons in
        // cache; the transaction id is only formatted for rows equal on everything else
        // (the parts of one record).
        let mut keys: Vec<(u32, NaiveDate, u32, u64, u32)> = (0..n)
            .map(|i| {
                (
                    self.account_order[i],
                    self.booking_date[i],
                    self.sources[self.source_slot[i] as usize].source_index,
                    self.row_order[i],
                    i as u32,
                )
            })
            .collect();
        let id = |i: u32| {
            let i = i as usize;
            txn_id(
                &self.sources[self.source_slot[i] as usize].source_sha256,
                self.source_line[i],
                self.sub[i],
            )
        };
        // The order is total (txn ids are unique; the position breaks any tie left), so an
        // unstable sort gives the same order as a stable one.
        keys.sort_unstable_by(|a, b| {
            (a.0, a.1, a.2, a.3)
                .cmp(&(b.0, b.1, b.2, b.3))
                .then_with(|| id(a.4).cmp(&id(b.4)))
                .then_with(|| a.4.cmp(&b.4))
        });
        keys.into_iter().map(|k| k.4).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn builders_appended_in_order_make_the_ledger_one_builder_makes() {
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
        let mut joined = LedgerBuilder::new();
        for part in [&rows[..2], &rows[2..4], &rows[4..]] {
            let mut b = LedgerBuilder::new();
            for r in part {
                push(&mut b, r);
            }
            joined.append(b);
        }
        let (one, joined) = (one.finish().unwrap(), joined.finish().unwrap());
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
}
