//! Structured statements (MT940/MT942, camt.052/053, OFX) into the ledger.
//!
//! The format parser (`mt940`, `camt`, `ofx`) accounts for every record of the file; here
//! each parsed entry is classified with the format's profile (its type codes and narrative
//! patterns in `rules/formats/`), assigned to a case account from the statement's own
//! account identification (which must agree with the source's declared account), and added
//! to the ledger. Each statement with stated balances becomes a [`StatementPeriod`] for
//! the balance checks of `verify`. An entry whose amount, balance or dates the ledger cannot
//! hold exactly (more than two decimal places, 16 or more digits before the point, a date
//! outside 1970–2099) is rejected with the reason, as the CSV readers reject theirs.

use std::borrow::Cow;

use rust_decimal::Decimal;

use super::fields::{classify, date_window, Narrative, PatternRoom, RowDraft};
use super::layout::fills;
use super::statement::{FormatError, Outcome, ParsedEntry, ParsedFile};
use super::{SourceProblem, SourceSink, StatementPeriod};
use crate::money::{is_currency_code, LEDGER_MAX_ABS, LEDGER_SCALE};

/// Longest raw text kept for one structured record, in lines.
const RAW_MAX_LINES: u32 = 40;

/// Whether an entry's values fit the ledger exactly, as the CSV readers require of theirs:
/// amounts and balances in whole pence below 10^16, dates inside the accepted window. The
/// format parsers read any decimal and any year; here a value the ledger cannot hold
/// exactly is a rejected record, never rounded or truncated.
fn fits_the_ledger(e: &ParsedEntry) -> Result<(), (&'static str, String)> {
    let limit = Decimal::from(LEDGER_MAX_ABS / 100);
    for (field, value) in [("amount", Some(e.amount)), ("balance", e.balance)] {
        let Some(value) = value else { continue };
        if value.abs() >= limit {
            return Err((
                field,
                format!("{field} {value} is too large for the ledger (at most 16 digits before the decimal point)"),
            ));
        }
        if value.normalize().scale() > LEDGER_SCALE {
            return Err((
                field,
                format!("{field} {value} has more than 2 decimal places; the ledger keeps pence exactly and will not round"),
            ));
        }
    }
    let (earliest, latest) = date_window();
    for (field, date) in [("date", Some(e.booking_date)), ("value_date", e.value_date)] {
        if let Some(d) = date.filter(|d| *d < earliest || *d > latest) {
            return Err((
                field,
                format!(
                    "{field} {d} is outside {earliest} to {latest}, the dates the ledger accepts"
                ),
            ));
        }
    }
    Ok(())
}

