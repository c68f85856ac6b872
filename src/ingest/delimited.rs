//! Reading delimited (CSV) exports: finding the header, splitting records, and keeping
//! every physical line accounted for.
//!
//! The reader walks the decoded text with the `csv` crate. Lines before the header are
//! skipped as preamble; blank lines, repeated headers and lines matching the layout's
//! `skip_lines` (totals, footers) are skipped as non-data; every other record is handed
//! on with its 1-based starting line and its raw text. A record whose field count does
//! not match the header is rejected here, before any value is read, because a shifted
//! row would put amounts in the wrong columns.

use super::layout::{ColumnRef, Field, Layout, FIELD_COUNT};
use super::{RecordEvent, SourceProblem, Values};

/// Records spanning more lines than this are treated as a broken (unbalanced) quote.
const MAX_RECORD_LINES: usize = 20;

/// Walk a delimited file, calling `emit` for every record and skipped line, in file order.
pub fn read(
    text: &str,
    layout: &Layout,
    mut emit: impl FnMut(RecordEvent<'_>),
) -> Result<(), SourceProblem> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(layout.delimiter)
        .from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut prev_end: usize = 0;
    let mut prev_end_line: u64 = 1;
    // Column index for each field once the header is known.
    let mut indices: Option<([Option<usize>; FIELD_COUNT], usize, Vec<String>)> =
        if layout.has_header {
            None
        } else {
            Some(positional_indices(layout))
        };
    let mut records_seen = 0usize;
    let mut data_index = 0u64;
    loop {
        let more = reader.read_record(&mut record).map_err(|e| SourceProblem {
            line: prev_end_line as u32,
            message: format!("the CSV cannot be split into records: {e}"),
        })?;
        if !more {
            break;
        }
        let pos = record
            .position()
            .cloned()
            .unwrap_or_else(csv::Position::new);
        let end = reader.position().byte() as usize;
        // The CSV reader stops between the \r and \n of a CRLF terminator: that \n ends the
        // previous record's line, it is not a blank line of its own.
        finish_crlf(text, &mut prev_end, &mut prev_end_line);
        // A record's reported start includes the line breaks (blank lines) before it.
        let mut start = (pos.byte() as usize).max(prev_end);
        while matches!(text.as_bytes().get(start), Some(b'\r' | b'\n')) && start < end {
            start += 1;
        }
        // Line numbers are counted here from byte offsets, the same way for LF and CRLF files.
        let gap = text.get(prev_end..start).unwrap_or("");
        let line = prev_end_line + gap.matches('\n').count() as u64;
        // Blank lines the CSV reader passed over silently are still lines of the file.
        emit_blank_lines(text, prev_end, start, prev_end_line, &mut emit);
        let raw_full = text.get(start..end).unwrap_or("");
        let raw = raw_full.trim_end_matches(['\r', '\n']);
        prev_end = end;
        prev_end_line = line + raw_full.matches('\n').count() as u64;
        let line = line as u32;
        records_seen += 1;

        if record.iter().all(|f| f.trim().is_empty()) {
            emit(RecordEvent::Skip {
                line,
                raw,
                reason: "blank line".into(),
            });
            continue;
        }
        let Some((idx, width, header)) = &indices else {
            if let Some(found) = header_indices(layout, &record) {
                indices = Some(found);
                emit(RecordEvent::Skip {
                    line,
                    raw,
                    reason: "header".into(),
                });
                continue;
            }
            if records_seen >= layout.header_search_lines {
                return Err(SourceProblem {
                    line,
                    message: format!(
                        "no header found in the first {} records; expected a row naming the columns {}",
                        layout.header_search_lines,
                        expected_names(layout)
                    ),
                });
            }
            emit(RecordEvent::Skip {
                line,
                raw,
                reason: "preamble before the header".into(),
            });
            continue;
        };
        if !header.is_empty() && is_same_header(header, &record) {
            emit(RecordEvent::Skip {
                line,
                raw,
                reason: "repeated header".into(),
            });
            continue;
        }
        if let Some(p) = layout.skip_lines.iter().find(|p| p.is_match(raw)) {
            emit(RecordEvent::Skip {
                line,
                raw,
                reason: format!("non-data line matching skip pattern {:?}", p.as_str()),
            });
            continue;
        }
        let span = raw.matches('\n').count() + 1;
        if span > MAX_RECORD_LINES {
            emit(RecordEvent::Reject {
                line,
                raw,
                field: String::new(),
                reason: format!(
                    "a quoted field is never closed: this record runs over {span} lines; fix the quote or split the file"
                ),
            });
            continue;
        }
        let n = record.len();
        let extra_non_empty = record.iter().skip(*width).any(|f| !f.trim().is_empty());
        if n < *width || extra_non_empty {
            emit(RecordEvent::Reject {
                line,
                raw,
                field: String::new(),
                reason: format!(
                    "row has {n} fields, expected {width}{}",
                    if extra_non_empty {
                        " (an unquoted delimiter inside a field?)"
                    } else {
                        ""
                    }
                ),
            });
            continue;
        }
        let mut values: Values<'_> = [None; FIELD_COUNT];
        for (slot, i) in values.iter_mut().zip(idx.iter()) {
            if let Some(i) = i {
                *slot = record.get(*i);
            }
        }
        emit(RecordEvent::Data {
            line,
            raw,
            index: data_index,
            values,
        });
        data_index += 1;
    }
    finish_crlf(text, &mut prev_end, &mut prev_end_line);
    emit_blank_lines(text, prev_end, text.len(), prev_end_line, &mut emit);
    if indices.is_none() {
        return Err(SourceProblem {
            line: 1,
            message: format!(
                "no header found; expected a row naming the columns {}",
                expected_names(layout)
            ),
        });
    }
    Ok(())
}

