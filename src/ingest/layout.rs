//! Layout files: declarative descriptions of a bank's CSV or text export.
//!
//! A layout (`rules/formats/*.toml`) says how to find the header, which column holds
//! which ledger field, how dates and amounts are written, in which order the bank lists
//! rows, and how the bank's type codes and narratives map to ledger channels,
//! counterparties and locations. [`RawLayout`] is the file as written (unknown keys are
//! errors); [`Layout`] is the compiled form with regexes built and every reference
//! checked, so a mistake in a layout is reported once, naming the file and key.

use regex::Regex;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

use crate::ledger::Channel;
use crate::money::{is_currency_code, AmountStyle};

/// A problem in a layout file.
#[derive(Debug, thiserror::Error)]
#[error("layout {origin}: {message}")]
pub struct LayoutError {
    /// File path, or `shipped:ID` for a layout built into the binary.
    pub origin: String,
    pub message: String,
}

/// The layout file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLayout {
    pub layout: RawLayoutHeader,
    #[serde(default)]
    pub columns: RawColumns,
    #[serde(default)]
    pub amounts: RawAmounts,
    #[serde(default)]
    pub type_codes: BTreeMap<String, Channel>,
    #[serde(default)]
    pub narratives: Vec<RawNarrative>,
}

/// `[layout]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLayoutHeader {
    pub id: String,
    pub name: String,
    pub version: u32,
    #[serde(default)]
    pub banks: Vec<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub kind: LayoutKind,
    #[serde(default)]
    pub encoding: Encoding,
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    #[serde(default = "yes")]
    pub has_header: bool,
    #[serde(default = "default_header_search")]
    pub header_search_lines: usize,
    #[serde(default)]
    pub date_format: Option<String>,
    #[serde(default)]
    pub time_format: Option<String>,
    pub row_order: RowOrder,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub skip_lines: Vec<String>,
    #[serde(default)]
    pub block_start: Option<String>,
    #[serde(default = "default_key_separator")]
    pub key_separator: char,
    #[serde(default)]
    pub default_channel: Option<Channel>,
    /// Spreadsheets only: the sheet to read, by name (default: the first sheet).
    #[serde(default)]
    pub sheet: Option<String>,
    /// MSB records only: statuses meaning the transfer did not happen (upper case).
    #[serde(default)]
    pub excluded_statuses: Vec<String>,
}

fn default_delimiter() -> char {
    ','
}
fn default_key_separator() -> char {
    ':'
}
fn default_header_search() -> usize {
    50
}
fn yes() -> bool {
    true
}

/// How records are laid out in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayoutKind {
    /// One record per (CSV) row.
    #[default]
    Delimited,
    /// `Key: value` lines, one block per transaction (e.g. Santander's text export).
    Blocks,
    /// SWIFT MT940 / MT942.
    Mt940,
    /// ISO 20022 camt.053 / camt.052.
    Camt,
    /// OFX / QFX 1.x (SGML) and 2.x (XML).
    Ofx,
    /// Money-transfer (MSB) records as CSV: one transfer per row, read with `[columns]`.
    Msb,
}

impl LayoutKind {
    /// Whether the format's own structure says where each field is (no `[columns]`).
    pub fn is_structured(self) -> bool {
        matches!(self, LayoutKind::Mt940 | LayoutKind::Camt | LayoutKind::Ofx)
    }
}

/// The file's character encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// BOM if present, else UTF-8 if valid, else Windows-1252.
    #[default]
    Auto,
    Utf8,
    Windows1252,
    Utf16,
}

/// The order in which the bank lists rows; same-day rows keep the bank's chronology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowOrder {
    OldestFirst,
    NewestFirst,
}

/// A column reference: its header name, or its 1-based position when there is no header.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    Name(String),
    Position(usize),
}

