//! Tainted gifts (POCA 2002 s.77, s.78, s.81): every gift, with the timing rule applied
//! and shown on its line.
//!
//! **Gifts** come from the gifts file, and from matched transfers out of an account a
//! defendant controls into an account controlled only by associates (no consideration
//! shown). A gifts-file line naming a `txn_id` replaces the ledger transfer with that debit,
//! so the investigator can give its consideration or say the property was benefit.
//!
//! **Gift amount** (s.78): value at the time of the gift less the consideration received,
//! never below nil; a transfer for full value is not a gift. It is uplifted like benefit
//! (s.81(1)(a)), half to even to the penny.
//!
//! **Timing** (s.77): with a criminal lifestyle, a gift is tainted when made strictly after
//! the relevant day, or at any time when the property given was benefit (the gifts file's
//! `property_was_benefit`); without, when made strictly after the date of the offence
//! (`[schedule] offence_date`). Untainted gifts are listed and count nil.

use std::collections::BTreeSet;

use super::jurisdiction::GiftAfter;
use super::reference::GiftLine;
use super::{controllers, pounds, Context, GiftScheduleLine, ScheduleError};
use crate::case::SubjectRole;

/// Every gift, in date order (ties: gifts file first, then ledger order).
pub(crate) fn tainted_gifts(ctx: &Context<'_>) -> Result<Vec<GiftScheduleLine>, ScheduleError> {
    let mut out: Vec<(chrono::NaiveDate, u8, u64, GiftScheduleLine)> = Vec::new();
    let mut superseded = BTreeSet::new();
    for g in &ctx.reference.gifts {
        let source_ref = format!("{}:{}", g.file, g.line);
        let mut order = 0;
        if let Some(id) = &g.txn_id {
            let i = ctx.ledger_row(id).ok_or_else(|| {
                gift_error(
                    g,
                    format!("names {id:?}, which is not in the verified ledger"),
                )
            })?;
            let e = &ctx.entries[i];
            if e.amount >= 0 || !ctx.is_defendant_account(e.account_id) {
                return Err(gift_error(
                    g,
                    format!("names {id:?}, which is not a payment out of an account the defendant controls"),
                ));
            }
            superseded.insert(id.as_str());
            order = e.seq;
        }
        let line = gift_line(
            ctx,
            GiftFacts {
                gift_id: g.gift_id.clone(),
                origin: "gifts file",
                date: g.date,
                recipient: g.recipient.clone(),
                description: match &g.txn_id {
                    Some(id) => format!("{} (ledger row {id})", g.description),
                    None => g.description.clone(),
                },
                value: g.value,
                consideration: g.consideration,
                property_was_benefit: g.property_was_benefit,
                value_now: g.value_now,
                source_ref,
                exhibit: g.exhibit.clone(),
            },
        )?;
        out.push((g.date, 0, order, line));
    }
    for e in ctx
        .entries
        .iter()
        .filter(|e| e.amount < 0 && ctx.is_defendant_account(e.account_id))
    {
        let Some(t) = ctx.transfers_by_debit.get(e.txn_id) else {
            continue;
        };
        if superseded.contains(e.txn_id)
            || e.excluded_reason.is_some()
            || ctx.is_defendant_account(t.credit_account)
        {
            continue;
        }
        let Some(account) = ctx.case.account(t.credit_account) else {
            continue;
        };
        let to_associate = !account.controlled_by.is_empty()
            && account.controlled_by.iter().all(|id| {
                ctx.case
                    .subjects
                    .iter()
                    .any(|s| &s.id == id && s.role == SubjectRole::Associate)
            });
        if !to_associate {
            continue;
        }
        let line = gift_line(
            ctx,
            GiftFacts {
                gift_id: format!("GIFT-{}", e.txn_id),
                origin: "ledger transfer",
                date: e.booking_date,
                recipient: controllers(ctx.case, t.credit_account),
                description: format!(
                    "transfer {} from {} to {} ({}), an account controlled by an associate; no consideration shown: {}",
                    t.transfer_id, e.account_id, t.credit_account, account.holder, e.description
                ),
                value: -e.amount_base,
                consideration: 0,
                property_was_benefit: false,
                value_now: None,
                source_ref: e.source_ref(),
                exhibit: Context::exhibit(e),
            },
        )?;
        out.push((e.booking_date, 1, e.seq, line));
    }
    out.sort_by_key(|a| (a.0, a.1, a.2));
    Ok(out.into_iter().map(|(_, _, _, l)| l).collect())
}

fn gift_error(g: &GiftLine, problem: String) -> ScheduleError {
    ScheduleError::Reference {
        file: g.file.clone(),
        line: g.line,
        field: "txn_id".into(),
        problem,
    }
}

struct GiftFacts {
    gift_id: String,
    origin: &'static str,
    date: chrono::NaiveDate,
    recipient: String,
    description: String,
    value: i64,
    consideration: i64,
    property_was_benefit: bool,
    value_now: Option<i64>,
    source_ref: String,
    exhibit: String,
}

