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
//! keeping of each row only the columns verify reads ([`LINK_COLUMNS`]), puts the rows in
//! the canonical order a whole ingest gives, and runs verify over them: the transfers it
//! matches are the run's own (a test compares them with a whole run's `transfers.csv`).
//! It holds those columns for every row, not the whole ledger; a run processed group by
//! group is the next step of docs/streaming.md and is not built.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use polars::prelude::*;

use crate::case::{Case, ResolveOptions};
use crate::error::Error;
use crate::ingest::{ingest_case, IngestError, Registry, StatementPeriod};
use crate::ledger::col;
use crate::report::{csv_out, write_atomic, OutputFile};
use crate::verify::verify;

/// The ledger columns the link pass keeps of each row: those verify reads.
pub const LINK_COLUMNS: [&str; 16] = crate::verify::REQUIRED;

/// Sources are read together until their files reach this many bytes (at least one
/// source a batch): enough for every core to have work, little beside the kept columns.
pub const BATCH_BYTES: u64 = 256 * 1024 * 1024;

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
    /// The [`LINK_COLUMNS`] of every ledger row, in canonical order, `seq` as a whole
    /// ingest numbers it.
    pub ledger: DataFrame,
    /// Statement periods with stated balances, as ingest reports them.
    pub statements: Vec<StatementPeriod>,
    /// Batches the sources were read in.
    pub batches: usize,
}

/// Read the case's sources in batches of about `batch_bytes` (at least one source each),
/// keeping only [`LINK_COLUMNS`], and put the rows in canonical order.
pub fn link_pass(case: &Case, registry: &Registry, batch_bytes: u64) -> Result<LinkPass, Error> {
    let account_index: HashMap<&str, u32> = case
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i as u32))
        .collect();
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut bytes = 0u64;
    for (i, source) in case.sources.iter().enumerate() {
        let size = std::fs::metadata(&source.path.resolved).map_or(0, |m| m.len());
        match batches.last_mut() {
            Some(batch) if bytes + size <= batch_bytes => {
                batch.push(i);
                bytes += size;
            }
            _ => {
                batches.push(vec![i]);
                bytes = size;
            }
        }
    }
    let mut parts: Vec<DataFrame> = Vec::with_capacity(batches.len());
    let mut statements = Vec::new();
    let mut by_content: HashMap<String, String> = HashMap::new();
    for batch in &batches {
        let mut sub = case.clone();
        sub.sources = batch.iter().map(|&i| case.sources[i].clone()).collect();
        let ingested = ingest_case(&sub, registry, false)?;
        // The same check a whole ingest makes across every source.
        for report in &ingested.sources {
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
        statements.extend(ingested.statements);
        let source_index: HashMap<&str, u32> = sub
            .sources
            .iter()
            .map(|s| (s.path.written.as_str(), s.index as u32))
            .collect();
        let part = ingested
            .ledger
            .select(LINK_COLUMNS)
            .map_err(internal("keeping the link columns"))?;
        parts.push(with_order_keys(part, &account_index, &source_index)?);
        crate::give_back_free_memory();
    }
    let mut ledger = match parts.len() {
        0 => DataFrame::empty_with_schema(&empty_link_schema()),
        _ => {
            let mut all = parts.remove(0);
            for part in parts {
                all.vstack_mut_owned(part)
                    .map_err(internal("joining the batches"))?;
            }
            all
        }
    };
    if ledger.height() > 0 {
        // A whole ingest orders by account (case order), booking date, source (case order),
        // then the bank's order within the source: within one source, its batch's order.
        ledger = ledger
            .sort(
                [
                    ORDER_ACCOUNT,
                    col::BOOKING_DATE,
                    ORDER_SOURCE,
                    ORDER_POSITION,
                ],
                SortMultipleOptions::default(),
            )
            .map_err(internal("sorting the rows"))?;
        for key in [ORDER_ACCOUNT, ORDER_SOURCE, ORDER_POSITION] {
            ledger
                .drop_in_place(key)
                .map_err(internal("dropping the order keys"))?;
        }
        let n = ledger.height() as u64;
        ledger
            .with_column(Column::new(col::SEQ.into(), (1..=n).collect::<Vec<u64>>()))
            .map_err(internal("numbering the rows"))?;
    }
    ledger.rechunk_mut();
    Ok(LinkPass {
        ledger,
        statements,
        batches: batches.len(),
    })
}

const ORDER_ACCOUNT: &str = "_order_account";
const ORDER_SOURCE: &str = "_order_source";
const ORDER_POSITION: &str = "_order_position";

fn empty_link_schema() -> Schema {
    crate::ledger::schema()
        .into_iter()
        .filter(|(name, _)| LINK_COLUMNS.contains(name))
        .map(|(name, dtype)| Field::new(name.into(), dtype))
        .collect()
}

