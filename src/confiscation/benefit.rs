//! The benefit schedule: what the defendant is taken to have obtained, line by line, and
//! the exclusions schedule: what is not counted, and why.
//!
//! **Criminal lifestyle** (the assumptions of s.10, as the jurisdiction file enables them):
//!
//! - **s.10(2), transferred**: every credit to an account a defendant holds or controls
//!   (`controlled_by` names a subject with role defendant) booked strictly *after* the
//!   relevant day. A credit on the relevant day itself is out; credits after proceedings
//!   started are in (no end date). Not counted, and listed on the exclusions schedule with
//!   every reason that applies: rows excluded at ingest (`excluded_reason`, e.g. a cancelled
//!   money transfer), credits on or before the relevant day, internal transfers (a matched
//!   transfer whose debit is also in a defendant's account: not new benefit), reversals
//!   (`reversal` = true: the defendant's own money coming back), and accepted legitimate
//!   sources (the `legitimate_sources` file, by txn_id or counterparty).
//! - **s.10(3), held**: property in the asset register held by a defendant after the date
//!   of conviction, for the value the register states in `assumed_benefit` (the value
//!   obtained that is not already counted: the investigator says why in `note`), valued at
//!   the month it was first held. A register line without `assumed_benefit` is listed as not
//!   assumed, with its note.
//! - **s.10(4), expenditure**: conservatively, only expenditure that the money shown
//!   entering the account cannot explain. Per defendant account, in ledger order, the
//!   running balance is kept (opening balance: the first reported balance less its row's
//!   movement, else 0). A debit after the relevant day that is not an internal transfer, a
//!   reversal, a row excluded at ingest or an accepted item is *met from the balance* as far
//!   as the balance goes: that money came in as a credit (counted under s.10(2), or listed
//!   as excluded) or was held before, so counting the spending too would count it twice.
//!   Only the part paid beyond the balance (an overdraft, or funds the statements do not
//!   show) is expenditure not funded; later credits to the account repay such parts first
//!   (oldest first), and a repaid part is not counted (the credit that repaid it is already
//!   counted or excluded). What remains unrepaid at the end of the ledger is counted under
//!   s.10(4), per debit, with the repayments shown.
//!
//! **No criminal lifestyle:** the rows named in `[schedule] attributed_txn_ids` (credits),
//! s.6(4)(c), and the credits among the evidence rows of the findings named in
//! `[schedule] attributed_findings` (rule ids, finding ids or `"*"`), each row once. An
//! evidence row that is a debit, a credit to an account no defendant holds or controls, a
//! row excluded at ingest, the credit of an internal transfer, a reversal or an accepted
//! legitimate source is not counted and is listed on the exclusions schedule with its
//! finding and reason. Either list in a criminal lifestyle case is refused: there the s.10
//! assumptions decide the benefit.
//!
//! **Value (s.80):** each line is uplifted ([`super::uplift`]); where an asset register line
//! names benefit lines in `represents` and the value now of the defendant's interest in it
//! is greater than their uplifted total, an `s.80(2)(b)` line adds the difference.

use std::collections::{BTreeMap, BTreeSet};

use super::reference::{AssetKind, LegitimateMatch};
use super::{pounds, share_of, BenefitLine, Context, Entry, ExclusionLine, ScheduleError};
use crate::trace::normalise_name;

/// The benefit and exclusions schedules, and the method notes they add.
#[derive(Debug, Clone, Default)]
pub struct BenefitSchedule {
    pub lines: Vec<BenefitLine>,
    pub exclusions: Vec<ExclusionLine>,
    /// Paragraphs for the method statement: assumptions made and not made.
    pub method: Vec<String>,
}

/// Build the benefit and exclusions schedules.
pub(crate) fn benefit(ctx: &Context<'_>) -> Result<BenefitSchedule, ScheduleError> {
    check_legitimate(ctx)?;
    let mut out = BenefitSchedule::default();
    if ctx.case.lifestyle {
        refuse_attribution(ctx)?;
        lifestyle(ctx, &mut out)?;
    } else {
        particular_conduct(ctx, &mut out)?;
    }
    representing_property(ctx, &mut out)?;
    Ok(out)
}

/// A criminal lifestyle case attributes nothing by hand: the s.10 assumptions decide its
/// benefit, so rows or findings named for particular conduct would be silently unused.
fn refuse_attribution(ctx: &Context<'_>) -> Result<(), ScheduleError> {
    let o = &ctx.reference.options;
    for (key, given) in [
        (
            "schedule.attributed_txn_ids",
            !o.attributed_txn_ids.is_empty(),
        ),
        (
            "schedule.attributed_findings",
            !o.attributed_findings.is_empty(),
        ),
    ] {
        if given {
            return Err(ScheduleError::Case {
                key: key.into(),
                problem: "is given, but the case is a criminal lifestyle case ([case] lifestyle = true), where the s.10 assumptions decide the benefit; remove it, or set lifestyle = false if the court is asked about particular criminal conduct only".into(),
            });
        }
    }
    Ok(())
}

