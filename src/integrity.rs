//! Evidential integrity: re-hash a run's inputs and outputs against its `manifest.json`.
//!
//! **In:** an output folder holding `manifest.json`, and the case folder the run read
//! (input paths in the manifest are as written in the case file, relative to it).
//! **Out:** a [`ManifestCheck`] listing every file the manifest names, each unchanged,
//! changed (SHA-256 or size differs), missing or unreadable, plus every file in the output
//! folder that the manifest does not name (an extra file, such as the `.NAME.partial` left
//! by an interrupted write). Shipped layouts, which are compiled into the binary, are
//! compared with this build's copy, so a run made by a build with a different layout shows.
//!
//! Why: outputs are attacked in court long after the run. `proceeds verify-manifest` shows
//! that the disclosed files and the schedules are byte for byte those of the run, or
//! exactly which are not. Every file is opened read-only; nothing is written.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::hash::sha256_file;
use crate::ingest::Registry;

/// The manifest's file name inside an output folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Why the manifest itself cannot be checked.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("cannot read {path}: {source}")]
    ManifestUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a proceeds manifest: {message}")]
    ManifestInvalid { path: PathBuf, message: String },
}

/// What a checked file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// The case file.
    CaseFile,
    /// An input listed in `inputs` with its role (`source`, `rates`, ...).
    Input { role: String },
    /// A layout file the case added (`layouts = [...]`).
    CaseLayout { id: String },
    /// A layout shipped in the binary, compared with this build's copy.
    ShippedLayout { id: String },
    /// An output listed in `outputs`.
    Output,
    /// A file in the output folder that the manifest does not list.
    Unlisted,
}

/// The result for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Same SHA-256 (and size, where recorded).
    Unchanged,
    /// The file is there but its bytes differ from the run's.
    Changed {
        expected_sha256: String,
        found_sha256: String,
        expected_size: Option<u64>,
        found_size: u64,
    },
    /// The file is not there, or cannot be read.
    Missing { reason: String },
    /// A file in the output folder the manifest does not list.
    Extra,
    /// The manifest names a path that cannot be checked safely (an output that is not a
    /// plain file name in the output folder).
    Refused { reason: String },
}

/// One file checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheck {
    pub kind: FileKind,
    /// As written in the manifest (inputs: relative to the case folder; outputs: file name).
    pub path: String,
    pub status: Status,
}

/// Everything `verify_manifest` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestCheck {
    /// The manifest checked.
    pub manifest: PathBuf,
    /// The run timestamp the manifest records.
    pub run_timestamp: String,
    /// Every file checked, inputs first, then outputs, then unlisted files.
    pub files: Vec<FileCheck>,
}

impl ManifestCheck {
    /// Whether every file is exactly as the run left it and nothing was added.
    pub fn is_intact(&self) -> bool {
        self.files.iter().all(|f| f.status == Status::Unchanged)
    }

    /// The files that are not as the run left them.
    pub fn problems(&self) -> impl Iterator<Item = &FileCheck> {
        self.files.iter().filter(|f| f.status != Status::Unchanged)
    }

    /// A plain-language report, one line per file that is not as the run left it, and a
    /// closing line with the counts.
    pub fn report(&self) -> String {
        let mut out = String::new();
        for f in self.problems() {
            let what = match &f.kind {
                FileKind::CaseFile => "case file".to_string(),
                FileKind::Input { role } => format!("input ({role})"),
                FileKind::CaseLayout { id } => format!("layout {id}"),
                FileKind::ShippedLayout { id } => format!("shipped layout {id}"),
                FileKind::Output => "output".to_string(),
                FileKind::Unlisted => "output folder".to_string(),
            };
            let line = match &f.status {
                Status::Unchanged => continue,
                Status::Changed {
                    expected_sha256,
                    found_sha256,
                    expected_size,
                    found_size,
                } => format!(
                    "CHANGED  {what} {}: SHA-256 {found_sha256} ({found_size} bytes), the run recorded {expected_sha256}{}",
                    f.path,
                    expected_size.map(|s| format!(" ({s} bytes)")).unwrap_or_default()
                ),
                Status::Missing { reason } => format!("MISSING  {what} {}: {reason}", f.path),
                Status::Extra => format!(
                    "EXTRA    {what}: {} is not listed in the manifest{}",
                    f.path,
                    if f.path.ends_with(".partial") {
                        " (an unfinished write: the run that left it did not complete)"
                    } else {
                        ""
                    }
                ),
                Status::Refused { reason } => format!("REFUSED  {what} {}: {reason}", f.path),
            };
            out.push_str(&line);
            out.push('\n');
        }
        let bad = self.problems().count();
        out.push_str(&format!(
            "{} files checked against {} (run {}): {}\n",
            self.files.len(),
            self.manifest.display(),
            self.run_timestamp,
            if bad == 0 {
                "all unchanged, nothing added".to_string()
            } else {
                format!("{bad} not as the run left them")
            }
        ));
        out
    }
}