/// `[columns]`: which column holds each ledger field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumns {
    pub date: Option<ColumnRef>,
    pub time: Option<ColumnRef>,
    pub value_date: Option<ColumnRef>,
    pub description: Option<ColumnRef>,
    pub amount: Option<ColumnRef>,
    pub debit: Option<ColumnRef>,
    pub credit: Option<ColumnRef>,
    pub balance: Option<ColumnRef>,
    #[serde(rename = "type")]
    pub type_code: Option<ColumnRef>,
    pub category: Option<ColumnRef>,
    pub counterparty: Option<ColumnRef>,
    pub counterparty_account: Option<ColumnRef>,
    pub currency: Option<ColumnRef>,
    pub account: Option<ColumnRef>,
    pub sort_code: Option<ColumnRef>,
    pub account_number: Option<ColumnRef>,
    pub location: Option<ColumnRef>,
    pub transaction_id: Option<ColumnRef>,
    // Money-transfer (MSB) records.
    pub fee: Option<ColumnRef>,
    pub fx_rate: Option<ColumnRef>,
    pub payout_amount: Option<ColumnRef>,
    pub payout_currency: Option<ColumnRef>,
    pub pay_date: Option<ColumnRef>,
    pub status: Option<ColumnRef>,
    pub sender_name: Option<ColumnRef>,
    pub sender_address: Option<ColumnRef>,
    pub sender_id: Option<ColumnRef>,
    pub send_agent: Option<ColumnRef>,
    pub send_country: Option<ColumnRef>,
    pub receiver_name: Option<ColumnRef>,
    pub receiver_city: Option<ColumnRef>,
    pub receiver_country: Option<ColumnRef>,
    pub pay_agent: Option<ColumnRef>,
}

/// `[amounts]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAmounts {
    #[serde(default = "default_decimal_separator")]
    pub decimal_separator: char,
    #[serde(default = "default_thousands")]
    pub thousands_separator: Option<char>,
    #[serde(default = "yes")]
    pub negative_in_parentheses: bool,
    #[serde(default)]
    pub cr_dr_suffix: bool,
    /// How money out is written in a separate debit column.
    #[serde(default)]
    pub debit_values: DebitValues,
}

impl Default for RawAmounts {
    fn default() -> Self {
        RawAmounts {
            decimal_separator: '.',
            thousands_separator: Some(','),
            negative_in_parentheses: true,
            cr_dr_suffix: false,
            debit_values: DebitValues::Positive,
        }
    }
}

fn default_decimal_separator() -> char {
    '.'
}
fn default_thousands() -> Option<char> {
    Some(',')
}

/// How a separate debit ("Paid out", "Money Out") column writes money out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DebitValues {
    /// `12.50` means 12.50 out; a negative value there is rejected as ambiguous.
    #[default]
    Positive,
    /// `-12.50` means 12.50 out; a positive value there is rejected as ambiguous.
    Negative,
    /// Either sign means money out (the magnitude is used).
    Either,
}

/// `[[narratives]]`: a pattern that sets the channel or pulls fields out of a text field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNarrative {
    pub pattern: String,
    #[serde(default)]
    pub field: NarrativeField,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub type_codes: Vec<String>,
    #[serde(default)]
    pub channel: Option<Channel>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Which text a narrative pattern is matched against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NarrativeField {
    #[default]
    Description,
    Type,
    Category,
    Counterparty,
}

/// Money in, money out, or either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Any,
    Credit,
    Debit,
}

/// The ledger fields a layout can fill from a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    Date,
    Time,
    ValueDate,
    Description,
    Amount,
    Debit,
    Credit,
    Balance,
    TypeCode,
    Category,
    Counterparty,
    CounterpartyAccount,
    Currency,
    Account,
    SortCode,
    AccountNumber,
    Location,
    TransactionId,
    Fee,
    FxRate,
    PayoutAmount,
    PayoutCurrency,
    PayDate,
    Status,
    SenderName,
    SenderAddress,
    SenderId,
    SendAgent,
    SendCountry,
    ReceiverName,
    ReceiverCity,
    ReceiverCountry,
    PayAgent,
}

/// Number of [`Field`] variants.
pub const FIELD_COUNT: usize = 33;

impl Field {
    /// The key used for this field in `[columns]`.
    pub fn key(self) -> &'static str {
        match self {
            Field::Date => "date",
            Field::Time => "time",
            Field::ValueDate => "value_date",
            Field::Description => "description",
            Field::Amount => "amount",
            Field::Debit => "debit",
            Field::Credit => "credit",
            Field::Balance => "balance",
            Field::TypeCode => "type",
            Field::Category => "category",
            Field::Counterparty => "counterparty",
            Field::CounterpartyAccount => "counterparty_account",
            Field::Currency => "currency",
            Field::Account => "account",
            Field::SortCode => "sort_code",
            Field::AccountNumber => "account_number",
            Field::Location => "location",
            Field::TransactionId => "transaction_id",
            Field::Fee => "fee",
            Field::FxRate => "fx_rate",
            Field::PayoutAmount => "payout_amount",
            Field::PayoutCurrency => "payout_currency",
            Field::PayDate => "pay_date",
            Field::Status => "status",
            Field::SenderName => "sender_name",
            Field::SenderAddress => "sender_address",
            Field::SenderId => "sender_id",
            Field::SendAgent => "send_agent",
            Field::SendCountry => "send_country",
            Field::ReceiverName => "receiver_name",
            Field::ReceiverCity => "receiver_city",
            Field::ReceiverCountry => "receiver_country",
            Field::PayAgent => "pay_agent",
        }
    }
}

