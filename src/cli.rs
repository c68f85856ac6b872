//! Command-line interface: arguments in, validated settings out, one library call per command.

use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::case::{Case, ResolveOptions};
use crate::error::{Error, EXIT_BAD_INPUT};
use crate::ingest::detect::detect;
use crate::ingest::Registry;
use crate::money::format_amount;
use crate::pipeline::{self, RunOptions, RunSummary};

/// proceeds: trace criminal proceeds through bank statements and build the schedules for a
/// confiscation order.
///
/// Point it at a case file (case.toml) naming the subjects, accounts and disclosed
/// statements; it writes a ledger of every transaction with its provenance, a list of
/// every rejected line with the reason, and a manifest of SHA-256 hashes.
///
/// Exit codes: 0 success, 2 bad input (case file, layout, disclosed file), 3 internal error.
#[derive(Debug, Parser)]
#[command(
    name = "proceeds",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every stage over a case and write all outputs.
    Run(RunArgs),
    /// Read statements into the ledger (ledger, rejects, sources, manifest): a case file,
    /// or a single statement file whose format is detected unless --layout names it.
    Ingest(IngestArgs),
    /// Ingest and verify: balance continuity, coverage gaps, duplicates, internal
    /// transfers, currency conversion (adds integrity.csv, duplicates.csv, transfers.csv).
    Verify(RunArgs),
    /// Ingest, verify and apply the detection rules (adds findings.csv, finding_evidence.csv).
    Detect(RunArgs),
    /// Ingest, verify, detect and trace tainted money by every method (adds trace_*.csv); the
    /// case file's `[tracing]` table says what is tainted.
    Trace(TraceArgs),
    /// Detection rules: check rule files, list the shipped rules, explain one.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Which case accounts the stages must see together: accounts linked by a controller,
    /// a shared address or phone, a matched internal transfer or a money transfer, in
    /// groups (writes groups.csv; see docs/streaming.md).
    Groups(GroupsArgs),
    /// Ingest, verify, trace (if the case asks) and build the confiscation schedules: benefit,
    /// exclusions, available amount, tainted gifts, recoverable amount (adds schedule_*.csv
    /// and schedules.xlsx); the case must name a price_index reference file.
    Schedule(RunArgs),
    /// Statement layouts and formats.
    #[command(subcommand)]
    Formats(FormatsCommand),
    /// Write a labelled synthetic case (fictional people) to practise on or benchmark with;
    /// `proceeds synth score DIR OUTDIR` scores a run's findings against its labels.
    Synth(SynthCommandArgs),
    /// Re-hash a run's inputs and outputs against its manifest.json and report any change.
    /// Exit 0 when everything is unchanged, 1 when anything changed, went missing or was added.
    VerifyManifest {
        /// The run's output folder (holding manifest.json).
        out: PathBuf,
        /// The case folder the inputs are relative to.
        #[arg(long)]
        case_dir: PathBuf,
    },
}

/// `proceeds synth --out DIR ...` writes a case; `proceeds synth score DIR OUTDIR` scores a
/// run of it.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SynthCommandArgs {
    #[command(subcommand)]
    pub command: Option<SynthCommand>,
    #[command(flatten)]
    pub generate: SynthArgs,
}

/// `proceeds synth ...`
#[derive(Debug, Subcommand)]
pub enum SynthCommand {
    /// Precision and recall per typology: the findings and matched transfers of a run
    /// (`proceeds run DIR/case.toml --out OUTDIR`) against the case's labels.csv.
    Score {
        /// The synthetic case folder (holding labels.csv).
        dir: PathBuf,
        /// The run's output folder (holding finding_evidence.csv and transfers.csv).
        out_dir: PathBuf,
    },
}

