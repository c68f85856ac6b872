//! Cell sanitising: a schedule opened in a spreadsheet must never execute anything.
//!
//! A text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is a
//! formula to Excel, LibreOffice and Google Sheets. Such text is prefixed with a single
//! quote, which spreadsheets show as text and do not evaluate. Numbers and dates are
//! written as numbers and never pass through here.

/// Characters that make a spreadsheet treat a cell as a formula.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Make a text cell inert in a spreadsheet.
pub fn sanitize_text(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some(c) if FORMULA_TRIGGERS.contains(&c) => format!("'{text}").into(),
        _ => text.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::sanitize_text;

    #[test]
    fn formulas_become_text() {
        assert_eq!(
            sanitize_text("=HYPERLINK(\"http://x\",\"y\")"),
            "'=HYPERLINK(\"http://x\",\"y\")"
        );
        assert_eq!(sanitize_text("+44 20 7946 0000"), "'+44 20 7946 0000");
        assert_eq!(sanitize_text("-cmd"), "'-cmd");
        assert_eq!(sanitize_text("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(sanitize_text("\tx"), "'\tx");
        assert_eq!(sanitize_text("TESCO STORES"), "TESCO STORES");
        assert_eq!(sanitize_text(""), "");
    }
}
