//! Format detection: which shipped or case layout a file is, judged from its content.
//!
//! Structured formats are recognised by their own markers (SWIFT tags, the ISO 20022
//! document element, the OFX header). Text and spreadsheet exports are tried against every
//! delimited layout's header (the layout whose header names the most columns wins), then
//! headerless layouts by the shape of their first rows, then block layouts by their opening
//! key. The result says what was found and why, or lists the candidates when it cannot
//! choose; a guess is never made silently.

use calamine::Reader;

use super::decode::decode;
use super::fields::parse_date;
use super::layout::{ColumnRef, Encoding, Field, Layout, LayoutKind};
use super::records::header_indices;
use super::spreadsheet::sniff;
use super::Registry;
use crate::money::parse_amount;

/// What the file looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The layout chosen, if one fits unambiguously.
    pub layout: Option<String>,
    /// Why it was chosen, or why none was.
    pub reasons: Vec<String>,
    /// Every layout that fits, with what fitted.
    pub candidates: Vec<(String, String)>,
}

/// Detect the layout of a file's bytes.
pub fn detect(bytes: &[u8], registry: &Registry) -> Detection {
    let mut reasons = Vec::new();
    if let Some(kind) = sniff(bytes) {
        reasons.push(format!(
            "content is a {kind} spreadsheet (container signature)"
        ));
        return choose(spreadsheet_candidates(bytes, registry), reasons);
    }
    let text = match decode(bytes, Encoding::Auto) {
        Ok(d) => {
            reasons.push(format!("text, decoded as {}", d.encoding));
            d.text
        }
        Err(e) => {
            reasons.push(format!("not a statement: {e}"));
            return Detection {
                layout: None,
                reasons,
                candidates: Vec::new(),
            };
        }
    };
    let head: String = text.chars().take(64 * 1024).collect();
    let structured = structured_marker(&head);
    if let Some((kind, why)) = structured {
        let candidates: Vec<(String, String)> = registry
            .iter()
            .filter(|l| l.kind == kind)
            .map(|l| (l.id.clone(), why.clone()))
            .collect();
        return choose(candidates, reasons);
    }
    let mut candidates = Vec::new();
    for layout in registry.iter() {
        match layout.kind {
            LayoutKind::Delimited | LayoutKind::Msb if layout.has_header => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .delimiter(layout.delimiter)
                    .from_reader(head.as_bytes());
                for (i, rec) in reader
                    .records()
                    .take(layout.header_search_lines)
                    .enumerate()
                {
                    let Ok(rec) = rec else { break };
                    let fields: Vec<&str> = rec.iter().collect();
                    if header_indices(layout, &fields).is_some() {
                        candidates.push((
                            layout.id.clone(),
                            format!(
                                "record {} names all {} columns the layout maps",
                                i + 1,
                                layout.columns.len()
                            ),
                        ));
                        break;
                    }
                }
            }
            LayoutKind::Delimited => {
                if let Some(why) = headerless_fit(layout, &head) {
                    candidates.push((layout.id.clone(), why));
                }
            }
            LayoutKind::Blocks => {
                let key = layout.block_start.clone().unwrap_or_default();
                let opening = format!("{key}{}", layout.key_separator);
                let n = super::lines::lines(&head)
                    .filter(|l| l.text.trim_start().starts_with(&opening))
                    .count();
                if n > 0 {
                    candidates.push((
                        layout.id.clone(),
                        format!("{n} lines open a \"{opening}\" block"),
                    ));
                }
            }
            _ => {}
        }
    }
    choose_by_specificity(candidates, registry, reasons)
}

fn structured_marker(head: &str) -> Option<(LayoutKind, String)> {
    if head.contains("BkToCstmrStmt") || head.contains("BkToCstmrAcctRpt") {
        return Some((
            LayoutKind::Camt,
            "ISO 20022 BkToCstmrStmt/BkToCstmrAcctRpt element".into(),
        ));
    }
    let upper = head.to_ascii_uppercase();
    if upper.trim_start().starts_with("OFXHEADER") || upper.contains("<OFX>") {
        return Some((LayoutKind::Ofx, "OFX header or <OFX> element".into()));
    }
    let has_tag = |t: &str| super::lines::lines(head).any(|l| l.text.trim_start().starts_with(t));
    if has_tag(":20:") && (has_tag(":61:") || has_tag(":60F:") || has_tag(":25:")) {
        return Some((
            LayoutKind::Mt940,
            "SWIFT tags :20: and :25:/:60F:/:61: at line starts".into(),
        ));
    }
    None
}

