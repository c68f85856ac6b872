//! The memory budget: before any source is read, estimate the run's peak memory from the
//! total size of the case's sources and refuse, with a message saying what to do, when the
//! estimate exceeds the memory available. Nothing is streamed (every source is read whole
//! and every output built whole), so a case larger than memory would otherwise be killed by
//! the operating system part-way through, with no message and no outputs.
//!
//! The estimate is `BASE_PEAK_BYTES + factor × input bytes`, the factor depending on whether
//! the run writes the court report (its PDF rendering is the costliest step by far). Both
//! factors are upper bounds over runs of the dev-profile binary on generated cases; see
//! `docs/performance.md` ("Memory budget"). The memory available is `MemAvailable` from
//! `/proc/meminfo`, or `PROCEEDS_MEMORY_AVAILABLE` (bytes) when set; where neither can be
//! read nothing is refused. `--no-memory-check` skips the check.

use std::path::Path;

/// How far a run goes, as far as its memory is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Ingest, verify, detect, trace: no court report.
    WithoutReport,
    /// Every stage and the court report (`run`, `schedule`, `ingest CASE`).
    WithReport,
}

impl Scope {
    /// Peak resident memory per byte of source files.
    pub fn bytes_per_input_byte(self) -> u64 {
        match self {
            Scope::WithoutReport => PEAK_BYTES_PER_INPUT_BYTE,
            Scope::WithReport => PEAK_BYTES_PER_INPUT_BYTE_WITH_REPORT,
        }
    }
}

/// Peak resident memory per byte of source files for a run without the court report: an
/// upper bound over the measured runs (at most 27 bytes per input byte, in detect).
pub const PEAK_BYTES_PER_INPUT_BYTE: u64 = 32;
/// The same for a run that writes the court report and the workbook: an upper bound over
/// the measured full runs (at most 59 bytes per input byte: 1,000 accounts, 754,011 rows,
/// with tracing and schedules; docs/performance.md).
pub const PEAK_BYTES_PER_INPUT_BYTE_WITH_REPORT: u64 = 64;
/// The fixed part of the estimate: a run over almost no input peaks at about 150 MB (the
/// program, its shipped layouts and rules, the court report's renderer); 300 MB keeps the
/// bound above every measured run.
pub const BASE_PEAK_BYTES: u64 = 300_000_000;
/// Environment variable that stands in for the memory available (bytes), for tests and for
/// a machine whose real limit `/proc/meminfo` does not show.
pub const MEMORY_AVAILABLE_VAR: &str = "PROCEEDS_MEMORY_AVAILABLE";
/// How many of the largest sources the refusal names.
const LARGEST_SHOWN: usize = 5;

/// One source file and its size on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSize {
    /// The path as written in the case file.
    pub file: String,
    pub bytes: u64,
}

/// Where the figure for the memory available came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvailableFrom {
    /// `MemAvailable` in `/proc/meminfo`.
    MemInfo,
    /// The `PROCEEDS_MEMORY_AVAILABLE` environment variable.
    Environment,
}

/// The memory available to the run, and where the figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Available {
    pub bytes: u64,
    pub from: AvailableFrom,
}

/// A case refused because its estimated peak memory exceeds the memory available.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct OverBudget {
    /// Number of sources and their total size.
    pub sources: usize,
    pub input_bytes: u64,
    /// Estimated peak memory of the run.
    pub estimate_bytes: u64,
    pub scope: Scope,
    pub available: Available,
    /// The largest sources, largest first.
    pub largest: Vec<SourceSize>,
}

impl OverBudget {
    fn message(&self) -> String {
        let from = match self.available.from {
            AvailableFrom::MemInfo => "MemAvailable in /proc/meminfo",
            AvailableFrom::Environment => MEMORY_AVAILABLE_VAR,
        };
        let largest: Vec<String> = self
            .largest
            .iter()
            .map(|s| format!("{} ({})", s.file, human(s.bytes)))
            .collect();
        let files = if self.sources == 1 { "file" } else { "files" };
        let total = if self.input_bytes >= 1_000 {
            format!("{} ({} bytes)", human(self.input_bytes), self.input_bytes)
        } else {
            human(self.input_bytes)
        };
        format!(
            "not enough memory for this case: its {} source {files} total {total}, a run over them needs an estimated {} of memory at its peak ({} + {} × the input{}), and {} is available ({from}). Largest sources: {}. No source has been read. Split the case into several runs over fewer sources, run it on a machine with more memory, or pass --no-memory-check to run it anyway (the operating system may then kill it part-way through)",
            self.sources,
            human(self.estimate_bytes),
            human(BASE_PEAK_BYTES),
            self.scope.bytes_per_input_byte(),
            match self.scope {
                Scope::WithReport => ", the court report included",
                Scope::WithoutReport => "",
            },
            human(self.available.bytes),
            largest.join(", "),
        )
    }
}

