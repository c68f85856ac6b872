//! The command line, end to end: the demo case, rejects, determinism and exit codes.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::support::{fixture, parse_csv, read_csv};

fn proceeds() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proceeds"));
    c.env_remove("PROCEEDS_RUN_TIMESTAMP")
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

fn run_case(case: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    proceeds()
        .arg("run")
        .arg(case)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn files_in(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The court report is typeset beside the other outputs when memory is free for both,
/// after them otherwise; the files are the same bytes either way.
#[test]
fn the_report_typeset_beside_the_tables_or_after_them_gives_the_same_files() {
    let case = fixture("demo/case.toml");
    let run_with = |available: &str| {
        let out = tempfile::tempdir().unwrap();
        let status = proceeds()
            .env("PROCEEDS_MEMORY_AVAILABLE", available)
            .arg("run")
            .arg(&case)
            .arg("--out")
            .arg(out.path())
            .args(["--run-timestamp", "2025-01-01T00:00:00Z", "--quiet"])
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        files_in(out.path())
    };
    // 2.5 GB passes the memory check (2.0 GB for a case this small) but is under the 3 GB
    // typesetting beside the tables needs; 8 GB is over it.
    let after = run_with("2500000000");
    let beside = run_with("8000000000");
    assert_eq!(after.len(), 26);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        beside.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &after {
        assert!(
            bytes == &beside[name],
            "{name} differs between the two orders"
        );
    }
}

#[test]
fn demo_case_reruns_are_byte_identical() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let case = fixture("demo/case.toml");
    let fixed = ["--run-timestamp", "2025-01-01T00:00:00Z"];
    let first = run_case(&case, a.path(), &fixed);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = run_case(&case, b.path(), &fixed);
    assert!(second.status.success());
    let fa = files_in(a.path());
    let fb = files_in(b.path());
    let names: Vec<&String> = fa.keys().collect();
    assert_eq!(
        names,
        [
            "duplicates.csv",
            "finding_evidence.csv",
            "findings.csv",
            "findings.parquet",
            "integrity.csv",
            "integrity_summary.txt",
            "ledger.csv",
            "ledger.parquet",
            "manifest.json",
            "rejects.csv",
            "report.html",
            "report.pdf",
            "schedule_available_amount.csv",
            "schedule_benefit.csv",
            "schedule_exclusions.csv",
            "schedule_summary.csv",
            "schedule_tainted_gifts.csv",
            "schedules.xlsx",
            "skipped.csv",
            "sources.csv",
            "trace_balances.csv",
            "trace_flows.csv",
            "trace_notes.csv",
            "trace_origins.csv",
            "trace_summary.csv",
            "transfers.csv",
        ]
    );
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between reruns");
    }
    // No temporary files are left behind.
    assert!(!fa.keys().any(|n| n.ends_with(".partial")));
}

