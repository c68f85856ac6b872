//! ISO 20022 camt.053 (bank-to-customer statement, `BkToCstmrStmt/Stmt`) and camt.052
//! (account report, `BkToCstmrAcctRpt/Rpt`) parser, message versions .001.02 to .001.08.
//!
//! **In:** the decoded text of one XML file. Elements are matched on their local names, so
//! every namespace version (and any prefix) is read the same way.
//!
//! **Safety:** the file is read with quick-xml's streaming `Reader`, which never reads a DTD,
//! never fetches anything and never expands entities. A `<!DOCTYPE …>` of any kind (and so any
//! `<!ENTITY …>` declaration) makes the file a [`FormatError`] ("DTDs are refused"); only the
//! five predefined entities (`&amp;` …) and character references are decoded, any other entity
//! reference is a `FormatError`. Elements nested more than 64 deep are a `FormatError`.
//!
//! **Out:** one [`ParsedStatement`] per `Stmt`/`Rpt`: `Id` → `statement_id`; `Acct/Id/IBAN`
//! (→ `iban`, spaces removed, upper case) or `Acct/Id/Othr/Id` → `account_raw`; `Acct/Ccy`;
//! `FrToDt/FrDtTm`..`ToDtTm` → `period` (date part); `Bal` with `Tp/CdOrPrtry/Cd` (or `Prtry`)
//! `OPBD` (else `PRCD`) → `opening` and `CLBD` → `closing`; other balance types (`ITBD`,
//! `CLAV` …) are ignored. A missing balance is left `None`, not rejected.
//!
//! **What is a record.** Each `Ntry` is one record, or — when it holds several `TxDtls` — each
//! `TxDtls` becomes its own [`ParsedEntry`] (`sub` = 1, 2, …; with zero or one `TxDtls` the entry
//! is one row with `sub` = 0). The statement header is not a record unless it is wrong:
//! - no `Acct/Id/IBAN` nor `Acct/Id/Othr/Id` → `Rejected` (field `Acct/Id`, at the `Stmt` line,
//!   raw = the statement text before its first `Ntry`); its booked entries are then rejected
//!   too, naming the statement's line, since they cannot be attributed to an account;
//! - a bad `Acct/Ccy`, `FrToDt` or `OPBD`/`PRCD`/`CLBD` balance → `Rejected` for that element,
//!   the value is left `None` and the entries are still read.
//!
//! **`Ntry` reading:** the status (`Sts`, or `Sts/Cd` / `Sts/Prtry` in .08) is checked first:
//! `BOOK` is read; `PDNG`, `INFO` and `FUTR` are `Skipped` ("pending entry (status PDNG) is not
//! booked"); a missing or other status is `Rejected`. Then `Amt` (decimal point, non-negative)
//! with `@Ccy` (three upper-case letters), `CdtDbtInd` (`CRDT` +, `DBIT` −; it is the direction of
//! the money in this entry, reversals included), `RvslInd` (`true`/`1` → `reversal`),
//! `BookgDt/Dt` or `BookgDt/DtTm` (date part), `ValDt/Dt` or `ValDt/DtTm`, `AcctSvcrRef`,
//! `BkTxCd` (`Domn/Cd`/`Fmly/Cd`/`SubFmlyCd` joined with `/`, else `Prtry/Cd`), `AddtlNtryInf`.
//! A missing `Amt`, `CdtDbtInd` or booking date, or a bad value, rejects the record naming the
//! element. For each `TxDtls` (of every `NtryDtls`): amount from `Amt` or `AmtDtls/TxAmt/Amt`
//! (with one `TxDtls` it may be absent and the entry amount is used), sign from its `CdtDbtInd`
//! else the entry's, its own `BkTxCd` if any; the signed `TxDtls` amounts must add up to the
//! signed entry amount in the entry currency, else the whole `Ntry` is rejected with both figures.
//! Counterparty: for a credit `RltdPties/Dbtr/Nm` (or `Dbtr/Pty/Nm`) and
//! `RltdPties/DbtrAcct/Id/IBAN` (or `Othr/Id`), for a debit the `Cdtr`/`CdtrAcct` ones.
//! Description: `RmtInf/Ustrd` (all, joined with a space), else `AddtlTxInf`, else
//! `AddtlNtryInf`, else empty. Reference: `Refs/EndToEndId` unless it is `NOTPROVIDED`, else
//! `Refs/AcctSvcrRef`, else the entry's `AcctSvcrRef`. Unknown elements are ignored (the schema
//! allows extensions and optional blocks we do not need).
//!
//! **Format errors:** text that is not well-formed XML, a document without `BkToCstmrStmt` or
//! `BkToCstmrAcctRpt` or without any `Stmt`/`Rpt` in it, and a truncated document (the file ends
//! inside an element) are a [`FormatError`] carrying the line where reading stopped. A truncated
//! file is never half-read: the entries before the cut are not returned, because a statement
//! whose end is missing cannot be shown to be complete.
//!
//! Line numbers are 1-based and count the newlines before the element's `<`.

use chrono::NaiveDate;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use rust_decimal::Decimal;

use super::statement::{
    BalanceMark, FormatError, Outcome, ParsedEntry, ParsedFile, ParsedStatement, RecordProblem,
};

/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 64;

/// Parses the decoded text of a camt.053 or camt.052 file into statements and records.
pub fn parse(text: &str) -> Result<ParsedFile, FormatError> {
    let tree = Tree::build(text)?;
    let container = tree
        .children(0)
        .flat_map(|top| std::iter::once(top).chain(tree.children(top)))
        .find(|&n| matches!(tree.name(n), "BkToCstmrStmt" | "BkToCstmrAcctRpt"))
        .ok_or_else(|| FormatError {
            line: 1,
            message: "no BkToCstmrStmt or BkToCstmrAcctRpt element: this is not a camt.053 or camt.052 file"
                .to_string(),
        })?;
    let item = if tree.name(container) == "BkToCstmrStmt" {
        "Stmt"
    } else {
        "Rpt"
    };
    let statements: Vec<usize> = tree.named(container, item).collect();
    if statements.is_empty() {
        return Err(FormatError {
            line: tree.line(container),
            message: format!("{} holds no {item} element", tree.name(container)),
        });
    }
    let mut file = ParsedFile::default();
    for s in statements {
        read_statement(&tree, s, &mut file);
    }
    Ok(file)
}