/// The parts of `manifest.json` that name files. Unknown keys are allowed: the manifest
/// grows with the pipeline, and a check must still read older ones.
#[derive(Debug, Deserialize)]
struct ManifestFiles {
    run_timestamp: String,
    case: CaseEntry,
    inputs: Vec<InputEntry>,
    #[serde(default)]
    layouts: Vec<LayoutEntry>,
    outputs: Vec<OutputEntry>,
}

#[derive(Debug, Deserialize)]
struct CaseEntry {
    file: String,
    sha256: String,
}

#[derive(Debug, Deserialize)]
struct InputEntry {
    role: String,
    path: String,
    sha256: String,
    size_bytes: u64,
}

#[derive(Debug, Deserialize)]
struct LayoutEntry {
    id: String,
    origin: String,
    sha256: String,
}

#[derive(Debug, Deserialize)]
struct OutputEntry {
    file: String,
    sha256: String,
    size_bytes: u64,
}

/// Re-hash every input (relative to `case_dir`) and output (in `out_dir`) named by
/// `out_dir/manifest.json`, and list every file in `out_dir` the manifest does not name.
pub fn verify_manifest(out_dir: &Path, case_dir: &Path) -> Result<ManifestCheck, IntegrityError> {
    let manifest_path = out_dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).map_err(|source| {
        IntegrityError::ManifestUnreadable {
            path: manifest_path.clone(),
            source,
        }
    })?;
    let m: ManifestFiles =
        serde_json::from_str(&text).map_err(|e| IntegrityError::ManifestInvalid {
            path: manifest_path.clone(),
            message: e.to_string(),
        })?;

    let mut files = Vec::new();
    files.push(FileCheck {
        kind: FileKind::CaseFile,
        path: m.case.file.clone(),
        status: check_file(&case_dir.join(&m.case.file), &m.case.sha256, None),
    });
    for input in &m.inputs {
        files.push(FileCheck {
            kind: FileKind::Input {
                role: input.role.clone(),
            },
            path: input.path.clone(),
            status: check_file(
                &case_dir.join(&input.path),
                &input.sha256,
                Some(input.size_bytes),
            ),
        });
    }
    let shipped = Registry::shipped().ok();
    for layout in &m.layouts {
        if let Some(file) = shipped_layout_file(&layout.origin) {
            let this_build = shipped
                .as_ref()
                .and_then(|r| r.get(&layout.id))
                .filter(|l| l.origin == layout.origin);
            let status = match this_build {
                Some(l) if l.sha256 == layout.sha256 => Status::Unchanged,
                Some(l) => Status::Changed {
                    expected_sha256: layout.sha256.clone(),
                    found_sha256: l.sha256.clone(),
                    expected_size: None,
                    found_size: file.len() as u64,
                },
                None => Status::Missing {
                    reason: format!(
                        "this build of proceeds ({}) does not ship layout {}",
                        env!("CARGO_PKG_VERSION"),
                        layout.id
                    ),
                },
            };
            files.push(FileCheck {
                kind: FileKind::ShippedLayout {
                    id: layout.id.clone(),
                },
                path: layout.origin.clone(),
                status,
            });
        } else {
            files.push(FileCheck {
                kind: FileKind::CaseLayout {
                    id: layout.id.clone(),
                },
                path: layout.origin.clone(),
                status: check_file(&case_dir.join(&layout.origin), &layout.sha256, None),
            });
        }
    }

    let mut listed = BTreeSet::new();
    listed.insert(MANIFEST_FILE.to_string());
    for output in &m.outputs {
        let status = if is_plain_file_name(&output.file) {
            listed.insert(output.file.clone());
            check_file(
                &out_dir.join(&output.file),
                &output.sha256,
                Some(output.size_bytes),
            )
        } else {
            Status::Refused {
                reason: "an output must be a plain file name inside the output folder".into(),
            }
        };
        files.push(FileCheck {
            kind: FileKind::Output,
            path: output.file.clone(),
            status,
        });
    }
    let mut unlisted = Vec::new();
    match std::fs::read_dir(out_dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !listed.contains(&name) {
                    unlisted.push(name);
                }
            }
        }
        Err(e) => unlisted.push(format!("(output folder cannot be listed: {e})")),
    }
    unlisted.sort();
    files.extend(unlisted.into_iter().map(|path| FileCheck {
        kind: FileKind::Unlisted,
        path,
        status: Status::Extra,
    }));

    Ok(ManifestCheck {
        manifest: manifest_path,
        run_timestamp: m.run_timestamp,
        files,
    })
}

