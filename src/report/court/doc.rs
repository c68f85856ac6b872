//! The court report as a document: sections of paragraphs, tables and figures, with no
//! notion of HTML or PDF. [`super::build`](mod@super::build) decides the content; [`super::html`] and
//! [`super::pdf`] only lay it out, so the two formats always say the same thing.

use serde::Serialize;

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// `Financial investigation report`.
    pub title: String,
    /// The case title (`R v ...`) or reference.
    pub subtitle: String,
    pub case_reference: String,
    /// Printed at the foot of every PDF page.
    pub footer: String,
    /// Key facts of the case, as label/value pairs, at the head of the report.
    pub header: Vec<Pair>,
    pub sections: Vec<Section>,
}

/// A label and its value.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub label: String,
    pub value: String,
}

impl Pair {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Pair {
            label: label.into(),
            value: value.into(),
        }
    }
}

/// A numbered section of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Anchor id (`benefit`, `sources`, ...).
    pub id: String,
    pub title: String,
    pub blocks: Vec<Block>,
}

/// A piece of a section.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Heading {
        text: String,
    },
    Paragraph {
        text: String,
    },
    /// A bulleted list.
    List {
        items: Vec<String>,
    },
    /// A boxed caution (what an indicator is and is not evidence of, what was not done).
    Caution {
        text: String,
    },
    Pairs {
        pairs: Vec<Pair>,
    },
    Table(Table),
    Figure(Figure),
}

/// Horizontal alignment of a column: money and counts right, text left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Align {
    Left,
    Right,
}

/// A table column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub title: String,
    pub align: Align,
    /// Relative width in the PDF (fractions of the text width).
    pub weight: u32,
}

/// A table: header, lines, an optional total line and notes under it.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Stable id (`benefit`, `available`, ...), used by tests and as an HTML attribute.
    pub id: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
    pub total: Option<Vec<String>>,
    /// Set the table on landscape pages in the PDF.
    pub wide: bool,
    pub notes: Vec<String>,
}

impl Table {
    /// A table from `(title, align, weight)` column specs.
    pub fn new(id: &str, columns: &[(&str, Align, u32)], wide: bool) -> Self {
        Table {
            id: id.to_string(),
            columns: columns
                .iter()
                .map(|(t, a, w)| Column {
                    title: (*t).to_string(),
                    align: *a,
                    weight: *w,
                })
                .collect(),
            rows: Vec::new(),
            total: None,
            wide,
            notes: Vec::new(),
        }
    }
}

/// A chart: SVG text, a title and a caption saying what it shows and from what.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// Stable id; in the PDF the SVG is the image file `charts/{id}.svg`.
    pub id: String,
    pub title: String,
    pub caption: String,
    /// Width of the SVG in px, for the PDF's scaling.
    pub width: u32,
    #[serde(skip)]
    pub svg: String,
}
