//! Detection: declarative rules over the ledger, compiled to polars lazy plans.
//!
//! In: the canonical ledger, the case (accounts, who controls them, business types) and
//! reference data (sector cash norms, declared turnover). Out: a `findings` frame (one
//! row per episode a rule found, with the figures that crossed its thresholds) and a
//! `finding_evidence` frame (one row per evidence transaction with its provenance).
//!
//! Rules are data: `rules/typologies/*.toml` (shipped, built into the binary) and any
//! rule file a case adds. Each `[[rule]]` names a *kind* implemented in Rust (one file
//! per kind under `kinds/`, listed in `registry::KINDS`), a plain-language description,
//! the guidance it follows, typed parameters with defaults, and a scope. The path is
//! `spec` (serde types) → `compile` (checked, errors naming file, rule and key) →
//! `Rule` → `run_rules` (each kind's lazy plan over `prepare`d integer-keyed rows) →
//! `findings` (ids, exact totals, evidence with provenance). `docs` renders
//! `docs/rules.md` and `proceeds rules explain` from the same data.
//!
//! Method notes for a reader of the outputs are in `docs/detection.md`.

pub mod compile;
pub mod docs;
pub mod dwell;
pub mod findings;
pub mod keyword_match;
pub mod kind;
pub mod kinds;
pub mod params;
pub mod prepare;
pub mod reference;
pub mod registry;
pub mod spec;
pub mod window;

use std::path::{Component, Path, PathBuf};

use polars::prelude::*;

pub use compile::{Rule, Scope};
pub use reference::Reference;
pub use spec::Severity;

use crate::case::Case;
use prepare::c;

/// A problem with a rule file, reference data, or (for `Internal`) our own code.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    /// The file as a whole: unreadable, not TOML, no rules.
    #[error("{origin}: {message}")]
    File { origin: String, message: String },
    /// One rule: unknown key, wrong type, unknown kind, bad parameter, bad scope.
    #[error("{origin}: rule {rule}: {message}")]
    Rule {
        origin: String,
        rule: String,
        message: String,
    },
    /// A reference-data file (declared turnover, sector norms).
    #[error("{file}, line {line}: {message}")]
    Reference {
        file: String,
        line: u32,
        message: String,
    },
    /// A rule that does not fit the case (its scope names an account the case lacks).
    #[error("rule {rule}: {message}")]
    Case { rule: String, message: String },
    /// `rules explain` of an id that no rule has.
    #[error("there is no rule {id}; known rules: {known}")]
    NotFound { id: String, known: String },
    /// A bug: a polars plan failed.
    #[error("internal error in rule {rule} ({stage}): {source}")]
    Internal {
        rule: String,
        stage: &'static str,
        source: PolarsError,
    },
}

impl RuleError {
    /// Whether the error is ours (a bug) rather than the input's.
    pub fn is_internal(&self) -> bool {
        matches!(self, RuleError::Internal { .. })
    }
}

fn internal(rule: &str, stage: &'static str) -> impl FnOnce(PolarsError) -> RuleError {
    let rule = rule.to_string();
    move |source| RuleError::Internal {
        rule,
        stage,
        source,
    }
}

/// What `rules list` and `rules check` report about a rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub name: String,
    pub version: u32,
    pub kind: String,
    pub severity: String,
    pub origin: String,
    pub file_sha256: String,
    pub description: String,
    pub basis: Vec<String>,
    /// Parameters in effect, defaults filled in: (name, TOML value).
    pub params: Vec<(String, String)>,
    pub scope: String,
}

impl From<&Rule> for RuleInfo {
    fn from(r: &Rule) -> RuleInfo {
        RuleInfo {
            id: r.id.clone(),
            name: r.name.clone(),
            version: r.version,
            kind: r.kind.to_string(),
            severity: r.severity.as_str().to_string(),
            origin: r.origin.clone(),
            file_sha256: r.file_sha256.clone(),
            description: r.description.clone(),
            basis: r.basis.clone(),
            params: r.params(),
            scope: r.scope.describe(),
        }
    }
}

/// The shipped rules, compiled.
pub fn shipped_rules() -> Result<Vec<Rule>, RuleError> {
    registry::shipped()
}

