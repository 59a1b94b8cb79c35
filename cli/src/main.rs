//! The `wasmpod` command-line tool: a thin client of the `wasmpod` library.
//!
//! Exit status of `wasmpod run`: 0 when the pod Succeeded, 1 when it Failed,
//! 2 for invalid input (nothing ran), 124 when stopped by `--timeout`, 130 when a
//! second Ctrl-C or SIGTERM ended it while the pods stopped.

mod args;
mod engine;
mod exit;
mod images;
mod junit;
mod manifests;
mod output;
mod progress;
mod run;
mod services;
mod status;
mod workloads;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use output::note;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WASMPOD_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        // A closed stderr (`2>&1 | head`) is not an error of the run: by default the
        // subscriber reports a failed write with `eprintln!`, which panics in whatever
        // task logged (a pod's supervisor).
        .log_internal_errors(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            note(&format!("error: failed to start: {e}"));
            return ExitCode::from(exit::EXIT_INVALID);
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(*args).await,
            Command::Validate(args) => run::validate(args).await,
            Command::Pull(args) => images::pull(args).await,
            Command::Push(args) => images::push(args).await,
            Command::Images(args) => images::list(args),
            Command::Rmi(args) => images::remove(args),
        }
    });
    let code = match result {
        Ok(code) => code,
        Err(failure) => {
            note(&format!("error: {:#}", failure.error));
            ExitCode::from(failure.code)
        }
    };
    output::flush();
    // Nothing is left to do on the runtime's threads (the pods ended, and the library's
    // runtime, dropped with the command's future, removed what it had to): the process
    // ends without waiting for each worker to wind down.
    rt.shutdown_background();
    code
}
