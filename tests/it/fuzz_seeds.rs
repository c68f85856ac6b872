//! The seeds of the fuzz targets for reference files, counterparty rules and rule files
//! (`fuzz/reference-seeds.txt`), and ~150 mutations of each (`hostile::mutations`), run
//! through the very checks the targets run (`fuzz/harness/reference_files.rs`): never a
//! panic, and every refusal names the file and a line within it.

use std::path::PathBuf;

use crate::support::root;

#[path = "../../fuzz/harness/reference_files.rs"]
mod harness;

/// (target, reader, seed file) from the seed list.
fn seeds() -> Vec<(String, String, PathBuf)> {
    let list = std::fs::read_to_string(root().join("fuzz/reference-seeds.txt")).unwrap();
    list.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(parts.len(), 3, "seed line {l:?}");
            (
                parts[0].to_string(),
                parts[1].to_string(),
                root().join(parts[2]),
            )
        })
        .collect()
}

#[test]
fn every_reference_fixture_and_rule_file_is_a_seed() {
    let listed: Vec<PathBuf> = seeds().into_iter().map(|(_, _, p)| p).collect();
    let mut wanted = Vec::new();
    for dir in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let dir = dir.unwrap().path();
        for sub in [dir.join("reference"), dir.join("case/reference")] {
            if let Ok(files) = std::fs::read_dir(sub) {
                wanted.extend(files.map(|f| f.unwrap().path()));
            }
        }
    }
    for f in std::fs::read_dir(root().join("rules/typologies")).unwrap() {
        wanted.push(f.unwrap().path());
    }
    wanted.push(root().join("rules/counterparties.toml"));
    let missing: Vec<_> = wanted.iter().filter(|p| !listed.contains(p)).collect();
    assert!(
        missing.is_empty(),
        "not in fuzz/reference-seeds.txt: {missing:?}"
    );
    for (target, reader, path) in seeds() {
        assert!(path.is_file(), "{}", path.display());
        match target.as_str() {
            "reference" => assert!(harness::READERS.contains(&reader.as_str()), "{reader}"),
            "counterparties" | "rule_file" => assert_eq!(reader, "-"),
            other => panic!("unknown target {other}"),
        }
    }
}

#[test]
fn reference_files_counterparty_rules_and_rule_files_survive_every_seed_and_its_mutations() {
    let cases = harness::Cases::load(&root());
    let mut failures = Vec::new();
    let mut runs = 0usize;
    for (target, reader, path) in seeds() {
        let bytes = std::fs::read(&path).unwrap();
        let mut variants = vec![("as is".to_string(), bytes.clone())];
        variants.extend(crate::hostile::mutations(&bytes));
        // The reference readers get every seed, so each reader sees every format's text.
        let readers: Vec<usize> = match target.as_str() {
            "reference" => (0..harness::READERS.len()).collect(),
            _ => vec![0],
        };
        for (what, variant) in variants {
            let text = String::from_utf8_lossy(&variant);
            for &r in &readers {
                runs += 1;
                let result =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        match target.as_str() {
                            "reference" => harness::reference(&cases, r, &text),
                            "counterparties" => harness::counterparties(&text),
                            _ => harness::rule_file(&text),
                        }
                    }));
                if let Err(panic) = result {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let via = match target.as_str() {
                        "reference" => harness::READERS[r],
                        other => other,
                    };
                    failures.push(format!(
                        "{} ({reader}) as {via}, {what}: {message}",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(runs > 15_000, "only {runs} runs");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
