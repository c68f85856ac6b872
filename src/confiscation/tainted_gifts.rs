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
            let &i = ctx.by_txn.get(id.as_str()).ok_or_else(|| {
                gift_error(
                    g,
                    format!("names {id:?}, which is not in the verified ledger"),
                )
            })?;
            let e = &ctx.entries[i];
            if e.amount >= 0 || !ctx.is_defendant_account(&e.account_id) {
                return Err(gift_error(
                    g,
                    format!("names {id:?}, which is not a payment out of an account the defendant controls"),
                ));
            }
            superseded.insert(id.clone());
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
                source_ref,
                exhibit: g.exhibit.clone(),
            },
        )?;
        out.push((g.date, 0, order, line));
    }
    for e in ctx
        .entries
        .iter()
        .filter(|e| e.amount < 0 && ctx.is_defendant_account(&e.account_id))
    {
        let Some(t) = ctx.transfers_by_debit.get(e.txn_id.as_str()) else {
            continue;
        };
        if superseded.contains(&e.txn_id)
            || e.excluded_reason.is_some()
            || ctx.is_defendant_account(&t.credit_account)
        {
            continue;
        }
        let Some(account) = ctx.case.account(&t.credit_account) else {
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
                recipient: controllers(ctx.case, &t.credit_account),
                description: format!(
                    "transfer {} from {} to {} ({}), an account controlled by an associate; no consideration shown: {}",
                    t.transfer_id, e.account_id, t.credit_account, account.holder, e.description
                ),
                value: -e.amount_base,
                consideration: 0,
                property_was_benefit: false,
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
        tainted,
        rule: text,
        counted: if tainted { up.uplifted } else { 0 },
        source_ref: f.source_ref,
        exhibit: f.exhibit,
    })
}
