//! Exact money: parsing amounts as banks write them, and ISO 4217 currency codes.
//!
//! Amounts are `rust_decimal::Decimal` at the edges and `Decimal(18, 2)` in the ledger.
//! Nothing here uses floating point. Parsing is strict: a value that could be read two
//! ways (a misplaced thousands separator, three decimal places in a two-decimal
//! currency) is refused with a reason rather than guessed.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Decimal places kept in the ledger's money columns.
pub const LEDGER_SCALE: u32 = 2;
/// Largest absolute amount the ledger holds: 10^16 − 0.01 fits `Decimal(18, 2)`.
pub const LEDGER_MAX_ABS: i128 = 10_000_000_000_000_000 * 100;

/// How a layout writes its amounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountStyle {
    /// Decimal separator: "." (UK) or "," (much of Europe).
    #[serde(default = "default_decimal_separator")]
    pub decimal_separator: char,
    /// Thousands separator, if the bank uses one: ",", ".", " " or "'".
    #[serde(default)]
    pub thousands_separator: Option<char>,
    /// Whether `(250.00)` means −250.00.
    #[serde(default = "yes")]
    pub negative_in_parentheses: bool,
    /// Whether a trailing `CR`/`DR` marks the sign (`250.00 DR` = −250.00).
    #[serde(default)]
    pub cr_dr_suffix: bool,
}

fn default_decimal_separator() -> char {
    '.'
}
fn yes() -> bool {
    true
}

impl Default for AmountStyle {
    fn default() -> Self {
        AmountStyle {
            decimal_separator: '.',
            thousands_separator: Some(','),
            negative_in_parentheses: true,
            cr_dr_suffix: false,
        }
    }
}

/// Why an amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount {0:?} is not a number (expected digits with an optional sign, currency symbol, thousands separators and decimal part, e.g. 1,234.56 or (250.00))")]
    NotANumber(String),
    #[error("amount {0:?} has thousands separators in the wrong places (expected groups of three digits)")]
    BadGrouping(String),
    #[error("amount {0:?} has more than 2 decimal places; the ledger keeps pence exactly and will not round")]
    TooManyDecimals(String),
    #[error(
        "amount {0:?} is too large for the ledger (at most 16 digits before the decimal point)"
    )]
    TooLarge(String),
}

const CURRENCY_SYMBOLS: &[char] = &['£', '€', '$', '¥'];

/// Parse an amount as a bank writes it into an exact decimal with 2 decimal places.
///
/// Accepts an optional leading or trailing minus or plus, a currency symbol or ISO code
/// (`£`, `€`, `$`, `GBP`), thousands separators in groups of three, parentheses for
/// negatives and, when the style allows, a trailing `CR`/`DR`. Negative zero becomes zero.
pub fn parse_amount(raw: &str, style: &AmountStyle) -> Result<Decimal, AmountError> {
    // Non-breaking spaces and ordinary whitespace around the value are layout, not data.
    let trimmed = raw.trim_matches(|c: char| c.is_whitespace() || c == '\u{a0}');
    match parse_plain_amount(trimmed, style) {
        Some(value) => Ok(value),
        None => parse_written_amount(raw, trimmed, style),
    }
}

