//! FIFO — the rule in Clayton's Case (Devaynes v Noble (1816) 1 Mer 572): each withdrawal
//! takes the earliest money still in the account first.
//!
//! State: a queue of lots in order of arrival. Consecutive lots of the same source (clean
//! money arriving twice in a row, say) are merged, so the queue never holds more lots than
//! the account has had credits. Each withdrawal pops whole lots and splits at most one:
//! amortised O(1) per lot, O(n) per account overall.

use std::collections::VecDeque;

use super::engine::{Allocator, Lot};

/// First in, first out.
#[derive(Debug, Default)]
pub struct Fifo {
    lots: VecDeque<Lot>,
    funded: i64,
    tainted: i64,
}

impl Allocator for Fifo {
    fn deposit(&mut self, lot: Lot) {
        if lot.amount <= 0 {
            return;
        }
        self.funded += lot.amount;
        if !lot.is_clean() {
            self.tainted += lot.amount;
        }
        match self.lots.back_mut() {
            Some(back) if back.same_source(&lot) => back.amount += lot.amount,
            _ => self.lots.push_back(lot),
        }
    }

    fn withdraw(&mut self, mut amount: i64, out: &mut Vec<Lot>) {
        debug_assert!(amount <= self.funded);
        while amount > 0 {
            let Some(front) = self.lots.front_mut() else {
                break;
            };
            let take = front.amount.min(amount);
            out.push(Lot {
                amount: take,
                ..*front
            });
            if !front.is_clean() {
                self.tainted -= take;
            }
            front.amount -= take;
            if front.amount == 0 {
                self.lots.pop_front();
            }
            self.funded -= take;
            amount -= take;
        }
    }

    fn funded(&self) -> i64 {
        self.funded
    }

    fn tainted(&self) -> i64 {
        self.tainted
    }

    fn holdings(&self, out: &mut Vec<Lot>) {
        out.extend(self.lots.iter().copied());
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
    fn earliest_money_leaves_first() {
        // +100 clean, +300 tainted(0), +200 tainted(1); withdraw 250: 100 clean + 150 of origin 0.
        let mut book = AccountBook::<Fifo>::default();
        let mut repaid = Vec::new();
        book.credit(&[Lot::clean(100_00)], &mut repaid);
        book.credit(&[tainted(0, 300_00)], &mut repaid);
        book.credit(&[tainted(1, 200_00)], &mut repaid);
        let mut out = Vec::new();
        assert_eq!(book.debit(250_00, &mut out), 0);
        assert_eq!(out, vec![Lot::clean(100_00), tainted(0, 150_00)]);
        assert_eq!(book.lots.tainted(), 350_00);
        assert_eq!(book.balance(), 350_00);
    }

    #[test]
    fn overdraft_is_unfunded_and_repaid_from_the_next_credit() {
        let mut book = AccountBook::<Fifo>::default();
        let mut repaid = Vec::new();
        book.credit(&[tainted(0, 50_00)], &mut repaid);
        let mut out = Vec::new();
        // Pay 80 with 50 in the account: 50 tainted, 30 unfunded.
        assert_eq!(book.debit(80_00, &mut out), 30_00);
        assert_eq!(out, vec![tainted(0, 50_00)]);
        assert_eq!(book.balance(), -30_00);
        // A tainted credit of 100 repays the 30 first; 70 stays.
        book.credit(&[tainted(1, 100_00)], &mut repaid);
        assert_eq!(repaid, vec![tainted(1, 30_00)]);
        assert_eq!(book.balance(), 70_00);
        assert_eq!(book.lots.tainted(), 70_00);
    }
}
