//! The rule kinds: one file each, listed in `registry::KINDS`.

pub mod cash_structuring;
