use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = jutsu::commands::cli::Cli::parse();
    ExitCode::from(jutsu::commands::run(cli))
}
