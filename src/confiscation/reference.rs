//! The reference files the schedules read, named in the case's `[reference]` table:
//! `price_index`, `assets`, `gifts` and `legitimate_sources`. Formats are documented in
//! `docs/schedules.md`.
//!
//! Each is a small CSV typed by the investigator: a fixed header, blank lines and lines
//! starting with `#` ignored, every physical line numbered from 1 so each schedule line can
//! cite it, and every problem refused with its file, line and field (never guessed).
//! Money is a plain decimal with at most two places; dates are `YYYY-MM-DD`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::uplift::{Month, PriceIndex};
use super::{ScheduleError, ScheduleOptions};
use crate::case::Case;

/// Header of the assets file (asset register).
pub const ASSETS_HEADER: [&str; 14] = [
    "asset_id",
    "kind",
    "description",
    "holder",
    "market_value",
    "valuation_date",
    "encumbrances",
    "share",
    "acquired",
    "disposed",
    "assumed_benefit",
    "represents",
    "note",
    "exhibit",
];

/// Header of the gifts file.
pub const GIFTS_HEADER: [&str; 9] = [
    "gift_id",
    "date",
    "recipient",
    "description",
    "value",
    "consideration",
    "property_was_benefit",
    "txn_id",
    "exhibit",
];

/// Header of a gifts file that also gives the value now of each property given (s.81(1)(b)).
pub const GIFTS_HEADER_WITH_VALUE_NOW: [&str; 10] = [
    "gift_id",
    "date",
    "recipient",
    "description",
    "value",
    "consideration",
    "property_was_benefit",
    "txn_id",
    "exhibit",
    "value_now",
];

/// Header of the accepted legitimate sources file.
pub const LEGITIMATE_HEADER: [&str; 6] = [
    "match_on",
    "value",
    "from",
    "until",
    "reason",
    "evidence_ref",
];

/// Header of the data lines of the price index file (after `series,` and `vintage,`).
pub const INDEX_HEADER: [&str; 2] = ["month", "index"];

/// Everything the schedules read besides the ledger, loaded from the case's files.
#[derive(Debug, Clone, Default)]
pub struct ReferenceData {
    pub price_index: Option<PriceIndex>,
    pub assets: Vec<AssetLine>,
    pub gifts: Vec<GiftLine>,
    pub legitimate: Vec<LegitimateSource>,
    /// The files read: (role, path as written).
    pub files: Vec<(String, String)>,
    /// The case file's `[schedule]` table.
    pub options: ScheduleOptions,
}

/// What an asset register line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    /// Property the defendant (or another subject) holds.
    Property,
    /// An obligation having priority (s.9(2)): deducted from free property.
    PriorityObligation,
}

impl AssetKind {
    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Property => "property",
            AssetKind::PriorityObligation => "priority_obligation",
        }
    }
}

/// One line of the asset register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetLine {
    pub file: String,
    pub line: u32,
    pub asset_id: String,
    pub kind: AssetKind,
    pub description: String,
    /// Subject id of the holder.
    pub holder: String,
    /// Pence: the market value (property) or the amount owed (priority obligation).
    pub market_value: i64,
    pub valuation_date: NaiveDate,
    /// Pence: charges secured on the property (mortgage outstanding).
    pub encumbrances: i64,
    /// The holder's beneficial share, 0 < share ≤ 1.
    pub share: Decimal,
    /// When the holder first appears to have held it.
    pub acquired: Option<NaiveDate>,
    /// When it left the holder's hands; `None`: still held.
    pub disposed: Option<NaiveDate>,
    /// Pence: the value obtained to be assumed benefit under s.10(3), if any.
    pub assumed_benefit: Option<i64>,
    /// txn_ids of benefit lines this property represents (s.80(2)(b)).
    pub represents: Vec<String>,
    pub note: String,
    pub exhibit: String,
}

/// One line of the gifts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiftLine {
    pub file: String,
    pub line: u32,
    pub gift_id: String,
    pub date: NaiveDate,
    pub recipient: String,
    pub description: String,
    /// Pence: the value of the property given, at the time of the gift.
    pub value: i64,
    /// Pence: what the defendant received for it.
    pub consideration: i64,
    /// The property given was benefit, or represented benefit (s.77(2)(b)).
    pub property_was_benefit: bool,
    /// The ledger row this gift is, if any (it then replaces the transfer found in the ledger).
    pub txn_id: Option<String>,
    pub exhibit: String,
    /// Pence: the value at the valuation date of the property given, or of property that
    /// represents it in the recipient's hands (s.81(1)(b), s.81(2)), if known.
    pub value_now: Option<i64>,
}

