//! LIBR — the lowest intermediate balance rule, Roscoe v Winder \[1915\] 1 Ch 62, taken with
//! the claimant's election to follow tainted money out (Re Oatway \[1903\] 2 Ch 356).
//!
//! The tainted money in an account can never exceed the lowest balance the account has
//! reached since that money went in; a later clean deposit does not replenish it; a zero or
//! overdrawn balance ends the trace of what was there. LIBR is a limit, not an order of
//! spending: paired with "clean money first" its figures are exactly Hallett's (see
//! `docs/tracing.md`). This method pairs it with the claimant's election — a withdrawal
//! takes the tainted money in the account first, earliest origin first, then clean — so
//! the column shows the most that can be followed *out* of the account, where Hallett shows
//! the most that can be claimed as *remaining* in it. Both respect the LIBR limit.
//!
//! State: one aggregated clean amount and a queue of tainted lots. O(1) amortised per lot.

use std::collections::VecDeque;

use super::engine::{Allocator, Lot};

/// Tainted money first, never above the lowest intermediate balance.
#[derive(Debug, Default)]
pub struct Libr {
    clean: i64,
    tainted_lots: VecDeque<Lot>,
    tainted: i64,
}

impl Allocator for Libr {
    fn deposit(&mut self, lot: Lot) {
        if lot.amount <= 0 {
            return;
        }
        if lot.is_clean() {
            self.clean += lot.amount;
            return;
        }
        self.tainted += lot.amount;
        match self.tainted_lots.back_mut() {
            Some(back) if back.same_source(&lot) => back.amount += lot.amount,
            _ => self.tainted_lots.push_back(lot),
        }
    }

    fn withdraw(&mut self, mut amount: i64, out: &mut Vec<Lot>) {
        debug_assert!(amount <= self.funded());
        while amount > 0 {
            let Some(front) = self.tainted_lots.front_mut() else {
                break;
            };
            let take = front.amount.min(amount);
            out.push(Lot {
                amount: take,
                ..*front
            });
            front.amount -= take;
            if front.amount == 0 {
                self.tainted_lots.pop_front();
            }
            self.tainted -= take;
            amount -= take;
        }
        if amount > 0 {
            out.push(Lot::clean(amount));
            self.clean -= amount;
        }
    }

    fn funded(&self) -> i64 {
        self.clean + self.tainted
    }

    fn tainted(&self) -> i64 {
        self.tainted
    }

    fn holdings(&self, out: &mut Vec<Lot>) {
        if self.clean > 0 {
            out.push(Lot::clean(self.clean));
        }
        out.extend(self.tainted_lots.iter().copied());
    }
}

// Amounts in tests are pence written as pounds_pence: 1_164_02 is £1,164.02.
#[cfg(test)]
#[allow(clippy::inconsistent_digit_grouping)]
mod tests {
    use super::*;
    use crate::trace::engine::AccountBook;

    fn tainted(origin: u32, amount: i64) -> Lot {
        Lot {
            origin,
            path: 0,
            amount,
        }
    }

    #[test]
    fn a_later_clean_deposit_does_not_replenish() {
        // +1,000 tainted; spend 900 (balance 100, the lowest); +5,000 clean.
        let mut book = AccountBook::<Libr>::default();
        let mut repaid = Vec::new();
        book.credit(&[tainted(0, 1_000_00)], &mut repaid);
        let mut out = Vec::new();
        book.debit(900_00, &mut out);
        assert_eq!(out, vec![tainted(0, 900_00)]);
        book.credit(&[Lot::clean(5_000_00)], &mut repaid);
        // Tainted is capped at the lowest balance since it went in: 100, not 1,000.
        assert_eq!(book.lots.tainted(), 100_00);
        out.clear();
        book.debit(300_00, &mut out);
        assert_eq!(out, vec![tainted(0, 100_00), Lot::clean(200_00)]);
        assert_eq!(book.lots.tainted(), 0);
    }

    #[test]
    fn an_overdraft_ends_the_trace() {
        let mut book = AccountBook::<Libr>::default();
        let mut repaid = Vec::new();
        book.credit(&[tainted(0, 400_00)], &mut repaid);
        let mut out = Vec::new();
        // 600 out of 400: the account is 200 overdrawn; all 400 tainted left with the payment.
        assert_eq!(book.debit(600_00, &mut out), 200_00);
        assert_eq!(book.lots.tainted(), 0);
        // A clean 1,000 repays the 200; the remaining 800 is clean: nothing is revived.
        book.credit(&[Lot::clean(1_000_00)], &mut repaid);
        assert_eq!(repaid, vec![Lot::clean(200_00)]);
        assert_eq!(book.balance(), 800_00);
        assert_eq!(book.lots.tainted(), 0);
    }
}
