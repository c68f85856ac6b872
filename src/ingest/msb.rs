//! Money service business (MSB) transfer records: one transfer per CSV row.
//!
//! Production orders to money-transfer companies return rows of transfers: reference
//! (MTCN), send date and time, sender name, address and ID, send agent and location,
//! receiver name, city and country, pay agent and date, principal, fee, FX rate, payout
//! amount and currency, status. The layout (`kind = "msb"`) maps those columns.
//!
//! Each accepted transfer becomes ledger rows in the source's declared account (the MSB's
//! records for the case):
//! - part 1, `msb_send`: minus the principal, in the send currency; the sender is the
//!   `party`, the receiver the counterparty (with the receiver's country);
//! - part 2, `msb_payout`, only when the receiver is a case subject: plus the payout amount
//!   in the payout currency, in that subject's `kind = "msb"` account of that currency; the
//!   receiver is the party, the sender the counterparty. A receiver who is a case subject
//!   without such an account rejects the record with that reason: the case must say where
//!   the money arrived;
//! - part 3, `fee`: minus the fee, when there is one.
//!
//! A transfer whose status is one of the layout's `excluded_statuses` (cancelled,
//! refunded) is kept, with `excluded_reason` set on every part so that no later stage
//! counts it. The narrative is composed from the record's own fields, since MSB records
//! have none; it is stated as such in `docs/layouts.md`.

use std::borrow::Cow;

use rust_decimal::Decimal;

use super::delimited;
use super::fields::{parse_date, RowDraft};
use super::layout::{Field, Layout};
use super::{RecordEvent, SourceProblem, SourceSink, Values};
use crate::case::{AccountKind, Case};
use crate::ledger::{Channel, Party};
use crate::money::{is_currency_code, parse_amount};

/// Read an MSB records file into the sink.
pub fn read(text: &str, layout: &Layout, sink: &mut SourceSink<'_>) -> Result<(), SourceProblem> {
    delimited::read(text, layout, |event| match event {
        RecordEvent::Data {
            line,
            raw,
            index,
            values,
        } => match transfer(layout, sink.case(), &values) {
            Ok(parts) => sink.accept_parts(line, index, raw, parts),
            Err((field, reason)) => sink.reject(line, raw, field.to_string(), reason),
        },
        other => sink.event(other),
    })
}

fn get<'a>(values: &Values<'a>, f: Field) -> Option<&'a str> {
    values[f as usize].map(str::trim).filter(|v| !v.is_empty())
}

/// Upper case, letters and digits only, single spaces: how names are compared.
pub fn normalise_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

