//! CSV outputs: the ledger, rejects, skipped lines and the per-source accounting.
//!
//! Money is written with exactly two decimal places and no grouping (`-1234.50`), dates
//! as ISO 8601, and text through [`sanitize_text`]. Column order is fixed and rows come
//! in a deterministic order, so the same inputs give the same bytes.

use polars::prelude::*;

use super::sanitize::sanitize_text;
use super::ReportError;
use crate::ingest::{Reject, Skipped, SourceReport};
use crate::money::{format_amount, push_minor_units};

fn encode_err(name: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Encode {
        path: name.into(),
        message: e.to_string(),
    }
}

/// Write rows of text cells (already formatted) to CSV bytes. Text cells are sanitised
/// unless their column is listed in `numeric`.
pub fn to_csv_bytes(
    name: &str,
    header: &[&str],
    numeric: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
) -> Result<Vec<u8>, ReportError> {
    let keep: Vec<bool> = header.iter().map(|h| numeric.contains(h)).collect();
    let mut w = crlf_writer(Vec::new());
    w.write_record(header).map_err(|e| encode_err(name, e))?;
    for row in rows {
        let cells = row.iter().zip(&keep).map(|(cell, numeric)| {
            if *numeric {
                cell.clone()
            } else {
                sanitize_text(cell).into_owned()
            }
        });
        w.write_record(cells).map_err(|e| encode_err(name, e))?;
    }
    w.into_inner().map_err(|e| encode_err(name, e))
}

/// Rows cast to text and written at a time by [`write_frame_csv`]: bounds the memory a
/// large frame's text takes while it is written.
const CSV_BATCH_ROWS: usize = 65_536;

/// A frame as CSV bytes ([`write_frame_csv`] into memory).
pub fn frame_to_csv(name: &str, df: &DataFrame) -> Result<Vec<u8>, ReportError> {
    write_frame_csv(name, df, Vec::new())
}

/// A CSV writer with the outputs' line ending (CRLF, as RFC 4180 has it).
fn crlf_writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

/// A frame as CSV: every column in order, nulls as empty cells, Decimal/number/date
/// columns unsanitised, text columns sanitised. Written `CSV_BATCH_ROWS` rows at a time,
/// so only one batch is ever held as text; returns the writer.
pub fn write_frame_csv<W: std::io::Write>(
    name: &str,
    df: &DataFrame,
    out: W,
) -> Result<W, ReportError> {
    write_frame_csv_batched(name, df, out, CSV_BATCH_ROWS)
}

fn write_frame_csv_batched<W: std::io::Write>(
    name: &str,
    df: &DataFrame,
    mut out: W,
    batch_rows: usize,
) -> Result<W, ReportError> {
    let mut header = Vec::new();
    let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    push_record(&mut header, names.iter().map(|n| n.as_bytes()));
    out.write_all(&header).map_err(|e| encode_err(name, e))?;
    write_rows(name, df, &mut out, batch_rows)?;
    out.flush().map_err(|e| encode_err(name, e))?;
    Ok(out)
}

/// A frame's rows as [`write_frame_csv`] writes them, without the header: for an output
/// written in parts (`crate::batches`).
pub fn write_frame_rows<W: std::io::Write + ?Sized>(
    name: &str,
    df: &DataFrame,
    out: &mut W,
) -> Result<(), ReportError> {
    write_rows(name, df, out, CSV_BATCH_ROWS)
}

/// Append `field` as the csv crate writes it with the outputs' settings (comma, double
/// quote, CRLF, quoting only where needed): in quotes, each quote doubled, when it holds a
/// comma, a quote, a CR or an LF; as it is otherwise. Held to the csv crate by a test.
fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    if !field
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    let mut parts = field.split(|&b| b == b'"');
    if let Some(first) = parts.next() {
        out.extend_from_slice(first);
    }
    for part in parts {
        out.extend_from_slice(b"\"\"");
        out.extend_from_slice(part);
    }
    out.push(b'"');
}

/// Append one record: its fields ([`push_field`]) separated by commas, then CRLF. A record
/// of one empty field is written `""`, as the csv crate writes it (an empty line would read
/// as no record at all).
fn push_record<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = &'a [u8]>) {
    let start = out.len();
    let mut count = 0;
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_field(out, field);
        count += 1;
    }
    if count == 1 && out.len() == start {
        out.extend_from_slice(b"\"\"");
    }
    out.extend_from_slice(b"\r\n");
}

