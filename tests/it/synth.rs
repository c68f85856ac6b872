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