/// `part` (one batch's ledger, in canonical order) with the keys that put its rows among
/// every batch's: the account's and the source's positions in the case file, and the row's
/// position in the batch.
fn with_order_keys(
    mut part: DataFrame,
    account_index: &HashMap<&str, u32>,
    source_index: &HashMap<&str, u32>,
) -> Result<DataFrame, Error> {
    let lookup = |name: &str, index: &HashMap<&str, u32>| -> Result<Vec<u32>, Error> {
        let texts = part
            .column(name)
            .and_then(|c| c.str().cloned())
            .map_err(internal("reading the ledger"))?;
        texts
            .iter()
            .map(|t| {
                let t = t.unwrap_or_default();
                index.get(t).copied().ok_or_else(|| {
                    Error::Internal(format!(
                        "the link pass found {name} {t:?}, which the case does not declare"
                    ))
                })
            })
            .collect()
    };
    let account = lookup(col::ACCOUNT_ID, account_index)?;
    let source = lookup(col::SOURCE_FILE, source_index)?;
    let n = part.height() as u32;
    for column in [
        Column::new(ORDER_ACCOUNT.into(), account),
        Column::new(ORDER_SOURCE.into(), source),
        Column::new(ORDER_POSITION.into(), (0..n).collect::<Vec<u32>>()),
    ] {
        part.with_column(column)
            .map_err(internal("adding the order keys"))?;
    }
    Ok(part)
}

fn internal(what: &'static str) -> impl Fn(PolarsError) -> Error {
    move |e| Error::Internal(format!("groups: {what}: {e}"))
}

/// Link the case's accounts: the case file's links, the matched internal transfers
/// (`transfers`, as `transfers.csv`), and the money transfers and row counts of `ledger`
/// (the link pass's rows: every row ingest read).
pub fn link(case: &Case, ledger: &DataFrame, transfers: &DataFrame) -> Result<Groups, Error> {
    let n = case.accounts.len();
    let index: HashMap<&str, u32> = case
        .accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i as u32))
        .collect();
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

    // Rows per account, and the accounts that send money transfers; money-transfer
    // references by the accounts holding a send or payout with them.
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
    let mut rows_of_account = vec![0u64; n];
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
        rows_of_account[a as usize] += 1;
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
    let mut shared: BTreeMap<(u8, String), BTreeSet<u32>> = BTreeMap::new();
    for s in &case.subjects {
        let Some(accounts) = controlled.get(s.id.as_str()) else {
            continue;
        };
        let mut keys: Vec<(u8, String)> = Vec::new();
        if let Some(address) = s.address.as_deref() {
            for key in [
                crate::rules::prepare::normalise_address(address),
                crate::rules::kinds::msb_structuring::address_key(address),
            ] {
                if !key.is_empty() {
                    keys.push((0, key));
                }
            }
        }
        if let Some(phone) = s.phone.as_deref().and_then(crate::case::phone_key) {
            keys.push((1, phone));
        }
        for key in keys {
            shared
                .entry(key)
                .or_default()
                .extend(accounts.iter().copied());
        }
        if let Some(surname) = crate::rules::kinds::msb_structuring::surname(&s.name) {
            shared
                .entry((2, surname))
                .or_default()
                .extend(accounts.iter().copied().filter(|&a| sends[a as usize]));
        }
    }
    for ((kind, key), accounts) in &shared {
        let accounts: Vec<u32> = accounts.iter().copied().collect();
        for w in accounts.windows(2) {
            let why = match kind {
                0 => Link::SharedAddress(key.clone()),
                1 => Link::SharedPhone(key.clone()),
                _ => Link::SharedSurname(key.clone()),
            };
            join(w[0], w[1], why);
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
            "wrote {} ({})\n",
            self.written.file, self.written.sha256
        ));
        out
    }
}

/// `proceeds groups CASE --out DIR`: the link pass, verify's transfer matching over it, the
/// groups, and `groups.csv`.
pub fn run(
    case_path: &Path,
    out_dir: &Path,
    resolve: ResolveOptions,
) -> Result<(Case, GroupsSummary), Error> {
    let case = Case::load(case_path, resolve)?;
    let registry = Registry::for_case(&case)?;
    crate::pipeline::refuse_output_beside_inputs(&case, out_dir)?;
    let pass = link_pass(&case, &registry, BATCH_BYTES)?;
    let rows = pass.ledger.height() as u64;
    // Rows are counted as ingest reads them, before verify drops the duplicates of
    // overlapping exports: a group's rows are what a run reads for it.
    let transfers = verify(&case, pass.ledger.clone(), &pass.statements, &case.verify)?.transfers;
    let groups = link(&case, &pass.ledger, &transfers)?;
    let batches = pass.batches;
    drop(pass);
    std::fs::create_dir_all(out_dir).map_err(|source| {
        Error::Report(crate::report::ReportError::OutputDir {
            path: out_dir.to_path_buf(),
            source,
        })
    })?;
    let frame = groups_frame(&case, &groups).map_err(internal("building groups.csv"))?;
    let bytes = csv_out::frame_to_csv("groups.csv", &frame)?;
    let written = write_atomic(out_dir, "groups.csv", &bytes)?;
    Ok((
        case,
        GroupsSummary {
            groups,
            rows,
            batches,
            written,
        },
    ))
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
        let groups = link(&case, &rows, &transfers(&[])).unwrap();
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
        let err = link(&case, &ledger(&[("A9", "card", None)]), &transfers(&[])).unwrap_err();
        assert!(err.to_string().contains("\"A9\""), "{err}");
    }
}
