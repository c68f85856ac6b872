//! The `proceeds` binary: parse arguments, call the library, map errors to exit codes.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = proceeds::cli::Cli::parse();
    match proceeds::cli::execute(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // Each error's message already carries its cause, so the chain is not repeated.
            eprintln!("proceeds: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
