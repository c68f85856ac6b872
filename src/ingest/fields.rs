//! Reading one record's values into a transaction, as its layout declares.
//!
//! Dates are parsed with the layout's declared format only (never inferred); amounts with
//! the layout's separators and sign conventions (see `money`); the channel comes from the
//! first matching narrative pattern, then the bank's type code, then the layout default.
//! Counterparty, counterparty account and location come from their own columns when the
//! export has them, otherwise from named groups of narrative patterns; a pattern that reads
//! the counterparty column itself may take the name out of it. A value that cannot be read
//! exactly rejects the row with the field and the reason. A row's texts are slices of the
//! record, not copies of it.

use std::borrow::Cow;

use chrono::format::{parse, Item, Parsed, StrftimeItems};
use chrono::{NaiveDate, NaiveTime};
use regex::CaptureLocations;
use rust_decimal::Decimal;

use super::layout::{fills, AmountColumns, DebitValues, Direction, Field, Layout, NarrativeField};
use super::Values;
use crate::ledger::Channel;
use crate::money::{is_currency_code, parse_amount};

/// Earliest booking date accepted: older dates are almost always a mis-declared format.
pub const EARLIEST_DATE: (i32, u32, u32) = (1970, 1, 1);
/// Latest booking date accepted.
pub const LATEST_DATE: (i32, u32, u32) = (2099, 12, 31);

/// A record read into typed values, before it is assigned to a case account. Its texts
/// borrow from the record (or the layout) where they are the record's own text, and are
/// owned where reading made them (a sort code joined to an account number, an upper-cased
/// currency): a row's texts are copied once, into the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct RowDraft<'a> {
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    pub booking_time: Option<String>,
    pub amount: Decimal,
    pub currency: Cow<'a, str>,
    pub balance: Option<Decimal>,
    pub channel: Channel,
    pub counterparty_name: Option<Cow<'a, str>>,
    pub counterparty_account: Option<Cow<'a, str>>,
    pub description: Cow<'a, str>,
    pub location: Option<Cow<'a, str>>,
    pub bank_type: Option<Cow<'a, str>>,
    pub bank_txn_id: Option<Cow<'a, str>>,
    /// The account identifier written in the row, if the export carries one.
    pub row_account: Option<Cow<'a, str>>,
    /// A reversal of an earlier entry (MT940 RC/RD, camt `RvslInd`).
    pub reversal: bool,
    pub party: crate::ledger::Party,
    pub counterparty_country: Option<String>,
    pub excluded_reason: Option<String>,
}

/// Why a row was rejected: the field (layout key) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub reason: String,
}

fn problem(field: Field, reason: String) -> FieldProblem {
    FieldProblem {
        field: field.key(),
        reason,
    }
}

fn value<'a>(values: &Values<'a>, field: Field) -> Option<&'a str> {
    values[field as usize]
}

fn non_empty<'a>(values: &Values<'a>, field: Field) -> Option<&'a str> {
    value(values, field).filter(|v| !v.trim().is_empty())
}

/// Parse a date in the declared format, with a plausibility window.
pub fn parse_date(raw: &str, format: &str) -> Result<NaiveDate, String> {
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    parse_date_with(raw, format, &items)
}

