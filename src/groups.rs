//! Groups of linked accounts: which case accounts the stages must see together.
//!
//! Every stage after ingest computes within a set of accounts that can be known before the
//! whole ledger is held (docs/streaming.md, "The unit: a group of linked accounts"): verify
//! works per account except for internal transfers, the rules count per account, per
//! subject or per shared address or phone, and the trace moves money between accounts only
//! through matched internal transfers and money transfers between case accounts. A group is
//! a connected component of the case's accounts under these links:
//!
//! | link | from | why |
//! |---|---|---|
//! | same controller | case file | rules counted per subject |
//! | shared address, shared phone | case file | rules counted per address or phone |
//! | shared surname, between accounts that send money transfers | case file, ledger | `msb_structuring`'s linked senders |
//! | internal transfer | ledger (verify's matching) | verify's matching; the trace's links |
//! | money-transfer reference | ledger | the trace's link of a send to its payout |
//!
//! Links are a superset of what any stage uses: an extra link makes a group larger, never a
//! result different. Addresses are compared both as the rules' per-address grouping and as
//! `msb_structuring` compares them; a money-transfer reference links every case account
//! holding a send or payout with that reference, whether or not the trace then follows it.
//!
//! **The link pass** ([`link_pass`]) reads the case's sources in batches of bounded size,
//! keeping only the rows transfer matching can need (rows on a transfer channel or a money
//! transfer, and every row of an account that more than one source may hold) and of each
//! only the columns verify reads ([`LINK_COLUMNS`]). It puts them in the canonical order a
//! whole ingest gives, each with its `seq`, and runs verify's transfer matching over them
//! ([`crate::verify::transfers_only`]): the transfers it matches are the run's own (tests
//! compare them with a whole run's). Every row is counted for its account. A run processed
//! group by group is the next step of docs/streaming.md and is not built.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use polars::prelude::*;

use crate::case::{Case, ResolveOptions};
use crate::error::Error;
use crate::ingest::{ingest_case, IngestError, Registry};
use crate::ledger::col;
use crate::report::{csv_out, write_atomic, OutputFile};
use crate::verify::transfers_only;

/// The ledger columns the link pass keeps of each row: those verify reads.
pub const LINK_COLUMNS: [&str; 16] = crate::verify::REQUIRED;

/// Sources are read together until their files reach this many bytes (at least one
/// source a batch): enough for every core to have work, little beside the kept columns.
pub const BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// Why two accounts are in one group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Link {
    /// Both are controlled by this subject.
    SameController(String),
    /// Their controllers share this address (as compared).
    SharedAddress(String),
    /// Their controllers share this phone number (as compared).
    SharedPhone(String),
    /// Both send money transfers and their controllers share this surname.
    SharedSurname(String),
    /// A matched internal transfer (its `transfer_id`).
    InternalTransfer(String),
    /// A money-transfer send and payout with this reference.
    MoneyTransfer(String),
}

impl Link {
    fn kind(&self) -> &'static str {
        match self {
            Link::SameController(_) => "same controller",
            Link::SharedAddress(_) => "shared address",
            Link::SharedPhone(_) => "shared phone",
            Link::SharedSurname(_) => "shared surname",
            Link::InternalTransfer(_) => "internal transfer",
            Link::MoneyTransfer(_) => "money transfer",
        }
    }

    fn detail(&self) -> &str {
        match self {
            Link::SameController(s)
            | Link::SharedAddress(s)
            | Link::SharedPhone(s)
            | Link::SharedSurname(s)
            | Link::InternalTransfer(s)
            | Link::MoneyTransfer(s) => s,
        }
    }
}

/// The case's accounts in groups.
#[derive(Debug, Clone)]
pub struct Groups {
    /// For each account (case order), its group (0-based; groups are numbered in case order
    /// of their first account).
    pub group_of_account: Vec<u32>,
    /// Each group's accounts, in case order.
    pub members: Vec<Vec<u32>>,
    /// Ledger rows per account (case order).
    pub rows_of_account: Vec<u64>,
    /// Every link found, as (account, account, why), the first account before the second
    /// in case order; sorted, each once.
    pub links: Vec<(u32, u32, Link)>,
}

impl Groups {
    /// Rows of group `g`.
    pub fn rows(&self, g: usize) -> u64 {
        self.members[g]
            .iter()
            .map(|&a| self.rows_of_account[a as usize])
            .sum()
    }

    /// The group with the most rows (the first such in case order), if any.
    pub fn largest(&self) -> Option<usize> {
        (0..self.members.len()).max_by_key(|&g| (self.rows(g), std::cmp::Reverse(g)))
    }
}