/// One XML element.
struct Node {
    name: String,
    ccy: Option<String>,
    text: String,
    children: Vec<usize>,
    start: usize,
    end: usize,
}

/// The document as an arena of elements; node 0 is the (synthetic) document itself.
struct Tree<'a> {
    src: &'a str,
    nodes: Vec<Node>,
    newlines: Vec<usize>,
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl<'a> Tree<'a> {
    fn build(src: &'a str) -> Result<Self, FormatError> {
        let newlines: Vec<usize> = src
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i)
            .collect();
        let mut tree = Tree {
            src,
            nodes: vec![Node {
                name: String::new(),
                ccy: None,
                text: String::new(),
                children: Vec::new(),
                start: 0,
                end: src.len(),
            }],
            newlines,
        };
        let mut reader = Reader::from_str(src);
        let mut stack: Vec<usize> = vec![0];
        loop {
            let pos = to_usize(reader.buffer_position());
            let event = match reader.read_event() {
                Ok(ev) => ev,
                Err(e) => {
                    let at = to_usize(reader.error_position());
                    return Err(tree.error(at, format!("not well-formed XML: {e}")));
                }
            };
            let top = stack.last().copied().unwrap_or(0);
            match event {
                Event::Start(e) => {
                    if stack.len() > MAX_DEPTH {
                        return Err(tree.error(
                            pos,
                            format!("elements are nested more than {MAX_DEPTH} deep"),
                        ));
                    }
                    let node = tree.add(&e, pos, top)?;
                    stack.push(node);
                }
                Event::Empty(e) => {
                    if stack.len() > MAX_DEPTH {
                        return Err(tree.error(
                            pos,
                            format!("elements are nested more than {MAX_DEPTH} deep"),
                        ));
                    }
                    let node = tree.add(&e, pos, top)?;
                    let end = to_usize(reader.buffer_position());
                    if let Some(n) = tree.nodes.get_mut(node) {
                        n.end = end;
                    }
                }
                Event::End(_) => {
                    if stack.len() <= 1 {
                        return Err(tree.error(pos, "closing tag without an opening one".into()));
                    }
                    let end = to_usize(reader.buffer_position());
                    if let Some(n) = stack.pop().and_then(|i| tree.nodes.get_mut(i)) {
                        n.end = end;
                    }
                }
                Event::Text(t) => {
                    let content = t
                        .xml10_content()
                        .map_err(|e| tree.error(pos, format!("undecodable text: {e}")))?;
                    tree.push_text(top, &content);
                }
                Event::CData(t) => {
                    let content = t
                        .xml10_content()
                        .map_err(|e| tree.error(pos, format!("undecodable CDATA: {e}")))?;
                    tree.push_text(top, &content);
                }
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        Ok(None) => match r.decode().as_deref() {
                            Ok("amp") => Some('&'),
                            Ok("lt") => Some('<'),
                            Ok("gt") => Some('>'),
                            Ok("quot") => Some('"'),
                            Ok("apos") => Some('\''),
                            _ => None,
                        },
                        Err(_) => None,
                    };
                    match resolved {
                        Some(c) => tree.push_text(top, c.encode_utf8(&mut [0u8; 4])),
                        None => {
                            let name = String::from_utf8_lossy(&r).into_owned();
                            return Err(tree.error(
                                pos,
                                format!(
                                    "entity reference &{name}; is not one of the predefined XML entities (DTDs are refused, so no other entity can be defined)"
                                ),
                            ));
                        }
                    }
                }
                Event::DocType(_) => {
                    return Err(tree.error(
                        pos,
                        "DTDs are refused: the file has a <!DOCTYPE> declaration, which camt files never need and which could declare entities that change or hide content"
                            .into(),
                    ));
                }
                Event::Eof => break,
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            }
        }
        if let Some(&open) = stack.last().filter(|_| stack.len() > 1) {
            let line_open = tree.line(open);
            let name = tree.name(open).to_string();
            return Err(tree.error(
                src.trim_end().len(),
                format!(
                    "the file ends inside <{name}> opened at line {line_open}: the document is truncated"
                ),
            ));
        }
        if tree.children(0).next().is_none() {
            return Err(tree.error(0, "no XML element found: this is not a camt file".into()));
        }
        Ok(tree)
    }

    fn add(&mut self, e: &BytesStart<'_>, pos: usize, parent: usize) -> Result<usize, FormatError> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let mut ccy = None;
        for attr in e.attributes() {
            let attr = attr.map_err(|err| self.error(pos, format!("bad attribute: {err}")))?;
            if attr.key.local_name().as_ref() == b"Ccy" {
                let value = attr
                    .unescape_value()
                    .map_err(|err| self.error(pos, format!("bad attribute value: {err}")))?;
                ccy = Some(value.into_owned());
            }
        }
        let index = self.nodes.len();
        self.nodes.push(Node {
            name,
            ccy,
            text: String::new(),
            children: Vec::new(),
            start: pos,
            end: pos,
        });
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.push(index);
        }
        Ok(index)
    }

    fn push_text(&mut self, node: usize, text: &str) {
        if node != 0 {
            if let Some(n) = self.nodes.get_mut(node) {
                n.text.push_str(text);
            }
        }
    }

    fn line_at(&self, pos: usize) -> u32 {
        to_u32(self.newlines.partition_point(|&nl| nl < pos) + 1)
    }

    fn error(&self, pos: usize, message: String) -> FormatError {
        FormatError {
            line: self.line_at(pos),
            message,
        }
    }

    fn line(&self, n: usize) -> u32 {
        self.line_at(self.nodes.get(n).map_or(0, |x| x.start))
    }

    fn name(&self, n: usize) -> &str {
        self.nodes.get(n).map_or("", |x| x.name.as_str())
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

    /// Trimmed text at `path` below `n`; `None` when absent or empty.
    fn text(&self, n: usize, path: &[&str]) -> Option<String> {
        let node = self.path(n, path)?;
        let t = self.nodes.get(node)?.text.trim();
        (!t.is_empty()).then(|| t.to_string())
    }

    fn ccy(&self, n: usize) -> Option<&str> {
        self.nodes.get(n).and_then(|x| x.ccy.as_deref())
    }
}

