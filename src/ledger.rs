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
    let prefix = source_sha256.get(..12).unwrap_or(source_sha256);
    if sub == 0 {
        format!("{prefix}-L{line}")
    } else {
        format!("{prefix}-L{line}.{sub}")
    }
}

/// Collects ledger rows column by column.
#[derive(Debug, Default)]
pub struct LedgerBuilder {
    account_order: Vec<u32>,
    source_order: Vec<u32>,
    row_order: Vec<u64>,
    txn_id: Vec<String>,
    account_id: Vec<String>,
    source_file: Vec<String>,
    source_sha256: Vec<String>,
    source_line: Vec<u32>,
    exhibit: Vec<Option<String>>,
    booking_date: Vec<NaiveDate>,
    value_date: Vec<Option<NaiveDate>>,
    amount: Vec<i128>,
    currency: Vec<String>,
    amount_base: Vec<Option<i128>>,
    balance: Vec<Option<i128>>,
    channel: Vec<&'static str>,
    counterparty_name: Vec<Option<String>>,
    counterparty_account: Vec<Option<String>>,
    description: Vec<String>,
    location: Vec<Option<String>>,
    bank_type: Vec<Option<String>>,
    bank_txn_id: Vec<Option<String>>,
    booking_time: Vec<Option<String>>,
    reversal: Vec<bool>,
    party_name: Vec<Option<String>>,
    party_address: Vec<Option<String>>,
    party_id: Vec<Option<String>>,
    counterparty_country: Vec<Option<String>>,
    excluded_reason: Vec<Option<String>>,
}