/// Arguments of `proceeds synth` when it writes a case.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Folder to write the case into.
    #[arg(long, short, required = true)]
    pub out: Option<PathBuf>,
    /// Seed: the same seed always writes the same case.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of accounts.
    #[arg(long, default_value_t = 50)]
    pub accounts: usize,
    /// Months of statements, from January 2023.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Approximate total number of transactions (default: about 60 per account per month).
    #[arg(long)]
    pub rows: Option<u64>,
    /// Cash deposits in a structuring episode (this many or one more).
    #[arg(long, default_value_t = 3)]
    pub structuring_deposits: u64,
    /// Days between the deposits of a structuring episode.
    #[arg(long, default_value_t = 2)]
    pub structuring_gap_days: u64,
    /// Lowest structured deposit, in pounds (the highest is 9900).
    #[arg(long, default_value_t = 8100)]
    pub structuring_low_pounds: u64,
    /// Fewest senders paying into a mule account (up to 14 more).
    #[arg(long, default_value_t = 12)]
    pub mule_senders: u64,
    /// Percent of a mule's receipts paid out again.
    #[arg(long, default_value_t = 95)]
    pub mule_out_percent: i64,
    /// Days from a mule's receipts to the payment out.
    #[arg(long, default_value_t = 1)]
    pub mule_dwell_days: u64,
    /// Percent of a front business's takings paid in as cash.
    #[arg(long, default_value_t = 85)]
    pub front_cash_percent: u64,
    /// A front's declared turnover as a percent of the cash it banked.
    #[arg(long, default_value_t = 20)]
    pub front_declared_percent: i64,
}

/// Arguments shared by the commands that run stages over a case.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The case file (case.toml). Paths inside it are relative to its folder.
    #[arg(value_name = "CASE")]
    pub case: PathBuf,
    /// Folder for the outputs; created if missing, existing outputs replaced.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Fix the run timestamp recorded in manifest.json (e.g. 2025-01-01T00:00:00Z) so
    /// reruns are byte-identical. Also read from PROCEEDS_RUN_TIMESTAMP.
    #[arg(long, value_name = "RFC3339")]
    pub run_timestamp: Option<String>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Allow source paths outside the case folder (absolute paths, `..`, links out of it).
    #[arg(long)]
    pub allow_outside_case_dir: bool,
    /// Run even when the sources' estimated peak memory exceeds the memory available. The
    /// check otherwise runs such a case by groups (below), in batches cut to fit, or refuses
    /// it (`ingest`, or a group of linked accounts too large on its own); see
    /// docs/streaming.md.
    #[arg(long)]
    pub no_memory_check: bool,
    /// Run the case in batches of linked accounts (`proceeds groups`), each read, verified
    /// and searched on its own, so that the whole ledger is never held in memory; the
    /// outputs are the same bytes (docs/streaming.md). A run whose whole ledger would not
    /// fit the memory available does this by itself. Not for `ingest`.
    #[arg(long)]
    pub by_groups: bool,
    /// With --by-groups: the most rows a batch holds, unless one group of linked accounts
    /// alone holds more. Fewer rows, less memory; more batches, more time.
    #[arg(long, value_name = "ROWS", default_value_t = crate::batches::BATCH_ROWS, requires = "by_groups")]
    pub batch_rows: u64,
}

/// Arguments of `proceeds groups`.
#[derive(Debug, Args)]
pub struct GroupsArgs {
    /// The case file (case.toml). Paths inside it are relative to its folder.
    #[arg(value_name = "CASE")]
    pub case: PathBuf,
    /// Folder for groups.csv; created if missing.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Allow source paths outside the case folder (absolute paths, `..`, links out of it).
    #[arg(long)]
    pub allow_outside_case_dir: bool,
    /// Go on even when the memory the pass will hold is projected to exceed the memory
    /// available (checked after each batch of sources).
    #[arg(long)]
    pub no_memory_check: bool,
    /// Fix the run timestamp recorded in manifest.json (e.g. 2025-01-01T00:00:00Z) so
    /// reruns are byte-identical. Also read from PROCEEDS_RUN_TIMESTAMP.
    #[arg(long, value_name = "RFC3339")]
    pub run_timestamp: Option<String>,
}

