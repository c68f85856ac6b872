//! OFX / QFX statement parser: OFX 1.x (SGML, header `OFXHEADER:100`, leaf tags usually left
//! unclosed as in `<TRNAMT>-12.50`) and OFX 2.x (XML, `<?OFX …?>` header).
//!
//! **In:** the decoded text of one file. A small tolerant tokenizer turns both dialects into
//! one stream of open tags, close tags and text: header lines, `<?…?>` processing
//! instructions, comments and `<!…>` declarations are skipped (nothing is fetched or
//! expanded); tag names are upper-cased; attribute text is ignored; a `<` that does not start a
//! tag is kept as text. In values `&amp; &lt; &gt; &quot; &apos; &nbsp;` and numeric character
//! references are decoded, other `&…;` text is left as written. The stream becomes a tree:
//! known aggregates (`OFX`, `STMTRS`, `STMTTRN`, `BANKACCTFROM`, `CURRENCY`, `PAYEE` …) are
//! containers; any other tag is a leaf holding the text after it (its close tag, if any, is
//! consumed); a close tag closes the nearest open aggregate of that name (and any left open
//! inside it); a close tag matching nothing open is ignored; unknown elements are ignored. No
//! OFX aggregate contains itself, so an aggregate opened while one of the same name is still
//! open (a `<STMTTRN>` whose `</STMTTRN>` is missing) ends the open one: both are read.
//!
//! **Out:** one [`ParsedStatement`] per bank `STMTRS` (under `BANKMSGSRSV1/STMTTRNRS`) and per
//! credit-card `CCSTMTRS` (under `CREDITCARDMSGSRSV1/CCSTMTTRNRS`), in file order, however many
//! accounts the file holds: `CURDEF` → `currency`; `BANKACCTFROM`/`CCACCTFROM` `ACCTID` →
//! `account_raw` (and `iban` when it is an IBAN passing mod-97); `BANKTRANLIST`
//! `DTSTART`/`DTEND` → `period`; `statement_id` = `"<ACCTID> <DTSTART>..<DTEND>"` (dates as
//! `YYYY-MM-DD`; just the `ACCTID` without a period); `LEDGERBAL` `BALAMT`/`DTASOF` →
//! `closing` in `CURDEF`. OFX states no opening balance, so `opening` is always `None`.
//!
//! **What is a record.** Each `STMTTRN` is one record: an [`Outcome::Entry`], or
//! [`Outcome::Rejected`] when `TRNAMT` or `DTPOSTED` is missing or unreadable, when `DTUSER` /
//! `DTAVAIL` is unreadable, or when no currency can be given to it. Nothing is `Skipped`. The
//! statement header is not a record unless it is wrong: a bad `CURDEF`, a bad `DTSTART`/`DTEND`
//! or a bad `LEDGERBAL` is `Rejected` (that value is left `None`, entries still read; entries
//! then need their own `CURRENCY/CURSYM`); a statement with no `ACCTID` is `Rejected` and so are
//! its `STMTTRN`s, naming the statement's line, since they cannot be attributed to an account.
//!
//! **`STMTTRN` reading:** `TRNAMT` is a signed decimal with one `.` or one `,` as decimal
//! separator (no thousands separators) and is kept signed as the bank gave it; `DTPOSTED` →
//! `booking_date`; `value_date` = `DTAVAIL` (availability, OFX's nearest to a value date) else
//! `DTUSER` (the date the customer initiated it); dates are
//! `YYYYMMDD[HHMMSS[.XXX]][[+-]hh[.mm]:TZ]` and only the date part is kept, as written (no
//! time-zone shift). `TRNTYPE` → `type_code`; `NAME` (or `PAYEE/NAME`) → `counterparty_name`;
//! `BANKACCTTO`/`CCACCTTO` `ACCTID` → `counterparty_account`; `FITID` → `reference` (`CHECKNUM`
//! when there is no `FITID`); `description` = `NAME` and `MEMO` joined with `" / "` when both are
//! there, else whichever is; currency = `CURRENCY/CURSYM` if present, else `CURDEF`.
//!
//! **Format errors:** text without an `<OFX>` element, a file with no `STMTRS`/`CCSTMTRS`, and a
//! truncated file (it ends inside an open aggregate such as `<STMTTRN>`, or inside a tag) are a
//! [`FormatError`] with the line where reading stopped; a truncated file is never half-read.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::statement::{
    BalanceMark, FormatError, Outcome, ParsedEntry, ParsedFile, ParsedStatement, RecordProblem,
};

/// Elements that contain other elements rather than a value.
const AGGREGATES: [&str; 30] = [
    "OFX",
    "SIGNONMSGSRSV1",
    "SONRS",
    "STATUS",
    "FI",
    "BANKMSGSRSV1",
    "STMTTRNRS",
    "STMTRS",
    "BANKACCTFROM",
    "BANKACCTTO",
    "BANKTRANLIST",
    "STMTTRN",
    "PAYEE",
    "CURRENCY",
    "ORIGCURRENCY",
    "LEDGERBAL",
    "AVAILBAL",
    "BALLIST",
    "BAL",
    "MKTGINFO",
    "CREDITCARDMSGSRSV1",
    "CCSTMTTRNRS",
    "CCSTMTRS",
    "CCACCTFROM",
    "CCACCTTO",
    "IMAGEDATA",
    "INV401KSOURCE",
    "REWARDINFO",
    "SIGNUPMSGSRSV1",
    "STMTENDRS",
];