/// Parse `text` with `parse` and feed every record to the sink.
pub fn read(
    text: &str,
    parse: fn(&str) -> Result<ParsedFile, FormatError>,
    sink: &mut SourceSink<'_>,
    statements: &mut Vec<StatementPeriod>,
) -> Result<(), SourceProblem> {
    let parsed = parse(text).map_err(|e| SourceProblem {
        line: e.line,
        message: e.message,
    })?;
    // An entry's raw text runs from its first line to the line before the next record
    // starts (at most RAW_MAX_LINES lines), so a rejected entry shows the whole record.
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut record_lines: Vec<u32> = parsed
        .outcomes
        .iter()
        .map(|o| match o {
            Outcome::Entry(e) => e.line,
            Outcome::Rejected(p) | Outcome::Skipped(p) => p.line,
        })
        .collect();
    record_lines.sort_unstable();
    record_lines.dedup();
    let first_line = |line: u32| -> &str {
        // `record_lines` is sorted and deduplicated: a binary search keeps this O(log n)
        // per entry (a linear scan made files of many entries quadratic).
        let next = record_lines
            .get(record_lines.partition_point(|&l| l <= line))
            .copied()
            .unwrap_or(u32::MAX)
            .min(line.saturating_add(RAW_MAX_LINES));
        let from = line_starts
            .get((line as usize).saturating_sub(1))
            .copied()
            .unwrap_or(text.len());
        let to = line_starts
            .get((next as usize).saturating_sub(1))
            .copied()
            .unwrap_or(text.len());
        text.get(from..to.max(from)).unwrap_or("").trim_end()
    };
    let account_text = |i: usize| -> Option<String> {
        parsed
            .statements
            .get(i)
            .map(|s| s.iban.clone().unwrap_or_else(|| s.account_raw.clone()))
    };
    let mut dates: Vec<Option<(chrono::NaiveDate, chrono::NaiveDate)>> =
        vec![None; parsed.statements.len()];
    let mut index = 0u64;
    let mut patterns = PatternRoom::new(sink.layout());
    for outcome in &parsed.outcomes {
        match outcome {
            Outcome::Skipped(p) => sink.skip(p.line, &p.raw, p.reason.clone()),
            Outcome::Rejected(p) => sink.reject(p.line, &p.raw, p.field.clone(), p.reason.clone()),
            Outcome::Entry(e) => {
                let raw = first_line(e.line);
                if !is_currency_code(&e.currency) {
                    sink.reject(
                        e.line,
                        raw,
                        "currency".into(),
                        format!("currency {:?} is not an ISO 4217 code", e.currency),
                    );
                    continue;
                }
                if let Err((field, reason)) = fits_the_ledger(e) {
                    sink.reject(e.line, raw, field.into(), reason);
                    continue;
                }
                let credit = e.amount.is_sign_positive() && !e.amount.is_zero();
                let mut known = 0;
                if e.counterparty_name.is_some() {
                    known |= fills::COUNTERPARTY;
                }
                if e.counterparty_account.is_some() {
                    known |= fills::COUNTERPARTY_ACCOUNT;
                }
                let class = classify(
                    sink.layout(),
                    &Narrative {
                        description: &e.description,
                        type_code: e.type_code.as_deref(),
                        category: None,
                        counterparty: e.counterparty_name.as_deref(),
                        credit,
                        known,
                    },
                    &mut patterns,
                );
                if let Some(d) = dates.get_mut(e.statement) {
                    *d = Some(match *d {
                        Some((a, b)) => (a.min(e.booking_date), b.max(e.booking_date)),
                        None => (e.booking_date, e.booking_date),
                    });
                }
                let draft = RowDraft {
                    booking_date: e.booking_date,
                    value_date: e.value_date,
                    booking_time: None,
                    amount: e.amount,
                    currency: Cow::Borrowed(e.currency.as_str()),
                    balance: e.balance,
                    channel: class.channel,
                    counterparty_name: e
                        .counterparty_name
                        .as_deref()
                        .or(class.counterparty)
                        .map(Cow::Borrowed),
                    counterparty_account: e
                        .counterparty_account
                        .as_deref()
                        .or(class.counterparty_account)
                        .map(Cow::Borrowed),
                    description: Cow::Borrowed(e.description.as_str()),
                    location: class.location.map(Cow::Borrowed),
                    bank_type: e.type_code.as_deref().map(Cow::Borrowed),
                    bank_txn_id: e.reference.as_deref().map(Cow::Borrowed),
                    row_account: account_text(e.statement).map(Cow::Owned),
                    reversal: e.reversal,
                    party: crate::ledger::Party::default(),
                    counterparty_country: None,
                    excluded_reason: None,
                };
                sink.accept(e.line, e.sub, index, raw, draft);
                index += 1;
            }
        }
    }
    for (i, st) in parsed.statements.iter().enumerate() {
        let Ok((_, account_id)) = sink.assign(account_text(i).as_deref()) else {
            // Its entries were rejected with the reason; there is no account to check.
            continue;
        };
        let currency = st
            .currency
            .clone()
            .or_else(|| st.opening.as_ref().map(|b| b.currency.clone()))
            .or_else(|| st.closing.as_ref().map(|b| b.currency.clone()))
            .unwrap_or_default();
        let (start, end) = match (st.period, dates.get(i).copied().flatten()) {
            (Some((a, b)), _) => (Some(a), Some(b)),
            (None, Some((a, b))) => (Some(a), Some(b)),
            (None, None) => (None, None),
        };
        statements.push(StatementPeriod {
            account_id,
            source_file: sink.source_file().to_string(),
            source_sha256: sink.source_sha256().to_string(),
            line: st.line,
            statement_id: st.statement_id.clone(),
            currency,
            period_start: start,
            period_end: end,
            opening: st.opening.as_ref().map(|b| (b.date, b.amount)),
            closing: st.closing.as_ref().map(|b| (b.date, b.amount)),
        });
    }
    Ok(())
}