/// The common case, read without allocating: an optional leading sign, ASCII digits
/// (grouped by the thousands separator in threes) and an optional decimal part of at most
/// two significant places. `None` hands the value to [`parse_written_amount`], which reads
/// everything else and words every error; for any value this accepts, that gives the same.
fn parse_plain_amount(s: &str, style: &AmountStyle) -> Option<Decimal> {
    // Only separators the full reader treats as nothing but separators ('-', '+' and '$'
    // mean more to it).
    let decimal = match style.decimal_separator {
        '.' => b'.',
        ',' => b',',
        _ => return None,
    };
    let thousands = match style.thousands_separator {
        None => None,
        Some(',') if decimal != b',' => Some(b','),
        Some('.') if decimal != b'.' => Some(b'.'),
        Some('\'') => Some(b'\''),
        Some(_) => return None,
    };
    let bytes = s.as_bytes();
    let (negative, body) = match bytes.first()? {
        b'-' => (true, &bytes[1..]),
        b'+' => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    let (int_part, frac_part) = match body.iter().position(|&b| b == decimal) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    // Integer part: digits, or groups of three after a first group of one to three.
    let mut int_value: u64 = 0;
    let mut significant = 0usize;
    let mut group = 0usize;
    let mut grouped = false;
    for (at, &b) in int_part.iter().enumerate() {
        if b.is_ascii_digit() {
            group += 1;
            if significant > 0 || b != b'0' {
                significant += 1;
                if significant > 16 {
                    return None;
                }
                int_value = int_value * 10 + u64::from(b - b'0');
            }
        } else if Some(b) == thousands && at > 0 {
            if (grouped && group != 3) || (!grouped && group > 3) || group == 0 {
                return None;
            }
            grouped = true;
            group = 0;
        } else {
            return None;
        }
    }
    if group == 0 || (grouped && group != 3) {
        return None;
    }
    // Decimal part: at least one digit, at most two that are not trailing zeros.
    let mut pence: u64 = 0;
    if let Some(frac) = frac_part {
        if frac.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let kept = frac.len() - frac.iter().rev().take_while(|&&b| b == b'0').count();
        if kept > 2 {
            return None;
        }
        for place in 0..2 {
            pence = pence * 10 + frac.get(place).map_or(0, |&b| u64::from(b - b'0'));
        }
    }
    let minor = i128::from(int_value) * 100 + i128::from(pence);
    Some(Decimal::from_i128_with_scale(
        if negative { -minor } else { minor },
        LEDGER_SCALE,
    ))
}

/// [`parse_amount`] for every way of writing an amount: `trimmed` is `original` without
/// the whitespace around it.
fn parse_written_amount(
    original: &str,
    trimmed: &str,
    style: &AmountStyle,
) -> Result<Decimal, AmountError> {
    let mut s = trimmed.to_string();
    if s.is_empty() {
        return Err(AmountError::Empty);
    }
    let mut negative = false;
    if style.negative_in_parentheses && s.starts_with('(') && s.ends_with(')') && s.len() >= 2 {
        negative = true;
        s = s[1..s.len() - 1].trim().to_string();
    }
    if style.cr_dr_suffix {
        let upper = s.to_ascii_uppercase();
        if let Some(rest) = upper.strip_suffix("DR") {
            negative = !negative;
            s = s[..rest.len()].trim_end().to_string();
        } else if upper.ends_with("CR") {
            s = s[..s.len() - 2].trim_end().to_string();
        }
    }
    // Signs may come before or after a currency symbol: -£12.00, £-12.00, 12.00-.
    let mut body = String::with_capacity(s.len());
    let mut sign_seen = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '-' || c == '+' {
            let at_edge = body.is_empty() || i == chars.len() - 1;
            if !at_edge || sign_seen {
                return Err(AmountError::NotANumber(original.to_string()));
            }
            sign_seen = true;
            if c == '-' {
                negative = !negative;
            }
        } else if CURRENCY_SYMBOLS.contains(&c) {
            if !body.is_empty() && i != chars.len() - 1 {
                return Err(AmountError::NotANumber(original.to_string()));
            }
        } else if c.is_ascii_alphabetic() {
            // A three-letter ISO code before or after the number: "GBP 12.00", "12.00 GBP".
            let word: String = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect();
            let at_start = body.is_empty();
            let at_end = i + word.chars().count() == chars.len();
            if word.len() == 3
                && word.chars().all(|c| c.is_ascii_uppercase())
                && (at_start || at_end)
            {
                i += 3;
                continue;
            }
            return Err(AmountError::NotANumber(original.to_string()));
        } else if c.is_whitespace() || c == '\u{a0}' {
            // Spaces are allowed only as a thousands separator or between symbol and number.
            if style.thousands_separator == Some(' ') && !body.is_empty() {
                body.push(' ');
            }
        } else {
            body.push(c);
        }
        i += 1;
    }
    let body = body.trim().to_string();
    if body.is_empty() {
        return Err(AmountError::NotANumber(original.to_string()));
    }
    let (int_part, frac_part) = match body.rfind(style.decimal_separator) {
        Some(pos) => (
            &body[..pos],
            Some(&body[pos + style.decimal_separator.len_utf8()..]),
        ),
        None => (body.as_str(), None),
    };
    let int_digits = match style.thousands_separator {
        Some(sep) if int_part.contains(sep) => {
            let groups: Vec<&str> = int_part.split(sep).collect();
            let first_ok = groups.first().is_some_and(|g| {
                (1..=3).contains(&g.len()) && g.chars().all(|c| c.is_ascii_digit())
            });
            let rest_ok = groups[1..]
                .iter()
                .all(|g| g.len() == 3 && g.chars().all(|c| c.is_ascii_digit()));
            if !(first_ok && rest_ok) {
                return Err(AmountError::BadGrouping(original.to_string()));
            }
            groups.concat()
        }
        _ => int_part.to_string(),
    };
    let int_digits = if int_digits.is_empty() && frac_part.is_some() {
        "0".to_string()
    } else {
        int_digits
    };
    if int_digits.is_empty() || !int_digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(AmountError::NotANumber(original.to_string()));
    }
    let frac = frac_part.unwrap_or("");
    if !frac.chars().all(|c| c.is_ascii_digit()) || (frac_part.is_some() && frac.is_empty()) {
        return Err(AmountError::NotANumber(original.to_string()));
    }
    let significant_frac = frac.trim_end_matches('0');
    if significant_frac.len() > LEDGER_SCALE as usize {
        return Err(AmountError::TooManyDecimals(original.to_string()));
    }
    let int_trimmed = int_digits.trim_start_matches('0');
    if int_trimmed.len() > 16 {
        return Err(AmountError::TooLarge(original.to_string()));
    }
    let text = format!(
        "{}.{:0<2}",
        if int_trimmed.is_empty() {
            "0"
        } else {
            int_trimmed
        },
        significant_frac
    );
    let mut value =
        Decimal::from_str(&text).map_err(|_| AmountError::NotANumber(original.to_string()))?;
    value.rescale(LEDGER_SCALE);
    if negative && !value.is_zero() {
        value.set_sign_negative(true);
    }
    Ok(value)
}

