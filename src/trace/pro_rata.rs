//! Pro rata — Barlow Clowes International v Vaughan [1992] 4 All ER 22 (the "rolling
//! charge"): each withdrawal is tainted in proportion to the tainted share of the balance
//! just before it, and each tainted origin loses in proportion to its share.
//!
//! Rounding: a withdrawal of W pence from an account holding lots a₀ (clean), a₁ … a_k
//! (tainted, in order of arrival) is split by largest remainder, exactly as [`apportion`]
//! would split it: `floor(W·aᵢ/Σa)` each, then the pence left over one each to the largest
//! remainders, ties to the earlier lot — clean money first, so a tie never adds a penny to
//! the tainted figure. Splits sum exactly to W and no share exceeds its lot.
//!
//! State: one clean amount and one lot per distinct (tainted origin, path) in the account,
//! aggregated on arrival; lots rounded down to zero are dropped. The tainted lots are kept
//! ordered by (amount, largest first; arrival, earliest first), which is the order of their
//! remainders among the lots that receive no whole penny (for those the remainder is
//! `W·aᵢ`). So a withdrawal visits only the lots that receive something:
//! - the lots with `W·aᵢ ≥ Σa` (a share of at least one penny), from the top of the order;
//! - the pence left over go to the largest remainders: the clean amount and the lots just
//!   visited are sorted by remainder, and the lots below them are already in remainder
//!   order, so the two lists are merged and only the first `left` entries taken.
//!
//! Cost: O((1 + s) log k) per withdrawal, where s is the number of lots the withdrawal
//! takes from (its answer: one flow per origin and path) and k the lots held; O(log k) per
//! deposit. The lots that receive nothing are never visited.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

#[cfg(doc)]
use super::engine::apportion;
use super::engine::{Allocator, Lot};

/// A tainted lot held: its amount and when it first arrived (for rounding ties).
#[derive(Debug, Clone, Copy)]
struct Held {
    amount: i64,
    arrival: u64,
}

/// In proportion to the tainted share of the balance.
#[derive(Debug, Default)]
pub struct ProRata {
    clean: i64,
    tainted: i64,
    /// (origin, path) → the lot held.
    lots: HashMap<(u32, u32), Held>,
    /// (amount largest first, arrival earliest first) → (origin, path).
    by_size: BTreeMap<(Reverse<i64>, u64), (u32, u32)>,
    arrivals: u64,
    /// Scratch for a withdrawal: the clean amount and the lots due a whole penny.
    visited: Vec<Candidate>,
    /// Scratch for a withdrawal: lots due only a left-over penny.
    extra: Vec<(u32, u32)>,
}

/// A lot (or the clean amount) in the split of one withdrawal.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    remainder: i128,
    /// `None` is clean money, which comes before every lot in a tie.
    arrival: Option<u64>,
    source: (u32, u32),
    share: i64,
}

impl Candidate {
    /// Order of the left-over pence: largest remainder first, ties to the earlier lot.
    fn key(&self) -> (Reverse<i128>, Option<u64>) {
        (Reverse(self.remainder), self.arrival)
    }
}

impl ProRata {
    fn set(&mut self, source: (u32, u32), held: Held) {
        self.by_size
            .insert((Reverse(held.amount), held.arrival), source);
        self.lots.insert(source, held);
    }

