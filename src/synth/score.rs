//! Detection quality on a synthetic case: a run's findings and matched transfers compared
//! with the generator's labels, as precision and recall per typology.
//!
//! `proceeds synth score DIR OUTDIR` reads `DIR/labels.csv` (written by `proceeds synth`)
//! and `OUTDIR/finding_evidence.csv` and `OUTDIR/transfers.csv` (written by
//! `proceeds run DIR/case.toml --out OUTDIR`). Labelled rows are named by file and line;
//! they become `txn_id`s the way ingest makes them (the first 12 hex digits of the file's
//! SHA-256, `-L`, the line), so labels and outputs meet on `txn_id`.
//!
//! Which rules speak for which typology is fixed by rule id prefix: `STR-` structuring,
//! `MUL-` money mules, `CIB-` cash-intensive fronts. Units:
//! - **account**: an account is flagged when it holds an evidence row of a finding of the
//!   typology's rules; it is positive when it holds a label of the typology (fronts are
//!   labelled per account). Every other account flagged is a false positive, and the decoys
//!   labelled for that typology are counted again on their own line.
//! - **row**: a ledger row is flagged when it is an evidence row of those rules; positive
//!   when labelled.
//! - **pair** (internal transfers): a labelled transfer is its debit and credit rows; a
//!   true positive is a pair in `transfers.csv` with exactly those two rows.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::hash::sha256_file;
use crate::ledger::txn_id;

/// Why a score could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: no column {column:?} (is this a file written by proceeds?)")]
    Column { path: PathBuf, column: String },
    #[error("{path}, line {line}: {message}")]
    Value {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// One row of `labels.csv`, with the `txn_id` of the row it names (none for an
/// account-level label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRow {
    pub typology: String,
    pub account_id: String,
    pub txn_id: Option<String>,
    pub episode: String,
}

/// One evidence row of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceRow {
    pub rule_id: String,
    pub txn_id: String,
    pub account_id: String,
}

/// Counts and ratios for one typology at one unit of comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub typology: &'static str,
    pub unit: &'static str,
    /// What is compared: the rules, or `transfers.csv`.
    pub compared_with: &'static str,
    pub labelled: usize,
    pub flagged: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// The decoys of this typology: (decoy label, decoys flagged, decoys in the case).
    pub decoys: Option<(&'static str, usize, usize)>,
}