#[test]
fn demo_case_accounts_for_every_row_and_penny() {
    let out = tempfile::tempdir().unwrap();
    let result = run_case(&fixture("demo/case.toml"), out.path(), &["--quiet"]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(result.stdout.is_empty(), "--quiet prints nothing");

    let sources = read_csv(&out.path().join("sources.csv"));
    let header = &sources[0];
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let summary: Vec<(String, String, String, String, String, String, String)> = sources[1..]
        .iter()
        .map(|r| {
            (
                r[col("source_file")].clone(),
                r[col("records_read")].clone(),
                r[col("accepted")].clone(),
                r[col("rejected")].clone(),
                r[col("skipped")].clone(),
                r[col("money_in")].clone(),
                r[col("money_out")].clone(),
            )
        })
        .collect();
    let s = |a: &str| a.to_string();
    assert_eq!(
        summary,
        vec![
            (
                s("statements/lloyds_DH_2024Q1.csv"),
                s("20"),
                s("17"),
                s("2"),
                s("1"),
                s("51500.00"),
                s("47466.60")
            ),
            (
                s("statements/monzo_DH_2024Q1.csv"),
                s("10"),
                s("8"),
                s("1"),
                s("1"),
                s("6350.00"),
                s("4934.00")
            ),
            (
                s("statements/natwest_BRIGHTSIDE_2024-01.csv"),
                s("12"),
                s("9"),
                s("1"),
                s("2"),
                s("11750.00"),
                s("9355.60")
            ),
            (
                s("statements/nationwide_VH_2024Q1.csv"),
                s("10"),
                s("5"),
                s("0"),
                s("5"),
                s("8920.00"),
                s("7292.50")
            ),
            // EUR (camt.053, a pending entry skipped), USD (OFX), money transfers (send,
            // fee and payout parts of three transfer records).
            (
                s("statements/banco_ficticio_DH_EUR_2024Q1.xml"),
                s("6"),
                s("5"),
                s("0"),
                s("1"),
                s("11550.00"),
                s("9500.00")
            ),
            (
                s("statements/first_fictional_VH_USD_2024Q1.ofx"),
                s("3"),
                s("3"),
                s("0"),
                s("0"),
                s("2500.00"),
                s("2250.00")
            ),
            (
                s("statements/quickcash_DH_2024Q1.csv"),
                s("4"),
                s("3"),
                s("0"),
                s("1"),
                s("1048.50"),
                s("2859.70")
            ),
        ]
    );
    for r in &sources[1..] {
        assert_eq!(r[col("balanced")], "yes");
    }

    // The ledger: one row per accepted record, amounts summing to the sources' totals.
    let ledger = read_csv(&out.path().join("ledger.csv"));
    assert_eq!(ledger.len() - 1, 17 + 8 + 9 + 5 + 5 + 3 + 7);
    let amount = ledger[0].iter().position(|h| h == "amount").unwrap();
    let at = |name: &str| ledger[0].iter().position(|h| h == name).unwrap();
    // Foreign-currency accounts keep their original amount and currency.
    let foreign: Vec<(String, String, String)> = ledger[1..]
        .iter()
        .filter(|r| r[at("currency")] != "GBP")
        .map(|r| {
            (
                r[at("account_id")].clone(),
                r[amount].clone(),
                r[at("currency")].clone(),
            )
        })
        .collect();
    let t = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        foreign,
        [
            t("DH-BFIC-EUR", "850.00", "EUR"),
            t("DH-BFIC-EUR", "850.00", "EUR"),
            t("DH-BFIC-EUR", "9000.00", "EUR"),
            t("DH-BFIC-EUR", "-9500.00", "EUR"),
            t("DH-BFIC-EUR", "850.00", "EUR"),
            t("VH-FFB-USD", "2500.00", "USD"),
            t("VH-FFB-USD", "-1850.00", "USD"),
            t("VH-FFB-USD", "-400.00", "USD"),
            t("VH-QUICKCASH-EUR", "1048.50", "EUR"),
        ]
    );
    let pence: i64 = ledger[1..]
        .iter()
        .map(|r| {
            let v: rust_decimal::Decimal = r[amount].parse().unwrap();
            i64::try_from(v * rust_decimal::Decimal::from(100)).unwrap()
        })
        .sum::<i64>();
    assert_eq!(
        pence,
        // In pence, each in its own currency: money in minus money out over the sources.
        (5_150_000 + 635_000 + 1_175_000 + 892_000 + 1_155_000 + 250_000 + 104_850)
            - (4_746_660 + 493_400 + 935_560 + 729_250 + 950_000 + 225_000 + 285_970)
    );

    // The formula in a Lloyds narrative of the fixtures is not in the demo, but every text
    // cell that starts like a formula is made inert (checked on the bad-rows case below).
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["tool"]["name"], "proceeds");
    assert_eq!(manifest["case"]["reference"], "KESTREL-2025-014");
    assert_eq!(manifest["counts"]["ledger_rows"], 54);
    // Seven statements and five reference files (rates, price index, assets, gifts,
    // legitimate sources).
    assert_eq!(manifest["inputs"].as_array().unwrap().len(), 12);
    assert_eq!(manifest["run_timestamp_source"], "clock");
    let outputs = manifest["outputs"].as_array().unwrap();
    for o in outputs {
        let name = o["file"].as_str().unwrap();
        let bytes = std::fs::read(out.path().join(name)).unwrap();
        assert_eq!(o["sha256"], proceeds::hash::sha256_hex(&bytes), "{name}");
    }
    for i in manifest["inputs"].as_array().unwrap() {
        let bytes = std::fs::read(fixture("demo").join(i["path"].as_str().unwrap())).unwrap();
        assert_eq!(i["sha256"], proceeds::hash::sha256_hex(&bytes));
        assert_eq!(i["size_bytes"], bytes.len());
    }
}

