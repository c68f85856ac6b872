//! Groups of linked accounts: the link pass reads what a whole ingest reads and matches the
//! transfers a whole verify matches; the groups of a synthetic case are the ones its
//! generator made.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use polars::prelude::*;
use proceeds::case::{Case, ResolveOptions};
use proceeds::groups::{link, link_pass, LINK_COLUMNS};
use proceeds::ingest::{ingest_case, Registry};
use proceeds::synth::{synth, SynthOptions};
use proceeds::verify::{transfers_only, verify};

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

/// The rows of a whole ingest the link pass must keep: those on a transfer channel or a
/// money transfer, and every row of an account two sources declare or a source without a
/// declared account holds.
fn rows_transfers_can_need(case: &Case, ledger: &DataFrame) -> DataFrame {
    let mut declared: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &case.sources {
        if let Some(a) = s.account.as_deref() {
            *declared.entry(a).or_default() += 1;
        }
    }
    let undeclared: BTreeSet<&str> = case
        .sources
        .iter()
        .filter(|s| s.account.is_none())
        .map(|s| s.path.written.as_str())
        .collect();
    let accounts = ledger.column("account_id").unwrap().str().unwrap();
    let sources = ledger.column("source_file").unwrap().str().unwrap();
    let mut whole: BTreeSet<&str> = declared
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(a, _)| *a)
        .collect();
    for (a, s) in accounts.iter().zip(sources.iter()) {
        if undeclared.contains(s.unwrap()) {
            whole.insert(a.unwrap());
        }
    }
    let mut channels: BTreeSet<&str> = case
        .verify
        .transfer_channels
        .iter()
        .map(String::as_str)
        .collect();
    channels.extend(["msb_send", "msb_payout"]);
    let keep: Vec<bool> = accounts
        .iter()
        .zip(ledger.column("channel").unwrap().str().unwrap().iter())
        .map(|(a, c)| whole.contains(a.unwrap()) || channels.contains(c.unwrap()))
        .collect();
    ledger
        .filter(&BooleanChunked::from_slice("keep".into(), &keep))
        .unwrap()
}