/// Pence (minor units at scale 2) of a ledger amount.
pub fn to_minor_units(value: Decimal) -> i128 {
    let mut v = value;
    v.rescale(LEDGER_SCALE);
    v.mantissa()
}

/// A decimal's integer representation at `scale` places as whole pence: `None` when it
/// has a fraction of a penny or does not fit 64 bits. Tracing and the schedules read money
/// columns this way.
pub fn whole_pence(value: i128, scale: u32) -> Option<i64> {
    let pence = if scale <= 2 {
        value.checked_mul(10i128.pow(2 - scale))
    } else {
        let d = 10i128.checked_pow(scale - 2)?;
        (value % d == 0).then_some(value / d)
    };
    pence.and_then(|p| i64::try_from(p).ok())
}

/// A ledger amount from minor units at scale 2.
pub fn from_minor_units(minor: i128) -> Decimal {
    Decimal::from_i128_with_scale(minor, LEDGER_SCALE)
}

/// Format a ledger amount with exactly two decimal places and no grouping: `-1234.50`.
pub fn format_amount(value: Decimal) -> String {
    let mut v = value;
    v.rescale(LEDGER_SCALE);
    if v.is_zero() {
        v = Decimal::new(0, LEDGER_SCALE);
    }
    v.to_string()
}

