//! Running one method over the prepared events: each account's book, transfers carrying
//! their composition to the receiving account, and the record of every split.

use std::collections::HashMap;

use super::engine::{apportion, merge_lots, AccountBook, Allocator, Lot, NO_PATH};
use super::fifo::Fifo;
use super::hallett::Hallett;
use super::libr::Libr;
use super::lifo::Lifo;
use super::prepare::{Prepared, NONE};
use super::pro_rata::ProRata;
use super::{Method, TraceError};

/// Paths of accounts, interned: each path is (parent path, account).
#[derive(Debug, Default)]
pub(crate) struct Paths {
    nodes: Vec<(u32, u32)>,
    index: HashMap<(u32, u32), u32>,
}

impl Paths {
    /// The path `parent > account` (`parent` may be [`NO_PATH`]).
    pub fn extend(&mut self, parent: u32, account: u32) -> u32 {
        if let Some(&id) = self.index.get(&(parent, account)) {
            return id;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push((parent, account));
        self.index.insert((parent, account), id);
        id
    }

    /// Accounts of a path, first to last.
    pub fn accounts(&self, mut path: u32) -> Vec<u32> {
        let mut out = Vec::new();
        while path != NO_PATH {
            let (parent, account) = self.nodes[path as usize];
            out.push(account);
            path = parent;
        }
        out.reverse();
        out
    }
}

/// A tainted part of a debit (or of an overdraft repayment, at the credit's row).
///
/// Packed to 4-byte alignment: 20 bytes, not 24 with the padding an `i64` field would
/// bring (pro rata records 23.5M parts at 10M rows). Fields are read by value; Rust refuses
/// a reference to one, so no unaligned reference can be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, packed(4))]
pub(crate) struct Flow {
    pub row: u32,
    pub origin: u32,
    pub path: u32,
    pub amount: i64,
}

/// One method's answer.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub method: Method,
    /// Per row: the part of a debit paid from an overdraft. The same under every method
    /// (every method's books hold the same totals), so only the first method in
    /// [`Method::ALL`] records it; the others leave it empty ([`run_method`]).
    pub unfunded: Vec<i64>,
    /// Tainted parts, read in (row, origin, path) order.
    pub flows: Flows,
    /// Per account at the end: lots held, merged and sorted by (origin, path).
    pub end_lots: Vec<Vec<Lot>>,
    pub end_overdraft: Vec<i64>,
    pub paths: Paths,
}

pub(crate) fn run_method(method: Method, p: &Prepared) -> Result<Outcome, TraceError> {
    let unfunded = method.index() == 0;
    Ok(match method {
        Method::Fifo => run::<Fifo>(method, p, unfunded),
        Method::Lifo => run::<Lifo>(method, p, unfunded),
        Method::Hallett => run::<Hallett>(method, p, unfunded),
        Method::Libr => run::<Libr>(method, p, unfunded),
        Method::ProRata => run::<ProRata>(method, p, unfunded),
    })
}