/// How a legitimate source is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegitimateMatch {
    /// One ledger row.
    TxnId(String),
    /// Every credit from this counterparty (names compared after normalising both sides).
    Counterparty(String),
}

/// One accepted legitimate source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegitimateSource {
    pub file: String,
    pub line: u32,
    pub matcher: LegitimateMatch,
    /// Only rows booked on or after this day.
    pub from: Option<NaiveDate>,
    /// Only rows booked on or before this day.
    pub until: Option<NaiveDate>,
    pub reason: String,
    pub evidence_ref: String,
}

impl ReferenceData {
    /// Read the case's `price_index`, `assets`, `gifts` and `legitimate_sources` files (each
    /// optional). Subject ids in the asset register are checked against the case.
    pub fn load(case: &Case) -> Result<ReferenceData, ScheduleError> {
        let mut data = ReferenceData {
            options: schedule_options(case)?,
            ..ReferenceData::default()
        };
        for role in ["price_index", "assets", "gifts", "legitimate_sources"] {
            let Some(path) = case.reference_file(role) else {
                continue;
            };
            let text =
                std::fs::read_to_string(&path.resolved).map_err(|e| ScheduleError::Reference {
                    file: path.written.clone(),
                    line: 0,
                    field: String::new(),
                    problem: format!("cannot be read: {e}"),
                })?;
            let file = path.written.as_str();
            match role {
                "price_index" => data.price_index = Some(parse_price_index(file, &text)?),
                "assets" => data.assets = parse_assets(file, &text)?,
                "gifts" => data.gifts = parse_gifts(file, &text)?,
                _ => data.legitimate = parse_legitimate(file, &text)?,
            }
            data.files.push((role.to_string(), path.written.clone()));
        }
        let subjects: Vec<&str> = case.subjects.iter().map(|s| s.id.as_str()).collect();
        for a in &data.assets {
            if !subjects.contains(&a.holder.as_str()) {
                return Err(ScheduleError::Reference {
                    file: a.file.clone(),
                    line: a.line,
                    field: "holder".into(),
                    problem: format!(
                        "is {:?}, which is not a subject id of the case; declared: {}",
                        a.holder,
                        subjects.join(", ")
                    ),
                });
            }
        }
        Ok(data)
    }
}

/// The `[schedule]` table of the case file (checked when the case was loaded; read again
/// here so that the resolved `Case` keeps its shape). An ad-hoc case has none.
fn schedule_options(case: &Case) -> Result<ScheduleOptions, ScheduleError> {
    let is_toml = case
        .path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if !is_toml {
        return Ok(ScheduleOptions::default());
    }
    let bad = |problem: String| ScheduleError::Case {
        key: "schedule".into(),
        problem,
    };
    let text = std::fs::read_to_string(&case.path)
        .map_err(|e| bad(format!("the case file cannot be read again: {e}")))?;
    let value: toml::Table = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    match value.get("schedule") {
        None => Ok(ScheduleOptions::default()),
        Some(v) => v
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.to_string())),
    }
}

/// One data line: its 1-based physical line and trimmed fields.
struct Record {
    line: u32,
    fields: Vec<String>,
}

fn problem(file: &str, line: u32, field: &str, problem: String) -> ScheduleError {
    ScheduleError::Reference {
        file: file.to_string(),
        line,
        field: field.to_string(),
        problem,
    }
}

/// Physical lines that are neither blank nor comments: (line number, text).
fn content_lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.split('\n').enumerate().filter_map(|(i, raw)| {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        (!(raw.trim().is_empty() || raw.trim_start().starts_with('#'))).then_some((line, raw))
    })
}

fn split(file: &str, line: u32, raw: &str) -> Result<Vec<String>, ScheduleError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(raw.as_bytes());
    match reader.records().next() {
        Some(Ok(rec)) => Ok(rec.iter().map(|f| f.trim().to_string()).collect()),
        Some(Err(e)) => Err(problem(
            file,
            line,
            "",
            format!("cannot be read as CSV: {e}"),
        )),
        None => Ok(Vec::new()),
    }
}

