//! The memory budget: before any source is read, estimate the run's peak memory from the
//! total size of the case's sources and refuse, with a message saying what to do, when the
//! estimate exceeds the memory available. The ledger is held whole in memory through every
//! stage (only the outputs are written piece by piece), so a case larger than memory would
//! otherwise be killed by the operating system part-way through, with no message and no
//! outputs.
//!
//! The estimate is `base + PEAK_BYTES_PER_INPUT_BYTE × input bytes`, the base depending on
//! whether the run writes the court report and the workbook (about 1.2–1.4 GB whatever the
//! case's size). Both lines lie above every measured run of the release binary on generated
//! cases, from 8 MB to 765 MB of statements; see `docs/performance.md` ("Memory budget").
//! The estimate is for the run done one thing after another; the one step that may spend
//! more at once (typesetting the report beside the tables, in `pipeline`) does so only when
//! it finds the memory free. The memory available is the smallest of
//! `MemAvailable` from `/proc/meminfo` and the room left under the process's cgroup memory
//! limits (v2 `memory.max`, v1 `memory.limit_in_bytes`, at its own level and every level
//! above), or `PROCEEDS_MEMORY_AVAILABLE` (bytes) when set; where none can be read nothing
//! is refused. `--no-memory-check` skips the check. The kernel's files are parsed by pure
//! functions over their text; only [`available_on`] reads them.

use std::path::{Path, PathBuf};

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
        PEAK_BYTES_PER_INPUT_BYTE
    }

    /// What the estimate includes beyond the stages, as messages append it to "the input".
    pub fn included(self) -> &'static str {
        match self {
            Scope::WithReport => ", the court report included",
            Scope::WithoutReport => "",
        }
    }

    /// The fixed part of the estimate.
    pub fn base_bytes(self) -> u64 {
        match self {
            Scope::WithoutReport => BASE_PEAK_BYTES,
            Scope::WithReport => BASE_PEAK_BYTES_WITH_REPORT,
        }
    }
}

/// Peak resident memory per byte of source files: the part of a run that grows with the
/// ledger (ingest and verify hold it in columns; detect, trace and the schedules work
/// beside it). Measured with the release binary on generated cases (docs/performance.md,
/// "Memory budget", 2026-11-30): 6.41 GB for `trace` over 765 MB of sources (10,471,341
/// rows), 7.1 bytes per input byte above the 1 GB base, 8.4 counting nothing as fixed; 10
/// leaves room for cases that fill the columns this one leaves empty (about 1.3 bytes per
/// input byte at 10M) and for heavier taint than it has (more parts under pro rata).
pub const PEAK_BYTES_PER_INPUT_BYTE: u64 = 10;
/// The fixed part of the estimate for a run without the court report: the program, its
/// shipped layouts and rules, and the stages' per-run tables. The smallest measured runs
/// peak well under it (a 47 MB `trace` at 1.0 GB is 0.7 GB under the line).
pub const BASE_PEAK_BYTES: u64 = 1_000_000_000;
/// The fixed part for a run that writes the court report and the workbook: typesetting and
/// the workbook take about 1.2–1.4 GB whatever the size of the case, since their tables are
/// capped (a 7.9 MB case peaks at 1.1 GB, a 47 MB one at 2.3 GB, a 765 MB one at 10.3 GB).
pub const BASE_PEAK_BYTES_WITH_REPORT: u64 = 2_000_000_000;
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
    /// A cgroup v2 `memory.max` less what the cgroup uses.
    CgroupV2,
    /// A cgroup v1 `memory.limit_in_bytes` less what the cgroup uses.
    CgroupV1,
    /// The `PROCEEDS_MEMORY_AVAILABLE` environment variable.
    Environment,
}