/// A problem with one element: (element path, reason).
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

/// Parses a camt amount: digits with an optional decimal point, no sign.
fn parse_amount(s: &str) -> Option<Decimal> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let ok = !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.chars().all(|c| c.is_ascii_digit())
        && !(s.contains('.') && frac.is_empty());
    if !ok {
        return None;
    }
    Decimal::from_str_exact(s).ok()
}

/// Parses `YYYY-MM-DD`, or the date part of `YYYY-MM-DDThh:mm:ss…`.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let head = s.get(..10)?;
    let tail = s.get(10..)?;
    let shape = head.char_indices().all(|(i, c)| {
        if i == 4 || i == 7 {
            c == '-'
        } else {
            c.is_ascii_digit()
        }
    });
    let tail_ok = tail.is_empty() || tail.starts_with(['T', 'Z', '+', '-']);
    if !shape || !tail_ok {
        return None;
    }
    let y: i32 = head.get(0..4)?.parse().ok()?;
    let m: u32 = head.get(5..7)?.parse().ok()?;
    let d: u32 = head.get(8..10)?.parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Reads the date in `Dt` or `DtTm` below `node`; `Ok(None)` when neither is there.
fn date_below(
    tree: &Tree<'_>,
    node: usize,
    field: &str,
    what: &str,
) -> Result<Option<NaiveDate>, FieldProblem> {
    let text = tree
        .text(node, &["Dt"])
        .map(|t| (t, "Dt"))
        .or_else(|| tree.text(node, &["DtTm"]).map(|t| (t, "DtTm")));
    match text {
        None => Ok(None),
        Some((t, el)) => parse_date(&t).map(Some).ok_or_else(|| {
            problem(
                &format!("{field}/{el}"),
                format!(
                    "{what} \"{t}\" is not a valid date (expected YYYY-MM-DD, e.g. 2024-01-31)"
                ),
            )
        }),
    }
}

/// Reads an `Amt` element with its `Ccy`: (amount, currency).
fn read_amount(
    tree: &Tree<'_>,
    amt: usize,
    field: &str,
) -> Result<(Decimal, String), FieldProblem> {
    let text = tree.text(amt, &[]).unwrap_or_default();
    let amount = parse_amount(&text).ok_or_else(|| {
        problem(
            field,
            format!(
                "amount \"{text}\" is not a decimal number with a decimal point (expected e.g. 1234.56)"
            ),
        )
    })?;
    let ccy = tree.ccy(amt).unwrap_or("");
    if ccy.is_empty() {
        return Err(problem(
            &format!("{field}@Ccy"),
            "amount has no Ccy attribute (expected e.g. Ccy=\"EUR\")".to_string(),
        ));
    }
    if !is_currency(ccy) {
        return Err(problem(&format!("{field}@Ccy"), currency_reason(ccy)));
    }
    Ok((amount, ccy.to_string()))
}

/// Reads `CdtDbtInd` below `node`: `Ok(None)` when absent, +1 / −1 otherwise.
fn read_sign(tree: &Tree<'_>, node: usize, field: &str) -> Result<Option<Decimal>, FieldProblem> {
    match tree.text(node, &["CdtDbtInd"]).as_deref() {
        None => Ok(None),
        Some("CRDT") => Ok(Some(Decimal::ONE)),
        Some("DBIT") => Ok(Some(Decimal::NEGATIVE_ONE)),
        Some(other) => Err(problem(
            &format!("{field}/CdtDbtInd"),
            format!("CdtDbtInd \"{other}\" is not CRDT or DBIT"),
        )),
    }
}

fn read_balance(tree: &Tree<'_>, bal: usize) -> Result<BalanceMark, FieldProblem> {
    let amt = tree
        .path(bal, &["Amt"])
        .ok_or_else(|| problem("Bal/Amt", "balance has no Amt element".to_string()))?;
    let (amount, currency) = read_amount(tree, amt, "Bal/Amt")?;
    let sign = read_sign(tree, bal, "Bal")?.ok_or_else(|| {
        problem(
            "Bal/CdtDbtInd",
            "balance has no CdtDbtInd (expected CRDT or DBIT)".to_string(),
        )
    })?;
    let dt = tree
        .path(bal, &["Dt"])
        .ok_or_else(|| problem("Bal/Dt", "balance has no Dt element".to_string()))?;
    let date = date_below(tree, dt, "Bal/Dt", "balance date")?
        .ok_or_else(|| problem("Bal/Dt", "balance has no Dt/Dt or Dt/DtTm date".to_string()))?;
    Ok(BalanceMark {
        date,
        amount: sign * amount,
        currency,
        line: tree.line(bal),
    })
}

fn bank_tx_code(tree: &Tree<'_>, node: usize) -> Option<String> {
    let b = tree.path(node, &["BkTxCd"])?;
    let domain = tree.text(b, &["Domn", "Cd"]);
    let family = tree.text(b, &["Domn", "Fmly", "Cd"]);
    let sub = tree.text(b, &["Domn", "Fmly", "SubFmlyCd"]);
    let parts: Vec<String> = [domain, family, sub].into_iter().flatten().collect();
    if parts.is_empty() {
        tree.text(b, &["Prtry", "Cd"])
    } else {
        Some(parts.join("/"))
    }
}

fn party_account(tree: &Tree<'_>, acct: usize) -> Option<String> {
    tree.text(acct, &["Id", "IBAN"])
        .or_else(|| tree.text(acct, &["Id", "Othr", "Id"]))
}

/// Statement-level facts an entry needs.
struct StmtContext {
    index: usize,
    line: u32,
    has_account: bool,
}