/// What the link pass read.
#[derive(Debug)]
pub struct LinkPass {
    /// The [`LINK_COLUMNS`] of the rows transfer matching needs ([`link_pass`]), in
    /// canonical order, each with the `seq` a whole ingest gives it.
    pub ledger: DataFrame,
    /// Rows ingest read for each account (case order), kept or not.
    pub rows_of_account: Vec<u64>,
    /// Batches the sources were read in.
    pub batches: usize,
    /// Each source's report (counts, hash, layout), in case order.
    pub sources: Vec<crate::ingest::SourceReport>,
}

/// Read the case's sources in batches of about `batch_bytes` (at least one source each)
/// and keep the [`LINK_COLUMNS`] of the rows that verify's transfer matching can need:
///
/// - every row whose channel is one of the case's `transfer_channels` (only those can be
///   either side of an internal transfer) or a money-transfer send or payout;
/// - every row of an account that more than one source may hold: declared by two sources,
///   or found in a source that declares no account. Overlapping exports of one account are
///   compared row by row, over periods their own rows set, before transfers are matched.
///
/// Sources that declare no account are read first, so that the accounts they hold are known
/// before any other source is read. Every row is counted for its account, kept or not, and
/// each kept row gets the `seq` a whole ingest gives it.
///
/// With `available` (bytes of memory), after each batch the memory the pass will hold at its
/// end is projected from what it holds so far and the share of the sources' bytes read; a
/// projected peak above `available` stops the pass with [`GroupsError::OverMemory`] before
/// the machine runs out.
pub fn link_pass(
    case: &Case,
    registry: &Registry,
    batch_bytes: u64,
    available: Option<crate::ingest::budget::Available>,
) -> Result<LinkPass, Error> {
    let n_accounts = case.accounts.len();
    let account_index: HashMap<&str, u32> = case.account_positions();
    let mut keep_all = vec![false; n_accounts];
    let mut declared = vec![0usize; n_accounts];
    for s in &case.sources {
        if let Some(&a) = s.account.as_deref().and_then(|id| account_index.get(id)) {
            declared[a as usize] += 1;
            keep_all[a as usize] |= declared[a as usize] > 1;
        }
    }
    let (undeclared, declared_sources): (Vec<usize>, Vec<usize>) =
        (0..case.sources.len()).partition(|&i| case.sources[i].account.is_none());
    // A file that cannot be read counts as empty here: its batch's ingest reports it.
    let sizes: Vec<u64> = case
        .sources
        .iter()
        .map(|s| std::fs::metadata(&s.path.resolved).map_or(0, |m| m.len()))
        .collect();
    let total_bytes: u64 = sizes.iter().sum();
    let mut read_bytes = 0u64;
    let mut batches = plan_batches(&sizes, &undeclared, batch_bytes);
    let first_declared = batches.len();
    batches.extend(plan_batches(&sizes, &declared_sources, batch_bytes));
    let mut channels: std::collections::HashSet<&str> = case
        .verify
        .transfer_channels
        .iter()
        .map(String::as_str)
        .collect();
    channels.extend(["msb_send", "msb_payout"]);

    let mut parts: Vec<DataFrame> = Vec::with_capacity(batches.len());
    let mut by_content: HashMap<String, String> = HashMap::new();
    let mut reports: Vec<crate::ingest::SourceReport> = Vec::with_capacity(case.sources.len());
    let mut rows_of_account = vec![0u64; n_accounts];
    let mut part_keys: Vec<Vec<OrderKey>> = Vec::with_capacity(batches.len());
    let mut all_keys: Vec<OrderKey> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let mut sub = case.clone();
        sub.sources = batch.iter().map(|&i| case.sources[i].clone()).collect();
        let ingested = ingest_case(&sub, registry, false)?;
        // The same check a whole ingest makes across every source.
        for report in &ingested.sources {
            reports.push(report.clone());
            if let Some(first) = by_content.get(&report.sha256) {
                return Err(IngestError::SameContent {
                    first: first.clone(),
                    second: report.source_file.clone(),
                    sha256: report.sha256.clone(),
                }
                .into());
            }
            by_content.insert(report.sha256.clone(), report.source_file.clone());
        }
        let source_index: HashMap<&str, u32> = sub
            .sources
            .iter()
            .map(|s| (s.path.written.as_str(), s.index as u32))
            .collect();
        let part = ingested
            .ledger
            .select(LINK_COLUMNS)
            .map_err(internal("keeping the link columns"))?;
        let keys = order_keys(&part, &account_index, &source_index)?;
        for key in &keys {
            rows_of_account[key.0 as usize] += 1;
        }
        if b < first_declared {
            // Every account a source without a declared account holds keeps all its rows.
            for key in &keys {
                keep_all[key.0 as usize] = true;
            }
        }
        let kept: Vec<bool> = {
            let channel = part
                .column(col::CHANNEL)
                .and_then(|c| c.str().cloned())
                .map_err(internal("reading the channels"))?;
            keys.iter()
                .zip(channel.iter())
                .map(|(key, c)| keep_all[key.0 as usize] || c.is_some_and(|c| channels.contains(c)))
                .collect()
        };
        let part = part
            .filter(&BooleanChunked::from_slice("kept".into(), &kept))
            .map_err(internal("keeping the rows transfers can need"))?;
        let kept_keys: Vec<OrderKey> = keys
            .iter()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(key, _)| *key)
            .collect();
        all_keys.extend(keys);
        parts.push(part);
        part_keys.push(kept_keys);
        crate::give_back_free_memory();
        read_bytes += batch.iter().map(|&i| sizes[i]).sum::<u64>();
        let held_bytes = parts.iter().map(|p| p.estimated_size() as u64).sum::<u64>()
            + (all_keys.capacity() * std::mem::size_of::<OrderKey>()) as u64;
        if let Some(available) = available.filter(|_| b + 1 < batches.len()) {
            check_memory(
                available,
                held_bytes,
                read_bytes,
                total_bytes,
                rows_of_account.iter().sum(),
            )?;
        }
    }
    let ledger = join_in_canonical_order(parts, part_keys, all_keys)?;
    reports.sort_by_key(|r| r.index);
    Ok(LinkPass {
        ledger,
        rows_of_account,
        batches: batches.len(),
        sources: reports,
    })
}