fn finish_crlf(text: &str, prev_end: &mut usize, prev_end_line: &mut u64) {
    let bytes = text.as_bytes();
    if *prev_end > 0
        && bytes.get(*prev_end) == Some(&b'\n')
        && bytes.get(*prev_end - 1) == Some(&b'\r')
    {
        *prev_end += 1;
        *prev_end_line += 1;
    }
}

fn emit_blank_lines(
    text: &str,
    from: usize,
    to: usize,
    first_line: u64,
    emit: &mut impl FnMut(RecordEvent<'_>),
) {
    let Some(gap) = text.get(from..to) else {
        return;
    };
    if gap.is_empty() {
        return;
    }
    // The gap starts right after the previous record's line break (or at the file start).
    for (line, piece) in (first_line..).zip(gap.split_inclusive('\n')) {
        let raw = piece.trim_end_matches(['\r', '\n']);
        emit(RecordEvent::Skip {
            line: line as u32,
            raw,
            reason: "blank line".into(),
        });
    }
}

fn normalise(s: &str) -> String {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '"')
        .to_lowercase()
}

fn header_indices(
    layout: &Layout,
    record: &csv::StringRecord,
) -> Option<([Option<usize>; FIELD_COUNT], usize, Vec<String>)> {
    let names: Vec<String> = record.iter().map(normalise).collect();
    let mut idx = [None; FIELD_COUNT];
    for (field, col) in &layout.columns {
        let ColumnRef::Name(name) = col else {
            return None;
        };
        let wanted = normalise(name);
        let pos = names.iter().position(|n| *n == wanted)?;
        idx[*field as usize] = Some(pos);
    }
    // Trailing empty header cells (a trailing comma) are not columns.
    let width = names
        .iter()
        .rposition(|n| !n.is_empty())
        .map_or(0, |p| p + 1);
    Some((idx, width, names))
}

fn is_same_header(header: &[String], record: &csv::StringRecord) -> bool {
    record
        .iter()
        .map(normalise)
        .zip(header.iter())
        .all(|(a, b)| a == *b)
        && record.len() >= header.iter().filter(|h| !h.is_empty()).count()
}

fn positional_indices(layout: &Layout) -> ([Option<usize>; FIELD_COUNT], usize, Vec<String>) {
    let mut idx = [None; FIELD_COUNT];
    let mut width = 0;
    for (field, col) in &layout.columns {
        if let ColumnRef::Position(p) = col {
            idx[*field as usize] = Some(p - 1);
            width = width.max(*p);
        }
    }
    (idx, width, Vec::new())
}

fn expected_names(layout: &Layout) -> String {
    layout
        .columns
        .iter()
        .filter_map(|(_, c)| match c {
            ColumnRef::Name(n) => Some(format!("{n:?}")),
            ColumnRef::Position(_) => None,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a layout maps this field (used by callers deciding what a row can carry).
pub fn maps(layout: &Layout, field: Field) -> bool {
    layout.column(field).is_some()
}
