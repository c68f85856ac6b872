//! SWIFT MT940 (customer statement) and MT942 (interim transaction report) parser.
//!
//! **In:** the decoded text of one file holding one or more MT940/MT942 messages, with or
//! without the SWIFT block envelope (`{1:…}{2:…}{4:` … `-}`), messages optionally separated
//! by a line holding only `-`. Lines may end in `\n`, `\r\n` or a lone `\r` (classic Mac), with
//! the same line numbers for all three; a tag value may continue over
//! several lines (every line that does not start with a `:XX:` tag continues the tag before it).
//!
//! **Out:** one [`ParsedStatement`] per message (a message starts at each `:20:`), and the
//! records of the file in file order.
//!
//! **Tags handled:** `:20:` reference and `:28C:` statement number (→ `statement_id`, written
//! `"<:20:> <:28C:>"`), `:25:` account (→ `account_raw`, and `iban` when the value, or
//! its part after the last `/`, is an IBAN passing the mod-97 check), `:60F:`/`:60M:` opening
//! balance, `:62F:`/`:62M:` closing balance, `:64:`/`:65:` available balances (checked, not
//! kept), `:61:` entry with its `:86:` narrative, and MT942's `:34F:` floor limit, `:13D:`
//! date-time and `:90D:`/`:90C:` entry counts and sums (checked, not kept). `:21:`, `:28:`,
//! `:13:` and the non-standard `:NS:` are accepted and not kept. A statement's `line` is the
//! line of its `:20:`.
//!
//! **What is a record.** Only transactions are records: each `:61:` together with the `:86:`
//! directly after it is one record (an [`Outcome::Entry`], or [`Outcome::Rejected`] when the
//! `:61:` cannot be read). Tag lines that are not transactions (`:20:`, `:25:`, balances,
//! `:64:`, MT942 summaries …) are *not* records — they fill the [`ParsedStatement`] — except
//! when they are wrong, in which case they become a `Rejected` record so that nothing is lost
//! silently:
//! - a statement with no `:25:` → `Rejected` (field `:25:`, line of its `:20:`); its `:61:`
//!   entries are then rejected too, each with a reason naming the statement's line, because a
//!   transaction that cannot be attributed to an account is not evidence of anything;
//! - a malformed balance tag (`:60F:`, `:62F:`, `:64:`, `:34F:`, `:90D:` …, including a currency
//!   that is not three upper-case letters) → `Rejected` for that tag line; the statement keeps
//!   `None` for that balance and its entries are still parsed;
//! - an MT940 message (one without MT942 tags `:34F:`/`:13D:`/`:90D:`/`:90C:`) with no opening
//!   `:60F:`/`:60M:` or no closing `:62F:`/`:62M:` → `Rejected` (the usual sign of a truncated
//!   file); its entries are still parsed;
//! - an unknown tag (e.g. `:99:`), a tag or text outside any message (before the first `:20:`
//!   or after a `-` end marker) → `Rejected`;
//! - an `:86:` that does not follow a `:61:` (a second `:86:`, or one after the header) →
//!   `Rejected`; but an `:86:` right after the closing balance tags (`:62x:`, `:64:`, `:65:`,
//!   `:90D:`/`:90C:`) is the message-level "information to account owner" field and is
//!   `Skipped` with that reason.
//!
//! **`:61:` reading:** value date `YYMMDD` (years `00`–`79` are 2000–2079, `80`–`99` are
//! 1980–1999), optional entry date `MMDD` whose year is the one (value year −1, same, +1) that
//! puts it nearest to the value date — so a 31 December value date with a `0102` entry date is
//! booked on 2 January of the next year; an entry date more than 183 days from the value date is
//! rejected. Mark `C` (+), `D` (−), `RC` (reversal of a credit: money out, −) and `RD` (reversal of
//! a debit: money in, +) with `reversal = true`; an optional funds-code letter; the amount with a
//! decimal comma; the transaction type (`N`/`F`/`S` + 3 characters, kept as `type_code`); the
//! rest of the first line is the reference as written (`customer reference[//bank reference]`);
//! the following lines of `:61:` are supplementary details, used as `description` only when the
//! entry has no `:86:`. Booking date = entry date if present, else value date. The entry's
//! currency is the message's (first valid balance tag currency); with none, the entry is rejected.
//!
//! **`:86:` reading:** `description` is the `:86:` text as given, its lines joined with one space.
//! For the fields the lines are joined with nothing (line breaks there are wrapping) and read as
//! German `?nn` sub-fields (`?32`+`?33` → counterparty name, joined with a space unless `?32` is
//! a full 27 characters; `?31` → counterparty account, prefixed with the `?30` bank code and `/`
//! when `?31` is not an IBAN) or as `/KEYWORD/value` sub-fields (`/NAME/` → name, `/IBAN/` →
//! account, falling back to `/CNTP/account/BIC/name/city/` and `/ACCW/`). Free text gives no
//! counterparty.
//!
//! A text with no `:20:` tag at all is not MT940 and is a [`FormatError`]. Nothing here panics
//! on any input; amounts are exact decimals.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use super::statement::{
    BalanceMark, FormatError, Outcome, ParsedEntry, ParsedFile, ParsedStatement, RecordProblem,
};

/// Tags this parser knows (without the colons).
const KNOWN_TAGS: [&str; 19] = [
    "20", "21", "25", "28", "28C", "60F", "60M", "61", "86", "62F", "62M", "64", "65", "34F", "13",
    "13D", "90D", "90C", "NS",
];

/// Tags after which an `:86:` is the message-level information field.
const CLOSING_TAGS: [&str; 6] = ["62F", "62M", "64", "65", "90D", "90C"];

/// Tags that mark a message as an MT942 interim report.
const MT942_TAGS: [&str; 5] = ["34F", "13", "13D", "90D", "90C"];