/// Stop the link pass when what it will hold at its end, projected from `held` after
/// `read` of `total` bytes of sources, added to the peak so far less what is held now,
/// exceeds `available`.
fn check_memory(
    available: crate::ingest::budget::Available,
    held: u64,
    read: u64,
    total: u64,
    rows: u64,
) -> Result<(), GroupsError> {
    use crate::ingest::budget::{human, peak_memory_bytes};
    if read == 0 || total <= read {
        return Ok(());
    }
    let at_end = (held as u128 * total as u128 / read as u128).min(u64::MAX as u128) as u64;
    let transient = peak_memory_bytes().unwrap_or(0).saturating_sub(held);
    let projected = at_end.saturating_add(transient);
    if projected <= available.bytes {
        return Ok(());
    }
    Err(GroupsError::OverMemory(format!(
        "not enough memory to link this case's accounts: after reading {} of its {} of sources ({rows} rows), the rows kept for transfer matching ({}) project to about {} when every source is read, {} at the peak, and {} is available ({}). Run it on a machine with more memory, or pass --no-memory-check to go on anyway (the operating system may then kill it part-way through)",
        human(read),
        human(total),
        human(held),
        human(at_end),
        human(projected),
        human(available.bytes),
        available.from.describe(),
    )))
}

/// Why `proceeds groups` stopped.
#[derive(Debug, thiserror::Error)]
pub enum GroupsError {
    /// The link pass would not fit in the memory available.
    #[error("{0}")]
    OverMemory(String),
}

/// The sources `sources` (positions in the case file), in case order, in batches of about
/// `batch_bytes` of files (`sizes`, by position), at least one source each.
fn plan_batches(sizes: &[u64], sources: &[usize], batch_bytes: u64) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0u64;
    for &i in sources {
        let size = sizes[i];
        match batches.last_mut() {
            Some(batch) if bytes.saturating_add(size) <= batch_bytes => {
                batch.push(i);
                bytes += size;
            }
            _ => {
                batches.push(vec![i]);
                bytes = size;
            }
        }
    }
    batches
}

/// Where a row stands in a whole ingest's order: its account's position in the case file,
/// its booking date (days since 1970), its source's position in the case file, and its
/// position in its batch's ledger (the bank's order within the source: rows equal on the
/// first three are from one source, so from one batch).
type OrderKey = (u32, i32, u32, u32);

/// Each row's [`OrderKey`] in `part` (one batch's ledger, in canonical order).
fn order_keys(
    part: &DataFrame,
    account_index: &HashMap<&str, u32>,
    source_index: &HashMap<&str, u32>,
) -> Result<Vec<OrderKey>, Error> {
    let texts = |name: &str| -> Result<StringChunked, Error> {
        part.column(name)
            .and_then(|c| c.str().cloned())
            .map_err(internal("reading the ledger"))
    };
    let (accounts, sources) = (texts(col::ACCOUNT_ID)?, texts(col::SOURCE_FILE)?);
    let days = part
        .column(col::BOOKING_DATE)
        .and_then(|c| c.date().map(|d| d.physical().clone()))
        .map_err(internal("reading the booking dates"))?;
    let look_up = |what: &str, index: &HashMap<&str, u32>, key: Option<&str>| {
        let key = key.unwrap_or_default();
        index.get(key).copied().ok_or_else(|| {
            Error::Internal(format!(
                "the link pass found {what} {key:?}, which the case does not declare"
            ))
        })
    };
    accounts
        .iter()
        .zip(sources.iter())
        .zip(days.iter())
        .enumerate()
        .map(|(i, ((account, source), day))| {
            Ok((
                look_up("account", account_index, account)?,
                day.unwrap_or(i32::MIN),
                look_up("source", source_index, source)?,
                i as u32,
            ))
        })
        .collect()
}

