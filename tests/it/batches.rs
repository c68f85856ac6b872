//! A case run batch by batch (`proceeds::batches`, step 2 of docs/streaming.md) writes the
//! ledger, integrity checks, duplicates, transfers, findings and evidence a run of the whole
//! case writes, byte for byte.

use std::collections::BTreeMap;
use std::path::Path;

use proceeds::batches;
use proceeds::case::{Case, ResolveOptions};
use proceeds::ingest::{budget, ingest_case, Registry};
use proceeds::report::csv_out::{frame_to_csv, rejects_csv, skipped_csv, sources_csv};
use proceeds::report::csv_out::{write_trace_flows, write_trace_summary};
use proceeds::report::parquet_out::to_parquet_bytes;
use proceeds::rules::{rules_for_case, run_rules, Reference};
use proceeds::synth::{synth, SynthOptions};
use proceeds::trace::{trace, Method, TraceInput};
use proceeds::verify::verify;

use crate::support::fixture;

/// First rows of the trace summary kept for the report (small, so that batches cut it).
const SUMMARY_HEAD: usize = 40;

fn metadata() -> Vec<(String, String)> {
    vec![("proceeds.case_reference".to_string(), "TEST".to_string())]
}

/// Each output as bytes, by name.
type Outputs = BTreeMap<&'static str, Vec<u8>>;

fn whole_run(case: &Case) -> Outputs {
    let registry = Registry::for_case(case).unwrap();
    let ingested = ingest_case(case, &registry, false).unwrap();
    let mut out = Outputs::new();
    out.insert("rejects.csv", rejects_csv(&ingested.rejects).unwrap());
    out.insert("skipped.csv", skipped_csv(&ingested.skipped).unwrap());
    out.insert("sources.csv", sources_csv(&ingested.sources).unwrap());
    let verified = verify(case, ingested.ledger, &ingested.statements, &case.verify).unwrap();
    let rules = rules_for_case(case).unwrap();
    let reference = Reference::for_case(case).unwrap();
    let found = run_rules(&verified.ledger, case, &rules, &reference).unwrap();
    out.insert(
        "integrity_summary.txt",
        verified.summary.join("\n\n").into_bytes(),
    );
    if let Some(spec) = &case.tracing {
        let traced = trace(&TraceInput {
            ledger: &verified.ledger,
            transfers: Some(&verified.transfers),
            finding_evidence: Some(&found.evidence),
            spec,
        })
        .unwrap();
        out.insert(
            "trace_flows.csv",
            write_trace_flows(traced.flow_rows(None), Vec::new()).unwrap(),
        );
        out.insert(
            "trace_summary.csv",
            write_trace_summary(
                &traced.summary_columns(),
                traced.summary_row_iter(),
                Vec::new(),
            )
            .unwrap(),
        );
        let elected = traced.elected_method().unwrap_or(Method::Fifo);
        for (name, frame) in [
            ("trace_balances.csv", traced.balances_frame().unwrap()),
            ("trace_origins.csv", traced.origins_frame().unwrap()),
            ("trace_notes.csv", traced.notes_frame().unwrap()),
            (
                "trace flows of the elected method",
                traced.flows_frame_of(Some(elected)).unwrap(),
            ),
            (
                "trace summary head",
                traced.summary_frame_head(SUMMARY_HEAD).unwrap(),
            ),
        ] {
            out.insert(name, frame_to_csv(name, &frame).unwrap());
        }
        out.insert(
            "trace counts",
            format!("{} {}", traced.summary_len(), traced.origin_txn_ids().len()).into_bytes(),
        );
    }
    out.insert(
        "ledger.csv",
        frame_to_csv("ledger.csv", &verified.ledger).unwrap(),
    );
    out.insert(
        "ledger.parquet",
        to_parquet_bytes("ledger.parquet", &verified.ledger, metadata()).unwrap(),
    );
    for (name, frame) in [
        ("integrity.csv", &verified.integrity),
        ("duplicates.csv", &verified.duplicates),
        ("transfers.csv", &verified.transfers),
        ("findings.csv", &found.findings),
        ("finding_evidence.csv", &found.evidence),
    ] {
        out.insert(name, frame_to_csv(name, frame).unwrap());
    }
    out.insert("rules applied", format!("{:?}", found.rules).into_bytes());
    out.insert("detect notes", found.notes.join("\n").into_bytes());
    out
}