/// Every legitimate source naming a txn_id must name a ledger row.
fn check_legitimate(ctx: &Context<'_>) -> Result<(), ScheduleError> {
    for l in &ctx.reference.legitimate {
        if let LegitimateMatch::TxnId(id) = &l.matcher {
            if ctx.ledger_row(id).is_none() {
                return Err(ScheduleError::Reference {
                    file: l.file.clone(),
                    line: l.line,
                    field: "value".into(),
                    problem: format!("names txn_id {id:?}, which is not in the verified ledger"),
                });
            }
        }
    }
    Ok(())
}

/// The accepted legitimate source matching a row, if any: (reason, evidence).
fn legitimate_match(ctx: &Context<'_>, e: &Entry<'_>) -> Option<(String, String)> {
    let key = e.counterparty_name.map(normalise_name);
    ctx.reference.legitimate.iter().find_map(|l| {
        let in_window = l.from.is_none_or(|f| e.booking_date >= f)
            && l.until.is_none_or(|u| e.booking_date <= u);
        let hit = match &l.matcher {
            LegitimateMatch::TxnId(id) => id == e.txn_id,
            LegitimateMatch::Counterparty(name) => {
                e.amount > 0 && in_window && key.as_deref() == Some(normalise_name(name).as_str())
            }
        };
        hit.then(|| {
            (
                format!(
                    "accepted legitimate source: {} ({} line {})",
                    l.reason, l.file, l.line
                ),
                l.evidence_ref.clone(),
            )
        })
    })
}

fn exclusion(
    category: &'static str,
    e: &Entry<'_>,
    reason: String,
    evidence: String,
) -> ExclusionLine {
    ExclusionLine {
        category,
        account_id: Some(e.account_id.to_string()),
        date: Some(e.booking_date),
        txn_id: Some(e.txn_id.to_string()),
        amount: e.amount_base,
        description: e.description.to_string(),
        counterparty: e.counterparty_name.map(str::to_string),
        channel: Some(e.channel.to_string()),
        reason,
        evidence_ref: evidence,
        source_ref: e.source_ref(),
        exhibit: Context::exhibit(e),
    }
}

fn ledger_line(
    ctx: &Context<'_>,
    section: &str,
    kind: &'static str,
    e: &Entry<'_>,
    historic: i64,
    reason: String,
) -> Result<BenefitLine, ScheduleError> {
    let up = ctx
        .valuation
        .uplift(historic, e.booking_date, &format!("row {}", e.txn_id))?;
    Ok(BenefitLine {
        section: section.to_string(),
        kind,
        account_id: Some(e.account_id.to_string()),
        date: e.booking_date,
        txn_id: Some(e.txn_id.to_string()),
        description: e.description.to_string(),
        counterparty: e.counterparty_name.map(str::to_string),
        channel: Some(e.channel.to_string()),
        historic,
        month: Some(up.month),
        index_obtained: Some(up.index_from),
        index_valuation: Some(up.index_to),
        uplifted: up.uplifted,
        value: up.uplifted,
        basis: "s.80(2)(a): value when obtained, adjusted by the index".into(),
        reason,
        source_ref: e.source_ref(),
        exhibit: Context::exhibit(e),
    })
}

/// A part of a debit paid beyond the balance, waiting to be repaid by later credits.
struct Shortfall {
    /// Index into `candidates`, or `None` for a shortfall that is not expenditure (before
    /// the window, an internal transfer, a reversal, an accepted item).
    candidate: Option<usize>,
    remaining: i64,
}

/// An s.10(4) candidate: a debit after the relevant day paid partly beyond the balance.
struct Candidate {
    entry: usize,
    unfunded: i64,
    repaid: i64,
    repaid_by: Vec<String>,
    note: String,
    /// An accepted legitimate source naming the debit: listed as excluded, not counted.
    accepted: Option<(String, String)>,
}