/// Read records whose first content line is exactly `header`.
fn read_table<'a>(
    file: &str,
    mut lines: impl Iterator<Item = (u32, &'a str)>,
    header: &[&str],
) -> Result<Vec<Record>, ScheduleError> {
    let Some((line, raw)) = lines.next() else {
        return Err(problem(
            file,
            1,
            "header",
            format!("the file has no header; expected `{}`", header.join(",")),
        ));
    };
    let got: Vec<String> = split(file, line, raw)?
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .collect();
    if got != header {
        return Err(problem(
            file,
            line,
            "header",
            format!("is {raw:?}; expected `{}`", header.join(",")),
        ));
    }
    let mut out = Vec::new();
    for (line, raw) in lines {
        let fields = split(file, line, raw)?;
        if fields.len() != header.len() {
            return Err(problem(
                file,
                line,
                "",
                format!(
                    "has {} fields; expected {} ({})",
                    fields.len(),
                    header.len(),
                    header.join(",")
                ),
            ));
        }
        out.push(Record { line, fields });
    }
    Ok(out)
}

/// `YYYY-MM-DD`, a real calendar date.
pub(crate) fn iso_date(s: &str) -> Option<NaiveDate> {
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
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// A plain non-negative decimal: digits, optional `.` and at most `max_places` digits.
fn plain_decimal(s: &str, max_places: u32) -> Result<Decimal, String> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let ok = !int.is_empty()
        && int.len() <= 16
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()));
    if !ok {
        return Err(format!(
            "{s:?} is not a plain non-negative number (digits with an optional decimal point, e.g. 1250.00, with no separators, signs or symbols)"
        ));
    }
    let places = frac.map_or(0, str::len) as u32;
    if places > max_places {
        return Err(format!(
            "{s:?} has {places} decimal places; at most {max_places} are allowed and a value is never rounded on reading"
        ));
    }
    s.parse::<Decimal>()
        .map_err(|e| format!("{s:?} is not a number: {e}"))
}

/// Money as pence: a plain decimal with at most two places.
fn pence(file: &str, rec: &Record, i: usize, name: &str) -> Result<i64, ScheduleError> {
    let d = plain_decimal(&rec.fields[i], 2).map_err(|p| problem(file, rec.line, name, p))?;
    i64::try_from(crate::money::to_minor_units(d))
        .map_err(|_| problem(file, rec.line, name, "is too large".into()))
}

fn opt_pence(file: &str, rec: &Record, i: usize, name: &str) -> Result<Option<i64>, ScheduleError> {
    if rec.fields[i].is_empty() {
        Ok(None)
    } else {
        pence(file, rec, i, name).map(Some)
    }
}

fn date(file: &str, rec: &Record, i: usize, name: &str) -> Result<NaiveDate, ScheduleError> {
    iso_date(&rec.fields[i]).ok_or_else(|| {
        problem(
            file,
            rec.line,
            name,
            format!(
                "is {:?}; expected a date written YYYY-MM-DD, e.g. 2021-06-11",
                rec.fields[i]
            ),
        )
    })
}

fn opt_date(
    file: &str,
    rec: &Record,
    i: usize,
    name: &str,
) -> Result<Option<NaiveDate>, ScheduleError> {
    if rec.fields[i].is_empty() {
        Ok(None)
    } else {
        date(file, rec, i, name).map(Some)
    }
}

fn required(file: &str, rec: &Record, i: usize, name: &str) -> Result<String, ScheduleError> {
    let v = rec.fields[i].clone();
    if v.is_empty() {
        return Err(problem(file, rec.line, name, "must not be empty".into()));
    }
    Ok(v)
}

