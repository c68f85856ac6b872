//! LIFO: each withdrawal takes the latest money still in the account first.
//!
//! State: a stack of lots in order of arrival; consecutive lots of the same source are
//! merged. Each withdrawal pops whole lots from the top and splits at most one: amortised
//! O(1) per lot, O(n) per account overall.

use super::engine::{Allocator, Lot};

/// Last in, first out.
#[derive(Debug, Default)]
pub struct Lifo {
    lots: Vec<Lot>,
    funded: i64,
    tainted: i64,
}

impl Allocator for Lifo {
    fn deposit(&mut self, lot: Lot) {
        if lot.amount <= 0 {
            return;
        }
        self.funded += lot.amount;
        if !lot.is_clean() {
            self.tainted += lot.amount;
        }
        match self.lots.last_mut() {
            Some(top) if top.same_source(&lot) => top.amount += lot.amount,
            _ => self.lots.push(lot),
        }
    }

    fn withdraw(&mut self, mut amount: i64, out: &mut Vec<Lot>) {
        debug_assert!(amount <= self.funded);
        while amount > 0 {
            let Some(top) = self.lots.last_mut() else {
                break;
            };
            let take = top.amount.min(amount);
            out.push(Lot {
                amount: take,
                ..*top
            });
            if !top.is_clean() {
                self.tainted -= take;
            }
            top.amount -= take;
            if top.amount == 0 {
                self.lots.pop();
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
    fn latest_money_leaves_first() {
        // +300 tainted(0), +100 clean; withdraw 250: 100 clean, then 150 of origin 0.
        let mut book = AccountBook::<Lifo>::default();
        let mut repaid = Vec::new();
        book.credit(&[tainted(0, 300_00)], &mut repaid);
        book.credit(&[Lot::clean(100_00)], &mut repaid);
        let mut out = Vec::new();
        book.debit(250_00, &mut out);
        assert_eq!(out, vec![Lot::clean(100_00), tainted(0, 150_00)]);
        assert_eq!(book.lots.tainted(), 150_00);
        // A later clean credit sits on top and leaves first.
        book.credit(&[Lot::clean(40_00)], &mut repaid);
        out.clear();
        book.debit(60_00, &mut out);
        assert_eq!(out, vec![Lot::clean(40_00), tainted(0, 20_00)]);
        assert_eq!(book.lots.tainted(), 130_00);
    }
}