impl AvailableFrom {
    /// Where the figure came from, as the refusal says it.
    pub fn describe(self) -> &'static str {
        match self {
            AvailableFrom::MemInfo => "MemAvailable in /proc/meminfo",
            AvailableFrom::CgroupV2 => "the cgroup v2 memory limit: memory.max less memory.current, reclaimable file cache not counted as used",
            AvailableFrom::CgroupV1 => "the cgroup v1 memory limit: memory.limit_in_bytes less memory.usage_in_bytes, reclaimable file cache not counted as used",
            AvailableFrom::Environment => MEMORY_AVAILABLE_VAR,
        }
    }
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
        let from = self.available.from.describe();
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
            "not enough memory for this case: its {} source {files} total {total}, a run over them needs an estimated {} of memory at its peak ({} + {} × the input{}), and {} is available ({from}). Largest sources: {}. No source has been read. Run it on a machine with more memory, or pass --no-memory-check to run it anyway (the operating system may then kill it part-way through). Only `ingest` and `trace --backward` hold the whole ledger this way: `verify`, `detect`, `trace`, `schedule` and `run` go in batches of linked accounts by themselves when it does not fit (as with --by-groups), with the same outputs",
            self.sources,
            human(self.estimate_bytes),
            human(self.scope.base_bytes()),
            self.scope.bytes_per_input_byte(),
            self.scope.included(),
            human(self.available.bytes),
            largest.join(", "),
        )
    }
}

/// The estimated peak memory of a run over `input_bytes` of source files.
pub fn estimate_peak(input_bytes: u64, scope: Scope) -> u64 {
    scope
        .base_bytes()
        .saturating_add(scope.bytes_per_input_byte().saturating_mul(input_bytes))
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

/// The peak resident memory of this process so far (`VmHWM` in `/proc/self/status`), where
/// the system reports it.
pub fn peak_memory_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// The resident memory of this process now (`VmRSS` in `/proc/self/status`), where the
/// system reports it.
pub fn resident_memory_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

fn status_bytes(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line
        .trim_start_matches(key)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The memory available to this run: `PROCEEDS_MEMORY_AVAILABLE` (bytes) when set, else
/// what [`available_on`] finds on this machine. A variable that is set but is not a whole
/// number of bytes is an error naming it.
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
                    "{MEMORY_AVAILABLE_VAR} is {text:?}; it must be a whole number of bytes (e.g. 8000000000), or unset to use the memory available to the process (MemAvailable in /proc/meminfo and its cgroup memory limit)"
                )
            });
    }
    Ok(available_on(&System::live()))
}

/// Where the kernel's memory figures are read from; tests point it at a folder of their own.
#[derive(Debug, Clone)]
pub struct System {
    /// `/proc/meminfo`.
    pub meminfo: PathBuf,
    /// `/proc/self/cgroup`: which cgroups the process is in.
    pub self_cgroup: PathBuf,
    /// `/sys/fs/cgroup`: where the cgroup file systems are mounted.
    pub cgroup_root: PathBuf,
}

impl System {
    /// This machine.
    pub fn live() -> System {
        System {
            meminfo: PathBuf::from("/proc/meminfo"),
            self_cgroup: PathBuf::from("/proc/self/cgroup"),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
        }
    }
}

/// The smallest of the memory figures that can be read: `MemAvailable`, and the room left
/// under the cgroup v2 and v1 memory limits of the process's cgroup and every cgroup above
/// it. `None` when none can be read.
pub fn available_on(system: &System) -> Option<Available> {
    let read = |path: PathBuf| std::fs::read_to_string(path).ok();
    let meminfo = read(system.meminfo.clone())
        .and_then(|text| mem_available(&text))
        .map(|bytes| Available {
            bytes,
            from: AvailableFrom::MemInfo,
        });
    let root = &system.cgroup_root;
    let memberships = read(system.self_cgroup.clone())
        .map(|text| cgroup_memberships(&text))
        .unwrap_or_default();
    // cgroup v2 is mounted at /sys/fs/cgroup, or at /sys/fs/cgroup/unified beside v1.
    let v2_root = if root.join("cgroup.controllers").exists() {
        root.clone()
    } else {
        root.join("unified")
    };
    let v2 = memberships.v2.as_deref().and_then(|path| {
        cgroup_room(&v2_root, path, |dir| {
            cgroup_v2_room(
                &read(dir.join("memory.max"))?,
                &read(dir.join("memory.current"))?,
                read(dir.join("memory.stat")).as_deref(),
            )
        })
    });
    let v1 = memberships.v1_memory.as_deref().and_then(|path| {
        cgroup_room(&root.join("memory"), path, |dir| {
            cgroup_v1_room(
                &read(dir.join("memory.limit_in_bytes"))?,
                &read(dir.join("memory.usage_in_bytes"))?,
                read(dir.join("memory.stat")).as_deref(),
            )
        })
    });
    smallest([
        meminfo,
        v2.map(|bytes| Available {
            bytes,
            from: AvailableFrom::CgroupV2,
        }),
        v1.map(|bytes| Available {
            bytes,
            from: AvailableFrom::CgroupV1,
        }),
    ])
}

