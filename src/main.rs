//! The command-line edge: arguments in, exit code out. Everything else is in the library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// Heap counted by owner, for the benchmark's engine-cost figures (`bench/run.sh` builds with
/// it; see `reroll::cloud::sim::memory`).
#[cfg(feature = "count-memory")]
#[global_allocator]
static ALLOCATOR: reroll::cloud::sim::memory::Counting = reroll::cloud::sim::memory::Counting;

fn main() -> ExitCode {
    let args = match cli::args::Cli::try_parse_from(cli::args::normalize_args(std::env::args())) {
        Ok(args) => args,
        Err(e) => {
            // Help and version are answers, not errors. A usage error exits 1, never 2: 2 is
            // what `plan --detailed-exitcode` says when there are changes, and a CI script that
            // mistypes a flag must not read "changes" and go on.
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    cli::EXIT_OK
                }
                _ => cli::EXIT_ERROR,
            };
            if code == cli::EXIT_OK {
                print!("{}", cli::args::help_text(&e.render().to_string()));
            } else {
                let _ = e.print();
            }
            return ExitCode::from(code);
        }
    };
    if let Err(message) = args.global.check() {
        eprintln!("error: {message}");
        return ExitCode::from(cli::EXIT_ERROR);
    }
    cli::logging::init(&args.global);
    // A simulated account runs on tokio's paused clock: one thread, and time jumps to the next
    // timer whenever every task waits, so hours of rollout take moments.
    let runtime = match args.global.cloud {
        cli::args::CloudKind::Aws => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        cli::args::CloudKind::Sim => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_ERROR);
        }
    };
    let code = runtime.block_on(cli::run(args));
    ExitCode::from(code)
}
