//! The recoverable amount (POCA 2002 s.7): the benefit, unless the available amount is
//! less, in which case the available amount; and which of the two it is.
//!
//! Every total here is the sum of its schedule's lines (pence), so each reconciles to the
//! penny with the lines beneath it. The available amount is never below nil.

use super::{AvailableLine, BenefitLine, GiftScheduleLine, Totals};

/// The totals of the schedules and the recoverable amount.
pub(crate) fn totals(
    benefit: &[BenefitLine],
    available: &[AvailableLine],
    gifts: &[GiftScheduleLine],
) -> Totals {
    let sum_kind = |kind: &str| -> i64 {
        available
            .iter()
            .filter(|l| l.kind == kind)
            .map(|l| l.value)
            .sum()
    };
    let benefit_total: i64 = benefit.iter().map(|l| l.value).sum();
    let available_lines: i64 = available.iter().map(|l| l.value).sum();
    let available_amount = available_lines.max(0);
    let (recoverable, recoverable_is) = if available_amount < benefit_total {
        (available_amount, "available amount")
    } else {
        (benefit_total, "benefit")
    };
    Totals {
        benefit_historic: benefit.iter().map(|l| l.historic).sum(),
        benefit_uplifted: benefit.iter().map(|l| l.uplifted).sum(),
        benefit: benefit_total,
        free_property: sum_kind("property"),
        bank_balances: sum_kind("bank_balance"),
        priority_obligations: sum_kind("priority_obligation"),
        tainted_gifts: gifts.iter().map(|g| g.counted).sum(),
        available_lines,
        available: available_amount,
        recoverable,
        recoverable_is,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available(value: i64) -> AvailableLine {
        AvailableLine {
            kind: "property",
            item_id: "A".into(),
            description: String::new(),
            holder: String::new(),
            valuation_date: None,
            market_value: None,
            encumbrances: None,
            share: None,
            value,
            basis: String::new(),
            source_ref: String::new(),
            exhibit: String::new(),
        }
    }

    #[test]
    fn lower_of_benefit_and_available() {
        let t = totals(&[], &[available(500)], &[]);
        // Benefit nil, available 5.00: the recoverable amount is the benefit.
        assert_eq!((t.recoverable, t.recoverable_is), (0, "benefit"));
        let t = totals(&[], &[available(-500)], &[]);
        assert_eq!((t.available_lines, t.available), (-500, 0));
    }
}
