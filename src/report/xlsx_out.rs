//! `schedules.xlsx`: the confiscation schedules as a workbook an investigator can hand to
//! counsel and a defence accountant can check.
//!
//! Sheets: Summary, Benefit, Exclusions, Available Amount, Tainted Gifts, Tracing, Findings,
//! Integrity, Sources. Every sheet has a frozen header row and set column widths; money is a
//! number with a currency format, dates are dates, index values and shares plain numbers.
//! Every total is a formula (`=SUM(...)` over the lines above it, or a reference to another
//! sheet's total) whose cached value is the total the engine computed, so the workbook shows
//! the right figure before recalculation and recalculation changes nothing. Text cells pass
//! through [`sanitize_text`], so a counterparty called `=HYPERLINK(...)` is inert text.
//!
//! Bytes are deterministic: the document's creation date is fixed (1970-01-01T00:00:00Z)
//! and rust_xlsxwriter writes fixed timestamps into the zip entries.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use polars::prelude::*;
use rust_xlsxwriter::{
    DocProperties, ExcelDateTime, Format, Formula, Workbook, Worksheet, XlsxError,
};

use super::manifest::Input;
use super::sanitize::sanitize_text;
use super::ReportError;
use crate::confiscation::Schedules;
use crate::ingest::SourceReport;

/// What goes into the workbook besides the schedules themselves.
#[derive(Debug, Clone, Copy)]
pub struct XlsxInput<'a> {
    pub schedules: &'a Schedules,
    /// `trace_summary.csv`'s first rows (at least [`MAX_COPIED_ROWS`] where it has them), if
    /// tracing ran.
    pub trace_summary: Option<&'a DataFrame>,
    /// How many rows `trace_summary.csv` has in all.
    pub trace_summary_rows: usize,
    /// `integrity.csv` columns.
    pub integrity: Option<&'a DataFrame>,
    /// `findings.csv` columns, if detection ran.
    pub findings: Option<&'a DataFrame>,
    /// Per-source accounting from ingest.
    pub sources: &'a [SourceReport],
    /// Reference files (and any other inputs) with their SHA-256.
    pub inputs: &'a [Input],
    /// Currency of the money columns (the case's base currency).
    pub base_currency: &'a str,
}

/// Sheet names, in order.
pub const SHEETS: [&str; 9] = [
    "Summary",
    "Benefit",
    "Exclusions",
    "Available Amount",
    "Tainted Gifts",
    "Tracing",
    "Findings",
    "Integrity",
    "Sources",
];

/// One cell of a table.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Empty,
    Text(String),
    /// A decimal value as (mantissa, scale): scale 2 is money.
    Decimal(i128, u32),
    Int(i64),
    Date(NaiveDate),
    Bool(bool),
}

/// A table to write: header, rows, the columns to total, formula overrides, notes.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<Cell>>,
    totals: Vec<usize>,
    /// (data row index, column index) → formula, with the cell's value as its cached result.
    overrides: BTreeMap<(usize, usize), String>,
    notes: Vec<String>,
}