/// Records encoded ([`push_record`]) into a buffer that goes to `out` a megabyte at a
/// time: for the writers that make their rows one by one.
struct RecordBuffer<W: std::io::Write> {
    out: W,
    bytes: Vec<u8>,
}

impl<W: std::io::Write> RecordBuffer<W> {
    const FLUSH_AT: usize = 1 << 20;

    fn new(out: W) -> Self {
        RecordBuffer {
            out,
            bytes: Vec::with_capacity(Self::FLUSH_AT + 4096),
        }
    }

    fn record<'a>(&mut self, fields: impl Iterator<Item = &'a [u8]>) -> std::io::Result<()> {
        push_record(&mut self.bytes, fields);
        if self.bytes.len() >= Self::FLUSH_AT {
            self.out.write_all(&self.bytes)?;
            self.bytes.clear();
        }
        Ok(())
    }

    /// Write what is left and flush `out`; returns it.
    fn finish(mut self) -> std::io::Result<W> {
        self.out.write_all(&self.bytes)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A frame's rows (no header), `batch_rows` at a time. One thread turns each batch's
/// columns into text while this one encodes and writes the batch before it, so the two
/// halves of the work overlap; at most one batch waits between them.
fn write_rows<W: std::io::Write + ?Sized>(
    name: &str,
    df: &DataFrame,
    w: &mut W,
    batch_rows: usize,
) -> Result<(), ReportError> {
    let sanitise: Vec<bool> = df
        .columns()
        .iter()
        .map(|c| matches!(c.dtype(), DataType::String))
        .collect();
    let height = df.height();
    let step = batch_rows.max(1);
    let as_text = |offset: usize| -> PolarsResult<Vec<StringChunked>> {
        let len = step.min(height - offset);
        df.slice(offset as i64, len)
            .columns()
            .iter()
            .map(|c| {
                c.as_materialized_series()
                    .cast(&DataType::String)
                    .and_then(|s| s.str().map(|s| s.rechunk().into_owned()))
            })
            .collect()
    };
    std::thread::scope(|scope| {
        let (batches, received) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || {
            for offset in (0..height).step_by(step) {
                let batch = as_text(offset);
                let failed = batch.is_err();
                // A send fails only when the writer has stopped (an error): stop too.
                if batches.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        let mut bytes: Vec<u8> = Vec::new();
        for batch in received {
            let as_text = batch.map_err(|e| encode_err(name, e))?;
            bytes.clear();
            let len = as_text.first().map_or(0, |c| c.len());
            let mut cells: Vec<std::borrow::Cow<'_, str>> = Vec::with_capacity(sanitise.len());
            for i in 0..len {
                cells.clear();
                cells.extend(as_text.iter().zip(&sanitise).map(|(ca, &sanitise)| {
                    let cell = ca.get(i).unwrap_or("");
                    if sanitise {
                        sanitize_text(cell)
                    } else {
                        std::borrow::Cow::Borrowed(cell)
                    }
                }));
                push_record(&mut bytes, cells.iter().map(|c| c.as_bytes()));
            }
            w.write_all(&bytes).map_err(|e| encode_err(name, e))?;
        }
        Ok(())
    })
}

/// Append a date as chrono's `Display` writes it (`2024-03-09`), without its formatting
/// machinery for the years 0 to 9999; any other year goes through chrono. For the trace's
/// row-by-row writers (two dates a flow, tens of millions of flows at 10M rows).
fn push_date(out: &mut String, date: chrono::NaiveDate) {
    use chrono::Datelike as _;
    let year = date.year();
    if !(0..=9999).contains(&year) {
        use std::fmt::Write as _;
        let _ = write!(out, "{date}");
        return;
    }
    let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
    let y = year as u32;
    for n in [y / 1000, y / 100, y / 10, y] {
        out.push(digit(n));
    }
    out.push('-');
    out.push(digit(date.month() / 10));
    out.push(digit(date.month()));
    out.push('-');
    out.push(digit(date.day() / 10));
    out.push(digit(date.day()));
}

/// `trace_summary.csv` from the trace's rows ([`crate::trace::Trace::summary_row_iter`]),
/// with the header `columns` ([`crate::trace::Trace::summary_columns`]): the bytes the
/// frame writer gives for `Trace::summary_frame`, without the frame.
pub fn write_trace_summary<'a, W: std::io::Write>(
    columns: &[String],
    rows: impl Iterator<Item = crate::trace::SummaryRow<'a>>,
    out: W,
) -> Result<W, ReportError> {
    const NAME: &str = "trace_summary.csv";
    let mut w = RecordBuffer::new(out);
    w.record(columns.iter().map(|c| c.as_bytes()))
        .map_err(|e| encode_err(NAME, e))?;
    // Header: seven fixed columns, two per method, three for the elected method.
    let methods = (columns.len().saturating_sub(10) / 2).min(crate::trace::Method::ALL.len());
    // The row's date and amounts, written into one buffer reused from row to row; the
    // cells borrow their stretches of it.
    let mut buf = String::new();
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    for row in rows {
        buf.clear();
        spans.clear();
        let mut span = |buf: &mut String, write: &dyn Fn(&mut String)| {
            let start = buf.len();
            write(buf);
            spans.push(start..buf.len());
        };
        span(&mut buf, &|b| push_date(b, row.booking_date));
        for pence in [row.amount_pence, row.overdraft_pence] {
            span(&mut buf, &|b| push_minor_units(b, pence));
        }
        for &(tainted, clean) in &row.by_method[..methods] {
            span(&mut buf, &|b| push_minor_units(b, tainted));
            span(&mut buf, &|b| push_minor_units(b, clean));
        }
        if let Some((tainted, clean)) = row.elected {
            span(&mut buf, &|b| push_minor_units(b, tainted));
            span(&mut buf, &|b| push_minor_units(b, clean));
        }
        let cell = |i: usize| -> std::borrow::Cow<'_, str> { buf[spans[i].clone()].into() };
        let mut cells: Vec<std::borrow::Cow<'_, str>> = Vec::with_capacity(columns.len());
        cells.push(sanitize_text(row.destination_txn_id));
        cells.push(sanitize_text(row.account_id));
        cells.push(cell(0));
        cells.push(sanitize_text(row.channel));
        cells.push(row.counterparty.map(sanitize_text).unwrap_or_default());
        cells.push(cell(1));
        cells.push(cell(2));
        for i in 0..2 * methods {
            cells.push(cell(3 + i));
        }
        cells.push(row.elected_method.map(sanitize_text).unwrap_or_default());
        if row.elected.is_some() {
            cells.push(cell(3 + 2 * methods));
            cells.push(cell(4 + 2 * methods));
        } else {
            cells.extend([Default::default(), Default::default()]);
        }
        w.record(cells.iter().map(|c| c.as_bytes()))
            .map_err(|e| encode_err(NAME, e))?;
    }
    w.finish().map_err(|e| encode_err(NAME, e))
}

/// The columns of `trace_flows.csv`, in order.
pub const TRACE_FLOWS_COLUMNS: [&str; 12] = [
    "method",
    "origin_txn_id",
    "origin_account",
    "origin_date",
    "destination_kind",
    "destination_txn_id",
    "destination_account",
    "destination_date",
    "destination_channel",
    "counterparty",
    "amount",
    "path",
];

/// `trace_flows.csv` written row by row from the trace, without a frame: tens of millions of
/// rows at 10M. The bytes are those [`write_frame_csv`] gives for
/// `Trace::flows_frame` (text sanitised, money with two decimals, ISO dates, empty cells
/// for nothing); a test holds the two together.
pub fn write_trace_flows<'a, W: std::io::Write>(
    rows: impl Iterator<Item = crate::trace::FlowRow<'a>>,
    out: W,
) -> Result<W, ReportError> {
    const NAME: &str = "trace_flows.csv";
    let mut w = RecordBuffer::new(out);
    w.record(TRACE_FLOWS_COLUMNS.iter().map(|c| c.as_bytes()))
        .map_err(|e| encode_err(NAME, e))?;
    fn text(v: Option<&str>) -> std::borrow::Cow<'_, str> {
        v.map(sanitize_text).unwrap_or_default()
    }
    // Dates as ISO 8601 (`NaiveDate`'s own form, as polars writes a date), into buffers
    // reused from row to row.
    let (mut origin_date, mut destination_date) = (String::new(), String::new());
    let mut amount = String::new();
    for row in rows {
        origin_date.clear();
        push_date(&mut origin_date, row.origin_date);
        destination_date.clear();
        if let Some(d) = row.destination_date {
            push_date(&mut destination_date, d);
        }
        amount.clear();
        push_minor_units(&mut amount, row.amount_pence);
        let cells: [std::borrow::Cow<'_, str>; 12] = [
            text(Some(row.method)),
            text(Some(row.origin_txn_id)),
            text(Some(row.origin_account)),
            origin_date.as_str().into(),
            text(Some(row.destination_kind)),
            text(row.destination_txn_id),
            text(Some(row.destination_account)),
            destination_date.as_str().into(),
            text(row.destination_channel),
            text(row.counterparty),
            amount.as_str().into(),
            text(Some(&row.path)),
        ];
        w.record(cells.iter().map(|c| c.as_bytes()))
            .map_err(|e| encode_err(NAME, e))?;
    }
    w.finish().map_err(|e| encode_err(NAME, e))
}

