//! Legal parameters as data: `rules/jurisdictions/*.toml`, built into the binary and
//! chosen by the case file's `[case] jurisdiction`.
//!
//! The file says how long the relevant-day period is, which lifestyle assumptions apply
//! and from when, the tainted-gift timing rules, and the citations printed on the
//! schedules. Unknown keys are refused, so a misspelt parameter cannot silently fall back
//! to a default.

use serde::Deserialize;

use super::ScheduleError;

/// The jurisdiction files shipped with the binary: (file name, text).
pub const SHIPPED: [(&str, &str); 1] = [(
    "uk-poca-2002.toml",
    include_str!("../../rules/jurisdictions/uk-poca-2002.toml"),
)];

/// A jurisdiction file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jurisdiction {
    pub jurisdiction: Header,
    pub relevant_day: RelevantDayRule,
    pub lifestyle: LifestyleRule,
    pub assumptions: Vec<Assumption>,
    pub citations: Citations,
    pub tainted_gifts: GiftRule,
    /// SHA-256 of the file's text, for the manifest and the Sources sheet.
    #[serde(skip)]
    pub sha256: String,
}

/// `[jurisdiction]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub id: String,
    pub version: u32,
    pub name: String,
    pub currency: String,
}

/// `[relevant_day]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelevantDayRule {
    /// Length of the period ending with the day proceedings started.
    pub period_years: u32,
    pub citation: String,
}

/// `[lifestyle]`: printed in the method statement; the court's finding is in the case file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifestyleRule {
    pub citation: String,
    pub relevant_benefit_threshold: rust_decimal::Decimal,
    pub conduct_period_months: u32,
}

/// When an assumption's window opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStart {
    /// Strictly after the relevant day.
    RelevantDay,
    /// Strictly after the date of conviction.
    Conviction,
    /// No start.
    AnyTime,
}

/// When an assumption's window closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowEnd {
    /// The statute sets no end date.
    None,
    /// On or before the day proceedings started.
    ProceedingsStarted,
}

/// One `[[assumptions]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assumption {
    /// `transferred`, `held`, `expenditure`, `free_of_interests`.
    pub id: String,
    pub section: String,
    pub citation: String,
    pub applies: bool,
    pub from: WindowStart,
    pub until: WindowEnd,
}

/// `[citations]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Citations {
    pub incorrect_or_injustice: String,
    pub particular_conduct: String,
    pub value_of_property_obtained: String,
    pub available_amount: String,
    pub priority_obligations: String,
    pub tainted_gifts: String,
    pub gift_definition: String,
    pub value_of_tainted_gift: String,
    pub recoverable_amount: String,
    pub statement_of_information: String,
}

/// When a gift made "after" something is tainted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiftAfter {
    /// Strictly after the relevant day.
    RelevantDay,
    /// Strictly after the date of the (earliest) offence: `[schedule] offence_date`.
    Offence,
}

/// `[tainted_gifts]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftRule {
    pub lifestyle_after: GiftAfter,
    pub lifestyle_any_time_if_benefit: bool,
    pub lifestyle_citation: String,
    pub non_lifestyle_after: GiftAfter,
    pub non_lifestyle_citation: String,
}

/// The assumption ids the calculations know.
const KNOWN_ASSUMPTIONS: [&str; 4] = ["transferred", "held", "expenditure", "free_of_interests"];

impl Jurisdiction {
    /// The shipped jurisdiction with this id (`uk-poca-2002`).
    pub fn by_id(id: &str) -> Result<Jurisdiction, ScheduleError> {
        let mut known = Vec::new();
        for (file, text) in SHIPPED {
            let j = Jurisdiction::parse(file, text)?;
            if j.jurisdiction.id == id {
                return Ok(j);
            }
            known.push(j.jurisdiction.id);
        }
        Err(ScheduleError::Case {
            key: "case.jurisdiction".into(),
            problem: format!(
                "is {id:?}, which is not a known jurisdiction; known: {}",
                known.join(", ")
            ),
        })
    }

    /// Parse a jurisdiction file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Jurisdiction, ScheduleError> {
        let bad = |problem: String| ScheduleError::Jurisdiction {
            file: file.to_string(),
            problem,
        };
        let mut j: Jurisdiction = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        if j.relevant_day.period_years == 0 {
            return Err(bad("`relevant_day.period_years` must be at least 1".into()));
        }
        for a in &j.assumptions {
            if !KNOWN_ASSUMPTIONS.contains(&a.id.as_str()) {
                return Err(bad(format!(
                    "assumption id {:?} is not known; valid ids: {}",
                    a.id,
                    KNOWN_ASSUMPTIONS.join(", ")
                )));
            }
        }
        j.sha256 = crate::hash::sha256_hex(text.as_bytes());
        Ok(j)
    }

    /// The assumption with this id, if the file declares it and it applies.
    pub fn assumption(&self, id: &str) -> Option<&Assumption> {
        self.assumptions.iter().find(|a| a.id == id && a.applies)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_reads() {
        let j = Jurisdiction::by_id("uk-poca-2002").unwrap();
        assert_eq!(j.relevant_day.period_years, 6);
        assert_eq!(j.assumption("transferred").unwrap().section, "s.10(2)");
        assert_eq!(j.assumption("held").unwrap().from, WindowStart::Conviction);
        assert!(Jurisdiction::by_id("us-18-981").is_err());
    }

    #[test]
    fn typos_are_refused() {
        let (_, text) = SHIPPED[0];
        let typo = text.replace("period_years", "period_yeras");
        let e = Jurisdiction::parse("x.toml", &typo).unwrap_err();
        assert!(e.to_string().contains("period_yeras"), "{e}");
    }
}