fn read_statement(tree: &Tree<'_>, s: usize, file: &mut ParsedFile) {
    let index = file.statements.len();
    let line = tree.line(s);
    let mut records: Vec<(u32, Outcome)> = Vec::new();
    let entries: Vec<usize> = tree.named(s, "Ntry").collect();
    let header_raw = {
        let start = tree.nodes.get(s).map_or(0, |n| n.start);
        let end = entries
            .first()
            .and_then(|&e| tree.nodes.get(e))
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
        statement_id: tree.text(s, &["Id"]),
        ..ParsedStatement::default()
    };
    let acct = tree.path(s, &["Acct"]);
    let iban = acct.and_then(|a| tree.text(a, &["Id", "IBAN"]));
    let other = acct.and_then(|a| tree.text(a, &["Id", "Othr", "Id"]));
    let has_account = iban.is_some() || other.is_some();
    if let Some(i) = &iban {
        stmt.account_raw = i.clone();
        stmt.iban = Some(
            i.chars()
                .filter(|c| !c.is_whitespace())
                .collect::<String>()
                .to_ascii_uppercase(),
        );
    } else if let Some(o) = &other {
        stmt.account_raw = o.clone();
    } else {
        records.push(reject(
            line,
            problem(
                "Acct/Id",
                "statement has no Acct/Id/IBAN or Acct/Id/Othr/Id account identification"
                    .to_string(),
            ),
            header_raw.clone(),
        ));
    }
    if let Some(a) = acct {
        if let Some(c) = tree.text(a, &["Ccy"]) {
            if is_currency(&c) {
                stmt.currency = Some(c);
            } else {
                let at = tree.path(a, &["Ccy"]).map_or(line, |n| tree.line(n));
                records.push(reject(
                    at,
                    problem("Acct/Ccy", currency_reason(&c)),
                    header_raw.clone(),
                ));
            }
        }
    }
    if let Some(p) = tree.path(s, &["FrToDt"]) {
        let from = tree
            .text(p, &["FrDtTm"])
            .or_else(|| tree.text(p, &["FrDt"]));
        let to = tree
            .text(p, &["ToDtTm"])
            .or_else(|| tree.text(p, &["ToDt"]));
        let from_date = from.as_deref().and_then(parse_date);
        let to_date = to.as_deref().and_then(parse_date);
        match (from_date, to_date) {
            (Some(f), Some(t)) => stmt.period = Some((f, t)),
            _ => records.push(reject(
                tree.line(p),
                problem(
                    "FrToDt",
                    format!(
                        "period from \"{}\" to \"{}\" is not two valid dates (expected e.g. 2024-01-01T00:00:00 to 2024-01-31T23:59:59)",
                        from.unwrap_or_default(),
                        to.unwrap_or_default()
                    ),
                ),
                tree.raw(p),
            )),
        }
    }
    let mut prcd: Option<BalanceMark> = None;
    for bal in tree.named(s, "Bal") {
        let code = tree
            .text(bal, &["Tp", "CdOrPrtry", "Cd"])
            .or_else(|| tree.text(bal, &["Tp", "CdOrPrtry", "Prtry"]))
            .unwrap_or_default();
        if !matches!(code.as_str(), "OPBD" | "PRCD" | "CLBD") {
            continue;
        }
        match read_balance(tree, bal) {
            Ok(mark) => match code.as_str() {
                "OPBD" => stmt.opening = Some(mark),
                "PRCD" => prcd = Some(mark),
                _ => stmt.closing = Some(mark),
            },
            Err(p) => records.push(reject(tree.line(bal), p, tree.raw(bal))),
        }
    }
    if stmt.opening.is_none() {
        stmt.opening = prcd;
    }

    let ctx = StmtContext {
        index,
        line,
        has_account,
    };
    for ntry in entries {
        let at = tree.line(ntry);
        match read_entry(tree, ntry, &ctx) {
            Ok(list) => records.extend(list.into_iter().map(|e| (at, Outcome::Entry(e)))),
            Err(NotEntry::Rejected(p)) => records.push((at, Outcome::Rejected(p))),
            Err(NotEntry::Skipped(p)) => records.push((at, Outcome::Skipped(p))),
        }
    }
    records.sort_by_key(|(l, _)| *l);
    file.statements.push(stmt);
    file.outcomes.extend(records.into_iter().map(|(_, o)| o));
}

/// Why an `Ntry` gave no entries.
enum NotEntry {
    Rejected(RecordProblem),
    Skipped(RecordProblem),
}

/// One `TxDtls` read far enough to check the sum.
struct Tx {
    node: usize,
    amount: Option<(Decimal, String)>,
    sign: Option<Decimal>,
}

