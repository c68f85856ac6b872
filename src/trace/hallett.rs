//! Hallett — Re Hallett's Estate (1880) 13 Ch D 696: the wrongdoer is presumed to spend his
//! own money first. A withdrawal takes clean money first; tainted money leaves only when
//! the clean money in the account is exhausted. Among tainted lots the earliest leaves first.
//!
//! State: one aggregated clean amount and a queue of tainted lots (consecutive lots of the
//! same source merged). O(1) amortised per lot.
//!
//! Nothing replenishes tainted money that has left: a later clean deposit is clean. (A
//! "presumed intention to replenish" would count the same tainted pound twice, once where
//! it went and once back in the account; Roscoe v Winder \[1915\] 1 Ch 62 refused that.)

use std::collections::VecDeque;

use super::engine::{Allocator, Lot};

/// Own (clean) money first.
#[derive(Debug, Default)]
pub struct Hallett {
    clean: i64,
    tainted_lots: VecDeque<Lot>,
    tainted: i64,
}

impl Allocator for Hallett {
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
        let from_clean = self.clean.min(amount);
        if from_clean > 0 {
            out.push(Lot::clean(from_clean));
            self.clean -= from_clean;
            amount -= from_clean;
        }
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
    fn clean_money_is_spent_first_and_not_replenished() {
        // +500 tainted, +200 clean; spend 300 → 200 clean + 100 tainted; 400 tainted left.
        let mut book = AccountBook::<Hallett>::default();
        let mut repaid = Vec::new();
        book.credit(&[tainted(0, 500_00)], &mut repaid);
        book.credit(&[Lot::clean(200_00)], &mut repaid);
        let mut out = Vec::new();
        book.debit(300_00, &mut out);
        assert_eq!(out, vec![Lot::clean(200_00), tainted(0, 100_00)]);
        assert_eq!(book.lots.tainted(), 400_00);
        // A later clean 1,000 does not restore the 100: tainted stays 400.
        book.credit(&[Lot::clean(1_000_00)], &mut repaid);
        assert_eq!(book.lots.tainted(), 400_00);
        out.clear();
        book.debit(900_00, &mut out);
        assert_eq!(out, vec![Lot::clean(900_00)]);
    }
}