/// `rejects.csv`
pub fn rejects_csv(rejects: &[Reject]) -> Result<Vec<u8>, ReportError> {
    to_csv_bytes(
        "rejects.csv",
        &[
            "source_file",
            "source_sha256",
            "line",
            "field",
            "reason",
            "raw",
        ],
        &["line"],
        rejects.iter().map(|r| {
            vec![
                r.source_file.clone(),
                r.source_sha256.clone(),
                r.line.to_string(),
                r.field.clone(),
                r.reason.clone(),
                r.raw.clone(),
            ]
        }),
    )
}

/// `skipped.csv`
pub fn skipped_csv(skipped: &[Skipped]) -> Result<Vec<u8>, ReportError> {
    to_csv_bytes(
        "skipped.csv",
        &["source_file", "line", "reason", "raw"],
        &["line"],
        skipped.iter().map(|s| {
            vec![
                s.source_file.clone(),
                s.line.to_string(),
                s.reason.clone(),
                s.raw.clone(),
            ]
        }),
    )
}

/// Header of `sources.csv`.
pub const SOURCES_HEADER: [&str; 19] = [
    "source",
    "source_file",
    "exhibit",
    "sha256",
    "size_bytes",
    "layout",
    "layout_version",
    "encoding",
    "declared_account",
    "records_read",
    "accepted",
    "rejected",
    "skipped",
    "balanced",
    "first_date",
    "last_date",
    "money_in",
    "money_out",
    "layout_sha256",
];

