//! Reading delimited (CSV) exports: finding the header, splitting records, and keeping
//! every physical line accounted for.
//!
//! The reader walks the decoded text with the `csv` crate. Lines before the header are
//! skipped as preamble; blank lines, repeated headers and lines matching the layout's
//! `skip_lines` (totals, footers) are skipped as non-data; every other record is handed
//! on with its 1-based starting line and its raw text. A record whose field count does
//! not match the header is rejected here, before any value is read, because a shifted
//! row would put amounts in the wrong columns.

use super::layout::Layout;
use super::records::Splitter;
use super::{RecordEvent, SourceProblem};

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
    let mut splitter = Splitter::new(layout);
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
        // Line numbers are counted here from byte offsets, the same way for LF, CRLF and
        // CR-only (classic Mac) files: the CSV reader ends a record at a lone CR too, so a CR
        // that ends a record or a blank line is a line break. A CR inside a quoted field is
        // the field's content, as before.
        let line = prev_end_line + line_breaks(text, prev_end, start).len() as u64;
        // Blank lines the CSV reader passed over silently are still lines of the file.
        emit_blank_lines(text, prev_end, start, prev_end_line, &mut emit);
        let raw_full = text.get(start..end).unwrap_or("");
        let raw = raw_full.trim_end_matches(['\r', '\n']);
        let ends_with_lone_cr =
            raw_full.ends_with('\r') && text.as_bytes().get(end) != Some(&b'\n');
        prev_end = end;
        prev_end_line = line + raw_full.matches('\n').count() as u64 + u64::from(ends_with_lone_cr);
        let line = line as u32;

        let fields: Vec<&str> = record.iter().collect();
        splitter.push(line, raw, &fields, &mut emit)?;
    }
    finish_crlf(text, &mut prev_end, &mut prev_end_line);
    emit_blank_lines(text, prev_end, text.len(), prev_end_line, &mut emit);
    splitter.finish()
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

/// The offsets just after each line break in `text[from..to]`, a stretch between records
/// (blank lines): LF, CRLF (at its LF), or a CR not followed by LF.
fn line_breaks(text: &str, from: usize, to: usize) -> Vec<usize> {
    let bytes = text.as_bytes();
    (from..to.min(bytes.len()))
        .filter(|&i| match bytes[i] {
            b'\n' => true,
            b'\r' => bytes.get(i + 1) != Some(&b'\n'),
            _ => false,
        })
        .map(|i| i + 1)
        .collect()
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
    let mut piece_start = from;
    let mut ends = line_breaks(text, from, to);
    if ends.last() != Some(&to) {
        ends.push(to);
    }
    for (line, piece_end) in (first_line..).zip(ends) {
        let raw = text
            .get(piece_start..piece_end)
            .unwrap_or("")
            .trim_end_matches(['\r', '\n']);
        piece_start = piece_end;
        emit(RecordEvent::Skip {
            line: line as u32,
            raw,
            reason: "blank line".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::layout::Layout;

    const LAYOUT: &str = r#"
[layout]
id = "t"
name = "t"
version = 1
date_format = "%d/%m/%Y"
row_order = "oldest_first"
currency = "GBP"
skip_lines = ['^Total']
[columns]
date = "Date"
amount = "Amount"
description = "Memo"
"#;

    /// (kind, line, raw) for every event.
    fn events(text: &str) -> Vec<(String, u32, String)> {
        let layout = Layout::from_toml(LAYOUT, "test").unwrap();
        let mut out = Vec::new();
        read(text, &layout, |e| {
            out.push(match e {
                RecordEvent::Data { line, raw, .. } => ("data".into(), line, raw.to_string()),
                RecordEvent::Skip { line, raw, reason } => {
                    (format!("skip:{reason}"), line, raw.to_string())
                }
                RecordEvent::Reject { line, raw, .. } => ("reject".into(), line, raw.to_string()),
            })
        })
        .unwrap();
        out
    }

    #[test]
    fn every_line_is_accounted_for_with_lf_and_crlf() {
        let lf = "pre\n\nDate,Amount,Memo\n01/01/2024,1.00,a\n\n\n02/01/2024,2.00,\"b\nc\"\nTotal,3.00,\n\n";
        let crlf = lf.replace('\n', "\r\n");
        for text in [lf.to_string(), crlf] {
            let got: Vec<(String, u32)> =
                events(&text).into_iter().map(|(k, l, _)| (k, l)).collect();
            assert_eq!(
                got,
                vec![
                    ("skip:preamble before the header".to_string(), 1),
                    ("skip:blank line".to_string(), 2),
                    ("skip:header".to_string(), 3),
                    ("data".to_string(), 4),
                    ("skip:blank line".to_string(), 5),
                    ("skip:blank line".to_string(), 6),
                    ("data".to_string(), 7),
                    (
                        "skip:non-data line matching skip pattern \"^Total\"".to_string(),
                        9
                    ),
                    ("skip:blank line".to_string(), 10),
                ],
                "{text:?}"
            );
        }
    }

    #[test]
    fn cr_only_line_endings_give_each_record_its_own_line() {
        // Before: the CSV reader split records at each CR but lines were counted at LF only,
        // so every record of a classic-Mac file was "line 1" and shared one txn_id.
        let lf = "pre\n\nDate,Amount,Memo\n01/01/2024,1.00,a\n\n\n02/01/2024,2.00,\"b\nc\"\nTotal,3.00,\n\n";
        let cr = lf.replace('\n', "\r").replace("\"b\rc\"", "\"b\nc\"");
        let lines = |text: &str| -> Vec<(String, u32)> {
            events(text).into_iter().map(|(k, l, _)| (k, l)).collect()
        };
        assert_eq!(lines(&cr), lines(lf));
        // A CR inside a quoted field is content, not a line break.
        let embedded = "Date,Amount,Memo\n01/01/2024,1.00,\"x\ry\"\n02/01/2024,2.00,z\n";
        let got: Vec<u32> = events(embedded).into_iter().map(|(_, l, _)| l).collect();
        assert_eq!(got, [1, 2, 3]);
    }

    #[test]
    fn raw_text_is_the_record_as_written() {
        let ev = events("Date,Amount,Memo\r\n01/01/2024,\"1,000.00\",\"x, y\"\r\n");
        assert_eq!(ev[1].2, "01/01/2024,\"1,000.00\",\"x, y\"");
    }

    #[test]
    fn a_file_without_its_header_is_refused() {
        let layout = Layout::from_toml(LAYOUT, "test").unwrap();
        let err = read("a,b\n1,2\n", &layout, |_| {}).unwrap_err();
        assert!(err.message.contains("no header found"), "{}", err.message);
        assert!(err.message.contains("\"Date\""), "{}", err.message);
    }
}
