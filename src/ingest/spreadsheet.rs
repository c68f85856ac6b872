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

use calamine::{open_workbook_auto_from_rs, Data, Reader, Sheets};

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
    check_compound_file(bytes).map_err(problem)?;
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
    check_sheet_size(&mut book, &sheet).map_err(problem)?;
    book.worksheet_range(&sheet)
        .map_err(|e| problem(format!("sheet {sheet:?} cannot be read: {e}")))
}

/// Most cells read from one sheet: a little over a million rows of 19 columns.
pub const MAX_SHEET_CELLS: u64 = 20_000_000;

/// Refuse a sheet whose cells span more than [`MAX_SHEET_CELLS`], before calamine builds
/// it: calamine allocates one slot per cell of the rectangle from the first to the last
/// cell, so a 1.6 KB `.xlsx` with cells in A1 and XFD1048576 asked for 550 GB and aborted
/// the process. The cells are streamed once to find the rectangle. An `.xls` sheet's
/// declared extent is checked in [`check_compound_file`]; `.ods` has no cell stream in
/// calamine and is not checked.
pub(crate) fn check_sheet_size(
    book: &mut Sheets<Cursor<&[u8]>>,
    sheet: &str,
) -> Result<(), String> {
    let unreadable = |e: String| format!("sheet {sheet:?} cannot be read: {e}");
    let mut bounds: Option<(u32, u32, u32, u32)> = None;
    let mut add = |(r, c): (u32, u32)| {
        bounds = Some(match bounds {
            None => (r, r, c, c),
            Some((r0, r1, c0, c1)) => (r0.min(r), r1.max(r), c0.min(c), c1.max(c)),
        });
    };
    match book {
        Sheets::Xlsx(x) => {
            let mut cells = x
                .worksheet_cells_reader(sheet)
                .map_err(|e| unreadable(e.to_string()))?;
            while let Some(cell) = cells.next_cell().map_err(|e| unreadable(e.to_string()))? {
                add(cell.get_position());
            }
        }
        Sheets::Xlsb(x) => {
            let mut cells = x
                .worksheet_cells_reader(sheet)
                .map_err(|e| unreadable(e.to_string()))?;
            while let Some(cell) = cells.next_cell().map_err(|e| unreadable(e.to_string()))? {
                add(cell.get_position());
            }
        }
        Sheets::Xls(_) | Sheets::Ods(_) => return Ok(()),
    }
    let Some((r0, r1, c0, c1)) = bounds else {
        return Ok(());
    };
    let rows = u64::from(r1 - r0) + 1;
    let cols = u64::from(c1 - c0) + 1;
    if rows * cols > MAX_SHEET_CELLS {
        return Err(format!(
            "sheet {sheet:?} spans {rows} rows by {cols} columns ({} cells from its first to its last cell), more than the {MAX_SHEET_CELLS} cells read from one sheet; export the statement as CSV, or remove the stray cells far from the table",
            rows * cols
        ));
    }
    Ok(())
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

/// Refuse an `.xls` (OLE compound file) whose sector chains loop back on themselves.
///
/// calamine follows the file's allocation table (FAT) from sector to sector until the end
/// marker, with no guard against a loop: a 6 KB crafted file whose directory chain loops
/// made it allocate until the process was killed (found by fuzzing). This walks the same
/// tables the same way calamine builds them (header, DIFAT, FAT, mini FAT) and refuses the
/// file if either table holds a cycle; without one, every chain ends within the file's own
/// number of sectors. A table sector cut short by the end of the file is refused too
/// (calamine asserts on it). Files that are too short or not compound files are left to calamine,
/// which refuses them with its own reason.
pub fn check_compound_file(bytes: &[u8]) -> Result<(), String> {
    match compound_tables(bytes)? {
        Some(tables) => check_xls_dimensions(bytes, &tables),
        None => Ok(()),
    }
}

/// The sector size and the FAT of a compound file whose tables hold no cycle.
struct Tables {
    size: usize,
    fat: Vec<u32>,
    mini_fat: Vec<u32>,
}

/// Read and check the tables (see [`check_compound_file`]); `None` for a file left to
/// calamine.
fn compound_tables(bytes: &[u8]) -> Result<Option<Tables>, String> {
    const SPECIAL: u32 = 0xFFFF_FFFA;
    const DIFSECT: u32 = 0xFFFF_FFFC;
    if sniff(bytes) != Some("xls") || bytes.len() < 512 {
        return Ok(None);
    }
    let u32s = |b: &[u8]| -> Vec<u32> {
        b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let size: usize = match u16::from_le_bytes([bytes[30], bytes[31]]) {
        9 => 512,
        12 => 4096,
        _ => return Ok(None),
    };
    let max_id = bytes.len() / size;
    // Sector `id` starts after the header, which takes one sector.
    let sector = |id: u32| -> &[u8] {
        let start = (id as usize).saturating_add(1).saturating_mul(size);
        let end = start.saturating_add(size).min(bytes.len());
        bytes.get(start..end).unwrap_or(&[])
    };
    let damaged = "the spreadsheet is damaged: its sector chains loop back on themselves (a cut, corrupted or crafted .xls); it cannot be read safely".to_string();
    let cut = |id: u32| {
        format!(
            "the spreadsheet is damaged: its sector table in sector {id} is cut short (is the file truncated?)"
        )
    };

    // DIFAT: 109 entries in the header, then a chain of DIFAT sectors whose last entry
    // names the next one.
    let mut difat = u32s(&bytes[76..512]);
    let mut next = u32::from_le_bytes([bytes[68], bytes[69], bytes[70], bytes[71]]);
    let mut steps = 0usize;
    while next < SPECIAL {
        steps += 1;
        if steps > max_id + 1 || next as usize > max_id {
            return Ok(None); // calamine refuses this itself ("points past end of file")
        }
        if sector(next).len() != size {
            return Err(cut(next));
        }
        difat.extend(u32s(sector(next)));
        next = match difat.pop() {
            Some(n) => n,
            None => return Ok(None),
        };
    }
    let mut fat = Vec::new();
    for id in difat.into_iter().filter(|id| *id < DIFSECT) {
        if id as usize > max_id {
            return Ok(None);
        }
        if sector(id).len() != size {
            return Err(cut(id));
        }
        fat.extend(u32s(sector(id)));
    }
    if has_cycle(&fat) {
        return Err(damaged);
    }
    // The mini FAT is itself a chain of ordinary sectors (acyclic now).
    let mini_fat_start = u32::from_le_bytes([bytes[60], bytes[61], bytes[62], bytes[63]]);
    let mini_fat_len = u32::from_le_bytes([bytes[64], bytes[65], bytes[66], bytes[67]]) as usize;
    let mut mini_fat = Vec::new();
    if mini_fat_len > 0 {
        let wanted = mini_fat_len.saturating_mul(size);
        let mut mini = Vec::new();
        let mut id = mini_fat_start;
        while (id as usize) < fat.len() && mini.len() < wanted {
            mini.extend_from_slice(sector(id));
            id = fat[id as usize];
        }
        mini.truncate(wanted);
        mini_fat = u32s(&mini);
        if has_cycle(&mini_fat) {
            return Err(damaged);
        }
    }
    Ok(Some(Tables {
        size,
        fat,
        mini_fat,
    }))
}

/// The bytes of a chain of sectors of `size` bytes taken from `pool` (sector `id` at
/// `offset + id × size`), at most `limit` bytes. The table is acyclic, so the walk ends.
fn chain(
    pool: &[u8],
    offset: usize,
    size: usize,
    table: &[u32],
    start: u32,
    limit: usize,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut id = start;
    while (id as usize) < table.len() && out.len() < limit {
        let from = (id as usize).saturating_mul(size).saturating_add(offset);
        let Some(bytes) = pool.get(from..from.saturating_add(size).min(pool.len())) else {
            break;
        };
        out.extend_from_slice(bytes);
        id = table[id as usize];
    }
    out.truncate(limit);
    out
}

/// The workbook stream (`Workbook`, or `Book` for BIFF5) of a checked compound file, if
/// one is found.
fn workbook_stream(bytes: &[u8], t: &Tables) -> Option<Vec<u8>> {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        b.get(at..at + 4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
    };
    let dir_start = u32_at(bytes, 48)?;
    let cutoff = u32_at(bytes, 56)? as usize;
    let mini_size = 1usize << u16::from_le_bytes([bytes[32], bytes[33]]).min(12);
    let dir = chain(bytes, t.size, t.size, &t.fat, dir_start, bytes.len());
    let mut root = None;
    let mut book = None;
    for entry in dir.chunks_exact(128) {
        let name_len = (u16::from_le_bytes([entry[64], entry[65]]) as usize).min(64);
        let name: String = char::decode_utf16(
            entry[..name_len.saturating_sub(2)]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        )
        .map(|c| c.unwrap_or('?'))
        .collect();
        let start = u32_at(entry, 116)?;
        let len = u32_at(entry, 120)? as usize;
        match entry[66] {
            5 => root = Some((start, len)),
            2 if name.eq_ignore_ascii_case("Workbook") || name.eq_ignore_ascii_case("Book") => {
                book = Some((start, len));
            }
            _ => {}
        }
    }
    let (start, len) = book?;
    let len = len.min(bytes.len().saturating_mul(8));
    if len < cutoff {
        let (root_start, root_len) = root?;
        let mini_stream = chain(
            bytes,
            t.size,
            t.size,
            &t.fat,
            root_start,
            root_len.min(bytes.len()),
        );
        Some(chain(&mini_stream, 0, mini_size, &t.mini_fat, start, len))
    } else {
        Some(chain(bytes, t.size, t.size, &t.fat, start, len))
    }
}

/// Refuse an `.xls` whose Dimensions record (MS-XLS 2.4.90) claims more cells than
/// [`MAX_SHEET_CELLS`], or runs backwards: calamine reserves one slot per claimed cell
/// before reading any, so a 5.6 KB file claiming 4 billion rows asked for 1.4 TB and aborted
/// the process (found by fuzzing). The record's figures are read as calamine reads them.
fn check_xls_dimensions(bytes: &[u8], t: &Tables) -> Result<(), String> {
    let Some(stream) = workbook_stream(bytes, t) else {
        return Ok(());
    };
    let mut at = 0usize;
    while at + 4 <= stream.len() {
        let typ = u16::from_le_bytes([stream[at], stream[at + 1]]);
        let len = u16::from_le_bytes([stream[at + 2], stream[at + 3]]) as usize;
        let Some(data) = stream.get(at + 4..at + 4 + len) else {
            break;
        };
        if typ == 0x0200 {
            let u16_at = |i: usize| u32::from(u16::from_le_bytes([data[i], data[i + 1]]));
            let u32_at =
                |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
            let (rf, rl, mut cf, cl) = match len {
                10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
                14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
                _ => (0, 0, 0, 0),
            };
            if 0xFF < cf || cl < cf {
                cf = 0;
            }
            if rl >= 1 && cl >= 1 {
                let rows = u64::from(rl - 1).checked_sub(u64::from(rf)).map(|r| r + 1);
                let cols = u64::from(cl - 1).checked_sub(u64::from(cf)).map(|c| c + 1);
                let cells = rows.zip(cols).map(|(r, c)| r.saturating_mul(c));
                match cells {
                    Some(n) if n <= MAX_SHEET_CELLS => {}
                    Some(n) => {
                        return Err(format!(
                            "the spreadsheet is damaged or crafted: a sheet declares {n} cells (rows {rf} to {rl}, columns {cf} to {cl}), more than the {MAX_SHEET_CELLS} cells read from one sheet"
                        ))
                    }
                    None => {
                        return Err(format!(
                            "the spreadsheet is damaged: a sheet's dimensions run backwards (rows {rf} to {rl}, columns {cf} to {cl})"
                        ))
                    }
                }
            }
        }
        at += 4 + len;
    }
    Ok(())
}

/// Whether following `next[i]` from some `i` ever comes back to a sector already on the
/// path (a value outside the table ends a chain).
fn has_cycle(next: &[u32]) -> bool {
    // 0 = not seen, 1 = on the current path, 2 = known to end.
    let mut state = vec![0u8; next.len()];
    let mut path = Vec::new();
    for start in 0..next.len() {
        let mut at = start;
        while let Some(&s) = state.get(at) {
            match s {
                0 => {
                    state[at] = 1;
                    path.push(at);
                    at = next[at] as usize;
                }
                1 => return true,
                _ => break,
            }
        }
        for p in path.drain(..) {
            state[p] = 2;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_in_a_sector_table_are_found() {
        const END: u32 = 0xFFFF_FFFE;
        assert!(!has_cycle(&[1, 2, END]));
        assert!(!has_cycle(&[END, 0, 1, 0xFFFF_FFFF]));
        assert!(has_cycle(&[1, 2, 0]));
        assert!(has_cycle(&[END, 2, 3, 1]));
        assert!(has_cycle(&[0]));
        assert!(!has_cycle(&[]));
    }

    #[test]
    fn a_real_xls_passes_and_a_looping_one_is_refused() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let good = std::fs::read(root.join("fixtures/spreadsheets/lloyds_old.xls")).unwrap();
        assert_eq!(check_compound_file(&good), Ok(()));
        let bad = std::fs::read(root.join("fixtures/hostile/xls_sector_loop.xls")).unwrap();
        assert!(check_compound_file(&bad)
            .unwrap_err()
            .contains("loop back on themselves"));
        // Not a compound file, or too short: left to calamine.
        assert_eq!(check_compound_file(b"PK\x03\x04"), Ok(()));
        assert_eq!(check_compound_file(&good[..100]), Ok(()));
    }
}