/// Append an amount in minor units (pence) as [`format_amount`] writes it — exactly two
/// decimal places, no grouping, `0.00` for zero, `-0.05` for minus five pence — without
/// going through `Decimal` or allocating. For the row-by-row writers of the trace's large
/// tables (tens of millions of amounts at 10M rows).
pub fn push_minor_units(out: &mut String, minor: i64) {
    if minor < 0 {
        out.push('-');
    }
    let abs = minor.unsigned_abs();
    let (units, cents) = (abs / 100, abs % 100);
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut u = units;
    loop {
        i -= 1;
        digits[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
    out.push('.');
    out.push(char::from(b'0' + (cents / 10) as u8));
    out.push(char::from(b'0' + (cents % 10) as u8));
}

/// Active ISO 4217 currency codes.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ",
    "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD",
    "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN",
    "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR",
    "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB",
    "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS",
    "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
];

/// Whether `code` is an active ISO 4217 currency code (upper case).
pub fn is_currency_code(code: &str) -> bool {
    ISO_4217.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_pence_takes_exact_pennies_only() {
        assert_eq!(whole_pence(-12_345, 2), Some(-12_345));
        assert_eq!(whole_pence(7, 0), Some(700));
        assert_eq!(whole_pence(1_234_500, 4), Some(12_345));
        assert_eq!(whole_pence(1_234_501, 4), None, "a hundredth of a penny");
        assert_eq!(
            whole_pence(i128::from(i64::MAX) + 1, 2),
            None,
            "beyond 64 bits"
        );
        assert_eq!(whole_pence(i128::MAX, 0), None, "overflows when scaled up");
        assert_eq!(whole_pence(5, 60), None, "a scale no decimal has");
        assert_eq!(whole_pence(0, 60), None);
    }

    #[test]
    fn minor_units_are_written_as_format_amount_writes_them() {
        let mut values: Vec<i64> = vec![
            0,
            1,
            -1,
            5,
            -5,
            9,
            10,
            -10,
            99,
            100,
            -100,
            101,
            123_456,
            -123_456,
            100_000_000_000,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ];
        // And a spread of magnitudes, both signs.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = (x >> (x % 60)) as i64;
            values.push(v);
            values.push(-v);
        }
        let mut out = String::new();
        for v in values {
            out.clear();
            push_minor_units(&mut out, v);
            assert_eq!(out, format_amount(from_minor_units(i128::from(v))), "{v}");
        }
        out.clear();
        push_minor_units(&mut out, -5);
        assert_eq!(out, "-0.05");
    }

    fn uk(s: &str) -> Result<String, AmountError> {
        parse_amount(s, &AmountStyle::default()).map(format_amount)
    }

    #[test]
    fn reads_the_ways_uk_banks_write_amounts() {
        assert_eq!(uk("1,234.56").unwrap(), "1234.56");
        assert_eq!(uk("£1,234.56").unwrap(), "1234.56");
        assert_eq!(uk("-£12.50").unwrap(), "-12.50");
        assert_eq!(uk("£-12.50").unwrap(), "-12.50");
        assert_eq!(uk("(250.00)").unwrap(), "-250.00");
        assert_eq!(uk("(£250)").unwrap(), "-250.00");
        assert_eq!(uk("12.5").unwrap(), "12.50");
        assert_eq!(uk(".75").unwrap(), "0.75");
        assert_eq!(uk(" 9999.99\u{a0}").unwrap(), "9999.99");
        assert_eq!(uk("+40").unwrap(), "40.00");
        assert_eq!(uk("40.00-").unwrap(), "-40.00");
        assert_eq!(uk("GBP 10.00").unwrap(), "10.00");
        assert_eq!(uk("1.230").unwrap(), "1.23");
    }

    #[test]
    fn negative_zero_is_zero() {
        let z = parse_amount("-0.00", &AmountStyle::default()).unwrap();
        assert!(!z.is_sign_negative());
        assert_eq!(format_amount(z), "0.00");
    }

    #[test]
    fn refuses_what_it_cannot_read_exactly() {
        assert_eq!(uk(""), Err(AmountError::Empty));
        assert!(matches!(uk("12.345"), Err(AmountError::TooManyDecimals(_))));
        assert!(matches!(uk("1,23.45"), Err(AmountError::BadGrouping(_))));
        assert!(matches!(uk("12a.00"), Err(AmountError::NotANumber(_))));
        assert!(matches!(uk("1-2"), Err(AmountError::NotANumber(_))));
        assert!(matches!(uk("--5"), Err(AmountError::NotANumber(_))));
        assert!(matches!(uk("12."), Err(AmountError::NotANumber(_))));
        assert!(matches!(
            uk("123456789012345678901234567890"),
            Err(AmountError::TooLarge(_))
        ));
    }

    #[test]
    fn european_and_cr_dr_styles() {
        let eu = AmountStyle {
            decimal_separator: ',',
            thousands_separator: Some('.'),
            negative_in_parentheses: false,
            cr_dr_suffix: false,
        };
        assert_eq!(
            format_amount(parse_amount("1.234,56", &eu).unwrap()),
            "1234.56"
        );
        assert_eq!(format_amount(parse_amount("-0,5", &eu).unwrap()), "-0.50");
        let crdr = AmountStyle {
            cr_dr_suffix: true,
            ..AmountStyle::default()
        };
        assert_eq!(
            format_amount(parse_amount("250.00 DR", &crdr).unwrap()),
            "-250.00"
        );
        assert_eq!(
            format_amount(parse_amount("250.00CR", &crdr).unwrap()),
            "250.00"
        );
    }

    #[test]
    fn currency_codes() {
        assert!(
            ISO_4217.windows(2).all(|w| w[0] < w[1]),
            "list must stay sorted"
        );
        assert!(is_currency_code("GBP"));
        assert!(is_currency_code("EUR"));
        assert!(!is_currency_code("GBX"));
        assert!(!is_currency_code("gbp"));
    }

    /// The allocation-free reader agrees with the full one on every value it accepts, down
    /// to the decimal's representation (scale and sign).
    #[test]
    fn plain_amounts_read_as_the_full_reader_reads_them() {
        let styles = [
            AmountStyle::default(),
            AmountStyle {
                decimal_separator: ',',
                thousands_separator: Some('.'),
                ..AmountStyle::default()
            },
            AmountStyle {
                thousands_separator: Some('\''),
                cr_dr_suffix: true,
                ..AmountStyle::default()
            },
            AmountStyle {
                thousands_separator: None,
                ..AmountStyle::default()
            },
        ];
        let alphabet = ['0', '1', '7', '-', '+', '.', ',', '\''];
        let mut texts: Vec<String> = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..6 {
            texts = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            all.extend(texts.iter().cloned());
        }
        all.extend(
            [
                "12,345,678.90",
                "1.234.567,8",
                "9999999999999999.99",
                "10000000000000000",
                "0000000000000000012.50",
                "-0.00",
                "+0,10",
                "1'234'567.10",
                "12.3400",
                "12.345",
            ]
            .map(str::to_string),
        );
        let mut accepted = 0;
        for style in &styles {
            for text in &all {
                if let Some(fast) = parse_plain_amount(text, style) {
                    accepted += 1;
                    let full = parse_written_amount(text, text, style);
                    assert_eq!(
                        full.as_ref().map(|d| d.serialize()),
                        Ok(fast.serialize()),
                        "{text:?} {style:?}"
                    );
                }
            }
        }
        assert!(accepted > 10_000, "{accepted}");
    }
}