impl Table {
    fn new(header: Vec<String>, rows: Vec<Vec<Cell>>) -> Table {
        Table {
            header,
            rows,
            totals: Vec::new(),
            overrides: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    fn col(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or(0)
    }

    /// 1-based spreadsheet row of the totals line (header is row 1, data from row 2).
    fn total_row(&self) -> u32 {
        2 + self.rows.len().max(1) as u32
    }

    /// 1-based last data row (row 2 when there are no lines: the "(no lines)" row).
    fn last_data_row(&self) -> u32 {
        1 + self.rows.len().max(1) as u32
    }
}

/// `A`, `B`, ..., `Z`, `AA`, ...
fn col_name(mut col: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn quoted(sheet: &str) -> String {
    format!("'{}'", sheet.replace('\'', "''"))
}

fn encode(e: XlsxError) -> ReportError {
    ReportError::Encode {
        path: "schedules.xlsx".into(),
        message: e.to_string(),
    }
}

fn polars(e: PolarsError) -> ReportError {
    ReportError::Encode {
        path: "schedules.xlsx".into(),
        message: e.to_string(),
    }
}

/// Every cell of a frame, typed by its column's dtype.
fn frame_cells(df: &DataFrame) -> Result<(Vec<String>, Vec<Vec<Cell>>), ReportError> {
    let header: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut columns: Vec<Vec<Cell>> = Vec::new();
    for c in df.columns() {
        let cells: Vec<Cell> = match c.dtype() {
            DataType::Decimal(_, scale) => {
                let scale = *scale as u32;
                c.decimal()
                    .map_err(polars)?
                    .physical()
                    .iter()
                    .map(|v| v.map_or(Cell::Empty, |m| Cell::Decimal(m, scale)))
                    .collect()
            }
            DataType::Date => c
                .date()
                .map_err(polars)?
                .physical()
                .iter()
                .map(|v| v.map_or(Cell::Empty, |d| Cell::Date(crate::verify::day_to_date(d))))
                .collect(),
            DataType::Boolean => c
                .bool()
                .map_err(polars)?
                .iter()
                .map(|v| v.map_or(Cell::Empty, Cell::Bool))
                .collect(),
            dt if dt.is_integer() => {
                let cast = c.cast(&DataType::Int64).map_err(polars)?;
                cast.i64()
                    .map_err(polars)?
                    .iter()
                    .map(|v| v.map_or(Cell::Empty, Cell::Int))
                    .collect()
            }
            _ => {
                let cast = c.cast(&DataType::String).map_err(polars)?;
                cast.str()
                    .map_err(polars)?
                    .iter()
                    .map(|v| v.map_or(Cell::Empty, |s| Cell::Text(s.to_string())))
                    .collect()
            }
        };
        columns.push(cells);
    }
    let rows = (0..df.height())
        .map(|i| columns.iter().map(|c| c[i].clone()).collect())
        .collect();
    Ok((header, rows))
}

/// Excel's limit on the characters of one cell.
const EXCEL_CELL_CHARS: usize = 32_767;

/// The text, or as much of it as a cell holds with a note saying it was cut (a finding's
/// list of evidence rows can run to hundreds of thousands of characters; the CSV keeps it
/// whole).
fn fit_cell(text: &str) -> std::borrow::Cow<'_, str> {
    const NOTE: &str = " … (cut: an Excel cell holds at most 32,767 characters; the CSV output holds the full text)";
    if text.chars().count() <= EXCEL_CELL_CHARS {
        return std::borrow::Cow::Borrowed(text);
    }
    let keep = EXCEL_CELL_CHARS - NOTE.chars().count();
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(NOTE);
    std::borrow::Cow::Owned(out)
}

/// Rows copied into the Tracing and Findings sheets from their CSV outputs. The schedules'
/// own sheets (Benefit, Exclusions, Available Amount, Tainted Gifts) always hold every line.
pub const MAX_COPIED_ROWS: usize = 50_000;

/// The note for a copied sheet cut at [`MAX_COPIED_ROWS`], if it was.
fn cut_note(rows: usize, file: &str) -> Option<String> {
    (rows > MAX_COPIED_ROWS).then(|| {
        format!("Rows 1 to {MAX_COPIED_ROWS} of {rows} are shown; {file} holds every row.")
    })
}

fn frame_table(df: &DataFrame, totals: &[&str]) -> Result<Table, ReportError> {
    let (header, rows) = frame_cells(df)?;
    let mut t = Table::new(header, rows);
    t.totals = totals.iter().map(|n| t.col(n)).collect();
    Ok(t)
}

/// The formats used across the workbook.
struct Formats {
    header: Format,
    money: Format,
    money_bold: Format,
    number: Format,
    date: Format,
    bold: Format,
}

impl Formats {
    fn new(base_currency: &str) -> Formats {
        let symbol = match base_currency {
            "GBP" => "\"£\"".to_string(),
            "EUR" => "\"€\"".to_string(),
            "USD" => "\"$\"".to_string(),
            other => format!("\"{other} \""),
        };
        let money = format!("{symbol}#,##0.00;-{symbol}#,##0.00");
        Formats {
            header: Format::new().set_bold(),
            money: Format::new().set_num_format(&money),
            money_bold: Format::new().set_num_format(&money).set_bold(),
            number: Format::new().set_num_format("0.0#####"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
            bold: Format::new().set_bold(),
        }
    }
}

/// The display text of a decimal, exactly.
fn decimal_text(mantissa: i128, scale: u32) -> String {
    let mut d = rust_decimal::Decimal::from_i128_with_scale(mantissa, scale);
    if scale > 2 {
        d = d.normalize();
    }
    d.to_string()
}

fn decimal_f64(mantissa: i128, scale: u32) -> f64 {
    // Exact for |mantissa| < 2^53: one correctly rounded division.
    mantissa as f64 / 10f64.powi(scale as i32)
}

/// Days since 1899-12-30, Excel's serial date.
fn excel_serial(d: NaiveDate) -> f64 {
    let base = NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default();
    (d - base).num_days() as f64
}

fn write_cell(
    ws: &mut Worksheet,
    f: &Formats,
    row: u32,
    col: u16,
    cell: &Cell,
) -> Result<usize, XlsxError> {
    Ok(match cell {
        Cell::Empty => 0,
        Cell::Text(s) => {
            let s = sanitize_text(s);
            ws.write_string(row, col, &*fit_cell(&s))?;
            s.chars().count()
        }
        Cell::Decimal(m, scale) => {
            let fmt = if *scale == 2 { &f.money } else { &f.number };
            ws.write_number_with_format(row, col, decimal_f64(*m, *scale), fmt)?;
            decimal_text(*m, *scale).len() + 3
        }
        Cell::Int(i) => {
            ws.write_number(row, col, *i as f64)?;
            i.to_string().len()
        }
        Cell::Date(d) => {
            ws.write_number_with_format(row, col, excel_serial(*d), &f.date)?;
            10
        }
        Cell::Bool(b) => {
            ws.write_boolean(row, col, *b)?;
            5
        }
    })
}

fn write_table(ws: &mut Worksheet, f: &Formats, t: &Table) -> Result<(), XlsxError> {
    let mut widths: Vec<usize> = t.header.iter().map(|h| h.chars().count()).collect();
    for (c, h) in t.header.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, &*sanitize_text(h), &f.header)?;
    }
    for (r, row) in t.rows.iter().enumerate() {
        let xr = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let w = if let Some(formula) = t.overrides.get(&(r, c)) {
                let cached = match cell {
                    Cell::Decimal(m, s) => decimal_text(*m, *s),
                    _ => String::new(),
                };
                let fmt = match cell {
                    Cell::Decimal(_, 2) => &f.money,
                    _ => &f.number,
                };
                ws.write_formula_with_format(
                    xr,
                    c as u16,
                    Formula::new(formula).set_result(cached.clone()),
                    fmt,
                )?;
                cached.len() + 3
            } else {
                write_cell(ws, f, xr, c as u16, cell)?
            };
            widths[c] = widths[c].max(w);
        }
    }
    if t.rows.is_empty() {
        ws.write_string(1, 0, "(no lines)")?;
    }
    let mut next = t.last_data_row(); // 0-based row after the data
    if !t.totals.is_empty() {
        let tr = t.total_row() - 1;
        ws.write_string_with_format(tr, 0, "Total", &f.bold)?;
        for &c in &t.totals {
            let sum: i128 = t
                .rows
                .iter()
                .map(|row| match row[c] {
                    Cell::Decimal(m, 2) => m,
                    _ => 0,
                })
                .sum();
            let col = col_name(c);
            let formula = format!("=SUM({col}2:{col}{})", t.last_data_row());
            ws.write_formula_with_format(
                tr,
                c as u16,
                Formula::new(formula).set_result(decimal_text(sum, 2)),
                &f.money_bold,
            )?;
        }
        next = tr + 1;
    }
    for (i, note) in t.notes.iter().enumerate() {
        ws.write_string(next + 1 + i as u32, 0, &*sanitize_text(note))?;
    }
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, (*w as f64 + 2.0).clamp(8.0, 60.0))?;
    }
    ws.set_freeze_panes(1, 0)?;
    Ok(())
}