/// The same outputs from batches of at most `max_rows` rows; and how many batches.
fn batch_run(case: &Case, max_rows: u64, work: &Path) -> (Outputs, usize) {
    let registry = Registry::for_case(case).unwrap();
    let run = batches::run(
        case,
        &registry,
        &batches::RunPlan {
            work: work.to_path_buf(),
            max_rows,
            detect: true,
            available: None,
            scope: budget::Scope::WithoutReport,
            trace: case.tracing.clone().map(|spec| (spec, SUMMARY_HEAD)),
            schedule: None,
            charts: false,
        },
    )
    .unwrap();
    let mut out = Outputs::new();
    out.insert("rejects.csv", rejects_csv(&run.rejects).unwrap());
    out.insert("skipped.csv", skipped_csv(&run.skipped).unwrap());
    out.insert("sources.csv", sources_csv(&run.sources).unwrap());
    let (mut csv, mut parquet) = (Vec::new(), Vec::new());
    run.ledger
        .finish(&mut csv, &mut parquet, metadata())
        .unwrap();
    out.insert("ledger.csv", csv);
    out.insert("ledger.parquet", parquet);
    let found = run.found.unwrap();
    out.insert(
        "integrity_summary.txt",
        run.summary.join("\n\n").into_bytes(),
    );
    if let Some((parts, tables)) = run.trace {
        let (mut flows, mut summary) = (Vec::new(), Vec::new());
        parts.finish(&mut flows, &mut summary).unwrap();
        out.insert("trace_flows.csv", flows);
        out.insert("trace_summary.csv", summary);
        for (name, frame) in [
            ("trace_balances.csv", &tables.balances),
            ("trace_origins.csv", &tables.origins),
            ("trace_notes.csv", &tables.notes),
            ("trace flows of the elected method", &tables.flows),
            ("trace summary head", &tables.summary),
        ] {
            out.insert(name, frame_to_csv(name, frame).unwrap());
        }
        out.insert(
            "trace counts",
            format!("{} {}", tables.summary_rows, tables.origins_count).into_bytes(),
        );
    }
    for (name, frame) in [
        ("integrity.csv", &run.integrity),
        ("duplicates.csv", &run.duplicates),
        ("transfers.csv", &run.transfers),
        ("findings.csv", &found.findings),
        ("finding_evidence.csv", &found.evidence),
    ] {
        out.insert(name, frame_to_csv(name, frame).unwrap());
    }
    out.insert("rules applied", format!("{:?}", found.rules).into_bytes());
    out.insert("detect notes", found.notes.join("\n").into_bytes());
    assert!(
        std::fs::read_dir(work).unwrap().next().is_none(),
        "the ledger's parts are removed"
    );
    assert_eq!(
        run.ledger_rows,
        String::from_utf8_lossy(&out["ledger.csv"]).lines().count() - 1
    );
    (out, run.batches)
}

/// Runs `case_path` whole and in batches of `max_rows`; every output is the same bytes.
/// Returns the number of batches and the whole run's ledger, findings and evidence rows.
fn batches_agree_with_the_whole(case_path: &Path, max_rows: u64) -> (usize, [usize; 3]) {
    let (batches, counts, _) = batches_agree_with_the_whole_run(case_path, max_rows);
    (batches, counts)
}

/// [`batches_agree_with_the_whole`], with the whole run's outputs.
fn batches_agree_with_the_whole_run(
    case_path: &Path,
    max_rows: u64,
) -> (usize, [usize; 3], Outputs) {
    let case = Case::load(case_path, ResolveOptions::default()).unwrap();
    let whole = whole_run(&case);
    let work = tempfile::tempdir().unwrap();
    let (by_batch, batches) = batch_run(&case, max_rows, work.path());
    for (name, bytes) in &whole {
        let ours = &by_batch[name];
        if ours != bytes {
            let (a, b) = (
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(ours),
            );
            let at = a
                .lines()
                .zip(b.lines())
                .position(|(x, y)| x != y)
                .unwrap_or(a.lines().count().min(b.lines().count()));
            panic!(
                "{}: {name} differs in batches of {max_rows} rows ({batches} batches), first at line {}:\nwhole:   {:?}\nbatches: {:?}\n({} and {} lines)",
                case_path.display(),
                at + 1,
                a.lines().nth(at),
                b.lines().nth(at),
                a.lines().count(),
                b.lines().count()
            );
        }
    }
    let lines = |name: &str| String::from_utf8_lossy(&whole[name]).lines().count() - 1;
    let counts = [
        lines("ledger.csv"),
        lines("findings.csv"),
        lines("finding_evidence.csv"),
    ];
    (batches, counts, whole)
}

