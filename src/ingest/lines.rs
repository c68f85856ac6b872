//! Physical lines of a text file, ended by LF, CRLF or a lone CR (classic Mac).
//!
//! The MT940 and `Key: value` block readers number records by these lines, so a file saved
//! with any of the three endings gives the same lines, the same line numbers and the same
//! text. (The CSV reader does the same inside its own record splitter, where a CR inside a
//! quoted field stays content; these formats have no quoting.)

/// One physical line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// 1-based line number.
    pub no: u32,
    /// Byte offset of the line's first character.
    pub start: usize,
    /// Byte offset just past the line's text (before its terminator).
    pub end: usize,
    /// Byte offset just past the line's terminator (`end` on a last line without one).
    pub next: usize,
    /// The line's text, without its terminator.
    pub text: &'a str,
}

/// Iterator over the lines of a text; see [`lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    text: &'a str,
    offset: usize,
    no: u32,
}

/// The lines of `text`. A terminator at the very end does not open an empty last line, so
/// `"a\n"`, `"a\r\n"`, `"a\r"` and `"a"` are each one line; an empty text has no lines.
pub fn lines(text: &str) -> Lines<'_> {
    Lines {
        text,
        offset: 0,
        no: 0,
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        let bytes = self.text.as_bytes();
        let start = self.offset;
        if start >= bytes.len() {
            return None;
        }
        let (end, next) = match bytes[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            None => (bytes.len(), bytes.len()),
            Some(i) => {
                let end = start + i;
                if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') {
                    (end, end + 2)
                } else {
                    (end, end + 1)
                }
            }
        };
        self.offset = next;
        self.no = self.no.saturating_add(1);
        Some(Line {
            no: self.no,
            start,
            end,
            next,
            // CR and LF are ASCII, so `start` and `end` are character boundaries.
            text: self.text.get(start..end).unwrap_or(""),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &str) -> Vec<(u32, &str)> {
        lines(t).map(|l| (l.no, l.text)).collect()
    }

    #[test]
    fn lf_crlf_and_lone_cr_give_the_same_lines() {
        let want = vec![(1, "a"), (2, ""), (3, "b é"), (4, "c")];
        assert_eq!(texts("a\n\nb é\nc\n"), want);
        assert_eq!(texts("a\r\n\r\nb é\r\nc\r\n"), want);
        assert_eq!(texts("a\r\rb é\rc\r"), want);
        assert_eq!(texts("a\r\rb é\rc"), want);
        // Mixed endings: each terminator ends exactly one line.
        assert_eq!(texts("a\r\n\rb é\nc"), want);
    }

    #[test]
    fn offsets_cover_the_text() {
        let t = "ab\r\ncd\ref\n";
        let ls: Vec<Line<'_>> = lines(t).collect();
        assert_eq!(ls.len(), 3);
        assert_eq!((ls[0].start, ls[0].end, ls[0].next), (0, 2, 4));
        assert_eq!((ls[1].start, ls[1].end, ls[1].next), (4, 6, 7));
        assert_eq!((ls[2].start, ls[2].end, ls[2].next), (7, 9, 10));
        assert!(lines("").next().is_none());
        assert_eq!(texts("\n"), vec![(1, "")]);
    }
}
