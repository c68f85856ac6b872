//! The allocation interface every tracing method implements, and the account book around it.
//!
//! Money in an account is held as *lots*: an amount in pence, the origin it came from (a
//! tainted credit, or clean money) and the path of accounts it has travelled. A method
//! ([`Allocator`]) decides which lots a withdrawal takes; it never sees an overdraft,
//! because [`AccountBook`] only asks it for money the account actually holds. Money paid
//! beyond the funds held is *unfunded* (the bank's money: an overdraft), is recorded as such
//! and is repaid from the next credits. Everything is integer pence; nothing here rounds
//! except [`apportion`], whose rule is stated on it.

/// Origin marker for clean money (not tainted, or of unknown origin).
pub const CLEAN: u32 = u32::MAX;
/// Path marker for "no path" (clean money carries none).
pub const NO_PATH: u32 = u32::MAX;

/// A quantity of money of one origin that travelled one path of accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lot {
    /// Index of the tainted origin, or [`CLEAN`].
    pub origin: u32,
    /// Interned path of accounts, or [`NO_PATH`] for clean money.
    pub path: u32,
    /// Pence, always > 0 inside an account.
    pub amount: i64,
}

impl Lot {
    /// A lot of clean money.
    pub fn clean(amount: i64) -> Lot {
        Lot {
            origin: CLEAN,
            path: NO_PATH,
            amount,
        }
    }

    /// Whether the lot is clean money.
    pub fn is_clean(&self) -> bool {
        self.origin == CLEAN
    }

    /// Whether two lots are the same money source (same origin along the same path).
    pub fn same_source(&self, other: &Lot) -> bool {
        self.origin == other.origin && self.path == other.path
    }
}

/// One tracing method's bookkeeping for one account. Every method implements this.
pub trait Allocator: Default {
    /// Put a lot into the account (after anything already there, in time).
    fn deposit(&mut self, lot: Lot);
    /// Take exactly `amount` pence (`0 ≤ amount ≤ self.funded()`) out of the account,
    /// appending the lots taken to `out`. The amounts appended sum to `amount`.
    fn withdraw(&mut self, amount: i64, out: &mut Vec<Lot>);
    /// Pence held (tainted + clean).
    fn funded(&self) -> i64;
    /// Tainted pence held.
    fn tainted(&self) -> i64;
    /// The lots held, appended to `out` (order is the method's own).
    fn holdings(&self, out: &mut Vec<Lot>);
}

/// An account under one method: the method's lots plus any overdraft.
#[derive(Debug, Default)]
pub struct AccountBook<A: Allocator> {
    /// The method's state.
    pub lots: A,
    /// Pence owed to the bank (≥ 0). While it is > 0 the account holds no lots.
    pub overdraft: i64,
}

impl<A: Allocator> AccountBook<A> {
    /// A book with an opening balance: positive is clean money of unknown origin, negative
    /// an overdraft.
    pub fn with_opening(opening: i64) -> Self {
        let mut book = AccountBook::<A>::default();
        if opening > 0 {
            book.lots.deposit(Lot::clean(opening));
        } else {
            book.overdraft = -opening;
        }
        book
    }

    /// Credit lots. If the account was overdrawn, the overdraft is repaid first, with the
    /// method's own rule, from what came in; the lots that repaid it go to `repaid`.
    pub fn credit(&mut self, incoming: &[Lot], repaid: &mut Vec<Lot>) {
        for lot in incoming.iter().filter(|l| l.amount > 0) {
            self.lots.deposit(*lot);
        }
        if self.overdraft > 0 {
            let repay = self.overdraft.min(self.lots.funded());
            self.lots.withdraw(repay, repaid);
            self.overdraft -= repay;
        }
    }

    /// Debit `amount` pence: the lots taken go to `out`; returns the unfunded part (the
    /// part paid from an overdraft), which is added to the overdraft.
    pub fn debit(&mut self, amount: i64, out: &mut Vec<Lot>) -> i64 {
        let funded = amount.min(self.lots.funded());
        self.lots.withdraw(funded, out);
        let unfunded = amount - funded;
        self.overdraft += unfunded;
        unfunded
    }