/// The shipped layout's file name when `origin` names one (`rules/formats/NAME.toml`).
fn shipped_layout_file(origin: &str) -> Option<&'static str> {
    let name = origin.strip_prefix("rules/formats/")?;
    crate::ingest::registry::SHIPPED
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, text)| *text)
}

/// A name with exactly one normal component: no folder, no `..`, not absolute.
fn is_plain_file_name(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(_)), None)
    )
}

fn check_file(path: &Path, expected_sha256: &str, expected_size: Option<u64>) -> Status {
    match sha256_file(path) {
        Ok((sha256, size)) => {
            if sha256 == expected_sha256 && expected_size.is_none_or(|s| s == size) {
                Status::Unchanged
            } else {
                Status::Changed {
                    expected_sha256: expected_sha256.to_string(),
                    found_sha256: sha256,
                    expected_size,
                    found_size: size,
                }
            }
        }
        Err(e) => Status::Missing {
            reason: format!("{} cannot be read: {e}", path.display()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_names_only() {
        assert!(is_plain_file_name("ledger.csv"));
        assert!(!is_plain_file_name("../ledger.csv"));
        assert!(!is_plain_file_name("/etc/passwd"));
        assert!(!is_plain_file_name("sub/ledger.csv"));
        assert!(!is_plain_file_name(""));
        assert!(!is_plain_file_name(".."));
    }

    /// Copy the demo case into a temporary folder and run it; (case folder, output folder).
    fn demo_run() -> (tempfile::TempDir, tempfile::TempDir) {
        let case_dir = tempfile::tempdir().unwrap();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo"),
            case_dir.path(),
        );
        let out = tempfile::tempdir().unwrap();
        let options = crate::pipeline::RunOptions {
            out_dir: out.path().to_path_buf(),
            run_timestamp: Some("2025-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        crate::pipeline::run(&case_dir.path().join("case.toml"), &options).unwrap();
        (case_dir, out)
    }

    fn copy_dir(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }

    fn problems(check: &ManifestCheck) -> Vec<(String, &'static str)> {
        check
            .problems()
            .map(|f| {
                let what = match f.status {
                    Status::Unchanged => "unchanged",
                    Status::Changed { .. } => "changed",
                    Status::Missing { .. } => "missing",
                    Status::Extra => "extra",
                    Status::Refused { .. } => "refused",
                };
                (f.path.clone(), what)
            })
            .collect()
    }

    #[test]
    fn a_fresh_run_is_intact_and_every_file_is_checked() {
        let (case_dir, out) = demo_run();
        let check = verify_manifest(out.path(), case_dir.path()).unwrap();
        assert!(check.is_intact(), "{}", check.report());
        let count = |k: fn(&FileKind) -> bool| check.files.iter().filter(|f| k(&f.kind)).count();
        assert_eq!(count(|k| *k == FileKind::CaseFile), 1);
        // Seven statements and five reference files (rates, price index, assets, gifts,
        // legitimate sources).
        assert_eq!(count(|k| matches!(k, FileKind::Input { .. })), 12);
        assert!(count(|k| matches!(k, FileKind::ShippedLayout { .. })) >= 5);
        assert_eq!(
            count(|k| *k == FileKind::Output),
            std::fs::read_dir(out.path()).unwrap().count() - 1
        );
        assert!(check.report().ends_with("all unchanged, nothing added\n"));
    }

    #[test]
    fn one_changed_output_byte_is_reported() {
        let (case_dir, out) = demo_run();
        let ledger = out.path().join("ledger.csv");
        let mut bytes = std::fs::read(&ledger).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x01;
        std::fs::write(&ledger, &bytes).unwrap();
        let check = verify_manifest(out.path(), case_dir.path()).unwrap();
        assert_eq!(problems(&check), [("ledger.csv".to_string(), "changed")]);
        let report = check.report();
        assert!(
            report.starts_with("CHANGED  output ledger.csv: SHA-256 "),
            "{report}"
        );
        assert!(report.contains("1 not as the run left them"), "{report}");
    }

    #[test]
    fn a_changed_input_a_missing_output_and_extra_files_are_reported() {
        let (case_dir, out) = demo_run();
        let statement = case_dir.path().join("statements/lloyds_DH_2024Q1.csv");
        let mut bytes = std::fs::read(&statement).unwrap();
        bytes.push(b'\n');
        std::fs::write(&statement, &bytes).unwrap();
        std::fs::remove_file(out.path().join("rejects.csv")).unwrap();
        std::fs::write(out.path().join("notes.txt"), "added later").unwrap();
        std::fs::write(out.path().join(".ledger.csv.partial"), "half").unwrap();
        let check = verify_manifest(out.path(), case_dir.path()).unwrap();
        assert_eq!(
            problems(&check),
            [
                ("statements/lloyds_DH_2024Q1.csv".to_string(), "changed"),
                ("rejects.csv".to_string(), "missing"),
                (".ledger.csv.partial".to_string(), "extra"),
                ("notes.txt".to_string(), "extra"),
            ]
        );
        let report = check.report();
        assert!(report.contains("an unfinished write"), "{report}");
        assert!(report.contains("MISSING  output rejects.csv"), "{report}");
    }

    #[test]
    fn a_changed_case_file_is_reported() {
        let (case_dir, out) = demo_run();
        let case = case_dir.path().join("case.toml");
        let text = std::fs::read_to_string(&case).unwrap();
        std::fs::write(&case, text.replace("lifestyle = true", "lifestyle = false")).unwrap();
        let check = verify_manifest(out.path(), case_dir.path()).unwrap();
        assert_eq!(problems(&check), [("case.toml".to_string(), "changed")]);
    }

    #[test]
    fn a_tampered_manifest_cannot_point_outside_the_output_folder() {
        let (case_dir, out) = demo_run();
        let path = out.path().join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("\"file\": \"ledger.csv\"", "\"file\": \"../ledger.csv\""),
        )
        .unwrap();
        let check = verify_manifest(out.path(), case_dir.path()).unwrap();
        assert_eq!(
            problems(&check),
            [
                ("../ledger.csv".to_string(), "refused"),
                ("ledger.csv".to_string(), "extra"),
            ]
        );
    }

    #[test]
    fn no_manifest_or_not_a_manifest_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = verify_manifest(dir.path(), dir.path()).unwrap_err();
        assert!(matches!(err, IntegrityError::ManifestUnreadable { .. }));
        std::fs::write(dir.path().join(MANIFEST_FILE), "{\"tool\": 1}").unwrap();
        let err = verify_manifest(dir.path(), dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("is not a proceeds manifest"),
            "{err}"
        );
    }

    #[test]
    fn shipped_layouts_are_found_by_origin() {
        assert!(shipped_layout_file("rules/formats/lloyds.toml").is_some());
        assert!(shipped_layout_file("layouts/lloyds.toml").is_none());
    }
}
