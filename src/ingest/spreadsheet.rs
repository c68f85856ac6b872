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

use calamine::{Data, Reader, Sheets};

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
    check_ods(bytes).map_err(problem)?;
    let mut book = open_book(bytes).map_err(problem)?;
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
/// declared extent is checked in [`check_compound_file`], an `.ods` workbook's in
/// [`check_ods`] before calamine opens it.
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
///
/// The cells themselves are checked too: calamine builds a sheet as the rectangle from its
/// first to its last cell, whatever the Dimensions record says, and a cell record may name
/// any column up to 65,535 (BIFF8 allows 256). A 5.6 KB file with a few cells so placed took
/// 6.5 GB (found by fuzzing). Each sheet's cell records (MS-XLS 2.4: NUMBER, RK, MULRK,
/// LABELSST, LABEL, RSTRING, BLANK, MULBLANK, BOOLERR, FORMULA) are walked for their row and
/// columns, and a rectangle of more than [`MAX_SHEET_CELLS`] is refused.
fn check_xls_dimensions(bytes: &[u8], t: &Tables) -> Result<(), String> {
    let Some(stream) = workbook_stream(bytes, t) else {
        return Ok(());
    };
    // Per sheet (substream from one BOF to the next): first row, last row, first column,
    // last column of its cell records.
    let mut cells: Option<(u32, u32, u32, u32)> = None;
    let too_many = |b: Option<(u32, u32, u32, u32)>| -> Result<(), String> {
        let Some((r0, r1, c0, c1)) = b else {
            return Ok(());
        };
        let n = (u64::from(r1 - r0) + 1) * (u64::from(c1 - c0) + 1);
        if n > MAX_SHEET_CELLS {
            return Err(format!(
                "the spreadsheet is damaged or crafted: a sheet's cells span rows {r0} to {r1} and columns {c0} to {c1}, {n} cells from its first to its last, more than the {MAX_SHEET_CELLS} cells read from one sheet"
            ));
        }
        Ok(())
    };
    let mut at = 0usize;
    while at + 4 <= stream.len() {
        let typ = u16::from_le_bytes([stream[at], stream[at + 1]]);
        let len = u16::from_le_bytes([stream[at + 2], stream[at + 3]]) as usize;
        let Some(data) = stream.get(at + 4..at + 4 + len) else {
            break;
        };
        let u16_le = |i: usize| {
            data.get(i..i + 2)
                .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
        };
        let span = match typ {
            // BOF: a new substream (the globals or a sheet).
            0x0809 => {
                too_many(cells.take())?;
                None
            }
            0x0203 | 0x027E | 0x00FD | 0x0204 | 0x00D6 | 0x0201 | 0x0205 | 0x0006 => {
                u16_le(0).zip(u16_le(2)).map(|(r, c)| (r, c, c))
            }
            // MULRK, MULBLANK: row, first column, ..., last column.
            0x00BD | 0x00BE if len >= 6 => u16_le(0)
                .zip(u16_le(2))
                .zip(u16_le(len - 2))
                .map(|((r, a), b)| (r, a.min(b), a.max(b))),
            _ => None,
        };
        if let Some((r, c0, c1)) = span {
            cells = Some(match cells {
                None => (r, r, c0, c1),
                Some((r0, r1, a, b)) => (r0.min(r), r1.max(r), a.min(c0), b.max(c1)),
            });
        }
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
    too_many(cells)
}

/// The first bytes of an OpenDocument spreadsheet's `mimetype` member.
const ODS_MIMETYPE: &[u8] = b"application/vnd.oasis.opendocument.spreadsheet";
/// calamine's own caps on an `.ods` sheet: rows repeated beyond the first are dropped, and
/// so are cells beyond the first columns of a row.
const ODS_MAX_ROWS: u64 = 1_048_576;
const ODS_MAX_COLUMNS: u64 = 16_384;
/// Most cells read from an `.ods` workbook: calamine holds each `.ods` cell as a value and
/// a formula, first as read and then copied into the sheet's range, about four times what
/// an `.xlsx` cell costs; 1,200 rows of 16,384 numbers (19.7 million cells) peaked at 1.7 GB.
pub const MAX_ODS_CELLS: u64 = 5_000_000;
/// Most bytes of text an `.ods` workbook may hold once its repeated cells are written out
/// (calamine copies a cell's text into every column and row it is repeated over).
pub const MAX_ODS_TEXT_BYTES: u64 = 200_000_000;
/// Most bytes of `content.xml` read from an `.ods` (unpacked): a statement of a million
/// rows as LibreOffice writes it is about a fifth of this.
pub const MAX_ODS_CONTENT_BYTES: u64 = 1_000_000_000;

/// Whether a zip's `mimetype` member says OpenDocument spreadsheet.
fn zip_is_ods(zip: &mut zip::ZipArchive<Cursor<&[u8]>>) -> bool {
    use std::io::Read;
    match zip.by_name("mimetype") {
        Ok(mut member) => {
            let mut head = [0u8; ODS_MIMETYPE.len()];
            member.read_exact(&mut head).is_ok() && head == ODS_MIMETYPE
        }
        Err(_) => false,
    }
}

/// Open the workbook with the one reader its container calls for, after that container's
/// checks ([`check_compound_file`], [`check_ods`]). The spreadsheet library's own
/// detection tries every reader in turn on any bytes: a file that begins as an `.xls` but
/// holds a zip further on was opened as an `.ods` without the `.ods` checks, and one such
/// 5 KB file (found by fuzzing) kept its table reader looping for good.
pub(crate) fn open_book(bytes: &[u8]) -> Result<Sheets<Cursor<&[u8]>>, String> {
    use calamine::{open_workbook_from_rs, Ods, Xls, Xlsb, Xlsx};
    let cannot = |e: &dyn std::fmt::Display| format!("the spreadsheet cannot be opened: {e}");
    let data = Cursor::new(bytes);
    match sniff(bytes) {
        Some("xls") => open_workbook_from_rs::<Xls<_>, _>(data)
            .map(Sheets::Xls)
            .map_err(|e| cannot(&e)),
        Some(_) => {
            let ods = zip::ZipArchive::new(Cursor::new(bytes))
                .map(|mut zip| zip_is_ods(&mut zip))
                .unwrap_or(false);
            if ods {
                return open_workbook_from_rs::<Ods<_>, _>(data)
                    .map(Sheets::Ods)
                    .map_err(|e| cannot(&e));
            }
            match open_workbook_from_rs::<Xlsx<_>, _>(data.clone()) {
                Ok(book) => Ok(Sheets::Xlsx(book)),
                Err(xlsx) => open_workbook_from_rs::<Xlsb<_>, _>(data)
                    .map(Sheets::Xlsb)
                    .map_err(|_| cannot(&xlsx)),
            }
        }
        None => Err("the file is not a spreadsheet: it begins with neither the .xls signature nor a zip's (.xlsx, .xlsb, .ods)".into()),
    }
}

/// Refuse an `.ods` workbook that calamine could not read in bounded memory and time.
///
/// calamine reads every sheet of an `.ods` whole when the workbook is opened, from the
/// `content.xml` member, following its repeat counts: a cell with
/// `table:number-columns-repeated="16384"` is stored 16,384 times for every row element
/// it appears in (a 2.6 KB file of 3,000 such rows peaked at 4.3 GB), a
/// `<text:s text:c="…"/>` is written out as that many spaces in every repeated copy of the
/// cell, and a `content.xml` that ends inside a sheet made it loop for ever. This streams
/// `content.xml` once, as calamine will read it (the same events, repeat counts and caps),
/// counting the cells it would store, the cells of each sheet's used range and the text
/// they hold, and refuses the workbook when a count passes [`MAX_ODS_CELLS`] or
/// [`MAX_ODS_TEXT_BYTES`], when `content.xml` unpacks to more than
/// [`MAX_ODS_CONTENT_BYTES`], or when it ends inside a sheet. Anything that is not an
/// OpenDocument spreadsheet, or that calamine will refuse itself at the point it is reached,
/// is left to calamine.
pub fn check_ods(bytes: &[u8]) -> Result<(), String> {
    use std::io::{BufReader, Read};
    if !bytes.starts_with(b"PK\x03\x04") {
        return Ok(());
    }
    let Ok(mut zip) = zip::ZipArchive::new(Cursor::new(bytes)) else {
        return Ok(());
    };
    if !zip_is_ods(&mut zip) {
        return Ok(());
    }
    let Ok(content) = zip.by_name("content.xml") else {
        return Ok(());
    };
    let mut reader =
        quick_xml::Reader::from_reader(BufReader::new(content.take(MAX_ODS_CONTENT_BYTES + 1)));
    let config = reader.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    config.check_comments = false;
    config.expand_empty_elements = true;
    let mut tally = OdsTally::default();
    let outcome = tally.workbook(&mut reader);
    if reader.buffer_position() > MAX_ODS_CONTENT_BYTES {
        return Err(format!(
            "the spreadsheet's content.xml unpacks to more than {MAX_ODS_CONTENT_BYTES} bytes; export the statement as CSV"
        ));
    }
    match outcome {
        Err(OdsStop::Refuse(message)) => Err(message),
        Ok(()) | Err(OdsStop::LeftToCalamine) => Ok(()),
    }
}

/// Why [`OdsTally`] stopped before the end of `content.xml`.
#[derive(Debug)]
enum OdsStop {
    /// The workbook is refused, for this reason.
    Refuse(String),
    /// calamine stops with an error here too (malformed XML, a count that is not a number,
    /// an element where a cell should be), having stored no more than was counted.
    LeftToCalamine,
}

/// What calamine would hold after reading `content.xml` up to the current event.
#[derive(Debug, Default)]
struct OdsTally {
    /// Cells stored while the sheets are read (every sheet, kept until the end).
    stored_cells: u64,
    /// Cells of the used ranges built from them (every sheet).
    range_cells: u64,
    /// Bytes of text in those cells, each copy counted.
    text_bytes: u64,
    /// The sheet being read.
    sheet: String,
}

/// One cell element as calamine reads it.
struct OdsCell {
    /// Holds a value or a formula.
    filled: bool,
    /// Bytes of text in one copy of it.
    text: u64,
    /// calamine has read up to its end tag.
    closed: bool,
}

type OdsReader<'a> =
    quick_xml::Reader<std::io::BufReader<std::io::Take<zip::read::ZipFile<'a, Cursor<&'a [u8]>>>>>;

impl OdsTally {
    fn check(&self) -> Result<(), OdsStop> {
        let cells = self.stored_cells.max(self.range_cells);
        if cells > MAX_ODS_CELLS {
            return Err(OdsStop::Refuse(format!(
                "the spreadsheet is damaged or crafted: by sheet {:?} its repeated rows and columns make at least {cells} cells, more than the {MAX_ODS_CELLS} cells read from one .ods workbook; export the statement as CSV",
                self.sheet
            )));
        }
        if self.text_bytes > MAX_ODS_TEXT_BYTES {
            return Err(OdsStop::Refuse(format!(
                "the spreadsheet is damaged or crafted: by sheet {:?} its repeated cells hold at least {} bytes of text, more than the {MAX_ODS_TEXT_BYTES} read from one workbook; export the statement as CSV",
                self.sheet, self.text_bytes
            )));
        }
        Ok(())
    }

    /// `parse_content`: every `table:table` with a name is read.
    fn workbook(&mut self, reader: &mut OdsReader<'_>) -> Result<(), OdsStop> {
        use quick_xml::events::Event;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e)) if e.name().as_ref() == b"table:table" => {
                    if let Some(name) = attr(&e, b"table:name")? {
                        let name = String::from_utf8_lossy(&name).into_owned();
                        self.table(reader, &name)?;
                    }
                }
                Ok(Event::Eof) => return Ok(()),
                Err(_) => return Err(OdsStop::LeftToCalamine),
                Ok(_) => {}
            }
        }
    }

    /// `read_table` and `get_range`: rows until the sheet's end tag.
    fn table(&mut self, reader: &mut OdsReader<'_>, name: &str) -> Result<(), OdsStop> {
        use quick_xml::events::Event;
        let mut buf = Vec::new();
        self.sheet = name.to_string();
        let mut total_rows = 0u64;
        // The used range: its columns, and its rows (repeats counted) from the first row
        // with a filled cell to the last, plus those seen since the last.
        let (mut col_min, mut col_max) = (u64::MAX, 0u64);
        let (mut range_rows, mut rows_since) = (0u64, 0u64);
        let mut started = false;
        let range_before = self.range_cells;
        loop {
            buf.clear();
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e)) if e.name().as_ref() == b"table:table-row" => {
                    let repeats = match attr(&e, b"table:number-rows-repeated")? {
                        Some(v) => number(&v)?,
                        None => 1,
                    };
                    let repeats = repeats.min(ODS_MAX_ROWS.saturating_sub(total_rows));
                    total_rows = total_rows.saturating_add(repeats);
                    let (filled, row_text) = self.row(reader)?;
                    self.text_bytes = self
                        .text_bytes
                        .saturating_add(row_text.saturating_mul(repeats));
                    if started {
                        rows_since = rows_since.saturating_add(repeats);
                    }
                    if let Some((first, last)) = filled {
                        if !started {
                            started = true;
                            rows_since = repeats;
                        }
                        range_rows = rows_since;
                        col_min = col_min.min(first);
                        col_max = col_max.max(last);
                    }
                    if started {
                        let width = col_max + 1 - col_min;
                        self.range_cells =
                            range_before.saturating_add(range_rows.saturating_mul(width));
                    }
                    self.check()?;
                }
                Ok(Event::End(e)) if e.name().as_ref() == b"table:table" => return Ok(()),
                // calamine's loop keeps asking for the next event after the end of the file.
                Ok(Event::Eof) => {
                    return Err(OdsStop::Refuse(format!(
                        "the spreadsheet is damaged: its content ends inside sheet {name:?} (is the file truncated?)"
                    )))
                }
                Err(_) => return Err(OdsStop::LeftToCalamine),
                Ok(_) => {}
            }
        }
    }

    /// `read_row`: the cells of one row element. Returns the first and last filled column
    /// and the bytes of text in one copy of the row.
    fn row(&mut self, reader: &mut OdsReader<'_>) -> Result<(Option<(u64, u64)>, u64), OdsStop> {
        use quick_xml::events::Event;
        let mut buf = Vec::new();
        let mut columns = 0u64;
        let mut empty_repeats = 0u64;
        let mut filled: Option<(u64, u64)> = None;
        let mut text = 0u64;
        loop {
            buf.clear();
            match reader.read_event_into(&mut buf) {
                Ok(Event::Start(e))
                    if matches!(
                        e.name().as_ref(),
                        b"table:table-cell" | b"table:covered-table-cell"
                    ) =>
                {
                    let repeats = match attr(&e, b"table:number-columns-repeated")? {
                        Some(v) => number(&v)?,
                        None => 1,
                    };
                    let element = e.name().as_ref().to_vec();
                    let cell = self.cell(reader, &e)?;
                    // Empty cells are stored once another cell follows them.
                    let empty = empty_repeats.min(ODS_MAX_COLUMNS.saturating_sub(columns));
                    columns += empty;
                    self.stored_cells = self.stored_cells.saturating_add(empty);
                    empty_repeats = 0;
                    let copies = repeats.min(ODS_MAX_COLUMNS.saturating_sub(columns));
                    if !cell.filled {
                        empty_repeats = copies;
                    } else if copies > 0 {
                        let (first, _) = *filled.get_or_insert((columns, columns));
                        columns += copies;
                        filled = Some((first, columns - 1));
                        self.stored_cells = self.stored_cells.saturating_add(copies);
                        text = text.saturating_add(cell.text.saturating_mul(copies));
                        self.text_bytes = self
                            .text_bytes
                            .saturating_add(cell.text.saturating_mul(copies));
                    }
                    self.check()?;
                    if !cell.closed {
                        let mut skipped = Vec::new();
                        reader
                            .read_to_end_into(quick_xml::name::QName(&element), &mut skipped)
                            .map_err(|_| OdsStop::LeftToCalamine)?;
                    }
                }
                Ok(Event::End(e)) if e.name().as_ref() == b"table:table-row" => {
                    return Ok((filled, text))
                }
                // Anything else (the end of the file included) is an error to calamine.
                _ => return Err(OdsStop::LeftToCalamine),
            }
        }
    }

    /// `get_datatype`: whether the cell holds a value or formula, and its text.
    fn cell(
        &mut self,
        reader: &mut OdsReader<'_>,
        e: &quick_xml::events::BytesStart<'_>,
    ) -> Result<OdsCell, OdsStop> {
        use quick_xml::events::Event;
        let (mut value_set, mut is_string, mut is_error, mut formula) =
            (false, false, false, false);
        let mut text: Option<u64> = None;
        for a in e.attributes().with_checks(false) {
            let a = a.map_err(|_| OdsStop::LeftToCalamine)?;
            let value = a.value.as_ref();
            match a.key.as_ref() {
                b"office:value" | b"office:boolean-value" if !value_set => value_set = true,
                b"office:string-value" | b"office:date-value" | b"office:time-value"
                    if !value_set =>
                {
                    value_set = true;
                    text = Some(value.len() as u64);
                }
                b"office:value-type" if !value_set => is_string = value == b"string",
                b"calcext:value-type" => is_error = value == b"error",
                b"table:formula" => formula = !value.is_empty(),
                _ => {}
            }
        }
        if !((!value_set && is_string) || (is_error && text == Some(0))) {
            return Ok(OdsCell {
                filled: value_set || formula,
                text: text.unwrap_or(0),
                closed: false,
            });
        }
        // The cell's content is its text.
        let mut buf = Vec::new();
        let mut length = 0u64;
        let mut first_paragraph = true;
        loop {
            buf.clear();
            let grown = match reader.read_event_into(&mut buf) {
                Ok(Event::Text(t)) => t.len() as u64,
                Ok(Event::GeneralRef(_)) => 4,
                Ok(Event::End(end))
                    if matches!(
                        end.name().as_ref(),
                        b"table:table-cell" | b"table:covered-table-cell"
                    ) =>
                {
                    return Ok(OdsCell {
                        filled: true,
                        text: length,
                        closed: true,
                    })
                }
                Ok(Event::Start(s)) if s.name().as_ref() == b"office:annotation" => {
                    loop {
                        buf.clear();
                        match reader.read_event_into(&mut buf) {
                            Ok(Event::End(end)) if end.name().as_ref() == b"office:annotation" => {
                                break
                            }
                            Ok(Event::Eof) => {
                                return Err(OdsStop::Refuse(
                                    "the spreadsheet is damaged: its content ends inside a cell's annotation (is the file truncated?)".into(),
                                ))
                            }
                            Err(_) => return Err(OdsStop::LeftToCalamine),
                            Ok(_) => {}
                        }
                    }
                    0
                }
                Ok(Event::Start(s)) if s.name().as_ref() == b"text:p" => {
                    let newline = u64::from(!first_paragraph);
                    first_paragraph = false;
                    newline
                }
                Ok(Event::Start(s)) if s.name().as_ref() == b"text:s" => match attr(&s, b"text:c")?
                {
                    Some(v) => number(&v)?,
                    None => 1,
                },
                Ok(Event::Start(s))
                    if matches!(s.name().as_ref(), b"text:tab" | b"text:line-break") =>
                {
                    1
                }
                Ok(Event::Eof) | Err(_) => return Err(OdsStop::LeftToCalamine),
                Ok(_) => 0,
            };
            length = length.saturating_add(grown);
            if length > MAX_ODS_TEXT_BYTES {
                self.text_bytes = self.text_bytes.saturating_add(length);
                self.check()?;
            }
        }
    }
}

