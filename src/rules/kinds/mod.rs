//! The rule kinds: one file each, listed in `registry::KINDS`.

pub mod cash_front;
pub mod cash_structuring;
pub mod high_risk_destination;
pub mod msb_structuring;
pub mod pass_through;
pub mod rapid_movement;
pub mod round_amounts;