/// Parses the decoded text of an MT940/MT942 file into statements and records.
pub fn parse(text: &str) -> Result<ParsedFile, FormatError> {
    let lines = split_lines(text);
    let pieces = classify(&lines);
    if !pieces
        .iter()
        .any(|p| matches!(p, Piece::Tag(t) if t.tag == "20"))
    {
        return Err(FormatError {
            line: 1,
            message: "no :20: transaction reference tag anywhere: this is not an MT940/MT942 file"
                .to_string(),
        });
    }

    let mut file = ParsedFile::default();
    let mut current: Option<Vec<TagItem>> = None;
    for piece in pieces {
        match piece {
            Piece::Tag(tag) if tag.tag == "20" => {
                if let Some(tags) = current.take() {
                    finish_statement(text, tags, &mut file);
                }
                current = Some(vec![tag]);
            }
            Piece::Tag(tag) => match current.as_mut() {
                Some(tags) => tags.push(tag),
                None => file.outcomes.push(Outcome::Rejected(RecordProblem {
                    line: tag.line,
                    field: format!(":{}:", tag.tag),
                    reason: format!(
                        "tag :{}: is outside any statement (expected it after a :20: transaction reference)",
                        tag.tag
                    ),
                    raw: slice(text, tag.start, tag.end),
                })),
            },
            Piece::End => {
                if let Some(tags) = current.take() {
                    finish_statement(text, tags, &mut file);
                }
            }
            Piece::Stray { line, start, end } => {
                file.outcomes.push(Outcome::Rejected(RecordProblem {
                    line,
                    field: String::new(),
                    reason: "text outside any tag or statement (expected a :XX: tag line)"
                        .to_string(),
                    raw: slice(text, start, end),
                }));
            }
        }
    }
    if let Some(tags) = current.take() {
        finish_statement(text, tags, &mut file);
    }
    Ok(file)
}

/// One physical line (ended by LF, CRLF or a lone CR): 1-based number, byte range without
/// the line terminator, text without it.
struct Line<'a> {
    no: u32,
    start: usize,
    end: usize,
    text: &'a str,
}

/// One tag with its continuation lines.
#[derive(Debug)]
struct TagItem {
    tag: String,
    line: u32,
    start: usize,
    end: usize,
    /// First line's value (after the tag) followed by the continuation lines.
    values: Vec<String>,
}

/// The file as a sequence of tags, end-of-message markers and stray text.
enum Piece {
    Tag(TagItem),
    End,
    Stray { line: u32, start: usize, end: usize },
}

fn slice(text: &str, start: usize, end: usize) -> String {
    text.get(start..end).unwrap_or("").to_string()
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    super::lines::lines(text)
        .map(|l| Line {
            no: l.no,
            start: l.start,
            end: l.end,
            text: l.text,
        })
        .collect()
}

/// Strips leading SWIFT blocks `{1:…}{2:…}{3:{…}}` up to and including `{4:`.
/// Returns the remaining content of the line, or `None` if the line is not an envelope line.
fn strip_envelope(line: &str) -> Option<&str> {
    let starts_block = ["{1:", "{2:", "{3:", "{4:", "{5:"]
        .iter()
        .any(|p| line.starts_with(p));
    if !starts_block {
        return None;
    }
    let mut rest = line;
    while rest.starts_with('{') {
        if let Some(after) = rest.strip_prefix("{4:") {
            return Some(after);
        }
        // Skip one balanced block.
        let mut depth = 0i32;
        let mut cut = None;
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        cut = Some(i + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        match cut.and_then(|i| rest.get(i..)) {
            Some(after) => rest = after,
            None => return Some(""),
        }
    }
    Some(rest)
}

/// Recognises `:XX:` / `:XXX:` at the start of a line; returns (tag, value).
fn split_tag(line: &str) -> Option<(&str, &str)> {
    let body = line.strip_prefix(':')?;
    let close = body.find(':')?;
    let tag = body.get(..close)?;
    if !(2..=3).contains(&tag.len())
        || !tag
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return None;
    }
    Some((tag, body.get(close + 1..)?))
}

fn classify(lines: &[Line<'_>]) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut open_tag: Option<TagItem> = None;
    for line in lines {
        let mut content = line.text;
        let mut content_start = line.start;
        if let Some(rest) = strip_envelope(content) {
            content_start = line.end - rest.len();
            content = rest;
            if content.trim().is_empty() {
                continue;
            }
        }
        if content.starts_with("-}") || content.trim() == "-" {
            if let Some(t) = open_tag.take() {
                pieces.push(Piece::Tag(t));
            }
            pieces.push(Piece::End);
            continue;
        }
        if content.trim().is_empty() {
            continue;
        }
        if let Some((tag, value)) = split_tag(content) {
            if let Some(t) = open_tag.take() {
                pieces.push(Piece::Tag(t));
            }
            open_tag = Some(TagItem {
                tag: tag.to_string(),
                line: line.no,
                start: content_start,
                end: line.end,
                values: vec![value.to_string()],
            });
            continue;
        }
        match open_tag.as_mut() {
            Some(t) => {
                t.values.push(content.to_string());
                t.end = line.end;
            }
            None => pieces.push(Piece::Stray {
                line: line.no,
                start: content_start,
                end: line.end,
            }),
        }
    }
    if let Some(t) = open_tag.take() {
        pieces.push(Piece::Tag(t));
    }
    pieces
}

/// A problem with one field: (field name, reason).
type FieldProblem = (String, String);

fn problem(field: &str, reason: String) -> FieldProblem {
    (field.to_string(), reason)
}

fn is_currency(code: &str) -> bool {
    code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase())
}

/// Parses `YYMMDD`.
fn parse_yymmdd(s: &str) -> Option<NaiveDate> {
    if s.len() != 6 || !s.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let yy: i32 = s.get(0..2)?.parse().ok()?;
    let mm: u32 = s.get(2..4)?.parse().ok()?;
    let dd: u32 = s.get(4..6)?.parse().ok()?;
    let year = if yy < 80 { 2000 + yy } else { 1900 + yy };
    NaiveDate::from_ymd_opt(year, mm, dd)
}

/// Parses an SWIFT amount with a decimal comma (`1234,56`, `100,`).
fn parse_comma_amount(s: &str) -> Option<Decimal> {
    let (int, frac) = s.split_once(',')?;
    if int.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let text = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    Decimal::from_str_exact(&text).ok()
}

fn amount_reason(found: &str) -> String {
    format!("amount \"{found}\" is not a number with a decimal comma (expected e.g. 1234,56)")
}