/// A headerless layout fits when the first non-blank rows have its width, a date in its
/// date column and an amount in its amount column.
fn headerless_fit(layout: &Layout, head: &str) -> Option<String> {
    let pos = |f: Field| match layout.column(f) {
        Some(ColumnRef::Position(p)) => Some(p - 1),
        _ => None,
    };
    let date = pos(Field::Date)?;
    let amount = pos(Field::Amount)?;
    let width = layout
        .columns
        .iter()
        .filter_map(|(_, c)| match c {
            ColumnRef::Position(p) => Some(*p),
            ColumnRef::Name(_) => None,
        })
        .max()?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(layout.delimiter)
        .from_reader(head.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().take(5).filter_map(Result::ok).collect();
    if rows.is_empty() {
        return None;
    }
    let fits = rows.iter().all(|r| {
        r.len() == width
            && r.get(date)
                .is_some_and(|d| parse_date(d, &layout.date_format).is_ok())
            && r.get(amount)
                .is_some_and(|a| parse_amount(a, &layout.amount_style).is_ok())
    });
    fits.then(|| {
        format!(
            "no header; the first {} rows have {width} fields, a date in column {} and an amount in column {}",
            rows.len(),
            date + 1,
            amount + 1
        )
    })
}

fn spreadsheet_candidates(bytes: &[u8], registry: &Registry) -> Vec<(String, String)> {
    // calamine loops on some damaged .xls and .ods files, panics on others, and reads a
    // crafted .ods's repeated cells without bound; a damaged or crafted file fits no layout.
    if super::spreadsheet::check_compound_file(bytes).is_err()
        || super::spreadsheet::check_ods(bytes).is_err()
    {
        return Vec::new();
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        spreadsheet_candidates_unguarded(bytes, registry)
    }))
    .unwrap_or_default()
}

fn spreadsheet_candidates_unguarded(bytes: &[u8], registry: &Registry) -> Vec<(String, String)> {
    let Ok(mut book) = super::spreadsheet::open_book(bytes) else {
        return Vec::new();
    };
    let names = book.sheet_names();
    let mut candidates = Vec::new();
    for layout in registry
        .iter()
        .filter(|l| matches!(l.kind, LayoutKind::Delimited | LayoutKind::Msb) && l.has_header)
    {
        let sheets: Vec<&String> = match &layout.sheet {
            Some(s) => names.iter().filter(|n| n.eq_ignore_ascii_case(s)).collect(),
            None => names.first().into_iter().collect(),
        };
        for sheet in sheets {
            if super::spreadsheet::check_sheet_size(&mut book, sheet).is_err() {
                continue;
            }
            let Ok(range) = book.worksheet_range(sheet) else {
                continue;
            };
            for (i, row) in range.rows().take(layout.header_search_lines).enumerate() {
                let cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
                let fields: Vec<&str> = cells.iter().map(String::as_str).collect();
                if header_indices(layout, &fields).is_some() {
                    candidates.push((
                        layout.id.clone(),
                        format!(
                            "sheet {sheet:?} row {} names all {} columns the layout maps",
                            i + 1,
                            layout.columns.len()
                        ),
                    ));
                    break;
                }
            }
        }
    }
    candidates
}

fn choose_by_specificity(
    candidates: Vec<(String, String)>,
    registry: &Registry,
    reasons: Vec<String>,
) -> Detection {
    // Among header matches, the layout naming the most columns is the most specific.
    let width = |id: &str| registry.get(id).map_or(0, |l| l.columns.len());
    let best = candidates
        .iter()
        .map(|(id, _)| width(id))
        .max()
        .unwrap_or(0);
    let top: Vec<&(String, String)> = candidates
        .iter()
        .filter(|(id, _)| width(id) == best)
        .collect();
    if top.len() == 1 && candidates.len() > 1 {
        let mut d = choose(vec![top[0].clone()], reasons);
        d.reasons.push(format!(
            "{} names more columns than the other candidates ({})",
            top[0].0,
            candidates
                .iter()
                .filter(|(id, _)| *id != top[0].0)
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        d.candidates = candidates;
        return d;
    }
    choose(candidates, reasons)
}

fn choose(candidates: Vec<(String, String)>, mut reasons: Vec<String>) -> Detection {
    let layout = match candidates.as_slice() {
        [(id, why)] => {
            reasons.push(format!("{id}: {why}"));
            Some(id.clone())
        }
        [] => {
            reasons.push("no shipped or case layout fits; write a layout file for this export (docs/layouts.md)".into());
            None
        }
        many => {
            reasons.push(format!(
                "several layouts fit ({}); name one with --layout",
                many.iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            None
        }
    };
    Detection {
        layout,
        reasons,
        candidates,
    }
}