/// The asset register: `asset_id,kind,description,holder,market_value,valuation_date,
/// encumbrances,share,acquired,disposed,assumed_benefit,represents,note,exhibit`.
pub fn parse_assets(file: &str, text: &str) -> Result<Vec<AssetLine>, ScheduleError> {
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    for rec in read_table(file, content_lines(text), &ASSETS_HEADER)? {
        let asset_id = required(file, &rec, 0, "asset_id")?;
        if let Some(first) = seen.insert(asset_id.clone(), rec.line) {
            return Err(problem(
                file,
                rec.line,
                "asset_id",
                format!("{asset_id:?} is also on line {first}; asset ids must be unique"),
            ));
        }
        let kind = match rec.fields[1].as_str() {
            "property" => AssetKind::Property,
            "priority_obligation" => AssetKind::PriorityObligation,
            other => {
                return Err(problem(
                    file,
                    rec.line,
                    "kind",
                    format!("is {other:?}; expected property or priority_obligation"),
                ))
            }
        };
        let share = if rec.fields[7].is_empty() {
            Decimal::ONE
        } else {
            plain_decimal(&rec.fields[7], 6).map_err(|p| problem(file, rec.line, "share", p))?
        };
        if share <= Decimal::ZERO || share > Decimal::ONE {
            return Err(problem(
                file,
                rec.line,
                "share",
                format!("is {share}; expected a fraction above 0 and at most 1, e.g. 0.5"),
            ));
        }
        let encumbrances = opt_pence(file, &rec, 6, "encumbrances")?.unwrap_or(0);
        let assumed_benefit = opt_pence(file, &rec, 10, "assumed_benefit")?;
        let acquired = opt_date(file, &rec, 8, "acquired")?;
        let represents: Vec<String> = rec.fields[11]
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if kind == AssetKind::PriorityObligation
            && (encumbrances != 0
                || share != Decimal::ONE
                || assumed_benefit.is_some()
                || !represents.is_empty())
        {
            return Err(problem(
                file,
                rec.line,
                "kind",
                "a priority_obligation line gives the amount owed in market_value and leaves encumbrances, share, assumed_benefit and represents empty".into(),
            ));
        }
        if assumed_benefit.is_some() && acquired.is_none() {
            return Err(problem(
                file,
                rec.line,
                "acquired",
                "is empty, but assumed_benefit is given: s.10(3) values the property at the earliest time the defendant appears to have held it, so give that date".into(),
            ));
        }
        out.push(AssetLine {
            file: file.to_string(),
            line: rec.line,
            asset_id,
            kind,
            description: rec.fields[2].clone(),
            holder: required(file, &rec, 3, "holder")?,
            market_value: pence(file, &rec, 4, "market_value")?,
            valuation_date: date(file, &rec, 5, "valuation_date")?,
            encumbrances,
            share,
            acquired,
            disposed: opt_date(file, &rec, 9, "disposed")?,
            assumed_benefit,
            represents,
            note: rec.fields[12].clone(),
            exhibit: rec.fields[13].clone(),
        });
    }
    Ok(out)
}

/// The gifts file: `gift_id,date,recipient,description,value,consideration,
/// property_was_benefit,txn_id,exhibit`.
pub fn parse_gifts(file: &str, text: &str) -> Result<Vec<GiftLine>, ScheduleError> {
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    let with_value_now = content_lines(text)
        .next()
        .is_some_and(|(_, raw)| raw.trim_end().to_ascii_lowercase().ends_with(",value_now"));
    let header: &[&str] = if with_value_now {
        &GIFTS_HEADER_WITH_VALUE_NOW
    } else {
        &GIFTS_HEADER
    };
    for rec in read_table(file, content_lines(text), header)? {
        let gift_id = required(file, &rec, 0, "gift_id")?;
        if let Some(first) = seen.insert(gift_id.clone(), rec.line) {
            return Err(problem(
                file,
                rec.line,
                "gift_id",
                format!("{gift_id:?} is also on line {first}; gift ids must be unique"),
            ));
        }
        let property_was_benefit = match rec.fields[6].to_ascii_lowercase().as_str() {
            "yes" => true,
            "no" | "" => false,
            other => {
                return Err(problem(
                    file,
                    rec.line,
                    "property_was_benefit",
                    format!("is {other:?}; expected yes or no"),
                ))
            }
        };
        out.push(GiftLine {
            file: file.to_string(),
            line: rec.line,
            gift_id,
            date: date(file, &rec, 1, "date")?,
            recipient: required(file, &rec, 2, "recipient")?,
            description: rec.fields[3].clone(),
            value: pence(file, &rec, 4, "value")?,
            consideration: opt_pence(file, &rec, 5, "consideration")?.unwrap_or(0),
            property_was_benefit,
            txn_id: Some(rec.fields[7].clone()).filter(|s| !s.is_empty()),
            exhibit: rec.fields[8].clone(),
            value_now: if with_value_now {
                opt_pence(file, &rec, 9, "value_now")?
            } else {
                None
            },
        });
    }
    Ok(out)
}