/// Parses the decoded text of an OFX/QFX file into statements and records.
pub fn parse(text: &str) -> Result<ParsedFile, FormatError> {
    let tokens = tokenize(text)?;
    let tree = Tree::build(text, &tokens)?;
    let ofx = tree.named(0, "OFX").next().ok_or_else(|| FormatError {
        line: 1,
        message: "no <OFX> element: this is not an OFX/QFX file".to_string(),
    })?;
    let mut statements = Vec::new();
    tree.collect(ofx, &["STMTRS", "CCSTMTRS"], &mut statements);
    if statements.is_empty() {
        return Err(FormatError {
            line: tree.line(ofx),
            message: "the OFX file holds no bank (STMTRS) or credit-card (CCSTMTRS) statement"
                .to_string(),
        });
    }
    let mut file = ParsedFile::default();
    for s in statements {
        read_statement(&tree, s, &mut file);
    }
    Ok(file)
}

/// One token of the tag/value stream: byte range and kind.
#[derive(Debug)]
enum Tok {
    Open {
        name: String,
        start: usize,
        end: usize,
    },
    Close {
        name: String,
        start: usize,
        end: usize,
    },
    Text {
        value: String,
        end: usize,
    },
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn line_at(src: &str, pos: usize) -> u32 {
    let upto = src.get(..pos).unwrap_or(src);
    to_u32(upto.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// Decodes the predefined entities and numeric character references; leaves others as written.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or(""));
        let after = rest.get(amp..).unwrap_or("");
        let semi = after.find(';').filter(|&i| i <= 10);
        let entity = semi.and_then(|i| after.get(1..i));
        let decoded = entity.and_then(|e| match e {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            _ => {
                let num = e.strip_prefix('#')?;
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => num.parse().ok()?,
                };
                char::from_u32(code).filter(|c| *c != '\0')
            }
        });
        match (decoded, semi) {
            (Some(c), Some(i)) => {
                out.push(c);
                rest = after.get(i + 1..).unwrap_or("");
            }
            _ => {
                out.push('&');
                rest = after.get(1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' || c == ':'
}

fn tokenize(src: &str) -> Result<Vec<Tok>, FormatError> {
    let mut toks = Vec::new();
    let mut i = 0usize;
    let mut text_start = 0usize;
    // The first `>` at or after the last place searched (`None` inside: there is none).
    // Reused while it lies ahead, so a file of many `<` that start no tag is read in linear
    // time rather than searching to the next `>` again for every `<`.
    let mut next_gt: Option<Option<usize>> = None;
    let flush = |toks: &mut Vec<Tok>, from: usize, to: usize| {
        let raw = src.get(from..to).unwrap_or("");
        let trimmed = raw.trim();
        if !trimmed.is_empty() {
            let end = from + raw.trim_end().len();
            toks.push(Tok::Text {
                value: decode_entities(trimmed),
                end,
            });
        }
    };
    while let Some(off) = src.get(i..).and_then(|r| r.find('<')) {
        let lt = i + off;
        let rest = src.get(lt..).unwrap_or("");
        let skip_to = |marker: &str, from: usize| {
            rest.get(from..)
                .and_then(|r| r.find(marker))
                .map(|p| lt + from + p + marker.len())
        };
        if rest.starts_with("<![CDATA[") {
            flush(&mut toks, text_start, lt);
            let close = skip_to("]]>", 9).unwrap_or(src.len());
            let inner_end = close.saturating_sub(3).max(lt + 9);
            let inner = src.get(lt + 9..inner_end).unwrap_or("");
            let trimmed = inner.trim();
            if !trimmed.is_empty() {
                toks.push(Tok::Text {
                    value: trimmed.to_string(),
                    end: close,
                });
            }
            i = close;
            text_start = close;
            continue;
        }
        let skipped = if rest.starts_with("<!--") {
            Some(skip_to("-->", 4).unwrap_or(src.len()))
        } else if rest.starts_with("<?") {
            Some(skip_to("?>", 2).unwrap_or(src.len()))
        } else if rest.starts_with("<!") {
            Some(skip_to(">", 2).unwrap_or(src.len()))
        } else {
            None
        };
        if let Some(next) = skipped {
            flush(&mut toks, text_start, lt);
            i = next;
            text_start = next;
            continue;
        }
        let gt = match next_gt {
            Some(Some(g)) if g > lt => Some(g),
            Some(None) => None,
            _ => {
                let found = rest.find('>').map(|e| lt + e);
                next_gt = Some(found);
                found
            }
        };
        let body_end = gt.map(|g| g - lt);
        let body = body_end.and_then(|e| rest.get(1..e));
        // The next `<` after this one: the body holds a `<` exactly when it comes before `>`.
        let next_lt = src
            .get(lt + 1..)
            .and_then(|r| r.find('<'))
            .map(|p| lt + 1 + p);
        let closing = rest.starts_with("</");
        let name_part = body.map(|b| b.strip_prefix('/').unwrap_or(b));
        let name: String = name_part
            .map(|b| b.chars().take_while(|c| is_name_char(*c)).collect())
            .unwrap_or_default();
        let starts_like_tag = rest
            .get(1..)
            .and_then(|r| r.strip_prefix('/').or(Some(r)))
            .and_then(|r| r.chars().next())
            .is_some_and(|c| c.is_ascii_alphabetic());
        let valid = !name.is_empty()
            && gt.is_some_and(|g| next_lt.is_none_or(|n| n > g))
            && name_part.is_some_and(|b| {
                b.get(name.len()..)
                    .and_then(|r| r.chars().next())
                    .is_none_or(|c| c.is_whitespace() || c == '/')
            });
        match (body_end, valid) {
            (Some(e), true) => {
                flush(&mut toks, text_start, lt);
                let end = lt + e + 1;
                let upper = name.to_ascii_uppercase();
                if closing {
                    toks.push(Tok::Close {
                        name: upper,
                        start: lt,
                        end,
                    });
                } else {
                    let self_closing = body.is_some_and(|b| b.ends_with('/'));
                    toks.push(Tok::Open {
                        name: upper.clone(),
                        start: lt,
                        end,
                    });
                    if self_closing {
                        toks.push(Tok::Close {
                            name: upper,
                            start: end,
                            end,
                        });
                    }
                }
                i = end;
                text_start = end;
            }
            (None, _) if starts_like_tag => {
                return Err(FormatError {
                    line: line_at(src, lt),
                    message: format!(
                        "the file ends inside the tag \"{}\": the file is truncated",
                        rest.trim_end()
                    ),
                });
            }
            _ => {
                // A `<` that starts no tag is text.
                i = lt + 1;
            }
        }
    }
    flush(&mut toks, text_start, src.len());
    Ok(toks)
}

/// One element: a container (`value` = `None`) or a leaf with its text.
struct Node {
    name: String,
    value: Option<String>,
    children: Vec<usize>,
    start: usize,
    end: usize,
}

/// The element tree; node 0 is the (synthetic) document.
struct Tree<'a> {
    src: &'a str,
    nodes: Vec<Node>,
    newlines: Vec<usize>,
}

impl<'a> Tree<'a> {
    fn build(src: &'a str, toks: &[Tok]) -> Result<Self, FormatError> {
        let mut tree = Tree {
            src,
            nodes: vec![Node {
                name: String::new(),
                value: None,
                children: Vec::new(),
                start: 0,
                end: src.len(),
            }],
            newlines: src
                .bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        };
        let mut stack: Vec<usize> = vec![0];
        let mut i = 0usize;
        while let Some(tok) = toks.get(i) {
            let parent = stack.last().copied().unwrap_or(0);
            match tok {
                Tok::Open { name, start, end } => {
                    let next = toks.get(i + 1);
                    let closes_at = |t: Option<&Tok>| match t {
                        Some(Tok::Close { name: n, end, .. }) if n == name => Some(*end),
                        _ => None,
                    };
                    if let Some(close_end) = closes_at(next) {
                        let node = tree.add(name, Some(String::new()), *start, parent);
                        tree.set_end(node, close_end);
                        i += 2;
                    } else if AGGREGATES.contains(&name.as_str()) {
                        // No OFX aggregate contains itself: a second `<STMTTRN>` while one is
                        // open means the first was never closed. It ends here, so the second is
                        // its sibling (and is read), not hidden inside it; this also bounds the
                        // nesting depth by the number of aggregate names.
                        if let Some(pos) =
                            stack.iter().rposition(|&n| n != 0 && tree.name(n) == name)
                        {
                            while stack.len() > pos {
                                if let Some(inner) = stack.pop() {
                                    tree.set_end(inner, *start);
                                }
                            }
                        }
                        let parent = stack.last().copied().unwrap_or(0);
                        let node = tree.add(name, None, *start, parent);
                        tree.set_end(node, *end);
                        stack.push(node);
                        i += 1;
                    } else if let Some(Tok::Text {
                        value,
                        end: text_end,
                    }) = next
                    {
                        let node = tree.add(name, Some(value.clone()), *start, parent);
                        tree.set_end(node, *text_end);
                        i += 2;
                        if let Some(close_end) = closes_at(toks.get(i)) {
                            tree.set_end(node, close_end);
                            i += 1;
                        }
                    } else {
                        // An unknown element with no value: an empty leaf.
                        let node = tree.add(name, Some(String::new()), *start, parent);
                        tree.set_end(node, *end);
                        i += 1;
                    }
                }
                Tok::Close { name, start, end } => {
                    let open_at = stack.iter().rposition(|&n| n != 0 && tree.name(n) == name);
                    if let Some(pos) = open_at {
                        while stack.len() > pos + 1 {
                            if let Some(inner) = stack.pop() {
                                tree.set_end(inner, *start);
                            }
                        }
                        if let Some(node) = stack.pop() {
                            tree.set_end(node, *end);
                        }
                    }
                    i += 1;
                }
                Tok::Text { .. } => i += 1,
            }
        }
        if let Some(&open) = stack.last().filter(|_| stack.len() > 1) {
            let name = tree.name(open).to_string();
            return Err(FormatError {
                line: line_at(src, src.trim_end().len()),
                message: format!(
                    "the file ends inside <{name}> opened at line {}: </{name}> is missing, the file is truncated",
                    tree.line(open)
                ),
            });
        }
        Ok(tree)
    }

    fn add(&mut self, name: &str, value: Option<String>, start: usize, parent: usize) -> usize {
        let index = self.nodes.len();
        self.nodes.push(Node {
            name: name.to_string(),
            value,
            children: Vec::new(),
            start,
            end: start,
        });
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.push(index);
        }
        index
    }

    fn set_end(&mut self, node: usize, end: usize) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.end = end;
        }
    }