fn currency_reason(found: &str) -> String {
    format!(
        "currency \"{found}\" is not three upper-case letters (expected an ISO 4217 code, e.g. EUR)"
    )
}

/// Parses a balance value `C240131EUR1234,56`.
fn parse_balance(tag: &str, value: &str, line: u32) -> Result<BalanceMark, FieldProblem> {
    let field = format!(":{tag}:");
    let value = value.trim();
    let mut chars = value.char_indices();
    let sign = match chars.next() {
        Some((_, 'C')) => Decimal::ONE,
        Some((_, 'D')) => Decimal::NEGATIVE_ONE,
        _ => {
            let found: String = value.chars().take(1).collect();
            return Err(problem(
                &format!("{field} mark"),
                format!("balance mark \"{found}\" is not C or D (expected e.g. C240131EUR1234,56)"),
            ));
        }
    };
    let rest = value.get(1..).unwrap_or("");
    let date_text: String = rest.chars().take(6).collect();
    let date = parse_yymmdd(&date_text).ok_or_else(|| {
        problem(
            &format!("{field} date"),
            format!(
                "balance date \"{date_text}\" is not a valid date (expected YYMMDD, e.g. 240131)"
            ),
        )
    })?;
    let rest = rest.get(6..).unwrap_or("");
    let currency: String = rest.chars().take(3).collect();
    if !is_currency(&currency) {
        return Err(problem(
            &format!("{field} currency"),
            currency_reason(&currency),
        ));
    }
    let amount_text = rest.get(3..).unwrap_or("");
    let amount = parse_comma_amount(amount_text)
        .ok_or_else(|| problem(&format!("{field} amount"), amount_reason(amount_text)))?;
    Ok(BalanceMark {
        date,
        amount: sign * amount,
        currency,
        line,
    })
}

/// Checks an MT942 `:34F:` floor limit `EURD1000,00` / `EUR1000,00`; returns its currency.
fn check_floor_limit(value: &str) -> Result<String, FieldProblem> {
    let value = value.trim();
    let currency: String = value.chars().take(3).collect();
    if !is_currency(&currency) {
        return Err(problem(":34F: currency", currency_reason(&currency)));
    }
    let rest = value.get(3..).unwrap_or("");
    let rest = rest
        .strip_prefix('D')
        .or_else(|| rest.strip_prefix('C'))
        .unwrap_or(rest);
    parse_comma_amount(rest).ok_or_else(|| problem(":34F: amount", amount_reason(rest)))?;
    Ok(currency)
}

/// Checks an MT942 `:90D:`/`:90C:` summary `3EUR1234,56`; returns its currency.
fn check_summary(tag: &str, value: &str) -> Result<String, FieldProblem> {
    let value = value.trim();
    let count_len = value.chars().take_while(|c| c.is_ascii_digit()).count();
    if count_len == 0 {
        return Err(problem(
            &format!(":{tag}: count"),
            format!("summary \"{value}\" does not start with a number of entries (expected e.g. 3EUR1234,56)"),
        ));
    }
    let rest = value.get(count_len..).unwrap_or("");
    let currency: String = rest.chars().take(3).collect();
    if !is_currency(&currency) {
        return Err(problem(
            &format!(":{tag}: currency"),
            currency_reason(&currency),
        ));
    }
    let amount_text = rest.get(3..).unwrap_or("");
    parse_comma_amount(amount_text)
        .ok_or_else(|| problem(&format!(":{tag}: amount"), amount_reason(amount_text)))?;
    Ok(currency)
}

/// Checks an MT942 `:13D:` date-time `2401311530+0100`.
fn check_datetime(value: &str) -> Result<(), FieldProblem> {
    let value = value.trim();
    let date_text: String = value.chars().take(6).collect();
    let ok = parse_yymmdd(&date_text).is_some()
        && value.len() >= 10
        && value.chars().skip(6).take(4).all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(problem(
            ":13D:",
            format!(
                "date-time \"{value}\" is not YYMMDDhhmm[+hhmm] (expected e.g. 2401311530+0100)"
            ),
        ))
    }
}

