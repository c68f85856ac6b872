//! The common shape every structured statement parser (MT940/MT942, camt.052/053, OFX)
//! produces before it becomes ledger rows.
//!
//! A parser reads the decoded text of one file and accounts for every record in it:
//! each entry is either parsed (`Outcome::Entry`), rejected with a reason
//! (`Outcome::Rejected`) or skipped as non-data (`Outcome::Skipped`, e.g. a pending
//! camt entry or an MT942 interim summary line). A file that cannot be read at all
//! (not the format it claims, truncated before the first statement) is a `FormatError`.

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// A whole file, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedFile {
    /// Statements (MT940 messages, camt `Stmt`/`Rpt`, OFX `STMTRS`) in file order.
    pub statements: Vec<ParsedStatement>,
    /// Every record of the file, in file order.
    pub outcomes: Vec<Outcome>,
}

/// One statement or report inside a file: the account it is for and its balances.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedStatement {
    /// 1-based line where the statement starts.
    pub line: u32,
    /// Statement identifier as the bank gave it (`:20:`/`:28C:`, `Stmt/Id`, OFX account + dates).
    pub statement_id: Option<String>,
    /// Account identification as written (`:25:`, `Acct/Id/IBAN` or `Othr/Id`, OFX `ACCTID`).
    pub account_raw: String,
    /// IBAN if the account identification is one (spaces removed, upper case).
    pub iban: Option<String>,
    /// Statement currency when given.
    pub currency: Option<String>,
    /// Opening booked balance (`:60F:`/`:60M:`, `OPBD`/`PRCD`).
    pub opening: Option<BalanceMark>,
    /// Closing booked balance (`:62F:`/`:62M:`, `CLBD`, OFX `LEDGERBAL`).
    pub closing: Option<BalanceMark>,
    /// Period covered when the format states it (camt `FrToDt`, OFX `DTSTART`/`DTEND`).
    pub period: Option<(NaiveDate, NaiveDate)>,
}

/// A balance stated by the bank.
#[derive(Debug, Clone, PartialEq)]
pub struct BalanceMark {
    pub date: NaiveDate,
    /// Signed: negative when the account is overdrawn (debit balance).
    pub amount: Decimal,
    pub currency: String,
    /// 1-based line of the balance tag.
    pub line: u32,
}

/// One record of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Entry(ParsedEntry),
    Rejected(RecordProblem),
    Skipped(RecordProblem),
}

/// A rejected or skipped record: where it is, what it says and why it is not an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordProblem {
    /// 1-based line where the record starts.
    pub line: u32,
    /// Field or tag concerned (e.g. `:61: amount`, `Ntry/Amt`), empty when not one field.
    pub field: String,
    /// Plain-language reason: what was found and what was expected.
    pub reason: String,
    /// The raw text of the record (may span several lines), untouched.
    pub raw: String,
}

/// One transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEntry {
    /// 1-based line where the entry starts (`:61:`, `<Ntry>`, `<STMTTRN>`).
    pub line: u32,
    /// 0 for an entry that is one ledger row; 1, 2, … for each `TxDtls` of a batched entry.
    pub sub: u32,
    /// Index into `ParsedFile::statements`.
    pub statement: usize,
    pub booking_date: NaiveDate,
    pub value_date: Option<NaiveDate>,
    /// Signed: + credit, − debit, in `currency`. Reversals (RC/RD) carry the sign of the money movement.
    pub amount: Decimal,
    /// ISO 4217 code.
    pub currency: String,
    /// Bank's transaction type (`NTRF`, `BkTxCd` code, OFX `TRNTYPE`), untouched.
    pub type_code: Option<String>,
    /// True for a reversal (MT940 `RC`/`RD`, camt `RvslInd`).
    pub reversal: bool,
    pub counterparty_name: Option<String>,
    pub counterparty_account: Option<String>,
    /// Bank or customer reference (`AcctSvcrRef`, `:61:` reference, OFX `FITID`).
    pub reference: Option<String>,
    /// The narrative as the bank gave it (`:86:` text, `RmtInf`/`AddtlNtryInf`, OFX `NAME` + `MEMO`).
    pub description: String,
    /// Running balance after this entry when the format gives one.
    pub balance: Option<Decimal>,
}

/// A file that cannot be read as the format at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct FormatError {
    pub line: u32,
    pub message: String,
}