/// [`parse_date`] with the format already split into items (once per source, not per row).
fn parse_date_with(raw: &str, format: &str, items: &[Item<'_>]) -> Result<NaiveDate, String> {
    let v = raw.trim();
    if v.is_empty() {
        return Err("date is empty".into());
    }
    let (earliest, latest) = date_window();
    // The UK banks' "31/12/2024", read without chrono's general parser. Anything else, a
    // date that is not a real one included, goes the general way and gets its message.
    if format == "%d/%m/%Y" {
        if let Some(date) = day_month_year(v).filter(|d| (earliest..=latest).contains(d)) {
            return Ok(date);
        }
    }
    // What `NaiveDate::parse_from_str` does, without splitting the format again.
    let mut parsed = Parsed::new();
    let date = parse(&mut parsed, v, items.iter())
        .and_then(|()| parsed.to_naive_date())
        .map_err(|e| match e.kind() {
            chrono::format::ParseErrorKind::OutOfRange
            | chrono::format::ParseErrorKind::Impossible => {
                format!("date {v:?} is not a real calendar date")
            }
            _ => format!("date {v:?} does not match the layout's date format {format:?}"),
        })?;
    if date < earliest || date > latest {
        return Err(format!(
            "date {v:?} reads as {date}, outside {earliest} to {latest}; check the layout's date format"
        ));
    }
    Ok(date)
}

/// A date written exactly `DD/MM/YYYY` (two, two and four ASCII digits), if it is a real one.
fn day_month_year(v: &str) -> Option<NaiveDate> {
    let b = v.as_bytes();
    if b.len() != 10 || b[2] != b'/' || b[5] != b'/' {
        return None;
    }
    let mut n = [0u32; 8];
    for (k, i) in [0, 1, 3, 4, 6, 7, 8, 9].into_iter().enumerate() {
        if !b[i].is_ascii_digit() {
            return None;
        }
        n[k] = u32::from(b[i] - b'0');
    }
    let day = n[0] * 10 + n[1];
    let month = n[2] * 10 + n[3];
    let year = n[4] * 1000 + n[5] * 100 + n[6] * 10 + n[7];
    NaiveDate::from_ymd_opt(year as i32, month, day)
}

/// The earliest and latest booking dates accepted.
pub fn date_window() -> (NaiveDate, NaiveDate) {
    let (y0, m0, d0) = EARLIEST_DATE;
    let (y1, m1, d1) = LATEST_DATE;
    (
        NaiveDate::from_ymd_opt(y0, m0, d0).unwrap_or(NaiveDate::MIN),
        NaiveDate::from_ymd_opt(y1, m1, d1).unwrap_or(NaiveDate::MAX),
    )
}

/// `text` in upper case: itself where it is already (no copy), else an upper-cased copy.
fn upper_case(text: &str) -> Cow<'_, str> {
    if text.is_ascii() && !text.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_uppercase())
    }
}

/// Read one record's values into a draft row.
pub fn read_row<'a>(layout: &'a Layout, values: &Values<'a>) -> Result<RowDraft<'a>, FieldProblem> {
    RowReader::new(layout).read(values)
}

/// Reads the records of one source: the layout with its date and time formats split into
/// items once, not once per row.
#[derive(Debug)]
pub struct RowReader<'l> {
    layout: &'l Layout,
    date_items: Vec<Item<'l>>,
    time_format: &'l str,
    time_items: Vec<Item<'l>>,
    time_out_items: Vec<Item<'static>>,
    /// Room for the narrative patterns, reused row after row.
    patterns: PatternRoom,
}

impl<'l> RowReader<'l> {
    /// A reader for records of `layout`.
    pub fn new(layout: &'l Layout) -> Self {
        let time_format = layout.time_format.as_deref().unwrap_or("%H:%M:%S");
        RowReader {
            layout,
            date_items: StrftimeItems::new(&layout.date_format).collect(),
            time_format,
            time_items: StrftimeItems::new(time_format).collect(),
            time_out_items: StrftimeItems::new("%H:%M:%S").collect(),
            patterns: PatternRoom::new(layout),
        }
    }

    /// Read one record's values into a draft row.
    pub fn read<'a>(&mut self, values: &Values<'a>) -> Result<RowDraft<'a>, FieldProblem>
    where
        'l: 'a,
    {
        read_with(self, values)
    }
}