#[test]
fn fixture_cases_run_in_batches_write_what_a_whole_run_writes() {
    // Overlapping exports and transfers between accounts (one group); a source without a
    // declared account; the detection fixtures.
    for case in [
        "verify/case.toml",
        "demo/case.toml",
        "detect/case/case.toml",
    ] {
        for max_rows in [1, 1_000_000] {
            let (batches, [rows, ..]) = batches_agree_with_the_whole(&fixture(case), max_rows);
            assert!(rows > 0, "{case}");
            if max_rows == 1_000_000 {
                assert_eq!(batches, 1, "{case}");
            }
        }
    }
}

#[test]
fn a_synthetic_case_run_in_many_batches_writes_what_a_whole_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    synth(&SynthOptions {
        out: dir.path().to_path_buf(),
        seed: 21,
        accounts: 80,
        months: 3,
        rows: None,
        typology: Default::default(),
    })
    .unwrap();
    let case = dir.path().join("case.toml");
    // Two business accounts far apart in the case file, of a trade no sector norm covers:
    // the cash-front rules note each, from different batches.
    let text = std::fs::read_to_string(&case).unwrap();
    let mut washes = 0;
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l == "business_type = \"car_wash\"" {
                washes += 1;
                if washes % 2 == 1 {
                    return "business_type = \"kite_shop\"".to_string();
                }
            }
            l.to_string()
        })
        .collect();
    assert!(washes >= 3, "{washes} car washes");
    std::fs::write(&case, text.join("\n")).unwrap();
    let (batches, [rows, findings, evidence], whole) =
        batches_agree_with_the_whole_run(&case, 2_000);
    let notes = String::from_utf8_lossy(&whole["detect notes"]).into_owned();
    assert!(
        notes
            .matches("no sector cash norm for business type \"kite_shop\"")
            .count()
            >= 4,
        "{notes}"
    );
    assert!(batches >= 5, "{batches} batches of {rows} rows");
    // The summary names the first 20 of the 80 accounts with their totals, and says where
    // the others' are.
    let summary = String::from_utf8_lossy(&whole["integrity_summary.txt"]).into_owned();
    let first = summary.split("\n\n").next().unwrap();
    assert!(
        first.ends_with("; and 60 more accounts, each source's dates and money in and out listed in sources.csv."),
        "{first}"
    );
    assert_eq!(first.matches(" transactions from ").count(), 20, "{first}");
    assert!(findings > 0 && evidence > findings, "{findings} {evidence}");
    // Every group a batch of its own.
    let (batches, _) = batches_agree_with_the_whole(&case, 1);
    assert!(batches > 40, "{batches}");
}

/// A synthetic case of 60 accounts over 3 months (tracing, a price index, gifts), in a
/// folder of its own.
fn synthetic_60(seed: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    synth(&SynthOptions {
        out: dir.path().to_path_buf(),
        seed,
        accounts: 60,
        months: 3,
        rows: None,
        typology: Default::default(),
    })
    .unwrap();
    dir
}

fn proceeds() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_proceeds"));
    c.env_remove("PROCEEDS_RUN_TIMESTAMP")
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

/// Every file of a folder, by name, with its bytes.
fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// `proceeds COMMAND CASE` with and without `--by-groups` writes the same files, manifest
/// included; returns how many.
fn by_groups_writes_the_same_files(command: &str, case: &Path) -> usize {
    by_groups_in_batches_writes_the_same_files(command, case, None).len()
}

/// [`by_groups_writes_the_same_files`] with batches of at most `batch_rows` rows; returns
/// the files written.
fn by_groups_in_batches_writes_the_same_files(
    command: &str,
    case: &Path,
    batch_rows: Option<u64>,
) -> BTreeMap<String, Vec<u8>> {
    let batch_rows = batch_rows.map(|n| n.to_string());
    let batch_rows: Vec<&str> = match &batch_rows {
        Some(n) => vec!["--batch-rows", n.as_str()],
        None => Vec::new(),
    };
    let out = tempfile::tempdir().unwrap();
    let (whole, by_groups) = (out.path().join("whole"), out.path().join("by-groups"));
    for (dir, extra) in [
        (&whole, Vec::new()),
        (&by_groups, {
            let mut a = vec!["--by-groups"];
            a.extend(&batch_rows);
            a
        }),
    ] {
        let status = proceeds()
            .arg(command)
            .arg(case)
            .arg("--out")
            .arg(dir)
            .args(["--quiet", "--run-timestamp", "2025-01-01T00:00:00Z"])
            .args(&extra)
            .status()
            .unwrap();
        assert!(status.success(), "{command} {extra:?} {}", case.display());
    }
    let (a, b) = (files_of(&whole), files_of(&by_groups));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{}",
        case.display()
    );
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{command} {}: {name} differs",
            case.display()
        );
    }
    a
}

