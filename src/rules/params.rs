//! Typed rule parameters: the value types rule files use, their documentation, and the
//! checked reading of a rule's `params` table into a kind's parameter struct.
//!
//! Each kind declares a `Params` struct (serde, `deny_unknown_fields`, `default`) with a
//! `Default` impl holding the shipped defaults, a `validate` method holding the range
//! checks, and a [`ParamDoc`] per field. [`parse`] reads a table into it so that every
//! problem names the parameter and says what is valid.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::{DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::spec::{field_names, from_table, TableError};

/// One parameter's documentation.
#[derive(Debug, Clone, Copy)]
pub struct ParamDoc {
    pub name: &'static str,
    /// What the parameter means, in plain words.
    pub meaning: &'static str,
    /// The values accepted, e.g. "an amount in pounds, 1 to 1000000".
    pub valid: &'static str,
}

/// A problem with one rule's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    Unknown {
        key: String,
        valid: Vec<String>,
    },
    WrongType {
        key: String,
        message: String,
        valid: String,
    },
    OutOfRange {
        key: String,
        value: String,
        valid: String,
    },
    Other(String),
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Unknown { key, valid } => {
                write!(
                    f,
                    "unknown param `{key}`; valid params: {}",
                    valid.join(", ")
                )
            }
            ParamError::WrongType {
                key,
                message,
                valid,
            } => write!(
                f,
                "param `{key}` has the wrong type ({message}); valid: {valid}"
            ),
            ParamError::OutOfRange { key, value, valid } => {
                write!(f, "param `{key}` = {value} is out of range; valid: {valid}")
            }
            ParamError::Other(m) => write!(f, "params: {m}"),
        }
    }
}

/// A kind's parameter struct.
pub trait ParamSet: DeserializeOwned + Serialize + Default + fmt::Debug + Send + Sync {
    /// Documentation, one entry per field, in the order shown to users.
    const DOCS: &'static [ParamDoc];
    /// Range checks; called after the types are known to be right.
    fn validate(&self) -> Result<(), ParamError>;
}

/// Read a rule's `params` table into `P`: unknown names, wrong types and out-of-range
/// values are errors naming the parameter and what is valid.
pub fn parse<P: ParamSet>(table: &toml::Table) -> Result<P, ParamError> {
    debug_assert_eq!(
        field_names::<P>().len(),
        P::DOCS.len(),
        "every parameter needs a ParamDoc"
    );
    let p: P = from_table(table).map_err(|e| match e {
        TableError::Unknown { key, .. } => ParamError::Unknown {
            key,
            valid: P::DOCS.iter().map(|d| d.name.to_string()).collect(),
        },
        TableError::WrongType { key, message } => {
            let valid = P::DOCS
                .iter()
                .find(|d| d.name == key)
                .map_or("see `proceeds rules explain`", |d| d.valid)
                .to_string();
            ParamError::WrongType {
                key,
                message,
                valid,
            }
        }
        TableError::Other(m) => ParamError::Other(m),
    })?;
    p.validate()?;
    Ok(p)
}

/// The parameters in effect (defaults filled in), as `(name, value)` in documentation order.
pub fn in_effect<P: ParamSet>(p: &P) -> Vec<(String, String)> {
    let table = toml::Value::try_from(p)
        .ok()
        .and_then(|v| v.as_table().cloned())
        .unwrap_or_default();
    P::DOCS
        .iter()
        .map(|d| {
            let value = table
                .get(d.name)
                .map_or_else(|| "(none)".to_string(), |v| v.to_string());
            (d.name.to_string(), value)
        })
        .collect()
}

/// Range-check helper: `Err(OutOfRange)` unless `ok`.
pub fn ensure(
    ok: bool,
    key: &str,
    value: impl fmt::Display,
    valid: &str,
) -> Result<(), ParamError> {
    if ok {
        Ok(())
    } else {
        Err(ParamError::OutOfRange {
            key: key.to_string(),
            value: value.to_string(),
            valid: valid.to_string(),
        })
    }
}

/// An amount of money in the case's base currency, held as pence. Written in rule files
/// as a whole number of pounds (`10000`) or a string with pence (`"9999.99"`); floats are
/// refused because they are not exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i64);

impl Money {
    /// Whole pounds.
    pub const fn pounds(p: i64) -> Money {
        Money(p * 100)
    }

    /// Pence.
    pub fn pence(self) -> i64 {
        self.0
    }

    /// `10000.00`
    pub fn plain(self) -> String {
        let d = Decimal::from_i128_with_scale(i128::from(self.0), 2);
        format!("{d:.2}")
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.plain())
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.plain())
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount: whole pounds (10000) or a string with pence (\"9999.99\")")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                if v < 0 {
                    return Err(E::custom(format!("amount {v} is negative")));
                }
                v.checked_mul(100)
                    .map(Money)
                    .ok_or_else(|| E::custom(format!("amount {v} is too large")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                i64::try_from(v)
                    .map_err(|_| E::custom(format!("amount {v} is too large")))
                    .and_then(|v| self.visit_i64(v))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
                Err(E::custom(format!(
                    "{v} is a floating-point number, which is not exact; write whole pounds (10000) or a string with pence (\"9999.99\")"
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                let d = Decimal::from_str(v.trim())
                    .map_err(|_| E::custom(format!("{v:?} is not an amount like \"9999.99\"")))?;
                if d.is_sign_negative() || d.scale() > 2 {
                    return Err(E::custom(format!(
                        "{v:?} must be a non-negative amount with at most two decimal places"
                    )));
                }
                let mut d = d;
                d.rescale(2);
                i64::try_from(d.mantissa())
                    .map(Money)
                    .map_err(|_| E::custom(format!("{v:?} is too large")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Format pence as money for a reader: `£9,500.00`, or `9,500.00 EUR` for other currencies.
pub fn format_money(pence: i64, currency: &str) -> String {
    let negative = pence < 0;
    let abs = pence.unsigned_abs();
    let pounds = abs / 100;
    let p = abs % 100;
    let digits = pounds.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if negative { "-" } else { "" };
    match currency {
        "GBP" => format!("{sign}£{grouped}.{p:02}"),
        other => format!("{sign}{grouped}.{p:02} {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct M {
        m: Money,
    }

    fn money(text: &str) -> Result<Money, String> {
        toml::from_str::<M>(text)
            .map(|m| m.m)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn money_is_exact() {
        assert_eq!(money("m = 10000").unwrap(), Money(1_000_000));
        assert_eq!(money("m = \"9999.99\"").unwrap(), Money(999_999));
        assert!(money("m = 9999.99").unwrap_err().contains("not exact"));
        assert!(money("m = \"1.234\"").is_err());
        assert!(money("m = -5").is_err());
    }

    #[test]
    fn money_reads_well() {
        assert_eq!(format_money(1_234_567, "GBP"), "£12,345.67");
        assert_eq!(format_money(5, "GBP"), "£0.05");
        assert_eq!(format_money(-10_000_000, "EUR"), "-100,000.00 EUR");
    }
}
