//! The court report as PDF, typeset by the `typst` library from the layout in
//! `report.typ`, the document as JSON and the charts as SVG files, all held in memory.
//! Nothing is read from disk or the network: the only files the typesetter can see are
//! those three, and the fonts are the ones embedded in `typst-assets` (Libertinus Serif,
//! New Computer Modern, DejaVu Sans Mono), so every machine produces the same bytes.
//!
//! The PDF's creation date is the run timestamp and its document id is derived from the
//! case reference, so reruns with the same `--run-timestamp` are byte-identical.

use std::collections::HashMap;
use std::sync::OnceLock;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

use super::doc::{Block, Document};
use crate::report::ReportError;

/// The layout, compiled into the binary.
const TEMPLATE: &str = include_str!("report.typ");

struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

/// The embedded fonts, parsed once per process.
fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        let fonts: Vec<Font> = typst_assets::fonts()
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        Fonts {
            book: LazyHash::new(FontBook::from_fonts(&fonts)),
            fonts,
        }
    })
}

/// An in-memory world: the template, the JSON and the charts, nothing else.
struct ReportWorld {
    library: LazyHash<Library>,
    main: FileId,
    files: HashMap<FileId, Bytes>,
    today: Option<Datetime>,
}

fn file_id(path: &str) -> Result<FileId, ReportError> {
    let vpath = VirtualPath::new(path).map_err(|e| encode_error(format!("path {path}: {e}")))?;
    Ok(FileId::new(RootedPath::new(VirtualRoot::Project, vpath)))
}

fn encode_error(message: String) -> ReportError {
    ReportError::Encode {
        path: "report.pdf".into(),
        message,
    }
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &fonts().book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        let bytes = self.file(id)?;
        let text = std::str::from_utf8(bytes.as_slice()).map_err(|_| FileError::InvalidUtf8)?;
        Ok(Source::new(id, text.to_string()))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.files.get(&id).cloned().ok_or_else(|| {
            FileError::NotFound(std::path::PathBuf::from(id.vpath().get_with_slash()))
        })
    }

    fn font(&self, index: usize) -> Option<Font> {
        fonts().fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        self.today
    }
}

/// The run timestamp (`2026-01-31T09:00:00Z`) as a typst date-time, if it parses.
fn run_datetime(run_timestamp: &str) -> Option<Datetime> {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::parse_from_rfc3339(run_timestamp).ok()?;
    let t = t.with_timezone(&chrono::Utc);
    Datetime::from_ymd_hms(
        t.year(),
        u8::try_from(t.month()).ok()?,
        u8::try_from(t.day()).ok()?,
        u8::try_from(t.hour()).ok()?,
        u8::try_from(t.minute()).ok()?,
        u8::try_from(t.second()).ok()?,
    )
}

/// Typeset the document as PDF.
pub fn render(doc: &Document, run_timestamp: &str) -> Result<Vec<u8>, ReportError> {
    let mut files = HashMap::new();
    let main = file_id("/report.typ")?;
    files.insert(main, Bytes::new(TEMPLATE.as_bytes().to_vec()));
    let json = serde_json::to_vec(doc).map_err(|e| encode_error(format!("report data: {e}")))?;
    files.insert(file_id("/report.json")?, Bytes::new(json));
    for s in &doc.sections {
        for b in &s.blocks {
            if let Block::Figure(f) = b {
                files.insert(
                    file_id(&format!("/charts/{}.svg", f.id))?,
                    Bytes::new(f.svg.clone().into_bytes()),
                );
            }
        }
    }
    let today = run_datetime(run_timestamp);
    let world = ReportWorld {
        library: LazyHash::new(Library::default()),
        main,
        files,
        today,
    };
    let compiled = typst::compile::<typst_layout::PagedDocument>(&world);
    let document = compiled
        .output
        .map_err(|errors| diagnostics("typesetting failed", &errors))?;
    let options = typst_pdf::PdfOptions {
        ident: Smart::Custom(format!("proceeds court report {}", doc.case_reference)),
        creator: Smart::Custom(Some(format!("proceeds {}", env!("CARGO_PKG_VERSION")))),
        timestamp: today.map(typst_pdf::Timestamp::new_utc),
        ..Default::default()
    };
    typst_pdf::pdf(&document, &options).map_err(|errors| diagnostics("PDF export failed", &errors))
}

/// The typesetter's errors as one message.
fn diagnostics(what: &str, errors: &[typst::diag::SourceDiagnostic]) -> ReportError {
    encode_error(format!(
        "{what}: {}",
        errors
            .iter()
            .map(|e| e.message.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_timestamps_become_pdf_dates() {
        assert_eq!(
            run_datetime("2026-01-31T09:30:05Z"),
            Datetime::from_ymd_hms(2026, 1, 31, 9, 30, 5)
        );
        assert_eq!(run_datetime("yesterday"), None);
    }
}
