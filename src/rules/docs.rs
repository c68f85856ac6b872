//! Rule documentation generated from the rules themselves: `proceeds rules explain ID`
//! and `docs/rules.md`. One source of truth: the rule file's words and the kind's own
//! method and parameter documentation.

use std::fmt::Write;

use super::compile::Rule;
use super::registry;

/// How to regenerate `docs/rules.md`.
pub const BLESS_HINT: &str =
    "PROCEEDS_BLESS=1 cargo test --test it detect::rules_reference_is_current";

/// Plain text for `proceeds rules explain ID`.
pub fn explain_rule(r: &Rule) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} — {} (version {})", r.id, r.name, r.version);
    let _ = writeln!(
        out,
        "Severity {}. Kind {}. Defined in {}.",
        r.severity.as_str(),
        r.kind,
        r.origin
    );
    let _ = writeln!(out, "\nWhat it looks for\n  {}", r.description);
    if let Some(kind) = registry::kind(r.kind) {
        let _ = writeln!(out, "\nHow it is computed\n  {}", kind.method());
        let _ = writeln!(out, "\nParameters (value in effect)");
        for ((name, value), doc) in r.params().iter().zip(kind.params()) {
            let _ = writeln!(
                out,
                "  {name} = {value}\n      {}\n      Valid: {}",
                doc.meaning, doc.valid
            );
        }
    }
    let _ = writeln!(out, "\nScope\n  {}", r.scope.describe());
    let _ = writeln!(out, "\nBasis");
    for b in &r.basis {
        let _ = writeln!(out, "  - {b}");
    }
    out
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `docs/rules.md`: every shipped rule, then every kind with its defaults.
pub fn rules_markdown(rules: &[Rule]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Detection rules reference\n");
    let _ = writeln!(
        out,
        "<!-- Generated from rules/typologies/*.toml and src/rules/kinds/*.rs by \
         proceeds::rules::rules_markdown(). Do not edit by hand; regenerate with: {BLESS_HINT} -->\n"
    );
    let _ = writeln!(
        out,
        "The rules shipped with `proceeds`, as `proceeds rules list` and `proceeds rules explain ID` \
         show them. How findings are built, and the limits of each method, are in \
         [detection.md](detection.md). Amounts are in the case's base currency; parameters \
         marked as amounts are written in rule files as whole pounds (`10000`) or strings \
         with pence (`\"9999.99\"`).\n"
    );
    let _ = writeln!(out, "| id | name | version | kind | severity | file |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in rules {
        let _ = writeln!(
            out,
            "| [{id}](#{anchor}) | {name} | {v} | `{kind}` | {sev} | `{origin}` |",
            id = r.id,
            anchor = r.id.to_lowercase(),
            name = cell(&r.name),
            v = r.version,
            kind = r.kind,
            sev = r.severity.as_str(),
            origin = r.origin
        );
    }
    let _ = writeln!(out);
    for r in rules {
        let _ = writeln!(out, "## {}\n", r.id);
        let _ = writeln!(
            out,
            "**{}** — version {}, severity {}, kind [`{}`](#kind-{}), defined in `{}`.\n",
            r.name,
            r.version,
            r.severity.as_str(),
            r.kind,
            r.kind.replace('_', "-"),
            r.origin
        );
        let _ = writeln!(out, "{}\n", r.description);
        let _ = writeln!(out, "| parameter | value | meaning |");
        let _ = writeln!(out, "|---|---|---|");
        if let Some(kind) = registry::kind(r.kind) {
            for ((name, value), doc) in r.params().iter().zip(kind.params()) {
                let _ = writeln!(
                    out,
                    "| `{name}` | `{}` | {} |",
                    cell(value),
                    cell(doc.meaning)
                );
            }
        }
        let _ = writeln!(out, "\n**Scope:** {}.\n", r.scope.describe());
        let _ = writeln!(out, "**Basis:**\n");
        for b in &r.basis {
            let _ = writeln!(out, "- {b}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "# Rule kinds\n");
    let _ = writeln!(
        out,
        "A kind is the Rust code behind a rule: one file under `src/rules/kinds/`. Several rules \
         can share a kind with different parameters or scope.\n"
    );
    for kind in registry::KINDS {
        let _ = writeln!(out, "## kind-{}\n", kind.name().replace('_', "-"));
        let _ = writeln!(out, "`{}`\n", kind.name());
        let _ = writeln!(out, "{}\n", kind.method());
        let channels = match kind.default_channels() {
            None => "every channel".to_string(),
            Some(c) => c
                .iter()
                .map(|c| format!("`{}`", c.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let _ = writeln!(
            out,
            "Channels looked at unless a rule's scope says otherwise: {channels}.\n"
        );
        let defaults = kind
            .compile(&toml::Table::new())
            .map(|d| d.params_in_effect())
            .unwrap_or_default();
        let _ = writeln!(out, "| parameter | default | meaning | valid values |");
        let _ = writeln!(out, "|---|---|---|---|");
        for (doc, (_, value)) in kind.params().iter().zip(defaults.iter()) {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | {} |",
                doc.name,
                cell(value),
                cell(doc.meaning),
                cell(doc.valid)
            );
        }
        let _ = writeln!(out);
    }
    out
}