type Parts = Vec<(u32, RowDraft<'static>, Option<usize>)>;

fn transfer(
    layout: &Layout,
    case: &Case,
    values: &Values<'_>,
) -> Result<Parts, (&'static str, String)> {
    let need = |f: Field| get(values, f).ok_or((f.key(), format!("{} is empty", f.key())));
    let reference = need(Field::TransactionId)?;
    let booking_date =
        parse_date(need(Field::Date)?, &layout.date_format).map_err(|r| ("date", r))?;
    let pay_date = get(values, Field::PayDate)
        .map(|d| parse_date(d, &layout.date_format))
        .transpose()
        .map_err(|r| ("pay_date", r))?;
    let money = |f: Field| -> Result<Option<Decimal>, (&'static str, String)> {
        get(values, f)
            .map(|v| parse_amount(v, &layout.amount_style))
            .transpose()
            .map_err(|e| (f.key(), e.to_string()))
    };
    let principal = money(Field::Amount)?.ok_or(("amount", "principal is empty".to_string()))?;
    if principal <= Decimal::ZERO {
        return Err(("amount", format!("principal {principal} must be positive")));
    }
    let fee = money(Field::Fee)?.unwrap_or(Decimal::ZERO);
    if fee < Decimal::ZERO {
        return Err(("fee", format!("fee {fee} must not be negative")));
    }
    let payout = money(Field::PayoutAmount)?;
    let currency = |f: Field, default: Option<&str>| -> Result<String, (&'static str, String)> {
        let c = get(values, f)
            .or(default)
            .unwrap_or_default()
            .to_uppercase();
        if is_currency_code(&c) {
            Ok(c)
        } else {
            Err((f.key(), format!("currency {c:?} is not an ISO 4217 code")))
        }
    };
    let send_currency = currency(Field::Currency, layout.currency.as_deref())?;
    let status = get(values, Field::Status).map(str::to_string);
    let excluded_reason = status
        .as_deref()
        .filter(|s| layout.excluded_statuses.contains(&s.to_uppercase()))
        .map(|s| {
            format!("money transfer not completed (status {s}): kept for the record, not counted")
        });
    let sender = Party {
        name: get(values, Field::SenderName).map(str::to_string),
        address: get(values, Field::SenderAddress).map(str::to_string),
        id: get(values, Field::SenderId).map(str::to_string),
    };
    let receiver_name = need(Field::ReceiverName)?.to_string();
    let receiver_city = get(values, Field::ReceiverCity);
    let receiver_country = get(values, Field::ReceiverCountry).map(str::to_string);
    let send_country = get(values, Field::SendCountry).map(str::to_string);
    let send_agent = get(values, Field::SendAgent);
    let pay_agent = get(values, Field::PayAgent);
    let location = get(values, Field::Location)
        .map(str::to_string)
        .or(send_agent.map(str::to_string));
    let time = get(values, Field::Time).map(str::to_string);
    let narrative = format!(
        "MONEY TRANSFER {reference} {} TO {receiver_name}{}{}",
        sender.name.as_deref().unwrap_or("UNKNOWN SENDER"),
        receiver_city.map(|c| format!(", {c}")).unwrap_or_default(),
        receiver_country
            .as_deref()
            .map(|c| format!(", {c}"))
            .unwrap_or_default(),
    );
    let base = RowDraft {
        booking_date,
        value_date: None,
        booking_time: time,
        amount: -principal,
        currency: send_currency.clone().into(),
        balance: None,
        channel: Channel::MsbSend,
        counterparty_name: Some(receiver_name.clone().into()),
        counterparty_account: None,
        description: narrative.clone().into(),
        location: location.clone().map(Cow::Owned),
        bank_type: status.clone().map(Cow::Owned),
        bank_txn_id: Some(reference.to_string().into()),
        row_account: None,
        reversal: false,
        party: sender.clone(),
        counterparty_country: receiver_country.clone(),
        excluded_reason: excluded_reason.clone(),
    };
    let mut parts: Parts = vec![(1, base.clone(), None)];

    let wanted = normalise_name(&receiver_name);
    let subject = case.subjects.iter().find(|s| {
        normalise_name(&s.name) == wanted || s.aliases.iter().any(|a| normalise_name(a) == wanted)
    });
    if let Some(subject) = subject {
        let payout_currency = currency(Field::PayoutCurrency, Some(&send_currency))?;
        let amount = match payout {
            Some(p) => p,
            None if payout_currency == send_currency => principal,
            None => {
                return Err((
                    "payout_amount",
                    format!("receiver {receiver_name} is case subject {} but the payout amount in {payout_currency} is empty", subject.id),
                ))
            }
        };
        let account = case
            .accounts
            .iter()
            .position(|a| {
                a.kind == AccountKind::Msb && a.currency == payout_currency && a.controlled_by.contains(&subject.id)
            })
            .ok_or((
                "receiver_name",
                format!(
                    "receiver {receiver_name} is case subject {}, but the case has no kind = \"msb\" account in {payout_currency} controlled by {}; add one so the payout has somewhere to arrive",
                    subject.id, subject.id
                ),
            ))?;
        parts.push((
            2,
            RowDraft {
                booking_date: pay_date.unwrap_or(booking_date),
                amount,
                currency: payout_currency.into(),
                channel: Channel::MsbPayout,
                counterparty_name: sender.name.clone().map(Cow::Owned),
                location: pay_agent.map(|a| Cow::Owned(a.to_string())),
                party: Party {
                    name: Some(receiver_name.clone()),
                    address: None,
                    id: None,
                },
                counterparty_country: send_country,
                ..base.clone()
            },
            Some(account),
        ));
    }
    if !fee.is_zero() {
        parts.push((
            3,
            RowDraft {
                amount: -fee,
                channel: Channel::Fee,
                counterparty_name: send_agent.map(|a| Cow::Owned(a.to_string())),
                description: format!("MONEY TRANSFER FEE {reference}").into(),
                ..base
            },
            None,
        ));
    }
    Ok(parts)
}