/// `sources.csv`: one row per source with its hash and record accounting.
pub fn sources_csv(sources: &[SourceReport]) -> Result<Vec<u8>, ReportError> {
    to_csv_bytes(
        "sources.csv",
        &SOURCES_HEADER,
        &[
            "source",
            "size_bytes",
            "layout_version",
            "records_read",
            "accepted",
            "rejected",
            "skipped",
            "first_date",
            "last_date",
            "money_in",
            "money_out",
        ],
        sources.iter().map(|s| {
            let balanced = s.records_read == s.accepted + s.rejected + s.skipped;
            vec![
                s.index.to_string(),
                s.source_file.clone(),
                s.exhibit.clone().unwrap_or_default(),
                s.sha256.clone(),
                s.size_bytes.to_string(),
                s.layout.clone(),
                s.layout_version.to_string(),
                s.encoding.clone(),
                s.declared_account.clone().unwrap_or_default(),
                s.records_read.to_string(),
                s.accepted.to_string(),
                s.rejected.to_string(),
                s.skipped.to_string(),
                if balanced { "yes" } else { "NO" }.to_string(),
                s.first_date.map(|d| d.to_string()).unwrap_or_default(),
                s.last_date.map(|d| d.to_string()).unwrap_or_default(),
                format_amount(s.money_in),
                format_amount(s.money_out),
                s.layout_sha256.clone(),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_chrono_writes_them() {
        use chrono::{Datelike as _, NaiveDate};
        let mut dates = vec![
            NaiveDate::MIN,
            NaiveDate::MAX,
            NaiveDate::from_ymd_opt(0, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(-1, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(10000, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(7, 2, 3).unwrap(),
        ];
        let mut d = NaiveDate::from_ymd_opt(1899, 12, 25).unwrap();
        while d.year() < 2101 {
            dates.push(d);
            d += chrono::Duration::days(13);
        }
        let mut out = String::new();
        for d in dates {
            out.clear();
            push_date(&mut out, d);
            assert_eq!(out, d.to_string());
        }
    }

    fn frame() -> DataFrame {
        let amounts = Int128Chunked::from_iter_values(
            "amount".into(),
            [12345i128, -5, 0, 100, -99999].into_iter(),
        )
        .into_decimal(18, 2)
        .unwrap()
        .into_series()
        .into_column();
        let dates = Series::new(
            "date".into(),
            [
                chrono::NaiveDate::from_ymd_opt(2024, 1, 2),
                None,
                chrono::NaiveDate::from_ymd_opt(1999, 12, 31),
                chrono::NaiveDate::from_ymd_opt(2024, 2, 29),
                chrono::NaiveDate::from_ymd_opt(2100, 1, 1),
            ],
        )
        .cast(&DataType::Date)
        .unwrap()
        .into_column();
        let text = Column::new(
            "text".into(),
            [
                Some("plain"),
                Some("=HYPERLINK(\"x\")"),
                None,
                Some("a,b \"q\""),
                Some(""),
            ],
        );
        DataFrame::new(5, vec![text, amounts, dates]).unwrap()
    }

    #[test]
    fn fields_are_written_as_the_csv_crate_writes_them() {
        let samples = [
            "",
            "plain",
            ",",
            "\"",
            "\"\"",
            "a,b",
            "say \"hi\"",
            "line\nbreak",
            "cr\rhere",
            "\r\n",
            " lead",
            "trail ",
            "'=1+1",
            "#",
            "é, ü",
            "\"start",
            "end\"",
            "\t tab",
            "semi;colon",
            "a\"b,c\nd",
        ];
        let (mut ours, mut ours_alone) = (Vec::new(), Vec::new());
        let (mut theirs, mut theirs_alone) = (crlf_writer(Vec::new()), crlf_writer(Vec::new()));
        for (i, a) in samples.iter().enumerate() {
            let b = samples[(i * 7 + 3) % samples.len()];
            let record = [a.as_bytes(), b.as_bytes(), b"", b"1.00"];
            push_record(&mut ours, record.iter().copied());
            theirs.write_record(record).unwrap();
            // A lone field, as a one-column frame writes it (an empty one is quoted).
            push_record(&mut ours_alone, std::iter::once(a.as_bytes()));
            theirs_alone.write_record([a.as_bytes()]).unwrap();
        }
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs.into_inner().unwrap()).unwrap()
        );
        let alone = String::from_utf8(ours_alone).unwrap();
        assert_eq!(
            alone,
            String::from_utf8(theirs_alone.into_inner().unwrap()).unwrap()
        );
        // A one-column frame: its empty and null cells as the csv crate writes a lone empty
        // field.
        let one = DataFrame::new(
            3,
            vec![Column::new("note".into(), [Some(""), None, Some("x,y")])],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(write_frame_csv_batched("t.csv", &one, Vec::new(), 2).unwrap())
                .unwrap(),
            "note\r\n\"\"\r\n\"\"\r\n\"x,y\"\r\n"
        );
        assert!(alone.starts_with("\"\"\r\nplain\r\n\",\"\r\n\"\"\"\"\r\n"));
    }

    #[test]
    fn a_frame_is_written_the_same_whatever_the_batch() {
        let df = frame();
        let whole = write_frame_csv_batched("t.csv", &df, Vec::new(), 1000).unwrap();
        for batch in [1, 2, 3, 4, 5] {
            let b = write_frame_csv_batched("t.csv", &df, Vec::new(), batch).unwrap();
            assert_eq!(b, whole, "batch of {batch}");
        }
        assert_eq!(
            String::from_utf8(whole).unwrap(),
            "text,amount,date\r\n\
             plain,123.45,2024-01-02\r\n\
             \"'=HYPERLINK(\"\"x\"\")\",-0.05,\r\n\
             ,0.00,1999-12-31\r\n\
             \"a,b \"\"q\"\"\",1.00,2024-02-29\r\n\
             ,-999.99,2100-01-01\r\n"
        );
    }
}
