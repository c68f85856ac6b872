//! The court report as one self-contained HTML file: inline CSS, inline SVG charts, no
//! script and nothing fetched. A Content-Security-Policy forbids every external load, so
//! even a hostile name in the material cannot make the page reach out; all text from the
//! material is escaped. Printing from a browser gives page numbers (`@page` margin boxes).

use std::fmt::Write as _;

use super::charts::escape;
use super::doc::{Align, Block, Document, Pair, Table};

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: Georgia, 'Times New Roman', serif; font-size: 11pt; line-height: 1.4; color: #111; max-width: 1100px; margin: 2em auto; padding: 0 1em; }
h1 { font-size: 20pt; margin-bottom: 0.1em; }
h2 { font-size: 15pt; border-bottom: 1px solid #888; margin-top: 2em; }
h3 { font-size: 12pt; margin-top: 1.4em; }
.subtitle { font-size: 13pt; margin-top: 0; color: #333; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 9pt; width: 100%; }
th, td { border: 1px solid #bbb; padding: 3px 5px; vertical-align: top; }
th { background: #eee; text-align: left; }
td.r, th.r { text-align: right; white-space: nowrap; }
tr.total td { font-weight: bold; background: #f4f4f4; border-top: 2px solid #555; }
table.pairs { width: auto; }
table.pairs th { width: 14em; }
.caution { border: 1px solid #c60; background: #fff6ea; padding: 0.5em 0.8em; margin: 0.8em 0; }
.note { font-size: 9pt; color: #333; }
figure { margin: 1em 0; page-break-inside: avoid; }
figure svg { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 9pt; color: #333; }
nav ol { columns: 2; font-size: 10pt; }
footer { margin-top: 3em; font-size: 9pt; color: #444; border-top: 1px solid #888; }
@page { size: A4; margin: 18mm 14mm 20mm 14mm; @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 9pt; } }
@media print { body { max-width: none; margin: 0; } h2 { page-break-before: always; } nav { page-break-after: always; } }
"#;

/// Render the document as HTML.
pub fn render(doc: &Document) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n<meta name=\"generator\" content=\"proceeds {}\">\n<title>{}: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        escape(&doc.case_reference),
        escape(&doc.title)
    );
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n",
        escape(&doc.title),
        escape(&doc.subtitle)
    );
    pairs(&mut out, "header", &doc.header);
    out.push_str("</header>\n<nav>\n<h2>Contents</h2>\n<ol>\n");
    for s in &doc.sections {
        let _ = writeln!(
            out,
            "<li><a href=\"#{}\">{}</a></li>",
            escape(&s.id),
            escape(&s.title)
        );
    }
    out.push_str("</ol>\n</nav>\n");
    for (n, s) in doc.sections.iter().enumerate() {
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2>{}. {}</h2>",
            escape(&s.id),
            n + 1,
            escape(&s.title)
        );
        for b in &s.blocks {
            block(&mut out, b);
        }
        out.push_str("</section>\n");
    }
    let _ = write!(
        out,
        "<footer>{}</footer>\n</body>\n</html>\n",
        escape(&doc.footer)
    );
    out
}

fn block(out: &mut String, b: &Block) {
    match b {
        Block::Heading { text } => {
            let _ = writeln!(out, "<h3>{}</h3>", escape(text));
        }
        Block::Paragraph { text } => {
            let _ = writeln!(out, "<p>{}</p>", escape(text));
        }
        Block::List { items } => {
            out.push_str("<ul>\n");
            for i in items {
                let _ = writeln!(out, "<li>{}</li>", escape(i));
            }
            out.push_str("</ul>\n");
        }
        Block::Caution { text } => {
            let _ = writeln!(out, "<div class=\"caution\">{}</div>", escape(text));
        }
        Block::Pairs { pairs: list } => pairs(out, "pairs", list),
        Block::Table(t) => table(out, t),
        Block::Figure(f) => {
            let _ = writeln!(
                out,
                "<figure id=\"figure-{}\" data-figure=\"{}\">\n{}\n<figcaption>{}</figcaption>\n</figure>",
                escape(&f.id),
                escape(&f.id),
                f.svg,
                escape(&f.caption)
            );
        }
    }
}

fn pairs(out: &mut String, id: &str, list: &[Pair]) {
    let _ = writeln!(out, "<table class=\"pairs\" data-table=\"{}\">", escape(id));
    for p in list {
        let _ = writeln!(
            out,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(&p.label),
            escape(&p.value)
        );
    }
    out.push_str("</table>\n");
}

fn class(a: Align) -> &'static str {
    match a {
        Align::Left => "",
        Align::Right => " class=\"r\"",
    }
}

fn table(out: &mut String, t: &Table) {
    let _ = writeln!(out, "<table data-table=\"{}\">", escape(&t.id));
    out.push_str("<thead><tr>");
    for c in &t.columns {
        let _ = write!(out, "<th{}>{}</th>", class(c.align), escape(&c.title));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for r in &t.rows {
        out.push_str("<tr>");
        for (i, cell) in r.iter().enumerate() {
            let align = t.columns.get(i).map_or(Align::Left, |c| c.align);
            let _ = write!(out, "<td{}>{}</td>", class(align), escape(cell));
        }
        out.push_str("</tr>\n");
    }
    if let Some(total) = &t.total {
        out.push_str("<tr class=\"total\">");
        for (i, cell) in total.iter().enumerate() {
            let align = t.columns.get(i).map_or(Align::Left, |c| c.align);
            let _ = write!(out, "<td{}>{}</td>", class(align), escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
    for n in &t.notes {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(n));
    }
}