#[test]
fn every_command_by_groups_writes_the_files_a_whole_run_writes() {
    for case in [
        "verify/case.toml",
        "demo/case.toml",
        "detect/case/case.toml",
    ] {
        assert_eq!(
            by_groups_writes_the_same_files("detect", &fixture(case)),
            13
        );
    }
    assert_eq!(
        by_groups_writes_the_same_files("verify", &fixture("verify/case.toml")),
        10
    );
    // A case with a [tracing] table and a price index: the trace, the schedules and the
    // court report.
    assert_eq!(
        by_groups_writes_the_same_files("trace", &fixture("demo/case.toml")),
        18
    );
    assert_eq!(
        by_groups_writes_the_same_files("run", &fixture("demo/case.toml")),
        26
    );
    // Many batches: a synthetic case (tracing, a price index, gifts) in batches of 3,000
    // rows.
    let dir = synthetic_60(5);
    // Two tainted counterparties: one that pays some account of one batch, one that pays
    // none. A batch that does not hold the first notes it as matching nothing; a whole
    // trace does not, and neither must the run by groups.
    let case = dir.path().join("case.toml");
    let parsed = Case::load(&case, ResolveOptions::default()).unwrap();
    let ingested = ingest_case(&parsed, &Registry::for_case(&parsed).unwrap(), false).unwrap();
    // A payer of credits into one account only, so into one batch.
    let column = |name: &str| {
        ingested
            .ledger
            .column(name)
            .unwrap()
            .cast(&polars::prelude::DataType::String)
            .unwrap()
            .str()
            .unwrap()
            .clone()
    };
    let (names, accounts, amounts) = (
        column("counterparty_name"),
        column("account_id"),
        column("amount"),
    );
    let mut paid: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for ((n, a), amount) in names.iter().zip(accounts.iter()).zip(amounts.iter()) {
        if let (Some(n), Some(a), Some(amount)) = (n, a, amount) {
            if !amount.starts_with('-') {
                paid.entry(n.to_string()).or_default().insert(a.to_string());
            }
        }
    }
    let payer = paid
        .iter()
        .find(|(_, a)| a.len() == 1)
        .map(|(n, _)| n.clone())
        .unwrap();
    let text = std::fs::read_to_string(&case).unwrap();
    std::fs::write(
        &case,
        text.replacen(
            "[tracing]\n",
            &format!("[tracing]\ntainted_counterparties = [{payer:?}, \"NOBODY AT ALL\"]\n"),
            1,
        ),
    )
    .unwrap();
    let files = by_groups_in_batches_writes_the_same_files("run", &case, Some(3_000));
    assert_eq!(files.len(), 26);
    let notes = String::from_utf8_lossy(&files["trace_notes.csv"]).into_owned();
    assert!(
        notes.contains("tainted_counterparties \"\"NOBODY AT ALL\"\" matched no credit"),
        "{notes}"
    );
    // In the CSV each quote is doubled.
    assert!(
        !notes.contains(&format!("\"\"{payer}\"\" matched")),
        "{notes}"
    );
}