    fn name(&self, n: usize) -> &str {
        self.nodes.get(n).map_or("", |x| x.name.as_str())
    }

    fn line(&self, n: usize) -> u32 {
        let pos = self.nodes.get(n).map_or(0, |x| x.start);
        to_u32(self.newlines.partition_point(|&nl| nl < pos) + 1)
    }

    fn raw(&self, n: usize) -> String {
        self.nodes
            .get(n)
            .and_then(|x| self.src.get(x.start..x.end))
            .unwrap_or("")
            .to_string()
    }

    fn children(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        self.nodes
            .get(n)
            .map(|x| x.children.as_slice())
            .unwrap_or(&[])
            .iter()
            .copied()
    }

    fn named<'s>(&'s self, n: usize, name: &'s str) -> impl Iterator<Item = usize> + 's {
        self.children(n).filter(move |&c| self.name(c) == name)
    }

    fn path(&self, n: usize, path: &[&str]) -> Option<usize> {
        path.iter()
            .try_fold(n, |at, step| self.named(at, step).next())
    }

    /// Trimmed value of the leaf at `path`; `None` when absent or empty.
    fn value(&self, n: usize, path: &[&str]) -> Option<String> {
        let node = self.path(n, path)?;
        let v = self.nodes.get(node)?.value.as_deref()?.trim();
        (!v.is_empty()).then(|| v.to_string())
    }