/// Apply every event, in schedule order, to per-account books of allocator `A`; with
/// `record_unfunded`, also record [`Outcome::unfunded`] (otherwise left empty).
pub(crate) fn run<A: Allocator>(method: Method, p: &Prepared, record_unfunded: bool) -> Outcome {
    let n = p.txn_id.len();
    let mut books: Vec<AccountBook<A>> = p
        .opening
        .iter()
        .map(|&o| AccountBook::<A>::with_opening(o))
        .collect();
    let mut paths = Paths::default();
    let roots: Vec<u32> = (0..p.accounts.len() as u32)
        .map(|a| paths.extend(NO_PATH, a))
        .collect();
    let mut out = Outcome {
        method,
        unfunded: if record_unfunded {
            vec![0; n]
        } else {
            Vec::new()
        },
        flows: Flows::default(),
        end_lots: Vec::new(),
        end_overdraft: Vec::new(),
        paths: Paths::default(),
    };
    let mut in_transit: HashMap<u32, Vec<Lot>> = HashMap::new();
    let mut taken: Vec<Lot> = Vec::new();
    let mut incoming: Vec<Lot> = Vec::new();
    let mut shares: Vec<i64> = Vec::new();
    let mut weights: Vec<i64> = Vec::new();
    // The tainted parts as recorded, and where each row's block starts, in recording order.
    let mut flows: Vec<Flow> = Vec::new();
    let mut blocks: Vec<(u32, usize)> = Vec::new();

    for &row in &p.schedule {
        let r = row as usize;
        let account = p.account[r];
        let book = &mut books[account as usize];
        let amount = p.amount[r];
        taken.clear();
        if amount < 0 {
            let unfunded = book.debit(-amount, &mut taken);
            if record_unfunded {
                out.unfunded[r] = unfunded;
            }
            merge_lots(&mut taken);
            record(&mut flows, &mut blocks, row, &taken);
            let credit = p.link[r];
            if credit != NONE {
                // The overdraft-funded part travels as clean money (the bank's, not the
                // wrongdoer's proceeds).
                let mut carried = taken.clone();
                if unfunded > 0 {
                    carried.push(Lot::clean(unfunded));
                }
                in_transit.insert(credit, carried);
            }
        } else if amount > 0 {
            incoming.clear();
            if p.link[r] != NONE {
                // The schedule applies every linked debit before its credit, so the
                // composition is always there; if it were not, the money stays clean
                // rather than vanishing.
                let carried = in_transit.remove(&row).unwrap_or_default();
                debug_assert!(!carried.is_empty(), "credit applied before its debit");
                let sent: i64 = carried.iter().map(|l| l.amount).sum();
                if sent == 0 {
                    incoming.push(Lot::clean(amount));
                } else if sent == amount {
                    incoming.extend(carried);
                } else {
                    weights.clear();
                    weights.extend(carried.iter().map(|l| l.amount));
                    apportion(amount, &weights, &mut shares);
                    incoming.extend(
                        carried
                            .iter()
                            .zip(&shares)
                            .map(|(l, &s)| Lot { amount: s, ..*l }),
                    );
                }
                for lot in incoming.iter_mut() {
                    if !lot.is_clean() {
                        lot.path = paths.extend(lot.path, account);
                    }
                }
            } else {
                let origin = p.origin_of_row[r];
                incoming.push(if origin == super::engine::CLEAN {
                    Lot::clean(amount)
                } else {
                    Lot {
                        origin,
                        path: roots[account as usize],
                        amount,
                    }
                });
            }
            book.credit(&incoming, &mut taken);
            merge_lots(&mut taken);
            record(&mut flows, &mut blocks, row, &taken);
        }
    }
    out.flows = in_row_order(flows, blocks);
    for book in &books {
        let mut held = Vec::new();
        book.lots.holdings(&mut held);
        merge_lots(&mut held);
        out.end_lots.push(held);
        out.end_overdraft.push(book.overdraft);
    }
    out.paths = paths;
    out
}

/// A method's tainted parts, read in (row, origin, path) order.
///
/// The books are run in schedule order (by date across accounts) and the parts recorded as
/// they happen, each row's together and already in (origin, path) order (`merge_lots`).
/// Rather than copying every part into row order (the whole of them twice over at the
/// trace's peak: pro rata's 23.5M parts at 10M rows, 560 MB), the parts stay where they were
/// recorded and `order` lists where each row's block starts, in row order (4 bytes a
/// block). `None`: the parts are in row order themselves.
#[derive(Debug, Default)]
pub(crate) struct Flows {
    recorded: Vec<Flow>,
    order: Option<Vec<u32>>,
}

impl Flows {
    /// Every part, in (row, origin, path) order.
    pub fn iter(&self) -> RowOrder<'_> {
        match &self.order {
            None => RowOrder {
                recorded: &self.recorded,
                starts: [].iter(),
                block: self.recorded.iter(),
            },
            Some(order) => RowOrder {
                recorded: &self.recorded,
                starts: order.iter(),
                block: [].iter(),
            },
        }
    }

    /// The parts of `row`, in (origin, path) order (empty when it has none).
    pub fn of_row(&self, row: u32) -> &[Flow] {
        match &self.order {
            None => {
                let start = self.recorded.partition_point(|f| f.row < row);
                let end = self.recorded.partition_point(|f| f.row <= row);
                &self.recorded[start..end]
            }
            Some(order) => {
                match order.binary_search_by_key(&row, |&s| self.recorded[s as usize].row) {
                    Ok(k) => block_at(&self.recorded, order[k] as usize),
                    Err(_) => &[],
                }
            }
        }
    }

    /// The tainted pence of `row`: a debit's, or of the overdraft a credit repaid. The sum
    /// of its parts, not kept per row (8 bytes a ledger row for each method).
    pub fn tainted_of(&self, row: u32) -> i64 {
        self.of_row(row).iter().map(|f| f.amount).sum()
    }

    /// [`Flows::tainted_of`] for many rows: each answer in constant time while the rows are
    /// asked in ascending order (a search when they go back).
    pub fn tainted_by_row(&self) -> TaintedByRow<'_> {
        TaintedByRow {
            flows: self,
            next: 0,
        }
    }

    /// Number of blocks (`order`) or of parts (no `order`: the parts in row order) that
    /// [`TaintedByRow`] steps over, and the row and start of step `k`.
    fn steps(&self) -> usize {
        self.order.as_ref().map_or(self.recorded.len(), Vec::len)
    }

    fn step(&self, k: usize) -> (u32, usize) {
        let start = self.order.as_ref().map_or(k, |o| o[k] as usize);
        (self.recorded[start].row, start)
    }
}

