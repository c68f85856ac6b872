//! Groups of linked accounts: the link pass reads what a whole ingest reads and matches the
//! transfers a whole verify matches; the groups of a synthetic case are the ones its
//! generator made.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use proceeds::case::{Case, ResolveOptions};
use proceeds::groups::{link, link_pass, LINK_COLUMNS};
use proceeds::ingest::{ingest_case, Registry};
use proceeds::synth::{synth, SynthOptions};
use proceeds::verify::verify;

use crate::support::{fixture, read_csv};

fn synthetic(dir: &Path, accounts: usize, seed: u64) -> std::path::PathBuf {
    synth(&SynthOptions {
        out: dir.to_path_buf(),
        seed,
        accounts,
        months: 2,
        rows: None,
        typology: Default::default(),
    })
    .unwrap();
    dir.join("case.toml")
}

/// The link pass, in batches of one source and in one batch, against a whole ingest and
/// verify: the same rows in the same order with the same `seq`, and the same transfers.
/// Returns the number of transfers matched.
fn link_pass_agrees_with_a_whole_run(case_path: &Path) -> usize {
    let case = Case::load(case_path, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let whole = ingest_case(&case, &registry, false).unwrap();
    let kept = whole.ledger.select(LINK_COLUMNS).unwrap();
    let verified = verify(&case, whole.ledger, &whole.statements, &case.verify).unwrap();
    for (batch_bytes, batches) in [(1, case.sources.len()), (u64::MAX, 1)] {
        let pass = link_pass(&case, &registry, batch_bytes).unwrap();
        assert_eq!(pass.batches, batches, "{}", case_path.display());
        assert!(
            pass.ledger.equals_missing(&kept),
            "{}: the link pass's rows differ from a whole ingest's (batches of {batch_bytes} bytes)",
            case_path.display()
        );
        assert_eq!(pass.statements.len(), whole.statements.len());
        let light = verify(&case, pass.ledger, &pass.statements, &case.verify).unwrap();
        assert!(
            light.transfers.equals_missing(&verified.transfers),
            "{}: transfers differ (batches of {batch_bytes} bytes)\n{}\n{}",
            case_path.display(),
            light.transfers,
            verified.transfers
        );
    }
    verified.transfers.height()
}

#[test]
fn the_link_pass_matches_the_transfers_a_whole_run_matches() {
    assert_eq!(
        link_pass_agrees_with_a_whole_run(&fixture("verify/case.toml")),
        5,
        "fixtures/verify matches five transfers"
    );
    assert!(link_pass_agrees_with_a_whole_run(&fixture("demo/case.toml")) > 0);
    let dir = tempfile::tempdir().unwrap();
    let case = synthetic(dir.path(), 120, 11);
    assert!(link_pass_agrees_with_a_whole_run(&case) > 0);
}

#[test]
fn the_groups_of_a_synthetic_case_are_its_subjects_and_hold_every_labelled_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let case_path = synthetic(dir.path(), 200, 4);
    let case = Case::load(&case_path, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let pass = link_pass(&case, &registry, 1 << 20).unwrap();
    let rows = pass.ledger.height() as u64;
    let verified = verify(&case, pass.ledger.clone(), &pass.statements, &case.verify).unwrap();
    let groups = link(&case, &pass.ledger, &verified.transfers).unwrap();

    // The generator links accounts only through a subject holding two of them, with an
    // internal transfer between the two: the groups are the subjects' accounts.
    let mut by_subject: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for a in &case.accounts {
        assert_eq!(a.controlled_by.len(), 1, "{}", a.id);
        by_subject
            .entry(a.controlled_by[0].as_str())
            .or_default()
            .push(a.id.as_str());
    }
    let expected: BTreeSet<Vec<&str>> = by_subject.into_values().collect();
    let got: BTreeSet<Vec<&str>> = groups
        .members
        .iter()
        .map(|m| {
            m.iter()
                .map(|&a| case.accounts[a as usize].id.as_str())
                .collect()
        })
        .collect();
    assert_eq!(got, expected);
    assert!(
        expected.iter().any(|g| g.len() == 2),
        "the case has subjects with two accounts"
    );
    assert_eq!(groups.rows_of_account.iter().sum::<u64>(), rows);

    // Every labelled internal transfer lies inside one group.
    let labels = read_csv(&dir.path().join("labels.csv"));
    let mut pairs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for row in labels
        .iter()
        .skip(1)
        .filter(|r| r[1] == "internal_transfer")
    {
        pairs
            .entry(row[6].as_str())
            .or_default()
            .push(row[2].as_str());
    }
    assert!(!pairs.is_empty());
    let group_of = |id: &str| {
        let i = case.accounts.iter().position(|a| a.id == id).unwrap();
        groups.group_of_account[i]
    };
    for (episode, accounts) in &pairs {
        assert_eq!(accounts.len(), 2, "{episode}");
        assert_ne!(accounts[0], accounts[1], "{episode}");
        assert_eq!(group_of(accounts[0]), group_of(accounts[1]), "{episode}");
    }
    // The transfers verify matched are all inside groups too, and are labelled ones.
    let debit = verified
        .transfers
        .column("debit_account")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    let credit = verified
        .transfers
        .column("credit_account")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    assert!(!debit.is_empty());
    for (d, c) in debit.iter().zip(credit.iter()) {
        assert_eq!(group_of(d.unwrap()), group_of(c.unwrap()));
    }
}

#[test]
fn proceeds_groups_writes_groups_csv_and_says_how_large_the_largest_group_is() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_proceeds"))
        .args([
            "groups".as_ref(),
            fixture("verify/case.toml").as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let table = read_csv(&out.join("groups.csv"));
    assert_eq!(
        table[0],
        [
            "group",
            "account_id",
            "holder",
            "controlled_by",
            "rows",
            "group_accounts",
            "group_rows",
            "linked_to"
        ]
    );
    let accounts = table.len() - 1;
    let groups: BTreeSet<&str> = table.iter().skip(1).map(|r| r[0].as_str()).collect();
    let rows: u64 = table
        .iter()
        .skip(1)
        .map(|r| r[4].parse::<u64>().unwrap())
        .sum();
    assert!(
        stdout.starts_with(&format!(
            "{accounts} accounts, {rows} rows, in {} groups",
            groups.len()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("largest group: 1"), "{stdout}");
    // Each row's group totals agree with its group's rows.
    for g in &groups {
        let members: Vec<&Vec<String>> = table.iter().skip(1).filter(|r| r[0] == *g).collect();
        let total: u64 = members.iter().map(|r| r[4].parse::<u64>().unwrap()).sum();
        for m in &members {
            assert_eq!(m[5], members.len().to_string());
            assert_eq!(m[6], total.to_string());
        }
    }
}
