use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = phananh::cli::Cli::parse();
    match phananh::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The last word of a failed command is for the person at the terminal, in plain text.
            let _ = writeln!(std::io::stderr(), "phananh: {e:#}");
            ExitCode::FAILURE
        }
    }
}