fn read_with<'l: 'a, 'a>(
    reader: &mut RowReader<'l>,
    values: &Values<'a>,
) -> Result<RowDraft<'a>, FieldProblem> {
    let layout = reader.layout;
    let booking_date = parse_date_with(
        value(values, Field::Date).unwrap_or(""),
        &layout.date_format,
        &reader.date_items,
    )
    .map_err(|r| problem(Field::Date, r))?;
    let value_date = non_empty(values, Field::ValueDate)
        .map(|v| parse_date_with(v, &layout.date_format, &reader.date_items))
        .transpose()
        .map_err(|r| problem(Field::ValueDate, r))?;
    let booking_time = non_empty(values, Field::Time)
        .map(|v| {
            let fmt = reader.time_format;
            // What `NaiveTime::parse_from_str` and `format("%H:%M:%S")` do, with the
            // formats split once.
            let mut parsed = Parsed::new();
            parse(&mut parsed, v.trim(), reader.time_items.iter())
                .and_then(|()| parsed.to_naive_time())
                .map(|t: NaiveTime| {
                    t.format_with_items(reader.time_out_items.iter())
                        .to_string()
                })
                .map_err(|_| format!("time {v:?} does not match the layout's time format {fmt:?}"))
        })
        .transpose()
        .map_err(|r| problem(Field::Time, r))?;

    let style = &layout.amount_style;
    let amount = match layout.amount_columns {
        AmountColumns::Signed => parse_amount(value(values, Field::Amount).unwrap_or(""), style)
            .map_err(|e| problem(Field::Amount, e.to_string()))?,
        AmountColumns::DebitCredit => {
            let debit = non_empty(values, Field::Debit)
                .map(|v| parse_amount(v, style))
                .transpose()
                .map_err(|e| problem(Field::Debit, e.to_string()))?
                .filter(|d| !d.is_zero());
            let credit = non_empty(values, Field::Credit)
                .map(|v| parse_amount(v, style))
                .transpose()
                .map_err(|e| problem(Field::Credit, e.to_string()))?
                .filter(|c| !c.is_zero());
            match (debit, credit) {
                (Some(d), None) => match layout.debit_values {
                    DebitValues::Positive if d.is_sign_negative() => {
                        return Err(problem(
                            Field::Debit,
                            format!("debit column holds a negative value {d}; this layout writes money out as positive numbers, so the meaning is ambiguous"),
                        ))
                    }
                    DebitValues::Negative if d.is_sign_positive() => {
                        return Err(problem(
                            Field::Debit,
                            format!("debit column holds a positive value {d}; this layout writes money out as negative numbers, so the meaning is ambiguous"),
                        ))
                    }
                    _ => -d.abs(),
                },
                (None, Some(c)) => {
                    if c.is_sign_negative() {
                        return Err(problem(
                            Field::Credit,
                            format!("credit column holds a negative value {c}; money in must be positive"),
                        ));
                    }
                    c
                }
                (Some(d), Some(c)) => {
                    return Err(problem(
                        Field::Debit,
                        format!("both debit ({d}) and credit ({c}) hold an amount; expected one of them"),
                    ))
                }
                (None, None) => {
                    // A genuine zero-value line (both columns 0.00) is kept as a zero movement.
                    let zero_written = non_empty(values, Field::Debit).is_some()
                        || non_empty(values, Field::Credit).is_some();
                    if zero_written {
                        Decimal::new(0, 2)
                    } else {
                        return Err(problem(
                            Field::Debit,
                            "neither debit nor credit holds an amount".into(),
                        ));
                    }
                }
            }
        }
    };

    let currency = match (non_empty(values, Field::Currency), &layout.currency) {
        // The layout's own currency was checked when the layout was read.
        (None, Some(c)) => Cow::Borrowed(c.as_str()),
        (given, _) => {
            let currency = upper_case(given.map(str::trim).unwrap_or_default());
            if !is_currency_code(&currency) {
                return Err(problem(
                    Field::Currency,
                    format!("currency {currency:?} is not an ISO 4217 code (expected e.g. GBP, EUR, USD)"),
                ));
            }
            currency
        }
    };
    let balance = non_empty(values, Field::Balance)
        .map(|v| parse_amount(v, style))
        .transpose()
        .map_err(|e| problem(Field::Balance, format!("balance: {e}")))?;

    let description = value(values, Field::Description).unwrap_or("");
    let type_code = non_empty(values, Field::TypeCode).map(str::trim);
    let category = non_empty(values, Field::Category).map(str::trim);
    let counterparty_column = non_empty(values, Field::Counterparty).map(str::trim);

    let credit = amount.is_sign_positive() && !amount.is_zero();
    let mut known = 0;
    for (field, bit) in [
        (Field::Counterparty, fills::COUNTERPARTY),
        (Field::CounterpartyAccount, fills::COUNTERPARTY_ACCOUNT),
        (Field::Location, fills::LOCATION),
    ] {
        if non_empty(values, field).is_some() {
            known |= bit;
        }
    }
    let class = classify(
        layout,
        &Narrative {
            description,
            type_code,
            category,
            counterparty: counterparty_column,
            credit,
            known,
        },
        &mut reader.patterns,
    );
    let channel = class.channel;
    let captured_counterparty = class.counterparty;
    let captured_account = class.counterparty_account;
    let captured_location = class.location;

    // Spreadsheet exports often guard identifiers with a leading apostrophe ('30-94-57).
    let ident = |f: Field| non_empty(values, f).map(|v| v.trim().trim_start_matches('\'').trim());
    let row_account = match (
        ident(Field::Account),
        ident(Field::SortCode),
        ident(Field::AccountNumber),
    ) {
        (Some(a), _, _) => Some(Cow::Borrowed(a)),
        (None, Some(sc), Some(n)) => {
            let mut both = String::with_capacity(sc.len() + 1 + n.len());
            both.push_str(sc);
            both.push(' ');
            both.push_str(n);
            Some(Cow::Owned(both))
        }
        (None, None, Some(n)) => Some(Cow::Borrowed(n)),
        _ => None,
    };

    Ok(RowDraft {
        booking_date,
        value_date,
        booking_time,
        amount,
        currency,
        balance,
        channel,
        // A captured name is there only where no column gave one, or where a pattern read
        // the counterparty column itself and took the name out of it.
        counterparty_name: captured_counterparty
            .or(counterparty_column)
            .map(Cow::Borrowed),
        counterparty_account: non_empty(values, Field::CounterpartyAccount)
            .map(str::trim)
            .or(captured_account)
            .map(Cow::Borrowed),
        description: Cow::Borrowed(description),
        location: non_empty(values, Field::Location)
            .map(str::trim)
            .or(captured_location)
            .map(Cow::Borrowed),
        bank_type: type_code.or(category).map(Cow::Borrowed),
        bank_txn_id: non_empty(values, Field::TransactionId)
            .map(str::trim)
            .map(Cow::Borrowed),
        row_account,
        reversal: false,
        party: crate::ledger::Party::default(),
        counterparty_country: None,
        excluded_reason: None,
    })
}