/// Returns the IBAN in `s` (spaces removed, upper case) when it is one and passes mod-97.
fn iban_of(s: &str) -> Option<String> {
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let n = compact.len();
    if !(15..=34).contains(&n) || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let head: Vec<char> = compact.chars().take(4).collect();
    let shape_ok = matches!(head.as_slice(), [a, b, c, d]
        if a.is_ascii_uppercase() && b.is_ascii_uppercase() && c.is_ascii_digit() && d.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let mut rem: u32 = 0;
    for c in compact.chars().skip(4).chain(compact.chars().take(4)) {
        let v = c.to_digit(36)?;
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    (rem == 1).then_some(compact)
}

/// The IBAN in an MT940 `:25:` value: the whole value, or the part after the last `/`.
fn account_iban(account: &str) -> Option<String> {
    iban_of(account).or_else(|| account.rsplit('/').next().and_then(iban_of))
}

/// The pieces of one `:61:` line.
struct Line61 {
    value_date: NaiveDate,
    booking_date: NaiveDate,
    amount: Decimal,
    reversal: bool,
    type_code: String,
    reference: Option<String>,
}

fn infer_entry_date(value: NaiveDate, mm: u32, dd: u32) -> Option<NaiveDate> {
    let y = value.year();
    [y - 1, y, y + 1]
        .iter()
        .filter_map(|yr| NaiveDate::from_ymd_opt(*yr, mm, dd))
        .min_by_key(|d| (*d - value).num_days().abs())
        .filter(|d| (*d - value).num_days().abs() <= 183)
}

fn parse_61(first: &str) -> Result<Line61, FieldProblem> {
    let s = first.trim_end();
    let vd_text: String = s.chars().take(6).collect();
    let value_date = parse_yymmdd(&vd_text).ok_or_else(|| {
        problem(
            ":61: value date",
            format!("value date \"{vd_text}\" is not a valid date (expected YYMMDD, e.g. 240131)"),
        )
    })?;
    let mut rest = s.get(6..).unwrap_or("");
    let mut booking_date = value_date;
    if let Some(ed) = rest
        .get(..4)
        .filter(|t| t.chars().all(|c| c.is_ascii_digit()))
    {
        let mm: u32 = ed.get(..2).and_then(|t| t.parse().ok()).unwrap_or(0);
        let dd: u32 = ed.get(2..).and_then(|t| t.parse().ok()).unwrap_or(0);
        booking_date = infer_entry_date(value_date, mm, dd).ok_or_else(|| {
            problem(
                ":61: entry date",
                format!(
                    "entry date \"{ed}\" is not a valid month and day within six months of the value date {value_date} (expected MMDD, e.g. 0131)"
                ),
            )
        })?;
        rest = rest.get(4..).unwrap_or("");
    }
    let (sign, reversal, after) = if let Some(r) = rest.strip_prefix("RC") {
        (Decimal::NEGATIVE_ONE, true, r)
    } else if let Some(r) = rest.strip_prefix("RD") {
        (Decimal::ONE, true, r)
    } else if let Some(r) = rest.strip_prefix('C') {
        (Decimal::ONE, false, r)
    } else if let Some(r) = rest.strip_prefix('D') {
        (Decimal::NEGATIVE_ONE, false, r)
    } else {
        let found: String = rest.chars().take(2).collect();
        return Err(problem(
            ":61: mark",
            format!("debit/credit mark \"{found}\" is not C, D, RC or RD"),
        ));
    };
    rest = after;
    // Optional funds code: the third letter of the currency code.
    if rest.chars().next().is_some_and(|c| c.is_ascii_uppercase()) {
        rest = rest.get(1..).unwrap_or("");
    }
    let amount_len = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
        .count();
    let amount_text = rest.get(..amount_len).unwrap_or("");
    if amount_text.is_empty() {
        let found: String = rest.chars().take(15).collect();
        return Err(problem(
            ":61: amount",
            format!("amount is missing: found \"{found}\" after the debit/credit mark (expected e.g. 1234,56)"),
        ));
    }
    let amount = parse_comma_amount(amount_text)
        .ok_or_else(|| problem(":61: amount", amount_reason(amount_text)))?;
    rest = rest.get(amount_len..).unwrap_or("");
    let type_code: String = rest.chars().take(4).collect();
    let type_ok = type_code.len() == 4
        && type_code.starts_with(['N', 'F', 'S'])
        && type_code.chars().all(|c| c.is_ascii_alphanumeric());
    if !type_ok {
        return Err(problem(
            ":61: transaction type",
            format!(
                "transaction type \"{type_code}\" is not N, F or S followed by three characters (expected e.g. NTRF)"
            ),
        ));
    }
    let reference = rest.get(4..).map(str::trim).filter(|r| !r.is_empty());
    Ok(Line61 {
        value_date,
        booking_date,
        amount: sign * amount,
        reversal,
        type_code,
        reference: reference.map(str::to_string),
    })
}

/// Counterparty (name, account) read from the `:86:` text joined without separators.
fn counterparty_of(joined: &str) -> (Option<String>, Option<String>) {
    if let Some(fields) = question_fields(joined) {
        let get = |k: u8| {
            fields
                .iter()
                .filter(|(key, _)| *key == k)
                .map(|(_, v)| v.as_str())
                .collect::<String>()
        };
        let n32 = get(32);
        let n33 = get(33);
        let name = if n33.trim().is_empty() {
            n32.trim().to_string()
        } else if n32.chars().count() >= 27 {
            format!("{n32}{n33}").trim().to_string()
        } else {
            format!("{} {}", n32.trim(), n33.trim())
        };
        let acct = get(31).trim().to_string();
        let bank = get(30).trim().to_string();
        let account = if acct.is_empty() {
            None
        } else if iban_of(&acct).is_some() || bank.is_empty() {
            Some(acct)
        } else {
            Some(format!("{bank}/{acct}"))
        };
        let name = (!name.is_empty()).then_some(name);
        return (name, account);
    }
    if let Some(fields) = slash_fields(joined) {
        let find = |k: &str| {
            fields
                .iter()
                .find(|(key, v)| *key == k && !v.trim().is_empty())
                .map(|(_, v)| v.trim().to_string())
        };
        let cntp: Vec<String> = find("CNTP")
            .map(|v| v.split('/').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default();
        let cntp_part = |i: usize| cntp.get(i).filter(|p| !p.is_empty()).cloned();
        let name = find("NAME").or_else(|| cntp_part(2));
        let account = find("IBAN")
            .or_else(|| cntp_part(0))
            .or_else(|| find("ACCW"));
        return (name, account);
    }
    (None, None)
}

/// German `?nn` sub-fields, when the text is in that form.
fn question_fields(joined: &str) -> Option<Vec<(u8, String)>> {
    let bytes = joined.as_bytes();
    let marker_at = |i: usize| {
        bytes.get(i) == Some(&b'?')
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_digit)
    };
    let first = (0..bytes.len()).find(|&i| marker_at(i))?;
    let prefix = joined.get(..first)?;
    if prefix.len() > 3 || !prefix.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut out: Vec<(u8, String)> = Vec::new();
    let mut i = first;
    while i < bytes.len() {
        let key: u8 = joined.get(i + 1..i + 3)?.parse().ok()?;
        let start = i + 3;
        let end = (start..bytes.len())
            .find(|&j| marker_at(j))
            .unwrap_or(bytes.len());
        out.push((key, joined.get(start..end)?.to_string()));
        i = end;
    }
    Some(out)
}

/// Keywords of the `/KEY/value` form of `:86:`.
const SLASH_KEYS: [&str; 28] = [
    "CDTRREFTP",
    "CDTRREF",
    "TRTP",
    "IBAN",
    "BIC",
    "NAME",
    "REMI",
    "EREF",
    "MARF",
    "CSID",
    "ORDP",
    "BENM",
    "ULTC",
    "ULTD",
    "ULTB",
    "CNTP",
    "PURP",
    "RTRN",
    "SVCL",
    "ISDT",
    "ADDR",
    "COAM",
    "OCMT",
    "PREF",
    "BUSP",
    "EXCH",
    "CHGS",
    "ACCW",
];

/// `/KEY/value` sub-fields, when the text starts in that form.
fn slash_fields(joined: &str) -> Option<Vec<(&'static str, String)>> {
    let key_at = |i: usize| -> Option<(&'static str, usize)> {
        let rest = joined.get(i..)?.strip_prefix('/')?;
        SLASH_KEYS.iter().find_map(|k| {
            rest.strip_prefix(k)
                .filter(|r| r.starts_with('/'))
                .map(|_| (*k, i + k.len() + 2))
        })
    };
    key_at(0)?;
    let mut marks: Vec<(&'static str, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < joined.len() {
        if let Some((k, end)) = key_at(i) {
            marks.push((k, i, end));
            i = end;
        } else {
            i += joined.get(i..)?.chars().next().map_or(1, char::len_utf8);
        }
    }
    let mut out = Vec::new();
    for (n, (k, _, end)) in marks.iter().enumerate() {
        let stop = marks.get(n + 1).map_or(joined.len(), |m| m.1);
        let value = joined.get(*end..stop).unwrap_or("");
        out.push((*k, value.trim_end_matches('/').to_string()));
    }
    Some(out)
}

/// Turns one message's tags into a statement and its records.
fn finish_statement(text: &str, tags: Vec<TagItem>, file: &mut ParsedFile) {
    let index = file.statements.len();
    let mut stmt = ParsedStatement {
        line: tags.first().map_or(1, |t| t.line),
        ..ParsedStatement::default()
    };
    let mut records: Vec<(u32, Outcome)> = Vec::new();
    let reject = |tag: &TagItem, (field, reason): FieldProblem| {
        (
            tag.line,
            Outcome::Rejected(RecordProblem {
                line: tag.line,
                field,
                reason,
                raw: slice(text, tag.start, tag.end),
            }),
        )
    };

    // Header pass.
    let mut reference20 = None;
    let mut number28 = None;
    let mut account: Option<String> = None;
    let mut currencies: Vec<String> = Vec::new();
    let is_942 = tags.iter().any(|t| MT942_TAGS.contains(&t.tag.as_str()));
    let mut opening_seen = false;
    let mut closing_seen = false;
    for tag in &tags {
        let value = tag.values.join(" ");
        let value = value.trim();
        match tag.tag.as_str() {
            "20" => reference20 = Some(value.to_string()),
            "28C" | "28" => number28 = Some(value.to_string()),
            "25" if account.is_none() && !value.is_empty() => {
                account = Some(value.to_string());
            }
            "60F" | "60M" | "62F" | "62M" | "64" | "65" => {
                let opening = tag.tag.starts_with("60");
                let closing = tag.tag.starts_with("62");
                opening_seen |= opening;
                closing_seen |= closing;
                match parse_balance(&tag.tag, value, tag.line) {
                    Ok(bal) => {
                        currencies.push(bal.currency.clone());
                        if opening && stmt.opening.is_none() {
                            stmt.opening = Some(bal);
                        } else if closing {
                            // The last closing balance of the message is the closing one.
                            stmt.closing = Some(bal);
                        }
                    }
                    Err(p) => records.push(reject(tag, p)),
                }
            }
            "34F" => match check_floor_limit(value) {
                Ok(c) => currencies.push(c),
                Err(p) => records.push(reject(tag, p)),
            },
            "90D" | "90C" => match check_summary(&tag.tag, value) {
                Ok(c) => currencies.push(c),
                Err(p) => records.push(reject(tag, p)),
            },
            "13D" | "13" => {
                if let Err(p) = check_datetime(value) {
                    records.push(reject(tag, p));
                }
            }
            _ => {}
        }
    }
    stmt.statement_id = match (reference20, number28) {
        (Some(r), Some(n)) => Some(format!("{r} {n}")),
        (Some(r), None) => Some(r),
        (None, n) => n,
    };
    let first_tag = tags.first();
    if let Some(acct) = &account {
        stmt.account_raw = acct.clone();
        stmt.iban = account_iban(acct);
    } else if let Some(t) = first_tag {
        records.push(reject(
            t,
            problem(
                ":25:",
                "statement has no :25: account identification (expected e.g. :25:DE89370400440532013000)"
                    .to_string(),
            ),
        ));
    }
    if !is_942 {
        if !opening_seen {
            if let Some(t) = first_tag {
                records.push(reject(
                    t,
                    problem(
                        ":60F:",
                        "MT940 statement has no :60F:/:60M: opening balance".to_string(),
                    ),
                ));
            }
        }
        if !closing_seen {
            if let Some(t) = first_tag {
                records.push(reject(
                    t,
                    problem(
                        ":62F:",
                        "MT940 statement has no :62F:/:62M: closing balance (file truncated?)"
                            .to_string(),
                    ),
                ));
            }
        }
    }
    stmt.currency = currencies.first().cloned();
    let stmt_line = stmt.line;

    // Entry pass.
    let mut pending: Option<(usize, Option<usize>)> = None;
    let mut prev_tag: Option<&str> = None;
    let flush = |pending: &mut Option<(usize, Option<usize>)>,
                 records: &mut Vec<(u32, Outcome)>| {
        if let Some((i61, i86)) = pending.take() {
            if let Some(t61) = tags.get(i61) {
                let t86 = i86.and_then(|i| tags.get(i));
                records.push((
                    t61.line,
                    entry_outcome(
                        text,
                        t61,
                        t86,
                        index,
                        stmt_line,
                        account.is_some(),
                        stmt.currency.as_deref(),
                    ),
                ));
            }
        }
    };
    for (i, tag) in tags.iter().enumerate() {
        match tag.tag.as_str() {
            "61" => {
                flush(&mut pending, &mut records);
                pending = Some((i, None));
            }
            "86" => match pending.as_mut() {
                Some((_, slot @ None)) => *slot = Some(i),
                _ => {
                    flush(&mut pending, &mut records);
                    let raw = slice(text, tag.start, tag.end);
                    let outcome = if prev_tag.is_some_and(|p| CLOSING_TAGS.contains(&p)) {
                        Outcome::Skipped(RecordProblem {
                            line: tag.line,
                            field: ":86:".to_string(),
                            reason: format!(
                                "message-level information to the account owner after :{}: is not a transaction",
                                prev_tag.unwrap_or("")
                            ),
                            raw,
                        })
                    } else {
                        Outcome::Rejected(RecordProblem {
                            line: tag.line,
                            field: ":86:".to_string(),
                            reason: format!(
                                "narrative :86: follows :{}: instead of a :61: entry, so it belongs to no transaction",
                                prev_tag.unwrap_or("")
                            ),
                            raw,
                        })
                    };
                    records.push((tag.line, outcome));
                }
            },
            other => {
                flush(&mut pending, &mut records);
                if !KNOWN_TAGS.contains(&other) {
                    records.push(reject(
                        tag,
                        problem(
                            &format!(":{other}:"),
                            format!(
                                "unknown tag :{other}: (expected one of :20: :21: :25: :28C: :60F: :60M: :61: :86: :62F: :62M: :64: :65: :34F: :13D: :90D: :90C:)"
                            ),
                        ),
                    ));
                }
            }
        }
        prev_tag = Some(tag.tag.as_str());
    }
    flush(&mut pending, &mut records);

    records.sort_by_key(|(line, _)| *line);
    file.statements.push(stmt);
    file.outcomes.extend(records.into_iter().map(|(_, o)| o));
}

fn entry_outcome(
    text: &str,
    t61: &TagItem,
    t86: Option<&TagItem>,
    statement: usize,
    statement_line: u32,
    has_account: bool,
    currency: Option<&str>,
) -> Outcome {
    let end = t86.map_or(t61.end, |t| t.end);
    let raw = slice(text, t61.start, end);
    let rejected = |(field, reason): FieldProblem| {
        Outcome::Rejected(RecordProblem {
            line: t61.line,
            field,
            reason,
            raw: raw.clone(),
        })
    };
    if !has_account {
        return rejected(problem(
            ":25:",
            format!(
                "the statement starting at line {statement_line} has no :25: account identification, so this entry cannot be attributed to an account"
            ),
        ));
    }
    let first = t61.values.first().map_or("", String::as_str);
    let parsed = match parse_61(first) {
        Ok(p) => p,
        Err(p) => return rejected(p),
    };
    let Some(currency) = currency else {
        return rejected(problem(
            ":61:",
            format!(
                "the statement starting at line {statement_line} has no valid balance tag giving its currency (expected e.g. :60F:C240131EUR1234,56)"
            ),
        ));
    };
    let supplementary = t61
        .values
        .iter()
        .skip(1)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let (description, name, account) = match t86 {
        Some(t) => {
            let joined: String = t.values.concat();
            let (name, account) = counterparty_of(&joined);
            (t.values.join(" "), name, account)
        }
        None => (supplementary, None, None),
    };
    Outcome::Entry(ParsedEntry {
        line: t61.line,
        sub: 0,
        statement,
        booking_date: parsed.booking_date,
        value_date: Some(parsed.value_date),
        amount: parsed.amount,
        currency: currency.to_string(),
        type_code: Some(parsed.type_code),
        reversal: parsed.reversal,
        counterparty_name: name,
        counterparty_account: account,
        reference: parsed.reference,
        description,
        balance: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const CLEAN: &str = include_str!("../../fixtures/formats/mt940/clean_multi.sta");
    const TRUNCATED: &str = include_str!("../../fixtures/formats/mt940/truncated.sta");
    const BROKEN: &str = include_str!("../../fixtures/formats/mt940/broken.sta");

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn date(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn entries(file: &ParsedFile) -> Vec<&ParsedEntry> {
        file.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Entry(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn rejected(file: &ParsedFile) -> Vec<&RecordProblem> {
        file.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Rejected(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn skipped(file: &ParsedFile) -> Vec<&RecordProblem> {
        file.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Skipped(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn balance(b: &Option<BalanceMark>) -> (NaiveDate, Decimal, &str, u32) {
        let b = b.as_ref().unwrap();
        (b.date, b.amount, b.currency.as_str(), b.line)
    }

    #[test]
    fn clean_file_accounts_for_every_record() {
        let f = parse(CLEAN).unwrap();
        // 3 + 3 + 1 `:61:` entries, and the message-level `:86:` after `:64:` skipped.
        assert_eq!(entries(&f).len(), 7);
        assert_eq!(rejected(&f).len(), 0, "{:#?}", rejected(&f));
        assert_eq!(skipped(&f).len(), 1);
        assert_eq!(f.outcomes.len(), 8);
        let s = skipped(&f)[0];
        assert_eq!(s.line, 33);
        assert!(s.reason.contains("after :64:"), "{}", s.reason);
        assert_eq!(s.raw, ":86:Kontoauszug enthaelt 3 Buchungen");
    }

    #[test]
    fn clean_file_statements_and_balances() {
        let f = parse(CLEAN).unwrap();
        assert_eq!(f.statements.len(), 3);
        let s0 = &f.statements[0];
        assert_eq!(s0.line, 2);
        assert_eq!(s0.statement_id.as_deref(), Some("STMT240102A 1/1"));
        assert_eq!(s0.account_raw, "DE12500105170648489890");
        assert_eq!(s0.iban.as_deref(), Some("DE12500105170648489890"));
        assert_eq!(s0.currency.as_deref(), Some("EUR"));
        assert_eq!(
            balance(&s0.opening),
            (date(2023, 12, 29), d("1000.00"), "EUR", 5)
        );
        assert_eq!(
            balance(&s0.closing),
            (date(2024, 1, 2), d("2150.50"), "EUR", 16)
        );

        let s1 = &f.statements[1];
        assert_eq!(s1.line, 18);
        assert_eq!(s1.iban.as_deref(), Some("NL66FAKE0123456789"));
        assert_eq!(
            balance(&s1.opening),
            (date(2024, 1, 1), d("-150.25"), "EUR", 21)
        );
        assert_eq!(
            balance(&s1.closing),
            (date(2024, 1, 31), d("1014.64"), "EUR", 31)
        );

        let s2 = &f.statements[2];
        assert_eq!(s2.statement_id.as_deref(), Some("MT942-0001 2/1"));
        assert_eq!(s2.currency.as_deref(), Some("EUR"));
        assert!(s2.opening.is_none() && s2.closing.is_none());
    }

    /// (line, statement, booking, value, amount, reversal, name, account)
    type Row<'a> = (
        u32,
        usize,
        NaiveDate,
        NaiveDate,
        &'a str,
        bool,
        Option<&'a str>,
        Option<&'a str>,
    );

    #[test]
    fn clean_file_entries_are_pinned() {
        let f = parse(CLEAN).unwrap();
        let e = entries(&f);
        let expected: [Row<'_>; 7] = [
            (
                6,
                0,
                date(2024, 1, 2),
                date(2023, 12, 29),
                "-250.00",
                false,
                Some("Werkstattbedarf Nord Handelsgesellschaft mbH"),
                Some("DE18120300000012345678"),
            ),
            (
                10,
                0,
                date(2024, 1, 2),
                date(2024, 1, 2),
                "1500.50",
                false,
                Some("Fiktiv Handels GmbH"),
                Some("10050000/0001234567"),
            ),
            (
                14,
                0,
                date(2024, 1, 2),
                date(2024, 1, 2),
                "-100.00",
                true,
                None,
                None,
            ),
            (
                22,
                1,
                date(2024, 1, 2),
                date(2024, 1, 2),
                "1200.00",
                false,
                Some("J. de Vries"),
                Some("NL62TEST0987654321"),
            ),
            (
                26,
                1,
                date(2023, 12, 29),
                date(2024, 1, 3),
                "-45.10",
                false,
                Some("Harbour Lights Ltd"),
                Some("GB76FAKE20000012345678"),
            ),
            (
                29,
                1,
                date(2024, 1, 15),
                date(2024, 1, 15),
                "9.99",
                true,
                Some("Stroom & Gas B.V."),
                None,
            ),
            (
                41,
                2,
                date(2024, 1, 3),
                date(2024, 1, 3),
                "75.00",
                false,
                Some("Max Beispiel"),
                Some("DE84760100850009876543"),
            ),
        ];
        for (got, want) in e.iter().zip(expected.iter()) {
            assert_eq!(got.line, want.0);
            assert_eq!(got.statement, want.1, "line {}", want.0);
            assert_eq!(got.booking_date, want.2, "line {}", want.0);
            assert_eq!(got.value_date, Some(want.3), "line {}", want.0);
            assert_eq!(got.amount, d(want.4), "line {}", want.0);
            assert_eq!(got.reversal, want.5, "line {}", want.0);
            assert_eq!(got.counterparty_name.as_deref(), want.6, "line {}", want.0);
            assert_eq!(
                got.counterparty_account.as_deref(),
                want.7,
                "line {}",
                want.0
            );
            assert_eq!(got.currency, "EUR");
            assert_eq!(got.sub, 0);
        }
        assert_eq!(e[0].type_code.as_deref(), Some("NTRF"));
        assert_eq!(e[0].reference.as_deref(), Some("NONREF//B3X0102A1"));
        assert_eq!(
            e[0].description,
            "177?00SEPA-UEBERWEISUNG?109310?20EREF+INV-2023-118 ?21SVWZ+Rechnung 118?30FIKTDEFFXXX?31DE18120300000012345678 ?32Werkstattbedarf Nord Handel?33sgesellschaft mbH"
        );
        assert_eq!(e[2].description, "Storno Gutschrift vom 28.12.2023");
        assert_eq!(e[3].reference.as_deref(), Some("EREF-7781//PB0201"));
        assert_eq!(
            e[3].description,
            "/TRTP/SEPA OVERBOEKING/IBAN/NL62TEST0987654321/BIC/TESTNL2A /NAME/J. de Vries/REMI/Huur januari 2024/EREF/EREF-7781"
        );
        assert_eq!(e[4].type_code.as_deref(), Some("NCHG"));
        assert_eq!(e[5].type_code.as_deref(), Some("NDDT"));
    }

    #[test]
    fn clean_statements_reconcile() {
        let f = parse(CLEAN).unwrap();
        for (i, s) in f.statements.iter().enumerate().take(2) {
            let sum: Decimal = entries(&f)
                .iter()
                .filter(|e| e.statement == i)
                .map(|e| e.amount)
                .sum();
            let opening = s.opening.as_ref().unwrap().amount;
            assert_eq!(
                opening + sum,
                s.closing.as_ref().unwrap().amount,
                "statement {i}"
            );
        }
        // The MT942 report's `:90C:1EUR75,00` matches its one credit.
        let credits: Vec<Decimal> = entries(&f)
            .iter()
            .filter(|e| e.statement == 2)
            .map(|e| e.amount)
            .collect();
        assert_eq!(credits, vec![d("75.00")]);
    }

    #[test]
    fn raw_is_the_record_text() {
        let f = parse(CLEAN).unwrap();
        let Outcome::Entry(_) = &f.outcomes[0] else {
            panic!("first record should be an entry")
        };
        // A rejected copy of the same text keeps it byte for byte.
        let broken = CLEAN.replace(":61:2401020102RC100,00", ":61:2401020102RC100.00");
        let f = parse(&broken).unwrap();
        let r = rejected(&f);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].line, 14);
        assert_eq!(
            r[0].raw,
            ":61:2401020102RC100.00NTRFNONREF\n:86:Storno Gutschrift vom 28.12.2023"
        );
        assert_eq!(
            r[0].reason,
            "amount \"100.00\" is not a number with a decimal comma (expected e.g. 1234,56)"
        );
    }

    #[test]
    fn truncated_file() {
        let f = parse(TRUNCATED).unwrap();
        assert_eq!(f.statements.len(), 1);
        assert_eq!(entries(&f).len(), 1);
        assert_eq!(entries(&f)[0].amount, d("-20.00"));
        assert_eq!(entries(&f)[0].booking_date, date(2024, 2, 1));
        let r = rejected(&f);
        assert_eq!(r.len(), 2);
        assert_eq!(f.outcomes.len(), 3);
        assert_eq!((r[0].line, r[0].field.as_str()), (1, ":62F:"));
        assert!(r[0].reason.contains("no :62F:/:62M: closing balance"));
        assert_eq!((r[1].line, r[1].field.as_str()), (7, ":61: amount"));
        assert!(r[1]
            .reason
            .contains("amount \"1\" is not a number with a decimal comma"));
        assert_eq!(r[1].raw, ":61:2402020202D1");
    }

    #[test]
    fn broken_file_every_problem_pinned() {
        let f = parse(BROKEN).unwrap();
        assert_eq!(f.statements.len(), 2);
        let e = entries(&f);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, 19);
        assert_eq!(e[0].amount, d("7.00"));
        assert_eq!(e[0].currency, "EUR");
        assert_eq!(e[0].counterparty_name.as_deref(), Some("Anna Probe"));
        assert_eq!(e[0].statement, 1);
        assert!(skipped(&f).is_empty());
        let r = rejected(&f);
        let expected: [(u32, &str, &str); 13] = [
            (1, ":25:", "statement has no :25: account identification"),
            (
                4,
                ":25:",
                "the statement starting at line 1 has no :25: account identification",
            ),
            (
                10,
                ":60F: currency",
                "currency \"EU1\" is not three upper-case letters",
            ),
            (
                11,
                ":86:",
                "narrative :86: follows :60F: instead of a :61: entry",
            ),
            (
                12,
                ":61: value date",
                "value date \"240231\" is not a valid date (expected YYMMDD",
            ),
            (
                13,
                ":61: amount",
                "amount \"12,3,4\" is not a number with a decimal comma (expected e.g. 1234,56)",
            ),
            (
                14,
                ":61: amount",
                "amount \"1.234,56\" is not a number with a decimal comma",
            ),
            (
                15,
                ":61: mark",
                "debit/credit mark \"X5\" is not C, D, RC or RD",
            ),
            (
                16,
                ":61: entry date",
                "entry date \"1345\" is not a valid month and day",
            ),
            (
                17,
                ":61: transaction type",
                "transaction type \"XTRF\" is not N, F or S",
            ),
            (18, ":99:", "unknown tag :99:"),
            (23, "", "text outside any tag or statement"),
            (24, ":61:", "tag :61: is outside any statement"),
        ];
        assert_eq!(r.len(), expected.len(), "{r:#?}");
        for (got, want) in r.iter().zip(expected.iter()) {
            assert_eq!(got.line, want.0, "{got:?}");
            assert_eq!(got.field, want.1, "{got:?}");
            assert!(
                got.reason.contains(want.2),
                "{:?} does not contain {:?}",
                got.reason,
                want.2
            );
        }
        assert_eq!(f.outcomes.len(), 14);
        // The malformed opening balance is not kept; the closing one is.
        assert!(f.statements[1].opening.is_none());
        assert_eq!(
            f.statements[1].closing.as_ref().unwrap().amount,
            d("107.00")
        );
        assert_eq!(
            r[1].raw,
            ":61:2403010301C50,00NTRFNONREF\n:86:Zahlung ohne Konto"
        );
    }

    #[test]
    fn not_mt940_is_a_format_error() {
        let err = parse("Datum;Betrag\n01.01.2024;12,00\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("no :20:"));
        assert!(parse("").is_err());
    }

    #[test]
    fn crlf_and_year_wrap() {
        let text = ":20:X\r\n:25:DE89370400440532013000\r\n:60F:C241231EUR0,00\r\n:61:2412310102D1,\r\nNTRF\r\n:61:2501021231D1,NTRF\r\n:62F:D250102EUR2,00\r\n";
        let f = parse(text).unwrap();
        let r = rejected(&f);
        // The first `:61:` has its type on a continuation line: not a valid `:61:`.
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].line, 4);
        assert_eq!(r[0].raw, ":61:2412310102D1,\r\nNTRF");
        let e = entries(&f);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].booking_date, date(2024, 12, 31));
        assert_eq!(e[0].value_date, Some(date(2025, 1, 2)));
        assert_eq!(e[0].amount, d("-1"));
    }

    #[test]
    fn edge_cases_of_61() {
        let wrap = |line61: &str| {
            let text =
                format!(":20:E\n:25:X1\n:60F:C230301EUR0,\n:61:{line61}\n:62F:C230301EUR0,\n");
            let f = parse(&text).unwrap();
            assert_eq!(f.outcomes.len(), 1, "{line61}");
            f.outcomes.into_iter().next().unwrap()
        };
        // 29 February exists only in 2024, a year away from the value date.
        match wrap("2303010229C1,00NTRF") {
            Outcome::Rejected(p) => {
                assert_eq!(p.field, ":61: entry date");
                assert!(p
                    .reason
                    .contains("within six months of the value date 2023-03-01"));
            }
            other => panic!("{other:?}"),
        }
        match wrap("230301C1,00NTR") {
            Outcome::Rejected(p) => assert!(p.reason.contains("transaction type \"NTR\"")),
            other => panic!("{other:?}"),
        }
        match wrap("230301D") {
            Outcome::Rejected(p) => assert!(p.reason.starts_with("amount is missing")),
            other => panic!("{other:?}"),
        }
        match wrap("230301C,50NTRF") {
            Outcome::Rejected(p) => assert!(p.reason.contains("amount \",50\"")),
            other => panic!("{other:?}"),
        }
        // Funds code letter, amount without decimals, no reference; `:25:` not an IBAN.
        match wrap("230301DE100,NMSC") {
            Outcome::Entry(e) => {
                assert_eq!(e.amount, d("-100"));
                assert_eq!(e.type_code.as_deref(), Some("NMSC"));
                assert_eq!(e.reference, None);
                assert_eq!(e.description, "");
            }
            other => panic!("{other:?}"),
        }
        let f = parse(":20:E\n:25:X1\n:60F:C230301EUR0,\n:62F:C230301EUR0,\n").unwrap();
        assert_eq!(f.statements[0].iban, None);
        assert!(f.outcomes.is_empty());
    }

    #[test]
    fn never_panics_on_cut_or_mangled_input() {
        for text in [CLEAN, TRUNCATED, BROKEN] {
            for (i, _) in text.char_indices() {
                let _ = parse(&text[..i]);
                let mut mangled = text.to_string();
                mangled.insert(i, ':');
                let _ = parse(&mangled);
                let _ = parse(&text[i..]);
            }
        }
    }
}