impl LedgerBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows collected so far.
    pub fn len(&self) -> usize {
        self.txn_id.len()
    }

    /// Whether no row has been collected.
    pub fn is_empty(&self) -> bool {
        self.txn_id.is_empty()
    }

    /// Add a row. `account_order` is the account's position in the case file.
    pub fn push(&mut self, account_order: u32, provenance: &Provenance, row: LedgerRow) {
        self.account_order.push(account_order);
        self.source_order.push(provenance.source_index);
        self.row_order.push(row.order_in_source);
        self.txn_id
            .push(txn_id(&provenance.source_sha256, row.source_line, row.sub));
        self.account_id.push(row.account_id);
        self.source_file.push(provenance.source_file.clone());
        self.source_sha256.push(provenance.source_sha256.clone());
        self.source_line.push(row.source_line);
        self.exhibit.push(provenance.exhibit.clone());
        self.booking_date.push(row.booking_date);
        self.value_date.push(row.value_date);
        self.amount.push(to_minor_units(row.amount));
        self.currency.push(row.currency);
        self.amount_base.push(row.amount_base.map(to_minor_units));
        self.balance.push(row.balance.map(to_minor_units));
        self.channel.push(row.channel.as_str());
        self.counterparty_name.push(row.counterparty_name);
        self.counterparty_account.push(row.counterparty_account);
        self.description.push(row.description);
        self.location.push(row.location);
        self.bank_type.push(row.bank_type);
        self.bank_txn_id.push(row.bank_txn_id);
        self.booking_time.push(row.booking_time);
        self.reversal.push(row.reversal);
        self.party_name.push(row.party.name);
        self.party_address.push(row.party.address);
        self.party_id.push(row.party.id);
        self.counterparty_country.push(row.counterparty_country);
        self.excluded_reason.push(row.excluded_reason);
    }

    /// The ledger as a frame in canonical order, with `seq` numbering that order from 1.
    pub fn finish(mut self) -> PolarsResult<DataFrame> {
        use col::*;
        let n = self.txn_id.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        // Borrowed keys: the order is total (txn ids are unique), so an unstable sort gives
        // the same order as a stable one.
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (a as usize, b as usize);
            (
                self.account_order[a],
                self.booking_date[a],
                self.source_order[a],
                self.row_order[a],
                &self.txn_id[a],
            )
                .cmp(&(
                    self.account_order[b],
                    self.booking_date[b],
                    self.source_order[b],
                    self.row_order[b],
                    &self.txn_id[b],
                ))
        });
        // Each index appears once in `order`, so every string is moved out, not cloned.
        let take = |v: &mut Vec<String>| -> Vec<String> {
            order
                .iter()
                .map(|&i| std::mem::take(&mut v[i as usize]))
                .collect()
        };
        let take_opt = |v: &mut Vec<Option<String>>| -> Vec<Option<String>> {
            order.iter().map(|&i| v[i as usize].take()).collect()
        };
        let money = |name: &str, v: Vec<Option<i128>>| -> PolarsResult<Column> {
            let ca = Int128Chunked::from_iter_options(name.into(), v.into_iter());
            Ok(ca.into_decimal(18, 2)?.into_series().into_column())
        };
        let date = |name: &str, v: Vec<Option<NaiveDate>>| -> Column {
            Series::new(name.into(), v.as_slice()).into_column()
        };
        let columns = vec![
            Column::new(TXN_ID.into(), take(&mut self.txn_id)),
            Column::new(ACCOUNT_ID.into(), take(&mut self.account_id)),
            Column::new(SOURCE_FILE.into(), take(&mut self.source_file)),
            Column::new(SOURCE_SHA256.into(), take(&mut self.source_sha256)),
            Column::new(
                SOURCE_LINE.into(),
                order
                    .iter()
                    .map(|&i| self.source_line[i as usize])
                    .collect::<Vec<u32>>(),
            ),
            Column::new(EXHIBIT.into(), take_opt(&mut self.exhibit)),
            Column::new(SEQ.into(), (1..=n as u64).collect::<Vec<u64>>()),
            date(
                BOOKING_DATE,
                order
                    .iter()
                    .map(|&i| Some(self.booking_date[i as usize]))
                    .collect(),
            ),
            date(
                VALUE_DATE,
                order.iter().map(|&i| self.value_date[i as usize]).collect(),
            ),
            money(
                AMOUNT,
                order
                    .iter()
                    .map(|&i| Some(self.amount[i as usize]))
                    .collect(),
            )?,
            Column::new(CURRENCY.into(), take(&mut self.currency)),
            money(
                AMOUNT_BASE,
                order
                    .iter()
                    .map(|&i| self.amount_base[i as usize])
                    .collect(),
            )?,
            money(
                BALANCE,
                order.iter().map(|&i| self.balance[i as usize]).collect(),
            )?,
            Column::new(
                CHANNEL.into(),
                order
                    .iter()
                    .map(|&i| self.channel[i as usize])
                    .collect::<Vec<&str>>(),
            ),
            Column::new(
                COUNTERPARTY_NAME.into(),
                take_opt(&mut self.counterparty_name),
            ),
            Column::new(
                COUNTERPARTY_ACCOUNT.into(),
                take_opt(&mut self.counterparty_account),
            ),
            Column::new(DESCRIPTION.into(), take(&mut self.description)),
            Column::new(LOCATION.into(), take_opt(&mut self.location)),
            Column::new(BANK_TYPE.into(), take_opt(&mut self.bank_type)),
            Column::new(BANK_TXN_ID.into(), take_opt(&mut self.bank_txn_id)),
            Column::new(BOOKING_TIME.into(), take_opt(&mut self.booking_time)),
            Column::new(
                REVERSAL.into(),
                order
                    .iter()
                    .map(|&i| self.reversal[i as usize])
                    .collect::<Vec<bool>>(),
            ),
            Column::new(PARTY_NAME.into(), take_opt(&mut self.party_name)),
            Column::new(PARTY_ADDRESS.into(), take_opt(&mut self.party_address)),
            Column::new(PARTY_ID.into(), take_opt(&mut self.party_id)),
            Column::new(
                COUNTERPARTY_COUNTRY.into(),
                take_opt(&mut self.counterparty_country),
            ),
            Column::new(EXCLUDED_REASON.into(), take_opt(&mut self.excluded_reason)),
        ];
        DataFrame::new(n, columns)
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
}
