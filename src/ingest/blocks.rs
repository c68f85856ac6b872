//! Reading `Key: value` block exports, one block per transaction (Santander's text
//! statement is the common case).
//!
//! A block opens at a line whose key is the layout's `block_start` and runs until a
//! blank line or the next opening key. Each block is one record, starting at the line of
//! its opening key; every line outside a block (the statement's own header, blank lines)
//! is skipped as non-data, so the lines of the file are all accounted for. Lines end at LF,
//! CRLF or a lone CR (classic Mac), with the same line numbers for all three.

use super::layout::{ColumnRef, Layout, FIELD_COUNT};
use super::{RecordEvent, SourceProblem, Values};

/// Walk a block file, calling `emit` for every block and every line outside a block.
pub fn read(
    text: &str,
    layout: &Layout,
    mut emit: impl FnMut(RecordEvent<'_>),
) -> Result<(), SourceProblem> {
    let start_key = layout
        .block_start
        .clone()
        .unwrap_or_default()
        .to_lowercase();
    let sep = layout.key_separator;
    let keys: Vec<(usize, String)> = layout
        .columns
        .iter()
        .filter_map(|(f, c)| match c {
            ColumnRef::Name(n) => Some((*f as usize, n.trim().to_lowercase())),
            ColumnRef::Position(_) => None,
        })
        .collect();

    struct Block<'t> {
        line: u32,
        start: usize,
        end: usize,
        pairs: Vec<(String, &'t str)>,
    }
    let mut current: Option<Block<'_>> = None;
    let mut data_index = 0u64;
    let mut any_block = false;

    let flush = |block: Block<'_>, emit: &mut dyn FnMut(RecordEvent<'_>), data_index: &mut u64| {
        let raw = text
            .get(block.start..block.end)
            .unwrap_or("")
            .trim_end_matches(['\r', '\n']);
        let mut values: Values<'_> = [None; FIELD_COUNT];
        for (slot, key) in &keys {
            if let Some((_, v)) = block.pairs.iter().find(|(k, _)| k == key) {
                values[*slot] = Some(v);
            }
        }
        emit(RecordEvent::Data {
            line: block.line,
            raw,
            index: *data_index,
            values,
        });
        *data_index += 1;
    };

    for physical in super::lines::lines(text) {
        let line_no = physical.no;
        let line = physical.text;
        let piece_start = physical.start;
        let offset = physical.next;
        let kv = line.split_once(sep).map(|(k, v)| {
            (
                k.trim().to_lowercase(),
                v.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}'),
            )
        });
        match kv {
            Some((k, v)) if k == start_key => {
                if let Some(b) = current.take() {
                    flush(b, &mut emit, &mut data_index);
                }
                any_block = true;
                current = Some(Block {
                    line: line_no,
                    start: piece_start,
                    end: offset,
                    pairs: vec![(k, v)],
                });
            }
            _ if line
                .trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}')
                .is_empty() =>
            {
                if let Some(b) = current.take() {
                    flush(b, &mut emit, &mut data_index);
                }
                emit(RecordEvent::Skip {
                    line: line_no,
                    raw: line,
                    reason: "blank line".into(),
                });
            }
            Some((k, v)) if current.is_some() => {
                if let Some(b) = current.as_mut() {
                    b.pairs.push((k, v));
                    b.end = offset;
                }
            }
            _ => {
                if let Some(b) = current.as_mut() {
                    // A continuation line inside a block stays part of that block's raw text.
                    b.end = offset;
                } else {
                    emit(RecordEvent::Skip {
                        line: line_no,
                        raw: line,
                        reason: "statement heading outside a transaction block".into(),
                    });
                }
            }
        }
    }
    if let Some(b) = current.take() {
        flush(b, &mut emit, &mut data_index);
    }
    if !any_block {
        return Err(SourceProblem {
            line: 1,
            message: format!(
                "no transaction block found; expected lines starting \"{}{}\"",
                layout.block_start.clone().unwrap_or_default(),
                sep
            ),
        });
    }
    Ok(())
}