fn gift_line(ctx: &Context<'_>, f: GiftFacts) -> Result<GiftScheduleLine, ScheduleError> {
    let rule = &ctx.jurisdiction.tainted_gifts;
    let gift_amount = (f.value - f.consideration).max(0);
    let up = ctx
        .valuation
        .uplift(gift_amount, f.date, &format!("gift {}", f.gift_id))?;
    let (which, citation) = if ctx.case.lifestyle {
        (rule.lifestyle_after, rule.lifestyle_citation.as_str())
    } else {
        (
            rule.non_lifestyle_after,
            rule.non_lifestyle_citation.as_str(),
        )
    };
    let (anchor, after_what) = match which {
        GiftAfter::RelevantDay => (ctx.relevant_day.day, "the relevant day"),
        GiftAfter::Offence => (
            ctx.reference.options.offence_date.ok_or_else(|| ScheduleError::Case {
                key: "schedule.offence_date".into(),
                problem: format!(
                    "is not given, but the case is not a criminal lifestyle case and lists gifts: {citation} taints a gift made after the date of the offence, so give that date (the earliest offence)"
                ),
            })?,
            "the date of the offence",
        ),
    };
    let (tainted, mut text) = if gift_amount == 0 {
        (
            false,
            format!(
                "not a gift: consideration {} is not less than the value {} ({})",
                pounds(f.consideration),
                pounds(f.value),
                ctx.jurisdiction.citations.gift_definition
            ),
        )
    } else if f.date > anchor {
        (
            true,
            format!(
                "tainted: made on {}, after {after_what} {anchor} ({citation})",
                f.date
            ),
        )
    } else if ctx.case.lifestyle && rule.lifestyle_any_time_if_benefit && f.property_was_benefit {
        (
            true,
            format!(
                "tainted: made on {}, on or before {after_what} {anchor}, but of property that was benefit ({citation})",
                f.date
            ),
        )
    } else {
        (
            false,
            format!(
                "not tainted: made on {}, on or before {after_what} {anchor}{} ({citation})",
                f.date,
                if ctx.case.lifestyle {
                    ", and not shown to be of property that was benefit"
                } else {
                    ""
                }
            ),
        )
    };
    if gift_amount > 0 && f.consideration > 0 {
        text.push_str(&format!(
            "; gift = value {} less consideration {} (s.78)",
            pounds(f.value),
            pounds(f.consideration)
        ));
    }
    // s.81(1)(b): the value now of the property given (the gift's share of it, s.78(2)),
    // when greater than the value at the time adjusted for the value of money.
    let value_now = match f.value_now {
        Some(now) if gift_amount > 0 && f.value > 0 => Some(share_of(now, gift_amount, f.value)),
        _ => None,
    };
    let mut counted = if tainted { up.uplifted } else { 0 };
    if let (true, Some(now)) = (tainted, value_now) {
        let share = if gift_amount == f.value {
            format!("value now {}", pounds(now))
        } else {
            format!(
                "value now {} × gift share {}/{}, rounded half to even",
                pounds(f.value_now.unwrap_or(0)),
                pounds(gift_amount),
                pounds(f.value)
            )
        };
        if now > up.uplifted {
            counted = now;
            text.push_str(&format!(
                "; s.81(1)(b): {} ({share}) is greater than the {} uplifted, so it is counted",
                pounds(now),
                pounds(up.uplifted)
            ));
        } else {
            text.push_str(&format!(
                "; s.81(1): the {} uplifted is not less than {} ({share}), so it is counted",
                pounds(up.uplifted),
                pounds(now)
            ));
        }
    }
    Ok(GiftScheduleLine {
        gift_id: f.gift_id,
        origin: f.origin,
        date: f.date,
        recipient: f.recipient,
        description: f.description,
        value_at_gift: f.value,
        consideration: f.consideration,
        gift_amount,
        month: up.month,
        index_at_gift: up.index_from,
        index_valuation: up.index_to,
        uplifted: up.uplifted,
        value_now,
        tainted,
        rule: text,
        counted,
        source_ref: f.source_ref,
        exhibit: f.exhibit,
    })
}

/// `now × part / whole` in pence, rounded half to even (`whole` > 0).
fn share_of(now: i64, part: i64, whole: i64) -> i64 {
    let num = i128::from(now) * i128::from(part);
    let den = i128::from(whole);
    let q = num.div_euclid(den);
    let r = num.rem_euclid(den);
    let twice = 2 * r;
    let up = twice > den || (twice == den && q % 2 != 0);
    let q = if up { q + 1 } else { q };
    i64::try_from(q).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::share_of;

    #[test]
    fn the_gift_share_of_the_value_now_rounds_half_to_even() {
        // 4,000.00 now × 2,500/3,000 = 3,333.333… → 3,333.33
        assert_eq!(share_of(400_000, 250_000, 300_000), 333_333);
        // 0.05 × 1/2 = 0.025 → 0.02 (even); 0.15 × 1/2 = 0.075 → 0.08 (even)
        assert_eq!(share_of(5, 1, 2), 2);
        assert_eq!(share_of(15, 1, 2), 8);
        assert_eq!(share_of(1_000, 7, 7), 1_000);
    }
}