    /// The balance: funds held minus overdraft.
    pub fn balance(&self) -> i64 {
        self.lots.funded() - self.overdraft
    }
}

/// Split `total` pence across `weights` in proportion, exactly (largest remainder).
///
/// Each share is first `floor(total × weight / Σweights)`; the pence left over (fewer than
/// the number of weights) go one each to the shares with the largest remainders, ties to
/// the earlier weight. The shares always sum to `total`, and when `total ≤ Σweights` no
/// share exceeds its weight. All weights zero gives all shares zero (then `total` must be 0).
pub fn apportion(total: i64, weights: &[i64], shares: &mut Vec<i64>) {
    shares.clear();
    let sum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
    if sum == 0 {
        debug_assert_eq!(total, 0, "nothing to apportion against");
        shares.resize(weights.len(), 0);
        return;
    }
    let total = i128::from(total);
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    let mut given: i128 = 0;
    let largest = weights
        .iter()
        .map(|&w| i128::from(w).abs())
        .max()
        .unwrap_or(0);
    let fits = total * largest <= i128::from(i64::MAX) && sum <= i128::from(i64::MAX);
    if total >= 0 && weights.iter().all(|&w| w >= 0) && fits {
        // Every product fits in 64 bits: the same arithmetic, without 128-bit division.
        let (total, sum) = (total as u64, sum as u64);
        for (i, &w) in weights.iter().enumerate() {
            let product = total * w as u64;
            let (share, remainder) = (product / sum, product % sum);
            given += i128::from(share);
            shares.push(share as i64);
            if remainder > 0 {
                remainders.push((i128::from(remainder), i));
            }
        }
    } else {
        for (i, &w) in weights.iter().enumerate() {
            let product = total * i128::from(w);
            let share = product.div_euclid(sum);
            let remainder = product.rem_euclid(sum);
            given += share;
            shares.push(share as i64);
            if remainder > 0 {
                remainders.push((remainder, i));
            }
        }
    }
    let left = (total - given) as usize;
    if left > 0 {
        // Largest remainder first; ties to the earlier weight. Only the first `left` in
        // that order are needed: select them in O(k) rather than sorting all.
        let order = |a: &(i128, usize), b: &(i128, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if left < remainders.len() {
            remainders.select_nth_unstable_by(left, order);
        }
        for &(_, i) in remainders.iter().take(left) {
            shares[i] += 1;
        }
    }
}

/// Sort lots by (origin, path) and merge those of the same source; drops zero lots.
pub fn merge_lots(lots: &mut Vec<Lot>) {
    lots.retain(|l| l.amount != 0);
    lots.sort_unstable_by_key(|l| (l.origin, l.path));
    lots.dedup_by(|later, earlier| {
        if later.same_source(earlier) {
            earlier.amount += later.amount;
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_is_exact_and_breaks_ties_to_the_earlier_weight() {
        let mut s = Vec::new();
        apportion(100, &[1, 1, 1], &mut s);
        assert_eq!(s, vec![34, 33, 33]);
        apportion(10, &[50, 25, 25], &mut s);
        // 5, 2.5, 2.5 → 5, 3, 2 (the tie between the two halves goes to the earlier).
        assert_eq!(s, vec![5, 3, 2]);
        apportion(7, &[0, 3, 4], &mut s);
        assert_eq!(s, vec![0, 3, 4]);
        apportion(0, &[0, 0], &mut s);
        assert_eq!(s, vec![0, 0]);
    }

    #[test]
    fn merge_lots_adds_same_sources() {
        let mut lots = vec![
            Lot {
                origin: 2,
                path: 1,
                amount: 5,
            },
            Lot::clean(3),
            Lot {
                origin: 2,
                path: 1,
                amount: 7,
            },
            Lot {
                origin: 1,
                path: 1,
                amount: 0,
            },
        ];
        merge_lots(&mut lots);
        assert_eq!(
            lots,
            vec![
                Lot {
                    origin: 2,
                    path: 1,
                    amount: 12
                },
                Lot::clean(3)
            ]
        );
    }
}
