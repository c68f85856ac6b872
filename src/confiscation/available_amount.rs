//! The available amount (POCA 2002 s.9): free property less obligations having priority,
//! plus the value of all tainted gifts.
//!
//! - **Property** (asset register, held by a defendant, not disposed of): value =
//!   (market value − encumbrances) × beneficial share, rounded half to even to the penny;
//!   negative equity counts nil (the excess debt is not an obligation having priority).
//!   Property held by someone else is listed at nil with the reason.
//! - **Bank balances** of every account a defendant holds or controls: the last balance the
//!   bank reported (on the account's last ledger row), or, where the last row carries none,
//!   the opening balance (first reported balance less its row, else nil) plus every movement;
//!   the basis says which. A foreign-currency balance is converted at the rate of the last
//!   row (`fx_rate`), half to even. The defendant's share (`[schedule] account_shares`,
//!   default 1) is applied. An overdrawn account counts nil: an ordinary debt is not an
//!   obligation having priority.
//! - **Obligations having priority** (asset register `priority_obligation`): deducted.
//! - **Tainted gifts**: the total of the tainted-gifts schedule.

use rust_decimal::Decimal;

use super::reference::AssetKind;
use super::{
    convert_at, pounds, share_of, AvailableLine, Context, GiftScheduleLine, ScheduleError,
};

/// The available-amount lines, in order: property and obligations (register order), bank
/// balances (case-file order of accounts), tainted gifts.
pub(crate) fn available_amount(
    ctx: &Context<'_>,
    gifts: &[GiftScheduleLine],
) -> Result<Vec<AvailableLine>, ScheduleError> {
    let mut out = Vec::new();
    for a in &ctx.reference.assets {
        let source_ref = format!("{}:{}", a.file, a.line);
        let holder_name = ctx
            .case
            .subjects
            .iter()
            .find(|s| s.id == a.holder)
            .map_or(a.holder.clone(), |s| s.name.clone());
        let mut line = AvailableLine {
            kind: a.kind.as_str(),
            item_id: a.asset_id.clone(),
            description: a.description.clone(),
            holder: holder_name.clone(),
            valuation_date: Some(a.valuation_date),
            market_value: Some(a.market_value),
            encumbrances: Some(a.encumbrances),
            share: Some(a.share),
            value: 0,
            basis: String::new(),
            source_ref,
            exhibit: a.exhibit.clone(),
        };
        if !ctx.is_defendant(&a.holder) {
            line.basis = format!(
                "held by {holder_name}, not the defendant: not the defendant's free property (a gift to them belongs on the tainted gifts schedule)"
            );
        } else if a.kind == AssetKind::PriorityObligation {
            line.value = -a.market_value;
            line.basis = format!(
                "obligation having priority, deducted: {}",
                ctx.jurisdiction.citations.priority_obligations
            );
            line.encumbrances = None;
            line.share = None;
        } else if let Some(d) = a.disposed {
            line.basis = format!("disposed of on {d}: no longer held, nil");
        } else {
            let net = a.market_value - a.encumbrances;
            if net <= 0 {
                line.basis = format!(
                    "market value {} less encumbrances {} is nil or negative: valued at nil",
                    pounds(a.market_value),
                    pounds(a.encumbrances)
                );
            } else {
                line.value = share_of(net, a.share);
                line.basis = format!(
                    "({} − {}) × {} = {}, rounded half to even to the penny",
                    pounds(a.market_value),
                    pounds(a.encumbrances),
                    a.share.normalize(),
                    pounds(line.value)
                );
            }
        }
        out.push(line);
    }

    for account in ctx
        .case
        .accounts
        .iter()
        .filter(|a| ctx.is_defendant_account(&a.id))
    {
        let rows: Vec<_> = ctx
            .entries
            .iter()
            .filter(|e| e.account_id == account.id)
            .collect();
        let Some(last) = rows.iter().max_by_key(|e| e.seq) else {
            continue;
        };
        let (in_currency, how) = match last.balance {
            Some(b) => (
                b,
                format!(
                    "last balance reported by the bank, {} ({})",
                    last.booking_date,
                    last.source_ref()
                ),
            ),
            None => {
                let first = rows.iter().min_by_key(|e| e.seq).copied().unwrap_or(*last);
                let (opening, from) = match first.balance {
                    Some(b) => (
                        b - first.amount,
                        "the opening balance (first reported balance less its row)",
                    ),
                    None => (
                        0,
                        "a nil opening balance (the statements report no balance)",
                    ),
                };
                let moved: i64 = rows
                    .iter()
                    .filter(|e| e.excluded_reason.is_none())
                    .map(|e| e.amount)
                    .sum();
                (
                    opening + moved,
                    format!(
                        "no closing balance reported: {from} plus every movement to {}",
                        last.booking_date
                    ),
                )
            }
        };
        let (base, conversion) = match last.fx_rate {
            Some(rate) => (
                convert_at(in_currency, rate),
                format!(
                    "; {} {} converted at {rate} {} per {} (rate of {}), half to even",
                    pounds(in_currency),
                    account.currency,
                    ctx.case.base_currency,
                    account.currency,
                    last.fx_rate_date.map_or(String::new(), |d| d.to_string())
                ),
            ),
            None => (in_currency, String::new()),
        };
        let share = ctx
            .reference
            .options
            .account_shares
            .get(&account.id)
            .copied()
            .unwrap_or(Decimal::ONE);
        let (value, tail) = if base < 0 {
            (
                0,
                "; overdrawn: an ordinary debt, not an obligation having priority, so nil (s.9)"
                    .to_string(),
            )
        } else if share != Decimal::ONE {
            let v = share_of(base, share);
            (
                v,
                format!("; defendant's share {} = {}", share.normalize(), pounds(v)),
            )
        } else {
            (base, String::new())
        };
        out.push(AvailableLine {
            kind: "bank_balance",
            item_id: account.id.clone(),
            description: format!("{} account held by {}", account.bank, account.holder),
            holder: super::controllers(ctx.case, &account.id),
            valuation_date: Some(last.booking_date),
            market_value: Some(base),
            encumbrances: None,
            share: Some(share),
            value,
            basis: format!("{how}{conversion}{tail}"),
            source_ref: last.source_ref(),
            exhibit: Context::exhibit(last),
        });
    }

    let tainted: i64 = gifts.iter().map(|g| g.counted).sum();
    let count = gifts.iter().filter(|g| g.tainted).count();
    out.push(AvailableLine {
        kind: "tainted_gifts",
        item_id: "TAINTED-GIFTS".into(),
        description: format!("total of the {count} tainted gifts on the Tainted Gifts schedule"),
        holder: String::new(),
        valuation_date: None,
        market_value: None,
        encumbrances: None,
        share: None,
        value: tainted,
        basis: format!("{} (s.9(1)(b))", ctx.jurisdiction.citations.tainted_gifts),
        source_ref: "Tainted Gifts schedule".into(),
        exhibit: String::new(),
    });
    Ok(out)
}
