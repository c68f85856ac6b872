//! Small reference CSV files written by the investigator (rates, period balances): a fixed
//! header, every physical line numbered from 1, blank lines and `#` comment lines allowed,
//! and each problem reported with its line and field.

/// One data line of a reference file: its 1-based line number and trimmed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefRecord {
    pub line: u32,
    pub fields: Vec<String>,
}

/// A problem at a line of a reference file; `field` is empty when the line as a whole is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefProblem {
    pub line: u32,
    pub field: String,
    pub problem: String,
}

/// Read `text` as a CSV whose first non-blank, non-comment line is exactly `header`.
pub(crate) fn read(text: &str, header: &[&str]) -> Result<Vec<RefRecord>, RefProblem> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut header_seen = false;
    let mut out = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let fields = split(raw).map_err(|problem| RefProblem {
            line,
            field: String::new(),
            problem,
        })?;
        if !header_seen {
            let got: Vec<String> = fields
                .iter()
                .map(|f| f.trim().to_ascii_lowercase())
                .collect();
            if got != header {
                return Err(RefProblem {
                    line,
                    field: "header".into(),
                    problem: format!("is {raw:?}; expected the header `{}`", header.join(",")),
                });
            }
            header_seen = true;
            continue;
        }
        if fields.len() != header.len() {
            return Err(RefProblem {
                line,
                field: String::new(),
                problem: format!(
                    "has {} fields; expected {} ({})",
                    fields.len(),
                    header.len(),
                    header.join(",")
                ),
            });
        }
        out.push(RefRecord {
            line,
            fields: fields.into_iter().map(|f| f.trim().to_string()).collect(),
        });
    }
    if !header_seen {
        return Err(RefProblem {
            line: 1,
            field: "header".into(),
            problem: format!(
                "the file has no header; expected the header `{}`",
                header.join(",")
            ),
        });
    }
    Ok(out)
}

fn split(raw: &str) -> Result<Vec<String>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(raw.as_bytes());
    match reader.records().next() {
        Some(Ok(rec)) => Ok(rec.iter().map(str::to_string).collect()),
        Some(Err(e)) => Err(format!("cannot be read as CSV: {e}")),
        None => Ok(Vec::new()),
    }
}

/// `YYYY-MM-DD`, exactly ten characters, a real calendar date.
pub(crate) fn iso_date(s: &str) -> Option<chrono::NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A plain decimal: optional `-`, digits, optional `.` and at most `max_places` digits.
/// No thousands separators, currency symbols or exponents: reference files are typed, not
/// exported, and a strict reading catches a wrong column.
pub(crate) fn plain_decimal(
    s: &str,
    max_places: u32,
    allow_negative: bool,
) -> Result<rust_decimal::Decimal, String> {
    let body = match s.strip_prefix('-') {
        Some(rest) if allow_negative => rest,
        Some(_) => return Err(format!("{s:?} is negative; expected a positive number")),
        None => s,
    };
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits_ok = !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()));
    if !digits_ok {
        return Err(format!(
            "{s:?} is not a plain decimal number (expected digits with an optional decimal point, e.g. 0.8541, with no separators or symbols)"
        ));
    }
    if int.len() > 16 {
        return Err(format!(
            "{s:?} has more than 16 digits before the decimal point"
        ));
    }
    let places = frac.map_or(0, str::len) as u32;
    if places > max_places {
        return Err(format!(
            "{s:?} has {places} decimal places; at most {max_places} are kept, and a value is never rounded on reading"
        ));
    }
    s.parse::<rust_decimal::Decimal>()
        .map_err(|e| format!("{s:?} is not a number: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_physical_lines() {
        let text = "\u{feff}# rates from a fictional source\r\ndate,currency,rate\r\n\r\n2024-03-08,EUR,0.8541\r\n";
        let recs = read(text, &["date", "currency", "rate"]).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].line, 4);
        assert_eq!(recs[0].fields, vec!["2024-03-08", "EUR", "0.8541"]);
    }

    #[test]
    fn strict_numbers_and_dates() {
        assert!(iso_date("2024-3-8").is_none());
        assert!(iso_date("2024-02-30").is_none());
        assert!(iso_date("2024-02-29").is_some());
        assert!(plain_decimal("1,234.50", 2, true).is_err());
        assert!(plain_decimal("0.123456789", 8, false).is_err());
        assert!(plain_decimal("-1", 8, false).is_err());
        assert!(plain_decimal("1e3", 8, false).is_err());
        assert_eq!(
            plain_decimal("-12.50", 2, true).unwrap().to_string(),
            "-12.50"
        );
    }
}
