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
    let mut recorder = Recorder::new(CHUNK_PARTS);

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
            recorder.record(row, &taken);
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
            recorder.record(row, &taken);
        }
    }
    out.flows = recorder.finish();
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

/// Parts per chunk of a method's record: 1M parts, 20 MB.
const CHUNK_PARTS: usize = 1 << 20;

/// A method's tainted parts as they are recorded: in chunks that never move once
/// allocated, since a growing vector copies every part each time it doubles (at pro rata's
/// 23.5M parts at 10M rows, a 335 MB copy beside the record, at the trace's peak). A row's
/// parts are recorded together and never split across chunks.
#[derive(Debug)]
struct Recorder {
    chunk_parts: usize,
    chunks: Vec<Vec<Flow>>,
    /// Per row recorded: (row, chunk, start of its parts in the chunk), in recording order.
    blocks: Vec<(u32, u32, u32)>,
}

impl Recorder {
    fn new(chunk_parts: usize) -> Self {
        Recorder {
            chunk_parts,
            chunks: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// The tainted lots of `taken` as `row`'s parts (nothing when all are clean).
    fn record(&mut self, row: u32, taken: &[Lot]) {
        let tainted = || taken.iter().filter(|l| !l.is_clean());
        self.push(
            row,
            tainted().count(),
            tainted().map(|l| Flow {
                row,
                origin: l.origin,
                path: l.path,
                amount: l.amount,
            }),
        );
    }

    /// `n` parts of `row`, in a chunk with room for all of them.
    fn push(&mut self, row: u32, n: usize, parts: impl Iterator<Item = Flow>) {
        if n == 0 {
            return;
        }
        let fits = self
            .chunks
            .last()
            .is_some_and(|c| c.len() + n <= c.capacity());
        if !fits {
            self.chunks
                .push(Vec::with_capacity(self.chunk_parts.max(n)));
        }
        let chunk = self.chunks.len() - 1;
        let parts_of = &mut self.chunks[chunk];
        let start = parts_of.len();
        parts_of.extend(parts);
        // A chunk holds at most max(CHUNK_PARTS, a row's parts) and a row has at most one
        // part per tainted origin (origins are numbered in u32): both fit.
        self.blocks.push((row, chunk as u32, start as u32));
    }

    /// The parts, read in row order: each row's block found through `order`, sorted by
    /// row. A row recorded twice (the schedule holds each row once) falls back to sorting
    /// every part into one chunk.
    fn finish(self) -> Flows {
        let Recorder {
            mut chunks,
            mut blocks,
            ..
        } = self;
        blocks.sort_unstable_by_key(|&(row, _, _)| row);
        if blocks.windows(2).all(|w| w[0].0 < w[1].0) {
            let order = blocks.iter().map(|&(_, c, s)| (c, s)).collect();
            return Flows { chunks, order };
        }
        let mut all: Vec<Flow> = chunks.drain(..).flatten().collect();
        all.sort_unstable_by_key(|f| (f.row, f.origin, f.path));
        let order = (0..all.len())
            .filter(|&i| i == 0 || all[i - 1].row != all[i].row)
            .map(|i| (0, i as u32))
            .collect();
        Flows {
            chunks: vec![all],
            order,
        }
    }
}

/// A method's tainted parts, read in (row, origin, path) order.
///
/// The books are run in schedule order (by date across accounts) and the parts recorded as
/// they happen, each row's together and already in (origin, path) order (`merge_lots`).
/// Rather than copying every part into row order (the whole of them twice over at the
/// trace's peak: pro rata's 23.5M parts at 10M rows, 470 MB), the parts stay where they were
/// recorded and `order` lists where each row's block starts (chunk, position), in row order
/// (8 bytes a block).
#[derive(Debug, Default)]
pub(crate) struct Flows {
    chunks: Vec<Vec<Flow>>,
    order: Vec<(u32, u32)>,
}

impl Flows {
    /// Every part, in (row, origin, path) order.
    pub fn iter(&self) -> RowOrder<'_> {
        RowOrder {
            flows: self,
            starts: self.order.iter(),
            block: [].iter(),
        }
    }

    /// The parts of `row`, in (origin, path) order (empty when it has none).
    pub fn of_row(&self, row: u32) -> &[Flow] {
        match self.order.binary_search_by_key(&row, |&at| self.row_at(at)) {
            Ok(k) => self.block_at(self.order[k]),
            Err(_) => &[],
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

    fn row_at(&self, (chunk, start): (u32, u32)) -> u32 {
        self.chunks[chunk as usize][start as usize].row
    }

    /// The block of one row's parts that starts at `(chunk, start)`: it runs until the row
    /// changes or the chunk ends (a block is never split across chunks, and two blocks
    /// recorded one after the other are of different rows, [`Recorder::finish`]).
    fn block_at(&self, (chunk, start): (u32, u32)) -> &[Flow] {
        let parts = &self.chunks[chunk as usize][start as usize..];
        let row = parts[0].row;
        let len = parts
            .iter()
            .position(|f| f.row != row)
            .unwrap_or(parts.len());
        &parts[..len]
    }
}

/// [`Flows::tainted_by_row`]: where the last answer was found.
pub(crate) struct TaintedByRow<'a> {
    flows: &'a Flows,
    /// The first block whose row is not below the last row asked.
    next: usize,
}

impl TaintedByRow<'_> {
    pub fn get(&mut self, row: u32) -> i64 {
        let f = self.flows;
        let order = &f.order;
        if self.next > 0 && f.row_at(order[self.next - 1]) >= row {
            // Asked for an earlier row: find it again from the start.
            self.next = order.partition_point(|&at| f.row_at(at) < row);
        }
        while self.next < order.len() && f.row_at(order[self.next]) < row {
            self.next += 1;
        }
        match order.get(self.next) {
            Some(&at) if f.row_at(at) == row => f.block_at(at).iter().map(|p| p.amount).sum(),
            _ => 0,
        }
    }
}

/// [`Flows::iter`]: block after block, in the order `starts` gives.
pub(crate) struct RowOrder<'a> {
    flows: &'a Flows,
    starts: std::slice::Iter<'a, (u32, u32)>,
    block: std::slice::Iter<'a, Flow>,
}