    /// All descendants of `n` named one of `names`, in document order (not looking inside them).
    fn collect(&self, n: usize, names: &[&str], out: &mut Vec<usize>) {
        let mut todo: Vec<usize> = self.children(n).collect();
        todo.reverse();
        while let Some(c) = todo.pop() {
            if names.contains(&self.name(c)) {
                out.push(c);
            } else {
                let mut kids: Vec<usize> = self.children(c).collect();
                kids.reverse();
                todo.extend(kids);
            }
        }
    }
}

/// A problem with one element: (element, reason).
type FieldProblem = (String, String);

fn problem(field: &str, reason: String) -> FieldProblem {
    (field.to_string(), reason)
}

fn is_currency(code: &str) -> bool {
    code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase())
}

fn currency_reason(found: &str) -> String {
    format!(
        "currency \"{found}\" is not three upper-case letters (expected an ISO 4217 code, e.g. EUR)"
    )
}

/// Parses an OFX amount: optional sign, digits, one `.` or `,` decimal separator.
fn parse_amount(s: &str) -> Option<Decimal> {
    let unsigned = s
        .strip_prefix('-')
        .or_else(|| s.strip_prefix('+'))
        .unwrap_or(s);
    let negative = s.starts_with('-');
    let (int, frac) = match unsigned.split_once(['.', ',']) {
        Some((a, b)) => (a, Some(b)),
        None => (unsigned, None),
    };
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let ok = digits(int)
        && frac.is_none_or(|f| digits(f) && !f.is_empty())
        && (!int.is_empty() || frac.is_some());
    if !ok {
        return None;
    }
    let int = if int.is_empty() { "0" } else { int };
    let text = match frac {
        Some(f) => format!("{int}.{f}"),
        None => int.to_string(),
    };
    let value = Decimal::from_str_exact(&text).ok()?;
    Some(if negative { -value } else { value })
}

fn amount_reason(found: &str) -> String {
    format!(
        "amount \"{found}\" is not a signed decimal number with one decimal separator (expected e.g. -12.50)"
    )
}

/// Parses `YYYYMMDD[HHMMSS[.XXX]][[+-]hh[.mm]:TZ]` and keeps the date part.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
    let head = s.get(..8).filter(|h| digits(h))?;
    let mut rest = s.get(8..)?;
    let time_len = rest.chars().take_while(char::is_ascii_digit).count();
    if !matches!(time_len, 0 | 4 | 6) {
        return None;
    }
    rest = rest.get(time_len..)?;
    if let Some(ms) = rest.strip_prefix('.') {
        let n = ms.chars().take_while(char::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = ms.get(n..)?;
    }
    if let Some(tz) = rest.strip_prefix('[') {
        let inner = tz.strip_suffix(']')?;
        let offset = inner.split(':').next().unwrap_or("");
        let offset = offset.strip_prefix(['+', '-']).unwrap_or(offset);
        if offset.is_empty() || !offset.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return None;
        }
        rest = "";
    }
    if !rest.is_empty() {
        return None;
    }
    let y: i32 = head.get(0..4)?.parse().ok()?;
    let m: u32 = head.get(4..6)?.parse().ok()?;
    let d: u32 = head.get(6..8)?.parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

fn date_reason(what: &str, found: &str) -> String {
    format!(
        "{what} \"{found}\" is not a valid OFX date (expected YYYYMMDD[HHMMSS[.XXX]][[+-]hh:TZ], e.g. 20240131)"
    )
}

