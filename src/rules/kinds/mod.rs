//! The rule kinds: one file each, listed in `registry::KINDS`.

pub mod cash_front;
pub mod cash_structuring;
pub mod high_risk_destination;
pub mod keyword_payments;
pub mod msb_structuring;
pub mod pass_through;
pub mod rapid_movement;
pub mod round_amounts;
pub mod source_country_remittance;
pub mod spending_vs_income;
pub mod wage_stripping;
