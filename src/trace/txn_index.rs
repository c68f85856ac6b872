//! Finding a ledger row by its `txn_id` without a map of owned strings.
//!
//! Tracing looks rows up by `txn_id` a few times per transfer, finding and destination, but
//! the ledger can hold tens of millions of rows. A `HashMap<String, u32>` of every row costs
//! a copy of every id and grows by rehashing; at 10 million rows building it was the
//! largest step of preparation. Here each row contributes a 64-bit hash of its id and its
//! row number (12 bytes), sorted once by a counting sort on the hash's top bits; a lookup
//! goes to its bucket through a directory (about four entries a bucket), finds the hash and
//! confirms the string itself, so a hash collision can never return the wrong row. The hash is foldhash
//! with a fixed seed, so the index is the same on every run.
//!
//! The schedule stage ([`crate::confiscation`]) finds the rows named by the reference files,
//! the case file and the finding evidence the same way, over the same ledger.

use std::hash::BuildHasher;

use foldhash::quality::FixedState;

/// `(hash of txn_id, row)` pairs sorted by hash, with a directory of where each bucket of
/// hashes (their top bits) starts, so a lookup goes straight to a handful of entries.
#[derive(Debug, Default, Clone)]
pub struct TxnIndex {
    entries: Vec<(u64, u32)>,
    /// `starts[b]..starts[b + 1]` are the entries whose hash's top `bits` bits are `b`.
    starts: Vec<u32>,
    bits: u32,
}

/// The hash of a txn_id: foldhash with a fixed seed, so the index is the same on every run
/// (its top bits choose the bucket, hence the "quality" variant).
fn hash(txn: &str) -> u64 {
    const STATE: FixedState = FixedState::with_seed(0x7072_6f63_6565_6473);
    STATE.hash_one(txn)
}

impl TxnIndex {
    /// Index `rows` ids, where `txn_id(row)` is the id of `row`. When an id appears more
    /// than once, returns the id whose second appearance comes first, as a scan in row
    /// order would meet it.
    pub fn build<'a>(rows: usize, txn_id: impl Fn(usize) -> &'a str) -> Result<Self, String> {
        Self::build_from((0..rows).map(&txn_id), &txn_id)
    }

    /// [`TxnIndex::build`] reading the ids once in row order from `ids` (a column's
    /// iterator, quicker than asking for each row); `txn_id(row)` is still used to confirm
    /// a repeated id.
    pub fn build_from<'a, 'b>(
        ids: impl ExactSizeIterator<Item = &'b str>,
        txn_id: impl Fn(usize) -> &'a str,
    ) -> Result<Self, String> {
        let rows = ids.len();
        // About four entries a bucket: the hashes are uniform, so the buckets are even.
        let bits = (rows / 4).max(1).ilog2().min(28);
        let bucket = |h: u64| {
            if bits == 0 {
                0
            } else {
                (h >> (64 - bits)) as usize
            }
        };
        let hashes: Vec<u64> = ids.map(hash).collect();
        // A counting sort by bucket, rows ascending within each; then each bucket by hash.
        let mut starts = vec![0u32; (1usize << bits) + 1];
        for &h in &hashes {
            starts[bucket(h) + 1] += 1;
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        let mut next: Vec<u32> = starts[..starts.len() - 1].to_vec();
        let mut entries = vec![(0u64, 0u32); rows];
        for (row, &h) in hashes.iter().enumerate() {
            let slot = &mut next[bucket(h)];
            entries[*slot as usize] = (h, row as u32);
            *slot += 1;
        }
        drop(hashes);
        for b in 0..starts.len() - 1 {
            entries[starts[b] as usize..starts[b + 1] as usize].sort_unstable();
        }
        // Equal hashes are adjacent and, within them, rows ascend. A duplicate is an equal
        // string among equal hashes; its second appearance is the smallest later row
        // holding the same string.
        let mut first_repeat: Option<u32> = None;
        let mut start = 0;
        while start < entries.len() {
            let mut end = start + 1;
            while end < entries.len() && entries[end].0 == entries[start].0 {
                end += 1;
            }
            if end - start > 1 {
                let group = &entries[start..end];
                for (j, &(_, later)) in group.iter().enumerate().skip(1) {
                    let id = txn_id(later as usize);
                    if group[..j].iter().any(|&(_, r)| txn_id(r as usize) == id) {
                        first_repeat = Some(first_repeat.map_or(later, |f| f.min(later)));
                        break;
                    }
                }
            }
            start = end;
        }
        match first_repeat {
            Some(row) => Err(txn_id(row as usize).to_string()),
            None => Ok(TxnIndex {
                entries,
                starts,
                bits,
            }),
        }
    }

    /// The row holding `txn`, if any. `txn_id` must be what the index was built from.
    pub fn get<'a>(&self, txn_id: impl Fn(usize) -> &'a str, txn: &str) -> Option<u32> {
        if self.entries.is_empty() {
            return None;
        }
        let h = hash(txn);
        let b = if self.bits == 0 {
            0
        } else {
            (h >> (64 - self.bits)) as usize
        };
        let bucket = &self.entries[self.starts[b] as usize..self.starts[b + 1] as usize];
        let from = bucket.partition_point(|&(e, _)| e < h);
        bucket[from..]
            .iter()
            .take_while(|&&(e, _)| e == h)
            .map(|&(_, row)| row)
            .find(|&row| txn_id(row as usize) == txn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn finds_every_row_and_nothing_else() {
        let t = ids(&["a-L2", "a-L3", "b-L2", "a-L10"]);
        let of = |row: usize| t[row].as_str();
        let ix = TxnIndex::build(t.len(), of).unwrap();
        for (row, id) in t.iter().enumerate() {
            assert_eq!(ix.get(of, id), Some(row as u32));
        }
        assert_eq!(ix.get(of, "a-L4"), None);
        assert_eq!(ix.get(of, ""), None);
    }

    #[test]
    fn names_the_id_whose_second_appearance_comes_first() {
        let t = ids(&["x", "y", "z", "y", "x"]);
        assert_eq!(TxnIndex::build(t.len(), |r| &t[r]).unwrap_err(), "y");
        let t = ids(&["x", "y", "x", "y"]);
        assert_eq!(TxnIndex::build(t.len(), |r| &t[r]).unwrap_err(), "x");
    }

    #[test]
    fn many_ids_are_found_through_the_directory() {
        let t: Vec<String> = (0..5_000)
            .map(|i| format!("stmt-{}-L{}", i % 7, i))
            .collect();
        let of = |row: usize| t[row].as_str();
        let ix = TxnIndex::build(t.len(), of).unwrap();
        assert_eq!(ix.bits, 10);
        for (row, id) in t.iter().enumerate() {
            assert_eq!(ix.get(of, id), Some(row as u32), "{id}");
        }
        assert_eq!(ix.get(of, "stmt-0-L5000"), None);
        let mut dup = t.clone();
        dup[4_321] = dup[17].clone();
        dup[4_500] = dup[9].clone();
        assert_eq!(
            TxnIndex::build(dup.len(), |r| &dup[r]).unwrap_err(),
            "stmt-3-L17"
        );
    }
}