impl<'a> Iterator for RowOrder<'a> {
    type Item = &'a Flow;

    fn next(&mut self) -> Option<&'a Flow> {
        loop {
            if let Some(f) = self.block.next() {
                return Some(f);
            }
            let &at = self.starts.next()?;
            self.block = self.flows.block_at(at).iter();
        }
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

    /// Parts recorded row by row (each row's in (origin, path) order, the i-th row's parts
    /// (i + 1) * 100 pence each) in chunks of `chunk_parts`; the parts as recorded.
    fn recorded(chunk_parts: usize, rows: &[(u32, &[(u32, u32)])]) -> (Flows, Vec<Flow>) {
        let mut recorder = Recorder::new(chunk_parts);
        let mut all = Vec::new();
        for (i, &(row, lots)) in rows.iter().enumerate() {
            let parts: Vec<Flow> = lots
                .iter()
                .map(|&(origin, path)| flow(row, origin, path, (i as i64 + 1) * 100))
                .collect();
            all.extend(parts.iter().copied());
            recorder.push(row, parts.len(), parts.into_iter());
        }
        (recorder.finish(), all)
    }

    fn sorted(mut flows: Vec<Flow>) -> Vec<Flow> {
        flows.sort_unstable_by_key(|f| (f.row, f.origin, f.path));
        flows
    }

    fn read(flows: &Flows) -> Vec<Flow> {
        flows.iter().copied().collect()
    }

    #[test]
    fn parts_recorded_in_chunks_are_read_in_row_order() {
        // Chunks of 4 parts: rows 7 and 3 fill the first, 9 and 1 the second; row 4's six
        // parts have a chunk of their own; row 6 starts the fourth.
        let rows: &[(u32, &[(u32, u32)])] = &[
            (7, &[(0, 1), (2, 0), (2, 5)]),
            (3, &[(1, 1)]),
            (9, &[(0, 0), (4, 4)]),
            (1, &[(3, 2), (5, 0)]),
            (4, &[(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]),
            (6, &[(8, 8)]),
        ];
        let (got, all) = recorded(4, rows);
        assert_eq!(got.chunks.len(), 4, "row 4's parts are not split");
        assert_eq!(
            got.chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [4, 4, 6, 1]
        );
        assert_eq!(read(&got), sorted(all));
        assert_eq!(
            got.iter().map(|f| f.row).collect::<Vec<_>>(),
            [1, 1, 3, 4, 4, 4, 4, 4, 4, 6, 7, 7, 7, 9, 9]
        );
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
        assert_eq!(of(4).len(), 6);
        assert_eq!(of(6), [(6, 8, 8)]);
        for row in [0, 2, 5, 8, 10] {
            assert!(of(row).is_empty(), "row {row}");
        }
        // Tainted pence by row: the sum of the row's parts, in and out of order.
        let want = [
            (0, 0),
            (1, 800),
            (2, 0),
            (3, 200),
            (4, 3_000),
            (6, 600),
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

    #[test]
    fn parts_recorded_in_row_order_read_as_recorded_and_a_row_recorded_twice_is_sorted_whole() {
        let rows: &[(u32, &[(u32, u32)])] =
            &[(1, &[(0, 0)]), (2, &[(1, 0), (3, 0)]), (5, &[(0, 2)])];
        let (kept, all) = recorded(CHUNK_PARTS, rows);
        assert_eq!(read(&kept), all);
        assert_eq!(kept.of_row(2), &all[1..3]);
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

        let rows: &[(u32, &[(u32, u32)])] =
            &[(4, &[(2, 0), (6, 0)]), (2, &[(0, 0)]), (4, &[(1, 0)])];
        let (got, all) = recorded(2, rows);
        assert_eq!(got.chunks.len(), 1, "sorted whole into one chunk");
        assert_eq!(read(&got), sorted(all));
        assert_eq!(got.of_row(4).len(), 3);
        assert_eq!(got.tainted_of(4), 100 + 100 + 300);
        assert_eq!(
            got.iter().map(|f| (f.row, f.origin)).collect::<Vec<_>>(),
            [(2, 0), (4, 1), (4, 2), (4, 6)]
        );
    }
}
