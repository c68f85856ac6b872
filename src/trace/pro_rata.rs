//! Pro rata — Barlow Clowes International v Vaughan [1992] 4 All ER 22 (the "rolling
//! charge"): each withdrawal is tainted in proportion to the tainted share of the balance
//! just before it, and each tainted origin loses in proportion to its share.
//!
//! Rounding: a withdrawal of W pence from an account holding lots a₀ (clean), a₁ … a_k
//! (tainted, in order of arrival) is split by [`apportion`]: `floor(W·aᵢ/Σa)` each, then the
//! pence left over one each to the largest remainders, ties to the earlier lot — clean money
//! first, so a tie never adds a penny to the tainted figure. Splits sum exactly to W.
//!
//! State: one clean amount and one lot per distinct (tainted origin, path) in the account,
//! aggregated on arrival; lots rounded down to zero are dropped. A withdrawal costs
//! O(k log k) for k such lots, and its answer (the split by origin) has k entries anyway,
//! so the cost is bounded by the size of the output.

use std::collections::HashMap;

use super::engine::{apportion, Allocator, Lot};

/// In proportion to the tainted share of the balance.
#[derive(Debug, Default)]
pub struct ProRata {
    clean: i64,
    tainted_lots: Vec<Lot>,
    index: HashMap<(u32, u32), usize>,
    tainted: i64,
    weights: Vec<i64>,
    shares: Vec<i64>,
}

impl ProRata {
    fn reindex(&mut self) {
        self.tainted_lots.retain(|l| l.amount > 0);
        self.index.clear();
        for (i, l) in self.tainted_lots.iter().enumerate() {
            self.index.insert((l.origin, l.path), i);
        }
    }
}

impl Allocator for ProRata {
    fn deposit(&mut self, lot: Lot) {
        if lot.amount <= 0 {
            return;
        }
        if lot.is_clean() {
            self.clean += lot.amount;
            return;
        }
        self.tainted += lot.amount;
        match self.index.get(&(lot.origin, lot.path)) {
            Some(&i) => self.tainted_lots[i].amount += lot.amount,
            None => {
                self.index
                    .insert((lot.origin, lot.path), self.tainted_lots.len());
                self.tainted_lots.push(lot);
            }
        }
    }

    fn withdraw(&mut self, amount: i64, out: &mut Vec<Lot>) {
        debug_assert!(amount <= self.funded());
        if amount <= 0 {
            return;
        }
        if self.tainted == 0 {
            out.push(Lot::clean(amount));
            self.clean -= amount;
            return;
        }
        self.weights.clear();
        self.weights.push(self.clean);
        self.weights
            .extend(self.tainted_lots.iter().map(|l| l.amount));
        apportion(amount, &self.weights, &mut self.shares);
        if self.shares[0] > 0 {
            out.push(Lot::clean(self.shares[0]));
            self.clean -= self.shares[0];
        }
        let mut emptied = false;
        for (lot, &share) in self.tainted_lots.iter_mut().zip(&self.shares[1..]) {
            if share > 0 {
                out.push(Lot {
                    amount: share,
                    ..*lot
                });
                lot.amount -= share;
                self.tainted -= share;
                emptied |= lot.amount == 0;
            }
        }
        if emptied {
            self.reindex();
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
    fn withdrawals_are_tainted_in_proportion_with_exact_pennies() {
        // 100.00 clean, 200.00 tainted(0): a third clean. Spend 100.00 = 10,000p:
        // clean 3,333⅓p → 3,333 (remainder ⅓), tainted 6,666⅔p → 6,666 (remainder ⅔);
        // one penny is left over and goes to the larger remainder: tainted 66.67.
        let mut book = AccountBook::<ProRata>::default();
        let mut repaid = Vec::new();
        book.credit(&[Lot::clean(100_00), tainted(0, 200_00)], &mut repaid);
        let mut out = Vec::new();
        book.debit(100_00, &mut out);
        assert_eq!(out, vec![Lot::clean(33_33), tainted(0, 66_67)]);
        assert_eq!(book.lots.tainted(), 133_33);
        assert_eq!(book.balance(), 200_00);
    }

    #[test]
    fn a_rounding_tie_goes_to_clean_money() {
        // 1.00 clean, 1.00 tainted; spend 0.01: half a penny each, a tie → clean.
        let mut book = AccountBook::<ProRata>::default();
        let mut repaid = Vec::new();
        book.credit(&[tainted(0, 1_00), Lot::clean(1_00)], &mut repaid);
        let mut out = Vec::new();
        book.debit(1, &mut out);
        assert_eq!(out, vec![Lot::clean(1)]);
    }

    #[test]
    fn each_origin_loses_in_proportion() {
        // Origins 0 and 1 hold 30.00 and 10.00, clean 60.00; spend 50.00 = half of each.
        let mut book = AccountBook::<ProRata>::default();
        let mut repaid = Vec::new();
        book.credit(
            &[tainted(0, 30_00), tainted(1, 10_00), Lot::clean(60_00)],
            &mut repaid,
        );
        let mut out = Vec::new();
        book.debit(50_00, &mut out);
        assert_eq!(
            out,
            vec![Lot::clean(30_00), tainted(0, 15_00), tainted(1, 5_00)]
        );
        // All of it: lots emptied are dropped.
        out.clear();
        book.debit(50_00, &mut out);
        assert_eq!(book.lots.funded(), 0);
        let mut held = Vec::new();
        book.lots.holdings(&mut held);
        assert!(held.is_empty());
    }
}