fn read_entry(
    tree: &Tree<'_>,
    ntry: usize,
    ctx: &StmtContext,
) -> Result<Vec<ParsedEntry>, NotEntry> {
    let line = tree.line(ntry);
    let raw = tree.raw(ntry);
    let problem_at = |(field, reason): FieldProblem| RecordProblem {
        line,
        field,
        reason,
        raw: raw.clone(),
    };
    let rejected = |p: FieldProblem| NotEntry::Rejected(problem_at(p));

    let status = tree
        .text(ntry, &["Sts", "Cd"])
        .or_else(|| tree.text(ntry, &["Sts", "Prtry"]))
        .or_else(|| tree.text(ntry, &["Sts"]));
    match status.as_deref() {
        Some("BOOK") => {}
        Some(code @ ("PDNG" | "INFO" | "FUTR")) => {
            let kind = match code {
                "PDNG" => "pending",
                "INFO" => "information-only",
                _ => "future",
            };
            return Err(NotEntry::Skipped(problem_at(problem(
                "Ntry/Sts",
                format!("{kind} entry (status {code}) is not booked"),
            ))));
        }
        Some(other) => {
            return Err(rejected(problem(
                "Ntry/Sts",
                format!("status \"{other}\" is not BOOK, PDNG, INFO or FUTR"),
            )))
        }
        None => {
            return Err(rejected(problem(
                "Ntry/Sts",
                "entry has no Sts status (expected BOOK, PDNG or INFO)".to_string(),
            )))
        }
    }
    if !ctx.has_account {
        return Err(rejected(problem(
            "Acct/Id",
            format!(
                "the statement starting at line {} has no account identification, so this entry cannot be attributed to an account",
                ctx.line
            ),
        )));
    }
    let amt = tree
        .path(ntry, &["Amt"])
        .ok_or_else(|| rejected(problem("Ntry/Amt", "entry has no Amt element".to_string())))?;
    let (amount, currency) = read_amount(tree, amt, "Ntry/Amt").map_err(rejected)?;
    let sign = read_sign(tree, ntry, "Ntry")
        .map_err(rejected)?
        .ok_or_else(|| {
            rejected(problem(
                "Ntry/CdtDbtInd",
                "entry has no CdtDbtInd (expected CRDT or DBIT)".to_string(),
            ))
        })?;
    let reversal = match tree.text(ntry, &["RvslInd"]).as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(rejected(problem(
                "Ntry/RvslInd",
                format!("RvslInd \"{other}\" is not true or false"),
            )))
        }
    };
    let booking_date = match tree.path(ntry, &["BookgDt"]) {
        None => None,
        Some(b) => date_below(tree, b, "Ntry/BookgDt", "booking date").map_err(rejected)?,
    }
    .ok_or_else(|| {
        rejected(problem(
            "Ntry/BookgDt",
            "entry has no BookgDt/Dt or BookgDt/DtTm booking date".to_string(),
        ))
    })?;
    let value_date = match tree.path(ntry, &["ValDt"]) {
        None => None,
        Some(v) => date_below(tree, v, "Ntry/ValDt", "value date").map_err(rejected)?,
    };
    let entry_ref = tree.text(ntry, &["AcctSvcrRef"]);
    let entry_code = bank_tx_code(tree, ntry);
    let entry_info = tree.text(ntry, &["AddtlNtryInf"]);
    let signed = sign * amount;

    let mut txs: Vec<Tx> = Vec::new();
    for details in tree.named(ntry, "NtryDtls") {
        for tx in tree.named(details, "TxDtls") {
            let amt_node = tree
                .path(tx, &["Amt"])
                .or_else(|| tree.path(tx, &["AmtDtls", "TxAmt", "Amt"]));
            let amount = match amt_node {
                None => None,
                Some(a) => Some(read_amount(tree, a, "TxDtls/Amt").map_err(rejected)?),
            };
            let sign = read_sign(tree, tx, "TxDtls").map_err(rejected)?;
            txs.push(Tx {
                node: tx,
                amount,
                sign,
            });
        }
    }

    let base = ParsedEntry {
        line,
        sub: 0,
        statement: ctx.index,
        booking_date,
        value_date,
        amount: signed,
        currency: currency.clone(),
        type_code: entry_code.clone(),
        reversal,
        counterparty_name: None,
        counterparty_account: None,
        reference: entry_ref.clone(),
        description: entry_info.clone().unwrap_or_default(),
        balance: None,
    };
    if txs.is_empty() {
        return Ok(vec![base]);
    }

    let count = txs.len();
    let mut amounts: Vec<Decimal> = Vec::with_capacity(count);
    for (i, tx) in txs.iter().enumerate() {
        let tx_sign = tx.sign.unwrap_or(sign);
        let value = match &tx.amount {
            Some((a, c)) => {
                if *c != currency {
                    return Err(rejected(problem(
                        "TxDtls/Amt@Ccy",
                        format!(
                            "TxDtls {} of {count} is in {c} but the entry is in {currency}",
                            i + 1
                        ),
                    )));
                }
                tx_sign * *a
            }
            None if count == 1 => signed,
            None => {
                return Err(rejected(problem(
                    "TxDtls/Amt",
                    format!(
                        "TxDtls {} of {count} has no Amt or AmtDtls/TxAmt/Amt, so the batch cannot be split",
                        i + 1
                    ),
                )))
            }
        };
        amounts.push(value);
    }
    let total = amounts
        .iter()
        .try_fold(Decimal::ZERO, |acc, a| acc.checked_add(*a));
    let Some(total) = total else {
        return Err(rejected(problem(
            "TxDtls/Amt",
            format!("the {count} TxDtls amounts are too large to add up"),
        )));
    };
    if total != signed {
        return Err(rejected(problem(
            "TxDtls/Amt",
            format!(
                "the {count} TxDtls amounts sum to {total} {currency} but the entry amount is {signed} {currency}"
            ),
        )));
    }

    let mut out = Vec::with_capacity(count);
    for (i, (tx, value)) in txs.iter().zip(amounts).enumerate() {
        let node = tx.node;
        let (party, party_acct) = if value >= Decimal::ZERO {
            ("Dbtr", "DbtrAcct")
        } else {
            ("Cdtr", "CdtrAcct")
        };
        let name = tree
            .text(node, &["RltdPties", party, "Nm"])
            .or_else(|| tree.text(node, &["RltdPties", party, "Pty", "Nm"]));
        let account = tree
            .path(node, &["RltdPties", party_acct])
            .and_then(|a| party_account(tree, a));
        let ustrd: Vec<String> = tree
            .path(node, &["RmtInf"])
            .map(|r| {
                tree.named(r, "Ustrd")
                    .filter_map(|u| tree.text(u, &[]))
                    .collect()
            })
            .unwrap_or_default();
        let description = if !ustrd.is_empty() {
            ustrd.join(" ")
        } else {
            tree.text(node, &["AddtlTxInf"])
                .or_else(|| entry_info.clone())
                .unwrap_or_default()
        };
        let reference = tree
            .text(node, &["Refs", "EndToEndId"])
            .filter(|r| r != "NOTPROVIDED")
            .or_else(|| tree.text(node, &["Refs", "AcctSvcrRef"]))
            .or_else(|| entry_ref.clone());
        out.push(ParsedEntry {
            sub: if count == 1 { 0 } else { to_u32(i + 1) },
            amount: value,
            type_code: bank_tx_code(tree, node).or_else(|| entry_code.clone()),
            counterparty_name: name,
            counterparty_account: account,
            reference,
            description,
            ..base.clone()
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    const V02: &str = include_str!("../../fixtures/formats/camt/camt053_v02_multi.xml");
    const V08: &str = include_str!("../../fixtures/formats/camt/camt053_v08.xml");
    const R052: &str = include_str!("../../fixtures/formats/camt/camt052_v04.xml");
    const TRUNCATED: &str = include_str!("../../fixtures/formats/camt/truncated.xml");
    const DOCTYPE: &str = include_str!("../../fixtures/formats/camt/doctype_entity.xml");
    const BROKEN: &str = include_str!("../../fixtures/formats/camt/broken_entries.xml");

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

    fn problems(file: &ParsedFile, want_skipped: bool) -> Vec<&RecordProblem> {
        file.outcomes
            .iter()
            .filter_map(|o| match (o, want_skipped) {
                (Outcome::Rejected(p), false) | (Outcome::Skipped(p), true) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn balance(b: &Option<BalanceMark>) -> (NaiveDate, Decimal, &str, u32) {
        let b = b.as_ref().unwrap();
        (b.date, b.amount, b.currency.as_str(), b.line)
    }

    fn assert_reconciles(f: &ParsedFile) {
        for (i, s) in f.statements.iter().enumerate() {
            let sum: Decimal = entries(f)
                .iter()
                .filter(|e| e.statement == i)
                .map(|e| e.amount)
                .sum();
            let opening = s.opening.as_ref().unwrap().amount;
            assert_eq!(
                opening + sum,
                s.closing.as_ref().unwrap().amount,
                "statement {i}"
            );
        }
    }

    type Row<'a> = (
        u32,
        u32,
        usize,
        NaiveDate,
        Option<NaiveDate>,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
    );

    fn assert_rows(f: &ParsedFile, rows: &[Row<'_>]) {
        let e = entries(f);
        assert_eq!(e.len(), rows.len());
        for (got, want) in e.iter().zip(rows) {
            let at = format!("line {} sub {}", want.0, want.1);
            assert_eq!((got.line, got.sub), (want.0, want.1), "{at}");
            assert_eq!(got.statement, want.2, "{at}");
            assert_eq!(got.booking_date, want.3, "{at}");
            assert_eq!(got.value_date, want.4, "{at}");
            assert_eq!(got.amount, d(want.5), "{at}");
            assert_eq!(got.currency, "EUR", "{at}");
            assert_eq!(got.counterparty_name.as_deref(), want.6, "{at}");
            assert_eq!(got.counterparty_account.as_deref(), want.7, "{at}");
        }
    }

    #[test]
    fn v02_multi_statement() {
        let f = parse(V02).unwrap();
        assert_eq!(f.statements.len(), 2);
        let a = &f.statements[0];
        assert_eq!(a.line, 8);
        assert_eq!(a.statement_id.as_deref(), Some("STMT-2024-01-A"));
        assert_eq!(a.account_raw, "DE89370400440532013000");
        assert_eq!(a.iban.as_deref(), Some("DE89370400440532013000"));
        assert_eq!(a.currency.as_deref(), Some("EUR"));
        assert_eq!(a.period, Some((date(2024, 1, 1), date(2024, 1, 31))));
        assert_eq!(
            balance(&a.opening),
            (date(2023, 12, 31), d("2500.00"), "EUR", 25)
        );
        assert_eq!(
            balance(&a.closing),
            (date(2024, 1, 31), d("2200.00"), "EUR", 31)
        );
        let b = &f.statements[1];
        assert_eq!(b.line, 152);
        assert_eq!(b.account_raw, "0099887766");
        assert_eq!(b.iban, None);
        assert_eq!(b.period, None);
        // PRCD stands in for the missing OPBD; a debit balance is negative.
        assert_eq!(
            balance(&b.opening),
            (date(2023, 12, 31), d("-120.00"), "EUR", 158)
        );
        assert_eq!(
            balance(&b.closing),
            (date(2024, 1, 31), d("350.00"), "EUR", 164)
        );

        // 5 Ntry + 2 Ntry; the batch of 3 gives 3 rows, the PDNG one is skipped.
        assert_eq!(entries(&f).len(), 8);
        assert!(problems(&f, false).is_empty());
        let skipped = problems(&f, true);
        assert_eq!(skipped.len(), 1);
        assert_eq!(f.outcomes.len(), 9);
        assert_eq!(skipped[0].line, 134);
        assert_eq!(
            skipped[0].reason,
            "pending entry (status PDNG) is not booked"
        );
        assert!(skipped[0].raw.starts_with("<Ntry>") && skipped[0].raw.ends_with("</Ntry>"));
        assert!(skipped[0].raw.contains("Vorgemerkte Gutschrift"));

        assert_rows(
            &f,
            &[
                (
                    43,
                    0,
                    0,
                    date(2024, 1, 5),
                    Some(date(2024, 1, 5)),
                    "1200.00",
                    Some("Fiktiv Logistik AG"),
                    Some("DE46100500001234567890"),
                ),
                (
                    71,
                    0,
                    0,
                    date(2024, 1, 10),
                    Some(date(2024, 1, 10)),
                    "-89.90",
                    Some("Stadtwerke Musterstadt"),
                    Some("STW-445566"),
                ),
                (
                    90,
                    1,
                    0,
                    date(2024, 1, 15),
                    Some(date(2024, 1, 15)),
                    "-400.00",
                    Some("Erika Musterfrau"),
                    Some("DE18120300000012345678"),
                ),
                (
                    90,
                    2,
                    0,
                    date(2024, 1, 15),
                    Some(date(2024, 1, 15)),
                    "-350.50",
                    Some("Autohaus Fiktiv GmbH"),
                    Some("DE84760100850009876543"),
                ),
                (
                    90,
                    3,
                    0,
                    date(2024, 1, 15),
                    Some(date(2024, 1, 15)),
                    "-749.50",
                    Some("Juwelier Goldglanz"),
                    Some("DE12500105170648489890"),
                ),
                (
                    141,
                    0,
                    0,
                    date(2024, 1, 17),
                    Some(date(2024, 1, 10)),
                    "89.90",
                    None,
                    None,
                ),
                (
                    170,
                    0,
                    1,
                    date(2024, 1, 15),
                    Some(date(2024, 1, 16)),
                    "-30.00",
                    Some("Tankstelle am Ring"),
                    None,
                ),
                (
                    185,
                    0,
                    1,
                    date(2024, 1, 20),
                    None,
                    "500.00",
                    Some("Bernd Fiktivus"),
                    Some("DE12 5001 0517 0648 4898 90"),
                ),
            ],
        );
        let e = entries(&f);
        assert_eq!(e[0].type_code.as_deref(), Some("PMNT/RCDT/ESCT"));
        assert_eq!(e[0].reference.as_deref(), Some("LOHN-2024-01"));
        assert_eq!(e[0].description, "Lohn Januar 2024 Personalnr. 4711");
        assert_eq!(e[1].type_code.as_deref(), Some("NDDT+105+00931"));
        assert_eq!(e[1].reference.as_deref(), Some("FK2401100002"));
        assert_eq!(e[2].reference.as_deref(), Some("BATCH-1"));
        assert_eq!(e[2].description, "Miete Januar");
        assert_eq!(e[3].description, "Rate 7 von 24");
        assert_eq!(e[4].description, "Sammelueberweisung 3 Posten");
        assert_eq!(e[4].reference.as_deref(), Some("FK2401150003-3"));
        assert_eq!(e[4].type_code.as_deref(), Some("PMNT/ICDT/ESCT"));
        assert!(e[5].reversal);
        assert!(!e[4].reversal);
        assert_eq!(e[5].description, "Ruecklastschrift Stadtwerke");
        assert_eq!(e[5].reference.as_deref(), Some("FK2401170004"));
        assert_eq!(e[6].description, "Kartenzahlung Tankstelle");
        assert_eq!(e[6].reference, None);
        assert_reconciles(&f);
    }

    #[test]
    fn v08_statement() {
        let f = parse(V08).unwrap();
        assert_eq!(f.statements.len(), 1);
        let s = &f.statements[0];
        assert_eq!(s.iban.as_deref(), Some("NL91ABNA0417164300"));
        assert_eq!(s.period, Some((date(2024, 3, 1), date(2024, 3, 1))));
        assert_eq!(
            balance(&s.opening),
            (date(2024, 2, 29), d("100.00"), "EUR", 18)
        );
        assert_eq!(
            balance(&s.closing),
            (date(2024, 3, 1), d("2800.00"), "EUR", 24)
        );
        let skipped = problems(&f, true);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].line, 75);
        assert_eq!(
            skipped[0].reason,
            "information-only entry (status INFO) is not booked"
        );
        assert!(problems(&f, false).is_empty());
        // 3 rows from the batch, 2 single entries, 1 skipped.
        assert_eq!(f.outcomes.len(), 6);
        assert_rows(
            &f,
            &[
                (
                    30,
                    1,
                    0,
                    date(2024, 3, 1),
                    Some(date(2024, 3, 1)),
                    "1000.00",
                    Some("Noordwind Handel B.V."),
                    Some("NL62TEST0987654321"),
                ),
                (
                    30,
                    2,
                    0,
                    date(2024, 3, 1),
                    Some(date(2024, 3, 1)),
                    "2000.00",
                    Some("Zuidkust Import"),
                    Some("NL66FAKE0123456789"),
                ),
                (
                    30,
                    3,
                    0,
                    date(2024, 3, 1),
                    Some(date(2024, 3, 1)),
                    "-250.00",
                    Some("Fiktiv Clearing Services"),
                    None,
                ),
                (
                    82,
                    0,
                    0,
                    date(2024, 3, 1),
                    Some(date(2024, 3, 1)),
                    "-45.00",
                    Some("Meier & Söhne KG <Werkstatt>"),
                    Some("DE46100500001234567890"),
                ),
                (101, 0, 0, date(2024, 3, 1), None, "-5.00", None, None),
            ],
        );
        let e = entries(&f);
        assert_eq!(e[0].type_code.as_deref(), Some("PMNT/RCDT/BOOK"));
        assert_eq!(e[2].type_code.as_deref(), Some("ACMT/MDOP/CHRG"));
        assert_eq!(e[2].description, "Incassokosten");
        assert_eq!(e[2].reference.as_deref(), Some("V08-0001-FEE"));
        assert_eq!(e[3].description, "Reparatur & Wartung");
        assert_eq!(e[3].reference.as_deref(), Some("KASSE-77"));
        assert_eq!(e[4].description, "Kontofuehrungsgebuehr Maerz");
        assert_eq!(e[4].reference, None);
        assert_reconciles(&f);
    }

    #[test]
    fn camt052_report_with_prefixes() {
        let f = parse(R052).unwrap();
        assert_eq!(f.statements.len(), 1);
        let s = &f.statements[0];
        assert_eq!(s.line, 5);
        assert_eq!(s.statement_id.as_deref(), Some("RPT-20240410-1200-1"));
        assert_eq!(s.iban.as_deref(), Some("FR7630006000011234567890189"));
        assert_eq!(
            balance(&s.opening),
            (date(2024, 4, 10), d("0.00"), "EUR", 11)
        );
        assert_eq!(
            balance(&s.closing),
            (date(2024, 4, 10), d("-64.75"), "EUR", 23)
        );
        assert_eq!(f.outcomes.len(), 2);
        assert_rows(
            &f,
            &[(
                29,
                0,
                0,
                date(2024, 4, 10),
                Some(date(2024, 4, 9)),
                "-64.75",
                Some("Librairie du Quai Fictif"),
                None,
            )],
        );
        assert_eq!(entries(&f)[0].type_code.as_deref(), Some("PMNT/CCRD/POSD"));
        assert_eq!(entries(&f)[0].description, "CB 09/04 PARIS");
        let skipped = problems(&f, true);
        assert_eq!(
            (skipped[0].line, skipped[0].field.as_str()),
            (47, "Ntry/Sts")
        );
        assert_eq!(
            skipped[0].reason,
            "pending entry (status PDNG) is not booked"
        );
        assert_reconciles(&f);
    }

    #[test]
    fn broken_entries_every_problem_pinned() {
        let f = parse(BROKEN).unwrap();
        assert_eq!(f.statements.len(), 2);
        assert_eq!(f.statements[0].account_raw, "");
        assert_eq!(f.statements[1].currency, None);
        assert_eq!(f.statements[1].opening, None);
        assert_eq!(
            f.statements[1].closing.as_ref().unwrap().amount,
            d("1007.00")
        );
        let r = problems(&f, false);
        let expected: [(u32, &str, &str); 12] = [
            (4, "Acct/Id", "statement has no Acct/Id/IBAN or Acct/Id/Othr/Id"),
            (7, "Acct/Id", "the statement starting at line 4 has no account identification"),
            (18, "Acct/Ccy", "currency \"eur\" is not three upper-case letters"),
            (20, "Bal/Amt", "amount \"1.000,00\" is not a decimal number with a decimal point"),
            (32, "Ntry/Amt", "entry has no Amt element"),
            (37, "Ntry/CdtDbtInd", "entry has no CdtDbtInd"),
            (42, "Ntry/BookgDt", "entry has no BookgDt/Dt or BookgDt/DtTm booking date"),
            (48, "Ntry/Amt", "amount \"12,50\" is not a decimal number with a decimal point (expected e.g. 1234.56)"),
            (54, "Ntry/BookgDt/Dt", "booking date \"2024-02-30\" is not a valid date"),
            (60, "Ntry/Amt@Ccy", "currency \"Eur\" is not three upper-case letters"),
            (66, "TxDtls/Amt", "the 2 TxDtls amounts sum to 90.00 EUR but the entry amount is 100.00 EUR"),
            (76, "Ntry/Sts", "status \"XXXX\" is not BOOK, PDNG, INFO or FUTR"),
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
        assert!(r[0].raw.starts_with("<Stmt>") && r[0].raw.ends_with("</Acct>"));
        assert!(r[3].raw.starts_with("<Bal>") && r[3].raw.ends_with("</Bal>"));
        let e = entries(&f);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].line, e[0].amount), (82, d("7.00")));
        assert_eq!(e[0].description, "Gueltige Buchung");
        assert_eq!(f.outcomes.len(), 13);
    }

    #[test]
    fn truncated_file_is_a_format_error_at_the_cut() {
        let err = parse(TRUNCATED).unwrap_err();
        assert_eq!(err.line, 78);
        assert!(
            err.message.contains("ends inside <Ntry> opened at line 71")
                && err.message.contains("truncated"),
            "{}",
            err.message
        );
        // Cut in the middle of a tag: quick-xml's own error, still with the line.
        let cut = &V02[..V02.find("<Amt Ccy=\"EUR\">89.90").unwrap() + 9];
        let err = parse(cut).unwrap_err();
        assert_eq!(err.line, 72);
    }

    #[test]
    fn doctype_with_entities_is_refused() {
        let err = parse(DOCTYPE).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("DTDs are refused"), "{}", err.message);
        // An undeclared entity is refused too.
        let undeclared = V08.replace("&amp;", "&payee;");
        let err = parse(&undeclared).unwrap_err();
        assert_eq!(err.line, 94);
        assert!(err.message.contains("&payee;"), "{}", err.message);
    }

    #[test]
    fn not_camt_is_a_format_error() {
        assert!(parse("Datum;Betrag\n01.01.2024;12,00\n")
            .unwrap_err()
            .message
            .contains("no XML element"));
        let err = parse("<?xml version=\"1.0\"?>\n<Document><pain/></Document>").unwrap_err();
        assert!(err.message.contains("no BkToCstmrStmt or BkToCstmrAcctRpt"));
        let err =
            parse("<Document>\n<BkToCstmrStmt><GrpHdr/></BkToCstmrStmt></Document>").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("holds no Stmt"));
        let err =
            parse("<Document>\n<BkToCstmrStmt>\n</Stmt></BkToCstmrStmt></Document>").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(parse("").is_err());
    }

    #[test]
    fn nesting_deeper_than_64_is_refused() {
        let nested = |depth: usize| {
            format!(
                "<Document><BkToCstmrStmt><Stmt>{}{}</Stmt></BkToCstmrStmt></Document>",
                "<X>".repeat(depth - 3),
                "</X>".repeat(depth - 3)
            )
        };
        // 64 levels are read (the `X` elements are ignored), 65 are not.
        let f = parse(&nested(64)).unwrap();
        assert_eq!(f.statements.len(), 1);
        let err = parse(&nested(65)).unwrap_err();
        assert!(
            err.message.contains("nested more than 64 deep"),
            "{}",
            err.message
        );
    }

    #[test]
    fn huge_amounts_are_rejected_not_panics() {
        let big = "79228162514264337593543950335";
        let doc = format!(
            "<Document><BkToCstmrStmt><Stmt><Acct><Id><IBAN>X</IBAN></Id></Acct>\n\
             <Ntry><Amt Ccy=\"EUR\">{big}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>\
             <BookgDt><Dt>2024-01-01</Dt></BookgDt><NtryDtls>\
             <TxDtls><Amt Ccy=\"EUR\">{big}</Amt></TxDtls><TxDtls><Amt Ccy=\"EUR\">{big}</Amt></TxDtls>\
             </NtryDtls></Ntry>\n\
             <Ntry><Amt Ccy=\"EUR\">792281625142643375935439503350</Amt><CdtDbtInd>CRDT</CdtDbtInd>\
             <Sts>BOOK</Sts><BookgDt><Dt>2024-01-01</Dt></BookgDt></Ntry>\n\
             <Ntry><Amt Ccy=\"EUR\">0.12345678901234567890123456789</Amt><CdtDbtInd>CRDT</CdtDbtInd>\
             <Sts>BOOK</Sts><BookgDt><Dt>2024-01-01</Dt></BookgDt></Ntry>\n\
             </Stmt></BkToCstmrStmt></Document>"
        );
        let f = parse(&doc).unwrap();
        let r = problems(&f, false);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].line, 2);
        assert!(
            r[0].reason.contains("too large to add up"),
            "{}",
            r[0].reason
        );
        // Beyond 28 significant digits is not rounded: it is refused.
        assert_eq!((r[1].line, r[1].field.as_str()), (3, "Ntry/Amt"));
        assert_eq!((r[2].line, r[2].field.as_str()), (4, "Ntry/Amt"));
    }

    #[test]
    fn never_panics_on_cut_or_mangled_input() {
        for text in [V02, V08, R052, BROKEN] {
            for (i, _) in text.char_indices().step_by(3) {
                let _ = parse(&text[..i]);
                let mut mangled = text.to_string();
                mangled.insert(i, '<');
                let _ = parse(&mangled);
            }
        }
    }
}