/// The workbook's bytes.
pub fn schedules_xlsx(input: &XlsxInput<'_>) -> Result<Vec<u8>, ReportError> {
    let s = input.schedules;
    let f = Formats::new(input.base_currency);

    let mut benefit = frame_table(
        &s.benefit_frame().map_err(|e| ReportError::Encode {
            path: "schedules.xlsx".into(),
            message: e.to_string(),
        })?,
        &["historic_amount", "uplifted_amount", "benefit_value"],
    )?;
    benefit.notes = vec![
        format!(
            "Values brought to {} by {} ({}); each line rounded once, half to even, to the penny.",
            s.valuation_month, s.index_series, s.index_vintage
        ),
        "Every credit to the defendant's accounts that is not on this schedule is on the Exclusions schedule, with its reason.".into(),
    ];
    let schedule_err = |e: crate::confiscation::ScheduleError| ReportError::Encode {
        path: "schedules.xlsx".into(),
        message: e.to_string(),
    };
    let mut exclusions = frame_table(&s.exclusions_frame().map_err(schedule_err)?, &["amount"])?;
    exclusions.notes = vec!["Items not counted as benefit, each with the reason; amounts in the base currency, signed as in the ledger.".into()];
    let mut gifts = frame_table(
        &s.gifts_frame().map_err(schedule_err)?,
        &[
            "value_at_gift",
            "consideration",
            "gift_amount",
            "uplifted_amount",
            "counted_value",
        ],
    )?;
    gifts.notes = vec!["Only tainted gifts count (counted_value); every gift is listed with the s.77 rule applied to it.".into()];
    let mut available = frame_table(&s.available_frame().map_err(schedule_err)?, &["value"])?;
    let gifts_total = format!(
        "={}!{}{}",
        quoted("Tainted Gifts"),
        col_name(gifts.col("counted_value")),
        gifts.total_row()
    );
    let value_col = available.col("value");
    let kind_col = available.col("kind");
    if let Some(r) = available
        .rows
        .iter()
        .position(|row| row[kind_col] == Cell::Text("tainted_gifts".into()))
    {
        available.overrides.insert((r, value_col), gifts_total);
    }
    available.notes = vec![format!(
        "The available amount is the total above, never below nil ({}).",
        crate::money::format_amount(crate::money::from_minor_units(i128::from(
            s.totals.available
        )))
    )];

    // Summary: amounts are formulas on the other sheets' totals.
    let mut summary = frame_table(&s.summary_frame().map_err(schedule_err)?, &[])?;
    let amount_col = summary.col("amount");
    let key_col = summary.col("key");
    let b = |name: &str| {
        format!(
            "{}!{}{}",
            quoted("Benefit"),
            col_name(benefit.col(name)),
            benefit.total_row()
        )
    };
    let av = quoted("Available Amount");
    let av_range = |c: usize| {
        format!(
            "{av}!${0}$2:${0}${1}",
            col_name(c),
            available.last_data_row()
        )
    };
    let sumif = |kind: &str| {
        format!(
            "=SUMIF({},\"{kind}\",{})",
            av_range(available.col("kind")),
            av_range(value_col)
        )
    };
    let mut row_of = BTreeMap::new();
    for (r, row) in summary.rows.iter().enumerate() {
        if let Cell::Text(k) = &row[key_col] {
            row_of.insert(k.clone(), r + 2);
        }
    }
    let mut formulas: Vec<(String, String)> = vec![
        (
            "benefit_historic".into(),
            format!("={}", b("historic_amount")),
        ),
        (
            "benefit_uplifted".into(),
            format!("={}", b("uplifted_amount")),
        ),
        ("benefit".into(), format!("={}", b("benefit_value"))),
        ("free_property".into(), sumif("property")),
        ("bank_balances".into(), sumif("bank_balance")),
        ("priority_obligations".into(), sumif("priority_obligation")),
        (
            "tainted_gifts".into(),
            format!(
                "={}!{}{}",
                quoted("Tainted Gifts"),
                col_name(gifts.col("counted_value")),
                gifts.total_row()
            ),
        ),
        (
            "available".into(),
            format!(
                "=MAX(0,{av}!{}{})",
                col_name(value_col),
                available.total_row()
            ),
        ),
    ];
    if let (Some(bi), Some(ai)) = (row_of.get("benefit"), row_of.get("available")) {
        let a = col_name(amount_col);
        formulas.push(("recoverable".into(), format!("=MIN({a}{bi},{a}{ai})")));
    }
    for (key, formula) in formulas {
        if let Some(&r) = row_of.get(&key) {
            summary.overrides.insert((r - 2, amount_col), formula);
        }
    }

    let tracing = match input.trace_summary {
        Some(df) => {
            let mut t = frame_table(&df.head(Some(MAX_COPIED_ROWS)), &[])?;
            t.notes = vec!["From trace_summary.csv: how much of each payment is tainted under each method (docs/tracing.md).".into()];
            t.notes
                .extend(cut_note(input.trace_summary_rows, "trace_summary.csv"));
            t
        }
        None => {
            let mut t = Table::new(vec!["note".into()], Vec::new());
            t.notes = vec![
                "Tracing did not run: the case file has no [tracing] table saying what is tainted."
                    .into(),
            ];
            t
        }
    };
    let findings = match input.findings {
        Some(df) if df.height() > 0 => {
            let mut t = frame_table(&df.head(Some(MAX_COPIED_ROWS)), &[])?;
            t.notes = vec!["From findings.csv: each finding with its rule, window and the figures that crossed the thresholds; finding_evidence.csv lists the evidence rows.".into()];
            t.notes.extend(cut_note(df.height(), "findings.csv"));
            t
        }
        Some(_) => {
            let mut t = Table::new(vec!["note".into()], Vec::new());
            t.notes = vec!["The detection rules ran and produced no findings.".into()];
            t
        }
        None => {
            let mut t = Table::new(vec!["note".into()], Vec::new());
            t.notes = vec!["The detection stage did not run for this output.".into()];
            t
        }
    };
    let integrity = match input.integrity {
        Some(df) => frame_table(df, &[])?,
        None => {
            let mut t = Table::new(vec!["note".into()], Vec::new());
            t.notes = vec!["The verification stage did not run.".into()];
            t
        }
    };
    let sources = sources_table(input, s);

    let mut wb = Workbook::new();
    let created = ExcelDateTime::from_ymd(1970, 1, 1).map_err(encode)?;
    wb.set_properties(
        &DocProperties::new()
            .set_title(format!("Confiscation schedules: {}", s.case_reference))
            .set_creation_datetime(&created),
    );
    for (name, table) in SHEETS.iter().zip([
        &summary,
        &benefit,
        &exclusions,
        &available,
        &gifts,
        &tracing,
        &findings,
        &integrity,
        &sources,
    ]) {
        let ws = wb.add_worksheet();
        ws.set_name(*name).map_err(encode)?;
        write_table(ws, &f, table).map_err(encode)?;
    }
    wb.save_to_buffer().map_err(encode)
}