/// Arguments of `proceeds ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// For a single statement file: the layout to read it with (default: detected).
    #[arg(long)]
    pub layout: Option<String>,
    /// For a single statement file: the account's currency.
    #[arg(long, default_value = "GBP")]
    pub currency: String,
}

/// Arguments of `proceeds trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Also print, for this debit (a txn_id), how much of it is tainted under each method
    /// and from which origins.
    #[arg(long, value_name = "TXN_ID")]
    pub backward: Option<String>,
}

/// `proceeds rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check rule files (default: the shipped rules) and list what they define.
    Check {
        /// Rule files to check.
        paths: Vec<PathBuf>,
    },
    /// List the shipped rules.
    List,
    /// Print a rule's description, basis, parameters and scope.
    Explain {
        /// Rule id, e.g. STR-001.
        id: String,
    },
}

/// `proceeds formats ...`
#[derive(Debug, Subcommand)]
pub enum FormatsCommand {
    /// List the shipped layouts (and those a case adds, with --case).
    List {
        /// Also list the layouts this case file adds.
        #[arg(long)]
        case: Option<PathBuf>,
    },
    /// Say which layout a file is, and why.
    Detect {
        /// The statement file.
        file: PathBuf,
        /// Also consider the layouts this case file adds.
        #[arg(long)]
        case: Option<PathBuf>,
    },
    /// Print a shipped layout file, to copy and adapt for another bank.
    Show {
        /// Layout id, e.g. lloyds.
        id: String,
    },
}

