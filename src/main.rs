//! The command-line edge: arguments in, exit code out. Everything else is in the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::args::Cli::parse_from(cli::args::normalize_args(std::env::args()));
    cli::logging::init(&args.global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_ERROR);
        }
    };
    let code = runtime.block_on(cli::run(args));
    ExitCode::from(code)
}