fn lifestyle(ctx: &Context<'_>, out: &mut BenefitSchedule) -> Result<(), ScheduleError> {
    let j = ctx.jurisdiction;
    let rd = ctx.relevant_day.day;
    let started = ctx.case.proceedings_started;
    let transferred = j.assumption("transferred");
    let expenditure = j.assumption("expenditure");
    let held = j.assumption("held");
    let mut ledger_exclusions: Vec<(u64, ExclusionLine)> = Vec::new();
    let mut a1: Vec<BenefitLine> = Vec::new();

    // s.10(2): credits to the defendant's accounts.
    for e in ctx
        .entries
        .iter()
        .filter(|e| e.amount > 0 && ctx.is_defendant_account(e.account_id))
    {
        let mut reasons: Vec<(&'static str, String, String)> = Vec::new();
        if let Some(why) = &e.excluded_reason {
            reasons.push((
                "excluded_at_ingest",
                format!("excluded at ingest: {why}"),
                String::new(),
            ));
        }
        if e.booking_date == rd {
            reasons.push((
                "before_relevant_day",
                format!("booked on the relevant day itself ({rd}): s.10(2) covers property transferred after it"),
                String::new(),
            ));
        } else if e.booking_date < rd {
            reasons.push((
                "before_relevant_day",
                format!(
                    "booked on {}, before the relevant day {rd}: outside s.10(2)",
                    e.booking_date
                ),
                String::new(),
            ));
        }
        if let Some(a) = transferred {
            if a.until == super::jurisdiction::WindowEnd::ProceedingsStarted
                && e.booking_date > started
            {
                reasons.push((
                    "outside_window",
                    format!(
                        "booked after proceedings started on {started}: outside the window of {}",
                        a.section
                    ),
                    String::new(),
                ));
            }
        }
        not_new_benefit(ctx, e, &mut reasons);
        if transferred.is_none() {
            reasons.push((
                "assumption_not_applied",
                "the s.10(2) assumption is not applied (jurisdiction file)".into(),
                String::new(),
            ));
        }
        if let Some((category, _, _)) = reasons.first() {
            let reason = reasons
                .iter()
                .map(|r| r.1.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let evidence = reasons
                .iter()
                .map(|r| r.2.as_str())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            ledger_exclusions.push((e.seq, exclusion(category, e, reason, evidence)));
            continue;
        }
        let mut reason = format!(
            "credit to {}, an account the defendant holds or controls, booked {}, after the relevant day {rd} (s.10(2))",
            e.account_id, e.booking_date
        );
        if e.booking_date > started {
            reason.push_str(&format!(
                "; after proceedings started on {started}: the statute sets no end date"
            ));
        }
        a1.push(ledger_line(
            ctx,
            "s.10(2)",
            "transferred",
            e,
            e.amount_base,
            reason,
        )?);
    }

    // s.10(4): expenditure beyond the money shown entering each account.
    let mut a3: Vec<BenefitLine> = Vec::new();
    if expenditure.is_some() {
        let mut by_account: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, e) in ctx.entries.iter().enumerate() {
            if ctx.is_defendant_account(e.account_id) {
                by_account.entry(e.account_id).or_default().push(i);
            }
        }
        let mut candidates: Vec<Candidate> = Vec::new();
        for account in ctx.case.accounts.iter().map(|a| a.id.as_str()) {
            let Some(rows) = by_account.get(account) else {
                continue;
            };
            account_expenditure(ctx, rows, &mut candidates);
        }
        for c in &candidates {
            let e = &ctx.entries[c.entry];
            if let Some((why, evidence)) = &c.accepted {
                ledger_exclusions.push((
                    e.seq,
                    exclusion(
                        "legitimate_source",
                        e,
                        format!(
                            "expenditure after the relevant day, {} of it beyond the money then in the account, but {why}",
                            pounds(c.unfunded)
                        ),
                        evidence.clone(),
                    ),
                ));
                continue;
            }
            let counted = c.unfunded - c.repaid;
            let paid = -e.amount_base;
            let repaid_text = if c.repaid > 0 {
                format!(
                    "; {} of it repaid later by credits to the account ({}), already counted or excluded, so not counted again",
                    pounds(c.repaid),
                    c.repaid_by.join(", ")
                )
            } else {
                String::new()
            };
            let base = format!(
                "expenditure of {} after the relevant day; {} of it paid beyond the money then in the account (an overdraft or funds the statements do not show){repaid_text}{}",
                pounds(paid),
                pounds(c.unfunded),
                c.note
            );
            if counted > 0 {
                a3.push(ledger_line(
                    ctx,
                    "s.10(4)",
                    "expenditure",
                    e,
                    counted,
                    format!("{base}; {} counted as expenditure not funded by money already counted (s.10(4))", pounds(counted)),
                )?);
            } else {
                ledger_exclusions.push((
                    e.seq,
                    exclusion("expenditure_funded", e, base, String::new()),
                ));
            }
        }
    }

    // s.10(3): property held after conviction.
    let mut a2: Vec<BenefitLine> = Vec::new();
    let mut asset_exclusions: Vec<ExclusionLine> = Vec::new();
    for a in ctx
        .reference
        .assets
        .iter()
        .filter(|a| a.kind == AssetKind::Property && ctx.is_defendant(&a.holder))
    {
        let source_ref = format!("{}:{}", a.file, a.line);
        let not_assumed = |reason: String| ExclusionLine {
            category: "asset_not_assumed",
            account_id: None,
            date: a.acquired,
            txn_id: None,
            amount: a.assumed_benefit.unwrap_or(0),
            description: format!("{}: {}", a.asset_id, a.description),
            counterparty: None,
            channel: None,
            reason,
            evidence_ref: String::new(),
            source_ref: source_ref.clone(),
            exhibit: a.exhibit.clone(),
        };
        let held_after = match ctx.case.conviction {
            None => {
                asset_exclusions.push(not_assumed(
                    "the case gives no date of conviction, so s.10(3) (property held after conviction) cannot be applied".into(),
                ));
                continue;
            }
            Some(c) => match a.disposed {
                Some(d) if d <= c => {
                    asset_exclusions.push(not_assumed(format!(
                        "disposed of on {d}, not held after the conviction on {c}: outside s.10(3)"
                    )));
                    continue;
                }
                _ => c,
            },
        };
        if held.is_none() {
            asset_exclusions.push(not_assumed(
                "the s.10(3) assumption is not applied (jurisdiction file)".into(),
            ));
            continue;
        }
        let (Some(value), Some(acquired)) = (a.assumed_benefit.filter(|v| *v > 0), a.acquired)
        else {
            asset_exclusions.push(not_assumed(format!(
                "held after the conviction on {held_after} but not assumed under s.10(3): {}",
                if a.note.is_empty() {
                    "the register gives no assumed_benefit"
                } else {
                    a.note.as_str()
                }
            )));
            continue;
        };
        let up = ctx
            .valuation
            .uplift(value, acquired, &format!("asset {}", a.asset_id))?;
        a2.push(BenefitLine {
            section: "s.10(3)".into(),
            kind: "held",
            account_id: None,
            date: acquired,
            txn_id: None,
            description: format!("{}: {}", a.asset_id, a.description),
            counterparty: None,
            channel: None,
            historic: value,
            month: Some(up.month),
            index_obtained: Some(up.index_from),
            index_valuation: Some(up.index_to),
            uplifted: up.uplifted,
            value: up.uplifted,
            basis: "s.80(2)(a): value when obtained, adjusted by the index".into(),
            reason: format!(
                "held by the defendant after the conviction on {held_after}; assumed obtained as a result of general criminal conduct when first held on {acquired} (s.10(3)); value obtained per the asset register: {}",
                a.note
            ),
            source_ref,
            exhibit: a.exhibit.clone(),
        });
    }

    out.lines.extend(a1);
    out.lines.extend(a2);
    out.lines.extend(a3);
    ledger_exclusions.sort_by_key(|(seq, _)| *seq);
    out.exclusions
        .extend(ledger_exclusions.into_iter().map(|(_, l)| l));
    out.exclusions.extend(asset_exclusions);

    for (id, what) in [
        ("transferred", "s.10(2) (property transferred after the relevant day): made"),
        ("held", "s.10(3) (property held after conviction): made for the asset register lines with an assumed_benefit"),
        ("expenditure", "s.10(4) (expenditure after the relevant day): made only for expenditure beyond the money shown entering the account and not repaid from it, so that nothing already counted is counted again"),
        ("free_of_interests", "s.10(5) (property valued free of other interests): made"),
    ] {
        match j.assumption(id) {
            Some(a) => out.method.push(format!("Assumption {what}. {}.", a.citation)),
            None => out.method.push(format!("Assumption {id} is not made (the jurisdiction file does not apply it).")),
        }
    }
    if ctx.case.conviction.is_none() {
        out.method.push(
            "No date of conviction is given: the s.10(3) assumption cannot yet be applied.".into(),
        );
    }
    Ok(())
}

/// Walk one account's rows in ledger order for s.10(4), adding its candidates.
fn account_expenditure(ctx: &Context<'_>, rows: &[usize], candidates: &mut Vec<Candidate>) {
    let rd = ctx.relevant_day.day;
    let first = &ctx.entries[rows[0]];
    // Opening balance: the first reported balance less that row's movement, in the base
    // currency (converted at the row's rate for a foreign account).
    let (mut balance, note) = match first.balance {
        Some(b) if first.fx_rate.is_none() => (b - first.amount, String::new()),
        Some(b) => {
            let rate = first.fx_rate.unwrap_or_default();
            let opening = super::convert_at(b - first.amount, rate);
            (
                opening,
                format!(" (opening balance converted at {rate})"),
            )
        }
        None => (
            0,
            "; the statements give no balance for this account, so its opening balance is taken as nil".to_string(),
        ),
    };
    let mut shortfalls: Vec<Shortfall> = Vec::new();
    if balance < 0 {
        shortfalls.push(Shortfall {
            candidate: None,
            remaining: -balance,
        });
    }
    for &i in rows {
        let e = &ctx.entries[i];
        if e.excluded_reason.is_some() {
            continue;
        }
        let amount = e.amount_base;
        if amount >= 0 {
            balance += amount;
            let mut left = amount;
            for s in shortfalls.iter_mut().filter(|s| s.remaining > 0) {
                if left == 0 {
                    break;
                }
                let r = left.min(s.remaining);
                s.remaining -= r;
                left -= r;
                if let Some(c) = s.candidate {
                    candidates[c].repaid += r;
                    candidates[c]
                        .repaid_by
                        .push(format!("{} on {}", e.txn_id, e.booking_date));
                }
            }
            shortfalls.retain(|s| s.remaining > 0);
            continue;
        }
        let paid = -amount;
        let unfunded = (paid - balance.max(0)).max(0);
        balance -= paid;
        if unfunded == 0 {
            continue;
        }
        let is_expenditure = e.booking_date > rd
            && !e.reversal
            && !ctx
                .transfers_by_debit
                .get(e.txn_id)
                .is_some_and(|t| ctx.is_defendant_account(t.credit_account));
        let accepted = legitimate_match(ctx, e);
        let candidate = is_expenditure.then(|| {
            candidates.push(Candidate {
                entry: i,
                unfunded,
                repaid: 0,
                repaid_by: Vec::new(),
                note: note.clone(),
                accepted: accepted.clone(),
            });
            candidates.len() - 1
        });
        // An accepted debit is listed, but its shortfall is not followed.
        let candidate = candidate.filter(|_| accepted.is_none());
        shortfalls.push(Shortfall {
            candidate,
            remaining: unfunded,
        });
    }
}

/// Why a ledger row is attributed to the particular criminal conduct.
#[derive(Debug, Default)]
struct Attribution {
    /// Named in `attributed_txn_ids`.
    listed: bool,
    /// (finding id, rule id) of each named finding the row is evidence of.
    findings: Vec<(String, String)>,
}

fn particular_conduct(ctx: &Context<'_>, out: &mut BenefitSchedule) -> Result<(), ScheduleError> {
    let options = &ctx.reference.options;
    let ids = &options.attributed_txn_ids;
    if ids.is_empty() && options.attributed_findings.is_empty() {
        return Err(ScheduleError::Case {
            key: "schedule.attributed_txn_ids".into(),
            problem: "is empty, and so is schedule.attributed_findings, but the case is not a criminal lifestyle case: name the ledger rows (credits), or the findings (rule ids, finding ids, or \"*\" for every finding), attributed to the particular criminal conduct".into(),
        });
    }
    let mut attributed: BTreeMap<usize, Attribution> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for id in ids {
        let bad = |problem: String| ScheduleError::Case {
            key: "schedule.attributed_txn_ids".into(),
            problem,
        };
        if !seen.insert(id.as_str()) {
            return Err(bad(format!("names {id:?} twice")));
        }
        let i = ctx
            .ledger_row(id)
            .ok_or_else(|| bad(format!("names {id:?}, which is not in the verified ledger")))?;
        let e = &ctx.entries[i];
        if e.amount <= 0 {
            return Err(bad(format!(
                "names {id:?}, a debit; benefit is property obtained, so name the credits"
            )));
        }
        if let Some(why) = &e.excluded_reason {
            return Err(bad(format!(
                "names {id:?}, which ingest excluded ({why}); no money moved"
            )));
        }
        if let Some(t) = ctx.transfers_by_credit.get(id.as_str()) {
            if ctx.is_defendant_account(t.debit_account) {
                return Err(bad(format!(
                    "names {id:?}, the credit of internal transfer {} from the defendant's own account; name the credit where the money first came in",
                    t.transfer_id
                )));
            }
        }
        attributed.entry(i).or_default().listed = true;
    }
    let evidence = attributed_evidence(ctx)?;
    let evidence_rows = evidence.len();
    let findings_named: BTreeSet<&str> = evidence
        .values()
        .flatten()
        .map(|(finding, _)| finding.as_str())
        .collect();
    let findings_named = findings_named.len();
    for (i, findings) in evidence {
        attributed.entry(i).or_default().findings = findings;
    }
    let mut rows: Vec<(usize, Attribution)> = attributed.into_iter().collect();
    rows.sort_by_key(|(i, _)| ctx.entries[*i].seq);
    let (mut counted, mut not_counted) = (0usize, 0usize);
    for (i, a) in rows {
        let e = &ctx.entries[i];
        let of_findings = (!a.findings.is_empty()).then(|| {
            format!(
                "evidence of finding {}, named in schedule.attributed_findings",
                a.findings
                    .iter()
                    .map(|(finding, rule)| format!("{finding} (rule {rule})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
        if a.listed {
            let mut reason = "attributed by the investigator to the particular criminal conduct (case file schedule.attributed_txn_ids)".to_string();
            if let Some(f) = &of_findings {
                reason.push_str(&format!("; also {f}"));
            }
            out.lines.push(ledger_line(
                ctx,
                "s.6(4)(c)",
                "particular_conduct",
                e,
                e.amount_base,
                reason,
            )?);
            continue;
        }
        let of_findings = of_findings.unwrap_or_default();
        let reasons = not_attributable(ctx, e);
        if let Some((category, _, _)) = reasons.first() {
            let why = reasons
                .iter()
                .map(|r| r.1.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let evidence_ref = reasons
                .iter()
                .map(|r| r.2.as_str())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ");
            out.exclusions.push(exclusion(
                category,
                e,
                format!("{of_findings}, not attributed: {why}"),
                evidence_ref,
            ));
            not_counted += 1;
            continue;
        }
        counted += 1;
        out.lines.push(ledger_line(
            ctx,
            "s.6(4)(c)",
            "particular_conduct",
            e,
            e.amount_base,
            format!(
                "{of_findings}: a credit to {}, an account the defendant holds or controls, attributed to the particular criminal conduct",
                e.account_id
            ),
        )?);
    }
    out.method
        .push("No s.10 assumption is made; only the attributed rows are benefit.".into());
    if !options.attributed_findings.is_empty() {
        out.method.push(format!(
            "Findings attributed to the particular criminal conduct (schedule.attributed_findings: {}): findings named: {findings_named}; their evidence rows: {evidence_rows}; rows counted as benefit that attributed_txn_ids does not also name: {counted}; rows not counted, listed on the exclusions schedule with the reason: {not_counted}. Only the credits among a finding's evidence can be benefit; a debit, a credit to an account no defendant holds or controls, a row excluded at ingest, the credit of an internal transfer, a reversal or an accepted legitimate source is not counted. A row named both in attributed_txn_ids and as evidence is counted once.",
            options
                .attributed_findings
                .iter()
                .map(|f| format!("{f:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}

/// The ledger rows that are evidence of the findings named in `attributed_findings`, each
/// with the (finding id, rule id) pairs it is evidence of. Refuses a name that matches no
/// finding of the run, and names given without the detection stage's evidence.
fn attributed_evidence(
    ctx: &Context<'_>,
) -> Result<BTreeMap<usize, Vec<(String, String)>>, ScheduleError> {
    let named = &ctx.reference.options.attributed_findings;
    let mut out: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
    if named.is_empty() {
        return Ok(out);
    }
    let bad = |problem: String| ScheduleError::Case {
        key: "schedule.attributed_findings".into(),
        problem,
    };
    let mut seen = BTreeSet::new();
    for n in named {
        if n.trim().is_empty() {
            return Err(bad("holds an empty name; name a rule id (\"STR-001\"), a finding id from findings.csv, or \"*\" for every finding".into()));
        }
        if !seen.insert(n.as_str()) {
            return Err(bad(format!("names {n:?} twice")));
        }
    }
    let Some(evidence) = ctx.finding_evidence else {
        return Err(bad(
            "names findings, but no finding evidence was supplied to the schedule stage (detection did not run); run `proceeds schedule` or `proceeds run`, which detect first, or name the rows in schedule.attributed_txn_ids".into(),
        ));
    };
    let mut used = vec![false; named.len()];
    for ev in evidence {
        let mut hit = false;
        for (k, n) in named.iter().enumerate() {
            if ev.is_named_by(n) {
                used[k] = true;
                hit = true;
            }
        }
        if !hit {
            continue;
        }
        let i = ctx
            .ledger_row(ev.txn_id)
            .ok_or_else(|| ScheduleError::Input {
                frame: "finding evidence",
                problem: format!(
                    "names txn {} as evidence of finding {}, but it is not in the verified ledger",
                    ev.txn_id, ev.finding_id
                ),
            })?;
        let list = out.entry(i).or_default();
        if !list.iter().any(|(f, _)| *f == ev.finding_id) {
            list.push((ev.finding_id.to_string(), ev.rule_id.to_string()));
        }
    }
    if let Some(k) = used.iter().position(|u| !u) {
        let n = &named[k];
        let rules: BTreeSet<&str> = evidence.iter().map(|e| e.rule_id).collect();
        let found = if rules.is_empty() {
            "detection made no findings in this run".to_string()
        } else {
            format!(
                "rules with findings in this run: {} (findings.csv lists each finding id)",
                rules.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        return Err(bad(if n == "*" {
            format!("names \"*\" (every finding), but {found}; remove it, or name the rows in schedule.attributed_txn_ids")
        } else {
            format!("names {n:?}, but no finding of this run has that rule id or finding id, so it attributes nothing; {found}; remove or correct it")
        }));
    }
    Ok(out)
}

/// Why an evidence row of an attributed finding is not benefit: (category, reason,
/// evidence); empty when it is. A debit is not property obtained; a credit to an account no
/// defendant holds or controls is not the defendant's unless the investigator says so by
/// txn_id; the rest follow the exclusions of s.10(2).
/// The reasons a credit is not new benefit, whether assumed or attributed: an internal
/// transfer from the defendant's own account, a reversal the bank marked, a source the
/// investigator accepted as legitimate.
fn not_new_benefit(
    ctx: &Context<'_>,
    e: &Entry<'_>,
    reasons: &mut Vec<(&'static str, String, String)>,
) {
    if let Some(t) = ctx.transfers_by_credit.get(e.txn_id) {
        if ctx.is_defendant_account(t.debit_account) {
            reasons.push((
                "internal_transfer",
                format!(
                    "internal transfer {} from the defendant's own account {} (row {}): not new benefit",
                    t.transfer_id, t.debit_account, t.debit_txn_id
                ),
                String::new(),
            ));
        }
    }
    if e.reversal {
        reasons.push((
            "reversal",
            "reversal of an earlier entry, as the bank marked it: the defendant's own money returned, not new benefit".into(),
            String::new(),
        ));
    }
    if let Some((why, evidence)) = legitimate_match(ctx, e) {
        reasons.push(("legitimate_source", why, evidence));
    }
}

fn not_attributable(ctx: &Context<'_>, e: &Entry<'_>) -> Vec<(&'static str, String, String)> {
    let mut reasons: Vec<(&'static str, String, String)> = Vec::new();
    if e.amount <= 0 {
        reasons.push((
            "finding_debit",
            "a debit (money out); benefit is property obtained, so only the credits among a finding's evidence are attributed".into(),
            String::new(),
        ));
    }
    if !ctx.is_defendant_account(e.account_id) {
        reasons.push((
            "not_defendant_account",
            format!(
                "{} is not an account a defendant holds or controls",
                e.account_id
            ),
            String::new(),
        ));
    }
    if let Some(why) = &e.excluded_reason {
        reasons.push((
            "excluded_at_ingest",
            format!("excluded at ingest: {why}"),
            String::new(),
        ));
    }
    not_new_benefit(ctx, e, &mut reasons);
    reasons
}

/// s.80(2)(b): where an asset represents benefit lines and is worth more now.
fn representing_property(
    ctx: &Context<'_>,
    out: &mut BenefitSchedule,
) -> Result<(), ScheduleError> {
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    let mut extra = Vec::new();
    for a in ctx
        .reference
        .assets
        .iter()
        .filter(|a| !a.represents.is_empty())
    {
        let bad = |problem: String| ScheduleError::Reference {
            file: a.file.clone(),
            line: a.line,
            field: "represents".into(),
            problem,
        };
        if a.kind != AssetKind::Property {
            return Err(bad("only property can represent benefit".into()));
        }
        let mut uplifted = 0i64;
        let mut idx = Vec::new();
        for id in &a.represents {
            if let Some(other) = claimed.insert(id.clone(), a.asset_id.clone()) {
                return Err(bad(format!(
                    "names {id:?}, which asset {other} already represents"
                )));
            }
            let i = out
                .lines
                .iter()
                .position(|l| {
                    l.txn_id.as_deref() == Some(id.as_str())
                        && matches!(l.kind, "transferred" | "particular_conduct")
                })
                .ok_or_else(|| {
                    bad(format!(
                        "names {id:?}, which is not a counted benefit line (s.10(2) or attributed)"
                    ))
                })?;
            uplifted += out.lines[i].uplifted;
            idx.push(i);
        }
        let net = (a.market_value - a.encumbrances).max(0);
        let now = share_of(net, a.share);
        let greater = now > uplifted;
        for &i in &idx {
            out.lines[i].basis = format!(
                "s.80(2)(a): uplifted; represented by asset {} worth {} now against {} uplifted for the items it represents: {}",
                a.asset_id,
                pounds(now),
                pounds(uplifted),
                if greater { "the value now is greater (see the s.80(2)(b) line)" } else { "the uplifted figure is greater and is used" }
            );
        }
        if greater {
            extra.push(BenefitLine {
                section: "s.80(2)(b)".into(),
                kind: "representing_property",
                account_id: None,
                date: a.valuation_date,
                txn_id: None,
                description: format!("{}: {}", a.asset_id, a.description),
                counterparty: None,
                channel: None,
                historic: 0,
                month: None,
                index_obtained: None,
                index_valuation: None,
                uplifted: 0,
                value: now - uplifted,
                basis: format!(
                    "s.80(2)(b): value now of property representing the benefit, {} (({} − {}) × {}), is greater than the {} uplifted; the difference is added",
                    pounds(now),
                    pounds(a.market_value),
                    pounds(a.encumbrances),
                    a.share.normalize(),
                    pounds(uplifted)
                ),
                reason: format!(
                    "the asset register says {} represents {} ({}:{})",
                    a.asset_id,
                    a.represents.join(", "),
                    a.file,
                    a.line
                ),
                source_ref: format!("{}:{}", a.file, a.line),
                exhibit: a.exhibit.clone(),
            });
        }
    }
    out.lines.extend(extra);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    use super::*;
    use crate::case::{Case, Subject, SubjectRole};
    use crate::confiscation::relevant_day::relevant_day;
    use crate::confiscation::{Jurisdiction, Month, PriceIndex, ReferenceData, Valuation};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// The text of row `seq`: its txn_id `T{seq}` and description `row {seq}`, which the
    /// test keeps while the rows borrow it.
    fn text(seq: u64) -> (String, String) {
        (format!("T{seq}"), format!("row {seq}"))
    }

    fn entry(seq: u64, date: NaiveDate, pence: i64, text: &(String, String)) -> Entry<'_> {
        Entry {
            txn_id: &text.0,
            account_id: "STATEMENT",
            source_file: "s.csv",
            source_line: seq as u32 + 1,
            exhibit: None,
            seq,
            booking_date: date,
            amount: pence,
            currency: "GBP",
            amount_base: pence,
            balance: None,
            channel: "card",
            counterparty_name: None,
            description: &text.1,
            reversal: false,
            excluded_reason: None,
            transfer_id: None,
            fx_rate: None,
            fx_rate_date: None,
        }
    }

    /// Reversals and cancelled rows are excluded; expenditure beyond the balance is counted
    /// only for the part later credits do not repay, oldest shortfall first.
    #[test]
    fn expenditure_beyond_the_balance_less_repayments() {
        let mut case = Case::ad_hoc(std::path::Path::new("Cargo.toml"), "lloyds", "GBP").unwrap();
        case.lifestyle = true;
        case.proceedings_started = day(2025, 3, 14);
        case.subjects.push(Subject {
            id: "D".into(),
            name: "D".into(),
            role: SubjectRole::Defendant,
            date_of_birth: None,
            address: None,
            phone: None,
            aliases: Vec::new(),
        });
        case.accounts[0].controlled_by = vec!["D".into()];
        let j = Jurisdiction::by_id("uk-poca-2002").unwrap();
        let rd = relevant_day(case.proceedings_started, &j.relevant_day).unwrap();
        let mut months = BTreeMap::new();
        for (m, line) in [(1, 4), (2, 5), (3, 6)] {
            months.insert(
                Month {
                    year: 2020,
                    month: m,
                },
                (Decimal::from(100), line),
            );
        }
        let index = PriceIndex {
            file: "cpi.csv".into(),
            series: "test".into(),
            vintage: "test".into(),
            months,
        };
        let valuation = Valuation::new(None, index).unwrap();
        let text: Vec<(String, String)> = (0..=7).map(text).collect();
        let mut entries = vec![
            entry(1, day(2020, 1, 1), 100_000, &text[1]), // +1,000.00: s.10(2); balance 1,000.00
            entry(2, day(2020, 1, 5), -150_000, &text[2]), // −1,500.00: 500.00 beyond the balance
            entry(3, day(2020, 1, 10), 30_000, &text[3]), // +300.00 reversal: excluded, repays 300.00
            entry(4, day(2020, 1, 12), 5_000, &text[4]), // +50.00 cancelled: excluded, moves nothing
            entry(5, day(2020, 2, 1), -10_000, &text[5]), // −100.00: 100.00 beyond the balance
            entry(6, day(2020, 3, 1), 25_000, &text[6]), // +250.00: s.10(2); repays 200.00 then 50.00
            entry(7, day(2020, 3, 5), -30_000, &text[7]), // −300.00 beyond the balance, but accepted
        ];
        entries[2].reversal = true;
        entries[3].excluded_reason = Some("cancelled money transfer");
        let reference = ReferenceData {
            legitimate: vec![crate::confiscation::reference::LegitimateSource {
                file: "legit.csv".into(),
                line: 2,
                matcher: LegitimateMatch::TxnId("T7".into()),
                from: None,
                until: None,
                reason: "loan repayment the prosecution accepts".into(),
                evidence_ref: "E/1".into(),
            }],
            ..ReferenceData::default()
        };
        let ctx = Context {
            case: &case,
            jurisdiction: &j,
            relevant_day: &rd,
            valuation: &valuation,
            reference: &reference,
            entries: &entries,
            by_txn: crate::confiscation::rows::index_by_txn(&entries).unwrap(),
            transfers_by_credit: BTreeMap::new(),
            transfers_by_debit: BTreeMap::new(),
            finding_evidence: None,
            defendant_accounts: ["STATEMENT".to_string()].into(),
        };
        let b = benefit(&ctx).unwrap();
        let lines: Vec<(&str, String, i64)> = b
            .lines
            .iter()
            .map(|l| (l.section.as_str(), l.txn_id.clone().unwrap(), l.value))
            .collect();
        // Debit T2's 500.00 shortfall is repaid by T3 (300.00) and T6 (200.00): not counted.
        // Debit T5's 100.00 shortfall gets the last 50.00 of T6: 50.00 counted.
        assert_eq!(
            lines,
            vec![
                ("s.10(2)", "T1".to_string(), 100_000),
                ("s.10(2)", "T6".to_string(), 25_000),
                ("s.10(4)", "T5".to_string(), 5_000),
            ]
        );
        let excluded: Vec<(&str, String)> = b
            .exclusions
            .iter()
            .map(|l| (l.category, l.txn_id.clone().unwrap()))
            .collect();
        assert_eq!(
            excluded,
            vec![
                ("expenditure_funded", "T2".to_string()),
                ("reversal", "T3".to_string()),
                ("excluded_at_ingest", "T4".to_string()),
                ("legitimate_source", "T7".to_string()),
            ]
        );
        assert!(
            b.exclusions[0].reason.contains("300.00") || b.exclusions[0].reason.contains("500.00")
        );
        assert!(
            b.lines[2].reason.contains("T6 on 2020-03-01"),
            "{}",
            b.lines[2].reason
        );
    }
}