/// Run the parsed command. Returns the exit code.
pub fn execute(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Run(args) => {
            let (quiet, options) = run_options(&args);
            let summary = pipeline::run(&args.case, &options)?;
            if !quiet {
                print_summary(&summary);
            }
            Ok(0)
        }
        Command::Verify(args) => {
            let (quiet, options) = run_options(&args);
            let summary = pipeline::run_to(&args.case, &options, pipeline::Stage::Verify)?;
            if !quiet {
                print_summary(&summary);
            }
            Ok(0)
        }
        Command::Detect(args) => {
            let (quiet, options) = run_options(&args);
            let summary = pipeline::run_to(&args.case, &options, pipeline::Stage::Detect)?;
            if !quiet {
                print_summary(&summary);
            }
            Ok(0)
        }
        Command::Rules(RulesCommand::Check { paths }) => {
            let rules = crate::rules::check(&paths)?;
            print_out(&rules_table(&rules));
            print_out(&format!("{} rules OK\n", rules.len()));
            Ok(0)
        }
        Command::Rules(RulesCommand::List) => {
            print_out(&rules_table(&crate::rules::list()?));
            Ok(0)
        }
        Command::Rules(RulesCommand::Explain { id }) => {
            print_out(&crate::rules::explain(&id)?);
            Ok(0)
        }
        Command::Trace(args) => {
            let (quiet, options) = run_options(&args.run);
            let summary = pipeline::run_to(&args.run.case, &options, pipeline::Stage::Trace)?;
            if !quiet {
                print_summary(&summary);
            }
            if let Some(txn) = &args.backward {
                print_out(&pipeline::backward_report(&args.run.case, &options, txn)?);
            }
            Ok(0)
        }
        Command::Schedule(args) => {
            let (quiet, options) = run_options(&args);
            let case = Case::load(&args.case, options.resolve)?;
            if case.reference_file("price_index").is_none() {
                return Err(Error::Usage(format!(
                    "{}: the case names no price_index reference file; the schedules value benefit and gifts by it (s.80), see docs/schedules.md",
                    args.case.display()
                )));
            }
            let summary = pipeline::run_to(&args.case, &options, pipeline::Stage::Schedule)?;
            if !quiet {
                print_summary(&summary);
            }
            Ok(0)
        }
        Command::Ingest(args) => {
            let (quiet, options) = run_options(&args.run);
            let input = &args.run.case;
            let is_case = input
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
            if is_case {
                let summary = pipeline::run_to(input, &options, pipeline::Stage::Ingest)?;
                if !quiet {
                    print_summary(&summary);
                }
            } else {
                let (summary, layout) =
                    pipeline::ingest_file(input, args.layout.as_deref(), &args.currency, &options)?;
                if !quiet {
                    print_out(&format!(
                        "read {} with layout {layout} (no case file: one account, identifiers not checked)\n",
                        input.display()
                    ));
                    print_summary(&summary);
                }
            }
            Ok(0)
        }
        Command::Groups(args) => {
            let (case, summary) = crate::groups::run(
                &args.case,
                &args.out,
                ResolveOptions {
                    allow_outside_case_dir: args.allow_outside_case_dir,
                },
                !args.no_memory_check,
                args.run_timestamp.as_deref(),
            )?;
            if !args.quiet {
                print_out(&summary.text(&case));
            }
            Ok(0)
        }
        Command::VerifyManifest { out, case_dir } => {
            let check = crate::integrity::verify_manifest(&out, &case_dir)
                .map_err(|e| Error::Usage(e.to_string()))?;
            print_out(&check.report());
            Ok(if check.is_intact() { 0 } else { 1 })
        }
        Command::Synth(SynthCommandArgs {
            command: Some(SynthCommand::Score { dir, out_dir }),
            ..
        }) => {
            let outcomes = crate::synth::score::score_dirs(&dir, &out_dir)
                .map_err(|e| Error::Usage(e.to_string()))?;
            print_out(&format!(
                "detection quality: {} (labels) against {} (findings, transfers)\n\
                 units: account = an account holding an evidence row of the typology's rules; \
                 row = a ledger row; pair = a transfer's debit and credit rows\n",
                dir.display(),
                out_dir.display()
            ));
            print_out(&crate::synth::score::table(&outcomes));
            Ok(0)
        }
        Command::Synth(SynthCommandArgs {
            command: None,
            generate: args,
        }) => {
            let out = args
                .out
                .ok_or_else(|| Error::Usage("proceeds synth needs --out DIR".into()))?;
            let summary = crate::synth::synth(&crate::synth::SynthOptions {
                out: out.clone(),
                seed: args.seed,
                accounts: args.accounts,
                months: args.months,
                rows: args.rows,
                typology: crate::synth::TypologyParams {
                    structuring_deposits: args.structuring_deposits,
                    structuring_gap_days: args.structuring_gap_days,
                    structuring_low_pounds: args.structuring_low_pounds,
                    mule_senders: args.mule_senders,
                    mule_out_percent: args.mule_out_percent,
                    mule_dwell_days: args.mule_dwell_days,
                    front_cash_percent: args.front_cash_percent,
                    front_declared_percent: args.front_declared_percent,
                },
            })
            .map_err(|e| Error::Usage(e.to_string()))?;
            print_out(&format!(
                "wrote {} accounts, {} transactions and {} labels to {}\nrun it with: proceeds run {}/case.toml --out OUT\n",
                summary.accounts,
                summary.rows,
                summary.labels,
                out.display(),
                out.display()
            ));
            Ok(0)
        }
        Command::Formats(FormatsCommand::List { case }) => {
            let registry = registry_for(case)?;
            let mut out = format!(
                "{:<16} {:>3}  {:<10} {:<48} {}\n",
                "ID", "VER", "KIND", "NAME", "ORIGIN"
            );
            for l in registry.iter() {
                out.push_str(&format!(
                    "{:<16} {:>3}  {:<10} {:<48} {}\n",
                    l.id,
                    l.version,
                    format!("{:?}", l.kind).to_lowercase(),
                    l.name,
                    l.origin
                ));
            }
            print_out(&out);
            Ok(0)
        }
        Command::Formats(FormatsCommand::Detect { file, case }) => {
            let registry = registry_for(case)?;
            let bytes = std::fs::read(&file)
                .map_err(|e| Error::Usage(format!("cannot read {}: {e}", file.display())))?;
            let found = detect(&bytes, &registry);
            let mut out = format!(
                "{}: {}\n",
                file.display(),
                found.layout.as_deref().unwrap_or("unknown")
            );
            for r in &found.reasons {
                out.push_str(&format!("  - {r}\n"));
            }
            if found.candidates.len() > 1 {
                out.push_str("  candidates:\n");
                for (id, why) in &found.candidates {
                    out.push_str(&format!("    {id}: {why}\n"));
                }
            }
            print_out(&out);
            Ok(if found.layout.is_some() {
                0
            } else {
                EXIT_BAD_INPUT
            })
        }
        Command::Formats(FormatsCommand::Show { id }) => {
            let file = format!("{id}.toml");
            match crate::ingest::registry::SHIPPED
                .iter()
                .find(|(f, _)| *f == file)
            {
                Some((_, text)) => {
                    print_out(text);
                    Ok(0)
                }
                None => Err(Error::Usage(format!(
                    "no shipped layout {id:?}; see `proceeds formats list`"
                ))),
            }
        }
    }
}