/// The link pass, in batches of one source and in one batch, against a whole ingest and
/// verify: the rows transfers can need, in the same order with the same `seq`; every row
/// counted for its account; and the same transfers. Returns the number of transfers
/// matched and the share of rows kept.
fn link_pass_agrees_with_a_whole_run(case_path: &Path) -> (usize, f64) {
    let case = Case::load(case_path, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let whole = ingest_case(&case, &registry, false).unwrap();
    let kept = rows_transfers_can_need(&case, &whole.ledger.select(LINK_COLUMNS).unwrap());
    let mut counts = vec![0u64; case.accounts.len()];
    for a in whole
        .ledger
        .column("account_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
    {
        counts[case
            .accounts
            .iter()
            .position(|x| x.id == a.unwrap())
            .unwrap()] += 1;
    }
    let rows = whole.ledger.height();
    let verified = verify(&case, whole.ledger, &whole.statements, &case.verify).unwrap();
    // Sources without a declared account are read in batches of their own, first.
    let undeclared = case.sources.iter().filter(|s| s.account.is_none()).count();
    let kinds = usize::from(undeclared > 0) + usize::from(undeclared < case.sources.len());
    for (batch_bytes, batches) in [(1, case.sources.len()), (u64::MAX, kinds)] {
        let pass = link_pass(&case, &registry, batch_bytes, None).unwrap();
        assert_eq!(pass.batches, batches, "{}", case_path.display());
        assert!(
            pass.ledger.equals_missing(&kept),
            "{}: the link pass kept other rows than a whole ingest gives (batches of {batch_bytes} bytes)\n{}\n{}",
            case_path.display(),
            pass.ledger,
            kept
        );
        assert_eq!(pass.rows_of_account, counts);
        let light = transfers_only(&case, pass.ledger, &case.verify).unwrap();
        assert!(
            light.equals_missing(&verified.transfers),
            "{}: transfers differ (batches of {batch_bytes} bytes)\n{}\n{}",
            case_path.display(),
            light,
            verified.transfers
        );
    }
    (
        verified.transfers.height(),
        kept.height() as f64 / rows as f64,
    )
}

#[test]
fn the_link_pass_matches_the_transfers_a_whole_run_matches() {
    // fixtures/verify: overlapping exports of one account, five transfers.
    let (transfers, _) = link_pass_agrees_with_a_whole_run(&fixture("verify/case.toml"));
    assert_eq!(transfers, 5);
    let (transfers, _) = link_pass_agrees_with_a_whole_run(&fixture("demo/case.toml"));
    assert!(transfers > 0);
    let dir = tempfile::tempdir().unwrap();
    let case = synthetic(dir.path(), 120, 11);
    let (transfers, share) = link_pass_agrees_with_a_whole_run(&case);
    assert!(transfers > 0);
    // Most synthetic rows are card payments and cash: the pass keeps a small share.
    assert!(share < 0.3, "{share}");
}

#[test]
fn the_groups_of_a_synthetic_case_are_its_subjects_and_hold_every_labelled_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let case_path = synthetic(dir.path(), 200, 4);
    let case = Case::load(&case_path, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let pass = link_pass(&case, &registry, 1 << 20, None).unwrap();
    let rows: u64 = pass.rows_of_account.iter().sum();
    let transfers = transfers_only(&case, pass.ledger.clone(), &case.verify).unwrap();
    let groups = link(
        &case,
        &pass.ledger,
        pass.rows_of_account.clone(),
        &transfers,
    )
    .unwrap();

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
    // The transfers verify matched are all inside groups too.
    let debit = transfers
        .column("debit_account")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    let credit = transfers
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
    assert_eq!(table[0], proceeds::groups::COLUMNS);
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

/// `proceeds groups` writes a manifest that `proceeds verify-manifest` finds intact: the case
/// file, every source with its hash, and `groups.csv` with its own; the same bytes on a rerun
/// with the run timestamp fixed; and a changed `groups.csv` is found out.
#[test]
fn proceeds_groups_writes_a_manifest_that_verify_manifest_checks() {
    use std::process::Command;
    let case = fixture("demo/case.toml");
    let dir = tempfile::tempdir().unwrap();
    let groups = |out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_proceeds"))
            .env_remove("PROCEEDS_RUN_TIMESTAMP")
            .arg("groups")
            .arg(&case)
            .arg("--out")
            .arg(out)
            .args(["--run-timestamp", "2025-01-01T00:00:00Z"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let stdout = groups(&a);
    assert!(stdout.contains(") and manifest.json\n"), "{stdout}");
    groups(&b);
    let manifest = std::fs::read(a.join("manifest.json")).unwrap();
    assert_eq!(manifest, std::fs::read(b.join("manifest.json")).unwrap());
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(m["stages"], serde_json::json!(["groups"]));
    assert_eq!(m["run_timestamp"], "2025-01-01T00:00:00Z");
    let parsed = Case::load(&case, ResolveOptions::default()).unwrap();
    let inputs = m["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), parsed.sources.len());
    for (input, source) in inputs.iter().zip(&parsed.sources) {
        assert_eq!(input["role"], "source");
        assert_eq!(input["path"], source.path.written.as_str());
        assert_eq!(
            input["sha256"],
            proceeds::hash::sha256_hex(&std::fs::read(&source.path.resolved).unwrap())
        );
    }
    let outputs = m["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0]["file"], "groups.csv");
    assert_eq!(
        outputs[0]["sha256"],
        proceeds::hash::sha256_hex(&std::fs::read(a.join("groups.csv")).unwrap())
    );
    let rows: u64 = read_csv(&a.join("groups.csv"))
        .iter()
        .skip(1)
        .map(|r| r[4].parse::<u64>().unwrap())
        .sum();
    assert_eq!(m["counts"]["ledger_rows"], rows);
    assert_eq!(m["counts"]["sources"], parsed.sources.len());

    let verify = |out: &Path| {
        Command::new(env!("CARGO_BIN_EXE_proceeds"))
            .arg("verify-manifest")
            .arg(out)
            .arg("--case-dir")
            .arg(case.parent().unwrap())
            .output()
            .unwrap()
    };
    let intact = verify(&a);
    assert_eq!(
        intact.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&intact.stdout)
    );
    let mut csv = std::fs::read(a.join("groups.csv")).unwrap();
    csv.push(b' ');
    std::fs::write(a.join("groups.csv"), csv).unwrap();
    let changed = verify(&a);
    assert_eq!(changed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&changed.stdout).contains("groups.csv"));
}

#[test]
fn the_link_pass_stops_when_what_it_keeps_will_not_fit() {
    use proceeds::ingest::budget::{Available, AvailableFrom};
    let dir = tempfile::tempdir().unwrap();
    let case_path = synthetic(dir.path(), 40, 3);
    let case = Case::load(&case_path, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let tiny = Available {
        bytes: 1_000,
        from: AvailableFrom::Environment,
    };
    // One source a batch: the check runs after the first.
    let err = link_pass(&case, &registry, 1, Some(tiny)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("not enough memory to link this case's accounts: after reading "),
        "{message}"
    );
    assert!(
        message.contains("and 1.0 kB is available (PROCEEDS_MEMORY_AVAILABLE)"),
        "{message}"
    );
    assert!(message.contains("--no-memory-check"), "{message}");
    assert_eq!(err.exit_code(), 2);
    // Ample memory, or no check: the pass goes through.
    let ample = Available {
        bytes: u64::MAX,
        from: AvailableFrom::Environment,
    };
    assert!(link_pass(&case, &registry, 1, Some(ample)).is_ok());
    // In one batch there is nothing read before the end to project from.
    assert!(link_pass(&case, &registry, u64::MAX, Some(tiny)).is_ok());
}

/// A case ingested and verified whole, beside its groups from the link pass.
struct Grouped {
    case: Case,
    groups: proceeds::groups::Groups,
    /// The whole ingest's ledger and statement periods, before verify.
    ingested: DataFrame,
    statements: Vec<proceeds::ingest::StatementPeriod>,
    verified: proceeds::verify::Verified,
}

fn grouped(case_path: &Path) -> Grouped {
    let case = Case::load(case_path, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let pass = link_pass(&case, &registry, u64::MAX, None).unwrap();
    let transfers = transfers_only(&case, pass.ledger.clone(), &case.verify).unwrap();
    let groups = link(
        &case,
        &pass.ledger,
        pass.rows_of_account.clone(),
        &transfers,
    )
    .unwrap();
    let whole = ingest_case(&case, &registry, false).unwrap();
    let ingested = whole.ledger.clone();
    let verified = verify(&case, whole.ledger, &whole.statements, &case.verify).unwrap();
    Grouped {
        case,
        groups,
        ingested,
        statements: whole.statements,
        verified,
    }
}

impl Grouped {
    fn rules(&self) -> (Vec<proceeds::rules::Rule>, proceeds::rules::Reference) {
        (
            proceeds::rules::rules_for_case(&self.case).unwrap(),
            proceeds::rules::Reference::for_case(&self.case).unwrap(),
        )
    }

    /// Detection over the whole verified ledger.
    fn findings(&self) -> proceeds::rules::Findings {
        let (rules, reference) = self.rules();
        proceeds::rules::run_rules(&self.verified.ledger, &self.case, &rules, &reference).unwrap()
    }
}

/// A frame as the lines of its CSV, header first.
fn csv_lines(name: &str, frame: &DataFrame) -> Vec<String> {
    lines_of(proceeds::report::csv_out::frame_to_csv(name, frame).unwrap())
}

fn lines_of(bytes: Vec<u8>) -> Vec<String> {
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The rows of `frame` whose `column` names one of `ids`.
fn rows_of(frame: &DataFrame, column: &str, ids: &BTreeSet<&str>) -> DataFrame {
    let keep: Vec<bool> = frame
        .column(column)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|a| a.is_some_and(|a| ids.contains(a)))
        .collect();
    frame
        .filter(&BooleanChunked::from_slice("keep".into(), &keep))
        .unwrap()
}

/// The ids of a group's accounts.
fn ids_of<'a>(case: &'a Case, members: &[u32]) -> BTreeSet<&'a str> {
    members
        .iter()
        .map(|&a| case.accounts[a as usize].id.as_str())
        .collect()
}

/// Each output of the whole (its CSV lines, header first) holds the same rows as the same
/// output of every group together, in any order; each group's carries the header once.
fn assert_same_rows(whole: Vec<Vec<String>>, by_group: Vec<Vec<String>>, case_path: &Path) {
    assert_eq!(whole.len(), by_group.len());
    for (k, (mut whole, mut parts)) in whole.into_iter().zip(by_group).enumerate() {
        let header = whole[0].clone();
        whole.sort();
        parts.sort();
        parts.dedup_by(|a, b| a == b && *a == header);
        assert_eq!(parts, whole, "{}: output {k}", case_path.display());
    }
}

/// Detection run group by group, over each group's rows of the verified ledger, finds what
/// detection over the whole ledger finds: the same findings (ids included) and the same
/// evidence rows. No rule looks across the groups.
/// Returns the number of findings and of groups.
fn detection_by_group_agrees_with_the_whole(case_path: &Path) -> (usize, usize) {
    use proceeds::rules::run_rules;
    let grouped = grouped(case_path);
    let Grouped {
        case,
        groups,
        verified,
        ..
    } = &grouped;
    let (rules, reference) = grouped.rules();
    let all = grouped.findings();
    assert!(all.findings.height() > 0, "{}", case_path.display());

    let outputs = |found: &proceeds::rules::Findings| {
        vec![
            csv_lines("findings.csv", &found.findings),
            csv_lines("finding_evidence.csv", &found.evidence),
        ]
    };
    let mut by_group = vec![Vec::new(); 2];
    for members in &groups.members {
        let rows = rows_of(&verified.ledger, "account_id", &ids_of(case, members));
        let found = run_rules(&rows, case, &rules, &reference).unwrap();
        for (k, lines) in outputs(&found).into_iter().enumerate() {
            by_group[k].extend(lines);
        }
    }
    assert_same_rows(outputs(&all), by_group, case_path);
    (all.findings.height(), groups.members.len())
}

/// A case whose only finding needs two accounts seen together: one person's cash deposits
/// of £9,000 into each of two accounts three days apart (STR-002, across a subject's
/// accounts; neither account alone meets STR-001's two deposits), and a third account of
/// someone else.
fn cash_split_across_two_accounts(dir: &Path) -> std::path::PathBuf {
    let statement = |sort: &str, number: &str, rows: &[(&str, &str, &str, &str)]| {
        let mut text = String::from(
            "Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,Debit Amount,Credit Amount,Balance\n",
        );
        for (date, kind, description, credit) in rows {
            text.push_str(&format!(
                "{date},{kind},'{sort},{number},{description},,{credit},\n"
            ));
        }
        text
    };
    std::fs::create_dir_all(dir.join("statements")).unwrap();
    std::fs::write(
        dir.join("statements/a.csv"),
        statement(
            "30-00-01",
            "10000001",
            &[
                ("04/03/2024", "DEP", "CASH DEPOSIT LEEDS", "9000.00"),
                ("01/03/2024", "FPI", "SALARY", "1500.00"),
            ],
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("statements/b.csv"),
        statement(
            "30-00-02",
            "10000002",
            &[("07/03/2024", "DEP", "CASH DEPOSIT BRADFORD", "9000.00")],
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("statements/c.csv"),
        statement(
            "30-00-03",
            "10000003",
            &[("05/03/2024", "DEP", "CASH DEPOSIT YORK", "9500.00")],
        ),
    )
    .unwrap();
    let account = |id: &str, sort: &str, number: &str, subject: &str| {
        format!(
            "[[accounts]]\nid = \"{id}\"\nholder = \"Holder {id}\"\nbank = \"Lloyds Bank\"\nsort_code = \"{sort}\"\naccount_number = \"{number}\"\ncontrolled_by = [\"{subject}\"]\n\n"
        )
    };
    let source = |file: &str, id: &str| {
        format!("[[sources]]\npath = \"statements/{file}\"\nlayout = \"lloyds\"\naccount = \"{id}\"\n\n")
    };
    let case = format!(
        "[case]\nreference = \"FIXTURE-SPLIT\"\nlifestyle = false\n\n[dates]\nproceedings_started = 2025-01-01\n\n\
         [[subjects]]\nid = \"P1\"\nname = \"Pat Fenwick\"\nrole = \"defendant\"\n\n\
         [[subjects]]\nid = \"P2\"\nname = \"Quinn Ashby\"\nrole = \"associate\"\n\n{}{}{}{}{}{}\
         [rules]\nsets = [\"structuring\"]\n",
        account("A", "30-00-01", "10000001", "P1"),
        account("B", "30-00-02", "10000002", "P1"),
        account("C", "30-00-03", "10000003", "P2"),
        source("a.csv", "A"),
        source("b.csv", "B"),
        source("c.csv", "C"),
    );
    std::fs::write(dir.join("case.toml"), case).unwrap();
    dir.join("case.toml")
}

#[test]
fn detection_group_by_group_finds_what_detection_of_the_whole_ledger_finds() {
    // The finding needs both of P1's accounts: grouped by controller, it is found.
    let dir = tempfile::tempdir().unwrap();
    let (findings, groups) =
        detection_by_group_agrees_with_the_whole(&cash_split_across_two_accounts(dir.path()));
    assert_eq!((findings, groups), (1, 2));
    // One subject's two accounts: one group.
    let (findings, groups) =
        detection_by_group_agrees_with_the_whole(&fixture("detect/case/case.toml"));
    assert!(findings > 0);
    assert_eq!(groups, 1);
    let dir = tempfile::tempdir().unwrap();
    let case = synthetic(dir.path(), 80, 21);
    let (findings, groups) = detection_by_group_agrees_with_the_whole(&case);
    assert!(findings > 0);
    assert!(groups > 50, "{groups}");
}

/// The trace run group by group (each group's rows of the verified ledger, its transfers and
/// its finding evidence) follows the money as the trace of the whole does: the same flows,
/// summaries, balances, origins and notes, row for row. Money crosses accounts only inside
/// a group. Returns the number of flows and of groups.
fn trace_by_group_agrees_with_the_whole(case_path: &Path) -> (usize, usize) {
    use proceeds::report::csv_out::{write_trace_flows, write_trace_summary};
    use proceeds::trace::{trace, TraceInput};
    let grouped = grouped(case_path);
    let Grouped {
        case,
        groups,
        verified,
        ..
    } = &grouped;
    let found = grouped.findings();
    let spec = case
        .tracing
        .clone()
        .expect("the case has a [tracing] table");

    // Every output of a trace, as sorted CSV lines per output.
    let outputs = |ledger: &DataFrame, transfers: &DataFrame, evidence: &DataFrame| {
        let traced = trace(&TraceInput {
            ledger,
            transfers: Some(transfers),
            finding_evidence: Some(evidence),
            spec: &spec,
        })
        .unwrap();
        vec![
            lines_of(write_trace_flows(traced.flow_rows(None), Vec::new()).unwrap()),
            lines_of(
                write_trace_summary(
                    &traced.summary_columns(),
                    traced.summary_row_iter(),
                    Vec::new(),
                )
                .unwrap(),
            ),
            csv_lines("trace_balances.csv", &traced.balances_frame().unwrap()),
            csv_lines("trace_origins.csv", &traced.origins_frame().unwrap()),
            csv_lines("trace_notes.csv", &traced.notes_frame().unwrap()),
        ]
    };
    let all = outputs(&verified.ledger, &verified.transfers, &found.evidence);
    let flows = all[0].len() - 1;

    let mut by_group: Vec<Vec<String>> = vec![Vec::new(); all.len()];
    for members in &groups.members {
        let ids = ids_of(case, members);
        // The group's transfers: both ends in the group (a transfer never has one end out).
        let transfers = rows_of(
            &rows_of(&verified.transfers, "debit_account", &ids),
            "credit_account",
            &ids,
        );
        assert_eq!(
            transfers.height(),
            rows_of(&verified.transfers, "debit_account", &ids).height()
        );
        let part = outputs(
            &rows_of(&verified.ledger, "account_id", &ids),
            &transfers,
            &rows_of(&found.evidence, "account_id", &ids),
        );
        for (k, lines) in part.into_iter().enumerate() {
            by_group[k].extend(lines);
        }
    }
    assert_same_rows(all, by_group, case_path);
    (flows, groups.members.len())
}

#[test]
fn the_trace_group_by_group_follows_the_money_as_the_trace_of_the_whole_ledger_does() {
    let dir = tempfile::tempdir().unwrap();
    let case = synthetic(dir.path(), 80, 21);
    let (flows, groups) = trace_by_group_agrees_with_the_whole(&case);
    assert!(flows > 0);
    assert!(groups > 50, "{groups}");
}

/// Verify run group by group, over each group's rows of the ingested ledger and its
/// statements, gives each row what verify of the whole gives it (base amount, rate,
/// counterparty key, the transfer it is matched in), drops the same duplicates, matches the
/// same transfers and makes the same checks. Only the transfers' numbers differ: each run
/// numbers its own from 1. Returns the number of transfers and of groups.
fn verify_by_group_agrees_with_the_whole(case_path: &Path) -> (usize, usize) {
    let Grouped {
        case,
        groups,
        ingested,
        statements,
        verified,
    } = grouped(case_path);

    // Transfer ids replaced by the pair of txn_ids they join, the same whoever numbers them.
    let pairs_of = |transfers: &DataFrame| -> BTreeMap<String, String> {
        let ids = transfers.column("transfer_id").unwrap().str().unwrap();
        let debits = transfers.column("debit_txn_id").unwrap().str().unwrap();
        let credits = transfers.column("credit_txn_id").unwrap().str().unwrap();
        ids.iter()
            .zip(debits.iter().zip(credits.iter()))
            .map(|(id, (d, c))| {
                (
                    id.unwrap().to_string(),
                    format!("{}>{}", d.unwrap(), c.unwrap()),
                )
            })
            .collect()
    };
    // Checks are numbered in the order a run makes them, and a run checks the coverage of
    // every account of the case: a group's run is compared on its own accounts' checks,
    // without the numbers.
    let outputs =
        |v: &proceeds::verify::Verified, ids: Option<&BTreeSet<&str>>| -> Vec<Vec<String>> {
            let pairs = pairs_of(&v.transfers);
            let mut ledger = v.ledger.clone();
            let named: StringChunked = ledger
                .column("transfer_id")
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .map(|id| id.map(|id| pairs[id].clone()))
                .collect();
            ledger
                .with_column(named.with_name("transfer_id".into()).into_column())
                .unwrap();
            let transfers = v.transfers.drop("transfer_id").unwrap();
            vec![
                csv_lines("ledger.csv", &ledger),
                csv_lines("duplicates.csv", &v.duplicates),
                csv_lines("transfers.csv", &transfers),
                csv_lines("integrity.csv", &{
                    let checks = v.integrity.drop("check_no").unwrap();
                    match ids {
                        Some(ids) => rows_of(&checks, "account_id", ids),
                        None => checks,
                    }
                }),
            ]
        };
    let all = outputs(&verified, None);
    let mut by_group: Vec<Vec<String>> = vec![Vec::new(); all.len()];
    for members in &groups.members {
        let ids = ids_of(&case, members);
        let rows = rows_of(&ingested, "account_id", &ids);
        let statements: Vec<_> = statements
            .iter()
            .filter(|s| ids.contains(s.account_id.as_str()))
            .cloned()
            .collect();
        let part = verify(&case, rows, &statements, &case.verify).unwrap();
        for (k, lines) in outputs(&part, Some(&ids)).into_iter().enumerate() {
            by_group[k].extend(lines);
        }
    }
    assert_same_rows(all, by_group, case_path);
    (verified.transfers.height(), groups.members.len())
}

#[test]
fn verify_group_by_group_gives_every_row_what_verify_of_the_whole_ledger_gives_it() {
    // Overlapping exports of one account, and transfers between accounts.
    let (transfers, groups) = verify_by_group_agrees_with_the_whole(&fixture("verify/case.toml"));
    assert_eq!((transfers, groups), (5, 1));
    let dir = tempfile::tempdir().unwrap();
    let case = synthetic(dir.path(), 80, 21);
    let (transfers, groups) = verify_by_group_agrees_with_the_whole(&case);
    assert!(transfers > 0);
    assert!(groups > 50, "{groups}");
}

#[test]
fn the_link_pass_refuses_a_file_listed_twice_across_its_batches() {
    // b.csv made a copy of a.csv: in batches of one source each, the copy is in another
    // batch than the file it copies, and is refused as a whole ingest refuses it.
    let dir = tempfile::tempdir().unwrap();
    let case_path = cash_split_across_two_accounts(dir.path());
    std::fs::copy(
        dir.path().join("statements/a.csv"),
        dir.path().join("statements/b.csv"),
    )
    .unwrap();
    let case = Case::load(&case_path, ResolveOptions::default()).unwrap();
    let registry = Registry::for_case(&case).unwrap();
    let whole = ingest_case(&case, &registry, false)
        .unwrap_err()
        .to_string();
    let err = link_pass(&case, &registry, 1, None).unwrap_err();
    assert_eq!(err.to_string(), whole);
    assert!(
        whole.starts_with("sources statements/a.csv and statements/b.csv have identical content"),
        "{whole}"
    );
    assert_eq!(err.exit_code(), 2);
}
