//! The case file: each mistake an investigator can make gives an error naming the key
//! and what would be valid.

use proceeds::case::{Case, CaseError, ResolveOptions};
use std::path::Path;

const GOOD: &str = r#"
[case]
reference = "T-1"
lifestyle = true

[dates]
proceedings_started = 2025-03-14

[[subjects]]
id = "D1"
name = "Test Person"
role = "defendant"

[[accounts]]
id = "A1"
holder = "Test Person"
bank = "Test Bank"
sort_code = "30-94-57"
account_number = "11223344"
controlled_by = ["D1"]

[[sources]]
path = "s.csv"
layout = "lloyds"
account = "A1"
"#;

fn load_with(text: &str) -> Result<Case, CaseError> {
    load_in(
        tempfile::tempdir().unwrap().path(),
        text,
        ResolveOptions::default(),
    )
}

fn load_in(dir: &Path, text: &str, options: ResolveOptions) -> Result<Case, CaseError> {
    std::fs::write(dir.join("s.csv"), "x").unwrap();
    let path = dir.join("case.toml");
    std::fs::write(&path, text).unwrap();
    Case::load(&path, options)
}

fn error_of(text: &str) -> String {
    load_with(text).unwrap_err().to_string()
}

#[test]
fn a_good_case_resolves() {
    let case = load_with(GOOD).unwrap();
    assert_eq!(case.reference, "T-1");
    assert_eq!(case.base_currency, "GBP");
    assert_eq!(case.accounts[0].sort_code.as_deref(), Some("309457"));
    assert_eq!(case.sources[0].path.written, "s.csv");
    assert_eq!(case.proceedings_started.to_string(), "2025-03-14");
}

#[test]
fn unknown_keys_are_refused_with_their_name() {
    let e = error_of(&GOOD.replace("lifestyle = true", "lifestyle = true\nlifestlye = false"));
    assert!(e.contains("unknown field `lifestlye`"), "{e}");
    assert!(e.contains("lifestyle"), "lists the valid keys: {e}");
}

#[test]
fn duplicate_account_keys_are_refused() {
    let twice = format!(
        "{GOOD}\n[[accounts]]\nid = \"A1\"\nholder = \"X\"\nbank = \"Y\"\naccount_number = \"1\"\n"
    );
    let e = error_of(&twice);
    assert!(
        e.contains("`accounts[1].id` \"A1\" is declared twice"),
        "{e}"
    );
}

#[test]
fn a_source_must_name_a_declared_account() {
    let e = error_of(&GOOD.replace("account = \"A1\"", "account = \"A2\""));
    assert!(e.contains("`sources[0].account` names account \"A2\", which is not declared; declared accounts: \"A1\""), "{e}");
}

#[test]
fn missing_files_are_named() {
    let e = error_of(&GOOD.replace("path = \"s.csv\"", "path = \"missing.csv\""));
    assert!(
        e.contains("`sources[0].path` is \"missing.csv\", but"),
        "{e}"
    );
}

#[test]
fn paths_outside_the_case_folder_need_a_flag() {
    let e = error_of(&GOOD.replace("path = \"s.csv\"", "path = \"../../etc/passwd\""));
    assert!(e.contains("points outside the case folder"), "{e}");
    assert!(e.contains("--allow-outside-case-dir"), "{e}");
    let e = error_of(&GOOD.replace("path = \"s.csv\"", "path = \"/etc/passwd\""));
    assert!(e.contains("points outside the case folder"), "{e}");
}

#[test]
fn a_link_out_of_the_case_folder_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("elsewhere.csv"), "x").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("elsewhere.csv"),
        dir.path().join("link.csv"),
    )
    .unwrap();
    let text = GOOD.replace("path = \"s.csv\"", "path = \"link.csv\"");
    let e = load_in(dir.path(), &text, ResolveOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a link to") && e.contains("outside the case folder"),
        "{e}"
    );
    let ok = load_in(
        dir.path(),
        &text,
        ResolveOptions {
            allow_outside_case_dir: true,
        },
    );
    assert!(ok.is_ok());
}

#[test]
fn dates_must_be_plain_and_consistent() {
    let e = error_of(&GOOD.replace("2025-03-14", "2025-02-30"));
    assert!(e.contains("2025-02-30"), "{e}");
    let e = error_of(&GOOD.replace(
        "proceedings_started = 2025-03-14",
        "proceedings_started = 2025-03-14\nconviction = 2024-01-01",
    ));
    assert!(
        e.contains("`dates.conviction` is 2024-01-01, before proceedings started on 2025-03-14"),
        "{e}"
    );
}

#[test]
fn identifiers_are_checked() {
    let e = error_of(&GOOD.replace("30-94-57", "30-94-5"));
    assert!(
        e.contains("`accounts[0].sort_code` is \"30-94-5\"; expected six digits"),
        "{e}"
    );
    let e = error_of(&GOOD.replace(
        "account_number = \"11223344\"",
        "account_number = \"11223344\"\niban = \"GB83WEST12345698765432\"",
    ));
    assert!(e.contains("fails the IBAN check digits"), "{e}");
    let e = error_of(&GOOD.replace("controlled_by = [\"D1\"]", "controlled_by = [\"D9\"]"));
    assert!(
        e.contains("names subject \"D9\", which is not declared; declared subjects: \"D1\""),
        "{e}"
    );
}

#[test]
fn a_case_needs_a_defendant_and_a_known_currency() {
    let e = error_of(&GOOD.replace("role = \"defendant\"", "role = \"associate\""));
    assert!(e.contains("names no defendant"), "{e}");
    let e = error_of(&GOOD.replace(
        "lifestyle = true",
        "lifestyle = true\nbase_currency = \"XXY\"",
    ));
    assert!(
        e.contains("`case.base_currency` is \"XXY\", which is not an ISO 4217 code"),
        "{e}"
    );
}

#[test]
fn a_phone_number_is_digits_with_spaces_plus_dashes_and_brackets() {
    let with = |phone: &str| {
        GOOD.replace(
            "role = \"defendant\"",
            &format!("role = \"defendant\"\nphone = {phone:?}"),
        )
    };
    let case = load_with(&with("+44 (0)7700 900-123")).unwrap();
    assert_eq!(
        case.subjects[0].phone.as_deref(),
        Some("+44 (0)7700 900-123")
    );
    for (bad, shown) in [
        ("07700 900123 ext. 4", "\"07700 900123 ext. 4\""),
        ("", "\"\""),
    ] {
        let e = error_of(&with(bad));
        assert!(e.starts_with("case file "), "{e}");
        assert!(
            e.ends_with(&format!("case.toml: `subjects[0].phone` is {shown}; expected a phone number: digits, with spaces, +, -, ( and ) allowed, e.g. \"07700 900123\" or \"+44 7700 900123\" (leave phone out when it is not known)")),
            "{e}"
        );
    }
}
