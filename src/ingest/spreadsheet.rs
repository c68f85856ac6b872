//! Spreadsheets (`.xlsx`, `.xls`, `.ods`) read through the same layouts as CSV exports.
//!
//! A spreadsheet is recognised by its content (a zip or OLE container), not its name. The
//! layout's `sheet` (default: the first sheet) is read with `calamine` into rows of cells,
//! and the rows go through the same header search, non-data and field-count checks as a
//! CSV file. A record's line is the sheet's row number as the spreadsheet shows it; its raw
//! text is the row's cells written as one CSV line.
//!
//! Cells become text exactly: dates stored as Excel serial numbers are converted by
//! calendar arithmetic (never through floating-point days) and written in the layout's
//! `date_format` so the same parser reads them; numbers are written in their shortest
//! round-trip decimal form, so a cell showing 1234.5 reads as 1234.50 and a cell holding
//! 0.1 + 0.2 (0.30000000000000004) is rejected for its extra decimal places, not rounded.

use std::io::Cursor;

use calamine::{open_workbook_auto_from_rs, Data, Reader};

use super::layout::Layout;
use super::records::Splitter;
use super::{SourceProblem, SourceSink};

/// The kind of spreadsheet the bytes are, if they are one.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"PK\x03\x04") {
        Some("xlsx/ods")
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Some("xls")
    } else {
        None
    }
}

/// Read the layout's sheet into the sink.
pub fn read(bytes: &[u8], layout: &Layout, sink: &mut SourceSink<'_>) -> Result<(), SourceProblem> {
    // calamine panics on some damaged containers (a truncated .xls: "slice index starts at
    // 4096 but ends at 4064" in its CFB reader). The workbook is only read here, nothing is
    // shared with the rest of the run, so such a panic is caught and becomes a refusal.
    let range = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| load(bytes, layout)))
        .unwrap_or_else(|_| {
            Err(SourceProblem {
                line: 1,
                message: "the spreadsheet is damaged: its container cannot be read (is the file cut short?)".into(),
            })
        })?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let mut splitter = Splitter::new(layout);
    for (i, row) in range.rows().enumerate() {
        let line = first_row + i as u32 + 1;
        let mut cells: Vec<String> = vec![String::new(); first_col as usize];
        cells.extend(row.iter().map(|c| cell_text(c, layout)));
        let raw = csv_line(&cells);
        let fields: Vec<&str> = cells.iter().map(String::as_str).collect();
        splitter.push(line, &raw, &fields, &mut |e| sink.event(e))?;
    }
    splitter.finish()
}

/// Open the workbook and read the layout's sheet.
fn load(bytes: &[u8], layout: &Layout) -> Result<calamine::Range<Data>, SourceProblem> {
    let problem = |message: String| SourceProblem { line: 1, message };
    let mut book = open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| problem(format!("the spreadsheet cannot be opened: {e}")))?;
    let names = book.sheet_names();
    let sheet = match &layout.sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(wanted))
            .cloned()
            .ok_or_else(|| {
                problem(format!(
                    "no sheet named {wanted:?}; the workbook has {}",
                    names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        None => names
            .first()
            .cloned()
            .ok_or_else(|| problem("the workbook has no sheets".into()))?,
    };
    book.worksheet_range(&sheet)
        .map_err(|e| problem(format!("sheet {sheet:?} cannot be read: {e}")))
}

/// A cell as text, exactly.
fn cell_text(cell: &Data, layout: &Layout) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        // Rust prints the shortest decimal that reads back as the same double.
        Data::Float(f) => format!("{f}"),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::Error(e) => format!("#ERROR {e:?}"),
        Data::DateTime(dt) => {
            let serial = dt.as_f64();
            match dt.as_datetime() {
                // A time-only cell (a fraction of a day).
                Some(t) if (0.0..1.0).contains(&serial) => t.format("%H:%M:%S").to_string(),
                Some(t) if layout.date_format.is_empty() => t.date().to_string(),
                Some(t) => t.format(&layout.date_format).to_string(),
                None => format!("#DATE {serial}"),
            }
        }
    }
}

fn csv_line(cells: &[String]) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = w.write_record(cells);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_string()
}