fn sources_table(input: &XlsxInput<'_>, s: &Schedules) -> Table {
    let header = [
        "role",
        "path",
        "exhibit",
        "sha256",
        "size_bytes",
        "layout",
        "records_read",
        "accepted",
        "rejected",
        "skipped",
    ];
    let mut rows: Vec<Vec<Cell>> = input
        .sources
        .iter()
        .map(|r| {
            vec![
                Cell::Text("source".into()),
                Cell::Text(r.source_file.clone()),
                Cell::Text(r.exhibit.clone().unwrap_or_default()),
                Cell::Text(r.sha256.clone()),
                Cell::Int(r.size_bytes as i64),
                Cell::Text(r.layout.clone()),
                Cell::Int(r.records_read as i64),
                Cell::Int(r.accepted as i64),
                Cell::Int(r.rejected as i64),
                Cell::Int(r.skipped as i64),
            ]
        })
        .collect();
    for i in input.inputs {
        rows.push(vec![
            Cell::Text(i.role.clone()),
            Cell::Text(i.path.clone()),
            Cell::Empty,
            Cell::Text(i.sha256.clone()),
            Cell::Int(i.size_bytes as i64),
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
            Cell::Empty,
        ]);
    }
    rows.push(vec![
        Cell::Text("jurisdiction".into()),
        Cell::Text(format!(
            "rules/jurisdictions/{}.toml (built in, version {})",
            s.jurisdiction_id, s.jurisdiction_version
        )),
        Cell::Empty,
        Cell::Text(s.jurisdiction_sha256.clone()),
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
        Cell::Empty,
    ]);
    let mut t = Table::new(header.iter().map(|h| h.to_string()).collect(), rows);
    t.notes = vec!["Every input with its SHA-256: each schedule line's source_ref names one of these files and its line.".into()];
    t
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_cell_longer_than_excel_allows_is_cut_with_a_note() {
        let long = "t-L1;".repeat(10_000);
        let fitted = super::fit_cell(&long);
        assert_eq!(fitted.chars().count(), super::EXCEL_CELL_CHARS);
        assert!(fitted.ends_with("the CSV output holds the full text)"));
        assert_eq!(super::fit_cell("short"), "short");
    }

    #[test]
    fn copied_sheets_say_where_the_rest_is() {
        assert_eq!(super::cut_note(50_000, "findings.csv"), None);
        assert_eq!(
            super::cut_note(50_001, "trace_summary.csv").as_deref(),
            Some("Rows 1 to 50000 of 50001 are shown; trace_summary.csv holds every row.")
        );
    }

    use super::*;

    /// Schedules with no lines, for tests of the copied sheets.
    fn empty_schedules() -> Schedules {
        let day = NaiveDate::from_ymd_opt(2019, 3, 15).unwrap();
        Schedules {
            case_reference: "CUT".into(),
            lifestyle: true,
            conviction: None,
            relevant_day: crate::confiscation::RelevantDay {
                day,
                proceedings_started: day,
                period_years: 6,
                derivation: String::new(),
                citation: String::new(),
            },
            valuation_month: crate::confiscation::Month::of(day),
            valuation_basis: String::new(),
            index_series: String::new(),
            index_vintage: String::new(),
            index_file: String::new(),
            jurisdiction_id: "uk-poca-2002".into(),
            jurisdiction_name: String::new(),
            jurisdiction_version: 1,
            jurisdiction_sha256: String::new(),
            benefit: Vec::new(),
            exclusions: Vec::new(),
            available: Vec::new(),
            gifts: Vec::new(),
            totals: crate::confiscation::Totals::default(),
            method: Vec::new(),
        }
    }

    /// A frame of `rows` rows: `payment_txn_id` `p0`, `p1`, … and `tainted_pence` = the row.
    fn numbered_frame(rows: usize) -> DataFrame {
        let ids: Vec<String> = (0..rows).map(|i| format!("p{i}")).collect();
        let pence: Vec<i64> = (0..rows as i64).collect();
        DataFrame::new(
            rows,
            vec![
                Column::new("payment_txn_id".into(), ids),
                Column::new("tainted_pence".into(), pence),
            ],
        )
        .unwrap()
    }

    #[test]
    fn the_tracing_and_findings_sheets_hold_the_first_rows_and_say_where_the_rest_are() {
        use calamine::{Data, Reader, Xlsx};
        let schedules = empty_schedules();
        let trace_summary = numbered_frame(MAX_COPIED_ROWS + 1);
        let findings = numbered_frame(MAX_COPIED_ROWS + 7);
        let bytes = schedules_xlsx(&XlsxInput {
            schedules: &schedules,
            trace_summary: Some(&trace_summary),
            trace_summary_rows: MAX_COPIED_ROWS + 1,
            integrity: None,
            findings: Some(&findings),
            sources: &[],
            inputs: &[],
            base_currency: "GBP",
        })
        .unwrap();
        let mut book: Xlsx<_> =
            calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        for (sheet, rows, file, first_note) in [
            ("Tracing", MAX_COPIED_ROWS + 1, "trace_summary.csv", "From trace_summary.csv: how much of each payment is tainted under each method (docs/tracing.md)."),
            ("Findings", MAX_COPIED_ROWS + 7, "findings.csv", "From findings.csv: each finding with its rule, window and the figures that crossed the thresholds; finding_evidence.csv lists the evidence rows."),
        ] {
            let range = book.worksheet_range(sheet).unwrap();
            let text = |r: usize| range.get((r, 0)).cloned().unwrap_or(Data::Empty);
            // Header, 50,000 rows, a blank row, the sheet's note and the cut note.
            assert_eq!(range.height(), 1 + 50_000 + 1 + 2, "{sheet}");
            assert_eq!(text(0), Data::String("payment_txn_id".into()));
            let copied: Vec<usize> = (1..range.height())
                .filter(|&r| matches!(text(r), Data::String(ref s) if s.starts_with('p') && s[1..].parse::<usize>().is_ok()))
                .collect();
            assert_eq!(copied.len(), MAX_COPIED_ROWS, "{sheet}");
            assert_eq!(text(1), Data::String("p0".into()));
            assert_eq!(text(50_000), Data::String("p49999".into()));
            assert_eq!(range.get((50_000, 1)), Some(&Data::Float(49_999.0)));
            assert_eq!(text(50_001), Data::Empty);
            assert_eq!(text(50_002), Data::String(first_note.into()));
            assert_eq!(
                text(50_003),
                Data::String(format!("Rows 1 to 50000 of {rows} are shown; {file} holds every row."))
            );
        }
    }

    #[test]
    fn column_names() {
        assert_eq!(col_name(0), "A");
        assert_eq!(col_name(25), "Z");
        assert_eq!(col_name(26), "AA");
        assert_eq!(col_name(27), "AB");
        assert_eq!(col_name(701), "ZZ");
        assert_eq!(col_name(702), "AAA");
    }

    #[test]
    fn decimals_display_exactly() {
        assert_eq!(decimal_text(123_456, 2), "1234.56");
        assert_eq!(decimal_text(112_000_000, 6), "112");
        assert_eq!(decimal_f64(-20_000, 2), -200.0);
    }
}