/// Compile one rule file from disk; `origin` is how it is named in errors and outputs.
pub fn load_file(path: &Path, origin: &str) -> Result<Vec<Rule>, RuleError> {
    let text = std::fs::read_to_string(path).map_err(|e| RuleError::File {
        origin: origin.to_string(),
        message: format!("cannot be read: {e}"),
    })?;
    compile::compile_file(&text, origin)
}

/// `proceeds rules check [PATHS]`: compile the given rule files (each on its own, and
/// then together, so an id used in two files is caught); with no paths, the shipped
/// rules. Returns what each rule is, or the first error.
pub fn check(paths: &[PathBuf]) -> Result<Vec<RuleInfo>, RuleError> {
    let rules = if paths.is_empty() {
        shipped_rules()?
    } else {
        let mut all = Vec::new();
        for p in paths {
            registry::add(&mut all, load_file(p, &p.display().to_string())?)?;
        }
        all
    };
    Ok(rules.iter().map(RuleInfo::from).collect())
}

/// `proceeds rules list`: the shipped rules.
pub fn list() -> Result<Vec<RuleInfo>, RuleError> {
    check(&[])
}

/// `proceeds rules explain ID`: a shipped rule's own description, method, parameters,
/// scope and basis, as plain text.
pub fn explain(id: &str) -> Result<String, RuleError> {
    let rules = shipped_rules()?;
    match rules.iter().find(|r| r.id.eq_ignore_ascii_case(id)) {
        Some(r) => Ok(docs::explain_rule(r)),
        None => Err(RuleError::NotFound {
            id: id.to_string(),
            known: rules
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The rules a case applies. `[rules] sets` in the case file lists shipped rule files by
/// name (`"structuring"` for `rules/typologies/structuring.toml`) or the case's own rule
/// files by path relative to the case file (`"rules/local.toml"`); when it lists nothing,
/// every shipped rule applies. A case rule may not reuse a shipped rule's id.
pub fn rules_for_case(case: &Case) -> Result<Vec<Rule>, RuleError> {
    if case.rule_sets.is_empty() {
        return shipped_rules();
    }
    let mut all = Vec::new();
    for set in &case.rule_sets {
        let shipped = registry::SHIPPED.iter().find(|(origin, _)| {
            Path::new(origin).file_stem().and_then(|s| s.to_str()) == Some(set.as_str())
        });
        let rules = match shipped {
            Some((origin, text)) => compile::compile_file(text, origin)?,
            None if set.ends_with(".toml") => {
                let p = Path::new(set);
                if p.is_absolute() || p.components().any(|c| matches!(c, Component::ParentDir)) {
                    return Err(RuleError::File {
                        origin: set.clone(),
                        message: "points outside the case folder; keep case rule files inside it".into(),
                    });
                }
                load_file(&case.dir.join(p), set)?
            }
            None => {
                return Err(RuleError::File {
                    origin: case.path.display().to_string(),
                    message: format!(
                        "`rules.sets` names {set:?}, which is neither a shipped rule set ({}) nor a .toml file",
                        registry::SHIPPED
                            .iter()
                            .filter_map(|(o, _)| Path::new(o).file_stem().and_then(|s| s.to_str()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
            }
        };
        registry::add(&mut all, rules)?;
    }
    Ok(all)
}

/// A rule as it was applied in a run, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleApplied {
    pub id: String,
    pub version: u32,
    pub kind: String,
    pub origin: String,
    pub file_sha256: String,
    /// Parameters in effect: (name, TOML value).
    pub params: Vec<(String, String)>,
    pub scope: String,
    pub findings: usize,
}

/// What detection produced.
#[derive(Debug, Clone)]
pub struct Findings {
    /// One row per finding; schema in `docs/detection.md`.
    pub findings: DataFrame,
    /// One row per evidence transaction of each finding, with provenance.
    pub evidence: DataFrame,
    /// Each rule applied, with its parameters and number of findings.
    pub rules: Vec<RuleApplied>,
    /// What could not be looked at, and why (rows without a base amount, missing norms...):
    /// the rows without a base amount first, then each rule's notes as `RULE: text`, in the
    /// order of the rules.
    pub notes: Vec<String>,
    /// Ledger rows no rule looked at, having no amount in the base currency.
    pub without_base_amount: usize,
    /// How long each part took: for benchmarks and profiling, never written to an output
    /// (outputs must not depend on timing).
    pub timings: Timings,
}

/// Wall-clock time of each part of detection. Rules run side by side on the machine's
/// cores, so their times overlap and add up to more than the whole.
#[derive(Debug, Clone, Default)]
pub struct Timings {
    /// Integer keys, pence, channel codes ([`prepare::prepare`]).
    pub prepare: std::time::Duration,
    /// The keyword columns ([`prepare::add_keyword_columns`]).
    pub keywords: std::time::Duration,
    /// Per rule, in rule order: (rule id, its plan, its findings and evidence).
    pub rules: Vec<(String, std::time::Duration, std::time::Duration)>,
    /// All the rules, from the first starting to the last finishing.
    pub all_rules: std::time::Duration,
    /// The rules' findings and evidence joined into one frame each.
    pub joined: std::time::Duration,
}

impl Timings {
    /// One line: `prepare=0.210 keywords=0.400 all_rules=2.000 joined=0.050
    /// STR-001=0.100+0.010 ...` (seconds; a rule's plan, then its findings).
    pub fn line(&self) -> String {
        let mut out = format!(
            "prepare={:.3} keywords={:.3} all_rules={:.3} joined={:.3}",
            self.prepare.as_secs_f64(),
            self.keywords.as_secs_f64(),
            self.all_rules.as_secs_f64(),
            self.joined.as_secs_f64()
        );
        for (id, plan, assemble) in &self.rules {
            out.push_str(&format!(
                " {id}={:.3}+{:.3}",
                plan.as_secs_f64(),
                assemble.as_secs_f64()
            ));
        }
        out
    }
}

/// The order the rules are started in (their positions in `rules`): those whose keyword
/// lists match the most rows first, then the others as they come.
///
/// A keyword rule's evidence, and so its time, grows with the rows its lists match (on a
/// case where travel is bought every week, TRF-005 takes a third of the rules' time), and the
/// rules run on as many threads as there are cores: a long rule started last leaves the
/// other cores with nothing to do until it ends. The order changes no output; the findings
/// are put back in rule order. Ties keep the rules' own order.
fn start_order(
    rules: &[Rule],
    rows: &DataFrame,
    keyword_columns: &[(Vec<String>, String)],
) -> PolarsResult<Vec<usize>> {
    let mut matched = Vec::with_capacity(keyword_columns.len());
    for (list, name) in keyword_columns {
        matched.push((list, rows.column(name)?.bool()?.num_trues()));
    }
    let mut order: Vec<(std::cmp::Reverse<usize>, usize)> = rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let rows: usize = rule
                .detector
                .keyword_lists()
                .iter()
                .filter_map(|list| matched.iter().find(|(l, _)| *l == list))
                .map(|(_, n)| n)
                .sum();
            (std::cmp::Reverse(rows), i)
        })
        .collect();
    order.sort();
    Ok(order.into_iter().map(|(_, i)| i).collect())
}

/// `proceeds detect`: run rules over a ledger. Findings come in rule order, then by
/// group, window start and first evidence row; evidence rows in finding order, then
/// ledger order.
pub fn run_rules(
    ledger: &DataFrame,
    case: &Case,
    rules: &[Rule],
    reference: &Reference,
) -> Result<Findings, RuleError> {
    let mut timings = Timings::default();
    let started = std::time::Instant::now();
    let mut prepared =
        prepare::prepare(ledger, case).map_err(internal("(all rules)", "prepare"))?;
    timings.prepare = started.elapsed();
    let started = std::time::Instant::now();
    let mut ctx = prepare::context(case, reference).map_err(internal("(all rules)", "context"))?;
    let lists: Vec<Vec<String>> = rules
        .iter()
        .flat_map(|r| r.detector.keyword_lists())
        .collect();
    ctx.keyword_columns = prepare::add_keyword_columns(&mut prepared.rows, &lists)
        .map_err(internal("(all rules)", "keywords"))?;
    timings.keywords = started.elapsed();
    ctx.legitimate_credits = reference::legitimate_credits(ledger, reference)?;
    let mut notes = Vec::new();
    if prepared.without_base_amount > 0 {
        notes.push(without_base_amount_note(
            prepared.without_base_amount,
            &case.base_currency,
        ));
    }
    let mut all_findings =
        findings::empty_findings().map_err(internal("(all rules)", "findings"))?;
    let mut all_evidence =
        findings::empty_evidence(ledger).map_err(internal("(all rules)", "findings"))?;
    // Each rule's scope is a filter in its own plan, not a filtered copy of every column:
    // the plan reads only the columns the rule uses, so the filter copies only those.
    let scoped = rules
        .iter()
        .map(|rule| scoped_rows(&prepared.rows, rule, case))
        .collect::<Result<Vec<LazyFrame>, RuleError>>()?;
    let seq_is_position = findings::seq_is_position(ledger);
    // Rules are independent: run them on every core, then put their findings back in the
    // order of the rules, so the output does not depend on which finished first (nor on
    // the order they were started in, `start_order`).
    type Done = (DataFrame, DataFrame, Vec<String>, [std::time::Duration; 2]);
    let one = |i: usize| -> Result<Done, RuleError> {
        let rule = &rules[i];
        let rows = scoped[i].clone();
        let started = std::time::Instant::now();
        let hits = rule
            .detector
            .detect(rows, &ctx)
            .map_err(internal(&rule.id, "detect"))?;
        let notes = hits
            .notes
            .iter()
            .map(|n| format!("{}: {n}", rule.id))
            .collect();
        let planned = started.elapsed();
        let started = std::time::Instant::now();
        let (f, e) = findings::assemble(rule, hits, ledger, seq_is_position)
            .map_err(internal(&rule.id, "findings"))?;
        Ok((f, e, notes, [planned, started.elapsed()]))
    };
    let started = std::time::Instant::now();
    let order = start_order(rules, &prepared.rows, &ctx.keyword_columns)
        .map_err(internal("(all rules)", "start order"))?;
    let results = crate::parallel::in_order(rules.len(), |j| one(order[j]));
    let mut results: Vec<(usize, Result<Done, RuleError>)> =
        order.into_iter().zip(results).collect();
    results.sort_by_key(|(i, _)| *i);
    timings.all_rules = started.elapsed();
    let started = std::time::Instant::now();
    let mut applied = Vec::new();
    for (rule, (_, result)) in rules.iter().zip(results) {
        let (f, e, rule_notes, [planned, assembled]) = result?;
        notes.extend(rule_notes);
        timings.rules.push((rule.id.clone(), planned, assembled));
        applied.push(RuleApplied {
            id: rule.id.clone(),
            version: rule.version,
            kind: rule.kind.to_string(),
            origin: rule.origin.clone(),
            file_sha256: rule.file_sha256.clone(),
            params: rule.params(),
            scope: rule.scope.describe(),
            findings: f.height(),
        });
        all_findings
            .vstack_mut(&f)
            .map_err(internal(&rule.id, "findings"))?;
        all_evidence
            .vstack_mut(&e)
            .map_err(internal(&rule.id, "findings"))?;
    }
    // The findings frame is made one chunk (a few thousand rows); the evidence keeps one
    // chunk per rule: copying a million rows of sixteen columns into one would change no
    // output, as every writer reads the rows in order whatever their chunks.
    all_findings.rechunk_mut();
    timings.joined = started.elapsed();
    Ok(Findings {
        findings: all_findings,
        evidence: all_evidence,
        rules: applied,
        notes,
        without_base_amount: prepared.without_base_amount,
        timings,
    })
}

/// The note for ledger rows no rule looked at, having no amount in the base currency:
/// [`Findings::notes`]' first when there are any.
pub fn without_base_amount_note(rows: usize, base_currency: &str) -> String {
    format!(
        "{rows} ledger rows have no amount in the base currency ({base_currency}) and were not looked at by any rule; convert them and run again"
    )
}

/// The prepared rows a rule's scope lets through.
fn scoped_rows(rows: &DataFrame, rule: &Rule, case: &Case) -> Result<LazyFrame, RuleError> {
    let scope = &rule.scope;
    let mut lf = rows.clone().lazy();
    let all_channels = scope
        .channels
        .as_ref()
        .is_some_and(|c| crate::ledger::Channel::ALL.iter().all(|x| c.contains(x)));
    if let Some(channels) = scope.channels.as_ref().filter(|_| !all_channels) {
        lf = lf.filter(prepare::channel_in(channels));
    }
    let mut accounts: Option<Vec<u32>> = None;
    if !scope.accounts.is_empty() {
        let mut idx = Vec::new();
        for a in &scope.accounts {
            match case.accounts.iter().position(|x| &x.id == a) {
                Some(i) => idx.push(i as u32),
                None => {
                    return Err(RuleError::Case {
                        rule: rule.id.clone(),
                        message: format!(
                            "scope names account {a:?}, which the case does not declare; declared accounts: {}",
                            case.accounts.iter().map(|x| x.id.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    })
                }
            }
        }
        accounts = Some(idx);
    }
    if !scope.subjects.is_empty() {
        for s in &scope.subjects {
            if !case.subjects.iter().any(|x| &x.id == s) {
                return Err(RuleError::Case {
                    rule: rule.id.clone(),
                    message: format!(
                        "scope names subject {s:?}, which the case does not declare; declared subjects: {}",
                        case.subjects.iter().map(|x| x.id.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        let controlled: Vec<u32> = case
            .accounts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.controlled_by.iter().any(|s| scope.subjects.contains(s)))
            .map(|(i, _)| i as u32)
            .collect();
        accounts = Some(match accounts {
            Some(a) => a.into_iter().filter(|i| controlled.contains(i)).collect(),
            None => controlled,
        });
    }
    if let Some(idx) = accounts {
        lf = lf.filter(prepare::account_in(&idx));
    }
    if let Some(from) = scope.from {
        lf = lf.filter(col(c::DAY).gt_eq(lit(prepare::day_of_date(from))));
    }
    if let Some(to) = scope.to {
        lf = lf.filter(col(c::DAY).lt_eq(lit(prepare::day_of_date(to))));
    }
    Ok(lf)
}

/// `docs/rules.md`, generated from the shipped rules and the kinds' documentation.
pub fn rules_markdown() -> Result<String, RuleError> {
    Ok(docs::rules_markdown(&shipped_rules()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kinds::keyword_payments::all_keywords;

    #[test]
    fn rules_whose_lists_match_the_most_rows_start_first_ties_in_their_own_order() {
        let rules = shipped_rules().unwrap();
        let travel = all_keywords("travel", &[]);
        let wages = all_keywords("wages_benefits", &[]);
        let accommodation = all_keywords("accommodation", &[]);
        // Of 6 rows, 5 hold a travel keyword, 3 a wages one, 1 an accommodation one; the
        // adult advertising list matches none.
        let mut keyword_columns = Vec::new();
        let mut columns = Vec::new();
        for rule in &rules {
            for list in rule.detector.keyword_lists() {
                if keyword_columns.iter().any(|(l, _)| *l == list) {
                    continue;
                }
                let name = format!("_kw{}", keyword_columns.len());
                let matched = [(&travel, 5), (&wages, 3), (&accommodation, 1)]
                    .iter()
                    .find(|(l, _)| **l == list)
                    .map_or(0, |(_, n)| *n);
                let column: Vec<bool> = (0..6).map(|r| r < matched).collect();
                columns.push(Column::new(name.as_str().into(), column));
                keyword_columns.push((list, name));
            }
        }
        assert_eq!(keyword_columns.len(), 4);
        let rows = DataFrame::new(6, columns).unwrap();
        let order = start_order(&rules, &rows, &keyword_columns).unwrap();
        let ids: Vec<&str> = order.iter().map(|&i| rules[i].id.as_str()).collect();
        let first = [
            "TRF-005", "TRF-001", "TRF-002", "TRF-009", "TRF-010", "TRF-011", "TRF-012", "TRF-003",
        ];
        assert_eq!(ids[..first.len()], first);
        let rest: Vec<&str> = rules
            .iter()
            .map(|r| r.id.as_str())
            .filter(|id| !first.contains(id))
            .collect();
        assert_eq!(ids[first.len()..], rest);
        assert!(rest.contains(&"TRF-004") && rest.contains(&"STR-001"));
    }
}