/// The kept rows of every batch as one frame in canonical order, each with the `seq` a whole
/// ingest gives it: its place among `all_keys`, the keys of every row read. Sources listed
/// account by account, as they usually are, leave the batches in that order already;
/// otherwise the rows are gathered column by column, so the kept columns are never held
/// twice.
fn join_in_canonical_order(
    parts: Vec<DataFrame>,
    part_keys: Vec<Vec<OrderKey>>,
    mut all_keys: Vec<OrderKey>,
) -> Result<DataFrame, Error> {
    let mut ledger = DataFrame::empty_with_schema(&empty_link_schema());
    for part in parts {
        ledger
            .vstack_mut_owned(part)
            .map_err(internal("joining the batches"))?;
    }
    ledger.rechunk_mut();
    let kept: Vec<OrderKey> = part_keys.into_iter().flatten().collect();
    let sorted = kept.windows(2).all(|w| w[0] < w[1]);
    let kept = if sorted {
        kept
    } else {
        let mut order: Vec<IdxSize> = (0..kept.len() as IdxSize).collect();
        order.sort_unstable_by_key(|&i| kept[i as usize]);
        let kept = order.iter().map(|&i| kept[i as usize]).collect();
        let order = IdxCa::from_vec("order".into(), order);
        let names: Vec<PlSmallStr> = ledger.get_column_names_owned();
        for name in names {
            let taken = ledger
                .column(&name)
                .and_then(|c| c.take(&order))
                .map_err(internal("putting the rows in order"))?;
            ledger
                .with_column(taken)
                .map_err(internal("putting the rows in order"))?;
        }
        kept
    };
    // `seq`: each kept row's place among every row read, both lists in order.
    all_keys.sort_unstable();
    let mut seq = Vec::with_capacity(kept.len());
    let mut at = 0usize;
    for key in &kept {
        while at < all_keys.len() && all_keys[at] < *key {
            at += 1;
        }
        if all_keys.get(at) != Some(key) {
            return Err(Error::Internal(format!(
                "the link pass lost the place of a row ({key:?})"
            )));
        }
        seq.push(at as u64 + 1);
    }
    ledger
        .with_column(Column::new(col::SEQ.into(), seq))
        .map_err(internal("numbering the rows"))?;
    Ok(ledger)
}

/// The [`LINK_COLUMNS`] with their ledger types, in that order.
fn empty_link_schema() -> Schema {
    let types: HashMap<&str, DataType> = crate::ledger::schema().into_iter().collect();
    LINK_COLUMNS
        .iter()
        .map(|name| {
            Field::new(
                (*name).into(),
                types.get(name).cloned().unwrap_or(DataType::String),
            )
        })
        .collect()
}

fn internal(what: &'static str) -> impl Fn(PolarsError) -> Error {
    move |e| Error::Internal(format!("groups: {what}: {e}"))
}

