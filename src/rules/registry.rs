//! The rule kinds implemented in Rust, and the rule files shipped in the binary.
//!
//! A new kind is one file under `kinds/` and one line in [`KINDS`]; a new shipped rule
//! of an existing kind is one `[[rule]]` in a file under `rules/typologies/` (and, for a
//! new file, one line in [`SHIPPED`]).

use super::compile::{compile_file, Rule};
use super::kind::RuleKind;
use super::kinds;
use super::RuleError;

/// Every rule kind, in documentation order.
pub static KINDS: &[&dyn RuleKind] = &[
    &kinds::cash_structuring::CashStructuring,
    &kinds::msb_structuring::MsbStructuring,
    &kinds::pass_through::PassThrough,
    &kinds::rapid_movement::RapidMovement,
    &kinds::cash_front::CashFront,
    &kinds::round_amounts::RoundAmounts,
    &kinds::high_risk_destination::HighRiskDestination,
    &kinds::keyword_payments::KeywordPayments,
    &kinds::source_country_remittance::SourceCountryRemittance,
    &kinds::wage_stripping::WageStripping,
    &kinds::spending_vs_income::SpendingVsIncome,
];

/// Shipped rule files: (path in the repository, text).
#[rustfmt::skip]
pub const SHIPPED: &[(&str, &str)] = &[
    ("rules/typologies/structuring.toml", include_str!("../../rules/typologies/structuring.toml")),
    ("rules/typologies/money_mules.toml", include_str!("../../rules/typologies/money_mules.toml")),
    ("rules/typologies/cash_fronts.toml", include_str!("../../rules/typologies/cash_fronts.toml")),
    ("rules/typologies/transfers.toml", include_str!("../../rules/typologies/transfers.toml")),
    ("rules/typologies/trafficking.toml", include_str!("../../rules/typologies/trafficking.toml")),
];

/// The kind with this name.
pub fn kind(name: &str) -> Option<&'static dyn RuleKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// Every shipped rule, in file order then rule order.
pub fn shipped() -> Result<Vec<Rule>, RuleError> {
    let mut all = Vec::new();
    for (origin, text) in SHIPPED {
        add(&mut all, compile_file(text, origin)?)?;
    }
    Ok(all)
}

/// Add rules to a set, refusing an id already defined elsewhere.
pub fn add(set: &mut Vec<Rule>, rules: Vec<Rule>) -> Result<(), RuleError> {
    for rule in rules {
        if let Some(prev) = set.iter().find(|r| r.id == rule.id) {
            return Err(RuleError::Rule {
                origin: rule.origin.clone(),
                rule: rule.id.clone(),
                message: format!(
                    "id {} is already defined by {}; give this rule another id",
                    rule.id, prev.origin
                ),
            });
        }
        set.push(rule);
    }
    Ok(())
}