/// How the amount of a row is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountColumns {
    /// One signed column.
    Signed,
    /// Separate money-out and money-in columns.
    DebitCredit,
}

/// A compiled narrative rule.
#[derive(Debug, Clone)]
pub struct Narrative {
    pub pattern: Regex,
    pub field: NarrativeField,
    pub direction: Direction,
    pub type_codes: Vec<String>,
    pub channel: Option<Channel>,
    /// What a match can give, as bits of [`fills`]: the channel when the rule sets one, and
    /// each named group of the pattern.
    pub fills: u8,
    /// Index in the pattern of the `counterparty`, `counterparty_account` and `location`
    /// groups, where it has them.
    pub groups: [Option<usize>; 3],
}

/// What a narrative rule can give a transaction: bits of [`Narrative::fills`].
pub mod fills {
    pub const CHANNEL: u8 = 1;
    pub const COUNTERPARTY: u8 = 2;
    pub const COUNTERPARTY_ACCOUNT: u8 = 4;
    pub const LOCATION: u8 = 8;
    /// The named groups, in the order of [`super::Narrative::groups`], with their bits.
    pub const GROUPS: [(&str, u8); 3] = [
        ("counterparty", COUNTERPARTY),
        ("counterparty_account", COUNTERPARTY_ACCOUNT),
        ("location", LOCATION),
    ];
}

/// A compiled layout, ready to read files.
#[derive(Debug, Clone)]
pub struct Layout {
    pub id: String,
    pub name: String,
    pub version: u32,
    pub banks: Vec<String>,
    pub notes: Option<String>,
    /// Where it came from: a path, or `shipped:ID`.
    pub origin: String,
    /// SHA-256 of the layout file's text, recorded in the manifest.
    pub sha256: String,
    pub kind: LayoutKind,
    pub encoding: Encoding,
    pub delimiter: u8,
    pub has_header: bool,
    pub header_search_lines: usize,
    /// Date format of text cells; empty for structured formats, whose dates are fixed.
    pub date_format: String,
    pub time_format: Option<String>,
    pub row_order: RowOrder,
    pub currency: Option<String>,
    pub skip_lines: Vec<Regex>,
    pub block_start: Option<String>,
    pub key_separator: char,
    pub default_channel: Channel,
    /// Spreadsheets only: the sheet to read (default: the first).
    pub sheet: Option<String>,
    /// MSB records only: statuses meaning the transfer did not happen (upper case).
    pub excluded_statuses: Vec<String>,
    /// Column for each field, in [`Field`] order.
    pub columns: Vec<(Field, ColumnRef)>,
    pub amount_columns: AmountColumns,
    pub amount_style: AmountStyle,
    pub debit_values: DebitValues,
    /// Type code (upper case, trimmed) → channel.
    pub type_codes: BTreeMap<String, Channel>,
    pub narratives: Vec<Narrative>,
    /// Per type code a narrative or the type-code table names: which narratives it lets
    /// run, and its channel. Built once from the two, so a row's code is looked up once,
    /// not compared with every narrative's list.
    pub code_rules: HashMap<String, CodeRules>,
    /// Which narratives run for a row with no type code, or one no narrative or table
    /// names: those without a `type_codes` list.
    pub untyped_rules: Vec<bool>,
}

/// What a type code means to a layout: [`Layout::code_rules`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRules {
    /// Per narrative, in order, whether it runs for this code: its `type_codes` list is
    /// empty or names the code.
    pub narratives: Vec<bool>,
    /// The channel `[type_codes]` gives the code, if it names it.
    pub channel: Option<Channel>,
}