/// [`Flows::tainted_by_row`]: where the last answer was found.
pub(crate) struct TaintedByRow<'a> {
    flows: &'a Flows,
    /// The first step whose row is not below the last row asked.
    next: usize,
}

impl TaintedByRow<'_> {
    pub fn get(&mut self, row: u32) -> i64 {
        let f = self.flows;
        let steps = f.steps();
        if self.next > 0 && f.step(self.next - 1).0 >= row {
            // Asked for an earlier row: find it again from the start.
            self.next = match &f.order {
                Some(order) => order.partition_point(|&s| f.recorded[s as usize].row < row),
                None => f.recorded.partition_point(|p| p.row < row),
            };
        }
        while self.next < steps && f.step(self.next).0 < row {
            self.next += 1;
        }
        if self.next < steps && f.step(self.next).0 == row {
            let (_, start) = f.step(self.next);
            block_at(&f.recorded, start).iter().map(|p| p.amount).sum()
        } else {
            0
        }
    }
}

/// The block of one row's parts that starts at `start`: it runs until the row changes (two
/// blocks recorded one after the other are of different rows, [`in_row_order`]).
fn block_at(recorded: &[Flow], start: usize) -> &[Flow] {
    let row = recorded[start].row;
    let len = recorded[start..]
        .iter()
        .position(|f| f.row != row)
        .unwrap_or(recorded.len() - start);
    &recorded[start..start + len]
}

/// [`Flows::iter`]: block after block, in the order `starts` gives.
pub(crate) struct RowOrder<'a> {
    recorded: &'a [Flow],
    starts: std::slice::Iter<'a, u32>,
    block: std::slice::Iter<'a, Flow>,
}

impl<'a> Iterator for RowOrder<'a> {
    type Item = &'a Flow;

    fn next(&mut self) -> Option<&'a Flow> {
        loop {
            if let Some(f) = self.block.next() {
                return Some(f);
            }
            let start = *self.starts.next()? as usize;
            self.block = block_at(self.recorded, start).iter();
        }
    }
}

/// The parts `flows`, recorded block by block where `blocks` says, read in row order. A row
/// recorded twice (the schedule holds each row once), or more parts than a `u32` can place,
/// fall back to sorting every part.
fn in_row_order(mut flows: Vec<Flow>, mut blocks: Vec<(u32, usize)>) -> Flows {
    if blocks.windows(2).all(|w| w[0].0 < w[1].0) {
        return Flows {
            recorded: flows,
            order: None,
        };
    }
    blocks.sort_unstable();
    if flows.len() > u32::MAX as usize || blocks.windows(2).any(|w| w[0].0 == w[1].0) {
        flows.sort_unstable_by_key(|f| (f.row, f.origin, f.path));
        return Flows {
            recorded: flows,
            order: None,
        };
    }
    let order = blocks.iter().map(|&(_, start)| start as u32).collect();
    drop(blocks);
    Flows {
        recorded: flows,
        order: Some(order),
    }
}