/// The texts of one transaction that narrative patterns and type codes look at.
#[derive(Debug, Clone, Copy)]
pub struct Narrative<'a> {
    pub description: &'a str,
    pub type_code: Option<&'a str>,
    pub category: Option<&'a str>,
    pub counterparty: Option<&'a str>,
    /// Money in (a positive, non-zero amount).
    pub credit: bool,
    /// What the caller already has from its own columns, as bits of [`fills`]
    /// (counterparty, counterparty account, location): patterns are not asked for it, and
    /// the result leaves it empty. One exception: a pattern reading the counterparty column
    /// itself may give the counterparty, which then takes the place of the column's.
    pub known: u8,
}

/// What the layout's narrative patterns and type codes make of a transaction: the texts
/// are parts of the narrative's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified<'a> {
    pub channel: Channel,
    pub counterparty: Option<&'a str>,
    pub counterparty_account: Option<&'a str>,
    pub location: Option<&'a str>,
}

/// What one narrative pattern gave a text: `None` where it did not match, else where in
/// the text its counterparty, counterparty account and location groups were (by
/// [`Narrative::groups`](super::layout::Narrative::groups)).
type Answer = Option<[Option<(usize, usize)>; 3]>;

/// The answers one pattern gave, by text. Statements repeat their narratives (the same payee
/// month after month, across accounts and files), and finding a pattern's groups is the
/// costly part of reading a row: the regex crate finds a match with its automaton, then runs
/// a backtracking search over it for the groups. An answer is the pattern's own, so using it
/// again gives the same row; only the first [`MAX_ANSWERS`] texts of a pattern are kept.
#[derive(Debug, Default)]
struct Answers(std::collections::HashMap<Box<str>, Answer, foldhash::fast::FixedState>);

/// Texts whose answers are kept per pattern and reading thread (about 100 bytes each).
const MAX_ANSWERS: usize = 2048;

