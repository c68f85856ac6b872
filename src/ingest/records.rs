//! Turning rows of cells into records: the header search, non-data lines and field counts,
//! shared by CSV files and spreadsheets.
//!
//! Rows before the header are skipped as preamble; the header, blank rows, repeated
//! headers and rows matching the layout's `skip_lines` are skipped as non-data; a row whose
//! field count does not match the header is rejected before any value is read, because a
//! shifted row would put amounts in the wrong columns; every other row becomes a data
//! record carrying the values of the mapped fields.

use super::layout::{ColumnRef, Layout, FIELD_COUNT};
use super::{RecordEvent, SourceProblem, Values};

/// Records spanning more lines than this are treated as a broken (unbalanced) quote.
const MAX_RECORD_LINES: usize = 20;

/// Column positions once the header is known: index per field, header width, header names.
type Columns = ([Option<usize>; FIELD_COUNT], usize, Vec<String>);

/// The record state machine for one file.
#[derive(Debug)]
pub struct Splitter<'l> {
    layout: &'l Layout,
    columns: Option<Columns>,
    rows_seen: usize,
    data_index: u64,
}

impl<'l> Splitter<'l> {
    /// A splitter for a file read with `layout`.
    pub fn new(layout: &'l Layout) -> Self {
        let columns = if layout.has_header {
            None
        } else {
            Some(positional_indices(layout))
        };
        Splitter {
            layout,
            columns,
            rows_seen: 0,
            data_index: 0,
        }
    }

    /// Classify one row (its starting line, raw text and cells) and emit what it is.
    pub fn push<'a>(
        &mut self,
        line: u32,
        raw: &'a str,
        fields: &[&'a str],
        emit: &mut impl FnMut(RecordEvent<'a>),
    ) -> Result<(), SourceProblem> {
        let layout = self.layout;
        self.rows_seen += 1;
        if fields.iter().all(|f| f.trim().is_empty()) {
            emit(RecordEvent::Skip {
                line,
                raw,
                reason: "blank line".into(),
            });
            return Ok(());
        }
        let Some((idx, width, header)) = &self.columns else {
            if let Some(found) = header_indices(layout, fields) {
                self.columns = Some(found);
                emit(RecordEvent::Skip {
                    line,
                    raw,
                    reason: "header".into(),
                });
                return Ok(());
            }
            if self.rows_seen >= layout.header_search_lines {
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
            return Ok(());
        };
        if !header.is_empty() && is_same_header(header, fields) {
            emit(RecordEvent::Skip {
                line,
                raw,
                reason: "repeated header".into(),
            });
            return Ok(());
        }
        if let Some(p) = layout.skip_lines.iter().find(|p| p.is_match(raw)) {
            emit(RecordEvent::Skip {
                line,
                raw,
                reason: format!("non-data line matching skip pattern {:?}", p.as_str()),
            });
            return Ok(());
        }
        let span = super::delimited::newlines(raw) + 1;
        if span > MAX_RECORD_LINES {
            emit(RecordEvent::Reject {
                line,
                raw,
                field: String::new(),
                reason: format!(
                    "a quoted field is never closed: this record runs over {span} lines; fix the quote or split the file"
                ),
            });
            return Ok(());
        }
        let n = fields.len();
        let extra_non_empty = fields.iter().skip(*width).any(|f| !f.trim().is_empty());
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
            return Ok(());
        }
        let mut values: Values<'a> = [None; FIELD_COUNT];
        for (slot, i) in values.iter_mut().zip(idx.iter()) {
            if let Some(i) = i {
                *slot = fields.get(*i).copied();
            }
        }
        emit(RecordEvent::Data {
            line,
            raw,
            index: self.data_index,
            values,
        });
        self.data_index += 1;
        Ok(())
    }

    /// Call after the last row: a file whose header never appeared is not this layout.
    pub fn finish(&self) -> Result<(), SourceProblem> {
        if self.columns.is_none() {
            return Err(SourceProblem {
                line: 1,
                message: format!(
                    "no header found; expected a row naming the columns {}",
                    expected_names(self.layout)
                ),
            });
        }
        Ok(())
    }
}

fn normalise(s: &str) -> String {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '"')
        .to_lowercase()
}

/// The header's column positions, if `fields` is the header row (names every mapped column).
pub fn header_indices(layout: &Layout, fields: &[&str]) -> Option<Columns> {
    let names: Vec<String> = fields.iter().map(|f| normalise(f)).collect();
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

fn is_same_header(header: &[String], fields: &[&str]) -> bool {
    fields
        .iter()
        .zip(header.iter())
        .all(|(a, b)| normalises_to(a, b))
        && fields.len() >= header.iter().filter(|h| !h.is_empty()).count()
}

/// Whether `normalise(field) == normalised`, without building the string for ASCII text
/// (every data row is compared with the header).
fn normalises_to(field: &str, normalised: &str) -> bool {
    let trimmed = field.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '"');
    if trimmed.is_ascii() {
        trimmed.len() == normalised.len()
            && trimmed
                .bytes()
                .zip(normalised.bytes())
                .all(|(a, b)| a.to_ascii_lowercase() == b)
    } else {
        trimmed.to_lowercase() == normalised
    }
}

fn positional_indices(layout: &Layout) -> Columns {
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
