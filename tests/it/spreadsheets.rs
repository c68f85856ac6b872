//! Spreadsheet statements (.xlsx with a named sheet, legacy .xls) through CSV layouts.

use polars::prelude::*;
use proceeds::case::{Case, ResolveOptions};
use proceeds::ingest::{ingest_case, Registry};
use proceeds::money::format_amount;

use crate::support::fixture;

fn column(df: &DataFrame, name: &str) -> Vec<String> {
    df.column(name)
        .unwrap()
        .cast(&DataType::String)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

#[test]
fn xlsx_and_xls_rows_to_the_penny() {
    let case = Case::load(
        &fixture("spreadsheets/case.toml"),
        ResolveOptions::default(),
    )
    .unwrap();
    let out = ingest_case(&case, &Registry::for_case(&case).unwrap(), false).unwrap();
    let rows: Vec<String> = (0..out.ledger.height())
        .map(|i| {
            [
                "account_id",
                "source_line",
                "booking_date",
                "amount",
                "balance",
                "channel",
            ]
            .iter()
            .map(|c| column(&out.ledger, c)[i].clone())
            .collect::<Vec<_>>()
            .join(" ")
        })
        .collect();
    assert_eq!(
        rows,
        [
            // Row 6 has a text date and a text amount with a thousands separator.
            "BUSINESS 6 2024-03-04 2150.00  transfer",
            // Excel serial dates (45355, 45356) and numeric cells (9500, 23.45, 1234.5).
            "BUSINESS 5 2024-03-04 9500.00 1257.95 cash_deposit",
            "BUSINESS 4 2024-03-05 -23.45 1234.50 card",
            "OLD 3 2024-02-28 1000.00 1000.00 transfer",
            "OLD 2 2024-02-29 -200.00 800.00 cash_withdrawal",
        ]
    );

    // The float artefact 0.30000000000000004 is refused, not rounded; a text non-date too.
    let rejects: Vec<(u32, &str)> = out
        .rejects
        .iter()
        .map(|r| (r.line, r.field.as_str()))
        .collect();
    assert_eq!(rejects, [(7, "debit"), (8, "date")]);
    assert!(out.rejects[0]
        .reason
        .contains("\"0.30000000000000004\" has more than 2 decimal places"));
    assert_eq!(
        out.rejects[0].raw,
        "03/03/2024,DEB,30-94-57,11223344,FLOAT NOISE,0.30000000000000004,,"
    );

    // The named sheet was read (not the first), rows numbered as the spreadsheet shows them.
    let xlsx = &out.sources[0];
    assert_eq!(xlsx.encoding, "xlsx/ods");
    assert_eq!(
        (
            xlsx.records_read,
            xlsx.accepted,
            xlsx.rejected,
            xlsx.skipped
        ),
        (9, 3, 2, 4)
    );
    assert_eq!(format_amount(xlsx.money_in), "11650.00");
    let skipped: Vec<(u32, &str)> = out
        .skipped
        .iter()
        .map(|s| (s.line, s.reason.as_str()))
        .collect();
    assert_eq!(
        &skipped[..3],
        &[
            (1, "preamble before the header"),
            (2, "blank line"),
            (3, "header")
        ]
    );
    let xls = &out.sources[1];
    assert_eq!(xls.encoding, "xls");
    assert_eq!(
        (xls.records_read, xls.accepted, xls.rejected, xls.skipped),
        (3, 2, 0, 1)
    );
}

#[test]
fn a_missing_sheet_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["lloyds_business.xlsx", "case.toml"] {
        std::fs::copy(fixture("spreadsheets").join(f), dir.path().join(f)).unwrap();
    }
    let layout = std::fs::read_to_string(fixture("spreadsheets/lloyds-workbook.toml"))
        .unwrap()
        .replace("sheet = \"Transactions\"", "sheet = \"Txns\"");
    std::fs::write(dir.path().join("lloyds-workbook.toml"), layout).unwrap();
    std::fs::write(
        dir.path().join("lloyds_old.xls"),
        std::fs::read(fixture("spreadsheets/lloyds_old.xls")).unwrap(),
    )
    .unwrap();
    let case = Case::load(&dir.path().join("case.toml"), ResolveOptions::default()).unwrap();
    let err = ingest_case(&case, &Registry::for_case(&case).unwrap(), false)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no sheet named \"Txns\"; the workbook has \"Summary\", \"Transactions\""),
        "{err}"
    );
}