thread_local! {
    /// Answers kept on this thread, by pattern source (a layout's patterns are compiled from
    /// their source alone, so the same source is the same pattern): a reading thread reads
    /// many files of the same layouts. Taken by each [`PatternRoom`] and given back when it
    /// is dropped. They go with the reading threads at the end of ingest; where the sources
    /// are read on the calling thread (one source, or one core) they stay there, at most
    /// [`MAX_ANSWERS`] per pattern.
    static ANSWERS: std::cell::RefCell<std::collections::HashMap<String, Answers>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Room for the layout's narrative patterns, made once per source and reused for every row
/// ([`classify`]): each pattern's captures, and the answers it gave texts already read on
/// this thread.
#[derive(Debug)]
pub struct PatternRoom {
    slots: Vec<CaptureLocations>,
    answers: Vec<(String, Answers)>,
}

impl PatternRoom {
    /// Room for `layout`'s patterns, with the answers kept on this thread.
    pub fn new(layout: &Layout) -> Self {
        let answers = ANSWERS.with(|kept| {
            let mut kept = kept.borrow_mut();
            layout
                .narratives
                .iter()
                .map(|r| {
                    let source = r.pattern.as_str();
                    let answers = kept.remove(source).unwrap_or_default();
                    (source.to_string(), answers)
                })
                .collect()
        });
        PatternRoom {
            slots: layout
                .narratives
                .iter()
                .map(|r| r.pattern.capture_locations())
                .collect(),
            answers,
        }
    }
}

impl Drop for PatternRoom {
    fn drop(&mut self) {
        let answers = std::mem::take(&mut self.answers);
        // A thread being torn down has no room left for them: they are let go.
        let _ = ANSWERS.try_with(|kept| {
            let mut kept = kept.borrow_mut();
            for (source, a) in answers {
                kept.insert(source, a);
            }
        });
    }
}

/// Channel, counterparty, counterparty account and location from the layout's narrative
/// patterns (first match that sets each wins), then its type codes, then its default;
/// `room` is the patterns' room ([`PatternRoom`]).
///
/// A pattern is not run when nothing it could give is still wanted: the channel once a
/// pattern has set it, a group's value once found or given by the caller's own column
/// (`n.known`). Running it could not change the result.
pub fn classify<'a>(layout: &Layout, n: &Narrative<'a>, room: &mut PatternRoom) -> Classified<'a> {
    let type_upper = n.type_code.map(|t| upper_case(t.trim()));
    // The code is looked up once: which narratives it lets run, and its channel.
    let code = type_upper
        .as_ref()
        .and_then(|t| layout.code_rules.get(t.as_ref()));
    let runs = code.map_or(layout.untyped_rules.as_slice(), |c| c.narratives.as_slice());
    // What the patterns have given so far; with what the columns give, what is had.
    let mut given = 0;
    let mut channel = None;
    let mut found: [Option<&'a str>; 3] = [None, None, None];
    let rooms = room.slots.iter_mut().zip(room.answers.iter_mut());
    for ((rule, (slot, (_, answers))), &type_ok) in layout.narratives.iter().zip(rooms).zip(runs) {
        // A pattern reading the counterparty column may still give the counterparty: the
        // name it captures there takes the place of the column's (the name without what the
        // bank wrote after it, such as a sort code and account number).
        let from_columns = if rule.field == NarrativeField::Counterparty {
            n.known & !fills::COUNTERPARTY
        } else {
            n.known
        };
        let wanted = rule.fills & !(given | from_columns);
        if wanted == 0 {
            continue;
        }
        let direction_ok = match rule.direction {
            Direction::Any => true,
            Direction::Credit => n.credit,
            Direction::Debit => !n.credit,
        };
        if !direction_ok || !type_ok {
            continue;
        }
        let text = match rule.field {
            NarrativeField::Description => Some(n.description),
            NarrativeField::Type => n.type_code,
            NarrativeField::Category => n.category,
            NarrativeField::Counterparty => n.counterparty,
        };
        let Some(text) = text else { continue };
        let kept = if answers.0.is_empty() {
            None
        } else {
            answers.0.get(text).copied()
        };
        if wanted == fills::CHANNEL {
            // Only the channel is still wanted: whether the pattern matches is enough.
            if kept.map_or_else(|| rule.pattern.is_match(text), |a| a.is_some()) {
                channel = rule.channel;
                given |= fills::CHANNEL;
            }
            continue;
        }
        let answer = kept.unwrap_or_else(|| {
            let answer = rule
                .pattern
                .captures_read(slot, text)
                .map(|_| rule.groups.map(|g| g.and_then(|g| slot.get(g))));
            if answers.0.len() < MAX_ANSWERS {
                answers.0.insert(text.into(), answer);
            }
            answer
        });
        let Some(spans) = answer else { continue };
        if wanted & fills::CHANNEL != 0 {
            channel = rule.channel;
            given |= fills::CHANNEL;
        }
        for (k, (_, bit)) in fills::GROUPS.iter().enumerate() {
            if wanted & bit == 0 {
                continue;
            }
            let value = spans[k]
                .map(|(start, end)| text[start..end].trim())
                .filter(|v| !v.is_empty());
            if let Some(v) = value {
                found[k] = Some(v);
                given |= bit;
            }
        }
    }
    let channel = channel
        .or_else(|| code.and_then(|c| c.channel))
        .unwrap_or(layout.default_channel);
    let [counterparty, counterparty_account, location] = found;
    Classified {
        channel,
        counterparty,
        counterparty_account,
        location,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test layout: a pound-sterling, day-month-year header, then `rest` (its columns,
    /// type codes and narratives).
    fn test_layout(rest: &str) -> Layout {
        let header = r#"
[layout]
id = "t"
name = "t"
version = 1
row_order = "oldest_first"
currency = "GBP"
date_format = "%d/%m/%Y"
"#;
        Layout::from_toml(&format!("{header}{rest}"), "t.toml").unwrap()
    }

    /// Three patterns: the first gives channel and counterparty, the second a counterparty
    /// account, the third would give another counterparty and a channel.
    fn layout() -> Layout {
        test_layout(
            r#"
[columns]
date = "Date"
amount = "Amount"
description = "Description"
type = "Type"
[type_codes]
FPO = "transfer"
[[narratives]]
pattern = '^PAID TO (?P<counterparty>[A-Z ]+?)(?: (?P<location>AT [A-Z]+))?$'
channel = "standing_order"
[[narratives]]
pattern = '(?P<counterparty_account>\d{6} \d{8})'
[[narratives]]
pattern = '^(?P<counterparty>.+)$'
channel = "card"
"#,
        )
    }

    /// A faster payment out with `description`, the columns in `known` given.
    fn payment_out(description: &str, known: u8) -> Narrative<'_> {
        Narrative {
            description,
            type_code: Some("fpo"),
            category: None,
            counterparty: None,
            credit: false,
            known,
        }
    }

    fn classified<'a>(layout: &Layout, description: &'a str, known: u8) -> Classified<'a> {
        classify(
            layout,
            &payment_out(description, known),
            &mut PatternRoom::new(layout),
        )
    }

    #[test]
    fn day_month_year_dates_read_as_chrono_reads_them() {
        let items: Vec<Item<'_>> = StrftimeItems::new("%d/%m/%Y").collect();
        let read = |v: &str| parse_date_with(v, "%d/%m/%Y", &items);
        let (earliest, latest) = date_window();
        let chrono = |v: &str| {
            NaiveDate::parse_from_str(v.trim(), "%d/%m/%Y")
                .ok()
                .filter(|d| (earliest..=latest).contains(d))
        };
        for v in [
            "31/12/2024",
            " 01/01/1970 ",
            "29/02/2024",
            "31/12/2099",
            "1/2/2024",
            "01/02/24",
        ] {
            assert_eq!(read(v).ok(), chrono(v), "{v:?}");
        }
        assert_eq!(
            read("29/02/2023").unwrap_err(),
            "date \"29/02/2023\" is not a real calendar date"
        );
        assert_eq!(
            read("12/31/2024").unwrap_err(),
            "date \"12/31/2024\" is not a real calendar date"
        );
        assert_eq!(
            read("31-12-2024").unwrap_err(),
            "date \"31-12-2024\" does not match the layout's date format \"%d/%m/%Y\""
        );
        assert!(read("31/12/1969")
            .unwrap_err()
            .contains("outside 1970-01-01 to 2099-12-31"));
        assert!(read("01/01/2100").unwrap_err().contains("outside"));
        assert_eq!(day_month_year("3a/12/2024"), None);
        assert_eq!(
            day_month_year("05/11/2024"),
            NaiveDate::from_ymd_opt(2024, 11, 5)
        );
    }

    /// `text` classified by `layout` on a thread of its own, where no pattern has kept an
    /// answer: what the patterns themselves give.
    fn classified_afresh(layout: &Layout, text: &'static str, known: u8) -> Classified<'static> {
        std::thread::scope(|s| {
            s.spawn(|| classified(layout, text, known))
                .join()
                .expect("classifying a text does not panic")
        })
    }

    #[test]
    fn a_text_read_again_gets_what_the_patterns_gave_it_the_first_time() {
        let layout = layout();
        let texts = [
            "PAID TO ANNA FELL",
            "PAID TO BO LEE AT LEEDS",
            "ANNA FELL 123456 12345678",
            "PAID TO ANNA FELL 123456 12345678",
            "",
            "PAID TO BO LEE AT LEEDS",
        ];
        let knowns = [
            0,
            fills::COUNTERPARTY,
            fills::LOCATION,
            fills::COUNTERPARTY_ACCOUNT,
        ];
        // One room for every reading, each text read twice and with each column known.
        let mut room = PatternRoom::new(&layout);
        for _ in 0..2 {
            for text in texts {
                for known in knowns {
                    assert_eq!(
                        classify(&layout, &payment_out(text, known), &mut room),
                        classified_afresh(&layout, text, known),
                        "{text:?}, known {known}"
                    );
                }
            }
        }
        let kept = |room: &PatternRoom, text: &str| {
            room.answers
                .iter()
                .filter(|(_, a)| a.0.contains_key(text))
                .count()
        };
        // The first pattern's answers: a match with its groups, and a text it does not match.
        assert_eq!(
            room.answers[0].1 .0.get("PAID TO BO LEE AT LEEDS"),
            Some(&Some([Some((8, 14)), None, Some((15, 23))]))
        );
        assert_eq!(
            room.answers[0].1 .0.get("ANNA FELL 123456 12345678"),
            Some(&None)
        );
        assert_eq!(kept(&room, "PAID TO ANNA FELL"), 2);
        // A room made after this one is dropped, on the same thread, takes what it kept.
        drop(room);
        let room = PatternRoom::new(&layout);
        assert_eq!(kept(&room, "PAID TO ANNA FELL"), 2);
    }

    #[test]
    fn a_pattern_keeps_a_bounded_number_of_answers_and_reads_the_rest_itself() {
        let layout = layout();
        let texts: Vec<&'static str> = (0..MAX_ANSWERS + 3)
            .map(|i| &*format!("PAID TO ANNA FELL {i:06} 12345678").leak())
            .collect();
        let mut room = PatternRoom::new(&layout);
        for &text in &texts {
            classify(&layout, &payment_out(text, 0), &mut room);
        }
        assert!(room.answers.iter().all(|(_, a)| a.0.len() <= MAX_ANSWERS));
        assert_eq!(room.answers[1].1 .0.len(), MAX_ANSWERS);
        let last = texts[MAX_ANSWERS + 2];
        assert!(!room.answers[1].1 .0.contains_key(last));
        let read = classify(&layout, &payment_out(last, 0), &mut room);
        assert_eq!(read, classified_afresh(&layout, last, 0));
        assert_eq!(read.counterparty_account, Some("002050 12345678"));
    }

    #[test]
    fn the_first_pattern_to_give_each_value_wins() {
        let layout = layout();
        assert_eq!(
            classified(&layout, "PAID TO ANNA FELL", 0),
            Classified {
                channel: Channel::StandingOrder,
                counterparty: Some("ANNA FELL"),
                counterparty_account: None,
                location: None,
            }
        );
        // The third pattern matches everything, but channel and counterparty are taken.
        assert_eq!(
            classified(&layout, "PAID TO ANNA FELL AT LEEDS", 0).location,
            Some("AT LEEDS")
        );
        // No first-pattern match: the third gives the channel and counterparty.
        let c = classified(&layout, "BOB STONE 123456 12345678", 0);
        assert_eq!(c.channel, Channel::Card);
        assert_eq!(c.counterparty, Some("BOB STONE 123456 12345678"));
        assert_eq!(c.counterparty_account, Some("123456 12345678"));
        // Nothing matches an empty narrative: the type code (lower case here) decides.
        assert_eq!(
            classified(&layout, "", 0),
            Classified {
                channel: Channel::Transfer,
                counterparty: None,
                counterparty_account: None,
                location: None,
            }
        );
    }

    #[test]
    fn what_the_caller_already_has_is_not_taken_from_patterns() {
        let layout = layout();
        let known = fills::COUNTERPARTY | fills::COUNTERPARTY_ACCOUNT;
        let c = classified(&layout, "PAID TO ANNA FELL AT LEEDS 123456 12345678", known);
        // The first pattern does not match (the account follows); the second would give
        // only the known account; the third gives its channel, not its counterparty.
        assert_eq!(
            c,
            Classified {
                channel: Channel::Card,
                counterparty: None,
                counterparty_account: None,
                location: None,
            }
        );
        let c = classified(&layout, "PAID TO ANNA FELL AT LEEDS", known);
        assert_eq!(c.channel, Channel::StandingOrder);
        assert_eq!(c.location, Some("AT LEEDS"));
        assert_eq!(c.counterparty, None);
    }

    #[test]
    fn a_pattern_reading_the_counterparty_column_may_take_the_name_out_of_it() {
        let layout = test_layout(
            r#"
[columns]
date = "Date"
amount = "Amount"
counterparty = "Name"
description = "Description"
[[narratives]]
pattern = '^(?P<counterparty>.+)$'
[[narratives]]
field = "counterparty"
pattern = '^(?P<counterparty>.+?)\s+(?P<counterparty_account>\d{6} \d{8})$'
"#,
        );
        let read = |name: &'static str| {
            classify(
                &layout,
                &Narrative {
                    description: "SOMETHING ELSE",
                    type_code: None,
                    category: None,
                    counterparty: Some(name),
                    credit: true,
                    known: fills::COUNTERPARTY,
                },
                &mut PatternRoom::new(&layout),
            )
        };
        // The description pattern is not asked for the name the column gives; the pattern
        // on the column itself gives the name without the sort code and account number.
        let c = read("ANNA FELL 123456 12345678");
        assert_eq!(c.counterparty, Some("ANNA FELL"));
        assert_eq!(c.counterparty_account, Some("123456 12345678"));
        // Where it does not match, nothing is captured: the column's name stands.
        let c = read("ANNA FELL");
        assert_eq!((c.counterparty, c.counterparty_account), (None, None));
    }

    #[test]
    fn a_currency_column_is_read_in_upper_case_and_checked() {
        let layout = test_layout(
            r#"
[columns]
date = "Date"
amount = "Amount"
currency = "Currency"
description = "Description"
"#,
        );
        let read = |currency: &'static str| {
            let mut values: Values<'static> = [None; crate::ingest::layout::FIELD_COUNT];
            values[Field::Date as usize] = Some("02/04/2024");
            values[Field::Amount as usize] = Some("-12.50");
            values[Field::Currency as usize] = Some(currency);
            values[Field::Description as usize] = Some("TESCO STORES 2291");
            read_row(&layout, &values).map(|d| d.currency.into_owned())
        };
        assert_eq!(read("EUR").unwrap(), "EUR");
        assert_eq!(read(" gbp ").unwrap(), "GBP");
        // The layout's own currency stands where the row's column is empty.
        assert_eq!(read("").unwrap(), "GBP");
        let e = read("eu").unwrap_err();
        assert_eq!(e.field, "currency");
        assert_eq!(
            e.reason,
            "currency \"EU\" is not an ISO 4217 code (expected e.g. GBP, EUR, USD)"
        );
    }
}