/// A case whose whole ledger would not fit the memory available runs in batches of linked
/// accounts by itself, in batches cut to fit, and writes what a whole run writes; the
/// summary says so. With too little memory for its largest group, it is refused.
#[test]
fn a_case_too_large_for_the_memory_available_runs_in_batches_by_itself() {
    let dir = synthetic_60(7);
    let case = dir.path().join("case.toml");
    let parsed = Case::load(&case, ResolveOptions::default()).unwrap();
    let input: u64 = parsed
        .sources
        .iter()
        .map(|s| std::fs::metadata(&s.path.resolved).unwrap().len())
        .sum();
    let out = tempfile::tempdir().unwrap();
    let detect = |dir: &Path, available: Option<u64>, extra: &[&str]| {
        let mut cmd = proceeds();
        match available {
            Some(bytes) => cmd.env("PROCEEDS_MEMORY_AVAILABLE", bytes.to_string()),
            None => cmd.env_remove("PROCEEDS_MEMORY_AVAILABLE"),
        };
        cmd.arg("detect")
            .arg(&case)
            .arg("--out")
            .arg(dir)
            .args(["--run-timestamp", "2025-01-01T00:00:00Z"])
            .args(extra)
            .output()
            .unwrap()
    };
    let whole = out.path().join("whole");
    let output = detect(&whole, None, &["--quiet", "--no-memory-check"]);
    assert!(output.status.success());
    // Room for half the case's share of the sources beside the fixed part: the whole ledger
    // (1.0 GB + 10 × the input) does not fit; batches of about half its rows do.
    let available = 1_000_000_000 + 10 * input / 2;
    let auto = out.path().join("auto");
    let output = detect(&auto, Some(available), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The two figures read the same rounded, so each gives its bytes too.
    let (needed, room) = budget::human_pair(1_000_000_000 + 10 * input, available);
    assert!(needed.ends_with(" bytes)"), "{needed}");
    assert!(
        stdout.contains(&format!(
            "note: run in batches of linked accounts (as with --by-groups), since the whole ledger would need an estimated {needed} at its peak and {room} is available (PROCEEDS_MEMORY_AVAILABLE); the outputs are the same",
        )),
        "{stdout}"
    );
    let rows: u64 = stdout
        .split("note: batches of at most ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no batch size in {stdout}"));
    let registry = Registry::for_case(&parsed).unwrap();
    let total: u64 = ingest_case(&parsed, &registry, false)
        .unwrap()
        .ledger
        .height() as u64;
    // Half the rows, less what the transfers held for every batch take: the link pass's
    // transfers, as the run holds them.
    let pass = proceeds::groups::link_pass(&parsed, &registry, proceeds::groups::BATCH_BYTES, None)
        .unwrap();
    let (transfers, _) =
        proceeds::verify::transfers_and_facts(&parsed, pass.ledger, &parsed.verify).unwrap();
    let held = transfers.estimated_size() as u64;
    assert!(held > 0);
    let room = available - 1_000_000_000 - held;
    assert_eq!(rows, room * total / (10 * input), "{held} held");
    assert!(rows < total / 2 && rows > total / 3, "{rows} of {total}");
    assert!(
        stdout.contains("rows (not 1000000), to fit the memory available; "),
        "{stdout}"
    );
    let (a, b) = (files_of(&whole), files_of(&auto));
    assert_eq!(a.len(), 13);
    assert_eq!(a, b, "a run switched to batches wrote other bytes");

    // The largest group needs more than the room left: refused, naming it.
    let refused = detect(
        &out.path().join("refused"),
        Some(1_000_000_001),
        &["--quiet"],
    );
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    let (needed, room) = budget::human_pair(1_000_000_000 + 10 * input, 1_000_000_001);
    assert!(
        stderr.contains(&format!("proceeds: the whole ledger would need an estimated {needed} at its peak and {room} is available (PROCEEDS_MEMORY_AVAILABLE), so the run went in batches of linked accounts, and then: not enough memory for this case even in batches of linked accounts: its largest group (")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(" of its {total} rows")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "and {room} is available (PROCEEDS_MEMORY_AVAILABLE). Run it on a machine with more memory"
        )),
        "{stderr}"
    );
}

#[test]
fn ingest_alone_is_not_run_by_groups() {
    let out = tempfile::tempdir().unwrap();
    let output = proceeds()
        .args(["ingest", "--by-groups", "--quiet", "--out"])
        .arg(out.path())
        .arg(fixture("demo/case.toml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--by-groups runs verify and the stages after it"),
        "{stderr}"
    );
}

/// A tracing table that names a txn no batch holds: the error a whole run gives, and no
/// working file left in the output folder.
#[test]
fn a_run_by_groups_that_fails_gives_the_whole_runs_error_and_leaves_no_part_behind() {
    let dir = tempfile::tempdir().unwrap();
    let case_dir = dir.path().join("case");
    crate::support::copy_dir(&fixture("demo"), &case_dir);
    let case = case_dir.join("case.toml");
    let text = std::fs::read_to_string(&case).unwrap();
    std::fs::write(
        &case,
        text.replace(
            "destinations = [\"c33825027dad-L12\",",
            "destinations = [\"c33825027dad-L999\", \"c33825027dad-L12\",",
        ),
    )
    .unwrap();
    let mut stderr = Vec::new();
    for extra in [None, Some("--by-groups")] {
        let out = dir.path().join(format!("out-{}", extra.is_some()));
        let output = proceeds()
            .arg("run")
            .arg(&case)
            .arg("--out")
            .arg(&out)
            .arg("--quiet")
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        stderr.push(String::from_utf8_lossy(&output.stderr).into_owned());
        let left: Vec<String> = std::fs::read_dir(&out)
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.iter().all(|f| !f.starts_with('.')), "{left:?}");
    }
    assert!(
        stderr[0].contains("names txn c33825027dad-L999, which is not in the ledger"),
        "{}",
        stderr[0]
    );
    assert_eq!(stderr[0], stderr[1]);
}