/// Link the case's accounts: the case file's links, the matched internal transfers
/// (`transfers`, as `transfers.csv`), and the money transfers and row counts of `ledger`
/// (the link pass's rows), with `rows_of_account` (every row ingest read, by account).
pub fn link(
    case: &Case,
    ledger: &DataFrame,
    rows_of_account: Vec<u64>,
    transfers: &DataFrame,
) -> Result<Groups, Error> {
    let n = case.accounts.len();
    let index: HashMap<&str, u32> = case.account_positions();
    let account_of = |id: &str| -> Result<u32, Error> {
        index.get(id).copied().ok_or_else(|| {
            Error::Internal(format!(
                "groups: account {id:?} is not declared by the case"
            ))
        })
    };
    let mut links: BTreeSet<(u32, u32, Link)> = BTreeSet::new();
    let mut join = |a: u32, b: u32, why: Link| {
        if a != b {
            links.insert((a.min(b), a.max(b), why));
        }
    };
    // Accounts each subject controls.
    let mut controlled: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (i, a) in case.accounts.iter().enumerate() {
        for s in &a.controlled_by {
            controlled.entry(s.as_str()).or_default().push(i as u32);
        }
    }
    for (subject, accounts) in &controlled {
        for w in accounts.windows(2) {
            join(w[0], w[1], Link::SameController((*subject).to_string()));
        }
    }

    // The accounts that send money transfers; money-transfer references by the accounts holding a send or payout with them.
    let texts = |name: &str| -> Result<StringChunked, Error> {
        ledger
            .column(name)
            .and_then(|c| c.str().cloned())
            .map_err(internal("reading the ledger"))
    };
    let (accounts, channels, references) = (
        texts(col::ACCOUNT_ID)?,
        texts(col::CHANNEL)?,
        texts(col::BANK_TXN_ID)?,
    );
    if rows_of_account.len() != n {
        return Err(Error::Internal(format!(
            "groups: {} row counts for {n} accounts",
            rows_of_account.len()
        )));
    }
    let mut sends = vec![false; n];
    let mut by_reference: BTreeMap<&str, BTreeSet<u32>> = BTreeMap::new();
    let mut current: Option<(&str, u32)> = None;
    for ((account, channel), reference) in
        accounts.iter().zip(channels.iter()).zip(references.iter())
    {
        let account = account.unwrap_or_default();
        let a = match current {
            Some((id, a)) if id == account => a,
            _ => {
                let a = account_of(account)?;
                current = Some((account, a));
                a
            }
        };
        if let Some(channel @ ("msb_send" | "msb_payout")) = channel {
            if channel == "msb_send" {
                sends[a as usize] = true;
            }
            if let Some(reference) = reference.map(str::trim).filter(|r| !r.is_empty()) {
                by_reference.entry(reference).or_default().insert(a);
            }
        }
    }
    for (reference, accounts) in &by_reference {
        let accounts: Vec<u32> = accounts.iter().copied().collect();
        for w in accounts.windows(2) {
            join(w[0], w[1], Link::MoneyTransfer((*reference).to_string()));
        }
    }

    // Subjects sharing an address, a phone, or (between sending accounts) a surname.
    let mut shared: BTreeMap<Link, BTreeSet<u32>> = BTreeMap::new();
    for s in &case.subjects {
        let Some(accounts) = controlled.get(s.id.as_str()) else {
            continue;
        };
        let mut keys: Vec<Link> = Vec::new();
        if let Some(address) = s.address.as_deref() {
            for key in [
                crate::rules::prepare::normalise_address(address),
                crate::rules::kinds::msb_structuring::address_key(address),
            ] {
                if !key.is_empty() {
                    keys.push(Link::SharedAddress(key));
                }
            }
        }
        if let Some(phone) = s.phone.as_deref().and_then(crate::case::phone_key) {
            keys.push(Link::SharedPhone(phone));
        }
        for key in keys {
            shared
                .entry(key)
                .or_default()
                .extend(accounts.iter().copied());
        }
        if let Some(surname) = crate::rules::kinds::msb_structuring::surname(&s.name) {
            shared
                .entry(Link::SharedSurname(surname))
                .or_default()
                .extend(accounts.iter().copied().filter(|&a| sends[a as usize]));
        }
    }
    for (why, accounts) in &shared {
        let accounts: Vec<u32> = accounts.iter().copied().collect();
        for w in accounts.windows(2) {
            join(w[0], w[1], why.clone());
        }
    }

    // Matched internal transfers.
    if transfers.height() > 0 {
        let (ids, debits, credits) = (
            transfers
                .column("transfer_id")
                .and_then(|c| c.str().cloned()),
            transfers
                .column("debit_account")
                .and_then(|c| c.str().cloned()),
            transfers
                .column("credit_account")
                .and_then(|c| c.str().cloned()),
        );
        let (ids, debits, credits) = (
            ids.map_err(internal("reading the transfers"))?,
            debits.map_err(internal("reading the transfers"))?,
            credits.map_err(internal("reading the transfers"))?,
        );
        for ((id, debit), credit) in ids.iter().zip(debits.iter()).zip(credits.iter()) {
            let (a, b) = (
                account_of(debit.unwrap_or_default())?,
                account_of(credit.unwrap_or_default())?,
            );
            join(
                a,
                b,
                Link::InternalTransfer(id.unwrap_or_default().to_string()),
            );
        }
    }

    // Union-find over the accounts; each group numbered by its first account.
    let mut parent: Vec<u32> = (0..n as u32).collect();
    fn find(parent: &mut [u32], i: u32) -> u32 {
        let mut root = i;
        while parent[root as usize] != root {
            root = parent[root as usize];
        }
        let mut j = i;
        while parent[j as usize] != root {
            let next = parent[j as usize];
            parent[j as usize] = root;
            j = next;
        }
        root
    }
    for (a, b, _) in &links {
        let (x, y) = (find(&mut parent, *a), find(&mut parent, *b));
        parent[x.max(y) as usize] = x.min(y);
    }
    let mut group_of_root: HashMap<u32, u32> = HashMap::new();
    let mut group_of_account = Vec::with_capacity(n);
    let mut members: Vec<Vec<u32>> = Vec::new();
    for a in 0..n as u32 {
        let root = find(&mut parent, a);
        let g = *group_of_root.entry(root).or_insert_with(|| {
            members.push(Vec::new());
            (members.len() - 1) as u32
        });
        members[g as usize].push(a);
        group_of_account.push(g);
    }
    Ok(Groups {
        group_of_account,
        members,
        rows_of_account,
        links: links.into_iter().collect(),
    })
}

/// The columns of `groups.csv`, in order.
pub const COLUMNS: [&str; 8] = [
    "group",
    "account_id",
    "holder",
    "controlled_by",
    "rows",
    "group_accounts",
    "group_rows",
    "linked_to",
];

