//! The `loomap` command line: parse flags, run a subcommand, map the result to an exit code
//! (0 ok, 1 nothing feasible, 2 error).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
