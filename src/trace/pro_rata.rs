//! Pro rata — Barlow Clowes International v Vaughan \[1992\] 4 All ER 22 (the "rolling
//! charge"): each withdrawal is tainted in proportion to the tainted share of the balance
//! just before it, and each tainted origin loses in proportion to its share.
//!
//! Rounding: a withdrawal of W pence from an account holding lots a₀ (clean), a₁ … a_k
//! (tainted, in order of arrival) is split by largest remainder, exactly as [`apportion`]
//! splits it: `floor(W·aᵢ/Σa)` each, then the pence left over one each to the largest
//! remainders, ties to the earlier lot — clean money first, so a tie never adds a penny to
//! the tainted figure. Splits sum exactly to W and no share exceeds its lot.
//!
//! State: one clean amount and one lot per distinct (tainted origin, path) in the account,
//! aggregated on arrival; lots rounded down to zero are dropped.
//!
//! **Cost is bounded by the answer.** A withdrawal's answer is one share per lot it takes
//! from (s lots); the lots that get nothing cost nothing, or at most seven for each one
//! that gets something:
//! - The lots are also kept ordered by (amount, largest first; arrival, earliest first).
//!   A lot gets a whole penny or more exactly when `W·aᵢ ≥ Σa`: those are the top of the
//!   order. Every other lot's remainder is `W·aᵢ` itself, so below them the order *is* the
//!   order of remainders: the left-over pence go to the first entries of a merge of the
//!   sorted remainders of the lots above with the order below. O((1 + s) log k).
//! - When an eighth or more of the lots get a whole penny, or fewer than 64 lots are held,
//!   the order buys nothing: the split is computed by one pass over the lots in arrival
//!   order, O(k) with k ≤ 8s (or k < 64), and the order is set aside. It is rebuilt
//!   (O(k log k)) only when a later withdrawal turns out to take from fewer than an eighth,
//!   paid for by the withdrawal that set it aside.
//!
//! So a withdrawal costs O((1 + s) log k) amortised and a deposit O(log k): O((n + F) log k)
//! over a trace with F flows. F itself — one row per origin per withdrawal, which
//! `trace_flows.csv` must show — can be as large as n·k; no method that writes it is
//! cheaper than it.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use super::engine::{apportion, Allocator, Lot};

/// Below this many lots a withdrawal always makes one pass: the size order costs more than
/// it saves.
const ORDERED_FROM: usize = 64;
/// One pass when at least 1/ONE_PASS_SHARE of the lots get a whole penny.
const ONE_PASS_SHARE: usize = 8;

/// A tainted lot held. Slots are in order of arrival; a lot taken to zero leaves a dead slot
/// (amount 0) until the slots are compacted.
#[derive(Debug, Clone, Copy)]
struct Slot {
    origin: u32,
    path: u32,
    amount: i64,
}

/// In proportion to the tainted share of the balance.
#[derive(Debug, Default)]
pub struct ProRata {
    clean: i64,
    tainted: i64,
    slots: Vec<Slot>,
    /// (origin, path) → slot.
    index: HashMap<(u32, u32), u32>,
    /// Live lots.
    live: usize,
    /// (amount largest first, slot) of every live lot, unless `stale`.
    order: BTreeSet<(Reverse<i64>, u32)>,
    /// The order is set aside (empty) by a one-pass withdrawal or a compaction.
    stale: bool,
    /// Scratch for a withdrawal.
    visited: Vec<Candidate>,
    weights: Vec<i64>,
    shares: Vec<i64>,
}

/// The clean amount (slot `None`) or a lot in the split of one withdrawal.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    remainder: i128,
    slot: Option<u32>,
    share: i64,
}

impl Candidate {
    /// Order of the left-over pence: largest remainder first, ties to the earlier lot,
    /// clean money before every lot.
    fn key(&self) -> (Reverse<i128>, Option<u32>) {
        (Reverse(self.remainder), self.slot)
    }
}

impl ProRata {
    /// Take `pence` from slot `slot`, reporting it; a lot taken to zero dies.
    fn take(&mut self, slot: u32, pence: i64, out: &mut Vec<Lot>) {
        let lot = &mut self.slots[slot as usize];
        if !self.stale {
            self.order.remove(&(Reverse(lot.amount), slot));
        }
        out.push(Lot {
            origin: lot.origin,
            path: lot.path,
            amount: pence,
        });
        lot.amount -= pence;
        self.tainted -= pence;
        if lot.amount > 0 {
            if !self.stale {
                self.order.insert((Reverse(lot.amount), slot));
            }
        } else {
            self.index.remove(&(lot.origin, lot.path));
            self.live -= 1;
        }
    }

    /// Drop dead slots once they outnumber the live ones (amortised O(1) per death).
    fn compact(&mut self) {
        if self.slots.len() > 2 * self.live {
            self.compact_now();
        }
    }

    fn compact_now(&mut self) {
        self.slots.retain(|s| s.amount > 0);
        self.index.clear();
        for (i, s) in self.slots.iter().enumerate() {
            self.index.insert((s.origin, s.path), i as u32);
        }
        self.order.clear();
        self.stale = true;
    }