/// `groups.csv`: one row per account, by group, then case order. `linked_to` names each
/// account it is linked to directly and why (several internal transfers or money transfers
/// between the same two accounts are counted, with the first id).
pub fn groups_frame(case: &Case, groups: &Groups) -> PolarsResult<DataFrame> {
    // Per account: the accounts it is linked to, each with its reasons by kind.
    type Reasons<'a> = BTreeMap<&'static str, (usize, &'a str)>;
    let mut linked: Vec<BTreeMap<u32, Reasons<'_>>> =
        vec![BTreeMap::new(); groups.group_of_account.len()];
    for (a, b, why) in &groups.links {
        for (from, to) in [(*a, *b), (*b, *a)] {
            let entry = linked[from as usize]
                .entry(to)
                .or_default()
                .entry(why.kind())
                .or_insert((0, why.detail()));
            entry.0 += 1;
        }
    }
    let describe = |account: u32| -> String {
        linked[account as usize]
            .iter()
            .map(|(other, reasons)| {
                let why: Vec<String> = reasons
                    .iter()
                    .map(|(kind, (count, first))| match count {
                        1 => format!("{kind} {first}"),
                        _ => format!("{count} {kind}s, first {first}"),
                    })
                    .collect();
                format!("{} ({})", case.accounts[*other as usize].id, why.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut group = Vec::new();
    let mut account_id = Vec::new();
    let mut holder = Vec::new();
    let mut controlled_by = Vec::new();
    let mut rows = Vec::new();
    let mut group_accounts = Vec::new();
    let mut group_rows = Vec::new();
    let mut linked_to = Vec::new();
    for (g, members) in groups.members.iter().enumerate() {
        let total = groups.rows(g);
        for &a in members {
            let account = &case.accounts[a as usize];
            group.push(g as u32 + 1);
            account_id.push(account.id.clone());
            holder.push(account.holder.clone());
            controlled_by.push(account.controlled_by.join(";"));
            rows.push(groups.rows_of_account[a as usize]);
            group_accounts.push(members.len() as u32);
            group_rows.push(total);
            linked_to.push(describe(a));
        }
    }
    df!(
        COLUMNS[0] => group,
        COLUMNS[1] => account_id,
        COLUMNS[2] => holder,
        COLUMNS[3] => controlled_by,
        COLUMNS[4] => rows,
        COLUMNS[5] => group_accounts,
        COLUMNS[6] => group_rows,
        COLUMNS[7] => linked_to,
    )
}

/// What `proceeds groups` found.
#[derive(Debug)]
pub struct GroupsSummary {
    pub groups: Groups,
    pub rows: u64,
    pub batches: usize,
    pub written: OutputFile,
}

impl GroupsSummary {
    /// A few lines for the terminal.
    pub fn text(&self, case: &Case) -> String {
        let g = &self.groups;
        let mut out = format!(
            "{} accounts, {} rows, in {} groups (sources read in {} batches)\n",
            g.group_of_account.len(),
            self.rows,
            g.members.len(),
            self.batches
        );
        if let Some(largest) = g.largest() {
            let rows = g.rows(largest);
            let share = if self.rows == 0 {
                0.0
            } else {
                100.0 * rows as f64 / self.rows as f64
            };
            let first = g.members[largest][0] as usize;
            out.push_str(&format!(
                "largest group: {} (first account {}): {} accounts, {} rows ({share:.2}% of the rows)\n",
                largest + 1,
                case.accounts[first].id,
                g.members[largest].len(),
                rows
            ));
        }
        out.push_str(&format!(
            "wrote {} ({}) and manifest.json\n",
            self.written.file, self.written.sha256
        ));
        out
    }
}

/// `proceeds groups CASE --out DIR`: the link pass, verify's transfer matching over it, the
/// groups, `groups.csv`, and `manifest.json` naming the case file, every source and the
/// layouts read with their hashes, and `groups.csv` with its own (`run_timestamp` as
/// `--run-timestamp` fixes it, else from the environment or the clock).
pub fn run(
    case_path: &Path,
    out_dir: &Path,
    resolve: ResolveOptions,
    memory_check: bool,
    run_timestamp: Option<&str>,
) -> Result<(Case, GroupsSummary), Error> {
    let case = Case::load(case_path, resolve)?;
    let registry = Registry::for_case(&case)?;
    crate::pipeline::refuse_output_beside_inputs(&case, out_dir)?;
    let available = if memory_check {
        crate::ingest::budget::available().map_err(IngestError::MemoryCheck)?
    } else {
        None
    };
    let pass = link_pass(&case, &registry, BATCH_BYTES, available)?;
    let rows: u64 = pass.rows_of_account.iter().sum();
    // Rows are counted as ingest reads them, before verify drops the duplicates of
    // overlapping exports: a group's rows are what a run reads for it.
    let transfers = transfers_only(&case, pass.ledger.clone(), &case.verify)?;
    crate::give_back_free_memory();
    let groups = link(
        &case,
        &pass.ledger,
        pass.rows_of_account.clone(),
        &transfers,
    )?;
    let batches = pass.batches;
    let sources = pass.sources;
    drop(pass.ledger);
    crate::report::ensure_dir(out_dir)?;
    let frame = groups_frame(&case, &groups).map_err(internal("building groups.csv"))?;
    let bytes = csv_out::frame_to_csv("groups.csv", &frame)?;
    let written = write_atomic(out_dir, "groups.csv", &bytes)?;
    let summary = GroupsSummary {
        groups,
        rows,
        batches,
        written,
    };
    let manifest = manifest(&case, &registry, &sources, &summary, run_timestamp)?;
    write_atomic(out_dir, "manifest.json", &manifest.to_bytes())?;
    Ok((case, summary))
}

/// `manifest.json` of `proceeds groups`: the stage `groups`, what it found, its inputs (the
/// case file, the sources, the layouts and the counterparty rules transfer matching used)
/// and `groups.csv`.
fn manifest(
    case: &Case,
    registry: &Registry,
    sources: &[crate::ingest::SourceReport],
    summary: &GroupsSummary,
    run_timestamp: Option<&str>,
) -> Result<crate::report::manifest::Manifest, Error> {
    use crate::report::manifest::{Manifest, Tool};
    let case_bytes = crate::pipeline::read_case_file(case)?;
    let (run_timestamp, run_timestamp_source) = crate::pipeline::resolve_timestamp(run_timestamp);
    let rules = crate::verify::counterparty_rules_used(&case.verify)?;
    let g = &summary.groups;
    let largest = g.largest().map_or(0, |l| g.rows(l));
    Ok(Manifest {
        tool: Tool::this(),
        run_timestamp,
        run_timestamp_source,
        case: crate::pipeline::case_info(case, &case_bytes),
        stages: vec!["groups".into()],
        stage_notes: vec![format!(
            "groups: {} accounts, {} rows, in {} groups (the largest {largest} rows); {} links (groups.csv)",
            g.group_of_account.len(),
            summary.rows,
            g.members.len(),
            g.links.len(),
        )],
        inputs: crate::pipeline::source_inputs(sources),
        layouts: crate::pipeline::layouts_used(registry, sources),
        rules: vec![rules.manifest_entry()],
        counts: crate::pipeline::counts_of(sources, summary.rows as usize),
        outputs: vec![summary.written.clone()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Account, AccountKind, Subject, SubjectRole};

    fn subject(id: &str, name: &str, address: Option<&str>, phone: Option<&str>) -> Subject {
        Subject {
            id: id.into(),
            name: name.into(),
            role: SubjectRole::Defendant,
            date_of_birth: None,
            address: address.map(str::to_string),
            phone: phone.map(str::to_string),
            aliases: Vec::new(),
        }
    }

    fn account(id: &str, controlled_by: &[&str]) -> Account {
        Account {
            id: id.into(),
            holder: format!("holder of {id}"),
            bank: "Bank".into(),
            sort_code: None,
            account_number: None,
            iban: None,
            currency: "GBP".into(),
            kind: AccountKind::Personal,
            business_type: None,
            controlled_by: controlled_by.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Eight accounts: A1+A2 one controller; A3+A4 controllers at one address (written
    /// differently); A5 and A6 send money transfers and their controllers share a surname;
    /// A7 holds a money transfer's payout whose send is in A1; A8 alone, though its
    /// controller shares a surname with A5's (A8 sends nothing).
    fn case() -> (tempfile::TempDir, Case) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.csv");
        std::fs::write(&file, "x\n").unwrap();
        let mut case = Case::ad_hoc(&file, "generic", "GBP").unwrap();
        case.subjects = vec![
            subject("S1", "Ann Moss", None, None),
            subject("S2", "Ben Hale", Some("4 Elm Row, Leeds"), None),
            subject(
                "S3",
                "Cal Dunn",
                Some("4 ELM ROW LEEDS"),
                Some("07700 900001"),
            ),
            subject("S4", "Dee Ross", None, None),
            subject("S5", "Eve Ross", None, None),
            subject("S6", "Fay Lowe", None, None),
            subject("S7", "Gus Ross", None, Some("07700 900002")),
        ];
        case.accounts = vec![
            account("A1", &["S1"]),
            account("A2", &["S1"]),
            account("A3", &["S2"]),
            account("A4", &["S3"]),
            account("A5", &["S4"]),
            account("A6", &["S5"]),
            account("A7", &["S6"]),
            account("A8", &["S7"]),
        ];
        (dir, case)
    }

    fn ledger(rows: &[(&str, &str, Option<&str>)]) -> DataFrame {
        df!(
            col::ACCOUNT_ID => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            col::CHANNEL => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            col::BANK_TXN_ID => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn transfers(pairs: &[(&str, &str, &str)]) -> DataFrame {
        df!(
            "transfer_id" => pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
            "debit_account" => pairs.iter().map(|p| p.1).collect::<Vec<_>>(),
            "credit_account" => pairs.iter().map(|p| p.2).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn ids(case: &Case, groups: &Groups) -> Vec<Vec<String>> {
        groups
            .members
            .iter()
            .map(|m| {
                m.iter()
                    .map(|&a| case.accounts[a as usize].id.clone())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn accounts_are_grouped_by_every_kind_of_link() {
        let (_dir, case) = case();
        let rows = ledger(&[
            ("A1", "msb_send", Some("MT 123")),
            ("A1", "card", None),
            ("A2", "transfer", None),
            ("A5", "msb_send", Some("MT 9")),
            ("A6", "msb_send", None),
            ("A7", "msb_payout", Some(" MT 123 ")),
            ("A8", "cash_deposit", None),
        ]);
        let groups = link(&case, &rows, vec![2, 1, 0, 0, 1, 1, 1, 1], &transfers(&[])).unwrap();
        assert_eq!(
            ids(&case, &groups),
            [
                vec!["A1", "A2", "A7"],
                vec!["A3", "A4"],
                vec!["A5", "A6"],
                vec!["A8"],
            ]
        );
        assert_eq!(groups.group_of_account, [0, 0, 1, 1, 2, 2, 0, 3]);
        assert_eq!(groups.rows_of_account, [2, 1, 0, 0, 1, 1, 1, 1]);
        assert_eq!(groups.rows(0), 4);
        assert_eq!(groups.largest(), Some(0));
        let frame = groups_frame(&case, &groups).unwrap();
        // One row per account, by group: A1, A2, A7, A3, A4, A5, A6, A8.
        let linked: Vec<Option<&str>> = frame
            .column("linked_to")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(
            linked,
            [
                Some("A2 (same controller S1); A7 (money transfer MT 123)"),
                Some("A1 (same controller S1)"),
                Some("A1 (money transfer MT 123)"),
                Some("A4 (shared address 4 ELM ROW LEEDS)"),
                Some("A3 (shared address 4 ELM ROW LEEDS)"),
                Some("A6 (shared surname ROSS)"),
                Some("A5 (shared surname ROSS)"),
                Some(""),
            ]
        );
    }

    #[test]
    fn internal_transfers_join_groups_and_are_counted_per_pair() {
        let (_dir, case) = case();
        let rows = ledger(&[("A1", "transfer", None), ("A8", "transfer", None)]);
        let groups = link(
            &case,
            &rows,
            vec![1, 0, 0, 0, 0, 0, 0, 1],
            &transfers(&[
                ("T000001", "A8", "A1"),
                ("T000002", "A1", "A8"),
                ("T000003", "A4", "A6"),
            ]),
        )
        .unwrap();
        assert_eq!(
            ids(&case, &groups),
            [
                vec!["A1", "A2", "A8"],
                vec!["A3", "A4", "A6"],
                vec!["A5"],
                vec!["A7"],
            ]
        );
        let frame = groups_frame(&case, &groups).unwrap();
        // Rows by group: A1, A2, A8, then A3, A4, A6, ...
        let text = |i: usize, name: &str| {
            frame
                .column(name)
                .unwrap()
                .str()
                .unwrap()
                .get(i)
                .map(str::to_string)
        };
        let number = |i: usize, name: &str| {
            frame
                .column(name)
                .unwrap()
                .cast(&DataType::UInt64)
                .unwrap()
                .u64()
                .unwrap()
                .get(i)
        };
        assert_eq!(text(2, "account_id").as_deref(), Some("A8"));
        assert_eq!(
            text(2, "linked_to").as_deref(),
            Some("A1 (2 internal transfers, first T000001)")
        );
        assert_eq!(
            text(5, "linked_to").as_deref(),
            Some("A4 (internal transfer T000003)")
        );
        assert_eq!(number(2, "group"), Some(1));
        assert_eq!(number(2, "group_accounts"), Some(3));
        assert_eq!(number(2, "group_rows"), Some(2));
        assert_eq!(number(5, "group"), Some(2));
    }

    #[test]
    fn a_row_of_an_account_the_case_does_not_declare_is_an_internal_error() {
        let (_dir, case) = case();
        let counts = vec![0; 8];
        let err = link(
            &case,
            &ledger(&[("A9", "msb_send", None)]),
            counts,
            &transfers(&[]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("\"A9\""), "{err}");
        let err = link(&case, &ledger(&[]), vec![0; 7], &transfers(&[])).unwrap_err();
        assert!(
            err.to_string().contains("7 row counts for 8 accounts"),
            "{err}"
        );
    }
}