/// The estimated peak memory of a run over `input_bytes` of source files.
pub fn estimate_peak(input_bytes: u64, scope: Scope) -> u64 {
    BASE_PEAK_BYTES.saturating_add(scope.bytes_per_input_byte().saturating_mul(input_bytes))
}

/// Decide whether a run over `sources` fits in `available` memory: `Ok(estimate)` when it
/// does or when the memory available is unknown, the refusal otherwise.
pub fn decide(
    sources: &[SourceSize],
    scope: Scope,
    available: Option<Available>,
) -> Result<u64, OverBudget> {
    let input_bytes = sources
        .iter()
        .fold(0u64, |sum, s| sum.saturating_add(s.bytes));
    let estimate = estimate_peak(input_bytes, scope);
    match available {
        Some(available) if estimate > available.bytes => {
            let mut largest = sources.to_vec();
            largest.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.file.cmp(&b.file)));
            largest.truncate(LARGEST_SHOWN);
            Err(OverBudget {
                sources: sources.len(),
                input_bytes,
                estimate_bytes: estimate,
                scope,
                available,
                largest,
            })
        }
        _ => Ok(estimate),
    }
}

/// The sizes of files on disk. A file whose size cannot be read counts as empty here: reading
/// it fails later with an error naming it.
pub fn sizes<'a>(files: impl IntoIterator<Item = (&'a str, &'a Path)>) -> Vec<SourceSize> {
    files
        .into_iter()
        .map(|(written, path)| SourceSize {
            file: written.to_string(),
            bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
        })
        .collect()
}

/// The memory available to this run: `PROCEEDS_MEMORY_AVAILABLE` (bytes) when set, else
/// `MemAvailable` from `/proc/meminfo`, else unknown. A variable that is set but is not a
/// whole number of bytes is an error naming it.
pub fn available() -> Result<Option<Available>, String> {
    if let Some(value) = std::env::var_os(MEMORY_AVAILABLE_VAR) {
        let text = value.to_string_lossy();
        return text
            .trim()
            .parse::<u64>()
            .map(|bytes| {
                Some(Available {
                    bytes,
                    from: AvailableFrom::Environment,
                })
            })
            .map_err(|_| {
                format!(
                    "{MEMORY_AVAILABLE_VAR} is {text:?}; it must be a whole number of bytes (e.g. 8000000000), or unset to use MemAvailable from /proc/meminfo"
                )
            });
    }
    Ok(std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_available(&text))
        .map(|bytes| Available {
            bytes,
            from: AvailableFrom::MemInfo,
        }))
}

/// `MemAvailable` from the text of `/proc/meminfo`, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix("MemAvailable:")?;
        let mut parts = rest.split_whitespace();
        let number: u64 = parts.next()?.parse().ok()?;
        let unit = match parts.next() {
            Some("kB") => 1024,
            None => 1,
            Some(_) => return None,
        };
        number.checked_mul(unit)
    })
}