/// Returns the IBAN in `s` (spaces removed, upper case) when it is one and passes mod-97.
fn iban_of(s: &str) -> Option<String> {
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let n = compact.len();
    if !(15..=34).contains(&n) || !compact.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let head: Vec<char> = compact.chars().take(4).collect();
    let shape_ok = matches!(head.as_slice(), [a, b, c, d]
        if a.is_ascii_uppercase() && b.is_ascii_uppercase() && c.is_ascii_digit() && d.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    let mut rem: u32 = 0;
    for c in compact.chars().skip(4).chain(compact.chars().take(4)) {
        let v = c.to_digit(36)?;
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    (rem == 1).then_some(compact)
}

/// Statement-level facts an entry needs.
struct StmtContext {
    index: usize,
    line: u32,
    has_account: bool,
    currency: Option<String>,
}

fn read_statement(tree: &Tree<'_>, s: usize, file: &mut ParsedFile) {
    let index = file.statements.len();
    let line = tree.line(s);
    let mut records: Vec<(u32, Outcome)> = Vec::new();
    let mut transactions = Vec::new();
    tree.collect(s, &["STMTTRN"], &mut transactions);
    let header_raw = {
        let start = tree.nodes.get(s).map_or(0, |n| n.start);
        let end = transactions
            .first()
            .and_then(|&t| tree.nodes.get(t))
            .map_or_else(|| tree.nodes.get(s).map_or(start, |n| n.end), |n| n.start);
        tree.src
            .get(start..end)
            .unwrap_or("")
            .trim_end()
            .to_string()
    };
    let reject = |at: u32, (field, reason): FieldProblem, raw: String| {
        (
            at,
            Outcome::Rejected(RecordProblem {
                line: at,
                field,
                reason,
                raw,
            }),
        )
    };
    let mut stmt = ParsedStatement {
        line,
        ..ParsedStatement::default()
    };

    if let Some(c) = tree.value(s, &["CURDEF"]) {
        if is_currency(&c) {
            stmt.currency = Some(c);
        } else {
            let node = tree.path(s, &["CURDEF"]);
            records.push(reject(
                node.map_or(line, |n| tree.line(n)),
                problem("CURDEF", currency_reason(&c)),
                node.map_or_else(String::new, |n| tree.raw(n)),
            ));
        }
    }

    let acct_from = tree
        .path(s, &["BANKACCTFROM"])
        .or_else(|| tree.path(s, &["CCACCTFROM"]));
    let acct_tag = if tree.path(s, &["CCACCTFROM"]).is_some() {
        "CCACCTFROM"
    } else {
        "BANKACCTFROM"
    };
    let account = acct_from.and_then(|a| tree.value(a, &["ACCTID"]));
    match &account {
        Some(a) => {
            stmt.account_raw = a.clone();
            stmt.iban = iban_of(a);
        }
        None => records.push(reject(
            line,
            problem(
                &format!("{acct_tag}/ACCTID"),
                format!("statement has no {acct_tag}/ACCTID account identification"),
            ),
            header_raw.clone(),
        )),
    }

    if let Some(list) = tree.path(s, &["BANKTRANLIST"]) {
        let start = tree.value(list, &["DTSTART"]);
        let end = tree.value(list, &["DTEND"]);
        if let (Some(a), Some(b)) = (&start, &end) {
            match (parse_date(a), parse_date(b)) {
                (Some(from), Some(to)) => stmt.period = Some((from, to)),
                (from, _) => {
                    let (tag, bad) = if from.is_none() {
                        ("DTSTART", a)
                    } else {
                        ("DTEND", b)
                    };
                    let node = tree.path(list, &[tag]);
                    records.push(reject(
                        node.map_or(line, |n| tree.line(n)),
                        problem(
                            &format!("BANKTRANLIST/{tag}"),
                            date_reason("statement period date", bad),
                        ),
                        node.map_or_else(String::new, |n| tree.raw(n)),
                    ));
                }
            }
        }
    }
    stmt.statement_id = match (&account, stmt.period) {
        (Some(a), Some((from, to))) => Some(format!("{a} {from}..{to}")),
        (Some(a), None) => Some(a.clone()),
        (None, _) => None,
    };

    if let Some(bal) = tree.path(s, &["LEDGERBAL"]) {
        match read_ledger(tree, bal, stmt.currency.as_deref()) {
            Ok(mark) => stmt.closing = Some(mark),
            Err(p) => records.push(reject(tree.line(bal), p, tree.raw(bal))),
        }
    }

    let ctx = StmtContext {
        index,
        line,
        has_account: account.is_some(),
        currency: stmt.currency.clone(),
    };
    for t in transactions {
        let at = tree.line(t);
        let outcome = match read_transaction(tree, t, &ctx) {
            Ok(e) => Outcome::Entry(e),
            Err((field, reason)) => Outcome::Rejected(RecordProblem {
                line: at,
                field,
                reason,
                raw: tree.raw(t),
            }),
        };
        records.push((at, outcome));
    }
    records.sort_by_key(|(l, _)| *l);
    file.statements.push(stmt);
    file.outcomes.extend(records.into_iter().map(|(_, o)| o));
}

fn read_ledger(
    tree: &Tree<'_>,
    bal: usize,
    currency: Option<&str>,
) -> Result<BalanceMark, FieldProblem> {
    let amount_text = tree
        .value(bal, &["BALAMT"])
        .ok_or_else(|| problem("LEDGERBAL/BALAMT", "LEDGERBAL has no BALAMT".to_string()))?;
    let amount = parse_amount(&amount_text)
        .ok_or_else(|| problem("LEDGERBAL/BALAMT", amount_reason(&amount_text)))?;
    let date_text = tree.value(bal, &["DTASOF"]).ok_or_else(|| {
        problem(
            "LEDGERBAL/DTASOF",
            "LEDGERBAL has no DTASOF date".to_string(),
        )
    })?;
    let date = parse_date(&date_text)
        .ok_or_else(|| problem("LEDGERBAL/DTASOF", date_reason("balance date", &date_text)))?;
    let currency = currency.ok_or_else(|| {
        problem(
            "CURDEF",
            "LEDGERBAL has no currency: the statement has no valid CURDEF".to_string(),
        )
    })?;
    Ok(BalanceMark {
        date,
        amount,
        currency: currency.to_string(),
        line: tree.line(bal),
    })
}

fn read_transaction(
    tree: &Tree<'_>,
    t: usize,
    ctx: &StmtContext,
) -> Result<ParsedEntry, FieldProblem> {
    if !ctx.has_account {
        return Err(problem(
            "ACCTID",
            format!(
                "the statement starting at line {} has no ACCTID account identification, so this transaction cannot be attributed to an account",
                ctx.line
            ),
        ));
    }
    let amount_text = tree
        .value(t, &["TRNAMT"])
        .ok_or_else(|| problem("TRNAMT", "STMTTRN has no TRNAMT amount".to_string()))?;
    let amount =
        parse_amount(&amount_text).ok_or_else(|| problem("TRNAMT", amount_reason(&amount_text)))?;
    let posted_text = tree
        .value(t, &["DTPOSTED"])
        .ok_or_else(|| problem("DTPOSTED", "STMTTRN has no DTPOSTED date".to_string()))?;
    let booking_date = parse_date(&posted_text)
        .ok_or_else(|| problem("DTPOSTED", date_reason("posting date", &posted_text)))?;
    let optional_date = |tag: &str, what: &str| -> Result<Option<NaiveDate>, FieldProblem> {
        match tree.value(t, &[tag]) {
            None => Ok(None),
            Some(v) => parse_date(&v)
                .map(Some)
                .ok_or_else(|| problem(tag, date_reason(what, &v))),
        }
    };
    let user_date = optional_date("DTUSER", "user date")?;
    let avail_date = optional_date("DTAVAIL", "availability date")?;
    let currency = match tree.value(t, &["CURRENCY", "CURSYM"]) {
        Some(c) if is_currency(&c) => c,
        Some(c) => return Err(problem("CURRENCY/CURSYM", currency_reason(&c))),
        None => ctx.currency.clone().ok_or_else(|| {
            problem(
                "CURDEF",
                format!(
                    "no currency: the statement starting at line {} has no valid CURDEF and the transaction has no CURRENCY/CURSYM",
                    ctx.line
                ),
            )
        })?,
    };
    let name = tree
        .value(t, &["NAME"])
        .or_else(|| tree.value(t, &["PAYEE", "NAME"]));
    let memo = tree.value(t, &["MEMO"]);
    let description = match (&name, &memo) {
        (Some(n), Some(m)) => format!("{n} / {m}"),
        (Some(n), None) => n.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => String::new(),
    };
    let counterparty_account = tree
        .value(t, &["BANKACCTTO", "ACCTID"])
        .or_else(|| tree.value(t, &["CCACCTTO", "ACCTID"]));
    Ok(ParsedEntry {
        line: tree.line(t),
        sub: 0,
        statement: ctx.index,
        booking_date,
        value_date: avail_date.or(user_date),
        amount,
        currency,
        type_code: tree.value(t, &["TRNTYPE"]),
        reversal: false,
        counterparty_name: name,
        counterparty_account,
        reference: tree
            .value(t, &["FITID"])
            .or_else(|| tree.value(t, &["CHECKNUM"])),
        description,
        balance: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const SGML: &str = include_str!("../../fixtures/formats/ofx/sgml_multi_account.ofx");
    const XML: &str = include_str!("../../fixtures/formats/ofx/xml_v2.ofx");
    const BROKEN: &str = include_str!("../../fixtures/formats/ofx/broken.ofx");
    const TRUNCATED: &str = include_str!("../../fixtures/formats/ofx/truncated.ofx");

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn date(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn entries(file: &ParsedFile) -> Vec<&ParsedEntry> {
        file.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Entry(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    fn rejected(file: &ParsedFile) -> Vec<&RecordProblem> {
        file.outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Rejected(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn closing(s: &ParsedStatement) -> (NaiveDate, Decimal, &str, u32) {
        let b = s.closing.as_ref().unwrap();
        (b.date, b.amount, b.currency.as_str(), b.line)
    }

    type Row<'a> = (
        u32,
        usize,
        NaiveDate,
        Option<NaiveDate>,
        &'a str,
        &'a str,
        Option<&'a str>,
        &'a str,
    );

    fn assert_rows(f: &ParsedFile, rows: &[Row<'_>]) {
        let e = entries(f);
        assert_eq!(e.len(), rows.len());
        for (got, want) in e.iter().zip(rows) {
            let at = format!("line {}", want.0);
            assert_eq!(got.line, want.0);
            assert_eq!(got.statement, want.1, "{at}");
            assert_eq!(got.booking_date, want.2, "{at}");
            assert_eq!(got.value_date, want.3, "{at}");
            assert_eq!(got.amount, d(want.4), "{at}");
            assert_eq!(got.currency, want.5, "{at}");
            assert_eq!(got.counterparty_name.as_deref(), want.6, "{at}");
            assert_eq!(got.description, want.7, "{at}");
            assert_eq!(got.sub, 0);
            assert!(!got.reversal);
        }
    }

    #[test]
    fn sgml_two_bank_accounts_and_a_card() {
        let f = parse(SGML).unwrap();
        assert_eq!(f.statements.len(), 3);
        let s0 = &f.statements[0];
        assert_eq!(s0.line, 29);
        assert_eq!(s0.account_raw, "DE89370400440532013000");
        assert_eq!(s0.iban.as_deref(), Some("DE89370400440532013000"));
        assert_eq!(s0.currency.as_deref(), Some("EUR"));
        assert_eq!(s0.period, Some((date(2024, 1, 1), date(2024, 1, 31))));
        assert_eq!(
            s0.statement_id.as_deref(),
            Some("DE89370400440532013000 2024-01-01..2024-01-31")
        );
        assert_eq!(s0.opening, None);
        assert_eq!(closing(s0), (date(2024, 1, 31), d("2400.01"), "EUR", 77));
        let s1 = &f.statements[1];
        assert_eq!(s1.line, 90);
        assert_eq!(s1.account_raw, "DE46100500001234567890");
        assert_eq!(closing(s1), (date(2024, 1, 31), d("10501.37"), "EUR", 115));
        let s2 = &f.statements[2];
        assert_eq!(s2.line, 126);
        assert_eq!(s2.account_raw, "4111111111111111");
        assert_eq!(s2.iban, None);
        assert_eq!(closing(s2), (date(2024, 1, 31), d("-450.50"), "EUR", 162));

        // 4 + 2 + 3 STMTTRN, all read.
        assert_eq!(f.outcomes.len(), 9);
        assert!(rejected(&f).is_empty());
        assert_rows(
            &f,
            &[
                (
                    39,
                    0,
                    date(2024, 1, 5),
                    Some(date(2024, 1, 4)),
                    "1200.00",
                    "EUR",
                    Some("Fiktiv Logistik AG"),
                    "Fiktiv Logistik AG / Lohn Januar 2024",
                ),
                (
                    48,
                    0,
                    date(2024, 1, 10),
                    None,
                    "-250.00",
                    "EUR",
                    Some("Autohaus Fiktiv & Co"),
                    "Autohaus Fiktiv & Co",
                ),
                (
                    56,
                    0,
                    date(2024, 1, 15),
                    Some(date(2024, 1, 16)),
                    "-49.99",
                    "EUR",
                    None,
                    "Lastschrift Mobilfunk",
                ),
                (
                    64,
                    0,
                    date(2024, 1, 20),
                    None,
                    "-500.00",
                    "EUR",
                    Some("Eigenes Sparkonto"),
                    "Eigenes Sparkonto",
                ),
                (
                    100,
                    1,
                    date(2024, 1, 20),
                    None,
                    "500.00",
                    "EUR",
                    Some("Eigenes Girokonto"),
                    "Eigenes Girokonto",
                ),
                (
                    107,
                    1,
                    date(2024, 1, 31),
                    None,
                    "1.37",
                    "EUR",
                    None,
                    "Zinsen Januar",
                ),
                (
                    134,
                    2,
                    date(2024, 1, 12),
                    Some(date(2024, 1, 10)),
                    "-89.00",
                    "EUR",
                    Some("Hotel Zum Fiktiven Hirschen"),
                    "Hotel Zum Fiktiven Hirschen / Zimmer 12 <2 Naechte>",
                ),
                (
                    143,
                    2,
                    date(2024, 1, 18),
                    None,
                    "-120.00",
                    "USD",
                    Some("Fictional Books Inc"),
                    "Fictional Books Inc",
                ),
                (
                    154,
                    2,
                    date(2024, 1, 25),
                    None,
                    "200.00",
                    "EUR",
                    Some("Zahlung danke"),
                    "Zahlung danke",
                ),
            ],
        );
        let e = entries(&f);
        assert_eq!(e[0].type_code.as_deref(), Some("CREDIT"));
        assert_eq!(e[0].reference.as_deref(), Some("20240105-0001"));
        assert_eq!(e[1].type_code.as_deref(), Some("CHECK"));
        assert_eq!(
            e[3].counterparty_account.as_deref(),
            Some("DE46100500001234567890")
        );
        assert_eq!(e[6].type_code.as_deref(), Some("DEBIT"));
        assert_eq!(e[8].reference.as_deref(), Some("CC-0125-3"));
    }

    #[test]
    fn xml_v2_statement() {
        let f = parse(XML).unwrap();
        assert_eq!(f.statements.len(), 1);
        let s = &f.statements[0];
        assert_eq!(s.line, 15);
        assert_eq!(s.currency.as_deref(), Some("GBP"));
        assert_eq!(s.iban.as_deref(), Some("GB76FAKE20000012345678"));
        assert_eq!(s.period, Some((date(2024, 2, 1), date(2024, 2, 29))));
        assert_eq!(closing(s), (date(2024, 2, 29), d("3976.55"), "GBP", 49));
        assert_eq!(f.outcomes.len(), 3);
        assert_rows(
            &f,
            &[
                (
                    25,
                    0,
                    date(2024, 2, 3),
                    None,
                    "-23.45",
                    "GBP",
                    Some("Marks & Sparks Fictional"),
                    "Marks & Sparks Fictional",
                ),
                (
                    33,
                    0,
                    date(2024, 2, 28),
                    None,
                    "2100.00",
                    "GBP",
                    Some("Harbour Lights Ltd"),
                    "Harbour Lights Ltd / Salary February",
                ),
                (
                    41,
                    0,
                    date(2024, 2, 29),
                    None,
                    "-100",
                    "GBP",
                    Some("Cash <ATM 42>"),
                    "Cash <ATM 42>",
                ),
            ],
        );
        assert_eq!(entries(&f)[1].type_code.as_deref(), Some("DIRECTDEP"));
        assert_eq!(entries(&f)[2].reference.as_deref(), Some("2024022902"));
    }

    #[test]
    fn broken_file_every_problem_pinned() {
        let f = parse(BROKEN).unwrap();
        assert_eq!(f.statements.len(), 2);
        assert_eq!(f.statements[0].period, None);
        assert_eq!(f.statements[0].closing, None);
        assert_eq!(f.statements[1].currency, None);
        assert_eq!(f.statements[1].account_raw, "");
        let r = rejected(&f);
        let expected: [(u32, &str, &str); 10] = [
            (16, "BANKTRANLIST/DTEND", "statement period date \"2024-03-31\" is not a valid OFX date"),
            (17, "TRNAMT", "STMTTRN has no TRNAMT amount"),
            (22, "DTPOSTED", "STMTTRN has no DTPOSTED date"),
            (27, "TRNAMT", "amount \"-1,234.56\" is not a signed decimal number with one decimal separator (expected e.g. -12.50)"),
            (33, "DTPOSTED", "posting date \"20240231\" is not a valid OFX date"),
            (39, "CURRENCY/CURSYM", "currency \"usd\" is not three upper-case letters"),
            (58, "LEDGERBAL/BALAMT", "amount \"abc\" is not a signed decimal number"),
            (65, "BANKACCTFROM/ACCTID", "statement has no BANKACCTFROM/ACCTID account identification"),
            (66, "CURDEF", "currency \"EU\" is not three upper-case letters"),
            (71, "ACCTID", "the statement starting at line 65 has no ACCTID"),
        ];
        assert_eq!(r.len(), expected.len(), "{r:#?}");
        for (got, want) in r.iter().zip(expected.iter()) {
            assert_eq!((got.line, got.field.as_str()), (want.0, want.1), "{got:?}");
            assert!(
                got.reason.contains(want.2),
                "{:?} lacks {:?}",
                got.reason,
                want.2
            );
        }
        assert_eq!(
            r[1].raw,
            "<STMTTRN>\n<TRNTYPE>DEBIT\n<DTPOSTED>20240302\n<FITID>B1\n</STMTTRN>"
        );
        assert_eq!(r[0].raw, "<DTEND>2024-03-31");
        let e = entries(&f);
        assert_eq!(e.len(), 1);
        // The unknown <XYZZY> element is ignored.
        assert_eq!(
            (e[0].line, e[0].amount, e[0].description.as_str()),
            (49, d("9.00"), "Gueltig")
        );
        assert_eq!(f.outcomes.len(), 11);
    }

    #[test]
    fn truncated_file_is_a_format_error() {
        let err = parse(TRUNCATED).unwrap_err();
        assert_eq!(err.line, 58);
        assert!(
            err.message
                .contains("ends inside <STMTTRN> opened at line 56"),
            "{}",
            err.message
        );
        let err = parse(&XML[..XML.find("<FITID>2024022801").unwrap() + 4]).unwrap_err();
        assert_eq!(err.line, 37);
        assert!(
            err.message.contains("ends inside the tag"),
            "{}",
            err.message
        );
    }

    #[test]
    fn not_ofx_is_a_format_error() {
        let err = parse("Datum;Betrag\n01.01.2024;12,00\n").unwrap_err();
        assert!(err.message.contains("no <OFX> element"));
        let err = parse("OFXHEADER:100\n\n<OFX>\n<SIGNONMSGSRSV1></SIGNONMSGSRSV1>\n</OFX>\n")
            .unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err
            .message
            .contains("no bank (STMTRS) or credit-card (CCSTMTRS)"));
        assert!(parse("").is_err());
    }

    #[test]
    fn values_and_dates() {
        assert_eq!(parse_amount("-.50"), Some(d("-0.50")));
        assert_eq!(parse_amount("+1,5"), Some(d("1.5")));
        assert_eq!(parse_amount("1."), None);
        assert_eq!(parse_amount("-"), None);
        assert_eq!(parse_amount("1 000"), None);
        assert_eq!(parse_date("20240131"), Some(date(2024, 1, 31)));
        assert_eq!(
            parse_date("20240131235959.123[-5.30:IST]"),
            Some(date(2024, 1, 31))
        );
        assert_eq!(parse_date("202401312359"), Some(date(2024, 1, 31)));
        assert_eq!(parse_date("2024013123"), None);
        assert_eq!(parse_date("20240131[x]"), None);
        assert_eq!(parse_date("20241301"), None);
        assert_eq!(
            decode_entities("a&nbsp;&amp; b &#228; &#x41; &unknown; &#0; &"),
            "a & b ä A &unknown; &#0; &"
        );
    }

    #[test]
    fn dates_precedence_and_unclosed_transaction() {
        let text = "OFXHEADER:100\n\n<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS>\n<CURDEF>EUR\n\
<BANKACCTFROM><ACCTID>123</BANKACCTFROM>\n<BANKTRANLIST>\n\
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105<DTUSER>20240103<DTAVAIL>20240106<TRNAMT>-1.00</STMTTRN>\n\
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105\n\
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n";
        let f = parse(text).unwrap();
        assert_eq!(f.statements[0].statement_id.as_deref(), Some("123"));
        assert_eq!(f.statements[0].iban, None);
        assert_eq!(f.outcomes.len(), 2);
        let e = entries(&f);
        assert_eq!(e[0].value_date, Some(date(2024, 1, 6)));
        assert_eq!(e[0].line, 7);
        // The second STMTTRN is never closed: </BANKTRANLIST> closes it, and its raw stops there.
        let r = rejected(&f);
        assert_eq!((r[0].line, r[0].field.as_str()), (8, "TRNAMT"));
        assert_eq!(r[0].raw, "<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105\n");
    }

    #[test]
    fn an_unclosed_transaction_does_not_hide_the_next_one() {
        // Before: the second STMTTRN was nested inside the unclosed first one, and the
        // statement's transactions were collected without looking inside a STMTTRN, so the
        // second transaction (-2.00) vanished without a reject.
        let text = "<OFX><BANKMSGSRSV1><STMTTRNRS><STMTRS>\n<CURDEF>EUR\n\
<BANKACCTFROM><ACCTID>123</BANKACCTFROM>\n<BANKTRANLIST>\n\
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240105<TRNAMT>-1.00\n\
<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>20240106<TRNAMT>-2.00</STMTTRN>\n\
</BANKTRANLIST></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n";
        let f = parse(text).unwrap();
        let e = entries(&f);
        assert_eq!(e.len(), 2, "{:?}", f.outcomes);
        assert_eq!((e[0].line, e[0].amount), (5, d("-1.00")));
        assert_eq!((e[1].line, e[1].amount), (6, d("-2.00")));
    }

    #[test]
    fn many_angle_brackets_and_deep_nesting_take_linear_time() {
        let started = std::time::Instant::now();
        let text = format!("<OFX>{}</OFX>", "< 1".repeat(300_000));
        assert!(parse(&text).is_err());
        let text = format!("<OFX>{}>", "<a ".repeat(300_000));
        assert!(parse(&text).is_err());
        let text = format!(
            "<OFX>{}{}",
            "<STMTRS>".repeat(100_000),
            "</X>".repeat(100_000)
        );
        assert!(parse(&text).is_err());
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    }

    #[test]
    fn never_panics_on_cut_or_mangled_input() {
        for text in [SGML, XML, BROKEN] {
            for (i, _) in text.char_indices().step_by(2) {
                let _ = parse(&text[..i]);
                let mut mangled = text.to_string();
                mangled.insert(i, '<');
                let _ = parse(&mangled);
                let _ = parse(&text[i..]);
            }
        }
    }
}