/// [`Layout::code_rules`] and [`Layout::untyped_rules`] from the type-code table and the
/// narratives.
fn code_rules(
    type_codes: &BTreeMap<String, Channel>,
    narratives: &[Narrative],
) -> (HashMap<String, CodeRules>, Vec<bool>) {
    let untyped: Vec<bool> = narratives.iter().map(|n| n.type_codes.is_empty()).collect();
    let named = type_codes
        .keys()
        .chain(narratives.iter().flat_map(|n| n.type_codes.iter()));
    let mut table = HashMap::new();
    for code in named {
        table.entry(code.clone()).or_insert_with(|| CodeRules {
            narratives: narratives
                .iter()
                .map(|n| n.type_codes.is_empty() || n.type_codes.contains(code))
                .collect(),
            channel: type_codes.get(code).copied(),
        });
    }
    (table, untyped)
}

impl Layout {
    /// Parse and compile a layout file's text.
    pub fn from_toml(text: &str, origin: &str) -> Result<Layout, LayoutError> {
        let err = |message: String| LayoutError {
            origin: origin.to_string(),
            message,
        };
        let raw: RawLayout = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let h = raw.layout;
        let id_ok = !h.id.is_empty()
            && h.id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !id_ok {
            return Err(err(format!(
                "`layout.id` is {:?}; use lower-case letters, digits, '-' and '_' (e.g. \"my-credit-union\")",
                h.id
            )));
        }
        let structured = h.kind.is_structured();
        let date_format =
            match (&h.date_format, structured) {
                (Some(f), _) => {
                    check_date_format(f).map_err(|m| err(format!("`layout.date_format` {m}")))?;
                    f.clone()
                }
                (None, true) => String::new(),
                (None, false) => return Err(err(
                    "`layout.date_format` is required, e.g. \"%d/%m/%Y\"; dates are never guessed"
                        .into(),
                )),
            };
        if let Some(tf) = &h.time_format {
            if tf.is_empty() {
                return Err(err("`layout.time_format` must not be empty".into()));
            }
            check_strftime(tf).map_err(|m| err(format!("`layout.time_format` {m}")))?;
        }
        if let Some(c) = &h.currency {
            if !is_currency_code(c) {
                return Err(err(format!(
                    "`layout.currency` is {c:?}, not an ISO 4217 code"
                )));
            }
        }
        if !h.delimiter.is_ascii() {
            return Err(err(format!(
                "`layout.delimiter` is {:?}; it must be a single ASCII character such as ',' ';' or '\\t'",
                h.delimiter
            )));
        }
        if h.kind == LayoutKind::Blocks && h.block_start.is_none() {
            return Err(err(
                "`layout.block_start` is required for kind = \"blocks\": name the key that opens each transaction, e.g. \"Date\"".into(),
            ));
        }
        let skip_lines = h
            .skip_lines
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|e| {
                    err(format!(
                        "`layout.skip_lines` pattern {p:?} is not a valid regex: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let c = raw.columns;
        let all = [
            (Field::Date, c.date),
            (Field::Time, c.time),
            (Field::ValueDate, c.value_date),
            (Field::Description, c.description),
            (Field::Amount, c.amount),
            (Field::Debit, c.debit),
            (Field::Credit, c.credit),
            (Field::Balance, c.balance),
            (Field::TypeCode, c.type_code),
            (Field::Category, c.category),
            (Field::Counterparty, c.counterparty),
            (Field::CounterpartyAccount, c.counterparty_account),
            (Field::Currency, c.currency),
            (Field::Account, c.account),
            (Field::SortCode, c.sort_code),
            (Field::AccountNumber, c.account_number),
            (Field::Location, c.location),
            (Field::TransactionId, c.transaction_id),
            (Field::Fee, c.fee),
            (Field::FxRate, c.fx_rate),
            (Field::PayoutAmount, c.payout_amount),
            (Field::PayoutCurrency, c.payout_currency),
            (Field::PayDate, c.pay_date),
            (Field::Status, c.status),
            (Field::SenderName, c.sender_name),
            (Field::SenderAddress, c.sender_address),
            (Field::SenderId, c.sender_id),
            (Field::SendAgent, c.send_agent),
            (Field::SendCountry, c.send_country),
            (Field::ReceiverName, c.receiver_name),
            (Field::ReceiverCity, c.receiver_city),
            (Field::ReceiverCountry, c.receiver_country),
            (Field::PayAgent, c.pay_agent),
        ];
        let columns: Vec<(Field, ColumnRef)> = all
            .into_iter()
            .filter_map(|(f, c)| c.map(|c| (f, c)))
            .collect();
        let has = |f: Field| columns.iter().any(|(g, _)| *g == f);
        for (f, c) in &columns {
            match c {
                ColumnRef::Position(0) => {
                    return Err(err(format!("`columns.{}` is 0; positions count from 1", f.key())))
                }
                ColumnRef::Position(_) if h.has_header || h.kind == LayoutKind::Blocks => {
                    return Err(err(format!(
                        "`columns.{}` is a position, but this layout has a header: name the column instead",
                        f.key()
                    )))
                }
                ColumnRef::Name(_)
                    if !h.has_header && matches!(h.kind, LayoutKind::Delimited | LayoutKind::Msb) =>
                {
                    return Err(err(format!(
                        "`columns.{}` is a name, but `layout.has_header = false`: give its 1-based position instead",
                        f.key()
                    )))
                }
                ColumnRef::Name(n) if n.trim().is_empty() => {
                    return Err(err(format!("`columns.{}` is an empty name", f.key())))
                }
                _ => {}
            }
        }
        if structured && !columns.is_empty() {
            return Err(err(format!(
                "`[columns]` does not apply to kind = {:?}: the format itself says where each field is",
                h.kind
            )));
        }
        if !structured && !has(Field::Date) {
            return Err(err(
                "`columns.date` is required: name the column holding the booking date".into(),
            ));
        }
        let amount_columns = match (has(Field::Amount), has(Field::Debit), has(Field::Credit)) {
            _ if structured => AmountColumns::Signed,
            (true, false, false) => AmountColumns::Signed,
            (false, true, true) => AmountColumns::DebitCredit,
            _ => {
                return Err(err(
                    "give either `columns.amount` (one signed column) or both `columns.debit` and `columns.credit`, not a mix".into(),
                ))
            }
        };
        let msb_fields = [
            Field::Fee,
            Field::FxRate,
            Field::PayoutAmount,
            Field::PayoutCurrency,
            Field::PayDate,
            Field::Status,
            Field::SenderName,
            Field::SenderAddress,
            Field::SenderId,
            Field::SendAgent,
            Field::SendCountry,
            Field::ReceiverName,
            Field::ReceiverCity,
            Field::ReceiverCountry,
            Field::PayAgent,
        ];
        if h.kind == LayoutKind::Msb {
            for f in [
                Field::TransactionId,
                Field::Amount,
                Field::SenderName,
                Field::ReceiverName,
            ] {
                if !has(f) {
                    return Err(err(format!(
                        "`columns.{}` is required for kind = \"msb\" (transfer reference, principal, sender and receiver)",
                        f.key()
                    )));
                }
            }
        } else if let Some(f) = msb_fields.iter().find(|f| has(**f)) {
            return Err(err(format!(
                "`columns.{}` applies only to money-transfer records (kind = \"msb\")",
                f.key()
            )));
        }
        if !structured && h.currency.is_none() && !has(Field::Currency) {
            return Err(err(
                "no currency: set `layout.currency` (e.g. \"GBP\") or map `columns.currency`"
                    .into(),
            ));
        }
        if h.kind == LayoutKind::Blocks {
            if let Some(start) = &h.block_start {
                if !columns
                    .iter()
                    .any(|(_, c)| c == &ColumnRef::Name(start.clone()))
                {
                    return Err(err(format!(
                        "`layout.block_start` is {start:?}, which is not one of the mapped `[columns]` keys"
                    )));
                }
            }
        }

        let type_codes = raw
            .type_codes
            .into_iter()
            .map(|(k, v)| (k.trim().to_uppercase(), v))
            .collect();
        let narratives = raw
            .narratives
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let pattern = Regex::new(&n.pattern).map_err(|e| {
                    err(format!("`narratives[{i}].pattern` {:?} is not a valid regex: {e}", n.pattern))
                })?;
                for name in pattern.capture_names().flatten() {
                    if !["counterparty", "counterparty_account", "location"].contains(&name) {
                        return Err(err(format!(
                            "`narratives[{i}].pattern` has a group named {name:?}; valid names are counterparty, counterparty_account, location"
                        )));
                    }
                }
                let needed = match n.field {
                    NarrativeField::Description => Field::Description,
                    NarrativeField::Type => Field::TypeCode,
                    NarrativeField::Category => Field::Category,
                    NarrativeField::Counterparty => Field::Counterparty,
                };
                if !structured && !has(needed) {
                    return Err(err(format!(
                        "`narratives[{i}]` matches the {} field, but `columns.{}` is not mapped",
                        needed.key(),
                        needed.key()
                    )));
                }
                if n.channel.is_none() && pattern.capture_names().flatten().next().is_none() {
                    return Err(err(format!(
                        "`narratives[{i}]` neither sets a channel nor captures a named group; it would do nothing"
                    )));
                }
                let mut groups = [None; 3];
                let mut bits = if n.channel.is_some() { fills::CHANNEL } else { 0 };
                for (k, (name, bit)) in fills::GROUPS.iter().enumerate() {
                    groups[k] = pattern.capture_names().position(|g| g == Some(*name));
                    if groups[k].is_some() {
                        bits |= bit;
                    }
                }
                Ok(Narrative {
                    pattern,
                    field: n.field,
                    direction: n.direction,
                    type_codes: n.type_codes.iter().map(|t| t.trim().to_uppercase()).collect(),
                    channel: n.channel,
                    fills: bits,
                    groups,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;

        let (code_rules, untyped_rules) = code_rules(&type_codes, &narratives);
        let a = raw.amounts;
        // One character cannot be both: "1,234" would read as 1.234 or 1234 depending on
        // which rule ran first. Digits and signs cannot separate anything.
        let bad_separator = |c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '(' | ')');
        if a.thousands_separator == Some(a.decimal_separator)
            || bad_separator(a.decimal_separator)
            || a.thousands_separator.is_some_and(bad_separator)
        {
            return Err(err(format!(
                "`amounts.decimal_separator` is {:?} and `amounts.thousands_separator` is {:?}; they must differ and be neither digits nor signs (e.g. \".\" and \",\")",
                a.decimal_separator, a.thousands_separator
            )));
        }
        Ok(Layout {
            id: h.id,
            name: h.name,
            version: h.version,
            banks: h.banks,
            notes: h.notes,
            origin: origin.to_string(),
            sha256: crate::hash::sha256_hex(text.as_bytes()),
            kind: h.kind,
            encoding: h.encoding,
            delimiter: h.delimiter as u8,
            has_header: h.has_header,
            header_search_lines: h.header_search_lines,
            date_format,
            time_format: h.time_format,
            row_order: h.row_order,
            currency: h.currency,
            skip_lines,
            block_start: h.block_start,
            key_separator: h.key_separator,
            default_channel: h.default_channel.unwrap_or(Channel::Other),
            sheet: h.sheet,
            excluded_statuses: h
                .excluded_statuses
                .iter()
                .map(|x| x.trim().to_uppercase())
                .collect(),
            columns,
            amount_columns,
            amount_style: AmountStyle {
                decimal_separator: a.decimal_separator,
                thousands_separator: a.thousands_separator,
                negative_in_parentheses: a.negative_in_parentheses,
                cr_dr_suffix: a.cr_dr_suffix,
            },
            debit_values: a.debit_values,
            code_rules,
            untyped_rules,
            type_codes,
            narratives,
        })
    }

    /// The column mapped to a field, if any.
    pub fn column(&self, field: Field) -> Option<&ColumnRef> {
        self.columns
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, c)| c)
    }
}

/// A format must hold only valid `strftime` specifiers: formatting a date with an invalid
/// one (`%Q`) fails, and spreadsheet dates are written with the layout's format.
fn check_strftime(fmt: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(fmt).any(|item| matches!(item, Item::Error)) {
        return Err(format!(
            "is {fmt:?}, which holds a specifier that is not a valid date or time format (e.g. \"%d/%m/%Y\", \"%H:%M:%S\")"
        ));
    }
    Ok(())
}

/// A date format must name day, month and year explicitly; nothing is inferred.
fn check_date_format(fmt: &str) -> Result<(), String> {
    check_strftime(fmt)?;
    let has_day = fmt.contains("%d") || fmt.contains("%e") || fmt.contains("%-d");
    let has_month =
        fmt.contains("%m") || fmt.contains("%b") || fmt.contains("%B") || fmt.contains("%-m");
    let has_year = fmt.contains("%Y") || fmt.contains("%y");
    if fmt.contains("%F") || fmt.contains("%D") || (has_day && has_month && has_year) {
        Ok(())
    } else {
        Err(format!(
            "is {fmt:?}; it must name day, month and year, e.g. \"%d/%m/%Y\" or \"%d %b %Y\""
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "[layout]\nid = \"t\"\nname = \"t\"\nversion = 1\nrow_order = \"oldest_first\"\ncurrency = \"GBP\"\n";
    const COLUMNS: &str = "[columns]\ndate = \"Date\"\namount = \"Amount\"\n";

    #[test]
    fn an_invalid_strftime_specifier_is_refused() {
        // chrono panics when a date is formatted with such a format (spreadsheet dates are).
        let formatted = std::panic::catch_unwind(|| {
            chrono::NaiveDate::from_ymd_opt(2024, 1, 2)
                .unwrap()
                .format("%d/%m/%Y %Q")
                .to_string()
        });
        assert!(formatted.is_err(), "chrono no longer panics: {formatted:?}");
        let text = format!("{HEADER}date_format = \"%d/%m/%Y %Q\"\n{COLUMNS}");
        let err = Layout::from_toml(&text, "t.toml").unwrap_err();
        assert!(
            err.message.contains("`layout.date_format` is \"%d/%m/%Y %Q\", which holds a specifier that is not a valid date or time format"),
            "{}",
            err.message
        );
        let text =
            format!("{HEADER}date_format = \"%d/%m/%Y\"\ntime_format = \"%H:%Q\"\n{COLUMNS}");
        let err = Layout::from_toml(&text, "t.toml").unwrap_err();
        assert!(
            err.message.contains("`layout.time_format` is \"%H:%Q\""),
            "{}",
            err.message
        );
        let text =
            format!("{HEADER}date_format = \"%-d/%-m/%Y\"\ntime_format = \"%H:%M\"\n{COLUMNS}");
        assert!(Layout::from_toml(&text, "t.toml").is_ok());
    }

    #[test]
    fn one_character_cannot_be_both_separators() {
        for amounts in [
            "[amounts]\ndecimal_separator = \",\"\nthousands_separator = \",\"\n",
            "[amounts]\ndecimal_separator = \"0\"\n",
            "[amounts]\nthousands_separator = \"-\"\n",
        ] {
            let text = format!("{HEADER}date_format = \"%d/%m/%Y\"\n{COLUMNS}{amounts}");
            let err = Layout::from_toml(&text, "t.toml").unwrap_err();
            assert!(
                err.message
                    .contains("they must differ and be neither digits nor signs"),
                "{}",
                err.message
            );
        }
        let text = format!(
            "{HEADER}date_format = \"%d/%m/%Y\"\n{COLUMNS}[amounts]\ndecimal_separator = \",\"\nthousands_separator = \".\"\n"
        );
        assert!(Layout::from_toml(&text, "t.toml").is_ok());
    }

    #[test]
    fn each_type_code_lets_run_the_narratives_that_name_it_or_name_none() {
        let text = format!(
            "{HEADER}date_format = \"%d/%m/%Y\"\n[columns]\ndate = \"Date\"\namount = \"Amount\"\ndescription = \"Memo\"\ntype = \"Type\"\n\
             [type_codes]\n\" dep \" = \"other\"\nCPT = \"cash_withdrawal\"\n\
             [[narratives]]\npattern = '^CASH'\nchannel = \"cash_deposit\"\n\
             [[narratives]]\npattern = '^LNK'\ntype_codes = [\"CPT\", \"csh\"]\nchannel = \"cash_withdrawal\"\n\
             [[narratives]]\npattern = '^CHQ'\ntype_codes = [\"DEP\"]\nchannel = \"cheque\"\n"
        );
        let layout = Layout::from_toml(&text, "t.toml").unwrap();
        let rules = |code: &str| layout.code_rules.get(code).cloned();
        assert_eq!(
            rules("DEP"),
            Some(CodeRules {
                narratives: vec![true, false, true],
                channel: Some(Channel::Other),
            })
        );
        assert_eq!(
            rules("CPT"),
            Some(CodeRules {
                narratives: vec![true, true, false],
                channel: Some(Channel::CashWithdrawal),
            })
        );
        // Named by a narrative only: no channel of its own.
        assert_eq!(
            rules("CSH"),
            Some(CodeRules {
                narratives: vec![true, true, false],
                channel: None,
            })
        );
        assert_eq!(layout.code_rules.len(), 3);
        assert_eq!(layout.untyped_rules, vec![true, false, false]);
    }
}
