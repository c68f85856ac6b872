//! The synthetic case generator: deterministic per seed, ingests cleanly, labels true.

use std::collections::BTreeMap;

use proceeds::case::{Case, ResolveOptions};
use proceeds::ingest::{ingest_case, Registry};
use proceeds::synth::{synth, SynthOptions};

use crate::support::read_csv;

fn files(dir: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["", "statements", "reference"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                out.insert(
                    format!("{sub}/{}", e.file_name().to_string_lossy()),
                    std::fs::read(e.path()).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn same_seed_same_bytes_and_labels_match_what_was_written() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let opts = |out: &std::path::Path, seed| SynthOptions {
        out: out.to_path_buf(),
        seed,
        accounts: 60,
        months: 2,
        rows: None,
        typology: Default::default(),
    };
    let summary = synth(&opts(a.path(), 7)).unwrap();
    synth(&opts(b.path(), 7)).unwrap();
    assert_eq!(files(a.path()), files(b.path()), "same seed, same case");
    let c = tempfile::tempdir().unwrap();
    synth(&opts(c.path(), 8)).unwrap();
    assert_ne!(
        files(a.path())["/labels.csv"],
        files(c.path())["/labels.csv"],
        "another seed, another case"
    );

    // Every row written is read back: no rejects, counts balance.
    let case = Case::load(&a.path().join("case.toml"), ResolveOptions::default()).unwrap();
    let out = ingest_case(&case, &Registry::for_case(&case).unwrap(), false).unwrap();
    assert!(
        out.rejects.is_empty(),
        "{:#?}",
        &out.rejects[..out.rejects.len().min(5)]
    );
    assert_eq!(out.ledger.height() as u64, summary.rows);

    // Each labelled row is in the ledger, at that file and line, with the channel its
    // typology implies.
    let ledger = proceeds::ledger::col::SOURCE_FILE;
    let text = |c: &str| -> Vec<String> {
        out.ledger
            .column(c)
            .unwrap()
            .cast(&polars::prelude::DataType::String)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect()
    };
    let (files_col, lines, channels, amounts) = (
        text(ledger),
        text("source_line"),
        text("channel"),
        text("amount"),
    );
    let index: BTreeMap<(String, String), (String, String)> = (0..files_col.len())
        .map(|i| {
            (
                (files_col[i].clone(), lines[i].clone()),
                (channels[i].clone(), amounts[i].clone()),
            )
        })
        .collect();
    let labels = read_csv(&a.path().join("labels.csv"));
    let mut seen = BTreeMap::new();
    for l in &labels[1..] {
        *seen.entry(l[1].clone()).or_insert(0) += 1;
        if l[3].is_empty() {
            continue; // account-level label (front businesses)
        }
        let (channel, amount) = index
            .get(&(l[3].clone(), l[4].clone()))
            .unwrap_or_else(|| panic!("label {l:?} names no ledger row"));
        let pounds: f64 = amount.parse().unwrap();
        match l[1].as_str() {
            "structuring" => {
                assert_eq!(channel, "cash_deposit", "{l:?}");
                assert!((8100.0..=9900.0).contains(&pounds), "{l:?} {amount}");
            }
            "decoy_large_cash" => assert_eq!(
                (channel.as_str(), amount.as_str()),
                ("cash_deposit", "15000.00")
            ),
            "internal_transfer" | "mule" | "decoy_student" => {
                assert_eq!(channel, "transfer", "{l:?}")
            }
            other => panic!("unexpected typology {other}"),
        }
    }
    // The rows of one internal transfer share an episode: one debit, one credit, same amount.
    let mut episodes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in labels[1..].iter().filter(|l| l[1] == "internal_transfer") {
        let (_, amount) = &index[&(l[3].clone(), l[4].clone())];
        episodes
            .entry(l[6].clone())
            .or_default()
            .push(amount.clone());
    }
    assert!(!episodes.is_empty());
    for (episode, amounts) in &episodes {
        assert_eq!(amounts.len(), 2, "{episode}: {amounts:?}");
        let a: f64 = amounts[0].parse().unwrap();
        let b: f64 = amounts[1].parse().unwrap();
        assert_eq!(a, -b, "{episode}: {amounts:?}");
    }

    for typology in [
        "structuring",
        "mule",
        "front",
        "decoy_large_cash",
        "decoy_student",
        "decoy_cash_business",
        "internal_transfer",
    ] {
        assert!(seen.contains_key(typology), "no {typology} in {seen:?}");
    }
}

#[test]
fn synth_writes_a_case_that_runs_and_scores() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let out = dir.path().join("out");
    let run = |args: &[&std::ffi::OsStr]| {
        let o = Command::new(env!("CARGO_BIN_EXE_proceeds"))
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    run(&[
        "synth".as_ref(),
        "--out".as_ref(),
        case.as_os_str(),
        "--accounts".as_ref(),
        "100".as_ref(),
        "--months".as_ref(),
        "2".as_ref(),
        "--seed".as_ref(),
        "5".as_ref(),
    ]);
    run(&[
        "run".as_ref(),
        case.join("case.toml").as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--quiet".as_ref(),
    ]);
    for stage_output in [
        "findings.csv",
        "transfers.csv",
        "trace_summary.csv",
        "schedules.xlsx",
    ] {
        assert!(out.join(stage_output).exists(), "{stage_output}");
    }
    let table = run(&[
        "synth".as_ref(),
        "score".as_ref(),
        case.as_os_str(),
        out.as_os_str(),
    ]);
    // Labelled counts come from the labels alone: 100 accounts hold two of each role
    // (positions 3, 11, 19, 23, 31 and 37 of every 50).
    let row = |typology: &str, unit: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|w| w.len() > 3 && w[0] == typology && w[1] == unit)
            .unwrap_or_else(|| panic!("no {typology} {unit} line in\n{table}"))
    };
    assert_eq!(row("structuring", "account")[3], "2");
    assert_eq!(row("mule", "account")[3], "2");
    assert_eq!(row("front", "account")[3], "2");
    assert!(table.contains("of 2 decoy_large_cash"), "{table}");
    assert_eq!(row("internal_transfer", "pair")[2], "transfers.csv");
    // Every planted transfer between a subject's own accounts is matched, and nothing else:
    // a transfer whose sides are in two layouts other than Lloyds' too (the sort code and
    // account number after the name are read in every shipped CSV layout). Columns:
    // labelled, flagged, TP, FP, FN.
    let transfers = row("internal_transfer", "pair");
    assert_eq!(transfers[3], transfers[5], "{table}");
    assert_eq!(transfers[4], transfers[5], "{table}");
    assert_eq!(
        (transfers[6].as_str(), transfers[7].as_str()),
        ("0", "0"),
        "{table}"
    );
}