/// A size in decimal units: `950 bytes`, `12.3 MB`, `1.4 GB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [
        (1_000_000_000_000, "TB"),
        (1_000_000_000, "GB"),
        (1_000_000, "MB"),
    ];
    for (size, unit) in UNITS {
        if bytes >= size {
            let tenths = (u128::from(bytes) * 10 + u128::from(size) / 2) / u128::from(size);
            return format!("{}.{} {unit}", tenths / 10, tenths % 10);
        }
    }
    if bytes >= 1_000 {
        let tenths = (bytes * 10 + 500) / 1_000;
        return format!("{}.{} kB", tenths / 10, tenths % 10);
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(file: &str, bytes: u64) -> SourceSize {
        SourceSize {
            file: file.to_string(),
            bytes,
        }
    }

    fn machine(bytes: u64) -> Option<Available> {
        Some(Available {
            bytes,
            from: AvailableFrom::Environment,
        })
    }

    #[test]
    fn the_estimate_is_the_base_plus_the_factor_times_the_input() {
        use Scope::*;
        assert_eq!(estimate_peak(0, WithReport), 300_000_000);
        assert_eq!(estimate_peak(1_000_000, WithReport), 364_000_000);
        assert_eq!(estimate_peak(1_000_000, WithoutReport), 332_000_000);
        // Measured: 47.28 MB of statements (4 accounts, 608,434 rows) peaked at 2.64 GB in a
        // full run and 1.26 GB in detect; 55.6 MB (1,000 accounts) at 3.29 GB in a full run.
        assert_eq!(estimate_peak(47_284_036, WithReport), 3_326_178_304);
        assert!(estimate_peak(47_284_036, WithReport) > 2_640_528_000);
        assert!(estimate_peak(55_600_000, WithReport) > 3_291_640_000);
        assert_eq!(estimate_peak(47_284_036, WithoutReport), 1_813_089_152);
        assert!(estimate_peak(47_284_036, WithoutReport) > 1_263_616_000);
        assert_eq!(estimate_peak(u64::MAX, WithReport), u64::MAX);
    }

    #[test]
    fn a_case_that_fits_proceeds_and_one_that_does_not_is_refused() {
        let sources = [
            source("a.csv", 10_000_000),
            source("b.csv", 40_000_000),
            source("c.csv", 50_000_000),
        ];
        // 100 MB of input → 0.3 GB + 6.4 GB = 6.7 GB.
        assert_eq!(
            decide(&sources, Scope::WithReport, machine(6_700_000_000)),
            Ok(6_700_000_000)
        );
        let refused = decide(&sources, Scope::WithReport, machine(6_699_999_999)).unwrap_err();
        assert_eq!(refused.sources, 3);
        assert_eq!(refused.input_bytes, 100_000_000);
        assert_eq!(refused.estimate_bytes, 6_700_000_000);
        assert_eq!(
            refused.largest,
            [sources[2].clone(), sources[1].clone(), sources[0].clone()]
        );
        // Without the court report the same case needs 3.5 GB.
        assert_eq!(
            decide(&sources, Scope::WithoutReport, machine(3_500_000_000)),
            Ok(3_500_000_000)
        );
        let text = refused.to_string();
        for needle in [
            "its 3 source files total 100.0 MB (100000000 bytes)",
            "an estimated 6.7 GB of memory at its peak (300.0 MB + 64 × the input, the court report included)",
            "and 6.7 GB is available (PROCEEDS_MEMORY_AVAILABLE)",
            "Largest sources: c.csv (50.0 MB), b.csv (40.0 MB), a.csv (10.0 MB)",
            "Split the case into several runs",
            "a machine with more memory",
            "--no-memory-check",
        ] {
            assert!(text.contains(needle), "{needle:?} not in {text}");
        }
    }

    #[test]
    fn unknown_memory_never_refuses_and_only_the_largest_five_are_named() {
        let many: Vec<SourceSize> = (0..8u64).map(|i| source(&format!("s{i}.csv"), i)).collect();
        assert_eq!(
            decide(&many, Scope::WithReport, None),
            Ok(300_000_000 + 64 * 28)
        );
        let refused = decide(&many, Scope::WithoutReport, machine(0)).unwrap_err();
        let names: Vec<&str> = refused.largest.iter().map(|s| s.file.as_str()).collect();
        assert_eq!(names, ["s7.csv", "s6.csv", "s5.csv", "s4.csv", "s3.csv"]);
    }

    #[test]
    fn mem_available_is_read_from_meminfo_in_kilobytes() {
        let meminfo = "MemTotal:       24522192 kB\nMemFree:         1234567 kB\nMemAvailable:   21560708 kB\n";
        assert_eq!(mem_available(meminfo), Some(21_560_708 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
    }

    #[test]
    fn sizes_are_written_in_decimal_units() {
        assert_eq!(human(950), "950 bytes");
        assert_eq!(human(32_321), "32.3 kB");
        assert_eq!(human(11_432_733), "11.4 MB");
        assert_eq!(human(1_474_000_000), "1.5 GB");
        assert_eq!(human(24_000_000_000_000), "24.0 TB");
    }
}