    fn rebuild_order(&mut self) {
        self.order = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.amount > 0)
            .map(|(i, s)| (Reverse(s.amount), i as u32))
            .collect();
        self.stale = false;
    }

    /// One pass over every slot in arrival order: the rule as [`apportion`] states it.
    /// Returns how many lots were taken from.
    fn withdraw_every_lot(&mut self, amount: i64, out: &mut Vec<Lot>) -> usize {
        self.weights.clear();
        self.weights.push(self.clean);
        self.weights.extend(self.slots.iter().map(|s| s.amount));
        apportion(amount, &self.weights, &mut self.shares);
        if self.shares[0] > 0 {
            out.push(Lot::clean(self.shares[0]));
            self.clean -= self.shares[0];
        }
        let shares = std::mem::take(&mut self.shares);
        let mut taken = 0;
        for (i, &share) in shares[1..].iter().enumerate() {
            if share > 0 {
                taken += 1;
                self.take(i as u32, share, out);
            }
        }
        self.shares = shares;
        taken
    }

    /// Visit only the lots that get something (the order must be current).
    fn withdraw_in_order(&mut self, out: &mut Vec<Lot>, w: i128, total: i128) {
        // 64-bit division when every product fits (W·a ≤ W·Σ).
        let narrow = w * total <= i128::from(i64::MAX);
        let split = |a: i64| {
            let product = w * i128::from(a);
            if narrow {
                let (p, t) = (product as u64, total as u64);
                (i128::from(p / t), i128::from(p % t))
            } else {
                (product / total, product % total)
            }
        };
        let mut visited = std::mem::take(&mut self.visited);
        visited.clear();
        let (clean_share, clean_rem) = split(self.clean);
        visited.push(Candidate {
            remainder: clean_rem,
            slot: None,
            share: clean_share as i64,
        });
        let mut given = clean_share;
        let mut first_small = None;
        for &(Reverse(a), slot) in &self.order {
            if w * i128::from(a) < total {
                first_small = Some((Reverse(a), slot));
                break;
            }
            let (share, remainder) = split(a);
            given += share;
            visited.push(Candidate {
                remainder,
                slot: Some(slot),
                share: share as i64,
            });
        }
        // The pence left over (fewer than the lots) go to the largest remainders. Below the
        // visited lots every remainder is W·a, already in order.
        let mut left = i64::try_from(w - given).unwrap_or(0);
        let visited_len = visited.len();
        visited[..visited_len].sort_unstable_by_key(Candidate::key);
        let mut smaller = first_small
            .into_iter()
            .flat_map(|from| self.order.range(from..))
            .map(|&(Reverse(a), slot)| Candidate {
                remainder: w * i128::from(a),
                slot: Some(slot),
                share: 1,
            })
            .peekable();
        let mut i = 0;
        let mut extra = Vec::new();
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
                extra.push(s);
            } else {
                debug_assert!(false, "pence left over with no remainder to give them to");
                break;
            }
            left -= 1;
        }
        visited.extend(extra);
        // Clean first, then the lots in order of arrival.
        visited.retain(|c| c.share > 0);
        visited.sort_unstable_by_key(|c| c.slot);
        for c in &visited {
            match c.slot {
                None => {
                    out.push(Lot::clean(c.share));
                    self.clean -= c.share;
                }
                Some(slot) => self.take(slot, c.share, out),
            }
        }
        self.visited = visited;
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
            Some(&slot) => {
                let held = &mut self.slots[slot as usize];
                if !self.stale {
                    self.order.remove(&(Reverse(held.amount), slot));
                    self.order.insert((Reverse(held.amount + lot.amount), slot));
                }
                held.amount += lot.amount;
            }
            None => {
                let slot = self.slots.len() as u32;
                self.slots.push(Slot {
                    origin: lot.origin,
                    path: lot.path,
                    amount: lot.amount,
                });
                self.index.insert((lot.origin, lot.path), slot);
                self.live += 1;
                if !self.stale {
                    self.order.insert((Reverse(lot.amount), slot));
                }
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
        let w = i128::from(amount);
        let total = i128::from(self.clean) + i128::from(self.tainted);
        let one_pass = self.live < ORDERED_FROM || self.stale || {
            let enough = self.live / ONE_PASS_SHARE;
            self.order
                .iter()
                .take(enough + 1)
                .take_while(|(Reverse(a), _)| w * i128::from(*a) >= total)
                .count()
                > enough
        };
        if one_pass {
            let live = self.live;
            if !self.stale {
                self.order.clear();
                self.stale = true;
            }
            if self.slots.len() > live {
                // The pass is over live lots only (compaction costs what the pass does).
                self.compact_now();
            }
            let taken = self.withdraw_every_lot(amount, out);
            if self.live >= ORDERED_FROM && taken * ONE_PASS_SHARE < live {
                // A withdrawal that took from few of many lots, on an order set aside:
                // rebuild it, so the next such withdrawal visits only what it takes from.
                self.compact();
                self.rebuild_order();
            }
        } else {
            self.withdraw_in_order(out, w, total);
        }
        self.compact();
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
        out.extend(self.slots.iter().filter(|s| s.amount > 0).map(|s| Lot {
            origin: s.origin,
            path: s.path,
            amount: s.amount,
        }));
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