/// The smallest figure; on a tie, the first.
pub fn smallest(figures: impl IntoIterator<Item = Option<Available>>) -> Option<Available> {
    figures
        .into_iter()
        .flatten()
        .fold(None, |best: Option<Available>, a| match best {
            Some(b) if b.bytes <= a.bytes => Some(b),
            _ => Some(a),
        })
}

/// The smallest room left under a cgroup's limit at its own level and every level above it
/// within the mount at `mount` (a limit above also binds). `room(dir)` reads one level:
/// `None` for no limit there or files that cannot be read. A cgroup path that is not under
/// the mount (a cgroup namespace shows the process its own cgroup as the mount's root)
/// leaves the mount's root only.
fn cgroup_room(mount: &Path, path: &str, room: impl Fn(&Path) -> Option<u64>) -> Option<u64> {
    let mut dir = mount.join(path.trim_start_matches('/'));
    if !dir.is_dir() {
        dir = mount.to_path_buf();
    }
    let mut best: Option<u64> = None;
    loop {
        if let Some(r) = room(&dir) {
            best = Some(best.map_or(r, |b| b.min(r)));
        }
        if dir == mount {
            return best;
        }
        match dir.parent() {
            Some(parent) if parent.starts_with(mount) => dir = parent.to_path_buf(),
            _ => return best,
        }
    }
}

/// The cgroups the process is in, from the text of `/proc/self/cgroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMemberships {
    /// The cgroup v2 path (`0::/path`).
    pub v2: Option<String>,
    /// The cgroup v1 path of the hierarchy holding the `memory` controller.
    pub v1_memory: Option<String>,
}

/// Parse `/proc/self/cgroup`: lines of `hierarchy-id:controllers:path`.
pub fn cgroup_memberships(text: &str) -> CgroupMemberships {
    let mut out = CgroupMemberships::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            out.v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "memory") {
            out.v1_memory = Some(path.to_string());
        }
    }
    out
}

/// A cgroup v1 limit at or above this is "no limit": the kernel writes the largest page
/// count it can hold (9223372036854771712 bytes with 4 KiB pages).
const V1_UNLIMITED: u64 = 1 << 62;

/// The room left under one cgroup v2 level: `memory.max` (`max` is no limit, `None`) less
/// `memory.current`, with the reclaimable file cache (`inactive_file` in `memory.stat`)
/// not counted as used.
pub fn cgroup_v2_room(max: &str, current: &str, stat: Option<&str>) -> Option<u64> {
    let max = max.trim();
    if max == "max" {
        return None;
    }
    let limit: u64 = max.parse().ok()?;
    let used: u64 = current.trim().parse().ok()?;
    Some(room(
        limit,
        used,
        stat.and_then(|s| stat_value(s, "inactive_file")),
    ))
}

/// The room left under one cgroup v1 level: `memory.limit_in_bytes` (the kernel's largest
/// value is no limit, `None`) less `memory.usage_in_bytes`, with the reclaimable file cache
/// (`total_inactive_file` in `memory.stat`) not counted as used.
pub fn cgroup_v1_room(limit: &str, usage: &str, stat: Option<&str>) -> Option<u64> {
    let limit: u64 = limit.trim().parse().ok()?;
    if limit >= V1_UNLIMITED {
        return None;
    }
    let used: u64 = usage.trim().parse().ok()?;
    Some(room(
        limit,
        used,
        stat.and_then(|s| stat_value(s, "total_inactive_file")),
    ))
}

fn room(limit: u64, used: u64, reclaimable: Option<u64>) -> u64 {
    limit.saturating_sub(used.saturating_sub(reclaimable.unwrap_or(0)))
}