fn rules_table(rules: &[crate::rules::RuleInfo]) -> String {
    let mut out = format!(
        "{:<9} {:>3}  {:<22} {:<8} {}\n",
        "ID", "VER", "KIND", "SEVERITY", "NAME"
    );
    for r in rules {
        out.push_str(&format!(
            "{:<9} {:>3}  {:<22} {:<8} {}\n",
            r.id, r.version, r.kind, r.severity, r.name
        ));
    }
    out
}

fn registry_for(case: Option<PathBuf>) -> Result<Registry, Error> {
    Ok(match case {
        Some(path) => Registry::for_case(&Case::load(&path, ResolveOptions::default())?)?,
        None => Registry::shipped()?,
    })
}

fn run_options(args: &RunArgs) -> (bool, RunOptions) {
    let quiet = args.quiet;
    let options = RunOptions {
        out_dir: args.out.clone(),
        run_timestamp: args.run_timestamp.clone(),
        show_progress: !quiet && std::io::stderr().is_terminal(),
        log_stages: !quiet && std::io::stderr().is_terminal(),
        resolve: ResolveOptions {
            allow_outside_case_dir: args.allow_outside_case_dir,
        },
        skip_memory_check: args.no_memory_check,
        by_groups: args.by_groups,
        batch_rows: args.batch_rows,
    };
    (quiet, options)
}

fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth reporting.
    let _ = stdout.write_all(text.as_bytes());
}

fn print_summary(s: &RunSummary) {
    let width = s
        .sources
        .iter()
        .map(|r| r.source_file.chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!("case {}\n", s.case_reference);
    out.push_str(&format!(
        "{:<width$}  {:<16} {:>8} {:>8} {:>8} {:>8} {:>14} {:>14}\n",
        "SOURCE", "LAYOUT", "READ", "ACCEPTED", "REJECTED", "SKIPPED", "MONEY IN", "MONEY OUT"
    ));
    for r in &s.sources {
        out.push_str(&format!(
            "{:<width$}  {:<16} {:>8} {:>8} {:>8} {:>8} {:>14} {:>14}\n",
            r.source_file,
            r.layout,
            r.records_read,
            r.accepted,
            r.rejected,
            r.skipped,
            format_amount(r.money_in),
            format_amount(r.money_out)
        ));
    }
    for note in &s.stage_notes {
        out.push_str(&format!("{note}\n"));
    }
    for note in &s.run_notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str(&format!(
        "{} ledger rows, {} rejected (see rejects.csv)\nwrote {} files to {}\n",
        s.ledger_rows,
        s.rejected,
        s.outputs.len() + 1,
        s.out_dir.display()
    ));
    print_out(&out);
}