fn record(flows: &mut Vec<Flow>, blocks: &mut Vec<(u32, usize)>, row: u32, taken: &[Lot]) {
    let start = flows.len();
    for lot in taken {
        if !lot.is_clean() {
            flows.push(Flow {
                row,
                origin: lot.origin,
                path: lot.path,
                amount: lot.amount,
            });
        }
    }
    if flows.len() > start {
        blocks.push((row, start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_is_twenty_bytes() {
        assert_eq!(std::mem::size_of::<Flow>(), 20);
    }

    fn flow(row: u32, origin: u32, path: u32, amount: i64) -> Flow {
        Flow {
            row,
            origin,
            path,
            amount,
        }
    }

    /// Flows recorded row by row, each row's in (origin, path) order, rows out of order.
    fn recorded(rows: &[(u32, &[(u32, u32)])]) -> (Vec<Flow>, Vec<(u32, usize)>) {
        let mut flows = Vec::new();
        let mut blocks = Vec::new();
        for (i, &(row, lots)) in rows.iter().enumerate() {
            blocks.push((row, flows.len()));
            for &(origin, path) in lots {
                flows.push(flow(row, origin, path, (i as i64 + 1) * 100));
            }
        }
        (flows, blocks)
    }

    fn sorted(mut flows: Vec<Flow>) -> Vec<Flow> {
        flows.sort_unstable_by_key(|f| (f.row, f.origin, f.path));
        flows
    }

    #[test]
    fn blocks_put_in_row_order_sort_the_flows_as_a_full_sort_does() {
        let (flows, blocks) = recorded(&[
            (7, &[(0, 1), (2, 0), (2, 5)]),
            (3, &[(1, 1)]),
            (9, &[(0, 0), (4, 4)]),
            (1, &[(3, 2), (5, 0)]),
        ]);
        let want = sorted(flows.clone());
        let got = in_row_order(flows, blocks);
        assert!(
            got.order.is_some(),
            "the parts stay where they were recorded"
        );
        assert_eq!(read(&got), want);
        assert_eq!(
            got.iter().map(|f| f.row).collect::<Vec<_>>(),
            [1, 1, 3, 7, 7, 7, 9, 9]
        );
        assert_eq!(got.iter().count(), 8);
        // Each row's parts, found by row; a row without parts has none.
        let of = |row| {
            got.of_row(row)
                .iter()
                .map(|f| (f.row, f.origin, f.path))
                .collect::<Vec<_>>()
        };
        assert_eq!(of(7), [(7, 0, 1), (7, 2, 0), (7, 2, 5)]);
        assert_eq!(of(1), [(1, 3, 2), (1, 5, 0)]);
        assert_eq!(of(9), [(9, 0, 0), (9, 4, 4)]);
        assert_eq!(of(3), [(3, 1, 1)]);
        for row in [0, 2, 5, 8, 10] {
            assert!(of(row).is_empty(), "row {row}");
        }
        // Tainted pence by row: the sum of the row's parts (`recorded` gives the parts of
        // the i-th recorded row (i + 1) * 100 pence each), in and out of order.
        let want = [
            (0, 0),
            (1, 800),
            (2, 0),
            (3, 200),
            (7, 300),
            (9, 600),
            (10, 0),
        ];
        let mut reader = got.tainted_by_row();
        for (row, pence) in want {
            assert_eq!(reader.get(row), pence, "row {row} ascending");
            assert_eq!(got.tainted_of(row), pence, "row {row} alone");
        }
        for (row, pence) in want.iter().rev().chain(&want) {
            assert_eq!(reader.get(*row), *pence, "row {row} after going back");
        }
    }

    fn read(flows: &Flows) -> Vec<Flow> {
        flows.iter().copied().collect()
    }

    #[test]
    fn flows_already_in_row_order_are_kept_and_a_row_recorded_twice_is_sorted_whole() {
        let (flows, blocks) = recorded(&[(1, &[(0, 0)]), (2, &[(1, 0), (3, 0)]), (5, &[(0, 2)])]);
        let kept = in_row_order(flows.clone(), blocks);
        assert!(kept.order.is_none());
        assert_eq!(read(&kept), flows);
        assert_eq!(kept.of_row(2), &flows[1..3]);
        assert!(kept.of_row(3).is_empty());
        let mut reader = kept.tainted_by_row();
        for (row, pence) in [
            (0, 0),
            (1, 100),
            (2, 400),
            (3, 0),
            (5, 300),
            (2, 400),
            (6, 0),
        ] {
            assert_eq!(reader.get(row), pence, "row {row}");
        }

        let (flows, blocks) = recorded(&[(4, &[(2, 0), (6, 0)]), (2, &[(0, 0)]), (4, &[(1, 0)])]);
        let want = sorted(flows.clone());
        let got = in_row_order(flows, blocks);
        assert!(got.order.is_none());
        assert_eq!(read(&got), want);
        assert_eq!(got.of_row(4).len(), 3);
        assert_eq!(
            got.iter().map(|f| (f.row, f.origin)).collect::<Vec<_>>(),
            [(2, 0), (4, 1), (4, 2), (4, 6)]
        );
    }
}