    fn take(&mut self, source: (u32, u32), pence: i64, out: &mut Vec<Lot>) {
        let Some(held) = self.lots.get(&source).copied() else {
            debug_assert!(false, "a share for a lot not held");
            return;
        };
        self.by_size.remove(&(Reverse(held.amount), held.arrival));
        out.push(Lot {
            origin: source.0,
            path: source.1,
            amount: pence,
        });
        self.tainted -= pence;
        if held.amount > pence {
            self.set(
                source,
                Held {
                    amount: held.amount - pence,
                    ..held
                },
            );
        } else {
            self.lots.remove(&source);
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
        let source = (lot.origin, lot.path);
        let held = match self.lots.get(&source).copied() {
            Some(held) => {
                self.by_size.remove(&(Reverse(held.amount), held.arrival));
                Held {
                    amount: held.amount + lot.amount,
                    ..held
                }
            }
            None => {
                self.arrivals += 1;
                Held {
                    amount: lot.amount,
                    arrival: self.arrivals,
                }
            }
        };
        self.set(source, held);
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
        let w = i128::from(amount);
        let total = i128::from(self.clean) + i128::from(self.tainted);
        let split = |a: i64| {
            let product = w * i128::from(a);
            (product / total, product % total)
        };
        // The clean amount and every lot due at least one whole penny (W·a ≥ Σa).
        let mut visited = std::mem::take(&mut self.visited);
        visited.clear();
        let (clean_share, clean_rem) = split(self.clean);
        visited.push(Candidate {
            remainder: clean_rem,
            arrival: None,
            source: (super::engine::CLEAN, super::engine::NO_PATH),
            share: clean_share as i64,
        });
        let mut given = clean_share;
        let mut first_small = None;
        for (&(Reverse(a), arrival), &source) in &self.by_size {
            if w * i128::from(a) < total {
                first_small = Some((Reverse(a), arrival));
                break;
            }
            let (share, remainder) = split(a);
            given += share;
            visited.push(Candidate {
                remainder,
                arrival: Some(arrival),
                source,
                share: share as i64,
            });
        }
        // The pence left over (fewer than the lots): to the largest remainders. Below the
        // visited lots every remainder is W·a, already in order.
        let mut left = (w - given) as usize;
        visited.sort_unstable_by_key(Candidate::key);
        let mut extra = std::mem::take(&mut self.extra);
        extra.clear();
        let mut smaller = first_small
            .into_iter()
            .flat_map(|from| self.by_size.range(from..))
            .map(|(&(Reverse(a), arrival), &source)| Candidate {
                remainder: w * i128::from(a),
                arrival: Some(arrival),
                source,
                share: 0,
            })
            .peekable();
        let mut i = 0;
        while left > 0 {
            let from_visited = match (visited.get(i), smaller.peek()) {
                (Some(v), Some(s)) => v.remainder > 0 && v.key() <= s.key(),
                (Some(v), None) => v.remainder > 0,
                (None, _) => false,
            };
            if from_visited {
                visited[i].share += 1;
                i += 1;
            } else if let Some(s) = smaller.next() {
                extra.push(s.source);
            } else {
                debug_assert!(false, "pence left over with no remainder to give them to");
                break;
            }
            left -= 1;
        }
        drop(smaller);
        // Clean first, then the lots in order of arrival (the order the lots are held in).
        if let Some(c) = visited.iter().find(|c| c.arrival.is_none() && c.share > 0) {
            out.push(Lot::clean(c.share));
            self.clean -= c.share;
        }
        visited.retain(|c| c.arrival.is_some() && c.share > 0);
        for &source in &extra {
            if let Some(h) = self.lots.get(&source) {
                visited.push(Candidate {
                    remainder: 0,
                    arrival: Some(h.arrival),
                    source,
                    share: 1,
                });
            }
        }
        visited.sort_unstable_by_key(|c| c.arrival);
        for c in &visited {
            self.take(c.source, c.share, out);
        }
        self.visited = visited;
        self.extra = extra;
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
        // In order of arrival, as they came in.
        let mut held: Vec<(u64, Lot)> = self
            .lots
            .iter()
            .map(|(&(origin, path), h)| {
                (
                    h.arrival,
                    Lot {
                        origin,
                        path,
                        amount: h.amount,
                    },
                )
            })
            .collect();
        held.sort_unstable_by_key(|&(arrival, _)| arrival);
        out.extend(held.into_iter().map(|(_, lot)| lot));
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