/// The first value of attribute `key`, as written.
fn attr(e: &quick_xml::events::BytesStart<'_>, key: &[u8]) -> Result<Option<Vec<u8>>, OdsStop> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|_| OdsStop::LeftToCalamine)?;
        if a.key.as_ref() == key {
            return Ok(Some(a.value.into_owned()));
        }
    }
    Ok(None)
}

/// A repeat count as calamine parses it (a count it cannot parse is its own error).
fn number(value: &[u8]) -> Result<u64, OdsStop> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map(|n| n as u64)
        .ok_or(OdsStop::LeftToCalamine)
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
    /// `lloyds_old.xls` with its Dimensions record rewritten (first row, last row + 1,
    /// first column, last column + 1), as `fixtures/hostile/make_spreadsheets.py` does.
    fn xls_with_dimensions(rows: (u32, u32), cols: (u16, u16)) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut xls = std::fs::read(root.join("fixtures/spreadsheets/lloyds_old.xls")).unwrap();
        let at = xls
            .windows(4)
            .position(|w| w == [0x00, 0x02, 0x0e, 0x00])
            .unwrap();
        let mut record = Vec::new();
        record.extend_from_slice(&rows.0.to_le_bytes());
        record.extend_from_slice(&rows.1.to_le_bytes());
        record.extend_from_slice(&cols.0.to_le_bytes());
        record.extend_from_slice(&cols.1.to_le_bytes());
        xls[at + 4..at + 16].copy_from_slice(&record);
        xls
    }

    #[test]
    fn xls_dimensions_that_run_backwards_or_claim_too_much_are_refused() {
        // The fixture's own record: rows 0 to 5, columns 0 to 8.
        assert_eq!(
            check_compound_file(&xls_with_dimensions((0, 5), (0, 8))),
            Ok(())
        );
        assert_eq!(
            check_compound_file(&xls_with_dimensions((10, 5), (0, 8))),
            Err("the spreadsheet is damaged: a sheet's dimensions run backwards (rows 10 to 5, columns 0 to 8)".into())
        );
        // A first column equal to the last + 1: no column at all.
        assert_eq!(
            check_compound_file(&xls_with_dimensions((0, 5), (3, 3))),
            Err("the spreadsheet is damaged: a sheet's dimensions run backwards (rows 0 to 5, columns 3 to 3)".into())
        );
        // A first column after the last is read as 0, as calamine reads it.
        assert_eq!(
            check_compound_file(&xls_with_dimensions((0, 5), (9, 8))),
            Ok(())
        );
        assert_eq!(
            check_compound_file(&xls_with_dimensions((0, 3_000_000), (0, 8))),
            Err("the spreadsheet is damaged or crafted: a sheet declares 24000000 cells (rows 0 to 3000000, columns 0 to 8), more than the 20000000 cells read from one sheet".into())
        );
        // An empty sheet (last row 0) declares nothing.
        assert_eq!(
            check_compound_file(&xls_with_dimensions((0, 0), (0, 0))),
            Ok(())
        );
    }

    /// An `.ods` holding `content` as its content.xml (stored, not compressed).
    fn ods(mimetype: &str, content: &str) -> Vec<u8> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("mimetype", stored).unwrap();
        zip.write_all(mimetype.as_bytes()).unwrap();
        zip.start_file("content.xml", stored).unwrap();
        zip.write_all(content.as_bytes()).unwrap();
        zip.finish().unwrap().into_inner()
    }

    fn sheet(rows: &str) -> String {
        format!(
            "<office:document-content><office:body><office:spreadsheet><table:table table:name=\"S\">{rows}</table:table></office:spreadsheet></office:body></office:document-content>"
        )
    }

    const MIME: &str = "application/vnd.oasis.opendocument.spreadsheet";

    #[test]
    fn ods_cells_are_counted_as_the_spreadsheet_library_stores_them() {
        let filled = "<table:table-cell office:value-type=\"float\" office:value=\"1\"/>";
        let empty = |n: u32| format!("<table:table-cell table:number-columns-repeated=\"{n}\"/>");
        // Trailing empty cells are dropped: 2,000 rows of one number and 16,383 empties.
        let row = format!(
            "<table:table-row>{filled}{}</table:table-row>",
            empty(16_383)
        );
        assert_eq!(check_ods(&ods(MIME, &sheet(&row.repeat(2_000)))), Ok(()));
        // Empty cells followed by another cell are stored: 306 × 16,384 > 5,000,000.
        let row = format!(
            "<table:table-row>{}{filled}</table:table-row>",
            empty(16_384)
        );
        assert_eq!(check_ods(&ods(MIME, &sheet(&row.repeat(305)))), Ok(()));
        assert_eq!(
            check_ods(&ods(MIME, &sheet(&row.repeat(306)))),
            Err("the spreadsheet is damaged or crafted: by sheet \"S\" its repeated rows and columns make at least 5013504 cells, more than the 5000000 cells read from one .ods workbook; export the statement as CSV".into())
        );
        // The used range: a number in column 1 and one in column 2,000, 2,500 rows apart.
        let far = format!(
            "<table:table-row>{filled}</table:table-row><table:table-row table:number-rows-repeated=\"2499\">{}</table:table-row><table:table-row>{}{filled}</table:table-row>",
            empty(3),
            empty(1_999)
        );
        assert_eq!(
            check_ods(&ods(MIME, &sheet(&far))),
            Err("the spreadsheet is damaged or crafted: by sheet \"S\" its repeated rows and columns make at least 5002000 cells, more than the 5000000 cells read from one .ods workbook; export the statement as CSV".into())
        );
        // A formula alone fills a cell.
        let formulas = "<table:table-row table:number-rows-repeated=\"2000\"><table:table-cell table:formula=\"of:=1\" table:number-columns-repeated=\"10001\"/></table:table-row>";
        assert!(check_ods(&ods(MIME, &sheet(formulas)))
            .unwrap_err()
            .contains("at least 20002000 cells"));
    }

    #[test]
    fn ods_text_and_truncation_are_checked_and_other_zips_left_alone() {
        let spaces = "<table:table-row><table:table-cell office:value-type=\"string\" table:number-columns-repeated=\"201\"><text:p><text:s text:c=\"1000000\"/></text:p></table:table-cell></table:table-row>";
        assert_eq!(
            check_ods(&ods(MIME, &sheet(spaces))),
            Err("the spreadsheet is damaged or crafted: by sheet \"S\" its repeated cells hold at least 201000000 bytes of text, more than the 200000000 read from one workbook; export the statement as CSV".into())
        );
        let open_note = "<office:document-content><table:table table:name=\"S\"><table:table-row><table:table-cell office:value-type=\"string\"><office:annotation><text:p>x";
        assert_eq!(
            check_ods(&ods(MIME, open_note)),
            Err("the spreadsheet is damaged: its content ends inside a cell's annotation (is the file truncated?)".into())
        );
        let unclosed = "<office:document-content><table:table table:name=\"Accounts\"><table:table-row></table:table-row>";
        assert_eq!(
            check_ods(&ods(MIME, unclosed)),
            Err("the spreadsheet is damaged: its content ends inside sheet \"Accounts\" (is the file truncated?)".into())
        );
        // Not an OpenDocument spreadsheet (another mimetype, or no zip): left to calamine.
        assert_eq!(check_ods(&ods("application/zip", unclosed)), Ok(()));
        assert_eq!(check_ods(b"PK\x03\x04 not a zip"), Ok(()));
        // A count calamine cannot parse is calamine's own error.
        let bad_count = "<office:document-content><table:table table:name=\"S\"><table:table-row table:number-rows-repeated=\"many\">";
        assert_eq!(check_ods(&ods(MIME, bad_count)), Ok(()));
    }
}