#[test]
fn every_kind_of_bad_row_is_in_rejects_csv_with_its_line() {
    let out = tempfile::tempdir().unwrap();
    let r = proceeds()
        .arg("ingest")
        .arg(fixture("bad-rows/case.toml"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let rejects = read_csv(&out.path().join("rejects.csv"));
    assert_eq!(
        rejects[0],
        [
            "source_file",
            "source_sha256",
            "line",
            "field",
            "reason",
            "raw"
        ]
    );
    let expected: &[(&str, &str, &str)] = &[
        (
            "3",
            "date",
            "date \"31/04/2024\" is not a real calendar date",
        ),
        (
            "4",
            "date",
            "date \"2024-03-09\" does not match the layout's date format \"%d/%m/%Y\"",
        ),
        ("5", "debit", "amount \"ten\" is not a number"),
        ("6", "", "row has 6 fields, expected 8"),
        (
            "7",
            "",
            "row has 9 fields, expected 8 (an unquoted delimiter inside a field?)",
        ),
        (
            "8",
            "debit",
            "both debit (1.00) and credit (2.00) hold an amount",
        ),
        ("9", "debit", "neither debit nor credit holds an amount"),
        ("10", "credit", "credit column holds a negative value -5.00"),
        ("11", "debit", "thousands separators in the wrong places"),
        ("12", "debit", "has more than 2 decimal places"),
        ("13", "credit", "is too large for the ledger"),
        (
            "14",
            "account",
            "row is for account \"30-94-57 99999999\", but the source is declared as account ACC",
        ),
        (
            "15",
            "balance",
            "balance: amount \"9x9.00\" is not a number",
        ),
        (
            "16",
            "date",
            "reads as 1900-01-01, outside 1970-01-01 to 2099-12-31",
        ),
        (
            "17",
            "date",
            "reads as 2100-01-01, outside 1970-01-01 to 2099-12-31",
        ),
    ];
    assert_eq!(rejects.len() - 1, expected.len(), "{rejects:#?}");
    let raw_lines: Vec<&str> =
        std::str::from_utf8(&std::fs::read(fixture("bad-rows/statement.csv")).unwrap())
            .unwrap()
            .to_string()
            .leak()
            .lines()
            .collect();
    for (row, (line, field, reason)) in rejects[1..].iter().zip(expected) {
        assert_eq!(row[0], "statement.csv");
        assert_eq!(row[2], *line);
        assert_eq!(row[3], *field, "line {line}");
        assert!(
            row[4].contains(reason),
            "line {line}: {:?} lacks {reason:?}",
            row[4]
        );
        let n: usize = line.parse().unwrap();
        assert_eq!(row[5], raw_lines[n - 1], "raw text of line {line}");
    }
    let sources = read_csv(&out.path().join("sources.csv"));
    // records_read, accepted, rejected, skipped, balanced
    assert_eq!(&sources[1][9..14], ["21", "3", "15", "3", "yes"]);
    let skipped = read_csv(&out.path().join("skipped.csv"));
    let reasons: Vec<(&str, &str)> = skipped[1..]
        .iter()
        .map(|r| (r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(reasons[0], ("1", "header"));
    assert_eq!(reasons[1], ("19", "blank line"));
    assert_eq!(reasons[2].0, "21");
    assert!(reasons[2]
        .1
        .starts_with("non-data line matching skip pattern"));

    // Negative zero is zero, not minus zero.
    let ledger = read_csv(&out.path().join("ledger.csv"));
    let amount = ledger[0].iter().position(|h| h == "amount").unwrap();
    let amounts: Vec<&str> = ledger[1..].iter().map(|r| r[amount].as_str()).collect();
    assert_eq!(amounts, ["1000.00", "0.00", "-10.00"]);
}

#[test]
fn formula_text_is_inert_in_csv_but_raw_in_parquet() {
    let out = tempfile::tempdir().unwrap();
    let r = run_case(
        &fixture("layouts/lloyds/case.toml"),
        out.path(),
        &["--quiet"],
    );
    assert!(r.status.success());
    let ledger = std::fs::read(out.path().join("ledger.csv")).unwrap();
    let rows = parse_csv(&ledger);
    let desc = rows[0].iter().position(|h| h == "description").unwrap();
    assert_eq!(rows[1][desc], "'=HYPERLINK(\"http://evil.example/x\")");
    // Money cells stay numbers: negative amounts are not prefixed.
    let amount = rows[0].iter().position(|h| h == "amount").unwrap();
    assert_eq!(rows[1][amount], "-5.00");

    use polars::prelude::*;
    let file = std::fs::File::open(out.path().join("ledger.parquet")).unwrap();
    let df = ParquetReader::new(file).finish().unwrap();
    let d = df
        .column("description")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_string();
    assert_eq!(d, "=HYPERLINK(\"http://evil.example/x\")");
    assert_eq!(
        df.column("amount").unwrap().dtype(),
        &DataType::Decimal(18, 2)
    );
}

#[test]
fn exit_codes_and_messages_for_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    // A case file that does not exist.
    let r = run_case(&dir.path().join("nope.toml"), dir.path(), &[]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cannot read case file"));

    // A binary file where a statement should be.
    std::fs::write(
        dir.path().join("garbage.csv"),
        b"\x7fELF\x02\x01\x00\x00binary",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("case.toml"),
        std::fs::read_to_string(fixture("bad-rows/case.toml"))
            .unwrap()
            .replace("statement.csv", "garbage.csv"),
    )
    .unwrap();
    let r = run_case(&dir.path().join("case.toml"), &dir.path().join("out"), &[]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("source garbage.csv: the file is binary"),
        "{err}"
    );

    // A text file that is not the declared layout.
    std::fs::write(dir.path().join("garbage.csv"), "hello\nworld\n").unwrap();
    let r = run_case(&dir.path().join("case.toml"), &dir.path().join("out"), &[]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("source garbage.csv (layout lloyds)") && err.contains("no header found"),
        "{err}"
    );
}

#[test]
fn formats_list_names_every_shipped_layout() {
    let r = proceeds().args(["formats", "list"]).output().unwrap();
    assert!(r.status.success());
    let text = String::from_utf8(r.stdout).unwrap();
    for id in [
        "barclays",
        "hsbc",
        "lloyds",
        "monzo",
        "nationwide",
        "natwest",
        "santander",
        "starling",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(id)),
            "{id} missing from:\n{text}"
        );
    }
}

#[test]
fn formats_detect_says_what_and_why() {
    let detect = |path: &str, extra: &[&str]| {
        let r = proceeds()
            .args(["formats", "detect"])
            .arg(fixture(path))
            .args(extra)
            .output()
            .unwrap();
        (r.status.code(), String::from_utf8(r.stdout).unwrap())
    };
    let (code, out) = detect("layouts/hsbc/TransactionHistory.csv", &[]);
    assert_eq!(code, Some(0));
    assert!(out.contains(": hsbc\n"), "{out}");
    assert!(out.contains("no header; the first 5 rows have 3 fields, a date in column 1 and an amount in column 3"), "{out}");
    let (_, out) = detect("layouts/nationwide/Statement Download.csv", &[]);
    assert!(
        out.contains(": nationwide\n") && out.contains("windows-1252"),
        "{out}"
    );
    let (_, out) = detect("layouts/mt940/statements.sta", &[]);
    assert!(out.contains(": mt940\n"), "{out}");
    let (_, out) = detect("layouts/camt/statement.xml", &[]);
    assert!(out.contains(": camt\n"), "{out}");
    let (_, out) = detect("layouts/ofx/download.ofx", &[]);
    assert!(out.contains(": ofx\n"), "{out}");
    let (_, out) = detect("spreadsheets/lloyds_old.xls", &[]);
    assert!(out.contains(": lloyds\n"), "{out}");
    // The workbook's transactions are on a named sheet only the case's own layout knows.
    let (code, out) = detect("spreadsheets/lloyds_business.xlsx", &[]);
    assert_eq!(code, Some(2));
    assert!(
        out.contains(": unknown\n") && out.contains("no shipped or case layout fits"),
        "{out}"
    );
    let case = fixture("spreadsheets/case.toml");
    let (code, out) = detect(
        "spreadsheets/lloyds_business.xlsx",
        &["--case", case.to_str().unwrap()],
    );
    assert_eq!(code, Some(0));
    assert!(
        out.contains(": lloyds-workbook\n") && out.contains("sheet \"Transactions\" row 3"),
        "{out}"
    );
}

#[test]
fn ingest_a_single_statement_without_a_case_file() {
    let out = tempfile::tempdir().unwrap();
    let r = proceeds()
        .arg("ingest")
        .arg(fixture("layouts/starling/StarlingStatement.csv"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stdout = String::from_utf8(r.stdout).unwrap();
    assert!(stdout.contains("with layout starling"), "{stdout}");
    // The golden fixture's five good rows (its opening balance line is skipped and its bad
    // row rejected).
    let ledger = read_csv(&out.path().join("ledger.csv"));
    assert_eq!(ledger.len() - 1, 5);
    // A text file no layout fits is refused with the reasons.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello\nworld\n").unwrap();
    let r = proceeds()
        .arg("ingest")
        .arg(dir.path().join("notes.txt"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cannot tell the format of"));
}

#[test]
fn demo_run_finds_the_structuring_and_traces_with_it() {
    let out = tempfile::tempdir().unwrap();
    let r = run_case(&fixture("demo/case.toml"), out.path(), &[]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let stdout = String::from_utf8(r.stdout).unwrap();
    assert!(stdout.contains("verify: 21 checks, 0 failed"), "{stdout}");
    assert!(stdout.contains("2 internal transfers matched"), "{stdout}");
    let findings = read_csv(&out.path().join("findings.csv"));
    let at = |name: &str| findings[0].iter().position(|h| h == name).unwrap();
    let ids: Vec<&str> = findings[1..]
        .iter()
        .map(|r| r[at("finding_id")].as_str())
        .collect();
    assert!(ids.contains(&"STR-001/DH-LLOYDS/2024-01-05/1"), "{ids:?}");
    assert!(ids.contains(&"STR-001/DH-LLOYDS/2024-02-06/1"), "{ids:?}");
    // The January episode: three Lloyds cash deposits of 9,400, 9,200 and 9,650.
    let evidence = read_csv(&out.path().join("finding_evidence.csv"));
    let e = |name: &str| evidence[0].iter().position(|h| h == name).unwrap();
    let january: Vec<(&str, &str)> = evidence[1..]
        .iter()
        .filter(|r| r[e("finding_id")] == "STR-001/DH-LLOYDS/2024-01-05/1")
        .map(|r| (r[e("txn_id")].as_str(), r[e("amount")].as_str()))
        .collect();
    assert_eq!(
        january,
        [
            ("c33825027dad-L18", "9400.00"),
            ("c33825027dad-L17", "9200.00"),
            ("c33825027dad-L16", "9650.00")
        ]
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("manifest.json")).unwrap()).unwrap();
    let stages: Vec<&str> = manifest["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(stages, ["ingest", "verify", "detect", "trace", "schedule"]);
}

#[test]
fn verify_manifest_reports_a_changed_output() {
    let out = tempfile::tempdir().unwrap();
    let r = run_case(
        &fixture("layouts/lloyds/case.toml"),
        out.path(),
        &["--quiet"],
    );
    assert!(r.status.success());
    let check = |dir: &Path| {
        proceeds()
            .arg("verify-manifest")
            .arg(dir)
            .arg("--case-dir")
            .arg(fixture("layouts/lloyds"))
            .output()
            .unwrap()
    };
    let intact = check(out.path());
    assert_eq!(intact.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&intact.stdout).contains("all unchanged, nothing added"));
    // One byte added to an output is reported, with both hashes, and the exit code says so.
    let mut ledger = std::fs::read(out.path().join("ledger.csv")).unwrap();
    ledger.push(b'\n');
    std::fs::write(out.path().join("ledger.csv"), ledger).unwrap();
    let changed = check(out.path());
    assert_eq!(changed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&changed.stdout);
    assert!(text.contains("CHANGED  output ledger.csv"), "{text}");
}

#[test]
fn an_output_folder_holding_case_inputs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["case.toml", "statement.csv"] {
        std::fs::copy(fixture("layouts/lloyds").join(f), dir.path().join(f)).unwrap();
    }
    let before = std::fs::read(dir.path().join("statement.csv")).unwrap();
    let r = run_case(&dir.path().join("case.toml"), dir.path(), &[]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("holds the case input"));
    assert_eq!(
        std::fs::read(dir.path().join("statement.csv")).unwrap(),
        before
    );
    assert!(!dir.path().join("ledger.csv").exists());
}