/// The accepted legitimate sources file: `match_on,value,from,until,reason,evidence_ref`.
pub fn parse_legitimate(file: &str, text: &str) -> Result<Vec<LegitimateSource>, ScheduleError> {
    let mut out = Vec::new();
    for rec in read_table(file, content_lines(text), &LEGITIMATE_HEADER)? {
        let value = required(file, &rec, 1, "value")?;
        let matcher = match rec.fields[0].as_str() {
            "txn_id" => LegitimateMatch::TxnId(value),
            "counterparty" => LegitimateMatch::Counterparty(value),
            other => {
                return Err(problem(
                    file,
                    rec.line,
                    "match_on",
                    format!("is {other:?}; expected txn_id or counterparty"),
                ))
            }
        };
        let from = opt_date(file, &rec, 2, "from")?;
        let until = opt_date(file, &rec, 3, "until")?;
        if let (Some(f), Some(u)) = (from, until) {
            if u < f {
                return Err(problem(
                    file,
                    rec.line,
                    "until",
                    format!("{u} is before from {f}"),
                ));
            }
        }
        out.push(LegitimateSource {
            file: file.to_string(),
            line: rec.line,
            matcher,
            from,
            until,
            reason: required(file, &rec, 4, "reason")?,
            evidence_ref: rec.fields[5].clone(),
        });
    }
    Ok(out)
}

/// The price index file: `series,NAME`, `vintage,TEXT`, then the header `month,index` and
/// one line per month (`2019-03,112.0`), every month from the first to the last present.
pub fn parse_price_index(file: &str, text: &str) -> Result<PriceIndex, ScheduleError> {
    let mut lines = content_lines(text);
    let mut named = |key: &str| -> Result<String, ScheduleError> {
        let (line, raw) = lines
            .next()
            .ok_or_else(|| problem(file, 1, key, format!("the file has no `{key},...` line")))?;
        match raw.split_once(',') {
            Some((k, v)) if k.trim().eq_ignore_ascii_case(key) && !v.trim().is_empty() => {
                Ok(v.trim().trim_matches('"').to_string())
            }
            _ => Err(problem(
                file,
                line,
                key,
                format!("is {raw:?}; expected `{key},...` naming the {key} (series first, then vintage, then the header month,index)"),
            )),
        }
    };
    let series = named("series")?;
    let vintage = named("vintage")?;
    let mut months = BTreeMap::new();
    let mut previous: Option<Month> = None;
    for rec in read_table(file, lines, &INDEX_HEADER)? {
        let month = Month::parse(&rec.fields[0]).ok_or_else(|| {
            problem(
                file,
                rec.line,
                "month",
                format!("is {:?}; expected YYYY-MM, e.g. 2019-03", rec.fields[0]),
            )
        })?;
        if let Some(p) = previous {
            if month != p.next() {
                return Err(problem(
                    file,
                    rec.line,
                    "month",
                    format!(
                        "is {month}, but the line before is {p}; months must run in order with none missing (expected {})",
                        p.next()
                    ),
                ));
            }
        }
        let index =
            plain_decimal(&rec.fields[1], 6).map_err(|p| problem(file, rec.line, "index", p))?;
        if index.is_zero() {
            return Err(problem(file, rec.line, "index", "must be above 0".into()));
        }
        months.insert(month, (index, rec.line));
        previous = Some(month);
    }
    if months.is_empty() {
        return Err(problem(file, 1, "month", "the file holds no months".into()));
    }
    Ok(PriceIndex {
        file: file.to_string(),
        series,
        vintage,
        months,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_months_must_be_contiguous() {
        let ok = "# fictional\nseries,CPIH (fictional)\nvintage,2026-02\nmonth,index\n2019-12,100\n2020-01,101.5\n";
        let idx = parse_price_index("cpi.csv", ok).unwrap();
        assert_eq!(idx.series, "CPIH (fictional)");
        assert_eq!(idx.last_month().to_string(), "2020-01");
        let gap = ok.replace("2020-01", "2020-02");
        let e = parse_price_index("cpi.csv", &gap).unwrap_err();
        assert!(e.to_string().contains("expected 2020-01"), "{e}");
        let no_series = "month,index\n2019-12,100\n";
        assert!(parse_price_index("cpi.csv", no_series).is_err());
    }

    #[test]
    fn assets_are_strict() {
        let h = ASSETS_HEADER.join(",");
        let ok = format!("{h}\nH1,property,House,DH,320000.00,2025-12-01,180000.00,0.5,2016-05-20,,15000.00,,n,AE/20\n");
        let a = parse_assets("assets.csv", &ok).unwrap();
        assert_eq!(a[0].market_value, 32_000_000);
        assert_eq!(a[0].share, Decimal::new(5, 1));
        let bad_share = ok.replace(",0.5,", ",1.5,");
        assert!(parse_assets("assets.csv", &bad_share).is_err());
        let grouped = ok.replace("320000.00", "\"320,000.00\"");
        let e = parse_assets("assets.csv", &grouped).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let no_acquired = ok.replace("2016-05-20", "");
        assert!(parse_assets("assets.csv", &no_acquired).is_err());
    }
}
