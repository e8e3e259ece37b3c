use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    quiet_on_a_closed_pipe();
    let cli = jutsu::commands::cli::Cli::parse();
    ExitCode::from(jutsu::commands::run(cli))
}

/// `jutsu backtest | head -1`: once the reader is gone, printing fails with a broken pipe.
/// Rust does not die of SIGPIPE as C programs do, and `println!` panics instead; that ends
/// the command quietly here (exit 0, as a shell pipeline expects), any other panic speaks as
/// usual.
fn quiet_on_a_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("Broken pipe") || text.contains("os error 32") {
            std::process::exit(0);
        }
        // The lines logged so far still reach the day's file.
        jutsu::support::logging::finish();
        default(info);
    }));
}