/// One `key value` line of a cgroup's `memory.stat`.
fn stat_value(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
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

/// Two sizes for a message that compares them: as [`human`] gives them, each with its exact
/// bytes too when the two would read the same (2.0 GB needed, 2.0 GB available).
pub fn human_pair(a: u64, b: u64) -> (String, String) {
    let (ha, hb) = (human(a), human(b));
    if ha == hb && a != b {
        (format!("{ha} ({a} bytes)"), format!("{hb} ({b} bytes)"))
    } else {
        (ha, hb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sizes_that_read_the_same_are_given_in_bytes_too() {
        assert_eq!(
            human_pair(2_000_110_230, 2_000_100_000),
            (
                "2.0 GB (2000110230 bytes)".to_string(),
                "2.0 GB (2000100000 bytes)".to_string()
            )
        );
        assert_eq!(
            human_pair(9_600_000_000, 3_000_000_000),
            ("9.6 GB".to_string(), "3.0 GB".to_string())
        );
        assert_eq!(
            human_pair(5, 5),
            ("5 bytes".to_string(), "5 bytes".to_string())
        );
    }

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
        assert_eq!(estimate_peak(0, WithReport), 2_000_000_000);
        assert_eq!(estimate_peak(1_000_000, WithReport), 2_010_000_000);
        assert_eq!(estimate_peak(1_000_000, WithoutReport), 1_010_000_000);
        // Measured peaks (release binary, docs/performance.md, 2026-11-30) stay under the
        // line: full runs of 7,948,853 / 47,284,036 / 55,577,974 / 76,957,323 / 764,985,440
        // bytes of sources at 1.11 / 2.16 / 1.79 / 2.07 / 6.44 GB.
        for (input, peak) in [
            (7_948_853, 1_110_949_888),
            (47_284_036, 2_160_533_504),
            (55_577_974, 1_787_084_800),
            (76_957_323, 2_073_653_248),
            (764_985_440, 6_438_211_584),
        ] {
            assert!(estimate_peak(input, WithReport) > peak, "{input}");
        }
        // The 10M-row case: 9.6 GB, within a 16 GB laptop's 14 GB or so with room to spare.
        assert_eq!(estimate_peak(764_985_440, WithReport), 9_649_854_400);
        // `trace` (no report) of 47,284,036 / 55,577,974 / 764,985,440 bytes: 0.78 / 0.79 /
        // 6.41 GB.
        assert!(estimate_peak(47_284_036, WithoutReport) > 777_261_056);
        assert!(estimate_peak(55_577_974, WithoutReport) > 786_616_320);
        assert!(estimate_peak(764_985_440, WithoutReport) > 6_413_901_824);
        assert_eq!(estimate_peak(u64::MAX, WithReport), u64::MAX);
    }

    #[test]
    fn a_case_that_fits_proceeds_and_one_that_does_not_is_refused() {
        let sources = [
            source("a.csv", 10_000_000),
            source("b.csv", 40_000_000),
            source("c.csv", 50_000_000),
        ];
        // 100 MB of input → 2.0 GB + 1.0 GB = 3.0 GB.
        assert_eq!(
            decide(&sources, Scope::WithReport, machine(3_000_000_000)),
            Ok(3_000_000_000)
        );
        let refused = decide(&sources, Scope::WithReport, machine(2_999_999_999)).unwrap_err();
        assert_eq!(refused.sources, 3);
        assert_eq!(refused.input_bytes, 100_000_000);
        assert_eq!(refused.estimate_bytes, 3_000_000_000);
        assert_eq!(
            refused.largest,
            [sources[2].clone(), sources[1].clone(), sources[0].clone()]
        );
        // Without the court report the same case needs 2.0 GB.
        assert_eq!(
            decide(&sources, Scope::WithoutReport, machine(2_000_000_000)),
            Ok(2_000_000_000)
        );
        let text = refused.to_string();
        for needle in [
            "its 3 source files total 100.0 MB (100000000 bytes)",
            "an estimated 3.0 GB of memory at its peak (2.0 GB + 10 × the input, the court report included)",
            "and 3.0 GB is available (PROCEEDS_MEMORY_AVAILABLE)",
            "Largest sources: c.csv (50.0 MB), b.csv (40.0 MB), a.csv (10.0 MB)",
            "Only `ingest` and `trace --backward` hold the whole ledger this way",
            "go in batches of linked accounts by themselves when it does not fit",
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
            Ok(2_000_000_000 + 10 * 28)
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

    #[test]
    fn the_cgroups_of_the_process_are_read_from_proc_self_cgroup() {
        // A hybrid machine: v1 controllers and the v2 hierarchy side by side.
        let hybrid = "9:name=systemd:/\n4:memory:/process_api/1ca4\n3:cpuset:/\n0::/\n";
        assert_eq!(
            cgroup_memberships(hybrid),
            CgroupMemberships {
                v2: Some("/".into()),
                v1_memory: Some("/process_api/1ca4".into()),
            }
        );
        // cgroup v2 only; v1 with the memory controller sharing a hierarchy.
        assert_eq!(
            cgroup_memberships("0::/user.slice/user-1000.slice/session-3.scope\n"),
            CgroupMemberships {
                v2: Some("/user.slice/user-1000.slice/session-3.scope".into()),
                v1_memory: None,
            }
        );
        assert_eq!(
            cgroup_memberships("5:cpuacct,memory:/docker/abc\n")
                .v1_memory
                .as_deref(),
            Some("/docker/abc")
        );
        assert_eq!(cgroup_memberships(""), CgroupMemberships::default());
        assert_eq!(
            cgroup_memberships("garbage\n"),
            CgroupMemberships::default()
        );
    }

    #[test]
    fn the_room_under_a_cgroup_limit_is_the_limit_less_what_is_used() {
        let stat = "anon 1000\nfile 9000\ninactive_file 3000\nactive_file 6000\n";
        // 8 GB limit, 2 GB used of which 3,000 bytes are reclaimable cache.
        assert_eq!(
            cgroup_v2_room("8000000000\n", "2000000000\n", Some(stat)),
            Some(6_000_003_000)
        );
        assert_eq!(
            cgroup_v2_room("8000000000", "2000000000", None),
            Some(6_000_000_000)
        );
        assert_eq!(cgroup_v2_room("max\n", "2000000000\n", Some(stat)), None);
        // Over the limit (usage can pass it briefly): no room, never an underflow.
        assert_eq!(cgroup_v2_room("1000", "5000", None), Some(0));
        assert_eq!(cgroup_v2_room("lots", "1", None), None);
        assert_eq!(cgroup_v2_room("1000", "", None), None);
        let v1_stat = "cache 100\ninactive_file 7\ntotal_inactive_file 2117632\n";
        assert_eq!(
            cgroup_v1_room("4294967296\n", "6836224\n", Some(v1_stat)),
            Some(4_294_967_296 - 6_836_224 + 2_117_632)
        );
        // The kernel's "no limit" (the largest page count, in bytes).
        assert_eq!(
            cgroup_v1_room("9223372036854771712\n", "6836224\n", Some(v1_stat)),
            None
        );
    }

    #[test]
    fn the_smallest_figure_is_used_and_named() {
        let figure = |bytes, from| Some(Available { bytes, from });
        use AvailableFrom::*;
        assert_eq!(
            smallest([
                figure(21_000_000_000, MemInfo),
                figure(4_000_000_000, CgroupV2),
                figure(6_000_000_000, CgroupV1),
            ]),
            figure(4_000_000_000, CgroupV2)
        );
        assert_eq!(
            smallest([figure(5, MemInfo), None, figure(5, CgroupV1)]),
            figure(5, MemInfo)
        );
        assert_eq!(
            smallest([None, None, figure(7, CgroupV1)]),
            figure(7, CgroupV1)
        );
        assert_eq!(smallest([None, None, None]), None);

        let refused = decide(
            &[source("big.csv", 100_000_000)],
            Scope::WithoutReport,
            figure(1_500_000_000, CgroupV2),
        )
        .unwrap_err();
        assert!(refused.to_string().contains(
            "and 1.5 GB is available (the cgroup v2 memory limit: memory.max less memory.current, reclaimable file cache not counted as used)"
        ), "{refused}");
        let refused = decide(
            &[source("big.csv", 100_000_000)],
            Scope::WithoutReport,
            figure(1_500_000_000, CgroupV1),
        )
        .unwrap_err();
        assert!(refused.to_string().contains(
            "(the cgroup v1 memory limit: memory.limit_in_bytes less memory.usage_in_bytes, reclaimable file cache not counted as used)"
        ), "{refused}");
    }

    /// A machine laid out in a folder: `/proc/meminfo`, `/proc/self/cgroup` and the cgroup
    /// files, as `available_on` reads them.
    fn machine_in(dir: &Path, meminfo: &str, self_cgroup: &str, files: &[(&str, &str)]) -> System {
        let write = |rel: &str, text: &str| {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write("proc/meminfo", meminfo);
        write("proc/self/cgroup", self_cgroup);
        for (rel, text) in files {
            write(&format!("sys/fs/cgroup/{rel}"), text);
        }
        std::fs::create_dir_all(dir.join("sys/fs/cgroup")).unwrap();
        System {
            meminfo: dir.join("proc/meminfo"),
            self_cgroup: dir.join("proc/self/cgroup"),
            cgroup_root: dir.join("sys/fs/cgroup"),
        }
    }

    #[test]
    fn the_files_are_read_at_every_level_up_to_the_mount() {
        let meminfo = "MemTotal: 24522192 kB\nMemAvailable: 20000000 kB\n";
        // cgroup v2 alone: the limit of a parent binds its children.
        let dir = tempfile::tempdir().unwrap();
        let system = machine_in(
            dir.path(),
            meminfo,
            "0::/box/job\n",
            &[
                ("cgroup.controllers", "memory\n"),
                ("box/memory.max", "3000000000\n"),
                ("box/memory.current", "1000000000\n"),
                ("box/job/memory.max", "max\n"),
                ("box/job/memory.current", "500000000\n"),
                ("box/job/memory.stat", "inactive_file 100000000\n"),
            ],
        );
        assert_eq!(
            available_on(&system),
            Some(Available {
                bytes: 2_000_000_000,
                from: AvailableFrom::CgroupV2
            })
        );
        // A hybrid machine (v2 under unified/, v1 memory controller), as on the machine
        // these tests were written on: v1 says no limit, v2 has none, MemAvailable wins.
        let dir = tempfile::tempdir().unwrap();
        let system = machine_in(
            dir.path(),
            meminfo,
            "4:memory:/process_api/1ca4\n0::/\n",
            &[
                ("unified/cgroup.controllers", ""),
                (
                    "memory/process_api/1ca4/memory.limit_in_bytes",
                    "9223372036854771712\n",
                ),
                ("memory/process_api/1ca4/memory.usage_in_bytes", "6836224\n"),
                ("memory/memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory/memory.usage_in_bytes", "23946924032\n"),
            ],
        );
        assert_eq!(
            available_on(&system),
            Some(Available {
                bytes: 20_000_000 * 1024,
                from: AvailableFrom::MemInfo
            })
        );
        // The same with a 1 GiB v1 limit on the process's cgroup.
        std::fs::write(
            dir.path()
                .join("sys/fs/cgroup/memory/process_api/1ca4/memory.limit_in_bytes"),
            "1073741824\n",
        )
        .unwrap();
        assert_eq!(
            available_on(&system),
            Some(Available {
                bytes: 1_073_741_824 - 6_836_224,
                from: AvailableFrom::CgroupV1
            })
        );
        // A cgroup namespace: /proc/self/cgroup names a path the mount does not show; the
        // mount's root is the process's own cgroup.
        let dir = tempfile::tempdir().unwrap();
        let system = machine_in(
            dir.path(),
            "",
            "0::/../../elsewhere\n",
            &[
                ("cgroup.controllers", "memory\n"),
                ("memory.max", "512000000\n"),
                ("memory.current", "12000000\n"),
            ],
        );
        assert_eq!(
            available_on(&system),
            Some(Available {
                bytes: 500_000_000,
                from: AvailableFrom::CgroupV2
            })
        );
        // Nothing readable: nothing known, nothing refused.
        let dir = tempfile::tempdir().unwrap();
        let system = machine_in(dir.path(), "", "", &[]);
        assert_eq!(available_on(&system), None);
    }

    #[test]
    fn the_peak_so_far_grows_when_memory_is_touched() {
        // Linux reports VmHWM; elsewhere there is no figure and nothing is logged.
        if !std::path::Path::new("/proc/self/status").exists() {
            assert_eq!(peak_memory_bytes(), None);
            return;
        }
        let before = peak_memory_bytes().expect("VmHWM is in /proc/self/status");
        // 64 MB more than the peak so far, every page touched.
        let extra = 64 * 1024 * 1024;
        let held = vec![1u8; before as usize + extra];
        let after = peak_memory_bytes().expect("VmHWM is in /proc/self/status");
        assert!(after >= held.len() as u64, "{after} < {}", held.len());
        assert!(after > before);
        drop(held);
    }

    #[test]
    fn this_machine_gives_a_figure_no_larger_than_mem_available() {
        let live = available_on(&System::live());
        if let Some(meminfo) = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| mem_available(&t))
        {
            let live = live.expect("MemAvailable is readable, so a figure is found");
            // MemAvailable moves between the two reads; allow for it.
            assert!(
                live.bytes <= meminfo + 256 * 1024 * 1024,
                "{live:?} vs {meminfo}"
            );
        }
    }
}