impl Outcome {
    /// TP / (TP + FP); `None` when nothing was flagged.
    pub fn precision(&self) -> Option<f64> {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }
    /// TP / (TP + FN); `None` when nothing was labelled.
    pub fn recall(&self) -> Option<f64> {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// The typologies scored through findings: (typology, rule id prefix, rules named, decoy).
const BY_RULES: &[(&str, &str, &str, &str)] = &[
    ("structuring", "STR-", "STR-*", "decoy_large_cash"),
    ("mule", "MUL-", "MUL-*", "decoy_student"),
    ("front", "CIB-", "CIB-*", "decoy_cash_business"),
];

/// Score labels against evidence rows and matched transfer pairs (debit, credit).
pub fn score(
    labels: &[LabelRow],
    evidence: &[EvidenceRow],
    transfers: &[(String, String)],
) -> Vec<Outcome> {
    let mut out = Vec::new();
    for &(typology, prefix, rules, decoy) in BY_RULES {
        let hits: Vec<&EvidenceRow> = evidence
            .iter()
            .filter(|e| e.rule_id.starts_with(prefix))
            .collect();
        let labelled_accounts: BTreeSet<&str> = labels
            .iter()
            .filter(|l| l.typology == typology)
            .map(|l| l.account_id.as_str())
            .collect();
        let flagged_accounts: BTreeSet<&str> = hits.iter().map(|e| e.account_id.as_str()).collect();
        let decoy_accounts: BTreeSet<&str> = labels
            .iter()
            .filter(|l| l.typology == decoy)
            .map(|l| l.account_id.as_str())
            .collect();
        let mut account = compare(
            typology,
            "account",
            rules,
            &labelled_accounts,
            &flagged_accounts,
        );
        account.decoys = Some((
            decoy,
            decoy_accounts.intersection(&flagged_accounts).count(),
            decoy_accounts.len(),
        ));
        out.push(account);
        let labelled_rows: BTreeSet<&str> = labels
            .iter()
            .filter(|l| l.typology == typology)
            .filter_map(|l| l.txn_id.as_deref())
            .collect();
        if !labelled_rows.is_empty() {
            let flagged_rows: BTreeSet<&str> = hits.iter().map(|e| e.txn_id.as_str()).collect();
            out.push(compare(
                typology,
                "row",
                rules,
                &labelled_rows,
                &flagged_rows,
            ));
        }
    }
    // Internal transfers: the two labelled rows of an episode make a pair. A pair is
    // compared as its two txn_ids in sorted order: the debit and the credit of one transfer
    // cannot change places, so direction needs no separate check.
    let mut episodes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in labels.iter().filter(|l| l.typology == "internal_transfer") {
        if let Some(t) = l.txn_id.as_deref() {
            episodes.entry(l.episode.as_str()).or_default().push(t);
        }
    }
    let labelled_pairs: BTreeSet<(&str, &str)> = episodes
        .values()
        .filter(|rows| rows.len() == 2)
        .map(|rows| sorted_pair(rows[0], rows[1]))
        .collect();
    let matched: BTreeSet<(&str, &str)> =
        transfers.iter().map(|(d, c)| sorted_pair(d, c)).collect();
    out.push(compare(
        "internal_transfer",
        "pair",
        "transfers.csv",
        &labelled_pairs,
        &matched,
    ));
    out
}

fn sorted_pair<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

fn compare<T: Ord + Copy>(
    typology: &'static str,
    unit: &'static str,
    compared_with: &'static str,
    labelled: &BTreeSet<T>,
    flagged: &BTreeSet<T>,
) -> Outcome {
    let true_positives = labelled.intersection(flagged).count();
    Outcome {
        typology,
        unit,
        compared_with,
        labelled: labelled.len(),
        flagged: flagged.len(),
        true_positives,
        false_positives: flagged.len() - true_positives,
        false_negatives: labelled.len() - true_positives,
        decoys: None,
    }
}

/// Read the labels of case folder `dir` and the outputs in `out_dir`, and score them.
pub fn score_dirs(dir: &Path, out_dir: &Path) -> Result<Vec<Outcome>, ScoreError> {
    let labels = read_labels(dir)?;
    let evidence_path = out_dir.join("finding_evidence.csv");
    let evidence = read_columns(&evidence_path, &["rule_id", "txn_id", "account_id"])?
        .into_iter()
        .map(|mut v| EvidenceRow {
            account_id: v.pop().unwrap_or_default(),
            txn_id: v.pop().unwrap_or_default(),
            rule_id: v.pop().unwrap_or_default(),
        })
        .collect::<Vec<_>>();
    let transfers_path = out_dir.join("transfers.csv");
    let transfers = read_columns(&transfers_path, &["debit_txn_id", "credit_txn_id"])?
        .into_iter()
        .map(|mut v| {
            let credit = v.pop().unwrap_or_default();
            (v.pop().unwrap_or_default(), credit)
        })
        .collect::<Vec<_>>();
    Ok(score(&labels, &evidence, &transfers))
}

/// `labels.csv` of a synthetic case, each labelled row given the `txn_id` ingest gives it.
pub fn read_labels(dir: &Path) -> Result<Vec<LabelRow>, ScoreError> {
    let path = dir.join("labels.csv");
    let rows = read_columns(
        &path,
        &["typology", "account_id", "source_file", "line", "episode"],
    )?;
    let mut file_hash: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for (i, r) in rows.into_iter().enumerate() {
        let [typology, account_id, file, line, episode]: [String; 5] =
            r.try_into().unwrap_or_default();
        let txn = if file.is_empty() {
            None
        } else {
            let line: u32 = line.parse().map_err(|_| ScoreError::Value {
                path: path.clone(),
                line: i as u64 + 2,
                message: format!("line {line:?} is not a line number"),
            })?;
            let sha = match file_hash.get(&file) {
                Some(s) => s.clone(),
                None => {
                    let source = dir.join(&file);
                    let (sha, _) = sha256_file(&source).map_err(|e| ScoreError::Read {
                        path: source.clone(),
                        message: e.to_string(),
                    })?;
                    file_hash.insert(file.clone(), sha.clone());
                    sha
                }
            };
            Some(txn_id(&sha, line, 0))
        };
        out.push(LabelRow {
            typology,
            account_id,
            txn_id: txn,
            episode,
        });
    }
    Ok(out)
}

/// The named columns of a CSV file with a header line, in the order asked for. A missing
/// `episode` column (labels written before it existed) reads as empty.
fn read_columns(path: &Path, columns: &[&str]) -> Result<Vec<Vec<String>>, ScoreError> {
    let read_err = |message: String| ScoreError::Read {
        path: path.to_path_buf(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| read_err(e.to_string()))?;
    let header = reader
        .headers()
        .map_err(|e| read_err(e.to_string()))?
        .clone();
    let mut index = Vec::with_capacity(columns.len());
    for c in columns {
        match header.iter().position(|h| h == *c) {
            Some(i) => index.push(Some(i)),
            None if *c == "episode" => index.push(None),
            None => {
                return Err(ScoreError::Column {
                    path: path.to_path_buf(),
                    column: (*c).to_string(),
                })
            }
        }
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| read_err(e.to_string()))?;
        out.push(
            index
                .iter()
                .map(|i| i.and_then(|i| record.get(i)).unwrap_or("").to_string())
                .collect(),
        );
    }
    Ok(out)
}

/// The scores as a plain-text table.
pub fn table(outcomes: &[Outcome]) -> String {
    let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{:.1}%", v * 100.0));
    let mut out = format!(
        "{:<18} {:<8} {:<14} {:>8} {:>8} {:>6} {:>6} {:>6} {:>9} {:>9}  {}\n",
        "TYPOLOGY",
        "UNIT",
        "COMPARED WITH",
        "LABELLED",
        "FLAGGED",
        "TP",
        "FP",
        "FN",
        "PRECISION",
        "RECALL",
        "DECOYS FLAGGED"
    );
    for o in outcomes {
        let decoys = o
            .decoys
            .map(|(name, flagged, total)| format!("{flagged} of {total} {name}"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<18} {:<8} {:<14} {:>8} {:>8} {:>6} {:>6} {:>6} {:>9} {:>9}  {}\n",
            o.typology,
            o.unit,
            o.compared_with,
            o.labelled,
            o.flagged,
            o.true_positives,
            o.false_positives,
            o.false_negatives,
            pct(o.precision()),
            pct(o.recall()),
            decoys
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(typology: &str, account: &str, txn: Option<&str>, episode: &str) -> LabelRow {
        LabelRow {
            typology: typology.into(),
            account_id: account.into(),
            txn_id: txn.map(str::to_string),
            episode: episode.into(),
        }
    }

    fn ev(rule: &str, txn: &str, account: &str) -> EvidenceRow {
        EvidenceRow {
            rule_id: rule.into(),
            txn_id: txn.into(),
            account_id: account.into(),
        }
    }

    fn find<'a>(o: &'a [Outcome], typology: &str, unit: &str) -> &'a Outcome {
        o.iter()
            .find(|o| o.typology == typology && o.unit == unit)
            .unwrap()
    }

    #[test]
    fn counts_and_ratios_on_a_hand_made_case() {
        let labels = vec![
            // Structuring: A1 (3 rows) and A2 (2 rows); decoy large cash in A9.
            label("structuring", "A1", Some("a-L2"), "STR-A1"),
            label("structuring", "A1", Some("a-L3"), "STR-A1"),
            label("structuring", "A1", Some("a-L4"), "STR-A1"),
            label("structuring", "A2", Some("b-L2"), "STR-A2"),
            label("structuring", "A2", Some("b-L3"), "STR-A2"),
            label("decoy_large_cash", "A9", Some("z-L5"), ""),
            // Mule: A3; student decoy A8.
            label("mule", "A3", Some("c-L2"), "MULE-A3"),
            label("mule", "A3", Some("c-L3"), "MULE-A3"),
            label("decoy_student", "A8", Some("y-L2"), ""),
            // Fronts: A4, A5 (account-level); honest cash business A7.
            label("front", "A4", None, ""),
            label("front", "A5", None, ""),
            label("decoy_cash_business", "A7", None, ""),
            // Internal transfers: two pairs.
            label("internal_transfer", "A1", Some("a-L9"), "IT000001"),
            label("internal_transfer", "A2", Some("b-L9"), "IT000001"),
            label("internal_transfer", "A5", Some("e-L4"), "IT000002"),
            label("internal_transfer", "A6", Some("f-L4"), "IT000002"),
        ];
        let evidence = vec![
            // STR: A1 rows 2 and 3 (L4 missed), the decoy A9, and an ordinary A6 row.
            ev("STR-001", "a-L2", "A1"),
            ev("STR-001", "a-L3", "A1"),
            ev("STR-003", "a-L3", "A1"),
            ev("STR-002", "z-L5", "A9"),
            ev("STR-002", "f-L8", "A6"),
            // MUL: A3 both rows and the student.
            ev("MUL-001", "c-L2", "A3"),
            ev("MUL-001", "c-L3", "A3"),
            ev("MUL-001", "y-L2", "A8"),
            // CIB: A4 only.
            ev("CIB-001", "d-L7", "A4"),
            // Another rule says nothing about these typologies.
            ev("RAP-001", "b-L2", "A2"),
        ];
        let transfers = vec![
            ("a-L9".to_string(), "b-L9".to_string()),
            // The second labelled pair matched to the wrong credit.
            ("e-L4".to_string(), "g-L1".to_string()),
        ];
        let o = score(&labels, &evidence, &transfers);

        let s = find(&o, "structuring", "account");
        assert_eq!(
            (
                s.labelled,
                s.flagged,
                s.true_positives,
                s.false_positives,
                s.false_negatives
            ),
            (2, 3, 1, 2, 1)
        );
        assert_eq!(s.precision(), Some(1.0 / 3.0));
        assert_eq!(s.recall(), Some(0.5));
        assert_eq!(s.decoys, Some(("decoy_large_cash", 1, 1)));

        let r = find(&o, "structuring", "row");
        assert_eq!(
            (
                r.labelled,
                r.flagged,
                r.true_positives,
                r.false_positives,
                r.false_negatives
            ),
            (5, 4, 2, 2, 3)
        );
        assert_eq!(r.precision(), Some(0.5));
        assert_eq!(r.recall(), Some(0.4));

        let m = find(&o, "mule", "account");
        assert_eq!(
            (m.true_positives, m.false_positives, m.false_negatives),
            (1, 1, 0)
        );
        assert_eq!(m.decoys, Some(("decoy_student", 1, 1)));
        let mr = find(&o, "mule", "row");
        assert_eq!(
            (mr.true_positives, mr.false_positives, mr.false_negatives),
            (2, 1, 0)
        );

        let f = find(&o, "front", "account");
        assert_eq!(
            (f.true_positives, f.false_positives, f.false_negatives),
            (1, 0, 1)
        );
        assert_eq!(f.precision(), Some(1.0));
        assert_eq!(f.recall(), Some(0.5));
        assert_eq!(f.decoys, Some(("decoy_cash_business", 0, 1)));
        assert!(
            o.iter()
                .all(|x| !(x.typology == "front" && x.unit == "row")),
            "fronts are labelled per account only"
        );

        let t = find(&o, "internal_transfer", "pair");
        assert_eq!(
            (
                t.labelled,
                t.flagged,
                t.true_positives,
                t.false_positives,
                t.false_negatives
            ),
            (2, 2, 1, 1, 1)
        );
        assert_eq!(t.precision(), Some(0.5));
        assert_eq!(t.recall(), Some(0.5));
    }

    #[test]
    fn nothing_flagged_or_labelled_has_no_ratio() {
        let o = score(&[], &[], &[]);
        let s = find(&o, "structuring", "account");
        assert_eq!((s.labelled, s.flagged), (0, 0));
        assert_eq!((s.precision(), s.recall()), (None, None));
        assert!(table(&o).contains("n/a"));
    }

    #[test]
    fn labels_become_the_txn_ids_ingest_gives() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("statements")).unwrap();
        std::fs::write(dir.path().join("statements/a.csv"), b"h\nrow\n").unwrap();
        std::fs::write(
            dir.path().join("labels.csv"),
            "label_id,typology,account_id,source_file,line,note,episode\n\
             L0000001,front,A4,,,\"cash, far above\",\n\
             L0000002,structuring,A1,statements/a.csv,2,\"episode\",STR-A1\n",
        )
        .unwrap();
        let labels = read_labels(dir.path()).unwrap();
        let (sha, _) = sha256_file(&dir.path().join("statements/a.csv")).unwrap();
        assert_eq!(labels[0].txn_id, None);
        assert_eq!(labels[1].txn_id, Some(format!("{}-L2", &sha[..12])));
        assert_eq!(labels[1].episode, "STR-A1");
    }
}
